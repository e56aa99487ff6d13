//! The detector's input: an image resized to the network's size exactly as TensorFlow 1's
//! `ResizeBilinear` did it (align_corners=False, no half-pixel centres: source coordinate
//! `y * in / out`, in f32), then scaled to [-1, 1], as a planar RGB array.

use image::RgbImage;

/// Source row (or column) positions: the lower index, the upper index, and the weight of the
/// upper one.
fn positions(input: usize, output: usize) -> Vec<(usize, usize, f32)> {
    let scale = input as f32 / output as f32;
    (0..output)
        .map(|o| {
            let source = o as f32 * scale;
            let low = (source.floor() as usize).min(input - 1);
            let high = (low + 1).min(input - 1);
            (low, high, source - low as f32)
        })
        .collect()
}

/// `image` resized to `width` x `height`, each value `v * scale + offset`, as `[3][height][width]`.
pub fn network_input(
    image: &RgbImage,
    width: usize,
    height: usize,
    scale: f32,
    offset: f32,
) -> Vec<f32> {
    let (iw, ih) = (image.width() as usize, image.height() as usize);
    let raw = image.as_raw();
    let rows = positions(ih, height);
    let cols = positions(iw, width);
    let mut out = vec![0f32; 3 * width * height];
    let plane = width * height;
    for (y, &(y0, y1, dy)) in rows.iter().enumerate() {
        for (x, &(x0, x1, dx)) in cols.iter().enumerate() {
            for c in 0..3 {
                let at = |yy: usize, xx: usize| raw[(yy * iw + xx) * 3 + c] as f32;
                let top = at(y0, x0) + (at(y0, x1) - at(y0, x0)) * dx;
                let bottom = at(y1, x0) + (at(y1, x1) - at(y1, x0)) * dx;
                let value = top + (bottom - top) * dy;
                out[c * plane + y * width + x] = value * scale + offset;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_mapping_samples_from_the_top_left_without_half_pixel_centres() {
        // 4 -> 2: sources 0 and 2 exactly (half-pixel centres would blend 0.5 and 2.5).
        assert_eq!(positions(4, 2), vec![(0, 1, 0.0), (2, 3, 0.0)]);
        // 2 -> 4: sources 0, 0.5, 1, 1.5 (the last clamps to the edge).
        assert_eq!(
            positions(2, 4),
            vec![(0, 1, 0.0), (0, 1, 0.5), (1, 1, 0.0), (1, 1, 0.5)]
        );
    }

    #[test]
    fn values_are_scaled_to_minus_one_one() {
        let image = RgbImage::from_fn(2, 2, |x, _| image::Rgb([255 * x as u8, 0, 255]));
        let out = network_input(&image, 4, 4, 2.0 / 255.0, -1.0);
        // Red: 0 at column 0, 0.5 of the way at column 1, 1 from column 2 on.
        assert!((out[0] + 1.0).abs() < 1e-6);
        assert!(out[1].abs() < 1e-6);
        assert!((out[2] - 1.0).abs() < 1e-6 && (out[3] - 1.0).abs() < 1e-6);
        assert!(out[16..32].iter().all(|&g| (g + 1.0).abs() < 1e-6));
        assert!(out[32..48].iter().all(|&b| (b - 1.0).abs() < 1e-6));
    }
}
