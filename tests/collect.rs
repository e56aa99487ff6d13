//! Scraping against a server on 127.0.0.1 that answers in the shapes Pinterest and runway sites
//! use, and misbehaves in the ways real servers do.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::server::{Reply, Seen, Server};
use deepstyle::collect::listing::ListingError;
use deepstyle::collect::scrape::{ScrapeError, ScrapeEvent, ScrapeOptions, ScrapeReport, scrape};
use deepstyle::jobs::{CancelToken, Reporter, Silent};
use deepstyle::project::Project;
use image::ImageFormat;
use serde_json::{Value, json};

/// A JPEG of picture `n` (distinct in structure from every other `n`).
fn jpeg(n: u32) -> Vec<u8> {
    common::encode(&common::picture(n, 96, 128), ImageFormat::Jpeg)
}

/// `/img/N.jpg` answers picture N; anything else 404.
fn numbered_jpeg(path: &str) -> Reply {
    match path
        .strip_prefix("/img/")
        .and_then(|p| p.strip_suffix(".jpg"))
        .and_then(|n| n.parse::<u32>().ok())
    {
        Some(n) => Reply::ok("image/jpeg", jpeg(n)),
        None => Reply::status(404),
    }
}

fn fast_options(server: &Server) -> ScrapeOptions {
    let mut options = ScrapeOptions::default();
    options.hosts.pinterest = server.base.clone();
    options.hosts.api = server.base.clone();
    options.http.delay = Duration::ZERO;
    options.http.backoff = Duration::from_millis(20);
    options.http.timeout = Duration::from_secs(2);
    options.http.retries = 2;
    options
}

fn new_project(dir: &Path) -> Project {
    Project::create(&dir.join("project")).unwrap()
}

/// The sha256 of every image in the project.
fn image_set(project: &Project) -> BTreeSet<String> {
    let catalog = project.catalog().unwrap();
    catalog
        .list_images()
        .unwrap()
        .into_iter()
        .map(|row| row.sha256)
        .collect()
}

fn run(project: &Project, url: &str, options: &ScrapeOptions) -> (ScrapeReport, Vec<ScrapeEvent>) {
    let events = Mutex::new(Vec::new());
    let report = scrape(project, url, options, &Silent, &|e| {
        events.lock().unwrap().push(e)
    })
    .unwrap();
    (report, events.into_inner().unwrap())
}

/// A web-API pin with one image.
fn pin(id: u32, board: &str, image_url: &str) -> Value {
    json!({
        "id": id.to_string(),
        "type": "pin",
        "board": { "id": board },
        "grid_title": format!("Look {id}"),
        "description": format!("Runway look number {id}"),
        "images": {
            "236x": { "url": format!("{image_url}?small") },
            "orig": { "url": image_url },
        },
        "videos": null,
    })
}

/// A board of 3 feed pages through the resource API; pin 4 is an `/originals/` image that
/// answers 404 (its `736x` variant works), one page carries a recommendation from another
/// board, and one pin is a video.
fn board_server() -> Server {
    Server::start(move |seen: &Seen| {
        let base = format!("http://{}", seen.header("host").unwrap());
        let image = |n: u32| format!("{base}/img/{n}.jpg");
        match seen.path() {
            "/robots.txt" => Reply::ok("text/plain", "User-agent: *\nDisallow: /private/\n"),
            "/resource/BoardResource/get/" => {
                let data: Value = serde_json::from_str(&seen.query("data").unwrap()).unwrap();
                assert_eq!(data["options"]["slug"], "runway");
                Reply::ok(
                    "application/json",
                    json!({ "resource_response": { "data": { "id": "555", "name": "Runway" } } })
                        .to_string(),
                )
            }
            "/resource/BoardFeedResource/get/" => {
                let data: Value = serde_json::from_str(&seen.query("data").unwrap()).unwrap();
                assert_eq!(data["options"]["board_id"], "555");
                let bookmark = data["options"]["bookmarks"][0].as_str().map(str::to_string);
                let (pins, next) = match bookmark.as_deref() {
                    None => (
                        vec![
                            pin(1, "555", &image(1)),
                            pin(2, "555", &image(2)),
                            pin(99, "777", &image(99)),
                        ],
                        "b1",
                    ),
                    Some("b1") => {
                        let mut video = pin(3, "555", &image(3));
                        video["videos"] = json!({ "video_list": {} });
                        let original = pin(4, "555", &format!("{base}/originals/4.jpg"));
                        (vec![video, original], "b2")
                    }
                    Some("b2") => {
                        let carousel = json!({
                            "id": "5",
                            "board": { "id": "555" },
                            "carousel_data": { "carousel_slots": [
                                { "images": { "orig": { "url": image(5) } } },
                                { "images": { "736x": { "url": image(6) }, "236x": { "url": image(66) } } },
                            ]},
                            "images": { "orig": { "url": image(5) } },
                        });
                        (vec![carousel, pin(7, "555", &image(7))], "-end-")
                    }
                    Some(other) => panic!("unexpected bookmark {other}"),
                };
                Reply::ok(
                    "application/json",
                    json!({
                        "resource": { "options": { "bookmarks": [next] } },
                        "resource_response": { "data": pins, "bookmark": next },
                    })
                    .to_string(),
                )
            }
            "/originals/4.jpg" => Reply::status(404),
            "/736x/4.jpg" => Reply::ok("image/jpeg", jpeg(4)),
            path => numbered_jpeg(path),
        }
    })
}

