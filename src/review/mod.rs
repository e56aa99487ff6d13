//! Reviewing garment boxes: the boxes of one image as the designer edits them, with undo
//! (`editor`), and the worker that saves every edit to the catalog (`saver`). The window's
//! Review tab and any other face drive these; nothing here draws.

pub mod editor;
pub mod queue;
pub mod saver;

use crate::detect::boxes::BoxRect;

/// DeepFashion's three category types, the default categories of a project.
pub const DEFAULT_CATEGORIES: [&str; 3] = ["upper", "lower", "full"];

/// The category a box's crop is filed under: a detected person is DeepFashion's `full` (on a
/// runway photo the person's box is the whole outfit); every other category is its own.
pub fn crop_category(category: &str) -> &str {
    if category == crate::detect::ssd::PERSON {
        "full"
    } else {
        category
    }
}

/// Who made a box.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Origin {
    /// A detector proposed it.
    Model,
    /// A person drew, corrected or imported it.
    Human,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Model => "model",
            Origin::Human => "human",
        }
    }

    pub fn parse(text: &str) -> Option<Origin> {
        match text {
            "model" => Some(Origin::Model),
            "human" => Some(Origin::Human),
            _ => None,
        }
    }
}

/// Where an image stands in review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ImageStatus {
    /// Not reviewed yet (the catalog's `new`).
    Unreviewed,
    Accepted,
    Rejected,
}

impl ImageStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ImageStatus::Unreviewed => "new",
            ImageStatus::Accepted => "accepted",
            ImageStatus::Rejected => "rejected",
        }
    }

    pub fn parse(text: &str) -> ImageStatus {
        match text {
            "accepted" => ImageStatus::Accepted,
            "rejected" => ImageStatus::Rejected,
            _ => ImageStatus::Unreviewed,
        }
    }
}

/// A box as it is stored: its catalog id (none until first saved), where it is, what it is.
#[derive(Debug, Clone, PartialEq)]
pub struct GarmentBox {
    pub id: Option<i64>,
    pub rect: BoxRect,
    pub category: String,
    /// The detector's confidence; none for boxes people made.
    pub score: Option<f32>,
    pub origin: Origin,
    pub reviewed: bool,
}
