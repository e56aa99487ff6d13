//! A studio project on disk: its folder layout, its catalog and the import of images.
//!
//! ```text
//! PROJECT/
//!   deepstyle.sqlite          catalog (see `catalog`)
//!   images/ab/<sha256>.<ext>  originals, content-addressed
//!   thumbs/ab/<sha256>.png    thumbnail cache (safe to delete; rebuilt on demand)
//!   crops/  runs/  exports/
//! ```

pub mod boxes;
pub mod catalog;
pub mod demo;
pub mod favourites;
pub mod ingest;
pub mod provenance;
pub mod thumbs;

use std::path::{Path, PathBuf};

pub use catalog::{Catalog, CatalogError, ImageRow};

pub const CATALOG_FILE: &str = "deepstyle.sqlite";
const FOLDERS: [&str; 5] = ["images", "thumbs", "crops", "runs", "exports"];

#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    #[error("{path} is not a DeepStyle project (no {CATALOG_FILE} in it)")]
    NotAProject { path: PathBuf },
    #[error("{path} already exists and is not an empty folder or a DeepStyle project")]
    NotEmpty { path: PathBuf },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Catalog(#[from] CatalogError),
}

/// A project folder. Cheap to clone and send to workers; each opens its own [`Catalog`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    root: PathBuf,
}

impl Project {
    /// Creates a project in `root` (which must be missing or an empty folder). Creating over
    /// an existing project just opens it, so `new` is safe to repeat.
    pub fn create(root: &Path) -> Result<Self, ProjectError> {
        if root.join(CATALOG_FILE).is_file() {
            return Self::open(root);
        }
        if root.exists() {
            let empty = root.is_dir()
                && std::fs::read_dir(root)
                    .map_err(|source| io_err(root, source))?
                    .next()
                    .is_none();
            if !empty {
                return Err(ProjectError::NotEmpty {
                    path: root.to_path_buf(),
                });
            }
        }
        Self::with_layout(root)
    }

    /// Opens an existing project, migrating its catalog if it is from an older release.
    pub fn open(root: &Path) -> Result<Self, ProjectError> {
        if !root.join(CATALOG_FILE).is_file() {
            return Err(ProjectError::NotAProject {
                path: root.to_path_buf(),
            });
        }
        Self::with_layout(root)
    }

    /// Makes sure every folder exists and the catalog opens (creating or migrating it).
    fn with_layout(root: &Path) -> Result<Self, ProjectError> {
        for folder in FOLDERS {
            let path = root.join(folder);
            std::fs::create_dir_all(&path).map_err(|source| io_err(&path, source))?;
        }
        let project = Project {
            root: absolute(root),
        };
        project.catalog()?;
        Ok(project)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A display name: the folder's name.
    pub fn name(&self) -> String {
        self.root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.root.display().to_string())
    }

    /// Opens a new connection to the catalog (one per thread).
    pub fn catalog(&self) -> Result<Catalog, CatalogError> {
        Catalog::open(&self.root.join(CATALOG_FILE))
    }

    /// Where an original with this hash and extension lives, relative to the root.
    pub fn image_relpath(sha256: &str, ext: &str) -> String {
        format!("images/{}/{sha256}.{ext}", shard(sha256))
    }

    /// Absolute path of a catalog-relative path.
    pub fn resolve(&self, relpath: &str) -> PathBuf {
        self.root.join(relpath)
    }

    /// Where the cached thumbnail of an image lives.
    pub fn thumb_path(&self, sha256: &str) -> PathBuf {
        self.root
            .join("thumbs")
            .join(shard(sha256))
            .join(format!("{sha256}.png"))
    }

    pub fn runs_dir(&self) -> PathBuf {
        self.root.join("runs")
    }
    pub fn crops_dir(&self) -> PathBuf {
        self.root.join("crops")
    }
    pub fn exports_dir(&self) -> PathBuf {
        self.root.join("exports")
    }
    /// Garment detectors trained in the studio or fine-tuned on the project's reviewed boxes.
    pub fn detectors_dir(&self) -> PathBuf {
        self.root.join("detectors")
    }
}

fn shard(sha256: &str) -> &str {
    sha256.get(..2).unwrap_or("xx")
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

fn io_err(path: &Path, source: std::io::Error) -> ProjectError {
    ProjectError::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_makes_the_layout_and_open_finds_it() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("p");
        let project = Project::create(&root).unwrap();
        for folder in FOLDERS {
            assert!(root.join(folder).is_dir(), "{folder}");
        }
        assert_eq!(Project::open(&root).unwrap(), project);
        assert_eq!(
            Project::create(&root).unwrap(),
            project,
            "create twice = open"
        );
    }

    #[test]
    fn refuses_to_create_in_a_folder_with_other_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
        let err = Project::create(dir.path()).unwrap_err();
        assert!(matches!(err, ProjectError::NotEmpty { .. }), "{err}");
        assert!(dir.path().join("notes.txt").exists());
        let err = Project::open(dir.path()).unwrap_err().to_string();
        assert!(err.contains("not a DeepStyle project"), "{err}");
    }
}
