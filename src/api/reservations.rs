//! `/api/v1/procedures/{id}/reservations` and the acts on them: the reservations, declarations,
//! designations of authorities and territorial applications the State made, each with where it
//! stands on a day, its validity and its next reminder (JSON or CSV); and the acts that record
//! one (`reserve`), renew, modify or withdraw it. Each act goes through the engine like the
//! other treaty acts (`If-Match`, refused with the rule it breaks, recorded in the history).

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::json::ApiJson;
use super::procedures::{ActHeaders, ActRefusals, TookEffect, act};
use super::query::ApiQuery;
use super::responses::failures;
use crate::app::reservations::{ReservationList, reservations_csv};
use crate::app::{AppError, ProcedureView};
use crate::engine::{Act, MadeAt, ReservationKind};
use crate::http::{Caller, HttpState, Problem};
use crate::ids::ProcedureId;

failures!(
    /// A format that is neither json nor csv, or a day that is not one (422).
    ReservationsRefused = [Invalid]
);

pub fn routes() -> OpenApiRouter<HttpState> {
    OpenApiRouter::new()
        .routes(routes!(reservations))
        .routes(routes!(reserve))
        .routes(routes!(renew_reservation))
        .routes(routes!(modify_reservation))
        .routes(routes!(withdraw_reservation))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReservationsQuery {
    /// Where each stands at this day; default: today.
    pub as_of: Option<NaiveDate>,
    /// `json` (default) or `csv`; `Accept: text/csv` also gives CSV.
    #[param(pattern = "^(json|csv)$")]
    pub format: Option<String>,
}

/// The procedure's reservations and declarations, with the convention's regime, each with its
/// status on the day, validity and next reminder.
#[utoipa::path(get, path = "/api/v1/procedures/{id}/reservations", tag = "procedures",
    params(("id" = ProcedureId, Path), ReservationsQuery),
    responses((status = 200, description = "The list: JSON unless CSV is asked for",
        content((ReservationList = "application/json"), (String = "text/csv"))),
        ReservationsRefused))]
async fn reservations(
    State(state): State<HttpState>,
    caller: Caller,
    Path(id): Path<ProcedureId>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<ReservationsQuery>,
) -> Result<Response, Problem> {
    let wants_csv = super::query::wants_csv(q.format.as_deref(), &headers)?;
    let list = state.app.reservations(&caller.actor, &id, q.as_of).await?;
    if !wants_csv {
        return Ok(axum::Json(list).into_response());
    }
    let bytes = reservations_csv(&list).map_err(|e| AppError::Io(e.to_string()))?;
    Ok(crate::http::csv_attachment(
        bytes,
        &format!("{id}-reservations-{}.csv", list.as_of),
    ))
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReserveBody {
    pub kind: ReservationKind,
    /// The article it is made under, e.g. `Art. 78(2)`.
    #[schema(pattern = r"\S", max_length = 200)]
    pub article: String,
    /// The text by language code (two or three lowercase letters: `en`, `ru`, `ky`); at least
    /// one.
    pub text: BTreeMap<String, String>,
    /// At signature or at deposit (dated that day), or later (declarations only).
    pub made_at: MadeAt,
    pub made_on: NaiveDate,
    #[schema(pattern = r"\S", max_length = 4000)]
    pub comment: Option<String>,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenewBody {
    /// The reservation's number in the procedure.
    #[schema(minimum = 1)]
    pub number: u32,
    /// The day the renewal was notified; a new period runs from the old expiry.
    pub on: NaiveDate,
    #[schema(pattern = r"\S", max_length = 4000)]
    pub comment: Option<String>,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ModifyBody {
    #[schema(minimum = 1)]
    pub number: u32,
    /// The day the modification was notified.
    pub on: NaiveDate,
    /// The new text by language code.
    pub text: BTreeMap<String, String>,
    #[schema(pattern = r"\S", max_length = 4000)]
    pub comment: Option<String>,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WithdrawBody {
    #[schema(minimum = 1)]
    pub number: u32,
    /// The day the Secretary General received the notification.
    pub received_on: NaiveDate,
    /// A later day the notification states it takes effect; default: on receipt.
    pub effective_on: Option<NaiveDate>,
    #[schema(pattern = r"\S", max_length = 4000)]
    pub comment: Option<String>,
}

/// Record a reservation, declaration, designation of an authority or territorial application.
#[utoipa::path(post, path = "/api/v1/procedures/{id}/reserve", tag = "procedures",
    request_body = ReserveBody, params(("id" = ProcedureId, Path), ActHeaders),
    responses((status = 200, body = ProcedureView, headers(("ETag" = String))), ActRefusals))]
async fn reserve(
    State(state): State<HttpState>,
    caller: Caller,
    Path(id): Path<ProcedureId>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<ReserveBody>,
) -> Response {
    let a = Act::Reserve {
        kind: body.kind,
        article: body.article.clone(),
        text: body.text.clone(),
        made_at: body.made_at,
        made_on: body.made_on,
        comment: body.comment.clone(),
    };
    act(
        state,
        caller,
        id,
        headers,
        "reserve",
        body,
        a,
        TookEffect::as_recorded(),
    )
    .await
}

/// Record the renewal of a reservation the convention limits in time.
#[utoipa::path(post, path = "/api/v1/procedures/{id}/renew-reservation", tag = "procedures",
    request_body = RenewBody, params(("id" = ProcedureId, Path), ActHeaders),
    responses((status = 200, body = ProcedureView, headers(("ETag" = String))), ActRefusals))]
