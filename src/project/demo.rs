//! The bundled demo project: images compiled into the binary (see assets/README.md for their
//! sources and licences), so `deepstyle` has something to show on a fresh machine.

use std::path::Path;

use super::ingest::{self, Candidate, ImportReport};
use super::{Project, ProjectError};
use crate::jobs::Reporter;

macro_rules! demo_images {
    ($($name:literal),* $(,)?) => {
        &[$(Candidate::Embedded {
            name: $name,
            bytes: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/demo/", $name)),
        }),*]
    };
}

/// The demo images, in a stable order.
pub const DEMO_IMAGES: &[Candidate] = demo_images![
    "photo-astronaut.png",
    "photo-camera.png",
    "fmnist-tshirt-top-1.png",
    "fmnist-tshirt-top-2.png",
    "fmnist-tshirt-top-3.png",
    "fmnist-trouser-1.png",
    "fmnist-trouser-2.png",
    "fmnist-trouser-3.png",
    "fmnist-pullover-1.png",
    "fmnist-pullover-2.png",
    "fmnist-pullover-3.png",
    "fmnist-dress-1.png",
    "fmnist-dress-2.png",
    "fmnist-dress-3.png",
    "fmnist-coat-1.png",
    "fmnist-coat-2.png",
    "fmnist-coat-3.png",
    "fmnist-sandal-1.png",
    "fmnist-sandal-2.png",
    "fmnist-sandal-3.png",
    "fmnist-shirt-1.png",
    "fmnist-shirt-2.png",
    "fmnist-shirt-3.png",
    "fmnist-sneaker-1.png",
    "fmnist-sneaker-2.png",
    "fmnist-sneaker-3.png",
    "fmnist-bag-1.png",
    "fmnist-bag-2.png",
    "fmnist-bag-3.png",
    "fmnist-ankle-boot-1.png",
    "fmnist-ankle-boot-2.png",
    "fmnist-ankle-boot-3.png",
];

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(transparent)]
    Project(#[from] ProjectError),
    #[error(transparent)]
    Import(#[from] ingest::ImportError),
    #[error(transparent)]
    Catalog(#[from] super::CatalogError),
}

/// Creates the project at `root` and adds the demo images to it; the report says what the
/// import did. A demo project that already holds images is only opened (no report): reopening
/// the demo does no import work.
pub fn create_demo(
    root: &Path,
    reporter: &dyn Reporter,
) -> Result<(Project, Option<ImportReport>), DemoError> {
    if root.join(super::CATALOG_FILE).is_file() {
        let project = Project::open(root)?;
        if project.catalog()?.image_count()? > 0 {
            return Ok((project, None));
        }
    }
    let project = Project::create(root)?;
    let report = ingest::import_candidates(
        &project,
        DEMO_IMAGES,
        &ingest::ImportOptions::default(),
        reporter,
    )?;
    Ok((project, Some(report)))
}
