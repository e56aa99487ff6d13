//! Training images for the GAN: Fashion-MNIST IDX files, an image folder, or a project's
//! crops (else its images). Everything is decoded once, resized (Lanczos) and centre-cropped
//! to the training size and kept as bytes; batches are assembled on a worker thread ahead of
//! the step, so the trainer never waits on decoding.

use std::io::Read;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use image::DynamicImage;
use image::imageops::FilterType;
use rayon::prelude::*;

use super::GanConfig;
use super::config::Resize;
use crate::imaging;
use crate::jobs::Reporter;
use crate::latent::SeededRng;

/// Where training images come from, as written on the command line.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum DataSource {
    /// `fashion-mnist:DIR`: the IDX files (gzip or not) of the train split.
    FashionMnist(PathBuf),
    /// A project folder: its crops if it has any, else its images.
    Project(PathBuf),
    /// Any folder of images (searched recursively).
    Folder(PathBuf),
}

impl DataSource {
    pub fn parse(text: &str) -> DataSource {
        if let Some(dir) = text.strip_prefix("fashion-mnist:") {
            return DataSource::FashionMnist(PathBuf::from(dir));
        }
        let path = PathBuf::from(text);
        if path.join(crate::project::CATALOG_FILE).is_file() {
            DataSource::Project(path)
        } else {
            DataSource::Folder(path)
        }
    }

    pub fn describe(&self) -> String {
        match self {
            DataSource::FashionMnist(dir) => format!("fashion-mnist:{}", dir.display()),
            DataSource::Project(dir) => format!("project {}", dir.display()),
            DataSource::Folder(dir) => format!("folder {}", dir.display()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("{0}: no usable images found")]
    Empty(String),
    #[error("loading cancelled")]
    Cancelled,
    #[error("{data}: {reason}")]
    Labels { data: String, reason: String },
}

/// What training images become: `size x size`, 1 or 3 channels, scaled with `resize`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageSpec {
    pub size: usize,
    pub channels: usize,
    pub resize: Resize,
}

impl ImageSpec {
    pub fn of(config: &GanConfig) -> Self {
        ImageSpec {
            size: config.image_size,
            channels: config.channels,
            resize: config.resize,
        }
    }

    /// What the Fréchet distance and its classifier see: 32x32 grey, Lanczos.
    pub const FASHION_MNIST_32: ImageSpec = ImageSpec {
        size: 32,
        channels: 1,
        resize: Resize::Lanczos,
    };

    fn prepare(&self, image: &DynamicImage) -> Vec<u8> {
        to_channels(&fit_square(image, self.size, self.resize), self.channels)
    }
}

/// Training images as bytes, N x C x S x S, with a class per image when labelled.
pub struct Dataset {
    pixels: Vec<u8>,
    pub len: usize,
    pub channels: usize,
    pub size: usize,
    /// Each image's class (an index into `classes`); empty when unlabelled.
    labels: Vec<u16>,
    pub classes: Vec<String>,
}

impl Dataset {
    pub fn from_pixels(pixels: Vec<u8>, channels: usize, size: usize) -> Dataset {
        let len = pixels.len() / (channels * size * size);
        Dataset {
            pixels,
            len,
            channels,
            size,
            labels: Vec::new(),
            classes: Vec::new(),
        }
    }

    /// The images at `indices`, unlabelled.
    pub fn select(&self, indices: &[usize]) -> Dataset {
        let pixels = indices
            .iter()
            .flat_map(|&i| self.image(i))
            .copied()
            .collect();
        Dataset::from_pixels(pixels, self.channels, self.size)
    }

