//! Who may do what, over HTTP: each role's allowed and refused acts, and authentication.

use accession::engine::Role;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::harness::Server;
use crate::on_both;
use crate::support::TestDb;

/// One row of the matrix: who, what, and the status expected.
struct Case {
    who: (&'static str, Role),
    method: Method,
    path: &'static str,
    body: Option<serde_json::Value>,
    expect: StatusCode,
}

async fn each_role_may_do_what_its_role_allows_and_is_told_why_otherwise(db: &TestDb) {
    let server = Server::start(db).await;
    let c = |who, method, path, body, expect| Case {
        who,
        method,
        path,
        body,
        expect,
    };
    let mfa = ("mfa", Role::Coordinator);
    let auditor = ("mfa", Role::Auditor);
    let admin = ("mfa", Role::Admin);
    let moj = ("moj", Role::Ministry);
    let mia = ("mia", Role::Ministry);
    let bar = ("bar-training-centre", Role::Ministry);
    let cases = [
        // Reading.
        c(
            moj,
            Method::GET,
            "/api/v1/procedures/kg-cets-210",
            None,
            StatusCode::OK,
        ),
        c(
            auditor,
            Method::GET,
            "/api/v1/procedures/kg-cets-210",
            None,
            StatusCode::OK,
        ),
        // An institution the workflow gives no part sees nothing of it.
        c(
            bar,
            Method::GET,
            "/api/v1/procedures/kg-cets-210",
            None,
            StatusCode::NOT_FOUND,
        ),
        c(
            auditor,
            Method::GET,
            "/api/v1/audit/verify",
            None,
            StatusCode::OK,
        ),
        c(
            moj,
            Method::GET,
            "/api/v1/audit/verify",
            None,
            StatusCode::FORBIDDEN,
        ),
        c(mfa, Method::GET, "/api/v1/outbox", None, StatusCode::OK),
        c(
            moj,
            Method::GET,
            "/api/v1/outbox",
            None,
            StatusCode::FORBIDDEN,
        ),
        c(
            auditor,
            Method::GET,
            "/api/v1/outbox",
            None,
            StatusCode::FORBIDDEN,
        ),
        c(auditor, Method::GET, "/api/v1/timers", None, StatusCode::OK),
        c(
            moj,
            Method::GET,
            "/api/v1/timers",
            None,
            StatusCode::FORBIDDEN,
        ),
        // Tokens are the admin's.
        c(admin, Method::GET, "/api/v1/tokens", None, StatusCode::OK),
        c(
            mfa,
            Method::GET,
            "/api/v1/tokens",
            None,
            StatusCode::FORBIDDEN,
        ),
        // Acts: the Ministry of Justice owns legal review; the Ministry of Internal Affairs does not.
        c(
            mia,
            Method::POST,
            "/api/v1/procedures/kg-cets-210/record",
            Some(json!({"field": "compatibility_report", "value": "MIA/1"})),
            StatusCode::FORBIDDEN,
        ),
        c(
            auditor,
            Method::POST,
            "/api/v1/procedures/kg-cets-210/comment",
            Some(json!({"text": "I read everything"})),
            StatusCode::FORBIDDEN,
        ),
        c(
            moj,
            Method::POST,
            "/api/v1/procedures/kg-cets-210/record",
            Some(json!({"field": "compatibility_report", "value": "MoJ/2026/17"})),
            StatusCode::OK,
        ),
        c(
            mia,
            Method::POST,
            "/api/v1/procedures/kg-cets-210/advance",
            Some(json!({"to": "interagency-consultation"})),
            StatusCode::FORBIDDEN,
        ),
        c(
            moj,
            Method::POST,
            "/api/v1/procedures/kg-cets-210/suspend",
            Some(json!({"reason": "no"})),
            StatusCode::FORBIDDEN,
        ),
        c(
            moj,
            Method::POST,
            "/api/v1/procedures/kg-cets-210/advance",
            Some(json!({"to": "interagency-consultation"})),
            StatusCode::OK,
        ),
        // The coordinator may do every act, in every procedure.
        c(
            mfa,
            Method::POST,
            "/api/v1/procedures/kg-ets-185/comment",
            Some(json!({"text": "Reviewed at the weekly meeting."})),
            StatusCode::OK,
        ),
        c(
            mfa,
            Method::POST,
            "/api/v1/procedures/kg-ets-185/suspend",
            Some(json!({"reason": "awaiting the new criminal code"})),
            StatusCode::OK,
        ),
        c(
            moj,
            Method::POST,
            "/api/v1/procedures",
            Some(json!({"state": "KG", "convention": "ets-112", "id": "kg-ets-112-bis"})),
            StatusCode::FORBIDDEN,
        ),
        c(
            mfa,
            Method::POST,
            "/api/v1/procedures",
            Some(json!({"state": "KG", "convention": "ets-112", "id": "kg-ets-112-bis"})),
            StatusCode::CREATED,
        ),
    ];
    for case in cases {
        let token = server.token(case.who.0, case.who.1).to_string();
        let id = case.path.split('/').nth(4).unwrap_or_default().to_string();
        let before = if case.method == Method::POST && !id.is_empty() {
            Some(server.history_len(&id).await)
        } else {
            None
        };
        let mut headers = Vec::new();
        let etag;
        if case.method == Method::POST && !id.is_empty() {
            etag = server.etag(&id).await;
            headers.push(("If-Match", etag.as_str()));
        }
        let reply = server
            .send(
                case.method.clone(),
                case.path,
                Some(&token),
                &headers,
                case.body.clone(),
            )
            .await;
        assert_eq!(
            reply.status, case.expect,
            "{} as {} {}: {}",
            case.method, case.who.0, case.path, reply.text
        );
        if reply.status == StatusCode::FORBIDDEN {
            let p = reply.problem("not-allowed");
            assert!(
                p["detail"].as_str().unwrap().len() > 20,
                "a 403 says why: {p}"
            );
            if let Some(before) = before {
                assert_eq!(
                    server.history_len(&id).await,
                    before,
                    "a refusal writes nothing"
                );
            }
        }
    }
    // Every act is recorded with the token's institution and name.
    let history = server
        .get(
            "/api/v1/procedures/kg-cets-210/history",
            server.token("mfa", Role::Auditor),
        )
        .await
        .expect(StatusCode::OK)
        .json();
    let last = history.as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["actor_institution"], "moj");
    assert_eq!(last["actor_role"], "ministry");
    assert_eq!(last["actor_name"], "moj ministry");
    assert_eq!(last["command"], "advance");
}
on_both!(each_role_may_do_what_its_role_allows_and_is_told_why_otherwise);

