//! Data movement around the matrix multiplies: convolution geometry, im2col / col2im, and the
//! switch between NCHW and the channel-major `[C, N * H * W]` layout the products work in.
//!
//! The geometry names two sides. The *image side* is the tensor the kernel slides over
//! (`batch x channels x height x width`); the *column side* has one column per kernel position
//! (`out_h x out_w` per image). A convolution goes image -> columns; its transpose goes back.

use rayon::prelude::*;

use super::KernelError;
use super::vector::vectorised;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeometry {
    pub batch: usize,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub kernel_h: usize,
    pub kernel_w: usize,
    pub stride: usize,
    pub padding: usize,
    pub out_h: usize,
    pub out_w: usize,
}

impl ConvGeometry {
    /// The geometry of a convolution over `(batch, channels, height, width)` images.
    pub fn new(
        (batch, channels, height, width): (usize, usize, usize, usize),
        (kernel_h, kernel_w): (usize, usize),
        stride: usize,
        padding: usize,
    ) -> Result<Self, KernelError> {
        if stride == 0 || kernel_h == 0 || kernel_w == 0 {
            return Err(KernelError::Geometry(
                "kernel and stride must be at least 1".into(),
            ));
        }
        let span = |size: usize, kernel: usize| -> Result<usize, KernelError> {
            (size + 2 * padding)
                .checked_sub(kernel)
                .map(|s| s / stride + 1)
                .ok_or_else(|| {
                    KernelError::Geometry(format!(
                        "kernel {kernel} is larger than the padded input {}",
                        size + 2 * padding
                    ))
                })
        };
        Ok(ConvGeometry {
            batch,
            channels,
            height,
            width,
            kernel_h,
            kernel_w,
            stride,
            padding,
            out_h: span(height, kernel_h)?,
            out_w: span(width, kernel_w)?,
        })
    }

    /// The geometry whose column side is `(in_h, in_w)` and whose image side is the output of a
    /// transposed convolution (no output padding): `(in - 1) * stride - 2 * padding + kernel`.
    pub fn transposed(
        (batch, out_channels, in_h, in_w): (usize, usize, usize, usize),
        (kernel_h, kernel_w): (usize, usize),
        stride: usize,
        padding: usize,
    ) -> Result<Self, KernelError> {
        let span = |size: usize, kernel: usize| -> Result<usize, KernelError> {
            ((size.max(1) - 1) * stride + kernel)
                .checked_sub(2 * padding)
                .filter(|s| *s > 0)
                .ok_or_else(|| {
                    KernelError::Geometry(format!(
                        "padding {padding} leaves no output for input {size} and kernel {kernel}"
                    ))
                })
        };
        let geometry = Self::new(
            (
                batch,
                out_channels,
                span(in_h, kernel_h)?,
                span(in_w, kernel_w)?,
            ),
            (kernel_h, kernel_w),
            stride,
            padding,
        )?;
        debug_assert_eq!((geometry.out_h, geometry.out_w), (in_h, in_w));
        Ok(geometry)
    }

    pub fn kernel_area(&self) -> usize {
        self.kernel_h * self.kernel_w
    }

    /// Rows of the column matrix: one per (channel, kernel row, kernel column).
    pub fn col_rows(&self) -> usize {
        self.channels * self.kernel_area()
    }

    /// Kernel positions per image.
    pub fn positions(&self) -> usize {
        self.out_h * self.out_w
    }

    /// Columns of the column matrix: every kernel position of every image.
    pub fn col_width(&self) -> usize {
        self.batch * self.positions()
    }

    /// Whether the kernel spans the whole unpadded image in one position (a DCGAN's first
    /// and last layers): then each image is one column and im2col is a transpose.
    pub fn kernel_covers_image(&self) -> bool {
        self.padding == 0 && self.kernel_h == self.height && self.kernel_w == self.width
    }

    pub fn image_len(&self) -> usize {
        self.batch * self.channels * self.height * self.width
    }
}

/// Unfolds the image side into columns: `cols[(c, ki, kj)][(n, oy, ox)]` is the pixel under
/// kernel tap `(ki, kj)` at output position `(oy, ox)` of image `n`, 0 in the padding.
pub fn im2col(g: &ConvGeometry, image: &[f32]) -> Vec<f32> {
    let mut cols = vec![0.0f32; g.col_rows() * g.col_width()];
    im2col_into(g, image, &mut cols);
    cols
}

