//! Class conditioning: class-conditional BatchNorm for the generator (de Vries et al. 2017,
//! Dumoulin et al. 2017: the scale and shift after normalising come from the class) and the
//! projection for the discriminator (Miyato & Koyama 2018: the logit gains the inner product of
//! a class embedding with the pooled features).
//!
//! A class is given as a row of weights over the classes, `(N, K)`: one-hot for one class, a
//! mixture to morph one category into another at the same z.

use candle_core::{D, Result, Tensor};
use candle_nn::VarBuilder;

use crate::kernels::{self, Activation, BatchNormAct};

/// A `(K, C)` table: a class row of weights `(N, K)` becomes `(N, C)` by a product, so mixed
/// classes mix their rows.
pub struct ClassEmbedding {
    table: Tensor,
}

impl ClassEmbedding {
    pub fn new(classes: usize, width: usize, name: &str, vb: &VarBuilder) -> Result<Self> {
        Ok(ClassEmbedding {
            table: vb.get((classes, width), name)?,
        })
    }

    pub fn forward(&self, classes: &Tensor) -> Result<Tensor> {
        classes.matmul(&self.table)
    }

    /// The same with the table detached (gradients reach the class weights only).
    pub fn forward_frozen(&self, classes: &Tensor) -> Result<Tensor> {
        classes.matmul(&self.table.detach())
    }

    /// The other way: features `(N, C)` to one score a class `(N, K)`, the table detached when
    /// `frozen`.
    pub fn scores(&self, features: &Tensor, frozen: bool) -> Result<Tensor> {
        let table = if frozen {
            self.table.detach()
        } else {
            self.table.clone()
        };
        features.matmul(&table.t()?)
    }
}

/// Cross-entropy of class logits `(N, K)` against class weights `(N, K)` (one-hot rows for
/// plain classes), averaged over the batch.
pub fn class_cross_entropy(logits: &Tensor, classes: &Tensor) -> Result<Tensor> {
    let log_p = candle_nn::ops::log_softmax(logits, D::Minus1)?;
    (classes * log_p)?.sum(D::Minus1)?.mean_all()?.neg()
}

/// BatchNorm without its own scale and shift, then `act(gain[class] * x + shift[class])`.
/// Variables: `running_mean`, `running_var`, `gain` `(K, C)`, `shift` `(K, C)`.
pub struct ConditionalNorm {
    norm: BatchNormAct,
    gain: ClassEmbedding,
    shift: ClassEmbedding,
    activation: Activation,
}

impl ConditionalNorm {
    pub fn new(
        channels: usize,
        classes: usize,
        eps: f64,
        activation: Activation,
        vb: VarBuilder,
    ) -> Result<Self> {
        Ok(ConditionalNorm {
            norm: BatchNormAct::normalise_only(channels, eps, vb.clone())?,
            gain: ClassEmbedding::new(classes, channels, "gain", &vb)?,
            shift: ClassEmbedding::new(classes, channels, "shift", &vb)?,
            activation,
        })
    }

    pub fn forward_t(&self, x: &Tensor, classes: &Tensor, train: bool) -> Result<Tensor> {
        let normalised = self.norm.forward_t(x, train)?;
        let (n, c, _, _) = normalised.dims4()?;
        let gain = self.gain.forward(classes)?.reshape((n, c, 1, 1))?;
        let shift = self.shift.forward(classes)?.reshape((n, c, 1, 1))?;
        let y = normalised.broadcast_mul(&gain)?.broadcast_add(&shift)?;
        kernels::activate(&y, self.activation)
    }
}

/// The projection term of a conditional discriminator: `<embed(class), sum_hw(features)>`, one
/// value per image. Variable: `embed` `(K, C)`.
pub struct Projection {
    embed: ClassEmbedding,
}

impl Projection {
    pub fn new(classes: usize, channels: usize, vb: &VarBuilder) -> Result<Self> {
        Ok(Projection {
            embed: ClassEmbedding::new(classes, channels, "embed", vb)?,
        })
    }

    /// `features (N, C, H, W)`, `classes (N, K)` -> `(N)`.
    pub fn forward(&self, features: &Tensor, classes: &Tensor, frozen: bool) -> Result<Tensor> {
        let pooled = features.flatten_from(2)?.sum(D::Minus1)?;
        let embedded = if frozen {
            self.embed.forward_frozen(classes)?
        } else {
            self.embed.forward(classes)?
        };
        (pooled * embedded)?.sum(D::Minus1)
    }
}

/// One-hot rows `(N, K)` for class indices.
pub fn one_hot(labels: &[usize], classes: usize, device: &candle_core::Device) -> Result<Tensor> {
    let mut rows = vec![0f32; labels.len() * classes];
    for (i, &label) in labels.iter().enumerate() {
        if label >= classes {
            return Err(candle_core::Error::Msg(format!(
                "class {label} is out of range: the model has {classes} classes"
            )));
        }
        rows[i * classes + label] = 1.0;
    }
    Tensor::from_vec(rows, (labels.len(), classes), device)
}

