//! The Library view: a virtualised grid of thumbnails (only visible rows are laid out, only
//! visible tiles are loaded) and a details panel for the selected image.

use std::collections::HashMap;

use crate::jobs::{self, JobError, JobHandle};
use crate::project::provenance::Provenance;
use crate::project::thumbs::{ThumbLoader, ThumbRequest};
use crate::project::{ImageRow, Project};

use super::app::Tab;
use super::detect::DetectScope;
use super::dialogs::Dialog;
use super::jobs_bar::JobView;
use super::tab::{Command, Commands, Status, StudioTab};
use super::widgets::{status_ui, upload_texture};

/// Textures kept beyond the visible ones before the least recently drawn are dropped.
const TEXTURE_BUDGET: usize = 2_000;
const TILE_GAP: f32 = 6.0;

/// The catalog's images and the provenance of the scraped ones.
type Listing = (Vec<ImageRow>, HashMap<i64, Provenance>);

pub struct LibraryView {
    project: Option<Project>,
    listing: Option<JobHandle<(), Listing>>,
    /// The catalog changed while it was being read: read it again when that read ends.
    stale: bool,
    status: Option<Status>,
    images: Vec<ImageRow>,
    /// Where scraped images came from, by image id.
    provenance: HashMap<i64, Provenance>,
    loader: Option<ThumbLoader>,
    textures: HashMap<String, (egui::TextureHandle, u64)>,
    failed: HashMap<String, String>,
    selected: Option<usize>,
    tile_side: f32,
    frame: u64,
}

impl Default for LibraryView {
    fn default() -> Self {
        LibraryView {
            project: None,
            listing: None,
            stale: false,
            status: None,
            images: Vec::new(),
            provenance: HashMap::new(),
            loader: None,
            textures: HashMap::new(),
            failed: HashMap::new(),
            selected: None,
            tile_side: 120.0,
            frame: 0,
        }
    }
}

impl LibraryView {
    /// Points the view at a project (starting its thumbnail workers) and reads its images.
    fn set_project(&mut self, project: Option<&Project>, ctx: &egui::Context) {
        let repaint = ctx.clone();
        let threads = std::thread::available_parallelism()
            .map(|n| n.get().saturating_sub(1))
            .unwrap_or(1)
            .max(1);
        *self = LibraryView {
            loader: project.map(|project| {
                ThumbLoader::new(project.clone(), threads, move || repaint.request_repaint())
            }),
            project: project.cloned(),
            tile_side: self.tile_side,
            ..LibraryView::default()
        };
        self.refresh(ctx);
    }

    /// Reads the catalog's images again in a worker (after an import, say).
    pub fn refresh(&mut self, ctx: &egui::Context) {
        let Some(project) = self.project.clone() else {
            return;
        };
        if self.listing.is_some() {
            self.stale = true;
            return;
        }
        let ctx = ctx.clone();
        self.listing = Some(jobs::spawn(
            "Read the catalog",
            move || ctx.request_repaint(),
            move |_job| {
                let read = || {
                    let catalog = project.catalog()?;
                    Ok((catalog.list_images()?, catalog.provenances()?))
                };
                read().map_err(|e: crate::project::CatalogError| JobError::failed(&e))
            },
        ));
    }

    fn poll_listing(&mut self, ctx: &egui::Context) {
        let Some(job) = &mut self.listing else {
            return;
        };
        job.poll();
        let Some(outcome) = job.take_outcome() else {
            return;
        };
        let title = job.title().to_string();
        self.listing = None;
        match outcome {
            Ok((images, provenance)) => {
                self.status = None;
                self.provenance = provenance;
                self.set_images(images);
            }
            Err(e) => self.status = Some(Status::error(format!("{title}: {e}"))),
        }
        if std::mem::take(&mut self.stale) {
            self.refresh(ctx);
        }
    }

    /// Replaces the listed images (after a catalog read finished in a worker).
    pub fn set_images(&mut self, images: Vec<ImageRow>) {
        let selected_sha = self
            .selected
            .and_then(|i| self.images.get(i))
            .map(|r| r.sha256.clone());
        self.images = images;
        self.selected =
            selected_sha.and_then(|sha| self.images.iter().position(|r| r.sha256 == sha));
    }

