//! Crops, the bridge from boxes to GAN training data: each box cut out of its image (with
//! optional padding, optionally squared), resized, written as a PNG named by the image's hash
//! and the box's id (ids are never reused, so one crop never overwrites another) and recorded
//! in the catalog. By default they go to the project's `crops/`, which `train-gan PROJECT`
//! prefers over the raw images.

use std::path::{Path, PathBuf};

use image::{DynamicImage, RgbaImage};
use rusqlite::params;

use crate::detect::boxes::BoxRect;
use crate::imaging;
use crate::jobs::Reporter;
use crate::project::{CatalogError, Project};

/// What `crops` writes.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct CropOptions {
    /// Side of a square crop, or the longer side of one that is not squared.
    pub size: u32,
    /// Extra margin on every side, as a fraction of the box's width and height.
    pub pad: f32,
    /// Extend the shorter side to the longer (with the image where it reaches, else by
    /// repeating the edge pixels).
    pub square: bool,
    /// Only boxes of accepted images (boxes marked reviewed).
    pub reviewed_only: bool,
    /// Only boxes of this category.
    pub category: Option<String>,
}

impl Default for CropOptions {
    fn default() -> Self {
        CropOptions {
            size: 64,
            pad: 0.0,
            square: false,
            reviewed_only: false,
            category: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CropError {
    #[error("cancelled")]
    Cancelled,
    #[error("--size must be between 8 and 4096, got {0}")]
    Size(u32),
    #[error("--pad must be between 0 and 2, got {0}")]
    Pad(f32),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error("cannot create {path}: {source}")]
    Folder {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// What a crops run did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CropReport {
    pub written: Vec<PathBuf>,
    /// `(image or crop path, reason)` of what could not be cropped.
    pub failed: Vec<(String, String)>,
}

/// A region of pixel rows and columns, which may reach past the image (edge pixels fill it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CropRegion {
    pub x0: i64,
    pub y0: i64,
    pub x1: i64,
    pub y1: i64,
}

impl CropRegion {
    pub fn width(&self) -> u32 {
        (self.x1 - self.x0).max(1) as u32
    }
    pub fn height(&self) -> u32 {
        (self.y1 - self.y0).max(1) as u32
    }
}

/// The pixels a box's crop takes from an image `width x height`.
pub fn crop_region(
    rect: BoxRect,
    pad: f32,
    square: bool,
    (width, height): (u32, u32),
) -> CropRegion {
    let (w, h) = (width as f64, height as f64);
    let (bw, bh) = (rect.width().max(1.0) as f64, rect.height().max(1.0) as f64);
    let pad = pad.max(0.0) as f64;
    let (mut x0, mut y0) = (rect.x0 as f64 - pad * bw, rect.y0 as f64 - pad * bh);
    let (mut x1, mut y1) = (rect.x1 as f64 + pad * bw, rect.y1 as f64 + pad * bh);
    if square {
        let side = (x1 - x0).max(y1 - y0);
        // Grow the shorter side about the centre, then slide it back inside the image where
        // the image is wide enough to hold it.
        let grow = |a: f64, b: f64, limit: f64| -> (f64, f64) {
            let extra = side - (b - a);
            let (mut a, mut b) = (a - extra / 2.0, b + extra / 2.0);
            if side <= limit {
                if a < 0.0 {
                    b -= a;
                    a = 0.0;
                }
                if b > limit {
                    a -= b - limit;
                    b = limit;
                }
            }
            (a, b)
        };
        (x0, x1) = grow(x0, x1, w);
        (y0, y1) = grow(y0, y1, h);
    }
    let (mut region_x0, mut region_y0) = (x0.round() as i64, y0.round() as i64);
    let (mut region_x1, mut region_y1) = (x1.round() as i64, y1.round() as i64);
    if square {
        // Rounding must not make a square crop oblong.
        let side = (region_x1 - region_x0).max(region_y1 - region_y0);
        region_x1 = region_x0 + side;
        region_y1 = region_y0 + side;
    }
    region_x1 = region_x1.max(region_x0 + 1);
    region_y1 = region_y1.max(region_y0 + 1);
    if !square {
        region_x0 = region_x0.max(0);
        region_y0 = region_y0.max(0);
        region_x1 = region_x1.min(width as i64).max(region_x0 + 1);
        region_y1 = region_y1.min(height as i64).max(region_y0 + 1);
    }
    CropRegion {
        x0: region_x0,
        y0: region_y0,
        x1: region_x1,
        y1: region_y1,
    }
}

/// The crop of `region` from `image` (edge pixels repeated past its borders), resized so its
/// longer side is `size` (area averaging when shrinking, as the trainer does).
pub fn crop_image(image: &RgbaImage, region: CropRegion, size: u32) -> RgbaImage {
    let (w, h) = (image.width() as i64, image.height() as i64);
    let cut = RgbaImage::from_fn(region.width(), region.height(), |x, y| {
        let sx = (region.x0 + x as i64).clamp(0, w - 1);
        let sy = (region.y0 + y as i64).clamp(0, h - 1);
        *image.get_pixel(sx as u32, sy as u32)
    });
    let (cw, ch) = (cut.width() as f64, cut.height() as f64);
    let scale = size as f64 / cw.max(ch);
    let (tw, th) = (
        ((cw * scale).round() as u32).clamp(1, size),
        ((ch * scale).round() as u32).clamp(1, size),
    );
    imaging::resize_area(&DynamicImage::ImageRgba8(cut), tw, th).to_rgba8()
}

/// The file a box's crop is written to.
pub fn crop_file_name(sha256: &str, box_id: i64) -> String {
    format!("{sha256}_{box_id}.png")
}

/// A box to crop, with its image.
struct Pending {
    box_id: i64,
    rect: BoxRect,
    category: String,
    sha256: String,
    image_path: String,
}

/// Writes the crops of the project's boxes (rejected images' boxes never) into `out` (default
/// the project's `crops/`), recording each in the catalog. Each image is decoded once; every
/// file is written atomically; an image that cannot be read is reported and skipped.
pub fn write_crops(
    project: &Project,
    options: &CropOptions,
    out: Option<&Path>,
    reporter: &dyn Reporter,
) -> Result<CropReport, CropError> {
    if !(8..=4096).contains(&options.size) {
        return Err(CropError::Size(options.size));
    }
    if !(0.0..=2.0).contains(&options.pad) {
        return Err(CropError::Pad(options.pad));
    }
    let out = out.map_or_else(|| project.crops_dir(), Path::to_path_buf);
    std::fs::create_dir_all(&out).map_err(|source| CropError::Folder {
        path: out.clone(),
        source,
    })?;
    let catalog = project.catalog()?;
    let pending = boxes_to_crop(&catalog, options)?;
    let mut report = CropReport::default();
    let total = pending.len() as u64;
    let mut done = 0u64;
    for group in pending.chunk_by(|a, b| a.sha256 == b.sha256) {
        if reporter.is_cancelled() {
            return Err(CropError::Cancelled);
        }
        reporter.progress(done, total, "cropping");
        done += group.len() as u64;
        let source = project.resolve(&group[0].image_path);
        let image = match std::fs::read(&source)
            .map_err(|e| e.to_string())
            .and_then(|bytes| imaging::decode_with_limits(&bytes).map_err(|e| e.to_string()))
        {
            Ok(decoded) => decoded.image.to_rgba8(),
            Err(reason) => {
                report.failed.push((source.display().to_string(), reason));
                continue;
            }
        };
        let mut recorded = Vec::new();
        for b in group {
            let region = crop_region(
                b.rect,
                options.pad,
                options.square,
                (image.width(), image.height()),
            );
            let crop = crop_image(&image, region, options.size);
            let path = out.join(crop_file_name(&b.sha256, b.box_id));
            let written = imaging::encode_png(&crop)
                .map_err(|e| e.to_string())
                .and_then(|png| {
                    crate::atomic::write_atomic(&path, &png).map_err(|e| e.to_string())
                });
            match written {
                Ok(()) => {
                    recorded.push((
                        b.box_id,
                        stored_path(project, &path),
                        crate::review::crop_category(&b.category).to_string(),
                    ));
                    report.written.push(path);
                }
                Err(reason) => report.failed.push((path.display().to_string(), reason)),
            }
        }
        record_crops(&catalog, &recorded, options.size)?;
    }
    reporter.progress(total, total, "cropping");
    Ok(report)
}

/// A crop's path as the catalog keeps it: relative to the project when inside it.
fn stored_path(project: &Project, path: &Path) -> String {
    path.strip_prefix(project.root())
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}

fn boxes_to_crop(
    catalog: &crate::project::Catalog,
    options: &CropOptions,
) -> Result<Vec<Pending>, CropError> {
    let conn = catalog.connection();
    let mut stmt = conn
        .prepare(
            "SELECT b.id, b.x0, b.y0, b.x1, b.y1, b.category, i.sha256, i.path
             FROM boxes b JOIN images i ON i.id = b.image_id
             WHERE i.status != 'rejected'
               AND (?1 = 0 OR b.reviewed = 1)
               AND (?2 IS NULL OR b.category = ?2)
             ORDER BY i.id, b.id",
        )
        .map_err(|e| catalog.sqlite_error(e))?;
    let rows = stmt
        .query_map(params![options.reviewed_only, options.category], |r| {
            Ok(Pending {
                box_id: r.get(0)?,
                rect: BoxRect::new(r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?),
                category: r.get(5)?,
                sha256: r.get(6)?,
                image_path: r.get(7)?,
            })
        })
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(|e| catalog.sqlite_error(e))?;
    Ok(rows)
}

fn record_crops(
    catalog: &crate::project::Catalog,
    crops: &[(i64, String, String)],
    size: u32,
) -> Result<(), CatalogError> {
    let err = |e| catalog.sqlite_error(e);
    let tx = catalog.connection().unchecked_transaction().map_err(err)?;
    for (box_id, path, category) in crops {
        tx.execute(
            "INSERT INTO crops (box_id, path, category, size) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (box_id) DO UPDATE SET path = excluded.path,
                category = excluded.category, size = excluded.size,
                created_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
            params![box_id, path, category, size],
        )
        .map_err(err)?;
    }
    tx.commit().map_err(err)
}

/// How many crops the project has, by category (most first).
pub fn crop_counts(catalog: &crate::project::Catalog) -> Result<Vec<(String, u64)>, CatalogError> {
    let mut stmt = catalog
        .connection()
        .prepare(
            "SELECT category, COUNT(*) FROM crops GROUP BY category ORDER BY COUNT(*) DESC, category",
        )
        .map_err(|e| catalog.sqlite_error(e))?;
    stmt.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(|e| catalog.sqlite_error(e))
}

/// Every crop the catalog records, as (file, category), in the order they were made.
pub fn crop_files(project: &Project) -> Result<Vec<(PathBuf, String)>, CatalogError> {
    let catalog = project.catalog()?;
    let mut stmt = catalog
        .connection()
        .prepare("SELECT path, category FROM crops ORDER BY id")
        .map_err(|e| catalog.sqlite_error(e))?;
    stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(|e| catalog.sqlite_error(e))
        .map(|rows| {
            rows.into_iter()
                .map(|(path, category)| (project.resolve(&path), category))
                .collect()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_and_squaring_use_the_image_before_edge_pixels() {
        let image = (200, 100);
        let tall = BoxRect::new(50.0, 10.0, 70.0, 90.0);
        assert_eq!(
            crop_region(tall, 0.0, false, image),
            CropRegion {
                x0: 50,
                y0: 10,
                x1: 70,
                y1: 90
            }
        );
        assert_eq!(
            crop_region(tall, 0.1, false, image),
            CropRegion {
                x0: 48,
                y0: 2,
                x1: 72,
                y1: 98
            }
        );
        // Squared: 80 wide about the centre, all inside the image.
        assert_eq!(
            crop_region(tall, 0.0, true, image),
            CropRegion {
                x0: 20,
                y0: 10,
                x1: 100,
                y1: 90
            }
        );
        // Near the left edge the square slides right to stay inside.
        let left = BoxRect::new(0.0, 10.0, 20.0, 90.0);
        assert_eq!(
            crop_region(left, 0.0, true, image),
            CropRegion {
                x0: 0,
                y0: 10,
                x1: 80,
                y1: 90
            }
        );
        // Wider than the image is tall: the square reaches past it (edge pixels fill it).
        let wide = BoxRect::new(0.0, 40.0, 150.0, 60.0);
        let region = crop_region(wide, 0.0, true, image);
        assert_eq!((region.width(), region.height()), (150, 150));
        assert!(region.y0 < 0 && region.y1 > 100);
        // Unsquared padding stops at the image.
        assert_eq!(
            crop_region(BoxRect::new(0.0, 0.0, 200.0, 100.0), 0.5, false, image),
            CropRegion {
                x0: 0,
                y0: 0,
                x1: 200,
                y1: 100
            }
        );
    }

    #[test]
    fn crops_take_the_box_pixels_and_repeat_edges() {
        // Left half red, right half blue.
        let image = RgbaImage::from_fn(40, 20, |x, _| {
            if x < 20 {
                image::Rgba([255, 0, 0, 255])
            } else {
                image::Rgba([0, 0, 255, 255])
            }
        });
        let red = crop_image(
            &image,
            CropRegion {
                x0: 0,
                y0: 0,
                x1: 10,
                y1: 20,
            },
            16,
        );
        assert_eq!((red.width(), red.height()), (8, 16));
        assert!(red.pixels().all(|p| p.0 == [255, 0, 0, 255]));
        let past_the_edge = crop_image(
            &image,
            CropRegion {
                x0: 30,
                y0: -10,
                x1: 60,
                y1: 20,
            },
            30,
        );
        assert_eq!((past_the_edge.width(), past_the_edge.height()), (30, 30));
        assert!(past_the_edge.pixels().all(|p| p.0 == [0, 0, 255, 255]));
    }
}
