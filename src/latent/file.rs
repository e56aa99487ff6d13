//! Latent vectors exchanged as JSON, so a colleague can reproduce exactly these garments:
//! `{"format": "deepstyle-latents/1", "generator": ..., "z_dim": 100, "latents": [{"seed": 3,
//! "label": "...", "z": [...]}]}`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::sample::Sample;

pub const FORMAT: &str = "deepstyle-latents/1";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatentFile {
    pub format: String,
    /// Which generator the vectors were chosen with (a name or path; informative).
    #[serde(default)]
    pub generator: String,
    pub z_dim: usize,
    pub latents: Vec<Sample>,
}

#[derive(Debug, thiserror::Error)]
pub enum LatentFileError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a latent file: {reason}")]
    Format { path: PathBuf, reason: String },
}

impl LatentFile {
    pub fn new(generator: &str, z_dim: usize, latents: Vec<Sample>) -> Self {
        LatentFile {
            format: FORMAT.into(),
            generator: generator.into(),
            z_dim,
            latents,
        }
    }

    /// Writes atomically (temporary file, then rename).
    pub fn save(&self, path: &Path) -> Result<(), LatentFileError> {
        let json = serde_json::to_vec_pretty(self).map_err(|e| LatentFileError::Format {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        crate::atomic::write_atomic(path, &json).map_err(|source| LatentFileError::Io {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Reads and checks a file: the format tag, every z of length `z_dim` and finite.
    pub fn load(path: &Path) -> Result<Self, LatentFileError> {
        let bytes = std::fs::read(path).map_err(|source| LatentFileError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let format_err = |reason: String| LatentFileError::Format {
            path: path.to_path_buf(),
            reason,
        };
        let file: LatentFile =
            serde_json::from_slice(&bytes).map_err(|e| format_err(e.to_string()))?;
        if file.format != FORMAT {
            return Err(format_err(format!(
                "format is {:?}, expected {FORMAT:?}",
                file.format
            )));
        }
        for (i, entry) in file.latents.iter().enumerate() {
            if entry.z.len() != file.z_dim {
                return Err(format_err(format!(
                    "latent {i} has {} values, the file says z_dim {}",
                    entry.z.len(),
                    file.z_dim
                )));
            }
            if entry.z.iter().any(|v| !v.is_finite()) {
                return Err(format_err(format!("latent {i} holds a non-finite value")));
            }
        }
        Ok(file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_bad_files_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("picks.json");
        let file = LatentFile::new(
            "shipped",
            4,
            vec![
                Sample {
                    seed: Some(3),
                    label: "red coat".into(),
                    z: vec![0.1, -0.2, 3.0, 1e-7],
                },
                Sample {
                    seed: None,
                    label: String::new(),
                    z: vec![1.0, 2.0, 3.0, 4.0],
                },
            ],
        );
        file.save(&path).unwrap();
        assert_eq!(LatentFile::load(&path).unwrap(), file);

        let bad = dir.path().join("bad.json");
        std::fs::write(
            &bad,
            r#"{"format":"deepstyle-latents/1","z_dim":3,"latents":[{"seed":1,"z":[1,2]}]}"#,
        )
        .unwrap();
        let message = LatentFile::load(&bad).unwrap_err().to_string();
        assert!(
            message.contains("bad.json") && message.contains("2 values"),
            "{message}"
        );
        std::fs::write(&bad, "not json").unwrap();
        assert!(
            LatentFile::load(&bad)
                .unwrap_err()
                .to_string()
                .contains("bad.json")
        );
    }
}
