//! Runs the migrator up, down and up again on SQLite and on PostgreSQL and
//! checks tables, partial indexes, the append-only history triggers and the API tables' keys.

use std::collections::BTreeSet;
use std::time::{SystemTime, UNIX_EPOCH};

use migrations::sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend};
use migrations::{Migrator, MigratorTrait};

const TABLES: [&str; 24] = [
    "institutions",
    "conventions",
    "workflow_definitions",
    "procedures",
    "history",
    "approvals",
    "timers",
    "outbox",
    "api_tokens",
    "idempotency_keys",
    "web_sessions",
    "write_probe",
    "mail_outages",
    "procedure_responsibles",
    "chain_verifications",
    "backfills",
    "log_leaves",
    "log_nodes",
    "log_head",
    "checkpoints",
    "stage_tallies",
    "due_tallies",
    "verification_tallies",
    "states",
];

const PARTIAL_INDEXES: [&str; 2] = ["timers_pending_fire_at", "outbox_pending"];

const PG_URL_VAR: &str = "ACCESSION_TEST_DATABASE_URL";

/// Rows of a single text column, as a set.
async fn strings(db: &DatabaseConnection, sql: &str) -> BTreeSet<String> {
    db.query_all_raw(migrations::sea_orm::Statement::from_string(
        db.get_database_backend(),
        sql.to_owned(),
    ))
    .await
    .unwrap_or_else(|e| panic!("query `{sql}` failed: {e}"))
    .iter()
    .map(|row| row.try_get_by_index::<String>(0).expect("text column"))
    .collect()
}

async fn exec(db: &DatabaseConnection, sql: &str) {
    db.execute_unprepared(sql)
        .await
        .unwrap_or_else(|e| panic!("`{sql}` failed: {e}"));
}

async fn tables(db: &DatabaseConnection) -> BTreeSet<String> {
    let sql = match db.get_database_backend() {
        DbBackend::Sqlite => "SELECT name FROM sqlite_master WHERE type = 'table'",
        _ => {
            "SELECT table_name::text FROM information_schema.tables \
             WHERE table_schema = current_schema()"
        }
    };
    strings(db, sql).await
}

/// `name: definition` of every index, so a test can look for the WHERE clause.
async fn index_definitions(db: &DatabaseConnection) -> BTreeSet<String> {
    let sql = match db.get_database_backend() {
        DbBackend::Sqlite => {
            "SELECT name || ': ' || coalesce(sql, '') FROM sqlite_master WHERE type = 'index'"
        }
        _ => {
            "SELECT indexname::text || ': ' || indexdef FROM pg_indexes \
             WHERE schemaname = current_schema()"
        }
    };
    strings(db, sql).await
}

/// Triggers plus (on PostgreSQL) the trigger function.
async fn trigger_objects(db: &DatabaseConnection) -> BTreeSet<String> {
    match db.get_database_backend() {
        DbBackend::Sqlite => {
            strings(db, "SELECT name FROM sqlite_master WHERE type = 'trigger'").await
        }
        _ => {
            let mut objects = strings(
                db,
                "SELECT tgname::text FROM pg_trigger WHERE NOT tgisinternal",
            )
            .await;
            objects.extend(
                strings(
                    db,
                    "SELECT proname::text || '()' FROM pg_proc WHERE proname IN \
                     ('history_append_only', 'refuse_append_only', 'log_head_only_grows', \
                     'procedures_tally', 'chain_verifications_tally', 'bump_stage_tally', \
                     'bump_due_tally')",
                )
                .await,
            );
            objects
        }
    }
}

fn expected_trigger_objects(backend: DbBackend) -> BTreeSet<String> {
    let names: &[&str] = match backend {
        DbBackend::Sqlite => &[
            "history_no_update",
            "history_no_delete",
            "log_leaves_no_update",
            "log_leaves_no_delete",
            "log_nodes_no_update",
            "log_nodes_no_delete",
            "log_head_no_delete",
            "log_head_grows",
            "procedures_tally_insert",
            "procedures_tally_update",
            "procedures_tally_delete",
            "chain_verifications_tally_insert",
            "chain_verifications_tally_update",
            "chain_verifications_tally_delete",
        ],
        _ => &[
            "history_append_only",
            "history_append_only()",
            "history_no_truncate",
            "log_leaves_append_only",
            "log_leaves_no_truncate",
            "log_nodes_append_only",
            "log_nodes_no_truncate",
            "log_head_no_delete",
            "log_head_grows",
            "refuse_append_only()",
            "log_head_only_grows()",
            "procedures_tally",
            "procedures_tally()",
            "chain_verifications_tally",
            "chain_verifications_tally()",
            "bump_stage_tally()",
            "bump_due_tally()",
        ],
    };
    names.iter().map(|s| s.to_string()).collect()
}

