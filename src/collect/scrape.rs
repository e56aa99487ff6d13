//! A scrape: list a source's images (`listing`), fetch them politely on worker threads
//! (`http`), hash, decode, thumbnail and store them there (the import's own
//! [`prepare_bytes`] and [`store_prepared`], so a scraped image is stored exactly as an
//! imported one), and commit them with their provenance on the calling thread, a few at a time,
//! each batch in one transaction.
//!
//! Memory stays flat however large the source: the listing hands images on through a bounded
//! channel, and at most a few images per worker are in memory at once. Addresses already
//! fetched (by an earlier scrape, or one that was killed) are skipped, so scraping again
//! fetches only what is new and a stopped scrape resumes where it stopped.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, bounded};

use super::http::{FetchError, Http, HttpOptions, Request};
use super::listing::{self, Found, Hosts, ListingError, ListingEvent, ListingSink, Token};
use super::source::{self, Source};
use crate::jobs::Reporter;
use crate::project::Project;
use crate::project::catalog::{CatalogError, NewImage, SourceKind};
use crate::project::ingest::{
    DEFAULT_NEAR_DUPLICATE_DISTANCE, ImportError, Prepared, nearest, prepare_bytes, store_prepared,
};
use crate::project::provenance::{Fetch, Provenance};

/// The largest image fetched.
pub const DEFAULT_MAX_IMAGE_BYTES: u64 = 25 * 1024 * 1024;
/// Images committed in one transaction at most.
const BATCH: usize = 32;

/// What to scrape and how.
#[derive(Debug, Clone)]
pub struct ScrapeOptions {
    /// Fetch at most this many new images.
    pub max_images: Option<usize>,
    /// Follow same-host links of a web page this many levels deep.
    pub depth: u32,
    /// The environment variable holding the Pinterest API token.
    pub token_env: Option<String>,
    pub hosts: Hosts,
    pub http: HttpOptions,
    pub max_image_bytes: u64,
    pub near_duplicate_distance: u32,
}

impl Default for ScrapeOptions {
    fn default() -> Self {
        ScrapeOptions {
            max_images: None,
            depth: 0,
            token_env: None,
            hosts: Hosts::default(),
            http: HttpOptions::default(),
            max_image_bytes: DEFAULT_MAX_IMAGE_BYTES,
            near_duplicate_distance: DEFAULT_NEAR_DUPLICATE_DISTANCE,
        }
    }
}

/// A failed page or image, with its address and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScrapeFailure {
    pub url: String,
    pub reason: String,
}

/// One thing that happened, as it happens.
#[derive(Debug, Clone, PartialEq)]
pub enum ScrapeEvent {
    /// A page of the source was read and listed this many images.
    Page {
        url: String,
        images: usize,
    },
    /// A new image is in the project.
    Added {
        image_id: i64,
        sha256: String,
        /// Where the original is stored, relative to the project root.
        relpath: String,
        image_url: String,
        title: Option<String>,
        /// An image already in the project that looks almost the same.
        near_duplicate_of: Option<String>,
    },
    /// The bytes were already in the project.
    Duplicate {
        image_url: String,
        sha256: String,
    },
    Failed(ScrapeFailure),
}

/// Counts of a scrape, for progress and the summary line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScrapeCounts {
    pub pages: u64,
    pub found: u64,
    /// Listed but fetched by an earlier scrape: skipped.
    pub already_fetched: u64,
    pub added: u64,
    pub duplicates: u64,
    pub near_duplicates: u64,
    pub failed: u64,
}

impl ScrapeCounts {
    pub fn summary(&self) -> String {
        format!(
            "{} pages read, {} images found, {} added, {} already present, {} near-duplicates, {} failed, {} fetched before (skipped)",
            self.pages,
            self.found,
            self.added,
            self.duplicates,
            self.near_duplicates,
            self.failed,
            self.already_fetched
        )
    }
}

