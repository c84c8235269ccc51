//! Who is calling: the bearer token, looked up by its hash, gives an institution, a role and a
//! name. Unknown or revoked: 401, and one failure spent from the client's budget (429 once it
//! is spent; see `throttle`). What a caller may do is the engine's rule (acts) and
//! `Actor::may_read` (which procedures a ministry sees).

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::HttpState;
use super::client::ClientAddress;
use super::problem::Problem;
use crate::engine::{Actor, Permission};

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub actor: Actor,
    pub token_id: i64,
}

impl Caller {
    /// Refused with 403 unless the caller's role holds `permission` (the engine's one rule, which
    /// the pages and the CLI ask too).
    pub fn may(&self, permission: Permission) -> Result<(), Problem> {
        self.actor
            .may(permission)
            .map_err(|refusal| crate::app::AppError::Refused(refusal).into())
    }
}

impl FromRequestParts<HttpState> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &HttpState) -> Result<Self, Problem> {
        let Some(header) = parts.headers.get(AUTHORIZATION) else {
            // No credential, no guess: not counted against the client.
            return Err(Problem::unauthenticated(
                "no Authorization header: send `Authorization: Bearer <token>` \
                 (tokens come from `accession tokens create`)",
            ));
        };
        // A client that has spent its failure budget is refused before its credential is
        // looked at, so a right guess then is not told apart from a wrong one.
        let ClientAddress(client) = ClientAddress::of(parts, state);
        state
            .throttle
            .admit(client)
            .map_err(Problem::too_many_failures)?;
        let failed = |problem: Problem| match state.throttle.fail(client) {
            Ok(()) => problem,
            Err(locked) => Problem::too_many_failures(locked),
        };
        let header = header.to_str().map_err(|_| {
            failed(Problem::unauthenticated(
                "the Authorization header is not text",
            ))
        })?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                failed(Problem::unauthenticated(
                    "the Authorization header is not `Bearer <token>`",
                ))
            })?;
        match state.app.authenticate(token).await {
            Ok(Some((row, actor))) => Ok(Caller {
                actor,
                token_id: row.id,
            }),
            Ok(None) => Err(failed(Problem::unauthenticated(
                "the token is unknown or has been revoked",
            ))),
            Err(e) => Err(e.into()),
        }
    }
}
