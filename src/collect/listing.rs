//! What a source offers, page by page: the images of a Pinterest board (the web resource API,
//! else the JSON embedded in the board page, else the board's RSS feed), of a board through the
//! official API v5, or of a web page or feed (and, to a depth, the pages of its host it links
//! to). Each image is handed on as soon as its page is read, so fetching starts at once and a
//! board of any size is never held in memory.

use std::collections::{HashSet, VecDeque};

use reqwest::Url;
use serde_json::{Value, json};

use super::http::{FetchError, Http, Request};
use super::pinterest::{self, Pin};
use super::source::Source;
use super::web;

/// The largest page, feed or JSON response read.
pub const MAX_PAGE_BYTES: u64 = 16 * 1024 * 1024;
/// Pages of a web source read at most, whatever the depth.
pub const MAX_WEB_PAGES: usize = 500;
/// Pins asked for per page of Pinterest's web API.
const BOARD_PAGE_SIZE: u32 = 25;

/// One image to fetch and what is known of it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Found {
    pub url: String,
    /// Tried when `url` answers 403 or 404 (a Pinterest original's `736x` variant).
    pub fallback: Option<String>,
    /// The page or API response it was listed on.
    pub page_url: String,
    pub pin_id: Option<String>,
    pub title: Option<String>,
    pub description: Option<String>,
}

/// Where the listing reads from: the hosts (replaceable for mirrors and tests) and the API
/// token (read from the environment by the caller; never stored).
#[derive(Debug, Clone)]
pub struct Hosts {
    /// `https://www.pinterest.com` unless replaced.
    pub pinterest: String,
    /// `https://api.pinterest.com` unless replaced.
    pub api: String,
}

impl Default for Hosts {
    fn default() -> Self {
        Hosts {
            pinterest: "https://www.pinterest.com".into(),
            api: "https://api.pinterest.com".into(),
        }
    }
}

/// Why a source could not be read at all.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ListingError {
    #[error("{0}")]
    Unreadable(String),
    #[error(
        "the Pinterest API needs a token: name the environment variable that holds it (--token-env)"
    )]
    NoTokenVariable,
    #[error("the Pinterest API token variable {0} is not set")]
    TokenNotSet(String),
    #[error("the Pinterest API refused the token in {variable} (HTTP {status})")]
    TokenRefused { variable: String, status: u16 },
    #[error("cancelled")]
    Cancelled,
}

/// What the listing reports besides images: a page read, or a later page that failed (the
/// images found before it are still fetched).
#[derive(Debug, Clone, PartialEq)]
pub enum ListingEvent {
    Page { url: String, images: usize },
    PageFailed { url: String, reason: String },
}

/// The listing's callbacks: `image` returns false when no more images are wanted.
pub trait ListingSink: Sync {
    fn image(&self, found: Found) -> bool;
    fn event(&self, event: ListingEvent);
    fn is_cancelled(&self) -> bool;
}

/// The API token: its variable's name and value. The value is never shown.
#[derive(Clone)]
pub struct Token {
    pub variable: String,
    pub value: String,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Token({}, <hidden>)", self.variable)
    }
}

/// Reads the token from the variable `--token-env` named.
pub fn token_from_env(variable: Option<&str>) -> Result<Token, ListingError> {
    let variable = variable
        .filter(|v| !v.trim().is_empty())
        .ok_or(ListingError::NoTokenVariable)?;
    match std::env::var(variable) {
        Ok(value) if !value.trim().is_empty() => Ok(Token {
            variable: variable.to_string(),
            value: value.trim().to_string(),
        }),
        _ => Err(ListingError::TokenNotSet(variable.to_string())),
    }
}

/// Lists `source`'s images into `sink`.
pub fn list(
    http: &Http,
    source: &Source,
    hosts: &Hosts,
    token: Option<&Token>,
    depth: u32,
    sink: &dyn ListingSink,
) -> Result<(), ListingError> {
    match source {
        Source::PinterestBoard { user, board } => list_board(http, hosts, user, board, sink),
        Source::PinterestApi { board_id } => {
            let token = token.ok_or(ListingError::NoTokenVariable)?;
            list_api(http, hosts, board_id, token, sink)
        }
        Source::Web { url } => list_web(http, url, depth, sink),
    }
}

