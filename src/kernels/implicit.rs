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
#[cfg(target_arch = "x86_64")]
use super::sgemm::transpose16;
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

/// Runs a packing routine written for AVX-512. These operands are packed by `sgemm::product`
/// alone, which runs only where the CPU has AVX-512 (never off x86-64).
///
/// # Panics
/// Where the CPU lacks AVX-512.
fn with_avx512(pack: impl FnOnce()) {
    assert!(
        super::isa::Isa::current().has_avx512(),
        "packing the unfolded image needs AVX-512"
    );
    pack()
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
        with_avx512(|| {
            // SAFETY: `with_avx512` runs this only where the CPU has AVX-512.
            #[cfg(target_arch = "x86_64")]
            unsafe {
                self.pack_avx512(p0, kc, j0, nc, panels)
            };
        });
    }
}

impl UnfoldedRows<'_, '_> {
    /// Each half of a panel is 16 output positions; for every column-matrix row they are one
    /// load at that row's shift.
    ///
    /// # Safety
    /// The CPU must have AVX-512.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn pack_avx512(&self, p0: usize, kc: usize, j0: usize, nc: usize, panels: &mut [f32]) {
        use std::arch::x86_64::*;
        let shifts: Vec<Shift> = (0..kc)
            .map(|p| self.planes.shift(self.first_row + p0 + p))
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
                    let lanes = PositionLanes::new(self.planes, j0 + first, count);
                    for (p, shift) in shifts.iter().enumerate() {
                        let values = lanes.load(shift);
                        _mm512_storeu_ps(panel[p * NR + half * LANES..].as_mut_ptr(), values);
                    }
                }
            }
        }
    }
}

/// Up to 16 consecutive output positions (columns of the column matrix) as vector lanes.
#[cfg(target_arch = "x86_64")]
struct PositionLanes<'d> {
    /// The phase planes from the first position's image on.
    data: &'d [f32],
    /// Each lane's position in those planes, output row and output column.
    offset: std::arch::x86_64::__m512i,
    oy: std::arch::x86_64::__m512i,
    ox: std::arch::x86_64::__m512i,
    /// The lanes that hold a position.
    live: std::arch::x86_64::__mmask16,
    /// The first lane's offset, where the lanes' offsets are consecutive (output rows as wide
    /// as a phase plane's, one image): then a tap's values are one masked load, not a gather.
    consecutive_from: Option<i32>,
}

#[cfg(target_arch = "x86_64")]
impl<'d> PositionLanes<'d> {
    /// Positions `first..first + count` (`count <= 16`) of `planes`.
    ///
    /// # Safety
    /// The CPU must have AVX-512.
    #[target_feature(enable = "avx512f")]
    unsafe fn new(planes: &'d PhasePlanes, first: usize, count: usize) -> Self {
        use std::arch::x86_64::*;
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
    fn load(&self, shift: &Shift) -> std::arch::x86_64::__m512 {
        use std::arch::x86_64::*;
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
        with_avx512(|| {
            // SAFETY: `with_avx512` runs this only where the CPU has AVX-512.
            #[cfg(target_arch = "x86_64")]
            unsafe {
                self.pack_avx512(p0, kc, j0, nc, panels)
            };
        });
    }
}

impl UnfoldedColumns<'_, '_> {
    /// Blocks of 16 output positions by 16 column-matrix rows: each row's 16 values are one
    /// load (as [`UnfoldedRows`] packs them), and the block is transposed in registers into
    /// 16 panel rows.
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
}
