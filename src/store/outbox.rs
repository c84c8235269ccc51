//! The outbox: emails written with the change that causes them, sent later by the dispatcher.
//! A dispatcher claims rows with a lease (`claimed_by`, `lease_until`), so no other takes them
//! until it runs out (a crashed dispatcher's rows come back by themselves), and records an
//! outcome only for a row it still holds. On PostgreSQL the candidates are locked `FOR UPDATE
//! SKIP LOCKED`, so dispatchers never wait on each other.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Serialize;

use super::entities::outbox;
use super::lease::Leased;
use super::{Store, StoreError};
use crate::engine::{Notification, NotificationFacts, NotificationKind};
use crate::reference::Language;

/// Where an outbox row is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutboxStatus {
    /// Waiting to be sent (again, after a transient failure).
    Pending,
    Sent,
    /// Given up: a permanent failure or too many attempts. A coordinator may retry it.
    Dead,
    /// Not sent because it no longer applied: the procedure left the stage it was about.
    Cancelled,
}

impl OutboxStatus {
    pub const ALL: [OutboxStatus; 4] = [
        OutboxStatus::Pending,
        OutboxStatus::Sent,
        OutboxStatus::Dead,
        OutboxStatus::Cancelled,
    ];

    /// The stored name, in `outbox.status`.
    pub const fn as_str(self) -> &'static str {
        match self {
            OutboxStatus::Pending => "pending",
            OutboxStatus::Sent => "sent",
            OutboxStatus::Dead => "dead",
            OutboxStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<OutboxStatus> {
        OutboxStatus::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

impl fmt::Display for OutboxStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for OutboxStatus {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        OutboxStatus::parse(text).ok_or_else(|| {
            let known: Vec<&str> = OutboxStatus::ALL.map(OutboxStatus::as_str).into();
            format!(
                "`{text}` is not an outbox status; known: {}",
                known.join(", ")
            )
        })
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OutboxRow {
    pub id: i64,
    pub message_id: String,
    /// The procedure the email is about; none for a checkpoint's.
    pub procedure: Option<String>,
    pub kind: NotificationKind,
    pub recipient_institution: String,
    /// The addresses it went to, once sent (resolved when sending).
    pub recipient_address: Option<String>,
    pub language: Option<String>,
    /// What the email states, as stored: `ProcedureFacts` for an email about a procedure,
    /// `CheckpointFacts` for a checkpoint's (`kind` says which); `OutboxRow::facts` reads it.
    #[schema(value_type = NotificationFacts)]
    pub payload: serde_json::Value,
    pub status: OutboxStatus,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

impl OutboxRow {
    /// What the email states, as the engine decided it. An error names the row and what is
    /// wrong: such a row can never be rendered.
    pub fn facts(&self) -> Result<NotificationFacts, StoreError> {
        NotificationFacts::read(self.kind, &self.payload)
            .map_err(|e| StoreError::corrupt(format!("outbox row {}: payload: {e}", self.id)))
    }
}

impl Leased for outbox::Entity {
    const ID: outbox::Column = outbox::Column::Id;
    const STATUS: outbox::Column = outbox::Column::Status;
    const PENDING: &'static str = OutboxStatus::Pending.as_str();
    const DUE: outbox::Column = outbox::Column::NextAttemptAt;
    const CLAIMED_BY: outbox::Column = outbox::Column::ClaimedBy;
    const LEASE_UNTIL: outbox::Column = outbox::Column::LeaseUntil;

    fn due_and_id(model: &outbox::Model) -> (DateTime<Utc>, i64) {
        (model.next_attempt_at, model.id)
    }
}

/// The row that queues `notification`, about `procedure` (none for a checkpoint's), due at
/// `due`: its Message-ID is derived from its key, so a resend is recognisable.
pub(super) fn new_row<F: Serialize>(
    notification: &Notification<F>,
    procedure: Option<&str>,
    mail_domain: &str,
    now: DateTime<Utc>,
    due: DateTime<Utc>,
) -> outbox::ActiveModel {
    use sea_orm::ActiveValue::Set;
    outbox::ActiveModel {
        dedupe_key: Set(notification.dedupe_key.clone()),
        message_id: Set(super::apply::message_id_for(
            &notification.dedupe_key,
            mail_domain,
        )),
        procedure_id: Set(procedure.map(str::to_string)),
        kind: Set(notification.kind.as_str().to_string()),
        recipient_institution: Set(notification.recipient.to_string()),
        recipient_address: Set(None),
        language: Set(None),
        payload: Set(super::apply::facts_json(&notification.facts)),
        status: Set(OutboxStatus::Pending.as_str().to_string()),
        attempts: Set(0),
        next_attempt_at: Set(due),
        last_error: Set(None),
        created_at: Set(now),
        sent_at: Set(None),
        claimed_by: Set(None),
        lease_until: Set(None),
        ..Default::default()
    }
}

/// An update that gives rows up: nobody holds them any more.
fn unclaimed() -> sea_orm::UpdateMany<outbox::Entity> {
    outbox::Entity::update_many()
        .col_expr(
            outbox::Column::ClaimedBy,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            outbox::Column::LeaseUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
}

/// What became of a claimed row (see `Store::outbox_settle`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settlement {
    /// Delivered to `addresses`, written in `language`.
    Sent {
        addresses: String,
        language: Language,
        at: DateTime<Utc>,
    },
    /// Not delivered: tried again at `retry_at`, or given up (dead) when there is none.
    Failed {
        error: String,
        retry_at: Option<DateTime<Utc>>,
    },
    /// Not delivered because the server is down, which says nothing about this email: it waits
    /// until `until` with `error` noted, its attempts untouched.
    Deferred { error: String, until: DateTime<Utc> },
    /// No longer applicable, for `reason`.
    Cancelled { reason: String },
}

/// How many rows are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct OutboxCounts {
    pub pending: u64,
    pub sent: u64,
    pub dead: u64,
    pub cancelled: u64,
}

impl OutboxCounts {
    /// How many rows are in `status`.
    pub fn of(&self, status: OutboxStatus) -> u64 {
        match status {
            OutboxStatus::Pending => self.pending,
            OutboxStatus::Sent => self.sent,
            OutboxStatus::Dead => self.dead,
            OutboxStatus::Cancelled => self.cancelled,
        }
    }
}

impl Store {
    /// Claim up to `limit` pending rows due at `due_at` that nobody holds at `now`, for `owner`
    /// until `lease_until`, earliest first, then by id (see `store::lease`). `due_at` is the time being evaluated (`run-once --at`); leases are
    /// always compared with the real `now`, so such a run never takes rows a live dispatcher holds.
    pub async fn claim_outbox(
        &self,
        due_at: DateTime<Utc>,
        now: DateTime<Utc>,
        owner: &str,
        lease_until: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        self.claim_leased::<outbox::Entity>(due_at, now, owner, lease_until, limit)
            .await?
            .into_iter()
            .map(row_from_model)
            .collect()
    }

    /// Record what became of rows `owner` holds, all in one transaction: for each, true when
    /// it was recorded, false when `owner` no longer holds the row (its lease ran out and
    /// another dispatcher took it).
    pub async fn outbox_settle(
        &self,
        owner: &str,
        outcomes: &[(i64, Settlement)],
    ) -> Result<Vec<bool>, StoreError> {
        if outcomes.is_empty() {
            return Ok(Vec::new());
        }
        let txn = self.begin_write().await?;
        let mut recorded = Vec::with_capacity(outcomes.len());
        for (id, outcome) in outcomes {
            let mut update = unclaimed();
            update = match outcome {
                Settlement::Sent {
                    addresses,
                    language,
                    at,
                } => update
                    .col_expr(
                        outbox::Column::Status,
                        Expr::value(OutboxStatus::Sent.as_str()),
                    )
                    .col_expr(outbox::Column::SentAt, Expr::value(*at))
                    .col_expr(outbox::Column::RecipientAddress, Expr::value(addresses))
                    .col_expr(outbox::Column::Language, Expr::value(language.as_str()))
                    .col_expr(
                        outbox::Column::Attempts,
                        Expr::col(outbox::Column::Attempts).add(1),
                    )
                    .col_expr(
                        outbox::Column::LastError,
                        Expr::value(Option::<String>::None),
                    ),
                Settlement::Failed { error, retry_at } => {
                    let update = update
                        .col_expr(
                            outbox::Column::Attempts,
                            Expr::col(outbox::Column::Attempts).add(1),
                        )
                        .col_expr(outbox::Column::LastError, Expr::value(error));
                    match retry_at {
                        Some(at) => {
                            update.col_expr(outbox::Column::NextAttemptAt, Expr::value(*at))
                        }
                        None => update.col_expr(
                            outbox::Column::Status,
                            Expr::value(OutboxStatus::Dead.as_str()),
                        ),
                    }
                }
                Settlement::Deferred { error, until } => update
                    .col_expr(outbox::Column::LastError, Expr::value(error))
                    .col_expr(outbox::Column::NextAttemptAt, Expr::value(*until)),
                Settlement::Cancelled { reason } => update
                    .col_expr(
                        outbox::Column::Status,
                        Expr::value(OutboxStatus::Cancelled.as_str()),
                    )
                    .col_expr(outbox::Column::LastError, Expr::value(reason)),
            };
            let done = update
                .filter(outbox::Column::Id.eq(*id))
                .filter(super::status_is(
                    outbox::Column::Status,
                    OutboxStatus::Pending.as_str(),
                ))
                .filter(outbox::Column::ClaimedBy.eq(owner))
                .exec(&txn)
                .await?;
            recorded.push(done.rows_affected == 1);
        }
        txn.commit().await?;
        Ok(recorded)
    }

    /// Give rows back unattempted (the pass stopped before them): due again at once, that is
    /// at the real `now` at the latest. A pass evaluating a later time (`run-once --at`) claims
    /// rows due only then, such as the emails its own timers queued; given back untried, they
    /// must not wait for that date.
    pub async fn outbox_release(
        &self,
        ids: &[i64],
        owner: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let due_by_now = Expr::case(outbox::Column::NextAttemptAt.gt(now), Expr::value(now))
            .finally(Expr::col(outbox::Column::NextAttemptAt));
        unclaimed()
            .col_expr(outbox::Column::NextAttemptAt, due_by_now.into())
            .filter(outbox::Column::Id.is_in(ids.iter().copied()))
            .filter(outbox::Column::ClaimedBy.eq(owner))
            .filter(super::status_is(
                outbox::Column::Status,
                OutboxStatus::Pending.as_str(),
            ))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Put dead rows back in the queue, due at `now`, with their attempts counted afresh.
    /// `only` names one row; without it every dead row is retried. Returns how many.
    pub async fn outbox_retry(
        &self,
        only: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let mut update = unclaimed()
            .col_expr(
                outbox::Column::Status,
                Expr::value(OutboxStatus::Pending.as_str()),
            )
            .col_expr(outbox::Column::Attempts, Expr::value(0))
            .col_expr(outbox::Column::NextAttemptAt, Expr::value(now))
            .filter(super::status_is(
                outbox::Column::Status,
                OutboxStatus::Dead.as_str(),
            ));
        if let Some(id) = only {
            update = update.filter(outbox::Column::Id.eq(id));
        }
        Ok(update.exec(&self.db).await?.rows_affected)
    }

    pub async fn outbox_row(&self, id: i64) -> Result<Option<OutboxRow>, StoreError> {
        outbox::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .map(row_from_model)
            .transpose()
    }

    /// Rows in `status` (all when `None`), newest first, at most `limit`.
    pub async fn outbox(
        &self,
        status: Option<OutboxStatus>,
        limit: u64,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        Ok(self.outbox_page(status, None, limit).await?.0)
    }

    /// Up to `limit` emails, newest first, older than the row `before` (a keyset on the id),
    /// and whether more follow. Reads at most `limit + 1` rows.
    pub async fn outbox_page(
        &self,
        status: Option<OutboxStatus>,
        before: Option<i64>,
        limit: u64,
    ) -> Result<(Vec<OutboxRow>, bool), StoreError> {
        let mut query = outbox::Entity::find()
            .order_by_desc(outbox::Column::Id)
            .limit(limit + 1);
        if let Some(status) = status {
            query = query.filter(super::status_is(outbox::Column::Status, status.as_str()));
        }
        if let Some(before) = before {
            query = query.filter(outbox::Column::Id.lt(before));
        }
        let mut rows = query
            .all(&self.db)
            .await?
            .into_iter()
            .map(row_from_model)
            .collect::<Result<Vec<_>, _>>()?;
        let more = rows.len() as u64 > limit;
        rows.truncate(limit as usize);
        Ok((rows, more))
    }

    pub async fn outbox_counts(&self) -> Result<OutboxCounts, StoreError> {
        let count = |status: OutboxStatus| {
            outbox::Entity::find()
                .filter(super::status_is(outbox::Column::Status, status.as_str()))
                .count(&self.db)
        };
        Ok(OutboxCounts {
            pending: count(OutboxStatus::Pending).await?,
            sent: count(OutboxStatus::Sent).await?,
            dead: count(OutboxStatus::Dead).await?,
            cancelled: count(OutboxStatus::Cancelled).await?,
        })
    }
}

fn row_from_model(m: outbox::Model) -> Result<OutboxRow, StoreError> {
    let bad = |what: String| StoreError::corrupt(format!("outbox row {}: {what}", m.id));
    Ok(OutboxRow {
        id: m.id,
        status: OutboxStatus::parse(&m.status)
            .ok_or_else(|| bad(format!("status `{}`", m.status)))?,
        kind: NotificationKind::parse(&m.kind).ok_or_else(|| bad(format!("kind `{}`", m.kind)))?,
        payload: serde_json::from_str(&m.payload).map_err(|e| bad(format!("payload: {e}")))?,
        message_id: m.message_id,
        procedure: m.procedure_id,
        recipient_institution: m.recipient_institution,
        recipient_address: m.recipient_address,
        language: m.language,
        attempts: m.attempts,
        next_attempt_at: m.next_attempt_at,
        last_error: m.last_error,
        created_at: m.created_at,
        sent_at: m.sent_at,
    })
}
