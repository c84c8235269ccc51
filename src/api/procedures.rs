//! `/api/v1/procedures`: list, show (with what the caller may do now), start, the acts, history
//! (JSON and CSV) with its verification, and upcoming timers.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::etag::{etag, if_match};
use super::idempotency;
use super::json::ApiJson;
use super::query::ApiQuery;
use super::responses::failures;
use crate::app::{AllowedAct, Answering, AppError, ListRequest, Moves, ProcedureView};
use crate::audit::ChainRow;
use crate::engine::{Act, Command, ProcedureState, StartProcedure, Stated, Status};
use crate::http::Caller;
use crate::http::Failure;
use crate::http::HttpState;
use crate::http::Problem;
use crate::ids::{
    ConventionId, FieldName, InstitutionId, ProcedureId, StageId, StateCode, WorkflowId,
};
use crate::store::{Answer, HeldKey, ProcedureFilter, ProcedureRow, TimerRow, VerifyReport};

pub fn routes() -> OpenApiRouter<HttpState> {
    OpenApiRouter::new()
        .routes(routes!(list, start))
        .routes(routes!(show))
        .routes(routes!(advance))
        .routes(routes!(approve))
        .routes(routes!(record))
        .routes(routes!(comment))
        .routes(routes!(suspend))
        .routes(routes!(resume))
        .routes(routes!(withdraw))
        .routes(routes!(migrate))
        .routes(routes!(history))
        .routes(routes!(verify))
        .routes(routes!(timers))
}

// ---------------------------------------------------------------------------------------------
// Bodies and answers.

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    pub convention: Option<ConventionId>,
    pub stage: Option<StageId>,
    /// Only procedures whose current stage this institution is responsible for.
    pub institution: Option<InstitutionId>,
    /// Only those past their due date (true), or not (false).
    pub overdue: Option<bool>,
    /// active, suspended, withdrawn or completed.
    #[param(value_type = Option<Status>)]
    pub status: Option<String>,
    /// The `next_cursor` of the previous page, unchanged (an opaque string).
    #[param(schema_with = super::query::procedure_cursor)]
    pub cursor: Option<String>,
    /// At most this many (1 to 500; default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProcedurePage {
    pub items: Vec<ProcedureRow>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
    /// The next page's address (this query with `cursor`); absent on the last page.
    pub next: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProcedureDetail {
    #[serde(flatten)]
    pub view: ProcedureView,
    /// What the caller may do now (empty for an auditor).
    pub allowed_acts: Vec<AllowedAct>,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartBody {
    /// Defaults to the State code and the convention, e.g. `kg-ets-112`.
    pub id: Option<ProcedureId>,
    pub state: StateCode,
    pub convention: ConventionId,
    /// Defaults to `coe-accession`.
    pub workflow: Option<WorkflowId>,
    #[schema(pattern = r"\S", max_length = 4000)]
    pub comment: Option<String>,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdvanceBody {
    pub to: StageId,
    #[schema(pattern = r"\S", max_length = 4000)]
    pub comment: Option<String>,
    /// The day the act took effect (YYYY-MM-DD), when it is recorded late: not after today, not
    /// before the procedure's previous act. Omitted: it takes effect as it is recorded.
    #[schema(format = Date, pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    pub effective_on: Option<String>,
    /// The day is not known: `effective_on` is the latest it can have been (without it: the day
    /// the act is recorded).
    pub effective_approximate: Option<bool>,
}

#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OptionalComment {
    #[schema(pattern = r"\S", max_length = 4000)]
    pub comment: Option<String>,
    /// The day the act took effect (YYYY-MM-DD), when it is recorded late: not after today, not
    /// before the procedure's previous act. Omitted: it takes effect as it is recorded.
    #[schema(format = Date, pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    pub effective_on: Option<String>,
    /// The day is not known: `effective_on` is the latest it can have been (without it: the day
    /// the act is recorded).
    pub effective_approximate: Option<bool>,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordBody {
    pub field: FieldName,
    /// A date as YYYY-MM-DD, a text or a document reference, as the field's type says.
    pub value: String,
    #[schema(pattern = r"\S", max_length = 4000)]
    pub comment: Option<String>,
    /// The day the act took effect (YYYY-MM-DD), when it is recorded late: not after today, not
    /// before the procedure's previous act. Omitted: it takes effect as it is recorded.
    #[schema(format = Date, pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    pub effective_on: Option<String>,
    /// The day is not known: `effective_on` is the latest it can have been (without it: the day
    /// the act is recorded).
    pub effective_approximate: Option<bool>,
    /// For a date of entry into force that is not the one the rule gives: the depositary's
    /// publication it is taken from (without it such a date is refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = r"\S", max_length = 4000)]
    pub source: Option<String>,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommentBody {
    /// Not blank; at most 4000 characters.
    #[schema(pattern = r"\S", max_length = 4000)]
    pub text: String,
    /// The day the act took effect (YYYY-MM-DD), when it is recorded late: not after today, not
    /// before the procedure's previous act. Omitted: it takes effect as it is recorded.
    #[schema(format = Date, pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    pub effective_on: Option<String>,
    /// The day is not known: `effective_on` is the latest it can have been (without it: the day
    /// the act is recorded).
    pub effective_approximate: Option<bool>,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonBody {
    /// Not blank; at most 4000 characters.
    #[schema(pattern = r"\S", max_length = 4000)]
    pub reason: String,
    /// The day the act took effect (YYYY-MM-DD), when it is recorded late: not after today, not
    /// before the procedure's previous act. Omitted: it takes effect as it is recorded.
    #[schema(format = Date, pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    pub effective_on: Option<String>,
    /// The day is not known: `effective_on` is the latest it can have been (without it: the day
    /// the act is recorded).
    pub effective_approximate: Option<bool>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// `json` (default) or `csv`; `Accept: text/csv` also gives CSV.
    #[param(pattern = "^(json|csv)$")]
    pub format: Option<String>,
}

/// The headers of an act.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub(super) struct ActHeaders {
    /// The procedure's `ETag` as last read: its version, as `"3"`.
    #[param(
        rename = "If-Match",
        pattern = r#"^((W/)?"[1-9][0-9]{0,17}"|[1-9][0-9]{0,17})$"#
    )]
    if_match: String,
    /// Makes a retry return the first result.
    #[param(rename = "Idempotency-Key", pattern = "^[!-~]{1,200}$")]
    idempotency_key: Option<String>,
}

/// The headers of a start.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct StartHeaders {
    /// Makes a retry return the first result.
    #[param(rename = "Idempotency-Key", pattern = "^[!-~]{1,200}$")]
    idempotency_key: Option<String>,
}

