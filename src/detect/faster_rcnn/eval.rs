//! Average precision as COCO computes it: per class, detections of all images by descending
//! score, each matched to the unmatched ground-truth box it overlaps most at the IoU threshold;
//! precision made monotone from the right and read at 101 recall points; mAP@0.5 at IoU 0.5,
//! mAP@[.5:.95] the mean over IoU 0.50, 0.55, ..., 0.95. Classes without ground truth are left
//! out of the means, as COCO leaves them.

use crate::detect::boxes::BoxRect;

/// Detections kept per image, as COCO's `maxDets`.
const MAX_DETECTIONS: usize = 100;

/// A scored box of one class in one image.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    pub rect: BoxRect,
    pub class: usize,
    pub score: f32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// mAP at IoU 0.5.
    pub map50: f32,
    /// mAP averaged over IoU 0.50:0.05:0.95.
    pub map: f32,
    /// Per class: (AP@0.5, AP@[.5:.95]); `None` without ground truth.
    pub per_class: Vec<Option<(f32, f32)>>,
}

/// Scores `detections[i]` against `truths[i]` (box and class) for each image `i`, classes
/// `0..classes`.
pub fn evaluate(
    detections: &[Vec<Scored>],
    truths: &[Vec<(BoxRect, usize)>],
    classes: usize,
) -> Evaluation {
    let thresholds: Vec<f32> = (0..10).map(|i| 0.5 + 0.05 * i as f32).collect();
    let per_class: Vec<Option<(f32, f32)>> = (0..classes)
        .map(|class| {
            let aps: Option<Vec<f32>> = thresholds
                .iter()
                .map(|&t| average_precision(detections, truths, class, t))
                .collect();
            aps.map(|aps| (aps[0], aps.iter().sum::<f32>() / aps.len() as f32))
        })
        .collect();
    let present: Vec<(f32, f32)> = per_class.iter().flatten().copied().collect();
    let mean = |f: fn(&(f32, f32)) -> f32| {
        if present.is_empty() {
            0.0
        } else {
            present.iter().map(f).sum::<f32>() / present.len() as f32
        }
    };
    Evaluation {
        map50: mean(|p| p.0),
        map: mean(|p| p.1),
        per_class,
    }
}

/// The ground truth and the detections in COCO's JSON forms (a dataset, and a results list
/// for `COCO.loadRes`), so COCO's own `COCOeval` can score the same thing: image `i` has id
/// `i + 1` and size `sizes[i]`, class `k` is category `k + 1`, boxes are `[x, y, w, h]`.
pub fn coco_json(
    detections: &[Vec<Scored>],
    truths: &[Vec<(BoxRect, usize)>],
    classes: &[String],
    sizes: &[(u32, u32)],
) -> (serde_json::Value, serde_json::Value) {
    use serde_json::json;
    let bbox = |r: &BoxRect| json!([r.x0, r.y0, r.width(), r.height()]);
    let images: Vec<_> = sizes
        .iter()
        .enumerate()
        .map(|(i, (w, h))| json!({"id": i + 1, "width": w, "height": h, "file_name": format!("{}", i + 1)}))
        .collect();
    let mut annotations = Vec::new();
    for (i, boxes) in truths.iter().enumerate() {
        for (rect, class) in boxes {
            annotations.push(json!({
                "id": annotations.len() + 1,
                "image_id": i + 1,
                "category_id": class + 1,
                "bbox": bbox(rect),
                "area": rect.area(),
                "iscrowd": 0,
            }));
        }
    }
    let categories: Vec<_> = classes
        .iter()
        .enumerate()
        .map(|(k, name)| json!({"id": k + 1, "name": name}))
        .collect();
    let results: Vec<_> = detections
        .iter()
        .enumerate()
        .flat_map(|(i, found)| {
            found.iter().map(move |d| {
                json!({"image_id": i + 1, "category_id": d.class + 1, "bbox": bbox(&d.rect), "score": d.score})
            })
        })
        .collect();
    (
        json!({"images": images, "annotations": annotations, "categories": categories}),
        serde_json::Value::Array(results),
    )
}

