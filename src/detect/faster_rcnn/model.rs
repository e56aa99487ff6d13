//! The garment detector's network: the person detector's MobileNetV2 features at stride 16
//! (frozen, run on the inference kernels, but for the last blocks when the config fine-tunes
//! them: `tail`), a neck (1x1, optionally then 3x3 convolutions), the region proposal network (a 3x3
//! convolution, then objectness and box deltas for each anchor of each cell), RoIAlign of the
//! proposals on the neck, and the box head (two fully connected layers, class logits and
//! per-class deltas).

use std::borrow::Cow;

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{Conv2dConfig, VarBuilder, VarMap};
use image::RgbImage;

use super::anchors::AnchorGrid;
use super::tail::BackboneTail;
use crate::detect::boxes::BoxRect;
use crate::detect::ssd::network::SsdLite;
use crate::kernels::{RoiAlign, roi_align};

/// The backbone's stride: one feature cell per 16 image pixels.
pub const STRIDE: f32 = 16.0;

/// What the detector is, as its weights' card records it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DetectorConfig {
    /// The garment categories (background is class 0 and not listed).
    pub classes: Vec<String>,
    pub anchor_sizes: Vec<f32>,
    pub anchor_ratios: Vec<f32>,
    /// Channels of the neck, the RPN's convolution and the RoI features.
    pub channels: usize,
    /// Trainable 3x3 convolutions after the neck's 1x1, widening what each RoI feature sees
    /// beyond the frozen backbone's. None by default: two fitted the training scenes better
    /// but scored no better on unseen ones (docs/quality.md).
    #[serde(default)]
    pub context_layers: usize,
    /// RoIAlign output side.
    pub pooled: usize,
    /// Width of the box head's two hidden layers.
    pub hidden: usize,
    /// The box head also sees each region's shape (log aspect ratio and log size), which
    /// RoIAlign's square grid does not keep. Off by default: it did not help tell dresses from
    /// tops on unseen scenes (docs/quality.md).
    #[serde(default)]
    pub shape_inputs: bool,
    /// Images are scaled so their long side is at most this (DeepFashion's: 300).
    pub max_side: u32,
    /// Smaller images are first enlarged so their short side is this (torchvision's
    /// `min_size`), within `max_side`; 0 never enlarges.
    #[serde(default)]
    pub short_side: u32,
    /// The backbone's last blocks at stride 16 that train with the detector, together with
    /// the stride-16 map's expansion; 0 keeps the whole backbone frozen.
    #[serde(default)]
    pub backbone_blocks: usize,
    /// Weights of the box head's class loss, background first; empty weighs every class 1.
    /// `train-detector --balance-classes` sets them so each garment class weighs as much in
    /// all as any other ([`DetectorConfig::balanced_weights`]).
    #[serde(default)]
    pub class_weights: Vec<f32>,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig {
            classes: ["upper", "lower", "full"].map(String::from).to_vec(),
            anchor_sizes: vec![32.0, 64.0, 128.0, 256.0],
            anchor_ratios: vec![0.5, 1.0, 2.0],
            channels: 128,
            context_layers: 0,
            pooled: 7,
            hidden: 512,
            shape_inputs: false,
            max_side: 512,
            short_side: 384,
            backbone_blocks: 4,
            class_weights: Vec::new(),
        }
    }
}

impl DetectorConfig {
    /// Class-loss weights from the count of boxes of each class (`counts[c]`, class `c + 1`):
    /// `boxes / (classes * count)`, so a class with a quarter of the boxes of another weighs
    /// four times as much per box; background, and a class without boxes, weigh 1.
    pub fn balanced_weights(counts: &[usize]) -> Vec<f32> {
        let boxes: usize = counts.iter().sum();
        let present = counts.iter().filter(|&&n| n > 0).count().max(1);
        std::iter::once(1.0)
            .chain(counts.iter().map(|&n| {
                if n == 0 {
                    1.0
                } else {
                    boxes as f32 / (present * n) as f32
                }
            }))
            .collect()
    }

