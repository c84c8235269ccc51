//! The one log over all history: every row has one position, in commit order, without gaps, even
//! with several processes writing at once; its Merkle root is the one recomputed from the rows;
//! and rows removed by someone who switched the protection off are found, the newest ones too.

use std::process::Command as Process;
use std::sync::Arc;

use accession::app::Accession;
use accession::audit::merkle;
use accession::engine::{Act, Command};
use sea_orm::{ConnectionTrait, DbBackend, Statement};

use crate::on_both;
use crate::support::{TestDb, actor, clock, count, pid};

/// Rows of text columns, each row joined with `|`.
async fn rows(app: &Accession, sql: &str) -> Vec<String> {
    let conn = app.store_for_tests().connection();
    conn.query_all_raw(Statement::from_string(
        conn.get_database_backend(),
        sql.to_string(),
    ))
    .await
    .unwrap_or_else(|e| panic!("`{sql}`: {e}"))
    .iter()
    .map(|r| r.try_get_by_index::<String>(0).expect("a text column"))
    .collect()
}

async fn exec(app: &Accession, sql: &str) {
    app.store_for_tests()
        .connection()
        .execute_unprepared(sql)
        .await
        .unwrap_or_else(|e| panic!("`{sql}`: {e}"));
}

/// What an attacker with the database does first: switch off the triggers that refuse edits.
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
            "DROP TRIGGER log_leaves_no_update",
            "DROP TRIGGER log_leaves_no_delete",
            "DROP TRIGGER log_nodes_no_update",
            "DROP TRIGGER log_nodes_no_delete",
            "DROP TRIGGER log_head_no_delete",
            "DROP TRIGGER log_head_grows",
        ],
    };
    for sql in statements {
        exec(app, sql).await;
    }
}

/// The root of the log's leaves recomputed here from the history rows in position order, with
/// the leaf data as documented (position, 8 bytes big-endian, then the row's hash).
async fn root_from_history(app: &Accession) -> String {
    let hashes = rows(
        app,
        "SELECT h.hash FROM log_leaves l JOIN history h \
         ON h.procedure_id = l.procedure_id AND h.sequence = l.sequence ORDER BY l.position",
    )
    .await;
    let leaves: Vec<merkle::Hash> = hashes
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let row: merkle::Hash = hex::decode(h).unwrap().try_into().unwrap();
            merkle::leaf_hash(&merkle::leaf_data(i as u64, &row))
        })
        .collect();
    hex::encode(merkle::root_of(&leaves))
}

/// `audit verify` on the command line: exit code and standard output.
fn cli_verify(db: &TestDb) -> (Option<i32>, String) {
    let out = Process::new(env!("CARGO_BIN_EXE_accession"))
        .args(["audit", "verify"])
        .env("ACCESSION__DATABASE__URL", &db.url)
        .env(
            "ACCESSION__WORKFLOWS__DIR",
            concat!(env!("CARGO_MANIFEST_DIR"), "/workflows"),
        )
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// Positions are 0 to n-1, one per history row, in the order a procedure's rows were written,
/// and the head's root is the root of those leaves.
async fn every_history_row_has_one_position_and_the_root_is_recomputed(db: &TestDb) {
    let clock = clock();
    let app = db.demo_app(&clock).await;
    let history = count(&app, "SELECT COUNT(*) FROM history").await;
    assert!(history > 20, "the demo writes history: {history}");
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM log_leaves").await,
        history
    );
    assert_eq!(
        count(
            &app,
            "SELECT MAX(position) - MIN(position) + 1 FROM log_leaves"
        )
        .await,
        history
    );
    assert_eq!(count(&app, "SELECT MIN(position) FROM log_leaves").await, 0);
    assert_eq!(
        count(&app, "SELECT size FROM log_head").await,
        history,
        "the head counts every row"
    );
    // A procedure's rows are in the log in the order they were written.
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM log_leaves a JOIN log_leaves b ON a.procedure_id = b.procedure_id \
             AND a.sequence < b.sequence AND a.position > b.position"
        )
        .await,
        0
    );
    let stored = rows(&app, "SELECT root FROM log_head").await;
    assert_eq!(stored, vec![root_from_history(&app).await]);

    let report = app.store_for_tests().verify(None).await.unwrap();
    assert!(report.ok(), "{report:?}");
    let log = report.log.expect("the log is checked with every chain");
    assert_eq!(log.size, history as u64);
    assert_eq!(log.root, stored[0]);
    assert_eq!(log.broken, None);
    // The command line shows the log's size and root.
    let (code, stdout) = cli_verify(db);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(
        stdout.contains(&format!("log of {history} row(s), root {}", stored[0])),
        "{stdout}"
    );
}
on_both!(every_history_row_has_one_position_and_the_root_is_recomputed);

