//! The verify report over HTTP names a procedure whose newest history row was removed, and says
//! what is wrong with the log.

use accession::engine::Role;
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, DbBackend};

use crate::harness::Server;
use crate::on_both;
use crate::support::TestDb;

async fn the_verify_report_names_a_procedure_cut_short(db: &TestDb) {
    let server = Server::start(db).await;
    let auditor = server.token("mfa", Role::Auditor).to_string();
    let intact = server
        .get("/api/v1/audit/verify", &auditor)
        .await
        .expect(StatusCode::OK)
        .json();
    assert!(intact["log"]["broken"].is_null(), "{intact}");
    let size = intact["log"]["size"].as_u64().unwrap();
    assert!(size > 20, "{intact}");
    assert_eq!(intact["log"]["root"].as_str().unwrap().len(), 64);

    // An attacker with the database switches the triggers off and deletes the newest row.
    let conn = server.app.store.connection();
    let off: &[&str] = match conn.get_database_backend() {
        DbBackend::Postgres => &["ALTER TABLE history DISABLE TRIGGER USER"],
        _ => &["DROP TRIGGER history_no_delete"],
    };
    for sql in off {
        conn.execute_unprepared(sql).await.unwrap();
    }
    conn.execute_unprepared(
        "DELETE FROM history WHERE procedure_id = 'kg-cets-210' AND sequence = \
         (SELECT MAX(sequence) FROM history WHERE procedure_id = 'kg-cets-210')",
    )
    .await
    .unwrap();

    let report = server
        .get("/api/v1/audit/verify", &auditor)
        .await
        .expect(StatusCode::OK)
        .json();
    let broken: Vec<_> = report["procedures"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| !p["broken"].is_null())
        .collect();
    assert_eq!(broken.len(), 1, "{report}");
    assert_eq!(broken[0]["procedure"], "kg-cets-210");
    assert_eq!(broken[0]["broken"]["procedure_id"], "kg-cets-210");
    assert!(
        broken[0]["broken"]["what"]
            .as_str()
            .unwrap()
            .contains("newest row"),
        "{report}"
    );
    assert!(
        report["log"]["broken"]
            .as_str()
            .is_some_and(|b| b.contains("history row is gone")),
        "{report}"
    );
    // The procedure's own report says so too, without the log.
    let one = server
        .get("/api/v1/procedures/kg-cets-210/history/verify", &auditor)
        .await
        .expect(StatusCode::OK)
        .json();
    assert!(!one["procedures"][0]["broken"].is_null(), "{one}");
    assert!(one.get("log").is_none(), "{one}");
}
on_both!(the_verify_report_names_a_procedure_cut_short);