    /// The factor that takes an image of `width` x `height` pixels to the network's input:
    /// up so its short side is `short_side` (when set), then down as far as its long side
    /// needs to be at most `max_side`.
    pub fn input_scale(&self, width: u32, height: u32) -> f32 {
        let (short, long) = (width.min(height).max(1), width.max(height).max(1));
        let enlarge = (self.short_side as f32 / short as f32).max(1.0);
        enlarge.min(self.max_side as f32 / long as f32)
    }

    /// `image` at the network's input size ([`DetectorConfig::input_scale`]), and the factor
    /// its coordinates were multiplied by.
    pub fn input_image<'a>(&self, image: &'a RgbImage) -> (Cow<'a, RgbImage>, f32) {
        let scale = self.input_scale(image.width(), image.height());
        if scale == 1.0 {
            return (Cow::Borrowed(image), scale);
        }
        let (w, h) = (
            ((image.width() as f32 * scale).round() as u32).max(1),
            ((image.height() as f32 * scale).round() as u32).max(1),
        );
        let resized = image::imageops::resize(image, w, h, image::imageops::FilterType::Triangle);
        (Cow::Owned(resized), scale)
    }

    pub fn anchor_grid(&self) -> AnchorGrid {
        AnchorGrid {
            sizes: self.anchor_sizes.clone(),
            ratios: self.anchor_ratios.clone(),
        }
    }
}

/// The RPN's outputs for one image, cell-major then anchor (the order of
/// [`AnchorGrid::anchors`]).
pub struct RpnOutput {
    /// `(H*W*A)` objectness logits.
    pub objectness: Tensor,
    /// `(H*W*A, 4)` deltas.
    pub deltas: Tensor,
    /// The feature map's rows and columns.
    pub cells: (usize, usize),
}

/// The box head's outputs for a set of regions.
pub struct HeadOutput {
    /// `(R, K + 1)` class logits, background first.
    pub logits: Tensor,
    /// `(R, K + 1, 4)` deltas for each class.
    pub deltas: Tensor,
}

/// The trainable layers (the backbone's fine-tuned tail, if any, and everything after it),
/// in one `VarMap`.
pub struct Layers {
    pub vars: VarMap,
    tail: Option<BackboneTail>,
    neck: candle_nn::Conv2d,
    context: Vec<candle_nn::Conv2d>,
    rpn_conv: candle_nn::Conv2d,
    rpn_objectness: candle_nn::Conv2d,
    rpn_deltas: candle_nn::Conv2d,
    fc1: candle_nn::Linear,
    fc2: candle_nn::Linear,
    class_logits: candle_nn::Linear,
    box_deltas: candle_nn::Linear,
    config: DetectorConfig,
}

impl Layers {
    /// Fresh layers over `backbone`'s stride-16 features, initialised as torchvision does
    /// (RPN and head outputs from small normals, biases zero); the fine-tuned tail of the
    /// backbone, if the config asks for one, starts as a copy of `backbone`'s.
    pub fn new(
        config: &DetectorConfig,
        backbone: &SsdLite,
        device: &Device,
    ) -> candle_core::Result<Self> {
        let in_channels = backbone.stride16_channels();
        let vars = VarMap::new();
        let tail = match config.backbone_blocks {
            0 => None,
            blocks => Some(BackboneTail::copy(&vars, &backbone.stride16_tail(blocks)?)?),
        };
        let vb = VarBuilder::from_varmap(&vars, DType::F32, device);
        let c = config.channels;
        let anchors = config.anchor_grid().per_cell();
        let classes = config.classes.len() + 1;
        let normal = |std: f64| candle_nn::Init::Randn {
            mean: 0.0,
            stdev: std,
        };
        let conv = |vb: VarBuilder, cin, cout, k, std| -> candle_core::Result<candle_nn::Conv2d> {
            let padding = k / 2;
            let weight = vb.get_with_hints((cout, cin, k, k), "weight", normal(std))?;
            let bias = vb.get_with_hints(cout, "bias", candle_nn::Init::Const(0.0))?;
            Ok(candle_nn::Conv2d::new(
                weight,
                Some(bias),
                Conv2dConfig {
                    padding,
                    ..Conv2dConfig::default()
                },
            ))
        };
        let linear = |vb: VarBuilder, cin, cout, std| -> candle_core::Result<candle_nn::Linear> {
            let weight = vb.get_with_hints((cout, cin), "weight", normal(std))?;
            let bias = vb.get_with_hints(cout, "bias", candle_nn::Init::Const(0.0))?;
            Ok(candle_nn::Linear::new(weight, Some(bias)))
        };
        let fan = |n: usize| (2.0 / n as f64).sqrt();
        let pooled =
            c * config.pooled * config.pooled + SHAPE_INPUTS * config.shape_inputs as usize;
        Ok(Layers {
            neck: conv(vb.pp("neck"), in_channels, c, 1, fan(in_channels))?,
            context: (0..config.context_layers)
                .map(|i| conv(vb.pp(format!("neck.context{i}")), c, c, 3, fan(9 * c)))
                .collect::<candle_core::Result<_>>()?,
            rpn_conv: conv(vb.pp("rpn.conv"), c, c, 3, 0.01)?,
            rpn_objectness: conv(vb.pp("rpn.objectness"), c, anchors, 1, 0.01)?,
            rpn_deltas: conv(vb.pp("rpn.deltas"), c, 4 * anchors, 1, 0.01)?,
            fc1: linear(vb.pp("head.fc1"), pooled, config.hidden, fan(pooled))?,
            fc2: linear(
                vb.pp("head.fc2"),
                config.hidden,
                config.hidden,
                fan(config.hidden),
            )?,
            class_logits: linear(vb.pp("head.classes"), config.hidden, classes, 0.01)?,
            box_deltas: linear(vb.pp("head.deltas"), config.hidden, 4 * classes, 0.001)?,
            config: config.clone(),
            tail,
            vars,
        })
    }

