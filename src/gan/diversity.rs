//! Intra-class diversity by multi-scale structural similarity (Wang, Simoncelli & Bovik 2003),
//! as Odena et al. 2017 used it for conditional GANs: the mean MS-SSIM of random pairs of one
//! class's images. Lower is more diverse; a generator that collapses within a class scores
//! near 1, and a healthy one scores close to the real images of that class.
//!
//! For 32x32 images the standard five scales and 11-pixel window do not fit, so this uses three
//! scales (32, 16, 8), a 7-pixel Gaussian window (sigma 1.5, valid positions only) and the
//! standard exponents of the three finest scales, renormalised to sum to 1; negative
//! contrast-structure terms count as 0.

use super::data::Dataset;
use crate::latent::SeededRng;

const SCALES: usize = 3;
const WEIGHTS: [f64; SCALES] = [0.0448, 0.2856, 0.3001];
const WINDOW: usize = 7;
const SIGMA: f64 = 1.5;
const C1: f64 = (0.01 * 255.0) * (0.01 * 255.0);
const C2: f64 = (0.03 * 255.0) * (0.03 * 255.0);

/// A grey image as f64 pixels.
#[derive(Clone)]
struct Plane {
    side: usize,
    pixels: Vec<f64>,
}

impl Plane {
    fn halved(&self) -> Plane {
        let side = self.side / 2;
        let mut pixels = vec![0.0; side * side];
        for y in 0..side {
            for x in 0..side {
                let at = |dx: usize, dy: usize| self.pixels[(2 * y + dy) * self.side + 2 * x + dx];
                pixels[y * side + x] = (at(0, 0) + at(1, 0) + at(0, 1) + at(1, 1)) / 4.0;
            }
        }
        Plane { side, pixels }
    }
}

fn gaussian_window() -> Vec<f64> {
    let centre = (WINDOW / 2) as f64;
    let g: Vec<f64> = (0..WINDOW)
        .map(|i| (-((i as f64 - centre).powi(2)) / (2.0 * SIGMA * SIGMA)).exp())
        .collect();
    let sum: f64 = g.iter().sum();
    let g: Vec<f64> = g.iter().map(|v| v / sum).collect();
    (0..WINDOW * WINDOW)
        .map(|i| g[i / WINDOW] * g[i % WINDOW])
        .collect()
}

/// Mean luminance and contrast-structure terms of SSIM over the window's valid positions.
fn ssim_terms(a: &Plane, b: &Plane, window: &[f64]) -> (f64, f64) {
    let positions = a.side + 1 - WINDOW;
    let (mut luminance, mut contrast) = (0.0, 0.0);
    for y in 0..positions {
        for x in 0..positions {
            let (mut ma, mut mb, mut saa, mut sbb, mut sab) = (0.0, 0.0, 0.0, 0.0, 0.0);
            for (k, w) in window.iter().enumerate() {
                let i = (y + k / WINDOW) * a.side + x + k % WINDOW;
                let (pa, pb) = (a.pixels[i], b.pixels[i]);
                ma += w * pa;
                mb += w * pb;
                saa += w * pa * pa;
                sbb += w * pb * pb;
                sab += w * pa * pb;
            }
            let (va, vb, cov) = (saa - ma * ma, sbb - mb * mb, sab - ma * mb);
            luminance += (2.0 * ma * mb + C1) / (ma * ma + mb * mb + C1);
            contrast += (2.0 * cov + C2) / (va + vb + C2);
        }
    }
    let n = (positions * positions) as f64;
    (luminance / n, contrast / n)
}

/// MS-SSIM of two grey images of one side (at least 28 pixels), in [0, 1].
fn ms_ssim(a: Plane, b: Plane, window: &[f64]) -> f64 {
    let total: f64 = WEIGHTS.iter().sum();
    let (mut a, mut b) = (a, b);
    let mut value = 1.0;
    for (scale, weight) in WEIGHTS.iter().enumerate() {
        let (luminance, contrast) = ssim_terms(&a, &b, window);
        value *= contrast.max(0.0).powf(weight / total);
        if scale + 1 == SCALES {
            value *= luminance.max(0.0).powf(weight / total);
        } else {
            a = a.halved();
            b = b.halved();
        }
    }
    value
}

fn plane(images: &Dataset, index: usize) -> Plane {
    let side = images.size;
    Plane {
        side,
        pixels: images
            .image_plane(index)
            .iter()
            .map(|&p| p as f64)
            .collect(),
    }
}

/// Mean MS-SSIM of `pairs` random pairs of different images (first channel), drawn from `seed`.
/// `None` when there are fewer than two images or they are smaller than 28 pixels.
pub fn mean_ms_ssim(images: &Dataset, pairs: usize, seed: u64) -> Option<f64> {
    if images.len < 2 || images.size < 4 * WINDOW {
        return None;
    }
    let window = gaussian_window();
    let mut rng = SeededRng::new(seed);
    let mut sum = 0.0;
    for _ in 0..pairs {
        let i = rng.below(images.len);
        let j = (i + 1 + rng.below(images.len - 1)) % images.len;
        sum += ms_ssim(plane(images, i), plane(images, j), &window);
    }
    Some(sum / pairs.max(1) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dataset(images: &[Vec<u8>]) -> Dataset {
        Dataset::from_pixels(images.concat(), 1, 32)
    }

    fn pattern(seed: u64) -> Vec<u8> {
        let mut rng = SeededRng::new(seed);
        (0..32 * 32).map(|_| (rng.next_u64() % 256) as u8).collect()
    }

    #[test]
    fn copies_score_one_and_unrelated_noise_scores_near_zero() {
        let same = dataset(&[pattern(1), pattern(1), pattern(1)]);
        let score = mean_ms_ssim(&same, 20, 3).unwrap();
        assert!((score - 1.0).abs() < 1e-9, "{score}");
        let noise = dataset(&(0..10).map(pattern).collect::<Vec<_>>());
        let score = mean_ms_ssim(&noise, 50, 3).unwrap();
        assert!(score < 0.1, "{score}");
    }

    #[test]
    fn a_shifted_copy_is_more_alike_than_noise_but_less_than_a_copy() {
        let base = GrayBlob::new(10, 8);
        let moved = GrayBlob::new(12, 9);
        let score = mean_ms_ssim(&dataset(&[base.0, moved.0]), 10, 1).unwrap();
        assert!(score > 0.2 && score < 0.99, "{score}");
    }

    struct GrayBlob(Vec<u8>);

    impl GrayBlob {
        fn new(x0: usize, y0: usize) -> Self {
            GrayBlob(
                (0..32 * 32)
                    .map(|i| {
                        let (x, y) = (i % 32, i / 32);
                        if (x0..x0 + 12).contains(&x) && (y0..y0 + 14).contains(&y) {
                            220
                        } else {
                            20
                        }
                    })
                    .collect(),
            )
        }
    }
}
