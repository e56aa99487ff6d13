//! The instruction-set half of our blocked kernels, behind one trait: the micro-kernel, the
//! packers, the fold onto images and the Winograd transforms, each written once per instruction
//! set in a module of its own (`avx512/`), with the block shape as associated constants. The
//! blocking, the packing order, the layouts and the threading (`sgemm`, `implicit`,
//! `winograd`) are portable code, generic over an [`Intrinsics`] implementation.
//!
//! A product runs with an implementation only through a [`Blocked`] value, which exists only
//! where the CPU can run it (`Blocked::current`), so no intrinsic is reachable elsewhere and
//! the portable code needs no stubs. Another instruction set (an AVX2 or NEON micro-kernel) is
//! one more implementation: a file that implements [`Intrinsics`], a [`Blocked`] variant and
//! its arm in [`on_blocked!`]; `plan` then offers it wherever `Blocked::current` returns it.

use super::gemm::MatRef;
use super::implicit::UnfoldedRows;
use super::layout::ConvGeometry;
use super::scratch::SharedOut;
use super::sgemm::{Run, Tap, TileTarget};
use super::winograd::{Nchw, PanelLayout, PhaseView, Source, TapLayout, Tiles};

/// One instruction set's code for the blocked kernels.
///
/// # Safety
/// Every `unsafe fn` here may run only where [`Intrinsics::available`] holds (the CPU has the
/// instruction set); the portable callers reach them through [`Blocked`], which guarantees it,
/// and state the rest of each contract at the call.
pub(super) trait Intrinsics: Sized + 'static {
    /// Rows of `A` per micro-kernel call.
    const MR: usize;
    /// Columns of `B` per micro-kernel call: a packed panel's width.
    const NR: usize;
    /// `f32` lanes of one vector: images per Winograd vector, output positions per unfolding
    /// load.
    const LANES: usize;
    /// A micro-tile's worth of `f32` (`MR * NR`, zeroed), for tiles that cannot be stored in place.
    type TileBuffer: AsRef<[f32]> + AsMut<[f32]>;

    /// Whether this CPU (under the environment's overrides) runs this instruction set.
    fn available() -> bool;

    fn tile_buffer() -> Self::TileBuffer;

    /// `c (+)= a · b` for one `MR x NR` tile from packed panels `a` (`kc` steps of `MR`) and
    /// `b` (`kc` steps of `NR`), storing `rows x cols` of it at `c` (adding when `add`).
    ///
    /// # Safety
    /// `c` must be valid for those rows and columns; the instruction set available.
    unsafe fn micro_kernel(
        kc: usize,
        a: &[f32],
        b: &[f32],
        c: TileTarget,
        rows_cols: (usize, usize),
        add: bool,
    );

    /// Packs up to `MR` rows of `A` (`sources`, each at least `kc` long) into one panel (`kc`
    /// steps of `MR` values, zero past the last row).
    ///
    /// # Safety
    /// The instruction set available.
    unsafe fn pack_rows(sources: &[&[f32]], panel: &mut [f32]);

    /// One `NR`-wide panel (columns `first..first + width`, rows `p0..` as many as `panel`
    /// holds) of an operand stored transposed (`m.row_stride == 1`: its columns contiguous).
    ///
    /// # Safety
    /// The instruction set available.
    unsafe fn pack_transposed(m: &MatRef, p0: usize, first: usize, width: usize, panel: &mut [f32]);

    /// Adds one run of a folding product's tile onto an image row (see `sgemm::fold_tile`):
    /// value `t` of the tile row with kernel column `kw` goes to pixel `x0 + kw + t * stride`.
    ///
    /// # Safety
    /// `row` must be valid for the image row (`g.width` pixels) and no other thread may touch
    /// it; `run` valid for its values; the instruction set available.
    unsafe fn fold_run(run: Run, taps: &[Tap], g: &ConvGeometry, row: *mut f32, x0: isize);

    /// Packs rows `p0..p0 + kc`, columns `j0..j0 + nc` of the unfolded image `rows` into
    /// `NR`-wide panels (the layout `PanelSource::pack` writes).
    ///
    /// # Safety
    /// The instruction set available.
    unsafe fn pack_unfolded_rows(
        rows: &UnfoldedRows,
        p0: usize,
        kc: usize,
        j0: usize,
        nc: usize,
        panels: &mut [f32],
    );

    /// As [`Intrinsics::pack_unfolded_rows`], of the transpose of `rows` (output positions as
    /// rows, column-matrix rows as columns).
    ///
    /// # Safety
    /// The instruction set available.
    unsafe fn pack_unfolded_columns(
        rows: &UnfoldedRows,
        p0: usize,
        kc: usize,
        j0: usize,
        nc: usize,
        panels: &mut [f32],
    );

    /// Channel `channel` of `x` (`t`, NCHW) into `out` as `(H, W, N)`.
    ///
    /// # Safety
    /// The instruction set available.
    unsafe fn batch_minor_channel(x: &[f32], t: &Nchw, channel: usize, out: &mut [f32]);

    /// Output channel `row`'s kernels for every source, as `(G g Gᵀ)`, into `u`
    /// (`(point, source)`).
    ///
    /// # Safety
    /// The instruction set available.
    unsafe fn transform_kernels(weight: &[f32], taps: &TapLayout, row: usize, u: &mut [f32]);

    /// Source plane `index`'s transformed tiles (`Bᵀ d B`) into `v`, laid out as `layout`.
    ///
    /// # Safety
    /// `v` must hold every point of `layout`, and no other thread may write this source's
    /// rows; the instruction set available.
    unsafe fn transform_input(
        batch_minor: &[f32],
        t: &Nchw,
        source: (usize, &Source),
        tiles: &Tiles,
        layout: PanelLayout,
        v: SharedOut,
    );

    /// Output channel `channel`'s gradient tiles, as `A dY Aᵀ`, into `gy` (`(point, M, tile)`).
    ///
    /// # Safety
    /// `gy` must hold every point's `t.channels x tiles` matrix, and no other thread may write
    /// this channel's rows; the instruction set available.
    unsafe fn transform_gradient(
        batch_minor: &[f32],
        t: &Nchw,
        channel: usize,
        tiles: &Tiles,
        gy: SharedOut,
    );

    /// Weight row `row`'s kernel gradients from the points' `du` (`(point, M, K)`), as
    /// `Gᵀ dU G`, into its taps (`dw`, the row) as `taps` places them.
    ///
    /// # Safety
    /// The instruction set available.
    unsafe fn untransform_kernels(
        du: &[f32],
        m_k: (usize, usize),
        row: usize,
        taps: &TapLayout,
        dw: &mut [f32],
    );

    /// Output channel `channel`'s tiles (`Aᵀ M A`) from its 25 products (`(point, M, tile)`)
    /// into its pixels of the `target` view of `out`.
    ///
    /// # Safety
    /// `out` must hold the whole `output` tensor, and no other thread may write this
    /// channel's pixels of the view; the instruction set available.
    unsafe fn transform_output(
        products: &[f32],
        tiles: &Tiles,
        output: &Nchw,
        target: PhaseView,
        channel: usize,
        out: SharedOut,
    );
}