/// [`im2col`] into `cols` (every element is written, so it may hold anything before).
///
/// With a stride above 1 and output rows of at least [`PHASE_SPLIT_MIN_WIDTH`], the image's
/// columns are first split by phase (`ix mod stride`), so that every kernel tap copies one
/// contiguous run of a phase row instead of every `stride`-th pixel; for shorter rows the extra
/// pass costs more than it saves, and taps read the image with a stride.
pub fn im2col_into(g: &ConvGeometry, image: &[f32], cols: &mut [f32]) {
    assert_eq!(image.len(), g.image_len());
    assert_eq!(cols.len(), g.col_rows() * g.col_width());
    if cols.is_empty() {
        return;
    }
    if g.kernel_covers_image() {
        // One kernel position per image: the columns are the images, transposed.
        return transpose_into(image, g.batch, g.col_rows(), cols);
    }
    let unfolder = Unfolder::for_im2col(g, image);
    let positions = g.positions();
    cols.par_chunks_mut(g.col_width())
        .enumerate()
        .for_each(|(row, out)| {
            let tap_at = unfolder.row_tap(row);
            for n in 0..g.batch {
                let dst = &mut out[n * positions..][..positions];
                for (oy, dst_row) in dst.chunks_exact_mut(g.out_w).enumerate() {
                    unfolder.write_row(tap_at, n, oy, dst_row);
                }
            }
        });
}

/// An image ready to be unfolded one output row at a time, for im2col's whole column-matrix
/// rows (the implicit products pack from `implicit::PhasePlanes` instead).
struct Unfolder<'a> {
    g: ConvGeometry,
    image: &'a [f32],
    /// The image split by phase, where that pays (see [`im2col_into`]).
    split: Option<Vec<f32>>,
    phased: PhaseRows,
    taps: Vec<ColumnTap>,
}

impl<'a> Unfolder<'a> {
    /// An unfolder for [`im2col_into`]: split only for rows of [`PHASE_SPLIT_MIN_WIDTH`] or more.
    fn for_im2col(g: &ConvGeometry, image: &'a [f32]) -> Self {
        assert_eq!(image.len(), g.image_len());
        let phased = PhaseRows::new(g);
        let split = (g.stride > 1 && g.out_w >= PHASE_SPLIT_MIN_WIDTH).then(|| {
            let mut split = vec![0.0; g.batch * g.channels * phased.plane_len()];
            phased.split(image, &mut split);
            split
        });
        Unfolder {
            g: *g,
            image,
            split,
            phased,
            taps: column_taps(g),
        }
    }

    /// Where column-matrix row `row` (channel, kernel row, kernel column) reads.
    fn row_tap(&self, row: usize) -> RowTap<'_> {
        let g = &self.g;
        RowTap {
            tap_x: &self.taps[row % g.kernel_w],
            ki: (row / g.kernel_w) % g.kernel_h,
            channel: row / g.kernel_area(),
        }
    }

    /// Writes the `out_w` values of the column-matrix row `tap` reads for, at output row `oy`
    /// of image `n`, into `dst_row`: 0 where the tap is in the padding.
    fn write_row(&self, tap_at: RowTap, n: usize, oy: usize, dst_row: &mut [f32]) {
        let g = &self.g;
        let tap_x = tap_at.tap_x;
        let plane = n * g.channels + tap_at.channel;
        let Some(iy) = tap(oy, tap_at.ki, g.stride, g.padding, g.height) else {
            dst_row.fill(0.0);
            return;
        };
        // The padding at either end is a value or two, written in place (a profile showed
        // `fill`'s `memset` calls for them).
        let (head, rest) = dst_row.split_at_mut(tap_x.first);
        let (run, tail) = rest.split_at_mut(tap_x.len());
        for pad in head.iter_mut().chain(tail) {
            *pad = 0.0;
        }
        if let Some(split) = &self.split {
            let src = self.phased.phase_row(split, plane, tap_x.phase, iy);
            run.copy_from_slice(&src[tap_x.start..][..run.len()]);
        } else {
            let src = &self.image[(plane * g.height + iy) * g.width..][..g.width];
            let first_ix = tap_x.start * g.stride + tap_x.phase;
            if g.stride == 1 {
                run.copy_from_slice(&src[first_ix..][..run.len()]);
            } else {
                for (d, s) in run.iter_mut().zip(src[first_ix..].iter().step_by(g.stride)) {
                    *d = *s;
                }
            }
        }
    }
}

