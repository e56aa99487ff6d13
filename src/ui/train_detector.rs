//! The Train tab's garment-detector section: train the Faster R-CNN on a DeepFashion-format
//! set (such as `make-scenes` writes) in a worker, with its four losses plotted live, Stop
//! (which writes the weights reached so far), and a button that hands the weights to Review's
//! Detect buttons.

use std::path::PathBuf;

use egui_plot::{Legend, Line, Plot, PlotPoints};

use crate::detect::faster_rcnn::data::DetectorData;
use crate::detect::faster_rcnn::model::DetectorConfig;
use crate::detect::faster_rcnn::train::{
    DetectorStep, DetectorTraining, resume_path, train_detector,
};
use crate::detect::run::DetectorChoice;
use crate::jobs::{self, JobError, JobHandle};
use crate::project::Project;

use super::jobs_bar::JobView;
use super::tab::{Command, Commands, Status};
use super::widgets::status_ui;

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct DetectorForm {
    /// The root of a DeepFashion-format set.
    pub data: String,
    /// Weights to write; empty: `detectors/garments.safetensors` in the project.
    pub out: String,
    pub iterations: u64,
    pub learning_rate: f64,
    /// Weigh the class loss so each garment category counts as much as any other.
    pub balance_classes: bool,
}

impl Default for DetectorForm {
    fn default() -> Self {
        let training = DetectorTraining::default();
        DetectorForm {
            data: String::new(),
            out: String::new(),
            iterations: training.iterations,
            learning_rate: training.learning_rate,
            balance_classes: training.balance_classes,
        }
    }
}

#[derive(Default)]
pub struct DetectorSection {
    pub form: DetectorForm,
    job: Option<JobHandle<DetectorStep, u64>>,
    steps: Vec<DetectorStep>,
    /// The weights of the last run that finished or stopped.
    trained: Option<PathBuf>,
    status: Option<Status>,
    /// Whether the weights path had a stopped run's resume state when last looked at (looked
    /// at again when the path changes or a run ends, not every frame).
    resumable: Option<(PathBuf, bool)>,
}

impl DetectorSection {
    pub fn is_running(&self) -> bool {
        self.job.is_some()
    }
    /// Iterations plotted so far.
    pub fn points(&self) -> usize {
        self.steps.len()
    }
    pub fn trained(&self) -> Option<&PathBuf> {
        self.trained.as_ref()
    }
    pub fn status(&self) -> Option<&Status> {
        self.status.as_ref()
    }
    pub fn job(&self) -> Option<&dyn JobView> {
        self.job.as_ref().map(|j| j as &dyn JobView)
    }

    fn out_path(&self, project: Option<&Project>) -> Option<PathBuf> {
        let out = self.form.out.trim();
        if !out.is_empty() {
            return Some(PathBuf::from(out));
        }
        project.map(|p| p.detectors_dir().join("garments.safetensors"))
    }

    /// Whether the weights path holds a stopped run to go on from.
    fn can_resume(&mut self, project: Option<&Project>) -> bool {
        let Some(out) = self.out_path(project) else {
            return false;
        };
        match &self.resumable {
            Some((path, resumable)) if *path == out => *resumable,
            _ => {
                let resumable = resume_path(&out).is_file();
                self.resumable = Some((out, resumable));
                resumable
            }
        }
    }

    fn start(&mut self, ctx: &egui::Context, project: Option<&Project>, resume: bool) {
        let data = DetectorData::parse(self.form.data.trim());
        if self.form.data.trim().is_empty() {
            self.status = Some(Status::error(
                "Choose a DeepFashion-format set first (make one with `deepstyle make-scenes`).",
            ));
            return;
        }
        let Some(out) = self.out_path(project) else {
            self.status = Some(Status::error("Choose where to write the weights."));
            return;
        };
        let options = DetectorTraining {
            iterations: self.form.iterations.max(1),
            learning_rate: self.form.learning_rate,
            resume,
            balance_classes: self.form.balance_classes,
            ..DetectorTraining::default()
        };
        self.steps.clear();
        self.resumable = None;
        let verb = if resume { "Going on" } else { "Training" };
        self.status = Some(Status::info(format!("{verb} into {}", out.display())));
        let repaint = ctx.clone();
        self.job = Some(jobs::spawn(
            "Train the garment detector",
            move || repaint.request_repaint(),
            move |job| {
                let config = DetectorConfig::default();
                train_detector(&data, &out, &config, &options, job, &|step| job.emit(*step))
                    .map_err(|e| JobError::failed(&e))
            },
        ));
    }

