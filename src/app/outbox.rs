//! The outbox as its users see it: retrying dead emails, one rule for the API, the pages and the
//! command line.

use crate::engine::{Actor, Permission, Refusal};
use crate::store::{OutboxRow, OutboxStatus};

use super::{Accession, AppError};

impl Accession {
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
