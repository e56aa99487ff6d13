//! Everything that defines a DCGAN run; saved beside every checkpoint.

/// Image sizes the architecture supports (one up/down-sampling block per doubling).
pub const IMAGE_SIZES: [usize; 3] = [32, 64, 128];

/// How training images are scaled to the training size (before the centre crop).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Resize {
    /// Lanczos3: sharp; the default.
    #[default]
    Lanczos,
    /// Area averaging (each output pixel is the mean of the input area it covers): no ringing,
    /// the usual choice for shrinking photos a long way.
    Area,
}

impl Resize {
    pub const ALL: [Resize; 2] = [Resize::Lanczos, Resize::Area];

    pub fn name(self) -> &'static str {
        match self {
            Resize::Lanczos => "Lanczos",
            Resize::Area => "area",
        }
    }
}

impl std::str::FromStr for Resize {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Resize::ALL
            .into_iter()
            .find(|r| r.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| format!("unknown resize filter {s:?}: use lanczos or area"))
    }
}

/// The adversarial loss.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Loss {
    /// Binary cross-entropy, the generator maximising log D(G(z)) (DCGAN's).
    #[default]
    Bce,
    /// Hinge: D minimises relu(1 - D(x)) + relu(1 + D(G(z))), G minimises -D(G(z))
    /// (Lim & Ye 2017; SNGAN, BigGAN).
    Hinge,
}

impl std::str::FromStr for Loss {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "bce" => Ok(Loss::Bce),
            "hinge" => Ok(Loss::Hinge),
            _ => Err(format!("unknown loss {s:?}: use bce or hinge")),
        }
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct GanConfig {
    /// Side of the square training images: 32, 64 or 128.
    pub image_size: usize,
    /// 1 (grey) or 3 (RGB).
    pub channels: usize,
    pub z_dim: usize,
    /// Generator feature maps in the last block (pytorch's ngf).
    pub ngf: usize,
    /// Discriminator feature maps in the first block (pytorch's ndf).
    pub ndf: usize,
    pub batch_size: usize,
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    /// Total generator/discriminator iterations to train for.
    pub iterations: u64,
    pub seed: u64,
    /// Random horizontal flips of training images.
    pub flip: bool,
    /// How images are scaled to `image_size` (runs saved before this existed used Lanczos).
    pub resize: Resize,
    /// Write a sample grid every this many iterations.
    pub sample_every: u64,
    /// Write a checkpoint every this many iterations (and always at stop).
    pub checkpoint_every: u64,
    /// Compute threads; `None` uses all cores but one.
    pub threads: Option<usize>,
    /// Class names of a conditional model (class-conditional BatchNorm in G, a projection in
    /// D); empty for an unconditional one.
    pub classes: Vec<String>,
    pub loss: Loss,
    /// Decay of an exponential moving average of G's weights, used for samples and the saved
    /// generator; `None` for no average.
    pub ema: Option<f64>,
    /// Spectral normalisation of D's weights (Miyato et al. 2018), in place of its BatchNorm.
    pub spectral_norm: bool,
    /// The discriminator's learning rate when it differs from G's `lr` (two time-scale
    /// update rule, Heusel et al. 2017).
    pub lr_d: Option<f64>,
    /// Weight of an auxiliary classifier's loss (AC-GAN, Odena et al. 2017), conditional
    /// models only: D also learns the class of real images, and G is trained to make its
    /// images recognised as the class asked for. `None` for no classifier.
    pub aux_classifier: Option<f64>,
    /// Weight of a mode-seeking term in G's loss (Mao et al. 2019): the two halves of each
    /// batch of fakes share their classes, and G is pushed to make them differ as much as their
    /// noise does. `None` for no term.
    pub mode_seeking: Option<f64>,
    /// Weight of a twin classifier (TAC-GAN, Gong et al. 2019), with the auxiliary classifier
    /// only: a second class head of D learns the classes of the fakes, and G is pushed away
    /// from it, which undoes the class loss's pull of each class towards its easiest images.
    /// `None` for no twin.
    pub twin_classifier: Option<f64>,
    /// The minibatch standard deviation of Karras et al. 2018, taken within each class of a
    /// conditional model (the whole batch for an unconditional one): D's output layer also sees
    /// how much the batch's images of an image's class differ in D's first features (before
    /// BatchNorm, which would normalise the spread away) and in its last, so that D can tell
    /// when G draws a class with less variety than the data has.
    pub minibatch_stddev: bool,
    /// How many images D judges at once, stacked on its channels (PacGAN, Lin et al. 2018),
    /// all of one class in a conditional model: a generator that draws a class with too little
    /// variety makes packs whose images look alike, which D can see. 1 for no packing.
    pub pack: usize,
}

