//! The chart of a convention and of a State, as of a day, over HTTP: derived from the history,
//! so the demo's ETS 112 shows no deposit before it was recorded, and CSV on request.

use accession::engine::Role;
use reqwest::StatusCode;

use crate::harness::Server;
use crate::on_both;
use crate::support::TestDb;

async fn the_chart_shows_the_record_as_it_stood_on_the_day(db: &TestDb) {
    let server = Server::start(db).await;
    let auditor = server.token("mfa", Role::Auditor);
    async fn row(server: &Server, token: &str, as_of: &str) -> serde_json::Value {
        let path = format!("/api/v1/conventions/ets-112/chart?as_of={as_of}");
        let chart = server.get(&path, token).await.expect(StatusCode::OK).json();
        assert_eq!(chart["as_of"], as_of);
        let rows = chart["rows"].as_array().unwrap().clone();
        assert_eq!(rows.len(), 1, "{chart}");
        rows[0].clone()
    }
    let before = row(&server, auditor, "2024-04-01").await;
    assert_eq!(before["state"], "KG");
    assert_eq!(before["deposit"], serde_json::Value::Null);
    assert_eq!(before["in_force"], false);
    let deposited = row(&server, auditor, "2024-05-01").await;
    assert_eq!(deposited["deposit"], "2024-04-22");
    assert_eq!(deposited["deposit_note"], "a", "accession");
    assert_eq!(deposited["entry_into_force"], "2024-08-01");
    assert_eq!(deposited["in_force"], false);
    assert_eq!(row(&server, auditor, "2024-08-01").await["in_force"], true);
    // Before the procedure started, the State has no row.
    let empty = server
        .get(
            "/api/v1/conventions/ets-112/chart?as_of=2020-01-01",
            auditor,
        )
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(empty["rows"].as_array().unwrap().len(), 0);

    // The State's chart: one row per convention, as CSV on request.
    let csv = server
        .get(
            "/api/v1/states/KG/chart?as_of=2024-05-01&format=csv",
            auditor,
        )
        .await
        .expect(StatusCode::OK);
    assert!(csv.header("content-type").unwrap().starts_with("text/csv"));
    let lines: Vec<&str> = csv.text.lines().collect();
    assert!(
        lines[0].starts_with("state,state_name,convention,"),
        "{}",
        csv.text
    );
    assert!(
        lines.iter().any(|l| l.starts_with(
            "KG,Kyrgyz Republic,ets-112,ETS No. 112,false,,2024-04-22,a,2024-08-01,false,"
        )),
        "{}",
        csv.text
    );
    // A convention that does not exist is 404; a bad format is 422 naming it.
    server
        .get("/api/v1/conventions/no-such/chart", auditor)
        .await
        .expect(StatusCode::NOT_FOUND);
    let bad = server
        .get("/api/v1/conventions/ets-112/chart?format=xml", auditor)
        .await
        .expect(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.problem("invalid-input")["field"], "format");
}
on_both!(the_chart_shows_the_record_as_it_stood_on_the_day);
