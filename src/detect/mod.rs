//! Garment boxes: their geometry (`boxes`). The detectors that propose them come later; boxes
//! from any source (drawn, imported, detected) share these types.

pub mod boxes;
