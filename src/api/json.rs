//! Request bodies: JSON only, in UTF-8, unknown fields refused, and every mistake reported as a
//! problem that names the field (400 for JSON that does not parse, 422 for JSON that does not
//! fit, 415 for another content type or charset, 413 past the body limit).

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use serde::de::DeserializeOwned;

use crate::http::Failure;
use crate::http::Problem;

/// A JSON body of type `T`, or a problem.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Problem> {
        json_body(
            req.headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok()),
        )?;
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            Problem::new(
                Failure::TooLarge,
                "payload-too-large",
                format!("the body cannot be read: {e}"),
            )
        })?;
        parse(&bytes).map(ApiJson)
    }
}

/// The body is JSON in UTF-8 by its `Content-Type`: `application/json` or `…+json`, with no
/// charset or `charset=utf-8`. JSON is UTF-8 (RFC 8259); a body declared in another charset is
/// refused rather than read as UTF-8 and silently misread.
fn json_body(content_type: Option<&str>) -> Result<(), Problem> {
    let refused = |detail: String| {
        Problem::new(
            Failure::UnsupportedMediaType,
            "unsupported-media-type",
            detail,
        )
        .with_field("Content-Type")
    };
    let Some(mime) = content_type.and_then(|v| v.parse::<mime::Mime>().ok()) else {
        return Err(refused(
            "send the body as UTF-8 JSON with `Content-Type: application/json`".into(),
        ));
    };
    let json = (mime.type_() == mime::APPLICATION && mime.subtype() == mime::JSON)
        || mime.suffix() == Some(mime::JSON);
    if !json {
        return Err(refused(format!(
            "`Content-Type: {}` is not JSON: send the body as UTF-8 JSON with \
             `Content-Type: application/json`",
            mime.essence_str()
        )));
    }
    match mime.get_param(mime::CHARSET) {
        Some(charset) if charset != mime::UTF_8 => Err(refused(format!(
            "`Content-Type` names charset `{charset}`: JSON is read only as UTF-8; send it in \
             UTF-8 with `Content-Type: application/json` (or `; charset=utf-8`)"
        ))),
        _ => Ok(()),
    }
}

/// Parse `bytes` as `T`, naming the field at fault.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed = serde_path_to_error::deserialize::<_, T>(&mut de);
    if parsed.is_ok()
        && let Err(e) = de.end()
    {
        return Err(Problem::new(
            Failure::Malformed,
            "invalid-json",
            format!("the body is not one JSON value: {e}"),
        ));
    }
    match parsed {
        Ok(v) => Ok(v),
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if inner.is_syntax() || inner.is_eof() {
                return Err(Problem::new(
                    Failure::Malformed,
                    "invalid-json",
                    format!("the body is not JSON: {inner}"),
                ));
            }
            let message = inner.to_string();
            // serde names an unknown or missing field in its message, not in the path.
            let named = ["unknown field `", "missing field `"]
                .iter()
                .find_map(|lead| {
                    let rest = message.split(lead).nth(1)?;
                    rest.split('`').next().map(str::to_string)
                });
            // The path ends at the unknown field itself, or at the object missing one.
            let field = match (path.as_str(), named) {
                (".", Some(name)) => name,
                (p, Some(name)) if p == name || p.ends_with(&format!(".{name}")) => p.to_string(),
                (p, Some(name)) => format!("{p}.{name}"),
                (p, None) => p.to_string(),
            };
            Err(Problem::new(
                Failure::Invalid,
                "invalid-input",
                format!("`{field}`: {message}"),
            )
            .with_field(field))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        to: String,
        comment: Option<String>,
    }

    #[test]
    fn an_unknown_field_is_named() {
        let p = parse::<Body>(br#"{"to": "x", "colour": "blue"}"#).unwrap_err();
        assert_eq!(p.status, 422);
        assert_eq!(p.field.as_deref(), Some("colour"));
    }

    #[test]
    fn a_missing_field_and_a_wrong_type_are_named() {
        let p = parse::<Body>(br#"{"comment": "c"}"#).unwrap_err();
        assert_eq!(p.field.as_deref(), Some("to"));
        let p = parse::<Body>(br#"{"to": 3}"#).unwrap_err();
        assert_eq!(p.field.as_deref(), Some("to"));
    }

    #[test]
    fn only_json_in_utf8_is_read() {
        for ok in [
            "application/json",
            "application/json; charset=utf-8",
            "application/json;charset=UTF-8",
            "application/json; charset=\"utf-8\"",
            "application/merge-patch+json",
            "APPLICATION/JSON",
        ] {
            assert!(json_body(Some(ok)).is_ok(), "{ok}");
        }
        for refused in [
            "application/json; charset=utf-16",
            "application/json; charset=\"UTF-16LE\"",
            "application/json; charset=iso-8859-1",
            "application/json; charset=",
            "text/plain",
            "application/x-www-form-urlencoded",
            "json",
        ] {
            let p = json_body(Some(refused)).unwrap_err();
            assert_eq!(
                (p.status, p.field.as_deref()),
                (415, Some("Content-Type")),
                "{refused}"
            );
        }
        assert_eq!(json_body(None).unwrap_err().status, 415);
        let p = json_body(Some("application/json; charset=utf-16")).unwrap_err();
        assert!(p.detail.contains("`utf-16`"), "{}", p.detail);
    }

    #[test]
    fn broken_json_is_a_400() {
        let p = parse::<Body>(br#"{"to": "#).unwrap_err();
        assert_eq!(p.status, 400);
        let p = parse::<Body>(br#"{"to": "x"} trailing"#).unwrap_err();
        assert_eq!(p.status, 400);
    }
}
