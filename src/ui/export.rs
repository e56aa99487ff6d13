//! The Export tab: image grids (PNG) of any selection of the explorer, interpolation
//! animations (GIF), and latent vectors as JSON (export and import). Every export renders and
//! writes in a worker, atomically, with a progress bar and Cancel, and says where it went.
//!
//! The tab reads the explorer's latent model as plain data (a copy the window hands it each
//! frame), so it works whichever tab was visited first.

use std::path::{Path, PathBuf};

use candle_core::Device;

use crate::datasets::Format;
use crate::datasets::export::{ExportError as AnnotationsError, export_annotations};
use crate::export::animation::AnimationOptions;
use crate::export::grid::{GridLayout, Upscale};
use crate::export::render::{Picture, RenderError, preview, write_picture};
use crate::gan::sampler::GeneratorSource;
use crate::jobs::{self, JobError, JobHandle};
use crate::latent::explorer::{AnimationPath, Explorer, Selection};
use crate::latent::file::LatentFile;
use crate::latent::sample::Sample;
use crate::project::Project;

use super::Tab;
use super::dialogs::Dialog;
use super::follow::Follow;
use super::jobs_bar::JobView;
use super::tab::{Command, Commands, Status, StudioTab, restore_form, save_form};
use super::widgets::{placeholder, status_ui, upload_texture};

/// The longest side of a grid preview, in pixels (larger grids are shown shrunk).
const PREVIEW_MAX_SIDE: u32 = 2048;

/// Which export the preview shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PreviewOf {
    #[default]
    Grid,
    Animation,
}

/// What a preview depends on: the generator, the latents and how they are laid out.
#[derive(Debug, Clone, PartialEq)]
struct PreviewKey {
    source: GeneratorSource,
    latents: Vec<Vec<f32>>,
    picture: Picture,
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
    pub annotations: Format,
    /// Only accepted images and their reviewed boxes.
    pub annotations_reviewed_only: bool,
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
            annotations: Format::Coco,
            annotations_reviewed_only: false,
        }
    }
}

/// Which file an export writes (or, for latents, reads).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportKind {
    Png,
    Gif,
    Latents,
    LoadLatents,
    /// The project's boxes in the form's annotation format, into a folder.
    Annotations,
}

/// What a finished export job hands back.
enum Exported {
    Written(PathBuf),
    Read(Vec<Sample>),
}

#[derive(Default)]
pub struct ExportTab {
    pub form: ExportForm,
    explorer: Explorer,
    source: GeneratorSource,
    project: Option<Project>,
    running: Option<JobHandle<(), Exported>>,
    status: Option<Status>,
    /// Which export the preview shows.
    pub preview_of: PreviewOf,
    /// The preview's pictures (one grid, or the animation's frames), rendered in a worker.
    preview: Follow<PreviewKey, Vec<egui::TextureHandle>>,
    /// Whether the tab was drawn at the last frame: the preview renders only while it shows.
    on_screen: bool,
}

impl ExportTab {
    const FORM_KEY: &'static str = "deepstyle-export-form";

    /// The last export's outcome.
    pub fn status(&self) -> Option<&Status> {
        self.status.as_ref()
    }

    pub fn is_busy(&self) -> bool {
        self.running.is_some()
    }

    /// The newest preview's pictures: their count and the first one's size in pixels.
    pub fn preview_shown(&self) -> Option<(usize, [usize; 2])> {
        let textures = self.preview.latest()?.as_ref().ok()?;
        Some((textures.len(), textures.first()?.size()))
    }

    /// Whether the preview shows the form's current settings.
    pub fn preview_is_current(&self) -> bool {
        self.preview_key()
            .is_some_and(|key| self.preview.for_key(&key).is_some())
    }

    /// The picture the preview should show now, `None` when there is nothing to show.
    fn preview_key(&self) -> Option<PreviewKey> {
        let form = &self.form;
        let (latents, picture) = match self.preview_of {
            PreviewOf::Grid => {
                let selection = self.explorer.selection(form.selection);
                let captions = if form.captions {
                    selection.iter().map(Sample::caption).collect()
                } else {
                    Vec::new()
                };
                let latents = selection.into_iter().map(|s| s.z).collect();
                let layout = form.layout;
                (latents, Picture::Grid { layout, captions })
            }
            PreviewOf::Animation => {
                let latents = self
                    .explorer
                    .animation_latents(form.animation_path, form.frames);
                // Delay and looping only change the playback; the frames stay.
                let options = AnimationOptions {
                    ping_pong: form.animation.ping_pong,
                    ..AnimationOptions::default()
                };
                let picture = Picture::Animation { options, scale: 1 };
                (latents, picture)
            }
        };
        let enough = match self.preview_of {
            PreviewOf::Grid => 1,
            PreviewOf::Animation => 2,
        };
        (latents.len() >= enough).then(|| PreviewKey {
            source: self.source.clone(),
            latents,
            picture,
        })
    }

