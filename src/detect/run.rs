//! Detect over a project: decode the chosen images in parallel, run the detector a batch at a
//! time, and store each batch's boxes (origin `model`, with their scores) in one transaction,
//! replacing the model boxes an earlier run left (so running twice does not duplicate them).
//! Boxes people drew or reviewed are kept, and images a person has reviewed are skipped unless
//! asked for. A cancelled run keeps the batches it stored.

use rayon::prelude::*;

use super::faster_rcnn::infer::GarmentDetector;
use super::ssd::{Detection, DetectorError, PersonDetector};
use crate::imaging;
use crate::jobs::Reporter;
use crate::project::{CatalogError, ImageRow, Project};
use crate::review::{GarmentBox, ImageStatus, Origin};

/// Images run through the network at once.
pub const DEFAULT_BATCH: usize = 8;
/// Detections below this score are not stored.
pub const DEFAULT_MIN_SCORE: f32 = 0.5;

#[derive(Debug, Clone)]
pub struct DetectOptions {
    pub min_score: f32,
    /// Also images a person has accepted or rejected.
    pub reviewed_too: bool,
    /// Only these images (catalog ids); all when `None`.
    pub images: Option<Vec<i64>>,
    pub batch: usize,
}

impl Default for DetectOptions {
    fn default() -> Self {
        DetectOptions {
            min_score: DEFAULT_MIN_SCORE,
            reviewed_too: false,
            images: None,
            batch: DEFAULT_BATCH,
        }
    }
}

