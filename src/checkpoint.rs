//! Weights on disk: safetensors plus a JSON sidecar, both written atomically; loading checks
//! every tensor's presence and shape and names the one that is wrong.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use candle_nn::VarMap;

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {reason}")]
    Format { path: PathBuf, reason: String },
    #[error("{path}: tensor {name} is missing: the file is for another architecture")]
    Missing { path: PathBuf, name: String },
    #[error(
        "{path}: tensor {name} has shape {found:?}, this model needs {expected:?}: the file is for another architecture or image size"
    )]
    Shape {
        path: PathBuf,
        name: String,
        found: Vec<usize>,
        expected: Vec<usize>,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CheckpointError + '_ {
    move |source| CheckpointError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn format_err(path: &Path, reason: impl ToString) -> CheckpointError {
    CheckpointError::Format {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// Writes named tensors as safetensors, atomically.
pub fn save_tensors(tensors: &HashMap<String, Tensor>, path: &Path) -> Result<(), CheckpointError> {
    let parent = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(io(parent))?;
    let tmp = tempfile::Builder::new()
        .prefix(".deepstyle-")
        .suffix(".tmp")
        .tempfile_in(parent)
        .map_err(io(parent))?;
    candle_core::safetensors::save(tensors, tmp.path()).map_err(|e| format_err(path, e))?;
    crate::atomic::publish(tmp, path).map_err(io(path))
}

/// Reads every tensor of a safetensors file.
pub fn load_tensors(
    path: &Path,
    device: &Device,
) -> Result<HashMap<String, Tensor>, CheckpointError> {
    if !path.is_file() {
        return Err(CheckpointError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        });
    }
    candle_core::safetensors::load(path, device).map_err(|e| format_err(path, e))
}

/// The variables of `vars` as named tensors, with `prefix.` before each name.
pub fn named(vars: &VarMap, prefix: &str) -> HashMap<String, Tensor> {
    let Ok(data) = vars.data().lock() else {
        return HashMap::new();
    };
    data.iter()
        .map(|(name, var)| (format!("{prefix}{name}"), var.as_tensor().clone()))
        .collect()
}

/// Fills every variable of `vars` from `tensors[prefix + name]`, checking shapes first so a
/// wrong file changes nothing.
pub fn fill(
    vars: &VarMap,
    tensors: &HashMap<String, Tensor>,
    prefix: &str,
    path: &Path,
) -> Result<(), CheckpointError> {
    let data = vars
        .data()
        .lock()
        .map_err(|_| format_err(path, "variables are locked"))?;
    let mut names: Vec<&String> = data.keys().collect();
    names.sort();
    for name in &names {
        let key = format!("{prefix}{name}");
        let tensor = tensors.get(&key).ok_or_else(|| CheckpointError::Missing {
            path: path.to_path_buf(),
            name: key.clone(),
        })?;
        let expected = data[*name].dims().to_vec();
        if tensor.dims() != expected.as_slice() {
            return Err(CheckpointError::Shape {
                path: path.to_path_buf(),
                name: key,
                found: tensor.dims().to_vec(),
                expected,
            });
        }
    }
    for name in names {
        let tensor = &tensors[&format!("{prefix}{name}")];
        data[name]
            .set(
                &tensor
                    .to_dtype(candle_core::DType::F32)
                    .map_err(|e| format_err(path, e))?,
            )
            .map_err(|e| format_err(path, e))?;
    }
    Ok(())
}

/// Writes a JSON sidecar atomically.
pub fn save_json<T: serde::Serialize>(value: &T, path: &Path) -> Result<(), CheckpointError> {
    let text = serde_json::to_vec_pretty(value).map_err(|e| format_err(path, e))?;
    crate::atomic::write_atomic(path, &text).map_err(io(path))
}

pub fn load_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, CheckpointError> {
    let text = std::fs::read(path).map_err(io(path))?;
    serde_json::from_slice(&text).map_err(|e| format_err(path, format!("bad JSON sidecar: {e}")))
}

/// The sidecar of `weights.safetensors` is `weights.json`.
pub fn sidecar_path(weights: &Path) -> PathBuf {
    weights.with_extension("json")
}
