//! The command line as a user runs it: a real process, stdout for results, stderr for
//! progress, non-zero exit with a one-line reason on failure.

mod common;

use assert_cmd::Command;

fn deepstyle() -> Command {
    Command::cargo_bin("deepstyle").unwrap()
}

#[test]
fn new_creates_a_project_and_import_adds_images() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("studio");
    let out = deepstyle().arg("new").arg(&project).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(project.join("deepstyle.sqlite").is_file());

    let folder = common::mixed_folder();
    let out = deepstyle()
        .arg("import")
        .arg(&project)
        .arg(folder.dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("added\t")).count(),
        folder.good.len()
    );
    for bad in &folder.bad {
        let line = format!("failed\t{}\t", bad.display());
        assert!(stdout.contains(&line), "missing {line:?} in:\n{stdout}");
    }
    assert!(stdout.contains("5 added"), "{stdout}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("import"),
        "progress goes to stderr"
    );

    // Again: nothing new.
    let out = deepstyle()
        .arg("import")
        .arg(&project)
        .arg(folder.dir.path())
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 added, 5 already present"));
}

#[test]
fn new_with_demo_holds_the_bundled_images() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("demo");
    let out = deepstyle()
        .args(["new", "--demo"])
        .arg(&project)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("32 added"), "{stdout}");
}

#[test]
fn import_into_a_folder_that_is_not_a_project_fails_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = deepstyle()
        .arg("import")
        .arg(dir.path().join("nowhere"))
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("not a DeepStyle project") && stderr.contains("nowhere"),
        "{stderr}"
    );
}

#[test]
fn new_refuses_a_folder_holding_other_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("thesis.docx"), b"precious").unwrap();
    let out = deepstyle().arg("new").arg(dir.path()).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not an empty folder"));
    assert_eq!(
        std::fs::read(dir.path().join("thesis.docx")).unwrap(),
        b"precious"
    );
}

#[test]
fn every_subcommand_has_help() {
    for sub in ["studio", "new", "import"] {
        let out = deepstyle().args([sub, "--help"]).output().unwrap();
        assert!(out.status.success(), "{sub}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Usage"),
            "{sub}"
        );
    }
}
