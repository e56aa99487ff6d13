//! What a garment detector learns from and is scored on: a DeepFashion-format set (its
//! partition gives the splits), a COCO file (the file is the split), or a project's accepted
//! images and their reviewed boxes (a stable fifth held out as `test`, the rest `train`).
//! Each image becomes an [`Example`]: its path and its boxes of the detector's classes.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::loss::Truth;
use super::train::DetectorTrainError;
use crate::datasets::read::{
    AnnotationSet, DeepFashionLabels, deepfashion_categories, read_coco, read_deepfashion_as,
};
use crate::project::Project;
use crate::project::catalog::CatalogError;
use crate::review::{ImageStatus, crop_category};

/// The share of a project's reviewed images held out to score on.
pub const PROJECT_HELD_OUT: f32 = 0.2;

/// Where training or scoring data come from, as the command line names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DetectorData {
    /// `deepfashion:ROOT`, or a plain folder.
    DeepFashion(PathBuf),
    /// `coco:FILE`, or a plain `.json` file.
    Coco(PathBuf),
    /// `project:DIR`: the accepted images' reviewed boxes.
    Project(PathBuf),
}

impl DetectorData {
    pub fn parse(text: &str) -> DetectorData {
        if let Some(rest) = text.strip_prefix("deepfashion:") {
            DetectorData::DeepFashion(rest.into())
        } else if let Some(rest) = text.strip_prefix("coco:") {
            DetectorData::Coco(rest.into())
        } else if let Some(rest) = text.strip_prefix("project:") {
            DetectorData::Project(rest.into())
        } else if Path::new(text)
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"))
        {
            DetectorData::Coco(text.into())
        } else {
            DetectorData::DeepFashion(text.into())
        }
    }

    /// What a weights card says the detector learnt from.
    pub fn describe(&self) -> String {
        match self {
            DetectorData::DeepFashion(p) => p.display().to_string(),
            DetectorData::Coco(p) => format!("coco:{}", p.display()),
            DetectorData::Project(p) => format!("project:{}", p.display()),
        }
    }

    /// The images of `split` (`train`, `val`, `test` or `all`) with boxes of `classes`.
    pub fn examples(
        &self,
        split: &str,
        classes: &[String],
    ) -> Result<Vec<Example>, DetectorTrainError> {
        let examples = match self {
            DetectorData::DeepFashion(root) => deepfashion_examples(root, split, classes)?,
            DetectorData::Coco(file) => set_examples(read_coco(file)?, classes),
            DetectorData::Project(root) => {
                let project = Project::open(root).map_err(|e| DetectorTrainError::Image {
                    path: root.clone(),
                    reason: e.to_string(),
                })?;
                let (learn, held) =
                    split_held_out(reviewed_examples(&project, classes)?, PROJECT_HELD_OUT);
                match split {
                    "all" => learn.into_iter().chain(held).collect(),
                    "train" => learn,
                    _ => held,
                }
            }
        };
        if examples.is_empty() {
            return Err(DetectorTrainError::NoImages(
                self.describe().into(),
                split.into(),
            ));
        }
        Ok(examples)
    }

    /// Every category the data name, for a detector of all of them.
    pub fn categories(&self) -> Result<Vec<String>, DetectorTrainError> {
        let boxes = |images: Vec<(PathBuf, Vec<String>)>| {
            let mut names: Vec<String> = Vec::new();
            for name in images.into_iter().flat_map(|(_, n)| n) {
                if !names.contains(&name) {
                    names.push(name);
                }
            }
            names
        };
        Ok(match self {
            DetectorData::DeepFashion(root) => deepfashion_categories(root)?,
            DetectorData::Coco(file) => boxes(
                read_coco(file)?
                    .images
                    .into_iter()
                    .map(|i| (i.path, i.boxes.into_iter().map(|(_, c)| c).collect()))
                    .collect(),
            ),
            DetectorData::Project(root) => {
                let project = Project::open(root).map_err(|e| DetectorTrainError::Image {
                    path: root.clone(),
                    reason: e.to_string(),
                })?;
                let catalog = project.catalog()?;
                let mut names = Vec::new();
                for entry in catalog.review_queue()? {
                    if entry.status == ImageStatus::Accepted {
                        names.push((
                            PathBuf::new(),
                            entry
                                .categories
                                .iter()
                                .map(|c| crop_category(c).to_string())
                                .collect(),
                        ));
                    }
                }
                boxes(names)
            }
        })
    }
}

/// A training image: where it is and its boxes (classes 1-based).
#[derive(Debug, Clone)]
pub struct Example {
    pub path: PathBuf,
    pub truths: Vec<Truth>,
}

/// The images of `split` (`train`, `val`, `test`, or `all`) in the DeepFashion-format set at
/// `root` with boxes of `classes` (category types, or DeepFashion's categories).
fn deepfashion_examples(
    root: &Path,
    split: &str,
    classes: &[String],
) -> Result<Vec<Example>, DetectorTrainError> {
    let mut set = read_deepfashion_as(root, DeepFashionLabels::for_classes(classes))?;
    let partition = if split == "all" {
        None
    } else {
        read_partition(root)
    };
    set.images.retain(|image| {
        partition.as_ref().is_none_or(|p| {
            // The lists name images with forward slashes on every system.
            let name = image.path.strip_prefix(root).unwrap_or(&image.path);
            let name = name.to_string_lossy().replace('\\', "/");
            p.get(&name).is_some_and(|s| s == split)
        })
    });
    Ok(set_examples(set, classes))
}

