//! Winograd's minimal filtering, F(4x4, 2x2), for the 4x4 stride-2 convolutions of a DCGAN's
//! inner layers, forward and both gradients, with blocked kernels (AVX-512): 25 multiplications
//! where the direct sum takes 64 (2.56 times fewer).
//!
//! A stride-2 4x4 convolution is a sum of four stride-1 2x2 correlations, one per phase of its
//! input (even or odd rows, even or odd columns): kernel tap `(2a + py, 2b + px)` only ever meets
//! pixels of one phase. Its data gradient (a transposed convolution) splits the other way: each
//! phase of the *image* is one stride-1 2x2 correlation of the output gradient with a quarter
//! of the flipped kernel. Every 2x2 correlation runs as F(4x4, 2x2) (Lavin and Gray, 2016): a
//! 5x5 input tile `d` and a 2x2 kernel `g` give the 4x4 output tile
//! `Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A`. Summed over input planes, the 25 element-wise products are 25
//! matrix products (our `sgemm`), one per point of the transform. The weight gradient is the
//! adjoint of the forward, step by step ([`weight_gradient`]).
//!
//! The transforms run a vector of images at a time, one per lane, so the batch is a multiple of
//! the vector's lanes (16 with AVX-512); the input is first copied batch-minor so that those
//! values are contiguous. The transforms themselves are an instruction set's
//! ([`Intrinsics::transform_input`] and the rest); this file holds the layouts, the tables and
//! the products, generic over it. The
//! interpolation points are 0, 1, -1, 2 and infinity: in f32 the result differs from the
//! direct sum by about 1e-5 of its largest value over 512 input channels (the test allows 1e-4).

use rayon::prelude::*;

use super::gemm::MatRef;
use super::intrinsics::Intrinsics;
use super::layout::ConvGeometry;
use super::scratch::{Scratch, SharedOut};
use super::sgemm::{self, PanelSource, Placement};

/// Outputs per tile side.
pub(super) const TILE: usize = 4;
/// Input values per tile side (`TILE` plus the kernel's 2 taps, less one).
pub(super) const POINTS: usize = 5;
/// Points of the 2D transform: one matrix product each.
pub(super) const TRANSFORM: usize = POINTS * POINTS;

/// `Bᵀ`: an input tile's rows (and then columns) to transform points.
pub(super) const B_T: [[f32; POINTS]; POINTS] = [
    [2.0, -1.0, -2.0, 1.0, 0.0],
    [0.0, -2.0, -1.0, 1.0, 0.0],
    [0.0, 2.0, -3.0, 1.0, 0.0],
    [0.0, -1.0, 0.0, 1.0, 0.0],
    [0.0, 2.0, -1.0, -2.0, 1.0],
];
/// `G`: a kernel's two taps to transform points.
pub(super) const G: [[f32; 2]; POINTS] = [
    [0.5, 0.0],
    [-0.5, -0.5],
    [-1.0 / 6.0, 1.0 / 6.0],
    [1.0 / 6.0, 1.0 / 3.0],
    [0.0, 1.0],
];
/// `Aᵀ`: transform points back to a tile's four outputs.
pub(super) const A_T: [[f32; POINTS]; TILE] = [
    [1.0, 1.0, 1.0, 1.0, 0.0],
    [0.0, 1.0, -1.0, 2.0, 0.0],
    [0.0, 1.0, 1.0, 4.0, 0.0],
    [0.0, 1.0, -1.0, 8.0, 1.0],
];

/// `A`: an output gradient tile's four values to transform points (the adjoint of `Aᵀ`).
pub(super) const A: [[f32; TILE]; POINTS] = transpose(A_T);
/// `Gᵀ`: transform points back to a kernel's two taps (the adjoint of `G`).
pub(super) const G_T: [[f32; POINTS]; 2] = transpose(G);

