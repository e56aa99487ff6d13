//! The Explore tab: browse what a generator makes (a seed grid with paging and truncation),
//! pick samples and walk between them (a lerp/slerp strip, a bilinear corner grid, a path slider
//! with a live preview and playback), edit the selected sample along latent directions or let it
//! wander, and keep favourites in the project catalog.
//!
//! The latents live in the library's [`Explorer`]; every picture comes from the sampler worker
//! through [`renders`]; drawing is in [`view`]. Each frame, [`StudioTab::logic`] derives the
//! latents each view should show and the views render what changed.

mod renders;
mod view;

use crate::device::DeviceChoice;
use crate::gan::sampler::{DirectionKind, GeneratorInfo, GeneratorSource, SamplerRequest, Slot};
use crate::jobs::{self, JobError, JobHandle};
use crate::latent::explorer::Explorer;
use crate::latent::sample::Sample;
use crate::project::Project;
use crate::project::catalog::Catalog;
use crate::project::favourites::Favourite;

use super::jobs_bar::JobView;
use super::tab::{Commands, Status, StudioTab};
use renders::{Notice, Renders};

/// Seconds between two steps of the random walk.
const WALK_INTERVAL: f64 = 0.12;
/// Directions offered for editing.
const DIRECTIONS: usize = 5;

pub struct ExploreTab {
    renders: Option<Renders>,
    source: GeneratorSource,
    info: Option<GeneratorInfo>,
    loading: bool,
    status: Option<Status>,
    explorer: Explorer,
    jump_to: u64,
    direction_kind: DirectionKind,
    walking: bool,
    walk_step: f32,
    last_walk: f64,
    project: Option<Project>,
    favourites_job: Option<JobHandle<(), Vec<Favourite>>>,
    new_label: String,
    /// Enlarge samples smoothly instead of with hard pixels.
    smooth: bool,
    /// The seed shown large (double-click on the grid), if any, and whether it opened at
    /// this frame (the double-click's own release must not close it).
    enlarged: Option<u64>,
    enlarged_fresh: bool,
    /// Side of the seed grid's tiles at the last frame, in points (they follow the panel).
    grid_side: f32,
    /// The device the sampler draws on.
    device: DeviceChoice,
}