/// What a scrape did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScrapeReport {
    pub counts: ScrapeCounts,
    pub failures: Vec<ScrapeFailure>,
    /// Stopped by cancel: what was added stays, the rest is fetched next time.
    pub cancelled: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ScrapeError {
    #[error("{0}")]
    Address(String),
    #[error(transparent)]
    Source(#[from] ListingError),
    #[error(transparent)]
    Http(#[from] FetchError),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Store(#[from] ImportError),
}

/// An image fetched and stored by a worker, not yet in the catalog.
struct Downloaded {
    found: Found,
    /// The address the bytes came from (the fallback's, when it was used).
    url: String,
    outcome: Result<(Prepared, Vec<PathBuf>), String>,
}

/// The listing's side: skips addresses fetched before, hands the rest to the workers, stops at
/// the maximum.
struct Lister<'a> {
    catalog: Mutex<crate::project::Catalog>,
    queued: Mutex<HashSet<String>>,
    /// Taken (closing the queue) when the listing ends.
    to_fetch: Mutex<Option<Sender<Found>>>,
    counts: &'a Counters,
    max_images: Option<usize>,
    stop: &'a AtomicBool,
    reporter: &'a dyn Reporter,
    on_event: &'a (dyn Fn(ScrapeEvent) + Sync),
    failures: &'a Mutex<Vec<ScrapeFailure>>,
    error: Mutex<Option<CatalogError>>,
}

/// Counters shared by the threads.
#[derive(Default)]
struct Counters {
    pages: AtomicU64,
    found: AtomicU64,
    already_fetched: AtomicU64,
    queued: AtomicU64,
}

impl ListingSink for Lister<'_> {
    fn image(&self, found: Found) -> bool {
        if self.is_cancelled() {
            return false;
        }
        self.counts.found.fetch_add(1, Ordering::Relaxed);
        let fresh = self
            .queued
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(found.url.clone());
        if !fresh {
            return true;
        }
        let fetched_before = self
            .catalog
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .was_fetched(&found.url);
        match fetched_before {
            Ok(true) => {
                self.counts.already_fetched.fetch_add(1, Ordering::Relaxed);
                return true;
            }
            Ok(false) => {}
            Err(error) => {
                *self.error.lock().unwrap_or_else(|e| e.into_inner()) = Some(error);
                self.stop.store(true, Ordering::SeqCst);
                return false;
            }
        }
        let queued = self.counts.queued.fetch_add(1, Ordering::Relaxed) + 1;
        let sender = self
            .to_fetch
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if sender.is_none_or(|sender| sender.send(found).is_err()) {
            return false;
        }
        self.max_images.is_none_or(|max| (queued as usize) < max)
    }

    fn event(&self, event: ListingEvent) {
        match event {
            ListingEvent::Page { url, images } => {
                self.counts.pages.fetch_add(1, Ordering::Relaxed);
                (self.on_event)(ScrapeEvent::Page { url, images });
            }
            ListingEvent::PageFailed { url, reason } => {
                let failure = ScrapeFailure { url, reason };
                self.failures
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(failure.clone());
                (self.on_event)(ScrapeEvent::Failed(failure));
            }
        }
    }

    fn is_cancelled(&self) -> bool {
        self.reporter.is_cancelled() || self.stop.load(Ordering::SeqCst)
    }
}

/// The provenance's name for a source kind.
fn kind_name(source: &Source) -> &'static str {
    match source {
        Source::PinterestBoard { .. } => "pinterest-board",
        Source::PinterestApi { .. } => "pinterest-api",
        Source::Web { .. } => "web",
    }
}