const fn transpose<const R: usize, const C: usize>(m: [[f32; C]; R]) -> [[f32; R]; C] {
    let mut t = [[0.0; R]; C];
    let mut i = 0;
    while i < R {
        let mut j = 0;
        while j < C {
            t[j][i] = m[i][j];
            j += 1;
        }
        i += 1;
    }
    t
}

/// Whether [`forward`], [`backward_data`] and [`weight_gradient`] take this convolution's shape
/// (where the implicit products run at all; see `plan`): a 4x4 kernel at stride 2, one group, a
/// batch of whole vectors (`lanes` images each), and products large enough to pay for the
/// transforms: at least 16 channels on each side (not an RGB layer) and 64 output tiles (two
/// micro-kernel panels; a 64x64 DCGAN's 4x4 layers at batch 16 have 16, and ran twice as slow
/// with the transforms: 12-17 against 7 ms forward, 2 threads).
pub(super) fn shape_fits(g: &ConvGeometry, groups: usize, c_out: usize, lanes: usize) -> bool {
    const MIN_CHANNELS: usize = 16;
    const MIN_TILES: usize = 64;
    let tiles = g.out_h.div_ceil(TILE) * g.out_w.div_ceil(TILE) * g.batch;
    groups == 1
        && (g.kernel_h, g.kernel_w, g.stride) == (4, 4, 2)
        && g.channels >= MIN_CHANNELS
        && c_out >= MIN_CHANNELS
        && g.batch > 0
        && g.batch.is_multiple_of(lanes)
        && tiles >= MIN_TILES
}

/// The shape of an NCHW tensor.
#[derive(Clone, Copy, Debug)]
pub(super) struct Nchw {
    pub(super) batch: usize,
    pub(super) channels: usize,
    pub(super) height: usize,
    pub(super) width: usize,
}

/// One phase of a tensor's planes seen as a plane of its own: its position `(r, c)` is pixel
/// `(step * r + phase.0, step * c + phase.1)`.
#[derive(Clone, Copy, Debug)]
pub(super) struct PhaseView {
    pub(super) step: usize,
    pub(super) phase: (usize, usize),
}

impl PhaseView {
    const WHOLE: PhaseView = PhaseView {
        step: 1,
        phase: (0, 0),
    };

    /// Rows and columns of this view of `t`'s planes.
    pub(super) fn extent(&self, t: &Nchw) -> (usize, usize) {
        let span = |size: usize, phase: usize| size.saturating_sub(phase).div_ceil(self.step);
        (span(t.height, self.phase.0), span(t.width, self.phase.1))
    }

    /// The pixel of view position `(r, c)`.
    pub(super) fn pixel(&self, r: usize, c: usize) -> (usize, usize) {
        (self.step * r + self.phase.0, self.step * c + self.phase.1)
    }
}

/// One input plane of a correlation: a channel of the input tensor seen through `view`, read
/// `shift` positions on (output `(r, c)` meets view positions `(r, c) + shift + (a, b)`).
#[derive(Clone, Copy, Debug)]
pub(super) struct Source {
    pub(super) channel: usize,
    pub(super) view: PhaseView,
    pub(super) shift: (isize, isize),
}

/// A set of 2x2 correlations writing one view of every channel of `output`:
/// `out[m] = Σ_k kernel(m, k) ⋆ sources[k]`.
struct Correlation<'a> {
    input: Nchw,
    sources: Vec<Source>,
    output: Nchw,
    target: PhaseView,
    weight: &'a [f32],
    taps: TapLayout,
}

/// Where the 2x2 kernels of a correlation lie in the 4x4 weight: output channel `m`'s kernel
/// for source `k` has tap `(a, b)` at `m * row_stride + source_offsets[k] + tap_step * (8a + 2b)`.
pub(super) struct TapLayout {
    pub(super) row_stride: usize,
    pub(super) source_offsets: Vec<i32>,
    /// 1 reads the taps in order, -1 flipped.
    pub(super) tap_step: i32,
}

