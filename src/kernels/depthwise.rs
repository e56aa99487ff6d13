//! Depthwise convolution for inference (one filter per channel, TensorFlow's "SAME" padding,
//! which pads more at the bottom and right when the total is odd), with the folded BatchNorm's
//! bias and an optional ReLU6 applied in the same pass. Candle runs a grouped convolution as one
//! small convolution per channel, which for MobileNetV2's hundreds of channels costs far more
//! than the arithmetic; here each output row is a few multiply-adds over contiguous rows that the
//! compiler vectorises, one channel plane per task.
//!
//! Forward only: the detector runs it at inference. On CUDA and Metal, and when gradients are
//! wanted, [`depthwise_conv2d`] falls back to Candle's grouped convolution with explicit padding.

use candle_core::{CpuStorage, CustomOp2, Layout, Shape, Tensor};
use rayon::prelude::*;

use super::{KernelError, f32_slice};

/// "SAME" padding for one axis: the output size and the padding before it.
pub fn same_padding(input: usize, kernel: usize, stride: usize) -> (usize, usize) {
    let output = input.div_ceil(stride);
    let total = ((output - 1) * stride + kernel).saturating_sub(input);
    (output, total / 2)
}

#[derive(Debug, Clone, Copy)]
struct Depthwise {
    stride: usize,
    relu6: bool,
}

/// One plane's geometry: input and output sizes, the padding before each, the kernel's side.
#[derive(Debug, Clone, Copy)]
struct PlaneShape {
    h: usize,
    w: usize,
    oh: usize,
    ow: usize,
    pad_top: usize,
    pad_left: usize,
    k: usize,
}