async fn renew_reservation(
    State(state): State<HttpState>,
    caller: Caller,
    Path(id): Path<ProcedureId>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<RenewBody>,
) -> Response {
    let a = Act::RenewReservation {
        number: body.number,
        on: body.on,
        comment: body.comment.clone(),
    };
    act(
        state,
        caller,
        id,
        headers,
        "renew-reservation",
        body,
        a,
        TookEffect::as_recorded(),
    )
    .await
}

/// Record the modification of a reservation or declaration, with its new text.
#[utoipa::path(post, path = "/api/v1/procedures/{id}/modify-reservation", tag = "procedures",
    request_body = ModifyBody, params(("id" = ProcedureId, Path), ActHeaders),
    responses((status = 200, body = ProcedureView, headers(("ETag" = String))), ActRefusals))]
async fn modify_reservation(
    State(state): State<HttpState>,
    caller: Caller,
    Path(id): Path<ProcedureId>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<ModifyBody>,
) -> Response {
    let a = Act::ModifyReservation {
        number: body.number,
        on: body.on,
        text: body.text.clone(),
        comment: body.comment.clone(),
    };
    act(
        state,
        caller,
        id,
        headers,
        "modify-reservation",
        body,
        a,
        TookEffect::as_recorded(),
    )
    .await
}

/// Record the withdrawal of a reservation or declaration, effective on receipt or on the later
/// day the notification states.
#[utoipa::path(post, path = "/api/v1/procedures/{id}/withdraw-reservation", tag = "procedures",
    request_body = WithdrawBody, params(("id" = ProcedureId, Path), ActHeaders),
    responses((status = 200, body = ProcedureView, headers(("ETag" = String))), ActRefusals))]
async fn withdraw_reservation(
    State(state): State<HttpState>,
    caller: Caller,
    Path(id): Path<ProcedureId>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<WithdrawBody>,
) -> Response {
    let a = Act::WithdrawReservation {
        number: body.number,
        received_on: body.received_on,
        effective_on: body.effective_on,
        comment: body.comment.clone(),
    };
    act(
        state,
        caller,
        id,
        headers,
        "withdraw-reservation",
        body,
        a,
        TookEffect::as_recorded(),
    )
    .await
}
