//! Conv2d and ConvTranspose2d on the CPU as im2col / col2im around one threaded `gemm` per
//! group, forward and both gradients, wrapped as Candle custom ops so autograd uses them. On
//! CPUs with blocked kernels (AVX-512; see `intrinsics`) no column matrix is built (`sgemm`):
//! the products that read one (forward, weight gradient) unfold the image tile by tile as they
//! pack it (an implicit GEMM), and the image-side product folds each finished tile straight
//! onto the image (`col2im` on the fly).
//! The 4x4 stride-2 layers wide enough to pay take Winograd's transforms instead ([`winograd`]).
//!
//! Three products serve both layers. In convolution terms (image side -> column side, weight
//! `(c_out, c / groups, kh, kw)`):
//! - forward: `y = W · im2col(x)`;
//! - data gradient: `dx = col2im(Wᵀ · dy)`;
//! - weight gradient: `dW = dy · im2col(x)ᵀ`.
//!
//! A transposed convolution is the data gradient of a convolution, so its forward is `col2im(Wᵀ · x)`,
//! its data gradient the convolution forward of `dy`, and its weight gradient the same product
//! with the roles of `x` and `dy` swapped.

use candle_core::{CpuStorage, CustomOp2, CustomOp3, DType, Layout, Shape, Tensor};

use super::gemm::{MatRef, matmul};
use super::implicit::{PhasePlanes, UnfoldedColumns, UnfoldedRows};
use super::intrinsics::{Intrinsics, on_blocked};
use super::isa::Overrides;
use super::layout::{
    ConvGeometry, channel_major_to_nchw_into, col2im_into, im2col_into, nchw_to_channel_major_into,
};
use super::plan::{ConvPath, Pass, implicit_kernels, plan};
use super::scratch::{Scratch, zeroed};
use super::sgemm::{self, Placement};
use super::timing::{Kernel, Timed};
use super::winograd;
use super::{KernelError, f32_slice};

/// The column matrix of one slice of the batch stays under this size, which bounds the scratch
/// memory of large batches (tests use a tiny slice so they cross slice boundaries). On the
/// development VM, 6 MiB slices (cache-sized) and unsliced batches ran within noise of each
/// other; the environment variable `DEEPSTYLE_SLICE_MIB` overrides it, for tuning on other CPUs.
#[cfg(not(test))]
const SLICE_BYTES: usize = 32 << 20;
#[cfg(test)]
const SLICE_BYTES: usize = 2 << 10;

fn slice_bytes() -> usize {
    Overrides::get()
        .slice_mib
        .map_or(SLICE_BYTES, |mib| mib << 20)
}

/// The batch in slices: (first image, the geometry of the slice).
fn slices(g: &ConvGeometry) -> impl Iterator<Item = (usize, ConvGeometry)> + '_ {
    let per_image = (g.col_rows() * g.positions() * 4).max(1);
    let images = (slice_bytes() / per_image).clamp(1, g.batch.max(1));
    (0..g.batch).step_by(images).map(move |first| {
        let slice = ConvGeometry {
            batch: images.min(g.batch - first),
            ..*g
        };
        (first, slice)
    })
}

/// Values per image on the image side and on the column side.
fn per_image(g: &ConvGeometry, c_out: usize) -> (usize, usize) {
    (g.channels * g.height * g.width, c_out * g.positions())
}

/// Convolution forward: `x` on the image side -> `(N, c_out, out_h, out_w)`.
pub fn conv_forward(
    g: &ConvGeometry,
    groups: usize,
    c_out: usize,
    x: &[f32],
    w: &[f32],
) -> Vec<f32> {
    let _timed = Timed::start(Kernel::ConvForward);
    match plan(g, groups, c_out, Pass::Forward) {
        ConvPath::Winograd(blocked) => {
            let mut out = zeroed(g.batch * c_out * g.positions());
            on_blocked!(blocked, K => winograd::forward::<K>(g, c_out, x, w, &mut out));
            return out;
        }
        ConvPath::Implicit(blocked) => {
            let mut out = zeroed(g.batch * c_out * g.positions());
            let planes = PhasePlanes::new(g, x);
            on_blocked!(blocked, K => {
                forward_implicit::<K>(g, groups, c_out, &planes, w, &mut out)
            });
            return out;
        }
        ConvPath::Explicit => {}
    }
    let (_, column_len) = per_image(g, c_out);
    let mut out = zeroed(g.batch * column_len);
    for (first, s) in slices(g) {
        let cols = slice_columns(&s, first, x);
        let out = &mut out[first * column_len..][..s.batch * column_len];
        columns_to_column_side(&s, groups, c_out, w, &cols, out);
    }
    out
}

