//! The studio window driven through its accessibility tree (egui_kittest), with real
//! workers: tabs, the demo project, thumbnails, a job's progress bar and its cancel button.
// Helpers here unwrap as the tests do: a failure there is a failing test.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use deepstyle::device::DeviceChoice;
use deepstyle::project::Project;
use deepstyle::ui::app::Settings;
use deepstyle::ui::{Startup, StudioApp, Tab};
use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;

fn harness(app: StudioApp) -> Harness<'static, StudioApp> {
    Harness::builder()
        .with_size(egui::vec2(1100.0, 700.0))
        .build_ui_state(|ui, app: &mut StudioApp| app.studio_ui(ui), app)
}

/// Steps frames until `done` holds (workers run meanwhile), failing after `secs` seconds.
fn step_until(
    h: &mut Harness<'static, StudioApp>,
    secs: u64,
    what: &str,
    done: impl Fn(&mut Harness<'static, StudioApp>) -> bool,
) {
    let start = Instant::now();
    loop {
        h.run_steps(1);
        if done(h) {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn open_project_app(root: &Path) -> Harness<'static, StudioApp> {
    let mut h = harness(StudioApp::new(
        Settings::default(),
        Startup::Project(root.to_path_buf()),
    ));
    step_until(&mut h, 30, "the project to open", |h| {
        h.state().project().is_some() && h.state().running_jobs().is_empty()
    });
    h
}

#[test]
fn switching_tabs_shows_each_stage() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = open_project_app(&dir.path().join("p"));
    assert_eq!(h.state().tab(), Tab::Library);
    h.get_by_role_and_label(Role::Button, "Collect").click();
    h.run_steps(2);
    assert_eq!(h.state().tab(), Tab::Collect);
    h.get_by_label("Import images…");
    for tab in ["Review", "Train", "Explore", "Export", "Library"] {
        h.get_by_role_and_label(Role::Button, tab).click();
        h.run_steps(2);
        assert_eq!(h.state().tab().name(), tab);
    }
    h.get_by_label_contains("No images yet");
}

#[test]
fn first_start_opens_the_demo_project_and_shows_thumbnails() {
    let dir = tempfile::tempdir().unwrap();
    let demo_dir = dir.path().join("demo");
    let app = StudioApp::new(
        Settings::default(),
        Startup::LastOrDemo {
            demo_dir: demo_dir.clone(),
        },
    );
    let mut h = harness(app);
    step_until(&mut h, 60, "the demo project and its catalog", |h| {
        h.state().library().image_count() == 32 && h.state().running_jobs().is_empty()
    });
    assert_eq!(
        h.state().project().unwrap().root(),
        std::path::absolute(&demo_dir).unwrap()
    );
    step_until(&mut h, 30, "thumbnails to arrive", |h| {
        h.state().library().loaded_thumbnails() >= 8
    });
    // A loaded thumbnail is an image whose accessible name is the file's name.
    h.get_by_role_and_label(Role::Image, "photo-astronaut.png");
    assert!(h.state().status().unwrap().text.contains("32 added"));

    // The next start opens the same project (settings survive through eframe storage).
    let saved: Settings = h.state().settings().clone();
    assert_eq!(
        saved.last_project.as_deref(),
        Some(std::path::absolute(&demo_dir).unwrap().as_path())
    );
    let elsewhere = dir.path().join("other-demo");
    let mut again = harness(StudioApp::new(
        saved,
        Startup::LastOrDemo {
            demo_dir: elsewhere.clone(),
        },
    ));
    step_until(&mut again, 30, "the last project", |h| {
        h.state().library().image_count() == 32
    });
    assert!(!elsewhere.exists(), "the demo was not created again");

    // Without a last project the demo folder opens again, and imports nothing.
    let mut reopened = harness(StudioApp::new(
        Settings::default(),
        Startup::LastOrDemo {
            demo_dir: demo_dir.clone(),
        },
    ));
    step_until(&mut reopened, 30, "the demo project again", |h| {
        h.state().library().image_count() == 32 && h.state().running_jobs().is_empty()
    });
    let status = reopened.state().status().unwrap().text.clone();
    assert!(status.starts_with("Opened"), "{status}");
}

#[test]
fn an_import_shows_a_progress_bar_and_its_cancel_button_cancels() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("p");
    let mut h = open_project_app(&root);
    let photos = dir.path().join("photos");
    for i in 0..400u32 {
        let bytes = common::encode(&common::picture(i, 320, 240), image::ImageFormat::Png);
        common::write(&photos, &format!("look{i:03}.png"), &bytes);
    }
    // Drop the folder onto the window, as a designer would.
    h.input_mut().dropped_files.push(common::dropped(&photos));
    step_until(&mut h, 30, "the import's progress bar", |h| {
        h.query_by_role(Role::ProgressIndicator).is_some() && h.state().running_jobs().len() == 1
    });
    let title = format!("Cancel Import {}", photos.display());
    // Let the status bar settle at its new height before aiming at the button.
    h.run_steps(2);
    h.get_by_label(&title).click();
    step_until(&mut h, 30, "the import to stop", |h| {
        h.state().running_jobs().is_empty()
    });
    let status = h.state().status().unwrap().clone();
    assert!(status.text.contains("cancelled"), "{status:?}");
    assert_eq!(
        Project::open(&root)
            .unwrap()
            .catalog()
            .unwrap()
            .image_count()
            .unwrap(),
        0
    );
    assert!(h.query_by_role(Role::ProgressIndicator).is_none());
}

#[test]
fn the_train_tab_runs_a_tiny_gan_and_shows_its_curves_and_samples() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = open_project_app(&dir.path().join("p"));
    let data = dir.path().join("garments");
    for i in 0..12u32 {
        let bytes = common::encode(&common::picture(i, 40, 40), image::ImageFormat::Png);
        common::write(&data, &format!("g{i}.png"), &bytes);
    }
    h.get_by_role_and_label(Role::Button, "Train").click();
    h.run_steps(2);
    {
        let form = &mut h.state_mut().train_tab_mut().form;
        form.data = data.display().to_string();
        form.run_name = "tiny".into();
        form.config.image_size = 32;
        form.config.channels = 3;
        form.config.ngf = 8;
        form.config.ndf = 8;
        form.config.z_dim = 8;
        form.config.batch_size = 4;
        form.config.iterations = 6;
        form.config.sample_every = 3;
        form.config.checkpoint_every = 3;
        form.config.threads = Some(1);
    }
    h.run_steps(1);
    h.get_by_role_and_label(Role::Button, "Start").click();
    step_until(&mut h, 120, "the run to finish", |h| {
        !h.state().train_tab().is_running() && h.state().train_tab().points() > 0
    });
    assert_eq!(
        h.state().train_tab().points(),
        6,
        "{}",
        h.state().train_tab().status()
    );
    step_until(&mut h, 30, "the sample grid", |h| {
        h.state().train_tab().sample_shown()
    });
    h.get_by_role_and_label(Role::Image, "samples at iteration 6");
    let run = std::path::absolute(dir.path().join("p/runs/tiny")).unwrap();
    assert!(run.join("generator.safetensors").is_file());
    assert!(h.state().train_tab().status().contains("Finished 6"));

    // Resume to 9 iterations: the curve keeps the first 6 points and gains 3.
    h.state_mut().train_tab_mut().form.config.iterations = 9;
    h.run_steps(1);
    h.get_by_role_and_label(Role::Button, "Resume from checkpoint")
        .click();
    step_until(&mut h, 120, "the resumed run to finish", |h| {
        !h.state().train_tab().is_running() && h.state().train_tab().points() >= 9
    });
    step_until(&mut h, 30, "the earlier history", |h| {
        h.state().train_tab().points() == 9
    });
}

