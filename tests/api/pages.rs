//! Every page, as every role, in every language (English, Russian, Kyrgyz), with no English word
//! on a Russian or Kyrgyz page and no Cyrillic on an English one: the templates are rendered with strict
//! undefined variables, so a value a template names and its page's context lacks makes the page
//! a 500 ("The page could not be shown") instead of a silent blank. Each page answers with the
//! status its role earns and is the page it claims to be.

use std::collections::BTreeSet;

use accession::engine::{Permission, Role};
use reqwest::StatusCode;

use crate::harness::Server;
use crate::on_both;
use crate::support::TestDb;
use crate::web::signed_in;

/// What a template error answers (web/render.rs).
const RENDER_FAILED: &str = "could not be shown";

/// A link as the page writes it, back to a path.
fn unescape(href: &str) -> String {
    href.replace("&amp;", "&").replace("&#x2f;", "/")
}

/// The `href` after `marker` in `page`, if any.
fn link_after(page: &str, marker: &str) -> Option<String> {
    page.split(marker)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .map(unescape)
}

struct Visit<'a> {
    server: &'a Server,
    client: reqwest::Client,
    session: String,
    who: String,
    /// The page language, checked on every page: a Russian or Kyrgyz page uses no word of
    /// `vocabulary`, an English one no Cyrillic but the language switch's own names.
    language: &'a str,
    vocabulary: &'a BTreeSet<String>,
}

/// The English texts of the shipped workflows: `title.en`, `description.en`, plain strings.
fn workflow_english() -> Vec<String> {
    fn walk(value: &toml::Value, out: &mut Vec<String>) {
        match value {
            toml::Value::Table(t) => {
                for (k, v) in t {
                    match (k.as_str(), v) {
                        ("title" | "description", toml::Value::String(s)) => out.push(s.clone()),
                        ("title" | "description", toml::Value::Table(langs)) => {
                            if let Some(toml::Value::String(en)) = langs.get("en") {
                                out.push(en.clone());
                            }
                        }
                        _ => walk(v, out),
                    }
                }
            }
            toml::Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/workflows")).unwrap() {
        let source = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        walk(&toml::from_str(&source).unwrap(), &mut out);
    }
    out
}

/// The words a Russian or Kyrgyz page must not hold: the English catalogue's and the English
/// workflow texts' (but `locale::ENGLISH_ALLOWED`, proper nouns and codes).
fn english_vocabulary() -> BTreeSet<String> {
    let mut sources: Vec<String> = accession::locale::catalogue(accession::reference::Language::En)
        .values()
        .cloned()
        .collect();
    sources.extend(workflow_english());
    accession::locale::english_vocabulary(sources.iter().map(String::as_str))
}

/// Pages whose words are not all checked yet: the procedure page's next steps ("field … not
/// recorded"), and the history rows of the procedure and audit pages, are being rewritten (issue
/// 15 item 3) and come from English texts of the application layer; the check is to be turned on
/// for them when they are.
const NOT_YET_CHECKED: &[&str] = &["/procedures/", "/audit"];

/// An English page names the other languages in themselves, and nothing else in Cyrillic.
const CYRILLIC_ON_ENGLISH_PAGES: &[&str] = &["Русский", "Кыргызча"];

impl Visit<'_> {
    /// GET `path`: its status is `expected`, it is HTML, rendered, and holds `marker`.
    async fn get(&self, path: &str, expected: StatusCode, marker: &str) -> String {
        let response = self
            .client
            .get(format!("{}{path}", self.server.base))
            .header("Cookie", &self.session)
            .send()
            .await
            .unwrap();
        self.check(path, response, expected, marker).await
    }

    async fn post(
        &self,
        path: &str,
        form: &[(&str, &str)],
        expected: StatusCode,
        marker: &str,
    ) -> String {
        let response = self
            .client
            .post(format!("{}{path}", self.server.base))
            .header("Cookie", &self.session)
            .form(form)
            .send()
            .await
            .unwrap();
        self.check(path, response, expected, marker).await
    }

    async fn check(
        &self,
        path: &str,
        response: reqwest::Response,
        expected: StatusCode,
        marker: &str,
    ) -> String {
        let status = response.status();
        let html = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("text/html"));
        let body = response.text().await.unwrap();
        let who = &self.who;
        assert!(!body.contains(RENDER_FAILED), "{who} {path}: {body}");
        assert_eq!(status, expected, "{who} {path}: {body}");
        assert!(html, "{who} {path} is not HTML");
        assert!(
            body.contains(marker),
            "{who} {path} lacks {marker:?}: {body}"
        );
        let read = accession::locale::visible_text(&body);
        if NOT_YET_CHECKED.iter().any(|p| path.starts_with(p)) {
            return body;
        }
        if self.language == "en" {
            let cyrillic = accession::locale::cyrillic_words_in(&read, CYRILLIC_ON_ENGLISH_PAGES);
            assert!(
                cyrillic.is_empty(),
                "{who} {path}: Cyrillic {cyrillic:?} on an English page:\n{read}"
            );
        } else if !self.session.is_empty() {
            let english = accession::locale::english_words_in(&read, self.vocabulary);
            assert!(
                english.is_empty(),
                "{who} {path}: English {english:?}:\n{read}"
            );
        }
        body
    }
}