impl Default for ExploreTab {
    fn default() -> Self {
        ExploreTab {
            renders: None,
            // The conditional generator draws garments better than the unconditional one (FID
            // and per-class recognition in docs/quality.md) and can be asked for a category.
            source: GeneratorSource::ShippedByCategory,
            info: None,
            loading: false,
            status: None,
            explorer: Explorer::default(),
            jump_to: 0,
            direction_kind: DirectionKind::Principal,
            walking: false,
            walk_step: 0.15,
            last_walk: 0.0,
            project: None,
            favourites_job: None,
            new_label: String::new(),
            smooth: false,
            enlarged: None,
            enlarged_fresh: false,
            grid_side: 0.0,
            device: DeviceChoice::Cpu,
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
    /// The latent model: picks, the path, favourites.
    pub fn explorer(&self) -> &Explorer {
        &self.explorer
    }
    pub fn explorer_mut(&mut self) -> &mut Explorer {
        &mut self.explorer
    }
    /// The last error, if the last thing that could fail did.
    pub fn error(&self) -> Option<&str> {
        self.status
            .as_ref()
            .filter(|s| s.is_error)
            .map(|s| s.text.as_str())
    }
    pub fn picks(&self) -> &[Sample] {
        self.explorer.picks()
    }
    pub fn favourites(&self) -> &[Favourite] {
        self.explorer.favourites()
    }
    pub fn clear_picks(&mut self) {
        self.explorer.clear_picks();
    }
    /// Pictures of the path strip that have arrived.
    pub fn strip_len(&self) -> usize {
        self.renders.as_ref().map_or(0, |r| r.views.strip.ready())
    }
    /// Side of the seed grid's tiles as last drawn, in points.
    pub fn grid_tile_side(&self) -> f32 {
        self.grid_side
    }
    /// The seed shown large, if one is.
    pub fn enlarged(&self) -> Option<u64> {
        self.enlarged
    }
    pub fn grid_ready(&self) -> bool {
        self.renders
            .as_ref()
            .is_some_and(|r| r.views.grid.complete() && !self.loading)
    }
    /// Seconds the worker took for the last complete seed grid.
    pub fn grid_secs(&self) -> Option<f64> {
        self.renders.as_ref().and_then(|r| r.views.grid.secs())
    }
    /// The seeds of the grid, row by row.
    pub fn grid_seeds(&self) -> Vec<u64> {
        self.explorer.page.seeds().collect()
    }
    /// Whether every usable favourite's picture has arrived.
    pub fn favourites_shown(&self) -> bool {
        let count = self.explorer.usable_favourites().count();
        self.renders
            .as_ref()
            .is_some_and(|r| r.views.favourites.ready() == count)
    }

    /// Draws on `device` from now on: the sampler restarts there and loads the generator again.
    pub fn set_device(&mut self, device: DeviceChoice) {
        if device != self.device {
            self.device = device;
            self.renders = None;
        }
    }

    pub fn device(&self) -> DeviceChoice {
        self.device
    }

    /// Loads a generator from `source` in the worker.
    pub fn load(&mut self, source: GeneratorSource) {
        self.source = source.clone();
        self.loading = true;
        self.status = None;
        if let Some(renders) = &self.renders {
            renders.send(SamplerRequest::Load(source));
        }
    }

    /// Adds samples (from a latent file) to the picks; says how many were of another z size.
    pub fn use_picks(&mut self, samples: Vec<Sample>) {
        let total = samples.len();
        let used = self.explorer.pick_all(samples);
        let skipped = total - used;
        self.status = Some(if skipped > 0 {
            Status::error(format!(
                "Picked {used} sample(s); {skipped} skipped: another z size than this generator's"
            ))
        } else {
            Status::info(format!("Picked {used} sample(s)"))
        });
    }

    /// Runs `change` on the catalog in a worker, then reads the favourites back.
    fn run_favourites_job(
        &mut self,
        ctx: &egui::Context,
        title: &str,
        change: impl FnOnce(&Catalog) -> Result<(), JobError> + Send + 'static,
    ) {
        let Some(project) = self.project.clone() else {
            return;
        };
        let ctx = ctx.clone();
        self.favourites_job = Some(jobs::spawn(
            title,
            move || ctx.request_repaint(),
            move |_job| {
                let catalog = project.catalog().map_err(|e| JobError::failed(&e))?;
                change(&catalog)?;
                catalog.favourites().map_err(|e| JobError::failed(&e))
            },
        ));
    }

    /// Stars the preview's sample, with the label typed beside the button.
    pub fn star_current(&mut self, ctx: &egui::Context) {
        let Some(mut sample) = self.explorer.current() else {
            return;
        };
        sample.label = std::mem::take(&mut self.new_label);
        let generator = self.source.label();
        self.run_favourites_job(ctx, "Add a favourite", move |catalog| {
            catalog
                .add_favourite(&sample, &generator)
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

    fn request_directions(&self) {
        if let Some(renders) = &self.renders {
            renders.send(SamplerRequest::Directions {
                kind: self.direction_kind,
                count: DIRECTIONS,
                seed: 7,
            });
        }
    }

    fn follow_project(&mut self, ctx: &egui::Context, project: Option<&Project>) {
        if self.project.as_ref().map(Project::root) == project.map(Project::root) {
            return;
        }
        self.project = project.cloned();
        self.explorer.set_favourites(Vec::new());
        self.run_favourites_job(ctx, "Read favourites", |_| Ok(()));
    }

    fn poll_favourites(&mut self) {
        let Some(job) = &mut self.favourites_job else {
            return;
        };
        job.poll();
        let Some(outcome) = job.take_outcome() else {
            return;
        };
        self.favourites_job = None;
        match outcome {
            Ok(favourites) => self.explorer.set_favourites(favourites),
            Err(e) => self.status = Some(Status::error(format!("favourites: {e}"))),
        }
    }

    fn on_notice(&mut self, notice: Notice) {
        match notice {
            Notice::Loaded(info) => {
                self.loading = false;
                self.explorer
                    .set_generator(info.z_dim, info.classes.clone());
                self.info = Some(info);
                if let Some(renders) = &mut self.renders {
                    renders.clear();
                }
                self.request_directions();
            }
            Notice::LoadFailed(message) => {
                self.loading = false;
                self.status = Some(Status::error(format!(
                    "cannot load the generator: {message}"
                )));
            }
            Notice::Directions(directions) => self.explorer.set_directions(directions),
            Notice::Failed(message) => self.status = Some(Status::error(message)),
        }
    }

    /// Moves what moves by itself: playback along the path and the random walk.
    fn animate(&mut self, ctx: &egui::Context) {
        let (now, dt) = ctx.input(|i| (i.time, i.stable_dt.min(0.1)));
        if self.explorer.advance_playback(dt) {
            ctx.request_repaint();
        }
        if self.walking {
            if now - self.last_walk > WALK_INTERVAL {
                self.last_walk = now;
                self.explorer.walk(self.walk_step);
            }
            ctx.request_repaint();
        }
    }

    /// Tells each view which latents it should show now.
    fn show_latents(&mut self) {
        if self.info.is_none() || self.loading {
            return;
        }
        let Some(renders) = &mut self.renders else {
            return;
        };
        let explorer = &self.explorer;
        let latents = |samples: Vec<Sample>| samples.into_iter().map(|s| s.z).collect();
        renders.want(Slot::Grid, latents(explorer.grid_samples()));
        renders.want(Slot::Strip, explorer.path_latents(explorer.steps));
        renders.want(Slot::Corners, explorer.corner_latents());
        renders.want(
            Slot::Preview,
            explorer.current().map(|s| vec![s.z]).unwrap_or_default(),
        );
        renders.want(
            Slot::Favourites,
            explorer
                .usable_favourites()
                .map(|f| f.sample.z.clone())
                .collect(),
        );
    }
}

impl StudioTab for ExploreTab {
    fn logic(&mut self, ctx: &egui::Context, project: Option<&Project>, _commands: &mut Commands) {
        if self.renders.is_none() {
            let renders = Renders::start(ctx, self.device);
            renders.send(SamplerRequest::Load(self.source.clone()));
            self.loading = true;
            self.renders = Some(renders);
        }
        self.follow_project(ctx, project);
        self.poll_favourites();
        let notices = self
            .renders
            .as_mut()
            .map(|r| r.drain(ctx))
            .unwrap_or_default();
        for notice in notices {
            self.on_notice(notice);
        }
        self.animate(ctx);
        if let Some(renders) = &mut self.renders {
            renders.set_smooth(self.smooth);
        }
        self.show_latents();
    }

    fn ui(&mut self, ui: &mut egui::Ui, commands: &mut Commands) {
        self.explore_ui(ui, commands);
        self.enlarged_ui(ui);
    }

    fn jobs(&self) -> Vec<&dyn JobView> {
        self.favourites_job
            .iter()
            .map(|j| j as &dyn JobView)
            .collect()
    }
}
