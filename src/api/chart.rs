//! The chart of signatures and ratifications: `/api/v1/conventions/{id}/chart` (one row per
//! State) and `/api/v1/states/{code}/chart` (one row per convention), as the record stood at the
//! end of `as_of`, as JSON or CSV. Every row is folded from the procedure's history.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::query::ApiQuery;
use super::responses::failures;
use crate::app::AppError;
use crate::app::chart::{Chart, ChartOf, chart_csv};
use crate::http::{Caller, HttpState, Problem};
use crate::ids::{ConventionId, StateCode};

failures!(
    /// A format that is neither json nor csv (422).
    ChartRefused = [Invalid]
);

pub fn routes() -> OpenApiRouter<HttpState> {
    OpenApiRouter::new()
        .routes(routes!(convention_chart))
        .routes(routes!(state_chart))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ChartQuery {
    /// The record as it stood at the end of this day (in the service's time zone); default:
    /// today.
    pub as_of: Option<NaiveDate>,
    /// `json` (default) or `csv`; `Accept: text/csv` also gives CSV.
    #[param(pattern = "^(json|csv)$")]
    pub format: Option<String>,
}

/// A convention's chart: one row per State with a procedure, members first, each with its
/// signature, deposit (`a`: accession), entry into force and status as of the day.
#[utoipa::path(get, path = "/api/v1/conventions/{id}/chart", tag = "procedures",
    params(("id" = ConventionId, Path, description = "Convention id, e.g. ets-112"), ChartQuery),
    responses((status = 200, description = "The chart: JSON unless CSV is asked for",
        content((Chart = "application/json"), (String = "text/csv"))), ChartRefused))]
async fn convention_chart(
    State(state): State<HttpState>,
    caller: Caller,
    Path(id): Path<ConventionId>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<ChartQuery>,
) -> Result<Response, Problem> {
    let name = format!("{id}-chart");
    answer(&state, &caller, ChartOf::Convention(id), &headers, q, &name).await
}

/// A State's chart: one row per convention it has a procedure for, as of the day.
#[utoipa::path(get, path = "/api/v1/states/{code}/chart", tag = "procedures",
    params(("code" = StateCode, Path, description = "ISO 3166-1 alpha-2, e.g. KG"), ChartQuery),
    responses((status = 200, description = "The chart: JSON unless CSV is asked for",
        content((Chart = "application/json"), (String = "text/csv"))), ChartRefused))]
async fn state_chart(
    State(state): State<HttpState>,
    caller: Caller,
    Path(code): Path<StateCode>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<ChartQuery>,
) -> Result<Response, Problem> {
    let name = format!("{code}-chart");
    answer(&state, &caller, ChartOf::State(code), &headers, q, &name).await
}

async fn answer(
    state: &HttpState,
    caller: &Caller,
    of: ChartOf,
    headers: &HeaderMap,
    q: ChartQuery,
    name: &str,
) -> Result<Response, Problem> {
    let wants_csv = super::query::wants_csv(q.format.as_deref(), headers)?;
    let chart: Chart = state.app.chart(&caller.actor, &of, q.as_of).await?;
    if !wants_csv {
        return Ok(axum::Json(chart).into_response());
    }
    let bytes = chart_csv(&chart).map_err(|e| AppError::Io(e.to_string()))?;
    Ok(crate::http::csv_attachment(
        bytes,
        &format!("{name}-{}.csv", chart.as_of),
    ))
}
