//! Every way a request to the API can fail, and the one status each gets. The problems are built
//! from a `Failure` (errors of the application, refusals of the engine, the extractors' and the
//! middleware's rejections) and the OpenAPI document lists each operation's failures from the
//! same enum, so the statuses the document promises are the statuses the server answers.

use axum::http::StatusCode;

use crate::app::AppError;
use crate::engine::Refusal;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Failure {
    /// A path segment, query parameter, header or body that does not parse.
    Malformed,
    /// No token, or one that is unknown or revoked.
    Unauthenticated,
    /// The caller's role or institution may not do this.
    Forbidden,
    /// What the request names does not exist (or the caller may not see it).
    NotFound,
    /// The state of the procedure or resource does not allow this now.
    Conflict,
    /// `If-Match` names a version that is no longer current.
    Stale,
    /// The body is larger than the limit.
    TooLarge,
    /// The body is not JSON.
    UnsupportedMediaType,
    /// Well-formed, but a value does not fit.
    Invalid,
    /// A write without `If-Match`.
    PreconditionRequired,
    /// Too many failed attempts to authenticate; wait before trying again.
    Throttled,
    /// A fault of the server; the log has the cause under the request id.
    Internal,
    /// The database has no space left for the write; nothing was written.
    StorageFull,
    /// Not ready (the database), or the request took too long.
    Unavailable,
}

impl Failure {
    pub const ALL: [Failure; 14] = [
        Failure::Malformed,
        Failure::Unauthenticated,
        Failure::Forbidden,
        Failure::NotFound,
        Failure::Conflict,
        Failure::Stale,
        Failure::TooLarge,
        Failure::UnsupportedMediaType,
        Failure::Invalid,
        Failure::PreconditionRequired,
        Failure::Throttled,
        Failure::Internal,
        Failure::StorageFull,
        Failure::Unavailable,
    ];

    pub fn status(self) -> StatusCode {
        match self {
            Failure::Malformed => StatusCode::BAD_REQUEST,
            Failure::Unauthenticated => StatusCode::UNAUTHORIZED,
            Failure::Forbidden => StatusCode::FORBIDDEN,
            Failure::NotFound => StatusCode::NOT_FOUND,
            Failure::Conflict => StatusCode::CONFLICT,
            Failure::Stale => StatusCode::PRECONDITION_FAILED,
            Failure::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Failure::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Failure::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
            Failure::PreconditionRequired => StatusCode::PRECONDITION_REQUIRED,
            Failure::Throttled => StatusCode::TOO_MANY_REQUESTS,
            Failure::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Failure::StorageFull => StatusCode::INSUFFICIENT_STORAGE,
            Failure::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The failure answered with `status`, if the API answers it at all.
    pub fn of_status(status: StatusCode) -> Option<Failure> {
        Failure::ALL.into_iter().find(|f| f.status() == status)
    }

    /// What the document says of this failure.
    pub fn description(self) -> &'static str {
        match self {
            Failure::Malformed => {
                "A path segment, query parameter, header or body does not parse; `field` names it."
            }
            Failure::Unauthenticated => {
                "No `Authorization: Bearer <token>`, or the token is unknown or revoked."
            }
            Failure::Forbidden => "The caller's role or institution may not do this.",
            Failure::NotFound => {
                "What the request names does not exist, or the caller may not see it."
            }
            Failure::Conflict => "The state of the procedure or resource does not allow this now.",
            Failure::Stale => {
                "`If-Match` names a version that is no longer current: read it again and retry."
            }
            Failure::TooLarge => "The body is larger than 64 KiB.",
            Failure::UnsupportedMediaType => "The body is not sent as `application/json`.",
            Failure::Invalid => {
                "The request is well-formed but a value does not fit; `field` names it."
            }
            Failure::PreconditionRequired => {
                "A write needs `If-Match` with the procedure's `ETag`."
            }
            Failure::Throttled => {
                "Too many failed attempts to authenticate: wait the `Retry-After` seconds."
            }
            Failure::Internal => "A fault of the server; quote the `request_id` to the operators.",
            Failure::StorageFull => {
                "The database has no space left on its disk; nothing was written. Retry after \
                 `Retry-After` seconds."
            }
            Failure::Unavailable => {
                "Not ready, the database is busy, or the request took longer than 30 seconds."
            }
        }
    }

    /// The failure an error of the application is.
    pub fn of(e: &AppError) -> Failure {
        match e {
            AppError::Refused(r) => Failure::of_refusal(r),
            AppError::Conflict(_) => Failure::Conflict,
            AppError::NotFound { .. } => Failure::NotFound,
            AppError::Invalid(_)
            | AppError::InvalidField { .. }
            | AppError::Import(_)
            | AppError::Workflows(_) => Failure::Invalid,
            AppError::NoSpace(_) => Failure::StorageFull,
            // Nothing is wrong with the request or the service: the same request may go through
            // in a moment (`Retry-After`).
            AppError::Busy(_) => Failure::Unavailable,
            AppError::Config(_) | AppError::Store(_) | AppError::Io(_) => Failure::Internal,
        }
    }

    /// Who may not (403), what is stale (412), what the state of the procedure does not allow now
    /// (409), what is wrong in the request (422).
    pub fn of_refusal(r: &Refusal) -> Failure {
        match r {
            Refusal::NotAllowed { .. }
            | Refusal::NotPermitted { .. }
            | Refusal::ReadOnly { .. }
            | Refusal::Operator { .. }
            | Refusal::RoleNotHeld { .. }
            | Refusal::NotAnApprover { .. } => Failure::Forbidden,
            Refusal::StaleVersion { .. } => Failure::Stale,
            Refusal::FieldInvalid { .. }
            | Refusal::UnknownField { .. }
            | Refusal::Empty { .. }
            | Refusal::ControlCharacter { .. }
            | Refusal::Invalid(_)
            | Refusal::EffectiveDate { .. } => Failure::Invalid,
            Refusal::NoSuchTransition { .. }
            | Refusal::CannotMove { .. }
            | Refusal::ApprovalsMissing { .. }
            | Refusal::NoApprovalsHere { .. }
            | Refusal::AlreadyApproved { .. }
            | Refusal::FieldsMissing { .. }
            | Refusal::Closed { .. }
            | Refusal::Suspended
            | Refusal::NotSuspended
            | Refusal::TimerOutdated { .. }
            | Refusal::DateRefused { .. }
            | Refusal::NotApplicable(_) => Failure::Conflict,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_failure_has_its_own_status() {
        let statuses: std::collections::BTreeSet<u16> =
            Failure::ALL.iter().map(|f| f.status().as_u16()).collect();
        assert_eq!(statuses.len(), Failure::ALL.len());
        for f in Failure::ALL {
            assert_eq!(Failure::of_status(f.status()), Some(f));
        }
        assert_eq!(Failure::of_status(StatusCode::METHOD_NOT_ALLOWED), None);
    }
}
