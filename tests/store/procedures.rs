//! A procedure through the application and store: decisions land whole, refusals change nothing,
//! and a procedure keeps the definition it started on.

use accession::app::AppError;
use accession::engine::{Act, Actor, Command, Refusal, Role, StartProcedure};
use accession::ids::{ConventionId, InstitutionId, StageId, StateCode, Version, WorkflowId};

use crate::on_both;
use crate::support::{TestDb, actor, advance, clock, count, pid, record};

fn inst(id: &str) -> InstitutionId {
    InstitutionId::parse(id).unwrap()
}

async fn a_refused_act_writes_nothing(db: &TestDb) {
    let clock = clock();
    let app = db.demo_app(&clock).await;
    let id = pid("kg-cets-197");
    let before_history = count(&app, "SELECT COUNT(*) FROM history").await;
    let before_outbox = count(&app, "SELECT COUNT(*) FROM outbox").await;
    let before_timers = count(&app, "SELECT COUNT(*) FROM timers").await;
    let mia = actor(&app, "mia").await;
    let to_consultation = advance(2, "interagency-consultation");
    let err = app.act(&id, &to_consultation, &mia).await.unwrap_err();
    assert!(
        matches!(err, AppError::Refused(Refusal::NotAllowed { .. })),
        "{err}"
    );
    let moj = actor(&app, "moj").await;
    let err = app.act(&id, &to_consultation, &moj).await.unwrap_err();
    assert!(
        matches!(err, AppError::Refused(Refusal::FieldsMissing { .. })),
        "{err}"
    );
    let auditor = app
        .actor(&inst("mfa"), Some(Role::Auditor), "auditor")
        .await
        .unwrap();
    let err = app.act(&id, &to_consultation, &auditor).await.unwrap_err();
    assert!(
        matches!(err, AppError::Refused(Refusal::ReadOnly { .. })),
        "{err}"
    );
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM history").await,
        before_history
    );
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM outbox").await,
        before_outbox
    );
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM timers").await,
        before_timers
    );
    assert_eq!(
        app.store_for_tests()
            .procedure(&id)
            .await
            .unwrap()
            .unwrap()
            .version,
        Version(2)
    );
}
on_both!(a_refused_act_writes_nothing);

async fn a_decision_lands_whole_with_timers_outbox_and_approvals(db: &TestDb) {
    let clock = clock();
    let app = db.demo_app(&clock).await;
    let id = pid("kg-cets-201");
    let moj = actor(&app, "moj").await;
    let report = record(2, "compatibility_report", "MoJ/2026/3");
    app.act(&id, &report, &moj).await.unwrap();
    let to_consultation = Command {
        expected_version: Version(3),
        act: Act::Advance {
            to: StageId::parse("interagency-consultation").unwrap(),
            comment: Some("draft ready".into()),
        },
    };
    let view = app.act(&id, &to_consultation, &moj).await.unwrap();
    assert_eq!(view.procedure.stage.as_str(), "interagency-consultation");
    assert_eq!(
        view.procedure.due_on,
        Some("2027-01-01".parse().unwrap()),
        "60 days after 2026-11-02"
    );
    let kinds: Vec<&str> = view.timers.iter().map(|t| t.kind.as_str()).collect();
    assert_eq!(kinds, ["reminder", "deadline", "escalation"]);
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM outbox WHERE procedure_id = 'kg-cets-201' AND kind = 'approval_requested'").await,
        4
    );
    for who in ["mia", "ombudsperson", "supreme-court"] {
        let approver = actor(&app, who).await;
        let v = app
            .store_for_tests()
            .procedure(&id)
            .await
            .unwrap()
            .unwrap()
            .version;
        app.act(
            &id,
            &Command {
                expected_version: v,
                act: Act::Approve { comment: None },
            },
            &approver,
        )
        .await
        .unwrap();
    }
    let p = app.store_for_tests().procedure(&id).await.unwrap().unwrap();
    assert_eq!(
        p.approvals.len(),
        3,
        "approvals are read back for the current stage entry"
    );
    // Read with others in one query, each procedure is as it is read alone.
    let other = pid("kg-cets-197");
    let several = app
        .store_for_tests()
        .procedures_by_id(&[id.clone(), other.clone(), pid("kg-nowhere")])
        .await
        .unwrap();
    assert_eq!(several.len(), 2, "an unknown id is left out");
    assert_eq!(several[&id], p);
    assert_eq!(
        several[&other],
        app.store_for_tests()
            .procedure(&other)
            .await
            .unwrap()
            .unwrap()
    );
    assert!(several[&other].approvals.is_empty());
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM approvals WHERE procedure_id = 'kg-cets-201'"
        )
        .await,
        3
    );
    let to_request = Command {
        expected_version: p.version,
        act: Act::Advance {
            to: StageId::parse("request").unwrap(),
            comment: None,
        },
    };
    let view = app.act(&id, &to_request, &moj).await.unwrap();
    assert_eq!(view.procedure.stage.as_str(), "request");
    assert!(
        view.procedure.approvals.is_empty(),
        "a new stage entry starts without approvals"
    );
    assert!(app.store_for_tests().verify(Some(&id)).await.unwrap().ok());
}
on_both!(a_decision_lands_whole_with_timers_outbox_and_approvals);

