//! Scraping throughput and memory against a server on 127.0.0.1, beside `curl --parallel`
//! fetching the same addresses at the same concurrency in the same run.
//!
//! `cargo bench --bench collect -- [--images N] [--concurrency 1,4,16] [--memory 1000,5000]`
//!
//! The server offers a gallery page of N distinct JPEGs of about 200 KB (one photograph-like
//! picture, each copy made distinct by a JPEG comment). For each concurrency, curl fetches every
//! image to /dev/null, then `deepstyle scrape --delay-ms 0` (the release binary, a fresh
//! project) fetches, hashes, decodes, thumbnails, stores and catalogs them. Rows: images per
//! second of each, the ratio ours/curl, and our process's peak resident memory. The memory rows
//! scrape galleries of different sizes at concurrency 4: peak memory must not grow with N.

#![allow(clippy::unwrap_used)]

#[path = "../tests/common/server.rs"]
#[allow(dead_code)]
mod server;

use std::io::Cursor;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use image::{ImageFormat, Rgb, RgbImage};
use server::{Reply, Seen, Server};

/// A picture with a photograph's detail (smooth shapes plus grain), so its JPEG is as large
/// as a runway photo's.
fn photo_like(width: u32, height: u32) -> RgbImage {
    let mut state = 0x2545F491u32;
    RgbImage::from_fn(width, height, |x, y| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let grain = (state % 48) as i32 - 24;
        let fx = x as f32 / width as f32;
        let fy = y as f32 / height as f32;
        let shape = ((fx * 9.0).sin() * (fy * 7.0).cos() * 90.0) as i32;
        let c = |base: i32| (base + shape + grain).clamp(0, 255) as u8;
        Rgb([
            c(150),
            c(110 + (fy * 60.0) as i32),
            c(90 + (fx * 80.0) as i32),
        ])
    })
}

/// The JPEG with a comment segment after SOI: other bytes, the same picture.
fn with_comment(jpeg: &[u8], comment: &str) -> Vec<u8> {
    let length = (comment.len() + 2) as u16;
    let mut out = Vec::with_capacity(jpeg.len() + comment.len() + 4);
    out.extend_from_slice(&jpeg[..2]);
    out.extend_from_slice(&[0xFF, 0xFE]);
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(comment.as_bytes());
    out.extend_from_slice(&jpeg[2..]);
    out
}

fn start_server(base_jpeg: Arc<Vec<u8>>, images: u32) -> Server {
    Server::start(move |seen: &Seen| match seen.path() {
        "/robots.txt" => Reply::status(404),
        "/gallery" => Reply::ok(
            "text/html",
            (0..images)
                .map(|n| format!("<img src=\"/img/{n}.jpg\">\n"))
                .collect::<String>(),
        ),
        path => match path
            .strip_prefix("/img/")
            .and_then(|p| p.strip_suffix(".jpg"))
        {
            Some(n) => Reply::ok("image/jpeg", with_comment(&base_jpeg, n)),
            None => Reply::status(404),
        },
    })
}

