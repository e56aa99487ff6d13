//! Renders the README's pictures, one per tab, on the bundled demo project:
//! `cargo run --example screenshots -- docs` writes `studio.png` (the Library), `collect.png`,
//! `review.png` (after a detection), `train.png` (after a short run on the demo's photos),
//! `explore.png` (one row a category, a dress morphed into a coat) and `export.png` (the grid
//! preview).
//!
//! Needs a wgpu adapter; on a machine without a GPU, Mesa's lavapipe
//! (`apt-get install mesa-vulkan-drivers libvulkan1`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use deepstyle::ui::app::Settings;
use deepstyle::ui::{Startup, StudioApp};
use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;

type Studio = Harness<'static, StudioApp>;

fn step_until(h: &mut Studio, secs: u64, what: &str, done: impl Fn(&StudioApp) -> bool) {
    let start = Instant::now();
    while !done(h.state()) {
        h.run_steps(1);
        std::thread::sleep(Duration::from_millis(10));
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "timed out waiting for {what}"
        );
    }
}

/// Lets the last pictures arrive and the layout settle, then writes the window to `path`.
fn shoot(h: &mut Studio, path: PathBuf) {
    for _ in 0..20 {
        h.run_steps(1);
        std::thread::sleep(Duration::from_millis(20));
    }
    let image = h.render().expect("render (is a wgpu adapter available?)");
    image.save(&path).expect("save the screenshot");
    println!("{}", path.display());
}

fn open_tab(h: &mut Studio, name: &str) {
    h.get_by_role_and_label(Role::Button, name).click();
    h.run_steps(2);
}

fn main() {
    let out = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "docs".into()));
    let dir = tempfile::tempdir().expect("temp dir");
    let app = StudioApp::new(
        Settings::default(),
        Startup::LastOrDemo {
            demo_dir: dir.path().join("demo"),
        },
    );
    let mut h: Studio = Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .wgpu()
        .build_ui_state(|ui, app: &mut StudioApp| app.studio_ui(ui), app);

    step_until(&mut h, 120, "the demo project", |app| {
        app.library().image_count() == 32 && app.running_jobs().is_empty()
    });
    step_until(&mut h, 60, "thumbnails", |app| {
        app.library().loaded_thumbnails() >= 24
    });
    shoot(&mut h, out.join("studio.png"));

    open_tab(&mut h, "Collect");
    let address = h.get_by_label("Address");
    address.focus();
    address.type_text("https://www.pinterest.com/deepstyle/runway-fall-2019/");
    shoot(&mut h, out.join("collect.png"));

    review(&mut h, &out);
    train(&mut h, &out);

    open_tab(&mut h, "Explore");
    step_until(&mut h, 120, "the seed grid", |app| {
        app.explore_tab().grid_ready()
    });
    // One row a category, and one seed morphed from a dress into a coat.
    h.get_by_label("one row a category").click();
    step_until(&mut h, 120, "one row a category", |app| {
        app.explore_tab().explorer().grid_shape().0 == 10 && app.explore_tab().grid_ready()
    });
    h.run_steps(10);
    for pick in ["seed 1 as Dress", "seed 1 as Coat"] {
        h.get_by_label(pick).click();
        h.run_steps(2);
    }
    step_until(&mut h, 120, "the path", |app| {
        app.explore_tab().strip_len() == app.explore_tab().explorer().steps
    });
    shoot(&mut h, out.join("explore.png"));

    open_tab(&mut h, "Export");
    step_until(&mut h, 120, "the export preview", |app| {
        app.export_tab().preview_is_current()
    });
    shoot(&mut h, out.join("export.png"));
}

/// The person detector over the demo's photos, then the first photo with its box.
fn review(h: &mut Studio, out: &Path) {
    open_tab(h, "Review");
    step_until(h, 60, "the first image", |app| app.review_tab().is_shown());
    h.get_by_role_and_label(Role::Button, "Detect people")
        .click();
    h.run_steps(2);
    step_until(h, 300, "the detection", |app| {
        let review = app.review_tab();
        !review.is_detecting()
            && review.is_shown()
            && review.editor().is_some_and(|e| !e.boxes().is_empty())
    });
    shoot(h, out.join("review.png"));
}

/// A short run on the demo's photos with the tab's CPU defaults, shown when it finishes.
fn train(h: &mut Studio, out: &Path) {
    open_tab(h, "Train");
    {
        let form = &mut h.state_mut().train_tab_mut().form;
        form.run_name = "demo".into();
        form.config.iterations = 300;
        form.config.sample_every = 50;
    }
    step_until(h, 120, "the estimate", |app| {
        app.train_tab().estimate().is_some()
    });
    h.get_by_role_and_label(Role::Button, "Start").click();
    h.run_steps(2);
    step_until(h, 900, "the run", |app| {
        !app.train_tab().is_running() && app.train_tab().points() > 0
    });
    step_until(h, 60, "the samples", |app| app.train_tab().sample_shown());
    shoot(h, out.join("train.png"));
}
