//! The pages over HTTP, without a browser: sign-in and CSRF, the calendar feed read back by an
//! iCalendar parser. (The browser tests are in tests/browser.)

use accession::engine::Role;
use reqwest::{Method, StatusCode};
use sha2::{Digest, Sha256};

use crate::harness::{Server, SignIn};
use crate::on_both;
use crate::support::{TestDb, count, import_copies};

/// The feed key of earlier versions, derived from the token's stored hash: anyone with a backup
/// of the database could compute it.
fn derived_feed_key(token: &str) -> String {
    let hash = hex::encode(Sha256::digest(token.as_bytes()));
    hex::encode(Sha256::digest(
        format!("accession-ics-v1:{hash}").as_bytes(),
    ))
}

/// A new feed key for `token`'s own feed, through the API: the feed's address.
async fn new_feed(server: &Server, token: &str) -> String {
    let reply = server
        .send(Method::POST, "/api/v1/feed-key", Some(token), &[], None)
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(reply.header("cache-control").as_deref(), Some("no-store"));
    reply.json()["url"].as_str().expect("a url").to_string()
}

/// The feed's address on the test server (the answers name `mail.base_url`'s host).
fn on_server(server: &Server, url: &str) -> String {
    let path = &url[url.find("/calendar/").expect("a calendar address")..];
    format!("{}{path}", server.base)
}

fn key_of(url: &str) -> String {
    url.rsplit_once("key=").expect("a key").1.to_string()
}

async fn status_of(server: &Server, url: &str) -> StatusCode {
    server.client.get(url).send().await.unwrap().status()
}

async fn the_calendar_feed_of_an_institution_parses_as_icalendar(db: &TestDb) {
    let server = Server::start(db).await;
    let key = key_of(&new_feed(&server, server.token("moj", Role::Ministry)).await);
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

/// The feed key is a random secret of its own, kept hashed: the address derived from the token
/// (as earlier versions made it) opens nothing; a new key stops the old at once; revoking the
/// token stops its feed.
async fn a_calendar_feed_key_is_random_stored_hashed_renewable_and_dies_with_its_token(
    db: &TestDb,
) {
    let server = Server::start(db).await;
    let moj = server.token("moj", Role::Ministry).to_string();
    let admin = server.token("mfa", Role::Admin).to_string();
    let derived = format!(
        "{}/calendar/moj.ics?key={}",
        server.base,
        derived_feed_key(&moj)
    );
    assert_eq!(status_of(&server, &derived).await, StatusCode::UNAUTHORIZED);

    let first = new_feed(&server, &moj).await;
    assert!(
        first.starts_with("http://127.0.0.1:8080/calendar/moj.ics?key="),
        "{first}"
    );
    let first_key = key_of(&first);
    assert_ne!(first_key, derived_feed_key(&moj));
    assert_eq!(
        status_of(&server, &on_server(&server, &first)).await,
        StatusCode::OK
    );
    assert_eq!(status_of(&server, &derived).await, StatusCode::UNAUTHORIZED);

    // Only the key's SHA-256 is in the database.
    let token_id = server.app.authenticate(&moj).await.unwrap().unwrap().0.id;
    let hash = hex::encode(Sha256::digest(first_key.as_bytes()));
    assert_eq!(
        count(
            &server.app,
            &format!(
                "SELECT COUNT(*) FROM api_tokens WHERE id = {token_id} AND feed_key_hash = '{hash}'"
            )
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &server.app,
            &format!(
                "SELECT COUNT(*) FROM api_tokens WHERE token_hash LIKE '%{first_key}%' \
                 OR feed_key_hash LIKE '%{first_key}%' OR prefix LIKE '%{first_key}%' \
                 OR name LIKE '%{first_key}%'"
            )
        )
        .await,
        0,
        "the key itself is stored nowhere"
    );

    // Renewed by an admin: the old address stops, the new one works.
    let path = format!("/api/v1/tokens/{token_id}/feed-key");
    let renewed = server
        .send(Method::POST, &path, Some(&admin), &[], None)
        .await
        .expect(StatusCode::CREATED);
    let second = renewed.json()["url"].as_str().unwrap().to_string();
    assert_ne!(key_of(&second), first_key);
    assert_eq!(
        status_of(&server, &on_server(&server, &first)).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status_of(&server, &on_server(&server, &second)).await,
        StatusCode::OK
    );
    // Another institution's token may not renew it, and it changed nothing.
    server
        .send(
            Method::POST,
            &path,
            Some(server.token("mia", Role::Ministry)),
            &[],
            None,
        )
        .await
        .expect(StatusCode::FORBIDDEN)
        .problem("not-allowed");
    assert_eq!(
        status_of(&server, &on_server(&server, &second)).await,
        StatusCode::OK
    );

    // Revoked, the token's feed is dead, and no new one is made for it.
    server
        .send(
            Method::DELETE,
            &format!("/api/v1/tokens/{token_id}"),
            Some(&admin),
            &[],
            None,
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        status_of(&server, &on_server(&server, &second)).await,
        StatusCode::UNAUTHORIZED
    );
    let refused = server
        .send(Method::POST, &path, Some(&admin), &[], None)
        .await
        // The request is well formed; the token's state refuses it: 409, as for other states.
        .expect(StatusCode::CONFLICT);
    assert!(
        refused.problem("not-applicable")["detail"]
            .as_str()
            .unwrap()
            .contains("revoked"),
        "{}",
        refused.text
    );
    assert_eq!(
        status_of(&server, &on_server(&server, &second)).await,
        StatusCode::UNAUTHORIZED
    );
}
on_both!(a_calendar_feed_key_is_random_stored_hashed_renewable_and_dies_with_its_token);

/// Signed in as `token`: a client without redirects and the session cookie.
pub async fn signed_in(server: &Server, token: &str) -> (reqwest::Client, String) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let session = server.session(&client, token, "").await;
    (client, session)
}

