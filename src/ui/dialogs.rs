//! Native file dialogs (rfd) run on their own thread, so the frame loop never waits on them.
//! A tab asks for one with [`Command::Ask`]; the paths picked come back as the command
//! [`Dialog::answer`] makes of them.

use std::path::PathBuf;

use crossbeam_channel::Receiver;

use super::export::ExportKind;
use super::tab::Command;
use crate::detect::run::DetectorChoice;
use crate::gan::sampler::GeneratorSource;

/// What the user is picking a path for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialog {
    NewProject,
    OpenProject,
    ImportFiles,
    ImportFolder,
    OpenRun,
    /// A run whose latest generator the explorer loads.
    ExploreRun,
    GeneratorFile,
    SavePng,
    SaveGif,
    SaveLatents,
    LoadLatents,
    /// A folder to export the project's boxes into.
    SaveAnnotations,
    /// Garment-detector weights for the Detect buttons.
    DetectorWeights,
}

impl Dialog {
    /// What the picked paths ask for; `None` when nothing was picked.
    pub fn answer(self, mut paths: Vec<PathBuf>) -> Option<Command> {
        if paths.is_empty() {
            return None;
        }
        if matches!(self, Dialog::ImportFiles | Dialog::ImportFolder) {
            return Some(Command::Import(paths));
        }
        let first = paths.swap_remove(0);
        Some(match self {
            Dialog::NewProject => Command::OpenProject {
                root: first,
                create: true,
            },
            Dialog::OpenProject => Command::OpenProject {
                root: first,
                create: false,
            },
            Dialog::ImportFiles | Dialog::ImportFolder => return None,
            Dialog::OpenRun => Command::OpenRun(first),
            Dialog::ExploreRun => Command::LoadGenerator(GeneratorSource::Run(first)),
            Dialog::GeneratorFile => Command::LoadGenerator(GeneratorSource::File(first)),
            Dialog::SavePng => Command::Export(ExportKind::Png, first),
            Dialog::SaveGif => Command::Export(ExportKind::Gif, first),
            Dialog::SaveLatents => Command::Export(ExportKind::Latents, first),
            Dialog::LoadLatents => Command::Export(ExportKind::LoadLatents, first),
            Dialog::SaveAnnotations => Command::Export(ExportKind::Annotations, first),
            Dialog::DetectorWeights => Command::UseDetector(DetectorChoice::Garments(first)),
        })
    }

    /// Whether the dialog starts in the project's exports folder.
    pub fn starts_in_exports(self) -> bool {
        matches!(
            self,
            Dialog::SavePng
                | Dialog::SaveGif
                | Dialog::SaveLatents
                | Dialog::LoadLatents
                | Dialog::SaveAnnotations
        )
    }
}

/// A dialog open on another thread; `poll` returns the picked paths once it closes.
pub struct PendingDialog {
    pub dialog: Dialog,
    rx: Receiver<Vec<PathBuf>>,
}