async fn a_ministry_lists_only_the_procedures_it_takes_part_in(db: &TestDb) {
    let server = Server::start(db).await;
    let all = server
        .get("/api/v1/procedures", server.token("mfa", Role::Coordinator))
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(all["items"].as_array().unwrap().len(), 6);
    let none = server
        .get(
            "/api/v1/procedures",
            server.token("bar-training-centre", Role::Ministry),
        )
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(none["items"].as_array().unwrap().len(), 0);
    // Pages of two, by id, with a cursor.
    let mut ids = Vec::new();
    let mut path = "/api/v1/procedures?limit=2".to_string();
    loop {
        let page = server
            .get(&path, server.token("moj", Role::Ministry))
            .await
            .expect(StatusCode::OK)
            .json();
        for item in page["items"].as_array().unwrap() {
            ids.push(item["id"].as_str().unwrap().to_string());
        }
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/procedures?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted);
    assert_eq!(ids.len(), 6);
    // Filters: overdue, and the institution that must act.
    let overdue = server
        .get(
            "/api/v1/procedures?overdue=true&institution=moj",
            server.token("mfa", Role::Coordinator),
        )
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(overdue["items"].as_array().unwrap().len(), 5);
    let bad = server
        .get(
            "/api/v1/procedures?status=sleeping",
            server.token("mfa", Role::Coordinator),
        )
        .await
        .expect(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.problem("invalid-input")["field"], "status");
    let unknown = server
        .get(
            "/api/v1/procedures?colour=blue",
            server.token("mfa", Role::Coordinator),
        )
        .await
        .expect(StatusCode::BAD_REQUEST);
    assert_eq!(unknown.problem("invalid-input")["field"], "colour");
}
on_both!(a_ministry_lists_only_the_procedures_it_takes_part_in);

async fn unknown_and_revoked_tokens_are_refused_with_401(db: &TestDb) {
    let server = Server::start(db).await;
    let path = "/api/v1/procedures";
    let none = server.send(Method::GET, path, None, &[], None).await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    none.problem("unauthenticated");
    assert!(
        none.header("www-authenticate")
            .unwrap()
            .starts_with("Bearer")
    );
    let forged = server
        .get(
            path,
            "acc_0000000000000000000000000000000000000000000000000000000000000000",
        )
        .await;
    assert_eq!(forged.status, StatusCode::UNAUTHORIZED);
    // The admin creates a token, it works, the admin revokes it, it no longer does.
    let admin = server.token("mfa", Role::Admin).to_string();
    let created = server
        .send(
            Method::POST,
            "/api/v1/tokens",
            Some(&admin),
            &[],
            Some(json!({"institution": "moj", "role": "ministry", "name": "registry clerk"})),
        )
        .await
        .expect(StatusCode::CREATED)
        .json();
    let token = created["token"].as_str().unwrap().to_string();
    server.get(path, &token).await.expect(StatusCode::OK);
    let id = created["id"].as_i64().unwrap();
    server
        .send(
            Method::DELETE,
            &format!("/api/v1/tokens/{id}"),
            Some(&admin),
            &[],
            None,
        )
        .await
        .expect(StatusCode::OK);
    server
        .get(path, &token)
        .await
        .expect(StatusCode::UNAUTHORIZED)
        .problem("unauthenticated");
    // The list never shows a token, only its prefix.
    let list = server
        .get("/api/v1/tokens", &admin)
        .await
        .expect(StatusCode::OK);
    assert!(!list.text.contains(&token));
}
on_both!(unknown_and_revoked_tokens_are_refused_with_401);

/// A role that may not read a list is refused before its query is looked at: 403 whatever it
/// sends, so a refused caller learns nothing from validation; one that may is told what is wrong.
async fn a_refused_role_is_refused_before_its_query_is_read(db: &TestDb) {
    let server = Server::start(db).await;
    let moj = server.token("moj", Role::Ministry).to_string();
    let mfa = server.token("mfa", Role::Coordinator).to_string();
    for list in [
        "/api/v1/outbox",
        "/api/v1/timers",
        "/api/v1/audit/checkpoints",
    ] {
        for (query, invalid) in [
            ("cursor=zz", StatusCode::UNPROCESSABLE_ENTITY),
            ("limit=0", StatusCode::UNPROCESSABLE_ENTITY),
            ("nonsense=1", StatusCode::BAD_REQUEST),
        ] {
            let path = format!("{list}?{query}");
            server
                .get(&path, &moj)
                .await
                .expect(StatusCode::FORBIDDEN)
                .problem("not-allowed");
            let reply = server.get(&path, &mfa).await;
            assert_eq!(reply.status, invalid, "{path}");
        }
    }
}
on_both!(a_refused_role_is_refused_before_its_query_is_read);
