//! Signing in by a link mailed to one's address, and the admin's page of accounts, tokens and
//! sessions.
//!
//! The link opens a confirmation page (GET, which spends nothing: mail scanners fetch links);
//! only its form (POST, double-submit CSRF) spends the link and starts the session. Asking for a
//! link answers the same whether or not the address has an account, and spends from the client's
//! budget of the authentication throttle, so the page can be used neither to learn who has an
//! account nor to flood mailboxes.
//!
//! The admin's page lists each kind a page at a time (paged in SQL); disabling an account,
//! revoking a token and ending a session are forms with the session's CSRF secret, each asking
//! for a confirmation first.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::{Deserialize, Serialize};

use super::layout::{
    Flash, Form, Layout, PageBody, app_error_page, local, redirect, require, show, show_with, some,
    zone_of,
};
use super::render::text;
use super::session::{
    CSRF_COOKIE, CsrfChecked, SignInState, SignedIn, Visitor, double_submitted, set_cookie,
    sign_in_form, signed_in, too_many_failures,
};
use crate::app::{AppError, random_secret};
use crate::engine::{Permission, Role};
use crate::http::{ClientAddress, HttpState};
use crate::ids::InstitutionId;

/// Rows of each list on the admin's page.
const PER_PAGE: u64 = 50;

// ---------------------------------------------------------------------------------------------
// Signing in by link.

/// Ask for a link: mailed if the address is an enabled account's; the answer is the same page
/// either way.
pub async fn request_link(
    State(state): State<HttpState>,
    v: Visitor,
    ClientAddress(client): ClientAddress,
    headers: HeaderMap,
    axum::Form(form): axum::Form<Form>,
) -> Response {
    if let Err(refused) = double_submitted(&state, &v, &headers, &form) {
        return refused;
    }
    if let Err(locked) = state.throttle.admit(client) {
        return too_many_failures(&v, locked);
    }
    // Every request spends from the budget, found or not: the answer must not differ, and the
    // page must not mail without bound.
    if let Err(locked) = state.throttle.fail(client) {
        return too_many_failures(&v, locked);
    }
    let email = form.get("email").map(String::as_str).unwrap_or_default();
    match state.app.request_sign_in_link(email).await {
        Ok(()) => sign_in_form(&state, &v, SignInState::LinkSent, StatusCode::OK),
        Err(AppError::InvalidField { .. }) => {
            sign_in_form(&state, &v, SignInState::BadEmail, StatusCode::BAD_REQUEST)
        }
        Err(e) => app_error_page(&v, e),
    }
}

#[derive(Deserialize)]
pub struct LinkQuery {
    key: Option<String>,
}

/// The page a mailed link opens: a button that signs in, or why the link no longer works.
#[derive(Debug, Serialize)]
struct LinkPage {
    live: bool,
    key: String,
}

impl PageBody for LinkPage {
    const TEMPLATE: &'static str = "sign_in_link.html";
}

/// The confirmation page of a link (GET): spends nothing.
pub async fn link_page(
    State(state): State<HttpState>,
    v: Visitor,
    Query(q): Query<LinkQuery>,
) -> Response {
    let key = q.key.unwrap_or_default();
    let live = match state.app.sign_in_link_live(&key).await {
        Ok(live) => live,
        Err(e) => return app_error_page(&v, e),
    };
    link_form(&state, &v, live, if live { key } else { String::new() })
}

fn link_form(state: &HttpState, v: &Visitor, live: bool, key: String) -> Response {
    let csrf = match random_secret() {
        Ok(c) => c,
        Err(e) => return app_error_page(v, e),
    };
    let layout = Layout::of(v).with_csrf(csrf.clone());
    let status = if live {
        StatusCode::OK
    } else {
        StatusCode::GONE
    };
    let mut response = show_with(&layout, status, &LinkPage { live, key });
    set_cookie(
        response.headers_mut(),
        CSRF_COOKIE,
        &csrf,
        3600,
        super::layout::secure(state),
    );
    response
}

/// The confirmation's form (POST): spends the link and starts the session.
pub async fn use_link(
    State(state): State<HttpState>,
    v: Visitor,
    ClientAddress(client): ClientAddress,
    headers: HeaderMap,
    axum::Form(form): axum::Form<Form>,
) -> Response {
    if let Err(refused) = double_submitted(&state, &v, &headers, &form) {
        return refused;
    }
    if let Err(locked) = state.throttle.admit(client) {
        return too_many_failures(&v, locked);
    }
    let key = form.get("key").map(|k| k.trim()).unwrap_or_default();
    match state.app.sign_in_with_link(key).await {
        Ok(Some(session)) => signed_in(&state, &session),
        Ok(None) => match state.throttle.fail(client) {
            Ok(()) => link_form(&state, &v, false, String::new()),
            Err(locked) => too_many_failures(&v, locked),
        },
        Err(e) => app_error_page(&v, e),
    }
}