    /// The images shrunk to `size` by averaging square blocks of pixels (area resampling), for
    /// a scorer that sees a smaller size than a generator draws; `None` unless `size` divides
    /// the images' side. Labels are kept.
    pub fn shrunk_to(&self, size: usize) -> Option<Dataset> {
        if size == 0 || !self.size.is_multiple_of(size) {
            return None;
        }
        let factor = self.size / size;
        let area = (factor * factor) as u32;
        let mut pixels = Vec::with_capacity(self.len * self.channels * size * size);
        for image in self.pixels.chunks_exact(self.size * self.size) {
            for y in 0..size {
                for x in 0..size {
                    let block: u32 = (0..factor * factor)
                        .map(|i| {
                            let (dy, dx) = (i / factor, i % factor);
                            image[(y * factor + dy) * self.size + x * factor + dx] as u32
                        })
                        .sum();
                    pixels.push(((block + area / 2) / area) as u8);
                }
            }
        }
        let mut shrunk = Dataset::from_pixels(pixels, self.channels, size);
        shrunk.labels = self.labels.clone();
        shrunk.classes = self.classes.clone();
        Some(shrunk)
    }

    /// Attaches a class to each image.
    fn labelled(mut self, labels: Vec<u16>, classes: Vec<String>) -> Dataset {
        debug_assert_eq!(labels.len(), self.len);
        self.labels = labels;
        self.classes = classes;
        self
    }

    pub fn is_labelled(&self) -> bool {
        !self.classes.is_empty()
    }

    /// The classes of the images at `indices` (all 0 when unlabelled).
    pub fn labels_of(&self, indices: &[usize]) -> Vec<usize> {
        indices
            .iter()
            .map(|&i| self.labels.get(i).map_or(0, |&l| l as usize))
            .collect()
    }

    /// How many images each class has.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.classes.len()];
        for &label in &self.labels {
            if let Some(count) = counts.get_mut(label as usize) {
                *count += 1;
            }
        }
        counts
    }

    /// The images with a class each, for a conditional model: Fashion-MNIST's labels, a
    /// project's crop categories, or a folder's subfolders (one a class, named by it).
    pub fn load_labelled(
        source: &DataSource,
        spec: ImageSpec,
        reporter: &dyn Reporter,
    ) -> Result<Dataset, DataError> {
        let labels_err = |reason: String| DataError::Labels {
            data: source.describe(),
            reason,
        };
        let dataset = match source {
            DataSource::FashionMnist(dir) => {
                reporter.progress(0, 1, "reading Fashion-MNIST");
                let (dataset, labels) = load_fashion_mnist_split(dir, "train", spec)?;
                reporter.progress(1, 1, "read Fashion-MNIST");
                let classes = super::quality::CLASS_NAMES.map(String::from).to_vec();
                if let Some(bad) = labels.iter().find(|&&l| l as usize >= classes.len()) {
                    return Err(labels_err(format!(
                        "label {bad} is not a Fashion-MNIST class"
                    )));
                }
                dataset.labelled(labels.iter().map(|&l| l as u16).collect(), classes)
            }
            DataSource::Project(root) => {
                let project =
                    crate::project::Project::open(root).map_err(|e| labels_err(e.to_string()))?;
                let crops = crate::export::crops::crop_files(&project)
                    .map_err(|e| labels_err(e.to_string()))?;
                if crops.is_empty() {
                    return Err(labels_err(
                        "the project has no crops, whose categories would be the classes: make crops in Review first".into(),
                    ));
                }
                load_classified(crops, spec, reporter)?
            }
            DataSource::Folder(dir) => {
                let mut files = Vec::new();
                for path in walk_images(dir) {
                    let class = path
                        .strip_prefix(dir)
                        .ok()
                        .and_then(|rel| {
                            let mut parts = rel.components();
                            let first = parts.next()?;
                            parts.next()?; // a file directly in `dir` has no class
                            Some(first.as_os_str().to_string_lossy().into_owned())
                        })
                        .ok_or_else(|| {
                            labels_err(format!(
                                "{} is not in a class subfolder: put each class's images in a subfolder named by the class",
                                path.display()
                            ))
                        })?;
                    files.push((path, class));
                }
                load_classified(files, spec, reporter)?
            }
        };
        if dataset.len == 0 {
            return Err(DataError::Empty(source.describe()));
        }
        if dataset.classes.len() < 2 {
            return Err(labels_err(format!(
                "a conditional model needs at least 2 classes, found {}",
                dataset.classes.len()
            )));
        }
        Ok(dataset)
    }

