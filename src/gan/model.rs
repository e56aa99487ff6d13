//! The DCGAN generator and discriminator, block by block as in the paper's figure 1 and
//! pytorch/examples `dcgan/main.py` (4x4 kernels, stride 2, padding 1; BatchNorm everywhere
//! but the generator's output and the discriminator's input; ReLU / LeakyReLU(0.2); Tanh out).
//!
//! Weight names are the checkpoint keys: `b0.conv.weight`, `b0.bn.weight`, ..., `out.conv.weight`.

use candle_core::{DType, Device, Module, ModuleT, Result, Tensor};
use candle_nn::{
    BatchNorm, Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig, VarBuilder, VarMap,
};

use super::config::GanConfig;
use crate::latent::SeededRng;

const BN_EPS: f64 = 1e-5;

fn conv_transpose(
    c_in: usize,
    c_out: usize,
    stride: usize,
    padding: usize,
    vb: VarBuilder,
) -> Result<ConvTranspose2d> {
    let weight = vb.get((c_in, c_out, 4, 4), "weight")?;
    let config = ConvTranspose2dConfig {
        padding,
        stride,
        output_padding: 0,
        dilation: 1,
    };
    Ok(ConvTranspose2d::new(weight, None, config))
}

fn conv(
    c_in: usize,
    c_out: usize,
    stride: usize,
    padding: usize,
    vb: VarBuilder,
) -> Result<Conv2d> {
    let weight = vb.get((c_out, c_in, 4, 4), "weight")?;
    let config = Conv2dConfig {
        padding,
        stride,
        dilation: 1,
        groups: 1,
        cudnn_fwd_algo: None,
    };
    Ok(Conv2d::new(weight, None, config))
}

fn batch_norm(channels: usize, vb: VarBuilder) -> Result<BatchNorm> {
    BatchNorm::new(
        channels,
        vb.get(channels, "running_mean")?,
        vb.get(channels, "running_var")?,
        vb.get(channels, "weight")?,
        vb.get(channels, "bias")?,
        BN_EPS,
    )
}

/// z (N, z_dim) -> images (N, C, S, S) in [-1, 1].
pub struct Generator {
    first: (ConvTranspose2d, BatchNorm),
    middle: Vec<(ConvTranspose2d, BatchNorm)>,
    out: ConvTranspose2d,
    z_dim: usize,
}

impl Generator {
    pub fn new(config: &GanConfig, vb: VarBuilder) -> Result<Self> {
        let blocks = config.middle_blocks();
        let mut channels = config.ngf << blocks;
        let first = (
            conv_transpose(config.z_dim, channels, 1, 0, vb.pp("b0").pp("conv"))?,
            batch_norm(channels, vb.pp("b0").pp("bn"))?,
        );
        let mut middle = Vec::with_capacity(blocks);
        for i in 1..=blocks {
            let vb = vb.pp(format!("b{i}"));
            middle.push((
                conv_transpose(channels, channels / 2, 2, 1, vb.pp("conv"))?,
                batch_norm(channels / 2, vb.pp("bn"))?,
            ));
            channels /= 2;
        }
        let out = conv_transpose(channels, config.channels, 2, 1, vb.pp("out").pp("conv"))?;
        Ok(Generator {
            first,
            middle,
            out,
            z_dim: config.z_dim,
        })
    }

    pub fn forward_t(&self, z: &Tensor, train: bool) -> Result<Tensor> {
        let (n, _) = z.dims2()?;
        let x = z.reshape((n, self.z_dim, 1, 1))?;
        let mut x = self
            .first
            .1
            .forward_t(&self.first.0.forward(&x)?, train)?
            .relu()?;
        for (conv, bn) in &self.middle {
            x = bn.forward_t(&conv.forward(&x)?, train)?.relu()?;
        }
        self.out.forward(&x)?.tanh()
    }
}

/// images (N, C, S, S) -> one real/fake logit per image (N).
pub struct Discriminator {
    first: Conv2d,
    middle: Vec<(Conv2d, BatchNorm)>,
    out: Conv2d,
}

impl Discriminator {
    pub fn new(config: &GanConfig, vb: VarBuilder) -> Result<Self> {
        let blocks = config.middle_blocks();
        let mut channels = config.ndf;
        let first = conv(config.channels, channels, 2, 1, vb.pp("b0").pp("conv"))?;
        let mut middle = Vec::with_capacity(blocks);
        for i in 1..=blocks {
            let vb = vb.pp(format!("b{i}"));
            middle.push((
                conv(channels, channels * 2, 2, 1, vb.pp("conv"))?,
                batch_norm(channels * 2, vb.pp("bn"))?,
            ));
            channels *= 2;
        }
        let out = conv(channels, 1, 1, 0, vb.pp("out").pp("conv"))?;
        Ok(Discriminator { first, middle, out })
    }

    pub fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let mut x = leaky_relu(&self.first.forward(x)?)?;
        for (conv, bn) in &self.middle {
            x = leaky_relu(&bn.forward_t(&conv.forward(&x)?, train)?)?;
        }
        let logits = self.out.forward(&x)?;
        logits.flatten_all()
    }
}

fn leaky_relu(x: &Tensor) -> Result<Tensor> {
    // max(x, 0.2 x) equals LeakyReLU(0.2) and has a gradient everywhere.
    x.maximum(&(x * 0.2)?)
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

/// A generator alone, for sampling (`generate`, the explorer).
pub fn generator_only(config: &GanConfig, device: &Device) -> Result<(VarMap, Generator)> {
    let vars = VarMap::new();
    let generator = Generator::new(config, VarBuilder::from_varmap(&vars, DType::F32, device))?;
    Ok((vars, generator))
}

/// DCGAN initialisation: conv weights N(0, 0.02), BatchNorm scale N(1, 0.02), shift 0;
/// running mean 0 and variance 1. Variables are visited in name order so a seed always
/// gives the same weights.
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
        let values: Vec<f32> = if name.ends_with("running_mean") || name.ends_with("bn.bias") {
            vec![0.0; count]
        } else if name.ends_with("running_var") {
            vec![1.0; count]
        } else {
            let (mean, std) = if name.ends_with("bn.weight") {
                (1.0, 0.02)
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

/// Whether a variable is a BatchNorm running statistic (no gradient, not optimised).
pub fn is_running_stat(name: &str) -> bool {
    name.ends_with("running_mean") || name.ends_with("running_var")
}

#[cfg(test)]
mod tests {
    use super::*;

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
            let images = nets.generator.forward_t(&z, true).unwrap();
            assert_eq!(images.dims(), &[2, channels, size, size]);
            let logits = nets.discriminator.forward_t(&images, true).unwrap();
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