async fn assert_schema_present(db: &DatabaseConnection) {
    let backend = db.get_database_backend();
    let present = tables(db).await;
    for table in TABLES {
        assert!(
            present.contains(table),
            "{backend:?}: table {table} missing after up: {present:?}"
        );
    }

    let indexes = index_definitions(db).await;
    for name in PARTIAL_INDEXES {
        let definition = indexes
            .iter()
            .find(|d| d.starts_with(&format!("{name}: ")))
            .unwrap_or_else(|| panic!("{backend:?}: index {name} missing: {indexes:?}"));
        assert!(
            definition.contains("WHERE") && definition.contains("'pending'"),
            "{backend:?}: index {name} is not partial on status = 'pending': {definition}"
        );
    }
    for name in [
        "workflow_definitions_workflow_id_version",
        "procedures_convention_id",
        "procedures_status_stage",
        "history_procedure_id_sequence",
        "approvals_procedure_id_stage_entry_institution",
        "timers_procedure_id_status",
        "api_tokens_token_hash",
        "idempotency_keys_token_id_key",
        "idempotency_keys_created_at",
        "api_tokens_feed_key_hash",
        "checkpoints_scheduled_after",
    ] {
        assert!(
            indexes.iter().any(|d| d.starts_with(&format!("{name}: "))),
            "{backend:?}: index {name} missing: {indexes:?}"
        );
    }

    let auditors = indexes
        .iter()
        .find(|d| d.starts_with("api_tokens_live_auditors: "))
        .unwrap_or_else(|| panic!("{backend:?}: index api_tokens_live_auditors missing"));
    assert!(
        auditors.contains("WHERE") && auditors.contains("revoked_at"),
        "{backend:?}: api_tokens_live_auditors is not partial on live tokens: {auditors}"
    );

    let triggers = trigger_objects(db).await;
    assert_eq!(
        triggers,
        expected_trigger_objects(backend),
        "{backend:?}: append-only triggers after up"
    );
}

async fn assert_schema_absent(db: &DatabaseConnection) {
    let backend = db.get_database_backend();
    let present = tables(db).await;
    for table in TABLES {
        assert!(
            !present.contains(table),
            "{backend:?}: table {table} survived down"
        );
    }
    let triggers = trigger_objects(db).await;
    assert!(
        triggers.is_empty(),
        "{backend:?}: trigger objects survived down: {triggers:?}"
    );
}

