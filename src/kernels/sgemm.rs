//! Our own blocked matrix multiply: `C (+)= A · B`, where `B` is packed
//! by a [`PanelSource`] and `C` may be a set of NCHW planes. That lets a convolution multiply
//! its weights by a column matrix it never builds: the source unfolds each cache-sized tile of
//! the image as the product needs it (an implicit GEMM), and the product writes straight into
//! the NCHW output. With the `gemm` crate the column matrix went to memory, was read back to be
//! packed, and the channel-major result was copied into NCHW.
//!
//! Blocking follows BLIS: a `KC x NC` block of `B` is packed into `NR`-wide panels (it stays in
//! L2), an `MC x KC` block of `A` into `MR`-tall panels, and a `MR x NR` micro-kernel runs over
//! them. Threads take disjoint ranges of columns. The micro-kernel, the vector packers and the
//! fold's adds are an instruction set's ([`Intrinsics`]; `MR` and `NR` are its block shape);
//! this file is the portable rest, generic over it.
//!
//! A product can also fold its result back onto images as it goes ([`Placement::Folded`]):
//! `col2im(Wᵀ · dy)` adds each finished micro-tile onto the pixels its kernel taps cover, so
//! the column matrix of an image-side product is never stored either.
//! Where the CPU has no implementation (see [`Blocked`]) `plan` never runs it and callers use
//! the `gemm` crate path.

use std::marker::PhantomData;

use rayon::prelude::*;

use super::gemm::MatRef;
#[cfg(doc)]
use super::intrinsics::Blocked;
use super::intrinsics::Intrinsics;
use super::layout::ConvGeometry;
use super::scratch::{Scratch, SharedOut};

/// Depth of one packed block.
const KC: usize = 256;
/// Rows of `A` per packed block (a multiple of every `MR`; `MC x KC` stays in L2).
const MC: usize = 144;
/// Columns of `B` per packed block (a multiple of every `NR`; `KC x NC` stays in L2).
const NC: usize = 512;
/// The most rows a micro-kernel may take (`MR`), for the portable code's fixed-size arrays.
const MAX_MR: usize = 16;

/// The right-hand operand of a product, packed on demand into `K`'s panels.
pub(super) trait PanelSource<K: Intrinsics>: Sync {
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

impl<K: Intrinsics> PanelSource<K> for MatRef<'_> {
    fn rows(&self) -> usize {
        self.rows
    }

    fn cols(&self) -> usize {
        self.cols
    }

