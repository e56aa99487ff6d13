//! The Explore tab: browse what a generator makes (a seed grid with paging and truncation),
//! pick samples and walk between them (a lerp/slerp strip, a bilinear corner grid, a path slider
//! with a live preview and playback), edit the selected sample along latent directions or let it
//! wander, and keep favourites in the project catalog.
//!
//! Every picture comes from the [`Sampler`] worker; the frame only sends requests and uploads
//! the images that came back.

use std::collections::HashMap;
use std::path::PathBuf;

use candle_core::Device;

use crate::gan::sampler::{
    DirectionKind, GeneratorInfo, GeneratorSource, Sampler, SamplerReply, SamplerRequest, Slot,
};
use crate::jobs::{self, JobError, JobHandle};
use crate::latent::directions::{edit, walk_step};
use crate::latent::interp::{self, Mode};
use crate::latent::{SeededRng, seed_latent};
use crate::project::Project;
use crate::project::favourites::Favourite;

/// A picked sample: its latent vector, and the seed it came from if unedited.
#[derive(Debug, Clone, PartialEq)]
pub struct Pick {
    pub seed: Option<u64>,
    pub z: Vec<f32>,
    pub label: String,
}

impl Pick {
    pub fn caption(&self) -> String {
        match (self.seed, self.label.is_empty()) {
            (_, false) => self.label.clone(),
            (Some(seed), true) => format!("#{seed}"),
            (None, true) => "edited".into(),
        }
    }
}

/// What the tab asks the window to do (dialogs live in the app).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExploreAction {
    PickGeneratorFile,
    PickRun,
}

/// The pictures of one view, as they arrive.
#[derive(Default)]
struct SlotView {
    generation: u64,
    latents: Vec<Vec<f32>>,
    textures: Vec<Option<egui::TextureHandle>>,
    /// Seconds the last complete render took in the worker.
    secs: Option<f64>,
}

impl SlotView {
    fn request(&mut self, sampler: &Sampler, slot: Slot, latents: Vec<Vec<f32>>) {
        self.generation += 1;
        self.textures = vec![None; latents.len()];
        self.latents = latents.clone();
        self.secs = None;
        sampler.send(SamplerRequest::Render {
            slot,
            generation: self.generation,
            latents,
        });
    }

    fn complete(&self) -> bool {
        !self.textures.is_empty() && self.textures.iter().all(Option::is_some)
    }
}

const MAX_PICKS: usize = 4;
const TILE: f32 = 88.0;

pub struct ExploreTab {
    sampler: Option<Sampler>,
    source: GeneratorSource,
    info: Option<GeneratorInfo>,
    loading: bool,
    error: Option<String>,

    pub rows: usize,
    pub cols: usize,
    pub first_seed: u64,
    pub truncation: f32,
    jump_to: u64,
    grid_dirty: bool,
    grid: SlotView,

    picks: Vec<Pick>,
    pub mode: Mode,
    pub steps: usize,
    strip: SlotView,
    corners: SlotView,
    paths_dirty: bool,
    path_t: f32,
    playing: bool,
    play_forward: bool,
    preview: SlotView,
    preview_dirty: bool,

    direction_kind: DirectionKind,
    directions: Vec<Vec<f32>>,
    amounts: Vec<f32>,
    walking: bool,
    walk_step: f32,
    walk_rng: SeededRng,
    walk_z: Option<Vec<f32>>,
    last_walk: f64,

    project_root: Option<PathBuf>,
    favourites: Vec<Favourite>,
    favourites_view: SlotView,
    favourites_job: Option<JobHandle<(), Vec<Favourite>>>,
    new_label: String,
}

impl Default for ExploreTab {
    fn default() -> Self {
        ExploreTab {
            sampler: None,
            source: GeneratorSource::Shipped,
            info: None,
            loading: false,
            error: None,
            rows: 4,
            cols: 4,
            first_seed: 0,
            truncation: 1.0,
            jump_to: 0,
            grid_dirty: true,
            grid: SlotView::default(),
            picks: Vec::new(),
            mode: Mode::Slerp,
            steps: 8,
            strip: SlotView::default(),
            corners: SlotView::default(),
            paths_dirty: false,
            path_t: 0.5,
            playing: false,
            play_forward: true,
            preview: SlotView::default(),
            preview_dirty: false,
            direction_kind: DirectionKind::Principal,
            directions: Vec::new(),
            amounts: Vec::new(),
            walking: false,
            walk_step: 0.15,
            walk_rng: SeededRng::new(1),
            walk_z: None,
            last_walk: 0.0,
            project_root: None,
            favourites: Vec::new(),
            favourites_view: SlotView::default(),
            favourites_job: None,
            new_label: String::new(),
        }
    }
}

