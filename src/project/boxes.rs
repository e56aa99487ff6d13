//! Garment boxes and review status in the catalog: read an image's boxes, save an image's
//! whole box set (and its status) in one transaction, and list the review queue.

use std::collections::HashMap;

use rusqlite::{OptionalExtension, params};

use super::catalog::{Catalog, CatalogError, ImageRow};
use crate::detect::boxes::BoxRect;
use crate::review::{GarmentBox, ImageStatus, Origin};

/// What the review queue knows of an image without opening it.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueEntry {
    pub image: ImageRow,
    pub status: ImageStatus,
    pub boxes: usize,
    /// The categories of its boxes, sorted, each once.
    pub categories: Vec<String>,
    /// The lowest and highest model score of its boxes, if it has model boxes.
    pub scores: Option<(f32, f32)>,
    pub has_model_boxes: bool,
    pub has_human_boxes: bool,
}

fn garment_box(r: &rusqlite::Row<'_>) -> rusqlite::Result<GarmentBox> {
    let origin: String = r.get(6)?;
    Ok(GarmentBox {
        id: Some(r.get(0)?),
        rect: BoxRect::new(r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?),
        category: r.get(5)?,
        origin: Origin::parse(&origin).unwrap_or(Origin::Human),
        score: r.get::<_, Option<f64>>(7)?.map(|s| s as f32),
        reviewed: r.get(8)?,
    })
}

/// Inserts a box of `image_id`; returns its new id.
fn insert_box(conn: &rusqlite::Connection, image_id: i64, b: &GarmentBox) -> rusqlite::Result<i64> {
    conn.execute(
        "INSERT INTO boxes (image_id, x0, y0, x1, y1, category, score, origin, reviewed)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            image_id,
            b.rect.x0 as f64,
            b.rect.y0 as f64,
            b.rect.x1 as f64,
            b.rect.y1 as f64,
            b.category,
            b.score.map(|s| s as f64),
            b.origin.as_str(),
            b.reviewed,
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

fn set_status(
    conn: &rusqlite::Connection,
    image_id: i64,
    status: ImageStatus,
) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE images SET status = ?1 WHERE id = ?2",
        params![status.as_str(), image_id],
    )
    .map(|_| ())
}

impl Catalog {
    /// An image's boxes, oldest first.
    pub fn boxes_of(&self, image_id: i64) -> Result<Vec<GarmentBox>, CatalogError> {
        let mut stmt = self
            .connection()
            .prepare(
                "SELECT id, x0, y0, x1, y1, category, origin, score, reviewed
                 FROM boxes WHERE image_id = ?1 ORDER BY id",
            )
            .map_err(|e| self.sqlite_error(e))?;
        stmt.query_map([image_id], garment_box)
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(|e| self.sqlite_error(e))
    }

    /// Makes `boxes` the image's boxes, and sets its status when given, in one transaction:
    /// stored boxes missing from `boxes` are deleted, the others updated, the new ones
    /// (`id: None`) inserted. Returns every box's id, in order.
    pub fn save_boxes(
        &self,
        image_id: i64,
        boxes: &[GarmentBox],
        status: Option<ImageStatus>,
    ) -> Result<Vec<i64>, CatalogError> {
        let err = |e| self.sqlite_error(e);
        let tx = self.connection().unchecked_transaction().map_err(err)?;
        let exists: Option<i64> = tx
            .query_row("SELECT id FROM images WHERE id = ?1", [image_id], |r| {
                r.get(0)
            })
            .optional()
            .map_err(err)?;
        if exists.is_none() {
            return Err(err(rusqlite::Error::QueryReturnedNoRows));
        }
        let kept: Vec<i64> = boxes.iter().filter_map(|b| b.id).collect();
        let stored: Vec<i64> = {
            let mut stmt = tx
                .prepare("SELECT id FROM boxes WHERE image_id = ?1")
                .map_err(err)?;
            stmt.query_map([image_id], |r| r.get(0))
                .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
                .map_err(err)?
        };
        for id in stored.iter().filter(|id| !kept.contains(id)) {
            tx.execute("DELETE FROM boxes WHERE id = ?1", [id])
                .map_err(err)?;
        }
        let mut ids = Vec::with_capacity(boxes.len());
        for b in boxes {
            match b.id.filter(|id| stored.contains(id)) {
                Some(id) => {
                    tx.execute(
                        "UPDATE boxes SET x0 = ?1, y0 = ?2, x1 = ?3, y1 = ?4, category = ?5,
                         score = ?6, origin = ?7, reviewed = ?8 WHERE id = ?9",
                        params![
                            b.rect.x0 as f64,
                            b.rect.y0 as f64,
                            b.rect.x1 as f64,
                            b.rect.y1 as f64,
                            b.category,
                            b.score.map(|s| s as f64),
                            b.origin.as_str(),
                            b.reviewed,
                            id,
                        ],
                    )
                    .map_err(err)?;
                    ids.push(id);
                }
                None => ids.push(insert_box(&tx, image_id, b).map_err(err)?),
            }
        }
        if let Some(status) = status {
            set_status(&tx, image_id, status).map_err(err)?;
        }
        tx.commit().map_err(err)?;
        Ok(ids)
    }

