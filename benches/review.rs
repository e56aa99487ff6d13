//! Review benchmark: the Review tab's frame time with 200 boxes on a 4000x6000 photo while the
//! canvas zooms every frame, and the time from "next image" to the next 4000x6000 photo on
//! screen (opened ahead in a worker).
//!
//! Run: `cargo bench --bench review`. The frame time is the CPU time of one egui frame of the
//! whole studio (layout, the canvas's shapes, tessellation), measured through egui_kittest; GPU
//! rasterisation is not included. Prints mean, p50, p95 and worst of 300 frames, and the open
//! times of the next images.

#[path = "../tests/common/mod.rs"]
mod common;

use std::io::Cursor;
use std::time::{Duration, Instant};

use deepstyle::detect::boxes::BoxRect;
use deepstyle::jobs::Silent;
use deepstyle::project::Project;
use deepstyle::project::ingest::{self, ImportOptions};
use deepstyle::review::{GarmentBox, Origin};
use deepstyle::ui::app::Settings;
use deepstyle::ui::{Startup, StudioApp, Tab};
use egui_kittest::Harness;
use image::{ImageFormat, Rgb, RgbImage};

const WIDTH: u32 = 4000;
const HEIGHT: u32 = 6000;
const BOXES: usize = 200;
const FRAMES: usize = 300;

fn photo(seed: u32) -> Vec<u8> {
    let image = RgbImage::from_fn(WIDTH, HEIGHT, |x, y| {
        let s = seed as f32;
        let r = 128.0 + 100.0 * (x as f32 * 0.003 + s).sin();
        let g = 128.0 + 100.0 * (y as f32 * 0.002 - s).cos();
        let b = ((x ^ y) & 0xFF) as f32;
        Rgb([r as u8, g as u8, b as u8])
    });
    let mut bytes = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut bytes), ImageFormat::Jpeg)
        .expect("encode");
    bytes
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn step_until(h: &mut Harness<'_, StudioApp>, what: &str, done: impl Fn(&StudioApp) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !done(h.state()) {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        h.run_steps(1);
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn main() {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("machine: {threads} threads available");
    let work = tempfile::tempdir().expect("tempdir");
    let photos = work.path().join("photos");
    std::fs::create_dir_all(&photos).expect("mkdir");
    for seed in 0..4 {
        std::fs::write(photos.join(format!("runway{seed}.jpg")), photo(seed)).expect("write");
    }
    let project = Project::create(&work.path().join("project")).expect("project");
    ingest::import_paths(&project, &[photos], &ImportOptions::default(), &Silent).expect("import");
    let catalog = project.catalog().expect("catalog");
    let first = catalog.list_images().expect("images")[0].id;
    let boxes: Vec<GarmentBox> = (0..BOXES)
        .map(|i| {
            let (col, row) = ((i % 20) as f32, (i / 20) as f32);
            GarmentBox {
                id: None,
                rect: BoxRect::new(
                    col * 195.0,
                    row * 590.0,
                    col * 195.0 + 180.0,
                    row * 590.0 + 560.0,
                ),
                category: ["upper", "lower", "full"][i % 3].into(),
                score: Some(0.5 + (i % 50) as f32 / 100.0),
                origin: Origin::Model,
                reviewed: false,
            }
        })
        .collect();
    catalog.save_boxes(first, &boxes, None).expect("boxes");

    let settings = Settings {
        tab: Tab::Review,
        ..Settings::default()
    };
    let app = StudioApp::new(settings, Startup::Project(project.root().to_path_buf()));
    let mut h = Harness::builder()
        .with_size(egui::vec2(1600.0, 1000.0))
        .build_ui_state(|ui, app: &mut StudioApp| app.studio_ui(ui), app);
    step_until(&mut h, "the first photo", |app| app.review_tab().is_shown());
    assert_eq!(
        h.state().review_tab().editor().map(|e| e.boxes().len()),
        Some(BOXES)
    );
    // Select a box (a click on the canvas) so its handles and crop preview are drawn too.
    let centre = egui::pos2(800.0, 500.0);
    h.drag_at(centre);
    h.run_steps(1);
    h.drop_at(centre);
    h.run_steps(1);
    h.hover_at(centre);
    h.run_steps(3);
    assert!(
        h.state().review_tab().selected().is_some(),
        "a box is selected"
    );

    let mut frames = Vec::with_capacity(FRAMES);
    for i in 0..FRAMES {
        let factor = if (i / 30) % 2 == 0 { 1.03 } else { 1.0 / 1.03 };
        h.event(egui::Event::Zoom(factor));
        let start = Instant::now();
        h.run_steps(1);
        frames.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    frames.sort_by(f64::total_cmp);
    let mean = frames.iter().sum::<f64>() / frames.len() as f64;
    println!(
        "review canvas, {BOXES} boxes on a {WIDTH}x{HEIGHT} photo, zooming every frame: \
         mean {mean:.2} ms, p50 {:.2} ms, p95 {:.2} ms, worst {:.2} ms ({FRAMES} frames)",
        percentile(&frames, 0.5),
        percentile(&frames, 0.95),
        frames[frames.len() - 1]
    );

    for step in 1..=3 {
        // Give the worker the time a designer spends on an image to open the next one ahead.
        let ahead = Instant::now() + Duration::from_secs(3);
        while Instant::now() < ahead {
            h.run_steps(1);
            std::thread::sleep(Duration::from_millis(20));
        }
        let before = h.state().review_tab().current();
        h.key_press(egui::Key::D);
        let start = Instant::now();
        step_until(&mut h, "the next photo", |app| {
            app.review_tab().current() != before && app.review_tab().is_shown()
        });
        println!(
            "next image {step}: on screen {:.1} ms after D (the tab's own count from asking to upload: {:.1} ms)",
            start.elapsed().as_secs_f64() * 1000.0,
            h.state().review_tab().open_millis().unwrap_or(f64::NAN)
        );
    }
}