    pub fn load(
        source: &DataSource,
        spec: ImageSpec,
        reporter: &dyn Reporter,
    ) -> Result<Dataset, DataError> {
        let dataset = match source {
            DataSource::FashionMnist(dir) => load_fashion_mnist(dir, spec, reporter)?,
            DataSource::Project(root) => {
                let crops = root.join("crops");
                let has_crops = walk_images(&crops).next().is_some();
                let dir = if has_crops {
                    crops
                } else {
                    root.join("images")
                };
                load_folder(&dir, spec, reporter)?
            }
            DataSource::Folder(dir) => load_folder(dir, spec, reporter)?,
        };
        if dataset.len == 0 {
            return Err(DataError::Empty(source.describe()));
        }
        Ok(dataset)
    }

    /// The first channel of image `index`, row by row.
    pub fn image_plane(&self, index: usize) -> &[u8] {
        &self.image(index)[..self.size * self.size]
    }

    fn image(&self, index: usize) -> &[u8] {
        let n = self.channels * self.size * self.size;
        &self.pixels[index * n..(index + 1) * n]
    }

    /// A batch as f32 in [-1, 1], NCHW, optionally mirrored per image.
    pub fn batch(
        &self,
        indices: &[usize],
        flips: &[bool],
        device: &Device,
    ) -> candle_core::Result<Tensor> {
        let (c, s) = (self.channels, self.size);
        let mut out = Vec::with_capacity(indices.len() * c * s * s);
        for (&index, &flip) in indices.iter().zip(flips) {
            let image = self.image(index);
            for row in image.chunks(s) {
                if flip {
                    out.extend(row.iter().rev().map(|&p| p as f32 / 127.5 - 1.0));
                } else {
                    out.extend(row.iter().map(|&p| p as f32 / 127.5 - 1.0));
                }
            }
        }
        Tensor::from_vec(out, (indices.len(), c, s, s), device)
    }
}

/// Which images make up iteration `iter`'s batch: a fresh permutation per epoch, all drawn
/// from the run's seed, so a resumed run sees exactly the batches it would have seen.
pub struct BatchPlan {
    seed: u64,
    len: usize,
    batch: usize,
    flip: bool,
    epoch: Option<(u64, Vec<usize>)>,
}

impl BatchPlan {
    pub fn new(seed: u64, len: usize, batch: usize, flip: bool) -> Self {
        BatchPlan {
            seed,
            len,
            batch,
            flip,
            epoch: None,
        }
    }

    pub fn epoch_of(&self, iter: u64) -> u64 {
        iter * self.batch as u64 / self.len as u64
    }

    fn permutation(&mut self, epoch: u64) -> &[usize] {
        if self.epoch.as_ref().is_none_or(|(e, _)| *e != epoch) {
            let mut rng = SeededRng::new(self.seed ^ epoch.wrapping_mul(0xA24B_AED4_963E_E407));
            let mut order: Vec<usize> = (0..self.len).collect();
            for i in (1..order.len()).rev() {
                order.swap(i, rng.below(i + 1));
            }
            self.epoch = Some((epoch, order));
        }
        self.epoch
            .as_ref()
            .map(|(_, o)| o.as_slice())
            .unwrap_or(&[])
    }

    /// The image indices and flips of iteration `iter` (counting from 0).
    pub fn indices(&mut self, iter: u64) -> (Vec<usize>, Vec<bool>) {
        let mut indices = Vec::with_capacity(self.batch);
        for k in 0..self.batch as u64 {
            let position = iter * self.batch as u64 + k;
            let epoch = position / self.len as u64;
            let within = (position % self.len as u64) as usize;
            indices.push(self.permutation(epoch)[within]);
        }
        let mut rng = SeededRng::new(self.seed ^ iter.wrapping_mul(0x9FB2_1C65_1E98_DF25) ^ 0x5555);
        let flips = (0..self.batch)
            .map(|_| self.flip && rng.next_u64() & 1 == 1)
            .collect();
        (indices, flips)
    }
}

