//! A plain-Rust [`Intrinsics`] with a small block shape (4 x 8 tiles, 4 lanes), for tests: the
//! portable blocking, packing order, layouts and threading of `sgemm`, `implicit` and
//! `winograd` run on it on every CPU, against the same references as the AVX-512 code, and it
//! shows what another instruction set implements. Each function states in scalar code what
//! its vector counterpart in `avx512/` does.

use super::gemm::MatRef;
use super::implicit::{Shift, UnfoldedRows, position};
use super::intrinsics::Intrinsics;
use super::layout::ConvGeometry;
use super::scratch::SharedOut;
use super::sgemm::{Run, Tap, TileTarget};
use super::winograd::{
    A, A_T, B_T, G, G_T, Nchw, POINTS, PanelLayout, PhaseView, Source, TILE, TapLayout, Tiles,
};

const MR: usize = 4;
const NR: usize = 8;

/// Scalar code, on any CPU.
#[derive(Debug, Clone, Copy)]
pub(super) struct Portable;

/// `M · d · Mᵀ` for a square tile `d` (`R x R` points from `C x C` values).
fn sandwich<const R: usize, const C: usize>(m: &[[f32; C]; R], d: &[[f32; C]; C]) -> [[f32; R]; R] {
    let left: [[f32; C]; R] =
        std::array::from_fn(|i| std::array::from_fn(|j| (0..C).map(|k| m[i][k] * d[k][j]).sum()));
    std::array::from_fn(|i| std::array::from_fn(|j| (0..C).map(|k| left[i][k] * m[j][k]).sum()))
}

/// The value column-matrix row `shift` reads at output position `column`, 0 over the padding.
fn unfolded_value(unfolded: &UnfoldedRows, shift: &Shift, column: usize) -> f32 {
    let planes = unfolded.planes;
    let (n, oy, ox) = position(&planes.g, column);
    let (y, x) = (oy as i32 + shift.dy, ox as i32 + shift.dx);
    if y < 0 || x < 0 || y >= shift.rows || x >= shift.cols {
        return 0.0;
    }
    let at = (n * planes.per_image()) as i64 + (oy * planes.cols + ox) as i64 + shift.offset as i64;
    planes.data()[at as usize]
}

impl Intrinsics for Portable {
    const MR: usize = MR;
    const NR: usize = NR;
    const LANES: usize = 4;
    type TileBuffer = [f32; MR * NR];

    fn available() -> bool {
        true
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
        let mut acc = [[0.0f32; NR]; MR];
        for (a, b) in a.chunks_exact(MR).zip(b.chunks_exact(NR)).take(kc) {
            for (acc, a) in acc.iter_mut().zip(a) {
                for (acc, b) in acc.iter_mut().zip(b) {
                    *acc += a * b;
                }
            }
        }
        for (i, acc) in acc.iter().enumerate().take(rows) {
            for (j, value) in acc.iter().enumerate().take(cols) {
                let target = if j < NR / 2 {
                    c.low.wrapping_add(i * c.ldc + j)
                } else {
                    c.high.wrapping_add(i * c.ldc + j - NR / 2)
                };
                // SAFETY: the caller promised `c` is valid for `rows x cols`.
                unsafe { *target = if add { *target + value } else { *value } };
            }
        }
    }

    unsafe fn pack_rows(sources: &[&[f32]], panel: &mut [f32]) {
        for (p, step) in panel.chunks_exact_mut(MR).enumerate() {
            for (r, value) in step.iter_mut().enumerate() {
                *value = sources.get(r).map_or(0.0, |row| row[p]);
            }
        }
    }

    unsafe fn pack_transposed(
        m: &MatRef,
        p0: usize,
        first: usize,
        width: usize,
        panel: &mut [f32],
    ) {
        for (p, row) in panel.chunks_exact_mut(NR).enumerate() {
            for (c, value) in row.iter_mut().enumerate() {
                *value = if c < width {
                    m.data[(p0 + p) * m.row_stride + (first + c) * m.col_stride]
                } else {
                    0.0
                };
            }
        }
    }

