//! What a pasted URL points at: a Pinterest board (any Pinterest host, with or without `www.`,
//! a trailing slash, a query or a fragment), a board through Pinterest's API v5, or any other web
//! page or feed.

/// The kind of source a URL is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `https://www.pinterest.com/USER/BOARD/`
    PinterestBoard { user: String, board: String },
    /// `https://api.pinterest.com/v5/boards/BOARD_ID/pins`
    PinterestApi { board_id: String },
    /// Any other http(s) page or feed.
    Web { url: String },
}

impl Source {
    /// A short name for the tab and the logs.
    pub fn describe(&self) -> String {
        match self {
            Source::PinterestBoard { user, board } => format!("Pinterest board {user}/{board}"),
            Source::PinterestApi { board_id } => format!("Pinterest API board {board_id}"),
            Source::Web { url } => format!("web page {url}"),
        }
    }
}

/// Pinterest paths that are not user boards.
const NOT_USERS: [&str; 8] = [
    "pin", "search", "ideas", "today", "explore", "resource", "settings", "_",
];

/// Recognises `text` as a source; `Err` names why it is not one (not http(s), no host).
pub fn detect(text: &str) -> Result<Source, String> {
    let trimmed = text.trim();
    let (scheme, rest) = trimmed
        .split_once("://")
        .ok_or_else(|| format!("{trimmed:?} is not a web address (http:// or https://)"))?;
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err(format!(
            "{trimmed:?}: only http and https addresses can be scraped"
        ));
    }
    let without_fragment = rest.split('#').next().unwrap_or("");
    let without_query = without_fragment.split('?').next().unwrap_or("");
    let (host, path) = without_query.split_once('/').unwrap_or((without_query, ""));
    let host = host.rsplit('@').next().unwrap_or(host).to_ascii_lowercase();
    let host = host.split(':').next().unwrap_or("").to_string();
    if host.is_empty() {
        return Err(format!("{trimmed:?} has no host"));
    }
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if host == "api.pinterest.com"
        && let ["v5", "boards", board_id, "pins"] = segments.as_slice()
    {
        return Ok(Source::PinterestApi {
            board_id: board_id.to_string(),
        });
    }
    if is_pinterest_host(&host)
        && let [user, board] = segments.as_slice()
        && !NOT_USERS.contains(user)
        && !board.ends_with(".rss")
    {
        return Ok(Source::PinterestBoard {
            user: user.to_string(),
            board: board.to_string(),
        });
    }
    Ok(Source::Web {
        url: trimmed.to_string(),
    })
}

/// `pinterest.com`, `www.pinterest.co.uk`, `fr.pinterest.com`, `pinterest.com.au`, ...: at most one
/// label before `pinterest`, and after it a country or generic suffix of one or two short labels.
fn is_pinterest_host(host: &str) -> bool {
    let labels: Vec<&str> = host.split('.').collect();
    let Some(at) = labels.iter().position(|l| *l == "pinterest") else {
        return false;
    };
    let suffix = &labels[at + 1..];
    at <= 1 && (1..=2).contains(&suffix.len()) && suffix.iter().all(|l| (2..=3).contains(&l.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn board(user: &str, board: &str) -> Source {
        Source::PinterestBoard {
            user: user.into(),
            board: board.into(),
        }
    }

    #[test]
    fn boards_on_any_pinterest_host_with_any_trimmings() {
        for url in [
            "https://www.pinterest.com/vogue/runway-looks/",
            "https://pinterest.com/vogue/runway-looks",
            "http://fr.pinterest.com/vogue/runway-looks/?invite_code=abc#top",
            "https://www.pinterest.co.uk/vogue/runway-looks/#",
            " https://www.PINTEREST.de/vogue/runway-looks/ ",
        ] {
            assert_eq!(detect(url), Ok(board("vogue", "runway-looks")), "{url}");
        }
    }

    #[test]
    fn the_api_pins_and_other_pages_are_told_apart() {
        assert_eq!(
            detect("https://api.pinterest.com/v5/boards/549755885175/pins?page_size=100"),
            Ok(Source::PinterestApi {
                board_id: "549755885175".into()
            })
        );
        for url in [
            "https://www.pinterest.com/pin/123456/",
            "https://www.pinterest.com/vogue/",
            "https://www.pinterest.com/vogue/runway-looks.rss",
            "https://www.vogue.com/fashion-shows/fall-2026-ready-to-wear/chanel",
            "https://notpinterest.com/a/b/",
            "https://pinterest.evil.example.com/a/b/",
            "https://pinterest.evil.com/a/b/",
        ] {
            assert!(matches!(detect(url), Ok(Source::Web { .. })), "{url}");
        }
    }

    #[test]
    fn only_http_addresses_are_sources() {
        assert!(
            detect("file:///etc/passwd")
                .unwrap_err()
                .contains("only http")
        );
        assert!(
            detect("www.pinterest.com/a/b")
                .unwrap_err()
                .contains("not a web address")
        );
        assert!(detect("https:///a/b").unwrap_err().contains("no host"));
    }
}
