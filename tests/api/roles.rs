//! A role is tied to an institution: the coordinator and admin roles belong to the coordinating
//! institution, checked when a token is made and each time it is used; an admin runs the service
//! and does no act on a procedure; an import that would leave no coordinator, or two, is refused.

use accession::app::AppError;
use accession::engine::Role;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::harness::Server;
use crate::on_both;
use crate::support::{TestDb, import_copies};

async fn a_token_is_made_only_for_a_role_its_institution_may_hold(db: &TestDb) {
    let server = Server::start(db).await;
    let admin = server.token("mfa", Role::Admin).to_string();
    let count = || async {
        server
            .get("/api/v1/tokens", &admin)
            .await
            .expect(StatusCode::OK)
            .json()
            .as_array()
            .unwrap()
            .len()
    };
    // mfa is the seed's coordinating institution; the others are not.
    let table = [
        ("mfa", "coordinator", true),
        ("mfa", "admin", true),
        ("mfa", "auditor", true),
        ("mfa", "ministry", true),
        ("moj", "ministry", true),
        ("ombudsperson", "auditor", true),
        ("bar-training-centre", "ministry", true),
        ("bar-training-centre", "coordinator", false),
        ("moj", "coordinator", false),
        ("moj", "admin", false),
        ("embassy-france", "admin", false),
    ];
    for (institution, role, made) in table {
        let before = count().await;
        let reply = server
            .send(
                Method::POST,
                "/api/v1/tokens",
                Some(&admin),
                &[],
                Some(json!({"institution": institution, "role": role, "name": "table test"})),
            )
            .await;
        if made {
            assert_eq!(
                reply.status,
                StatusCode::CREATED,
                "{institution} {role}: {}",
                reply.text
            );
            assert_eq!(count().await, before + 1);
        } else {
            assert_eq!(
                reply.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{institution} {role}: {}",
                reply.text
            );
            let p = reply.problem("invalid-input");
            assert_eq!(p["field"], "role", "{p}");
            let detail = p["detail"].as_str().unwrap();
            assert!(
                detail.contains(&format!(
                    "the {role} role belongs to the coordinating institution (`mfa`)"
                )) && detail.contains(&format!("`{institution}` is not one")),
                "{p}"
            );
            assert_eq!(
                count().await,
                before,
                "{institution} {role}: a token was made"
            );
        }
    }
    // The application refuses it whoever asks (the CLI calls the same).
    let refused = server
        .app
        .create_token(
            &accession::engine::Actor::operator("cli:test"),
            &"bar-training-centre".parse().unwrap(),
            Role::Coordinator,
            "x",
        )
        .await
        .unwrap_err();
    let p = accession::http::Problem::from(refused);
    assert_eq!((p.status, p.field.as_deref()), (422, Some("role")), "{p:?}");
}
on_both!(a_token_is_made_only_for_a_role_its_institution_may_hold);

async fn an_admin_runs_the_service_and_does_no_act_on_a_procedure(db: &TestDb) {
    let server = Server::start(db).await;
    let admin = server.token("mfa", Role::Admin).to_string();
    // What the README gives it: tokens, the outbox, the timers, verification, reading.
    for path in [
        "/api/v1/tokens",
        "/api/v1/outbox",
        "/api/v1/timers",
        "/api/v1/audit/verify",
        "/api/v1/procedures/kg-ets-185",
    ] {
        server.get(path, &admin).await.expect(StatusCode::OK);
    }
    // No act: not even suspending, which `control.suspend = ["mfa"]` gives mfa's coordinator.
    for (id, verb, body) in [
        ("kg-ets-185", "suspend", json!({"reason": "maintenance"})),
        ("kg-ets-185", "withdraw", json!({"reason": "maintenance"})),
        ("kg-ets-185", "comment", json!({"text": "checking"})),
        (
            "kg-cets-210",
            "record",
            json!({"field": "compatibility_report", "value": "X/1"}),
        ),
        (
            "kg-cets-210",
            "advance",
            json!({"to": "interagency-consultation"}),
        ),
    ] {
        let etag = server.etag(id).await;
        let reply = server.act(id, verb, &admin, body).await;
        assert_eq!(
            reply.status,
            StatusCode::FORBIDDEN,
            "{verb}: {}",
            reply.text
        );
        let p = reply.problem("not-allowed");
        assert!(
            p["detail"]
                .as_str()
                .unwrap()
                .contains("does not act on procedures"),
            "{p}"
        );
        assert_eq!(
            server.etag(id).await,
            etag,
            "{verb} by the admin changed {id}"
        );
    }
    server
        .send(
            Method::POST,
            "/api/v1/procedures",
            Some(&admin),
            &[],
            Some(json!({"state": "KG", "convention": "ets-112", "id": "kg-ets-112-bis"})),
        )
        .await
        .expect(StatusCode::FORBIDDEN)
        .problem("not-allowed");
    // What it is offered matches: nothing.
    let shown = server
        .get("/api/v1/procedures/kg-ets-185", &admin)
        .await
        .json();
    assert_eq!(shown["allowed_acts"], json!([]), "{shown}");
}
on_both!(an_admin_runs_the_service_and_does_no_act_on_a_procedure);

