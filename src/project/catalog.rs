//! The project catalog: one SQLite file (WAL mode) holding images and, in later stages,
//! boxes, runs and favourites. Schema changes are migrations keyed by `PRAGMA user_version`;
//! every change the studio makes is one transaction.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

/// Schema migrations, in order; `MIGRATIONS[i]` takes `user_version` i to i + 1.
const MIGRATIONS: &[&str] = &[
    // 1: images, content-addressed.
    "CREATE TABLE images (
        id          INTEGER PRIMARY KEY,
        sha256      TEXT NOT NULL UNIQUE,
        path        TEXT NOT NULL,
        width       INTEGER NOT NULL,
        height      INTEGER NOT NULL,
        source_url  TEXT,
        source_kind TEXT NOT NULL,
        added_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        status      TEXT NOT NULL DEFAULT 'new'
    );",
    // 2: perceptual hash and original file name for provenance; the tables later stages fill.
    "ALTER TABLE images ADD COLUMN dhash INTEGER;
     ALTER TABLE images ADD COLUMN original_name TEXT;
     CREATE INDEX images_dhash ON images(dhash);
     CREATE TABLE boxes (
        id       INTEGER PRIMARY KEY,
        image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
        x0 REAL NOT NULL, y0 REAL NOT NULL, x1 REAL NOT NULL, y1 REAL NOT NULL,
        category TEXT NOT NULL,
        score    REAL,
        origin   TEXT NOT NULL CHECK (origin IN ('model', 'human')),
        reviewed INTEGER NOT NULL DEFAULT 0
     );
     CREATE INDEX boxes_image ON boxes(image_id);
     CREATE TABLE runs (
        id          INTEGER PRIMARY KEY,
        kind        TEXT NOT NULL,
        name        TEXT NOT NULL UNIQUE,
        config_json TEXT NOT NULL,
        created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
     );
     CREATE TABLE favourites (
        id     INTEGER PRIMARY KEY,
        run_id INTEGER REFERENCES runs(id) ON DELETE SET NULL,
        seed   INTEGER,
        z_blob BLOB NOT NULL,
        label  TEXT NOT NULL DEFAULT ''
     );",
    // 3: favourites remember the generator they were picked with, and when.
    "ALTER TABLE favourites ADD COLUMN generator TEXT NOT NULL DEFAULT '';
     ALTER TABLE favourites ADD COLUMN created_at TEXT NOT NULL DEFAULT '';",
    // 4: box ids are never reused (a crop file is named by its box's id), and the crops
    // written from boxes.
    "CREATE TABLE boxes_v4 (
        id       INTEGER PRIMARY KEY AUTOINCREMENT,
        image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
        x0 REAL NOT NULL, y0 REAL NOT NULL, x1 REAL NOT NULL, y1 REAL NOT NULL,
        category TEXT NOT NULL,
        score    REAL,
        origin   TEXT NOT NULL CHECK (origin IN ('model', 'human')),
        reviewed INTEGER NOT NULL DEFAULT 0
     );
     INSERT INTO boxes_v4 (id, image_id, x0, y0, x1, y1, category, score, origin, reviewed)
        SELECT id, image_id, x0, y0, x1, y1, category, score, origin, reviewed FROM boxes;
     DROP TABLE boxes;
     ALTER TABLE boxes_v4 RENAME TO boxes;
     CREATE INDEX boxes_image ON boxes(image_id);
     CREATE TABLE crops (
        id         INTEGER PRIMARY KEY,
        box_id     INTEGER NOT NULL UNIQUE REFERENCES boxes(id) ON DELETE CASCADE,
        path       TEXT NOT NULL,
        category   TEXT NOT NULL,
        size       INTEGER NOT NULL,
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
     );",
    // 5: where a scraped image came from, and every address a scrape has already fetched (so
    // that scraping again, or after a crash, fetches only what is new).
    "CREATE TABLE provenance (
        image_id    INTEGER PRIMARY KEY REFERENCES images(id) ON DELETE CASCADE,
        source_kind TEXT NOT NULL,
        source_url  TEXT NOT NULL,
        page_url    TEXT,
        pin_id      TEXT,
        image_url   TEXT NOT NULL,
        title       TEXT,
        description TEXT,
        fetched_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
     );
     CREATE TABLE fetched_urls (
        url        TEXT PRIMARY KEY,
        sha256     TEXT NOT NULL,
        source_url TEXT NOT NULL,
        fetched_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
     );",
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("catalog {path}: {source}")]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error(
        "catalog {path} has schema version {found}, newer than this build understands ({SCHEMA_VERSION}): update DeepStyle Studio"
    )]
    TooNew { path: PathBuf, found: u32 },
}

