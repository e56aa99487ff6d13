//! Import images into a project: validate, dedupe by content hash, report near-duplicates
//! by dHash, store originals content-addressed, make thumbnails, then add every new image to
//! the catalog in one transaction.
//!
//! An import is all-or-nothing for the catalog: on cancel or on a store/catalog failure the
//! files it wrote are removed again and the catalog is as before. A single bad file (empty,
//! truncated, not an image, too large) is not a failure of the import: it is reported with
//! its path and reason, and the rest still import.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use sha2::{Digest, Sha256};

use super::Project;
use super::catalog::{CatalogError, NewImage, SourceKind};
use crate::atomic::write_atomic;
use crate::imaging::{self, DecodeError};
use crate::jobs::Reporter;

/// Default Hamming distance under which two dHashes count as near-duplicates.
pub const DEFAULT_NEAR_DUPLICATE_DISTANCE: u32 = 6;
/// Candidates decoded in parallel between two cancel checks.
const CHUNK: usize = 8;

#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// dHash Hamming distance at or under which an image is reported as a near-duplicate.
    pub near_duplicate_distance: u32,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            near_duplicate_distance: DEFAULT_NEAR_DUPLICATE_DISTANCE,
        }
    }
}

/// Something to import.
#[derive(Debug, Clone)]
pub enum Candidate {
    File(PathBuf),
    /// Bytes compiled into the binary (the demo project).
    Embedded {
        name: &'static str,
        bytes: &'static [u8],
    },
}

impl Candidate {
    /// How the candidate is named in reports: its path, or `demo:NAME`.
    pub fn origin(&self) -> String {
        match self {
            Candidate::File(path) => path.display().to_string(),
            Candidate::Embedded { name, .. } => format!("demo:{name}"),
        }
    }

