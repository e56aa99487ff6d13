//! The canvas: the photo and its boxes, with pan (middle drag, or drag while Space is held),
//! zoom (Ctrl + wheel, about the pointer), drawing (a drag on empty canvas, or anywhere after W),
//! moving (drag inside a box) and resizing (drag a corner or an edge). Points are converted only
//! through the view's `image_from_screen` / `screen_from_image`.

use egui::{Color32, Pos2, Rect, Sense, Stroke, StrokeKind, pos2};

use super::transform::{ViewTransform, image_size};
use super::{Gesture, ReviewTab, category_colour};
use crate::detect::boxes::{BoxRect, Handle};
use crate::review::Origin;

/// How far from a corner or an edge a press still grabs it, in screen points.
const GRAB: f32 = 6.0;
/// Side of a drawn handle square, in screen points.
const HANDLE_SIDE: f32 = 7.0;

fn image_rect(rect: BoxRect) -> Rect {
    Rect::from_min_max(pos2(rect.x0, rect.y0), pos2(rect.x1, rect.y1))
}

impl ReviewTab {
    /// Which box (and handle) is under a screen point: the selected box first, then the
    /// smallest box containing it, so nested garments stay reachable.
    fn box_at(&self, screen: Pos2) -> Option<(u64, Handle)> {
        let editor = self.editor()?;
        let point = self.view.image_from_screen(screen);
        let tolerance = self.view.image_length(GRAB);
        let visible = |b: &&crate::review::editor::EditBox| self.is_visible(&b.garment);
        let selected = self
            .selected
            .and_then(|key| editor.get(key))
            .filter(|b| visible(b))
            .and_then(|b| {
                b.garment
                    .rect
                    .handle_at((point.x, point.y), tolerance)
                    .map(|h| (b.key, h))
            });
        selected.or_else(|| {
            editor
                .boxes()
                .iter()
                .filter(visible)
                .filter_map(|b| {
                    b.garment
                        .rect
                        .handle_at((point.x, point.y), tolerance)
                        .map(|h| (b.key, h, b.garment.rect.area()))
                })
                .min_by(|a, b| a.2.total_cmp(&b.2))
                .map(|(key, handle, _)| (key, handle))
        })
    }

    /// Whether a box is shown: people's boxes always, model boxes at or above the threshold.
    pub(super) fn is_visible(&self, garment: &crate::review::GarmentBox) -> bool {
        garment.origin == Origin::Human || garment.score.unwrap_or(1.0) >= self.form.score_threshold
    }

    pub(super) fn canvas_ui(&mut self, ui: &mut egui::Ui) {
        let (rect, response) = ui.allocate_exact_size(ui.available_size(), Sense::click_and_drag());
        response
            .widget_info(|| egui::WidgetInfo::labeled(egui::Role::Canvas, true, "review canvas"));
        let painter = ui.painter_at(rect);
        painter.rect_filled(rect, 0.0, ui.visuals().extreme_bg_color);
        let Some(id) = self.current else {
            painter.text(
                rect.center(),
                egui::Align2::CENTER_CENTER,
                "No images to review: import photos in Collect, or change the filter.",
                egui::FontId::proportional(16.0),
                ui.visuals().weak_text_color(),
            );
            return;
        };
        let Some((width, height)) = self.editor().map(|e| e.image_size()) else {
            let text = match self.failed.get(&id) {
                Some(reason) => format!("Cannot open this image: {reason} (R rejects it)"),
                None => "Opening…".to_string(),
            };
            painter.text(
                rect.center(),
                egui::Align2::CENTER_CENTER,
                text,
                egui::FontId::proportional(16.0),
                ui.visuals().weak_text_color(),
            );
            return;
        };
        let size = egui::vec2(width, height);
        if self.fitted != Some(id) && self.texture_of(id) {
            self.view = ViewTransform::fit(rect.shrink(8.0), size);
            self.fitted = Some(id);
        }
        self.pointer_input(ui, &response, rect);
        if let Some((_, texture)) = self.texture.as_ref().filter(|t| t.0 == id) {
            let image_on_screen = self.view.screen_rect_from_image(Rect::from_min_size(
                Pos2::ZERO,
                image_size(width as u32, height as u32),
            ));
            let uv = Rect::from_min_max(pos2(0.0, 0.0), pos2(1.0, 1.0));
            painter.image(texture.id(), image_on_screen, uv, Color32::WHITE);
        }
        self.paint_boxes(&painter);
    }