failures!(
    /// What an act is refused with besides its inputs: a role or institution that may not
    /// (403), a stage, status or approvals that do not allow it now (409).
    ActRefusals = [Forbidden, Conflict]
);
failures!(
    /// A start: a role that may not (403), a procedure that exists or an open one of the same
    /// State on the same convention (409), a workflow or convention that does not (404); a State
    /// not in the registry, or a workflow naming another State's institutions, is invalid (422).
    StartRefusals = [Forbidden, Conflict, NotFound]
);
failures!(
    /// The list: a convention or institution of the filter that does not exist (404), a status
    /// or limit out of range or a cursor not given out by the service (422).
    ListRefusals = [NotFound, Invalid]
);
failures!(
    /// A format that is neither `json` nor `csv`.
    FormatRefused = [Invalid]
);

// ---------------------------------------------------------------------------------------------
// Shared steps.

/// The procedure, if the caller may read it; a ministry is told "not found" for another's.
async fn readable(
    state: &HttpState,
    caller: &Caller,
    id: &ProcedureId,
) -> Result<ProcedureState, Problem> {
    Ok(state.app.readable(id, &caller.actor).await?)
}

fn with_etag(mut response: Response, version: crate::ids::Version) -> Response {
    response.headers_mut().insert(header::ETAG, etag(version));
    response
}

/// Do `act` on procedure `id` as `caller`, at the version `If-Match` names.
#[allow(clippy::too_many_arguments)]
pub(super) async fn act(
    state: HttpState,
    caller: Caller,
    id: ProcedureId,
    headers: HeaderMap,
    what: &'static str,
    body: impl Serialize,
    act: Act,
    took_effect: TookEffect,
) -> Response {
    let path = format!("/api/v1/procedures/{id}/{what}");
    let work = |key| act_once(&state, &caller, &id, &headers, act, took_effect, key);
    idempotency::once(&state, &caller, &headers, &path, &body, work).await
}

