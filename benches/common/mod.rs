//! What the benchmarks share: settings, fresh databases, seeded procedures, and the raw
//! transaction — the same statements and rows an act writes, with sqlx alone (no engine, no ORM)
//! — that every engine figure is set beside.

#![allow(dead_code)] // each bench binary uses its own part of this module

pub mod raw_reads;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use accession::app::Accession;
use accession::clock::ManualClock;
use accession::config::Settings;
use accession::engine::{Act, Command, Role, StartProcedure};
use accession::ids::{
    ConventionId, FieldName, ProcedureId, StageId, StateCode, Version, WorkflowId,
};
use chrono::{TimeZone, Utc};
use sea_orm::ConnectionTrait;
use sea_orm::sqlx::{self, Row};
use sha2::{Digest, Sha256};

/// The two stages each client moves its procedure between, in turn (the seeded procedures are
/// at `legal-review`, so the first move is to `interagency-consultation`).
pub const STAGES: [&str; 2] = ["interagency-consultation", "legal-review"];

pub fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub fn root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn settings(url: &str) -> Settings {
    let mut s = Settings::load(None).unwrap();
    s.database.url = url.to_string();
    s.database.max_connections = 16;
    s.workflows.dir = root().join("workflows");
    s.calendar.holidays = Some(root().join("config/calendars/kg.toml"));
    s
}

pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// Databases to measure on: SQLite, and PostgreSQL when ACCESSION_BENCH_DATABASE_URL names one.
pub fn databases() -> Vec<(&'static str, Option<String>)> {
    let mut out = vec![("sqlite", None)];
    if let Ok(admin) = std::env::var("ACCESSION_BENCH_DATABASE_URL") {
        out.push(("postgres", Some(admin)));
    }
    // ACCESSION_BENCH_ONLY_DATABASE=sqlite|postgres runs one of them.
    if let Ok(only) = std::env::var("ACCESSION_BENCH_ONLY_DATABASE") {
        out.retain(|(label, _)| *label == only);
    }
    out
}

/// An empty database: a SQLite file, or a fresh PostgreSQL database.
pub async fn fresh_database(
    admin: Option<&str>,
    name: &str,
) -> (String, Option<tempfile::TempDir>) {
    match admin {
        None => {
            let dir = tempfile::tempdir().unwrap();
            (
                format!("sqlite://{}/bench.db", dir.path().display()),
                Some(dir),
            )
        }
        Some(admin) => {
            drop_database(admin, name).await;
            let name = format!("accession_bench_{name}");
            let conn = sea_orm::Database::connect(admin).await.unwrap();
            conn.execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await
                .unwrap();
            let base = admin.rsplit_once('/').map_or(admin, |(b, _)| b);
            (format!("{base}/{name}"), None)
        }
    }
}

/// Remove the PostgreSQL database `fresh_database(Some(admin), name)` made, if it is there.
pub async fn drop_database(admin: &str, name: &str) {
    let conn = sea_orm::Database::connect(admin).await.unwrap();
    conn.execute_unprepared(&format!(
        "DROP DATABASE IF EXISTS accession_bench_{name} WITH (FORCE)"
    ))
    .await
    .unwrap();
}

pub fn moj() -> accession::engine::Actor {
    accession::engine::Actor::new("moj".parse().unwrap(), Role::Ministry, "bench")
}

/// A conventions file of `n` copies of seed convention `of`, with ids `{of}-0` ….
pub fn convention_copies(of: &str, n: usize) -> String {
    let seed = std::fs::read_to_string(root().join("config/demo/conventions.toml")).unwrap();
    let table = format!("[[conventions]]\nid = \"{of}\"\n");
    let start = seed.find(&table).expect("the seed convention");
    let end = seed[start + 1..]
        .find("[[conventions]]")
        .map_or(seed.len(), |i| start + 1 + i);
    let one = &seed[start..end];
    (0..n)
        .map(|i| one.replace(&format!("id = \"{of}\"\n"), &format!("id = \"{of}-{i}\"\n")))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Institutions, conventions and `n` procedures `b-0` … at `legal-review` with the report
/// recorded, so each can go to `interagency-consultation` and back (MoJ may do both moves).
pub async fn seeded(url: &str, n: usize) -> Accession {
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 2, 6, 0, 0).unwrap());
    let app = Accession::open(settings(url), Arc::new(clock))
        .await
        .unwrap();
    app.import_states(&root().join("config/demo/states.toml"))
        .await
        .unwrap();
    app.import_institutions(&root().join("config/demo/institutions.toml"))
        .await
        .unwrap();
    app.import_conventions(&root().join("config/demo/conventions.toml"))
        .await
        .unwrap();
    // At most one procedure per State and convention is open: each bench procedure has a copy
    // of the Istanbul Convention of its own (`cets-210-0` …).
    let copies = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(copies.path(), convention_copies("cets-210", n)).unwrap();
    app.import_conventions(copies.path()).await.unwrap();
    let mfa = app
        .actor(&"mfa".parse().unwrap(), None, "bench")
        .await
        .unwrap();
    for i in 0..n {
        let id = ProcedureId::parse(format!("b-{i}")).unwrap();
        app.start(
            &WorkflowId::parse("coe-accession").unwrap(),
            &StartProcedure {
                id: id.clone(),
                state: StateCode::parse("KG").unwrap(),
                convention: ConventionId::parse(format!("cets-210-{i}")).unwrap(),
                comment: None,
            },
            &mfa,
        )
        .await
        .unwrap();
        app.act(
            &id,
            &Command {
                expected_version: Version(1),
                act: Act::Advance {
                    to: StageId::parse("legal-review").unwrap(),
                    comment: None,
                },
            },
            &mfa,
        )
        .await
        .unwrap();
        app.act(
            &id,
            &Command {
                expected_version: Version(2),
                act: Act::Record {
                    field: FieldName::parse("compatibility_report").unwrap(),
                    value: "bench".into(),
                    comment: None,
                    source: None,
                },
            },
            &moj(),
        )
        .await
        .unwrap();
    }
    app
}

