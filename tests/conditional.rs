//! Class-conditional generation end to end on tiny models: the class steers what is drawn,
//! resume is exact with every training change on, the saved generator draws what the trainer
//! drew, and the command line asks for classes by name.
// Helpers here unwrap as the tests do: a failure there is a failing test.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use candle_core::Device;
use deepstyle::device::DeviceChoice;
use deepstyle::gan::GanConfig;
use deepstyle::gan::config::Loss;
use deepstyle::gan::data::DataSource;
use deepstyle::gan::sample::load_generator;
use deepstyle::gan::train::{PauseFlag, TrainRequest, train};
use image::{GrayImage, Luma};

/// Two classes in subfolders: `dark` (dim shapes on black) and `light` (bright shapes on a
/// light background).
fn two_classes(dir: &Path, per_class: u32) -> PathBuf {
    let data = dir.join("data");
    for (class, background, shape) in [("dark", 5u8, 70u8), ("light", 200, 250)] {
        let folder = data.join(class);
        std::fs::create_dir_all(&folder).unwrap();
        for i in 0..per_class {
            let (x0, y0) = (2 + (i * 3) % 10, 2 + (i * 5) % 10);
            let (w, h) = (8 + i % 7, 10 + (i * 2) % 9);
            let image = GrayImage::from_fn(32, 32, |x, y| {
                let inside = x >= x0 && x < x0 + w && y >= y0 && y < y0 + h;
                Luma([if inside { shape } else { background }])
            });
            image.save(folder.join(format!("g{i:02}.png"))).unwrap();
        }
    }
    data
}

fn config(iterations: u64) -> GanConfig {
    GanConfig {
        image_size: 32,
        channels: 1,
        z_dim: 16,
        ngf: 8,
        ndf: 8,
        batch_size: 8,
        iterations,
        seed: 5,
        flip: false,
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
        conditional: true,
    }
}

fn weights(path: &Path) -> Vec<(String, Vec<f32>)> {
    let mut named: Vec<(String, Vec<f32>)> = candle_core::safetensors::load(path, &Device::Cpu)
        .unwrap()
        .into_iter()
        .map(|(k, t)| (k, t.flatten_all().unwrap().to_vec1::<f32>().unwrap()))
        .collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    named
}

/// The checkpoint a run kept.
fn checkpoint_of(run: &Path) -> PathBuf {
    std::fs::read_dir(run.join("checkpoints"))
        .unwrap()
        .flatten()
        .find(|e| e.path().extension().is_some_and(|x| x == "safetensors"))
        .unwrap()
        .path()
}

fn mean_brightness(images: &[image::RgbaImage]) -> f64 {
    let sum: f64 = images
        .iter()
        .flat_map(|i| i.pixels().map(|p| p[0] as f64))
        .sum();
    sum / (images.len() * 32 * 32) as f64
}

#[test]
fn the_class_decides_what_the_generator_draws() {
    let dir = tempfile::tempdir().unwrap();
    let data = two_classes(dir.path(), 16);
    let run = dir.path().join("run");
    let fast = GanConfig {
        batch_size: 16,
        lr: 2e-3,
        sample_every: 1000,
        checkpoint_every: 1000,
        ..config(300)
    };
    let summary = train(
        &request(&run, &data, fast, false),
        &PauseFlag::default(),
        &common::QuietTraining,
    )
    .unwrap();
    assert_eq!(summary.iterations, 300);
    let generator = load_generator(&run.join("generator.safetensors"), &Device::Cpu).unwrap();
    assert_eq!(generator.classes(), ["dark", "light"]);
    let draw = |class: usize| {
        let inputs: Vec<Vec<f32>> = (0..16)
            .map(|seed| generator.input_for_seed(seed, 1.0, Some(class)))
            .collect();
        mean_brightness(&generator.images_for_latents(&inputs).unwrap())
    };
    let (dark, light) = (draw(0), draw(1));
    // The real classes average about 17 and 205.
    assert!(
        light - dark > 60.0,
        "the same seeds drawn as dark average {dark:.0}, as light {light:.0}"
    );
    // Half one class, half the other, lies between them.
    let z_dim = generator.z_dim();
    let mixed: Vec<Vec<f32>> = (0..16)
        .map(|seed| {
            let mut input = generator.input_for_seed(seed, 1.0, Some(0));
            input[z_dim] = 0.5;
            input[z_dim + 1] = 0.5;
            input
        })
        .collect();
    let between = mean_brightness(&generator.images_for_latents(&mixed).unwrap());
    assert!(
        dark < between && between < light,
        "{dark} {between} {light}"
    );
}

