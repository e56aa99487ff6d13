//! The Review tab: a queue of images (filters, counter, filmstrip), a canvas to pan, zoom and
//! edit garment boxes by mouse and keyboard as labelling tools do (LabelImg's keys, with the
//! undo it lacks), accept or reject each image, preview the crop of the selected box and write
//! the crops that GAN training reads.
//!
//! Every edit goes to the catalog at once through the [`Saver`] worker; images open in the
//! [`loader`] worker, the next one ahead of time. Geometry and undo live in the library
//! ([`crate::review::editor`]); this module holds the session and reacts to the user.

mod canvas;
mod loader;
mod panels;
pub mod transform;

use std::collections::HashMap;
use std::sync::Arc;

use crate::detect::boxes::BoxRect;
use crate::export::crops::{CropOptions, CropReport, crop_image, crop_region, write_crops};
use crate::jobs::{self, JobError, JobHandle};
use crate::project::Project;
use crate::project::boxes::QueueEntry;
use crate::project::thumbs::ThumbLoader;
use crate::review::editor::Editor;
use crate::review::queue::QueueFilter;
use crate::review::saver::{SaveReply, SaveRequest, Saver};
use crate::review::{DEFAULT_CATEGORIES, ImageStatus};

use super::detect::{DetectRunner, DetectScope};
use super::jobs_bar::JobView;
use super::tab::{Command, Commands, Status, StudioTab, restore_form, save_form};
use loader::{ImageLoader, Loaded, Opened};
use transform::ViewTransform;

/// Largest texture side the canvas uploads, where the GPU allows that much (bigger photos are
/// shown shrunk; boxes stay in the original pixels).
const MAX_TEXTURE_SIDE: u32 = 4096;
/// Opened images kept around the one shown.
const OPENED_KEPT: usize = 3;

/// The tab's settings, kept across restarts.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct ReviewForm {
    pub filter: QueueFilter,
    /// Model boxes scored below this are hidden (and cannot be picked).
    pub score_threshold: f32,
    /// Detections scoring below this are not stored.
    pub detect_min_score: f32,
    /// The detector the Detect buttons run.
    pub detector: crate::detect::run::DetectorChoice,
    /// Iterations of "Improve detector from reviewed images".
    pub improve_iterations: u64,
    pub crops: CropOptions,
}

impl Default for ReviewForm {
    fn default() -> Self {
        ReviewForm {
            filter: QueueFilter::default(),
            score_threshold: 0.0,
            detect_min_score: super::detect::DEFAULT_MIN_SCORE,
            detector: crate::detect::run::DetectorChoice::default(),
            improve_iterations: crate::detect::faster_rcnn::improve::ImproveOptions::default()
                .iterations,
            crops: CropOptions::default(),
        }
    }
}

/// What the pointer is doing on the canvas.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Gesture {
    Idle,
    /// Drawing a new box from `from` (image pixels) to where the pointer is.
    Drawing {
        from: egui::Pos2,
        to: egui::Pos2,
    },
    /// Dragging a box's handle; the editor holds the drag.
    Dragging {
        from: egui::Pos2,
    },
    Panning,
}

/// The crop preview of the selected box: what it shows, and its texture.
struct CropPreview {
    of: (i64, u64, BoxRect),
    texture: Option<egui::TextureHandle>,
    job: Option<JobHandle<(), egui::ColorImage>>,
}

