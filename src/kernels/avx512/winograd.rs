//! Winograd F(4x4, 2x2)'s transforms (`winograd`) with AVX-512: 16 images a vector, the
//! constant matrices folded into adds, subtracts and multiply-adds.

use std::arch::x86_64::*;

use super::LANES;
use super::gemm::transpose16;
use crate::kernels::scratch::SharedOut;
use crate::kernels::winograd::{
    A, A_T, B_T, G, G_T, Nchw, POINTS, PanelLayout, PhaseView, Source, TILE, TRANSFORM, TapLayout,
    Tiles,
};

/// The offsets of tap `(a, b)` for 16 sources from `k0` (`mask` marks the real ones) of an
/// output channel, relative to that channel's first value.
#[target_feature(enable = "avx512f")]
fn tap_offsets(taps: &TapLayout, k0: usize, mask: __mmask16, (a, b): (i32, i32)) -> __m512i {
    // SAFETY: the mask covers the offsets loaded.
    let offsets = unsafe { _mm512_maskz_loadu_epi32(mask, taps.source_offsets[k0..].as_ptr()) };
    _mm512_add_epi32(offsets, _mm512_set1_epi32(taps.tap_step * (8 * a + 2 * b)))
}

/// Output channel `row`'s kernels for every source, as `(G g Gᵀ)`, into `u` (`(point, source)`),
/// 16 sources at a time.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn transform_kernels(
    weight: &[f32],
    taps: &TapLayout,
    row: usize,
    u: &mut [f32],
) {
    let sources = taps.source_offsets.len();
    assert!(u.len() >= TRANSFORM * sources && weight.len() > row * taps.row_stride);
    let weight = &weight[row * taps.row_stride..];
    for k0 in (0..sources).step_by(LANES) {
        let count = LANES.min(sources - k0);
        let mask = ((1u32 << count) - 1) as __mmask16;
        let g: [[__m512; 2]; 2] = std::array::from_fn(|a| {
            std::array::from_fn(|b| {
                let index = tap_offsets(taps, k0, mask, (a as i32, b as i32));
                // SAFETY: `TapLayout::new` checked every tap of every row lies in the weight.
                unsafe {
                    _mm512_mask_i32gather_ps::<4>(_mm512_setzero_ps(), mask, index, weight.as_ptr())
                }
            })
        });
        let points = sandwich(&G, &g);
        for (i, row) in points.iter().enumerate() {
            for (j, value) in row.iter().enumerate() {
                let dst = &mut u[(i * POINTS + j) * sources + k0..][..count];
                // SAFETY: the mask covers the `count` values of `dst`.
                unsafe { _mm512_mask_storeu_ps(dst.as_mut_ptr(), mask, *value) };
            }
        }
    }
}

/// Channel `channel` of `x` into `out` (`(H, W, N)`), 16 images by 16 pixels at a time through
/// a register transpose.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn batch_minor_channel(x: &[f32], t: &Nchw, channel: usize, out: &mut [f32]) {
    let plane = t.height * t.width;
    for n0 in (0..t.batch).step_by(LANES) {
        for p0 in (0..plane).step_by(LANES) {
            let count = LANES.min(plane - p0);
            let mask = ((1u32 << count) - 1) as __mmask16;
            let rows = std::array::from_fn(|i| {
                let start = ((n0 + i) * t.channels + channel) * plane + p0;
                let row = &x[start..start + count];
                // SAFETY: the mask covers the `count` values of `row`.
                unsafe { _mm512_maskz_loadu_ps(mask, row.as_ptr()) }
            });
            let pixels = transpose16(rows);
            for (j, pixel) in pixels.iter().enumerate().take(count) {
                let dst = &mut out[(p0 + j) * t.batch + n0..][..LANES];
                // SAFETY: `dst` holds 16 values.
                unsafe { _mm512_storeu_ps(dst.as_mut_ptr(), *pixel) };
            }
        }
    }
}