/// The raw route's pool: as the store opens SQLite (WAL, synchronous NORMAL, 5 s busy timeout,
/// foreign keys, writes under `BEGIN IMMEDIATE`) and PostgreSQL, 16 connections at most.
#[derive(Clone)]
pub enum RawDb {
    Sqlite(sqlx::SqlitePool),
    Pg(sqlx::PgPool),
}

impl RawDb {
    /// Move `id` to `stage` if it is at version `expected`: the new version.
    pub async fn step(&self, id: &str, stage: &str, expected: i64) -> Result<i64, RawError> {
        match self {
            RawDb::Sqlite(pool) => raw_step_sqlite(pool, id, stage, expected).await,
            RawDb::Pg(pool) => raw_step_pg(pool, id, stage, expected).await,
        }
    }

    /// The current version of `id`.
    pub async fn version(&self, id: &str) -> i64 {
        match self {
            RawDb::Sqlite(pool) => sqlx::query("SELECT version FROM procedures WHERE id = ?")
                .bind(id)
                .fetch_one(pool)
                .await
                .unwrap()
                .get(0),
            RawDb::Pg(pool) => sqlx::query("SELECT version FROM procedures WHERE id = $1")
                .bind(id)
                .fetch_one(pool)
                .await
                .unwrap()
                .get(0),
        }
    }

    pub async fn connect(url: &str) -> RawDb {
        if url.starts_with("sqlite") {
            let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)
                .unwrap()
                .create_if_missing(true)
                .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(5))
                .foreign_keys(true);
            let pool = sqlx::sqlite::SqlitePoolOptions::new()
                .max_connections(16)
                .connect_with(options)
                .await
                .unwrap();
            RawDb::Sqlite(pool)
        } else {
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(16)
                .connect(url)
                .await
                .unwrap();
            RawDb::Pg(pool)
        }
    }
}

/// Why the raw route refused.
pub enum RawError {
    /// The version `If-Match` named is not the current one.
    Stale,
    Db(sqlx::Error),
}

impl From<sqlx::Error> for RawError {
    fn from(e: sqlx::Error) -> Self {
        RawError::Db(e)
    }
}

pub fn hash(prev: &str, text: &str) -> String {
    hex::encode(Sha256::digest(format!("{prev}{text}").as_bytes()))
}

/// Timers and outbox rows a transition writes, as the engine does for these two stages:
/// keyed by the stage moved to.
pub fn shape(to: &str) -> (usize, usize) {
    if to == STAGES[0] { (3, 5) } else { (4, 1) }
}

