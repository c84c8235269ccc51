//! RFC 9457 problem details: every error the API returns, with a stable `type` per kind — the
//! same kinds as the CLI's (`AppError::kind`) — the HTTP status, a sentence saying what is wrong,
//! the field at fault for validation errors, and the request id (added by the middleware).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::app::AppError;
use crate::engine::Refusal;

pub const CONTENT_TYPE: &str = "application/problem+json";

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
    /// Seconds for `Retry-After` (a 429), sent as that header rather than in the body.
    #[serde(skip)]
    pub retry_after: Option<u64>,
}

impl Problem {
    pub fn new(status: StatusCode, kind: &str, detail: impl Into<String>) -> Problem {
        Problem {
            type_: type_uri(kind),
            title: title(kind, status),
            status: status.as_u16(),
            detail: detail.into(),
            instance: None,
            field: None,
            request_id: None,
            retry_after: None,
        }
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Problem {
        self.field = Some(field.into());
        self
    }

    pub fn unauthenticated(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::UNAUTHORIZED, "unauthenticated", detail)
    }

    pub fn forbidden(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::FORBIDDEN, "not-allowed", detail)
    }

    /// 429: the client has spent its budget of authentication failures.
    pub fn too_many_failures(locked: super::Locked) -> Problem {
        let seconds = locked.seconds();
        let mut problem = Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
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
        "internal" => "Internal error".into(),
        "too-many-requests" => "Too many failed authentications".into(),
        _ => status.canonical_reason().unwrap_or("Error").to_string(),
    }
}

/// The status of a refusal: who may not (403), what is stale (412), what the state of the
/// procedure does not allow now (409), what is wrong in the request (422).
fn refusal_status(r: &Refusal) -> StatusCode {
    match r {
        Refusal::NotAllowed { .. } | Refusal::ReadOnly { .. } | Refusal::NotAnApprover { .. } => {
            StatusCode::FORBIDDEN
        }
        Refusal::StaleVersion { .. } => StatusCode::PRECONDITION_FAILED,
        Refusal::FieldInvalid { .. }
        | Refusal::UnknownField { .. }
        | Refusal::Empty { .. }
        | Refusal::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
        _ => StatusCode::CONFLICT,
    }
}

impl From<AppError> for Problem {
    fn from(e: AppError) -> Problem {
        let status = match &e {
            AppError::Refused(r) => refusal_status(r),
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::NotFound { .. } => StatusCode::NOT_FOUND,
            AppError::Invalid(_) | AppError::Import(_) | AppError::Workflows(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            AppError::Config(_) | AppError::Store(_) | AppError::Io(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            // The cause goes to the log with the request id; the client gets the id only.
            tracing::error!(error = %e, "internal error");
            return Problem::new(
                status,
                "internal",
                "an internal error occurred; quote the request id to the operators",
            );
        }
        let field = match &e {
            AppError::Refused(Refusal::FieldInvalid { field, .. })
            | AppError::Refused(Refusal::UnknownField { field, .. }) => Some(field.to_string()),
            _ => None,
        };
        let detail = match &e {
            AppError::Refused(r) => r.to_string(),
            other => other.to_string(),
        };
        let mut problem = Problem::new(status, e.kind(), detail);
        problem.field = field;
        problem
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let unauthenticated = status == StatusCode::UNAUTHORIZED;
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (status, body).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
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
