//! Many States: a procedure's State must be in the registry, its workflow must name that State's
//! institutions, and one State has at most one open procedure per convention — also when two
//! starts race, which the database's partial unique index settles.

use accession::app::AppError;
use accession::engine::{Act, Command, StartProcedure};
use accession::ids::{ConventionId, StateCode, Version, WorkflowId};

use crate::on_both;
use crate::support::{TestDb, actor, clock, count, pid};

fn start(id: &str, state: &str, convention: &str) -> StartProcedure {
    StartProcedure {
        id: pid(id),
        state: StateCode::parse(state).unwrap(),
        convention: ConventionId::parse(convention).unwrap(),
        comment: None,
    }
}

async fn a_start_needs_a_known_state_its_own_institutions_and_no_open_procedure(db: &TestDb) {
    let clock = clock();
    let app = db.demo_app(&clock).await;
    let wf = WorkflowId::parse("coe-accession").unwrap();
    let mfa = actor(&app, "mfa").await;
    let before = count(&app, "SELECT COUNT(*) FROM procedures").await;

    // A code that is no State of the registry.
    let err = app
        .start(&wf, &start("xx-ets-185", "XX", "ets-185"), &mfa)
        .await
        .unwrap_err();
    let AppError::InvalidField { field, detail } = &err else {
        panic!("{err}");
    };
    assert_eq!(*field, "state");
    assert!(
        detail.contains("State `XX` is not in the States registry") && detail.contains("KG"),
        "{detail}"
    );
    // Tunisia is in the registry, but the workflow names the Kyrgyz institutions.
    let err = app
        .start(&wf, &start("tn-ets-185", "TN", "ets-185"), &mfa)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("not TN's") && err.to_string().contains("`mfa` (KG)"),
        "{err}"
    );
    // Kyrgyzstan has an open procedure on ETS 185 already.
    let err = app
        .start(&wf, &start("kg-ets-185-again", "KG", "ets-185"), &mfa)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, AppError::Conflict(m) if m.contains("`kg-ets-185`")),
        "{err}"
    );
    assert_eq!(count(&app, "SELECT COUNT(*) FROM procedures").await, before);

    // Withdrawn, it may be followed by a new one; of two racing starts exactly one lands.
    let p = app
        .store_for_tests()
        .procedure(&pid("kg-ets-185"))
        .await
        .unwrap()
        .unwrap();
    let withdraw = Command {
        expected_version: Version(p.version.0),
        act: Act::Withdraw {
            reason: "Started again on a new request".into(),
        },
    };
    app.act(&p.id, &withdraw, &mfa).await.unwrap();
    let first = start("kg-ets-185-b", "KG", "ets-185");
    let second = start("kg-ets-185-c", "KG", "ets-185");
    let (a, b) = tokio::join!(app.start(&wf, &first, &mfa), app.start(&wf, &second, &mfa));
    assert!(a.is_ok() != b.is_ok(), "{a:?} / {b:?}");
    let lost = a.err().or(b.err()).unwrap();
    assert!(
        matches!(&lost, AppError::Conflict(m) if m.contains("open procedure on `ets-185`: `kg-ets-185-")),
        "{lost}"
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM procedures WHERE state_code = 'KG' AND convention_id = 'ets-185' \
             AND status IN ('active', 'suspended')"
        )
        .await,
        1
    );
}
on_both!(a_start_needs_a_known_state_its_own_institutions_and_no_open_procedure);

async fn an_institution_of_an_unknown_state_is_refused_at_import(db: &TestDb) {
    let clock = clock();
    let app = db.demo_app(&clock).await;
    let file = db.dir.path().join("customs.toml");
    std::fs::write(
        &file,
        "[[institutions]]\nid = \"customs\"\nstate = \"TM\"\nname = \"State Customs Service\"\n\
         emails = [\"office@customs.example.org\"]\nlanguage = \"ru\"\ntime_zone = \"Asia/Ashgabat\"\n",
    )
    .unwrap();
    let before = count(&app, "SELECT COUNT(*) FROM institutions").await;
    let err = app.import_institutions(&file).await.unwrap_err();
    assert!(
        err.to_string().contains("`customs` belongs to State `TM`"),
        "{err}"
    );
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM institutions").await,
        before
    );
    let states = app.states().await.unwrap();
    let kg = states.iter().find(|s| s.code.as_str() == "KG").unwrap();
    assert!(!kg.coe_member);
    assert_eq!(kg.name_ky, "Кыргыз Республикасы");
}
on_both!(an_institution_of_an_unknown_state_is_refused_at_import);