/// AP of `class` at IoU `threshold`; `None` when no image has a box of it.
fn average_precision(
    detections: &[Vec<Scored>],
    truths: &[Vec<(BoxRect, usize)>],
    class: usize,
    threshold: f32,
) -> Option<f32> {
    let total: usize = truths
        .iter()
        .map(|t| t.iter().filter(|(_, c)| *c == class).count())
        .sum();
    if total == 0 {
        return None;
    }
    // (score, true positive?) of every kept detection of the class.
    let mut outcomes: Vec<(f32, bool)> = Vec::new();
    for (image, found) in detections.iter().enumerate() {
        let gts: Vec<&BoxRect> = truths
            .get(image)
            .map(|t| {
                t.iter()
                    .filter(|(_, c)| *c == class)
                    .map(|(r, _)| r)
                    .collect()
            })
            .unwrap_or_default();
        let mut mine: Vec<&Scored> = found.iter().filter(|d| d.class == class).collect();
        mine.sort_by(|a, b| b.score.total_cmp(&a.score));
        mine.truncate(MAX_DETECTIONS);
        let mut taken = vec![false; gts.len()];
        for detection in mine {
            let best = gts
                .iter()
                .enumerate()
                .filter(|(g, _)| !taken[*g])
                .map(|(g, rect)| (g, rect.iou(&detection.rect)))
                .filter(|(_, iou)| *iou >= threshold)
                .max_by(|a, b| a.1.total_cmp(&b.1));
            if let Some((g, _)) = best {
                taken[g] = true;
            }
            outcomes.push((detection.score, best.is_some()));
        }
    }
    outcomes.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut precision = Vec::with_capacity(outcomes.len());
    let mut recall = Vec::with_capacity(outcomes.len());
    let mut hits = 0usize;
    for (n, (_, hit)) in outcomes.iter().enumerate() {
        hits += usize::from(*hit);
        precision.push(hits as f32 / (n + 1) as f32);
        recall.push(hits as f32 / total as f32);
    }
    for i in (0..precision.len().saturating_sub(1)).rev() {
        precision[i] = precision[i].max(precision[i + 1]);
    }
    let sum: f32 = (0..=100)
        .map(|r| {
            let level = r as f32 / 100.0;
            let at = recall.partition_point(|&x| x < level);
            precision.get(at).copied().unwrap_or(0.0)
        })
        .sum();
    Some(sum / 101.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scored(x: f32, class: usize, score: f32) -> Scored {
        Scored {
            rect: BoxRect::new(x, 0.0, x + 10.0, 10.0),
            class,
            score,
        }
    }

    #[test]
    fn perfect_detections_score_one_and_misses_lower_it() {
        let truths = vec![
            vec![(BoxRect::new(0.0, 0.0, 10.0, 10.0), 0)],
            vec![(BoxRect::new(20.0, 0.0, 30.0, 10.0), 0)],
        ];
        let perfect = vec![vec![scored(0.0, 0, 0.9)], vec![scored(20.0, 0, 0.8)]];
        let e = evaluate(&perfect, &truths, 2);
        assert_eq!((e.map50, e.map), (1.0, 1.0));
        assert_eq!(e.per_class[1], None, "no ground truth of class 1");

        // Half the boxes found: precision 1 up to recall 0.5, nothing after.
        let half = vec![vec![scored(0.0, 0, 0.9)], vec![]];
        let e = evaluate(&half, &truths, 1);
        assert!((e.map50 - 51.0 / 101.0).abs() < 1e-6, "{e:?}");

        // A false positive scored above both hits: precision 1/2 then 2/3 made monotone
        // gives 2/3 at every recall point.
        let noisy = vec![
            vec![scored(0.0, 0, 0.9), scored(50.0, 0, 0.95)],
            vec![scored(20.0, 0, 0.8)],
        ];
        let e = evaluate(&noisy, &truths, 1);
        assert!((e.map50 - 2.0 / 3.0).abs() < 1e-6, "{e:?}");
    }

    #[test]
    fn stricter_thresholds_lower_the_mean_and_a_box_is_matched_once() {
        // A box shifted by 2 pixels: IoU 8/12 = 0.667, a hit at 0.50-0.65, a miss from 0.70.
        let truths = vec![vec![(BoxRect::new(0.0, 0.0, 10.0, 10.0), 0)]];
        let shifted = vec![vec![scored(2.0, 0, 0.9)]];
        let e = evaluate(&shifted, &truths, 1);
        assert_eq!(e.map50, 1.0);
        assert!((e.map - 0.4).abs() < 1e-6, "{e:?}");
        // Two detections of one box: the second is a false positive.
        let twice = vec![vec![scored(0.0, 0, 0.9), scored(0.0, 0, 0.8)]];
        let e = evaluate(&twice, &truths, 1);
        assert_eq!(
            e.map50, 1.0,
            "precision is 1 at the only recall that matters"
        );
    }
}