pub struct ReviewTab {
    pub form: ReviewForm,
    project: Option<Project>,
    queue_job: Option<JobHandle<(), Vec<QueueEntry>>>,
    queue: Vec<QueueEntry>,
    /// Positions in `queue` that pass the filter (derived when either changes).
    visible: Vec<usize>,
    visible_for: Option<QueueFilter>,
    current: Option<i64>,
    editors: HashMap<i64, Editor>,
    opened: HashMap<i64, Opened>,
    texture: Option<(i64, egui::TextureHandle)>,
    loader: Option<ImageLoader>,
    /// The filmstrip's thumbnails (the library's cache), by image hash.
    thumbs: Option<ThumbLoader>,
    thumb_textures: HashMap<String, egui::TextureHandle>,
    /// Images asked of the loader that have not arrived.
    requested: Vec<i64>,
    failed: HashMap<i64, String>,
    saver: Option<Saver>,
    /// Newest editor revision sent to the saver, and confirmed saved, per image.
    sent: HashMap<i64, u64>,
    saved: HashMap<i64, u64>,
    view: ViewTransform,
    /// The image the view was fitted to (a new image is fitted once).
    fitted: Option<i64>,
    selected: Option<u64>,
    gesture: Gesture,
    /// W was pressed: the next drag draws even over a box.
    draw_mode: bool,
    /// Space is held; whether it panned meanwhile (then releasing it does not accept).
    space_down: bool,
    space_panned: bool,
    /// Category for new boxes and number keys.
    pub category: String,
    categories: Vec<String>,
    show_help: bool,
    crops_job: Option<JobHandle<(), CropReport>>,
    detector: DetectRunner,
    pub improver: super::improve::ImproveRunner,
    preview: Option<CropPreview>,
    status: Option<Status>,
    /// Milliseconds from asking for the shown image to having it on screen.
    open_millis: Option<f64>,
    asked_at: Option<(i64, std::time::Instant)>,
}

impl Default for ReviewTab {
    fn default() -> Self {
        ReviewTab {
            form: ReviewForm::default(),
            project: None,
            queue_job: None,
            queue: Vec::new(),
            visible: Vec::new(),
            visible_for: None,
            current: None,
            editors: HashMap::new(),
            opened: HashMap::new(),
            texture: None,
            loader: None,
            thumbs: None,
            thumb_textures: HashMap::new(),
            requested: Vec::new(),
            failed: HashMap::new(),
            saver: None,
            sent: HashMap::new(),
            saved: HashMap::new(),
            view: ViewTransform::default(),
            fitted: None,
            selected: None,
            gesture: Gesture::Idle,
            draw_mode: false,
            space_down: false,
            space_panned: false,
            category: DEFAULT_CATEGORIES[2].to_string(),
            categories: DEFAULT_CATEGORIES.iter().map(|c| c.to_string()).collect(),
            show_help: false,
            crops_job: None,
            detector: DetectRunner::default(),
            improver: Default::default(),
            preview: None,
            status: None,
            open_millis: None,
            asked_at: None,
        }
    }
}

impl ReviewTab {
    const FORM_KEY: &'static str = "deepstyle-review-form";

    /// Runs later detections on `device`.
    pub fn set_device(&mut self, device: crate::device::DeviceChoice) {
        self.detector.set_device(device);
    }

    /// The image shown (its catalog id).
    pub fn current(&self) -> Option<i64> {
        self.current
    }
    /// The editor of the image shown, once it has opened.
    pub fn editor(&self) -> Option<&Editor> {
        self.current.and_then(|id| self.editors.get(&id))
    }
    pub fn selected(&self) -> Option<u64> {
        self.selected
    }
    /// The canvas's transform between image pixels and screen points.
    pub fn view(&self) -> ViewTransform {
        self.view
    }
    /// Whether the image shown is on screen (its texture uploaded).
    pub fn is_shown(&self) -> bool {
        self.current.is_some() && self.texture.as_ref().map(|t| t.0) == self.current
    }
    /// Whether every edit has been written to the catalog.
    pub fn all_saved(&self) -> bool {
        self.editors
            .iter()
            .all(|(id, e)| self.saved.get(id).copied().unwrap_or(0) == e.revision())
    }
    /// Images in the queue that pass the filter.
    pub fn visible_count(&self) -> usize {
        self.visible.len()
    }
    pub fn status(&self) -> Option<&Status> {
        self.status.as_ref()
    }
    pub fn open_millis(&self) -> Option<f64> {
        self.open_millis
    }

