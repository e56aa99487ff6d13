//! SSDLite-MobileNetV2 in Candle: the MobileNetV2 feature extractor (inverted residual blocks
//! of 1x1 expand, 3x3 depthwise and 1x1 project, ReLU6), four extra layers (1x1, 3x3 depthwise
//! stride 2, 1x1), and on six feature maps the SSDLite box predictors (3x3 depthwise, then a
//! 1x1 convolution to box encodings or class logits). BatchNorm was folded into the weights when
//! they were converted; every layer is a convolution with a bias. TensorFlow's "SAME" padding
//! is reproduced exactly (more at the bottom and right when the total is odd).

use candle_core::{D, Device, Tensor};

use super::card::SsdCard;
use crate::kernels::{bias_relu6, conv2d, depthwise_conv2d, pointwise_conv2d, same_padding};

#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error("the weights have no tensor {0}")]
    Missing(String),
    #[error("tensor {name} has shape {found:?}, the card says {expected:?}")]
    Shape {
        name: String,
        found: Vec<usize>,
        expected: Vec<usize>,
    },
    #[error("the card has no layer {0}")]
    NoLayer(String),
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

/// One convolution with its folded bias.
#[derive(Debug, Clone)]
pub struct Conv {
    weight: Tensor,
    bias: Tensor,
    stride: usize,
    depthwise: bool,
    relu6: bool,
}

impl Conv {
    fn load(
        name: &str,
        card: &SsdCard,
        tensors: &std::collections::HashMap<String, Tensor>,
    ) -> Result<Self, NetworkError> {
        let spec = card
            .layer(name)
            .ok_or_else(|| NetworkError::NoLayer(name.to_string()))?;
        let get = |suffix: &str, expected: Vec<usize>| {
            let key = format!("{name}.{suffix}");
            let tensor = tensors
                .get(&key)
                .ok_or_else(|| NetworkError::Missing(key.clone()))?;
            if tensor.dims() != expected.as_slice() {
                return Err(NetworkError::Shape {
                    name: key,
                    found: tensor.dims().to_vec(),
                    expected,
                });
            }
            Ok(tensor.clone())
        };
        let weight = get("weight", spec.shape.clone())?;
        let bias = get("bias", vec![spec.shape[0]])?;
        Ok(Conv {
            weight,
            bias,
            stride: spec.stride,
            depthwise: spec.depthwise,
            relu6: spec.relu6,
        })
    }

    fn out_channels(&self) -> usize {
        self.weight.dims()[0]
    }

    fn weights(&self) -> ConvWeights {
        ConvWeights {
            weight: self.weight.clone(),
            bias: self.bias.clone(),
            relu6: self.relu6,
        }
    }

    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        if self.depthwise {
            return depthwise_conv2d(x, &self.weight, &self.bias, self.stride, self.relu6);
        }
        let (_, _, k, _) = self.weight.dims4()?;
        if k == 1 && self.stride == 1 {
            return pointwise_conv2d(x, &self.weight, &self.bias, self.relu6);
        }
        let y = {
            let (_, _, h, w) = x.dims4()?;
            let (oh, top) = same_padding(h, k, self.stride);
            let (ow, left) = same_padding(w, k, self.stride);
            let bottom = ((oh - 1) * self.stride + k).saturating_sub(h + top);
            let right = ((ow - 1) * self.stride + k).saturating_sub(w + left);
            let padded = x
                .pad_with_zeros(2, top, bottom)?
                .pad_with_zeros(3, left, right)?;
            conv2d(&padded, &self.weight, self.stride, 0, 1)?
        };
        bias_relu6(&y, &self.bias, self.relu6)
    }
}

/// An inverted residual block (the first has no expansion).
#[derive(Debug, Clone)]
struct Block {
    expand: Option<Conv>,
    depthwise: Conv,
    project: Conv,
    residual: bool,
}

impl Block {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let y = match &self.expand {
            Some(expand) => expand.forward(x)?,
            None => x.clone(),
        };
        let y = self.project.forward(&self.depthwise.forward(&y)?)?;
        if self.residual { x + y } else { Ok(y) }
    }

    fn weights(&self) -> BlockWeights {
        BlockWeights {
            expand: self.expand.as_ref().map(Conv::weights),
            depthwise: self.depthwise.weights(),
            project: self.project.weights(),
            residual: self.residual,
        }
    }
}

/// One convolution's weights (`(out, in / groups, k, k)`) and bias, as a model that fine-tunes
/// the backbone starts from them.
#[derive(Debug, Clone)]
pub struct ConvWeights {
    pub weight: Tensor,
    pub bias: Tensor,
    pub relu6: bool,
}

/// An inverted residual block's weights; its depthwise convolution is 3x3 at stride 1.
#[derive(Debug, Clone)]
pub struct BlockWeights {
    pub expand: Option<ConvWeights>,
    pub depthwise: ConvWeights,
    pub project: ConvWeights,
    pub residual: bool,
}

