//! The explorer's latent model, apart from any window: a page of seeds, up to four picked
//! samples, the lerp/slerp path between the first two and the bilinear grid between four, a
//! position along the path (scrubbed or played), edits along latent directions, a random walk,
//! and the project's favourites. Every view's latents are derived from this state on demand, so
//! nothing has to be marked stale when it changes. Export reads its selections from here too, in
//! the window and on the command line alike.

use super::SeededRng;
use super::directions::{edit, walk_step};
use super::interp::{self, Mode};
use super::sample::Sample;
use crate::project::favourites::Favourite;

/// The most samples that can be picked at once (the corner grid's four).
pub const MAX_PICKS: usize = 4;
/// Playback speed along the path, in path lengths a second.
const PLAY_SPEED: f32 = 0.4;

/// One page of the seed grid.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SeedPage {
    pub first_seed: u64,
    pub rows: usize,
    pub cols: usize,
    /// z is scaled toward 0 by this (1.0 = as drawn).
    pub truncation: f32,
}

impl Default for SeedPage {
    fn default() -> Self {
        SeedPage {
            first_seed: 0,
            rows: 4,
            cols: 4,
            truncation: 1.0,
        }
    }
}

impl SeedPage {
    pub fn len(&self) -> usize {
        self.rows * self.cols
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The seeds of the page, row by row.
    pub fn seeds(&self) -> impl Iterator<Item = u64> + use<> {
        let first = self.first_seed;
        (0..self.len() as u64).map(move |i| first.saturating_add(i))
    }

    pub fn next(&mut self) {
        self.first_seed = self.first_seed.saturating_add(self.len() as u64);
    }

    pub fn previous(&mut self) {
        self.first_seed = self.first_seed.saturating_sub(self.len() as u64);
    }
}

/// Which of the explorer's pictures an export takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Selection {
    SeedGrid,
    Path,
    Corners,
    Picks,
    Favourites,
}

impl Selection {
    pub const ALL: [Selection; 5] = [
        Selection::SeedGrid,
        Selection::Path,
        Selection::Corners,
        Selection::Picks,
        Selection::Favourites,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Selection::SeedGrid => "Seed grid",
            Selection::Path => "Interpolation strip",
            Selection::Corners => "Corner grid",
            Selection::Picks => "Picked samples",
            Selection::Favourites => "Favourites",
        }
    }
}

/// What an animation walks through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum AnimationPath {
    /// Between the first two picks.
    Picks,
    /// Around the favourites, back to the first.
    FavouritesLoop,
}

/// The explorer's state. Fields a form edits directly are public; the rest change through
/// methods that keep them consistent (picks of the generator's input size, one amount a
/// direction).
///
/// A conditional generator's input is z followed by one weight per class; the explorer draws
/// seeds as `class` (or, with `rows_by_class`, one row of the grid a class), and picks keep the
/// class they were drawn as, so a path between two picks of one seed morphs one category into
/// another.
#[derive(Debug, Clone, PartialEq)]
pub struct Explorer {
    z_dim: usize,
    classes: Vec<String>,
    /// The class new seeds are drawn as (conditional generators).
    pub class: usize,
    /// The seed grid shows one row a class, the same seeds in each (conditional generators).
    pub rows_by_class: bool,
    pub page: SeedPage,
    picks: Vec<Sample>,
    pub mode: Mode,
    /// Points on the path strip (and a side of the corner grid, at most 6).
    pub steps: usize,
    /// The preview's position along the path between the first two picks, in [0, 1].
    pub path_t: f32,
    playing: bool,
    play_forward: bool,
    directions: Vec<Vec<f32>>,
    /// How far the preview is moved along each direction.
    pub amounts: Vec<f32>,
    walk: Option<Vec<f32>>,
    rng: SeededRng,
    favourites: Vec<Favourite>,
}

impl Default for Explorer {
    fn default() -> Self {
        Explorer::new(100)
    }
}

