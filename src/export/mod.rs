//! Exports: image grids (PNG) and animations (GIF), and the pipeline that renders latents into
//! either (`render`).

pub mod animation;
pub mod crops;
pub mod grid;
pub mod render;
