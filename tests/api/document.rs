//! The OpenAPI document against the routes, the probes, the metrics and the history exports.

use std::collections::BTreeSet;

use accession::engine::Role;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::harness::Server;
use crate::on_both;
use crate::support::TestDb;

/// Every operation the API has. Adding a route without documenting it, or documenting one that
/// is not routed, fails `the_openapi_document_and_the_routes_agree`.
const OPERATIONS: &[(&str, &str)] = &[
    ("get", "/api/v1/procedures"),
    ("post", "/api/v1/procedures"),
    ("get", "/api/v1/procedures/{id}"),
    ("post", "/api/v1/procedures/{id}/advance"),
    ("post", "/api/v1/procedures/{id}/approve"),
    ("post", "/api/v1/procedures/{id}/record"),
    ("post", "/api/v1/procedures/{id}/comment"),
    ("post", "/api/v1/procedures/{id}/suspend"),
    ("post", "/api/v1/procedures/{id}/resume"),
    ("post", "/api/v1/procedures/{id}/withdraw"),
    ("get", "/api/v1/procedures/{id}/history"),
    ("get", "/api/v1/procedures/{id}/history/verify"),
    ("get", "/api/v1/procedures/{id}/timers"),
    ("get", "/api/v1/workflows"),
    ("get", "/api/v1/workflows/{id}"),
    ("get", "/api/v1/workflows/{id}/diagram"),
    ("get", "/api/v1/conventions"),
    ("get", "/api/v1/institutions"),
    ("get", "/api/v1/outbox"),
    ("get", "/api/v1/outbox/{id}"),
    ("post", "/api/v1/outbox/{id}/retry"),
    ("get", "/api/v1/timers"),
    ("get", "/api/v1/audit/verify"),
    ("get", "/api/v1/tokens"),
    ("post", "/api/v1/tokens"),
    ("delete", "/api/v1/tokens/{id}"),
    ("post", "/api/v1/tokens/{id}/feed-key"),
    ("post", "/api/v1/feed-key"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
];

async fn the_openapi_document_and_the_routes_agree(db: &TestDb) {
    let server = Server::start(db).await;
    let doc = server
        .send(Method::GET, "/api/openapi.json", None, &[], None)
        .await
        .expect(StatusCode::OK)
        .json();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            assert!(
                op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                "{method} {path}"
            );
            documented.insert((method.clone(), path.clone()));
        }
    }
    let expected: BTreeSet<(String, String)> = OPERATIONS
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(
        documented, expected,
        "the document and the list of operations differ"
    );
    // Every documented operation is routed: asked (as the admin), the server never answers that
    // there is no such route or method.
    let admin = server.token("mfa", Role::Admin).to_string();
    for (method, path) in OPERATIONS {
        let concrete = path
            .replace("/procedures/{id}", "/procedures/kg-ets-112")
            .replace("/workflows/{id}", "/workflows/coe-accession")
            .replace("{id}", "999999");
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let body = (method == Method::POST).then(|| json!({}));
        let reply = server
            .send(method.clone(), &concrete, Some(&admin), &[], body)
            .await;
        assert_ne!(
            reply.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {concrete}"
        );
        if reply.status == StatusCode::NOT_FOUND {
            let p = reply.json();
            assert!(
                !p["detail"]
                    .as_str()
                    .unwrap_or_default()
                    .starts_with("there is no resource"),
                "{method} {concrete} is documented but not routed"
            );
        }
    }
    // The security scheme is declared.
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
}
on_both!(the_openapi_document_and_the_routes_agree);

