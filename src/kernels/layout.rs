//! Data movement around the matrix multiplies: convolution geometry, im2col / col2im, and the
//! switch between NCHW and the channel-major `[C, N * H * W]` layout the products work in.
//!
//! The geometry names two sides. The *image side* is the tensor the kernel slides over
//! (`batch x channels x height x width`); the *column side* has one column per kernel position
//! (`out_h x out_w` per image). A convolution goes image -> columns; its transpose goes back.

use rayon::prelude::*;

use super::KernelError;

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
pub fn im2col_into(g: &ConvGeometry, image: &[f32], cols: &mut [f32]) {
    assert_eq!(image.len(), g.image_len());
    assert_eq!(cols.len(), g.col_rows() * g.col_width());
    let positions = g.positions();
    let plane = g.height * g.width;
    if cols.is_empty() {
        return;
    }
    cols.par_chunks_mut(g.col_width())
        .enumerate()
        .for_each(|(row, out)| {
            let kj = row % g.kernel_w;
            let ki = (row / g.kernel_w) % g.kernel_h;
            let c = row / g.kernel_area();
            // The output columns whose tap lands inside the image: [ox_first, ox_end).
            let (ox_first, ox_end) = inside(g.out_w, kj, g.stride, g.padding, g.width);
            for n in 0..g.batch {
                let src = &image[(n * g.channels + c) * plane..][..plane];
                let dst = &mut out[n * positions..][..positions];
                for oy in 0..g.out_h {
                    let dst_row = &mut dst[oy * g.out_w..][..g.out_w];
                    let Some(iy) = tap(oy, ki, g.stride, g.padding, g.height) else {
                        dst_row.fill(0.0);
                        continue;
                    };
                    if ox_first >= ox_end {
                        dst_row.fill(0.0);
                        continue;
                    }
                    let src_row = &src[iy * g.width..][..g.width];
                    dst_row[..ox_first].fill(0.0);
                    dst_row[ox_end..].fill(0.0);
                    let first_ix = ox_first * g.stride + kj - g.padding;
                    for (d, s) in dst_row[ox_first..ox_end]
                        .iter_mut()
                        .zip(src_row[first_ix..].iter().step_by(g.stride))
                    {
                        *d = *s;
                    }
                }
            }
        });
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

/// [`col2im`] into `image` (every element is written).
pub fn col2im_into(g: &ConvGeometry, cols: &[f32], image: &mut [f32]) {
    assert_eq!(cols.len(), g.col_rows() * g.col_width());
    assert_eq!(image.len(), g.image_len());
    let positions = g.positions();
    let width = g.col_width();
    let plane = g.height * g.width;
    if image.is_empty() {
        return;
    }
    image
        .par_chunks_mut(plane)
        .enumerate()
        .for_each(|(index, dst)| {
            dst.fill(0.0);
            let (n, c) = (index / g.channels, index % g.channels);
            for ki in 0..g.kernel_h {
                for kj in 0..g.kernel_w {
                    let (ox_first, ox_end) = inside(g.out_w, kj, g.stride, g.padding, g.width);
                    if ox_first >= ox_end {
                        continue;
                    }
                    let row = (c * g.kernel_h + ki) * g.kernel_w + kj;
                    let src = &cols[row * width + n * positions..][..positions];
                    for oy in 0..g.out_h {
                        let Some(iy) = tap(oy, ki, g.stride, g.padding, g.height) else {
                            continue;
                        };
                        let src_row = &src[oy * g.out_w..][..g.out_w];
                        let dst_row = &mut dst[iy * g.width..][..g.width];
                        let first_ix = ox_first * g.stride + kj - g.padding;
                        for (d, v) in dst_row[first_ix..]
                            .iter_mut()
                            .step_by(g.stride)
                            .zip(&src_row[ox_first..ox_end])
                        {
                            *d += v;
                        }
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
    fn col2im_is_the_adjoint_of_im2col() {
        // <im2col(x), y> == <x, col2im(y)> for every geometry, including padding and stride.
        for (size, kernel, stride, padding) in [(5, 3, 1, 1), (6, 4, 2, 1), (7, 2, 3, 2)] {
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
