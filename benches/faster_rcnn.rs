//! The garment detector's speed beside torchvision's `fasterrcnn_mobilenet_v3_large_fpn`
//! (random initialisation, same 512x512 images, same thread count) in one run: milliseconds
//! per image for inference and per training iteration (one image and its boxes).
//!
//! `cargo bench --bench faster_rcnn -- [--images N] [--rounds N]`
//!
//! The reference runs `bench/faster_rcnn_torch.py` with the Python named by
//! `DEEPSTYLE_TORCH_PYTHON` (one with torch, torchvision and pillow); without it only our side
//! runs. Ours: the person detector's MobileNetV2 at stride 16 (frozen but for the last blocks the
//! shipped configuration fine-tunes) with the RPN and box head
//! after it (fresh weights); theirs: MobileNetV3 with an FPN, all trained. The two are not the
//! same network: the ratio says what a designer waits, not which kernels are faster.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use candle_core::Device;
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use deepstyle::detect::boxes::BoxRect;
use deepstyle::detect::faster_rcnn::infer::GarmentDetector;
use deepstyle::detect::faster_rcnn::loss::{Truth, losses};
use deepstyle::detect::faster_rcnn::model::{DetectorConfig, Layers, backbone_features};
use deepstyle::detect::faster_rcnn::train::DetectorCard;
use deepstyle::detect::ssd::PersonDetector;
use deepstyle::latent::SeededRng;
use image::RgbImage;

fn arg(args: &[String], name: &str, default: usize) -> usize {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// 512x512 pictures made from the two test photographs (scaled, shifted, mirrored).
fn pictures(count: usize) -> Vec<RgbImage> {
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/photos");
    let bases: Vec<RgbImage> = ["astronaut.png", "camera.png"]
        .iter()
        .map(|n| image::open(format!("{data}/{n}")).unwrap().to_rgb8())
        .collect();
    (0..count)
        .map(|i| {
            let base = &bases[i % 2];
            let side = 512 + (i as u32 % 4) * 40;
            let mut big =
                image::imageops::resize(base, side, side, image::imageops::FilterType::Triangle);
            if i % 3 == 0 {
                image::imageops::flip_horizontal_in_place(&mut big);
            }
            let shift = (i as u32 * 13) % (side - 511);
            image::imageops::crop_imm(&big, shift, 0, 512, 512).to_image()
        })
        .collect()
}

fn torch_reference(paths: &[PathBuf], rounds: usize, threads: usize) -> Option<serde_json::Value> {
    let python = std::env::var("DEEPSTYLE_TORCH_PYTHON").ok()?;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/faster_rcnn_torch.py");
    let out = Command::new(python)
        .arg(script)
        .args(paths)
        .args([
            "--rounds",
            &rounds.to_string(),
            "--threads",
            &threads.to_string(),
        ])
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!(
            "torchvision reference failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().last()?).ok()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let count = arg(&args, "--images", 6);
    let rounds = arg(&args, "--rounds", 3);
    let threads = rayon::current_num_threads();
    let cpu = ["avx512f", "avx2", "fma"]
        .into_iter()
        .filter(|f| std::fs::read_to_string("/proc/cpuinfo").is_ok_and(|c| c.contains(f)))
        .collect::<Vec<_>>()
        .join(" ");
    println!("{threads} threads, CPU features: {cpu}");

    let dir = tempfile::tempdir().unwrap();
    let images = pictures(count);
    let paths: Vec<PathBuf> = images
        .iter()
        .enumerate()
        .map(|(i, image)| {
            let path = dir.path().join(format!("picture{i}.png"));
            image.save(&path).unwrap();
            path
        })
        .collect();

    // Fresh weights, written as train-detector writes them, loaded as the studio loads them.
    let device = Device::Cpu;
    let config = DetectorConfig::default();
    let person = PersonDetector::shipped(&device).unwrap();
    let layers = Layers::new(&config, person.network(), &device).unwrap();
    let weights = dir.path().join("fresh.safetensors");
    deepstyle::checkpoint::save_tensors(&deepstyle::checkpoint::named(&layers.vars, ""), &weights)
        .unwrap();
    let card = DetectorCard {
        architecture: "faster-rcnn-mobilenetv2-stride16".into(),
        config: config.clone(),
        iterations: 0,
        data: "none (benchmark)".into(),
        backbone: "ssdlite-person".into(),
    };
    deepstyle::checkpoint::save_json(&card, &deepstyle::checkpoint::sidecar_path(&weights))
        .unwrap();
    let detector = GarmentDetector::from_file(&weights, &device).unwrap();
    let infer_round = || {
        let start = Instant::now();
        for image in &images {
            detector.detect(image, 0.05).unwrap();
        }
        start.elapsed().as_secs_f64() * 1000.0 / images.len() as f64
    };
    infer_round();
    let infer = median((0..rounds).map(|_| infer_round()).collect());

    let mut optimiser = AdamW::new(layers.vars.all_vars(), ParamsAdamW::default()).unwrap();
    let truths = [
        Truth {
            rect: BoxRect::new(60.0, 80.0, 260.0, 440.0),
            class: 1,
        },
        Truth {
            rect: BoxRect::new(300.0, 40.0, 480.0, 220.0),
            class: 3,
        },
    ];
    let mut rng = SeededRng::new(1);
    let mut train_round = || {
        let start = Instant::now();
        // On a pool thread, as `train-detector` runs its iterations.
        deepstyle::kernels::threads::on_pool_thread(|| {
            for image in &images {
                let features = backbone_features(person.network(), image, &config).unwrap();
                let terms = losses(&layers, &features, &truths, (512.0, 512.0), &mut rng).unwrap();
                optimiser.backward_step(&terms.total().unwrap()).unwrap();
            }
        });
        start.elapsed().as_secs_f64() * 1000.0 / images.len() as f64
    };
    train_round();
    let train = median((0..rounds).map(|_| train_round()).collect());

    println!(
        "\n| {count} pictures of 512x512 | inference ms per image | training ms per iteration |"
    );
    println!("| --- | --- | --- |");
    println!(
        "| ours (MobileNetV2 stride 16, last {} blocks trained, RPN, box head) | {infer:.1} | {train:.1} |",
        config.backbone_blocks
    );
    match torch_reference(&paths, rounds, threads) {
        Some(reference) => {
            let (ti, tt) = (
                reference["infer_ms"].as_f64().unwrap_or(f64::NAN),
                reference["train_ms"].as_f64().unwrap_or(f64::NAN),
            );
            println!(
                "| torchvision {} fasterrcnn_mobilenet_v3_large_fpn (torch {}) | {ti:.1} | {tt:.1} |",
                reference["torchvision"].as_str().unwrap_or("?"),
                reference["torch"].as_str().unwrap_or("?")
            );
            println!(
                "| ratio ours / torchvision | {:.2} | {:.2} |",
                infer / ti,
                train / tt
            );
        }
        None => println!("| torchvision (set DEEPSTYLE_TORCH_PYTHON) | n/a | n/a |"),
    }
}
