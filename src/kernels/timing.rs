//! Where a training iteration's time goes: every kernel op adds its wall-clock time to its
//! kind's counter (two clock reads and an atomic add per op, against ops of a millisecond or
//! more). The training bench prints the split per iteration; what no kernel covers is Candle's
//! own ops and autograd (gradient sums, the loss, copies).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The kinds of kernel work that are timed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    /// A convolution's forward product (`W · im2col(x)`), also a transposed convolution's data
    /// gradient asked for alone.
    ConvForward,
    /// The image-side product (`col2im(Wᵀ · dy)`): a convolution's data gradient asked for
    /// alone, a transposed convolution's forward.
    ConvImageSide,
    /// A weight gradient asked for alone.
    ConvWeightGradient,
    /// Both gradients of a convolution in one pass.
    ConvBothGradients,
    /// BatchNorm (+ activation) forward.
    BatchNormForward,
    /// BatchNorm (+ activation) backward.
    BatchNormBackward,
    /// A standalone activation, forward or backward.
    Activation,
    /// An Adam update of one parameter.
    Adam,
}

impl Kernel {
    pub const ALL: [Kernel; 8] = [
        Kernel::ConvForward,
        Kernel::ConvImageSide,
        Kernel::ConvWeightGradient,
        Kernel::ConvBothGradients,
        Kernel::BatchNormForward,
        Kernel::BatchNormBackward,
        Kernel::Activation,
        Kernel::Adam,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Kernel::ConvForward => "conv forward",
            Kernel::ConvImageSide => "conv image side (col2im)",
            Kernel::ConvWeightGradient => "conv weight gradient",
            Kernel::ConvBothGradients => "conv both gradients",
            Kernel::BatchNormForward => "batch norm forward",
            Kernel::BatchNormBackward => "batch norm backward",
            Kernel::Activation => "activation",
            Kernel::Adam => "adam",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

static NANOS: [AtomicU64; Kernel::ALL.len()] = [const { AtomicU64::new(0) }; Kernel::ALL.len()];

/// Adds the time until it is dropped to `kernel`'s counter.
pub(super) struct Timed {
    kernel: Kernel,
    start: Instant,
}

impl Timed {
    pub(super) fn start(kernel: Kernel) -> Self {
        Timed {
            kernel,
            start: Instant::now(),
        }
    }
}

impl Drop for Timed {
    fn drop(&mut self) {
        let nanos = u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        NANOS[self.kernel.index()].fetch_add(nanos, Ordering::Relaxed);
    }
}

/// The time each kind of kernel has taken since the last call (in this process, all threads
/// together), and resets the counters.
pub fn take() -> Vec<(Kernel, Duration)> {
    Kernel::ALL
        .iter()
        .map(|&kernel| {
            let nanos = NANOS[kernel.index()].swap(0, Ordering::Relaxed);
            (kernel, Duration::from_nanos(nanos))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timed_work_lands_in_its_own_counter() {
        // Other tests run kernels concurrently, so only this kind's lower bound is certain.
        {
            let _timed = Timed::start(Kernel::Adam);
            std::thread::sleep(Duration::from_millis(20));
        }
        let adam = take()
            .into_iter()
            .find(|(kernel, _)| *kernel == Kernel::Adam)
            .map(|(_, time)| time);
        assert!(adam.is_some_and(|t| t >= Duration::from_millis(20)));
    }
}
