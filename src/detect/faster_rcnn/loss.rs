//! Faster R-CNN's four losses for one image, as torchvision computes them: the RPN's
//! objectness (binary cross-entropy over 256 sampled anchors, half positive at most) and box
//! regression (smooth L1 on the positives, over the sample's size); then the box head's class
//! (cross-entropy over 256 sampled proposals, a quarter positive at most, ground truth added to
//! the proposals) and box regression (smooth L1 on the positives' deltas for their class).

use candle_core::Tensor;

use super::coder::BoxCoder;
use super::matcher::{Match, Matcher};
use super::model::{Layers, STRIDE};
use super::proposals::{ProposalLimits, propose};
use super::sampler::{Sampled, sample};
use crate::detect::boxes::BoxRect;
use crate::latent::SeededRng;

/// Anchors sampled per image for the RPN's losses, and the positive share.
const RPN_BATCH: usize = 256;
const RPN_POSITIVE: f32 = 0.5;
/// Proposals sampled per image for the head's losses, and the positive share.
const HEAD_BATCH: usize = 256;
const HEAD_POSITIVE: f32 = 0.25;
/// Smooth L1's switch from quadratic to linear (torchvision: 1/9).
const SMOOTH_L1_BETA: f64 = 1.0 / 9.0;

/// A ground-truth box and its class (1-based: 0 is background).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Truth {
    pub rect: BoxRect,
    pub class: usize,
}

/// The four loss terms of one image (scalars).
pub struct Losses {
    pub rpn_objectness: Tensor,
    pub rpn_box: Tensor,
    pub head_class: Tensor,
    pub head_box: Tensor,
}

impl Losses {
    pub fn total(&self) -> candle_core::Result<Tensor> {
        (&self.rpn_objectness + &self.rpn_box)? + (&self.head_class + &self.head_box)?
    }

    /// The four values, in the order above.
    pub fn values(&self) -> candle_core::Result<[f32; 4]> {
        Ok([
            self.rpn_objectness.to_scalar::<f32>()?,
            self.rpn_box.to_scalar::<f32>()?,
            self.head_class.to_scalar::<f32>()?,
            self.head_box.to_scalar::<f32>()?,
        ])
    }
}

