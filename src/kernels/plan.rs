//! One place that decides how a convolution runs, for each of its three products:
//!
//! - **Winograd** F(4x4, 2x2) for 4x4 stride-2 layers large enough to pay for the transforms
//!   ([`winograd::shape_fits`]);
//! - **implicit**: our blocked multiply packing tiles straight from the image (no column
//!   matrix) for the forward product and the weight gradient, and folding finished tiles
//!   straight onto the image for the data gradient;
//! - **explicit**: im2col / col2im around a threaded `gemm`, everywhere else and on every CPU.
//!
//! The first two run on an instruction set's [`Intrinsics`]: the path carries the [`Blocked`]
//! value that says which, so a path exists only where its code can run.
//!
//! The kernels in `conv.rs` ask [`plan`] and run what it says; tests force the other paths with
//! [`force_explicit`] and [`force_no_winograd`] to compare them on one machine.

use super::implicit::PhasePlanes;
use super::intrinsics::Blocked;
#[cfg(doc)]
use super::intrinsics::Intrinsics;
use super::isa::Overrides;
use super::layout::ConvGeometry;
use super::winograd;

/// How one product of a convolution runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConvPath {
    Winograd(Blocked),
    Implicit(Blocked),
    Explicit,
}

/// Which product of a convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    /// `W · im2col(x)` (also a transposed convolution's data gradient).
    Forward,
    /// The image side's gradient (also a transposed convolution's forward product).
    DataGradient,
    /// The weight gradient (and with it, in one pass, either side's gradient).
    WeightGradient,
}

/// The weight gradient's product is as wide as the group's column matrix has rows: below this
/// it runs explicitly. A one-channel input (16 rows under a 4x4 kernel) leaves it one half-empty
/// micro-tile wide on one thread: a 32x32 DCGAN's first and last layers ran their backward 2x
/// slower implicitly (2 threads, 1.5-2.4 -> 3.2-4.9 ms), where an RGB one (48 rows) ran faster
/// (64x64 DCGAN, G4 20-23 -> 15-18 ms, D0 17-18 -> 15 ms).
const IMPLICIT_MIN_GRADIENT_ROWS: usize = 32;

/// How the `pass` product of a convolution of geometry `g` runs on this machine.
///
/// Winograd needs what the implicit products need (see [`implicit_kernels`]) and its own shapes.
pub fn plan(g: &ConvGeometry, groups: usize, c_out: usize, pass: Pass) -> ConvPath {
    let wide_enough = g.col_rows() / groups.max(1) >= IMPLICIT_MIN_GRADIENT_ROWS;
    let Some(blocked) = implicit_kernels(g) else {
        return ConvPath::Explicit;
    };
    if pass == Pass::WeightGradient && !wide_enough {
        return ConvPath::Explicit;
    }
    let winograd = !Overrides::get().no_winograd
        && !forced::no_winograd()
        && winograd::shape_fits(g, groups, c_out, blocked.lanes());
    if winograd {
        ConvPath::Winograd(blocked)
    } else {
        ConvPath::Implicit(blocked)
    }
}

/// The blocked kernels that can unfold (or fold) this geometry's tiles themselves, if any: the
/// CPU runs an implementation ([`Blocked::current`]) and the kernel slides. A kernel covering
/// the whole image (a DCGAN's first and last layers) has one-value output rows, which the
/// explicit path unfolds by a plain transpose (twice as fast as row-by-row packing). The
/// gathers' 32-bit offsets must also reach across the images they span ([`PhasePlanes::fits`]).
pub fn implicit_kernels(g: &ConvGeometry) -> Option<Blocked> {
    let blocked = Blocked::current()?;
    (!g.kernel_covers_image() && PhasePlanes::fits(g, blocked.lanes()) && !forced::explicit())
        .then_some(blocked)
}

/// Runs `f` with the explicit path forced on this thread (tests compare the paths).
#[cfg(test)]
pub fn force_explicit<R>(f: impl FnOnce() -> R) -> R {
    forced::with(&forced::EXPLICIT, f)
}

/// Runs `f` with the Winograd transforms off on this thread (tests compare the products).
#[cfg(test)]
pub fn force_no_winograd<R>(f: impl FnOnce() -> R) -> R {
    forced::with(&forced::NO_WINOGRAD, f)
}

#[cfg(test)]
mod forced {
    use std::cell::Cell;
    use std::thread::LocalKey;

    thread_local! {
        pub static EXPLICIT: Cell<bool> = const { Cell::new(false) };
        pub static NO_WINOGRAD: Cell<bool> = const { Cell::new(false) };
    }

    pub fn explicit() -> bool {
        EXPLICIT.with(Cell::get)
    }

    pub fn no_winograd() -> bool {
        NO_WINOGRAD.with(Cell::get)
    }

    pub fn with<R>(flag: &'static LocalKey<Cell<bool>>, f: impl FnOnce() -> R) -> R {
        let before = flag.with(|c| c.replace(true));
        let result = f();
        flag.with(|c| c.set(before));
        result
    }
}

#[cfg(not(test))]
mod forced {
    pub fn explicit() -> bool {
        false
    }

    pub fn no_winograd() -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_that_cover_the_image_and_every_forced_layer_run_explicitly() {
        // A DCGAN's first layer: a 4x4 kernel over a 4x4 image.
        let first = ConvGeometry::transposed((64, 256, 1, 1), (4, 4), 1, 0).unwrap();
        assert!(first.kernel_covers_image());
        for pass in [Pass::Forward, Pass::DataGradient, Pass::WeightGradient] {
            assert_eq!(plan(&first, 1, 100, pass), ConvPath::Explicit);
        }
        let middle = ConvGeometry::new((64, 64, 16, 16), (4, 4), 2, 1).unwrap();
        force_explicit(|| {
            for pass in [Pass::Forward, Pass::DataGradient, Pass::WeightGradient] {
                assert_eq!(plan(&middle, 1, 128, pass), ConvPath::Explicit);
            }
        });
    }

    #[test]
    fn the_paths_follow_the_instruction_set() {
        let middle = ConvGeometry::new((64, 64, 16, 16), (4, 4), 2, 1).unwrap();
        let forward = plan(&middle, 1, 128, Pass::Forward);
        let Some(blocked) = Blocked::current() else {
            assert_eq!(
                forward,
                ConvPath::Explicit,
                "no blocked kernels, no implicit product"
            );
            return;
        };
        assert_eq!(
            Blocked::current().is_some(),
            super::super::isa::Isa::current().has_avx512(),
            "AVX-512 is the one instruction set with blocked kernels"
        );
        let winograd_on = !Overrides::get().no_winograd;
        let expected = if winograd_on {
            ConvPath::Winograd(blocked)
        } else {
            ConvPath::Implicit(blocked)
        };
        assert_eq!(forward, expected);
        assert_eq!(
            force_no_winograd(|| plan(&middle, 1, 128, Pass::Forward)),
            ConvPath::Implicit(blocked)
        );
        assert_eq!(
            force_no_winograd(|| plan(&middle, 1, 128, Pass::DataGradient)),
            ConvPath::Implicit(blocked)
        );
        // A one-channel input's gradient product is too narrow to pay.
        let grey = ConvGeometry::new((64, 1, 32, 32), (4, 4), 2, 1).unwrap();
        assert_eq!(plan(&grey, 1, 32, Pass::WeightGradient), ConvPath::Explicit);
        assert_eq!(
            plan(&grey, 1, 32, Pass::Forward),
            ConvPath::Implicit(blocked)
        );
    }
}
