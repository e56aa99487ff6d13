//! BatchNorm2d fused with the activation that follows it (ReLU, LeakyReLU or none), forward and
//! backward in two threaded passes each, as one Candle op; plus the layer that owns the
//! parameters and running statistics.
//!
//! Training normalises with the batch's statistics (biased variance) and moves the running
//! statistics toward them with PyTorch's rule (momentum 0.1, unbiased variance); evaluation uses
//! the running statistics.

use std::sync::{Arc, Mutex};

use candle_core::{CpuStorage, CustomOp3, DType, Layout, Result, Shape, Tensor, Var};
use candle_nn::VarBuilder;
use rayon::prelude::*;

use super::scratch::zeroed;
use super::timing::{Kernel, Timed};
use super::vector::{map_into, map2_into, map3_into, shifted_sums, sum_and_dot, vectorised};
use super::{KernelError, f32_slice};

const MOMENTUM: f64 = 0.1;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Activation {
    Identity,
    Relu,
    /// `max(x, slope * x)`, slope in (0, 1).
    LeakyRelu(f32),
}

impl Activation {
    /// The slope below zero: 1 (identity), 0 (ReLU) or the leak. Each activation here is `x`
    /// above zero and `slope * x` below, so the loops apply one branch-free formula
    /// ([`leaky`], [`leaky_derivative`]) instead of matching on the kind for every value.
    #[inline]
    pub(super) fn negative_slope(self) -> f32 {
        match self {
            Activation::Identity => 1.0,
            Activation::Relu => 0.0,
            Activation::LeakyRelu(slope) => slope,
        }
    }

    pub(super) fn apply_tensor(self, x: &Tensor) -> Result<Tensor> {
        match self {
            Activation::Identity => Ok(x.clone()),
            Activation::Relu => x.relu(),
            Activation::LeakyRelu(slope) => x.maximum(&(x * slope as f64)?),
        }
    }
}

/// `v` above zero, `slope * v` at or below it.
#[inline(always)]
pub(super) fn leaky(v: f32, slope: f32) -> f32 {
    if v > 0.0 { v } else { v * slope }
}

/// The derivative of [`leaky`], read from its output (whose sign is the input's).
#[inline(always)]
pub(super) fn leaky_derivative(out: f32, slope: f32) -> f32 {
    if out > 0.0 { 1.0 } else { slope }
}

/// `(N, C, plane)` sizes of an NCHW tensor.
#[derive(Clone, Copy, Debug)]
struct Dims {
    batch: usize,
    channels: usize,
    plane: usize,
}

impl Dims {
    fn of(shape: &Shape) -> Result<Self> {
        let dims = shape.dims();
        if dims.len() < 2 {
            return Err(KernelError::Geometry(format!(
                "batch norm needs (N, C, ...), got {dims:?}"
            ))
            .into());
        }
        Ok(Dims {
            batch: dims[0],
            channels: dims[1],
            plane: dims[2..].iter().product(),
        })
    }

    fn count(&self) -> usize {
        self.batch * self.plane
    }

    /// The values of channel `c`, image by image.
    fn channel<'a>(&self, data: &'a [f32], c: usize) -> impl Iterator<Item = &'a [f32]> + 'a {
        let (channels, plane) = (self.channels, self.plane);
        (0..self.batch).map(move |n| &data[(n * channels + c) * plane..][..plane])
    }
}

/// Per-channel mean and biased variance. Values are summed around a shift (the channel's first
/// value, close enough to the mean that the sum of squares does not cancel), each plane in
/// f32 lanes and the planes in f64.
fn channel_stats(x: &[f32], dims: Dims) -> (Vec<f32>, Vec<f32>) {
    (0..dims.channels)
        .into_par_iter()
        .map(|c| {
            let shift = dims.channel(x, c).next().and_then(|p| p.first()).copied();
            let shift = shift.unwrap_or(0.0);
            let (mut sum, mut sum_sq) = (0.0f64, 0.0f64);
            for plane in dims.channel(x, c) {
                let (s, q) = vectorised(
                    #[inline(always)]
                    || shifted_sums(plane, shift),
                );
                sum += s;
                sum_sq += q;
            }
            let count = dims.count().max(1) as f64;
            let mean = sum / count;
            (
                (shift as f64 + mean) as f32,
                (sum_sq / count - mean * mean).max(0.0) as f32,
            )
        })
        .unzip()
}

