//! Exporting boxes as COCO, YOLO and Pascal VOC through the command line: the numbers in each
//! file are the boxes', the images lie beside the labels, rejected images stay out, and COCO's
//! own API (pycocotools) reads the JSON.
// Helpers here unwrap as the tests do: a failure there is a failing test.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use assert_cmd::Command;
use deepstyle::detect::boxes::BoxRect;
use deepstyle::project::Project;
use deepstyle::project::ingest::{ImportOptions, import_paths};
use deepstyle::review::{GarmentBox, ImageStatus, Origin};

/// A project of three 200x100 photos: the first accepted with a reviewed human box and a model
/// box, the second unreviewed with one box, the third rejected.
fn project(dir: &Path) -> (Project, Vec<String>) {
    let photos = dir.join("photos");
    for i in 0..3u32 {
        let bytes = common::encode(&common::picture(i, 200, 100), image::ImageFormat::Png);
        common::write(&photos, &format!("look{i}.png"), &bytes);
    }
    let project = Project::create(&dir.join("p")).unwrap();
    import_paths(
        &project,
        &[photos],
        &ImportOptions::default(),
        &deepstyle::jobs::Silent,
    )
    .unwrap();
    let catalog = project.catalog().unwrap();
    let images = catalog.list_images().unwrap();
    let garment = |rect: BoxRect, category: &str, origin, score, reviewed| GarmentBox {
        id: None,
        rect,
        category: category.into(),
        score,
        origin,
        reviewed,
    };
    catalog
        .save_boxes(
            images[0].id,
            &[
                garment(
                    BoxRect::new(10.0, 20.0, 60.0, 90.0),
                    "full",
                    Origin::Human,
                    None,
                    true,
                ),
                garment(
                    BoxRect::new(100.5, 5.25, 150.0, 45.0),
                    "upper",
                    Origin::Model,
                    Some(0.875),
                    true,
                ),
            ],
            Some(ImageStatus::Accepted),
        )
        .unwrap();
    catalog
        .save_boxes(
            images[1].id,
            &[garment(
                BoxRect::new(0.0, 0.0, 200.0, 100.0),
                "lower",
                Origin::Human,
                None,
                false,
            )],
            None,
        )
        .unwrap();
    catalog
        .save_boxes(
            images[2].id,
            &[garment(
                BoxRect::new(1.0, 1.0, 9.0, 9.0),
                "full",
                Origin::Human,
                None,
                true,
            )],
            Some(ImageStatus::Rejected),
        )
        .unwrap();
    let names = images
        .iter()
        .map(|i| {
            Path::new(&i.path)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    (project, names)
}

fn export(project: &Project, format: &str, out: &Path, reviewed_only: bool) {
    let mut command = Command::cargo_bin("deepstyle").unwrap();
    command
        .arg("export")
        .arg(project.root())
        .args(["--format", format, "--out"])
        .arg(out);
    if reviewed_only {
        command.arg("--reviewed-only");
    }
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn coco_holds_the_boxes_and_pycocotools_reads_it() {
    let dir = tempfile::tempdir().unwrap();
    let (project, names) = project(dir.path());
    let out = dir.path().join("coco");
    export(&project, "coco", &out, false);
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("annotations.json")).unwrap()).unwrap();
    let images = json["images"].as_array().unwrap();
    assert_eq!(images.len(), 2, "the rejected image stays out");
    assert_eq!(images[0]["file_name"], names[0].as_str());
    assert_eq!(images[0]["width"], 200);
    assert!(out.join("images").join(&names[0]).is_file());
    assert!(out.join("images").join(&names[1]).is_file());
    assert!(!out.join("images").join(&names[2]).exists());
    let categories: Vec<&str> = json["categories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(categories, ["upper", "lower", "full"]);
    let annotations = json["annotations"].as_array().unwrap();
    assert_eq!(annotations.len(), 3);
    let model = annotations
        .iter()
        .find(|a| a.get("score").is_some())
        .unwrap();
    assert_eq!(model["bbox"], serde_json::json!([100.5, 5.25, 49.5, 39.75]));
    assert_eq!(model["area"], serde_json::json!(49.5 * 39.75));
    assert_eq!(model["category_id"], 1);
    assert_eq!(model["score"], serde_json::json!(0.875));

    // COCO's own reader: required where CI installs it, run wherever it is installed.
    let check = "import sys; from pycocotools.coco import COCO; c = COCO(sys.argv[1]); \
                 print(len(c.getImgIds()), len(c.getAnnIds()), len(c.getCatIds()))";
    if let Some(stdout) = common::pycocotools(check, &[&out.join("annotations.json")]) {
        assert_eq!(stdout.lines().last(), Some("2 3 3"), "{stdout}");
    }
}

#[test]
fn yolo_writes_normalised_centres_classes_and_data_yaml() {
    let dir = tempfile::tempdir().unwrap();
    let (project, names) = project(dir.path());
    let out = dir.path().join("yolo");
    export(&project, "yolo", &out, false);
    let stem = |name: &str| {
        Path::new(name)
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .into_owned()
    };
    let labels =
        std::fs::read_to_string(out.join("labels").join(stem(&names[0]) + ".txt")).unwrap();
    let rows: Vec<Vec<f64>> = labels
        .lines()
        .map(|l| l.split(' ').map(|v| v.parse().unwrap()).collect())
        .collect();
    // classes: upper 0, lower 1, full 2
    let expected = [
        [2.0, 35.0 / 200.0, 55.0 / 100.0, 50.0 / 200.0, 70.0 / 100.0],
        [
            0.0,
            125.25 / 200.0,
            25.125 / 100.0,
            49.5 / 200.0,
            39.75 / 100.0,
        ],
    ];
    assert_eq!(rows.len(), 2);
    for (row, want) in rows.iter().zip(expected) {
        for (v, w) in row.iter().zip(want) {
            assert!((v - w).abs() < 1e-6, "{row:?} is not {want:?}");
        }
    }
    assert_eq!(
        std::fs::read_to_string(out.join("classes.txt")).unwrap(),
        "upper\nlower\nfull\n"
    );
    let yaml = std::fs::read_to_string(out.join("data.yaml")).unwrap();
    assert!(
        yaml.contains("nc: 3") && yaml.contains("names: ['upper', 'lower', 'full']"),
        "{yaml}"
    );
    assert!(out.join("images").join(&names[0]).is_file());
}

#[test]
fn voc_writes_one_xml_an_image_and_reviewed_only_keeps_accepted_images() {
    let dir = tempfile::tempdir().unwrap();
    let (project, names) = project(dir.path());
    let out = dir.path().join("voc");
    export(&project, "voc", &out, true);
    let stem = |name: &str| {
        Path::new(name)
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .into_owned()
    };
    let xml =
        std::fs::read_to_string(out.join("Annotations").join(stem(&names[0]) + ".xml")).unwrap();
    assert!(
        xml.contains("<width>200</width><height>100</height>"),
        "{xml}"
    );
    assert!(xml.contains("<name>full</name>"));
    assert!(
        xml.contains("<xmin>10</xmin><ymin>20</ymin><xmax>60</xmax><ymax>90</ymax>"),
        "{xml}"
    );
    assert!(
        xml.contains("<xmin>101</xmin><ymin>5</ymin><xmax>150</xmax><ymax>45</ymax>"),
        "{xml}"
    );
    assert!(out.join("JPEGImages").join(&names[0]).is_file());
    assert!(
        !out.join("Annotations")
            .join(stem(&names[1]) + ".xml")
            .exists(),
        "an unreviewed image stays out with --reviewed-only"
    );
}

fn import(project: &Project, format: &str, path: &Path) -> String {
    let output = Command::cargo_bin("deepstyle")
        .unwrap()
        .arg("import-annotations")
        .arg(project.root())
        .args(["--format", format])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// An image's hash and its boxes as (category, corners).
type ImageBoxes = (String, Vec<(String, [f32; 4])>);

/// Every image's boxes as (category, corners), by image hash, sorted.
fn boxes_by_image(project: &Project) -> Vec<ImageBoxes> {
    let catalog = project.catalog().unwrap();
    let mut all: Vec<_> = catalog
        .list_images()
        .unwrap()
        .into_iter()
        .map(|image| {
            let mut boxes: Vec<(String, [f32; 4])> = catalog
                .boxes_of(image.id)
                .unwrap()
                .into_iter()
                .map(|b| (b.category, [b.rect.x0, b.rect.y0, b.rect.x1, b.rect.y1]))
                .collect();
            boxes.sort_by(|a, b| a.0.cmp(&b.0));
            (image.sha256, boxes)
        })
        .filter(|(_, boxes)| !boxes.is_empty())
        .collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all
}

/// Export then import of each format gives the same boxes on the same images (within a pixel:
/// VOC keeps whole pixels, YOLO normalised centres); importing again adds nothing.
#[test]
fn every_format_round_trips() {
    for format in ["coco", "yolo", "voc"] {
        let dir = tempfile::tempdir().unwrap();
        let (source, _) = project(dir.path());
        let out = dir.path().join("out");
        export(&source, format, &out, false);
        let target = Project::create(&dir.path().join("target")).unwrap();
        let stdout = import(&target, format, &out);
        assert!(
            stdout.contains("2 images added") && stdout.contains("3 boxes added"),
            "{format}: {stdout}"
        );
        // The rejected image (its one box is 8 px wide) is not exported.
        let want = boxes_by_image(&source)
            .into_iter()
            .filter(|(_, boxes)| boxes.iter().all(|(_, r)| r[2] - r[0] > 8.0))
            .collect::<Vec<_>>();
        let got = boxes_by_image(&target);
        assert_eq!(got.len(), want.len(), "{format}: {got:?}");
        for ((sha_a, a), (sha_b, b)) in want.iter().zip(&got) {
            assert_eq!(sha_a, sha_b);
            assert_eq!(a.len(), b.len());
            for ((ca, ra), (cb, rb)) in a.iter().zip(b) {
                assert_eq!(ca, cb, "{format}");
                assert!(
                    ra.iter().zip(rb).all(|(x, y)| (x - y).abs() <= 1.0),
                    "{format}: {ra:?} vs {rb:?}"
                );
            }
        }
        let again = import(&target, format, &out);
        assert!(
            again.contains("0 boxes added, 3 already present"),
            "{format}: {again}"
        );
    }
}

/// DeepFashion's lists as they come (CRLF, runs of spaces, zero-padded numbers) with every kind
/// of bad record: each is reported with its file, line and reason, and the good ones import.
#[test]
fn deepfashion_reports_each_bad_record_and_imports_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("DeepFashion");
    for name in [
        "A/img_00000001",
        "A/img_00000002",
        "B/img_00000003",
        "B/img_00000004",
        "C/img_00000006",
        "C/img_00000007",
        "C/img_00000008",
    ] {
        let seed = name.bytes().map(u32::from).sum();
        let bytes = common::encode(&common::picture(seed, 300, 300), image::ImageFormat::Jpeg);
        let path = root.join("img").join(format!("{name}.jpg"));
        common::write(
            path.parent().unwrap(),
            path.file_name().unwrap().to_str().unwrap(),
            &bytes,
        );
    }
    let anno = root.join("Anno");
    std::fs::create_dir_all(&anno).unwrap();
    std::fs::write(
        anno.join("list_category_cloth.txt"),
        "3\r\ncategory_name  category_type\r\nBlouse                       1\r\nJeans                        2\r\nDress                        3\r\n",
    )
    .unwrap();
    std::fs::write(
        anno.join("list_category_img.txt"),
        "8\r\nimage_name  category_label\r\n\
         img/A/img_00000001.jpg   1\r\n\
         img/A/img_00000002.jpg   1\r\n\
         img/B/img_00000003.jpg   2\r\n\
         img/B/img_00000004.jpg   2\r\n\
         img/B/img_00000005.jpg   2\r\n\
         img/C/img_00000006.jpg   3\r\n\
         img/C/img_00000007.jpg   51\r\n\
         img/C/img_00000008.jpg   03\r\n",
    )
    .unwrap();
    std::fs::write(
        anno.join("list_bbox.txt"),
        "9\nimage_name  x_1  y_1  x_2  y_2\n\
         img/A/img_00000001.jpg                   072 079 232 273\n\
         img/A/img_00000002.jpg                   010 010 005 200\n\
         img/B/img_00000003.jpg                   000 000 400 100\n\
         img/B/img_00000004.jpg                   1 2 3\n\
         img/B/img_00000005.jpg                   010 010 100 100\n\
         img/C/img_00000006.jpg                   01a 010 100 100\n\
         img/C/img_00000007.jpg                   020 030 120 250\n\
         img/C/img_00000008.jpg                   005 005 200 290",
    )
    .unwrap();
    let project = Project::create(&dir.path().join("p")).unwrap();
    let stdout = import(&project, "deepfashion", &root);
    let problems: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("problem\t"))
        .collect();
    let expect = [
        ("list_category_img.txt:9:", "unknown category label \"51\""),
        (
            "list_bbox.txt:1:",
            "the count says 9 records, the file holds 8",
        ),
        ("list_bbox.txt:4:", "inverted or empty box"),
        ("list_bbox.txt:5:", "outside the 300x300 image"),
        ("list_bbox.txt:6:", "expected 5 fields, found 4"),
        ("list_bbox.txt:7:", "image not found"),
        ("list_bbox.txt:8:", "not a whole number"),
        ("list_bbox.txt:9:", "has no category"),
    ];
    for (place, reason) in expect {
        assert!(
            problems
                .iter()
                .any(|p| p.contains(place) && p.contains(reason)),
            "no problem {place} {reason} in:\n{stdout}"
        );
    }
    assert_eq!(problems.len(), expect.len(), "{stdout}");
    let catalog = project.catalog().unwrap();
    let images = catalog.list_images().unwrap();
    let mut boxes: Vec<(String, [f32; 4])> = images
        .iter()
        .flat_map(|i| catalog.boxes_of(i.id).unwrap())
        .map(|b| (b.category, [b.rect.x0, b.rect.y0, b.rect.x1, b.rect.y1]))
        .collect();
    boxes.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        boxes,
        vec![
            ("full".to_string(), [5.0, 5.0, 200.0, 290.0]),
            ("upper".to_string(), [72.0, 79.0, 232.0, 273.0]),
        ]
    );
    let queue = catalog.review_queue().unwrap();
    let accepted = queue
        .iter()
        .filter(|e| e.status == ImageStatus::Accepted)
        .count();
    assert_eq!(accepted, 2, "images with imported boxes are accepted");
}
