//! API tokens and idempotency keys on a real database: a token authenticates as the actor it was
//! made for until revoked, the database never holds the secret, and a kept response stays the
//! first one.

use accession::app::{Accession, AppError, token_hash};
use accession::clock::Clock;
use accession::engine::{Actor, Role};
use accession::ids::InstitutionId;
use chrono::TimeDelta;
use serde_json::json;

use crate::on_both;
use crate::support::{TestDb, clock, count};

fn inst(id: &str) -> InstitutionId {
    InstitutionId::parse(id).unwrap()
}

/// An application with the seed's institutions and nothing else.
async fn app_with_institutions(db: &TestDb, clock: &accession::clock::ManualClock) -> Accession {
    let app = db.app(clock).await;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    app.import_states(&root.join("config/demo/states.toml"))
        .await
        .unwrap();
    app.import_institutions(&root.join("config/demo/institutions.toml"))
        .await
        .expect("import the seed's institutions");
    app
}

async fn a_token_authenticates_as_its_institution_role_and_name_until_revoked(db: &TestDb) {
    let clock = clock();
    let app = app_with_institutions(db, &clock).await;
    let new = app
        .create_token(
            &Actor::operator("cli:test"),
            &inst("moj"),
            Role::Ministry,
            "Treaty department",
        )
        .await
        .expect("create a token");
    assert_eq!(new.row.institution, inst("moj"));
    assert_eq!(new.row.role, Role::Ministry);
    assert_eq!(new.row.prefix, &new.token[..12]);
    assert_eq!(new.row.created_at, clock.now());

    let (row, actor) = app
        .authenticate(&new.token)
        .await
        .unwrap()
        .expect("a fresh token authenticates");
    assert_eq!(row.id, new.row.id);
    assert_eq!(
        actor,
        Actor::new(inst("moj"), Role::Ministry, "Treaty department")
    );

    // A token of the right shape that was never issued, and one off by a character.
    let unknown = format!("acc_{}", "0".repeat(64));
    assert!(app.authenticate(&unknown).await.unwrap().is_none());
    let mut altered = new.token.clone();
    let last = if altered.ends_with('0') { "1" } else { "0" };
    altered.replace_range(67.., last);
    assert!(app.authenticate(&altered).await.unwrap().is_none());
    assert!(app.authenticate("").await.unwrap().is_none());
    assert!(
        app.authenticate(&token_hash(&new.token))
            .await
            .unwrap()
            .is_none()
    );

    let other = app
        .create_token(
            &Actor::operator("cli:test"),
            &inst("mfa"),
            Role::Coordinator,
            "Coordination desk",
        )
        .await
        .unwrap();
    let revoked = app
        .revoke_token(&Actor::operator("cli:test"), new.row.id)
        .await
        .expect("revoke");
    assert_eq!(revoked.revoked_at, Some(clock.now()));
    assert!(
        app.authenticate(&new.token).await.unwrap().is_none(),
        "a revoked token still authenticates"
    );
    let (_, coordinator) = app.authenticate(&other.token).await.unwrap().unwrap();
    assert_eq!(coordinator.role, Role::Coordinator);

    // Revoking again changes nothing: the first revocation time stays.
    clock.advance(TimeDelta::hours(1));
    let again = app
        .revoke_token(&Actor::operator("cli:test"), new.row.id)
        .await
        .expect("revoke again");
    assert_eq!(again.revoked_at, revoked.revoked_at);

    // Listing tokens is the admins' (the operator at the command line is one), not a
    // coordinator's.
    assert!(matches!(
        app.tokens(&coordinator).await,
        Err(AppError::Refused(_))
    ));
    let list = app.tokens(&Actor::operator("cli:test")).await.unwrap();
    assert_eq!(
        list.iter().map(|t| (t.id, t.revoked())).collect::<Vec<_>>(),
        vec![(new.row.id, true), (other.row.id, false)]
    );
}
on_both!(a_token_authenticates_as_its_institution_role_and_name_until_revoked);