#[test]
fn resume_is_exact_with_every_training_change_on() {
    let dir = tempfile::tempdir().unwrap();
    let data = two_classes(dir.path(), 8);
    let changes = |iterations| GanConfig {
        loss: Loss::Hinge,
        ema: Some(0.99),
        spectral_norm: true,
        lr_d: Some(4e-4),
        aux_classifier: Some(1.0),
        mode_seeking: Some(1.0),
        twin_classifier: Some(1.0),
        minibatch_stddev: true,
        beta1: 0.0,
        beta2: 0.9,
        ..config(iterations)
    };
    let straight = dir.path().join("straight");
    train(
        &request(&straight, &data, changes(6), false),
        &PauseFlag::default(),
        &common::QuietTraining,
    )
    .unwrap();
    let split = dir.path().join("split");
    train(
        &request(&split, &data, changes(3), false),
        &PauseFlag::default(),
        &common::QuietTraining,
    )
    .unwrap();
    train(
        &request(&split, &data, changes(6), true),
        &PauseFlag::default(),
        &common::QuietTraining,
    )
    .unwrap();
    for file in ["generator.safetensors", "generator-live.safetensors"] {
        let (a, b) = (weights(&straight.join(file)), weights(&split.join(file)));
        assert_eq!(a.len(), b.len());
        for ((name, x), (_, y)) in a.iter().zip(&b) {
            let diff = x
                .iter()
                .zip(y)
                .map(|(p, q)| (p - q).abs())
                .fold(0.0f32, f32::max);
            assert!(diff < 1e-5, "{file}: {name} differs by {diff} after resume");
        }
    }
    // The average is not the live generator.
    let (average, live) = (
        weights(&straight.join("generator.safetensors")),
        weights(&straight.join("generator-live.safetensors")),
    );
    assert!(average.iter().zip(&live).any(|(a, b)| a.1 != b.1));
    // The spectral norms' vectors were saved and are not the initial ones.
    let checkpoint = checkpoint_of(&straight);
    let saved = weights(&checkpoint);
    assert!(saved.iter().any(|(n, _)| n == "d.b1.conv.weight_u"));
    assert!(saved.iter().any(|(n, _)| n.starts_with("ema.b0.bn.gain")));
    assert!(saved.iter().any(|(n, _)| n == "d.twin.classifier"));
    assert!(
        !saved.iter().any(|(n, _)| n.starts_with("d.b1.bn")),
        "SN replaces D's BatchNorm"
    );
}

#[test]
fn the_saved_generator_draws_the_trainers_class_rows() {
    let dir = tempfile::tempdir().unwrap();
    let data = two_classes(dir.path(), 8);
    let run = dir.path().join("run");
    let cfg = GanConfig {
        ema: Some(0.9),
        ..config(4)
    };
    train(
        &request(&run, &data, cfg, false),
        &PauseFlag::default(),
        &common::QuietTraining,
    )
    .unwrap();
    let generator = load_generator(&run.join("generator.safetensors"), &Device::Cpu).unwrap();
    // One row a class, seeds 0..8 in each.
    let inputs: Vec<Vec<f32>> = (0..2)
        .flat_map(|class| (0..8).map(move |seed| (seed, class)))
        .map(|(seed, class)| generator.input_for_seed(seed, 1.0, Some(class)))
        .collect();
    let images = generator.images_for_latents(&inputs).unwrap();
    let layout = deepstyle::export::grid::GridLayout {
        cols: 8,
        ..Default::default()
    };
    let grid = deepstyle::export::grid::tile(&images, &layout);
    let saved = image::open(run.join("samples/iter_000004.png"))
        .unwrap()
        .to_rgba8();
    assert_eq!(grid.dimensions(), saved.dimensions());
    assert!(
        grid.as_raw() == saved.as_raw(),
        "the saved generator is the one that sampled"
    );
}

#[test]
fn an_auxiliary_classifier_needs_a_conditional_model() {
    let dir = tempfile::tempdir().unwrap();
    let data = two_classes(dir.path(), 4);
    let unconditional = TrainRequest {
        conditional: false,
        ..request(
            &dir.path().join("run"),
            &data,
            GanConfig {
                aux_classifier: Some(1.0),
                ..config(2)
            },
            false,
        )
    };
    let err = train(
        &unconditional,
        &PauseFlag::default(),
        &common::QuietTraining,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("auxiliary classifier"), "{err}");
    assert!(!dir.path().join("run/checkpoints/latest.json").exists());
}

#[test]
fn a_twin_classifier_needs_the_auxiliary_one() {
    let config = GanConfig {
        classes: vec!["dark".into(), "light".into()],
        twin_classifier: Some(1.0),
        ..config(2)
    };
    let err = config.validate().unwrap_err().to_string();
    assert!(err.contains("--aux-class"), "{err}");
    let with_aux = GanConfig {
        aux_classifier: Some(1.0),
        ..config
    };
    assert!(with_aux.validate().is_ok());
    let negative = GanConfig {
        twin_classifier: Some(-1.0),
        ..with_aux
    };
    assert!(negative.validate().is_err());
}