fn cancelled_as(error: FetchError) -> Result<FetchError, ListingError> {
    match error {
        FetchError::Cancelled => Err(ListingError::Cancelled),
        other => Ok(other),
    }
}

/// Fetches a JSON or HTML page as text.
fn get_text(
    http: &Http,
    request: Request<'_>,
    sink: &dyn ListingSink,
) -> Result<Result<String, FetchError>, ListingError> {
    match http.get(&request, &|| sink.is_cancelled()) {
        Ok(fetched) => Ok(Ok(String::from_utf8_lossy(&fetched.bytes).into_owned())),
        Err(error) => cancelled_as(error).map(Err),
    }
}

fn get_json(
    http: &Http,
    request: Request<'_>,
    sink: &dyn ListingSink,
) -> Result<Result<Value, String>, ListingError> {
    let url = request.url.to_string();
    Ok(match get_text(http, request, sink)? {
        Ok(text) => serde_json::from_str(&text).map_err(|e| format!("{url}: not JSON ({e})")),
        Err(error) => Err(error.to_string()),
    })
}

/// Hands a page's pins on; false when no more are wanted.
fn send_pins(pins: Vec<Pin>, page_url: &str, sink: &dyn ListingSink) -> bool {
    let images = pins.iter().map(|p| p.images.len()).sum();
    sink.event(ListingEvent::Page {
        url: page_url.to_string(),
        images,
    });
    for pin in pins {
        for image in pin.images {
            let found = Found {
                url: image.url,
                fallback: image.fallback,
                page_url: page_url.to_string(),
                pin_id: Some(pin.id.clone()),
                title: pin.title.clone(),
                description: pin.description.clone(),
            };
            if !sink.image(found) {
                return false;
            }
        }
    }
    true
}

/// `{base}{path}?source_url=...&data={"options":...,"context":{}}`.
fn resource_url(base: &str, path: &str, board_path: &str, options: Value) -> Option<String> {
    let mut url = Url::parse(&format!("{}{path}", base.trim_end_matches('/'))).ok()?;
    let data = json!({ "options": options, "context": {} });
    url.query_pairs_mut()
        .append_pair("source_url", board_path)
        .append_pair("data", &data.to_string());
    Some(url.to_string())
}

fn pinterest_request<'a>(url: &'a str, board_path: &str) -> Request<'a> {
    Request::new(url, MAX_PAGE_BYTES)
        .header("Accept", "application/json, text/javascript, */*; q=0.01")
        .header("X-Requested-With", "XMLHttpRequest")
        .header("X-Pinterest-PWS-Handler", format!("www{board_path}"))
}

/// A board: the resource API, else the embedded page data, else the RSS feed.
fn list_board(
    http: &Http,
    hosts: &Hosts,
    user: &str,
    board: &str,
    sink: &dyn ListingSink,
) -> Result<(), ListingError> {
    let board_path = format!("/{user}/{board}/");
    let base = hosts.pinterest.trim_end_matches('/');
    let mut reasons = Vec::new();

    let options = json!({ "username": user, "slug": board, "field_set_key": "detailed" });
    let board_id = match resource_url(base, "/resource/BoardResource/get/", &board_path, options) {
        Some(url) => match get_json(http, pinterest_request(&url, &board_path), sink)? {
            Ok(response) => pinterest::board_id(&response)
                .ok_or_else(|| format!("{url}: no board id in the response")),
            Err(reason) => Err(reason),
        },
        None => Err(format!("{base}: not an address")),
    };
    match &board_id {
        Ok(id) => match list_board_feed(http, base, id, &board_path, sink)? {
            Ok(()) => return Ok(()),
            Err(reason) => reasons.push(reason),
        },
        Err(reason) => reasons.push(reason.clone()),
    }

    let page_url = format!("{base}{board_path}");
    match get_text(http, Request::new(&page_url, MAX_PAGE_BYTES), sink)? {
        Ok(html) => {
            let pins = pinterest::embedded_pins(&html, board_id.as_deref().ok());
            if !pins.is_empty() {
                send_pins(pins, &page_url, sink);
                return Ok(());
            }
            reasons.push(format!("{page_url}: no pins in the page's data"));
        }
        Err(error) => reasons.push(error.to_string()),
    }

    let feed_url = format!("{base}/{user}/{board}.rss");
    match get_text(http, Request::new(&feed_url, MAX_PAGE_BYTES), sink)? {
        Ok(xml) => {
            let images = web::feed_images(&xml, &feed_url);
            if !images.is_empty() {
                send_urls(images, &feed_url, sink);
                return Ok(());
            }
            reasons.push(format!("{feed_url}: no images in the feed"));
        }
        Err(error) => reasons.push(error.to_string()),
    }
    Err(ListingError::Unreadable(format!(
        "cannot read the Pinterest board {user}/{board}: {}",
        reasons.join("; ")
    )))
}

