//! The Export tab: image grids (PNG) of any selection of the explorer, interpolation
//! animations (GIF), and latent vectors as JSON (export and import). Every export renders and
//! writes in a worker, atomically, with a progress bar and Cancel, and says where it went.

use std::path::{Path, PathBuf};

use candle_core::Device;

use super::explore::{ExploreTab, Pick, favourite_name};
use crate::export::animation::{AnimationOptions, encode_gif};
use crate::export::grid::{GridLayout, Upscale, tile_captioned};
use crate::gan::sampler::GeneratorSource;
use crate::jobs::{self, JobError, JobHandle, Progress, Reporter};
use crate::latent::file::{LatentEntry, LatentFile};
use crate::latent::interp;

/// Which of the explorer's pictures to export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Selection {
    SeedGrid,
    Path,
    Corners,
    Picks,
    Favourites,
}

impl Selection {
    pub const ALL: [Selection; 5] = [
        Selection::SeedGrid,
        Selection::Path,
        Selection::Corners,
        Selection::Picks,
        Selection::Favourites,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Selection::SeedGrid => "Seed grid",
            Selection::Path => "Interpolation strip",
            Selection::Corners => "Corner grid",
            Selection::Picks => "Picked samples",
            Selection::Favourites => "Favourites",
        }
    }
}

/// What the animation walks through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum AnimationPath {
    /// Between the first two picks.
    Picks,
    /// Around the favourites, back to the first.
    FavouritesLoop,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct ExportForm {
    pub selection: Selection,
    pub layout: GridLayout,
    pub captions: bool,
    pub animation: AnimationOptions,
    pub animation_path: AnimationPath,
    /// Frames from one garment to the next.
    pub frames: usize,
    pub animation_scale: u32,
}

impl Default for ExportForm {
    fn default() -> Self {
        ExportForm {
            selection: Selection::SeedGrid,
            layout: GridLayout {
                scale: 2,
                ..GridLayout::default()
            },
            captions: true,
            animation: AnimationOptions::default(),
            animation_path: AnimationPath::Picks,
            frames: 24,
            animation_scale: 4,
        }
    }
}

/// What the tab asks the window for (file dialogs live in the app).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportAction {
    SavePng,
    SaveGif,
    SaveLatents,
    LoadLatents,
}

/// The latents and captions of a selection.
pub fn selection_picks(explore: &ExploreTab, selection: Selection) -> Vec<Pick> {
    let unnamed = |z: Vec<f32>| Pick {
        seed: None,
        z,
        label: String::new(),
    };
    match selection {
        Selection::SeedGrid => explore.grid_picks(),
        Selection::Path => explore
            .path_latents(explore.steps)
            .into_iter()
            .map(unnamed)
            .collect(),
        Selection::Corners => explore.corner_latents().into_iter().map(unnamed).collect(),
        Selection::Picks => explore.picks().to_vec(),
        Selection::Favourites => explore
            .favourites()
            .iter()
            .map(|f| Pick {
                seed: f.seed,
                z: f.z.clone(),
                label: favourite_name(f),
            })
            .collect(),
    }
}

/// The frames' latents of an animation.
pub fn animation_latents(
    explore: &ExploreTab,
    path: AnimationPath,
    frames: usize,
) -> Vec<Vec<f32>> {
    let frames = frames.clamp(2, 500);
    match path {
        AnimationPath::Picks => explore.path_latents(frames),
        AnimationPath::FavouritesLoop => {
            let ends: Vec<&Vec<f32>> = explore.favourites().iter().map(|f| &f.z).collect();
            if ends.len() < 2 {
                return Vec::new();
            }
            let mut latents = Vec::new();
            for (i, a) in ends.iter().enumerate() {
                let b = ends[(i + 1) % ends.len()];
                let mut leg = interp::path(a, b, frames, explore.mode);
                leg.pop(); // the next leg starts there
                latents.extend(leg);
            }
            latents
        }
    }
}

enum Running {
    Write(JobHandle<(), PathBuf>),
    Import(JobHandle<(), Vec<Pick>>),
}

#[derive(Default)]
pub struct ExportTab {
    pub form: ExportForm,
    running: Option<Running>,
    message: Option<(String, bool)>,
}

impl ExportTab {
    pub fn message(&self) -> Option<&(String, bool)> {
        self.message.as_ref()
    }

    pub fn is_busy(&self) -> bool {
        self.running.is_some()
    }

    /// The running job's row for the status bar.
    pub fn job_row(&self) -> Option<(&str, Option<&Progress>, bool)> {
        match &self.running {
            Some(Running::Write(job)) => {
                Some((job.title(), job.progress(), job.is_cancel_requested()))
            }
            Some(Running::Import(job)) => {
                Some((job.title(), job.progress(), job.is_cancel_requested()))
            }
            None => None,
        }
    }