    pub fn config(&self) -> &DetectorConfig {
        &self.config
    }

    /// The neck over [`backbone_features`] `(1, C, H, W)` (through the backbone's fine-tuned
    /// tail first, if there is one).
    pub fn neck(&self, features: &Tensor) -> candle_core::Result<Tensor> {
        let tuned;
        let features = match &self.tail {
            Some(tail) => {
                tuned = tail.forward(features)?;
                &tuned
            }
            None => features,
        };
        let mut neck = self.neck.forward(features)?.relu()?;
        for layer in &self.context {
            neck = layer.forward(&neck)?.relu()?;
        }
        Ok(neck)
    }

    pub fn rpn(&self, neck: &Tensor) -> candle_core::Result<RpnOutput> {
        let (_, _, rows, cols) = neck.dims4()?;
        let anchors = self.config.anchor_grid().per_cell();
        let hidden = self.rpn_conv.forward(neck)?.relu()?;
        let objectness = self
            .rpn_objectness
            .forward(&hidden)?
            .permute((0, 2, 3, 1))?
            .flatten_all()?;
        // Channels are (anchor, delta): torchvision's (N, A, 4, H, W) view.
        let deltas = self
            .rpn_deltas
            .forward(&hidden)?
            .reshape((anchors, 4, rows, cols))?
            .permute((2, 3, 0, 1))?
            .reshape((rows * cols * anchors, 4))?;
        Ok(RpnOutput {
            objectness,
            deltas,
            cells: (rows, cols),
        })
    }

    /// The head over `regions` (image pixels) pooled from the neck.
    pub fn head(&self, neck: &Tensor, regions: &[BoxRect]) -> candle_core::Result<HeadOutput> {
        let rows: Vec<f32> = regions
            .iter()
            .flat_map(|r| [0.0, r.x0, r.y0, r.x1, r.y1])
            .collect();
        let rois = Tensor::from_vec(rows, (regions.len(), 5), neck.device())?;
        let op = RoiAlign {
            pooled: (self.config.pooled, self.config.pooled),
            spatial_scale: 1.0 / STRIDE,
            sampling_ratio: 2,
            aligned: false,
        };
        let mut pooled = roi_align(neck, &rois, op)?.flatten_from(1)?;
        if self.config.shape_inputs {
            let shapes = Tensor::from_vec(
                region_shapes(regions),
                (regions.len(), SHAPE_INPUTS),
                neck.device(),
            )?;
            pooled = Tensor::cat(&[&pooled, &shapes], 1)?;
        }
        let hidden = self.fc1.forward(&pooled)?.relu()?;
        let hidden = self.fc2.forward(&hidden)?.relu()?;
        let classes = self.config.classes.len() + 1;
        Ok(HeadOutput {
            logits: self.class_logits.forward(&hidden)?,
            deltas: self
                .box_deltas
                .forward(&hidden)?
                .reshape((regions.len(), classes, 4))?,
        })
    }
}