    pub fn image_count(&self) -> usize {
        self.images.len()
    }

    /// How many thumbnails are on the GPU now.
    pub fn loaded_thumbnails(&self) -> usize {
        self.textures.len()
    }

    fn take_finished_thumbnails(&mut self, ctx: &egui::Context) {
        let Some(loader) = &self.loader else { return };
        for done in loader.finished() {
            match done.image {
                Ok(rgba) => {
                    let texture = upload_texture(
                        ctx,
                        format!("thumb-{}", done.sha256),
                        &rgba,
                        egui::TextureOptions::LINEAR,
                    );
                    self.textures.insert(done.sha256, (texture, self.frame));
                }
                Err(reason) => {
                    self.failed.insert(done.sha256, reason);
                }
            }
        }
    }

    fn evict_textures(&mut self) {
        if self.textures.len() <= TEXTURE_BUDGET {
            return;
        }
        let mut by_age: Vec<(u64, String)> = self
            .textures
            .iter()
            .map(|(sha, (_, last))| (*last, sha.clone()))
            .collect();
        by_age.sort_unstable();
        let excess = self.textures.len() - TEXTURE_BUDGET;
        for (_, sha) in by_age.into_iter().take(excess) {
            self.textures.remove(&sha);
        }
    }

    fn library_ui(&mut self, ui: &mut egui::Ui, commands: &mut Commands) {
        self.frame += 1;
        if let Some(status) = &self.status {
            status_ui(ui, status);
        }
        if self.project.is_none() {
            ui.label("Opening a project…");
            return;
        }
        if self.images.is_empty() {
            ui.vertical_centered(|ui| {
                ui.add_space(40.0);
                ui.heading("No images yet");
                ui.label(
                    "Scrape a Pinterest board or a runway page, import photos, or drop them \
                     onto the window.",
                );
                ui.horizontal(|ui| {
                    if ui.button("Collect from the web").clicked() {
                        commands.push(Command::ShowTab(Tab::Collect));
                    }
                    if ui.button("Import images…").clicked() {
                        commands.push(Command::Ask(Dialog::ImportFiles));
                    }
                });
            });
            return;
        }
        egui::Panel::right("library-details")
            .resizable(true)
            .default_size(260.0)
            .show(ui, |ui| self.details_ui(ui, commands));
        egui::CentralPanel::default().show(ui, |ui| {
            ui.horizontal(|ui| {
                ui.label(format!("{} images", self.images.len()));
                ui.add(
                    egui::Slider::new(&mut self.tile_side, 64.0..=240.0)
                        .text("Tile size")
                        .show_value(false),
                );
                if ui
                    .button("Detect")
                    .on_hover_text(
                        "Run the detector chosen in Review (the person detector unless you chose \
                         garment-detector weights) over every image not yet reviewed; the boxes \
                         appear in Review",
                    )
                    .clicked()
                {
                    commands.push(Command::Detect(DetectScope::Project));
                }
            });
            self.grid_ui(ui);
        });
        self.evict_textures();
    }

    fn grid_ui(&mut self, ui: &mut egui::Ui) {
        let cell = self.tile_side + TILE_GAP;
        let columns = ((ui.available_width() + TILE_GAP) / cell).floor().max(1.0) as usize;
        let rows = self.images.len().div_ceil(columns);
        let mut wanted: Vec<ThumbRequest> = Vec::new();
        let mut clicked = None;
        egui::ScrollArea::vertical()
            .auto_shrink([false, false])
            .show_rows(
                ui,
                cell - ui.spacing().item_spacing.y,
                rows,
                |ui, row_range| {
                    for row in row_range {
                        ui.horizontal(|ui| {
                            ui.spacing_mut().item_spacing.x = TILE_GAP;
                            let first = row * columns;
                            let last = (first + columns).min(self.images.len());
                            for index in first..last {
                                if self.tile_ui(ui, index, &mut wanted).clicked() {
                                    clicked = Some(index);
                                }
                            }
                        });
                    }
                },
            );
        if let Some(index) = clicked {
            self.selected = Some(index);
        }
        if let Some(loader) = &self.loader {
            // Load the top of the screen first: the workers pop from the end.
            wanted.reverse();
            loader.want(wanted);
        }
    }

