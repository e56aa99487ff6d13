//! Tiling images into one grid picture: padding, background, upscaling and captions.

use image::imageops::FilterType;
use image::{Rgba, RgbaImage};

/// How tiles are enlarged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum Upscale {
    /// Hard pixels: what the model made, bigger.
    #[default]
    Nearest,
    /// Smooth, for mood boards.
    Lanczos,
}

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GridLayout {
    pub cols: usize,
    /// Pixels between tiles and around the edge.
    pub padding: u32,
    pub background: [u8; 4],
    /// Each tile is enlarged this many times (1 = as generated).
    pub scale: u32,
    pub filter: Upscale,
}

impl Default for GridLayout {
    fn default() -> Self {
        GridLayout {
            cols: 8,
            padding: 2,
            background: [0, 0, 0, 255],
            scale: 1,
            filter: Upscale::Nearest,
        }
    }
}

/// Lays `tiles` (all the size of the first) out in rows of `layout.cols`.
pub fn tile(tiles: &[RgbaImage], layout: &GridLayout) -> RgbaImage {
    tile_captioned(tiles, &[], layout)
}

/// As [`tile`], with `captions[i]` written under tile `i` (digits, `t=0.5`, `#12`, `seed 3`...;
/// other characters are left blank). No captions, no caption band.
pub fn tile_captioned(tiles: &[RgbaImage], captions: &[String], layout: &GridLayout) -> RgbaImage {
    let Some(first) = tiles.first() else {
        return RgbaImage::new(1, 1);
    };
    let scale = layout.scale.clamp(1, 64);
    let (tw, th) = (first.width() * scale, first.height() * scale);
    let glyph = (tw / 40).max(1);
    let band = if captions.is_empty() { 0 } else { 7 * glyph };
    let cols = layout.cols.clamp(1, tiles.len()) as u32;
    let rows = tiles.len().div_ceil(cols as usize) as u32;
    let pad = layout.padding;
    let width = cols * tw + (cols + 1) * pad;
    let height = rows * (th + band) + (rows + 1) * pad;
    let mut grid = RgbaImage::from_pixel(width, height, Rgba(layout.background));
    let [r, g, b, _] = layout.background;
    let luma = 0.299 * r as f32 + 0.587 * g as f32 + 0.114 * b as f32;
    let ink = if luma < 128.0 {
        Rgba([240, 240, 240, 255])
    } else {
        Rgba([20, 20, 20, 255])
    };
    for (i, tile) in tiles.iter().enumerate() {
        let (col, row) = (i as u32 % cols, i as u32 / cols);
        let x = pad + col * (tw + pad);
        let y = pad + row * (th + band + pad);
        let enlarged;
        let shown = if scale == 1 {
            tile
        } else {
            let filter = match layout.filter {
                Upscale::Nearest => FilterType::Nearest,
                Upscale::Lanczos => FilterType::Lanczos3,
            };
            enlarged = image::imageops::resize(tile, tw, th, filter);
            &enlarged
        };
        image::imageops::overlay(&mut grid, shown, x.into(), y.into());
        if let Some(caption) = captions.get(i) {
            draw_text(
                &mut grid,
                caption,
                x + glyph,
                y + th + glyph,
                glyph,
                tw,
                ink,
            );
        }
    }
    grid
}

/// 3x5 glyphs, one row per u8 (bits 2..0 = left..right): digits, letters (drawn as capitals,
/// whatever the case) and the punctuation labels and class names use. Other characters leave
/// a gap.
fn glyph(c: char) -> Option<[u8; 5]> {
    Some(match c {
        '0' => [7, 5, 5, 5, 7],
        '1' => [2, 6, 2, 2, 7],
        '2' => [7, 1, 7, 4, 7],
        '3' => [7, 1, 3, 1, 7],
        '4' => [5, 5, 7, 1, 1],
        '5' => [7, 4, 7, 1, 7],
        '6' => [7, 4, 7, 5, 7],
        '7' => [7, 1, 1, 2, 2],
        '8' => [7, 5, 7, 5, 7],
        '9' => [7, 5, 7, 1, 7],
        'a' => [2, 5, 7, 5, 5],
        'b' => [6, 5, 6, 5, 6],
        'c' => [3, 4, 4, 4, 3],
        'd' => [6, 5, 5, 5, 6],
        'e' => [7, 4, 6, 4, 7],
        'f' => [7, 4, 6, 4, 4],
        'g' => [3, 4, 5, 5, 3],
        'h' => [5, 5, 7, 5, 5],
        'i' => [7, 2, 2, 2, 7],
        'j' => [1, 1, 1, 5, 2],
        'k' => [5, 5, 6, 5, 5],
        'l' => [4, 4, 4, 4, 7],
        'm' => [5, 7, 7, 5, 5],
        'n' => [6, 5, 5, 5, 5],
        'o' => [2, 5, 5, 5, 2],
        'p' => [6, 5, 6, 4, 4],
        'q' => [2, 5, 5, 6, 3],
        'r' => [6, 5, 6, 5, 5],
        's' => [3, 4, 2, 1, 6],
        't' => [7, 2, 2, 2, 2],
        'u' => [5, 5, 5, 5, 7],
        'v' => [5, 5, 5, 5, 2],
        'w' => [5, 5, 7, 7, 5],
        'x' => [5, 5, 2, 5, 5],
        'y' => [5, 5, 2, 2, 2],
        'z' => [7, 1, 2, 4, 7],
        '-' => [0, 0, 7, 0, 0],
        '.' => [0, 0, 0, 0, 2],
        ',' => [0, 0, 0, 2, 4],
        '=' => [0, 7, 0, 7, 0],
        ':' => [0, 2, 0, 2, 0],
        '#' => [5, 7, 5, 7, 5],
        '/' => [1, 1, 2, 4, 4],
        '(' => [2, 4, 4, 4, 2],
        ')' => [2, 1, 1, 1, 2],
        '+' => [0, 2, 7, 2, 0],
        '_' => [0, 0, 0, 0, 7],
        '\'' => [2, 2, 0, 0, 0],
        '!' => [2, 2, 2, 0, 2],
        '?' => [7, 1, 2, 0, 2],
        '&' => [2, 5, 2, 5, 3],
        _ => return None,
    })
}

