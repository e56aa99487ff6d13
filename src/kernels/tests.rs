//! The kernels against Candle's reference ops (forward and gradients, on odd shapes, strides,
//! paddings and groups) and against finite differences.

use candle_core::{D, DType, Device, Tensor, Var};

use super::plan::{ConvPath, Pass, force_explicit, force_no_winograd, plan};
use super::*;
use crate::latent::SeededRng;

fn random(shape: &[usize], seed: u64) -> Tensor {
    let mut rng = SeededRng::new(seed);
    let mut values = vec![0.0f32; shape.iter().product()];
    rng.normal(&mut values);
    Tensor::from_vec(values, shape, &Device::Cpu).unwrap()
}

fn max_rel_diff(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.dims(), b.dims());
    let a = a.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let b = b.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let scale = b.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
    a.iter()
        .zip(&b)
        .fold(0.0f32, |m, (x, y)| m.max((x - y).abs() / scale))
}

/// Output, input gradient and weight gradient of `f` under the loss `sum(f(x, w) * r)`.
fn run(
    f: impl Fn(&Tensor, &Tensor) -> candle_core::Result<Tensor>,
    x: &Tensor,
    w: &Tensor,
) -> (Tensor, Tensor, Tensor) {
    let x = Var::from_tensor(x).unwrap();
    let w = Var::from_tensor(w).unwrap();
    let y = f(x.as_tensor(), w.as_tensor()).unwrap();
    let r = random(y.dims(), 99);
    let grads = (&y * &r).unwrap().sum_all().unwrap().backward().unwrap();
    (
        y,
        grads.get(x.as_tensor()).unwrap().clone(),
        grads.get(w.as_tensor()).unwrap().clone(),
    )
}

fn assert_same(ours: (Tensor, Tensor, Tensor), reference: (Tensor, Tensor, Tensor), case: &str) {
    for (name, a, b) in [
        ("output", &ours.0, &reference.0),
        ("input gradient", &ours.1, &reference.1),
        ("weight gradient", &ours.2, &reference.2),
    ] {
        let diff = max_rel_diff(a, b);
        assert!(diff < 1e-4, "{case}: {name} differs by {diff}");
    }
}

#[test]
fn conv2d_matches_candle_forward_and_gradients() {
    // (batch, channels, height, width, out channels, kernel, stride, padding, groups)
    let cases = [
        (2, 3, 7, 6, 4, 3, 1, 0, 1),
        (3, 4, 9, 9, 6, 4, 2, 1, 2),
        (1, 6, 5, 5, 6, 3, 1, 2, 6), // depthwise
        (2, 2, 8, 8, 3, 4, 2, 1, 1),
        (2, 5, 11, 7, 2, 1, 1, 0, 1),
        (1, 3, 6, 6, 4, 5, 3, 2, 1),
        // Wider planes: 306 positions an image.
        (2, 4, 18, 17, 6, 3, 1, 1, 2),
    ];
    for (seed, &(n, c, h, w, c_out, k, stride, padding, groups)) in cases.iter().enumerate() {
        let x = random(&[n, c, h, w], seed as u64);
        let weight = random(&[c_out, c / groups, k, k], 100 + seed as u64);
        let reference = run(|x, w| x.conv2d(w, padding, stride, 1, groups), &x, &weight);
        on_both_paths(|path| {
            let ours = run(|x, w| conv2d(x, w, stride, padding, groups), &x, &weight);
            assert_same(
                ours,
                reference.clone(),
                &format!("conv2d case {seed}, {path}"),
            );
        });
    }
}

/// Runs `check` on each forward path: the implicit product (where the CPU has AVX-512) and
/// the explicit im2col + `gemm` one.
fn on_both_paths(check: impl Fn(&str)) {
    check("implicit product");
    force_explicit(|| check("explicit columns"));
}

