//! The signed checkpoints of the history log (auditors, coordinators, admins), so copies of them
//! live outside the database.

use axum::extract::{RawQuery, State};

use crate::engine::Permission;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::query::ApiQuery;
use super::responses::failures;
use crate::app::cursor::{CheckpointCursor, Cursor};
use crate::audit::checkpoint::Checkpoint;
use crate::http::{Caller, Failure, HttpState, Problem};

failures!(
    /// A role that may not (403), a limit or cursor that does not fit (422).
    CheckpointsRefused = [Forbidden, Invalid]
);

pub fn routes() -> OpenApiRouter<HttpState> {
    OpenApiRouter::new().routes(routes!(checkpoints))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CheckpointsQuery {
    /// At most this many, newest first (1 to 500; default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u64>,
    /// The next page: the cursor of the previous page's `Link: <…>; rel="next"`, unchanged.
    #[param(schema_with = super::query::checkpoint_cursor)]
    pub cursor: Option<String>,
}

/// A checkpoint as kept: its number and its signed JSON form.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckpointRow {
    pub id: i64,
    pub checkpoint: Checkpoint,
}

/// The signed checkpoints (signed tree heads) of the log over all history, newest first. Check
/// one with `accession audit verify --checkpoint FILE`.
#[utoipa::path(get, path = "/api/v1/audit/checkpoints", tag = "operations",
    params(CheckpointsQuery),
    responses((status = 200, body = Vec<CheckpointRow>), CheckpointsRefused))]
async fn checkpoints(
    State(state): State<HttpState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<Response, Problem> {
    caller.may(Permission::ReadAudit)?;
    let ApiQuery(q) = ApiQuery::<CheckpointsQuery>::parse(query.as_deref())?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(Problem::new(
            Failure::Invalid,
            "invalid-input",
            format!("limit {limit} is not between 1 and 500"),
        )
        .with_field("limit"));
    }
    let before = CheckpointCursor::decode(q.cursor.as_deref())?.map(|c| c.0);
    let (rows, more) = state.app.checkpoints(&caller.actor, before, limit).await?;
    let next = more.then(|| rows.last().map(|(id, _)| *id)).flatten();
    let body: Vec<CheckpointRow> = rows
        .into_iter()
        .map(|(id, checkpoint)| CheckpointRow { id, checkpoint })
        .collect();
    let mut response = axum::Json(body).into_response();
    if let Some(id) = next
        && let Ok(value) = axum::http::HeaderValue::from_str(&format!(
            "</api/v1/audit/checkpoints?limit={limit}&cursor={}>; rel=\"next\"",
            CheckpointCursor(id).encode()
        ))
    {
        response
            .headers_mut()
            .insert(axum::http::header::LINK, value);
    }
    Ok(response)
}