    fn follow_project(&mut self, ctx: &egui::Context, project: Option<&Project>) {
        if self.project.as_ref().map(Project::root) == project.map(Project::root) {
            return;
        }
        let form = self.form.clone();
        let category = self.category.clone();
        *self = ReviewTab {
            form,
            category,
            project: project.cloned(),
            ..ReviewTab::default()
        };
        if let Some(project) = project {
            let repaint = ctx.clone();
            let max_side = ctx
                .input(|i| i.max_texture_side)
                .min(MAX_TEXTURE_SIDE as usize) as u32;
            self.loader = Some(ImageLoader::start(project.clone(), max_side, move || {
                repaint.request_repaint()
            }));
            let repaint = ctx.clone();
            self.thumbs = Some(ThumbLoader::new(project.clone(), 1, move || {
                repaint.request_repaint()
            }));
            let repaint = ctx.clone();
            self.saver = Some(Saver::start(project.clone(), move || {
                repaint.request_repaint()
            }));
            self.refresh(ctx);
        }
    }

    /// Reads the queue again (after an import, say).
    pub fn refresh(&mut self, ctx: &egui::Context) {
        let Some(project) = self.project.clone() else {
            return;
        };
        let ctx = ctx.clone();
        self.queue_job = Some(jobs::spawn(
            "Read the review queue",
            move || ctx.request_repaint(),
            move |_job| {
                project
                    .catalog()
                    .and_then(|c| c.review_queue())
                    .map_err(|e| JobError::failed(&e))
            },
        ));
    }

    fn poll_queue(&mut self) {
        let Some(job) = &mut self.queue_job else {
            return;
        };
        job.poll();
        let Some(outcome) = job.take_outcome() else {
            return;
        };
        self.queue_job = None;
        match outcome {
            Ok(mut queue) => {
                // Edits made here may not have reached the catalog yet.
                for entry in &mut queue {
                    if let Some(old) = self.queue.iter().find(|e| e.image.id == entry.image.id) {
                        entry.status = old.status;
                    }
                }
                self.queue = queue;
                for entry in &self.queue {
                    for category in &entry.categories {
                        if !self.categories.contains(category) {
                            self.categories.push(category.clone());
                        }
                    }
                }
                self.visible_for = None;
            }
            Err(e) => self.status = Some(Status::error(format!("review queue: {e}"))),
        }
    }

    fn update_visible(&mut self) {
        if self.visible_for.as_ref() == Some(&self.form.filter) {
            return;
        }
        self.visible = self.form.filter.apply(&self.queue);
        self.visible_for = Some(self.form.filter.clone());
        let still_visible = self
            .current
            .is_some_and(|id| self.position_of(id).is_some());
        if !still_visible {
            self.show(self.visible.first().map(|&i| self.queue[i].image.id));
        }
    }

    /// Where image `id` is among the visible ones.
    fn position_of(&self, id: i64) -> Option<usize> {
        self.visible
            .iter()
            .position(|&i| self.queue.get(i).is_some_and(|e| e.image.id == id))
    }

    /// Shows image `id` (or nothing).
    fn show(&mut self, id: Option<i64>) {
        if self.current == id {
            return;
        }
        if let Some(editor) = self.current.and_then(|c| self.editors.get_mut(&c)) {
            editor.end_drag();
        }
        self.current = id;
        self.selected = None;
        self.gesture = Gesture::Idle;
        self.draw_mode = false;
        self.asked_at = id.map(|id| (id, std::time::Instant::now()));
    }

    /// Moves `step` images along the visible queue.
    pub fn step(&mut self, step: isize) {
        let position = self.current.and_then(|id| self.position_of(id));
        let target = match position {
            Some(p) => p as isize + step,
            None => 0,
        };
        if target < 0 || target as usize >= self.visible.len() {
            return;
        }
        let id = self.queue[self.visible[target as usize]].image.id;
        self.show(Some(id));
    }