impl ExploreTab {
    pub fn source(&self) -> &GeneratorSource {
        &self.source
    }
    pub fn info(&self) -> Option<&GeneratorInfo> {
        self.info.as_ref()
    }
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }
    pub fn picks(&self) -> &[Pick] {
        &self.picks
    }
    pub fn favourites(&self) -> &[Favourite] {
        &self.favourites
    }
    pub fn strip_len(&self) -> usize {
        self.strip.textures.iter().flatten().count()
    }
    pub fn grid_ready(&self) -> bool {
        self.grid.complete()
    }
    /// Seconds the worker took for the last complete seed grid.
    pub fn grid_secs(&self) -> Option<f64> {
        self.grid.secs
    }

    /// The seeds of the grid, row by row.
    pub fn grid_seeds(&self) -> Vec<u64> {
        (0..(self.rows * self.cols) as u64)
            .map(|i| self.first_seed + i)
            .collect()
    }

    fn z_of_seed(&self, seed: u64) -> Vec<f32> {
        let z_dim = self.info.as_ref().map_or(100, |i| i.z_dim);
        seed_latent(seed, z_dim, self.truncation)
    }

    /// The seed grid as picks (for export).
    pub fn grid_picks(&self) -> Vec<Pick> {
        self.grid_seeds()
            .into_iter()
            .map(|seed| Pick {
                seed: Some(seed),
                z: self.z_of_seed(seed),
                label: String::new(),
            })
            .collect()
    }

    /// The path between the first two picks in `steps` points (empty with fewer picks).
    pub fn path_latents(&self, steps: usize) -> Vec<Vec<f32>> {
        match self.picks.as_slice() {
            [a, b, ..] => interp::path(&a.z, &b.z, steps, self.mode),
            _ => Vec::new(),
        }
    }

    /// The bilinear grid between four picks (`steps` x `steps`; empty with fewer picks).
    pub fn corner_latents(&self) -> Vec<Vec<f32>> {
        match self.picks.as_slice() {
            [a, b, c, d] => {
                let n = self.steps.clamp(2, 6);
                interp::corner_grid([&a.z, &b.z, &c.z, &d.z], n, n, self.mode)
            }
            _ => Vec::new(),
        }
    }

    /// The latent shown in the large preview: a point on the path, or the selected sample,
    /// with the direction edits applied; the random walk's position while it walks.
    pub fn current_latent(&self) -> Option<Pick> {
        if let Some(z) = &self.walk_z {
            return Some(Pick {
                seed: None,
                z: z.clone(),
                label: String::new(),
            });
        }
        let base = match self.picks.as_slice() {
            [] => return None,
            [one] => one.clone(),
            [a, b, ..] if self.path_t <= 0.0 => a.clone(),
            [a, b, ..] if self.path_t >= 1.0 => b.clone(),
            [a, b, ..] => Pick {
                seed: None,
                z: interp::interpolate(&a.z, &b.z, self.path_t, self.mode),
                label: String::new(),
            },
        };
        if self.amounts.iter().all(|a| *a == 0.0) {
            return Some(base);
        }
        Some(Pick {
            seed: None,
            z: edit(&base.z, &self.directions, &self.amounts),
            label: String::new(),
        })
    }

    /// Adds a sample to the picks (the oldest goes when there are four already).
    pub fn pick(&mut self, pick: Pick) {
        if self.picks.len() == MAX_PICKS {
            self.picks.remove(0);
        }
        self.picks.push(pick);
        self.walk_z = None;
        self.amounts.iter_mut().for_each(|a| *a = 0.0);
        self.paths_dirty = true;
        self.preview_dirty = true;
    }

    pub fn clear_picks(&mut self) {
        self.picks.clear();
        self.walk_z = None;
        self.paths_dirty = true;
        self.preview_dirty = true;
    }

    /// Loads a generator from `source` in the worker.
    pub fn load(&mut self, source: GeneratorSource) {
        self.source = source.clone();
        self.loading = true;
        self.error = None;
        if let Some(sampler) = &self.sampler {
            sampler.send(SamplerRequest::Load(source));
        }
    }

    /// Follows the open project (favourites live in its catalog).
    pub fn set_project(&mut self, project: Option<&Project>, ctx: &egui::Context) {
        let root = project.map(|p| p.root().to_path_buf());
        if root == self.project_root {
            return;
        }
        self.project_root = root;
        self.favourites.clear();
        self.favourites_view = SlotView::default();
        if project.is_some() {
            self.reload_favourites(ctx);
        }
    }

    fn reload_favourites(&mut self, ctx: &egui::Context) {
        self.run_favourites_job(ctx, "Read favourites", |_| Ok(()));
    }

    /// Runs `change` on the catalog in a worker, then reads the favourites back.
    fn run_favourites_job(
        &mut self,
        ctx: &egui::Context,
        title: &str,
        change: impl FnOnce(&crate::project::catalog::Catalog) -> Result<(), JobError> + Send + 'static,
    ) {
        let Some(root) = self.project_root.clone() else {
            return;
        };
        let ctx = ctx.clone();
        self.favourites_job = Some(jobs::spawn(
            title,
            move || ctx.request_repaint(),
            move |_job| {
                let project = Project::open(&root).map_err(|e| JobError::failed(&e))?;
                let catalog = project.catalog().map_err(|e| JobError::failed(&e))?;
                change(&catalog)?;
                catalog.favourites().map_err(|e| JobError::failed(&e))
            },
        ));
    }

    /// Stars the preview's sample.
    pub fn star_current(&mut self, ctx: &egui::Context) {
        let Some(pick) = self.current_latent() else {
            return;
        };
        let label = std::mem::take(&mut self.new_label);
        let generator = self.source.label();
        self.run_favourites_job(ctx, "Add a favourite", move |catalog| {
            catalog
                .add_favourite(pick.seed, &pick.z, &label, &generator)
                .map(|_| ())
                .map_err(|e| JobError::failed(&e))
        });
    }

    fn remove_favourite(&mut self, id: i64, ctx: &egui::Context) {
        self.run_favourites_job(ctx, "Remove a favourite", move |catalog| {
            catalog
                .remove_favourite(id)
                .map_err(|e| JobError::failed(&e))
        });
    }

    /// Receives the worker's replies and the favourites job; sends the renders the state needs.
    pub fn poll(&mut self, ctx: &egui::Context) {
        if self.sampler.is_none() {
            let notify_ctx = ctx.clone();
            let sampler = Sampler::start(Device::Cpu, move || notify_ctx.request_repaint());
            sampler.send(SamplerRequest::Load(self.source.clone()));
            self.loading = true;
            self.sampler = Some(sampler);
        }
        if let Some(job) = &mut self.favourites_job {
            job.poll();
            if let Some(outcome) = job.take_outcome() {
                self.favourites_job = None;
                match outcome {
                    Ok(favourites) => {
                        self.favourites = favourites;
                        self.request_favourites();
                    }
                    Err(e) => self.error = Some(format!("favourites: {e}")),
                }
            }
        }
        let replies: Vec<SamplerReply> = match &self.sampler {
            Some(sampler) => std::iter::from_fn(|| sampler.try_recv()).collect(),
            None => Vec::new(),
        };
        for reply in replies {
            self.on_reply(reply, ctx);
        }
        self.advance_animation(ctx);
        self.send_renders();
    }

    fn on_reply(&mut self, reply: SamplerReply, ctx: &egui::Context) {
        match reply {
            SamplerReply::Loaded(info) => {
                self.loading = false;
                self.info = Some(info);
                self.picks
                    .retain(|p| p.z.len() == self.info.as_ref().map_or(0, |i| i.z_dim));
                self.grid_dirty = true;
                self.paths_dirty = true;
                self.preview_dirty = true;
                self.directions.clear();
                self.request_directions();
                self.request_favourites();
            }
            SamplerReply::LoadFailed(message) => {
                self.loading = false;
                self.error = Some(format!("cannot load the generator: {message}"));
            }
            SamplerReply::Images {
                slot,
                generation,
                first,
                images,
                secs,
                done,
            } => {
                let view = match slot {
                    Slot::Grid => &mut self.grid,
                    Slot::Strip => &mut self.strip,
                    Slot::Corners => &mut self.corners,
                    Slot::Preview => &mut self.preview,
                    Slot::Favourites => &mut self.favourites_view,
                };
                if generation != view.generation {
                    return; // an older request's pictures
                }
                for (i, image) in images.iter().enumerate() {
                    let color = egui::ColorImage::from_rgba_unmultiplied(
                        [image.width() as usize, image.height() as usize],
                        image.as_raw(),
                    );
                    let texture = ctx.load_texture(
                        format!("explore-{slot:?}-{}", first + i),
                        color,
                        egui::TextureOptions::NEAREST,
                    );
                    if let Some(slot) = view.textures.get_mut(first + i) {
                        *slot = Some(texture);
                    }
                }
                if done {
                    view.secs = Some(secs);
                }
            }
            SamplerReply::Directions(directions) => {
                self.amounts = vec![0.0; directions.len()];
                self.directions = directions;
            }
            SamplerReply::Failed(message) => self.error = Some(message),
        }
    }

    fn request_directions(&mut self) {
        if let Some(sampler) = &self.sampler {
            sampler.send(SamplerRequest::Directions {
                kind: self.direction_kind,
                count: 5,
                seed: 7,
            });
        }
    }

    fn request_favourites(&mut self) {
        let Some(info) = &self.info else {
            return;
        };
        let Some(sampler) = &self.sampler else {
            return;
        };
        let latents: Vec<Vec<f32>> = self
            .favourites
            .iter()
            .filter(|f| f.z.len() == info.z_dim)
            .map(|f| f.z.clone())
            .collect();
        self.favourites_view
            .request(sampler, Slot::Favourites, latents);
    }

    fn send_renders(&mut self) {
        if self.info.is_none() || self.loading {
            return;
        }
        let Some(sampler) = self.sampler.take() else {
            return;
        };
        if self.grid_dirty {
            self.grid_dirty = false;
            let latents = self.grid_picks().into_iter().map(|p| p.z).collect();
            self.grid.request(&sampler, Slot::Grid, latents);
        }
        if self.paths_dirty {
            self.paths_dirty = false;
            let strip = self.path_latents(self.steps);
            self.strip.request(&sampler, Slot::Strip, strip);
            let corners = self.corner_latents();
            self.corners.request(&sampler, Slot::Corners, corners);
        }
        if self.preview_dirty {
            self.preview_dirty = false;
            let latents = self.current_latent().map(|p| vec![p.z]).unwrap_or_default();
            self.preview.request(&sampler, Slot::Preview, latents);
        }
        self.sampler = Some(sampler);
    }

    fn advance_animation(&mut self, ctx: &egui::Context) {
        let now = ctx.input(|i| i.time);
        let dt = ctx.input(|i| i.stable_dt).min(0.1);
        if self.playing && self.picks.len() >= 2 {
            let step = dt * 0.4;
            self.path_t += if self.play_forward { step } else { -step };
            if self.path_t >= 1.0 {
                self.path_t = 1.0;
                self.play_forward = false;
            } else if self.path_t <= 0.0 {
                self.path_t = 0.0;
                self.play_forward = true;
            }
            self.preview_dirty = true;
            ctx.request_repaint();
        }
        if self.walking {
            if now - self.last_walk > 0.12 {
                self.last_walk = now;
                let start = self
                    .walk_z
                    .clone()
                    .or_else(|| self.current_latent().map(|p| p.z));
                if let Some(z) = start {
                    self.walk_z = Some(walk_step(&z, self.walk_step, &mut self.walk_rng));
                    self.preview_dirty = true;
                }
            }
            ctx.request_repaint();
        }
    }

    pub fn explore_ui(
        &mut self,
        ui: &mut egui::Ui,
        project: Option<&Project>,
    ) -> Option<ExploreAction> {
        let ctx = ui.ctx().clone();
        self.set_project(project, &ctx);
        self.poll(&ctx);
        let mut action = None;
        ui.horizontal_wrapped(|ui| {
            ui.label("Generator:");
            ui.strong(self.source.label());
            if let Some(info) = &self.info {
                ui.label(format!(
                    "{0}x{0}, {1} channel(s), {2} iterations",
                    info.image_size, info.channels, info.iterations
                ))
                .on_hover_text(format!("trained on {}", info.data));
            }
            if self.loading {
                ui.spinner();
            }
            ui.menu_button("Load…", |ui| {
                if ui.button("Shipped Fashion-MNIST generator").clicked() {
                    self.load(GeneratorSource::Shipped);
                    ui.close();
                }
                if ui.button("A run's latest generator…").clicked() {
                    action = Some(ExploreAction::PickRun);
                    ui.close();
                }
                if ui.button("A generator file…").clicked() {
                    action = Some(ExploreAction::PickGeneratorFile);
                    ui.close();
                }
            });
        });
        if let Some(error) = &self.error {
            ui.colored_label(ui.visuals().error_fg_color, error);
        }
        ui.separator();
        egui::Panel::right("explore-side")
            .resizable(true)
            .default_size(360.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| self.side_ui(ui, &ctx));
            });
        egui::ScrollArea::vertical()
            .id_salt("explore-main")
            .show(ui, |ui| {
                self.grid_ui(ui);
                ui.separator();
                self.paths_ui(ui);
                ui.separator();
                self.favourites_ui(ui, &ctx);
            });
        action
    }

    fn grid_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.heading("Seeds");
            if ui.button("< Page").clicked() {
                self.first_seed = self
                    .first_seed
                    .saturating_sub((self.rows * self.cols) as u64);
                self.grid_dirty = true;
            }
            if ui.button("Page >").clicked() {
                self.first_seed += (self.rows * self.cols) as u64;
                self.grid_dirty = true;
            }
            ui.add(egui::DragValue::new(&mut self.jump_to).prefix("seed "));
            if ui.button("Go").clicked() {
                self.first_seed = self.jump_to;
                self.grid_dirty = true;
            }
            if ui
                .button("Resample")
                .on_hover_text("Jump to a random page of seeds")
                .clicked()
            {
                self.first_seed = self.walk_rng.next_u64() % 1_000_000;
                self.grid_dirty = true;
            }
        });
        ui.horizontal(|ui| {
            let mut changed = ui
                .add(egui::Slider::new(&mut self.rows, 1..=8).text("rows"))
                .changed();
            changed |= ui
                .add(egui::Slider::new(&mut self.cols, 1..=8).text("cols"))
                .changed();
            let truncation = ui
                .add(egui::Slider::new(&mut self.truncation, 0.1..=1.5).text("truncation"))
                .on_hover_text("Scale z toward 0: lower is more typical, higher more varied");
            if changed || truncation.changed() {
                self.grid_dirty = true;
            }
            if let Some(secs) = self.grid.secs {
                ui.weak(format!("{:.0} ms", secs * 1000.0));
            }
        });
        let seeds = self.grid_seeds();
        let mut clicked = None;
        egui::Grid::new("seed-grid")
            .spacing([4.0, 4.0])
            .show(ui, |ui| {
                for (i, seed) in seeds.iter().enumerate() {
                    let picked = self.picks.iter().any(|p| p.seed == Some(*seed));
                    let response =
                        tile_ui(ui, self.grid.textures.get(i).cloned().flatten(), picked);
                    let response = response.on_hover_text(format!("seed {seed}: click to pick"));
                    response.widget_info(|| {
                        egui::WidgetInfo::labeled(egui::Role::Button, true, format!("seed {seed}"))
                    });
                    if response.clicked() {
                        clicked = Some(*seed);
                    }
                    if (i + 1) % self.cols == 0 {
                        ui.end_row();
                    }
                }
            });
        if let Some(seed) = clicked {
            let z = self.z_of_seed(seed);
            self.pick(Pick {
                seed: Some(seed),
                z,
                label: String::new(),
            });
        }
    }

    fn paths_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.heading("Picks");
            for pick in &self.picks {
                ui.label(pick.caption());
            }
            if self.picks.is_empty() {
                ui.weak("Click samples (up to four) to walk between them.");
            } else if ui.button("Clear").clicked() {
                self.clear_picks();
            }
        });
        ui.horizontal(|ui| {
            let mut changed = ui
                .radio_value(&mut self.mode, Mode::Slerp, "slerp")
                .changed();
            changed |= ui.radio_value(&mut self.mode, Mode::Lerp, "lerp").changed();
            changed |= ui
                .add(egui::Slider::new(&mut self.steps, 2..=16).text("steps"))
                .changed();
            if changed {
                self.paths_dirty = true;
                self.preview_dirty = true;
            }
        });
        if self.picks.len() >= 2 {
            ui.label("Path");
            ui.horizontal_wrapped(|ui| {
                for (i, texture) in self.strip.textures.iter().enumerate() {
                    let response = tile_ui(ui, texture.clone(), false);
                    response.widget_info(|| {
                        egui::WidgetInfo::labeled(egui::Role::Image, true, format!("path step {i}"))
                    });
                }
            });
        }
        if self.picks.len() == 4 {
            ui.label("Corners (bilinear)");
            let n = (self.corners.textures.len() as f64).sqrt().round().max(1.0) as usize;
            egui::Grid::new("corner-grid")
                .spacing([2.0, 2.0])
                .show(ui, |ui| {
                    for (i, texture) in self.corners.textures.iter().enumerate() {
                        sized_tile_ui(ui, texture.clone(), false, TILE * 0.6);
                        if (i + 1) % n == 0 {
                            ui.end_row();
                        }
                    }
                });
        }
    }

    fn favourites_ui(&mut self, ui: &mut egui::Ui, ctx: &egui::Context) {
        ui.heading("Favourites");
        if self.project_root.is_none() {
            ui.weak("Open a project to keep favourites.");
            return;
        }
        if self.favourites.is_empty() {
            ui.weak("Star a sample in the preview to keep it here.");
        }
        let mut use_pick = None;
        let mut remove = None;
        ui.horizontal_wrapped(|ui| {
            let usable = self
                .favourites
                .iter()
                .filter(|f| Some(f.z.len()) == self.info.as_ref().map(|i| i.z_dim));
            for (i, favourite) in usable.enumerate() {
                ui.vertical(|ui| {
                    let texture = self.favourites_view.textures.get(i).cloned().flatten();
                    let name = favourite_name(favourite);
                    let response = tile_ui(ui, texture, false).on_hover_text(format!(
                        "{name} — picked with {}; click to use as a path end",
                        favourite.generator
                    ));
                    response.widget_info(|| {
                        egui::WidgetInfo::labeled(
                            egui::Role::Button,
                            true,
                            format!("favourite {name}"),
                        )
                    });
                    if response.clicked() {
                        use_pick = Some(Pick {
                            seed: favourite.seed,
                            z: favourite.z.clone(),
                            label: favourite.label.clone(),
                        });
                    }
                    ui.horizontal(|ui| {
                        ui.small(&name);
                        if ui.small_button("x").on_hover_text("Remove").clicked() {
                            remove = Some(favourite.id);
                        }
                    });
                });
            }
        });
        if let Some(pick) = use_pick {
            self.pick(pick);
        }
        if let Some(id) = remove {
            self.remove_favourite(id, ctx);
        }
    }

    fn side_ui(&mut self, ui: &mut egui::Ui, ctx: &egui::Context) {
        ui.heading("Preview");
        let texture = self.preview.textures.first().cloned().flatten();
        let size = egui::vec2(256.0, 256.0);
        match texture {
            Some(texture) => {
                ui.add(egui::Image::new((texture.id(), size)));
            }
            None => {
                let (rect, _) = ui.allocate_exact_size(size, egui::Sense::hover());
                ui.painter()
                    .rect_filled(rect, 4.0, ui.visuals().faint_bg_color);
                ui.painter().text(
                    rect.center(),
                    egui::Align2::CENTER_CENTER,
                    "Pick a sample",
                    egui::FontId::proportional(14.0),
                    ui.visuals().weak_text_color(),
                );
            }
        }
        if self.picks.len() >= 2 {
            ui.horizontal(|ui| {
                let slider =
                    ui.add(egui::Slider::new(&mut self.path_t, 0.0..=1.0).text("along the path"));
                if slider.changed() {
                    self.preview_dirty = true;
                }
                let label = if self.playing { "Pause" } else { "Play" };
                if ui.button(label).clicked() {
                    self.playing = !self.playing;
                }
            });
        }
        ui.horizontal(|ui| {
            ui.add(
                egui::TextEdit::singleline(&mut self.new_label)
                    .hint_text("label")
                    .desired_width(120.0),
            );
            let can_star = self.current_latent().is_some() && self.project_root.is_some();
            if ui
                .add_enabled(can_star, egui::Button::new("Add to favourites"))
                .clicked()
            {
                self.star_current(ctx);
            }
        });
        ui.separator();
        ui.heading("Edit");
        ui.horizontal(|ui| {
            let mut changed = ui
                .radio_value(
                    &mut self.direction_kind,
                    DirectionKind::Principal,
                    "principal",
                )
                .on_hover_text("Directions the generator's first layer responds to most (GANSpace)")
                .changed();
            changed |= ui
                .radio_value(&mut self.direction_kind, DirectionKind::Random, "random")
                .changed();
            if changed {
                self.request_directions();
            }
            if ui.button("Reset").clicked() {
                self.amounts.iter_mut().for_each(|a| *a = 0.0);
                self.walk_z = None;
                self.walking = false;
                self.preview_dirty = true;
            }
        });
        let enabled = self.current_latent().is_some();
        for (i, amount) in self.amounts.iter_mut().enumerate() {
            let slider = ui.add_enabled(
                enabled,
                egui::Slider::new(amount, -4.0..=4.0).text(format!("direction {}", i + 1)),
            );
            if slider.changed() {
                self.preview_dirty = true;
            }
        }
        ui.horizontal(|ui| {
            ui.add_enabled(
                enabled || self.walking,
                egui::Checkbox::new(&mut self.walking, "random walk"),
            );
            ui.add(egui::Slider::new(&mut self.walk_step, 0.01..=0.6).text("step"));
        });
        if !self.walking
            && self.walk_z.is_some()
            && ui.button("Pick the walk's position").clicked()
            && let Some(z) = self.walk_z.take()
        {
            self.pick(Pick {
                seed: None,
                z,
                label: String::new(),
            });
        }
    }

    /// Picks for a latent-file import.
    pub fn import_picks(&mut self, picks: Vec<Pick>) -> usize {
        let z_dim = self.info.as_ref().map_or(0, |i| i.z_dim);
        let usable: Vec<Pick> = picks.into_iter().filter(|p| p.z.len() == z_dim).collect();
        let count = usable.len();
        for pick in usable {
            self.pick(pick);
        }
        count
    }

    pub fn favourite_textures(&self) -> HashMap<i64, bool> {
        self.favourites
            .iter()
            .enumerate()
            .map(|(i, f)| {
                (
                    f.id,
                    self.favourites_view
                        .textures
                        .get(i)
                        .is_some_and(Option::is_some),
                )
            })
            .collect()
    }
}