    pub fn cancel(&self) {
        match &self.running {
            Some(Running::Write(job)) => job.cancel(),
            Some(Running::Import(job)) => job.cancel(),
            None => {}
        }
    }

    /// Drains the running job; imported picks go to the explorer.
    pub fn poll(&mut self, explore: &mut ExploreTab) {
        let Some(running) = &mut self.running else {
            return;
        };
        let message = match running {
            Running::Write(job) => {
                job.poll();
                job.take_outcome().map(|outcome| match outcome {
                    Ok(path) => (format!("Exported {}", path.display()), false),
                    Err(e) => (format!("{}: {e}", job.title()), e != JobError::Cancelled),
                })
            }
            Running::Import(job) => {
                job.poll();
                job.take_outcome().map(|outcome| match outcome {
                    Ok(picks) => {
                        let total = picks.len();
                        let used = explore.import_picks(picks);
                        let skipped = total - used;
                        let note = if skipped > 0 {
                            format!(" ({skipped} skipped: another z size than this generator's)")
                        } else {
                            String::new()
                        };
                        (
                            format!("Imported {used} latent vector(s) as picks{note}"),
                            skipped > 0,
                        )
                    }
                    Err(e) => (format!("{}: {e}", job.title()), e != JobError::Cancelled),
                })
            }
        };
        if let Some(message) = message {
            self.message = Some(message);
            self.running = None;
        }
    }

    pub fn export_ui(&mut self, ui: &mut egui::Ui, explore: &ExploreTab) -> Option<ExportAction> {
        let mut action = None;
        let busy = self.running.is_some();
        ui.label(format!("Generator: {}", explore.source().label()));
        ui.separator();
        ui.heading("Image grid (PNG)");
        let form = &mut self.form;
        egui::ComboBox::from_label("Selection")
            .selected_text(form.selection.name())
            .show_ui(ui, |ui| {
                for selection in Selection::ALL {
                    ui.selectable_value(&mut form.selection, selection, selection.name());
                }
            });
        let count = selection_picks(explore, form.selection).len();
        ui.label(format!("{count} image(s)"));
        ui.horizontal(|ui| {
            ui.add(egui::Slider::new(&mut form.layout.cols, 1..=16).text("columns"));
            ui.add(egui::Slider::new(&mut form.layout.padding, 0..=32).text("padding"));
        });
        ui.horizontal(|ui| {
            ui.label("Background");
            ui.color_edit_button_srgba_unmultiplied(&mut form.layout.background);
            ui.add(egui::Slider::new(&mut form.layout.scale, 1..=16).text("upscale"));
            ui.radio_value(&mut form.layout.filter, Upscale::Nearest, "nearest");
            ui.radio_value(&mut form.layout.filter, Upscale::Lanczos, "Lanczos");
            ui.checkbox(&mut form.captions, "captions");
        });
        if ui
            .add_enabled(!busy && count > 0, egui::Button::new("Export PNG…"))
            .clicked()
        {
            action = Some(ExportAction::SavePng);
        }
        ui.separator();
        ui.heading("Animation (GIF)");
        ui.horizontal(|ui| {
            ui.radio_value(
                &mut form.animation_path,
                AnimationPath::Picks,
                "between the first two picks",
            );
            ui.radio_value(
                &mut form.animation_path,
                AnimationPath::FavouritesLoop,
                "loop through favourites",
            );
        });
        ui.horizontal(|ui| {
            ui.add(egui::Slider::new(&mut form.frames, 2..=120).text("frames per leg"));
            ui.add(
                egui::Slider::new(&mut form.animation.frame_delay_ms, 20..=1000)
                    .text("ms per frame"),
            );
            ui.add(egui::Slider::new(&mut form.animation_scale, 1..=16).text("upscale"));
        });
        ui.horizontal(|ui| {
            ui.checkbox(&mut form.animation.looping, "loop");
            ui.checkbox(&mut form.animation.ping_pong, "forward and back");
        });
        let frames = animation_latents(explore, form.animation_path, form.frames).len();
        if ui
            .add_enabled(!busy && frames >= 2, egui::Button::new("Export GIF…"))
            .on_disabled_hover_text("Pick two samples, or keep two favourites")
            .clicked()
        {
            action = Some(ExportAction::SaveGif);
        }
        ui.separator();
        ui.heading("Latent vectors (JSON)");
        ui.horizontal(|ui| {
            if ui
                .add_enabled(
                    !busy && count > 0,
                    egui::Button::new("Export selection's latents…"),
                )
                .clicked()
            {
                action = Some(ExportAction::SaveLatents);
            }
            if ui
                .add_enabled(!busy, egui::Button::new("Import latents as picks…"))
                .clicked()
            {
                action = Some(ExportAction::LoadLatents);
            }
        });
        if let Some((text, is_error)) = &self.message {
            ui.separator();
            if *is_error {
                ui.colored_label(ui.visuals().error_fg_color, text);
            } else {
                ui.label(text);
            }
        }
        action
    }

