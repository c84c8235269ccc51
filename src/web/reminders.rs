//! The coming reminders, escalations and deadlines of every procedure.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::TimeDelta;
use serde::Serialize;

use super::layout::{PageBody, app_error_page, local, require, show, zone_of};
use super::session::SignedIn;
use crate::engine::Permission;
use crate::http::HttpState;
use crate::ids::{InstitutionId, ProcedureId, StageId};

/// The timers of the coming year, soonest first, at the viewer's local time.
#[derive(Debug, Serialize)]
struct RemindersPage {
    timers: Vec<Line>,
    zone: &'static str,
}

impl PageBody for RemindersPage {
    const TEMPLATE: &'static str = "reminders.html";
}

#[derive(Debug, Serialize)]
struct Line {
    at: String,
    procedure: ProcedureId,
    stage: StageId,
    kind: &'static str,
    rule: String,
    recipients: Vec<InstitutionId>,
}

pub async fn reminders(
    State(state): State<HttpState>,
    SignedIn { visitor: v, caller }: SignedIn,
) -> Response {
    if let Err(r) = require(&v, &caller, Permission::ReadTimers) {
        return r;
    }
    let zone = zone_of(&state, &caller.actor.institution).await;
    let until = state.app.now() + TimeDelta::days(366);
    match state
        .app
        .upcoming_timers(&caller.actor, until, None, 500)
        .await
        .map(|(rows, _)| rows)
    {
        Ok(rows) => {
            let timers = rows
                .into_iter()
                .map(|c| Line {
                    at: local(c.timer.fire_at, zone),
                    procedure: c.procedure,
                    stage: c.timer.stage,
                    kind: c.timer.kind.as_str(),
                    rule: crate::locale::rule_in_words(&c.timer.rule, v.language),
                    recipients: c.timer.recipients,
                })
                .collect();
            show(
                &v,
                StatusCode::OK,
                &RemindersPage {
                    timers,
                    zone: zone.name(),
                },
            )
        }
        Err(e) => app_error_page(&v, e),
    }
}