    /// Sets an image's review status alone.
    pub fn set_image_status(&self, image_id: i64, status: ImageStatus) -> Result<(), CatalogError> {
        let changed = self
            .connection()
            .execute(
                "UPDATE images SET status = ?1 WHERE id = ?2",
                params![status.as_str(), image_id],
            )
            .map_err(|e| self.sqlite_error(e))?;
        if changed == 0 {
            return Err(self.sqlite_error(rusqlite::Error::QueryReturnedNoRows));
        }
        Ok(())
    }

    /// Adds boxes to several images, and sets their status when given, in one transaction.
    pub fn add_boxes(
        &self,
        additions: &[(i64, Vec<GarmentBox>)],
        status: Option<ImageStatus>,
    ) -> Result<(), CatalogError> {
        let err = |e| self.sqlite_error(e);
        let tx = self.connection().unchecked_transaction().map_err(err)?;
        for (image_id, boxes) in additions {
            for b in boxes {
                insert_box(&tx, *image_id, b).map_err(err)?;
            }
            if let Some(status) = status {
                set_status(&tx, *image_id, status).map_err(err)?;
            }
        }
        tx.commit().map_err(err)
    }

    /// Replaces the model boxes of several images with `boxes`, in one transaction. Boxes
    /// people drew always stay; model boxes a person reviewed stay unless `reviewed_too`.
    pub fn replace_model_boxes(
        &self,
        images: &[(i64, Vec<GarmentBox>)],
        reviewed_too: bool,
    ) -> Result<(), CatalogError> {
        let err = |e| self.sqlite_error(e);
        let tx = self.connection().unchecked_transaction().map_err(err)?;
        for (image_id, boxes) in images {
            tx.execute(
                "DELETE FROM boxes WHERE image_id = ?1 AND origin = 'model'
                                         AND (reviewed = 0 OR ?2)",
                params![image_id, reviewed_too],
            )
            .map_err(err)?;
            for b in boxes {
                insert_box(&tx, *image_id, b).map_err(err)?;
            }
        }
        tx.commit().map_err(err)
    }

