//! Image decoding with limits, orientation, perceptual hashes and thumbnails.
//!
//! Every decode of user-supplied bytes goes through [`decode_with_limits`], so a
//! decompression bomb (a tiny file that claims 50000x50000 pixels) is refused before any
//! pixel buffer is allocated.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, RgbaImage};

/// Largest width or height accepted from a file (a 20000 px runway scan is already huge).
pub const MAX_SIDE: u32 = 20_000;
/// Largest decoder allocation accepted from a file.
pub const MAX_ALLOC_BYTES: u64 = 768 * 1024 * 1024;
/// Longest side of a cached thumbnail, in pixels.
pub const THUMB_SIDE: u32 = 160;

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("empty file")]
    Empty,
    #[error("not a supported image (JPEG, PNG, WebP, BMP or GIF)")]
    UnknownFormat,
    #[error("unsupported image format {0:?}")]
    UnsupportedFormat(ImageFormat),
    #[error("image is {width}x{height} pixels, over the limit of {MAX_SIDE}x{MAX_SIDE}")]
    TooLarge { width: u32, height: u32 },
    #[error("image exceeds the decoder's memory or size limits ({0})")]
    Limits(String),
    #[error("corrupt or truncated image data: {0}")]
    Corrupt(String),
}

/// The formats the studio imports, and the file extension each is stored under.
pub fn stored_extension(format: ImageFormat) -> Option<&'static str> {
    match format {
        ImageFormat::Jpeg => Some("jpg"),
        ImageFormat::Png => Some("png"),
        ImageFormat::WebP => Some("webp"),
        ImageFormat::Bmp => Some("bmp"),
        ImageFormat::Gif => Some("gif"),
        _ => None,
    }
}

/// Whether a path's extension names a format the studio imports (used when walking folders).
pub fn has_image_extension(path: &std::path::Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .and_then(ImageFormat::from_extension)
        .and_then(stored_extension)
        .is_some()
}

/// A decoded image, already rotated by its EXIF orientation.
pub struct Decoded {
    pub image: DynamicImage,
    pub format: ImageFormat,
}

/// Sniffs the format from the bytes (not the file name), checks the header against the
/// limits, decodes (the first frame for GIF) and applies the EXIF orientation.
pub fn decode_with_limits(bytes: &[u8]) -> Result<Decoded, DecodeError> {
    if bytes.is_empty() {
        return Err(DecodeError::Empty);
    }
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| DecodeError::Corrupt(e.to_string()))?;
    let format = reader.format().ok_or(DecodeError::UnknownFormat)?;
    if stored_extension(format).is_none() {
        return Err(DecodeError::UnsupportedFormat(format));
    }
    if format == ImageFormat::Jpeg && !jpeg_has_end_marker(bytes) {
        // The decoder would fill the missing part with grey and call it a success.
        return Err(DecodeError::Corrupt(
            "truncated JPEG: no end-of-image marker after the last scan".into(),
        ));
    }
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_ALLOC_BYTES);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(classify)?;
    let (width, height) = decoder.dimensions();
    if width > MAX_SIDE || height > MAX_SIDE {
        return Err(DecodeError::TooLarge { width, height });
    }
    let orientation = decoder.orientation().ok();
    let mut image = DynamicImage::from_decoder(decoder).map_err(classify)?;
    if let Some(orientation) = orientation {
        image.apply_orientation(orientation);
    }
    Ok(Decoded { image, format })
}

/// Whether a JPEG's last start-of-scan (FF DA) is followed by an end-of-image marker (FF D9).
/// Inside entropy-coded data every FF byte is stuffed (FF 00), so neither marker can appear
/// by accident; an EXIF thumbnail's own markers come before the main image's scans.
fn jpeg_has_end_marker(bytes: &[u8]) -> bool {
    let last_scan = bytes
        .windows(2)
        .rposition(|w| w == [0xFF, 0xDA])
        .unwrap_or(0);
    bytes[last_scan..].windows(2).any(|w| w == [0xFF, 0xD9])
}

fn classify(err: image::ImageError) -> DecodeError {
    match err {
        image::ImageError::Limits(e) => DecodeError::Limits(e.to_string()),
        image::ImageError::Unsupported(e) => DecodeError::Corrupt(e.to_string()),
        other => DecodeError::Corrupt(other.to_string()),
    }
}

