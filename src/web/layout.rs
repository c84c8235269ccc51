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
use serde::{Deserialize, Serialize};

use super::render::{page, page_language, strings, text};
use super::session::{Visitor, over_https};
use crate::app::AppError;
use crate::audit::ChainRow;
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

/// What `base.html` reads on every page: the strings and language, who is signed in (for the
/// menu and the sign-out form), the session's CSRF secret and where the visitor is.
#[derive(Debug, Serialize)]
pub struct Layout {
    tr: &'static BTreeMap<String, String>,
    lang: &'static str,
    me: Option<Me>,
    /// The session's secret; on the sign-in page, the secret of its double-submit cookie.
    csrf: Option<String>,
    path: String,
}

/// The signed-in person, as the page header shows them.
#[derive(Debug, Serialize)]
struct Me {
    name: String,
    institution: InstitutionId,
    role: &'static str,
    // Which pages the menu shows: the same rule as the API's (`Actor::may`).
    reads_all: bool,
    manages: bool,
    sees_timers: bool,
    /// Sees the accounts, tokens and sessions page.
    administers: bool,
}

impl Layout {
    pub fn of(v: &Visitor) -> Layout {
        let me = v.session.as_ref().map(|s| Me {
            name: s.actor.name.clone(),
            institution: s.actor.institution.clone(),
            role: s.actor.role.as_str(),
            reads_all: s.actor.may(Permission::ReadAudit).is_ok(),
            manages: s.actor.may(Permission::ReadOutbox).is_ok(),
            sees_timers: s.actor.may(Permission::ReadTimers).is_ok(),
            administers: s.actor.may(Permission::ManageAccounts).is_ok(),
        });
        Layout {
            tr: strings(v.language),
            lang: page_language(v.language).as_str(),
            me,
            csrf: v.session.as_ref().map(|s| s.row.csrf.clone()),
            path: v.path.clone(),
        }
    }

    /// The layout of a page whose forms carry `csrf` instead of a session's secret.
    pub fn with_csrf(self, csrf: String) -> Layout {
        Layout {
            csrf: Some(csrf),
            ..self
        }
    }
}

/// A page's own context: the template it fills and, as fields, every value that template reads
/// (rendered with strict undefined variables: a value a template names and the struct lacks is
/// an error, not a blank).
pub trait PageBody: Serialize {
    const TEMPLATE: &'static str;
}

/// The context a template is rendered with: the layout's values beside the page's own.
#[derive(Serialize)]
struct Context<'a, T> {
    #[serde(flatten)]
    layout: &'a Layout,
    #[serde(flatten)]
    body: &'a T,
}

/// Page `body` with `layout`.
pub fn show_with<T: PageBody>(layout: &Layout, status: StatusCode, body: &T) -> Response {
    page(status, T::TEMPLATE, &Context { layout, body })
}

/// Page `body` as `v` sees it.
pub fn show<T: PageBody>(v: &Visitor, status: StatusCode, body: &T) -> Response {
    show_with(&Layout::of(v), status, body)
}

/// An error page: what went wrong, in the visitor's language, and the detail.
#[derive(Debug, Serialize)]
pub struct ErrorPage {
    pub heading: String,
    pub detail: String,
}

impl PageBody for ErrorPage {
    const TEMPLATE: &'static str = "error.html";
}

/// A flash message on a page: an act `done`, or `refused` and why.
#[derive(Debug, Serialize)]
pub struct Flash {
    pub kind: &'static str,
    pub text: String,
}

pub fn error_page(
    v: &Visitor,
    status: StatusCode,
    heading: &str,
    detail: impl Into<String>,
) -> Response {
    show(
        v,
        status,
        &ErrorPage {
            heading: text(v.language, heading),
            detail: detail.into(),
        },
    )
}

pub fn app_error_page(v: &Visitor, e: AppError) -> Response {
    // A refusal (a 403's explanation among them) in the reader's language.
    let words = match &e {
        AppError::Refused(r) => Some(crate::locale::refusal(
            r,
            v.language,
            crate::locale::Names::default(),
        )),
        _ => None,
    };
    let mut problem = crate::http::Problem::from(e);
    if let Some(words) = words {
        problem.detail = words;
    }
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let heading = match status {
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::FORBIDDEN => "forbidden",
        _ => "error",
    };
    error_page(v, status, heading, problem.detail)
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
        Some(i) => i.name_in(language).to_string(),
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
    caller.actor.may(permission).map_err(|refusal| {
        let words = crate::locale::refusal(&refusal, v.language, crate::locale::Names::default());
        error_page(v, StatusCode::FORBIDDEN, "forbidden", words)
    })
}

/// The query of a page an act redirects back to: what was done.
#[derive(Debug, Default, Deserialize)]
pub struct DoneQuery {
    pub done: Option<String>,
}

/// A history row at the viewer's local time (the procedure's page and the audit page).
#[derive(Debug, Serialize)]
pub struct HistoryLine {
    procedure_id: String,
    sequence: i64,
    /// When it was recorded.
    at: String,
    /// When it took effect, if stated (`None`: as recorded).
    effective_on: Option<String>,
    effective_approximate: bool,
    retrospective: bool,
    actor_institution: String,
    actor_name: String,
    actor_role: String,
    command: String,
    from_stage: Option<String>,
    to_stage: Option<String>,
    comment: Option<String>,
}

impl HistoryLine {
    pub fn of(h: &ChainRow, zone: Tz) -> HistoryLine {
        HistoryLine {
            procedure_id: h.procedure_id.clone(),
            sequence: h.sequence,
            at: local(h.at, zone),
            effective_on: h.effective_on.map(|d| d.to_string()),
            effective_approximate: h.effective_approximate,
            retrospective: h.retrospective,
            actor_institution: h.actor_institution.clone(),
            actor_name: h.actor_name.clone(),
            actor_role: h.actor_role.clone(),
            command: h.command.clone(),
            from_stage: h.from_stage.clone(),
            to_stage: h.to_stage.clone(),
            comment: h.comment.clone(),
        }
    }
}