/// Where one column-matrix row reads (its kernel tap and channel), worked out once per row.
#[derive(Clone, Copy)]
struct RowTap<'t> {
    tap_x: &'t ColumnTap,
    ki: usize,
    channel: usize,
}

/// Output rows at least this wide are worth splitting the image by phase for (measured on the
/// DCGAN layers: 2x faster at 32 and 64 columns, slower at 4 and 8).
const PHASE_SPLIT_MIN_WIDTH: usize = 16;

/// Where kernel column `kj` reads: output columns `first..end` land inside the image, at phase
/// `phase`, phase columns `start..start + (end - first)`.
#[derive(Clone, Copy, Debug)]
struct ColumnTap {
    phase: usize,
    start: usize,
    first: usize,
    end: usize,
}

impl ColumnTap {
    fn len(&self) -> usize {
        self.end - self.first
    }
}

/// For each kernel column: its phase and the run of output columns that land inside the image.
/// Image column `ix = ox * stride + kj - padding`, so with `rel = kj - padding` the phase is
/// `rel mod stride` and the phase column `ox + (rel - phase) / stride`.
fn column_taps(g: &ConvGeometry) -> Vec<ColumnTap> {
    (0..g.kernel_w)
        .map(|kj| {
            let (first, end) = inside(g.out_w, kj, g.stride, g.padding, g.width);
            let rel = kj as isize - g.padding as isize;
            let phase = rel.rem_euclid(g.stride as isize);
            let offset = (rel - phase) / g.stride as isize;
            // Inside the image the phase column is >= 0; an empty run never reads.
            let start = if first < end {
                (first as isize + offset) as usize
            } else {
                0
            };
            ColumnTap {
                phase: phase as usize,
                start,
                first,
                end: end.max(first),
            }
        })
        .collect()
}

/// Image rows split by column phase: phase `φ` of a row holds its columns `φ, φ + stride, ...`
/// (with stride 1, the one phase is the image row itself).
struct PhaseRows {
    stride: usize,
    height: usize,
    width: usize,
    image_width: usize,
}

impl PhaseRows {
    fn new(g: &ConvGeometry) -> Self {
        PhaseRows {
            stride: g.stride,
            height: g.height,
            width: g.width.div_ceil(g.stride),
            image_width: g.width,
        }
    }

    /// Values of one image plane in phase-split form (`stride x height x width`).
    fn plane_len(&self) -> usize {
        self.stride * self.height * self.width
    }

    /// Splits every plane of `image` into `out` (`planes x stride x height x width`).
    fn split(&self, image: &[f32], out: &mut [f32]) {
        let plane = self.height * self.image_width;
        out.par_chunks_mut(self.plane_len())
            .zip(image.par_chunks(plane))
            .for_each(|(dst, src)| {
                for (iy, row) in src.chunks_exact(self.image_width).enumerate() {
                    for phase in 0..self.stride {
                        let dst_row =
                            &mut dst[(phase * self.height + iy) * self.width..][..self.width];
                        for (d, s) in dst_row
                            .iter_mut()
                            .zip(row.iter().skip(phase).step_by(self.stride))
                        {
                            *d = *s;
                        }
                    }
                }
            });
    }

    /// Row `iy` of `phase` of `plane` in a buffer filled by [`PhaseRows::split`].
    fn phase_row<'a>(&self, split: &'a [f32], plane: usize, phase: usize, iy: usize) -> &'a [f32] {
        let start = ((plane * self.stride + phase) * self.height + iy) * self.width;
        &split[start..][..self.width]
    }

    /// Interleaves one plane's phases (`stride x height` rows laid out as `rows` says) back
    /// into image rows.
    fn merge(&self, phases: &[f32], rows: SumRows, dst: &mut [f32]) {
        for (iy, row) in dst.chunks_exact_mut(self.image_width).enumerate() {
            for phase in 0..self.stride {
                let start = (phase * self.height + iy) * rows.row_width + rows.lead;
                let src = &phases[start..][..self.width];
                for (d, s) in row.iter_mut().skip(phase).step_by(self.stride).zip(src) {
                    *d = *s;
                }
            }
        }
    }
}

