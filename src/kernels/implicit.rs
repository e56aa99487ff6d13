//! The column matrix of a convolution (what `im2col` would build) as an operand of our own
//! product (`sgemm`), packed tile by tile straight from the image: the forward reads it as is
//! ([`UnfoldedRows`]), the weight gradient transposed ([`UnfoldedColumns`]).
//!
//! The image is first split by phase in both directions ([`PhasePlanes`]): pixel `(iy, ix)`
//! goes to phase plane `(iy mod stride, ix mod stride)`, at `(iy / stride, ix / stride)`. A
//! kernel tap then reads one phase plane, shifted, so the value of any (tap, output position)
//! pair is one offset plus a per-tap and a per-position part, and 16 of them are one vector
//! gather with a mask for the taps over the padding. Packing used to copy output row by output
//! row, a `memcpy` call each, which cost a sixth of the product on 4x4 outputs.

use rayon::prelude::*;

use super::layout::ConvGeometry;
use super::scratch::Scratch;
use super::sgemm::{NR, PanelSource};

/// Lanes of one gather.
const LANES: usize = 16;

/// An image split by phase in both directions (see the module doc); at stride 1, the image.
pub(super) struct PhasePlanes<'a> {
    g: ConvGeometry,
    image: &'a [f32],
    split: Option<Scratch>,
    /// Rows and columns of a phase plane (`ceil(size / stride)`).
    rows: usize,
    cols: usize,
}

impl<'a> PhasePlanes<'a> {
    pub(super) fn new(g: &ConvGeometry, image: &'a [f32]) -> Self {
        assert_eq!(image.len(), g.image_len());
        let s = g.stride;
        let (rows, cols) = (g.height.div_ceil(s), g.width.div_ceil(s));
        let split = (s > 1).then(|| {
            let mut split = Scratch::take(g.batch * g.channels * s * s * rows * cols);
            let plane = g.height * g.width;
            split
                .par_chunks_mut(s * s * rows * cols)
                .zip(image.par_chunks(plane))
                .for_each(|(phases, source)| {
                    for (iy, row) in source.chunks_exact(g.width).enumerate() {
                        for px in 0..s {
                            let start = (((iy % s) * s + px) * rows + iy / s) * cols;
                            let dst = &mut phases[start..][..cols];
                            for (d, v) in dst.iter_mut().zip(row.iter().skip(px).step_by(s)) {
                                *d = *v;
                            }
                        }
                    }
                });
            split
        });
        PhasePlanes {
            g: *g,
            image,
            split,
            rows,
            cols,
        }
    }

    /// Whether a gather's offsets fit its 32-bit lanes: they reach across the phase planes of
    /// as many images as 16 output positions span.
    pub(super) fn fits(g: &ConvGeometry) -> bool {
        let s = g.stride;
        let per_image = g.channels * s * s * g.height.div_ceil(s) * g.width.div_ceil(s);
        let images = LANES.div_ceil(g.positions().max(1)) + 1;
        per_image.saturating_mul(images) < i32::MAX as usize
    }

    fn data(&self) -> &[f32] {
        self.split.as_deref().unwrap_or(self.image)
    }

    fn per_image(&self) -> usize {
        self.g.channels * self.g.stride * self.g.stride * self.rows * self.cols
    }

    /// Where column-matrix row `row` (channel, kernel row, kernel column) reads.
    fn shift(&self, row: usize) -> Shift {
        let g = &self.g;
        let (channel, tap) = (row / g.kernel_area(), row % g.kernel_area());
        let s = g.stride as isize;
        // One direction: image coordinate `o * stride + k - padding` is phase `phase`, at
        // `o + delta` in the phase plane, which has `valid` rows (or columns) of that phase.
        let axis = |k: usize, size: usize| {
            let relative = k as isize - g.padding as isize;
            let phase = relative.rem_euclid(s);
            let delta = relative.div_euclid(s);
            let valid = (size as isize - phase + s - 1).div_euclid(s).max(0);
            (phase as usize, delta, valid)
        };
        let (py, dy, rows) = axis(tap / g.kernel_w, g.height);
        let (px, dx, cols) = axis(tap % g.kernel_w, g.width);
        let plane = (channel * g.stride + py) * g.stride + px;
        let offset = (plane * self.rows * self.cols) as isize + dy * self.cols as isize + dx;
        Shift {
            offset: offset as i32,
            dy: dy as i32,
            dx: dx as i32,
            rows: rows as i32,
            cols: cols as i32,
        }
    }
}

