//! The dashboard's and audit page's counts come from tallies the triggers keep in the writing
//! transaction; they must say exactly what counting the rows says, after any sequence of writes,
//! on both databases.

use accession::app::{Accession, ListRequest};
use accession::engine::{Actor, Role, Status};
use accession::ids::{ConventionId, InstitutionId, StageId};
use accession::store::{ProcedureFilter, ProcedureQuery};
use chrono::TimeDelta;

use crate::on_both;
use crate::support::{TestDb, actor, advance, clock, count, pid, record};

/// Tallies and a count of the rows agree for `who`, unfiltered and under each filter the tallies
/// serve.
async fn assert_tallies_match(app: &Accession, who: &Actor, when: &str) {
    let today = app.today();
    let definitions = app.readable_definitions(who).await.unwrap();
    let filters = [
        ProcedureFilter::default(),
        ProcedureFilter {
            status: Some(Status::Active),
            ..Default::default()
        },
        ProcedureFilter {
            status: Some(Status::Completed),
            ..Default::default()
        },
        ProcedureFilter {
            convention: Some(ConventionId::parse("cets-201").unwrap()),
            ..Default::default()
        },
        ProcedureFilter {
            stage: Some(StageId::parse("interagency-consultation").unwrap()),
            ..Default::default()
        },
    ];
    for filter in filters {
        let tallied = app
            .procedure_counts(
                who,
                &ListRequest {
                    filter: filter.clone(),
                    limit: 50,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let scanned = app
            .store_for_tests()
            .procedure_counts_by_scan(
                &ProcedureQuery {
                    filter: filter.clone(),
                    definitions: definitions.clone(),
                    ..Default::default()
                },
                today,
            )
            .await
            .unwrap();
        assert_eq!(tallied, scanned, "{when}, {}, {filter:?}", who.name);
    }
}

async fn tallies_follow_every_write(db: &TestDb) {
    let clock = clock();
    let app = db.demo_app(&clock).await;
    let mfa = app
        .actor(
            &InstitutionId::parse("mfa").unwrap(),
            Some(Role::Coordinator),
            "coordinator",
        )
        .await
        .unwrap();
    let moj = actor(&app, "moj").await;
    let everyone = [mfa.clone(), moj.clone()];
    let before = app
        .procedure_counts(&mfa, &ListRequest::default())
        .await
        .unwrap();
    assert!(before.total >= 6, "the demo has its procedures: {before:?}");
    for who in &everyone {
        assert_tallies_match(&app, who, "after the demo").await;
    }

    // A stage entered, with a new due date: the old stage loses one, the new one gains it.
    let id = pid("kg-cets-201");
    app.act(&id, &record(2, "compatibility_report", "MoJ/2026/3"), &moj)
        .await
        .unwrap();
    app.act(&id, &advance(3, "interagency-consultation"), &moj)
        .await
        .unwrap();
    for who in &everyone {
        assert_tallies_match(&app, who, "after a transition").await;
    }
    let after = app
        .procedure_counts(&mfa, &ListRequest::default())
        .await
        .unwrap();
    assert_eq!(after.total, before.total, "a transition moves, never adds");

    // Time passing makes procedures overdue without a write: the day is in the query.
    clock.advance(TimeDelta::days(400));
    for who in &everyone {
        assert_tallies_match(&app, who, "400 days on").await;
    }
    let later = app
        .procedure_counts(&mfa, &ListRequest::default())
        .await
        .unwrap();
    assert!(
        later.overdue > after.overdue,
        "a year on, more are overdue: {after:?} then {later:?}"
    );
}
on_both!(tallies_follow_every_write);

async fn verification_summary_counts_what_is_stored(db: &TestDb) {
    let clock = clock();
    let app = db.demo_app(&clock).await;
    app.store_for_tests().verify(None).await.unwrap();
    let summary = app.store_for_tests().verification_summary().await.unwrap();
    let stored = count(&app, "SELECT COUNT(*) FROM chain_verifications").await;
    let covered = count(
        &app,
        "SELECT CAST(COALESCE(SUM(\"rows\"), 0) AS BIGINT) FROM chain_verifications",
    )
    .await;
    let procedures = count(&app, "SELECT COUNT(*) FROM procedures").await;
    assert!(stored > 0);
    assert_eq!(summary.verified as i64, stored);
    assert_eq!(summary.rows as i64, covered);
    assert_eq!(summary.procedures as i64, procedures);
    assert_eq!(summary.broken, 0);

    // A new act, verified again: the stored rows grow and the tallies with them (an UPDATE of
    // an existing verification).
    let moj = actor(&app, "moj").await;
    app.act(
        &pid("kg-cets-201"),
        &record(2, "compatibility_report", "MoJ/2026/3"),
        &moj,
    )
    .await
    .unwrap();
    app.store_for_tests().verify(None).await.unwrap();
    let again = app.store_for_tests().verification_summary().await.unwrap();
    assert_eq!(again.verified as i64, stored);
    assert_eq!(again.rows as i64, covered + 1);
}
on_both!(verification_summary_counts_what_is_stored);
