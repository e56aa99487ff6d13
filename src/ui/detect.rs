//! Detection from the window: a job that runs the person detector (or a trained garment
//! detector) over the whole project or
//! some images (a Library selection, the image in Review, what an import or scrape just
//! added), with progress and cancel. The Review tab owns it; other tabs ask with
//! [`Command::Detect`](super::tab::Command::Detect).

use crate::detect::run::{
    self, DetectEvent, DetectOptions, DetectReport, DetectorChoice, detect_project,
};
use crate::device::DeviceChoice;
use crate::jobs::{self, JobError, JobHandle};
use crate::project::Project;

use super::jobs_bar::JobView;
use super::tab::{Command, Commands, Status};

/// Which images to detect in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DetectScope {
    /// Every image no person has reviewed yet.
    Project,
    Images(Vec<i64>),
}

#[derive(Default)]
pub struct DetectRunner {
    project: Option<Project>,
    job: Option<JobHandle<DetectEvent, DetectReport>>,
    /// Images whose boxes the running job has replaced.
    touched: Vec<i64>,
    /// The device detection runs on (opened by the job).
    device: DeviceChoice,
}

impl DetectRunner {
    /// Runs later detections on `device`.
    pub fn set_device(&mut self, device: DeviceChoice) {
        self.device = device;
    }

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

    /// Starts detecting; `Err` says why it cannot (no project, one is running).
    pub fn start(
        &mut self,
        ctx: &egui::Context,
        scope: DetectScope,
        min_score: f32,
        choice: &DetectorChoice,
    ) -> Result<(), String> {
        let Some(project) = self.project.clone() else {
            return Err("Open a project before detecting.".into());
        };
        if self.job.is_some() {
            return Err("Detection is running: wait for it or cancel it first.".into());
        }
        let finds = choice.finds();
        let (title, images) = match scope {
            DetectScope::Project => (format!("Detect {finds}"), None),
            DetectScope::Images(ids) if ids.is_empty() => return Ok(()),
            DetectScope::Images(ids) => {
                (format!("Detect {finds} in {} images", ids.len()), Some(ids))
            }
        };
        let choice = choice.clone();
        let device = self.device;
        let options = DetectOptions {
            min_score,
            images,
            ..DetectOptions::default()
        };
        self.touched.clear();
        let repaint = ctx.clone();
        self.job = Some(jobs::spawn(
            title,
            move || repaint.request_repaint(),
            move |job| {
                let device = device.open().map_err(|e| JobError::failed(&e))?;
                let detector = choice.load(&device).map_err(|e| JobError::failed(&e))?;
                detect_project(&project, detector.as_ref(), &options, job, &|event| {
                    job.emit(event)
                })
                .map_err(|e| JobError::failed(&e))
            },
        ));
        Ok(())
    }

    /// Follows the project and drains the job. Returns the images whose boxes changed since the
    /// last call (for the Review tab to reopen).
    pub fn logic(&mut self, project: Option<&Project>, commands: &mut Commands) -> Vec<i64> {
        if self.project.as_ref().map(Project::root) != project.map(Project::root) {
            self.cancel();
            *self = DetectRunner {
                project: project.cloned(),
                device: self.device,
                ..DetectRunner::default()
            };
        }
        let Some(job) = &mut self.job else {
            return Vec::new();
        };
        let mut changed = Vec::new();
        for event in job.poll() {
            if let DetectEvent::Detected { image_id, .. } = event {
                changed.push(image_id);
            }
        }
        self.touched.extend(&changed);
        let Some(outcome) = job.take_outcome() else {
            return changed;
        };
        let title = job.title().to_string();
        self.job = None;
        let status = match outcome {
            Ok(report) if report.cancelled => Status::info(format!(
                "Detection cancelled; the boxes found so far are kept: {}",
                report.summary()
            )),
            Ok(report) => Status {
                text: format!("Detection finished: {}", report.summary()),
                is_error: report.failed > 0,
            },
            Err(e) => Status {
                text: format!("{title}: {e}"),
                is_error: e != JobError::Cancelled,
            },
        };
        commands.push(Command::CatalogChanged);
        commands.push(Command::Status(status));
        changed
    }
}

/// The default least score of a stored detection.
pub const DEFAULT_MIN_SCORE: f32 = run::DEFAULT_MIN_SCORE;
