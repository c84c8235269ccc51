//! Operations: the outbox and the upcoming timers (coordinators, admins), chain verification of
//! every procedure (auditors, coordinators, admins), API tokens (admins) and their calendar feed
//! keys (admins, or a token for itself), and the unauthenticated probes: `/healthz`, `/readyz`,
//! `/metrics`.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::json::ApiJson;
use super::query::ApiQuery;
use super::responses::failures;
use crate::app::cursor::{Cursor, OutboxCursor, TimerCursor};
use crate::app::{AppError, NewFeedKey};
use crate::engine::{Permission, Role};
use crate::http::Caller;
use crate::http::Failure;
use crate::http::HttpState;
use crate::http::Problem;
use crate::ids::InstitutionId;
use crate::store::{OutboxRow, OutboxStatus, TokenRow, Verdicts, VerifyReport};

pub fn routes() -> OpenApiRouter<HttpState> {
    OpenApiRouter::new()
        .routes(routes!(outbox))
        .routes(routes!(outbox_row))
        .routes(routes!(outbox_retry))
        .routes(routes!(upcoming))
        .routes(routes!(audit_verify))
        .routes(routes!(tokens, create_token))
        .routes(routes!(revoke_token))
        .routes(routes!(renew_feed_key))
        .routes(routes!(renew_own_feed_key))
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OutboxQuery {
    /// pending, sent, dead or cancelled.
    #[param(value_type = Option<OutboxStatus>)]
    pub status: Option<String>,
    /// At most this many, newest first (1 to 500; default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u64>,
    /// The next page: the cursor of the previous page's `Link: <…>; rel="next"`, unchanged.
    #[param(schema_with = super::query::outbox_cursor)]
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UpcomingQuery {
    /// Timers due before this instant (RFC 3339); default: the next 30 days.
    pub until: Option<DateTime<Utc>>,
    /// At most this many, soonest first (1 to 500; default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u64>,
    /// The next page: the cursor of the previous page's `Link: <…>; rel="next"`, unchanged.
    #[param(schema_with = super::query::timer_cursor)]
    pub cursor: Option<String>,
}

failures!(
    /// A role that may not.
    RoleRefused = [Forbidden]
);
failures!(
    /// A role that may not (403), a status or limit out of range (422).
    RoleOrValueRefused = [Forbidden, Invalid]
);
failures!(
    /// A role that may not (403), a row that is not dead (409).
    RetryRefused = [Forbidden, Conflict]
);
failures!(
    /// A role that may not (403), an institution that does not exist (404).
    NewTokenRefused = [Forbidden, NotFound]
);
failures!(
    /// A role that may not (403), a token that does not exist (404) or is revoked (409).
    FeedKeyRefused = [Forbidden, NotFound, Conflict]
);
failures!(
    /// The database cannot be reached or its schema is not current.
    NotReady = [Unavailable]
);

#[derive(Debug, Serialize, ToSchema)]
pub struct UpcomingTimer {
    pub procedure: String,
    pub stage: String,
    pub kind: String,
    pub rule: String,
    pub fire_at: DateTime<Utc>,
    pub recipients: Vec<String>,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTokenBody {
    pub institution: InstitutionId,
    /// `coordinator` and `admin` only for the coordinating institution; `ministry` and
    /// `auditor` for any.
    pub role: Role,
    /// Who or what will use the token: one line, not blank, at most 200 characters.
    #[schema(
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$",
        max_length = 200
    )]
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedToken {
    /// Shown this once: only its SHA-256 is stored.
    pub token: String,
    #[serde(flatten)]
    pub row: TokenRow,
}

/// The list as JSON, with `Link: <path&cursor=…>; rel="next"` when another page follows.
fn with_next<T: serde::Serialize>(body: T, next: Option<String>) -> axum::response::Response {
    use axum::response::IntoResponse;
    let mut response = axum::Json(body).into_response();
    if let Some(next) = next
        && let Ok(value) = axum::http::HeaderValue::from_str(&format!("<{next}>; rel=\"next\""))
    {
        response
            .headers_mut()
            .insert(axum::http::header::LINK, value);
    }
    response
}

fn limit(value: Option<u64>) -> Result<u64, Problem> {
    let limit = value.unwrap_or(50);
    if (1..=500).contains(&limit) {
        Ok(limit)
    } else {
        Err(Problem::new(
            Failure::Invalid,
            "invalid-input",
            format!("limit {limit} is not between 1 and 500"),
        )
        .with_field("limit"))
    }
}

/// The emails: pending, sent, dead letters with their last error, cancelled.
#[utoipa::path(get, path = "/api/v1/outbox", tag = "operations", params(OutboxQuery),
    responses((status = 200, body = Vec<OutboxRow>), RoleOrValueRefused))]
