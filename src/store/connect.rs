//! Opening the database: SQLite (WAL, busy timeout, foreign keys on every pooled connection, file
//! and folder created on first run) or PostgreSQL; and write transactions that take the write lock
//! up front on SQLite (BEGIN IMMEDIATE), so two writers queue instead of failing mid-transaction.

use std::path::Path;
use std::time::Duration;

use migrations::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
};

use super::StoreError;
use crate::config::DatabaseSettings;

#[derive(Debug, Clone)]
pub struct Store {
    pub(super) db: DatabaseConnection,
    /// The domain of the Message-IDs given to outbox rows: the sender's (see `with_mail_domain`).
    pub(super) mail_domain: String,
    /// Institutions and conventions, shared by the clones of this store.
    pub(super) reference: std::sync::Arc<super::cached::ReferenceCache>,
    /// The last history row written per procedure, shared by the clones of this store.
    pub(super) tips: std::sync::Arc<super::cached::ChainTips>,
    /// Whether writes are being refused, shared by the clones of this store.
    pub(super) health: std::sync::Arc<super::health::WriteHealth>,
}

impl Store {
    pub async fn connect(settings: &DatabaseSettings) -> Result<Store, StoreError> {
        let url = settings.url.trim();
        let mut options = ConnectOptions::new(url.to_string());
        options
            .max_connections(settings.max_connections.max(1))
            .min_connections(0)
            .connect_timeout(Duration::from_secs(10))
            .acquire_timeout(Duration::from_secs(30))
            .sqlx_logging(false);
        // A connection goes back to the pool only with no transaction open. After SQLite rolls a
        // transaction back by itself (it does on SQLITE_FULL and some I/O errors), the driver's
        // ROLLBACK fails and it still counts the transaction as open; the next BEGIN on that
        // connection became a SAVEPOINT nested in nothing, whose RELEASE committed nothing while
        // reporting success — acknowledged writes that were never written, and a write lock held
        // until the process ended. Such a connection is closed instead of reused.
        options.map_sqlx_sqlite_before_acquire(|conn, _| Box::pin(reusable(conn)));
        options.map_sqlx_postgres_before_acquire(|conn, _| Box::pin(reusable(conn)));
        if url.starts_with("sqlite:") {
            create_sqlite_folder(url)?;
            super::error::note_busy_timeout(settings.busy_timeout_ms);
            let busy = Duration::from_millis(settings.busy_timeout_ms);
            let synchronous = match settings.sqlite_synchronous {
                crate::config::SqliteSynchronous::Normal => SqliteSynchronous::Normal,
                crate::config::SqliteSynchronous::Full => SqliteSynchronous::Full,
            };
            options.map_sqlx_sqlite_opts(move |o| {
                o.create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(synchronous)
                    .busy_timeout(busy)
                    .foreign_keys(true)
            });
        } else if !url.starts_with("postgres://") && !url.starts_with("postgresql://") {
            return Err(StoreError::corrupt(format!(
                "database.url must start with sqlite:// or postgres://, not `{}`",
                url.split("://").next().unwrap_or(url)
            )));
        }
        let db = Database::connect(options)
            .await
            .map_err(|e| read_only_or(url, e))?;
        let mut health = super::health::WriteHealth::default();
        health.watched = sqlite_file(url).map(|file| {
            (
                file.to_path_buf(),
                settings.min_free_mib.saturating_mul(1024 * 1024),
            )
        });
        Ok(Store {
            db,
            mail_domain: "accession.invalid".into(),
            reference: std::sync::Arc::new(super::cached::ReferenceCache::new(
                Duration::from_millis(settings.reference_cache_ms),
            )),
            tips: Default::default(),
            health: std::sync::Arc::new(health),
        })
    }

    /// Whether the settings name a SQLite file that does not exist yet (it is created on the
    /// first connection that may write).
    pub fn is_missing(settings: &DatabaseSettings) -> bool {
        sqlite_file(settings.url.trim()).is_some_and(|file| !file.exists())
    }

    /// Connect only to a database that exists and is up to date, creating nothing: for read-only
    /// uses such as checking workflow files. None when there is no such database.
    pub async fn connect_existing(settings: &DatabaseSettings) -> Option<Store> {
        if Store::is_missing(settings) {
            return None;
        }
        let store = Store::connect_read_only(settings).await.ok()?;
        store
            .pending_migrations_read_only()
            .await
            .is_ok_and(|pending| pending.is_empty())
            .then_some(store)
    }