/// DCGAN-sized convolutions and transposed convolutions whose column matrix crosses the
/// implicit product's blocks (more rows than one depth block, more columns than one column
/// block, threads), with output rows that a 32-column panel cuts (17, 20 wide) and that it
/// holds whole (16 wide), strides 1 to 3 (the image split by phase or not): the implicit and
/// explicit paths agree on the output and both gradients.
#[test]
fn implicit_and_explicit_paths_agree_on_large_convolutions() {
    // (batch, channels, side, out channels, kernel, stride, padding, groups)
    for (seed, &(n, c, side, c_out, k, stride, padding, groups)) in [
        (3, 20, 34, 24, 4, 2, 1, 1),
        (2, 16, 32, 40, 4, 2, 1, 2),
        (2, 8, 20, 13, 3, 1, 1, 1),
        (2, 6, 50, 5, 5, 3, 2, 1),
        // 3x3 outputs: one 16-lane gather spans two and three images.
        (5, 16, 6, 8, 4, 2, 1, 1),
    ]
    .iter()
    .enumerate()
    {
        let x = random(&[n, c, side, side], 300 + seed as u64);
        let weight = random(&[c_out, c / groups, k, k], 400 + seed as u64);
        let conv = |x: &Tensor, w: &Tensor| conv2d(x, w, stride, padding, groups);
        assert_paths_agree(conv, &x, &weight, &format!("conv2d case {seed}"));
        // The same weights as a transposed convolution from `c_out` channels back to `c`.
        if groups == 1 {
            let side_in = (side + 2 * padding - k) / stride + 1;
            let x = random(&[n, c_out, side_in, side_in], 500 + seed as u64);
            let transposed = |x: &Tensor, w: &Tensor| conv_transpose2d(x, w, stride, padding);
            assert_paths_agree(transposed, &x, &weight, &format!("transposed case {seed}"));
        }
    }
}

fn assert_paths_agree(
    f: impl Fn(&Tensor, &Tensor) -> candle_core::Result<Tensor>,
    x: &Tensor,
    w: &Tensor,
    case: &str,
) {
    let (implicit, explicit) = (run(&f, x, w), force_explicit(|| run(&f, x, w)));
    let pairs = [
        ("output", &implicit.0, &explicit.0),
        ("input gradient", &implicit.1, &explicit.1),
        ("weight gradient", &implicit.2, &explicit.2),
    ];
    for (name, a, b) in pairs {
        let diff = max_rel_diff(a, b);
        assert!(diff < 1e-5, "{case}: the paths' {name} differs by {diff}");
    }
}

/// Layers the Winograd transforms take (a batch of 16, 4x4 kernels at stride 2, 16 channels or
/// more, 64 output tiles), through Candle's autograd: a convolution and a transposed one match
/// Candle's own ops and our direct products, output and both gradients.
#[test]
fn winograd_layers_match_candle_and_the_direct_products() {
    let (x, weight) = (random(&[16, 16, 16, 16], 600), random(&[24, 16, 4, 4], 601));
    let g = ConvGeometry::new((16, 16, 16, 16), (4, 4), 2, 1).unwrap();
    let transposed_input = random(&[16, 24, 8, 8], 602);
    if !matches!(plan(&g, 1, 24, Pass::Forward), ConvPath::Winograd(_)) {
        eprintln!("skipped: this CPU runs no blocked kernels, so the transforms never run");
        return;
    }
    let direct = |f: &dyn Fn() -> (Tensor, Tensor, Tensor)| force_no_winograd(f);
    let conv = || run(|x, w| conv2d(x, w, 2, 1, 1), &x, &weight);
    let reference = run(|x, w| x.conv2d(w, 1, 2, 1, 1), &x, &weight);
    assert_same(conv(), reference, "conv2d against Candle");
    assert_same(conv(), direct(&conv), "conv2d against the direct products");
    let transposed = || {
        run(
            |x, w| conv_transpose2d(x, w, 2, 1),
            &transposed_input,
            &weight,
        )
    };
    let reference = run(
        |x, w| x.conv_transpose2d(w, 1, 0, 2, 1),
        &transposed_input,
        &weight,
    );
    assert_same(transposed(), reference, "transposed against Candle");
    assert_same(
        transposed(),
        direct(&transposed),
        "transposed against the direct products",
    );
}

