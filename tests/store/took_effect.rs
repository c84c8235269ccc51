//! When an act took effect beside when it was recorded: an act recorded late keeps both, the
//! chain covers both (an edit to either is found), and rows written before effective times keep
//! their form and cannot be given one afterwards.

use accession::app::{Accession, AppError};
use accession::audit::{ChainRow, FORM_ACCOUNT, FORM_RECORDED_ONLY, GENESIS, row_hash};
use accession::engine::{Act, Command, Refusal, Stated};
use accession::ids::ProcedureId;
use chrono::NaiveDate;
use sea_orm::{ConnectionTrait, DbBackend};

use crate::on_both;
use crate::support::{TestDb, actor, clock, pid};

fn day(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

fn stated(on: &str, approximate: bool) -> Option<Stated> {
    Some(Stated {
        on: Some(day(on)),
        approximate,
    })
}

async fn comment(
    app: &Accession,
    id: &ProcedureId,
    text: &str,
    effective: Option<Stated>,
) -> Result<(), AppError> {
    let version = app
        .store_for_tests()
        .procedure(id)
        .await
        .unwrap()
        .unwrap()
        .version;
    let cmd = Command {
        expected_version: version,
        act: Act::Comment { text: text.into() },
    };
    let mfa = actor(app, "mfa").await;
    app.act_stated(id, &cmd, effective, &mfa).await.map(|_| ())
}

async fn exec(app: &Accession, sql: &str) {
    app.store_for_tests()
        .connection()
        .execute_unprepared(sql)
        .await
        .unwrap_or_else(|e| panic!("`{sql}`: {e}"));
}

/// Someone with raw access to the database turns history's protection off.
async fn allow_history_updates(app: &Accession) {
    let sql = match app.store_for_tests().connection().get_database_backend() {
        DbBackend::Postgres => "ALTER TABLE history DISABLE TRIGGER history_append_only",
        _ => "DROP TRIGGER history_no_update",
    };
    exec(app, sql).await;
}

async fn an_act_recorded_late_keeps_both_times_and_the_chain_covers_them(db: &TestDb) {
    let clock = clock(); // 2026-11-02 06:00 UTC: noon in Bishkek.
    let app = db.demo_app(&clock).await;
    let id = pid("kg-cets-210");
    comment(&app, &id, "Opinion received", stated("2026-10-15", false))
        .await
        .unwrap();
    comment(&app, &id, "Letter sent", stated("2026-10-20", true))
        .await
        .unwrap();
    comment(&app, &id, "Noted today", None).await.unwrap();

    let history = app.store_for_tests().history(&id).await.unwrap();
    let [.., exact, approximate, today] = history.as_slice() else {
        panic!("three rows added");
    };
    for row in [exact, approximate, today] {
        assert_eq!(row.at, app.now(), "recorded when written");
        assert_eq!(row.hash_form, FORM_ACCOUNT);
    }
    assert_eq!(
        (
            exact.effective_on,
            exact.effective_approximate,
            exact.retrospective
        ),
        (Some(day("2026-10-15")), false, true)
    );
    assert_eq!(
        (
            approximate.effective_on,
            approximate.effective_approximate,
            approximate.retrospective
        ),
        (Some(day("2026-10-20")), true, true)
    );
    assert_eq!(
        (
            today.effective_on,
            today.effective_approximate,
            today.retrospective
        ),
        (None, false, false)
    );
    // The first rows of the demo were written by this version too: all in the new form.
    assert!(history.iter().all(|r| r.hash_form == FORM_ACCOUNT));
    assert!(app.store_for_tests().verify(None).await.unwrap().ok());

    // Refused, and nothing written: a day before the previous row's (today, as recorded), a day
    // after today in Bishkek.
    for (on, says) in [
        ("2026-10-30", "before 2026-11-02"),
        ("2026-11-03", "after today (2026-11-02"),
    ] {
        let err = comment(&app, &id, "late", stated(on, false))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, AppError::Refused(Refusal::EffectiveDate { .. })),
            "{err:?}"
        );
        assert!(err.to_string().contains(says), "{err}");
    }
    assert_eq!(
        app.store_for_tests().history(&id).await.unwrap().len(),
        history.len()
    );

    // The effective day edited behind the application's back: verify names the row.
    allow_history_updates(&app).await;
    let sequence = exact.sequence;
    exec(
        &app,
        &format!(
            "UPDATE history SET effective_on = '2026-10-14' \
             WHERE procedure_id = 'kg-cets-210' AND sequence = {sequence}"
        ),
    )
    .await;
    let report = app.store_for_tests().verify(None).await.unwrap();
    let broken = report.first_break().expect("the edit is found");
    assert_eq!(
        (broken.procedure_id.as_str(), broken.sequence),
        ("kg-cets-210", sequence)
    );
    assert!(broken.what.contains("edited"), "{}", broken.what);
    // And the flag: undone, then the approximate row made exact.
    exec(
        &app,
        &format!(
            "UPDATE history SET effective_on = '2026-10-15' \
             WHERE procedure_id = 'kg-cets-210' AND sequence = {sequence}"
        ),
    )
    .await;
    assert!(app.store_for_tests().verify(None).await.unwrap().ok());
    exec(
        &app,
        &format!(
            "UPDATE history SET effective_approximate = FALSE \
             WHERE procedure_id = 'kg-cets-210' AND sequence = {}",
            approximate.sequence
        ),
    )
    .await;
    let report = app.store_for_tests().verify(None).await.unwrap();
    assert_eq!(
        report.first_break().map(|b| b.sequence),
        Some(approximate.sequence)
    );
}
on_both!(an_act_recorded_late_keeps_both_times_and_the_chain_covers_them);

