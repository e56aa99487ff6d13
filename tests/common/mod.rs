//! Fixtures made at test time: real encoded images and the broken files the real world sends.
#![allow(dead_code)]
// Test helpers unwrap as tests do: a failure there is a failing test.
#![allow(clippy::unwrap_used)]

use std::io::Cursor;
use std::path::{Path, PathBuf};

use image::{ImageFormat, Rgb, RgbImage};

/// A picture that differs per `seed` in structure, not just noise (so dHashes differ).
pub fn picture(seed: u32, width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        let band = ((x * (seed % 7 + 1) + y * (seed % 5 + 2)) / 9) % 2;
        let v = (x * 7 + y * 3 + seed * 40) % 256;
        if band == 0 {
            Rgb([v as u8, (255 - v) as u8, (seed * 31 % 256) as u8])
        } else {
            Rgb([(seed * 17 % 256) as u8, v as u8, 40])
        }
    })
}

pub fn encode(image: &RgbImage, format: ImageFormat) -> Vec<u8> {
    let mut bytes = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut bytes), format)
        .unwrap();
    bytes
}

pub fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, bytes).unwrap();
    path
}

/// The signature and IHDR chunk of a PNG claiming `width` x `height` RGBA pixels, no data.
pub fn png_bomb_header(width: u32, height: u32) -> Vec<u8> {
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 6, 0, 0, 0]);
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.extend_from_slice(&13u32.to_be_bytes());
    bytes.extend_from_slice(&ihdr);
    let mut crc = 0xFFFF_FFFFu32;
    for &b in &ihdr {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    bytes.extend_from_slice(&(!crc).to_be_bytes());
    bytes
}

/// A folder of good images in every supported format plus the four kinds of bad file.
pub struct MixedFolder {
    pub dir: tempfile::TempDir,
    pub good: Vec<PathBuf>,
    pub bad: Vec<PathBuf>,
}

pub fn mixed_folder() -> MixedFolder {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let good = vec![
        write(
            root,
            "look1.jpg",
            &encode(&picture(1, 64, 48), ImageFormat::Jpeg),
        ),
        write(
            root,
            "look2.png",
            &encode(&picture(2, 40, 60), ImageFormat::Png),
        ),
        write(
            root,
            "nested/deeper/look3.webp",
            &encode(&picture(3, 32, 32), ImageFormat::WebP),
        ),
        write(
            root,
            "nested/look4.bmp",
            &encode(&picture(4, 30, 20), ImageFormat::Bmp),
        ),
        write(
            root,
            "look5.gif",
            &encode(&picture(5, 24, 24), ImageFormat::Gif),
        ),
    ];
    let full_jpeg = encode(&picture(6, 128, 96), ImageFormat::Jpeg);
    let bad = vec![
        write(root, "empty.jpg", b""),
        write(root, "truncated.jpg", &full_jpeg[..full_jpeg.len() / 3]),
        write(root, "notes.png", b"this is a text file, not a picture\n"),
        write(root, "bomb.png", &png_bomb_header(50_000, 50_000)),
    ];
    write(root, "readme.txt", b"not an image extension: skipped");
    MixedFolder { dir, good, bad }
}

/// A file or folder dropped onto the window, as the windowing backend hands it over.
#[derive(Debug)]
pub struct Dropped(std::path::PathBuf);

impl egui::DroppedFile for Dropped {
    fn path(&self) -> &std::path::Path {
        &self.0
    }
    fn bytes(&self) -> Result<Vec<u8>, String> {
        std::fs::read(&self.0).map_err(|e| e.to_string())
    }
}

pub fn dropped(path: &std::path::Path) -> egui::DroppedFileHandle {
    std::sync::Arc::new(Dropped(path.to_path_buf()))
}
/// Fashion-MNIST's train split in IDX form: `count` 28x28 garments, class `i % 10`, each a
/// bright shape whose size depends on its class and index.
pub fn write_fashion_mnist(dir: &Path, count: usize) {
    std::fs::create_dir_all(dir).unwrap();
    let mut images = vec![0, 0, 8, 3];
    for dim in [count as u32, 28, 28] {
        images.extend(dim.to_be_bytes());
    }
    let mut labels = vec![0, 0, 8, 1];
    labels.extend((count as u32).to_be_bytes());
    for i in 0..count {
        let class = (i % 10) as u32;
        let (half_w, half_h) = (4 + class % 5 + (i as u32 % 3), 6 + class / 2);
        for y in 0..28u32 {
            for x in 0..28u32 {
                let inside = x.abs_diff(14) <= half_w && y.abs_diff(14) <= half_h;
                images.push(if inside {
                    180 + (x * 2 + y) as u8 % 60
                } else {
                    0
                });
            }
        }
        labels.push(class as u8);
    }
    std::fs::write(dir.join("train-images-idx3-ubyte"), images).unwrap();
    std::fs::write(dir.join("train-labels-idx1-ubyte"), labels).unwrap();
}

/// Runs a pycocotools `script` with `args` and returns what it printed. Where python3 or
/// pycocotools is missing it says so and returns `None`, unless `DEEPSTYLE_REQUIRE_PYCOCOTOOLS`
/// is set (as `.ci/run` sets it): then, as on any other failure, the test fails.
pub fn pycocotools(script: &str, args: &[&Path]) -> Option<String> {
    let python = std::process::Command::new("python3")
        .args(["-c", script])
        .args(args)
        .output();
    let required = std::env::var_os("DEEPSTYLE_REQUIRE_PYCOCOTOOLS").is_some();
    match python {
        Ok(run) if run.status.success() => Some(String::from_utf8_lossy(&run.stdout).into_owned()),
        Ok(run) if !required => {
            let stderr = String::from_utf8_lossy(&run.stderr);
            eprintln!(
                "pycocotools not run here ({}); .ci/run installs it and requires this check",
                stderr.lines().last().unwrap_or("")
            );
            None
        }
        Err(e) if !required => {
            eprintln!("no python3 here ({e}); .ci/run requires this check");
            None
        }
        other => panic!("pycocotools failed: {other:?}"),
    }
}

pub mod server;

/// A training sink that ignores everything and is never cancelled.
pub struct QuietTraining;

impl deepstyle::jobs::Reporter for QuietTraining {
    fn progress(&self, _done: u64, _total: u64, _msg: &str) {}
    fn is_cancelled(&self) -> bool {
        false
    }
}

impl deepstyle::gan::train::TrainSink for QuietTraining {
    fn event(&self, _event: deepstyle::gan::train::TrainEvent) {}
}
