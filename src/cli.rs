//! The command line: each subcommand is a thin call into the library. Progress goes to
//! stderr, results to stdout; failures exit non-zero with a one-line reason.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use deepstyle::jobs::{CancelToken, Reporter};
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
        println!("created {}", project.root().display());
        print_report(&report);
    } else {
        let project = Project::create(root)
            .with_context(|| format!("could not create a project in {}", root.display()))?;
        println!("created {}", project.root().display());
    }
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
