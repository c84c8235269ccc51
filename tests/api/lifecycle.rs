//! Stopping: a request in flight when the server is asked to stop is finished and answered, then
//! the server ends.

use std::time::Duration;

use accession::engine::Role;
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, TransactionTrait};
use serde_json::json;

use crate::harness::Server;
use crate::on_both;
use crate::support::TestDb;

async fn a_request_in_flight_is_answered_before_the_server_stops(db: &TestDb) {
    let mut server = Server::start(db).await;
    let id = "kg-cets-210";
    let etag = server.etag(id).await;
    // Another connection holds the procedure (a write lock on SQLite, the row on PostgreSQL), so
    // the request below waits inside the server.
    let other = sea_orm::Database::connect(&db.url).await.unwrap();
    let txn = match other.get_database_backend() {
        sea_orm::DbBackend::Sqlite => other
            .begin_with_options(sea_orm::TransactionOptions {
                sqlite_transaction_mode: Some(sea_orm::SqliteTransactionMode::Immediate),
                ..Default::default()
            })
            .await
            .unwrap(),
        _ => other.begin().await.unwrap(),
    };
    txn.execute_unprepared(&format!(
        "UPDATE procedures SET updated_at = updated_at WHERE id = '{id}'"
    ))
    .await
    .unwrap();
    let request = {
        let client = server.client.clone();
        let url = format!("{}/api/v1/procedures/{id}/comment", server.base);
        let token = server.token("moj", Role::Ministry).to_string();
        tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(token)
                .header("If-Match", etag)
                .json(&json!({"text": "Sent before the shutdown."}))
                .send()
                .await
        })
    };
    // Wait until the request is inside the server (it shows in the HTTP histogram only when
    // answered, so watch the connection instead: the request task is pending).
    let mut task = server.task.take().unwrap();
    tokio::time::timeout(Duration::from_millis(300), &mut task)
        .await
        .expect_err("the server runs");
    server.stop();
    // Asked to stop, the server still waits for the request in flight.
    tokio::time::timeout(Duration::from_millis(300), &mut task)
        .await
        .expect_err("the server waits for the request in flight");
    txn.commit().await.unwrap();
    let answer = request.await.unwrap().expect("the request is answered");
    assert_eq!(answer.status(), StatusCode::OK);
    task.await.unwrap().expect("the server stops cleanly");
    assert!(
        server
            .app
            .store_for_tests()
            .history(&id.parse().unwrap())
            .await
            .unwrap()
            .iter()
            .any(|r| r.comment.as_deref() == Some("Sent before the shutdown."))
    );
}
on_both!(a_request_in_flight_is_answered_before_the_server_stops);
