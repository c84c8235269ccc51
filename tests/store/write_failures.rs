//! Writes that fail. A database that is full refuses the act as "no space", writes nothing and
//! takes writes again once it has room. A transaction whose COMMIT fails is never acknowledged and leaves nothing behind, and the
//! pooled connection it ran on does not carry the failure into the next act. The failure is
//! forced by a constraint checked only at COMMIT: a deferred foreign key on SQLite, a deferred
//! constraint trigger on PostgreSQL, both set off by one comment text.

use accession::app::AppError;
use accession::engine::{Act, Command};
use accession::ids::Version;
use sea_orm::{ConnectionTrait, DbBackend};

use crate::on_both;
use crate::support::{TestDb, actor, clock, pid};

const TRAP: &str = "fail at commit";

/// Make every history row whose comment is `TRAP` fail its transaction at COMMIT.
async fn set_commit_trap(app: &accession::app::Accession) {
    let conn = app.store_for_tests().connection();
    let statements: &[&str] = match conn.get_database_backend() {
        DbBackend::Sqlite => &[
            "CREATE TABLE trap_parent (id INTEGER PRIMARY KEY)",
            "CREATE TABLE trap_child (parent INTEGER REFERENCES trap_parent(id) \
             DEFERRABLE INITIALLY DEFERRED)",
            "CREATE TRIGGER trap AFTER INSERT ON history WHEN NEW.comment = 'fail at commit' \
             BEGIN INSERT INTO trap_child VALUES (42); END",
        ],
        _ => &[
            "CREATE FUNCTION trap() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
             RAISE EXCEPTION 'refused at commit'; END $$",
            "CREATE CONSTRAINT TRIGGER trap AFTER INSERT ON history DEFERRABLE INITIALLY \
             DEFERRED FOR EACH ROW WHEN (NEW.comment = 'fail at commit') EXECUTE FUNCTION trap()",
        ],
    };
    for sql in statements {
        conn.execute_unprepared(sql).await.expect(sql);
    }
}

fn comment(version: i64, text: &str) -> Command {
    Command {
        expected_version: Version(version),
        act: Act::Comment { text: text.into() },
    }
}

async fn a_failed_commit_is_not_acknowledged_and_the_next_act_is_written(db: &TestDb) {
    let clock = clock();
    let app = db.demo_app(&clock).await;
    set_commit_trap(&app).await;
    let id = pid("kg-cets-210");
    let moj = actor(&app, "moj").await;
    let before = app
        .store_for_tests()
        .procedure(&id)
        .await
        .unwrap()
        .unwrap()
        .version;
    let history_before = app.store_for_tests().history(&id).await.unwrap().len();

    // Every pooled connection meets the failure once, so none can be reused in a bad state.
    for _ in 0..6 {
        let refused = app.act(&id, &comment(before.0, TRAP), &moj).await;
        assert!(
            matches!(refused, Err(AppError::Store(_))),
            "a failed COMMIT must be an error, got {refused:?}"
        );
        assert_eq!(
            app.store_for_tests()
                .procedure(&id)
                .await
                .unwrap()
                .unwrap()
                .version,
            before
        );
        assert_eq!(
            app.store_for_tests().history(&id).await.unwrap().len(),
            history_before
        );
    }

    // The pool is still good: the next acts are written and seen by another process.
    let view = app
        .act(&id, &comment(before.0, "an ordinary comment"), &moj)
        .await
        .expect("the next act is written");
    assert_eq!(view.procedure.version, Version(before.0 + 1));
    let other = db.app(&clock).await;
    let history = other.store_for_tests().history(&id).await.unwrap();
    assert_eq!(history.len(), history_before + 1);
    assert_eq!(
        history.last().and_then(|r| r.comment.as_deref()),
        Some("an ordinary comment")
    );
    assert!(history.iter().all(|r| r.comment.as_deref() != Some(TRAP)));
}
on_both!(a_failed_commit_is_not_acknowledged_and_the_next_act_is_written);

/// SQLite's `max_page_count` makes the database "full" without filling a disk (the tmpfs test in
/// tests/api/diskfull.rs fills a real one): the same SQLITE_FULL the disk gives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_database_refuses_the_act_as_no_space_and_takes_writes_again() {
    let db = crate::support::sqlite();
    let clock = clock();
    let mut settings = db.settings();
    // One connection, so the page limit set on it holds for every statement.
    settings.database.max_connections = 1;
    let mut app = db.app_with(settings, &clock).await;
    app.demo().await.expect("the demo loads");
    let id = pid("kg-cets-210");
    let moj = actor(&app, "moj").await;
    let before = app
        .store_for_tests()
        .procedure(&id)
        .await
        .unwrap()
        .unwrap()
        .version;
    let conn = app.store_for_tests().connection();
    let pages = conn
        .query_one_raw(sea_orm::Statement::from_string(
            DbBackend::Sqlite,
            "PRAGMA page_count",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index::<i64>(0)
        .unwrap();
    conn.execute_unprepared(&format!("PRAGMA max_page_count = {pages}"))
        .await
        .unwrap();

    // Free pages inside the file may take a few comments; the limit is met soon after.
    let long = "a comment that needs new pages ".repeat(120);
    let mut version = before.0;
    let e = loop {
        match app.act(&id, &comment(version, &long), &moj).await {
            Ok(view) => version = view.procedure.version.0,
            Err(e @ AppError::NoSpace(_)) => break e,
            Err(other) => panic!("a full database must refuse with NoSpace, got {other:?}"),
        }
        assert!(version < before.0 + 50, "the page limit was never met");
    };
    assert_eq!(e.kind(), "storage-full");
    assert_eq!(e.exit_code(), 4);
    assert!(e.to_string().contains("no space left"), "{e}");
    assert!(app.store_for_tests().writes_refused().is_some());
    assert_eq!(
        app.store_for_tests()
            .procedure(&id)
            .await
            .unwrap()
            .unwrap()
            .version,
        Version(version)
    );

    conn.execute_unprepared("PRAGMA max_page_count = 1073741823")
        .await
        .unwrap();
    let view = app
        .act(&id, &comment(version, &long), &moj)
        .await
        .expect("written once there is room");
    assert_eq!(view.procedure.version, Version(version + 1));
    assert!(app.store_for_tests().writes_refused().is_none());
}