/// A procedure stores the definition's id, version and hash, and keeps using the stored
/// definition after the file changes.
async fn a_procedure_keeps_its_definition_when_the_file_changes(db: &TestDb) {
    let clock = clock();
    let app = db.demo_app(&clock).await;
    let original = app
        .store_for_tests()
        .procedure(&pid("kg-ets-173"))
        .await
        .unwrap()
        .unwrap();

    // A new folder where coe-accession changed: legal review no longer needs the report. The
    // same version (the shipped 2) with other content is refused at load, saying where and
    // what to do.
    let dir = tempfile::tempdir().unwrap();
    let changed_source = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/workflows/coe-accession.toml"
    ))
    .unwrap()
    .replace(
        "type = \"document\"\nrequired = true",
        "type = \"document\"\nrequired = false",
    );
    let file = dir.path().join("coe-accession.toml");
    std::fs::write(&file, &changed_source).unwrap();
    let mut settings = db.settings();
    settings.workflows.dir = dir.path().to_path_buf();
    let refused =
        accession::app::Accession::open(settings.clone(), std::sync::Arc::new(clock.clone()))
            .await
            .err()
            .expect("a changed version 2 is refused");
    let AppError::Workflows(diagnostics) = &refused else {
        panic!("{refused}");
    };
    let text = diagnostics[0].to_string();
    assert!(
        text.starts_with(&format!("{}:7:1: error:", file.display())),
        "names the file and its `version` line: {text}"
    );
    assert!(
        text.contains("version 2 changed since procedures started on it"),
        "{text}"
    );
    assert!(text.contains("raise `version` to 3"), "{text}");
    // Nothing was stored by the refused load.
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM workflow_definitions").await,
        1
    );

    // Raised to version 3, it loads.
    std::fs::write(
        &file,
        changed_source.replace("\nversion = 2\n", "\nversion = 3\n"),
    )
    .unwrap();
    let changed = accession::app::Accession::open(settings, std::sync::Arc::new(clock.clone()))
        .await
        .unwrap();
    let new_def = changed
        .catalog()
        .current(&WorkflowId::parse("coe-accession").unwrap())
        .unwrap();
    assert_ne!(new_def.content_hash, original.workflow.hash);

    // The old procedure still needs the report, as its definition said.
    let moj = actor(&changed, "moj").await;
    let to_consultation = advance(2, "interagency-consultation");
    let err = changed
        .act(&original.id, &to_consultation, &moj)
        .await
        .unwrap_err();
    assert!(
        matches!(err, AppError::Refused(Refusal::FieldsMissing { .. })),
        "{err}"
    );

    // A new procedure starts on the changed file and does not. (Kyrgyzstan's open procedure
    // on the Lanzarote Convention is withdrawn first: one State has one open procedure per
    // convention.)
    let mfa = actor(&changed, "mfa").await;
    let lanzarote = changed
        .store_for_tests()
        .procedure(&pid("kg-cets-201"))
        .await
        .unwrap()
        .unwrap();
    changed
        .act(
            &lanzarote.id,
            &Command {
                expected_version: lanzarote.version,
                act: Act::Withdraw {
                    reason: "Started again on the new workflow".into(),
                },
            },
            &mfa,
        )
        .await
        .unwrap();
    let start = StartProcedure {
        id: pid("kg-cets-201-b"),
        state: StateCode::parse("KG").unwrap(),
        convention: ConventionId::parse("cets-201").unwrap(),
        comment: None,
    };
    changed
        .start(&WorkflowId::parse("coe-accession").unwrap(), &start, &mfa)
        .await
        .unwrap();
    let p = changed
        .store_for_tests()
        .procedure(&start.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.workflow.hash, new_def.content_hash);
    changed
        .act(&start.id, &advance(1, "legal-review"), &mfa)
        .await
        .unwrap();
    changed
        .act(&start.id, &advance(2, "interagency-consultation"), &moj)
        .await
        .unwrap();
    assert_eq!(
        count(&changed, "SELECT COUNT(*) FROM workflow_definitions").await,
        2
    );
}
on_both!(a_procedure_keeps_its_definition_when_the_file_changes);

