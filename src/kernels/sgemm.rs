//! Our own blocked matrix multiply for CPUs with AVX-512: `C (+)= A · B`, where `B` is packed
//! by a [`PanelSource`] and `C` may be a set of NCHW planes. That lets a convolution multiply
//! its weights by a column matrix it never builds: the source unfolds each cache-sized tile of
//! the image as the product needs it (an implicit GEMM), and the product writes straight into
//! the NCHW output. With the `gemm` crate the column matrix went to memory, was read back to be
//! packed, and the channel-major result was copied into NCHW.
//!
//! Blocking follows BLIS: a `KC x NC` block of `B` is packed into `NR`-wide panels (it stays in
//! L2), an `MC x KC` block of `A` into `MR`-tall panels, and a `MR x NR` micro-kernel (24 of the
//! 32 vector registers accumulate) runs over them. Threads take disjoint ranges of columns.
//!
//! A product can also fold its result back onto images as it goes ([`Placement::Folded`]):
//! `col2im(Wᵀ · dy)` adds each finished micro-tile onto the pixels its kernel taps cover, so
//! the column matrix of an image-side product is never stored either.
//! Without AVX-512 (see [`Isa`]) `plan` never runs it and callers use the `gemm` crate path.

use rayon::prelude::*;

use super::gemm::MatRef;
use super::isa::Isa;
use super::layout::ConvGeometry;
use super::scratch::{Scratch, SharedOut};

/// Rows of `A` per micro-kernel call.
pub(super) const MR: usize = 12;
/// Columns of `B` per micro-kernel call (two 16-lane registers).
pub(super) const NR: usize = 32;
/// Depth of one packed block.
const KC: usize = 256;
/// Rows of `A` per packed block (a multiple of `MR`; `MC x KC` stays in L2).
const MC: usize = 144;
/// Columns of `B` per packed block (a multiple of `NR`; `KC x NC` stays in L2).
const NC: usize = 512;

/// The right-hand operand of a product, packed on demand.
pub(super) trait PanelSource: Sync {
    /// Rows of the operand (the product's depth).
    fn rows(&self) -> usize;
    /// Columns of the operand.
    fn cols(&self) -> usize;
    /// Writes rows `p0..p0 + kc`, columns `j0..j0 + nc` into `panels`: panel `q` holds columns
    /// `j0 + q * NR ..` as `kc` rows of `NR` values, zero past column `j0 + nc`.
    fn pack(&self, p0: usize, kc: usize, j0: usize, nc: usize, panels: &mut [f32]);

    /// The panels [`PanelSource::pack`] would write, where the operand already holds them:
    /// `(data, stride)` with panel `q` (columns `j0 + q * NR ..`) at `data[q * stride..]`, as
    /// `kc` rows of `NR` values. `None` (the default) packs them.
    fn panels_in_place(&self, _p0: usize, _kc: usize, _j0: usize) -> Option<(&[f32], usize)> {
        None
    }
}

impl PanelSource for MatRef<'_> {
    fn rows(&self) -> usize {
        self.rows
    }

    fn cols(&self) -> usize {
        self.cols
    }

    fn pack(&self, p0: usize, kc: usize, j0: usize, nc: usize, panels: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if self.row_stride == 1 && self.col_stride != 1 && Isa::current().has_avx512() {
            for_each_panel(panels, kc, (j0, nc), |first, width, panel| {
                // SAFETY: the CPU has AVX-512.
                unsafe { self.pack_transposed_avx512(p0, first, width, panel) }
            });
            return;
        }
        for_each_panel(panels, kc, (j0, nc), |first, width, panel| {
            for (p, dst) in panel.chunks_exact_mut(NR).enumerate() {
                let row = (p0 + p) * self.row_stride + first * self.col_stride;
                if self.col_stride == 1 {
                    dst[..width].copy_from_slice(&self.data[row..][..width]);
                } else {
                    for (c, d) in dst[..width].iter_mut().enumerate() {
                        *d = self.data[row + c * self.col_stride];
                    }
                }
                dst[width..].fill(0.0);
            }
        });
    }
}

impl MatRef<'_> {
    /// One panel (columns `first..first + width`, rows `p0..` as many as `panel` holds) of an
    /// operand stored transposed (its columns contiguous): 16 rows of 16 columns are loaded as
    /// 16 column vectors and transposed in registers.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    fn pack_transposed_avx512(&self, p0: usize, first: usize, width: usize, panel: &mut [f32]) {
        use std::arch::x86_64::*;
        let kc = panel.len() / NR;
        for r0 in (0..kc).step_by(16) {
            let rows = 16.min(kc - r0);
            let row_mask = ((1u32 << rows) - 1) as __mmask16;
            for half in 0..NR / 16 {
                let c0 = half * 16;
                let columns = 16.min(width.saturating_sub(c0));
                let loaded: [__m512; 16] = std::array::from_fn(|c| {
                    if c >= columns {
                        return _mm512_setzero_ps();
                    }
                    let start = (first + c0 + c) * self.col_stride + p0 + r0;
                    let column = &self.data[start..start + rows];
                    // SAFETY: the mask covers the `rows` values of `column`.
                    unsafe { _mm512_maskz_loadu_ps(row_mask, column.as_ptr()) }
                });
                for (r, row) in transpose16(loaded).iter().enumerate().take(rows) {
                    let dst = &mut panel[(r0 + r) * NR + c0..][..16];
                    // SAFETY: `dst` holds 16 values; lanes past the last column are zero.
                    unsafe { _mm512_storeu_ps(dst.as_mut_ptr(), *row) };
                }
            }
        }
    }
}

