//! Annotation formats designers exchange: COCO JSON, YOLO text files and Pascal VOC XML
//! (`export` writes a project's boxes in each, with the images beside them).

pub mod export;
pub mod import;
pub mod read;
pub mod scenes;

/// An annotation format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Format {
    Coco,
    Yolo,
    Voc,
}

impl Format {
    pub const ALL: [Format; 3] = [Format::Coco, Format::Yolo, Format::Voc];

    pub fn name(self) -> &'static str {
        match self {
            Format::Coco => "COCO",
            Format::Yolo => "YOLO",
            Format::Voc => "Pascal VOC",
        }
    }
}

impl std::str::FromStr for Format {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.to_ascii_lowercase().as_str() {
            "coco" => Ok(Format::Coco),
            "yolo" => Ok(Format::Yolo),
            "voc" | "pascal-voc" => Ok(Format::Voc),
            _ => Err(format!("unknown format {text:?}: use coco, yolo or voc")),
        }
    }
}