/// 64-bit difference hash (dHash): the image shrunk to 9x8 grey, one bit per horizontal
/// neighbour pair (left brighter than right). Near-identical pictures differ in few bits.
pub fn dhash(image: &DynamicImage) -> u64 {
    let small = image
        .resize_exact(9, 8, image::imageops::FilterType::Triangle)
        .to_luma8();
    let mut hash = 0u64;
    for y in 0..8 {
        for x in 0..8 {
            let left = small.get_pixel(x, y)[0];
            let right = small.get_pixel(x + 1, y)[0];
            hash = (hash << 1) | u64::from(left > right);
        }
    }
    hash
}

/// Number of differing bits between two hashes.
pub fn hamming(a: u64, b: u64) -> u32 {
    (a ^ b).count_ones()
}

/// A thumbnail whose longest side is at most `side` pixels (never enlarged).
pub fn thumbnail(image: &DynamicImage, side: u32) -> RgbaImage {
    if image.width() <= side && image.height() <= side {
        image.to_rgba8()
    } else {
        image.thumbnail(side, side).to_rgba8()
    }
}

/// Encodes RGBA pixels as PNG bytes.
pub fn encode_png(image: &RgbaImage) -> Result<Vec<u8>, image::ImageError> {
    let mut bytes = Vec::new();
    image.write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png)?;
    Ok(bytes)
}

/// Scales `image` to `width x height` by area averaging: each output pixel is the mean of the
/// input rectangle it covers, partly covered pixels weighted by their share (so shrinking by a
/// whole factor is a plain box mean, and growing blends at most two pixels per axis).
pub fn resize_area(image: &DynamicImage, width: u32, height: u32) -> DynamicImage {
    let src = image.to_rgba8();
    let (sw, sh) = (src.width() as usize, src.height() as usize);
    let (dw, dh) = (width.max(1) as usize, height.max(1) as usize);
    if sw == 0 || sh == 0 {
        return DynamicImage::ImageRgba8(RgbaImage::new(dw as u32, dh as u32));
    }
    let columns = area_weights(sw, dw);
    let rows = area_weights(sh, dh);
    // Rows first into floats (sh x dw), then columns of those.
    let mut across = vec![[0.0f32; 4]; sh * dw];
    for (y, src_row) in src.as_raw().chunks_exact(sw * 4).enumerate() {
        for (x, taps) in columns.iter().enumerate() {
            let out = &mut across[y * dw + x];
            for &(i, w) in taps {
                for (o, v) in out.iter_mut().zip(&src_row[i * 4..i * 4 + 4]) {
                    *o += w * *v as f32;
                }
            }
        }
    }
    let mut out = RgbaImage::new(dw as u32, dh as u32);
    for (y, taps) in rows.iter().enumerate() {
        for x in 0..dw {
            let mut sum = [0.0f32; 4];
            for &(i, w) in taps {
                for (s, v) in sum.iter_mut().zip(&across[i * dw + x]) {
                    *s += w * v;
                }
            }
            let pixel = sum.map(|v| v.round().clamp(0.0, 255.0) as u8);
            out.put_pixel(x as u32, y as u32, image::Rgba(pixel));
        }
    }
    DynamicImage::ImageRgba8(out)
}