fn walk_images(dir: &Path) -> impl Iterator<Item = PathBuf> {
    walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file() && imaging::has_image_extension(e.path()))
        .map(|e| e.into_path())
}

/// Resizes the shorter side to `size` and crops the centre square.
pub fn fit_square(image: &DynamicImage, size: usize, resize: Resize) -> DynamicImage {
    let size = size as u32;
    let (w, h) = (image.width().max(1), image.height().max(1));
    let scale = size as f64 / w.min(h) as f64;
    let (nw, nh) = (
        ((w as f64 * scale).round() as u32).max(size),
        ((h as f64 * scale).round() as u32).max(size),
    );
    let resized = match resize {
        Resize::Lanczos => image.resize_exact(nw, nh, FilterType::Lanczos3),
        Resize::Area => imaging::resize_area(image, nw, nh),
    };
    resized.crop_imm((nw - size) / 2, (nh - size) / 2, size, size)
}

fn to_channels(image: &DynamicImage, channels: usize) -> Vec<u8> {
    if channels == 1 {
        image.to_luma8().into_raw()
    } else {
        // HWC -> CHW
        let rgb = image.to_rgb8();
        let plane = (rgb.width() * rgb.height()) as usize;
        let mut out = vec![0u8; plane * 3];
        for (i, p) in rgb.pixels().enumerate() {
            for c in 0..3 {
                out[c * plane + i] = p[c];
            }
        }
        out
    }
}

fn load_folder(dir: &Path, spec: ImageSpec, reporter: &dyn Reporter) -> Result<Dataset, DataError> {
    if !dir.is_dir() {
        return Err(DataError::File {
            path: dir.to_path_buf(),
            reason: "no such folder".into(),
        });
    }
    let paths: Vec<PathBuf> = walk_images(dir).collect();
    let total = paths.len() as u64;
    let mut pixels = Vec::new();
    for (i, chunk) in paths.chunks(32).enumerate() {
        if reporter.is_cancelled() {
            return Err(DataError::Cancelled);
        }
        let decoded: Vec<Option<Vec<u8>>> = chunk
            .par_iter()
            .map(|path| {
                let bytes = std::fs::read(path).ok()?;
                let image = imaging::decode_with_limits(&bytes).ok()?.image;
                Some(spec.prepare(&image))
            })
            .collect();
        // Unreadable files were reported at import; here they are simply left out.
        pixels.extend(decoded.into_iter().flatten().flatten());
        let done = ((i + 1) * 32).min(paths.len()) as u64;
        reporter.progress(done, total, "loading training images");
    }
    Ok(Dataset::from_pixels(pixels, spec.channels, spec.size))
}

/// Decodes `(file, class)` pairs; classes are numbered in name order. Files that cannot be
/// read are left out (their classes too, if no other file has them).
fn load_classified(
    files: Vec<(PathBuf, String)>,
    spec: ImageSpec,
    reporter: &dyn Reporter,
) -> Result<Dataset, DataError> {
    let total = files.len() as u64;
    let mut decoded: Vec<(Vec<u8>, String)> = Vec::with_capacity(files.len());
    for (i, chunk) in files.chunks(32).enumerate() {
        if reporter.is_cancelled() {
            return Err(DataError::Cancelled);
        }
        let part: Vec<Option<(Vec<u8>, String)>> = chunk
            .par_iter()
            .map(|(path, class)| {
                let bytes = std::fs::read(path).ok()?;
                let image = imaging::decode_with_limits(&bytes).ok()?.image;
                Some((spec.prepare(&image), class.clone()))
            })
            .collect();
        decoded.extend(part.into_iter().flatten());
        let done = ((i + 1) * 32).min(files.len()) as u64;
        reporter.progress(done, total, "loading training images");
    }
    let mut classes: Vec<String> = decoded.iter().map(|(_, c)| c.clone()).collect();
    classes.sort();
    classes.dedup();
    let mut pixels = Vec::new();
    let mut labels = Vec::with_capacity(decoded.len());
    for (image, class) in decoded {
        pixels.extend(image);
        labels.push(classes.binary_search(&class).unwrap_or(0) as u16);
    }
    Ok(Dataset::from_pixels(pixels, spec.channels, spec.size).labelled(labels, classes))
}

