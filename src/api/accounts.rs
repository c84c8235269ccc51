//! Officials' accounts (admins): create, list, read and disable them, make a token that acts as a
//! person (admins, or the person for themselves), and see and end page sessions. People sign in
//! to the pages by a link mailed to their address; the API takes their tokens.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::json::ApiJson;
use super::ops::CreatedToken;
use super::query::ApiQuery;
use super::responses::failures;
use crate::app::{AppError, Listed, MAX_LIST};
use crate::engine::{Permission, Role};
use crate::http::{Caller, HttpState, Problem};
use crate::ids::InstitutionId;
use crate::store::{AccountRow, Disabled, SessionListRow};

pub fn routes() -> OpenApiRouter<HttpState> {
    OpenApiRouter::new()
        .routes(routes!(accounts, create_account))
        .routes(routes!(account))
        .routes(routes!(disable_account))
        .routes(routes!(create_account_token))
        .routes(routes!(sessions))
        .routes(routes!(end_session))
}

failures!(
    /// A role that may not (403), a page out of range (422).
    ListRefused = [Forbidden, Invalid]
);
failures!(
    /// A role that may not (403), a field that does not fit (422), an address already taken
    /// (409).
    NewAccountRefused = [Forbidden, Invalid, Conflict]
);
failures!(
    /// A role that may not (403), an account that does not exist (404).
    AccountRefused = [Forbidden, NotFound]
);
failures!(
    /// Another's account and not an admin (403), no such account (404), a disabled one (409),
    /// a bad name (422).
    AccountTokenRefused = [Forbidden, NotFound, Conflict, Invalid]
);

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Rows to skip (default 0; at most 1,000,000,000).
    #[param(minimum = 0, maximum = 1_000_000_000)]
    pub offset: Option<u64>,
    /// At most this many (1 to 200; default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u64>,
}

/// The largest `offset` a page query takes (there are never that many accounts or sessions).
const MAX_OFFSET: u64 = 1_000_000_000;

impl PageQuery {
    fn bounds(&self) -> Result<(u64, u64), Problem> {
        let limit = self.limit.unwrap_or(50);
        if !(1..=MAX_LIST).contains(&limit) {
            return Err(Problem::from(AppError::InvalidField {
                field: "limit",
                detail: format!("limit is {limit}; it must be between 1 and {MAX_LIST}"),
            }));
        }
        // A database counts rows as signed 64-bit: a larger offset is a mistake to name, not
        // an error of the server's.
        let offset = self.offset.unwrap_or(0);
        if offset > MAX_OFFSET {
            return Err(Problem::from(AppError::InvalidField {
                field: "offset",
                detail: format!("offset is {offset}; it must be at most {MAX_OFFSET}"),
            }));
        }
        Ok((offset, limit))
    }
}

/// A page of accounts, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountPage {
    pub items: Vec<AccountRow>,
    /// How many accounts there are in all.
    pub total: u64,
    pub offset: u64,
    pub limit: u64,
}

/// A page of live page sessions, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionPage {
    pub items: Vec<SessionListRow>,
    pub total: u64,
    pub offset: u64,
    pub limit: u64,
}

fn page_of<T, P>(listed: Listed<T>, make: impl FnOnce(Vec<T>, u64, u64, u64) -> P) -> P {
    make(listed.items, listed.total, listed.offset, listed.limit)
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAccountBody {
    /// The person's full name, as history will show it: one line, not blank, at most 200
    /// characters.
    #[schema(
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$",
        max_length = 200
    )]
    pub name: String,
    /// Where sign-in links go; one account per address (kept lower-cased).
    #[schema(format = "email", max_length = 254)]
    pub email: String,
    pub institution: InstitutionId,
    /// `coordinator` and `admin` only for the coordinating institution.
    pub role: Role,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAccountTokenBody {
    /// What the token is for (e.g. "laptop script"): one line, not blank, at most 200
    /// characters.
    #[schema(
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$",
        max_length = 200
    )]
    pub name: String,
}

