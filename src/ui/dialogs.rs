//! Native file dialogs (rfd) run on their own thread, so the frame loop never waits on them.

use std::path::PathBuf;

use crossbeam_channel::Receiver;

/// What the user is picking a path for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogPurpose {
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
}

/// A dialog open on another thread; `poll` returns the picked paths once it closes.
pub struct PendingDialog {
    pub purpose: DialogPurpose,
    rx: Receiver<Vec<PathBuf>>,
}

impl PendingDialog {
    /// Opens the dialog for `purpose`, starting in `directory` when given.
    pub fn open(
        purpose: DialogPurpose,
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
                DialogPurpose::NewProject => dialog
                    .set_title("Choose an empty folder for the new project")
                    .pick_folder()
                    .into_iter()
                    .collect(),
                DialogPurpose::OpenProject => dialog
                    .set_title("Open a DeepStyle project folder")
                    .pick_folder()
                    .into_iter()
                    .collect(),
                DialogPurpose::ImportFiles => dialog
                    .set_title("Import images")
                    .add_filter("Images", &["jpg", "jpeg", "png", "webp", "bmp", "gif"])
                    .pick_files()
                    .unwrap_or_default(),
                DialogPurpose::OpenRun => dialog
                    .set_title("Open a training run folder")
                    .pick_folder()
                    .into_iter()
                    .collect(),
                DialogPurpose::ExploreRun => dialog
                    .set_title("Explore the generator of a training run")
                    .pick_folder()
                    .into_iter()
                    .collect(),
                DialogPurpose::GeneratorFile => dialog
                    .set_title("Open a generator")
                    .add_filter("Generator weights", &["safetensors"])
                    .pick_file()
                    .into_iter()
                    .collect(),
                DialogPurpose::SavePng => dialog
                    .set_title("Export the grid")
                    .set_file_name("grid.png")
                    .add_filter("PNG image", &["png"])
                    .save_file()
                    .into_iter()
                    .collect(),
                DialogPurpose::SaveGif => dialog
                    .set_title("Export the animation")
                    .set_file_name("walk.gif")
                    .add_filter("GIF animation", &["gif"])
                    .save_file()
                    .into_iter()
                    .collect(),
                DialogPurpose::SaveLatents => dialog
                    .set_title("Export latent vectors")
                    .set_file_name("latents.json")
                    .add_filter("Latent vectors", &["json"])
                    .save_file()
                    .into_iter()
                    .collect(),
                DialogPurpose::LoadLatents => dialog
                    .set_title("Import latent vectors")
                    .add_filter("Latent vectors", &["json"])
                    .pick_file()
                    .into_iter()
                    .collect(),
                DialogPurpose::ImportFolder => dialog
                    .set_title("Import a folder of images")
                    .pick_folders()
                    .unwrap_or_default(),
            };
            let _ = tx.send(picked);
            notify();
        });
        PendingDialog { purpose, rx }
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
