//! Writes: If-Match (missing 428, stale 412), idempotent retries, and bad input refused with a
//! problem naming the field — each writing nothing.

use accession::engine::Role;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::harness::Server;
use crate::on_both;
use crate::support::TestDb;

const ID: &str = "kg-cets-210";

async fn if_match_is_required_and_a_stale_one_is_refused(db: &TestDb) {
    let server = Server::start(db).await;
    let moj = server.token("moj", Role::Ministry).to_string();
    let path = format!("/api/v1/procedures/{ID}/comment");
    let body = json!({"text": "Draft amendments sent to the Ministry of Internal Affairs."});
    let before = server.history_len(ID).await;

    let missing = server
        .send(Method::POST, &path, Some(&moj), &[], Some(body.clone()))
        .await;
    assert_eq!(missing.status, StatusCode::PRECONDITION_REQUIRED);
    missing.problem("precondition-required");

    let etag = server.etag(ID).await;
    let version: i64 = etag.trim_matches('"').parse().unwrap();
    let stale = format!("\"{}\"", version - 1);
    let old = server
        .send(
            Method::POST,
            &path,
            Some(&moj),
            &[("If-Match", &stale)],
            Some(body.clone()),
        )
        .await;
    assert_eq!(old.status, StatusCode::PRECONDITION_FAILED, "{}", old.text);
    old.problem("stale-version");
    assert_eq!(
        server.history_len(ID).await,
        before,
        "refusals write nothing"
    );

    let ok = server
        .send(
            Method::POST,
            &path,
            Some(&moj),
            &[("If-Match", &etag)],
            Some(body),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(ok.header("etag"), Some(format!("\"{}\"", version + 1)));
    assert_eq!(server.history_len(ID).await, before + 1);
}
on_both!(if_match_is_required_and_a_stale_one_is_refused);

async fn an_idempotent_retry_returns_the_first_result_and_writes_nothing(db: &TestDb) {
    let server = Server::start(db).await;
    let moj = server.token("moj", Role::Ministry).to_string();
    let path = format!("/api/v1/procedures/{ID}/record");
    let body = json!({"field": "compatibility_report", "value": "MoJ/2026/17"});
    let etag = server.etag(ID).await;
    let headers = [
        ("If-Match", etag.as_str()),
        ("Idempotency-Key", "moj-report-17"),
    ];
    let first = server
        .send(
            Method::POST,
            &path,
            Some(&moj),
            &headers,
            Some(body.clone()),
        )
        .await
        .expect(StatusCode::OK);
    let after_first = server.history_len(ID).await;
    // The retry names the old ETag, as a client that lost the answer would: same answer back.
    let retry = server
        .send(Method::POST, &path, Some(&moj), &headers, Some(body))
        .await
        .expect(StatusCode::OK);
    assert_eq!(retry.text, first.text);
    assert_eq!(retry.header("etag"), first.header("etag"));
    assert_eq!(retry.header("idempotent-replayed").as_deref(), Some("true"));
    assert_eq!(server.history_len(ID).await, after_first);
    // The same key for another request is a mistake, said so.
    let other = server
        .send(
            Method::POST,
            &path,
            Some(&moj),
            &headers,
            Some(json!({"field": "compatibility_report", "value": "MoJ/2026/18"})),
        )
        .await
        .expect(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        other.problem("idempotency-key-reused")["field"],
        "Idempotency-Key"
    );
    assert_eq!(server.history_len(ID).await, after_first);
}
on_both!(an_idempotent_retry_returns_the_first_result_and_writes_nothing);

async fn bad_input_is_a_problem_naming_the_field_and_writes_nothing(db: &TestDb) {
    let server = Server::start(db).await;
    let moj = server.token("moj", Role::Ministry).to_string();
    let mfa = server.token("mfa", Role::Coordinator).to_string();
    let before = server.history_len(ID).await;
    let etag = server.etag(ID).await;
    let post = |path: String, token: String, body: reqwest::Body, content_type: &'static str| {
        let server = &server;
        let etag = etag.clone();
        async move {
            let response = server
                .client
                .post(format!("{}{path}", server.base))
                .bearer_auth(token)
                .header("If-Match", etag)
                .header("Content-Type", content_type)
                .body(body)
                .send()
                .await
                .unwrap();
            let status = response.status();
            let text = response.text().await.unwrap();
            (
                status,
                serde_json::from_str::<serde_json::Value>(&text).unwrap_or_default(),
            )
        }
    };
    let record = format!("/api/v1/procedures/{ID}/record");
    // Not JSON at all.
    let (status, p) = post(
        record.clone(),
        moj.clone(),
        "{\"field\": ".into(),
        "application/json",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(p["type"], "urn:accession:problem:invalid-json");
    // Not JSON by its content type.
    let (status, _) = post(
        record.clone(),
        moj.clone(),
        "field=x".into(),
        "application/x-www-form-urlencoded",
    )
    .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // An unknown field.
    let (status, p) = post(
        record.clone(),
        moj.clone(),
        r#"{"field": "compatibility_report", "value": "x", "colour": "red"}"#.into(),
        "application/json",
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(p["field"], "colour");
    // A field id that is not an id.
    let (status, p) = post(
        record.clone(),
        moj.clone(),
        r#"{"field": "Compatibility Report", "value": "x"}"#.into(),
        "application/json",
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(p["field"], "field");
    // An impossible date for a date field (the coordinator may record it; the date is wrong).
    let (status, p) = post(
        format!("/api/v1/procedures/{ID}/record"),
        mfa.clone(),
        r#"{"field": "deposit_date", "value": "2024-02-30"}"#.into(),
        "application/json",
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(p["type"], "urn:accession:problem:field-invalid");
    assert_eq!(p["field"], "deposit_date");
    // A date in the future.
    let (status, p) = post(
        format!("/api/v1/procedures/{ID}/record"),
        mfa.clone(),
        r#"{"field": "deposit_date", "value": "2031-01-01"}"#.into(),
        "application/json",
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(p["field"], "deposit_date");
    // A body over the limit.
    let big = format!(r#"{{"text": "{}"}}"#, "x".repeat(100 * 1024));
    let (status, p) = post(
        format!("/api/v1/procedures/{ID}/comment"),
        moj.clone(),
        big.into(),
        "application/json",
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{p}");
    // An unknown stage to advance to is a state conflict, explained.
    let (status, p) = post(
        format!("/api/v1/procedures/{ID}/advance"),
        moj.clone(),
        r#"{"to": "parliament"}"#.into(),
        "application/json",
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{p}");
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("interagency-consultation"),
        "{p}"
    );
    assert_eq!(server.history_len(ID).await, before, "nothing was written");
    // A path id that is not an id is said so.
    let r = server.get("/api/v1/procedures/KG%20ETS", &moj).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    let p = r.problem("invalid-input");
    assert!(
        p["detail"].as_str().unwrap().contains("procedure id"),
        "{p}"
    );
    // An unknown route and a wrong method are problems too.
    let r = server.get("/api/v1/nothing-here", &moj).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    r.problem("not-found");
    let r = server
        .send(Method::DELETE, "/api/v1/procedures", Some(&moj), &[], None)
        .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    r.problem("method-not-allowed");
}
on_both!(bad_input_is_a_problem_naming_the_field_and_writes_nothing);

/// A write that cannot get SQLite's write lock within `database.busy_timeout_ms` (another
/// process holds it) is a 503 `busy` problem with `Retry-After`, not a 500, and writes nothing;
/// the same request goes through once the lock is free. SQLite only: PostgreSQL writers wait on
/// row locks, there is no busy timeout to run out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_that_cannot_get_the_lock_in_time_is_a_503_busy_with_retry_after() {
    use sea_orm::{ConnectionTrait, SqliteTransactionMode, TransactionOptions, TransactionTrait};
    let db = crate::support::sqlite();
    let server = Server::start_with(&db, |s| s.database.busy_timeout_ms = 1).await;
    let moj = server.token("moj", Role::Ministry).to_string();
    let path = format!("/api/v1/procedures/{ID}/comment");
    let body = json!({"text": "Draft amendments sent to the Ministry of Internal Affairs."});
    let etag = server.etag(ID).await;
    server
        .get("/api/v1/procedures", &moj)
        .await
        .expect(StatusCode::OK);
    let before = server.history_len(ID).await;

    // Another process's writer, holding the lock.
    let other = sea_orm::Database::connect(&db.url).await.unwrap();
    let holding = other
        .begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        })
        .await
        .unwrap();
    holding
        .execute_unprepared("UPDATE institutions SET id = id WHERE 1 = 0")
        .await
        .unwrap();
    let busy = server
        .send(
            Method::POST,
            &path,
            Some(&moj),
            &[("If-Match", &etag)],
            Some(body.clone()),
        )
        .await;
    assert_eq!(
        busy.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        busy.text
    );
    assert_eq!(busy.header("retry-after").as_deref(), Some("1"));
    let problem = busy.problem("busy");
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains("database.busy_timeout_ms (1 ms)") && detail.contains("try again"),
        "{detail}"
    );
    holding.rollback().await.unwrap();
    assert_eq!(server.history_len(ID).await, before, "nothing written");

    server
        .send(
            Method::POST,
            &path,
            Some(&moj),
            &[("If-Match", &etag)],
            Some(body),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(server.history_len(ID).await, before + 1);
    other.close().await.unwrap();
    db.finish().await;
}

/// POST /procedures/{id}/migrate: coordinators only, If-Match required, a move that would lose
/// what the procedure holds is 409 `cannot-move`, and a move is one history row with the ETag
/// of the new version. The folder holds two versions of coe-accession, the demo starting on the
/// newer (where legal review needs no report); the procedure moves back to the older one.
async fn a_procedure_moves_to_another_workflow_version_over_the_api(db: &TestDb) {
    let folder = tempfile::tempdir().unwrap();
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/workflows");
    for entry in std::fs::read_dir(shipped).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, folder.path().join(path.file_name().unwrap())).unwrap();
    }
    let v1 = std::fs::read_to_string(folder.path().join("coe-accession.toml")).unwrap();
    std::fs::write(
        folder.path().join("coe-accession-v2.toml"),
        v1.replace(
            "type = \"document\"\nrequired = true",
            "type = \"document\"\nrequired = false",
        )
        .replace("\nversion = 2\n", "\nversion = 3\n"),
    )
    .unwrap();
    let dir = folder.path().to_path_buf();
    let server = Server::start_with(db, move |s| s.workflows.dir = dir).await;
    let id = "kg-cets-210";
    let path = format!("/api/v1/procedures/{id}/migrate");
    let mfa = server.token("mfa", Role::Coordinator).to_string();
    let moj = server.token("moj", Role::Ministry).to_string();
    let before = server.history_len(id).await;
    let etag = server.etag(id).await;
    let back = json!({"to_version": 2});

    server
        .send(Method::POST, &path, Some(&mfa), &[], Some(back.clone()))
        .await
        .expect(StatusCode::PRECONDITION_REQUIRED);
    server
        .send(
            Method::POST,
            &path,
            Some(&moj),
            &[("If-Match", &etag)],
            Some(back.clone()),
        )
        .await
        .expect(StatusCode::FORBIDDEN)
        .problem("not-allowed");
    let cannot = server
        .send(
            Method::POST,
            &path,
            Some(&mfa),
            &[("If-Match", &etag)],
            Some(json!({"to_version": 2, "map": {"legal-review": "nowhere"}})),
        )
        .await
        .expect(StatusCode::CONFLICT);
    let detail = cannot.problem("cannot-move")["detail"].to_string();
    assert!(
        detail.contains("names stage `nowhere`, which the new version does not define"),
        "{detail}"
    );
    server
        .send(
            Method::POST,
            &path,
            Some(&mfa),
            &[("If-Match", &etag)],
            Some(json!({"to_version": 7})),
        )
        .await
        .expect(StatusCode::NOT_FOUND);
    assert_eq!(
        server.history_len(id).await,
        before,
        "refusals write nothing"
    );

    let moved = server
        .send(
            Method::POST,
            &path,
            Some(&mfa),
            &[("If-Match", &etag)],
            Some(back.clone()),
        )
        .await
        .expect(StatusCode::OK);
    let view = moved.json();
    assert_eq!(view["stage"], "legal-review");
    assert_eq!(view["workflow"]["version"], 2);
    let version: i64 = etag.trim_matches('"').parse().unwrap();
    assert_eq!(moved.header("etag"), Some(format!("\"{}\"", version + 1)));
    assert_eq!(server.history_len(id).await, before + 1);
    // The same request again meets the new version: 412, not a second move.
    server
        .send(
            Method::POST,
            &path,
            Some(&mfa),
            &[("If-Match", &etag)],
            Some(back),
        )
        .await
        .expect(StatusCode::PRECONDITION_FAILED);
}
on_both!(a_procedure_moves_to_another_workflow_version_over_the_api);
