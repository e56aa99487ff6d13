//! Thumbnails for browsing: read from the on-disk cache, or made from the original (and
//! cached) when missing. [`ThumbLoader`] runs this on worker threads for the window.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use crossbeam_channel::{Receiver, Sender};
use image::RgbaImage;

use super::Project;
use crate::atomic::write_atomic;
use crate::imaging;

/// Which thumbnail to load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThumbRequest {
    pub sha256: String,
    /// The original's catalog path, relative to the project root.
    pub relpath: String,
}

#[derive(Debug)]
pub struct ThumbResult {
    pub sha256: String,
    pub image: Result<RgbaImage, String>,
}

/// Loads the cached thumbnail, or decodes the original, caches its thumbnail and returns it.
pub fn load_or_make(project: &Project, request: &ThumbRequest) -> Result<RgbaImage, String> {
    let cached = project.thumb_path(&request.sha256);
    if let Ok(bytes) = std::fs::read(&cached)
        && let Ok(decoded) = imaging::decode_with_limits(&bytes)
    {
        return Ok(decoded.image.to_rgba8());
    }
    let original = project.resolve(&request.relpath);
    let bytes = std::fs::read(&original).map_err(|e| format!("{}: {e}", original.display()))?;
    let decoded =
        imaging::decode_with_limits(&bytes).map_err(|e| format!("{}: {e}", original.display()))?;
    let thumb = imaging::thumbnail(&decoded.image, imaging::THUMB_SIDE);
    if let Ok(png) = imaging::encode_png(&thumb) {
        // The cache is an optimisation: failing to write it is not an error.
        let _ = write_atomic(&cached, &png);
    }
    Ok(thumb)
}

struct Queue {
    wanted: Mutex<Vec<ThumbRequest>>,
    /// Being loaded now: not handed to a second worker when the window asks again.
    in_flight: Mutex<std::collections::HashSet<String>>,
    wake: Condvar,
    shutdown: AtomicBool,
}

/// A pool of threads that load the thumbnails the window currently wants. The window calls
/// [`ThumbLoader::want`] each frame with what is visible; requests for tiles that scrolled
/// away are dropped rather than loaded, so fast scrolling never builds a backlog.
pub struct ThumbLoader {
    queue: Arc<Queue>,
    results: Receiver<ThumbResult>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl ThumbLoader {
    pub fn new(
        project: Project,
        threads: usize,
        notify: impl Fn() + Send + Sync + 'static,
    ) -> Self {
        let queue = Arc::new(Queue {
            wanted: Mutex::new(Vec::new()),
            in_flight: Mutex::new(Default::default()),
            wake: Condvar::new(),
            shutdown: AtomicBool::new(false),
        });
        let (tx, results) = crossbeam_channel::unbounded();
        let notify = Arc::new(notify);
        let threads = (0..threads.max(1))
            .filter_map(|i| {
                let queue = queue.clone();
                let tx: Sender<ThumbResult> = tx.clone();
                let project = project.clone();
                let notify = notify.clone();
                std::thread::Builder::new()
                    .name(format!("thumbs-{i}"))
                    .spawn(move || worker(&project, &queue, &tx, &*notify))
                    .ok()
            })
            .collect();
        ThumbLoader {
            queue,
            results,
            threads,
        }
    }

    /// Replaces the wanted list; the last entries are loaded first.
    pub fn want(&self, mut requests: Vec<ThumbRequest>) {
        if let Ok(in_flight) = self.queue.in_flight.lock() {
            requests.retain(|r| !in_flight.contains(&r.sha256));
        }
        if let Ok(mut wanted) = self.queue.wanted.lock() {
            *wanted = requests;
        }
        self.queue.wake.notify_all();
    }

    /// The thumbnails finished since the last call.
    pub fn finished(&self) -> Vec<ThumbResult> {
        self.results.try_iter().collect()
    }
}

impl Drop for ThumbLoader {
    fn drop(&mut self) {
        self.queue.shutdown.store(true, Ordering::SeqCst);
        self.queue.wake.notify_all();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

fn worker(
    project: &Project,
    queue: &Queue,
    tx: &Sender<ThumbResult>,
    notify: &(dyn Fn() + Send + Sync),
) {
    loop {
        let request = {
            let Ok(mut wanted) = queue.wanted.lock() else {
                return;
            };
            loop {
                if queue.shutdown.load(Ordering::SeqCst) {
                    return;
                }
                if let Some(r) = wanted.pop() {
                    if let Ok(mut in_flight) = queue.in_flight.lock() {
                        in_flight.insert(r.sha256.clone());
                    }
                    break r;
                }
                wanted = match queue.wake.wait(wanted) {
                    Ok(w) => w,
                    Err(_) => return,
                };
            }
        };
        let image = load_or_make(project, &request);
        let sent = tx.send(ThumbResult {
            sha256: request.sha256.clone(),
            image,
        });
        // Only now: until the result is in the channel, a repeated request must wait.
        if let Ok(mut in_flight) = queue.in_flight.lock() {
            in_flight.remove(&request.sha256);
        }
        if sent.is_err() {
            return;
        }
        notify();
    }
}
