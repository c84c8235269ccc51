//! Small holes closed: `Referrer-Policy` and `nosniff` on every response, an incoming request id
//! that is too long or odd replaced rather than echoed, `__Host-` cookies over HTTPS, and a JSON
//! body in another charset refused rather than read as UTF-8.

use accession::engine::Role;
use reqwest::header::HeaderValue;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::harness::Server;
use crate::on_both;
use crate::support::TestDb;

async fn every_response_says_no_referrer_and_nosniff(db: &TestDb) {
    let server = Server::start(db).await;
    let client = server.client_from("127.0.0.1");
    let coordinator = server.token("mfa", Role::Coordinator);
    let session = server.session(&client, coordinator, "").await;
    let key = server.feed_key(server.token("moj", Role::Ministry)).await;
    let with_token = |m: Method, path: &str| {
        client
            .request(m, format!("{}{path}", server.base))
            .bearer_auth(coordinator)
    };
    let with_session = |path: &str| {
        client
            .get(format!("{}{path}", server.base))
            .header("Cookie", &session)
    };
    let anonymous = |m: Method, path: &str| client.request(m, format!("{}{path}", server.base));
    let requests = [
        ("JSON", with_token(Method::GET, "/api/v1/procedures")),
        (
            "CSV export",
            with_token(
                Method::GET,
                "/api/v1/procedures/kg-cets-210/history?format=csv",
            ),
        ),
        (
            "diagram",
            with_token(Method::GET, "/api/v1/workflows/coe-accession/diagram"),
        ),
        (
            "dot diagram",
            with_token(
                Method::GET,
                "/api/v1/workflows/coe-accession/diagram?format=dot",
            ),
        ),
        ("404 problem", with_token(Method::GET, "/api/v1/nothing")),
        (
            "422 problem",
            with_token(
                Method::GET,
                "/api/v1/workflows/coe-accession/diagram?format=png",
            ),
        ),
        ("401 problem", anonymous(Method::GET, "/api/v1/procedures")),
        ("405 problem", anonymous(Method::DELETE, "/healthz")),
        ("health", anonymous(Method::GET, "/healthz")),
        ("metrics", anonymous(Method::GET, "/metrics")),
        ("OpenAPI", anonymous(Method::GET, "/api/openapi.json")),
        ("sign-in page", anonymous(Method::GET, "/sign-in")),
        ("redirect", anonymous(Method::GET, "/")),
        ("dashboard", with_session("/")),
        (
            "procedure page with SVG",
            with_session("/procedures/kg-cets-210"),
        ),
        ("history CSV export", with_session("/audit/history.csv")),
        ("history JSON export", with_session("/audit/history.json")),
        ("error page", with_session("/audit/history.xml")),
        (
            "calendar feed",
            anonymous(Method::GET, &format!("/calendar/moj.ics?key={key}")),
        ),
        (
            "calendar refusal",
            anonymous(Method::GET, "/calendar/moj.ics?key=nope"),
        ),
    ];
    for (what, request) in requests {
        let response = request.send().await.unwrap();
        let h = response.headers();
        let status = response.status();
        assert_eq!(
            h.get("referrer-policy").and_then(|v| v.to_str().ok()),
            Some("no-referrer"),
            "{what} ({status}): {h:?}"
        );
        assert_eq!(
            h.get("x-content-type-options")
                .and_then(|v| v.to_str().ok()),
            Some("nosniff"),
            "{what} ({status}): {h:?}"
        );
        assert_eq!(
            h.get_all("x-content-type-options").iter().count(),
            1,
            "{what}: once"
        );
    }
}
on_both!(every_response_says_no_referrer_and_nosniff);

async fn a_long_or_odd_request_id_is_replaced_and_a_tidy_one_kept(db: &TestDb) {
    let server = Server::start(db).await;
    let ask = |id: HeaderValue| {
        server
            .client
            .get(format!("{}/api/v1/nothing", server.base))
            .header("x-request-id", id)
            .send()
    };
    let read = |response: reqwest::Response| async move {
        let header = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_string();
        let problem: serde_json::Value = response.json().await.unwrap();
        assert_eq!(problem["request_id"], header.as_str(), "{problem}");
        header
    };
    for tidy in ["abc-123", "trace.1:span_2-x", &"a".repeat(128)] {
        let id = read(ask(HeaderValue::from_str(tidy).unwrap()).await.unwrap()).await;
        assert_eq!(id, tidy);
    }
    let odd: Vec<HeaderValue> = vec![
        HeaderValue::from_str(&"a".repeat(129)).unwrap(),
        HeaderValue::from_str("<script>alert(1)</script>").unwrap(),
        HeaderValue::from_str("a b").unwrap(),
        HeaderValue::from_str("id\"}, \"forged\": \"1").unwrap(),
        HeaderValue::from_str("../../etc/passwd").unwrap(),
        HeaderValue::from_bytes("ünï".as_bytes()).unwrap(),
        HeaderValue::from_static(""),
    ];
    let mut seen = std::collections::BTreeSet::new();
    for bad in odd {
        let sent = bad.as_bytes().to_vec();
        let id = read(ask(bad).await.unwrap()).await;
        assert_ne!(id.as_bytes(), sent.as_slice());
        assert!(!id.is_empty() && id.len() <= 128, "{id}");
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b)),
            "{id}"
        );
        assert!(seen.insert(id.clone()), "each replacement is new: {id}");
    }
}
on_both!(a_long_or_odd_request_id_is_replaced_and_a_tidy_one_kept);

