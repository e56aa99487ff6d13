//! Drawing the Explore tab: the generator bar, the seed grid, the picks with their path strip
//! and corner grid, the favourites, and the side panel with the preview, its path slider,
//! playback, edits and the random walk. Everything here only reads the state and changes the
//! model; the renders follow in the next [`super::StudioTab::logic`].

use crate::gan::sampler::{DirectionKind, GeneratorSource};
use crate::latent::interp::Mode;
use crate::latent::sample::Sample;

use super::super::Tab;
use super::super::dialogs::Dialog;
use super::super::tab::{Command, Commands};
use super::super::widgets::{placeholder, status_ui, tile_ui};
use super::ExploreTab;

/// Side of a path or favourite tile, in points.
const TILE: f32 = 88.0;
/// Bounds of a seed tile's side, in points: the grid fills the panel between them.
const GRID_TILE_MIN: f32 = 48.0;
const GRID_TILE_MAX: f32 = 384.0;
/// Gap between seed tiles, in points.
const GRID_SPACING: f32 = 4.0;
/// Share of the panel's height the seed grid may take.
const GRID_HEIGHT_SHARE: f32 = 0.75;
/// Side of the preview, in points.
const PREVIEW: f32 = 256.0;

impl ExploreTab {
    pub(super) fn explore_ui(&mut self, ui: &mut egui::Ui, commands: &mut Commands) {
        self.generator_bar_ui(ui, commands);
        if let Some(status) = &self.status {
            status_ui(ui, status);
        }
        ui.separator();
        egui::Panel::right("explore-side")
            .resizable(true)
            .default_size(360.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| self.side_ui(ui));
            });
        let grid_height = ui.available_height() * GRID_HEIGHT_SHARE;
        egui::ScrollArea::vertical()
            .id_salt("explore-main")
            .show(ui, |ui| {
                self.grid_ui(ui, grid_height, commands);
                ui.separator();
                self.paths_ui(ui);
                ui.separator();
                self.favourites_ui(ui);
            });
    }

    fn generator_bar_ui(&mut self, ui: &mut egui::Ui, commands: &mut Commands) {
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
                if ui
                    .button("Shipped Fashion-MNIST generator, by category")
                    .clicked()
                {
                    self.load(GeneratorSource::ShippedByCategory);
                    ui.close();
                }
                if ui
                    .button("Shipped Fashion-MNIST generator, unconditional")
                    .clicked()
                {
                    self.load(GeneratorSource::Shipped);
                    ui.close();
                }
                if ui.button("A run's latest generator…").clicked() {
                    commands.push(Command::Ask(Dialog::ExploreRun));
                    ui.close();
                }
                if ui.button("A generator file…").clicked() {
                    commands.push(Command::Ask(Dialog::GeneratorFile));
                    ui.close();
                }
            });
        });
    }

    /// The seed grid, its tiles as large as the panel's width and `height` allow.
    fn grid_ui(&mut self, ui: &mut egui::Ui, height: f32, commands: &mut Commands) {
        if self.info.is_none() && !self.loading {
            ui.vertical_centered(|ui| {
                ui.add_space(24.0);
                ui.heading("No generator loaded");
                ui.label("Load the shipped Fashion-MNIST generator or a run's, or train one.");
                ui.horizontal(|ui| {
                    if ui.button("Load the shipped generator").clicked() {
                        self.load(GeneratorSource::ShippedByCategory);
                    }
                    if ui.button("Train one").clicked() {
                        commands.push(Command::ShowTab(Tab::Train));
                    }
                });
            });
            return;
        }
        let page = &mut self.explorer.page;
        ui.horizontal(|ui| {
            ui.heading("Seeds");
            if ui.button("< Page").clicked() {
                page.previous();
            }
            if ui.button("Page >").clicked() {
                page.next();
            }
            ui.add(egui::DragValue::new(&mut self.jump_to).prefix("seed "));
            if ui.button("Go").clicked() {
                page.first_seed = self.jump_to;
            }
        });
        self.class_ui(ui);
        let by_class = self.explorer.rows_by_class && !self.explorer.classes().is_empty();
        let page = &mut self.explorer.page;
        ui.horizontal(|ui| {
            if !by_class {
                ui.add(egui::Slider::new(&mut page.rows, 1..=8).text("rows"));
            }
            ui.add(egui::Slider::new(&mut page.cols, 1..=8).text("cols"));
            ui.add(egui::Slider::new(&mut page.truncation, 0.1..=1.5).text("truncation"))
                .on_hover_text("Scale z toward 0: lower is more typical, higher more varied");
        });
        ui.horizontal(|ui| {
            if ui
                .button("Resample")
                .on_hover_text("Jump to a random page of seeds")
                .clicked()
            {
                self.explorer.resample_page();
            }
            ui.checkbox(&mut self.smooth, "smooth")
                .on_hover_text("Enlarge samples smoothly instead of with hard pixels");
            if let Some(secs) = self.renders.as_ref().and_then(|r| r.views.grid.secs()) {
                ui.weak(format!("{:.0} ms", secs * 1000.0));
            }
        });
        let (rows, cols) = self.explorer.grid_shape();
        let (rows, cols) = (rows.max(1), cols.max(1));
        self.grid_side = grid_tile_side(ui.available_width(), height, cols, rows);
        let mut clicked = None;
        let grid = self.renders.as_ref().map(|r| &r.views.grid);
        let samples = self.explorer.grid_samples();
        egui::Grid::new("seed-grid")
            .spacing([GRID_SPACING, GRID_SPACING])
            .show(ui, |ui| {
                for (i, sample) in samples.iter().enumerate() {
                    let seed = sample.seed.unwrap_or_default();
                    let texture = grid.and_then(|g| g.texture(i));
                    let picked = self.explorer.is_picked_sample(sample);
                    let class = self
                        .explorer
                        .class_of(sample)
                        .map(|c| format!(" as {c}"))
                        .unwrap_or_default();
                    let response = tile_ui(ui, texture, self.grid_side, picked).on_hover_text(
                        format!("seed {seed}{class}: click to pick, double-click to see it large"),
                    );
                    response.widget_info(|| {
                        egui::WidgetInfo::labeled(
                            egui::Role::Button,
                            true,
                            format!("seed {seed}{class}"),
                        )
                    });
                    // The first click of a double-click has picked it already.
                    if response.double_clicked() {
                        self.enlarged = Some(seed);
                        self.enlarged_fresh = true;
                    } else if response.clicked() {
                        clicked = Some(sample.clone());
                    }
                    if (i + 1) % cols == 0 {
                        ui.end_row();
                    }
                }
            });
        if let Some(sample) = clicked {
            self.explorer.pick(sample);
        }
    }

    /// Morphing a category into another: the newest pick's z again as another class, so the
    /// path (strip, slider, playback, animation export) goes from one to the other.
    fn morph_ui(&mut self, ui: &mut egui::Ui) {
        let classes = self.explorer.classes().to_vec();
        let Some(last) = self.explorer.picks().last() else {
            return;
        };
        if classes.is_empty() {
            return;
        }
        let from = self.explorer.class_of(last).unwrap_or_default().to_string();
        ui.horizontal_wrapped(|ui| {
            ui.label(format!("Morph this {from} into"));
            let mut chosen = None;
            egui::ComboBox::from_id_salt("explore-morph")
                .selected_text("a category…")
                .show_ui(ui, |ui| {
                    for (i, name) in classes.iter().enumerate() {
                        if name != &from && ui.selectable_label(false, name).clicked() {
                            chosen = Some(i);
                        }
                    }
                });
            if let Some(class) = chosen {
                self.explorer.pick_as_class(class);
            }
        })
        .response
        .on_hover_text("Picks the same z as that category: the path between the two is the morph");
    }

    /// A conditional generator's category: the class new seeds are drawn as, or one row of
    /// the grid a class.
    fn class_ui(&mut self, ui: &mut egui::Ui) {
        let classes = self.explorer.classes().to_vec();
        if classes.is_empty() {
            return;
        }
        ui.horizontal(|ui| {
            ui.label("Category:");
            let current = classes
                .get(self.explorer.class)
                .cloned()
                .unwrap_or_default();
            egui::ComboBox::from_id_salt("explore-class")
                .selected_text(current)
                .show_ui(ui, |ui| {
                    for (i, name) in classes.iter().enumerate() {
                        ui.selectable_value(&mut self.explorer.class, i, name);
                    }
                });
            ui.checkbox(&mut self.explorer.rows_by_class, "one row a category")
                .on_hover_text("The same seeds drawn as every category, one row each");
        });
    }

    /// The seed shown large, over the window, until closed (Escape or a click outside).
    pub(super) fn enlarged_ui(&mut self, ui: &mut egui::Ui) {
        let Some(seed) = self.enlarged else {
            return;
        };
        let index = self.explorer.page.seeds().position(|s| s == seed);
        let texture = index.and_then(|i| {
            self.renders
                .as_ref()
                .and_then(|r| r.views.grid.texture(i))
                .cloned()
        });
        let Some(texture) = texture else {
            self.enlarged = None; // paged away, or another generator
            return;
        };
        let screen = ui.ctx().content_rect().size();
        let side = (screen.x.min(screen.y) * 0.8).clamp(128.0, 768.0);
        let mut close = false;
        let modal = egui::Modal::new(egui::Id::unique("explore-enlarged")).show(ui.ctx(), |ui| {
            ui.horizontal(|ui| {
                ui.heading(format!("Seed {seed}"));
                ui.checkbox(&mut self.smooth, "smooth");
                close = ui.button("Close").clicked();
            });
            ui.add(
                egui::Image::new((texture.id(), egui::vec2(side, side)))
                    .alt_text(format!("seed {seed}, large")),
            );
        });
        let fresh = std::mem::take(&mut self.enlarged_fresh);
        if close || (modal.should_close() && !fresh) {
            self.enlarged = None;
        }
    }

    fn paths_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.heading("Picks");
            for pick in self.explorer.picks() {
                ui.label(pick.caption());
            }
            if self.explorer.picks().is_empty() {
                ui.weak("Click samples (up to four) to walk between them.");
            } else if ui.button("Clear").clicked() {
                self.explorer.clear_picks();
            }
        });
        ui.horizontal(|ui| {
            ui.radio_value(&mut self.explorer.mode, Mode::Slerp, "slerp");
            ui.radio_value(&mut self.explorer.mode, Mode::Lerp, "lerp");
            ui.add(egui::Slider::new(&mut self.explorer.steps, 2..=16).text("steps"));
        });
        let Some(renders) = &self.renders else {
            return;
        };
        if self.explorer.picks().len() >= 2 {
            ui.label("Path");
            ui.horizontal_wrapped(|ui| {
                for i in 0..renders.views.strip.len() {
                    let response = tile_ui(ui, renders.views.strip.texture(i), TILE, false);
                    response.widget_info(|| {
                        egui::WidgetInfo::labeled(egui::Role::Image, true, format!("path step {i}"))
                    });
                }
            });
        }
        let corners = &renders.views.corners;
        if self.explorer.picks().len() == 4 && !corners.is_empty() {
            ui.label("Corners (bilinear)");
            let n = (corners.len() as f64).sqrt().round().max(1.0) as usize;
            egui::Grid::new("corner-grid")
                .spacing([2.0, 2.0])
                .show(ui, |ui| {
                    for i in 0..corners.len() {
                        tile_ui(ui, corners.texture(i), TILE * 0.6, false);
                        if (i + 1) % n == 0 {
                            ui.end_row();
                        }
                    }
                });
        }
    }

    fn favourites_ui(&mut self, ui: &mut egui::Ui) {
        ui.heading("Favourites");
        if self.project.is_none() {
            ui.weak("Open a project to keep favourites.");
            return;
        }
        if self.explorer.favourites().is_empty() {
            ui.weak("Star a sample in the preview to keep it here.");
        }
        let mut use_pick: Option<Sample> = None;
        let mut remove = None;
        let views = self.renders.as_ref().map(|r| &r.views.favourites);
        ui.horizontal_wrapped(|ui| {
            for (i, favourite) in self.explorer.usable_favourites().enumerate() {
                ui.vertical(|ui| {
                    let texture = views.and_then(|v| v.texture(i));
                    let name = favourite.name();
                    let response = tile_ui(ui, texture, TILE, false).on_hover_text(format!(
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
                        use_pick = Some(favourite.sample.clone());
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
        if let Some(sample) = use_pick {
            self.explorer.pick(sample);
        }
        if let Some(id) = remove {
            let ctx = ui.ctx().clone();
            self.remove_favourite(id, &ctx);
        }
    }

    fn side_ui(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        ui.heading("Preview");
        let size = egui::vec2(PREVIEW, PREVIEW);
        match self
            .renders
            .as_ref()
            .and_then(|r| r.views.preview.texture(0))
        {
            Some(texture) => {
                ui.add(egui::Image::new((texture.id(), size)));
            }
            None => {
                let (rect, _) = ui.allocate_exact_size(size, egui::Sense::hover());
                placeholder(ui, rect, Some("Pick a sample"));
            }
        }
        self.morph_ui(ui);
        if self.explorer.picks().len() >= 2 {
            ui.horizontal(|ui| {
                ui.add(
                    egui::Slider::new(&mut self.explorer.path_t, 0.0..=1.0).text("along the path"),
                );
                let playing = self.explorer.is_playing();
                if ui.button(if playing { "Pause" } else { "Play" }).clicked() {
                    self.explorer.set_playing(!playing);
                }
            });
        }
        ui.horizontal(|ui| {
            ui.add(
                egui::TextEdit::singleline(&mut self.new_label)
                    .hint_text("label")
                    .desired_width(120.0),
            );
            let can_star = self.explorer.current().is_some() && self.project.is_some();
            if ui
                .add_enabled(can_star, egui::Button::new("Add to favourites"))
                .clicked()
            {
                self.star_current(&ctx);
            }
        });
        ui.separator();
        self.edit_ui(ui);
    }

    fn edit_ui(&mut self, ui: &mut egui::Ui) {
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
                self.explorer.reset_edits();
                self.walking = false;
            }
        });
        let enabled = self.explorer.current().is_some();
        for (i, amount) in self.explorer.amounts.iter_mut().enumerate() {
            ui.add_enabled(
                enabled,
                egui::Slider::new(amount, -4.0..=4.0).text(format!("direction {}", i + 1)),
            );
        }
        ui.horizontal(|ui| {
            ui.add_enabled(
                enabled || self.walking,
                egui::Checkbox::new(&mut self.walking, "random walk"),
            );
            ui.add(egui::Slider::new(&mut self.walk_step, 0.01..=0.6).text("step"));
        });
        if !self.walking
            && self.explorer.walk_position().is_some()
            && ui.button("Pick the walk's position").clicked()
        {
            self.explorer.pick_walk_position();
        }
    }
}

/// The side of a seed tile that lets `cols` x `rows` tiles fill `width` x `height` points.
pub fn grid_tile_side(width: f32, height: f32, cols: usize, rows: usize) -> f32 {
    let fit = |room: f32, n: usize| (room - GRID_SPACING * (n as f32 - 1.0)) / n as f32;
    fit(width, cols.max(1))
        .min(fit(height, rows.max(1)))
        .clamp(GRID_TILE_MIN, GRID_TILE_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_fill_the_narrower_side_within_their_bounds() {
        // 4 columns in 420 points: (420 - 12) / 4 = 102; the height allows more.
        assert_eq!(grid_tile_side(420.0, 1000.0, 4, 4), 102.0);
        // The height limits: (300 - 12) / 4 = 72.
        assert_eq!(grid_tile_side(2000.0, 300.0, 4, 4), 72.0);
        assert_eq!(grid_tile_side(100.0, 100.0, 8, 8), GRID_TILE_MIN);
        assert_eq!(grid_tile_side(5000.0, 5000.0, 1, 1), GRID_TILE_MAX);
        assert_eq!(grid_tile_side(420.0, 1000.0, 0, 0), GRID_TILE_MAX);
    }
}