/// The losses of one image of `size` (width, height) whose backbone features are `features`.
pub fn losses(
    layers: &Layers,
    features: &Tensor,
    truths: &[Truth],
    size: (f32, f32),
    rng: &mut SeededRng,
) -> candle_core::Result<Losses> {
    let device = features.device();
    let neck = layers.neck(features)?;
    let rpn = layers.rpn(&neck)?;
    let (rows, cols) = rpn.cells;
    let anchors = layers
        .config()
        .anchor_grid()
        .anchors(rows, cols, (STRIDE, STRIDE));
    let rects: Vec<BoxRect> = truths.iter().map(|t| t.rect).collect();

    let matches = Matcher::RPN.assign(&anchors, &rects);
    let Sampled {
        positives,
        negatives,
    } = sample(&matches, RPN_BATCH, RPN_POSITIVE, rng);
    let chosen: Vec<u32> = positives
        .iter()
        .chain(&negatives)
        .map(|&i| i as u32)
        .collect();
    let targets: Vec<f32> = (0..chosen.len())
        .map(|i| if i < positives.len() { 1.0 } else { 0.0 })
        .collect();
    let chosen_count = chosen.len().max(1) as f64;
    let chosen = Tensor::from_vec(chosen.clone(), chosen.len(), device)?;
    let logits = rpn.objectness.index_select(&chosen, 0)?;
    let targets = Tensor::from_vec(targets, logits.dims(), device)?;
    let rpn_objectness = bce_with_logits(&logits, &targets)?.mean_all()?;
    let rpn_box = box_loss(
        &rpn.deltas,
        &positives,
        |i| match matches[i] {
            Match::Object(t) => BoxCoder::RPN.encode(&anchors[i], &rects[t]),
            _ => [0.0; 4],
        },
        chosen_count,
    )?;

    // Proposals from the RPN's outputs (no gradient through them), with the ground truth.
    let objectness = rpn.objectness.detach().to_vec1::<f32>()?;
    let deltas = rpn.deltas.detach().flatten_all()?.to_vec1::<f32>()?;
    let mut proposals: Vec<BoxRect> =
        propose(&anchors, &objectness, &deltas, size, ProposalLimits::TRAIN)
            .into_iter()
            .map(|(r, _)| r)
            .collect();
    proposals.extend(&rects);
    let matches = Matcher::HEAD.assign(&proposals, &rects);
    let Sampled {
        positives,
        negatives,
    } = sample(&matches, HEAD_BATCH, HEAD_POSITIVE, rng);
    let regions: Vec<BoxRect> = positives
        .iter()
        .chain(&negatives)
        .map(|&i| proposals[i])
        .collect();
    let labels: Vec<u32> = positives
        .iter()
        .map(|&i| match matches[i] {
            Match::Object(t) => truths[t].class as u32,
            _ => 0,
        })
        .chain(negatives.iter().map(|_| 0))
        .collect();
    let head = layers.head(&neck, &regions)?;
    let labels_tensor = Tensor::from_vec(labels.clone(), labels.len(), device)?;
    let head_class = class_loss(
        &head.logits,
        &labels,
        &labels_tensor,
        &layers.config().class_weights,
    )?;
    // The deltas each positive predicts for its own class.
    let positive_count = positives.len();
    let own_class = if positive_count > 0 {
        let index: Vec<u32> = labels[..positive_count]
            .iter()
            .flat_map(|&c| [c; 4])
            .collect();
        let index = Tensor::from_vec(index, (positive_count, 1, 4), device)?;
        head.deltas
            .narrow(0, 0, positive_count)?
            .gather(&index, 1)?
            .squeeze(1)?
    } else {
        head.deltas.narrow(2, 0, 4)?.flatten_to(1)?
    };
    let head_box = box_loss(
        &own_class,
        &(0..positive_count).collect::<Vec<_>>(),
        |row| match matches[positives[row]] {
            Match::Object(t) => BoxCoder::HEAD.encode(&proposals[positives[row]], &rects[t]),
            _ => [0.0; 4],
        },
        regions.len().max(1) as f64,
    )?;
    Ok(Losses {
        rpn_objectness,
        rpn_box,
        head_class,
        head_box,
    })
}

/// Smooth L1 between the rows `rows` of `deltas (M, 4)` and their targets, summed and divided
/// by `count`; zero (with a gradient) when there are no rows.
fn box_loss(
    deltas: &Tensor,
    rows: &[usize],
    target: impl Fn(usize) -> [f32; 4],
    count: f64,
) -> candle_core::Result<Tensor> {
    if rows.is_empty() {
        return deltas.sum_all()? * 0.0;
    }
    let device = deltas.device();
    let index: Vec<u32> = rows.iter().map(|&i| i as u32).collect();
    let index = Tensor::from_vec(index, rows.len(), device)?;
    let predicted = deltas.index_select(&index, 0)?;
    let targets: Vec<f32> = rows.iter().flat_map(|&i| target(i)).collect();
    let targets = Tensor::from_vec(targets, (rows.len(), 4), device)?;
    smooth_l1(&predicted, &targets)?.sum_all()? / count
}

/// torchvision's smooth L1: quadratic under beta, linear above.
fn smooth_l1(x: &Tensor, target: &Tensor) -> candle_core::Result<Tensor> {
    let d = (x - target)?.abs()?;
    let quadratic = (d.sqr()? * (0.5 / SMOOTH_L1_BETA))?;
    let linear = (&d - 0.5 * SMOOTH_L1_BETA)?;
    d.lt(SMOOTH_L1_BETA)?.where_cond(&quadratic, &linear)
}

