//! Adam(W)'s update as one in-place pass over a parameter, its gradient and its two moments
//! (PyTorch's rule, `torch.optim.AdamW` / `Adam` with decoupled weight decay), threaded in chunks.
//!
//! `p *= 1 - lr * wd;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g²;
//!  p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)`

use std::sync::Mutex;

use candle_core::{CpuStorage, InplaceOp2, Layout};
use rayon::prelude::*;

use super::timing::{Kernel, Timed};
use super::vector::vectorised;
use super::{KernelError, f32_slice};

const CHUNK: usize = 16 * 1024;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamHyper {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

/// First and second moments of one parameter, kept in host memory beside it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Moments {
    pub m: Vec<f32>,
    pub v: Vec<f32>,
}

impl Moments {
    pub fn zeros(len: usize) -> Self {
        Moments {
            m: vec![0.0; len],
            v: vec![0.0; len],
        }
    }
}

/// Step `step` (1-based) of Adam on the parameter it is applied to (`param.inplace_op2(grad, ..)`).
pub struct AdamStep<'a> {
    pub hyper: AdamHyper,
    pub step: u64,
    pub moments: &'a Mutex<Moments>,
}

impl AdamStep<'_> {
    /// The update on plain slices.
    pub fn apply(
        &self,
        param: &mut [f32],
        grad: &[f32],
        moments: &mut Moments,
    ) -> Result<(), KernelError> {
        let n = param.len();
        if grad.len() != n || moments.m.len() != n || moments.v.len() != n {
            return Err(KernelError::Geometry(format!(
                "adam: parameter has {n} values, gradient {}, moments {}/{}",
                grad.len(),
                moments.m.len(),
                moments.v.len()
            )));
        }
        // The order of operations, and the f32 rounding of each scalar, follow PyTorch's
        // single-tensor AdamW on the CPU so the results agree to float rounding.
        let h = self.hyper;
        let t = self.step.min(i32::MAX as u64) as i32;
        let step_size = (h.lr / (1.0 - h.beta1.powi(t))) as f32;
        let sqrt_bias2 = (1.0 - h.beta2.powi(t)).sqrt() as f32;
        let decay = (1.0 - h.lr * h.weight_decay) as f32;
        let weight1 = (1.0 - h.beta1) as f32;
        let (b2, weight2, eps) = (h.beta2 as f32, (1.0 - h.beta2) as f32, h.eps as f32);
        param
            .par_chunks_mut(CHUNK)
            .zip(grad.par_chunks(CHUNK))
            .zip(moments.m.par_chunks_mut(CHUNK))
            .zip(moments.v.par_chunks_mut(CHUNK))
            .for_each(|(((p, g), m), v)| {
                vectorised(
                    #[inline(always)]
                    || {
                        for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v) {
                            *m = lerp(*m, g, weight1);
                            *v = *v * b2 + weight2 * g * g;
                            let denom = v.sqrt() / sqrt_bias2 + eps;
                            if decay != 1.0 {
                                *p *= decay;
                            }
                            *p += -step_size * *m / denom;
                        }
                    },
                );
            });
        Ok(())
    }
}

/// `a + w (b - a)`, computed as PyTorch's `lerp` does for either half of `w`.
#[inline]
fn lerp(a: f32, b: f32, w: f32) -> f32 {
    if w < 0.5 {
        a + w * (b - a)
    } else {
        b - (b - a) * (1.0 - w)
    }
}

impl InplaceOp2 for AdamStep<'_> {
    fn name(&self) -> &'static str {
        "deepstyle-adam"
    }

    fn cpu_fwd(
        &self,
        s1: &mut CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<()> {
        let _timed = Timed::start(Kernel::Adam);
        let grad = f32_slice(s2, l2)?;
        let param = super::f32_slice_mut(s1, l1)?;
        let mut moments = self
            .moments
            .lock()
            .map_err(|_| candle_core::Error::Msg("adam moments poisoned".into()))?;
        self.apply(param, grad, &mut moments)?;
        Ok(())
    }
}