/// A row of class weights made safe to feed the generator: negative weights are dropped and
/// the rest scaled to sum to 1 (all-zero rows become uniform).
pub fn normalise_weights(weights: &[f32]) -> Vec<f32> {
    let clipped: Vec<f32> = weights.iter().map(|w| w.max(0.0)).collect();
    let sum: f32 = clipped.iter().sum();
    if sum <= f32::EPSILON {
        let k = weights.len().max(1) as f32;
        return vec![1.0 / k; weights.len()];
    }
    clipped.iter().map(|w| w / sum).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};
    use candle_nn::VarMap;

    #[test]
    fn class_cross_entropy_is_the_negative_log_likelihood_of_the_asked_class() {
        let device = Device::Cpu;
        // Logits 0 and ln 3: softmax 1/4 and 3/4.
        let logits = Tensor::new(&[[0f32, 3f32.ln()], [0.0, 3f32.ln()]], &device).unwrap();
        let asked = one_hot(&[1, 0], 2, &device).unwrap();
        let loss = class_cross_entropy(&logits, &asked)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        let expected = -(0.75f32.ln() + 0.25f32.ln()) / 2.0;
        assert!((loss - expected).abs() < 1e-6, "{loss} vs {expected}");
        // A half-and-half mixture of the two classes at equal logits: ln 2.
        let even = Tensor::new(&[[1f32, 1.0]], &device).unwrap();
        let mixture = Tensor::new(&[[0.5f32, 0.5]], &device).unwrap();
        let loss = class_cross_entropy(&even, &mixture)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!((loss - 2f32.ln()).abs() < 1e-6);
    }

    #[test]
    fn one_hot_rows_and_out_of_range_classes() {
        let rows = one_hot(&[2, 0], 3, &Device::Cpu).unwrap();
        assert_eq!(
            rows.to_vec2::<f32>().unwrap(),
            vec![vec![0.0, 0.0, 1.0], vec![1.0, 0.0, 0.0]]
        );
        let err = one_hot(&[3], 3, &Device::Cpu).unwrap_err().to_string();
        assert!(
            err.contains("class 3") && err.contains("3 classes"),
            "{err}"
        );
    }

    #[test]
    fn weights_are_clipped_and_normalised() {
        assert_eq!(normalise_weights(&[2.0, -1.0, 2.0]), vec![0.5, 0.0, 0.5]);
        assert_eq!(normalise_weights(&[0.0, 0.0]), vec![0.5, 0.5]);
    }

    #[test]
    fn the_class_sets_the_scale_and_shift_and_a_mixture_mixes_them() {
        let vars = VarMap::new();
        let vb = VarBuilder::from_varmap(&vars, DType::F32, &Device::Cpu);
        let norm = ConditionalNorm::new(2, 2, 1e-5, Activation::Identity, vb).unwrap();
        {
            let data = vars.data().lock().unwrap();
            let set = |name: &str, v: &[f32]| {
                data[name]
                    .set(&Tensor::from_vec(v.to_vec(), (2, 2), &Device::Cpu).unwrap())
                    .unwrap()
            };
            set("gain", &[1.0, 1.0, 2.0, 2.0]);
            set("shift", &[0.0, 0.0, 10.0, 10.0]);
        }
        // Two images, two channels, one pixel each: channel values (-1, 1) across the batch.
        let x = Tensor::from_vec(vec![-1f32, -1.0, 1.0, 1.0], (2, 2, 1, 1), &Device::Cpu).unwrap();
        let classes = Tensor::from_vec(vec![1f32, 0.0, 0.5, 0.5], (2, 2), &Device::Cpu).unwrap();
        let y = norm
            .forward_t(&x, &classes, true)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        // Normalised to about (-1, 1); class 0 keeps it, the half-half mix scales by 1.5, shifts 5.
        let expected = [-1.0, -1.0, 6.5, 6.5];
        for (a, b) in y.iter().zip(expected) {
            assert!((a - b).abs() < 1e-3, "{y:?}");
        }
    }

    #[test]
    fn the_projection_is_the_inner_product_with_the_pooled_features() {
        let vars = VarMap::new();
        let vb = VarBuilder::from_varmap(&vars, DType::F32, &Device::Cpu);
        let projection = Projection::new(2, 2, &vb).unwrap();
        vars.data().lock().unwrap()["embed"]
            .set(&Tensor::new(&[[1f32, 0.0], [0.0, -1.0]], &Device::Cpu).unwrap())
            .unwrap();
        // One image, two channels of 2x1 pixels: pooled (3, 7).
        let features =
            Tensor::from_vec(vec![1f32, 2.0, 3.0, 4.0], (1, 2, 2, 1), &Device::Cpu).unwrap();
        let value = |class: usize| {
            let classes = one_hot(&[class], 2, &Device::Cpu).unwrap();
            projection
                .forward(&features, &classes, false)
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()[0]
        };
        assert_eq!(value(0), 3.0);
        assert_eq!(value(1), -7.0);
    }
}
