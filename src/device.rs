//! Which compute device to run models on: `cpu` (always), `cuda` or `metal` (cargo features).

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceChoice {
    #[default]
    Cpu,
    Cuda,
    Metal,
}

#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("unknown device '{0}': expected cpu, cuda or metal")]
    Unknown(String),
    #[error(
        "device '{0}' is not compiled into this build: rebuild with `cargo build --release --features {0}`"
    )]
    NotCompiled(DeviceChoice),
    /// `reason` is the backend's error, its first line only (a backtrace may follow it).
    #[error("could not open device '{choice}': {reason}")]
    Open {
        choice: DeviceChoice,
        reason: String,
    },
}

impl DeviceChoice {
    pub const ALL: [DeviceChoice; 3] = [DeviceChoice::Cpu, DeviceChoice::Cuda, DeviceChoice::Metal];

    pub fn name(self) -> &'static str {
        match self {
            DeviceChoice::Cpu => "cpu",
            DeviceChoice::Cuda => "cuda",
            DeviceChoice::Metal => "metal",
        }
    }

    /// Whether this build carries the backend for this device.
    pub fn is_compiled(self) -> bool {
        match self {
            DeviceChoice::Cpu => true,
            DeviceChoice::Cuda => cfg!(feature = "cuda"),
            DeviceChoice::Metal => cfg!(feature = "metal"),
        }
    }

    /// Opens the Candle device (ordinal 0 for GPUs).
    pub fn open(self) -> Result<candle_core::Device, DeviceError> {
        if !self.is_compiled() {
            return Err(DeviceError::NotCompiled(self));
        }
        let opened = match self {
            DeviceChoice::Cpu => Ok(candle_core::Device::Cpu),
            DeviceChoice::Cuda => candle_core::Device::new_cuda(0),
            DeviceChoice::Metal => candle_core::Device::new_metal(0),
        };
        opened.map_err(|e| DeviceError::Open {
            choice: self,
            reason: e.to_string().lines().next().unwrap_or_default().to_string(),
        })
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for DeviceChoice {
    type Err = DeviceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DeviceChoice::ALL
            .into_iter()
            .find(|d| d.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| DeviceError::Unknown(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_rejects_unknown() {
        assert_eq!("CPU".parse::<DeviceChoice>().unwrap(), DeviceChoice::Cpu);
        assert_eq!("cuda".parse::<DeviceChoice>().unwrap(), DeviceChoice::Cuda);
        let err = "tpu".parse::<DeviceChoice>().unwrap_err().to_string();
        assert!(
            err.contains("tpu") && err.contains("cpu, cuda or metal"),
            "{err}"
        );
    }

    #[test]
    fn cpu_always_opens_and_missing_features_say_how_to_rebuild() {
        assert!(DeviceChoice::Cpu.open().unwrap().is_cpu());
        if !cfg!(feature = "cuda") {
            let err = DeviceChoice::Cuda.open().unwrap_err().to_string();
            assert!(err.contains("--features cuda"), "{err}");
        }
    }
}