impl TapLayout {
    /// # Panics
    /// If a tap of `rows` output channels lies outside a weight of `len` values (or past
    /// 32-bit offsets).
    fn new(
        len: usize,
        rows: usize,
        row_stride: usize,
        source_offsets: Vec<i32>,
        tap_step: i32,
    ) -> Self {
        let reach = 10 * tap_step as i64;
        let lowest = source_offsets.iter().min().map_or(0, |&o| o as i64) + reach.min(0);
        let highest = source_offsets.iter().max().map_or(0, |&o| o as i64)
            + reach.max(0)
            + (rows.saturating_sub(1) * row_stride) as i64;
        assert!(
            lowest >= 0 && highest < (len as i64).min(i32::MAX as i64),
            "kernel taps outside the weight"
        );
        TapLayout {
            row_stride,
            source_offsets,
            tap_step,
        }
    }
}

/// The phase (`0` or `1`) and shift of tap parity `tap` at padding `padding`: pixel
/// `2 * o + 2 * a + tap - padding` is `2 * (o + a + shift) + phase`.
fn phase_and_shift(tap: usize, padding: usize) -> (usize, isize) {
    let e = tap as isize - padding as isize;
    (e.rem_euclid(2) as usize, e.div_euclid(2))
}

/// Convolution forward (`x` on the image side, weight `(c_out, c, 4, 4)`) into `out`
/// (`(N, c_out, out_h, out_w)`), every element overwritten. Only where `plan` chose Winograd.
pub(super) fn forward<K: Intrinsics>(
    g: &ConvGeometry,
    c_out: usize,
    x: &[f32],
    w: &[f32],
    out: &mut [f32],
) {
    let input = image_side(g);
    let correlation = Correlation {
        input,
        sources: phase_sources(g),
        output: column_side(g, c_out),
        target: PhaseView::WHOLE,
        weight: w,
        taps: phase_taps(g, c_out),
    };
    let batch_minor = batch_minor::<K>(x, &input);
    correlation.run::<K>(&batch_minor, out);
}

/// The image's channels split by phase, as the forward's sources: source `k` is channel `k / 4`
/// under the taps of parity `(k / 2 % 2, k % 2)`.
fn phase_sources(g: &ConvGeometry) -> Vec<Source> {
    (0..g.channels)
        .flat_map(|c| (0..2).flat_map(move |py| (0..2).map(move |px| (c, py, px))))
        .map(|(channel, py, px)| {
            let (phase_y, shift_y) = phase_and_shift(py, g.padding);
            let (phase_x, shift_x) = phase_and_shift(px, g.padding);
            Source {
                channel,
                view: PhaseView {
                    step: 2,
                    phase: (phase_y, phase_x),
                },
                shift: (shift_y, shift_x),
            }
        })
        .collect()
}

/// Where the forward's kernels lie: tap `(2a + py, 2b + px)` of weight row `m` and source `k`
/// (channel `ic`, parity `(py, px)`) is at `m * 16c + 16 ic + 4 py + px + 8a + 2b`.
fn phase_taps(g: &ConvGeometry, c_out: usize) -> TapLayout {
    let offsets = (0..4 * g.channels)
        .map(|k| ((k / 4) * 16 + (k / 2 % 2) * 4 + k % 2) as i32)
        .collect();
    TapLayout::new(c_out * g.channels * 16, c_out, 16 * g.channels, offsets, 1)
}