impl Default for GanConfig {
    fn default() -> Self {
        GanConfig {
            image_size: 64,
            channels: 3,
            z_dim: 100,
            ngf: 64,
            ndf: 64,
            batch_size: 64,
            lr: 2e-4,
            beta1: 0.5,
            beta2: 0.999,
            iterations: 5_000,
            seed: 1,
            flip: true,
            resize: Resize::Lanczos,
            sample_every: 100,
            checkpoint_every: 500,
            threads: None,
            classes: Vec::new(),
            loss: Loss::Bce,
            ema: None,
            spectral_norm: false,
            lr_d: None,
            aux_classifier: None,
            mode_seeking: None,
            twin_classifier: None,
            minibatch_stddev: false,
            pack: 1,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    #[error("image size {0} is not supported: use 32, 64 or 128")]
    ImageSize(usize),
    #[error("channels must be 1 (grey) or 3 (RGB), not {0}")]
    Channels(usize),
    #[error("{0} must be at least 1")]
    Zero(&'static str),
    #[error("a conditional model needs at least 2 classes, not {0}")]
    Classes(usize),
    #[error("the EMA decay must be in [0, 1), not {0}")]
    EmaDecay(f64),
    #[error("an auxiliary classifier needs a conditional model (classes to learn)")]
    AuxWithoutClasses,
    #[error("the auxiliary classifier's weight must be positive and finite, not {0}")]
    AuxWeight(f64),
    #[error("the mode-seeking weight must be positive and finite, not {0}")]
    ModeSeekingWeight(f64),
    #[error("a twin classifier needs the auxiliary classifier (--aux-class)")]
    TwinWithoutAux,
    #[error("the twin classifier's weight must be positive and finite, not {0}")]
    TwinWeight(f64),
    #[error("packs of {pack} need a batch of at least {} images, not {batch}", 2 * pack)]
    PackBatch { pack: usize, batch: usize },
    #[error("packing and the mode-seeking term cannot be combined: both pair the batch's fakes")]
    PackWithModeSeeking,
}

impl GanConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !IMAGE_SIZES.contains(&self.image_size) {
            return Err(ConfigError::ImageSize(self.image_size));
        }
        if self.channels != 1 && self.channels != 3 {
            return Err(ConfigError::Channels(self.channels));
        }
        for (name, value) in [
            ("z_dim", self.z_dim),
            ("ngf", self.ngf),
            ("ndf", self.ndf),
            ("batch size", self.batch_size),
            ("pack", self.pack),
        ] {
            if value == 0 {
                return Err(ConfigError::Zero(name));
            }
        }
        if self.classes.len() == 1 {
            return Err(ConfigError::Classes(1));
        }
        if let Some(decay) = self.ema
            && !(0.0..1.0).contains(&decay)
        {
            return Err(ConfigError::EmaDecay(decay));
        }
        if let Some(weight) = self.aux_classifier
            && !(weight.is_finite() && weight > 0.0)
        {
            return Err(ConfigError::AuxWeight(weight));
        }
        if let Some(weight) = self.mode_seeking
            && !(weight.is_finite() && weight > 0.0)
        {
            return Err(ConfigError::ModeSeekingWeight(weight));
        }
        if let Some(weight) = self.twin_classifier {
            if !(weight.is_finite() && weight > 0.0) {
                return Err(ConfigError::TwinWeight(weight));
            }
            if self.aux_classifier.is_none() {
                return Err(ConfigError::TwinWithoutAux);
            }
        }
        if self.pack > 1 {
            if self.batch_size < 2 * self.pack {
                return Err(ConfigError::PackBatch {
                    pack: self.pack,
                    batch: self.batch_size,
                });
            }
            if self.mode_seeking.is_some() {
                return Err(ConfigError::PackWithModeSeeking);
            }
        }
        Ok(())
    }

    /// What [`GanConfig::validate`] cannot check before the data names the classes: an
    /// auxiliary classifier needs them.
    pub fn validate_classes(&self) -> Result<(), ConfigError> {
        if self.aux_classifier.is_some() && !self.is_conditional() {
            return Err(ConfigError::AuxWithoutClasses);
        }
        Ok(())
    }

    pub fn is_conditional(&self) -> bool {
        !self.classes.is_empty()
    }

    /// The discriminator's learning rate.
    pub fn d_learning_rate(&self) -> f64 {
        self.lr_d.unwrap_or(self.lr)
    }

    /// Up-sampling blocks between the 4x4 seed and the output layer (2 for 32, 3 for 64, ...).
    pub fn middle_blocks(&self) -> usize {
        (self.image_size.trailing_zeros() as usize).saturating_sub(3)
    }

    /// Compute threads to use: the setting, else all cores but one (at least one).
    pub fn compute_threads(&self) -> usize {
        self.threads.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .saturating_sub(1)
                .max(1)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configs_saved_before_the_resize_setting_load_as_lanczos() {
        let mut saved = serde_json::to_value(GanConfig::default()).unwrap();
        saved.as_object_mut().unwrap().remove("resize");
        let loaded: GanConfig = serde_json::from_value(saved).unwrap();
        assert_eq!(loaded.resize, Resize::Lanczos);
        let area = GanConfig {
            resize: Resize::Area,
            ..GanConfig::default()
        };
        let text = serde_json::to_string(&area).unwrap();
        assert!(text.contains("\"resize\":\"area\""), "{text}");
        assert_eq!(serde_json::from_str::<GanConfig>(&text).unwrap(), area);
    }

    #[test]
    fn packs_need_room_in_the_batch_and_no_mode_seeking() {
        let packed = |pack, batch_size| GanConfig {
            pack,
            batch_size,
            ..GanConfig::default()
        };
        assert_eq!(packed(2, 4).validate(), Ok(()));
        assert_eq!(
            packed(4, 6).validate(),
            Err(ConfigError::PackBatch { pack: 4, batch: 6 })
        );
        assert_eq!(packed(0, 64).validate(), Err(ConfigError::Zero("pack")));
        let both = GanConfig {
            mode_seeking: Some(1.0),
            ..packed(2, 64)
        };
        assert_eq!(both.validate(), Err(ConfigError::PackWithModeSeeking));
        // Configs saved before packing load as unpacked.
        let mut saved = serde_json::to_value(GanConfig::default()).unwrap();
        saved.as_object_mut().unwrap().remove("pack");
        assert_eq!(serde_json::from_value::<GanConfig>(saved).unwrap().pack, 1);
    }

    #[test]
    fn resize_names_parse() {
        assert_eq!("Area".parse::<Resize>(), Ok(Resize::Area));
        assert_eq!("lanczos".parse::<Resize>(), Ok(Resize::Lanczos));
        assert!(
            "bilinear"
                .parse::<Resize>()
                .unwrap_err()
                .contains("lanczos or area")
        );
    }
}
