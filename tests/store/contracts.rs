//! The contracts between the layers, on both databases: timers and outbox rows are claimed by one
//! lease helper, in the same deterministic order (due time, then id), never by two claimers at
//! once; and an outbox row written by an earlier version is still rendered from its facts.

use std::collections::BTreeSet;

use accession::app::Accession;
use accession::clock::Clock;
use accession::scheduler::Dispatcher;
use accession::store::OutboxStatus;
use accession::store::entities::{outbox, timer};
use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait};

use crate::on_both;
use crate::scheduler::{at, decoded_text, procedure_in_legal_review};
use crate::support::TestDb;

/// An application with one procedure (`kg-cets-210`) and none of its timers or emails pending,
/// so the rows a test adds are the only ones to claim.
async fn app_with_nothing_pending(db: &TestDb) -> (Accession, accession::clock::ManualClock) {
    let clock = crate::support::clock();
    let app = db.app(&clock).await;
    procedure_in_legal_review(&app, &clock, at("2027-01-04T04:00:00Z")).await;
    let conn = app.store_for_tests().connection();
    conn.execute_unprepared("UPDATE timers SET status = 'cancelled'")
        .await
        .unwrap();
    conn.execute_unprepared("UPDATE outbox SET status = 'sent'")
        .await
        .unwrap();
    (app, clock)
}

