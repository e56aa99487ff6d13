//! Which instruction sets the kernels use, decided once per process: the CPU's features, less
//! what the environment turns off. Every kernel asks here instead of detecting on its own, so
//! one switch moves them all, and a test or a benchmark can name the path it ran.
//!
//! Environment overrides (read once, at the first kernel call):
//! - `DEEPSTYLE_NO_AVX512`: run as on a CPU without AVX-512 (the explicit im2col + `gemm` path),
//!   to compare both paths on one machine;
//! - `DEEPSTYLE_NO_WINOGRAD`: the 4x4 stride-2 layers run the direct products instead;
//! - `DEEPSTYLE_SLICE_MIB`: the batch-slice size of the explicit path, for tuning other CPUs.

use std::sync::OnceLock;

/// The instruction sets the kernels have code for, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Isa {
    /// What every x86-64 (or other) CPU runs: the crate's portable code and `gemm`.
    Baseline,
    /// 8-float vectors for the element-wise loops (BatchNorm, activations, col2im, Adam).
    Avx2,
    /// Our own blocked multiply, the implicit convolution and the Winograd transforms.
    Avx512,
}

impl Isa {
    /// The instruction set this process runs.
    pub fn current() -> Isa {
        static CURRENT: OnceLock<Isa> = OnceLock::new();
        *CURRENT.get_or_init(|| Isa::detect(Overrides::get().no_avx512))
    }

    /// This CPU's best, capped below AVX-512 when `no_avx512`.
    fn detect(no_avx512: bool) -> Isa {
        #[cfg(target_arch = "x86_64")]
        {
            let avx2 = std::arch::is_x86_feature_detected!("avx2");
            let avx512 = avx2 && std::arch::is_x86_feature_detected!("avx512f");
            match (avx512 && !no_avx512, avx2) {
                (true, _) => Isa::Avx512,
                (false, true) => Isa::Avx2,
                (false, false) => Isa::Baseline,
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = no_avx512;
            Isa::Baseline
        }
    }

    pub fn has_avx2(self) -> bool {
        self >= Isa::Avx2
    }

    pub fn has_avx512(self) -> bool {
        self >= Isa::Avx512
    }

    pub fn name(self) -> &'static str {
        match self {
            Isa::Baseline => "baseline",
            Isa::Avx2 => "AVX2",
            Isa::Avx512 => "AVX-512",
        }
    }
}

/// What the environment turns off or tunes, read once.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Overrides {
    pub no_avx512: bool,
    pub no_winograd: bool,
    /// The explicit path's batch-slice size in MiB, when set.
    pub slice_mib: Option<usize>,
}

impl Overrides {
    pub fn get() -> &'static Overrides {
        static READ: OnceLock<Overrides> = OnceLock::new();
        READ.get_or_init(|| Overrides::from_lookup(|name| std::env::var(name).ok()))
    }

    /// The overrides `lookup` (an environment) sets.
    fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Overrides {
        Overrides {
            no_avx512: lookup("DEEPSTYLE_NO_AVX512").is_some(),
            no_winograd: lookup("DEEPSTYLE_NO_WINOGRAD").is_some(),
            slice_mib: lookup("DEEPSTYLE_SLICE_MIB").and_then(|v| v.trim().parse().ok()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_come_from_the_environment() {
        let none = Overrides::from_lookup(|_| None);
        assert_eq!(none, Overrides::default());
        let all = Overrides::from_lookup(|name| match name {
            "DEEPSTYLE_SLICE_MIB" => Some(" 6 ".into()),
            _ => Some(String::new()),
        });
        assert!(all.no_avx512 && all.no_winograd);
        assert_eq!(all.slice_mib, Some(6));
        let bad =
            Overrides::from_lookup(|name| (name == "DEEPSTYLE_SLICE_MIB").then(|| "lots".into()));
        assert_eq!(bad.slice_mib, None, "an unreadable size keeps the default");
    }

    #[test]
    fn turning_avx512_off_never_raises_the_level() {
        let capped = Isa::detect(true);
        assert!(!capped.has_avx512());
        assert!(capped <= Isa::detect(false));
        assert!(Isa::current() <= Isa::detect(false));
        if Isa::detect(false).has_avx512() {
            assert!(capped.has_avx2(), "an AVX-512 CPU keeps its AVX2 loops");
        }
    }
}