    fn follow_preview(&mut self, ctx: &egui::Context) {
        let key = self.preview_key();
        self.preview.logic(ctx, key, |key| {
            let key = key.clone();
            let repaint = ctx.clone();
            let ctx = ctx.clone();
            jobs::spawn(
                "Preview the export",
                move || repaint.request_repaint(),
                move |job| {
                    let generator = key.source.load(&Device::Cpu).map_err(JobError::Failed)?;
                    let images = preview(
                        &generator,
                        &key.latents,
                        &key.picture,
                        PREVIEW_MAX_SIDE,
                        job,
                    )
                    .map_err(|e| match e {
                        RenderError::Cancelled => JobError::Cancelled,
                        other => JobError::failed(&other),
                    })?;
                    Ok(images
                        .iter()
                        .enumerate()
                        .map(|(i, image)| {
                            upload_texture(
                                &ctx,
                                format!("export-preview-{i}"),
                                image,
                                egui::TextureOptions::NEAREST,
                            )
                        })
                        .collect())
                },
            )
        });
    }

    /// The preview: the grid as it will be written, or the animation playing at its speed.
    fn preview_ui(&mut self, ui: &mut egui::Ui, commands: &mut Commands) {
        ui.horizontal(|ui| {
            ui.heading("Preview");
            ui.radio_value(&mut self.preview_of, PreviewOf::Grid, "grid");
            ui.radio_value(&mut self.preview_of, PreviewOf::Animation, "animation");
            if self.preview.is_working() {
                ui.spinner();
            }
        });
        let Some(key) = self.preview_key() else {
            ui.add_space(12.0);
            ui.label(match self.preview_of {
                PreviewOf::Grid => "Nothing selected: pick samples or star favourites in Explore.",
                PreviewOf::Animation => {
                    "An animation needs two picks, or two favourites to loop through."
                }
            });
            if ui.button("Open Explore").clicked() {
                commands.push(Command::ShowTab(Tab::Explore));
            }
            return;
        };
        let textures = match self.preview.latest() {
            Some(Ok(textures)) if !textures.is_empty() => textures,
            Some(Err(e)) => {
                ui.colored_label(ui.visuals().error_fg_color, format!("No preview: {e}"));
                return;
            }
            _ => {
                let side = ui.available_width().min(ui.available_height()).max(64.0);
                let (rect, _) =
                    ui.allocate_exact_size(egui::vec2(side, side), egui::Sense::hover());
                placeholder(ui, rect, Some("Rendering…"));
                return;
            }
        };
        let texture = match key.picture {
            Picture::Grid { .. } => &textures[0],
            Picture::Animation { .. } => {
                let delay = self.form.animation.frame_delay_ms.max(10) as f64 / 1000.0;
                let elapsed = ui.input(|i| i.time);
                let step = (elapsed / delay) as usize;
                let index = if self.form.animation.looping {
                    step % textures.len()
                } else {
                    step.min(textures.len() - 1)
                };
                ui.ctx()
                    .request_repaint_after(std::time::Duration::from_secs_f64(delay));
                &textures[index]
            }
        };
        let room = ui.available_size();
        let size = texture.size_vec2();
        let fit = (room.x / size.x).min(room.y / size.y).max(0.01);
        ui.add(
            egui::Image::new((texture.id(), size * fit))
                .alt_text(format!("export preview {}x{}", size.x, size.y)),
        );
    }

    /// Takes the explorer's latents and generator (plain data, copied).
    pub fn follow(&mut self, explorer: &Explorer, source: &GeneratorSource) {
        self.explorer.clone_from(explorer);
        self.source.clone_from(source);
    }