impl Explorer {
    pub fn new(z_dim: usize) -> Self {
        Explorer {
            z_dim,
            classes: Vec::new(),
            class: 0,
            rows_by_class: false,
            page: SeedPage::default(),
            picks: Vec::new(),
            mode: Mode::Slerp,
            steps: 8,
            path_t: 0.5,
            playing: false,
            play_forward: true,
            directions: Vec::new(),
            amounts: Vec::new(),
            walk: None,
            rng: SeededRng::new(1),
            favourites: Vec::new(),
        }
    }

    pub fn z_dim(&self) -> usize {
        self.z_dim
    }

    /// The generator's classes (empty: unconditional).
    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    /// Length of a sample's vector: z, then one weight per class.
    pub fn input_len(&self) -> usize {
        self.z_dim + self.classes.len()
    }

    /// Follows a newly loaded generator: picks of another input size go, and so do the
    /// directions (they belong to the old generator) and the walk.
    pub fn set_generator(&mut self, z_dim: usize, classes: Vec<String>) {
        self.z_dim = z_dim;
        self.classes = classes;
        self.class = self.class.min(self.classes.len().saturating_sub(1));
        let len = self.input_len();
        self.picks.retain(|p| p.z.len() == len);
        self.directions.clear();
        self.amounts.clear();
        self.walk = None;
    }

    /// The sample of a seed drawn as `class` (ignored by an unconditional generator).
    pub fn seed_sample(&self, seed: u64, class: usize) -> Sample {
        let mut sample = Sample::of_seed(seed, self.z_dim, self.page.truncation);
        sample
            .z
            .extend((0..self.classes.len()).map(|k| if k == class { 1.0 } else { 0.0 }));
        sample
    }