/// `W · im2col(image)` without a column matrix, into `out` (NCHW): the product unfolds each
/// tile of the image as it packs it and writes the planes directly.
fn forward_implicit<K: Intrinsics>(
    g: &ConvGeometry,
    groups: usize,
    c_out: usize,
    planes: &PhasePlanes,
    w: &[f32],
    out: &mut [f32],
) {
    let positions = g.positions();
    let (k, cog) = (g.col_rows() / groups, c_out / groups);
    for group in 0..groups {
        sgemm::product::<K>(
            MatRef::row_major(&w[group * cog * k..], cog, k, k),
            &group_columns(planes, group, k),
            &mut out[group * cog * positions..],
            Placement::Planes {
                positions,
                image_stride: c_out * positions,
            },
            false,
        );
    }
}

/// `dw = column · im2col(image)ᵀ` without a column matrix (`column` channel-major, the
/// whole batch).
fn weight_gradient_implicit<K: Intrinsics>(
    g: &ConvGeometry,
    groups: usize,
    c_out: usize,
    planes: &PhasePlanes,
    column: &[f32],
    dw: &mut [f32],
) {
    let width = g.col_width();
    let (k, cog) = (g.col_rows() / groups, c_out / groups);
    for group in 0..groups {
        sgemm::product::<K>(
            MatRef::row_major(&column[group * cog * width..], cog, width, width),
            &UnfoldedColumns(group_columns(planes, group, k)),
            &mut dw[group * cog * k..],
            Placement::Rows { row_stride: k },
            false,
        );
    }
}

/// Group `group`'s `k` rows of the column matrix of `planes`.
fn group_columns<'p, 'a>(
    planes: &'p PhasePlanes<'a>,
    group: usize,
    k: usize,
) -> UnfoldedRows<'p, 'a> {
    UnfoldedRows {
        planes,
        first_row: group * k,
        rows: k,
    }
}

/// The whole column side (`(N, c_out, P)`) as `(c_out, N * P)`, in a scratch buffer.
fn channel_major(g: &ConvGeometry, c_out: usize, column_side: &[f32]) -> Scratch {
    let mut out = Scratch::take(column_side.len());
    nchw_to_channel_major_into(column_side, g.batch, c_out, g.positions(), &mut out);
    out
}

/// Convolution data gradient: `dy` on the column side -> image side.
pub fn conv_backward_data(
    g: &ConvGeometry,
    groups: usize,
    c_out: usize,
    w: &[f32],
    dy: &[f32],
) -> Vec<f32> {
    let _timed = Timed::start(Kernel::ConvImageSide);
    let (image_len, _) = per_image(g, c_out);
    let mut dx = zeroed(g.batch * image_len);
    if let ConvPath::Winograd(blocked) = plan(g, groups, c_out, Pass::DataGradient) {
        on_blocked!(blocked, K => winograd::backward_data::<K>(g, c_out, w, dy, &mut dx));
        return dx;
    }
    for (first, s) in slices(g) {
        let dy = slice_channel_major(&s, first, c_out, dy);
        let dx = &mut dx[first * image_len..][..s.batch * image_len];
        let dy = ChannelMajor {
            data: &dy,
            row_stride: s.col_width(),
        };
        channel_major_to_image_side(&s, groups, c_out, w, dy, dx);
    }
    dx
}

