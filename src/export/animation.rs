//! Animated GIFs of interpolation paths and favourite loops.

use image::codecs::gif::{GifEncoder, Repeat};
use image::{Delay, Frame, RgbaImage};

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AnimationOptions {
    /// Milliseconds each frame shows.
    pub frame_delay_ms: u32,
    /// Play forever (otherwise once).
    pub looping: bool,
    /// Play the path forward then back (a seamless loop between two garments).
    pub ping_pong: bool,
}

impl Default for AnimationOptions {
    fn default() -> Self {
        AnimationOptions {
            frame_delay_ms: 80,
            looping: true,
            ping_pong: false,
        }
    }
}

/// The frames in playing order: with `ping_pong`, forward then back without repeating the ends.
pub fn playing_order(frames: &[RgbaImage], options: &AnimationOptions) -> Vec<RgbaImage> {
    let mut order = frames.to_vec();
    if options.ping_pong && frames.len() > 2 {
        order.extend(frames[1..frames.len() - 1].iter().rev().cloned());
    }
    order
}

/// Encodes `frames` (all one size) as an animated GIF.
pub fn encode_gif(
    frames: &[RgbaImage],
    options: &AnimationOptions,
) -> Result<Vec<u8>, image::ImageError> {
    let mut bytes = Vec::new();
    {
        let mut encoder = GifEncoder::new_with_speed(&mut bytes, 10);
        encoder.set_repeat(if options.looping {
            Repeat::Infinite
        } else {
            Repeat::Finite(0)
        })?;
        let delay = Delay::from_numer_denom_ms(options.frame_delay_ms.max(10), 1);
        encoder.encode_frames(
            playing_order(frames, options)
                .into_iter()
                .map(|f| Frame::from_parts(f, 0, 0, delay)),
        )?;
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::AnimationDecoder;
    use image::codecs::gif::GifDecoder;

    #[test]
    fn gif_has_every_frame_at_the_right_size() {
        let frames: Vec<RgbaImage> = (0..5u8)
            .map(|i| RgbaImage::from_pixel(12, 9, image::Rgba([i * 50, 100, 0, 255])))
            .collect();
        for (ping_pong, expected) in [(false, 5), (true, 8)] {
            let options = AnimationOptions {
                ping_pong,
                ..AnimationOptions::default()
            };
            let bytes = encode_gif(&frames, &options).unwrap();
            let decoded = GifDecoder::new(std::io::Cursor::new(bytes))
                .unwrap()
                .into_frames()
                .collect_frames()
                .unwrap();
            assert_eq!(decoded.len(), expected);
            assert!(decoded.iter().all(|f| f.buffer().dimensions() == (12, 9)));
            let (num, den) = decoded[0].delay().numer_denom_ms();
            assert_eq!(num / den, 80);
            // Frame 4 of the ping-pong is frame 4 forward; frame 5 goes back to frame 3.
            if ping_pong {
                assert_eq!(
                    decoded[5].buffer().get_pixel(0, 0).0[0],
                    decoded[3].buffer().get_pixel(0, 0).0[0]
                );
            }
        }
    }
}