/// Three processes (three connection pools) write to six procedures at once: the positions are
/// still 0 to n-1 without a gap or a duplicate, and the log verifies.
async fn concurrent_writers_get_contiguous_positions(db: &TestDb) {
    let clock = clock();
    let first = db.demo_app(&clock).await;
    let apps = [
        Arc::new(first),
        Arc::new(db.app(&clock).await),
        Arc::new(db.app(&clock).await),
    ];
    let before = count(&apps[0], "SELECT COUNT(*) FROM history").await;
    let mfa = actor(&apps[0], "mfa").await;
    let ids: Vec<_> = apps[0]
        .store_for_tests()
        .procedures(&Default::default())
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.procedure.id)
        .collect();
    assert!(ids.len() >= 4, "{ids:?}");
    const ACTS: usize = 8;
    let mut tasks = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let app = apps[i % apps.len()].clone();
        let (id, mfa) = (id.clone(), mfa.clone());
        tasks.push(tokio::spawn(async move {
            let mut written = 0;
            for n in 0..ACTS {
                let version = app
                    .store_for_tests()
                    .procedure(&id)
                    .await
                    .unwrap()
                    .unwrap()
                    .version;
                let cmd = Command {
                    expected_version: version,
                    act: Act::Comment {
                        text: format!("note {n}"),
                    },
                };
                match app.act(&id, &cmd, &mfa).await {
                    Ok(_) => written += 1,
                    // A procedure that takes no comments (closed) writes nothing: fine here.
                    Err(e) if n == 0 => {
                        eprintln!("{id}: {e}");
                        break;
                    }
                    Err(e) => panic!("{id}: {e}"),
                }
            }
            written
        }));
    }
    let mut written = 0;
    for t in tasks {
        written += t.await.unwrap();
    }
    assert!(
        written >= 3 * ACTS,
        "most procedures take comments: {written}"
    );
    let app = &apps[0];
    let history = count(app, "SELECT COUNT(*) FROM history").await;
    assert_eq!(history, before + written as i64);
    assert_eq!(count(app, "SELECT COUNT(*) FROM log_leaves").await, history);
    assert_eq!(
        count(app, "SELECT COUNT(DISTINCT position) FROM log_leaves").await,
        history
    );
    assert_eq!(
        count(app, "SELECT MAX(position) FROM log_leaves").await,
        history - 1
    );
    assert_eq!(count(app, "SELECT size FROM log_head").await, history);
    assert_eq!(
        count(
            app,
            "SELECT COUNT(*) FROM log_leaves a JOIN log_leaves b ON a.procedure_id = b.procedure_id \
             AND a.sequence < b.sequence AND a.position > b.position"
        )
        .await,
        0,
        "a procedure's rows are in the log in the order they were committed"
    );
    let report = app.store_for_tests().verify(None).await.unwrap();
    assert!(report.ok(), "{report:?}");
    assert_eq!(
        rows(app, "SELECT root FROM log_head").await,
        vec![root_from_history(app).await]
    );
}
on_both!(concurrent_writers_get_contiguous_positions);