#[test]
fn conv_transpose2d_matches_candle_forward_and_gradients() {
    // (batch, in channels, height, width, out channels, kernel, stride, padding)
    let cases = [
        (2, 5, 4, 4, 3, 4, 2, 1),
        (2, 3, 1, 1, 8, 4, 1, 0),
        (1, 2, 5, 3, 4, 3, 1, 1),
        (2, 3, 3, 3, 2, 3, 2, 0),
        (1, 4, 6, 6, 1, 5, 3, 2),
        // Wider planes: 16x16 in, 32x32 out.
        (2, 4, 16, 16, 2, 4, 2, 1),
    ];
    for (seed, &(n, c_in, h, w, c_out, k, stride, padding)) in cases.iter().enumerate() {
        let x = random(&[n, c_in, h, w], 7 + seed as u64);
        let weight = random(&[c_in, c_out, k, k], 200 + seed as u64);
        let reference = run(
            |x, w| x.conv_transpose2d(w, padding, 0, stride, 1),
            &x,
            &weight,
        );
        on_both_paths(|path| {
            let ours = run(|x, w| conv_transpose2d(x, w, stride, padding), &x, &weight);
            let case = format!("conv_transpose2d case {seed}, {path}");
            assert_same(ours, reference.clone(), &case);
        });
    }
}

/// The gradient of `sum(f(x, w) * r)` for `x` alone (`w` a constant) and for `w` alone.
fn one_gradient_at_a_time(
    f: impl Fn(&Tensor, &Tensor) -> candle_core::Result<Tensor>,
    x: &Tensor,
    w: &Tensor,
) -> (Tensor, Tensor) {
    let loss = |x: &Tensor, w: &Tensor| {
        let y = f(x, w).unwrap();
        let r = random(y.dims(), 99);
        (&y * &r).unwrap().sum_all().unwrap()
    };
    let xv = Var::from_tensor(x).unwrap();
    let dx = loss(xv.as_tensor(), w).backward().unwrap();
    let wv = Var::from_tensor(w).unwrap();
    let dw = loss(x, wv.as_tensor()).backward().unwrap();
    (
        dx.get(xv.as_tensor()).unwrap().clone(),
        dw.get(wv.as_tensor()).unwrap().clone(),
    )
}

#[test]
fn gradients_asked_for_alone_match_both_at_once() {
    // Both gradients run as one pass; either one alone runs its own product.
    on_both_paths(|path| {
        let x = random(&[3, 4, 9, 7], 41);
        let weight = random(&[6, 2, 4, 4], 42);
        let conv = |x: &Tensor, w: &Tensor| conv2d(x, w, 2, 1, 2);
        let (_, both_dx, both_dw) = run(conv, &x, &weight);
        let (dx, dw) = one_gradient_at_a_time(conv, &x, &weight);
        assert!(max_rel_diff(&dx, &both_dx) < 1e-5, "conv dx, {path}");
        assert!(max_rel_diff(&dw, &both_dw) < 1e-5, "conv dw, {path}");

        let x = random(&[2, 5, 4, 3], 43);
        let weight = random(&[5, 3, 4, 4], 44);
        let transposed = |x: &Tensor, w: &Tensor| conv_transpose2d(x, w, 2, 1);
        let (_, both_dx, both_dw) = run(transposed, &x, &weight);
        let (dx, dw) = one_gradient_at_a_time(transposed, &x, &weight);
        assert!(max_rel_diff(&dx, &both_dx) < 1e-5, "transposed dx, {path}");
        assert!(max_rel_diff(&dw, &both_dw) < 1e-5, "transposed dw, {path}");
    });
}