/// Reads an IDX file (gzip-compressed or not): returns its dimensions and data bytes.
pub fn read_idx(path: &Path) -> Result<(Vec<usize>, Vec<u8>), DataError> {
    let err = |reason: String| DataError::File {
        path: path.to_path_buf(),
        reason,
    };
    let raw = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    let bytes = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(raw.as_slice())
            .read_to_end(&mut out)
            .map_err(|e| err(format!("bad gzip data: {e}")))?;
        out
    } else {
        raw
    };
    if bytes.len() < 4 || bytes[0] != 0 || bytes[1] != 0 || bytes[2] != 0x08 {
        return Err(err(
            "not an IDX file of unsigned bytes (bad magic number)".into()
        ));
    }
    let ndim = bytes[3] as usize;
    let header = 4 + 4 * ndim;
    if bytes.len() < header {
        return Err(err("IDX header is truncated".into()));
    }
    let dims: Vec<usize> = (0..ndim)
        .map(|i| {
            u32::from_be_bytes([
                bytes[4 + 4 * i],
                bytes[5 + 4 * i],
                bytes[6 + 4 * i],
                bytes[7 + 4 * i],
            ]) as usize
        })
        .collect();
    let expected: usize = dims.iter().product();
    if bytes.len() - header != expected {
        return Err(err(format!(
            "IDX data holds {} bytes, its header promises {expected}",
            bytes.len() - header
        )));
    }
    Ok((dims, bytes[header..].to_vec()))
}

