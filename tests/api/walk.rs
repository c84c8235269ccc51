//! A whole `coe-accession` procedure over HTTP, from the seminar to entry into force, each step by
//! the institution the workflow names, with the approvals it needs.

use accession::engine::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::Server;
use crate::on_both;
use crate::support::TestDb;

const ID: &str = "kg-ets-185-bis";

async fn step(server: &Server, who: &str, role: Role, verb: &str, body: Value) -> Value {
    let reply = server
        .act(ID, verb, server.token(who, role), body.clone())
        .await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "{who} {verb} {body}: {}",
        reply.text
    );
    reply.json()
}

async fn a_procedure_walks_from_the_seminar_to_entry_into_force(db: &TestDb) {
    let server = Server::start(db).await;
    let ministry = Role::Ministry;
    let mfa = server.token("mfa", Role::Coordinator).to_string();
    let started = server
        .send(
            Method::POST,
            "/api/v1/procedures",
            Some(&mfa),
            &[],
            Some(json!({"id": ID, "state": "KG", "convention": "ets-185", "comment": "After the Strasbourg seminar"})),
        )
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(
        started.header("location").as_deref(),
        Some("/api/v1/procedures/kg-ets-185-bis")
    );
    assert_eq!(started.json()["stage"], "assessment");

    step(
        &server,
        "mfa",
        Role::Coordinator,
        "advance",
        json!({"to": "legal-review"}),
    )
    .await;
    step(
        &server,
        "moj",
        ministry,
        "record",
        json!({"field": "compatibility_report", "value": "MoJ/2026/31"}),
    )
    .await;
    step(
        &server,
        "moj",
        ministry,
        "advance",
        json!({"to": "interagency-consultation"}),
    )
    .await;
    // Three of the four must approve before the Ministry of Justice may go on.
    let early = server
        .act(
            ID,
            "advance",
            server.token("moj", ministry),
            json!({"to": "request"}),
        )
        .await;
    assert_eq!(early.status, StatusCode::CONFLICT, "{}", early.text);
    assert_eq!(early.problem("approvals-missing")["status"], 409);
    for who in ["mia", "prosecutor-general", "supreme-court"] {
        step(
            &server,
            who,
            ministry,
            "approve",
            json!({"comment": format!("{who} agrees")}),
        )
        .await;
    }
    // A ministry that is not among the approvers is told so.
    let not_approver = server
        .act(
            ID,
            "approve",
            server.token("jogorku-kenesh", ministry),
            json!({}),
        )
        .await;
    assert_eq!(
        not_approver.status,
        StatusCode::FORBIDDEN,
        "{}",
        not_approver.text
    );
    step(
        &server,
        "moj",
        ministry,
        "advance",
        json!({"to": "request"}),
    )
    .await;
    step(
        &server,
        "embassy-france",
        ministry,
        "record",
        json!({"field": "request_date", "value": "2026-01-15"}),
    )
    .await;
    step(
        &server,
        "embassy-france",
        ministry,
        "advance",
        json!({"to": "consultation-of-parties"}),
    )
    .await;
    step(
        &server,
        "embassy-france",
        ministry,
        "advance",
        json!({"to": "invitation"}),
    )
    .await;
    let invited = step(
        &server,
        "mfa",
        Role::Coordinator,
        "record",
        json!({"field": "invitation_date", "value": "2026-03-10"}),
    )
    .await;
    // Valid five years from the day after the decision, as the Council of Europe counts.
    assert_eq!(invited["key_dates"]["invitation_expires_on"], "2031-03-11");
    step(
        &server,
        "mfa",
        Role::Coordinator,
        "advance",
        json!({"to": "parliament"}),
    )
    .await;
    step(
        &server,
        "jogorku-kenesh",
        ministry,
        "record",
        json!({"field": "law_adopted_date", "value": "2026-05-06"}),
    )
    .await;
    step(
        &server,
        "jogorku-kenesh",
        ministry,
        "advance",
        json!({"to": "signature-publication"}),
    )
    .await;
    step(
        &server,
        "presidential-administration",
        ministry,
        "record",
        json!({"field": "law_signed_date", "value": "2026-05-20"}),
    )
    .await;
    step(
        &server,
        "presidential-administration",
        ministry,
        "advance",
        json!({"to": "deposit"}),
    )
    .await;
    let deposited = step(
        &server,
        "embassy-france",
        ministry,
        "record",
        json!({"field": "deposit_date", "value": "2026-06-15"}),
    )
    .await;
    // Deposit in June: in force on the first day of October (three months, then the next month).
    assert_eq!(
        deposited["key_dates"]["entry_into_force_computed"],
        "2026-10-01"
    );
    step(
        &server,
        "embassy-france",
        ministry,
        "advance",
        json!({"to": "awaiting-entry-into-force"}),
    )
    .await;
    let party = step(
        &server,
        "mfa",
        Role::Coordinator,
        "advance",
        json!({"to": "party"}),
    )
    .await;
    assert_eq!(party["stage"], "party");

    // What the procedure says now, to the auditor: the right hands at each step.
    let history = server
        .get(
            &format!("/api/v1/procedures/{ID}/history"),
            server.token("mfa", Role::Auditor),
        )
        .await
        .expect(StatusCode::OK)
        .json();
    let steps: Vec<(String, String)> = history
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["command"] == "advance" || r["command"] == "approve")
        .map(|r| {
            (
                r["actor_institution"].as_str().unwrap().to_string(),
                r["to_stage"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = [
        ("mfa", "legal-review"),
        ("moj", "interagency-consultation"),
        ("mia", "interagency-consultation"),
        ("prosecutor-general", "interagency-consultation"),
        ("supreme-court", "interagency-consultation"),
        ("moj", "request"),
        ("embassy-france", "consultation-of-parties"),
        ("embassy-france", "invitation"),
        ("mfa", "parliament"),
        ("jogorku-kenesh", "signature-publication"),
        ("presidential-administration", "deposit"),
        ("embassy-france", "awaiting-entry-into-force"),
        ("mfa", "party"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(steps, expected);
    let verified = server
        .get(
            &format!("/api/v1/procedures/{ID}/history/verify"),
            server.token("mfa", Role::Auditor),
        )
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(verified["procedures"][0]["broken"], Value::Null);
    assert_eq!(
        verified["procedures"][0]["rows"].as_u64().unwrap() as usize,
        history.as_array().unwrap().len()
    );
}
on_both!(a_procedure_walks_from_the_seminar_to_entry_into_force);
