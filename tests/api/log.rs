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

/// A checkpoint's email, as the API, the document and the outbox page show it: an outbox row
/// about no procedure, whose payload is the checkpoint's facts.
async fn a_checkpoint_email_is_an_outbox_row_about_no_procedure(db: &TestDb) {
    use accession::audit::checkpoint::Checkpoint;
    use accession::engine::CheckpointFacts;
    use accession::store::{CheckpointMail, NewCheckpoint};
    let server = Server::start(db).await;
    let key = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
    let (size, root) = server.app.store_for_tests().log_head().await.unwrap();
    let cp = Checkpoint::sign(size, &root, server.app.now(), &key);
    let facts = CheckpointFacts::of(&cp, &key.verifying_key());
    let kept = server
        .app
        .store_for_tests()
        .keep_checkpoint(NewCheckpoint {
            checkpoint: &cp,
            scheduled_after: Some(0),
            mail: Some(CheckpointMail {
                facts: &facts,
                at: server.app.now(),
            }),
        })
        .await
        .unwrap()
        .expect("the first of its period");
    // The harness's one auditor token is the MFA's.
    assert_eq!(kept.mailed_to.len(), 1);
    assert_eq!(kept.mailed_to[0].as_str(), "mfa");

    let admin = server.token("mfa", Role::Admin).to_string();
    let rows = server
        .get("/api/v1/outbox?limit=200", &admin)
        .await
        .expect(StatusCode::OK)
        .json();
    let row = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "checkpoint")
        .unwrap_or_else(|| panic!("no checkpoint email in {rows}"))
        .clone();
    assert_eq!(row["procedure"], serde_json::Value::Null, "{row}");
    assert_eq!(row["recipient_institution"], "mfa", "{row}");
    assert_eq!(
        row["payload"],
        serde_json::to_value(&facts).unwrap(),
        "{row}"
    );
    let one = server
        .get(&format!("/api/v1/outbox/{}", row["id"]), &admin)
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(one, row);

    // The document says so: no procedure is allowed, and the payload is one of the two facts.
    let doc = server
        .send(reqwest::Method::GET, "/api/openapi.json", None, &[], None)
        .await
        .expect(StatusCode::OK)
        .json();
    let schemas = &doc["components"]["schemas"];
    let procedure = &schemas["OutboxRow"]["properties"]["procedure"];
    assert!(
        procedure["type"]
            .as_array()
            .is_some_and(|t| t.contains(&"null".into()) && t.contains(&"string".into())),
        "{procedure}"
    );
    assert!(
        !schemas["OutboxRow"]["required"]
            .as_array()
            .unwrap()
            .contains(&"procedure".into()),
        "{}",
        schemas["OutboxRow"]
    );
    let facts_schema = &schemas["NotificationFacts"];
    let refs: Vec<&str> = facts_schema["oneOf"]
        .as_array()
        .unwrap_or_else(|| panic!("{facts_schema}"))
        .iter()
        .filter_map(|s| s["$ref"].as_str())
        .collect();
    assert_eq!(
        refs,
        [
            "#/components/schemas/ProcedureFacts",
            "#/components/schemas/CheckpointFacts",
            "#/components/schemas/SignInFacts"
        ]
    );
    let required = schemas["CheckpointFacts"]["required"].as_array().unwrap();
    for field in [
        "checkpoint",
        "public_key",
        "file",
        "public_key_file",
        "verify",
    ] {
        assert!(required.contains(&field.into()), "{required:?}");
    }
    assert!(
        schemas["NotificationKind"]["enum"]
            .as_array()
            .unwrap()
            .contains(&"checkpoint".into()),
        "{}",
        schemas["NotificationKind"]
    );

    // The outbox page lists it, with no procedure to link to.
    let client = server.client_from("127.0.0.1");
    let session = server.session(&client, &admin, "").await;
    let page = client
        .get(format!("{}/outbox", server.base))
        .header("Cookie", &session)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let line = page
        .split("<tr>")
        .find(|l| l.starts_with(&format!("<td>{}</td>", row["id"])))
        .unwrap_or_else(|| panic!("no line for the checkpoint email:\n{page}"));
    assert!(line.contains("<td>signed checkpoint</td>"), "{line}");
    assert!(line.contains("<td translate=\"no\">mfa</td>"), "{line}");
    assert!(!line.contains("/procedures/"), "{line}");
}
on_both!(a_checkpoint_email_is_an_outbox_row_about_no_procedure);