/// Deleting a procedure's newest history row leaves its chain intact: the procedure's version,
/// ahead of its last row, gives it away, and the log does too.
async fn a_removed_newest_row_is_named_by_verify(db: &TestDb) {
    let clock = clock();
    let app = db.demo_app(&clock).await;
    switch_off_protection(&app).await;
    let last = count(
        &app,
        "SELECT MAX(sequence) FROM history WHERE procedure_id = 'kg-ets-112'",
    )
    .await;
    exec(
        &app,
        &format!("DELETE FROM history WHERE procedure_id = 'kg-ets-112' AND sequence = {last}"),
    )
    .await;

    let report = app.store_for_tests().verify(None).await.unwrap();
    assert!(!report.ok());
    let broken: Vec<_> = report
        .procedures
        .iter()
        .filter_map(|p| p.broken.as_ref())
        .collect();
    assert_eq!(broken.len(), 1, "{broken:?}");
    assert_eq!(broken[0].procedure_id, "kg-ets-112");
    assert_eq!(broken[0].sequence, last);
    assert!(broken[0].what.contains("newest row"), "{}", broken[0].what);
    let log = report.log.as_ref().unwrap();
    assert!(
        log.broken
            .as_ref()
            .is_some_and(|b| b.contains("history row is gone")),
        "{log:?}"
    );
    // The procedure alone says the same.
    let one = app
        .store_for_tests()
        .verify(Some(&pid("kg-ets-112")))
        .await
        .unwrap();
    assert!(!one.ok());
    assert!(one.log.is_none());
    let (code, stdout) = cli_verify(db);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains("kg-ets-112") && stdout.contains("newest row"),
        "{stdout}"
    );

    // The attacker removes the row's leaf too: the log no longer matches its head, and the
    // procedure is still named by its version.
    exec(
        &app,
        &format!("DELETE FROM log_leaves WHERE procedure_id = 'kg-ets-112' AND sequence = {last}"),
    )
    .await;
    let report = app.store_for_tests().verify(None).await.unwrap();
    assert!(!report.ok());
    assert!(
        report.log.as_ref().unwrap().broken.is_some(),
        "{:?}",
        report.log
    );
    assert_eq!(
        report.first_break().map(|b| b.procedure_id.as_str()),
        Some("kg-ets-112")
    );
}
on_both!(a_removed_newest_row_is_named_by_verify);

/// Emptying history (TRUNCATE on PostgreSQL, refused while the trigger is there) leaves every
/// procedure ahead of its history: verify names them all.
async fn emptied_history_is_not_reported_intact(db: &TestDb) {
    let clock = clock();
    let app = db.demo_app(&clock).await;
    if app.store_for_tests().backend() == DbBackend::Postgres {
        let refused = app
            .store_for_tests()
            .connection()
            .execute_unprepared("TRUNCATE history CASCADE")
            .await
            .expect_err("TRUNCATE history must be refused")
            .to_string();
        assert!(refused.contains("append-only"), "{refused}");
    }
    switch_off_protection(&app).await;
    let empty = match app.store_for_tests().backend() {
        DbBackend::Postgres => "TRUNCATE history CASCADE",
        _ => "DELETE FROM history",
    };
    exec(&app, empty).await;
    let procedures = count(&app, "SELECT COUNT(*) FROM procedures").await;
    let report = app.store_for_tests().verify(None).await.unwrap();
    assert!(!report.ok());
    assert_eq!(
        report
            .procedures
            .iter()
            .filter(|p| p
                .broken
                .as_ref()
                .is_some_and(|b| b.what.contains("newest row")))
            .count() as i64,
        procedures
    );
    let (code, stdout) = cli_verify(db);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.starts_with("BROKEN"), "{stdout}");
}
on_both!(emptied_history_is_not_reported_intact);

