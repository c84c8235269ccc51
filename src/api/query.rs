//! Query strings, with a problem naming the parameter when one does not fit.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::http::Failure;
use crate::http::Problem;

pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Problem> {
        Self::parse(parts.uri.query())
    }
}

impl<T: DeserializeOwned> ApiQuery<T> {
    /// The query string read as `T`, for a handler that first checks its caller's permission (a
    /// role that may not is refused before its query is looked at: 403, not 422).
    pub fn parse(query: Option<&str>) -> Result<Self, Problem> {
        let query = query.unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(ApiQuery)
            .map_err(|e| {
                let message = e.inner().to_string();
                let named = ["unknown field `", "missing field `"]
                    .iter()
                    .find_map(|lead| {
                        message
                            .split(lead)
                            .nth(1)?
                            .split('`')
                            .next()
                            .map(str::to_string)
                    });
                let field = named.unwrap_or_else(|| e.path().to_string());
                Problem::new(
                    Failure::Malformed,
                    "invalid-input",
                    format!("query parameter `{field}`: {message}"),
                )
                .with_field(field)
            })
    }
}

/// The schema of a list's `cursor` parameter: a string matching exactly what its decoder takes.
fn cursor_schema<C: crate::app::cursor::Cursor>() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .pattern(Some(C::PATTERN))
        .build()
}

pub fn procedure_cursor() -> utoipa::openapi::Object {
    cursor_schema::<crate::app::cursor::ProcedureCursor>()
}

pub fn outbox_cursor() -> utoipa::openapi::Object {
    cursor_schema::<crate::app::cursor::OutboxCursor>()
}

pub fn timer_cursor() -> utoipa::openapi::Object {
    cursor_schema::<crate::app::cursor::TimerCursor>()
}

pub fn checkpoint_cursor() -> utoipa::openapi::Object {
    cursor_schema::<crate::app::cursor::CheckpointCursor>()
}

/// Whether a read answers CSV: `format=csv` (or `json`), else an `Accept` that names
/// `text/csv`; any other format is a 422 naming `format`.
pub fn wants_csv(format: Option<&str>, headers: &axum::http::HeaderMap) -> Result<bool, Problem> {
    match format {
        Some("csv") => Ok(true),
        Some("json") => Ok(false),
        Some(other) => Err(Problem::new(
            Failure::Invalid,
            "invalid-input",
            format!("format `{other}` is not json or csv"),
        )
        .with_field("format")),
        None => Ok(headers
            .get(axum::http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/csv"))),
    }
}
