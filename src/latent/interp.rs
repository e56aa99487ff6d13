//! Paths between latent vectors: linear and spherical interpolation, strips and the bilinear
//! corner grid.

/// How to move between two latent vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum Mode {
    Lerp,
    /// Along the great circle (DCGAN's z are Gaussian, so their norms concentrate on a shell;
    /// slerp stays near it where lerp cuts through the middle).
    #[default]
    Slerp,
}

impl std::str::FromStr for Mode {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.to_ascii_lowercase().as_str() {
            "lerp" | "linear" => Ok(Mode::Lerp),
            "slerp" | "spherical" => Ok(Mode::Slerp),
            _ => Err(format!("unknown interpolation {text:?}: use lerp or slerp")),
        }
    }
}

/// Below this angle (radians) slerp divides by almost 0; lerp is then the same path.
const PARALLEL_ANGLE: f64 = 1e-4;

pub fn lerp(a: &[f32], b: &[f32], t: f32) -> Vec<f32> {
    if t == 0.0 {
        return a.to_vec();
    }
    if t == 1.0 {
        return b.to_vec();
    }
    a.iter().zip(b).map(|(x, y)| x + (y - x) * t).collect()
}

/// Spherical interpolation; the endpoints are exact and unit vectors stay unit length.
pub fn slerp(a: &[f32], b: &[f32], t: f32) -> Vec<f32> {
    if t == 0.0 {
        return a.to_vec();
    }
    if t == 1.0 {
        return b.to_vec();
    }
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let norm = |v: &[f32]| v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let (na, nb) = (norm(a), norm(b));
    if na == 0.0 || nb == 0.0 {
        return lerp(a, b, t);
    }
    let omega = (dot / (na * nb)).clamp(-1.0, 1.0).acos();
    if omega < PARALLEL_ANGLE || (std::f64::consts::PI - omega) < PARALLEL_ANGLE {
        return lerp(a, b, t);
    }
    let sin_omega = omega.sin();
    let t = t as f64;
    let s0 = ((1.0 - t) * omega).sin() / sin_omega;
    let s1 = (t * omega).sin() / sin_omega;
    a.iter()
        .zip(b)
        .map(|(x, y)| (s0 * *x as f64 + s1 * *y as f64) as f32)
        .collect()
}

pub fn interpolate(a: &[f32], b: &[f32], t: f32, mode: Mode) -> Vec<f32> {
    match mode {
        Mode::Lerp => lerp(a, b, t),
        Mode::Slerp => slerp(a, b, t),
    }
}

/// `steps` vectors from `a` to `b` inclusive (at least 2).
pub fn path(a: &[f32], b: &[f32], steps: usize, mode: Mode) -> Vec<Vec<f32>> {
    let steps = steps.max(2);
    (0..steps)
        .map(|i| {
            let t = if i + 1 == steps {
                1.0
            } else {
                i as f32 / (steps - 1) as f32
            };
            interpolate(a, b, t, mode)
        })
        .collect()
}

/// A `rows x cols` grid, row-major, whose corners are `[top_left, top_right, bottom_left,
/// bottom_right]`: each row interpolates between the interpolated left and right edges.
pub fn corner_grid(corners: [&[f32]; 4], rows: usize, cols: usize, mode: Mode) -> Vec<Vec<f32>> {
    let [tl, tr, bl, br] = corners;
    let left = path(tl, bl, rows, mode);
    let right = path(tr, br, rows, mode);
    left.iter()
        .zip(&right)
        .flat_map(|(l, r)| path(l, r, cols, mode))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::latent::z_from_seed;

    fn norm(v: &[f32]) -> f32 {
        v.iter().map(|x| x * x).sum::<f32>().sqrt()
    }

    #[test]
    fn endpoints_are_exact() {
        let (a, b) = (z_from_seed(1, 100), z_from_seed(2, 100));
        for mode in [Mode::Lerp, Mode::Slerp] {
            let p = path(&a, &b, 7, mode);
            assert_eq!(p.len(), 7);
            assert_eq!(p[0], a);
            assert_eq!(p[6], b);
        }
    }

    #[test]
    fn slerp_keeps_unit_vectors_on_the_sphere_and_lerp_does_not() {
        let unit = |v: Vec<f32>| {
            let n = norm(&v);
            v.into_iter().map(|x| x / n).collect::<Vec<_>>()
        };
        let (a, b) = (unit(z_from_seed(3, 64)), unit(z_from_seed(4, 64)));
        for t in [0.1, 0.25, 0.5, 0.9] {
            assert!((norm(&slerp(&a, &b, t)) - 1.0).abs() < 1e-5);
        }
        assert!(norm(&lerp(&a, &b, 0.5)) < 0.9);
        // Halfway is equally far (in angle) from both ends.
        let mid = slerp(&a, &b, 0.5);
        let dot = |x: &[f32], y: &[f32]| x.iter().zip(y).map(|(p, q)| p * q).sum::<f32>();
        assert!((dot(&mid, &a) - dot(&mid, &b)).abs() < 1e-5);
    }

    #[test]
    fn slerp_falls_back_to_lerp_when_nearly_parallel() {
        let a = z_from_seed(5, 32);
        let b: Vec<f32> = a.iter().map(|x| x * 2.0).collect();
        let s = slerp(&a, &b, 0.5);
        assert!(s.iter().all(|v| v.is_finite()));
        assert_eq!(s, lerp(&a, &b, 0.5));
        let zero = vec![0.0; 32];
        assert_eq!(slerp(&zero, &a, 0.5), lerp(&zero, &a, 0.5));
    }

    #[test]
    fn corner_grid_corners_are_the_inputs() {
        let c: Vec<Vec<f32>> = (10..14).map(|s| z_from_seed(s, 16)).collect();
        let grid = corner_grid([&c[0], &c[1], &c[2], &c[3]], 4, 5, Mode::Slerp);
        assert_eq!(grid.len(), 20);
        assert_eq!(grid[0], c[0]);
        assert_eq!(grid[4], c[1]);
        assert_eq!(grid[15], c[2]);
        assert_eq!(grid[19], c[3]);
    }

    #[test]
    fn modes_parse() {
        assert_eq!("slerp".parse::<Mode>(), Ok(Mode::Slerp));
        assert_eq!("LERP".parse::<Mode>(), Ok(Mode::Lerp));
        assert!("cubic".parse::<Mode>().is_err());
    }
}
