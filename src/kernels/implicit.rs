//! The column matrix of a convolution (what `im2col` would build) as an operand of our own
//! product (`sgemm`), packed tile by tile straight from the image: the forward reads it as is
//! ([`UnfoldedRows`]), the weight gradient transposed ([`UnfoldedColumns`]).
//!
//! The image is first split by phase in both directions ([`PhasePlanes`]): pixel `(iy, ix)`
//! goes to phase plane `(iy mod stride, ix mod stride)`, at `(iy / stride, ix / stride)`. A
//! kernel tap then reads one phase plane, shifted, so the value of any (tap, output position)
//! pair is one offset plus a per-tap and a per-position part, and a vector of them is one
//! gather with a mask for the taps over the padding. Packing used to copy output row by output
//! row, a `memcpy` call each, which cost a sixth of the product on 4x4 outputs. The gathers
//! are an instruction set's ([`Intrinsics::pack_unfolded_rows`]); this file holds the
//! addressing they share.

use rayon::prelude::*;

use super::intrinsics::Intrinsics;
use super::layout::ConvGeometry;
use super::scratch::Scratch;
use super::sgemm::PanelSource;

/// An image split by phase in both directions (see the module doc); at stride 1, the image.
pub(super) struct PhasePlanes<'a> {
    pub(super) g: ConvGeometry,
    image: &'a [f32],
    split: Option<Scratch>,
    /// Rows and columns of a phase plane (`ceil(size / stride)`).
    rows: usize,
    pub(super) cols: usize,
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
    /// as many images as `lanes` output positions span.
    pub(super) fn fits(g: &ConvGeometry, lanes: usize) -> bool {
        let s = g.stride;
        let per_image = g.channels * s * s * g.height.div_ceil(s) * g.width.div_ceil(s);
        let images = lanes.div_ceil(g.positions().max(1)) + 1;
        per_image.saturating_mul(images) < i32::MAX as usize
    }

    pub(super) fn data(&self) -> &[f32] {
        self.split.as_deref().unwrap_or(self.image)
    }

    pub(super) fn per_image(&self) -> usize {
        self.g.channels * self.g.stride * self.g.stride * self.rows * self.cols
    }

    /// Where column-matrix row `row` (channel, kernel row, kernel column) reads.
    pub(super) fn shift(&self, row: usize) -> Shift {
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
pub(super) struct Shift {
    pub(super) offset: i32,
    pub(super) dy: i32,
    pub(super) dx: i32,
    pub(super) rows: i32,
    pub(super) cols: i32,
}

/// Output position `column` of the column matrix: (image, output row, output column).
pub(super) fn position(g: &ConvGeometry, column: usize) -> (usize, usize, usize) {
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

impl<K: Intrinsics> PanelSource<K> for UnfoldedRows<'_, '_> {
    fn rows(&self) -> usize {
        self.rows
    }

    fn cols(&self) -> usize {
        self.planes.g.col_width()
    }

    fn pack(&self, p0: usize, kc: usize, j0: usize, nc: usize, panels: &mut [f32]) {
        assert!(K::available(), "packing needs the instruction set");
        // SAFETY: the instruction set is available (asserted above).
        unsafe { K::pack_unfolded_rows(self, p0, kc, j0, nc, panels) }
    }
}

/// The transpose of [`UnfoldedRows`]: one row per output position, one column per
/// column-matrix row, the right-hand operand of a weight gradient (`dy · colsᵀ`).
pub(super) struct UnfoldedColumns<'p, 'a>(pub(super) UnfoldedRows<'p, 'a>);

impl<K: Intrinsics> PanelSource<K> for UnfoldedColumns<'_, '_> {
    fn rows(&self) -> usize {
        self.0.planes.g.col_width()
    }

    fn cols(&self) -> usize {
        self.0.rows
    }

    fn pack(&self, p0: usize, kc: usize, j0: usize, nc: usize, panels: &mut [f32]) {
        assert!(K::available(), "packing needs the instruction set");
        // SAFETY: the instruction set is available (asserted above).
        unsafe { K::pack_unfolded_columns(&self.0, p0, kc, j0, nc, panels) }
    }
}

#[cfg(test)]
mod tests {
    use super::super::intrinsics::{Blocked, on_blocked};
    use super::super::layout::im2col;
    use super::super::portable::Portable;
    use super::super::sgemm::{Placement, product};
    use super::*;
    use crate::kernels::MatRef;

    /// Strides 1-3, paddings 0-2, odd sizes, several images (one spanning a vector of positions
    /// or less), kernels wider than tall: the unfolded operand multiplies as `im2col`'s matrix
    /// does, read as is (forward) and transposed (weight gradient).
    #[test]
    fn unfolded_operands_multiply_as_the_column_matrix() {
        unfolded_operands_match_im2col::<Portable>();
        let Some(blocked) = Blocked::current() else {
            eprintln!("this CPU runs no blocked kernels: checked the portable ones only");
            return;
        };
        on_blocked!(blocked, K => unfolded_operands_match_im2col::<K>());
    }

    fn unfolded_operands_match_im2col<K: Intrinsics>() {
        let geometries = [
            ((2, 3, 9, 11), (3, 3), 1, 1),
            ((3, 2, 16, 16), (4, 4), 2, 1),
            ((2, 4, 13, 10), (5, 3), 3, 2),
            ((5, 2, 3, 3), (2, 2), 1, 0),
        ];
        for ((batch, channels, h, w), kernel, stride, padding) in geometries {
            let g = ConvGeometry::new((batch, channels, h, w), kernel, stride, padding).unwrap();
            let image: Vec<f32> = (0..g.image_len()).map(|i| (i as f32 * 0.3).sin()).collect();
            let cols = im2col(&g, &image);
            let (k, n, m) = (g.col_rows(), g.col_width(), 7);
            let planes = PhasePlanes::new(&g, &image);
            let unfolded = UnfoldedRows {
                planes: &planes,
                first_row: 0,
                rows: k,
            };
            let weight: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.7).cos()).collect();
            let mut forward = vec![f32::NAN; m * n];
            let placement = Placement::Rows { row_stride: n };
            product::<K>(
                MatRef::row_major(&weight, m, k, k),
                &unfolded,
                &mut forward,
                placement,
                false,
            );
            let gradient: Vec<f32> = (0..m * n).map(|i| (i as f32 * 0.9).cos()).collect();
            let mut dw = vec![f32::NAN; m * k];
            let placement = Placement::Rows { row_stride: k };
            let columns = UnfoldedColumns(unfolded);
            product::<K>(
                MatRef::row_major(&gradient, m, n, n),
                &columns,
                &mut dw,
                placement,
                false,
            );
            for i in 0..m {
                for j in 0..n {
                    let y: f32 = (0..k).map(|p| weight[i * k + p] * cols[p * n + j]).sum();
                    let x = forward[i * n + j];
                    assert!(
                        (x - y).abs() < 1e-4 * (1.0 + y.abs()),
                        "{g:?} forward ({i},{j}): {x} vs {y}"
                    );
                }
                for p in 0..k {
                    let y: f32 = (0..n).map(|j| gradient[i * n + j] * cols[p * n + j]).sum();
                    let x = dw[i * k + p];
                    assert!(
                        (x - y).abs() < 1e-3 * (1.0 + y.abs()),
                        "{g:?} gradient ({i},{p}): {x} vs {y}"
                    );
                }
            }
        }
    }
}