    /// Asks the loader for the image shown and the next one, each once; forgets opened images
    /// that are neither.
    fn ask_for_images(&mut self) {
        let Some(loader) = &self.loader else {
            return;
        };
        let position = self.current.and_then(|id| self.position_of(id));
        let wanted: Vec<i64> = match position {
            Some(p) => [p, p + 1]
                .iter()
                .filter_map(|&q| self.visible.get(q))
                .map(|&i| self.queue[i].image.id)
                .collect(),
            None => Vec::new(),
        };
        for id in &wanted {
            let have = self.opened.contains_key(id) || self.failed.contains_key(id);
            if have || self.requested.contains(id) {
                continue;
            }
            if let Some(entry) = self.queue.iter().find(|e| e.image.id == *id) {
                loader.open(*id, &entry.image.path);
                self.requested.push(*id);
            }
        }
        if self.opened.len() > OPENED_KEPT {
            self.opened.retain(|id, _| wanted.contains(id));
        }
    }

    fn texture_of(&self, id: i64) -> bool {
        self.texture.as_ref().is_some_and(|t| t.0 == id)
    }

    fn poll_loader(&mut self, ctx: &egui::Context) {
        let Some(loader) = &self.loader else {
            return;
        };
        let mut arrived = Vec::new();
        while let Some(loaded) = loader.try_recv() {
            arrived.push(loaded);
        }
        for loaded in arrived {
            match loaded {
                Loaded::Opened(opened) => {
                    self.requested.retain(|id| *id != opened.image_id);
                    let (w, h) = (opened.pixels.width(), opened.pixels.height());
                    self.editors
                        .entry(opened.image_id)
                        .or_insert_with(|| Editor::new(w, h, opened.boxes.clone()));
                    self.opened.insert(opened.image_id, *opened);
                }
                Loaded::Failed { image_id, reason } => {
                    self.requested.retain(|id| *id != image_id);
                    self.failed.insert(image_id, reason);
                }
            }
        }
        let Some(id) = self.current else {
            self.texture = None;
            return;
        };
        if self.texture_of(id) {
            return;
        }
        if let Some(opened) = self.opened.get(&id) {
            let texture = ctx.load_texture(
                format!("review-{id}"),
                opened.display.clone(),
                egui::TextureOptions::LINEAR,
            );
            self.texture = Some((id, texture));
            self.fitted = None;
            if let Some((asked, at)) = self.asked_at.take()
                && asked == id
            {
                self.open_millis = Some(at.elapsed().as_secs_f64() * 1000.0);
            }
        }
    }

    /// Uploads the filmstrip's thumbnails that arrived (keeping a few hundred at most).
    fn poll_thumbs(&mut self, ctx: &egui::Context) {
        let Some(thumbs) = &self.thumbs else {
            return;
        };
        for done in thumbs.finished() {
            if let Ok(rgba) = done.image {
                if self.thumb_textures.len() > 300 {
                    self.thumb_textures.clear();
                }
                let texture = super::widgets::upload_texture(
                    ctx,
                    format!("review-thumb-{}", done.sha256),
                    &rgba,
                    egui::TextureOptions::LINEAR,
                );
                self.thumb_textures.insert(done.sha256, texture);
            }
        }
    }

    fn poll_saver(&mut self) {
        let Some(saver) = &self.saver else {
            return;
        };
        let mut replies = Vec::new();
        while let Some(reply) = saver.try_recv() {
            replies.push(reply);
        }
        for reply in replies {
            match reply {
                SaveReply::Saved {
                    image_id,
                    revision,
                    ids,
                } => {
                    if let Some(editor) = self.editors.get_mut(&image_id) {
                        editor.set_ids(&ids);
                    }
                    let saved = self.saved.entry(image_id).or_insert(0);
                    *saved = (*saved).max(revision);
                }
                SaveReply::Failed { image_id, message } => {
                    self.status = Some(Status::error(format!(
                        "could not save the boxes of image {image_id}: {message}"
                    )));
                }
            }
        }
    }

    /// Sends every image whose boxes changed since they were last sent.
    fn send_saves(&mut self) {
        let Some(saver) = &self.saver else {
            return;
        };
        for (&image_id, editor) in &self.editors {
            if editor.is_dragging() {
                continue;
            }
            let sent = self.sent.get(&image_id).copied().unwrap_or(0);
            if editor.revision() != sent {
                saver.save(SaveRequest {
                    image_id,
                    revision: editor.revision(),
                    boxes: Some(editor.boxes().to_vec()),
                    status: None,
                });
                self.sent.insert(image_id, editor.revision());
            }
        }
    }

