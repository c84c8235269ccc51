//! `Idempotency-Key` under concurrency, crashes and time: concurrent duplicates wait for the first
//! and get its answer, the answer is written with the act (so a crash cannot split them), failed
//! work frees the key, and keys expire after `server.idempotency_ttl_secs`.

use accession::clock::Clock;
use accession::engine::Role;
use accession::scheduler::{SchedulerOptions, tick};
use accession::store::{Claim, KeyedRequest};
use chrono::TimeDelta;
use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, DbBackend};
use serde_json::json;

use crate::harness::{Reply, Server};
use crate::on_both;
use crate::support::{TestDb, count, import_copies};

const ID: &str = "kg-cets-210";

/// How many first attempts race.
const RACERS: usize = 20;

async fn concurrent_first_attempts_write_once_and_all_get_the_same_answer(db: &TestDb) {
    let server = Server::start(db).await;
    let moj = server.token("moj", Role::Ministry).to_string();
    let path = format!("/api/v1/procedures/{ID}/record");
    let body = json!({"field": "compatibility_report", "value": "MoJ/2026/17"});
    let etag = server.etag(ID).await;
    let before = server.history_len(ID).await;
    let headers = [
        ("If-Match", etag.as_str()),
        ("Idempotency-Key", "moj-report-17"),
    ];
    let attempts = (0..RACERS).map(|_| {
        server.send(
            Method::POST,
            &path,
            Some(&moj),
            &headers,
            Some(body.clone()),
        )
    });
    let replies: Vec<Reply> = futures_util::future::join_all(attempts).await;

    let replayed = replies
        .iter()
        .filter(|r| r.header("idempotent-replayed").as_deref() == Some("true"))
        .count();
    let ok = replies
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .count();
    // The measurement the issue asks for: how many of the racers got the first answer back.
    eprintln!(
        "idempotency race on {}: {ok}/{RACERS} answered 200, {replayed}/{RACERS} replayed; \
         statuses {:?}",
        db.url.split(':').next().unwrap_or_default(),
        replies
            .iter()
            .map(|r| r.status.as_u16())
            .collect::<Vec<_>>()
    );
    assert_eq!(
        server.history_len(ID).await,
        before + 1,
        "exactly one write"
    );
    let first = replies
        .iter()
        .find(|r| r.header("idempotent-replayed").is_none())
        .expect("one attempt did the work");
    for reply in &replies {
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        assert_eq!(reply.text, first.text);
        assert_eq!(reply.header("etag"), first.header("etag"));
    }
    assert_eq!(replayed, RACERS - 1);
}
on_both!(concurrent_first_attempts_write_once_and_all_get_the_same_answer);

/// Make the database refuse to keep any answer (an answer is a row whose response is not empty):
/// the key's write fails as it would with the disk full, or as if the process died right there.
async fn refuse_answers(server: &Server) {
    let sql: &[&str] = match server.app.store_for_tests().backend() {
        DbBackend::Sqlite => &[
            "CREATE TRIGGER refuse_answer_insert BEFORE INSERT ON idempotency_keys \
             WHEN NEW.response <> '' BEGIN SELECT RAISE(ABORT, 'disk full'); END",
            "CREATE TRIGGER refuse_answer_update BEFORE UPDATE ON idempotency_keys \
             WHEN NEW.response <> '' BEGIN SELECT RAISE(ABORT, 'disk full'); END",
        ],
        _ => &[
            "CREATE FUNCTION refuse_answer() RETURNS trigger AS $$ BEGIN \
             IF NEW.response <> '' THEN RAISE EXCEPTION 'disk full'; END IF; RETURN NEW; \
             END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER refuse_answer BEFORE INSERT OR UPDATE ON idempotency_keys \
             FOR EACH ROW EXECUTE FUNCTION refuse_answer()",
        ],
    };
    for statement in sql {
        server
            .app
            .store_for_tests()
            .connection()
            .execute_unprepared(statement)
            .await
            .expect("install the trigger");
    }
}

async fn accept_answers(server: &Server) {
    let sql: &[&str] = match server.app.store_for_tests().backend() {
        DbBackend::Sqlite => &[
            "DROP TRIGGER refuse_answer_insert",
            "DROP TRIGGER refuse_answer_update",
        ],
        _ => &[
            "DROP TRIGGER refuse_answer ON idempotency_keys",
            "DROP FUNCTION refuse_answer()",
        ],
    };
    for statement in sql {
        server
            .app
            .store_for_tests()
            .connection()
            .execute_unprepared(statement)
            .await
            .expect("drop the trigger");
    }
}

