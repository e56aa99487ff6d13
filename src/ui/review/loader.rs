//! Opens the images of the review queue in a worker: reads and decodes the file (with the
//! import's limits), reads its boxes, and makes the texture's pixels (at most `max_side` a side),
//! so the frame only uploads them. The window asks for the image shown and the next one, so
//! moving along the queue finds the next image already open.

use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};
use image::RgbaImage;

use crate::imaging;
use crate::project::Project;
use crate::review::GarmentBox;

/// An image ready to show.
pub struct Opened {
    pub image_id: i64,
    /// The full-resolution pixels (crop previews read them).
    pub pixels: Arc<RgbaImage>,
    /// What the texture shows: the pixels, shrunk to fit the GPU's largest texture.
    pub display: egui::ColorImage,
    pub boxes: Vec<GarmentBox>,
}

pub enum Loaded {
    Opened(Box<Opened>),
    Failed { image_id: i64, reason: String },
}

pub struct ImageLoader {
    tx: Sender<(i64, String)>,
    rx: Receiver<Loaded>,
}

impl ImageLoader {
    pub fn start(project: Project, max_side: u32, notify: impl Fn() + Send + 'static) -> Self {
        let (tx, requests) = crossbeam_channel::unbounded::<(i64, String)>();
        let (replies, rx) = crossbeam_channel::unbounded();
        let failures = replies.clone();
        let spawned = std::thread::Builder::new()
            .name("review images".into())
            .spawn(move || {
                let catalog = project.catalog();
                while let Ok((image_id, relpath)) = requests.recv() {
                    let boxes = match &catalog {
                        Ok(catalog) => catalog.boxes_of(image_id).map_err(|e| e.to_string()),
                        Err(e) => Err(e.to_string()),
                    };
                    let path = project.resolve(&relpath);
                    let decoded = std::fs::read(&path)
                        .map_err(|e| format!("{}: {e}", path.display()))
                        .and_then(|bytes| {
                            imaging::decode_with_limits(&bytes)
                                .map_err(|e| format!("{}: {e}", path.display()))
                        });
                    let reply = match (decoded, boxes) {
                        (Ok(decoded), Ok(boxes)) => {
                            let pixels = decoded.image.to_rgba8();
                            let display = display_pixels(&pixels, max_side);
                            Loaded::Opened(Box::new(Opened {
                                image_id,
                                pixels: Arc::new(pixels),
                                display,
                                boxes,
                            }))
                        }
                        (Err(reason), _) | (_, Err(reason)) => Loaded::Failed { image_id, reason },
                    };
                    if replies.send(reply).is_err() {
                        return;
                    }
                    notify();
                }
            });
        if let Err(e) = spawned {
            let _ = failures.send(Loaded::Failed {
                image_id: -1,
                reason: format!("could not start the image reader: {e}"),
            });
        }
        ImageLoader { tx, rx }
    }

    /// Asks for an image (its catalog id and stored path).
    pub fn open(&self, image_id: i64, relpath: &str) {
        let _ = self.tx.send((image_id, relpath.to_string()));
    }

    pub fn try_recv(&self) -> Option<Loaded> {
        self.rx.try_recv().ok()
    }
}

/// `pixels` as a texture's image, shrunk (area averaging) when a side exceeds `max_side`.
fn display_pixels(pixels: &RgbaImage, max_side: u32) -> egui::ColorImage {
    let (w, h) = (pixels.width(), pixels.height());
    let longest = w.max(h);
    if longest <= max_side {
        return super::super::widgets::color_image(pixels);
    }
    let scale = max_side as f64 / longest as f64;
    let (tw, th) = (
        ((w as f64 * scale).round() as u32).max(1),
        ((h as f64 * scale).round() as u32).max(1),
    );
    let small = imaging::resize_area(&image::DynamicImage::ImageRgba8(pixels.clone()), tw, th);
    super::super::widgets::color_image(&small.to_rgba8())
}
