//! The whole service over HTTP: the API (`crate::api`, with its OpenAPI document) and the pages
//! (`crate::web`) side by side, inside the shared middleware (`crate::http`).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use tokio::net::TcpListener;

use crate::app::Accession;
use crate::http::{self, BODY_LIMIT, HttpState};

/// How often clients whose failure budget refilled are forgotten.
const FORGET_REFILLED_EVERY: Duration = Duration::from_secs(60);

/// The whole application: the API's routes with their document at `/api/openapi.json`, the
/// pages, and the middleware around both.
pub fn router(state: HttpState) -> Router {
    let (routes, document) = crate::api::routes();
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
    http::middleware::wrap(routes, state)
}

/// Serve on `listener` until `shutdown` completes, then finish the requests in flight.
/// Each connection's peer address is kept for the failure budgets.
pub async fn serve(
    app: Arc<Accession>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let state = HttpState::new(app);
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
