//! The scheduler tick with about 100 due timers among N pending ones, on SQLite (and PostgreSQL
//! when ACCESSION_BENCH_DATABASE_URL names a server): a tick must cost what is due, not what
//! exists. Run with `cargo bench --bench tick` (sizes: ACCESSION_BENCH_SIZES, default
//! 10000,100000,1000000). Prints, per size, the median of five ticks that each fire 100 timers
//! (engine, hashed history row, outbox rows, timer marked fired) and of the due-timer query alone,
//! beside the same tick written with sqlx alone (`common::RawDb::fire_due`) on another 100 timers
//! in the same database.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use accession::app::Accession;
use accession::clock::ManualClock;
use accession::engine::{Act, Command, StartProcedure};
use accession::ids::{ConventionId, ProcedureId, StageId, StateCode, Version, WorkflowId};
use accession::scheduler::{SchedulerOptions, tick};
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use sea_orm::{ConnectionTrait, DbBackend, Statement, Value};

const DUE_PER_TICK: u64 = 100;
const ROUNDS: u64 = 5;

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`; nothing else is expected.
    let sizes: Vec<u64> = std::env::var("ACCESSION_BENCH_SIZES")
        .unwrap_or_else(|_| "10000,100000,1000000".into())
        .split(',')
        .map(|s| s.trim().parse().expect("sizes are numbers"))
        .collect();
    println!("scheduler tick: {DUE_PER_TICK} due timers among N pending, median of {ROUNDS}");
    println!(
        "{:<10} {:>10} {:>14} {:>14} {:>7} {:>16}",
        "database", "N", "tick (ms)", "raw (ms)", "ratio", "due query (ms)"
    );
    for (label, admin) in common::databases() {
        for &n in &sizes {
            let name = format!("tick_{n}");
            let (url, _dir) = common::fresh_database(admin.as_deref(), &name).await;
            run(label, &url, n).await;
            if let Some(admin) = &admin {
                // A million procedures take gigabytes: not left behind.
                common::drop_database(admin, &name).await;
            }
        }
    }
}

async fn run(label: &str, url: &str, n: u64) {
    let root = common::root();
    let settings = common::settings(url);
    let start: DateTime<Utc> = Utc.with_ymd_and_hms(2027, 1, 4, 4, 0, 0).unwrap();
    let clock = ManualClock::new(start);
    let app = Accession::open(settings, Arc::new(clock.clone()))
        .await
        .unwrap();
    app.import_states(&root.join("config/demo/states.toml"))
        .await
        .unwrap();
    app.import_institutions(&root.join("config/demo/institutions.toml"))
        .await
        .unwrap();
    app.import_conventions(&root.join("config/demo/conventions.toml"))
        .await
        .unwrap();
    let mfa = app
        .actor(&"mfa".parse().unwrap(), None, "bench")
        .await
        .unwrap();
    let template = ProcedureId::parse("template").unwrap();
    app.start(
        &WorkflowId::parse("coe-accession").unwrap(),
        &StartProcedure {
            id: template.clone(),
            state: StateCode::parse("KG").unwrap(),
            convention: ConventionId::parse("cets-210").unwrap(),
            comment: None,
        },
        &mfa,
    )
    .await
    .unwrap();
    app.act(
        &template,
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

    let loading = Instant::now();
    eprint!("{label}: loading {n} procedures with a pending timer each …");
    let conn = app.store_for_tests().connection();
    let backend = conn.get_database_backend();
    let far = start + TimeDelta::days(3650);
    // The copies are one State's procedures for one convention, all open, which the product
    // refuses (one open procedure per State and convention): the rule's index goes for this
    // synthetic load. The tick neither reads nor changes what it indexes (State, convention).
    conn.execute_unprepared("DROP INDEX procedures_one_open_per_state_and_convention")
        .await
        .unwrap();
    exec(
        conn,
        backend,
        &procedures_sql(backend),
        vec![(n as i64).into()],
    )
    .await;
    exec(
        conn,
        backend,
        &timers_sql(backend, "deadline", "due"),
        vec![(n as i64).into(), 0i64.into(), far.into()],
    )
    .await;
    // Measure the steady state, not the bulk load's deferred work: without this, PostgreSQL's
    // first checkpoint after the load lands in the ticks (each page's first change after it
    // writes a full page image) and so do the hint bits set on the first read of new rows.
    match backend {
        DbBackend::Postgres => {
            conn.execute_unprepared("VACUUM ANALYZE").await.unwrap();
            conn.execute_unprepared("CHECKPOINT").await.unwrap();
        }
        _ => {
            conn.execute_unprepared("PRAGMA wal_checkpoint(TRUNCATE)")
                .await
                .unwrap();
        }
    }
    eprintln!(" {:.1} s", loading.elapsed().as_secs_f64());

    let options = SchedulerOptions {
        owner: "bench".into(),
        batch_size: DUE_PER_TICK,
        lease: TimeDelta::minutes(5),
    };
    let raw = common::RawDb::connect(url).await;
    let mut ticks = Vec::new();
    let mut raws = Vec::new();
    let mut queries = Vec::new();
    for round in 0..ROUNDS {
        // DUE_PER_TICK procedures of this round get a reminder that is due now.
        let now = start + TimeDelta::hours(round as i64 + 1);
        due_reminders(conn, &format!("bench {round}"), round * DUE_PER_TICK, now).await;
        let began = Instant::now();
        conn.query_all_raw(Statement::from_sql_and_values(
            backend,
            due_query(backend),
            vec![now.into()],
        ))
        .await
        .unwrap();
        queries.push(ms(began.elapsed()));
        let began = Instant::now();
        let report = tick(&app, &options, now).await.unwrap();
        ticks.push(ms(began.elapsed()));
        assert_eq!(report.fired, DUE_PER_TICK, "every due timer fires");

        // The raw baseline: as many timers on other procedures, fired with sqlx alone.
        due_reminders(
            conn,
            &format!("raw {round}"),
            (ROUNDS + round) * DUE_PER_TICK,
            now,
        )
        .await;
        let began = Instant::now();
        let fired = raw.fire_due(now, DUE_PER_TICK).await;
        raws.push(ms(began.elapsed()));
        assert_eq!(fired as u64, DUE_PER_TICK, "every due timer fires");
    }
    let (tick_ms, raw_ms) = (common::median(ticks), common::median(raws));
    println!(
        "{:<10} {:>10} {:>14.2} {:>14.2} {:>6.0}% {:>16.3}",
        label,
        n,
        tick_ms,
        raw_ms,
        100.0 * raw_ms / tick_ms,
        common::median(queries)
    );
    app.store_for_tests().clone().close().await.unwrap();
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A reminder due a minute before `now` on each of DUE_PER_TICK procedures from `b-{first}`.
async fn due_reminders(
    conn: &sea_orm::DatabaseConnection,
    rule: &str,
    first: u64,
    now: DateTime<Utc>,
) {
    let backend = conn.get_database_backend();
    exec(
        conn,
        backend,
        &timers_sql(backend, "reminder", rule),
        vec![
            (DUE_PER_TICK as i64).into(),
            (first as i64).into(),
            (now - TimeDelta::minutes(1)).into(),
        ],
    )
    .await;
}

async fn exec(
    conn: &sea_orm::DatabaseConnection,
    backend: DbBackend,
    sql: &str,
    values: Vec<Value>,
) {
    conn.execute_raw(Statement::from_sql_and_values(backend, sql, values))
        .await
        .unwrap_or_else(|e| panic!("{e}\n{sql}"));
}

/// Numbers 1..=$1 as rows `i`.
fn series(backend: DbBackend, count: &str) -> String {
    match backend {
        DbBackend::Postgres => format!("SELECT i FROM generate_series(1, {count}) AS s(i)"),
        _ => format!(
            "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {count}) \
             SELECT i FROM s"
        ),
    }
}

fn param(backend: DbBackend, n: usize) -> String {
    match backend {
        DbBackend::Postgres => format!("${n}"),
        _ => format!("?{n}"),
    }
}

/// Copies of the template procedure, `b-1` … `b-N`, at the same stage entry.
fn procedures_sql(backend: DbBackend) -> String {
    format!(
        "INSERT INTO procedures (id, state_code, convention_id, workflow_id, workflow_version, \
         workflow_hash, stage, stage_entered_at, stage_entry, status, version, fields, due_on, \
         created_at, updated_at) \
         SELECT 'b-' || s.i, t.state_code, t.convention_id, t.workflow_id, t.workflow_version, \
         t.workflow_hash, t.stage, t.stage_entered_at, t.stage_entry, t.status, t.version, \
         t.fields, t.due_on, t.created_at, t.updated_at \
         FROM ({}) AS s CROSS JOIN procedures t WHERE t.id = 'template'",
        series(backend, &param(backend, 1))
    )
}

/// One pending timer for each of procedures `b-(offset+1)` … `b-(offset+count)`, firing at `at`.
fn timers_sql(backend: DbBackend, kind: &str, rule: &str) -> String {
    let (count, offset, at) = (param(backend, 1), param(backend, 2), param(backend, 3));
    format!(
        "INSERT INTO timers (procedure_id, stage, stage_entry, kind, rule, occurrence, fire_at, \
         status, recipients, dedupe_key, created_at) \
         SELECT 'b-' || (s.i + {offset}), t.stage, t.stage_entry, '{kind}', '{rule}', 0, {at}, \
         'pending', '[\"moj\"]', \
         'b-' || (s.i + {offset}) || ':' || t.stage_entry || ':{kind}:{rule}', {at} \
         FROM ({}) AS s CROSS JOIN procedures t WHERE t.id = 'template'",
        series(backend, &count)
    )
}

/// The claim's candidate query, alone.
fn due_query(backend: DbBackend) -> String {
    format!(
        "SELECT id FROM timers WHERE status = 'pending' AND fire_at <= {} \
         ORDER BY fire_at LIMIT {DUE_PER_TICK}",
        param(backend, 1)
    )
}
