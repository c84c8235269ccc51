//! History as its readers see it: one procedure's history (for whoever may read the procedure),
//! and the audit of every procedure's (for the roles that hold `ReadAudit`): a page of it, its
//! export, and the verification of the chains.

use futures_util::{Stream, StreamExt};

use super::{Accession, AppError};
use crate::audit::ChainRow;
use crate::engine::{Actor, Permission};
use crate::ids::ProcedureId;
use crate::store::{HistoryFilter, Verdicts, VerificationSummary, VerifyReport};

impl Accession {
    /// Procedure `id`'s history, oldest first, for `caller`: not found (404) when there is no
    /// such procedure or the caller may not read it.
    pub async fn history(
        &self,
        caller: &Actor,
        id: &ProcedureId,
    ) -> Result<Vec<ChainRow>, AppError> {
        self.readable(id, caller).await?;
        Ok(self.store.history(id).await?)
    }

    /// Recompute procedure `id`'s chain for `caller` (who must be able to read the procedure):
    /// which row, if any, breaks it; the result is stored.
    pub async fn verify_procedure(
        &self,
        caller: &Actor,
        id: &ProcedureId,
    ) -> Result<VerifyReport, AppError> {
        self.readable(id, caller).await?;
        Ok(self
            .store
            .verify_at(Some(id), self.now(), Verdicts::Every)
            .await?)
    }

    /// Recompute every chain (or only `only`'s), storing each result; the report lists the
    /// verdicts `verdicts` asks for (`Broken` keeps memory constant for any database). Refused
    /// (403) unless the caller may read the audit.
    pub async fn verify_history(
        &self,
        caller: &Actor,
        only: Option<&ProcedureId>,
        verdicts: Verdicts,
    ) -> Result<VerifyReport, AppError> {
        caller.may(Permission::ReadAudit)?;
        Ok(self.store.verify_at(only, self.now(), verdicts).await?)
    }

    /// Up to `limit` history rows of every procedure that `filter` keeps, by procedure and
    /// sequence, after `after` (a procedure id and sequence), and whether more follow. Refused
    /// (403) unless the caller may read the audit.
    pub async fn audit_page(
        &self,
        caller: &Actor,
        filter: &HistoryFilter,
        after: Option<(&str, i64)>,
        limit: u64,
    ) -> Result<(Vec<ChainRow>, bool), AppError> {
        caller.may(Permission::ReadAudit)?;
        Ok(self.store.history_page(filter, after, limit).await?)
    }

    /// The stored verification state over every chain, first brought up to date for at most
    /// `catch_up` chains written since the newest stored result (their new rows only), so a view
    /// costs a bounded amount of hashing. Refused (403) unless the caller may read the audit.
    pub async fn verification_state(
        &self,
        caller: &Actor,
        catch_up: u64,
    ) -> Result<VerificationSummary, AppError> {
        caller.may(Permission::ReadAudit)?;
        let newest = self.store.verification_summary().await?.newest;
        self.store
            .verify_since(newest, catch_up, self.now())
            .await?;
        Ok(self.store.verification_summary().await?)
    }

    /// The history rows `filter` keeps, a batch at a time, for an export: memory stays that of
    /// one batch however many rows there are. Refused (403) unless the caller may read the audit.
    pub fn history_export(
        &self,
        caller: &Actor,
        filter: HistoryFilter,
    ) -> Result<impl Stream<Item = Result<Vec<ChainRow>, AppError>> + Send + 'static, AppError>
    {
        caller.may(Permission::ReadAudit)?;
        Ok(self
            .store
            .history_stream(filter)
            .map(|batch| batch.map_err(AppError::from)))
    }
}