/// When an act's body says it took effect, as written.
pub(super) struct TookEffect {
    on: Option<String>,
    approximate: Option<bool>,
}

impl TookEffect {
    /// For the acts whose bodies carry their own dates (the treaty acts): as recorded.
    pub(super) fn as_recorded() -> TookEffect {
        TookEffect {
            on: None,
            approximate: None,
        }
    }

    fn of(on: &Option<String>, approximate: Option<bool>) -> TookEffect {
        TookEffect {
            on: on.clone(),
            approximate,
        }
    }

    /// The day stated, read strictly; the field at fault named.
    fn stated(&self) -> Result<Option<Stated>, Problem> {
        let invalid = |field: &str, detail: String| {
            Problem::new(Failure::Invalid, "invalid-input", detail).with_field(field)
        };
        let approximate = self.approximate.unwrap_or(false);
        match &self.on {
            // Not known, and at the latest the day it is recorded.
            None if approximate => Ok(Some(Stated {
                on: None,
                approximate,
            })),
            None => Ok(None),
            Some(text) => {
                let on = crate::engine::effective::parse_day(text)
                    .map_err(|e| invalid("effective_on", format!("`effective_on`: {e}")))?;
                Ok(Some(Stated {
                    on: Some(on),
                    approximate,
                }))
            }
        }
    }
}

/// The work of `act`: with `key` held, its answer is written with the act.
async fn act_once(
    state: &HttpState,
    caller: &Caller,
    id: &ProcedureId,
    headers: &HeaderMap,
    act: Act,
    took_effect: TookEffect,
    key: Option<HeldKey>,
) -> Result<Answer, Problem> {
    let stated = took_effect.stated()?;
    let current = readable(state, caller, id).await?;
    let command = Command {
        expected_version: if_match(headers)?,
        act,
    };
    let answer = |view: &ProcedureView| idempotency::answer(view, StatusCode::OK, None);
    let app = &state.app;
    Ok(match &key {
        Some(key) => {
            let answering = Answering {
                key,
                answer: &answer,
            };
            app.act_on_answering(current, &command, stated, &caller.actor, answering)
                .await?
        }
        None => answer(
            &app.act_on_stated(current, &command, stated, &caller.actor)
                .await?,
        ),
    })
}

// ---------------------------------------------------------------------------------------------
// Handlers.

/// List procedures the caller may read, by id, a page at a time.
#[utoipa::path(get, path = "/api/v1/procedures", tag = "procedures", params(ListQuery),
    responses((status = 200, body = ProcedurePage), ListRefusals))]
async fn list(
    State(state): State<HttpState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<axum::Json<ProcedurePage>, Problem> {
    let app = &state.app;
    let status = match q.status.as_deref() {
        None => None,
        Some(s) => Some(Status::parse(s).ok_or_else(|| {
            Problem::new(
                Failure::Invalid,
                "invalid-input",
                format!("status `{s}` is not one of active, suspended, withdrawn, completed"),
            )
            .with_field("status")
        })?),
    };
    let request = ListRequest {
        filter: ProcedureFilter {
            state: None,
            convention: q.convention.clone(),
            stage: q.stage.clone(),
            status,
            overdue_on: (q.overdue == Some(true)).then(|| app.today()),
        },
        responsible: q.institution.clone(),
        not_overdue: q.overdue == Some(false),
        cursor: q.cursor.clone(),
        limit: q.limit.unwrap_or(50),
    };
    let page = app.procedures(&caller.actor, &request).await?;
    let next = page.next.as_ref().map(|cursor| next_link(&q, cursor));
    Ok(axum::Json(ProcedurePage {
        items: page.items,
        next_cursor: page.next,
        next,
    }))
}

/// The address of the page after this one: the same query with `cursor`.
fn next_link(q: &ListQuery, cursor: &str) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    let mut pair = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            query.append_pair(k, &v);
        }
    };
    pair("convention", q.convention.as_ref().map(ToString::to_string));
    pair("stage", q.stage.as_ref().map(ToString::to_string));
    pair(
        "institution",
        q.institution.as_ref().map(ToString::to_string),
    );
    pair("overdue", q.overdue.map(|o| o.to_string()));
    pair("status", q.status.clone());
    pair("limit", q.limit.map(|l| l.to_string()));
    pair("cursor", Some(cursor.to_string()));
    format!("/api/v1/procedures?{}", query.finish())
}