// ---------------------------------------------------------------------------------------------
// The admin's page.

#[derive(Debug, Default, Deserialize)]
pub struct AdminQuery {
    done: Option<String>,
    accounts: Option<u64>,
    tokens: Option<u64>,
    sessions: Option<u64>,
}

#[derive(Debug, Serialize)]
struct AccountLine {
    id: i64,
    name: String,
    email: String,
    institution: String,
    role: &'static str,
    created: String,
    disabled: Option<String>,
}

#[derive(Debug, Serialize)]
struct TokenLine {
    id: i64,
    prefix: String,
    name: String,
    account: Option<i64>,
    for_pages: bool,
    institution: String,
    role: &'static str,
    created: String,
    last_used: Option<String>,
    revoked: Option<String>,
}

#[derive(Debug, Serialize)]
struct SessionLine {
    id: i64,
    account: Option<i64>,
    name: String,
    institution: String,
    role: &'static str,
    since: String,
    until: String,
}

/// Where a list is: its offset, how many in all, the offsets of the pages around it.
#[derive(Debug, Serialize)]
struct Paging {
    offset: u64,
    total: u64,
    shown: u64,
    previous: Option<u64>,
    next: Option<u64>,
}

impl Paging {
    fn of(offset: u64, shown: usize, total: u64) -> Paging {
        let shown = shown as u64;
        Paging {
            offset,
            total,
            shown,
            previous: (offset > 0).then(|| offset.saturating_sub(PER_PAGE)),
            next: (offset + shown < total).then_some(offset + shown),
        }
    }
}

#[derive(Debug, Serialize)]
struct AdminPage {
    flash: Option<Flash>,
    accounts: Vec<AccountLine>,
    accounts_at: Paging,
    tokens: Vec<TokenLine>,
    tokens_at: Paging,
    sessions: Vec<SessionLine>,
    sessions_at: Paging,
    /// The institutions and roles the creation form offers.
    institutions: Vec<(String, String)>,
    roles: Vec<&'static str>,
    /// The offsets the page was shown at, for links that keep the others.
    at_accounts: u64,
    at_tokens: u64,
    at_sessions: u64,
}

impl PageBody for AdminPage {
    const TEMPLATE: &'static str = "accounts.html";
}

const ROLES: [Role; 4] = [
    Role::Ministry,
    Role::Coordinator,
    Role::Auditor,
    Role::Admin,
];

pub async fn admin_page(
    State(state): State<HttpState>,
    Query(q): Query<AdminQuery>,
    SignedIn { visitor: v, caller }: SignedIn,
) -> Response {
    if let Err(r) = require(&v, &caller, Permission::ManageAccounts) {
        return r;
    }
    let result = async {
        let actor = &caller.actor;
        let zone = zone_of(&state, &actor.institution).await;
        let (a, t, s) = (
            q.accounts.unwrap_or(0),
            q.tokens.unwrap_or(0),
            q.sessions.unwrap_or(0),
        );
        let accounts = state.app.accounts(actor, a, PER_PAGE).await?;
        let tokens = state.app.tokens_page(actor, t, PER_PAGE).await?;
        let sessions = state.app.sessions(actor, s, PER_PAGE).await?;
        let list = state.app.institutions().await?;
        let institutions = list
            .iter()
            .map(|i| {
                (
                    i.id.to_string(),
                    super::layout::name_of(&list, &i.id, v.language),
                )
            })
            .collect();
        let flash = some(&q.done).and_then(done_text).map(|key| Flash {
            kind: "done",
            text: text(v.language, key),
        });
        let page = AdminPage {
            flash,
            accounts_at: Paging::of(a, accounts.items.len(), accounts.total),
            accounts: accounts
                .items
                .into_iter()
                .map(|r| AccountLine {
                    id: r.id,
                    name: r.name,
                    email: r.email,
                    institution: r.institution.to_string(),
                    role: r.role.as_str(),
                    created: local(r.created_at, zone),
                    disabled: r.disabled_at.map(|at| local(at, zone)),
                })
                .collect(),
            tokens_at: Paging::of(t, tokens.items.len(), tokens.total),
            tokens: tokens
                .items
                .into_iter()
                .map(|r| TokenLine {
                    id: r.id,
                    prefix: r.prefix,
                    name: r.name,
                    account: r.account_id,
                    for_pages: r.for_pages,
                    institution: r.institution.to_string(),
                    role: r.role.as_str(),
                    created: local(r.created_at, zone),
                    last_used: r.last_used_at.map(|at| local(at, zone)),
                    revoked: r.revoked_at.map(|at| local(at, zone)),
                })
                .collect(),
            sessions_at: Paging::of(s, sessions.items.len(), sessions.total),
            sessions: sessions
                .items
                .into_iter()
                .map(|r| SessionLine {
                    id: r.id,
                    account: r.account_id,
                    name: r.name,
                    institution: r.institution.to_string(),
                    role: r.role.as_str(),
                    since: local(r.created_at, zone),
                    until: local(r.expires_at, zone),
                })
                .collect(),
            institutions,
            roles: ROLES.iter().map(|r| r.as_str()).collect(),
            at_accounts: a,
            at_tokens: t,
            at_sessions: s,
        };
        Ok::<_, AppError>(show(&v, StatusCode::OK, &page))
    }
    .await;
    result.unwrap_or_else(|e| app_error_page(&v, e))
}

