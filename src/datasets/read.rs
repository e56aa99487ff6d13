//! Readers of annotation sets: COCO JSON, YOLO text files, Pascal VOC XML and DeepFashion's
//! Category and Attribute Prediction layout. Each returns the images with their boxes and a
//! list of problems, each naming the file, the line (where there is one) and the reason; a bad
//! record is reported and skipped, the good ones are kept. Boxes come out in image pixels,
//! `[x0, y0, x1, y1]` with exclusive corners.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::detect::boxes::BoxRect;
use crate::review::DEFAULT_CATEGORIES;

/// How far (pixels) a box may reach past the image before it counts as outside it; it is then
/// clamped.
const EDGE_TOLERANCE: f32 = 1.0;

/// An image of a set, with its boxes.
#[derive(Debug, Clone, PartialEq)]
pub struct AnnotatedImage {
    pub path: PathBuf,
    pub boxes: Vec<(BoxRect, String)>,
}

/// A record that could not be used.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub file: PathBuf,
    /// 1-based line number, where the format has lines.
    pub line: Option<usize>,
    pub reason: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.file.display(), self.reason),
            None => write!(f, "{}: {}", self.file.display(), self.reason),
        }
    }
}

/// What a reader found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AnnotationSet {
    pub images: Vec<AnnotatedImage>,
    pub problems: Vec<Problem>,
}

/// A reader could not start at all (the set's main file is missing or unreadable).
#[derive(Debug, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct ReadError {
    pub path: PathBuf,
    pub reason: String,
}

