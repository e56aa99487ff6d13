//! The canvas's one transform between image pixels and screen points: a scale (screen points
//! per image pixel) and where the image's origin lands on screen. Every coordinate in the Review
//! tab is named by its space and crosses over through [`ViewTransform::image_from_screen`] or
//! [`ViewTransform::screen_from_image`] only.

use egui::{Pos2, Rect, Vec2, pos2, vec2};

/// The closest and farthest zoom, in screen points per image pixel.
const MIN_SCALE: f32 = 0.01;
const MAX_SCALE: f32 = 64.0;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ViewTransform {
    /// Screen points per image pixel.
    pub scale: f32,
    /// Where image pixel (0, 0)'s corner is on screen.
    pub origin: Pos2,
}

impl Default for ViewTransform {
    fn default() -> Self {
        ViewTransform {
            scale: 1.0,
            origin: Pos2::ZERO,
        }
    }
}

impl ViewTransform {
    /// The whole image (`size` pixels) centred in `viewport`, as large as fits.
    pub fn fit(viewport: Rect, size: Vec2) -> Self {
        let scale = (viewport.width() / size.x.max(1.0))
            .min(viewport.height() / size.y.max(1.0))
            .clamp(MIN_SCALE, MAX_SCALE);
        ViewTransform::centred(viewport, size, scale)
    }

    /// One image pixel a screen point, the image centred in `viewport`.
    pub fn actual_size(viewport: Rect, size: Vec2) -> Self {
        ViewTransform::centred(viewport, size, 1.0)
    }

    fn centred(viewport: Rect, size: Vec2, scale: f32) -> Self {
        ViewTransform {
            scale,
            origin: viewport.center() - size * scale / 2.0,
        }
    }

    pub fn screen_from_image(&self, image: Pos2) -> Pos2 {
        self.origin + image.to_vec2() * self.scale
    }

    pub fn image_from_screen(&self, screen: Pos2) -> Pos2 {
        pos2(
            (screen.x - self.origin.x) / self.scale,
            (screen.y - self.origin.y) / self.scale,
        )
    }

    /// A rectangle of image pixels on screen.
    pub fn screen_rect_from_image(&self, image: Rect) -> Rect {
        Rect::from_min_max(
            self.screen_from_image(image.min),
            self.screen_from_image(image.max),
        )
    }

    /// A distance in screen points as image pixels.
    pub fn image_length(&self, screen: f32) -> f32 {
        screen / self.scale
    }

    /// Zooms by `factor` keeping the image point under `screen_anchor` where it is.
    pub fn zoom_about(&mut self, screen_anchor: Pos2, factor: f32) {
        let anchored = self.image_from_screen(screen_anchor);
        self.scale = (self.scale * factor).clamp(MIN_SCALE, MAX_SCALE);
        self.origin = screen_anchor - anchored.to_vec2() * self.scale;
    }

    /// Moves the image by `delta` screen points.
    pub fn pan(&mut self, delta: Vec2) {
        self.origin += delta;
    }
}

/// The point `v` pixels from the image's origin.
pub fn image_point(x: f32, y: f32) -> Pos2 {
    pos2(x, y)
}

/// The size of an image as a vector.
pub fn image_size(width: u32, height: u32) -> Vec2 {
    vec2(width as f32, height as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: Pos2, b: Pos2) -> bool {
        (a - b).length() < 1e-3
    }

    #[test]
    fn the_two_transforms_invert_each_other_under_zoom_and_pan() {
        let mut view = ViewTransform::fit(
            Rect::from_min_size(pos2(100.0, 50.0), vec2(800.0, 600.0)),
            image_size(4000, 6000),
        );
        assert!((view.scale - 0.1).abs() < 1e-6);
        let corner = view.screen_from_image(image_point(4000.0, 6000.0));
        assert!(
            close(corner, pos2(100.0 + 400.0 + 200.0, 650.0)),
            "{corner:?}"
        );
        for (anchor, factor, pan) in [
            (pos2(300.0, 200.0), 1.7, vec2(5.0, -3.0)),
            (pos2(-40.0, 900.0), 0.3, vec2(-120.0, 44.0)),
            (pos2(500.0, 500.0), 9.0, vec2(0.25, 0.5)),
        ] {
            let under = view.image_from_screen(anchor);
            view.zoom_about(anchor, factor);
            assert!(
                close(view.image_from_screen(anchor), under),
                "the point under the cursor stays put"
            );
            view.pan(pan);
            for p in [image_point(0.0, 0.0), image_point(1234.5, 17.25)] {
                assert!(close(view.image_from_screen(view.screen_from_image(p)), p));
            }
        }
    }

    #[test]
    fn actual_size_is_one_point_a_pixel_and_zoom_is_bounded() {
        let viewport = Rect::from_min_size(Pos2::ZERO, vec2(200.0, 100.0));
        let mut view = ViewTransform::actual_size(viewport, image_size(100, 50));
        assert_eq!(view.scale, 1.0);
        assert_eq!(
            view.screen_from_image(image_point(50.0, 25.0)),
            pos2(100.0, 50.0)
        );
        assert_eq!(view.image_length(10.0), 10.0);
        view.zoom_about(Pos2::ZERO, 1e6);
        assert_eq!(view.scale, MAX_SCALE);
    }
}
