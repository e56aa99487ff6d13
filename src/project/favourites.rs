//! Favourite latent vectors, kept in the project catalog with their seed, the generator they
//! were picked with and a label.

use rusqlite::params;

use super::catalog::{Catalog, CatalogError};

#[derive(Debug, Clone, PartialEq)]
pub struct Favourite {
    pub id: i64,
    pub seed: Option<u64>,
    pub z: Vec<f32>,
    pub label: String,
    /// The generator (name or path) the z was picked with.
    pub generator: String,
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
    pub fn add_favourite(
        &self,
        seed: Option<u64>,
        z: &[f32],
        label: &str,
        generator: &str,
    ) -> Result<i64, CatalogError> {
        let conn = self.connection();
        conn.execute(
            "INSERT INTO favourites (seed, z_blob, label, generator, created_at)
             VALUES (?1, ?2, ?3, ?4, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
            params![seed.map(|s| s as i64), to_blob(z), label, generator],
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
                    seed: r.get::<_, Option<i64>>(1)?.map(|s| s as u64),
                    z: from_blob(&r.get::<_, Vec<u8>>(2)?),
                    label: r.get(3)?,
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
            let id = catalog
                .add_favourite(Some(9), &z, "long coat", "shipped")
                .unwrap();
            catalog
                .add_favourite(None, &[1.0, -2.5], "", "run a")
                .unwrap();
            catalog.rename_favourite(id, "longer coat").unwrap();
            id
        };
        let catalog = Catalog::open(&path).unwrap();
        let favourites = catalog.favourites().unwrap();
        assert_eq!(favourites.len(), 2);
        assert_eq!(favourites[0].id, id);
        assert_eq!(favourites[0].seed, Some(9));
        assert_eq!(favourites[0].z, z);
        assert_eq!(favourites[0].label, "longer coat");
        assert_eq!(favourites[1].z, vec![1.0, -2.5]);
        catalog.remove_favourite(id).unwrap();
        assert_eq!(catalog.favourites().unwrap().len(), 1);
    }
}
