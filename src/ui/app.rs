//! The studio window: menu, tabs, status bar with running jobs, and the glue that turns user
//! actions into jobs and job results into state.

use std::path::{Path, PathBuf};

use crate::jobs::{self, JobError, JobHandle, Progress};
use crate::project::ingest::{self, ImportOptions, ImportReport};
use crate::project::{ImageRow, Project, demo};

use super::collect::{CollectAction, CollectTab};
use super::dialogs::{DialogPurpose, PendingDialog};
use super::explore::{ExploreAction, ExploreTab};
use super::export::{ExportAction, ExportForm, ExportTab};
use super::jobs_bar::{JobRow, jobs_bar_ui};
use super::library::LibraryView;
use super::train::{TrainAction, TrainForm, TrainTab};
use super::upcoming::upcoming_ui;
use crate::gan::sampler::GeneratorSource;

const MAX_RECENT: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum Tab {
    #[default]
    Library,
    Collect,
    Review,
    Train,
    Explore,
    Export,
}

impl Tab {
    pub const ALL: [Tab; 6] = [
        Tab::Library,
        Tab::Collect,
        Tab::Review,
        Tab::Train,
        Tab::Explore,
        Tab::Export,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Tab::Library => "Library",
            Tab::Collect => "Collect",
            Tab::Review => "Review",
            Tab::Train => "Train",
            Tab::Explore => "Explore",
            Tab::Export => "Export",
        }
    }
}

/// What survives a restart (kept in eframe's storage).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Settings {
    pub recent_projects: Vec<PathBuf>,
    pub last_project: Option<PathBuf>,
    pub tab: Tab,
    pub near_duplicate_distance: u32,
    pub train_form: TrainForm,
    pub export_form: ExportForm,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            recent_projects: Vec::new(),
            last_project: None,
            tab: Tab::Library,
            near_duplicate_distance: ingest::DEFAULT_NEAR_DUPLICATE_DISTANCE,
            train_form: TrainForm::default(),
            export_form: ExportForm::default(),
        }
    }
}

impl Settings {
    pub const STORAGE_KEY: &'static str = "deepstyle-settings";

    fn remember(&mut self, root: &Path) {
        self.recent_projects.retain(|p| p != root);
        self.recent_projects.insert(0, root.to_path_buf());
        self.recent_projects.truncate(MAX_RECENT);
        self.last_project = Some(root.to_path_buf());
    }
}

/// What the window opens first.
#[derive(Debug, Clone, PartialEq)]
pub enum Startup {
    /// The last project, else the demo project in `demo_dir` (created on first use).
    LastOrDemo { demo_dir: PathBuf },
    /// This project (created if the folder is missing or empty).
    Project(PathBuf),
}

struct OpenedProject {
    project: Project,
    demo_report: Option<ImportReport>,
}

enum JobKind {
    OpenProject(JobHandle<(), OpenedProject>),
    Import(JobHandle<(), ImportReport>),
    ListImages(JobHandle<(), Vec<ImageRow>>),
}

struct ActiveJob {
    id: u64,
    kind: JobKind,
}

impl ActiveJob {
    fn title(&self) -> &str {
        match &self.kind {
            JobKind::OpenProject(j) => j.title(),
            JobKind::Import(j) => j.title(),
            JobKind::ListImages(j) => j.title(),
        }
    }
    fn progress(&self) -> Option<&Progress> {
        match &self.kind {
            JobKind::OpenProject(j) => j.progress(),
            JobKind::Import(j) => j.progress(),
            JobKind::ListImages(j) => j.progress(),
        }
    }
    fn cancel(&self) {
        match &self.kind {
            JobKind::OpenProject(j) => j.cancel(),
            JobKind::Import(j) => j.cancel(),
            JobKind::ListImages(j) => j.cancel(),
        }
    }
    fn is_cancel_requested(&self) -> bool {
        match &self.kind {
            JobKind::OpenProject(j) => j.is_cancel_requested(),
            JobKind::Import(j) => j.is_cancel_requested(),
            JobKind::ListImages(j) => j.is_cancel_requested(),
        }
    }
}

/// A message in the status bar.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    pub text: String,
    pub is_error: bool,
}

pub struct StudioApp {
    settings: Settings,
    startup: Option<Startup>,
    project: Option<Project>,
    library: LibraryView,
    collect: CollectTab,
    train: TrainTab,
    picked_run: Option<PathBuf>,
    explore: ExploreTab,
    export: ExportTab,
    jobs: Vec<ActiveJob>,
    next_job_id: u64,
    dialog: Option<PendingDialog>,
    status: Option<Status>,
}