/// What happened to one image.
#[derive(Debug, Clone, PartialEq)]
pub enum DetectEvent {
    Detected {
        image_id: i64,
        origin: String,
        detections: Vec<Detection>,
    },
    Failed {
        image_id: i64,
        origin: String,
        reason: String,
    },
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct DetectReport {
    pub images: usize,
    pub boxes: usize,
    /// Reviewed images left as they were.
    pub skipped_reviewed: usize,
    pub failed: usize,
    pub cancelled: bool,
}

impl DetectReport {
    pub fn summary(&self) -> String {
        format!(
            "{} images, {} boxes stored, {} reviewed images kept as they were, {} failed",
            self.images, self.boxes, self.skipped_reviewed, self.failed
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Detector(#[from] DetectorError),
    #[error("detection failed: {0}")]
    Model(String),
    #[error("no image with id {0} in the project")]
    NoImage(i64),
}

/// The images to run on, and how many reviewed ones were left out.
fn chosen_images(
    all: Vec<ImageRow>,
    options: &DetectOptions,
) -> Result<(Vec<ImageRow>, usize), DetectError> {
    let picked: Vec<ImageRow> = match &options.images {
        None => all,
        Some(ids) => ids
            .iter()
            .map(|id| {
                all.iter()
                    .find(|row| row.id == *id)
                    .cloned()
                    .ok_or(DetectError::NoImage(*id))
            })
            .collect::<Result<_, _>>()?,
    };
    let before = picked.len();
    let kept: Vec<ImageRow> = picked
        .into_iter()
        .filter(|row| {
            options.reviewed_too || ImageStatus::parse(&row.status) == ImageStatus::Unreviewed
        })
        .collect();
    let skipped = before - kept.len();
    Ok((kept, skipped))
}

/// A model that finds boxes in images: the shipped person detector, or a trained garment
/// detector.
pub trait Detector: Sync {
    /// The detections in each image scoring at least `min_score`, best first.
    fn detect_images(
        &self,
        images: &[&image::RgbImage],
        min_score: f32,
    ) -> Result<Vec<Vec<Detection>>, DetectError>;
}

impl Detector for PersonDetector {
    fn detect_images(
        &self,
        images: &[&image::RgbImage],
        min_score: f32,
    ) -> Result<Vec<Vec<Detection>>, DetectError> {
        Ok(self.detect(images, min_score)?)
    }
}

impl Detector for GarmentDetector {
    fn detect_images(
        &self,
        images: &[&image::RgbImage],
        min_score: f32,
    ) -> Result<Vec<Vec<Detection>>, DetectError> {
        crate::kernels::threads::each_on_one_core(images, |image| {
            let found = self
                .detect(image, min_score)
                .map_err(|e| DetectError::Model(e.to_string()))?;
            Ok(found
                .into_iter()
                .map(|g| Detection {
                    rect: g.rect,
                    score: g.score,
                    class: g.category,
                })
                .collect())
        })
        .into_iter()
        .collect()
    }
}

/// Which detector a detection runs: the shipped person detector, or garment-detector weights
/// written by `train-detector`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum DetectorChoice {
    #[default]
    People,
    /// The garment detector shipped in the binary.
    ShippedGarments,
    Garments(std::path::PathBuf),
}

impl DetectorChoice {
    /// Loads the detector onto `device`.
    pub fn load(&self, device: &candle_core::Device) -> Result<Box<dyn Detector>, DetectError> {
        Ok(match self {
            DetectorChoice::People => Box::new(PersonDetector::shipped(device)?),
            DetectorChoice::ShippedGarments => Box::new(
                GarmentDetector::shipped(device).map_err(|e| DetectError::Model(e.to_string()))?,
            ),
            DetectorChoice::Garments(path) => Box::new(
                GarmentDetector::from_file(path, device)
                    .map_err(|e| DetectError::Model(format!("{}: {e}", path.display())))?,
            ),
        })
    }

    /// What it finds, for buttons and job titles: "people" or "garments".
    pub fn finds(&self) -> &'static str {
        match self {
            DetectorChoice::People => "people",
            DetectorChoice::ShippedGarments | DetectorChoice::Garments(_) => "garments",
        }
    }
}

/// Runs `detector` over the project's images; see the module documentation.
pub fn detect_project(
    project: &Project,
    detector: &dyn Detector,
    options: &DetectOptions,
    reporter: &dyn Reporter,
    on_event: &(dyn Fn(DetectEvent) + Sync),
) -> Result<DetectReport, DetectError> {
    let catalog = project.catalog()?;
    let (images, skipped_reviewed) = chosen_images(catalog.list_images()?, options)?;
    let mut report = DetectReport {
        skipped_reviewed,
        ..DetectReport::default()
    };
    let total = images.len() as u64;
    reporter.progress(0, total, "detecting");
    for (index, batch) in images.chunks(options.batch.max(1)).enumerate() {
        if reporter.is_cancelled() {
            report.cancelled = true;
            break;
        }
        let decoded: Vec<Result<image::RgbImage, String>> = batch
            .par_iter()
            .map(|row| {
                let path = project.resolve(&row.path);
                let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                imaging::decode_with_limits(&bytes)
                    .map(|d| d.image.to_rgb8())
                    .map_err(|e| format!("{}: {e}", path.display()))
            })
            .collect();
        let good: Vec<(&ImageRow, &image::RgbImage)> = batch
            .iter()
            .zip(&decoded)
            .filter_map(|(row, image)| image.as_ref().ok().map(|image| (row, image)))
            .collect();
        for (row, image) in batch.iter().zip(&decoded) {
            if let Err(reason) = image {
                report.failed += 1;
                on_event(DetectEvent::Failed {
                    image_id: row.id,
                    origin: row
                        .original_name
                        .clone()
                        .unwrap_or_else(|| row.path.clone()),
                    reason: reason.clone(),
                });
            }
        }
        let pictures: Vec<&image::RgbImage> = good.iter().map(|(_, image)| *image).collect();
        let found = detector.detect_images(&pictures, options.min_score)?;
        let stored: Vec<(i64, Vec<GarmentBox>)> = good
            .iter()
            .zip(&found)
            .map(|((row, _), detections)| {
                let boxes = detections
                    .iter()
                    .map(|d| GarmentBox {
                        id: None,
                        rect: d.rect,
                        category: d.class.clone(),
                        score: Some(d.score),
                        origin: Origin::Model,
                        reviewed: false,
                    })
                    .collect();
                (row.id, boxes)
            })
            .collect();
        catalog.replace_model_boxes(&stored, options.reviewed_too)?;
        for ((row, _), detections) in good.iter().zip(found) {
            report.images += 1;
            report.boxes += detections.len();
            on_event(DetectEvent::Detected {
                image_id: row.id,
                origin: row
                    .original_name
                    .clone()
                    .unwrap_or_else(|| row.path.clone()),
                detections,
            });
        }
        let done = ((index + 1) * options.batch.max(1)).min(images.len()) as u64;
        reporter.progress(done, total, &format!("detected {done} of {total}"));
    }
    Ok(report)
}