/// A row taken out of the middle: with its leaf, the log has a gap; without it, a leaf whose row
/// is gone; and a history row slipped in is not in the log.
async fn a_row_removed_from_the_middle_of_the_log_is_found(db: &TestDb) {
    let clock = clock();
    let app = db.demo_app(&clock).await;
    switch_off_protection(&app).await;
    let size = count(&app, "SELECT size FROM log_head").await;
    let middle = size / 2;
    exec(
        &app,
        &format!("DELETE FROM log_leaves WHERE position = {middle}"),
    )
    .await;
    let log = app.store_for_tests().verify_log().await.unwrap();
    assert_eq!(
        log.broken.as_deref(),
        Some(
            format!(
                "log position {middle} is missing (the next is {}): a row was removed from the log",
                middle + 1
            )
            .as_str()
        )
    );
    assert_eq!(log.size, middle as u64, "checked up to the gap");
    let (code, stdout) = cli_verify(db);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains(&format!("BROKEN log: log position {middle} is missing")),
        "{stdout}"
    );

    // The history row of an earlier position removed, its leaf left.
    let gone = rows(
        &app,
        &format!(
            "SELECT procedure_id || '|' || CAST(sequence AS TEXT) FROM log_leaves \
             WHERE position = {}",
            middle - 3
        ),
    )
    .await;
    let (procedure, sequence) = gone[0].split_once('|').unwrap();
    exec(
        &app,
        &format!(
            "DELETE FROM history WHERE procedure_id = '{procedure}' AND sequence = {sequence}"
        ),
    )
    .await;
    let log = app.store_for_tests().verify_log().await.unwrap();
    assert!(
        log.broken.as_ref().is_some_and(|b| b.contains(&format!(
            "log position {} (`{procedure}`, sequence {sequence}): its history row is gone",
            middle - 3
        ))),
        "{log:?}"
    );
}
on_both!(a_row_removed_from_the_middle_of_the_log_is_found);

/// Rows written before the log existed are put in it once, in the order they were written:
/// rolling the log's migration back and applying it again builds the same log.
async fn rows_written_before_the_log_are_put_in_it_on_migrate(db: &TestDb) {
    use migrations::{Migrator, MigratorTrait};
    // The log's migration and every one after it.
    let after_log = Migrator::migrations()
        .iter()
        .rev()
        .position(|m| m.name().contains("_log"))
        .expect("the log's migration") as u32
        + 1;
    let clock = clock();
    let app = db.demo_app(&clock).await;
    let root = rows(&app, "SELECT root FROM log_head").await;
    let order = rows(
        &app,
        "SELECT procedure_id || '|' || CAST(sequence AS TEXT) FROM log_leaves ORDER BY position",
    )
    .await;
    Migrator::down(app.store_for_tests().connection(), Some(after_log))
        .await
        .unwrap();
    assert!(
        !app.store_for_tests()
            .pending_migrations()
            .await
            .unwrap()
            .is_empty(),
        "the log's migration was rolled back"
    );
    app.store_for_tests().migrate().await.unwrap();
    assert_eq!(rows(&app, "SELECT root FROM log_head").await, root);
    assert_eq!(
        rows(
            &app,
            "SELECT procedure_id || '|' || CAST(sequence AS TEXT) FROM log_leaves ORDER BY position",
        )
        .await,
        order,
        "the demo was written in one process, so id order is the order it was written"
    );
    assert!(app.store_for_tests().verify(None).await.unwrap().ok());

    // Rolled back again, and the next act comes before any migrate: it puts the old rows in the
    // log first, and its own row after them.
    Migrator::down(app.store_for_tests().connection(), Some(after_log))
        .await
        .unwrap();
    Migrator::up(app.store_for_tests().connection(), None)
        .await
        .unwrap();
    assert_eq!(count(&app, "SELECT COUNT(*) FROM log_leaves").await, 0);
    let id = pid("kg-cets-210");
    let version = app
        .store_for_tests()
        .procedure(&id)
        .await
        .unwrap()
        .unwrap()
        .version;
    let mfa = actor(&app, "mfa").await;
    app.act(
        &id,
        &Command {
            expected_version: version,
            act: Act::Comment {
                text: "after the upgrade".into(),
            },
        },
        &mfa,
    )
    .await
    .unwrap();
    let mut expected = order.clone();
    expected.push(format!("kg-cets-210|{}", version.0 + 1));
    assert_eq!(
        rows(
            &app,
            "SELECT procedure_id || '|' || CAST(sequence AS TEXT) FROM log_leaves ORDER BY position",
        )
        .await,
        expected
    );
    assert!(app.store_for_tests().verify(None).await.unwrap().ok());
}
on_both!(rows_written_before_the_log_are_put_in_it_on_migrate);
