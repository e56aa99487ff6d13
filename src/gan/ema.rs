//! An exponential moving average of the generator's weights (and its BatchNorm statistics),
//! the generator that samples and is saved when a run keeps one (Yazıcı et al. 2019). The decay
//! warms up as TensorFlow's `ExponentialMovingAverage` with `num_updates` does,
//! `min(decay, (1 + t) / (10 + t))`, so a short run does not keep the random start in its mix.

use candle_core::{DType, Device, Result, Tensor};
use candle_nn::{VarBuilder, VarMap};

use super::config::GanConfig;
use super::model::Generator;

pub struct Ema {
    pub vars: VarMap,
    pub generator: Generator,
    decay: f64,
}

impl Ema {
    /// A copy of the generator whose variables are `live`.
    pub fn new(config: &GanConfig, decay: f64, live: &VarMap, device: &Device) -> Result<Self> {
        let vars = VarMap::new();
        let generator = Generator::new(config, VarBuilder::from_varmap(&vars, DType::F32, device))?;
        let ema = Ema {
            vars,
            generator,
            decay,
        };
        ema.copy_from(live)?;
        Ok(ema)
    }

    /// Sets every average to the live value.
    pub fn copy_from(&self, live: &VarMap) -> Result<()> {
        self.blend(live, 0.0)
    }

    /// The decay used at update number `t` (counting from 0).
    pub fn decay_at(&self, t: u64) -> f64 {
        self.decay.min((1.0 + t as f64) / (10.0 + t as f64))
    }

    /// `average = d * average + (1 - d) * live` for update number `t`, the BatchNorm running
    /// statistics too (measuring the average's own statistics afresh before it samples, as
    /// BigGAN's "standing statistics" do, scored worse here: docs/quality.md).
    pub fn update(&self, live: &VarMap, t: u64) -> Result<()> {
        self.blend(live, self.decay_at(t))
    }

    fn blend(&self, live: &VarMap, decay: f64) -> Result<()> {
        let live = live
            .data()
            .lock()
            .map_err(|_| candle_core::Error::Msg("variables locked".into()))?;
        let averages = self
            .vars
            .data()
            .lock()
            .map_err(|_| candle_core::Error::Msg("variables locked".into()))?;
        for (name, average) in averages.iter() {
            let value: &Tensor = live
                .get(name)
                .ok_or_else(|| candle_core::Error::Msg(format!("EMA: no live variable {name}")))?;
            let blended = if decay == 0.0 {
                value.clone()
            } else {
                ((average.as_tensor() * decay)? + (value * (1.0 - decay))?)?
            };
            average.set(&blended)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gan::model::Networks;

    fn config() -> GanConfig {
        GanConfig {
            image_size: 32,
            channels: 1,
            ngf: 4,
            ndf: 4,
            z_dim: 8,
            ..GanConfig::default()
        }
    }

    fn value(vars: &VarMap, name: &str) -> f32 {
        vars.data().lock().unwrap()[name]
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()[0]
    }

    #[test]
    fn the_average_moves_toward_the_live_weights_by_the_warmed_up_decay() {
        let cfg = config();
        let nets = Networks::new(&cfg, 1, &Device::Cpu).unwrap();
        let ema = Ema::new(&cfg, 0.999, &nets.g_vars, &Device::Cpu).unwrap();
        let name = "b0.conv.weight";
        let start = value(&ema.vars, name);
        assert_eq!(start, value(&nets.g_vars, name));
        assert_eq!(ema.decay_at(0), 0.1);
        assert_eq!(ema.decay_at(1_000_000), 0.999);
        // Move the live weight by +1 everywhere; one update at t = 0 moves the average by 0.9.
        {
            let data = nets.g_vars.data().lock().unwrap();
            let var = &data[name];
            var.set(&(var.as_tensor() + 1.0).unwrap()).unwrap();
        }
        ema.update(&nets.g_vars, 0).unwrap();
        let moved = value(&ema.vars, name) - start;
        assert!((moved - 0.9).abs() < 1e-5, "{moved}");
    }
}
