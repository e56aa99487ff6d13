//! Training speed: DCGAN iterations of this crate's CPU kernels against the PyTorch reference
//! (`bench/reference/dcgan_torch.py`), alternating in one command, plus a per-layer table and the
//! peak memory of an iteration.
//!
//! Run: `cargo bench --bench training` (release build). Options:
//! `--threads N` (default: every core; PyTorch gets the same), `--iters N` timed iterations per
//! round (default 5), `--rounds N` (default 2), `--python PATH` (default `$DEEPSTYLE_TORCH_PYTHON`
//! or `python3`; a Python with torch), `--no-torch` (ours alone), `--quick` (tiny sizes, for a
//! smoke test), `--layers-only` (just the per-layer table), `--no-layers` (no per-layer table),
//! `--row N` (only the N-th row, and its per-layer table), `--default-malloc` (leave glibc's malloc untuned, to compare).
//! Prints, per row: seconds per iteration (best round) of ours and of PyTorch, the ratio
//! ours / PyTorch, GFLOP/s and the share of the gemm ceiling (a 2048^3 product through the same
//! `gemm`), the peak memory, and how our iteration splits between the kernels
//! (`deepstyle::kernels::timing`; "other" is Candle's own ops and autograd).

use std::process::Command;
use std::time::Instant;

use candle_core::{Device, Tensor, Var};
use deepstyle::gan::GanConfig;
use deepstyle::gan::model::Networks;
use deepstyle::gan::train::adversarial_step;
use deepstyle::kernels::timing::{self, Kernel};
use deepstyle::kernels::{MatRef, conv_transpose2d, conv2d, matmul};
use deepstyle::optim::Adam;

struct Options {
    threads: usize,
    iters: usize,
    rounds: usize,
    python: Option<String>,
    quick: bool,
    peak_child: Option<(usize, usize, usize)>,
    /// `--row N`: only the N-th row (1-based).
    row: Option<usize>,
    /// `--no-layers`: skip the per-layer table.
    layers: bool,
    /// `--layer NAME`: only that layer of the table (for profiling one layer).
    only_layer: Option<String>,
    /// `--no-candle`: skip Candle's own kernels in the table.
    with_candle: bool,
    /// `--layer-iters N`: timed passes per layer (median of them).
    layer_iters: usize,
}

fn options() -> Options {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let number =
        |flag: &str, default: usize| value(flag).and_then(|v| v.parse().ok()).unwrap_or(default);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let python = if args.iter().any(|a| a == "--no-torch") {
        None
    } else {
        Some(
            value("--python")
                .or_else(|| std::env::var("DEEPSTYLE_TORCH_PYTHON").ok())
                .unwrap_or_else(|| "python3".into()),
        )
    };
    let peak_child = value("--peak-child").and_then(|v| {
        let parts: Vec<usize> = v.split(',').filter_map(|p| p.parse().ok()).collect();
        (parts.len() == 3).then(|| (parts[0], parts[1], parts[2]))
    });
    Options {
        threads: number("--threads", cores),
        iters: number("--iters", 5),
        rounds: number("--rounds", 2),
        row: value("--row").and_then(|v| v.parse().ok()),
        layers: !args.iter().any(|a| a == "--no-layers"),
        python,
        quick: args.iter().any(|a| a == "--quick"),
        peak_child,
        only_layer: value("--layer"),
        with_candle: !args.iter().any(|a| a == "--no-candle"),
        layer_iters: number("--layer-iters", 5),
    }
}

#[derive(Clone, Copy)]
struct Row {
    size: usize,
    channels: usize,
    batch: usize,
    width: usize,
}

impl Row {
    fn config(&self) -> GanConfig {
        GanConfig {
            image_size: self.size,
            channels: self.channels,
            ngf: self.width,
            ndf: self.width,
            ..GanConfig::default()
        }
    }

    fn label(&self) -> String {
        format!(
            "{0}x{0}x{1} batch {2} ngf=ndf={3}",
            self.size, self.channels, self.batch, self.width
        )
    }

