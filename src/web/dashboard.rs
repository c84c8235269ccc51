//! The dashboard: the matrix of procedures the caller may read, filtered and paged, most urgent
//! first (the most overdue, then the soonest due), each overdue one saying by how many days, with
//! counts from the database (overdue, due within a week, on time, total; and what the reader's
//! institution must act on) and the calendar feed's button.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::layout::{PageBody, app_error_page, local, name_of, show, some, zone_of};
use super::render::page_language;
use super::session::{SignedIn, Visitor};
use crate::app::{AppError, StageCount};
use crate::http::{Caller, HttpState};
use crate::ids::{ConventionId, InstitutionId, ProcedureId};
use crate::reference::{Convention, Institution};
use crate::store::ProcedureFilter;

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

/// The dashboard: a page of procedures, the counts of all the filter keeps, the filter as given.
#[derive(Debug, Serialize)]
struct Dashboard {
    rows: Vec<Row>,
    counts: Counts,
    next_page: Option<String>,
    previous_page: Option<String>,
    zone: &'static str,
    conventions: Vec<Convention>,
    institutions: Vec<Institution>,
    /// The dashboard without "mine" (the rest of the filter kept), when "mine" is on.
    all_href: Option<String>,
    /// When the token's calendar feed key was made (its address is shown only then).
    feed_made: Option<String>,
    filter: Filter,
}

impl PageBody for Dashboard {
    const TEMPLATE: &'static str = "dashboard.html";
}

/// A procedure in the matrix.
#[derive(Debug, Serialize)]
struct Row {
    id: ProcedureId,
    number: String,
    title: Option<String>,
    state: String,
    stage_title: String,
    status: &'static str,
    requested_on: Option<NaiveDate>,
    invited_on: Option<NaiveDate>,
    invitation_expires_on: Option<NaiveDate>,
    deposited_on: Option<NaiveDate>,
    eif_computed: Option<NaiveDate>,
    eif_recorded: Option<NaiveDate>,
    eif_differs: bool,
    due_on: Option<NaiveDate>,
    overdue: bool,
    /// How many days overdue (active, due day passed).
    overdue_days: Option<i64>,
    /// "overdue by 3 days", in the reader's language and plural form.
    overdue_text: Option<String>,
    /// "due today", "2 days left", for an active procedure not overdue.
    due_text: Option<String>,
    /// The reader's institution must act on the current stage.
    mine: bool,
    responsible: Vec<String>,
}

#[derive(Debug, Serialize)]
struct Counts {
    total: u64,
    active: u64,
    overdue: u64,
    due_soon: u64,
    on_time: u64,
    by_stage: Vec<StageCount>,
    /// What the reader's institution must act on under the same filter: (all, overdue); none
    /// when the filter already names an institution.
    mine: Option<MineCounts>,
}

#[derive(Debug, Serialize)]
struct MineCounts {
    total: u64,
    overdue: u64,
    /// The dashboard with "mine" on, the rest of the filter kept.
    href: String,
}

/// The filter as the form shows it (`institution` is blank when "mine" chose it).
#[derive(Debug, Serialize)]
struct Filter {
    convention: Option<ConventionId>,
    institution: Option<InstitutionId>,
    status: Option<&'static str>,
    overdue: bool,
    mine: bool,
}

/// Rows per page of the dashboard.
const DASHBOARD_PAGE: u32 = 50;

pub async fn dashboard(
    State(state): State<HttpState>,
    Query(q): Query<DashboardQuery>,
    SignedIn { visitor: v, caller }: SignedIn,
) -> Response {
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
            state: None,
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
    let dashboard = app.dashboard(&caller.actor, &request, v.language).await?;
    let rows = dashboard
        .page
        .items
        .into_iter()
        .map(|row| {
            let p = row.procedure;
            let c = conventions.iter().find(|c| c.id == p.convention);
            let k = &p.key_dates;
            Row {
                number: c.map_or_else(|| p.convention.to_string(), |c| c.number.clone()),
                title: c.map(|c| c.title_in(page_language(v.language)).to_string()),
                state: app.settings.state_name(p.state.as_str(), v.language),
                stage_title: row.stage_title,
                status: p.status.as_str(),
                requested_on: k.requested_on,
                invited_on: k.invited_on,
                invitation_expires_on: k.invitation_expires_on,
                deposited_on: k.deposited_on,
                eif_computed: k.entry_into_force_computed,
                eif_recorded: k.entry_into_force_recorded,
                eif_differs: k.entry_into_force_differs(),
                due_on: p.due_on,
                overdue: row.overdue,
                overdue_days: row.overdue_days,
                overdue_text: row
                    .overdue_days
                    .map(|n| crate::locale::counted(v.language, "overdue_by", "days", n)),
                due_text: row.due_in_days.map(|n| match n {
                    0 => super::render::text(v.language, "due_today"),
                    n => crate::locale::counted(v.language, "due_in", "days", n),
                }),
                mine: row.mine,
                responsible: row
                    .responsible
                    .iter()
                    .map(|i| name_of(&institutions, i, v.language))
                    .collect(),
                id: p.id,
            }
        })
        .collect();
    // The paging links keep the filter; the "mine" links change that one part of it.
    let link = |mine: Option<&str>, cursor: Option<&str>| {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (k, value) in [
            ("convention", some(&q.convention)),
            (
                "institution",
                if mine.is_some() {
                    None
                } else {
                    some(&q.institution)
                },
            ),
            ("status", some(&q.status)),
            ("overdue", some(&q.overdue)),
            ("mine", mine),
            ("cursor", cursor),
        ] {
            if let Some(value) = value {
                query.append_pair(k, value);
            }
        }
        format!("/?{}", query.finish())
    };
    let href = |cursor: &str| link(some(&q.mine), Some(cursor));
    // The feed's address is shown only when its key is made (only its hash is kept): here, when
    // the token has one, and a button to make one.
    let feed_made = app
        .own_token(caller.token_id)
        .await?
        .and_then(|t| t.feed_key_created_at)
        .map(|at| local(at, zone));
    Ok(show(
        v,
        StatusCode::OK,
        &Dashboard {
            rows,
            counts: Counts {
                total: dashboard.total,
                active: dashboard.active,
                overdue: dashboard.overdue,
                due_soon: dashboard.due_soon,
                on_time: dashboard.on_time,
                by_stage: dashboard.by_stage,
                mine: dashboard.mine.map(|m| MineCounts {
                    total: m.total,
                    overdue: m.overdue,
                    href: link(Some("true"), None),
                }),
            },
            all_href: mine.then(|| link(None, None)),
            next_page: dashboard.page.next.as_deref().map(href),
            previous_page: dashboard.page.previous.as_deref().map(href),
            zone: zone.name(),
            conventions,
            // The filter names each institution in the reader's language.
            institutions: institutions
                .iter()
                .map(|i| Institution {
                    name: i.name_in(v.language).to_string(),
                    ..i.clone()
                })
                .collect(),
            feed_made,
            filter: Filter {
                convention,
                institution: if mine { None } else { institution },
                status: status.map(|s| s.as_str()),
                overdue,
                mine,
            },
        },
    ))
}
