//! The images a web page or feed offers: `<img src>`, the widest `srcset` candidate (also on
//! `<source>`), `og:image` / `twitter:image`, links straight to image files, and the items of
//! RSS and Atom feeds (enclosures, `media:content`, images in their HTML). Relative addresses are
//! resolved against the page's; only http(s) addresses come out. Also the page's links to other
//! pages of the same host, for following pagination.
//!
//! Tags are read with a small, forgiving scanner (attributes quoted or not, any case, entities in
//! values), not a full HTML parser: a page's images are what matters, not its tree.

use std::collections::HashSet;

/// Image file endings a link may point at.
const IMAGE_ENDINGS: [&str; 6] = [".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp"];

/// One tag: its lower-case name and attributes (names lower-case, values unescaped).
#[derive(Debug, Clone, PartialEq)]
struct Tag {
    name: String,
    attributes: Vec<(String, String)>,
}

impl Tag {
    fn get(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Every start tag of `html`, in order (comments, scripts' bodies and end tags skipped).
fn tags(html: &str) -> Vec<Tag> {
    let mut found = Vec::new();
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        rest = &rest[open + 1..];
        if let Some(comment) = rest.strip_prefix("!--") {
            rest = comment.find("-->").map_or("", |end| &comment[end + 3..]);
            continue;
        }
        let Some(end) = tag_end(rest) else {
            break;
        };
        let inside = &rest[..end];
        rest = &rest[end + 1..];
        let name: String = inside
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == ':' || *c == '-')
            .collect::<String>()
            .to_ascii_lowercase();
        if name.is_empty() {
            continue;
        }
        let attributes = attributes(&inside[name.len()..]);
        if name == "script" || name == "style" {
            let close = format!("</{name}");
            rest = find_ignore_case(rest, &close).map_or("", |at| &rest[at..]);
        }
        found.push(Tag { name, attributes });
    }
    found
}

/// Where the tag starting at `text` ends (its `>`, outside quotes).
fn tag_end(text: &str) -> Option<usize> {
    let mut quote = None;
    for (i, c) in text.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '>') => return Some(i),
            _ => {}
        }
    }
    None
}

fn find_ignore_case(haystack: &str, needle: &str) -> Option<usize> {
    haystack
        .to_ascii_lowercase()
        .find(&needle.to_ascii_lowercase())
}

/// `name="value" name='value' name=value name` pairs.
fn attributes(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        while i < chars.len() && (chars[i].is_whitespace() || chars[i] == '/') {
            i += 1;
        }
        let start = i;
        while i < chars.len() && !chars[i].is_whitespace() && chars[i] != '=' && chars[i] != '/' {
            i += 1;
        }
        if start == i {
            i += 1;
            continue;
        }
        let name: String = chars[start..i]
            .iter()
            .collect::<String>()
            .to_ascii_lowercase();
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
        let mut value = String::new();
        if i < chars.len() && chars[i] == '=' {
            i += 1;
            while i < chars.len() && chars[i].is_whitespace() {
                i += 1;
            }
            if i < chars.len() && (chars[i] == '"' || chars[i] == '\'') {
                let quote = chars[i];
                i += 1;
                let begin = i;
                while i < chars.len() && chars[i] != quote {
                    i += 1;
                }
                value = chars[begin..i].iter().collect();
                i += 1;
            } else {
                let begin = i;
                while i < chars.len() && !chars[i].is_whitespace() {
                    i += 1;
                }
                value = chars[begin..i].iter().collect();
            }
        }
        out.push((name, unescape(&value)));
    }
    out
}

/// The common character references of attribute values and feed text.
fn unescape(text: &str) -> String {
    text.replace("&amp;", "&")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&apos;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#x2F;", "/")
        .replace("&#47;", "/")
}

