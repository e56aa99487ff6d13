//! Where a scraped image came from (source, page, pin, image address, title, description,
//! time) and the addresses scrapes have already fetched. A scrape commits each batch of images
//! with their provenance and fetched addresses in one transaction, so a scrape stopped at any
//! point (cancel, crash, kill -9) loses nothing it reported as added and, run again, fetches
//! only what it has not fetched.

use std::collections::HashMap;

use rusqlite::{OptionalExtension, params};

use super::catalog::{Catalog, CatalogError, NewImage};

/// What a scrape knows of an image's origin.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Provenance {
    /// `pinterest-board`, `pinterest-api` or `web`.
    pub source_kind: String,
    /// The board or page address the scrape was started on.
    pub source_url: String,
    /// The page the image was found on, when not the source itself.
    pub page_url: Option<String>,
    pub pin_id: Option<String>,
    /// The address the image's bytes came from.
    pub image_url: String,
    pub title: Option<String>,
    pub description: Option<String>,
    /// When it was fetched (set by the catalog).
    pub fetched_at: String,
}

/// One fetched address: the image's hash and, when the image is new to the project, the row
/// and provenance to add.
#[derive(Debug, Clone)]
pub struct Fetch {
    pub url: String,
    pub sha256: String,
    pub source_url: String,
    pub new_image: Option<(NewImage, Provenance)>,
}

