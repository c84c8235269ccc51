//! Web pages for people: server-rendered HTML, with pictures drawn on the server and no JavaScript.
//! Sign-in with an API token gives an HTTP-only session cookie; every form carries the session's
//! CSRF secret; what a page shows and what its forms do follow the same rules as the API.

mod checkpoints;
pub mod ics;
mod pages;
mod render;
mod session;
pub mod svg;

use axum::Router;
use axum::routing::{get, post};

use crate::http::HttpState;

/// The pages, merged beside the API by `server::router`.
pub fn routes() -> Router<HttpState> {
    Router::new()
        .route("/", get(pages::dashboard))
        .route("/sign-in", get(pages::sign_in_page).post(pages::sign_in))
        .route("/sign-out", post(pages::sign_out))
        .route("/lang", get(pages::language))
        .route("/procedures/{id}", get(pages::procedure))
        .route("/procedures/{id}/act", post(pages::act))
        .route("/audit", get(pages::audit))
        .route("/audit/{file}", get(pages::audit_export))
        .route("/outbox", get(pages::outbox))
        .route("/outbox/{id}/retry", post(pages::outbox_retry))
        .route("/reminders", get(pages::reminders))
        .route("/calendar-feed", post(pages::renew_feed))
        .route("/calendar/{file}", get(pages::calendar))
}