    /// Floating-point operations of one iteration: G forward once and backward once; D forward
    /// three times (real, fake, fake for G) and backward three times; a backward pass costs two
    /// forwards (data and weight gradients).
    fn flops(&self) -> f64 {
        let cfg = self.config();
        let blocks = cfg.middle_blocks();
        let n = self.batch as f64;
        let conv = |c_in: usize, c_out: usize, out: usize| {
            2.0 * n * (c_in * c_out * 16) as f64 * (out * out) as f64
        };
        // Generator: per layer, the cost is that of the convolution it is the transpose of.
        let mut g = 0.0;
        let mut ch = cfg.ngf << blocks;
        g += conv(ch, cfg.z_dim, 1); // 1x1 -> 4x4: each input pixel meets 16 taps
        let mut side = 4;
        for _ in 0..blocks {
            g += conv(ch / 2, ch, side);
            ch /= 2;
            side *= 2;
        }
        g += conv(cfg.channels, ch, side);
        let mut d = 0.0;
        let mut ch = cfg.ndf;
        let mut side = cfg.image_size / 2;
        d += conv(cfg.channels, ch, side);
        for _ in 0..blocks {
            side /= 2;
            d += conv(ch, ch * 2, side);
            ch *= 2;
        }
        d += conv(ch, 1, 1);
        g * 3.0 + d * 9.0
    }
}

fn random(shape: &[usize]) -> Tensor {
    Tensor::rand(-1f32, 1.0, shape, &Device::Cpu).expect("random tensor")
}

/// An iteration's seconds and how they split between the kernels (see
/// `deepstyle::kernels::timing`), per iteration.
struct OurTiming {
    seconds: f64,
    kernels: Vec<(Kernel, f64)>,
}

impl OurTiming {
    /// One line: each kind of kernel's seconds per iteration, and the rest (Candle's own ops
    /// and autograd).
    fn split(&self) -> String {
        let mut parts: Vec<String> = self
            .kernels
            .iter()
            .filter(|(_, secs)| *secs > 0.0)
            .map(|(kernel, secs)| format!("{} {secs:.3}", kernel.label()))
            .collect();
        let kernels: f64 = self.kernels.iter().map(|(_, secs)| secs).sum();
        parts.push(format!("other {:.3}", self.seconds - kernels));
        parts.join(", ")
    }
}

/// Seconds per iteration of ours over `iters` iterations after one warm-up, and their split.
fn time_ours(row: Row, iters: usize) -> OurTiming {
    let cfg = row.config();
    let nets = Networks::new(&cfg, 1, &Device::Cpu).expect("networks");
    let mut opt_d = Adam::new(&nets.d_vars, 2e-4, 0.5, 0.999).expect("adam");
    let mut opt_g = Adam::new(&nets.g_vars, 2e-4, 0.5, 0.999).expect("adam");
    let mut run = |count: usize| {
        for _ in 0..count {
            let real = random(&[row.batch, row.channels, row.size, row.size]);
            let z = Tensor::randn(0f32, 1.0, (row.batch, cfg.z_dim), &Device::Cpu).expect("z");
            let losses = adversarial_step(
                &nets,
                (&mut opt_d, &mut opt_g),
                deepstyle::gan::config::Loss::Bce,
                &real,
                None,
                &z,
            )
            .expect("step");
            losses.d_loss.to_scalar::<f32>().expect("loss");
        }
    };
    run(1);
    timing::take();
    let start = Instant::now();
    run(iters);
    let seconds = start.elapsed().as_secs_f64() / iters as f64;
    let kernels = timing::take()
        .into_iter()
        .map(|(kernel, time)| (kernel, time.as_secs_f64() / iters as f64))
        .collect();
    OurTiming { seconds, kernels }
}

