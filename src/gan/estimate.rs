//! How long a run would take, before it starts: a few real iterations of the configured
//! networks on random batches, timed on the chosen device with the run's thread count, and a
//! judgement of whether the data are enough for the model.

use std::time::Instant;

use candle_core::Tensor;

use super::config::GanConfig;
use super::model::Networks;
use super::train::{TrainError, adversarial_step};
use crate::device::DeviceChoice;
use crate::jobs::Reporter;
use crate::latent::SeededRng;

/// Iterations run before timing (allocations, caches and kernel plans settle in the first).
const WARM_UP: usize = 1;
/// Iterations timed; the estimate is their median.
const TIMED: usize = 3;

/// The measured cost of one iteration and what the whole run would take at that pace.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunEstimate {
    /// Seconds per iteration (median of the timed ones).
    pub secs_per_iteration: f64,
    /// Seconds for `config.iterations`, without checkpoints and samples.
    pub total_secs: f64,
    /// Seconds until the first sample grid (`config.sample_every` iterations).
    pub first_sample_secs: f64,
}

/// Times [`WARM_UP`] + [`TIMED`] iterations of `config` on `device`, in a pool of
/// `config.compute_threads()` threads, checking `reporter` for a cancel between iterations.
pub fn estimate_run(
    config: &GanConfig,
    device: DeviceChoice,
    reporter: &dyn Reporter,
) -> Result<RunEstimate, TrainError> {
    config.validate()?;
    let threads = config.compute_threads();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("estimate-{i}"))
        .build()
        .map_err(|_| TrainError::Threads(threads))?;
    let secs = pool.install(|| time_iterations(config, device, reporter))?;
    Ok(RunEstimate {
        secs_per_iteration: secs,
        total_secs: secs * config.iterations as f64,
        first_sample_secs: secs * config.sample_every.min(config.iterations) as f64,
    })
}

