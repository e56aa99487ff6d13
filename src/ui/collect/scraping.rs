//! The Collect tab's scraping panel: paste an address (its kind shows as you type), set how
//! politely and how far to go, start and cancel; watch the counters, the images arriving (with
//! their source on hover) and the failures (copyable). The scrape runs as a job; its images
//! reach the Library while it runs.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use crate::collect::scrape::{self, ScrapeEvent, ScrapeFailure, ScrapeOptions, ScrapeReport};
use crate::collect::source::{self, Source};
use crate::jobs::{self, JobError, JobHandle};
use crate::project::Project;
use crate::project::thumbs::{ThumbLoader, ThumbRequest};

use super::super::jobs_bar::JobView;
use super::super::tab::{Command, Commands, Status};
use super::super::widgets::{status_ui, tile_ui, upload_texture};

/// Arrivals kept for the grid (the catalog holds them all).
const ARRIVALS_KEPT: usize = 240;
/// Arrivals drawn in the grid, newest first.
const ARRIVALS_SHOWN: usize = 48;
const TILE_SIDE: f32 = 88.0;
/// How often the Library is told to read the catalog again while images arrive.
const CATALOG_REFRESH: Duration = Duration::from_secs(2);

/// The scraping settings, kept across restarts. The API token is never among them: only the
/// name of the environment variable that holds it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct ScrapeForm {
    pub url: String,
    /// 0: no limit.
    pub max_images: u32,
    pub concurrency: u32,
    pub delay_ms: u64,
    pub depth: u32,
    pub token_env: String,
    /// Empty: `https://www.pinterest.com`.
    pub pinterest_base: String,
    /// Empty: `https://api.pinterest.com`.
    pub api_base: String,
    pub timeout_s: u64,
}

impl Default for ScrapeForm {
    fn default() -> Self {
        let defaults = ScrapeOptions::default();
        ScrapeForm {
            url: String::new(),
            max_images: 0,
            concurrency: defaults.http.concurrency as u32,
            delay_ms: defaults.http.delay.as_millis() as u64,
            depth: 0,
            token_env: "PINTEREST_TOKEN".into(),
            pinterest_base: String::new(),
            api_base: String::new(),
            timeout_s: defaults.http.timeout.as_secs(),
        }
    }
}

impl ScrapeForm {
    /// The scrape's options from the form.
    pub fn options(&self, near_duplicate_distance: u32) -> ScrapeOptions {
        let mut options = ScrapeOptions {
            max_images: (self.max_images > 0).then_some(self.max_images as usize),
            depth: self.depth,
            token_env: Some(self.token_env.trim().to_string()).filter(|v| !v.is_empty()),
            near_duplicate_distance,
            ..ScrapeOptions::default()
        };
        options.http.concurrency = self.concurrency.max(1) as usize;
        options.http.delay = Duration::from_millis(self.delay_ms);
        options.http.timeout = Duration::from_secs(self.timeout_s.max(1));
        if !self.pinterest_base.trim().is_empty() {
            options.hosts.pinterest = self.pinterest_base.trim().to_string();
        }
        if !self.api_base.trim().is_empty() {
            options.hosts.api = self.api_base.trim().to_string();
        }
        options
    }
}

/// The counters shown while a scrape runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiveCounts {
    pub pages: u64,
    pub listed: u64,
    pub added: u64,
    pub duplicates: u64,
    pub near_duplicates: u64,
    pub failed: u64,
}

/// An image that arrived.
#[derive(Debug, Clone, PartialEq)]
pub struct Arrival {
    pub sha256: String,
    pub relpath: String,
    pub image_url: String,
    pub title: Option<String>,
    pub near_duplicate: bool,
}

#[derive(Default)]
pub struct ScrapePanel {
    project: Option<Project>,
    job: Option<JobHandle<ScrapeEvent, ScrapeReport>>,
    counts: LiveCounts,
    arrivals: VecDeque<Arrival>,
    failures: Vec<ScrapeFailure>,
    thumbs: Option<ThumbLoader>,
    textures: HashMap<String, egui::TextureHandle>,
    status: Option<Status>,
    /// Images arrived since the Library was last told.
    unannounced: bool,
    /// The running scrape's new images.
    added_ids: Vec<i64>,
    last_announced: Option<Instant>,
}

