//! Free text with control characters: refused with a 422 naming the field, the same on SQLite and
//! PostgreSQL (which cannot store NUL at all), and nothing written.

use accession::engine::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::Server;
use crate::on_both;
use crate::support::TestDb;

const NUL: &str = "a\u{0}b";

async fn control_characters_in_free_text_are_refused_naming_the_field_and_write_nothing(
    db: &TestDb,
) {
    let server = Server::start(db).await;
    let moj = server.token("moj", Role::Ministry).to_string();
    let mfa = server.token("mfa", Role::Coordinator).to_string();
    // (who, procedure, act, body, the field the problem names, the problem's kind)
    let cases: [(&str, &str, &str, Value, &str, &str); 12] = [
        (
            &moj,
            "kg-cets-210",
            "comment",
            json!({"text": NUL}),
            "text",
            "invalid-input",
        ),
        (
            &moj,
            "kg-cets-210",
            "advance",
            json!({"to": "interagency-consultation", "comment": NUL}),
            "comment",
            "invalid-input",
        ),
        (
            &moj,
            "kg-cets-210",
            "record",
            json!({"field": "compatibility_report", "value": NUL}),
            "compatibility_report",
            "field-invalid",
        ),
        (
            &moj,
            "kg-cets-210",
            "record",
            json!({"field": "compatibility_report", "value": "MoJ/2026/17", "comment": NUL}),
            "comment",
            "invalid-input",
        ),
        (
            &mfa,
            "kg-cets-210",
            "record",
            json!({"field": "deposit_date", "value": "2024-04-22\u{0}"}),
            "deposit_date",
            "field-invalid",
        ),
        (
            &mfa,
            "kg-ets-185",
            "suspend",
            json!({"reason": NUL}),
            "reason",
            "invalid-input",
        ),
        (
            &mfa,
            "kg-ets-185",
            "withdraw",
            json!({"reason": NUL}),
            "reason",
            "invalid-input",
        ),
        (
            &mfa,
            "kg-ets-185",
            "approve",
            json!({"comment": NUL}),
            "comment",
            "invalid-input",
        ),
        // Not NUL alone: escape sequences, DEL, a C1 control, a carriage return on its own.
        (
            &moj,
            "kg-cets-210",
            "comment",
            json!({"text": "\u{1b}[2Jall clear"}),
            "text",
            "invalid-input",
        ),
        (
            &moj,
            "kg-cets-210",
            "comment",
            json!({"text": "a\u{7f}"}),
            "text",
            "invalid-input",
        ),
        (
            &moj,
            "kg-cets-210",
            "comment",
            json!({"text": "a\u{9b}"}),
            "text",
            "invalid-input",
        ),
        (
            &moj,
            "kg-cets-210",
            "comment",
            json!({"text": "a\rb"}),
            "text",
            "invalid-input",
        ),
    ];
    for (token, id, verb, body, field, kind) in cases {
        let etag = server.etag(id).await;
        let rows = server.history_len(id).await;
        let reply = server.act(id, verb, token, body.clone()).await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{verb} {body}: {}",
            reply.text
        );
        let p = reply.problem(kind);
        assert_eq!(p["field"], field, "{verb} {body}: {p}");
        let detail = p["detail"].as_str().unwrap();
        assert!(
            detail.contains("control character U+"),
            "{verb} {body}: {p}"
        );
        assert!(
            !detail.chars().any(char::is_control),
            "the detail repeats the character: {p}"
        );
        assert_eq!(
            server.etag(id).await,
            etag,
            "{verb} {body}: the version moved"
        );
        assert_eq!(
            server.history_len(id).await,
            rows,
            "{verb} {body}: history grew"
        );
    }

    // Starting a procedure with such a comment starts nothing.
    let reply = server
        .send(
            Method::POST,
            "/api/v1/procedures",
            Some(&mfa),
            &[],
            Some(json!({"state": "KG", "convention": "ets-112", "id": "kg-ets-112-bis", "comment": NUL})),
        )
        .await
        .expect(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply.problem("invalid-input")["field"], "comment");
    server
        .get("/api/v1/procedures/kg-ets-112-bis", &mfa)
        .await
        .expect(StatusCode::NOT_FOUND);

    // A token's name is free text too, and history shows it as the actor's name.
    let admin = server.token("mfa", Role::Admin).to_string();
    let tokens = server.get("/api/v1/tokens", &admin).await.json();
    let reply = server
        .send(
            Method::POST,
            "/api/v1/tokens",
            Some(&admin),
            &[],
            Some(json!({"institution": "moj", "role": "ministry", "name": NUL})),
        )
        .await
        .expect(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply.problem("invalid-input")["field"], "name");
    assert_eq!(server.get("/api/v1/tokens", &admin).await.json(), tokens);

    // Tabs and line breaks are text: kept, a CR LF as a line feed, and the CSV export holds
    // nothing else.
    server
        .act(
            "kg-cets-210",
            "comment",
            &moj,
            json!({"text": "Articles:\t5, 7\r\nsee the annex"}),
        )
        .await
        .expect(StatusCode::OK);
    let history = server
        .get("/api/v1/procedures/kg-cets-210/history", &mfa)
        .await
        .expect(StatusCode::OK)
        .json();
    let last = history.as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["comment"], "Articles:\t5, 7\nsee the annex");
    let csv = server
        .get("/api/v1/procedures/kg-cets-210/history?format=csv", &mfa)
        .await
        .expect(StatusCode::OK)
        .text;
    assert!(
        !csv.chars()
            .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r')),
        "{csv:?}"
    );
}
on_both!(control_characters_in_free_text_are_refused_naming_the_field_and_write_nothing);