async fn over_https_the_cookies_are_host_prefixed_and_secure(db: &TestDb) {
    let server = Server::start_with(db, |s| {
        s.mail.base_url = "https://accession.example.org".into()
    })
    .await;
    let client = server.client_from("127.0.0.1");
    let page = client
        .get(format!("{}/sign-in", server.base))
        .send()
        .await
        .unwrap();
    let cookies: Vec<String> = page
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    assert!(!cookies.is_empty());
    for c in &cookies {
        assert!(c.starts_with("__Host-"), "{c}");
        // What the prefix requires of the cookie, or browsers drop it.
        assert!(c.contains("; Secure") && c.contains("Path=/"), "{c}");
        assert!(!c.to_ascii_lowercase().contains("domain="), "{c}");
    }
    let session = server
        .session(&client, server.token("moj", Role::Ministry), "__Host-")
        .await;
    let dashboard = client
        .get(format!("{}/", server.base))
        .header("Cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(dashboard.status(), StatusCode::OK);
    // The same secret under the unprefixed name (one a sibling site or plain HTTP could have
    // set) is not read.
    let unprefixed = session.trim_start_matches("__Host-").to_string();
    let refused = client
        .get(format!("{}/", server.base))
        .header("Cookie", unprefixed)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::SEE_OTHER);
    assert_eq!(refused.headers()["location"], "/sign-in");
}
on_both!(over_https_the_cookies_are_host_prefixed_and_secure);

async fn over_plain_http_the_cookies_keep_their_names_and_are_not_secure(db: &TestDb) {
    let server = Server::start(db).await;
    let page = server
        .client
        .get(format!("{}/sign-in", server.base))
        .send()
        .await
        .unwrap();
    let cookie = page.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.starts_with("accession_csrf="), "{cookie}");
    assert!(!cookie.contains("Secure"), "{cookie}");
}
on_both!(over_plain_http_the_cookies_keep_their_names_and_are_not_secure);

async fn a_json_body_in_another_charset_is_refused(db: &TestDb) {
    let server = Server::start(db).await;
    let moj = server.token("moj", Role::Ministry);
    let path = "/api/v1/procedures/kg-cets-210/comment";
    let before = server.history_len("kg-cets-210").await;
    let post = |content_type: &'static str, etag: String| {
        server
            .client
            .post(format!("{}{path}", server.base))
            .bearer_auth(moj)
            .header("If-Match", etag)
            .header("Content-Type", content_type)
            .body(json!({"text": "Draft sent to the Ministry."}).to_string())
            .send()
    };
    for refused in [
        "application/json; charset=utf-16",
        "application/json;charset=UTF-16LE",
        "application/json; charset=\"iso-8859-1\"",
        "application/json; charset=",
    ] {
        let response = post(refused, server.etag("kg-cets-210").await)
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{refused}"
        );
        let problem: serde_json::Value = response.json().await.unwrap();
        assert_eq!(
            problem["type"], "urn:accession:problem:unsupported-media-type",
            "{problem}"
        );
        assert_eq!(problem["field"], "Content-Type", "{problem}");
        let detail = problem["detail"].as_str().unwrap();
        assert!(
            detail.contains("Content-Type") && detail.contains("UTF-8"),
            "{detail}"
        );
    }
    assert_eq!(server.history_len("kg-cets-210").await, before);
    for accepted in [
        "application/json; charset=utf-8",
        "application/json; charset=\"UTF-8\"",
        "application/json",
    ] {
        let response = post(accepted, server.etag("kg-cets-210").await)
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "{accepted}: {}",
            response.status()
        );
    }
    assert_eq!(server.history_len("kg-cets-210").await, before + 3);
}
on_both!(a_json_body_in_another_charset_is_refused);
