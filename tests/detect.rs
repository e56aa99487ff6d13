//! The person detector against TensorFlow's own outputs on two real photographs
//! (`tests/data/detect/ssdlite_reference.json`, written by `tools/convert_ssdlite.py`), and
//! against the people annotated in them; RoIAlign against torchvision's on fixed tensors
//! (`tests/data/detect/roi_align.json`, written by `tools/roi_align_fixture.py`).
#![allow(clippy::unwrap_used)]

mod common;

use candle_core::Device;
use deepstyle::detect::boxes::BoxRect;
use deepstyle::detect::ssd::PersonDetector;
use serde_json::Value;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");

fn photo(name: &str) -> image::RgbImage {
    image::open(format!("{DATA}/photos/{name}"))
        .unwrap()
        .to_rgb8()
}

fn reference() -> Value {
    let text = std::fs::read_to_string(format!("{DATA}/detect/ssdlite_reference.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn floats(value: &Value) -> Vec<f32> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() as f32)
        .collect()
}

#[test]
fn anchors_match_the_graphs_own() {
    let detector = PersonDetector::shipped(&Device::Cpu).unwrap();
    let reference = reference();
    let anchors = reference["anchors"].as_object().unwrap();
    assert!(anchors.len() > 200);
    for (index, want) in anchors {
        let got = detector.anchors()[index.parse::<usize>().unwrap()];
        for (g, w) in got.iter().zip(floats(want)) {
            assert!((g - w).abs() < 1e-5, "anchor {index}: {got:?} vs {want}");
        }
    }
}

#[test]
fn raw_outputs_and_detections_match_tensorflow() {
    let detector = PersonDetector::shipped(&Device::Cpu).unwrap();
    for image in reference()["images"].as_array().unwrap() {
        let name = image["file"].as_str().unwrap();
        let picture = photo(name);
        let raw = detector.raw(&[&picture]).unwrap();
        let encodings = raw.box_encodings.to_vec3::<f32>().unwrap().remove(0);
        let logits = raw.class_logits.to_vec3::<f32>().unwrap().remove(0);
        let chosen = image["anchors"].as_array().unwrap();
        assert!(chosen.len() > 200, "{name}: a few hundred anchors");
        let mut worst = 0f32;
        for (i, index) in chosen.iter().enumerate() {
            let index = index.as_u64().unwrap() as usize;
            let want_enc = floats(&image["box_encodings"][i]);
            let want_log = floats(&image["class_logits"][i]);
            for (g, w) in encodings[index].iter().zip(&want_enc) {
                worst = worst.max((g - w).abs());
            }
            for (g, w) in logits[index].iter().zip(&want_log) {
                worst = worst.max((g - w).abs());
            }
        }
        assert!(worst < 1e-3, "{name}: max abs difference {worst}");

        let ours = detector.detect(&[&picture], 0.05).unwrap().remove(0);
        let theirs = image["detections"].as_array().unwrap();
        assert_eq!(ours.len(), theirs.len(), "{name}: {ours:?}");
        let (w, h) = (picture.width() as f32, picture.height() as f32);
        for (mine, want) in ours.iter().zip(theirs) {
            let b = floats(&want["box_normalised"]);
            let want_rect = BoxRect::new(b[1] * w, b[0] * h, b[3] * w, b[2] * h);
            let iou = mine.rect.iou(&want_rect);
            assert!(
                iou >= 0.99,
                "{name}: IoU {iou} for {mine:?} vs {want_rect:?}"
            );
            let score = want["score"].as_f64().unwrap() as f32;
            assert!(
                (mine.score - score).abs() < 1e-3,
                "{name}: {} vs {score}",
                mine.score
            );
        }
    }
}

#[test]
fn finds_the_annotated_person_in_each_real_photo() {
    let detector = PersonDetector::shipped(&Device::Cpu).unwrap();
    // From tests/data/photos/README.md.
    let annotated = [
        ("astronaut.png", BoxRect::new(20.0, 15.0, 370.0, 512.0)),
        ("camera.png", BoxRect::new(0.0, 65.0, 330.0, 512.0)),
    ];
    let pictures: Vec<_> = annotated.iter().map(|(n, _)| photo(n)).collect();
    let refs: Vec<&image::RgbImage> = pictures.iter().collect();
    // Both in one batch.
    let found = detector.detect(&refs, 0.5).unwrap();
    for ((name, person), detections) in annotated.iter().zip(&found) {
        assert_eq!(detections.len(), 1, "{name}: {detections:?}");
        let best = &detections[0];
        assert_eq!(best.class, "person");
        let iou = best.rect.iou(person);
        assert!(iou >= 0.5, "{name}: IoU {iou} ({:?})", best.rect);
    }
}

#[test]
fn a_weights_file_with_a_wrong_shape_or_no_card_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let weights = dir.path().join("broken.safetensors");
    let shipped = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/weights/ssdlite-person.safetensors"
    );
    std::fs::copy(shipped, &weights).unwrap();
    let error = PersonDetector::from_file(&weights, &Device::Cpu)
        .err()
        .unwrap();
    assert!(error.to_string().contains("broken.json"), "{error}");

    let mut tensors = candle_core::safetensors::load(shipped, &Device::Cpu).unwrap();
    tensors.insert(
        "Conv_1.weight".into(),
        candle_core::Tensor::zeros((7, 320, 1, 1), candle_core::DType::F32, &Device::Cpu).unwrap(),
    );
    candle_core::safetensors::save(&tensors, &weights).unwrap();
    let card = concat!(env!("CARGO_MANIFEST_DIR"), "/weights/ssdlite-person.json");
    std::fs::copy(card, dir.path().join("broken.json")).unwrap();
    let error = PersonDetector::from_file(&weights, &Device::Cpu)
        .err()
        .unwrap();
    let message = error.to_string();
    assert!(
        message.contains("Conv_1.weight") && message.contains("broken.safetensors"),
        "{message}"
    );
}

