//! Listings are paged by the database: a first page, the cursor continuing it with no
//! duplicates or gaps while procedures are inserted, the responsible institution filtered in SQL
//! (and its table filled in for procedures written before it existed), and a cursor the service
//! did not give out refused naming the parameter.

use accession::engine::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::Server;
use crate::on_both;
use crate::support::{TestDb, count, import_copies};

/// Starts `id` on copy `copy` of ETS 112 (see `import_copies`): one open procedure of a State per
/// convention.
async fn start(server: &Server, id: &str, copy: usize) {
    server
        .send(
            Method::POST,
            "/api/v1/procedures",
            Some(server.token("mfa", Role::Coordinator)),
            &[],
            Some(json!({"id": id, "state": "KG", "convention": format!("ets-112-{copy}")})),
        )
        .await
        .expect(StatusCode::CREATED);
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect()
}

async fn pages_continue_by_cursor_without_duplicates_or_gaps(db: &TestDb) {
    let server = Server::start(db).await;
    import_copies(&server.app, db.dir.path(), "ets-112", 8).await;
    for i in 0..6 {
        start(&server, &format!("m-{i:02}"), i).await;
    }
    let token = server.token("mfa", Role::Coordinator);
    let everything = ids(&server
        .get("/api/v1/procedures?limit=500", token)
        .await
        .expect(StatusCode::OK)
        .json());
    assert_eq!(everything.len(), 12);

    let first = server
        .get("/api/v1/procedures?limit=5", token)
        .await
        .expect(StatusCode::OK)
        .json();
    let mut seen = ids(&first);
    assert_eq!(seen, everything[..5]);
    let cursor = first["next_cursor"]
        .as_str()
        .expect("a next cursor")
        .to_string();
    let next = first["next"].as_str().expect("a next link").to_string();
    assert!(
        next.starts_with("/api/v1/procedures?") && next.contains("limit=5"),
        "{next}"
    );
    assert!(next.contains(&format!("cursor={cursor}")), "{next}");
    assert!(!cursor.contains(&seen[4]), "the cursor is opaque: {cursor}");

    // Inserted while paging: one before the cursor (not shown again, nothing shifts), one after
    // it (shown when reached).
    start(&server, "a-inserted", 6).await;
    start(&server, "zz-inserted", 7).await;
    let mut path = next;
    loop {
        let page = server.get(&path, token).await.expect(StatusCode::OK).json();
        let got = ids(&page);
        assert!(got.len() <= 5);
        seen.extend(got);
        match page["next"].as_str() {
            Some(next) => path = next.to_string(),
            None => {
                assert!(page["next_cursor"].is_null());
                break;
            }
        }
    }
    let mut expected = everything.clone();
    expected.push("zz-inserted".into());
    assert_eq!(
        seen, expected,
        "every procedure once, in order, the later insert included"
    );
}
on_both!(pages_continue_by_cursor_without_duplicates_or_gaps);

async fn a_cursor_not_given_out_is_refused_naming_it(db: &TestDb) {
    let server = Server::start(db).await;
    let token = server.token("mfa", Role::Coordinator);
    for bad in ["kg-ets-112", "zz", "6e6f", "%ff"] {
        let reply = server
            .get(&format!("/api/v1/procedures?cursor={bad}"), token)
            .await
            .expect(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(reply.problem("invalid-input")["field"], "cursor", "{bad}");
    }
    let reply = server
        .get("/api/v1/procedures?limit=0", token)
        .await
        .expect(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply.problem("invalid-input")["field"], "limit");
    // An empty cursor is no cursor: every list answers its first page.
    for list in ["/api/v1/procedures", "/api/v1/outbox", "/api/v1/timers"] {
        let first = server.get(list, token).await.expect(StatusCode::OK).json();
        let empty = server
            .get(&format!("{list}?cursor="), token)
            .await
            .expect(StatusCode::OK)
            .json();
        assert_eq!(empty, first, "{list}?cursor=");
    }
}
on_both!(a_cursor_not_given_out_is_refused_naming_it);

/// A stage no workflow has is a mistake to point out, not an empty list; a real one with nobody
/// at it is an empty list.
async fn an_unknown_stage_in_a_filter_is_refused_with_the_closest(db: &TestDb) {
    let server = Server::start(db).await;
    let token = server.token("mfa", Role::Coordinator);
    let reply = server
        .get("/api/v1/procedures?stage=legal_review", token)
        .await
        .expect(StatusCode::UNPROCESSABLE_ENTITY);
    let problem = reply.problem("invalid-input");
    assert_eq!(problem["field"], "stage");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .ends_with("did you mean `legal-review`?"),
        "{problem}"
    );
    let empty = server
        .get("/api/v1/procedures?stage=denounced", token)
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(ids(&empty), Vec::<String>::new());
}
on_both!(an_unknown_stage_in_a_filter_is_refused_with_the_closest);