/// An [`Intrinsics`] implementation this CPU runs: a value exists only where it does, so a
/// path that holds one may call its code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blocked {
    /// `avx512/`: 16-lane vectors, a 12 x 32 micro-kernel.
    #[cfg(target_arch = "x86_64")]
    Avx512,
}

impl Blocked {
    /// The best implementation this process runs, if any (see `Isa`).
    pub fn current() -> Option<Blocked> {
        #[cfg(target_arch = "x86_64")]
        if super::avx512::Avx512::available() {
            return Some(Blocked::Avx512);
        }
        None
    }
}

/// `on_blocked!(blocked, K => expression)`: the expression with `K` the [`Intrinsics`] type of
/// `blocked`. The one place a [`Blocked`] value becomes code.
macro_rules! on_blocked {
    ($blocked:expr, $k:ident => $body:expr) => {
        match $blocked {
            #[cfg(target_arch = "x86_64")]
            $crate::kernels::intrinsics::Blocked::Avx512 => {
                type $k = $crate::kernels::avx512::Avx512;
                $body
            }
        }
    };
}
pub(super) use on_blocked;

impl Blocked {
    /// `f32` lanes of the implementation's vectors ([`Intrinsics::LANES`]).
    pub fn lanes(self) -> usize {
        on_blocked!(self, K => K::LANES)
    }
}
