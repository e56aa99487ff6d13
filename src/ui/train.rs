//! The Train tab: configure a DCGAN run, start / pause / stop / resume it, watch its losses
//! and sample grids live, and reopen past runs from their folders.

use std::collections::HashMap;
use std::path::PathBuf;

use egui_plot::{Legend, Line, Plot, PlotPoints};

use crate::device::DeviceChoice;
use crate::gan::GanConfig;
use crate::gan::config::{IMAGE_SIZES, Loss, Resize};
use crate::gan::data::DataSource;
use crate::gan::estimate::{RunEstimate, data_warning, estimate_run, format_duration};
use crate::gan::train::{
    self, PauseFlag, RunHistory, StepMetrics, TrainEvent, TrainRequest, TrainSummary,
};
use crate::jobs::{self, JobError, JobHandle, Progress};
use crate::project::Project;

use super::dialogs::Dialog;
use super::follow::Follow;
use super::jobs_bar::JobView;
use super::tab::{Command, Commands, Status, StudioTab, restore_form, save_form};
use super::train_detector::DetectorSection;
use super::widgets::{color_image, status_ui};

/// TensorBoard's smoothing: an exponential moving average, debiased for its zero start.
pub fn smooth(values: &[f64], weight: f64) -> Vec<f64> {
    let weight = weight.clamp(0.0, 0.999);
    let mut last = 0.0;
    let mut debias = 1.0;
    values
        .iter()
        .map(|&v| {
            last = last * weight + (1.0 - weight) * v;
            debias *= weight;
            last / (1.0 - debias)
        })
        .collect()
}

fn loss_name(loss: Loss) -> &'static str {
    match loss {
        Loss::Bce => "cross-entropy (DCGAN)",
        Loss::Hinge => "hinge",
    }
}

/// The form's fields.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct TrainForm {
    pub data: String,
    pub run_name: String,
    pub config: GanConfig,
    pub device: DeviceChoice,
    /// Train one model for every category of the data, asked for by class.
    #[serde(default)]
    pub conditional: bool,
}

impl Default for TrainForm {
    /// A run sized for a CPU: 32x32 RGB at width 32 in batches of 32, samples every 50
    /// iterations, so garments show within minutes (on a GPU, raise the size and width).
    fn default() -> Self {
        TrainForm {
            data: String::new(),
            run_name: "dcgan".into(),
            config: GanConfig {
                image_size: 32,
                ngf: 32,
                ndf: 32,
                batch_size: 32,
                iterations: 2_000,
                sample_every: 50,
                checkpoint_every: 250,
                threads: Some(GanConfig::default().compute_threads()),
                ..GanConfig::default()
            },
            device: DeviceChoice::Cpu,
            conditional: false,
        }
    }
}

/// What an iteration's cost depends on: the networks' shapes, the batch, the threads and the
/// device (not the run's length, seed or learning rate).
#[derive(Debug, Clone, PartialEq)]
struct CostKey {
    config: GanConfig,
    device: DeviceChoice,
}

impl CostKey {
    fn of(form: &TrainForm) -> CostKey {
        let c = &form.config;
        CostKey {
            config: GanConfig {
                image_size: c.image_size,
                channels: c.channels,
                z_dim: c.z_dim,
                ngf: c.ngf,
                ndf: c.ndf,
                batch_size: c.batch_size,
                threads: Some(c.compute_threads()),
                spectral_norm: c.spectral_norm,
                loss: c.loss,
                ..GanConfig::default()
            },
            device: form.device,
        }
    }
}

struct SampleLoad {
    iter: u64,
    job: JobHandle<(), egui::ColorImage>,
}

/// A training run: its job and its pause flag. Cancelling it un-pauses first, so a paused run
/// stops at once (finishing its iteration and writing a checkpoint).
struct TrainJob {
    handle: JobHandle<TrainEvent, TrainSummary>,
    pause: PauseFlag,
}

impl JobView for TrainJob {
    fn title(&self) -> &str {
        self.handle.title()
    }
    fn progress(&self) -> Option<&Progress> {
        self.handle.progress()
    }
    fn cancel(&self) {
        self.pause.set(false);
        self.handle.cancel();
    }
    fn is_cancel_requested(&self) -> bool {
        self.handle.is_cancel_requested()
    }
}

/// A project's crops by category, and its image count.
type DataCounts = (Vec<(String, u64)>, u64);