    fn pointer_input(&mut self, ui: &egui::Ui, response: &egui::Response, rect: Rect) {
        // egui turns Ctrl + wheel (and pinches) into a zoom; a plain wheel scrolls (pans).
        let (scroll, zoom, hover) =
            ui.input(|i| (i.smooth_scroll_delta, i.zoom_delta(), i.pointer.hover_pos()));
        if let Some(pointer) = hover.filter(|p| rect.contains(*p)) {
            if zoom != 1.0 {
                self.view.zoom_about(pointer, zoom);
            } else if scroll != egui::Vec2::ZERO {
                self.view.pan(scroll);
            }
        }
        if response.dragged_by(egui::PointerButton::Middle) {
            self.view.pan(response.drag_delta());
            return;
        }
        let press = ui.input(|i| i.pointer.press_origin());
        if response.drag_started_by(egui::PointerButton::Primary) {
            self.start_gesture(press.unwrap_or(rect.center()));
        }
        if response.dragged_by(egui::PointerButton::Primary) {
            let pointer = response.interact_pointer_pos();
            self.continue_gesture(response.drag_delta(), pointer);
        }
        if response.drag_stopped() {
            self.finish_gesture();
        }
        if response.clicked() {
            let picked = response.interact_pointer_pos().and_then(|p| self.box_at(p));
            self.selected = picked.map(|(key, _)| key);
        }
    }

    fn start_gesture(&mut self, press: Pos2) {
        if self.space_down {
            self.space_panned = true;
            self.gesture = Gesture::Panning;
            return;
        }
        let from = self.view.image_from_screen(press);
        let grabbed = if self.draw_mode {
            None
        } else {
            self.box_at(press)
        };
        self.gesture = match grabbed {
            Some((key, handle)) => {
                self.selected = Some(key);
                let began = self
                    .current
                    .and_then(|id| self.editors.get_mut(&id))
                    .is_some_and(|editor| editor.begin_drag(key, handle));
                if began {
                    Gesture::Dragging { from }
                } else {
                    Gesture::Idle
                }
            }
            None => Gesture::Drawing { from, to: from },
        };
    }

    fn continue_gesture(&mut self, delta: egui::Vec2, pointer: Option<Pos2>) {
        let Some(pointer) = pointer else {
            return;
        };
        let here = self.view.image_from_screen(pointer);
        match &mut self.gesture {
            Gesture::Panning => self.view.pan(delta),
            Gesture::Drawing { to, .. } => *to = here,
            Gesture::Dragging { from } => {
                let moved = (here.x - from.x, here.y - from.y);
                if let Some(editor) = self.current.and_then(|id| self.editors.get_mut(&id)) {
                    editor.drag_to(moved);
                }
            }
            Gesture::Idle => {}
        }
    }

    fn finish_gesture(&mut self) {
        let gesture = std::mem::replace(&mut self.gesture, Gesture::Idle);
        let Some(editor) = self.current.and_then(|id| self.editors.get_mut(&id)) else {
            return;
        };
        match gesture {
            Gesture::Drawing { from, to } => {
                let rect = BoxRect::from_corners((from.x, from.y), (to.x, to.y));
                if let Some(key) = editor.add(rect, &self.category) {
                    self.selected = Some(key);
                }
                self.draw_mode = false;
            }
            Gesture::Dragging { .. } => {
                editor.end_drag();
            }
            Gesture::Panning | Gesture::Idle => {}
        }
    }

    fn paint_boxes(&self, painter: &egui::Painter) {
        let Some(editor) = self.editor() else {
            return;
        };
        for b in editor.boxes() {
            if !self.is_visible(&b.garment) {
                continue;
            }
            let colour = category_colour(&b.garment.category);
            let selected = self.selected == Some(b.key);
            let on_screen = self.view.screen_rect_from_image(image_rect(b.garment.rect));
            let width = if selected { 3.0 } else { 2.0 };
            painter.rect_stroke(
                on_screen,
                0.0,
                Stroke::new(width, colour),
                StrokeKind::Middle,
            );
            if selected {
                painter.rect_filled(on_screen, 0.0, colour.gamma_multiply(0.12));
                for corner in [
                    on_screen.left_top(),
                    on_screen.right_top(),
                    on_screen.left_bottom(),
                    on_screen.right_bottom(),
                    on_screen.center_top(),
                    on_screen.center_bottom(),
                    on_screen.left_center(),
                    on_screen.right_center(),
                ] {
                    painter.rect_filled(
                        Rect::from_center_size(corner, egui::vec2(HANDLE_SIDE, HANDLE_SIDE)),
                        1.0,
                        colour,
                    );
                }
            }
            let mut label = b.garment.category.clone();
            if let Some(score) = b.garment.score {
                label.push_str(&format!(" {score:.2}"));
            }
            if b.garment.reviewed {
                label.push_str(" (reviewed)");
            }
            let galley =
                painter.layout_no_wrap(label, egui::FontId::proportional(13.0), Color32::BLACK);
            let tag = Rect::from_min_size(
                on_screen.left_top() - egui::vec2(0.0, galley.size().y + 2.0),
                galley.size() + egui::vec2(6.0, 2.0),
            );
            painter.rect_filled(tag, 2.0, colour);
            painter.galley(tag.min + egui::vec2(3.0, 1.0), galley, Color32::BLACK);
        }
        if let Gesture::Drawing { from, to } = self.gesture {
            let rect = self
                .view
                .screen_rect_from_image(Rect::from_two_pos(from, to));
            painter.rect_stroke(
                rect,
                0.0,
                Stroke::new(2.0, category_colour(&self.category)),
                StrokeKind::Middle,
            );
        }
    }
}