async fn probes_and_metrics_answer_without_a_token(db: &TestDb) {
    let server = Server::start(db).await;
    server
        .send(Method::GET, "/healthz", None, &[], None)
        .await
        .expect(StatusCode::OK);
    let ready = server
        .send(Method::GET, "/readyz", None, &[], None)
        .await
        .expect(StatusCode::OK);
    assert_eq!(ready.json()["status"], "ready");
    // An act and a refusal show in the metrics (the demo's own replay is counted too: compare).
    let value = |text: &str, series: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
            .unwrap_or(0.0)
    };
    let entered = "accession_transitions_total{workflow=\"coe-accession\",stage=\"interagency-consultation\"}";
    let refused = "accession_refusals_total{kind=\"approvals-missing\"}";
    let before = server
        .send(Method::GET, "/metrics", None, &[], None)
        .await
        .expect(StatusCode::OK);
    server
        .act(
            "kg-cets-210",
            "record",
            server.token("moj", Role::Ministry),
            json!({"field": "compatibility_report", "value": "MoJ/1"}),
        )
        .await
        .expect(StatusCode::OK);
    server
        .act(
            "kg-cets-210",
            "advance",
            server.token("moj", Role::Ministry),
            json!({"to": "interagency-consultation"}),
        )
        .await
        .expect(StatusCode::OK);
    server
        .act(
            "kg-cets-210",
            "advance",
            server.token("moj", Role::Ministry),
            json!({"to": "request"}),
        )
        .await
        .expect(StatusCode::CONFLICT);
    let metrics = server
        .send(Method::GET, "/metrics", None, &[], None)
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        value(&metrics.text, entered) - value(&before.text, entered),
        1.0
    );
    assert_eq!(
        value(&metrics.text, refused) - value(&before.text, refused),
        1.0
    );
    for needle in [
        "accession_outbox_rows{kind=\"pending\"}",
        "accession_timers_due ",
        "accession_http_request_seconds_count{method=\"POST\",route=\"/api/v1/procedures/{id}/advance\",status=\"200\"} 1",
    ] {
        assert!(
            metrics.text.contains(needle),
            "missing {needle} in\n{}",
            metrics.text
        );
    }
}
on_both!(probes_and_metrics_answer_without_a_token);

async fn history_exports_as_json_and_csv_and_verifies(db: &TestDb) {
    let server = Server::start(db).await;
    let auditor = server.token("mfa", Role::Auditor).to_string();
    let json = server
        .get("/api/v1/procedures/kg-ets-112/history", &auditor)
        .await
        .expect(StatusCode::OK)
        .json();
    let rows = json.as_array().unwrap();
    assert!(rows.len() > 10);
    let csv = server
        .get("/api/v1/procedures/kg-ets-112/history?format=csv", &auditor)
        .await
        .expect(StatusCode::OK);
    assert!(csv.header("content-type").unwrap().starts_with("text/csv"));
    let lines: Vec<&str> = csv.text.lines().collect();
    assert_eq!(
        lines[0],
        "sequence,at,actor_institution,actor_role,actor_name,command,from_stage,to_stage,comment,payload,prev_hash,hash"
    );
    // One line per row (no comment in the demo spans lines), the hashes as in JSON.
    assert_eq!(lines.len(), rows.len() + 1);
    assert!(
        lines
            .last()
            .unwrap()
            .ends_with(rows.last().unwrap()["hash"].as_str().unwrap())
    );
    let by_accept = server
        .send(
            Method::GET,
            "/api/v1/procedures/kg-ets-112/history",
            Some(&auditor),
            &[("Accept", "text/csv")],
            None,
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(by_accept.text, csv.text);
    let all = server
        .get("/api/v1/audit/verify", &auditor)
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(all["procedures"].as_array().unwrap().len(), 6);
    assert!(
        all["procedures"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["broken"].is_null())
    );
    // What a procedure shows: its ETag, and the acts the caller may do now.
    let shown = server
        .get(
            "/api/v1/procedures/kg-cets-210",
            server.token("moj", Role::Ministry),
        )
        .await
        .expect(StatusCode::OK);
    assert!(shown.header("etag").is_some());
    let acts: Vec<String> = shown.json()["allowed_acts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            format!(
                "{}{}",
                a["act"].as_str().unwrap(),
                a["field"]
                    .as_str()
                    .map(|f| format!(" {f}"))
                    .unwrap_or_default()
            )
        })
        .collect();
    assert!(
        acts.contains(&"record compatibility_report".to_string()),
        "{acts:?}"
    );
    assert!(acts.contains(&"comment".to_string()), "{acts:?}");
    assert!(
        !acts
            .iter()
            .any(|a| a == "suspend" || a.starts_with("advance")),
        "{acts:?}"
    );
    let for_auditor = server
        .get("/api/v1/procedures/kg-cets-210", &auditor)
        .await
        .expect(StatusCode::OK);
    assert_eq!(for_auditor.json()["allowed_acts"], json!([]));
}
on_both!(history_exports_as_json_and_csv_and_verifies);