/// The range of output coordinates whose tap `k` falls inside `[0, size)`.
fn inside(out: usize, k: usize, stride: usize, padding: usize, size: usize) -> (usize, usize) {
    let first = (0..out)
        .find(|&o| tap(o, k, stride, padding, size).is_some())
        .unwrap_or(out);
    let end = (first..out)
        .find(|&o| tap(o, k, stride, padding, size).is_none())
        .unwrap_or(out);
    (first, end)
}

/// Folds columns back onto the image side, summing where kernel positions overlap: the adjoint of
/// [`im2col`].
pub fn col2im(g: &ConvGeometry, cols: &[f32]) -> Vec<f32> {
    let mut image = vec![0.0f32; g.image_len()];
    col2im_into(g, cols, &mut image);
    image
}

/// [`col2im`] into `image` (every element is written). Each plane is summed in phase-split form
/// (contiguous runs, as in [`im2col_into`]) and interleaved once at the end.
pub fn col2im_into(g: &ConvGeometry, cols: &[f32], image: &mut [f32]) {
    assert_eq!(cols.len(), g.col_rows() * g.col_width());
    assert_eq!(image.len(), g.image_len());
    if image.is_empty() {
        return;
    }
    if g.kernel_covers_image() {
        // One kernel position per image, so nothing overlaps: a transpose back.
        return transpose_into(cols, g.col_rows(), g.batch, image);
    }
    let phased = PhaseRows::new(g);
    let taps = column_taps(g);
    let rows = SumRows::new(g, &taps, phased.width);
    let sums_len = if g.stride == 1 {
        0
    } else {
        g.stride * g.height * rows.row_width
    };
    image
        .par_chunks_mut(g.height * g.width)
        .enumerate()
        .for_each_init(
            || vec![0.0f32; sums_len],
            |sums, (index, dst)| {
                let (n, c) = (index / g.channels, index % g.channels);
                // Stride 1 has one phase, the image itself: sum straight into it.
                let acc: &mut [f32] = if g.stride == 1 { dst } else { sums };
                acc.fill(0.0);
                vectorised(
                    #[inline(always)]
                    || sum_plane_taps(g, &taps, rows, cols, (n, c), acc),
                );
                if g.stride > 1 {
                    phased.merge(sums, rows, dst);
                }
            },
        );
}

/// How [`col2im_into`] lays out the sums of one plane: a row per (phase, image row).
#[derive(Clone, Copy, Debug)]
struct SumRows {
    /// Values before phase column 0: a margin for taps whose output row starts left of the
    /// image.
    lead: usize,
    /// Values per row: the phase row and its margins.
    row_width: usize,
    /// Whether each tap adds its whole output row (the part outside the image lands in the
    /// margins and is dropped) instead of only the run inside: whole rows of `out_w` values
    /// vectorise without the scalar tails that runs one or two shorter leave.
    whole_rows: bool,
}

impl SumRows {
    fn new(g: &ConvGeometry, taps: &[ColumnTap], phase_width: usize) -> Self {
        if g.stride == 1 {
            // The plane itself, in-image runs only (no room for margins there).
            return SumRows {
                lead: 0,
                row_width: g.width,
                whole_rows: false,
            };
        }
        // The phase column of output column 0 under each tap that reaches the image.
        let offsets: Vec<isize> = taps
            .iter()
            .filter(|t| t.first < t.end)
            .map(|t| t.start as isize - t.first as isize)
            .collect();
        let lead = offsets.iter().map(|o| -o).max().unwrap_or(0).max(0) as usize;
        let right = offsets
            .iter()
            .map(|o| o + g.out_w as isize)
            .max()
            .unwrap_or(0)
            .max(phase_width as isize) as usize;
        SumRows {
            lead,
            row_width: lead + right,
            whole_rows: true,
        }
    }
}

