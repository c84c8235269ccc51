//! Accounts over HTTP: the API is the admin's (a ministry is refused 403), bad input is a
//! problem naming the field, and a person signs in to the pages by a link mailed through the
//! outbox (the file transport), confirmed by a POST, after which the history names them.

use accession::engine::Role;
use accession::scheduler::Dispatcher;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::harness::Server;
use crate::on_both;
use crate::support::TestDb;

async fn the_accounts_api_is_the_admins_and_checks_its_input(db: &TestDb) {
    let server = Server::start(db).await;
    let admin = server.token("mfa", Role::Admin).to_string();
    let ministry = server.token("moj", Role::Ministry).to_string();
    let coordinator = server.token("mfa", Role::Coordinator).to_string();
    let body = json!({"name": "Aigul Sydykova", "email": "Aigul@MinJust.example.kg",
                      "institution": "moj", "role": "ministry"});
    for token in [&ministry, &coordinator] {
        server
            .send(Method::GET, "/api/v1/accounts", Some(token), &[], None)
            .await
            .expect(StatusCode::FORBIDDEN)
            .problem("not-allowed");
        server
            .send(
                Method::POST,
                "/api/v1/accounts",
                Some(token),
                &[],
                Some(body.clone()),
            )
            .await
            .expect(StatusCode::FORBIDDEN)
            .problem("not-allowed");
        server
            .send(Method::GET, "/api/v1/sessions", Some(token), &[], None)
            .await
            .expect(StatusCode::FORBIDDEN)
            .problem("not-allowed");
    }
    let created = server
        .send(
            Method::POST,
            "/api/v1/accounts",
            Some(&admin),
            &[],
            Some(body.clone()),
        )
        .await
        .expect(StatusCode::CREATED)
        .json();
    assert_eq!(created["email"], "aigul@minjust.example.kg");
    assert_eq!(created["role"], "ministry");
    assert!(created["disabled_at"].is_null());
    let id = created["id"].as_i64().unwrap();
    server
        .send(
            Method::POST,
            "/api/v1/accounts",
            Some(&admin),
            &[],
            Some(body.clone()),
        )
        .await
        .expect(StatusCode::CONFLICT)
        .problem("conflict");

    for (change, field) in [
        (json!({"email": "not an address"}), "email"),
        (json!({"name": "  "}), "name"),
        (json!({"institution": "nowhere"}), "institution"),
        (json!({"role": "coordinator"}), "role"),
    ] {
        let mut bad = json!({"name": "X", "email": "x@moj.example.kg", "institution": "moj",
                             "role": "ministry"});
        for (k, v) in change.as_object().unwrap() {
            bad[k] = v.clone();
        }
        let reply = server
            .send(
                Method::POST,
                "/api/v1/accounts",
                Some(&admin),
                &[],
                Some(bad),
            )
            .await
            .expect(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            reply.problem("invalid-input")["field"],
            field,
            "{}",
            reply.text
        );
    }
    let reply = server
        .send(
            Method::POST,
            "/api/v1/accounts",
            Some(&admin),
            &[],
            Some(
                json!({"name": "X", "email": "x@moj.example.kg", "institution": "moj",
                        "role": "ministry", "password": "no"}),
            ),
        )
        .await;
    assert!(reply.status.is_client_error(), "{}", reply.text);
    server
        .send(
            Method::GET,
            "/api/v1/accounts?limit=0",
            Some(&admin),
            &[],
            None,
        )
        .await
        .expect(StatusCode::UNPROCESSABLE_ENTITY)
        .problem("invalid-input");

    let page = server
        .send(
            Method::GET,
            "/api/v1/accounts?limit=10",
            Some(&admin),
            &[],
            None,
        )
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(page["total"], 1);
    assert_eq!(page["items"][0]["id"], id);

    // A token for the person acts as them.
    let token = server
        .send(
            Method::POST,
            &format!("/api/v1/accounts/{id}/tokens"),
            Some(&admin),
            &[],
            Some(json!({"name": "laptop"})),
        )
        .await
        .expect(StatusCode::CREATED)
        .json();
    assert_eq!(token["account_id"], id);
    let person = token["token"].as_str().unwrap().to_string();
    server
        .send(Method::GET, "/api/v1/procedures", Some(&person), &[], None)
        .await
        .expect(StatusCode::OK);

    let disabled = server
        .send(
            Method::POST,
            &format!("/api/v1/accounts/{id}/disable"),
            Some(&admin),
            &[],
            None,
        )
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(disabled["tokens_revoked"], 1);
    assert!(disabled["account"]["disabled_at"].is_string());
    server
        .send(Method::GET, "/api/v1/procedures", Some(&person), &[], None)
        .await
        .expect(StatusCode::UNAUTHORIZED);
    server
        .send(Method::GET, "/api/v1/accounts/999", Some(&admin), &[], None)
        .await
        .expect(StatusCode::NOT_FOUND)
        .problem("not-found");
}
on_both!(the_accounts_api_is_the_admins_and_checks_its_input);

