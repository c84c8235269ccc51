//! Throughput against the raw limit of the same database: persisted transitions through the
//! engine and the store, beside the same transaction shape written with sqlx directly (no engine,
//! no ORM); emails per second to a local SMTP server; and `serve`'s memory and time to ready.
//!
//! `cargo bench --bench throughput` (SQLite; PostgreSQL too when ACCESSION_BENCH_DATABASE_URL
//! names a server). ACCESSION_BENCH_RUNS (default 3) runs of ACCESSION_BENCH_OPS (default 2000)
//! transitions each; the median is reported. ACCESSION_BENCH_PROCEDURES (default 1000000) sizes
//! the database `serve` is measured on.

mod common;

use common::{RawDb, STAGES, databases, env, fresh_database, median, moj, root, seeded, settings};

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;

use accession::app::Accession;
use accession::clock::SystemClock;
use accession::config::Settings;
use accession::engine::{Act, Command};
use accession::ids::{ProcedureId, StageId, Version};
use indicatif::{ProgressBar, ProgressStyle};
use sea_orm::{ConnectionTrait, DbBackend};

/// Whether `part` is to run: ACCESSION_BENCH_ONLY lists the parts (transitions, http, emails,
/// serve), comma-separated; all run when it is unset.
fn wanted(part: &str) -> bool {
    std::env::var("ACCESSION_BENCH_ONLY")
        .map_or(true, |only| only.split(',').any(|p| p.trim() == part))
}

#[tokio::main]
async fn main() {
    let runs = env("ACCESSION_BENCH_RUNS", 3);
    if wanted("transitions") {
        transitions(runs).await;
    }
    if wanted("emails") {
        emails(runs).await;
    }
    if wanted("serve") {
        serve(runs).await;
    }
}

async fn transitions(runs: usize) {
    let ops = env("ACCESSION_BENCH_OPS", 2000);
    println!();
    println!("# transitions per second (median of {runs} runs of {ops}), engine+store vs raw sqlx");
    println!(
        "# ratio: the median of the runs' ratios (each run measures both, one after the other)"
    );
    println!(
        "{:<22} {:>8} {:>12} {:>12} {:>7}",
        "database", "clients", "engine/s", "raw/s", "ratio"
    );
    for (label, admin) in databases() {
        let clients: &[usize] = if admin.is_some() { &[1, 8] } else { &[1] };
        for &n in clients {
            let mut engine = Vec::new();
            let mut raw = Vec::new();
            let mut ratios = Vec::new();
            for run in 0..runs {
                let name = format!("tp_{n}_{run}");
                let (url, _dir) = fresh_database(admin.as_deref(), &name).await;
                let app = Arc::new(seeded(&url, n * 2).await);
                let e = engine_run(&app, n, ops).await;
                let r = raw_run(&url, n, ops).await;
                drop(app);
                if let Some(admin) = &admin {
                    common::drop_database(admin, &name).await;
                }
                println!(
                    "{:<22} {n:>8} {e:>12.0} {r:>12.0} {:>6.0}%",
                    format!("  run {}", run + 1),
                    100.0 * e / r
                );
                engine.push(e);
                raw.push(r);
                // The machine's speed drifts between runs (a shared virtual machine): each
                // run's ratio sets the engine beside the raw path measured just after it.
                ratios.push(e / r);
            }
            let (e, r, ratio) = (median(engine), median(raw), median(ratios));
            println!(
                "{label:<22} {n:>8} {e:>12.0} {r:>12.0} {:>6.0}%",
                100.0 * ratio
            );
        }
    }
}

async fn emails(runs: usize) {
    println!();
    println!("# emails per second to a local SMTP server (pooled), median of {runs} runs");
    let (mut engine, mut raw) = (Vec::new(), Vec::new());
    for run in 0..runs {
        let (e, r) = email_run(run).await;
        engine.push(e);
        raw.push(r);
    }
    let (e, r) = (median(engine), median(raw));
    println!(
        "emails/s: dispatcher {e:.0}, raw sends {r:.0}, ratio {:.0}%",
        100.0 * e / r
    );
}

async fn serve(runs: usize) {
    let n = env("ACCESSION_BENCH_PROCEDURES", 1_000_000);
    println!();
    println!("# serve: peak memory (VmHWM) and time to ready, median of {runs} runs");
    for (label, procedures) in [("empty database", 0usize), ("with procedures", n)] {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/serve.db", dir.path().display());
        {
            let app = seeded(&url, 1).await;
            if procedures > 0 {
                generate(&app, procedures).await;
            }
        }
        let mut ready = Vec::new();
        let mut memory = Vec::new();
        for _ in 0..runs {
            let (r, m) = serve_run(&url).await;
            ready.push(r);
            memory.push(m);
        }
        println!(
            "{label:<16} procedures {procedures:>8}: ready in {:.0} ms, peak memory {:.1} MiB",
            median(ready),
            median(memory)
        );
    }
}