    fn tile_ui(
        &mut self,
        ui: &mut egui::Ui,
        index: usize,
        wanted: &mut Vec<ThumbRequest>,
    ) -> egui::Response {
        let image = &self.images[index];
        let name = image
            .original_name
            .clone()
            .unwrap_or_else(|| image.sha256[..12].to_string());
        let size = egui::vec2(self.tile_side, self.tile_side);
        let selected = self.selected == Some(index);
        let response = if let Some((texture, last_drawn)) = self.textures.get_mut(&image.sha256) {
            *last_drawn = self.frame;
            ui.add(
                egui::Image::new((texture.id(), texture.size_vec2()))
                    .alt_text(name.clone())
                    .fit_to_exact_size(size)
                    .maintain_aspect_ratio(true)
                    .sense(egui::Sense::click()),
            )
        } else {
            let (rect, response) = ui.allocate_exact_size(size, egui::Sense::click());
            let painter = ui.painter();
            painter.rect_filled(rect, 4.0, ui.visuals().faint_bg_color);
            let note = if self.failed.contains_key(&image.sha256) {
                "unreadable"
            } else {
                wanted.push(ThumbRequest {
                    sha256: image.sha256.clone(),
                    relpath: image.path.clone(),
                });
                "loading…"
            };
            painter.text(
                rect.center(),
                egui::Align2::CENTER_CENTER,
                note,
                egui::FontId::proportional(11.0),
                ui.visuals().weak_text_color(),
            );
            response.widget_info(|| {
                egui::WidgetInfo::labeled(egui::Role::Image, true, format!("{name} ({note})"))
            });
            response
        };
        if selected {
            ui.painter().rect_stroke(
                response.rect.expand(2.0),
                4.0,
                ui.visuals().selection.stroke,
                egui::StrokeKind::Outside,
            );
        }
        response.on_hover_text(name)
    }

    fn details_ui(&mut self, ui: &mut egui::Ui, commands: &mut Commands) {
        ui.heading("Details");
        let Some(image) = self.selected.and_then(|i| self.images.get(i)) else {
            ui.label("Click an image to see where it came from.");
            return;
        };
        egui::Grid::new("image-details")
            .num_columns(2)
            .show(ui, |ui| {
                let mut row = |k: &str, v: String| {
                    ui.label(k);
                    ui.label(v);
                    ui.end_row();
                };
                row("Name", image.original_name.clone().unwrap_or_default());
                row("Size", format!("{} x {} px", image.width, image.height));
                row(
                    "Source",
                    image
                        .source_url
                        .clone()
                        .unwrap_or_else(|| image.source_kind.clone()),
                );
                if let Some(origin) = self.provenance.get(&image.id) {
                    row("Scraped from", origin.source_url.clone());
                    if let Some(page) = &origin.page_url {
                        row("Page", page.clone());
                    }
                    if let Some(pin) = &origin.pin_id {
                        row("Pin", pin.clone());
                    }
                    if let Some(title) = &origin.title {
                        row("Title", title.clone());
                    }
                    if let Some(description) = &origin.description {
                        row("Description", description.clone());
                    }
                    row("Fetched", origin.fetched_at.clone());
                }
                row("Added", image.added_at.clone());
                row("Status", image.status.clone());
                row("SHA-256", image.sha256[..16].to_string() + "…");
            });
        if ui.button("Detect in this image").clicked() {
            commands.push(Command::Detect(DetectScope::Images(vec![image.id])));
        }
        if let Some(reason) = self.failed.get(&image.sha256) {
            ui.colored_label(ui.visuals().error_fg_color, reason);
        }
    }
}

impl StudioTab for LibraryView {
    fn logic(&mut self, ctx: &egui::Context, project: Option<&Project>, _commands: &mut Commands) {
        if self.project.as_ref().map(Project::root) != project.map(Project::root) {
            self.set_project(project, ctx);
        }
        self.poll_listing(ctx);
        self.take_finished_thumbnails(ctx);
    }

    fn ui(&mut self, ui: &mut egui::Ui, commands: &mut Commands) {
        self.library_ui(ui, commands);
    }

    fn jobs(&self) -> Vec<&dyn JobView> {
        self.listing.iter().map(|j| j as &dyn JobView).collect()
    }
}