/// Where an image came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// Imported from a file or folder on disk.
    File,
    /// Part of the bundled demo.
    Demo,
    /// Downloaded from a web page or board.
    Web,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::File => "file",
            SourceKind::Demo => "demo",
            SourceKind::Web => "web",
        }
    }
}

/// An image as the catalog knows it. `path` is relative to the project root.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageRow {
    pub id: i64,
    pub sha256: String,
    pub path: String,
    pub width: u32,
    pub height: u32,
    pub dhash: Option<u64>,
    pub source_url: Option<String>,
    pub source_kind: String,
    pub original_name: Option<String>,
    pub added_at: String,
    pub status: String,
}

/// An image about to be added.
#[derive(Debug, Clone)]
pub struct NewImage {
    pub sha256: String,
    pub path: String,
    pub width: u32,
    pub height: u32,
    pub dhash: u64,
    pub source_url: Option<String>,
    pub source_kind: SourceKind,
    pub original_name: Option<String>,
}

/// An open connection to a project's catalog. Open one per thread.
pub struct Catalog {
    conn: Connection,
    path: PathBuf,
}

impl Catalog {
    /// Opens (creating if needed) the catalog at `path` and migrates it to [`SCHEMA_VERSION`].
    pub fn open(path: &Path) -> Result<Self, CatalogError> {
        let err = |source| CatalogError::Sqlite {
            path: path.to_path_buf(),
            source,
        };
        let conn = Connection::open(path).map_err(err)?;
        conn.busy_timeout(Duration::from_secs(10)).map_err(err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(err)?;
        let mut catalog = Catalog {
            conn,
            path: path.to_path_buf(),
        };
        catalog.migrate()?;
        Ok(catalog)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The error for a failed statement on this catalog.
    pub fn sqlite_error(&self, source: rusqlite::Error) -> CatalogError {
        self.err(source)
    }

    fn err(&self, source: rusqlite::Error) -> CatalogError {
        CatalogError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    pub fn schema_version(&self) -> Result<u32, CatalogError> {
        self.conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(|e| self.err(e))
    }

    /// Applies the missing migrations, each in its own transaction with its version bump.
    fn migrate(&mut self) -> Result<(), CatalogError> {
        let found = self.schema_version()?;
        if found > SCHEMA_VERSION {
            return Err(CatalogError::TooNew {
                path: self.path.clone(),
                found,
            });
        }
        for (index, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
            let version = index as u32 + 1;
            let tx = self.conn.transaction().map_err(|e| CatalogError::Sqlite {
                path: self.path.clone(),
                source: e,
            })?;
            tx.execute_batch(sql)
                .and_then(|()| tx.pragma_update(None, "user_version", version))
                .and_then(|()| tx.commit())
                .map_err(|e| CatalogError::Sqlite {
                    path: self.path.clone(),
                    source: e,
                })?;
        }
        Ok(())
    }

    pub fn image_count(&self) -> Result<u64, CatalogError> {
        self.conn
            .query_row("SELECT COUNT(*) FROM images", [], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
            .map_err(|e| self.err(e))
    }

    pub fn image_by_sha(&self, sha256: &str) -> Result<Option<ImageRow>, CatalogError> {
        self.conn
            .query_row(
                &format!("{SELECT_IMAGE} WHERE sha256 = ?1"),
                [sha256],
                image_row,
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Every image, oldest first.
    pub fn list_images(&self) -> Result<Vec<ImageRow>, CatalogError> {
        let mut stmt = self
            .conn
            .prepare(&format!("{SELECT_IMAGE} ORDER BY id"))
            .map_err(|e| self.err(e))?;
        stmt.query_map([], image_row)
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(|e| self.err(e))
    }

    /// `(sha256, dhash)` of every image that has a perceptual hash.
    pub fn dhashes(&self) -> Result<Vec<(String, u64)>, CatalogError> {
        let mut stmt = self
            .conn
            .prepare("SELECT sha256, dhash FROM images WHERE dhash IS NOT NULL")
            .map_err(|e| self.err(e))?;
        stmt.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(|e| self.err(e))
    }

    /// Adds all `images` in one transaction: either every row lands or none does.
    pub fn insert_images(&mut self, images: &[NewImage]) -> Result<Vec<i64>, CatalogError> {
        let path = self.path.clone();
        let err = |source| CatalogError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(err)?;
        let mut ids = Vec::with_capacity(images.len());
        {
            let mut stmt = tx
                .prepare(
                    "INSERT INTO images (sha256, path, width, height, dhash, source_url,
                                         source_kind, original_name)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )
                .map_err(err)?;
            for image in images {
                stmt.execute(params![
                    image.sha256,
                    image.path,
                    image.width,
                    image.height,
                    image.dhash as i64,
                    image.source_url,
                    image.source_kind.as_str(),
                    image.original_name,
                ])
                .map_err(err)?;
                ids.push(tx.last_insert_rowid());
            }
        }
        tx.commit().map_err(err)?;
        Ok(ids)
    }

    /// Direct access for migrations tests and later stages' queries.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }
}

const SELECT_IMAGE: &str = "SELECT id, sha256, path, width, height, dhash, source_url, source_kind,
                                   original_name, added_at, status FROM images";

fn image_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ImageRow> {
    Ok(ImageRow {
        id: r.get(0)?,
        sha256: r.get(1)?,
        path: r.get(2)?,
        width: r.get(3)?,
        height: r.get(4)?,
        dhash: r.get::<_, Option<i64>>(5)?.map(|d| d as u64),
        source_url: r.get(6)?,
        source_kind: r.get(7)?,
        original_name: r.get(8)?,
        added_at: r.get(9)?,
        status: r.get(10)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_image(sha: &str) -> NewImage {
        NewImage {
            sha256: sha.to_string(),
            path: format!("images/{}/{sha}.png", &sha[..2]),
            width: 4,
            height: 3,
            dhash: 0xF0F0,
            source_url: None,
            source_kind: SourceKind::File,
            original_name: Some("a.png".into()),
        }
    }

    #[test]
    fn creates_at_latest_version_in_wal_mode() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(&dir.path().join("c.sqlite")).unwrap();
        assert_eq!(catalog.schema_version().unwrap(), SCHEMA_VERSION);
        let mode: String = catalog
            .connection()
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(mode.to_lowercase(), "wal");
    }

    #[test]
    fn migrates_a_version_1_catalog_keeping_its_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.sqlite");
        {
            // A catalog as the first release wrote it.
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(MIGRATIONS[0]).unwrap();
            conn.pragma_update(None, "user_version", 1).unwrap();
            conn.execute(
                "INSERT INTO images (sha256, path, width, height, source_kind)
                 VALUES ('abc', 'images/ab/abc.png', 10, 20, 'file')",
                [],
            )
            .unwrap();
        }
        let catalog = Catalog::open(&path).unwrap();
        assert_eq!(catalog.schema_version().unwrap(), SCHEMA_VERSION);
        let row = catalog.image_by_sha("abc").unwrap().unwrap();
        assert_eq!((row.width, row.height, row.dhash), (10, 20, None));
        let tables: i64 = catalog
            .connection()
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'
                 AND name IN ('boxes', 'runs', 'favourites')",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(tables, 3);
    }

    #[test]
    fn refuses_a_catalog_from_a_newer_release() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.sqlite");
        Connection::open(&path)
            .unwrap()
            .pragma_update(None, "user_version", SCHEMA_VERSION + 5)
            .unwrap();
        let err = Catalog::open(&path).err().unwrap().to_string();
        assert!(err.contains("newer") && err.contains("new.sqlite"), "{err}");
    }

    #[test]
    fn a_failing_batch_rolls_back_every_row() {
        let dir = tempfile::tempdir().unwrap();
        let mut catalog = Catalog::open(&dir.path().join("c.sqlite")).unwrap();
        catalog.insert_images(&[new_image("aa11")]).unwrap();
        // The third row repeats the first sha256 and violates UNIQUE mid-batch.
        let batch = [new_image("bb22"), new_image("cc33"), new_image("aa11")];
        assert!(catalog.insert_images(&batch).is_err());
        assert_eq!(catalog.image_count().unwrap(), 1);
        assert!(catalog.image_by_sha("bb22").unwrap().is_none());
    }
}
