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
    ("post", "/api/v1/procedures/{id}/migrate"),
    ("get", "/api/v1/conventions/{id}/chart"),
    ("get", "/api/v1/states/{code}/chart"),
    ("post", "/api/v1/procedures/{id}/extend-invitation"),
    ("post", "/api/v1/procedures/{id}/extend-deadline"),
    ("post", "/api/v1/procedures/{id}/raise-objection"),
    ("post", "/api/v1/procedures/{id}/withdraw-objection"),
    ("get", "/api/v1/procedures/{id}/reservations"),
    ("post", "/api/v1/procedures/{id}/reserve"),
    ("post", "/api/v1/procedures/{id}/renew-reservation"),
    ("post", "/api/v1/procedures/{id}/modify-reservation"),
    ("post", "/api/v1/procedures/{id}/withdraw-reservation"),
    ("get", "/api/v1/procedures/{id}/history"),
    ("get", "/api/v1/procedures/{id}/history/verify"),
    ("get", "/api/v1/procedures/{id}/timers"),
    ("get", "/api/v1/workflows"),
    ("get", "/api/v1/workflows/{id}"),
    ("get", "/api/v1/workflows/{id}/diagram"),
    ("get", "/api/v1/conventions"),
    ("get", "/api/v1/institutions"),
    ("get", "/api/v1/states"),
    ("get", "/api/v1/outbox"),
    ("get", "/api/v1/outbox/{id}"),
    ("post", "/api/v1/outbox/{id}/retry"),
    ("get", "/api/v1/timers"),
    ("get", "/api/v1/audit/verify"),
    ("get", "/api/v1/audit/checkpoints"),
    ("get", "/api/v1/tokens"),
    ("post", "/api/v1/tokens"),
    ("delete", "/api/v1/tokens/{id}"),
    ("post", "/api/v1/tokens/{id}/feed-key"),
    ("post", "/api/v1/feed-key"),
    ("get", "/api/v1/accounts"),
    ("post", "/api/v1/accounts"),
    ("get", "/api/v1/accounts/{id}"),
    ("post", "/api/v1/accounts/{id}/disable"),
    ("post", "/api/v1/accounts/{id}/tokens"),
    ("get", "/api/v1/sessions"),
    ("delete", "/api/v1/sessions/{id}"),
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
        "sequence,at,effective_on,effective_approximate,retrospective,actor_institution,actor_role,actor_name,command,from_stage,to_stage,comment,payload,prev_hash,hash,hash_form,actor_account"
    );
    // One line per row (no comment in the demo spans lines), the hashes as in JSON.
    assert_eq!(lines.len(), rows.len() + 1);
    // Hash form 3; the demo's acts are Accession's and the operator's: no account.
    assert!(lines.last().unwrap().ends_with(&format!(
        "{},3,",
        rows.last().unwrap()["hash"].as_str().unwrap()
    )));
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

/// One operation of the document, as the test walks it.
struct Documented<'a> {
    method: Method,
    path: &'a str,
    op: &'a serde_json::Value,
}

impl Documented<'_> {
    fn label(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    fn documents(&self, status: StatusCode) -> bool {
        self.op["responses"]
            .get(status.as_str())
            .is_some_and(|r| r.is_object())
    }

    fn parameters(&self, location: &str) -> Vec<&str> {
        self.op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["in"] == location)
            .filter_map(|p| p["name"].as_str())
            .collect()
    }

    /// The path with `{id}` filled: a procedure and a workflow of the demo, or a number.
    fn concrete(&self, id: Option<&str>) -> String {
        let id = id.unwrap_or(if self.path.starts_with("/api/v1/procedures/") {
            "kg-ets-112"
        } else if self.path.starts_with("/api/v1/workflows/") {
            "coe-accession"
        } else {
            "1"
        });
        self.path.replace("{id}", id)
    }
}

/// A body each act and start would take, so that what is probed is the header, not the body.
fn fitting_body(path: &str) -> serde_json::Value {
    if path.starts_with("/api/v1/accounts/") && path.ends_with("/tokens") {
        return json!({"name": "probe"});
    }
    match path.rsplit('/').next().unwrap_or_default() {
        "advance" => json!({"to": "request"}),
        "record" => json!({"field": "compatibility_report", "value": "MoJ/2"}),
        "comment" => json!({"text": "seen"}),
        "suspend" | "withdraw" => json!({"reason": "a reason"}),
        "migrate" => json!({"to_version": 1}),
        "extend-invitation" => json!({"until": "2031-01-01", "decision": "CM/Del/Dec(2026)1"}),
        "extend-deadline" => json!({"until": "2031-01-01", "reason": "a reason"}),
        "raise-objection" => json!({"party": "FR", "text": "an objection"}),
        "withdraw-objection" => json!({"party": "FR"}),
        "reserve" => json!({"kind": "declaration", "article": "Art. 3(3)",
            "text": {"en": "a declaration"}, "made_at": "deposit", "made_on": "2024-04-22"}),
        "renew-reservation" => json!({"number": 1, "on": "2026-01-01"}),
        "modify-reservation" => {
            json!({"number": 1, "on": "2026-01-01", "text": {"en": "narrower"}})
        }
        "withdraw-reservation" => json!({"number": 1, "received_on": "2026-01-01"}),
        "procedures" => json!({"state": "KG", "convention": "ets-185", "id": "kg-new"}),
        "tokens" => json!({"institution": "moj", "role": "ministry", "name": "probe"}),
        "accounts" => json!({"name": "Probe", "email": "probe@moj.example.kg",
                             "institution": "moj", "role": "ministry"}),
        _ => json!({}),
    }
}

