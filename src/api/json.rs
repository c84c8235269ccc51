//! Request bodies: JSON only, unknown fields refused, and every mistake reported as a problem
//! that names the field (400 for JSON that does not parse, 422 for JSON that does not fit, 415
//! for another content type, 413 past the body limit).

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use serde::de::DeserializeOwned;

use super::failure::Failure;
use super::problem::Problem;

/// A JSON body of type `T`, or a problem.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Problem> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            })
            .is_some_and(|v| v == "application/json" || v.ends_with("+json"));
        if !is_json {
            return Err(Problem::new(
                Failure::UnsupportedMediaType,
                "unsupported-media-type",
                "send the body as JSON with `Content-Type: application/json`",
            ));
        }
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
    fn broken_json_is_a_400() {
        let p = parse::<Body>(br#"{"to": "#).unwrap_err();
        assert_eq!(p.status, 400);
        let p = parse::<Body>(br#"{"to": "x"} trailing"#).unwrap_err();
        assert_eq!(p.status, 400);
    }
}
