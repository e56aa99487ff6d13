//! Keeping freed memory for reuse while training.
//!
//! glibc's malloc hands blocks above a (dynamic) threshold back to the kernel when they are freed,
//! and trims the top of its heap once enough is free there. A training step allocates and frees
//! the same tens of megabytes of activations, gradients and outputs every iteration, so each one
//! faulted in fresh zeroed pages again: about a million page faults per five 64x64 iterations,
//! 7% of the CPU time and 13% of the wall time on the development VM (`perf stat`, four
//! alternating pairs of `cargo bench --bench training -- --no-torch --row 1 --no-layers`).
//! Serving blocks up to 32 MiB from the heap and trimming it only past 512 MiB free cuts the
//! faults by 4x. Elsewhere (other C libraries, other systems) this does nothing.

/// Makes the process's allocator keep freed blocks for reuse (idempotent; see the module notes).
pub fn retain_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            // The largest mmap threshold glibc accepts on 64-bit systems.
            const MMAP_THRESHOLD: libc::c_int = 32 << 20;
            const TRIM_THRESHOLD: libc::c_int = 512 << 20;
            // SAFETY: mallopt only changes malloc's tuning parameters; it is called once, and
            // glibc serialises it with allocations through its own arena locks.
            unsafe {
                libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
                libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
            }
        });
    }
}
