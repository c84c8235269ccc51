//! Treaty practice through the application and the store: a date that cannot be true is refused
//! and writes nothing; extensions and objections are kept with the procedure and read back.

use accession::app::AppError;
use accession::engine::{Act, Command, Refusal};
use accession::ids::{StateCode, Version};

use crate::on_both;
use crate::support::{TestDb, actor, clock, count, pid, record};

async fn version(app: &accession::app::Accession, id: &accession::ids::ProcedureId) -> i64 {
    app.store_for_tests()
        .procedure(id)
        .await
        .unwrap()
        .unwrap()
        .version
        .0
}

async fn dates_that_cannot_be_true_write_nothing_and_the_treaty_record_is_kept(db: &TestDb) {
    let clock = clock();
    let app = db.demo_app(&clock).await;
    let id = pid("kg-cets-210");
    let mfa = actor(&app, "mfa").await;
    let v = version(&app, &id).await;
    app.act(&id, &record(v, "request_date", "2026-10-01"), &mfa)
        .await
        .unwrap();
    let history = count(&app, "SELECT COUNT(*) FROM history").await;
    let outbox = count(&app, "SELECT COUNT(*) FROM outbox").await;
    // The invitation before the request; a date before the Istanbul Convention was opened.
    for (field, value, rule) in [
        ("invitation_date", "2026-09-30", "dates-follow-the-route"),
        ("request_date", "2011-05-10", "not-before-opening"),
    ] {
        let err = app
            .act(&id, &record(v + 1, field, value), &mfa)
            .await
            .unwrap_err();
        let AppError::Refused(Refusal::DateRefused { rule: got, .. }) = &err else {
            panic!("{err}");
        };
        assert_eq!(*got, rule, "{err}");
    }
    assert_eq!(count(&app, "SELECT COUNT(*) FROM history").await, history);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM outbox").await, outbox);
    assert_eq!(version(&app, &id).await, v + 1);

    let act = |version: i64, act: Act| Command {
        expected_version: Version(version),
        act,
    };
    let party = |code: &str| StateCode::parse(code).unwrap();
    app.act(
        &id,
        &act(
            v + 1,
            Act::RaiseObjection {
                party: party("FR"),
                text: "Asks for more time".into(),
            },
        ),
        &mfa,
    )
    .await
    .unwrap();
    app.act(
        &id,
        &act(
            v + 2,
            Act::WithdrawObjection {
                party: party("FR"),
                comment: Some("Satisfied by the explanations".into()),
            },
        ),
        &mfa,
    )
    .await
    .unwrap();
    app.act(&id, &record(v + 3, "invitation_date", "2026-10-20"), &mfa)
        .await
        .unwrap();
    app.act(
        &id,
        &act(
            v + 4,
            Act::ExtendInvitation {
                until: "2032-12-31".parse().unwrap(),
                decision: "CM/Del/Dec(2026)1500/10.2".into(),
                comment: None,
            },
        ),
        &mfa,
    )
    .await
    .unwrap();
    // Read back from the database, not from a cache of this process.
    let again = db.app(&clock).await;
    let p = again
        .store_for_tests()
        .procedure(&id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.key_dates.invited_on, Some("2026-10-20".parse().unwrap()));
    assert_eq!(
        p.key_dates.invitation_expires_on,
        Some("2032-12-31".parse().unwrap())
    );
    assert_eq!(p.treaty.objections.len(), 1);
    assert_eq!(p.treaty.objections[0].party, party("FR"));
    assert!(p.treaty.objections[0].withdrawn_on.is_some());
    assert_eq!(p.treaty.invitation_extensions.len(), 1);
    assert_eq!(
        p.treaty.invitation_extensions[0].previous_until,
        Some("2031-10-21".parse().unwrap())
    );
    assert_eq!(
        count(
            &again,
            "SELECT COUNT(*) FROM history WHERE command IN ('raise_objection', \
             'withdraw_objection', 'extend_invitation')"
        )
        .await,
        3
    );
}
on_both!(dates_that_cannot_be_true_write_nothing_and_the_treaty_record_is_kept);
