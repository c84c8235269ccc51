//! Entry into force happens by itself: on the day the rule gives, the scheduler records it as
//! Accession, once, however many instances run, moves the procedure on and tells the
//! coordinator; waiting for that day, the procedure is not overdue.

use accession::app::Accession;
use accession::clock::ManualClock;
use accession::engine::StartProcedure;
use accession::ids::{ConventionId, StateCode, WorkflowId};
use accession::scheduler::{SchedulerOptions, tick};
use chrono::{DateTime, TimeDelta, Utc};

use crate::on_both;
use crate::support::{TestDb, actor, advance, count, pid, record};

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

/// kg-cets-210 walked to `awaiting-entry-into-force` with a deposit of 2026-03-05 (in force
/// 2026-07-01), on 2026-06-01.
pub(crate) async fn deposited(app: &Accession, clock: &ManualClock) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    app.import_states(&root.join("config/demo/states.toml"))
        .await
        .unwrap();
    app.import_institutions(&root.join("config/demo/institutions.toml"))
        .await
        .unwrap();
    app.import_conventions(&root.join("config/demo/conventions.toml"))
        .await
        .unwrap();
    clock.set(at("2026-06-01T05:00:00Z"));
    let id = pid("kg-cets-210");
    let mfa = actor(app, "mfa").await;
    app.start(
        &WorkflowId::parse("coe-accession").unwrap(),
        &StartProcedure {
            id: id.clone(),
            state: StateCode::parse("KG").unwrap(),
            convention: ConventionId::parse("cets-210").unwrap(),
            comment: None,
        },
        &mfa,
    )
    .await
    .unwrap();
    let version = |app: &Accession| {
        let id = id.clone();
        let store = app.store_for_tests().clone();
        async move { store.procedure(&id).await.unwrap().unwrap().version.0 }
    };
    for (who, act) in [
        ("mfa", advance(0, "legal-review")),
        ("mfa", record(0, "compatibility_report", "MoJ/2026/1")),
        ("mfa", advance(0, "interagency-consultation")),
    ] {
        let mut cmd = act;
        cmd.expected_version = accession::ids::Version(version(app).await);
        app.act(&id, &cmd, &actor(app, who).await).await.unwrap();
    }
    for who in ["mia", "prosecutor-general", "supreme-court"] {
        let cmd = accession::engine::Command {
            expected_version: accession::ids::Version(version(app).await),
            act: accession::engine::Act::Approve { comment: None },
        };
        app.act(&id, &cmd, &actor(app, who).await).await.unwrap();
    }
    for act in [
        advance(0, "request"),
        advance(0, "consultation-of-parties"),
        advance(0, "invitation"),
        record(0, "invitation_date", "2026-01-10"),
        advance(0, "parliament"),
        record(0, "law_adopted_date", "2026-02-01"),
        advance(0, "signature-publication"),
        record(0, "law_signed_date", "2026-02-10"),
        advance(0, "deposit"),
        record(0, "deposit_date", "2026-03-05"),
        advance(0, "awaiting-entry-into-force"),
    ] {
        let mut cmd = act;
        cmd.expected_version = accession::ids::Version(version(app).await);
        app.act(&id, &cmd, &mfa).await.unwrap();
    }
}

fn options(owner: &str) -> SchedulerOptions {
    SchedulerOptions {
        owner: owner.into(),
        batch_size: 7,
        lease: TimeDelta::minutes(5),
    }
}

async fn the_scheduler_records_entry_into_force_once_on_its_day(db: &TestDb) {
    let clock = crate::support::clock();
    let app = db.app(&clock).await;
    deposited(&app, &clock).await;
    let id = pid("kg-cets-210");
    let p = app.store_for_tests().procedure(&id).await.unwrap().unwrap();
    assert_eq!(p.stage.as_str(), "awaiting-entry-into-force");
    assert_eq!(p.due_on, Some("2026-07-01".parse().unwrap()));
    // The evening before, in Bishkek: nothing yet, and not overdue.
    assert!(!p.is_overdue("2026-06-30".parse().unwrap()));
    let report = tick(&app, &options("a"), at("2026-06-30T17:59:00Z"))
        .await
        .unwrap();
    assert_eq!(report.fired, 0);
    // Midnight in Bishkek, two instances at once.
    let other = db.app(&clock).await;
    let now = at("2026-06-30T18:00:00Z");
    let (oa, ob) = (options("a"), options("b"));
    let (a, b) = tokio::join!(tick(&app, &oa, now), tick(&other, &ob, now));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.fired + b.fired, 1, "{a:?} {b:?}");
    let p = app.store_for_tests().procedure(&id).await.unwrap().unwrap();
    assert_eq!(p.stage.as_str(), "party");
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM history WHERE command = 'entry_into_force' \
             AND actor_institution = 'accession'"
        )
        .await,
        1
    );
    assert!(
        count(
            &app,
            "SELECT COUNT(*) FROM outbox WHERE kind = 'entry_into_force' AND recipient_institution = 'mfa'"
        )
        .await
            >= 2,
        "told at the deposit and on the day"
    );
    // Later passes find nothing more to do.
    let again = tick(&app, &options("a"), now + TimeDelta::days(2))
        .await
        .unwrap();
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM history WHERE command = 'entry_into_force'"
        )
        .await,
        1,
        "{again:?}"
    );
}
on_both!(the_scheduler_records_entry_into_force_once_on_its_day);