/// Rewrite `id`'s chain as the version before effective times wrote it (form 1), and rebuild
/// the log over it, as `migrate` does for rows written before the log: a database from before.
async fn as_written_before_effective_times(app: &Accession, id: &ProcedureId) -> Vec<ChainRow> {
    allow_history_updates(app).await;
    let mut prev = GENESIS.to_string();
    let mut rows = Vec::new();
    for row in app.store_for_tests().history(id).await.unwrap() {
        let mut old = ChainRow {
            effective_on: None,
            effective_approximate: false,
            retrospective: false,
            hash_form: FORM_RECORDED_ONLY,
            prev_hash: prev.clone(),
            ..row
        };
        old.hash = row_hash(&old, &prev).unwrap();
        exec(
            app,
            &format!(
                "UPDATE history SET hash_form = 1, effective_on = NULL, \
                 effective_approximate = FALSE, retrospective = FALSE, prev_hash = '{}', \
                 hash = '{}' WHERE procedure_id = '{id}' AND sequence = {}",
                old.prev_hash, old.hash, old.sequence
            ),
        )
        .await;
        prev = old.hash.clone();
        rows.push(old);
    }
    let unprotect: &[&str] = match app.store_for_tests().connection().get_database_backend() {
        DbBackend::Postgres => &[
            "ALTER TABLE log_leaves DISABLE TRIGGER USER",
            "ALTER TABLE log_nodes DISABLE TRIGGER USER",
            "ALTER TABLE log_head DISABLE TRIGGER USER",
        ],
        _ => &[
            "DROP TRIGGER log_leaves_no_delete",
            "DROP TRIGGER log_nodes_no_delete",
            "DROP TRIGGER log_head_grows",
        ],
    };
    for sql in unprotect {
        exec(app, sql).await;
    }
    exec(app, "DELETE FROM log_leaves").await;
    exec(app, "DELETE FROM log_nodes").await;
    exec(
        app,
        "UPDATE log_head SET size = 0, frontier = '', backfill_pending = TRUE, \
         root = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'",
    )
    .await;
    app.store_for_tests().backfill_log().await.unwrap();
    rows
}

async fn rows_written_before_effective_times_keep_their_form_and_cannot_be_given_one(db: &TestDb) {
    let clock = clock();
    let app = db.demo_app(&clock).await;
    let id = pid("kg-cets-210");
    let old = as_written_before_effective_times(&app, &id).await;
    assert_eq!(old.len(), 2);
    // This version opens the database from before (a new process: nothing of it cached).
    drop(app);
    let app = db.app(&clock).await;
    assert!(
        app.store_for_tests().verify(None).await.unwrap().ok(),
        "old rows verify in their own form"
    );

    // The chain goes on in the new form, stated late.
    comment(&app, &id, "Opinion received", stated("2026-10-15", false))
        .await
        .unwrap();
    let history = app.store_for_tests().history(&id).await.unwrap();
    let forms: Vec<i32> = history.iter().map(|r| r.hash_form).collect();
    assert_eq!(forms, [1, 1, 3]);
    assert_eq!(history[..2], old[..], "the old rows are as they were");
    assert_eq!(history[2].prev_hash, old[1].hash);
    assert!(app.store_for_tests().verify(None).await.unwrap().ok());

    // An old row given an effective day afterwards: its hash does not cover it, and verify says so.
    exec(
        &app,
        "UPDATE history SET effective_on = '2023-05-30', retrospective = TRUE \
         WHERE procedure_id = 'kg-cets-210' AND sequence = 1",
    )
    .await;
    let report = app.store_for_tests().verify(None).await.unwrap();
    let broken = report.first_break().expect("found");
    assert_eq!(broken.sequence, 1);
    assert!(broken.what.contains("hash form 1"), "{}", broken.what);
}
on_both!(rows_written_before_effective_times_keep_their_form_and_cannot_be_given_one);