/// The PyTorch reference for `row`: `iters` iterations after one warm-up, on `threads` threads.
fn torch_command(python: &str, row: Row, iters: usize, threads: usize) -> Command {
    let mut command = Command::new(python);
    command.arg("bench/reference/dcgan_torch.py");
    for (flag, value) in [
        ("--image-size", row.size),
        ("--channels", row.channels),
        ("--batch", row.batch),
        ("--width", row.width),
        ("--iters", iters),
        ("--warmup", 1),
        ("--threads", threads),
    ] {
        command.arg(flag).arg(value.to_string());
    }
    command
}

fn time_torch(python: &str, row: Row, iters: usize, threads: usize) -> Option<(f64, f64)> {
    let output = torch_command(python, row, iters + 1, threads)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    let find = |key: &str| -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().parse().ok())
    };
    match (find("torch secs_per_iter"), find("torch peak_rss_mb")) {
        (Some(secs), Some(peak)) => Some((secs, peak)),
        _ => {
            eprintln!(
                "PyTorch run failed: {}",
                String::from_utf8_lossy(&output.stderr)
                    .lines()
                    .last()
                    .unwrap_or("no output")
            );
            None
        }
    }
}

/// GFLOP/s of a 2048^3 product through the same `gemm` on every thread of the pool.
fn gemm_ceiling(quick: bool) -> f64 {
    let n = if quick { 512 } else { 2048 };
    let a = vec![1.0f32; n * n];
    let b = vec![0.5f32; n * n];
    let mut c = vec![0.0f32; n * n];
    let mut product = || {
        matmul(
            &mut c,
            n,
            MatRef::row_major(&a, n, n, n),
            MatRef::row_major(&b, n, n, n),
            false,
        )
    };
    product();
    let start = Instant::now();
    let reps = 3;
    for _ in 0..reps {
        product();
    }
    2.0 * (n * n * n) as f64 * reps as f64 / start.elapsed().as_secs_f64() / 1e9
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Forward and backward milliseconds (median of `iters`) of one layer, ours and Candle's.
fn time_layer(
    forward: &dyn Fn(&Tensor, &Tensor) -> candle_core::Result<Tensor>,
    x: &Tensor,
    w: &Tensor,
    iters: usize,
) -> (f64, f64) {
    let x = Var::from_tensor(x).expect("var");
    let w = Var::from_tensor(w).expect("var");
    let (mut fwd, mut bwd) = (Vec::new(), Vec::new());
    for _ in 0..iters + 1 {
        let t0 = Instant::now();
        let y = forward(x.as_tensor(), w.as_tensor()).expect("forward");
        let t1 = Instant::now();
        y.sum_all().expect("sum").backward().expect("backward");
        let t2 = Instant::now();
        fwd.push((t1 - t0).as_secs_f64() * 1e3);
        bwd.push((t2 - t1).as_secs_f64() * 1e3);
    }
    (median(fwd[1..].to_vec()), median(bwd[1..].to_vec()))
}

type LayerFn = Box<dyn Fn(&Tensor, &Tensor) -> candle_core::Result<Tensor>>;
/// (name, input shape, weight shape, ours, Candle's)
type Layer = (String, Vec<usize>, Vec<usize>, LayerFn, LayerFn);

/// Every conv layer of the row's G and D as (name, input shape, weight shape, ours, Candle's).
fn layers(row: Row) -> Vec<Layer> {
    let cfg = row.config();
    let blocks = cfg.middle_blocks();
    let n = row.batch;
    let mut out: Vec<Layer> = Vec::new();
    let transposed = |stride: usize, padding: usize| -> (LayerFn, LayerFn) {
        (
            Box::new(move |x, w| conv_transpose2d(x, w, stride, padding)),
            Box::new(move |x, w| x.conv_transpose2d(w, padding, 0, stride, 1)),
        )
    };
    let plain = |stride: usize, padding: usize| -> (LayerFn, LayerFn) {
        (
            Box::new(move |x, w| conv2d(x, w, stride, padding, 1)),
            Box::new(move |x, w| x.conv2d(w, padding, stride, 1, 1)),
        )
    };
    let mut ch = cfg.ngf << blocks;
    let (a, b) = transposed(1, 0);
    out.push((
        "G0".into(),
        vec![n, cfg.z_dim, 1, 1],
        vec![cfg.z_dim, ch, 4, 4],
        a,
        b,
    ));
    let mut side = 4;
    for i in 1..=blocks {
        let (a, b) = transposed(2, 1);
        out.push((
            format!("G{i}"),
            vec![n, ch, side, side],
            vec![ch, ch / 2, 4, 4],
            a,
            b,
        ));
        ch /= 2;
        side *= 2;
    }
    let (a, b) = transposed(2, 1);
    out.push((
        format!("G{}", blocks + 1),
        vec![n, ch, side, side],
        vec![ch, cfg.channels, 4, 4],
        a,
        b,
    ));
    let mut ch = cfg.ndf;
    let mut side = cfg.image_size;
    let (a, b) = plain(2, 1);
    out.push((
        "D0".into(),
        vec![n, cfg.channels, side, side],
        vec![ch, cfg.channels, 4, 4],
        a,
        b,
    ));
    for i in 1..=blocks {
        side /= 2;
        let (a, b) = plain(2, 1);
        out.push((
            format!("D{i}"),
            vec![n, ch, side, side],
            vec![ch * 2, ch, 4, 4],
            a,
            b,
        ));
        ch *= 2;
    }
    let (a, b) = plain(1, 0);
    out.push((
        format!("D{}", blocks + 1),
        vec![n, ch, 4, 4],
        vec![1, ch, 4, 4],
        a,
        b,
    ));
    out
}

fn torch_layers(python: &str, row: Row, threads: usize) -> Vec<(String, f64, f64)> {
    let Ok(output) = torch_command(python, row, 5, threads)
        .arg("--layers")
        .output()
    else {
        return Vec::new();
    };
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| {
            let mut parts = line.strip_prefix("layer ")?.split_whitespace();
            Some((
                parts.next()?.to_string(),
                parts.next()?.parse().ok()?,
                parts.next()?.parse().ok()?,
            ))
        })
        .collect()
}