/// Convolution weight gradient `(c_out, c, 4, 4)` of the image `x` and the column-side
/// gradient `dy` (summed over the batch) into `dw`, every element overwritten. Check
/// Only where `plan` chose Winograd.
///
/// The forward is linear in each point's kernel transform `U = G g Gᵀ`, so its gradient is
/// `dU = Σ_tiles (A dY Aᵀ) ⊙ (Bᵀ d B)`, one matrix product a point whose depth is the tiles,
/// and `dg = Gᵀ dU G` (the adjoint of every step of [`forward`]; exact, like it).
pub(super) fn weight_gradient<K: Intrinsics>(
    g: &ConvGeometry,
    c_out: usize,
    x: &[f32],
    dy: &[f32],
    dw: &mut [f32],
) {
    let (input, output) = (image_side(g), column_side(g, c_out));
    let sources = phase_sources(g);
    let taps = phase_taps(g, c_out);
    let (k, m) = (sources.len(), c_out);
    let tiles = Tiles {
        across: g.out_w.div_ceil(TILE),
        down: g.out_h.div_ceil(TILE),
        batch: g.batch,
    };
    let n = tiles.count();
    assert_eq!(
        dw.len(),
        m * taps.row_stride,
        "weight gradient of the wrong size"
    );
    // Both operands row-major a point: `v` (point, source, tile), `gy` (point, M, tile).
    let v = transform_sources::<K>(
        &batch_minor::<K>(x, &input),
        &input,
        &sources,
        &tiles,
        PanelLayout::rows(k, n),
    );
    let dy_minor = batch_minor::<K>(dy, &output);
    let mut gy = Scratch::take(TRANSFORM * m * n);
    let gy_out = SharedOut::new(&mut gy);
    (0..m).into_par_iter().for_each(|channel| {
        // SAFETY: `plan` chose Winograd, which it does only with a `Blocked` for `K`; `gy`
        // holds every point's `M x tiles` matrix, and each task writes only its own
        // channel's rows.
        unsafe { K::transform_gradient(&dy_minor, &output, channel, &tiles, gy_out) }
    });
    // `du` (point, M, K): one product a point, side by side.
    let mut du = Scratch::take(TRANSFORM * m * k);
    point_products(&mut du, (m, k), K::MR, |point, first_row, rows, du| {
        sgemm::product_on_this_thread::<K>(
            MatRef::row_major(&gy[(point * m + first_row) * n..], rows, n, n),
            &MatRef::row_major(&v[point * k * n..], k, n, n).t(),
            du,
            Placement::Rows { row_stride: k },
            false,
        );
    });
    dw.par_chunks_mut(taps.row_stride)
        .enumerate()
        // SAFETY: `plan` chose Winograd, which it does only with a `Blocked` for `K`.
        .for_each(|(row, dw)| unsafe { K::untransform_kernels(&du, (m, k), row, &taps, dw) });
}

/// Convolution data gradient (`dy` on the column side, weight `(c_out, c, 4, 4)`) into `dx`
/// (the image side), every element overwritten. Only where `plan` chose Winograd.
pub(super) fn backward_data<K: Intrinsics>(
    g: &ConvGeometry,
    c_out: usize,
    w: &[f32],
    dy: &[f32],
    dx: &mut [f32],
) {
    let input = column_side(g, c_out);
    let batch_minor = batch_minor::<K>(dy, &input);
    let c = g.channels;
    for phase_y in 0..2 {
        for phase_x in 0..2 {
            // The taps of this image phase have parity `p`, and pixel `2r + phase` meets
            // output row `r - shift - a` through tap `2a + p`; flipping the kernel (`a' = 1 - a`)
            // makes that a correlation read `-shift - 1` on.
            let parity = |phase: usize| (phase + g.padding) % 2;
            let (py, px) = (parity(phase_y), parity(phase_x));
            let shift = |p: usize| -phase_and_shift(p, g.padding).1 - 1;
            let sources = (0..c_out)
                .map(|channel| Source {
                    channel,
                    view: PhaseView::WHOLE,
                    shift: (shift(py), shift(px)),
                })
                .collect();
            // Flipped tap `(a, b)` of image channel `m` and output channel `k` is weight tap
            // `(2 (1 - a) + py, 2 (1 - b) + px)`: at `16 (k c + m) + 4 (2 + py) + 2 + px - 8a - 2b`.
            let offsets = (0..c_out)
                .map(|k| (k * c * 16 + (2 + py) * 4 + 2 + px) as i32)
                .collect();
            let correlation = Correlation {
                input,
                sources,
                output: image_side(g),
                target: PhaseView {
                    step: 2,
                    phase: (phase_y, phase_x),
                },
                weight: w,
                taps: TapLayout::new(w.len(), c, 16, offsets, -1),
            };
            correlation.run::<K>(&batch_minor, dx);
        }
    }
}

