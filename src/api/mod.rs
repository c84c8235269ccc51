//! The HTTP API (axum): thin handlers that authenticate the caller, call the application and map
//! its errors to RFC 9457 problems. Routes and the OpenAPI 3.1 document come from the same
//! annotated handlers (utoipa-axum), so they cannot disagree; the document's error responses come
//! from the one mapping of failures to statuses (`failure`), which also builds the problems.

// A `Problem` (about 150 bytes) is the error of nearly every function here; it is built once per
// failed request, where boxing it would buy nothing measurable and cost every signature.
#![allow(clippy::result_large_err)]

mod auth;
mod catalog;
mod client;
mod etag;
mod failure;
mod idempotency;
mod json;
mod links;
mod middleware;
mod ops;
mod problem;
mod procedures;
mod query;
mod responses;
mod schema;
mod throttle;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use tokio::net::TcpListener;
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

pub use auth::Caller;
pub use client::ClientAddress;
pub use problem::Problem;
use schema::BearerAuth;
pub use throttle::{Client, Locked, Throttle};

use crate::app::Accession;

/// What every handler gets.
#[derive(Clone)]
pub struct ApiState {
    pub app: Arc<Accession>,
    /// The budget of authentication failures of each client (`server.auth_failures_*`).
    pub throttle: Arc<Throttle>,
}

impl ApiState {
    pub fn new(app: Arc<Accession>) -> ApiState {
        let server = &app.settings.server;
        let throttle = Throttle::new(
            server.auth_failures_per_minute,
            server.auth_failures_burst,
            Arc::clone(&app.clock),
        );
        ApiState {
            app,
            throttle: Arc::new(throttle),
        }
    }
}

/// How often clients whose failure budget refilled are forgotten.
const FORGET_REFILLED_EVERY: Duration = Duration::from_secs(60);

/// The largest request body accepted.
pub const BODY_LIMIT: usize = 64 * 1024;
/// A request still running after this is answered with 408.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

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
        (name = "reference", description = "Workflows, conventions and institutions"),
        (name = "operations", description = "Outbox, timers, tokens, health and metrics"),
    )
)]
struct ApiDoc;

/// The routes and the OpenAPI document that describes them, with every operation's error
/// responses and links added once all are known.
pub fn routes() -> (Router<ApiState>, utoipa::openapi::OpenApi) {
    let (router, mut document) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(procedures::routes())
        .merge(catalog::routes())
        .merge(ops::routes())
        .split_for_parts();
    responses::ErrorResponses.modify(&mut document);
    links::Links.modify(&mut document);
    (router, document)
}

/// The whole application: the routes with the document at `/api/openapi.json`, and the
/// middleware (request id, problems for every error, panics, body limit, timeout, metrics).
pub fn router(state: ApiState) -> Router {
    let (routes, document) = routes();
    let document = Arc::new(document);
    let routes = routes
        .route(
            "/api/openapi.json",
            axum::routing::get(move || {
                let document = Arc::clone(&document);
                async move { axum::Json(document.as_ref().clone()) }
            }),
        )
        .merge(crate::web::routes())
        .layer(DefaultBodyLimit::max(BODY_LIMIT));
    middleware::wrap(routes, state)
}

/// Serve on `listener` until `shutdown` completes, then finish the requests in flight.
/// Each connection's peer address is kept for the failure budgets.
pub async fn serve(
    app: Arc<Accession>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let state = ApiState::new(app);
    let throttle = Arc::clone(&state.throttle);
    // Memory holds only the clients that failed recently.
    let housekeeping = tokio::spawn(async move {
        let mut every = tokio::time::interval(FORGET_REFILLED_EVERY);
        loop {
            every.tick().await;
            throttle.forget_refilled();
        }
    });
    let served = axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await;
    housekeeping.abort();
    served
}