    /// Every image with what the queue filters on, oldest first.
    pub fn review_queue(&self) -> Result<Vec<QueueEntry>, CatalogError> {
        let err = |e| self.sqlite_error(e);
        let mut by_image: HashMap<i64, Vec<(String, Option<f64>, String)>> = HashMap::new();
        {
            let mut stmt = self
                .connection()
                .prepare("SELECT image_id, category, score, origin FROM boxes")
                .map_err(err)?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((r.get::<_, i64>(0)?, (r.get(1)?, r.get(2)?, r.get(3)?)))
                })
                .map_err(err)?;
            for row in rows {
                let (image, b) = row.map_err(err)?;
                by_image.entry(image).or_default().push(b);
            }
        }
        let images = self.list_images()?;
        Ok(images
            .into_iter()
            .map(|image| {
                let boxes = by_image.remove(&image.id).unwrap_or_default();
                let mut categories: Vec<String> = boxes.iter().map(|b| b.0.clone()).collect();
                categories.sort();
                categories.dedup();
                let scores = boxes.iter().filter_map(|b| b.1).fold(None, |acc, s| {
                    let s = s as f32;
                    Some(acc.map_or((s, s), |(lo, hi): (f32, f32)| (lo.min(s), hi.max(s))))
                });
                QueueEntry {
                    status: ImageStatus::parse(&image.status),
                    boxes: boxes.len(),
                    categories,
                    scores,
                    has_model_boxes: boxes.iter().any(|b| b.2 == "model"),
                    has_human_boxes: boxes.iter().any(|b| b.2 == "human"),
                    image,
                }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::catalog::{NewImage, SourceKind};

    fn catalog_with_images(dir: &std::path::Path, count: usize) -> (Catalog, Vec<i64>) {
        let mut catalog = Catalog::open(&dir.join("c.sqlite")).unwrap();
        let images: Vec<NewImage> = (0..count)
            .map(|i| NewImage {
                sha256: format!("{i:064x}"),
                path: format!("images/00/{i}.png"),
                width: 200,
                height: 100,
                dhash: i as u64,
                source_url: None,
                source_kind: SourceKind::File,
                original_name: None,
            })
            .collect();
        let ids = catalog.insert_images(&images).unwrap();
        (catalog, ids)
    }

    fn garment(x0: f32, category: &str, origin: Origin, score: Option<f32>) -> GarmentBox {
        GarmentBox {
            id: None,
            rect: BoxRect::new(x0, 5.0, x0 + 30.0, 60.0),
            category: category.into(),
            score,
            origin,
            reviewed: false,
        }
    }

    #[test]
    fn saving_inserts_updates_and_deletes_in_one_go() {
        let dir = tempfile::tempdir().unwrap();
        let (catalog, images) = catalog_with_images(dir.path(), 2);
        let mut boxes = vec![
            garment(0.0, "full", Origin::Model, Some(0.9)),
            garment(50.0, "upper", Origin::Human, None),
        ];
        let ids = catalog.save_boxes(images[0], &boxes, None).unwrap();
        assert_eq!(ids.len(), 2);
        for (b, id) in boxes.iter_mut().zip(&ids) {
            b.id = Some(*id);
        }
        assert_eq!(catalog.boxes_of(images[0]).unwrap(), boxes);

        // Move the first, drop the second, add a third; accept the image.
        boxes[0].rect.x0 = 2.0;
        boxes[0].reviewed = true;
        boxes.remove(1);
        boxes.push(garment(100.0, "lower", Origin::Human, None));
        let again = catalog
            .save_boxes(images[0], &boxes, Some(ImageStatus::Accepted))
            .unwrap();
        assert_eq!(again[0], ids[0], "an updated box keeps its id");
        assert!(!ids.contains(&again[1]));
        boxes[1].id = Some(again[1]);
        assert_eq!(catalog.boxes_of(images[0]).unwrap(), boxes);
        assert!(catalog.boxes_of(images[1]).unwrap().is_empty());

        let queue = catalog.review_queue().unwrap();
        assert_eq!(queue.len(), 2);
        assert_eq!(queue[0].status, ImageStatus::Accepted);
        assert_eq!(queue[0].boxes, 2);
        assert_eq!(queue[0].categories, ["full", "lower"]);
        assert_eq!(queue[0].scores, Some((0.9, 0.9)));
        assert!(queue[0].has_model_boxes && queue[0].has_human_boxes);
        assert_eq!(queue[1].status, ImageStatus::Unreviewed);
        assert_eq!(queue[1].boxes, 0);
    }

    #[test]
    fn a_failed_save_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (catalog, images) = catalog_with_images(dir.path(), 1);
        let first = vec![garment(0.0, "full", Origin::Human, None)];
        catalog.save_boxes(images[0], &first, None).unwrap();
        let before = catalog.boxes_of(images[0]).unwrap();
        // A trigger refuses the second box, halfway through the transaction.
        catalog
            .connection()
            .execute_batch("CREATE TRIGGER refuse BEFORE INSERT ON boxes WHEN NEW.category = 'bad' BEGIN SELECT RAISE(ABORT, 'refused'); END;")
            .unwrap();
        let bad = vec![
            garment(10.0, "upper", Origin::Human, None),
            garment(20.0, "bad", Origin::Human, None),
        ];
        assert!(
            catalog
                .save_boxes(images[0], &bad, Some(ImageStatus::Accepted))
                .is_err()
        );
        assert_eq!(catalog.boxes_of(images[0]).unwrap(), before);
        assert_eq!(
            catalog.review_queue().unwrap()[0].status,
            ImageStatus::Unreviewed
        );
        assert!(
            catalog.save_boxes(999, &first, None).is_err(),
            "no such image"
        );
    }
}
