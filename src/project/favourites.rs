//! Favourite latent vectors, kept in the project catalog with their seed, the generator they
//! were picked with and a label.

use rusqlite::params;

use super::catalog::{Catalog, CatalogError};
use crate::latent::sample::Sample;

#[derive(Debug, Clone, PartialEq)]
pub struct Favourite {
    pub id: i64,
    pub sample: Sample,
    /// The generator (name or path) the z was picked with.
    pub generator: String,
}

impl Favourite {
    /// The name shown under its tile and in captions: the label, else `#seed`, else `fav ID`.
    pub fn name(&self) -> String {
        match (&self.sample.label, self.sample.seed) {
            (label, _) if !label.is_empty() => label.clone(),
            (_, Some(seed)) => format!("#{seed}"),
            _ => format!("fav {}", self.id),
        }
    }

    /// The sample as it goes into a grid or a latent file: named as its tile is.
    pub fn named_sample(&self) -> Sample {
        Sample {
            label: self.name(),
            ..self.sample.clone()
        }
    }
}

fn to_blob(z: &[f32]) -> Vec<u8> {
    z.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn from_blob(blob: &[u8]) -> Vec<f32> {
    blob.chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

impl Catalog {
    pub fn add_favourite(&self, sample: &Sample, generator: &str) -> Result<i64, CatalogError> {
        let conn = self.connection();
        conn.execute(
            "INSERT INTO favourites (seed, z_blob, label, generator, created_at)
             VALUES (?1, ?2, ?3, ?4, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
            params![
                sample.seed.map(|s| s as i64),
                to_blob(&sample.z),
                sample.label,
                generator
            ],
        )
        .map_err(|e| self.sqlite_error(e))?;
        Ok(conn.last_insert_rowid())
    }

    /// Oldest first.
    pub fn favourites(&self) -> Result<Vec<Favourite>, CatalogError> {
        let mut stmt = self
            .connection()
            .prepare("SELECT id, seed, z_blob, label, generator FROM favourites ORDER BY id")
            .map_err(|e| self.sqlite_error(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(Favourite {
                    id: r.get(0)?,
                    sample: Sample {
                        seed: r.get::<_, Option<i64>>(1)?.map(|s| s as u64),
                        z: from_blob(&r.get::<_, Vec<u8>>(2)?),
                        label: r.get(3)?,
                    },
                    generator: r.get(4)?,
                })
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(|e| self.sqlite_error(e))?;
        Ok(rows)
    }

    pub fn remove_favourite(&self, id: i64) -> Result<(), CatalogError> {
        self.connection()
            .execute("DELETE FROM favourites WHERE id = ?1", [id])
            .map_err(|e| self.sqlite_error(e))?;
        Ok(())
    }

    pub fn rename_favourite(&self, id: i64, label: &str) -> Result<(), CatalogError> {
        self.connection()
            .execute(
                "UPDATE favourites SET label = ?1 WHERE id = ?2",
                params![label, id],
            )
            .map_err(|e| self.sqlite_error(e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn favourites_persist_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog.sqlite");
        let z = crate::latent::z_from_seed(9, 100);
        let id = {
            let catalog = Catalog::open(&path).unwrap();
            let coat = Sample {
                seed: Some(9),
                label: "long coat".into(),
                z: z.clone(),
            };
            let id = catalog.add_favourite(&coat, "shipped").unwrap();
            catalog
                .add_favourite(&Sample::unnamed(vec![1.0, -2.5]), "run a")
                .unwrap();
            catalog.rename_favourite(id, "longer coat").unwrap();
            id
        };
        let catalog = Catalog::open(&path).unwrap();
        let favourites = catalog.favourites().unwrap();
        assert_eq!(favourites.len(), 2);
        assert_eq!(favourites[0].id, id);
        assert_eq!(favourites[0].sample.seed, Some(9));
        assert_eq!(favourites[0].sample.z, z);
        assert_eq!(favourites[0].name(), "longer coat");
        assert_eq!(favourites[1].sample.z, vec![1.0, -2.5]);
        assert_eq!(favourites[1].name(), format!("fav {}", favourites[1].id));
        catalog.remove_favourite(id).unwrap();
        assert_eq!(catalog.favourites().unwrap().len(), 1);
    }
}
