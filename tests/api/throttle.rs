//! Repeated authentication failures from one client: wrong bearer tokens, wrong web sign-ins and
//! wrong calendar feed keys share one budget per client address (20 at once by default, then 10
//! a minute); past it every attempt to authenticate from that address is answered 429 with
//! `Retry-After`, good or bad, until the budget refills. Other addresses and successful traffic
//! are not slowed. Each test prints what it measured.

use std::collections::BTreeMap;
use std::time::Instant;

use accession::engine::Role;
use chrono::TimeDelta;
use futures_util::StreamExt;
use reqwest::{Client, RequestBuilder, StatusCode};

use crate::harness::Server;
use crate::on_both;
use crate::support::TestDb;

/// The default burst of failures (`server.auth_failures_burst`).
const BURST: usize = 20;
/// Attempts in each attack.
const ATTEMPTS: usize = 500;

/// An answer, read whole.
struct Answer {
    status: StatusCode,
    retry_after: Option<u64>,
    content_type: String,
    text: String,
}

async fn answer(request: RequestBuilder) -> Answer {
    let response = request.send().await.expect("the server answers");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    Answer {
        status: response.status(),
        retry_after: header("retry-after").map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("Retry-After is whole seconds: {v}"))
        }),
        content_type: header("content-type").unwrap_or_default(),
        text: response.text().await.unwrap_or_default(),
    }
}

/// `n` requests made by `make`, sixteen at a time, with how long they took and their statuses.
async fn attack(
    what: &str,
    n: usize,
    make: impl Fn(usize) -> RequestBuilder,
) -> (Vec<Answer>, BTreeMap<u16, usize>) {
    let started = Instant::now();
    let answers: Vec<Answer> = futures_util::stream::iter((0..n).map(|i| answer(make(i))))
        .buffer_unordered(16)
        .collect()
        .await;
    let mut tally = BTreeMap::new();
    for a in &answers {
        *tally.entry(a.status.as_u16()).or_insert(0) += 1;
    }
    eprintln!(
        "measured: {n} {what} in {} ms: {tally:?} (status: count)",
        started.elapsed().as_millis()
    );
    (answers, tally)
}

/// Every 429 says when to come back and is a `too-many-requests` problem (or, for pages, a page).
#[track_caller]
fn every_429_says_when(answers: &[Answer], page: bool) -> u64 {
    let mut longest = 0;
    for a in answers
        .iter()
        .filter(|a| a.status == StatusCode::TOO_MANY_REQUESTS)
    {
        let after = a.retry_after.expect("a 429 carries Retry-After");
        assert!(after >= 1, "Retry-After: {after}");
        longest = longest.max(after);
        if page {
            assert!(
                a.content_type.starts_with("text/html"),
                "{}",
                a.content_type
            );
        } else {
            assert_eq!(a.content_type, "application/problem+json", "{}", a.text);
            let p: serde_json::Value = serde_json::from_str(&a.text).unwrap();
            assert_eq!(p["type"], "urn:accession:problem:too-many-requests", "{p}");
            assert_eq!(p["status"], 429, "{p}");
        }
    }
    longest
}

fn wrong_token(i: usize) -> String {
    format!("acc_{:0>64}", i)
}