/// Inserts parent rows and two history rows, then checks the history table
/// refuses UPDATE and DELETE and that foreign keys are enforced.
async fn assert_history_append_only(db: &DatabaseConnection) {
    let backend = db.get_database_backend();
    let now = "'2026-11-28 12:00:00+00'";
    exec(
        db,
        &format!(
            "INSERT INTO institutions (id, name_en, emails, language, time_zone, created_at, updated_at) \
             VALUES ('mfa', 'Ministry of Foreign Affairs', '[]', 'en', 'Asia/Bishkek', {now}, {now})"
        ),
    )
    .await;
    exec(
        db,
        &format!(
            "INSERT INTO conventions (id, number, title_en, entry_into_force_rule, created_at, updated_at) \
             VALUES ('ets-005', '005', 'Convention for the Protection of Human Rights', '{{}}', {now}, {now})"
        ),
    )
    .await;
    exec(
        db,
        &format!(
            "INSERT INTO workflow_definitions (hash, workflow_id, version, title, source, created_at) \
             VALUES ('abc123', 'coe-accession', 1, 'Accession', 'source', {now})"
        ),
    )
    .await;
    exec(
        db,
        &format!(
            "INSERT INTO procedures (id, state_code, convention_id, workflow_id, workflow_version, \
             workflow_hash, stage, stage_entered_at, stage_entry, status, version, fields, \
             created_at, updated_at) \
             VALUES ('p1', 'KG', 'ets-005', 'coe-accession', 1, 'abc123', 'draft', {now}, 1, \
             'active', 1, '{{}}', {now}, {now})"
        ),
    )
    .await;
    for sequence in [1, 2] {
        exec(
            db,
            &format!(
                "INSERT INTO history (procedure_id, sequence, at, actor_institution, actor_name, \
                 actor_role, command, payload, prev_hash, hash) \
                 VALUES ('p1', {sequence}, {now}, 'mfa', 'Officer', 'clerk', 'open', '{{}}', \
                 'prev{sequence}', 'hash{sequence}')"
            ),
        )
        .await;
    }

    let ids = strings(db, "SELECT CAST(id AS TEXT) FROM history ORDER BY id").await;
    assert_eq!(
        ids,
        BTreeSet::from(["1".to_owned(), "2".to_owned()]),
        "{backend:?}: history ids are auto-assigned"
    );
    let coordinator = strings(
        db,
        "SELECT CASE WHEN coordinator THEN 'true' ELSE 'false' END FROM institutions",
    )
    .await;
    assert_eq!(
        coordinator,
        BTreeSet::from(["false".to_owned()]),
        "{backend:?}: coordinator default"
    );

    let duplicate = db
        .execute_unprepared(&format!(
            "INSERT INTO history (procedure_id, sequence, at, actor_institution, actor_name, \
             actor_role, command, payload, prev_hash, hash) \
             VALUES ('p1', 2, {now}, 'mfa', 'Officer', 'clerk', 'open', '{{}}', 'x', 'y')"
        ))
        .await;
    assert!(
        duplicate.is_err(),
        "{backend:?}: duplicate (procedure_id, sequence) accepted"
    );

    let orphan = db
        .execute_unprepared(&format!(
            "INSERT INTO history (procedure_id, sequence, at, actor_institution, actor_name, \
             actor_role, command, payload, prev_hash, hash) \
             VALUES ('missing', 1, {now}, 'mfa', 'Officer', 'clerk', 'open', '{{}}', 'x', 'y')"
        ))
        .await;
    assert!(
        orphan.is_err(),
        "{backend:?}: history row for a missing procedure accepted"
    );

    let update = db
        .execute_unprepared("UPDATE history SET comment = 'tampered' WHERE id = 1")
        .await;
    let error = update
        .expect_err("UPDATE on history must be refused")
        .to_string();
    assert!(
        error.contains("history is append-only"),
        "{backend:?}: {error}"
    );
    if backend == DbBackend::Postgres {
        assert!(error.contains("UPDATE refused on row 1"), "{error}");
    }

    let delete = db
        .execute_unprepared("DELETE FROM history WHERE id = 2")
        .await;
    let error = delete
        .expect_err("DELETE on history must be refused")
        .to_string();
    assert!(
        error.contains("history is append-only"),
        "{backend:?}: {error}"
    );
    if backend == DbBackend::Postgres {
        assert!(error.contains("DELETE refused on row 2"), "{error}");
    }

    if backend == DbBackend::Postgres {
        let error = db
            .execute_unprepared("TRUNCATE history CASCADE")
            .await
            .expect_err("TRUNCATE on history must be refused")
            .to_string();
        assert!(
            error.contains("history is append-only: TRUNCATE refused"),
            "{error}"
        );
    }
    assert_log_append_only(db).await;

    let untouched = strings(
        db,
        "SELECT CAST(id AS TEXT) || ':' || coalesce(comment, '-') FROM history",
    )
    .await;
    assert_eq!(
        untouched,
        BTreeSet::from(["1:-".to_owned(), "2:-".to_owned()]),
        "{backend:?}: history changed despite the refusals"
    );
}

/// The log's leaves and nodes refuse UPDATE, DELETE and (PostgreSQL) TRUNCATE; its head refuses
/// DELETE and shrinking, and grows.
async fn assert_log_append_only(db: &DatabaseConnection) {
    let backend = db.get_database_backend();
    exec(
        db,
        "INSERT INTO log_leaves (position, procedure_id, sequence, leaf_hash) VALUES (0, 'p1', 1, 'l')",
    )
    .await;
    exec(
        db,
        "INSERT INTO log_nodes (level, idx, hash) VALUES (1, 0, 'n')",
    )
    .await;
    let mut refused = vec![
        "UPDATE log_leaves SET leaf_hash = 'x'",
        "DELETE FROM log_leaves",
        "UPDATE log_nodes SET hash = 'x'",
        "DELETE FROM log_nodes",
        "DELETE FROM log_head",
        "UPDATE log_head SET size = size - 1",
    ];
    if backend == DbBackend::Postgres {
        refused.extend([
            "TRUNCATE log_leaves",
            "TRUNCATE log_nodes",
            "TRUNCATE log_head",
        ]);
    }
    for sql in refused {
        let error = db.execute_unprepared(sql).await.expect_err(sql).to_string();
        assert!(
            error.contains("append-only") || error.contains("only grows"),
            "{backend:?}: `{sql}`: {error}"
        );
    }
    exec(db, "UPDATE log_head SET size = size + 1").await;
    assert_eq!(
        strings(
            db,
            "SELECT CAST(size AS TEXT) || ':' || CAST((SELECT COUNT(*) FROM log_leaves) AS TEXT) \
             || ':' || CAST((SELECT COUNT(*) FROM log_nodes) AS TEXT) FROM log_head"
        )
        .await,
        BTreeSet::from(["1:1:1".to_owned()]),
        "{backend:?}: the log changed despite the refusals"
    );
}

