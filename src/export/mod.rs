//! Exports: image grids (PNG).

pub mod grid;
