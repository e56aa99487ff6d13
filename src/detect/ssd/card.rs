//! The JSON card beside the detector's weights: input size, preprocessing, anchor generator,
//! box coder, post-processing, classes, the layers with their strides, and where the weights
//! came from.

use serde::{Deserialize, Serialize};

/// The SSD anchor generator's parameters (TF Object Detection API's `ssd_anchor_generator`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnchorParams {
    pub num_layers: usize,
    pub min_scale: f32,
    pub max_scale: f32,
    pub aspect_ratios: Vec<f32>,
    pub interpolated_scale_aspect_ratio: f32,
    pub reduce_boxes_in_lowest_layer: bool,
    pub base_anchor_size: [f32; 2],
    pub feature_map_sizes: Vec<usize>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NmsParams {
    pub iou_threshold: f32,
    pub score_threshold: f32,
    pub max_detections: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preprocessing {
    pub scale: f32,
    pub offset: f32,
}

/// One convolution as the converter found it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerSpec {
    pub name: String,
    pub depthwise: bool,
    pub stride: usize,
    pub relu6: bool,
    pub shape: Vec<usize>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Source {
    pub package: String,
    pub version: String,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SsdCard {
    pub architecture: String,
    pub input_size: [usize; 2],
    pub preprocessing: Preprocessing,
    pub anchors: AnchorParams,
    pub num_anchors: usize,
    pub box_coder_scales: [f32; 4],
    pub logit_scale: f32,
    pub nms: NmsParams,
    pub classes: Vec<String>,
    pub layers: Vec<LayerSpec>,
    pub source: Source,
    pub licence: String,
}

impl SsdCard {
    /// The layer named `name`.
    pub fn layer(&self, name: &str) -> Option<&LayerSpec> {
        self.layers.iter().find(|l| l.name == name)
    }
}
