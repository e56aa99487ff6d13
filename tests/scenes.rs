//! `deepstyle make-scenes` as a user runs it: garments from Fashion-MNIST-format files pasted
//! onto the test photographs, written in DeepFashion's layout, read back by the project's own
//! DeepFashion reader, made again identically from the same seed.
// Helpers here unwrap as the tests do: a failure there is a failing test.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{HashMap, HashSet};
use std::path::Path;

use assert_cmd::Command;
use deepstyle::datasets::read::read_deepfashion;

const PHOTOS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/photos");

/// Runs `command` and returns its stdout, failing with its stderr when it fails.
fn run_ok(command: &mut Command) -> String {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// How many images `deepstyle detect` reported as detected in `stdout`.
fn detected_images(stdout: &str) -> usize {
    stdout
        .lines()
        .filter(|l| l.starts_with("detected\t"))
        .count()
}

fn deepstyle() -> Command {
    Command::cargo_bin("deepstyle").unwrap()
}

fn make(garments: &Path, out: &Path, count: usize, seed: u64) -> String {
    run_ok(
        deepstyle()
            .args(["make-scenes", "--fashion-mnist"])
            .arg(garments)
            .arg("--backgrounds")
            .arg(PHOTOS)
            .arg("--out")
            .arg(out)
            .args(["--count", &count.to_string(), "--seed", &seed.to_string()]),
    )
}

#[test]
fn scenes_are_deepfashion_sets_that_our_reader_reads_and_a_seed_makes_again() {
    let dir = tempfile::tempdir().unwrap();
    let garments = dir.path().join("fashion-mnist");
    common::write_fashion_mnist(&garments, 60);
    let out = dir.path().join("scenes");
    let summary = make(&garments, &out, 40, 3);
    assert!(summary.starts_with("40 scenes"), "{summary}");

    let set = read_deepfashion(&out).unwrap();
    assert!(set.problems.is_empty(), "{:?}", set.problems);
    assert_eq!(set.images.len(), 40, "every scene keeps a box");
    let mut categories = HashSet::new();
    let mut boxes = 0;
    for image in &set.images {
        let picture = image::open(&image.path).unwrap();
        let (width, height) = (picture.width() as f32, picture.height() as f32);
        assert_eq!(width.max(height), 300.0);
        for (rect, category) in &image.boxes {
            assert!(rect.is_valid(), "{rect:?}");
            assert!(rect.x0 >= 0.0 && rect.y0 >= 0.0, "{rect:?}");
            assert!(
                rect.x1 <= width && rect.y1 <= height,
                "{rect:?} in {width}x{height}"
            );
            // Garments are at least 16 pixels and at most the scene's short side.
            assert!(rect.width() >= 4.0 && rect.height() >= 4.0, "{rect:?}");
            categories.insert(category.clone());
            boxes += 1;
        }
    }
    assert!(boxes >= 40);
    assert_eq!(
        categories,
        ["upper", "lower", "full"].map(String::from).into(),
        "all three types appear in 40 scenes"
    );

    let partition = std::fs::read_to_string(out.join("Eval/list_eval_partition.txt")).unwrap();
    let mut lines = partition.lines();
    assert_eq!(lines.next(), Some("40"));
    let splits: HashMap<String, String> = lines
        .skip(1)
        .map(|l| {
            let mut fields = l.split_whitespace();
            let name = fields.next().unwrap().to_string();
            (name, fields.next().unwrap().to_string())
        })
        .collect();
    assert_eq!(splits.len(), 40);
    let train = splits.values().filter(|s| *s == "train").count();
    assert!(train >= 24, "{train} of 40 in train");
    assert!(
        splits
            .values()
            .all(|s| ["train", "val", "test"].contains(&s.as_str()))
    );

    let bbox = std::fs::read(out.join("Anno/list_bbox.txt")).unwrap();
    let again = dir.path().join("again");
    make(&garments, &again, 40, 3);
    assert_eq!(
        std::fs::read(again.join("Anno/list_bbox.txt")).unwrap(),
        bbox
    );
    assert_eq!(
        std::fs::read(again.join("img/scenes/img_00000007.jpg")).unwrap(),
        std::fs::read(out.join("img/scenes/img_00000007.jpg")).unwrap()
    );
    let other = dir.path().join("other");
    make(&garments, &other, 40, 4);
    assert_ne!(
        std::fs::read(other.join("Anno/list_bbox.txt")).unwrap(),
        bbox
    );
}

#[test]
fn missing_garments_or_backgrounds_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let run = |garments: &Path, backgrounds: &Path| {
        let output = deepstyle()
            .args(["make-scenes", "--fashion-mnist"])
            .arg(garments)
            .arg("--backgrounds")
            .arg(backgrounds)
            .arg("--out")
            .arg(dir.path().join("out"))
            .args(["--count", "3"])
            .output()
            .unwrap();
        assert!(!output.status.success());
        String::from_utf8(output.stderr).unwrap()
    };
    let stderr = run(&empty, Path::new(PHOTOS));
    assert!(stderr.contains("train-images-idx3-ubyte"), "{stderr}");
    let garments = dir.path().join("fashion-mnist");
    common::write_fashion_mnist(&garments, 10);
    let stderr = run(&garments, &empty);
    assert!(
        stderr.contains("no photographs") && stderr.contains("empty"),
        "{stderr}"
    );
    assert!(!dir.path().join("out/Anno/list_bbox.txt").exists());
}

