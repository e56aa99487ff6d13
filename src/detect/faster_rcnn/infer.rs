//! The trained garment detector on an image: proposals from the RPN, the box head's class
//! probabilities and per-class boxes, then per class a score threshold and non-maximum
//! suppression, as torchvision's `RoIHeads.postprocess_detections` does; boxes are returned in
//! the original image's pixels.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{D, Device, Tensor};
use image::RgbImage;

use super::coder::BoxCoder;
use super::model::{Layers, STRIDE, backbone_features};
use super::proposals::{ProposalLimits, propose};
use super::train::{DetectorCard, DetectorTrainError};
use crate::checkpoint;
use crate::detect::boxes::BoxRect;
use crate::detect::nms::nms;
use crate::detect::ssd::PersonDetector;

/// Overlap above which a box of one class suppresses a weaker one of the same class.
const CLASS_NMS_IOU: f32 = 0.5;
/// Detections kept per image.
const MAX_DETECTIONS: usize = 100;

/// One garment found.
#[derive(Debug, Clone, PartialEq)]
pub struct Garment {
    pub rect: BoxRect,
    pub category: String,
    pub score: f32,
}

pub struct GarmentDetector {
    person: PersonDetector,
    layers: Layers,
    card: DetectorCard,
}

/// What the shipped garment detector is called where a path would be.
pub const SHIPPED_NAME: &str = "faster-rcnn-scenes (shipped)";
/// The shipped garment detector: trained on generated scenes (docs/quality.md).
pub const SHIPPED_WEIGHTS: &[u8] =
    include_bytes!("../../../weights/faster-rcnn-scenes.safetensors");
pub const SHIPPED_CARD: &[u8] = include_bytes!("../../../weights/faster-rcnn-scenes.json");

impl GarmentDetector {
    /// Weights written by [`super::train::train_detector`] and their card.
    pub fn from_file(weights: &Path, device: &Device) -> Result<Self, DetectorTrainError> {
        let card: DetectorCard = checkpoint::load_json(&checkpoint::sidecar_path(weights))?;
        let tensors = checkpoint::load_tensors(weights, device)?;
        Self::build(card, &tensors, weights, device)
    }

    /// The garment detector compiled into the binary (upper, lower and full body, trained on
    /// scenes that `make-scenes` generates).
    pub fn shipped(device: &Device) -> Result<Self, DetectorTrainError> {
        let (card, tensors) =
            checkpoint::embedded(SHIPPED_NAME, SHIPPED_CARD, SHIPPED_WEIGHTS, device)?;
        Self::build(card, &tensors, Path::new(SHIPPED_NAME), device)
    }

    /// Writes the shipped weights and card into `dir` as `faster-rcnn-scenes.safetensors` and
    /// `.json` (atomically, unless they are there already), so that fine-tuning, which starts
    /// from a file, can start from them; returns the weights' path.
    pub fn write_shipped(dir: &Path) -> Result<PathBuf, DetectorTrainError> {
        let weights = dir.join("faster-rcnn-scenes.safetensors");
        let card = checkpoint::sidecar_path(&weights);
        let write = |path: &Path, bytes: &[u8]| {
            if path.is_file() {
                return Ok(());
            }
            std::fs::create_dir_all(dir)
                .and_then(|()| crate::atomic::write_atomic(path, bytes))
                .map_err(|source| DetectorTrainError::Write {
                    path: path.to_path_buf(),
                    source,
                })
        };
        write(&weights, SHIPPED_WEIGHTS)?;
        write(&card, SHIPPED_CARD)?;
        Ok(weights)
    }

    fn build(
        card: DetectorCard,
        tensors: &HashMap<String, Tensor>,
        source: &Path,
        device: &Device,
    ) -> Result<Self, DetectorTrainError> {
        let person = PersonDetector::shipped(device)?;
        let layers = Layers::new(&card.config, person.network(), device)?;
        checkpoint::fill(&layers.vars, tensors, "", source)?;
        Ok(GarmentDetector {
            person,
            layers,
            card,
        })
    }

