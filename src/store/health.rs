//! Whether the database takes writes. A full disk refuses writes while reads go on working, so
//! readiness cannot be read off a query. Three signals: the free space on the volume of a SQLite
//! file, whether the last write was refused for lack of space, and a small write tried for
//! `/readyz` (read-only files, PostgreSQL refusing its WAL).

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{OnConflict, Query};

use super::{Store, StoreError};

/// Probes closer together than this reuse the last answer, so polling `/readyz` cannot turn
/// into a stream of writes.
const PROBE_EVERY: Duration = Duration::from_secs(1);

/// Since when, and why, the database has refused writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WritesRefused {
    pub since: DateTime<Utc>,
    pub reason: String,
}

#[derive(Debug, Default)]
pub(super) struct WriteHealth {
    refused: Mutex<Option<WritesRefused>>,
    last_probe: Mutex<Option<(Instant, Result<(), String>)>>,
    /// The SQLite file, whose volume's free space is watched, and the least free space allowed.
    pub(super) watched: Option<(PathBuf, u64)>,
}

impl WriteHealth {
    /// Remember a write's outcome: refused for lack of space, or written (all is well again).
    pub(super) fn observe<T>(&self, result: &Result<T, StoreError>) {
        let mut refused = self.refused.lock().unwrap_or_else(|e| e.into_inner());
        match result {
            Ok(_) => {
                if refused.take().is_some() {
                    tracing::info!("the database takes writes again");
                }
            }
            Err(e @ StoreError::NoSpace) => {
                if refused.is_none() {
                    tracing::error!(error = %e, "the database refuses writes");
                    *refused = Some(WritesRefused {
                        since: Utc::now(),
                        reason: e.to_string(),
                    });
                }
            }
            Err(_) => {}
        }
    }

    fn refused(&self) -> Option<WritesRefused> {
        self.refused
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Free bytes for unprivileged writers on the volume holding `path`.
#[cfg(unix)]
fn free_bytes(path: &std::path::Path) -> Option<u64> {
    let folder = path.parent().filter(|p| !p.as_os_str().is_empty())?;
    let stat = rustix::fs::statvfs(folder).ok()?;
    Some(stat.f_bavail.saturating_mul(stat.f_frsize))
}

#[cfg(not(unix))]
fn free_bytes(_: &std::path::Path) -> Option<u64> {
    None
}

impl Store {
    /// Since when writes have been refused, if the last one was (for lack of space).
    pub fn writes_refused(&self) -> Option<WritesRefused> {
        self.health.refused()
    }

    /// Whether the database takes writes now; Err says why not, in words for an operator.
    pub async fn writable(&self) -> Result<(), String> {
        if let Some((file, least)) = &self.health.watched
            && let Some(free) = free_bytes(file)
            && free < *least
        {
            return Err(format!(
                "the volume holding {} has {} MiB free, less than database.min_free_mib ({} MiB)",
                file.display(),
                free / (1024 * 1024),
                least / (1024 * 1024)
            ));
        }
        self.probe_writes().await
    }

    /// One row rewritten in a write transaction, at most once a second (closer calls get the
    /// last answer). A success means writes are taken again.
    async fn probe_writes(&self) -> Result<(), String> {
        {
            let last = self
                .health
                .last_probe
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if let Some((at, outcome)) = last.as_ref()
                && at.elapsed() < PROBE_EVERY
            {
                return outcome.clone();
            }
        }
        let result = self.write_probe_row().await;
        self.health.observe(&result);
        let outcome = result.map_err(|e| match e {
            StoreError::NoSpace => e.to_string(),
            other => format!("the database refuses writes: {other}"),
        });
        *self
            .health
            .last_probe
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), outcome.clone()));
        outcome
    }

    async fn write_probe_row(&self) -> Result<(), StoreError> {
        let txn = self.begin_write().await?;
        let mut insert = Query::insert();
        insert
            .into_table("write_probe")
            .columns(["id", "written_at"])
            .values_panic([1i32.into(), Utc::now().into()])
            .on_conflict(
                OnConflict::column("id")
                    .update_columns(["written_at"])
                    .to_owned(),
            );
        txn.execute_raw(self.backend().build(&insert)).await?;
        txn.commit().await?;
        Ok(())
    }
}
