//! The running jobs, each with its title, a progress bar, its message and a cancel button.

use crate::jobs::Progress;

/// What the jobs bar needs to know of a job.
pub struct JobRow<'a> {
    pub id: u64,
    pub title: &'a str,
    pub progress: Option<&'a Progress>,
    pub cancel_requested: bool,
}

/// Draws one line per job; returns the ids whose cancel button was clicked.
pub fn jobs_bar_ui(ui: &mut egui::Ui, rows: &[JobRow<'_>]) -> Vec<u64> {
    let mut cancelled = Vec::new();
    for row in rows {
        ui.horizontal(|ui| {
            ui.label(row.title);
            let (fraction, text) = match row.progress {
                Some(p) if p.total > 0 => {
                    (p.fraction(), format!("{} ({}/{})", p.msg, p.done, p.total))
                }
                Some(p) => (0.0, p.msg.clone()),
                None => (0.0, "starting…".to_string()),
            };
            ui.add(
                egui::ProgressBar::new(fraction)
                    .desired_width(220.0)
                    .text(text)
                    .animate(row.progress.is_none_or(|p| p.total == 0)),
            );
            let label = format!("Cancel {}", row.title);
            let button = ui.add_enabled(!row.cancel_requested, egui::Button::new("Cancel"));
            button.widget_info(|| {
                egui::WidgetInfo::labeled(egui::Role::Button, !row.cancel_requested, &label)
            });
            if button.on_hover_text(label.clone()).clicked() {
                cancelled.push(row.id);
            }
        });
    }
    cancelled
}