impl Depthwise {
    /// One output plane from one input plane and its channel's `weights` (the kernel, then the
    /// bias), through `scratch`: the input with its zero border, so the loops below need no
    /// bounds logic.
    #[inline(always)]
    fn plane(
        &self,
        shape: PlaneShape,
        input: &[f32],
        weights: &[f32],
        out: &mut [f32],
        scratch: &mut Vec<f32>,
    ) {
        let PlaneShape {
            h,
            w,
            oh,
            ow,
            pad_top,
            pad_left,
            k,
        } = shape;
        let (kernel, bias) = (&weights[..k * k], weights[k * k]);
        let s = self.stride;
        let (ph, pw) = ((oh - 1) * s + k, (ow - 1) * s + k);
        scratch.clear();
        scratch.resize(ph * pw, 0.0);
        for (y, row) in input.chunks_exact(w).enumerate().take(h.min(ph - pad_top)) {
            let at = (y + pad_top) * pw + pad_left;
            let fits = w.min(pw - pad_left);
            scratch[at..at + fits].copy_from_slice(&row[..fits]);
        }
        for (oy, row) in out.chunks_exact_mut(ow).enumerate() {
            let top = oy * s * pw;
            if k == 3 {
                let r0 = &scratch[top..top + pw];
                let r1 = &scratch[top + pw..top + 2 * pw];
                let r2 = &scratch[top + 2 * pw..top + 3 * pw];
                let kk = [
                    kernel[0], kernel[1], kernel[2], kernel[3], kernel[4], kernel[5], kernel[6],
                    kernel[7], kernel[8],
                ];
                if s == 1 {
                    let (a0, a1, a2) = (&r0[..ow], &r0[1..ow + 1], &r0[2..ow + 2]);
                    let (b0, b1, b2) = (&r1[..ow], &r1[1..ow + 1], &r1[2..ow + 2]);
                    let (c0, c1, c2) = (&r2[..ow], &r2[1..ow + 1], &r2[2..ow + 2]);
                    for i in 0..ow {
                        let v = bias
                            + kk[0] * a0[i]
                            + kk[1] * a1[i]
                            + kk[2] * a2[i]
                            + kk[3] * b0[i]
                            + kk[4] * b1[i]
                            + kk[5] * b2[i]
                            + kk[6] * c0[i]
                            + kk[7] * c1[i]
                            + kk[8] * c2[i];
                        row[i] = v;
                    }
                } else {
                    for (i, o) in row.iter_mut().enumerate() {
                        let x = i * s;
                        let v = bias
                            + kk[0] * r0[x]
                            + kk[1] * r0[x + 1]
                            + kk[2] * r0[x + 2]
                            + kk[3] * r1[x]
                            + kk[4] * r1[x + 1]
                            + kk[5] * r1[x + 2]
                            + kk[6] * r2[x]
                            + kk[7] * r2[x + 1]
                            + kk[8] * r2[x + 2];
                        *o = v;
                    }
                }
                if self.relu6 {
                    for o in row.iter_mut() {
                        *o = o.clamp(0.0, 6.0);
                    }
                }
                continue;
            }
            row.fill(bias);
            for ky in 0..k {
                let src = &scratch[top + ky * pw..top + (ky + 1) * pw];
                for kx in 0..k {
                    let weight = kernel[ky * k + kx];
                    for (o, x) in row.iter_mut().zip(src[kx..].iter().step_by(s)) {
                        *o += weight * x;
                    }
                }
            }
            if self.relu6 {
                for o in row.iter_mut() {
                    *o = o.clamp(0.0, 6.0);
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
impl Depthwise {
    /// [`Depthwise::plane`] compiled for AVX2 (8 floats a register), for CPUs that have it.
    #[target_feature(enable = "avx2")]
    unsafe fn plane_avx2(
        &self,
        shape: PlaneShape,
        input: &[f32],
        weights: &[f32],
        out: &mut [f32],
        scratch: &mut Vec<f32>,
    ) {
        self.plane(shape, input, weights, out, scratch)
    }
}

/// The op: `x (N, C, H, W)` and `packed (C, K*K + 1)` (each channel's kernel, then its bias).
impl CustomOp2 for Depthwise {
    fn name(&self) -> &'static str {
        "deepstyle-depthwise"
    }

    fn cpu_fwd(
        &self,
        x: &CpuStorage,
        x_layout: &Layout,
        packed: &CpuStorage,
        packed_layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (n, c, h, w) = x_layout.shape().dims4()?;
        let (pc, row) = packed_layout.shape().dims2()?;
        let k = ((row - 1) as f64).sqrt() as usize;
        if pc != c || k * k + 1 != row {
            return Err(KernelError::Geometry(format!(
                "depthwise: input has {c} channels, weights {:?}",
                packed_layout.dims()
            ))
            .into());
        }
        let x = f32_slice(x, x_layout)?;
        let packed = f32_slice(packed, packed_layout)?;
        let (oh, pad_top) = same_padding(h, k, self.stride);
        let (ow, pad_left) = same_padding(w, k, self.stride);
        let mut out = vec![0f32; n * c * oh * ow];
        // Read only on x86-64, where an AVX2 copy of the plane loops exists.
        #[cfg_attr(not(target_arch = "x86_64"), allow(unused_variables))]
        let avx2 = super::isa::Isa::current().has_avx2();
        let shape = PlaneShape {
            h,
            w,
            oh,
            ow,
            pad_top,
            pad_left,
            k,
        };
        out.par_chunks_mut(oh * ow)
            .enumerate()
            .for_each_init(Vec::new, |scratch, (plane, out)| {
                let channel = plane % c;
                let weights = &packed[channel * row..(channel + 1) * row];
                let input = &x[plane * h * w..(plane + 1) * h * w];
                #[cfg(target_arch = "x86_64")]
                if avx2 {
                    // SAFETY: the CPU has AVX2, the one feature `plane_avx2` is compiled for.
                    unsafe { self.plane_avx2(shape, input, weights, out, scratch) };
                    return;
                }
                self.plane(shape, input, weights, out, scratch);
            });
        Ok((CpuStorage::F32(out), Shape::from((n, c, oh, ow))))
    }
}

/// A depthwise convolution with "SAME" padding, plus bias, then ReLU6 if asked: `x (N, C, H, W)`,
/// `weight (C, 1, K, K)`, `bias (C)`.
pub fn depthwise_conv2d(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    stride: usize,
    relu6: bool,
) -> candle_core::Result<Tensor> {
    let (c, one, k, k2) = weight.dims4()?;
    if one != 1 || k != k2 || bias.dims1()? != c {
        return Err(KernelError::Geometry(format!(
            "depthwise: weight {:?} and bias {:?} are not one square kernel per channel",
            weight.dims(),
            bias.dims()
        ))
        .into());
    }
    if super::inference_on_kernels(x, weight) {
        let packed = Tensor::cat(&[weight.reshape((c, k * k))?, bias.reshape((c, 1))?], 1)?;
        return x
            .contiguous()?
            .apply_op2(&packed.contiguous()?, Depthwise { stride, relu6 });
    }
    let (_, _, h, w) = x.dims4()?;
    let (_, pad_top) = same_padding(h, k, stride);
    let (_, pad_left) = same_padding(w, k, stride);
    let (oh, _) = same_padding(h, k, stride);
    let (ow, _) = same_padding(w, k, stride);
    let pad_bottom = ((oh - 1) * stride + k).saturating_sub(h + pad_top);
    let pad_right = ((ow - 1) * stride + k).saturating_sub(w + pad_left);
    let padded = x
        .pad_with_zeros(2, pad_top, pad_bottom)?
        .pad_with_zeros(3, pad_left, pad_right)?;
    let y = padded
        .conv2d(weight, 0, stride, 1, c)?
        .broadcast_add(&bias.reshape((1, c, 1, 1))?)?;
    if relu6 { y.clamp(0f32, 6f32) } else { Ok(y) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn reference(x: &Tensor, w: &Tensor, b: &Tensor, stride: usize, relu6: bool) -> Tensor {
        // The fallback path: Candle's grouped convolution on explicitly padded input.
        let x = x.clone();
        let tracked = candle_core::Var::from_tensor(&x).unwrap();
        depthwise_conv2d(tracked.as_tensor(), w, b, stride, relu6).unwrap()
    }

    #[test]
    fn same_padding_pads_more_after_when_odd() {
        assert_eq!(same_padding(300, 3, 2), (150, 0));
        assert_eq!(same_padding(19, 3, 2), (10, 1));
        assert_eq!(same_padding(10, 3, 2), (5, 0));
        assert_eq!(same_padding(2, 3, 2), (1, 0));
        assert_eq!(same_padding(19, 3, 1), (19, 1));
    }

    #[test]
    fn matches_candles_grouped_convolution_at_every_stride_and_size() {
        let device = Device::Cpu;
        for (h, w, stride) in [
            (7, 9, 1),
            (8, 8, 2),
            (19, 19, 2),
            (5, 3, 2),
            (1, 1, 1),
            (2, 2, 2),
        ] {
            let c = 5;
            let x = Tensor::randn(0f32, 1.0, (2, c, h, w), &device).unwrap();
            let side = if h == 7 { 5 } else { 3 };
            let weight = Tensor::randn(0f32, 1.0, (c, 1, side, side), &device).unwrap();
            let bias = Tensor::randn(0f32, 1.0, c, &device).unwrap();
            for relu6 in [false, true] {
                let ours = depthwise_conv2d(&x, &weight, &bias, stride, relu6).unwrap();
                let theirs = reference(&x, &weight, &bias, stride, relu6);
                assert_eq!(ours.dims(), theirs.dims());
                let diff = (ours - theirs)
                    .unwrap()
                    .abs()
                    .unwrap()
                    .max_all()
                    .unwrap()
                    .to_scalar::<f32>()
                    .unwrap();
                assert!(diff < 1e-5, "{h}x{w} stride {stride}: {diff}");
            }
        }
    }
}
