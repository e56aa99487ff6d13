//! Small pieces every tab uses: putting a decoded picture on the GPU, a square tile that shows a
//! picture or its placeholder until the picture arrives, and a tab's status line.

use super::tab::Status;

/// Uploads an RGBA picture as a texture named `name` (egui replaces a texture of the same name).
pub fn upload_texture(
    ctx: &egui::Context,
    name: impl Into<String>,
    image: &image::RgbaImage,
    options: egui::TextureOptions,
) -> egui::TextureHandle {
    ctx.load_texture(name, color_image(image), options)
}

/// An RGBA picture in egui's form (for decoding in a worker and uploading in the frame).
pub fn color_image(image: &image::RgbaImage) -> egui::ColorImage {
    let size = [image.width() as usize, image.height() as usize];
    egui::ColorImage::from_rgba_unmultiplied(size, image.as_raw())
}

/// A clickable square of `side` points showing `texture`, or a faint placeholder while it has
/// not arrived; framed when `picked`, outlined when hovered.
pub fn tile_ui(
    ui: &mut egui::Ui,
    texture: Option<&egui::TextureHandle>,
    side: f32,
    picked: bool,
) -> egui::Response {
    let size = egui::vec2(side, side);
    let (rect, response) = ui.allocate_exact_size(size, egui::Sense::click());
    let painter = ui.painter();
    match texture {
        Some(texture) => {
            let uv = egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0));
            painter.image(texture.id(), rect, uv, egui::Color32::WHITE);
        }
        None => placeholder(ui, rect, None),
    }
    let stroke = if picked {
        Some(egui::Stroke::new(3.0, ui.visuals().selection.stroke.color))
    } else if response.hovered() {
        Some(ui.visuals().widgets.hovered.bg_stroke)
    } else {
        None
    };
    if let Some(stroke) = stroke {
        ui.painter()
            .rect_stroke(rect, 2.0, stroke, egui::StrokeKind::Inside);
    }
    response
}

/// Paints the placeholder of a picture that has not arrived, with an optional hint.
pub fn placeholder(ui: &egui::Ui, rect: egui::Rect, hint: Option<&str>) {
    let painter = ui.painter();
    painter.rect_filled(rect, 2.0, ui.visuals().faint_bg_color);
    if let Some(hint) = hint {
        painter.text(
            rect.center(),
            egui::Align2::CENTER_CENTER,
            hint,
            egui::FontId::proportional(14.0),
            ui.visuals().weak_text_color(),
        );
    }
}

/// A tab's last message: plain, or in the error colour.
pub fn status_ui(ui: &mut egui::Ui, status: &Status) {
    if status.is_error {
        ui.colored_label(ui.visuals().error_fg_color, &status.text);
    } else {
        ui.label(&status.text);
    }
}