/// The explorer on the shipped generator: the seed grid fills in, two clicked samples give a
/// path strip, a starred sample lands in the favourites strip and in the project's catalog.
#[test]
fn explore_picks_two_samples_walks_between_them_and_keeps_a_favourite() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("p");
    let mut h = open_project_app(&root);
    h.get_by_role_and_label(Role::Button, "Explore").click();
    step_until(&mut h, 60, "the seed grid", |h| {
        h.state().explore_tab().grid_ready()
    });
    assert_eq!(h.state().explore_tab().grid_seeds().len(), 16);
    h.get_by_label("seed 3 as T-shirt/top").click();
    h.run_steps(2);
    h.get_by_label("seed 5 as T-shirt/top").click();
    step_until(&mut h, 30, "the path strip", |h| {
        h.state().explore_tab().strip_len() == h.state().explore_tab().explorer().steps
    });
    let picks = h.state().explore_tab().picks().to_vec();
    assert_eq!(
        picks.iter().map(|p| p.seed).collect::<Vec<_>>(),
        [Some(3), Some(5)]
    );
    h.get_by_label("path step 0");

    h.get_by_label("Add to favourites").click();
    step_until(&mut h, 30, "the favourite to appear", |h| {
        let tab = h.state().explore_tab();
        assert_eq!(tab.error(), None);
        tab.favourites().len() == 1 && tab.favourites_shown()
    });
    let favourite = h.state().explore_tab().favourites()[0].clone();
    h.get_by_label_contains("favourite ");
    // Halfway along a slerp path between two seeds is not either seed.
    assert_eq!(favourite.sample.seed, None);
    // The shipped generator by category: z and the class weights.
    assert_eq!(favourite.sample.z.len(), 110);
    let catalog = Project::open(&root).unwrap().catalog().unwrap();
    assert_eq!(catalog.favourites().unwrap(), vec![favourite]);
}

/// Exports from the Export tab's worker: a captioned, upscaled PNG of the seed grid, a GIF of
/// the path between two picks, and the picks' latents as JSON that imports back as picks.
#[test]
fn export_writes_a_grid_an_animation_and_latents() {
    use deepstyle::latent::explorer::Selection;
    use deepstyle::ui::Command;
    use deepstyle::ui::export::ExportKind;
    let dir = tempfile::tempdir().unwrap();
    let mut h = open_project_app(&dir.path().join("p"));
    h.get_by_role_and_label(Role::Button, "Explore").click();
    step_until(&mut h, 60, "the seed grid", |h| {
        h.state().explore_tab().grid_ready()
    });
    h.get_by_label("seed 1 as T-shirt/top").click();
    h.run_steps(2);
    h.get_by_label("seed 2 as T-shirt/top").click();
    h.run_steps(2);
    let export = |h: &mut Harness<'static, StudioApp>, kind, name: &str| {
        let path = dir.path().join(name);
        h.state_mut().send(Command::Export(kind, path.clone()));
        h.run_steps(1);
        step_until(h, 60, name, |h| !h.state().export_tab().is_busy());
        let status = h.state().export_tab().status().cloned().unwrap();
        assert!(!status.is_error && status.text.contains(name), "{status:?}");
        path
    };
    {
        let form = &mut h.state_mut().export_tab_mut().form;
        form.selection = Selection::SeedGrid;
        form.layout.cols = 4;
        form.layout.padding = 2;
        form.layout.scale = 2;
        form.captions = true;
        form.frames = 6;
    }
    let grid = image::open(export(&mut h, ExportKind::Png, "grid.png")).unwrap();
    // 4 x 4 tiles of 64 px (32 px upscaled twice), 2 px padding, a caption band under each row.
    assert_eq!(grid.width(), 4 * 64 + 5 * 2);
    assert!(grid.height() > 4 * 64 + 5 * 2);

    let gif = export(&mut h, ExportKind::Gif, "walk.gif");
    use image::AnimationDecoder;
    let file = std::io::BufReader::new(std::fs::File::open(gif).unwrap());
    let frames = image::codecs::gif::GifDecoder::new(file)
        .unwrap()
        .into_frames()
        .collect_frames()
        .unwrap();
    assert_eq!(frames.len(), 6);

    h.state_mut().export_tab_mut().form.selection = Selection::Picks;
    let json = export(&mut h, ExportKind::Latents, "picks.json");
    h.state_mut().explore_tab_mut().clear_picks();
    h.state_mut()
        .send(Command::Export(ExportKind::LoadLatents, json));
    h.run_steps(1);
    step_until(&mut h, 30, "the import", |h| {
        !h.state().export_tab().is_busy() && !h.state().explore_tab().picks().is_empty()
    });
    let seeds: Vec<Option<u64>> = h
        .state()
        .explore_tab()
        .picks()
        .iter()
        .map(|p| p.seed)
        .collect();
    assert_eq!(seeds, [Some(1), Some(2)]);
}