/// `clients` tasks, each moving its own procedure between two stages: transitions per second.
async fn engine_run(app: &Arc<Accession>, clients: usize, ops: usize) -> f64 {
    let per = ops / clients;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let app = Arc::clone(app);
        tasks.push(tokio::spawn(async move {
            let id = ProcedureId::parse(format!("b-{c}")).unwrap();
            let mut version = app
                .store_for_tests()
                .procedure(&id)
                .await
                .unwrap()
                .unwrap()
                .version
                .0;
            for i in 0..per {
                let to = if i.is_multiple_of(2) {
                    "interagency-consultation"
                } else {
                    "legal-review"
                };
                let act = Act::Advance {
                    to: StageId::parse(to).unwrap(),
                    comment: None,
                };
                let view = app
                    .act(
                        &id,
                        &Command {
                            expected_version: Version(version),
                            act,
                        },
                        &moj(),
                    )
                    .await
                    .unwrap();
                version = view.procedure.version.0;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    (per * clients) as f64 / started.elapsed().as_secs_f64()
}

/// The same transaction shape with sqlx alone (`common::RawDb::step`), on procedures
/// `b-{clients}` … (the seeded ones the engine did not use).
async fn raw_run(url: &str, clients: usize, ops: usize) -> f64 {
    let per = ops / clients;
    let db = RawDb::connect(url).await;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            let id = format!("b-{}", clients + c);
            let mut version = db.version(&id).await;
            for i in 0..per {
                let stage = STAGES[i % 2];
                match db.step(&id, stage, version).await {
                    Ok(v) => version = v,
                    Err(_) => panic!("the raw move of {id} failed"),
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    (per * clients) as f64 / started.elapsed().as_secs_f64()
}

/// Queue emails by moving procedures, then send them all to a local SMTP server: emails/s.
async fn email_run(run: usize) -> (f64, f64) {
    use mailin_embedded::{Handler, Server, response};
    use std::sync::atomic::{AtomicUsize, Ordering};
    /// Counts the bytes it receives, so the raw messages can be the dispatcher's size.
    #[derive(Clone)]
    struct Sink(Arc<AtomicUsize>);
    impl Handler for Sink {
        fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
            self.0.fetch_add(buf.len(), Ordering::Relaxed);
            Ok(())
        }
        fn data_end(&mut self) -> mailin_embedded::Response {
            response::OK
        }
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let received = Arc::new(AtomicUsize::new(0));
    let mut server = Server::new(Sink(Arc::clone(&received)));
    server
        .with_name("bench")
        .with_num_threads(16)
        .with_tcp_listener(listener);
    std::thread::spawn(move || {
        let _ = server.serve();
    });
    let (url, _dir) = fresh_database(None, &format!("mail_{run}")).await;
    let mut s = settings(&url);
    s.mail.transport = accession::config::MailTransport::Smtp;
    s.mail.smtp.host = "127.0.0.1".into();
    s.mail.smtp.port = port;
    s.mail.smtp.security = accession::config::SmtpSecurity::None;
    s.mail.smtp.pool_max = 8;
    s.dispatcher.batch_size = 500;
    let app = seeded_with(&url, s.clone(), 200).await;
    let dispatcher = accession::scheduler::Dispatcher::from_settings(&app).unwrap();
    let pending = app.store_for_tests().outbox_counts().await.unwrap().pending;
    let started = Instant::now();
    let report = dispatcher.dispatch(&app, app.now()).await.unwrap();
    let elapsed = started.elapsed().as_secs_f64();
    assert_eq!(
        report.sent + report.cancelled,
        pending,
        "every email handled"
    );
    let engine = report.sent as f64 / elapsed;
    // The server serves one connection per thread: the dispatcher's idle pooled connections
    // would hold threads the raw sends need.
    drop(dispatcher);

    // The raw limit: as many ready-made messages of the same size, sent through the same pool
    // size as fast as it takes them, with no outbox, no reading and no rendering.
    use accession::notify::Mailer;
    let mailer = accession::notify::SmtpMailer::new(&s.mail.smtp, None).unwrap();
    let size = received.load(Ordering::Relaxed) / (report.sent as usize).max(1);
    let messages: Vec<_> = (0..report.sent)
        .map(|i| raw_message(&format!("<raw-{run}-{i}@bench>"), size))
        .collect();
    let started = Instant::now();
    let sends = futures_util::stream::iter(messages.iter().map(|m| mailer.send(m)))
        .buffer_unordered(s.mail.smtp.pool_max as usize)
        .collect::<Vec<_>>()
        .await;
    let raw = sends.len() as f64 / started.elapsed().as_secs_f64();
    if let Some(Err(e)) = sends.iter().find(|r| r.is_err()) {
        panic!("a raw email was not sent: {e}");
    }
    (engine, raw)
}

/// A message like the dispatcher's (text and HTML alternatives), about `size` bytes in all.
fn raw_message(message_id: &str, size: usize) -> accession::notify::Message {
    use accession::engine::NotificationKind;
    use accession::notify::{ExtraHeaders, Mailbox, RenderedEmail, build_message};
    use chrono::Utc;
    let line = "The stage Parliament of ETS No. 112 is due on 2027-05-01. ";
    // Headers and MIME parts take about a kilobyte; text and HTML share the rest.
    let text = line.repeat(size.saturating_sub(1000) / 2 / line.len() + 1);
    build_message(
        &"Accession <accession@example.org>"
            .parse::<Mailbox>()
            .unwrap(),
        &["moj@gov.example".parse::<Mailbox>().unwrap()],
        message_id,
        Utc::now(),
        &RenderedEmail {
            subject: "[Accession] Reminder: ETS No. 112 - Parliament".into(),
            html: format!("<p>{text}</p>"),
            text,
            attachments: Vec::new(),
        },
        &ExtraHeaders {
            procedure_id: Some("kg-ets-112".into()),
            kind: NotificationKind::Reminder,
        },
    )
    .unwrap()
}

async fn seeded_with(url: &str, s: Settings, n: usize) -> Accession {
    drop(seeded(url, n).await);
    Accession::open(s, Arc::new(SystemClock)).await.unwrap()
}

/// `n` more procedures (copies of `b-0`) in batches, with a progress bar.
async fn generate(app: &Accession, n: usize) {
    let conn = app.store_for_tests().connection();
    let backend = conn.get_database_backend();
    assert_eq!(backend, DbBackend::Sqlite);
    let bar = ProgressBar::new(n as u64).with_style(
        ProgressStyle::with_template("{msg} {wide_bar} {pos}/{len} ({per_sec}, {eta})").unwrap(),
    );
    bar.set_message("generating procedures");
    let batch = 50_000;
    let mut done = 0;
    while done < n {
        let count = batch.min(n - done);
        let sql = format!(
            "INSERT INTO procedures (id, state_code, convention_id, workflow_id, workflow_version, workflow_hash, stage, stage_entered_at, stage_entry, status, version, fields, due_on, created_at, updated_at) \
             WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {count}) \
             SELECT 'g-' || (s.i + {done}), t.state_code, t.convention_id, t.workflow_id, t.workflow_version, t.workflow_hash, t.stage, t.stage_entered_at, t.stage_entry, 'withdrawn', t.version, t.fields, t.due_on, t.created_at, t.updated_at \
             FROM s CROSS JOIN procedures t WHERE t.id = 'b-0'"
        );
        conn.execute_unprepared(&sql).await.unwrap();
        let timers = format!(
            "INSERT INTO timers (procedure_id, stage, stage_entry, kind, rule, occurrence, fire_at, status, recipients, dedupe_key, created_at) \
             WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {count}) \
             SELECT 'g-' || (s.i + {done}), 'legal-review', 3, 'deadline', 'due', 0, '2036-01-01 00:00:00+00:00', 'pending', '[\"moj\"]', 'g-' || (s.i + {done}) || ':due', '2026-11-02 06:00:00+00:00' FROM s"
        );
        conn.execute_unprepared(&timers).await.unwrap();
        done += count;
        bar.set_position(done as u64);
    }
    bar.finish_and_clear();
}

/// Start `accession serve` on `url`: milliseconds until /readyz answers 200, and the peak
/// resident memory (MiB) after it has been ready and idle for a second.
async fn serve_run(url: &str) -> (f64, f64) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let bin = env!("CARGO_BIN_EXE_accession");
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut child = std::process::Command::new(bin)
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .current_dir(dir.path())
        .env("ACCESSION__DATABASE__URL", url)
        .env("ACCESSION__WORKFLOWS__DIR", root().join("workflows"))
        .env(
            "ACCESSION__CALENDAR__HOLIDAYS",
            root().join("config/calendars/kg.toml"),
        )
        .env("ACCESSION__SCHEDULER__ENABLED", "false")
        .env("ACCESSION__DISPATCHER__ENABLED", "false")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let ready = loop {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::{Read, Write};
            let _ = write!(
                s,
                "GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            );
            let mut answer = String::new();
            let _ = s.read_to_string(&mut answer);
            if answer.starts_with("HTTP/1.1 200") {
                break started.elapsed().as_secs_f64() * 1000.0;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "serve never became ready"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    let status =
        std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap_or_default();
    let peak_kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    let _ = child.kill();
    let _ = child.wait();
    (ready, peak_kib / 1024.0)
}