impl ScrapePanel {
    pub fn is_running(&self) -> bool {
        self.job.is_some()
    }

    pub fn counts(&self) -> &LiveCounts {
        &self.counts
    }

    /// The arrived images, newest first.
    pub fn arrivals(&self) -> impl Iterator<Item = &Arrival> {
        self.arrivals.iter()
    }

    pub fn failures(&self) -> &[ScrapeFailure] {
        &self.failures
    }

    pub fn status(&self) -> Option<&Status> {
        self.status.as_ref()
    }

    pub fn job(&self) -> Option<&dyn JobView> {
        self.job.as_ref().map(|j| j as &dyn JobView)
    }

    /// The failure list as text, one `URL<TAB>reason` line each.
    pub fn failures_text(&self) -> String {
        self.failures
            .iter()
            .map(|f| format!("{}\t{}\n", f.url, f.reason))
            .collect()
    }

    /// Starts scraping the form's address into the open project.
    pub fn start(&mut self, ctx: &egui::Context, form: &ScrapeForm, near_duplicate_distance: u32) {
        let Some(project) = self.project.clone() else {
            self.status = Some(Status::error("Open or create a project before scraping."));
            return;
        };
        if self.job.is_some() {
            return;
        }
        let address = form.url.trim().to_string();
        let source = match source::detect(&address) {
            Ok(source) => source,
            Err(reason) => {
                self.status = Some(Status::error(reason));
                return;
            }
        };
        let options = form.options(near_duplicate_distance);
        self.counts = LiveCounts::default();
        self.arrivals.clear();
        self.failures.clear();
        self.status = None;
        let notify = ctx.clone();
        self.job = Some(jobs::spawn(
            format!("Scrape {}", source.describe()),
            move || notify.request_repaint(),
            move |job| {
                scrape::scrape(&project, &address, &options, job, &|event| job.emit(event))
                    .map_err(|e| JobError::failed(&e))
            },
        ));
    }

    pub fn cancel(&self) {
        if let Some(job) = &self.job {
            job.cancel();
        }
    }

    /// Follows the project, drains the job's events, uploads arrived thumbnails. Returns the
    /// ids of the images a finished scrape added.
    pub fn logic(
        &mut self,
        ctx: &egui::Context,
        project: Option<&Project>,
        commands: &mut Commands,
    ) -> Vec<i64> {
        if self.project.as_ref().map(Project::root) != project.map(Project::root) {
            self.cancel();
            let repaint = ctx.clone();
            *self = ScrapePanel {
                project: project.cloned(),
                thumbs: project
                    .map(|p| ThumbLoader::new(p.clone(), 1, move || repaint.request_repaint())),
                ..ScrapePanel::default()
            };
        }
        if let Some(thumbs) = &self.thumbs {
            for done in thumbs.finished() {
                if let Ok(image) = done.image {
                    let texture = upload_texture(
                        ctx,
                        format!("scraped-{}", done.sha256),
                        &image,
                        egui::TextureOptions::LINEAR,
                    );
                    self.textures.insert(done.sha256, texture);
                }
            }
        }
        let Some(job) = &mut self.job else {
            return Vec::new();
        };
        for event in job.poll() {
            self.counts.apply(&event);
            match event {
                ScrapeEvent::Added {
                    image_id,
                    sha256,
                    relpath,
                    image_url,
                    title,
                    near_duplicate_of,
                    ..
                } => {
                    self.unannounced = true;
                    self.added_ids.push(image_id);
                    self.arrivals.push_front(Arrival {
                        sha256,
                        relpath,
                        image_url,
                        title,
                        near_duplicate: near_duplicate_of.is_some(),
                    });
                    if self.arrivals.len() > ARRIVALS_KEPT
                        && let Some(gone) = self.arrivals.pop_back()
                    {
                        self.textures.remove(&gone.sha256);
                    }
                }
                ScrapeEvent::Failed(failure) => self.failures.push(failure),
                ScrapeEvent::Page { .. } | ScrapeEvent::Duplicate { .. } => {}
            }
        }
        let finished = job.take_outcome();
        let due = self
            .last_announced
            .is_none_or(|t| t.elapsed() >= CATALOG_REFRESH);
        if self.unannounced && (due || finished.is_some()) {
            self.unannounced = false;
            self.last_announced = Some(Instant::now());
            commands.push(Command::CatalogChanged);
        }
        let Some(outcome) = finished else {
            return Vec::new();
        };
        let title = job.title().to_string();
        self.job = None;
        let status = match outcome {
            Ok(report) if report.cancelled => Status::info(format!(
                "Scrape cancelled: {} added are kept; scraping again fetches the rest. {}",
                report.counts.added,
                report.counts.summary()
            )),
            Ok(report) => Status {
                text: format!("Scrape finished: {}", report.counts.summary()),
                is_error: report.counts.failed > 0,
            },
            Err(e) => Status {
                text: format!("{title}: {e}"),
                is_error: e != JobError::Cancelled,
            },
        };
        commands.push(Command::Status(status.clone()));
        self.status = Some(status);
        std::mem::take(&mut self.added_ids)
    }

