//! Who is looking at a page: the session cookie (HTTP-only, SameSite=Strict) of a signed-in
//! browser, its CSRF secret, and its language; or nobody, with the language of a cookie.
//! When the site is served over HTTPS (its public address, `mail.base_url`, is https) the
//! cookies are `Secure` and named with the `__Host-` prefix, so no other host — a sibling
//! subdomain, a plain-HTTP page — can set one the site would read.

use axum::extract::FromRequestParts;
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};

use crate::app::{SESSION_LIFETIME, Session};
use crate::http::{Caller, HttpState};
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
}
