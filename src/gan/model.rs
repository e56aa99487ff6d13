//! The DCGAN generator and discriminator, block by block as in the paper's figure 1 and
//! pytorch/examples `dcgan/main.py` (4x4 kernels, stride 2, padding 1; BatchNorm everywhere
//! but the generator's output and the discriminator's input; ReLU / LeakyReLU(0.2); Tanh out).
//!
//! Weight names are the checkpoint keys: `b0.conv.weight`, `b0.bn.weight`, ..., `out.conv.weight`.

use candle_core::{D, DType, Device, Result, Tensor};
use candle_nn::{VarBuilder, VarMap};

use super::condition::{ClassEmbedding, ConditionalNorm, Projection};
use super::config::GanConfig;
use super::spectral::SpectralNorm;
use crate::kernels::{self, Activation, BatchNormAct};
use crate::latent::SeededRng;

const BN_EPS: f64 = 1e-5;
const LEAKY_SLOPE: f32 = 0.2;

/// A bias-free 4x4 convolution layer, plain or transposed, on the project's CPU kernels
/// (Candle's own on GPUs), optionally spectrally normalised.
struct Conv {
    weight: Tensor,
    stride: usize,
    padding: usize,
    transposed: bool,
    spectral: Option<SpectralNorm>,
}

impl Conv {
    /// ConvTranspose2d: weight `(c_in, c_out, 4, 4)`.
    fn transposed(
        c_in: usize,
        c_out: usize,
        stride: usize,
        padding: usize,
        vb: VarBuilder,
    ) -> Result<Self> {
        Ok(Conv {
            weight: vb.get((c_in, c_out, 4, 4), "weight")?,
            stride,
            padding,
            transposed: true,
            spectral: None,
        })
    }

    /// Conv2d: weight `(c_out, c_in, 4, 4)`, spectrally normalised when `spectral`.
    fn plain(
        c_in: usize,
        c_out: usize,
        stride: usize,
        padding: usize,
        spectral: bool,
        vb: VarBuilder,
    ) -> Result<Self> {
        Ok(Conv {
            weight: vb.get((c_out, c_in, 4, 4), "weight")?,
            stride,
            padding,
            transposed: false,
            spectral: if spectral {
                Some(SpectralNorm::new(c_out, &vb)?)
            } else {
                None
            },
        })
    }

    fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        match &self.spectral {
            Some(sn) => self.forward_with(x, &sn.normalise(&self.weight, train)?),
            None => self.forward_with(x, &self.weight),
        }
    }

    /// Forward with the weight detached: gradients flow to the input only.
    fn forward_frozen(&self, x: &Tensor) -> Result<Tensor> {
        let weight = self.weight.detach();
        match &self.spectral {
            Some(sn) => self.forward_with(x, &sn.normalise(&weight, false)?),
            None => self.forward_with(x, &weight),
        }
    }

    fn forward_with(&self, x: &Tensor, weight: &Tensor) -> Result<Tensor> {
        if self.transposed {
            kernels::conv_transpose2d(x, weight, self.stride, self.padding)
        } else {
            kernels::conv2d(x, weight, self.stride, self.padding, 1)
        }
    }
}

/// What follows a convolution: BatchNorm and an activation (fused on the CPU), the
/// class-conditional BatchNorm, or the activation alone (a spectrally normalised D).
enum Norm {
    Batch(BatchNormAct),
    Conditional(ConditionalNorm),
    None(Activation),
}

/// A convolution and what follows it.
struct Block {
    conv: Conv,
    norm: Norm,
}

fn needs_classes() -> candle_core::Error {
    candle_core::Error::Msg(
        "this model is class-conditional: it needs a class for each image".into(),
    )
}

impl Block {
    fn batch_norm(
        conv: Conv,
        channels: usize,
        activation: Activation,
        vb: VarBuilder,
    ) -> Result<Self> {
        Ok(Block {
            conv,
            norm: Norm::Batch(BatchNormAct::new(
                channels,
                BN_EPS,
                activation,
                vb.pp("bn"),
            )?),
        })
    }

    /// A generator block: conditional BatchNorm when the model has classes.
    fn generator(conv: Conv, channels: usize, classes: usize, vb: VarBuilder) -> Result<Self> {
        if classes == 0 {
            return Block::batch_norm(conv, channels, Activation::Relu, vb);
        }
        Ok(Block {
            conv,
            norm: Norm::Conditional(ConditionalNorm::new(
                channels,
                classes,
                BN_EPS,
                Activation::Relu,
                vb.pp("bn"),
            )?),
        })
    }