/// Calls `fill(first column, real columns, panel)` for each `NR`-wide panel (`kc` rows) of
/// columns `j0..j0 + nc` in `panels`, the layout [`PanelSource::pack`] writes.
pub(super) fn for_each_panel(
    panels: &mut [f32],
    kc: usize,
    (j0, nc): (usize, usize),
    mut fill: impl FnMut(usize, usize, &mut [f32]),
) {
    for (q, panel) in panels
        .chunks_exact_mut(NR * kc)
        .take(nc.div_ceil(NR))
        .enumerate()
    {
        let first = j0 + q * NR;
        fill(first, NR.min(j0 + nc - first), panel);
    }
}

/// Where the product's element `(r, j)` goes.
#[derive(Clone, Copy, Debug)]
pub(super) enum Placement {
    /// Row-major, rows `row_stride` apart.
    Rows { row_stride: usize },
    /// NCHW planes: rows are channels, columns `(image, position)`, so `(r, j)` lands at
    /// `(j / positions) * image_stride + r * positions + j % positions`.
    Planes {
        positions: usize,
        image_stride: usize,
    },
    /// Folded onto images (`col2im`): rows are `(channel, kernel row, kernel column)` of
    /// `geometry`, columns `(image, output position)`, and each element is *added* to the
    /// pixel its kernel tap covers (elements over the padding are dropped); channel planes are
    /// contiguous, images `image_stride` apart. Several elements land on one pixel, so a fold
    /// always accumulates: zero the images first.
    Folded {
        geometry: ConvGeometry,
        image_stride: usize,
    },
}

impl Placement {
    /// Where element `(r, j)` goes; `None` for a fold, where it has no place of its own.
    fn offset(&self, r: usize, j: usize) -> Option<usize> {
        match *self {
            Placement::Rows { row_stride } => Some(r * row_stride + j),
            Placement::Planes {
                positions,
                image_stride,
            } => Some((j / positions) * image_stride + r * positions + j % positions),
            Placement::Folded { .. } => None,
        }
    }

    /// One past the furthest element an `m x n` product writes.
    ///
    /// # Panics
    /// For a fold whose rows are not whole channels or whose columns are not whole images.
    fn extent(&self, m: usize, n: usize) -> usize {
        match *self {
            Placement::Folded {
                geometry: g,
                image_stride,
            } => {
                assert!(
                    m.is_multiple_of(g.kernel_area()) && n.is_multiple_of(g.positions()),
                    "a fold takes whole channels and whole images"
                );
                let plane = g.height * g.width;
                (n / g.positions() - 1) * image_stride + m / g.kernel_area() * plane
            }
            // The last row's last column is the furthest element.
            _ => self.offset(m - 1, n - 1).map_or(0, |last| last + 1),
        }
    }

    /// Columns that always go to one thread together: neighbouring output positions of a fold
    /// add onto shared pixels of their image, so threads take whole images.
    fn column_unit(&self) -> usize {
        match *self {
            Placement::Folded { geometry, .. } => geometry.positions(),
            _ => NR,
        }
    }

    /// How many columns from `j` on are contiguous in a row.
    fn run_from(&self, j: usize) -> usize {
        match *self {
            Placement::Planes { positions, .. } => positions - j % positions,
            _ => usize::MAX,
        }
    }

    /// The distance between rows when columns `j..j + cols` are contiguous in every row.
    fn contiguous_row_stride(&self, j: usize, cols: usize) -> Option<usize> {
        match *self {
            Placement::Rows { row_stride } => Some(row_stride),
            Placement::Planes { positions, .. } => {
                (j % positions + cols <= positions).then_some(positions)
            }
            Placement::Folded { .. } => None,
        }
    }
}

/// `out (+)= a · b` with `out` placed as `placement` says; threads over the current rayon pool.
///
/// # Panics
/// If the operands' shapes disagree, `out` is too small for the placement, a fold is asked not
/// to accumulate, or the CPU lacks AVX-512 (check `Isa::current()` first).
pub(super) fn product(
    a: MatRef,
    b: &dyn PanelSource,
    out: &mut [f32],
    placement: Placement,
    accumulate: bool,
) {
    product_on(
        rayon::current_num_threads(),
        a,
        b,
        out,
        placement,
        accumulate,
    )
}

/// [`product`] on the calling thread alone, for callers that run several products side by side.
pub(super) fn product_on_this_thread(
    a: MatRef,
    b: &dyn PanelSource,
    out: &mut [f32],
    placement: Placement,
    accumulate: bool,
) {
    product_on(1, a, b, out, placement, accumulate)
}