/// Reopened on the Export tab, the studio exports the project's favourites without the Explore
/// tab ever being shown: every tab's logic runs each frame, shown or not.
#[test]
fn export_on_reopen_exports_favourites_without_visiting_explore() {
    use deepstyle::latent::explorer::Selection;
    use deepstyle::latent::sample::Sample;
    use deepstyle::ui::Command;
    use deepstyle::ui::export::ExportKind;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("p");
    {
        let project = Project::create(&root).unwrap();
        let catalog = project.catalog().unwrap();
        // Favourites of the default generator (by category): z, then the class weights.
        for (seed, label, class) in [(4, "coat", 4), (9, "dress", 3), (17, "", 0)] {
            let mut sample = Sample {
                label: label.into(),
                ..Sample::of_seed(seed, 100, 1.0)
            };
            sample
                .z
                .extend((0..10).map(|k| if k == class { 1.0 } else { 0.0 }));
            catalog.add_favourite(&sample, "shipped").unwrap();
        }
    }
    let settings = Settings {
        tab: Tab::Export,
        ..Settings::default()
    };
    let mut h = harness(StudioApp::new(settings, Startup::Project(root.clone())));
    step_until(&mut h, 30, "the project and its favourites", |h| {
        h.state().running_jobs().is_empty() && h.state().explore_tab().favourites().len() == 3
    });
    assert_eq!(h.state().tab(), Tab::Export);
    h.state_mut().export_tab_mut().form.selection = Selection::Favourites;
    h.run_steps(2);
    h.get_by_label("3 image(s)");
    let path = dir.path().join("favourites.png");
    h.state_mut()
        .send(Command::Export(ExportKind::Png, path.clone()));
    h.run_steps(1);
    step_until(&mut h, 60, "the export", |h| {
        !h.state().export_tab().is_busy()
    });
    let status = h.state().export_tab().status().cloned().unwrap();
    assert!(!status.is_error, "{status:?}");
    let grid = image::open(&path).unwrap();
    // Three 32 px tiles upscaled twice, 2 px padding, one caption band.
    assert_eq!(grid.width(), 3 * 64 + 4 * 2);
    assert!(grid.height() > 64 + 2 * 2);
    assert_eq!(
        h.state().settings().tab,
        Tab::Export,
        "Explore was never shown"
    );
}

/// The tabs' forms survive a restart through eframe's storage, with no copy in the settings.
#[test]
fn tab_forms_persist_through_storage() {
    #[derive(Default)]
    struct Memory(std::collections::HashMap<String, String>);
    impl eframe::Storage for Memory {
        fn get_string(&self, key: &str) -> Option<String> {
            self.0.get(key).cloned()
        }
        fn set_string(&mut self, key: &str, value: String) {
            self.0.insert(key.to_string(), value);
        }
        fn remove_string(&mut self, key: &str) {
            self.0.remove(key);
        }
        fn flush(&mut self) {}
    }
    let dir = tempfile::tempdir().unwrap();
    let startup = Startup::Project(dir.path().join("p"));
    let mut app = StudioApp::new(Settings::default(), startup.clone());
    app.train_tab_mut().form.run_name = "long-coats".into();
    app.train_tab_mut().form.config.iterations = 1234;
    app.export_tab_mut().form.frames = 17;
    app.collect_tab_mut().form.near_duplicate_distance = 3;
    let mut storage = Memory::default();
    app.save_to(&mut storage);
    let settings = storage
        .0
        .get(Settings::STORAGE_KEY)
        .cloned()
        .unwrap_or_default();
    assert!(
        !settings.contains("long-coats"),
        "forms are not copied into the settings"
    );

    let again = StudioApp::restored(Some(&storage), startup);
    assert_eq!(again.train_tab().form.run_name, "long-coats");
    assert_eq!(again.train_tab().form.config.iterations, 1234);
    assert_eq!(again.export_tab().form.frames, 17);
    assert_eq!(again.collect_tab().form.near_duplicate_distance, 3);
}

/// Drags the primary button from `from` to `to` (screen points) over several frames, as a hand
/// would.
fn mouse_drag(h: &mut Harness<'static, StudioApp>, from: egui::Pos2, to: egui::Pos2) {
    h.hover_at(from);
    h.run_steps(1);
    h.drag_at(from);
    h.run_steps(1);
    for step in 1..=6 {
        h.hover_at(from + (to - from) * (step as f32 / 6.0));
        h.run_steps(1);
    }
    h.drop_at(to);
    h.run_steps(2);
}