/// Finds `NAME` or `NAME.gz` in `dir`.
fn idx_path(dir: &Path, name: &str) -> Result<PathBuf, DataError> {
    for candidate in [dir.join(name), dir.join(format!("{name}.gz"))] {
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    Err(DataError::File {
        path: dir.join(name),
        reason: "missing (looked for it with and without .gz)".into(),
    })
}

fn load_fashion_mnist(
    dir: &Path,
    spec: ImageSpec,
    reporter: &dyn Reporter,
) -> Result<Dataset, DataError> {
    reporter.progress(0, 1, "reading Fashion-MNIST");
    let (dataset, _labels) = load_fashion_mnist_split(dir, "train", spec)?;
    reporter.progress(1, 1, "read Fashion-MNIST");
    Ok(dataset)
}

/// One Fashion-MNIST split (`train` or `t10k`) prepared as `spec` says, with its labels.
/// A Fashion-MNIST split as it is stored: the images' bytes one after another, their labels,
/// and the images' side (28).
pub fn read_fashion_mnist(dir: &Path, split: &str) -> Result<(Vec<u8>, Vec<u8>, u32), DataError> {
    let path = idx_path(dir, &format!("{split}-images-idx3-ubyte"))?;
    let (dims, data) = read_idx(&path)?;
    if dims.len() != 3 || dims[1] != dims[2] || dims[1] == 0 {
        return Err(DataError::File {
            path,
            reason: format!("expected N square images, found dimensions {dims:?}"),
        });
    }
    let labels_path = idx_path(dir, &format!("{split}-labels-idx1-ubyte"))?;
    let (label_dims, labels) = read_idx(&labels_path)?;
    if label_dims != [dims[0]] {
        return Err(DataError::File {
            path: labels_path,
            reason: format!("{} labels for {} images", labels.len(), dims[0]),
        });
    }
    if dims[0] == 0 {
        return Err(DataError::File {
            path,
            reason: "holds no images".into(),
        });
    }
    Ok((data, labels, dims[1] as u32))
}

pub fn load_fashion_mnist_split(
    dir: &Path,
    split: &str,
    spec: ImageSpec,
) -> Result<(Dataset, Vec<u8>), DataError> {
    let (data, labels, side) = read_fashion_mnist(dir, split)?;
    let (h, w) = (side as usize, side as usize);
    let n = labels.len();
    let images: Vec<Vec<u8>> = (0..n)
        .into_par_iter()
        .map(|i| {
            let raw = data[i * h * w..(i + 1) * h * w].to_vec();
            let gray = image::GrayImage::from_raw(w as u32, h as u32, raw).unwrap_or_default();
            spec.prepare(&DynamicImage::ImageLuma8(gray))
        })
        .collect();
    Ok((
        Dataset::from_pixels(images.concat(), spec.channels, spec.size),
        labels,
    ))
}

/// Reads a NumPy `.npy` array of unsigned bytes shaped (N, C, S, S), as the PyTorch reference
/// script writes its samples.
pub fn read_npy_images(path: &Path) -> Result<Dataset, DataError> {
    let err = |reason: String| DataError::File {
        path: path.to_path_buf(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    if !bytes.starts_with(b"\x93NUMPY") || bytes.len() < 12 {
        return Err(err("not a .npy file".into()));
    }
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        _ => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
    };
    let header = bytes
        .get(start..start + header_len)
        .and_then(|h| std::str::from_utf8(h).ok())
        .ok_or_else(|| err("truncated or bad .npy header".into()))?;
    if !header.contains("'|u1'") || header.contains("'fortran_order': True") {
        return Err(err(format!(
            "expected C-ordered uint8 data, header says {header}"
        )));
    }
    let shape_text = header
        .split("'shape':")
        .nth(1)
        .and_then(|t| t.split(')').next())
        .ok_or_else(|| err("no shape in .npy header".into()))?;
    let shape: Vec<usize> = shape_text
        .trim_start_matches([' ', '('])
        .split(',')
        .filter_map(|v| v.trim().parse().ok())
        .collect();
    let [n, c, h, w] = shape[..] else {
        return Err(err(format!("expected shape (N, C, S, S), found {shape:?}")));
    };
    let data = &bytes[start + header_len..];
    if h != w || data.len() != n * c * h * w {
        return Err(err(format!(
            "shape {shape:?} does not match {} data bytes",
            data.len()
        )));
    }
    Ok(Dataset::from_pixels(data.to_vec(), c, h))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_cover_each_epoch_once_and_repeat_for_a_seed() {
        let mut plan = BatchPlan::new(3, 10, 4, true);
        let mut seen: Vec<usize> = Vec::new();
        for iter in 0..5 {
            seen.extend(plan.indices(iter).0);
        }
        let mut first_epoch = seen[..10].to_vec();
        first_epoch.sort();
        assert_eq!(first_epoch, (0..10).collect::<Vec<_>>());
        let mut again = BatchPlan::new(3, 10, 4, true);
        assert_eq!(again.indices(3), plan.indices(3));
        assert_eq!(plan.epoch_of(5), 2);
    }

    #[test]
    fn shrinking_averages_blocks_per_channel() {
        // One 2-channel 4x4 image: channel 0 counts 0..16, channel 1 is all 200.
        let mut pixels: Vec<u8> = (0..16).collect();
        pixels.extend([200u8; 16]);
        let images = Dataset::from_pixels(pixels, 2, 4);
        let half = images.shrunk_to(2).expect("2 divides 4");
        assert_eq!((half.len, half.channels, half.size), (1, 2, 2));
        // Blocks (0 1 4 5) -> 2.5, (2 3 6 7) -> 4.5, (8 9 12 13) -> 10.5, (10 11 14 15) -> 12.5.
        assert_eq!(half.image(0), &[3, 5, 11, 13, 200, 200, 200, 200]);
        assert!(images.shrunk_to(3).is_none());
        assert_eq!(
            images.shrunk_to(4).map(|d| d.pixels),
            Some(images.pixels.clone())
        );
    }

    #[test]
    fn reads_idx_plain_and_gzip_and_names_bad_files() {
        let dir = tempfile::tempdir().unwrap();
        let mut idx = vec![0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2];
        idx.extend([1, 2, 3, 4, 5, 6, 7, 8]);
        std::fs::write(dir.path().join("plain"), &idx).unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut gz, &idx).unwrap();
        std::fs::write(dir.path().join("zipped"), gz.finish().unwrap()).unwrap();
        for name in ["plain", "zipped"] {
            let (dims, data) = read_idx(&dir.path().join(name)).unwrap();
            assert_eq!(dims, vec![2, 2, 2]);
            assert_eq!(data, vec![1, 2, 3, 4, 5, 6, 7, 8]);
        }
        std::fs::write(dir.path().join("short"), &idx[..idx.len() - 1]).unwrap();
        let err = read_idx(&dir.path().join("short")).unwrap_err().to_string();
        assert!(err.contains("short") && err.contains("promises 8"), "{err}");
    }

    #[test]
    fn reads_a_numpy_uint8_image_array() {
        let dir = tempfile::tempdir().unwrap();
        let header = "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 1, 2, 2), }";
        let mut padded = header.to_string();
        while !(10 + padded.len() + 1).is_multiple_of(64) {
            padded.push(' ');
        }
        padded.push('\n');
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        bytes.extend_from_slice(&(padded.len() as u16).to_le_bytes());
        bytes.extend_from_slice(padded.as_bytes());
        bytes.extend_from_slice(&[0, 64, 128, 255, 1, 2, 3, 4]);
        let path = dir.path().join("s.npy");
        std::fs::write(&path, &bytes).unwrap();
        let data = read_npy_images(&path).unwrap();
        assert_eq!((data.len, data.channels, data.size), (2, 1, 2));
        bytes.pop();
        std::fs::write(&path, &bytes).unwrap();
        assert!(
            read_npy_images(&path)
                .err()
                .unwrap()
                .to_string()
                .contains("does not match")
        );
    }

    #[test]
    fn subfolders_name_the_classes_and_loose_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        for (class, count) in [("dress", 2), ("coat", 3)] {
            std::fs::create_dir_all(dir.path().join(class)).unwrap();
            for i in 0..count {
                image::GrayImage::from_pixel(8, 8, image::Luma([i * 40]))
                    .save(dir.path().join(class).join(format!("{i}.png")))
                    .unwrap();
            }
        }
        let spec = ImageSpec::FASHION_MNIST_32;
        let source = DataSource::Folder(dir.path().to_path_buf());
        let data = Dataset::load_labelled(&source, spec, &crate::jobs::Silent).unwrap();
        assert_eq!(data.classes, vec!["coat".to_string(), "dress".to_string()]);
        assert_eq!(data.class_counts(), vec![3, 2]);
        assert_eq!(data.labels_of(&[0, 4]), vec![0, 1]);
        image::GrayImage::new(8, 8)
            .save(dir.path().join("loose.png"))
            .unwrap();
        let err = Dataset::load_labelled(&source, spec, &crate::jobs::Silent)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("loose.png") && err.contains("subfolder"),
            "{err}"
        );
    }

    #[test]
    fn fit_square_crops_the_centre() {
        let image = DynamicImage::ImageLuma8(image::GrayImage::from_fn(200, 100, |x, _| {
            image::Luma([if (50..150).contains(&x) { 255 } else { 0 }])
        }));
        for resize in Resize::ALL {
            let square = fit_square(&image, 32, resize).to_luma8();
            assert_eq!(square.dimensions(), (32, 32), "{resize:?}");
            assert!(square.get_pixel(16, 16)[0] > 200, "{resize:?}");
        }
    }
}