const BOARD: &str = "https://www.pinterest.com/vogue/runway/";

#[test]
fn a_board_through_the_resource_api_with_three_pages_of_bookmarks() {
    let server = board_server();
    let dir = tempfile::tempdir().unwrap();
    let project = new_project(dir.path());
    let (report, events) = run(&project, BOARD, &fast_options(&server));

    // Pins 1, 2, 4 (by its fallback), 5 and 6 (a carousel) and 7; not the video (3) nor the
    // recommendation from another board (99).
    assert_eq!(report.counts.added, 6, "{report:?}");
    assert_eq!(report.counts.pages, 3);
    assert_eq!(report.counts.failed, 0, "{:?}", report.failures);
    assert_eq!(
        server.hits("/img/99.jpg"),
        0,
        "a recommendation was fetched"
    );
    assert_eq!(server.hits("/img/3.jpg"), 0, "a video's poster was fetched");
    assert_eq!(server.hits("/736x/4.jpg"), 1);
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, ScrapeEvent::Added { .. }))
            .count(),
        6
    );

    // Provenance: kind, board, pin, image address, title and description.
    let catalog = project.catalog().unwrap();
    let rows = catalog.list_images().unwrap();
    let with_origin: Vec<_> = rows
        .iter()
        .map(|row| (row, catalog.provenance_of(row.id).unwrap().unwrap()))
        .collect();
    let (row, origin) = with_origin
        .iter()
        .find(|(_, o)| o.pin_id.as_deref() == Some("1"))
        .unwrap();
    assert_eq!(origin.source_kind, "pinterest-board");
    assert_eq!(origin.source_url, BOARD);
    assert_eq!(origin.image_url, server.url("/img/1.jpg"));
    assert_eq!(origin.title.as_deref(), Some("Look 1"));
    assert_eq!(origin.description.as_deref(), Some("Runway look number 1"));
    assert_eq!(row.source_kind, "web");
    assert_eq!(row.original_name.as_deref(), Some("1.jpg"));
    assert!(project.resolve(&row.path).is_file());
    assert!(project.thumb_path(&row.sha256).is_file());
    let fallback = with_origin
        .iter()
        .find(|(_, o)| o.pin_id.as_deref() == Some("4"))
        .unwrap();
    assert_eq!(fallback.1.image_url, server.url("/736x/4.jpg"));

    // An honest User-Agent and robots.txt read once.
    let seen = server.seen();
    assert!(seen.iter().all(|s| {
        s.header("user-agent")
            .unwrap()
            .starts_with("DeepStyleStudio/")
    }));
    assert_eq!(server.hits("/robots.txt"), 1);

    // Scraping the board again fetches no image again.
    let images_before = seen.iter().filter(|s| s.path().ends_with(".jpg")).count();
    let (again, _) = run(&project, BOARD, &fast_options(&server));
    assert_eq!(again.counts.added, 0);
    assert_eq!(again.counts.already_fetched, 6);
    let images_after = server
        .seen()
        .iter()
        .filter(|s| s.path().ends_with(".jpg"))
        .count();
    assert_eq!(
        images_after, images_before,
        "known images were fetched again"
    );
}

