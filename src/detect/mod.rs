//! Garment boxes: their geometry (`boxes`), non-maximum suppression (`nms`), and the detectors
//! that propose them: the pretrained person detector (`ssd`) and the garment detector being
//! built (`faster_rcnn`). Boxes from any source (drawn,
//! imported, detected) share these types.

pub mod boxes;
pub mod faster_rcnn;
pub mod nms;
pub mod run;
pub mod ssd;
