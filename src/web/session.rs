//! Who is looking at a page: the session cookie (HTTP-only, SameSite=Strict) of a signed-in
//! browser, its CSRF secret, and its language; or nobody, with the language of a cookie.
//! When the site is served over HTTPS (its public address, `mail.base_url`, is https) the
//! cookies are `Secure` and named with the `__Host-` prefix, so no other host — a sibling
//! subdomain, a plain-HTTP page — can set one the site would read.

use axum::extract::{FromRequest, FromRequestParts, Query, Request, State};
use axum::http::header::{self, COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::layout::{
    Form, Layout, PageBody, app_error_page, error_page, redirect, secure, show_with,
};
use super::render::text;
use crate::app::{SESSION_LIFETIME, Session, random_secret};
use crate::http::{Caller, ClientAddress, HttpState, Locked};
use crate::reference::Language;

pub const SESSION_COOKIE: &str = "accession_session";
pub const LANG_COOKIE: &str = "accession_lang";
pub const CSRF_COOKIE: &str = "accession_csrf";

/// Whether the site is served over HTTPS: its public address says so.
pub fn over_https(state: &HttpState) -> bool {
    state.app.settings.mail.base_url.starts_with("https://")
}

/// The name cookie `name` goes by: over HTTPS with the `__Host-` prefix (which browsers accept
/// only with `Secure`, `Path=/` and no `Domain`, as `set_cookie` writes it).
fn named(name: &str, secure: bool) -> String {
    if secure {
        format!("__Host-{name}")
    } else {
        name.to_string()
    }
}

/// The value of cookie `name` in the request (by its `__Host-` name over HTTPS, and only so).
pub fn cookie(headers: &HeaderMap, name: &str, secure: bool) -> Option<String> {
    let name = named(name, secure);
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name.as_str())
        .map(|(_, v)| v.to_string())
}

/// A `Set-Cookie` header: HTTP-only and SameSite=Strict unless it is the language's, `Secure`
/// and `__Host-` named when the service is reached over HTTPS; `max_age` 0 removes it.
pub fn set_cookie(headers: &mut HeaderMap, name: &str, value: &str, max_age: i64, secure: bool) {
    let mut text = format!("{}={value}; Path=/; Max-Age={max_age}", named(name, secure));
    if name == LANG_COOKIE {
        text.push_str("; SameSite=Lax");
    } else {
        text.push_str("; HttpOnly; SameSite=Strict");
    }
    if secure {
        text.push_str("; Secure");
    }
    if let Ok(value) = HeaderValue::from_str(&text) {
        headers.append(SET_COOKIE, value);
    }
}

pub fn session_max_age() -> i64 {
    SESSION_LIFETIME.num_seconds()
}

/// The page visitor: a session, or nobody; and the language to show.
pub struct Visitor {
    pub session: Option<Session>,
    pub language: Language,
    pub cookie: Option<String>,
    /// Where the visitor is (for the language links).
    pub path: String,
}

impl Visitor {
    pub fn caller(&self) -> Option<Caller> {
        self.session.as_ref().map(|s| Caller {
            actor: s.actor.clone(),
            token_id: s.token_id,
        })
    }
}

impl FromRequestParts<HttpState> for Visitor {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &HttpState,
    ) -> Result<Self, Self::Rejection> {
        let secure = over_https(state);
        let cookie_value = cookie(&parts.headers, SESSION_COOKIE, secure);
        let session = match &cookie_value {
            Some(c) => state.app.session(c).await.unwrap_or_else(|e| {
                tracing::warn!(error = %e, "a session could not be read");
                None
            }),
            None => None,
        };
        let language = match &session {
            Some(s) => s.language(),
            None => cookie(&parts.headers, LANG_COOKIE, secure)
                .and_then(|l| Language::parse(&l))
                .unwrap_or(Language::En),
        };
        let path = parts
            .uri
            .path_and_query()
            .map_or("/".to_string(), |p| p.as_str().to_string());
        Ok(Visitor {
            session,
            language,
            cookie: cookie_value,
            path,
        })
    }
}

/// A signed-in visitor and the session's caller. Without a session the request goes no further:
/// the answer is a redirect to the sign-in page. Put it after a handler's `Path` and `Query`, so
/// a malformed address is refused (400) before a missing session is.
pub struct SignedIn {
    pub visitor: Visitor,
    pub caller: Caller,
}

impl FromRequestParts<HttpState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &HttpState) -> Result<Self, Response> {
        let Ok(visitor) = Visitor::from_request_parts(parts, state).await;
        match visitor.caller() {
            Some(caller) => Ok(SignedIn { visitor, caller }),
            None => Err(redirect("/sign-in")),
        }
    }
}

