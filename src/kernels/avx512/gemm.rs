//! The blocked multiply's AVX-512 code: the 12 x 32 micro-kernel, the packers that transpose
//! 16 x 16 blocks in registers, and the fold's adds of a finished tile onto an image row.

use std::arch::x86_64::*;

use super::{MR, NR};
use crate::kernels::gemm::MatRef;
use crate::kernels::layout::ConvGeometry;
use crate::kernels::sgemm::{Run, Tap, TileTarget};

/// One panel (columns `first..first + width`, rows `p0..` as many as `panel` holds) of an
/// operand stored transposed (its columns contiguous): 16 rows of 16 columns are loaded as
/// 16 column vectors and transposed in registers.
#[target_feature(enable = "avx512f")]
pub(super) fn pack_transposed(
    m: &MatRef,
    p0: usize,
    first: usize,
    width: usize,
    panel: &mut [f32],
) {
    let kc = panel.len() / NR;
    for r0 in (0..kc).step_by(16) {
        let rows = 16.min(kc - r0);
        let row_mask = ((1u32 << rows) - 1) as __mmask16;
        for half in 0..NR / 16 {
            let c0 = half * 16;
            let columns = 16.min(width.saturating_sub(c0));
            let loaded: [__m512; 16] = std::array::from_fn(|c| {
                if c >= columns {
                    return _mm512_setzero_ps();
                }
                let start = (first + c0 + c) * m.col_stride + p0 + r0;
                let column = &m.data[start..start + rows];
                // SAFETY: the mask covers the `rows` values of `column`.
                unsafe { _mm512_maskz_loadu_ps(row_mask, column.as_ptr()) }
            });
            for (r, row) in transpose16(loaded).iter().enumerate().take(rows) {
                let dst = &mut panel[(r0 + r) * NR + c0..][..16];
                // SAFETY: `dst` holds 16 values; lanes past the last column are zero.
                unsafe { _mm512_storeu_ps(dst.as_mut_ptr(), *row) };
            }
        }
    }
}

/// Packs up to `MR` rows of `A` (`sources`, each `kc` long) into one panel (`kc` steps of
/// `MR` values, zero past the last row), 16 steps at a time: 16 values of every row are
/// loaded and transposed in registers, instead of gathered one value at a time.
///
/// # Safety
/// The CPU must have AVX-512.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn pack_rows(sources: &[&[f32]], panel: &mut [f32]) {
    let kc = panel.len() / MR;
    assert!(sources.len() <= MR && sources.iter().all(|s| s.len() >= kc));
    let step_lanes = ((1u32 << MR) - 1) as __mmask16;
    for p in (0..kc).step_by(16) {
        let count = 16.min(kc - p);
        let loaded = ((1u32 << count) - 1) as __mmask16;
        // SAFETY: masked loads of `count <= kc - p` values of each row; masked stores of `MR`
        // values at step `p + t < kc` of the panel.
        unsafe {
            let block: [__m512; 16] = std::array::from_fn(|r| match sources.get(r) {
                Some(row) => _mm512_maskz_loadu_ps(loaded, row.as_ptr().add(p)),
                None => _mm512_setzero_ps(),
            });
            for (t, step) in transpose16(block).iter().enumerate().take(count) {
                _mm512_mask_storeu_ps(panel.as_mut_ptr().add((p + t) * MR), step_lanes, *step);
            }
        }
    }
}

