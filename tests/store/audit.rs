//! The history is evidence: the database refuses edits, and an edit made anyway is found.

use std::process::Command as Process;

use sea_orm::{ConnectionTrait, DbBackend};

use crate::on_both;
use crate::support::{TestDb, clock, pid};

async fn history_refuses_update_and_delete(db: &TestDb) {
    let clock = clock();
    let app = db.demo_app(&clock).await;
    let conn = app.store_for_tests().connection();
    let update = conn
        .execute_unprepared("UPDATE history SET comment = 'forged' WHERE procedure_id = 'kg-ets-112' AND sequence = 5")
        .await;
    assert!(update.is_err(), "UPDATE on history must be refused");
    assert!(update.unwrap_err().to_string().contains("append-only"));
    let delete = conn
        .execute_unprepared("DELETE FROM history WHERE procedure_id = 'kg-ets-112'")
        .await;
    assert!(delete.is_err(), "DELETE on history must be refused");
    assert!(app.store_for_tests().verify(None).await.unwrap().ok());
}
on_both!(history_refuses_update_and_delete);

/// Someone with raw access to the database switches the protection off and edits a row:
/// verification names the procedure and the row.
async fn an_edited_history_row_is_named_by_verify(db: &TestDb) {
    let clock = clock();
    let app = db.demo_app(&clock).await;
    let conn = app.store_for_tests().connection();
    let disable = match conn.get_database_backend() {
        DbBackend::Postgres => "ALTER TABLE history DISABLE TRIGGER history_append_only",
        _ => "DROP TRIGGER history_no_update",
    };
    conn.execute_unprepared(disable).await.unwrap();
    conn.execute_unprepared(
        "UPDATE history SET comment = 'approved without reservations' WHERE procedure_id = 'kg-ets-112' AND sequence = 5",
    )
    .await
    .unwrap();

    let report = app.store_for_tests().verify(None).await.unwrap();
    assert!(!report.ok());
    let broken = report.first_break().unwrap();
    assert_eq!(broken.procedure_id, "kg-ets-112");
    assert_eq!(broken.sequence, 5);
    assert!(broken.what.contains("edited"), "{}", broken.what);
    // The other procedures' chains are intact.
    assert_eq!(
        report
            .procedures
            .iter()
            .filter(|p| p.broken.is_some())
            .count(),
        1
    );
    let one = app
        .store_for_tests()
        .verify(Some(&pid("kg-cets-210")))
        .await
        .unwrap();
    assert!(one.ok());

    // The command line says the same and exits 1.
    let out = Process::new(env!("CARGO_BIN_EXE_accession"))
        .args(["audit", "verify"])
        .env("ACCESSION__DATABASE__URL", &db.url)
        .env(
            "ACCESSION__WORKFLOWS__DIR",
            concat!(env!("CARGO_MANIFEST_DIR"), "/workflows"),
        )
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("kg-ets-112") && stdout.contains("sequence 5"),
        "{stdout}"
    );
}
on_both!(an_edited_history_row_is_named_by_verify);

/// Every row of `filter`, as the streamed export reads them (a batch at a time).
async fn rows_where(
    app: &accession::app::Accession,
    filter: accession::store::HistoryFilter,
) -> Result<Vec<accession::audit::ChainRow>, accession::store::StoreError> {
    use futures_util::TryStreamExt;
    let batches: Vec<Vec<_>> = app
        .store_for_tests()
        .history_stream(filter)
        .try_collect()
        .await?;
    Ok(batches.into_iter().flatten().collect())
}

/// An auditor's filters are one query: by convention, by the institution that acted, by time.
async fn history_is_filtered_by_convention_institution_and_time(db: &TestDb) {
    use accession::store::HistoryFilter;
    use chrono::{TimeZone, Utc};
    let clock = clock();
    let app = db.demo_app(&clock).await;
    let all = app
        .store_for_tests()
        .history(&pid("kg-ets-112"))
        .await
        .unwrap();
    let of_112 = rows_where(
        &app,
        HistoryFilter {
            convention: Some("ets-112".parse().unwrap()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(of_112, all);
    // The Jogorku Kenesh acted on ETS 112 in December 2023 (the law) and no other time.
    let kenesh = rows_where(
        &app,
        HistoryFilter {
            actor: Some("jogorku-kenesh".parse().unwrap()),
            from: Some(Utc.with_ymd_and_hms(2023, 12, 1, 0, 0, 0).unwrap()),
            until: Some(Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let expected: Vec<_> = all
        .iter()
        .filter(|r| r.actor_institution == "jogorku-kenesh")
        .cloned()
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(kenesh, expected);
    let none = rows_where(
        &app,
        HistoryFilter {
            actor: Some("jogorku-kenesh".parse().unwrap()),
            until: Some(Utc.with_ymd_and_hms(2023, 12, 1, 0, 0, 0).unwrap()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(none.is_empty());
}
on_both!(history_is_filtered_by_convention_institution_and_time);
