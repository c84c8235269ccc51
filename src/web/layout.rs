//! What every page shares: the layout's context (who is signed in, the language, the CSRF
//! secret), redirects and error pages in the visitor's language, and the small readings pages
//! make of times, zones and institution names.

// A page handler's early exit is a whole response (a redirect, an error page): returned once per
// request, where boxing would only add noise.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Deserialize;
use serde_json::{Value, json};

use super::render::{page, strings, text};
use super::session::{Visitor, over_https};
use crate::app::AppError;
use crate::engine::Permission;
use crate::http::{Caller, HttpState};
use crate::ids::InstitutionId;
use crate::reference::Language;

pub type Form = BTreeMap<String, String>;

pub fn secure(state: &HttpState) -> bool {
    over_https(state)
}

pub fn redirect(to: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// What every page's layout needs.
pub fn context(v: &Visitor, extra: Value) -> minijinja::Value {
    let me = v.session.as_ref().map(|s| {
        json!({
            "name": s.actor.name,
            "institution": s.actor.institution,
            "role": s.actor.role.as_str(),
            "reads_all": s.actor.may(Permission::ReadAudit).is_ok(),
            // Which pages the menu shows: the same rule as the API's (`Actor::may`).
            "manages": s.actor.may(Permission::ReadOutbox).is_ok(),
            "sees_timers": s.actor.may(Permission::ReadTimers).is_ok(),
        })
    });
    let mut base = json!({
        "tr": strings(v.language),
        "lang": super::render::page_language(v.language).as_str(),
        "me": me,
        "csrf": v.session.as_ref().map(|s| s.row.csrf.clone()),
        "path": v.path,
    });
    if let (Some(base), Some(extra)) = (base.as_object_mut(), extra.as_object()) {
        for (k, val) in extra {
            base.insert(k.clone(), val.clone());
        }
    }
    minijinja::Value::from(minijinja::value::Serde(base))
}

pub fn error_page(
    v: &Visitor,
    status: StatusCode,
    heading: &str,
    detail: impl Into<String>,
) -> Response {
    page(
        status,
        "error.html",
        context(
            v,
            json!({"heading": text(v.language, heading), "detail": detail.into()}),
        ),
    )
}

pub fn app_error_page(v: &Visitor, e: AppError) -> Response {
    let problem = crate::http::Problem::from(e);
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let heading = match status {
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::FORBIDDEN => "forbidden",
        _ => "error",
    };
    error_page(v, status, heading, problem.detail)
}

/// The signed-in caller, or a redirect to the sign-in page.
pub fn signed_in(v: &Visitor) -> Result<Caller, Response> {
    v.caller().ok_or_else(|| redirect("/sign-in"))
}

/// The form's CSRF secret matches the session's, or 403.
pub fn checked(v: &Visitor, form: &Form) -> Result<Caller, Response> {
    let caller = signed_in(v)?;
    let session = v.session.as_ref().expect("signed in");
    match form.get("csrf") {
        Some(token) if session.csrf_matches(token) => Ok(caller),
        _ => Err(error_page(
            v,
            StatusCode::FORBIDDEN,
            "forbidden",
            "this form has expired or did not come from this site; reload the page and try again",
        )),
    }
}

/// The institution's time zone, as the engine counts its days.
pub async fn zone_of(state: &HttpState, institution: &InstitutionId) -> Tz {
    match state.app.people().await {
        Ok(people) => people.zones.of(institution),
        Err(_) => state.app.settings.calendar.time_zone,
    }
}

/// An institution's name in the page's language, or its id.
pub fn name_of(
    list: &[crate::reference::Institution],
    id: &InstitutionId,
    language: Language,
) -> String {
    match list.iter().find(|i| &i.id == id) {
        Some(i) if super::render::page_language(language) == Language::Ru => {
            i.name_ru.clone().unwrap_or_else(|| i.name.clone())
        }
        Some(i) => i.name.clone(),
        None => id.to_string(),
    }
}

pub fn local(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string()
}

pub fn some(text: &Option<String>) -> Option<&str> {
    text.as_deref().map(str::trim).filter(|t| !t.is_empty())
}

/// 403, as a page, unless the caller's role holds `permission` (the API's own check and words).
pub fn require(v: &Visitor, caller: &Caller, permission: Permission) -> Result<(), Response> {
    caller
        .may(permission)
        .map_err(|problem| error_page(v, StatusCode::FORBIDDEN, "forbidden", problem.detail))
}

/// The query of a page an act redirects back to: what was done.
#[derive(Debug, Default, Deserialize)]
pub struct DoneQuery {
    pub done: Option<String>,
}
