//! Running the service: whether it is ready to serve, and its metrics. Both answer the
//! orchestrator's unauthenticated probes (`/readyz`, `/metrics`), so they take no caller and say
//! nothing a caller could not see from the outside (counts, not rows).

use std::fmt;

use super::{Accession, AppError};
use crate::store::OutboxStatus;

/// Why the service is not ready to serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unready {
    /// Migrations this version needs are not applied.
    Migrations(Vec<String>),
    /// The database cannot be reached.
    Unreachable,
    /// The database refuses writes (a full disk), since when when known.
    RefusesWrites {
        why: String,
        since: Option<chrono::DateTime<chrono::Utc>>,
    },
}

impl fmt::Display for Unready {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unready::Migrations(pending) => {
                write!(f, "migrations not applied: {}", pending.join(", "))
            }
            Unready::Unreachable => f.write_str("the database cannot be reached"),
            Unready::RefusesWrites { why, since } => {
                f.write_str(why)?;
                if let Some(since) = since {
                    write!(f, " (since {})", since.format("%Y-%m-%d %H:%M:%S UTC"))?;
                }
                Ok(())
            }
        }
    }
}

impl Accession {
    /// Ready when the database is reachable, its schema current, and it takes writes (a full disk
    /// lets reads through and refuses every write, so a write is tried).
    pub async fn readiness(&self) -> Result<(), Unready> {
        match self.store.pending_migrations().await {
            Ok(pending) if pending.is_empty() => {}
            Ok(pending) => return Err(Unready::Migrations(pending)),
            Err(e) => {
                tracing::warn!(error = %e, "not ready");
                return Err(Unready::Unreachable);
            }
        }
        if let Err(why) = self.store.writable().await {
            tracing::warn!(reason = %why, "not ready: the database refuses writes");
            return Err(Unready::RefusesWrites {
                why,
                since: self.store.writes_refused().map(|r| r.since),
            });
        }
        Ok(())
    }

    /// The Prometheus metrics in the text format, with the gauges read now: timers due and
    /// emails by status.
    pub async fn metrics_text(&self) -> Result<String, AppError> {
        let counts = self.store.outbox_counts().await?;
        let due = self.store.count_due_timers(self.now()).await?;
        Ok(self.metrics.render(
            due as i64,
            &OutboxStatus::ALL.map(|status| (status.as_str(), counts.of(status) as i64)),
        ))
    }
}