/// Values the head sees of each region's shape when `shape_inputs` is on.
const SHAPE_INPUTS: usize = 2;

/// Each region's log aspect ratio (height over width) and log size (relative to 128 px), row
/// by row.
fn region_shapes(regions: &[BoxRect]) -> Vec<f32> {
    regions
        .iter()
        .flat_map(|r| {
            let (w, h) = (r.width().max(1.0), r.height().max(1.0));
            [(h / w).ln(), ((w * h).sqrt() / 128.0).ln()]
        })
        .collect()
}

/// The frozen backbone's features of an image at stride 16, `(1, C, H/16, W/16)`: the
/// stride-16 map, or the input of the last `config.backbone_blocks` blocks when those train.
pub fn backbone_features(
    backbone: &SsdLite,
    image: &RgbImage,
    config: &DetectorConfig,
) -> candle_core::Result<Tensor> {
    let (width, height) = (image.width() as usize, image.height() as usize);
    // The person detector's own preprocessing: [0, 255] to [-1, 1], at the image's own size.
    let values = crate::detect::ssd::resize::network_input(image, width, height, 2.0 / 255.0, -1.0);
    let input = Tensor::from_vec(values, (1, 3, height, width), backbone.device())?;
    let features = match config.backbone_blocks {
        0 => backbone.stride16_features(&input)?,
        blocks => backbone.stride16_trunk(&input, blocks)?,
    };
    features.detach().contiguous()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balanced_weights_make_each_class_weigh_the_same_in_all() {
        // 400 upper, 100 lower, 100 full, none of a fourth class.
        let weights = DetectorConfig::balanced_weights(&[400, 100, 100, 0]);
        assert_eq!(weights.len(), 5);
        assert_eq!(weights[0], 1.0, "background");
        assert!((weights[1] - 0.5).abs() < 1e-6);
        assert!((weights[2] - 2.0).abs() < 1e-6);
        assert!((weights[3] - 2.0).abs() < 1e-6);
        assert_eq!(weights[4], 1.0, "a class without boxes");
        for (n, w) in [400.0, 100.0, 100.0].iter().zip(&weights[1..4]) {
            assert!((n * w - 200.0f32).abs() < 1e-3);
        }
    }

    #[test]
    fn small_images_are_enlarged_to_the_short_side_within_the_long_side() {
        let config = DetectorConfig {
            short_side: 384,
            max_side: 512,
            ..DetectorConfig::default()
        };
        // 300 x 225 grows by 384 / 225, which leaves its long side at 512.
        assert!((config.input_scale(300, 225) - 384.0 / 225.0).abs() < 1e-6);
        // 300 x 150 would need 768 for its long side: the long side's limit wins.
        assert!((config.input_scale(300, 150) - 512.0 / 300.0).abs() < 1e-6);
        // Large photographs only shrink.
        assert!((config.input_scale(4000, 3000) - 512.0 / 4000.0).abs() < 1e-6);
        assert_eq!(config.input_scale(500, 400), 1.0);
        let never = DetectorConfig {
            short_side: 0,
            ..config
        };
        assert_eq!(never.input_scale(300, 225), 1.0);
        assert!((never.input_scale(1024, 768) - 0.5).abs() < 1e-6);
        let photo = RgbImage::new(1024, 768);
        let (image, scale) = never.input_image(&photo);
        assert_eq!((image.width(), image.height(), scale), (512, 384, 0.5));
    }

    #[test]
    fn the_head_sees_a_regions_aspect_and_size() {
        let shapes = region_shapes(&[
            BoxRect::new(10.0, 10.0, 74.0, 138.0),
            BoxRect::new(0.0, 0.0, 128.0, 128.0),
        ]);
        let want = [2f32.ln(), (8192f32.sqrt() / 128.0).ln(), 0.0, 0.0];
        for (a, b) in shapes.iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{shapes:?}");
        }
    }
}
