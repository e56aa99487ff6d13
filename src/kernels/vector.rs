//! Wider vectors for the kernels' own loops. The crate is built for the baseline x86-64 CPU
//! (SSE2, 4 floats a register) so the binary runs anywhere; the hot loops of BatchNorm, the
//! activations, col2im and Adam run through [`vectorised`], which compiles them a second time
//! for AVX2 (8 floats) and picks that copy at run time when the CPU has it. (The `gemm` crate
//! does its own detection.)

/// Runs `body`, in code compiled for AVX2 when this CPU has it.
///
/// `body` is inlined into a function with the feature enabled, so the loops inside it are
/// vectorised 8 wide; keep it a closure over slices (its iterator adapters inline with it).
#[inline(always)]
pub(super) fn vectorised<R>(body: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        if super::isa::Isa::current().has_avx2() {
            // SAFETY: the CPU supports AVX2, the one feature `with_avx2` is compiled for.
            return unsafe { with_avx2(body) };
        }
    }
    body()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn with_avx2<R>(body: impl FnOnce() -> R) -> R {
    body()
}

/// Sums of `values - shift` and of their squares, in eight f32 lanes (runs of a few thousand
/// values at most, so f32 lanes lose nothing a caller accumulating in f64 would keep).
#[inline(always)]
pub(super) fn shifted_sums(values: &[f32], shift: f32) -> (f64, f64) {
    let (mut sum, mut squares) = ([0.0f32; 8], [0.0f32; 8]);
    let chunks = values.chunks_exact(8);
    let tail = chunks.remainder();
    for chunk in chunks {
        for lane in 0..8 {
            let d = chunk[lane] - shift;
            sum[lane] += d;
            squares[lane] += d * d;
        }
    }
    for (lane, &v) in tail.iter().enumerate() {
        let d = v - shift;
        sum[lane] += d;
        squares[lane] += d * d;
    }
    let total = |lanes: [f32; 8]| lanes.iter().map(|&v| v as f64).sum::<f64>();
    (total(sum), total(squares))
}

/// `Σ a[i]` and `Σ a[i] * b[i]`, in eight f32 lanes (see [`shifted_sums`]).
#[inline(always)]
pub(super) fn sum_and_dot(a: &[f32], b: &[f32]) -> (f64, f64) {
    assert_eq!(a.len(), b.len());
    let (mut sum, mut dot) = ([0.0f32; 8], [0.0f32; 8]);
    let (chunks_a, chunks_b) = (a.chunks_exact(8), b.chunks_exact(8));
    let (tail_a, tail_b) = (chunks_a.remainder(), chunks_b.remainder());
    for (ca, cb) in chunks_a.zip(chunks_b) {
        for lane in 0..8 {
            sum[lane] += ca[lane];
            dot[lane] += ca[lane] * cb[lane];
        }
    }
    for (lane, (&x, &y)) in tail_a.iter().zip(tail_b).enumerate() {
        sum[lane] += x;
        dot[lane] += x * y;
    }
    let total = |lanes: [f32; 8]| lanes.iter().map(|&v| v as f64).sum::<f64>();
    (total(sum), total(dot))
}

/// `out[i] = f(a[i])`, eight values at a time: short rows (a 4x4 plane is 16 values) still run
/// in whole registers, where a plain loop's vector body wants more iterations than that and
/// falls back to one value at a time.
///
/// Pass `move` closures. One that captures its constants by reference reads them through
/// pointers the compiler cannot tell apart from `out`, so every value reloads them and the
/// loop stays scalar, branching on each value's sign: BatchNorm's forward ran at 3 ns a value
/// so, 4.6x slower than with the constants captured by value.
#[inline(always)]
pub(super) fn map_into(out: &mut [f32], a: &[f32], f: impl Fn(f32) -> f32) {
    assert_eq!(out.len(), a.len());
    let mut out_blocks = out.chunks_exact_mut(8);
    let a_blocks = a.chunks_exact(8);
    let a_tail = a_blocks.remainder();
    for (o, a) in (&mut out_blocks).zip(a_blocks) {
        for lane in 0..8 {
            o[lane] = f(a[lane]);
        }
    }
    for (o, &a) in out_blocks.into_remainder().iter_mut().zip(a_tail) {
        *o = f(a);
    }
}