/// Convolution weight gradient, summed over the batch: `(c_out, c / groups, kh, kw)`.
pub fn conv_backward_weight(
    g: &ConvGeometry,
    groups: usize,
    c_out: usize,
    x: &[f32],
    dy: &[f32],
) -> Vec<f32> {
    let _timed = Timed::start(Kernel::ConvWeightGradient);
    let mut dw = zeroed(c_out * g.col_rows() / groups);
    match plan(g, groups, c_out, Pass::WeightGradient) {
        ConvPath::Winograd(blocked) => {
            on_blocked!(blocked, K => winograd::weight_gradient::<K>(g, c_out, x, dy, &mut dw));
            return dw;
        }
        ConvPath::Implicit(blocked) => {
            let column = channel_major(g, c_out, dy);
            let planes = PhasePlanes::new(g, x);
            on_blocked!(blocked, K => {
                weight_gradient_implicit::<K>(g, groups, c_out, &planes, &column, &mut dw)
            });
            return dw;
        }
        ConvPath::Explicit => {}
    }
    for (slice_index, (first, s)) in slices(g).enumerate() {
        let cols = slice_columns(&s, first, x);
        let dy = slice_channel_major(&s, first, c_out, dy);
        add_weight_gradient(&s, groups, c_out, &cols, &dy, &mut dw, slice_index > 0);
    }
    dw
}

/// Which side's gradient [`conv_backward_both`] computes beside the weight gradient.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GradientSide {
    /// The image side's (a convolution's input gradient).
    Image,
    /// The column side's (a transposed convolution's input gradient).
    Column,
}

/// The weight gradient and the gradient of one side in one pass, from the image-side operand
/// `image` and the column-side operand `column` (one of them the output gradient): each
/// slice's columns and channel-major copy are made once and serve both products, where two
/// separate calls would make them twice. Returns the side gradient followed by the weight
/// gradient, in one vector (the layout the op hands to Candle, so neither is copied there).
pub fn conv_backward_both(
    g: &ConvGeometry,
    groups: usize,
    c_out: usize,
    (image, column, w): (&[f32], &[f32], &[f32]),
    side: GradientSide,
) -> Vec<f32> {
    let _timed = Timed::start(Kernel::ConvBothGradients);
    let (image_len, column_len) = per_image(g, c_out);
    let side_len = match side {
        GradientSide::Image => image_len,
        GradientSide::Column => column_len,
    };
    let dw_len = c_out * g.col_rows() / groups;
    let mut packed = zeroed(g.batch * side_len + dw_len);
    let (gradient, dw) = packed.split_at_mut(g.batch * side_len);
    match plan(g, groups, c_out, Pass::WeightGradient) {
        ConvPath::Winograd(blocked) => {
            on_blocked!(blocked, K => {
                winograd::weight_gradient::<K>(g, c_out, image, column, dw);
                match side {
                    GradientSide::Image => {
                        winograd::backward_data::<K>(g, c_out, w, column, gradient)
                    }
                    GradientSide::Column => winograd::forward::<K>(g, c_out, image, w, gradient),
                }
            });
            return packed;
        }
        ConvPath::Implicit(blocked) => {
            let both = (image, column, w);
            on_blocked!(blocked, K => {
                both_implicit::<K>(g, groups, c_out, both, side, (gradient, dw))
            });
            return packed;
        }
        ConvPath::Explicit => {}
    }
    for (slice_index, (first, s)) in slices(g).enumerate() {
        let cols = slice_columns(&s, first, image);
        let column = slice_channel_major(&s, first, c_out, column);
        add_weight_gradient(&s, groups, c_out, &cols, &column, dw, slice_index > 0);
        let gradient = &mut gradient[first * side_len..][..s.batch * side_len];
        match side {
            GradientSide::Image => {
                let column = ChannelMajor {
                    data: &column,
                    row_stride: s.col_width(),
                };
                channel_major_to_image_side(&s, groups, c_out, w, column, gradient)
            }
            GradientSide::Column => columns_to_column_side(&s, groups, c_out, w, &cols, gradient),
        }
    }
    packed
}

