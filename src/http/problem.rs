//! RFC 9457 problem details: every error the API returns, with a stable `type` per kind — the
//! same kinds as the CLI's (`AppError::kind`) — the HTTP status, a sentence saying what is wrong,
//! the field at fault for validation errors, and the request id (added by the middleware).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::failure::Failure;
use crate::app::AppError;
use crate::engine::Refusal;

pub const CONTENT_TYPE: &str = "application/problem+json";

/// What `Retry-After` says when the database's disk is full: space rarely returns in seconds.
const NO_SPACE_RETRY_SECS: u64 = 60;

/// What `Retry-After` says when the database is busy: the lock is usually free in a moment.
pub const BUSY_RETRY_SECS: u64 = 1;

/// The `type` of a problem of `kind`: a stable URI per kind of error.
pub fn type_uri(kind: &str) -> String {
    format!("urn:accession:problem:{kind}")
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// `urn:accession:problem:<kind>`; the kinds are those of the CLI.
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// The request's path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// The field of the request at fault, for validation errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The request id, as in the `x-request-id` header and the logs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Seconds after which a retry may succeed, sent as `Retry-After`.
    #[serde(skip)]
    pub retry_after: Option<u64>,
    /// The engine's refusal, when that is the problem: the middleware words `detail` in the
    /// language the request accepts (`Accept-Language: ru` or `ky`); `type` stays as it is.
    #[serde(skip)]
    pub refusal: Option<Refusal>,
}

/// The refusal a problem response carries (a response extension), for the middleware to word
/// its `detail` in the reader's language.
#[derive(Debug, Clone)]
pub struct RefusalOf(pub Refusal);

/// The catalogue language a request's `Accept-Language` prefers (`ru-RU;q=0.9, en;q=0.8` → ru),
/// if it names one of the catalogues' languages at all.
pub fn accepted_language(header: Option<&str>) -> Option<crate::reference::Language> {
    let mut best: Option<(f32, crate::reference::Language)> = None;
    for item in header?.split(',') {
        let mut parts = item.split(';');
        let tag = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let primary = tag.split('-').next().unwrap_or_default();
        let q = parts
            .find_map(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
            })
            .unwrap_or(1.0);
        let Some(language) = crate::reference::Language::parse(primary)
            .filter(|l| crate::locale::LANGUAGES.contains(l))
        else {
            continue;
        };
        if q > 0.0 && best.is_none_or(|(b, _)| q > b) {
            best = Some((q, language));
        }
    }
    best.map(|(_, l)| l)
}

impl Problem {
    pub fn new(failure: Failure, kind: &str, detail: impl Into<String>) -> Problem {
        Problem::with_status(failure.status(), kind, detail)
    }

    /// A problem of a status no operation answers (405 for a method a path does not take): the
    /// middleware's, for what the router itself refuses.
    pub fn with_status(status: StatusCode, kind: &str, detail: impl Into<String>) -> Problem {
        Problem {
            type_: type_uri(kind),
            title: title(kind, status),
            status: status.as_u16(),
            detail: detail.into(),
            instance: None,
            field: None,
            request_id: None,
            retry_after: None,
            refusal: None,
        }
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Problem {
        self.field = Some(field.into());
        self
    }

    pub fn unauthenticated(detail: impl Into<String>) -> Problem {
        Problem::new(Failure::Unauthenticated, "unauthenticated", detail)
    }

    pub fn forbidden(detail: impl Into<String>) -> Problem {
        Problem::new(Failure::Forbidden, "not-allowed", detail)
    }

    /// 429: the client has spent its budget of authentication failures.
    pub fn too_many_failures(locked: super::Locked) -> Problem {
        let seconds = locked.seconds();
        let mut problem = Problem::new(
            Failure::Throttled,
            "too-many-requests",
            format!(
                "too many failed authentications from this address; try again in {seconds} s \
                 (the token, sign-in or calendar key is not checked until then)"
            ),
        );
        problem.retry_after = Some(seconds);
        problem
    }
}

fn title(kind: &str, status: StatusCode) -> String {
    match kind {
        "unauthenticated" => "Authentication required".into(),
        "not-allowed" => "Not allowed".into(),
        "not-found" => "Not found".into(),
        "stale-version" => "The procedure has changed".into(),
        "precondition-required" => "If-Match required".into(),
        "conflict" => "Conflict".into(),
        "invalid-input" | "field-invalid" => "Invalid request".into(),
        "date-refused" => "A date that cannot be true".into(),
        "internal" => "Internal error".into(),
        "storage-full" => "No space left for the database".into(),
        "too-many-requests" => "Too many failed authentications".into(),
        "busy" => "Busy, try again".into(),
        _ => status.canonical_reason().unwrap_or("Error").to_string(),
    }
}

impl From<AppError> for Problem {
    fn from(e: AppError) -> Problem {
        let failure = Failure::of(&e);
        if failure == Failure::Internal {
            // The cause goes to the log with the request id; the client gets the id only.
            tracing::error!(error = %e, "internal error");
            return Problem::new(
                failure,
                "internal",
                "an internal error occurred; quote the request id to the operators",
            );
        }
        let field = match &e {
            AppError::Refused(Refusal::FieldInvalid { field, .. })
            | AppError::Refused(Refusal::UnknownField { field, .. }) => Some(field.to_string()),
            AppError::Refused(Refusal::ControlCharacter { field, .. })
            | AppError::InvalidField { field, .. } => Some(field.to_string()),
            AppError::Refused(Refusal::EffectiveDate { .. }) => Some("effective_on".to_string()),
            AppError::Refused(Refusal::DateRefused { what, .. }) => Some(what.clone()),
            _ => None,
        };
        let detail = match &e {
            AppError::Refused(r) => r.to_string(),
            other => other.to_string(),
        };
        if failure == Failure::StorageFull {
            // Operators see it in the log; the caller learns it may retry once space returns.
            tracing::error!(error = %e, "a write was refused for lack of disk space");
        }
        let refusal = match &e {
            AppError::Refused(r) => Some(r.clone()),
            _ => None,
        };
        let mut problem = Problem::new(failure, e.kind(), detail);
        problem.field = field;
        problem.refusal = refusal;
        problem.retry_after = match failure {
            Failure::StorageFull => Some(NO_SPACE_RETRY_SECS),
            Failure::Unavailable => Some(BUSY_RETRY_SECS),
            _ => None,
        };
        problem
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let unauthenticated = status == StatusCode::UNAUTHORIZED;
        let retry_after = self.retry_after;
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (status, body).into_response();
        if let Some(refusal) = self.refusal {
            response.extensions_mut().insert(RefusalOf(refusal));
        }
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
        if unauthenticated {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"accession\""),
            );
        }
        response
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        Problem::from(self).into_response()
    }
}

#[cfg(test)]
mod language_tests {
    use super::accepted_language;
    use crate::reference::Language;

    #[test]
    fn the_preferred_catalogue_language_is_taken() {
        assert_eq!(
            accepted_language(Some("ru-RU,ru;q=0.9,en;q=0.8")),
            Some(Language::Ru)
        );
        assert_eq!(accepted_language(Some("en;q=0.5, ky")), Some(Language::Ky));
        assert_eq!(accepted_language(Some("de, fr;q=0.9")), None);
        assert_eq!(accepted_language(Some("ru;q=0")), None);
        assert_eq!(accepted_language(None), None);
    }
}
