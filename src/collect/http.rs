//! A polite HTTP client for worker threads: robots.txt honoured per host (read once, cached), a
//! delay between two requests to the same host, a global limit on requests in flight, an honest
//! User-Agent, connect and total timeouts, retries with exponential backoff and jitter on 429,
//! 5xx and connection errors (a `Retry-After` is honoured), at most 10 redirects followed by
//! hand so that each hop is checked (http and https only, never https to http, robots.txt of the
//! new host), and a size cap enforced while the body streams in.
//!
//! Nothing here trusts the server's word about what it sent: callers judge content by its bytes.

use std::collections::HashMap;
use std::io::Read;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use reqwest::Url;
use reqwest::blocking::{Client, Response};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, LOCATION, RETRY_AFTER};

use super::robots::Robots;

/// The product token robots.txt groups are matched against.
pub const ROBOTS_AGENT: &str = "DeepStyleStudio";
/// Redirects followed before giving up.
pub const MAX_REDIRECTS: usize = 10;
/// The largest robots.txt read (RFC 9309 asks for at least 500 KiB).
const MAX_ROBOTS_BYTES: u64 = 512 * 1024;
/// How often a waiting thread looks at the cancel flag.
const CANCEL_POLL: Duration = Duration::from_millis(50);

/// How politely and how patiently to fetch.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    pub user_agent: String,
    /// The least time between the starts of two requests to one host.
    pub delay: Duration,
    /// Requests in flight at once, over all hosts.
    pub concurrency: usize,
    pub connect_timeout: Duration,
    /// From connecting to the last byte of the body.
    pub timeout: Duration,
    /// Attempts after the first on 429, 5xx, timeouts and connection errors.
    pub retries: u32,
    /// The wait before the first retry; it doubles for each further one (with jitter).
    pub backoff: Duration,
    /// The longest wait before a retry, whatever `Retry-After` asks.
    pub max_retry_wait: Duration,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            user_agent: format!(
                "{ROBOTS_AGENT}/{} (design research image collector; honours robots.txt)",
                env!("CARGO_PKG_VERSION")
            ),
            delay: Duration::from_millis(1000),
            concurrency: 4,
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(60),
            retries: 3,
            backoff: Duration::from_millis(500),
            max_retry_wait: Duration::from_secs(60),
        }
    }
}

/// Why a fetch failed. Every message names the URL.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FetchError {
    #[error("{url}: not an http or https address")]
    Scheme { url: String },
    #[error("{url}: redirect to {to} refused: {why}")]
    Redirect {
        url: String,
        to: String,
        why: &'static str,
    },
    #[error("{url}: more than {MAX_REDIRECTS} redirects")]
    TooManyRedirects { url: String },
    #[error("{url}: disallowed by robots.txt{}", note.as_ref().map(|n| format!(" ({n})")).unwrap_or_default())]
    Robots { url: String, note: Option<String> },
    #[error("{url}: HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("{url}: larger than the {limit} byte limit")]
    TooLarge { url: String, limit: u64 },
    #[error("{url}: {reason}")]
    Network { url: String, reason: String },
    #[error("cancelled")]
    Cancelled,
}