    /// Accepts (or rejects) the image shown, saves it with its status and moves on. An image
    /// that could not be opened can be rejected (its boxes, if any, are left as they are).
    pub fn decide(&mut self, status: ImageStatus) {
        let Some(id) = self.current else {
            return;
        };
        let request = match self.editors.get_mut(&id) {
            Some(editor) => {
                editor.end_drag();
                if status == ImageStatus::Accepted {
                    editor.accept();
                }
                self.sent.insert(id, editor.revision());
                SaveRequest {
                    image_id: id,
                    revision: editor.revision(),
                    boxes: Some(editor.boxes().to_vec()),
                    status: Some(status),
                }
            }
            None if self.failed.contains_key(&id) && status == ImageStatus::Rejected => {
                SaveRequest {
                    image_id: id,
                    revision: 0,
                    boxes: None,
                    status: Some(status),
                }
            }
            None => return,
        };
        if let Some(entry) = self.queue.iter_mut().find(|e| e.image.id == id) {
            entry.status = status;
            if let Some(boxes) = &request.boxes {
                entry.boxes = boxes.len();
            }
        }
        if let Some(saver) = &self.saver {
            saver.save(request);
        }
        let before = self.position_of(id);
        // The filter may hide the image now; stay at its place in the queue.
        self.visible = self.form.filter.apply(&self.queue);
        match before {
            Some(p) if self.position_of(id).is_some() => {
                if let Some(&next) = self.visible.get(p + 1) {
                    self.show(Some(self.queue[next].image.id));
                }
            }
            Some(p) => {
                let next = self.visible.get(p).copied();
                self.show(next.map(|i| self.queue[i].image.id));
            }
            None => {}
        }
    }

    /// Runs the person detector over `scope`; the boxes appear here as each batch is stored.
    pub fn detect(&mut self, ctx: &egui::Context, scope: DetectScope, commands: &mut Commands) {
        let (min_score, choice) = (self.form.detect_min_score, &self.form.detector);
        if let Err(reason) = self.detector.start(ctx, scope, min_score, choice) {
            commands.push(Command::Status(Status::error(reason)));
        }
    }

    pub fn is_detecting(&self) -> bool {
        self.detector.is_running()
    }

    /// Forgets what was opened of images whose boxes changed elsewhere (a detection), so they
    /// open again with their new boxes; an image with edits not yet saved keeps its editor.
    fn reopen(&mut self, changed: &[i64]) {
        for id in changed {
            let unsaved = self
                .editors
                .get(id)
                .is_some_and(|e| self.saved.get(id).copied().unwrap_or(0) != e.revision());
            if unsaved {
                continue;
            }
            self.editors.remove(id);
            self.opened.remove(id);
            self.sent.remove(id);
            self.saved.remove(id);
            if self.texture_of(*id) {
                self.texture = None;
            }
            if self.current == Some(*id) {
                self.selected = None;
                self.preview = None;
            }
        }
    }

    fn start_crops(&mut self, ctx: &egui::Context) {
        let Some(project) = self.project.clone() else {
            return;
        };
        if self.crops_job.is_some() {
            return;
        }
        let options = self.form.crops.clone();
        let ctx = ctx.clone();
        self.crops_job = Some(jobs::spawn(
            "Write crops",
            move || ctx.request_repaint(),
            move |job| {
                write_crops(&project, &options, None, job).map_err(|e| match e {
                    crate::export::crops::CropError::Cancelled => JobError::Cancelled,
                    other => JobError::failed(&other),
                })
            },
        ));
    }

