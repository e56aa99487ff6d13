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

/// The class-conditional Fashion-MNIST generator that ships with the studio.
pub const SHIPPED_CONDITIONAL_NAME: &str = "dcgan-fashion-mnist-32-cond (shipped)";
const SHIPPED_CONDITIONAL_WEIGHTS: &[u8] =
    include_bytes!("../../weights/dcgan-fashion-mnist-32-cond.safetensors");
const SHIPPED_CONDITIONAL_CARD: &[u8] =
    include_bytes!("../../weights/dcgan-fashion-mnist-32-cond.json");

pub fn load_shipped_generator(device: &Device) -> Result<LoadedGenerator, CheckpointError> {
    load_built_in(SHIPPED_NAME, SHIPPED_WEIGHTS, SHIPPED_CARD, device)
}

pub fn load_shipped_conditional_generator(
    device: &Device,
) -> Result<LoadedGenerator, CheckpointError> {
    load_built_in(
        SHIPPED_CONDITIONAL_NAME,
        SHIPPED_CONDITIONAL_WEIGHTS,
        SHIPPED_CONDITIONAL_CARD,
        device,
    )
}

fn load_built_in(
    name: &str,
    weights: &[u8],
    card: &[u8],
    device: &Device,
) -> Result<LoadedGenerator, CheckpointError> {
    let source = Path::new(name);
    let format = |reason: String| CheckpointError::Format {
        path: source.to_path_buf(),
        reason,
    };
    let card: GeneratorCard = serde_json::from_slice(card).map_err(|e| format(e.to_string()))?;
    let tensors = candle_core::safetensors::load_buffer(weights, device)
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
    /// scales z toward 0 (1.0 = none). A conditional generator draws seed `s` as class
    /// `s mod K`, so a run of seeds covers the classes evenly.
    pub fn images_for_seeds(
        &self,
        seeds: &[u64],
        truncation: f32,
    ) -> candle_core::Result<Vec<RgbaImage>> {
        let k = self.classes().len().max(1) as u64;
        let latents: Vec<Vec<f32>> = seeds
            .iter()
            .map(|&s| self.input_for_seed(s, truncation, Some((s % k) as usize)))
            .collect();
        self.images_for_latents(&latents)
    }

    pub fn z_dim(&self) -> usize {
        self.card.config.z_dim
    }

    /// The class names of a conditional generator (empty for an unconditional one).
    pub fn classes(&self) -> &[String] {
        &self.card.config.classes
    }

    /// Length of the generator's input: z, then (when conditional) one weight per class.
    pub fn input_len(&self) -> usize {
        self.z_dim() + self.classes().len()
    }

    /// The input for a seed: its z, then for a conditional generator the class's one-hot row
    /// (`class` is ignored by an unconditional one, and taken as 0 when missing).
    pub fn input_for_seed(&self, seed: u64, truncation: f32, class: Option<usize>) -> Vec<f32> {
        let mut input = seed_latent(seed, self.z_dim(), truncation);
        input.extend(class_row(class.unwrap_or(0), self.classes().len()));
        input
    }

    /// The index of a class given by name (case-insensitive) or by number.
    pub fn class_index(&self, text: &str) -> Result<usize, String> {
        class_index(self.classes(), text)
    }

    /// One image per input (each of length [`Self::input_len`]), in evaluation mode.
    pub fn images_for_latents(&self, latents: &[Vec<f32>]) -> candle_core::Result<Vec<RgbaImage>> {
        if latents.is_empty() {
            return Ok(Vec::new());
        }
        let (z, classes) = self.stack(latents)?;
        to_images(&self.generator.forward_t(&z, classes.as_ref(), false)?)
    }

    /// What the generator's first block makes of each input, flattened (for principal
    /// directions).
    pub fn first_block_features(&self, latents: &[Vec<f32>]) -> candle_core::Result<Vec<Vec<f32>>> {
        let (z, classes) = self.stack(latents)?;
        let features = self
            .generator
            .first_block(&z, classes.as_ref())?
            .flatten_from(1)?;
        features.to_device(&Device::Cpu)?.to_vec2::<f32>()
    }

    /// Inputs to z `(N, z_dim)` and, for a conditional generator, class weights `(N, K)`
    /// (each row clipped at 0 and scaled to sum to 1).
    fn stack(&self, latents: &[Vec<f32>]) -> candle_core::Result<(Tensor, Option<Tensor>)> {
        let (z_dim, len) = (self.z_dim(), self.input_len());
        if let Some(bad) = latents.iter().find(|z| z.len() != len) {
            let wanted = if self.classes().is_empty() {
                format!("{z_dim}")
            } else {
                format!(
                    "{len} (z of {z_dim}, then {} class weights)",
                    self.classes().len()
                )
            };
            return Err(candle_core::Error::Msg(format!(
                "a latent vector has {} values, this generator takes {wanted}",
                bad.len()
            )));
        }
        let z: Vec<f32> = latents.iter().flat_map(|l| &l[..z_dim]).copied().collect();
        let z = Tensor::from_vec(z, (latents.len(), z_dim), &self.device)?;
        if self.classes().is_empty() {
            return Ok((z, None));
        }
        let weights: Vec<f32> = latents
            .iter()
            .flat_map(|l| super::condition::normalise_weights(&l[z_dim..]))
            .collect();
        let classes = Tensor::from_vec(weights, (latents.len(), len - z_dim), &self.device)?;
        Ok((z, Some(classes)))
    }
}

/// A one-hot row of `classes` weights (empty for an unconditional model).
pub fn class_row(class: usize, classes: usize) -> Vec<f32> {
    (0..classes)
        .map(|k| if k == class { 1.0 } else { 0.0 })
        .collect()
}

/// The index of a class given by name (case-insensitive) or by number.
pub fn class_index(classes: &[String], text: &str) -> Result<usize, String> {
    if classes.is_empty() {
        return Err("this generator is not conditional: it has no classes".into());
    }
    let text = text.trim();
    if let Some(i) = classes.iter().position(|c| c.eq_ignore_ascii_case(text)) {
        return Ok(i);
    }
    match text.parse::<usize>() {
        Ok(i) if i < classes.len() => Ok(i),
        _ => Err(format!(
            "unknown class {text:?}: this generator has {} (or 0-{})",
            classes.join(", "),
            classes.len() - 1
        )),
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