fn image_side(g: &ConvGeometry) -> Nchw {
    Nchw {
        batch: g.batch,
        channels: g.channels,
        height: g.height,
        width: g.width,
    }
}

fn column_side(g: &ConvGeometry, c_out: usize) -> Nchw {
    Nchw {
        batch: g.batch,
        channels: c_out,
        height: g.out_h,
        width: g.out_w,
    }
}

impl Correlation<'_> {
    /// Writes the target view of `out` from the input copied batch-minor.
    fn run<K: Intrinsics>(&self, batch_minor: &[f32], out: &mut [f32]) {
        let (rows, cols) = self.target.extent(&self.output);
        if rows == 0 || cols == 0 {
            return;
        }
        let tiles = Tiles {
            across: cols.div_ceil(TILE),
            down: rows.div_ceil(TILE),
            batch: self.input.batch,
        };
        let (k, m, n) = (self.sources.len(), self.output.channels, tiles.count());
        // `v` in the multiply's panel layout (no packing), `u` (M, point, K) so that each row's
        // transform writes one contiguous chunk.
        let v_layout = PanelLayout::panels(k, n, K::NR);
        let v = transform_sources::<K>(batch_minor, &self.input, &self.sources, &tiles, v_layout);
        let mut u = Scratch::take(m * TRANSFORM * k);
        u.par_chunks_mut(TRANSFORM * k)
            .enumerate()
            // SAFETY: `plan` chose Winograd, which it does only with a `Blocked` for `K`.
            .for_each(|(row, u)| unsafe { K::transform_kernels(self.weight, &self.taps, row, u) });
        // Products `(point, M, tile)`.
        let mut products = Scratch::take(TRANSFORM * m * n);
        let in_panels = |point: usize| InPanels {
            data: &v[point * v_layout.point_len()..][..v_layout.point_len()],
            rows: k,
            cols: n,
        };
        point_products(
            &mut products,
            (m, n),
            K::MR,
            |point, first_row, rows, out| {
                let u = &u[first_row * TRANSFORM * k + point * k..];
                sgemm::product_on_this_thread::<K>(
                    MatRef::row_major(u, rows, k, TRANSFORM * k),
                    &in_panels(point),
                    out,
                    Placement::Rows { row_stride: n },
                    false,
                );
            },
        );
        let target = SharedOut::new(out);
        assert!(
            out.len()
                >= self.output.batch
                    * self.output.channels
                    * self.output.height
                    * self.output.width
        );
        let products = &products;
        (0..m).into_par_iter().for_each(|channel| {
            // SAFETY: the instruction set as above; each task writes only its own channel's
            // pixels of the target view, inside `out` (asserted above).
            unsafe {
                K::transform_output(products, &tiles, &self.output, self.target, channel, target)
            }
        });
    }
}

/// Runs the 25 points' products side by side, each on one thread (one point's product is too
/// small to share well) and in two blocks of rows, so that two threads share 50 tasks evenly
/// (25 left one of them a product behind the other). `out` holds the points' `rows x width`
/// results one after another; `product(point, first row, rows, out)` computes one block, whose
/// rows are a multiple of the micro-kernel's `mr`.
fn point_products(
    out: &mut [f32],
    (rows, width): (usize, usize),
    mr: usize,
    product: impl Fn(usize, usize, usize, &mut [f32]) + Sync,
) {
    const BLOCKS: usize = 2;
    let block_rows = rows.div_ceil(BLOCKS).next_multiple_of(mr).max(1);
    out[..TRANSFORM * rows * width]
        .par_chunks_mut(rows * width)
        .enumerate()
        .for_each(|(point, out)| {
            out.par_chunks_mut(block_rows * width)
                .enumerate()
                .for_each(|(block, out)| {
                    product(point, block * block_rows, out.len() / width, out)
                });
        });
}

