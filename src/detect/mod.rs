//! Garment boxes: their geometry (`boxes`), non-maximum suppression (`nms`), and the detectors
//! that propose them: the pretrained person detector (`ssd`). Boxes from any source (drawn,
//! imported, detected) share these types.

pub mod boxes;
pub mod nms;
pub mod run;
pub mod ssd;