    fn forward_t(&self, x: &Tensor, classes: Option<&Tensor>, train: bool) -> Result<Tensor> {
        let x = self.conv.forward_t(x, train)?;
        match &self.norm {
            Norm::Batch(bn) => bn.forward_t(&x, train),
            Norm::Conditional(norm) => {
                norm.forward_t(&x, classes.ok_or_else(needs_classes)?, train)
            }
            Norm::None(activation) => kernels::activate(&x, *activation),
        }
    }

    /// Training-mode forward with the block's own parameters detached (a discriminator
    /// block in the generator's step).
    fn forward_frozen(&self, x: &Tensor) -> Result<Tensor> {
        let x = self.conv.forward_frozen(x)?;
        match &self.norm {
            Norm::Batch(bn) => bn.forward_frozen(&x),
            Norm::None(activation) => kernels::activate(&x, *activation),
            Norm::Conditional(_) => Err(candle_core::Error::Msg(
                "a conditional block has no frozen forward".into(),
            )),
        }
    }
}

/// z (N, z_dim), with class weights (N, K) when conditional -> images (N, C, S, S) in [-1, 1].
pub struct Generator {
    blocks: Vec<Block>,
    out: Conv,
    z_dim: usize,
    classes: usize,
}

impl Generator {
    pub fn new(config: &GanConfig, vb: VarBuilder) -> Result<Self> {
        let middle = config.middle_blocks();
        let classes = config.classes.len();
        let mut channels = config.ngf << middle;
        let mut blocks = Vec::with_capacity(middle + 1);
        let b0 = vb.pp("b0");
        let first = Conv::transposed(config.z_dim, channels, 1, 0, b0.pp("conv"))?;
        blocks.push(Block::generator(first, channels, classes, b0)?);
        for i in 1..=middle {
            let vb = vb.pp(format!("b{i}"));
            let conv = Conv::transposed(channels, channels / 2, 2, 1, vb.pp("conv"))?;
            blocks.push(Block::generator(conv, channels / 2, classes, vb)?);
            channels /= 2;
        }
        let out = Conv::transposed(channels, config.channels, 2, 1, vb.pp("out").pp("conv"))?;
        Ok(Generator {
            blocks,
            out,
            z_dim: config.z_dim,
            classes,
        })
    }

    /// Number of classes (0: unconditional).
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// The first block's output in evaluation mode: `(N, ngf * 2^blocks, 4, 4)`.
    pub fn first_block(&self, z: &Tensor, classes: Option<&Tensor>) -> Result<Tensor> {
        let (n, _) = z.dims2()?;
        let x = z.reshape((n, self.z_dim, 1, 1))?;
        match self.blocks.first() {
            Some(block) => block.forward_t(&x, classes, false),
            None => Ok(x),
        }
    }

    pub fn forward_t(&self, z: &Tensor, classes: Option<&Tensor>, train: bool) -> Result<Tensor> {
        let (n, _) = z.dims2()?;
        let mut x = z.reshape((n, self.z_dim, 1, 1))?;
        for block in &self.blocks {
            x = block.forward_t(&x, classes, train)?;
        }
        kernels::tanh(&self.out.forward_t(&x, train)?)
    }
}

/// images (N, C, S, S), with class weights (N, K) when conditional -> one real/fake logit
/// per image (N).
pub struct Discriminator {
    first: Conv,
    blocks: Vec<Block>,
    out: Conv,
    projection: Option<Projection>,
    /// AC-GAN's auxiliary classifier: class logits from the pooled last features.
    classifier: Option<ClassEmbedding>,
    /// TAC-GAN's twin classifier: the same from the same features, trained on fakes.
    twin: Option<ClassEmbedding>,
    /// Whether the output layer also sees [`class_spread`] maps of the first and last features.
    minibatch_stddev: bool,
}

/// What the discriminator says of a batch: real-or-fake logits `(N)` and, with an auxiliary
/// classifier, class logits `(N, K)`, and with a twin classifier its class logits too.
pub struct Judgement {
    pub logits: Tensor,
    pub class_logits: Option<Tensor>,
    pub twin_logits: Option<Tensor>,
}

