//! Axis-aligned boxes in image pixels: `[x0, y0, x1, y1]`, f32, top-left origin, `x1`/`y1`
//! exclusive, area `(x1 - x0) * (y1 - y0)` (no +1 pixel), as every format and model here uses.

/// A box in image pixels.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BoxRect {
    pub x0: f32,
    pub y0: f32,
    pub x1: f32,
    pub y1: f32,
}

/// Which part of a box a drag grabs: a corner or an edge resizes, the inside moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Handle {
    TopLeft,
    Top,
    TopRight,
    Right,
    BottomRight,
    Bottom,
    BottomLeft,
    Left,
    Inside,
}

impl Handle {
    /// Which sides the handle moves: (left, top, right, bottom).
    fn sides(self) -> (bool, bool, bool, bool) {
        match self {
            Handle::TopLeft => (true, true, false, false),
            Handle::Top => (false, true, false, false),
            Handle::TopRight => (false, true, true, false),
            Handle::Right => (false, false, true, false),
            Handle::BottomRight => (false, false, true, true),
            Handle::Bottom => (false, false, false, true),
            Handle::BottomLeft => (true, false, false, true),
            Handle::Left => (true, false, false, false),
            Handle::Inside => (true, true, true, true),
        }
    }
}

impl BoxRect {
    pub fn new(x0: f32, y0: f32, x1: f32, y1: f32) -> Self {
        BoxRect { x0, y0, x1, y1 }
    }

    /// The box spanned by two corners in any order.
    pub fn from_corners(a: (f32, f32), b: (f32, f32)) -> Self {
        BoxRect {
            x0: a.0.min(b.0),
            y0: a.1.min(b.1),
            x1: a.0.max(b.0),
            y1: a.1.max(b.1),
        }
    }

    pub fn width(&self) -> f32 {
        self.x1 - self.x0
    }

    pub fn height(&self) -> f32 {
        self.y1 - self.y0
    }

    /// `(x1 - x0) * (y1 - y0)`; 0 for an empty or inverted box.
    pub fn area(&self) -> f32 {
        self.width().max(0.0) * self.height().max(0.0)
    }

    /// Whether the box has a positive area and finite corners.
    pub fn is_valid(&self) -> bool {
        [self.x0, self.y0, self.x1, self.y1]
            .iter()
            .all(|v| v.is_finite())
            && self.x1 > self.x0
            && self.y1 > self.y0
    }

    pub fn center(&self) -> (f32, f32) {
        ((self.x0 + self.x1) / 2.0, (self.y0 + self.y1) / 2.0)
    }

    pub fn contains(&self, (x, y): (f32, f32)) -> bool {
        x >= self.x0 && x < self.x1 && y >= self.y0 && y < self.y1
    }

    /// Intersection over union; 0 when either box is empty.
    pub fn iou(&self, other: &BoxRect) -> f32 {
        let inter = BoxRect {
            x0: self.x0.max(other.x0),
            y0: self.y0.max(other.y0),
            x1: self.x1.min(other.x1),
            y1: self.y1.min(other.y1),
        }
        .area();
        let union = self.area() + other.area() - inter;
        if union <= 0.0 { 0.0 } else { inter / union }
    }

    /// The box cut to an image of `width x height` pixels.
    pub fn clamped(&self, width: f32, height: f32) -> BoxRect {
        BoxRect {
            x0: self.x0.clamp(0.0, width),
            y0: self.y0.clamp(0.0, height),
            x1: self.x1.clamp(0.0, width),
            y1: self.y1.clamp(0.0, height),
        }
    }

    /// The box moved by `(dx, dy)` but kept whole inside the image (its size unchanged where it
    /// fits).
    pub fn moved_within(&self, (dx, dy): (f32, f32), width: f32, height: f32) -> BoxRect {
        let dx = dx.clamp(-self.x0, width - self.x1);
        let dy = dy.clamp(-self.y0, height - self.y1);
        BoxRect {
            x0: self.x0 + dx,
            y0: self.y0 + dy,
            x1: self.x1 + dx,
            y1: self.y1 + dy,
        }
    }

    /// The box after dragging `handle` by `(dx, dy)` image pixels, inside the image: `Inside`
    /// moves it whole, a corner or an edge moves those sides. A side dragged past its opposite
    /// swaps with it (the box flips rather than inverting), and the box keeps `min_side` pixels.
    pub fn dragged(
        &self,
        handle: Handle,
        (dx, dy): (f32, f32),
        (width, height): (f32, f32),
        min_side: f32,
    ) -> BoxRect {
        if handle == Handle::Inside {
            return self.moved_within((dx, dy), width, height);
        }
        let (left, top, right, bottom) = handle.sides();
        let shift = |v: f32, moves: bool, d: f32| if moves { v + d } else { v };
        let (xa, xb) = (shift(self.x0, left, dx), shift(self.x1, right, dx));
        let (ya, yb) = (shift(self.y0, top, dy), shift(self.y1, bottom, dy));
        let mut rect = BoxRect::from_corners((xa, ya), (xb, yb)).clamped(width, height);
        let min_w = min_side.min(width);
        let min_h = min_side.min(height);
        if rect.width() < min_w {
            // Grow away from the side that did not move.
            if left && !right {
                rect.x0 = (rect.x1 - min_w).max(0.0);
                rect.x1 = rect.x0 + min_w;
            } else {
                rect.x1 = (rect.x0 + min_w).min(width);
                rect.x0 = rect.x1 - min_w;
            }
        }
        if rect.height() < min_h {
            if top && !bottom {
                rect.y0 = (rect.y1 - min_h).max(0.0);
                rect.y1 = rect.y0 + min_h;
            } else {
                rect.y1 = (rect.y0 + min_h).min(height);
                rect.y0 = rect.y1 - min_h;
            }
        }
        rect
    }