/// `rows[i] = Σ_j matrix[i][j] · v[j]`, over vectors (zero coefficients skipped; the matrices
/// are constants, so that folds away).
#[target_feature(enable = "avx512f")]
#[inline]
fn combine<const R: usize, const C: usize>(matrix: &[[f32; C]; R], v: &[__m512; C]) -> [__m512; R] {
    std::array::from_fn(|i| {
        let mut sum = _mm512_setzero_ps();
        for (&coefficient, &value) in matrix[i].iter().zip(v) {
            if coefficient == 1.0 {
                sum = _mm512_add_ps(sum, value);
            } else if coefficient == -1.0 {
                sum = _mm512_sub_ps(sum, value);
            } else if coefficient != 0.0 {
                sum = _mm512_fmadd_ps(_mm512_set1_ps(coefficient), value, sum);
            }
        }
        sum
    })
}

/// `M · d · Mᵀ` for a square tile of vectors `d` (`R x R` points from `C x C` values).
#[target_feature(enable = "avx512f")]
#[inline]
fn sandwich<const R: usize, const C: usize>(
    matrix: &[[f32; C]; R],
    d: &[[__m512; C]; C],
) -> [[__m512; R]; R] {
    // Columns first: left[i][j] = Σ_k M[i][k] d[k][j].
    let columns: [[_; R]; C] = std::array::from_fn(|j| combine(matrix, &d.map(|row| row[j])));
    std::array::from_fn(|i| combine(matrix, &columns.map(|column| column[i])))
}

/// Output channel `channel`'s gradient tiles, as `A dY Aᵀ`, into `gy` (`(point, M, tile)`).
///
/// # Safety
/// `gy` must hold `TRANSFORM` matrices of `t.channels x tiles`, and no other thread may write
/// this channel's rows.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn transform_gradient(
    batch_minor: &[f32],
    t: &Nchw,
    channel: usize,
    tiles: &Tiles,
    gy: SharedOut,
) {
    let n = tiles.count();
    let plane = t.height * t.width * t.batch;
    let values = &batch_minor[channel * plane..][..plane];
    for ty in 0..tiles.down {
        for tx in 0..tiles.across {
            for n0 in (0..t.batch).step_by(LANES) {
                let mut d = [[_mm512_setzero_ps(); TILE]; TILE];
                for (i, row) in d.iter_mut().enumerate() {
                    for (j, value) in row.iter_mut().enumerate() {
                        let (y, x) = (ty * TILE + i, tx * TILE + j);
                        if y < t.height && x < t.width {
                            let start = (y * t.width + x) * t.batch + n0;
                            // SAFETY: 16 images of a pixel of this channel.
                            *value = unsafe { _mm512_loadu_ps(values[start..][..LANES].as_ptr()) };
                        }
                    }
                }
                let points = sandwich(&A, &d);
                let tile = (ty * tiles.across + tx) * tiles.batch + n0;
                for (point, value) in points.iter().flatten().enumerate() {
                    let offset = (point * t.channels + channel) * n + tile;
                    // SAFETY: 16 values of this channel's row of a point (the caller's contract).
                    unsafe { _mm512_storeu_ps(gy.0.add(offset), *value) };
                }
            }
        }
    }
}

