//! An idempotent act's answer is written in the act's own transaction: both or neither.

use std::collections::BTreeMap;

use accession::clock::Clock;
use accession::engine::Role;
use accession::store::{Answer, Claim, HeldKey, KeepAnswer, KeyedRequest, StoreError};
use chrono::TimeDelta;

use crate::on_both;
use crate::support::{TestDb, actor, clock, count, pid, record};

fn answer_listing(timers: &[accession::store::TimerRow]) -> Answer {
    Answer {
        status: 200,
        headers: BTreeMap::from([("etag".to_string(), "\"3\"".to_string())]),
        body: serde_json::to_string(&timers.iter().map(|t| t.id).collect::<Vec<_>>()).unwrap(),
    }
}

async fn claim(app: &accession::app::Accession, token_id: i64) -> HeldKey {
    let now = app.now();
    let request = KeyedRequest {
        token_id,
        key: "k-1".into(),
        method: "POST".into(),
        path: "/api/v1/procedures/kg-cets-210/record".into(),
        request_hash: "ab".repeat(32),
    };
    match app
        .store_for_tests()
        .claim_idempotency_key(
            &request,
            now,
            now + TimeDelta::seconds(30),
            now - TimeDelta::hours(24),
        )
        .await
        .unwrap()
    {
        Claim::Held(held) => held,
        other => panic!("the key is free: {other:?}"),
    }
}

async fn an_acts_answer_is_written_with_it_or_not_at_all(db: &TestDb) {
    let clock = clock();
    let app = db.demo_app(&clock).await;
    let token = app
        .create_token(
            &accession::engine::Actor::operator("cli:test"),
            &"moj".parse().unwrap(),
            Role::Ministry,
            "MoJ",
        )
        .await
        .unwrap();
    let id = pid("kg-cets-210");
    let moj = actor(&app, "moj").await;
    let current = app.store_for_tests().procedure(&id).await.unwrap().unwrap();
    let history = app.store_for_tests().history(&id).await.unwrap().len();
    let cmd = record(current.version.0, "compatibility_report", "MoJ/2026/17");
    let decision = app.decide(&current, &cmd, &moj, clock.now()).await.unwrap();
    let rows = "SELECT COUNT(*) FROM idempotency_keys";

    // The claim is lost before the answer is written (here: released; in life, taken over after
    // its lease): the write fails after the history rows went in, and none of it stays.
    let held = claim(&app, token.row.id).await;
    app.store_for_tests()
        .release_idempotency_key(&held)
        .await
        .unwrap();
    let refused = app
        .store_for_tests()
        .apply_answering(
            &decision,
            KeepAnswer {
                key: &held,
                answer: Box::new(|timers| answer_listing(&timers)),
            },
        )
        .await;
    assert!(
        matches!(refused, Err(StoreError::KeyLost(ref k)) if k == "k-1"),
        "{refused:?}"
    );
    assert_eq!(
        app.store_for_tests().history(&id).await.unwrap().len(),
        history
    );
    assert_eq!(
        app.store_for_tests()
            .procedure(&id)
            .await
            .unwrap()
            .unwrap()
            .version,
        current.version
    );
    assert_eq!(count(&app, rows).await, 0);

    // Held: the act and its answer are committed together, the answer made from the pending
    // timers as the act's transaction left them.
    let held = claim(&app, token.row.id).await;
    let answer = app
        .store_for_tests()
        .apply_answering(
            &decision,
            KeepAnswer {
                key: &held,
                answer: Box::new(|timers| answer_listing(&timers)),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        app.store_for_tests().history(&id).await.unwrap().len(),
        history + 1
    );
    assert_eq!(
        answer,
        answer_listing(&app.store_for_tests().timers(&id, false).await.unwrap())
    );
    let kept = app
        .store_for_tests()
        .idempotent_response(token.row.id, "k-1")
        .await
        .unwrap()
        .expect("the answer is kept");
    assert_eq!(kept.status, 200);
    assert_eq!(kept.response, answer.body);
    assert_eq!(kept.headers, serde_json::json!({"etag": "\"3\""}));
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM idempotency_keys WHERE state = 'done'"
        )
        .await,
        1
    );
}
on_both!(an_acts_answer_is_written_with_it_or_not_at_all);

/// Expired answers and abandoned claims are what a claim treats as absent; the purge deletes
/// them once they are older than the keys' lifetime, and nothing else.
async fn the_purge_deletes_expired_answers_and_abandoned_claims_only(db: &TestDb) {
    let clock = clock();
    let app = db.demo_app(&clock).await;
    let token = app
        .create_token(
            &accession::engine::Actor::operator("cli:test"),
            &"moj".parse().unwrap(),
            Role::Ministry,
            "MoJ",
        )
        .await
        .unwrap();
    let store = app.store_for_tests();
    let day = TimeDelta::hours(24);
    let old = clock.now();
    store
        .save_idempotent_response(
            token.row.id,
            "answered",
            "POST",
            "/p",
            "h",
            200,
            "{}",
            &serde_json::json!({}),
            old,
        )
        .await
        .unwrap();
    let _abandoned = claim(&app, token.row.id).await;
    clock.advance(day);
    let now = clock.now();
    store
        .save_idempotent_response(
            token.row.id,
            "recent",
            "POST",
            "/p",
            "h",
            200,
            "{}",
            &serde_json::json!({}),
            now,
        )
        .await
        .unwrap();
    assert_eq!(
        store.forget_idempotency_keys(now, now - day).await.unwrap(),
        2
    );
    assert!(
        store
            .idempotent_response(token.row.id, "recent")
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM idempotency_keys").await,
        1
    );
}
on_both!(the_purge_deletes_expired_answers_and_abandoned_claims_only);
