//! Persisted transitions over HTTP, beside the raw limit over HTTP in the same run: concurrent
//! clients on loopback moving procedures between two stages through the API
//! (`POST /api/v1/procedures/{id}/advance`, bearer token, `If-Match`), and the same requests to a
//! minimal axum route that runs the raw sqlx transaction of `benches/throughput.rs` (no engine, no
//! ORM, no middleware). Both servers run in this process on 127.0.0.1, as do the clients, so they
//! share its cores.
//!
//! `cargo bench --bench http` (SQLite; PostgreSQL too when ACCESSION_BENCH_DATABASE_URL names a
//! server). For each database and each number of clients (ACCESSION_BENCH_HTTP_CLIENTS,
//! comma-separated, default `1,8`): ACCESSION_BENCH_RUNS (default 3) runs, each on a fresh
//! database, of ACCESSION_BENCH_OPS (default 2000) requests to each server. Each client is one
//! reqwest client (a keep-alive connection) sending one request at a time, with the version from
//! the previous answer's `ETag`. Reported: requests per second, and the 50th and 99th percentile
//! latency of a request (sent to body read) over all the clients of a run; each the median over
//! the runs.

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use accession::app::Accession;
use accession::clock::ManualClock;
use accession::config::Settings;
use accession::engine::{Act, Command, Role, StartProcedure};
use accession::ids::{
    ConventionId, FieldName, ProcedureId, StageId, StateCode, Version, WorkflowId,
};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{TimeZone, Utc};
use sea_orm::ConnectionTrait;
use sea_orm::sqlx::{self, Row};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::sync::{Barrier, oneshot};

/// The two stages each client moves its procedure between, in turn (the seeded procedures are
/// at `legal-review`, so the first move is to `interagency-consultation`).
const STAGES: [&str; 2] = ["interagency-consultation", "legal-review"];

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Numbers of concurrent clients: ACCESSION_BENCH_HTTP_CLIENTS (comma-separated), or 1 and 8.
fn client_counts() -> Vec<usize> {
    std::env::var("ACCESSION_BENCH_HTTP_CLIENTS").map_or_else(
        |_| vec![1, 8],
        |list| {
            list.split(',')
                .map(|n| n.trim().parse().expect("a number of clients"))
                .collect()
        },
    )
}

