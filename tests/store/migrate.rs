//! Moving running procedures to a new version of their workflow: the plan writes nothing and
//! says what cannot move; a move is one history event with both versions and the map, in the
//! same transaction; a bulk move moves none unless all can.

use accession::app::{Accession, AppError, MoveOutcome, PlannedMove};
use accession::engine::migrate::{StageMap, parse_map};
use accession::engine::{Refusal, Status};
use accession::ids::WorkflowId;

use crate::on_both;
use crate::support::{TestDb, actor, clock, count, pid};

/// The version of coe-accession the workflows folder ships, and the one these tests write.
const SHIPPED: u32 = 2;
const NEXT: u32 = SHIPPED + 1;

/// `source` (the shipped coe-accession) raised to [`NEXT`].
fn raised(source: &str) -> String {
    let from = format!("\nversion = {SHIPPED}\n");
    assert!(
        source.contains(&from),
        "the shipped file is version {SHIPPED}"
    );
    source.replace(&from, &format!("\nversion = {NEXT}\n"))
}

/// coe-accession as the next version, where `legal-review` is called `domestic-review`.
fn next_version(dir: &std::path::Path) {
    let v1 = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/workflows/coe-accession.toml"
    ))
    .unwrap();
    let v2 = raised(&v1.replace("\"legal-review\"", "\"domestic-review\""));
    assert_ne!(v1, v2);
    std::fs::write(dir.join("coe-accession.toml"), v2).unwrap();
}

async fn plan(app: &Accession, map: &StageMap) -> Vec<PlannedMove> {
    let operator = accession::engine::Actor::operator("test");
    let mut all = Vec::new();
    app.migration_plan(
        &operator,
        &WorkflowId::parse("coe-accession").unwrap(),
        SHIPPED,
        NEXT,
        map,
        |page| all.extend(page),
    )
    .await
    .unwrap();
    all
}

