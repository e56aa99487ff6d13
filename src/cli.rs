//! The command line: each subcommand is a thin call into the library. Progress goes to
//! stderr, results to stdout; failures exit non-zero with a one-line reason.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use deepstyle::export::animation::AnimationOptions;
use deepstyle::export::crops::{CropOptions, write_crops};
use deepstyle::export::grid::GridLayout;
use deepstyle::export::render::{Picture, write_picture};
use deepstyle::gan::GanConfig;
use deepstyle::gan::data::{
    DataSource, Dataset, ImageSpec, load_fashion_mnist_split, read_npy_images,
};
use deepstyle::gan::quality;
use deepstyle::gan::sample::{
    LoadedGenerator, load_generator, load_shipped_generator, parse_seed_range,
};
use deepstyle::gan::train::{PauseFlag, TrainEvent, TrainRequest, TrainSink, train};
use deepstyle::jobs::{CancelToken, Reporter, Silent};
use deepstyle::latent::explorer::{Explorer, Selection};
use deepstyle::latent::interp::{self, Mode};
use deepstyle::latent::sample::Sample;
use deepstyle::project::ingest::{self, ImportOptions, ImportReport};
use deepstyle::project::{Project, demo};
use deepstyle::ui::{Startup, StudioApp};

#[derive(Parser)]
#[command(
    name = "deepstyle",
    version,
    about = "DeepStyle Studio: turn runway photos into new garment designs",
    long_about = "DeepStyle Studio: collect runway photos, detect and crop garments, train a DCGAN \
                  and explore what it makes.\n\nWith no subcommand, opens the studio on the last \
                  project (or the bundled demo project)."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Open the studio window, on PROJECT if given (created when the folder is missing or empty)
    Studio {
        /// Project folder
        project: Option<PathBuf>,
    },
    /// Create a project folder (optionally holding the bundled demo images)
    New {
        /// Folder to create (must be missing or empty)
        project: PathBuf,
        /// Add the bundled demo images
        #[arg(long)]
        demo: bool,
    },
    /// Scrape a Pinterest board, a board through the Pinterest API, or a web page or feed into a
    /// project (politely: robots.txt, a per-host delay, a concurrency limit)
    Scrape(ScrapeArgs),
    /// Find the people (on runway photos: the outfits) in a project's images and store their
    /// boxes for review
    Detect(DetectArgs),
    /// Import image files and folders (recursively) into a project
    Import {
        /// Project folder
        project: PathBuf,
        /// Files and folders to import
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// dHash distance at or under which an image is reported as a near-duplicate
        #[arg(long, default_value_t = ingest::DEFAULT_NEAR_DUPLICATE_DISTANCE)]
        near_duplicate_distance: u32,
    },
    /// Cut each box out of its image into a PNG for GAN training (default: the project's crops/)
    Crops(CropsArgs),
    /// Import images with their boxes from DeepFashion, COCO, YOLO or Pascal VOC (as reviewed
    /// human boxes)
    ImportAnnotations {
        /// Project folder
        project: PathBuf,
        /// deepfashion, coco, yolo or voc
        #[arg(long)]
        format: deepstyle::datasets::import::SourceFormat,
        /// DeepFashion's root, a COCO JSON file (or its folder), or a YOLO or VOC folder
        path: PathBuf,
    },
    /// Write the project's boxes as COCO, YOLO or Pascal VOC, with the images beside them
    Export {
        /// Project folder
        project: PathBuf,
        /// coco, yolo or voc
        #[arg(long)]
        format: deepstyle::datasets::Format,
        /// Folder to write into (created if missing)
        #[arg(long)]
        out: PathBuf,
        /// Only accepted images and their reviewed boxes
        #[arg(long)]
        reviewed_only: bool,
    },
    /// Make garment-detection scenes in DeepFashion's layout: Fashion-MNIST garments pasted onto
    /// crops of your photographs, with their boxes (upper, lower, full body) and a train / val /
    /// test partition
    MakeScenes(MakeScenesArgs),
    /// Train the garment detector (Faster R-CNN on the person detector's MobileNetV2 features)
    /// on a DeepFashion-format set
    TrainDetector(TrainDetectorArgs),
    /// Score a trained garment detector on a split of a DeepFashion-format set (COCO's mAP)
    EvalDetector(EvalDetectorArgs),
    /// Fine-tune a garment detector on a project's reviewed boxes, scoring it on held-out
    /// reviewed images before and after; the new weights go to the project's detectors/
    ImproveDetector(ImproveDetectorArgs),
    /// Train a DCGAN on DATA: a project, an image folder, or fashion-mnist:DIR
    TrainGan(TrainGanArgs),
    /// Write generated garments for a range of seeds
    Generate(GenerateArgs),
    /// Walk between two seeds: a strip (PNG) or an animation (GIF)
    Interpolate(InterpolateArgs),
    /// Train the Fashion-MNIST classifier whose features the Frechet distance uses
    TrainClassifier {
        /// fashion-mnist:DIR
        data: String,
        /// Weights to write (.safetensors, with a .json sidecar)
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 3)]
        epochs: usize,
    },
    /// Frechet distance between generated garments and the Fashion-MNIST test set
    Fid {
        /// Classifier weights from train-classifier
        #[arg(long)]
        classifier: PathBuf,
        /// Folder with the Fashion-MNIST IDX files
        #[arg(long)]
        fashion_mnist: PathBuf,
        /// A generator (.safetensors + .json); seeds 0..count are scored
        #[arg(long, required_unless_present = "npy", conflicts_with = "npy")]
        weights: Option<PathBuf>,
        /// Or samples saved by bench/reference/dcgan_torch.py (uint8 N x 1 x S x S)
        #[arg(long)]
        npy: Option<PathBuf>,
        #[arg(long, default_value_t = 10_000)]
        count: usize,
        /// Also score each class of a conditional generator: the distance between the class's
        /// samples (count / classes of them) and its test images, and how often the classifier
        /// names the class on samples and on real images
        #[arg(long)]
        per_class: bool,
        /// The --npy samples are 1,000 a class in Fashion-MNIST's label order (as
        /// bench/reference/cdcgan_torch.py writes them): score them per class too
        #[arg(long, requires = "npy")]
        npy_by_class: bool,
    },
}

#[derive(clap::Args)]
struct CropsArgs {
    /// Project folder
    project: PathBuf,
    /// Folder to write the crops to (default: the project's crops/)
    #[arg(long)]
    out: Option<PathBuf>,
    /// Side of a square crop, or the longer side of one that is not squared
    #[arg(long, default_value_t = 64)]
    size: u32,
    /// Only the boxes of accepted images (reviewed boxes)
    #[arg(long)]
    reviewed_only: bool,
    /// Only boxes of this category
    #[arg(long)]
    category: Option<String>,
    /// Margin on every side, as a fraction of the box's width and height
    #[arg(long, default_value_t = 0.0)]
    pad: f32,
    /// Extend the shorter side to the longer (with the image, else by repeating its edge)
    #[arg(long)]
    square: bool,
}

