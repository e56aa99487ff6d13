//! A long-lived worker that owns a loaded generator and turns latent vectors into pictures for
//! the explorer. Requests queue on a channel; when several renders for the same slot are
//! waiting, only the newest is drawn (a dragged slider asks many times a second), and grids come
//! back in small chunks so they fill in as they are made.

use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::Device;

use crate::device::DeviceChoice;
use crossbeam_channel::{Receiver, Sender};
use image::RgbaImage;

use super::sample::{
    LoadedGenerator, SHIPPED_CONDITIONAL_NAME, SHIPPED_NAME, load_generator,
    load_shipped_conditional_generator, load_shipped_generator,
};
use crate::latent::directions;

/// Where a generator comes from.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum GeneratorSource {
    /// The Fashion-MNIST generator built into the studio.
    #[default]
    Shipped,
    /// The class-conditional Fashion-MNIST generator built into the studio.
    ShippedByCategory,
    /// A generator file (`.safetensors` with its `.json` sidecar).
    File(PathBuf),
    /// The newest generator a training run wrote (`RUN/generator.safetensors`).
    Run(PathBuf),
}

impl GeneratorSource {
    pub fn label(&self) -> String {
        match self {
            GeneratorSource::Shipped => SHIPPED_NAME.to_string(),
            GeneratorSource::ShippedByCategory => SHIPPED_CONDITIONAL_NAME.to_string(),
            GeneratorSource::File(path) => path.display().to_string(),
            GeneratorSource::Run(dir) => format!("latest of run {}", dir.display()),
        }
    }

    pub fn weights_path(&self) -> Option<PathBuf> {
        match self {
            GeneratorSource::Shipped | GeneratorSource::ShippedByCategory => None,
            GeneratorSource::File(path) => Some(path.clone()),
            GeneratorSource::Run(dir) => Some(run_generator_path(dir)),
        }
    }

    pub fn load(&self, device: &Device) -> Result<LoadedGenerator, String> {
        let loaded = match self {
            GeneratorSource::Shipped => load_shipped_generator(device),
            GeneratorSource::ShippedByCategory => load_shipped_conditional_generator(device),
            GeneratorSource::File(path) => load_generator(path, device),
            GeneratorSource::Run(dir) => load_generator(&run_generator_path(dir), device),
        };
        loaded.map_err(|e| e.to_string())
    }
}

/// The generator file a training run keeps up to date.
pub fn run_generator_path(run_dir: &Path) -> PathBuf {
    run_dir.join("generator.safetensors")
}

/// What a loaded generator is.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratorInfo {
    pub label: String,
    pub z_dim: usize,
    /// A conditional generator's classes (empty: unconditional).
    pub classes: Vec<String>,
    pub image_size: usize,
    pub channels: usize,
    pub iterations: u64,
    pub data: String,
}

/// Which view a render is for; a newer request for a slot replaces an older queued one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Slot {
    Grid,
    Strip,
    Corners,
    Preview,
    Favourites,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirectionKind {
    /// Random orthonormal directions.
    Random,
    /// Principal directions of the first layer's response (GANSpace).
    Principal,
}

pub enum SamplerRequest {
    Load(GeneratorSource),
    Render {
        slot: Slot,
        generation: u64,
        latents: Vec<Vec<f32>>,
    },
    Directions {
        kind: DirectionKind,
        count: usize,
        seed: u64,
    },
}

pub enum SamplerReply {
    Loaded(GeneratorInfo),
    LoadFailed(String),
    Images {
        slot: Slot,
        generation: u64,
        /// Index of the first image within the request.
        first: usize,
        images: Vec<RgbaImage>,
        /// Seconds since the request was taken up.
        secs: f64,
        /// True on the last chunk of the request.
        done: bool,
    },
    Directions(Vec<Vec<f32>>),
    Failed(String),
}

/// Images per reply chunk of a render.
const CHUNK: usize = 4;

pub struct Sampler {
    tx: Sender<SamplerRequest>,
    rx: Receiver<SamplerReply>,
}

