//! From generator output to pictures: tensors in [-1, 1] to RGBA images, grids and seeds.

use std::path::Path;

use candle_core::{Device, Tensor};
use image::RgbaImage;

use super::config::GanConfig;
use super::model::{Generator, generator_only};
use crate::checkpoint::{self, CheckpointError};
use crate::latent::seed_latent;

/// What travels beside a generator's weights.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GeneratorCard {
    pub architecture: String,
    pub config: GanConfig,
    pub iterations: u64,
    pub data: String,
    pub licence: String,
}

pub const ARCHITECTURE: &str = "dcgan-generator";

/// A generator ready to sample.
pub struct LoadedGenerator {
    pub card: GeneratorCard,
    pub generator: Generator,
    pub device: Device,
}

/// Loads `weights.safetensors` and its `weights.json` sidecar, checking every tensor.
pub fn load_generator(weights: &Path, device: &Device) -> Result<LoadedGenerator, CheckpointError> {
    let card: GeneratorCard = checkpoint::load_json(&checkpoint::sidecar_path(weights))?;
    let tensors = checkpoint::load_tensors(weights, device)?;
    build_generator(card, &tensors, weights, device)
}

/// The Fashion-MNIST generator that ships with the studio (compiled into the binary).
pub const SHIPPED_NAME: &str = "dcgan-fashion-mnist-32 (shipped)";
const SHIPPED_WEIGHTS: &[u8] = include_bytes!("../../weights/dcgan-fashion-mnist-32.safetensors");
const SHIPPED_CARD: &[u8] = include_bytes!("../../weights/dcgan-fashion-mnist-32.json");

pub fn load_shipped_generator(device: &Device) -> Result<LoadedGenerator, CheckpointError> {
    let source = Path::new(SHIPPED_NAME);
    let format = |reason: String| CheckpointError::Format {
        path: source.to_path_buf(),
        reason,
    };
    let card: GeneratorCard =
        serde_json::from_slice(SHIPPED_CARD).map_err(|e| format(e.to_string()))?;
    let tensors = candle_core::safetensors::load_buffer(SHIPPED_WEIGHTS, device)
        .map_err(|e| format(e.to_string()))?;
    build_generator(card, &tensors, source, device)
}

fn build_generator(
    card: GeneratorCard,
    tensors: &std::collections::HashMap<String, Tensor>,
    source: &Path,
    device: &Device,
) -> Result<LoadedGenerator, CheckpointError> {
    let format = |reason: String| CheckpointError::Format {
        path: source.to_path_buf(),
        reason,
    };
    if card.architecture != ARCHITECTURE {
        return Err(format(format!(
            "architecture is {:?}, expected {ARCHITECTURE:?}",
            card.architecture
        )));
    }
    card.config.validate().map_err(|e| format(e.to_string()))?;
    let (vars, generator) =
        generator_only(&card.config, device).map_err(|e| format(e.to_string()))?;
    checkpoint::fill(&vars, tensors, "", source)?;
    Ok(LoadedGenerator {
        card,
        generator,
        device: device.clone(),
    })
}

impl LoadedGenerator {
    /// One image per seed, in evaluation mode (BatchNorm running statistics). `truncation`
    /// scales z toward 0 (1.0 = none).
    pub fn images_for_seeds(
        &self,
        seeds: &[u64],
        truncation: f32,
    ) -> candle_core::Result<Vec<RgbaImage>> {
        let latents: Vec<Vec<f32>> = seeds
            .iter()
            .map(|&s| seed_latent(s, self.z_dim(), truncation))
            .collect();
        self.images_for_latents(&latents)
    }

    pub fn z_dim(&self) -> usize {
        self.card.config.z_dim
    }

    /// One image per latent vector (each of length `z_dim`), in evaluation mode.
    pub fn images_for_latents(&self, latents: &[Vec<f32>]) -> candle_core::Result<Vec<RgbaImage>> {
        if latents.is_empty() {
            return Ok(Vec::new());
        }
        let z = self.stack(latents)?;
        to_images(&self.generator.forward_t(&z, false)?)
    }

    /// What the generator's first block makes of each latent vector, flattened (for
    /// principal directions).
    pub fn first_block_features(&self, latents: &[Vec<f32>]) -> candle_core::Result<Vec<Vec<f32>>> {
        let z = self.stack(latents)?;
        let features = self.generator.first_block(&z)?.flatten_from(1)?;
        features.to_device(&Device::Cpu)?.to_vec2::<f32>()
    }

    fn stack(&self, latents: &[Vec<f32>]) -> candle_core::Result<Tensor> {
        let z_dim = self.z_dim();
        if let Some(bad) = latents.iter().find(|z| z.len() != z_dim) {
            return Err(candle_core::Error::Msg(format!(
                "a latent vector has {} values, this generator takes {z_dim}",
                bad.len()
            )));
        }
        let flat: Vec<f32> = latents.iter().flatten().copied().collect();
        Tensor::from_vec(flat, (latents.len(), z_dim), &self.device)
    }
}

/// NCHW in [-1, 1] (C = 1 or 3) to RGBA images.
pub fn to_images(batch: &Tensor) -> candle_core::Result<Vec<RgbaImage>> {
    let (n, c, h, w) = batch.dims4()?;
    let values = batch
        .to_device(&Device::Cpu)?
        .flatten_all()?
        .to_vec1::<f32>()?;
    let to_u8 = |v: f32| ((v.clamp(-1.0, 1.0) + 1.0) * 127.5).round() as u8;
    let plane = h * w;
    Ok((0..n)
        .map(|i| {
            let base = i * c * plane;
            RgbaImage::from_fn(w as u32, h as u32, |x, y| {
                let p = y as usize * w + x as usize;
                let channel = |k: usize| to_u8(values[base + k.min(c - 1) * plane + p]);
                image::Rgba([channel(0), channel(1), channel(2), 255])
            })
        })
        .collect())
}

/// Parses `A-B` (inclusive) or a single seed.
pub fn parse_seed_range(text: &str) -> Result<Vec<u64>, String> {
    let bad = || format!("bad seed range {text:?}: expected A-B, e.g. 0-63");
    let (a, b) = match text.split_once('-') {
        Some((a, b)) => (
            a.trim().parse::<u64>().map_err(|_| bad())?,
            b.trim().parse::<u64>().map_err(|_| bad())?,
        ),
        None => {
            let s = text.trim().parse::<u64>().map_err(|_| bad())?;
            (s, s)
        }
    };
    if b < a {
        return Err(format!(
            "bad seed range {text:?}: the end is before the start"
        ));
    }
    if b - a >= 100_000 {
        return Err(format!("seed range {text:?} asks for over 100,000 images"));
    }
    Ok((a..=b).collect())
}
