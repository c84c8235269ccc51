//! The iCalendar feed of an institution (its due dates, and the reminders and escalations
//! addressed to it), read with a key; and the page that makes a new key and shows it once.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::layout::{PageBody, app_error_page, show};
use super::render::text;
use super::session::CsrfChecked;
use crate::app::{CalendarEntryKind, CalendarFeed};
use crate::http::{ClientAddress, HttpState};
use crate::ids::InstitutionId;

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
    let feed = match state.app.calendar_feed(&institution, &key).await {
        Ok(Some(feed)) => feed,
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
    };
    let mut r = ics_of(&state.app.settings.mail.base_url, &feed).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/calendar; charset=utf-8"),
    );
    r
}

/// The feed as iCalendar text, in its institution's language, linking to the pages at `base`.
fn ics_of(base: &str, feed: &CalendarFeed) -> String {
    let base = base.trim_end_matches('/');
    let language = feed.language;
    let events = feed
        .entries
        .iter()
        .map(|e| {
            let link = format!("{base}/procedures/{}", e.procedure);
            match &e.what {
                CalendarEntryKind::Due(due) => super::ics::FeedEvent {
                    uid: e.uid.clone(),
                    start: e.start,
                    all_day: Some(*due),
                    summary: format!(
                        "{}: {} — {}",
                        text(language, "col_due"),
                        e.convention_number,
                        e.stage_title
                    ),
                    description: format!("{} {due}\n{link}", text(language, "due_on")),
                    url: Some(link),
                    categories: vec!["deadline".into()],
                },
                CalendarEntryKind::Timer { kind, rule } => super::ics::FeedEvent {
                    uid: e.uid.clone(),
                    start: e.start,
                    all_day: None,
                    summary: format!(
                        "{}: {} — {}",
                        text(language, &format!("timer_{}", kind.as_str())),
                        e.convention_number,
                        e.stage_title
                    ),
                    description: format!(
                        "{}\n{link}",
                        crate::locale::rule_in_words(rule, language)
                    ),
                    url: Some(link),
                    categories: vec![kind.as_str().to_string()],
                },
            }
        })
        .collect();
    super::ics::render(&super::ics::Feed {
        name: format!("Accession — {}", feed.institution),
        time_zone_hint: feed.zone.name().to_string(),
        generated: feed.generated,
        events,
    })
}