/// Token hashes are unique, an idempotency key is unique per token, and both tables refuse rows
/// whose parent is missing. Runs after `assert_history_append_only` (which adds `mfa`).
async fn assert_api_keys(db: &DatabaseConnection) {
    let backend = db.get_database_backend();
    let now = "'2026-11-29 12:00:00+00'";
    let token = |hash: &str, institution: &str| {
        format!(
            "INSERT INTO api_tokens (token_hash, prefix, institution, role, name, created_at) \
             VALUES ('{hash}', 'acc_1234', '{institution}', 'ministry', 'Registry', {now})"
        )
    };
    exec(db, &token("h1", "mfa")).await;
    assert!(
        db.execute_unprepared(&token("h1", "mfa")).await.is_err(),
        "{backend:?}: a second token with the same hash accepted"
    );
    assert!(
        db.execute_unprepared(&token("h2", "missing"))
            .await
            .is_err(),
        "{backend:?}: a token for a missing institution accepted"
    );
    let ids = strings(db, "SELECT CAST(id AS TEXT) FROM api_tokens").await;
    assert_eq!(ids.len(), 1, "{backend:?}: api_tokens ids: {ids:?}");
    let token_id = ids.first().expect("one token").clone();

    let key = |token_id: &str, key: &str| {
        format!(
            "INSERT INTO idempotency_keys (token_id, key, method, path, request_hash, status, \
             response, headers, created_at) \
             VALUES ({token_id}, '{key}', 'POST', '/procedures', 'rh', 201, '{{}}', '{{}}', {now})"
        )
    };
    exec(db, &key(&token_id, "k1")).await;
    assert!(
        db.execute_unprepared(&key(&token_id, "k1")).await.is_err(),
        "{backend:?}: the same key twice for one token accepted"
    );
    assert!(
        db.execute_unprepared(&key("999999", "k2")).await.is_err(),
        "{backend:?}: a key for a missing token accepted"
    );
    exec(db, &key(&token_id, "k2")).await;
    // A row written before claims existed is an answer.
    assert_eq!(
        strings(db, "SELECT DISTINCT state FROM idempotency_keys").await,
        BTreeSet::from(["done".to_string()]),
        "{backend:?}: the state a key gets by default"
    );
}

/// How many migrations come before the one adding effective times.
fn before_effective_times() -> u32 {
    Migrator::migrations()
        .iter()
        .position(|m| m.name().contains("_effective_times"))
        .expect("the migration adding effective times") as u32
}

/// The rows written before effective times are as they were (same ids, hashes, times) and read as
/// hash form 1 with no effective time; rolling the migration back keeps the columns (they hold
/// what newer rows' hashes cover) and applying it again finds them there.
async fn assert_old_rows_keep_their_form(
    db: &DatabaseConnection,
    written: &BTreeSet<String>,
    old_rows: &str,
) {
    let backend = db.get_database_backend();
    assert_eq!(written.len(), 2, "{backend:?}: two old rows");
    assert_eq!(
        &strings(db, old_rows).await,
        written,
        "{backend:?}: the old rows were rewritten"
    );
    let form = "SELECT CAST(hash_form AS TEXT) || ':' || COALESCE(CAST(effective_on AS TEXT), '-') \
                || ':' || CASE WHEN effective_approximate OR retrospective THEN 'flagged' \
                ELSE 'plain' END FROM history";
    assert_eq!(
        strings(db, form).await,
        BTreeSet::from(["1:-:plain".to_owned()]),
        "{backend:?}"
    );
    let after = Migrator::migrations().len() as u32 - before_effective_times();
    Migrator::down(db, Some(after))
        .await
        .expect("down past effective times");
    assert_eq!(
        strings(db, "SELECT CAST(hash_form AS TEXT) FROM history").await,
        BTreeSet::from(["1".to_owned()]),
        "{backend:?}: rolling back keeps the columns"
    );
    Migrator::up(db, None).await.expect("up again");
    // A row written now states both times.
    exec(
        db,
        "INSERT INTO history (procedure_id, sequence, at, effective_on, effective_approximate, \
         retrospective, actor_institution, actor_name, actor_role, command, payload, prev_hash, \
         hash, hash_form) VALUES ('p1', 3, '2026-11-28 12:00:00+00', '2023-12-20', TRUE, TRUE, \
         'mfa', 'Officer', 'clerk', 'open', '{}', 'hash2', 'hash3', 2)",
    )
    .await;
    assert_eq!(
        strings(db, form).await,
        BTreeSet::from(["1:-:plain".to_owned(), "2:2023-12-20:flagged".to_owned()]),
        "{backend:?}"
    );
}