#[derive(clap::Args)]
struct TrainGanArgs {
    /// Training images: a project folder, an image folder, or fashion-mnist:DIR (IDX files)
    data: String,
    /// Run folder (config, metrics.jsonl, samples/, checkpoints/, generator.safetensors)
    #[arg(long)]
    out: PathBuf,
    /// Iterations to train for (in total, counting those before a resume)
    #[arg(long, conflicts_with = "epochs")]
    iters: Option<u64>,
    /// Passes over the data to train for (instead of --iters)
    #[arg(long)]
    epochs: Option<u64>,
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// 32, 64 or 128
    #[arg(long, default_value_t = 64)]
    image_size: usize,
    /// 1 (grey) or 3 (RGB); default 1 for Fashion-MNIST, else 3
    #[arg(long)]
    channels: Option<usize>,
    /// Continue the run in --out from its last checkpoint
    #[arg(long)]
    resume: bool,
    /// cpu, cuda or metal
    #[arg(long, default_value = "cpu")]
    device: deepstyle::device::DeviceChoice,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Compute threads (default: all cores but one)
    #[arg(long)]
    threads: Option<usize>,
    /// Learning rate (default 2e-4); on --resume it replaces the run's
    #[arg(long)]
    lr: Option<f64>,
    /// Generator / discriminator width (pytorch's ngf = ndf)
    #[arg(long, default_value_t = 64)]
    width: usize,
    /// Write a sample grid every N iterations
    #[arg(long, default_value_t = 100)]
    sample_every: u64,
    /// Write a checkpoint every N iterations
    #[arg(long, default_value_t = 500)]
    checkpoint_every: u64,
    /// How images are scaled to --image-size: lanczos or area
    #[arg(long, default_value = "lanczos")]
    resize: deepstyle::gan::config::Resize,
    /// Random horizontal flips (default: on, off for Fashion-MNIST, whose shoes all face left)
    #[arg(long)]
    flip: Option<bool>,
    /// One model for every class of the data, asked for by class: Fashion-MNIST's labels, a
    /// project's crop categories, or a folder's subfolders (one a class)
    #[arg(long)]
    conditional: bool,
    /// bce (DCGAN's) or hinge
    #[arg(long, default_value = "bce")]
    loss: deepstyle::gan::config::Loss,
    /// Keep an exponential moving average of the generator's weights with this decay (e.g.
    /// 0.999) and sample and save it
    #[arg(long)]
    ema: Option<f64>,
    /// Spectral normalisation in the discriminator (in place of its BatchNorm)
    #[arg(long)]
    spectral_norm: bool,
    /// The discriminator's learning rate, when it should differ from the generator's (--lr)
    #[arg(long)]
    lr_d: Option<f64>,
    /// With --conditional: an auxiliary classifier in the discriminator (AC-GAN) whose
    /// cross-entropy, at this weight (e.g. 1), teaches G to draw each class recognisably
    #[arg(long, value_name = "WEIGHT")]
    aux_class: Option<f64>,
    /// A mode-seeking term in G's loss at this weight (e.g. 1): fakes of one class from
    /// different noise are pushed apart, for more varied samples
    #[arg(long, value_name = "WEIGHT")]
    mode_seeking: Option<f64>,
    /// With --aux-class: a twin classifier (TAC-GAN) at this weight (e.g. 1) that learns the
    /// classes of the fakes while G is pushed away from it, for classes as varied as the data's
    #[arg(long, value_name = "WEIGHT")]
    twin_class: Option<f64>,
    /// D also sees how much the batch's images of each class differ (minibatch standard
    /// deviation, per class), so that G is pushed to vary each class as much as the data does
    #[arg(long)]
    minibatch_stddev: bool,
    /// D judges this many images at once, of one class, stacked (PacGAN), so that it can see
    /// when G's images of a class look alike
    #[arg(long, default_value_t = 1)]
    pack: usize,
    /// Adam's beta1 (default 0.5)
    #[arg(long)]
    beta1: Option<f64>,
    /// Adam's beta2 (default 0.999)
    #[arg(long)]
    beta2: Option<f64>,
}

#[derive(clap::Args)]
struct GenerateArgs {
    /// Generator weights (.safetensors with its .json sidecar), or `shipped` for the
    /// Fashion-MNIST generator built into the studio (`shipped-cond`: the one drawn by class)
    #[arg(long)]
    weights: PathBuf,
    /// Seeds, A-B inclusive (e.g. 0-63)
    #[arg(
        long,
        required_unless_present = "favourites",
        conflicts_with = "favourites"
    )]
    seeds: Option<String>,
    /// The favourites kept in this project's catalog (those of the generator's z size), captioned
    /// with their labels, instead of seeds
    #[arg(long, value_name = "PROJECT")]
    favourites: Option<PathBuf>,
    /// One grid PNG of all seeds
    #[arg(long, required_unless_present = "out_dir", conflicts_with = "out_dir")]
    out: Option<PathBuf>,
    /// One PNG per seed (seed_N.png) at the model's resolution
    #[arg(long)]
    out_dir: Option<PathBuf>,
    /// Columns of the grid
    #[arg(long, default_value_t = 8)]
    cols: usize,
    /// Scale z toward 0 (1 = none); lower gives more typical, less varied garments
    #[arg(long, default_value_t = 1.0)]
    truncation: f32,
    /// A conditional generator's class, by name or number, or `all` for one row a class
    /// (default: seed s draws class s mod the number of classes)
    #[arg(long, value_name = "NAME|ID|all", conflicts_with = "favourites")]
    class: Option<String>,
    #[arg(long, default_value = "cpu")]
    device: deepstyle::device::DeviceChoice,
}

#[derive(clap::Args)]
struct InterpolateArgs {
    /// Generator weights (.safetensors with its .json sidecar), `shipped` or `shipped-cond`
    #[arg(long)]
    weights: PathBuf,
    /// The seed the path starts at
    #[arg(long)]
    from: u64,
    /// The seed the path ends at
    #[arg(long)]
    to: u64,
    /// Images along the path, both ends included
    #[arg(long, default_value_t = 8)]
    steps: usize,
    /// lerp or slerp
    #[arg(long, default_value = "slerp")]
    mode: Mode,
    /// OUT.png (a strip or grid) or OUT.gif (an animation)
    #[arg(long)]
    out: PathBuf,
    /// Columns of a PNG (default: all steps in one row)
    #[arg(long)]
    cols: Option<usize>,
    /// Enlarge each image this many times
    #[arg(long, default_value_t = 1)]
    scale: u32,
    /// GIF: milliseconds per frame
    #[arg(long, default_value_t = 80)]
    delay_ms: u32,
    /// GIF: play forward then back
    #[arg(long)]
    ping_pong: bool,
    /// Scale z toward 0 (1 = none)
    #[arg(long, default_value_t = 1.0)]
    truncation: f32,
    /// A conditional generator's class at the start, by name or number (default 0)
    #[arg(long, value_name = "NAME|ID")]
    class: Option<String>,
    /// The class at the end (default: --class); with --from = --to this morphs one category
    /// into another at the same z
    #[arg(long, value_name = "NAME|ID")]
    to_class: Option<String>,
    #[arg(long, default_value = "cpu")]
    device: deepstyle::device::DeviceChoice,
}

pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        None => run_studio(Startup::LastOrDemo {
            demo_dir: default_demo_dir(),
        }),
        Some(Command::Studio { project: None }) => run_studio(Startup::LastOrDemo {
            demo_dir: default_demo_dir(),
        }),
        Some(Command::Studio {
            project: Some(project),
        }) => run_studio(Startup::Project(project)),
        Some(Command::New { project, demo }) => new_project(&project, demo),
        Some(Command::Import {
            project,
            paths,
            near_duplicate_distance,
        }) => import(&project, &paths, near_duplicate_distance),
        Some(Command::Crops(args)) => crops(args),
        Some(Command::Scrape(args)) => scrape(args),
        Some(Command::Detect(args)) => detect(args),
        Some(Command::ImportAnnotations {
            project,
            format,
            path,
        }) => import_annotations(&project, format, &path),
        Some(Command::Export {
            project,
            format,
            out,
            reviewed_only,
        }) => export(&project, format, &out, reviewed_only),
        Some(Command::MakeScenes(args)) => make_scenes(args),
        Some(Command::TrainDetector(args)) => train_detector(args),
        Some(Command::EvalDetector(args)) => eval_detector(args),
        Some(Command::ImproveDetector(args)) => improve_detector(args),
        Some(Command::TrainGan(args)) => train_gan(args),
        Some(Command::Generate(args)) => generate(args),
        Some(Command::Interpolate(args)) => interpolate(args),
        Some(Command::TrainClassifier { data, out, epochs }) => {
            train_classifier(&data, &out, epochs)
        }
        Some(Command::Fid {
            classifier,
            fashion_mnist,
            weights,
            npy,
            count,
            per_class,
            npy_by_class,
        }) => {
            anyhow::ensure!(
                !(per_class && npy.is_some() && !npy_by_class),
                "--per-class with --npy needs --npy-by-class (the samples' classes are not known otherwise)"
            );
            fid(
                &classifier,
                &fashion_mnist,
                weights.as_deref(),
                npy.as_deref(),
                count,
                per_class || npy_by_class,
            )
        }
    }
}

/// Where the demo project lives: `$DEEPSTYLE_DEMO_DIR`, else the user's data folder.
fn default_demo_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("DEEPSTYLE_DEMO_DIR") {
        return PathBuf::from(dir);
    }
    dirs::data_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join("deepstyle")
        .join("demo-project")
}

fn run_studio(startup: Startup) -> Result<()> {
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("DeepStyle Studio")
            .with_app_id("deepstyle-studio")
            .with_inner_size([1280.0, 800.0])
            .with_min_inner_size([640.0, 400.0])
            .with_drag_and_drop(true),
        ..Default::default()
    };
    eframe::run_native(
        "DeepStyle Studio",
        options,
        Box::new(move |cc| Ok(Box::new(StudioApp::from_creation_context(cc, startup)))),
    )
    .map_err(|e| anyhow::anyhow!("could not open the studio window: {e}"))
}

fn new_project(root: &Path, with_demo: bool) -> Result<()> {
    if with_demo {
        let reporter = StderrProgress::new("demo");
        let (project, report) = demo::create_demo(root, &reporter)
            .with_context(|| format!("could not create the demo project in {}", root.display()))?;
        reporter.finish();
        match report {
            Some(report) => {
                println!("created {}", project.root().display());
                print_report(&report);
            }
            None => println!("{} already holds the demo images", project.root().display()),
        }
    } else {
        let project = Project::create(root)
            .with_context(|| format!("could not create a project in {}", root.display()))?;
        println!("created {}", project.root().display());
    }
    Ok(())
}

fn crops(args: CropsArgs) -> Result<()> {
    let project = Project::open(&args.project)
        .with_context(|| format!("cannot crop {}", args.project.display()))?;
    let options = CropOptions {
        size: args.size,
        pad: args.pad,
        square: args.square,
        reviewed_only: args.reviewed_only,
        category: args.category,
    };
    let reporter = StderrProgress::new("crops");
    let cancel = reporter.cancel.clone();
    let _ = ctrlc::set_handler(move || cancel.cancel());
    let report = write_crops(&project, &options, args.out.as_deref(), &reporter)
        .with_context(|| format!("crops of {} failed", args.project.display()))?;
    reporter.finish();
    let mut out = std::io::stdout().lock();
    for path in &report.written {
        let _ = writeln!(out, "written\t{}", path.display());
    }
    for (what, reason) in &report.failed {
        let _ = writeln!(out, "failed\t{what}\t{reason}");
    }
    let _ = writeln!(
        out,
        "{} crops written, {} failed",
        report.written.len(),
        report.failed.len()
    );
    Ok(())
}

fn export(
    root: &Path,
    format: deepstyle::datasets::Format,
    out: &Path,
    reviewed_only: bool,
) -> Result<()> {
    let project =
        Project::open(root).with_context(|| format!("cannot export {}", root.display()))?;
    let reporter = StderrProgress::new("export");
    let cancel = reporter.cancel.clone();
    let _ = ctrlc::set_handler(move || cancel.cancel());
    let report = deepstyle::datasets::export::export_annotations(
        &project,
        format,
        out,
        reviewed_only,
        &reporter,
    )
    .with_context(|| format!("{} export of {} failed", format.name(), root.display()))?;
    reporter.finish();
    println!(
        "{} images, {} boxes, categories: {} -> {}",
        report.images,
        report.boxes,
        report.categories.join(", "),
        out.display()
    );
    Ok(())
}

fn import_annotations(
    root: &Path,
    format: deepstyle::datasets::import::SourceFormat,
    path: &Path,
) -> Result<()> {
    let project =
        Project::open(root).with_context(|| format!("cannot import into {}", root.display()))?;
    let reporter = StderrProgress::new("import");
    let cancel = reporter.cancel.clone();
    let _ = ctrlc::set_handler(move || cancel.cancel());
    let report = deepstyle::datasets::import::import_annotations(&project, format, path, &reporter)
        .with_context(|| format!("cannot import {}", path.display()))?;
    reporter.finish();
    let mut out = std::io::stdout().lock();
    for problem in &report.problems {
        let _ = writeln!(out, "problem\t{problem}");
    }
    let _ = writeln!(out, "{}", report.summary());
    Ok(())
}

fn import(root: &Path, paths: &[PathBuf], near_duplicate_distance: u32) -> Result<()> {
    let project =
        Project::open(root).with_context(|| format!("cannot import into {}", root.display()))?;
    let reporter = StderrProgress::new("import");
    let cancel = reporter.cancel.clone();
    // Ctrl-C cancels cleanly: the catalog is left as it was and written files are removed.
    let _ = ctrlc::set_handler(move || cancel.cancel());
    let options = ImportOptions {
        near_duplicate_distance,
    };
    let report = ingest::import_paths(&project, paths, &options, &reporter)
        .with_context(|| format!("import into {} failed", root.display()))?;
    reporter.finish();
    print_report(&report);
    Ok(())
}