/// The layers from [`SsdLite::stride16_trunk`]'s output to [`SsdLite::stride16_features`]: the
/// last blocks before the stride-16 map, then that map's expansion.
#[derive(Debug, Clone)]
pub struct Stride16Tail {
    pub blocks: Vec<BlockWeights>,
    pub expand: ConvWeights,
}

/// One feature map's box predictor.
#[derive(Debug, Clone)]
struct Head {
    box_depthwise: Conv,
    box_encoding: Conv,
    class_depthwise: Conv,
    class_logits: Conv,
}

/// The whole detector network.
#[derive(Debug, Clone)]
pub struct SsdLite {
    stem: Conv,
    blocks: Vec<Block>,
    /// The block whose expansion output is the first feature map.
    first_map_block: usize,
    last: Conv,
    extras: Vec<[Conv; 3]>,
    heads: Vec<Head>,
    num_classes: usize,
}

/// The box encodings `(N, anchors, 4)` and class logits `(N, anchors, classes)`.
pub struct RawOutputs {
    pub box_encodings: Tensor,
    pub class_logits: Tensor,
}

impl SsdLite {
    /// Builds the network from converted weights and their card, checking every tensor.
    pub fn load(
        card: &SsdCard,
        tensors: &std::collections::HashMap<String, Tensor>,
    ) -> Result<Self, NetworkError> {
        let conv = |name: &str| Conv::load(name, card, tensors);
        let stem = conv("Conv")?;
        let mut blocks = Vec::new();
        let mut channels = stem.out_channels();
        for index in 0.. {
            let prefix = if index == 0 {
                "expanded_conv".to_string()
            } else {
                format!("expanded_conv_{index}")
            };
            if card.layer(&format!("{prefix}.depthwise")).is_none() {
                break;
            }
            let expand = match card.layer(&format!("{prefix}.expand")) {
                Some(_) => Some(conv(&format!("{prefix}.expand"))?),
                None => None,
            };
            let depthwise = conv(&format!("{prefix}.depthwise"))?;
            let project = conv(&format!("{prefix}.project"))?;
            let residual = depthwise.stride == 1 && project.out_channels() == channels;
            channels = project.out_channels();
            blocks.push(Block {
                expand,
                depthwise,
                project,
                residual,
            });
        }
        // SSDLite's first feature map is the expansion output of the block that brings the
        // 19x19 map down to 10x10 (`expanded_conv_13`).
        let first_map_block = blocks
            .iter()
            .rposition(|b| b.depthwise.stride == 2 && b.expand.is_some())
            .ok_or_else(|| NetworkError::NoLayer("a stride-2 expanded block".into()))?;
        let last = conv("Conv_1")?;
        let mut extras = Vec::new();
        for map in 2.. {
            let find = |start: &str, end: &str| {
                card.layers
                    .iter()
                    .find(|l| l.name.starts_with(start) && l.name.ends_with(end))
                    .map(|l| l.name.clone())
            };
            let Some(reduce) = find(&format!("layer_19_1_Conv2d_{map}_1x1_"), "") else {
                break;
            };
            let depthwise = find(&format!("layer_19_2_Conv2d_{map}_3x3_s2_"), "_depthwise")
                .ok_or_else(|| {
                    NetworkError::NoLayer(format!("layer_19_2_Conv2d_{map} depthwise"))
                })?;
            let expand = depthwise.trim_end_matches("_depthwise").to_string();
            extras.push([conv(&reduce)?, conv(&depthwise)?, conv(&expand)?]);
        }
        let heads = (0..2 + extras.len())
            .map(|i| {
                Ok(Head {
                    box_depthwise: conv(&format!(
                        "BoxPredictor_{i}.BoxEncodingPredictor_depthwise"
                    ))?,
                    box_encoding: conv(&format!("BoxPredictor_{i}.BoxEncodingPredictor"))?,
                    class_depthwise: conv(&format!("BoxPredictor_{i}.ClassPredictor_depthwise"))?,
                    class_logits: conv(&format!("BoxPredictor_{i}.ClassPredictor"))?,
                })
            })
            .collect::<Result<Vec<_>, NetworkError>>()?;
        Ok(SsdLite {
            stem,
            blocks,
            first_map_block,
            last,
            extras,
            heads,
            num_classes: card.classes.len(),
        })
    }

