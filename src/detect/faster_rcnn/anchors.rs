//! The anchor grid, as torchvision's `AnchorGenerator`: at every cell of a feature map, one box
//! for each pair of aspect ratio and size, centred on the cell's top-left corner in the image
//! (cell `(i, j)` of a map with stride `s` sits at `(j s, i s)`), ratio-major, sizes inner.

use crate::detect::boxes::BoxRect;

#[derive(Debug, Clone, PartialEq)]
pub struct AnchorGrid {
    /// Sides of the square anchors, in image pixels.
    pub sizes: Vec<f32>,
    /// Height over width.
    pub ratios: Vec<f32>,
}

impl AnchorGrid {
    /// Anchors at each cell.
    pub fn per_cell(&self) -> usize {
        self.sizes.len() * self.ratios.len()
    }

    /// The anchors of one cell centred on the origin, rounded to whole pixels as torchvision
    /// rounds them (half to even).
    pub fn cell_anchors(&self) -> Vec<BoxRect> {
        let mut anchors = Vec::with_capacity(self.per_cell());
        for &ratio in &self.ratios {
            let h_ratio = ratio.sqrt();
            let w_ratio = 1.0 / h_ratio;
            for &size in &self.sizes {
                let (half_w, half_h) = (w_ratio * size / 2.0, h_ratio * size / 2.0);
                anchors.push(BoxRect::new(
                    (-half_w).round_ties_even(),
                    (-half_h).round_ties_even(),
                    half_w.round_ties_even(),
                    half_h.round_ties_even(),
                ));
            }
        }
        anchors
    }

    /// Every anchor of a `rows x cols` feature map whose cells are `stride` image pixels apart,
    /// cell by cell in row-major order.
    pub fn anchors(&self, rows: usize, cols: usize, stride: (f32, f32)) -> Vec<BoxRect> {
        let cell = self.cell_anchors();
        let mut anchors = Vec::with_capacity(rows * cols * cell.len());
        for i in 0..rows {
            for j in 0..cols {
                let (x, y) = (j as f32 * stride.0, i as f32 * stride.1);
                anchors.extend(
                    cell.iter()
                        .map(|a| BoxRect::new(a.x0 + x, a.y0 + y, a.x1 + x, a.y1 + y)),
                );
            }
        }
        anchors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cell_anchors_are_ratio_major_and_rounded() {
        let grid = AnchorGrid {
            sizes: vec![32.0, 64.0],
            ratios: vec![0.5, 1.0, 2.0],
        };
        let cell = grid.cell_anchors();
        assert_eq!(cell.len(), 6);
        // Ratio 0.5 (wide): w = 32 * sqrt(2) = 45.25, h = 32 / sqrt(2) = 22.63.
        assert_eq!(cell[0], BoxRect::new(-23.0, -11.0, 23.0, 11.0));
        assert_eq!(cell[1], BoxRect::new(-45.0, -23.0, 45.0, 23.0));
        assert_eq!(cell[2], BoxRect::new(-16.0, -16.0, 16.0, 16.0));
        assert_eq!(cell[3], BoxRect::new(-32.0, -32.0, 32.0, 32.0));
        // Ratio 2 (tall).
        assert_eq!(cell[4], BoxRect::new(-11.0, -23.0, 11.0, 23.0));
    }

    #[test]
    fn the_grid_shifts_each_cell_by_the_stride() {
        let grid = AnchorGrid {
            sizes: vec![16.0],
            ratios: vec![1.0],
        };
        let anchors = grid.anchors(2, 3, (8.0, 10.0));
        assert_eq!(anchors.len(), 6);
        assert_eq!(anchors[0], BoxRect::new(-8.0, -8.0, 8.0, 8.0));
        // Row 0, column 2; then row 1, column 0.
        assert_eq!(anchors[2], BoxRect::new(8.0, -8.0, 24.0, 8.0));
        assert_eq!(anchors[3], BoxRect::new(-8.0, 2.0, 8.0, 18.0));
    }
}