    fn poll_crops(&mut self, commands: &mut Commands) {
        let Some(job) = &mut self.crops_job else {
            return;
        };
        job.poll();
        let Some(outcome) = job.take_outcome() else {
            return;
        };
        self.crops_job = None;
        let status = match outcome {
            Ok(report) if report.failed.is_empty() => Status::info(format!(
                "{} crops written to the project's crops folder",
                report.written.len()
            )),
            Ok(report) => Status::error(format!(
                "{} crops written; {} failed, the first: {} ({})",
                report.written.len(),
                report.failed.len(),
                report.failed[0].0,
                report.failed[0].1
            )),
            Err(e) => Status {
                text: format!("Write crops: {e}"),
                is_error: e != JobError::Cancelled,
            },
        };
        self.status = Some(status.clone());
        commands.push(Command::CatalogChanged);
        commands.push(Command::Status(status));
    }

    /// Keeps the crop preview on the selected box (rendered in a worker when it changes).
    fn update_preview(&mut self, ctx: &egui::Context) {
        if let Some(preview) = &mut self.preview
            && let Some(job) = &mut preview.job
        {
            job.poll();
            if let Some(outcome) = job.take_outcome() {
                preview.job = None;
                if let Ok(image) = outcome {
                    preview.texture = Some(ctx.load_texture(
                        "review-crop-preview",
                        image,
                        egui::TextureOptions::NEAREST,
                    ));
                }
            }
        }
        let (Some(id), Some(key)) = (self.current, self.selected) else {
            self.preview = None;
            return;
        };
        let Some(editor) = self.editors.get(&id) else {
            return;
        };
        if editor.is_dragging() {
            return;
        }
        let Some(rect) = editor.get(key).map(|b| b.garment.rect) else {
            self.preview = None;
            return;
        };
        let of = (id, key, rect);
        if self.preview.as_ref().is_some_and(|p| p.of == of) {
            return;
        }
        let Some(pixels) = self.opened.get(&id).map(|o| Arc::clone(&o.pixels)) else {
            return;
        };
        let options = self.form.crops.clone();
        let repaint = ctx.clone();
        let job = jobs::spawn(
            "Crop preview",
            move || repaint.request_repaint(),
            move |_job| {
                let region = crop_region(
                    rect,
                    options.pad,
                    options.square,
                    (pixels.width(), pixels.height()),
                );
                let crop = crop_image(&pixels, region, options.size.clamp(8, 4096));
                Ok(super::widgets::color_image(&crop))
            },
        );
        let texture = self.preview.take().and_then(|p| p.texture);
        self.preview = Some(CropPreview {
            of,
            texture,
            job: Some(job),
        });
    }
}

impl StudioTab for ReviewTab {
    fn logic(&mut self, ctx: &egui::Context, project: Option<&Project>, commands: &mut Commands) {
        self.follow_project(ctx, project);
        self.poll_queue();
        self.update_visible();
        self.poll_loader(ctx);
        self.ask_for_images();
        self.poll_thumbs(ctx);
        self.poll_saver();
        self.send_saves();
        self.poll_crops(commands);
        let changed = self.detector.logic(project, commands);
        self.improver.logic(project, commands);
        self.reopen(&changed);
        self.update_preview(ctx);
    }

    fn ui(&mut self, ui: &mut egui::Ui, commands: &mut Commands) {
        self.review_ui(ui, commands);
    }

    fn jobs(&self) -> Vec<&dyn JobView> {
        let mut jobs: Vec<&dyn JobView> = Vec::new();
        if let Some(job) = &self.queue_job {
            jobs.push(job);
        }
        if let Some(job) = &self.crops_job {
            jobs.push(job);
        }
        jobs.extend(self.detector.job());
        jobs.extend(self.improver.job());
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

/// A category's colour: fixed for DeepFashion's three types, hashed for the rest.
fn category_colour(category: &str) -> egui::Color32 {
    match category {
        "upper" => egui::Color32::from_rgb(66, 165, 245),
        "lower" => egui::Color32::from_rgb(255, 167, 38),
        "full" => egui::Color32::from_rgb(102, 187, 106),
        other => {
            let hash = other
                .bytes()
                .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(b as u32));
            let hue = (hash % 360) as f32 / 360.0;
            egui::ecolor::Hsva::new(hue, 0.65, 0.9, 1.0).into()
        }
    }
}
