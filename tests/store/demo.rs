//! The demo data of the Kyrgyz case.

use accession::engine::Status;
use accession::ids::ProcedureId;
use accession::store::ProcedureFilter;

use crate::on_both;
use crate::support::{TestDb, clock};

async fn demo_loads_the_kyrgyz_case_and_a_second_run_changes_nothing(db: &TestDb) {
    let clock = clock();
    let mut app = db.app(&clock).await;
    let first = app.demo().await.expect("demo");
    assert_eq!(first.institutions.inserted, 11);
    assert_eq!(first.conventions.inserted, 6);
    assert_eq!(first.procedures_created.len(), 6);

    let ets112 = app
        .store_for_tests()
        .procedure(&ProcedureId::parse("kg-ets-112").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ets112.stage.as_str(), "party");
    assert_eq!(ets112.status, Status::Active);
    assert_eq!(
        ets112.key_dates.deposited_on,
        Some("2024-04-22".parse().unwrap())
    );
    assert_eq!(
        ets112.key_dates.entry_into_force_computed,
        Some("2024-08-01".parse().unwrap())
    );
    assert_eq!(ets112.fields["law_adopted_date"], "2023-12-20");
    assert_eq!(ets112.fields["law_signed_date"], "2024-01-31");
    let history = app.store_for_tests().history(&ets112.id).await.unwrap();
    assert_eq!(history.len() as i64, ets112.version.0);
    assert_eq!(history.last().unwrap().to_stage.as_deref(), Some("party"));
    assert_eq!(
        history.last().unwrap().at.date_naive().to_string(),
        "2024-08-01",
        "entry into force was recorded on its real date"
    );

    let all = app
        .store_for_tests()
        .procedures(&ProcedureFilter::default())
        .await
        .unwrap();
    assert_eq!(all.len(), 6);
    for row in all
        .iter()
        .filter(|r| r.procedure.id.as_str() != "kg-ets-112")
    {
        assert_eq!(
            row.procedure.stage.as_str(),
            "legal-review",
            "{}",
            row.procedure.id
        );
    }
    let before: Vec<_> = all
        .iter()
        .map(|r| (r.procedure.id.clone(), r.procedure.version))
        .collect();

    let second = app.demo().await.expect("demo again");
    assert_eq!(second.institutions.unchanged, 11);
    assert_eq!(second.conventions.unchanged, 6);
    assert!(second.procedures_created.is_empty());
    let after: Vec<_> = app
        .store_for_tests()
        .procedures(&ProcedureFilter::default())
        .await
        .unwrap()
        .iter()
        .map(|r| (r.procedure.id.clone(), r.procedure.version))
        .collect();
    assert_eq!(before, after);
    assert!(app.store_for_tests().verify(None).await.unwrap().ok());
}
on_both!(demo_loads_the_kyrgyz_case_and_a_second_run_changes_nothing);

/// ETS No. 112's steps whose days the sources do not give are marked approximate and
/// retrospective (on or before the day they were recorded with), the known ones are not; the
/// approvals the workflow needs are placeholders that say so, not opinions.
async fn the_demo_marks_the_days_of_ets_112_that_are_not_known(db: &TestDb) {
    let clock = clock();
    let app = db.demo_app(&clock).await;
    let history = app
        .store_for_tests()
        .history(&ProcedureId::parse("kg-ets-112").unwrap())
        .await
        .unwrap();
    let step = |r: &accession::audit::ChainRow| {
        let what = match (&r.command[..], &r.to_stage) {
            ("advance", Some(to)) => format!("-> {to}"),
            ("record", _) => {
                let payload: serde_json::Value = serde_json::from_str(&r.payload).unwrap();
                payload["field"].as_str().unwrap().to_string()
            }
            (command, _) => format!("{command} {}", r.actor_institution),
        };
        let took = match (r.effective_on, r.effective_approximate, r.retrospective) {
            (None, false, false) => "as recorded".to_string(),
            (Some(d), true, true) => format!("on or before {d}"),
            other => panic!("{what}: unexpected {other:?}"),
        };
        format!(
            "{} {what}: {took}",
            r.at.with_timezone(&chrono_tz::Asia::Bishkek).date_naive()
        )
    };
    let steps: Vec<String> = history.iter().map(step).collect();
    assert_eq!(
        steps,
        [
            "2023-05-30 start mfa: as recorded",
            "2023-06-01 -> legal-review: as recorded",
            "2023-12-20 compatibility_report: on or before 2023-12-20",
            "2023-12-20 -> interagency-consultation: on or before 2023-12-20",
            "2023-12-20 approve mia: on or before 2023-12-20",
            "2023-12-20 approve prosecutor-general: on or before 2023-12-20",
            "2023-12-20 approve supreme-court: on or before 2023-12-20",
            "2023-12-20 -> request: on or before 2023-12-20",
            "2023-12-20 -> consultation-of-parties: on or before 2023-12-20",
            "2023-12-20 -> invitation: on or before 2023-12-20",
            "2023-12-20 -> parliament: on or before 2023-12-20",
            "2023-12-20 law_adopted_date: as recorded",
            "2023-12-20 -> signature-publication: as recorded",
            "2024-01-31 law_signed_date: on or before 2024-01-31",
            "2024-04-22 -> deposit: on or before 2024-04-22",
            "2024-04-22 deposit_date: as recorded",
            "2024-04-22 -> awaiting-entry-into-force: as recorded",
            "2024-08-01 -> party: as recorded",
        ]
    );
    for approval in history.iter().filter(|r| r.command == "approve") {
        let comment = approval.comment.as_deref().unwrap_or_default();
        assert!(
            comment.starts_with("Placeholder, not a known opinion"),
            "{}: {comment}",
            approval.actor_institution
        );
    }
    assert!(app.store_for_tests().verify(None).await.unwrap().ok());
}
on_both!(the_demo_marks_the_days_of_ets_112_that_are_not_known);