/// What the forward pass leaves for the backward one.
#[derive(Clone, Debug, Default)]
struct Saved {
    mean: Vec<f32>,
    inv_std: Vec<f32>,
    gamma: Vec<f32>,
    /// The batch's biased variance, for the running statistics.
    batch_var: Vec<f32>,
}

/// `act(gamma * (x - mean) * inv_std + beta)` with operands `(x, gamma, beta)`.
struct BatchNormOp {
    activation: Activation,
    eps: f32,
    /// `Some((mean, var))` to normalise with fixed statistics (evaluation).
    fixed: Option<(Vec<f32>, Vec<f32>)>,
    saved: Arc<Mutex<Saved>>,
}

impl CustomOp3 for BatchNormOp {
    fn name(&self) -> &'static str {
        "deepstyle-batch-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let _timed = Timed::start(Kernel::BatchNormForward);
        let (x, gamma, beta) = (f32_slice(s1, l1)?, f32_slice(s2, l2)?, f32_slice(s3, l3)?);
        let dims = Dims::of(l1.shape())?;
        if gamma.len() != dims.channels || beta.len() != dims.channels {
            return Err(KernelError::Geometry(format!(
                "batch norm over {} channels got {} scales and {} shifts",
                dims.channels,
                gamma.len(),
                beta.len()
            ))
            .into());
        }
        let (mean, var) = match &self.fixed {
            Some((mean, var)) => (mean.clone(), var.clone()),
            None => channel_stats(x, dims),
        };
        let inv_std: Vec<f32> = var.iter().map(|v| 1.0 / (v + self.eps).sqrt()).collect();
        let mut y = zeroed(x.len());
        let slope = self.activation.negative_slope();
        y.par_chunks_mut(dims.plane.max(1))
            .zip(x.par_chunks(dims.plane.max(1)))
            .enumerate()
            .for_each(|(index, (out, input))| {
                let c = index % dims.channels;
                let scale = gamma[c] * inv_std[c];
                let shift = beta[c] - mean[c] * scale;
                vectorised(
                    #[inline(always)]
                    || map_into(out, input, move |v| leaky(v * scale + shift, slope)),
                );
            });
        let mut saved = self
            .saved
            .lock()
            .map_err(|_| candle_core::Error::Msg("batch norm state poisoned".into()))?;
        *saved = Saved {
            mean,
            inv_std,
            gamma: gamma.to_vec(),
            batch_var: var,
        };
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        gamma: &Tensor,
        beta: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let saved = self
            .saved
            .lock()
            .map_err(|_| candle_core::Error::Msg("batch norm state poisoned".into()))?
            .clone();
        let channels = saved.gamma.len();
        let backward = BatchNormBackward {
            activation: self.activation,
            saved,
        };
        let packed = x.apply_op3_no_bwd(res, &grad.contiguous()?, &backward)?;
        let len = x.elem_count();
        let dx = packed.narrow(0, 0, len)?.reshape(x.shape())?;
        let dgamma = packed.narrow(0, len, channels)?;
        let dbeta = packed.narrow(0, len + channels, channels)?;
        Ok((
            Some(dx),
            gamma.track_op().then_some(dgamma),
            beta.track_op().then_some(dbeta),
        ))
    }
}

/// Operands `(x, y, dy)`; output `[dx..., dgamma..., dbeta...]` in one flat tensor.
struct BatchNormBackward {
    activation: Activation,
    saved: Saved,
}