/// The key's answer cannot be written: the act must not be either, or a retry (which cannot know
/// the act happened) would be refused as stale instead of getting its result.
async fn an_act_is_never_written_without_its_answer(db: &TestDb) {
    let server = Server::start(db).await;
    let moj = server.token("moj", Role::Ministry).to_string();
    let path = format!("/api/v1/procedures/{ID}/record");
    let body = json!({"field": "compatibility_report", "value": "MoJ/2026/17"});
    let etag = server.etag(ID).await;
    let headers = [
        ("If-Match", etag.as_str()),
        ("Idempotency-Key", "moj-report-17"),
    ];
    let before = server.history_len(ID).await;

    refuse_answers(&server).await;
    let first = server
        .send(
            Method::POST,
            &path,
            Some(&moj),
            &headers,
            Some(body.clone()),
        )
        .await;
    let after_first = server.history_len(ID).await;
    accept_answers(&server).await;

    if first.status == StatusCode::OK {
        assert_eq!(after_first, before + 1);
    } else {
        assert_eq!(
            first.status,
            StatusCode::INTERNAL_SERVER_ERROR,
            "{}",
            first.text
        );
        first.problem("internal");
        assert_eq!(after_first, before, "the act went with its answer");
    }
    // The client lost the answer (or got an error) and retries, as it should: it gets the result.
    let retry = server
        .send(Method::POST, &path, Some(&moj), &headers, Some(body))
        .await
        .expect(StatusCode::OK);
    if first.status == StatusCode::OK {
        assert_eq!(retry.text, first.text);
    }
    assert_eq!(
        server.history_len(ID).await,
        before + 1,
        "exactly one write"
    );
    assert_eq!(
        count(
            &server.app,
            "SELECT COUNT(*) FROM idempotency_keys WHERE state = 'done'"
        )
        .await,
        1
    );
}
on_both!(an_act_is_never_written_without_its_answer);

/// The answer is in the database the moment the act is: a server started afresh replays it.
async fn a_retry_after_a_restart_gets_the_result(db: &TestDb) {
    let server = Server::start(db).await;
    let mfa = server.token("mfa", Role::Coordinator).to_string();
    // The demo has Kyrgyzstan's procedure on CETS 210 open: the new one is on a copy.
    import_copies(&server.app, db.dir.path(), "cets-210", 1).await;
    let body = json!({"id": "kg-cets-999", "state": "KG", "convention": "cets-210-0"});
    let headers = [("Idempotency-Key", "start-kg-999")];
    let first = server
        .send(
            Method::POST,
            "/api/v1/procedures",
            Some(&mfa),
            &headers,
            Some(body.clone()),
        )
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(
        count(
            &server.app,
            "SELECT COUNT(*) FROM idempotency_keys WHERE state = 'done'"
        )
        .await,
        1
    );
    let server = server.restart(db).await;
    let retry = server
        .send(
            Method::POST,
            "/api/v1/procedures",
            Some(&mfa),
            &headers,
            Some(body),
        )
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(retry.header("idempotent-replayed").as_deref(), Some("true"));
    assert_eq!(retry.text, first.text);
    assert_eq!(retry.header("etag"), first.header("etag"));
    assert_eq!(retry.header("location"), first.header("location"));
    assert_eq!(
        retry.header("location").as_deref(),
        Some("/api/v1/procedures/kg-cets-999")
    );
    assert_eq!(server.history_len("kg-cets-999").await, 1);
}
on_both!(a_retry_after_a_restart_gets_the_result);

/// A request refused (stale If-Match) wrote nothing: its key is free, so the corrected request
/// with the same key runs instead of getting the refusal again.
async fn failed_work_frees_the_key_for_a_corrected_retry(db: &TestDb) {
    let server = Server::start(db).await;
    let moj = server.token("moj", Role::Ministry).to_string();
    let path = format!("/api/v1/procedures/{ID}/comment");
    let body = json!({"text": "Draft amendments sent."});
    let etag = server.etag(ID).await;
    let version: i64 = etag.trim_matches('"').parse().unwrap();
    let stale = format!("\"{}\"", version - 1);
    let before = server.history_len(ID).await;
    server
        .send(
            Method::POST,
            &path,
            Some(&moj),
            &[("If-Match", &stale), ("Idempotency-Key", "c-1")],
            Some(body.clone()),
        )
        .await
        .expect(StatusCode::PRECONDITION_FAILED)
        .problem("stale-version");
    assert_eq!(
        count(&server.app, "SELECT COUNT(*) FROM idempotency_keys").await,
        0,
        "the claim went with the failure"
    );
    let ok = server
        .send(
            Method::POST,
            &path,
            Some(&moj),
            &[("If-Match", &etag), ("Idempotency-Key", "c-1")],
            Some(body),
        )
        .await
        .expect(StatusCode::OK);
    assert!(ok.header("idempotent-replayed").is_none());
    assert_eq!(server.history_len(ID).await, before + 1);
}
on_both!(failed_work_frees_the_key_for_a_corrected_retry);