/// [`conv_backward_both`] on the implicit path: the weight gradient and the side's gradient
/// written into `(gradient, dw)`.
fn both_implicit<K: Intrinsics>(
    g: &ConvGeometry,
    groups: usize,
    c_out: usize,
    (image, column, w): (&[f32], &[f32], &[f32]),
    side: GradientSide,
    (gradient, dw): (&mut [f32], &mut [f32]),
) {
    let planes = PhasePlanes::new(g, image);
    let column_major = channel_major(g, c_out, column);
    weight_gradient_implicit::<K>(g, groups, c_out, &planes, &column_major, dw);
    match side {
        GradientSide::Image => {
            let side_len = per_image(g, c_out).0;
            for (first, s) in slices(g) {
                let gradient = &mut gradient[first * side_len..][..s.batch * side_len];
                let column = ChannelMajor {
                    data: &column_major[first * g.positions()..],
                    row_stride: g.col_width(),
                };
                channel_major_to_image_side(&s, groups, c_out, w, column, gradient)
            }
        }
        GradientSide::Column => forward_implicit::<K>(g, groups, c_out, &planes, w, gradient),
    }
}

/// `W · cols` of one slice, written to the column side in NCHW.
fn columns_to_column_side(
    s: &ConvGeometry,
    groups: usize,
    c_out: usize,
    w: &[f32],
    cols: &[f32],
    out: &mut [f32],
) {
    let width = s.col_width();
    let (k, cog) = (s.col_rows() / groups, c_out / groups);
    let mut y = Scratch::take(c_out * width);
    for group in 0..groups {
        matmul(
            &mut y[group * cog * width..],
            width,
            MatRef::row_major(&w[group * cog * k..], cog, k, k),
            MatRef::row_major(&cols[group * k * width..], k, width, width),
            false,
        );
    }
    channel_major_to_nchw_into(&y, s.batch, c_out, s.positions(), out);
}

/// A slice's column side, channel-major: channel `c`'s values start at `c * row_stride`.
#[derive(Clone, Copy)]
struct ChannelMajor<'a> {
    data: &'a [f32],
    row_stride: usize,
}

/// `col2im(Wᵀ · column)` of one slice added onto the image side `out`, each finished tile of
/// the product folded onto the pixels as it goes ([`Placement::Folded`]).
fn fold_onto_image_side<K: Intrinsics>(
    s: &ConvGeometry,
    groups: usize,
    c_out: usize,
    w: &[f32],
    column: ChannelMajor,
    out: &mut [f32],
) {
    let width = s.col_width();
    let (k, cog) = (s.col_rows() / groups, c_out / groups);
    let plane = s.height * s.width;
    let channels = s.channels / groups;
    for group in 0..groups {
        sgemm::product::<K>(
            MatRef::row_major(&w[group * cog * k..], cog, k, k).t(),
            &MatRef::row_major(
                &column.data[group * cog * column.row_stride..],
                cog,
                width,
                column.row_stride,
            ),
            &mut out[group * channels * plane..],
            Placement::Folded {
                geometry: *s,
                image_stride: s.channels * plane,
            },
            true,
        );
    }
}

/// `col2im(Wᵀ · column)` of one slice, written to the image side `out`, which must be zeroed.
/// With blocked kernels the product folds each finished tile onto the pixels as it goes
/// ([`fold_onto_image_side`]); otherwise it fills a column matrix that `col2im` then folds.
fn channel_major_to_image_side(
    s: &ConvGeometry,
    groups: usize,
    c_out: usize,
    w: &[f32],
    column: ChannelMajor,
    out: &mut [f32],
) {
    let width = s.col_width();
    let (k, cog) = (s.col_rows() / groups, c_out / groups);
    if let Some(blocked) = implicit_kernels(s) {
        on_blocked!(blocked, K => fold_onto_image_side::<K>(s, groups, c_out, w, column, out));
        return;
    }
    let mut dcols = Scratch::take(s.col_rows() * width);
    for group in 0..groups {
        matmul(
            &mut dcols[group * k * width..],
            width,
            MatRef::row_major(&w[group * cog * k..], cog, k, k).t(),
            MatRef::row_major(
                &column.data[group * cog * column.row_stride..],
                cog,
                width,
                column.row_stride,
            ),
            false,
        );
    }
    col2im_into(s, &dcols, out);
}