/// What the Train tab trains.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TrainMode {
    #[default]
    Gan,
    Detector,
}

#[derive(Default)]
pub struct TrainTab {
    pub form: TrainForm,
    pub mode: TrainMode,
    /// The garment detector's training.
    pub detector: DetectorSection,
    project: Option<Project>,
    /// The project's crops by category and its image count, and the job reading them.
    crops: Vec<(String, u64)>,
    images: u64,
    crops_job: Option<JobHandle<(), DataCounts>>,
    /// The form's run, timed on its device.
    estimate: Follow<CostKey, RunEstimate>,
    /// Whether the tab was drawn at the last frame: runs are timed only while it shows.
    on_screen: bool,
    job: Option<TrainJob>,
    history_job: Option<JobHandle<(), (PathBuf, RunHistory)>>,
    pause: PauseFlag,
    run_dir: Option<PathBuf>,
    /// Set while reading a resumed run's earlier metrics, up to this iteration.
    history_through: Option<u64>,
    metrics: Vec<StepMetrics>,
    samples: Vec<(u64, PathBuf)>,
    /// Index into `samples` shown; `None` follows the newest.
    scrub: Option<usize>,
    textures: HashMap<u64, egui::TextureHandle>,
    loading: Vec<SampleLoad>,
    warnings: Vec<String>,
    status: Option<Status>,
    total: u64,
    smoothing: f64,
    log_scale: bool,
}

impl TrainTab {
    const FORM_KEY: &'static str = "deepstyle-train-form";
    const DETECTOR_FORM_KEY: &'static str = "deepstyle-detector-form";

    /// Points received by the loss plot so far.
    pub fn points(&self) -> usize {
        self.metrics.len()
    }
    /// Whether a sample grid is on screen.
    pub fn sample_shown(&self) -> bool {
        self.shown_sample()
            .is_some_and(|(iter, _)| self.textures.contains_key(&iter))
    }
    pub fn is_running(&self) -> bool {
        self.job.is_some()
    }
    pub fn status(&self) -> &str {
        self.status.as_ref().map_or("", |s| s.text.as_str())
    }
    /// Stop = cancel: the trainer finishes its iteration and writes a checkpoint.
    pub fn stop(&self) {
        if let Some(job) = &self.job {
            job.cancel();
        }
    }

    /// The project's crops, by category.
    pub fn crops(&self) -> &[(String, u64)] {
        &self.crops
    }

    /// Reads how many crops the project has, by category, in a worker.
    pub fn refresh_crops(&mut self, ctx: &egui::Context) {
        let Some(project) = self.project.clone() else {
            self.crops.clear();
            return;
        };
        let ctx = ctx.clone();
        self.crops_job = Some(jobs::spawn(
            "Count crops",
            move || ctx.request_repaint(),
            move |_job| {
                let counts = |catalog: crate::project::Catalog| {
                    Ok((
                        crate::export::crops::crop_counts(&catalog)?,
                        catalog.image_count()?,
                    ))
                };
                project
                    .catalog()
                    .and_then(counts)
                    .map_err(|e: crate::project::CatalogError| JobError::failed(&e))
            },
        ));
    }

    fn poll_crops(&mut self) {
        let Some(job) = &mut self.crops_job else {
            return;
        };
        job.poll();
        if let Some(outcome) = job.take_outcome() {
            self.crops_job = None;
            (self.crops, self.images) = outcome.unwrap_or_default();
        }
    }

    /// The estimate of the form's run, once its iterations have been timed.
    pub fn estimate(&self) -> Option<&Result<RunEstimate, String>> {
        self.estimate.for_key(&CostKey::of(&self.form))
    }

    /// Images the run would train on when its data is the project: its crops, else its photos.
    fn project_images(&self) -> Option<u64> {
        if !self.form.data.trim().is_empty() || self.project.is_none() {
            return None;
        }
        let crops: u64 = self.crops.iter().map(|(_, n)| n).sum();
        Some(if crops > 0 { crops } else { self.images })
    }

    fn say(&mut self, text: impl Into<String>) {
        self.status = Some(Status::info(text));
    }

    fn shown_sample(&self) -> Option<(u64, PathBuf)> {
        let index = self.scrub.unwrap_or(self.samples.len().checked_sub(1)?);
        self.samples.get(index).cloned()
    }