/// The transpose of a 16x16 block held as 16 rows of 16 lanes.
#[target_feature(enable = "avx512f")]
pub(super) fn transpose16(rows: [__m512; 16]) -> [__m512; 16] {
    // Pairs of rows interleaved, then quads: `quads[4 * b + e]` holds, in each 128-bit lane
    // `k`, column `4k + e` of rows `4b..4b + 4`.
    let pairs: [__m512; 16] = std::array::from_fn(|i| {
        let (a, b) = (rows[i & !1], rows[i | 1]);
        if i % 2 == 0 {
            _mm512_unpacklo_ps(a, b)
        } else {
            _mm512_unpackhi_ps(a, b)
        }
    });
    let quads: [__m512; 16] = std::array::from_fn(|i| {
        let (block, e) = (i / 4, i % 4);
        let (a, b) = (pairs[4 * block + e / 2], pairs[4 * block + 2 + e / 2]);
        if e % 2 == 0 {
            _mm512_shuffle_ps::<0x44>(a, b)
        } else {
            _mm512_shuffle_ps::<0xEE>(a, b)
        }
    });
    // Column `4k + e` gathers lane `k` of `quads[e]`, `quads[4 + e]`, `quads[8 + e]` and
    // `quads[12 + e]`, in two rounds of 128-bit shuffles.
    std::array::from_fn(|column| {
        let (k, e) = (column / 4, column % 4);
        let (low, high) = if k % 2 == 0 {
            (
                _mm512_shuffle_f32x4::<0x88>(quads[e], quads[4 + e]),
                _mm512_shuffle_f32x4::<0x88>(quads[8 + e], quads[12 + e]),
            )
        } else {
            (
                _mm512_shuffle_f32x4::<0xDD>(quads[e], quads[4 + e]),
                _mm512_shuffle_f32x4::<0xDD>(quads[8 + e], quads[12 + e]),
            )
        };
        if k < 2 {
            _mm512_shuffle_f32x4::<0x88>(low, high)
        } else {
            _mm512_shuffle_f32x4::<0xDD>(low, high)
        }
    })
}

/// Adds a run whose tile rows (`taps`, consecutive kernel columns) land on one image row:
/// value `t` of the row with kernel column `kw` goes to pixel `x0 + kw + t * stride` (stride 1
/// or 2). The rows are summed 16 pixels at a time in a register, then added to the image row
/// once.
///
/// # Safety
/// `row` must be valid for the image row (`width` pixels), `run` for its values; AVX-512.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn add_run_summed(
    run: Run,
    taps: &[Tap],
    g: &ConvGeometry,
    row: *mut f32,
    x0: isize,
) {
    let kw0 = taps[0].kw;
    // Pixel offsets from `x0 + kw0` that the run covers.
    let span = (run.len - 1) * g.stride + taps[taps.len() - 1].kw - kw0 + 1;
    let first_pixel = x0 + kw0 as isize;
    let prefix = |count: usize| -> __mmask16 { ((1u32 << count.min(16)) - 1) as u16 };
    let (low_lanes, high_lanes) = (prefix(run.room), prefix(run.room.saturating_sub(16)));
    let shift = _mm_cvtsi32_si128((g.stride - 1) as i32);
    // SAFETY: value loads are masked to the tile row's `room`; pixel loads and stores to the
    // lanes inside the image row and the span (the caller's contract).
    unsafe {
        let lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        let odd = _mm512_set1_epi32(g.stride as i32 - 1);
        let len = _mm512_set1_epi32(run.len as i32);
        for chunk in (0..span).step_by(16) {
            let mut sum = _mm512_setzero_ps();
            for (i, tap) in taps.iter().enumerate() {
                // Lane `l` takes value `t` where `chunk + l - (kw - kw0) == t * stride`.
                let offset = _mm512_add_epi32(
                    lane,
                    _mm512_set1_epi32(chunk as i32 - (tap.kw - kw0) as i32),
                );
                let t = _mm512_sra_epi32(offset, shift);
                let takes = _mm512_cmpge_epi32_mask(offset, _mm512_setzero_si512())
                    & _mm512_cmpeq_epi32_mask(
                        _mm512_and_si512(offset, odd),
                        _mm512_setzero_si512(),
                    )
                    & _mm512_cmplt_epi32_mask(t, len);
                let values = run.values.add(i * NR);
                let low = _mm512_maskz_loadu_ps(low_lanes, values);
                let high = _mm512_maskz_loadu_ps(high_lanes, values.add(16));
                sum = _mm512_add_ps(sum, _mm512_maskz_permutex2var_ps(takes, low, t, high));
            }
            // The chunk's pixels inside both the image row and the span.
            let x = first_pixel + chunk as isize;
            let from = (-x).clamp(0, 16) as usize;
            let to = (g.width as isize - x)
                .clamp(0, 16)
                .min((span - chunk) as isize) as usize;
            if from >= to {
                continue;
            }
            let mask = prefix(to) & !prefix(from);
            let target = row.wrapping_offset(x);
            let pixels = _mm512_maskz_loadu_ps(mask, target);
            _mm512_mask_storeu_ps(target, mask, _mm512_add_ps(pixels, sum));
        }
    }
}