/// Weight row `row`'s kernel gradients from the points' `du` (`(point, M, K)`), as `Gᵀ dU G`,
/// into its taps (`dw`, the row) as `taps` places them; 16 sources at a time.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn untransform_kernels(
    du: &[f32],
    (m, k): (usize, usize),
    row: usize,
    taps: &TapLayout,
    dw: &mut [f32],
) {
    // Taps run forward from each source's offset, at most 10 values on.
    let reach = taps.source_offsets.iter().max().map_or(0, |&o| o as usize) + 10;
    assert!(
        taps.tap_step == 1 && (k == 0 || reach < dw.len()),
        "taps outside the row"
    );
    for k0 in (0..k).step_by(LANES) {
        let count = LANES.min(k - k0);
        let mask = ((1u32 << count) - 1) as __mmask16;
        let points: [[__m512; POINTS]; POINTS] = std::array::from_fn(|i| {
            std::array::from_fn(|j| {
                let src = &du[((i * POINTS + j) * m + row) * k + k0..][..count];
                // SAFETY: the mask covers the `count` values of `src`.
                unsafe { _mm512_maskz_loadu_ps(mask, src.as_ptr()) }
            })
        });
        let kernel = sandwich(&G_T, &points);
        for (a, row) in kernel.iter().enumerate() {
            for (b, value) in row.iter().enumerate() {
                let index = tap_offsets(taps, k0, mask, (a as i32, b as i32));
                // SAFETY: every tap of the real sources lies in the row (asserted above).
                unsafe { _mm512_mask_i32scatter_ps::<4>(dw.as_mut_ptr(), mask, index, *value) };
            }
        }
    }
}

/// The transformed tiles of source plane `index` into `v`.
///
/// # Safety
/// `v` must hold every point of `layout`, and no other thread may write this source's rows.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn transform_input(
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
    // The transformed tiles go past the caches (the products read them long after, from
    // memory either way), where every store fills a whole cache line: 16 values from a line.
    let streamed = (v.0 as usize).is_multiple_of(64) && layout.point_len().is_multiple_of(LANES);
    for ty in 0..tiles.down {
        for tx in 0..tiles.across {
            let r0 = (ty * TILE) as isize + source.shift.0;
            let c0 = (tx * TILE) as isize + source.shift.1;
            let inside = |start: isize, size: usize| start >= 0 && start as usize + POINTS <= size;
            // A tile inside the plane reads its 5x5 inputs at fixed steps from its first one;
            // one over an edge through offsets, `usize::MAX` for the inputs off the plane.
            let interior = inside(r0, rows) && inside(c0, cols);
            let (row_step, col_step) = (
                source.view.step * t.width * t.batch,
                source.view.step * t.batch,
            );
            let mut first = 0;
            let mut offsets = [[usize::MAX; POINTS]; POINTS];
            if interior {
                let (y, x) = source.view.pixel(r0 as usize, c0 as usize);
                first = (y * t.width + x) * t.batch;
                assert!(first + (POINTS - 1) * (row_step + col_step) + t.batch <= channel.len());
            } else {
                for (i, row) in offsets.iter_mut().enumerate() {
                    for (j, offset) in row.iter_mut().enumerate() {
                        let (r, c) = (r0 + i as isize, c0 + j as isize);
                        if r >= 0 && c >= 0 && (r as usize) < rows && (c as usize) < cols {
                            let (y, x) = source.view.pixel(r as usize, c as usize);
                            *offset = (y * t.width + x) * t.batch;
                        }
                    }
                }
            }
            for n0 in (0..t.batch).step_by(LANES) {
                let mut d = [[_mm512_setzero_ps(); POINTS]; POINTS];
                for (i, (d, offsets)) in d.iter_mut().zip(&offsets).enumerate() {
                    for (j, (d, &offset)) in d.iter_mut().zip(offsets).enumerate() {
                        let offset = if interior {
                            first + i * row_step + j * col_step
                        } else if offset != usize::MAX {
                            offset
                        } else {
                            continue;
                        };
                        // SAFETY: the offset is a pixel of the channel (asserted above for an
                        // interior tile), which holds its whole batch (a multiple of 16) there.
                        *d = unsafe { _mm512_loadu_ps(channel.as_ptr().add(offset + n0)) };
                    }
                }
                let points = sandwich(&B_T, &d);
                let tile = (ty * tiles.across + tx) * tiles.batch + n0;
                // 16 tiles from a multiple of 16 lie in one panel, side by side; the points'
                // matrices follow one another.
                let start = layout.offset(0, index, tile);
                for (point, value) in points.iter().flatten().enumerate() {
                    let at = v.0.wrapping_add(start + point * layout.point_len());
                    if streamed {
                        // SAFETY: the 16 values lie in this source's row of a panel of `v`
                        // (the caller's contract), on a cache line (checked above).
                        unsafe { _mm512_stream_ps(at, *value) };
                    } else {
                        // SAFETY: as above.
                        unsafe { _mm512_storeu_ps(at, *value) };
                    }
                }
            }
        }
    }
    // Streaming stores are weakly ordered: make them visible before the products read them.
    _mm_sfence();
}

