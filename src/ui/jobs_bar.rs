//! The running jobs in the status bar, each with its title, a progress bar, its message and a
//! cancel button. Every tab lists its jobs through [`JobView`], whatever their event and result
//! types.

use crate::jobs::{JobHandle, Progress};

/// What the status bar needs of a running job.
pub trait JobView {
    fn title(&self) -> &str;
    /// The newest progress, if any arrived yet.
    fn progress(&self) -> Option<&Progress>;
    /// Asks the job to stop; it finishes on its own time (at least every 100 ms of work).
    fn cancel(&self);
    fn is_cancel_requested(&self) -> bool;
}

impl<E, R> JobView for JobHandle<E, R> {
    fn title(&self) -> &str {
        JobHandle::title(self)
    }
    fn progress(&self) -> Option<&Progress> {
        JobHandle::progress(self)
    }
    fn cancel(&self) {
        JobHandle::cancel(self)
    }
    fn is_cancel_requested(&self) -> bool {
        JobHandle::is_cancel_requested(self)
    }
}

/// Draws one line per job; a click on a job's Cancel cancels it.
pub fn jobs_bar_ui(ui: &mut egui::Ui, jobs: &[&dyn JobView]) {
    for job in jobs {
        ui.horizontal(|ui| {
            ui.label(job.title());
            let progress = job.progress();
            let (fraction, text) = match progress {
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
                    .animate(progress.is_none_or(|p| p.total == 0)),
            );
            let requested = job.is_cancel_requested();
            let label = format!("Cancel {}", job.title());
            let button = ui.add_enabled(!requested, egui::Button::new("Cancel"));
            button
                .widget_info(|| egui::WidgetInfo::labeled(egui::Role::Button, !requested, &label));
            if button.on_hover_text(label.clone()).clicked() {
                job.cancel();
            }
        });
    }
}