fn root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn settings(url: &str) -> Settings {
    let mut s = Settings::load(None).unwrap();
    s.database.url = url.to_string();
    s.database.max_connections = 16;
    s.workflows.dir = root().join("workflows");
    s.calendar.holidays = Some(root().join("config/calendars/kg.toml"));
    s
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// The `q` quantile (0 < q <= 1) of sorted `v`, by nearest rank.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Databases to measure on: SQLite, and PostgreSQL when ACCESSION_BENCH_DATABASE_URL names one.
fn databases() -> Vec<(&'static str, Option<String>)> {
    let mut out = vec![("sqlite", None)];
    if let Ok(admin) = std::env::var("ACCESSION_BENCH_DATABASE_URL") {
        out.push(("postgres", Some(admin)));
    }
    out
}

/// What one side of one run measured.
struct Figures {
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
}

#[tokio::main]
async fn main() {
    let runs = env("ACCESSION_BENCH_RUNS", 3);
    let ops = env("ACCESSION_BENCH_OPS", 2000);
    println!();
    println!(
        "# transitions over HTTP (median of {runs} runs of {ops} requests), engine+API vs raw \
         sqlx behind a bare axum route; latency in ms"
    );
    println!(
        "{:<10} {:>7} {:>10} {:>10} {:>6} {:>9} {:>9} {:>9} {:>9}",
        "database",
        "clients",
        "engine/s",
        "raw/s",
        "ratio",
        "eng p50",
        "eng p99",
        "raw p50",
        "raw p99"
    );
    for (label, admin) in databases() {
        for clients in client_counts() {
            let mut engine = Vec::new();
            let mut raw = Vec::new();
            for run in 0..runs {
                let (e, r) = one_run(admin.as_deref(), clients, ops, run).await;
                engine.push(e);
                raw.push(r);
            }
            let m = |v: &[Figures], f: fn(&Figures) -> f64| median(v.iter().map(f).collect());
            let (e, r) = (m(&engine, |f| f.per_second), m(&raw, |f| f.per_second));
            println!(
                "{label:<10} {clients:>7} {e:>10.0} {r:>10.0} {:>5.0}% {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
                100.0 * e / r,
                m(&engine, |f| f.p50_ms),
                m(&engine, |f| f.p99_ms),
                m(&raw, |f| f.p50_ms),
                m(&raw, |f| f.p99_ms),
            );
        }
    }
}

/// One run on a fresh database: the engine's API on procedures `b-0` … `b-{clients-1}`, then
/// the raw route on `b-{clients}` … (the seeded ones the engine did not use).
async fn one_run(
    admin: Option<&str>,
    clients: usize,
    ops: usize,
    run: usize,
) -> (Figures, Figures) {
    let per = ops / clients;
    let (url, _dir) = fresh_database(admin, &format!("http_{clients}_{run}")).await;
    let app = seeded(&url, clients * 2).await;
    let token = app
        .create_token(&"moj".parse().unwrap(), Role::Ministry, "bench")
        .await
        .unwrap()
        .token;
    let mut versions = Vec::new();
    for i in 0..clients * 2 {
        let id = ProcedureId::parse(format!("b-{i}")).unwrap();
        versions.push(app.store.procedure(&id).await.unwrap().unwrap().version.0);
    }

    // The engine: `accession::api::serve`, as `accession serve` runs it. The listener is bound
    // before the server is spawned, so connections queue until it accepts: no wait needed.
    let app = Arc::new(app);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(accession::api::serve(Arc::clone(&app), listener, async {
        let _ = stopped.await;
    }));
    let targets = (0..clients)
        .map(|c| Target {
            url: format!("{base}/api/v1/procedures/b-{c}/advance"),
            token: Some(token.clone()),
            version: versions[c],
        })
        .collect();
    let engine = drive(targets, per).await;
    let _ = stop.send(());
    server.await.unwrap().unwrap();
    drop(app);

    // The raw limit: one bare route over a sqlx pool, on another port.
    let db = RawDb::connect(&url).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    let router = axum::Router::new()
        .route("/raw/{id}", axum::routing::post(raw_advance))
        .with_state(db);
    let server = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    let targets = (0..clients)
        .map(|c| Target {
            url: format!("{base}/raw/b-{}", clients + c),
            token: None,
            version: versions[clients + c],
        })
        .collect();
    let raw = drive(targets, per).await;
    let _ = stop.send(());
    server.await.unwrap().unwrap();
    (engine, raw)
}

/// Where one client sends its requests, with what, and the version it starts from.
struct Target {
    url: String,
    token: Option<String>,
    version: i64,
}

/// One task per target, each sending `per` moves one after another on its own keep-alive
/// connection, all started together: requests per second over the whole, and the latency
/// percentiles of every request.
async fn drive(targets: Vec<Target>, per: usize) -> Figures {
    let clients = targets.len();
    let start = Arc::new(Barrier::new(clients + 1));
    let mut tasks = Vec::new();
    for target in targets {
        let start = Arc::clone(&start);
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut version = target.version;
            let mut latencies = Vec::with_capacity(per);
            start.wait().await;
            for i in 0..per {
                let body = format!("{{\"to\":\"{}\"}}", STAGES[i % 2]);
                let mut request = client
                    .post(&target.url)
                    .header(header::CONTENT_TYPE, "application/json")
                    .header(header::IF_MATCH, format!("\"{version}\""))
                    .body(body);
                if let Some(token) = &target.token {
                    request = request.bearer_auth(token);
                }
                let sent = Instant::now();
                let response = request.send().await.expect("the server answers");
                let status = response.status();
                let etag = response
                    .headers()
                    .get(header::ETAG)
                    .and_then(|v| v.to_str().ok())
                    .map(|v| v.trim_start_matches("W/").trim_matches('"').to_string());
                // Read the whole body: the latency includes it, and the connection is reused.
                let text = response.text().await.expect("the body");
                latencies.push(sent.elapsed());
                assert_eq!(
                    status,
                    reqwest::StatusCode::OK,
                    "{} at version {version}: {text}",
                    target.url
                );
                version = etag
                    .and_then(|v| v.parse().ok())
                    .expect("an ETag with the new version");
            }
            latencies
        }));
    }
    start.wait().await;
    let started = Instant::now();
    let mut latencies = Vec::with_capacity(per * clients);
    for t in tasks {
        latencies.extend(t.await.unwrap());
    }
    let elapsed = started.elapsed().as_secs_f64();
    let mut ms: Vec<f64> = latencies.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
    ms.sort_by(|a, b| a.partial_cmp(b).unwrap());
    Figures {
        per_second: (per * clients) as f64 / elapsed,
        p50_ms: percentile(&ms, 0.50),
        p99_ms: percentile(&ms, 0.99),
    }
}