impl StudioApp {
    pub fn new(settings: Settings, startup: Startup) -> Self {
        let mut train = TrainTab::default();
        train.form = settings.train_form.clone();
        let mut export = ExportTab::default();
        export.form = settings.export_form.clone();
        StudioApp {
            train,
            explore: ExploreTab::default(),
            export,
            picked_run: None,
            settings,
            startup: Some(startup),
            project: None,
            library: LibraryView::default(),
            collect: CollectTab::default(),
            jobs: Vec::new(),
            next_job_id: 1,
            dialog: None,
            status: None,
        }
    }

    /// Builds the app from eframe's creation context, restoring saved settings.
    pub fn from_creation_context(cc: &eframe::CreationContext<'_>, startup: Startup) -> Self {
        let settings = cc
            .storage
            .and_then(|s| eframe::get_value::<Settings>(s, Settings::STORAGE_KEY))
            .unwrap_or_default();
        Self::new(settings, startup)
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }
    pub fn project(&self) -> Option<&Project> {
        self.project.as_ref()
    }
    pub fn library(&self) -> &LibraryView {
        &self.library
    }
    pub fn status(&self) -> Option<&Status> {
        self.status.as_ref()
    }
    pub fn running_jobs(&self) -> Vec<String> {
        self.jobs.iter().map(|j| j.title().to_string()).collect()
    }
    pub fn train_tab(&self) -> &TrainTab {
        &self.train
    }
    pub fn train_tab_mut(&mut self) -> &mut TrainTab {
        &mut self.train
    }
    pub fn explore_tab(&self) -> &ExploreTab {
        &self.explore
    }
    pub fn explore_tab_mut(&mut self) -> &mut ExploreTab {
        &mut self.explore
    }
    pub fn export_tab(&self) -> &ExportTab {
        &self.export
    }
    pub fn export_tab_mut(&mut self) -> &mut ExportTab {
        &mut self.export
    }
    pub fn tab(&self) -> Tab {
        self.settings.tab
    }

    fn set_status(&mut self, text: impl Into<String>, is_error: bool) {
        self.status = Some(Status {
            text: text.into(),
            is_error,
        });
    }

    fn push_job(&mut self, kind: JobKind) {
        let id = self.next_job_id;
        self.next_job_id += 1;
        self.jobs.push(ActiveJob { id, kind });
    }

    /// Opens (or creates) a project in a worker.
    pub fn open_project(&mut self, ctx: &egui::Context, root: PathBuf, create: bool) {
        let ctx = ctx.clone();
        let title = format!("Open {}", root.display());
        let job = jobs::spawn(
            title,
            move || ctx.request_repaint(),
            move |_job| {
                let project = if create {
                    Project::create(&root)
                } else {
                    Project::open(&root)
                };
                project
                    .map(|project| OpenedProject {
                        project,
                        demo_report: None,
                    })
                    .map_err(|e| JobError::failed(&e))
            },
        );
        self.push_job(JobKind::OpenProject(job));
    }

    /// Creates (or reopens) the demo project in a worker.
    pub fn open_demo(&mut self, ctx: &egui::Context, root: PathBuf) {
        let ctx = ctx.clone();
        let job = jobs::spawn(
            "Create the demo project",
            move || ctx.request_repaint(),
            move |job| {
                demo::create_demo(&root, job)
                    .map(|(project, report)| OpenedProject {
                        project,
                        demo_report: Some(report),
                    })
                    .map_err(|e| JobError::failed(&e))
            },
        );
        self.push_job(JobKind::OpenProject(job));
    }

    /// Imports files and folders into the open project in a worker.
    pub fn import(&mut self, ctx: &egui::Context, paths: Vec<PathBuf>) {
        let Some(project) = self.project.clone() else {
            self.set_status("Open or create a project before importing.", true);
            return;
        };
        if paths.is_empty() {
            return;
        }
        let options = ImportOptions {
            near_duplicate_distance: self.settings.near_duplicate_distance,
        };
        let title = match paths.as_slice() {
            [one] => format!("Import {}", one.display()),
            many => format!("Import {} items", many.len()),
        };
        let ctx = ctx.clone();
        let job = jobs::spawn(
            title,
            move || ctx.request_repaint(),
            move |job| {
                ingest::import_paths(&project, &paths, &options, job).map_err(|e| match e {
                    ingest::ImportError::Cancelled => JobError::Cancelled,
                    other => JobError::failed(&other),
                })
            },
        );
        self.push_job(JobKind::Import(job));
    }