impl PendingDialog {
    /// Opens `dialog`, starting in `directory` when given.
    pub fn open(
        purpose: Dialog,
        directory: Option<PathBuf>,
        notify: impl Fn() + Send + 'static,
    ) -> Self {
        let (tx, rx) = crossbeam_channel::bounded(1);
        std::thread::spawn(move || {
            let mut dialog = rfd::FileDialog::new();
            if let Some(directory) = directory.filter(|d| d.is_dir()) {
                dialog = dialog.set_directory(directory);
            }
            let picked: Vec<PathBuf> = match purpose {
                Dialog::NewProject => dialog
                    .set_title("Choose an empty folder for the new project")
                    .pick_folder()
                    .into_iter()
                    .collect(),
                Dialog::OpenProject => dialog
                    .set_title("Open a DeepStyle project folder")
                    .pick_folder()
                    .into_iter()
                    .collect(),
                Dialog::ImportFiles => dialog
                    .set_title("Import images")
                    .add_filter("Images", &["jpg", "jpeg", "png", "webp", "bmp", "gif"])
                    .pick_files()
                    .unwrap_or_default(),
                Dialog::OpenRun => dialog
                    .set_title("Open a training run folder")
                    .pick_folder()
                    .into_iter()
                    .collect(),
                Dialog::ExploreRun => dialog
                    .set_title("Explore the generator of a training run")
                    .pick_folder()
                    .into_iter()
                    .collect(),
                Dialog::GeneratorFile => dialog
                    .set_title("Open a generator")
                    .add_filter("Generator weights", &["safetensors"])
                    .pick_file()
                    .into_iter()
                    .collect(),
                Dialog::SavePng => dialog
                    .set_title("Export the grid")
                    .set_file_name("grid.png")
                    .add_filter("PNG image", &["png"])
                    .save_file()
                    .into_iter()
                    .collect(),
                Dialog::SaveGif => dialog
                    .set_title("Export the animation")
                    .set_file_name("walk.gif")
                    .add_filter("GIF animation", &["gif"])
                    .save_file()
                    .into_iter()
                    .collect(),
                Dialog::SaveLatents => dialog
                    .set_title("Export latent vectors")
                    .set_file_name("latents.json")
                    .add_filter("Latent vectors", &["json"])
                    .save_file()
                    .into_iter()
                    .collect(),
                Dialog::LoadLatents => dialog
                    .set_title("Import latent vectors")
                    .add_filter("Latent vectors", &["json"])
                    .pick_file()
                    .into_iter()
                    .collect(),
                Dialog::SaveAnnotations => dialog
                    .set_title("Choose a folder for the exported boxes and images")
                    .pick_folder()
                    .into_iter()
                    .collect(),
                Dialog::DetectorWeights => dialog
                    .set_title("Choose garment-detector weights (from train-detector)")
                    .add_filter("Detector weights", &["safetensors"])
                    .pick_file()
                    .into_iter()
                    .collect(),
                Dialog::ImportFolder => dialog
                    .set_title("Import a folder of images")
                    .pick_folders()
                    .unwrap_or_default(),
            };
            let _ = tx.send(picked);
            notify();
        });
        PendingDialog {
            dialog: purpose,
            rx,
        }
    }

    /// `Some(paths)` once the dialog has closed (empty when the user cancelled).
    pub fn poll(&self) -> Option<Vec<PathBuf>> {
        match self.rx.try_recv() {
            Ok(paths) => Some(paths),
            Err(crossbeam_channel::TryRecvError::Empty) => None,
            Err(crossbeam_channel::TryRecvError::Disconnected) => Some(Vec::new()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_become_the_commands_they_ask_for() {
        let a = PathBuf::from("a");
        let b = PathBuf::from("b");
        assert_eq!(
            Dialog::SaveGif.answer(Vec::new()),
            None,
            "a cancelled dialog asks nothing"
        );
        assert_eq!(
            Dialog::ImportFiles.answer(vec![a.clone(), b.clone()]),
            Some(Command::Import(vec![a.clone(), b.clone()]))
        );
        assert_eq!(
            Dialog::NewProject.answer(vec![a.clone()]),
            Some(Command::OpenProject {
                root: a.clone(),
                create: true
            })
        );
        assert_eq!(
            Dialog::ExploreRun.answer(vec![a.clone()]),
            Some(Command::LoadGenerator(GeneratorSource::Run(a.clone())))
        );
        assert_eq!(
            Dialog::SavePng.answer(vec![a.clone()]),
            Some(Command::Export(ExportKind::Png, a))
        );
        assert_eq!(
            Dialog::DetectorWeights.answer(vec![b.clone()]),
            Some(Command::UseDetector(DetectorChoice::Garments(b)))
        );
        assert!(Dialog::SaveLatents.starts_in_exports() && !Dialog::OpenRun.starts_in_exports());
    }
}
