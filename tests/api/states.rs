//! Many States over HTTP: the registry is read at `/api/v1/states`; a start names a State of it,
//! with a workflow of that State's institutions, and one State has at most one open procedure on
//! a convention: a withdrawn one may be followed by a new one.

use accession::engine::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::Server;
use crate::on_both;
use crate::support::{TestDb, count};

async fn the_registry_lists_each_state_with_its_names_and_membership(db: &TestDb) {
    let server = Server::start(db).await;
    let moj = server.token("moj", Role::Ministry).to_string();
    let states = server
        .get("/api/v1/states", &moj)
        .await
        .expect(StatusCode::OK)
        .json();
    let by_code = |code: &str| -> Value {
        states
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["code"] == code)
            .cloned()
            .unwrap_or_else(|| panic!("{code} missing: {states}"))
    };
    let kg = by_code("KG");
    assert_eq!(kg["name"], "Kyrgyz Republic");
    assert_eq!(kg["name_ru"], "Кыргызская Республика");
    assert_eq!(kg["name_ky"], "Кыргыз Республикасы");
    assert_eq!(kg["coe_member"], false);
    assert_eq!(by_code("TN")["coe_member"], false);
    assert_eq!(by_code("FR")["coe_member"], true);
    // Each institution says whose it is.
    let institutions = server
        .get("/api/v1/institutions", &moj)
        .await
        .expect(StatusCode::OK)
        .json();
    let all = institutions.as_array().unwrap();
    assert!(!all.is_empty());
    assert!(all.iter().all(|i| i["state"] == "KG"), "{institutions}");
}
on_both!(the_registry_lists_each_state_with_its_names_and_membership);

async fn a_start_is_refused_for_an_unknown_state_a_foreign_one_or_a_second_open_one(db: &TestDb) {
    let server = Server::start(db).await;
    let mfa = server.token("mfa", Role::Coordinator).to_string();
    let before = count(&server.app, "SELECT COUNT(*) FROM procedures").await;
    let history = count(&server.app, "SELECT COUNT(*) FROM history").await;
    let start = |body: Value| {
        let mfa = mfa.clone();
        let server = &server;
        async move {
            server
                .send(
                    Method::POST,
                    "/api/v1/procedures",
                    Some(&mfa),
                    &[],
                    Some(body),
                )
                .await
        }
    };

    // `--state XX`: no State of the registry.
    let unknown = start(json!({"id": "xx-ets-112", "state": "XX", "convention": "ets-112"}))
        .await
        .expect(StatusCode::UNPROCESSABLE_ENTITY);
    let p = unknown.problem("invalid-input");
    assert_eq!(p["field"], "state", "{p}");
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("`XX` is not in the States registry"),
        "{p}"
    );
    // Tunisia is in the registry, but the workflow's institutions are Kyrgyzstan's.
    let foreign = start(json!({"id": "tn-ets-185", "state": "TN", "convention": "ets-185"}))
        .await
        .expect(StatusCode::UNPROCESSABLE_ENTITY);
    let p = foreign.problem("invalid-input");
    assert_eq!(p["field"], "state", "{p}");
    let detail = p["detail"].as_str().unwrap();
    assert!(
        detail.contains("not TN's") && detail.contains("`mfa` (KG)"),
        "{p}"
    );
    // A second open procedure of Kyrgyzstan on ETS 112 names the open one.
    let second = start(json!({"id": "kg-ets-112-again", "state": "KG", "convention": "ets-112"}))
        .await
        .expect(StatusCode::CONFLICT);
    let p = second.problem("conflict");
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("open procedure on `ets-112`: `kg-ets-112`"),
        "{p}"
    );
    // The open one's own id again is "already exists", not "already open".
    let again = start(json!({"id": "kg-ets-112", "state": "KG", "convention": "ets-112"}))
        .await
        .expect(StatusCode::CONFLICT);
    let p = again.problem("conflict");
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("`kg-ets-112` already exists"),
        "{p}"
    );
    assert_eq!(
        count(&server.app, "SELECT COUNT(*) FROM procedures").await,
        before
    );
    assert_eq!(
        count(&server.app, "SELECT COUNT(*) FROM history").await,
        history
    );

    // Withdrawn, it may be followed by a new one.
    let etag = server.etag("kg-ets-112").await;
    server
        .send(
            Method::POST,
            "/api/v1/procedures/kg-ets-112/withdraw",
            Some(&mfa),
            &[("If-Match", etag.as_str())],
            Some(json!({"reason": "Started again on the new request of the Ministry"})),
        )
        .await
        .expect(StatusCode::OK);
    start(json!({"id": "kg-ets-112-again", "state": "KG", "convention": "ets-112"}))
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(
        count(&server.app, "SELECT COUNT(*) FROM procedures").await,
        before + 1
    );
}
on_both!(a_start_is_refused_for_an_unknown_state_a_foreign_one_or_a_second_open_one);
