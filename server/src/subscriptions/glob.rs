//! Glob patterns over stream-root-relative paths (spec section 6.2).
//!
//! A pattern is split on `/` like the path it matches:
//! - a `**` segment matches zero or more whole segments;
//! - a `*` segment matches exactly one (non-empty) segment;
//! - any other segment matches literally, except that a `*` inside it matches any run of
//!   characters within that one segment (`user-*` matches `user-42`, never `user-4/2`).

/// True when `path` matches `pattern`.
pub fn matches(pattern: &str, path: &str) -> bool {
    let pat: Vec<&str> = pattern.split('/').collect();
    let segs: Vec<&str> = path.split('/').collect();
    match_segments(&pat, &segs)
}

/// Checks that a pattern is usable: non-empty, no empty segments, no `**` inside a segment.
pub fn validate(pattern: &str) -> Result<(), String> {
    if pattern.is_empty() {
        return Err("pattern must not be empty".into());
    }
    for seg in pattern.split('/') {
        if seg.is_empty() {
            return Err(format!("pattern {pattern:?} has an empty segment"));
        }
        if seg != "**" && seg.contains("**") {
            return Err(format!("`**` must be a whole segment in pattern {pattern:?}"));
        }
    }
    Ok(())
}

fn match_segments(pat: &[&str], segs: &[&str]) -> bool {
    // Iterative with one backtracking point per `**`, like the classic wildcard matcher,
    // so a pattern with several `**` stays linear-ish instead of exponential.
    let (mut p, mut s) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while s < segs.len() {
        if p < pat.len() && pat[p] == "**" {
            star = Some((p, s));
            p += 1;
        } else if p < pat.len() && segment_matches(pat[p], segs[s]) {
            p += 1;
            s += 1;
        } else if let Some((sp, ss)) = star {
            // Let the last `**` swallow one more segment and retry.
            p = sp + 1;
            s = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    pat[p..].iter().all(|seg| *seg == "**")
}

fn segment_matches(pat: &str, seg: &str) -> bool {
    if seg.is_empty() {
        return false;
    }
    if pat == "*" {
        return true;
    }
    if !pat.contains('*') {
        return pat == seg;
    }
    // `*` within a segment: any run of characters (no `/`, which `seg` cannot contain).
    let parts: Vec<&str> = pat.split('*').collect();
    let mut rest = seg;
    let last = parts.len() - 1;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == last {
            return rest.len() >= part.len() && rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_star_is_one_segment() {
        assert!(matches("events/*", "events/abc"));
        assert!(!matches("events/*", "events"));
        assert!(!matches("events/*", "events/a/b"));
        assert!(!matches("events/*", "other/abc"));
        assert!(matches("*/log", "a/log"));
        assert!(!matches("*/log", "log"));
    }

    #[test]
    fn double_star_is_any_number_of_segments() {
        assert!(matches("events/**", "events"));
        assert!(matches("events/**", "events/a"));
        assert!(matches("events/**", "events/a/b/c"));
        assert!(!matches("events/**", "eventsx/a"));
        assert!(matches("**", "anything/at/all"));
        assert!(matches("**/log", "log"));
        assert!(matches("**/log", "a/b/log"));
        assert!(!matches("**/log", "a/b/logs"));
        assert!(matches("a/**/z", "a/z"));
        assert!(matches("a/**/z", "a/b/c/z"));
        assert!(!matches("a/**/z", "a/b/c/y"));
        assert!(matches("a/**/m/**/z", "a/1/m/2/3/z"));
        assert!(!matches("a/**/m/**/z", "a/1/2/3/z"));
    }

    #[test]
    fn literal_and_partial_segments() {
        assert!(matches("events/abc", "events/abc"));
        assert!(!matches("events/abc", "events/abcd"));
        assert!(matches("user-*", "user-42"));
        assert!(!matches("user-*", "user-4/2"));
        assert!(matches("*-log", "app-log"));
        assert!(matches("a*b*c", "a-x-b-y-c"));
        assert!(!matches("a*b*c", "a-x-c"));
        assert!(!matches("ab*ba", "aba"));
    }

    #[test]
    fn empty_segments_never_match_a_star() {
        assert!(!matches("events/*", "events/"));
        assert!(!matches("*", ""));
    }

    #[test]
    fn validation() {
        assert!(validate("events/*").is_ok());
        assert!(validate("**").is_ok());
        assert!(validate("").is_err());
        assert!(validate("a//b").is_err());
        assert!(validate("a/x**").is_err());
    }
}
