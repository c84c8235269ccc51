//! The pages: sign-in and sign-out, the dashboard matrix, a procedure (timeline, workflow,
//! history, the forms of the acts the institution may do now), the auditor's history and
//! exports, the coordinator's outbox and reminders, and an iCalendar feed per institution.
//! The same rules as the API: the engine decides acts; `Caller` decides what may be read.

// A page handler's early exit is a whole response (a redirect, an error page): returned once per
// request, where boxing would only add noise.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use chrono_tz::Tz;
use serde::Deserialize;
use serde_json::{Value, json};

use super::render::{page, strings, text};
use super::session::{
    CSRF_COOKIE, LANG_COOKIE, SESSION_COOKIE, Visitor, cookie, over_https, session_max_age,
    set_cookie,
};
use super::svg;
use crate::app::{AppError, Moves, random_secret};
use crate::audit::ChainRow;
use crate::engine::{Act, Command, Permission, ProcedureState};
use crate::http::{Caller, ClientAddress, HttpState, Locked};
use crate::ids::{ConventionId, InstitutionId, ProcedureId, StageId};
use crate::reference::Language;
use crate::store::{HistoryFilter, ProcedureFilter};
use crate::workflow::FieldKind;

type Form = BTreeMap<String, String>;

fn secure(state: &HttpState) -> bool {
    over_https(state)
}