/// A key's answer is kept for `server.idempotency_ttl_secs` (a day by default), then the key is
/// new again; the scheduler's pass deletes the expired row.
async fn keys_expire_after_a_day(db: &TestDb) {
    let server = Server::start(db).await;
    let moj = server.token("moj", Role::Ministry).to_string();
    let path = format!("/api/v1/procedures/{ID}/comment");
    let body = json!({"text": "Draft amendments sent."});
    let etag = server.etag(ID).await;
    let headers = [("If-Match", etag.as_str()), ("Idempotency-Key", "c-1")];
    let send = || {
        server.send(
            Method::POST,
            &path,
            Some(&moj),
            &headers,
            Some(body.clone()),
        )
    };
    let first = send().await.expect(StatusCode::OK);

    server
        .clock
        .advance(TimeDelta::hours(24) - TimeDelta::seconds(1));
    let replay = send().await.expect(StatusCode::OK);
    assert_eq!(replay.text, first.text);
    assert_eq!(
        replay.header("idempotent-replayed").as_deref(),
        Some("true")
    );

    server.clock.advance(TimeDelta::seconds(1));
    // Expired: the key is new, so the request runs, and its If-Match is by now stale.
    let fresh = send().await.expect(StatusCode::PRECONDITION_FAILED);
    assert!(fresh.header("idempotent-replayed").is_none());
    fresh.problem("stale-version");

    // The stale attempt released its claim; the first answer's row is gone once purged.
    let rows = "SELECT COUNT(*) FROM idempotency_keys";
    server
        .send(
            Method::POST,
            &path,
            Some(&moj),
            &[
                ("If-Match", &server.etag(ID).await),
                ("Idempotency-Key", "c-2"),
            ],
            Some(body.clone()),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(count(&server.app, rows).await, 1, "c-2's answer");
    server.clock.advance(TimeDelta::hours(24));
    let options = SchedulerOptions::from_settings(&server.app.settings.scheduler);
    tick(&server.app, &options, server.clock.now())
        .await
        .expect("a scheduler pass");
    assert_eq!(count(&server.app, rows).await, 0, "expired keys are purged");
}
on_both!(keys_expire_after_a_day);

/// A claim whose request died with its process (no answer, no release) holds the key only until
/// its lease ends; then the key is taken over.
async fn a_crashed_requests_claim_is_taken_over_when_its_lease_ends(db: &TestDb) {
    let server = Server::start(db).await;
    let moj = server.token("moj", Role::Ministry).to_string();
    let token = server
        .app
        .authenticate(&moj)
        .await
        .unwrap()
        .expect("the token")
        .0
        .id;
    let now = server.clock.now();
    let claim = server
        .app
        .store_for_tests()
        .claim_idempotency_key(
            &KeyedRequest {
                token_id: token,
                key: "c-1".into(),
                method: "POST".into(),
                path: format!("/api/v1/procedures/{ID}/comment"),
                request_hash: "the crashed request's body".into(),
            },
            now,
            now + TimeDelta::seconds(30),
            now - TimeDelta::hours(24),
        )
        .await
        .unwrap();
    assert!(matches!(claim, Claim::Held(_)), "{claim:?}");
    let path = format!("/api/v1/procedures/{ID}/comment");
    let etag = server.etag(ID).await;
    let headers = [("If-Match", etag.as_str()), ("Idempotency-Key", "c-1")];
    let body = json!({"text": "Draft amendments sent."});
    // While the lease holds, the key is the crashed request's (another body: refused at once).
    server
        .send(
            Method::POST,
            &path,
            Some(&moj),
            &headers,
            Some(body.clone()),
        )
        .await
        .expect(StatusCode::UNPROCESSABLE_ENTITY)
        .problem("idempotency-key-reused");
    server.clock.advance(TimeDelta::seconds(30));
    let before = server.history_len(ID).await;
    server
        .send(Method::POST, &path, Some(&moj), &headers, Some(body))
        .await
        .expect(StatusCode::OK);
    assert_eq!(server.history_len(ID).await, before + 1);
}
on_both!(a_crashed_requests_claim_is_taken_over_when_its_lease_ends);
