//! Training the garment detector on a DeepFashion-format set as a job: one image an iteration
//! (its backbone features computed afresh, flipped half the time), AdamW on the layers after
//! the frozen part of the backbone, the four losses reported every iteration, a hard stop on a non-finite
//! loss, and the weights written (atomically, with their card) at every checkpoint and at the
//! end. Beside the weights `W`: the metrics (`W.metrics.jsonl`) and the resume state
//! (`W.resume.safetensors`: layers, optimiser moments and iteration in one file).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{Device, Tensor};
use image::RgbImage;

use super::data::{DetectorData, Example};
use super::loss::{Truth, losses};
use super::model::{DetectorConfig, Layers, backbone_features};
use crate::checkpoint::{self, CheckpointError};
use crate::datasets::read::ReadError;
use crate::detect::boxes::BoxRect;
use crate::detect::ssd::network::SsdLite;
use crate::detect::ssd::{DetectorError, PersonDetector};
use crate::jobs::Reporter;
use crate::latent::SeededRng;
use crate::optim::Adam;

#[derive(Debug, Clone, PartialEq)]
pub struct DetectorTraining {
    pub iterations: u64,
    pub learning_rate: f64,
    /// The learning rate drops tenfold once this share of the iterations is done.
    pub decay_at: f64,
    pub seed: u64,
    /// Write the weights every this many iterations.
    pub checkpoint_every: u64,
    /// DeepFashion's partition to train on (`train`); every image when the set has none.
    pub split: String,
    /// Go on from the resume state of a stopped run at the same output path.
    pub resume: bool,
    /// Weigh the head's class loss so each garment class counts as much as any other
    /// (ignored on resume: the card's weights are kept).
    pub balance_classes: bool,
}