/// Of two checkpoints the scheduler made after the same one, the second is refused; those made
/// by hand (no `scheduled_after`) repeat freely.
async fn assert_one_scheduled_checkpoint_per_period(db: &DatabaseConnection) {
    let backend = db.get_database_backend();
    let checkpoint = |after: &str| {
        format!(
            "INSERT INTO checkpoints (size, root, time, key_id, signature, scheduled_after) \
             VALUES (1, 'r', '2026-12-04T06:00:00Z', 'k', 's', {after})"
        )
    };
    exec(db, &checkpoint("0")).await;
    assert!(
        db.execute_unprepared(&checkpoint("0")).await.is_err(),
        "{backend:?}: a second scheduled checkpoint for one period accepted"
    );
    exec(db, &checkpoint("1")).await;
    exec(db, &checkpoint("NULL")).await;
    exec(db, &checkpoint("NULL")).await;
    assert_eq!(
        strings(db, "SELECT CAST(COUNT(*) AS TEXT) FROM checkpoints").await,
        BTreeSet::from(["4".to_owned()]),
        "{backend:?}: checkpoints kept"
    );
}

/// A second open procedure for one State and convention is refused by the database; a closed
/// one may be followed by a new one. Runs after `assert_history_append_only` (its `p1` is open).
async fn assert_one_open_procedure_per_state_and_convention(db: &DatabaseConnection) {
    let backend = db.get_database_backend();
    let now = "'2026-11-28 10:00:00+00'";
    let insert = |id: &str, status: &str| {
        format!(
            "INSERT INTO procedures (id, state_code, convention_id, workflow_id, workflow_version, \
             workflow_hash, stage, stage_entered_at, stage_entry, status, version, fields, \
             created_at, updated_at) \
             VALUES ('{id}', 'KG', 'ets-005', 'coe-accession', 1, 'abc123', 'draft', {now}, 1, \
             '{status}', 1, '{{}}', {now}, {now})"
        )
    };
    let second = db.execute_unprepared(&insert("p2", "suspended")).await;
    assert!(
        second.is_err(),
        "{backend:?}: a second open procedure was accepted"
    );
    exec(db, &insert("p3", "withdrawn")).await;
    exec(db, &insert("p4", "completed")).await;
    let treaty = strings(db, "SELECT treaty FROM procedures WHERE id = 'p3'").await;
    assert_eq!(
        treaty,
        BTreeSet::from(["{}".to_owned()]),
        "{backend:?}: treaty default"
    );
}

/// An institution imported before the States registry existed is the seed's: the migration adds
/// Kyrgyzstan to the registry and gives it Kyrgyzstan's code.
async fn institutions_before_the_states_belong_to_kyrgyzstan(db: &DatabaseConnection) {
    let backend = db.get_database_backend();
    let before = Migrator::migrations()
        .iter()
        .position(|m| m.name() == "m20261204_000401_states")
        .expect("the States migration is listed");
    Migrator::up(db, Some(u32::try_from(before).unwrap()))
        .await
        .expect("up to the States");
    let now = "'2026-11-28 12:00:00+00'";
    exec(
        db,
        &format!(
            "INSERT INTO institutions (id, name_en, emails, language, time_zone, created_at, updated_at) \
             VALUES ('moj', 'Ministry of Justice', '[]', 'ru', 'Asia/Bishkek', {now}, {now})"
        ),
    )
    .await;
    Migrator::up(db, Some(1)).await.expect("the States");
    assert_eq!(
        strings(db, "SELECT state_code FROM institutions").await,
        BTreeSet::from(["KG".to_owned()]),
        "{backend:?}: institutions backfilled"
    );
    assert_eq!(
        strings(
            db,
            "SELECT name_ky FROM states WHERE code = 'KG' AND NOT coe_member"
        )
        .await,
        BTreeSet::from(["Кыргыз Республикасы".to_owned()]),
        "{backend:?}: Kyrgyzstan in the registry"
    );
}