/// Writes `text` with `size`-pixel glyph dots from `(x, y)`, clipped to `max_width`.
fn draw_text(
    image: &mut RgbaImage,
    text: &str,
    x: u32,
    y: u32,
    size: u32,
    max_width: u32,
    ink: Rgba<u8>,
) {
    let advance = 4 * size;
    for (i, c) in text.chars().enumerate() {
        let left = x + i as u32 * advance;
        if left + 3 * size > x + max_width {
            break;
        }
        let Some(rows) = glyph(c.to_ascii_lowercase()) else {
            continue;
        };
        for (row, bits) in rows.iter().enumerate() {
            for column in 0..3u32 {
                if bits & (4 >> column) == 0 {
                    continue;
                }
                for dy in 0..size {
                    for dx in 0..size {
                        let (px, py) = (left + column * size + dx, y + row as u32 * size + dy);
                        if px < image.width() && py < image.height() {
                            image.put_pixel(px, py, ink);
                        }
                    }
                }
            }
        }
    }
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
            ..GridLayout::default()
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

    #[test]
    fn every_letter_and_digit_has_a_glyph_of_its_own() {
        let chars: Vec<char> = ('a'..='z').chain('0'..='9').collect();
        let glyphs: Vec<[u8; 5]> = chars.iter().filter_map(|&c| glyph(c)).collect();
        assert_eq!(glyphs.len(), chars.len());
        for (i, a) in glyphs.iter().enumerate() {
            for (j, b) in glyphs.iter().enumerate().skip(i + 1) {
                assert_ne!(a, b, "{} and {} look alike", chars[i], chars[j]);
            }
        }
        // Capitals draw as their lower-case letters: a class name like "T-shirt/top" is whole.
        let mut image = RgbaImage::new(60, 5);
        draw_text(&mut image, "T-shirt/top", 0, 0, 1, 60, Rgba([255; 4]));
        let inked_columns = (0..44)
            .filter(|&x| (0..5).any(|y| image.get_pixel(x, y).0[0] == 255))
            .count();
        assert!(inked_columns >= 28, "{inked_columns} columns inked");
    }

    #[test]
    fn upscaling_and_captions_grow_the_grid_and_keep_tiles_in_place() {
        let tiles: Vec<RgbaImage> = (0..4u8)
            .map(|i| RgbaImage::from_pixel(8, 8, Rgba([i * 60, 0, 0, 255])))
            .collect();
        let layout = GridLayout {
            cols: 2,
            padding: 3,
            background: [255, 255, 255, 255],
            scale: 5,
            filter: Upscale::Nearest,
        };
        let plain = tile(&tiles, &layout);
        assert_eq!(plain.dimensions(), (2 * 40 + 3 * 3, 2 * 40 + 3 * 3));
        let captions: Vec<String> = (0..4).map(|i| format!("#{i}")).collect();
        let captioned = tile_captioned(&tiles, &captions, &layout);
        // 40-pixel tiles get 1-pixel glyph dots and a 7-pixel caption band under each row.
        assert_eq!(
            captioned.dimensions(),
            (2 * 40 + 3 * 3, 2 * (40 + 7) + 3 * 3)
        );
        // Tile 3 starts below row 0's caption band.
        assert_eq!(captioned.get_pixel(3 + 43, 3 + 47 + 3).0, [180, 0, 0, 255]);
        // Dark ink on the light background, inside tile 0's caption band.
        let band = (0..40).flat_map(|x| (0..7).map(move |y| (3 + x, 3 + 40 + y)));
        assert!(
            band.into_iter()
                .any(|(x, y)| captioned.get_pixel(x, y).0 == [20, 20, 20, 255])
        );
    }
}