/// How output tiles are numbered: `(tile row * across + tile column) * batch + image`, so the
/// 16 images of a vector are neighbours.
#[derive(Clone, Copy, Debug)]
pub(super) struct Tiles {
    pub(super) across: usize,
    pub(super) down: usize,
    pub(super) batch: usize,
}

impl Tiles {
    pub(super) fn count(&self) -> usize {
        self.across * self.down * self.batch
    }
}

/// `t` (`(N, C, H, W)`) as `(C, H, W, N)`: the images of a pixel side by side.
fn batch_minor<K: Intrinsics>(x: &[f32], t: &Nchw) -> Scratch {
    let plane = t.height * t.width;
    assert_eq!(x.len(), t.batch * t.channels * plane);
    let mut out = Scratch::take(x.len());
    out.par_chunks_mut(plane * t.batch)
        .enumerate()
        .for_each(|(channel, out)| {
            // SAFETY: `plan` chose Winograd, which it does only with a `Blocked` for `K`.
            unsafe { K::batch_minor_channel(x, t, channel, out) }
        });
    out
}

/// Where the transformed input lies: each point's `sources x tiles` matrix as the multiply
/// packs its right-hand operand, `NR`-tile panels of `sources` rows (`(point, panel, source,
/// NR)`), so the product reads it in place.
#[derive(Clone, Copy, Debug)]
pub(super) struct PanelLayout {
    sources: usize,
    panels: usize,
    /// Tiles a panel: `NR`, or all of them (each point's matrix plain row-major).
    width: usize,
}

impl PanelLayout {
    /// The multiply's panels of `nr` tiles.
    fn panels(sources: usize, tiles: usize, nr: usize) -> Self {
        PanelLayout {
            sources,
            panels: tiles.div_ceil(nr),
            width: nr,
        }
    }

    /// Each point's `sources x tiles` matrix row-major.
    fn rows(sources: usize, tiles: usize) -> Self {
        PanelLayout {
            sources,
            panels: 1,
            width: tiles,
        }
    }

    pub(super) fn point_len(&self) -> usize {
        self.panels * self.sources * self.width
    }

    pub(super) fn offset(&self, point: usize, source: usize, tile: usize) -> usize {
        let w = self.width;
        point * self.point_len() + ((tile / w) * self.sources + source) * w + tile % w
    }
}

/// Every source's transformed tiles, laid out as `layout` says.
fn transform_sources<K: Intrinsics>(
    batch_minor: &[f32],
    input: &Nchw,
    sources: &[Source],
    tiles: &Tiles,
    layout: PanelLayout,
) -> Scratch {
    let mut v = Scratch::take(TRANSFORM * layout.point_len());
    let v_out = SharedOut::new(&mut v);
    sources.par_iter().enumerate().for_each(|(index, source)| {
        // SAFETY: `plan` chose Winograd, which it does only with a `Blocked` for `K`; `v` holds
        // every point of `layout`, and each task writes only its own source's rows.
        unsafe { K::transform_input(batch_minor, input, (index, source), tiles, layout, v_out) }
    });
    v
}

/// One point's transformed input, laid out as [`PanelLayout`] says: the multiply's packed panels
/// already (the values past the last tile are never stored as results).
struct InPanels<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
}