/// One move, as an act writes it, with the version checked against `expected` first: the new
/// version.
pub async fn raw_step_sqlite(
    pool: &sqlx::SqlitePool,
    id: &str,
    stage: &str,
    expected: i64,
) -> Result<i64, RawError> {
    let now = Utc::now();
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let row = sqlx::query("SELECT version FROM procedures WHERE id = ?")
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
    let version: i64 = row.get(0);
    if version != expected {
        return Err(RawError::Stale);
    }
    let done = sqlx::query("UPDATE procedures SET stage = ?, stage_entry = ?, version = ?, updated_at = ? WHERE id = ? AND version = ?")
        .bind(stage).bind(version + 1).bind(version + 1).bind(now).bind(id).bind(version)
        .execute(&mut *tx).await?;
    if done.rows_affected() != 1 {
        return Err(RawError::Stale);
    }
    let last = sqlx::query(
        "SELECT hash FROM history WHERE procedure_id = ? ORDER BY sequence DESC LIMIT 1",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let prev: String = last.map(|r| r.get(0)).unwrap_or_default();
    let payload = format!("{{\"to\":\"{stage}\"}}");
    sqlx::query("INSERT INTO history (procedure_id, sequence, at, actor_institution, actor_name, actor_role, command, from_stage, to_stage, comment, payload, prev_hash, hash) VALUES (?, ?, ?, 'moj', 'bench', 'ministry', 'advance', ?, ?, NULL, ?, ?, ?)")
        .bind(id).bind(version + 1).bind(now).bind(stage).bind(stage).bind(&payload).bind(&prev).bind(hash(&prev, &payload))
        .execute(&mut *tx).await?;
    sqlx::query(
        "UPDATE timers SET status = 'cancelled' WHERE procedure_id = ? AND status = 'pending'",
    )
    .bind(id)
    .execute(&mut *tx)
    .await?;
    let (timers, mails) = shape(stage);
    for t in 0..timers {
        sqlx::query("INSERT INTO timers (procedure_id, stage, stage_entry, kind, rule, occurrence, fire_at, status, recipients, dedupe_key, created_at) VALUES (?, ?, ?, 'reminder', 'r', 0, ?, 'pending', '[\"moj\"]', ?, ?)")
            .bind(id).bind(stage).bind(version + 1).bind(now).bind(format!("{id}:{}:{t}", version + 1)).bind(now)
            .execute(&mut *tx).await?;
    }
    for m in 0..mails {
        let key = format!("{id}:{}:{m}", version + 1);
        sqlx::query("INSERT INTO outbox (dedupe_key, message_id, procedure_id, kind, recipient_institution, payload, status, attempts, next_attempt_at, created_at) VALUES (?, ?, ?, 'action_needed', 'moj', '{}', 'pending', 0, ?, ?)")
            .bind(&key).bind(format!("<{key}@bench>")).bind(id).bind(now).bind(now)
            .execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(version + 1)
}

/// The same on PostgreSQL.
pub async fn raw_step_pg(
    pool: &sqlx::PgPool,
    id: &str,
    stage: &str,
    expected: i64,
) -> Result<i64, RawError> {
    let now = Utc::now();
    let mut tx = pool.begin().await?;
    let row = sqlx::query("SELECT version FROM procedures WHERE id = $1")
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
    let version: i64 = row.get(0);
    if version != expected {
        return Err(RawError::Stale);
    }
    let done = sqlx::query("UPDATE procedures SET stage = $1, stage_entry = $2, version = $3, updated_at = $4 WHERE id = $5 AND version = $6")
        .bind(stage).bind(version + 1).bind(version + 1).bind(now).bind(id).bind(version)
        .execute(&mut *tx).await?;
    if done.rows_affected() != 1 {
        return Err(RawError::Stale);
    }
    let last = sqlx::query(
        "SELECT hash FROM history WHERE procedure_id = $1 ORDER BY sequence DESC LIMIT 1",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let prev: String = last.map(|r| r.get(0)).unwrap_or_default();
    let payload = format!("{{\"to\":\"{stage}\"}}");
    sqlx::query("INSERT INTO history (procedure_id, sequence, at, actor_institution, actor_name, actor_role, command, from_stage, to_stage, comment, payload, prev_hash, hash) VALUES ($1, $2, $3, 'moj', 'bench', 'ministry', 'advance', $4, $5, NULL, $6, $7, $8)")
        .bind(id).bind(version + 1).bind(now).bind(stage).bind(stage).bind(&payload).bind(&prev).bind(hash(&prev, &payload))
        .execute(&mut *tx).await?;
    sqlx::query(
        "UPDATE timers SET status = 'cancelled' WHERE procedure_id = $1 AND status = 'pending'",
    )
    .bind(id)
    .execute(&mut *tx)
    .await?;
    let (timers, mails) = shape(stage);
    for t in 0..timers {
        sqlx::query("INSERT INTO timers (procedure_id, stage, stage_entry, kind, rule, occurrence, fire_at, status, recipients, dedupe_key, created_at) VALUES ($1, $2, $3, 'reminder', 'r', 0, $4, 'pending', '[\"moj\"]', $5, $6)")
            .bind(id).bind(stage).bind(version + 1).bind(now).bind(format!("{id}:{}:{t}", version + 1)).bind(now)
            .execute(&mut *tx).await?;
    }
    for m in 0..mails {
        let key = format!("{id}:{}:{m}", version + 1);
        sqlx::query("INSERT INTO outbox (dedupe_key, message_id, procedure_id, kind, recipient_institution, payload, status, attempts, next_attempt_at, created_at) VALUES ($1, $2, $3, 'action_needed', 'moj', '{}', 'pending', 0, $4, $5)")
            .bind(&key).bind(format!("<{key}@bench>")).bind(id).bind(now).bind(now)
            .execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(version + 1)
}

/// Fire up to `limit` timers due at `now` as a tick does, with sqlx alone: claim them in one
/// statement (name and lease), then per timer one transaction — the timer marked fired, the
/// version-checked update of its procedure, a hashed history row after the previous one, one
/// outbox row (a reminder to the one responsible institution). The number fired.
macro_rules! fire_due {
    ($pool:expr, $begin:expr, $ph:expr, $now:expr, $limit:expr) => {{
        let ph = $ph;
        // The statements are built from this macro's own text and placeholders only.
        let q = |sql: String| sqlx::query(sqlx::AssertSqlSafe(sql));
        let now: chrono::DateTime<Utc> = $now;
        let claim = format!(
            "UPDATE timers SET claimed_by = 'raw', lease_until = {} WHERE id IN \
             (SELECT id FROM timers WHERE status = 'pending' AND fire_at <= {} \
             ORDER BY fire_at LIMIT {}) RETURNING id, procedure_id, dedupe_key",
            ph(1),
            ph(2),
            $limit
        );
        let claimed = q(claim)
            .bind(now + chrono::TimeDelta::minutes(5))
            .bind(now)
            .fetch_all($pool)
            .await
            .unwrap();
        for row in &claimed {
            let (timer, id, key): (i64, String, String) = (row.get(0), row.get(1), row.get(2));
            let mut tx = $begin.await.unwrap();
            let fired = q(format!(
                "UPDATE timers SET status = 'fired', fired_at = {} WHERE id = {} AND status = 'pending'",
                ph(1),
                ph(2)
            ))
            .bind(now)
            .bind(timer)
            .execute(&mut *tx)
            .await
            .unwrap();
            assert_eq!(fired.rows_affected(), 1);
            let version: i64 = q(format!(
                "SELECT version FROM procedures WHERE id = {}",
                ph(1)
            ))
            .bind(&id)
            .fetch_one(&mut *tx)
            .await
            .unwrap()
            .get(0);
            q(format!(
                "UPDATE procedures SET version = {}, updated_at = {} WHERE id = {} AND version = {}",
                ph(1),
                ph(2),
                ph(3),
                ph(4)
            ))
            .bind(version + 1)
            .bind(now)
            .bind(&id)
            .bind(version)
            .execute(&mut *tx)
            .await
            .unwrap();
            let last = q(format!(
                "SELECT hash, sequence FROM history WHERE procedure_id = {} ORDER BY sequence DESC LIMIT 1",
                ph(1)
            ))
            .bind(&id)
            .fetch_optional(&mut *tx)
            .await
            .unwrap();
            let (prev, sequence): (String, i64) =
                last.map_or((String::new(), 0), |r| (r.get(0), r.get(1)));
            let payload = format!("{{\"timer\":\"{key}\"}}");
            q(format!(
                "INSERT INTO history (procedure_id, sequence, at, actor_institution, actor_name, \
                 actor_role, command, from_stage, to_stage, comment, payload, prev_hash, hash) \
                 VALUES ({}, {}, {}, 'accession', 'scheduler', 'system', 'timer', NULL, NULL, \
                 NULL, {}, {}, {})",
                ph(1),
                ph(2),
                ph(3),
                ph(4),
                ph(5),
                ph(6)
            ))
            .bind(&id)
            .bind(sequence + 1)
            .bind(now)
            .bind(&payload)
            .bind(&prev)
            .bind(hash(&prev, &payload))
            .execute(&mut *tx)
            .await
            .unwrap();
            q(format!(
                "INSERT INTO outbox (dedupe_key, message_id, procedure_id, kind, \
                 recipient_institution, payload, status, attempts, next_attempt_at, created_at) \
                 VALUES ({}, {}, {}, 'reminder', 'moj', '{{}}', 'pending', 0, {}, {})",
                ph(1),
                ph(2),
                ph(3),
                ph(4),
                ph(5)
            ))
            .bind(format!("raw:{key}"))
            .bind(format!("<raw.{timer}@bench>"))
            .bind(&id)
            .bind(now)
            .bind(now)
            .execute(&mut *tx)
            .await
            .unwrap();
            tx.commit().await.unwrap();
        }
        claimed.len()
    }};
}

impl RawDb {
    /// A tick with sqlx alone (see `fire_due!`): the number of timers fired.
    pub async fn fire_due(&self, now: chrono::DateTime<Utc>, limit: u64) -> usize {
        match self {
            RawDb::Sqlite(pool) => fire_due!(
                pool,
                pool.begin_with("BEGIN IMMEDIATE"),
                |n: usize| format!("?{n}"),
                now,
                limit
            ),
            RawDb::Pg(pool) => {
                fire_due!(pool, pool.begin(), |n: usize| format!("${n}"), now, limit)
            }
        }
    }
}