/// The seed's institutions file with the coordinator flag moved from `mfa` to `moj`, or only
/// taken away.
fn seed_with(coordinator: Option<&str>) -> String {
    let seed = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/demo/institutions.toml"),
    )
    .unwrap();
    let without = seed.replace("coordinator = true\n", "");
    assert_ne!(without, seed);
    match coordinator {
        Some(id) => without.replace(
            &format!("id = \"{id}\"\n"),
            &format!("id = \"{id}\"\ncoordinator = true\n"),
        ),
        None => without,
    }
}

async fn a_token_whose_institution_no_longer_coordinates_is_refused_at_each_use(db: &TestDb) {
    let server = Server::start(db).await;
    let mfa = server.token("mfa", Role::Coordinator).to_string();
    let moj_ministry = server.token("moj", Role::Ministry).to_string();
    server
        .get("/api/v1/procedures", &mfa)
        .await
        .expect(StatusCode::OK);
    // The coordination passes to the Ministry of Justice.
    let file = db.dir.path().join("institutions.toml");
    std::fs::write(&file, seed_with(Some("moj"))).unwrap();
    server
        .app
        .import_institutions(&file)
        .await
        .expect("moving the flag is a valid import");

    // mfa's coordinator token no longer reads everything, or acts.
    // (The harness reads ETags as mfa's coordinator: from here on they are read as moj.)
    let suspend = |token: String, etag: String| {
        let server = &server;
        async move {
            server
                .send(
                    Method::POST,
                    "/api/v1/procedures/kg-ets-185/suspend",
                    Some(&token),
                    &[("If-Match", &etag)],
                    Some(json!({"reason": "reshuffle"})),
                )
                .await
        }
    };
    for reply in [
        server.get("/api/v1/procedures", &mfa).await,
        suspend(mfa.clone(), "\"1\"".into()).await,
    ] {
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.text);
        let p = reply.problem("not-allowed");
        assert!(
            p["detail"].as_str().unwrap().contains(
                "the coordinator role belongs to the coordinating institution (`moj`), and `mfa` is not one"
            ),
            "{p}"
        );
    }
    // Nor does mfa's admin token, nor may it sign in to the pages with it.
    let admin = server.token("mfa", Role::Admin).to_string();
    server
        .get("/api/v1/tokens", &admin)
        .await
        .expect(StatusCode::FORBIDDEN)
        .problem("not-allowed");
    assert!(matches!(
        server.app.sign_in(&mfa).await,
        Err(AppError::Refused(_))
    ));
    // A ministry token is untouched; moj may now hold a coordinator token, and it acts.
    server
        .get("/api/v1/procedures/kg-cets-210", &moj_ministry)
        .await
        .expect(StatusCode::OK);
    let moj = server
        .app
        .create_token(
            &accession::engine::Actor::operator("cli:test"),
            &"moj".parse().unwrap(),
            Role::Coordinator,
            "new coordinator",
        )
        .await
        .expect("moj coordinates now")
        .token;
    let etag = server
        .get("/api/v1/procedures/kg-ets-185", &moj)
        .await
        .expect(StatusCode::OK)
        .header("etag")
        .unwrap();
    suspend(moj, etag).await.expect(StatusCode::OK);
}
on_both!(a_token_whose_institution_no_longer_coordinates_is_refused_at_each_use);

async fn an_import_that_leaves_no_coordinator_or_two_is_refused_and_changes_nothing(db: &TestDb) {
    let server = Server::start(db).await;
    let before = server.app.store_for_tests().institutions().await.unwrap();
    let seed = seed_with(Some("mfa"));
    let mfa_line = seed[..seed.find("id = \"mfa\"").unwrap()]
        .matches('\n')
        .count();
    let moj_line = seed[..seed.find("id = \"moj\"").unwrap()]
        .matches('\n')
        .count();
    // Each with a change elsewhere too (a renamed ministry), which must not be written either.
    let renamed = |text: String| {
        text.replace(
            "name = \"Ministry of Justice of the Kyrgyz Republic\"",
            "name = \"Ministry of Justice (renamed)\"",
        )
    };
    let two = renamed(seed.replace("id = \"moj\"\n", "id = \"moj\"\ncoordinator = true\n"));
    for (text, line, says) in [
        (
            renamed(seed_with(None)),
            mfa_line,
            "takes `coordinator = true` from `mfa`",
        ),
        (
            two,
            moj_line,
            "more than one institution would be the coordinator (`mfa`, `moj`)",
        ),
    ] {
        assert!(text.contains("(renamed)"));
        let file = db.dir.path().join("institutions.toml");
        std::fs::write(&file, &text).unwrap();
        let err = server.app.import_institutions(&file).await.unwrap_err();
        let AppError::Import(e) = &err else {
            panic!("not an import error: {err:?}");
        };
        assert_eq!(e.file, file.display().to_string());
        assert_eq!(e.line, line, "{err}");
        assert!(e.message.contains(says), "{err}");
        assert_eq!(err.exit_code(), 1);
        assert_eq!(
            server.app.store_for_tests().institutions().await.unwrap(),
            before,
            "a refused import changed the institutions"
        );
    }
    // The coordinator still starts procedures (on a copy of ETS 112: the demo's is open).
    import_copies(&server.app, db.dir.path(), "ets-112", 1).await;
    server
        .send(
            Method::POST,
            "/api/v1/procedures",
            Some(server.token("mfa", Role::Coordinator)),
            &[],
            Some(json!({"state": "KG", "convention": "ets-112-0", "id": "kg-ets-112-bis"})),
        )
        .await
        .expect(StatusCode::CREATED);
}
on_both!(an_import_that_leaves_no_coordinator_or_two_is_refused_and_changes_nothing);
