//! The scheduler: finds due timers (deadlines, reminders, escalations), has the engine turn each
//! into history and emails, and has the store apply that, with the timer marked fired in the same
//! transaction. Safe with many instances: timers are claimed with a lease (see `store::timers`),
//! firing is checked against the procedure's version and the timer's status, and every email's
//! outbox key is unique, so nothing fires twice and a crashed instance's claims come back.

mod dispatch;
mod repeat;

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

use crate::app::{Accession, AppError};
use crate::engine::{self, ConventionRules, Refusal};
use crate::ids::ConventionId;
use crate::store::{ClaimedTimer, StoreError};

pub use dispatch::{DispatchReport, Dispatcher};
pub use repeat::repeat;

/// How a scheduler instance claims work.
#[derive(Debug, Clone)]
pub struct SchedulerOptions {
    /// This instance's name in `claimed_by`: host and process, so a stuck lease can be traced.
    pub owner: String,
    pub batch_size: u64,
    pub lease: TimeDelta,
}

impl SchedulerOptions {
    pub fn from_settings(settings: &crate::config::SchedulerSettings) -> Self {
        Self {
            owner: instance_name(),
            batch_size: settings.batch_size.max(1),
            lease: TimeDelta::seconds(settings.lease_secs.clamp(1, MAX_LEASE_SECS) as i64),
        }
    }
}

pub(crate) use crate::config::MAX_LEASE_SECS;

/// This process's name for leases: host and process id.
pub fn instance_name() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".into());
    format!("{host}:{}", std::process::id())
}

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TickReport {
    /// Timers fired: history written and emails queued.
    pub fired: u64,
    /// Timers found no longer applicable and dropped.
    pub dropped: u64,
    /// Timers that failed and were given back for a later pass.
    pub failed: u64,
}

/// One pass: fire every timer due at `now`, in batches, until none is left.
pub async fn tick(
    app: &Accession,
    options: &SchedulerOptions,
    now: DateTime<Utc>,
) -> Result<TickReport, AppError> {
    let mut report = TickReport::default();
    forget_expired_keys(app).await?;
    let people = app.people().await?;
    let mut rules: HashMap<ConventionId, ConventionRules> = HashMap::new();
    loop {
        // Leases run on the real clock, even when `now` is a time being evaluated.
        let real = app.now();
        let claimed = app
            .store()
            .claim_due_timers(
                now,
                real,
                &options.owner,
                real + options.lease,
                options.batch_size,
            )
            .await?;
        let n = claimed.len() as u64;
        for timer in claimed {
            match fire_one(app, &people, &mut rules, &timer, now).await {
                Ok(true) => {
                    report.fired += 1;
                    app.metrics
                        .count(&app.metrics.timers_fired, timer.timer.kind.as_str());
                }
                Ok(false) => report.dropped += 1,
                Err(e) => {
                    // The claim is kept: the timer comes back when its lease ends, so a timer
                    // that keeps failing neither loops in this pass nor starves the others.
                    tracing::warn!(
                        procedure = %timer.procedure,
                        timer = %timer.timer.dedupe_key,
                        error = %e,
                        "could not fire a timer; it is tried again when its lease ends"
                    );
                    report.failed += 1;
                }
            }
        }
        // A batch not full means nothing more is due (failed timers stay claimed until their
        // lease ends, so they are not claimed again in this pass).
        if n < options.batch_size {
            break;
        }
    }
    if report != TickReport::default() {
        tracing::info!(
            fired = report.fired,
            dropped = report.dropped,
            failed = report.failed,
            "scheduler pass"
        );
    }
    Ok(report)
}

/// Delete the idempotency keys whose answers have expired (`server.idempotency_ttl_secs`) and
/// the claims whose requests died: a claim treats them as absent already, this keeps the table
/// small. On the real clock, like leases, whatever time the pass evaluates.
async fn forget_expired_keys(app: &Accession) -> Result<(), AppError> {
    let now = app.now();
    let forgotten = app
        .store()
        .forget_idempotency_keys(now, now - app.settings.server.idempotency_ttl())
        .await?;
    if forgotten > 0 {
        tracing::info!(forgotten, "expired idempotency keys deleted");
    }
    Ok(())
}

/// Fire one claimed timer. `Ok(false)` when it no longer applies.
async fn fire_one(
    app: &Accession,
    people: &crate::app::People,
    rules: &mut HashMap<ConventionId, ConventionRules>,
    claimed: &ClaimedTimer,
    now: DateTime<Utc>,
) -> Result<bool, AppError> {
    // A ministry acting at the same moment wins the version race; read again and retry.
    for _ in 0..5 {
        let Some(current) = app.store().procedure(&claimed.procedure).await? else {
            app.store().drop_timer(claimed.id, now).await?;
            return Ok(false);
        };
        let def = app.definition_of(&current.workflow.hash).await?;
        if !rules.contains_key(&current.convention) {
            let r = app.rules_of(&current.convention).await?;
            rules.insert(current.convention.clone(), r);
        }
        let ctx = app.context(&def, &rules[&current.convention], people);
        let decision = match engine::fire(ctx, &current, &claimed.timer, now) {
            Ok(decision) => decision,
            Err(Refusal::TimerOutdated { .. }) => {
                app.store().drop_timer(claimed.id, now).await?;
                return Ok(false);
            }
            Err(refusal) => return Err(refusal.into()),
        };
        // Its emails are due now, even when `now` is a later time being evaluated.
        match app
            .store()
            .apply_with_mail_due(&decision, Some(app.now()))
            .await
        {
            Ok(()) => {
                tracing::info!(
                    procedure = %claimed.procedure,
                    kind = claimed.timer.kind.as_str(),
                    rule = %claimed.timer.rule,
                    "timer fired"
                );
                return Ok(true);
            }
            Err(StoreError::Conflict { .. }) => continue,
            Err(StoreError::TimerGone(_)) => return Ok(false),
            Err(e) => return Err(e.into()),
        }
    }
    Err(AppError::Invalid(format!(
        "procedure `{}` kept changing while its timer fired; it will be tried again",
        claimed.procedure
    )))
}