async fn outbox(
    State(state): State<HttpState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<Response, Problem> {
    caller.may(Permission::ReadOutbox)?;
    let ApiQuery(q) = ApiQuery::<OutboxQuery>::parse(query.as_deref())?;
    let status = match q.status.as_deref() {
        None => None,
        Some(s) => Some(OutboxStatus::parse(s).ok_or_else(|| {
            let known: Vec<&str> = OutboxStatus::ALL.map(OutboxStatus::as_str).into();
            Problem::new(
                Failure::Invalid,
                "invalid-input",
                format!("status `{s}` is not one of {}", known.join(", ")),
            )
            .with_field("status")
        })?),
    };
    let before = OutboxCursor::decode(q.cursor.as_deref())?.map(|c| c.0);
    let limit = limit(q.limit)?;
    let (rows, more) = state
        .app
        .outbox_page(&caller.actor, status, before, limit)
        .await?;
    let next = more.then(|| rows.last().map(|r| r.id)).flatten().map(|id| {
        let mut query = form_urlencoded::Serializer::new(String::new());
        if let Some(s) = &q.status {
            query.append_pair("status", s);
        }
        query.append_pair("limit", &limit.to_string());
        query.append_pair("cursor", &OutboxCursor(id).encode());
        format!("/api/v1/outbox?{}", query.finish())
    });
    Ok(with_next(rows, next))
}

/// One email of the outbox.
#[utoipa::path(get, path = "/api/v1/outbox/{id}", tag = "operations", params(("id" = i64, Path)),
    responses((status = 200, body = OutboxRow), RoleRefused))]
async fn outbox_row(
    State(state): State<HttpState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<axum::Json<OutboxRow>, Problem> {
    Ok(axum::Json(state.app.outbox_row(&caller.actor, id).await?))
}

/// Put a dead email back in the queue.
#[utoipa::path(post, path = "/api/v1/outbox/{id}/retry", tag = "operations", params(("id" = i64, Path)),
    responses((status = 200, body = OutboxRow), RetryRefused))]
async fn outbox_retry(
    State(state): State<HttpState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<axum::Json<OutboxRow>, Problem> {
    Ok(axum::Json(state.app.retry_email(&caller.actor, id).await?))
}

/// Reminders, deadlines and escalations coming up across all procedures.
#[utoipa::path(get, path = "/api/v1/timers", tag = "operations", params(UpcomingQuery),
    responses((status = 200, body = Vec<UpcomingTimer>), RoleOrValueRefused))]
async fn upcoming(
    State(state): State<HttpState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<axum::response::Response, Problem> {
    caller.may(Permission::ReadTimers)?;
    let ApiQuery(q) = ApiQuery::<UpcomingQuery>::parse(query.as_deref())?;
    let until = q
        .until
        .unwrap_or_else(|| state.app.now() + TimeDelta::days(30));
    let after = TimerCursor::decode(q.cursor.as_deref())?.map(|c| (c.at, c.id));
    let limit = limit(q.limit)?;
    let (rows, more) = state
        .app
        .upcoming_timers(&caller.actor, until, after, limit)
        .await?;
    let next = more.then(|| rows.last()).flatten().map(|c| {
        let mut query = form_urlencoded::Serializer::new(String::new());
        query.append_pair("until", &until.to_rfc3339());
        query.append_pair("limit", &limit.to_string());
        let cursor = TimerCursor {
            at: c.timer.fire_at,
            id: c.id,
        };
        query.append_pair("cursor", &cursor.encode());
        format!("/api/v1/timers?{}", query.finish())
    });
    Ok(with_next(
        rows.into_iter()
            .map(|c| UpcomingTimer {
                procedure: c.procedure.to_string(),
                stage: c.timer.stage.to_string(),
                kind: c.timer.kind.as_str().to_string(),
                rule: c.timer.rule,
                fire_at: c.timer.fire_at,
                recipients: c.timer.recipients.iter().map(|r| r.to_string()).collect(),
            })
            .collect::<Vec<_>>(),
        next,
    ))
}

/// Recompute every procedure's chain.
#[utoipa::path(get, path = "/api/v1/audit/verify", tag = "operations",
    responses((status = 200, body = VerifyReport), RoleRefused))]
async fn audit_verify(
    State(state): State<HttpState>,
    caller: Caller,
) -> Result<axum::Json<VerifyReport>, Problem> {
    Ok(axum::Json(
        state
            .app
            .verify_history(&caller.actor, None, Verdicts::Every)
            .await?,
    ))
}

