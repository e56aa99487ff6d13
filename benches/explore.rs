//! Explorer speed: how long after a request the explorer's sampler worker has delivered
//! (a) a 4x4 seed grid and (b) one preview image, for a 64x64 RGB generator of the full DCGAN
//! width (ngf 64; freshly initialised: the arithmetic is that of a trained one) and for the
//! shipped 32x32 Fashion-MNIST generator.
//!
//! Run: `cargo bench --bench explore`. Prints the median and worst of 20 requests each.

use std::time::{Duration, Instant};

use candle_core::Device;
use deepstyle::checkpoint;
use deepstyle::gan::GanConfig;
use deepstyle::gan::model::Networks;
use deepstyle::gan::sample::{ARCHITECTURE, GeneratorCard};
use deepstyle::gan::sampler::{GeneratorSource, Sampler, SamplerReply, SamplerRequest, Slot};
use deepstyle::latent::z_from_seed;

fn wait_for_render(sampler: &Sampler, generation: u64, count: usize) -> Duration {
    let start = Instant::now();
    let mut received = 0;
    while received < count {
        match sampler.recv_timeout(Duration::from_secs(60)) {
            Some(SamplerReply::Images {
                generation: g,
                images,
                ..
            }) if g == generation => received += images.len(),
            Some(SamplerReply::Failed(e)) => panic!("render failed: {e}"),
            Some(_) => {}
            None => panic!("no reply"),
        }
    }
    start.elapsed()
}

fn measure(label: &str, source: GeneratorSource) {
    let sampler = Sampler::start(deepstyle::device::DeviceChoice::Cpu, || {});
    sampler.send(SamplerRequest::Load(source));
    let z_dim = match sampler.recv_timeout(Duration::from_secs(60)) {
        Some(SamplerReply::Loaded(info)) => info.z_dim,
        _ => panic!("cannot load {label}"),
    };
    let mut generation = 0;
    let mut time = |count: usize, first_seed: u64, slot: Slot| -> Vec<f64> {
        (0..21)
            .map(|round| {
                generation += 1;
                let latents = (0..count as u64)
                    .map(|i| z_from_seed(first_seed + round * 100 + i, z_dim))
                    .collect();
                let start = Instant::now();
                sampler.send(SamplerRequest::Render {
                    slot,
                    generation,
                    latents,
                });
                wait_for_render(&sampler, generation, count);
                start.elapsed().as_secs_f64() * 1000.0
            })
            .skip(1)
            .collect()
    };
    let report = |what: &str, mut ms: Vec<f64>| {
        ms.sort_by(f64::total_cmp);
        println!(
            "{label:<44} {what:<22} median {:>6.1} ms   worst {:>6.1} ms",
            ms[ms.len() / 2],
            ms[ms.len() - 1]
        );
    };
    report("4x4 seed grid", time(16, 0, Slot::Grid));
    report("one preview image", time(1, 5_000, Slot::Preview));
}

fn main() {
    // As the studio's own `main` does. SAFETY: before any other thread starts.
    unsafe { deepstyle::kernels::threads::shorten_candle_spin() };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("explorer render latency, {threads} threads, CPU");
    let dir = tempfile::tempdir().expect("temp dir");
    let config = GanConfig::default(); // 64x64 RGB, ngf = ndf = 64
    let nets = Networks::new(&config, 1, &Device::Cpu).expect("networks");
    let weights = dir.path().join("g64.safetensors");
    checkpoint::save_tensors(&checkpoint::named(&nets.g_vars, ""), &weights).expect("save");
    let card = GeneratorCard {
        architecture: ARCHITECTURE.into(),
        config,
        iterations: 0,
        data: "none (initial weights)".into(),
        licence: "n/a".into(),
    };
    checkpoint::save_json(&card, &checkpoint::sidecar_path(&weights)).expect("card");
    measure(
        "64x64 RGB, ngf 64 (3.6 M parameters)",
        GeneratorSource::File(weights),
    );
    measure(
        "shipped Fashion-MNIST 32x32, ngf 32",
        GeneratorSource::Shipped,
    );
}
