//! Importing into a project: good files land, bad files are reported by path, duplicates are
//! found, failures leave the catalog as it was.
// Helpers here unwrap as the tests do: a failure there is a failing test.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;

use deepstyle::jobs::{self, JobError, Silent};
use deepstyle::project::Project;
use deepstyle::project::ingest::{self, ImportError, ImportOptions};
use image::ImageFormat;

fn new_project() -> (tempfile::TempDir, Project) {
    let dir = tempfile::tempdir().unwrap();
    let project = Project::create(&dir.path().join("proj")).unwrap();
    (dir, project)
}

#[test]
fn good_images_import_and_each_bad_file_is_reported_by_path() {
    let folder = common::mixed_folder();
    let (_dir, project) = new_project();
    let report = ingest::import_paths(
        &project,
        &[folder.dir.path().to_path_buf()],
        &ImportOptions::default(),
        &Silent,
    )
    .unwrap();

    assert_eq!(report.added.len(), folder.good.len(), "{report:#?}");
    let failed: Vec<PathBuf> = report
        .failed
        .iter()
        .map(|f| PathBuf::from(&f.origin))
        .collect();
    for bad in &folder.bad {
        assert!(
            failed.contains(bad),
            "{} not reported: {report:#?}",
            bad.display()
        );
    }
    assert_eq!(report.failed.len(), folder.bad.len());
    let reason = |name: &str| {
        report
            .failed
            .iter()
            .find(|f| f.origin.ends_with(name))
            .map(|f| f.reason.clone())
            .unwrap()
    };
    assert!(reason("empty.jpg").contains("empty"));
    assert!(reason("notes.png").contains("not a supported image"));
    assert!(
        reason("bomb.png").contains("limit"),
        "{}",
        reason("bomb.png")
    );
    assert!(reason("truncated.jpg").contains("corrupt or truncated"));
    assert_eq!(report.skipped.len(), 1, "readme.txt is skipped");

    let catalog = project.catalog().unwrap();
    let rows = catalog.list_images().unwrap();
    assert_eq!(rows.len(), folder.good.len());
    for row in &rows {
        assert!(project.resolve(&row.path).is_file(), "{}", row.path);
        assert!(project.thumb_path(&row.sha256).is_file());
        assert!(row.path.contains(&row.sha256));
        assert!(row.source_url.as_deref().unwrap().starts_with("file://"));
    }
    let gif = rows
        .iter()
        .find(|r| r.original_name.as_deref() == Some("look5.gif"))
        .unwrap();
    assert_eq!((gif.width, gif.height), (24, 24));
    assert!(gif.path.ends_with(".gif"));
}

#[test]
fn reimporting_the_same_files_adds_nothing() {
    let folder = common::mixed_folder();
    let (_dir, project) = new_project();
    let paths = [folder.dir.path().to_path_buf()];
    ingest::import_paths(&project, &paths, &ImportOptions::default(), &Silent).unwrap();
    let again = ingest::import_paths(&project, &paths, &ImportOptions::default(), &Silent).unwrap();
    assert!(again.added.is_empty());
    assert_eq!(again.already_present.len(), folder.good.len());
    assert_eq!(
        project.catalog().unwrap().image_count().unwrap(),
        folder.good.len() as u64
    );
}

#[test]
fn same_bytes_under_two_names_are_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = common::encode(&common::picture(9, 50, 50), ImageFormat::Png);
    let a = common::write(dir.path(), "a.png", &bytes);
    let b = common::write(dir.path(), "copy of a.png", &bytes);
    let (_p, project) = new_project();
    let report = ingest::import_paths(
        &project,
        &[a, b.clone()],
        &ImportOptions::default(),
        &Silent,
    )
    .unwrap();
    assert_eq!(report.added.len(), 1);
    assert_eq!(report.already_present, vec![b.display().to_string()]);
}

