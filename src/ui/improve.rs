//! "Improve detector from reviewed images" in the Review tab: a job that fine-tunes the chosen
//! garment detector on the project's accepted boxes, scores it on held-out reviewed images
//! before and after, and hands the new weights to the Detect buttons. The weights it started
//! from stay where they are.

use std::path::PathBuf;

use crate::detect::faster_rcnn::improve::{ImproveOptions, ImproveReport, improve_detector};
use crate::detect::faster_rcnn::infer::GarmentDetector;
use crate::detect::faster_rcnn::train::DetectorStep;
use crate::detect::run::DetectorChoice;
use crate::jobs::{self, JobError, JobHandle};
use crate::project::Project;

use super::jobs_bar::JobView;
use super::tab::{Command, Commands, Status};

#[derive(Default)]
pub struct ImproveRunner {
    project: Option<Project>,
    job: Option<JobHandle<DetectorStep, ImproveReport>>,
    /// The latest training loss of the running job.
    loss: Option<f32>,
    /// The last finished improvement.
    pub last: Option<ImproveReport>,
}

impl ImproveRunner {
    pub fn is_running(&self) -> bool {
        self.job.is_some()
    }

    pub fn job(&self) -> Option<&dyn JobView> {
        self.job.as_ref().map(|j| j as &dyn JobView)
    }

    pub fn cancel(&self) {
        if let Some(job) = &self.job {
            job.cancel();
        }
    }

    pub fn loss(&self) -> Option<f32> {
        self.loss
    }

    /// Starts fine-tuning the garment detector `detector` (the shipped one is copied into the
    /// project's detectors folder first) for `iterations`; `Err` says why it cannot.
    pub fn start(
        &mut self,
        ctx: &egui::Context,
        detector: &DetectorChoice,
        iterations: u64,
    ) -> Result<(), String> {
        let weights: Option<PathBuf> = match detector {
            DetectorChoice::Garments(path) => Some(path.clone()),
            DetectorChoice::ShippedGarments => None,
            DetectorChoice::People => {
                return Err("Choose a garment detector to improve first.".into());
            }
        };
        let Some(project) = self.project.clone() else {
            return Err("Open a project before improving the detector.".into());
        };
        if self.job.is_some() {
            return Err("The detector is being improved: wait for it or cancel it first.".into());
        }
        self.loss = None;
        let repaint = ctx.clone();
        self.job = Some(jobs::spawn(
            "Improve detector from reviewed images",
            move || repaint.request_repaint(),
            move |job| {
                let weights = match weights {
                    Some(path) => path,
                    None => GarmentDetector::write_shipped(&project.detectors_dir())
                        .map_err(|e| JobError::failed(&e))?,
                };
                improve_detector(
                    &project,
                    &weights,
                    None,
                    &ImproveOptions {
                        iterations,
                        ..ImproveOptions::default()
                    },
                    job,
                    &|step| job.emit(*step),
                )
                .map_err(|e| JobError::failed(&e))
            },
        ));
        Ok(())
    }

    /// Follows the project and drains the job; when it ends, the new weights become the
    /// detector the Detect buttons run.
    pub fn logic(&mut self, project: Option<&Project>, commands: &mut Commands) {
        if self.project.as_ref().map(Project::root) != project.map(Project::root) {
            self.cancel();
            *self = ImproveRunner {
                project: project.cloned(),
                ..ImproveRunner::default()
            };
        }
        let Some(job) = &mut self.job else {
            return;
        };
        if let Some(step) = job.poll().last() {
            self.loss = Some(step.total());
        }
        let Some(outcome) = job.take_outcome() else {
            return;
        };
        let title = job.title().to_string();
        self.job = None;
        match outcome {
            Ok(report) => {
                commands.push(Command::UseDetector(DetectorChoice::Garments(
                    report.weights.clone(),
                )));
                commands.push(Command::Status(Status::info(format!(
                    "Detector improved: {}",
                    report.summary()
                ))));
                self.last = Some(report);
            }
            Err(e) => commands.push(Command::Status(Status {
                text: format!("{title}: {e}"),
                is_error: e != JobError::Cancelled,
            })),
        }
    }
}