    fn run_dir(&self) -> PathBuf {
        let base = self
            .project
            .as_ref()
            .map_or_else(|| PathBuf::from("runs"), Project::runs_dir);
        base.join(self.form.run_name.trim())
    }

    fn start(&mut self, ctx: &egui::Context, resume: bool) {
        let data = if self.form.data.trim().is_empty() {
            match &self.project {
                Some(p) => DataSource::Project(p.root().to_path_buf()),
                None => {
                    self.status = Some(Status::error("Choose training data first."));
                    return;
                }
            }
        } else {
            DataSource::parse(self.form.data.trim())
        };
        let run_dir = self.run_dir();
        let request = TrainRequest {
            run_dir: run_dir.clone(),
            data,
            config: self.form.config.clone(),
            resume,
            device: self.form.device,
            epochs: None,
            lr_override: None,
            conditional: self.form.conditional,
        };
        self.metrics.clear();
        self.samples.clear();
        self.textures.clear();
        self.warnings.clear();
        self.scrub = None;
        self.total = request.config.iterations;
        self.pause = PauseFlag::default();
        self.run_dir = Some(run_dir.clone());
        let pause = self.pause.clone();
        let ctx = ctx.clone();
        let title = format!("Train {}", self.form.run_name.trim());
        let handle = jobs::spawn(
            title,
            move || ctx.request_repaint(),
            move |job| train::train(&request, &pause, job).map_err(|e| JobError::failed(&e)),
        );
        self.job = Some(TrainJob {
            handle,
            pause: self.pause.clone(),
        });
        self.say(format!("Training into {}", run_dir.display()));
    }

    /// Shows a past run (its curves, samples and settings) read in a worker.
    pub fn open_run(&mut self, ctx: &egui::Context, run_dir: PathBuf) {
        let ctx = ctx.clone();
        self.history_job = Some(jobs::spawn(
            "Read run",
            move || ctx.request_repaint(),
            move |_| {
                train::read_run(&run_dir)
                    .map(|h| (run_dir, h))
                    .map_err(|e| JobError::failed(&e))
            },
        ));
    }

    /// Drains the trainer's events.
    fn poll(&mut self, ctx: &egui::Context) {
        let mut reload_history = None;
        if let Some(TrainJob { handle: job, .. }) = &mut self.job {
            for event in job.poll() {
                match event {
                    TrainEvent::Started {
                        first_iter,
                        iterations,
                        images,
                    } => {
                        self.total = iterations;
                        self.status = Some(Status::info(format!(
                            "Training on {images} images from iteration {first_iter}"
                        )));
                        if first_iter > 0
                            && let Some(dir) = self.run_dir.clone()
                        {
                            // A resumed run: bring back its curves and grids up to the checkpoint.
                            self.history_through = Some(first_iter);
                            reload_history = Some(dir);
                        }
                    }
                    TrainEvent::Step(m) => self.metrics.push(m),
                    TrainEvent::Sample { iter, path } => self.samples.push((iter, path)),
                    TrainEvent::Checkpoint { iter } => {
                        self.status = Some(Status::info(format!("Checkpoint at iteration {iter}")))
                    }
                    TrainEvent::Warning(w) => self.warnings.push(w),
                }
            }
            if let Some(outcome) = job.take_outcome() {
                self.status = Some(match outcome {
                    Ok(s) if s.stopped => Status::info(format!(
                        "Stopped at iteration {}; resume continues from there",
                        s.iterations
                    )),
                    Ok(s) => Status::info(format!("Finished {} iterations", s.iterations)),
                    Err(e) => Status::error(format!("Training failed: {e}")),
                });
                self.job = None;
            }
        }
        if let Some(dir) = reload_history {
            self.open_run(ctx, dir);
        }
        if let Some(job) = &mut self.history_job {
            job.poll();
            if let Some(outcome) = job.take_outcome() {
                match outcome {
                    Ok((_, history)) if self.history_through.is_some() => {
                        let through = self.history_through.take().unwrap_or(0);
                        let mut metrics: Vec<StepMetrics> = history
                            .metrics
                            .into_iter()
                            .filter(|m| m.iter <= through)
                            .collect();
                        metrics.append(&mut self.metrics);
                        self.metrics = metrics;
                        let mut samples: Vec<(u64, PathBuf)> = history
                            .samples
                            .into_iter()
                            .filter(|(i, _)| *i <= through)
                            .collect();
                        samples.append(&mut self.samples);
                        self.samples = samples;
                    }
                    Ok((dir, history)) => {
                        if let Some(config) = history.config {
                            self.form.config = config;
                        }
                        if let Some(name) = dir.file_name() {
                            self.form.run_name = name.to_string_lossy().into_owned();
                        }
                        self.total = self.form.config.iterations;
                        self.metrics = history.metrics;
                        self.samples = history.samples;
                        self.textures.clear();
                        self.scrub = None;
                        self.say(format!("Opened run {}", dir.display()));
                        self.run_dir = Some(dir);
                    }
                    Err(e) => {
                        self.status = Some(Status::error(format!("Could not open the run: {e}")))
                    }
                }
                self.history_job = None;
            }
        }
        self.load_shown_sample(ctx);
    }

