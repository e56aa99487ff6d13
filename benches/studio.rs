//! Studio benchmark: import throughput, and the window's frame time over a 10,000-image
//! library while an import job runs.
//!
//! Run: `cargo bench --bench studio` (add `-- --quick` for a smaller run). It prints:
//! - import throughput for 1,000 JPEGs of 800x600 (what a phone photo shrinks to on the web),
//! - the frame time (mean, p95, worst of 300 frames) of the studio's UI code while the library
//!   grid shows 10,000+ images, the grid scrolls every frame and another import job runs.
//!   The frame time is the CPU time of one egui frame (layout, thumbnail uploads, tessellation),
//!   measured through egui_kittest; GPU rasterisation is not included.

#[path = "../tests/common/mod.rs"]
mod common;

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use deepstyle::jobs::Silent;
use deepstyle::project::Project;
use deepstyle::project::ingest::{self, ImportOptions};
use deepstyle::ui::app::Settings;
use deepstyle::ui::{Startup, StudioApp};
use egui_kittest::Harness;
use image::{ImageFormat, Rgb, RgbImage};
use rayon::prelude::*;

fn photo(seed: u32, width: u32, height: u32) -> Vec<u8> {
    let image = RgbImage::from_fn(width, height, |x, y| {
        let fx = x as f32 / width as f32;
        let fy = y as f32 / height as f32;
        let s = seed as f32 * 0.37;
        let r = 128.0 + 100.0 * (fx * 9.0 + s).sin() * (fy * 4.0 - s).cos();
        let g = 128.0 + 100.0 * (fy * 7.0 + s * 1.3).sin();
        let b = 128.0 + 100.0 * ((fx + fy) * 5.0 + s * 0.7).cos();
        Rgb([r as u8, g as u8, b as u8])
    });
    let mut bytes = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut bytes), ImageFormat::Jpeg)
        .expect("encode");
    bytes
}

fn write_photos(dir: &Path, first_seed: u32, count: u32, width: u32, height: u32) -> Vec<PathBuf> {
    std::fs::create_dir_all(dir).expect("mkdir");
    (first_seed..first_seed + count)
        .into_par_iter()
        .map(|seed| {
            let path = dir.join(format!("photo{seed:06}.jpg"));
            std::fs::write(&path, photo(seed, width, height)).expect("write");
            path
        })
        .collect()
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (big_count, library_count) = if quick { (200, 2_000) } else { (1_000, 10_000) };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("machine: {threads} threads available");

    let work = tempfile::tempdir().expect("tempdir");
    let project = Project::create(&work.path().join("project")).expect("project");

    let photos = write_photos(&work.path().join("photos"), 0, big_count, 800, 600);
    let start = Instant::now();
    let report = ingest::import_paths(&project, &photos, &ImportOptions::default(), &Silent)
        .expect("import");
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(report.added.len() as u32, big_count, "{}", report.summary());
    println!(
        "import: {big_count} JPEGs 800x600 in {secs:.2} s = {:.1} images/s",
        big_count as f64 / secs
    );

    let small = write_photos(&work.path().join("small"), 100_000, library_count, 96, 96);
    let start = Instant::now();
    ingest::import_paths(&project, &small, &ImportOptions::default(), &Silent).expect("import");
    let secs = start.elapsed().as_secs_f64();
    println!(
        "import: {library_count} JPEGs 96x96 in {secs:.2} s = {:.1} images/s",
        library_count as f64 / secs
    );
    let background = write_photos(&work.path().join("more"), 200_000, big_count, 800, 600);

    let app = StudioApp::new(
        Settings::default(),
        Startup::Project(project.root().to_path_buf()),
    );
    let mut h = Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .build_ui_state(|ui, app: &mut StudioApp| app.studio_ui(ui), app);
    let total = (big_count + library_count) as usize;
    let deadline = Instant::now() + Duration::from_secs(120);
    while h.state().library().image_count() < total {
        h.run_steps(1);
        std::thread::sleep(Duration::from_millis(5));
        assert!(Instant::now() < deadline, "library never loaded");
    }
    // Start an import job the way a drop onto the window does.
    h.input_mut()
        .dropped_files
        .push(common::dropped(&work.path().join("more")));
    h.run_steps(1);
    assert_eq!(h.state().running_jobs().len(), 1, "import job running");
    drop(background);

    let mut frames = Vec::with_capacity(300);
    for i in 0..300 {
        // Scroll down for 200 frames, then back up, so thumbnails keep loading.
        let dy = if i < 200 { -120.0 } else { 240.0 };
        h.event(egui::Event::MouseWheel {
            unit: egui::MouseWheelUnit::Point,
            delta: egui::vec2(0.0, dy),
            phase: egui::TouchPhase::Move,
            source: egui::MouseWheelSource::Unknown,
            modifiers: egui::Modifiers::NONE,
        });
        h.hover_at(egui::pos2(500.0, 400.0));
        let start = Instant::now();
        h.step();
        frames.push(start.elapsed().as_secs_f64() * 1e3);
        // A 60 Hz display: the next frame comes about 16 ms later.
        std::thread::sleep(Duration::from_millis(16));
    }
    let still_importing = !h.state().running_jobs().is_empty();
    let mut sorted = frames.clone();
    sorted.sort_by(f64::total_cmp);
    let mean = frames.iter().sum::<f64>() / frames.len() as f64;
    println!(
        "frames: 300 over {} images, scrolling, import job running throughout: {}; \
         mean {mean:.2} ms, p95 {:.2} ms, worst {:.2} ms; {} thumbnails on the GPU",
        h.state().library().image_count(),
        still_importing,
        sorted[(sorted.len() * 95) / 100],
        sorted[sorted.len() - 1],
        h.state().library().loaded_thumbnails(),
    );
}
