//! The auditor's pages: history of every procedure, filtered and paged, with the stored state of
//! the chains' verification, and its exports (CSV, JSON) streamed.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::layout::{
    HistoryLine, PageBody, app_error_page, error_page, local, require, show, some, zone_of,
};
use super::session::SignedIn;
use crate::app::AppError;
use crate::app::cursor::{Cursor, HistoryCursor};
use crate::audit::ChainRow;
use crate::engine::Permission;
use crate::http::{Caller, HttpState};
use crate::ids::{ConventionId, InstitutionId};
use crate::reference::{Convention, Institution};
use crate::store::HistoryFilter;

#[derive(Debug, Default, Deserialize)]
pub struct AuditQuery {
    institution: Option<String>,
    convention: Option<String>,
    from: Option<String>,
    until: Option<String>,
    /// The page after this one's last row (the "next" link; exports ignore it).
    cursor: Option<String>,
}

/// The audit page: a page of history, the chains' stored verification state, the filter.
#[derive(Debug, Serialize)]
struct AuditPage {
    history: Vec<HistoryLine>,
    verified: Verified,
    next_page: Option<String>,
    /// Whether this is a later page (with a link back to the first).
    first_page: bool,
    /// The newest signed checkpoints of the log.
    checkpoints: Vec<CheckpointLine>,
    institutions: Vec<Institution>,
    conventions: Vec<Convention>,
    filter: Filter,
    /// The page's query, for the exports' links; and without its cursor, for the first page's.
    query: String,
    query_without_cursor: String,
    zone: &'static str,
}

impl PageBody for AuditPage {
    const TEMPLATE: &'static str = "audit.html";
}

/// A signed checkpoint, as the audit page lists it.
#[derive(Debug, Serialize)]
struct CheckpointLine {
    time: String,
    size: u64,
    root: String,
    key_id: String,
}

/// Checkpoints the audit page shows, newest first.
const CHECKPOINTS_SHOWN: u64 = 5;

/// What the stored verification results say.
#[derive(Debug, Serialize)]
struct Verified {
    ok: bool,
    rows: u64,
    first_break: Option<String>,
    chains: u64,
    unverified: u64,
    at: Option<String>,
}

/// The filter as given (blank is none).
#[derive(Debug, Serialize)]
struct Filter {
    institution: Option<String>,
    convention: Option<String>,
    from: Option<String>,
    until: Option<String>,
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

/// An audit page's cursor: the last row shown.
fn audit_cursor(row: &ChainRow) -> Option<String> {
    let procedure = crate::ids::ProcedureId::parse(row.procedure_id.clone()).ok()?;
    Some(
        HistoryCursor {
            procedure,
            sequence: row.sequence,
        }
        .encode(),
    )
}

fn audit_after(cursor: Option<&str>) -> Result<Option<(String, i64)>, AppError> {
    Ok(HistoryCursor::decode(cursor)?.map(|c| (c.procedure.to_string(), c.sequence)))
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

pub async fn audit(
    State(state): State<HttpState>,
    Query(q): Query<AuditQuery>,
    uri: axum::http::Uri,
    SignedIn { visitor: v, caller }: SignedIn,
) -> Response {
    if let Err(r) = require(&v, &caller, Permission::ReadAudit) {
        return r;
    }
    let result = async {
        let zone = zone_of(&state, &caller.actor.institution).await;
        let filter = audit_filter(&q, zone)?;
        let after = audit_after(some(&q.cursor))?;
        let (rows, more) = state
            .app
            .audit_page(
                &caller.actor,
                &filter,
                after.as_ref().map(|(p, s)| (p.as_str(), *s)),
                AUDIT_PAGE,
            )
            .await?;
        // The verification state is stored: brought up to date here for the chains written
        // since the last result, a bounded number of them, and read back.
        let summary = state
            .app
            .verification_state(&caller.actor, AUDIT_CATCH_UP)
            .await?;
        let next_page = more
            .then(|| rows.last().and_then(audit_cursor))
            .flatten()
            .map(|cursor| {
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
        let history = rows.iter().map(|h| HistoryLine::of(h, zone)).collect();
        let query = uri.query().unwrap_or_default();
        let owned = |t: &Option<String>| some(t).map(str::to_string);
        Ok::<_, AppError>(show(
            &v,
            StatusCode::OK,
            &AuditPage {
                history,
                verified: Verified {
                    ok: summary.broken == 0,
                    rows: summary.rows,
                    first_break: summary.first_break,
                    chains: summary.verified,
                    unverified: summary.procedures.saturating_sub(summary.verified),
                    at: summary.newest.map(|at| local(at, zone)),
                },
                next_page,
                first_page: after.is_some(),
                checkpoints: state
                    .app
                    .checkpoints(&caller.actor, None, CHECKPOINTS_SHOWN)
                    .await?
                    .0
                    .into_iter()
                    .map(|(_, c)| CheckpointLine {
                        time: c.time,
                        size: c.size,
                        root: c.root,
                        key_id: c.key_id,
                    })
                    .collect(),
                institutions: state.app.institutions().await?,
                conventions: state.app.conventions().await?,
                filter: Filter {
                    institution: owned(&q.institution),
                    convention: owned(&q.convention),
                    from: owned(&q.from),
                    until: owned(&q.until),
                },
                query: query.to_string(),
                query_without_cursor: form_urlencoded::parse(query.as_bytes())
                    .filter(|(k, _)| k != "cursor")
                    .fold(
                        form_urlencoded::Serializer::new(String::new()),
                        |mut q, (k, v)| {
                            q.append_pair(&k, &v);
                            q
                        },
                    )
                    .finish(),
                zone: zone.name(),
            },
        ))
    }
    .await;
    result.unwrap_or_else(|e| app_error_page(&v, e))
}

pub async fn audit_export(
    State(state): State<HttpState>,
    Path(file): Path<String>,
    Query(q): Query<AuditQuery>,
    SignedIn { visitor: v, caller }: SignedIn,
) -> Response {
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