impl Discriminator {
    pub fn new(config: &GanConfig, vb: VarBuilder) -> Result<Self> {
        let middle = config.middle_blocks();
        let sn = config.spectral_norm;
        let mut channels = config.ndf;
        // A pack's images come stacked on the channels.
        let input = config.channels * config.pack;
        let first = Conv::plain(input, channels, 2, 1, sn, vb.pp("b0").pp("conv"))?;
        let mut blocks = Vec::with_capacity(middle);
        let activation = Activation::LeakyRelu(LEAKY_SLOPE);
        for i in 1..=middle {
            let vb = vb.pp(format!("b{i}"));
            let conv = Conv::plain(channels, channels * 2, 2, 1, sn, vb.pp("conv"))?;
            blocks.push(if sn {
                Block {
                    conv,
                    norm: Norm::None(activation),
                }
            } else {
                Block::batch_norm(conv, channels * 2, activation, vb)?
            });
            channels *= 2;
        }
        let spread_maps = 2 * usize::from(config.minibatch_stddev);
        let out = Conv::plain(channels + spread_maps, 1, 1, 0, sn, vb.pp("out").pp("conv"))?;
        let projection = if config.is_conditional() {
            Some(Projection::new(
                config.classes.len(),
                channels,
                &vb.pp("projection"),
            )?)
        } else {
            None
        };
        // AC-GAN's classifier and TAC-GAN's twin: class logits from the pooled last features.
        let class_head = |prefix: &str| {
            ClassEmbedding::new(config.classes.len(), channels, "classifier", &vb.pp(prefix))
        };
        let with_classifier = config.aux_classifier.is_some() && config.is_conditional();
        let classifier = with_classifier.then(|| class_head("aux")).transpose()?;
        let with_twin = with_classifier && config.twin_classifier.is_some();
        let twin = with_twin.then(|| class_head("twin")).transpose()?;
        Ok(Discriminator {
            first,
            blocks,
            out,
            projection,
            classifier,
            twin,
            minibatch_stddev: config.minibatch_stddev,
        })
    }

    pub fn forward_t(&self, x: &Tensor, classes: Option<&Tensor>, train: bool) -> Result<Tensor> {
        Ok(self.judge_t(x, classes, train)?.logits)
    }

    /// [`Discriminator::forward_t`] with the auxiliary classifier's logits.
    pub fn judge_t(&self, x: &Tensor, classes: Option<&Tensor>, train: bool) -> Result<Judgement> {
        let mut x = leaky_relu(&self.first.forward_t(x, train)?)?;
        let first = x.clone();
        for block in &self.blocks {
            x = block.forward_t(&x, None, train)?;
        }
        let logits = self
            .out
            .forward_t(&self.with_spread(&first, &x, classes)?, train)?
            .flatten_all()?;
        Ok(Judgement {
            class_logits: self.classify(&self.classifier, &x, false)?,
            twin_logits: self.classify(&self.twin, &x, false)?,
            logits: self.project(logits, &x, classes, false)?,
        })
    }

    /// Training-mode forward for the generator's step: the same function (batch statistics,
    /// running statistics updated as PyTorch does), but no gradient for D's own parameters,
    /// which that step would throw away.
    pub fn judge_for_generator(&self, x: &Tensor, classes: Option<&Tensor>) -> Result<Judgement> {
        let mut x = leaky_relu(&self.first.forward_frozen(x)?)?;
        let first = x.clone();
        for block in &self.blocks {
            x = block.forward_frozen(&x)?;
        }
        let logits = self
            .out
            .forward_frozen(&self.with_spread(&first, &x, classes)?)?
            .flatten_all()?;
        Ok(Judgement {
            class_logits: self.classify(&self.classifier, &x, true)?,
            twin_logits: self.classify(&self.twin, &x, true)?,
            logits: self.project(logits, &x, classes, true)?,
        })
    }

    /// The last features, with [`class_spread`] maps of the first features (before any
    /// BatchNorm could hide how little a batch varies) and of the last, when D has them.
    fn with_spread(
        &self,
        first: &Tensor,
        last: &Tensor,
        classes: Option<&Tensor>,
    ) -> Result<Tensor> {
        if !self.minibatch_stddev {
            return Ok(last.clone());
        }
        let (n, _, h, w) = last.dims4()?;
        let whole_batch;
        let classes = match classes {
            Some(classes) => classes,
            None => {
                whole_batch = Tensor::ones((n, 1), DType::F32, last.device())?;
                &whole_batch
            }
        };
        let map = |features: &Tensor| -> Result<Tensor> {
            class_spread(features, classes)?
                .reshape((n, 1, 1, 1))?
                .broadcast_as((n, 1, h, w))?
                .contiguous()
        };
        Tensor::cat(&[last, &map(last)?, &map(first)?], 1)
    }

    /// A class head's logits of the last features, averaged over positions.
    fn classify(
        &self,
        head: &Option<ClassEmbedding>,
        features: &Tensor,
        frozen: bool,
    ) -> Result<Option<Tensor>> {
        let Some(classifier) = head else {
            return Ok(None);
        };
        let pooled = features.flatten_from(2)?.mean(D::Minus1)?;
        classifier.scores(&pooled, frozen).map(Some)
    }