/// Binary cross-entropy of logits against per-element targets, in the stable form.
fn bce_with_logits(logits: &Tensor, targets: &Tensor) -> candle_core::Result<Tensor> {
    let softplus = (logits.abs()?.neg()?.exp()? + 1.0)?.log()?;
    (logits.relu()? - (logits * targets)?)? + softplus
}

/// Cross-entropy of `logits (R, classes + 1)` against `labels`, each region weighted by its
/// label's entry of `weights` and the sum divided by the weights' sum (PyTorch's weighted
/// `cross_entropy`); plain cross-entropy when `weights` is empty.
fn class_loss(
    logits: &Tensor,
    labels: &[u32],
    labels_tensor: &Tensor,
    weights: &[f32],
) -> candle_core::Result<Tensor> {
    if weights.is_empty() {
        return candle_nn::loss::cross_entropy(logits, labels_tensor);
    }
    let per_region: Vec<f32> = labels
        .iter()
        .map(|&l| weights.get(l as usize).copied().unwrap_or(1.0))
        .collect();
    let total = per_region.iter().sum::<f32>().max(f32::MIN_POSITIVE);
    let per_region = Tensor::from_vec(per_region, labels.len(), logits.device())?;
    let log_p = candle_nn::ops::log_softmax(logits, candle_core::D::Minus1)?
        .gather(&labels_tensor.unsqueeze(1)?, 1)?
        .squeeze(1)?;
    (log_p * per_region)?
        .sum_all()?
        .affine(-1.0 / total as f64, 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn the_class_loss_weighs_each_region_by_its_label() {
        let device = Device::Cpu;
        let logits = Tensor::new(
            &[[2.0f32, 0.0, -1.0], [0.5, 1.5, 0.0], [0.0, 0.0, 3.0]],
            &device,
        )
        .unwrap();
        let labels = [0u32, 1, 2];
        let labels_tensor = Tensor::new(&labels, &device).unwrap();
        let nll = |row: [f32; 3], label: usize| {
            let sum: f32 = row.iter().map(|v| v.exp()).sum();
            sum.ln() - row[label]
        };
        let rows = [[2.0f32, 0.0, -1.0], [0.5, 1.5, 0.0], [0.0, 0.0, 3.0]];
        let losses: Vec<f32> = rows
            .iter()
            .zip(labels)
            .map(|(r, l)| nll(*r, l as usize))
            .collect();
        let plain = class_loss(&logits, &labels, &labels_tensor, &[])
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!((plain - losses.iter().sum::<f32>() / 3.0).abs() < 1e-5);
        let weights = [1.0f32, 4.0, 0.5];
        let weighted = class_loss(&logits, &labels, &labels_tensor, &weights)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        let want = (losses[0] + 4.0 * losses[1] + 0.5 * losses[2]) / 5.5;
        assert!((weighted - want).abs() < 1e-5, "{weighted} against {want}");
    }

    #[test]
    fn smooth_l1_and_bce_follow_their_formulas() {
        let device = Device::Cpu;
        let x = Tensor::new(&[0.0f32, 0.05, 1.0, -2.0], &device).unwrap();
        let zero = Tensor::zeros(4, candle_core::DType::F32, &device).unwrap();
        let l = smooth_l1(&x, &zero).unwrap().to_vec1::<f32>().unwrap();
        let beta = SMOOTH_L1_BETA as f32;
        let want = [
            0.0,
            0.5 * 0.05 * 0.05 / beta,
            1.0 - 0.5 * beta,
            2.0 - 0.5 * beta,
        ];
        for (a, b) in l.iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{l:?}");
        }
        let targets = Tensor::new(&[1.0f32, 0.0, 1.0, 0.0], &device).unwrap();
        let b = bce_with_logits(&x, &targets)
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let sigmoid = |v: f32| 1.0 / (1.0 + (-v).exp());
        let want = [
            -sigmoid(0.0).ln(),
            -(1.0 - sigmoid(0.05)).ln(),
            -sigmoid(1.0).ln(),
            -(1.0 - sigmoid(-2.0)).ln(),
        ];
        for (a, b) in b.iter().zip(want) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
    }
}