    /// Starts an export (or a latent import) with `path`, as the file dialog does once the user
    /// has chosen it.
    pub fn start(&mut self, ctx: &egui::Context, kind: ExportKind, path: PathBuf) {
        if self.running.is_some() {
            self.status = Some(Status::error("An export is running: wait or cancel it."));
            return;
        }
        let title = format!(
            "{} {}",
            if kind == ExportKind::LoadLatents {
                "Import"
            } else {
                "Export"
            },
            file_name(&path)
        );
        let source = self.source.clone();
        let form = self.form.clone();
        let selection = self.explorer.selection(form.selection);
        type Work =
            Box<dyn FnOnce(&jobs::JobContext<(), Exported>) -> Result<Exported, JobError> + Send>;
        let work: Work = match kind {
            ExportKind::Png => {
                let captions = if form.captions {
                    selection.iter().map(Sample::caption).collect()
                } else {
                    Vec::new()
                };
                let latents = selection.into_iter().map(|s| s.z).collect();
                let picture = Picture::Grid {
                    layout: form.layout,
                    captions,
                };
                Box::new(move |job| draw(&source, latents, &picture, path, job))
            }
            ExportKind::Gif => {
                let latents = self
                    .explorer
                    .animation_latents(form.animation_path, form.frames);
                let picture = Picture::Animation {
                    options: form.animation,
                    scale: form.animation_scale,
                };
                Box::new(move |job| draw(&source, latents, &picture, path, job))
            }
            ExportKind::Latents => {
                let file = LatentFile::new(&source.label(), self.explorer.input_len(), selection);
                Box::new(move |_job| {
                    file.save(&path).map_err(|e| JobError::failed(&e))?;
                    Ok(Exported::Written(path))
                })
            }
            ExportKind::LoadLatents => Box::new(move |_job| {
                let file = LatentFile::load(&path).map_err(|e| JobError::failed(&e))?;
                Ok(Exported::Read(file.latents))
            }),
            ExportKind::Annotations => {
                let Some(project) = self.project.clone() else {
                    self.status = Some(Status::error("Open a project to export its boxes."));
                    return;
                };
                let (format, reviewed_only) = (form.annotations, form.annotations_reviewed_only);
                Box::new(move |job| {
                    export_annotations(&project, format, &path, reviewed_only, job).map_err(
                        |e| match e {
                            AnnotationsError::Cancelled => JobError::Cancelled,
                            other => JobError::failed(&other),
                        },
                    )?;
                    Ok(Exported::Written(path))
                })
            }
        };
        let ctx = ctx.clone();
        self.status = None;
        self.running = Some(jobs::spawn(title, move || ctx.request_repaint(), work));
    }

