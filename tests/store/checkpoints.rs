//! Tampering caught against a checkpoint taken before, by an attacker with the database who
//! switches the protection off and covers their tracks as far as the database lets them: the
//! procedure's version follows the deleted rows, chains are recomputed, and the log is rebuilt
//! from what is left (the application does that when the log is marked as still to fill), so that
//! `audit verify` alone finds nothing. Proofs verify, and fail after the tampering.

use accession::app::Accession;
use accession::audit::checkpoint::Checkpoint;
use accession::audit::row_hash;
use ed25519_dalek::SigningKey;
use sea_orm::{ConnectionTrait, DbBackend};

use crate::on_both;
use crate::support::{TestDb, clock, count, pid};

const EMPTY_ROOT: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

fn op() -> accession::engine::Actor {
    accession::engine::Actor::operator("test")
}

fn key() -> SigningKey {
    SigningKey::from_bytes(&[42u8; 32])
}

async fn exec(app: &Accession, sql: &str) {
    app.store_for_tests()
        .connection()
        .execute_unprepared(sql)
        .await
        .unwrap_or_else(|e| panic!("`{sql}`: {e}"));
}

async fn checkpoint(app: &Accession) -> Checkpoint {
    let (size, root) = app.store_for_tests().log_head().await.unwrap();
    Checkpoint::sign(size, &root, app.now(), &key())
}

async fn switch_off_protection(app: &Accession) {
    let statements: &[&str] = match app.store_for_tests().backend() {
        DbBackend::Postgres => &[
            "ALTER TABLE history DISABLE TRIGGER USER",
            "ALTER TABLE log_leaves DISABLE TRIGGER USER",
            "ALTER TABLE log_nodes DISABLE TRIGGER USER",
            "ALTER TABLE log_head DISABLE TRIGGER USER",
        ],
        _ => &[
            "DROP TRIGGER history_no_update",
            "DROP TRIGGER history_no_delete",
            "DROP TRIGGER log_leaves_no_delete",
            "DROP TRIGGER log_nodes_no_delete",
            "DROP TRIGGER log_head_grows",
        ],
    };
    for sql in statements {
        exec(app, sql).await;
    }
}

/// Empty the log and have the application rebuild it from history as it now is.
async fn rebuild_log(app: &Accession) {
    exec(app, "DELETE FROM log_leaves").await;
    exec(app, "DELETE FROM log_nodes").await;
    let pending = match app.store_for_tests().backend() {
        DbBackend::Postgres => "true",
        _ => "1",
    };
    exec(
        app,
        &format!(
            "UPDATE log_head SET size = 0, frontier = '', root = '{EMPTY_ROOT}', \
             backfill_pending = {pending}"
        ),
    )
    .await;
    app.store_for_tests().backfill_log().await.unwrap();
}

/// What `audit verify --checkpoint` says: the problem, if any.
async fn against(app: &Accession, cp: &Checkpoint) -> Option<String> {
    let verdict = app
        .verify_against(&op(), cp, &key().verifying_key())
        .await
        .unwrap();
    verdict
        .broken
        .or_else(|| (!verdict.report.ok()).then(|| format!("{:?}", verdict.report.first_break())))
}

async fn the_newest_row_deleted_and_the_log_rebuilt_is_caught(db: &TestDb) {
    let clock = clock();
    let app = db.demo_app(&clock).await;
    let cp = checkpoint(&app).await;
    assert_eq!(against(&app, &cp).await, None);
    switch_off_protection(&app).await;
    exec(
        &app,
        "DELETE FROM history WHERE procedure_id = 'kg-ets-112' AND sequence = \
         (SELECT MAX(sequence) FROM history WHERE procedure_id = 'kg-ets-112')",
    )
    .await;
    exec(
        &app,
        "UPDATE procedures SET version = version - 1 WHERE id = 'kg-ets-112'",
    )
    .await;
    rebuild_log(&app).await;
    assert!(
        app.store_for_tests().verify(None).await.unwrap().ok(),
        "verify alone is fooled"
    );
    let problem = against(&app, &cp)
        .await
        .expect("caught against the checkpoint");
    assert!(
        problem.contains(&format!(
            "positions {}..{} are missing",
            cp.size - 1,
            cp.size - 1
        )),
        "{problem}"
    );
}
on_both!(the_newest_row_deleted_and_the_log_rebuilt_is_caught);