pub fn favourite_name(favourite: &Favourite) -> String {
    match (&favourite.label, favourite.seed) {
        (label, _) if !label.is_empty() => label.clone(),
        (_, Some(seed)) => format!("#{seed}"),
        _ => format!("fav {}", favourite.id),
    }
}

/// A square tile showing `texture` (a placeholder until it arrives); framed when picked.
fn tile_ui(
    ui: &mut egui::Ui,
    texture: Option<egui::TextureHandle>,
    picked: bool,
) -> egui::Response {
    sized_tile_ui(ui, texture, picked, TILE)
}

fn sized_tile_ui(
    ui: &mut egui::Ui,
    texture: Option<egui::TextureHandle>,
    picked: bool,
    side: f32,
) -> egui::Response {
    let size = egui::vec2(side, side);
    let (rect, response) = ui.allocate_exact_size(size, egui::Sense::click());
    let painter = ui.painter();
    match texture {
        Some(texture) => {
            let uv = egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0));
            painter.image(texture.id(), rect, uv, egui::Color32::WHITE);
        }
        None => {
            painter.rect_filled(rect, 2.0, ui.visuals().faint_bg_color);
        }
    }
    if picked {
        painter.rect_stroke(
            rect,
            2.0,
            egui::Stroke::new(3.0, ui.visuals().selection.stroke.color),
            egui::StrokeKind::Inside,
        );
    } else if response.hovered() {
        painter.rect_stroke(
            rect,
            2.0,
            ui.visuals().widgets.hovered.bg_stroke,
            egui::StrokeKind::Inside,
        );
    }
    response
}