fn only_box(h: &Harness<'static, StudioApp>) -> deepstyle::detect::boxes::BoxRect {
    let editor = h.state().review_tab().editor().unwrap();
    assert_eq!(editor.boxes().len(), 1);
    editor.boxes()[0].garment.rect
}

fn assert_near(a: deepstyle::detect::boxes::BoxRect, b: [f32; 4]) {
    let a = [a.x0, a.y0, a.x1, a.y1];
    assert!(
        a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 1.0),
        "{a:?} is not {b:?}"
    );
}

/// The Review tab by mouse and keyboard: draw a box with a drag, resize it by its corner, undo
/// and redo, accept with Space; the catalog holds the reviewed box and the next image shows.
#[test]
fn review_draws_resizes_undoes_and_accepts_into_the_catalog() {
    use deepstyle::review::{ImageStatus, Origin};
    use egui::Key;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("p");
    let photos = dir.path().join("photos");
    for i in 0..2u32 {
        let bytes = common::encode(&common::picture(i, 400, 300), image::ImageFormat::Png);
        common::write(&photos, &format!("look{i}.png"), &bytes);
    }
    let mut h = open_project_app(&root);
    h.input_mut().dropped_files.push(common::dropped(&photos));
    step_until(&mut h, 30, "the import", |h| {
        h.state().running_jobs().is_empty() && h.state().library().image_count() == 2
    });
    h.get_by_role_and_label(Role::Button, "Review").click();
    step_until(&mut h, 30, "the first image", |h| {
        h.state().review_tab().is_shown() && h.state().review_tab().visible_count() == 2
    });
    h.run_steps(2);
    let first = h.state().review_tab().current().unwrap();
    let view = h.state().review_tab().view();
    let at = |x: f32, y: f32| view.screen_from_image(egui::pos2(x, y));

    mouse_drag(&mut h, at(50.0, 40.0), at(200.0, 250.0));
    assert_near(only_box(&h), [50.0, 40.0, 200.0, 250.0]);
    mouse_drag(&mut h, at(200.0, 250.0), at(260.0, 280.0));
    assert_near(only_box(&h), [50.0, 40.0, 260.0, 280.0]);

    h.key_press_modifiers(egui::Modifiers::COMMAND, Key::Z);
    h.run_steps(2);
    assert_near(only_box(&h), [50.0, 40.0, 200.0, 250.0]);
    h.key_press_modifiers(egui::Modifiers::COMMAND | egui::Modifiers::SHIFT, Key::Z);
    h.run_steps(2);
    assert_near(only_box(&h), [50.0, 40.0, 260.0, 280.0]);

    h.key_press(Key::Space);
    step_until(&mut h, 30, "the next image and the save", |h| {
        let tab = h.state().review_tab();
        tab.current() != Some(first) && tab.all_saved()
    });
    let catalog = Project::open(&root).unwrap().catalog().unwrap();
    let stored = catalog.boxes_of(first).unwrap();
    assert_eq!(stored.len(), 1);
    assert_near(stored[0].rect, [50.0, 40.0, 260.0, 280.0]);
    assert!(stored[0].reviewed);
    assert_eq!(stored[0].origin, Origin::Human);
    let queue = catalog.review_queue().unwrap();
    let entry = queue.iter().find(|e| e.image.id == first).unwrap();
    assert_eq!(entry.status, ImageStatus::Accepted);

    // The filmstrip goes back to the first image.
    h.get_by_label("filmstrip look0.png").click();
    step_until(&mut h, 30, "the first image again", |h| {
        h.state().review_tab().current() == Some(first) && h.state().review_tab().is_shown()
    });

    // F1 lists the shortcuts; Esc closes them.
    h.key_press(Key::F1);
    h.run_steps(2);
    h.get_by_label("duplicate the selected box");
    h.key_press(Key::Escape);
    h.run_steps(2);
    assert!(h.query_by_label("duplicate the selected box").is_none());
}

/// The Export tab writes the project's boxes in the chosen format, in a worker.
#[test]
fn export_tab_writes_the_projects_boxes() {
    use deepstyle::datasets::Format;
    use deepstyle::detect::boxes::BoxRect;
    use deepstyle::review::{GarmentBox, Origin};
    use deepstyle::ui::Command;
    use deepstyle::ui::export::ExportKind;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("p");
    let mut h = open_project_app(&root);
    let photos = dir.path().join("photos");
    let bytes = common::encode(&common::picture(7, 120, 90), image::ImageFormat::Png);
    common::write(&photos, "look.png", &bytes);
    h.input_mut().dropped_files.push(common::dropped(&photos));
    step_until(&mut h, 30, "the import", |h| {
        h.state().running_jobs().is_empty() && h.state().library().image_count() == 1
    });
    let catalog = Project::open(&root).unwrap().catalog().unwrap();
    let image = catalog.list_images().unwrap()[0].clone();
    catalog
        .save_boxes(
            image.id,
            &[GarmentBox {
                id: None,
                rect: BoxRect::new(12.0, 9.0, 60.0, 81.0),
                category: "dress".into(),
                score: None,
                origin: Origin::Human,
                reviewed: true,
            }],
            None,
        )
        .unwrap();
    h.state_mut().export_tab_mut().form.annotations = Format::Yolo;
    let out = dir.path().join("yolo");
    h.state_mut()
        .send(Command::Export(ExportKind::Annotations, out.clone()));
    h.run_steps(1);
    step_until(&mut h, 30, "the export", |h| {
        !h.state().export_tab().is_busy()
    });
    let status = h.state().export_tab().status().cloned().unwrap();
    assert!(!status.is_error, "{status:?}");
    assert_eq!(
        std::fs::read_to_string(out.join("classes.txt")).unwrap(),
        "dress\n"
    );
    let stem = Path::new(&image.path)
        .file_stem()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let labels = std::fs::read_to_string(out.join("labels").join(stem + ".txt")).unwrap();
    assert!(
        labels.starts_with("0 0.300000 0.500000 0.400000 0.800000"),
        "{labels}"
    );
}

