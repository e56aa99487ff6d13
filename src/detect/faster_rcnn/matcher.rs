//! Assigning anchors (or proposals) to ground-truth boxes by IoU, as torchvision's `Matcher`:
//! each goes to the box it overlaps most when that IoU reaches `high`, is background under
//! `low`, and is ignored in between. With `allow_low_quality`, every box also claims the
//! anchors that overlap it best (ties included), so a box no anchor reaches `high` on still
//! has positives.

use crate::detect::boxes::BoxRect;

/// What an anchor became.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Match {
    /// Assigned to ground-truth box `i`.
    Object(usize),
    Background,
    /// Between the thresholds: in no loss.
    Ignored,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Matcher {
    pub high: f32,
    pub low: f32,
    pub allow_low_quality: bool,
}

impl Matcher {
    /// torchvision's RPN: positives from 0.7, negatives under 0.3, best anchors kept.
    pub const RPN: Matcher = Matcher {
        high: 0.7,
        low: 0.3,
        allow_low_quality: true,
    };
    /// torchvision's box head: positives from 0.5, the rest background.
    pub const HEAD: Matcher = Matcher {
        high: 0.5,
        low: 0.5,
        allow_low_quality: false,
    };

    /// The match of every anchor; with no ground truth every anchor is background.
    pub fn assign(&self, anchors: &[BoxRect], truths: &[BoxRect]) -> Vec<Match> {
        if truths.is_empty() {
            return vec![Match::Background; anchors.len()];
        }
        // IoU, ground truth by anchor.
        let iou: Vec<Vec<f32>> = truths
            .iter()
            .map(|t| anchors.iter().map(|a| t.iou(a)).collect())
            .collect();
        let mut matches: Vec<Match> = (0..anchors.len())
            .map(|a| {
                // The first box of the highest IoU, as torch's argmax picks.
                let (best, value) = (0..truths.len()).fold((0, f32::MIN), |(bi, bv), t| {
                    if iou[t][a] > bv {
                        (t, iou[t][a])
                    } else {
                        (bi, bv)
                    }
                });
                if value >= self.high {
                    Match::Object(best)
                } else if value < self.low {
                    Match::Background
                } else {
                    Match::Ignored
                }
            })
            .collect();
        if self.allow_low_quality {
            for row in &iou {
                let top = row.iter().copied().fold(f32::MIN, f32::max);
                for (a, &value) in row.iter().enumerate() {
                    if value == top {
                        // torchvision keeps the anchor's own best box (its argmax), not
                        // necessarily this one.
                        let best = (0..truths.len())
                            .fold(0, |bi, t| if iou[t][a] > iou[bi][a] { t } else { bi });
                        matches[a] = Match::Object(best);
                    }
                }
            }
        }
        matches
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_split_objects_background_and_ignored() {
        let truths = [BoxRect::new(0.0, 0.0, 10.0, 10.0)];
        let anchors = [
            BoxRect::new(0.0, 0.0, 10.0, 10.0), // IoU 1
            BoxRect::new(0.0, 0.0, 10.0, 5.0),  // IoU 0.5
            BoxRect::new(0.0, 0.0, 10.0, 2.0),  // IoU 0.2
            BoxRect::new(50.0, 50.0, 60.0, 60.0),
        ];
        let rpn = Matcher {
            allow_low_quality: false,
            ..Matcher::RPN
        };
        assert_eq!(
            rpn.assign(&anchors, &truths),
            [
                Match::Object(0),
                Match::Ignored,
                Match::Background,
                Match::Background
            ]
        );
        assert_eq!(
            Matcher::HEAD.assign(&anchors, &truths),
            [
                Match::Object(0),
                Match::Object(0),
                Match::Background,
                Match::Background
            ]
        );
        assert_eq!(Matcher::RPN.assign(&anchors, &[]), [Match::Background; 4]);
    }

    #[test]
    fn every_box_keeps_its_best_anchors_when_none_reaches_the_threshold() {
        // Box 1 overlaps anchors 1 and 2 equally (0.5 each) and nothing better.
        let truths = [
            BoxRect::new(0.0, 0.0, 10.0, 10.0),
            BoxRect::new(100.0, 0.0, 110.0, 10.0),
        ];
        let anchors = [
            BoxRect::new(0.0, 0.0, 10.0, 10.0),
            BoxRect::new(100.0, 0.0, 110.0, 5.0),
            BoxRect::new(100.0, 5.0, 110.0, 10.0),
            BoxRect::new(0.0, 0.0, 10.0, 4.0), // IoU 0.4 with box 0: ignored
        ];
        let matches = Matcher::RPN.assign(&anchors, &truths);
        assert_eq!(
            matches,
            [
                Match::Object(0),
                Match::Object(1),
                Match::Object(1),
                Match::Ignored
            ]
        );
    }
}
