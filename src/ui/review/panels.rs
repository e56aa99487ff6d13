//! Around the canvas: the queue with its filters and counter, the toolbar, the filmstrip, the
//! side panel (the selected box, its crop preview, the crops step), the keyboard and the help
//! overlay.

use egui::Key;

use super::transform::ViewTransform;
use super::{ReviewTab, category_colour};
use crate::review::queue::StatusFilter;
use crate::review::{ImageStatus, Origin};

use super::super::widgets::{status_ui, tile_ui};
use crate::detect::run::DetectorChoice;
use crate::project::thumbs::ThumbRequest;
use crate::ui::detect::DetectScope;
use crate::ui::dialogs::Dialog;
use crate::ui::tab::{Command, Commands, Status};

/// Images the filmstrip shows around the current one, and the side of their tiles (points).
const FILMSTRIP: usize = 9;
const FILMSTRIP_TILE: f32 = 64.0;

/// Nudge distance with Shift held, in image pixels.
const BIG_NUDGE: f32 = 10.0;

/// The shortcuts, as the help overlay lists them.
pub const SHORTCUTS: &[(&str, &str)] = &[
    ("W, or drag on empty canvas", "draw a box"),
    (
        "drag inside / on an edge or corner",
        "move / resize the box",
    ),
    ("arrow keys (Shift: 10 px)", "nudge the selected box"),
    ("Delete", "delete the selected box"),
    ("Ctrl+D", "duplicate the selected box"),
    ("1-9", "category of the selected box (and of new boxes)"),
    ("Ctrl+Z / Ctrl+Shift+Z", "undo / redo"),
    ("Space", "accept the image and go to the next"),
    ("R", "reject the image and go to the next"),
    (
        "D / A (arrows with no box selected)",
        "next / previous image",
    ),
    ("Ctrl+wheel, F", "zoom about the pointer, fit the image"),
    ("middle drag, or drag with Space held", "pan"),
    ("Esc", "deselect, stop drawing, close this help"),
    ("F1 or ?", "this help"),
];

