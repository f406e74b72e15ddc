//! OpenSSH host patterns, as `Host` lines of `ssh_config` and the host field of
//! `known_hosts` write them: comma- or space-separated globs with `*` and `?`, and `!` to
//! negate. A list matches when one pattern matches and no negated pattern does, which is
//! what OpenSSH's `match_hostname` decides; host names compare without regard to case.

/// A list of host patterns, in the order written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPatterns {
    patterns: Vec<(bool, String)>,
}

impl HostPatterns {
    /// Reads a list separated by commas, whitespace or both.
    pub fn parse(text: &str) -> HostPatterns {
        let patterns = text
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|word| !word.is_empty())
            .map(|word| match word.strip_prefix('!') {
                Some(rest) => (true, rest.to_ascii_lowercase()),
                None => (false, word.to_ascii_lowercase()),
            })
            .collect();
        HostPatterns { patterns }
    }

    /// Whether `host` is matched: by a positive pattern and by no negated one.
    pub fn matches(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        let mut matched = false;
        for (negated, pattern) in &self.patterns {
            if wildcard_match(pattern, &host) {
                if *negated {
                    return false;
                }
                matched = true;
            }
        }
        matched
    }
}

/// Glob match with `*` (any run, empty included) and `?` (one character).
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    // Iterative matching with one backtrack point: linear for the patterns people write
    // and never exponential, whatever the input.
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some('*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == '?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((star_p, star_t)) => {
                    p = star_p + 1;
                    t = star_t + 1;
                    star = Some((star_p, star_t + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_like_openssh() {
        assert!(wildcard_match("*", ""));
        assert!(wildcard_match("web*", "web01"));
        assert!(wildcard_match("web??", "web01"));
        assert!(!wildcard_match("web??", "web1"));
        assert!(wildcard_match("*.example.com", "a.b.example.com"));
        assert!(!wildcard_match("*.example.com", "example.com"));
        assert!(wildcard_match("[127.0.0.1]:*", "[127.0.0.1]:22001"));
        assert!(wildcard_match("a*b*c", "axxbyyc"));
        assert!(!wildcard_match("a*b*c", "axxbyy"));
    }

    #[test]
    fn negation_wins_over_a_match() {
        let patterns = HostPatterns::parse("*.example.com,!bastion.example.com");
        assert!(patterns.matches("web.example.com"));
        assert!(!patterns.matches("bastion.example.com"));
        assert!(!patterns.matches("other.org"));
        // A list of negations alone matches nothing, as in OpenSSH.
        assert!(!HostPatterns::parse("!foo").matches("bar"));
    }

    #[test]
    fn host_names_ignore_case_and_accept_spaces() {
        let patterns = HostPatterns::parse("Web01  db?");
        assert!(patterns.matches("WEB01"));
        assert!(patterns.matches("db1"));
    }
}
