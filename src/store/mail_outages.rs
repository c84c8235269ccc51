//! Mail servers found unavailable, shared by every dispatcher on the database: while one is down
//! nobody sends to it; when its wait is over, the dispatcher that takes the probe (an atomic
//! update of `probe_at`, so two instances never probe at once) tries one email to see whether it
//! is back. The dispatcher decides the waits; this only records them.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set};

use super::entities::mail_outage;
use super::{Store, StoreError};

/// A mail server that is down, as far as the dispatchers know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailOutage {
    pub server: String,
    /// When a send first found it unavailable.
    pub since: DateTime<Utc>,
    /// When the next probe may be sent.
    pub probe_at: DateTime<Utc>,
    /// Probes that found it still down since then.
    pub failed_probes: u32,
    pub last_error: String,
}

impl Store {
    /// The outage of `server` under way, if any.
    pub async fn mail_outage(&self, server: &str) -> Result<Option<MailOutage>, StoreError> {
        Ok(mail_outage::Entity::find_by_id(server.to_string())
            .one(&self.db)
            .await?
            .map(|m| MailOutage {
                server: m.server,
                since: m.since,
                probe_at: m.probe_at,
                failed_probes: u32::try_from(m.failed_probes).unwrap_or(0),
                last_error: m.last_error,
            }))
    }

    /// Record that `server` went down at `since`, to be probed at `probe_at`. When another
    /// dispatcher recorded it first, its record stands (it knew earlier).
    pub async fn open_mail_outage(
        &self,
        server: &str,
        since: DateTime<Utc>,
        probe_at: DateTime<Utc>,
        error: &str,
    ) -> Result<(), StoreError> {
        let row = mail_outage::ActiveModel {
            server: Set(server.to_string()),
            since: Set(since),
            probe_at: Set(probe_at),
            failed_probes: Set(0),
            last_error: Set(error.to_string()),
        };
        mail_outage::Entity::insert(row)
            .on_conflict_do_nothing()
            .exec_without_returning(&self.db)
            .await?;
        Ok(())
    }

    /// Take the probe of `server`'s outage if it is due at `now`: it is held until `hold_until`
    /// (a crashed prober's probe comes back then). False when it is not due or another
    /// dispatcher took it.
    pub async fn take_mail_probe(
        &self,
        server: &str,
        now: DateTime<Utc>,
        hold_until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let taken = mail_outage::Entity::update_many()
            .col_expr(mail_outage::Column::ProbeAt, Expr::value(hold_until))
            .filter(mail_outage::Column::Server.eq(server))
            .filter(mail_outage::Column::ProbeAt.lte(now))
            .exec(&self.db)
            .await?;
        Ok(taken.rows_affected == 1)
    }

    /// The probe found `server` still down: the next one is at `probe_at`.
    pub async fn mail_outage_goes_on(
        &self,
        server: &str,
        probe_at: DateTime<Utc>,
        error: &str,
    ) -> Result<(), StoreError> {
        mail_outage::Entity::update_many()
            .col_expr(mail_outage::Column::ProbeAt, Expr::value(probe_at))
            .col_expr(
                mail_outage::Column::FailedProbes,
                Expr::col(mail_outage::Column::FailedProbes).add(1),
            )
            .col_expr(mail_outage::Column::LastError, Expr::value(error))
            .filter(mail_outage::Column::Server.eq(server))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Give a taken probe back unused (there was nothing to send): due again at `probe_at`.
    pub async fn release_mail_probe(
        &self,
        server: &str,
        probe_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        mail_outage::Entity::update_many()
            .col_expr(mail_outage::Column::ProbeAt, Expr::value(probe_at))
            .filter(mail_outage::Column::Server.eq(server))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// `server` answered again: the outage is over.
    pub async fn close_mail_outage(&self, server: &str) -> Result<(), StoreError> {
        mail_outage::Entity::delete_many()
            .filter(mail_outage::Column::Server.eq(server))
            .exec(&self.db)
            .await?;
        Ok(())
    }
}
