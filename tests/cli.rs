//! The command line as a user runs it: a real process, stdout for results, stderr for
//! progress, non-zero exit with a one-line reason on failure.
// Helpers here unwrap as the tests do: a failure there is a failing test.
#![allow(clippy::unwrap_used)]

mod common;

use assert_cmd::Command;

fn deepstyle() -> Command {
    Command::cargo_bin("deepstyle").unwrap()
}

#[test]
fn new_creates_a_project_and_import_adds_images() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("studio");
    let out = deepstyle().arg("new").arg(&project).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(project.join("deepstyle.sqlite").is_file());

    let folder = common::mixed_folder();
    let out = deepstyle()
        .arg("import")
        .arg(&project)
        .arg(folder.dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("added\t")).count(),
        folder.good.len()
    );
    for bad in &folder.bad {
        let line = format!("failed\t{}\t", bad.display());
        assert!(stdout.contains(&line), "missing {line:?} in:\n{stdout}");
    }
    assert!(stdout.contains("5 added"), "{stdout}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("import"),
        "progress goes to stderr"
    );

    // Again: nothing new.
    let out = deepstyle()
        .arg("import")
        .arg(&project)
        .arg(folder.dir.path())
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 added, 5 already present"));
}

#[test]
fn new_with_demo_holds_the_bundled_images() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("demo");
    let out = deepstyle()
        .args(["new", "--demo"])
        .arg(&project)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("32 added"), "{stdout}");
}

#[test]
fn import_into_a_folder_that_is_not_a_project_fails_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = deepstyle()
        .arg("import")
        .arg(dir.path().join("nowhere"))
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("not a DeepStyle project") && stderr.contains("nowhere"),
        "{stderr}"
    );
}

#[test]
fn new_refuses_a_folder_holding_other_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("thesis.docx"), b"precious").unwrap();
    let out = deepstyle().arg("new").arg(dir.path()).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not an empty folder"));
    assert_eq!(
        std::fs::read(dir.path().join("thesis.docx")).unwrap(),
        b"precious"
    );
}

#[test]
fn every_subcommand_has_help() {
    for sub in [
        "studio",
        "new",
        "import",
        "train-gan",
        "generate",
        "interpolate",
    ] {
        let out = deepstyle().args([sub, "--help"]).output().unwrap();
        assert!(out.status.success(), "{sub}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Usage"),
            "{sub}"
        );
    }
}