/// [`product`] over `threads` threads of the current pool (1: the calling thread alone).
fn product_on(
    threads: usize,
    a: MatRef,
    b: &dyn PanelSource,
    out: &mut [f32],
    placement: Placement,
    accumulate: bool,
) {
    let (m, k, n) = (a.rows, a.cols, b.cols());
    assert_eq!(b.rows(), k, "inner dimensions differ");
    assert!(
        Isa::current().has_avx512(),
        "the micro-kernel needs AVX-512"
    );
    let folds = matches!(placement, Placement::Folded { .. });
    assert!(accumulate || !folds, "a fold always adds onto the images");
    if m == 0 || n == 0 {
        return;
    }
    assert!(placement.extent(m, n) <= out.len(), "destination too small");
    if k == 0 {
        if !accumulate {
            for r in 0..m {
                for j in 0..n {
                    if let Some(offset) = placement.offset(r, j) {
                        out[offset] = 0.0;
                    }
                }
            }
        }
        return;
    }
    let threads = threads.max(1);
    let packed_a = PackedA::new(&a, Blocking::for_product(k, &placement), threads > 1);
    let packed_a = &packed_a;
    let shared = SharedOut::new(out);
    let unit = placement.column_unit();
    let units = n.div_ceil(unit);
    if threads == 1 || m * n * k < 1 << 17 || units < 2 {
        // SAFETY: the only writer, inside the bounds checked above.
        return unsafe { columns(packed_a, b, (0, n), shared, placement, accumulate) };
    }
    let per_thread = units.div_ceil(threads) * unit;
    rayon::scope(|scope| {
        for first in (0..n).step_by(per_thread) {
            let range = (first, per_thread.min(n - first));
            scope.spawn(move |_| {
                let shared = shared;
                // SAFETY: each thread owns its column range (whole images for a fold); the
                // bounds were checked above.
                unsafe { columns(packed_a, b, range, shared, placement, accumulate) }
            });
        }
    });
}

/// The depth and width of one product's packed blocks of `B`.
#[derive(Clone, Copy)]
struct Blocking {
    kc: usize,
    nc: usize,
}

impl Blocking {
    /// [`KC`] x [`NC`], except for a fold up to twice as deep: it adds every depth block onto
    /// the images, so it takes its whole depth in one block (folding once), half as wide to
    /// stay in L2.
    fn for_product(k: usize, placement: &Placement) -> Self {
        if matches!(placement, Placement::Folded { .. }) && k > KC && k <= 2 * KC {
            Blocking { kc: k, nc: NC / 2 }
        } else {
            Blocking { kc: KC, nc: NC }
        }
    }
}

/// All of `A` packed once per product (every thread and every column block reads it): for each
/// depth block, `MR`-tall panels of `kc` steps of `MR` values, zero past the last row.
struct PackedA {
    data: Scratch,
    rows: usize,
    depth: usize,
    blocking: Blocking,
}

impl PackedA {
    /// Packs `a`, with the threads of the current pool when `parallel`.
    fn new(a: &MatRef, blocking: Blocking, parallel: bool) -> Self {
        let (rows, depth) = (a.rows, a.cols);
        let padded = rows.div_ceil(MR) * MR;
        let mut data = Scratch::take(padded * depth);
        // Depth block `p0` starts at `p0 * padded`; its panel `q` `q * MR * kc` further on.
        // Threads take groups of panels, so a product one block deep packs in parallel too.
        const PANELS_PER_TASK: usize = 8;
        for (block, chunk) in data.chunks_mut(padded * blocking.kc).enumerate() {
            let p0 = block * blocking.kc;
            let kc = blocking.kc.min(depth - p0);
            let pack_task = |(task, panels): (usize, &mut [f32])| {
                let i0 = task * PANELS_PER_TASK * MR;
                pack_a(
                    a,
                    (i0, (rows - i0).min(panels.len() / kc)),
                    (p0, kc),
                    panels,
                );
            };
            let tasks = PANELS_PER_TASK * MR * kc;
            if parallel {
                chunk[..padded * kc]
                    .par_chunks_mut(tasks)
                    .enumerate()
                    .for_each(pack_task);
            } else {
                chunk[..padded * kc]
                    .chunks_mut(tasks)
                    .enumerate()
                    .for_each(pack_task);
            }
        }
        PackedA {
            data,
            rows,
            depth,
            blocking,
        }
    }

    /// The panels of rows `i0..` (a multiple of `MR`) in depth block `p0..p0 + kc`.
    fn block(&self, p0: usize, kc: usize, i0: usize) -> &[f32] {
        let padded = self.rows.div_ceil(MR) * MR;
        &self.data[p0 * padded + i0 * kc..(p0 + kc) * padded]
    }
}

