//! Sample quality: a Fréchet distance (Heusel et al. 2017, "FID") computed on the features of a
//! small Fashion-MNIST classifier that this project trains, instead of Inception-v3 (which is
//! not available here and was never meant for 32x32 grey garments). Lower is better; the
//! number is comparable only between runs scored with the same classifier weights.

use candle_core::{DType, Device, Module, Result, Tensor};
use candle_nn::{Conv2d, Conv2dConfig, Linear, VarBuilder, VarMap};

use super::data::Dataset;
use crate::jobs::Reporter;
use crate::latent::SeededRng;
use crate::optim::Adam;

/// Width of the feature vector the distance is computed on.
pub const FEATURES: usize = 128;
pub const CLASSES: usize = 10;
pub const CLASS_NAMES: [&str; CLASSES] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

/// 32x32 grey in: three conv(3x3)+ReLU+maxpool(2) stages (32, 64, 128 channels), a 128-wide
/// hidden layer (the features), 10 logits.
pub struct Classifier {
    convs: Vec<Conv2d>,
    hidden: Linear,
    out: Linear,
}

impl Classifier {
    pub fn new(vb: VarBuilder) -> Result<Self> {
        let cfg = Conv2dConfig {
            padding: 1,
            ..Default::default()
        };
        let convs = [(1, 32), (32, 64), (64, 128)]
            .iter()
            .enumerate()
            .map(|(i, &(c_in, c_out))| {
                candle_nn::conv2d(c_in, c_out, 3, cfg, vb.pp(format!("conv{i}")))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Classifier {
            convs,
            hidden: candle_nn::linear(128 * 4 * 4, FEATURES, vb.pp("hidden"))?,
            out: candle_nn::linear(FEATURES, CLASSES, vb.pp("out"))?,
        })
    }

    /// (N, 1, 32, 32) in [-1, 1] -> (N, FEATURES).
    pub fn features(&self, x: &Tensor) -> Result<Tensor> {
        let mut x = x.clone();
        for conv in &self.convs {
            x = conv.forward(&x)?.relu()?.max_pool2d(2)?;
        }
        self.hidden.forward(&x.flatten_from(1)?)?.relu()
    }

    pub fn logits(&self, x: &Tensor) -> Result<Tensor> {
        self.out.forward(&self.features(x)?)
    }
}

/// Trains the classifier with Adam (lr 1e-3) and cross-entropy.
pub fn train_classifier(
    images: &Dataset,
    labels: &[u8],
    epochs: usize,
    seed: u64,
    device: &Device,
    reporter: &dyn Reporter,
) -> Result<(VarMap, Classifier)> {
    crate::kernels::allocator::retain_freed_memory();
    let vars = VarMap::new();
    let model = Classifier::new(VarBuilder::from_varmap(&vars, DType::F32, device))?;
    let mut adam = Adam::new(&vars, 1e-3, 0.9, 0.999)?;
    let batch = 128;
    let mut rng = SeededRng::new(seed);
    let steps_per_epoch = images.len.div_ceil(batch);
    let total = (epochs * steps_per_epoch) as u64;
    for epoch in 0..epochs {
        let mut order: Vec<usize> = (0..images.len).collect();
        for i in (1..order.len()).rev() {
            order.swap(i, rng.below(i + 1));
        }
        for (step, chunk) in order.chunks(batch).enumerate() {
            if reporter.is_cancelled() {
                return Err(candle_core::Error::Msg("cancelled".into()));
            }
            let x = images.batch(chunk, &vec![false; chunk.len()], device)?;
            let y: Vec<u32> = chunk.iter().map(|&i| u32::from(labels[i])).collect();
            let y = Tensor::from_vec(y, chunk.len(), device)?;
            let loss = candle_nn::loss::cross_entropy(&model.logits(&x)?, &y)?;
            adam.step(&loss.backward()?)?;
            let done = (epoch * steps_per_epoch + step + 1) as u64;
            if done.is_multiple_of(20) || done == total {
                let loss = loss.to_scalar::<f32>()?;
                reporter.progress(done, total, &format!("epoch {} loss {loss:.3}", epoch + 1));
            }
        }
    }
    Ok((vars, model))
}

/// Runs `f` over the dataset in batches of 256 and concatenates the rows.
fn over_batches(
    images: &Dataset,
    device: &Device,
    f: impl Fn(&Tensor) -> Result<Tensor>,
) -> Result<Tensor> {
    let indices: Vec<usize> = (0..images.len).collect();
    let parts = indices
        .chunks(256)
        .map(|chunk| f(&images.batch(chunk, &vec![false; chunk.len()], device)?))
        .collect::<Result<Vec<_>>>()?;
    Tensor::cat(&parts, 0)
}

/// Fraction of `images` whose predicted class is the label.
pub fn accuracy(
    model: &Classifier,
    images: &Dataset,
    labels: &[u8],
    device: &Device,
) -> Result<f64> {
    let predicted =
        over_batches(images, device, |x| model.logits(x)?.argmax(1))?.to_vec1::<u32>()?;
    let right = predicted
        .iter()
        .zip(labels)
        .filter(|(p, l)| **p == u32::from(**l))
        .count();
    Ok(right as f64 / labels.len().max(1) as f64)
}

/// Classifier features of every image, as rows of f64.
pub fn features(model: &Classifier, images: &Dataset, device: &Device) -> Result<Vec<Vec<f64>>> {
    let feats = over_batches(images, device, |x| model.features(x))?;
    feats.to_dtype(DType::F64)?.to_vec2::<f64>()
}

/// Mean and covariance (unbiased) of the rows.
fn moments(rows: &[Vec<f64>]) -> (Vec<f64>, Vec<f64>) {
    let n = rows.len().max(2);
    let d = rows.first().map_or(0, Vec::len);
    let mut mean = vec![0.0; d];
    for row in rows {
        for (m, v) in mean.iter_mut().zip(row) {
            *m += v / rows.len() as f64;
        }
    }
    let mut cov = vec![0.0; d * d];
    for row in rows {
        for i in 0..d {
            let a = row[i] - mean[i];
            for j in i..d {
                cov[i * d + j] += a * (row[j] - mean[j]);
            }
        }
    }
    for i in 0..d {
        for j in i..d {
            let v = cov[i * d + j] / (n - 1) as f64;
            cov[i * d + j] = v;
            cov[j * d + i] = v;
        }
    }
    (mean, cov)
}

/// Eigenvalues and eigenvectors (columns) of a symmetric matrix, by cyclic Jacobi rotations.
fn symmetric_eigen(matrix: &[f64], n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut a = matrix.to_vec();
    let mut v = vec![0.0; n * n];
    for i in 0..n {
        v[i * n + i] = 1.0;
    }
    for _sweep in 0..60 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * n + j].powi(2))
            .sum();
        if off < 1e-22 {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[p * n + q];
                if apq.abs() < 1e-300 {
                    continue;
                }
                let theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let akp = a[k * n + p];
                    let akq = a[k * n + q];
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let apk = a[p * n + k];
                    let aqk = a[q * n + k];
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
                for k in 0..n {
                    let vkp = v[k * n + p];
                    let vkq = v[k * n + q];
                    v[k * n + p] = c * vkp - s * vkq;
                    v[k * n + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    ((0..n).map(|i| a[i * n + i]).collect(), v)
}

/// The symmetric square root of a positive semi-definite matrix.
fn sqrt_psd(matrix: &[f64], n: usize) -> Vec<f64> {
    let (values, vectors) = symmetric_eigen(matrix, n);
    let mut out = vec![0.0; n * n];
    for (k, &value) in values.iter().enumerate() {
        let s = value.max(0.0).sqrt();
        for i in 0..n {
            let vik = vectors[i * n + k] * s;
            for j in 0..n {
                out[i * n + j] += vik * vectors[j * n + k];
            }
        }
    }
    out
}

fn matmul(a: &[f64], b: &[f64], n: usize) -> Vec<f64> {
    let mut out = vec![0.0; n * n];
    for i in 0..n {
        for k in 0..n {
            let aik = a[i * n + k];
            for j in 0..n {
                out[i * n + j] += aik * b[k * n + j];
            }
        }
    }
    out
}

/// ||mu_a - mu_b||^2 + tr(C_a) + tr(C_b) - 2 tr((C_a^1/2 C_b C_a^1/2)^1/2).
pub fn frechet_distance(a: &[Vec<f64>], b: &[Vec<f64>]) -> f64 {
    let (mu_a, cov_a) = moments(a);
    let (mu_b, cov_b) = moments(b);
    let n = mu_a.len();
    let mean_term: f64 = mu_a.iter().zip(&mu_b).map(|(x, y)| (x - y).powi(2)).sum();
    let trace = |m: &[f64]| (0..n).map(|i| m[i * n + i]).sum::<f64>();
    let root_a = sqrt_psd(&cov_a, n);
    let middle = matmul(&matmul(&root_a, &cov_b, n), &root_a, n);
    let (values, _) = symmetric_eigen(&middle, n);
    let cross: f64 = values.iter().map(|v| v.max(0.0).sqrt()).sum();
    mean_term + trace(&cov_a) + trace(&cov_b) - 2.0 * cross
}

/// Images from seeds `0..count` of a generator, as a grey dataset (first channel), made in
/// batches so memory stays small. A conditional generator draws seed s as class s mod K, or
/// every seed as `class` when given.
pub fn generated_dataset(
    generator: &super::sample::LoadedGenerator,
    count: usize,
    class: Option<usize>,
) -> Result<Dataset> {
    let size = generator.card.config.image_size;
    let k = generator.classes().len().max(1) as u64;
    let mut pixels = Vec::with_capacity(count * size * size);
    let seeds: Vec<u64> = (0..count as u64).collect();
    for chunk in seeds.chunks(500) {
        let inputs: Vec<Vec<f32>> = chunk
            .iter()
            .map(|&s| generator.input_for_seed(s, 1.0, Some(class.unwrap_or((s % k) as usize))))
            .collect();
        for image in generator.images_for_latents(&inputs)? {
            pixels.extend(image.pixels().map(|p| p[0]));
        }
    }
    Ok(Dataset::from_pixels(pixels, 1, size))
}

/// How one class of a conditional generator scores against the real images of that class.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassScore {
    pub name: String,
    /// Fréchet distance between the class's samples and its real test images.
    pub fid: f64,
    /// How often the classifier names the asked-for class on the samples.
    pub sample_accuracy: f64,
    /// How often it names the class on the real test images of the class.
    pub real_accuracy: f64,
    /// Mean MS-SSIM of random pairs of the class's samples, and of its real test images
    /// (lower is more diverse; [`super::diversity`]).
    pub sample_ms_ssim: f64,
    pub real_ms_ssim: f64,
}

/// Pairs of images whose MS-SSIM is averaged per class.
const DIVERSITY_PAIRS: usize = 300;

/// Samples of each class of a conditional Fashion-MNIST generator, `per_class` a class.
pub fn generated_by_class(
    generator: &super::sample::LoadedGenerator,
    per_class: usize,
) -> Result<Vec<(String, Dataset)>> {
    generator
        .classes()
        .iter()
        .enumerate()
        .map(|(class, name)| {
            Ok((
                name.clone(),
                generated_dataset(generator, per_class, Some(class))?,
            ))
        })
        .collect()
}

/// Samples stored one class after another in Fashion-MNIST's label order (as
/// `bench/reference/cdcgan_torch.py` writes them), split by class.
pub fn split_by_class(samples: &Dataset) -> Vec<(String, Dataset)> {
    let per_class = samples.len / CLASSES;
    CLASS_NAMES
        .iter()
        .enumerate()
        .map(|(k, name)| {
            let indices: Vec<usize> = (k * per_class..(k + 1) * per_class).collect();
            (name.to_string(), samples.select(&indices))
        })
        .collect()
}

/// Scores each class's samples against the Fashion-MNIST test images of that class (matched
/// by name). A class Fashion-MNIST does not have is an error.
pub fn class_scores(
    model: &Classifier,
    samples_by_class: &[(String, Dataset)],
    test_set: &Dataset,
    test_labels: &[u8],
    device: &Device,
) -> Result<Vec<ClassScore>> {
    let mut scores = Vec::new();
    for (name, samples) in samples_by_class {
        let label = CLASS_NAMES
            .iter()
            .position(|c| c.eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                candle_core::Error::Msg(format!("{name:?} is not a Fashion-MNIST class"))
            })? as u8;
        let indices: Vec<usize> = (0..test_set.len)
            .filter(|&i| test_labels[i] == label)
            .collect();
        let real = test_set.select(&indices);
        let fid = frechet_distance(
            &features(model, &real, device)?,
            &features(model, samples, device)?,
        );
        scores.push(ClassScore {
            name: name.clone(),
            fid,
            sample_accuracy: accuracy(model, samples, &vec![label; samples.len], device)?,
            real_accuracy: accuracy(model, &real, &vec![label; real.len], device)?,
            sample_ms_ssim: super::diversity::mean_ms_ssim(samples, DIVERSITY_PAIRS, 1)
                .unwrap_or(f64::NAN),
            real_ms_ssim: super::diversity::mean_ms_ssim(&real, DIVERSITY_PAIRS, 1)
                .unwrap_or(f64::NAN),
        });
    }
    Ok(scores)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gaussian_rows(n: usize, d: usize, shift: f64, scale: f64, seed: u64) -> Vec<Vec<f64>> {
        let mut rng = SeededRng::new(seed);
        (0..n)
            .map(|_| {
                let mut v = vec![0.0f32; d];
                rng.normal(&mut v);
                v.iter().map(|&x| shift + scale * x as f64).collect()
            })
            .collect()
    }

    #[test]
    fn distance_is_zero_for_one_set_and_matches_the_closed_form() {
        let a = gaussian_rows(4000, 4, 0.0, 1.0, 1);
        assert!(frechet_distance(&a, &a).abs() < 1e-6);
        // N(0, I) vs N(1, 4 I) in 4 dimensions: 4 * 1 + 4 * (1 + 4 - 2 * 2) = 8.
        let b = gaussian_rows(4000, 4, 1.0, 2.0, 2);
        let d = frechet_distance(&a, &b);
        assert!((d - 8.0).abs() < 0.5, "{d}");
    }

    #[test]
    fn jacobi_recovers_eigenvalues() {
        let m = [2.0, 1.0, 0.0, 1.0, 2.0, 0.0, 0.0, 0.0, 5.0];
        let (mut values, _) = symmetric_eigen(&m, 3);
        values.sort_by(f64::total_cmp);
        for (v, e) in values.iter().zip([1.0, 3.0, 5.0]) {
            assert!((v - e).abs() < 1e-9, "{values:?}");
        }
        let root = sqrt_psd(&m, 3);
        let back = matmul(&root, &root, 3);
        for (x, y) in back.iter().zip(m) {
            assert!((x - y).abs() < 1e-9);
        }
    }
}