/// Scrapes `address` into `project`. `on_event` hears of every page and image as it happens
/// (from several threads); `reporter` gets progress and is asked about cancel. `Err` when the
/// source cannot be read at all or the project cannot be written; a cancelled scrape is `Ok`
/// with `cancelled` set, keeping what it added.
pub fn scrape(
    project: &Project,
    address: &str,
    options: &ScrapeOptions,
    reporter: &dyn Reporter,
    on_event: &(dyn Fn(ScrapeEvent) + Sync),
) -> Result<ScrapeReport, ScrapeError> {
    let source = source::detect(address).map_err(ScrapeError::Address)?;
    let token: Option<Token> = match source {
        Source::PinterestApi { .. } => Some(listing::token_from_env(options.token_env.as_deref())?),
        _ => None,
    };
    let http = Http::new(options.http.clone())?;
    let catalog = project.catalog()?;
    let workers = options.http.concurrency.max(1);
    let (to_fetch, fetch_queue) = bounded::<Found>(workers * 4);
    let (to_commit, commit_queue) = bounded::<Downloaded>(workers * 2);
    let counters = Counters::default();
    let stop = AtomicBool::new(false);
    let failures = Mutex::new(Vec::new());
    let lister = Lister {
        catalog: Mutex::new(project.catalog()?),
        queued: Mutex::new(HashSet::new()),
        to_fetch: Mutex::new(Some(to_fetch)),
        counts: &counters,
        max_images: options.max_images,
        stop: &stop,
        reporter,
        on_event,
        failures: &failures,
        error: Mutex::new(None),
    };
    let cancelled = || reporter.is_cancelled() || stop.load(Ordering::SeqCst);
    let source_url = address.trim().to_string();

    let mut committer = Committer {
        catalog: &catalog,
        known_dhashes: catalog.dhashes()?,
        seen: HashSet::new(),
        source_url: &source_url,
        kind: kind_name(&source),
        near_duplicate_distance: options.near_duplicate_distance,
        counts: ScrapeCounts::default(),
        failures: Vec::new(),
        on_event,
    };

    let (listed, committed) = std::thread::scope(|scope| {
        let listing = scope.spawn(|| {
            let result = listing::list(
                &http,
                &source,
                &options.hosts,
                token.as_ref(),
                options.depth,
                &lister,
            );
            // Closing the queue tells the workers the listing is over.
            lister
                .to_fetch
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take();
            result
        });
        for _ in 0..workers {
            let fetch_queue = fetch_queue.clone();
            let to_commit = to_commit.clone();
            let http = &http;
            let cancelled = &cancelled;
            scope.spawn(move || {
                fetch_worker(
                    http,
                    project,
                    options.max_image_bytes,
                    &fetch_queue,
                    &to_commit,
                    cancelled,
                )
            });
        }
        drop(to_commit);
        drop(fetch_queue);
        let committed = committer.run(&commit_queue, &counters, reporter, &cancelled);
        if committed.is_err() {
            stop.store(true, Ordering::SeqCst);
            // Let the workers finish their current image and leave.
            for downloaded in commit_queue.iter() {
                discard(downloaded);
            }
        }
        (listing.join(), committed)
    });
    committed?;
    let mut failures = failures.into_inner().unwrap_or_else(|e| e.into_inner());
    failures.extend(committer.failures);
    let mut report = ScrapeReport {
        counts: committer.counts,
        failures,
        cancelled: reporter.is_cancelled(),
    };
    report.counts.failed = report.failures.len() as u64;
    report.counts.pages = counters.pages.load(Ordering::Relaxed);
    report.counts.found = counters.found.load(Ordering::Relaxed);
    report.counts.already_fetched = counters.already_fetched.load(Ordering::Relaxed);
    match listed {
        Ok(Ok(())) => {}
        Ok(Err(ListingError::Cancelled)) => report.cancelled = true,
        Ok(Err(error)) => return Err(error.into()),
        Err(_) => {
            return Err(ScrapeError::Address(format!(
                "{source_url}: the listing crashed"
            )));
        }
    }
    Ok(report)
}

