//! Which images the review queue shows: by status, category, model score range and the origin
//! of their boxes.

use super::{ImageStatus, Origin};
use crate::project::boxes::QueueEntry;

/// Which images by their review status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum StatusFilter {
    #[default]
    All,
    Unreviewed,
    Accepted,
    Rejected,
    /// Images with no boxes at all.
    NoBoxes,
}

impl StatusFilter {
    pub const ALL: [StatusFilter; 5] = [
        StatusFilter::All,
        StatusFilter::Unreviewed,
        StatusFilter::Accepted,
        StatusFilter::Rejected,
        StatusFilter::NoBoxes,
    ];

    pub fn name(self) -> &'static str {
        match self {
            StatusFilter::All => "all",
            StatusFilter::Unreviewed => "unreviewed",
            StatusFilter::Accepted => "accepted",
            StatusFilter::Rejected => "rejected",
            StatusFilter::NoBoxes => "no boxes",
        }
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct QueueFilter {
    pub status: StatusFilter,
    /// Images with a box of this category.
    pub category: Option<String>,
    /// Images with a model box scored in this range (the full range [0, 1] filters nothing).
    pub min_score: f32,
    pub max_score: f32,
    /// Images with a box of this origin.
    pub origin: Option<Origin>,
}

impl Default for QueueFilter {
    fn default() -> Self {
        QueueFilter {
            status: StatusFilter::All,
            category: None,
            min_score: 0.0,
            max_score: 1.0,
            origin: None,
        }
    }
}

impl QueueFilter {
    pub fn matches(&self, entry: &QueueEntry) -> bool {
        let status = match self.status {
            StatusFilter::All => true,
            StatusFilter::Unreviewed => entry.status == ImageStatus::Unreviewed,
            StatusFilter::Accepted => entry.status == ImageStatus::Accepted,
            StatusFilter::Rejected => entry.status == ImageStatus::Rejected,
            StatusFilter::NoBoxes => entry.boxes == 0,
        };
        let category = self
            .category
            .as_ref()
            .is_none_or(|c| entry.categories.contains(c));
        let full_range = self.min_score <= 0.0 && self.max_score >= 1.0;
        let score = full_range
            || entry
                .scores
                .is_some_and(|(lo, hi)| hi >= self.min_score && lo <= self.max_score);
        let origin = match self.origin {
            None => true,
            Some(Origin::Model) => entry.has_model_boxes,
            Some(Origin::Human) => entry.has_human_boxes,
        };
        status && category && score && origin
    }

    /// The positions in `queue` of the images that pass.
    pub fn apply(&self, queue: &[QueueEntry]) -> Vec<usize> {
        queue
            .iter()
            .enumerate()
            .filter(|(_, e)| self.matches(e))
            .map(|(i, _)| i)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::ImageRow;

    fn entry(
        id: i64,
        status: ImageStatus,
        categories: &[&str],
        scores: Option<(f32, f32)>,
    ) -> QueueEntry {
        QueueEntry {
            image: ImageRow {
                id,
                sha256: format!("{id:064}"),
                path: String::new(),
                width: 10,
                height: 10,
                dhash: None,
                source_url: None,
                source_kind: "file".into(),
                original_name: None,
                added_at: String::new(),
                status: status.as_str().into(),
            },
            status,
            boxes: categories.len(),
            categories: categories.iter().map(|c| c.to_string()).collect(),
            scores,
            has_model_boxes: scores.is_some(),
            has_human_boxes: scores.is_none() && !categories.is_empty(),
        }
    }

    #[test]
    fn filters_combine() {
        let queue = vec![
            entry(1, ImageStatus::Unreviewed, &["full"], Some((0.2, 0.95))),
            entry(2, ImageStatus::Accepted, &["upper", "lower"], None),
            entry(3, ImageStatus::Rejected, &[], None),
            entry(4, ImageStatus::Unreviewed, &["full"], Some((0.05, 0.3))),
        ];
        let mut filter = QueueFilter::default();
        assert_eq!(filter.apply(&queue), [0, 1, 2, 3]);
        filter.status = StatusFilter::Unreviewed;
        assert_eq!(filter.apply(&queue), [0, 3]);
        filter.min_score = 0.9;
        assert_eq!(filter.apply(&queue), [0]);
        filter = QueueFilter {
            status: StatusFilter::NoBoxes,
            ..QueueFilter::default()
        };
        assert_eq!(filter.apply(&queue), [2]);
        filter = QueueFilter {
            category: Some("lower".into()),
            ..QueueFilter::default()
        };
        assert_eq!(filter.apply(&queue), [1]);
        filter = QueueFilter {
            origin: Some(Origin::Model),
            max_score: 0.1,
            ..QueueFilter::default()
        };
        assert_eq!(filter.apply(&queue), [3]);
    }
}
