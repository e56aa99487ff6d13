//! DCGAN training end to end on tiny models: it learns, checkpoints round-trip, resume is
//! exact, divergence stops cleanly, and bad input gets a clear error.
// Helpers here unwrap as the tests do: a failure there is a failing test.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};

use candle_core::Device;
use deepstyle::device::DeviceChoice;
use deepstyle::gan::GanConfig;
use deepstyle::gan::data::DataSource;
use deepstyle::gan::sample::load_generator;
use deepstyle::gan::train::{
    CheckpointMeta, PauseFlag, StepMetrics, TrainError, TrainEvent, TrainRequest, TrainSink,
    latest_meta_path, train,
};
use deepstyle::jobs::Reporter;
use image::{GrayImage, Luma};

/// Garment-like blobs: a bright rectangle of varying size and place on black.
fn tiny_dataset(dir: &Path, count: u32) -> PathBuf {
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    for i in 0..count {
        let (x0, y0) = (2 + (i * 3) % 10, 2 + (i * 5) % 10);
        let (w, h) = (8 + i % 7, 10 + (i * 2) % 9);
        let image = GrayImage::from_fn(32, 32, |x, y| {
            let inside = x >= x0 && x < x0 + w && y >= y0 && y < y0 + h;
            Luma([if inside { 230 } else { 10 }])
        });
        image.save(data.join(format!("g{i:02}.png"))).unwrap();
    }
    data
}

fn tiny_config(iterations: u64) -> GanConfig {
    GanConfig {
        image_size: 32,
        channels: 1,
        z_dim: 16,
        ngf: 8,
        ndf: 8,
        batch_size: 8,
        iterations,
        seed: 3,
        flip: true,
        sample_every: 2,
        checkpoint_every: 2,
        threads: Some(1),
        ..GanConfig::default()
    }
}

fn request(run_dir: &Path, data: &Path, config: GanConfig, resume: bool) -> TrainRequest {
    TrainRequest {
        run_dir: run_dir.to_path_buf(),
        data: DataSource::Folder(data.to_path_buf()),
        config,
        resume,
        device: DeviceChoice::Cpu,
        epochs: None,
        lr_override: None,
        conditional: false,
    }
}

#[derive(Default)]
struct Collect {
    events: std::sync::Mutex<Vec<TrainEvent>>,
}

impl Reporter for Collect {
    fn progress(&self, _done: u64, _total: u64, _msg: &str) {}
    fn is_cancelled(&self) -> bool {
        false
    }
}

impl TrainSink for Collect {
    fn event(&self, event: TrainEvent) {
        self.events.lock().unwrap().push(event);
    }
}

fn metrics(run_dir: &Path) -> Vec<StepMetrics> {
    std::fs::read_to_string(run_dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn generator_weights(run_dir: &Path) -> Vec<(String, Vec<f32>)> {
    let tensors =
        candle_core::safetensors::load(run_dir.join("generator.safetensors"), &Device::Cpu)
            .unwrap();
    let mut named: Vec<(String, Vec<f32>)> = tensors
        .into_iter()
        .map(|(k, t)| (k, t.flatten_all().unwrap().to_vec1::<f32>().unwrap()))
        .collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    named
}

#[test]
fn a_few_steps_lower_the_discriminator_loss_and_move_the_generator() {
    let dir = tempfile::tempdir().unwrap();
    let data = tiny_dataset(dir.path(), 24);
    let run = dir.path().join("run");
    let sink = Collect::default();
    let summary = train(
        &request(&run, &data, tiny_config(1), false),
        &PauseFlag::default(),
        &sink,
    )
    .unwrap();
    assert_eq!(summary.iterations, 1);
    let before = generator_weights(&run);

    let run = dir.path().join("run40");
    let summary = train(
        &request(&run, &data, tiny_config(40), false),
        &PauseFlag::default(),
        &sink,
    )
    .unwrap();
    assert_eq!(summary.iterations, 40);
    let m = metrics(&run);
    assert_eq!(m.len(), 40);
    assert_eq!(
        m.iter().map(|s| s.iter).collect::<Vec<_>>(),
        (1..=40).collect::<Vec<_>>()
    );
    let late: f32 = m[30..].iter().map(|s| s.d_loss).sum::<f32>() / 10.0;
    assert!(
        late < m[0].d_loss,
        "D loss {} at first, {late} at the end",
        m[0].d_loss
    );
    let after = generator_weights(&run);
    let moved = before
        .iter()
        .zip(&after)
        .filter(|(a, _)| !a.0.contains("running"))
        .all(|(a, b)| a.1 != b.1);
    assert!(moved, "every generator weight changed");
    assert!(run.join("samples/iter_000040.png").is_file());
    let events = sink.events.lock().unwrap();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, TrainEvent::Sample { iter: 40, .. }))
    );
}

