//! The outbox: emails written with the change that causes them, sent later by the dispatcher.
//! A claim moves a row's `next_attempt_at` past the lease, so no other dispatcher takes it until
//! the lease runs out (a crashed dispatcher's rows come back by themselves); on PostgreSQL the
//! candidates are locked `FOR UPDATE SKIP LOCKED` so dispatchers never wait on each other.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, LockBehavior, LockType, Query};
use sea_orm::{
    ColumnTrait, DbBackend, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde::Serialize;

use super::entities::outbox;
use super::{Store, StoreError};

/// Where an outbox row is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxStatus {
    /// Waiting to be sent (again, after a transient failure).
    Pending,
    Sent,
    /// Given up: a permanent failure or too many attempts. A coordinator may retry it.
    Dead,
}

impl OutboxStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxStatus::Pending => "pending",
            OutboxStatus::Sent => "sent",
            OutboxStatus::Dead => "dead",
        }
    }

    pub fn parse(text: &str) -> Option<OutboxStatus> {
        match text {
            "pending" => Some(OutboxStatus::Pending),
            "sent" => Some(OutboxStatus::Sent),
            "dead" => Some(OutboxStatus::Dead),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct OutboxRow {
    pub id: i64,
    pub message_id: String,
    pub procedure: Option<String>,
    pub kind: String,
    pub recipient_institution: String,
    /// The addresses it went to, once sent (resolved when sending).
    pub recipient_address: Option<String>,
    pub language: Option<String>,
    pub payload: serde_json::Value,
    pub status: OutboxStatus,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

/// How many rows are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct OutboxCounts {
    pub pending: u64,
    pub sent: u64,
    pub dead: u64,
}

impl Store {
    /// Claim up to `limit` pending rows due at `now` for sending, until `lease_until`.
    pub async fn claim_outbox(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        let mut due = Query::select();
        due.column(outbox::Column::Id)
            .from(outbox::Entity)
            .and_where(outbox::Column::Status.eq("pending"))
            .and_where(outbox::Column::NextAttemptAt.lte(now))
            .order_by(outbox::Column::NextAttemptAt, sea_orm::Order::Asc)
            .order_by(outbox::Column::Id, sea_orm::Order::Asc)
            .limit(limit);
        if self.backend() == DbBackend::Postgres {
            due.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
        }
        let txn = self.begin_write().await?;
        let rows = outbox::Entity::update_many()
            .col_expr(outbox::Column::NextAttemptAt, Expr::value(lease_until))
            .filter(outbox::Column::Id.in_subquery(due))
            .exec_with_returning(&txn)
            .await?;
        txn.commit().await?;
        let mut rows: Vec<OutboxRow> = rows
            .into_iter()
            .map(row_from_model)
            .collect::<Result<_, _>>()?;
        rows.sort_by_key(|r| r.id);
        Ok(rows)
    }

    /// Record a delivery. Only a row still pending changes (a retry after a crash may find it
    /// already sent).
    pub async fn outbox_sent(
        &self,
        id: i64,
        addresses: &str,
        language: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        outbox::Entity::update_many()
            .col_expr(outbox::Column::Status, Expr::value("sent"))
            .col_expr(outbox::Column::SentAt, Expr::value(now))
            .col_expr(outbox::Column::RecipientAddress, Expr::value(addresses))
            .col_expr(outbox::Column::Language, Expr::value(language))
            .col_expr(
                outbox::Column::Attempts,
                Expr::col(outbox::Column::Attempts).add(1),
            )
            .col_expr(
                outbox::Column::LastError,
                Expr::value(Option::<String>::None),
            )
            .filter(outbox::Column::Id.eq(id))
            .filter(outbox::Column::Status.eq("pending"))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Record a failed attempt: try again at `retry_at`, or give up (`None`).
    pub async fn outbox_failed(
        &self,
        id: i64,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        let mut update = outbox::Entity::update_many()
            .col_expr(
                outbox::Column::Attempts,
                Expr::col(outbox::Column::Attempts).add(1),
            )
            .col_expr(outbox::Column::LastError, Expr::value(error));
        update = match retry_at {
            Some(at) => update.col_expr(outbox::Column::NextAttemptAt, Expr::value(at)),
            None => update.col_expr(outbox::Column::Status, Expr::value("dead")),
        };
        update
            .filter(outbox::Column::Id.eq(id))
            .filter(outbox::Column::Status.eq("pending"))
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
        let mut update = outbox::Entity::update_many()
            .col_expr(outbox::Column::Status, Expr::value("pending"))
            .col_expr(outbox::Column::Attempts, Expr::value(0))
            .col_expr(outbox::Column::NextAttemptAt, Expr::value(now))
            .filter(outbox::Column::Status.eq("dead"));
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
        let mut query = outbox::Entity::find()
            .order_by_desc(outbox::Column::Id)
            .limit(limit);
        if let Some(status) = status {
            query = query.filter(outbox::Column::Status.eq(status.as_str()));
        }
        query
            .all(&self.db)
            .await?
            .into_iter()
            .map(row_from_model)
            .collect()
    }

    pub async fn outbox_counts(&self) -> Result<OutboxCounts, StoreError> {
        let count = |status: &'static str| {
            outbox::Entity::find()
                .filter(outbox::Column::Status.eq(status))
                .count(&self.db)
        };
        Ok(OutboxCounts {
            pending: count("pending").await?,
            sent: count("sent").await?,
            dead: count("dead").await?,
        })
    }
}

fn row_from_model(m: outbox::Model) -> Result<OutboxRow, StoreError> {
    let bad = |what: String| StoreError::corrupt(format!("outbox row {}: {what}", m.id));
    Ok(OutboxRow {
        id: m.id,
        status: OutboxStatus::parse(&m.status)
            .ok_or_else(|| bad(format!("status `{}`", m.status)))?,
        payload: serde_json::from_str(&m.payload).map_err(|e| bad(format!("payload: {e}")))?,
        message_id: m.message_id,
        procedure: m.procedure_id,
        kind: m.kind,
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
