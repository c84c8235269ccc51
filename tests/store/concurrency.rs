//! Optimistic concurrency: two acts on the same version, one wins, the other writes nothing.

use accession::app::AppError;
use accession::calendar::WorkingCalendar;
use accession::clock::Clock;
use accession::engine::{self, Act, Command, Context};
use accession::ids::{FieldName, InstitutionId, StageId, Version};
use accession::store::StoreError;

use crate::on_both;
use crate::support::{TestDb, clock, count, pid};

/// Two decisions made on the same loaded version and applied at once by two processes (two
/// connection pools): exactly one is written, the other is a conflict and leaves no trace.
async fn two_concurrent_advances_on_one_version_write_exactly_one(db: &TestDb) {
    let clock = clock();
    let mut a = db.app(&clock).await;
    a.demo().await.unwrap();
    let b = db.app(&clock).await;
    let id = pid("kg-cets-210");
    let moj = a
        .actor(&InstitutionId::parse("moj").unwrap(), None, "moj clerk")
        .await
        .unwrap();
    a.act(
        &id,
        &Command {
            expected_version: Version(2),
            act: Act::Record {
                field: FieldName::parse("compatibility_report").unwrap(),
                value: "MoJ/2026/17".into(),
                comment: None,
            },
        },
        &moj,
    )
    .await
    .unwrap();

    let current = a.store.procedure(&id).await.unwrap().unwrap();
    assert_eq!(current.version, Version(3));
    let def = a.definition_of(&current.workflow.hash).await.unwrap();
    let rules = a
        .store
        .convention(&current.convention)
        .await
        .unwrap()
        .unwrap()
        .rules();
    let calendar = WorkingCalendar::weekends_only();
    let ctx = Context {
        definition: &def,
        convention: &rules,
        calendar: &calendar,
        time_zone: chrono_tz::Asia::Bishkek,
    };
    let advance = Command {
        expected_version: Version(3),
        act: Act::Advance {
            to: StageId::parse("interagency-consultation").unwrap(),
            comment: None,
        },
    };
    let mut first_actor = moj.clone();
    first_actor.name = "first".into();
    let mut second_actor = moj.clone();
    second_actor.name = "second".into();
    let d1 = engine::decide(ctx, &current, &advance, &first_actor, clock.now()).unwrap();
    let d2 = engine::decide(ctx, &current, &advance, &second_actor, clock.now()).unwrap();
    let outbox_before = count(
        &a,
        "SELECT COUNT(*) FROM outbox WHERE procedure_id = 'kg-cets-210'",
    )
    .await;

    let (r1, r2) = tokio::join!(a.store.apply(&d1), b.store.apply(&d2));
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

    let after = a.store.procedure(&id).await.unwrap().unwrap();
    assert_eq!(after.version, Version(4));
    assert_eq!(after.stage.as_str(), "interagency-consultation");
    let history = a.store.history(&id).await.unwrap();
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
    assert!(a.store.verify(Some(&id)).await.unwrap().ok());
}
on_both!(two_concurrent_advances_on_one_version_write_exactly_one);

/// Through the application, as two ministries would: one succeeds, the other is told.
async fn racing_acts_through_the_application_leave_one_winner(db: &TestDb) {
    let clock = clock();
    let mut a = db.app(&clock).await;
    a.demo().await.unwrap();
    let b = db.app(&clock).await;
    let id = pid("kg-ets-185");
    let moj = a
        .actor(&InstitutionId::parse("moj").unwrap(), None, "a")
        .await
        .unwrap();
    let mfa = b
        .actor(&InstitutionId::parse("mfa").unwrap(), None, "b")
        .await
        .unwrap();
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
    assert_eq!(a.store.history(&id).await.unwrap().len(), 3);
}
on_both!(racing_acts_through_the_application_leave_one_winner);
