//! robots.txt as RFC 9309 reads it: the groups for our product token (else `*`), `Allow` and
//! `Disallow` rules with `*` and `$`, the longest matching rule deciding and `Allow` winning a
//! tie. A host whose robots.txt is missing (4xx) allows everything; one that cannot be read
//! (5xx, no connection) is treated as disallowing everything, as the RFC asks.

/// One `Allow` or `Disallow` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    allow: bool,
    pattern: String,
}

/// What one host's robots.txt allows us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Robots {
    /// The rules of the groups that apply to us.
    Rules(Vec<Rule>),
    /// robots.txt could not be read; nothing may be fetched. Says why.
    Unreachable(String),
}

impl Robots {
    /// No rules: everything allowed (robots.txt is missing).
    pub fn allow_all() -> Self {
        Robots::Rules(Vec::new())
    }

    /// The rules in `text` for the crawler whose product token is `agent` (case-insensitive).
    pub fn parse(text: &str, agent: &str) -> Self {
        let agent = agent.to_ascii_lowercase();
        let mut ours: Vec<Rule> = Vec::new();
        let mut anyone: Vec<Rule> = Vec::new();
        let mut found_ours = false;
        // The user agents of the group being read, and whether its rules have begun (a
        // `User-agent` line after a rule starts a new group).
        let mut agents: Vec<String> = Vec::new();
        let mut in_rules = false;
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("").trim();
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let key = key.trim().to_ascii_lowercase();
            let value = value.trim();
            match key.as_str() {
                "user-agent" => {
                    if in_rules {
                        agents.clear();
                        in_rules = false;
                    }
                    agents.push(value.to_ascii_lowercase());
                }
                "allow" | "disallow" => {
                    in_rules = true;
                    // An empty `Disallow:` allows everything: no rule.
                    if value.is_empty() {
                        continue;
                    }
                    let rule = Rule {
                        allow: key == "allow",
                        pattern: value.to_string(),
                    };
                    if agents.iter().any(|a| a == &agent) {
                        found_ours = true;
                        ours.push(rule.clone());
                    }
                    if agents.iter().any(|a| a == "*") {
                        anyone.push(rule);
                    }
                }
                _ => {}
            }
        }
        // A group naming us with no rules at all still makes the `*` group not ours.
        let named = text.lines().any(|l| {
            let l = l.split('#').next().unwrap_or("").trim();
            l.split_once(':').is_some_and(|(k, v)| {
                k.trim().eq_ignore_ascii_case("user-agent") && v.trim().eq_ignore_ascii_case(&agent)
            })
        });
        Robots::Rules(if found_ours || named { ours } else { anyone })
    }

    /// Whether `path` (the URL's path and query, starting with `/`) may be fetched.
    pub fn allows(&self, path: &str) -> bool {
        let rules = match self {
            Robots::Rules(rules) => rules,
            Robots::Unreachable(_) => return false,
        };
        if path == "/robots.txt" {
            return true;
        }
        rules
            .iter()
            .filter(|rule| matches(&rule.pattern, path))
            .max_by_key(|rule| (rule.pattern.len(), rule.allow))
            .is_none_or(|rule| rule.allow)
    }
}

/// Whether `pattern` (`*` any run of characters, a final `$` the end) matches the start of
/// `path`.
fn matches(pattern: &str, path: &str) -> bool {
    let (pattern, anchored) = match pattern.strip_suffix('$') {
        Some(p) => (p, true),
        None => (pattern, false),
    };
    let pieces: Vec<&str> = pattern.split('*').collect();
    let Some((first, rest)) = pieces.split_first() else {
        return true;
    };
    let Some(mut remaining) = path.strip_prefix(first) else {
        return false;
    };
    for (index, piece) in rest.iter().enumerate() {
        let is_last = index + 1 == rest.len();
        if is_last && anchored {
            return remaining.ends_with(piece);
        }
        match remaining.find(piece) {
            Some(at) => remaining = &remaining[at + piece.len()..],
            None => return false,
        }
    }
    !anchored || remaining.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROBOTS: &str = "# comments and blank lines are ignored

User-agent: *
Disallow: /private/
Allow: /private/press/
Disallow: /*.pdf$
Disallow: /search?q=*

User-agent: BadBot
Disallow: /
";

    #[test]
    fn the_star_group_with_longest_match_and_wildcards() {
        let robots = Robots::parse(ROBOTS, "DeepStyleStudio");
        assert!(robots.allows("/"));
        assert!(robots.allows("/runway/looks.html"));
        assert!(!robots.allows("/private/notes"));
        assert!(robots.allows("/private/press/look1.jpg"));
        assert!(!robots.allows("/lookbook.pdf"));
        assert!(robots.allows("/lookbook.pdf?page=2"));
        assert!(!robots.allows("/search?q=coats"));
        assert!(robots.allows("/robots.txt"));
    }

    #[test]
    fn a_group_naming_us_replaces_the_star_group() {
        let text = "User-agent: *\nDisallow: /\n\nUser-agent: deepstylestudio\nUser-agent: other\nDisallow: /drafts\n";
        let robots = Robots::parse(text, "DeepStyleStudio");
        assert!(robots.allows("/runway"));
        assert!(!robots.allows("/drafts/1"));
        let everyone_else = Robots::parse(text, "SomeoneElse");
        assert!(!everyone_else.allows("/runway"));
    }

    #[test]
    fn ties_go_to_allow_and_empty_disallow_allows_all() {
        let robots = Robots::parse("User-agent: *\nDisallow: /a\nAllow: /a\n", "x");
        assert!(robots.allows("/a/b"));
        let robots = Robots::parse("User-agent: *\nDisallow:\n", "x");
        assert!(robots.allows("/anything"));
        assert!(Robots::allow_all().allows("/anything"));
        assert!(!Robots::Unreachable("HTTP 503".into()).allows("/"));
    }

    #[test]
    fn patterns_match_from_the_start_with_wildcards_and_anchors() {
        assert!(matches("/a", "/a/b"));
        assert!(!matches("/a", "/b/a"));
        assert!(matches("/*.jpg$", "/x/y.jpg"));
        assert!(!matches("/*.jpg$", "/x/y.jpg?s=1"));
        assert!(matches("/a*b*c", "/a--b--c--"));
        assert!(!matches("/a*b*c", "/a--c--b"));
        assert!(matches("/exact$", "/exact"));
        assert!(!matches("/exact$", "/exactly"));
    }
}