/// `Eval/list_eval_partition.txt` as image name -> split, if the set has one.
fn read_partition(root: &Path) -> Option<std::collections::HashMap<String, String>> {
    let text = std::fs::read_to_string(root.join("Eval/list_eval_partition.txt")).ok()?;
    Some(
        text.lines()
            .skip(2)
            .filter_map(|line| {
                let mut fields = line.split_whitespace();
                Some((fields.next()?.to_string(), fields.next()?.to_string()))
            })
            .collect(),
    )
}

/// The images of an annotation set with boxes of `classes`.
fn set_examples(set: AnnotationSet, classes: &[String]) -> Vec<Example> {
    set.images
        .into_iter()
        .filter_map(|image| {
            let truths = truths_of(&image.boxes, classes);
            (!truths.is_empty()).then_some(Example {
                path: image.path,
                truths,
            })
        })
        .collect()
}

/// The boxes whose category is one of `classes`, numbered from 1.
fn truths_of(boxes: &[(crate::detect::boxes::BoxRect, String)], classes: &[String]) -> Vec<Truth> {
    boxes
        .iter()
        .filter_map(|(rect, category)| {
            let class = classes.iter().position(|c| c == category)? + 1;
            Some(Truth { rect: *rect, class })
        })
        .collect()
}

/// The accepted images with reviewed boxes of `classes` (a detected person counts as a
/// full-body garment, as its crop does), each with its SHA-256, oldest first.
pub fn reviewed_examples(
    project: &Project,
    classes: &[String],
) -> Result<Vec<(String, Example)>, CatalogError> {
    let catalog = project.catalog()?;
    let mut examples = Vec::new();
    for entry in catalog.review_queue()? {
        if entry.status != ImageStatus::Accepted {
            continue;
        }
        let boxes: Vec<_> = catalog
            .boxes_of(entry.image.id)?
            .into_iter()
            .filter(|b| b.reviewed)
            .map(|b| (b.rect, crop_category(&b.category).to_string()))
            .collect();
        let truths = truths_of(&boxes, classes);
        if !truths.is_empty() {
            examples.push((
                entry.image.sha256.clone(),
                Example {
                    path: project.resolve(&entry.image.path),
                    truths,
                },
            ));
        }
    }
    Ok(examples)
}

/// Splits `examples` into (to learn from, held out): the held-out ones are those whose
/// SHA-256, hashed again, comes first, so an image stays on its side as others are added.
/// At least one is held out and one kept when there are two.
pub fn split_held_out(
    examples: Vec<(String, Example)>,
    held_out: f32,
) -> (Vec<Example>, Vec<Example>) {
    let mut keyed: Vec<([u8; 32], Example)> = examples
        .into_iter()
        .map(|(sha, example)| (Sha256::digest(sha.as_bytes()).into(), example))
        .collect();
    keyed.sort_by_key(|k| k.0);
    let count = keyed.len();
    let held =
        ((count as f32 * held_out).round() as usize).clamp(1, count.saturating_sub(1).max(1));
    let learn = keyed.split_off(held.min(count));
    (
        learn.into_iter().map(|(_, e)| e).collect(),
        keyed.into_iter().map(|(_, e)| e).collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_is_named_by_its_prefix_or_its_kind() {
        assert_eq!(
            DetectorData::parse("project:/p"),
            DetectorData::Project("/p".into())
        );
        assert_eq!(
            DetectorData::parse("coco:/a/train"),
            DetectorData::Coco("/a/train".into())
        );
        assert_eq!(
            DetectorData::parse("/a/instances.JSON"),
            DetectorData::Coco("/a/instances.JSON".into())
        );
        assert_eq!(
            DetectorData::parse("deepfashion:/df"),
            DetectorData::DeepFashion("/df".into())
        );
        assert_eq!(
            DetectorData::parse("/scenes"),
            DetectorData::DeepFashion("/scenes".into())
        );
    }

    #[test]
    fn a_coco_file_gives_the_boxes_of_the_asked_classes_and_its_categories() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("images")).unwrap();
        for name in ["a.png", "b.png"] {
            image::RgbImage::new(40, 30)
                .save(dir.path().join("images").join(name))
                .unwrap();
        }
        let json = serde_json::json!({
            "images": [{"id": 1, "file_name": "a.png"}, {"id": 2, "file_name": "b.png"}],
            "categories": [{"id": 7, "name": "skirt"}, {"id": 9, "name": "coat"}],
            "annotations": [
                {"id": 1, "image_id": 1, "category_id": 7, "bbox": [1, 2, 10, 20]},
                {"id": 2, "image_id": 1, "category_id": 9, "bbox": [5, 5, 5, 5]},
                {"id": 3, "image_id": 2, "category_id": 9, "bbox": [0, 0, 8, 8]}
            ]
        });
        let file = dir.path().join("train.json");
        std::fs::write(&file, json.to_string()).unwrap();
        let data = DetectorData::parse(file.to_str().unwrap());
        let mut categories = data.categories().unwrap();
        categories.sort();
        assert_eq!(categories, ["coat", "skirt"]);
        let examples = data.examples("train", &["skirt".to_string()]).unwrap();
        assert_eq!(examples.len(), 1);
        assert_eq!(examples[0].truths.len(), 1);
        assert_eq!(examples[0].truths[0].class, 1);
        assert_eq!(
            examples[0].truths[0].rect,
            crate::detect::boxes::BoxRect::new(1.0, 2.0, 11.0, 22.0)
        );
        let err = data.examples("train", &["dress".to_string()]).unwrap_err();
        assert!(err.to_string().contains("no images"), "{err}");
    }
}