thread_local! {
    /// The packed block of `B`, kept per thread between products.
    static PACKED_B: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The product over columns `first..first + count` on this thread.
///
/// # Safety
/// `out` must be valid for every element `placement` gives those columns of `m` rows, and no
/// other thread may touch them meanwhile.
unsafe fn columns(
    a: &PackedA,
    b: &dyn PanelSource,
    (first, count): (usize, usize),
    out: SharedOut,
    placement: Placement,
    accumulate: bool,
) {
    let (
        m,
        k,
        Blocking {
            kc: depth,
            nc: width,
        },
    ) = (a.rows, a.depth, a.blocking);
    PACKED_B.with_borrow_mut(|packed_b| {
        packed_b.resize(width.min(count.div_ceil(NR) * NR) * depth.min(k), 0.0);
        for j0 in (first..first + count).step_by(width) {
            let nc = width.min(first + count - j0);
            for p0 in (0..k).step_by(depth) {
                let kc = depth.min(k - p0);
                let (panels, panel_stride) = match b.panels_in_place(p0, kc, j0) {
                    Some(in_place) => in_place,
                    None => {
                        b.pack(p0, kc, j0, nc, packed_b);
                        (&packed_b[..], NR * kc)
                    }
                };
                let add = accumulate || p0 > 0;
                for i0 in (0..m).step_by(MC) {
                    let mc = MC.min(m - i0);
                    let packed_a = a.block(p0, kc, i0);
                    for jr in (0..nc).step_by(NR) {
                        let panel_b = &panels[jr / NR * panel_stride..][..NR * kc];
                        for ir in (0..mc).step_by(MR) {
                            let panel_a = &packed_a[ir / MR * MR * kc..][..MR * kc];
                            let tile = Tile {
                                row: i0 + ir,
                                col: j0 + jr,
                                rows: MR.min(mc - ir),
                                cols: NR.min(nc - jr),
                            };
                            // SAFETY: forwarded from the caller.
                            unsafe {
                                multiply_tile(kc, panel_a, panel_b, tile, out, placement, add)
                            };
                        }
                    }
                }
            }
        }
    });
}

/// Packs rows `i0..i0 + mc`, columns `p0..p0 + kc` of `a` into `MR`-tall panels (`kc` steps
/// of `MR` values), zero past row `i0 + mc`. Each step's `MR` values are gathered from the
/// panel's rows (one read stream a row) and written out contiguously; for a transposed operand
/// they are contiguous already.
fn pack_a(a: &MatRef, (i0, mc): (usize, usize), (p0, kc): (usize, usize), packed: &mut [f32]) {
    for (q, panel) in packed
        .chunks_exact_mut(MR * kc)
        .take(mc.div_ceil(MR))
        .enumerate()
    {
        let first = i0 + q * MR;
        let rows = MR.min(i0 + mc - first);
        let steps = panel.chunks_exact_mut(MR).enumerate();
        if a.row_stride == 1 {
            for (p, step) in steps {
                let start = first + (p0 + p) * a.col_stride;
                step[..rows].copy_from_slice(&a.data[start..start + rows]);
                step[rows..].fill(0.0);
            }
        } else if a.col_stride == 1 {
            let row = |r: usize| {
                let start = (first + r.min(rows - 1)) * a.row_stride + p0;
                &a.data[start..start + kc]
            };
            let sources: [&[f32]; MR] = std::array::from_fn(row);
            #[cfg(target_arch = "x86_64")]
            if Isa::current().has_avx512() {
                // SAFETY: the CPU has AVX-512.
                unsafe { pack_rows_avx512(&sources[..rows], panel) };
                continue;
            }
            for (p, step) in steps {
                for (r, (value, source)) in step.iter_mut().zip(&sources).enumerate() {
                    *value = if r < rows { source[p] } else { 0.0 };
                }
            }
        } else {
            for (p, step) in steps {
                for (r, value) in step.iter_mut().enumerate() {
                    *value = if r < rows {
                        a.data[(first + r) * a.row_stride + (p0 + p) * a.col_stride]
                    } else {
                        0.0
                    };
                }
            }
        }
    }
}

/// Packs up to `MR` rows of `A` (`sources`, each `kc` long) into one panel (`kc` steps of
/// `MR` values, zero past the last row), 16 steps at a time: 16 values of every row are
/// loaded and transposed in registers, instead of gathered one value at a time.
///
/// # Safety
/// The CPU must have AVX-512.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn pack_rows_avx512(sources: &[&[f32]], panel: &mut [f32]) {
    use std::arch::x86_64::*;
    let kc = panel.len() / MR;
    assert!(sources.len() <= MR && sources.iter().all(|s| s.len() >= kc));
    let step_lanes = ((1u32 << MR) - 1) as __mmask16;
    for p in (0..kc).step_by(16) {
        let count = 16.min(kc - p);
        let loaded = ((1u32 << count) - 1) as __mmask16;
        // SAFETY: masked loads of `count <= kc - p` values of each row; masked stores of `MR`
        // values at step `p + t < kc` of the panel.
        unsafe {
            let block: [__m512; 16] = std::array::from_fn(|r| match sources.get(r) {
                Some(row) => _mm512_maskz_loadu_ps(loaded, row.as_ptr().add(p)),
                None => _mm512_setzero_ps(),
            });
            for (t, step) in transpose16(block).iter().enumerate().take(count) {
                _mm512_mask_storeu_ps(panel.as_mut_ptr().add((p + t) * MR), step_lanes, *step);
            }
        }
    }
}

