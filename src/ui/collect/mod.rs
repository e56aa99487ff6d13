//! The Collect tab: scrape a Pinterest board or a runway page (`scraping`), or bring images in
//! from disk (files, folders, drag and drop) and see what the last import did, file by file.

mod scraping;

use std::path::PathBuf;

use crate::jobs::{self, JobError, JobHandle};
use crate::project::Project;
use crate::project::ingest::{self, ImportOptions, ImportReport};

pub use scraping::{Arrival, LiveCounts, ScrapeForm, ScrapePanel};

use super::detect::DetectScope;
use super::dialogs::Dialog;
use super::jobs_bar::JobView;
use super::tab::{Command, Commands, Status, StudioTab, restore_form, save_form};
use super::widgets::status_ui;

/// The tab's settings, kept across restarts.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct CollectForm {
    /// Images within this dHash distance of one already in the project are reported.
    pub near_duplicate_distance: u32,
    /// Run the person detector on the images an import or a scrape adds.
    pub detect_new: bool,
    pub scrape: ScrapeForm,
}

impl Default for CollectForm {
    fn default() -> Self {
        CollectForm {
            near_duplicate_distance: ingest::DEFAULT_NEAR_DUPLICATE_DISTANCE,
            detect_new: false,
            scrape: ScrapeForm::default(),
        }
    }
}

#[derive(Default)]
pub struct CollectTab {
    pub form: CollectForm,
    project: Option<Project>,
    import: Option<JobHandle<(), ImportReport>>,
    last_report: Option<ImportReport>,
    status: Option<Status>,
    scraping: ScrapePanel,
}

impl CollectTab {
    const FORM_KEY: &'static str = "deepstyle-collect-form";

    pub fn last_report(&self) -> Option<&ImportReport> {
        self.last_report.as_ref()
    }

    /// Shows a report of an import made elsewhere (the demo project's first start).
    pub fn show_report(&mut self, report: ImportReport) {
        self.last_report = Some(report);
    }

    pub fn is_importing(&self) -> bool {
        self.import.is_some()
    }

    /// The scraping panel (its live counts, arrivals and failures).
    pub fn scraping(&self) -> &ScrapePanel {
        &self.scraping
    }

    /// Starts scraping the form's address (as the Start button does).
    pub fn start_scraping(&mut self, ctx: &egui::Context) {
        self.scraping
            .start(ctx, &self.form.scrape, self.form.near_duplicate_distance);
    }

    /// Imports files and folders into the open project in a worker.
    pub fn import(&mut self, ctx: &egui::Context, paths: Vec<PathBuf>, commands: &mut Commands) {
        let Some(project) = self.project.clone() else {
            commands.push(Command::Status(Status::error(
                "Open or create a project before importing.",
            )));
            return;
        };
        if paths.is_empty() {
            return;
        }
        if self.import.is_some() {
            commands.push(Command::Status(Status::error(
                "An import is running: wait for it or cancel it first.",
            )));
            return;
        }
        let options = ImportOptions {
            near_duplicate_distance: self.form.near_duplicate_distance,
        };
        let title = match paths.as_slice() {
            [one] => format!("Import {}", one.display()),
            many => format!("Import {} items", many.len()),
        };
        let ctx = ctx.clone();
        self.import = Some(jobs::spawn(
            title,
            move || ctx.request_repaint(),
            move |job| {
                ingest::import_paths(&project, &paths, &options, job).map_err(|e| match e {
                    ingest::ImportError::Cancelled => JobError::Cancelled,
                    other => JobError::failed(&other),
                })
            },
        ));
    }
}

