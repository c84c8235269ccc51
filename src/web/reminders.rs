//! The coming reminders, escalations and deadlines of every procedure.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::TimeDelta;
use serde_json::{Value, json};

use super::layout::{app_error_page, context, local, require, signed_in, zone_of};
use super::render::page;
use super::session::Visitor;
use crate::engine::Permission;
use crate::http::HttpState;

pub async fn reminders(State(state): State<HttpState>, v: Visitor) -> Response {
    let caller = match signed_in(&v) {
        Ok(c) => c,
        Err(r) => return r,
    };
    if let Err(r) = require(&v, &caller, Permission::ReadTimers) {
        return r;
    }
    let zone = zone_of(&state, &caller.actor.institution).await;
    let until = state.app.now() + TimeDelta::days(366);
    match state.app.store.upcoming_timers(until, 500).await {
        Ok(rows) => {
            let timers: Vec<Value> = rows
                .into_iter()
                .map(|c| json!({
                    "at": local(c.timer.fire_at, zone), "procedure": c.procedure, "stage": c.timer.stage,
                    "kind": c.timer.kind.as_str(), "rule": c.timer.rule, "recipients": c.timer.recipients,
                }))
                .collect();
            page(
                StatusCode::OK,
                "reminders.html",
                context(&v, json!({"timers": timers, "zone": zone.name()})),
            )
        }
        Err(e) => app_error_page(&v, e.into()),
    }
}
