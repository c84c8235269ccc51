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

mod common;

use common::{
    RawDb, RawError, STAGES, databases, drop_database, env, fresh_database, median, seeded,
};

use std::sync::Arc;
use std::time::Instant;

use accession::engine::Role;
use accession::ids::ProcedureId;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;
use tokio::sync::{Barrier, oneshot};

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

/// The `q` quantile (0 < q <= 1) of sorted `v`, by nearest rank.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
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
    let name = format!("http_{clients}_{run}");
    let (url, _dir) = fresh_database(admin, &name).await;
    let app = seeded(&url, clients * 2).await;
    let token = app
        .create_token(
            &accession::engine::Actor::operator("cli:test"),
            &"moj".parse().unwrap(),
            Role::Ministry,
            "bench",
        )
        .await
        .unwrap()
        .token;
    let mut versions = Vec::new();
    for i in 0..clients * 2 {
        let id = ProcedureId::parse(format!("b-{i}")).unwrap();
        versions.push(
            app.store_for_tests()
                .procedure(&id)
                .await
                .unwrap()
                .unwrap()
                .version
                .0,
        );
    }

    // The engine: `accession::server::serve`, as `accession serve` runs it. The listener is bound
    // before the server is spawned, so connections queue until it accepts: no wait needed.
    let app = Arc::new(app);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(accession::server::serve(
        Arc::clone(&app),
        listener,
        async {
            let _ = stopped.await;
        },
    ));
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
    if let Some(admin) = admin {
        drop_database(admin, &name).await;
    }
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

// ---------------------------------------------------------------------------------------------
// The raw route: the transaction shape of throughput.rs's raw loops, one iteration per request.

#[derive(serde::Deserialize)]
struct RawBody {
    to: String,
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
    let done = db.step(&id, &body.to, expected).await;
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
