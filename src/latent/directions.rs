//! Directions to edit a latent vector along: random orthonormal ones, or the principal
//! directions of what the generator's first layer makes of a batch of z's (as GANSpace does),
//! and a random walk that keeps z's distribution.

use super::SeededRng;

/// `count` orthonormal directions in `dim` dimensions, drawn from `seed` (Gram-Schmidt).
pub fn random_orthonormal(count: usize, dim: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = SeededRng::new(seed ^ 0x5EED_D1EC);
    let mut basis: Vec<Vec<f64>> = Vec::new();
    while basis.len() < count.min(dim) {
        let mut v = vec![0.0f32; dim];
        rng.normal(&mut v);
        let mut v: Vec<f64> = v.into_iter().map(f64::from).collect();
        for b in &basis {
            let d = dot(&v, b);
            v.iter_mut().zip(b).for_each(|(x, y)| *x -= d * y);
        }
        let n = dot(&v, &v).sqrt();
        if n > 1e-6 {
            basis.push(v.into_iter().map(|x| x / n).collect());
        }
    }
    basis
        .into_iter()
        .map(|v| v.into_iter().map(|x| x as f32).collect())
        .collect()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Principal directions in z space: `features[i]` is what the generator's first layer makes of
/// `z[i]`. The top principal components of the centred features are found through their Gram
/// matrix (samples x samples, small), and each is carried back to z space by regressing its
/// scores on the z's; directions are unit length, strongest first.
pub fn principal_directions(z: &[Vec<f32>], features: &[Vec<f32>], count: usize) -> Vec<Vec<f32>> {
    let n = z.len().min(features.len());
    if n < 2 || count == 0 {
        return Vec::new();
    }
    let dim = features[0].len();
    let mean: Vec<f64> = (0..dim)
        .map(|j| features[..n].iter().map(|f| f[j] as f64).sum::<f64>() / n as f64)
        .collect();
    let centred: Vec<Vec<f64>> = features[..n]
        .iter()
        .map(|f| f.iter().zip(&mean).map(|(x, m)| *x as f64 - m).collect())
        .collect();
    let mut gram: Vec<Vec<f64>> = (0..n)
        .map(|i| (0..n).map(|j| dot(&centred[i], &centred[j])).collect())
        .collect();
    let z_dim = z[0].len();
    let mut z_gram = vec![vec![0.0f64; z_dim]; z_dim];
    for zi in &z[..n] {
        for (a, row) in zi.iter().zip(z_gram.iter_mut()) {
            for (b, cell) in zi.iter().zip(row.iter_mut()) {
                *cell += *a as f64 * *b as f64;
            }
        }
    }
    let mut directions = Vec::new();
    let mut rng = SeededRng::new(17);
    for _ in 0..count.min(n - 1) {
        // Power iteration for the top eigenvector of the (deflated) Gram matrix: the scores of
        // the samples on the next principal component.
        let mut u = vec![0.0f32; n];
        rng.normal(&mut u);
        let mut u: Vec<f64> = u.into_iter().map(f64::from).collect();
        let mut eigenvalue = 0.0;
        for _ in 0..200 {
            let next: Vec<f64> = gram.iter().map(|row| dot(row, &u)).collect();
            let norm = dot(&next, &next).sqrt();
            if norm < 1e-12 {
                break;
            }
            eigenvalue = norm;
            u = next.into_iter().map(|x| x / norm).collect();
        }
        if eigenvalue < 1e-9 {
            break;
        }
        for i in 0..n {
            for j in 0..n {
                gram[i][j] -= eigenvalue * u[i] * u[j];
            }
        }
        // The z direction whose projection best predicts these scores: least squares,
        // (ZᵀZ) d = Zᵀu.
        let mut rhs = vec![0.0f64; z_dim];
        for (zi, ui) in z[..n].iter().zip(&u) {
            rhs.iter_mut()
                .zip(zi)
                .for_each(|(x, v)| *x += ui * *v as f64);
        }
        let d = solve_spd(&z_gram, &rhs).unwrap_or(rhs);
        let norm = dot(&d, &d).sqrt();
        if norm > 1e-12 {
            directions.push(d.into_iter().map(|x| (x / norm) as f32).collect());
        }
    }
    directions
}

/// Solves `a x = b` for a symmetric positive definite `a` (Cholesky, with a tiny ridge);
/// `None` when `a` is not positive definite.
fn solve_spd(a: &[Vec<f64>], b: &[f64]) -> Option<Vec<f64>> {
    let n = b.len();
    let ridge = 1e-9 * (0..n).map(|i| a[i][i]).sum::<f64>().max(1e-12) / n as f64;
    let mut l = vec![vec![0.0f64; n]; n];
    for i in 0..n {
        for j in 0..=i {
            let dot_ij: f64 = l[i][..j].iter().zip(&l[j][..j]).map(|(p, q)| p * q).sum();
            let sum = a[i][j] + if i == j { ridge } else { 0.0 } - dot_ij;
            if i == j {
                if sum <= 0.0 {
                    return None;
                }
                l[i][i] = sum.sqrt();
            } else {
                l[i][j] = sum / l[j][j];
            }
        }
    }
    let mut y = vec![0.0f64; n];
    for i in 0..n {
        y[i] = (b[i] - (0..i).map(|k| l[i][k] * y[k]).sum::<f64>()) / l[i][i];
    }
    let mut x = vec![0.0f64; n];
    for i in (0..n).rev() {
        x[i] = (y[i] - (i + 1..n).map(|k| l[k][i] * x[k]).sum::<f64>()) / l[i][i];
    }
    Some(x)
}

/// One random-walk step of size `step` that keeps z ~ N(0, I): `(z + step n) / sqrt(1 + step²)`.
pub fn walk_step(z: &[f32], step: f32, rng: &mut SeededRng) -> Vec<f32> {
    let mut noise = vec![0.0f32; z.len()];
    rng.normal(&mut noise);
    let scale = 1.0 / (1.0 + step * step).sqrt();
    z.iter()
        .zip(&noise)
        .map(|(x, n)| (x + step * n) * scale)
        .collect()
}

/// `z + sum_k amounts[k] * directions[k]`.
pub fn edit(z: &[f32], directions: &[Vec<f32>], amounts: &[f32]) -> Vec<f32> {
    let mut out = z.to_vec();
    for (d, a) in directions.iter().zip(amounts) {
        out.iter_mut().zip(d).for_each(|(x, v)| *x += a * v);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_directions_are_orthonormal() {
        let d = random_orthonormal(5, 100, 3);
        for i in 0..5 {
            for j in 0..5 {
                let p: f32 = d[i].iter().zip(&d[j]).map(|(a, b)| a * b).sum();
                let expected = if i == j { 1.0 } else { 0.0 };
                assert!((p - expected).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn principal_directions_find_the_direction_the_features_vary_along() {
        // Features respond strongly to z's coordinate 3 and weakly to coordinate 7.
        let mut rng = SeededRng::new(1);
        let z: Vec<Vec<f32>> = (0..200)
            .map(|_| {
                let mut v = vec![0.0f32; 10];
                rng.normal(&mut v);
                v
            })
            .collect();
        let features: Vec<Vec<f32>> = z
            .iter()
            .map(|v| vec![5.0 * v[3], -5.0 * v[3], 0.5 * v[7], 1.0])
            .collect();
        let d = principal_directions(&z, &features, 2);
        assert_eq!(d.len(), 2);
        assert!(d[0][3].abs() > 0.95, "{:?}", d[0]);
        assert!(d[1][7].abs() > 0.9, "{:?}", d[1]);
    }

    #[test]
    fn walk_keeps_the_scale_and_edits_move_along_directions() {
        let mut rng = SeededRng::new(2);
        let mut z = crate::latent::z_from_seed(1, 1000);
        for _ in 0..50 {
            z = walk_step(&z, 0.3, &mut rng);
        }
        let norm = z.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm / (1000f32).sqrt() - 1.0).abs() < 0.1, "{norm}");
        let dirs = random_orthonormal(2, 1000, 1);
        let edited = edit(&z, &dirs, &[2.0, 0.0]);
        let moved: f32 = edited
            .iter()
            .zip(&z)
            .zip(&dirs[0])
            .map(|((e, o), d)| (e - o) * d)
            .sum();
        assert!((moved - 2.0).abs() < 1e-4);
    }
}
