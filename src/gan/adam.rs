//! Adam with PyTorch's update rule and weight decay 0 (DCGAN's setting), with its moments
//! exposed so checkpoints can store and restore them exactly.
//!
//! `m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
//!  p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)`

use std::collections::HashMap;

use candle_core::{Result, Tensor, Var, backprop::GradStore};
use candle_nn::VarMap;

use super::model::is_running_stat;

pub struct Adam {
    names: Vec<String>,
    params: Vec<Var>,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    step: u64,
    lr: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
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
        let zeros = |p: &Var| p.as_tensor().zeros_like();
        let m = params.iter().map(zeros).collect::<Result<Vec<_>>>()?;
        let v = params.iter().map(zeros).collect::<Result<Vec<_>>>()?;
        Ok(Adam {
            names,
            params,
            m,
            v,
            step: 0,
            lr,
            beta1,
            beta2,
            eps: 1e-8,
        })
    }

    pub fn step_count(&self) -> u64 {
        self.step
    }

    /// One update from the gradients in `grads` (variables without a gradient are left alone).
    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        self.step += 1;
        let t = self.step as i32;
        let bias1 = 1.0 - self.beta1.powi(t);
        let bias2 = 1.0 - self.beta2.powi(t);
        let step_size = self.lr / bias1;
        let sqrt_bias2 = bias2.sqrt();
        for ((param, m), v) in self.params.iter().zip(&mut self.m).zip(&mut self.v) {
            let Some(g) = grads.get(param.as_tensor()) else {
                continue;
            };
            // Gradients carry the graph they were computed through; the moments must not, or
            // every step would keep all earlier steps' activations alive.
            let g = g.detach();
            *m = ((&*m * self.beta1)? + (&g * (1.0 - self.beta1))?)?.detach();
            *v = ((&*v * self.beta2)? + (g.sqr()? * (1.0 - self.beta2))?)?.detach();
            let denom = ((v.sqrt()? / sqrt_bias2)? + self.eps)?;
            let update = ((&*m / denom)? * step_size)?;
            param.set(&param.as_tensor().detach().sub(&update)?)?;
        }
        Ok(())
    }

    /// The moments as named tensors (`PREFIX.m.NAME`, `PREFIX.v.NAME`) for a checkpoint.
    pub fn state(&self, prefix: &str) -> HashMap<String, Tensor> {
        let mut state = HashMap::new();
        for (i, name) in self.names.iter().enumerate() {
            state.insert(format!("{prefix}.m.{name}"), self.m[i].clone());
            state.insert(format!("{prefix}.v.{name}"), self.v[i].clone());
        }
        state
    }

    /// Restores moments saved by [`Self::state`] and the step count; every moment must be there
    /// with its parameter's shape.
    pub fn load_state(
        &mut self,
        prefix: &str,
        tensors: &HashMap<String, Tensor>,
        step: u64,
    ) -> std::result::Result<(), String> {
        for (i, name) in self.names.iter().enumerate() {
            for (kind, slot) in [("m", &mut self.m[i]), ("v", &mut self.v[i])] {
                let key = format!("{prefix}.{kind}.{name}");
                let tensor = tensors
                    .get(&key)
                    .ok_or_else(|| format!("missing optimiser tensor {key}"))?;
                if tensor.dims() != slot.dims() {
                    return Err(format!(
                        "optimiser tensor {key} has shape {:?}, expected {:?}",
                        tensor.dims(),
                        slot.dims()
                    ));
                }
                *slot = tensor.to_device(slot.device()).map_err(|e| e.to_string())?;
            }
        }
        self.step = step;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};

    /// The same 20 steps through candle_nn::AdamW (weight decay 0) give the same weights.
    #[test]
    fn matches_candle_adamw_without_weight_decay() {
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
        let mut ours = Adam::new(&ours_vars, 0.01, 0.5, 0.999).unwrap();
        let params = candle_nn::ParamsAdamW {
            lr: 0.01,
            beta1: 0.5,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
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