fn read_text(path: &Path) -> Result<String, ReadError> {
    let bytes = std::fs::read(path).map_err(|e| ReadError {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    String::from_utf8(bytes).map_err(|_| ReadError {
        path: path.to_path_buf(),
        reason: "not UTF-8 text".into(),
    })
}

/// Checks a box against its image: finite, not inverted or empty, inside (within a pixel, then
/// clamped).
fn checked_box(rect: BoxRect, (width, height): (u32, u32)) -> Result<BoxRect, String> {
    let values = [rect.x0, rect.y0, rect.x1, rect.y1];
    if values.iter().any(|v| !v.is_finite()) {
        return Err("a coordinate is not a number".into());
    }
    if rect.x1 <= rect.x0 || rect.y1 <= rect.y0 {
        return Err(format!(
            "inverted or empty box [{}, {}, {}, {}]",
            rect.x0, rect.y0, rect.x1, rect.y1
        ));
    }
    let (w, h) = (width as f32, height as f32);
    if rect.x0 < -EDGE_TOLERANCE
        || rect.y0 < -EDGE_TOLERANCE
        || rect.x1 > w + EDGE_TOLERANCE
        || rect.y1 > h + EDGE_TOLERANCE
    {
        return Err(format!(
            "box [{}, {}, {}, {}] lies outside the {width}x{height} image",
            rect.x0, rect.y0, rect.x1, rect.y1
        ));
    }
    Ok(rect.clamped(w, h))
}

/// The pixel size of an image file, from its header.
fn image_size(path: &Path) -> Result<(u32, u32), String> {
    if !path.is_file() {
        return Err("image not found".into());
    }
    image::image_dimensions(path).map_err(|e| format!("cannot read the image: {e}"))
}

/// Collects boxes per image path, in the order images first appear.
#[derive(Default)]
struct Collector {
    images: Vec<AnnotatedImage>,
    index: HashMap<PathBuf, usize>,
    sizes: HashMap<PathBuf, Result<(u32, u32), String>>,
    problems: Vec<Problem>,
}

impl Collector {
    fn problem(&mut self, file: &Path, line: Option<usize>, reason: impl Into<String>) {
        self.problems.push(Problem {
            file: file.to_path_buf(),
            line,
            reason: reason.into(),
        });
    }

    fn size(&mut self, image: &Path) -> Result<(u32, u32), String> {
        self.sizes
            .entry(image.to_path_buf())
            .or_insert_with(|| image_size(image))
            .clone()
    }

    /// Registers an image (with no boxes yet); false (and a problem) when it cannot be read.
    fn image(&mut self, image: &Path, file: &Path, line: Option<usize>) -> bool {
        if let Err(reason) = self.size(image) {
            self.problem(file, line, format!("{}: {reason}", image.display()));
            return false;
        }
        if !self.index.contains_key(image) {
            self.index.insert(image.to_path_buf(), self.images.len());
            self.images.push(AnnotatedImage {
                path: image.to_path_buf(),
                boxes: Vec::new(),
            });
        }
        true
    }

    fn add(
        &mut self,
        image: &Path,
        rect: BoxRect,
        category: &str,
        file: &Path,
        line: Option<usize>,
    ) {
        if !self.image(image, file, line) {
            return;
        }
        let Ok(size) = self.size(image) else {
            return;
        };
        match checked_box(rect, size) {
            Ok(rect) => {
                if let Some(&i) = self.index.get(image) {
                    self.images[i].boxes.push((rect, category.to_string()));
                }
            }
            Err(reason) => self.problem(file, line, reason),
        }
    }

    fn finish(self) -> AnnotationSet {
        AnnotationSet {
            images: self.images,
            problems: self.problems,
        }
    }
}

/// A COCO file: `images` (`id`, `file_name`), `annotations` (`image_id`, `category_id`,
/// `bbox [x, y, w, h]`), `categories` (`id`, `name`). Image files are looked for beside the
/// JSON, in its `images/` folder first.
pub fn read_coco(json: &Path) -> Result<AnnotationSet, ReadError> {
    let text = read_text(json)?;
    let document: serde_json::Value = serde_json::from_str(&text).map_err(|e| ReadError {
        path: json.to_path_buf(),
        reason: format!("not COCO JSON: {e}"),
    })?;
    let base = json.parent().unwrap_or(Path::new("."));
    let images_dir = if base.join("images").is_dir() {
        base.join("images")
    } else {
        base.to_path_buf()
    };
    let mut out = Collector::default();
    let list = |key: &str| {
        document
            .get(key)
            .and_then(|v| v.as_array())
            .cloned()
            .unwrap_or_default()
    };
    let mut categories: HashMap<i64, String> = HashMap::new();
    for c in list("categories") {
        match (
            c.get("id").and_then(|v| v.as_i64()),
            c.get("name").and_then(|v| v.as_str()),
        ) {
            (Some(id), Some(name)) => {
                categories.insert(id, name.to_string());
            }
            _ => out.problem(json, None, format!("a category without id or name: {c}")),
        }
    }
    let mut images: HashMap<i64, PathBuf> = HashMap::new();
    for image in list("images") {
        match (
            image.get("id").and_then(|v| v.as_i64()),
            image.get("file_name").and_then(|v| v.as_str()),
        ) {
            (Some(id), Some(name)) => {
                let path = images_dir.join(name);
                if out.image(&path, json, None) {
                    images.insert(id, path);
                }
            }
            _ => out.problem(
                json,
                None,
                format!("an image without id or file_name: {image}"),
            ),
        }
    }
    for annotation in list("annotations") {
        let id = annotation.get("id").and_then(|v| v.as_i64()).unwrap_or(-1);
        let bbox: Option<Vec<f64>> = annotation
            .get("bbox")
            .and_then(|v| v.as_array())
            .and_then(|a| a.iter().map(|v| v.as_f64()).collect());
        let image = annotation
            .get("image_id")
            .and_then(|v| v.as_i64())
            .and_then(|i| images.get(&i).cloned());
        let category = annotation
            .get("category_id")
            .and_then(|v| v.as_i64())
            .and_then(|c| categories.get(&c).cloned());
        match (bbox.as_deref(), image, category) {
            (Some([x, y, w, h]), Some(image), Some(category)) => {
                let rect = BoxRect::new(*x as f32, *y as f32, (x + w) as f32, (y + h) as f32);
                out.add(&image, rect, &category, json, None);
            }
            (Some(_), Some(_), Some(_)) => {
                out.problem(json, None, format!("annotation {id}: bbox needs 4 numbers"))
            }
            (None, _, _) => out.problem(json, None, format!("annotation {id}: no bbox")),
            (_, None, _) => out.problem(
                json,
                None,
                format!("annotation {id}: its image is unknown or unreadable"),
            ),
            (_, _, None) => out.problem(json, None, format!("annotation {id}: unknown category")),
        }
    }
    Ok(out.finish())
}

/// A YOLO folder: `classes.txt`, `images/` and `labels/<stem>.txt` (`class cx cy w h`,
/// normalised to the image). An image without a label file has no boxes.
pub fn read_yolo(dir: &Path) -> Result<AnnotationSet, ReadError> {
    let classes_path = dir.join("classes.txt");
    let classes: Vec<String> = read_text(&classes_path)?
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    let images_dir = dir.join("images");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&images_dir)
        .map_err(|e| ReadError {
            path: images_dir.clone(),
            reason: e.to_string(),
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| crate::imaging::has_image_extension(p))
        .collect();
    names.sort();
    let mut out = Collector::default();
    for image in names {
        let stem = image
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let labels = dir.join("labels").join(format!("{stem}.txt"));
        if !out.image(&image, &image, None) {
            continue;
        }
        let Ok((w, h)) = out.size(&image) else {
            continue;
        };
        let Ok(text) = std::fs::read_to_string(&labels) else {
            continue;
        };
        for (n, line) in text.lines().enumerate() {
            let line_no = Some(n + 1);
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.is_empty() {
                continue;
            }
            if fields.len() != 5 {
                out.problem(
                    &labels,
                    line_no,
                    format!("expected 5 fields, found {}", fields.len()),
                );
                continue;
            }
            let Ok(class) = fields[0].parse::<usize>() else {
                out.problem(
                    &labels,
                    line_no,
                    format!("class {:?} is not a number", fields[0]),
                );
                continue;
            };
            let Some(category) = classes.get(class) else {
                out.problem(
                    &labels,
                    line_no,
                    format!("class {class} is not in classes.txt"),
                );
                continue;
            };
            let values: Option<Vec<f32>> = fields[1..].iter().map(|v| v.parse().ok()).collect();
            let Some([cx, cy, bw, bh]) = values.as_deref().map(|v| [v[0], v[1], v[2], v[3]]) else {
                out.problem(&labels, line_no, "a coordinate is not a number");
                continue;
            };
            let (wf, hf) = (w as f32, h as f32);
            let rect = BoxRect::new(
                (cx - bw / 2.0) * wf,
                (cy - bh / 2.0) * hf,
                (cx + bw / 2.0) * wf,
                (cy + bh / 2.0) * hf,
            );
            let category = category.clone();
            out.add(&image, rect, &category, &labels, line_no);
        }
    }
    Ok(out.finish())
}

/// A Pascal VOC folder: `Annotations/*.xml` (`filename`, `object/name`, `object/bndbox`) and the
/// images in `JPEGImages/`.
pub fn read_voc(dir: &Path) -> Result<AnnotationSet, ReadError> {
    let annotations = dir.join("Annotations");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&annotations)
        .map_err(|e| ReadError {
            path: annotations.clone(),
            reason: e.to_string(),
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("xml")))
        .collect();
    files.sort();
    let mut out = Collector::default();
    for file in files {
        let parsed = read_text(&file)
            .map_err(|e| e.reason)
            .and_then(|xml| parse_voc(&xml));
        let (filename, objects) = match parsed {
            Ok(parsed) => parsed,
            Err(reason) => {
                out.problem(&file, None, reason);
                continue;
            }
        };
        let image = dir.join("JPEGImages").join(&filename);
        if !out.image(&image, &file, None) {
            continue;
        }
        for (name, rect) in objects {
            match rect {
                Ok(rect) => out.add(&image, rect, &name, &file, None),
                Err(reason) => out.problem(&file, None, format!("object {name:?}: {reason}")),
            }
        }
    }
    Ok(out.finish())
}

type VocObject = (String, Result<BoxRect, String>);

/// The file name and the objects of one VOC annotation.
fn parse_voc(xml: &str) -> Result<(String, Vec<VocObject>), String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    reader.config_mut().trim_text(true);
    let mut path: Vec<String> = Vec::new();
    let mut text = String::new();
    let mut filename = None;
    let mut objects = Vec::new();
    let mut name = String::new();
    let mut corners: HashMap<String, String> = HashMap::new();
    loop {
        let event = reader
            .read_event()
            .map_err(|e| format!("not XML at byte {}: {e}", reader.buffer_position()))?;
        match event {
            Event::Start(tag) => {
                path.push(String::from_utf8_lossy(tag.local_name().as_ref()).into_owned());
                text.clear();
            }
            Event::Text(t) => text.push_str(&t.decode().map_err(|e| e.to_string())?),
            Event::GeneralRef(r) => {
                let entity = String::from_utf8_lossy(r.as_ref()).into_owned();
                text.push_str(match entity.as_str() {
                    "amp" => "&",
                    "lt" => "<",
                    "gt" => ">",
                    "quot" => "\"",
                    "apos" => "'",
                    _ => "",
                });
            }
            Event::End(_) => {
                let joined = path.join("/");
                let value = text.trim().to_string();
                match joined.as_str() {
                    "annotation/filename" => filename = Some(value),
                    "annotation/object/name" => name = value,
                    "annotation/object/bndbox/xmin"
                    | "annotation/object/bndbox/ymin"
                    | "annotation/object/bndbox/xmax"
                    | "annotation/object/bndbox/ymax" => {
                        let key = path.last().cloned().unwrap_or_default();
                        corners.insert(key, value);
                    }
                    "annotation/object" => {
                        let get = |k: &str| -> Result<f32, String> {
                            let v = corners.get(k).ok_or(format!("no {k}"))?;
                            v.parse().map_err(|_| format!("{k} {v:?} is not a number"))
                        };
                        let rect = (|| {
                            Ok(BoxRect::new(
                                get("xmin")?,
                                get("ymin")?,
                                get("xmax")?,
                                get("ymax")?,
                            ))
                        })();
                        objects.push((std::mem::take(&mut name), rect));
                        corners.clear();
                    }
                    _ => {}
                }
                path.pop();
                text.clear();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    let filename = filename.ok_or("no <filename>")?;
    Ok((filename, objects))
}

/// What a DeepFashion box is called: its category's type (upper, lower, full body), or the
/// category itself (DeepFashion's 50: `Tee`, `Dress`, `Jeans`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeepFashionLabels {
    #[default]
    Types,
    Categories,
}

impl DeepFashionLabels {
    /// The labels a detector with these classes was trained on.
    pub fn for_classes(classes: &[String]) -> Self {
        if classes
            .iter()
            .all(|c| DEFAULT_CATEGORIES.contains(&c.as_str()))
        {
            DeepFashionLabels::Types
        } else {
            DeepFashionLabels::Categories
        }
    }
}

/// DeepFashion's Category and Attribute Prediction benchmark under `root`:
/// `Anno/list_bbox.txt`, `Anno/list_category_img.txt`, `Anno/list_category_cloth.txt` and the
/// images (`img/...`). Line 1 of each list is its count, line 2 its header; fields are split
/// by runs of whitespace (CRLF and zero-padded numbers welcome). Boxes take the category's
/// type (upper, lower, full) as their category.
pub fn read_deepfashion(root: &Path) -> Result<AnnotationSet, ReadError> {
    read_deepfashion_as(root, DeepFashionLabels::Types)
}

/// The category names of `Anno/list_category_cloth.txt` under `root`, in its order.
pub fn deepfashion_categories(root: &Path) -> Result<Vec<String>, ReadError> {
    let mut out = Collector::default();
    let cloth_path = root.join("Anno/list_category_cloth.txt");
    let cloth_text = read_text(&cloth_path)?;
    Ok(records(&cloth_text, &cloth_path, 2, &mut out)
        .into_iter()
        .filter_map(|(_, fields)| fields.first().map(|f| f.to_string()))
        .collect())
}

/// [`read_deepfashion`], each box named as `labels` says.
pub fn read_deepfashion_as(
    root: &Path,
    labels: DeepFashionLabels,
) -> Result<AnnotationSet, ReadError> {
    let mut out = Collector::default();
    let cloth_path = root.join("Anno/list_category_cloth.txt");
    let cloth_text = read_text(&cloth_path)?;
    let cloth = records(&cloth_text, &cloth_path, 2, &mut out);
    // Category names hold no spaces; the type is the last field.
    let types: Vec<Option<&str>> = cloth
        .iter()
        .map(|(line, fields)| {
            let kind = fields.last().and_then(|t| t.parse::<usize>().ok());
            match kind.and_then(|k| DEFAULT_CATEGORIES.get(k.wrapping_sub(1))) {
                Some(name) => Some(match labels {
                    DeepFashionLabels::Types => *name,
                    DeepFashionLabels::Categories => fields[0],
                }),
                None => {
                    out.problem(
                        &cloth_path,
                        Some(*line),
                        "the category type must be 1, 2 or 3",
                    );
                    None
                }
            }
        })
        .collect();
    let category_path = root.join("Anno/list_category_img.txt");
    // An image's boxes take its category records in order (DeepFashion has one of each per
    // image; generated scenes list one a box); a single record serves all its boxes.
    let mut category_of: HashMap<String, Vec<&str>> = HashMap::new();
    let category_text = read_text(&category_path)?;
    for (line, fields) in records(&category_text, &category_path, 2, &mut out) {
        let label = fields[1].parse::<usize>().ok();
        match label.and_then(|l| types.get(l.wrapping_sub(1)).copied().flatten()) {
            Some(kind) => category_of
                .entry(fields[0].to_string())
                .or_default()
                .push(kind),
            None => out.problem(
                &category_path,
                Some(line),
                format!("unknown category label {:?}", fields[1]),
            ),
        }
    }
    let bbox_path = root.join("Anno/list_bbox.txt");
    let bbox_text = read_text(&bbox_path)?;
    let mut boxes_seen: HashMap<&str, usize> = HashMap::new();
    for (line, fields) in records(&bbox_text, &bbox_path, 5, &mut out) {
        let coords: Option<Vec<f32>> = fields[1..5].iter().map(|v| v.parse().ok()).collect();
        let Some(c) = coords else {
            out.problem(&bbox_path, Some(line), "a coordinate is not a whole number");
            continue;
        };
        let seen = boxes_seen.entry(fields[0]).or_insert(0);
        let kind = category_of
            .get(fields[0])
            .and_then(|kinds| kinds.get((*seen).min(kinds.len().saturating_sub(1))))
            .copied();
        *seen += 1;
        let Some(kind) = kind else {
            out.problem(
                &bbox_path,
                Some(line),
                format!("{} has no category in list_category_img.txt", fields[0]),
            );
            continue;
        };
        let image = root.join(fields[0]);
        out.add(
            &image,
            BoxRect::new(c[0], c[1], c[2], c[3]),
            kind,
            &bbox_path,
            Some(line),
        );
    }
    Ok(out.finish())
}

/// The records of a DeepFashion list (line 1 the count, line 2 the header), each with its line
/// number; records of the wrong width are reported and skipped, and so is a count that does not
/// match.
fn records<'t>(
    text: &'t str,
    path: &Path,
    width: usize,
    out: &mut Collector,
) -> Vec<(usize, Vec<&'t str>)> {
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_end_matches('\r')));
    let count = lines
        .next()
        .and_then(|(_, l)| l.trim().parse::<usize>().ok());
    let _header = lines.next();
    let mut found = Vec::new();
    let mut records = 0;
    for (line, text) in lines {
        let fields: Vec<&str> = text.split_whitespace().collect();
        if fields.is_empty() {
            continue;
        }
        records += 1;
        if fields.len() != width {
            out.problem(
                path,
                Some(line),
                format!("expected {width} fields, found {}", fields.len()),
            );
            continue;
        }
        found.push((line, fields));
    }
    match count {
        Some(count) if count == records => {}
        Some(count) => out.problem(
            path,
            Some(1),
            format!("the count says {count} records, the file holds {records}"),
        ),
        None => out.problem(path, Some(1), "line 1 must be the record count"),
    }
    found
}