/// Adds every column that lands on plane `(n, c)` into `acc`, the plane in phase-split form
/// laid out as `rows` says (the plane itself at stride 1). Inlined into its caller's
/// [`vectorised`] body, so the adds run 8 wide.
#[inline(always)]
fn sum_plane_taps(
    g: &ConvGeometry,
    taps: &[ColumnTap],
    rows: SumRows,
    cols: &[f32],
    (n, c): (usize, usize),
    acc: &mut [f32],
) {
    let (positions, width) = (g.positions(), g.col_width());
    for ki in 0..g.kernel_h {
        for (kj, tap_x) in taps.iter().enumerate() {
            if tap_x.first >= tap_x.end {
                continue;
            }
            let row = (c * g.kernel_h + ki) * g.kernel_w + kj;
            let src = &cols[row * width + n * positions..][..positions];
            for (oy, src_row) in src.chunks_exact(g.out_w).enumerate() {
                let Some(iy) = tap(oy, ki, g.stride, g.padding, g.height) else {
                    continue;
                };
                let base = (tap_x.phase * g.height + iy) * rows.row_width + rows.lead;
                let (run, src) = if rows.whole_rows {
                    // Output column 0 sits `first` columns before the in-image run.
                    (
                        &mut acc[base + tap_x.start - tap_x.first..][..g.out_w],
                        src_row,
                    )
                } else {
                    let run = &mut acc[base + tap_x.start..][..tap_x.len()];
                    (run, &src_row[tap_x.first..tap_x.end])
                };
                for (d, v) in run.iter_mut().zip(src) {
                    *d += v;
                }
            }
        }
    }
}

/// `out (cols x rows) = inᵀ` for `input (rows x cols)`, in tiles that stay in cache.
fn transpose_into(input: &[f32], rows: usize, cols: usize, out: &mut [f32]) {
    const TILE: usize = 32;
    assert_eq!(input.len(), rows * cols);
    assert_eq!(out.len(), input.len());
    out.par_chunks_mut(TILE * rows)
        .enumerate()
        .for_each(|(tile, block)| {
            let first_col = tile * TILE;
            for row_start in (0..rows).step_by(TILE) {
                let row_end = (row_start + TILE).min(rows);
                for (j, out_row) in block.chunks_exact_mut(rows).enumerate() {
                    let col = first_col + j;
                    for (r, o) in out_row[row_start..row_end].iter_mut().enumerate() {
                        *o = input[(row_start + r) * cols + col];
                    }
                }
            }
        });
}

/// The input coordinate under kernel tap `k` at output coordinate `o`, if not in the padding.
#[inline]
fn tap(o: usize, k: usize, stride: usize, padding: usize, size: usize) -> Option<usize> {
    (o * stride + k).checked_sub(padding).filter(|i| *i < size)
}

/// `(N, C, P)` -> `(C, N * P)`.
#[cfg(test)]
pub fn nchw_to_channel_major(
    data: &[f32],
    batch: usize,
    channels: usize,
    plane: usize,
) -> Vec<f32> {
    let mut out = vec![0.0f32; data.len()];
    nchw_to_channel_major_into(data, batch, channels, plane, &mut out);
    out
}

/// [`nchw_to_channel_major`] into `out` (every element is written).
pub fn nchw_to_channel_major_into(
    data: &[f32],
    batch: usize,
    channels: usize,
    plane: usize,
    out: &mut [f32],
) {
    assert_eq!(data.len(), batch * channels * plane);
    assert_eq!(out.len(), data.len());
    if out.is_empty() {
        return;
    }
    out.par_chunks_mut(batch * plane)
        .enumerate()
        .for_each(|(c, row)| {
            for n in 0..batch {
                row[n * plane..][..plane]
                    .copy_from_slice(&data[(n * channels + c) * plane..][..plane]);
            }
        });
}

/// `(C, N * P)` -> `(N, C, P)`.
#[cfg(test)]
pub fn channel_major_to_nchw(
    data: &[f32],
    batch: usize,
    channels: usize,
    plane: usize,
) -> Vec<f32> {
    let mut out = vec![0.0f32; data.len()];
    channel_major_to_nchw_into(data, batch, channels, plane, &mut out);
    out
}