/// Where one column-matrix row reads: output position `(oy, ox)` of an image is element
/// `offset + oy * cols + ox` of the image's phase planes, inside the image when
/// `0 <= oy + dy < rows` and `0 <= ox + dx < cols`.
#[derive(Clone, Copy, Default)]
struct Shift {
    offset: i32,
    dy: i32,
    dx: i32,
    rows: i32,
    cols: i32,
}

/// Output position `column` of the column matrix: (image, output row, output column).
fn position(g: &ConvGeometry, column: usize) -> (usize, usize, usize) {
    let (n, within) = (column / g.positions(), column % g.positions());
    (n, within / g.out_w, within % g.out_w)
}

/// Rows `first_row..first_row + rows` of the column matrix of `planes` (one group's
/// channels), the right-hand operand of a convolution's forward (`W · cols`).
#[derive(Clone, Copy)]
pub(super) struct UnfoldedRows<'p, 'a> {
    pub(super) planes: &'p PhasePlanes<'a>,
    pub(super) first_row: usize,
    pub(super) rows: usize,
}

impl PanelSource for UnfoldedRows<'_, '_> {
    fn rows(&self) -> usize {
        self.rows
    }

    fn cols(&self) -> usize {
        self.planes.g.col_width()
    }

    fn pack(&self, p0: usize, kc: usize, j0: usize, nc: usize, panels: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        {
            assert!(super::sgemm::available(), "packing gathers with AVX-512");
            // SAFETY: the CPU has AVX-512.
            unsafe { self.pack_avx512(p0, kc, j0, nc, panels) }
        }
        #[cfg(not(target_arch = "x86_64"))]
        unreachable!("`sgemm::available()` is false off x86-64: {p0} {kc} {j0} {nc} {panels:p}")
    }
}

impl UnfoldedRows<'_, '_> {
    /// Each half of a panel is 16 output positions; for every column-matrix row they are one
    /// gather at that row's shift.
    ///
    /// # Safety
    /// The CPU must have AVX-512.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn pack_avx512(&self, p0: usize, kc: usize, j0: usize, nc: usize, panels: &mut [f32]) {
        use std::arch::x86_64::*;
        let planes = self.planes;
        let g = &planes.g;
        let shifts: Vec<Shift> = (0..kc)
            .map(|p| planes.shift(self.first_row + p0 + p))
            .collect();
        let data = planes.data();
        for (q, panel) in panels
            .chunks_exact_mut(NR * kc)
            .take(nc.div_ceil(NR))
            .enumerate()
        {
            for half in 0..NR / LANES {
                let first = q * NR + half * LANES;
                let count = LANES.min(nc.saturating_sub(first));
                // Each lane's output position, relative to the first lane's image.
                let mut lane_offset = [0i32; LANES];
                let (mut lane_oy, mut lane_ox) = ([-1i32; LANES], [-1i32; LANES]);
                let n0 = if count > 0 {
                    position(g, j0 + first).0
                } else {
                    0
                };
                for lane in 0..count {
                    let (n, oy, ox) = position(g, j0 + first + lane);
                    lane_offset[lane] =
                        ((n - n0) * planes.per_image() + oy * planes.cols + ox) as i32;
                    (lane_oy[lane], lane_ox[lane]) = (oy as i32, ox as i32);
                }
                let base = data[n0 * planes.per_image()..].as_ptr();
                // Positions that are consecutive in the phase planes too (output rows as wide
                // as a phase plane's, one image) are one masked load instead of a gather.
                let consecutive = (1..count).all(|l| lane_offset[l] == lane_offset[0] + l as i32);
                // SAFETY: plain loads of local arrays; each gather (or masked load) reads only
                // the lanes whose tap lands inside the image, which lie in image `n0` or the
                // next ones' phase planes; each store writes one 16-value half of a panel row.
                unsafe {
                    let live = ((1u32 << count) - 1) as __mmask16;
                    let first_offset = lane_offset[0];
                    let lane_offset = _mm512_loadu_si512(lane_offset.as_ptr().cast());
                    let lane_oy = _mm512_loadu_si512(lane_oy.as_ptr().cast());
                    let lane_ox = _mm512_loadu_si512(lane_ox.as_ptr().cast());
                    for (p, shift) in shifts.iter().enumerate() {
                        let y = _mm512_add_epi32(lane_oy, _mm512_set1_epi32(shift.dy));
                        let x = _mm512_add_epi32(lane_ox, _mm512_set1_epi32(shift.dx));
                        // Unsigned compares: a negative coordinate is past any bound.
                        let inside = live
                            & _mm512_cmplt_epu32_mask(y, _mm512_set1_epi32(shift.rows))
                            & _mm512_cmplt_epu32_mask(x, _mm512_set1_epi32(shift.cols));
                        let values = if consecutive {
                            let first =
                                base.wrapping_offset((first_offset + shift.offset) as isize);
                            _mm512_maskz_loadu_ps(inside, first)
                        } else {
                            let index =
                                _mm512_add_epi32(lane_offset, _mm512_set1_epi32(shift.offset));
                            _mm512_mask_i32gather_ps::<4>(_mm512_setzero_ps(), inside, index, base)
                        };
                        _mm512_storeu_ps(panel[p * NR + half * LANES..].as_mut_ptr(), values);
                    }
                }
            }
        }
    }
}

