//! Exports: image grids (PNG) and animations (GIF).

pub mod animation;
pub mod grid;
