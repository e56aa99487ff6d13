//! The studio window: menu, tabs, the status bar with every tab's running jobs, and the
//! commands tabs send (dialogs, imports, hand-overs between tabs). The tabs themselves follow
//! [`StudioTab`]: their logic runs every frame, their drawing only while shown.

use std::path::{Path, PathBuf};

use crate::device::DeviceChoice;
use crate::jobs::{self, JobError, JobHandle};
use crate::project::ingest::ImportReport;
use crate::project::{Project, demo};

use super::collect::CollectTab;
use super::dialogs::{Dialog, PendingDialog};
use super::explore::ExploreTab;
use super::export::ExportTab;
use super::jobs_bar::{JobView, jobs_bar_ui};
use super::library::LibraryView;
use super::review::ReviewTab;
use super::tab::{Command, Commands, Status, StudioTab};
use super::train::TrainTab;
use super::widgets::status_ui;

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

/// What survives a restart besides the tabs' own forms (kept in eframe's storage).
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Settings {
    pub recent_projects: Vec<PathBuf>,
    pub last_project: Option<PathBuf>,
    pub tab: Tab,
    /// Where the explorer draws and detection runs (and the Train tab's first choice).
    pub device: DeviceChoice,
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

pub struct StudioApp {
    settings: Settings,
    startup: Option<Startup>,
    project: Option<Project>,
    opening: Option<JobHandle<(), OpenedProject>>,
    library: LibraryView,
    collect: CollectTab,
    review: ReviewTab,
    train: TrainTab,
    explore: ExploreTab,
    export: ExportTab,
    dialog: Option<PendingDialog>,
    /// Commands asked for this frame, carried out at its end.
    commands: Commands,
    status: Option<Status>,
}

impl StudioApp {
    pub fn new(settings: Settings, startup: Startup) -> Self {
        // A device saved by a build that had it may be missing from this one.
        let device = Some(settings.device).filter(|d| d.is_compiled());
        let mut app = StudioApp {
            settings,
            startup: Some(startup),
            project: None,
            opening: None,
            library: LibraryView::default(),
            collect: CollectTab::default(),
            review: ReviewTab::default(),
            train: TrainTab::default(),
            explore: ExploreTab::default(),
            export: ExportTab::default(),
            dialog: None,
            commands: Vec::new(),
            status: None,
        };
        app.set_device(device.unwrap_or_default());
        app
    }

    /// Builds the app from eframe's storage: the window's settings and every tab's forms.
    pub fn restored(storage: Option<&dyn eframe::Storage>, startup: Startup) -> Self {
        let settings = storage
            .and_then(|s| eframe::get_value::<Settings>(s, Settings::STORAGE_KEY))
            .unwrap_or_default();
        let mut app = Self::new(settings, startup);
        if let Some(storage) = storage {
            for tab in app.tabs_mut() {
                tab.restore(storage);
            }
        }
        app
    }

    /// Runs the explorer, detection and (as its first choice) training on `device`.
    pub fn set_device(&mut self, device: DeviceChoice) {
        if device != self.settings.device {
            self.train.form.device = device;
        }
        self.settings.device = device;
        self.explore.set_device(device);
        self.review.set_device(device);
    }

    /// Builds the app from eframe's creation context, restoring saved settings.
    pub fn from_creation_context(cc: &eframe::CreationContext<'_>, startup: Startup) -> Self {
        Self::restored(cc.storage, startup)
    }

    /// Writes the window's settings and every tab's forms.
    pub fn save_to(&self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, Settings::STORAGE_KEY, &self.settings);
        for tab in self.tabs() {
            tab.save(storage);
        }
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
    pub fn collect_tab(&self) -> &CollectTab {
        &self.collect
    }
    pub fn collect_tab_mut(&mut self) -> &mut CollectTab {
        &mut self.collect
    }
    pub fn review_tab(&self) -> &ReviewTab {
        &self.review
    }
    pub fn review_tab_mut(&mut self) -> &mut ReviewTab {
        &mut self.review
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

    fn tabs(&self) -> [&dyn StudioTab; 6] {
        [
            &self.library,
            &self.collect,
            &self.review,
            &self.train,
            &self.explore,
            &self.export,
        ]
    }

    fn tabs_mut(&mut self) -> [&mut dyn StudioTab; 6] {
        [
            &mut self.library,
            &mut self.collect,
            &mut self.review,
            &mut self.train,
            &mut self.explore,
            &mut self.export,
        ]
    }

    /// Every running job of the window and its tabs, as the status bar lists them.
    pub fn jobs(&self) -> Vec<&dyn JobView> {
        let mut jobs: Vec<&dyn JobView> = Vec::new();
        if let Some(job) = &self.opening {
            jobs.push(job);
        }
        for tab in self.tabs() {
            jobs.extend(tab.jobs());
        }
        jobs
    }

    /// The running jobs' titles.
    pub fn running_jobs(&self) -> Vec<String> {
        self.jobs().iter().map(|j| j.title().to_string()).collect()
    }

    /// Asks for `command` as a tab would; it is carried out at the end of the next frame's logic.
    pub fn send(&mut self, command: Command) {
        self.commands.push(command);
    }

    fn set_status(&mut self, status: Status) {
        self.status = Some(status);
    }

    /// Opens (or creates) a project in a worker.
    fn open_project(&mut self, ctx: &egui::Context, root: PathBuf, create: bool) {
        let ctx = ctx.clone();
        let title = format!("Open {}", root.display());
        self.opening = Some(jobs::spawn(
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
        ));
    }

    /// Creates (or reopens) the demo project in a worker.
    fn open_demo(&mut self, ctx: &egui::Context, root: PathBuf) {
        let ctx = ctx.clone();
        self.opening = Some(jobs::spawn(
            "Create the demo project",
            move || ctx.request_repaint(),
            move |job| {
                demo::create_demo(&root, job)
                    .map(|(project, report)| OpenedProject {
                        project,
                        demo_report: report,
                    })
                    .map_err(|e| JobError::failed(&e))
            },
        ));
    }

    fn poll_opening(&mut self) {
        let Some(job) = &mut self.opening else {
            return;
        };
        job.poll();
        let Some(outcome) = job.take_outcome() else {
            return;
        };
        let title = job.title().to_string();
        self.opening = None;
        match outcome {
            Ok(opened) => {
                let root = opened.project.root().to_path_buf();
                self.settings.remember(&root);
                self.project = Some(opened.project);
                match opened.demo_report {
                    Some(report) => {
                        self.set_status(Status::info(format!(
                            "Demo project ready: {}",
                            report.summary()
                        )));
                        self.collect.show_report(report);
                    }
                    None => self.set_status(Status::info(format!("Opened {}", root.display()))),
                }
            }
            Err(e) => self.set_status(Status {
                text: format!("{title}: {e}"),
                is_error: e != JobError::Cancelled,
            }),
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

    fn poll_dialog(&mut self) {
        let Some(picked) = self.dialog.as_ref().and_then(PendingDialog::poll) else {
            return;
        };
        if let Some(command) = self.dialog.take().and_then(|d| d.dialog.answer(picked)) {
            self.commands.push(command);
        }
    }

    fn ask(&mut self, ctx: &egui::Context, dialog: Dialog) {
        if self.dialog.is_some() {
            return;
        }
        let directory = if dialog.starts_in_exports() {
            self.project.as_ref().map(Project::exports_dir)
        } else {
            None
        };
        let ctx = ctx.clone();
        self.dialog = Some(PendingDialog::open(dialog, directory, move || {
            ctx.request_repaint()
        }));
    }

    /// Carries out the commands the tabs asked for, in order (a command may ask for more).
    fn run_commands(&mut self, ctx: &egui::Context) {
        while !self.commands.is_empty() {
            for command in std::mem::take(&mut self.commands) {
                self.run_command(ctx, command);
            }
        }
    }

    fn run_command(&mut self, ctx: &egui::Context, command: Command) {
        match command {
            Command::Ask(dialog) => self.ask(ctx, dialog),
            Command::OpenProject { root, create } => self.open_project(ctx, root, create),
            Command::Import(paths) => self.collect.import(ctx, paths, &mut self.commands),
            Command::CatalogChanged => {
                self.library.refresh(ctx);
                self.review.refresh(ctx);
                self.train.refresh_crops(ctx);
            }
            Command::OpenRun(dir) => self.train.open_run(ctx, dir),
            Command::Detect(scope) => self.review.detect(ctx, scope, &mut self.commands),
            Command::UseDetector(choice) => self.review.form.detector = choice,
            Command::LoadGenerator(source) => self.explore.load(source),
            Command::UsePicks(samples) => self.explore.use_picks(samples),
            Command::Export(kind, path) => self.export.start(ctx, kind, path),
            Command::ShowTab(tab) => self.settings.tab = tab,
            Command::Status(status) => self.set_status(status),
        }
    }

    /// Everything that is not drawing, for every tab whether shown or not: eframe's
    /// `App::logic` calls this once a frame, before the drawing.
    pub fn studio_logic(&mut self, ctx: &egui::Context) {
        self.start(ctx);
        self.poll_opening();
        self.poll_dialog();
        let project = self.project.clone();
        let mut commands = std::mem::take(&mut self.commands);
        for tab in self.tabs_mut() {
            tab.logic(ctx, project.as_ref(), &mut commands);
        }
        self.commands.append(&mut commands);
        self.export
            .follow(self.explore.explorer(), self.explore.source());
        self.run_commands(ctx);
    }

    /// The whole window, logic and drawing; the UI tests call this once a frame.
    pub fn studio_ui(&mut self, ui: &mut egui::Ui) {
        self.studio_logic(ui.ctx());
        self.draw_ui(ui);
    }

    /// Draws the window; its clicks become commands run by the next frame's logic.
    fn draw_ui(&mut self, ui: &mut egui::Ui) {
        self.take_dropped_files(ui);
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

    fn take_dropped_files(&mut self, ui: &mut egui::Ui) {
        let dropped: Vec<PathBuf> = ui.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_path_buf())
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        });
        if !dropped.is_empty() {
            self.commands.push(Command::Import(dropped));
        }
    }

    fn menu_ui(&mut self, ui: &mut egui::Ui) {
        let commands = &mut self.commands;
        ui.menu_button("File", |ui| {
            if ui.button("New project…").clicked() {
                commands.push(Command::Ask(Dialog::NewProject));
            }
            if ui.button("Open project…").clicked() {
                commands.push(Command::Ask(Dialog::OpenProject));
            }
            ui.menu_button("Open recent", |ui| {
                if self.settings.recent_projects.is_empty() {
                    ui.label("No recent projects");
                }
                for root in &self.settings.recent_projects {
                    if ui.button(root.display().to_string()).clicked() {
                        commands.push(Command::OpenProject {
                            root: root.clone(),
                            create: false,
                        });
                    }
                }
            });
            ui.separator();
            let has_project = self.project.is_some();
            if ui
                .add_enabled(has_project, egui::Button::new("Import images…"))
                .clicked()
            {
                commands.push(Command::Ask(Dialog::ImportFiles));
            }
            if ui
                .add_enabled(has_project, egui::Button::new("Import folder…"))
                .clicked()
            {
                commands.push(Command::Ask(Dialog::ImportFolder));
            }
            ui.separator();
            if ui.button("Quit").clicked() {
                ui.ctx().send_viewport_cmd(egui::ViewportCommand::Close);
            }
        });
        let mut device = self.settings.device;
        ui.menu_button("Device", |ui| {
            for choice in DeviceChoice::ALL {
                let item = ui.add_enabled(
                    choice.is_compiled(),
                    egui::Button::selectable(device == choice, choice.name()),
                );
                let item = if choice.is_compiled() {
                    item.on_hover_text("The explorer, detection and new training runs use it")
                } else {
                    let script = if choice == DeviceChoice::Cuda {
                        " (tools/build-cuda.sh)"
                    } else {
                        ""
                    };
                    item.on_disabled_hover_text(format!(
                        "This build has no {choice}: build with --features {choice}{script}"
                    ))
                };
                if item.clicked() {
                    device = choice;
                }
            }
        });
        if device != self.settings.device {
            self.set_device(device);
        }
        if let Some(project) = &self.project {
            ui.separator();
            ui.label(format!("Project: {}", project.name()))
                .on_hover_text(project.root().display().to_string());
        }
    }

    fn status_bar_ui(&mut self, ui: &mut egui::Ui) {
        jobs_bar_ui(ui, &self.jobs());
        ui.horizontal(|ui| match &self.status {
            Some(status) => status_ui(ui, status),
            None => {
                ui.label("Ready");
            }
        });
    }

    fn tab_ui(&mut self, ui: &mut egui::Ui) {
        let commands = &mut self.commands;
        match self.settings.tab {
            Tab::Library => self.library.ui(ui, commands),
            Tab::Collect => self.collect.ui(ui, commands),
            Tab::Review => self.review.ui(ui, commands),
            Tab::Train => self.train.ui(ui, commands),
            Tab::Explore => self.explore.ui(ui, commands),
            Tab::Export => self.export.ui(ui, commands),
        }
    }
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
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        self.studio_logic(ctx);
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.draw_ui(ui);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        self.save_to(storage);
    }
}