    fn read(&self) -> Result<std::borrow::Cow<'static, [u8]>, String> {
        match self {
            Candidate::File(path) => std::fs::read(path)
                .map(std::borrow::Cow::Owned)
                .map_err(|e| e.to_string()),
            Candidate::Embedded { bytes, .. } => Ok(std::borrow::Cow::Borrowed(bytes)),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Added {
    pub origin: String,
    pub sha256: String,
    /// Its catalog id (set once the import commits).
    pub image_id: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub origin: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NearDuplicate {
    /// The image being imported (it is imported all the same).
    pub origin: String,
    pub sha256: String,
    /// The similar image already in the project (or earlier in this import).
    pub similar_to: String,
    pub distance: u32,
}

/// What an import did, file by file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImportReport {
    pub added: Vec<Added>,
    /// Byte-identical to an image already in the project or earlier in this import.
    pub already_present: Vec<String>,
    pub failed: Vec<Failure>,
    pub near_duplicates: Vec<NearDuplicate>,
    /// Files in scanned folders whose extension is not an image format.
    pub skipped: Vec<PathBuf>,
}

impl ImportReport {
    /// One line for status bars and the CLI.
    pub fn summary(&self) -> String {
        format!(
            "{} added, {} already present, {} near-duplicates, {} failed, {} skipped",
            self.added.len(),
            self.already_present.len(),
            self.near_duplicates.len(),
            self.failed.len(),
            self.skipped.len()
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("import cancelled; nothing was added")]
    Cancelled,
    #[error("could not write {path}: {source}; nothing was added")]
    Store {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Catalog(#[from] CatalogError),
}

/// Expands files and folders (recursively, in sorted order) into candidates. Files named on
/// the command line are always tried; files found in folders only when their extension is an
/// image format (the rest are listed in `skipped`). Missing paths become failures.
pub fn collect_candidates(paths: &[PathBuf]) -> (Vec<Candidate>, Vec<PathBuf>, Vec<Failure>) {
    let mut candidates = Vec::new();
    let mut skipped = Vec::new();
    let mut failed = Vec::new();
    for path in paths {
        if path.is_dir() {
            let walk = walkdir::WalkDir::new(path)
                .follow_links(true)
                .sort_by_file_name();
            for entry in walk {
                match entry {
                    Ok(e) if e.file_type().is_file() => {
                        if imaging::has_image_extension(e.path()) {
                            candidates.push(Candidate::File(e.into_path()));
                        } else {
                            skipped.push(e.into_path());
                        }
                    }
                    Ok(_) => {}
                    Err(e) => failed.push(Failure {
                        origin: e.path().unwrap_or(path).display().to_string(),
                        reason: e.to_string(),
                    }),
                }
            }
        } else if path.is_file() {
            candidates.push(Candidate::File(path.clone()));
        } else {
            failed.push(Failure {
                origin: path.display().to_string(),
                reason: "no such file or folder".into(),
            });
        }
    }
    (candidates, skipped, failed)
}

/// Imports files and folders. See [`import_candidates`].
pub fn import_paths(
    project: &Project,
    paths: &[PathBuf],
    options: &ImportOptions,
    reporter: &dyn Reporter,
) -> Result<ImportReport, ImportError> {
    let (candidates, skipped, failed) = collect_candidates(paths);
    let mut report = import_candidates(project, &candidates, options, reporter)?;
    report.skipped = skipped;
    report.failed.splice(0..0, failed);
    Ok(report)
}

/// An image's bytes after the parallel stage: hashed, decoded and thumbnailed. Import and
/// scrape both go through [`prepare_bytes`] and [`store_prepared`], so an image is stored the
/// same whichever way it came.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub sha256: String,
    pub ext: &'static str,
    pub width: u32,
    pub height: u32,
    pub dhash: u64,
    thumb_png: Vec<u8>,
}

impl Prepared {
    /// Where the original is stored, relative to the project root.
    pub fn relpath(&self) -> String {
        Project::image_relpath(&self.sha256, self.ext)
    }
}

/// Hashes, decodes (within the decode limits; the bytes decide the format, never a name or a
/// header) and thumbnails an image. `Err` says why the bytes are not a usable image.
pub fn prepare_bytes(bytes: &[u8]) -> Result<Prepared, String> {
    let sha256 = hex::encode(Sha256::digest(bytes));
    let decoded = imaging::decode_with_limits(bytes).map_err(|e: DecodeError| e.to_string())?;
    let ext = imaging::stored_extension(decoded.format).unwrap_or("bin");
    let thumb = imaging::thumbnail(&decoded.image, imaging::THUMB_SIDE);
    let thumb_png = imaging::encode_png(&thumb).map_err(|e| e.to_string())?;
    Ok(Prepared {
        sha256,
        ext,
        width: decoded.image.width(),
        height: decoded.image.height(),
        dhash: imaging::dhash(&decoded.image),
        thumb_png,
    })
}

fn prepare(candidate: &Candidate) -> Result<(Prepared, std::borrow::Cow<'static, [u8]>), String> {
    let bytes = candidate.read()?;
    Ok((prepare_bytes(&bytes)?, bytes))
}

/// Files this import created, removed again unless the import commits.
struct CreatedFiles(Vec<PathBuf>);

impl CreatedFiles {
    fn roll_back(&mut self) {
        for path in self.0.drain(..) {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Imports candidates; see the module documentation for the guarantees.
pub fn import_candidates(
    project: &Project,
    candidates: &[Candidate],
    options: &ImportOptions,
    reporter: &dyn Reporter,
) -> Result<ImportReport, ImportError> {
    let mut catalog = project.catalog()?;
    let mut known_dhashes = catalog.dhashes()?;
    let mut seen: HashMap<String, ()> = HashMap::new();
    let mut report = ImportReport::default();
    let mut rows: Vec<NewImage> = Vec::new();
    let mut created = CreatedFiles(Vec::new());
    let total = candidates.len() as u64;
    reporter.progress(0, total, "importing");

    let outcome = (|| -> Result<(), ImportError> {
        for (chunk_index, chunk) in candidates.chunks(CHUNK).enumerate() {
            if reporter.is_cancelled() {
                return Err(ImportError::Cancelled);
            }
            let prepared: Vec<_> = chunk
                .par_iter()
                .map(|c| {
                    if reporter.is_cancelled() {
                        Err("cancelled".to_string())
                    } else {
                        prepare(c)
                    }
                })
                .collect();
            if reporter.is_cancelled() {
                return Err(ImportError::Cancelled);
            }
            for (candidate, result) in chunk.iter().zip(prepared) {
                let origin = candidate.origin();
                let (image, bytes) = match result {
                    Ok(p) => p,
                    Err(reason) => {
                        report.failed.push(Failure { origin, reason });
                        continue;
                    }
                };
                if seen.contains_key(&image.sha256)
                    || catalog.image_by_sha(&image.sha256)?.is_some()
                {
                    report.already_present.push(origin);
                    continue;
                }
                seen.insert(image.sha256.clone(), ());
                if let Some((similar_to, distance)) =
                    nearest(&known_dhashes, image.dhash, options.near_duplicate_distance)
                {
                    report.near_duplicates.push(NearDuplicate {
                        origin: origin.clone(),
                        sha256: image.sha256.clone(),
                        similar_to,
                        distance,
                    });
                }
                store(project, &image, &bytes, &mut created)?;
                known_dhashes.push((image.sha256.clone(), image.dhash));
                rows.push(NewImage {
                    sha256: image.sha256.clone(),
                    path: image.relpath(),
                    width: image.width,
                    height: image.height,
                    dhash: image.dhash,
                    source_url: match candidate {
                        Candidate::File(path) => Some(file_url(path)),
                        Candidate::Embedded { .. } => None,
                    },
                    source_kind: match candidate {
                        Candidate::File(_) => SourceKind::File,
                        Candidate::Embedded { .. } => SourceKind::Demo,
                    },
                    original_name: original_name(candidate),
                });
                report.added.push(Added {
                    origin,
                    sha256: image.sha256,
                    image_id: 0,
                });
            }
            let done = ((chunk_index + 1) * CHUNK).min(candidates.len()) as u64;
            reporter.progress(done, total, &format!("imported {done} of {total}"));
        }
        if reporter.is_cancelled() {
            return Err(ImportError::Cancelled);
        }
        let ids = catalog.insert_images(&rows)?;
        for (added, id) in report.added.iter_mut().zip(ids) {
            added.image_id = id;
        }
        Ok(())
    })();

    match outcome {
        Ok(()) => Ok(report),
        Err(e) => {
            created.roll_back();
            Err(e)
        }
    }
}

/// Writes the original (unless the store already holds it) and the thumbnail, atomically.
/// Returns the files it created.
pub fn store_prepared(
    project: &Project,
    image: &Prepared,
    bytes: &[u8],
) -> Result<Vec<PathBuf>, ImportError> {
    let original = project.resolve(&image.relpath());
    let thumb = project.thumb_path(&image.sha256);
    let mut created = Vec::new();
    for (path, content) in [(original, bytes), (thumb, image.thumb_png.as_slice())] {
        if path.is_file() {
            continue;
        }
        if let Err(source) = write_atomic(&path, content) {
            for path in created {
                let _ = std::fs::remove_file(path);
            }
            return Err(ImportError::Store { path, source });
        }
        created.push(path);
    }
    Ok(created)
}

fn store(
    project: &Project,
    image: &Prepared,
    bytes: &[u8],
    created: &mut CreatedFiles,
) -> Result<(), ImportError> {
    created.0.extend(store_prepared(project, image, bytes)?);
    Ok(())
}

/// The closest known hash within `max_distance`, if any.
pub fn nearest(known: &[(String, u64)], dhash: u64, max_distance: u32) -> Option<(String, u32)> {
    known
        .iter()
        .map(|(sha, d)| (sha, imaging::hamming(*d, dhash)))
        .filter(|(_, distance)| *distance <= max_distance)
        .min_by_key(|(_, distance)| *distance)
        .map(|(sha, distance)| (sha.clone(), distance))
}

fn file_url(path: &Path) -> String {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    format!("file://{}", absolute.display())
}

fn original_name(candidate: &Candidate) -> Option<String> {
    match candidate {
        Candidate::File(path) => path.file_name().map(|n| n.to_string_lossy().into_owned()),
        Candidate::Embedded { name, .. } => Some((*name).to_string()),
    }
}