/// A statement (`UPDATE …`) on either backend: a row put in a state no use case leads to quickly.
async fn execute(app: &accession::app::Accession, sql: &str) {
    use sea_orm::{ConnectionTrait, Statement};
    let conn = app.store_for_tests().connection();
    conn.execute_raw(Statement::from_string(
        conn.get_database_backend(),
        sql.to_string(),
    ))
    .await
    .expect("statement");
}

fn allowed(role: Role, permission: Permission) -> StatusCode {
    if permission.roles().contains(&role) {
        StatusCode::OK
    } else {
        StatusCode::FORBIDDEN
    }
}

async fn every_page_renders_for_every_role_in_every_language(db: &TestDb) {
    let server = Server::start(db).await;
    let vocabulary = english_vocabulary();
    // One email dead, so the outbox shows its retry form.
    execute(
        &server.app,
        "UPDATE outbox SET status = 'dead', last_error = 'refused by the relay' \
         WHERE id = (SELECT MIN(id) FROM outbox)",
    )
    .await;

    // Nobody signed in: the sign-in form, a refused token, a refused form.
    let anonymous = Visit {
        server: &server,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        session: String::new(),
        who: "nobody".into(),
        language: "en",
        vocabulary: &vocabulary,
    };
    anonymous
        .get("/sign-in", StatusCode::OK, "name=\"token\"")
        .await;
    anonymous
        .post(
            "/sign-in",
            &[("csrf", "x"), ("token", "acc_nope")],
            StatusCode::FORBIDDEN,
            "role=\"alert\"",
        )
        .await;

    // Without a session every page and form sends the visitor to sign in; an address the page
    // cannot read is refused first, as before the check was an extractor.
    for (method, path) in [
        (reqwest::Method::GET, "/"),
        (reqwest::Method::GET, "/procedures/kg-cets-210"),
        (reqwest::Method::GET, "/audit"),
        (reqwest::Method::GET, "/outbox"),
        (reqwest::Method::GET, "/reminders"),
        (reqwest::Method::POST, "/procedures/kg-cets-210/act"),
        (reqwest::Method::POST, "/outbox/1/retry"),
        (reqwest::Method::POST, "/calendar-feed"),
        (reqwest::Method::POST, "/sign-out"),
    ] {
        let answer = anonymous
            .client
            .request(method.clone(), format!("{}{path}", server.base))
            .form(&[("csrf", "x")])
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::SEE_OTHER, "{method} {path}");
        assert_eq!(answer.headers()["location"], "/sign-in", "{method} {path}");
    }
    for (method, path, status) in [
        (
            reqwest::Method::GET,
            "/?convention=a&convention=b",
            StatusCode::BAD_REQUEST,
        ),
        (
            reqwest::Method::POST,
            "/outbox/one/retry",
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let answer = anonymous
            .client
            .request(method.clone(), format!("{}{path}", server.base))
            .form(&[("csrf", "x")])
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), status, "{method} {path}");
    }

    let mut procedures_seen = 0;
    for (institution, role) in [
        ("mfa", Role::Coordinator),
        ("mfa", Role::Auditor),
        ("mfa", Role::Admin),
        ("moj", Role::Ministry),
        ("embassy-france", Role::Ministry),
    ] {
        let (client, session) = signed_in(&server, server.token(institution, role)).await;
        for language in ["en", "ru", "ky"] {
            let visit = Visit {
                server: &server,
                client: client.clone(),
                session: session.clone(),
                who: format!("{institution} ({}, {language})", role.as_str()),
                language,
                vocabulary: &vocabulary,
            };
            let switched = visit
                .client
                .get(format!("{}/lang?to={language}", server.base))
                .header("Cookie", &visit.session)
                .send()
                .await
                .unwrap();
            assert_eq!(switched.status(), StatusCode::SEE_OTHER);
            let lang = format!("<html lang=\"{language}\">");

            // The dashboard, filtered, and every page of it; each procedure it lists.
            let mut ids = Vec::new();
            let mut next = Some("/".to_string());
            while let Some(path) = next {
                let page = visit.get(&path, StatusCode::OK, "id=\"matrix\"").await;
                assert!(page.contains(&lang), "{}: {page}", visit.who);
                ids.extend(
                    page.split("<tr data-procedure=\"")
                        .skip(1)
                        .filter_map(|rest| rest.split('"').next())
                        .map(str::to_string),
                );
                next = link_after(&page, "rel=\"next\" href=\"");
            }
            for filtered in [
                "/?overdue=true",
                "/?mine=true",
                "/?status=suspended&convention=ets-112&institution=moj",
            ] {
                visit.get(filtered, StatusCode::OK, "id=\"matrix\"").await;
            }
            for id in &ids {
                let page = visit
                    .get(
                        &format!("/procedures/{id}"),
                        StatusCode::OK,
                        "id=\"history\"",
                    )
                    .await;
                visit
                    .get(
                        &format!("/procedures/{id}?done=comment"),
                        StatusCode::OK,
                        "id=\"flash\"",
                    )
                    .await;
                // A refused act shows the procedure again with the refusal.
                let csrf = link_after(&page, "name=\"csrf\" value=\"").expect("a form's secret");
                visit
                    .post(
                        &format!("/procedures/{id}/act"),
                        &[("csrf", &csrf), ("act", "comment"), ("text", " ")],
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "id=\"flash\"",
                    )
                    .await;
                procedures_seen += 1;
            }
            visit
                .get(
                    "/procedures/no-such",
                    StatusCode::NOT_FOUND,
                    "role=\"alert\"",
                )
                .await;

            // The chart, empty and chosen, for a convention and a State, and its CSV.
            visit.get("/chart", StatusCode::OK, "name=\"as_of\"").await;
            let chart = visit
                .get(
                    "/chart?convention=ets-112&as_of=2024-05-01",
                    StatusCode::OK,
                    "class=\"chart\"",
                )
                .await;
            if role != Role::Ministry || institution == "moj" {
                assert!(chart.contains("2024-04-22"), "{}: {chart}", visit.who);
            }
            visit
                .get(
                    "/chart?state=kg&as_of=2024-08-01",
                    StatusCode::OK,
                    "name=\"as_of\"",
                )
                .await;
            visit
                .get(
                    "/chart?state=KG&as_of=01.05.2024",
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "role=\"alert\"",
                )
                .await;

            // The auditor's pages, the coordinator's, the reminders.
            let audit = allowed(role, Permission::ReadAudit);
            let marker = if audit == StatusCode::OK {
                "id=\"chain\""
            } else {
                "role=\"alert\""
            };
            let mut next = Some("/audit".to_string());
            while let Some(path) = next {
                let page = visit.get(&path, audit, marker).await;
                next = link_after(&page, "rel=\"next\" href=\"");
            }
            visit
                .get(
                    "/audit?institution=mfa&convention=ets-112&from=2020-01-01&until=2030-12-31",
                    audit,
                    marker,
                )
                .await;
            let outbox = allowed(role, Permission::ReadOutbox);
            let marker = if outbox == StatusCode::OK {
                "/retry\""
            } else {
                "role=\"alert\""
            };
            visit.get("/outbox", outbox, marker).await;
            visit.get("/outbox?done=%231", outbox, marker).await;
            let timers = allowed(role, Permission::ReadTimers);
            let marker = if timers == StatusCode::OK {
                "id=\"timers\""
            } else {
                "role=\"alert\""
            };
            visit.get("/reminders", timers, marker).await;

            // The calendar feed's page, and a form without its secret.
            let dashboard = visit.get("/", StatusCode::OK, "id=\"matrix\"").await;
            let csrf = link_after(&dashboard, "name=\"csrf\" value=\"").expect("a form's secret");
            visit
                .post(
                    "/calendar-feed",
                    &[("csrf", &csrf)],
                    StatusCode::OK,
                    "id=\"feed-url\"",
                )
                .await;
            let not_a_form = visit
                .client
                .post(format!("{}/calendar-feed", server.base))
                .header("Cookie", &visit.session)
                .body(format!("csrf={csrf}"))
                .send()
                .await
                .unwrap();
            assert_eq!(not_a_form.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
            visit
                .post(
                    "/calendar-feed",
                    &[("csrf", "forged")],
                    StatusCode::FORBIDDEN,
                    "role=\"alert\"",
                )
                .await;
        }
    }
    assert!(procedures_seen >= 5 * 3, "every role saw procedures");
}
on_both!(every_page_renders_for_every_role_in_every_language);