#[test]
fn a_folder_without_class_subfolders_cannot_train_a_conditional_model() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("flat");
    std::fs::create_dir_all(&data).unwrap();
    for i in 0..4u8 {
        GrayImage::from_pixel(32, 32, Luma([i * 50]))
            .save(data.join(format!("{i}.png")))
            .unwrap();
    }
    let err = train(
        &request(&dir.path().join("run"), &data, config(2), false),
        &PauseFlag::default(),
        &common::QuietTraining,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("0.png") && err.contains("subfolder"), "{err}");
    assert!(!dir.path().join("run/checkpoints/latest.json").exists());
}

#[test]
fn the_command_line_asks_for_classes_by_name_and_morphs_between_them() {
    let dir = tempfile::tempdir().unwrap();
    let data = two_classes(dir.path(), 6);
    let run = dir.path().join("run");
    let out = Command::cargo_bin("deepstyle")
        .unwrap()
        .arg("train-gan")
        .arg(&data)
        .arg("--out")
        .arg(&run)
        .args([
            "--conditional",
            "--iters",
            "2",
            "--batch",
            "4",
            "--image-size",
            "32",
            "--channels",
            "1",
            "--width",
            "8",
            "--threads",
            "1",
            "--loss",
            "hinge",
            "--ema",
            "0.99",
            "--spectral-norm",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let weights = run.join("generator.safetensors");
    let run_cli = |args: &[&str]| {
        Command::cargo_bin("deepstyle")
            .unwrap()
            .arg(args[0])
            .arg("--weights")
            .arg(&weights)
            .args(&args[1..])
            .output()
            .unwrap()
    };
    // One row a class, captioned.
    let all = dir.path().join("all.png");
    let out = run_cli(&[
        "generate",
        "--seeds",
        "0-2",
        "--class",
        "all",
        "--out",
        all.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let grid = image::open(&all).unwrap();
    assert_eq!(grid.width(), 3 * 32 + 4 * 2, "three seeds a row");
    assert!(grid.height() > 2 * 32 + 3 * 2, "two rows, with captions");

    // By name, any case; the files say the class.
    let light = dir.path().join("light");
    let out = run_cli(&[
        "generate",
        "--seeds",
        "4-5",
        "--class",
        "LIGHT",
        "--out-dir",
        light.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(light.join("light_seed_4.png").is_file());

    // A class the model does not have: one line naming the ones it has.
    let out = run_cli(&[
        "generate",
        "--seeds",
        "0-1",
        "--class",
        "coat",
        "--out",
        all.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("\"coat\"") && stderr.contains("dark, light"),
        "{stderr}"
    );

    // A morph at one seed: the ends are that seed drawn as each class.
    let morph = dir.path().join("morph.png");
    let out = run_cli(&[
        "interpolate",
        "--from",
        "3",
        "--to",
        "3",
        "--class",
        "dark",
        "--to-class",
        "light",
        "--steps",
        "4",
        "--out",
        morph.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ends = dir.path().join("ends");
    for class in ["dark", "light"] {
        let out = run_cli(&[
            "generate",
            "--seeds",
            "3",
            "--class",
            class,
            "--out-dir",
            ends.to_str().unwrap(),
        ]);
        assert!(out.status.success());
    }
    let strip = image::open(&morph).unwrap().to_rgba8();
    let tile = |i: u32| image::imageops::crop_imm(&strip, 2 + i * 34, 2, 32, 32).to_image();
    let first = image::open(ends.join("dark_seed_3.png"))
        .unwrap()
        .to_rgba8();
    let last = image::open(ends.join("light_seed_3.png"))
        .unwrap()
        .to_rgba8();
    assert!(
        tile(0).as_raw() == first.as_raw(),
        "the morph starts at the dark drawing"
    );
    assert!(
        tile(3).as_raw() == last.as_raw(),
        "and ends at the light one"
    );
}

#[test]
fn the_shipped_conditional_generator_draws_each_fashion_mnist_class() {
    let generator =
        deepstyle::gan::sample::load_shipped_conditional_generator(&Device::Cpu).unwrap();
    assert_eq!(generator.classes().len(), 10);
    assert_eq!(generator.class_index("dress"), Ok(3));
    assert_eq!(generator.class_index("9"), Ok(9));
    // Trousers and bags differ in the same seeds: the class, not z, decides the garment.
    let draw = |class: usize| {
        let inputs: Vec<Vec<f32>> = (0..8)
            .map(|seed| generator.input_for_seed(seed, 1.0, Some(class)))
            .collect();
        generator.images_for_latents(&inputs).unwrap()
    };
    let (trousers, bags) = (draw(1), draw(8));
    // A trouser is narrow: its middle column is brighter than its outer quarter columns;
    // a bag fills its width.
    let width_ratio = |images: &[image::RgbaImage]| {
        let column = |x: u32| -> f64 {
            images
                .iter()
                .map(|i| (0..32).map(|y| i.get_pixel(x, y)[0] as f64).sum::<f64>())
                .sum()
        };
        (column(4) + column(27)) / (2.0 * column(16)).max(1.0)
    };
    assert!(
        width_ratio(&trousers) < width_ratio(&bags),
        "trousers {:.2}, bags {:.2}",
        width_ratio(&trousers),
        width_ratio(&bags)
    );
}

#[test]
fn a_projects_crop_categories_are_the_classes() {
    use deepstyle::detect::boxes::BoxRect;
    use deepstyle::export::crops::{CropOptions, write_crops};
    use deepstyle::project::Project;
    use deepstyle::project::ingest::{ImportOptions, import_paths};
    use deepstyle::review::{GarmentBox, Origin};

    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    for i in 0..4u8 {
        image::RgbImage::from_fn(96, 64, |x, y| {
            image::Rgb([x as u8 * 2 + i * 9, y as u8 * 3, i * 50])
        })
        .save(photos.join(format!("look{i}.png")))
        .unwrap();
    }
    let project = Project::create(&dir.path().join("p")).unwrap();
    import_paths(
        &project,
        &[photos],
        &ImportOptions::default(),
        &deepstyle::jobs::Silent,
    )
    .unwrap();
    let catalog = project.catalog().unwrap();
    let garment = |x0: f32, category: &str| GarmentBox {
        id: None,
        rect: BoxRect::new(x0, 4.0, x0 + 40.0, 60.0),
        category: category.into(),
        score: None,
        origin: Origin::Human,
        reviewed: true,
    };
    for image in catalog.list_images().unwrap() {
        catalog
            .save_boxes(
                image.id,
                &[garment(0.0, "upper"), garment(50.0, "lower")],
                None,
            )
            .unwrap();
    }
    let options = CropOptions {
        size: 32,
        square: true,
        ..CropOptions::default()
    };
    write_crops(&project, &options, None, &deepstyle::jobs::Silent).unwrap();

    let run = dir.path().join("run");
    let on_crops = TrainRequest {
        data: DataSource::Project(project.root().to_path_buf()),
        config: GanConfig {
            channels: 3,
            ..config(2)
        },
        ..request(&run, project.root(), config(2), false)
    };
    train(&on_crops, &PauseFlag::default(), &common::QuietTraining).unwrap();
    let generator = load_generator(&run.join("generator.safetensors"), &Device::Cpu).unwrap();
    assert_eq!(generator.classes(), ["lower", "upper"]);

    // A project without crops says what to do.
    let bare = Project::create(&dir.path().join("bare")).unwrap();
    let err = train(
        &TrainRequest {
            data: DataSource::Project(bare.root().to_path_buf()),
            ..request(&dir.path().join("run2"), bare.root(), config(2), false)
        },
        &PauseFlag::default(),
        &common::QuietTraining,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("no crops") && err.contains("Review"), "{err}");
}

#[test]
fn packed_runs_show_d_one_class_a_pack_and_resume_exactly() {
    let dir = tempfile::tempdir().unwrap();
    // Three and five images a class: some batches leave a class's last image out of the packs.
    let data = two_classes(dir.path(), 5);
    let packed = |iterations| GanConfig {
        aux_classifier: Some(1.0),
        minibatch_stddev: true,
        pack: 2,
        ..config(iterations)
    };
    let (straight, split) = (dir.path().join("straight"), dir.path().join("split"));
    for (run, iterations, resume) in [(&straight, 6, false), (&split, 3, false), (&split, 6, true)]
    {
        train(
            &request(run, &data, packed(iterations), resume),
            &PauseFlag::default(),
            &common::QuietTraining,
        )
        .unwrap();
    }
    let (a, b) = (
        weights(&straight.join("generator.safetensors")),
        weights(&split.join("generator.safetensors")),
    );
    assert!(a.iter().zip(&b).all(|(x, y)| x == y), "resume is exact");
    let checkpoint = checkpoint_of(&straight);
    let first = candle_core::safetensors::load(&checkpoint, &Device::Cpu).unwrap();
    let first = first.get("d.b0.conv.weight").unwrap();
    assert_eq!(
        first.dims(),
        &[8, 2, 4, 4],
        "D sees a pack of two grey images"
    );
    // Packing and the mode-seeking term both pair fakes; together they are refused.
    let both = GanConfig {
        mode_seeking: Some(1.0),
        ..packed(2)
    };
    let err = train(
        &request(&dir.path().join("both"), &data, both, false),
        &PauseFlag::default(),
        &common::QuietTraining,
    )
    .unwrap_err();
    assert!(err.to_string().contains("cannot be combined"), "{err}");
}
