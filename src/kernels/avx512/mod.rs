//! The blocked kernels' AVX-512 code ([`Intrinsics`] for [`Avx512`]): 16-lane vectors, a
//! 12 x 32 micro-kernel (24 of the 32 vector registers accumulate), packers and a transposed
//! unfolding that move 16 x 16 blocks through registers, and Winograd's transforms 16 images
//! at a time. Each function is compiled for AVX-512 alone (`#[target_feature]`), so the rest of
//! the crate builds for any x86-64 CPU and reaches this code only through a `Blocked` value.

mod gemm;
mod unfold;
mod winograd;

use super::gemm::MatRef;
use super::implicit::UnfoldedRows;
use super::intrinsics::Intrinsics;
use super::isa::Isa;
use super::layout::ConvGeometry;
use super::scratch::SharedOut;
use super::sgemm::{Run, Tap, TileTarget};
use super::winograd::{Nchw, PanelLayout, PhaseView, Source, TapLayout, Tiles};

/// Rows of `A` per micro-kernel call.
const MR: usize = 12;
/// Columns of `B` per micro-kernel call (two 16-lane registers).
const NR: usize = 32;
/// `f32` lanes of a register.
const LANES: usize = 16;

/// AVX-512F (with the AVX2 and FMA it implies).
#[derive(Debug, Clone, Copy)]
pub(super) struct Avx512;

impl Intrinsics for Avx512 {
    const MR: usize = MR;
    const NR: usize = NR;
    const LANES: usize = LANES;
    type TileBuffer = [f32; MR * NR];

    fn available() -> bool {
        Isa::current().has_avx512()
    }

    fn tile_buffer() -> Self::TileBuffer {
        [0.0; MR * NR]
    }

    unsafe fn micro_kernel(
        kc: usize,
        a: &[f32],
        b: &[f32],
        c: TileTarget,
        (rows, cols): (usize, usize),
        add: bool,
    ) {
        assert!(a.len() >= kc * MR && b.len() >= kc * NR && rows <= MR && cols <= NR);
        // SAFETY: the panels hold `kc` steps (asserted); `c` and the CPU as the caller promised.
        unsafe { gemm::micro_kernel(kc, a.as_ptr(), b.as_ptr(), c, (rows, cols), add) }
    }

    unsafe fn pack_rows(sources: &[&[f32]], panel: &mut [f32]) {
        // SAFETY: the caller promised AVX-512.
        unsafe { gemm::pack_rows(sources, panel) }
    }

    unsafe fn pack_transposed(
        m: &MatRef,
        p0: usize,
        first: usize,
        width: usize,
        panel: &mut [f32],
    ) {
        // SAFETY: the caller promised AVX-512.
        unsafe { gemm::pack_transposed(m, p0, first, width, panel) }
    }

    unsafe fn fold_run(run: Run, taps: &[Tap], g: &ConvGeometry, row: *mut f32, x0: isize) {
        // SAFETY: forwarded from the caller.
        unsafe {
            if g.stride <= 2 {
                gemm::add_run_summed(run, taps, g, row, x0)
            } else {
                gemm::add_run_row_by_row(run, taps, g, row, x0)
            }
        }
    }

    unsafe fn pack_unfolded_rows(
        rows: &UnfoldedRows,
        p0: usize,
        kc: usize,
        j0: usize,
        nc: usize,
        panels: &mut [f32],
    ) {
        // SAFETY: the caller promised AVX-512.
        unsafe { unfold::pack_rows(rows, p0, kc, j0, nc, panels) }
    }

    unsafe fn pack_unfolded_columns(
        rows: &UnfoldedRows,
        p0: usize,
        kc: usize,
        j0: usize,
        nc: usize,
        panels: &mut [f32],
    ) {
        // SAFETY: the caller promised AVX-512.
        unsafe { unfold::pack_columns(rows, p0, kc, j0, nc, panels) }
    }

    unsafe fn batch_minor_channel(x: &[f32], t: &Nchw, channel: usize, out: &mut [f32]) {
        // SAFETY: the caller promised AVX-512.
        unsafe { winograd::batch_minor_channel(x, t, channel, out) }
    }

    unsafe fn transform_kernels(weight: &[f32], taps: &TapLayout, row: usize, u: &mut [f32]) {
        // SAFETY: the caller promised AVX-512.
        unsafe { winograd::transform_kernels(weight, taps, row, u) }
    }

    unsafe fn transform_input(
        batch_minor: &[f32],
        t: &Nchw,
        source: (usize, &Source),
        tiles: &Tiles,
        layout: PanelLayout,
        v: SharedOut,
    ) {
        // SAFETY: forwarded from the caller.
        unsafe { winograd::transform_input(batch_minor, t, source, tiles, layout, v) }
    }

    unsafe fn transform_gradient(
        batch_minor: &[f32],
        t: &Nchw,
        channel: usize,
        tiles: &Tiles,
        gy: SharedOut,
    ) {
        // SAFETY: forwarded from the caller.
        unsafe { winograd::transform_gradient(batch_minor, t, channel, tiles, gy) }
    }

    unsafe fn untransform_kernels(
        du: &[f32],
        m_k: (usize, usize),
        row: usize,
        taps: &TapLayout,
        dw: &mut [f32],
    ) {
        // SAFETY: the caller promised AVX-512.
        unsafe { winograd::untransform_kernels(du, m_k, row, taps, dw) }
    }

    unsafe fn transform_output(
        products: &[f32],
        tiles: &Tiles,
        output: &Nchw,
        target: PhaseView,
        channel: usize,
        out: SharedOut,
    ) {
        // SAFETY: forwarded from the caller.
        unsafe { winograd::transform_output(products, tiles, output, target, channel, out) }
    }
}