/// Removes the files of an image that will not be committed.
fn discard(downloaded: Downloaded) {
    if let Ok((_, created)) = downloaded.outcome {
        for path in created {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A worker: fetch (falling back on 403/404), prepare and store each listed image.
fn fetch_worker(
    http: &Http,
    project: &Project,
    max_bytes: u64,
    queue: &Receiver<Found>,
    to_commit: &Sender<Downloaded>,
    cancelled: &(dyn Fn() -> bool + Sync),
) {
    for found in queue.iter() {
        if cancelled() {
            break;
        }
        let first = http.get(&Request::new(&found.url, max_bytes), cancelled);
        let fetched = match (&first, &found.fallback) {
            (Err(e), Some(fallback)) if matches!(e.status(), Some(403 | 404)) => {
                http.get(&Request::new(fallback, max_bytes), cancelled)
            }
            _ => first,
        };
        let (url, outcome) = match fetched {
            Err(FetchError::Cancelled) => break,
            Err(error) => (found.url.clone(), Err(error.to_string())),
            Ok(fetched) => {
                let outcome = prepare_bytes(&fetched.bytes)
                    .map_err(|reason| format!("{}: {reason}", fetched.url))
                    .and_then(|prepared| {
                        store_prepared(project, &prepared, &fetched.bytes)
                            .map(|created| (prepared, created))
                            .map_err(|e| e.to_string())
                    });
                (fetched.url, outcome)
            }
        };
        let downloaded = Downloaded {
            found,
            url,
            outcome,
        };
        if let Err(unsent) = to_commit.send(downloaded) {
            discard(unsent.0);
            break;
        }
    }
}

/// The calling thread's side: dedupe, near-duplicate check, commit in batches, report.
struct Committer<'a> {
    catalog: &'a crate::project::Catalog,
    known_dhashes: Vec<(String, u64)>,
    /// Hashes added or met in this scrape.
    seen: HashSet<String>,
    source_url: &'a str,
    kind: &'static str,
    near_duplicate_distance: u32,
    counts: ScrapeCounts,
    /// The images that failed.
    failures: Vec<ScrapeFailure>,
    on_event: &'a (dyn Fn(ScrapeEvent) + Sync),
}

impl Committer<'_> {
    fn run(
        &mut self,
        queue: &Receiver<Downloaded>,
        counters: &Counters,
        reporter: &dyn Reporter,
        cancelled: &dyn Fn() -> bool,
    ) -> Result<(), ScrapeError> {
        let mut processed = 0u64;
        loop {
            let first = match queue.recv_timeout(Duration::from_millis(100)) {
                Ok(downloaded) => downloaded,
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => return Ok(()),
            };
            let mut batch = vec![first];
            while batch.len() < BATCH {
                match queue.try_recv() {
                    Ok(downloaded) => batch.push(downloaded),
                    Err(_) => break,
                }
            }
            if cancelled() {
                // Fetched but not committed: removed, and fetched again next time.
                batch.into_iter().for_each(discard);
                queue.iter().for_each(discard);
                return Ok(());
            }
            processed += batch.len() as u64;
            self.commit(batch)?;
            let queued = counters.queued.load(Ordering::Relaxed);
            reporter.progress(
                processed,
                queued.max(processed),
                &format!(
                    "{} added, {} already present, {} failed",
                    self.counts.added, self.counts.duplicates, self.counts.failed
                ),
            );
        }
    }

    fn commit(&mut self, batch: Vec<Downloaded>) -> Result<(), ScrapeError> {
        let mut fetches = Vec::with_capacity(batch.len());
        let mut pending = Vec::with_capacity(batch.len());
        let mut created_files = Vec::new();
        for downloaded in batch {
            let (prepared, created) = match downloaded.outcome {
                Ok(ok) => ok,
                Err(reason) => {
                    self.counts.failed += 1;
                    let failure = ScrapeFailure {
                        url: downloaded.url,
                        reason,
                    };
                    self.failures.push(failure.clone());
                    (self.on_event)(ScrapeEvent::Failed(failure));
                    continue;
                }
            };
            let duplicate = self.seen.contains(&prepared.sha256)
                || self.catalog.image_by_sha(&prepared.sha256)?.is_some();
            let near = if duplicate {
                None
            } else {
                nearest(
                    &self.known_dhashes,
                    prepared.dhash,
                    self.near_duplicate_distance,
                )
                .map(|(sha, _)| sha)
            };
            self.seen.insert(prepared.sha256.clone());
            if !duplicate {
                self.known_dhashes
                    .push((prepared.sha256.clone(), prepared.dhash));
                created_files.extend(created);
            }
            let found = downloaded.found;
            let new_image = (!duplicate).then(|| {
                let row = NewImage {
                    sha256: prepared.sha256.clone(),
                    path: prepared.relpath(),
                    width: prepared.width,
                    height: prepared.height,
                    dhash: prepared.dhash,
                    source_url: Some(downloaded.url.clone()),
                    source_kind: SourceKind::Web,
                    original_name: file_name_of(&downloaded.url),
                };
                let provenance = Provenance {
                    source_kind: self.kind.to_string(),
                    source_url: self.source_url.to_string(),
                    page_url: Some(found.page_url.clone()).filter(|p| p != self.source_url),
                    pin_id: found.pin_id.clone(),
                    image_url: downloaded.url.clone(),
                    title: found.title.clone(),
                    description: found.description.clone(),
                    fetched_at: String::new(),
                };
                (row, provenance)
            });
            fetches.push(Fetch {
                url: found.url.clone(),
                sha256: prepared.sha256.clone(),
                source_url: self.source_url.to_string(),
                new_image,
            });
            pending.push((
                found,
                downloaded.url,
                prepared.relpath(),
                prepared.sha256,
                near,
            ));
        }
        let ids = match self.catalog.commit_fetches(&fetches) {
            Ok(ids) => ids,
            Err(error) => {
                for path in created_files {
                    let _ = std::fs::remove_file(path);
                }
                return Err(error.into());
            }
        };
        for ((found, image_url, relpath, sha256, near), id) in pending.into_iter().zip(ids) {
            match id {
                Some(image_id) => {
                    self.counts.added += 1;
                    if near.is_some() {
                        self.counts.near_duplicates += 1;
                    }
                    (self.on_event)(ScrapeEvent::Added {
                        image_id,
                        sha256,
                        relpath,
                        image_url,
                        title: found.title,
                        near_duplicate_of: near,
                    });
                }
                None => {
                    self.counts.duplicates += 1;
                    (self.on_event)(ScrapeEvent::Duplicate { image_url, sha256 });
                }
            }
        }
        Ok(())
    }
}

/// The last path segment of an address, as the image's original name (shown, never used as a
/// file name: the store is content-addressed).
fn file_name_of(url: &str) -> Option<String> {
    let path = url.split(['?', '#']).next()?;
    let name = path.rsplit('/').next()?;
    (!name.is_empty() && !path.ends_with("://")).then(|| name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn original_names_are_the_last_path_segment() {
        assert_eq!(
            file_name_of("https://i.pinimg.com/originals/ab/cd/look.jpg?x=1").as_deref(),
            Some("look.jpg")
        );
        assert_eq!(file_name_of("https://example.com/"), None);
    }

    #[test]
    fn the_summary_names_every_count() {
        let counts = ScrapeCounts {
            pages: 3,
            found: 10,
            already_fetched: 2,
            added: 5,
            duplicates: 1,
            near_duplicates: 1,
            failed: 2,
        };
        let summary = counts.summary();
        for part in [
            "3 pages",
            "10 images found",
            "5 added",
            "1 already present",
            "2 failed",
        ] {
            assert!(summary.contains(part), "{summary}");
        }
    }
}
