//! The Collect tab: bring images into the project (files, folders, drag and drop) and see
//! what the last import did, file by file. Scraping arrives in a later issue.

use crate::project::ingest::ImportReport;

/// What the user asked for in the Collect tab this frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CollectAction {
    ImportFiles,
    ImportFolder,
}

#[derive(Default)]
pub struct CollectTab {
    pub last_report: Option<ImportReport>,
}

impl CollectTab {
    pub fn collect_ui(&mut self, ui: &mut egui::Ui, has_project: bool) -> Option<CollectAction> {
        let mut action = None;
        ui.heading("Collect");
        ui.label(
            "Import JPEG, PNG, WebP, BMP or GIF photos. Folders are searched recursively; \
             identical files are added once and near-duplicates are reported. \
             You can also drop files or folders anywhere on the window.",
        );
        ui.add_enabled_ui(has_project, |ui| {
            ui.horizontal(|ui| {
                if ui.button("Import images…").clicked() {
                    action = Some(CollectAction::ImportFiles);
                }
                if ui.button("Import folder…").clicked() {
                    action = Some(CollectAction::ImportFolder);
                }
            });
        });
        ui.separator();
        if let Some(report) = &self.last_report {
            report_ui(ui, report);
        }
        action
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
