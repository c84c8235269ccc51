//! Reference data: workflows (list, definition, diagram), conventions, States and institutions.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::query::ApiQuery;
use super::responses::failures;
use crate::app::AppError;
use crate::http::Caller;
use crate::http::Failure;
use crate::http::HttpState;
use crate::http::Problem;
use crate::ids::WorkflowId;
use crate::reference::{Convention, Institution, State as Party};
use crate::workflow::{DiagramFormat, render_diagram};

pub fn routes() -> OpenApiRouter<HttpState> {
    OpenApiRouter::new()
        .routes(routes!(workflows))
        .routes(routes!(workflow))
        .routes(routes!(diagram))
        .routes(routes!(conventions))
        .routes(routes!(states))
        .routes(routes!(institutions))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WorkflowSummary {
    pub id: WorkflowId,
    pub version: u32,
    pub title: String,
    pub stages: usize,
    /// SHA-256 of the definition file: procedures keep the definition they started on.
    pub hash: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DiagramQuery {
    /// `mermaid` (default) or `dot`.
    #[param(pattern = "^(mermaid|dot)$")]
    pub format: Option<String>,
}

failures!(
    /// A format that is neither `mermaid` nor `dot`.
    FormatRefused = [Invalid]
);

fn definition(
    state: &HttpState,
    id: &WorkflowId,
) -> Result<std::sync::Arc<crate::workflow::WorkflowDefinition>, Problem> {
    state.app.catalog().current(id).ok_or_else(|| {
        AppError::NotFound {
            what: "workflow",
            id: id.to_string(),
        }
        .into()
    })
}

/// The workflows of the workflows folder, latest version of each.
#[utoipa::path(get, path = "/api/v1/workflows", tag = "reference",
    responses((status = 200, body = Vec<WorkflowSummary>)))]
async fn workflows(
    State(state): State<HttpState>,
    _caller: Caller,
) -> axum::Json<Vec<WorkflowSummary>> {
    let mut list: Vec<WorkflowSummary> = state
        .app
        .catalog()
        .all()
        .map(|d| WorkflowSummary {
            id: d.id.clone(),
            version: d.version,
            title: d.title.clone(),
            stages: d.stages.len(),
            hash: d.content_hash.clone(),
        })
        .collect();
    list.sort_by(|a, b| a.id.cmp(&b.id).then(a.version.cmp(&b.version)));
    axum::Json(list)
}

/// A workflow's definition: stages, transitions, deadlines, reminders, approvals, fields.
#[utoipa::path(get, path = "/api/v1/workflows/{id}", tag = "reference",
    params(("id" = WorkflowId, Path, description = "e.g. coe-accession")),
    responses((status = 200, body = Object, description = "The definition as parsed from its file")))]
async fn workflow(
    State(state): State<HttpState>,
    _caller: Caller,
    Path(id): Path<WorkflowId>,
) -> Result<Response, Problem> {
    let def = definition(&state, &id)?;
    Ok(axum::Json(def.as_ref()).into_response())
}

/// The workflow's state machine as Mermaid or Graphviz DOT text.
#[utoipa::path(get, path = "/api/v1/workflows/{id}/diagram", tag = "reference",
    params(("id" = WorkflowId, Path), DiagramQuery),
    responses((status = 200, body = String, content_type = "text/plain"), FormatRefused))]
async fn diagram(
    State(state): State<HttpState>,
    _caller: Caller,
    Path(id): Path<WorkflowId>,
    ApiQuery(q): ApiQuery<DiagramQuery>,
) -> Result<Response, Problem> {
    let format = match q.format.as_deref() {
        None | Some("mermaid") => DiagramFormat::Mermaid,
        Some("dot") => DiagramFormat::Dot,
        Some(other) => {
            return Err(Problem::new(
                Failure::Invalid,
                "invalid-input",
                format!("format `{other}` is not mermaid or dot"),
            )
            .with_field("format"));
        }
    };
    let def = definition(&state, &id)?;
    let mut response = render_diagram(&def, format).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    Ok(response)
}

/// The conventions, with their treaty date rules.
#[utoipa::path(get, path = "/api/v1/conventions", tag = "reference",
    responses((status = 200, body = Vec<Convention>)))]
async fn conventions(
    State(state): State<HttpState>,
    _caller: Caller,
) -> Result<axum::Json<Vec<Convention>>, Problem> {
    Ok(axum::Json(state.app.conventions().await?))
}

/// The States registry: codes, names in the interface's languages, Council of Europe
/// membership. A procedure's State is one of these.
#[utoipa::path(get, path = "/api/v1/states", tag = "reference",
    responses((status = 200, body = Vec<Party>)))]
async fn states(
    State(state): State<HttpState>,
    _caller: Caller,
) -> Result<axum::Json<Vec<Party>>, Problem> {
    Ok(axum::Json(state.app.states().await?))
}

/// The institutions, each with its State: languages, time zones, addresses, the coordinator.
#[utoipa::path(get, path = "/api/v1/institutions", tag = "reference",
    responses((status = 200, body = Vec<Institution>)))]
async fn institutions(
    State(state): State<HttpState>,
    _caller: Caller,
) -> Result<axum::Json<Vec<Institution>>, Problem> {
    Ok(axum::Json(state.app.institutions().await?))
}
