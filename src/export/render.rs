//! From latent vectors to a picture on disk, for the window and the command line alike: render
//! with a generator in chunks (progress and cancel between them), lay the images out as a grid
//! PNG or scale them into a GIF, and write the file atomically.

use std::path::{Path, PathBuf};

use image::RgbaImage;
use image::imageops::FilterType;

use super::animation::{AnimationOptions, encode_gif, playing_order};
use super::grid::{GridLayout, tile_captioned};
use crate::gan::sample::LoadedGenerator;
use crate::jobs::Reporter;

/// Images rendered between two looks at the cancel flag.
const CHUNK: usize = 16;

/// What the rendered images become.
#[derive(Debug, Clone, PartialEq)]
pub enum Picture {
    /// One PNG of tiles, `captions[i]` under tile `i` (none: no caption band).
    Grid {
        layout: GridLayout,
        captions: Vec<String>,
    },
    /// A GIF of the images in order, each enlarged `scale` times (hard pixels).
    Animation {
        options: AnimationOptions,
        scale: u32,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("cancelled")]
    Cancelled,
    #[error("nothing to render")]
    Empty,
    #[error("generation failed: {0}")]
    Generate(#[from] candle_core::Error),
    #[error("cannot encode {path}: {source}")]
    Encode {
        path: PathBuf,
        source: image::ImageError,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Renders `latents` in chunks, reporting progress and stopping when cancelled.
pub fn render(
    generator: &LoadedGenerator,
    latents: &[Vec<f32>],
    reporter: &dyn Reporter,
) -> Result<Vec<RgbaImage>, RenderError> {
    let mut images = Vec::with_capacity(latents.len());
    for chunk in latents.chunks(CHUNK) {
        if reporter.is_cancelled() {
            return Err(RenderError::Cancelled);
        }
        reporter.progress(images.len() as u64, latents.len() as u64, "rendering");
        images.extend(generator.images_for_latents(chunk)?);
    }
    if reporter.is_cancelled() {
        return Err(RenderError::Cancelled);
    }
    Ok(images)
}

/// Renders `latents` and writes them to `path` as `picture` says; nothing is written when it
/// fails or is cancelled.
pub fn write_picture(
    generator: &LoadedGenerator,
    latents: &[Vec<f32>],
    picture: &Picture,
    path: &Path,
    reporter: &dyn Reporter,
) -> Result<(), RenderError> {
    if latents.is_empty() {
        return Err(RenderError::Empty);
    }
    let images = render(generator, latents, reporter)?;
    reporter.progress(1, 1, "encoding");
    let encode_error = |source| RenderError::Encode {
        path: path.to_path_buf(),
        source,
    };
    let bytes = match picture {
        Picture::Grid { layout, captions } => {
            let grid = tile_captioned(&images, captions, layout);
            crate::imaging::encode_png(&grid).map_err(encode_error)?
        }
        Picture::Animation { options, scale } => {
            let frames: Vec<RgbaImage> = images.iter().map(|f| enlarge(f, *scale)).collect();
            encode_gif(&frames, options).map_err(encode_error)?
        }
    };
    if reporter.is_cancelled() {
        return Err(RenderError::Cancelled);
    }
    crate::atomic::write_atomic(path, &bytes).map_err(|source| RenderError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// What `picture` will look like, to show before writing it: the grid (shrunk, if need be, to
/// at most `max_side` pixels a side), or the animation's frames in playing order at the size
/// the generator makes them.
pub fn preview(
    generator: &LoadedGenerator,
    latents: &[Vec<f32>],
    picture: &Picture,
    max_side: u32,
    reporter: &dyn Reporter,
) -> Result<Vec<RgbaImage>, RenderError> {
    if latents.is_empty() {
        return Err(RenderError::Empty);
    }
    let images = render(generator, latents, reporter)?;
    Ok(match picture {
        Picture::Grid { layout, captions } => {
            vec![fit_within(
                tile_captioned(&images, captions, layout),
                max_side,
            )]
        }
        Picture::Animation { options, .. } => playing_order(&images, options),
    })
}

/// `image` shrunk (Triangle filter, aspect kept) so neither side exceeds `max_side`.
fn fit_within(image: RgbaImage, max_side: u32) -> RgbaImage {
    let longest = image.width().max(image.height());
    if longest <= max_side.max(1) {
        return image;
    }
    let shrink = |side: u32| ((side as u64 * max_side as u64) / longest as u64).max(1) as u32;
    let (width, height) = (shrink(image.width()), shrink(image.height()));
    image::imageops::resize(&image, width, height, FilterType::Triangle)
}

/// `image` enlarged `scale` times (1 to 64) with hard pixels.
pub fn enlarge(image: &RgbaImage, scale: u32) -> RgbaImage {
    let scale = scale.clamp(1, 64);
    if scale == 1 {
        return image.clone();
    }
    image::imageops::resize(
        image,
        image.width() * scale,
        image.height() * scale,
        FilterType::Nearest,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::{CancelToken, Silent};

    struct Cancelled(CancelToken);

    impl Reporter for Cancelled {
        fn progress(&self, _done: u64, _total: u64, _msg: &str) {}
        fn is_cancelled(&self) -> bool {
            self.0.is_cancelled()
        }
    }

    fn shipped() -> LoadedGenerator {
        crate::gan::sample::load_shipped_generator(&candle_core::Device::Cpu).unwrap()
    }

    #[test]
    fn a_preview_is_the_grid_to_be_written_or_the_frames_in_playing_order() {
        let generator = shipped();
        let latents: Vec<Vec<f32>> = (0..3)
            .map(|s| crate::latent::z_from_seed(s, generator.z_dim()))
            .collect();
        let layout = GridLayout {
            cols: 3,
            padding: 1,
            scale: 2,
            ..GridLayout::default()
        };
        let grid = Picture::Grid {
            layout,
            captions: Vec::new(),
        };
        let shown = preview(&generator, &latents, &grid, 4096, &Silent).unwrap();
        assert_eq!(shown.len(), 1);
        assert_eq!((shown[0].width(), shown[0].height()), (3 * 64 + 4, 64 + 2));
        // A grid larger than the preview's bound is shrunk with its aspect kept.
        let shrunk = preview(&generator, &latents, &grid, 98, &Silent).unwrap();
        assert_eq!((shrunk[0].width(), shrunk[0].height()), (98, 33));

        let animation = Picture::Animation {
            options: AnimationOptions {
                ping_pong: true,
                ..AnimationOptions::default()
            },
            scale: 4,
        };
        let frames = preview(&generator, &latents, &animation, 4096, &Silent).unwrap();
        assert_eq!(
            frames.len(),
            4,
            "forward and back without repeating the ends"
        );
        assert_eq!(frames[0].width(), 32);
        assert_eq!(frames[1], frames[3]);
        assert!(matches!(
            preview(&generator, &[], &grid, 4096, &Silent),
            Err(RenderError::Empty)
        ));
    }

    #[test]
    fn a_grid_and_an_animation_are_written_and_a_cancel_writes_nothing() {
        let generator = shipped();
        let dir = tempfile::tempdir().unwrap();
        let latents: Vec<Vec<f32>> = (0..3)
            .map(|s| crate::latent::z_from_seed(s, generator.z_dim()))
            .collect();
        let grid_path = dir.path().join("grid.png");
        let grid = Picture::Grid {
            layout: GridLayout {
                cols: 3,
                padding: 1,
                scale: 2,
                ..GridLayout::default()
            },
            captions: Vec::new(),
        };
        write_picture(&generator, &latents, &grid, &grid_path, &Silent).unwrap();
        let png = image::open(&grid_path).unwrap();
        assert_eq!((png.width(), png.height()), (3 * 64 + 4, 64 + 2));

        let gif_path = dir.path().join("walk.gif");
        let animation = Picture::Animation {
            options: AnimationOptions::default(),
            scale: 3,
        };
        write_picture(&generator, &latents, &animation, &gif_path, &Silent).unwrap();
        use image::AnimationDecoder;
        let file = std::io::BufReader::new(std::fs::File::open(&gif_path).unwrap());
        let frames = image::codecs::gif::GifDecoder::new(file)
            .unwrap()
            .into_frames()
            .collect_frames()
            .unwrap();
        assert_eq!(frames.len(), 3);
        assert_eq!(frames[0].buffer().width(), 96);

        let token = CancelToken::default();
        token.cancel();
        let kept = dir.path().join("kept.png");
        let result = write_picture(&generator, &latents, &grid, &kept, &Cancelled(token));
        assert!(matches!(result, Err(RenderError::Cancelled)), "{result:?}");
        assert!(!kept.exists());
        assert!(matches!(
            write_picture(&generator, &[], &grid, &kept, &Silent),
            Err(RenderError::Empty)
        ));
    }
}