    /// The MobileNetV2 features at stride 16 of a batch `x (N, 3, H, W)` in [-1, 1]: the
    /// expansion output of the block that halves the stride-16 map (576 channels), which is
    /// SSDLite's first feature map and the garment detector's backbone.
    pub fn stride16_features(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let mut x = self.stem.forward(x)?;
        for (index, block) in self.blocks.iter().enumerate() {
            let y = match &block.expand {
                Some(expand) => expand.forward(&x)?,
                None => x.clone(),
            };
            if index == self.first_map_block {
                return Ok(y);
            }
            let y = block.project.forward(&block.depthwise.forward(&y)?)?;
            x = if block.residual { (x + y)? } else { y };
        }
        Err(candle_core::Error::Msg(
            "the network has no stride-16 expansion".into(),
        ))
    }

    /// The features at the input of the last `blocks` blocks before the stride-16 map, for a
    /// model that fine-tunes those blocks and the map's expansion ([`SsdLite::stride16_tail`]).
    pub fn stride16_trunk(&self, x: &Tensor, blocks: usize) -> candle_core::Result<Tensor> {
        let first = self.tail_start(blocks)?;
        let mut x = self.stem.forward(x)?;
        for block in &self.blocks[..first] {
            x = block.forward(&x)?;
        }
        Ok(x)
    }

    /// The weights of the layers that take [`SsdLite::stride16_trunk`]'s output to
    /// [`SsdLite::stride16_features`].
    pub fn stride16_tail(&self, blocks: usize) -> candle_core::Result<Stride16Tail> {
        let first = self.tail_start(blocks)?;
        let expand = self.blocks[self.first_map_block]
            .expand
            .as_ref()
            .ok_or_else(|| candle_core::Error::Msg("the stride-16 map has no expansion".into()))?;
        Ok(Stride16Tail {
            blocks: self.blocks[first..self.first_map_block]
                .iter()
                .map(Block::weights)
                .collect(),
            expand: expand.weights(),
        })
    }

    /// The first of the last `blocks` blocks before the stride-16 map; each must keep the
    /// stride (3x3 depthwise at stride 1).
    fn tail_start(&self, blocks: usize) -> candle_core::Result<usize> {
        let first = self
            .first_map_block
            .checked_sub(blocks)
            .filter(|&first| {
                self.blocks[first..self.first_map_block]
                    .iter()
                    .all(|b| b.depthwise.stride == 1 && b.depthwise.weight.dims()[2..] == [3, 3])
            })
            .ok_or_else(|| {
                candle_core::Error::Msg(format!(
                    "the backbone has no {blocks} blocks at stride 16 before its feature map"
                ))
            })?;
        Ok(first)
    }

    /// Channels of [`SsdLite::stride16_features`].
    pub fn stride16_channels(&self) -> usize {
        self.blocks
            .get(self.first_map_block)
            .and_then(|b| b.expand.as_ref())
            .map_or(0, Conv::out_channels)
    }

    /// The six feature maps of a batch `x (N, 3, 300, 300)` in [-1, 1].
    fn feature_maps(&self, x: &Tensor) -> candle_core::Result<Vec<Tensor>> {
        let mut maps = Vec::new();
        let mut x = self.stem.forward(x)?;
        for (index, block) in self.blocks.iter().enumerate() {
            let mut y = match &block.expand {
                Some(expand) => expand.forward(&x)?,
                None => x.clone(),
            };
            if index == self.first_map_block {
                maps.push(y.clone());
            }
            y = block.project.forward(&block.depthwise.forward(&y)?)?;
            x = if block.residual { (x + y)? } else { y };
        }
        x = self.last.forward(&x)?;
        maps.push(x.clone());
        for [reduce, depthwise, expand] in &self.extras {
            x = expand.forward(&depthwise.forward(&reduce.forward(&x)?)?)?;
            maps.push(x.clone());
        }
        Ok(maps)
    }

    /// `(N, C, H, W)` predictor output with C = anchors x values, to `(N, H*W*anchors, values)`
    /// in TensorFlow's order (row, column, anchor).
    fn flatten(y: &Tensor, values: usize) -> candle_core::Result<Tensor> {
        let (n, c, h, w) = y.dims4()?;
        y.permute((0, 2, 3, 1))?
            .contiguous()?
            .reshape((n, h * w * (c / values), values))
    }

    pub fn forward(&self, x: &Tensor) -> candle_core::Result<RawOutputs> {
        let maps = self.feature_maps(x)?;
        let mut boxes = Vec::with_capacity(maps.len());
        let mut classes = Vec::with_capacity(maps.len());
        for (map, head) in maps.iter().zip(&self.heads) {
            let b = head
                .box_encoding
                .forward(&head.box_depthwise.forward(map)?)?;
            let c = head
                .class_logits
                .forward(&head.class_depthwise.forward(map)?)?;
            boxes.push(Self::flatten(&b, 4)?);
            classes.push(Self::flatten(&c, self.num_classes)?);
        }
        Ok(RawOutputs {
            box_encodings: Tensor::cat(&boxes, 1)?,
            class_logits: Tensor::cat(&classes, D::Minus2)?,
        })
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        self.stem.weight.device()
    }
}