async fn wrong_tokens_from_one_address_meet_429_after_the_budget(db: &TestDb) {
    let server = Server::start(db).await;
    let attacker = server.client_from("127.0.0.1");
    let url = format!("{}/api/v1/procedures", server.base);
    let (answers, tally) = attack("wrong bearer tokens", ATTEMPTS, |i| {
        attacker.get(&url).bearer_auth(wrong_token(i))
    })
    .await;
    assert_eq!(tally.get(&401), Some(&BURST), "{tally:?}");
    assert_eq!(tally.get(&429), Some(&(ATTEMPTS - BURST)), "{tally:?}");
    let after = every_429_says_when(&answers, false);
    let problem: serde_json::Value = serde_json::from_str(
        &answers
            .iter()
            .find(|a| a.status == StatusCode::TOO_MANY_REQUESTS)
            .unwrap()
            .text,
    )
    .unwrap();
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("failed") && d.contains(" s")),
        "{problem}"
    );

    // Locked out: even a good token from that address is refused before it is looked at, or a
    // lucky guess would still be told it was right.
    let good = server.token("moj", Role::Ministry);
    let locked = answer(attacker.get(&url).bearer_auth(good)).await;
    assert_eq!(
        locked.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        locked.text
    );
    // The same door for the web sign-in and the feed: one budget per client.
    let sign_in = answer(
        attacker
            .post(format!("{}/sign-in", server.base))
            .header("Cookie", format!("accession_csrf={}", "a".repeat(64)))
            .form(&[("csrf", "a".repeat(64).as_str()), ("token", good)]),
    )
    .await;
    assert_eq!(sign_in.status, StatusCode::TOO_MANY_REQUESTS);

    // Another address is not slowed: its good token works, its wrong one is a plain 401.
    let neighbour = server.client_from("127.0.0.2");
    let ok = answer(neighbour.get(&url).bearer_auth(good)).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    let wrong = answer(neighbour.get(&url).bearer_auth(wrong_token(0))).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{}", wrong.text);

    // Once Retry-After has passed, the budget has room for one more attempt.
    server.clock.advance(TimeDelta::seconds(after as i64));
    let ok = answer(attacker.get(&url).bearer_auth(good)).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    let wrong = answer(attacker.get(&url).bearer_auth(wrong_token(1))).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{}", wrong.text);
    let again = answer(attacker.get(&url).bearer_auth(wrong_token(2))).await;
    assert_eq!(
        again.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        again.text
    );
}
on_both!(wrong_tokens_from_one_address_meet_429_after_the_budget);

/// The sign-in form's CSRF cookie and secret, fetched by `client`.
async fn sign_in_form(server: &Server, client: &Client) -> String {
    let page = client
        .get(format!("{}/sign-in", server.base))
        .send()
        .await
        .unwrap();
    page.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.split(';').next()?.strip_prefix("accession_csrf="))
        .expect("a CSRF cookie")
        .to_string()
}

async fn wrong_sign_ins_meet_a_429_page_in_the_visitors_language(db: &TestDb) {
    let server = Server::start(db).await;
    let attacker = server.client_from("127.0.0.1");
    let secret = sign_in_form(&server, &attacker).await;
    let url = format!("{}/sign-in", server.base);
    let post = |client: &Client, token: &str| {
        client
            .post(&url)
            .header(
                "Cookie",
                format!("accession_csrf={secret}; accession_lang=ru"),
            )
            .form(&[("csrf", secret.as_str()), ("token", token)])
    };
    let (answers, tally) = attack("wrong web sign-ins", ATTEMPTS, |i| {
        post(&attacker, &wrong_token(i))
    })
    .await;
    assert_eq!(tally.get(&401), Some(&BURST), "{tally:?}");
    assert_eq!(tally.get(&429), Some(&(ATTEMPTS - BURST)), "{tally:?}");
    every_429_says_when(&answers, true);
    let page = answers
        .iter()
        .find(|a| a.status == StatusCode::TOO_MANY_REQUESTS)
        .unwrap();
    assert!(page.text.contains("lang=\"ru\""), "{}", page.text);
    assert!(page.text.contains("Слишком много"), "{}", page.text);
    assert!(page.text.contains(&page.retry_after.unwrap().to_string()));

    let good = server.token("moj", Role::Ministry);
    let locked = answer(post(&attacker, good)).await;
    assert_eq!(locked.status, StatusCode::TOO_MANY_REQUESTS);
    let neighbour = server.client_from("127.0.0.2");
    let signed = answer(post(&neighbour, good)).await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER, "{}", signed.text);
}
on_both!(wrong_sign_ins_meet_a_429_page_in_the_visitors_language);

async fn wrong_feed_keys_meet_429_after_the_budget(db: &TestDb) {
    let server = Server::start(db).await;
    // The real key is made before the attack: afterwards this address is locked out.
    let key = server.feed_key(server.token("moj", Role::Ministry)).await;
    let attacker = server.client_from("127.0.0.1");
    let url = format!("{}/calendar/moj.ics", server.base);
    let (answers, tally) = attack("wrong calendar feed keys", ATTEMPTS, |i| {
        attacker.get(&url).query(&[("key", format!("{i:0>64x}"))])
    })
    .await;
    assert_eq!(tally.get(&401), Some(&BURST), "{tally:?}");
    assert_eq!(tally.get(&429), Some(&(ATTEMPTS - BURST)), "{tally:?}");
    every_429_says_when(&answers, false);

    let locked = answer(attacker.get(&url).query(&[("key", &key)])).await;
    assert_eq!(locked.status, StatusCode::TOO_MANY_REQUESTS);
    let neighbour = server.client_from("127.0.0.2");
    let feed = answer(neighbour.get(&url).query(&[("key", &key)])).await;
    assert_eq!(feed.status, StatusCode::OK, "{}", feed.text);
}
on_both!(wrong_feed_keys_meet_429_after_the_budget);

