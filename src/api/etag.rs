//! Optimistic concurrency over HTTP: a procedure's `ETag` is its version; a write names the
//! version it saw in `If-Match` (missing: 428; stale: 412).

use axum::http::{HeaderMap, HeaderValue, header};

use crate::http::Failure;
use crate::http::Problem;
use crate::ids::Version;

pub fn etag(version: Version) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{}\"", version.0)).expect("digits are a valid header")
}

/// The version `If-Match` names.
pub fn if_match(headers: &HeaderMap) -> Result<Version, Problem> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Err(Problem::new(
            Failure::PreconditionRequired,
            "precondition-required",
            "a write needs `If-Match` with the procedure's ETag (its version, as \"3\"): read the \
             procedure first",
        ));
    };
    let text = value.to_str().unwrap_or_default().trim();
    version_of(text).ok_or_else(|| {
        Problem::new(
            Failure::Malformed,
            "invalid-input",
            format!("`If-Match: {text}` is not an ETag of this API (a version, as \"3\")"),
        )
        .with_field("If-Match")
    })
}

/// `"3"`, `W/"3"` or a bare `3`: a version of at most 18 digits without leading zeros (so it fits
/// an i64). The pattern of `If-Match` in the document (`ActHeaders`) says the same.
fn version_of(text: &str) -> Option<Version> {
    let quoted = text.strip_prefix("W/").unwrap_or(text);
    let digits = match quoted.strip_prefix('"') {
        Some(rest) => rest.strip_suffix('"')?,
        // The weak prefix belongs to a quoted tag only.
        None if quoted.len() != text.len() => return None,
        None => quoted,
    };
    let well_formed = (1..=18).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0');
    well_formed.then(|| digits.parse().ok().map(Version))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_match_reads_strong_weak_and_bare_versions() {
        for (text, v) in [("\"3\"", 3), ("W/\"4\"", 4), ("5", 5)] {
            let mut h = HeaderMap::new();
            h.insert(header::IF_MATCH, HeaderValue::from_str(text).unwrap());
            assert_eq!(if_match(&h).unwrap(), Version(v), "{text}");
        }
        assert_eq!(if_match(&HeaderMap::new()).unwrap_err().status, 428);
        let mut h = HeaderMap::new();
        h.insert(header::IF_MATCH, HeaderValue::from_static("*"));
        assert_eq!(if_match(&h).unwrap_err().status, 400);
    }

    #[test]
    fn if_match_takes_what_its_documented_pattern_says_and_nothing_else() {
        for text in ["\"3\"", "W/\"4\"", "5", "\"123456789012345678\""] {
            assert!(version_of(text).is_some(), "{text}");
        }
        for text in [
            "0",
            "\"03\"",
            "W/5",
            "\"3",
            "3\"",
            "\"\"",
            "W/",
            "*",
            "-1",
            "x\"3\"",
            "\"3\"x",
            "W/W/\"3\"",
            "\"1234567890123456789\"",
        ] {
            assert!(version_of(text).is_none(), "{text}");
        }
    }
}