impl StudioTab for CollectTab {
    fn logic(&mut self, ctx: &egui::Context, project: Option<&Project>, commands: &mut Commands) {
        if self.project.as_ref().map(Project::root) != project.map(Project::root) {
            self.project = project.cloned();
        }
        let added = self.scraping.logic(ctx, project, commands);
        if self.form.detect_new && !added.is_empty() {
            commands.push(Command::Detect(DetectScope::Images(added)));
        }
        let Some(job) = &mut self.import else {
            return;
        };
        job.poll();
        let Some(outcome) = job.take_outcome() else {
            return;
        };
        let title = job.title().to_string();
        self.import = None;
        let status = match outcome {
            Ok(report) => {
                let status = Status {
                    text: format!("Import finished: {}", report.summary()),
                    is_error: !report.failed.is_empty(),
                };
                if self.form.detect_new {
                    let ids = report.added.iter().map(|a| a.image_id).collect();
                    commands.push(Command::Detect(DetectScope::Images(ids)));
                }
                self.last_report = Some(report);
                commands.push(Command::CatalogChanged);
                status
            }
            Err(e) => Status {
                text: format!("{title}: {e}"),
                is_error: e != JobError::Cancelled,
            },
        };
        self.status = Some(status.clone());
        commands.push(Command::Status(status));
    }

    fn ui(&mut self, ui: &mut egui::Ui, commands: &mut Commands) {
        ui.heading("Collect");
        self.scraping
            .ui(ui, &mut self.form.scrape, self.form.near_duplicate_distance);
        ui.checkbox(
            &mut self.form.detect_new,
            "Detect people in the images a scrape or an import adds",
        )
        .on_hover_text("Their boxes appear in Review; the least score is set there");
        ui.separator();
        ui.strong("Import from disk");
        ui.label(
            "Import JPEG, PNG, WebP, BMP or GIF photos. Folders are searched recursively; \
             identical files are added once and near-duplicates are reported. \
             You can also drop files or folders anywhere on the window.",
        );
        ui.add_enabled_ui(self.project.is_some() && self.import.is_none(), |ui| {
            ui.horizontal(|ui| {
                if ui.button("Import images…").clicked() {
                    commands.push(Command::Ask(Dialog::ImportFiles));
                }
                if ui.button("Import folder…").clicked() {
                    commands.push(Command::Ask(Dialog::ImportFolder));
                }
                let label = ui.label("Near-duplicate distance");
                ui.add(egui::DragValue::new(&mut self.form.near_duplicate_distance).range(0..=64))
                    .labelled_by(label.id)
                    .on_hover_text(
                        "Report an image whose 64-bit dHash differs from one in the project \
                         in at most this many bits (0: only identical hashes)",
                    );
            });
        });
        if let Some(status) = &self.status {
            status_ui(ui, status);
        }
        ui.separator();
        if let Some(report) = &self.last_report {
            report_ui(ui, report);
        }
    }

    fn jobs(&self) -> Vec<&dyn JobView> {
        self.import
            .iter()
            .map(|j| j as &dyn JobView)
            .chain(self.scraping.job())
            .collect()
    }

    fn save(&self, storage: &mut dyn eframe::Storage) {
        save_form(storage, Self::FORM_KEY, &self.form);
    }

    fn restore(&mut self, storage: &dyn eframe::Storage) {
        if let Some(form) = restore_form(storage, Self::FORM_KEY) {
            self.form = form;
        }
    }
}

fn report_ui(ui: &mut egui::Ui, report: &ImportReport) {
    ui.strong(format!("Last import: {}", report.summary()));
    egui::ScrollArea::vertical()
        .id_salt("import-report")
        .show(ui, |ui| {
            if !report.failed.is_empty() {
                egui::CollapsingHeader::new(format!("Not imported ({})", report.failed.len()))
                    .default_open(true)
                    .show(ui, |ui| {
                        for failure in &report.failed {
                            ui.colored_label(
                                ui.visuals().error_fg_color,
                                format!("{}: {}", failure.origin, failure.reason),
                            );
                        }
                    });
            }
            if !report.near_duplicates.is_empty() {
                egui::CollapsingHeader::new(format!(
                    "Near-duplicates ({})",
                    report.near_duplicates.len()
                ))
                .default_open(true)
                .show(ui, |ui| {
                    for near in &report.near_duplicates {
                        ui.label(format!(
                            "{} looks like {}… (dHash distance {})",
                            near.origin,
                            &near.similar_to[..12.min(near.similar_to.len())],
                            near.distance
                        ));
                    }
                });
            }
            if !report.already_present.is_empty() {
                egui::CollapsingHeader::new(format!(
                    "Already in the project ({})",
                    report.already_present.len()
                ))
                .show(ui, |ui| {
                    for origin in &report.already_present {
                        ui.label(origin);
                    }
                });
            }
        });
}