    fn load_shown_sample(&mut self, ctx: &egui::Context) {
        for load in &mut self.loading {
            load.job.poll();
        }
        let mut still = Vec::new();
        for mut load in self.loading.drain(..) {
            match load.job.take_outcome() {
                Some(Ok(image)) => {
                    let texture = ctx.load_texture(
                        format!("sample-{}", load.iter),
                        image,
                        egui::TextureOptions::NEAREST,
                    );
                    self.textures.insert(load.iter, texture);
                }
                Some(Err(_)) => {}
                None => still.push(load),
            }
        }
        self.loading = still;
        let Some((iter, path)) = self.shown_sample() else {
            return;
        };
        if self.textures.contains_key(&iter) || self.loading.iter().any(|l| l.iter == iter) {
            return;
        }
        if self.textures.len() > 64 {
            self.textures.clear();
        }
        let repaint = ctx.clone();
        let job = jobs::spawn(
            "Load samples",
            move || repaint.request_repaint(),
            move |_| {
                let image = image::open(&path)
                    .map_err(|e| JobError::Failed(format!("{}: {e}", path.display())))?;
                Ok(color_image(&image.to_rgba8()))
            },
        );
        self.loading.push(SampleLoad { iter, job });
    }

    fn train_ui(&mut self, ui: &mut egui::Ui, commands: &mut Commands) {
        egui::Panel::top("train-mode").show(ui, |ui| {
            ui.horizontal(|ui| {
                ui.selectable_value(&mut self.mode, TrainMode::Gan, "DCGAN (garments)");
                ui.selectable_value(&mut self.mode, TrainMode::Detector, "Garment detector");
            });
        });
        if self.mode == TrainMode::Detector {
            let project = self.project.clone();
            egui::CentralPanel::default().show(ui, |ui| {
                egui::ScrollArea::vertical()
                    .show(ui, |ui| self.detector.ui(ui, project.as_ref(), commands));
            });
            return;
        }
        egui::Panel::left("train-form")
            .default_size(300.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| self.form_ui(ui, commands));
            });
        egui::CentralPanel::default().show(ui, |ui| self.charts_ui(ui));
    }

    fn form_ui(&mut self, ui: &mut egui::Ui, commands: &mut Commands) {
        let ctx = ui.ctx().clone();
        let running = self.job.is_some();
        ui.heading("DCGAN run");
        if self.project.is_some() {
            let total: u64 = self.crops.iter().map(|(_, n)| n).sum();
            let text = if total == 0 {
                "This project has no crops yet: training on it uses its photos whole. \
                 Draw boxes in Review and write crops there."
                    .to_string()
            } else {
                let by_category: Vec<String> =
                    self.crops.iter().map(|(c, n)| format!("{c} {n}")).collect();
                format!(
                    "This project has {total} crops ({}): training on it uses them.",
                    by_category.join(", ")
                )
            };
            ui.label(text);
        }
        ui.add_enabled_ui(!running, |ui| {
            egui::Grid::new("train-form-grid")
                .num_columns(2)
                .show(ui, |ui| {
                    let form = &mut self.form;
                    let label = ui.label("Data");
                    ui.add(
                        egui::TextEdit::singleline(&mut form.data)
                            .hint_text("this project, a folder, or fashion-mnist:DIR"),
                    )
                    .labelled_by(label.id);
                    ui.end_row();
                    let label = ui.label("Run name");
                    ui.text_edit_singleline(&mut form.run_name)
                        .labelled_by(label.id);
                    ui.end_row();
                    ui.label("Categories");
                    ui.checkbox(&mut form.conditional, "one model for every category")
                        .on_hover_text(
                            "Asked for by category in Explore: the crops' categories, \
                             Fashion-MNIST's labels, or a folder's subfolders",
                        );
                    ui.end_row();
                    let c = &mut form.config;
                    ui.label("Image size");
                    egui::ComboBox::from_id_salt("image-size")
                        .selected_text(format!("{0}x{0}", c.image_size))
                        .show_ui(ui, |ui| {
                            for size in IMAGE_SIZES {
                                ui.selectable_value(
                                    &mut c.image_size,
                                    size,
                                    format!("{size}x{size}"),
                                );
                            }
                        });
                    ui.end_row();
                    ui.label("Channels");
                    egui::ComboBox::from_id_salt("channels")
                        .selected_text(if c.channels == 1 { "grey" } else { "RGB" })
                        .show_ui(ui, |ui| {
                            ui.selectable_value(&mut c.channels, 1, "grey");
                            ui.selectable_value(&mut c.channels, 3, "RGB");
                        });
                    ui.end_row();
                    ui.label("Resize");
                    egui::ComboBox::from_id_salt("resize")
                        .selected_text(c.resize.name())
                        .show_ui(ui, |ui| {
                            for resize in Resize::ALL {
                                ui.selectable_value(&mut c.resize, resize, resize.name());
                            }
                        });
                    ui.end_row();
                    ui.label("Augment");
                    ui.checkbox(&mut c.flip, "random horizontal flips");
                    ui.end_row();
                    drag_row(ui, "Batch", &mut c.batch_size, 1.0, 1..=1024);
                    drag_row(ui, "Width (ngf = ndf)", &mut c.ngf, 1.0, 4..=256);
                    c.ndf = c.ngf;
                    let label = ui.label("Learning rate");
                    ui.add(
                        egui::DragValue::new(&mut c.lr)
                            .speed(1e-5)
                            .range(1e-6..=1e-1)
                            .max_decimals(6),
                    )
                    .labelled_by(label.id);
                    ui.end_row();
                    let label = ui.label("Beta1");
                    ui.add(
                        egui::DragValue::new(&mut c.beta1)
                            .speed(0.01)
                            .range(0.0..=0.999),
                    )
                    .labelled_by(label.id);
                    ui.end_row();
                    let label = ui.label("Beta2");
                    ui.add(
                        egui::DragValue::new(&mut c.beta2)
                            .speed(0.001)
                            .range(0.0..=0.9999),
                    )
                    .labelled_by(label.id);
                    ui.end_row();
                    drag_row(ui, "Iterations", &mut c.iterations, 10.0, 1..=10_000_000);
                    drag_row(ui, "Seed", &mut c.seed, 1.0, 0..=u64::MAX);
                    drag_row(
                        ui,
                        "Checkpoint every",
                        &mut c.checkpoint_every,
                        10.0,
                        1..=1_000_000,
                    );
                    drag_row(
                        ui,
                        "Samples every",
                        &mut c.sample_every,
                        10.0,
                        1..=1_000_000,
                    );
                    let mut threads = c.threads.unwrap_or_else(|| c.compute_threads());
                    drag_row(ui, "Threads", &mut threads, 1.0, 1..=256);
                    c.threads = Some(threads);
                    ui.label("Device");
                    egui::ComboBox::from_id_salt("device")
                        .selected_text(form.device.name())
                        .show_ui(ui, |ui| {
                            for d in DeviceChoice::ALL {
                                ui.add_enabled_ui(d.is_compiled(), |ui| {
                                    ui.selectable_value(&mut form.device, d, d.name());
                                });
                            }
                        });
                    ui.end_row();
                });
        });
        ui.horizontal_wrapped(|ui| {
            if ui
                .add_enabled(!running, egui::Button::new("Start"))
                .clicked()
            {
                self.start(&ctx, false);
            }
            if ui
                .add_enabled(!running, egui::Button::new("Resume from checkpoint"))
                .clicked()
            {
                self.start(&ctx, true);
            }
            let paused = self.pause.is_paused();
            if ui
                .add_enabled(
                    running,
                    egui::Button::new(if paused { "Continue" } else { "Pause" }),
                )
                .clicked()
            {
                self.pause.set(!paused);
            }
            if ui.add_enabled(running, egui::Button::new("Stop")).clicked() {
                self.stop();
            }
            if ui
                .add_enabled(!running, egui::Button::new("Open run…"))
                .clicked()
            {
                commands.push(Command::Ask(Dialog::OpenRun));
            }
        });
        ui.add_enabled_ui(!running, |ui| self.training_changes_ui(ui));
        self.estimate_ui(ui);
        if let Some(status) = &self.status {
            status_ui(ui, status);
        }
        for warning in &self.warnings {
            ui.colored_label(ui.visuals().warn_fg_color, warning);
        }
    }

    /// Before a run: what it would take on the chosen device and whether the data suffice.
    fn estimate_ui(&self, ui: &mut egui::Ui) {
        if self.job.is_some() {
            return;
        }
        let c = &self.form.config;
        match self.estimate() {
            Some(Ok(e)) => {
                let per = e.secs_per_iteration;
                ui.label(format!(
                    "Estimated on {}: {:.2} s per iteration, {} for {} iterations, \
                     first samples after {}",
                    match self.form.device {
                        DeviceChoice::Cpu => "the CPU",
                        DeviceChoice::Cuda => "the CUDA GPU",
                        DeviceChoice::Metal => "the Metal GPU",
                    },
                    per,
                    format_duration(per * c.iterations as f64),
                    c.iterations,
                    format_duration(per * c.sample_every.min(c.iterations) as f64),
                ));
                if per * c.iterations as f64 > 4.0 * 3600.0 {
                    ui.colored_label(
                        ui.visuals().warn_fg_color,
                        "A long run for this device: a smaller image size, width or batch \
                         shows garments sooner.",
                    );
                }
            }
            Some(Err(e)) => {
                ui.colored_label(ui.visuals().error_fg_color, format!("Not estimated: {e}"));
            }
            None if self.estimate.is_working() => {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.weak("Timing a few iterations to estimate the run…");
                });
            }
            None => {}
        }
        if let Some(warning) = self.project_images().and_then(|n| data_warning(c, n)) {
            ui.colored_label(ui.visuals().warn_fg_color, warning);
        }
    }

    fn charts_ui(&mut self, ui: &mut egui::Ui) {
        if self.metrics.is_empty() {
            ui.vertical_centered(|ui| {
                ui.add_space(40.0);
                ui.heading("No training yet");
                ui.label(
                    "Choose the data on the left (the project's crops by default) and press \
                     Start; the losses and sample grids appear here as it trains.",
                );
            });
            return;
        }
        ui.horizontal(|ui| {
            ui.add(egui::Slider::new(&mut self.smoothing, 0.0..=0.99).text("Smoothing"));
            ui.checkbox(&mut self.log_scale, "Log scale");
            if let Some(last) = self.metrics.last() {
                let recent = &self.metrics[self.metrics.len().saturating_sub(20)..];
                let secs = recent.iter().map(|m| m.secs as f64).sum::<f64>() / recent.len() as f64;
                let left = self.total.saturating_sub(last.iter) as f64 * secs;
                ui.label(format!(
                    "iteration {} of {} · {:.2} it/s · {} left",
                    last.iter,
                    self.total,
                    if secs > 0.0 { 1.0 / secs } else { 0.0 },
                    format_duration(left)
                ));
            }
        });
        let height = (ui.available_height() * 0.3).max(120.0);
        let series =
            |get: fn(&StepMetrics) -> f32, log: bool, smoothing: f64, metrics: &[StepMetrics]| {
                let values: Vec<f64> = metrics
                    .iter()
                    .map(|m| {
                        let v = get(m) as f64;
                        if log { v.max(1e-6).log10() } else { v }
                    })
                    .collect();
                let smoothed = smooth(&values, smoothing);
                metrics
                    .iter()
                    .zip(smoothed)
                    .map(|(m, v)| [m.iter as f64, v])
                    .collect::<Vec<[f64; 2]>>()
            };
        let (log, s, metrics) = (self.log_scale, self.smoothing, &self.metrics);
        Plot::new("losses")
            .height(height)
            .legend(Legend::default())
            .x_axis_label("iteration")
            .y_axis_label(if log { "log10 loss" } else { "loss" })
            .show(ui, |plot| {
                plot.line(Line::new(
                    "D loss",
                    PlotPoints::from(series(|m| m.d_loss, log, s, metrics)),
                ));
                plot.line(Line::new(
                    "G loss",
                    PlotPoints::from(series(|m| m.g_loss, log, s, metrics)),
                ));
            });
        Plot::new("outputs")
            .height(height * 0.7)
            .legend(Legend::default())
            .x_axis_label("iteration")
            .show(ui, |plot| {
                plot.line(Line::new(
                    "D(x)",
                    PlotPoints::from(series(|m| m.d_x, false, s, metrics)),
                ));
                plot.line(Line::new(
                    "D(G(z))",
                    PlotPoints::from(series(|m| m.d_g_z, false, s, metrics)),
                ));
            });
        if !self.samples.is_empty() {
            let newest = self.samples.len() - 1;
            let mut index = self.scrub.unwrap_or(newest);
            ui.horizontal(|ui| {
                let label = ui.label("Samples at");
                let iters: Vec<u64> = self.samples.iter().map(|(i, _)| *i).collect();
                ui.add(
                    egui::Slider::new(&mut index, 0..=newest).custom_formatter(move |v, _| {
                        format!("iteration {}", iters.get(v as usize).copied().unwrap_or(0))
                    }),
                )
                .labelled_by(label.id);
                if ui.button("Latest").clicked() {
                    index = newest;
                }
            });
            self.scrub = (index != newest).then_some(index);
        }
        if let Some((iter, _)) = self.shown_sample() {
            match self.textures.get(&iter) {
                Some(texture) => {
                    let side = ui.available_height().min(ui.available_width()).max(64.0);
                    ui.add(
                        egui::Image::new((texture.id(), texture.size_vec2()))
                            .alt_text(format!("samples at iteration {iter}"))
                            .fit_to_exact_size(egui::vec2(side, side))
                            .maintain_aspect_ratio(true),
                    );
                }
                None => {
                    ui.spinner();
                }
            }
        }
    }
}