#[test]
fn collect_scrapes_a_local_runway_page_from_the_tab() {
    use common::server::{Reply, Seen, Server};
    let server = Server::start(|seen: &Seen| match seen.path() {
        "/robots.txt" => Reply::status(404),
        "/show" => Reply::ok(
            "text/html",
            "<h1>Fall</h1><img src=\"/look/1.png\"><img src=\"/look/2.png\">\
             <img srcset=\"/look/3.png 800w\"><img src=\"/broken.png\">",
        ),
        "/broken.png" => Reply::ok("image/png", "<html>not an image</html>"),
        path => {
            let n: u32 = path
                .trim_start_matches("/look/")
                .trim_end_matches(".png")
                .parse()
                .unwrap_or(0);
            Reply::ok(
                "image/png",
                common::encode(&common::picture(n, 64, 80), image::ImageFormat::Png),
            )
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let mut h = open_project_app(&dir.path().join("p"));
    h.get_by_role_and_label(Role::Button, "Collect").click();
    h.run_steps(2);
    h.state_mut().collect_tab_mut().form.scrape.delay_ms = 0;
    let address = h.get_by_label("Address");
    address.focus();
    address.type_text(&server.url("/show"));
    h.run_steps(2);
    h.get_by_label_contains("Source: web page");
    h.get_by_role_and_label(Role::Button, "Start scraping")
        .click();
    h.run_steps(1);
    step_until(&mut h, 60, "the scrape to finish", |h| {
        !h.state().collect_tab().scraping().is_running()
    });
    h.run_steps(2);
    let panel = h.state().collect_tab().scraping();
    assert_eq!(panel.counts().added, 3, "{:?}", panel.status());
    assert_eq!(panel.counts().failed, 1);
    assert_eq!(panel.arrivals().count(), 3);
    assert!(panel.failures_text().contains("/broken.png"));
    assert!(h.query_all_by_label_contains("Scrape finished").count() >= 1);
    h.get_by_role_and_label(Role::Button, "Copy failure list");
    // The Library reads the catalog again and lists the scraped images with their source.
    step_until(&mut h, 30, "the library to list the scraped images", |h| {
        h.state().library().image_count() == 3
    });
}

#[test]
fn review_detects_the_person_and_shows_the_box() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("p");
    let photos = dir.path().join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/photos/astronaut.png"
        ),
        photos.join("astronaut.png"),
    )
    .unwrap();
    let mut h = review_one_image(&root, &photos);
    assert_eq!(h.state().review_tab().editor().unwrap().boxes().len(), 0);
    h.get_by_role_and_label(Role::Button, "Detect people")
        .click();
    h.run_steps(1);
    let started = Instant::now();
    loop {
        h.run_steps(1);
        let review = h.state().review_tab();
        let boxes = review.editor().map(|e| e.boxes().len());
        if !review.is_detecting() && review.is_shown() && boxes == Some(1) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "timed out waiting for the detection and the reopened image: detecting {}, shown {}, \
             boxes {boxes:?}, status {:?}",
            review.is_detecting(),
            review.is_shown(),
            h.state().status().map(|s| s.text.clone())
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let editor = h.state().review_tab().editor().unwrap();
    let found = &editor.boxes()[0].garment;
    assert_eq!(found.category, "person");
    assert!(found.score.unwrap() > 0.5);
    let person = deepstyle::detect::boxes::BoxRect::new(20.0, 15.0, 370.0, 512.0);
    assert!(found.rect.iou(&person) > 0.5, "{:?}", found.rect);
}

#[test]
fn empty_tabs_say_what_to_do_next_with_the_button_that_does_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = open_project_app(&dir.path().join("p"));
    h.get_by_label_contains("No images yet");
    h.get_by_role_and_label(Role::Button, "Collect from the web")
        .click();
    h.run_steps(2);
    assert_eq!(h.state().tab(), Tab::Collect);

    h.get_by_role_and_label(Role::Button, "Review").click();
    h.run_steps(2);
    step_until(&mut h, 30, "the empty review queue", |h| {
        h.query_by_label_contains("Nothing to review yet").is_some()
    });
    h.get_by_role_and_label(Role::Button, "Collect photos")
        .click();
    h.run_steps(2);
    assert_eq!(h.state().tab(), Tab::Collect);

    h.get_by_role_and_label(Role::Button, "Train").click();
    h.run_steps(2);
    h.get_by_label_contains("No training yet");
}

/// Two clicks at `pos` one frame apart (a quarter second, within egui's double-click delay);
/// `Node::click` takes a frame for each of its events, too slow for a double-click.
fn double_click(h: &mut Harness<'static, StudioApp>, pos: egui::Pos2) {
    let button = |pressed| egui::Event::PointerButton {
        pos,
        button: egui::PointerButton::Primary,
        pressed,
        modifiers: egui::Modifiers::default(),
    };
    h.input_mut()
        .events
        .extend([egui::Event::PointerMoved(pos), button(true), button(false)]);
    h.run_steps(1);
    h.input_mut().events.extend([button(true), button(false)]);
    h.run_steps(2);
}

