//! An activation on its own (where no BatchNorm precedes it: after the discriminator's first
//! convolution, and the generator's closing `tanh`), threaded, forward and backward.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, DType, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::batch_norm::{Activation, leaky, leaky_derivative};
use super::f32_slice;
use super::scratch::zeroed;
use super::timing::{Kernel, Timed};
use super::vector::{map_into, map2_into, vectorised};

const CHUNK: usize = 64 * 1024;

struct ActivationOp(Activation);

impl CustomOp1 for ActivationOp {
    fn name(&self) -> &'static str {
        "deepstyle-activation"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let slope = self.0.negative_slope();
        map_threaded(storage, layout, move |v| leaky(v, slope))
    }

    fn bwd(&self, _x: &Tensor, res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(res.apply_op2_no_bwd(
            &grad.contiguous()?,
            &ActivationBackward(self.0),
        )?))
    }
}

/// Operands `(y, dy)` -> `dx`.
struct ActivationBackward(Activation);

impl CustomOp2 for ActivationBackward {
    fn name(&self) -> &'static str {
        "deepstyle-activation-backward"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let slope = self.0.negative_slope();
        gradient_from_output((s1, l1), (s2, l2), move |y, d| {
            d * leaky_derivative(y, slope)
        })
    }
}

/// `f` of every value of a contiguous f32 operand, threaded (timed as an activation).
fn map_threaded(
    storage: &CpuStorage,
    layout: &Layout,
    f: impl Fn(f32) -> f32 + Copy + Send + Sync,
) -> Result<(CpuStorage, Shape)> {
    let _timed = Timed::start(Kernel::Activation);
    let x = f32_slice(storage, layout)?;
    let mut y = zeroed(x.len());
    y.par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK))
        .for_each(|(out, input)| {
            vectorised(
                #[inline(always)]
                || map_into(out, input, f),
            );
        });
    Ok((CpuStorage::F32(y), layout.shape().clone()))
}

/// An activation's input gradient from its output `y` and the output gradient `dy`:
/// `dx = gradient(y, dy)` value by value, threaded.
fn gradient_from_output(
    (s1, l1): (&CpuStorage, &Layout),
    (s2, l2): (&CpuStorage, &Layout),
    gradient: impl Fn(f32, f32) -> f32 + Copy + Send + Sync,
) -> Result<(CpuStorage, Shape)> {
    let _timed = Timed::start(Kernel::Activation);
    let (y, dy) = (f32_slice(s1, l1)?, f32_slice(s2, l2)?);
    let mut dx = zeroed(y.len());
    dx.par_chunks_mut(CHUNK)
        .zip(y.par_chunks(CHUNK).zip(dy.par_chunks(CHUNK)))
        .for_each(|(out, (ys, ds))| {
            vectorised(
                #[inline(always)]
                || map2_into(out, (ys, ds), gradient),
            );
        });
    Ok((CpuStorage::F32(dx), l1.shape().clone()))
}

/// `activation(x)`: the CPU kernel for f32 on the CPU, Candle's ops elsewhere.
pub fn activate(x: &Tensor, activation: Activation) -> Result<Tensor> {
    if x.device().is_cpu() && x.dtype() == DType::F32 {
        x.contiguous()?.apply_op1(ActivationOp(activation))
    } else {
        activation.apply_tensor(x)
    }
}

/// `tanh(x)` (the generator's output): the CPU kernel for f32 on the CPU, Candle's op
/// elsewhere. Candle's runs on one thread, and so does its gradient (four tensor ops); a 64x64
/// RGB batch of 64 is 0.8 M values at about 15 ns each in `tanhf`.
pub fn tanh(x: &Tensor) -> Result<Tensor> {
    if x.device().is_cpu() && x.dtype() == DType::F32 {
        x.contiguous()?.apply_op1(TanhOp)
    } else {
        x.tanh()
    }
}

struct TanhOp;

impl CustomOp1 for TanhOp {
    fn name(&self) -> &'static str {
        "deepstyle-tanh"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        map_threaded(storage, layout, f32::tanh)
    }

    fn bwd(&self, _x: &Tensor, res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(
            res.apply_op2_no_bwd(&grad.contiguous()?, &TanhBackward)?,
        ))
    }
}

/// Operands `(y, dy)` -> `dx = dy * (1 - y²)`.
struct TanhBackward;

impl CustomOp2 for TanhBackward {
    fn name(&self) -> &'static str {
        "deepstyle-tanh-backward"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        gradient_from_output((s1, l1), (s2, l2), |y, d| d * (1.0 - y * y))
    }
}