/// For each of `to` output cells over `from` input cells: the input cells it covers and the
/// share of the cell each contributes (summing to 1).
fn area_weights(from: usize, to: usize) -> Vec<Vec<(usize, f32)>> {
    let scale = from as f64 / to as f64;
    (0..to)
        .map(|o| {
            let (start, end) = (o as f64 * scale, (o + 1) as f64 * scale);
            let first = start.floor() as usize;
            let last = (end.ceil() as usize).min(from);
            (first..last)
                .map(|i| {
                    let covered = end.min(i as f64 + 1.0) - start.max(i as f64);
                    (i, (covered / scale) as f32)
                })
                .filter(|(_, w)| *w > 0.0)
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn area_resize_averages_what_each_pixel_covers() {
        // 4x2 -> 2x1: each output pixel is the mean of a 2x2 block.
        let src = image::GrayImage::from_raw(4, 2, vec![0, 100, 200, 40, 20, 80, 0, 120]).unwrap();
        let out = resize_area(&DynamicImage::ImageLuma8(src), 2, 1).to_luma8();
        assert_eq!(out.as_raw(), &[50, 90]);
        // 2 -> 3 columns: the middle output pixel covers half of each input pixel.
        let src = image::GrayImage::from_raw(2, 1, vec![0, 90]).unwrap();
        let out = resize_area(&DynamicImage::ImageLuma8(src), 3, 1).to_luma8();
        assert_eq!(out.as_raw(), &[0, 45, 90]);
        // A flat image stays flat at any size, up or down.
        let flat =
            DynamicImage::ImageLuma8(image::GrayImage::from_pixel(28, 28, image::Luma([77])));
        for side in [5, 32, 64] {
            let out = resize_area(&flat, side, side).to_luma8();
            assert!(out.pixels().all(|p| p[0] == 77), "{side}");
        }
    }
    use image::{GrayImage, Luma};

    fn gradient(w: u32, h: u32, flip: bool) -> DynamicImage {
        DynamicImage::ImageLuma8(GrayImage::from_fn(w, h, |x, _| {
            let v = (x * 255 / w.max(1)) as u8;
            Luma([if flip { 255 - v } else { v }])
        }))
    }

    #[test]
    fn dhash_is_stable_under_resizing_and_differs_for_other_content() {
        let a = gradient(200, 100, false);
        let a_small = a.resize_exact(100, 50, image::imageops::FilterType::Lanczos3);
        let b = gradient(200, 100, true);
        assert!(hamming(dhash(&a), dhash(&a_small)) <= 2);
        assert!(hamming(dhash(&a), dhash(&b)) > 32);
    }

    #[test]
    fn refuses_bomb_header_before_allocating() {
        // A PNG whose IHDR claims 50000x50000 RGBA pixels (10 GB) but carries no data.
        let bytes = png_header_only(50_000, 50_000);
        let err = decode_with_limits(&bytes).err().expect("must be refused");
        assert!(
            matches!(err, DecodeError::TooLarge { .. } | DecodeError::Limits(_)),
            "{err}"
        );
    }

    #[test]
    fn names_empty_and_non_image_input() {
        assert!(matches!(decode_with_limits(b""), Err(DecodeError::Empty)));
        assert!(matches!(
            decode_with_limits(b"just some text, not pixels"),
            Err(DecodeError::UnknownFormat)
        ));
    }

    #[test]
    fn refuses_a_truncated_jpeg_that_the_decoder_would_pad() {
        let image = DynamicImage::ImageRgb8(image::RgbImage::from_fn(64, 48, |x, y| {
            image::Rgb([(x * 4) as u8, (y * 5) as u8, 90])
        }));
        let mut bytes = Vec::new();
        image
            .write_to(&mut Cursor::new(&mut bytes), ImageFormat::Jpeg)
            .unwrap();
        assert!(decode_with_limits(&bytes).is_ok());
        let cut = &bytes[..bytes.len() * 2 / 3];
        let err = decode_with_limits(cut).err().expect("truncated");
        assert!(err.to_string().contains("truncated"), "{err}");
    }

    #[test]
    fn thumbnails_keep_aspect_and_never_enlarge() {
        let t = thumbnail(&gradient(400, 200, false), 160);
        assert_eq!(t.dimensions(), (160, 80));
        let small = thumbnail(&gradient(20, 10, false), 160);
        assert_eq!(small.dimensions(), (20, 10));
    }

    /// Builds the signature and IHDR chunk of a PNG (with a correct CRC) and nothing else.
    pub(crate) fn png_header_only(width: u32, height: u32) -> Vec<u8> {
        let mut ihdr = Vec::new();
        ihdr.extend_from_slice(b"IHDR");
        ihdr.extend_from_slice(&width.to_be_bytes());
        ihdr.extend_from_slice(&height.to_be_bytes());
        ihdr.extend_from_slice(&[8, 6, 0, 0, 0]);
        let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
        bytes.extend_from_slice(&13u32.to_be_bytes());
        bytes.extend_from_slice(&ihdr);
        bytes.extend_from_slice(&crc32(&ihdr).to_be_bytes());
        bytes
    }

    fn crc32(data: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
}
