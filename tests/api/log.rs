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
    let conn = server.app.store_for_tests().connection();
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

async fn checkpoints_are_listed_newest_first_a_page_at_a_time_for_auditors(db: &TestDb) {
    use accession::audit::checkpoint::Checkpoint;
    let server = Server::start(db).await;
    let key = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
    let (size, root) = server.app.store_for_tests().log_head().await.unwrap();
    for minutes in [0, 60] {
        let at = server.app.now() + chrono::TimeDelta::minutes(minutes);
        let cp = Checkpoint::sign(size, &root, at, &key);
        server
            .app
            .store_for_tests()
            .insert_checkpoint(&cp)
            .await
            .unwrap();
    }
    let auditor = server.token("mfa", Role::Auditor).to_string();
    let first = server
        .get("/api/v1/audit/checkpoints?limit=1", &auditor)
        .await
        .expect(StatusCode::OK);
    let page = first.json();
    assert_eq!(page.as_array().unwrap().len(), 1, "{page}");
    let newest: Checkpoint = serde_json::from_value(page[0]["checkpoint"].clone()).unwrap();
    assert_eq!(newest.size, size);
    assert_eq!(newest.verify(&key.verifying_key()), Ok(root));
    let link = first.header("link").expect("a next page");
    let next = link
        .trim_start_matches('<')
        .split('>')
        .next()
        .unwrap()
        .to_string();
    let second = server
        .get(&next, &auditor)
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(second.as_array().unwrap().len(), 1, "{second}");
    assert!(second[0]["id"].as_i64() < page[0]["id"].as_i64());
    assert!(second[0]["checkpoint"]["time"].as_str() < page[0]["checkpoint"]["time"].as_str());

    let ministry = server.token("moj", Role::Ministry).to_string();
    server
        .get("/api/v1/audit/checkpoints", &ministry)
        .await
        .expect(StatusCode::FORBIDDEN);
    server
        .get("/api/v1/audit/checkpoints?limit=0", &auditor)
        .await
        .expect(StatusCode::UNPROCESSABLE_ENTITY);
}
on_both!(checkpoints_are_listed_newest_first_a_page_at_a_time_for_auditors);