impl Sampler {
    /// Starts the worker, which opens `device` (a GPU's first use can take seconds, so not on
    /// the caller's thread); a device that cannot start is answered with a one-line
    /// [`SamplerReply::Failed`] and the worker draws on the CPU. `notify` is called after each
    /// reply (to wake the window).
    pub fn start(device: DeviceChoice, notify: impl Fn() + Send + 'static) -> Self {
        let (tx, requests) = crossbeam_channel::unbounded::<SamplerRequest>();
        let (replies, rx) = crossbeam_channel::unbounded();
        std::thread::Builder::new()
            .name("explorer sampler".into())
            .spawn(move || {
                let device = device.open().unwrap_or_else(|e| {
                    let _ = replies.send(SamplerReply::Failed(format!(
                        "{e}; the explorer draws on the CPU"
                    )));
                    notify();
                    Device::Cpu
                });
                serve(&device, &requests, &replies, &notify)
            })
            .ok();
        Sampler { tx, rx }
    }

    pub fn send(&self, request: SamplerRequest) {
        let _ = self.tx.send(request);
    }

    pub fn try_recv(&self) -> Option<SamplerReply> {
        self.rx.try_recv().ok()
    }

    /// Waits for the next reply (tests and the CLI).
    pub fn recv_timeout(&self, timeout: std::time::Duration) -> Option<SamplerReply> {
        self.rx.recv_timeout(timeout).ok()
    }
}

fn serve(
    device: &Device,
    requests: &Receiver<SamplerRequest>,
    replies: &Sender<SamplerReply>,
    notify: &dyn Fn(),
) {
    let mut generator: Option<LoadedGenerator> = None;
    let reply = |r: SamplerReply| {
        let _ = replies.send(r);
        notify();
    };
    while let Ok(first) = requests.recv() {
        // Take everything queued; keep only the newest render of each slot.
        let mut batch = vec![first];
        batch.extend(requests.try_iter());
        let newest_render = |slot: Slot, index: usize, batch: &[SamplerRequest]| {
            !batch[index + 1..]
                .iter()
                .any(|r| matches!(r, SamplerRequest::Render { slot: s, .. } if *s == slot))
        };
        for index in 0..batch.len() {
            match &batch[index] {
                SamplerRequest::Load(source) => match source.load(device) {
                    Ok(loaded) => {
                        let card = &loaded.card;
                        reply(SamplerReply::Loaded(GeneratorInfo {
                            label: source.label(),
                            z_dim: card.config.z_dim,
                            classes: card.config.classes.clone(),
                            image_size: card.config.image_size,
                            channels: card.config.channels,
                            iterations: card.iterations,
                            data: card.data.clone(),
                        }));
                        generator = Some(loaded);
                    }
                    Err(e) => reply(SamplerReply::LoadFailed(e)),
                },
                SamplerRequest::Render {
                    slot,
                    generation,
                    latents,
                } => {
                    if !newest_render(*slot, index, &batch) {
                        continue;
                    }
                    let Some(generator) = &generator else {
                        reply(SamplerReply::Failed("no generator loaded".into()));
                        continue;
                    };
                    let started = Instant::now();
                    let chunk = if *slot == Slot::Grid {
                        CHUNK
                    } else {
                        latents.len().max(1)
                    };
                    let chunks = latents.chunks(chunk).count();
                    for (i, part) in latents.chunks(chunk).enumerate() {
                        match generator.images_for_latents(part) {
                            Ok(images) => reply(SamplerReply::Images {
                                slot: *slot,
                                generation: *generation,
                                first: i * chunk,
                                images,
                                secs: started.elapsed().as_secs_f64(),
                                done: i + 1 == chunks,
                            }),
                            Err(e) => {
                                reply(SamplerReply::Failed(e.to_string()));
                                break;
                            }
                        }
                    }
                }
                SamplerRequest::Directions { kind, count, seed } => {
                    let Some(generator) = &generator else {
                        continue;
                    };
                    let z_dim = generator.z_dim();
                    let found = match kind {
                        DirectionKind::Random => {
                            Ok(directions::random_orthonormal(*count, z_dim, *seed))
                        }
                        DirectionKind::Principal => principal(generator, *count, *seed),
                    };
                    match found {
                        Ok(d) => reply(SamplerReply::Directions(d)),
                        Err(e) => reply(SamplerReply::Failed(e)),
                    }
                }
            }
        }
    }
}

