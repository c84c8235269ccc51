//! Web pages for people: server-rendered HTML, with pictures drawn on the server and no JavaScript.
//! Sign-in with an API token gives an HTTP-only session cookie; every form carries the session's
//! CSRF secret; what a page shows and what its forms do follow the same rules as the API.
//! One module per area (session, dashboard, procedure, audit, outbox, reminders, calendar);
//! `layout` is what every page shares, `render` the templates and strings.

mod accounts;
mod audit;
mod calendar;
mod chart;
mod dashboard;
pub mod ics;
mod layout;
mod outbox;
mod procedure;
mod reminders;
mod render;
mod session;
pub mod svg;

use axum::Router;
use axum::routing::{get, post};

use crate::http::HttpState;

/// The pages, merged beside the API by `server::router`.
pub fn routes() -> Router<HttpState> {
    Router::new()
        .route("/", get(dashboard::dashboard))
        .route(
            "/sign-in",
            get(session::sign_in_page).post(session::sign_in),
        )
        .route("/sign-in/email", post(accounts::request_link))
        .route(
            "/sign-in/link",
            get(accounts::link_page).post(accounts::use_link),
        )
        .route("/sign-out", post(session::sign_out))
        .route(
            "/accounts",
            get(accounts::admin_page).post(accounts::create),
        )
        .route("/accounts/{id}/disable", post(accounts::disable))
        .route("/tokens/{id}/revoke", post(accounts::revoke_token))
        .route("/sessions/{id}/end", post(accounts::end_session))
        .route("/lang", get(session::language))
        .route("/procedures/{id}", get(procedure::procedure))
        .route("/procedures/{id}/act", post(procedure::act))
        .route("/audit", get(audit::audit))
        .route("/audit/{file}", get(audit::audit_export))
        .route("/outbox", get(outbox::outbox))
        .route("/outbox/{id}/retry", post(outbox::outbox_retry))
        .route("/reminders", get(reminders::reminders))
        .route("/chart", get(chart::chart))
        .route("/calendar-feed", post(calendar::renew_feed))
        .route("/calendar/{file}", get(calendar::calendar))
}
