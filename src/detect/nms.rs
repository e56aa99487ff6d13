//! Greedy non-maximum suppression: best score first, dropping every box that overlaps a kept
//! one by more than the IoU threshold (IoU as [`BoxRect::iou`] computes it).

use super::boxes::BoxRect;

/// The boxes kept, best first, at most `max_kept`.
pub fn nms(
    mut candidates: Vec<(BoxRect, f32)>,
    iou_threshold: f32,
    max_kept: usize,
) -> Vec<(BoxRect, f32)> {
    candidates.sort_by(|a, b| b.1.total_cmp(&a.1));
    let mut kept: Vec<(BoxRect, f32)> = Vec::new();
    for (rect, score) in candidates {
        if kept.len() >= max_kept {
            break;
        }
        if kept.iter().all(|(k, _)| k.iou(&rect) <= iou_threshold) {
            kept.push((rect, score));
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_boxes_keep_the_best_and_distant_ones_survive() {
        let a = BoxRect::new(0.0, 0.0, 10.0, 10.0);
        let a_shifted = BoxRect::new(1.0, 0.0, 11.0, 10.0); // IoU 90/110 = 0.818 with a
        let b = BoxRect::new(20.0, 20.0, 30.0, 30.0);
        let half = BoxRect::new(5.0, 0.0, 15.0, 10.0); // IoU 50/150 = 0.333 with a
        let kept = nms(
            vec![(a_shifted, 0.8), (b, 0.5), (a, 0.9), (half, 0.7)],
            0.6,
            10,
        );
        assert_eq!(kept, vec![(a, 0.9), (half, 0.7), (b, 0.5)]);
        // A stricter threshold drops the half-overlapping box too; a cap keeps the best only.
        assert_eq!(nms(vec![(a, 0.9), (half, 0.7)], 0.3, 10), vec![(a, 0.9)]);
        assert_eq!(nms(vec![(a, 0.9), (b, 0.5)], 0.6, 1), vec![(a, 0.9)]);
    }
}
