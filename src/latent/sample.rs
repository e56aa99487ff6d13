//! A sample: one point in a generator's latent space, with the seed it came from (while it is
//! unedited) and a designer's label. The explorer's picks, latent files and favourites all hold
//! samples, so a sample moves between them unchanged.

use serde::{Deserialize, Serialize};

use super::seed_latent;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// The seed the z came from, if it was not edited since.
    pub seed: Option<u64>,
    #[serde(default)]
    pub label: String,
    pub z: Vec<f32>,
}

impl Sample {
    /// The sample of a seed, scaled toward 0 by `truncation` (1.0 = as drawn).
    pub fn of_seed(seed: u64, z_dim: usize, truncation: f32) -> Self {
        Sample {
            seed: Some(seed),
            label: String::new(),
            z: seed_latent(seed, z_dim, truncation),
        }
    }

    /// A latent that came from no seed (a point on a path, an edit, a walk).
    pub fn unnamed(z: Vec<f32>) -> Self {
        Sample {
            seed: None,
            label: String::new(),
            z,
        }
    }

    /// What a grid caption or a list shows: the label, else `#seed`, else `edited`.
    pub fn caption(&self) -> String {
        match (self.seed, self.label.is_empty()) {
            (_, false) => self.label.clone(),
            (Some(seed), true) => format!("#{seed}"),
            (None, true) => "edited".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captions_prefer_the_label_then_the_seed() {
        let mut sample = Sample::of_seed(12, 4, 1.0);
        assert_eq!(sample.caption(), "#12");
        sample.label = "long coat".into();
        assert_eq!(sample.caption(), "long coat");
        assert_eq!(Sample::unnamed(vec![0.0; 4]).caption(), "edited");
    }

    #[test]
    fn a_seed_sample_is_the_seed_latent() {
        let sample = Sample::of_seed(5, 100, 0.5);
        assert_eq!(sample.z, seed_latent(5, 100, 0.5));
        assert_eq!(sample.z.len(), 100);
    }
}