/// The board's feed through `BoardFeedResource`, page by page. `Err` only when its first page
/// cannot be read (a later page's failure is reported and ends the listing).
fn list_board_feed(
    http: &Http,
    base: &str,
    board_id: &str,
    board_path: &str,
    sink: &dyn ListingSink,
) -> Result<Result<(), String>, ListingError> {
    let mut bookmark: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut options = json!({
            "board_id": board_id,
            "board_url": board_path,
            "page_size": BOARD_PAGE_SIZE,
            "field_set_key": "react_grid_pin",
        });
        if let Some(bookmark) = &bookmark {
            options["bookmarks"] = json!([bookmark]);
        }
        let Some(url) = resource_url(
            base,
            "/resource/BoardFeedResource/get/",
            board_path,
            options,
        ) else {
            return Ok(Err(format!("{base}: not an address")));
        };
        let response = match get_json(http, pinterest_request(&url, board_path), sink)? {
            Ok(response) => response,
            Err(reason) if pages == 0 => return Ok(Err(reason)),
            Err(reason) => {
                sink.event(ListingEvent::PageFailed { url, reason });
                return Ok(Ok(()));
            }
        };
        pages += 1;
        let page = pinterest::board_feed_page(&response, board_id);
        if !send_pins(page.pins, &url, sink) {
            return Ok(Ok(()));
        }
        match page.next {
            Some(next) if Some(&next) != bookmark.as_ref() => bookmark = Some(next),
            _ => return Ok(Ok(())),
        }
    }
}

/// A board through the official API v5, page by page.
fn list_api(
    http: &Http,
    hosts: &Hosts,
    board_id: &str,
    token: &Token,
    sink: &dyn ListingSink,
) -> Result<(), ListingError> {
    let base = hosts.api.trim_end_matches('/');
    let mut bookmark: Option<String> = None;
    let mut pages = 0;
    loop {
        let Ok(mut url) = Url::parse(&format!("{base}/v5/boards/{board_id}/pins")) else {
            return Err(ListingError::Unreadable(format!("{base}: not an address")));
        };
        url.query_pairs_mut().append_pair("page_size", "100");
        if let Some(bookmark) = &bookmark {
            url.query_pairs_mut().append_pair("bookmark", bookmark);
        }
        let url = url.to_string();
        let request = Request::new(&url, MAX_PAGE_BYTES)
            .header("Accept", "application/json")
            .header("Authorization", format!("Bearer {}", token.value));
        let response = match http.get(&request, &|| sink.is_cancelled()) {
            Ok(fetched) => serde_json::from_slice::<Value>(&fetched.bytes)
                .map_err(|e| format!("{url}: not JSON ({e})")),
            Err(FetchError::Status { status, .. }) if status == 401 || status == 403 => {
                return Err(ListingError::TokenRefused {
                    variable: token.variable.clone(),
                    status,
                });
            }
            Err(error) => Err(cancelled_as(error)?.to_string()),
        };
        let response = match response {
            Ok(response) => response,
            Err(reason) if pages == 0 => return Err(ListingError::Unreadable(reason)),
            Err(reason) => {
                sink.event(ListingEvent::PageFailed { url, reason });
                return Ok(());
            }
        };
        pages += 1;
        let page = pinterest::api_page(&response);
        if !send_pins(page.pins, &url, sink) {
            return Ok(());
        }
        match page.next {
            Some(next) if Some(&next) != bookmark.as_ref() => bookmark = Some(next),
            _ => return Ok(()),
        }
    }
}