/// The seed grid fills the Explore panel: its tiles grow with the window; a double-click shows
/// a seed large over the window, and Escape closes it.
#[test]
fn explore_grid_scales_with_the_window_and_a_double_click_enlarges_a_seed() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = open_project_app(&dir.path().join("p"));
    h.get_by_role_and_label(Role::Button, "Explore").click();
    step_until(&mut h, 60, "the seed grid", |h| {
        h.state().explore_tab().grid_ready()
    });
    let small = h.state().explore_tab().grid_tile_side();
    let small_rect = h.get_by_label("seed 3 as T-shirt/top").rect();
    assert!(
        (small_rect.width() - small).abs() < 1.0,
        "{small_rect:?} {small}"
    );

    h.set_size(egui::vec2(1800.0, 1300.0));
    h.run_steps(3);
    let large = h.state().explore_tab().grid_tile_side();
    assert!(large > small * 1.4, "tiles {small} -> {large}");
    assert!((h.get_by_label("seed 3 as T-shirt/top").rect().width() - large).abs() < 1.0);

    let centre = h.get_by_label("seed 3 as T-shirt/top").rect().center();
    double_click(&mut h, centre);
    assert_eq!(h.state().explore_tab().enlarged(), Some(3));
    let shown = h.get_by_label("seed 3, large").rect();
    assert!(shown.width() > large, "{shown:?}");
    // The first click of the double-click picked the seed, once.
    assert_eq!(h.state().explore_tab().picks().len(), 1);
    h.key_press(egui::Key::Escape);
    h.run_steps(2);
    assert_eq!(h.state().explore_tab().enlarged(), None);
}

/// The Export tab shows what it will write before the file dialog: the preview follows the
/// columns, and an animation without picks says how to get one.
#[test]
fn export_preview_updates_when_a_setting_changes() {
    use deepstyle::ui::export::PreviewOf;
    let dir = tempfile::tempdir().unwrap();
    let mut h = open_project_app(&dir.path().join("p"));
    h.get_by_role_and_label(Role::Button, "Export").click();
    step_until(&mut h, 60, "the grid preview", |h| {
        h.state().export_tab().preview_is_current()
    });
    let (count, [wide, _]) = h.state().export_tab().preview_shown().unwrap();
    assert_eq!(count, 1);
    h.get_by_label_contains("export preview");

    h.state_mut().export_tab_mut().form.layout.cols = 2;
    h.run_steps(1);
    assert!(!h.state().export_tab().preview_is_current());
    step_until(&mut h, 60, "the preview of two columns", |h| {
        h.state().export_tab().preview_is_current()
    });
    let (_, [narrow, tall]) = h.state().export_tab().preview_shown().unwrap();
    assert!(narrow < wide, "{narrow} !< {wide}");
    assert!(
        tall > narrow,
        "16 samples in 2 columns are taller than wide"
    );

    h.state_mut().export_tab_mut().preview_of = PreviewOf::Animation;
    h.run_steps(2);
    h.get_by_label_contains("An animation needs two picks");
    h.get_by_role_and_label(Role::Button, "Open Explore")
        .click();
    h.run_steps(2);
    assert_eq!(h.state().tab(), Tab::Explore);
}

/// Before Start, the Train tab times a few iterations of the form's model and says what the
/// run would take, and warns that an empty project has nothing to train on.
#[test]
fn the_train_tab_estimates_the_run_before_it_starts() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = open_project_app(&dir.path().join("p"));
    h.get_by_role_and_label(Role::Button, "Train").click();
    {
        let config = &mut h.state_mut().train_tab_mut().form.config;
        config.ngf = 8;
        config.ndf = 8;
        config.batch_size = 8;
        config.iterations = 1_000;
    }
    step_until(&mut h, 120, "the estimate", |h| {
        h.state().train_tab().estimate().is_some()
    });
    let estimate = h.state().train_tab().estimate().unwrap().clone().unwrap();
    assert!(estimate.secs_per_iteration > 0.0);
    h.get_by_label_contains("Estimated on the CPU");
    h.get_by_label_contains("No training images yet");

    // Another width is another model: timed again.
    h.state_mut().train_tab_mut().form.config.ngf = 16;
    h.run_steps(1);
    assert!(h.state().train_tab().estimate().is_none());
    step_until(&mut h, 120, "the new estimate", |h| {
        h.state().train_tab().estimate().is_some()
    });
}

/// Review's model choice: garment-detector weights switch the Detect buttons to garments, and
/// weights that cannot be read fail the job with a reason naming the file.
/// A studio on a new project at `root` with the one image in `photos` dropped in, imported and
/// shown in Review.
fn review_one_image(root: &Path, photos: &Path) -> Harness<'static, StudioApp> {
    let mut h = open_project_app(root);
    h.input_mut().dropped_files.push(common::dropped(photos));
    step_until(&mut h, 30, "the import", |h| {
        h.state().running_jobs().is_empty() && h.state().library().image_count() == 1
    });
    h.get_by_role_and_label(Role::Button, "Review").click();
    step_until(&mut h, 30, "the image", |h| {
        h.state().review_tab().is_shown()
    });
    h
}

/// Review's "garments (shipped)" runs the garment detector compiled into the binary on a
/// scene it never saw, and the garment it stores overlaps one the scene's list names.
#[test]
fn review_detects_garments_with_the_shipped_garment_detector() {
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    let scene = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/scenes/img/scenes/img_00000001.jpg"
    );
    std::fs::copy(scene, photos.join("scene.jpg")).unwrap();
    let listed = deepstyle::datasets::read::read_deepfashion(Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/scenes"
    )))
    .unwrap();
    let truths: Vec<deepstyle::detect::boxes::BoxRect> = listed
        .images
        .iter()
        .filter(|image| image.path.ends_with("img_00000001.jpg"))
        .flat_map(|image| image.boxes.iter().map(|(rect, _)| *rect))
        .collect();
    assert!(!truths.is_empty());
    let mut h = review_one_image(&dir.path().join("p"), &photos);
    h.get_by_label("garments (shipped)").click();
    h.run_steps(1);
    h.get_by_role_and_label(Role::Button, "Detect garments")
        .click();
    h.run_steps(1);
    step_until(&mut h, 60, "the garment detection", |h| {
        let review = h.state().review_tab();
        !review.is_detecting()
            && review.is_shown()
            && review.editor().is_some_and(|e| !e.boxes().is_empty())
    });
    let editor = h.state().review_tab().editor().unwrap();
    let found = &editor.boxes()[0].garment;
    assert!(
        ["upper", "lower", "full"].contains(&found.category.as_str()),
        "{}",
        found.category
    );
    assert!(
        truths.iter().any(|t| t.iou(&found.rect) >= 0.5),
        "{:?} against {truths:?}",
        found.rect
    );
}