async fn successful_traffic_and_requests_without_credentials_are_not_throttled(db: &TestDb) {
    let server = Server::start(db).await;
    let client = server.client_from("127.0.0.1");
    let url = format!("{}/api/v1/workflows", server.base);
    let good = server.token("mfa", Role::Coordinator);
    let (_, tally) = attack("good bearer tokens", ATTEMPTS, |_| {
        client.get(&url).bearer_auth(good)
    })
    .await;
    assert_eq!(tally.get(&200), Some(&ATTEMPTS), "{tally:?}");
    // No credential is no guess: a missing Authorization header is a 401 that is not counted.
    let (_, tally) = attack("requests without a token", 100, |_| client.get(&url)).await;
    assert_eq!(tally.get(&401), Some(&100), "{tally:?}");
    let wrong = answer(client.get(&url).bearer_auth(wrong_token(0))).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{}", wrong.text);
}
on_both!(successful_traffic_and_requests_without_credentials_are_not_throttled);

async fn a_forged_x_forwarded_for_does_not_dodge_the_budget(db: &TestDb) {
    let server = Server::start(db).await;
    let attacker = server.client_from("127.0.0.1");
    let url = format!("{}/api/v1/procedures", server.base);
    let (_, tally) = attack("wrong tokens, each with a new X-Forwarded-For", 100, |i| {
        attacker
            .get(&url)
            .bearer_auth(wrong_token(i))
            .header("X-Forwarded-For", format!("203.0.113.{}", i % 250))
    })
    .await;
    assert_eq!(tally.get(&401), Some(&BURST), "{tally:?}");
}
on_both!(a_forged_x_forwarded_for_does_not_dodge_the_budget);

async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget(db: &TestDb) {
    let server = Server::start_with(db, |s| s.server.trust_forwarded_for = true).await;
    let proxy = server.client_from("127.0.0.1");
    let url = format!("{}/api/v1/procedures", server.base);
    let good = server.token("moj", Role::Ministry);
    // The proxy appends the address it saw: the last one is the client.
    let from = |client: &str| {
        proxy
            .get(&url)
            .header("X-Forwarded-For", format!("198.51.100.1, {client}"))
    };
    let (_, tally) = attack("wrong tokens through the proxy", 30, |i| {
        from("203.0.113.7").bearer_auth(wrong_token(i))
    })
    .await;
    assert_eq!(tally.get(&401), Some(&BURST), "{tally:?}");
    let locked = answer(from("203.0.113.7").bearer_auth(good)).await;
    assert_eq!(locked.status, StatusCode::TOO_MANY_REQUESTS);
    let other = answer(from("203.0.113.8").bearer_auth(good)).await;
    assert_eq!(other.status, StatusCode::OK, "{}", other.text);
}
on_both!(behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget);

async fn the_document_says_which_operations_may_answer_429(db: &TestDb) {
    let server = Server::start(db).await;
    let doc = server
        .send(reqwest::Method::GET, "/api/openapi.json", None, &[], None)
        .await
        .expect(StatusCode::OK)
        .json();
    let mut throttled = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let open = ["/healthz", "/readyz", "/metrics"].contains(&path.as_str());
            let too_many = &op["responses"]["429"];
            if open {
                assert!(
                    too_many.is_null(),
                    "{method} {path} needs no token: {too_many}"
                );
            } else {
                assert!(
                    too_many["headers"]["Retry-After"].is_object(),
                    "{method} {path}: {too_many}"
                );
                assert_eq!(
                    too_many["content"]["application/problem+json"]["schema"]["$ref"],
                    "#/components/schemas/Problem"
                );
                throttled += 1;
            }
        }
    }
    assert!(throttled > 20, "{throttled}");
}
on_both!(the_document_says_which_operations_may_answer_429);