    unsafe fn fold_run(run: Run, taps: &[Tap], g: &ConvGeometry, row: *mut f32, x0: isize) {
        for (i, tap) in taps.iter().enumerate() {
            for t in 0..run.len {
                let x = x0 + (tap.kw + t * g.stride) as isize;
                if x >= 0 && (x as usize) < g.width {
                    // SAFETY: the run's values and the image row as the caller promised.
                    unsafe { *row.offset(x) += *run.values.add(i * NR + t) };
                }
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
        let shifts: Vec<Shift> = (0..kc)
            .map(|p| rows.planes.shift(rows.first_row + p0 + p))
            .collect();
        for (q, panel) in panels
            .chunks_exact_mut(NR * kc)
            .take(nc.div_ceil(NR))
            .enumerate()
        {
            for (p, shift) in shifts.iter().enumerate() {
                for c in 0..NR {
                    let column = q * NR + c;
                    panel[p * NR + c] = if column < nc {
                        unfolded_value(rows, shift, j0 + column)
                    } else {
                        0.0
                    };
                }
            }
        }
    }

    unsafe fn pack_unfolded_columns(
        rows: &UnfoldedRows,
        p0: usize,
        kc: usize,
        j0: usize,
        nc: usize,
        panels: &mut [f32],
    ) {
        for (q, panel) in panels
            .chunks_exact_mut(NR * kc)
            .take(nc.div_ceil(NR))
            .enumerate()
        {
            for c in 0..NR {
                let column = q * NR + c;
                let shift = (column < nc).then(|| rows.planes.shift(rows.first_row + j0 + column));
                for p in 0..kc {
                    panel[p * NR + c] = shift
                        .as_ref()
                        .map_or(0.0, |shift| unfolded_value(rows, shift, p0 + p));
                }
            }
        }
    }

    unsafe fn batch_minor_channel(x: &[f32], t: &Nchw, channel: usize, out: &mut [f32]) {
        let plane = t.height * t.width;
        for n in 0..t.batch {
            let source = &x[(n * t.channels + channel) * plane..][..plane];
            for (p, value) in source.iter().enumerate() {
                out[p * t.batch + n] = *value;
            }
        }
    }

    unsafe fn transform_kernels(weight: &[f32], taps: &TapLayout, row: usize, u: &mut [f32]) {
        let sources = taps.source_offsets.len();
        let weight = &weight[row * taps.row_stride..];
        for (k, &offset) in taps.source_offsets.iter().enumerate() {
            let g: [[f32; 2]; 2] = std::array::from_fn(|a| {
                std::array::from_fn(|b| {
                    weight[(offset + taps.tap_step * (8 * a as i32 + 2 * b as i32)) as usize]
                })
            });
            for (point, value) in sandwich(&G, &g).iter().flatten().enumerate() {
                u[point * sources + k] = *value;
            }
        }
    }

    unsafe fn transform_input(
        batch_minor: &[f32],
        t: &Nchw,
        (index, source): (usize, &Source),
        tiles: &Tiles,
        layout: PanelLayout,
        v: SharedOut,
    ) {
        let (rows, cols) = source.view.extent(t);
        let plane = t.height * t.width * t.batch;
        let channel = &batch_minor[source.channel * plane..][..plane];
        for ty in 0..tiles.down {
            for tx in 0..tiles.across {
                for n in 0..t.batch {
                    let d: [[f32; POINTS]; POINTS] = std::array::from_fn(|i| {
                        std::array::from_fn(|j| {
                            let r = (ty * TILE + i) as isize + source.shift.0;
                            let c = (tx * TILE + j) as isize + source.shift.1;
                            if r < 0 || c < 0 || r as usize >= rows || c as usize >= cols {
                                return 0.0;
                            }
                            let (y, x) = source.view.pixel(r as usize, c as usize);
                            channel[(y * t.width + x) * t.batch + n]
                        })
                    });
                    let tile = (ty * tiles.across + tx) * tiles.batch + n;
                    for (point, value) in sandwich(&B_T, &d).iter().flatten().enumerate() {
                        // SAFETY: this source's row of every point lies in `v` (the caller's
                        // contract).
                        unsafe { *v.0.add(layout.offset(point, index, tile)) = *value };
                    }
                }
            }
        }
    }

    unsafe fn transform_gradient(
        batch_minor: &[f32],
        t: &Nchw,
        channel: usize,
        tiles: &Tiles,
        gy: SharedOut,
    ) {
        let plane = t.height * t.width * t.batch;
        let values = &batch_minor[channel * plane..][..plane];
        for ty in 0..tiles.down {
            for tx in 0..tiles.across {
                for n in 0..t.batch {
                    let d: [[f32; TILE]; TILE] = std::array::from_fn(|i| {
                        std::array::from_fn(|j| {
                            let (y, x) = (ty * TILE + i, tx * TILE + j);
                            if y < t.height && x < t.width {
                                values[(y * t.width + x) * t.batch + n]
                            } else {
                                0.0
                            }
                        })
                    });
                    let tile = (ty * tiles.across + tx) * tiles.batch + n;
                    for (point, value) in sandwich(&A, &d).iter().flatten().enumerate() {
                        let offset = (point * t.channels + channel) * tiles.count() + tile;
                        // SAFETY: this channel's row of a point (the caller's contract).
                        unsafe { *gy.0.add(offset) = *value };
                    }
                }
            }
        }
    }

    unsafe fn untransform_kernels(
        du: &[f32],
        (m, k): (usize, usize),
        row: usize,
        taps: &TapLayout,
        dw: &mut [f32],
    ) {
        for (source, &offset) in taps.source_offsets.iter().enumerate().take(k) {
            let points: [[f32; POINTS]; POINTS] = std::array::from_fn(|i| {
                std::array::from_fn(|j| du[((i * POINTS + j) * m + row) * k + source])
            });
            let kernel = sandwich(&G_T, &points);
            for (a, taps_row) in kernel.iter().enumerate() {
                for (b, value) in taps_row.iter().enumerate() {
                    let tap = offset + taps.tap_step * (8 * a as i32 + 2 * b as i32);
                    dw[tap as usize] = *value;
                }
            }
        }
    }

    unsafe fn transform_output(
        products: &[f32],
        tiles: &Tiles,
        output: &Nchw,
        target: PhaseView,
        channel: usize,
        out: SharedOut,
    ) {
        let (rows, cols) = target.extent(output);
        let plane = output.height * output.width;
        for ty in 0..tiles.down {
            for tx in 0..tiles.across {
                for n in 0..tiles.batch {
                    let tile = (ty * tiles.across + tx) * tiles.batch + n;
                    let points: [[f32; POINTS]; POINTS] = std::array::from_fn(|i| {
                        std::array::from_fn(|j| {
                            let point = i * POINTS + j;
                            products[(point * output.channels + channel) * tiles.count() + tile]
                        })
                    });
                    let values = sandwich(&A_T, &points);
                    let base = (n * output.channels + channel) * plane;
                    for (i, row) in values.iter().enumerate().take(rows - ty * TILE) {
                        for (j, value) in row.iter().enumerate().take(cols - tx * TILE) {
                            let (y, x) = target.pixel(ty * TILE + i, tx * TILE + j);
                            // SAFETY: a pixel of this channel's plane of image `n` in the view
                            // (the caller's contract).
                            unsafe { *out.0.add(base + y * output.width + x) = *value };
                        }
                    }
                }
            }
        }
    }
}