fn time_iterations(
    config: &GanConfig,
    device: DeviceChoice,
    reporter: &dyn Reporter,
) -> Result<f64, TrainError> {
    let device = device.open()?;
    let nets = Networks::new(config, config.seed, &device)?;
    let (mut opt_g, mut opt_d) = nets.optimisers(config)?;
    let mut rng = SeededRng::new(config.seed);
    let random = |rng: &mut SeededRng, shape: &[usize]| -> candle_core::Result<Tensor> {
        let mut values = vec![0.0f32; shape.iter().product()];
        rng.normal(&mut values);
        Tensor::from_vec(values, shape, &device)
    };
    let size = config.image_size;
    let real = random(&mut rng, &[config.batch_size, config.channels, size, size])?.tanh()?;
    let z = random(&mut rng, &[config.batch_size, config.z_dim])?;
    let k = config.classes.len();
    let classes = if k == 0 {
        None
    } else {
        let labels: Vec<usize> = (0..config.batch_size).map(|i| i % k).collect();
        Some(super::condition::one_hot(&labels, k, &device)?)
    };
    let total = (WARM_UP + TIMED) as u64;
    let mut times = Vec::with_capacity(TIMED);
    for i in 0..WARM_UP + TIMED {
        if reporter.is_cancelled() {
            return Err(TrainError::Cancelled);
        }
        reporter.progress(i as u64, total, "timing iterations");
        let start = Instant::now();
        let losses = adversarial_step(
            &nets,
            (&mut opt_d, &mut opt_g),
            super::train::Objective::of(config),
            &real,
            classes.as_ref(),
            &z,
        )?;
        // Reading the losses waits for the device, as the trainer does every iteration.
        losses.d_loss.to_scalar::<f32>()?;
        losses.g_loss.to_scalar::<f32>()?;
        if i >= WARM_UP {
            times.push(start.elapsed().as_secs_f64());
        }
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

/// A warning when `images` are too few to train `config` well, or `None`.
pub fn data_warning(config: &GanConfig, images: u64) -> Option<String> {
    if images == 0 {
        return Some("No training images yet: import or collect photos first.".into());
    }
    if images < config.batch_size as u64 {
        return Some(format!(
            "Only {images} images for batches of {}: every batch repeats them. \
             Lower the batch size or add images.",
            config.batch_size
        ));
    }
    // DCGAN's published runs used tens of thousands of images; under a thousand the generator
    // learns the images themselves rather than garments, the larger the model the sooner.
    let enough = if config.image_size >= 64 {
        2_000
    } else {
        1_000
    };
    (images < enough).then(|| {
        format!(
            "{images} images are few for a GAN at {0}x{0}: expect near-copies of them. \
             Thousands of crops (or Fashion-MNIST) train garments that are new.",
            config.image_size
        )
    })
}

/// Seconds as a designer reads them: "40 s", "12 min", "6 h 34 min".
pub fn format_duration(secs: f64) -> String {
    let secs = secs.max(0.0) as u64;
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min", secs / 60),
        _ => format!("{} h {} min", secs / 3600, (secs % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::Silent;

    fn small() -> GanConfig {
        GanConfig {
            image_size: 32,
            channels: 1,
            ngf: 8,
            ndf: 8,
            batch_size: 4,
            iterations: 1_000,
            sample_every: 50,
            threads: Some(1),
            ..GanConfig::default()
        }
    }

    #[test]
    fn the_estimate_scales_with_the_iterations_and_a_bigger_model_costs_more() {
        let config = small();
        let estimate = estimate_run(&config, DeviceChoice::Cpu, &Silent).unwrap();
        assert!(estimate.secs_per_iteration > 0.0);
        assert!((estimate.total_secs - 1_000.0 * estimate.secs_per_iteration).abs() < 1e-9);
        assert!((estimate.first_sample_secs - 50.0 * estimate.secs_per_iteration).abs() < 1e-9);
        let bigger = GanConfig {
            ngf: 32,
            ndf: 32,
            batch_size: 32,
            ..config
        };
        let big = estimate_run(&bigger, DeviceChoice::Cpu, &Silent).unwrap();
        assert!(
            big.secs_per_iteration > 2.0 * estimate.secs_per_iteration,
            "{big:?} vs {estimate:?}"
        );
    }

    #[test]
    fn a_cancelled_estimate_stops_and_a_bad_config_is_refused() {
        struct Cancelled;
        impl Reporter for Cancelled {
            fn progress(&self, _: u64, _: u64, _: &str) {}
            fn is_cancelled(&self) -> bool {
                true
            }
        }
        let result = estimate_run(&small(), DeviceChoice::Cpu, &Cancelled);
        assert!(matches!(result, Err(TrainError::Cancelled)), "{result:?}");
        let bad = GanConfig {
            image_size: 48,
            ..small()
        };
        assert!(matches!(
            estimate_run(&bad, DeviceChoice::Cpu, &Silent),
            Err(TrainError::Config(_))
        ));
    }

    #[test]
    fn few_images_are_warned_about_and_many_are_not() {
        let config = GanConfig::default();
        assert!(
            data_warning(&config, 0)
                .unwrap()
                .contains("No training images")
        );
        assert!(
            data_warning(&config, 32)
                .unwrap()
                .contains("every batch repeats")
        );
        assert!(
            data_warning(&config, 500)
                .unwrap()
                .contains("500 images are few")
        );
        assert_eq!(data_warning(&config, 60_000), None);
        let small = GanConfig {
            image_size: 32,
            ..config
        };
        assert_eq!(data_warning(&small, 1_500), None);
    }

    #[test]
    fn durations_read_as_a_designer_reads_them() {
        assert_eq!(format_duration(40.2), "40 s");
        assert_eq!(format_duration(725.0), "12 min");
        assert_eq!(
            format_duration(6.0 * 3600.0 + 34.0 * 60.0 + 5.0),
            "6 h 34 min"
        );
        assert_eq!(format_duration(-3.0), "0 s");
    }
}