/// Hands plain image addresses on; false when no more are wanted.
fn send_urls(urls: Vec<String>, page_url: &str, sink: &dyn ListingSink) -> bool {
    sink.event(ListingEvent::Page {
        url: page_url.to_string(),
        images: urls.len(),
    });
    urls.into_iter().all(|url| {
        sink.image(Found {
            url,
            page_url: page_url.to_string(),
            ..Found::default()
        })
    })
}

/// Whether a body is an RSS or Atom feed rather than a web page.
fn is_feed(text: &str) -> bool {
    let head: String = text
        .trim_start_matches('\u{feff}')
        .trim_start()
        .chars()
        .take(512)
        .collect::<String>()
        .to_ascii_lowercase();
    head.starts_with("<rss")
        || head.starts_with("<feed")
        || (head.starts_with("<?xml") && (head.contains("<rss") || head.contains("<feed")))
}

/// A web page or feed, and the same-host pages it links to, breadth first to `depth`.
fn list_web(
    http: &Http,
    start: &str,
    depth: u32,
    sink: &dyn ListingSink,
) -> Result<(), ListingError> {
    let mut queue = VecDeque::from([(start.to_string(), 0u32)]);
    let mut queued: HashSet<String> = HashSet::from([start.to_string()]);
    let mut read = 0;
    while let Some((url, level)) = queue.pop_front() {
        if read >= MAX_WEB_PAGES {
            break;
        }
        let fetched = match http.get(&Request::new(&url, MAX_PAGE_BYTES), &|| sink.is_cancelled()) {
            Ok(fetched) => fetched,
            Err(error) => {
                let error = cancelled_as(error)?;
                if read == 0 {
                    return Err(ListingError::Unreadable(format!("cannot read {error}")));
                }
                sink.event(ListingEvent::PageFailed {
                    url,
                    reason: error.to_string(),
                });
                continue;
            }
        };
        read += 1;
        let text = String::from_utf8_lossy(&fetched.bytes);
        let images = if is_feed(&text) {
            web::feed_images(&text, &fetched.url)
        } else {
            web::page_images(&text, &fetched.url)
        };
        if !send_urls(images, &fetched.url, sink) {
            return Ok(());
        }
        if level < depth && !is_feed(&text) {
            for link in web::same_host_links(&text, &fetched.url) {
                if queued.insert(link.clone()) {
                    queue.push_back((link, level + 1));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feeds_are_told_from_pages_by_their_first_bytes() {
        assert!(is_feed("<?xml version=\"1.0\"?>\n<rss version=\"2.0\">"));
        assert!(is_feed(
            "\u{feff}  <feed xmlns=\"http://www.w3.org/2005/Atom\">"
        ));
        assert!(!is_feed("<!doctype html><html><body><img src=a.jpg>"));
        assert!(!is_feed("<?xml version=\"1.0\"?><html>"));
    }

    #[test]
    fn resource_urls_carry_the_options_as_encoded_json() {
        let url = resource_url(
            "https://www.pinterest.com/",
            "/resource/BoardFeedResource/get/",
            "/vogue/runway/",
            json!({ "board_id": "42", "bookmarks": ["abc=="] }),
        )
        .unwrap();
        let parsed = Url::parse(&url).unwrap();
        assert_eq!(parsed.path(), "/resource/BoardFeedResource/get/");
        let pairs: Vec<(String, String)> = parsed.query_pairs().into_owned().collect();
        assert_eq!(pairs[0], ("source_url".into(), "/vogue/runway/".into()));
        let data: Value = serde_json::from_str(&pairs[1].1).unwrap();
        assert_eq!(data["options"]["bookmarks"][0], "abc==");
        assert_eq!(data["context"], json!({}));
    }

    #[test]
    fn the_token_is_never_shown() {
        let token = Token {
            variable: "PINTEREST_TOKEN".into(),
            value: "secret-value".into(),
        };
        assert!(!format!("{token:?}").contains("secret"));
        assert_eq!(
            token_from_env(None).unwrap_err(),
            ListingError::NoTokenVariable
        );
        assert_eq!(
            token_from_env(Some("DEEPSTYLE_SURELY_UNSET_VARIABLE")).unwrap_err(),
            ListingError::TokenNotSet("DEEPSTYLE_SURELY_UNSET_VARIABLE".into())
        );
    }
}
