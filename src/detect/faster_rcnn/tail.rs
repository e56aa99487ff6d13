//! The backbone's last layers, fine-tuned with the detector: copies of the person detector's
//! last inverted residual blocks at stride 16 and of the stride-16 map's expansion, as
//! variables of the detector's layers, run with Candle's differentiable operations (the
//! frozen part of the backbone runs on the inference kernels, which have no backward).

use candle_core::{Tensor, Var};
use candle_nn::VarMap;

use crate::detect::ssd::network::{ConvWeights, Stride16Tail};

/// The start of the tail's variables' names among the detector's layers.
pub const PREFIX: &str = "tail.";

/// A convolution whose weights train.
struct Trainable {
    weight: Tensor,
    bias: Tensor,
    relu6: bool,
}

impl Trainable {
    /// A trainable copy of `conv`, named `name.weight` and `name.bias` in `vars`.
    fn copy(vars: &VarMap, name: &str, conv: &ConvWeights) -> candle_core::Result<Self> {
        Ok(Trainable {
            weight: variable(vars, &format!("{name}.weight"), &conv.weight)?,
            bias: variable(vars, &format!("{name}.bias"), &conv.bias)?,
            relu6: conv.relu6,
        })
    }

    /// A 1x1 convolution of `x (1, C, H, W)`.
    fn pointwise(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let (n, c, h, w) = x.dims4()?;
        let out = self.weight.dim(0)?;
        let y = self
            .weight
            .reshape((out, c))?
            .broadcast_matmul(&x.reshape((n, c, h * w))?)?
            .broadcast_add(&self.bias.reshape((1, out, 1))?)?
            .reshape((n, out, h, w))?;
        self.activate(y)
    }

    /// A 3x3 depthwise convolution at stride 1 of `x (N, C, H, W)`, zero-padded by one: the
    /// sum of the nine shifted planes, each scaled by its tap.
    fn depthwise(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let (n, c, h, w) = x.dims4()?;
        let taps = self.weight.reshape((c, 9))?;
        let padded = x.pad_with_zeros(2, 1, 1)?.pad_with_zeros(3, 1, 1)?;
        let mut sum = self
            .bias
            .reshape((1, c, 1, 1))?
            .broadcast_as((n, c, h, w))?;
        for tap in 0..9 {
            let shifted = padded.narrow(2, tap / 3, h)?.narrow(3, tap % 3, w)?;
            let scale = taps.narrow(1, tap, 1)?.reshape((1, c, 1, 1))?;
            sum = (sum + shifted.broadcast_mul(&scale)?)?;
        }
        self.activate(sum)
    }

    fn activate(&self, y: Tensor) -> candle_core::Result<Tensor> {
        if self.relu6 {
            y.clamp(0f32, 6f32)
        } else {
            Ok(y)
        }
    }
}

/// `value` as a new variable `name` of `vars`.
fn variable(vars: &VarMap, name: &str, value: &Tensor) -> candle_core::Result<Tensor> {
    let var = Var::from_tensor(&value.contiguous()?)?;
    let tensor = var.as_tensor().clone();
    vars.data()
        .lock()
        .map_err(|_| candle_core::Error::Msg("the detector's variables are poisoned".into()))?
        .insert(name.to_string(), var);
    Ok(tensor)
}

struct Block {
    expand: Option<Trainable>,
    depthwise: Trainable,
    project: Trainable,
    residual: bool,
}

/// The fine-tuned layers from the frozen trunk's output to the stride-16 features.
pub struct BackboneTail {
    blocks: Vec<Block>,
    expand: Trainable,
}

impl BackboneTail {
    /// Trainable copies of `tail`'s weights in `vars`, under `tail.`.
    pub fn copy(vars: &VarMap, tail: &Stride16Tail) -> candle_core::Result<Self> {
        let blocks = tail
            .blocks
            .iter()
            .enumerate()
            .map(|(i, block)| {
                let name = |part: &str| format!("{PREFIX}block{i}.{part}");
                Ok(Block {
                    expand: block
                        .expand
                        .as_ref()
                        .map(|conv| Trainable::copy(vars, &name("expand"), conv))
                        .transpose()?,
                    depthwise: Trainable::copy(vars, &name("depthwise"), &block.depthwise)?,
                    project: Trainable::copy(vars, &name("project"), &block.project)?,
                    residual: block.residual,
                })
            })
            .collect::<candle_core::Result<_>>()?;
        Ok(BackboneTail {
            blocks,
            expand: Trainable::copy(vars, &format!("{PREFIX}expand"), &tail.expand)?,
        })
    }

    pub fn forward(&self, trunk: &Tensor) -> candle_core::Result<Tensor> {
        let mut x = trunk.clone();
        for block in &self.blocks {
            let y = match &block.expand {
                Some(expand) => expand.pointwise(&x)?,
                None => x.clone(),
            };
            let y = block.project.pointwise(&block.depthwise.depthwise(&y)?)?;
            x = if block.residual { (x + y)? } else { y };
        }
        self.expand.pointwise(&x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::ssd::PersonDetector;
    use candle_core::Device;

    #[test]
    fn the_copied_tail_after_the_trunk_gives_the_backbones_features() {
        let device = Device::Cpu;
        let person = PersonDetector::shipped(&device).unwrap();
        let network = person.network();
        let mut rng = crate::latent::SeededRng::new(4);
        let values: Vec<f32> = (0..3 * 96 * 128)
            .map(|_| rng.next_f64() as f32 * 2.0 - 1.0)
            .collect();
        let image = Tensor::from_vec(values, (1, 3, 96, 128), &device).unwrap();
        let want = network.stride16_features(&image).unwrap();
        for blocks in [0, 2, 3] {
            let vars = VarMap::new();
            let tail = BackboneTail::copy(&vars, &network.stride16_tail(blocks).unwrap()).unwrap();
            let trunk = network.stride16_trunk(&image, blocks).unwrap();
            let got = tail.forward(&trunk).unwrap();
            assert_eq!(got.dims(), want.dims());
            let diff = crate::kernels::largest_difference(&got, &want);
            assert!(diff < 1e-3, "{blocks} blocks: largest difference {diff}");
            let trainable = vars.all_vars().len();
            assert_eq!(trainable, 2 + 6 * blocks, "{blocks} blocks");
        }
        assert!(network.stride16_tail(7).is_err(), "block 6 halves the map");
    }

    #[test]
    fn gradients_reach_every_weight_of_the_tail() {
        let device = Device::Cpu;
        let person = PersonDetector::shipped(&device).unwrap();
        let network = person.network();
        let vars = VarMap::new();
        let tail = BackboneTail::copy(&vars, &network.stride16_tail(2).unwrap()).unwrap();
        let trunk = Tensor::ones((1, 96, 4, 5), candle_core::DType::F32, &device).unwrap();
        let loss = tail
            .forward(&trunk)
            .unwrap()
            .sqr()
            .unwrap()
            .mean_all()
            .unwrap();
        let grads = loss.backward().unwrap();
        for var in vars.all_vars() {
            let grad = grads.get(var.as_tensor()).expect("a gradient");
            let norm = grad
                .sqr()
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(norm > 0.0, "{:?}", var.shape());
        }
    }
}