async fn add_timer(app: &Accession, id: i64, fire_at: DateTime<Utc>) {
    timer::Entity::insert(timer::ActiveModel {
        id: Set(id),
        procedure_id: Set("kg-cets-210".into()),
        stage: Set("legal-review".into()),
        stage_entry: Set(2),
        kind: Set("reminder".into()),
        rule: Set("cron 0 9 * * 1".into()),
        occurrence: Set(id),
        fire_at: Set(fire_at),
        status: Set("pending".into()),
        recipients: Set(r#"["moj"]"#.into()),
        dedupe_key: Set(format!("test-timer-{id}")),
        claimed_by: Set(None),
        lease_until: Set(None),
        created_at: Set(fire_at),
        fired_at: Set(None),
    })
    .exec_without_returning(app.store_for_tests().connection())
    .await
    .unwrap();
}

async fn add_email(app: &Accession, id: i64, kind: &str, due: DateTime<Utc>, payload: &str) {
    outbox::Entity::insert(outbox::ActiveModel {
        id: Set(id),
        dedupe_key: Set(format!("test-email-{id}")),
        message_id: Set(format!("<test-email-{id}@example.org>")),
        procedure_id: Set(Some("kg-cets-210".into())),
        kind: Set(kind.into()),
        recipient_institution: Set("moj".into()),
        recipient_address: Set(None),
        language: Set(None),
        payload: Set(payload.into()),
        status: Set("pending".into()),
        attempts: Set(0),
        next_attempt_at: Set(due),
        last_error: Set(None),
        created_at: Set(due),
        sent_at: Set(None),
        claimed_by: Set(None),
        lease_until: Set(None),
    })
    .exec_without_returning(app.store_for_tests().connection())
    .await
    .unwrap();
}

const FACTS: &str = r#"{"deposited_on":null,"due_on":"2027-07-04","entry_into_force":null,"history_sequence":2,"procedure":"kg-cets-210","rule":null,"stage":"legal-review","stage_entry":2}"#;

/// Rows due at the same instant are claimed oldest (lowest id) first, whatever order the database
/// keeps them in: they are inserted here newest first, so the physical order is the reverse.
async fn claims_take_the_earliest_rows_and_among_equals_the_lowest_ids(db: &TestDb) {
    let (app, clock) = app_with_nothing_pending(db).await;
    let now = clock.now();
    let due = now - TimeDelta::hours(1);
    for id in [1005, 1004, 1003, 1002, 1001] {
        add_timer(&app, id, due).await;
        add_email(&app, id, "action_needed", due, FACTS).await;
    }
    // Later ids, due earlier still: due time comes before the id.
    add_timer(&app, 1006, due - TimeDelta::minutes(1)).await;
    add_email(
        &app,
        1006,
        "action_needed",
        due - TimeDelta::minutes(1),
        FACTS,
    )
    .await;
    // Not due yet: never claimed.
    add_timer(&app, 1000, now + TimeDelta::minutes(1)).await;
    add_email(
        &app,
        1000,
        "action_needed",
        now + TimeDelta::minutes(1),
        FACTS,
    )
    .await;

    let lease = now + TimeDelta::minutes(5);
    let mut timers = Vec::new();
    let mut emails = Vec::new();
    for owner in ["a", "b", "c"] {
        let claimed = app
            .store_for_tests()
            .claim_due_timers(now, now, owner, lease, 2)
            .await
            .unwrap();
        timers.push(claimed.iter().map(|c| c.id).collect::<Vec<_>>());
        let claimed = app
            .store_for_tests()
            .claim_outbox(now, now, owner, lease, 2)
            .await
            .unwrap();
        emails.push(claimed.iter().map(|r| r.id).collect::<Vec<_>>());
    }
    let expected = [vec![1006, 1001], vec![1002, 1003], vec![1004, 1005]];
    assert_eq!(timers, expected, "timers");
    assert_eq!(emails, expected, "outbox rows");
    assert!(
        app.store_for_tests()
            .claim_due_timers(now, now, "d", lease, 2)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        app.store_for_tests()
            .claim_outbox(now, now, "d", lease, 2)
            .await
            .unwrap()
            .is_empty()
    );
}
on_both!(claims_take_the_earliest_rows_and_among_equals_the_lowest_ids);

/// Claimers running at the same moment split the due rows between them: each row is claimed by
/// exactly one, and each batch comes in order. (A race shows only sometimes when it exists, so
/// the claimers meet over several rounds.)
async fn two_claimers_at_once_never_take_the_same_row(db: &TestDb) {
    let (app, clock) = app_with_nothing_pending(db).await;
    // The same instant throughout: the rows of a round stay held by their claimers.
    let now = clock.now();
    for round in 0..4 {
        let first = 2001 + 100 * round;
        let ids: Vec<i64> = (first..first + 60).collect();
        for &id in &ids {
            // Twelve distinct due times, five rows at each.
            let due = now - TimeDelta::minutes(id % 12);
            add_timer(&app, id, due).await;
            add_email(&app, id, "action_needed", due, FACTS).await;
        }
        let lease = now + TimeDelta::minutes(5);
        let claim_timers = |owner: &'static str| {
            let app = &app;
            async move {
                let mut taken = Vec::new();
                loop {
                    let batch = app
                        .store_for_tests()
                        .claim_due_timers(now, now, owner, lease, 7)
                        .await
                        .unwrap();
                    if batch.is_empty() {
                        return taken;
                    }
                    let keys: Vec<_> = batch.iter().map(|c| (c.timer.fire_at, c.id)).collect();
                    assert!(keys.is_sorted(), "{owner}: {keys:?}");
                    taken.extend(batch.iter().map(|c| c.id));
                }
            }
        };
        let claim_emails = |owner: &'static str| {
            let app = &app;
            async move {
                let mut taken = Vec::new();
                loop {
                    let batch = app
                        .store_for_tests()
                        .claim_outbox(now, now, owner, lease, 7)
                        .await
                        .unwrap();
                    if batch.is_empty() {
                        return taken;
                    }
                    let keys: Vec<_> = batch.iter().map(|r| (r.next_attempt_at, r.id)).collect();
                    assert!(keys.is_sorted(), "{owner}: {keys:?}");
                    taken.extend(batch.iter().map(|r| r.id));
                }
            }
        };
        let (ta, tb, ea, eb) = tokio::join!(
            claim_timers("a"),
            claim_timers("b"),
            claim_emails("a"),
            claim_emails("b")
        );
        for (what, a, b) in [("timers", ta, tb), ("outbox rows", ea, eb)] {
            let (sa, sb): (BTreeSet<i64>, BTreeSet<i64>) =
                (a.iter().copied().collect(), b.iter().copied().collect());
            assert_eq!(
                sa.len() + sb.len(),
                a.len() + b.len(),
                "{what}: claimed twice"
            );
            assert!(
                sa.is_disjoint(&sb),
                "{what}, round {round}: both took {:?}",
                sa.intersection(&sb).collect::<Vec<_>>()
            );
            let all: Vec<i64> = sa.union(&sb).copied().collect();
            assert_eq!(all, ids, "{what}: every due row claimed once");
        }
    }
    // Each row is held by the claimer that took it.
    let held = crate::support::count(
        &app,
        "SELECT COUNT(*) FROM timers WHERE id > 2000 AND claimed_by IN ('a', 'b')",
    )
    .await;
    assert_eq!(held, 240);
}
on_both!(two_claimers_at_once_never_take_the_same_row);