#[test]
fn conv_gradients_match_finite_differences() {
    let x = random(&[1, 2, 5, 5], 3);
    let weight = random(&[3, 2, 3, 3], 4);
    let r = random(&[1, 3, 3, 3], 5);
    let loss = |x: &Tensor, w: &Tensor| -> f64 {
        let y = conv2d(x, w, 2, 1, 1).unwrap();
        (y * &r)
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap() as f64
    };
    let (_, _, dw) = {
        let xv = Var::from_tensor(&x).unwrap();
        let wv = Var::from_tensor(&weight).unwrap();
        let y = conv2d(xv.as_tensor(), wv.as_tensor(), 2, 1, 1).unwrap();
        let g = (y * &r).unwrap().sum_all().unwrap().backward().unwrap();
        (
            (),
            g.get(xv.as_tensor()).unwrap().clone(),
            g.get(wv.as_tensor()).unwrap().clone(),
        )
    };
    let dw = dw.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let w_flat = weight.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let eps = 1e-2f32;
    for i in [0usize, 7, 20, 41, 53] {
        let mut plus = w_flat.clone();
        plus[i] += eps;
        let mut minus = w_flat.clone();
        minus[i] -= eps;
        let shape = weight.dims();
        let numeric = (loss(&x, &Tensor::from_vec(plus, shape, &Device::Cpu).unwrap())
            - loss(&x, &Tensor::from_vec(minus, shape, &Device::Cpu).unwrap()))
            / (2.0 * eps as f64);
        assert!(
            (numeric - dw[i] as f64).abs() < 1e-2 * (1.0 + numeric.abs()),
            "weight {i}: numeric {numeric} analytic {}",
            dw[i]
        );
    }
}

fn batch_norm_layer(channels: usize, activation: Activation) -> (candle_nn::VarMap, BatchNormAct) {
    let vars = candle_nn::VarMap::new();
    let vb = candle_nn::VarBuilder::from_varmap(&vars, DType::F32, &Device::Cpu);
    let layer = BatchNormAct::new(channels, 1e-5, activation, vb).unwrap();
    {
        let data = vars.data().lock().unwrap();
        data["weight"]
            .set(&random(&[channels], 11).affine(0.1, 1.0).unwrap())
            .unwrap();
        data["bias"]
            .set(&(random(&[channels], 12) * 0.1).unwrap())
            .unwrap();
        data["running_var"]
            .set(&Tensor::ones(channels, DType::F32, &Device::Cpu).unwrap())
            .unwrap();
    }
    (vars, layer)
}

#[test]
fn fused_batch_norm_matches_candle_ops() {
    // Planes shorter than a vector, longer ones around a mean far from zero (the sums are
    // taken around a shift so the variance does not cancel away), and many 4x4 planes.
    let inputs = [
        ([4, 5, 3, 2], 3.0, 1.5),
        ([3, 5, 7, 6], 0.5, 40.0),
        ([128, 5, 4, 4], 1.0, 0.5),
    ];
    for (activation, (shape, scale, offset)) in [
        Activation::Identity,
        Activation::Relu,
        Activation::LeakyRelu(0.2),
    ]
    .into_iter()
    .flat_map(|a| inputs.iter().map(move |input| (a, input)))
    {
        let (vars, layer) = batch_norm_layer(5, activation);
        let x = random(shape, 21).affine(*scale, *offset).unwrap();
        let weight = vars.data().lock().unwrap()["weight"].clone();
        let bias = vars.data().lock().unwrap()["bias"].clone();
        // Ours: the fused CPU op.
        let xv = Var::from_tensor(&x).unwrap();
        let y = layer.forward_t(xv.as_tensor(), true).unwrap();
        let r = random(y.dims(), 22);
        let g = (&y * &r).unwrap().sum_all().unwrap().backward().unwrap();
        let ours = [
            y.clone(),
            g.get(xv.as_tensor()).unwrap().clone(),
            g.get(weight.as_tensor()).unwrap().clone(),
            g.get(bias.as_tensor()).unwrap().clone(),
        ];
        // Reference: the same formula from Candle ops.
        let xv = Var::from_tensor(&x).unwrap();
        let per_channel = xv.transpose(0, 1).unwrap().flatten_from(1).unwrap();
        let mean = per_channel
            .mean_keepdim(D::Minus1)
            .unwrap()
            .reshape((1, 5, 1, 1))
            .unwrap();
        let var = per_channel
            .broadcast_sub(&per_channel.mean_keepdim(D::Minus1).unwrap())
            .unwrap()
            .sqr()
            .unwrap()
            .mean_keepdim(D::Minus1)
            .unwrap()
            .reshape((1, 5, 1, 1))
            .unwrap();
        let normalised = xv
            .broadcast_sub(&mean)
            .unwrap()
            .broadcast_div(&(var + 1e-5).unwrap().sqrt().unwrap())
            .unwrap();
        let pre = normalised
            .broadcast_mul(&weight.reshape((1, 5, 1, 1)).unwrap())
            .unwrap()
            .broadcast_add(&bias.reshape((1, 5, 1, 1)).unwrap())
            .unwrap();
        let y_ref = match activation {
            Activation::Identity => pre,
            Activation::Relu => pre.relu().unwrap(),
            Activation::LeakyRelu(s) => pre.maximum(&(&pre * s as f64).unwrap()).unwrap(),
        };
        let g = (&y_ref * &r)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let reference = [
            y_ref.clone(),
            g.get(xv.as_tensor()).unwrap().clone(),
            g.get(weight.as_tensor()).unwrap().clone(),
            g.get(bias.as_tensor()).unwrap().clone(),
        ];
        for (name, a, b) in ["output", "dx", "dgamma", "dbeta"]
            .iter()
            .zip(&ours)
            .zip(&reference)
            .map(|((n, a), b)| (n, a, b))
        {
            let diff = max_rel_diff(a, b);
            assert!(diff < 1e-4, "{activation:?}: {name} differs by {diff}");
        }
    }
}

