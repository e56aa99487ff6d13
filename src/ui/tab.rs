//! The contract every tab follows, and what tabs say to the window.
//!
//! A tab owns its state and its jobs. [`StudioTab::logic`] runs every frame whether or not the
//! tab is shown: it follows the open project, drains the tab's jobs and workers and advances
//! anything that moves on its own, so a tab's state is current the moment another tab (or the
//! tab itself, later) reads it. [`StudioTab::ui`] only draws and reacts to the user. Neither
//! waits on anything. What a tab cannot do itself (open a file dialog, start an import, hand
//! samples to another tab) it asks for with a [`Command`], which the window carries out after
//! the frame's tabs have run.

use std::path::PathBuf;

use crate::gan::sampler::GeneratorSource;
use crate::latent::sample::Sample;
use crate::project::Project;

use super::app::Tab;
use super::detect::DetectScope;
use super::dialogs::Dialog;
use super::export::ExportKind;
use super::jobs_bar::JobView;

/// A message for the user: a tab's last outcome, or the status bar's.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    pub text: String,
    pub is_error: bool,
}

impl Status {
    pub fn info(text: impl Into<String>) -> Self {
        Status {
            text: text.into(),
            is_error: false,
        }
    }

    pub fn error(text: impl Into<String>) -> Self {
        Status {
            text: text.into(),
            is_error: true,
        }
    }
}

/// What a tab asks the window to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Open a file dialog; its answer becomes the command [`Dialog::answer`] makes of it.
    Ask(Dialog),
    OpenProject {
        root: PathBuf,
        create: bool,
    },
    /// Import files and folders into the open project.
    Import(Vec<PathBuf>),
    /// The catalog's images changed: the library reads them again.
    CatalogChanged,
    /// Show a past training run in the Train tab.
    OpenRun(PathBuf),
    /// Load a generator into the explorer.
    LoadGenerator(GeneratorSource),
    /// Run the chosen detector over these images (its boxes appear in Review).
    Detect(DetectScope),
    /// Make this the detector the Detect buttons run.
    UseDetector(crate::detect::run::DetectorChoice),
    /// Add these samples to the explorer's picks.
    UsePicks(Vec<Sample>),
    /// Write (or, for latents, read) an export file.
    Export(ExportKind, PathBuf),
    /// Bring a tab to the front (an empty state's next step).
    ShowTab(Tab),
    /// A message for the status bar.
    Status(Status),
}

/// The commands a frame's tabs have asked for, carried out in order after they ran.
pub type Commands = Vec<Command>;

/// One tab of the studio.
pub trait StudioTab {
    /// Runs every frame, shown or not: follow `project`, drain jobs and workers, animate.
    /// Draws nothing.
    fn logic(&mut self, ctx: &egui::Context, project: Option<&Project>, commands: &mut Commands);

    /// Draws the tab; only called while it is shown.
    fn ui(&mut self, ui: &mut egui::Ui, commands: &mut Commands);

    /// The tab's running jobs, for the status bar's job list.
    fn jobs(&self) -> Vec<&dyn JobView> {
        Vec::new()
    }

    /// Writes the tab's settings (its forms) to the studio's storage.
    fn save(&self, _storage: &mut dyn eframe::Storage) {}

    /// Reads back what [`StudioTab::save`] wrote.
    fn restore(&mut self, _storage: &dyn eframe::Storage) {}
}

/// Writes a tab's form under `key` (JSON).
pub fn save_form<T: serde::Serialize>(storage: &mut dyn eframe::Storage, key: &str, form: &T) {
    eframe::set_value(storage, key, form);
}

/// Reads a tab's form saved under `key`; `None` when absent or unreadable (an older format).
pub fn restore_form<T: serde::de::DeserializeOwned>(
    storage: &dyn eframe::Storage,
    key: &str,
) -> Option<T> {
    eframe::get_value(storage, key)
}