/// `reference` resolved against `base` (http(s) only): absolute, scheme-relative,
/// root-relative or relative; fragments dropped. `None` for other schemes (`data:`, `file:`,
/// `javascript:` ...).
pub fn resolve(base: &str, reference: &str) -> Option<String> {
    let reference = reference.trim();
    let reference = reference.split('#').next().unwrap_or("");
    if reference.is_empty() {
        return None;
    }
    let (base_scheme, base_rest) = base.split_once("://")?;
    let lower = reference.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        return Some(reference.to_string());
    }
    if let Some(rest) = reference.strip_prefix("//") {
        return Some(format!("{base_scheme}://{rest}"));
    }
    if reference.contains(':')
        && reference.split(':').next().is_some_and(|s| {
            s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '.' || c == '-')
        })
        && !reference.starts_with('/')
        && !reference.starts_with('.')
    {
        return None; // another scheme
    }
    let base_rest = base_rest.split(['?', '#']).next().unwrap_or("");
    let (host, path) = base_rest.split_once('/').unwrap_or((base_rest, ""));
    let joined = if let Some(absolute) = reference.strip_prefix('/') {
        absolute.to_string()
    } else {
        let directory = path.rsplit_once('/').map_or("", |(d, _)| d);
        if directory.is_empty() {
            reference.to_string()
        } else {
            format!("{directory}/{reference}")
        }
    };
    let (path_part, query) = match joined.split_once('?') {
        Some((p, q)) => (p.to_string(), Some(q.to_string())),
        None => (joined, None),
    };
    let mut segments: Vec<&str> = Vec::new();
    for segment in path_part.split('/') {
        match segment {
            "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut url = format!("{base_scheme}://{host}/{}", segments.join("/"));
    if let Some(query) = query {
        url.push('?');
        url.push_str(&query);
    }
    Some(url)
}

/// The widest candidate of a `srcset` (`url 640w, url 1280w` or `url 1x, url 2x`).
fn widest_in_srcset(srcset: &str) -> Option<&str> {
    srcset
        .split(',')
        .filter_map(|candidate| {
            let mut parts = candidate.split_whitespace();
            let url = parts.next()?;
            let size = parts.next().unwrap_or("1x");
            let value: f64 = size
                .trim_end_matches(['w', 'x', 'W', 'X'])
                .parse()
                .unwrap_or(1.0);
            let weight = if size.ends_with(['w', 'W']) {
                value
            } else {
                value * 10_000.0
            };
            Some((weight, url))
        })
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, url)| url)
}