/// The transpose of a 16x16 block held as 16 rows of 16 lanes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
pub(super) fn transpose16(
    rows: [std::arch::x86_64::__m512; 16],
) -> [std::arch::x86_64::__m512; 16] {
    use std::arch::x86_64::*;
    // Pairs of rows interleaved, then quads: `quads[4 * b + e]` holds, in each 128-bit lane
    // `k`, column `4k + e` of rows `4b..4b + 4`.
    let pairs: [__m512; 16] = std::array::from_fn(|i| {
        let (a, b) = (rows[i & !1], rows[i | 1]);
        if i % 2 == 0 {
            _mm512_unpacklo_ps(a, b)
        } else {
            _mm512_unpackhi_ps(a, b)
        }
    });
    let quads: [__m512; 16] = std::array::from_fn(|i| {
        let (block, e) = (i / 4, i % 4);
        let (a, b) = (pairs[4 * block + e / 2], pairs[4 * block + 2 + e / 2]);
        if e % 2 == 0 {
            _mm512_shuffle_ps::<0x44>(a, b)
        } else {
            _mm512_shuffle_ps::<0xEE>(a, b)
        }
    });
    // Column `4k + e` gathers lane `k` of `quads[e]`, `quads[4 + e]`, `quads[8 + e]` and
    // `quads[12 + e]`, in two rounds of 128-bit shuffles.
    std::array::from_fn(|column| {
        let (k, e) = (column / 4, column % 4);
        let (low, high) = if k % 2 == 0 {
            (
                _mm512_shuffle_f32x4::<0x88>(quads[e], quads[4 + e]),
                _mm512_shuffle_f32x4::<0x88>(quads[8 + e], quads[12 + e]),
            )
        } else {
            (
                _mm512_shuffle_f32x4::<0xDD>(quads[e], quads[4 + e]),
                _mm512_shuffle_f32x4::<0xDD>(quads[8 + e], quads[12 + e]),
            )
        };
        if k < 2 {
            _mm512_shuffle_f32x4::<0x88>(low, high)
        } else {
            _mm512_shuffle_f32x4::<0xDD>(low, high)
        }
    })
}

/// One micro-tile of the product: its first row and column and how many of each are real.
#[derive(Clone, Copy)]
struct Tile {
    row: usize,
    col: usize,
    rows: usize,
    cols: usize,
}

/// Where a micro-tile's two 16-column halves go: row `i` of the low half at `low + i * ldc`,
/// of the high half at `high + i * ldc` (`low + 16` where the tile's rows are contiguous).
#[derive(Clone, Copy)]
struct TileTarget {
    low: *mut f32,
    high: *mut f32,
    ldc: usize,
}

impl TileTarget {
    /// Rows `ldc` apart from `start`, each contiguous.
    fn rows(start: *mut f32, ldc: usize) -> Self {
        TileTarget {
            low: start,
            high: start.wrapping_add(16),
            ldc,
        }
    }
}

impl Placement {
    /// Where `tile` goes in `out` when the micro-kernel can store it there itself: its rows
    /// are contiguous, or (NCHW planes of 16 positions or more, such as a 4x4 output) each
    /// half of them is.
    fn tile_target(&self, tile: Tile, out: SharedOut) -> Option<TileTarget> {
        const HALF: usize = NR / 2;
        let low = self.offset(tile.row, tile.col)?;
        if let Some(ldc) = self.contiguous_row_stride(tile.col, tile.cols) {
            return Some(TileTarget::rows(out.0.wrapping_add(low), ldc));
        }
        let Placement::Planes { positions, .. } = *self else {
            return None;
        };
        let halves_contiguous = tile.cols > HALF
            && self.contiguous_row_stride(tile.col, HALF).is_some()
            && self
                .contiguous_row_stride(tile.col + HALF, tile.cols - HALF)
                .is_some();
        let high = self.offset(tile.row, tile.col + HALF)?;
        halves_contiguous.then(|| TileTarget {
            low: out.0.wrapping_add(low),
            high: out.0.wrapping_add(high),
            ldc: positions,
        })
    }
}

/// Multiplies one `A` panel by one `B` panel into the tile's place, straight into `out` where
/// the micro-kernel can store it there ([`Placement::tile_target`]), through a small buffer
/// where it spans NCHW planes otherwise or folds onto images.
///
/// # Safety
/// As for [`columns`].
unsafe fn multiply_tile(
    kc: usize,
    panel_a: &[f32],
    panel_b: &[f32],
    tile: Tile,
    out: SharedOut,
    placement: Placement,
    add: bool,
) {
    if let Some(target) = placement.tile_target(tile, out) {
        // SAFETY: the tile's rows and halves lie where the placement puts them, inside `out`.
        unsafe { micro_kernel(kc, panel_a, panel_b, target, (tile.rows, tile.cols), add) };
        return;
    }
    let mut buffer = [0.0f32; MR * NR];
    // SAFETY: the buffer holds `MR` rows of `NR`.
    unsafe {
        micro_kernel(
            kc,
            panel_a,
            panel_b,
            TileTarget::rows(buffer.as_mut_ptr(), NR),
            (tile.rows, tile.cols),
            false,
        )
    };
    if let Placement::Folded {
        geometry,
        image_stride,
    } = placement
    {
        // SAFETY: forwarded from the caller.
        return unsafe { fold_tile(&buffer, tile, &geometry, image_stride, out) };
    }
    // Column by column runs that are contiguous in `out` (one per NCHW image the tile spans).
    let mut c = 0;
    while c < tile.cols {
        let j = tile.col + c;
        let run = placement.run_from(j).min(tile.cols - c);
        for r in 0..tile.rows {
            let values = &buffer[r * NR + c..][..run];
            let Some(start) = placement.offset(tile.row + r, j) else {
                unreachable!("only a fold has no offset, and it returned above")
            };
            // SAFETY: inside this thread's columns, `run` values contiguous from `start`.
            let target = unsafe { std::slice::from_raw_parts_mut(out.0.add(start), run) };
            if add {
                target.iter_mut().zip(values).for_each(|(t, v)| *t += v);
            } else {
                target.copy_from_slice(values);
            }
        }
        c += run;
    }
}