    /// Renders the selection and writes the grid to `path` in a worker.
    pub fn start_png(&mut self, ctx: &egui::Context, path: PathBuf, explore: &ExploreTab) {
        let picks = selection_picks(explore, self.form.selection);
        let captions: Vec<String> = if self.form.captions {
            picks.iter().map(Pick::caption).collect()
        } else {
            Vec::new()
        };
        let latents: Vec<Vec<f32>> = picks.into_iter().map(|p| p.z).collect();
        let layout = self.form.layout;
        let source = explore.source().clone();
        self.start_write(
            ctx,
            format!("Export {}", file_name(&path)),
            path,
            move |job, path| {
                let images = render(&source, &latents, job)?;
                let grid = tile_captioned(&images, &captions, &layout);
                let png = crate::imaging::encode_png(&grid)
                    .map_err(|e| JobError::Failed(e.to_string()))?;
                write(path, &png)
            },
        );
    }

    /// Renders the animation's frames and writes the GIF to `path` in a worker.
    pub fn start_gif(&mut self, ctx: &egui::Context, path: PathBuf, explore: &ExploreTab) {
        let latents = animation_latents(explore, self.form.animation_path, self.form.frames);
        let options = self.form.animation;
        let scale = self.form.animation_scale.clamp(1, 16);
        let source = explore.source().clone();
        self.start_write(
            ctx,
            format!("Export {}", file_name(&path)),
            path,
            move |job, path| {
                let frames: Vec<image::RgbaImage> = render(&source, &latents, job)?
                    .iter()
                    .map(|f| {
                        image::imageops::resize(
                            f,
                            f.width() * scale,
                            f.height() * scale,
                            image::imageops::FilterType::Nearest,
                        )
                    })
                    .collect();
                job.progress(1, 1, "encoding the GIF");
                let gif =
                    encode_gif(&frames, &options).map_err(|e| JobError::Failed(e.to_string()))?;
                write(path, &gif)
            },
        );
    }

    /// Writes the selection's latent vectors as JSON in a worker.
    pub fn start_latents(&mut self, ctx: &egui::Context, path: PathBuf, explore: &ExploreTab) {
        let picks = selection_picks(explore, self.form.selection);
        let z_dim = explore.info().map_or(0, |i| i.z_dim);
        let file = LatentFile::new(
            &explore.source().label(),
            z_dim,
            picks
                .into_iter()
                .map(|p| LatentEntry {
                    seed: p.seed,
                    label: p.label,
                    z: p.z,
                })
                .collect(),
        );
        self.start_write(
            ctx,
            format!("Export {}", file_name(&path)),
            path,
            move |_job, path| {
                file.save(path).map_err(|e| JobError::failed(&e))?;
                Ok(())
            },
        );
    }

    /// Reads a latent file in a worker; its vectors become picks.
    pub fn start_import(&mut self, ctx: &egui::Context, path: PathBuf) {
        let ctx = ctx.clone();
        self.running = Some(Running::Import(jobs::spawn(
            format!("Import {}", file_name(&path)),
            move || ctx.request_repaint(),
            move |_job| {
                let file = LatentFile::load(&path).map_err(|e| JobError::failed(&e))?;
                Ok(file
                    .latents
                    .into_iter()
                    .map(|e| Pick {
                        seed: e.seed,
                        z: e.z,
                        label: e.label,
                    })
                    .collect())
            },
        )));
    }

    fn start_write(
        &mut self,
        ctx: &egui::Context,
        title: String,
        path: PathBuf,
        work: impl FnOnce(&jobs::JobContext<(), PathBuf>, &Path) -> Result<(), JobError>
        + Send
        + 'static,
    ) {
        let ctx = ctx.clone();
        self.message = None;
        self.running = Some(Running::Write(jobs::spawn(
            title,
            move || ctx.request_repaint(),
            move |job| {
                work(job, &path)?;
                Ok(path)
            },
        )));
    }
}

/// Loads the generator afresh in this worker and renders `latents` in chunks, with progress
/// and cancel between chunks.
fn render(
    source: &GeneratorSource,
    latents: &[Vec<f32>],
    job: &dyn Reporter,
) -> Result<Vec<image::RgbaImage>, JobError> {
    let generator = source.load(&Device::Cpu).map_err(JobError::Failed)?;
    let mut images = Vec::with_capacity(latents.len());
    for chunk in latents.chunks(16) {
        job.check_cancel()?;
        job.progress(images.len() as u64, latents.len() as u64, "rendering");
        images.extend(
            generator
                .images_for_latents(chunk)
                .map_err(|e| JobError::Failed(e.to_string()))?,
        );
    }
    job.check_cancel()?;
    Ok(images)
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), JobError> {
    crate::atomic::write_atomic(path, bytes)
        .map_err(|e| JobError::Failed(format!("cannot write {}: {e}", path.display())))
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}