/// Adds a run row by row, for strides past 2: value `t` of the row with kernel column `kw`
/// goes to pixel `x0 + kw + t * stride`, one vector of values at a time (value `i` to lane
/// `i * stride`) where the stride fits in one.
///
/// # Safety
/// As for [`add_run_summed`].
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn add_run_row_by_row(
    run: Run,
    taps: &[Tap],
    g: &ConvGeometry,
    row: *mut f32,
    x0: isize,
) {
    let stride = g.stride;
    let per_chunk = if stride <= 16 {
        16usize.div_ceil(stride)
    } else {
        1
    };
    let lanes = |count: usize| (0..count).fold(0u16, |mask, i| mask | 1 << (i * stride));
    let spread: [i32; 16] = std::array::from_fn(|lane| (lane / stride) as i32);
    // SAFETY: masked loads and stores touch only the lanes of real values and of pixels
    // inside the image row (the caller's contract).
    unsafe {
        let spread = _mm512_loadu_si512(spread.as_ptr().cast());
        for (i, tap) in taps.iter().enumerate() {
            let x = x0 + tap.kw as isize;
            // The values whose pixel lies inside the row: `0 <= x + t * stride < width`.
            let inside = |x: isize| x.max(0).unsigned_abs().div_ceil(stride);
            let (first, end) = (inside(-x), run.len.min(inside(g.width as isize - x)));
            let mut target = row.wrapping_offset(x + (first * stride) as isize);
            let mut source = run.values.add(i * NR + first);
            let mut left = end.saturating_sub(first);
            while left > 0 {
                let count = per_chunk.min(left);
                let mask = lanes(count);
                let chunk = _mm512_maskz_loadu_ps(((1u32 << count) - 1) as u16, source);
                let sum = _mm512_add_ps(
                    _mm512_maskz_loadu_ps(mask, target),
                    _mm512_permutexvar_ps(spread, chunk),
                );
                _mm512_mask_storeu_ps(target, mask, sum);
                source = source.add(count);
                target = target.add(count * stride);
                left -= count;
            }
        }
    }
}

/// `c (+)= a · b` for one `MR x NR` tile (`rows x cols` of it stored) at `c`: 24 of the 32
/// vector registers accumulate.
///
/// # Safety
/// `a` and `b` must hold `kc` steps of `MR` and `NR` values; `c` must be valid for `rows` rows
/// of the tile's first `cols` columns; the CPU must have AVX-512.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn micro_kernel(
    kc: usize,
    a: *const f32,
    b: *const f32,
    c: TileTarget,
    (rows, cols): (usize, usize),
    add: bool,
) {
    // SAFETY: the packed panels hold `kc` steps of `MR` and `NR` values; `c` is valid for the
    // stored rows and the masked columns (the caller's contract).
    unsafe {
        let mut acc = [[_mm512_setzero_ps(); 2]; MR];
        let (mut a, mut b) = (a, b);
        for _ in 0..kc {
            let b0 = _mm512_loadu_ps(b);
            let b1 = _mm512_loadu_ps(b.add(16));
            for (i, acc) in acc.iter_mut().enumerate() {
                let a = _mm512_set1_ps(*a.add(i));
                acc[0] = _mm512_fmadd_ps(a, b0, acc[0]);
                acc[1] = _mm512_fmadd_ps(a, b1, acc[1]);
            }
            a = a.add(MR);
            b = b.add(NR);
        }
        let lanes = |count: usize| -> __mmask16 { ((1u32 << count.min(16)) - 1) as u16 };
        let (mask0, mask1) = (lanes(cols), lanes(cols.saturating_sub(16)));
        for (i, acc) in acc.iter().enumerate().take(rows) {
            let (row_low, row_high) = (c.low.add(i * c.ldc), c.high.wrapping_add(i * c.ldc));
            let (mut low, mut high) = (acc[0], acc[1]);
            if add {
                low = _mm512_add_ps(low, _mm512_maskz_loadu_ps(mask0, row_low));
                high = _mm512_add_ps(high, _mm512_maskz_loadu_ps(mask1, row_high));
            }
            _mm512_mask_storeu_ps(row_low, mask0, low);
            _mm512_mask_storeu_ps(row_high, mask1, high);
        }
    }
}
