//! The pages over HTTP, without a browser: sign-in and CSRF, the calendar feed read back by an
//! iCalendar parser. (The browser tests are in tests/browser.)

use accession::engine::Role;
use reqwest::StatusCode;
use sha2::{Digest, Sha256};

use crate::harness::Server;
use crate::on_both;
use crate::support::TestDb;

fn feed_key(token: &str) -> String {
    let hash = hex::encode(Sha256::digest(token.as_bytes()));
    hex::encode(Sha256::digest(
        format!("accession-ics-v1:{hash}").as_bytes(),
    ))
}

async fn the_calendar_feed_of_an_institution_parses_as_icalendar(db: &TestDb) {
    let server = Server::start(db).await;
    let key = feed_key(server.token("moj", Role::Ministry));
    let url = format!("{}/calendar/moj.ics?key={key}", server.base);
    let response = server.client.get(&url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/calendar")
    );
    let body = response.text().await.unwrap();
    let calendar = ical::IcalParser::new(body.as_bytes())
        .next()
        .expect("one calendar")
        .expect("it parses");
    let value = |e: &ical::parser::ical::component::IcalEvent, name: &str| -> String {
        e.properties
            .iter()
            .find(|p| p.name == name)
            .and_then(|p| p.value.clone())
            .unwrap_or_default()
    };
    let deadlines: Vec<_> = calendar
        .events
        .iter()
        .filter(|e| value(e, "CATEGORIES") == "deadline")
        .collect();
    // The five procedures in legal review, the Ministry of Justice's stage, due 2023-12-01.
    assert_eq!(deadlines.len(), 5, "{body}");
    assert!(deadlines.iter().all(|e| value(e, "DTSTART") == "20231201"));
    assert!(
        deadlines
            .iter()
            .all(|e| value(e, "URL").contains("/procedures/kg-"))
    );
    assert!(
        calendar
            .events
            .iter()
            .any(|e| value(e, "CATEGORIES") == "reminder"),
        "the weekly reminders are in it: {body}"
    );
    // A wrong key, or another institution's, opens nothing.
    let wrong = server
        .client
        .get(format!("{}/calendar/mfa.ics?key={key}", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
}
on_both!(the_calendar_feed_of_an_institution_parses_as_icalendar);

async fn a_form_without_its_csrf_secret_is_refused(db: &TestDb) {
    let server = Server::start(db).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // Sign in properly: the form's secret and its cookie.
    let page = client
        .get(format!("{}/sign-in", server.base))
        .send()
        .await
        .unwrap();
    let csrf_cookie = page
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("accession_csrf="))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let secret = csrf_cookie
        .trim_start_matches("accession_csrf=")
        .to_string();
    // A bad token: 401 and the form again.
    let refused = client
        .post(format!("{}/sign-in", server.base))
        .header("Cookie", &csrf_cookie)
        .form(&[("csrf", secret.as_str()), ("token", "acc_nope")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    // Without the secret, even a good token is refused (login CSRF).
    let forged = client
        .post(format!("{}/sign-in", server.base))
        .form(&[
            ("csrf", secret.as_str()),
            ("token", server.token("moj", Role::Ministry)),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let signed = client
        .post(format!("{}/sign-in", server.base))
        .header("Cookie", &csrf_cookie)
        .form(&[
            ("csrf", secret.as_str()),
            ("token", server.token("moj", Role::Ministry)),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(signed.status(), StatusCode::SEE_OTHER);
    let session = signed
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("accession_session="))
        .unwrap()
        .to_string();
    assert!(
        session.contains("HttpOnly") && session.contains("SameSite=Strict"),
        "{session}"
    );
    let session = session.split(';').next().unwrap().to_string();
    let before = server.history_len("kg-cets-210").await;
    // An act with a wrong CSRF secret changes nothing.
    let forged = client
        .post(format!("{}/procedures/kg-cets-210/act", server.base))
        .header("Cookie", &session)
        .form(&[
            ("csrf", "0".repeat(64).as_str()),
            ("act", "comment"),
            ("text", "forged"),
            ("version", "5"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert_eq!(server.history_len("kg-cets-210").await, before);
}
on_both!(a_form_without_its_csrf_secret_is_refused);

/// Sign in to the pages with `token`: the sign-in answer and the session cookie, if one was set.
async fn sign_in(
    server: &Server,
    client: &reqwest::Client,
    token: &str,
) -> (StatusCode, String, Option<String>) {
    let page = client
        .get(format!("{}/sign-in", server.base))
        .send()
        .await
        .unwrap();
    let csrf_cookie = page
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("accession_csrf="))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let secret = csrf_cookie
        .trim_start_matches("accession_csrf=")
        .to_string();
    let answer = client
        .post(format!("{}/sign-in", server.base))
        .header("Cookie", &csrf_cookie)
        .form(&[("csrf", secret.as_str()), ("token", token)])
        .send()
        .await
        .unwrap();
    let session = answer
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("accession_session="))
        .map(|c| c.split(';').next().unwrap().to_string());
    let status = answer.status();
    (status, answer.text().await.unwrap(), session)
}

async fn a_form_with_a_control_character_is_refused_and_a_textarea_line_break_is_kept(db: &TestDb) {
    let server = Server::start(db).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let (status, _, session) = sign_in(&server, &client, server.token("moj", Role::Ministry)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let session = session.expect("a session");
    let csrf = server
        .app
        .session(session.trim_start_matches("accession_session="))
        .await
        .unwrap()
        .expect("a live session")
        .row
        .csrf;
    let post = |text: &'static str| {
        let (client, session, csrf, server) = (&client, &session, &csrf, &server);
        async move {
            let version = server
                .etag("kg-cets-210")
                .await
                .trim_matches('"')
                .to_string();
            let answer = client
                .post(format!("{}/procedures/kg-cets-210/act", server.base))
                .header("Cookie", session)
                .form(&[
                    ("csrf", csrf.as_str()),
                    ("act", "comment"),
                    ("text", text),
                    ("version", version.as_str()),
                ])
                .send()
                .await
                .unwrap();
            (answer.status(), answer.text().await.unwrap())
        }
    };
    let before = server.history_len("kg-cets-210").await;
    // At the end, where trimming would have dropped it unseen, too.
    for text in ["a\u{0}b", "all clear\u{b}"] {
        let (status, page) = post(text).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
        assert!(page.contains("control character U+00"), "{page}");
        assert_eq!(server.history_len("kg-cets-210").await, before);
    }
    // A browser sends a textarea's line breaks as CR LF: kept as one line feed.
    let (status, page) = post("Articles 5 and 7:\r\nsee the annex").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{page}");
    let history = server
        .app
        .store
        .history(&"kg-cets-210".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(
        history.last().unwrap().comment.as_deref(),
        Some("Articles 5 and 7:\nsee the annex")
    );
}
on_both!(a_form_with_a_control_character_is_refused_and_a_textarea_line_break_is_kept);

async fn signing_in_with_a_role_the_institution_no_longer_holds_is_refused(db: &TestDb) {
    let server = Server::start(db).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mfa = server.token("mfa", Role::Coordinator).to_string();
    let (status, _, session) = sign_in(&server, &client, &mfa).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let session = session.expect("a session");
    let home = |cookie: String| {
        let (client, server) = (&client, &server);
        async move {
            client
                .get(format!("{}/", server.base))
                .header("Cookie", cookie)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(home(session.clone()).await, StatusCode::OK);
    // The coordination passes to the Ministry of Justice.
    let seed = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/demo/institutions.toml"),
    )
    .unwrap()
    .replace("coordinator = true\n", "")
    .replace("id = \"moj\"\n", "id = \"moj\"\ncoordinator = true\n");
    let file = db.dir.path().join("institutions.toml");
    std::fs::write(&file, seed).unwrap();
    server.app.import_institutions(&file).await.unwrap();
    // The session is over, and signing in again says why.
    assert_eq!(home(session).await, StatusCode::SEE_OTHER);
    let (status, page, session) = sign_in(&server, &client, &mfa).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{page}");
    assert!(session.is_none());
    assert!(
        page.contains("the coordinator role belongs to the coordinating institution"),
        "{page}"
    );
}
on_both!(signing_in_with_a_role_the_institution_no_longer_holds_is_refused);
