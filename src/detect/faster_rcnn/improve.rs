//! Learning from the designer's corrections: the boxes of the project's accepted images become
//! training examples (a detected person counts as a full-body garment, as its crop does); a
//! stable share of those images is held out; the detector is scored on it, fine-tuned on the
//! rest (its backbone frozen, as always), scored again, and the new weights are written under
//! the project's `detectors/`, the previous ones left as they were.

use std::path::{Path, PathBuf};

use super::assess::assess;
use super::data::{reviewed_examples, split_held_out};
use super::eval::Evaluation;
use super::infer::GarmentDetector;
use super::train::{DetectorStep, DetectorTrainError, DetectorTraining, fine_tune};
use crate::jobs::Reporter;
use crate::project::Project;
use crate::project::catalog::CatalogError;

#[derive(Debug, Clone, PartialEq)]
pub struct ImproveOptions {
    pub iterations: u64,
    pub learning_rate: f64,
    /// The share of the reviewed images held out to score on (at least one, never all).
    pub held_out: f32,
    pub seed: u64,
}

impl Default for ImproveOptions {
    fn default() -> Self {
        ImproveOptions {
            iterations: 300,
            learning_rate: 1e-4,
            held_out: 0.2,
            seed: 1,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImproveError {
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Train(#[from] DetectorTrainError),
    #[error(
        "{found} accepted image(s) have boxes of the detector's classes ({classes}); at least 2 are needed, one to learn from and one to score on"
    )]
    TooFew { found: usize, classes: String },
}

/// The detector on the held-out images before and after, and where the new weights are.
#[derive(Debug, Clone)]
pub struct ImproveReport {
    pub trained_on: usize,
    pub held_out: usize,
    pub before: Evaluation,
    pub after: Evaluation,
    pub weights: PathBuf,
    /// Iterations done (fewer than asked when cancelled during training).
    pub iterations: u64,
}

impl ImproveReport {
    pub fn summary(&self) -> String {
        format!(
            "mAP@0.5 on {} held-out image(s): {:.3} before, {:.3} after ({} iterations on {} image(s)); weights {}",
            self.held_out,
            self.before.map50,
            self.after.map50,
            self.iterations,
            self.trained_on,
            self.weights.display()
        )
    }
}

/// The first free `detectors/garments-N.safetensors` of the project.
pub fn next_weights_path(project: &Project) -> PathBuf {
    let dir = project.detectors_dir();
    (1..)
        .map(|n| dir.join(format!("garments-{n}.safetensors")))
        .find(|p| !p.exists() && !p.with_extension("json").exists())
        .unwrap_or_else(|| dir.join("garments.safetensors"))
}

/// Fine-tunes the detector at `weights` on the project's reviewed boxes; writes the result to
/// `out` (or the next free path under `detectors/`). `step` hears every training iteration.
pub fn improve_detector(
    project: &Project,
    weights: &Path,
    out: Option<&Path>,
    options: &ImproveOptions,
    reporter: &dyn Reporter,
    step: &(dyn Fn(&DetectorStep) + Sync),
) -> Result<ImproveReport, ImproveError> {
    let device = candle_core::Device::Cpu;
    let before_detector = GarmentDetector::from_file(weights, &device)?;
    let classes = before_detector.card().config.classes.clone();
    let examples = reviewed_examples(project, &classes)?;
    if examples.len() < 2 {
        return Err(ImproveError::TooFew {
            found: examples.len(),
            classes: classes.join(", "),
        });
    }
    let (learn, held) = split_held_out(examples, options.held_out);
    let before = assess(&before_detector, &held, reporter)?.evaluation;
    drop(before_detector);
    let out = out.map_or_else(|| next_weights_path(project), Path::to_path_buf);
    let training = DetectorTraining {
        iterations: options.iterations,
        learning_rate: options.learning_rate,
        seed: options.seed,
        checkpoint_every: options.iterations.max(1),
        ..DetectorTraining::default()
    };
    let data = format!("{} reviewed image(s) of {}", learn.len(), project.name());
    let iterations = fine_tune(&learn, weights, &out, &data, &training, reporter, step)?;
    // A fine-tuning is short and starts again from the weights it began with: no resume.
    let _ = std::fs::remove_file(super::train::resume_path(&out));
    let after_detector = GarmentDetector::from_file(&out, &device)?;
    let after = assess(&after_detector, &held, reporter)?.evaluation;
    Ok(ImproveReport {
        trained_on: learn.len(),
        held_out: held.len(),
        before,
        after,
        weights: out,
        iterations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint;
    use crate::detect::boxes::BoxRect;
    use crate::detect::faster_rcnn::data::Example;
    use crate::detect::faster_rcnn::model::{DetectorConfig, Layers};
    use crate::detect::faster_rcnn::train::DetectorCard;
    use crate::detect::ssd::PersonDetector;
    use crate::project::ingest::{ImportOptions, import_paths};
    use crate::review::{GarmentBox, ImageStatus, Origin};

    /// A project of `count` accepted photos, each a red block (an `upper` box) on grey at its
    /// own place, and one unreviewed photo.
    fn project_with_reviews(dir: &Path, count: u32) -> Project {
        let project = Project::create(&dir.join("p")).unwrap();
        let mut paths = Vec::new();
        for i in 0..=count {
            let x = 10 + 12 * i;
            let image = image::RgbImage::from_fn(160, 128, |px, py| {
                if (x..x + 50).contains(&px) && (30..100).contains(&py) {
                    image::Rgb([220, 30, 30])
                } else {
                    image::Rgb([100 + i as u8 * 10, 120, 120])
                }
            });
            let path = dir.join(format!("photo{i}.png"));
            image.save(&path).unwrap();
            paths.push(path);
        }
        let options = ImportOptions {
            near_duplicate_distance: 0,
        };
        import_paths(&project, &paths, &options, &crate::jobs::Silent).unwrap();
        let catalog = project.catalog().unwrap();
        let images = catalog.list_images().unwrap();
        assert_eq!(images.len() as u32, count + 1);
        for (n, row) in images.iter().enumerate() {
            let i = paths
                .iter()
                .position(|p| {
                    row.original_name.as_deref() == p.file_name().and_then(|n| n.to_str())
                })
                .unwrap_or(n) as f32;
            let rect = BoxRect::new(10.0 + 12.0 * i, 30.0, 60.0 + 12.0 * i, 100.0);
            let b = GarmentBox {
                id: None,
                rect,
                category: "upper".into(),
                origin: Origin::Human,
                score: None,
                reviewed: i < count as f32,
            };
            let status = (i < count as f32).then_some(ImageStatus::Accepted);
            catalog.add_boxes(&[(row.id, vec![b])], status).unwrap();
        }
        project
    }

    /// Untrained weights of a small detector, with their card.
    fn fresh_weights(dir: &Path) -> PathBuf {
        let device = candle_core::Device::Cpu;
        let config = DetectorConfig {
            hidden: 32,
            channels: 16,
            context_layers: 1,
            shape_inputs: true,
            ..DetectorConfig::default()
        };
        let person = PersonDetector::shipped(&device).unwrap();
        let layers = Layers::new(&config, person.network(), &device).unwrap();
        let path = dir.join("start.safetensors");
        checkpoint::save_tensors(&checkpoint::named(&layers.vars, ""), &path).unwrap();
        let card = DetectorCard {
            architecture: "faster-rcnn-mobilenetv2-stride16".into(),
            config,
            iterations: 0,
            data: "nothing".into(),
            backbone: "ssdlite-person".into(),
        };
        checkpoint::save_json(&card, &checkpoint::sidecar_path(&path)).unwrap();
        path
    }

    #[test]
    fn only_accepted_reviewed_boxes_are_learnt_and_a_share_is_held_out() {
        let dir = tempfile::tempdir().unwrap();
        let project = project_with_reviews(dir.path(), 5);
        let classes: Vec<String> = ["upper", "lower", "full"].map(String::from).to_vec();
        let examples = reviewed_examples(&project, &classes).unwrap();
        assert_eq!(examples.len(), 5);
        let shas: Vec<String> = examples.iter().map(|(s, _)| s.clone()).collect();
        let (learn, held) = split_held_out(examples.clone(), 0.4);
        assert_eq!((learn.len(), held.len()), (3, 2));
        let (again_learn, again_held) = split_held_out(examples.into_iter().rev().collect(), 0.4);
        let paths = |e: &[Example]| e.iter().map(|e| e.path.clone()).collect::<Vec<_>>();
        assert_eq!(
            paths(&held),
            paths(&again_held),
            "the split follows the images, not their order"
        );
        assert_eq!(paths(&learn), paths(&again_learn));
        // Never all held out, never none.
        let one = |share| {
            let e: Vec<_> = shas
                .iter()
                .take(2)
                .map(|s| (s.clone(), held[0].clone()))
                .collect();
            let (l, h) = split_held_out(e, share);
            (l.len(), h.len())
        };
        assert_eq!(one(0.0), (1, 1));
        assert_eq!(one(1.0), (1, 1));
    }

    #[test]
    fn improving_writes_new_weights_and_keeps_the_old_ones() {
        let dir = tempfile::tempdir().unwrap();
        let project = project_with_reviews(dir.path(), 4);
        let start = fresh_weights(dir.path());
        let before_bytes = std::fs::read(&start).unwrap();
        let options = ImproveOptions {
            iterations: 6,
            learning_rate: 1e-3,
            held_out: 0.5,
            seed: 2,
        };
        let steps = std::sync::Mutex::new(0);
        let report = improve_detector(
            &project,
            &start,
            None,
            &options,
            &crate::jobs::Silent,
            &|_| *steps.lock().unwrap() += 1,
        )
        .unwrap();
        assert_eq!((report.trained_on, report.held_out), (2, 2));
        assert_eq!((report.iterations, *steps.lock().unwrap()), (6, 6));
        assert_eq!(
            report.weights,
            project.detectors_dir().join("garments-1.safetensors")
        );
        assert!(report.weights.is_file());
        assert!(!train_resume(&report.weights).exists());
        assert_eq!(std::fs::read(&start).unwrap(), before_bytes);
        assert_ne!(std::fs::read(&report.weights).unwrap(), before_bytes);
        let card: DetectorCard =
            checkpoint::load_json(&checkpoint::sidecar_path(&report.weights)).unwrap();
        assert!(card.data.contains("2 reviewed image(s)"), "{}", card.data);
        assert_eq!(
            next_weights_path(&project),
            project.detectors_dir().join("garments-2.safetensors")
        );
    }

    #[test]
    fn one_reviewed_image_is_not_enough() {
        let dir = tempfile::tempdir().unwrap();
        let project = project_with_reviews(dir.path(), 1);
        let start = fresh_weights(dir.path());
        let err = improve_detector(
            &project,
            &start,
            None,
            &ImproveOptions::default(),
            &crate::jobs::Silent,
            &|_| {},
        )
        .unwrap_err();
        assert!(
            matches!(err, ImproveError::TooFew { found: 1, .. }),
            "{err}"
        );
        assert!(!project.detectors_dir().exists());
    }

    fn train_resume(weights: &Path) -> PathBuf {
        super::super::train::resume_path(weights)
    }
}
