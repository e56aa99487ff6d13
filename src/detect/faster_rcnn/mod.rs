//! Faster R-CNN (Ren, He, Girshick and Sun 2015), after torchvision's implementation: the
//! pieces that turn boxes into training targets and back. `coder` encodes a box relative to an
//! anchor or proposal and decodes it again; `anchors` lays the anchor grid over a feature map;
//! `matcher` assigns anchors or proposals to ground-truth boxes by IoU; `sampler` draws the
//! balanced mini-batch of positives and negatives each loss is computed on; `proposals` filters
//! the RPN's boxes; `model` is the network (the person detector's MobileNetV2 features, frozen
//! but for the last blocks that `tail` fine-tunes, then the neck, the RPN and the box head) and `loss` its four training losses; `data` reads
//! what it learns from (DeepFashion, COCO, a project's reviewed boxes); `train` trains
//! it (and goes on from where a stopped run left off), `infer`
//! runs it, `eval` scores detections as COCO does and `assess` runs a detector over labelled
//! images to score it; `improve` fine-tunes it on a project's reviewed boxes.

pub mod anchors;
pub mod assess;
pub mod coder;
pub mod data;
pub mod eval;
pub mod improve;
pub mod infer;
pub mod loss;
pub mod matcher;
pub mod model;
pub mod proposals;
pub mod sampler;
pub mod tail;
pub mod train;
