//! The person detector against TensorFlow's own outputs on two real photographs
//! (`tests/data/detect/ssdlite_reference.json`, written by `tools/convert_ssdlite.py`), and
//! against the people annotated in them.
#![allow(clippy::unwrap_used)]

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
