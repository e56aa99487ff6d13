//! The balanced mini-batch each loss is computed on, as torchvision's
//! `BalancedPositiveNegativeSampler`: up to `fraction` of `batch` positives drawn at random,
//! the rest negatives; fewer positives leave room for more negatives.

use super::matcher::Match;
use crate::latent::SeededRng;

/// Indices of the sampled positives and negatives.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sampled {
    pub positives: Vec<usize>,
    pub negatives: Vec<usize>,
}

pub fn sample(matches: &[Match], batch: usize, fraction: f32, rng: &mut SeededRng) -> Sampled {
    let mut positives: Vec<usize> = (0..matches.len())
        .filter(|&i| matches!(matches[i], Match::Object(_)))
        .collect();
    let mut negatives: Vec<usize> = (0..matches.len())
        .filter(|&i| matches[i] == Match::Background)
        .collect();
    let wanted_positives = ((batch as f32 * fraction) as usize).min(positives.len());
    let wanted_negatives = (batch - wanted_positives).min(negatives.len());
    Sampled {
        positives: choose(&mut positives, wanted_positives, rng),
        negatives: choose(&mut negatives, wanted_negatives, rng),
    }
}

/// `count` of `items` drawn without replacement (a partial Fisher-Yates shuffle), sorted.
fn choose(items: &mut [usize], count: usize, rng: &mut SeededRng) -> Vec<usize> {
    for i in 0..count {
        let j = i + rng.below(items.len() - i);
        items.swap(i, j);
    }
    let mut chosen = items[..count].to_vec();
    chosen.sort_unstable();
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(objects: usize, background: usize, ignored: usize) -> Vec<Match> {
        let mut all = vec![Match::Object(0); objects];
        all.extend(vec![Match::Background; background]);
        all.extend(vec![Match::Ignored; ignored]);
        all
    }

    #[test]
    fn positives_take_their_share_and_negatives_fill_the_rest() {
        let mut rng = SeededRng::new(5);
        let all = matches(300, 1_000, 50);
        let s = sample(&all, 256, 0.5, &mut rng);
        assert_eq!((s.positives.len(), s.negatives.len()), (128, 128));
        assert!(s.positives.iter().all(|&i| i < 300));
        assert!(s.negatives.iter().all(|&i| (300..1_300).contains(&i)));
        let mut distinct = s.negatives.clone();
        distinct.dedup();
        assert_eq!(distinct.len(), 128, "drawn without replacement");

        // Few positives: all of them, and negatives make up the batch.
        let s = sample(&matches(10, 1_000, 0), 256, 0.5, &mut rng);
        assert_eq!((s.positives.len(), s.negatives.len()), (10, 246));
        // Few of both: everything there is, ignored anchors never.
        let s = sample(&matches(3, 5, 40), 512, 0.25, &mut rng);
        assert_eq!((s.positives.len(), s.negatives.len()), (3, 5));
    }

    #[test]
    fn the_draw_follows_the_seed() {
        let all = matches(400, 400, 0);
        let a = sample(&all, 64, 0.25, &mut SeededRng::new(1));
        let b = sample(&all, 64, 0.25, &mut SeededRng::new(1));
        let c = sample(&all, 64, 0.25, &mut SeededRng::new(2));
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}