/// The accounts of officials, a page at a time (admins).
#[utoipa::path(get, path = "/api/v1/accounts", tag = "operations", params(PageQuery),
    responses((status = 200, body = AccountPage), ListRefused))]
async fn accounts(
    State(state): State<HttpState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<axum::Json<AccountPage>, Problem> {
    caller.may(Permission::ManageAccounts)?;
    let ApiQuery(q) = ApiQuery::<PageQuery>::parse(query.as_deref())?;
    let (offset, limit) = q.bounds()?;
    let listed = state.app.accounts(&caller.actor, offset, limit).await?;
    Ok(axum::Json(page_of(
        listed,
        |items, total, offset, limit| AccountPage {
            items,
            total,
            offset,
            limit,
        },
    )))
}

/// Create an account for an official (admins): they can then ask for a sign-in link, mailed to
/// its address.
#[utoipa::path(post, path = "/api/v1/accounts", tag = "operations", request_body = NewAccountBody,
    responses((status = 201, body = AccountRow), NewAccountRefused))]
async fn create_account(
    State(state): State<HttpState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewAccountBody>,
) -> Result<Response, Problem> {
    let row = state
        .app
        .create_account(
            &caller.actor,
            &body.name,
            &body.email,
            &body.institution,
            body.role,
        )
        .await?;
    Ok((StatusCode::CREATED, axum::Json(row)).into_response())
}

/// One account (admins).
#[utoipa::path(get, path = "/api/v1/accounts/{id}", tag = "operations", params(("id" = i64, Path)),
    responses((status = 200, body = AccountRow), AccountRefused))]
async fn account(
    State(state): State<HttpState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<axum::Json<AccountRow>, Problem> {
    Ok(axum::Json(state.app.account(&caller.actor, id).await?))
}

/// Disable an account (admins): its sessions end and its tokens are revoked at once, and no
/// sign-in link is sent to it any more. Disabling it again changes nothing.
#[utoipa::path(post, path = "/api/v1/accounts/{id}/disable", tag = "operations", params(("id" = i64, Path)),
    responses((status = 200, body = Disabled), AccountRefused))]
async fn disable_account(
    State(state): State<HttpState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<axum::Json<Disabled>, Problem> {
    Ok(axum::Json(
        state.app.disable_account(&caller.actor, id).await?,
    ))
}

/// Make a token that acts as the account's person (admins, or the person for themselves); the
/// token is in this answer only.
#[utoipa::path(post, path = "/api/v1/accounts/{id}/tokens", tag = "operations", params(("id" = i64, Path)),
    request_body = NewAccountTokenBody,
    responses((status = 201, body = CreatedToken, headers(("Cache-Control" = String, description = "`no-store`: the token is shown once"))),
        AccountTokenRefused))]
async fn create_account_token(
    State(state): State<HttpState>,
    caller: Caller,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<NewAccountTokenBody>,
) -> Result<Response, Problem> {
    let new = state
        .app
        .create_account_token(&caller.actor, id, &body.name)
        .await
        .map_err(|e| match e {
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

/// The live page sessions, newest first (admins); never their cookies.
#[utoipa::path(get, path = "/api/v1/sessions", tag = "operations", params(PageQuery),
    responses((status = 200, body = SessionPage), ListRefused))]
async fn sessions(
    State(state): State<HttpState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<axum::Json<SessionPage>, Problem> {
    caller.may(Permission::ManageAccounts)?;
    let ApiQuery(q) = ApiQuery::<PageQuery>::parse(query.as_deref())?;
    let (offset, limit) = q.bounds()?;
    let listed = state.app.sessions(&caller.actor, offset, limit).await?;
    Ok(axum::Json(page_of(
        listed,
        |items, total, offset, limit| SessionPage {
            items,
            total,
            offset,
            limit,
        },
    )))
}

/// End a page session (admins): its browser is signed out at its next request.
#[utoipa::path(delete, path = "/api/v1/sessions/{id}", tag = "operations", params(("id" = i64, Path)),
    responses((status = 204, description = "The session was ended"), AccountRefused))]
async fn end_session(
    State(state): State<HttpState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<StatusCode, Problem> {
    state.app.end_session(&caller.actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