async fn truncated_history_is_caught(db: &TestDb) {
    let clock = clock();
    let app = db.demo_app(&clock).await;
    let cp = checkpoint(&app).await;
    switch_off_protection(&app).await;
    let empty = match app.store_for_tests().backend() {
        DbBackend::Postgres => "TRUNCATE history, log_leaves, log_nodes, chain_verifications",
        _ => "DELETE FROM history",
    };
    exec(&app, empty).await;
    exec(&app, "UPDATE procedures SET version = 0").await;
    rebuild_log(&app).await;
    assert_eq!(count(&app, "SELECT COUNT(*) FROM history").await, 0);
    let problem = against(&app, &cp)
        .await
        .expect("caught against the checkpoint");
    assert!(
        problem.contains("holds only 0") && problem.contains("missing"),
        "{problem}"
    );
}
on_both!(truncated_history_is_caught);

async fn a_row_rewritten_with_its_chain_recomputed_is_caught_and_its_proof_fails(db: &TestDb) {
    let clock = clock();
    let app = db.demo_app(&clock).await;
    let id = pid("kg-ets-112");
    let cp = checkpoint(&app).await;
    let key = key().verifying_key();
    let root = cp.verify(&key).unwrap();
    // A proof of the row to be rewritten verifies before.
    let proof = app.prove(&op(), &id, Some(2), &cp, &key).await.unwrap();
    assert_eq!(proof.check(&cp, &root), Ok(()));
    // Any change to it does not.
    let mut other = proof.clone();
    other.position = (proof.position + 1) % cp.size;
    assert!(other.check(&cp, &root).is_err());

    switch_off_protection(&app).await;
    let mut rows = app.store_for_tests().history(&id).await.unwrap();
    rows[1].comment = Some("a different note".into());
    let mut prev = rows[0].hash.clone();
    for row in rows.iter_mut().skip(1) {
        row.prev_hash = prev.clone();
        row.hash = row_hash(row, &prev).unwrap();
        prev = row.hash.clone();
    }
    for row in &rows[1..] {
        exec(
            &app,
            &format!(
                "UPDATE history SET comment = {}, prev_hash = '{}', hash = '{}' \
                 WHERE procedure_id = 'kg-ets-112' AND sequence = {}",
                match &row.comment {
                    Some(c) => format!("'{}'", c.replace('\'', "''")),
                    None => "NULL".into(),
                },
                row.prev_hash,
                row.hash,
                row.sequence
            ),
        )
        .await;
    }
    rebuild_log(&app).await;
    assert!(
        app.store_for_tests().verify(None).await.unwrap().ok(),
        "verify alone is fooled"
    );
    let problem = against(&app, &cp)
        .await
        .expect("caught against the checkpoint");
    assert!(problem.contains("rewritten"), "{problem}");
    // The rewritten row has no proof against the checkpoint, and the old proof is of a row that
    // is no longer there.
    let refused = app.prove(&op(), &id, Some(2), &cp, &key).await.unwrap_err();
    assert!(
        refused.to_string().contains("does not prove it"),
        "{refused}"
    );
    assert_ne!(
        app.store_for_tests().history(&id).await.unwrap()[1].hash,
        proof.row_hash
    );
}
on_both!(a_row_rewritten_with_its_chain_recomputed_is_caught_and_its_proof_fails);