/// Peak resident memory (MiB) of a fresh process that runs three iterations of `row`.
fn peak_memory_of_child(row: Row, threads: usize) -> Option<f64> {
    let exe = std::env::current_exe().ok()?;
    let mut command = Command::new(exe);
    command.args([
        "--peak-child",
        &format!("{},{},{}", row.size, row.channels, row.batch),
        "--threads",
        &threads.to_string(),
    ]);
    if std::env::args().any(|a| a == "--default-malloc") {
        command.arg("--default-malloc");
    }
    let output = command.output().ok()?;
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("peak_rss_mb "))
        .and_then(|v| v.trim().parse().ok())
}

fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

fn main() {
    // SAFETY: first thing in `main`, before any other thread starts.
    unsafe { deepstyle::kernels::threads::shorten_candle_spin() };
    let opts = options();
    if !std::env::args().any(|a| a == "--default-malloc") {
        deepstyle::kernels::allocator::retain_freed_memory();
    }
    rayon::ThreadPoolBuilder::new()
        .num_threads(opts.threads)
        .build_global()
        .expect("thread pool");
    if let Some((size, channels, batch)) = opts.peak_child {
        let row = Row {
            size,
            channels,
            batch,
            width: 64,
        };
        time_ours(row, 2);
        println!("peak_rss_mb {:.0}", peak_rss_mb().unwrap_or(f64::NAN));
        return;
    }
    let rows = if opts.quick {
        vec![Row {
            size: 32,
            channels: 1,
            batch: 8,
            width: 8,
        }]
    } else {
        vec![
            Row {
                size: 64,
                channels: 3,
                batch: 64,
                width: 64,
            },
            Row {
                size: 64,
                channels: 3,
                batch: 16,
                width: 64,
            },
            Row {
                size: 32,
                channels: 1,
                batch: 64,
                width: 64,
            },
        ]
    };
    let iters = if opts.quick { 2 } else { opts.iters };
    let ceiling = gemm_ceiling(opts.quick);
    println!(
        "threads {} | gemm ceiling {:.1} GFLOP/s (2048^3 f32 product, same gemm crate)",
        opts.threads, ceiling
    );
    println!(
        "{:<34} {:>10} {:>10} {:>7} {:>9} {:>9} {:>8}",
        "row", "ours s/it", "torch s/it", "ratio", "ours GF/s", "torch GF/s", "ceiling%"
    );
    let layers_only = std::env::args().any(|a| a == "--layers-only");
    let chosen = |index: &usize| opts.row.is_none_or(|r| r == index + 1);
    for (_, row) in rows
        .iter()
        .enumerate()
        .filter(|(i, _)| !layers_only && chosen(i))
    {
        let (mut ours, mut torch) = (Vec::new(), Vec::new());
        let mut torch_peak = None;
        for _ in 0..opts.rounds.max(1) {
            if let Some(python) = &opts.python
                && let Some((secs, peak)) = time_torch(python, *row, iters, opts.threads)
            {
                torch.push(secs);
                torch_peak = Some(peak);
            }
            ours.push(time_ours(*row, iters));
        }
        let best = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
        let ours_best_round = ours
            .iter()
            .min_by(|a, b| a.seconds.total_cmp(&b.seconds))
            .expect("at least one round");
        let ours_best = ours_best_round.seconds;
        let gflop = row.flops() / 1e9;
        let (torch_text, ratio, torch_rate) = if torch.is_empty() {
            ("-".to_string(), "-".to_string(), "-".to_string())
        } else {
            let t = best(&torch);
            (
                format!("{t:.3}"),
                format!("{:.2}", ours_best / t),
                format!("{:.1}", gflop / t),
            )
        };
        println!(
            "{:<34} {:>10.3} {:>10} {:>7} {:>9.1} {:>9} {:>7.0}%",
            row.label(),
            ours_best,
            torch_text,
            ratio,
            gflop / ours_best,
            torch_rate,
            100.0 * gflop / ours_best / ceiling
        );
        if let Some(peak) = peak_memory_of_child(*row, opts.threads) {
            let torch_peak = torch_peak.map_or("-".into(), |p| format!("{p:.0}"));
            println!(
                "    peak RSS of a process training this row: ours {peak:.0} MiB, torch {torch_peak} MiB ({gflop:.1} GFLOP/iteration)"
            );
        }
        println!("    ours s/it by kernel: {}", ours_best_round.split());
    }
    if !opts.layers {
        return;
    }
    let row = opts
        .row
        .and_then(|r| rows.get(r.saturating_sub(1)))
        .copied()
        .unwrap_or(rows[0]);
    println!(
        "\nper layer, {} (median ms of {})",
        row.label(),
        if opts.quick { 1 } else { opts.layer_iters }
    );
    let torch_rows = opts
        .python
        .as_deref()
        .map(|p| torch_layers(p, row, opts.threads))
        .unwrap_or_default();
    println!(
        "{:<6} {:<20} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "layer", "input", "ours fwd", "ours bwd", "candle f", "candle b", "torch f", "torch b"
    );
    let layer_iters = if opts.quick { 1 } else { opts.layer_iters };
    for (name, input, weight, ours, candle) in layers(row) {
        if opts.only_layer.as_ref().is_some_and(|only| *only != name) {
            continue;
        }
        let x = random(&input);
        let w = (random(&weight) * 0.02).expect("scale");
        let (of, ob) = time_layer(ours.as_ref(), &x, &w, layer_iters);
        let (cf, cb) = if opts.with_candle {
            time_layer(candle.as_ref(), &x, &w, layer_iters)
        } else {
            (f64::NAN, f64::NAN)
        };
        let torch = torch_rows.iter().find(|(n, _, _)| *n == name);
        let (tf, tb) = torch.map_or(("-".into(), "-".into()), |(_, f, b)| {
            (format!("{f:.1}"), format!("{b:.1}"))
        });
        println!(
            "{name:<6} {:<20} {of:>9.1} {ob:>9.1} {cf:>9.1} {cb:>9.1} {tf:>9} {tb:>9}",
            format!("{input:?}")
        );
    }
}