/// A tiny run through the CLI, then `generate` twice: identical bytes.
#[test]
fn train_gan_then_generate_is_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    for i in 0..10u32 {
        let bytes = common::encode(&common::picture(i, 36, 36), image::ImageFormat::Png);
        common::write(&data, &format!("g{i}.png"), &bytes);
    }
    let run = dir.path().join("run");
    let out = deepstyle()
        .arg("train-gan")
        .arg(&data)
        .arg("--out")
        .arg(&run)
        .args([
            "--iters",
            "3",
            "--batch",
            "4",
            "--image-size",
            "32",
            "--width",
            "8",
            "--threads",
            "1",
            "--resize",
            "area",
            "--flip",
            "false",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("finished after 3 iterations"));
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["resize"], "area", "{config}");
    assert_eq!(config["flip"], false, "{config}");
    let weights = run.join("generator.safetensors");

    let grid = |name: &str| {
        let path = dir.path().join(name);
        let out = deepstyle()
            .arg("generate")
            .arg("--weights")
            .arg(&weights)
            .args(["--seeds", "0-5", "--cols", "3", "--out"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::read(path).unwrap()
    };
    let first = grid("a.png");
    assert_eq!(
        first,
        grid("b.png"),
        "same seeds and weights give the same bytes"
    );
    let decoded = image::load_from_memory(&first).unwrap();
    assert_eq!(
        (decoded.width(), decoded.height()),
        (3 * 32 + 4 * 2, 2 * 32 + 3 * 2)
    );

    let per_seed = dir.path().join("seeds");
    let out = deepstyle()
        .arg("generate")
        .arg("--weights")
        .arg(&weights)
        .args(["--seeds", "7-9", "--out-dir"])
        .arg(&per_seed)
        .output()
        .unwrap();
    assert!(out.status.success());
    for seed in 7..=9 {
        let image = image::open(per_seed.join(format!("seed_{seed}.png"))).unwrap();
        assert_eq!((image.width(), image.height()), (32, 32));
    }

    // Resuming as 64 px is refused in one line that names both sizes.
    let out = deepstyle()
        .arg("train-gan")
        .arg(&data)
        .arg("--out")
        .arg(&run)
        .args(["--iters", "6", "--image-size", "64", "--resume"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("32x32") && stderr.contains("64x64"),
        "{stderr}"
    );
}

#[test]
fn train_gan_on_an_empty_folder_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let out = deepstyle()
        .arg("train-gan")
        .arg(dir.path())
        .arg("--out")
        .arg(dir.path().join("run"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no usable images"), "{stderr}");
    let bad_seeds = deepstyle()
        .args([
            "generate",
            "--weights",
            "nothing.safetensors",
            "--seeds",
            "9-2",
            "--out",
            "x.png",
        ])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&bad_seeds.stderr).contains("end is before the start"));
}

/// `interpolate` on the shipped generator: the strip's ends are `generate`'s images of the two
/// seeds; a GIF has one frame per step; a bad output name is one clear line.
#[test]
fn interpolate_ends_on_the_generated_seeds() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = deepstyle().args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let path = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    run(&[
        "generate",
        "--weights",
        "shipped",
        "--seeds",
        "3-4",
        "--out-dir",
        &path("seeds"),
    ]);
    run(&[
        "interpolate",
        "--weights",
        "shipped",
        "--from",
        "3",
        "--to",
        "4",
        "--steps",
        "5",
        "--mode",
        "slerp",
        "--out",
        &path("strip.png"),
    ]);
    let strip = image::open(path("strip.png")).unwrap().to_rgba8();
    assert_eq!(strip.dimensions(), (5 * 32 + 6 * 2, 32 + 2 * 2));
    let tile = |index: u32| image::imageops::crop_imm(&strip, 2 + index * 34, 2, 32, 32).to_image();
    let seed = |s: u32| {
        image::open(path(&format!("seeds/seed_{s}.png")))
            .unwrap()
            .to_rgba8()
    };
    assert_eq!(tile(0), seed(3));
    assert_eq!(tile(4), seed(4));
    assert_ne!(tile(2), seed(3));

    run(&[
        "interpolate",
        "--weights",
        "shipped",
        "--from",
        "3",
        "--to",
        "4",
        "--steps",
        "6",
        "--out",
        &path("walk.gif"),
        "--scale",
        "2",
    ]);
    use image::AnimationDecoder;
    let file = std::io::BufReader::new(std::fs::File::open(path("walk.gif")).unwrap());
    let frames = image::codecs::gif::GifDecoder::new(file)
        .unwrap()
        .into_frames()
        .collect_frames()
        .unwrap();
    assert_eq!(frames.len(), 6);
    assert_eq!(frames[0].buffer().dimensions(), (64, 64));

    let out = deepstyle()
        .args([
            "interpolate",
            "--weights",
            "shipped",
            "--from",
            "1",
            "--to",
            "2",
            "--out",
        ])
        .arg(path("walk.mp4"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("walk.mp4") && stderr.contains(".gif"),
        "{stderr}"
    );
}

/// `generate --favourites`: the project's favourites as a captioned grid, or one file each; a
/// project without favourites is a one-line error naming it.
#[test]
fn generate_draws_a_projects_favourites() {
    use deepstyle::latent::sample::Sample;
    use deepstyle::project::Project;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("p");
    let project = Project::create(&root).unwrap();
    let empty = deepstyle()
        .args(["generate", "--weights", "shipped", "--favourites"])
        .arg(&root)
        .arg("--out")
        .arg(dir.path().join("none.png"))
        .output()
        .unwrap();
    assert!(!empty.status.success());
    let reason = String::from_utf8_lossy(&empty.stderr);
    assert!(
        reason.contains("no favourites") && reason.contains(&root.display().to_string()),
        "{reason}"
    );
    let catalog = project.catalog().unwrap();
    for (seed, label) in [(3, "12"), (8, "")] {
        let sample = Sample {
            label: label.into(),
            ..Sample::of_seed(seed, 100, 1.0)
        };
        catalog.add_favourite(&sample, "shipped").unwrap();
    }
    catalog
        .add_favourite(&Sample::unnamed(vec![0.5; 7]), "another generator")
        .unwrap();
    let grid = dir.path().join("favourites.png");
    let out = deepstyle()
        .args([
            "generate",
            "--weights",
            "shipped",
            "--cols",
            "4",
            "--favourites",
        ])
        .arg(&root)
        .arg("--out")
        .arg(&grid)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let image = image::open(&grid).unwrap();
    // Two 32 px tiles (the 7-value favourite is left out), 2 px padding, a caption band.
    assert_eq!(image.width(), 2 * 32 + 3 * 2);
    assert!(image.height() > 32 + 2 * 2);

    let files = dir.path().join("each");
    let out = deepstyle()
        .args(["generate", "--weights", "shipped", "--favourites"])
        .arg(&root)
        .arg("--out-dir")
        .arg(&files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The seed-3 favourite is drawn exactly as `generate --seeds 3-3` draws seed 3.
    let seed = dir.path().join("seed");
    let out = deepstyle()
        .args([
            "generate",
            "--weights",
            "shipped",
            "--seeds",
            "3-3",
            "--out-dir",
        ])
        .arg(&seed)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        std::fs::read(files.join("favourite_001.png")).unwrap(),
        std::fs::read(seed.join("seed_3.png")).unwrap()
    );
    assert!(files.join("favourite_002.png").is_file());
}

/// `crops`: one PNG a box, named by image hash and box id (two boxes of one image never share a
/// file), squared and resized, recorded in the catalog; rejected images and filtered boxes are
/// left out.
#[test]
fn crops_writes_one_file_a_box() {
    use deepstyle::detect::boxes::BoxRect;
    use deepstyle::export::crops::crop_counts;
    use deepstyle::project::Project;
    use deepstyle::project::ingest::{ImportOptions, import_paths};
    use deepstyle::review::{GarmentBox, ImageStatus, Origin};
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    for i in 0..3u32 {
        let bytes = common::encode(&common::picture(i, 120, 80), image::ImageFormat::Png);
        common::write(&photos, &format!("look{i}.png"), &bytes);
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
    let images = catalog.list_images().unwrap();
    let garment = |x0: f32, category: &str, reviewed: bool| GarmentBox {
        id: None,
        rect: BoxRect::new(x0, 10.0, x0 + 30.0, 70.0),
        category: category.into(),
        score: None,
        origin: Origin::Human,
        reviewed,
    };
    let first = catalog
        .save_boxes(
            images[0].id,
            &[garment(0.0, "full", true), garment(60.0, "upper", true)],
            Some(ImageStatus::Accepted),
        )
        .unwrap();
    catalog
        .save_boxes(images[1].id, &[garment(10.0, "full", false)], None)
        .unwrap();
    catalog
        .save_boxes(
            images[2].id,
            &[garment(10.0, "full", true)],
            Some(ImageStatus::Rejected),
        )
        .unwrap();

    let out = deepstyle()
        .arg("crops")
        .arg(project.root())
        .args(["--size", "32", "--square"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("3 crops written, 0 failed"), "{stdout}");
    for id in &first {
        let path = project
            .crops_dir()
            .join(format!("{}_{id}.png", images[0].sha256));
        let crop = image::open(&path).unwrap();
        assert_eq!((crop.width(), crop.height()), (32, 32));
    }
    assert_eq!(
        crop_counts(&catalog).unwrap(),
        vec![("full".to_string(), 2), ("upper".to_string(), 1)]
    );

    let reviewed = dir.path().join("reviewed");
    let out = deepstyle()
        .arg("crops")
        .arg(project.root())
        .args(["--reviewed-only", "--category", "full", "--out"])
        .arg(&reviewed)
        .output()
        .unwrap();
    assert!(out.status.success());
    let files: Vec<_> = std::fs::read_dir(&reviewed).unwrap().collect();
    assert_eq!(files.len(), 1, "the accepted image's full box only");

    let bad = deepstyle()
        .arg("crops")
        .arg(project.root())
        .args(["--size", "2"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--size"));
}

/// A gallery of `count` PNG looks, each answered after `delay_ms`.
fn gallery_server(count: u32, delay_ms: u64) -> common::server::Server {
    use common::server::{Reply, Seen, Server};
    Server::start(move |seen: &Seen| match seen.path() {
        "/robots.txt" => Reply::status(404),
        "/gallery" => Reply::ok(
            "text/html",
            (0..count)
                .map(|n| format!("<img src=\"/look/{n}.png\">"))
                .collect::<String>(),
        ),
        path => match path
            .strip_prefix("/look/")
            .and_then(|p| p.strip_suffix(".png"))
            .and_then(|n| n.parse::<u32>().ok())
        {
            Some(n) => Reply::ok(
                "image/png",
                common::encode(&common::picture(n, 60, 90), image::ImageFormat::Png),
            )
            .slow(std::time::Duration::from_millis(delay_ms)),
            None => Reply::status(404),
        },
    })
}

#[test]
fn scrape_prints_a_line_per_image_and_fails_in_one_line_on_an_unreadable_source() {
    let server = gallery_server(5, 0);
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("studio");
    deepstyle().arg("new").arg(&project).assert().success();
    let out = deepstyle()
        .args(["scrape", "--delay-ms", "0"])
        .arg(&project)
        .arg(server.url("/gallery"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("added\t")).count(),
        5
    );
    assert!(stdout.contains("5 added"), "{stdout}");

    let out = deepstyle()
        .args(["scrape", "--delay-ms", "0"])
        .arg(&project)
        .arg(server.url("/missing"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let reason = stderr.lines().last().unwrap();
    assert!(
        reason.contains("/missing") && reason.contains("404"),
        "{stderr}"
    );
}

#[test]
fn a_scrape_killed_midway_resumes_and_loses_nothing() {
    use std::io::{BufRead, BufReader};
    let server = gallery_server(30, 60);
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("studio");
    deepstyle().arg("new").arg(&project).assert().success();
    let binary = assert_cmd::cargo::cargo_bin("deepstyle");
    let mut child = std::process::Command::new(&binary)
        .args(["scrape", "--delay-ms", "0", "--concurrency", "2"])
        .arg(&project)
        .arg(server.url("/gallery"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut added_before_kill = Vec::new();
    while added_before_kill.len() < 6 {
        let line = lines.next().unwrap().unwrap();
        if let Some(rest) = line.strip_prefix("added\t") {
            added_before_kill.push(rest.split('\t').nth(1).unwrap().to_string());
        }
    }
    child.kill().unwrap(); // SIGKILL: no cleanup runs.
    child.wait().unwrap();

    let catalog = deepstyle::project::Project::open(&project)
        .unwrap()
        .catalog()
        .unwrap();
    let kept: Vec<String> = catalog
        .list_images()
        .unwrap()
        .into_iter()
        .map(|r| r.sha256)
        .collect();
    for sha in &added_before_kill {
        assert!(kept.contains(sha), "an image reported added was lost");
    }
    assert!(kept.len() < 30, "the scrape finished before it was killed");

    let out = deepstyle()
        .args(["scrape", "--delay-ms", "0"])
        .arg(&project)
        .arg(server.url("/gallery"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("{} fetched before", kept.len())),
        "{stdout}"
    );
    assert_eq!(catalog.image_count().unwrap(), 30);
}

#[test]
fn detect_finds_the_people_keeps_reviewed_images_and_never_duplicates_boxes() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("studio");
    deepstyle().arg("new").arg(&project).assert().success();
    let photos = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/photos");
    deepstyle()
        .arg("import")
        .arg(&project)
        .arg(format!("{photos}/astronaut.png"))
        .arg(format!("{photos}/camera.png"))
        .assert()
        .success();

    let boxes = |project: &std::path::Path| {
        let catalog = deepstyle::project::Project::open(project)
            .unwrap()
            .catalog()
            .unwrap();
        let mut all = Vec::new();
        for image in catalog.list_images().unwrap() {
            for b in catalog.boxes_of(image.id).unwrap() {
                all.push((image.original_name.clone().unwrap(), b));
            }
        }
        all
    };
    let out = deepstyle().arg("detect").arg(&project).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout
            .lines()
            .filter(|l| l.starts_with("detected\t"))
            .count(),
        2
    );
    assert!(stdout.contains("2 images, 2 boxes stored"), "{stdout}");
    let found = boxes(&project);
    assert_eq!(found.len(), 2, "{found:?}");
    for (_, b) in &found {
        assert_eq!(b.category, "person");
        assert_eq!(b.origin, deepstyle::review::Origin::Model);
        assert!(b.score.unwrap() > 0.5);
    }

    // Again: the model boxes are replaced, not added to.
    deepstyle().arg("detect").arg(&project).assert().success();
    assert_eq!(boxes(&project).len(), 2);

    // A person accepts the astronaut and moves its box; detection leaves it alone.
    let catalog = deepstyle::project::Project::open(&project)
        .unwrap()
        .catalog()
        .unwrap();
    let astronaut = catalog
        .list_images()
        .unwrap()
        .into_iter()
        .find(|r| r.original_name.as_deref() == Some("astronaut.png"))
        .unwrap();
    let mut edited = catalog.boxes_of(astronaut.id).unwrap();
    edited[0].rect.x0 = 30.0;
    edited[0].reviewed = true;
    catalog
        .save_boxes(
            astronaut.id,
            &edited,
            Some(deepstyle::review::ImageStatus::Accepted),
        )
        .unwrap();
    let out = deepstyle().arg("detect").arg(&project).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 reviewed images kept"));
    assert_eq!(catalog.boxes_of(astronaut.id).unwrap()[0].rect.x0, 30.0);
    deepstyle()
        .args(["detect", "--reviewed-too", "--images"])
        .arg(astronaut.id.to_string())
        .arg(&project)
        .assert()
        .success();
    let redone = catalog.boxes_of(astronaut.id).unwrap();
    assert_eq!(redone.len(), 1);
    assert_ne!(redone[0].rect.x0, 30.0);

    // An image whose file broke is reported and skipped; the rest are still detected.
    std::fs::write(project.join(&astronaut.path), b"broken").unwrap();
    let out = deepstyle()
        .args(["detect", "--reviewed-too"])
        .arg(&project)
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("failed\t") && stdout.contains("1 failed"),
        "{stdout}"
    );

    // Weights without their card: one line naming the file.
    let weights = dir.path().join("other.safetensors");
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/weights/ssdlite-person.safetensors"
        ),
        &weights,
    )
    .unwrap();
    let out = deepstyle()
        .arg("detect")
        .arg("--weights")
        .arg(&weights)
        .arg(&project)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("other.json"));
}