/// The flash of what was just done: only these words, so a crafted link says nothing else.
fn done_text(done: &str) -> Option<&'static str> {
    match done {
        "created" => Some("accounts_done_created"),
        "disabled" => Some("accounts_done_disabled"),
        "revoked" => Some("accounts_done_revoked"),
        "ended" => Some("accounts_done_ended"),
        _ => None,
    }
}

/// Create an account (the page's form).
pub async fn create(
    State(state): State<HttpState>,
    CsrfChecked {
        visitor: v,
        caller,
        form,
    }: CsrfChecked,
) -> Response {
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
    let result = async {
        let institution =
            InstitutionId::parse(field("institution")).map_err(|e| AppError::InvalidField {
                field: "institution",
                detail: format!("the institution is not valid: {e}"),
            })?;
        let role = Role::parse(field("role")).ok_or_else(|| AppError::InvalidField {
            field: "role",
            detail: format!(
                "`{}` is not a role; known: ministry, coordinator, auditor, admin",
                field("role")
            ),
        })?;
        state
            .app
            .create_account(
                &caller.actor,
                field("name"),
                field("email"),
                &institution,
                role,
            )
            .await
    }
    .await;
    match result {
        Ok(_) => redirect("/accounts?done=created"),
        Err(e) => app_error_page(&v, e),
    }
}

/// What a confirmation asks about.
#[derive(Debug, Serialize)]
struct ConfirmPage {
    heading: String,
    question: String,
    action: String,
}

impl PageBody for ConfirmPage {
    const TEMPLATE: &'static str = "confirm.html";
}

/// Whether the form was the confirmation's (`confirm=yes`); else the confirmation page.
fn confirmed(
    v: &Visitor,
    form: &Form,
    heading: &str,
    question: String,
    action: String,
) -> Option<Response> {
    if form.get("confirm").map(String::as_str) == Some("yes") {
        return None;
    }
    Some(show(
        v,
        StatusCode::OK,
        &ConfirmPage {
            heading: text(v.language, heading),
            question,
            action,
        },
    ))
}

pub async fn disable(
    State(state): State<HttpState>,
    Path(id): Path<i64>,
    CsrfChecked {
        visitor: v,
        caller,
        form,
    }: CsrfChecked,
) -> Response {
    if let Err(r) = require(&v, &caller, Permission::ManageAccounts) {
        return r;
    }
    let account = match state.app.account(&caller.actor, id).await {
        Ok(a) => a,
        Err(e) => return app_error_page(&v, e),
    };
    let question = text(v.language, "accounts_confirm_disable")
        .replace("{name}", &account.name)
        .replace("{email}", &account.email);
    if let Some(page) = confirmed(
        &v,
        &form,
        "accounts_disable",
        question,
        format!("/accounts/{id}/disable"),
    ) {
        return page;
    }
    match state.app.disable_account(&caller.actor, id).await {
        Ok(_) => redirect("/accounts?done=disabled"),
        Err(e) => app_error_page(&v, e),
    }
}

pub async fn revoke_token(
    State(state): State<HttpState>,
    Path(id): Path<i64>,
    CsrfChecked {
        visitor: v,
        caller,
        form,
    }: CsrfChecked,
) -> Response {
    if let Err(r) = require(&v, &caller, Permission::ManageTokens) {
        return r;
    }
    let question = text(v.language, "accounts_confirm_revoke").replace("{id}", &id.to_string());
    if let Some(page) = confirmed(
        &v,
        &form,
        "accounts_revoke",
        question,
        format!("/tokens/{id}/revoke"),
    ) {
        return page;
    }
    match state.app.revoke_token(&caller.actor, id).await {
        Ok(_) => redirect("/accounts?done=revoked"),
        Err(e) => app_error_page(&v, e),
    }
}

pub async fn end_session(
    State(state): State<HttpState>,
    Path(id): Path<i64>,
    CsrfChecked {
        visitor: v,
        caller,
        form,
    }: CsrfChecked,
) -> Response {
    if let Err(r) = require(&v, &caller, Permission::ManageAccounts) {
        return r;
    }
    let question = text(v.language, "accounts_confirm_end").replace("{id}", &id.to_string());
    if let Some(page) = confirmed(
        &v,
        &form,
        "accounts_end",
        question,
        format!("/sessions/{id}/end"),
    ) {
        return page;
    }
    match state.app.end_session(&caller.actor, id).await {
        Ok(()) => redirect("/accounts?done=ended"),
        Err(e) => app_error_page(&v, e),
    }
}