    fn form_ui(&mut self, ui: &mut egui::Ui, commands: &mut Commands) {
        let busy = self.running.is_some();
        ui.label(format!("Generator: {}", self.source.label()));
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
        let count = self.explorer.selection(form.selection).len();
        ui.label(format!("{count} image(s)"));
        if form.selection == Selection::SeedGrid {
            // Explore's grid shape, so a grid of one row a category keeps its rows.
            let (_, cols) = self.explorer.grid_shape();
            if form.layout.cols != cols
                && ui
                    .button(format!("{cols} columns, as in Explore"))
                    .clicked()
            {
                form.layout.cols = cols;
            }
        }
        ui.horizontal_wrapped(|ui| {
            ui.add(egui::Slider::new(&mut form.layout.cols, 1..=16).text("columns"));
            ui.add(egui::Slider::new(&mut form.layout.padding, 0..=32).text("padding"));
        });
        ui.horizontal_wrapped(|ui| {
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
            commands.push(Command::Ask(Dialog::SavePng));
        }
        ui.separator();
        ui.heading("Animation (GIF)");
        ui.horizontal_wrapped(|ui| {
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
        ui.horizontal_wrapped(|ui| {
            ui.add(egui::Slider::new(&mut form.frames, 2..=120).text("frames per leg"));
            ui.add(
                egui::Slider::new(&mut form.animation.frame_delay_ms, 20..=1000)
                    .text("ms per frame"),
            );
            ui.add(egui::Slider::new(&mut form.animation_scale, 1..=16).text("upscale"));
        });
        ui.horizontal_wrapped(|ui| {
            ui.checkbox(&mut form.animation.looping, "loop");
            ui.checkbox(&mut form.animation.ping_pong, "forward and back");
        });
        let frames = self
            .explorer
            .animation_latents(form.animation_path, form.frames)
            .len();
        if ui
            .add_enabled(!busy && frames >= 2, egui::Button::new("Export GIF…"))
            .on_disabled_hover_text("Pick two samples, or keep two favourites")
            .clicked()
        {
            commands.push(Command::Ask(Dialog::SaveGif));
        }
        ui.separator();
        ui.heading("Latent vectors (JSON)");
        ui.horizontal_wrapped(|ui| {
            if ui
                .add_enabled(
                    !busy && count > 0,
                    egui::Button::new("Export selection's latents…"),
                )
                .clicked()
            {
                commands.push(Command::Ask(Dialog::SaveLatents));
            }
            if ui
                .add_enabled(!busy, egui::Button::new("Import latents as picks…"))
                .clicked()
            {
                commands.push(Command::Ask(Dialog::LoadLatents));
            }
        });
        ui.separator();
        ui.heading("Boxes (COCO, YOLO, Pascal VOC)");
        ui.horizontal_wrapped(|ui| {
            for format in Format::ALL {
                ui.radio_value(&mut self.form.annotations, format, format.name());
            }
            ui.checkbox(
                &mut self.form.annotations_reviewed_only,
                "accepted images only",
            );
        });
        if ui
            .add_enabled(
                !busy && self.project.is_some(),
                egui::Button::new("Export boxes…"),
            )
            .on_hover_text("The project's boxes, with the images copied beside them")
            .clicked()
        {
            commands.push(Command::Ask(Dialog::SaveAnnotations));
        }
        if let Some(status) = &self.status {
            ui.separator();
            status_ui(ui, status);
        }
    }
}

impl StudioTab for ExportTab {
    fn logic(&mut self, ctx: &egui::Context, project: Option<&Project>, commands: &mut Commands) {
        if self.project.as_ref().map(Project::root) != project.map(Project::root) {
            self.project = project.cloned();
        }
        if std::mem::take(&mut self.on_screen) {
            self.follow_preview(ctx);
        }
        let Some(job) = &mut self.running else {
            return;
        };
        job.poll();
        let Some(outcome) = job.take_outcome() else {
            return;
        };
        let title = job.title().to_string();
        self.running = None;
        self.status = Some(match outcome {
            Ok(Exported::Written(path)) => Status::info(format!("Exported {}", path.display())),
            Ok(Exported::Read(samples)) => {
                let count = samples.len();
                commands.push(Command::UsePicks(samples));
                Status::info(format!(
                    "{title}: {count} latent vector(s) added to the Explore tab's picks"
                ))
            }
            Err(e) => Status {
                text: format!("{title}: {e}"),
                is_error: e != JobError::Cancelled,
            },
        });
    }

    fn ui(&mut self, ui: &mut egui::Ui, commands: &mut Commands) {
        self.on_screen = true;
        egui::Panel::right("export-preview")
            .resizable(true)
            .default_size(ui.available_width() * 0.38)
            .show(ui, |ui| self.preview_ui(ui, commands));
        egui::CentralPanel::default().show(ui, |ui| {
            egui::ScrollArea::vertical().show(ui, |ui| self.form_ui(ui, commands));
        });
    }

    fn jobs(&self) -> Vec<&dyn JobView> {
        let mut jobs: Vec<&dyn JobView> = Vec::new();
        if let Some(job) = &self.running {
            jobs.push(job);
        }
        if let Some(job) = self.preview.job() {
            jobs.push(job);
        }
        jobs
    }

    fn save(&self, storage: &mut dyn eframe::Storage) {
        save_form(storage, Self::FORM_KEY, &self.form);
    }

    fn restore(&mut self, storage: &dyn eframe::Storage) {
        if let Some(form) = restore_form(storage, Self::FORM_KEY) {
            self.form = form;
        }
    }
}

/// Loads the generator afresh in this worker, renders and writes the picture.
fn draw(
    source: &GeneratorSource,
    latents: Vec<Vec<f32>>,
    picture: &Picture,
    path: PathBuf,
    job: &jobs::JobContext<(), Exported>,
) -> Result<Exported, JobError> {
    let generator = source.load(&Device::Cpu).map_err(JobError::Failed)?;
    match write_picture(&generator, &latents, picture, &path, job) {
        Ok(()) => Ok(Exported::Written(path)),
        Err(RenderError::Cancelled) => Err(JobError::Cancelled),
        Err(other) => Err(JobError::failed(&other)),
    }
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}