#[test]
fn batch_norm_updates_running_statistics_like_pytorch_and_evaluates_with_them() {
    let (vars, layer) = batch_norm_layer(2, Activation::Identity);
    // Channel 0 holds 1..=8, channel 1 holds 10 * that: mean 4.5 / 45, unbiased var 6 / 600.
    let values: Vec<f32> = (0..2)
        .flat_map(|n| {
            (0..2).flat_map(move |c| {
                (0..4).map(move |i| (n * 4 + i + 1) as f32 * if c == 0 { 1.0 } else { 10.0 })
            })
        })
        .collect();
    let x = Tensor::from_vec(values, (2, 2, 2, 2), &Device::Cpu).unwrap();
    layer.forward_t(&x, true).unwrap();
    let get = |name: &str| vars.data().lock().unwrap()[name].to_vec1::<f32>().unwrap();
    let mean = get("running_mean");
    let var = get("running_var");
    assert!(
        (mean[0] - 0.45).abs() < 1e-5 && (mean[1] - 4.5).abs() < 1e-4,
        "{mean:?}"
    );
    assert!(
        (var[0] - (0.9 + 0.6)).abs() < 1e-5 && (var[1] - (0.9 + 60.0)).abs() < 1e-3,
        "{var:?}"
    );
    // Evaluation normalises with the running statistics, not the batch's.
    let y = layer.forward_t(&x, false).unwrap();
    let gamma = get("weight");
    let beta = get("bias");
    let first = y.flatten_all().unwrap().to_vec1::<f32>().unwrap()[0];
    let expected = (1.0 - mean[0]) / (var[0] + 1e-5).sqrt() * gamma[0] + beta[0];
    assert!((first - expected).abs() < 1e-4, "{first} vs {expected}");
}

#[test]
fn layers_fall_back_to_candle_for_other_dtypes() {
    let x = random(&[1, 2, 5, 5], 1).to_dtype(DType::F64).unwrap();
    let w = random(&[3, 2, 3, 3], 2).to_dtype(DType::F64).unwrap();
    let ours = conv2d(&x, &w, 1, 1, 1).unwrap();
    let reference = x.conv2d(&w, 1, 1, 1, 1).unwrap();
    let diff = (ours - reference)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f64>()
        .unwrap();
    assert_eq!(diff, 0.0);
}