    fn pack(&self, p0: usize, kc: usize, j0: usize, nc: usize, panels: &mut [f32]) {
        if self.row_stride == 1 && self.col_stride != 1 {
            assert!(K::available(), "packing needs the instruction set");
            for_each_panel::<K>(panels, kc, (j0, nc), |first, width, panel| {
                // SAFETY: the instruction set is available (asserted above).
                unsafe { K::pack_transposed(self, p0, first, width, panel) }
            });
            return;
        }
        for_each_panel::<K>(panels, kc, (j0, nc), |first, width, panel| {
            for (p, dst) in panel.chunks_exact_mut(K::NR).enumerate() {
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

/// Calls `fill(first column, real columns, panel)` for each `NR`-wide panel (`kc` rows) of
/// columns `j0..j0 + nc` in `panels`, the layout [`PanelSource::pack`] writes.
pub(super) fn for_each_panel<K: Intrinsics>(
    panels: &mut [f32],
    kc: usize,
    (j0, nc): (usize, usize),
    mut fill: impl FnMut(usize, usize, &mut [f32]),
) {
    for (q, panel) in panels
        .chunks_exact_mut(K::NR * kc)
        .take(nc.div_ceil(K::NR))
        .enumerate()
    {
        let first = j0 + q * K::NR;
        fill(first, K::NR.min(j0 + nc - first), panel);
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
    fn column_unit(&self, nr: usize) -> usize {
        match *self {
            Placement::Folded { geometry, .. } => geometry.positions(),
            _ => nr,
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
/// to accumulate, or the CPU lacks `K`'s instruction set (hold a [`Blocked`] first).
pub(super) fn product<K: Intrinsics>(
    a: MatRef,
    b: &dyn PanelSource<K>,
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
pub(super) fn product_on_this_thread<K: Intrinsics>(
    a: MatRef,
    b: &dyn PanelSource<K>,
    out: &mut [f32],
    placement: Placement,
    accumulate: bool,
) {
    product_on(1, a, b, out, placement, accumulate)
}

/// [`product`] over `threads` threads of the current pool (1: the calling thread alone).
fn product_on<K: Intrinsics>(
    threads: usize,
    a: MatRef,
    b: &dyn PanelSource<K>,
    out: &mut [f32],
    placement: Placement,
    accumulate: bool,
) {
    let (m, k, n) = (a.rows, a.cols, b.cols());
    assert_eq!(b.rows(), k, "inner dimensions differ");
    assert!(K::available(), "the micro-kernel needs its instruction set");
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
    let packed_a = PackedA::<K>::new(&a, Blocking::for_product(k, &placement), threads > 1);
    let packed_a = &packed_a;
    let shared = SharedOut::new(out);
    let unit = placement.column_unit(K::NR);
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
struct PackedA<K> {
    data: Scratch,
    rows: usize,
    depth: usize,
    blocking: Blocking,
    kernels: PhantomData<fn() -> K>,
}

impl<K: Intrinsics> PackedA<K> {
    /// Packs `a`, with the threads of the current pool when `parallel`.
    fn new(a: &MatRef, blocking: Blocking, parallel: bool) -> Self {
        let (rows, depth) = (a.rows, a.cols);
        let padded = rows.div_ceil(K::MR) * K::MR;
        let mut data = Scratch::take(padded * depth);
        // Depth block `p0` starts at `p0 * padded`; its panel `q` `q * MR * kc` further on.
        // Threads take groups of panels, so a product one block deep packs in parallel too.
        const PANELS_PER_TASK: usize = 8;
        for (block, chunk) in data.chunks_mut(padded * blocking.kc).enumerate() {
            let p0 = block * blocking.kc;
            let kc = blocking.kc.min(depth - p0);
            let pack_task = |(task, panels): (usize, &mut [f32])| {
                let i0 = task * PANELS_PER_TASK * K::MR;
                pack_a::<K>(
                    a,
                    (i0, (rows - i0).min(panels.len() / kc)),
                    (p0, kc),
                    panels,
                );
            };
            let tasks = PANELS_PER_TASK * K::MR * kc;
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
            kernels: PhantomData,
        }
    }

    /// The panels of rows `i0..` (a multiple of `MR`) in depth block `p0..p0 + kc`.
    fn block(&self, p0: usize, kc: usize, i0: usize) -> &[f32] {
        let padded = self.rows.div_ceil(K::MR) * K::MR;
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
unsafe fn columns<K: Intrinsics>(
    a: &PackedA<K>,
    b: &dyn PanelSource<K>,
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
        packed_b.resize(width.min(count.div_ceil(K::NR) * K::NR) * depth.min(k), 0.0);
        for j0 in (first..first + count).step_by(width) {
            let nc = width.min(first + count - j0);
            for p0 in (0..k).step_by(depth) {
                let kc = depth.min(k - p0);
                let (panels, panel_stride) = match b.panels_in_place(p0, kc, j0) {
                    Some(in_place) => in_place,
                    None => {
                        b.pack(p0, kc, j0, nc, packed_b);
                        (&packed_b[..], K::NR * kc)
                    }
                };
                let add = accumulate || p0 > 0;
                for i0 in (0..m).step_by(MC) {
                    let mc = MC.min(m - i0);
                    let packed_a = a.block(p0, kc, i0);
                    for jr in (0..nc).step_by(K::NR) {
                        let panel_b = &panels[jr / K::NR * panel_stride..][..K::NR * kc];
                        for ir in (0..mc).step_by(K::MR) {
                            let panel_a = &packed_a[ir / K::MR * K::MR * kc..][..K::MR * kc];
                            let tile = Tile {
                                row: i0 + ir,
                                col: j0 + jr,
                                rows: K::MR.min(mc - ir),
                                cols: K::NR.min(nc - jr),
                            };
                            // SAFETY: forwarded from the caller.
                            unsafe {
                                multiply_tile::<K>(kc, panel_a, panel_b, tile, out, placement, add)
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
fn pack_a<K: Intrinsics>(
    a: &MatRef,
    (i0, mc): (usize, usize),
    (p0, kc): (usize, usize),
    packed: &mut [f32],
) {
    const { assert!(K::MR <= MAX_MR) };
    for (q, panel) in packed
        .chunks_exact_mut(K::MR * kc)
        .take(mc.div_ceil(K::MR))
        .enumerate()
    {
        let first = i0 + q * K::MR;
        let rows = K::MR.min(i0 + mc - first);
        let steps = panel.chunks_exact_mut(K::MR).enumerate();
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
            let sources: [&[f32]; MAX_MR] = std::array::from_fn(row);
            // SAFETY: `product` checked the instruction set is available.
            unsafe { K::pack_rows(&sources[..rows], panel) };
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

/// One micro-tile of the product: its first row and column and how many of each are real.
#[derive(Clone, Copy)]
struct Tile {
    row: usize,
    col: usize,
    rows: usize,
    cols: usize,
}

/// Where a micro-tile's two halves (`NR / 2` columns each) go: row `i` of the low half at
/// `low + i * ldc`, of the high half at `high + i * ldc` (`low + NR / 2` where the tile's rows
/// are contiguous).
#[derive(Clone, Copy)]
pub(super) struct TileTarget {
    pub(super) low: *mut f32,
    pub(super) high: *mut f32,
    pub(super) ldc: usize,
}

impl TileTarget {
    /// Rows `ldc` apart from `start`, each `nr` contiguous values.
    fn rows(start: *mut f32, ldc: usize, nr: usize) -> Self {
        TileTarget {
            low: start,
            high: start.wrapping_add(nr / 2),
            ldc,
        }
    }
}

impl Placement {
    /// Where `tile` goes in `out` when the micro-kernel can store it there itself: its rows
    /// are contiguous, or (NCHW planes at least half a tile wide, such as a 4x4 output under
    /// a 32-wide tile) each half of them is.
    fn tile_target(&self, tile: Tile, out: SharedOut, nr: usize) -> Option<TileTarget> {
        let half = nr / 2;
        let low = self.offset(tile.row, tile.col)?;
        if let Some(ldc) = self.contiguous_row_stride(tile.col, tile.cols) {
            return Some(TileTarget::rows(out.0.wrapping_add(low), ldc, nr));
        }
        let Placement::Planes { positions, .. } = *self else {
            return None;
        };
        let halves_contiguous = tile.cols > half
            && self.contiguous_row_stride(tile.col, half).is_some()
            && self
                .contiguous_row_stride(tile.col + half, tile.cols - half)
                .is_some();
        let high = self.offset(tile.row, tile.col + half)?;
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
unsafe fn multiply_tile<K: Intrinsics>(
    kc: usize,
    panel_a: &[f32],
    panel_b: &[f32],
    tile: Tile,
    out: SharedOut,
    placement: Placement,
    add: bool,
) {
    let rows_cols = (tile.rows, tile.cols);
    if let Some(target) = placement.tile_target(tile, out, K::NR) {
        // SAFETY: the tile's rows and halves lie where the placement puts them, inside `out`;
        // `product` checked the instruction set is available.
        unsafe { K::micro_kernel(kc, panel_a, panel_b, target, rows_cols, add) };
        return;
    }
    let mut buffer = K::tile_buffer();
    let buffer = buffer.as_mut();
    assert!(buffer.len() >= K::MR * K::NR);
    let target = TileTarget::rows(buffer.as_mut_ptr(), K::NR, K::NR);
    // SAFETY: the buffer holds `MR` rows of `NR` (asserted); the instruction set as above.
    unsafe { K::micro_kernel(kc, panel_a, panel_b, target, rows_cols, false) };
    if let Placement::Folded {
        geometry,
        image_stride,
    } = placement
    {
        // SAFETY: forwarded from the caller.
        return unsafe { fold_tile::<K>(buffer, tile, &geometry, image_stride, out) };
    }
    // Column by column runs that are contiguous in `out` (one per NCHW image the tile spans).
    let mut c = 0;
    while c < tile.cols {
        let j = tile.col + c;
        let run = placement.run_from(j).min(tile.cols - c);
        for r in 0..tile.rows {
            let values = &buffer[r * K::NR + c..][..run];
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
/// to it once by [`Intrinsics::fold_run`] (adding row by row, each masked store held up the
/// next row's load of the same pixels).
///
/// # Safety
/// `out` must be valid for every pixel of the images of the tile's columns, channels of its
/// rows, and no other thread may touch those images meanwhile; `K`'s instruction set available.
unsafe fn fold_tile<K: Intrinsics>(
    buffer: &[f32],
    tile: Tile,
    g: &ConvGeometry,
    image_stride: usize,
    out: SharedOut,
) {
    const { assert!(K::MR <= MAX_MR) };
    let (positions, area, plane) = (g.positions(), g.kernel_area(), g.height * g.width);
    // Each tile row's plane and tap, worked out once for all of the tile's runs.
    let taps: [Tap; MAX_MR] = std::array::from_fn(|r| {
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
                    values: buffer[r * K::NR + c..].as_ptr(),
                    len,
                    room: K::NR - c,
                };
                let x0 = (ow * g.stride) as isize - g.padding as isize;
                // SAFETY: row `y` of a plane of one of this thread's images (the caller's
                // contract); the run's values lie in the tile buffer.
                unsafe {
                    let row = out.0.add(image * image_stride + plane_start + y * g.width);
                    K::fold_run(run, &taps[r..end], g, row, x0);
                }
            }
            r = end;
        }
        c += len;
    }
}

/// A tile row's kernel tap, and where its channel's plane starts in an image.
#[derive(Clone, Copy)]
pub(super) struct Tap {
    pub(super) plane_start: usize,
    pub(super) kh: usize,
    pub(super) kw: usize,
}

/// One run of a tile: `len` values from `values` in each of its tile rows (`NR` apart), with
/// `room` values left in each tile row from there.
#[derive(Clone, Copy)]
pub(super) struct Run {
    pub(super) values: *const f32,
    pub(super) len: usize,
    pub(super) room: usize,
}

#[cfg(test)]
mod tests {
    use super::super::gemm::tests::TestOperands;
    use super::super::intrinsics::{Blocked, on_blocked};
    use super::super::layout::col2im;
    use super::super::portable::Portable;
    use super::*;

    /// Shapes across every block edge (MR, NR, KC, MC, NC), operands plain and transposed,
    /// row-major and into NCHW planes narrower than, half of (each half-tile in one plane),
    /// equal to and wider than a tile, written then accumulated.
    #[test]
    fn products_match_the_naive_product_in_rows_and_planes() {
        products_match_the_naive_product::<Portable>();
        let Some(blocked) = Blocked::current() else {
            eprintln!("this CPU runs no blocked kernels: checked the portable ones only");
            return;
        };
        on_blocked!(blocked, K => products_match_the_naive_product::<K>());
    }

    fn products_match_the_naive_product<K: Intrinsics>() {
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
                        product::<K>(l, &r, &mut out, placement, false);
                        product::<K>(l, &r, &mut out, placement, true);
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
        folding_equals_col2im::<Portable>();
        let Some(blocked) = Blocked::current() else {
            eprintln!("this CPU runs no blocked kernels: checked the portable ones only");
            return;
        };
        on_blocked!(blocked, K => folding_equals_col2im::<K>());
    }

    fn folding_equals_col2im<K: Intrinsics>() {
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
                    pool.install(|| product::<K>(l, &r, &mut image, placement, true));
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