impl StudioTab for TrainTab {
    fn logic(&mut self, ctx: &egui::Context, project: Option<&Project>, _commands: &mut Commands) {
        if self.project.as_ref().map(Project::root) != project.map(Project::root) {
            self.project = project.cloned();
            self.refresh_crops(ctx);
        }
        self.poll_crops();
        self.poll(ctx);
        self.detector.logic(self.project.as_ref());
        // Nothing is timed while a run trains (it would slow the run and time a busy machine)
        // or while another tab shows.
        let shown = std::mem::take(&mut self.on_screen) && self.mode == TrainMode::Gan;
        let key = (self.job.is_none() && shown).then(|| CostKey::of(&self.form));
        let (config, device) = (self.form.config.clone(), self.form.device);
        self.estimate.logic(ctx, key, |_| {
            let ctx = ctx.clone();
            jobs::spawn(
                "Estimate the run",
                move || ctx.request_repaint(),
                move |job| {
                    estimate_run(&config, device, job).map_err(|e| match e {
                        crate::gan::train::TrainError::Cancelled => JobError::Cancelled,
                        other => JobError::failed(&other),
                    })
                },
            )
        });
    }

    fn ui(&mut self, ui: &mut egui::Ui, commands: &mut Commands) {
        self.on_screen = true;
        self.train_ui(ui, commands);
    }

