//! `/api/v1/procedures/{id}/…`: the acts of treaty practice beside the workflow's — the
//! extension of an invitation to accede, the extension of a stage's deadline (the consultation
//! of the Parties), and the objections of Parties raised and withdrawn. Each is one act through
//! the engine, refused with the rule it breaks, like the acts in `procedures.rs`.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::json::ApiJson;
use super::procedures::{ActHeaders, ActRefusals, TookEffect, act};
use crate::app::ProcedureView;
use crate::engine::Act;
use crate::http::{Caller, HttpState};
use crate::ids::{ProcedureId, StateCode};

pub fn routes() -> OpenApiRouter<HttpState> {
    OpenApiRouter::new()
        .routes(routes!(extend_invitation))
        .routes(routes!(extend_deadline))
        .routes(routes!(raise_objection))
        .routes(routes!(withdraw_objection))
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtendInvitationBody {
    /// The new last day of validity, later than the present one.
    pub until: NaiveDate,
    /// The reference of the Committee of Ministers' decision.
    #[schema(pattern = r"\S", max_length = 4000)]
    pub decision: String,
    #[schema(pattern = r"\S", max_length = 4000)]
    pub comment: Option<String>,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtendDeadlineBody {
    /// The new due day of the current stage, later than the present one.
    pub until: NaiveDate,
    #[schema(pattern = r"\S", max_length = 4000)]
    pub reason: String,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ObjectionBody {
    /// The objecting Party.
    pub party: StateCode,
    #[schema(pattern = r"\S", max_length = 4000)]
    pub text: String,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WithdrawObjectionBody {
    pub party: StateCode,
    #[schema(pattern = r"\S", max_length = 4000)]
    pub comment: Option<String>,
}

/// Record the Committee of Ministers' extension of the invitation to accede.
#[utoipa::path(post, path = "/api/v1/procedures/{id}/extend-invitation", tag = "procedures",
    request_body = ExtendInvitationBody, params(("id" = ProcedureId, Path), ActHeaders),
    responses((status = 200, body = ProcedureView, headers(("ETag" = String))), ActRefusals))]
async fn extend_invitation(
    State(state): State<HttpState>,
    caller: Caller,
    Path(id): Path<ProcedureId>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<ExtendInvitationBody>,
) -> Response {
    let a = Act::ExtendInvitation {
        until: body.until,
        decision: body.decision.clone(),
        comment: body.comment.clone(),
    };
    act(
        state,
        caller,
        id,
        headers,
        "extend-invitation",
        body,
        a,
        TookEffect::as_recorded(),
    )
    .await
}

/// Move the current stage's deadline later (the consultation of the Parties extended).
#[utoipa::path(post, path = "/api/v1/procedures/{id}/extend-deadline", tag = "procedures",
    request_body = ExtendDeadlineBody, params(("id" = ProcedureId, Path), ActHeaders),
    responses((status = 200, body = ProcedureView, headers(("ETag" = String))), ActRefusals))]
async fn extend_deadline(
    State(state): State<HttpState>,
    caller: Caller,
    Path(id): Path<ProcedureId>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<ExtendDeadlineBody>,
) -> Response {
    let a = Act::ExtendDeadline {
        until: body.until,
        reason: body.reason.clone(),
    };
    act(
        state,
        caller,
        id,
        headers,
        "extend-deadline",
        body,
        a,
        TookEffect::as_recorded(),
    )
    .await
}

/// Record a Party's objection in the consultation of the Parties.
#[utoipa::path(post, path = "/api/v1/procedures/{id}/raise-objection", tag = "procedures",
    request_body = ObjectionBody, params(("id" = ProcedureId, Path), ActHeaders),
    responses((status = 200, body = ProcedureView, headers(("ETag" = String))), ActRefusals))]
async fn raise_objection(
    State(state): State<HttpState>,
    caller: Caller,
    Path(id): Path<ProcedureId>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<ObjectionBody>,
) -> Response {
    let a = Act::RaiseObjection {
        party: body.party.clone(),
        text: body.text.clone(),
    };
    act(
        state,
        caller,
        id,
        headers,
        "raise-objection",
        body,
        a,
        TookEffect::as_recorded(),
    )
    .await
}

/// Record the withdrawal of a Party's objection.
#[utoipa::path(post, path = "/api/v1/procedures/{id}/withdraw-objection", tag = "procedures",
    request_body = WithdrawObjectionBody, params(("id" = ProcedureId, Path), ActHeaders),
    responses((status = 200, body = ProcedureView, headers(("ETag" = String))), ActRefusals))]
async fn withdraw_objection(
    State(state): State<HttpState>,
    caller: Caller,
    Path(id): Path<ProcedureId>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<WithdrawObjectionBody>,
) -> Response {
    let a = Act::WithdrawObjection {
        party: body.party.clone(),
        comment: body.comment.clone(),
    };
    act(
        state,
        caller,
        id,
        headers,
        "withdraw-objection",
        body,
        a,
        TookEffect::as_recorded(),
    )
    .await
}
