//! The iCalendar feed of an institution (its due dates, and the reminders and escalations
//! addressed to it), read with a key; and the page that makes a new key and shows it once.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::TimeDelta;
use serde::{Deserialize, Serialize};

use super::layout::{PageBody, app_error_page, show};
use super::render::text;
use super::session::CsrfChecked;
use crate::app::AppError;
use crate::http::{ClientAddress, HttpState};
use crate::ids::{ConventionId, InstitutionId};
use crate::reference::Language;
use crate::store::ProcedureFilter;

/// A new calendar feed's address, shown this once.
#[derive(Debug, Serialize)]
struct FeedPage {
    feed: String,
}

impl PageBody for FeedPage {
    const TEMPLATE: &'static str = "calendar_feed.html";
}

/// Make a new calendar feed key for the signed-in token and show its address, this once; the
/// previous address stops working.
pub async fn renew_feed(
    State(state): State<HttpState>,
    CsrfChecked {
        visitor: v,
        caller,
        form: _,
    }: CsrfChecked,
) -> Response {
    match state
        .app
        .renew_feed_key(&caller.actor, Some(caller.token_id), caller.token_id)
        .await
    {
        Ok(new) => show(&v, StatusCode::OK, &FeedPage { feed: new.url }),
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
