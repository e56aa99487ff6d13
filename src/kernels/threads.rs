//! Sharing the cores with Candle's own worker threads.
//!
//! Candle runs its CPU elementwise ops (the gradient sums of every backward pass among them) on
//! a barrier pool of its own, whose workers spin 25,000 times after each op before they sleep.
//! The kernels here run on rayon's pool, on the same cores, and usually right after such an op:
//! on a 2-core machine the spinning worker takes a core from the next convolution. A spin of
//! 100 lets it sleep at once; the 32x32 training iteration ran 6% faster that way (0.356 vs
//! 0.378 s, four alternating pairs of `cargo bench --bench training -- --no-torch --row 3
//! --no-layers`, with and without `CANDLE_BARRIER_POOL_SPIN_LIMIT=100`).

/// Candle's environment variable for the spin, read when its pool starts.
const SPIN_LIMIT_VARIABLE: &str = "CANDLE_BARRIER_POOL_SPIN_LIMIT";
const SPIN_LIMIT: &str = "100";

/// Shortens the spin of Candle's pool workers, unless the user chose one.
///
/// # Safety
/// Sets an environment variable: call it first thing in `main`, while no other thread runs
/// (Candle reads it when its pool starts, on first use).
pub unsafe fn shorten_candle_spin() {
    if std::env::var_os(SPIN_LIMIT_VARIABLE).is_none() {
        // SAFETY: the caller guarantees no other thread reads or writes the environment.
        unsafe { std::env::set_var(SPIN_LIMIT_VARIABLE, SPIN_LIMIT) };
    }
}
