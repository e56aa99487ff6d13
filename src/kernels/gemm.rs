//! A safe face on the `gemm` crate (the pure-Rust matrix multiply Candle itself uses):
//! matrices are slices with row and column strides, checked before the unsafe call.

use gemm::Parallelism;

/// A read-only matrix view: element (r, c) is `data[r * row_stride + c * col_stride]`.
#[derive(Clone, Copy)]
pub struct MatRef<'a> {
    pub(super) data: &'a [f32],
    pub(super) rows: usize,
    pub(super) cols: usize,
    pub(super) row_stride: usize,
    pub(super) col_stride: usize,
}

impl<'a> MatRef<'a> {
    /// A row-major `rows x cols` matrix whose rows are `row_stride` apart.
    pub fn row_major(data: &'a [f32], rows: usize, cols: usize, row_stride: usize) -> Self {
        let view = MatRef {
            data,
            rows,
            cols,
            row_stride,
            col_stride: 1,
        };
        view.assert_in_bounds();
        view
    }

    /// The same elements read as the transpose.
    pub fn t(self) -> Self {
        MatRef {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
        }
    }

    fn assert_in_bounds(&self) {
        if self.rows > 0 && self.cols > 0 {
            let last = (self.rows - 1) * self.row_stride + (self.cols - 1) * self.col_stride;
            assert!(last < self.data.len(), "matrix view out of bounds");
        }
    }
}

/// `dst = lhs · rhs` (or `dst += lhs · rhs` when `accumulate`), `dst` row-major `m x n` with rows
/// `dst_row_stride` apart. Threads over the current rayon pool when the product is large enough.
pub fn matmul(dst: &mut [f32], dst_row_stride: usize, lhs: MatRef, rhs: MatRef, accumulate: bool) {
    let (m, k, n) = (lhs.rows, lhs.cols, rhs.cols);
    assert_eq!(rhs.rows, k, "inner dimensions differ");
    if m == 0 || n == 0 {
        return;
    }
    assert!(
        (m - 1) * dst_row_stride + n <= dst.len(),
        "destination too small"
    );
    if k == 0 {
        if !accumulate {
            for row in dst.chunks_mut(dst_row_stride).take(m) {
                row[..n].fill(0.0);
            }
        }
        return;
    }
    let threads = rayon::current_num_threads();
    let parallelism = if threads > 1 && m * n * k >= 1 << 17 {
        Parallelism::Rayon(threads)
    } else {
        Parallelism::None
    };
    // SAFETY: every view was checked to lie inside its slice (`MatRef::assert_in_bounds` and the
    // assertion on `dst` above), `dst` is borrowed mutably so it aliases neither input, and the
    // strides are those the bounds were checked with.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            dst_row_stride as isize,
            accumulate,
            lhs.data.as_ptr(),
            lhs.col_stride as isize,
            lhs.row_stride as isize,
            rhs.data.as_ptr(),
            rhs.col_stride as isize,
            rhs.row_stride as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    fn naive(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
        let mut out = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                out[i * n + j] = (0..k).map(|l| a[i * k + l] * b[l * n + j]).sum();
            }
        }
        out
    }

    /// An `m x k` and a `k x n` operand, each stored plain and transposed, and their product
    /// (row-major `m x n`).
    pub(in crate::kernels) struct TestOperands {
        dims: (usize, usize, usize),
        a: Vec<f32>,
        at: Vec<f32>,
        b: Vec<f32>,
        bt: Vec<f32>,
        pub(in crate::kernels) expected: Vec<f32>,
    }

    impl TestOperands {
        pub(in crate::kernels) fn new(m: usize, k: usize, n: usize) -> Self {
            let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..k * n).map(|i| (i as f32 * 0.11).cos()).collect();
            TestOperands {
                dims: (m, k, n),
                expected: naive(&a, &b, m, k, n),
                at: (0..m * k).map(|i| a[(i % m) * k + i / m]).collect(),
                bt: (0..k * n).map(|i| b[(i % k) * n + i / k]).collect(),
                a,
                b,
            }
        }

        /// The four pairings of plain and transposed storage, as views of the same matrices.
        pub(in crate::kernels) fn views(&self) -> Vec<(MatRef<'_>, MatRef<'_>)> {
            let (m, k, n) = self.dims;
            let lhs = [
                MatRef::row_major(&self.a, m, k, k),
                MatRef::row_major(&self.at, k, m, m).t(),
            ];
            let rhs = [
                MatRef::row_major(&self.b, k, n, n),
                MatRef::row_major(&self.bt, n, k, k).t(),
            ];
            lhs.iter()
                .flat_map(|l| rhs.iter().map(move |r| (*l, *r)))
                .collect()
        }
    }

    /// Odd shapes, a long thin product and a single element, with both operands plain and
    /// transposed, into a destination with wider rows.
    #[test]
    fn products_across_block_edges_match_the_naive_product() {
        for (m, k, n) in [
            (1, 1, 1),
            (13, 300, 33),
            (400, 257, 530),
            (5, 5000, 7),
            (12, 40, 32),
        ] {
            let operands = TestOperands::new(m, k, n);
            let expected = &operands.expected;
            for (l, r) in operands.views() {
                // A wider destination row, to check the stride; start from junk, then add.
                let stride = n + 3;
                let mut out = vec![f32::NAN; (m - 1) * stride + n];
                matmul(&mut out, stride, l, r, false);
                matmul(&mut out, stride, l, r, true);
                for i in 0..m {
                    for j in 0..n {
                        let (x, y) = (out[i * stride + j], 2.0 * expected[i * n + j]);
                        let tolerance = 1e-4 * (1.0 + y.abs()) * (k as f32).sqrt();
                        assert!(
                            (x - y).abs() < tolerance,
                            "{m}x{k}x{n} ({i},{j}): {x} vs {y}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn products_plain_transposed_and_accumulated() {
        let (m, k, n) = (7, 5, 3);
        let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i as f32 * 0.11).cos()).collect();
        let expected = naive(&a, &b, m, k, n);
        let mut out = vec![0.0; m * n];
        matmul(
            &mut out,
            n,
            MatRef::row_major(&a, m, k, k),
            MatRef::row_major(&b, k, n, n),
            false,
        );
        for (x, y) in out.iter().zip(&expected) {
            assert!((x - y).abs() < 1e-5);
        }
        // b stored transposed (n x k) and read through `t()`; accumulate onto the first result.
        let bt: Vec<f32> = (0..n * k).map(|i| b[(i % k) * n + i / k]).collect();
        matmul(
            &mut out,
            n,
            MatRef::row_major(&a, m, k, k),
            MatRef::row_major(&bt, n, k, k).t(),
            true,
        );
        for (x, y) in out.iter().zip(&expected) {
            assert!((x - 2.0 * y).abs() < 1e-5);
        }
    }
}
