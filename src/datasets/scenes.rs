//! Training scenes for a garment detector, in DeepFashion's layout: Fashion-MNIST garments
//! (enlarged, coloured or patterned, their alpha taken from their own intensity) pasted onto
//! crops of real photographs, one to four a scene, later ones allowed to cover earlier ones.
//! Tops, pullovers, coats and shirts are labelled upper body, trousers lower body, dresses full
//! body (as DeepFashion's category types); sandals, sneakers, bags and ankle boots are pasted as
//! unlabelled distractors. DeepFashion itself cannot be downloaded here; these scenes can.
//!
//! The output is what [`super::read::read_deepfashion`] reads: `img/scenes/img_XXXXXXXX.jpg`,
//! `Anno/list_bbox.txt` (one line a box, several for one image), `Anno/list_category_img.txt`
//! (one line a box, in the same order), `Anno/list_category_cloth.txt` (DeepFashion's 50
//! categories) and `Eval/list_eval_partition.txt` (train / val / test). Every scene is drawn
//! from the seed and its own index alone, so a set can be made again exactly.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use image::imageops::FilterType;
use image::{GrayImage, RgbImage};
use rayon::prelude::*;

use crate::detect::boxes::BoxRect;
use crate::gan::data::{DataError, read_fashion_mnist};
use crate::jobs::Reporter;
use crate::latent::SeededRng;

/// DeepFashion's 50 clothing categories in file order, with their types (1 upper body, 2 lower
/// body, 3 full body).
pub const DEEPFASHION_CATEGORIES: [(&str, u8); 50] = [
    ("Anorak", 1),
    ("Blazer", 1),
    ("Blouse", 1),
    ("Bomber", 1),
    ("Button-Down", 1),
    ("Cardigan", 1),
    ("Flannel", 1),
    ("Halter", 1),
    ("Henley", 1),
    ("Hoodie", 1),
    ("Jacket", 1),
    ("Jersey", 1),
    ("Parka", 1),
    ("Peacoat", 1),
    ("Poncho", 1),
    ("Sweater", 1),
    ("Tank", 1),
    ("Tee", 1),
    ("Top", 1),
    ("Turtleneck", 1),
    ("Capris", 2),
    ("Chinos", 2),
    ("Culottes", 2),
    ("Cutoffs", 2),
    ("Gauchos", 2),
    ("Jeans", 2),
    ("Jeggings", 2),
    ("Jodhpurs", 2),
    ("Joggers", 2),
    ("Leggings", 2),
    ("Sarong", 2),
    ("Shorts", 2),
    ("Skirt", 2),
    ("Sweatpants", 2),
    ("Sweatshorts", 2),
    ("Trunks", 2),
    ("Caftan", 3),
    ("Cape", 3),
    ("Coat", 3),
    ("Coverup", 3),
    ("Dress", 3),
    ("Jumpsuit", 3),
    ("Kaftan", 3),
    ("Kimono", 3),
    ("Nightdress", 3),
    ("Onesie", 3),
    ("Robe", 3),
    ("Romper", 3),
    ("Shirtdress", 3),
    ("Sundress", 3),
];

/// The DeepFashion category a Fashion-MNIST class is labelled as, by class index (T-shirt/top,
/// Trouser, Pullover, Dress, Coat, Sandal, Shirt, Sneaker, Bag, Ankle boot); `None`: a
/// distractor, pasted without a box. A coat is an upper-body garment here, as in the task's
/// three types, so it takes DeepFashion's `Jacket` rather than its full-body `Coat`.
const CLASS_CATEGORY: [Option<&str>; 10] = [
    Some("Tee"),
    Some("Jeans"),
    Some("Sweater"),
    Some("Dress"),
    Some("Jacket"),
    None,
    Some("Button-Down"),
    None,
    None,
    None,
];