    fn refresh_library(&mut self, ctx: &egui::Context) {
        let Some(project) = self.project.clone() else {
            return;
        };
        let ctx = ctx.clone();
        let job = jobs::spawn(
            "Read the catalog",
            move || ctx.request_repaint(),
            move |_job| {
                project
                    .catalog()
                    .and_then(|c| c.list_images())
                    .map_err(|e| JobError::failed(&e))
            },
        );
        self.push_job(JobKind::ListImages(job));
    }

    /// Drains every job's events and acts on the ones that finished.
    fn poll_jobs(&mut self, ctx: &egui::Context) {
        let mut finished = Vec::new();
        self.jobs.retain_mut(|job| {
            let done = match &mut job.kind {
                JobKind::OpenProject(j) => {
                    j.poll();
                    j.take_outcome().map(Finished::Opened)
                }
                JobKind::Import(j) => {
                    j.poll();
                    j.take_outcome().map(Finished::Imported)
                }
                JobKind::ListImages(j) => {
                    j.poll();
                    j.take_outcome().map(Finished::Listed)
                }
            };
            match done {
                Some(outcome) => {
                    finished.push((job.title().to_string(), outcome));
                    false
                }
                None => true,
            }
        });
        for (title, outcome) in finished {
            self.on_finished(ctx, &title, outcome);
        }
    }

    fn on_finished(&mut self, ctx: &egui::Context, title: &str, outcome: Finished) {
        match outcome {
            Finished::Opened(Ok(opened)) => {
                let root = opened.project.root().to_path_buf();
                self.settings.remember(&root);
                self.library.set_project(&opened.project, ctx);
                self.project = Some(opened.project);
                match opened.demo_report {
                    Some(report) => {
                        self.set_status(format!("Demo project ready: {}", report.summary()), false);
                        self.collect.last_report = Some(report);
                    }
                    None => self.set_status(format!("Opened {}", root.display()), false),
                }
                self.refresh_library(ctx);
            }
            Finished::Imported(Ok(report)) => {
                let is_error = !report.failed.is_empty();
                self.set_status(format!("Import finished: {}", report.summary()), is_error);
                self.collect.last_report = Some(report);
                self.refresh_library(ctx);
            }
            Finished::Listed(Ok(images)) => self.library.set_images(images),
            Finished::Opened(Err(e)) | Finished::Imported(Err(e)) | Finished::Listed(Err(e)) => {
                let is_error = e != JobError::Cancelled;
                self.set_status(format!("{title}: {e}"), is_error);
            }
        }
    }

    fn start(&mut self, ctx: &egui::Context) {
        let Some(startup) = self.startup.take() else {
            return;
        };
        match startup {
            Startup::Project(root) => self.open_project(ctx, root, true),
            Startup::LastOrDemo { demo_dir } => match self.settings.last_project.clone() {
                Some(last) if last.join(crate::project::CATALOG_FILE).is_file() => {
                    self.open_project(ctx, last, false)
                }
                _ => self.open_demo(ctx, demo_dir),
            },
        }
    }

    fn handle_dialog(&mut self, ctx: &egui::Context) {
        let Some(picked) = self.dialog.as_ref().and_then(PendingDialog::poll) else {
            return;
        };
        let purpose = self.dialog.take().map(|d| d.purpose);
        let Some(first) = picked.first().cloned() else {
            return;
        };
        match purpose {
            Some(DialogPurpose::NewProject) => self.open_project(ctx, first, true),
            Some(DialogPurpose::OpenProject) => self.open_project(ctx, first, false),
            Some(DialogPurpose::ImportFiles | DialogPurpose::ImportFolder) => {
                self.import(ctx, picked)
            }
            Some(DialogPurpose::OpenRun) => self.picked_run = Some(first),
            Some(DialogPurpose::ExploreRun) => self.explore.load(GeneratorSource::Run(first)),
            Some(DialogPurpose::GeneratorFile) => self.explore.load(GeneratorSource::File(first)),
            Some(DialogPurpose::SavePng) => self.export_to(ctx, ExportAction::SavePng, first),
            Some(DialogPurpose::SaveGif) => self.export_to(ctx, ExportAction::SaveGif, first),
            Some(DialogPurpose::SaveLatents) => {
                self.export_to(ctx, ExportAction::SaveLatents, first)
            }
            Some(DialogPurpose::LoadLatents) => {
                self.export_to(ctx, ExportAction::LoadLatents, first)
            }
            None => {}
        }
    }