    fn project(
        &self,
        logits: Tensor,
        features: &Tensor,
        classes: Option<&Tensor>,
        frozen: bool,
    ) -> Result<Tensor> {
        match &self.projection {
            Some(projection) => {
                let classes = classes.ok_or_else(needs_classes)?;
                logits + projection.forward(features, classes, frozen)?
            }
            None => Ok(logits),
        }
    }
}

/// How much the images of each image's class differ within the batch: for features
/// `(N, C, H, W)` and class rows `(N, K)`, the standard deviation of every feature over the
/// class's images, averaged over features and positions, one value an image `(N, 1)`. A class
/// with one image in the batch has a spread of zero.
pub fn class_spread(features: &Tensor, classes: &Tensor) -> Result<Tensor> {
    let flat = features.flatten_from(1)?;
    let by_class = classes.t()?;
    let counts = classes.sum(0)?.maximum(1.0)?.unsqueeze(1)?;
    let class_mean = by_class.matmul(&flat)?.broadcast_div(&counts)?;
    let deviation = (flat - classes.matmul(&class_mean)?)?.sqr()?;
    let class_variance = by_class.matmul(&deviation)?.broadcast_div(&counts)?;
    let class_stddev = (class_variance + 1e-8)?.sqrt()?.mean_keepdim(1)?;
    classes.matmul(&class_stddev)
}

fn leaky_relu(x: &Tensor) -> Result<Tensor> {
    kernels::activate(x, Activation::LeakyRelu(LEAKY_SLOPE))
}

/// A network with its variables.
pub struct Networks {
    pub g_vars: VarMap,
    pub d_vars: VarMap,
    pub generator: Generator,
    pub discriminator: Discriminator,
}

impl Networks {
    /// Builds both networks with DCGAN's initialisation drawn from `seed`.
    pub fn new(config: &GanConfig, seed: u64, device: &Device) -> Result<Self> {
        let g_vars = VarMap::new();
        let d_vars = VarMap::new();
        let generator =
            Generator::new(config, VarBuilder::from_varmap(&g_vars, DType::F32, device))?;
        let discriminator =
            Discriminator::new(config, VarBuilder::from_varmap(&d_vars, DType::F32, device))?;
        let mut rng = SeededRng::new(seed);
        initialise(&g_vars, &mut rng)?;
        initialise(&d_vars, &mut rng)?;
        Ok(Networks {
            g_vars,
            d_vars,
            generator,
            discriminator,
        })
    }
}

impl Networks {
    /// Adam for G and for D with the run's learning rates and betas.
    pub fn optimisers(
        &self,
        config: &GanConfig,
    ) -> Result<(crate::optim::Adam, crate::optim::Adam)> {
        let adam =
            |vars: &VarMap, lr: f64| crate::optim::Adam::new(vars, lr, config.beta1, config.beta2);
        Ok((
            adam(&self.g_vars, config.lr)?,
            adam(&self.d_vars, config.d_learning_rate())?,
        ))
    }
}

/// A generator alone, for sampling (`generate`, the explorer).
pub fn generator_only(config: &GanConfig, device: &Device) -> Result<(VarMap, Generator)> {
    let vars = VarMap::new();
    let generator = Generator::new(config, VarBuilder::from_varmap(&vars, DType::F32, device))?;
    Ok((vars, generator))
}

/// DCGAN initialisation: conv weights and class embeddings N(0, 0.02), BatchNorm scales
/// (plain or per class) N(1, 0.02), shifts 0; running mean 0 and variance 1; spectral norms'
/// vectors N(0, 1). Variables are visited in name order so a seed always gives the same weights.
pub fn initialise(vars: &VarMap, rng: &mut SeededRng) -> Result<()> {
    let data = vars
        .data()
        .lock()
        .map_err(|_| candle_core::Error::Msg("variables locked".into()))?;
    let mut names: Vec<&String> = data.keys().collect();
    names.sort();
    for name in names {
        let var = &data[name];
        let shape = var.shape().clone();
        let count = shape.elem_count();
        let zero = ["running_mean", "bn.bias", "bn.shift"];
        let values: Vec<f32> = if zero.iter().any(|z| name.ends_with(z)) {
            vec![0.0; count]
        } else if name.ends_with("running_var") {
            vec![1.0; count]
        } else {
            let (mean, std) = if name.ends_with("bn.weight") || name.ends_with("bn.gain") {
                (1.0, 0.02)
            } else if name.ends_with("weight_u") {
                (0.0, 1.0)
            } else {
                (0.0, 0.02)
            };
            let mut v = vec![0.0f32; count];
            rng.normal(&mut v);
            v.iter().map(|x| mean + std * x).collect()
        };
        var.set(&Tensor::from_vec(values, shape, var.device())?)?;
    }
    Ok(())
}

