//! Commands that only read open the database without writing anything, so they work where it
//! cannot be written: a SQLite file opened read-only, a PostgreSQL role that may only SELECT.

use std::sync::Arc;

use accession::app::{Accession, AppError};
use sea_orm::{ConnectionTrait, Database};

use crate::on_both;
use crate::support::TestDb;

/// The settings of `db` as a reader sees them, and what to run on the database's owner
/// connection afterwards to undo it.
async fn as_reader(db: &TestDb, app: &Accession) -> (accession::config::Settings, Option<String>) {
    let mut settings = db.settings();
    if app.store_for_tests().backend() == sea_orm::DbBackend::Sqlite {
        // SQLite itself refuses every write on this connection.
        settings.database.url = format!("{}?mode=ro", db.url);
        return (settings, None);
    }
    let role = format!(
        "accession_reader_{}_{}",
        std::process::id(),
        chrono::Utc::now().timestamp_subsec_nanos()
    );
    let conn = app.store_for_tests().connection();
    for sql in [
        format!("CREATE ROLE {role} LOGIN"),
        format!("GRANT USAGE ON SCHEMA public TO {role}"),
        format!("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}"),
    ] {
        conn.execute_unprepared(&sql).await.unwrap();
    }
    let (scheme, rest) = db.url.split_once("://").unwrap();
    let host_and_db = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    settings.database.url = format!("{scheme}://{role}@{host_and_db}");
    let undo = format!(
        "REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role}; \
         REVOKE USAGE ON SCHEMA public FROM {role}; DROP ROLE {role}"
    );
    (settings, Some(undo))
}

async fn a_reader_opens_a_database_it_cannot_write(db: &TestDb) {
    let clock = crate::support::clock();
    let owner = db.demo_app(&clock).await;
    let (settings, undo) = as_reader(db, &owner).await;

    let reader = Accession::open_to_read(settings.clone(), Arc::new(clock.clone()))
        .await
        .expect("a reader opens it");
    let procedures = reader
        .store_for_tests()
        .procedures(&Default::default())
        .await
        .unwrap();
    assert_eq!(procedures.len(), 6);
    assert!(reader.store_for_tests().verify(None).await.unwrap().ok());
    // What writing would need is refused on this connection: it really is read-only.
    assert!(
        reader
            .store_for_tests()
            .outbox_retry(None, chrono::Utc::now())
            .await
            .is_err()
    );
    if undo.is_some() {
        // On PostgreSQL opening to write, which migrates, needs more than SELECT: the way every
        // command opened before, a reader could not. (SQLite skips the statement for a table
        // that exists; its read-only cases are the files the CLI tests make read-only.)
        let opened = Accession::open(settings, Arc::new(clock.clone())).await;
        assert!(
            matches!(opened, Err(AppError::Store(_))),
            "{:?}",
            opened.err()
        );
    }
    reader.store_for_tests().clone().close().await.unwrap();
    if let Some(undo) = undo {
        // A fresh connection: the owner's pool may hold the role's grants in its cache.
        let admin = Database::connect(&db.url).await.unwrap();
        admin.execute_unprepared(&undo).await.unwrap();
        admin.close().await.unwrap();
    }
}
on_both!(a_reader_opens_a_database_it_cannot_write);