#[test]
fn roi_align_and_its_gradient_match_torchvision() {
    use candle_core::{Tensor, Var};
    use deepstyle::kernels::{RoiAlign, roi_align};
    let text = std::fs::read_to_string(format!("{DATA}/detect/roi_align.json")).unwrap();
    let fixture: Value = serde_json::from_str(&text).unwrap();
    let device = Device::Cpu;
    let shape: Vec<usize> = fixture["features_shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    let features = Var::from_vec(floats(&fixture["features"]), shape.as_slice(), &device).unwrap();
    let rois = floats(&fixture["rois"]);
    let rois = Tensor::from_vec(rois.clone(), (rois.len() / 5, 5), &device).unwrap();
    for case in fixture["cases"].as_array().unwrap() {
        let ratio = case["sampling_ratio"].as_i64().unwrap();
        let op = RoiAlign {
            pooled: (3, 4),
            spatial_scale: fixture["spatial_scale"].as_f64().unwrap() as f32,
            sampling_ratio: ratio.max(0) as usize,
            aligned: case["aligned"].as_bool().unwrap(),
        };
        let out = roi_align(features.as_tensor(), &rois, op).unwrap();
        let ours = out.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let theirs = floats(&case["output"]);
        assert_eq!(ours.len(), theirs.len());
        let worst = ours
            .iter()
            .zip(&theirs)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(worst < 1e-5, "{op:?}: forward differs by {worst}");

        let mix = Tensor::from_vec(floats(&case["mix"]), out.dims(), &device).unwrap();
        let grads = (out * mix).unwrap().sum_all().unwrap().backward().unwrap();
        let grad = grads
            .get(features.as_tensor())
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let worst = grad
            .iter()
            .zip(floats(&case["grad"]))
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(worst < 1e-5, "{op:?}: gradient differs by {worst}");
    }
}

/// Our COCO-style mAP beside pycocotools' COCOeval on the same boxes: ground truth and
/// detections drawn at random around it (some shifted, some missed, some false).
#[test]
fn our_map_agrees_with_pycocotools() {
    use deepstyle::detect::faster_rcnn::eval::{Scored, coco_json, evaluate};
    use deepstyle::latent::SeededRng;
    let mut rng = SeededRng::new(11);
    let mut uniform = |lo: f32, hi: f32| lo + (hi - lo) * rng.next_f64() as f32;
    let (mut truths, mut detections, mut sizes) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..30 {
        let mut gts = Vec::new();
        let mut found = Vec::new();
        for _ in 0..(1 + (uniform(0.0, 3.99) as usize)) {
            let (x, y) = (uniform(0.0, 200.0), uniform(0.0, 150.0));
            let rect = BoxRect::new(x, y, x + uniform(20.0, 100.0), y + uniform(20.0, 100.0));
            let class = uniform(0.0, 2.99) as usize;
            gts.push((rect, class));
            if uniform(0.0, 1.0) < 0.85 {
                let jitter = |v: f32, u: &mut dyn FnMut(f32, f32) -> f32| v + u(-12.0, 12.0);
                let found_rect = BoxRect::new(
                    jitter(rect.x0, &mut uniform),
                    jitter(rect.y0, &mut uniform),
                    jitter(rect.x1, &mut uniform),
                    jitter(rect.y1, &mut uniform),
                );
                found.push(Scored {
                    rect: found_rect,
                    class,
                    score: uniform(0.3, 1.0),
                });
            }
        }
        for _ in 0..(uniform(0.0, 2.99) as usize) {
            let (x, y) = (uniform(0.0, 250.0), uniform(0.0, 200.0));
            found.push(Scored {
                rect: BoxRect::new(x, y, x + 40.0, y + 50.0),
                class: uniform(0.0, 2.99) as usize,
                score: uniform(0.05, 0.9),
            });
        }
        truths.push(gts);
        detections.push(found);
        sizes.push((320, 260));
    }
    let ours = evaluate(&detections, &truths, 3);
    let classes = ["upper", "lower", "full"].map(String::from);
    let (gt, results) = coco_json(&detections, &truths, &classes, &sizes);
    let dir = tempfile::tempdir().unwrap();
    let (gt_path, results_path) = (dir.path().join("gt.json"), dir.path().join("results.json"));
    std::fs::write(&gt_path, gt.to_string()).unwrap();
    std::fs::write(&results_path, results.to_string()).unwrap();
    let script = r#"import sys, io, contextlib
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
with contextlib.redirect_stdout(io.StringIO()):
    gt = COCO(sys.argv[1])
    dt = gt.loadRes(sys.argv[2])
    e = COCOeval(gt, dt, "bbox")
    e.evaluate()
    e.accumulate()
    e.summarize()
print(e.stats[0], e.stats[1])
"#;
    if let Some(stdout) = common::pycocotools(script, &[&gt_path, &results_path]) {
        let values: Vec<f32> = stdout
            .split_whitespace()
            .map(|v| v.parse().unwrap())
            .collect();
        assert!(ours.map50 > 0.3 && ours.map < ours.map50, "{ours:?}");
        eprintln!(
            "pycocotools: mAP {} mAP@0.5 {}; ours {} {}",
            values[0], values[1], ours.map, ours.map50
        );
        assert!(
            (values[0] - ours.map).abs() < 0.01,
            "mAP {} vs ours {}",
            values[0],
            ours.map
        );
        assert!(
            (values[1] - ours.map50).abs() < 0.01,
            "mAP@0.5 {} vs ours {}",
            values[1],
            ours.map50
        );
    }
}
