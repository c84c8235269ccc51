//! Optimistic concurrency over HTTP: a procedure's `ETag` is its version; a write names the
//! version it saw in `If-Match` (missing: 428; stale: 412).

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};

use super::problem::Problem;
use crate::ids::Version;

pub fn etag(version: Version) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{}\"", version.0)).expect("digits are a valid header")
}

/// The version `If-Match` names.
pub fn if_match(headers: &HeaderMap) -> Result<Version, Problem> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Err(Problem::new(
            StatusCode::PRECONDITION_REQUIRED,
            "precondition-required",
            "a write needs `If-Match` with the procedure's ETag (its version, as \"3\"): read the \
             procedure first",
        ));
    };
    let text = value.to_str().unwrap_or_default().trim();
    let bare = text.trim_start_matches("W/").trim_matches('"');
    bare.parse::<i64>()
        .ok()
        .filter(|v| *v >= 1)
        .map(Version)
        .ok_or_else(|| {
            Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid-input",
                format!("`If-Match: {text}` is not an ETag of this API (a version, as \"3\")"),
            )
            .with_field("If-Match")
        })
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
}