#[test]
fn a_board_page_with_only_embedded_data_and_then_only_a_feed() {
    let server = Server::start(|seen: &Seen| {
        let base = format!("http://{}", seen.header("host").unwrap());
        match seen.path() {
            "/robots.txt" => Reply::status(404),
            "/vogue/runway/" => {
                let data = json!({ "props": { "initialReduxState": { "pins": {
                    "11": pin(11, "555", &format!("{base}/img/11.jpg")),
                    "12": { "id": "12", "images": null },
                    "13": pin(13, "555", &format!("{base}/img/13.jpg")),
                }}}});
                Reply::ok(
                    "text/html",
                    format!(
                        "<html><head><script id=\"__PWS_DATA__\" type=\"application/json\">{data}</script></head></html>"
                    ),
                )
            }
            "/other/feedonly.rss" => Reply::ok(
                "application/rss+xml",
                format!(
                    "<?xml version=\"1.0\"?><rss><channel><item><title>a</title>\
                     <description>&lt;img src=&quot;{base}/img/21.jpg&quot;&gt;</description></item>\
                     <item><enclosure url=\"{base}/img/22.jpg\" type=\"image/jpeg\"/></item>\
                     </channel></rss>"
                ),
            ),
            path => match path
                .strip_prefix("/img/")
                .and_then(|p| p.strip_suffix(".jpg"))
                .and_then(|n| n.parse::<u32>().ok())
            {
                Some(n) => Reply::ok("image/jpeg", jpeg(n)),
                // The resource API is gone (as when Pinterest changes it).
                None => Reply::status(403),
            },
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let project = new_project(dir.path());
    let (report, _) = run(&project, BOARD, &fast_options(&server));
    assert_eq!(report.counts.added, 2, "{report:?}");
    let (report, _) = run(
        &project,
        "https://pinterest.com/other/feedonly/",
        &fast_options(&server),
    );
    assert_eq!(report.counts.added, 2, "{report:?}");
    assert_eq!(image_set(&project).len(), 4);
}

#[test]
fn the_api_v5_with_a_token_from_the_environment_in_two_pages() {
    const TOKEN: &str = "pina_SECRET_test_token_1234";
    let server = Server::start(|seen: &Seen| {
        let base = format!("http://{}", seen.header("host").unwrap());
        match seen.path() {
            "/robots.txt" => Reply::status(404),
            "/v5/boards/8675309/pins" => {
                if seen.header("authorization") != Some(&format!("Bearer {TOKEN}")) {
                    return Reply::status(401);
                }
                assert_eq!(seen.query("page_size").as_deref(), Some("100"));
                let item = |n: u32| {
                    json!({ "id": n.to_string(), "title": format!("API look {n}"),
                            "media": { "media_type": "image", "images": {
                                "150x150": { "url": format!("{base}/img/{}.jpg", n + 1000) },
                                "1200x": { "url": format!("{base}/img/{n}.jpg") } } } })
                };
                let body = match seen.query("bookmark").as_deref() {
                    None => json!({ "items": [item(31), item(32)], "bookmark": "page2" }),
                    Some("page2") => json!({ "items": [
                        item(33),
                        { "id": "34", "media": { "media_type": "video" } },
                        { "id": "35", "media": { "media_type": "multiple_images", "items": [
                            { "images": { "1200x": { "url": format!("{base}/img/35.jpg") } } },
                            { "images": { "600x": { "url": format!("{base}/img/36.jpg") } } },
                        ]}},
                    ], "bookmark": null }),
                    Some(other) => panic!("bookmark {other}"),
                };
                Reply::ok("application/json", body.to_string())
            }
            path => numbered_jpeg(path),
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let project = new_project(dir.path());
    let url = "https://api.pinterest.com/v5/boards/8675309/pins";
    let mut options = fast_options(&server);

    // No variable named, a variable not set, a token refused: one line each, nothing added.
    let error = scrape(&project, url, &options, &Silent, &|_| {}).unwrap_err();
    assert!(matches!(
        error,
        ScrapeError::Source(ListingError::NoTokenVariable)
    ));
    options.token_env = Some("DEEPSTYLE_TEST_PINTEREST_TOKEN_UNSET".into());
    let error = scrape(&project, url, &options, &Silent, &|_| {}).unwrap_err();
    assert!(error.to_string().contains("is not set"), "{error}");
    // SAFETY: the variables are this test's own; no other thread reads or writes them.
    unsafe {
        std::env::set_var("DEEPSTYLE_TEST_PINTEREST_TOKEN_BAD", "wrong");
        std::env::set_var("DEEPSTYLE_TEST_PINTEREST_TOKEN", TOKEN);
    }
    options.token_env = Some("DEEPSTYLE_TEST_PINTEREST_TOKEN_BAD".into());
    let error = scrape(&project, url, &options, &Silent, &|_| {}).unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("refused") && message.contains("401"),
        "{message}"
    );
    assert!(!message.contains("wrong"));

    options.token_env = Some("DEEPSTYLE_TEST_PINTEREST_TOKEN".into());
    let (report, _) = run(&project, url, &options);
    assert_eq!(report.counts.added, 5, "{report:?}");
    assert_eq!(report.counts.pages, 2);
    assert_eq!(
        server.hits("/img/1031.jpg"),
        0,
        "a smaller size was fetched"
    );
    let catalog = project.catalog().unwrap();
    let titles: BTreeSet<String> = catalog
        .list_images()
        .unwrap()
        .iter()
        .filter_map(|r| catalog.provenance_of(r.id).unwrap()?.title)
        .collect();
    assert!(titles.contains("API look 31"));
    // The token reached the API host only, and no file of the project holds it.
    for seen in server.seen() {
        if seen.path().starts_with("/img/") {
            assert_eq!(seen.header("authorization"), None);
        }
    }
    assert_no_file_contains(dir.path(), TOKEN.as_bytes());
}

fn assert_no_file_contains(root: &Path, needle: &[u8]) {
    for entry in walkdir::WalkDir::new(root) {
        let entry = entry.unwrap();
        if entry.file_type().is_file() {
            let bytes = std::fs::read(entry.path()).unwrap();
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle),
                "{} holds the token",
                entry.path().display()
            );
        }
    }
}

/// A runway page whose images each fail or succeed in their own way.
fn faulty_runway_server() -> Server {
    let flaky = AtomicUsize::new(0);
    let limited = AtomicUsize::new(0);
    Server::start(move |seen: &Seen| {
        let base = format!("http://{}", seen.header("host").unwrap());
        match seen.path() {
            "/robots.txt" => Reply::ok("text/plain", "User-agent: *\nDisallow: /private/\n"),
            "/shows/fall" => Reply::ok(
                "text/html",
                format!(
                    r#"<!doctype html><html><head>
                    <meta property="og:image" content="/img/41.jpg"></head><body>
                    <img srcset="/img/small.jpg 320w, /img/42.jpg 1600w" src="/img/small.jpg">
                    <img src="{base}/flaky.jpg"><img src="/limited.jpg">
                    <img src="/truncated.jpg"><img src="/html-as-jpeg.jpg">
                    <img src="/img/41-copy.jpg"><img src="/near.jpg">
                    <img src="/huge.jpg"><img src="/to-file.jpg"><img src="/private/secret.jpg">
                    <img src="/slow.jpg"><img src="data:image/png;base64,AAAA">
                    <a href="/shows/fall/2">next</a></body></html>"#
                ),
            ),
            "/shows/fall/2" => Reply::ok("text/html", "<img src=/img/43.jpg>"),
            "/flaky.jpg" => {
                if flaky.fetch_add(1, Ordering::SeqCst) == 0 {
                    Reply::status(503)
                } else {
                    Reply::ok("image/jpeg", jpeg(44))
                }
            }
            "/limited.jpg" => {
                if limited.fetch_add(1, Ordering::SeqCst) == 0 {
                    Reply::status(429).header("Retry-After", "1")
                } else {
                    Reply::ok("image/jpeg", jpeg(45))
                }
            }
            "/truncated.jpg" => {
                let bytes = jpeg(46);
                let half = bytes.len() / 2;
                Reply::ok("image/jpeg", bytes).cut_at(half)
            }
            "/html-as-jpeg.jpg" => Reply::ok("image/jpeg", "<html><body>Not found</body></html>"),
            "/img/41-copy.jpg" => Reply::ok("image/jpeg", jpeg(41)),
            "/near.jpg" => {
                // Picture 41 again, re-encoded as PNG: other bytes, the same look.
                let png = common::encode(&common::picture(41, 96, 128), ImageFormat::Png);
                Reply::ok("image/png", png)
            }
            "/huge.jpg" => Reply::ok("image/jpeg", vec![0xFFu8; 3 * 1024 * 1024]),
            "/to-file.jpg" => Reply::redirect("file:///etc/passwd"),
            "/slow.jpg" => Reply::ok("image/jpeg", jpeg(47)).slow(Duration::from_secs(4)),
            path => numbered_jpeg(path),
        }
    })
}

#[test]
fn a_runway_page_and_the_faults_real_servers_have() {
    let server = faulty_runway_server();
    let dir = tempfile::tempdir().unwrap();
    let project = new_project(dir.path());
    let mut options = fast_options(&server);
    options.depth = 1;
    options.max_image_bytes = 2 * 1024 * 1024;
    options.http.timeout = Duration::from_secs(1);
    options.http.retries = 1;
    let page = server.url("/shows/fall");
    let (report, events) = run(&project, &page, &options);

    let failed: Vec<(String, String)> = report_failures(&events);
    assert_eq!(report.failures.len(), failed.len());
    let reason_of = |path: &str| {
        failed
            .iter()
            .find(|(url, _)| url.ends_with(path))
            .map(|(_, reason)| reason.clone())
            .unwrap_or_else(|| panic!("{path} did not fail: {failed:?}"))
    };
    assert!(reason_of("/truncated.jpg").len() > 10);
    assert!(
        reason_of("/html-as-jpeg.jpg")
            .to_lowercase()
            .contains("image")
    );
    assert!(reason_of("/huge.jpg").contains("limit"));
    assert!(reason_of("/to-file.jpg").contains("file:///etc/passwd"));
    assert!(reason_of("/private/secret.jpg").contains("robots.txt"));
    assert!(reason_of("/slow.jpg").contains("timed out"));
    assert_eq!(server.hits("/private/secret.jpg"), 0);
    assert_eq!(failed.len(), 6, "{failed:?}");

    // 41 (og:image), 42 (the widest srcset candidate), 43 (page 2), 44 (after a 503), 45
    // (after a 429 and its Retry-After), and the re-encoded near-duplicate of 41; the copy of 41
    // at another address is already present.
    assert_eq!(report.counts.added, 6, "{report:?}");
    assert_eq!(report.counts.duplicates, 1);
    assert_eq!(report.counts.near_duplicates, 1);
    assert_eq!(server.hits("/img/small.jpg"), 0);
    assert_eq!(server.hits("/flaky.jpg"), 2);
    assert_eq!(server.hits("/limited.jpg"), 2);

    // Nothing landed outside the project.
    let outside: Vec<_> = walkdir::WalkDir::new(dir.path())
        .into_iter()
        .map(|e| e.unwrap().into_path())
        .filter(|p| !p.starts_with(project.root()) && p != dir.path())
        .collect();
    assert!(outside.is_empty(), "{outside:?}");
    let stray: Vec<_> = walkdir::WalkDir::new(project.root())
        .into_iter()
        .map(|e| e.unwrap().into_path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(".deepstyle-")
        })
        .collect();
    assert!(stray.is_empty(), "{stray:?}");
}

fn report_failures(events: &[ScrapeEvent]) -> Vec<(String, String)> {
    events
        .iter()
        .filter_map(|e| match e {
            ScrapeEvent::Failed(f) => Some((f.url.clone(), f.reason.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn a_page_that_cannot_be_read_at_all_is_an_error() {
    let server = Server::start(|seen: &Seen| match seen.path() {
        "/robots.txt" => Reply::ok("text/plain", "User-agent: *\nDisallow: /closed\n"),
        _ => Reply::status(500),
    });
    let dir = tempfile::tempdir().unwrap();
    let project = new_project(dir.path());
    let options = fast_options(&server);
    for path in ["/gone", "/closed/show"] {
        let url = server.url(path);
        let error = scrape(&project, &url, &options, &Silent, &|_| {}).unwrap_err();
        assert!(error.to_string().contains(&url), "{error}");
    }
    let error = scrape(&project, "ftp://example.com/a", &options, &Silent, &|_| {}).unwrap_err();
    assert!(error.to_string().contains("only http"), "{error}");
}

/// Cancels once `after` images were added.
struct CancelAfter {
    token: CancelToken,
}

impl Reporter for CancelAfter {
    fn progress(&self, _done: u64, _total: u64, _msg: &str) {}
    fn is_cancelled(&self) -> bool {
        self.token.is_cancelled()
    }
}

#[test]
fn a_cancelled_and_restarted_scrape_ends_with_the_same_set_as_an_unbroken_one() {
    let server = Server::start(|seen: &Seen| {
        let base = format!("http://{}", seen.header("host").unwrap());
        match seen.path() {
            "/robots.txt" => Reply::status(404),
            "/gallery" => {
                let images: String = (100..140)
                    .map(|n| format!("<img src=\"{base}/img/{n}.jpg\">"))
                    .collect();
                Reply::ok("text/html", images)
            }
            path => match path
                .strip_prefix("/img/")
                .and_then(|p| p.strip_suffix(".jpg"))
                .and_then(|n| n.parse::<u32>().ok())
            {
                Some(n) => Reply::ok("image/jpeg", jpeg(n)).slow(Duration::from_millis(20)),
                None => Reply::status(404),
            },
        }
    });
    let url = server.url("/gallery");
    let options = fast_options(&server);

    let unbroken_dir = tempfile::tempdir().unwrap();
    let unbroken = new_project(unbroken_dir.path());
    let (report, _) = run(&unbroken, &url, &options);
    assert_eq!(report.counts.added, 40);

    let dir = tempfile::tempdir().unwrap();
    let project = new_project(dir.path());
    let reporter = CancelAfter {
        token: CancelToken::default(),
    };
    let added = AtomicUsize::new(0);
    let report = scrape(&project, &url, &options, &reporter, &|e| {
        if matches!(e, ScrapeEvent::Added { .. }) && added.fetch_add(1, Ordering::SeqCst) + 1 >= 5 {
            reporter.token.cancel();
        }
    })
    .unwrap();
    assert!(report.cancelled);
    let partial = image_set(&project);
    assert!(
        partial.len() >= 5 && partial.len() < 40,
        "{}",
        partial.len()
    );
    assert_eq!(partial.len() as u64, report.counts.added);

    let (rest, _) = run(&project, &url, &options);
    assert_eq!(rest.counts.already_fetched, partial.len() as u64);
    assert_eq!(image_set(&project), image_set(&unbroken));
}

#[test]
fn max_stops_after_that_many_new_images_and_the_delay_spaces_requests() {
    let server = Server::start(|seen: &Seen| {
        let base = format!("http://{}", seen.header("host").unwrap());
        match seen.path() {
            "/robots.txt" => Reply::status(404),
            "/gallery" => Reply::ok(
                "text/html",
                (200..210)
                    .map(|n| format!("<img src=\"{base}/img/{n}.jpg\">"))
                    .collect::<String>(),
            ),
            path => {
                let n: u32 = path[5..path.len() - 4].parse().unwrap();
                Reply::ok("image/jpeg", jpeg(n))
            }
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let project = new_project(dir.path());
    let mut options = fast_options(&server);
    options.max_images = Some(3);
    options.http.delay = Duration::from_millis(150);
    let started = std::time::Instant::now();
    let (report, _) = run(&project, &server.url("/gallery"), &options);
    assert_eq!(report.counts.added, 3);
    // robots.txt, the page and three images: four waits of the delay at least.
    assert!(started.elapsed() >= Duration::from_millis(4 * 150));
    let (report, _) = run(&project, &server.url("/gallery"), &options);
    assert_eq!(report.counts.added, 3);
    assert_eq!(image_set(&project).len(), 6);
}