fn looks_like_image(url: &str) -> bool {
    let path = url
        .split(['?', '#'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    IMAGE_ENDINGS.iter().any(|e| path.ends_with(e))
}

/// The image addresses a page offers, each once, in page order (`og:image` first).
pub fn page_images(html: &str, page_url: &str) -> Vec<String> {
    let all = tags(html);
    let mut found: Vec<String> = Vec::new();
    let mut push = |reference: &str| {
        if let Some(url) = resolve(page_url, reference) {
            found.push(url);
        }
    };
    for tag in &all {
        if tag.name == "meta" {
            let key = tag
                .get("property")
                .or_else(|| tag.get("name"))
                .unwrap_or("");
            if matches!(
                key,
                "og:image" | "og:image:url" | "og:image:secure_url" | "twitter:image"
            ) && let Some(content) = tag.get("content")
            {
                push(content);
            }
        }
    }
    for tag in &all {
        match tag.name.as_str() {
            "img" | "source" => {
                let best = tag
                    .get("srcset")
                    .or_else(|| tag.get("data-srcset"))
                    .and_then(widest_in_srcset)
                    .or_else(|| tag.get("data-src"))
                    .or_else(|| tag.get("src"));
                if let Some(reference) = best {
                    push(reference);
                }
            }
            "a" => {
                if let Some(href) = tag.get("href").filter(|h| looks_like_image(h)) {
                    push(href);
                }
            }
            "enclosure" | "media:content" | "media:thumbnail" => {
                let typed_image = tag.get("type").is_none_or(|t| t.starts_with("image/"));
                if let Some(url) = tag.get("url").filter(|_| typed_image) {
                    push(url);
                }
            }
            _ => {}
        }
    }
    let mut seen = HashSet::new();
    found.retain(|u| seen.insert(u.clone()));
    found
}

/// The images of an RSS or Atom feed: enclosures, `media:content`, and the `<img>` tags inside
/// items' escaped HTML (`<description>`, `<content:encoded>`, `<content>`).
pub fn feed_images(xml: &str, feed_url: &str) -> Vec<String> {
    let mut found = page_images(xml, feed_url);
    // Item HTML arrives escaped (or in CDATA): unescape it once and read its tags too.
    let embedded = unescape(&xml.replace("<![CDATA[", "").replace("]]>", ""));
    for url in page_images(&embedded, feed_url) {
        if !found.contains(&url) {
            found.push(url);
        }
    }
    found
}

/// Links from the page to other pages of its own host (pagination candidates), each once.
pub fn same_host_links(html: &str, page_url: &str) -> Vec<String> {
    let host_of = |url: &str| {
        url.split_once("://").map(|(_, rest)| {
            rest.split(['/', '?', '#'])
                .next()
                .unwrap_or("")
                .to_ascii_lowercase()
        })
    };
    let Some(host) = host_of(page_url) else {
        return Vec::new();
    };
    let mut seen = HashSet::new();
    tags(html)
        .iter()
        .filter(|t| t.name == "a")
        .filter_map(|t| t.get("href"))
        .filter_map(|href| resolve(page_url, href))
        .filter(|url| host_of(url).as_deref() == Some(host.as_str()) && !looks_like_image(url))
        .filter(|url| url != page_url && seen.insert(url.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = "https://runway.example.com/shows/fall-2026/chanel/index.html?p=1";

    #[test]
    fn addresses_resolve_against_the_page() {
        let r = |s| resolve(PAGE, s);
        assert_eq!(
            r("look1.jpg").as_deref(),
            Some("https://runway.example.com/shows/fall-2026/chanel/look1.jpg")
        );
        assert_eq!(
            r("../dior/a.png?w=2").as_deref(),
            Some("https://runway.example.com/shows/fall-2026/dior/a.png?w=2")
        );
        assert_eq!(
            r("/img/b.webp").as_deref(),
            Some("https://runway.example.com/img/b.webp")
        );
        assert_eq!(
            r("//cdn.example.net/c.jpg").as_deref(),
            Some("https://cdn.example.net/c.jpg")
        );
        assert_eq!(
            r("HTTP://other.example.org/d.jpg#x").as_deref(),
            Some("HTTP://other.example.org/d.jpg")
        );
        for other in [
            "data:image/png;base64,AAAA",
            "file:///etc/passwd",
            "javascript:void(0)",
            "mailto:a@b",
            "#top",
            "",
        ] {
            assert_eq!(r(other), None, "{other}");
        }
    }

    #[test]
    fn a_runway_page_gives_og_image_srcset_img_and_image_links() {
        let html = r#"<!doctype html><html><head>
            <meta property="og:image" content="https://cdn.example.com/hero.jpg">
            <META NAME='twitter:image' CONTENT='/hero.jpg'>
            <script>var s = "<img src='not-this.jpg'>";</script>
            <!-- <img src="commented.jpg"> -->
            </head><body>
            <img src="look1-small.jpg" srcset="look1-640.jpg 640w, look1-1920.jpg 1920w, look1-1280.jpg 1280w" alt="Look 1">
            <picture><source srcset="look2.webp 1x, look2@2x.webp 2x"><img src=look2.jpg></picture>
            <img data-src="/lazy/look3.jpg" src="data:image/gif;base64,R0lGOD">
            <a href="full/look4.JPG?download=1">full size</a>
            <a href="/shows/fall-2026/chanel/page2.html">next</a>
            <img src="look1-1920.jpg">
            <img alt="no source">
            </body></html>"#;
        assert_eq!(
            page_images(html, PAGE),
            vec![
                "https://cdn.example.com/hero.jpg",
                "https://runway.example.com/hero.jpg",
                "https://runway.example.com/shows/fall-2026/chanel/look1-1920.jpg",
                "https://runway.example.com/shows/fall-2026/chanel/look2@2x.webp",
                "https://runway.example.com/shows/fall-2026/chanel/look2.jpg",
                "https://runway.example.com/lazy/look3.jpg",
                "https://runway.example.com/shows/fall-2026/chanel/full/look4.JPG?download=1",
            ]
        );
        assert_eq!(
            same_host_links(html, PAGE),
            vec!["https://runway.example.com/shows/fall-2026/chanel/page2.html"]
        );
    }

    #[test]
    fn feeds_give_enclosures_media_and_images_in_item_html() {
        let rss = r#"<?xml version="1.0"?><rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel>
            <item><title>Look 1</title><enclosure url="https://i.example.com/1.jpg" type="image/jpeg" length="1"/></item>
            <item><media:content url="https://i.example.com/2.jpg" medium="image"/></item>
            <item><enclosure url="https://i.example.com/3.mp4" type="video/mp4"/></item>
            <item><description>&lt;p&gt;&lt;img src="https://i.example.com/4.jpg"&gt;&lt;/p&gt;</description></item>
            <item><description><![CDATA[<img src="/5.png">]]></description></item>
            </channel></rss>"#;
        assert_eq!(
            feed_images(rss, "https://www.pinterest.com/vogue/runway.rss"),
            vec![
                "https://i.example.com/1.jpg",
                "https://i.example.com/2.jpg",
                "https://i.example.com/4.jpg",
                "https://www.pinterest.com/5.png",
            ]
        );
    }
}