/// Principal directions from 256 z's of `seed`.
fn principal(
    generator: &LoadedGenerator,
    count: usize,
    seed: u64,
) -> Result<Vec<Vec<f32>>, String> {
    let z_dim = generator.z_dim();
    let z: Vec<Vec<f32>> = (0..256)
        .map(|i| crate::latent::z_from_seed(seed.wrapping_mul(1000).wrapping_add(i), z_dim))
        .collect();
    // A conditional generator sees the z's spread over its classes; the directions are in z.
    let classes = generator.classes().len();
    let inputs: Vec<Vec<f32>> = z
        .iter()
        .enumerate()
        .map(|(i, z)| {
            let mut input = z.clone();
            input.extend(super::sample::class_row(i % classes.max(1), classes));
            input
        })
        .collect();
    let features = generator
        .first_block_features(&inputs)
        .map_err(|e| e.to_string())?;
    Ok(directions::principal_directions(&z, &features, count))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_device_that_cannot_start_says_why_and_the_sampler_draws_on_the_cpu() {
        let Some(missing) = DeviceChoice::ALL.into_iter().find(|d| !d.is_compiled()) else {
            return; // every device compiled in: no build has both CUDA and Metal
        };
        let sampler = Sampler::start(missing, || {});
        let Some(SamplerReply::Failed(reason)) = sampler.recv_timeout(Duration::from_secs(30))
        else {
            panic!("no reason given for {missing}");
        };
        assert!(
            reason.contains(missing.name())
                && reason.contains("on the CPU")
                && !reason.contains('\n'),
            "{reason}"
        );
        sampler.send(SamplerRequest::Load(GeneratorSource::Shipped));
        assert!(matches!(
            sampler.recv_timeout(Duration::from_secs(30)),
            Some(SamplerReply::Loaded(_))
        ));
    }

    #[test]
    fn loads_the_shipped_generator_and_renders_in_chunks() {
        let sampler = Sampler::start(DeviceChoice::Cpu, || {});
        sampler.send(SamplerRequest::Load(GeneratorSource::Shipped));
        let Some(SamplerReply::Loaded(info)) = sampler.recv_timeout(Duration::from_secs(30)) else {
            panic!("no generator");
        };
        assert_eq!((info.z_dim, info.image_size, info.channels), (100, 32, 1));
        let latents: Vec<Vec<f32>> = (0..6).map(|s| crate::latent::z_from_seed(s, 100)).collect();
        sampler.send(SamplerRequest::Render {
            slot: Slot::Grid,
            generation: 7,
            latents,
        });
        let mut got = 0;
        while let Some(SamplerReply::Images {
            generation,
            first,
            images,
            done,
            ..
        }) = sampler.recv_timeout(Duration::from_secs(30))
        {
            assert_eq!((generation, first), (7, got));
            got += images.len();
            if done {
                break;
            }
        }
        assert_eq!(got, 6);
        sampler.send(SamplerRequest::Directions {
            kind: DirectionKind::Principal,
            count: 3,
            seed: 1,
        });
        let Some(SamplerReply::Directions(d)) = sampler.recv_timeout(Duration::from_secs(60))
        else {
            panic!("no directions");
        };
        assert_eq!(d.len(), 3);
        assert!(d.iter().all(|v| v.len() == 100));
    }

    #[test]
    fn a_missing_file_is_a_clear_failure() {
        let sampler = Sampler::start(DeviceChoice::Cpu, || {});
        sampler.send(SamplerRequest::Load(GeneratorSource::File(
            "/nowhere/g.safetensors".into(),
        )));
        match sampler.recv_timeout(Duration::from_secs(10)) {
            Some(SamplerReply::LoadFailed(message)) => {
                assert!(message.contains("/nowhere/g"), "{message}")
            }
            _ => panic!("expected a load failure"),
        }
    }
}