/// Start a procedure (coordinators).
#[utoipa::path(post, path = "/api/v1/procedures", tag = "procedures", request_body = StartBody,
    params(StartHeaders),
    responses((status = 201, body = ProcedureView, headers(("ETag" = String), ("Location" = String))),
        StartRefusals))]
async fn start(
    State(state): State<HttpState>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<StartBody>,
) -> Response {
    let work = |key| start_once(&state, &caller, &body, key);
    idempotency::once(&state, &caller, &headers, "/api/v1/procedures", &body, work).await
}

/// The work of `start`: with `key` held, its answer is written with the start.
async fn start_once(
    state: &HttpState,
    caller: &Caller,
    body: &StartBody,
    key: Option<HeldKey>,
) -> Result<Answer, Problem> {
    let id = match &body.id {
        Some(id) => id.clone(),
        None => ProcedureId::parse(format!(
            "{}-{}",
            body.state.as_str().to_lowercase(),
            body.convention
        ))
        .map_err(|e| {
            Problem::new(Failure::Invalid, "invalid-input", e.to_string()).with_field("id")
        })?,
    };
    let workflow = body
        .workflow
        .clone()
        .unwrap_or_else(|| WorkflowId::parse("coe-accession").expect("a valid id"));
    let command = StartProcedure {
        id: id.clone(),
        state: body.state.clone(),
        convention: body.convention.clone(),
        comment: body.comment.clone(),
    };
    let location = format!("/api/v1/procedures/{id}");
    let answer = |view: &ProcedureView| {
        idempotency::answer(view, StatusCode::CREATED, Some(location.clone()))
    };
    let app = &state.app;
    Ok(match &key {
        Some(key) => {
            let answering = Answering {
                key,
                answer: &answer,
            };
            app.start_answering(&workflow, &command, &caller.actor, answering)
                .await?
        }
        None => answer(&app.start(&workflow, &command, &caller.actor).await?),
    })
}

/// One procedure: where it is, what may happen next and by whom, its key dates, timers, and the
/// acts the caller may do now. The `ETag` is its version.
#[utoipa::path(get, path = "/api/v1/procedures/{id}", tag = "procedures",
    params(("id" = ProcedureId, Path, description = "Procedure id, e.g. kg-ets-112")),
    responses((status = 200, body = ProcedureDetail, headers(("ETag" = String)))))]
async fn show(
    State(state): State<HttpState>,
    caller: Caller,
    Path(id): Path<ProcedureId>,
) -> Result<Response, Problem> {
    let view = state.app.view(&caller.actor, &id).await?;
    let allowed_acts = state
        .app
        .allowed_acts(&view.procedure, &caller.actor, Moves::AcceptedNow)
        .await?;
    let version = view.procedure.version;
    Ok(with_etag(
        axum::Json(ProcedureDetail { view, allowed_acts }).into_response(),
        version,
    ))
}

/// Move the procedure to another stage.
#[utoipa::path(post, path = "/api/v1/procedures/{id}/advance", tag = "procedures", request_body = AdvanceBody,
    params(("id" = ProcedureId, Path), ActHeaders),
    responses((status = 200, body = ProcedureView, headers(("ETag" = String))), ActRefusals))]
async fn advance(
    State(state): State<HttpState>,
    caller: Caller,
    Path(id): Path<ProcedureId>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<AdvanceBody>,
) -> Response {
    let a = Act::Advance {
        to: body.to.clone(),
        comment: body.comment.clone(),
    };
    let effect = TookEffect::of(&body.effective_on, body.effective_approximate);
    act(state, caller, id, headers, "advance", body, a, effect).await
}

/// Approve the current stage for the caller's institution.
#[utoipa::path(post, path = "/api/v1/procedures/{id}/approve", tag = "procedures", request_body = OptionalComment,
    params(("id" = ProcedureId, Path), ActHeaders),
    responses((status = 200, body = ProcedureView, headers(("ETag" = String))), ActRefusals))]
async fn approve(
    State(state): State<HttpState>,
    caller: Caller,
    Path(id): Path<ProcedureId>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<OptionalComment>,
) -> Response {
    let a = Act::Approve {
        comment: body.comment.clone(),
    };
    let effect = TookEffect::of(&body.effective_on, body.effective_approximate);
    act(state, caller, id, headers, "approve", body, a, effect).await
}