/// The transpose of [`UnfoldedRows`]: one row per output position, one column per
/// column-matrix row, the right-hand operand of a weight gradient (`dy · colsᵀ`).
pub(super) struct UnfoldedColumns<'p, 'a>(pub(super) UnfoldedRows<'p, 'a>);

impl PanelSource for UnfoldedColumns<'_, '_> {
    fn rows(&self) -> usize {
        self.0.cols()
    }

    fn cols(&self) -> usize {
        self.0.rows()
    }

    fn pack(&self, p0: usize, kc: usize, j0: usize, nc: usize, panels: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        {
            assert!(super::sgemm::available(), "packing gathers with AVX-512");
            // SAFETY: the CPU has AVX-512.
            unsafe { self.pack_avx512(p0, kc, j0, nc, panels) }
        }
        #[cfg(not(target_arch = "x86_64"))]
        unreachable!("`sgemm::available()` is false off x86-64: {p0} {kc} {j0} {nc} {panels:p}")
    }
}

impl UnfoldedColumns<'_, '_> {
    /// Each half of a panel is 16 column-matrix rows; for every output position they are one
    /// gather at that position, each lane at its own row's shift.
    ///
    /// # Safety
    /// The CPU must have AVX-512.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn pack_avx512(&self, p0: usize, kc: usize, j0: usize, nc: usize, panels: &mut [f32]) {
        use std::arch::x86_64::*;
        let UnfoldedRows {
            planes, first_row, ..
        } = self.0;
        let g = &planes.g;
        let data = planes.data();
        for (q, panel) in panels
            .chunks_exact_mut(NR * kc)
            .take(nc.div_ceil(NR))
            .enumerate()
        {
            for half in 0..NR / LANES {
                let first = q * NR + half * LANES;
                let count = LANES.min(nc.saturating_sub(first));
                let mut shifts = [Shift::default(); LANES];
                for (lane, shift) in shifts.iter_mut().enumerate().take(count) {
                    *shift = planes.shift(first_row + j0 + first + lane);
                }
                let lane = |field: fn(&Shift) -> i32| -> [i32; LANES] {
                    std::array::from_fn(|l| field(&shifts[l]))
                };
                let (offset, dy, dx) = (lane(|s| s.offset), lane(|s| s.dy), lane(|s| s.dx));
                let (rows, cols) = (lane(|s| s.rows), lane(|s| s.cols));
                let (mut n, mut oy, mut ox) = position(g, p0);
                // SAFETY: plain loads of local arrays; each gather reads only the lanes whose
                // tap lands inside the image, in image `n`'s phase planes; each store writes
                // one 16-value half of a panel row.
                unsafe {
                    let live = ((1u32 << count) - 1) as __mmask16;
                    let offset = _mm512_loadu_si512(offset.as_ptr().cast());
                    let dy = _mm512_loadu_si512(dy.as_ptr().cast());
                    let dx = _mm512_loadu_si512(dx.as_ptr().cast());
                    let rows = _mm512_loadu_si512(rows.as_ptr().cast());
                    let cols = _mm512_loadu_si512(cols.as_ptr().cast());
                    for p in 0..kc {
                        let y = _mm512_add_epi32(dy, _mm512_set1_epi32(oy as i32));
                        let x = _mm512_add_epi32(dx, _mm512_set1_epi32(ox as i32));
                        // Unsigned compares: a negative coordinate is past any bound.
                        let inside = live
                            & _mm512_cmplt_epu32_mask(y, rows)
                            & _mm512_cmplt_epu32_mask(x, cols);
                        let at = (oy * planes.cols + ox) as i32;
                        let index = _mm512_add_epi32(offset, _mm512_set1_epi32(at));
                        let base = data[n * planes.per_image()..].as_ptr();
                        let values =
                            _mm512_mask_i32gather_ps::<4>(_mm512_setzero_ps(), inside, index, base);
                        _mm512_storeu_ps(panel[p * NR + half * LANES..].as_mut_ptr(), values);
                        // The next output position.
                        ox += 1;
                        if ox == g.out_w {
                            (ox, oy) = (0, oy + 1);
                            if oy == g.out_h {
                                (oy, n) = (0, n + 1);
                            }
                        }
                    }
                }
            }
        }
    }
}