    fn jobs(&self) -> Vec<&dyn JobView> {
        let mut jobs: Vec<&dyn JobView> = Vec::new();
        if let Some(job) = &self.job {
            jobs.push(job);
        }
        if let Some(job) = &self.history_job {
            jobs.push(job);
        }
        if let Some(job) = self.estimate.job() {
            jobs.push(job);
        }
        if let Some(job) = self.detector.job() {
            jobs.push(job);
        }
        jobs
    }

    fn save(&self, storage: &mut dyn eframe::Storage) {
        save_form(storage, Self::FORM_KEY, &self.form);
        save_form(storage, Self::DETECTOR_FORM_KEY, &self.detector.form);
    }

    fn restore(&mut self, storage: &dyn eframe::Storage) {
        if let Some(form) = restore_form(storage, Self::FORM_KEY) {
            self.form = form;
        }
        if let Some(form) = restore_form(storage, Self::DETECTOR_FORM_KEY) {
            self.detector.form = form;
        }
    }
}

impl TrainTab {
    /// The training changes measured in docs/quality.md, off by default, in a collapsed section.
    fn training_changes_ui(&mut self, ui: &mut egui::Ui) {
        let conditional = self.form.conditional;
        let c = &mut self.form.config;
        egui::CollapsingHeader::new("Training changes")
            .id_salt("train-changes")
            .show(ui, |ui| {
                ui.horizontal(|ui| {
                    let label = ui.label("Loss");
                    egui::ComboBox::from_id_salt("loss")
                        .selected_text(loss_name(c.loss))
                        .show_ui(ui, |ui| {
                            for loss in [Loss::Bce, Loss::Hinge] {
                                ui.selectable_value(&mut c.loss, loss, loss_name(loss));
                            }
                        })
                        .response
                        .labelled_by(label.id);
                });
                let mut ema = c.ema.is_some();
                ui.checkbox(&mut ema, "average the generator (EMA 0.999)")
                    .on_hover_text("Samples and saves a moving average of G's weights");
                c.ema = ema.then(|| c.ema.unwrap_or(0.999));
                ui.checkbox(&mut c.spectral_norm, "spectral norm in D")
                    .on_hover_text("In place of the discriminator's BatchNorm");
                let mut separate = c.lr_d.is_some();
                ui.horizontal(|ui| {
                    ui.checkbox(&mut separate, "D learning rate");
                    let mut lr_d = c.lr_d.unwrap_or(c.lr);
                    ui.add_enabled(
                        separate,
                        egui::DragValue::new(&mut lr_d)
                            .speed(1e-5)
                            .range(1e-6..=1e-1)
                            .max_decimals(6),
                    );
                    c.lr_d = separate.then_some(lr_d);
                });
                let mut aux = c.aux_classifier.is_some();
                ui.add_enabled_ui(conditional, |ui| {
                    ui.checkbox(&mut aux, "class loss in D and G (AC-GAN)")
                        .on_hover_text(
                            "An auxiliary classifier teaches G to draw each category \
                             recognisably; needs one model for every category",
                        );
                });
                c.aux_classifier = (aux && conditional).then(|| c.aux_classifier.unwrap_or(1.0));
                let with_aux = c.aux_classifier.is_some();
                let mut twin = c.twin_classifier.is_some();
                ui.add_enabled_ui(with_aux, |ui| {
                    ui.checkbox(&mut twin, "twin classifier (TAC-GAN)")
                        .on_hover_text(
                            "Keeps each category as varied as the training images: a second \
                             class head learns the generated images' categories and G is \
                             pushed away from it",
                        );
                });
                c.twin_classifier = (twin && with_aux).then(|| c.twin_classifier.unwrap_or(1.0));
                ui.checkbox(&mut c.minibatch_stddev, "variety check in D")
                    .on_hover_text(
                        "D sees how much the batch's images of each category differ \
                         (minibatch standard deviation), so G keeps every category varied",
                    );
                let mut packed = c.pack > 1;
                ui.checkbox(&mut packed, "judge pairs in D (PacGAN)")
                    .on_hover_text(
                        "D judges two images of one category at once, so that G cannot draw \
                         a category with less variety than the training images have",
                    );
                c.pack = if packed { c.pack.max(2) } else { 1 };
                let mut seeking = c.mode_seeking.is_some();
                ui.add_enabled_ui(!packed, |ui| {
                    ui.checkbox(&mut seeking, "mode seeking in G")
                        .on_hover_text(
                            "Pushes fakes of different noise apart, for more varied samples; \
                             not with pairs in D",
                        );
                });
                c.mode_seeking = (seeking && !packed).then(|| c.mode_seeking.unwrap_or(1.0));
            });
    }
}

fn drag_row<N: egui::emath::Numeric>(
    ui: &mut egui::Ui,
    name: &str,
    value: &mut N,
    speed: f64,
    range: std::ops::RangeInclusive<N>,
) {
    let label = ui.label(name);
    ui.add(egui::DragValue::new(value).speed(speed).range(range))
        .labelled_by(label.id);
    ui.end_row();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smoothing_is_debiased_and_zero_weight_is_identity() {
        let values = [4.0, 4.0, 4.0];
        let smoothed = smooth(&values, 0.9);
        assert!(
            smoothed.iter().all(|v| (v - 4.0).abs() < 1e-9),
            "{smoothed:?}"
        );
        assert_eq!(smooth(&[1.0, 5.0, 2.0], 0.0), vec![1.0, 5.0, 2.0]);
        let step = smooth(&[0.0, 0.0, 10.0], 0.5);
        assert!(step[2] > 0.0 && step[2] < 10.0);
    }
}