#[derive(clap::Args)]
struct ScrapeArgs {
    /// Project folder
    project: PathBuf,
    /// A Pinterest board (https://www.pinterest.com/USER/BOARD/), an API v5 board
    /// (https://api.pinterest.com/v5/boards/ID/pins), or any web page or RSS/Atom feed
    url: String,
    /// Fetch at most N new images
    #[arg(long)]
    max: Option<usize>,
    /// Requests in flight at once
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Milliseconds between two requests to the same host
    #[arg(long, default_value_t = 1000)]
    delay_ms: u64,
    /// Follow same-host links of a web page this many levels deep
    #[arg(long, default_value_t = 0)]
    depth: u32,
    /// The environment variable holding the Pinterest API token (never stored)
    #[arg(long)]
    token_env: Option<String>,
    /// Replace https://www.pinterest.com (a mirror, a test server)
    #[arg(long)]
    pinterest_base: Option<String>,
    /// Replace https://api.pinterest.com
    #[arg(long)]
    api_base: Option<String>,
    /// Seconds before a request gives up
    #[arg(long, default_value_t = 60)]
    timeout_s: u64,
}

fn scrape(args: ScrapeArgs) -> Result<()> {
    use deepstyle::collect::scrape::{self as scraping, ScrapeEvent, ScrapeOptions};

    let project = Project::open(&args.project)
        .with_context(|| format!("cannot scrape into {}", args.project.display()))?;
    let mut options = ScrapeOptions {
        max_images: args.max,
        depth: args.depth,
        token_env: args.token_env,
        ..ScrapeOptions::default()
    };
    options.http.concurrency = args.concurrency.max(1);
    options.http.delay = Duration::from_millis(args.delay_ms);
    options.http.timeout = Duration::from_secs(args.timeout_s.max(1));
    if let Some(base) = args.pinterest_base {
        options.hosts.pinterest = base;
    }
    if let Some(base) = args.api_base {
        options.hosts.api = base;
    }
    let reporter = StderrProgress::new("scrape");
    let cancel = reporter.cancel.clone();
    // Ctrl-C stops cleanly: what was added stays, the rest is fetched by the next scrape.
    let _ = ctrlc::set_handler(move || cancel.cancel());
    let print = |event: ScrapeEvent| {
        let mut out = std::io::stdout().lock();
        let _ = match event {
            ScrapeEvent::Added {
                image_url,
                sha256,
                near_duplicate_of: Some(similar),
                ..
            } => writeln!(
                out,
                "added\t{image_url}\t{sha256}\tnear-duplicate of {similar}"
            ),
            ScrapeEvent::Added {
                image_url, sha256, ..
            } => writeln!(out, "added\t{image_url}\t{sha256}"),
            ScrapeEvent::Duplicate { image_url, sha256 } => {
                writeln!(out, "present\t{image_url}\t{sha256}")
            }
            ScrapeEvent::Failed(failure) => {
                writeln!(out, "failed\t{}\t{}", failure.url, failure.reason)
            }
            ScrapeEvent::Page { .. } => Ok(()),
        };
    };
    let report = scraping::scrape(&project, &args.url, &options, &reporter, &print)
        .with_context(|| format!("cannot scrape {}", args.url.trim()))?;
    reporter.finish();
    let verb = if report.cancelled { "cancelled: " } else { "" };
    println!("{verb}{}", report.counts.summary());
    Ok(())
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum DetectModel {
    /// The pretrained SSDLite-MobileNetV2 person detector
    Person,
    /// A garment detector: the shipped one, or one trained by train-detector (--weights)
    FasterRcnn,
}

#[derive(clap::Args)]
struct DetectArgs {
    /// Project folder
    project: PathBuf,
    #[arg(long, value_enum, default_value = "person")]
    model: DetectModel,
    /// Weights (.safetensors with its .json card) instead of the shipped ones
    #[arg(long)]
    weights: Option<PathBuf>,
    /// Store only detections scoring at least this
    #[arg(long, default_value_t = deepstyle::detect::run::DEFAULT_MIN_SCORE)]
    min_score: f32,
    /// Also detect in images a person has accepted or rejected (their model boxes are replaced)
    #[arg(long)]
    reviewed_too: bool,
    /// Only these images (catalog ids, comma-separated)
    #[arg(long, value_delimiter = ',')]
    images: Option<Vec<i64>>,
    /// Images per batch
    #[arg(long, default_value_t = deepstyle::detect::run::DEFAULT_BATCH)]
    batch: usize,
    /// cpu, cuda or metal
    #[arg(long, default_value = "cpu")]
    device: deepstyle::device::DeviceChoice,
}

fn detect(args: DetectArgs) -> Result<()> {
    use deepstyle::detect::run::{DetectEvent, DetectOptions, detect_project};
    use deepstyle::detect::ssd::PersonDetector;

    let project = Project::open(&args.project)
        .with_context(|| format!("cannot detect in {}", args.project.display()))?;
    let device = args.device.open()?;
    let detector: Box<dyn deepstyle::detect::run::Detector> = match (args.model, &args.weights) {
        (DetectModel::Person, Some(path)) => Box::new(
            PersonDetector::from_file(path, &device)
                .with_context(|| format!("cannot load {}", path.display()))?,
        ),
        (DetectModel::Person, None) => {
            Box::new(PersonDetector::shipped(&device).context("cannot load the person detector")?)
        }
        (DetectModel::FasterRcnn, Some(path)) => Box::new(
            deepstyle::detect::faster_rcnn::infer::GarmentDetector::from_file(path, &device)
                .with_context(|| format!("cannot load {}", path.display()))?,
        ),
        (DetectModel::FasterRcnn, None) => Box::new(
            deepstyle::detect::faster_rcnn::infer::GarmentDetector::shipped(&device)
                .context("cannot load the shipped garment detector")?,
        ),
    };
    let options = DetectOptions {
        min_score: args.min_score,
        reviewed_too: args.reviewed_too,
        images: args.images,
        batch: args.batch.max(1),
    };
    let reporter = StderrProgress::new("detect");
    let cancel = reporter.cancel.clone();
    // Ctrl-C stops after the current batch; the batches stored so far stay.
    let _ = ctrlc::set_handler(move || cancel.cancel());
    let print = |event: DetectEvent| {
        let mut out = std::io::stdout().lock();
        let _ = match event {
            DetectEvent::Detected {
                image_id,
                origin,
                detections,
            } => {
                let best = detections.first().map_or(0.0, |d| d.score);
                writeln!(
                    out,
                    "detected\t{image_id}\t{origin}\t{} boxes\tbest {best:.3}",
                    detections.len()
                )
            }
            DetectEvent::Failed {
                image_id,
                origin,
                reason,
            } => writeln!(out, "failed\t{image_id}\t{origin}\t{reason}"),
        };
    };
    let report = detect_project(&project, detector.as_ref(), &options, &reporter, &print)
        .with_context(|| format!("detection in {} failed", args.project.display()))?;
    reporter.finish();
    let verb = if report.cancelled { "cancelled: " } else { "" };
    println!("{verb}{}", report.summary());
    Ok(())
}

#[derive(clap::Args)]
struct MakeScenesArgs {
    /// Folder with Fashion-MNIST's IDX files (gzip or not; Debian's dataset-fashion-mnist puts
    /// them in /usr/share/datasets/fashion-mnist)
    #[arg(long)]
    fashion_mnist: PathBuf,
    /// Folder of photographs to crop backgrounds from (JPEG, PNG, WebP or BMP)
    #[arg(long)]
    backgrounds: PathBuf,
    /// Root to write (img/, Anno/, Eval/ as DeepFashion lays them out)
    #[arg(long)]
    out: PathBuf,
    /// Scenes to make
    #[arg(long, default_value_t = 1_000)]
    count: usize,
    /// Every scene is drawn from this seed and its index
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Long side of a scene in pixels (DeepFashion's: 300)
    #[arg(long, default_value_t = 300)]
    long_side: u32,
    /// At most this many garments a scene
    #[arg(long, default_value_t = 4)]
    max_garments: usize,
}

fn make_scenes(args: MakeScenesArgs) -> Result<()> {
    use deepstyle::datasets::scenes::{SceneOptions, make_scenes};
    let options = SceneOptions {
        count: args.count,
        seed: args.seed,
        long_side: args.long_side,
        max_garments: args.max_garments,
        ..SceneOptions::default()
    };
    let reporter = StderrProgress::new("make-scenes");
    let cancel = reporter.cancel.clone();
    let _ = ctrlc::set_handler(move || cancel.cancel());
    let report = make_scenes(
        &args.fashion_mnist,
        &args.backgrounds,
        &args.out,
        &options,
        &reporter,
    )
    .with_context(|| format!("cannot make scenes in {}", args.out.display()))?;
    reporter.finish();
    println!("{}", report.summary());
    Ok(())
}

#[derive(clap::Args)]
struct TrainDetectorArgs {
    /// A DeepFashion-format set's root (img/, Anno/, Eval/, as make-scenes writes; or
    /// deepfashion:ROOT), a COCO file (coco:FILE or FILE.json), or project:DIR (its accepted
    /// images' reviewed boxes)
    data: String,
    /// Weights to write (.safetensors; the card goes beside as .json, the losses as
    /// .metrics.jsonl)
    #[arg(long)]
    out: PathBuf,
    #[arg(long, default_value_t = 2_000)]
    iters: u64,
    /// AdamW's learning rate, divided by ten for the last quarter of the iterations
    #[arg(long, default_value_t = 3e-4)]
    lr: f64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[arg(long, default_value_t = 500)]
    checkpoint_every: u64,
    /// Go on from where a stopped run with the same --out left off (its layers, optimiser
    /// and iteration; --iters is the total)
    #[arg(long)]
    resume: bool,
    /// What to find: `types` (upper, lower, full body) or `all` of the set's categories
    /// (DeepFashion's 50)
    #[arg(long, default_value = "types", value_parser = ["types", "all"])]
    categories: String,
    /// Weigh the class loss so that each category counts as much as any other, however few
    /// of its boxes the set has
    #[arg(long)]
    balance_classes: bool,
    /// Enlarge smaller images so that their short side is this many pixels (their long side
    /// stays at most 512); 0 never enlarges [default: 384]
    #[arg(long)]
    short_side: Option<u32>,
    /// Fine-tune the backbone's last N blocks at stride 16 (and its stride-16 expansion) with
    /// the detector, at most 6; 0 keeps the backbone frozen [default: 4]
    #[arg(long)]
    backbone_blocks: Option<usize>,
}

fn train_detector(args: TrainDetectorArgs) -> Result<()> {
    use deepstyle::detect::faster_rcnn::data::DetectorData;
    use deepstyle::detect::faster_rcnn::model::DetectorConfig;
    use deepstyle::detect::faster_rcnn::train::{DetectorTraining, train_detector};
    let options = DetectorTraining {
        iterations: args.iters,
        learning_rate: args.lr,
        seed: args.seed,
        checkpoint_every: args.checkpoint_every,
        resume: args.resume,
        balance_classes: args.balance_classes,
        ..DetectorTraining::default()
    };
    let reporter = StderrProgress::new("train-detector");
    let cancel = reporter.cancel.clone();
    // Ctrl-C stops after the current iteration and writes the weights.
    let _ = ctrlc::set_handler(move || cancel.cancel());
    let data = DetectorData::parse(&args.data);
    let mut config = DetectorConfig::default();
    if let Some(short_side) = args.short_side {
        config.short_side = short_side;
    }
    if let Some(blocks) = args.backbone_blocks {
        config.backbone_blocks = blocks;
    }
    if args.categories == "all" {
        config.classes = data
            .categories()
            .with_context(|| format!("cannot read the categories of {}", args.data))?;
    }
    let done = train_detector(
        &data,
        &args.out,
        &config,
        &options,
        &reporter,
        &print_detector_step,
    )
    .with_context(|| format!("cannot train a detector on {}", args.data))?;
    reporter.finish();
    println!("trained {done} iterations: {}", args.out.display());
    Ok(())
}

/// One line of a detector's losses every ten iterations.
fn print_detector_step(step: &deepstyle::detect::faster_rcnn::train::DetectorStep) {
    if step.iter.is_multiple_of(10) || step.iter == 1 {
        println!(
            "iter {}\tloss {:.4}\trpn_objectness {:.4}\trpn_box {:.4}\thead_class {:.4}\thead_box {:.4}\t{:.0} ms",
            step.iter,
            step.total(),
            step.rpn_objectness,
            step.rpn_box,
            step.head_class,
            step.head_box,
            step.secs * 1000.0
        );
    }
}

#[derive(clap::Args)]
struct ImproveDetectorArgs {
    /// The project whose accepted images' boxes to learn from
    project: PathBuf,
    /// The garment detector to start from (its weights are left as they are)
    #[arg(long)]
    weights: PathBuf,
    /// Where to write the new weights (default: the project's detectors/garments-N.safetensors)
    #[arg(long)]
    out: Option<PathBuf>,
    #[arg(long, default_value_t = 300)]
    iters: u64,
    #[arg(long, default_value_t = 1e-4)]
    lr: f64,
    /// The share of reviewed images held out to score on, before and after
    #[arg(long, default_value_t = 0.2)]
    held_out: f32,
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

fn improve_detector(args: ImproveDetectorArgs) -> Result<()> {
    use deepstyle::detect::faster_rcnn::improve::{ImproveOptions, improve_detector};
    let project = Project::open(&args.project)
        .with_context(|| format!("cannot open project {}", args.project.display()))?;
    let options = ImproveOptions {
        iterations: args.iters,
        learning_rate: args.lr,
        held_out: args.held_out,
        seed: args.seed,
    };
    let reporter = StderrProgress::new("improve-detector");
    let cancel = reporter.cancel.clone();
    let _ = ctrlc::set_handler(move || cancel.cancel());
    let report = improve_detector(
        &project,
        &args.weights,
        args.out.as_deref(),
        &options,
        &reporter,
        &print_detector_step,
    )
    .with_context(|| format!("cannot improve {}", args.weights.display()))?;
    reporter.finish();
    println!(
        "images: {} learnt from, {} held out",
        report.trained_on, report.held_out
    );
    println!("before mAP@0.5: {:.4}", report.before.map50);
    println!("after mAP@0.5: {:.4}", report.after.map50);
    println!("before mAP@[.5:.95]: {:.4}", report.before.map);
    println!("after mAP@[.5:.95]: {:.4}", report.after.map);
    println!("weights: {}", report.weights.display());
    Ok(())
}

#[derive(clap::Args)]
struct EvalDetectorArgs {
    /// What train-detector takes: a DeepFashion-format set, a COCO file or project:DIR (whose
    /// test split is the held-out fifth of its reviewed images)
    data: String,
    /// Weights from train-detector (default: the shipped garment detector)
    #[arg(long)]
    weights: Option<PathBuf>,
    /// The partition to score on: train, val, test, or all
    #[arg(long, default_value = "test")]
    split: String,
    /// Write the detections as COCO results JSON here (and the ground truth as a COCO
    /// dataset beside it, `.gt.json`), for COCO's own evaluation
    #[arg(long)]
    predictions: Option<PathBuf>,
}

fn eval_detector(args: EvalDetectorArgs) -> Result<()> {
    use deepstyle::detect::faster_rcnn::assess::{Assessment, assess};
    use deepstyle::detect::faster_rcnn::data::DetectorData;
    use deepstyle::detect::faster_rcnn::infer::GarmentDetector;
    let device = candle_core::Device::Cpu;
    let detector = match &args.weights {
        Some(path) => GarmentDetector::from_file(path, &device)
            .with_context(|| format!("cannot load {}", path.display()))?,
        None => {
            GarmentDetector::shipped(&device).context("cannot load the shipped garment detector")?
        }
    };
    let classes = detector.card().config.classes.clone();
    let images = DetectorData::parse(&args.data)
        .examples(&args.split, &classes)
        .with_context(|| format!("cannot read {}", args.data))?;
    let reporter = StderrProgress::new("eval-detector");
    let Assessment {
        evaluation,
        detections,
        truths,
        sizes,
    } = assess(&detector, &images, &reporter)?;
    reporter.finish();
    if let Some(path) = &args.predictions {
        let (gt, results) =
            deepstyle::detect::faster_rcnn::eval::coco_json(&detections, &truths, &classes, &sizes);
        let gt_path = path.with_extension("gt.json");
        for (file, json) in [(path, &results), (&gt_path, &gt)] {
            deepstyle::atomic::write_atomic(file, json.to_string().as_bytes())
                .with_context(|| format!("cannot write {}", file.display()))?;
        }
    }
    println!("images: {}", images.len());
    println!("mAP@0.5: {:.4}", evaluation.map50);
    println!("mAP@[.5:.95]: {:.4}", evaluation.map);
    for (name, ap) in classes.iter().zip(&evaluation.per_class) {
        match ap {
            Some((ap50, ap)) => println!("AP {name}: {ap50:.4} @0.5, {ap:.4} @[.5:.95]"),
            None => println!("AP {name}: no boxes"),
        }
    }
    Ok(())
}

fn train_gan(args: TrainGanArgs) -> Result<()> {
    let data = DataSource::parse(&args.data);
    let is_mnist = matches!(data, DataSource::FashionMnist(_));
    let config = GanConfig {
        image_size: args.image_size,
        channels: args.channels.unwrap_or(if is_mnist { 1 } else { 3 }),
        ngf: args.width,
        ndf: args.width,
        batch_size: args.batch,
        iterations: args.iters.unwrap_or(GanConfig::default().iterations),
        seed: args.seed,
        flip: args.flip.unwrap_or(!is_mnist),
        resize: args.resize,
        sample_every: args.sample_every,
        checkpoint_every: args.checkpoint_every,
        threads: args.threads,
        loss: args.loss,
        ema: args.ema,
        spectral_norm: args.spectral_norm,
        lr_d: args.lr_d,
        aux_classifier: args.aux_class,
        mode_seeking: args.mode_seeking,
        twin_classifier: args.twin_class,
        minibatch_stddev: args.minibatch_stddev,
        pack: args.pack,
        beta1: args.beta1.unwrap_or(GanConfig::default().beta1),
        beta2: args.beta2.unwrap_or(GanConfig::default().beta2),
        ..GanConfig::default()
    };
    let request = TrainRequest {
        run_dir: args.out.clone(),
        data,
        config,
        resume: args.resume,
        device: args.device,
        epochs: args.epochs,
        lr_override: args.lr,
        conditional: args.conditional,
    };
    let sink = TrainPrinter {
        progress: StderrProgress::new("train-gan"),
        last_step_line: Mutex::new(None),
        total: Default::default(),
    };
    let cancel = sink.progress.cancel.clone();
    // Ctrl-C stops at the end of the current iteration and writes a checkpoint.
    let _ = ctrlc::set_handler(move || cancel.cancel());
    let summary = train(&request, &PauseFlag::default(), &sink)
        .with_context(|| format!("training into {} failed", args.out.display()))?;
    sink.progress.finish();
    println!(
        "{} after {} iterations; run folder {}; generator {}",
        if summary.stopped {
            "stopped"
        } else {
            "finished"
        },
        summary.iterations,
        summary.run_dir.display(),
        summary.run_dir.join("generator.safetensors").display()
    );
    Ok(())
}

/// Prints one line per iteration at most every two seconds, and every warning.
struct TrainPrinter {
    progress: StderrProgress,
    last_step_line: Mutex<Option<Instant>>,
    total: std::sync::atomic::AtomicU64,
}

impl Reporter for TrainPrinter {
    fn progress(&self, _done: u64, _total: u64, _msg: &str) {
        // The per-iteration lines below say more than a progress counter.
    }
    fn is_cancelled(&self) -> bool {
        self.progress.is_cancelled()
    }
}

impl TrainSink for TrainPrinter {
    fn event(&self, event: TrainEvent) {
        match event {
            TrainEvent::Started {
                first_iter,
                iterations,
                images,
            } => {
                self.total
                    .store(iterations, std::sync::atomic::Ordering::Relaxed);
                eprintln!("training on {images} images, iterations {first_iter}..{iterations}")
            }
            TrainEvent::Step(m) => {
                let Ok(mut last) = self.last_step_line.lock() else {
                    return;
                };
                if last.is_none_or(|t| t.elapsed() >= Duration::from_secs(2)) {
                    *last = Some(Instant::now());
                    eprintln!(
                        "iter {}/{} epoch {}: D loss {:.3}, G loss {:.3}, D(x) {:.3}, D(G(z)) {:.3}, {:.2} s/iter",
                        m.iter,
                        self.total.load(std::sync::atomic::Ordering::Relaxed),
                        m.epoch,
                        m.d_loss,
                        m.g_loss,
                        m.d_x,
                        m.d_g_z,
                        m.secs
                    );
                }
            }
            TrainEvent::Sample { path, .. } => eprintln!("samples: {}", path.display()),
            TrainEvent::Checkpoint { iter } => eprintln!("checkpoint at iteration {iter}"),
            TrainEvent::Warning(w) => eprintln!("warning: {w}"),
        }
    }
}

fn generate(args: GenerateArgs) -> Result<()> {
    let seeds = match &args.seeds {
        Some(text) => Some(parse_seed_range(text).map_err(anyhow::Error::msg)?),
        None => None,
    };
    let device = args.device.open()?;
    let generator = open_generator(&args.weights, &device)?;
    let mut cols = args.cols;
    let (samples, captions) = match (seeds, &args.favourites) {
        (Some(seeds), _) => {
            let samples = seed_samples(&generator, &seeds, args.class.as_deref(), args.truncation)
                .map_err(anyhow::Error::msg)?;
            let captions = args.class.as_deref() == Some("all");
            if captions {
                cols = seeds.len(); // one row a class
            }
            (samples, captions)
        }
        (None, Some(root)) => (project_favourites(root, generator.input_len())?, true),
        (None, None) => anyhow::bail!("give --seeds or --favourites"),
    };
    if let Some(dir) = &args.out_dir {
        let latents: Vec<Vec<f32>> = samples.iter().map(|s| s.z.clone()).collect();
        let images = generator
            .images_for_latents(&latents)
            .context("generation failed")?;
        for (i, (sample, image)) in samples.iter().zip(&images).enumerate() {
            let name = match (&args.favourites, sample.seed) {
                (None, Some(seed)) if sample.label.is_empty() => format!("seed_{seed}.png"),
                (None, Some(seed)) => format!("{}_seed_{seed}.png", file_stem_of(&sample.label)),
                _ => format!("favourite_{:03}.png", i + 1),
            };
            let path = dir.join(name);
            write_png(&path, image)?;
            println!("{}", path.display());
        }
    } else if let Some(out) = &args.out {
        let grid = Picture::Grid {
            layout: GridLayout {
                cols,
                ..GridLayout::default()
            },
            captions: if captions {
                samples.iter().map(Sample::caption).collect()
            } else {
                Vec::new()
            },
        };
        let latents: Vec<Vec<f32>> = samples.into_iter().map(|s| s.z).collect();
        write_picture(&generator, &latents, &grid, out, &Silent)?;
        println!("{}", out.display());
    }
    Ok(())
}

/// The samples of `seeds` for `class` (a name, a number, `all` for every class in turn, or
/// none: seed s draws class s mod K); samples of a named class are labelled with it.
fn seed_samples(
    generator: &LoadedGenerator,
    seeds: &[u64],
    class: Option<&str>,
    truncation: f32,
) -> Result<Vec<Sample>, String> {
    let classes = generator.classes();
    let sample = |seed: u64, class: usize, labelled: bool| {
        let mut sample = Sample::unnamed(generator.input_for_seed(seed, truncation, Some(class)));
        sample.seed = Some(seed);
        if labelled {
            sample.label = classes[class].clone();
        }
        sample
    };
    let k = classes.len().max(1) as u64;
    Ok(match class {
        None => seeds
            .iter()
            .map(|&s| sample(s, (s % k) as usize, false))
            .collect(),
        Some("all") => {
            if classes.is_empty() {
                return Err("--class all: this generator is not conditional".into());
            }
            (0..classes.len())
                .flat_map(|c| seeds.iter().map(move |&s| (s, c)))
                .map(|(s, c)| sample(s, c, true))
                .collect()
        }
        Some(name) => {
            let c = generator.class_index(name)?;
            seeds.iter().map(|&s| sample(s, c, true)).collect()
        }
    })
}

/// A class name made safe for a file name (`T-shirt/top` -> `T-shirt-top`).
fn file_stem_of(label: &str) -> String {
    label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// The favourites of the project at `root` that a generator of `z_dim` can draw, named.
fn project_favourites(root: &Path, z_dim: usize) -> Result<Vec<Sample>> {
    let catalog = Project::open(root)
        .and_then(|p| p.catalog().map_err(Into::into))
        .with_context(|| format!("cannot open the project {}", root.display()))?;
    let mut explorer = Explorer::new(z_dim);
    explorer.set_favourites(catalog.favourites()?);
    let samples = explorer.selection(Selection::Favourites);
    if samples.is_empty() {
        anyhow::bail!(
            "{}: no favourites of this generator's z size ({z_dim})",
            root.display()
        );
    }
    Ok(samples)
}

/// What travels beside the classifier's weights.
#[derive(serde::Serialize, serde::Deserialize)]
struct ClassifierCard {
    architecture: String,
    image_size: usize,
    classes: Vec<String>,
    epochs: usize,
    test_accuracy: f64,
    data: String,
    licence: String,
}

const CLASSIFIER_ARCH: &str = "fashion-classifier-32";

fn train_classifier(data: &str, out: &Path, epochs: usize) -> Result<()> {
    let DataSource::FashionMnist(dir) = DataSource::parse(data) else {
        anyhow::bail!("the classifier trains on fashion-mnist:DIR, not {data}");
    };
    let device = candle_core::Device::Cpu;
    let (train_set, train_labels) =
        load_fashion_mnist_split(&dir, "train", ImageSpec::FASHION_MNIST_32)?;
    let (test_set, test_labels) =
        load_fashion_mnist_split(&dir, "t10k", ImageSpec::FASHION_MNIST_32)?;
    let progress = StderrProgress::new("train-classifier");
    let (vars, model) =
        quality::train_classifier(&train_set, &train_labels, epochs, 1, &device, &progress)
            .context("classifier training failed")?;
    progress.finish();
    let accuracy = quality::accuracy(&model, &test_set, &test_labels, &device)?;
    deepstyle::checkpoint::save_tensors(&deepstyle::checkpoint::named(&vars, ""), out)?;
    let card = ClassifierCard {
        architecture: CLASSIFIER_ARCH.into(),
        image_size: 32,
        classes: quality::CLASS_NAMES.iter().map(|c| c.to_string()).collect(),
        epochs,
        test_accuracy: accuracy,
        data: "Fashion-MNIST train split (60,000 images), scored on t10k".into(),
        licence: "MIT (trained on Fashion-MNIST, MIT, Zalando SE)".into(),
    };
    deepstyle::checkpoint::save_json(&card, &deepstyle::checkpoint::sidecar_path(out))?;
    println!("test accuracy: {:.4}", accuracy);
    println!("{}", out.display());
    Ok(())
}

fn fid(
    classifier: &Path,
    dir: &Path,
    weights: Option<&Path>,
    npy: Option<&Path>,
    count: usize,
    per_class: bool,
) -> Result<()> {
    let device = candle_core::Device::Cpu;
    let card: ClassifierCard =
        deepstyle::checkpoint::load_json(&deepstyle::checkpoint::sidecar_path(classifier))?;
    anyhow::ensure!(
        card.architecture == CLASSIFIER_ARCH,
        "{} is not a {CLASSIFIER_ARCH}",
        classifier.display()
    );
    let vars = candle_nn::VarMap::new();
    let model = quality::Classifier::new(candle_nn::VarBuilder::from_varmap(
        &vars,
        candle_core::DType::F32,
        &device,
    ))?;
    let tensors = deepstyle::checkpoint::load_tensors(classifier, &device)?;
    deepstyle::checkpoint::fill(&vars, &tensors, "", classifier)?;
    let (test_set, test_labels) =
        load_fashion_mnist_split(dir, "t10k", ImageSpec::FASHION_MNIST_32)?;
    let mut by_class = None;
    let generated = match (weights, npy) {
        (Some(w), _) => {
            let generator = load_generator(w, &device).context("cannot load the generator")?;
            let generated = quality::generated_dataset(&generator, count, None)?;
            if per_class {
                anyhow::ensure!(
                    !generator.classes().is_empty(),
                    "--per-class: {} is not conditional",
                    w.display()
                );
                let per_class = count / generator.classes().len();
                by_class = Some(quality::generated_by_class(&generator, per_class)?);
            }
            generated
        }
        (None, Some(path)) => {
            let samples = read_npy_images(path)?;
            if per_class {
                by_class = Some(quality::split_by_class(&samples));
            }
            samples
        }
        (None, None) => anyhow::bail!("give --weights or --npy"),
    };
    // Larger samples are shrunk to the classifier's 32x32 by averaging pixel blocks.
    let to_scored = |images: Dataset| -> Result<Dataset> {
        anyhow::ensure!(
            images.channels == 1,
            "the classifier scores grey images; these have {} channels",
            images.channels
        );
        images.shrunk_to(32).ok_or_else(|| {
            anyhow::anyhow!(
                "the classifier scores 32x32 images; {0}x{0} samples do not shrink to that",
                images.size
            )
        })
    };
    let generated = to_scored(generated)?;
    let by_class = by_class
        .map(|classes| {
            classes
                .into_iter()
                .map(|(name, images)| Ok((name, to_scored(images)?)))
                .collect::<Result<Vec<_>>>()
        })
        .transpose()?;
    eprintln!(
        "features of {} test images and {} samples",
        test_set.len, generated.len
    );
    let real = quality::features(&model, &test_set, &device)?;
    let fake = quality::features(&model, &generated, &device)?;
    println!("FID: {:.3}", quality::frechet_distance(&real, &fake));
    if let Some(by_class) = by_class {
        let scores = quality::class_scores(&model, &by_class, &test_set, &test_labels, &device)?;
        println!(
            "class\tFID\taccuracy on samples\taccuracy on real\tratio\tMS-SSIM samples\tMS-SSIM real"
        );
        for score in scores {
            println!(
                "{}\t{:.3}\t{:.3}\t{:.3}\t{:.2}\t{:.3}\t{:.3}",
                score.name,
                score.fid,
                score.sample_accuracy,
                score.real_accuracy,
                score.sample_accuracy / score.real_accuracy.max(1e-9),
                score.sample_ms_ssim,
                score.real_ms_ssim
            );
        }
    }
    Ok(())
}

/// A generator from its weights file, or the built-in one for `shipped`.
fn open_generator(weights: &Path, device: &candle_core::Device) -> Result<LoadedGenerator> {
    if weights == Path::new("shipped") {
        return load_shipped_generator(device).context("cannot load the shipped generator");
    }
    if weights == Path::new("shipped-cond") {
        return deepstyle::gan::sample::load_shipped_conditional_generator(device)
            .context("cannot load the shipped conditional generator");
    }
    load_generator(weights, device).context("cannot load the generator")
}

fn interpolate(args: InterpolateArgs) -> Result<()> {
    let extension = args
        .out
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let animated = match extension.as_deref() {
        Some("gif") => true,
        Some("png") => false,
        _ => anyhow::bail!(
            "{}: the output must end in .png (a strip) or .gif (an animation)",
            args.out.display()
        ),
    };
    if args.steps < 2 || args.steps > 10_000 {
        anyhow::bail!("--steps must be between 2 and 10000, got {}", args.steps);
    }
    let device = args.device.open()?;
    let generator = open_generator(&args.weights, &device)?;
    let class_of = |name: &Option<String>| -> Result<Option<usize>> {
        name.as_deref()
            .map(|n| generator.class_index(n))
            .transpose()
            .map_err(anyhow::Error::msg)
    };
    let from_class = class_of(&args.class)?;
    let to_class = class_of(&args.to_class)?.or(from_class);
    let from = generator.input_for_seed(args.from, args.truncation, from_class);
    let to = generator.input_for_seed(args.to, args.truncation, to_class);
    let latents = interp::path(&from, &to, args.steps, args.mode);
    let picture = if animated {
        Picture::Animation {
            options: AnimationOptions {
                frame_delay_ms: args.delay_ms,
                looping: true,
                ping_pong: args.ping_pong,
            },
            scale: args.scale,
        }
    } else {
        Picture::Grid {
            layout: GridLayout {
                cols: args.cols.unwrap_or(args.steps),
                scale: args.scale,
                ..GridLayout::default()
            },
            captions: Vec::new(),
        }
    };
    write_picture(&generator, &latents, &picture, &args.out, &Silent)?;
    println!("{}", args.out.display());
    Ok(())
}

fn write_png(path: &Path, image: &image::RgbaImage) -> Result<()> {
    let png = deepstyle::imaging::encode_png(image)
        .with_context(|| format!("cannot encode {}", path.display()))?;
    deepstyle::atomic::write_atomic(path, &png)
        .with_context(|| format!("cannot write {}", path.display()))
}

fn print_report(report: &ImportReport) {
    let mut out = std::io::stdout().lock();
    for added in &report.added {
        let _ = writeln!(out, "added\t{}\t{}", added.origin, added.sha256);
    }
    for origin in &report.already_present {
        let _ = writeln!(out, "present\t{origin}");
    }
    for near in &report.near_duplicates {
        let _ = writeln!(
            out,
            "near-duplicate\t{}\tof {} (distance {})",
            near.origin, near.similar_to, near.distance
        );
    }
    for failure in &report.failed {
        let _ = writeln!(out, "failed\t{}\t{}", failure.origin, failure.reason);
    }
    let _ = writeln!(out, "{}", report.summary());
}

/// Prints progress to stderr at most a few times a second.
struct StderrProgress {
    label: &'static str,
    cancel: CancelToken,
    last: Mutex<Option<Instant>>,
}

impl StderrProgress {
    fn new(label: &'static str) -> Self {
        StderrProgress {
            label,
            cancel: CancelToken::default(),
            last: Mutex::new(None),
        }
    }

    fn finish(&self) {
        eprintln!();
    }
}

impl Reporter for StderrProgress {
    fn progress(&self, done: u64, total: u64, msg: &str) {
        let Ok(mut last) = self.last.lock() else {
            return;
        };
        let due = last.is_none_or(|t| t.elapsed() >= Duration::from_millis(250));
        if due || done == total {
            *last = Some(Instant::now());
            eprint!("\r{}: {msg} [{done}/{total}]   ", self.label);
        }
    }
    fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }
}
