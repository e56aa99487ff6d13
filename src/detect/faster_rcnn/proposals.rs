//! Region proposals from the RPN's outputs, as torchvision's `RegionProposalNetwork` filters
//! them: every anchor decoded by its deltas and clipped to the image, tiny boxes dropped, the
//! best `pre_nms` by objectness kept, non-maximum suppression at `iou`, then the best `post_nms`.

use super::coder::BoxCoder;
use crate::detect::boxes::BoxRect;
use crate::detect::nms::nms;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProposalLimits {
    pub pre_nms: usize,
    pub post_nms: usize,
    pub iou: f32,
    /// Boxes narrower or shorter than this (pixels) are dropped.
    pub min_size: f32,
}

impl ProposalLimits {
    /// torchvision's training limits for one feature level, halved for a CPU.
    pub const TRAIN: ProposalLimits = ProposalLimits {
        pre_nms: 1_000,
        post_nms: 500,
        iou: 0.7,
        min_size: 1e-3,
    };
    pub const TEST: ProposalLimits = ProposalLimits {
        pre_nms: 500,
        post_nms: 100,
        iou: 0.7,
        min_size: 1e-3,
    };
}

/// The proposals (best first) of `anchors` moved by `deltas` (one row of four per anchor),
/// scored by `objectness` logits, in an image of `size` (width, height).
pub fn propose(
    anchors: &[BoxRect],
    objectness: &[f32],
    deltas: &[f32],
    size: (f32, f32),
    limits: ProposalLimits,
) -> Vec<(BoxRect, f32)> {
    let mut order: Vec<usize> = (0..anchors.len()).collect();
    order.sort_unstable_by(|&a, &b| objectness[b].total_cmp(&objectness[a]));
    order.truncate(limits.pre_nms);
    let candidates: Vec<(BoxRect, f32)> = order
        .into_iter()
        .filter_map(|i| {
            let d = [
                deltas[4 * i],
                deltas[4 * i + 1],
                deltas[4 * i + 2],
                deltas[4 * i + 3],
            ];
            let rect = BoxCoder::RPN.decode(&anchors[i], d).clamped(size.0, size.1);
            let big_enough = rect.width() >= limits.min_size && rect.height() >= limits.min_size;
            big_enough.then_some((rect, objectness[i]))
        })
        .collect();
    nms(candidates, limits.iou, limits.post_nms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_best_scored_decoded_boxes_survive_suppression_inside_the_image() {
        let anchors = [
            BoxRect::new(0.0, 0.0, 20.0, 20.0),
            BoxRect::new(1.0, 1.0, 21.0, 21.0), // overlaps the first: suppressed
            BoxRect::new(50.0, 50.0, 70.0, 70.0),
            BoxRect::new(90.0, 90.0, 130.0, 130.0), // clipped at the image's edge
        ];
        let objectness = [2.0, 1.5, 0.5, 1.0];
        let mut deltas = vec![0.0; 16];
        deltas[8] = 0.5; // the third moves right by half its width
        let kept = propose(
            &anchors,
            &objectness,
            &deltas,
            (100.0, 100.0),
            ProposalLimits::TEST,
        );
        let rects: Vec<BoxRect> = kept.iter().map(|(r, _)| *r).collect();
        assert_eq!(
            rects,
            [
                BoxRect::new(0.0, 0.0, 20.0, 20.0),
                BoxRect::new(90.0, 90.0, 100.0, 100.0),
                BoxRect::new(60.0, 50.0, 80.0, 70.0),
            ]
        );
        let one = propose(
            &anchors,
            &objectness,
            &deltas,
            (100.0, 100.0),
            ProposalLimits {
                pre_nms: 1,
                ..ProposalLimits::TEST
            },
        );
        assert_eq!(one.len(), 1);
    }
}
