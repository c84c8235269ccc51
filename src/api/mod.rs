//! The HTTP API (axum): thin handlers that authenticate the caller, call the application and map
//! its errors to RFC 9457 problems. Routes and the OpenAPI 3.1 document come from the same
//! annotated handlers (utoipa-axum), so they cannot disagree; the document's error responses come
//! from the one mapping of failures to statuses (`http::failure`), which also builds the problems.
//! The plumbing it shares with the pages (state, caller, problems, middleware) is `crate::http`.

// A `Problem` (about 150 bytes) is the error of nearly every function here; it is built once per
// failed request, where boxing it would buy nothing measurable and cost every signature.
#![allow(clippy::result_large_err)]

mod accounts;
mod audit;
mod catalog;
mod chart;
mod etag;
mod idempotency;
mod json;
mod links;
mod ops;
mod procedures;
mod query;
mod reservations;
mod responses;
mod schema;
mod treaty;

use axum::Router;
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use schema::BearerAuth;

use crate::http::HttpState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Accession",
        description = "How a State joins international conventions: procedures, their stages, \
                       history and deadlines. Every request but /healthz, /readyz, /metrics and \
                       /api/openapi.json needs `Authorization: Bearer <token>`. Writes to a \
                       procedure need `If-Match` with its `ETag`. Errors are RFC 9457 problems. A \
                       client whose authentications failed too often is answered 429, good \
                       token or not, until the `Retry-After` seconds have passed."
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    tags(
        (name = "procedures", description = "Procedures, their acts and history"),
        (name = "reference", description = "Workflows, conventions, States and institutions"),
        (name = "operations", description = "Outbox, timers, accounts, tokens, sessions, health and metrics"),
    )
)]
struct ApiDoc;

/// The routes and the OpenAPI document that describes them, with every operation's error
/// responses and links added once all are known.
pub fn routes() -> (Router<HttpState>, utoipa::openapi::OpenApi) {
    let (router, mut document) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(procedures::routes())
        .merge(treaty::routes())
        .merge(reservations::routes())
        .merge(chart::routes())
        .merge(catalog::routes())
        .merge(ops::routes())
        .merge(audit::routes())
        .merge(accounts::routes())
        .split_for_parts();
    responses::ErrorResponses.modify(&mut document);
    links::Links.modify(&mut document);
    (router, document)
}
