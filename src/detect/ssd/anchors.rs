//! SSD anchors as the TF Object Detection API makes them (`create_ssd_anchors` over a
//! `MultipleGridAnchorGenerator`): per feature map, per cell (row-major), per box spec;
//! `[ymin, xmin, ymax, xmax]` in normalised image coordinates, unclipped.

use super::card::AnchorParams;

/// The box specs `(scale, aspect ratio)` of each layer.
fn layer_specs(params: &AnchorParams) -> Vec<Vec<(f32, f32)>> {
    let n = params.num_layers;
    let mut scales: Vec<f32> = (0..n)
        .map(|i| {
            params.min_scale + (params.max_scale - params.min_scale) * i as f32 / (n - 1) as f32
        })
        .collect();
    scales.push(1.0);
    (0..n)
        .map(|layer| {
            let (scale, next) = (scales[layer], scales[layer + 1]);
            if layer == 0 && params.reduce_boxes_in_lowest_layer {
                return vec![(0.1, 1.0), (scale, 2.0), (scale, 0.5)];
            }
            let mut specs: Vec<(f32, f32)> =
                params.aspect_ratios.iter().map(|&r| (scale, r)).collect();
            if params.interpolated_scale_aspect_ratio > 0.0 {
                specs.push((
                    (scale * next).sqrt(),
                    params.interpolated_scale_aspect_ratio,
                ));
            }
            specs
        })
        .collect()
}

/// Anchors per cell of each layer.
pub fn anchors_per_cell(params: &AnchorParams) -> Vec<usize> {
    layer_specs(params).iter().map(Vec::len).collect()
}

/// Every anchor, in the order of the box predictors' outputs.
pub fn ssd_anchors(params: &AnchorParams) -> Vec<[f32; 4]> {
    let mut anchors = Vec::new();
    for (specs, &size) in layer_specs(params).iter().zip(&params.feature_map_sizes) {
        let stride = 1.0 / size as f32;
        for row in 0..size {
            for col in 0..size {
                let cy = row as f32 * stride + 0.5 * stride;
                let cx = col as f32 * stride + 0.5 * stride;
                for &(scale, ratio) in specs {
                    let root = ratio.sqrt();
                    let h = scale / root * params.base_anchor_size[0];
                    let w = scale * root * params.base_anchor_size[1];
                    anchors.push([cy - h / 2.0, cx - w / 2.0, cy + h / 2.0, cx + w / 2.0]);
                }
            }
        }
    }
    anchors
}

/// The Faster R-CNN box coder's decode: `[ty, tx, th, tw]` (divided by `scales`) relative to
/// `anchor`, to `[ymin, xmin, ymax, xmax]`.
pub fn decode(encoding: [f32; 4], anchor: [f32; 4], scales: [f32; 4]) -> [f32; 4] {
    let ha = anchor[2] - anchor[0];
    let wa = anchor[3] - anchor[1];
    let cya = anchor[0] + ha / 2.0;
    let cxa = anchor[1] + wa / 2.0;
    let ty = encoding[0] / scales[0];
    let tx = encoding[1] / scales[1];
    let th = encoding[2] / scales[2];
    let tw = encoding[3] / scales[3];
    let h = th.exp() * ha;
    let w = tw.exp() * wa;
    let cy = ty * ha + cya;
    let cx = tx * wa + cxa;
    [cy - h / 2.0, cx - w / 2.0, cy + h / 2.0, cx + w / 2.0]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> AnchorParams {
        AnchorParams {
            num_layers: 6,
            min_scale: 0.2,
            max_scale: 0.95,
            aspect_ratios: vec![1.0, 2.0, 0.5, 3.0, 0.3333],
            interpolated_scale_aspect_ratio: 1.0,
            reduce_boxes_in_lowest_layer: true,
            base_anchor_size: [1.0, 1.0],
            feature_map_sizes: vec![19, 10, 5, 3, 2, 1],
        }
    }

    #[test]
    fn the_ssdlite_grid_has_1917_anchors() {
        let p = params();
        assert_eq!(anchors_per_cell(&p), vec![3, 6, 6, 6, 6, 6]);
        let anchors = ssd_anchors(&p);
        assert_eq!(anchors.len(), 19 * 19 * 3 + (100 + 25 + 9 + 4 + 1) * 6);
        // The first: the 0.1 square at the first cell's centre.
        let c = 0.5 / 19.0;
        let first = anchors[0];
        for (got, want) in first.iter().zip([c - 0.05, c - 0.05, c + 0.05, c + 0.05]) {
            assert!((got - want).abs() < 1e-6);
        }
        // The last: the interpolated square of the 1x1 map, sqrt(0.95 * 1.0) wide, centred.
        let s = 0.95f32.sqrt();
        let last = anchors[anchors.len() - 1];
        for (got, want) in
            last.iter()
                .zip([0.5 - s / 2.0, 0.5 - s / 2.0, 0.5 + s / 2.0, 0.5 + s / 2.0])
        {
            assert!((got - want).abs() < 1e-6);
        }
    }

    #[test]
    fn a_zero_encoding_decodes_to_its_anchor_and_shifts_scale() {
        let anchor = [0.2, 0.1, 0.6, 0.5];
        let scales = [10.0, 10.0, 5.0, 5.0];
        let same = decode([0.0; 4], anchor, scales);
        for (a, b) in same.iter().zip(anchor) {
            assert!((a - b).abs() < 1e-6);
        }
        // ty = 10 moves the centre down by one anchor height; th = 5 * ln 2 doubles the height.
        let moved = decode([10.0, 0.0, 5.0 * 2f32.ln(), 0.0], anchor, scales);
        assert!((moved[0] - 0.4).abs() < 1e-5 && (moved[2] - 1.2).abs() < 1e-5);
    }
}