fn redirect(to: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// What every page's layout needs.
fn context(v: &Visitor, extra: Value) -> minijinja::Value {
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

fn error_page(
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

fn app_error_page(v: &Visitor, e: AppError) -> Response {
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
fn signed_in(v: &Visitor) -> Result<Caller, Response> {
    v.caller().ok_or_else(|| redirect("/sign-in"))
}

/// The form's CSRF secret matches the session's, or 403.
fn checked(v: &Visitor, form: &Form) -> Result<Caller, Response> {
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
async fn zone_of(state: &HttpState, institution: &InstitutionId) -> Tz {
    match state.app.people().await {
        Ok(people) => people.zones.of(institution),
        Err(_) => state.app.settings.calendar.time_zone,
    }
}

/// An institution's name in the page's language, or its id.
fn name_of(
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

fn local(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string()
}

// ---------------------------------------------------------------------------------------------
// Signing in and out, language.

pub async fn sign_in_page(State(state): State<HttpState>, v: Visitor) -> Response {
    if v.session.is_some() {
        return redirect("/");
    }
    sign_in_form(&state, &v, false, StatusCode::OK)
}

fn sign_in_form(state: &HttpState, v: &Visitor, failed: bool, status: StatusCode) -> Response {
    let csrf = match random_secret() {
        Ok(c) => c,
        Err(e) => return app_error_page(v, e),
    };
    let mut response = page(
        status,
        "sign_in.html",
        context(v, json!({"failed": failed, "csrf": csrf})),
    );
    set_cookie(
        response.headers_mut(),
        CSRF_COOKIE,
        &csrf,
        3600,
        secure(state),
    );
    response
}

/// 429, as a page in the visitor's language, with `Retry-After`.
fn too_many_failures(v: &Visitor, locked: Locked) -> Response {
    let seconds = locked.seconds();
    let detail = text(v.language, "too_many_failures").replace("{seconds}", &seconds.to_string());
    let mut response = error_page(v, StatusCode::TOO_MANY_REQUESTS, "too_many", detail);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}

pub async fn sign_in(
    State(state): State<HttpState>,
    v: Visitor,
    ClientAddress(client): ClientAddress,
    headers: HeaderMap,
    axum::Form(form): axum::Form<Form>,
) -> Response {
    // Double submit: the form's secret must be the cookie's, so no other site can sign a
    // browser in with its own token.
    let expected = cookie(&headers, CSRF_COOKIE, secure(&state));
    let given = form.get("csrf");
    let same = matches!((&expected, given), (Some(a), Some(b)) if a.len() == 64 && a == b);
    if !same {
        return error_page(
            &v,
            StatusCode::FORBIDDEN,
            "forbidden",
            "the sign-in form has expired; reload it",
        );
    }
    // A client that has spent its failure budget is refused before the token is looked at.
    if let Err(locked) = state.throttle.admit(client) {
        return too_many_failures(&v, locked);
    }
    let token = form.get("token").map(|t| t.trim()).unwrap_or_default();
    match state.app.sign_in(token).await {
        Ok(Some(session)) => {
            let mut response = redirect("/");
            let h = response.headers_mut();
            set_cookie(
                h,
                SESSION_COOKIE,
                &session.cookie,
                session_max_age(),
                secure(&state),
            );
            set_cookie(h, CSRF_COOKIE, "", 0, secure(&state));
            set_cookie(
                h,
                LANG_COOKIE,
                session.language.as_str(),
                session_max_age(),
                secure(&state),
            );
            response
        }
        Ok(None) => match state.throttle.fail(client) {
            Ok(()) => sign_in_form(&state, &v, true, StatusCode::UNAUTHORIZED),
            Err(locked) => too_many_failures(&v, locked),
        },
        Err(e) => app_error_page(&v, e),
    }
}

pub async fn sign_out(
    State(state): State<HttpState>,
    v: Visitor,
    axum::Form(form): axum::Form<Form>,
) -> Response {
    if let Err(r) = checked(&v, &form) {
        return r;
    }
    if let Some(c) = &v.cookie
        && let Err(e) = state.app.sign_out(c).await
    {
        return app_error_page(&v, e);
    }
    let mut response = redirect("/sign-in");
    set_cookie(
        response.headers_mut(),
        SESSION_COOKIE,
        "",
        0,
        secure(&state),
    );
    response
}

/// A path of this site and nothing else: `/` then visible ASCII, never `//` or `/\` (which
/// browsers read as another host), no whitespace or control character (which they strip).
fn local_path(path: &str) -> bool {
    let bytes = path.as_bytes();
    bytes.first() == Some(&b'/')
        && !matches!(bytes.get(1), Some(b'/' | b'\\'))
        && bytes
            .iter()
            .all(|b| (0x21..=0x7e).contains(b) && *b != b'\\')
}

#[derive(Deserialize)]
pub struct LangQuery {
    to: String,
    back: Option<String>,
}

pub async fn language(
    State(state): State<HttpState>,
    v: Visitor,
    Query(q): Query<LangQuery>,
) -> Response {
    let language = match Language::parse(&q.to) {
        Some(l @ (Language::En | Language::Ru)) => l,
        _ => Language::En,
    };
    // Only a path of this site: never a redirect elsewhere.
    let back = q
        .back
        .filter(|b| local_path(b))
        .unwrap_or_else(|| "/".into());
    if let Some(s) = &v.session
        && let Err(e) = state.app.set_session_language(s, language).await
    {
        return app_error_page(&v, e);
    }
    let mut response = redirect(&back);
    set_cookie(
        response.headers_mut(),
        LANG_COOKIE,
        language.as_str(),
        session_max_age(),
        secure(&state),
    );
    response
}

// ---------------------------------------------------------------------------------------------
// The dashboard.

#[derive(Debug, Default, Deserialize)]
pub struct DashboardQuery {
    convention: Option<String>,
    institution: Option<String>,
    status: Option<String>,
    overdue: Option<String>,
    mine: Option<String>,
    /// A page's cursor, from its "next" or "previous" link.
    cursor: Option<String>,
}

/// Rows per page of the dashboard.
const DASHBOARD_PAGE: u32 = 50;

fn some(text: &Option<String>) -> Option<&str> {
    text.as_deref().map(str::trim).filter(|t| !t.is_empty())
}

pub async fn dashboard(
    State(state): State<HttpState>,
    v: Visitor,
    Query(q): Query<DashboardQuery>,
) -> Response {
    let caller = match signed_in(&v) {
        Ok(c) => c,
        Err(r) => return r,
    };
    match dashboard_inner(&state, &v, &caller, q).await {
        Ok(r) => r,
        Err(e) => app_error_page(&v, e),
    }
}

async fn dashboard_inner(
    state: &HttpState,
    v: &Visitor,
    caller: &Caller,
    q: DashboardQuery,
) -> Result<Response, AppError> {
    let app = &state.app;
    let invalid = |what: &str, e: crate::ids::InvalidId| AppError::Invalid(format!("{what}: {e}"));
    let convention = some(&q.convention)
        .map(ConventionId::parse)
        .transpose()
        .map_err(|e| invalid("convention", e))?;
    let mut institution = some(&q.institution)
        .map(InstitutionId::parse)
        .transpose()
        .map_err(|e| invalid("institution", e))?;
    let mine = some(&q.mine).is_some();
    if mine {
        institution = Some(caller.actor.institution.clone());
    }
    let status = some(&q.status).and_then(crate::engine::Status::parse);
    let overdue = some(&q.overdue).is_some();
    let today = app.today();
    let request = crate::app::ListRequest {
        filter: ProcedureFilter {
            convention: convention.clone(),
            stage: None,
            status,
            overdue_on: overdue.then_some(today),
        },
        responsible: institution.clone(),
        not_overdue: false,
        cursor: some(&q.cursor).map(str::to_string),
        limit: DASHBOARD_PAGE,
    };
    let conventions = app.conventions().await?;
    let institutions = app.institutions().await?;
    let zone = zone_of(state, &caller.actor.institution).await;
    let listed = app.procedures(&caller.actor, &request).await?;
    let counts = app.procedure_counts(&caller.actor, &request).await?;
    let mut by_stage: Vec<Value> = Vec::new();
    for (hash, stage, n) in &counts.by_stage {
        let def = app.definition_of(hash).await?;
        let title = crate::ids::StageId::parse(stage.clone())
            .ok()
            .and_then(|id| def.stage(&id).map(|s| s.title.clone()))
            .unwrap_or_else(|| stage.clone());
        // Stages of the same title (versions of a workflow) are counted together.
        match by_stage.iter_mut().find(|s| s["title"] == title.as_str()) {
            Some(s) => s["count"] = json!(s["count"].as_u64().unwrap_or(0) + n),
            None => by_stage.push(json!({"title": title, "count": n})),
        }
    }
    let mut rows = Vec::new();
    for row in listed.items {
        let p = row.procedure;
        let def = app.definition_of(&p.workflow.hash).await?;
        let c = conventions.iter().find(|c| c.id == p.convention);
        let stage = def.stage(&p.stage);
        let k = &p.key_dates;
        rows.push(json!({
            "id": p.id,
            "number": c.map_or_else(|| p.convention.to_string(), |c| c.number.clone()),
            "title": c.map(|c| c.title_in(super::render::page_language(v.language))),
            "state": app.settings.state_name(p.state.as_str(), v.language),
            "stage_title": stage.map_or_else(|| p.stage.to_string(), |s| s.title.clone()),
            "status": p.status.as_str(),
            "requested_on": k.requested_on,
            "invited_on": k.invited_on,
            "invitation_expires_on": k.invitation_expires_on,
            "deposited_on": k.deposited_on,
            "eif_computed": k.entry_into_force_computed,
            "eif_recorded": k.entry_into_force_recorded,
            "eif_differs": k.entry_into_force_differs(),
            "due_on": p.due_on,
            "overdue": p.is_overdue(today),
            "responsible": stage
                .map(|s| s.responsible.iter().map(|i| name_of(&institutions, i, v.language)).collect::<Vec<_>>())
                .unwrap_or_default(),
        }));
    }
    // The paging links keep the filter.
    let href = |cursor: &str| {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (k, value) in [
            ("convention", &q.convention),
            ("institution", &q.institution),
            ("status", &q.status),
            ("overdue", &q.overdue),
            ("mine", &q.mine),
        ] {
            if let Some(value) = some(value) {
                query.append_pair(k, value);
            }
        }
        query.append_pair("cursor", cursor);
        format!("/?{}", query.finish())
    };
    // The feed's address is shown only when its key is made (only its hash is kept): here, when
    // the token has one, and a button to make one.
    let feed_made = app
        .own_token(caller.token_id)
        .await?
        .and_then(|t| t.feed_key_created_at)
        .map(|at| local(at, zone));
    Ok(page(
        StatusCode::OK,
        "dashboard.html",
        context(
            v,
            json!({
                "rows": rows,
                "counts": {"total": counts.total, "active": counts.active, "overdue": counts.overdue, "by_stage": by_stage},
                "next_page": listed.next.as_deref().map(href),
                "previous_page": listed.previous.as_deref().map(href),
                "zone": zone.name(),
                "conventions": conventions,
                "institutions": institutions,
                "feed_made": feed_made,
                "filter": {
                    "convention": convention, "institution": if mine { None } else { institution },
                    "status": status.map(|s| s.as_str()), "overdue": overdue, "mine": mine,
                },
            }),
        ),
    ))
}

// ---------------------------------------------------------------------------------------------
// A procedure.

#[derive(Debug, Default, Deserialize)]
pub struct ProcedureQuery {
    done: Option<String>,
}

pub async fn procedure(
    State(state): State<HttpState>,
    v: Visitor,
    Path(id): Path<String>,
    Query(q): Query<ProcedureQuery>,
) -> Response {
    let caller = match signed_in(&v) {
        Ok(c) => c,
        Err(r) => return r,
    };
    // Only the name of an act: a crafted link cannot make the page say anything else.
    const ACTS: [&str; 7] = [
        "advance", "approve", "record", "comment", "suspend", "resume", "withdraw",
    ];
    let flash = some(&q.done)
        .filter(|act| ACTS.contains(act))
        .map(|act| json!({"kind": "done", "text": act}));
    match procedure_page(&state, &v, &caller, &id, flash, StatusCode::OK).await {
        Ok(r) => r,
        Err(e) => app_error_page(&v, e),
    }
}

async fn readable(
    state: &HttpState,
    caller: &Caller,
    id: &str,
) -> Result<ProcedureState, AppError> {
    let id = ProcedureId::parse(id).map_err(|_| AppError::NotFound {
        what: "procedure",
        id: id.to_string(),
    })?;
    state.app.readable(&id, &caller.actor).await
}

/// The forms of the acts the caller may do now (`Accession::allowed_acts`, offering every move
/// the workflow gives the institution: the engine's refusal says what is still missing), with
/// the fields to record gathered in one form.
async fn forms(
    state: &HttpState,
    caller: &Caller,
    p: &ProcedureState,
) -> Result<Vec<Value>, AppError> {
    let app = &state.app;
    let def = app.definition_of(&p.workflow.hash).await?;
    let mut out = Vec::new();
    let mut fields = Vec::new();
    for a in app.allowed_acts(p, &caller.actor, Moves::Permitted).await? {
        match (a.act.as_str(), &a.to, &a.field) {
            ("advance", Some(to), _) => {
                let title = def
                    .stage(to)
                    .map_or_else(|| to.to_string(), |s| s.title.clone());
                out.push(json!({"act": "advance", "to": to, "to_title": title}));
            }
            ("record", _, Some(name)) => {
                if let Some((_, f)) = def.field(name) {
                    fields.push(json!({"name": f.name, "title": f.title, "is_date": f.kind == FieldKind::Date}));
                }
                if fields.len() == 1 {
                    // The record form stands where the first field is, before comment & co.
                    out.push(json!({"act": "record"}));
                }
            }
            (act, _, _) => out.push(json!({ "act": act })),
        }
    }
    for form in &mut out {
        if form["act"] == "record" {
            form["fields"] = Value::Array(fields.clone());
        }
    }
    Ok(out)
}

/// The stages as they were entered and left, from the history, for the timeline.
fn timeline(
    def: &crate::workflow::WorkflowDefinition,
    p: &ProcedureState,
    history: &[ChainRow],
    zone: Tz,
    today: NaiveDate,
    v: &Visitor,
) -> svg::Timeline {
    let mut rows: Vec<svg::TimelineRow> = Vec::new();
    let mut entries: Vec<(String, NaiveDate)> = Vec::new();
    for h in history {
        if let Some(to) = &h.to_stage
            && h.from_stage.as_deref() != Some(to.as_str())
        {
            entries.push((to.clone(), h.at.with_timezone(&zone).date_naive()));
        }
    }
    for (i, (stage, entered)) in entries.iter().enumerate() {
        let left = entries.get(i + 1).map(|(_, d)| *d);
        let current = i + 1 == entries.len();
        let title = StageId::parse(stage.clone())
            .ok()
            .and_then(|s| def.stage(&s).map(|s| s.title.clone()))
            .unwrap_or_else(|| stage.clone());
        rows.push(svg::TimelineRow {
            label: title,
            planned: if current {
                p.due_on.map(|due| (*entered, due))
            } else {
                None
            },
            actual: Some((*entered, left)),
            overdue: current && p.is_overdue(today),
            marks: Vec::new(),
        });
    }
    let k = &p.key_dates;
    let mut marks = Vec::new();
    for (date, key) in [
        (k.requested_on, "col_request"),
        (k.invited_on, "col_invitation"),
        (k.deposited_on, "col_deposit"),
        (k.entry_into_force_computed, "col_eif"),
        (k.entry_into_force_recorded, "recorded"),
    ] {
        if let Some(date) = date {
            marks.push(svg::TimelineMark {
                date,
                label: text(v.language, key),
            });
        }
    }
    if let Some(last) = rows.last_mut() {
        last.marks = marks;
    }
    svg::Timeline {
        title: text(v.language, "timeline"),
        today,
        today_label: today.to_string(),
        overdue_label: text(v.language, "overdue"),
        rows,
    }
}

async fn procedure_page(
    state: &HttpState,
    v: &Visitor,
    caller: &Caller,
    id: &str,
    flash: Option<Value>,
    status: StatusCode,
) -> Result<Response, AppError> {
    let app = &state.app;
    let p = readable(state, caller, id).await?;
    let view = app.view(&p.id).await?;
    let def = app.definition_of(&p.workflow.hash).await?;
    let zone = zone_of(state, &caller.actor.institution).await;
    let today = app.now().with_timezone(&zone).date_naive();
    let history = app.history(&caller.actor, &p.id).await?;
    let forms = forms(state, caller, &p).await?;
    let timeline_svg = svg::timeline_svg(&timeline(&def, &p, &history, zone, today, v));
    let workflow_svg = svg::workflow_svg(
        &def,
        Some(&p.stage),
        &svg::DiagramLabels {
            title: def.title.clone(),
            current: text(v.language, "current"),
        },
    );
    let convention = app.convention(&p.convention).await?;
    let institutions = app.institutions().await?;
    let timers: Vec<Value> = view
        .timers
        .iter()
        .map(|t| json!({"at": local(t.fire_at, zone), "kind": t.kind, "rule": t.rule, "recipients": t.recipients}))
        .collect();
    let history: Vec<Value> = history
        .iter()
        .rev()
        .map(|h| {
            json!({
                "sequence": h.sequence, "at": local(h.at, zone), "actor_institution": h.actor_institution,
                "actor_name": h.actor_name, "command": h.command, "from_stage": h.from_stage,
                "to_stage": h.to_stage, "comment": h.comment,
            })
        })
        .collect();
    Ok(page(
        status,
        "procedure.html",
        context(
            v,
            json!({
                "p": {
                    "id": p.id,
                    "number": convention.as_ref().map_or_else(|| p.convention.to_string(), |c| c.number.clone()),
                    "title": convention.as_ref().map(|c| c.title_in(super::render::page_language(v.language))),
                    "state": app.settings.state_name(p.state.as_str(), v.language),
                    "stage_title": view.stage_title,
                    "status": p.status.as_str(),
                    "version": p.version.0,
                    "responsible": view.responsible.iter().map(|i| name_of(&institutions, i, v.language)).collect::<Vec<_>>(),
                    "due_on": p.due_on,
                    "overdue": view.overdue,
                    "key_dates": p.key_dates,
                    "eif_differs": view.entry_into_force_differs,
                    "next": view.next,
                },
                "forms": forms,
                "flash": flash,
                "timeline_svg": timeline_svg,
                "workflow_svg": workflow_svg,
                "timers": timers,
                "history": history,
                "zone": zone.name(),
            }),
        ),
    ))
}

/// A form's act, as the engine takes it.
fn act_of(form: &Form) -> Result<Act, String> {
    // Blank is absent; otherwise the text goes to the engine as typed, which trims it once it
    // has checked it holds no control character (trimming first would hide one at either end).
    let get = |k: &str| form.get(k).filter(|s| !s.trim().is_empty()).cloned();
    let comment = get("comment");
    let required = |k: &str| get(k).ok_or_else(|| format!("`{k}` is empty"));
    Ok(match form.get("act").map(String::as_str) {
        Some("advance") => Act::Advance {
            to: StageId::parse(required("to")?.trim()).map_err(|e| e.to_string())?,
            comment,
        },
        Some("approve") => Act::Approve { comment },
        Some("record") => Act::Record {
            field: crate::ids::FieldName::parse(required("field")?.trim())
                .map_err(|e| e.to_string())?,
            value: required("value")?,
            comment,
        },
        Some("comment") => Act::Comment {
            text: required("text")?,
        },
        Some("suspend") => Act::Suspend {
            reason: required("reason")?,
        },
        Some("resume") => Act::Resume { comment },
        Some("withdraw") => Act::Withdraw {
            reason: required("reason")?,
        },
        other => return Err(format!("unknown act `{}`", other.unwrap_or(""))),
    })
}

pub async fn act(
    State(state): State<HttpState>,
    v: Visitor,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<Form>,
) -> Response {
    let caller = match checked(&v, &form) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let refused = |status: StatusCode, text: String| {
        let state = state.clone();
        let caller = caller.clone();
        let id = id.clone();
        let v = &v;
        async move {
            match procedure_page(
                &state,
                v,
                &caller,
                &id,
                Some(json!({"kind": "refused", "text": text})),
                status,
            )
            .await
            {
                Ok(r) => r,
                Err(e) => app_error_page(v, e),
            }
        }
    };
    let current = match readable(&state, &caller, &id).await {
        Ok(p) => p,
        Err(e) => return app_error_page(&v, e),
    };
    let act = match act_of(&form) {
        Ok(a) => a,
        Err(text) => return refused(StatusCode::UNPROCESSABLE_ENTITY, text).await,
    };
    let Some(version) = form.get("version").and_then(|s| s.parse::<i64>().ok()) else {
        return refused(
            StatusCode::BAD_REQUEST,
            "the form has no version; reload the page".into(),
        )
        .await;
    };
    let name = act.name();
    match state
        .app
        .act_on(
            current,
            &Command {
                expected_version: crate::ids::Version(version),
                act,
            },
            &caller.actor,
        )
        .await
    {
        Ok(_) => redirect(&format!("/procedures/{id}?done={name}")),
        Err(e) => {
            let problem = crate::http::Problem::from(e);
            let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::CONFLICT);
            refused(status, problem.detail).await
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The auditor's pages.

#[derive(Debug, Default, Deserialize)]
pub struct AuditQuery {
    institution: Option<String>,
    convention: Option<String>,
    from: Option<String>,
    until: Option<String>,
    /// The page after this one's last row (the "next" link; exports ignore it).
    cursor: Option<String>,
}

/// History rows per page of the audit page.
const AUDIT_PAGE: u64 = 100;

/// Procedures whose new history rows an audit page view verifies before showing the stored state
/// (the scheduler's pass and `audit verify` do the rest).
const AUDIT_CATCH_UP: u64 = 200;

/// The history rows the filters keep; the days are the viewer's (in `zone`).
fn audit_filter(q: &AuditQuery, zone: Tz) -> Result<HistoryFilter, AppError> {
    let day = |t: &Option<String>| -> Result<Option<NaiveDate>, AppError> {
        some(t)
            .map(|t| {
                t.parse::<NaiveDate>()
                    .map_err(|_| AppError::Invalid(format!("`{t}` is not a date (YYYY-MM-DD)")))
            })
            .transpose()
    };
    // A day ends when the next begins: `deadline_instant` is that end in the viewer's zone.
    let end_of = |d: NaiveDate| crate::engine::deadline_instant(d, zone);
    let invalid = |e: crate::ids::InvalidId| AppError::Invalid(e.to_string());
    let filter = HistoryFilter {
        convention: some(&q.convention)
            .map(ConventionId::parse)
            .transpose()
            .map_err(invalid)?,
        actor: some(&q.institution)
            .map(InstitutionId::parse)
            .transpose()
            .map_err(invalid)?,
        // From the start of `from` to the end of `until`, in the viewer's days.
        from: day(&q.from)?.and_then(|d| d.pred_opt()).and_then(end_of),
        until: day(&q.until)?.and_then(end_of),
    };
    Ok(filter)
}

/// An audit page's cursor: the last row shown, as hex of `procedure:sequence`.
fn audit_cursor(row: &ChainRow) -> String {
    hex::encode(format!("{}:{}", row.procedure_id, row.sequence))
}

fn audit_after(cursor: Option<&str>) -> Result<Option<(String, i64)>, AppError> {
    let Some(cursor) = cursor else {
        return Ok(None);
    };
    let bad = || AppError::InvalidField {
        field: "cursor",
        detail: format!(
            "cursor `{}` is not one this page gave out",
            cursor.chars().take(40).collect::<String>()
        ),
    };
    let text = String::from_utf8(hex::decode(cursor).map_err(|_| bad())?).map_err(|_| bad())?;
    let (procedure, sequence) = text.rsplit_once(':').ok_or_else(bad)?;
    let sequence = sequence.parse::<i64>().map_err(|_| bad())?;
    Ok(Some((procedure.to_string(), sequence)))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Export {
    Csv,
    Json,
}

/// An export's body, streamed: history is read a batch at a time by keyset and each batch
/// written out before the next is read, so memory stays flat whatever the export's size.
fn export_body(
    state: &HttpState,
    caller: &Caller,
    filter: HistoryFilter,
    kind: Export,
) -> Result<axum::body::Body, AppError> {
    use futures_util::StreamExt;
    let batches = state.app.history_export(&caller.actor, filter)?;
    let mut first = true;
    let body = batches.map(move |batch| {
        let rows = batch.map_err(std::io::Error::other)?;
        let mut out = Vec::new();
        match kind {
            Export::Csv => {
                out = crate::audit::export::history_csv_part(&rows, true, first)
                    .map_err(std::io::Error::other)?;
            }
            Export::Json => {
                for row in &rows {
                    out.extend_from_slice(if first { b"[\n" } else { b",\n" });
                    first = false;
                    serde_json::to_writer_pretty(&mut out, row).map_err(std::io::Error::other)?;
                }
            }
        }
        first = false;
        Ok::<_, std::io::Error>(out)
    });
    // JSON closes the array (and opens it when there was no row at all).
    let tail = futures_util::stream::once(async move { Ok::<_, std::io::Error>(Vec::new()) });
    Ok(match kind {
        Export::Csv => axum::body::Body::from_stream(body.chain(tail)),
        Export::Json => {
            let opened = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let seen = opened.clone();
            let body = body.map(move |chunk| {
                if chunk.as_ref().is_ok_and(|c| !c.is_empty()) {
                    seen.store(true, std::sync::atomic::Ordering::Relaxed);
                }
                chunk
            });
            let close = futures_util::stream::once(async move {
                Ok::<_, std::io::Error>(if opened.load(std::sync::atomic::Ordering::Relaxed) {
                    b"\n]\n".to_vec()
                } else {
                    b"[]\n".to_vec()
                })
            });
            axum::body::Body::from_stream(body.chain(close))
        }
    })
}

/// 403, as a page, unless the caller's role holds `permission` (the API's own check and words).
fn require(v: &Visitor, caller: &Caller, permission: Permission) -> Result<(), Response> {
    caller
        .may(permission)
        .map_err(|problem| error_page(v, StatusCode::FORBIDDEN, "forbidden", problem.detail))
}

pub async fn audit(
    State(state): State<HttpState>,
    v: Visitor,
    Query(q): Query<AuditQuery>,
    uri: axum::http::Uri,
) -> Response {
    let caller = match signed_in(&v) {
        Ok(c) => c,
        Err(r) => return r,
    };
    if let Err(r) = require(&v, &caller, Permission::ReadAudit) {
        return r;
    }
    let result = async {
        let zone = zone_of(&state, &caller.actor.institution).await;
        let filter = audit_filter(&q, zone)?;
        let after = audit_after(some(&q.cursor))?;
        let (rows, more) = state
            .app
            .audit_page(&caller.actor, &filter, after.as_ref().map(|(p, s)| (p.as_str(), *s)), AUDIT_PAGE)
            .await?;
        // The verification state is stored: brought up to date here for the chains written
        // since the last result, a bounded number of them, and read back.
        let summary = state.app.verification_state(&caller.actor, AUDIT_CATCH_UP).await?;
        let next_page = more.then(|| rows.last().map(audit_cursor)).flatten().map(|cursor| {
            let mut query = form_urlencoded::Serializer::new(String::new());
            for (k, value) in [
                ("institution", &q.institution),
                ("convention", &q.convention),
                ("from", &q.from),
                ("until", &q.until),
            ] {
                if let Some(value) = some(value) {
                    query.append_pair(k, value);
                }
            }
            query.append_pair("cursor", &cursor);
            format!("/audit?{}", query.finish())
        });
        let history: Vec<Value> = rows
            .iter()
            .map(|h| json!({
                "procedure_id": h.procedure_id, "sequence": h.sequence, "at": local(h.at, zone),
                "actor_institution": h.actor_institution, "actor_name": h.actor_name, "actor_role": h.actor_role,
                "command": h.command, "from_stage": h.from_stage, "to_stage": h.to_stage, "comment": h.comment,
            }))
            .collect();
        Ok::<_, AppError>(page(
            StatusCode::OK,
            "audit.html",
            context(&v, json!({
                "history": history,
                "verified": {
                    "ok": summary.broken == 0,
                    "rows": summary.rows,
                    "first_break": summary.first_break,
                    "chains": summary.verified,
                    "unverified": summary.procedures.saturating_sub(summary.verified),
                    "at": summary.newest.map(|at| local(at, zone)),
                },
                "next_page": next_page,
                "first_page": after.is_some(),
                "institutions": state.app.institutions().await?,
                "conventions": state.app.conventions().await?,
                "filter": {"institution": some(&q.institution), "convention": some(&q.convention), "from": some(&q.from), "until": some(&q.until)},
                "query": uri.query().unwrap_or_default(),
                "query_without_cursor": form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
                    .filter(|(k, _)| k != "cursor")
                    .fold(form_urlencoded::Serializer::new(String::new()), |mut q, (k, v)| { q.append_pair(&k, &v); q })
                    .finish(),
                "zone": zone.name(),
            })),
        ))
    }
    .await;
    result.unwrap_or_else(|e| app_error_page(&v, e))
}

pub async fn audit_export(
    State(state): State<HttpState>,
    v: Visitor,
    Path(file): Path<String>,
    Query(q): Query<AuditQuery>,
) -> Response {
    let caller = match signed_in(&v) {
        Ok(c) => c,
        Err(r) => return r,
    };
    if let Err(r) = require(&v, &caller, Permission::ReadAudit) {
        return r;
    }
    let zone = zone_of(&state, &caller.actor.institution).await;
    let filter = match audit_filter(&q, zone) {
        Ok(filter) => filter,
        Err(e) => return app_error_page(&v, e),
    };
    let (body, content_type) = match file.as_str() {
        "history.json" => (
            export_body(&state, &caller, filter, Export::Json),
            "application/json",
        ),
        "history.csv" => (
            export_body(&state, &caller, filter, Export::Csv),
            "text/csv; charset=utf-8",
        ),
        _ => {
            return error_page(
                &v,
                StatusCode::NOT_FOUND,
                "not_found",
                format!("there is no export `{file}`"),
            );
        }
    };
    let body = match body {
        Ok(body) => body,
        Err(e) => return app_error_page(&v, e),
    };
    let mut response = body.into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"accession-{file}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    response
}

// ---------------------------------------------------------------------------------------------
// The coordinator's pages.

pub async fn outbox(
    State(state): State<HttpState>,
    v: Visitor,
    Query(q): Query<ProcedureQuery>,
) -> Response {
    let caller = match signed_in(&v) {
        Ok(c) => c,
        Err(r) => return r,
    };
    if let Err(r) = require(&v, &caller, Permission::ReadOutbox) {
        return r;
    }
    let result = async {
        let zone = zone_of(&state, &caller.actor.institution).await;
        let rows: Vec<Value> = state
            .app
            .outbox_page(&caller.actor, None, None, 200)
            .await?
            .0
            .into_iter()
            .map(|r| json!({
                "id": r.id, "status": r.status.as_str(), "kind": r.kind, "recipient_institution": r.recipient_institution,
                "procedure": r.procedure, "attempts": r.attempts, "when": local(r.sent_at.unwrap_or(r.next_attempt_at), zone),
                "last_error": r.last_error,
            }))
            .collect();
        let counts = state.app.outbox_counts(&caller.actor).await?;
        let flash = some(&q.done)
            .filter(|t| t.strip_prefix('#').is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())))
            .map(|t| json!({"kind": "done", "text": t}));
        Ok::<_, AppError>(page(StatusCode::OK, "outbox.html", context(&v, json!({"rows": rows, "counts": counts, "flash": flash}))))
    }
    .await;
    result.unwrap_or_else(|e| app_error_page(&v, e))
}

pub async fn outbox_retry(
    State(state): State<HttpState>,
    v: Visitor,
    Path(id): Path<i64>,
    axum::Form(form): axum::Form<Form>,
) -> Response {
    let caller = match checked(&v, &form) {
        Ok(c) => c,
        Err(r) => return r,
    };
    match state.app.retry_email(&caller.actor, id).await {
        Ok(_) => redirect(&format!("/outbox?done=%23{id}")),
        Err(e) => app_error_page(&v, e),
    }
}

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
    match state
        .app
        .upcoming_timers(&caller.actor, until, None, 500)
        .await
        .map(|(rows, _)| rows)
    {
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
        Err(e) => app_error_page(&v, e),
    }
}

// ---------------------------------------------------------------------------------------------
// The iCalendar feed.

/// Make a new calendar feed key for the signed-in token and show its address, this once; the
/// previous address stops working.
pub async fn renew_feed(
    State(state): State<HttpState>,
    v: Visitor,
    axum::Form(form): axum::Form<Form>,
) -> Response {
    let caller = match checked(&v, &form) {
        Ok(c) => c,
        Err(r) => return r,
    };
    match state
        .app
        .renew_feed_key(&caller.actor, Some(caller.token_id), caller.token_id)
        .await
    {
        Ok(new) => page(
            StatusCode::OK,
            "calendar_feed.html",
            context(&v, json!({"feed": new.url})),
        ),
        Err(e) => app_error_page(&v, e),
    }
}

#[derive(Deserialize)]
pub struct FeedQuery {
    key: Option<String>,
}

pub async fn calendar(
    State(state): State<HttpState>,
    ClientAddress(client): ClientAddress,
    Path(file): Path<String>,
    Query(q): Query<FeedQuery>,
) -> Response {
    let plain = |status: StatusCode, text: &str| (status, text.to_string()).into_response();
    let Some(institution) = file
        .strip_suffix(".ics")
        .and_then(|i| InstitutionId::parse(i).ok())
    else {
        return plain(StatusCode::NOT_FOUND, "no such calendar");
    };
    let Some(key) = q.key.filter(|k| k.len() == 64) else {
        return plain(
            StatusCode::UNAUTHORIZED,
            "the calendar address needs its key",
        );
    };
    // A client that has spent its failure budget is refused before the key is looked at.
    if let Err(locked) = state.throttle.admit(client) {
        return crate::http::Problem::too_many_failures(locked).into_response();
    }
    match state.app.feed_reader(&institution, &key).await {
        Ok(Some(_)) => {}
        Ok(None) => {
            if let Err(locked) = state.throttle.fail(client) {
                return crate::http::Problem::too_many_failures(locked).into_response();
            }
            return plain(
                StatusCode::UNAUTHORIZED,
                "this calendar key is unknown, was replaced by a new one, or its token was revoked",
            );
        }
        Err(e) => return crate::http::Problem::from(e).into_response(),
    }
    match feed(&state, &institution).await {
        Ok(text) => {
            let mut r = text.into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/calendar; charset=utf-8"),
            );
            r
        }
        Err(e) => crate::http::Problem::from(e).into_response(),
    }
}

async fn feed(state: &HttpState, institution: &InstitutionId) -> Result<String, AppError> {
    let app = &state.app;
    let base = app.settings.mail.base_url.trim_end_matches('/').to_string();
    let inst = app.institution(institution).await?;
    let language = inst.as_ref().map_or(Language::En, |i| i.language);
    let zone = inst
        .as_ref()
        .map_or(app.settings.calendar.time_zone, |i| i.time_zone);
    let conventions = app.conventions().await?;
    let number = |c: &ConventionId| {
        conventions
            .iter()
            .find(|x| &x.id == c)
            .map_or_else(|| c.to_string(), |x| x.number.clone())
    };
    let mut events = Vec::new();
    // Due dates of the stages it must act on, as all-day events.
    // The active procedures whose stage it is responsible for, read a page at a time.
    let mut request = crate::app::ListRequest {
        filter: ProcedureFilter {
            status: Some(crate::engine::Status::Active),
            ..ProcedureFilter::default()
        },
        responsible: Some(institution.clone()),
        limit: crate::app::MAX_PAGE,
        ..Default::default()
    };
    let mut due_rows = Vec::new();
    loop {
        let page = app
            .procedures(&crate::engine::Actor::system(), &request)
            .await?;
        due_rows.extend(page.items);
        match page.next {
            Some(next) => request.cursor = Some(next),
            None => break,
        }
    }
    for row in due_rows {
        let p = row.procedure;
        let Some(due) = p.due_on else { continue };
        let def = app.definition_of(&p.workflow.hash).await?;
        let stage = def
            .stage(&p.stage)
            .map_or_else(|| p.stage.to_string(), |s| s.title.clone());
        events.push(super::ics::FeedEvent {
            uid: format!("{}:{}:due", p.id, p.stage_entry),
            start: crate::engine::deadline_instant(due, zone).unwrap_or_else(|| app.now()),
            all_day: Some(due),
            summary: format!(
                "{}: {} — {stage}",
                text(language, "col_due"),
                number(&p.convention)
            ),
            description: format!(
                "{} {}\n{base}/procedures/{}",
                text(language, "due_on"),
                due,
                p.id
            ),
            url: Some(format!("{base}/procedures/{}", p.id)),
            categories: vec!["deadline".into()],
        });
    }
    // Reminders and escalations addressed to it.
    for c in app
        .upcoming_timers_for(institution, app.now() + TimeDelta::days(366), 1000)
        .await?
    {
        if c.timer.kind == crate::engine::TimerKind::Deadline {
            continue;
        }
        events.push(super::ics::FeedEvent {
            uid: c.timer.dedupe_key.clone(),
            start: c.timer.fire_at,
            all_day: None,
            summary: format!(
                "{}: {} — {}",
                c.timer.kind.as_str(),
                c.procedure,
                c.timer.stage
            ),
            description: format!("{}\n{base}/procedures/{}", c.timer.rule, c.procedure),
            url: Some(format!("{base}/procedures/{}", c.procedure)),
            categories: vec![c.timer.kind.as_str().to_string()],
        });
    }
    Ok(super::ics::render(&super::ics::Feed {
        name: format!("Accession — {institution}"),
        time_zone_hint: zone.name().to_string(),
        generated: app.now(),
        events,
    }))
}

#[cfg(test)]
mod tests {
    use super::local_path;

    #[test]
    fn only_paths_of_this_site_are_redirected_to() {
        for ok in ["/", "/procedures/kg-ets-112", "/audit?from=2024-01-01"] {
            assert!(local_path(ok), "{ok}");
        }
        for bad in [
            "//evil.example",
            "/\\evil.example",
            "/\t/evil.example",
            "https://evil",
            "",
            "/ x",
            "evil",
        ] {
            assert!(!local_path(bad), "{bad:?}");
        }
    }
}