impl CustomOp3 for BatchNormBackward {
    fn name(&self) -> &'static str {
        "deepstyle-batch-norm-backward"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let _timed = Timed::start(Kernel::BatchNormBackward);
        let (x, y, dy) = (f32_slice(s1, l1)?, f32_slice(s2, l2)?, f32_slice(s3, l3)?);
        let dims = Dims::of(l1.shape())?;
        if y.len() != x.len() || dy.len() != x.len() || self.saved.gamma.len() != dims.channels {
            return Err(
                KernelError::Geometry("batch norm backward: operands differ".into()).into(),
            );
        }
        let Saved {
            mean,
            inv_std,
            gamma,
            ..
        } = &self.saved;
        let slope = self.activation.negative_slope();
        // Pass 1: per channel, the sums of the pre-activation gradient `g` and of `g * x_hat`
        // (as `inv_std * Σ g (x - mean)`), a plane at a time through a scratch row of `g` and
        // `x - mean`.
        let (sum_g, sum_gx): (Vec<f64>, Vec<f64>) = (0..dims.channels)
            .into_par_iter()
            .map_init(
                || (Vec::new(), Vec::new()),
                |(g, centred), c| {
                    g.resize(dims.plane, 0.0);
                    centred.resize(dims.plane, 0.0);
                    let (mut sg, mut sgx) = (0.0f64, 0.0f64);
                    for ((xs, ys), ds) in dims
                        .channel(x, c)
                        .zip(dims.channel(y, c))
                        .zip(dims.channel(dy, c))
                    {
                        let (s, d) = vectorised(
                            #[inline(always)]
                            || {
                                let mean_c = mean[c];
                                map2_into(g, (ys, ds), move |y, d| d * leaky_derivative(y, slope));
                                map_into(centred, xs, move |x| x - mean_c);
                                sum_and_dot(g, centred)
                            },
                        );
                        sg += s;
                        sgx += d;
                    }
                    (sg, sgx * inv_std[c] as f64)
                },
            )
            .unzip();
        // Pass 2: dx = gamma * inv_std * (g - mean(g) - x_hat * mean(g * x_hat)).
        let count = dims.count().max(1) as f64;
        let mut out = zeroed(x.len() + 2 * dims.channels);
        let (dx, rest) = out.split_at_mut(x.len());
        let plane = dims.plane.max(1);
        dx.par_chunks_mut(plane)
            .enumerate()
            .for_each(|(index, dst)| {
                let c = index % dims.channels;
                let offset = index * plane;
                let mean_g = (sum_g[c] / count) as f32;
                let mean_gx = (sum_gx[c] / count) as f32;
                let scale = gamma[c] * inv_std[c];
                let (mean_c, inv_std_c) = (mean[c], inv_std[c]);
                let (xs, ys, ds) = (
                    &x[offset..][..plane],
                    &y[offset..][..plane],
                    &dy[offset..][..plane],
                );
                vectorised(
                    #[inline(always)]
                    || {
                        map3_into(dst, (xs, ys, ds), move |x, y, d| {
                            let g = d * leaky_derivative(y, slope);
                            let x_hat = (x - mean_c) * inv_std_c;
                            scale * (g - mean_g - x_hat * mean_gx)
                        })
                    },
                );
            });
        for c in 0..dims.channels {
            rest[c] = sum_gx[c] as f32;
            rest[dims.channels + c] = sum_g[c] as f32;
        }
        let len = out.len();
        Ok((CpuStorage::F32(out), Shape::from(len)))
    }
}

/// A BatchNorm2d layer followed by an activation; variables `weight`, `bias`, `running_mean`,
/// `running_var` as PyTorch names them.
pub struct BatchNormAct {
    weight: Tensor,
    bias: Tensor,
    running_mean: Var,
    running_var: Var,
    eps: f64,
    activation: Activation,
}

impl BatchNormAct {
    pub fn new(channels: usize, eps: f64, activation: Activation, vb: VarBuilder) -> Result<Self> {
        Ok(BatchNormAct {
            weight: vb.get(channels, "weight")?,
            bias: vb.get(channels, "bias")?,
            running_mean: Var::from_tensor(&vb.get(channels, "running_mean")?)?,
            running_var: Var::from_tensor(&vb.get(channels, "running_var")?)?,
            eps,
            activation,
        })
    }

    /// Normalisation alone (scale 1, shift 0, no activation), for layers whose scale and shift
    /// come from elsewhere (class-conditional BatchNorm). Variables: the running statistics.
    pub fn normalise_only(channels: usize, eps: f64, vb: VarBuilder) -> Result<Self> {
        let device = vb.device().clone();
        Ok(BatchNormAct {
            weight: Tensor::ones(channels, DType::F32, &device)?,
            bias: Tensor::zeros(channels, DType::F32, &device)?,
            running_mean: Var::from_tensor(&vb.get(channels, "running_mean")?)?,
            running_var: Var::from_tensor(&vb.get(channels, "running_var")?)?,
            eps,
            activation: Activation::Identity,
        })
    }