/// The API tokens (never the tokens themselves).
#[utoipa::path(get, path = "/api/v1/tokens", tag = "operations",
    responses((status = 200, body = Vec<TokenRow>), RoleRefused))]
async fn tokens(
    State(state): State<HttpState>,
    caller: Caller,
) -> Result<axum::Json<Vec<TokenRow>>, Problem> {
    Ok(axum::Json(state.app.tokens(&caller.actor).await?))
}

/// Create a token for an institution and role; the token is in this answer only.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "operations", request_body = NewTokenBody,
    responses((status = 201, body = CreatedToken, headers(("Cache-Control" = String, description = "`no-store`: the token is shown once"))),
        NewTokenRefused))]
async fn create_token(
    State(state): State<HttpState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewTokenBody>,
) -> Result<Response, Problem> {
    let new = state
        .app
        .create_token(&caller.actor, &body.institution, body.role, &body.name)
        .await
        .map_err(|e| match e {
            // Besides the role (named by the application), the name is the one free text here.
            AppError::Invalid(_) => Problem::from(e).with_field("name"),
            e => Problem::from(e),
        })?;
    let mut response = (
        StatusCode::CREATED,
        axum::Json(CreatedToken {
            token: new.token.clone(),
            row: new.row,
        }),
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Revoke a token: from now on it is refused (401).
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "operations", params(("id" = i64, Path)),
    responses((status = 200, body = TokenRow), RoleRefused))]
async fn revoke_token(
    State(state): State<HttpState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<axum::Json<TokenRow>, Problem> {
    Ok(axum::Json(state.app.revoke_token(&caller.actor, id).await?))
}

/// A calendar feed key just made.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedFeedKey {
    /// The iCalendar feed of the token's institution, key included: shown this once, as only the
    /// key's SHA-256 is stored. The previous address no longer works.
    pub url: String,
    pub token: TokenRow,
}

fn feed_key_response(new: NewFeedKey) -> Response {
    let mut response = (
        StatusCode::CREATED,
        axum::Json(CreatedFeedKey {
            url: new.url,
            token: new.token,
        }),
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Make a new calendar feed key for a token (admins); its previous feed address stops working.
#[utoipa::path(post, path = "/api/v1/tokens/{id}/feed-key", tag = "operations", params(("id" = i64, Path)),
    responses((status = 201, body = CreatedFeedKey, headers(("Cache-Control" = String, description = "`no-store`: the key is shown once"))),
        FeedKeyRefused))]
async fn renew_feed_key(
    State(state): State<HttpState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Response, Problem> {
    Ok(feed_key_response(
        state
            .app
            .renew_feed_key(&caller.actor, Some(caller.token_id), id)
            .await?,
    ))
}

/// Make a new calendar feed key for the token of this request (any role); its previous feed
/// address stops working.
#[utoipa::path(post, path = "/api/v1/feed-key", tag = "operations",
    responses((status = 201, body = CreatedFeedKey, headers(("Cache-Control" = String, description = "`no-store`: the key is shown once")))))]
async fn renew_own_feed_key(
    State(state): State<HttpState>,
    caller: Caller,
) -> Result<Response, Problem> {
    Ok(feed_key_response(
        state
            .app
            .renew_feed_key(&caller.actor, Some(caller.token_id), caller.token_id)
            .await?,
    ))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    pub status: String,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations", security(()),
    responses((status = 200, body = Health)))]
async fn healthz() -> axum::Json<Health> {
    axum::Json(Health {
        status: "ok".into(),
    })
}

/// The database is reachable, its schema current, and it takes writes (a full disk lets reads
/// through and refuses every write, so a write is tried).
#[utoipa::path(get, path = "/readyz", tag = "operations", security(()),
    responses((status = 200, body = Health), NotReady))]
async fn readyz(State(state): State<HttpState>) -> Result<axum::Json<Health>, Problem> {
    state
        .app
        .readiness()
        .await
        .map_err(|why| Problem::new(Failure::Unavailable, "not-ready", why.to_string()))?;
    Ok(axum::Json(Health {
        status: "ready".into(),
    }))
}

/// Prometheus metrics in the text format.
#[utoipa::path(get, path = "/metrics", tag = "operations", security(()),
    responses((status = 200, body = String, content_type = "application/openmetrics-text")))]
async fn metrics(State(state): State<HttpState>) -> Result<Response, Problem> {
    let mut response = state.app.metrics_text().await?.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    Ok(response)
}