#[test]
fn near_duplicates_are_reported_and_still_imported() {
    let dir = tempfile::tempdir().unwrap();
    let original = common::picture(11, 200, 150);
    let smaller =
        image::imageops::resize(&original, 100, 75, image::imageops::FilterType::Lanczos3);
    let other = common::picture(12, 200, 150);
    let (_p, project) = new_project();
    let first = common::write(
        dir.path(),
        "original.png",
        &common::encode(&original, ImageFormat::Png),
    );
    ingest::import_paths(&project, &[first], &ImportOptions::default(), &Silent).unwrap();
    let second = common::write(
        dir.path(),
        "smaller.jpg",
        &common::encode(&smaller, ImageFormat::Jpeg),
    );
    let third = common::write(
        dir.path(),
        "other.png",
        &common::encode(&other, ImageFormat::Png),
    );
    let report = ingest::import_paths(
        &project,
        &[second.clone(), third],
        &ImportOptions::default(),
        &Silent,
    )
    .unwrap();
    assert_eq!(report.added.len(), 2);
    assert_eq!(report.near_duplicates.len(), 1, "{report:#?}");
    assert_eq!(
        report.near_duplicates[0].origin,
        second.display().to_string()
    );
    assert!(report.near_duplicates[0].distance <= ingest::DEFAULT_NEAR_DUPLICATE_DISTANCE);

    // A stricter threshold reports nothing for the same pair.
    let (_p2, strict_project) = new_project();
    let strict = ImportOptions {
        near_duplicate_distance: 0,
    };
    let first = dir.path().join("original.png");
    ingest::import_paths(&strict_project, &[first], &strict, &Silent).unwrap();
    let report = ingest::import_paths(
        &strict_project,
        &[dir.path().join("other.png")],
        &strict,
        &Silent,
    )
    .unwrap();
    assert!(report.near_duplicates.is_empty());
}

#[test]
fn a_store_failure_mid_import_leaves_catalog_and_store_as_before() {
    let folder = common::mixed_folder();
    let (_dir, project) = new_project();
    // One image is already in the project; it must survive the failed import untouched.
    ingest::import_paths(
        &project,
        &[folder.good[0].clone()],
        &ImportOptions::default(),
        &Silent,
    )
    .unwrap();
    let before_rows = project.catalog().unwrap().list_images().unwrap();
    let before_files = files_under(project.root());

    // Make the store unwritable for the fourth good image: a folder squats on its path.
    let bytes = std::fs::read(&folder.good[3]).unwrap();
    let sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&bytes))
    };
    let squatter = project.resolve(&Project::image_relpath(&sha, "bmp"));
    std::fs::create_dir_all(&squatter).unwrap();

    let err = ingest::import_paths(&project, &folder.good, &ImportOptions::default(), &Silent)
        .unwrap_err();
    assert!(matches!(err, ImportError::Store { .. }), "{err}");
    assert!(err.to_string().contains(&sha), "{err}");

    std::fs::remove_dir(&squatter).unwrap();
    assert_eq!(
        project.catalog().unwrap().list_images().unwrap(),
        before_rows
    );
    assert_eq!(
        files_under(project.root()),
        before_files,
        "written files were removed"
    );
}

#[test]
fn a_cancelled_import_job_adds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let paths: Vec<PathBuf> = (0..200)
        .map(|i| {
            common::write(
                dir.path(),
                &format!("img{i:03}.png"),
                &common::encode(&common::picture(i, 160, 120), ImageFormat::Png),
            )
        })
        .collect();
    let (_p, project) = new_project();
    let before_files = files_under(project.root());
    let job_project = project.clone();
    let mut job = jobs::spawn::<(), _, _>(
        "import",
        || {},
        move |ctx| {
            ingest::import_paths(&job_project, &paths, &ImportOptions::default(), ctx).map_err(
                |e| match e {
                    ImportError::Cancelled => JobError::Cancelled,
                    other => JobError::failed(&other),
                },
            )
        },
    );
    // Cancel once some work is done.
    loop {
        match job.recv() {
            Some(jobs::JobEvent::Progress(p)) if p.done >= 16 => break,
            Some(_) => {}
            None => panic!("the job ended before it could be cancelled"),
        }
    }
    job.cancel();
    assert_eq!(job.wait().unwrap_err(), JobError::Cancelled);
    assert_eq!(project.catalog().unwrap().image_count().unwrap(), 0);
    assert_eq!(files_under(project.root()), before_files);
}

/// Every file under `root` except the catalog's own (SQLite's WAL files change on reads).
fn files_under(root: &std::path::Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = walkdir::WalkDir::new(root)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .filter(|p| !p.to_string_lossy().contains("deepstyle.sqlite"))
        .collect();
    files.sort();
    files
}