    /// Connect to read only, writing nothing at all — not the schema, not the journal mode —
    /// so that read commands work on a file that cannot be written (a read-only mount, a
    /// copy kept as evidence). SQLite opens the file read-only; when it cannot even set up
    /// the shared memory of WAL mode (the folder cannot be written and no `-shm` file is
    /// there, so no writer has the database open), it reads it as immutable. The file must
    /// exist. PostgreSQL connects as usual: it is up to the role what it may write.
    pub async fn connect_read_only(settings: &DatabaseSettings) -> Result<Store, StoreError> {
        let url = settings.url.trim();
        if !url.starts_with("sqlite:") {
            return Store::connect(settings).await;
        }
        super::error::note_busy_timeout(settings.busy_timeout_ms);
        let attempt = |immutable: bool| async move {
            let mut options = ConnectOptions::new(url.to_string());
            options
                .max_connections(settings.max_connections.max(1))
                .min_connections(0)
                .connect_timeout(Duration::from_secs(10))
                .acquire_timeout(Duration::from_secs(30))
                .sqlx_logging(false);
            let busy = Duration::from_millis(settings.busy_timeout_ms);
            options.map_sqlx_sqlite_opts(move |o| {
                o.create_if_missing(false)
                    .read_only(true)
                    .immutable(immutable)
                    .busy_timeout(busy)
            });
            let db = Database::connect(options).await?;
            // A first read tells whether the file can be read this way.
            if let Err(e) = db
                .execute_unprepared("SELECT 1 FROM sqlite_master LIMIT 1")
                .await
            {
                let _ = db.close().await;
                return Err(e);
            }
            Ok::<_, sea_orm::DbErr>(db)
        };
        let db = match attempt(false).await {
            Ok(db) => db,
            Err(e) => {
                tracing::debug!(error = %e, "the database cannot be read as it is: reading it as immutable");
                attempt(true).await?
            }
        };
        Ok(Store {
            db,
            mail_domain: "accession.invalid".into(),
            reference: std::sync::Arc::new(super::cached::ReferenceCache::new(
                Duration::from_millis(settings.reference_cache_ms),
            )),
            tips: Default::default(),
            // Nothing is written through this store: there is no disk to watch.
            health: Default::default(),
        })
    }

    /// Names of migrations not yet applied, found without writing (not even the table of
    /// migrations: a database never migrated has them all pending).
    pub async fn pending_migrations_read_only(&self) -> Result<Vec<String>, StoreError> {
        Ok(Migrator::get_pending_migrations_read_only(&self.db)
            .await?
            .iter()
            .map(|m| m.name().to_string())
            .collect())
    }

    /// Bring the schema up to date.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        Migrator::up(&self.db, None).await?;
        // Rows written before the log existed go into it once, here rather than in the first act.
        self.backfill_log().await?;
        Ok(())
    }

    /// Names of migrations not yet applied.
    pub async fn pending_migrations(&self) -> Result<Vec<String>, StoreError> {
        Ok(Migrator::get_pending_migrations(&self.db)
            .await?
            .iter()
            .map(|m| m.name().to_string())
            .collect())
    }

    /// Message-IDs of new outbox rows end in `@domain`: the sender's domain, so receiving servers
    /// see a plausible id. The default is `accession.invalid`.
    pub fn with_mail_domain(mut self, domain: impl Into<String>) -> Self {
        self.mail_domain = domain.into();
        self
    }

    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    pub fn backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    /// A transaction for writing; on SQLite it holds the write lock from its first statement.
    pub(super) async fn begin_write(&self) -> Result<DatabaseTransaction, StoreError> {
        let txn = match self.backend() {
            DbBackend::Sqlite => {
                self.db
                    .begin_with_options(TransactionOptions {
                        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                        ..Default::default()
                    })
                    .await?
            }
            _ => self.db.begin().await?,
        };
        Ok(txn)
    }

    pub async fn close(self) -> Result<(), StoreError> {
        self.db.close().await?;
        Ok(())
    }
}

/// Whether a pooled connection may be handed out again: not while the driver believes a
/// transaction is still open on it.
async fn reusable<C: sea_orm::sqlx::Connection>(
    conn: &mut C,
) -> Result<bool, sea_orm::sqlx::Error> {
    if conn.is_in_transaction() {
        tracing::warn!(
            "a database connection came back with a transaction still open; it is closed, not reused"
        );
        return Ok(false);
    }
    Ok(true)
}

/// The file a `sqlite:` URL names, or None for another database or an in-memory one.
fn sqlite_file(url: &str) -> Option<&Path> {
    let rest = url.strip_prefix("sqlite:")?;
    let path = rest
        .trim_start_matches("//")
        .split('?')
        .next()
        .unwrap_or_default();
    (!path.is_empty() && path != ":memory:").then(|| Path::new(path))
}

/// `ReadOnly` when a SQLite file that exists cannot be opened for writing (a read-only mount,
/// an immutable file, no permission): SQLite's "unable to open database file" would not say
/// why. Any other error is itself.
fn read_only_or(url: &str, e: sea_orm::DbErr) -> StoreError {
    let unwritable = sqlite_file(url).is_some_and(|file| {
        file.exists() && std::fs::OpenOptions::new().write(true).open(file).is_err()
    });
    if unwritable {
        StoreError::ReadOnly
    } else {
        e.into()
    }
}

/// `sqlite://data/accession.db` needs `data/` before SQLite can create the file.
fn create_sqlite_folder(url: &str) -> Result<(), StoreError> {
    let Some(path) = sqlite_file(url) else {
        return Ok(());
    };
    if let Some(parent) = path.parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent).map_err(|e| {
            StoreError::corrupt(format!(
                "cannot create the folder {}: {e}",
                parent.display()
            ))
        })?;
    }
    Ok(())
}