/// `dw (+)= column · colsᵀ` of one slice (`column` channel-major), per group.
fn add_weight_gradient(
    s: &ConvGeometry,
    groups: usize,
    c_out: usize,
    cols: &[f32],
    column: &[f32],
    dw: &mut [f32],
    accumulate: bool,
) {
    let width = s.col_width();
    let (k, cog) = (s.col_rows() / groups, c_out / groups);
    for group in 0..groups {
        matmul(
            &mut dw[group * cog * k..],
            k,
            MatRef::row_major(&column[group * cog * width..], cog, width, width),
            MatRef::row_major(&cols[group * k * width..], k, width, width).t(),
            accumulate,
        );
    }
}

/// The images of slice `s` (its first image is `first` of the batch) unfolded by `im2col`, in
/// a scratch buffer.
fn slice_columns(s: &ConvGeometry, first: usize, image_side: &[f32]) -> Scratch {
    let per_image = s.channels * s.height * s.width;
    let mut cols = Scratch::take(s.col_rows() * s.col_width());
    im2col_into(
        s,
        &image_side[first * per_image..][..s.batch * per_image],
        &mut cols,
    );
    cols
}

/// The column side of slice `s` (`(N, c_out, P)` from image `first`) as `(c_out, N * P)`, in a
/// scratch buffer.
fn slice_channel_major(
    s: &ConvGeometry,
    first: usize,
    c_out: usize,
    column_side: &[f32],
) -> Scratch {
    let per_image = c_out * s.positions();
    let data = &column_side[first * per_image..][..s.batch * per_image];
    let mut out = Scratch::take(data.len());
    nchw_to_channel_major_into(data, s.batch, c_out, s.positions(), &mut out);
    out
}

/// Which of the three products a [`ConvJob`] computes, with its operands in order.
#[derive(Clone, Copy, Debug)]
enum Product {
    /// (image, weight) -> column side
    Forward,
    /// (weight, column side) -> image
    BackwardData,
    /// (image, column side) -> weight
    BackwardWeight,
}

/// One product as a Candle op without a gradient of its own (used inside backward passes).
#[derive(Clone, Copy, Debug)]
struct ConvJob {
    product: Product,
    geometry: ConvGeometry,
    groups: usize,
    c_out: usize,
}

impl ConvJob {
    fn image_shape(&self) -> Shape {
        let g = &self.geometry;
        Shape::from((g.batch, g.channels, g.height, g.width))
    }

    fn column_shape(&self) -> Shape {
        let g = &self.geometry;
        Shape::from((g.batch, self.c_out, g.out_h, g.out_w))
    }

    fn weight_shape(&self) -> Shape {
        let g = &self.geometry;
        Shape::from((self.c_out, g.channels / self.groups, g.kernel_h, g.kernel_w))
    }

    /// An error unless `data` holds exactly the values of `shape`.
    fn expect(&self, what: &str, data: &[f32], shape: &Shape) -> Result<(), KernelError> {
        if data.len() == shape.elem_count() {
            Ok(())
        } else {
            Err(KernelError::Geometry(format!(
                "{what} has {} values, expected {shape:?}",
                data.len()
            )))
        }
    }

    fn run(&self, a: &[f32], b: &[f32]) -> Result<(Vec<f32>, Shape), KernelError> {
        let (g, groups, c_out) = (&self.geometry, self.groups, self.c_out);
        Ok(match self.product {
            Product::Forward => {
                self.expect("image", a, &self.image_shape())?;
                self.expect("weight", b, &self.weight_shape())?;
                (conv_forward(g, groups, c_out, a, b), self.column_shape())
            }
            Product::BackwardData => {
                self.expect("weight", a, &self.weight_shape())?;
                self.expect("gradient", b, &self.column_shape())?;
                (
                    conv_backward_data(g, groups, c_out, a, b),
                    self.image_shape(),
                )
            }
            Product::BackwardWeight => {
                self.expect("image", a, &self.image_shape())?;
                self.expect("gradient", b, &self.column_shape())?;
                (
                    conv_backward_weight(g, groups, c_out, a, b),
                    self.weight_shape(),
                )
            }
        })
    }

