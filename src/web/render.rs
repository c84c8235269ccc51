//! The page templates (`config/templates/web/`, embedded in the binary) and the strings of each
//! language (`config/locales/`), rendered with minijinja, HTML escaped.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use minijinja::{AutoEscape, Environment};
use serde::Serialize;

use crate::reference::Language;

const TEMPLATES: &[(&str, &str)] = &[
    (
        "base.html",
        include_str!("../../config/templates/web/base.html"),
    ),
    (
        "sign_in.html",
        include_str!("../../config/templates/web/sign_in.html"),
    ),
    (
        "dashboard.html",
        include_str!("../../config/templates/web/dashboard.html"),
    ),
    (
        "procedure.html",
        include_str!("../../config/templates/web/procedure.html"),
    ),
    (
        "audit.html",
        include_str!("../../config/templates/web/audit.html"),
    ),
    (
        "outbox.html",
        include_str!("../../config/templates/web/outbox.html"),
    ),
    (
        "reminders.html",
        include_str!("../../config/templates/web/reminders.html"),
    ),
    (
        "chart.html",
        include_str!("../../config/templates/web/chart.html"),
    ),
    (
        "calendar_feed.html",
        include_str!("../../config/templates/web/calendar_feed.html"),
    ),
    (
        "sign_in_link.html",
        include_str!("../../config/templates/web/sign_in_link.html"),
    ),
    (
        "accounts.html",
        include_str!("../../config/templates/web/accounts.html"),
    ),
    (
        "confirm.html",
        include_str!("../../config/templates/web/confirm.html"),
    ),
    (
        "error.html",
        include_str!("../../config/templates/web/error.html"),
    ),
];

static ENV: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    // The crate's one escaper, as in the emails and the pictures (see `crate::html::escape`).
    env.set_formatter(crate::html::formatter);
    // Strict: a value a template names and its context lacks is an error (the page answers 500 and
    // the log says which), never a silent blank. Optional values are `none`, tested with `if`.
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    for (name, source) in TEMPLATES {
        env.add_template(name, source)
            .unwrap_or_else(|e| panic!("web template {name} does not parse: {e}"));
    }
    env
});

/// The page languages: English, Russian and Kyrgyz (French readers read English).
pub fn page_language(language: Language) -> Language {
    crate::locale::catalogue_language(language)
}

/// The strings of `language`, for templates as `tr.key`.
pub fn strings(language: Language) -> &'static BTreeMap<String, String> {
    crate::locale::catalogue(language)
}

/// One string of `language`.
pub fn text(language: Language, key: &str) -> String {
    crate::locale::text(language, key)
}

/// Render page `name` with `context`; an error in a template (an undefined value among them) is
/// an internal error, logged.
pub fn page(status: StatusCode, name: &str, context: impl Serialize) -> Response {
    let context = minijinja::Value::from(minijinja::value::Serde(context));
    match ENV.get_template(name).and_then(|t| t.render(context)) {
        Ok(html) => {
            let mut response = (status, Html(html)).into_response();
            let h = response.headers_mut();
            // Pages carry data and the session's CSRF secret: not kept in caches, not framed,
            // no script from anywhere. (`nosniff` and `Referrer-Policy` are on every response:
            // http::middleware.)
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            h.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(
                    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; \
                     form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
                ),
            );
            response
        }
        Err(e) => {
            tracing::error!(template = name, error = %e, "a page did not render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Html(
                    "<!DOCTYPE html><title>Error</title><p>The page could not be shown.</p>"
                        .to_string(),
                ),
            )
                .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_string_exists_in_every_language() {
        let en: Vec<_> = strings(Language::En).keys().collect();
        for language in [Language::Ru, Language::Ky] {
            let other: Vec<_> = strings(language).keys().collect();
            assert_eq!(en, other, "{language}");
            assert!(
                strings(language)["sign_in"]
                    .chars()
                    .any(|c| ('а'..='я').contains(&c.to_lowercase().next().unwrap()))
            );
        }
        assert_eq!(page_language(Language::Ky), Language::Ky);
    }

    #[tokio::test]
    async fn pages_escape_values_with_the_crates_one_escaper() {
        let visitor = crate::web::session::Visitor {
            session: None,
            language: Language::En,
            cookie: None,
            path: "/".into(),
        };
        let response = crate::web::layout::show(
            &visitor,
            StatusCode::OK,
            &crate::web::layout::ErrorPage {
                heading: "Europe/Paris".into(),
                detail: "<script>alert('x')</script> & \"more\"\u{1}".into(),
            },
        );
        assert_eq!(response.status(), StatusCode::OK);
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let html = String::from_utf8(bytes.to_vec()).unwrap();
        assert!(html.contains("<h1>Europe/Paris</h1>"), "{html}");
        let detail =
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;more&quot;\u{FFFD}";
        assert!(
            html.contains(&format!("<p role=\"alert\">{detail}</p>")),
            "{html}"
        );
        assert!(!html.contains("<script>"), "{html}");
    }

    #[test]
    fn a_value_a_template_names_and_its_context_lacks_is_an_error() {
        let lacking = minijinja::context! { tr => strings(Language::En), heading => "x" };
        let error = ENV
            .get_template("error.html")
            .unwrap()
            .render(lacking)
            .unwrap_err();
        assert_eq!(
            error.kind(),
            minijinja::ErrorKind::UndefinedError,
            "{error}"
        );
        let response = page(StatusCode::OK, "error.html", minijinja::context! {});
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn every_template_parses() {
        for (name, _) in TEMPLATES {
            assert!(ENV.get_template(name).is_ok(), "{name}");
        }
    }
}