    pub fn ui(&mut self, ui: &mut egui::Ui, form: &mut ScrapeForm, near_duplicate_distance: u32) {
        ui.strong("Scrape the web");
        let running = self.job.is_some();
        ui.add_enabled_ui(self.project.is_some() && !running, |ui| {
            ui.horizontal(|ui| {
                let label = ui.label("Address");
                ui.add(
                    egui::TextEdit::singleline(&mut form.url)
                        .hint_text("https://www.pinterest.com/USER/BOARD/ or a runway page")
                        .desired_width(ui.available_width().min(520.0)),
                )
                .labelled_by(label.id);
            });
            source_kind_ui(ui, &form.url);
            options_ui(ui, form);
        });
        ui.horizontal(|ui| {
            let can_start = self.project.is_some() && !running && source::detect(&form.url).is_ok();
            if ui
                .add_enabled(can_start, egui::Button::new("Start scraping"))
                .clicked()
            {
                self.start(ui.ctx(), form, near_duplicate_distance);
            }
            if ui
                .add_enabled(running, egui::Button::new("Cancel scraping"))
                .clicked()
            {
                self.cancel();
            }
        });
        if let Some(job) = &self.job {
            let (fraction, message) = job
                .progress()
                .map(|p| (p.fraction(), p.msg.clone()))
                .unwrap_or((0.0, "reading the source".to_string()));
            ui.add(egui::ProgressBar::new(fraction).text(message).animate(true));
        }
        if running || self.counts != LiveCounts::default() {
            ui.label(self.counts.line());
        }
        if let Some(status) = &self.status {
            status_ui(ui, status);
        }
        self.failures_ui(ui);
        self.arrivals_ui(ui);
    }

    fn failures_ui(&mut self, ui: &mut egui::Ui) {
        if self.failures.is_empty() {
            return;
        }
        egui::CollapsingHeader::new(format!("Failed ({})", self.failures.len()))
            .id_salt("scrape-failures")
            .default_open(true)
            .show(ui, |ui| {
                if ui.button("Copy failure list").clicked() {
                    ui.ctx().copy_text(self.failures_text());
                }
                egui::ScrollArea::vertical()
                    .id_salt("scrape-failure-list")
                    .max_height(120.0)
                    .show(ui, |ui| {
                        for failure in &self.failures {
                            ui.colored_label(
                                ui.visuals().error_fg_color,
                                format!("{}: {}", failure.url, failure.reason),
                            );
                        }
                    });
            });
    }

    fn arrivals_ui(&mut self, ui: &mut egui::Ui) {
        if self.arrivals.is_empty() {
            return;
        }
        ui.label(format!(
            "Arrived ({} shown, newest first; all are in the Library)",
            self.arrivals.len().min(ARRIVALS_SHOWN)
        ));
        let mut wanted = Vec::new();
        egui::ScrollArea::vertical()
            .id_salt("scrape-arrivals")
            .max_height(ui.available_height().max(TILE_SIDE))
            .show(ui, |ui| {
                ui.horizontal_wrapped(|ui| {
                    for arrival in self.arrivals.iter().take(ARRIVALS_SHOWN) {
                        let texture = self.textures.get(&arrival.sha256);
                        if texture.is_none() {
                            wanted.push(ThumbRequest {
                                sha256: arrival.sha256.clone(),
                                relpath: arrival.relpath.clone(),
                            });
                        }
                        let mut hover = arrival.title.clone().unwrap_or_default();
                        if !hover.is_empty() {
                            hover.push('\n');
                        }
                        hover.push_str(&arrival.image_url);
                        if arrival.near_duplicate {
                            hover.push_str("\nlooks like an image already in the project");
                        }
                        tile_ui(ui, texture, TILE_SIDE, arrival.near_duplicate)
                            .on_hover_text(hover);
                    }
                });
            });
        if let Some(thumbs) = &self.thumbs {
            wanted.reverse();
            thumbs.want(wanted);
        }
    }
}

