//! The outbox as its users see it: reading it and retrying dead emails, one rule for the API,
//! the pages and the command line.

use crate::engine::{Actor, Permission, Refusal};
use crate::store::{OutboxCounts, OutboxRow, OutboxStatus};

use super::{Accession, AppError};

impl Accession {
    /// Up to `limit` emails in `status` (all when `None`), newest first, older than the row
    /// `before` (a keyset on the id), and whether more follow. Refused (403) unless the caller
    /// may read the outbox.
    pub async fn outbox_page(
        &self,
        caller: &Actor,
        status: Option<OutboxStatus>,
        before: Option<i64>,
        limit: u64,
    ) -> Result<(Vec<OutboxRow>, bool), AppError> {
        caller.may(Permission::ReadOutbox)?;
        Ok(self.store.outbox_page(status, before, limit).await?)
    }

    /// Email `id` of the outbox: not found (404) when there is none. Refused (403) unless the
    /// caller may read the outbox.
    pub async fn outbox_row(&self, caller: &Actor, id: i64) -> Result<OutboxRow, AppError> {
        caller.may(Permission::ReadOutbox)?;
        self.store
            .outbox_row(id)
            .await?
            .ok_or_else(|| AppError::NotFound {
                what: "outbox row",
                id: id.to_string(),
            })
    }

    /// How many emails are in each status. Refused (403) unless the caller may read the outbox.
    pub async fn outbox_counts(&self, caller: &Actor) -> Result<OutboxCounts, AppError> {
        caller.may(Permission::ReadOutbox)?;
        Ok(self.store.outbox_counts().await?)
    }

    /// Put dead email `id` back in the queue, as `caller`; the row as it is now. Refused (403)
    /// unless the caller may retry emails, not found (404), or refused (409, exit 1) when the
    /// email is not dead: only a dead email is sent again.
    pub async fn retry_email(&self, caller: &Actor, id: i64) -> Result<OutboxRow, AppError> {
        caller.may(Permission::RetryEmail)?;
        let not_found = || AppError::NotFound {
            what: "outbox row",
            id: id.to_string(),
        };
        let row = self.store.outbox_row(id).await?.ok_or_else(not_found)?;
        if row.status != OutboxStatus::Dead {
            return Err(not_dead(id, row.status));
        }
        if self.store.outbox_retry(Some(id), self.now()).await? == 0 {
            // Another request retried it (or the dispatcher took it) in between.
            let now = self.store.outbox_row(id).await?.ok_or_else(not_found)?;
            return Err(not_dead(id, now.status));
        }
        self.store.outbox_row(id).await?.ok_or_else(not_found)
    }

    /// Put every dead email back in the queue, as `caller`; how many.
    pub async fn retry_dead_emails(&self, caller: &Actor) -> Result<u64, AppError> {
        caller.may(Permission::RetryEmail)?;
        Ok(self.store.outbox_retry(None, self.now()).await?)
    }
}

fn not_dead(id: i64, status: OutboxStatus) -> AppError {
    AppError::Refused(Refusal::NotApplicable(format!(
        "outbox row {id} is {}, not dead: only dead rows are retried",
        status.as_str()
    )))
}