fn cookie_value(headers: &reqwest::header::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| {
            c.split(';')
                .next()?
                .strip_prefix(&format!("{name}="))
                .map(str::to_string)
        })
}

/// The page without the per-answer CSRF secrets, to compare two answers.
fn without_secrets(page: &str) -> String {
    page.split("name=\"csrf\" value=\"")
        .enumerate()
        .map(|(i, part)| {
            if i == 0 {
                part.to_string()
            } else {
                part[64..].to_string()
            }
        })
        .collect()
}

async fn a_person_signs_in_by_a_mailed_link_and_the_history_names_them(db: &TestDb) {
    let server = Server::start(db).await;
    let operator = accession::engine::Actor::operator("cli:test");
    let account = server
        .app
        .create_account(
            &operator,
            "Bakyt Osmonov",
            "bakyt@mfa.example.kg",
            &"mfa".parse().unwrap(),
            Role::Coordinator,
        )
        .await
        .unwrap();
    let client = server.client_from("127.0.0.3");
    let ask = |email: &'static str| {
        let (client, server) = (&client, &server);
        async move {
            let form = client
                .get(format!("{}/sign-in", server.base))
                .send()
                .await
                .unwrap();
            assert_eq!(form.status(), StatusCode::OK);
            let csrf = cookie_value(form.headers(), "accession_csrf").expect("a CSRF cookie");
            let page = form.text().await.unwrap();
            assert!(page.contains("action=\"/sign-in/email\""), "{page}");
            let answer = client
                .post(format!("{}/sign-in/email", server.base))
                .header("Cookie", format!("accession_csrf={csrf}"))
                .form(&[("csrf", csrf.as_str()), ("email", email)])
                .send()
                .await
                .unwrap();
            (answer.status(), answer.text().await.unwrap())
        }
    };
    // The same answer whether or not the address has an account.
    let (status_unknown, unknown) = ask("nobody@nowhere.example").await;
    let (status_known, known) = ask("bakyt@mfa.example.kg").await;
    assert_eq!(status_unknown, StatusCode::OK);
    assert_eq!(status_known, StatusCode::OK);
    assert_eq!(without_secrets(&unknown), without_secrets(&known));
    assert!(known.contains("15"), "{known}");

    // The outbox sends it: the file transport writes the email with the link.
    Dispatcher::from_settings(&server.app)
        .unwrap()
        .dispatch(&server.app, server.app.now())
        .await
        .unwrap();
    let dir = &server.app.settings.mail.outbox_dir;
    let mut link = None;
    for entry in std::fs::read_dir(dir).unwrap() {
        let raw = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let message = mail_parser::MessageParser::default()
            .parse(raw.as_bytes())
            .unwrap();
        let text = message.body_text(0).unwrap().into_owned();
        if let Some((_, rest)) = text.split_once(&format!(
            "{}/sign-in/link?key=",
            server.app.settings.mail.base_url.trim_end_matches('/')
        )) {
            assert!(raw.contains("bakyt@mfa.example.kg"), "{raw}");
            assert!(text.contains("Bakyt Osmonov"), "{text}");
            link = Some(
                rest.chars()
                    .take_while(|c| c.is_ascii_hexdigit())
                    .collect::<String>(),
            );
        }
    }
    let key = link.expect("an email with the sign-in link");
    assert_eq!(key.len(), 64);

    // Fetching the link (a mail scanner would) spends nothing.
    let mut csrf = String::new();
    for _ in 0..2 {
        let page = client
            .get(format!("{}/sign-in/link?key={key}", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        csrf = cookie_value(page.headers(), "accession_csrf").unwrap();
        let text = page.text().await.unwrap();
        assert!(text.contains("action=\"/sign-in/link\""), "{text}");
    }
    // A post without the double-submit cookie is refused and spends nothing.
    let forged = client
        .post(format!("{}/sign-in/link", server.base))
        .form(&[("csrf", csrf.as_str()), ("key", key.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let confirm = |csrf: String| {
        let (client, server, key) = (&client, &server, &key);
        async move {
            client
                .post(format!("{}/sign-in/link", server.base))
                .header("Cookie", format!("accession_csrf={csrf}"))
                .form(&[("csrf", csrf.as_str()), ("key", key.as_str())])
                .send()
                .await
                .unwrap()
        }
    };
    let signed = confirm(csrf.clone()).await;
    assert_eq!(signed.status(), StatusCode::SEE_OTHER);
    let session = cookie_value(signed.headers(), "accession_session").expect("a session");
    // Once only.
    let again = confirm(csrf).await;
    assert_eq!(again.status(), StatusCode::GONE);
    assert!(cookie_value(again.headers(), "accession_session").is_none());

    // Signed in as the person: the header names them; an act names them in the history.
    let cookie = format!("accession_session={session}");
    let home = client
        .get(format!("{}/", server.base))
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(home.contains("Bakyt Osmonov"), "{home}");
    let csrf = home
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_string();
    let version = server
        .etag("kg-cets-210")
        .await
        .trim_matches('"')
        .to_string();
    let acted = client
        .post(format!("{}/procedures/kg-cets-210/act", server.base))
        .header("Cookie", &cookie)
        .form(&[
            ("csrf", csrf.as_str()),
            ("act", "comment"),
            ("text", "seen by a person"),
            ("version", version.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(acted.status(), StatusCode::SEE_OTHER);
    let page = client
        .get(format!("{}/procedures/kg-cets-210", server.base))
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Bakyt Osmonov"), "{page}");
    let history = server
        .app
        .store_for_tests()
        .history(&"kg-cets-210".parse().unwrap())
        .await
        .unwrap();
    let last = history.last().unwrap();
    assert_eq!(last.actor_name, "Bakyt Osmonov");
    assert_eq!(last.actor_account, Some(account.id));

    // The admin's page lists the session; disabling the account, confirmed, ends it.
    let (admin, admin_csrf) = server
        .session_and_csrf(&client, server.token("mfa", Role::Admin))
        .await;
    let listing = client
        .get(format!("{}/accounts", server.base))
        .header("Cookie", &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(listing.status(), StatusCode::OK);
    let listing = listing.text().await.unwrap();
    assert!(listing.contains("bakyt@mfa.example.kg"), "{listing}");
    let disable = |confirm: Option<&'static str>| {
        let (client, server, admin, admin_csrf) = (&client, &server, &admin, &admin_csrf);
        async move {
            let mut form = vec![("csrf", admin_csrf.clone())];
            if let Some(c) = confirm {
                form.push(("confirm", c.to_string()));
            }
            client
                .post(format!("{}/accounts/{}/disable", server.base, account.id))
                .header("Cookie", admin)
                .form(&form)
                .send()
                .await
                .unwrap()
        }
    };
    // First the question; nothing is done yet.
    let asked = disable(None).await;
    assert_eq!(asked.status(), StatusCode::OK);
    assert!(
        asked
            .text()
            .await
            .unwrap()
            .contains("name=\"confirm\" value=\"yes\"")
    );
    assert!(server.app.session(&session).await.unwrap().is_some());
    let done = disable(Some("yes")).await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert!(server.app.session(&session).await.unwrap().is_none());
    // A ministry may not see the page.
    let (moj, _) = server
        .session_and_csrf(&client, server.token("moj", Role::Ministry))
        .await;
    let refused = client
        .get(format!("{}/accounts", server.base))
        .header("Cookie", &moj)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
}
on_both!(a_person_signs_in_by_a_mailed_link_and_the_history_names_them);