impl Default for DetectorTraining {
    fn default() -> Self {
        DetectorTraining {
            iterations: 2_000,
            learning_rate: 3e-4,
            decay_at: 0.75,
            seed: 1,
            checkpoint_every: 500,
            split: "train".into(),
            resume: false,
            balance_classes: false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DetectorTrainError {
    #[error(transparent)]
    Data(#[from] ReadError),
    #[error("{0}: no images with boxes of the detector's classes in the {1} split")]
    NoImages(PathBuf, String),
    #[error(transparent)]
    Catalog(#[from] crate::project::catalog::CatalogError),
    #[error("{path}: {reason}")]
    Image { path: PathBuf, reason: String },
    #[error("cannot resume from {path}: {reason}")]
    Resume { path: PathBuf, reason: String },
    #[error(transparent)]
    Backbone(#[from] DetectorError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "training diverged at iteration {0}: a loss is not finite; the last checkpoint is kept"
    )]
    Diverged(u64),
    #[error("tensor computation failed: {0}")]
    Candle(#[from] candle_core::Error),
    #[error("cancelled")]
    Cancelled,
}

/// One iteration's losses, as `W.metrics.jsonl` records them.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DetectorStep {
    pub iter: u64,
    pub rpn_objectness: f32,
    pub rpn_box: f32,
    pub head_class: f32,
    pub head_box: f32,
    pub secs: f32,
}

impl DetectorStep {
    pub fn total(&self) -> f32 {
        self.rpn_objectness + self.rpn_box + self.head_class + self.head_box
    }
}

/// What the weights' card records.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DetectorCard {
    pub architecture: String,
    pub config: DetectorConfig,
    pub iterations: u64,
    pub data: String,
    pub backbone: String,
}

/// The image at `path` at the network's input size (`config`'s), flipped when `flip`, with
/// its boxes taken along.
fn load(
    example: &Example,
    config: &DetectorConfig,
    flip: bool,
) -> Result<(RgbImage, Vec<Truth>), DetectorTrainError> {
    let bytes = std::fs::read(&example.path).map_err(|e| DetectorTrainError::Image {
        path: example.path.clone(),
        reason: e.to_string(),
    })?;
    let decoded =
        crate::imaging::decode_with_limits(&bytes).map_err(|e| DetectorTrainError::Image {
            path: example.path.clone(),
            reason: e.to_string(),
        })?;
    let decoded = decoded.image.to_rgb8();
    let (image, scale) = config.input_image(&decoded);
    let mut image = image.into_owned();
    let width = image.width() as f32;
    if flip {
        image::imageops::flip_horizontal_in_place(&mut image);
    }
    let truths = example
        .truths
        .iter()
        .map(|t| {
            let r = t.rect;
            let rect = BoxRect::new(r.x0 * scale, r.y0 * scale, r.x1 * scale, r.y1 * scale);
            let rect = if flip {
                BoxRect::new(width - rect.x1, rect.y0, width - rect.x0, rect.y1)
            } else {
                rect
            };
            Truth {
                rect: rect.clamped(width, image.height() as f32),
                class: t.class,
            }
        })
        .filter(|t| t.rect.is_valid())
        .collect();
    Ok((image, truths))
}

/// Trains the layers on `data` for `options.iterations`, writing the weights to
/// `out` (and `out`'s card, metrics and resume state beside it). With `options.resume`, the
/// run goes on from the resume state a stopped run left at `out` (its layers, its optimiser's
/// moments and its iteration; `config` then gives way to the card's). `step` hears every
/// iteration.
pub fn train_detector(
    data: &DetectorData,
    out: &Path,
    config: &DetectorConfig,
    options: &DetectorTraining,
    reporter: &dyn Reporter,
    step: &(dyn Fn(&DetectorStep) + Sync),
) -> Result<u64, DetectorTrainError> {
    let device = Device::Cpu;
    let person = PersonDetector::shipped(&device)?;
    let backbone = person.network();
    let (examples, layers, adam, first) = if options.resume {
        let card: DetectorCard = checkpoint::load_json(&checkpoint::sidecar_path(out))?;
        let examples = data.examples(&options.split, &card.config.classes)?;
        let layers = Layers::new(&card.config, backbone, &device)?;
        let mut adam = optimiser(&layers, options.learning_rate)?;
        let first = resume_state(out, &layers, &mut adam)?;
        (examples, layers, adam, first)
    } else {
        let mut config = config.clone();
        let examples = data.examples(&options.split, &config.classes)?;
        if options.balance_classes {
            let mut counts = vec![0; config.classes.len()];
            for truth in examples.iter().flat_map(|e| &e.truths) {
                if let Some(count) = truth.class.checked_sub(1).and_then(|c| counts.get_mut(c)) {
                    *count += 1;
                }
            }
            config.class_weights = DetectorConfig::balanced_weights(&counts);
        }
        let layers = Layers::new(&config, backbone, &device)?;
        let adam = optimiser(&layers, options.learning_rate)?;
        (examples, layers, adam, 0)
    };
    let run = Run {
        examples: &examples,
        backbone,
        layers: &layers,
        out,
        data: data.describe(),
    };
    crate::kernels::threads::on_pool_thread(|| run.go(adam, first, options, reporter, step))
}

/// Fine-tunes the detector whose weights are at `from` on `examples`, writing the result to
/// `out` (the weights at `from` are left as they are).
pub fn fine_tune(
    examples: &[Example],
    from: &Path,
    out: &Path,
    data: &str,
    options: &DetectorTraining,
    reporter: &dyn Reporter,
    step: &(dyn Fn(&DetectorStep) + Sync),
) -> Result<u64, DetectorTrainError> {
    let device = Device::Cpu;
    let card: DetectorCard = checkpoint::load_json(&checkpoint::sidecar_path(from))?;
    let person = PersonDetector::shipped(&device)?;
    let backbone = person.network();
    let layers = Layers::new(&card.config, backbone, &device)?;
    checkpoint::fill(
        &layers.vars,
        &checkpoint::load_tensors(from, &device)?,
        "",
        from,
    )?;
    // The backbone stays as it was, its fine-tuned tail included.
    let adam = optimiser(&layers, options.learning_rate)?.excluding(super::tail::PREFIX);
    let run = Run {
        examples,
        backbone,
        layers: &layers,
        out,
        data: format!("{} fine-tuned on {data}", card.data),
    };
    crate::kernels::threads::on_pool_thread(|| run.go(adam, 0, options, reporter, step))
}

/// What the card says of the backbone.
fn backbone_description(fine_tuned_blocks: usize) -> String {
    match fine_tuned_blocks {
        0 => "ssdlite-person (frozen MobileNetV2, stride-16 expansion)".into(),
        n => format!(
            "ssdlite-person (MobileNetV2 to its stride-16 expansion; its last {n} blocks and that expansion fine-tuned)"
        ),
    }
}

/// AdamW over the trainable layers (torchvision's detection recipes decay weights by 1e-4).
fn optimiser(layers: &Layers, learning_rate: f64) -> Result<Adam, DetectorTrainError> {
    Ok(Adam::new(&layers.vars, learning_rate, 0.9, 0.999)?.with_weight_decay(1e-4))
}

/// The resume state beside the weights `out`: the layers, the optimiser's moments and the
/// iteration reached, in one file so that they always agree.
pub fn resume_path(out: &Path) -> PathBuf {
    out.with_extension("resume.safetensors")
}

const ITERATION: &str = "run.iteration";
const ADAM_STEP: &str = "run.adam_step";

/// Loads the resume state into `layers` and `adam`; returns the iteration to go on from.
fn resume_state(out: &Path, layers: &Layers, adam: &mut Adam) -> Result<u64, DetectorTrainError> {
    let path = resume_path(out);
    let tensors = checkpoint::load_tensors(&path, &Device::Cpu)?;
    checkpoint::fill(&layers.vars, &tensors, "layers.", &path)?;
    let counter = |name: &str| -> Result<u64, DetectorTrainError> {
        let value = tensors
            .get(name)
            .ok_or_else(|| CheckpointError::Missing {
                path: path.clone(),
                name: name.into(),
            })?
            .to_dtype(candle_core::DType::F64)?
            .to_scalar::<f64>()?;
        Ok(value as u64)
    };
    let (iteration, adam_step) = (counter(ITERATION)?, counter(ADAM_STEP)?);
    adam.load_state("adam", &tensors, adam_step)
        .map_err(|reason| DetectorTrainError::Resume {
            path: path.clone(),
            reason,
        })?;
    Ok(iteration)
}

/// One training run: the examples, the frozen backbone, the layers it trains and where they go.
struct Run<'a> {
    examples: &'a [Example],
    backbone: &'a SsdLite,
    layers: &'a Layers,
    out: &'a Path,
    /// What the card says the layers were trained on.
    data: String,
}

impl Run<'_> {
    /// Iterations `first..options.iterations`; returns the iteration reached (less than the
    /// total when cancelled).
    fn go(
        &self,
        mut adam: Adam,
        first: u64,
        options: &DetectorTraining,
        reporter: &dyn Reporter,
        step: &(dyn Fn(&DetectorStep) + Sync),
    ) -> Result<u64, DetectorTrainError> {
        if first >= options.iterations {
            // A resumed run already past the asked total: nothing to do, nothing rewritten.
            return Ok(first);
        }
        let config = self.layers.config();
        let mut metrics = self.open_metrics(first)?;
        let decay_at = (options.iterations as f64 * options.decay_at) as u64;
        let rate = |iter: u64| {
            if iter >= decay_at {
                options.learning_rate * 0.1
            } else {
                options.learning_rate
            }
        };
        // A resumed run draws afresh from where it stopped rather than replaying the draws.
        let mut rng = SeededRng::new(
            options
                .seed
                .wrapping_add(first.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
        );
        let mut order: Vec<usize> = Vec::new();
        for iter in first..options.iterations {
            if reporter.is_cancelled() {
                self.save(&adam, iter)?;
                return Ok(iter);
            }
            reporter.progress(iter, options.iterations, "training the detector");
            adam.set_learning_rate(rate(iter));
            if order.is_empty() {
                order = (0..self.examples.len()).collect();
                for i in (1..order.len()).rev() {
                    order.swap(i, rng.below(i + 1));
                }
            }
            let example = &self.examples[order.pop().unwrap_or(0)];
            let started = Instant::now();
            let (image, truths) = load(example, config, rng.next_f64() < 0.5)?;
            if truths.is_empty() {
                continue;
            }
            let features = backbone_features(self.backbone, &image, config)?;
            let size = (image.width() as f32, image.height() as f32);
            let terms = losses(self.layers, &features, &truths, size, &mut rng)?;
            let total = terms.total()?;
            let values = terms.values()?;
            if values.iter().any(|v| !v.is_finite()) {
                return Err(DetectorTrainError::Diverged(iter + 1));
            }
            adam.step(&total.backward()?)?;
            let record = DetectorStep {
                iter: iter + 1,
                rpn_objectness: values[0],
                rpn_box: values[1],
                head_class: values[2],
                head_box: values[3],
                secs: started.elapsed().as_secs_f32(),
            };
            step(&record);
            let line = serde_json::to_string(&record).unwrap_or_default();
            writeln!(metrics, "{line}").map_err(|source| DetectorTrainError::Write {
                path: self.metrics_path(),
                source,
            })?;
            if (iter + 1).is_multiple_of(options.checkpoint_every.max(1)) {
                self.save(&adam, iter + 1)?;
            }
        }
        self.save(&adam, options.iterations)?;
        Ok(options.iterations)
    }

    fn metrics_path(&self) -> PathBuf {
        self.out.with_extension("metrics.jsonl")
    }

    /// The metrics file, holding the lines of iterations up to `first` of an earlier run (a
    /// run stopped after its last checkpoint logged iterations it now does again).
    fn open_metrics(&self, first: u64) -> Result<std::fs::File, DetectorTrainError> {
        let path = self.metrics_path();
        let write_error = |source| DetectorTrainError::Write {
            path: path.clone(),
            source,
        };
        if let Some(dir) = self.out.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| DetectorTrainError::Write {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let kept: String = if first == 0 {
            String::new()
        } else {
            std::fs::read_to_string(&path)
                .unwrap_or_default()
                .lines()
                .filter(|line| {
                    serde_json::from_str::<DetectorStep>(line).is_ok_and(|s| s.iter <= first)
                })
                .map(|line| format!("{line}\n"))
                .collect()
        };
        crate::atomic::write_atomic(&path, kept.as_bytes()).map_err(write_error)?;
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(write_error)
    }

    /// The weights and their card, and the resume state, as of `iterations` done.
    fn save(&self, adam: &Adam, iterations: u64) -> Result<(), DetectorTrainError> {
        let mut state = checkpoint::named(&self.layers.vars, "layers.");
        state.extend(adam.state("adam")?);
        let device = Device::Cpu;
        state.insert(ITERATION.into(), Tensor::new(iterations as f64, &device)?);
        state.insert(
            ADAM_STEP.into(),
            Tensor::new(adam.step_count() as f64, &device)?,
        );
        checkpoint::save_tensors(&state, &resume_path(self.out))?;
        checkpoint::save_tensors(&checkpoint::named(&self.layers.vars, ""), self.out)?;
        let card = DetectorCard {
            architecture: "faster-rcnn-mobilenetv2-stride16".into(),
            config: self.layers.config().clone(),
            iterations,
            data: self.data.clone(),
            backbone: backbone_description(self.layers.config().backbone_blocks),
        };
        checkpoint::save_json(&card, &checkpoint::sidecar_path(self.out))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 160x128 scene: a red block (class 1) and a blue one (class 2) on grey.
    fn scene(dir: &Path) -> PathBuf {
        let image = RgbImage::from_fn(160, 128, |x, y| {
            if (20..70).contains(&x) && (30..110).contains(&y) {
                image::Rgb([220, 30, 30])
            } else if (100..150).contains(&x) && (10..50).contains(&y) {
                image::Rgb([30, 30, 220])
            } else {
                image::Rgb([120, 120, 120])
            }
        });
        let path = dir.join("scene.png");
        image.save(&path).unwrap();
        path
    }

    #[test]
    fn the_losses_fall_as_it_learns_one_scene() {
        let dir = tempfile::tempdir().unwrap();
        let example = Example {
            path: scene(dir.path()),
            truths: vec![
                Truth {
                    rect: BoxRect::new(20.0, 30.0, 70.0, 110.0),
                    class: 1,
                },
                Truth {
                    rect: BoxRect::new(100.0, 10.0, 150.0, 50.0),
                    class: 2,
                },
            ],
        };
        let device = Device::Cpu;
        let config = DetectorConfig {
            hidden: 64,
            channels: 32,
            ..DetectorConfig::default()
        };
        let person = PersonDetector::shipped(&device).unwrap();
        let backbone = person.network();
        let layers = Layers::new(&config, backbone, &device).unwrap();
        let mut optimiser = optimiser(&layers, 1e-3).unwrap();
        let (image, truths) = load(&example, &config, false).unwrap();
        let features = backbone_features(backbone, &image, &config).unwrap();
        let mut rng = SeededRng::new(3);
        let mut totals = Vec::new();
        for _ in 0..60 {
            let size = (image.width() as f32, image.height() as f32);
            let terms = losses(&layers, &features, &truths, size, &mut rng).unwrap();
            let total = terms.total().unwrap();
            totals.push(total.to_scalar::<f32>().unwrap());
            optimiser.step(&total.backward().unwrap()).unwrap();
        }
        let first: f32 = totals[..5].iter().sum::<f32>() / 5.0;
        let last: f32 = totals[55..].iter().sum::<f32>() / 5.0;
        assert!(last < 0.5 * first, "losses {first} -> {last}: {totals:?}");
    }

    /// Cancels once `after` iterations have begun.
    struct StopAfter {
        after: u64,
        seen: std::sync::atomic::AtomicU64,
    }

    impl Reporter for StopAfter {
        fn progress(&self, _done: u64, _total: u64, _msg: &str) {
            self.seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        fn is_cancelled(&self) -> bool {
            self.seen.load(std::sync::atomic::Ordering::SeqCst) >= self.after
        }
    }

    #[test]
    fn a_stopped_run_resumes_with_its_layers_moments_and_iteration() {
        let dir = tempfile::tempdir().unwrap();
        let examples = vec![Example {
            path: scene(dir.path()),
            truths: vec![Truth {
                rect: BoxRect::new(20.0, 30.0, 70.0, 110.0),
                class: 1,
            }],
        }];
        let device = Device::Cpu;
        let config = DetectorConfig {
            hidden: 32,
            channels: 16,
            context_layers: 1,
            ..DetectorConfig::default()
        };
        let person = PersonDetector::shipped(&device).unwrap();
        let out = dir.path().join("w.safetensors");
        let options = DetectorTraining {
            iterations: 5,
            checkpoint_every: 100,
            ..DetectorTraining::default()
        };
        let layers = Layers::new(&config, person.network(), &device).unwrap();
        let run = Run {
            examples: &examples,
            backbone: person.network(),
            layers: &layers,
            out: &out,
            data: "one scene".into(),
        };
        let stop = StopAfter {
            after: 3,
            seen: 0.into(),
        };
        let reached = run
            .go(
                optimiser(&layers, 1e-3).unwrap(),
                0,
                &options,
                &stop,
                &|_| {},
            )
            .unwrap();
        assert_eq!(reached, 3);
        let saved = checkpoint::named(&layers.vars, "");

        let resumed = Layers::new(&config, person.network(), &device).unwrap();
        let mut adam = optimiser(&resumed, 1e-3).unwrap();
        let first = resume_state(&out, &resumed, &mut adam).unwrap();
        assert_eq!((first, adam.step_count()), (3, 3));
        for (name, tensor) in checkpoint::named(&resumed.vars, "") {
            let diff = (&tensor - &saved[&name]).unwrap().abs().unwrap();
            let max = diff.flatten_all().unwrap().max(0).unwrap();
            assert_eq!(max.to_scalar::<f32>().unwrap(), 0.0, "{name}");
        }
        let run = Run {
            layers: &resumed,
            ..run
        };
        let reached = run
            .go(adam, first, &options, &crate::jobs::Silent, &|_| {})
            .unwrap();
        assert_eq!(reached, 5);
        // Asking again for fewer iterations than reached changes nothing.
        let again = Layers::new(&config, person.network(), &device).unwrap();
        let mut adam = optimiser(&again, 1e-3).unwrap();
        let first = resume_state(&out, &again, &mut adam).unwrap();
        let short = DetectorTraining {
            iterations: 4,
            ..options.clone()
        };
        let run = Run {
            layers: &again,
            ..run
        };
        assert_eq!(
            run.go(adam, first, &short, &crate::jobs::Silent, &|_| {})
                .unwrap(),
            5
        );
        let metrics = std::fs::read_to_string(out.with_extension("metrics.jsonl")).unwrap();
        let iters: Vec<u64> = metrics
            .lines()
            .map(|l| serde_json::from_str::<DetectorStep>(l).unwrap().iter)
            .collect();
        assert_eq!(iters, [1, 2, 3, 4, 5]);
        let card: DetectorCard = checkpoint::load_json(&checkpoint::sidecar_path(&out)).unwrap();
        assert_eq!((card.iterations, card.config), (5, config));
    }

    #[test]
    fn a_flip_mirrors_the_boxes() {
        let dir = tempfile::tempdir().unwrap();
        let example = Example {
            path: scene(dir.path()),
            truths: vec![Truth {
                rect: BoxRect::new(20.0, 30.0, 70.0, 110.0),
                class: 1,
            }],
        };
        let config = DetectorConfig {
            short_side: 0,
            ..DetectorConfig::default()
        };
        let (image, truths) = load(&example, &config, true).unwrap();
        assert_eq!(truths[0].rect, BoxRect::new(90.0, 30.0, 140.0, 110.0));
        assert_eq!(image.get_pixel(159 - 30, 60).0, [220, 30, 30]);
        // Shrunk to a long side of 80: boxes halve.
        let shrink = DetectorConfig {
            max_side: 80,
            ..config.clone()
        };
        let (small, truths) = load(&example, &shrink, false).unwrap();
        assert_eq!((small.width(), small.height()), (80, 64));
        assert_eq!(truths[0].rect, BoxRect::new(10.0, 15.0, 35.0, 55.0));
        // Enlarged to a short side of 256: boxes double.
        let enlarge = DetectorConfig {
            short_side: 256,
            ..config
        };
        let (large, truths) = load(&example, &enlarge, false).unwrap();
        assert_eq!((large.width(), large.height()), (320, 256));
        assert_eq!(truths[0].rect, BoxRect::new(40.0, 60.0, 140.0, 220.0));
    }
}