impl ReviewTab {
    pub(super) fn review_ui(&mut self, ui: &mut egui::Ui, commands: &mut Commands) {
        if self.project.is_none() {
            ui.label("Opening a project…");
            return;
        }
        if self.queue.is_empty() && self.queue_job.is_none() {
            ui.vertical_centered(|ui| {
                ui.add_space(40.0);
                ui.heading("Nothing to review yet");
                ui.label("Collect or import photos; their boxes are reviewed here.");
                if ui.button("Collect photos").clicked() {
                    commands.push(Command::ShowTab(crate::ui::app::Tab::Collect));
                }
            });
            return;
        }
        self.keyboard(ui);
        egui::Panel::left("review-queue")
            .resizable(true)
            .default_size(230.0)
            .show(ui, |ui| self.queue_ui(ui));
        egui::Panel::right("review-side")
            .resizable(true)
            .default_size(260.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| self.side_ui(ui, commands));
            });
        egui::Panel::top("review-toolbar").show(ui, |ui| self.toolbar_ui(ui));
        egui::Panel::bottom("review-filmstrip").show(ui, |ui| self.filmstrip_ui(ui));
        egui::CentralPanel::default().show(ui, |ui| self.canvas_ui(ui));
        if self.show_help {
            self.help_ui(ui.ctx());
        }
    }

    fn keyboard(&mut self, ui: &mut egui::Ui) {
        if ui.ctx().egui_wants_keyboard_input() {
            return;
        }
        let mut actions = Vec::new();
        ui.input_mut(|i| {
            for event in &i.events {
                if let egui::Event::Key {
                    key,
                    pressed,
                    modifiers,
                    ..
                } = event
                {
                    actions.push((*key, *pressed, *modifiers));
                }
                if let egui::Event::Text(text) = event
                    && text == "?"
                {
                    actions.push((Key::F1, true, egui::Modifiers::NONE));
                }
            }
            // The canvas owns these keys: a focused button must not also take Space as a click,
            // nor the arrows as a move of the focus.
            i.events.retain(|e| {
                !matches!(
                    e,
                    egui::Event::Key {
                        key: Key::Space
                            | Key::ArrowLeft
                            | Key::ArrowRight
                            | Key::ArrowUp
                            | Key::ArrowDown
                            | Key::Escape,
                        ..
                    }
                )
            });
        });
        for (key, pressed, modifiers) in actions {
            if key == Key::Space {
                self.space_key(pressed);
            } else if pressed {
                self.key(key, modifiers);
            }
        }
    }

    /// Space held pans while dragging; a press and release without a pan accepts.
    fn space_key(&mut self, pressed: bool) {
        if pressed {
            if !self.space_down {
                self.space_down = true;
                self.space_panned = false;
            }
            return;
        }
        let panned = std::mem::replace(&mut self.space_panned, false);
        self.space_down = false;
        if !panned {
            self.decide(ImageStatus::Accepted);
        }
    }

    fn key(&mut self, key: Key, modifiers: egui::Modifiers) {
        let step = if modifiers.shift { BIG_NUDGE } else { 1.0 };
        let id = self.current;
        let selected = self.selected;
        let editor = id.and_then(|id| self.editors.get_mut(&id));
        match (key, modifiers.command, editor, selected) {
            (Key::Z, true, Some(editor), _) if modifiers.shift => {
                editor.redo();
            }
            (Key::Y, true, Some(editor), _) => {
                editor.redo();
            }
            (Key::Z, true, Some(editor), _) => {
                editor.undo();
            }
            (Key::D, true, Some(editor), Some(key)) => {
                self.selected = editor.duplicate(key).or(Some(key));
            }
            (Key::Delete | Key::Backspace, _, Some(editor), Some(key)) => {
                editor.delete(key);
                self.selected = None;
            }
            (Key::ArrowLeft, false, Some(editor), Some(key)) => {
                editor.nudge(key, (-step, 0.0));
            }
            (Key::ArrowRight, false, Some(editor), Some(key)) => {
                editor.nudge(key, (step, 0.0));
            }
            (Key::ArrowUp, false, Some(editor), Some(key)) => {
                editor.nudge(key, (0.0, -step));
            }
            (Key::ArrowDown, false, Some(editor), Some(key)) => {
                editor.nudge(key, (0.0, step));
            }
            (Key::D | Key::ArrowRight, false, _, _) => self.step(1),
            (Key::A | Key::ArrowLeft, false, _, _) => self.step(-1),
            (Key::W, false, _, _) => self.draw_mode = true,
            (Key::R, false, _, _) => self.decide(ImageStatus::Rejected),
            (Key::F, false, _, _) => self.fitted = None,
            (Key::F1, _, _, _) => self.show_help = !self.show_help,
            (Key::Escape, _, _, _) => {
                self.show_help = false;
                self.draw_mode = false;
                self.selected = None;
            }
            (key, false, _, _) => {
                if let Some(n) = digit(key) {
                    self.pick_category(n);
                }
            }
            _ => {}
        }
    }

    /// Category `n` (1-based) for the selected box and for new boxes.
    fn pick_category(&mut self, n: usize) {
        let Some(category) = self.categories.get(n.wrapping_sub(1)).cloned() else {
            return;
        };
        self.set_category(&category);
    }

    fn set_category(&mut self, category: &str) {
        self.category = category.to_string();
        let (Some(id), Some(key)) = (self.current, self.selected) else {
            return;
        };
        if let Some(editor) = self.editors.get_mut(&id) {
            editor.set_category(key, category);
        }
    }

    fn queue_ui(&mut self, ui: &mut egui::Ui) {
        ui.heading("Queue");
        let filter = &mut self.form.filter;
        egui::ComboBox::from_label("Status")
            .selected_text(filter.status.name())
            .show_ui(ui, |ui| {
                for status in StatusFilter::ALL {
                    ui.selectable_value(&mut filter.status, status, status.name());
                }
            });
        egui::ComboBox::from_label("Category")
            .selected_text(filter.category.as_deref().unwrap_or("any"))
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut filter.category, None, "any");
                for category in &self.categories {
                    ui.selectable_value(&mut filter.category, Some(category.clone()), category);
                }
            });
        egui::ComboBox::from_label("Source")
            .selected_text(match filter.origin {
                None => "any",
                Some(Origin::Model) => "model",
                Some(Origin::Human) => "human",
            })
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut filter.origin, None, "any");
                ui.selectable_value(&mut filter.origin, Some(Origin::Model), "model");
                ui.selectable_value(&mut filter.origin, Some(Origin::Human), "human");
            });
        ui.add(egui::Slider::new(&mut filter.min_score, 0.0..=1.0).text("min score"));
        ui.add(egui::Slider::new(&mut filter.max_score, 0.0..=1.0).text("max score"));
        let position = self.current.and_then(|id| self.position_of(id));
        ui.label(format!(
            "{} of {} images{}",
            position.map_or(0, |p| p + 1),
            self.visible.len(),
            if self.visible.len() == self.queue.len() {
                String::new()
            } else {
                format!(" ({} in the project)", self.queue.len())
            }
        ));
        ui.separator();
        let row_height = ui.text_style_height(&egui::TextStyle::Body) + 4.0;
        let mut clicked = None;
        egui::ScrollArea::vertical()
            .id_salt("review-queue-list")
            .show_rows(ui, row_height, self.visible.len(), |ui, range| {
                for position in range {
                    let Some(entry) = self.visible.get(position).and_then(|&i| self.queue.get(i))
                    else {
                        continue;
                    };
                    let mark = match entry.status {
                        ImageStatus::Unreviewed => "  ",
                        ImageStatus::Accepted => "ok",
                        ImageStatus::Rejected => "no",
                    };
                    let name = entry
                        .image
                        .original_name
                        .clone()
                        .unwrap_or_else(|| entry.image.sha256[..12].to_string());
                    let text = format!("{mark} {name} ({})", entry.boxes);
                    let shown = self.current == Some(entry.image.id);
                    if ui.selectable_label(shown, text).clicked() {
                        clicked = Some(entry.image.id);
                    }
                }
            });
        if let Some(id) = clicked {
            self.show(Some(id));
        }
    }

    fn toolbar_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal_wrapped(|ui| {
            if ui.button("< Previous").on_hover_text("A").clicked() {
                self.step(-1);
            }
            if ui.button("Next >").on_hover_text("D").clicked() {
                self.step(1);
            }
            ui.separator();
            if ui.button("Accept").on_hover_text("Space").clicked() {
                self.decide(ImageStatus::Accepted);
            }
            if ui.button("Reject").on_hover_text("R").clicked() {
                self.decide(ImageStatus::Rejected);
            }
            ui.separator();
            let (can_undo, can_redo) = self
                .editor()
                .map_or((false, false), |e| (e.can_undo(), e.can_redo()));
            let id = self.current;
            if ui
                .add_enabled(can_undo, egui::Button::new("Undo"))
                .on_hover_text("Ctrl+Z")
                .clicked()
                && let Some(editor) = id.and_then(|id| self.editors.get_mut(&id))
            {
                editor.undo();
            }
            if ui
                .add_enabled(can_redo, egui::Button::new("Redo"))
                .on_hover_text("Ctrl+Shift+Z")
                .clicked()
                && let Some(editor) = id.and_then(|id| self.editors.get_mut(&id))
            {
                editor.redo();
            }
            ui.separator();
            if ui.button("Fit").on_hover_text("F").clicked() {
                self.fitted = None;
            }
            if ui.button("1:1").clicked()
                && let Some((w, h)) = self.editor().map(|e| e.image_size())
            {
                let viewport = ui.ctx().content_rect();
                self.view = ViewTransform::actual_size(viewport, egui::vec2(w, h));
            }
            ui.separator();
            let mut category = self.category.clone();
            egui::ComboBox::from_label("category")
                .selected_text(&category)
                .show_ui(ui, |ui| {
                    for (i, name) in self.categories.iter().enumerate() {
                        ui.selectable_value(
                            &mut category,
                            name.clone(),
                            format!("{} {name}", i + 1),
                        );
                    }
                });
            if category != self.category {
                self.set_category(&category);
            }
            ui.add(
                egui::Slider::new(&mut self.form.score_threshold, 0.0..=1.0)
                    .text("hide model boxes below"),
            );
            if ui.button("?").on_hover_text("Shortcuts (F1)").clicked() {
                self.show_help = !self.show_help;
            }
            let saved = if self.all_saved() {
                "saved"
            } else {
                "saving…"
            };
            ui.weak(saved);
            if self.draw_mode {
                ui.strong("drawing: drag a box");
            }
        });
        if let Some(status) = &self.status {
            status_ui(ui, status);
        }
    }

    fn filmstrip_ui(&mut self, ui: &mut egui::Ui) {
        let position = self
            .current
            .and_then(|id| self.position_of(id))
            .unwrap_or(0);
        let first = position.saturating_sub(FILMSTRIP / 2);
        let mut clicked = None;
        let mut wanted = Vec::new();
        ui.horizontal(|ui| {
            for p in first..(first + FILMSTRIP).min(self.visible.len()) {
                let Some(entry) = self.visible.get(p).and_then(|&i| self.queue.get(i)) else {
                    continue;
                };
                let name = entry
                    .image
                    .original_name
                    .clone()
                    .unwrap_or_else(|| entry.image.sha256[..8].to_string());
                let texture = self.thumb_textures.get(&entry.image.sha256);
                if texture.is_none() {
                    wanted.push(ThumbRequest {
                        sha256: entry.image.sha256.clone(),
                        relpath: entry.image.path.clone(),
                    });
                }
                let shown = self.current == Some(entry.image.id);
                let response = tile_ui(ui, texture, FILMSTRIP_TILE, shown)
                    .on_hover_text(format!("{name} ({} boxes)", entry.boxes));
                response.widget_info(|| {
                    egui::WidgetInfo::labeled(egui::Role::Button, true, format!("filmstrip {name}"))
                });
                if response.clicked() {
                    clicked = Some(entry.image.id);
                }
            }
        });
        if let Some(thumbs) = &self.thumbs {
            wanted.reverse();
            thumbs.want(wanted);
        }
        if let Some(id) = clicked {
            self.show(Some(id));
        }
    }

    fn side_ui(&mut self, ui: &mut egui::Ui, commands: &mut Commands) {
        ui.heading("Box");
        let selected = self
            .selected
            .and_then(|key| self.editor().and_then(|e| e.get(key)).cloned());
        match &selected {
            Some(b) => {
                let r = b.garment.rect;
                ui.colored_label(category_colour(&b.garment.category), &b.garment.category);
                ui.label(format!(
                    "[{:.0}, {:.0}, {:.0}, {:.0}], {:.0} x {:.0} px",
                    r.x0,
                    r.y0,
                    r.x1,
                    r.y1,
                    r.width(),
                    r.height()
                ));
                ui.label(format!(
                    "{}{}{}",
                    b.garment.origin.as_str(),
                    b.garment
                        .score
                        .map_or(String::new(), |s| format!(", score {s:.2}")),
                    if b.garment.reviewed { ", reviewed" } else { "" }
                ));
                ui.label("Crop preview");
                match self.preview.as_ref().and_then(|p| p.texture.as_ref()) {
                    Some(texture) => {
                        ui.add(
                            egui::Image::new((texture.id(), texture.size_vec2()))
                                .fit_to_exact_size(egui::vec2(192.0, 192.0))
                                .maintain_aspect_ratio(true)
                                .alt_text("crop preview"),
                        );
                    }
                    None => {
                        ui.spinner();
                    }
                }
            }
            None => {
                ui.weak("Click a box to select it; drag on the photo to draw one.");
            }
        }
        ui.separator();
        self.detect_ui(ui, commands);
        ui.separator();
        ui.heading("Crops");
        let crops = &mut self.form.crops;
        ui.add(egui::Slider::new(&mut crops.size, 16..=512).text("size (px)"));
        ui.add(egui::Slider::new(&mut crops.pad, 0.0..=0.5).text("padding"));
        ui.checkbox(&mut crops.square, "square (extend the shorter side)");
        ui.checkbox(&mut crops.reviewed_only, "accepted images only");
        let running = self.crops_job.is_some();
        if ui
            .add_enabled(!running, egui::Button::new("Write crops"))
            .on_hover_text("One PNG per box in the project's crops folder, which training reads")
            .clicked()
        {
            let ctx = ui.ctx().clone();
            self.start_crops(&ctx);
        }
        if let Some(ms) = self.open_millis {
            ui.weak(format!("last image opened in {ms:.0} ms"));
        }
        ui.separator();
        egui::CollapsingHeader::new("Improve the detector")
            .default_open(self.improver.is_running())
            .show(ui, |ui| self.improve_ui(ui));
    }

    /// The detector: which one, its least score, and where to run it.
    fn detect_ui(&mut self, ui: &mut egui::Ui, commands: &mut Commands) {
        ui.heading("Detect");
        ui.horizontal_wrapped(|ui| {
            ui.label("Model");
            let people = self.form.detector == DetectorChoice::People;
            if ui
                .selectable_label(people, "people (shipped)")
                .on_hover_text("The pretrained person detector: on runway photos, the outfits")
                .clicked()
            {
                self.form.detector = DetectorChoice::People;
            }
            let shipped = self.form.detector == DetectorChoice::ShippedGarments;
            if ui
                .selectable_label(shipped, "garments (shipped)")
                .on_hover_text(
                    "The garment detector trained on generated scenes (upper, lower, full body); \
                     improve it from your reviewed images below",
                )
                .clicked()
            {
                self.form.detector = DetectorChoice::ShippedGarments;
            }
            let garments = match &self.form.detector {
                DetectorChoice::Garments(path) => format!(
                    "garments: {}",
                    path.file_name().map_or_else(
                        || path.display().to_string(),
                        |n| n.to_string_lossy().into_owned()
                    )
                ),
                DetectorChoice::People | DetectorChoice::ShippedGarments => {
                    "garments from a file…".to_string()
                }
            };
            let from_file = matches!(self.form.detector, DetectorChoice::Garments(_));
            if ui
                .selectable_label(from_file, garments)
                .on_hover_text(
                    "A garment detector trained by `deepstyle train-detector` (upper, lower, \
                     full body): choose its weights",
                )
                .clicked()
            {
                commands.push(Command::Ask(Dialog::DetectorWeights));
            }
        });
        ui.add(egui::Slider::new(&mut self.form.detect_min_score, 0.05..=0.95).text("least score"))
            .on_hover_text("Detections scoring below this are not stored");
        let running = self.detector.is_running();
        ui.horizontal_wrapped(|ui| {
            let ctx = ui.ctx().clone();
            let mut commands = Vec::new();
            if ui
                .add_enabled(
                    !running,
                    egui::Button::new(format!("Detect {}", self.form.detector.finds())),
                )
                .on_hover_text(
                    "Find them in every image not yet reviewed; their boxes replace earlier \
                     detections",
                )
                .clicked()
            {
                self.detect(&ctx, DetectScope::Project, &mut commands);
            }
            let current = self.current;
            if ui
                .add_enabled(
                    !running && current.is_some(),
                    egui::Button::new("Detect in this image"),
                )
                .clicked()
                && let Some(id) = current
            {
                self.detect(&ctx, DetectScope::Images(vec![id]), &mut commands);
            }
            if running && ui.button("Cancel detection").clicked() {
                self.detector.cancel();
            }
            for command in commands {
                if let Command::Status(status) = command {
                    self.status = Some(status);
                }
            }
        });
    }

    /// Fine-tuning the chosen garment detector on the accepted images' boxes.
    fn improve_ui(&mut self, ui: &mut egui::Ui) {
        let garments = self.form.detector != DetectorChoice::People;
        let running = self.improver.is_running();
        ui.horizontal_wrapped(|ui| {
            let button = ui
                .add_enabled(
                    !running && garments,
                    egui::Button::new("Improve detector from reviewed images"),
                )
                .on_hover_text(
                    "Fine-tune the garment detector on the boxes of accepted images, scored on a \
                     held-out fifth of them before and after; the new weights go to the \
                     project's detectors folder and the current ones are kept",
                )
                .on_disabled_hover_text("Choose a garment detector first");
            if button.clicked()
                && let Err(reason) =
                    self.improver
                        .start(ui.ctx(), &self.form.detector, self.form.improve_iterations)
            {
                self.status = Some(Status {
                    text: reason,
                    is_error: true,
                });
            }
            if running {
                if let Some(loss) = self.improver.loss() {
                    ui.weak(format!("loss {loss:.3}"));
                }
                if ui.button("Cancel improving").clicked() {
                    self.improver.cancel();
                }
            }
        });
        ui.add_enabled(
            !running,
            egui::Slider::new(&mut self.form.improve_iterations, 10..=2_000)
                .logarithmic(true)
                .text("improve iterations"),
        )
        .on_hover_text("About a third of a second each on a laptop's CPU");
        if let Some(report) = &self.improver.last {
            ui.weak(format!(
                "held-out mAP@0.5 {:.3} -> {:.3} ({} images)",
                report.before.map50, report.after.map50, report.held_out
            ));
        }
    }

    fn help_ui(&mut self, ctx: &egui::Context) {
        let mut open = true;
        egui::Window::new("Review shortcuts")
            .open(&mut open)
            .collapsible(false)
            .resizable(false)
            .anchor(egui::Align2::CENTER_CENTER, egui::Vec2::ZERO)
            .show(ctx, |ui| {
                egui::Grid::new("review-shortcuts")
                    .num_columns(2)
                    .striped(true)
                    .show(ui, |ui| {
                        for (keys, what) in SHORTCUTS {
                            ui.strong(*keys);
                            ui.label(*what);
                            ui.end_row();
                        }
                    });
            });
        self.show_help &= open;
    }
}

/// The number a digit key stands for (1-9).
fn digit(key: Key) -> Option<usize> {
    let keys = [
        Key::Num1,
        Key::Num2,
        Key::Num3,
        Key::Num4,
        Key::Num5,
        Key::Num6,
        Key::Num7,
        Key::Num8,
        Key::Num9,
    ];
    keys.iter().position(|k| *k == key).map(|p| p + 1)
}
