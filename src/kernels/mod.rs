//! CPU kernels for training: convolution and transposed convolution (where the CPU has
//! AVX-512, Winograd F(4x4, 2x2) for the 4x4 stride-2 layers and otherwise our own blocked
//! multiply that packs straight from the image and folds straight back onto it, no column
//! matrix; elsewhere im2col/col2im around a threaded `gemm`), BatchNorm
//! fused with its activation, threaded LeakyReLU and tanh, and an in-place Adam update. Each is
//! a Candle custom op, so autograd, checkpoints and the rest of Candle work as before; on CUDA
//! and Metal the layers call Candle's own kernels instead.
//!
//! Dispatch has one place a question: [`isa`] detects the CPU's instruction sets once (and
//! holds the environment overrides), and `plan` chooses Winograd, implicit or explicit for each
//! product of a convolution. Our blocked kernels' instruction-set code sits behind one trait
//! (`intrinsics::Intrinsics`), one module per instruction set (`avx512/`); the portable
//! blocking, packing order and layouts are generic over it.

mod activation;
mod adam;
pub mod allocator;
#[cfg(target_arch = "x86_64")]
mod avx512;
mod batch_norm;
mod conv;
mod depthwise;
mod gemm;
mod implicit;
mod intrinsics;
pub mod isa;
mod layout;
mod plan;
mod pointwise;
#[cfg(test)]
mod portable;
mod roi_align;
mod scratch;
mod sgemm;
pub mod threads;
pub mod timing;
mod vector;
mod winograd;

pub use activation::{activate, tanh};
pub use adam::{AdamHyper, AdamStep, Moments};
pub use batch_norm::{Activation, BatchNormAct};
pub use conv::{conv_backward_data, conv_backward_weight, conv_forward, conv_transpose2d, conv2d};
pub use depthwise::{depthwise_conv2d, same_padding};
pub use gemm::{MatRef, matmul};
pub use isa::Isa;
pub use layout::{ConvGeometry, col2im, im2col};
pub use pointwise::{bias_relu6, pointwise_conv2d};
pub use roi_align::{RoiAlign, roi_align};

use candle_core::{CpuStorage, Layout};

#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    #[error("{0}")]
    Geometry(String),
    #[error("the CPU kernels take contiguous f32 tensors")]
    Storage,
}

impl From<KernelError> for candle_core::Error {
    fn from(error: KernelError) -> Self {
        candle_core::Error::Msg(error.to_string())
    }
}

/// Whether an inference-only kernel (forward, no gradient) can take `x` and `weight`: f32 on
/// the CPU, and no gradient wanted through either.
fn inference_on_kernels(x: &candle_core::Tensor, weight: &candle_core::Tensor) -> bool {
    x.device().is_cpu()
        && x.dtype() == candle_core::DType::F32
        && weight.dtype() == candle_core::DType::F32
        && !x.track_op()
        && !weight.track_op()
}

/// The values of a contiguous f32 operand.
fn f32_slice<'a>(storage: &'a CpuStorage, layout: &Layout) -> Result<&'a [f32], KernelError> {
    match (storage, layout.contiguous_offsets()) {
        (CpuStorage::F32(data), Some((start, end))) => Ok(&data[start..end]),
        _ => Err(KernelError::Storage),
    }
}

fn f32_slice_mut<'a>(
    storage: &'a mut CpuStorage,
    layout: &Layout,
) -> Result<&'a mut [f32], KernelError> {
    match (storage, layout.contiguous_offsets()) {
        (CpuStorage::F32(data), Some((start, end))) => Ok(&mut data[start..end]),
        _ => Err(KernelError::Storage),
    }
}

#[cfg(test)]
mod tests;

/// The largest absolute difference between two tensors of one shape, for tests.
#[cfg(test)]
pub(crate) fn largest_difference(a: &candle_core::Tensor, b: &candle_core::Tensor) -> f32 {
    let diff = (a - b).and_then(|d| d.abs()).and_then(|d| d.max_all());
    diff.and_then(|d| d.to_scalar::<f32>())
        .unwrap_or(f32::INFINITY)
}