/// The garment detector's two commands on a few scenes: a short training writes weights, a
/// card and the losses; scoring prints COCO's two means and writes COCO's JSON forms.
#[test]
fn train_detector_then_eval_detector_on_scenes() {
    let dir = tempfile::tempdir().unwrap();
    let garments = dir.path().join("fashion-mnist");
    common::write_fashion_mnist(&garments, 30);
    let scenes = dir.path().join("scenes");
    make(&garments, &scenes, 12, 5);
    let weights = dir.path().join("detector/w.safetensors");
    let stdout = run_ok(
        deepstyle()
            .arg("train-detector")
            .arg(&scenes)
            .arg("--out")
            .arg(&weights)
            .args(["--iters", "4", "--checkpoint-every", "2"]),
    );
    assert!(stdout.contains("iter 1\tloss "), "{stdout}");
    assert!(stdout.contains("trained 4 iterations"), "{stdout}");
    // Going on to 6 from where it stopped.
    let stdout = run_ok(
        deepstyle()
            .arg("train-detector")
            .arg(&scenes)
            .arg("--out")
            .arg(&weights)
            .args(["--iters", "6", "--resume"]),
    );
    assert!(stdout.contains("trained 6 iterations"), "{stdout}");
    assert!(!stdout.contains("iter 1\t"), "{stdout}");
    assert!(weights.is_file() && weights.with_extension("json").is_file());
    let metrics = std::fs::read_to_string(weights.with_extension("metrics.jsonl")).unwrap();
    assert_eq!(metrics.lines().count(), 6);
    let card: serde_json::Value =
        serde_json::from_slice(&std::fs::read(weights.with_extension("json")).unwrap()).unwrap();
    assert_eq!(card["iterations"], 6);

    let predictions = dir.path().join("predictions.json");
    let stdout = run_ok(
        deepstyle()
            .arg("eval-detector")
            .arg(&scenes)
            .arg("--weights")
            .arg(&weights)
            .args(["--split", "all", "--predictions"])
            .arg(&predictions),
    );
    assert!(stdout.contains("images: 12"), "{stdout}");
    assert!(
        stdout.lines().any(|l| l.starts_with("mAP@0.5: ")),
        "{stdout}"
    );
    assert!(
        stdout.lines().any(|l| l.starts_with("mAP@[.5:.95]: ")),
        "{stdout}"
    );
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&predictions).unwrap()).unwrap();
    assert!(results.is_array());
    let truth: serde_json::Value =
        serde_json::from_slice(&std::fs::read(predictions.with_extension("gt.json")).unwrap())
            .unwrap();
    assert_eq!(truth["images"].as_array().unwrap().len(), 12);

    // DeepFashion's 50 categories rather than their three types.
    let fine = dir.path().join("detector/fine.safetensors");
    run_ok(
        deepstyle()
            .arg("train-detector")
            .arg(&scenes)
            .arg("--out")
            .arg(&fine)
            .args(["--iters", "2", "--categories", "all"]),
    );
    let card: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fine.with_extension("json")).unwrap()).unwrap();
    let classes = card["config"]["classes"].as_array().unwrap();
    assert_eq!(classes.len(), 50);
    assert!(classes.iter().any(|c| c == "Dress"), "{classes:?}");
    let stdout = run_ok(
        deepstyle()
            .arg("eval-detector")
            .arg(&scenes)
            .arg("--weights")
            .arg(&fine)
            .args(["--split", "all"]),
    );
    assert!(stdout.contains("AP Dress: "), "{stdout}");
    assert!(stdout.contains("AP Anorak: no boxes"), "{stdout}");

    // In a project: detect with the trained weights; without weights, a one-line reason.
    let project = dir.path().join("project");
    run_ok(deepstyle().arg("new").arg(&project));
    run_ok(
        deepstyle()
            .arg("import")
            .arg(&project)
            .arg(scenes.join("img")),
    );
    let stdout = run_ok(
        deepstyle()
            .arg("detect")
            .arg(&project)
            .args(["--model", "faster-rcnn", "--weights"])
            .arg(&weights),
    );
    assert_eq!(detected_images(&stdout), 12, "{stdout}");
    // Without --weights, the shipped garment detector runs.
    let stdout = run_ok(
        deepstyle()
            .arg("detect")
            .arg(&project)
            .args(["--model", "faster-rcnn"]),
    );
    assert_eq!(detected_images(&stdout), 12, "{stdout}");

    // Boxes a person reviewed teach it more: scored on held-out ones before and after.
    let reviewed = dir.path().join("reviewed");
    run_ok(deepstyle().arg("new").arg(&reviewed));
    run_ok(
        deepstyle()
            .arg("import-annotations")
            .arg(&reviewed)
            .args(["--format", "deepfashion"])
            .arg(&scenes),
    );
    let stdout = run_ok(
        deepstyle()
            .arg("improve-detector")
            .arg(&reviewed)
            .arg("--weights")
            .arg(&weights)
            .args(["--iters", "3", "--held-out", "0.25"]),
    );
    assert!(stdout.contains("learnt from, 3 held out"), "{stdout}");
    for line in [
        "before mAP@0.5: ",
        "after mAP@0.5: ",
        "before mAP@[.5:.95]: ",
    ] {
        assert!(stdout.lines().any(|l| l.starts_with(line)), "{stdout}");
    }
    assert!(reviewed.join("detectors/garments-1.safetensors").is_file());
    // The same held-out images are the project's test split.
    let stdout = run_ok(
        deepstyle()
            .arg("eval-detector")
            .arg(format!("project:{}", reviewed.display()))
            .arg("--weights")
            .arg(reviewed.join("detectors/garments-1.safetensors"))
            .args(["--split", "test"]),
    );
    assert!(stdout.contains("images: 2"), "{stdout}");
    assert!(reviewed.join("detectors/garments-1.json").is_file());
}

/// The shipped garment detector, scored on scenes whose backgrounds and seed its training never
/// saw (tests/data/scenes): it scored mAP@0.5 0.873 there (upper 0.92, lower 0.93, full body
/// 0.77); fresh weights score near 0.
#[test]
fn the_shipped_garment_detector_finds_garments_in_unseen_scenes() {
    let scenes = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/scenes");
    let stdout = run_ok(
        deepstyle()
            .arg("eval-detector")
            .arg(scenes)
            .args(["--split", "all"]),
    );
    let value = |prefix: &str| -> f32 {
        let line = stdout
            .lines()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("no line {prefix} in {stdout}"));
        line.split_whitespace().next().unwrap().parse().unwrap()
    };
    assert!(stdout.contains("images: 24"), "{stdout}");
    assert!(value("mAP@0.5: ") >= 0.8, "{stdout}");
    assert!(value("AP upper: ") >= 0.85, "{stdout}");
    assert!(value("AP lower: ") >= 0.85, "{stdout}");
    assert!(value("AP full: ") >= 0.6, "{stdout}");
}