pub use crate::optim::is_running_stat;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_spread_is_the_stddev_among_the_images_of_each_class() {
        let device = Device::Cpu;
        // Four images of two features at one position: class 0 holds images 0 and 2 (features
        // differ by 2 and 4: stddevs 1 and 2), class 1 images 1 and 3 (identical), class 2 none.
        let features = Tensor::new(
            &[[1.0f32, 0.0], [5.0, 5.0], [3.0, 4.0], [5.0, 5.0]],
            &device,
        )
        .unwrap()
        .reshape((4, 2, 1, 1))
        .unwrap();
        let classes = crate::gan::condition::one_hot(&[0, 1, 0, 1], 3, &device).unwrap();
        let spread = class_spread(&features, &classes)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let expected = [1.5f32, 0.0, 1.5, 0.0];
        for (got, want) in spread.iter().zip(expected) {
            assert!((got - want).abs() < 1e-3, "{spread:?} vs {expected:?}");
        }
        // Positions count as more features.
        let wide = features
            .broadcast_as((4, 2, 3, 3))
            .unwrap()
            .contiguous()
            .unwrap();
        let wide_spread = class_spread(&wide, &classes)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert_eq!(wide_spread.len(), 4);
        assert!((wide_spread[0] - 1.5).abs() < 1e-3, "{wide_spread:?}");
    }

    #[test]
    fn the_variety_check_gives_d_two_more_input_maps() {
        let config = GanConfig {
            minibatch_stddev: true,
            classes: vec!["a".into(), "b".into()],
            ..config(32, 1)
        };
        let networks = Networks::new(&config, 1, &Device::Cpu).unwrap();
        let images = Tensor::zeros((4, 1, 32, 32), DType::F32, &Device::Cpu).unwrap();
        let classes = crate::gan::condition::one_hot(&[0, 1, 0, 1], 2, &Device::Cpu).unwrap();
        let logits = networks
            .discriminator
            .forward_t(&images, Some(&classes), true)
            .unwrap();
        assert_eq!(logits.dims(), &[4]);
        let out = networks
            .d_vars
            .data()
            .lock()
            .unwrap()
            .get("out.conv.weight")
            .unwrap()
            .dims()
            .to_vec();
        assert_eq!(out, [1, config.ndf * 4 + 2, 4, 4]);
    }

    fn config(size: usize, channels: usize) -> GanConfig {
        GanConfig {
            image_size: size,
            channels,
            ngf: 8,
            ndf: 8,
            z_dim: 16,
            ..GanConfig::default()
        }
    }

    #[test]
    fn shapes_at_32_64_and_128() {
        for (size, channels) in [(32, 1), (64, 3), (128, 3)] {
            let cfg = config(size, channels);
            let nets = Networks::new(&cfg, 1, &Device::Cpu).unwrap();
            let z = Tensor::randn(0f32, 1.0, (2, cfg.z_dim), &Device::Cpu).unwrap();
            let images = nets.generator.forward_t(&z, None, true).unwrap();
            assert_eq!(images.dims(), &[2, channels, size, size]);
            let logits = nets.discriminator.forward_t(&images, None, true).unwrap();
            assert_eq!(logits.dims(), &[2]);
            let max = images
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(max <= 1.0);
        }
    }

    #[test]
    fn the_64_pixel_model_matches_pytorch_dcgan_sizes() {
        let cfg = GanConfig::default();
        let nets = Networks::new(&cfg, 1, &Device::Cpu).unwrap();
        let count = |vars: &VarMap| -> usize {
            vars.data()
                .lock()
                .unwrap()
                .iter()
                .filter(|(n, _)| !is_running_stat(n))
                .map(|(_, v)| v.elem_count())
                .sum()
        };
        // pytorch/examples dcgan with nc = 3: netG 3,576,704 and netD 2,765,568 parameters.
        assert_eq!(count(&nets.g_vars), 3_576_704);
        assert_eq!(count(&nets.d_vars), 2_765_568);
    }

    #[test]
    fn the_same_seed_gives_the_same_weights() {
        let cfg = config(32, 1);
        let a = Networks::new(&cfg, 5, &Device::Cpu).unwrap();
        let b = Networks::new(&cfg, 5, &Device::Cpu).unwrap();
        let w = |n: &Networks| {
            n.g_vars.data().lock().unwrap()["b0.conv.weight"]
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
        };
        assert_eq!(w(&a), w(&b));
    }
}