/// Adds a finished tile of a folding product onto the images (see [`Placement::Folded`]). The
/// tile's columns split into runs along one output row of one image; the tile rows of one
/// channel and kernel row land on one image row, so they are summed in registers and added
/// to it once (adding row by row, each masked store held up the next row's load of the same
/// pixels).
///
/// # Safety
/// `out` must be valid for every pixel of the images of the tile's columns, channels of its
/// rows, and no other thread may touch those images meanwhile; the CPU must have AVX-512.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn fold_tile(
    buffer: &[f32; MR * NR],
    tile: Tile,
    g: &ConvGeometry,
    image_stride: usize,
    out: SharedOut,
) {
    let (positions, area, plane) = (g.positions(), g.kernel_area(), g.height * g.width);
    // Each tile row's plane and tap, worked out once for all of the tile's runs.
    let taps: [Tap; MR] = std::array::from_fn(|r| {
        let (channel, tap) = ((tile.row + r) / area, (tile.row + r) % area);
        Tap {
            plane_start: channel * plane,
            kh: tap / g.kernel_w,
            kw: tap % g.kernel_w,
        }
    });
    let mut c = 0;
    while c < tile.cols {
        let j = tile.col + c;
        let (image, position) = (j / positions, j % positions);
        let (oh, ow) = (position / g.out_w, position % g.out_w);
        let len = (g.out_w - ow).min(tile.cols - c);
        let mut r = 0;
        while r < tile.rows {
            let Tap {
                plane_start, kh, ..
            } = taps[r];
            let end = (r + 1..tile.rows)
                .find(|&e| taps[e].plane_start != plane_start || taps[e].kh != kh)
                .unwrap_or(tile.rows);
            // The image row under this kernel row, shifted by the padding.
            let y = (oh * g.stride + kh).wrapping_sub(g.padding);
            if y < g.height {
                let run = Run {
                    values: buffer[r * NR + c..].as_ptr(),
                    len,
                    room: NR - c,
                };
                let x0 = (ow * g.stride) as isize - g.padding as isize;
                // SAFETY: row `y` of a plane of one of this thread's images (the caller's
                // contract); the run's values lie in the tile buffer.
                unsafe {
                    let row = out.0.add(image * image_stride + plane_start + y * g.width);
                    if g.stride <= 2 {
                        add_run_summed(run, &taps[r..end], g, row, x0);
                    } else {
                        add_run_row_by_row(run, &taps[r..end], g, row, x0);
                    }
                }
            }
            r = end;
        }
        c += len;
    }
}

/// A tile row's kernel tap, and where its channel's plane starts in an image.
#[derive(Clone, Copy)]
struct Tap {
    plane_start: usize,
    kh: usize,
    kw: usize,
}

/// One run of a tile: `len` values from `values` in each of its tile rows (`NR` apart), with
/// `room` values left in each tile row from there.
#[derive(Clone, Copy)]
struct Run {
    values: *const f32,
    len: usize,
    room: usize,
}

/// Adds a run whose tile rows (`taps`, consecutive kernel columns) land on one image row:
/// value `t` of the row with kernel column `kw` goes to pixel `x0 + kw + t * stride` (stride 1
/// or 2). The rows are summed 16 pixels at a time in a register, then added to the image row
/// once.
///
/// # Safety
/// `row` must be valid for the image row (`width` pixels), `run` for its values; AVX-512.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn add_run_summed(run: Run, taps: &[Tap], g: &ConvGeometry, row: *mut f32, x0: isize) {
    use std::arch::x86_64::*;
    let kw0 = taps[0].kw;
    // Pixel offsets from `x0 + kw0` that the run covers.
    let span = (run.len - 1) * g.stride + taps[taps.len() - 1].kw - kw0 + 1;
    let first_pixel = x0 + kw0 as isize;
    let prefix = |count: usize| -> __mmask16 { ((1u32 << count.min(16)) - 1) as u16 };
    let (low_lanes, high_lanes) = (prefix(run.room), prefix(run.room.saturating_sub(16)));
    let shift = _mm_cvtsi32_si128((g.stride - 1) as i32);
    // SAFETY: value loads are masked to the tile row's `room`; pixel loads and stores to the
    // lanes inside the image row and the span (the caller's contract).
    unsafe {
        let lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        let odd = _mm512_set1_epi32(g.stride as i32 - 1);
        let len = _mm512_set1_epi32(run.len as i32);
        for chunk in (0..span).step_by(16) {
            let mut sum = _mm512_setzero_ps();
            for (i, tap) in taps.iter().enumerate() {
                // Lane `l` takes value `t` where `chunk + l - (kw - kw0) == t * stride`.
                let offset = _mm512_add_epi32(
                    lane,
                    _mm512_set1_epi32(chunk as i32 - (tap.kw - kw0) as i32),
                );
                let t = _mm512_sra_epi32(offset, shift);
                let takes = _mm512_cmpge_epi32_mask(offset, _mm512_setzero_si512())
                    & _mm512_cmpeq_epi32_mask(
                        _mm512_and_si512(offset, odd),
                        _mm512_setzero_si512(),
                    )
                    & _mm512_cmplt_epi32_mask(t, len);
                let values = run.values.add(i * NR);
                let low = _mm512_maskz_loadu_ps(low_lanes, values);
                let high = _mm512_maskz_loadu_ps(high_lanes, values.add(16));
                sum = _mm512_add_ps(sum, _mm512_maskz_permutex2var_ps(takes, low, t, high));
            }
            // The chunk's pixels inside both the image row and the span.
            let x = first_pixel + chunk as isize;
            let from = (-x).clamp(0, 16) as usize;
            let to = (g.width as isize - x)
                .clamp(0, 16)
                .min((span - chunk) as isize) as usize;
            if from >= to {
                continue;
            }
            let mask = prefix(to) & !prefix(from);
            let target = row.wrapping_offset(x);
            let pixels = _mm512_maskz_loadu_ps(mask, target);
            _mm512_mask_storeu_ps(target, mask, _mm512_add_ps(pixels, sum));
        }
    }
}