    fn apply(self, product: Product, a: &Tensor, b: &Tensor) -> candle_core::Result<Tensor> {
        let job = ConvJob { product, ..self };
        a.contiguous()?.apply_op2_no_bwd(&b.contiguous()?, &job)
    }
}

impl CustomOp2 for ConvJob {
    fn name(&self) -> &'static str {
        "deepstyle-conv-product"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (out, shape) = self.run(f32_slice(s1, l1)?, f32_slice(s2, l2)?)?;
        Ok((CpuStorage::F32(out), shape))
    }
}

/// Both gradients of a [`ConvOp`] in one pass (see [`conv_backward_both`]): operands
/// `(image side, column side, weight)`, output `[side gradient..., weight gradient...]` flat.
struct BothGradients {
    job: ConvJob,
    side: GradientSide,
}

impl CustomOp3 for BothGradients {
    fn name(&self) -> &'static str {
        "deepstyle-conv-gradients"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let job = &self.job;
        let (image, column, w) = (f32_slice(s1, l1)?, f32_slice(s2, l2)?, f32_slice(s3, l3)?);
        job.expect("image", image, &job.image_shape())?;
        job.expect("column side", column, &job.column_shape())?;
        job.expect("weight", w, &job.weight_shape())?;
        let packed = conv_backward_both(
            &job.geometry,
            job.groups,
            job.c_out,
            (image, column, w),
            self.side,
        );
        let len = packed.len();
        Ok((CpuStorage::F32(packed), Shape::from(len)))
    }
}

/// A differentiable convolution (`transposed == false`, operands `(x, w)`) or transposed
/// convolution (`transposed == true`, operands `(x, w)` with `x` on the column side).
struct ConvOp {
    job: ConvJob,
    transposed: bool,
}

impl CustomOp2 for ConvOp {
    fn name(&self) -> &'static str {
        if self.transposed {
            "deepstyle-conv-transpose2d"
        } else {
            "deepstyle-conv2d"
        }
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (x, w) = (f32_slice(s1, l1)?, f32_slice(s2, l2)?);
        let (out, shape) = if self.transposed {
            ConvJob {
                product: Product::BackwardData,
                ..self.job
            }
            .run(w, x)?
        } else {
            ConvJob {
                product: Product::Forward,
                ..self.job
            }
            .run(x, w)?
        };
        Ok((CpuStorage::F32(out), shape))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        // Only the gradients someone asked for: an input that is data (real images, a
        // detached batch) or a frozen weight needs none, and skipping it skips a whole product.
        let job = self.job;
        if x.track_op() && w.track_op() {
            let (side, image, column) = if self.transposed {
                (GradientSide::Column, grad, x)
            } else {
                (GradientSide::Image, x, grad)
            };
            let both = BothGradients { job, side };
            let packed = image.contiguous()?.apply_op3_no_bwd(
                &column.contiguous()?,
                &w.contiguous()?,
                &both,
            )?;
            let dx = packed.narrow(0, 0, x.elem_count())?.reshape(x.shape())?;
            let dw = packed
                .narrow(0, x.elem_count(), w.elem_count())?
                .reshape(w.shape())?;
            return Ok((Some(dx), Some(dw)));
        }
        let dx = if !x.track_op() {
            None
        } else if self.transposed {
            Some(job.apply(Product::Forward, grad, w)?)
        } else {
            Some(job.apply(Product::BackwardData, w, grad)?)
        };
        let dw = if !w.track_op() {
            None
        } else if self.transposed {
            Some(job.apply(Product::BackwardWeight, grad, x)?)
        } else {
            Some(job.apply(Product::BackwardWeight, x, grad)?)
        };
        Ok((dx, dw))
    }
}