    /// Starts an export (or a latent import) with `path`, as the file dialog does once the user
    /// has chosen it.
    pub fn export_to(&mut self, ctx: &egui::Context, action: ExportAction, path: PathBuf) {
        match action {
            ExportAction::SavePng => self.export.start_png(ctx, path, &self.explore),
            ExportAction::SaveGif => self.export.start_gif(ctx, path, &self.explore),
            ExportAction::SaveLatents => self.export.start_latents(ctx, path, &self.explore),
            ExportAction::LoadLatents => self.export.start_import(ctx, path),
        }
    }

    fn ask(&mut self, ctx: &egui::Context, purpose: DialogPurpose) {
        if self.dialog.is_some() {
            return;
        }
        // Exports start in the project's exports folder.
        let directory = match purpose {
            DialogPurpose::SavePng
            | DialogPurpose::SaveGif
            | DialogPurpose::SaveLatents
            | DialogPurpose::LoadLatents => self.project.as_ref().map(Project::exports_dir),
            _ => None,
        };
        let ctx = ctx.clone();
        self.dialog = Some(PendingDialog::open(purpose, directory, move || {
            ctx.request_repaint()
        }));
    }

    /// The whole window; eframe's `App::ui` calls this, and so do the UI tests.
    pub fn studio_ui(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        self.start(&ctx);
        self.poll_jobs(&ctx);
        self.train.poll(&ctx);
        self.export.poll(&mut self.explore);
        self.handle_dialog(&ctx);
        self.handle_dropped_files(ui);

        egui::Panel::top("menu").show(ui, |ui| {
            egui::MenuBar::new().ui(ui, |ui| self.menu_ui(ui));
        });
        egui::Panel::top("tabs").show(ui, |ui| {
            ui.horizontal(|ui| {
                for tab in Tab::ALL {
                    ui.selectable_value(&mut self.settings.tab, tab, tab.name());
                }
            });
        });
        egui::Panel::bottom("status").show(ui, |ui| self.status_bar_ui(ui));
        egui::CentralPanel::default().show(ui, |ui| self.tab_ui(ui));
        drop_hint_ui(ui);
    }

