//! The coordinator's outbox: the emails and their state, and a retry for a dead one.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;

use super::layout::{
    DoneQuery, Flash, PageBody, app_error_page, local, redirect, require, show, some, zone_of,
};
use super::session::{CsrfChecked, SignedIn};
use crate::app::AppError;
use crate::engine::{NotificationKind, Permission};
use crate::http::HttpState;
use crate::store::OutboxCounts;

/// The outbox: the newest emails, the count in each state, what was just retried.
#[derive(Debug, Serialize)]
struct OutboxPage {
    rows: Vec<Line>,
    counts: OutboxCounts,
    flash: Option<Flash>,
}

impl PageBody for OutboxPage {
    const TEMPLATE: &'static str = "outbox.html";
}

/// An email, at the viewer's local time (when it was sent, or when it is next tried).
#[derive(Debug, Serialize)]
struct Line {
    id: i64,
    status: &'static str,
    kind: NotificationKind,
    recipient_institution: String,
    procedure: Option<String>,
    attempts: i32,
    when: String,
    last_error: Option<String>,
}

pub async fn outbox(
    State(state): State<HttpState>,
    Query(q): Query<DoneQuery>,
    SignedIn { visitor: v, caller }: SignedIn,
) -> Response {
    if let Err(r) = require(&v, &caller, Permission::ReadOutbox) {
        return r;
    }
    let result = async {
        let zone = zone_of(&state, &caller.actor.institution).await;
        let rows = state
            .app
            .outbox_page(&caller.actor, None, None, 200)
            .await?
            .0
            .into_iter()
            .map(|r| Line {
                id: r.id,
                status: r.status.as_str(),
                kind: r.kind,
                recipient_institution: r.recipient_institution,
                procedure: r.procedure,
                attempts: r.attempts,
                when: local(r.sent_at.unwrap_or(r.next_attempt_at), zone),
                last_error: r.last_error,
            })
            .collect();
        let counts = state.app.outbox_counts(&caller.actor).await?;
        // Only `#` and a number: a crafted link cannot make the page say anything else.
        let flash = some(&q.done)
            .filter(|t| {
                t.strip_prefix('#')
                    .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            })
            .map(|t| Flash {
                kind: "done",
                text: t.to_string(),
            });
        Ok::<_, AppError>(show(
            &v,
            StatusCode::OK,
            &OutboxPage {
                rows,
                counts,
                flash,
            },
        ))
    }
    .await;
    result.unwrap_or_else(|e| app_error_page(&v, e))
}

pub async fn outbox_retry(
    State(state): State<HttpState>,
    Path(id): Path<i64>,
    CsrfChecked {
        visitor: v,
        caller,
        form: _,
    }: CsrfChecked,
) -> Response {
    match state.app.retry_email(&caller.actor, id).await {
        Ok(_) => redirect(&format!("/outbox?done=%23{id}")),
        Err(e) => app_error_page(&v, e),
    }
}
