//! A project's boxes in COCO, YOLO or Pascal VOC, with the images copied beside the labels as
//! each format's tools expect:
//!
//! - COCO: `annotations.json` (`images`, `annotations` with `bbox [x, y, w, h]`, `area` and, on
//!   model boxes, `score`; `categories`) and `images/`;
//! - YOLO: `images/`, `labels/<name>.txt` (`class cx cy w h`, normalised), `classes.txt`,
//!   `data.yaml`;
//! - VOC: `JPEGImages/` and `Annotations/<name>.xml`.
//!
//! Images are named by their content hash (as the project stores them), so names never clash.
//! Rejected images are never exported; every file is written atomically.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::Format;
use crate::jobs::Reporter;
use crate::project::{CatalogError, Project};
use crate::review::{DEFAULT_CATEGORIES, GarmentBox, ImageStatus};

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("cancelled")]
    Cancelled,
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// What an export wrote.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExportReport {
    pub images: usize,
    pub boxes: usize,
    pub categories: Vec<String>,
}

/// One image to export, with the boxes it keeps.
struct Item {
    file_name: String,
    stored: PathBuf,
    width: u32,
    height: u32,
    boxes: Vec<GarmentBox>,
}

/// Writes the project's boxes in `format` into `out` (created if missing). With
/// `reviewed_only`, only accepted images and their reviewed boxes.
pub fn export_annotations(
    project: &Project,
    format: Format,
    out: &Path,
    reviewed_only: bool,
    reporter: &dyn Reporter,
) -> Result<ExportReport, ExportError> {
    let catalog = project.catalog()?;
    let mut items = Vec::new();
    for entry in catalog.review_queue()? {
        let keep = match entry.status {
            ImageStatus::Rejected => false,
            ImageStatus::Accepted => true,
            ImageStatus::Unreviewed => !reviewed_only,
        };
        if !keep {
            continue;
        }
        let boxes: Vec<GarmentBox> = catalog
            .boxes_of(entry.image.id)?
            .into_iter()
            .filter(|b| b.reviewed || !reviewed_only)
            .collect();
        let stored = project.resolve(&entry.image.path);
        let file_name = stored.file_name().map_or_else(
            || entry.image.sha256.clone(),
            |n| n.to_string_lossy().into_owned(),
        );
        items.push(Item {
            file_name,
            stored,
            width: entry.image.width,
            height: entry.image.height,
            boxes,
        });
    }
    let categories = categories_of(&items);
    let images_dir = out.join(match format {
        Format::Coco | Format::Yolo => "images",
        Format::Voc => "JPEGImages",
    });
    let total = items.len() as u64;
    for (i, item) in items.iter().enumerate() {
        if reporter.is_cancelled() {
            return Err(ExportError::Cancelled);
        }
        reporter.progress(i as u64, total, "copying images");
        let bytes = std::fs::read(&item.stored).map_err(|source| ExportError::Read {
            path: item.stored.clone(),
            source,
        })?;
        write(&images_dir.join(&item.file_name), bytes.as_slice())?;
        match format {
            Format::Yolo => write(
                &out.join("labels").join(stem(&item.file_name) + ".txt"),
                yolo_labels(item, &categories).as_bytes(),
            )?,
            Format::Voc => write(
                &out.join("Annotations").join(stem(&item.file_name) + ".xml"),
                voc_xml(item).as_bytes(),
            )?,
            Format::Coco => {}
        }
    }
    match format {
        Format::Coco => write(
            &out.join("annotations.json"),
            &coco_json(&items, &categories),
        )?,
        Format::Yolo => {
            write(
                &out.join("classes.txt"),
                (categories.join("\n") + "\n").as_bytes(),
            )?;
            write(&out.join("data.yaml"), data_yaml(&categories).as_bytes())?;
        }
        Format::Voc => {}
    }
    reporter.progress(total, total, "exported");
    Ok(ExportReport {
        images: items.len(),
        boxes: items.iter().map(|i| i.boxes.len()).sum(),
        categories,
    })
}

/// The categories in use: DeepFashion's three types first (in their order), then the rest
/// sorted.
fn categories_of(items: &[Item]) -> Vec<String> {
    let mut used: Vec<String> = items
        .iter()
        .flat_map(|i| i.boxes.iter().map(|b| b.category.clone()))
        .collect();
    used.sort();
    used.dedup();
    let mut ordered: Vec<String> = DEFAULT_CATEGORIES
        .iter()
        .filter(|c| used.iter().any(|u| u == *c))
        .map(|c| c.to_string())
        .collect();
    ordered.extend(
        used.into_iter()
            .filter(|u| !DEFAULT_CATEGORIES.contains(&u.as_str())),
    );
    ordered
}