impl<K: Intrinsics> PanelSource<K> for InPanels<'_> {
    fn rows(&self) -> usize {
        self.rows
    }

    fn cols(&self) -> usize {
        self.cols
    }

    fn pack(&self, p0: usize, kc: usize, j0: usize, nc: usize, panels: &mut [f32]) {
        let nr = K::NR;
        sgemm::for_each_panel::<K>(panels, kc, (j0, nc), |first, _, panel| {
            panel.copy_from_slice(&self.data[(first / nr * self.rows + p0) * nr..][..kc * nr]);
        });
    }

    fn panels_in_place(&self, p0: usize, kc: usize, j0: usize) -> Option<(&[f32], usize)> {
        let nr = K::NR;
        assert!(j0.is_multiple_of(nr) && p0 + kc <= self.rows);
        Some((
            &self.data[(j0 / nr * self.rows + p0) * nr..],
            self.rows * nr,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::intrinsics::{Blocked, on_blocked};
    use crate::kernels::portable::Portable;

    fn values(len: usize, seed: u64) -> Vec<f32> {
        let mut state = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (0..len)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    /// The direct sums, in f64: the forward `(N, c_out, out_h, out_w)` and the data gradient
    /// of `dy` (the image side).
    fn direct(g: &ConvGeometry, c_out: usize, x: &[f32], w: &[f32], dy: &[f32]) -> [Vec<f64>; 3] {
        let mut y = vec![0.0f64; g.batch * c_out * g.positions()];
        let mut dx = vec![0.0f64; g.image_len()];
        let mut dw = vec![0.0f64; w.len()];
        for n in 0..g.batch {
            for o in 0..c_out {
                for oy in 0..g.out_h {
                    for ox in 0..g.out_w {
                        let out = ((n * c_out + o) * g.out_h + oy) * g.out_w + ox;
                        for c in 0..g.channels {
                            for ky in 0..4 {
                                for kx in 0..4 {
                                    let iy = (oy * 2 + ky) as isize - g.padding as isize;
                                    let ix = (ox * 2 + kx) as isize - g.padding as isize;
                                    if iy < 0
                                        || ix < 0
                                        || iy as usize >= g.height
                                        || ix as usize >= g.width
                                    {
                                        continue;
                                    }
                                    let pixel = ((n * g.channels + c) * g.height + iy as usize)
                                        * g.width
                                        + ix as usize;
                                    let index = ((o * g.channels + c) * 4 + ky) * 4 + kx;
                                    let tap = w[index] as f64;
                                    y[out] += tap * x[pixel] as f64;
                                    dx[pixel] += tap * dy[out] as f64;
                                    dw[index] += dy[out] as f64 * x[pixel] as f64;
                                }
                            }
                        }
                    }
                }
            }
        }
        [y, dx, dw]
    }

    fn assert_close(ours: &[f32], reference: &[f64], what: &str) {
        let scale = reference
            .iter()
            .fold(0.0f64, |m, v| m.max(v.abs()))
            .max(1e-12);
        let worst = ours
            .iter()
            .zip(reference)
            .fold(0.0f64, |m, (a, b)| m.max((*a as f64 - b).abs()));
        assert!(
            worst / scale < 1e-4,
            "{what}: max diff {worst} against max {scale}"
        );
    }

    /// Odd and even sizes (partial tiles, a last row no tap reaches), paddings 0-3 (both signs of
    /// every phase's shift), channel counts off the micro-kernel's sizes, one and two vectors of
    /// images, one and several threads.
    #[test]
    fn forward_and_both_gradients_match_the_direct_sums() {
        transforms_match_the_direct_sums::<Portable>();
        let Some(blocked) = Blocked::current() else {
            eprintln!("this CPU runs no blocked kernels: checked the portable transforms only");
            return;
        };
        on_blocked!(blocked, K => transforms_match_the_direct_sums::<K>());
    }

    fn transforms_match_the_direct_sums<K: Intrinsics>() {
        let cases = [
            // (batch, channels, height, width, c_out, padding)
            (64, 16, 8, 8, 16, 1),
            (32, 20, 9, 11, 17, 1),
            (32, 16, 13, 10, 24, 0),
            (16, 17, 12, 12, 16, 2),
            (16, 16, 7, 16, 19, 3),
            // 9 tiles an image: the last panel of tiles half full.
            (16, 16, 18, 18, 16, 1),
            // Forward and data gradient deeper than one block of the multiply (256).
            (64, 72, 8, 8, 20, 1),
            (64, 16, 8, 8, 264, 1),
            (64, 24, 4, 4, 32, 1),
        ];
        for threads in [1, 3] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            for (i, &(batch, channels, height, width, c_out, padding)) in cases.iter().enumerate() {
                let g = ConvGeometry::new((batch, channels, height, width), (4, 4), 2, padding)
                    .unwrap();
                assert!(
                    shape_fits(&g, 1, c_out, K::LANES),
                    "case {i} should take the transforms"
                );
                let x = values(g.image_len(), 1 + i as u64);
                let w = values(c_out * channels * 16, 100 + i as u64);
                let dy = values(batch * c_out * g.positions(), 200 + i as u64);
                let [y_ref, dx_ref, dw_ref] = direct(&g, c_out, &x, &w, &dy);
                // NaN first, so a value left unwritten shows.
                let mut y = vec![f32::NAN; y_ref.len()];
                let mut dx = vec![f32::NAN; dx_ref.len()];
                let mut dw = vec![f32::NAN; dw_ref.len()];
                pool.install(|| {
                    forward::<K>(&g, c_out, &x, &w, &mut y);
                    backward_data::<K>(&g, c_out, &w, &dy, &mut dx);
                    weight_gradient::<K>(&g, c_out, &x, &dy, &mut dw);
                });
                let case = format!("case {i}, {threads} threads");
                assert_close(&y, &y_ref, &format!("forward, {case}"));
                assert_close(&dx, &dx_ref, &format!("data gradient, {case}"));
                assert_close(&dw, &dw_ref, &format!("weight gradient, {case}"));
            }
        }
    }

    #[test]
    fn panels_packed_equal_the_panels_read_in_place() {
        packed_equal_in_place::<Portable>();
        let Some(blocked) = Blocked::current() else {
            eprintln!("this CPU runs no blocked kernels: checked the portable ones only");
            return;
        };
        on_blocked!(blocked, K => packed_equal_in_place::<K>());
    }

    fn packed_equal_in_place<K: Intrinsics>() {
        let layout = PanelLayout::panels(300, 80, K::NR);
        let data = values(layout.point_len(), 7);
        let operand = InPanels {
            data: &data,
            rows: layout.sources,
            cols: 80,
        };
        for (p0, kc, j0) in [(0, 256, 0), (256, 44, 32), (10, 5, 64)] {
            let nc = operand.cols - j0;
            let mut packed = vec![0.0; nc.div_ceil(K::NR) * K::NR * kc];
            PanelSource::<K>::pack(&operand, p0, kc, j0, nc, &mut packed);
            let (in_place, stride) =
                PanelSource::<K>::panels_in_place(&operand, p0, kc, j0).unwrap();
            for (q, panel) in packed.chunks(K::NR * kc).enumerate() {
                assert_eq!(
                    panel,
                    &in_place[q * stride..][..K::NR * kc],
                    "panel {q} of {p0}, {j0}"
                );
            }
        }
    }

    #[test]
    fn only_wide_stride_two_four_by_four_convolutions_with_whole_vectors_of_images_apply() {
        let g = |batch, channels, kernel, stride| {
            ConvGeometry::new((batch, channels, 16, 16), (kernel, kernel), stride, 1).unwrap()
        };
        assert!(shape_fits(&g(16, 16, 4, 2), 1, 16, 16));
        assert!(
            !shape_fits(&g(8, 16, 4, 2), 1, 16, 16),
            "half a vector of images"
        );
        let small = ConvGeometry::new((16, 16, 8, 8), (4, 4), 2, 1).unwrap();
        assert!(!shape_fits(&small, 1, 16, 16), "16 tiles");
        assert!(!shape_fits(&g(16, 3, 4, 2), 1, 64, 16), "an RGB input");
        assert!(!shape_fits(&g(16, 64, 4, 2), 1, 3, 16), "an RGB output");
        assert!(!shape_fits(&g(16, 16, 3, 2), 1, 16, 16), "a 3x3 kernel");
        assert!(!shape_fits(&g(16, 16, 4, 1), 1, 16, 16), "stride 1");
        assert!(!shape_fits(&g(16, 32, 4, 2), 2, 32, 16), "groups");
    }
}