/// An empty database: a SQLite file, or a fresh PostgreSQL database.
async fn fresh_database(admin: Option<&str>, name: &str) -> (String, Option<tempfile::TempDir>) {
    match admin {
        None => {
            let dir = tempfile::tempdir().unwrap();
            (
                format!("sqlite://{}/bench.db", dir.path().display()),
                Some(dir),
            )
        }
        Some(admin) => {
            let name = format!("accession_bench_{name}");
            let conn = sea_orm::Database::connect(admin).await.unwrap();
            conn.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await
                .unwrap();
            conn.execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await
                .unwrap();
            let base = admin.rsplit_once('/').map_or(admin, |(b, _)| b);
            (format!("{base}/{name}"), None)
        }
    }
}

fn moj() -> accession::engine::Actor {
    accession::engine::Actor::new("moj".parse().unwrap(), Role::Ministry, "bench")
}

/// Institutions, conventions and `n` procedures `b-0` … at `legal-review` with the report
/// recorded, so each can go to `interagency-consultation` and back (MoJ may do both moves).
async fn seeded(url: &str, n: usize) -> Accession {
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 2, 6, 0, 0).unwrap());
    let app = Accession::open(settings(url), Arc::new(clock))
        .await
        .unwrap();
    app.import_institutions(&root().join("config/demo/institutions.toml"))
        .await
        .unwrap();
    app.import_conventions(&root().join("config/demo/conventions.toml"))
        .await
        .unwrap();
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
                convention: ConventionId::parse("cets-210").unwrap(),
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
                },
            },
            &moj(),
        )
        .await
        .unwrap();
    }
    app
}

// ---------------------------------------------------------------------------------------------
// The raw route: the transaction shape of throughput.rs's raw loops, one iteration per request.

/// The raw route's pool: as the store opens SQLite (WAL, synchronous NORMAL, 5 s busy timeout,
/// foreign keys, writes under `BEGIN IMMEDIATE`) and PostgreSQL, 16 connections at most.
#[derive(Clone)]
enum RawDb {
    Sqlite(sqlx::SqlitePool),
    Pg(sqlx::PgPool),
}

impl RawDb {
    async fn connect(url: &str) -> RawDb {
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

#[derive(serde::Deserialize)]
struct RawBody {
    to: String,
}

/// Why the raw route refused.
enum RawError {
    /// The version `If-Match` named is not the current one.
    Stale,
    Db(sqlx::Error),
}

impl From<sqlx::Error> for RawError {
    fn from(e: sqlx::Error) -> Self {
        RawError::Db(e)
    }
}

/// `POST /raw/{id}` with `{"to": stage}` and `If-Match: "<version>"`: the move, written with sqlx
/// alone; the new version in the `ETag` and as `{"version": n}`.
async fn raw_advance(
    State(db): State<RawDb>,
    Path(id): Path<String>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<RawBody>,
) -> Response {
    let Some(expected) = headers
        .get(header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.trim_start_matches("W/")
                .trim_matches('"')
                .parse::<i64>()
                .ok()
        })
    else {
        return (StatusCode::PRECONDITION_REQUIRED, "If-Match needed").into_response();
    };
    if !STAGES.contains(&body.to.as_str()) {
        return (StatusCode::UNPROCESSABLE_ENTITY, "unknown stage").into_response();
    }
    let done = match db {
        RawDb::Sqlite(pool) => raw_step_sqlite(&pool, &id, &body.to, expected).await,
        RawDb::Pg(pool) => raw_step_pg(&pool, &id, &body.to, expected).await,
    };
    match done {
        Ok(version) => (
            [(header::ETAG, format!("\"{version}\""))],
            axum::Json(serde_json::json!({ "version": version })),
        )
            .into_response(),
        Err(RawError::Stale) => (StatusCode::PRECONDITION_FAILED, "stale version").into_response(),
        Err(RawError::Db(e)) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

fn hash(prev: &str, text: &str) -> String {
    hex::encode(Sha256::digest(format!("{prev}{text}").as_bytes()))
}

/// Timers and outbox rows a transition writes, as the engine does for these two stages:
/// throughput.rs's `shape(i)`, keyed by the stage moved to (even `i` is the move to
/// `interagency-consultation`).
fn shape(to: &str) -> (usize, usize) {
    if to == STAGES[0] { (3, 5) } else { (4, 1) }
}

/// One iteration of throughput.rs's `raw_loop_sqlite`, with the version checked against
/// `expected` first: the new version.
async fn raw_step_sqlite(
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

/// One iteration of throughput.rs's `raw_loop_pg`, with the version checked against `expected`
/// first: the new version.
async fn raw_step_pg(
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