async fn procedures_move_to_a_new_version_as_planned_and_recorded(db: &TestDb) {
    let clock = clock();
    let demo = db.demo_app(&clock).await;
    let before = demo
        .store_for_tests()
        .procedure(&pid("kg-cets-210"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(before.stage.as_str(), "legal-review");
    // A withdrawn one, to see that closed procedures stay on the version they ended on.
    let withdrawn = pid("kg-ets-185");
    let version = demo
        .store_for_tests()
        .procedure(&withdrawn)
        .await
        .unwrap()
        .unwrap()
        .version;
    demo.act(
        &withdrawn,
        &accession::engine::Command {
            expected_version: version,
            act: accession::engine::Act::Withdraw {
                reason: "to see it stay".into(),
            },
        },
        &actor(&demo, "mfa").await,
    )
    .await
    .unwrap();
    let history_rows = count(&demo, "SELECT COUNT(*) FROM history").await;

    let dir = tempfile::tempdir().unwrap();
    next_version(dir.path());
    let mut settings = db.settings();
    settings.workflows.dir = dir.path().to_path_buf();
    let app = Accession::open(settings, std::sync::Arc::new(clock.clone()))
        .await
        .unwrap();

    // Without a map, the procedures in legal review have nowhere to go; the plan wrote nothing.
    let unmapped = plan(&app, &StageMap::new()).await;
    let at_legal_review: Vec<_> = unmapped
        .iter()
        .filter(|m| {
            matches!(&m.outcome, MoveOutcome::Cannot { blockers }
                if blockers.iter().any(|b| b.to_string().contains("`legal-review` is not in the new version")))
        })
        .collect();
    assert!(at_legal_review.len() >= 3, "{unmapped:#?}");
    assert!(
        unmapped.iter().any(|m| m.procedure == withdrawn
            && matches!(
                m.outcome,
                MoveOutcome::Stays {
                    status: Status::Withdrawn
                }
            )),
        "the withdrawn one stays: {unmapped:#?}"
    );
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM history").await,
        history_rows
    );

    // A bulk move refuses while any cannot move, and writes nothing.
    let mfa = actor(&app, "mfa").await;
    let refused = app
        .migrate_all(
            &mfa,
            &WorkflowId::parse("coe-accession").unwrap(),
            SHIPPED,
            NEXT,
            &StageMap::new(),
        )
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("nothing moved"), "{refused}");
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM history").await,
        history_rows
    );

    // With the map, every running one moves.
    let map = parse_map(&["legal-review=domestic-review".to_string()]).unwrap();
    let mapped = plan(&app, &map).await;
    assert!(
        mapped
            .iter()
            .all(|m| !matches!(m.outcome, MoveOutcome::Cannot { .. })),
        "{mapped:#?}"
    );

    // A ministry may not move one.
    let moj = actor(&app, "moj").await;
    let err = app
        .migrate(&moj, &pid("kg-cets-210"), NEXT, &map, None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, AppError::Refused(Refusal::NotAllowed { .. })),
        "{err}"
    );
    // A stale version is refused.
    let err = app
        .migrate(
            &mfa,
            &pid("kg-cets-210"),
            NEXT,
            &map,
            Some(accession::ids::Version(before.version.0 - 1)),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, AppError::Refused(Refusal::StaleVersion { .. })),
        "{err}"
    );
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM history").await,
        history_rows
    );

    // One moves: its stage is renamed, its due date still counts from when it entered the stage.
    let moved = app
        .migrate(&mfa, &pid("kg-cets-210"), NEXT, &map, Some(before.version))
        .await
        .unwrap();
    let p = &moved.procedure;
    assert_eq!(p.workflow.version, NEXT);
    assert_eq!(p.stage.as_str(), "domestic-review");
    assert_eq!(p.stage_entered_at, before.stage_entered_at);
    assert_eq!(p.stage_entry, before.stage_entry);
    assert_eq!(p.due_on, before.due_on);
    assert_eq!(p.fields, before.fields);
    assert_eq!(p.version, before.version.next());
    let history = app.history(&mfa, &pid("kg-cets-210")).await.unwrap();
    let last = history.last().unwrap();
    assert_eq!(last.command, "migrate");
    assert_eq!(last.from_stage.as_deref(), Some("legal-review"));
    assert_eq!(last.to_stage.as_deref(), Some("domestic-review"));
    let payload: serde_json::Value = serde_json::from_str(&last.payload).unwrap();
    assert_eq!(payload["from"]["version"], SHIPPED);
    assert_eq!(payload["to"]["version"], NEXT);
    assert_eq!(payload["map"]["legal-review"], "domestic-review");
    // Its timers were planned again for the new stage, and the chain still holds.
    assert!(
        moved
            .timers
            .iter()
            .all(|t| t.stage.as_str() == "domestic-review")
    );
    assert!(!moved.timers.is_empty());
    assert!(app.store_for_tests().verify(None).await.unwrap().ok());
    // Moving again to the same version is no move.
    let err = app
        .migrate(&mfa, &pid("kg-cets-210"), NEXT, &map, None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no move"), "{err}");

    // The rest move at once; closed ones stay where they ended.
    let moved_all = app
        .migrate_all(
            &mfa,
            &WorkflowId::parse("coe-accession").unwrap(),
            SHIPPED,
            NEXT,
            &map,
        )
        .await
        .unwrap();
    assert!(moved_all >= 3, "{moved_all}");
    let left = plan(&app, &map).await;
    assert_eq!(left.len(), 1, "{left:#?}");
    assert_eq!(left[0].procedure, withdrawn);
    assert!(matches!(left[0].outcome, MoveOutcome::Stays { .. }));
    assert!(app.store_for_tests().verify(None).await.unwrap().ok());
}
on_both!(procedures_move_to_a_new_version_as_planned_and_recorded);