/// The institution filter reads `procedure_responsibles`, rewritten when a stage is entered; rows
/// of procedures written before the table existed are filled in when the application opens.
/// What the auditor is shown for `institution=moj`.
async fn moj_list(server: &Server) -> Vec<String> {
    let path = "/api/v1/procedures?institution=moj&limit=500";
    let token = server.token("mfa", Role::Auditor);
    ids(&server.get(path, token).await.expect(StatusCode::OK).json())
}

async fn the_responsible_institution_is_kept_with_the_stage_and_backfilled(db: &TestDb) {
    let server = Server::start(db).await;
    let coordinator = server.token("mfa", Role::Coordinator);
    import_copies(&server.app, db.dir.path(), "ets-112", 1).await;
    start(&server, "m-resp", 0).await;
    assert!(
        !moj_list(&server).await.contains(&"m-resp".to_string()),
        "at assessment: the MFA's"
    );
    // Advanced to a stage the Ministry of Justice is responsible for: now it is listed there.
    server
        .act(
            "m-resp",
            "advance",
            coordinator,
            json!({"to": "legal-review"}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        count(
            &server.app,
            "SELECT COUNT(*) FROM procedure_responsibles WHERE procedure_id = 'm-resp' AND institution_id = 'moj'",
        )
        .await,
        1
    );
    let listed = moj_list(&server).await;
    let expected: Vec<String> = {
        let all = server
            .get("/api/v1/procedures?limit=500", coordinator)
            .await
            .expect(StatusCode::OK)
            .json();
        let mut mine = Vec::new();
        for item in all["items"].as_array().unwrap() {
            let id = item["id"].as_str().unwrap();
            let shown = server
                .get(&format!("/api/v1/procedures/{id}"), coordinator)
                .await
                .expect(StatusCode::OK)
                .json();
            let responsible = shown["responsible"].as_array().cloned().unwrap_or_default();
            if responsible.iter().any(|i| i == "moj") {
                mine.push(id.to_string());
            }
        }
        mine
    };
    assert!(listed.contains(&"m-resp".to_string()), "{listed:?}");
    assert_eq!(listed, expected);

    // As a database migrated from before the table: no rows, no record of the backfill.
    let conn = server.app.store_for_tests().connection();
    use sea_orm::ConnectionTrait;
    conn.execute_unprepared("DELETE FROM procedure_responsibles")
        .await
        .unwrap();
    conn.execute_unprepared("DELETE FROM backfills")
        .await
        .unwrap();
    assert!(moj_list(&server).await.is_empty());
    let server = server.restart(db).await;
    assert_eq!(
        moj_list(&server).await,
        listed,
        "filled in again on opening"
    );
    assert_eq!(
        count(&server.app, "SELECT COUNT(*) FROM backfills").await,
        1
    );
}
on_both!(the_responsible_institution_is_kept_with_the_stage_and_backfilled);

/// The outbox and the upcoming timers continue by a `Link: <…>; rel="next"` header, a row at a
/// time here, and give what one large page gives; a cursor not given out is refused.
async fn outbox_and_timers_continue_by_their_link_header(db: &TestDb) {
    let server = Server::start(db).await;
    let token = server.token("mfa", Role::Coordinator);
    for (list, whole) in [
        ("/api/v1/outbox?limit=1", "/api/v1/outbox?limit=500"),
        (
            "/api/v1/timers?limit=1&until=2030-01-01T00:00:00Z",
            "/api/v1/timers?limit=500&until=2030-01-01T00:00:00Z",
        ),
    ] {
        let everything = server.get(whole, token).await.expect(StatusCode::OK).json();
        let everything = everything.as_array().unwrap().clone();
        assert!(everything.len() >= 2, "{whole}: {everything:?}");
        let mut seen = Vec::new();
        let mut path = list.to_string();
        loop {
            let reply = server.get(&path, token).await.expect(StatusCode::OK);
            let rows = reply.json();
            assert_eq!(rows.as_array().unwrap().len(), 1, "{path}");
            seen.extend(rows.as_array().unwrap().iter().cloned());
            match reply.header("link") {
                Some(link) => {
                    path = link
                        .strip_prefix('<')
                        .and_then(|l| l.split_once(">; rel=\"next\""))
                        .map(|(p, _)| p.to_string())
                        .unwrap_or_else(|| panic!("a next link: {link}"));
                }
                None => break,
            }
        }
        assert_eq!(seen, everything, "{list}");
        let bad = format!("{list}&cursor=nothex");
        let reply = server
            .get(&bad, token)
            .await
            .expect(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(reply.problem("invalid-input")["field"], "cursor");
    }
}
on_both!(outbox_and_timers_continue_by_their_link_header);
