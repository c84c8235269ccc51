//! Who is looking at a page: the session cookie (HTTP-only, SameSite=Strict) of a signed-in
//! browser, its CSRF secret, and its language; or nobody, with the language of a cookie.

use axum::extract::FromRequestParts;
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};

use crate::api::{ApiState, Caller};
use crate::app::{SESSION_LIFETIME, Session};
use crate::reference::Language;

pub const SESSION_COOKIE: &str = "accession_session";
pub const LANG_COOKIE: &str = "accession_lang";
pub const CSRF_COOKIE: &str = "accession_csrf";

/// The value of cookie `name` in the request.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// A `Set-Cookie` header: HTTP-only and SameSite=Strict unless it is the language's, `Secure`
/// when the service is reached over HTTPS; `max_age` 0 removes it.
pub fn set_cookie(headers: &mut HeaderMap, name: &str, value: &str, max_age: i64, secure: bool) {
    let mut text = format!("{name}={value}; Path=/; Max-Age={max_age}");
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

impl FromRequestParts<ApiState> for Visitor {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ApiState,
    ) -> Result<Self, Self::Rejection> {
        let cookie_value = cookie(&parts.headers, SESSION_COOKIE);
        let session = match &cookie_value {
            Some(c) => state.app.session(c).await.unwrap_or_else(|e| {
                tracing::warn!(error = %e, "a session could not be read");
                None
            }),
            None => None,
        };
        let language = match &session {
            Some(s) => s.language(),
            None => cookie(&parts.headers, LANG_COOKIE)
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