/// Each error an operation's inputs can bring — no token, a path that does not parse or names
/// nothing, an unknown query parameter, a body that is not JSON, does not parse, does not fit or
/// is too large, a write without `If-Match` or with a malformed one — is provoked, and its
/// status must be one the operation documents, as `application/problem+json` with the Problem
/// schema (and every error response documented must be such a problem).
async fn every_error_an_operation_can_answer_is_documented_as_a_problem(db: &TestDb) {
    // Every probe without a token or with a wrong one is an authentication failure: with the
    // default budget the address would be locked out (429) long before the last operation.
    let server = Server::start_with(db, |s| {
        s.server.auth_failures_burst = std::num::NonZeroU32::new(1_000_000).unwrap();
        s.server.auth_failures_per_minute = std::num::NonZeroU32::new(1_000_000).unwrap();
    })
    .await;
    let doc = server
        .send(Method::GET, "/api/openapi.json", None, &[], None)
        .await
        .expect(StatusCode::OK)
        .json();
    let admin = server.token("mfa", Role::Admin).to_string();
    let mut wrong = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let secured = op
                .get("security")
                .is_none_or(|s| s.as_array().unwrap().iter().any(|r| r != &json!({})));
            let d = Documented {
                method: Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(),
                path,
                op,
            };
            // What the document says of its errors.
            for (status, response) in op["responses"].as_object().unwrap() {
                if status.as_str() < "400" {
                    continue;
                }
                let content = response["content"].as_object();
                let media: Vec<&String> = content.into_iter().flat_map(|c| c.keys()).collect();
                if media != ["application/problem+json"]
                    || response["content"]["application/problem+json"]["schema"]["$ref"]
                        != "#/components/schemas/Problem"
                {
                    wrong.push(format!(
                        "{}: {status} is documented as {media:?}",
                        d.label()
                    ));
                }
            }
            let mut always = vec![
                StatusCode::INTERNAL_SERVER_ERROR,
                StatusCode::SERVICE_UNAVAILABLE,
            ];
            if secured {
                // 429: the answer to too many failed authentications.
                always.extend([StatusCode::UNAUTHORIZED, StatusCode::TOO_MANY_REQUESTS]);
            }
            for status in always {
                if !d.documents(status) {
                    wrong.push(format!("{}: {status} is not documented", d.label()));
                }
            }

            // What the server answers, provoked input by input.
            let mut probes: Vec<(&str, StatusCode, crate::harness::Reply)> = Vec::new();
            let has_body = op.get("requestBody").is_some();
            let body = has_body.then(|| fitting_body(path));
            let send =
                |path: String, token: Option<String>, headers: Vec<(&'static str, String)>| {
                    let method = d.method.clone();
                    let body = body.clone();
                    let server = &server;
                    async move {
                        let headers: Vec<(&str, &str)> =
                            headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
                        server
                            .send(method, &path, token.as_deref(), &headers, body)
                            .await
                    }
                };
            let if_match: Vec<(&'static str, String)> =
                if d.parameters("header").contains(&"If-Match") {
                    vec![("If-Match", "\"999\"".to_string())]
                } else {
                    vec![]
                };
            if secured {
                let reply = send(d.concrete(None), None, if_match.clone()).await;
                probes.push(("no token", StatusCode::UNAUTHORIZED, reply));
                let reply = send(
                    d.concrete(None),
                    Some("acc_unknown".into()),
                    if_match.clone(),
                )
                .await;
                probes.push(("an unknown token", StatusCode::UNAUTHORIZED, reply));
            }
            if path.contains("{id}") {
                let reply = send(
                    d.concrete(Some("Not%20An%20Id")),
                    Some(admin.clone()),
                    if_match.clone(),
                )
                .await;
                probes.push(("an id that does not parse", StatusCode::BAD_REQUEST, reply));
                let unknown = if path.starts_with("/api/v1/procedures/")
                    || path.starts_with("/api/v1/workflows/")
                {
                    "no-such-thing"
                } else {
                    "999999"
                };
                let reply = send(
                    d.concrete(Some(unknown)),
                    Some(admin.clone()),
                    if_match.clone(),
                )
                .await;
                probes.push(("an id that names nothing", StatusCode::NOT_FOUND, reply));
            }
            if !d.parameters("query").is_empty() {
                let reply = send(
                    format!("{}?no_such_parameter=1", d.concrete(None)),
                    Some(admin.clone()),
                    if_match.clone(),
                )
                .await;
                probes.push(("an unknown query parameter", StatusCode::BAD_REQUEST, reply));
            }
            if d.parameters("header").contains(&"If-Match") {
                let reply = send(d.concrete(None), Some(admin.clone()), vec![]).await;
                probes.push(("no If-Match", StatusCode::PRECONDITION_REQUIRED, reply));
                let reply = send(
                    d.concrete(None),
                    Some(admin.clone()),
                    vec![("If-Match", "*".into())],
                )
                .await;
                probes.push(("a malformed If-Match", StatusCode::BAD_REQUEST, reply));
            }
            if has_body {
                let raw = |content_type: &'static str, bytes: Vec<u8>| {
                    let mut headers = vec![("Content-Type", content_type)];
                    let tag = "\"999\"";
                    if !if_match.is_empty() {
                        headers.push(("If-Match", tag));
                    }
                    let path = d.concrete(None);
                    let method = d.method.clone();
                    let token = admin.clone();
                    let server = &server;
                    async move {
                        server
                            .send_bytes(method, &path, Some(&token), &headers, bytes)
                            .await
                    }
                };
                let reply = raw("text/plain", b"hello".to_vec()).await;
                probes.push((
                    "a body that is not JSON",
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    reply,
                ));
                let reply = raw("application/json", b"{".to_vec()).await;
                probes.push(("JSON that does not parse", StatusCode::BAD_REQUEST, reply));
                let reply = raw("application/json", br#"{"no_such_field": 1}"#.to_vec()).await;
                probes.push((
                    "JSON that does not fit",
                    StatusCode::UNPROCESSABLE_ENTITY,
                    reply,
                ));
                let reply = raw("application/json", vec![b' '; 70 * 1024]).await;
                probes.push((
                    "a body over the limit",
                    StatusCode::PAYLOAD_TOO_LARGE,
                    reply,
                ));
            }
            for (what, expected, reply) in probes {
                // Failed authentications may be throttled: 429 is then as right as 401.
                let throttled = expected == StatusCode::UNAUTHORIZED
                    && reply.status == StatusCode::TOO_MANY_REQUESTS;
                if reply.status != expected && !throttled {
                    wrong.push(format!(
                        "{}: {what} is answered {}, not {expected}: {}",
                        d.label(),
                        reply.status,
                        reply.text
                    ));
                }
                if !d.documents(reply.status) {
                    wrong.push(format!(
                        "{}: {what} is answered {}, which is not documented",
                        d.label(),
                        reply.status
                    ));
                }
                if reply.header("content-type").as_deref() != Some("application/problem+json") {
                    wrong.push(format!(
                        "{}: {what} is answered as {:?}",
                        d.label(),
                        reply.header("content-type")
                    ));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} mismatch(es):\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}
on_both!(every_error_an_operation_can_answer_is_documented_as_a_problem);

/// The success answers as served: history in JSON by default and in CSV when asked, a start's
/// 201 with its ETag and Location, an act's ETag.
async fn the_document_describes_the_success_answers_as_served(db: &TestDb) {
    let server = Server::start(db).await;
    let doc = server
        .send(Method::GET, "/api/openapi.json", None, &[], None)
        .await
        .expect(StatusCode::OK)
        .json();
    let paths = &doc["paths"];
    let history = &paths["/api/v1/procedures/{id}/history"]["get"]["responses"]["200"]["content"];
    assert!(history.get("application/json").is_some(), "{history}");
    assert!(history.get("text/csv").is_some(), "{history}");
    let start = &paths["/api/v1/procedures"]["post"]["responses"]["201"];
    for header in ["ETag", "Location"] {
        assert!(start["headers"].get(header).is_some(), "{start}");
    }
    let advance = &paths["/api/v1/procedures/{id}/advance"]["post"]["responses"]["200"];
    assert!(advance["headers"].get("ETag").is_some(), "{advance}");
    // The links name their target by operationId, which exists.
    let ids: BTreeSet<&str> = paths
        .as_object()
        .unwrap()
        .values()
        .flat_map(|item| item.as_object().unwrap().values())
        .filter_map(|op| op["operationId"].as_str())
        .collect();
    let links = start["links"].as_object().expect("links from a start");
    assert!(links.contains_key("show"), "{links:?}");
    for link in links.values() {
        let target = link["operationId"].as_str().expect("an operationId");
        assert!(ids.contains(target), "{target}");
    }
    // The default is JSON, as documented first.
    let auditor = server.token("mfa", Role::Auditor);
    let plain = server
        .get("/api/v1/procedures/kg-ets-112/history", auditor)
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        plain.header("content-type").as_deref(),
        Some("application/json")
    );
}
on_both!(the_document_describes_the_success_answers_as_served);
