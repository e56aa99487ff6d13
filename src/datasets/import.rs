//! Bringing an annotation set into a project: its images go through the import (decode limits,
//! SHA-256 dedupe), then every box is added in one transaction as reviewed human work, and the
//! images that have boxes are marked accepted (an image whose boxes were all refused stays to be
//! reviewed). Importing the same set twice adds nothing the second time. The images' import and
//! the boxes' are two transactions: should the second fail, the images stay, without boxes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::read::{
    AnnotationSet, Problem, ReadError, read_coco, read_deepfashion, read_voc, read_yolo,
};
use crate::jobs::Reporter;
use crate::project::ingest::{self, ImportError, ImportOptions};
use crate::project::{CatalogError, Project};
use crate::review::{GarmentBox, ImageStatus, Origin};

/// The formats `import-annotations` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceFormat {
    DeepFashion,
    Coco,
    Yolo,
    Voc,
}

impl std::str::FromStr for SourceFormat {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.to_ascii_lowercase().as_str() {
            "deepfashion" => Ok(SourceFormat::DeepFashion),
            "coco" => Ok(SourceFormat::Coco),
            "yolo" => Ok(SourceFormat::Yolo),
            "voc" | "pascal-voc" => Ok(SourceFormat::Voc),
            _ => Err(format!(
                "unknown format {text:?}: use deepfashion, coco, yolo or voc"
            )),
        }
    }
}

/// Reads a set: `path` is DeepFashion's root, a COCO JSON file (or the folder holding
/// `annotations.json`), or a YOLO or VOC folder.
pub fn read_set(format: SourceFormat, path: &Path) -> Result<AnnotationSet, ReadError> {
    match format {
        SourceFormat::DeepFashion => read_deepfashion(path),
        SourceFormat::Coco if path.is_dir() => read_coco(&path.join("annotations.json")),
        SourceFormat::Coco => read_coco(path),
        SourceFormat::Yolo => read_yolo(path),
        SourceFormat::Voc => read_voc(path),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AnnotationImportError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    Import(#[from] ImportError),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
}

/// What an annotation import did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AnnotationReport {
    pub images_added: usize,
    pub images_present: usize,
    pub boxes_added: usize,
    /// Boxes the project already had (same place and category).
    pub boxes_present: usize,
    pub problems: Vec<Problem>,
}

impl AnnotationReport {
    pub fn summary(&self) -> String {
        format!(
            "{} images added, {} already present, {} boxes added, {} already present, {} problems",
            self.images_added,
            self.images_present,
            self.boxes_added,
            self.boxes_present,
            self.problems.len()
        )
    }
}

/// Reads `path` as `format` and imports it into `project`.
pub fn import_annotations(
    project: &Project,
    format: SourceFormat,
    path: &Path,
    reporter: &dyn Reporter,
) -> Result<AnnotationReport, AnnotationImportError> {
    let set = read_set(format, path)?;
    import_set(project, set, reporter)
}

/// Imports a set read already.
pub fn import_set(
    project: &Project,
    set: AnnotationSet,
    reporter: &dyn Reporter,
) -> Result<AnnotationReport, AnnotationImportError> {
    let mut report = AnnotationReport {
        problems: set.problems,
        ..AnnotationReport::default()
    };
    let paths: Vec<PathBuf> = set.images.iter().map(|i| i.path.clone()).collect();
    let imported = ingest::import_paths(project, &paths, &ImportOptions::default(), reporter)?;
    report.images_added = imported.added.len();
    report.images_present = imported.already_present.len();
    for failure in &imported.failed {
        report.problems.push(Problem {
            file: PathBuf::from(&failure.origin),
            line: None,
            reason: failure.reason.clone(),
        });
    }
    let failed: Vec<&str> = imported.failed.iter().map(|f| f.origin.as_str()).collect();
    let catalog = project.catalog()?;
    let mut additions: HashMap<i64, Vec<GarmentBox>> = HashMap::new();
    for image in &set.images {
        if failed.contains(&image.path.display().to_string().as_str()) {
            continue;
        }
        let Ok(bytes) = std::fs::read(&image.path) else {
            continue;
        };
        let sha = hex::encode(Sha256::digest(&bytes));
        let Some(row) = catalog.image_by_sha(&sha)? else {
            continue;
        };
        if image.boxes.is_empty() {
            // Nothing was drawn on it (or every box was refused): it stays to be reviewed.
            continue;
        }
        let existing = catalog.boxes_of(row.id)?;
        let entry = additions.entry(row.id).or_default();
        for (rect, category) in &image.boxes {
            let duplicate = existing
                .iter()
                .chain(entry.iter())
                .any(|b| b.rect == *rect && &b.category == category);
            if duplicate {
                report.boxes_present += 1;
                continue;
            }
            entry.push(GarmentBox {
                id: None,
                rect: *rect,
                category: category.clone(),
                score: None,
                origin: Origin::Human,
                reviewed: true,
            });
        }
    }
    let mut additions: Vec<(i64, Vec<GarmentBox>)> = additions.into_iter().collect();
    additions.sort_by_key(|(id, _)| *id);
    report.boxes_added = additions.iter().map(|(_, b)| b.len()).sum();
    catalog.add_boxes(&additions, Some(ImageStatus::Accepted))?;
    Ok(report)
}
