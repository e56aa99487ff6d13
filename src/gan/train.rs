//! The DCGAN trainer, run as a job: one discriminator and one generator step per iteration
//! (pytorch/examples `dcgan/main.py`), metrics per iteration, sample grids, checkpoints,
//! pause/stop, resume, and a hard stop on a non-finite loss.
//!
//! A run folder holds `config.json`, `metrics.jsonl` (one JSON object per iteration),
//! `samples/iter_XXXXXX.png`, `checkpoints/ckpt_XXXXXXXX.safetensors` + `checkpoints/latest.json`
//! (G, D, both optimisers' moments, iteration; the batches and noise of every iteration are
//! drawn from the seed and the iteration number, so that is the whole RNG state), and
//! `generator.safetensors` + `generator.json` for sampling.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use candle_core::{Device, Tensor};

use super::condition::one_hot;
use super::config::{ConfigError, GanConfig, Loss};
use super::data::{BatchPlan, DataError, DataSource, Dataset, ImageSpec};
use super::ema::Ema;
use super::model::{Generator, Networks};
use super::pack::Packing;
use super::sample::{ARCHITECTURE, GeneratorCard, to_images};
use crate::checkpoint::{self, CheckpointError};
use crate::device::{DeviceChoice, DeviceError};
use crate::export::grid::{GridLayout, tile};
use crate::jobs::{JobContext, Reporter};
use crate::latent::{SeededRng, z_from_seed};
use crate::optim::Adam;

/// Samples in the fixed-noise grid: seeds 0..64, the same as `generate --seeds 0-63`.
pub const SAMPLE_COUNT: u64 = 64;
/// Seeds a row in a conditional model's sample grid, one row a class.
pub const SAMPLES_PER_CLASS: u64 = 8;
/// Iterations with D(G(z)) under 0.01 before the trainer warns of a winning discriminator.
const PINNED_ITERATIONS: u32 = 300;
/// First iteration at which nearly identical samples count as a collapse.
const COLLAPSE_CHECK_FROM: u64 = 200;

#[derive(Debug, Clone)]
pub struct TrainRequest {
    pub run_dir: PathBuf,
    pub data: DataSource,
    pub config: GanConfig,
    /// Continue from the run folder's last checkpoint.
    pub resume: bool,
    pub device: DeviceChoice,
    /// Train for this many passes over the data instead of `config.iterations`.
    pub epochs: Option<u64>,
    /// A learning rate that replaces the run's (on a fresh start and on resume, e.g. to
    /// continue a run that diverged with a lower rate).
    pub lr_override: Option<f64>,
    /// Train a class-conditional model on the data's classes (ignored on resume: the run
    /// says whether it is conditional).
    pub conditional: bool,
}

/// One iteration's numbers, as written to `metrics.jsonl`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StepMetrics {
    pub iter: u64,
    pub epoch: u64,
    pub d_loss: f32,
    pub g_loss: f32,
    pub d_x: f32,
    pub d_g_z: f32,
    pub secs: f32,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TrainEvent {
    Started {
        first_iter: u64,
        iterations: u64,
        images: usize,
    },
    Step(StepMetrics),
    Sample {
        iter: u64,
        path: PathBuf,
    },
    Checkpoint {
        iter: u64,
    },
    Warning(String),
}

/// Where the trainer reports: a job context (the window) or a printer (the CLI).
pub trait TrainSink: Reporter {
    fn event(&self, event: TrainEvent);
}

impl<R: Send> TrainSink for JobContext<TrainEvent, R> {
    fn event(&self, event: TrainEvent) {
        self.emit(event);
    }
}

/// Set to hold the trainer between iterations.
#[derive(Debug, Clone, Default)]
pub struct PauseFlag(Arc<AtomicBool>);

impl PauseFlag {
    pub fn set(&self, paused: bool) {
        self.0.store(paused, Ordering::SeqCst);
    }
    pub fn is_paused(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Device(#[from] DeviceError),
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error("{0}")]
    Resume(String),
    #[error(
        "training diverged at iteration {iter}: D loss {d_loss}, G loss {g_loss}; stopped, the last good checkpoint is kept (try a lower learning rate)"
    )]
    Diverged { iter: u64, d_loss: f32, g_loss: f32 },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("tensor computation failed: {0}")]
    Candle(#[from] candle_core::Error),
    #[error("could not start {0} compute threads")]
    Threads(usize),
    #[error("cancelled")]
    Cancelled,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TrainSummary {
    pub run_dir: PathBuf,
    /// Iterations done in total (including those before a resume).
    pub iterations: u64,
    /// Stopped by the user before the planned iterations.
    pub stopped: bool,
}

/// What `checkpoints/latest.json` records.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct CheckpointMeta {
    pub iteration: u64,
    pub file: String,
    pub config: GanConfig,
    pub data: String,
    pub g_steps: u64,
    pub d_steps: u64,
}