#[test]
fn review_runs_the_chosen_detector_and_names_weights_it_cannot_read() {
    use deepstyle::detect::run::DetectorChoice;
    use deepstyle::ui::Command;
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    let bytes = common::encode(&common::picture(1, 64, 48), image::ImageFormat::Png);
    common::write(&photos, "look.png", &bytes);
    let mut h = review_one_image(&dir.path().join("p"), &photos);
    let missing = dir.path().join("no-such-detector.safetensors");
    h.state_mut()
        .send(Command::UseDetector(DetectorChoice::Garments(missing)));
    h.run_steps(2);
    h.get_by_label_contains("garments: no-such-detector");
    h.get_by_role_and_label(Role::Button, "Detect garments")
        .click();
    h.run_steps(1);
    step_until(&mut h, 30, "the failed detection", |h| {
        !h.state().review_tab().is_detecting()
            && h.state()
                .status()
                .is_some_and(|s| s.text.contains("no-such-detector"))
    });
    assert!(h.state().status().unwrap().is_error);
}

/// The Train tab's garment-detector section: a short training on generated scenes plots its
/// losses live, writes the weights into the project, and hands them to Review.
#[test]
fn the_train_tab_trains_the_garment_detector_and_review_uses_it() {
    use deepstyle::datasets::scenes::{SceneOptions, make_scenes};
    use deepstyle::detect::run::DetectorChoice;
    use deepstyle::ui::train::TrainMode;
    let dir = tempfile::tempdir().unwrap();
    let garments = dir.path().join("fashion-mnist");
    common::write_fashion_mnist(&garments, 30);
    let scenes = dir.path().join("scenes");
    let photos = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/photos");
    let options = SceneOptions {
        count: 6,
        ..SceneOptions::default()
    };
    make_scenes(
        &garments,
        Path::new(photos),
        &scenes,
        &options,
        &deepstyle::jobs::Silent,
    )
    .unwrap();
    let root = dir.path().join("p");
    let mut h = open_project_app(&root);
    h.get_by_role_and_label(Role::Button, "Train").click();
    h.run_steps(1);
    h.get_by_role_and_label(Role::Button, "Garment detector")
        .click();
    h.run_steps(1);
    assert_eq!(h.state().train_tab().mode, TrainMode::Detector);
    {
        let form = &mut h.state_mut().train_tab_mut().detector.form;
        form.data = scenes.display().to_string();
        form.iterations = 5;
    }
    h.run_steps(1);
    h.get_by_role_and_label(Role::Button, "Train detector")
        .click();
    step_until(&mut h, 120, "the detector's training", |h| {
        let section = &h.state().train_tab().detector;
        !section.is_running() && section.status().is_some()
    });
    let section = &h.state().train_tab().detector;
    assert_eq!(section.points(), 5, "{:?}", section.status());
    let weights = std::path::absolute(root.join("detectors/garments.safetensors")).unwrap();
    assert!(weights.is_file());
    h.get_by_label_contains("Detector trained for 5 iterations");
    // Going on to 7 from where it stopped.
    h.state_mut().train_tab_mut().detector.form.iterations = 7;
    h.run_steps(1);
    h.get_by_role_and_label(Role::Button, "Resume detector training")
        .click();
    step_until(&mut h, 120, "the resumed training", |h| {
        let section = &h.state().train_tab().detector;
        !section.is_running() && section.status().is_some_and(|s| s.text.contains("for 7"))
    });
    assert_eq!(h.state().train_tab().detector.points(), 2);
    h.get_by_role_and_label(Role::Button, "Use in Review")
        .click();
    h.run_steps(2);
    let chosen = &h.state().review_tab().form.detector;
    assert!(
        matches!(chosen, DetectorChoice::Garments(p) if std::path::absolute(p).unwrap() == weights),
        "{chosen:?}"
    );

    // The scenes, imported as reviewed boxes, teach it more from the Review tab.
    let project = deepstyle::project::Project::open(&root).unwrap();
    deepstyle::datasets::import::import_annotations(
        &project,
        deepstyle::datasets::import::SourceFormat::DeepFashion,
        &scenes,
        &deepstyle::jobs::Silent,
    )
    .unwrap();
    h.state_mut().review_tab_mut().form.improve_iterations = 10;
    h.state_mut().send(deepstyle::ui::Command::CatalogChanged);
    h.get_by_role_and_label(Role::Button, "Review").click();
    step_until(&mut h, 30, "the image", |h| {
        h.state().review_tab().is_shown()
    });
    h.get_by_label("Improve the detector").click();
    h.run_steps(2);
    h.get_by_role_and_label(Role::Button, "Improve detector from reviewed images")
        .click();
    step_until(&mut h, 120, "the improvement", |h| {
        h.state().review_tab().improver.last.is_some()
            || h.state().status().is_some_and(|s| s.is_error)
    });
    let report = h.state().review_tab().improver.last.clone().unwrap();
    assert_eq!(report.iterations, 10);
    assert!((2..=6).contains(&(report.trained_on + report.held_out)));
    let improved = std::path::absolute(root.join("detectors/garments-1.safetensors")).unwrap();
    assert!(improved.is_file() && weights.is_file());
    h.get_by_label_contains("Detector improved");
    let chosen = &h.state().review_tab().form.detector;
    assert!(
        matches!(chosen, DetectorChoice::Garments(p) if std::path::absolute(p).unwrap() == improved),
        "{chosen:?}"
    );
}