    /// The handle under `point` (image pixels) when handles reach `tolerance` pixels around
    /// the corners and edges; corners win over edges, edges over the inside.
    pub fn handle_at(&self, (x, y): (f32, f32), tolerance: f32) -> Option<Handle> {
        let near = |a: f32, b: f32| (a - b).abs() <= tolerance;
        let within_x = x >= self.x0 - tolerance && x <= self.x1 + tolerance;
        let within_y = y >= self.y0 - tolerance && y <= self.y1 + tolerance;
        if !within_x || !within_y {
            return None;
        }
        let (l, r, t, b) = (
            near(x, self.x0),
            near(x, self.x1),
            near(y, self.y0),
            near(y, self.y1),
        );
        Some(match (l, r, t, b) {
            (true, _, true, _) => Handle::TopLeft,
            (_, true, true, _) => Handle::TopRight,
            (true, _, _, true) => Handle::BottomLeft,
            (_, true, _, true) => Handle::BottomRight,
            (true, _, _, _) => Handle::Left,
            (_, true, _, _) => Handle::Right,
            (_, _, true, _) => Handle::Top,
            (_, _, _, true) => Handle::Bottom,
            _ if self.contains((x, y)) => Handle::Inside,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn area_and_iou_use_exclusive_corners() {
        let a = BoxRect::new(0.0, 0.0, 10.0, 10.0);
        let b = BoxRect::new(5.0, 0.0, 15.0, 10.0);
        assert_eq!(a.area(), 100.0);
        assert!((a.iou(&b) - 50.0 / 150.0).abs() < 1e-6);
        assert_eq!(a.iou(&a), 1.0);
        assert_eq!(
            a.iou(&BoxRect::new(10.0, 0.0, 20.0, 10.0)),
            0.0,
            "touching is not overlapping"
        );
        assert_eq!(BoxRect::new(3.0, 3.0, 1.0, 1.0).area(), 0.0);
        assert!(!BoxRect::new(3.0, 3.0, 3.0, 9.0).is_valid());
        assert!(!BoxRect::new(0.0, f32::NAN, 3.0, 9.0).is_valid());
    }

    #[test]
    fn moving_keeps_the_box_whole_inside_the_image() {
        let a = BoxRect::new(10.0, 10.0, 30.0, 40.0);
        assert_eq!(
            a.moved_within((-50.0, 5.0), 100.0, 100.0),
            BoxRect::new(0.0, 15.0, 20.0, 45.0)
        );
        assert_eq!(
            a.dragged(Handle::Inside, (500.0, 500.0), (100.0, 100.0), 1.0),
            BoxRect::new(80.0, 70.0, 100.0, 100.0)
        );
    }

    #[test]
    fn corners_and_edges_resize_and_flip_rather_than_invert() {
        let a = BoxRect::new(10.0, 10.0, 30.0, 40.0);
        let image = (100.0, 100.0);
        assert_eq!(
            a.dragged(Handle::BottomRight, (5.0, -10.0), image, 1.0),
            BoxRect::new(10.0, 10.0, 35.0, 30.0)
        );
        assert_eq!(
            a.dragged(Handle::Left, (-4.0, 99.0), image, 1.0),
            BoxRect::new(6.0, 10.0, 30.0, 40.0),
            "an edge moves one side only"
        );
        assert_eq!(
            a.dragged(Handle::Right, (-30.0, 0.0), image, 1.0),
            BoxRect::new(0.0, 10.0, 10.0, 40.0),
            "dragged past the left side, the right side becomes the left"
        );
        assert_eq!(
            a.dragged(Handle::TopLeft, (-20.0, -20.0), image, 1.0),
            BoxRect::new(0.0, 0.0, 30.0, 40.0),
            "clamped to the image"
        );
        let thin = a.dragged(Handle::Right, (-20.0, 0.0), image, 2.0);
        assert_eq!(thin.width(), 2.0, "{thin:?}");
        assert_eq!(thin.x0, 10.0);
    }

    #[test]
    fn handles_are_found_with_corners_first() {
        let a = BoxRect::new(10.0, 10.0, 30.0, 40.0);
        assert_eq!(a.handle_at((10.5, 9.0), 2.0), Some(Handle::TopLeft));
        assert_eq!(a.handle_at((30.0, 40.0), 2.0), Some(Handle::BottomRight));
        assert_eq!(a.handle_at((20.0, 41.0), 2.0), Some(Handle::Bottom));
        assert_eq!(a.handle_at((29.0, 25.0), 2.0), Some(Handle::Right));
        assert_eq!(a.handle_at((20.0, 25.0), 2.0), Some(Handle::Inside));
        assert_eq!(a.handle_at((50.0, 25.0), 2.0), None);
        assert_eq!(a.handle_at((33.0, 25.0), 2.0), None);
    }
}