impl FetchError {
    /// The HTTP status the server answered with, if that is why the fetch failed.
    pub fn status(&self) -> Option<u16> {
        match self {
            FetchError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// A fetched body and the address it finally came from (after redirects).
#[derive(Debug, Clone)]
pub struct Fetched {
    pub url: String,
    pub bytes: Vec<u8>,
}

/// One request: where, with which extra headers (sent to the first host only), and how many
/// bytes of body at most.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub url: &'a str,
    pub headers: Vec<(&'static str, String)>,
    pub max_bytes: u64,
}

impl<'a> Request<'a> {
    pub fn new(url: &'a str, max_bytes: u64) -> Self {
        Request {
            url,
            headers: Vec::new(),
            max_bytes,
        }
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

/// Counts requests in flight; `acquire` waits for a free place.
struct Gate {
    in_flight: Mutex<usize>,
    freed: Condvar,
    limit: usize,
}

struct Permit<'a>(&'a Gate);

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut in_flight = self.0.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        *in_flight -= 1;
        self.0.freed.notify_one();
    }
}

impl Gate {
    fn acquire(&self, cancelled: &dyn Fn() -> bool) -> Result<Permit<'_>, FetchError> {
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        while *in_flight >= self.limit {
            if cancelled() {
                return Err(FetchError::Cancelled);
            }
            in_flight = self
                .freed
                .wait_timeout(in_flight, CANCEL_POLL)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        *in_flight += 1;
        Ok(Permit(self))
    }
}

/// The polite client. Share one between the worker threads of a scrape.
pub struct Http {
    client: Client,
    options: HttpOptions,
    gate: Gate,
    /// Per host: when the next request may start.
    next_turn: Mutex<HashMap<String, Instant>>,
    /// Per origin: its robots.txt, read once.
    robots: Mutex<HashMap<String, Arc<OnceLock<Robots>>>>,
}

/// The address's origin (`https://host:port`), the key of robots.txt and of the delay.
fn origin(url: &Url) -> String {
    url.origin().ascii_serialization()
}

fn parse_http(url: &str) -> Result<Url, FetchError> {
    match Url::parse(url) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.host().is_some() => {
            Ok(parsed)
        }
        _ => Err(FetchError::Scheme {
            url: url.to_string(),
        }),
    }
}

/// Sleeps `wait`, waking to look at the cancel flag.
fn sleep_unless_cancelled(wait: Duration, cancelled: &dyn Fn() -> bool) -> Result<(), FetchError> {
    let until = Instant::now() + wait;
    loop {
        if cancelled() {
            return Err(FetchError::Cancelled);
        }
        let now = Instant::now();
        if now >= until {
            return Ok(());
        }
        std::thread::sleep((until - now).min(CANCEL_POLL));
    }
}

/// The wait a `Retry-After` header asks for: seconds, or an HTTP date.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(
        when.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// A one-line reason for a transport error, without reqwest's nesting.
fn network_reason(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        return "timed out".to_string();
    }
    let mut reason = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        reason = cause.to_string();
        source = cause.source();
    }
    if error.is_connect() {
        format!("cannot connect: {reason}")
    } else {
        reason
    }
}

impl Http {
    pub fn new(options: HttpOptions) -> Result<Self, FetchError> {
        let client = Client::builder()
            .user_agent(options.user_agent.clone())
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(options.connect_timeout)
            .timeout(options.timeout)
            .build()
            .map_err(|e| FetchError::Network {
                url: String::new(),
                reason: format!("cannot start the HTTP client: {}", network_reason(&e)),
            })?;
        Ok(Http {
            client,
            gate: Gate {
                in_flight: Mutex::new(0),
                freed: Condvar::new(),
                limit: options.concurrency.max(1),
            },
            options,
            next_turn: Mutex::new(HashMap::new()),
            robots: Mutex::new(HashMap::new()),
        })
    }

    pub fn options(&self) -> &HttpOptions {
        &self.options
    }

    /// Fetches `request`, following redirects, within robots.txt and the size cap.
    pub fn get(
        &self,
        request: &Request<'_>,
        cancelled: &dyn Fn() -> bool,
    ) -> Result<Fetched, FetchError> {
        let first = parse_http(request.url)?;
        let mut current = first.clone();
        for _ in 0..=MAX_REDIRECTS {
            let rules = self.robots_for(&current, cancelled)?;
            let path = match current.query() {
                Some(query) => format!("{}?{query}", current.path()),
                None => current.path().to_string(),
            };
            if !rules.allows(&path) {
                return Err(FetchError::Robots {
                    url: current.to_string(),
                    note: match rules {
                        Robots::Unreachable(why) => Some(why.clone()),
                        Robots::Rules(_) => None,
                    },
                });
            }
            let headers = if origin(&current) == origin(&first) {
                request.headers.as_slice()
            } else {
                &[]
            };
            let (response, permit) = self.send(&current, headers, cancelled)?;
            if response.status().is_redirection()
                && let Some(location) = response.headers().get(LOCATION)
            {
                drop(permit);
                current = self.redirect_target(&current, location)?;
                continue;
            }
            if !response.status().is_success() {
                return Err(FetchError::Status {
                    url: current.to_string(),
                    status: response.status().as_u16(),
                });
            }
            let bytes = read_capped(response, &current, request.max_bytes)?;
            drop(permit);
            return Ok(Fetched {
                url: current.to_string(),
                bytes,
            });
        }
        Err(FetchError::TooManyRedirects {
            url: request.url.to_string(),
        })
    }

