//! Reservations through the application and the store, on both databases: recorded in the act's
//! transaction with the history, kept in the treaty record, their reminders kept apart from the
//! stage's timers (a stage left does not cancel them), fired once by the scheduler with the
//! email in the outbox, planned again on renewal and cancelled on withdrawal; and the chart's R
//! flag as the history had it on a day.

use std::collections::BTreeMap;

use accession::app::chart::ChartOf;
use accession::app::{Accession, AppError};
use accession::engine::{Act, Command, MadeAt, Refusal, ReservationKind, ReservationStatus};
use accession::ids::{ConventionId, ProcedureId, Version};
use accession::scheduler::{SchedulerOptions, tick};
use chrono::{DateTime, TimeDelta, Utc};

use crate::entry_into_force::deposited;
use crate::on_both;
use crate::support::{TestDb, actor, count, pid};

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

fn options() -> SchedulerOptions {
    SchedulerOptions {
        owner: "a".into(),
        batch_size: 7,
        lease: TimeDelta::minutes(5),
    }
}

async fn act(app: &Accession, id: &ProcedureId, act: Act) -> Result<(), AppError> {
    let v = app
        .store_for_tests()
        .procedure(id)
        .await
        .unwrap()
        .unwrap()
        .version
        .0;
    let cmd = Command {
        expected_version: Version(v),
        act,
    };
    app.act(id, &cmd, &actor(app, "mfa").await)
        .await
        .map(|_| ())
}