#[test]
fn the_saved_generator_reproduces_the_trainers_samples() {
    let dir = tempfile::tempdir().unwrap();
    let data = tiny_dataset(dir.path(), 16);
    let run = dir.path().join("run");
    train(
        &request(&run, &data, tiny_config(4), false),
        &PauseFlag::default(),
        &Collect::default(),
    )
    .unwrap();
    let loaded = load_generator(&run.join("generator.safetensors"), &Device::Cpu).unwrap();
    assert_eq!(loaded.card.iterations, 4);
    let seeds: Vec<u64> = (0..64).collect();
    let ours = loaded.images_for_seeds(&seeds, 1.0).unwrap();
    let grid = deepstyle::export::grid::tile(&ours, &Default::default());
    let saved = image::open(run.join("samples/iter_000004.png"))
        .unwrap()
        .to_rgba8();
    assert_eq!(grid.dimensions(), saved.dimensions());
    assert!(
        grid.as_raw() == saved.as_raw(),
        "the loaded generator draws the same samples"
    );
}

#[test]
fn resume_continues_the_iteration_count_and_optimiser_state_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let data = tiny_dataset(dir.path(), 16);
    let straight = dir.path().join("straight");
    train(
        &request(&straight, &data, tiny_config(6), false),
        &PauseFlag::default(),
        &Collect::default(),
    )
    .unwrap();

    let split = dir.path().join("split");
    train(
        &request(&split, &data, tiny_config(3), false),
        &PauseFlag::default(),
        &Collect::default(),
    )
    .unwrap();
    // A second plain start must not overwrite the run.
    let err = train(
        &request(&split, &data, tiny_config(6), false),
        &PauseFlag::default(),
        &Collect::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("--resume"), "{err}");
    let summary = train(
        &request(&split, &data, tiny_config(6), true),
        &PauseFlag::default(),
        &Collect::default(),
    )
    .unwrap();
    assert_eq!(summary.iterations, 6);

    let meta: CheckpointMeta =
        serde_json::from_slice(&std::fs::read(latest_meta_path(&split)).unwrap()).unwrap();
    assert_eq!((meta.iteration, meta.g_steps, meta.d_steps), (6, 6, 6));
    assert_eq!(
        metrics(&split).iter().map(|m| m.iter).collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5, 6]
    );
    for ((name, a), (_, b)) in generator_weights(&straight)
        .iter()
        .zip(generator_weights(&split))
    {
        let diff = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f32, f32::max);
        assert!(diff < 1e-5, "{name} differs by {diff} after resume");
    }
}

#[test]
fn a_diverging_run_stops_and_keeps_the_last_good_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let data = tiny_dataset(dir.path(), 16);
    let run = dir.path().join("run");
    let config = GanConfig {
        checkpoint_every: 1,
        sample_every: 1000,
        ..tiny_config(3)
    };
    train(
        &request(&run, &data, config.clone(), false),
        &PauseFlag::default(),
        &Collect::default(),
    )
    .unwrap();
    // Continue with an absurd learning rate: the weights blow up within a step or two.
    let blow_up = TrainRequest {
        lr_override: Some(1e30),
        ..request(
            &run,
            &data,
            GanConfig {
                iterations: 50,
                ..config
            },
            true,
        )
    };
    let err = train(&blow_up, &PauseFlag::default(), &Collect::default()).unwrap_err();
    let TrainError::Diverged { iter, .. } = err else {
        panic!("expected divergence, got {err}");
    };
    assert!(err_text_mentions_checkpoint(&err));
    let meta: CheckpointMeta =
        serde_json::from_slice(&std::fs::read(latest_meta_path(&run)).unwrap()).unwrap();
    assert_eq!(
        meta.iteration,
        iter - 1,
        "the checkpoint is the last finite iteration"
    );
    assert_eq!(metrics(&run).len() as u64, iter - 1);
}

fn err_text_mentions_checkpoint(err: &TrainError) -> bool {
    err.to_string().contains("last good checkpoint")
}

#[test]
fn bad_input_gets_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    std::fs::write(empty.join("notes.txt"), "no pictures here").unwrap();
    let err = train(
        &request(&dir.path().join("r1"), &empty, tiny_config(2), false),
        &PauseFlag::default(),
        &Collect::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("no usable images") && err.contains("empty"),
        "{err}"
    );

    let missing = dir.path().join("missing");
    let err = train(
        &request(&dir.path().join("r2"), &missing, tiny_config(2), false),
        &PauseFlag::default(),
        &Collect::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("missing") && err.contains("no such folder"),
        "{err}"
    );

    // Resuming a 32 px run as 64 px names both sizes.
    let data = tiny_dataset(dir.path(), 8);
    let run = dir.path().join("r3");
    train(
        &request(&run, &data, tiny_config(2), false),
        &PauseFlag::default(),
        &Collect::default(),
    )
    .unwrap();
    let bigger = GanConfig {
        image_size: 64,
        ..tiny_config(4)
    };
    let err = train(
        &request(&run, &data, bigger, true),
        &PauseFlag::default(),
        &Collect::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("32x32") && err.contains("64x64"), "{err}");

    // A generator whose sidecar claims another width: the first mismatching tensor is named.
    let weights = run.join("generator.safetensors");
    let sidecar = run.join("generator.json");
    let text = std::fs::read_to_string(&sidecar)
        .unwrap()
        .replace("\"ngf\": 8", "\"ngf\": 16");
    std::fs::write(&sidecar, text).unwrap();
    let err = load_generator(&weights, &Device::Cpu)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("b0.") && err.contains("shape"), "{err}");
}