impl LiveCounts {
    fn apply(&mut self, event: &ScrapeEvent) {
        match event {
            ScrapeEvent::Page { images, .. } => {
                self.pages += 1;
                self.listed += *images as u64;
            }
            ScrapeEvent::Added {
                near_duplicate_of, ..
            } => {
                self.added += 1;
                if near_duplicate_of.is_some() {
                    self.near_duplicates += 1;
                }
            }
            ScrapeEvent::Duplicate { .. } => self.duplicates += 1,
            ScrapeEvent::Failed(_) => self.failed += 1,
        }
    }

    /// One line for the tab.
    pub fn line(&self) -> String {
        format!(
            "{} pages read, {} images listed, {} added, {} already present, {} near-duplicates, {} failed",
            self.pages, self.listed, self.added, self.duplicates, self.near_duplicates, self.failed
        )
    }
}

/// How many, how politely, how deep; the advanced hosts and the token variable.
fn options_ui(ui: &mut egui::Ui, form: &mut ScrapeForm) {
    ui.horizontal_wrapped(|ui| {
        let label = ui.label("Max images");
        ui.add(egui::DragValue::new(&mut form.max_images).range(0..=1_000_000))
            .labelled_by(label.id)
            .on_hover_text("Fetch at most this many new images (0: no limit)");
        let label = ui.label("Concurrency");
        ui.add(egui::DragValue::new(&mut form.concurrency).range(1..=32))
            .labelled_by(label.id)
            .on_hover_text("Requests in flight at once");
        let label = ui.label("Delay (ms)");
        ui.add(egui::DragValue::new(&mut form.delay_ms).range(0..=60_000))
            .labelled_by(label.id)
            .on_hover_text("The least time between two requests to the same site");
        let label = ui.label("Depth");
        ui.add(egui::DragValue::new(&mut form.depth).range(0..=5))
            .labelled_by(label.id)
            .on_hover_text("Follow links to other pages of the same site this many levels deep");
    });
    egui::CollapsingHeader::new("Advanced")
        .id_salt("scrape-advanced")
        .show(ui, |ui| {
            egui::Grid::new("scrape-advanced-grid")
                .num_columns(2)
                .show(ui, |ui| {
                    let label = ui.label("API token variable");
                    ui.add(egui::TextEdit::singleline(&mut form.token_env))
                        .labelled_by(label.id)
                        .on_hover_text(
                            "The environment variable holding a Pinterest API token; the \
                             token itself is never stored",
                        );
                    ui.end_row();
                    let label = ui.label("Pinterest host");
                    ui.add(
                        egui::TextEdit::singleline(&mut form.pinterest_base)
                            .hint_text("https://www.pinterest.com"),
                    )
                    .labelled_by(label.id);
                    ui.end_row();
                    let label = ui.label("API host");
                    ui.add(
                        egui::TextEdit::singleline(&mut form.api_base)
                            .hint_text("https://api.pinterest.com"),
                    )
                    .labelled_by(label.id);
                    ui.end_row();
                    let label = ui.label("Timeout (s)");
                    ui.add(egui::DragValue::new(&mut form.timeout_s).range(1..=600))
                        .labelled_by(label.id);
                    ui.end_row();
                });
        });
}

/// What the typed address is, as the user types it.
fn source_kind_ui(ui: &mut egui::Ui, address: &str) {
    if address.trim().is_empty() {
        ui.weak("A Pinterest board, a Pinterest API board, or any web page or RSS/Atom feed.");
        return;
    }
    match source::detect(address) {
        Ok(source) => {
            let hint = match &source {
                Source::PinterestApi { .. } => " (needs an API token variable: see Advanced)",
                _ => "",
            };
            ui.label(format!("Source: {}{hint}", source.describe()));
        }
        Err(reason) => {
            ui.colored_label(ui.visuals().error_fg_color, reason);
        }
    }
}
