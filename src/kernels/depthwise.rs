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

/// A worker's buffers, kept from plane to plane: the padded input plane and, at stride 1, the
/// output computed as wide as the padded rows.
#[derive(Default)]
struct Scratch {
    padded: Vec<f32>,
    wide: Vec<f32>,
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
    /// bounds logic. At stride 2 each padded row is stored as its even columns, then its odd
    /// ones, so every tap of a 3x3 kernel reads a contiguous run.
    #[inline(always)]
    fn plane(
        &self,
        shape: PlaneShape,
        input: &[f32],
        weights: &[f32],
        out: &mut [f32],
        scratch: &mut Scratch,
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
        let deinterleaved = k == 3 && s == 2 && pad_left <= 1;
        let Scratch {
            padded: plane,
            wide,
        } = scratch;
        plane.clear();
        plane.resize(ph * pw, 0.0);
        for (y, row) in input.chunks_exact(w).enumerate().take(h.min(ph - pad_top)) {
            let padded = &mut plane[(y + pad_top) * pw..(y + pad_top + 1) * pw];
            if deinterleaved {
                // Padded column p lands at p / 2 among the evens (ow + 1 of them) or the odds.
                let (even, odd) = padded.split_at_mut(ow + 1);
                if pad_left == 0 {
                    deinterleave(row, even, odd);
                } else {
                    deinterleave(row, odd, &mut even[1..]);
                }
            } else {
                let fits = w.min(pw - pad_left);
                padded[pad_left..pad_left + fits].copy_from_slice(&row[..fits]);
            }
        }
        if k == 3 && s == 1 {
            // The plane as one flat run: output (oy, ox) computed at oy * pw + ox, as wide as
            // the padded rows, so each tap is one contiguous slice of the padded plane and the
            // loop runs long even on small maps; the `k - 1` extra columns are dropped below.
            let n = (oh - 1) * pw + ow;
            if wide.len() < n {
                wide.resize(n, 0.0);
            }
            let taps = std::array::from_fn(|t| &plane[(t / 3) * pw + t % 3..][..n]);
            self.sum9(bias, kernel, taps, &mut wide[..n]);
            for (oy, row) in out.chunks_exact_mut(ow).enumerate() {
                row.copy_from_slice(&wide[oy * pw..oy * pw + ow]);
            }
            return;
        }
        for (oy, row) in out.chunks_exact_mut(ow).enumerate() {
            let top = oy * s * pw;
            let rows = |ky: usize| &plane[top + ky * pw..top + (ky + 1) * pw];
            if deinterleaved {
                let [a, b, c] = [0, 1, 2].map(|ky| stride2_taps(rows(ky), ow));
                let taps = [a[0], a[1], a[2], b[0], b[1], b[2], c[0], c[1], c[2]];
                self.sum9(bias, kernel, taps, row);
                continue;
            } else {
                row.fill(bias);
                for ky in 0..k {
                    let src = rows(ky);
                    for kx in 0..k {
                        let weight = kernel[ky * k + kx];
                        for (o, x) in row.iter_mut().zip(src[kx..].iter().step_by(s)) {
                            *o += weight * x;
                        }
                    }
                }
            }
            self.activate(row);
        }
    }

    /// `out[i] = bias + sum over t of kernel[t] * taps[t][i]`, then ReLU6 if the layer has it: a
    /// 3x3 kernel over nine runs as long as `out`.
    #[inline(always)]
    fn sum9(&self, bias: f32, kernel: &[f32], taps: [&[f32]; 9], out: &mut [f32]) {
        if self.relu6 {
            sum9::<true>(bias, kernel, taps, out)
        } else {
            sum9::<false>(bias, kernel, taps, out)
        }
    }

    /// ReLU6 on a finished run, when the layer has it.
    #[inline(always)]
    fn activate(&self, row: &mut [f32]) {
        if self.relu6 {
            for o in row.iter_mut() {
                *o = o.clamp(0.0, 6.0);
            }
        }
    }
}

/// [`Depthwise::sum9`] for one activation. The nine products are added as a tree, not a chain,
/// so each vector's result waits on four additions, not nine.
#[inline(always)]
fn sum9<const RELU6: bool>(bias: f32, kernel: &[f32], taps: [&[f32]; 9], out: &mut [f32]) {
    let kk: [f32; 9] = std::array::from_fn(|t| kernel[t]);
    let n = out.len();
    // Each run bound on its own, cut to `n`, so the loop compiles without bounds checks.
    let [t0, t1, t2, t3, t4, t5, t6, t7, t8] = taps;
    let (t0, t1, t2, t3, t4) = (&t0[..n], &t1[..n], &t2[..n], &t3[..n], &t4[..n]);
    let (t5, t6, t7, t8) = (&t5[..n], &t6[..n], &t7[..n], &t8[..n]);
    for i in 0..n {
        let top = (bias + kk[0] * t0[i]) + (kk[1] * t1[i] + kk[2] * t2[i]);
        let middle = (kk[3] * t3[i] + kk[4] * t4[i]) + kk[5] * t5[i];
        let bottom = (kk[6] * t6[i] + kk[7] * t7[i]) + kk[8] * t8[i];
        let v = top + (middle + bottom);
        out[i] = if RELU6 { v.clamp(0.0, 6.0) } else { v };
    }
}

/// The three taps of a deinterleaved padded row at stride 2: padded columns `2i`, `2i + 1` and
/// `2i + 2` for the outputs `i < ow`.
#[inline(always)]
fn stride2_taps(row: &[f32], ow: usize) -> [&[f32]; 3] {
    let (even, odd) = row.split_at(ow + 1);
    [&even[..ow], &odd[..ow], &even[1..ow + 1]]
}

/// `even[j] = src[2j]` and `odd[j] = src[2j + 1]`, as far as each slice reaches.
#[inline(always)]
fn deinterleave(src: &[f32], even: &mut [f32], odd: &mut [f32]) {
    let pairs = (src.len() / 2).min(even.len()).min(odd.len());
    for ((pair, e), o) in src.chunks_exact(2).zip(even.iter_mut()).zip(odd.iter_mut()) {
        *e = pair[0];
        *o = pair[1];
    }
    for (x, &value) in src.iter().enumerate().skip(2 * pairs) {
        let slot = if x % 2 == 0 {
            even.get_mut(x / 2)
        } else {
            odd.get_mut(x / 2)
        };
        if let Some(slot) = slot {
            *slot = value;
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
        scratch: &mut Scratch,
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
        out.par_chunks_mut(oh * ow).enumerate().for_each_init(
            Scratch::default,
            |scratch, (plane, out)| {
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
            },
        );
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
            // 3x3 at stride 1 (the flat run) and at stride 2 with odd and even widths (the
            // deinterleaved rows, with a left pad of 1 and of 0).
            (6, 11, 1),
            (19, 19, 1),
            (10, 13, 2),
            (4, 17, 2),
            (9, 4, 2),
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
                let diff = crate::kernels::largest_difference(&ours, &theirs);
                assert!(diff < 1e-5, "{h}x{w} stride {stride}: {diff}");
            }
        }
    }
}