#[test]
fn bad_shapes_are_errors_not_panics() {
    let x = random(&[1, 4, 5, 5], 1);
    assert!(conv2d(&x, &random(&[3, 3, 3, 3], 2), 1, 1, 1).is_err());
    assert!(conv2d(&x, &random(&[3, 2, 3, 3], 2), 1, 1, 3).is_err());
    assert!(conv2d(&x, &random(&[3, 4, 9, 9], 2), 1, 0, 1).is_err());
    assert!(conv_transpose2d(&x, &random(&[3, 2, 4, 4], 2), 2, 1).is_err());
}

/// 20 steps against `torch.optim.AdamW` (fixture from `bench/reference/adam_fixture.py`).
#[test]
fn adam_matches_pytorch_adamw() {
    let fixture: serde_json::Value =
        serde_json::from_str(include_str!("../../tests/fixtures/adam_pytorch.json")).unwrap();
    let cases = fixture["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 3);
    for case in cases {
        let floats = |key: &str| -> Vec<f32> {
            case[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect()
        };
        let number = |key: &str| case[key].as_f64().unwrap();
        let hyper = AdamHyper {
            lr: number("lr"),
            beta1: number("beta1"),
            beta2: number("beta2"),
            eps: number("eps"),
            weight_decay: number("weight_decay"),
        };
        let mut param = floats("initial");
        let expected = floats("final");
        let moments = std::sync::Mutex::new(Moments::zeros(param.len()));
        for t in 1..=number("steps") as u64 {
            let grad: Vec<f32> = (0..param.len())
                .map(|i| {
                    ((0.37 * i as f64 + 0.11 * t as f64).cos() * (1.0 + 0.1 * t as f64)) as f32
                })
                .collect();
            let step = AdamStep {
                hyper,
                step: t,
                moments: &moments,
            };
            step.apply(&mut param, &grad, &mut moments.lock().unwrap())
                .unwrap();
        }
        for (i, (a, b)) in param.iter().zip(&expected).enumerate() {
            assert!((a - b).abs() < 1e-6, "{hyper:?} value {i}: {a} vs {b}");
        }
    }
}

/// `f(x)` and its gradient under the loss `sum(f(x) * r)`.
fn output_and_gradient(x: &Tensor, r: &Tensor, f: &dyn Fn(&Tensor) -> Tensor) -> (Tensor, Tensor) {
    let xv = Var::from_tensor(x).unwrap();
    let y = f(xv.as_tensor());
    let g = (&y * r).unwrap().sum_all().unwrap().backward().unwrap();
    (y, g.get(xv.as_tensor()).unwrap().clone())
}

#[test]
fn tanh_matches_candle_forward_and_gradient() {
    let x = (random(&[3, 4, 5, 7], 33) * 3.0).unwrap();
    let r = random(&[3, 4, 5, 7], 34);
    let grad_of = |f: &dyn Fn(&Tensor) -> Tensor| output_and_gradient(&x, &r, f);
    let ours = grad_of(&|x| tanh(x).unwrap());
    let reference = grad_of(&|x| x.tanh().unwrap());
    assert!(max_rel_diff(&ours.0, &reference.0) < 1e-6);
    assert!(max_rel_diff(&ours.1, &reference.1) < 1e-5);
}

#[test]
fn activation_matches_candle_forward_and_gradient() {
    for activation in [Activation::Relu, Activation::LeakyRelu(0.2)] {
        let x = random(&[3, 4, 5, 7], 31);
        let r = random(&[3, 4, 5, 7], 32);
        let grad_of = |f: &dyn Fn(&Tensor) -> Tensor| output_and_gradient(&x, &r, f);
        let ours = grad_of(&|x| activate(x, activation).unwrap());
        let reference = grad_of(&|x| match activation {
            Activation::LeakyRelu(s) => x.maximum(&(x * s as f64).unwrap()).unwrap(),
            _ => x.relu().unwrap(),
        });
        assert!(max_rel_diff(&ours.0, &reference.0) < 1e-6);
        assert!(max_rel_diff(&ours.1, &reference.1) < 1e-6, "{activation:?}");
    }
}