fn uses_kernels(x: &Tensor, w: &Tensor) -> bool {
    x.device().is_cpu() && x.dtype() == DType::F32 && w.dtype() == DType::F32
}

/// `conv2d` of `x (N, C, H, W)` with `w (C_out, C / groups, KH, KW)`, no bias, dilation 1.
/// On the CPU this runs the kernels above; elsewhere Candle's own.
pub fn conv2d(
    x: &Tensor,
    w: &Tensor,
    stride: usize,
    padding: usize,
    groups: usize,
) -> candle_core::Result<Tensor> {
    if !uses_kernels(x, w) {
        return x.conv2d(w, padding, stride, 1, groups);
    }
    let (n, c, h, width) = x.dims4()?;
    let (c_out, c_per_group, kh, kw) = w.dims4()?;
    if groups == 0 || c % groups != 0 || c_out % groups != 0 || c_per_group * groups != c {
        return Err(KernelError::Geometry(format!(
            "conv2d: input has {c} channels, weight {:?}, groups {groups}",
            w.dims()
        ))
        .into());
    }
    let geometry = ConvGeometry::new((n, c, h, width), (kh, kw), stride, padding)?;
    let job = ConvJob {
        product: Product::Forward,
        geometry,
        groups,
        c_out,
    };
    x.contiguous()?.apply_op2(
        &w.contiguous()?,
        ConvOp {
            job,
            transposed: false,
        },
    )
}

/// `conv_transpose2d` of `x (N, C_in, H, W)` with `w (C_in, C_out, KH, KW)`, no bias, no output
/// padding, dilation 1, one group. On the CPU this runs the kernels above; elsewhere Candle's own.
pub fn conv_transpose2d(
    x: &Tensor,
    w: &Tensor,
    stride: usize,
    padding: usize,
) -> candle_core::Result<Tensor> {
    if !uses_kernels(x, w) {
        return x.conv_transpose2d(w, padding, 0, stride, 1);
    }
    let (n, c_in, h, width) = x.dims4()?;
    let (w_in, c_out, kh, kw) = w.dims4()?;
    if w_in != c_in {
        return Err(KernelError::Geometry(format!(
            "conv_transpose2d: input has {c_in} channels, weight {:?}",
            w.dims()
        ))
        .into());
    }
    let geometry = ConvGeometry::transposed((n, c_out, h, width), (kh, kw), stride, padding)?;
    let job = ConvJob {
        product: Product::Forward,
        geometry,
        groups: 1,
        c_out: c_in,
    };
    x.contiguous()?.apply_op2(
        &w.contiguous()?,
        ConvOp {
            job,
            transposed: true,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::im2col;

    #[test]
    fn a_slice_of_several_images_lands_in_nchw() {
        // Three images in one slice (the tests' slices otherwise hold one image of these
        // sizes), two groups, 18x17 positions an image.
        let g = ConvGeometry::new((3, 4, 18, 17), (3, 3), 1, 1).unwrap();
        let (groups, c_out) = (2, 6);
        let x: Vec<f32> = (0..g.image_len())
            .map(|i| (i as f32 * 0.37).sin())
            .collect();
        let k = g.col_rows() / groups;
        let w: Vec<f32> = (0..c_out * k).map(|i| (i as f32 * 0.11).cos()).collect();
        let cols = im2col(&g, &x);
        let mut out = vec![f32::NAN; g.batch * c_out * g.positions()];
        columns_to_column_side(&g, groups, c_out, &w, &cols, &mut out);
        let (cog, width, positions) = (c_out / groups, g.col_width(), g.positions());
        for n in 0..g.batch {
            for co in 0..c_out {
                let group = co / cog;
                for p in 0..positions {
                    let expected: f32 = (0..k)
                        .map(|r| w[co * k + r] * cols[(group * k + r) * width + n * positions + p])
                        .sum();
                    let got = out[(n * c_out + co) * positions + p];
                    assert!(
                        (got - expected).abs() < 1e-4,
                        "image {n} channel {co} at {p}"
                    );
                }
            }
        }
    }
}
