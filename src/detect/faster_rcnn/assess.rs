//! A detector scored on labelled images: each image decoded and run through the detector, its
//! detections and ground truth gathered for [`super::eval::evaluate`] (and COCO's JSON).

use super::data::Example;
use super::eval::{Evaluation, Scored, evaluate};
use super::infer::GarmentDetector;
use super::train::DetectorTrainError;
use crate::detect::boxes::BoxRect;
use crate::jobs::Reporter;

/// Score below which a detection is not kept for scoring (COCO's evaluations keep low scores:
/// they cost nothing at high precision and add recall).
pub const SCORING_MIN_SCORE: f32 = 0.05;

/// What a detector found on each image beside what was there.
pub struct Assessment {
    pub evaluation: Evaluation,
    /// Per image, the detections (class 0-based).
    pub detections: Vec<Vec<Scored>>,
    /// Per image, the ground truth (box, class 0-based).
    pub truths: Vec<Vec<(BoxRect, usize)>>,
    /// Per image, its width and height.
    pub sizes: Vec<(u32, u32)>,
}

/// Runs `detector` over `examples` and scores it; `Err(Cancelled)` when asked to stop.
pub fn assess(
    detector: &GarmentDetector,
    examples: &[Example],
    reporter: &dyn Reporter,
) -> Result<Assessment, DetectorTrainError> {
    let classes = &detector.card().config.classes;
    let mut assessment = Assessment {
        evaluation: evaluate(&[], &[], 0),
        detections: Vec::with_capacity(examples.len()),
        truths: Vec::with_capacity(examples.len()),
        sizes: Vec::with_capacity(examples.len()),
    };
    for (i, example) in examples.iter().enumerate() {
        if reporter.is_cancelled() {
            return Err(DetectorTrainError::Cancelled);
        }
        reporter.progress(i as u64, examples.len() as u64, "detecting");
        let image = decode(example)?;
        assessment.sizes.push((image.width(), image.height()));
        let found = detector.detect(&image, SCORING_MIN_SCORE)?;
        assessment.detections.push(
            found
                .into_iter()
                .filter_map(|g| {
                    let class = classes.iter().position(|c| *c == g.category)?;
                    Some(Scored {
                        rect: g.rect,
                        class,
                        score: g.score,
                    })
                })
                .collect(),
        );
        assessment.truths.push(
            example
                .truths
                .iter()
                .map(|t| (t.rect, t.class - 1))
                .collect(),
        );
    }
    assessment.evaluation = evaluate(&assessment.detections, &assessment.truths, classes.len());
    Ok(assessment)
}

fn decode(example: &Example) -> Result<image::RgbImage, DetectorTrainError> {
    let failed = |reason: String| DetectorTrainError::Image {
        path: example.path.clone(),
        reason,
    };
    let bytes = std::fs::read(&example.path).map_err(|e| failed(e.to_string()))?;
    let decoded = crate::imaging::decode_with_limits(&bytes).map_err(|e| failed(e.to_string()))?;
    Ok(decoded.image.to_rgb8())
}