    pub fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        self.forward_with(x, train, false)
    }

    /// Training-mode forward whose scale and shift get no gradient (the layer is being
    /// backpropagated through, not trained).
    pub fn forward_frozen(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_with(x, true, true)
    }

    fn forward_with(&self, x: &Tensor, train: bool, frozen: bool) -> Result<Tensor> {
        let (weight, bias) = if frozen {
            (self.weight.detach(), self.bias.detach())
        } else {
            (self.weight.clone(), self.bias.clone())
        };
        if x.device().is_cpu() && x.dtype() == DType::F32 {
            self.forward_cpu(x, &weight, &bias, train)
        } else {
            self.forward_composed(x, &weight, &bias, train)
        }
    }

    fn forward_cpu(
        &self,
        x: &Tensor,
        weight: &Tensor,
        bias: &Tensor,
        train: bool,
    ) -> Result<Tensor> {
        let saved = Arc::new(Mutex::new(Saved::default()));
        let fixed = if train {
            None
        } else {
            Some((
                self.running_mean.as_tensor().to_vec1::<f32>()?,
                self.running_var.as_tensor().to_vec1::<f32>()?,
            ))
        };
        let op = BatchNormOp {
            activation: self.activation,
            eps: self.eps as f32,
            fixed,
            saved: saved.clone(),
        };
        let x = x.contiguous()?;
        let (weight, bias) = (weight.contiguous()?, bias.contiguous()?);
        if !train {
            return x.apply_op3_no_bwd(&weight, &bias, &op);
        }
        let y = x.apply_op3(&weight, &bias, op)?;
        let (mean, batch_var) = {
            let saved = saved
                .lock()
                .map_err(|_| candle_core::Error::Msg("batch norm state poisoned".into()))?;
            (saved.mean.clone(), saved.batch_var.clone())
        };
        let count = (x.elem_count() / mean.len().max(1)) as f64;
        let device = x.device();
        let mean = Tensor::from_vec(mean, self.running_mean.shape(), device)?;
        let var = Tensor::from_vec(batch_var, self.running_var.shape(), device)?;
        self.update_running(&mean, &var, count)?;
        Ok(y)
    }

    /// The same computation from Candle ops, for devices without the CPU kernels.
    fn forward_composed(
        &self,
        x: &Tensor,
        weight: &Tensor,
        bias: &Tensor,
        train: bool,
    ) -> Result<Tensor> {
        let channels = self.weight.elem_count();
        let mut stat_shape = vec![1usize; x.rank()];
        stat_shape[1] = channels;
        let (mean, var) = if train {
            let per_channel = x.transpose(0, 1)?.flatten_from(1)?; // (C, N * plane)
            let mean = per_channel.mean_keepdim(1)?;
            let var = per_channel.broadcast_sub(&mean)?.sqr()?.mean_keepdim(1)?;
            self.update_running(
                &mean.flatten_all()?.detach(),
                &var.flatten_all()?.detach(),
                per_channel.dim(1)? as f64,
            )?;
            (
                mean.reshape(stat_shape.clone())?,
                var.reshape(stat_shape.clone())?,
            )
        } else {
            (
                self.running_mean.as_tensor().reshape(stat_shape.clone())?,
                self.running_var.as_tensor().reshape(stat_shape.clone())?,
            )
        };
        let normalised = x
            .broadcast_sub(&mean)?
            .broadcast_div(&(var + self.eps)?.sqrt()?)?;
        let y = normalised
            .broadcast_mul(&weight.reshape(stat_shape.clone())?)?
            .broadcast_add(&bias.reshape(stat_shape)?)?;
        self.activation.apply_tensor(&y)
    }

    fn update_running(&self, mean: &Tensor, biased_var: &Tensor, count: f64) -> Result<()> {
        let unbiased = (biased_var * (count / (count - 1.0).max(1.0)))?;
        let running_mean =
            ((self.running_mean.as_tensor() * (1.0 - MOMENTUM))? + (mean * MOMENTUM)?)?;
        let running_var =
            ((self.running_var.as_tensor() * (1.0 - MOMENTUM))? + (unbiased * MOMENTUM)?)?;
        self.running_mean.set(&running_mean.detach())?;
        self.running_var.set(&running_var.detach())
    }
}
