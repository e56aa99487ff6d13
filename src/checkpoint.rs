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

/// A card and its tensors compiled into the binary (`include_bytes!`), named `name` in errors.
pub fn embedded<C: serde::de::DeserializeOwned>(
    name: &str,
    card: &[u8],
    weights: &[u8],
    device: &Device,
) -> Result<(C, HashMap<String, Tensor>), CheckpointError> {
    let format = |reason: String| CheckpointError::Format {
        path: PathBuf::from(name),
        reason,
    };
    let card = serde_json::from_slice(card).map_err(|e| format(e.to_string()))?;
    let tensors = candle_core::safetensors::load_buffer(weights, device)
        .map_err(|e| format(e.to_string()))?;
    Ok((card, tensors))
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
    // The safetensors crate writes a sibling file of its own and renames it over `tmp`'s path:
    // the finished file is the one at the path now, not the one `tmp`'s handle holds.
    crate::atomic::publish_path(tmp.into_temp_path(), path).map_err(io(path))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_tensors_round_trip_and_are_readable_like_normal_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.safetensors");
        let tensor = Tensor::new(&[1f32, 2.0, 3.0], &Device::Cpu).unwrap();
        let tensors = HashMap::from([("w".to_string(), tensor)]);
        save_tensors(&tensors, &path).unwrap();
        save_tensors(&tensors, &path).unwrap();
        let loaded = load_tensors(&path, &Device::Cpu).unwrap();
        assert_eq!(loaded["w"].to_vec1::<f32>().unwrap(), vec![1.0, 2.0, 3.0]);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("w.safetensors")]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o644);
        }
    }
}