pub fn latest_meta_path(run_dir: &Path) -> PathBuf {
    run_dir.join("checkpoints").join("latest.json")
}

/// Trains on a pool of `config.compute_threads()` threads. Tunes the process's allocator to keep
/// freed memory for reuse ([`crate::kernels::allocator`]).
pub fn train(
    request: &TrainRequest,
    pause: &PauseFlag,
    sink: &dyn TrainSink,
) -> Result<TrainSummary, TrainError> {
    request.config.validate()?;
    crate::kernels::allocator::retain_freed_memory();
    let threads = request.config.compute_threads();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("train-{i}"))
        .build()
        .map_err(|_| TrainError::Threads(threads))?;
    pool.install(|| Trainer::start(request, sink)?.run(pause, sink))
}

struct Trainer {
    run_dir: PathBuf,
    config: GanConfig,
    data_name: String,
    device: Device,
    dataset: Arc<Dataset>,
    nets: Networks,
    ema: Option<Ema>,
    opt_g: Adam,
    opt_d: Adam,
    first_iter: u64,
    metrics: std::fs::File,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> TrainError + '_ {
    move |source| TrainError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl Trainer {
    fn start(request: &TrainRequest, sink: &dyn TrainSink) -> Result<Trainer, TrainError> {
        let device = request.device.open()?;
        let run_dir = request.run_dir.clone();
        let meta_path = latest_meta_path(&run_dir);
        let saved: Option<CheckpointMeta> = if request.resume {
            if !meta_path.is_file() {
                return Err(TrainError::Resume(format!(
                    "{}: no checkpoint to resume from",
                    run_dir.display()
                )));
            }
            Some(checkpoint::load_json(&meta_path)?)
        } else {
            if meta_path.is_file() {
                return Err(TrainError::Resume(format!(
                    "{} already holds a run: pass --resume to continue it, or choose another folder",
                    run_dir.display()
                )));
            }
            None
        };
        let mut config = request.config.clone();
        if let Some(saved) = &saved {
            let asked = &request.config;
            if asked.image_size != saved.config.image_size
                || asked.channels != saved.config.channels
            {
                return Err(TrainError::Resume(format!(
                    "{}: the checkpoint is {}x{} with {} channel(s), not {}x{} with {}",
                    meta_path.display(),
                    saved.config.image_size,
                    saved.config.image_size,
                    saved.config.channels,
                    asked.image_size,
                    asked.image_size,
                    asked.channels
                )));
            }
            // Architecture and optimiser settings come from the run; the length may grow.
            config = GanConfig {
                iterations: asked.iterations,
                threads: asked.threads,
                ..saved.config.clone()
            };
        }
        if let Some(lr) = request.lr_override {
            config.lr = lr;
        }
        let conditional = match &saved {
            Some(saved) => saved.config.is_conditional(),
            None => request.conditional,
        };
        let dataset = if conditional {
            Dataset::load_labelled(&request.data, ImageSpec::of(&config), sink)?
        } else {
            Dataset::load(&request.data, ImageSpec::of(&config), sink)?
        };
        if conditional {
            if saved.is_some() && dataset.classes != config.classes {
                return Err(TrainError::Resume(format!(
                    "{}: the run's classes are {}, the data's are {}",
                    meta_path.display(),
                    config.classes.join(", "),
                    dataset.classes.join(", ")
                )));
            }
            config.classes = dataset.classes.clone();
        }
        config.validate_classes()?;
        if let Some(epochs) = request.epochs {
            let per_epoch = (dataset.len as u64).div_ceil(config.batch_size as u64);
            config.iterations = epochs * per_epoch;
        }
        for sub in ["checkpoints", "samples"] {
            let dir = run_dir.join(sub);
            std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        }
        let nets = Networks::new(&config, config.seed, &device)?;
        let (mut opt_g, mut opt_d) = nets.optimisers(&config)?;
        let ema = match config.ema {
            Some(decay) => Some(Ema::new(&config, decay, &nets.g_vars, &device)?),
            None => None,
        };
        let first_iter = match &saved {
            Some(meta) => {
                let path = run_dir.join("checkpoints").join(&meta.file);
                let tensors = checkpoint::load_tensors(&path, &device)?;
                checkpoint::fill(&nets.g_vars, &tensors, "g.", &path)?;
                checkpoint::fill(&nets.d_vars, &tensors, "d.", &path)?;
                opt_g
                    .load_state("opt_g", &tensors, meta.g_steps)
                    .map_err(|e| TrainError::Resume(format!("{}: {e}", path.display())))?;
                opt_d
                    .load_state("opt_d", &tensors, meta.d_steps)
                    .map_err(|e| TrainError::Resume(format!("{}: {e}", path.display())))?;
                if let Some(ema) = &ema {
                    // A run that starts keeping an average on resume starts it from G.
                    if tensors.keys().any(|k| k.starts_with("ema.")) {
                        checkpoint::fill(&ema.vars, &tensors, "ema.", &path)?;
                    } else {
                        ema.copy_from(&nets.g_vars)?;
                    }
                }
                meta.iteration
            }
            None => 0,
        };
        // `fill` wrote into the variables the networks already hold.
        checkpoint::save_json(&config, &run_dir.join("config.json"))?;
        let metrics = open_metrics(&run_dir.join("metrics.jsonl"), first_iter)?;
        Ok(Trainer {
            run_dir,
            config,
            data_name: request.data.describe(),
            device,
            dataset: Arc::new(dataset),
            nets,
            ema,
            opt_g,
            opt_d,
            first_iter,
            metrics,
        })
    }

    fn run(mut self, pause: &PauseFlag, sink: &dyn TrainSink) -> Result<TrainSummary, TrainError> {
        let total = self.config.iterations;
        sink.event(TrainEvent::Started {
            first_iter: self.first_iter,
            iterations: total,
            images: self.dataset.len,
        });
        let batches = Prefetcher::start(
            &self.dataset,
            &self.config,
            self.first_iter,
            total,
            &self.device,
        );
        let mut iter = self.first_iter;
        let mut pinned = 0u32;
        let mut stopped = false;
        while iter < total {
            while pause.is_paused() && !sink.is_cancelled() {
                std::thread::sleep(Duration::from_millis(50));
            }
            if sink.is_cancelled() {
                stopped = true;
                break;
            }
            let started = Instant::now();
            let Some(batch) = batches.next() else { break };
            let (real, classes) = batch?;
            let metrics = self.step(iter, &real, classes.as_ref())?;
            iter += 1;
            let metrics = StepMetrics {
                secs: started.elapsed().as_secs_f32(),
                ..metrics
            };
            writeln!(
                self.metrics,
                "{}",
                serde_json::to_string(&metrics).unwrap_or_default()
            )
            .map_err(io_err(&self.run_dir.join("metrics.jsonl")))?;
            pinned = if metrics.d_g_z < 0.01 { pinned + 1 } else { 0 };
            if pinned == PINNED_ITERATIONS {
                sink.event(TrainEvent::Warning(format!(
                    "D(G(z)) has stayed under 0.01 for {PINNED_ITERATIONS} iterations: the discriminator is winning and the generator may have stopped learning"
                )));
            }
            sink.progress(iter, total, &format!("iteration {iter} of {total}"));
            sink.event(TrainEvent::Step(metrics));
            if iter.is_multiple_of(self.config.sample_every.max(1)) {
                self.write_samples(iter, sink)?;
            }
            if iter.is_multiple_of(self.config.checkpoint_every.max(1)) {
                self.save_checkpoint(iter)?;
                sink.event(TrainEvent::Checkpoint { iter });
            }
        }
        if iter > self.first_iter {
            if !iter.is_multiple_of(self.config.sample_every.max(1)) {
                self.write_samples(iter, sink)?;
            }
            if !iter.is_multiple_of(self.config.checkpoint_every.max(1)) {
                self.save_checkpoint(iter)?;
                sink.event(TrainEvent::Checkpoint { iter });
            }
        }
        self.metrics.flush().map_err(io_err(&self.run_dir))?;
        Ok(TrainSummary {
            run_dir: self.run_dir.clone(),
            iterations: iter,
            stopped,
        })
    }

    /// One discriminator step and one generator step (the fakes are drawn for the real
    /// images' classes), then the generator's average moves.
    fn step(
        &mut self,
        iter: u64,
        real: &Tensor,
        classes: Option<&Tensor>,
    ) -> Result<StepMetrics, TrainError> {
        let batch = real.dim(0)?;
        let z = noise(
            self.config.seed,
            iter,
            batch,
            self.config.z_dim,
            &self.device,
        )?;
        let StepLosses {
            d_loss,
            g_loss,
            real_logits,
            fake_logits,
        } = adversarial_step(
            &self.nets,
            (&mut self.opt_d, &mut self.opt_g),
            Objective::of(&self.config),
            real,
            classes,
            &z,
        )?;
        if let Some(ema) = &self.ema {
            ema.update(&self.nets.g_vars, self.opt_g.step_count().saturating_sub(1))?;
        }

        let d_loss = d_loss.to_scalar::<f32>()?;
        let g_loss = g_loss.to_scalar::<f32>()?;
        if !d_loss.is_finite() || !g_loss.is_finite() {
            return Err(TrainError::Diverged {
                iter: iter + 1,
                d_loss,
                g_loss,
            });
        }
        let mean_sigmoid = |t: &Tensor| -> candle_core::Result<f32> {
            candle_nn::ops::sigmoid(t)?.mean_all()?.to_scalar::<f32>()
        };
        Ok(StepMetrics {
            iter: iter + 1,
            epoch: iter * batch as u64 / self.dataset.len as u64,
            d_loss,
            g_loss,
            d_x: mean_sigmoid(&real_logits)?,
            d_g_z: mean_sigmoid(&fake_logits)?,
            secs: 0.0,
        })
    }

    /// The generator that samples and is saved: the average when the run keeps one.
    fn sampling_generator(&self) -> &Generator {
        self.ema
            .as_ref()
            .map_or(&self.nets.generator, |e| &e.generator)
    }

    /// The sample grid's seeds and classes: seeds 0..64, or for a conditional model one row
    /// of seeds 0..8 a class.
    fn sample_inputs(&self) -> candle_core::Result<(Tensor, Option<Tensor>)> {
        let k = self.config.classes.len();
        let (seeds, labels): (Vec<u64>, Vec<usize>) = if k == 0 {
            ((0..SAMPLE_COUNT).collect(), Vec::new())
        } else {
            (0..k * SAMPLES_PER_CLASS as usize)
                .map(|i| {
                    (
                        (i % SAMPLES_PER_CLASS as usize) as u64,
                        i / SAMPLES_PER_CLASS as usize,
                    )
                })
                .unzip()
        };
        let z: Vec<f32> = seeds
            .iter()
            .flat_map(|&s| z_from_seed(s, self.config.z_dim))
            .collect();
        let z = Tensor::from_vec(z, (seeds.len(), self.config.z_dim), &self.device)?;
        let classes = if k == 0 {
            None
        } else {
            Some(one_hot(&labels, k, &self.device)?)
        };
        Ok((z, classes))
    }

    fn write_samples(&self, iter: u64, sink: &dyn TrainSink) -> Result<(), TrainError> {
        let (z, classes) = self.sample_inputs()?;
        let images = self
            .sampling_generator()
            .forward_t(&z, classes.as_ref(), false)?;
        let spread = images.var_keepdim(0)?.mean_all()?.to_scalar::<f32>()?;
        // Early on the running statistics are still at their initial values: no verdict yet.
        if iter >= COLLAPSE_CHECK_FROM && spread < 1e-3 {
            sink.event(TrainEvent::Warning(format!(
                "iteration {iter}: the samples are nearly identical (pixel variance {spread:.5}): the generator may have collapsed to one image"
            )));
        }
        let layout = if self.config.is_conditional() {
            GridLayout {
                cols: SAMPLES_PER_CLASS as usize,
                ..GridLayout::default()
            }
        } else {
            GridLayout::default()
        };
        let grid = tile(&to_images(&images)?, &layout);
        let path = self
            .run_dir
            .join("samples")
            .join(format!("iter_{iter:06}.png"));
        let png = crate::imaging::encode_png(&grid).map_err(|e| TrainError::Io {
            path: path.clone(),
            source: std::io::Error::other(e),
        })?;
        crate::atomic::write_atomic(&path, &png).map_err(io_err(&path))?;
        sink.event(TrainEvent::Sample { iter, path });
        Ok(())
    }

    /// Writes the checkpoint file, then points `latest.json` at it, then removes older ones:
    /// a crash at any moment leaves `latest.json` naming a complete file.
    fn save_checkpoint(&self, iter: u64) -> Result<(), TrainError> {
        let dir = self.run_dir.join("checkpoints");
        let file = format!("ckpt_{iter:08}.safetensors");
        let mut tensors = checkpoint::named(&self.nets.g_vars, "g.");
        tensors.extend(checkpoint::named(&self.nets.d_vars, "d."));
        tensors.extend(self.opt_g.state("opt_g")?);
        tensors.extend(self.opt_d.state("opt_d")?);
        if let Some(ema) = &self.ema {
            tensors.extend(checkpoint::named(&ema.vars, "ema."));
        }
        checkpoint::save_tensors(&tensors, &dir.join(&file))?;
        let meta = CheckpointMeta {
            iteration: iter,
            file: file.clone(),
            config: self.config.clone(),
            data: self.data_name.clone(),
            g_steps: self.opt_g.step_count(),
            d_steps: self.opt_d.step_count(),
        };
        checkpoint::save_json(&meta, &latest_meta_path(&self.run_dir))?;
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with("ckpt_") && name != file {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        let card = GeneratorCard {
            architecture: ARCHITECTURE.into(),
            config: self.config.clone(),
            iterations: iter,
            data: self.data_name.clone(),
            licence: "same as the training data".into(),
        };
        let generator = self.run_dir.join("generator.safetensors");
        let vars = self.ema.as_ref().map_or(&self.nets.g_vars, |e| &e.vars);
        checkpoint::save_tensors(&checkpoint::named(vars, ""), &generator)?;
        checkpoint::save_json(&card, &checkpoint::sidecar_path(&generator))?;
        if self.ema.is_some() {
            // The live weights too, to compare the average against.
            let live = self.run_dir.join("generator-live.safetensors");
            checkpoint::save_tensors(&checkpoint::named(&self.nets.g_vars, ""), &live)?;
            checkpoint::save_json(&card, &checkpoint::sidecar_path(&live))?;
        }
        Ok(())
    }
}

/// The losses and logits of one [`adversarial_step`].
pub struct StepLosses {
    pub d_loss: Tensor,
    pub g_loss: Tensor,
    pub real_logits: Tensor,
    pub fake_logits: Tensor,
}

/// One DCGAN iteration: a discriminator step on `real` and `G(z)`, then a generator step.
/// A conditional model draws the fakes for `classes`, the real images' classes.
pub fn adversarial_step(
    nets: &Networks,
    (opt_d, opt_g): (&mut Adam, &mut Adam),
    objective: impl Into<Objective>,
    real: &Tensor,
    classes: Option<&Tensor>,
    z: &Tensor,
) -> candle_core::Result<StepLosses> {
    let Objective {
        loss,
        aux_classifier,
        mode_seeking,
        twin_classifier,
        pack,
    } = objective.into();
    let packing = if pack > 1 {
        Some(Packing::of_batch(real.dim(0)?, classes, pack)?)
    } else {
        None
    };
    let real_classes = match &packing {
        Some(packing) => packing.pack_classes(),
        None => classes,
    };
    // With the mode-seeking term the fakes' two halves share their classes (the first half's
    // of the real batch); packed, they are drawn in pack order; otherwise they take the real
    // batch's classes.
    let paired = match (mode_seeking, classes) {
        (Some(_), Some(classes)) => Some(first_half_twice(classes)?),
        _ => None,
    };
    let fake_classes = match &packing {
        Some(packing) => packing.row_classes(),
        None => paired.as_ref().or(classes),
    };
    let z = match &packing {
        Some(packing) => z.narrow(0, 0, packing.rows())?,
        None => z.clone(),
    };
    let fake = nets.generator.forward_t(&z, fake_classes, true)?;
    let (real, fake, classes) = match &packing {
        Some(packing) => (
            packing.pack_real(real)?,
            packing.pack_ordered(&fake)?,
            packing.pack_classes(),
        ),
        None => (real.clone(), fake, fake_classes),
    };

    let real_judged = nets.discriminator.judge_t(&real, real_classes, true)?;
    let fake_judged = nets.discriminator.judge_t(&fake.detach(), classes, true)?;
    let real_logits = real_judged.logits;
    let fake_logits = fake_judged.logits;
    let d_loss = match loss {
        Loss::Bce => (bce_with_logits(&real_logits, 1.0)? + bce_with_logits(&fake_logits, 0.0)?)?,
        Loss::Hinge => {
            ((1.0 - &real_logits)?.relu()?.mean_all()?
                + (&fake_logits + 1.0)?.relu()?.mean_all()?)?
        }
    };
    let d_loss = with_classifier_loss(
        d_loss,
        &real_judged.class_logits,
        real_classes,
        aux_classifier,
    )?;
    // The twin learns which class each fake was drawn as.
    let d_loss = with_classifier_loss(d_loss, &fake_judged.twin_logits, classes, twin_classifier)?;
    let grads = d_loss.backward()?;
    opt_d.step(&grads)?;

    let fooled = nets.discriminator.judge_for_generator(&fake, classes)?;
    let g_loss = match loss {
        Loss::Bce => bce_with_logits(&fooled.logits, 1.0)?,
        Loss::Hinge => fooled.logits.mean_all()?.neg()?,
    };
    let g_loss =
        generator_class_terms(g_loss, &fooled, classes, (aux_classifier, twin_classifier))?;
    let g_loss = match mode_seeking {
        Some(weight) => (g_loss + (mode_seeking_term(&fake, &z)? * weight)?)?,
        None => g_loss,
    };
    let grads = g_loss.backward()?;
    opt_g.step(&grads)?;
    Ok(StepLosses {
        d_loss,
        g_loss,
        real_logits,
        fake_logits,
    })
}

/// What a training step minimises: the adversarial loss and, for AC-GAN, the weight of the
/// auxiliary classifier's cross-entropy (D's on the real images, G's on its own); for TAC-GAN
/// the weight of the twin classifier's (D's on the fakes, taken away from G's loss).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Objective {
    pub loss: Loss,
    pub aux_classifier: Option<f64>,
    pub mode_seeking: Option<f64>,
    pub twin_classifier: Option<f64>,
    /// Images D judges at once (1: one at a time).
    pub pack: usize,
}

impl Objective {
    pub fn of(config: &GanConfig) -> Self {
        Objective {
            loss: config.loss,
            aux_classifier: config.aux_classifier,
            mode_seeking: config.mode_seeking,
            twin_classifier: config.twin_classifier,
            pack: config.pack,
        }
    }
}

impl From<Loss> for Objective {
    fn from(loss: Loss) -> Self {
        Objective {
            loss,
            aux_classifier: None,
            mode_seeking: None,
            twin_classifier: None,
            pack: 1,
        }
    }
}

/// The first half of a batch's class rows twice (`(N, K)` -> `(N, K)`; an odd last row keeps
/// its own), so that fake `i` and fake `i + N/2` are drawn as one class.
fn first_half_twice(classes: &Tensor) -> candle_core::Result<Tensor> {
    let n = classes.dim(0)?;
    let half = n / 2;
    if half == 0 {
        return Ok(classes.clone());
    }
    let first = classes.narrow(0, 0, half)?;
    let mut parts = vec![first.clone(), first];
    if n % 2 == 1 {
        parts.push(classes.narrow(0, n - 1, 1)?);
    }
    Tensor::cat(&parts, 0)
}

/// Mode seeking (Mao et al. 2019): `1 / (mean|G(z1) - G(z2)| / mean|z1 - z2| + 1e-5)` over the
/// batch's two halves; G lowers it by making fakes of different noise differ.
fn mode_seeking_term(fake: &Tensor, z: &Tensor) -> candle_core::Result<Tensor> {
    let half = fake.dim(0)? / 2;
    if half == 0 {
        return fake.zeros_like()?.mean_all();
    }
    let spread = |t: &Tensor| -> candle_core::Result<Tensor> {
        (t.narrow(0, 0, half)? - t.narrow(0, half, half)?)?
            .abs()?
            .mean_all()
    };
    let ratio = (spread(fake)? / spread(z)?.detach())?;
    (ratio + 1e-5)?.recip()
}

/// G's class terms: the auxiliary classifier's cross-entropy on its images for the classes
/// asked for, less the twin's: G is rewarded where the classifier of real images recognises
/// the class and where the twin, which knows G's habits, does not.
fn generator_class_terms(
    loss: Tensor,
    judged: &super::model::Judgement,
    classes: Option<&Tensor>,
    (aux_weight, twin_weight): (Option<f64>, Option<f64>),
) -> candle_core::Result<Tensor> {
    let loss = with_classifier_loss(loss, &judged.class_logits, classes, aux_weight)?;
    with_classifier_loss(loss, &judged.twin_logits, classes, twin_weight.map(|w| -w))
}

/// `loss + weight * cross-entropy(class logits, classes)` where the step has a classifier and
/// classes; `loss` otherwise.
fn with_classifier_loss(
    loss: Tensor,
    class_logits: &Option<Tensor>,
    classes: Option<&Tensor>,
    weight: Option<f64>,
) -> candle_core::Result<Tensor> {
    match (class_logits, classes, weight) {
        (Some(logits), Some(classes), Some(weight)) => {
            loss + (super::condition::class_cross_entropy(logits, classes)? * weight)?
        }
        _ => Ok(loss),
    }
}

/// The noise of iteration `iter`: drawn from the seed and the iteration alone.
fn noise(
    seed: u64,
    iter: u64,
    batch: usize,
    z_dim: usize,
    device: &Device,
) -> candle_core::Result<Tensor> {
    let mut rng = SeededRng::new(seed ^ iter.wrapping_mul(0xC2B2_AE3D_27D4_EB4F) ^ 0xABCD);
    let mut z = vec![0.0f32; batch * z_dim];
    rng.normal(&mut z);
    Tensor::from_vec(z, (batch, z_dim), device)
}

/// Binary cross-entropy on logits in the stable form `relu(x) - x t + log(1 + exp(-|x|))`.
pub fn bce_with_logits(logits: &Tensor, target: f64) -> candle_core::Result<Tensor> {
    let softplus_neg_abs = (logits.abs()?.neg()?.exp()? + 1.0)?.log()?;
    (logits.relu()? - (logits * target)?)?
        .add(&softplus_neg_abs)?
        .mean_all()
}

/// Opens `metrics.jsonl` for appending, first dropping lines past `keep_through` (iterations
/// a crashed run did after its last checkpoint, which the resumed run will redo).
fn open_metrics(path: &Path, keep_through: u64) -> Result<std::fs::File, TrainError> {
    if path.is_file() {
        let text = std::fs::read_to_string(path).map_err(io_err(path))?;
        let kept: String = text
            .lines()
            .filter(|line| {
                serde_json::from_str::<StepMetrics>(line).is_ok_and(|m| m.iter <= keep_through)
            })
            .map(|line| format!("{line}\n"))
            .collect();
        crate::atomic::write_atomic(path, kept.as_bytes()).map_err(io_err(path))?;
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(io_err(path))
}

/// A batch of images, with their classes' one-hot rows when the model is conditional.
type Batch = candle_core::Result<(Tensor, Option<Tensor>)>;

/// Assembles the next batches on a worker thread while the current step computes.
struct Prefetcher {
    rx: crossbeam_channel::Receiver<Batch>,
    stop: Arc<AtomicBool>,
}

impl Prefetcher {
    fn start(
        dataset: &Arc<Dataset>,
        config: &GanConfig,
        first_iter: u64,
        total: u64,
        device: &Device,
    ) -> Prefetcher {
        let (tx, rx) = crossbeam_channel::bounded(2);
        let stop = Arc::new(AtomicBool::new(false));
        let dataset = dataset.clone();
        let device = device.clone();
        let mut plan = BatchPlan::new(config.seed, dataset.len, config.batch_size, config.flip);
        let classes = config.classes.len();
        let stop_flag = stop.clone();
        std::thread::Builder::new()
            .name("train-batches".into())
            .spawn(move || {
                for iter in first_iter..total {
                    if stop_flag.load(Ordering::SeqCst) {
                        return;
                    }
                    let (indices, flips) = plan.indices(iter);
                    let batch = dataset.batch(&indices, &flips, &device).and_then(|images| {
                        if classes == 0 {
                            return Ok((images, None));
                        }
                        let rows = one_hot(&dataset.labels_of(&indices), classes, &device)?;
                        Ok((images, Some(rows)))
                    });
                    if tx.send(batch).is_err() {
                        return;
                    }
                }
            })
            .ok();
        Prefetcher { rx, stop }
    }

    fn next(&self) -> Option<Batch> {
        self.rx.recv().ok()
    }
}

impl Drop for Prefetcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Unblock a pending send.
        while self.rx.try_recv().is_ok() {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_seeking_pairs_the_halves_and_weighs_image_spread_by_noise_spread() {
        let device = Device::Cpu;
        let classes = one_hot(&[0, 1, 2, 0, 2], 3, &device).unwrap();
        let paired = first_half_twice(&classes)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        let rows = one_hot(&[0, 1, 0, 1, 2], 3, &device)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        assert_eq!(
            paired, rows,
            "halves share classes, the odd last row keeps its own"
        );
        // Fakes differing by 0.5 everywhere between halves, noise by 2: ratio 0.25.
        let fake = Tensor::new(&[[1.0f32, 1.0], [0.5, 1.5]], &device).unwrap();
        let z = Tensor::new(&[[0.0f32, 0.0, 0.0], [2.0, -2.0, 2.0]], &device).unwrap();
        let term = mode_seeking_term(&fake, &z)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!((term - 1.0 / (0.25 + 1e-5)).abs() < 1e-3, "{term}");
        // More different fakes, a smaller term: G lowers it by spreading them.
        let spread = Tensor::new(&[[1.0f32, 1.0], [-1.0, 3.0]], &device).unwrap();
        let wider = mode_seeking_term(&spread, &z)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(wider < term, "{wider} vs {term}");
    }

    #[test]
    fn g_gains_from_the_classifier_recognising_its_class_and_the_twin_not() {
        let device = Device::Cpu;
        let classes = one_hot(&[0, 1], 2, &device).unwrap();
        let confident = Tensor::new(&[[4.0f32, -4.0], [-4.0, 4.0]], &device).unwrap();
        let unsure = Tensor::zeros((2, 2), candle_core::DType::F32, &device).unwrap();
        let loss_with = |class_logits: &Tensor, twin_logits: &Tensor| {
            let judged = crate::gan::model::Judgement {
                logits: Tensor::zeros(2, candle_core::DType::F32, &device).unwrap(),
                class_logits: Some(class_logits.clone()),
                twin_logits: Some(twin_logits.clone()),
            };
            let zero = Tensor::new(0.0f32, &device).unwrap();
            generator_class_terms(zero, &judged, Some(&classes), (Some(1.0), Some(0.5)))
                .unwrap()
                .to_scalar::<f32>()
                .unwrap()
        };
        let ce_confident = (1.0f32 + (-8.0f32).exp()).ln();
        let ce_unsure = 2.0f32.ln();
        let cases = [
            (&confident, &unsure, ce_confident - 0.5 * ce_unsure),
            (&unsure, &confident, ce_unsure - 0.5 * ce_confident),
        ];
        for (class_logits, twin_logits, expected) in cases {
            let loss = loss_with(class_logits, twin_logits);
            assert!((loss - expected).abs() < 1e-5, "{loss} vs {expected}");
        }
        // The best for G: the real-image classifier sure, the twin unsure.
        assert!(loss_with(&confident, &unsure) < loss_with(&unsure, &confident));
        assert!(loss_with(&confident, &unsure) < loss_with(&confident, &confident));
    }

    #[test]
    fn stable_bce_matches_the_formula_and_stays_finite() {
        let logits = Tensor::new(&[-2.0f32, 0.0, 3.0], &Device::Cpu).unwrap();
        let loss = bce_with_logits(&logits, 1.0)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        let expected: f32 = [-2.0f32, 0.0, 3.0]
            .iter()
            .map(|&x| -(1.0 / (1.0 + (-x).exp())).ln())
            .sum::<f32>()
            / 3.0;
        assert!((loss - expected).abs() < 1e-5, "{loss} vs {expected}");
        let huge = Tensor::new(&[1e4f32, -1e4], &Device::Cpu).unwrap();
        let loss = bce_with_logits(&huge, 0.0)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(loss.is_finite() && (loss - 5e3).abs() < 1.0, "{loss}");
    }
}

/// A run as its folder records it: for reopening past runs in the window.
#[derive(Debug, Clone, Default)]
pub struct RunHistory {
    pub config: Option<GanConfig>,
    pub metrics: Vec<StepMetrics>,
    /// Sample grids by iteration, oldest first.
    pub samples: Vec<(u64, PathBuf)>,
    pub last_checkpoint: Option<u64>,
}

/// Reads a run folder's config, metrics and sample list (lines that do not parse are skipped:
/// a crash can leave a torn last line).
pub fn read_run(run_dir: &Path) -> Result<RunHistory, TrainError> {
    if !run_dir.is_dir() {
        return Err(TrainError::Io {
            path: run_dir.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such run folder"),
        });
    }
    let config = checkpoint::load_json(&run_dir.join("config.json")).ok();
    let metrics = std::fs::read_to_string(run_dir.join("metrics.jsonl"))
        .map(|text| {
            text.lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect()
        })
        .unwrap_or_default();
    let mut samples: Vec<(u64, PathBuf)> = std::fs::read_dir(run_dir.join("samples"))
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    let iter = name
                        .strip_prefix("iter_")?
                        .strip_suffix(".png")?
                        .parse()
                        .ok()?;
                    Some((iter, e.path()))
                })
                .collect()
        })
        .unwrap_or_default();
    samples.sort();
    let last_checkpoint = checkpoint::load_json::<CheckpointMeta>(&latest_meta_path(run_dir))
        .ok()
        .map(|m| m.iteration);
    Ok(RunHistory {
        config,
        metrics,
        samples,
        last_checkpoint,
    })
}