    pub fn card(&self) -> &DetectorCard {
        &self.card
    }

    /// The garments in `image` scoring at least `min_score`, best first.
    pub fn detect(
        &self,
        image: &RgbImage,
        min_score: f32,
    ) -> Result<Vec<Garment>, DetectorTrainError> {
        crate::kernels::threads::on_pool_thread(|| self.detect_here(image, min_score))
    }

    /// [`GarmentDetector::detect`] on the calling thread.
    fn detect_here(
        &self,
        image: &RgbImage,
        min_score: f32,
    ) -> Result<Vec<Garment>, DetectorTrainError> {
        let config = &self.card.config;
        let (input, scale) = config.input_image(image);
        let size = (input.width() as f32, input.height() as f32);
        let features = backbone_features(self.person.network(), &input, config)?;
        let neck = self.layers.neck(&features)?;
        let rpn = self.layers.rpn(&neck)?;
        let (rows, cols) = rpn.cells;
        let anchors = config.anchor_grid().anchors(rows, cols, (STRIDE, STRIDE));
        let objectness = rpn.objectness.to_vec1::<f32>()?;
        let deltas = rpn.deltas.flatten_all()?.to_vec1::<f32>()?;
        let proposals: Vec<BoxRect> =
            propose(&anchors, &objectness, &deltas, size, ProposalLimits::TEST)
                .into_iter()
                .map(|(r, _)| r)
                .collect();
        if proposals.is_empty() {
            return Ok(Vec::new());
        }
        let head = self.layers.head(&neck, &proposals)?;
        let probabilities = candle_nn::ops::softmax(&head.logits, D::Minus1)?.to_vec2::<f32>()?;
        let class_deltas = head.deltas.to_vec3::<f32>()?;
        let mut found = Vec::new();
        for (class, name) in config.classes.iter().enumerate() {
            let k = class + 1;
            let candidates: Vec<(BoxRect, f32)> = proposals
                .iter()
                .enumerate()
                .filter(|(i, _)| probabilities[*i][k] >= min_score)
                .map(|(i, proposal)| {
                    let d = &class_deltas[i][k];
                    let rect = BoxCoder::HEAD
                        .decode(proposal, [d[0], d[1], d[2], d[3]])
                        .clamped(size.0, size.1);
                    (rect, probabilities[i][k])
                })
                .filter(|(rect, _)| rect.width() >= 1.0 && rect.height() >= 1.0)
                .collect();
            for (rect, score) in nms(candidates, CLASS_NMS_IOU, MAX_DETECTIONS) {
                found.push(Garment {
                    rect: BoxRect::new(
                        rect.x0 / scale,
                        rect.y0 / scale,
                        rect.x1 / scale,
                        rect.y1 / scale,
                    ),
                    category: name.clone(),
                    score,
                });
            }
        }
        found.sort_by(|a, b| b.score.total_cmp(&a.score));
        found.truncate(MAX_DETECTIONS);
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_detector_written_out_loads_as_a_file_and_is_not_rewritten() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let folder = dir.path().join("detectors");
        let weights = GarmentDetector::write_shipped(&folder).expect("written");
        assert_eq!(
            std::fs::read(&weights).expect("the weights"),
            SHIPPED_WEIGHTS
        );
        let loaded = GarmentDetector::from_file(&weights, &Device::Cpu).expect("loads");
        let shipped = GarmentDetector::shipped(&Device::Cpu).expect("the shipped one loads");
        assert_eq!(loaded.card().config, shipped.card().config);
        assert_eq!(loaded.card().config.classes, ["upper", "lower", "full"]);
        // A file already there is not written again.
        std::fs::write(&weights, b"fine-tuned").expect("overwritten");
        GarmentDetector::write_shipped(&folder).expect("written again");
        assert_eq!(std::fs::read(&weights).expect("kept"), b"fine-tuned");
    }
}