/// A field the new version does not declare would lose its value: that procedure cannot move.
async fn a_recorded_field_the_new_version_drops_blocks_the_move(db: &TestDb) {
    let clock = clock();
    let demo = db.demo_app(&clock).await;
    let with_field = count(
        &demo,
        "SELECT COUNT(*) FROM procedures WHERE fields LIKE '%\"compatibility_report\"%' \
         AND status = 'active'",
    )
    .await;
    assert!(
        with_field > 0,
        "the demo has active procedures with the field"
    );
    let v1 = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/workflows/coe-accession.toml"
    ))
    .unwrap();
    let v2 = raised(&v1.replace("compatibility_report", "compatibility_opinion"));
    assert_ne!(v1, v2);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("coe-accession.toml"), v2).unwrap();
    let mut settings = db.settings();
    settings.workflows.dir = dir.path().to_path_buf();
    let app = Accession::open(settings, std::sync::Arc::new(clock.clone()))
        .await
        .unwrap();
    let planned = plan(&app, &StageMap::new()).await;
    let dropped = planned
        .iter()
        .filter(|m| {
            matches!(&m.outcome, MoveOutcome::Cannot { blockers }
                if blockers.iter().any(|b| b.to_string()
                    == "field `compatibility_report` is recorded but the new version does not declare it: its value would be lost"))
        })
        .count() as i64;
    assert_eq!(dropped, with_field, "{planned:#?}");
}
on_both!(a_recorded_field_the_new_version_drops_blocks_the_move);

/// A database from the first release, whose procedures run on version 1 of the shipped
/// workflows (their texts in English only), opens with today's folder: version 1 stays readable
/// from the store, its procedures keep acting on it, and one bulk move per workflow takes them
/// to the shipped version (the texts changed, not the stages), recorded and chained.
async fn a_database_of_the_first_release_opens_and_moves_to_the_shipped_versions(db: &TestDb) {
    let clock = clock();
    let released = tempfile::tempdir().unwrap();
    for name in ["coe-accession", "coe-ratification", "four-stage"] {
        std::fs::copy(
            format!(
                "{}/tests/fixtures/released-workflows/{name}-v1.toml",
                env!("CARGO_MANIFEST_DIR")
            ),
            released.path().join(format!("{name}.toml")),
        )
        .unwrap();
    }
    let mut first = db.settings();
    first.workflows.dir = released.path().to_path_buf();
    let mut old = db.app_with(first, &clock).await;
    old.demo()
        .await
        .expect("the demo on the first release's workflows");
    let on_v1 = count(
        &old,
        "SELECT COUNT(*) FROM procedures WHERE workflow_version = 1",
    )
    .await;
    assert!(on_v1 > 0);
    drop(old);

    // Today's folder: the same ids at version 2, other content. It opens.
    let app = Accession::open(db.settings(), std::sync::Arc::new(clock.clone()))
        .await
        .expect("today's workflows open a database of the first release");
    let p = app
        .store_for_tests()
        .procedure(&pid("kg-cets-210"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        p.workflow.version, 1,
        "running procedures keep their version"
    );
    let moj = actor(&app, "moj").await;
    app.act(
        &p.id,
        &crate::support::record(p.version.0, "compatibility_report", "MoJ/2025/17"),
        &moj,
    )
    .await
    .expect("a procedure on version 1 still acts");

    let mfa = actor(&app, "mfa").await;
    let mut moved = 0;
    for workflow in ["coe-accession", "coe-ratification", "four-stage"] {
        let id = WorkflowId::parse(workflow).unwrap();
        let to = app.catalog().current(&id).unwrap().version;
        assert_eq!(to, SHIPPED);
        let has_open = count(
            &app,
            &format!(
                "SELECT COUNT(*) FROM procedures WHERE workflow_id = '{workflow}' \
                 AND workflow_version = 1 AND status = 'active'"
            ),
        )
        .await;
        if has_open > 0 {
            moved += app
                .migrate_all(&mfa, &id, 1, to, &StageMap::new())
                .await
                .unwrap_or_else(|e| panic!("{workflow}: {e}"));
        }
    }
    assert!(moved > 0);
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM procedures WHERE workflow_version = 1 AND status = 'active'"
        )
        .await,
        0,
        "every open procedure moved"
    );
    assert!(app.store_for_tests().verify(None).await.unwrap().ok());
}
on_both!(a_database_of_the_first_release_opens_and_moves_to_the_shipped_versions);