/// Runs `command`, returning its wall time and peak resident memory (KiB).
fn run_measured(command: &mut Command) -> (Duration, Option<u64>) {
    let started = Instant::now();
    let child = command
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let (ok, peak) = wait_with_peak(child);
    let elapsed = started.elapsed();
    assert!(ok, "{command:?} failed");
    (elapsed, peak)
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn wait_with_peak(child: std::process::Child) -> (bool, Option<u64>) {
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our own unwaited child; `status` and `usage` outlive the call.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let ok = waited == pid && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    (ok, Some(usage.ru_maxrss as u64))
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn wait_with_peak(mut child: std::process::Child) -> (bool, Option<u64>) {
    (child.wait().map(|s| s.success()).unwrap_or(false), None)
}

fn fresh_project(dir: &Path, name: &str) -> std::path::PathBuf {
    let project = dir.join(name);
    let status = Command::new(env!("CARGO_BIN_EXE_deepstyle"))
        .arg("new")
        .arg(&project)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    project
}

fn scrape(project: &Path, url: &str, concurrency: usize) -> (Duration, Option<u64>) {
    run_measured(
        Command::new(env!("CARGO_BIN_EXE_deepstyle"))
            .args(["scrape", "--delay-ms", "0", "--concurrency"])
            .arg(concurrency.to_string())
            .arg(project)
            .arg(url),
    )
}

fn curl(config: &Path, concurrency: usize) -> Duration {
    run_measured(
        Command::new("curl")
            .args(["--parallel", "--parallel-max"])
            .arg(concurrency.to_string())
            .args(["--silent", "--fail", "--config"])
            .arg(config),
    )
    .0
}

fn list_arg(args: &[String], name: &str, default: &[usize]) -> Vec<usize> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| default.to_vec())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let images = list_arg(&args, "--images", &[1000])[0] as u32;
    let concurrencies = list_arg(&args, "--concurrency", &[1, 4, 16]);
    let memory_sizes = list_arg(&args, "--memory", &[1000, 5000]);

    let mut jpeg = Vec::new();
    photo_like(720, 960)
        .write_to(&mut Cursor::new(&mut jpeg), ImageFormat::Jpeg)
        .unwrap();
    let jpeg = Arc::new(jpeg);
    let cpu_features = ["avx512f", "avx2", "fma"]
        .into_iter()
        .filter(|f| std::fs::read_to_string("/proc/cpuinfo").is_ok_and(|c| c.contains(f)))
        .collect::<Vec<_>>()
        .join(" ");
    println!(
        "images of {} KB (720x960 JPEG), {} cores, CPU features: {cpu_features}",
        jpeg.len() / 1024,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );

    // What each image costs the CPU after its bytes arrive (the import's own hash, decode,
    // dHash and thumbnail), on one thread: the bound on our rate that curl does not pay.
    let started = Instant::now();
    let rounds = 40;
    for n in 0..rounds {
        deepstyle::project::ingest::prepare_bytes(&with_comment(&jpeg, &n.to_string())).unwrap();
    }
    let prepare_ms = started.elapsed().as_secs_f64() * 1000.0 / rounds as f64;
    println!(
        "hash + decode + dHash + thumbnail of one image on one thread: {prepare_ms:.1} ms (at most {:.0} images/s per core)",
        1000.0 / prepare_ms
    );

    let dir = tempfile::tempdir().unwrap();
    let server = start_server(Arc::clone(&jpeg), images);
    let config = dir.path().join("curl.cfg");
    let lines: String = (0..images)
        .map(|n| {
            format!(
                "url = \"{}\"\noutput = \"/dev/null\"\n",
                server.url(&format!("/img/{n}.jpg"))
            )
        })
        .collect();
    std::fs::write(&config, lines).unwrap();

    println!(
        "\n| concurrency | curl --parallel (images/s) | deepstyle scrape (images/s) | ratio ours/curl | our peak RSS (MiB) |"
    );
    println!("| --- | --- | --- | --- | --- |");
    for &concurrency in &concurrencies {
        let curl_time = curl(&config, concurrency);
        let project = fresh_project(dir.path(), &format!("c{concurrency}"));
        let (ours, peak) = scrape(&project, &server.url("/gallery"), concurrency);
        let curl_rate = images as f64 / curl_time.as_secs_f64();
        let our_rate = images as f64 / ours.as_secs_f64();
        println!(
            "| {concurrency} | {curl_rate:.0} | {our_rate:.0} | {:.2} | {} |",
            our_rate / curl_rate,
            peak.map_or("n/a".into(), |kib| format!("{:.0}", kib as f64 / 1024.0))
        );
    }

    println!("\n| images in the gallery (concurrency 4) | scrape time (s) | our peak RSS (MiB) |");
    println!("| --- | --- | --- |");
    for &count in &memory_sizes {
        let server = start_server(Arc::clone(&jpeg), count as u32);
        let project = fresh_project(dir.path(), &format!("m{count}"));
        let (time, peak) = scrape(&project, &server.url("/gallery"), 4);
        println!(
            "| {count} | {:.1} | {} |",
            time.as_secs_f64(),
            peak.map_or("n/a".into(), |kib| format!("{:.0}", kib as f64 / 1024.0))
        );
    }
}