/// Record a field (a date, a text, a document reference).
#[utoipa::path(post, path = "/api/v1/procedures/{id}/record", tag = "procedures", request_body = RecordBody,
    params(("id" = ProcedureId, Path), ActHeaders),
    responses((status = 200, body = ProcedureView, headers(("ETag" = String))), ActRefusals))]
async fn record(
    State(state): State<HttpState>,
    caller: Caller,
    Path(id): Path<ProcedureId>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<RecordBody>,
) -> Response {
    let a = Act::Record {
        field: body.field.clone(),
        value: body.value.clone(),
        comment: body.comment.clone(),
        source: body.source.clone(),
    };
    let effect = TookEffect::of(&body.effective_on, body.effective_approximate);
    act(state, caller, id, headers, "record", body, a, effect).await
}

/// Comment on the procedure.
#[utoipa::path(post, path = "/api/v1/procedures/{id}/comment", tag = "procedures", request_body = CommentBody,
    params(("id" = ProcedureId, Path), ActHeaders),
    responses((status = 200, body = ProcedureView, headers(("ETag" = String))), ActRefusals))]
async fn comment(
    State(state): State<HttpState>,
    caller: Caller,
    Path(id): Path<ProcedureId>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CommentBody>,
) -> Response {
    let a = Act::Comment {
        text: body.text.clone(),
    };
    let effect = TookEffect::of(&body.effective_on, body.effective_approximate);
    act(state, caller, id, headers, "comment", body, a, effect).await
}

/// Suspend the procedure, with the reason.
#[utoipa::path(post, path = "/api/v1/procedures/{id}/suspend", tag = "procedures", request_body = ReasonBody,
    params(("id" = ProcedureId, Path), ActHeaders),
    responses((status = 200, body = ProcedureView, headers(("ETag" = String))), ActRefusals))]
async fn suspend(
    State(state): State<HttpState>,
    caller: Caller,
    Path(id): Path<ProcedureId>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<ReasonBody>,
) -> Response {
    let a = Act::Suspend {
        reason: body.reason.clone(),
    };
    let effect = TookEffect::of(&body.effective_on, body.effective_approximate);
    act(state, caller, id, headers, "suspend", body, a, effect).await
}

/// Resume a suspended procedure; the stage's period runs again from today.
#[utoipa::path(post, path = "/api/v1/procedures/{id}/resume", tag = "procedures", request_body = OptionalComment,
    params(("id" = ProcedureId, Path), ActHeaders),
    responses((status = 200, body = ProcedureView, headers(("ETag" = String))), ActRefusals))]
async fn resume(
    State(state): State<HttpState>,
    caller: Caller,
    Path(id): Path<ProcedureId>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<OptionalComment>,
) -> Response {
    let a = Act::Resume {
        comment: body.comment.clone(),
    };
    let effect = TookEffect::of(&body.effective_on, body.effective_approximate);
    act(state, caller, id, headers, "resume", body, a, effect).await
}

/// Withdraw the procedure for good, with the reason.
#[utoipa::path(post, path = "/api/v1/procedures/{id}/withdraw", tag = "procedures", request_body = ReasonBody,
    params(("id" = ProcedureId, Path), ActHeaders),
    responses((status = 200, body = ProcedureView, headers(("ETag" = String))), ActRefusals))]
async fn withdraw(
    State(state): State<HttpState>,
    caller: Caller,
    Path(id): Path<ProcedureId>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<ReasonBody>,
) -> Response {
    let a = Act::Withdraw {
        reason: body.reason.clone(),
    };
    let effect = TookEffect::of(&body.effective_on, body.effective_approximate);
    act(state, caller, id, headers, "withdraw", body, a, effect).await
}

/// The headers of a move to another workflow version.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct MigrateHeaders {
    /// The procedure's `ETag` as last read: its version, as `"3"`. A repeated request fails on
    /// it (the procedure is at a new version) rather than moving twice.
    #[param(
        rename = "If-Match",
        pattern = r#"^((W/)?"[1-9][0-9]{0,17}"|[1-9][0-9]{0,17})$"#
    )]
    if_match: String,
}