/// The whole scenario; `down` runs with rows in every parent table, in history and in the API
/// tables.
async fn up_down_up(db: DatabaseConnection) {
    institutions_before_the_states_belong_to_kyrgyzstan(&db).await;
    // The first rows are written before effective times existed: they are the old rows.
    let applied = u32::try_from(
        Migrator::get_applied_migrations(&db)
            .await
            .expect("the applied migrations")
            .len(),
    )
    .unwrap();
    Migrator::up(&db, Some(before_effective_times() - applied))
        .await
        .expect("up to before effective times");
    assert_history_append_only(&db).await;
    let old_rows = "SELECT CAST(id AS TEXT) || ':' || hash || ':' || CAST(at AS TEXT) FROM history";
    let written = strings(&db, old_rows).await;
    Migrator::up(&db, None).await.expect("first up");
    assert_schema_present(&db).await;
    assert_old_rows_keep_their_form(&db, &written, old_rows).await;
    assert_api_keys(&db).await;
    assert_one_scheduled_checkpoint_per_period(&db).await;
    assert_one_open_procedure_per_state_and_convention(&db).await;

    Migrator::down(&db, None).await.expect("down");
    assert_schema_absent(&db).await;

    Migrator::up(&db, None).await.expect("second up");
    assert_schema_present(&db).await;
    assert_history_append_only(&db).await;
    assert_api_keys(&db).await;
    assert_one_scheduled_checkpoint_per_period(&db).await;
    assert_one_open_procedure_per_state_and_convention(&db).await;
}

#[tokio::test]
async fn sqlite_up_down_up() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("accession.sqlite");
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let db = Database::connect(&url).await.expect("connect to SQLite");
    assert_eq!(db.get_database_backend(), DbBackend::Sqlite);
    up_down_up(db.clone()).await;
    db.close().await.expect("close SQLite");
}

/// Replaces the database name in a PostgreSQL URL, keeping any query string.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{database}?{query}"),
        None => format!("{base}/{database}"),
    }
}

#[tokio::test]
async fn postgres_up_down_up() {
    let admin_url = match std::env::var(PG_URL_VAR) {
        Ok(url) if !url.trim().is_empty() => url,
        _ => {
            if std::env::var_os("CI").is_some() {
                panic!(
                    "{PG_URL_VAR} is required in CI: set it to a PostgreSQL URL (e.g. postgres://postgres@127.0.0.1:5432/postgres)"
                );
            }
            eprintln!("skipping PostgreSQL: {PG_URL_VAR} is not set");
            return;
        }
    };

    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos();
    let database = format!("accession_mig_{nanos}_{}", std::process::id());

    let admin = Database::connect(&admin_url)
        .await
        .expect("connect to ACCESSION_TEST_DATABASE_URL");
    assert_eq!(admin.get_database_backend(), DbBackend::Postgres);
    exec(&admin, &format!("CREATE DATABASE {database}")).await;

    // Run the scenario in its own task so a failed assertion still lets us
    // drop the scratch database before reporting it.
    let url = with_database(&admin_url, &database);
    let outcome = tokio::spawn(async move {
        let db = Database::connect(&url)
            .await
            .expect("connect to scratch database");
        up_down_up(db.clone()).await;
        db.close().await.expect("close scratch database");
    })
    .await;

    exec(
        &admin,
        &format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"),
    )
    .await;
    admin.close().await.expect("close admin connection");

    if let Err(error) = outcome {
        match error.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(error) => panic!("PostgreSQL scenario did not finish: {error}"),
        }
    }
}

#[test]
fn with_database_replaces_the_path() {
    assert_eq!(
        with_database("postgres://postgres@127.0.0.1:5432/postgres", "x"),
        "postgres://postgres@127.0.0.1:5432/x"
    );
    assert_eq!(
        with_database("postgres://u:p@h/db?sslmode=disable", "x"),
        "postgres://u:p@h/x?sslmode=disable"
    );
    assert_eq!(
        with_database("postgres://h:5432", "x"),
        "postgres://h:5432/x"
    );
}