/// A provenance from its eight columns, starting at column `first`.
fn provenance_row(r: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<Provenance> {
    Ok(Provenance {
        source_kind: r.get(first)?,
        source_url: r.get(first + 1)?,
        page_url: r.get(first + 2)?,
        pin_id: r.get(first + 3)?,
        image_url: r.get(first + 4)?,
        title: r.get(first + 5)?,
        description: r.get(first + 6)?,
        fetched_at: r.get(first + 7)?,
    })
}

impl Catalog {
    /// Whether a scrape has already fetched `url`.
    pub fn was_fetched(&self, url: &str) -> Result<bool, CatalogError> {
        self.connection()
            .query_row("SELECT 1 FROM fetched_urls WHERE url = ?1", [url], |_| {
                Ok(())
            })
            .optional()
            .map(|found| found.is_some())
            .map_err(|e| self.sqlite_error(e))
    }

    /// Records `fetches` in one transaction: every address as fetched, and each new image with
    /// its provenance. An image whose bytes the project already holds (added meanwhile by
    /// another import) is not added twice. Returns the new image ids, `None` where nothing was
    /// added.
    pub fn commit_fetches(&self, fetches: &[Fetch]) -> Result<Vec<Option<i64>>, CatalogError> {
        let err = |e| self.sqlite_error(e);
        let tx = self.connection().unchecked_transaction().map_err(err)?;
        let mut ids = Vec::with_capacity(fetches.len());
        {
            let mut fetched = tx
                .prepare(
                    "INSERT OR IGNORE INTO fetched_urls (url, sha256, source_url)
                     VALUES (?1, ?2, ?3)",
                )
                .map_err(err)?;
            let mut image = tx
                .prepare(
                    "INSERT OR IGNORE INTO images (sha256, path, width, height, dhash,
                                                   source_url, source_kind, original_name)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )
                .map_err(err)?;
            let mut provenance = tx
                .prepare(
                    "INSERT INTO provenance (image_id, source_kind, source_url, page_url, pin_id,
                                             image_url, title, description)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )
                .map_err(err)?;
            for fetch in fetches {
                fetched
                    .execute(params![fetch.url, fetch.sha256, fetch.source_url])
                    .map_err(err)?;
                let Some((row, origin)) = &fetch.new_image else {
                    ids.push(None);
                    continue;
                };
                let inserted = image
                    .execute(params![
                        row.sha256,
                        row.path,
                        row.width,
                        row.height,
                        row.dhash as i64,
                        row.source_url,
                        row.source_kind.as_str(),
                        row.original_name,
                    ])
                    .map_err(err)?;
                if inserted == 0 {
                    ids.push(None);
                    continue;
                }
                let id = tx.last_insert_rowid();
                provenance
                    .execute(params![
                        id,
                        origin.source_kind,
                        origin.source_url,
                        origin.page_url,
                        origin.pin_id,
                        origin.image_url,
                        origin.title,
                        origin.description,
                    ])
                    .map_err(err)?;
                ids.push(Some(id));
            }
        }
        tx.commit().map_err(err)?;
        Ok(ids)
    }

    /// The provenance of an image, if a scrape added it.
    pub fn provenance_of(&self, image_id: i64) -> Result<Option<Provenance>, CatalogError> {
        self.connection()
            .query_row(
                "SELECT source_kind, source_url, page_url, pin_id, image_url, title, description,
                        fetched_at
                 FROM provenance WHERE image_id = ?1",
                [image_id],
                |r| provenance_row(r, 0),
            )
            .optional()
            .map_err(|e| self.sqlite_error(e))
    }

    /// The provenance of every scraped image, by image id.
    pub fn provenances(&self) -> Result<HashMap<i64, Provenance>, CatalogError> {
        let mut stmt = self
            .connection()
            .prepare(
                "SELECT image_id, source_kind, source_url, page_url, pin_id, image_url, title,
                        description, fetched_at
                 FROM provenance",
            )
            .map_err(|e| self.sqlite_error(e))?;
        stmt.query_map([], |r| Ok((r.get(0)?, provenance_row(r, 1)?)))
            .and_then(|rows| rows.collect::<Result<HashMap<_, _>, _>>())
            .map_err(|e| self.sqlite_error(e))
    }

    /// How many addresses scrapes have fetched.
    pub fn fetched_count(&self) -> Result<u64, CatalogError> {
        self.connection()
            .query_row("SELECT COUNT(*) FROM fetched_urls", [], |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| n as u64)
            .map_err(|e| self.sqlite_error(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::catalog::SourceKind;

    fn new_image(sha: &str) -> NewImage {
        NewImage {
            sha256: sha.into(),
            path: format!("images/{sha}.jpg"),
            width: 10,
            height: 20,
            dhash: 7,
            source_url: Some(format!("https://cdn.example/{sha}.jpg")),
            source_kind: SourceKind::Web,
            original_name: Some(format!("{sha}.jpg")),
        }
    }

    fn fetch(url: &str, sha: &str, add: bool) -> Fetch {
        Fetch {
            url: url.into(),
            sha256: sha.into(),
            source_url: "https://www.pinterest.com/a/b/".into(),
            new_image: add.then(|| {
                (
                    new_image(sha),
                    Provenance {
                        source_kind: "pinterest-board".into(),
                        source_url: "https://www.pinterest.com/a/b/".into(),
                        pin_id: Some("42".into()),
                        image_url: url.into(),
                        title: Some("Look 1".into()),
                        ..Provenance::default()
                    },
                )
            }),
        }
    }

    #[test]
    fn fetches_record_addresses_images_and_provenance_together() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(&dir.path().join("c.sqlite")).unwrap();
        let ids = catalog
            .commit_fetches(&[
                fetch("https://cdn.example/a.jpg", "aa", true),
                fetch("https://cdn.example/a-copy.jpg", "aa", true),
                fetch("https://cdn.example/b.jpg", "bb", false),
            ])
            .unwrap();
        assert!(ids[0].is_some());
        assert_eq!(ids[1], None, "the same bytes are not added twice");
        assert_eq!(ids[2], None);
        assert_eq!(catalog.image_count().unwrap(), 1);
        assert_eq!(catalog.fetched_count().unwrap(), 3);
        assert!(catalog.was_fetched("https://cdn.example/b.jpg").unwrap());
        assert!(!catalog.was_fetched("https://cdn.example/c.jpg").unwrap());
        let origin = catalog.provenance_of(ids[0].unwrap()).unwrap().unwrap();
        assert_eq!(catalog.provenances().unwrap()[&ids[0].unwrap()], origin);
        assert_eq!(origin.pin_id.as_deref(), Some("42"));
        assert_eq!(origin.title.as_deref(), Some("Look 1"));
        assert_eq!(origin.image_url, "https://cdn.example/a.jpg");
        assert!(!origin.fetched_at.is_empty());
    }
}
