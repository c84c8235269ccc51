//! Test databases and an application on them.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use accession::app::Accession;
use accession::clock::ManualClock;
use accession::config::Settings;
use chrono::{TimeZone, Utc};
use sea_orm::{ConnectionTrait, Database};
use tempfile::TempDir;

pub const PG_ENV: &str = "ACCESSION_TEST_DATABASE_URL";

pub struct TestDb {
    pub url: String,
    /// Holds the SQLite file and the emails the file transport writes.
    pub dir: TempDir,
    pg: Option<(String, String)>,
}

pub fn sqlite() -> TestDb {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/accession.db", dir.path().display());
    TestDb { url, dir, pg: None }
}

/// A fresh PostgreSQL database, or None (with a note) outside CI when none is configured.
pub async fn postgres() -> Option<TestDb> {
    let Ok(admin) = std::env::var(PG_ENV) else {
        if std::env::var_os("CI").is_some() {
            panic!("{PG_ENV} must be set in CI: the PostgreSQL tests are required there");
        }
        eprintln!("skipping PostgreSQL: {PG_ENV} is not set");
        return None;
    };
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "accession_test_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst),
        Utc::now().timestamp_subsec_nanos()
    );
    let conn = Database::connect(&admin)
        .await
        .expect("connect to PostgreSQL");
    conn.execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create test database");
    conn.close().await.ok();
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
    Some(TestDb {
        url: format!("{base}/{name}"),
        dir: tempfile::tempdir().expect("temp dir"),
        pg: Some((admin.clone(), name)),
    })
}

impl TestDb {
    /// Drop a PostgreSQL test database (SQLite files go with their temp dir).
    pub async fn finish(self) {
        if let Some((admin, name)) = &self.pg
            && let Ok(conn) = Database::connect(admin).await
        {
            let _ = conn
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await;
            let _ = conn.close().await;
        }
    }

    pub fn settings(&self) -> Settings {
        let mut s = Settings::load(None).expect("default settings");
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        s.database.url = self.url.clone();
        s.database.max_connections = 4;
        s.workflows.dir = root.join("workflows");
        s.demo.dir = root.join("config/demo");
        s.calendar.holidays = Some(root.join("config/calendars/kg.toml"));
        s.mail.outbox_dir = self.dir.path().join("outbox");
        s
    }

    /// Settings that send mail by SMTP to a plain server on loopback `port`.
    pub fn smtp_settings(&self, port: u16) -> Settings {
        let mut s = self.settings();
        s.mail.transport = accession::config::MailTransport::Smtp;
        s.mail.smtp.host = "127.0.0.1".into();
        s.mail.smtp.port = port;
        s.mail.smtp.security = accession::config::SmtpSecurity::None;
        s.mail.smtp.timeout_secs = 5;
        s
    }

    pub async fn app_with(&self, settings: Settings, clock: &ManualClock) -> Accession {
        Accession::open(settings, Arc::new(clock.clone()))
            .await
            .expect("open the application")
    }

    pub async fn app(&self, clock: &ManualClock) -> Accession {
        Accession::open(self.settings(), Arc::new(clock.clone()))
            .await
            .expect("open the application")
    }
}

pub fn clock() -> ManualClock {
    ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 2, 6, 0, 0).unwrap())
}

/// Run an async test body against SQLite and, when available, PostgreSQL.
#[macro_export]
macro_rules! on_both {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let db = $crate::support::sqlite();
                super::$name(&db).await;
                db.finish().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(db) = $crate::support::postgres().await {
                    super::$name(&db).await;
                    db.finish().await;
                }
            }
        }
    };
}

/// `SELECT COUNT(*) …` on either backend.
pub async fn count(app: &Accession, sql: &str) -> i64 {
    use sea_orm::{ConnectionTrait, Statement};
    let conn = app.store_for_tests().connection();
    let row = conn
        .query_one_raw(Statement::from_string(
            conn.get_database_backend(),
            sql.to_string(),
        ))
        .await
        .expect("count query")
        .expect("one row");
    row.try_get_by_index::<i64>(0).expect("a count")
}

pub fn pid(id: &str) -> accession::ids::ProcedureId {
    accession::ids::ProcedureId::parse(id).unwrap()
}

impl TestDb {
    /// An application on this database with the Kyrgyz demo loaded.
    pub async fn demo_app(&self, clock: &ManualClock) -> Accession {
        let mut app = self.app(clock).await;
        app.demo().await.expect("load the demo");
        app
    }
}

/// The institution as its default role, named after itself in the history.
pub async fn actor(app: &Accession, institution: &str) -> accession::engine::Actor {
    app.actor(
        &accession::ids::InstitutionId::parse(institution).unwrap(),
        None,
        institution,
    )
    .await
    .expect("a known institution")
}

pub fn advance(version: i64, to: &str) -> accession::engine::Command {
    accession::engine::Command {
        expected_version: accession::ids::Version(version),
        act: accession::engine::Act::Advance {
            to: accession::ids::StageId::parse(to).unwrap(),
            comment: None,
        },
    }
}

pub fn record(version: i64, field: &str, value: &str) -> accession::engine::Command {
    accession::engine::Command {
        expected_version: accession::ids::Version(version),
        act: accession::engine::Act::Record {
            field: accession::ids::FieldName::parse(field).unwrap(),
            value: value.into(),
            comment: None,
            source: None,
        },
    }
}