async fn the_database_holds_the_hash_of_a_token_never_the_token(db: &TestDb) {
    let clock = clock();
    let app = app_with_institutions(db, &clock).await;
    let new = app
        .create_token(
            &Actor::operator("cli:test"),
            &inst("mfa"),
            Role::Admin,
            "Operations",
        )
        .await
        .unwrap();
    app.authenticate(&new.token).await.unwrap().expect("valid");
    let secret = &new.token[4..];
    // Any 16 characters of the secret beyond the shown prefix would give it away.
    let piece = &secret[8..24];
    let hash = token_hash(&new.token);

    assert_eq!(
        count(
            &app,
            &format!("SELECT COUNT(*) FROM api_tokens WHERE token_hash = '{hash}'")
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &app,
            &format!(
                "SELECT COUNT(*) FROM api_tokens WHERE token_hash LIKE '%{piece}%' \
                 OR prefix LIKE '%{piece}%' OR name LIKE '%{piece}%' \
                 OR institution LIKE '%{piece}%' OR role LIKE '%{piece}%'"
            )
        )
        .await,
        0,
        "a column holds the token"
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM api_tokens WHERE LENGTH(prefix) <> 12"
        )
        .await,
        0
    );

    // On SQLite, the files themselves (database and write-ahead log) must not contain the secret
    // either; they do contain the hash, which shows the scan looks at the right bytes.
    if app.store_for_tests().backend() == sea_orm::DbBackend::Sqlite {
        let mut bytes = Vec::new();
        for file in ["accession.db", "accession.db-wal"] {
            if let Ok(content) = std::fs::read(db.dir.path().join(file)) {
                bytes.extend(content);
            }
        }
        let holds = |needle: &str| bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
        assert!(holds(&hash), "the hash is not in the SQLite files");
        assert!(!holds(piece), "the SQLite files contain the token");
    }
}
on_both!(the_database_holds_the_hash_of_a_token_never_the_token);

async fn last_used_is_recorded_on_authentication_at_most_once_a_minute(db: &TestDb) {
    let clock = clock();
    let app = app_with_institutions(db, &clock).await;
    let new = app
        .create_token(
            &Actor::operator("cli:test"),
            &inst("mia"),
            Role::Auditor,
            "Inspectorate",
        )
        .await
        .unwrap();
    assert_eq!(new.row.last_used_at, None);
    let stored = |app: &Accession, id: i64| {
        let store = app.store_for_tests().clone();
        async move {
            store
                .tokens()
                .await
                .unwrap()
                .into_iter()
                .find(|t| t.id == id)
                .unwrap()
                .last_used_at
        }
    };

    let first = clock.now();
    let (row, _) = app.authenticate(&new.token).await.unwrap().unwrap();
    assert_eq!(row.last_used_at, Some(first));
    assert_eq!(stored(&app, new.row.id).await, Some(first));

    clock.advance(TimeDelta::seconds(30));
    app.authenticate(&new.token).await.unwrap().unwrap();
    assert_eq!(
        stored(&app, new.row.id).await,
        Some(first),
        "written again within the minute"
    );

    clock.advance(TimeDelta::seconds(45));
    let later = clock.now();
    app.authenticate(&new.token).await.unwrap().unwrap();
    assert_eq!(stored(&app, new.row.id).await, Some(later));

    // The store never moves it back.
    app.store_for_tests()
        .touch_token(new.row.id, first)
        .await
        .expect("touch");
    assert_eq!(stored(&app, new.row.id).await, Some(later));
}
on_both!(last_used_is_recorded_on_authentication_at_most_once_a_minute);