/// Rows queued by the version before the facts were typed (their payloads copied from a database
/// it wrote): one still applies and is rendered from its facts, one is about a stage the
/// procedure has left and is cancelled, and one whose facts do not read is dead with the reason,
/// without holding up the others.
async fn emails_queued_by_the_previous_version_are_rendered_cancelled_or_refused(db: &TestDb) {
    let (app, clock) = app_with_nothing_pending(db).await;
    let now = clock.now();
    // kg-cets-210 is in legal-review, entered by event 2. The stored due date (not the
    // procedure's, 2027-07-04) is what the email states: it says what was true when queued.
    add_email(
        &app,
        3001,
        "deadline",
        now,
        r#"{"deposited_on":null,"due_on":"2023-12-01","entry_into_force":null,"history_sequence":4,"procedure":"kg-cets-210","rule":"due","stage":"legal-review","stage_entry":2}"#,
    )
    .await;
    add_email(
        &app,
        3002,
        "action_needed",
        now,
        r#"{"deposited_on":null,"due_on":"2023-06-29","entry_into_force":null,"history_sequence":1,"procedure":"kg-cets-210","rule":null,"stage":"assessment","stage_entry":1}"#,
    )
    .await;
    add_email(
        &app,
        3003,
        "reminder",
        now,
        r#"{"procedure":"kg-cets-210","stage":"legal-review"}"#,
    )
    .await;
    let report = Dispatcher::from_settings(&app)
        .unwrap()
        .dispatch(&app, now)
        .await
        .unwrap();
    assert_eq!((report.sent, report.cancelled, report.dead), (1, 1, 1));

    let row = |id| {
        let app = &app;
        async move { app.store_for_tests().outbox_row(id).await.unwrap().unwrap() }
    };
    let sent = row(3001).await;
    assert_eq!(sent.status, OutboxStatus::Sent);
    let eml = db
        .dir
        .path()
        .join("outbox")
        .join("test-email-3001@example.org.eml");
    let text = decoded_text(&std::fs::read_to_string(&eml).unwrap());
    for needle in ["2023-12-01", "CETS No. 210", "/procedures/kg-cets-210"] {
        assert!(text.contains(needle), "the email lacks {needle}:\n{text}");
    }

    let cancelled = row(3002).await;
    assert_eq!(cancelled.status, OutboxStatus::Cancelled);
    assert_eq!(
        cancelled.last_error.as_deref(),
        Some("procedure `kg-cets-210` has moved on (now active at stage `legal-review`)")
    );

    let dead = row(3003).await;
    assert_eq!(dead.status, OutboxStatus::Dead);
    let error = dead.last_error.unwrap();
    assert!(
        error.contains("outbox row 3003") && error.contains("missing field `history_sequence`"),
        "{error}"
    );
}
on_both!(emails_queued_by_the_previous_version_are_rendered_cancelled_or_refused);