fn stem(file_name: &str) -> String {
    Path::new(file_name).file_stem().map_or_else(
        || file_name.to_string(),
        |s| s.to_string_lossy().into_owned(),
    )
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), ExportError> {
    crate::atomic::write_atomic(path, bytes).map_err(|source| ExportError::Write {
        path: path.to_path_buf(),
        source,
    })
}

fn category_id(categories: &[String], name: &str) -> usize {
    categories.iter().position(|c| c == name).unwrap_or(0)
}

fn coco_json(items: &[Item], categories: &[String]) -> Vec<u8> {
    let mut annotations = Vec::new();
    let mut next_id = 1;
    let images: Vec<serde_json::Value> = items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            for b in &item.boxes {
                let r = b.rect;
                let mut annotation = serde_json::json!({
                    "id": next_id,
                    "image_id": i + 1,
                    "category_id": category_id(categories, &b.category) + 1,
                    "bbox": [r.x0, r.y0, r.width(), r.height()],
                    "area": r.area(),
                    "iscrowd": 0,
                });
                if let (Some(score), Some(object)) = (b.score, annotation.as_object_mut()) {
                    object.insert("score".into(), serde_json::json!(score));
                }
                annotations.push(annotation);
                next_id += 1;
            }
            serde_json::json!({
                "id": i + 1,
                "file_name": item.file_name,
                "width": item.width,
                "height": item.height,
            })
        })
        .collect();
    let categories: Vec<serde_json::Value> = categories
        .iter()
        .enumerate()
        .map(|(i, name)| serde_json::json!({"id": i + 1, "name": name, "supercategory": "garment"}))
        .collect();
    let document = serde_json::json!({
        "info": {"description": "exported by DeepStyle Studio"},
        "images": images,
        "annotations": annotations,
        "categories": categories,
    });
    serde_json::to_vec_pretty(&document).unwrap_or_default()
}

fn yolo_labels(item: &Item, categories: &[String]) -> String {
    let (w, h) = (item.width.max(1) as f32, item.height.max(1) as f32);
    let mut text = String::new();
    for b in &item.boxes {
        let (cx, cy) = b.rect.center();
        let _ = writeln!(
            text,
            "{} {:.6} {:.6} {:.6} {:.6}",
            category_id(categories, &b.category),
            cx / w,
            cy / h,
            b.rect.width() / w,
            b.rect.height() / h
        );
    }
    text
}

fn data_yaml(categories: &[String]) -> String {
    let names: Vec<String> = categories
        .iter()
        .map(|c| format!("'{}'", c.replace('\'', "''")))
        .collect();
    format!(
        "# Exported by DeepStyle Studio\npath: .\ntrain: images\nval: images\nnc: {}\nnames: [{}]\n",
        categories.len(),
        names.join(", ")
    )
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

fn voc_xml(item: &Item) -> String {
    let mut xml = String::new();
    let _ = writeln!(xml, "<annotation>");
    let _ = writeln!(xml, "  <folder>JPEGImages</folder>");
    let _ = writeln!(
        xml,
        "  <filename>{}</filename>",
        xml_escape(&item.file_name)
    );
    let _ = writeln!(
        xml,
        "  <size><width>{}</width><height>{}</height><depth>3</depth></size>",
        item.width, item.height
    );
    let _ = writeln!(xml, "  <segmented>0</segmented>");
    for b in &item.boxes {
        let r = b.rect;
        let _ = writeln!(xml, "  <object>");
        let _ = writeln!(xml, "    <name>{}</name>", xml_escape(&b.category));
        let _ = writeln!(xml, "    <pose>Unspecified</pose>");
        let _ = writeln!(xml, "    <truncated>0</truncated>");
        let _ = writeln!(xml, "    <difficult>0</difficult>");
        let _ = writeln!(
            xml,
            "    <bndbox><xmin>{}</xmin><ymin>{}</ymin><xmax>{}</xmax><ymax>{}</ymax></bndbox>",
            r.x0.round(),
            r.y0.round(),
            r.x1.round(),
            r.y1.round()
        );
        let _ = writeln!(xml, "  </object>");
    }
    let _ = writeln!(xml, "</annotation>");
    xml
}