/// Where to move a procedure: a version of its workflow, and where its stages go.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MigrateBody {
    /// The version of the procedure's workflow to move to.
    #[schema(minimum = 1, maximum = 2147483647)]
    #[serde(deserialize_with = "whole_version")]
    pub to_version: u32,
    /// Old stage id → new stage id; a stage not named keeps its id.
    #[serde(default)]
    pub map: std::collections::BTreeMap<StageId, StageId>,
}

/// A workflow version from JSON: a whole number from 1 to 2³¹−1 (as the database keeps it), written `2` or `2.0` (JSON
/// Schema's integers are numbers without a fraction, however written).
fn whole_version<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    use serde::de::Error;
    let n = serde_json::Number::deserialize(d)?;
    n.as_u64()
        .or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= f64::from(i32::MAX))
                .map(|f| f as u64)
        })
        .filter(|v| *v <= i32::MAX as u64)
        .and_then(|v| u32::try_from(v).ok())
        .filter(|v| *v >= 1)
        .ok_or_else(|| D::Error::custom(format!("{n} is not a workflow version (1 or more)")))
}

/// Move the procedure to another version of its workflow (coordinators), recorded in its
/// history with both versions and the map. Refused (409) when it cannot move: a stage with no
/// place in the new version, a recorded field the new version does not declare, approvals that
/// would lapse; `accession workflows migrate-plan` shows the plan for all.
#[utoipa::path(post, path = "/api/v1/procedures/{id}/migrate", tag = "procedures", request_body = MigrateBody,
    params(("id" = ProcedureId, Path), MigrateHeaders),
    responses((status = 200, body = ProcedureView, headers(("ETag" = String))), ActRefusals))]
async fn migrate(
    State(state): State<HttpState>,
    caller: Caller,
    Path(id): Path<ProcedureId>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<MigrateBody>,
) -> Result<Response, Problem> {
    // As an act: what the path names (404), then the precondition (428, 400), then who may.
    readable(&state, &caller, &id).await?;
    let expected = if_match(&headers)?;
    let view = state
        .app
        .migrate(
            &caller.actor,
            &id,
            body.to_version,
            &body.map,
            Some(expected),
        )
        .await?;
    let version = view.procedure.version;
    Ok(with_etag(axum::Json(view).into_response(), version))
}

/// The procedure's hash-chained history, as JSON or CSV.
#[utoipa::path(get, path = "/api/v1/procedures/{id}/history", tag = "procedures",
    params(("id" = ProcedureId, Path), HistoryQuery),
    responses((status = 200, description = "The rows, oldest first: JSON unless CSV is asked for",
        content((Vec<ChainRow> = "application/json"), (String = "text/csv"))), FormatRefused))]
async fn history(
    State(state): State<HttpState>,
    caller: Caller,
    Path(id): Path<ProcedureId>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<HistoryQuery>,
) -> Result<Response, Problem> {
    let rows = state.app.history(&caller.actor, &id).await?;
    if !super::query::wants_csv(q.format.as_deref(), &headers)? {
        return Ok(axum::Json(rows).into_response());
    }
    let bytes =
        crate::audit::export::history_csv(&rows, false).map_err(|e| AppError::Io(e.to_string()))?;
    Ok(crate::http::csv_attachment(
        bytes,
        &format!("{id}-history.csv"),
    ))
}

/// Recompute the procedure's chain: which row, if any, breaks it.
#[utoipa::path(get, path = "/api/v1/procedures/{id}/history/verify", tag = "procedures",
    params(("id" = ProcedureId, Path)), responses((status = 200, body = VerifyReport)))]
async fn verify(
    State(state): State<HttpState>,
    caller: Caller,
    Path(id): Path<ProcedureId>,
) -> Result<axum::Json<VerifyReport>, Problem> {
    Ok(axum::Json(
        state.app.verify_procedure(&caller.actor, &id).await?,
    ))
}

/// The procedure's upcoming timers: deadline, reminders, escalation.
#[utoipa::path(get, path = "/api/v1/procedures/{id}/timers", tag = "procedures",
    params(("id" = ProcedureId, Path)), responses((status = 200, body = Vec<TimerRow>)))]
async fn timers(
    State(state): State<HttpState>,
    caller: Caller,
    Path(id): Path<ProcedureId>,
) -> Result<axum::Json<Vec<TimerRow>>, Problem> {
    Ok(axum::Json(
        state.app.procedure_timers(&caller.actor, &id).await?,
    ))
}
