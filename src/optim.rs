//! Adam with PyTorch's update rule, weight decay 0 by default (DCGAN's setting) or decoupled
//! (AdamW's), with its moments exposed so checkpoints can store and restore them exactly.
//!
//! `p *= 1 - lr wd;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
//!  p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)`

use std::collections::HashMap;
use std::sync::Mutex;

use candle_core::{Result, Tensor, Var, backprop::GradStore};
use candle_nn::VarMap;

use crate::kernels::{AdamHyper, AdamStep, Moments};

/// One parameter's moments: beside it in host memory for the fused CPU update, or as tensors
/// on the parameter's device elsewhere.
enum State {
    Host(Mutex<Moments>),
    Device { m: Tensor, v: Tensor },
}

/// Whether a variable is a buffer rather than a parameter: a BatchNorm running statistic or
/// a spectral norm's power-iteration vector (no gradient, not optimised).
pub fn is_running_stat(name: &str) -> bool {
    name.ends_with("running_mean") || name.ends_with("running_var") || name.ends_with("weight_u")
}

pub struct Adam {
    names: Vec<String>,
    params: Vec<Var>,
    states: Vec<State>,
    step: u64,
    hyper: AdamHyper,
}

impl Adam {
    /// Optimises every variable of `vars` except BatchNorm running statistics.
    pub fn new(vars: &VarMap, lr: f64, beta1: f64, beta2: f64) -> Result<Self> {
        let data = vars
            .data()
            .lock()
            .map_err(|_| candle_core::Error::Msg("variables locked".into()))?;
        let mut names: Vec<String> = data
            .keys()
            .filter(|n| !is_running_stat(n))
            .cloned()
            .collect();
        names.sort();
        let params: Vec<Var> = names.iter().map(|n| data[n].clone()).collect();
        let states = params
            .iter()
            .map(|p| {
                Ok(if p.device().is_cpu() {
                    State::Host(Mutex::new(Moments::zeros(p.elem_count())))
                } else {
                    State::Device {
                        m: p.as_tensor().zeros_like()?,
                        v: p.as_tensor().zeros_like()?,
                    }
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Adam {
            names,
            params,
            states,
            step: 0,
            hyper: AdamHyper {
                lr,
                beta1,
                beta2,
                eps: 1e-8,
                weight_decay: 0.0,
            },
        })
    }

    /// The same optimiser without the variables whose names start with `prefix` (they stay
    /// as they are).
    pub fn excluding(self, prefix: &str) -> Self {
        let (mut names, mut params, mut states) = (Vec::new(), Vec::new(), Vec::new());
        for ((name, param), state) in self.names.into_iter().zip(self.params).zip(self.states) {
            if !name.starts_with(prefix) {
                names.push(name);
                params.push(param);
                states.push(state);
            }
        }
        Adam {
            names,
            params,
            states,
            step: self.step,
            hyper: self.hyper,
        }
    }

    /// AdamW's decoupled weight decay: each step first shrinks every parameter by `lr * decay`.
    pub fn with_weight_decay(mut self, decay: f64) -> Self {
        self.hyper.weight_decay = decay;
        self
    }

    pub fn learning_rate(&self) -> f64 {
        self.hyper.lr
    }

    pub fn set_learning_rate(&mut self, lr: f64) {
        self.hyper.lr = lr;
    }

    pub fn step_count(&self) -> u64 {
        self.step
    }

    /// One update from the gradients in `grads` (variables without a gradient are left alone).
    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        self.step += 1;
        for (param, state) in self.params.iter().zip(&mut self.states) {
            let Some(g) = grads.get(param.as_tensor()) else {
                continue;
            };
            match state {
                State::Host(moments) => {
                    let update = AdamStep {
                        hyper: self.hyper,
                        step: self.step,
                        moments,
                    };
                    param.as_tensor().inplace_op2(&g.contiguous()?, &update)?;
                }
                State::Device { m, v } => {
                    device_step(param, &g.detach(), m, v, self.hyper, self.step)?
                }
            }
        }
        Ok(())
    }

    /// The moments as named tensors (`PREFIX.m.NAME`, `PREFIX.v.NAME`) for a checkpoint.
    pub fn state(&self, prefix: &str) -> Result<HashMap<String, Tensor>> {
        let mut state = HashMap::new();
        for ((name, param), slot) in self.names.iter().zip(&self.params).zip(&self.states) {
            let (m, v) = match slot {
                State::Host(moments) => {
                    let moments = moments
                        .lock()
                        .map_err(|_| candle_core::Error::Msg("adam moments poisoned".into()))?;
                    (
                        Tensor::from_slice(&moments.m, param.shape(), param.device())?,
                        Tensor::from_slice(&moments.v, param.shape(), param.device())?,
                    )
                }
                State::Device { m, v } => (m.clone(), v.clone()),
            };
            state.insert(format!("{prefix}.m.{name}"), m);
            state.insert(format!("{prefix}.v.{name}"), v);
        }
        Ok(state)
    }

    /// Restores moments saved by [`Self::state`] and the step count; every moment must be there
    /// with its parameter's shape.
    pub fn load_state(
        &mut self,
        prefix: &str,
        tensors: &HashMap<String, Tensor>,
        step: u64,
    ) -> std::result::Result<(), String> {
        for ((name, param), slot) in self.names.iter().zip(&self.params).zip(&mut self.states) {
            let mut loaded = Vec::with_capacity(2);
            for kind in ["m", "v"] {
                let key = format!("{prefix}.{kind}.{name}");
                let tensor = tensors
                    .get(&key)
                    .ok_or_else(|| format!("missing optimiser tensor {key}"))?;
                if tensor.dims() != param.dims() {
                    return Err(format!(
                        "optimiser tensor {key} has shape {:?}, expected {:?}",
                        tensor.dims(),
                        param.dims()
                    ));
                }
                loaded.push(
                    tensor
                        .to_device(param.device())
                        .map_err(|e| e.to_string())?,
                );
            }
            let (v, m) = (loaded.pop(), loaded.pop());
            let (Some(m), Some(v)) = (m, v) else {
                return Err(format!("optimiser moments for {name} incomplete"));
            };
            *slot = match slot {
                State::Host(_) => {
                    let values = |t: &Tensor| {
                        t.flatten_all()
                            .and_then(|t| t.to_vec1::<f32>())
                            .map_err(|e| e.to_string())
                    };
                    State::Host(Mutex::new(Moments {
                        m: values(&m)?,
                        v: values(&v)?,
                    }))
                }
                State::Device { .. } => State::Device { m, v },
            };
        }
        self.step = step;
        Ok(())
    }
}

/// The same update from Candle ops, for parameters on a GPU.
fn device_step(
    param: &Var,
    g: &Tensor,
    m: &mut Tensor,
    v: &mut Tensor,
    h: AdamHyper,
    step: u64,
) -> Result<()> {
    let t = step.min(i32::MAX as u64) as i32;
    let step_size = h.lr / (1.0 - h.beta1.powi(t));
    let sqrt_bias2 = (1.0 - h.beta2.powi(t)).sqrt();
    // Gradients carry the graph they were computed through; the moments must not, or every step
    // would keep all earlier steps' activations alive.
    *m = ((&*m * h.beta1)? + (g * (1.0 - h.beta1))?)?.detach();
    *v = ((&*v * h.beta2)? + (g.sqr()? * (1.0 - h.beta2))?)?.detach();
    let denom = ((v.sqrt()? / sqrt_bias2)? + h.eps)?;
    let update = ((&*m / denom)? * step_size)?;
    let decayed = (param.as_tensor().detach() * (1.0 - h.lr * h.weight_decay))?;
    param.set(&decayed.sub(&update)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};

    #[test]
    fn excluded_variables_stay_as_they_are() {
        let dev = Device::Cpu;
        let vars = VarMap::new();
        for name in ["tail.w", "head.w"] {
            vars.get(3, name, candle_nn::Init::Const(1.0), DType::F32, &dev)
                .unwrap();
        }
        let [tail, head] = ["tail.w", "head.w"].map(|n| vars.data().lock().unwrap()[n].clone());
        let mut adam = Adam::new(&vars, 0.1, 0.9, 0.999)
            .unwrap()
            .excluding("tail.");
        let loss = (tail.as_tensor() + head.as_tensor())
            .unwrap()
            .sum_all()
            .unwrap();
        adam.step(&loss.backward().unwrap()).unwrap();
        let values = |v: &Var| v.as_tensor().to_vec1::<f32>().unwrap();
        assert_eq!(values(&tail), [1.0; 3]);
        assert!(
            values(&head).iter().all(|&x| x < 1.0),
            "{:?}",
            values(&head)
        );
    }

    /// The same 20 steps through candle_nn::AdamW give the same weights, with and without
    /// weight decay.
    #[test]
    fn matches_candle_adamw() {
        for decay in [0.0, 0.05] {
            matches_candle_adamw_with(decay);
        }
    }

    fn matches_candle_adamw_with(decay: f64) {
        use candle_nn::Optimizer;
        let dev = Device::Cpu;
        let make = || {
            let vars = VarMap::new();
            vars.get((3, 4), "w", candle_nn::Init::Const(0.0), DType::F32, &dev)
                .unwrap();
            let init = Tensor::arange(0f32, 12.0, &dev)
                .unwrap()
                .reshape((3, 4))
                .unwrap();
            vars.data().lock().unwrap()["w"]
                .set(&(init / 7.0).unwrap())
                .unwrap();
            vars
        };
        let ours_vars = make();
        let theirs_vars = make();
        let mut ours = Adam::new(&ours_vars, 0.01, 0.5, 0.999)
            .unwrap()
            .with_weight_decay(decay);
        let params = candle_nn::ParamsAdamW {
            lr: 0.01,
            beta1: 0.5,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: decay,
        };
        let mut theirs = candle_nn::AdamW::new(theirs_vars.all_vars(), params).unwrap();
        let target = Tensor::ones((3, 4), DType::F32, &dev).unwrap();
        for _ in 0..20 {
            for (vars, is_ours) in [(&ours_vars, true), (&theirs_vars, false)] {
                let w = vars.data().lock().unwrap()["w"].as_tensor().clone();
                let loss = (w.sqr().unwrap() - &target)
                    .unwrap()
                    .sqr()
                    .unwrap()
                    .sum_all()
                    .unwrap();
                let grads = loss.backward().unwrap();
                if is_ours {
                    ours.step(&grads).unwrap();
                } else {
                    theirs.step(&grads).unwrap();
                }
            }
        }
        let get = |vars: &VarMap| {
            vars.data().lock().unwrap()["w"]
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
        };
        for (a, b) in get(&ours_vars).iter().zip(get(&theirs_vars)) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
        assert_eq!(ours.step_count(), 20);
    }
}