    /// Where a redirect from `from` leads, if it may be followed.
    fn redirect_target(&self, from: &Url, location: &HeaderValue) -> Result<Url, FetchError> {
        let refuse = |to: String, why| FetchError::Redirect {
            url: from.to_string(),
            to,
            why,
        };
        let text = String::from_utf8_lossy(location.as_bytes()).into_owned();
        let to = from
            .join(&text)
            .map_err(|_| refuse(text.clone(), "not an address"))?;
        if !matches!(to.scheme(), "http" | "https") {
            return Err(refuse(to.to_string(), "only http and https are followed"));
        }
        if from.scheme() == "https" && to.scheme() == "http" {
            return Err(refuse(to.to_string(), "https is never downgraded to http"));
        }
        Ok(to)
    }

    /// Sends one GET in this host's turn and within the global limit, retrying on 429, 5xx and
    /// transport errors. The permit is held until the caller has read the body.
    fn send(
        &self,
        url: &Url,
        headers: &[(&'static str, String)],
        cancelled: &dyn Fn() -> bool,
    ) -> Result<(Response, Permit<'_>), FetchError> {
        let mut attempt = 0;
        loop {
            self.wait_for_turn(url, cancelled)?;
            let permit = self.gate.acquire(cancelled)?;
            let mut builder = self.client.get(url.clone());
            for (name, value) in headers {
                if let (Ok(name), Ok(value)) = (
                    HeaderName::from_bytes(name.as_bytes()),
                    HeaderValue::from_str(value),
                ) {
                    builder = builder.header(name, value);
                }
            }
            let retry_in = match builder.send() {
                Ok(response) => {
                    let status = response.status();
                    let retryable = status.as_u16() == 429 || status.is_server_error();
                    if !retryable || attempt >= self.options.retries {
                        return Ok((response, permit));
                    }
                    retry_after(response.headers())
                }
                Err(error) => {
                    let transient = error.is_timeout() || error.is_connect() || error.is_request();
                    if !transient || attempt >= self.options.retries {
                        return Err(FetchError::Network {
                            url: url.to_string(),
                            reason: network_reason(&error),
                        });
                    }
                    None
                }
            };
            drop(permit);
            let backoff = self.options.backoff * 2u32.saturating_pow(attempt);
            let jittered = backoff.mul_f64(rand::random_range(0.5..1.5));
            let wait = retry_in
                .unwrap_or(jittered)
                .min(self.options.max_retry_wait);
            sleep_unless_cancelled(wait, cancelled)?;
            attempt += 1;
        }
    }

    /// Waits until this host's next request may start, and books the one after.
    fn wait_for_turn(&self, url: &Url, cancelled: &dyn Fn() -> bool) -> Result<(), FetchError> {
        if self.options.delay.is_zero() {
            return Ok(());
        }
        let start = {
            let mut turns = self.next_turn.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            let next = turns.entry(origin(url)).or_insert(now);
            let start = (*next).max(now);
            *next = start + self.options.delay;
            start
        };
        sleep_unless_cancelled(start.saturating_duration_since(Instant::now()), cancelled)
    }

    /// The robots.txt of `url`'s origin, read on first use.
    fn robots_for(&self, url: &Url, cancelled: &dyn Fn() -> bool) -> Result<Robots, FetchError> {
        let cell = {
            let mut cache = self.robots.lock().unwrap_or_else(|e| e.into_inner());
            Arc::clone(cache.entry(origin(url)).or_default())
        };
        let rules = cell.get_or_init(|| self.read_robots(url, cancelled));
        if cancelled() {
            return Err(FetchError::Cancelled);
        }
        Ok(rules.clone())
    }

    fn read_robots(&self, url: &Url, cancelled: &dyn Fn() -> bool) -> Robots {
        let Ok(mut current) = url.join("/robots.txt") else {
            return Robots::allow_all();
        };
        // robots.txt may itself redirect (to https, to a www host): at most five hops.
        for _ in 0..5 {
            let (response, permit) = match self.send(&current, &[], cancelled) {
                Ok(sent) => sent,
                Err(error) => return Robots::Unreachable(error.to_string()),
            };
            let status = response.status();
            if status.is_redirection()
                && let Some(location) = response.headers().get(LOCATION)
            {
                drop(permit);
                match self.redirect_target(&current, location) {
                    Ok(next) => current = next,
                    Err(_) => return Robots::allow_all(),
                }
                continue;
            }
            if status.is_client_error() {
                return Robots::allow_all();
            }
            if !status.is_success() {
                return Robots::Unreachable(format!("robots.txt answered HTTP {status}"));
            }
            return match read_capped(response, &current, MAX_ROBOTS_BYTES) {
                Ok(bytes) => Robots::parse(&String::from_utf8_lossy(&bytes), ROBOTS_AGENT),
                // Longer than the cap: RFC 9309 reads the first 500 KiB; a partial read of a
                // file we cannot hold is safest taken as unreadable.
                Err(error) => Robots::Unreachable(error.to_string()),
            };
        }
        Robots::allow_all()
    }
}

/// The body, at most `max_bytes` of it (a longer one is an error, found while streaming).
fn read_capped(response: Response, url: &Url, max_bytes: u64) -> Result<Vec<u8>, FetchError> {
    let too_large = || FetchError::TooLarge {
        url: url.to_string(),
        limit: max_bytes,
    };
    let declared = response.content_length();
    if declared.is_some_and(|n| n > max_bytes) {
        return Err(too_large());
    }
    let capacity = declared.unwrap_or(64 * 1024).min(max_bytes) as usize;
    let mut bytes = Vec::with_capacity(capacity);
    response
        .take(max_bytes + 1)
        .read_to_end(&mut bytes)
        .map_err(|error| FetchError::Network {
            url: url.to_string(),
            reason: format!("the body broke off: {error}"),
        })?;
    if bytes.len() as u64 > max_bytes {
        return Err(too_large());
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        let later = SystemTime::now() + Duration::from_secs(30);
        let date = httpdate::fmt_http_date(later);
        headers.insert(RETRY_AFTER, HeaderValue::from_str(&date).unwrap());
        let wait = retry_after(&headers).unwrap();
        assert!(wait > Duration::from_secs(25) && wait <= Duration::from_secs(30));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn only_http_addresses_with_a_host_are_fetched() {
        assert!(parse_http("https://example.com/a.jpg").is_ok());
        for url in [
            "file:///etc/passwd",
            "data:image/png;base64,AAAA",
            "ftp://x/y",
            "nonsense",
        ] {
            assert_eq!(
                parse_http(url),
                Err(FetchError::Scheme { url: url.into() }),
                "{url}"
            );
        }
    }

    #[test]
    fn redirects_stay_on_http_and_never_downgrade() {
        let http = Http::new(HttpOptions::default()).unwrap();
        let from = Url::parse("https://a.example/x").unwrap();
        let to = |l: &'static str| http.redirect_target(&from, &HeaderValue::from_static(l));
        assert_eq!(to("/y").unwrap().as_str(), "https://a.example/y");
        assert_eq!(
            to("https://cdn.example/z.jpg").unwrap().as_str(),
            "https://cdn.example/z.jpg"
        );
        assert!(matches!(
            to("file:///etc/passwd"),
            Err(FetchError::Redirect { why, .. }) if why.contains("only http")
        ));
        assert!(matches!(
            to("http://a.example/y"),
            Err(FetchError::Redirect { why, .. }) if why.contains("downgraded")
        ));
    }
}