/// Output channel `channel`'s tiles from its 25 products (`(point, tile)`) into its pixels of
/// the `target` view of `out`.
///
/// # Safety
/// `out` must hold the whole output tensor, and no other thread may write this channel's
/// pixels of the target view meanwhile.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn transform_output(
    products: &[f32],
    tiles: &Tiles,
    output: &Nchw,
    target: PhaseView,
    channel: usize,
    out: SharedOut,
) {
    let (rows, cols) = target.extent(output);
    let n = tiles.count();
    let plane = output.height * output.width;
    // Lane of a tile row's pixel `j` in a vector from the row's first pixel of any phase, and
    // for each tile row the permute that puts its values (lanes `4i..4i + 4` of an image's
    // vector) there.
    assert!(target.phase.1 + target.step * (TILE - 1) < LANES);
    let lane_of = |j: usize| target.phase.1 + target.step * j;
    let row_index: [__m512i; TILE] = std::array::from_fn(|i| {
        let mut index = [0i32; LANES];
        for j in 0..TILE {
            index[lane_of(j)] = (i * TILE + j) as i32;
        }
        // SAFETY: `index` holds 16 lanes.
        unsafe { _mm512_loadu_si512(index.as_ptr().cast()) }
    });
    for ty in 0..tiles.down {
        for tx in 0..tiles.across {
            for n0 in (0..tiles.batch).step_by(LANES) {
                let tile = (ty * tiles.across + tx) * tiles.batch + n0;
                let points: [[__m512; POINTS]; POINTS] = std::array::from_fn(|i| {
                    std::array::from_fn(|j| {
                        let point = i * POINTS + j;
                        let src =
                            &products[(point * output.channels + channel) * n + tile..][..LANES];
                        // SAFETY: `src` holds 16 values.
                        unsafe { _mm512_loadu_ps(src.as_ptr()) }
                    })
                });
                let values = sandwich(&A_T, &points);
                // Row `i * 4 + j` holds output (i, j) of 16 images; transposed, row `image`.
                let by_image = transpose16(std::array::from_fn(|q| values[q / TILE][q % TILE]));
                let (tile_rows, tile_cols) =
                    (TILE.min(rows - ty * TILE), TILE.min(cols - tx * TILE));
                let row_mask = (0..tile_cols).fold(0u16, |mask, j| mask | 1 << lane_of(j));
                for (image, vector) in by_image.iter().enumerate() {
                    let base = ((n0 + image) * output.channels + channel) * plane;
                    // Each tile row is 4 pixels `step` apart: one permute puts them in their
                    // lanes from the row's first pixel of any phase, one masked store writes them.
                    for (i, index) in row_index.iter().enumerate().take(tile_rows) {
                        let (y, x) = target.pixel(ty * TILE + i, tx * TILE);
                        let row = _mm512_permutexvar_ps(*index, *vector);
                        // SAFETY: the masked lanes are pixels of this channel's plane of image
                        // `n0 + image` (the view's extent), inside `out` (the caller's contract),
                        // and only this task writes them; the others are not touched.
                        unsafe {
                            _mm512_mask_storeu_ps(
                                out.0.add(base + y * output.width + x - target.phase.1),
                                row_mask,
                                row,
                            )
                        };
                    }
                }
            }
        }
    }
}
