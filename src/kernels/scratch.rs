//! Reused scratch buffers for the kernels' intermediate matrices (im2col columns, channel-major
//! copies): an iteration would otherwise map, fault in and free hundreds of MB of fresh pages.

use std::ops::{Deref, DerefMut};
use std::sync::Mutex;

/// Buffers kept for reuse, at most this many...
const KEEP: usize = 8;
/// ...and none larger than this many floats (1 GiB).
const LARGEST: usize = 1 << 28;

static POOL: Mutex<Vec<Vec<f32>>> = Mutex::new(Vec::new());

/// A buffer of `len` floats whose contents are unspecified (left from an earlier use); it goes
/// back to the pool when dropped.
pub struct Scratch {
    /// Every element initialised (its length only grows), so reusing it never fills it again.
    buffer: Vec<f32>,
    /// Where the values start: the first element on a 64-byte boundary (a cache line).
    start: usize,
    len: usize,
}

/// Floats in a cache line: buffers are over-allocated by this much to start on one.
const LINE: usize = 16;

impl Scratch {
    pub fn take(len: usize) -> Self {
        let reused = POOL.lock().ok().and_then(|mut pool| {
            // The smallest buffer that is big enough, else the biggest (it grows).
            let fits = pool
                .iter()
                .enumerate()
                .filter(|(_, b)| b.capacity() >= len + LINE)
                .min_by_key(|(_, b)| b.capacity())
                .map(|(i, _)| i);
            let index = fits.or_else(|| {
                pool.iter()
                    .enumerate()
                    .max_by_key(|(_, b)| b.capacity())
                    .map(|(i, _)| i)
            })?;
            Some(pool.swap_remove(index))
        });
        let mut buffer = reused.unwrap_or_default();
        if buffer.len() < len + LINE {
            buffer.resize(len + LINE, 0.0);
        }
        let start = buffer.as_ptr().align_offset(4 * LINE).min(LINE);
        Scratch { buffer, start, len }
    }
}

impl Deref for Scratch {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        &self.buffer[self.start..][..self.len]
    }
}

impl DerefMut for Scratch {
    fn deref_mut(&mut self) -> &mut [f32] {
        &mut self.buffer[self.start..][..self.len]
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let buffer = std::mem::take(&mut self.buffer);
        if buffer.capacity() > LARGEST {
            return;
        }
        if let Ok(mut pool) = POOL.lock()
            && pool.len() < KEEP
        {
            pool.push(buffer);
        }
    }
}

/// A vector of `len` zeros for a kernel's output, filled by every thread of the pool when it
/// is large: the allocator hands back reused memory, so `vec![0.0; len]` zeroes it with one
/// `memset` on the calling thread while the others wait (a few percent of a training step).
pub fn zeroed(len: usize) -> Vec<f32> {
    use rayon::prelude::*;
    const PARALLEL_FROM: usize = 1 << 16;
    if len < PARALLEL_FROM {
        return vec![0.0; len];
    }
    let mut out = Vec::with_capacity(len);
    out.par_extend(rayon::iter::repeat_n(0.0f32, len));
    out
}

/// A buffer several threads write at disjoint places (a product's columns, an output channel's
/// pixels, a source's rows), shared as a raw pointer.
#[derive(Clone, Copy)]
pub(super) struct SharedOut(pub(super) *mut f32);

impl SharedOut {
    pub(super) fn new(buffer: &mut [f32]) -> Self {
        SharedOut(buffer.as_mut_ptr())
    }
}

// SAFETY: every user hands each thread its own elements, so no element is written by two
// threads, and the borrow of the buffer outlives the parallel loop that writes through it.
unsafe impl Send for SharedOut {}
// SAFETY: as for `Send`: the threads sharing it write disjoint elements.
unsafe impl Sync for SharedOut {}
