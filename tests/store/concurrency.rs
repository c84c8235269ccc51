//! Optimistic concurrency: two acts on the same version, one wins, the other writes nothing.

use accession::app::AppError;
use accession::clock::Clock;
use accession::engine::{Act, Command};
use accession::ids::Version;
use accession::store::StoreError;

use crate::on_both;
use crate::support::{TestDb, actor, advance, clock, count, pid, record};

/// Two decisions made on the same loaded version and applied at once by two processes (two
/// connection pools): exactly one is written, the other is a conflict and leaves no trace.
async fn two_concurrent_advances_on_one_version_write_exactly_one(db: &TestDb) {
    let clock = clock();
    let a = db.demo_app(&clock).await;
    let b = db.app(&clock).await;
    let id = pid("kg-cets-210");
    let moj = actor(&a, "moj").await;
    a.act(&id, &record(2, "compatibility_report", "MoJ/2026/17"), &moj)
        .await
        .unwrap();

    let current = a.store_for_tests().procedure(&id).await.unwrap().unwrap();
    assert_eq!(current.version, Version(3));
    let to_consultation = advance(3, "interagency-consultation");
    let mut first_actor = moj.clone();
    first_actor.name = "first".into();
    let mut second_actor = moj.clone();
    second_actor.name = "second".into();
    let d1 = a
        .decide(&current, &to_consultation, &first_actor, clock.now())
        .await
        .unwrap();
    let d2 = a
        .decide(&current, &to_consultation, &second_actor, clock.now())
        .await
        .unwrap();
    let outbox_before = count(
        &a,
        "SELECT COUNT(*) FROM outbox WHERE procedure_id = 'kg-cets-210'",
    )
    .await;

    let (r1, r2) = tokio::join!(
        a.store_for_tests().apply(&d1),
        b.store_for_tests().apply(&d2)
    );
    let (winner, loser) = match (&r1, &r2) {
        (Ok(()), Err(e)) => ("first", e),
        (Err(e), Ok(())) => ("second", e),
        other => panic!("expected exactly one success, got {other:?}"),
    };
    match loser {
        StoreError::Conflict {
            expected, actual, ..
        } => {
            assert_eq!(*expected, Version(3));
            assert_eq!(*actual, Version(4));
        }
        other => panic!("expected a conflict, got {other}"),
    }

    let after = a.store_for_tests().procedure(&id).await.unwrap().unwrap();
    assert_eq!(after.version, Version(4));
    assert_eq!(after.stage.as_str(), "interagency-consultation");
    let history = a.store_for_tests().history(&id).await.unwrap();
    assert_eq!(history.len(), 4, "one history row for the winner only");
    assert_eq!(history[3].actor_name, winner);
    // The winner queued one approval request per approver and one action-needed mail; the loser none.
    let outbox_after = count(
        &a,
        "SELECT COUNT(*) FROM outbox WHERE procedure_id = 'kg-cets-210'",
    )
    .await;
    assert_eq!(outbox_after - outbox_before, 5);
    let pending_other_entries = count(
        &a,
        "SELECT COUNT(*) FROM timers WHERE procedure_id = 'kg-cets-210' AND status = 'pending' AND stage_entry <> 4",
    )
    .await;
    assert_eq!(
        pending_other_entries, 0,
        "timers of the left stage are cancelled"
    );
    assert!(a.store_for_tests().verify(Some(&id)).await.unwrap().ok());
}
on_both!(two_concurrent_advances_on_one_version_write_exactly_one);

/// Through the application, as two ministries would: one succeeds, the other is told.
async fn racing_acts_through_the_application_leave_one_winner(db: &TestDb) {
    let clock = clock();
    let a = db.demo_app(&clock).await;
    let b = db.app(&clock).await;
    let id = pid("kg-ets-185");
    let moj = actor(&a, "moj").await;
    let mfa = actor(&b, "mfa").await;
    let c1 = Command {
        expected_version: Version(2),
        act: Act::Comment {
            text: "draft amendments sent".into(),
        },
    };
    let c2 = Command {
        expected_version: Version(2),
        act: Act::Comment {
            text: "please send the draft".into(),
        },
    };
    let (r1, r2) = tokio::join!(a.act(&id, &c1, &moj), b.act(&id, &c2, &mfa));
    let errors: Vec<&AppError> = [&r1, &r2]
        .into_iter()
        .filter_map(|r| r.as_ref().err())
        .collect();
    assert_eq!(errors.len(), 1, "exactly one refused: {r1:?} / {r2:?}");
    assert_eq!(errors[0].exit_code(), 3, "{}", errors[0]);
    assert_eq!(a.store_for_tests().history(&id).await.unwrap().len(), 3);
}
on_both!(racing_acts_through_the_application_leave_one_winner);

/// Two processes taking turns on one procedure: each continues the history chain from the row
/// the other wrote, not from the last one it wrote itself, and the chain verifies.
async fn two_processes_taking_turns_keep_one_unbroken_chain(db: &TestDb) {
    let clock = clock();
    let a = db.demo_app(&clock).await;
    let b = db.app(&clock).await;
    let id = pid("kg-ets-185");
    let moj = actor(&a, "moj").await;
    let mfa = actor(&b, "mfa").await;
    for turn in 0..6 {
        let (app, who) = if turn % 2 == 0 {
            (&a, &moj)
        } else {
            (&b, &mfa)
        };
        let version = app
            .store_for_tests()
            .procedure(&id)
            .await
            .unwrap()
            .unwrap()
            .version;
        let comment = Command {
            expected_version: version,
            act: Act::Comment {
                text: format!("turn {turn}"),
            },
        };
        app.act(&id, &comment, who).await.unwrap();
    }
    let history = a.store_for_tests().history(&id).await.unwrap();
    assert_eq!(history.len(), 2 + 6);
    let verified = b.store_for_tests().verify(Some(&id)).await.unwrap();
    assert!(verified.ok(), "{verified:?}");
}
on_both!(two_processes_taking_turns_keep_one_unbroken_chain);