async fn pending_reminders(app: &Accession) -> Vec<String> {
    use sea_orm::{ConnectionTrait, Statement};
    let conn = app.store_for_tests().connection();
    let rows = conn
        .query_all_raw(Statement::from_string(
            conn.get_database_backend(),
            "SELECT rule FROM timers WHERE kind = 'reservation_expiry' AND status = 'pending' \
             ORDER BY fire_at"
                .to_string(),
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|r| r.try_get::<String>("", "rule").unwrap())
        .collect()
}

async fn flag_on(app: &Accession, day: &str) -> bool {
    let chart = app
        .chart(
            &actor(app, "mfa").await,
            &ChartOf::Convention(ConventionId::parse("cets-210").unwrap()),
            Some(day.parse().unwrap()),
        )
        .await
        .unwrap();
    chart
        .rows
        .iter()
        .find(|r| r.procedure.as_str() == "kg-cets-210")
        .is_some_and(|r| r.reservations)
}

async fn a_reservation_is_recorded_reminded_renewed_and_withdrawn(db: &TestDb) {
    let clock = crate::support::clock();
    let app = db.app(&clock).await;
    deposited(&app, &clock).await;
    let id = pid("kg-cets-210");
    let history = count(&app, "SELECT COUNT(*) FROM history").await;
    // Made at deposit but dated otherwise: refused, nothing written.
    let reserve = |on: &str| Act::Reserve {
        kind: ReservationKind::Reservation,
        article: "Art. 78(2)".into(),
        text: BTreeMap::from([
            (
                "en".into(),
                "Reserves the right not to apply Article 44(1)(e)".into(),
            ),
            (
                "ru".into(),
                "Оставляет за собой право не применять статью 44(1)(e)".into(),
            ),
        ]),
        made_at: MadeAt::Deposit,
        made_on: on.parse().unwrap(),
        comment: None,
    };
    let err = act(&app, &id, reserve("2026-03-04")).await.unwrap_err();
    let AppError::Refused(Refusal::DateRefused { rule, .. }) = &err else {
        panic!("{err}");
    };
    assert_eq!(*rule, "made-at-deposit-on-the-deposit-date");
    assert_eq!(count(&app, "SELECT COUNT(*) FROM history").await, history);
    assert!(pending_reminders(&app).await.is_empty());

    act(&app, &id, reserve("2026-03-05")).await.unwrap();
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM history").await,
        history + 1
    );
    // In force 2026-07-01: valid until 2031-07-01; notice 18 months before, reply 3 months.
    assert_eq!(
        pending_reminders(&app).await,
        [
            "reservation 1 notice 2031-07-01",
            "reservation 1 reply 2031-07-01"
        ]
    );
    let mfa = actor(&app, "mfa").await;
    let list = app.reservations(&mfa, &id, None).await.unwrap();
    assert_eq!(list.items.len(), 1);
    assert_eq!(
        list.items[0].valid_until,
        Some("2031-07-01".parse().unwrap())
    );
    assert_eq!(list.items[0].status, ReservationStatus::Valid);
    assert_eq!(
        list.items[0].next_reminder,
        Some(at("2030-01-01T03:00:00Z"))
    );

    // Entry into force moves the procedure on and replaces the stage's timers; the
    // reservation's reminders stand.
    tick(&app, &options(), at("2026-06-30T18:00:00Z"))
        .await
        .unwrap();
    let p = app.store_for_tests().procedure(&id).await.unwrap().unwrap();
    assert_eq!(p.stage.as_str(), "party");
    assert_eq!(pending_reminders(&app).await.len(), 2);

    // The notice: once, to the responsible ministry and the coordinator, whoever ticks.
    let notice = at("2030-01-01T03:00:00Z");
    tick(&app, &options(), notice).await.unwrap();
    tick(&app, &options(), notice + TimeDelta::hours(1))
        .await
        .unwrap();
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM history WHERE command = 'reservation_expiry' \
             AND actor_institution = 'accession'"
        )
        .await,
        1
    );
    assert!(
        count(
            &app,
            "SELECT COUNT(*) FROM outbox WHERE kind = 'reservation_expiry' \
             AND recipient_institution = 'mfa'"
        )
        .await
            >= 1
    );
    assert_eq!(
        pending_reminders(&app).await,
        ["reservation 1 reply 2031-07-01"]
    );

    // Renewed: a new period from the old expiry; the old reply reminder is cancelled.
    clock.set(at("2030-02-10T05:00:00Z"));
    act(
        &app,
        &id,
        Act::RenewReservation {
            number: 1,
            on: "2030-02-09".parse().unwrap(),
            comment: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(
        pending_reminders(&app).await,
        [
            "reservation 1 notice 2036-07-01",
            "reservation 1 reply 2036-07-01"
        ]
    );
    // A withdrawal before it was made: refused, nothing written.
    let before = count(&app, "SELECT COUNT(*) FROM history").await;
    let withdraw = |on: &str| Act::WithdrawReservation {
        number: 1,
        received_on: on.parse().unwrap(),
        effective_on: None,
        comment: None,
    };
    let err = act(&app, &id, withdraw("2026-01-01")).await.unwrap_err();
    assert!(
        err.to_string().contains("withdrawal-after-it-was-made")
            || matches!(
                &err,
                AppError::Refused(Refusal::DateRefused {
                    rule: "withdrawal-after-it-was-made",
                    ..
                })
            ),
        "{err}"
    );
    assert_eq!(count(&app, "SELECT COUNT(*) FROM history").await, before);

    clock.set(at("2030-06-10T05:00:00Z"));
    act(&app, &id, withdraw("2030-06-09")).await.unwrap();
    assert!(pending_reminders(&app).await.is_empty());

    // Read back from the database by another instance.
    let again = db.app(&clock).await;
    let p = again
        .store_for_tests()
        .procedure(&id)
        .await
        .unwrap()
        .unwrap();
    let r = p.treaty.reservation(1).unwrap();
    assert_eq!(r.renewals.len(), 1);
    assert_eq!(
        r.withdrawal.as_ref().map(|w| w.effective_on),
        Some("2030-06-09".parse().unwrap())
    );
    assert_eq!(
        r.text["ru"],
        "Оставляет за собой право не применять статью 44(1)(e)"
    );
    let list = again
        .reservations(&actor(&again, "mfa").await, &id, None)
        .await
        .unwrap();
    assert_eq!(list.items[0].status, ReservationStatus::Withdrawn);

    // The chart's R, as the history had it: absent before it was recorded (2026-06-01), present
    // after, absent once withdrawn.
    assert!(!flag_on(&again, "2026-05-01").await);
    assert!(flag_on(&again, "2026-06-02").await);
    assert!(flag_on(&again, "2030-06-01").await);
    assert!(!flag_on(&again, "2030-06-11").await);
}
on_both!(a_reservation_is_recorded_reminded_renewed_and_withdrawn);
