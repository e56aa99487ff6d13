//! Tiling images into one grid picture.

use image::{Rgba, RgbaImage};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GridLayout {
    pub cols: usize,
    /// Pixels between tiles and around the edge.
    pub padding: u32,
    pub background: [u8; 4],
}

impl Default for GridLayout {
    fn default() -> Self {
        GridLayout {
            cols: 8,
            padding: 2,
            background: [0, 0, 0, 255],
        }
    }
}

/// Lays `tiles` (all the size of the first) out in rows of `layout.cols`.
pub fn tile(tiles: &[RgbaImage], layout: &GridLayout) -> RgbaImage {
    let Some(first) = tiles.first() else {
        return RgbaImage::new(1, 1);
    };
    let (tw, th) = first.dimensions();
    let cols = layout.cols.clamp(1, tiles.len()) as u32;
    let rows = tiles.len().div_ceil(cols as usize) as u32;
    let pad = layout.padding;
    let width = cols * tw + (cols + 1) * pad;
    let height = rows * th + (rows + 1) * pad;
    let mut grid = RgbaImage::from_pixel(width, height, Rgba(layout.background));
    for (i, tile) in tiles.iter().enumerate() {
        let (col, row) = (i as u32 % cols, i as u32 / cols);
        let x = pad + col * (tw + pad);
        let y = pad + row * (th + pad);
        image::imageops::overlay(&mut grid, tile, x.into(), y.into());
    }
    grid
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_size_and_tile_positions_follow_the_layout() {
        let tiles: Vec<RgbaImage> = (0..5u8)
            .map(|i| RgbaImage::from_pixel(4, 3, Rgba([i * 40, 0, 0, 255])))
            .collect();
        let layout = GridLayout {
            cols: 3,
            padding: 1,
            background: [9, 9, 9, 255],
        };
        let grid = tile(&tiles, &layout);
        assert_eq!(grid.dimensions(), (3 * 4 + 4, 2 * 3 + 3));
        assert_eq!(grid.get_pixel(0, 0).0, [9, 9, 9, 255]);
        assert_eq!(grid.get_pixel(1, 1).0[0], 0);
        assert_eq!(grid.get_pixel(1 + 5, 1).0[0], 40);
        assert_eq!(grid.get_pixel(1 + 5, 1 + 4).0[0], 160);
        assert_eq!(
            grid.get_pixel(1 + 10, 1 + 4).0,
            [9, 9, 9, 255],
            "no sixth tile"
        );
    }
}