async fn creating_a_token_checks_the_institution_and_the_name(db: &TestDb) {
    let clock = clock();
    let app = app_with_institutions(db, &clock).await;
    match app
        .create_token(
            &Actor::operator("cli:test"),
            &inst("nowhere"),
            Role::Ministry,
            "Ghost",
        )
        .await
    {
        Err(AppError::NotFound { what, id }) => {
            assert_eq!((what, id.as_str()), ("institution", "nowhere"))
        }
        other => panic!("expected institution not found, got {other:?}"),
    }
    assert!(matches!(
        app.create_token(
            &Actor::operator("cli:test"),
            &inst("moj"),
            Role::Ministry,
            "  "
        )
        .await,
        Err(AppError::Invalid(_))
    ));
    assert!(matches!(
        app.create_token(
            &Actor::operator("cli:test"),
            &inst("moj"),
            Role::Ministry,
            &"x".repeat(201)
        )
        .await,
        Err(AppError::Invalid(_))
    ));
    assert!(matches!(
        app.revoke_token(&Actor::operator("cli:test"), 4242).await,
        Err(AppError::NotFound { what: "token", .. })
    ));
    // Only a caller who may manage tokens (an admin) makes or revokes one.
    let coordinator = Actor::new(inst("mfa"), Role::Coordinator, "Coordination desk");
    assert!(matches!(
        app.create_token(&coordinator, &inst("moj"), Role::Ministry, "Sneaky")
            .await,
        Err(AppError::Refused(_))
    ));
    assert!(matches!(
        app.revoke_token(&coordinator, 4242).await,
        Err(AppError::Refused(_))
    ));
    assert_eq!(count(&app, "SELECT COUNT(*) FROM api_tokens").await, 0);
}
on_both!(creating_a_token_checks_the_institution_and_the_name);

async fn an_idempotent_response_is_kept_once_per_token_and_key(db: &TestDb) {
    let clock = clock();
    let app = app_with_institutions(db, &clock).await;
    let a = app
        .create_token(
            &Actor::operator("cli:test"),
            &inst("moj"),
            Role::Ministry,
            "A",
        )
        .await
        .unwrap();
    let b = app
        .create_token(
            &Actor::operator("cli:test"),
            &inst("mfa"),
            Role::Coordinator,
            "B",
        )
        .await
        .unwrap();
    let store = app.store_for_tests();
    let now = clock.now();
    assert_eq!(
        store.idempotent_response(a.row.id, "k-1").await.unwrap(),
        None
    );

    let headers = json!({ "ETag": "\"3\"", "Location": "/procedures/kg-ets-185" });
    let body = r#"{"id":"kg-ets-185","version":3}"#;
    store
        .save_idempotent_response(
            a.row.id,
            "k-1",
            "POST",
            "/procedures/kg-ets-185/advance",
            &"ab".repeat(32),
            201,
            body,
            &headers,
            now,
        )
        .await
        .expect("save");
    let kept = store
        .idempotent_response(a.row.id, "k-1")
        .await
        .unwrap()
        .expect("kept");
    assert_eq!(kept.method, "POST");
    assert_eq!(kept.path, "/procedures/kg-ets-185/advance");
    assert_eq!(kept.request_hash, "ab".repeat(32));
    assert_eq!(kept.status, 201);
    assert_eq!(kept.response, body);
    assert_eq!(kept.headers, headers);

    // A second save under the same key (a retry that lost the race) is fine and changes nothing.
    store
        .save_idempotent_response(
            a.row.id,
            "k-1",
            "POST",
            "/elsewhere",
            &"cd".repeat(32),
            409,
            "{}",
            &json!({}),
            now,
        )
        .await
        .expect("a duplicate is not an error");
    assert_eq!(
        store.idempotent_response(a.row.id, "k-1").await.unwrap(),
        Some(kept)
    );
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM idempotency_keys").await,
        1
    );

    // Keys are per token: another client's `k-1` is another request.
    assert_eq!(
        store.idempotent_response(b.row.id, "k-1").await.unwrap(),
        None
    );
    store
        .save_idempotent_response(
            b.row.id,
            "k-1",
            "POST",
            "/procedures",
            &"ef".repeat(32),
            200,
            "[]",
            &json!({}),
            now,
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .idempotent_response(b.row.id, "k-1")
            .await
            .unwrap()
            .map(|r| r.status),
        Some(200)
    );
}
on_both!(an_idempotent_response_is_kept_once_per_token_and_key);