/// A garment covered beyond this share of its pixels keeps no box (it is clutter, not a
/// garment a detector could be asked to find).
const MIN_VISIBLE: f32 = 0.3;
/// Attempts at a scene that keeps at least one box before it is made without one.
const ATTEMPTS: u64 = 8;
/// Scenes made between two looks at the cancel flag.
const CHUNK: usize = 32;

#[derive(Debug, Clone, PartialEq)]
pub struct SceneOptions {
    pub count: usize,
    pub seed: u64,
    /// The long side of a scene, in pixels (DeepFashion's images: 300).
    pub long_side: u32,
    pub max_garments: usize,
    pub val_fraction: f64,
    pub test_fraction: f64,
}

impl Default for SceneOptions {
    fn default() -> Self {
        SceneOptions {
            count: 1_000,
            seed: 1,
            long_side: 300,
            max_garments: 4,
            val_fraction: 0.1,
            test_fraction: 0.1,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SceneError {
    #[error(transparent)]
    Garments(#[from] DataError),
    #[error("{path}: {reason}")]
    Background { path: PathBuf, reason: String },
    #[error("{0}: no photographs to use as backgrounds (JPEG, PNG, WebP or BMP)")]
    NoBackgrounds(PathBuf),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Options(String),
    #[error("cancelled")]
    Cancelled,
}

/// What a set holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SceneReport {
    pub images: usize,
    /// Boxes by type: upper, lower, full body.
    pub boxes: [usize; 3],
    /// Garments pasted without a box (distractors, and garments mostly covered).
    pub unlabelled: usize,
    /// Images in the train, val and test splits.
    pub partition: [usize; 3],
}

impl SceneReport {
    pub fn summary(&self) -> String {
        format!(
            "{} scenes ({} train, {} val, {} test): {} upper, {} lower, {} full body boxes, {} unlabelled garments",
            self.images,
            self.partition[0],
            self.partition[1],
            self.partition[2],
            self.boxes[0],
            self.boxes[1],
            self.boxes[2],
            self.unlabelled
        )
    }
}

/// Fashion-MNIST's garments: 28x28 grey images and their classes.
struct Garments {
    pixels: Vec<u8>,
    labels: Vec<u8>,
    side: u32,
}

impl Garments {
    fn image(&self, index: usize) -> GrayImage {
        let area = (self.side * self.side) as usize;
        let raw = self.pixels[index * area..(index + 1) * area].to_vec();
        GrayImage::from_raw(self.side, self.side, raw).unwrap_or_default()
    }

    /// A random garment whose class is labelled (`labelled`) or any class.
    fn pick(&self, rng: &mut SeededRng, labelled: bool) -> usize {
        loop {
            let index = rng.below(self.labels.len());
            if !labelled || category_of(self.labels[index]).is_some() {
                return index;
            }
        }
    }
}

fn category_of(class: u8) -> Option<&'static str> {
    CLASS_CATEGORY.get(class as usize).copied().flatten()
}

/// The 1-based index of a DeepFashion category and its type.
fn category_label(name: &str) -> Option<(usize, u8)> {
    DEEPFASHION_CATEGORIES
        .iter()
        .position(|(n, _)| *n == name)
        .map(|i| (i + 1, DEEPFASHION_CATEGORIES[i].1))
}

/// A garment placed in a scene: where its square lies, its box, and its DeepFashion category
/// (`None` for a distractor).
#[derive(Debug, Clone, PartialEq)]
pub struct Placed {
    pub rect: BoxRect,
    pub category: Option<&'static str>,
}

/// One scene: its picture and the garments that keep a box.
struct Scene {
    image: RgbImage,
    boxes: Vec<(BoxRect, &'static str)>,
    unlabelled: usize,
    split: usize,
}

/// Makes `options.count` scenes from the Fashion-MNIST training images in `fashion_mnist` and
/// the photographs in `backgrounds`, into `out` (DeepFashion's layout), reporting progress
/// and stopping between chunks when cancelled (the lists are written only when every scene
/// is).
pub fn make_scenes(
    fashion_mnist: &Path,
    backgrounds: &Path,
    out: &Path,
    options: &SceneOptions,
    reporter: &dyn Reporter,
) -> Result<SceneReport, SceneError> {
    check(options)?;
    let (pixels, labels, side) = read_fashion_mnist(fashion_mnist, "train")?;
    let garments = Garments {
        pixels,
        labels,
        side,
    };
    if !garments.labels.iter().any(|&l| category_of(l).is_some()) {
        return Err(SceneError::Options(format!(
            "{}: no tops, trousers, pullovers, dresses, coats or shirts to label",
            fashion_mnist.display()
        )));
    }
    let photos = read_backgrounds(backgrounds, reporter)?;
    let image_dir = out.join("img/scenes");
    std::fs::create_dir_all(&image_dir).map_err(|source| SceneError::Write {
        path: image_dir.clone(),
        source,
    })?;
    let mut lists = Lists::default();
    let mut report = SceneReport::default();
    for first in (0..options.count).step_by(CHUNK) {
        if reporter.is_cancelled() {
            return Err(SceneError::Cancelled);
        }
        reporter.progress(first as u64, options.count as u64, "making scenes");
        let last = (first + CHUNK).min(options.count);
        let scenes: Vec<(String, Scene)> = (first..last)
            .into_par_iter()
            .map(|index| {
                let scene = make_scene(&garments, &photos, options, index);
                let name = format!("img/scenes/img_{:08}.jpg", index + 1);
                write_jpeg(&out.join(&name), &scene.image)?;
                Ok((name, scene))
            })
            .collect::<Result<_, SceneError>>()?;
        for (name, scene) in scenes {
            lists.add(&name, &scene, &mut report);
        }
    }
    reporter.progress(
        options.count as u64,
        options.count as u64,
        "writing the lists",
    );
    lists.write(out, options, backgrounds)?;
    Ok(report)
}

fn check(options: &SceneOptions) -> Result<(), SceneError> {
    if options.count == 0 {
        return Err(SceneError::Options("--count must be at least 1".into()));
    }
    if !(64..=4096).contains(&options.long_side) {
        return Err(SceneError::Options(
            "the long side must be 64 to 4096 pixels".into(),
        ));
    }
    if options.max_garments == 0 {
        return Err(SceneError::Options(
            "a scene needs at least one garment".into(),
        ));
    }
    let held_out = options.val_fraction + options.test_fraction;
    if options.val_fraction < 0.0 || options.test_fraction < 0.0 || held_out >= 1.0 {
        return Err(SceneError::Options(
            "val and test fractions must be at least 0 and leave some training images".into(),
        ));
    }
    Ok(())
}

/// The photographs in `dir` (not recursive), each shrunk to at most 800 pixels a side.
fn read_backgrounds(dir: &Path, reporter: &dyn Reporter) -> Result<Vec<RgbImage>, SceneError> {
    let unreadable = |reason: String| SceneError::Background {
        path: dir.to_path_buf(),
        reason,
    };
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| unreadable(e.to_string()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| {
            let ext = p
                .extension()
                .map(|e| e.to_string_lossy().to_ascii_lowercase());
            matches!(
                ext.as_deref(),
                Some("jpg" | "jpeg" | "png" | "webp" | "bmp")
            )
        })
        .collect();
    paths.sort();
    if paths.is_empty() {
        return Err(SceneError::NoBackgrounds(dir.to_path_buf()));
    }
    reporter.progress(0, paths.len() as u64, "reading backgrounds");
    paths
        .par_iter()
        .map(|path| {
            let background_error = |reason: String| SceneError::Background {
                path: path.clone(),
                reason,
            };
            let bytes = std::fs::read(path).map_err(|e| background_error(e.to_string()))?;
            let photo = crate::imaging::decode_with_limits(&bytes)
                .map_err(|e| background_error(e.to_string()))?
                .image;
            let photo = if photo.width().max(photo.height()) > 800 {
                photo.resize(800, 800, FilterType::Triangle)
            } else {
                photo
            };
            Ok(photo.to_rgb8())
        })
        .collect()
}

/// Scene `index`: drawn again (a few times) until some garment keeps its box.
fn make_scene(
    garments: &Garments,
    photos: &[RgbImage],
    options: &SceneOptions,
    index: usize,
) -> Scene {
    let base = options.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (index as u64);
    let mut scene = None;
    for attempt in 0..ATTEMPTS {
        let mut rng = SeededRng::new(base ^ attempt.wrapping_mul(0xD6E8_FEB8_6659_FD93));
        let made = draw_scene(garments, photos, options, &mut rng);
        let keeps_a_box = !made.boxes.is_empty();
        scene = Some(made);
        if keeps_a_box {
            break;
        }
    }
    // ATTEMPTS > 0, so a scene was drawn.
    scene.unwrap_or_else(|| draw_scene(garments, photos, options, &mut SeededRng::new(base)))
}

fn draw_scene(
    garments: &Garments,
    photos: &[RgbImage],
    options: &SceneOptions,
    rng: &mut SeededRng,
) -> Scene {
    let long = options.long_side;
    let short = (long as f64 * (0.7 + 0.3 * rng.next_f64())) as u32;
    let (width, height) = if rng.next_f64() < 0.5 {
        (short, long)
    } else {
        (long, short)
    };
    let mut image = background(&photos[rng.below(photos.len())], width, height, rng);
    let mut owner = vec![u8::MAX; (width * height) as usize];
    let count = 1 + rng.below(options.max_garments);
    let mut placed = Vec::with_capacity(count);
    for k in 0..count {
        // The first garment of a scene is always one a detector should find.
        let which = garments.pick(rng, k == 0);
        let look = Look::random(rng);
        let side_max = width.min(height);
        let side = ((side_max as f64) * (0.35 + 0.55 * rng.next_f64())) as u32;
        let side = side.clamp(16, side_max);
        let at = (
            rng.below((width - side + 1) as usize) as u32,
            rng.below((height - side + 1) as usize) as u32,
        );
        let garment = garments.image(which);
        if let Some(rect) = paste(&mut image, &mut owner, k as u8, &garment, at, side, &look) {
            placed.push(Placed {
                rect,
                category: category_of(garments.labels[which]),
            });
        }
    }
    let mut boxes = Vec::new();
    let mut unlabelled = 0;
    for (k, garment) in placed.iter().enumerate() {
        let visible = visible_share(&owner, width, &garment.rect, k as u8);
        match garment.category {
            Some(category) if visible >= MIN_VISIBLE => boxes.push((garment.rect, category)),
            _ => unlabelled += 1,
        }
    }
    let draw = rng.next_f64();
    let split = if draw < options.test_fraction {
        2
    } else if draw < options.test_fraction + options.val_fraction {
        1
    } else {
        0
    };
    Scene {
        image,
        boxes,
        unlabelled,
        split,
    }
}

/// A random crop of `photo` with the scene's aspect (40% to all of the largest such crop),
/// scaled to `width x height`.
fn background(photo: &RgbImage, width: u32, height: u32, rng: &mut SeededRng) -> RgbImage {
    let aspect = width as f64 / height as f64;
    let (pw, ph) = (photo.width() as f64, photo.height() as f64);
    let (max_w, max_h) = if pw / ph > aspect {
        (ph * aspect, ph)
    } else {
        (pw, pw / aspect)
    };
    let scale = 0.4 + 0.6 * rng.next_f64();
    let (cw, ch) = (
        (max_w * scale).max(1.0) as u32,
        (max_h * scale).max(1.0) as u32,
    );
    let x = rng.below((photo.width() - cw.min(photo.width()) + 1) as usize) as u32;
    let y = rng.below((photo.height() - ch.min(photo.height()) + 1) as usize) as u32;
    let crop = image::imageops::crop_imm(photo, x, y, cw, ch).to_image();
    image::imageops::resize(&crop, width, height, FilterType::Triangle)
}

/// How a garment is coloured: a base colour, and stripes or checks of a second one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Look {
    base: [f32; 3],
    second: [f32; 3],
    pattern: Pattern,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Pattern {
    Plain,
    Stripes { period: f32, angle: f32 },
    Checks { period: f32 },
}

impl Look {
    fn random(rng: &mut SeededRng) -> Look {
        let mut colour = || {
            [
                rng.next_f64() as f32,
                rng.next_f64() as f32,
                rng.next_f64() as f32,
            ]
        };
        let (base, second) = (colour(), colour());
        let period = 4.0 + 12.0 * rng.next_f64() as f32;
        let pattern = match rng.below(3) {
            0 => Pattern::Plain,
            1 => Pattern::Stripes {
                period,
                angle: std::f32::consts::PI * rng.next_f64() as f32,
            },
            _ => Pattern::Checks { period },
        };
        Look {
            base,
            second,
            pattern,
        }
    }

    /// A plain garment of one colour (for tests).
    pub fn plain(rgb: [u8; 3]) -> Look {
        let base = rgb.map(|v| v as f32 / 255.0);
        Look {
            base,
            second: base,
            pattern: Pattern::Plain,
        }
    }

    /// The colour at `(x, y)` of the garment's square, shaded by the garment's `intensity`.
    fn colour(&self, x: f32, y: f32, intensity: f32) -> [f32; 3] {
        let second = match self.pattern {
            Pattern::Plain => false,
            Pattern::Stripes { period, angle } => {
                let along = x * angle.cos() + y * angle.sin();
                (along / period).floor() as i64 % 2 == 0
            }
            Pattern::Checks { period } => {
                ((x / period).floor() as i64 + (y / period).floor() as i64) % 2 == 0
            }
        };
        let colour = if second { self.second } else { self.base };
        let shade = 0.35 + 0.65 * intensity;
        colour.map(|c| c * shade)
    }
}

/// Alpha of a garment pixel from its intensity: Fashion-MNIST's background is 0 (clear), its
/// garments bright; faint edges blend.
fn alpha(intensity: f32) -> f32 {
    ((intensity - 0.05) / 0.2).clamp(0.0, 1.0)
}

/// Pastes `garment` enlarged to `side x side` at `at` (its top-left corner, inside the scene),
/// recording in `owner` which garment is on top of each pixel. Returns the box of its opaque
/// pixels (alpha at least one half), `None` when it has none.
pub fn paste(
    scene: &mut RgbImage,
    owner: &mut [u8],
    id: u8,
    garment: &GrayImage,
    at: (u32, u32),
    side: u32,
    look: &Look,
) -> Option<BoxRect> {
    let large = image::imageops::resize(garment, side, side, FilterType::CatmullRom);
    let width = scene.width();
    let mut bounds: Option<(u32, u32, u32, u32)> = None;
    for (gx, gy, value) in large.enumerate_pixels() {
        let (x, y) = (at.0 + gx, at.1 + gy);
        if x >= scene.width() || y >= scene.height() {
            continue;
        }
        let intensity = value.0[0] as f32 / 255.0;
        let a = alpha(intensity);
        if a <= 0.0 {
            continue;
        }
        let colour = look.colour(gx as f32, gy as f32, intensity);
        let pixel = scene.get_pixel_mut(x, y);
        for (channel, c) in pixel.0.iter_mut().zip(colour) {
            let blended = (1.0 - a) * (*channel as f32) + a * c * 255.0;
            *channel = blended.round().clamp(0.0, 255.0) as u8;
        }
        if a >= 0.5 {
            owner[(y * width + x) as usize] = id;
            bounds = Some(match bounds {
                None => (x, y, x, y),
                Some((x0, y0, x1, y1)) => (x0.min(x), y0.min(y), x1.max(x), y1.max(y)),
            });
        }
    }
    // Pixel (x, y) covers [x, x + 1): the box ends one past the last opaque pixel.
    bounds.map(|(x0, y0, x1, y1)| {
        BoxRect::new(x0 as f32, y0 as f32, (x1 + 1) as f32, (y1 + 1) as f32)
    })
}

/// The share of the opaque pixels inside `rect` that garment `id` still owns; the pixels
/// other garments took there count as covering it (a bound on what it lost that needs only
/// the map of which garment is on top).
fn visible_share(owner: &[u8], width: u32, rect: &BoxRect, id: u8) -> f32 {
    let (x0, y0, x1, y1) = (
        rect.x0 as u32,
        rect.y0 as u32,
        rect.x1 as u32,
        rect.y1 as u32,
    );
    let mut owned = 0usize;
    let mut others = 0usize;
    for y in y0..y1 {
        for x in x0..x1 {
            match owner[(y * width + x) as usize] {
                o if o == id => owned += 1,
                u8::MAX => {}
                _ => others += 1,
            }
        }
    }
    if owned + others == 0 {
        0.0
    } else {
        owned as f32 / (owned + others) as f32
    }
}

fn write_jpeg(path: &Path, image: &RgbImage) -> Result<(), SceneError> {
    let write_error = |source| SceneError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 92)
        .encode_image(image)
        .map_err(|e| write_error(std::io::Error::other(e)))?;
    crate::atomic::write_atomic(path, &bytes).map_err(write_error)
}

/// The four lists, built scene by scene.
#[derive(Default)]
struct Lists {
    bbox: Vec<String>,
    category: Vec<String>,
    partition: Vec<String>,
}

impl Lists {
    fn add(&mut self, name: &str, scene: &Scene, report: &mut SceneReport) {
        for (rect, category) in &scene.boxes {
            self.bbox.push(format!(
                "{name:<40} {:03} {:03} {:03} {:03}",
                rect.x0 as u32, rect.y0 as u32, rect.x1 as u32, rect.y1 as u32
            ));
            // Every category in CLASS_CATEGORY is one of DeepFashion's.
            let (label, kind) = category_label(category).unwrap_or((0, 1));
            self.category.push(format!("{name:<40} {label}"));
            report.boxes[(kind as usize).clamp(1, 3) - 1] += 1;
        }
        let split = ["train", "val", "test"][scene.split];
        self.partition.push(format!("{name:<40} {split}"));
        report.partition[scene.split] += 1;
        report.unlabelled += scene.unlabelled;
        report.images += 1;
    }

    fn write(
        &self,
        out: &Path,
        options: &SceneOptions,
        backgrounds: &Path,
    ) -> Result<(), SceneError> {
        let list = |header: &str, records: &[String]| {
            let mut text = format!("{}\n{header}\n", records.len());
            for record in records {
                text.push_str(record);
                text.push('\n');
            }
            text
        };
        let mut cloth = String::new();
        for (name, kind) in DEEPFASHION_CATEGORIES {
            let _ = writeln!(cloth, "{name:<20} {kind}");
        }
        let cloth = format!(
            "{}\ncategory_name  category_type\n{cloth}",
            DEEPFASHION_CATEGORIES.len()
        );
        let about = format!(
            "Scenes made by `deepstyle make-scenes --seed {} --count {}`: Fashion-MNIST garments \
             (Zalando Research, MIT licence) pasted onto crops of the photographs in {} \
             (under their own licences).\n",
            options.seed,
            options.count,
            backgrounds.display()
        );
        let files = [
            (
                "Anno/list_bbox.txt",
                list("image_name  x_1  y_1  x_2  y_2", &self.bbox),
            ),
            (
                "Anno/list_category_img.txt",
                list("image_name  category_label", &self.category),
            ),
            ("Anno/list_category_cloth.txt", cloth),
            (
                "Eval/list_eval_partition.txt",
                list("image_name  evaluation_status", &self.partition),
            ),
            ("README.txt", about),
        ];
        for (name, text) in files {
            let path = out.join(name);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|source| SceneError::Write {
                    path: dir.to_path_buf(),
                    source,
                })?;
            }
            crate::atomic::write_atomic(&path, text.as_bytes())
                .map_err(|source| SceneError::Write { path, source })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 28x28 garment: a bright rectangle over rows `rows` and columns `cols`.
    fn block(rows: std::ops::Range<u32>, cols: std::ops::Range<u32>) -> GrayImage {
        GrayImage::from_fn(28, 28, |x, y| {
            image::Luma([if rows.contains(&y) && cols.contains(&x) {
                230
            } else {
                0
            }])
        })
    }

    #[test]
    fn a_pasted_garment_is_boxed_where_its_opaque_pixels_land() {
        let mut scene = RgbImage::new(120, 100);
        let mut owner = vec![u8::MAX; 120 * 100];
        // Rows 4..24 and columns 8..20 of 28, enlarged twice, at (10, 20).
        let garment = block(4..24, 8..20);
        let look = Look::plain([200, 40, 40]);
        let rect = paste(&mut scene, &mut owner, 0, &garment, (10, 20), 56, &look).unwrap();
        let expected = BoxRect::new(26.0, 28.0, 50.0, 68.0);
        for (got, want) in [
            (rect.x0, expected.x0),
            (rect.y0, expected.y0),
            (rect.x1, expected.x1),
            (rect.y1, expected.y1),
        ] {
            assert!((got - want).abs() <= 1.5, "{rect:?} vs {expected:?}");
        }
        // Inside, the garment's colour (shaded by its intensity); outside, the background.
        let inside = scene.get_pixel(38, 48).0;
        assert!(inside[0] > 150 && inside[1] < 60, "{inside:?}");
        assert_eq!(scene.get_pixel(5, 5).0, [0, 0, 0]);
        assert_eq!(owner[48 * 120 + 38], 0);
        assert_eq!(
            paste(
                &mut scene,
                &mut owner,
                1,
                &block(0..0, 0..0),
                (0, 0),
                40,
                &look
            ),
            None
        );
    }

    #[test]
    fn a_covered_garment_loses_its_share() {
        let mut scene = RgbImage::new(100, 100);
        let mut owner = vec![u8::MAX; 100 * 100];
        let look = Look::plain([90, 90, 200]);
        let full = block(0..28, 0..28);
        let first = paste(&mut scene, &mut owner, 0, &full, (0, 0), 40, &look).unwrap();
        assert_eq!(visible_share(&owner, 100, &first, 0), 1.0);
        // A second garment over its right half.
        paste(&mut scene, &mut owner, 1, &full, (20, 0), 40, &look).unwrap();
        let share = visible_share(&owner, 100, &first, 0);
        assert!((share - 0.5).abs() < 0.05, "{share}");
    }

    #[test]
    fn options_that_cannot_work_are_refused() {
        let bad = [
            SceneOptions {
                count: 0,
                ..SceneOptions::default()
            },
            SceneOptions {
                long_side: 10,
                ..SceneOptions::default()
            },
            SceneOptions {
                val_fraction: 0.5,
                test_fraction: 0.5,
                ..SceneOptions::default()
            },
        ];
        for options in bad {
            assert!(matches!(check(&options), Err(SceneError::Options(_))));
        }
    }

    #[test]
    fn fashion_mnist_classes_map_to_deepfashion_types() {
        let kind = |class: u8| category_of(class).and_then(category_label).map(|(_, k)| k);
        // T-shirt/top, Pullover, Coat, Shirt: upper; Trouser: lower; Dress: full.
        for class in [0, 2, 4, 6] {
            assert_eq!(kind(class), Some(1), "class {class}");
        }
        assert_eq!(kind(1), Some(2));
        assert_eq!(kind(3), Some(3));
        for class in [5, 7, 8, 9] {
            assert_eq!(category_of(class), None, "class {class}");
        }
    }
}