/// `out[i] = f(a[i], b[i])`, eight values at a time (see [`map_into`]).
#[inline(always)]
pub(super) fn map2_into(out: &mut [f32], (a, b): (&[f32], &[f32]), f: impl Fn(f32, f32) -> f32) {
    assert!(a.len() == out.len() && b.len() == out.len());
    let mut out_blocks = out.chunks_exact_mut(8);
    let (a_blocks, b_blocks) = (a.chunks_exact(8), b.chunks_exact(8));
    let tails = (a_blocks.remainder(), b_blocks.remainder());
    for (o, (a, b)) in (&mut out_blocks).zip(a_blocks.zip(b_blocks)) {
        for lane in 0..8 {
            o[lane] = f(a[lane], b[lane]);
        }
    }
    let tail = out_blocks.into_remainder();
    for (i, o) in tail.iter_mut().enumerate() {
        *o = f(tails.0[i], tails.1[i]);
    }
}

/// `out[i] = f(a[i], b[i], c[i])`, eight values at a time (see [`map_into`]).
#[inline(always)]
pub(super) fn map3_into(
    out: &mut [f32],
    (a, b, c): (&[f32], &[f32], &[f32]),
    f: impl Fn(f32, f32, f32) -> f32,
) {
    assert!(a.len() == out.len() && b.len() == out.len() && c.len() == out.len());
    let mut out_blocks = out.chunks_exact_mut(8);
    let (a_blocks, b_blocks, c_blocks) = (a.chunks_exact(8), b.chunks_exact(8), c.chunks_exact(8));
    let tails = (
        a_blocks.remainder(),
        b_blocks.remainder(),
        c_blocks.remainder(),
    );
    for (o, ((a, b), c)) in (&mut out_blocks).zip(a_blocks.zip(b_blocks).zip(c_blocks)) {
        for lane in 0..8 {
            o[lane] = f(a[lane], b[lane], c[lane]);
        }
    }
    let tail = out_blocks.into_remainder();
    for (i, o) in tail.iter_mut().enumerate() {
        *o = f(tails.0[i], tails.1[i], tails.2[i]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lane_sums_match_plain_sums_with_tails() {
        for len in [0usize, 1, 7, 8, 9, 31, 1000] {
            let values: Vec<f32> = (0..len).map(|i| (i as f32 * 0.37).sin() + 2.0).collect();
            let other: Vec<f32> = (0..len).map(|i| (i as f32 * 0.11).cos()).collect();
            let (s, q) = vectorised(
                #[inline(always)]
                || shifted_sums(&values, 2.0),
            );
            let expect_s: f64 = values.iter().map(|&v| (v - 2.0) as f64).sum();
            let expect_q: f64 = values.iter().map(|&v| ((v - 2.0) as f64).powi(2)).sum();
            assert!((s - expect_s).abs() < 1e-4, "{len}: {s} vs {expect_s}");
            assert!((q - expect_q).abs() < 1e-4, "{len}: {q} vs {expect_q}");
            let (a, d) = vectorised(
                #[inline(always)]
                || sum_and_dot(&values, &other),
            );
            let expect_a: f64 = values.iter().map(|&v| v as f64).sum();
            let expect_d: f64 = values
                .iter()
                .zip(&other)
                .map(|(&v, &w)| (v * w) as f64)
                .sum();
            assert!((a - expect_a).abs() < 1e-3, "{len}: {a} vs {expect_a}");
            assert!((d - expect_d).abs() < 1e-3, "{len}: {d} vs {expect_d}");

            let mut out = vec![0.0f32; len];
            vectorised(|| map_into(&mut out, &values, |v| v * 2.0));
            assert!(out.iter().zip(&values).all(|(o, v)| *o == v * 2.0));
            vectorised(|| map2_into(&mut out, (&values, &other), |a, b| a - b));
            assert!(
                out.iter()
                    .zip(&values)
                    .zip(&other)
                    .all(|((o, a), b)| *o == a - b)
            );
            vectorised(|| map3_into(&mut out, (&values, &other, &values), |a, b, c| a * b - c));
            let expect: Vec<f32> = values.iter().zip(&other).map(|(a, b)| a * b - a).collect();
            assert_eq!(out, expect);
        }
    }
}