/// Adds a run row by row, for strides past 2: value `t` of the row with kernel column `kw`
/// goes to pixel `x0 + kw + t * stride`, one vector of values at a time (value `i` to lane
/// `i * stride`) where the stride fits in one.
///
/// # Safety
/// As for [`add_run_summed`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn add_run_row_by_row(run: Run, taps: &[Tap], g: &ConvGeometry, row: *mut f32, x0: isize) {
    use std::arch::x86_64::*;
    let stride = g.stride;
    let per_chunk = if stride <= 16 {
        16usize.div_ceil(stride)
    } else {
        1
    };
    let lanes = |count: usize| (0..count).fold(0u16, |mask, i| mask | 1 << (i * stride));
    let spread: [i32; 16] = std::array::from_fn(|lane| (lane / stride) as i32);
    // SAFETY: masked loads and stores touch only the lanes of real values and of pixels
    // inside the image row (the caller's contract).
    unsafe {
        let spread = _mm512_loadu_si512(spread.as_ptr().cast());
        for (i, tap) in taps.iter().enumerate() {
            let x = x0 + tap.kw as isize;
            // The values whose pixel lies inside the row: `0 <= x + t * stride < width`.
            let inside = |x: isize| x.max(0).unsigned_abs().div_ceil(stride);
            let (first, end) = (inside(-x), run.len.min(inside(g.width as isize - x)));
            let mut target = row.wrapping_offset(x + (first * stride) as isize);
            let mut source = run.values.add(i * NR + first);
            let mut left = end.saturating_sub(first);
            while left > 0 {
                let count = per_chunk.min(left);
                let mask = lanes(count);
                let chunk = _mm512_maskz_loadu_ps(((1u32 << count) - 1) as u16, source);
                let sum = _mm512_add_ps(
                    _mm512_maskz_loadu_ps(mask, target),
                    _mm512_permutexvar_ps(spread, chunk),
                );
                _mm512_mask_storeu_ps(target, mask, sum);
                source = source.add(count);
                target = target.add(count * stride);
                left -= count;
            }
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn fold_tile(_: &[f32; MR * NR], _: Tile, _: &ConvGeometry, _: usize, _: SharedOut) {
    unreachable!("`Isa::current().has_avx512()` is false off x86-64")
}

/// `c (+)= a · b` for one `MR x NR` tile (`rows x cols` of it stored) at `c`.
///
/// # Safety
/// `c` must be valid for `rows` rows of the tile's first `cols` columns; the CPU must have
/// AVX-512.
#[cfg(target_arch = "x86_64")]
unsafe fn micro_kernel(
    kc: usize,
    a: &[f32],
    b: &[f32],
    c: TileTarget,
    (rows, cols): (usize, usize),
    add: bool,
) {
    assert!(a.len() >= kc * MR && b.len() >= kc * NR && rows <= MR && cols <= NR);
    // SAFETY: `Isa::current().has_avx512()` was checked by `product`, the only caller's caller.
    unsafe { micro_kernel_avx512(kc, a.as_ptr(), b.as_ptr(), c, (rows, cols), add) }
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn micro_kernel(_: usize, _: &[f32], _: &[f32], _: TileTarget, _: (usize, usize), _: bool) {
    unreachable!("`Isa::current().has_avx512()` is false off x86-64")
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn micro_kernel_avx512(
    kc: usize,
    a: *const f32,
    b: *const f32,
    c: TileTarget,
    (rows, cols): (usize, usize),
    add: bool,
) {
    use std::arch::x86_64::*;
    // SAFETY: the packed panels hold `kc` steps of `MR` and `NR` values; `c` is valid for the
    // stored rows and the masked columns (the caller's contract).
    unsafe {
        let mut acc = [[_mm512_setzero_ps(); 2]; MR];
        let (mut a, mut b) = (a, b);
        for _ in 0..kc {
            let b0 = _mm512_loadu_ps(b);
            let b1 = _mm512_loadu_ps(b.add(16));
            for (i, acc) in acc.iter_mut().enumerate() {
                let a = _mm512_set1_ps(*a.add(i));
                acc[0] = _mm512_fmadd_ps(a, b0, acc[0]);
                acc[1] = _mm512_fmadd_ps(a, b1, acc[1]);
            }
            a = a.add(MR);
            b = b.add(NR);
        }
        let lanes = |count: usize| -> __mmask16 { ((1u32 << count.min(16)) - 1) as u16 };
        let (mask0, mask1) = (lanes(cols), lanes(cols.saturating_sub(16)));
        for (i, acc) in acc.iter().enumerate().take(rows) {
            let (row_low, row_high) = (c.low.add(i * c.ldc), c.high.wrapping_add(i * c.ldc));
            let (mut low, mut high) = (acc[0], acc[1]);
            if add {
                low = _mm512_add_ps(low, _mm512_maskz_loadu_ps(mask0, row_low));
                high = _mm512_add_ps(high, _mm512_maskz_loadu_ps(mask1, row_high));
            }
            _mm512_mask_storeu_ps(row_low, mask0, low);
            _mm512_mask_storeu_ps(row_high, mask1, high);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::gemm::tests::TestOperands;
    use super::super::layout::col2im;
    use super::*;

    /// Shapes across every block edge (MR, NR, KC, MC, NC), operands plain and transposed,
    /// row-major and into NCHW planes narrower than, half of (each half-tile in one plane),
    /// equal to and wider than a tile, written then accumulated.
    #[test]
    fn products_match_the_naive_product_in_rows_and_planes() {
        if !Isa::current().has_avx512() {
            eprintln!("skipped: this CPU has no AVX-512");
            return;
        }
        for (m, k, n) in [
            (1, 1, 1),
            (13, 300, 33),
            (150, 257, 530),
            (5, 600, 7),
            (12, 40, 1100),
            (20, 70, 96),
        ] {
            let operands = TestOperands::new(m, k, n);
            let expected = &operands.expected;
            let positions = [n, 10, 16, 32, 45].into_iter().filter(|p| n % p == 0);
            for positions in positions {
                let image_stride = m * positions + 3;
                let placements = [
                    (Placement::Rows { row_stride: n + 3 }, (m - 1) * (n + 3) + n),
                    (
                        Placement::Planes {
                            positions,
                            image_stride,
                        },
                        (n / positions) * image_stride,
                    ),
                ];
                for (placement, len) in placements {
                    for (l, r) in operands.views() {
                        let mut out = vec![f32::NAN; len];
                        product(l, &r, &mut out, placement, false);
                        product(l, &r, &mut out, placement, true);
                        for i in 0..m {
                            for j in 0..n {
                                let x = out[placement.offset(i, j).expect("a dense placement")];
                                let y = 2.0 * expected[i * n + j];
                                let tolerance = 1e-4 * (1.0 + y.abs()) * (k as f32).sqrt();
                                assert!(
                                    (x - y).abs() < tolerance,
                                    "{m}x{k}x{n} {placement:?} ({i},{j}): {x} vs {y}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    /// A folding product equals `col2im` of the plain product, over strides 1-3 and 17 (past
    /// one vector), paddings 0-2, odd sizes, several images, depths in one block, in one
    /// double-deep block and in several, and both thread counts, and adds onto what the images
    /// held.
    #[test]
    fn a_folding_product_equals_col2im_of_the_product() {
        if !Isa::current().has_avx512() {
            eprintln!("skipped: this CPU has no AVX-512");
            return;
        }
        let geometries = [
            ((3, 2, 9, 11), (3, 3), 1, 1, 37),
            ((5, 3, 16, 16), (4, 4), 2, 1, 300),
            ((2, 4, 13, 10), (5, 3), 3, 2, 37),
            ((3, 1, 7, 40), (2, 2), 17, 0, 600),
            ((4, 5, 8, 8), (4, 4), 2, 0, 37),
        ];
        for ((batch, channels, h, w), kernel, stride, padding, k) in geometries {
            let g = ConvGeometry::new((batch, channels, h, w), kernel, stride, padding).unwrap();
            let (m, n) = (g.col_rows(), g.col_width());
            let operands = TestOperands::new(m, k, n);
            let before: Vec<f32> = (0..g.image_len()).map(|i| (i as f32 * 0.7).cos()).collect();
            let folded = col2im(&g, &operands.expected);
            for threads in [1, 3] {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                for (l, r) in operands.views() {
                    let mut image = before.clone();
                    let placement = Placement::Folded {
                        geometry: g,
                        image_stride: channels * h * w,
                    };
                    pool.install(|| product(l, &r, &mut image, placement, true));
                    for (i, (x, (b, f))) in image.iter().zip(before.iter().zip(&folded)).enumerate()
                    {
                        let y = b + f;
                        assert!(
                            (x - y).abs() < 1e-3 * (1.0 + y.abs()),
                            "{g:?} threads {threads} pixel {i}: {x} vs {y}"
                        );
                    }
                }
            }
        }
    }
}