/// An act answers with a view built from its decision rather than read back: it must be the view
/// a fresh read gives, through approvals (read with the procedure in one query) and a new stage.
async fn the_view_an_act_returns_is_the_view_read_back(db: &TestDb) {
    let clock = clock();
    let app = db.demo_app(&clock).await;
    let id = pid("kg-cets-201");
    let moj = actor(&app, "moj").await;
    let same = |acted: &accession::app::ProcedureView, read: &accession::app::ProcedureView| {
        assert_eq!(
            serde_json::to_value(acted).unwrap(),
            serde_json::to_value(read).unwrap()
        );
    };
    let mut steps = vec![
        ("moj", record(2, "compatibility_report", "MoJ/2026/3")),
        ("moj", advance(3, "interagency-consultation")),
    ];
    for who in ["mia", "ombudsperson", "supreme-court"] {
        steps.push((
            who,
            Command {
                expected_version: Version(0),
                act: Act::Approve {
                    comment: Some(format!("{who} agrees")),
                },
            },
        ));
    }
    steps.push(("moj", advance(0, "request")));
    for (who, mut cmd) in steps {
        let by = if who == "moj" {
            moj.clone()
        } else {
            actor(&app, who).await
        };
        cmd.expected_version = app
            .store_for_tests()
            .procedure(&id)
            .await
            .unwrap()
            .unwrap()
            .version;
        let acted = app.act(&id, &cmd, &by).await.unwrap();
        let read = app.view(&Actor::operator("test"), &id).await.unwrap();
        same(&acted, &read);
        if who != "moj" {
            assert!(
                read.procedure
                    .approvals
                    .contains_key(&InstitutionId::parse(who).unwrap()),
                "{who}'s approval is read back"
            );
        }
    }
    let read = app.view(&Actor::operator("test"), &id).await.unwrap();
    assert_eq!(read.procedure.stage.as_str(), "request");
    assert!(read.procedure.approvals.is_empty());
    assert_eq!(read.procedure.last_sequence, read.procedure.version.0);
}
on_both!(the_view_an_act_returns_is_the_view_read_back);

/// Institutions and conventions are cached: an import through the same store is seen at once,
/// one through another connection (another process) once the cached copy is older than
/// `database.reference_cache_ms`; with 0 nothing is cached.
async fn reference_data_is_cached_until_an_import_or_its_lifetime(db: &TestDb) {
    let clock = clock();
    let app = db.demo_app(&clock).await;
    let mfa = InstitutionId::parse("mfa").unwrap();
    let name = |store: &accession::store::Store| {
        let store = store.clone();
        let mfa = mfa.clone();
        async move { store.institution(&mfa).await.unwrap().unwrap().name }
    };
    let before = name(app.store_for_tests()).await;

    // A second process: its own pool, with a long lifetime and with none.
    let mut settings = db.settings();
    settings.database.reference_cache_ms = 3_600_000;
    let long = accession::store::Store::connect(&settings.database)
        .await
        .unwrap();
    settings.database.reference_cache_ms = 0;
    let none = accession::store::Store::connect(&settings.database)
        .await
        .unwrap();
    assert_eq!(name(&long).await, before);

    let mut list = accession::app::read_institution_file(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/demo/institutions.toml"),
    )
    .unwrap();
    list.iter_mut().find(|i| i.id == mfa).unwrap().name =
        "Ministry of Foreign Affairs (renamed)".into();
    app.store_for_tests()
        .import_institutions(&list, app.now())
        .await
        .unwrap();

    assert_eq!(
        name(app.store_for_tests()).await,
        "Ministry of Foreign Affairs (renamed)",
        "the importing store sees its import at once"
    );
    assert_eq!(
        name(&none).await,
        "Ministry of Foreign Affairs (renamed)",
        "without a cache every read goes to the database"
    );
    assert_eq!(
        name(&long).await,
        before,
        "another process keeps its copy for its lifetime"
    );
    long.close().await.unwrap();
    none.close().await.unwrap();
}
on_both!(reference_data_is_cached_until_an_import_or_its_lifetime);