async fn a_checkpoint_with_a_wrong_signature_is_refused(db: &TestDb) {
    let clock = clock();
    let app = db.demo_app(&clock).await;
    let mut cp = checkpoint(&app).await;
    cp.signature = {
        let mut s = cp.signature.into_bytes();
        s[0] = if s[0] == b'0' { b'1' } else { b'0' };
        String::from_utf8(s).unwrap()
    };
    let refused = app
        .verify_against(&op(), &cp, &key().verifying_key())
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("signature is not valid"),
        "{refused}"
    );
    let other = SigningKey::from_bytes(&[1u8; 32]).verifying_key();
    let good = checkpoint(&app).await;
    let refused = app.verify_against(&op(), &good, &other).await.unwrap_err();
    assert!(
        refused.to_string().contains("not by the key given"),
        "{refused}"
    );
}
on_both!(a_checkpoint_with_a_wrong_signature_is_refused);

async fn a_consistency_proof_links_an_old_checkpoint_to_a_grown_log(db: &TestDb) {
    use accession::engine::{Act, Command};
    let clock = clock();
    let app = db.demo_app(&clock).await;
    let cp = checkpoint(&app).await;
    let id = pid("kg-cets-210");
    let mfa = crate::support::actor(&app, "mfa").await;
    for n in 0..3 {
        let version = app
            .store_for_tests()
            .procedure(&id)
            .await
            .unwrap()
            .unwrap()
            .version;
        app.act(
            &id,
            &Command {
                expected_version: version,
                act: Act::Comment {
                    text: format!("note {n}"),
                },
            },
            &mfa,
        )
        .await
        .unwrap();
    }
    let (size, root) = app.store_for_tests().log_head().await.unwrap();
    assert_eq!(size, cp.size + 3);
    let proof = app
        .store_for_tests()
        .consistency_proof(cp.size, size)
        .await
        .unwrap();
    let old = cp.verify(&key().verifying_key()).unwrap();
    assert!(accession::audit::proof::verify_consistency(
        cp.size, size, &old, &root, &proof
    ));
    assert_eq!(against(&app, &cp).await, None);
    // The newest row is provable against a checkpoint made after it, not before.
    let later = checkpoint(&app).await;
    let key = key().verifying_key();
    let p = app.prove(&op(), &id, None, &later, &key).await.unwrap();
    assert_eq!(p.position, size - 1);
    let refused = app.prove(&op(), &id, None, &cp, &key).await.unwrap_err();
    assert!(
        refused.to_string().contains("after the checkpoint"),
        "{refused}"
    );
}
on_both!(a_consistency_proof_links_an_old_checkpoint_to_a_grown_log);

async fn the_scheduler_makes_a_checkpoint_when_one_is_due(db: &TestDb) {
    let clock = clock();
    let mut settings = db.settings();
    let file = db.dir.path().join("audit.key");
    let (public, _) = accession::app::checkpoints::keygen(&file).unwrap();
    settings.audit.key_file = Some(file);
    settings.audit.checkpoint_every_secs = 86_400;
    let app = db.app_with(settings, &clock).await;
    let first = app
        .checkpoint_if_due()
        .await
        .unwrap()
        .expect("none yet: one is due")
        .checkpoint;
    let key = accession::app::checkpoints::public_key_file(&public).unwrap();
    assert!(first.verify(&key).is_ok());
    clock.advance(chrono::TimeDelta::hours(23));
    assert_eq!(app.checkpoint_if_due().await.unwrap(), None, "not due yet");
    clock.advance(chrono::TimeDelta::hours(1));
    let second = app
        .checkpoint_if_due()
        .await
        .unwrap()
        .expect("a day later")
        .checkpoint;
    assert_ne!(second.time, first.time);
    let (listed, more) = app
        .store_for_tests()
        .checkpoints_page(None, 10)
        .await
        .unwrap();
    assert!(!more);
    assert_eq!(
        listed.into_iter().map(|(_, c)| c).collect::<Vec<_>>(),
        vec![second, first]
    );
}
on_both!(the_scheduler_makes_a_checkpoint_when_one_is_due);