/// [`channel_major_to_nchw`] into `out` (every element is written).
pub fn channel_major_to_nchw_into(
    data: &[f32],
    batch: usize,
    channels: usize,
    plane: usize,
    out: &mut [f32],
) {
    assert_eq!(data.len(), batch * channels * plane);
    assert_eq!(out.len(), data.len());
    if out.is_empty() {
        return;
    }
    out.par_chunks_mut(plane)
        .enumerate()
        .for_each(|(index, dst)| {
            let (n, c) = (index / channels, index % channels);
            dst.copy_from_slice(&data[c * batch * plane + n * plane..][..plane]);
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn im2col_matches_its_definition() {
        for (size, kernel, stride, padding) in [
            (5, 3, 1, 1),
            (9, 4, 2, 1),
            (7, 2, 3, 2),
            (4, 4, 1, 0),
            (3, 3, 2, 0),
        ] {
            let g = ConvGeometry::new((2, 3, size, size + 1), (kernel, kernel), stride, padding)
                .unwrap();
            let x: Vec<f32> = (0..g.image_len()).map(|i| i as f32 + 1.0).collect();
            let cols = im2col(&g, &x);
            for c in 0..g.channels {
                for (ki, kj) in (0..kernel).flat_map(|ki| (0..kernel).map(move |kj| (ki, kj))) {
                    let row = (c * kernel + ki) * kernel + kj;
                    for n in 0..g.batch {
                        for (oy, ox) in (0..g.out_h).flat_map(|y| (0..g.out_w).map(move |x| (y, x)))
                        {
                            let iy = (oy * stride + ki) as isize - padding as isize;
                            let ix = (ox * stride + kj) as isize - padding as isize;
                            let inside = (0..g.height as isize).contains(&iy)
                                && (0..g.width as isize).contains(&ix);
                            let expected = if inside {
                                x[((n * g.channels + c) * g.height + iy as usize) * g.width
                                    + ix as usize]
                            } else {
                                0.0
                            };
                            let column = n * g.positions() + oy * g.out_w + ox;
                            assert_eq!(cols[row * g.col_width() + column], expected);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn a_kernel_covering_the_image_unfolds_by_transposing() {
        // 40 images (more than one transpose tile) of 3 channels, 4x5, under a 4x5 kernel.
        let g = ConvGeometry::new((40, 3, 4, 5), (4, 5), 1, 0).unwrap();
        assert!(g.kernel_covers_image());
        let x: Vec<f32> = (0..g.image_len()).map(|i| i as f32).collect();
        let cols = im2col(&g, &x);
        let per_image = g.col_rows();
        for row in 0..per_image {
            for n in 0..g.batch {
                assert_eq!(cols[row * g.batch + n], x[n * per_image + row]);
            }
        }
        assert_eq!(col2im(&g, &cols), x);
    }

    #[test]
    fn col2im_is_the_adjoint_of_im2col() {
        // <im2col(x), y> == <x, col2im(y)> for every geometry, including padding and stride.
        for (size, kernel, stride, padding) in
            [(5, 3, 1, 1), (6, 4, 2, 1), (7, 2, 3, 2), (9, 4, 2, 1)]
        {
            let g = ConvGeometry::new((2, 3, size, size + 1), (kernel, kernel), stride, padding)
                .unwrap();
            let x: Vec<f32> = (0..g.image_len()).map(|i| (i as f32 * 0.7).sin()).collect();
            let y: Vec<f32> = (0..g.col_rows() * g.col_width())
                .map(|i| (i as f32 * 0.3).cos())
                .collect();
            let lhs: f64 = im2col(&g, &x)
                .iter()
                .zip(&y)
                .map(|(a, b)| (*a as f64) * (*b as f64))
                .sum();
            let rhs: f64 = x
                .iter()
                .zip(col2im(&g, &y))
                .map(|(a, b)| (*a as f64) * (b as f64))
                .sum();
            assert!((lhs - rhs).abs() < 1e-3, "{lhs} vs {rhs}");
        }
    }

    #[test]
    fn transposed_geometry_inverts_the_forward_one() {
        let g = ConvGeometry::transposed((1, 3, 8, 8), (4, 4), 2, 1).unwrap();
        assert_eq!((g.height, g.width, g.out_h, g.out_w), (16, 16, 8, 8));
        let g = ConvGeometry::transposed((1, 3, 1, 1), (4, 4), 1, 0).unwrap();
        assert_eq!((g.height, g.out_h), (4, 1));
        assert!(ConvGeometry::new((1, 1, 2, 2), (5, 5), 1, 1).is_err());
    }

    #[test]
    fn layouts_round_trip() {
        let data: Vec<f32> = (0..2 * 3 * 4).map(|i| i as f32).collect();
        let cm = nchw_to_channel_major(&data, 2, 3, 4);
        assert_eq!(&cm[..8], &[0., 1., 2., 3., 12., 13., 14., 15.]);
        assert_eq!(channel_major_to_nchw(&cm, 2, 3, 4), data);
    }
}