/// A conditional generator in the explorer: one row a category, a tile picked as its row's
/// category, the same z morphed into another category, and a favourite that keeps its class.
#[test]
fn explore_draws_a_conditional_generator_by_category_and_morphs_between_categories() {
    use deepstyle::gan::GanConfig;
    use deepstyle::gan::data::DataSource;
    use deepstyle::gan::sampler::GeneratorSource;
    use deepstyle::gan::train::{PauseFlag, TrainRequest, train};

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    for (class, shade) in [("coat", 40u8), ("dress", 200)] {
        let folder = data.join(class);
        std::fs::create_dir_all(&folder).unwrap();
        for i in 0..4u8 {
            image::GrayImage::from_pixel(32, 32, image::Luma([shade + i]))
                .save(folder.join(format!("{i}.png")))
                .unwrap();
        }
    }
    let run = dir.path().join("run");
    let request = TrainRequest {
        run_dir: run.clone(),
        data: DataSource::Folder(data),
        config: GanConfig {
            image_size: 32,
            channels: 1,
            z_dim: 8,
            ngf: 4,
            ndf: 4,
            batch_size: 4,
            iterations: 2,
            threads: Some(1),
            ..GanConfig::default()
        },
        resume: false,
        device: deepstyle::device::DeviceChoice::Cpu,
        epochs: None,
        lr_override: None,
        conditional: true,
    };
    train(&request, &PauseFlag::default(), &common::QuietTraining).unwrap();

    let root = dir.path().join("p");
    let mut h = open_project_app(&root);
    h.get_by_role_and_label(Role::Button, "Explore").click();
    h.run_steps(2);
    h.state_mut()
        .explore_tab_mut()
        .load(GeneratorSource::Run(run.clone()));
    step_until(&mut h, 60, "the conditional generator's grid", |h| {
        let tab = h.state().explore_tab();
        tab.explorer().classes().len() == 2 && tab.grid_ready()
    });
    h.get_by_label("one row a category").click();
    step_until(&mut h, 30, "one row a category", |h| {
        let tab = h.state().explore_tab();
        tab.explorer().grid_shape() == (2, 4) && tab.grid_ready()
    });
    // The grid's columns take a few frames to settle at their new width.
    h.run_steps(10);
    h.get_by_label("seed 2 as dress").click();
    h.run_steps(2);
    let explorer = h.state().explore_tab().explorer().clone();
    let pick = explorer.picks()[0].clone();
    assert_eq!(explorer.class_of(&pick), Some("dress"));
    assert_eq!(pick.seed, Some(2));

    // The same z as a coat: the strip between the two picks is the morph.
    assert!(
        h.state_mut()
            .explore_tab_mut()
            .explorer_mut()
            .pick_as_class(0)
    );
    step_until(&mut h, 30, "the morph strip", |h| {
        h.state().explore_tab().strip_len() == h.state().explore_tab().explorer().steps
    });
    let explorer = h.state().explore_tab().explorer().clone();
    let path = explorer.path_latents(explorer.steps);
    assert_eq!(path[0][..8], path[path.len() - 1][..8], "one z");
    assert_eq!(explorer.class_of(&explorer.picks()[1]), Some("coat"));

    // Morph halfway and keep it: the favourite remembers its mix of classes.
    h.state_mut().explore_tab_mut().explorer_mut().path_t = 0.5;
    h.run_steps(2);
    h.get_by_label("Add to favourites").click();
    step_until(&mut h, 30, "the favourite", |h| {
        h.state().explore_tab().favourites().len() == 1
    });
    let favourite = h.state().explore_tab().favourites()[0].clone();
    assert_eq!(favourite.sample.z.len(), 10);
    assert!(
        favourite.sample.z[8] > 0.2 && favourite.sample.z[9] > 0.2,
        "{:?}",
        favourite.sample.z
    );
}

#[test]
fn the_studio_device_reaches_the_explorer_and_training_and_a_missing_one_falls_back_to_the_cpu() {
    let dir = tempfile::tempdir().unwrap();
    let startup = || Startup::Project(dir.path().join("p"));
    let mut app = StudioApp::new(Settings::default(), startup());
    assert_eq!(app.explore_tab().device(), DeviceChoice::Cpu);
    // A device saved by a build that had it, opened by one that does not.
    if let Some(missing) = DeviceChoice::ALL.into_iter().find(|d| !d.is_compiled()) {
        let saved = Settings {
            device: missing,
            ..Settings::default()
        };
        let reopened = StudioApp::new(saved, startup());
        assert_eq!(reopened.settings().device, DeviceChoice::Cpu);
        assert_eq!(reopened.explore_tab().device(), DeviceChoice::Cpu);
    }
    // Choosing one moves the explorer and the Train tab's first choice with it.
    app.train_tab_mut().form.device = DeviceChoice::Metal;
    app.set_device(DeviceChoice::Cpu);
    assert_eq!(
        app.train_tab().form.device,
        DeviceChoice::Metal,
        "unchanged device"
    );
    let other = DeviceChoice::ALL
        .into_iter()
        .find(|d| d.is_compiled() && *d != DeviceChoice::Cpu);
    if let Some(gpu) = other {
        app.set_device(gpu);
        assert_eq!(app.explore_tab().device(), gpu);
        assert_eq!(app.train_tab().form.device, gpu);
    }
}
