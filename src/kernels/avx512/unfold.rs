//! Packing the unfolded image (`implicit`) with AVX-512: a vector of 16 output positions is
//! one masked load where they are consecutive in a phase plane, else one gather.

use std::arch::x86_64::*;

use super::gemm::transpose16;
use super::{LANES, NR};
#[cfg(doc)]
use crate::kernels::implicit::UnfoldedColumns;
use crate::kernels::implicit::{PhasePlanes, Shift, UnfoldedRows, position};

/// Each half of a panel is 16 output positions; for every column-matrix row they are one
/// load at that row's shift.
///
/// # Safety
/// The CPU must have AVX-512.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn pack_rows(
    unfolded: &UnfoldedRows,
    p0: usize,
    kc: usize,
    j0: usize,
    nc: usize,
    panels: &mut [f32],
) {
    let shifts: Vec<Shift> = (0..kc)
        .map(|p| unfolded.planes.shift(unfolded.first_row + p0 + p))
        .collect();
    for (q, panel) in panels
        .chunks_exact_mut(NR * kc)
        .take(nc.div_ceil(NR))
        .enumerate()
    {
        for half in 0..NR / LANES {
            let first = q * NR + half * LANES;
            let count = LANES.min(nc.saturating_sub(first));
            // SAFETY: the CPU has AVX-512 (the caller's contract); each store writes one
            // 16-value half of a panel row.
            unsafe {
                let lanes = PositionLanes::new(unfolded.planes, j0 + first, count);
                for (p, shift) in shifts.iter().enumerate() {
                    let values = lanes.load(shift);
                    _mm512_storeu_ps(panel[p * NR + half * LANES..].as_mut_ptr(), values);
                }
            }
        }
    }
}

/// Up to 16 consecutive output positions (columns of the column matrix) as vector lanes.
struct PositionLanes<'d> {
    /// The phase planes from the first position's image on.
    data: &'d [f32],
    /// Each lane's position in those planes, output row and output column.
    offset: __m512i,
    oy: __m512i,
    ox: __m512i,
    /// The lanes that hold a position.
    live: __mmask16,
    /// The first lane's offset, where the lanes' offsets are consecutive (output rows as wide
    /// as a phase plane's, one image): then a tap's values are one masked load, not a gather.
    consecutive_from: Option<i32>,
}

impl<'d> PositionLanes<'d> {
    /// Positions `first..first + count` (`count <= 16`) of `planes`.
    ///
    /// # Safety
    /// The CPU must have AVX-512.
    #[target_feature(enable = "avx512f")]
    unsafe fn new(planes: &'d PhasePlanes, first: usize, count: usize) -> Self {
        let g = &planes.g;
        let mut offset = [0i32; LANES];
        let (mut oy, mut ox) = ([-1i32; LANES], [-1i32; LANES]);
        let n0 = if count > 0 { position(g, first).0 } else { 0 };
        for lane in 0..count {
            let (n, y, x) = position(g, first + lane);
            offset[lane] = ((n - n0) * planes.per_image() + y * planes.cols + x) as i32;
            (oy[lane], ox[lane]) = (y as i32, x as i32);
        }
        let consecutive = (1..count).all(|l| offset[l] == offset[0] + l as i32);
        // SAFETY: plain loads of local arrays.
        unsafe {
            PositionLanes {
                data: &planes.data()[(n0 * planes.per_image()).min(planes.data().len())..],
                offset: _mm512_loadu_si512(offset.as_ptr().cast()),
                oy: _mm512_loadu_si512(oy.as_ptr().cast()),
                ox: _mm512_loadu_si512(ox.as_ptr().cast()),
                live: ((1u32 << count) - 1) as __mmask16,
                consecutive_from: consecutive.then_some(offset[0]),
            }
        }
    }

    /// The values `shift`'s tap reads at the lanes' positions, 0 over the padding and in the
    /// lanes past the last position.
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn load(&self, shift: &Shift) -> __m512 {
        let y = _mm512_add_epi32(self.oy, _mm512_set1_epi32(shift.dy));
        let x = _mm512_add_epi32(self.ox, _mm512_set1_epi32(shift.dx));
        // Unsigned compares: a negative coordinate is past any bound.
        let inside = self.live
            & _mm512_cmplt_epu32_mask(y, _mm512_set1_epi32(shift.rows))
            & _mm512_cmplt_epu32_mask(x, _mm512_set1_epi32(shift.cols));
        let base = self.data.as_ptr();
        // SAFETY: only the lanes whose tap lands inside the image are read, and those lie in
        // the phase planes of the lanes' images, inside `data`.
        unsafe {
            match self.consecutive_from {
                Some(first) => _mm512_maskz_loadu_ps(
                    inside,
                    base.wrapping_offset((first + shift.offset) as isize),
                ),
                None => {
                    let index = _mm512_add_epi32(self.offset, _mm512_set1_epi32(shift.offset));
                    _mm512_mask_i32gather_ps::<4>(_mm512_setzero_ps(), inside, index, base)
                }
            }
        }
    }
}

/// The transpose of `unfolded` ([`UnfoldedColumns`]'s panels): blocks of 16 output
/// positions by 16 column-matrix rows, each row's 16 values one load (as [`pack_rows`] packs
/// them), the block transposed in registers into 16 panel rows.
///
/// # Safety
/// The CPU must have AVX-512.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn pack_columns(
    unfolded: &UnfoldedRows,
    p0: usize,
    kc: usize,
    j0: usize,
    nc: usize,
    panels: &mut [f32],
) {
    let UnfoldedRows {
        planes, first_row, ..
    } = *unfolded;
    let shifts: Vec<Shift> = (0..nc).map(|c| planes.shift(first_row + j0 + c)).collect();
    for step in (0..kc).step_by(LANES) {
        let count = LANES.min(kc - step);
        // SAFETY: the CPU has AVX-512 (the caller's contract); each store writes one
        // 16-value half of a panel row.
        unsafe {
            let lanes = PositionLanes::new(planes, p0 + step, count);
            for (q, panel) in panels
                .chunks_exact_mut(NR * kc)
                .take(nc.div_ceil(NR))
                .enumerate()
            {
                for half in 0..NR / LANES {
                    let first = q * NR + half * LANES;
                    let block: [__m512; LANES] = std::array::from_fn(|c| {
                        shifts
                            .get(first + c)
                            .map_or(_mm512_setzero_ps(), |shift| lanes.load(shift))
                    });
                    for (p, values) in transpose16(block).iter().enumerate().take(count) {
                        let row = &mut panel[(step + p) * NR + half * LANES..];
                        _mm512_storeu_ps(row.as_mut_ptr(), *values);
                    }
                }
            }
        }
    }
}