/// A form posted by a signed-in visitor with the session's CSRF secret (field `csrf`). A body
/// that is not a form is axum's refusal; without a session, a redirect to the sign-in page;
/// with another secret, 403 as a page in the visitor's language. Nothing is done in any case.
pub struct CsrfChecked {
    pub visitor: Visitor,
    pub caller: Caller,
    pub form: Form,
}

impl FromRequest<HttpState> for CsrfChecked {
    type Rejection = Response;

    async fn from_request(request: Request, state: &HttpState) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let Ok(visitor) = Visitor::from_request_parts(&mut parts, state).await;
        let axum::Form(form) =
            axum::Form::<Form>::from_request(Request::from_parts(parts, body), state)
                .await
                .map_err(IntoResponse::into_response)?;
        let Some((session, caller)) = visitor.session.as_ref().zip(visitor.caller()) else {
            return Err(redirect("/sign-in"));
        };
        match form.get("csrf") {
            Some(token) if session.csrf_matches(token) => Ok(CsrfChecked {
                visitor,
                caller,
                form,
            }),
            _ => Err(error_page(
                &visitor,
                StatusCode::FORBIDDEN,
                "forbidden",
                text(visitor.language, "form_expired"),
            )),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Signing in and out, language.

pub async fn sign_in_page(State(state): State<HttpState>, v: Visitor) -> Response {
    if v.session.is_some() {
        return redirect("/");
    }
    sign_in_form(&state, &v, SignInState::Asking, StatusCode::OK)
}

/// Where a visitor is in signing in, as the sign-in page says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SignInState {
    Asking,
    /// A token was refused.
    TokenFailed,
    /// A link was asked for (whether or not the address has an account: the page says the
    /// same).
    LinkSent,
    /// The address given is not one.
    BadEmail,
}

/// The sign-in form: by a link mailed to one's address, or by a token.
#[derive(Debug, Serialize)]
struct SignInPage {
    failed: bool,
    sent: bool,
    bad_email: bool,
    /// How long a mailed link works.
    link_minutes: i64,
}

impl PageBody for SignInPage {
    const TEMPLATE: &'static str = "sign_in.html";
}

pub(super) fn sign_in_form(
    state: &HttpState,
    v: &Visitor,
    at: SignInState,
    status: StatusCode,
) -> Response {
    let csrf = match random_secret() {
        Ok(c) => c,
        Err(e) => return app_error_page(v, e),
    };
    let layout = Layout::of(v).with_csrf(csrf.clone());
    let page = SignInPage {
        failed: at == SignInState::TokenFailed,
        sent: at == SignInState::LinkSent,
        bad_email: at == SignInState::BadEmail,
        link_minutes: state
            .app
            .settings
            .server
            .sign_in_link_lifetime()
            .num_minutes(),
    };
    let mut response = show_with(&layout, status, &page);
    set_cookie(
        response.headers_mut(),
        CSRF_COOKIE,
        &csrf,
        3600,
        secure(state),
    );
    response
}

/// 429, as a page in the visitor's language, with `Retry-After`.
pub(super) fn too_many_failures(v: &Visitor, locked: Locked) -> Response {
    let seconds = locked.seconds();
    let detail = text(v.language, "too_many_failures").replace("{seconds}", &seconds.to_string());
    let mut response = error_page(v, StatusCode::TOO_MANY_REQUESTS, "too_many", detail);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}

pub async fn sign_in(
    State(state): State<HttpState>,
    v: Visitor,
    ClientAddress(client): ClientAddress,
    headers: HeaderMap,
    axum::Form(form): axum::Form<Form>,
) -> Response {
    // Double submit: the form's secret must be the cookie's, so no other site can sign a
    // browser in with its own token.
    if let Err(refused) = double_submitted(&state, &v, &headers, &form) {
        return refused;
    }
    // A client that has spent its failure budget is refused before the token is looked at.
    if let Err(locked) = state.throttle.admit(client) {
        return too_many_failures(&v, locked);
    }
    let token = form.get("token").map(|t| t.trim()).unwrap_or_default();
    match state.app.sign_in(token).await {
        Ok(Some(session)) => signed_in(&state, &session),
        Ok(None) => match state.throttle.fail(client) {
            Ok(()) => sign_in_form(
                &state,
                &v,
                SignInState::TokenFailed,
                StatusCode::UNAUTHORIZED,
            ),
            Err(locked) => too_many_failures(&v, locked),
        },
        Err(e) => app_error_page(&v, e),
    }
}

/// Refused (403, as a page) unless the form's `csrf` is the double-submit cookie's: a form of
/// a page with no session yet (sign-in), which no other site can post with the visitor's.
#[allow(clippy::result_large_err)]
pub(super) fn double_submitted(
    state: &HttpState,
    v: &Visitor,
    headers: &HeaderMap,
    form: &Form,
) -> Result<(), Response> {
    let expected = cookie(headers, CSRF_COOKIE, secure(state));
    let given = form.get("csrf");
    let same = matches!((&expected, given), (Some(a), Some(b)) if a.len() == 64 && a == b);
    if same {
        Ok(())
    } else {
        Err(error_page(
            v,
            StatusCode::FORBIDDEN,
            "forbidden",
            "the sign-in form has expired; reload it",
        ))
    }
}

/// The answer that starts `session` in the browser: its cookies, and on to the dashboard.
pub(super) fn signed_in(state: &HttpState, session: &crate::app::NewSession) -> Response {
    let mut response = redirect("/");
    let h = response.headers_mut();
    set_cookie(
        h,
        SESSION_COOKIE,
        &session.cookie,
        session_max_age(),
        secure(state),
    );
    set_cookie(h, CSRF_COOKIE, "", 0, secure(state));
    set_cookie(
        h,
        LANG_COOKIE,
        session.language.as_str(),
        session_max_age(),
        secure(state),
    );
    response
}

pub async fn sign_out(
    State(state): State<HttpState>,
    CsrfChecked {
        visitor: v,
        caller: _,
        form: _,
    }: CsrfChecked,
) -> Response {
    if let Some(c) = &v.cookie
        && let Err(e) = state.app.sign_out(c).await
    {
        return app_error_page(&v, e);
    }
    let mut response = redirect("/sign-in");
    set_cookie(
        response.headers_mut(),
        SESSION_COOKIE,
        "",
        0,
        secure(&state),
    );
    response
}

/// A path of this site and nothing else: `/` then visible ASCII, never `//` or `/\` (which
/// browsers read as another host), no whitespace or control character (which they strip).
fn local_path(path: &str) -> bool {
    let bytes = path.as_bytes();
    bytes.first() == Some(&b'/')
        && !matches!(bytes.get(1), Some(b'/' | b'\\'))
        && bytes
            .iter()
            .all(|b| (0x21..=0x7e).contains(b) && *b != b'\\')
}

#[derive(Deserialize)]
pub struct LangQuery {
    to: String,
    back: Option<String>,
}

pub async fn language(
    State(state): State<HttpState>,
    v: Visitor,
    Query(q): Query<LangQuery>,
) -> Response {
    let language = match Language::parse(&q.to) {
        Some(l @ (Language::En | Language::Ru | Language::Ky)) => l,
        _ => Language::En,
    };
    // Only a path of this site: never a redirect elsewhere.
    let back = q
        .back
        .filter(|b| local_path(b))
        .unwrap_or_else(|| "/".into());
    if let Some(s) = &v.session
        && let Err(e) = state.app.set_session_language(s, language).await
    {
        return app_error_page(&v, e);
    }
    let mut response = redirect(&back);
    set_cookie(
        response.headers_mut(),
        LANG_COOKIE,
        language.as_str(),
        session_max_age(),
        secure(&state),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(name: &str, secure: bool) -> String {
        let mut h = HeaderMap::new();
        set_cookie(&mut h, name, "v", 60, secure);
        h[SET_COOKIE].to_str().unwrap().to_string()
    }

    #[test]
    fn over_https_cookies_are_host_prefixed_secure_and_read_only_by_that_name() {
        assert_eq!(
            set(SESSION_COOKIE, true),
            "__Host-accession_session=v; Path=/; Max-Age=60; HttpOnly; SameSite=Strict; Secure"
        );
        assert_eq!(
            set(LANG_COOKIE, true),
            "__Host-accession_lang=v; Path=/; Max-Age=60; SameSite=Lax; Secure"
        );
        assert_eq!(
            set(CSRF_COOKIE, false),
            "accession_csrf=v; Path=/; Max-Age=60; HttpOnly; SameSite=Strict"
        );
        let mut h = HeaderMap::new();
        h.insert(
            COOKIE,
            HeaderValue::from_static("accession_session=plain; __Host-accession_session=host"),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE, true).as_deref(), Some("host"));
        assert_eq!(cookie(&h, SESSION_COOKIE, false).as_deref(), Some("plain"));
        h.insert(COOKIE, HeaderValue::from_static("accession_session=plain"));
        assert_eq!(cookie(&h, SESSION_COOKIE, true), None);
    }

    #[test]
    fn only_paths_of_this_site_are_redirected_to() {
        for ok in ["/", "/procedures/kg-ets-112", "/audit?from=2024-01-01"] {
            assert!(local_path(ok), "{ok}");
        }
        for bad in [
            "//evil.example",
            "/\\evil.example",
            "/\t/evil.example",
            "https://evil",
            "",
            "/ x",
            "evil",
        ] {
            assert!(!local_path(bad), "{bad:?}");
        }
    }
}