/// The dashboard offers a calendar link; the form (with its CSRF secret) makes one and shows its
/// address once; the dashboard then says when it was made, never the address.
async fn the_dashboard_makes_a_calendar_link_and_shows_it_once(db: &TestDb) {
    let server = Server::start(db).await;
    let (client, session) = signed_in(&server, server.token("moj", Role::Ministry)).await;
    // The Ministry of Justice reads Russian pages; these checks read the English ones.
    let english = client
        .get(format!("{}/lang?to=en", server.base))
        .header("Cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(english.status(), StatusCode::SEE_OTHER);
    let dashboard = || async {
        client
            .get(format!("{}/", server.base))
            .header("Cookie", &session)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let page = dashboard().await;
    assert!(page.contains("Create a calendar link"), "{page}");
    assert!(!page.contains("/calendar/moj.ics"), "{page}");
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a form's CSRF secret")
        .to_string();

    let forged = client
        .post(format!("{}/calendar-feed", server.base))
        .header("Cookie", &session)
        .form(&[("csrf", "0".repeat(64).as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        count(
            &server.app,
            "SELECT COUNT(*) FROM api_tokens WHERE feed_key_hash IS NOT NULL"
        )
        .await,
        0,
        "a forged form makes nothing"
    );

    let made = client
        .post(format!("{}/calendar-feed", server.base))
        .header("Cookie", &session)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), StatusCode::OK);
    assert_eq!(made.headers()["cache-control"], "no-store");
    let shown = made.text().await.unwrap();
    let url = shown
        .split("id=\"feed-url\" href=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        // The page leaves `/` unescaped (crate::html::escape), so the address reads as it is.
        .expect("the address on the page")
        .to_owned();
    assert!(shown.contains("shown only this once"), "{shown}");
    assert_eq!(
        status_of(&server, &on_server(&server, &url)).await,
        StatusCode::OK
    );

    let page = dashboard().await;
    assert!(page.contains("Your calendar link was made on"), "{page}");
    assert!(page.contains("Create a new calendar link"), "{page}");
    assert!(
        !page.contains(&key_of(&url)),
        "the address is not shown again"
    );
}
on_both!(the_dashboard_makes_a_calendar_link_and_shows_it_once);

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

async fn a_form_with_a_control_character_is_refused_and_a_textarea_line_break_is_kept(db: &TestDb) {
    let server = Server::start(db).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let SignIn {
        status, session, ..
    } = server
        .sign_in(&client, server.token("moj", Role::Ministry), "")
        .await;
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
        // In the reader's language (this session reads Russian), with the character's code.
        assert!(page.contains("управляющий символ U+00"), "{page}");
        assert_eq!(server.history_len("kg-cets-210").await, before);
    }
    // A browser sends a textarea's line breaks as CR LF: kept as one line feed.
    let (status, page) = post("Articles 5 and 7:\r\nsee the annex").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{page}");
    let history = server
        .app
        .store_for_tests()
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
    let SignIn {
        status, session, ..
    } = server.sign_in(&client, &mfa, "").await;
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
    let SignIn {
        status,
        page,
        session,
    } = server.sign_in(&client, &mfa, "").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{page}");
    assert!(session.is_none());
    assert!(
        page.contains("The coordinator role belongs to the coordinating institution"),
        "{page}"
    );
}
on_both!(signing_in_with_a_role_the_institution_no_longer_holds_is_refused);

/// The audit page shows the stored verification state: brought up to date for chains written
/// since, not rehashed on each view; `audit verify` rehashes every chain and stores what it finds,
/// so an edited row shows there. Its history is paged and its exports streamed whole.
async fn the_audit_page_shows_the_stored_verification_state(db: &TestDb) {
    use sea_orm::{ConnectionTrait, DbBackend};
    let server = Server::start(db).await;
    let (client, session) = signed_in(&server, server.token("mfa", Role::Auditor)).await;
    let get = |path: String| {
        let client = client.clone();
        let session = session.clone();
        async move {
            let r = client
                .get(path)
                .header("Cookie", &session)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            r.text().await.unwrap()
        }
    };
    let audit = format!("{}/audit", server.base);
    let page = get(audit.clone()).await;
    assert!(page.contains("id=\"chain\">✓"), "{page}");
    let stored = |sql: &'static str| crate::support::count(&server.app, sql);
    assert_eq!(stored("SELECT COUNT(*) FROM chain_verifications").await, 6);
    assert_eq!(
        stored("SELECT COUNT(*) FROM chain_verifications WHERE procedure_id = 'kg-ets-112' AND sequence = 18 AND broken IS NULL").await,
        1
    );

    // A row edited behind the application's back.
    let conn = server.app.store_for_tests().connection();
    let disable = match conn.get_database_backend() {
        DbBackend::Postgres => "ALTER TABLE history DISABLE TRIGGER history_append_only",
        _ => "DROP TRIGGER history_no_update",
    };
    conn.execute_unprepared(disable).await.unwrap();
    conn.execute_unprepared(
        "UPDATE history SET comment = 'forged' WHERE procedure_id = 'kg-ets-112' AND sequence = 5",
    )
    .await
    .unwrap();
    // The page reads the stored result: the chain was not written since, so not rehashed.
    assert!(get(audit.clone()).await.contains("id=\"chain\">✓"));
    // `audit verify` rehashes every chain and stores the break: verified up to row 4.
    let report = server
        .app
        .store_for_tests()
        .verify_at(None, server.app.now(), accession::store::Verdicts::Broken)
        .await
        .unwrap();
    assert!(!report.ok());
    assert_eq!((report.checked, report.procedures.len()), (6, 1));
    let page = get(audit.clone()).await;
    assert!(page.contains("id=\"chain\">✗"), "{page}");
    assert!(page.contains("kg-ets-112"), "{page}");
    assert_eq!(
        stored("SELECT COUNT(*) FROM chain_verifications WHERE procedure_id = 'kg-ets-112' AND sequence = 4 AND broken IS NOT NULL").await,
        1
    );

    // A page of 100 history rows with a link to the next; the export has every row.
    let total = stored("SELECT COUNT(*) FROM history").await as usize;
    let csv = get(format!("{}/audit/history.csv", server.base)).await;
    assert_eq!(csv.lines().count(), total + 1, "a header and every row");
    let json: serde_json::Value =
        serde_json::from_str(&get(format!("{}/audit/history.json", server.base)).await).unwrap();
    assert_eq!(json.as_array().unwrap().len(), total);
    let page = get(audit.clone()).await;
    let shown = page.matches("<tr><td><a href=\"/procedures/").count();
    assert_eq!(shown, total.min(100));
}
on_both!(the_audit_page_shows_the_stored_verification_state);

/// The dashboard shows a page of 50 with a link to the next, and counts over all.
async fn the_dashboard_is_paged_and_counts_everything(db: &TestDb) {
    let server = Server::start(db).await;
    // One open procedure of a State per convention: each starts on a copy of ETS 112.
    import_copies(&server.app, db.dir.path(), "ets-112", 50).await;
    for i in 0..50 {
        server
            .send(
                reqwest::Method::POST,
                "/api/v1/procedures",
                Some(server.token("mfa", Role::Coordinator)),
                &[],
                Some(serde_json::json!({"id": format!("m-{i:02}"), "state": "KG", "convention": format!("ets-112-{i}")})),
            )
            .await
            .expect(StatusCode::CREATED);
    }
    let (client, session) = signed_in(&server, server.token("mfa", Role::Coordinator)).await;
    let get = |path: String| {
        let client = client.clone();
        let session = session.clone();
        async move {
            client
                .get(path)
                .header("Cookie", &session)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    let first = get(format!("{}/", server.base)).await;
    assert_eq!(first.matches("<tr data-procedure=").count(), 50);
    assert!(
        first.contains(">56 · "),
        "the caption counts every procedure"
    );
    let next = first
        .split("rel=\"next\" href=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a next page link")
        .replace("&#x2f;", "/")
        .replace("&amp;", "&");
    let second = get(format!("{}{next}", server.base)).await;
    assert_eq!(second.matches("<tr data-procedure=").count(), 6);
    assert!(!second.contains("rel=\"next\""));
    assert!(second.contains("rel=\"prev\""));
}
on_both!(the_dashboard_is_paged_and_counts_everything);

/// The audit page lists the newest signed checkpoints, or says there is none yet.
async fn the_audit_page_lists_the_signed_checkpoints(db: &TestDb) {
    use accession::audit::checkpoint::Checkpoint;
    let server = Server::start(db).await;
    let (client, session) = signed_in(&server, server.token("mfa", Role::Auditor)).await;
    let get = || async {
        client
            .get(format!("{}/audit", server.base))
            .header("Cookie", &session)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let page = get().await;
    assert!(page.contains("No checkpoint has been made yet"), "{page}");
    let key = ed25519_dalek::SigningKey::from_bytes(&[5u8; 32]);
    let (size, root) = server.app.store_for_tests().log_head().await.unwrap();
    let cp = Checkpoint::sign(size, &root, server.app.now(), &key);
    server
        .app
        .store_for_tests()
        .insert_checkpoint(&cp)
        .await
        .unwrap();
    let page = get().await;
    assert!(
        page.contains(&format!("<code>{}</code>", cp.root)),
        "{page}"
    );
    assert!(page.contains(&cp.key_id), "{page}");
    assert!(!page.contains("No checkpoint has been made yet"));
}
on_both!(the_audit_page_lists_the_signed_checkpoints);
