//! 1x1 convolution for inference with its bias and an optional ReLU6 in the same pass: per
//! image, the output planes start as the bias and the product `W (C_out x C) · X (C x H*W)` is
//! added onto them, then clamped in place. Candle would add the bias and clamp as three more
//! passes over the output, each with its own allocation, which in MobileNetV2 cost about as much
//! as the products themselves.
//!
//! Forward only; on other devices, and when gradients are wanted, [`pointwise_conv2d`] runs
//! Candle's own operations.

use candle_core::{CpuStorage, CustomOp3, DType, Layout, Shape, Tensor};

use super::gemm::{MatRef, matmul};
use super::{KernelError, f32_slice};

#[derive(Debug, Clone, Copy)]
struct Pointwise {
    relu6: bool,
}

impl CustomOp3 for Pointwise {
    fn name(&self) -> &'static str {
        "deepstyle-pointwise"
    }

    fn cpu_fwd(
        &self,
        x: &CpuStorage,
        x_layout: &Layout,
        w: &CpuStorage,
        w_layout: &Layout,
        b: &CpuStorage,
        b_layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (n, c, h, width) = x_layout.shape().dims4()?;
        let (c_out, c_in) = w_layout.shape().dims2()?;
        if c_in != c || b_layout.shape().dims1()? != c_out {
            return Err(KernelError::Geometry(format!(
                "pointwise: input has {c} channels, weight {:?}, bias {:?}",
                w_layout.dims(),
                b_layout.dims()
            ))
            .into());
        }
        let (x, w, bias) = (
            f32_slice(x, x_layout)?,
            f32_slice(w, w_layout)?,
            f32_slice(b, b_layout)?,
        );
        let plane = h * width;
        // The output starts as the bias (written once, without zeroing it first).
        let mut out = Vec::with_capacity(n * c_out * plane);
        for _ in 0..n {
            for value in bias {
                out.extend(std::iter::repeat_n(*value, plane));
            }
        }
        for (image, dst) in out.chunks_mut(c_out * plane).enumerate() {
            let input = MatRef::row_major(
                &x[image * c * plane..(image + 1) * c * plane],
                c,
                plane,
                plane,
            );
            matmul(dst, plane, MatRef::row_major(w, c_out, c, c), input, true);
        }
        if self.relu6 {
            use rayon::prelude::*;
            out.par_chunks_mut(1 << 14).for_each(|chunk| {
                for v in chunk {
                    *v = v.clamp(0.0, 6.0);
                }
            });
        }
        Ok((CpuStorage::F32(out), Shape::from((n, c_out, h, width))))
    }
}

/// `y + bias` per channel, then ReLU6 if asked, in one pass: `y (N, C, H, W)`, `bias (C)`.
#[derive(Debug, Clone, Copy)]
struct BiasRelu6 {
    relu6: bool,
}

impl candle_core::CustomOp2 for BiasRelu6 {
    fn name(&self) -> &'static str {
        "deepstyle-bias-relu6"
    }

    fn cpu_fwd(
        &self,
        y: &CpuStorage,
        y_layout: &Layout,
        b: &CpuStorage,
        b_layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (n, c, h, w) = y_layout.shape().dims4()?;
        if b_layout.shape().dims1()? != c {
            return Err(KernelError::Geometry(format!(
                "bias: {c} channels, bias {:?}",
                b_layout.dims()
            ))
            .into());
        }
        let (y, bias) = (f32_slice(y, y_layout)?, f32_slice(b, b_layout)?);
        let plane = h * w;
        let mut out = y.to_vec();
        for (index, row) in out.chunks_mut(plane).enumerate() {
            let b = bias[index % c];
            for v in row {
                let sum = *v + b;
                *v = if self.relu6 { sum.clamp(0.0, 6.0) } else { sum };
            }
        }
        Ok((CpuStorage::F32(out), Shape::from((n, c, h, w))))
    }
}

/// `y + bias` per channel of `y (N, C, H, W)`, then ReLU6 if asked.
pub fn bias_relu6(y: &Tensor, bias: &Tensor, relu6: bool) -> candle_core::Result<Tensor> {
    if y.device().is_cpu() && y.dtype() == DType::F32 && !y.track_op() {
        return y
            .contiguous()?
            .apply_op2(&bias.contiguous()?, BiasRelu6 { relu6 });
    }
    let c = bias.dims1()?;
    let y = y.broadcast_add(&bias.reshape((1, c, 1, 1))?)?;
    if relu6 { y.clamp(0f32, 6f32) } else { Ok(y) }
}

/// A 1x1 convolution plus bias, then ReLU6 if asked: `x (N, C, H, W)`, `weight (C_out, C, 1,
/// 1)`, `bias (C_out)`.
pub fn pointwise_conv2d(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    relu6: bool,
) -> candle_core::Result<Tensor> {
    let (c_out, c, kh, kw) = weight.dims4()?;
    if kh != 1 || kw != 1 {
        return Err(KernelError::Geometry(format!(
            "pointwise: weight {:?} is not 1x1",
            weight.dims()
        ))
        .into());
    }
    if super::inference_on_kernels(x, weight) {
        return x.contiguous()?.apply_op3(
            &weight.reshape((c_out, c))?.contiguous()?,
            &bias.contiguous()?,
            Pointwise { relu6 },
        );
    }
    bias_relu6(&x.conv2d(weight, 0, 1, 1, 1)?, bias, relu6)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn matches_candles_convolution_with_bias_and_relu6() {
        let device = Device::Cpu;
        for (n, c, h, w, c_out) in [(2, 7, 5, 6, 4), (2, 13, 19, 23, 40), (1, 3, 40, 41, 300)] {
            for relu6 in [false, true] {
                compare(&device, (n, c, h, w), c_out, relu6);
            }
        }
    }

    fn compare(device: &Device, shape: (usize, usize, usize, usize), c_out: usize, relu6: bool) {
        let x = Tensor::randn(0f32, 2.0, shape, device).unwrap();
        let w = Tensor::randn(0f32, 1.0, (c_out, shape.1, 1, 1), device).unwrap();
        let b = Tensor::randn(0f32, 1.0, c_out, device).unwrap();
        {
            let ours = pointwise_conv2d(&x, &w, &b, relu6).unwrap();
            let tracked = candle_core::Var::from_tensor(&x).unwrap();
            let theirs = pointwise_conv2d(tracked.as_tensor(), &w, &b, relu6).unwrap();
            let diff = crate::kernels::largest_difference(&ours, &theirs);
            assert!(diff < 1e-4, "{shape:?} -> {c_out}, relu6 {relu6}: {diff}");
        }
    }
}