    /// The class a sample is drawn as: the name of its heaviest class weight.
    pub fn class_of(&self, sample: &Sample) -> Option<&str> {
        let weights = sample.z.get(self.z_dim..)?;
        let (best, _) = weights
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))?;
        self.classes.get(best).map(String::as_str)
    }

    /// The seed grid's rows and columns.
    pub fn grid_shape(&self) -> (usize, usize) {
        if self.rows_by_class && !self.classes.is_empty() {
            (self.classes.len(), self.page.cols)
        } else {
            (self.page.rows, self.page.cols)
        }
    }

    /// Picks the newest pick's z again, drawn as `class`: the path from the one to the other
    /// morphs one category into the other at the same z.
    pub fn pick_as_class(&mut self, class: usize) -> bool {
        let (Some(last), Some(name)) = (self.picks.last(), self.classes.get(class)) else {
            return false;
        };
        let mut sample = last.clone();
        sample.z.truncate(self.z_dim);
        sample
            .z
            .extend((0..self.classes.len()).map(|k| if k == class { 1.0 } else { 0.0 }));
        sample.label = name.clone();
        self.pick(sample)
    }

    pub fn picks(&self) -> &[Sample] {
        &self.picks
    }

    /// Adds a sample to the picks (the oldest goes when there are four already); a sample of
    /// another z size is refused. Edits and the walk start again from the new pick.
    pub fn pick(&mut self, sample: Sample) -> bool {
        if sample.z.len() != self.input_len() {
            return false;
        }
        if self.picks.len() == MAX_PICKS {
            self.picks.remove(0);
        }
        self.picks.push(sample);
        self.walk = None;
        self.amounts.iter_mut().for_each(|a| *a = 0.0);
        true
    }

    /// Picks each usable sample in turn; returns how many were taken.
    pub fn pick_all(&mut self, samples: Vec<Sample>) -> usize {
        samples.into_iter().filter(|s| self.pick(s.clone())).count()
    }

    /// Picks a seed drawn as the current class.
    pub fn pick_seed(&mut self, seed: u64) {
        let sample = self.seed_sample(seed, self.class);
        self.pick(sample);
    }

    pub fn is_picked(&self, seed: u64) -> bool {
        self.picks.iter().any(|p| p.seed == Some(seed))
    }

    /// Whether this very sample (seed and class) is picked.
    pub fn is_picked_sample(&self, sample: &Sample) -> bool {
        self.picks.iter().any(|p| p.z == sample.z)
    }

    pub fn clear_picks(&mut self) {
        self.picks.clear();
        self.walk = None;
        self.playing = false;
    }

    /// The seed grid's samples, row by row: the page's seeds as the current class, or with
    /// `rows_by_class` the first row's seeds again in every class, labelled with the class.
    pub fn grid_samples(&self) -> Vec<Sample> {
        if !self.rows_by_class || self.classes.is_empty() {
            return self
                .page
                .seeds()
                .map(|seed| self.seed_sample(seed, self.class))
                .collect();
        }
        let cols = self.page.cols;
        (0..self.classes.len())
            .flat_map(|class| {
                (0..cols as u64).map(move |i| (self.page.first_seed.saturating_add(i), class))
            })
            .map(|(seed, class)| {
                let mut sample = self.seed_sample(seed, class);
                sample.label = self.classes[class].clone();
                sample
            })
            .collect()
    }

    /// Jumps to a random page of seeds.
    pub fn resample_page(&mut self) {
        self.page.first_seed = self.rng.next_u64() % 1_000_000;
    }

    /// The path between the first two picks in `steps` points (empty with fewer picks).
    pub fn path_latents(&self, steps: usize) -> Vec<Vec<f32>> {
        match self.picks.as_slice() {
            [a, b, ..] => interp::path(&a.z, &b.z, steps, self.mode),
            _ => Vec::new(),
        }
    }

    /// The bilinear grid between four picks (`steps` a side, 2 to 6; empty with fewer picks).
    pub fn corner_latents(&self) -> Vec<Vec<f32>> {
        match self.picks.as_slice() {
            [a, b, c, d] => {
                let n = self.steps.clamp(2, 6);
                interp::corner_grid([&a.z, &b.z, &c.z, &d.z], n, n, self.mode)
            }
            _ => Vec::new(),
        }
    }

    /// The sample in the preview: the walk's position while there is one, else the point on
    /// the path (or the one pick) with the direction edits applied.
    pub fn current(&self) -> Option<Sample> {
        if let Some(z) = &self.walk {
            return Some(Sample::unnamed(z.clone()));
        }
        let base = match self.picks.as_slice() {
            [] => return None,
            [one] => one.clone(),
            [a, _, ..] if self.path_t <= 0.0 => a.clone(),
            [_, b, ..] if self.path_t >= 1.0 => b.clone(),
            [a, b, ..] => Sample::unnamed(interp::interpolate(&a.z, &b.z, self.path_t, self.mode)),
        };
        if self.amounts.iter().all(|a| *a == 0.0) {
            return Some(base);
        }
        Some(Sample::unnamed(edit(
            &base.z,
            &self.directions,
            &self.amounts,
        )))
    }

    pub fn directions(&self) -> &[Vec<f32>] {
        &self.directions
    }

    /// New directions to edit along (all amounts back to 0); ones of another size are dropped.
    pub fn set_directions(&mut self, directions: Vec<Vec<f32>>) {
        self.directions = directions
            .into_iter()
            .filter(|d| d.len() == self.z_dim)
            .collect();
        self.amounts = vec![0.0; self.directions.len()];
    }

    /// Undoes the edits and leaves the walk.
    pub fn reset_edits(&mut self) {
        self.amounts.iter_mut().for_each(|a| *a = 0.0);
        self.walk = None;
    }

    pub fn is_playing(&self) -> bool {
        self.playing
    }

    pub fn set_playing(&mut self, playing: bool) {
        self.playing = playing && self.picks.len() >= 2;
    }

    /// Moves the preview along the path by `dt` seconds of playback, back and forth between the
    /// ends. Returns whether it moved.
    pub fn advance_playback(&mut self, dt: f32) -> bool {
        if !self.playing || self.picks.len() < 2 {
            return false;
        }
        let step = dt * PLAY_SPEED;
        self.path_t += if self.play_forward { step } else { -step };
        if self.path_t >= 1.0 {
            self.path_t = 1.0;
            self.play_forward = false;
        } else if self.path_t <= 0.0 {
            self.path_t = 0.0;
            self.play_forward = true;
        }
        true
    }

    pub fn walk_position(&self) -> Option<&[f32]> {
        self.walk.as_deref()
    }

    /// One step of the random walk from where it is (or from the preview's sample).
    /// The walk moves z; a conditional sample keeps its class.
    pub fn walk(&mut self, step: f32) {
        let start = self.walk.clone().or_else(|| self.current().map(|s| s.z));
        if let Some(input) = start {
            let split = self.z_dim.min(input.len());
            let mut moved = walk_step(&input[..split], step, &mut self.rng);
            moved.extend_from_slice(&input[split..]);
            self.walk = Some(moved);
        }
    }

    /// Picks the walk's position (and ends the walk).
    pub fn pick_walk_position(&mut self) {
        if let Some(z) = self.walk.take() {
            self.pick(Sample::unnamed(z));
        }
    }

    pub fn favourites(&self) -> &[Favourite] {
        &self.favourites
    }

    pub fn set_favourites(&mut self, favourites: Vec<Favourite>) {
        self.favourites = favourites;
    }

    /// The favourites this generator can draw (of its input size), in the catalog's order.
    pub fn usable_favourites(&self) -> impl Iterator<Item = &Favourite> {
        let len = self.input_len();
        self.favourites
            .iter()
            .filter(move |f| f.sample.z.len() == len)
    }

    /// The samples of a selection, named as their tiles are.
    pub fn selection(&self, selection: Selection) -> Vec<Sample> {
        match selection {
            Selection::SeedGrid => self.grid_samples(),
            Selection::Path => self
                .path_latents(self.steps)
                .into_iter()
                .map(Sample::unnamed)
                .collect(),
            Selection::Corners => self
                .corner_latents()
                .into_iter()
                .map(Sample::unnamed)
                .collect(),
            Selection::Picks => self.picks.clone(),
            Selection::Favourites => self
                .usable_favourites()
                .map(Favourite::named_sample)
                .collect(),
        }
    }

    /// The latents of an animation's frames: `frames` a leg (2 to 500), each leg's last frame
    /// being the next leg's first. Empty when the path has fewer than two ends.
    pub fn animation_latents(&self, path: AnimationPath, frames: usize) -> Vec<Vec<f32>> {
        let frames = frames.clamp(2, 500);
        match path {
            AnimationPath::Picks => self.path_latents(frames),
            AnimationPath::FavouritesLoop => {
                let ends: Vec<&[f32]> = self.usable_favourites().map(|f| &f.sample.z[..]).collect();
                if ends.len() < 2 {
                    return Vec::new();
                }
                let mut latents = Vec::new();
                for (i, a) in ends.iter().enumerate() {
                    let b = ends[(i + 1) % ends.len()];
                    let mut leg = interp::path(a, b, frames, self.mode);
                    leg.pop(); // the next leg starts there
                    latents.extend(leg);
                }
                latents
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::latent::seed_latent;

    fn favourite(id: i64, seed: u64, z_dim: usize) -> Favourite {
        Favourite {
            id,
            sample: Sample::of_seed(seed, z_dim, 1.0),
            generator: "shipped".into(),
        }
    }

    #[test]
    fn the_grid_shows_the_page_seeds_at_its_truncation() {
        let mut explorer = Explorer::new(8);
        explorer.page = SeedPage {
            first_seed: 10,
            rows: 2,
            cols: 3,
            truncation: 0.5,
        };
        let samples = explorer.grid_samples();
        assert_eq!(
            samples.iter().map(|s| s.seed).collect::<Vec<_>>(),
            (10..16).map(Some).collect::<Vec<_>>()
        );
        assert_eq!(samples[0].z, seed_latent(10, 8, 0.5));
        explorer.page.next();
        assert_eq!(explorer.page.first_seed, 16);
        explorer.page.previous();
        explorer.page.previous();
        assert_eq!(explorer.page.first_seed, 4);
        explorer.page.previous();
        assert_eq!(explorer.page.first_seed, 0, "pages stop at seed 0");
    }

    #[test]
    fn picks_keep_the_newest_four_and_refuse_other_sizes() {
        let mut explorer = Explorer::new(8);
        for seed in 0..6 {
            explorer.pick_seed(seed);
        }
        let seeds: Vec<_> = explorer.picks().iter().map(|p| p.seed).collect();
        assert_eq!(seeds, [Some(2), Some(3), Some(4), Some(5)]);
        assert!(explorer.is_picked(5) && !explorer.is_picked(1));
        assert!(!explorer.pick(Sample::unnamed(vec![0.0; 3])));
        assert_eq!(explorer.picks().len(), 4);
        explorer.set_generator(3, Vec::new());
        assert!(explorer.picks().is_empty(), "the old generator's picks go");
    }

    #[test]
    fn a_conditional_generators_seeds_carry_their_class_and_morph_at_one_seed() {
        let mut explorer = Explorer::new(4);
        explorer.set_generator(4, vec!["dress".into(), "coat".into(), "bag".into()]);
        assert_eq!(explorer.input_len(), 7);
        explorer.class = 1;
        explorer.page.rows = 2;
        explorer.page.cols = 2;
        let grid = explorer.grid_samples();
        assert_eq!(grid.len(), 4);
        assert_eq!(grid[0].z[..4], seed_latent(0, 4, 1.0)[..]);
        assert_eq!(grid[0].z[4..], [0.0, 1.0, 0.0]);
        assert_eq!(explorer.class_of(&grid[3]), Some("coat"));

        // One row a class: the same seeds in every row.
        explorer.rows_by_class = true;
        assert_eq!(explorer.grid_shape(), (3, 2));
        let grid = explorer.grid_samples();
        assert_eq!(grid.len(), 6);
        assert_eq!(grid[4].seed, Some(0));
        assert_eq!(explorer.class_of(&grid[4]), Some("bag"));
        assert_eq!(grid[4].caption(), "bag");
        assert_eq!(grid[4].z[..4], grid[0].z[..4]);

        // Seed 5 as a coat, then as a bag: the path morphs between them at one z.
        explorer.pick_seed(5);
        assert!(explorer.pick_as_class(2));
        let path = explorer.path_latents(3);
        assert_eq!(path[0][..4], path[2][..4]);
        assert_eq!(path[0][4..], [0.0, 1.0, 0.0]);
        assert_eq!(path[2][4..], [0.0, 0.0, 1.0]);
        assert!(path[1][5] > 0.0 && path[1][6] > 0.0, "{:?}", path[1]);
        assert_eq!(explorer.picks()[1].label, "bag");

        // The walk moves z and keeps the class (from the path's end, the bag).
        explorer.path_t = 1.0;
        explorer.walk(0.5);
        let walked = explorer.walk_position().unwrap();
        assert_ne!(walked[..4], path[2][..4]);
        assert_eq!(walked[4..], [0.0, 0.0, 1.0]);

        // An unconditional generator's picks do not fit.
        explorer.set_generator(4, Vec::new());
        assert!(explorer.picks().is_empty());
        assert!(!explorer.pick_as_class(0));
    }

    #[test]
    fn the_path_and_corners_appear_with_enough_picks() {
        let mut explorer = Explorer::new(8);
        explorer.steps = 5;
        assert!(explorer.path_latents(5).is_empty());
        explorer.pick_seed(1);
        assert!(explorer.path_latents(5).is_empty());
        assert_eq!(explorer.current().map(|s| s.seed), Some(Some(1)));
        explorer.pick_seed(2);
        let path = explorer.path_latents(5);
        assert_eq!(path.len(), 5);
        assert_eq!(path[0], seed_latent(1, 8, 1.0));
        assert_eq!(path[4], seed_latent(2, 8, 1.0));
        assert!(explorer.corner_latents().is_empty());
        explorer.pick_seed(3);
        explorer.pick_seed(4);
        assert_eq!(explorer.corner_latents().len(), 25);
        explorer.steps = 16;
        assert_eq!(
            explorer.corner_latents().len(),
            36,
            "corners are at most 6 a side"
        );
    }

    #[test]
    fn the_preview_follows_the_path_position_and_the_edits() {
        let mut explorer = Explorer::new(8);
        explorer.pick_seed(1);
        explorer.pick_seed(2);
        explorer.path_t = 0.0;
        assert_eq!(explorer.current().map(|s| s.seed), Some(Some(1)));
        explorer.path_t = 1.0;
        assert_eq!(explorer.current().map(|s| s.seed), Some(Some(2)));
        explorer.path_t = 0.25;
        let halfway = explorer.current().map(|s| s.z);
        let expected = interp::interpolate(
            &seed_latent(1, 8, 1.0),
            &seed_latent(2, 8, 1.0),
            0.25,
            Mode::Slerp,
        );
        assert_eq!(halfway, Some(expected.clone()));

        let mut unit = vec![0.0; 8];
        unit[0] = 1.0;
        explorer.set_directions(vec![unit, vec![0.0; 3]]);
        assert_eq!(
            explorer.amounts,
            vec![0.0],
            "a direction of another size is dropped"
        );
        explorer.amounts[0] = 2.0;
        let edited = explorer.current().map(|s| s.z).unwrap_or_default();
        assert!((edited[0] - (expected[0] + 2.0)).abs() < 1e-5);
        assert_eq!(&edited[1..], &expected[1..]);
        explorer.reset_edits();
        assert_eq!(explorer.current().map(|s| s.z), Some(expected));
    }

    #[test]
    fn playback_bounces_between_the_ends() {
        let mut explorer = Explorer::new(4);
        explorer.set_playing(true);
        assert!(
            !explorer.is_playing(),
            "nothing to play with one pick or none"
        );
        explorer.pick_seed(1);
        explorer.pick_seed(2);
        explorer.path_t = 0.9;
        explorer.set_playing(true);
        assert!(explorer.advance_playback(0.5));
        assert_eq!(explorer.path_t, 1.0);
        explorer.advance_playback(0.5);
        assert!((explorer.path_t - 0.8).abs() < 1e-6, "{}", explorer.path_t);
        explorer.set_playing(false);
        assert!(!explorer.advance_playback(0.5));
    }

    #[test]
    fn the_walk_moves_the_preview_and_can_be_picked() {
        let mut explorer = Explorer::new(16);
        explorer.walk(0.3);
        assert!(
            explorer.walk_position().is_none(),
            "no start without a pick"
        );
        explorer.pick_seed(7);
        explorer.walk(0.3);
        let position = explorer.walk_position().map(<[f32]>::to_vec);
        assert!(position.is_some());
        assert_ne!(position, Some(seed_latent(7, 16, 1.0)));
        assert_eq!(explorer.current().map(|s| s.z), position);
        explorer.pick_walk_position();
        assert!(explorer.walk_position().is_none());
        assert_eq!(explorer.picks().len(), 2);
        assert_eq!(explorer.picks()[1].seed, None);
    }

    #[test]
    fn selections_name_their_samples() {
        let mut explorer = Explorer::new(8);
        explorer.set_favourites(vec![
            favourite(1, 30, 8),
            favourite(2, 31, 5),
            favourite(3, 32, 8),
        ]);
        let favourites = explorer.selection(Selection::Favourites);
        assert_eq!(
            favourites.iter().map(Sample::caption).collect::<Vec<_>>(),
            ["#30", "#32"],
            "a favourite of another z size is left out"
        );
        assert_eq!(explorer.selection(Selection::SeedGrid).len(), 16);
        assert!(explorer.selection(Selection::Path).is_empty());
        explorer.pick_seed(1);
        explorer.pick_seed(2);
        explorer.steps = 3;
        assert_eq!(explorer.selection(Selection::Path).len(), 3);
        assert_eq!(explorer.selection(Selection::Picks).len(), 2);
    }

    #[test]
    fn a_favourites_loop_returns_to_its_start() {
        let mut explorer = Explorer::new(8);
        explorer.set_favourites(vec![favourite(1, 1, 8)]);
        assert!(
            explorer
                .animation_latents(AnimationPath::FavouritesLoop, 6)
                .is_empty()
        );
        explorer.set_favourites(vec![
            favourite(1, 1, 8),
            favourite(2, 2, 8),
            favourite(3, 3, 8),
        ]);
        let frames = explorer.animation_latents(AnimationPath::FavouritesLoop, 6);
        assert_eq!(frames.len(), 3 * 5);
        assert_eq!(frames[0], seed_latent(1, 8, 1.0));
        assert_eq!(frames[5], seed_latent(2, 8, 1.0));
        assert_eq!(frames[10], seed_latent(3, 8, 1.0));
        explorer.pick_seed(4);
        explorer.pick_seed(5);
        assert_eq!(explorer.animation_latents(AnimationPath::Picks, 1).len(), 2);
    }
}
