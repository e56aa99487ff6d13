//! The explorer's side of the sampler protocol: one [`SlotView`] a view (seed grid, path strip,
//! corner grid, preview, favourites) holding the latents it shows and their pictures as they
//! arrive. Each frame a view is told which latents it should show; it asks the worker for a
//! render only when they differ from what it shows, so no state is ever marked stale by hand.

use crate::device::DeviceChoice;

use crate::gan::sampler::{Sampler, SamplerReply, SamplerRequest, Slot};

use super::super::widgets::upload_texture;

/// The pictures of one view, as they arrive.
#[derive(Default)]
pub struct SlotView {
    generation: u64,
    latents: Vec<Vec<f32>>,
    textures: Vec<Option<egui::TextureHandle>>,
    /// Seconds the last complete render took in the worker.
    secs: Option<f64>,
}

impl SlotView {
    /// Shows `latents`: asks for their render unless they are what the view shows already.
    fn want(&mut self, sampler: &Sampler, slot: Slot, latents: Vec<Vec<f32>>) {
        if latents == self.latents {
            return;
        }
        self.generation += 1;
        self.textures = vec![None; latents.len()];
        self.secs = None;
        if !latents.is_empty() {
            sampler.send(SamplerRequest::Render {
                slot,
                generation: self.generation,
                latents: latents.clone(),
            });
        }
        self.latents = latents;
    }

    /// Forgets the pictures (another generator draws them differently).
    fn clear(&mut self) {
        *self = SlotView {
            generation: self.generation + 1,
            ..SlotView::default()
        };
    }

    fn receive(
        &mut self,
        ctx: &egui::Context,
        name: &str,
        first: usize,
        images: &[image::RgbaImage],
        options: egui::TextureOptions,
    ) {
        for (i, image) in images.iter().enumerate() {
            let texture =
                upload_texture(ctx, format!("explore-{name}-{}", first + i), image, options);
            if let Some(slot) = self.textures.get_mut(first + i) {
                *slot = Some(texture);
            }
        }
    }

    /// Whether every picture has arrived (false when there are none).
    pub fn complete(&self) -> bool {
        !self.textures.is_empty() && self.textures.iter().all(Option::is_some)
    }

    pub fn len(&self) -> usize {
        self.textures.len()
    }

    pub fn is_empty(&self) -> bool {
        self.textures.is_empty()
    }

    /// Pictures that have arrived.
    pub fn ready(&self) -> usize {
        self.textures.iter().flatten().count()
    }

    pub fn texture(&self, index: usize) -> Option<&egui::TextureHandle> {
        self.textures.get(index).and_then(Option::as_ref)
    }

    pub fn secs(&self) -> Option<f64> {
        self.secs
    }
}

/// What the worker said besides pictures.
pub enum Notice {
    Loaded(crate::gan::sampler::GeneratorInfo),
    LoadFailed(String),
    Directions(Vec<Vec<f32>>),
    Failed(String),
}

/// The views, one a slot.
#[derive(Default)]
pub struct Views {
    pub grid: SlotView,
    pub strip: SlotView,
    pub corners: SlotView,
    pub preview: SlotView,
    pub favourites: SlotView,
}

impl Views {
    fn get_mut(&mut self, slot: Slot) -> &mut SlotView {
        match slot {
            Slot::Grid => &mut self.grid,
            Slot::Strip => &mut self.strip,
            Slot::Corners => &mut self.corners,
            Slot::Preview => &mut self.preview,
            Slot::Favourites => &mut self.favourites,
        }
    }
}

/// The sampler worker and the views it draws for.
pub struct Renders {
    sampler: Sampler,
    pub views: Views,
    /// Enlarge the pictures smoothly (bilinear) rather than with hard pixels.
    smooth: bool,
}

impl Renders {
    /// Starts the worker on `device` (the studio's; the CPU if that device cannot start).
    pub fn start(ctx: &egui::Context, device: DeviceChoice) -> Self {
        let repaint = ctx.clone();
        Renders {
            sampler: Sampler::start(device, move || repaint.request_repaint()),
            views: Views::default(),
            smooth: false,
        }
    }

    /// Switches between hard pixels and smooth enlargement; the views render again.
    pub fn set_smooth(&mut self, smooth: bool) {
        if smooth != self.smooth {
            self.smooth = smooth;
            self.clear();
        }
    }

    pub fn send(&self, request: SamplerRequest) {
        self.sampler.send(request);
    }

    /// Shows `latents` in the view of `slot` (rendering them if they changed).
    pub fn want(&mut self, slot: Slot, latents: Vec<Vec<f32>>) {
        self.views.get_mut(slot).want(&self.sampler, slot, latents);
    }

    /// Forgets every view's pictures (a new generator was loaded).
    pub fn clear(&mut self) {
        for slot in [
            Slot::Grid,
            Slot::Strip,
            Slot::Corners,
            Slot::Preview,
            Slot::Favourites,
        ] {
            self.views.get_mut(slot).clear();
        }
    }

    /// Takes the worker's replies: pictures go to their views, the rest is returned.
    pub fn drain(&mut self, ctx: &egui::Context) -> Vec<Notice> {
        let mut notices = Vec::new();
        while let Some(reply) = self.sampler.try_recv() {
            match reply {
                SamplerReply::Images {
                    slot,
                    generation,
                    first,
                    images,
                    secs,
                    done,
                } => {
                    let view = self.views.get_mut(slot);
                    if generation != view.generation {
                        continue; // an older request's pictures
                    }
                    let options = if self.smooth {
                        egui::TextureOptions::LINEAR
                    } else {
                        egui::TextureOptions::NEAREST
                    };
                    view.receive(ctx, &format!("{slot:?}"), first, &images, options);
                    if done {
                        view.secs = Some(secs);
                    }
                }
                SamplerReply::Loaded(info) => notices.push(Notice::Loaded(info)),
                SamplerReply::LoadFailed(message) => notices.push(Notice::LoadFailed(message)),
                SamplerReply::Directions(directions) => {
                    notices.push(Notice::Directions(directions))
                }
                SamplerReply::Failed(message) => notices.push(Notice::Failed(message)),
            }
        }
        notices
    }
}
