//! Renders the Explore tab on the shipped generator, with four picked samples, to a PNG (the
//! README's picture): `cargo run --example explore_screenshot -- docs/explore.png`. Needs a
//! wgpu adapter; on a machine without a GPU, Mesa's lavapipe
//! (`VK_ICD_FILENAMES=/usr/share/vulkan/icd.d/lvp_icd.x86_64.json`).

use std::time::{Duration, Instant};

use deepstyle::ui::app::Settings;
use deepstyle::ui::{Startup, StudioApp, Tab};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;

fn step_until(h: &mut Harness<'_, StudioApp>, what: &str, done: impl Fn(&StudioApp) -> bool) {
    let start = Instant::now();
    while !done(h.state()) {
        h.run_steps(1);
        std::thread::sleep(Duration::from_millis(10));
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "timed out waiting for {what}"
        );
    }
}

fn main() {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "docs/explore.png".into());
    let dir = tempfile::tempdir().expect("temp dir");
    let settings = Settings {
        tab: Tab::Explore,
        ..Settings::default()
    };
    let app = StudioApp::new(settings, Startup::Project(dir.path().join("project")));
    let mut h = Harness::builder()
        .with_size(egui::vec2(1280.0, 900.0))
        .wgpu()
        .build_ui_state(|ui, app: &mut StudioApp| app.studio_ui(ui), app);
    step_until(&mut h, "the project", |app| app.project().is_some());
    step_until(&mut h, "the seed grid", |app| {
        app.explore_tab().grid_ready()
    });
    for seed in [2, 8, 11, 9] {
        h.get_by_label(&format!("seed {seed}")).click();
        h.run_steps(2);
    }
    step_until(&mut h, "the path", |app| {
        app.explore_tab().strip_len() == app.explore_tab().explorer().steps
    });
    for _ in 0..30 {
        h.run_steps(1);
        std::thread::sleep(Duration::from_millis(20));
    }
    let image = h.render().expect("render (is a wgpu adapter available?)");
    image.save(&out).expect("save the screenshot");
    println!("{out}");
}