    /// Drains the running job's steps and takes its outcome.
    pub fn logic(&mut self, project: Option<&Project>) {
        let Some(job) = &mut self.job else {
            return;
        };
        self.steps.extend(job.poll());
        let Some(outcome) = job.take_outcome() else {
            return;
        };
        self.job = None;
        self.resumable = None;
        self.status = Some(match outcome {
            Ok(done) => {
                self.trained = self.out_path(project);
                Status::info(format!(
                    "Detector trained for {done} iterations: {}",
                    self.trained
                        .as_ref()
                        .map_or_else(String::new, |p| p.display().to_string())
                ))
            }
            Err(e) => Status {
                text: format!("Detector training: {e}"),
                is_error: e != JobError::Cancelled,
            },
        });
    }

    pub fn ui(&mut self, ui: &mut egui::Ui, project: Option<&Project>, commands: &mut Commands) {
        let running = self.job.is_some();
        ui.label(
            "Trains the Faster R-CNN that finds upper, lower and full body garments, on a set in \
             DeepFashion's layout (DeepFashion itself, or scenes from `deepstyle make-scenes`).",
        );
        ui.add_enabled_ui(!running, |ui| {
            egui::Grid::new("detector-form")
                .num_columns(2)
                .show(ui, |ui| {
                    let label = ui.label("Data");
                    ui.add(
                        egui::TextEdit::singleline(&mut self.form.data)
                            .hint_text("folder with img/, Anno/, Eval/; coco:FILE; project:DIR"),
                    )
                    .labelled_by(label.id);
                    ui.end_row();
                    let label = ui.label("Weights");
                    ui.add(
                        egui::TextEdit::singleline(&mut self.form.out)
                            .hint_text("detectors/garments.safetensors in the project"),
                    )
                    .labelled_by(label.id);
                    ui.end_row();
                    let label = ui.label("Iterations");
                    ui.add(egui::DragValue::new(&mut self.form.iterations).range(1..=1_000_000))
                        .labelled_by(label.id);
                    ui.end_row();
                    let label = ui.label("Learning rate");
                    ui.add(
                        egui::DragValue::new(&mut self.form.learning_rate)
                            .speed(1e-5)
                            .range(1e-6..=1e-1)
                            .max_decimals(6),
                    )
                    .labelled_by(label.id);
                    ui.end_row();
                    ui.label("");
                    ui.checkbox(&mut self.form.balance_classes, "Balance categories")
                        .on_hover_text(
                            "Weigh the class loss so that a category with few boxes (dresses \
                             among many tops) counts as much as any other",
                        );
                    ui.end_row();
                });
        });
        ui.horizontal_wrapped(|ui| {
            if ui
                .add_enabled(!running, egui::Button::new("Train detector"))
                .clicked()
            {
                self.start(ui.ctx(), project, false);
            }
            let resumable = !running && self.can_resume(project);
            if ui
                .add_enabled(resumable, egui::Button::new("Resume detector training"))
                .on_hover_text(
                    "Go on from where the run that wrote these weights stopped, to the \
                     iterations above",
                )
                .clicked()
            {
                self.start(ui.ctx(), project, true);
            }
            if ui
                .add_enabled(running, egui::Button::new("Stop detector training"))
                .on_hover_text("Stops after this iteration and writes the weights reached")
                .clicked()
                && let Some(job) = &self.job
            {
                job.cancel();
            }
            if let Some(path) = self.trained.clone()
                && ui
                    .add_enabled(!running, egui::Button::new("Use in Review"))
                    .on_hover_text("Review's Detect buttons run these weights")
                    .clicked()
            {
                commands.push(Command::UseDetector(DetectorChoice::Garments(path)));
                commands.push(Command::Status(Status::info(
                    "Review's Detect buttons now find garments",
                )));
            }
        });
        if let Some(status) = &self.status {
            status_ui(ui, status);
        }
        if self.steps.is_empty() {
            return;
        }
        if let Some(last) = self.steps.last() {
            ui.label(format!(
                "iteration {} of {} · loss {:.3} · {:.0} ms an iteration",
                last.iter,
                self.form.iterations,
                last.total(),
                last.secs * 1000.0
            ));
        }
        let series = |get: fn(&DetectorStep) -> f32| -> PlotPoints<'static> {
            self.steps
                .iter()
                .map(|s| [s.iter as f64, get(s) as f64])
                .collect::<Vec<[f64; 2]>>()
                .into()
        };
        Plot::new("detector-losses")
            .height(220.0)
            .legend(Legend::default())
            .x_axis_label("iteration")
            .y_axis_label("loss")
            .show(ui, |plot| {
                plot.line(Line::new("total", series(DetectorStep::total)));
                plot.line(Line::new("RPN objectness", series(|s| s.rpn_objectness)));
                plot.line(Line::new("RPN box", series(|s| s.rpn_box)));
                plot.line(Line::new("head class", series(|s| s.head_class)));
                plot.line(Line::new("head box", series(|s| s.head_box)));
            });
    }
}