    fn handle_dropped_files(&mut self, ui: &mut egui::Ui) {
        let dropped: Vec<PathBuf> = ui.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_path_buf())
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        });
        if !dropped.is_empty() {
            let ctx = ui.ctx().clone();
            self.import(&ctx, dropped);
        }
    }

    fn menu_ui(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        ui.menu_button("File", |ui| {
            if ui.button("New project…").clicked() {
                self.ask(&ctx, DialogPurpose::NewProject);
            }
            if ui.button("Open project…").clicked() {
                self.ask(&ctx, DialogPurpose::OpenProject);
            }
            ui.menu_button("Open recent", |ui| {
                if self.settings.recent_projects.is_empty() {
                    ui.label("No recent projects");
                }
                for root in self.settings.recent_projects.clone() {
                    if ui.button(root.display().to_string()).clicked() {
                        self.open_project(&ctx, root, false);
                    }
                }
            });
            ui.separator();
            let has_project = self.project.is_some();
            if ui
                .add_enabled(has_project, egui::Button::new("Import images…"))
                .clicked()
            {
                self.ask(&ctx, DialogPurpose::ImportFiles);
            }
            if ui
                .add_enabled(has_project, egui::Button::new("Import folder…"))
                .clicked()
            {
                self.ask(&ctx, DialogPurpose::ImportFolder);
            }
            ui.separator();
            if ui.button("Quit").clicked() {
                ctx.send_viewport_cmd(egui::ViewportCommand::Close);
            }
        });
        if let Some(project) = &self.project {
            ui.separator();
            ui.label(format!("Project: {}", project.name()))
                .on_hover_text(project.root().display().to_string());
        }
    }

    fn status_bar_ui(&mut self, ui: &mut egui::Ui) {
        const TRAIN_JOB_ID: u64 = u64::MAX;
        const EXPORT_JOB_ID: u64 = u64::MAX - 1;
        let mut rows: Vec<JobRow<'_>> = self
            .jobs
            .iter()
            .map(|job| JobRow {
                id: job.id,
                title: job.title(),
                progress: job.progress(),
                cancel_requested: job.is_cancel_requested(),
            })
            .collect();
        if let Some((title, progress, cancel_requested)) = self.train.job_row() {
            rows.push(JobRow {
                id: TRAIN_JOB_ID,
                title,
                progress,
                cancel_requested,
            });
        }
        if let Some((title, progress, cancel_requested)) = self.export.job_row() {
            rows.push(JobRow {
                id: EXPORT_JOB_ID,
                title,
                progress,
                cancel_requested,
            });
        }
        let cancelled = jobs_bar_ui(ui, &rows);
        if cancelled.contains(&EXPORT_JOB_ID) {
            self.export.cancel();
        }
        for job in self.jobs.iter().filter(|j| cancelled.contains(&j.id)) {
            job.cancel();
        }
        if cancelled.contains(&TRAIN_JOB_ID) {
            self.train.stop();
        }
        ui.horizontal(|ui| match &self.status {
            Some(Status {
                text,
                is_error: true,
            }) => {
                ui.colored_label(ui.visuals().error_fg_color, text);
            }
            Some(Status { text, .. }) => {
                ui.label(text);
            }
            None => {
                ui.label("Ready");
            }
        });
    }

    fn tab_ui(&mut self, ui: &mut egui::Ui) {
        match self.settings.tab {
            Tab::Library => match &self.project {
                Some(_) => self.library.library_ui(ui),
                None => {
                    ui.label("Opening a project…");
                }
            },
            Tab::Collect => {
                let action = self.collect.collect_ui(ui, self.project.is_some());
                let ctx = ui.ctx().clone();
                match action {
                    Some(CollectAction::ImportFiles) => self.ask(&ctx, DialogPurpose::ImportFiles),
                    Some(CollectAction::ImportFolder) => {
                        self.ask(&ctx, DialogPurpose::ImportFolder)
                    }
                    None => {}
                }
            }
            Tab::Review => upcoming_ui(
                ui,
                "Review",
                "Editable garment boxes and crops arrive with the detectors.",
            ),
            Tab::Train => {
                let picked = self.picked_run.take();
                if self.train.train_ui(ui, self.project.as_ref(), picked) == TrainAction::PickRun {
                    let ctx = ui.ctx().clone();
                    self.ask(&ctx, DialogPurpose::OpenRun);
                }
            }
            Tab::Explore => {
                let action = self.explore.explore_ui(ui, self.project.as_ref());
                let ctx = ui.ctx().clone();
                match action {
                    Some(ExploreAction::PickRun) => self.ask(&ctx, DialogPurpose::ExploreRun),
                    Some(ExploreAction::PickGeneratorFile) => {
                        self.ask(&ctx, DialogPurpose::GeneratorFile)
                    }
                    None => {}
                }
            }
            Tab::Export => {
                let action = self.export.export_ui(ui, &self.explore);
                let ctx = ui.ctx().clone();
                let purpose = action.map(|a| match a {
                    ExportAction::SavePng => DialogPurpose::SavePng,
                    ExportAction::SaveGif => DialogPurpose::SaveGif,
                    ExportAction::SaveLatents => DialogPurpose::SaveLatents,
                    ExportAction::LoadLatents => DialogPurpose::LoadLatents,
                });
                if let Some(purpose) = purpose {
                    self.ask(&ctx, purpose);
                }
            }
        }
    }
}

enum Finished {
    Opened(Result<OpenedProject, JobError>),
    Imported(Result<ImportReport, JobError>),
    Listed(Result<Vec<ImageRow>, JobError>),
}

fn drop_hint_ui(ui: &mut egui::Ui) {
    let hovering = ui.input(|i| !i.raw.hovered_files.is_empty());
    if !hovering {
        return;
    }
    let screen = ui.ctx().content_rect();
    let painter = ui.ctx().layer_painter(egui::LayerId::new(
        egui::Order::Foreground,
        egui::Id::unique("drop-hint"),
    ));
    painter.rect_filled(screen, 0.0, egui::Color32::from_black_alpha(160));
    painter.text(
        screen.center(),
        egui::Align2::CENTER_CENTER,
        "Drop to import",
        egui::FontId::proportional(28.0),
        egui::Color32::WHITE,
    );
}

impl eframe::App for StudioApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.studio_ui(ui);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        self.settings.train_form = self.train.form.clone();
        self.settings.export_form = self.export.form.clone();
        eframe::set_value(storage, Settings::STORAGE_KEY, &self.settings);
    }
}
