//! Reading history and verifying its hash chains.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Serialize;

use super::entities::{chain_verification, history, procedure};
use super::{Store, StoreError};
use crate::audit::{ChainBreak, ChainCheck, ChainRow};
use crate::ids::{ConventionId, InstitutionId, ProcedureId};

/// Which history rows an auditor asks for; `None` means any.
#[derive(Debug, Clone, Default)]
pub struct HistoryFilter {
    pub convention: Option<ConventionId>,
    /// The institution that acted.
    pub actor: Option<InstitutionId>,
    /// From this instant, inclusive.
    pub from: Option<chrono::DateTime<chrono::Utc>>,
    /// Until this instant, exclusive.
    pub until: Option<chrono::DateTime<chrono::Utc>>,
}

/// The verdict on one procedure's chain.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ChainVerdict {
    pub procedure: String,
    pub rows: u64,
    pub broken: Option<ChainBreak>,
}

/// What a verification found: verdicts (every chain's, or only the broken ones: see `Verdicts`)
/// and the totals.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct VerifyReport {
    pub procedures: Vec<ChainVerdict>,
    /// Chains checked.
    pub checked: u64,
    /// History rows checked.
    pub rows: u64,
    /// The log over all history, checked when every procedure is verified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<super::LogVerdict>,
}

/// The stored verification state over every chain, for the audit page.
#[derive(Debug, Clone, Default, Serialize)]
pub struct VerificationSummary {
    /// Procedures in the database.
    pub procedures: u64,
    /// Chains with a stored result, their rows, and those found broken.
    pub verified: u64,
    pub rows: u64,
    pub broken: u64,
    /// The first broken chain, by procedure id.
    pub first_break: Option<String>,
    /// When the oldest and newest stored results were made.
    pub oldest: Option<DateTime<Utc>>,
    pub newest: Option<DateTime<Utc>>,
}

/// Which verdicts a report lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdicts {
    /// Every chain's: the report grows with the number of procedures (about 100 bytes each).
    Every,
    /// The broken chains' only, with the totals: constant memory.
    Broken,
}

/// Rows read per query when walking history.
const BATCH: u64 = 1000;

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.procedures.iter().all(|p| p.broken.is_none())
            && self.log.as_ref().is_none_or(|l| l.broken.is_none())
    }

    pub fn first_break(&self) -> Option<&ChainBreak> {
        self.procedures.iter().find_map(|p| p.broken.as_ref())
    }
}

impl Store {
    /// A procedure's history in sequence order.
    pub async fn history(&self, id: &ProcedureId) -> Result<Vec<ChainRow>, StoreError> {
        Ok(history::Entity::find()
            .filter(history::Column::ProcedureId.eq(id.to_string()))
            .order_by_asc(history::Column::Sequence)
            .all(&self.db)
            .await?
            .into_iter()
            .map(chain_row)
            .collect())
    }

    /// One history row of procedure `id`, by sequence: one read on the unique index.
    pub async fn history_row(
        &self,
        id: &ProcedureId,
        sequence: i64,
    ) -> Result<Option<ChainRow>, StoreError> {
        Ok(history::Entity::find()
            .filter(history::Column::ProcedureId.eq(id.as_str()))
            .filter(history::Column::Sequence.eq(sequence))
            .one(&self.db)
            .await?
            .map(chain_row))
    }

    /// Up to `limit` history rows `filter` keeps, by procedure and sequence, after `after` (a
    /// procedure id and sequence), and whether more follow. Reads at most `limit + 1` rows.
    pub async fn history_page(
        &self,
        filter: &HistoryFilter,
        after: Option<(&str, i64)>,
        limit: u64,
    ) -> Result<(Vec<ChainRow>, bool), StoreError> {
        let mut query = history::Entity::find()
            .order_by_asc(history::Column::ProcedureId)
            .order_by_asc(history::Column::Sequence);
        if let Some(c) = &filter.convention {
            let mut of_convention = sea_orm::sea_query::Query::select();
            of_convention
                .column(procedure::Column::Id)
                .from(procedure::Entity)
                .and_where(procedure::Column::ConventionId.eq(c.to_string()));
            query = query.filter(history::Column::ProcedureId.in_subquery(of_convention));
        }
        if let Some(i) = &filter.actor {
            query = query.filter(history::Column::ActorInstitution.eq(i.to_string()));
        }
        if let Some(from) = filter.from {
            query = query.filter(history::Column::At.gte(from));
        }
        if let Some(until) = filter.until {
            query = query.filter(history::Column::At.lt(until));
        }
        if let Some((procedure, sequence)) = after {
            query = query.filter(
                Expr::tuple([
                    Expr::col((history::Entity, history::Column::ProcedureId)),
                    Expr::col((history::Entity, history::Column::Sequence)),
                ])
                .gt(Expr::tuple([Expr::val(procedure), Expr::val(sequence)])),
            );
        }
        let mut rows: Vec<ChainRow> = query
            .limit(limit + 1)
            .all(&self.db)
            .await?
            .into_iter()
            .map(chain_row)
            .collect();
        let more = rows.len() as u64 > limit;
        rows.truncate(limit as usize);
        Ok((rows, more))
    }

    /// The history rows `filter` keeps, by procedure and sequence, a batch at a time: memory
    /// stays that of one batch however many rows there are.
    pub fn history_stream(
        &self,
        filter: HistoryFilter,
    ) -> impl futures_util::Stream<Item = Result<Vec<ChainRow>, StoreError>> + Send + 'static {
        let store = self.clone();
        futures_util::stream::unfold(Some(None::<(String, i64)>), move |state| {
            let store = store.clone();
            let filter = filter.clone();
            async move {
                let after = state?;
                let page = store
                    .history_page(
                        &filter,
                        after.as_ref().map(|(p, s)| (p.as_str(), *s)),
                        BATCH,
                    )
                    .await;
                match page {
                    Err(e) => Some((Err(e), None)),
                    Ok((rows, more)) => {
                        let next = rows.last().map(|r| (r.procedure_id.clone(), r.sequence));
                        let state = if more { Some(next) } else { None };
                        Some((Ok(rows), state))
                    }
                }
            }
        })
    }

    /// Recompute the chain of one procedure, or of all, and store each result (verified up to
    /// which row, when, and where it broke). The history is read a batch at a time and results are
    /// written a batch at a time, so memory does not grow with the database. On a database that
    /// cannot be written the verdicts are still reported; only the stored state is not updated.
    pub async fn verify(&self, only: Option<&ProcedureId>) -> Result<VerifyReport, StoreError> {
        self.verify_at(only, Utc::now(), Verdicts::Every).await
    }

    /// `verify`, with the results stored as made at `now`, and the report listing every chain's
    /// verdict or only the broken ones (constant memory, for any number of procedures).
    pub async fn verify_at(
        &self,
        only: Option<&ProcedureId>,
        now: DateTime<Utc>,
        verdicts: Verdicts,
    ) -> Result<VerifyReport, StoreError> {
        let every = verdicts == Verdicts::Every || only.is_some();
        if let Some(id) = only
            && procedure::Entity::find_by_id(id.to_string())
                .one(&self.db)
                .await?
                .is_none()
        {
            return Err(StoreError::NotFound {
                what: "procedure",
                id: id.to_string(),
            });
        }
        let mut report = VerifyReport::default();
        let mut recorder = Recorder::new(self, now);
        let mut current: Option<(ChainCheck, Option<ChainBreak>, u64)> = None;
        let mut after: Option<(String, i64)> = None;
        loop {
            let mut query = history::Entity::find()
                .order_by_asc(history::Column::ProcedureId)
                .order_by_asc(history::Column::Sequence)
                .limit(BATCH);
            if let Some(id) = only {
                query = query.filter(history::Column::ProcedureId.eq(id.as_str()));
            }
            if let Some((p, seq)) = &after {
                query = query.filter(
                    Expr::tuple([
                        Expr::col((history::Entity, history::Column::ProcedureId)),
                        Expr::col((history::Entity, history::Column::Sequence)),
                    ])
                    .gt(Expr::tuple([Expr::val(p.as_str()), Expr::val(*seq)])),
                );
            }
            let batch = query.all(&self.db).await?;
            let done = (batch.len() as u64) < BATCH;
            for m in batch {
                let row = chain_row(m);
                after = Some((row.procedure_id.clone(), row.sequence));
                let same = current
                    .as_ref()
                    .is_some_and(|(c, _, _)| c.procedure_id() == row.procedure_id);
                if !same && let Some(finished) = current.take() {
                    recorder.finish(finished, &mut report, every).await?;
                }
                let (check, broken, rows) =
                    current.get_or_insert_with(|| (ChainCheck::new(&row.procedure_id), None, 0));
                *rows += 1;
                if broken.is_none()
                    && let Err(b) = check.push(&row)
                {
                    *broken = Some(b);
                }
            }
            if done {
                break;
            }
        }
        if let Some(finished) = current.take() {
            recorder.finish(finished, &mut report, every).await?;
        }
        recorder.flush().await?;
        if let Some(id) = only
            && report.checked == 0
        {
            report.procedures.push(ChainVerdict {
                procedure: id.to_string(),
                rows: 0,
                broken: None,
            });
            report.checked = 1;
        }
        // A chain cut off at its end is intact as far as it goes: the procedure's version tells.
        let cut =
            super::log::note_cut_short(self, only.map(|id| id.as_str()), &mut report.procedures)
                .await?;
        if recorder.writable {
            for b in &cut {
                // Stored as the chain's break, unless an earlier one is.
                let stored = chain_verification::Entity::update_many()
                    .col_expr(
                        chain_verification::Column::Broken,
                        Expr::value(b.to_string()),
                    )
                    .filter(chain_verification::Column::ProcedureId.eq(b.procedure_id.as_str()))
                    .filter(chain_verification::Column::Broken.is_null())
                    .exec(&self.db)
                    .await;
                if let Err(e) = stored {
                    tracing::warn!(error = %e, "the verification results cannot be stored; they are reported only");
                    break;
                }
            }
        }
        if only.is_none() {
            report.log = Some(self.verify_log().await?);
        }
        Ok(report)
    }

    /// Bring the stored verification up to date for procedures written since `since`, at most
    /// `max` of them: only their new rows are hashed (after checking the row verified last is
    /// unchanged); a chain never verified is verified whole. Returns how many were looked at.
    pub async fn verify_since(
        &self,
        since: Option<DateTime<Utc>>,
        max: u64,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let mut query = procedure::Entity::find()
            .select_only()
            .column(procedure::Column::Id)
            .column(procedure::Column::Version)
            .order_by_asc(procedure::Column::UpdatedAt)
            .order_by_asc(procedure::Column::Id)
            .limit(max);
        if let Some(since) = since {
            query = query.filter(procedure::Column::UpdatedAt.gte(since));
        }
        let ids: Vec<(String, i64)> = query.into_tuple().all(&self.db).await?;
        let mut recorder = Recorder::new(self, now);
        let mut report = VerifyReport::default();
        for (id, version) in &ids {
            let stored = chain_verification::Entity::find_by_id(id.clone())
                .one(&self.db)
                .await?;
            let (mut check, mut broken, mut rows, from) = match &stored {
                Some(s) if s.broken.is_some() => continue,
                Some(s) if s.sequence >= *version => continue,
                Some(s) => (
                    ChainCheck::resume(id, s.sequence, &s.hash),
                    None,
                    u64::try_from(s.rows).unwrap_or(0),
                    s.sequence,
                ),
                None => (ChainCheck::new(id), None, 0, 0),
            };
            // The row verified last, checked again: it must still be the one verified.
            if let Some(s) = &stored {
                let tip = history::Entity::find()
                    .filter(history::Column::ProcedureId.eq(id.as_str()))
                    .filter(history::Column::Sequence.eq(s.sequence))
                    .one(&self.db)
                    .await?
                    .map(chain_row);
                let unchanged = tip.as_ref().is_some_and(|t| {
                    t.hash == s.hash && crate::audit::content_problem(t).is_none()
                });
                if !unchanged {
                    broken = Some(ChainBreak {
                        procedure_id: id.clone(),
                        sequence: s.sequence,
                        what: "the row verified last has changed since: it was edited, removed \
                               or rehashed"
                            .into(),
                    });
                }
            }
            let mut after = from;
            while broken.is_none() {
                let batch = history::Entity::find()
                    .filter(history::Column::ProcedureId.eq(id.as_str()))
                    .filter(history::Column::Sequence.gt(after))
                    .order_by_asc(history::Column::Sequence)
                    .limit(BATCH)
                    .all(&self.db)
                    .await?;
                let done = (batch.len() as u64) < BATCH;
                for m in batch {
                    let row = chain_row(m);
                    after = row.sequence;
                    rows += 1;
                    if let Err(b) = check.push(&row) {
                        broken = Some(b);
                        break;
                    }
                }
                if done {
                    break;
                }
            }
            // Rows up to `version` were committed with it: a chain that ends before was cut short.
            let (tip, _) = check.tip();
            if broken.is_none() && tip < *version {
                broken = Some(super::log::cut_short(id, *version, tip));
            }
            recorder
                .finish((check, broken, rows), &mut report, false)
                .await?;
        }
        recorder.flush().await?;
        Ok(ids.len() as u64)
    }

    /// The stored verification state over every chain: a few aggregate queries.
    pub async fn verification_summary(&self) -> Result<VerificationSummary, StoreError> {
        use sea_orm::sea_query::{Alias, Func, Query};
        // The counts from the one row the triggers keep (migration 000301), the oldest and
        // newest verification from the index on `verified_at`, the number of procedures from
        // the stage tallies: a handful of rows read, however many chains there are.
        let mut totals = Query::select();
        totals
            .from(Alias::new("verification_tallies"))
            .columns([
                Alias::new("verified"),
                Alias::new("rows_covered"),
                Alias::new("broken"),
            ])
            .and_where(Expr::col(Alias::new("id")).eq(1));
        let mut summary = VerificationSummary::default();
        let n = |r: &sea_orm::QueryResult, name: &str| -> Result<u64, StoreError> {
            Ok(u64::try_from(r.try_get::<i64>("", name)?).unwrap_or(0))
        };
        if let Some(r) = sea_orm::ConnectionTrait::query_one(&self.db, &totals).await? {
            summary.verified = n(&r, "verified")?;
            summary.rows = n(&r, "rows_covered")?;
            summary.broken = n(&r, "broken")?;
        }
        let cv = chain_verification::Entity;
        let mut when = Query::select();
        when.from(cv)
            .expr_as(
                Func::min(Expr::col((cv, chain_verification::Column::VerifiedAt))),
                Alias::new("oldest"),
            )
            .expr_as(
                Func::max(Expr::col((cv, chain_verification::Column::VerifiedAt))),
                Alias::new("newest"),
            );
        if let Some(r) = sea_orm::ConnectionTrait::query_one(&self.db, &when).await? {
            summary.oldest = r.try_get("", "oldest")?;
            summary.newest = r.try_get("", "newest")?;
        }
        let mut procedures = Query::select();
        procedures.from(Alias::new("stage_tallies")).expr_as(
            Func::cast_as(
                Func::coalesce([
                    Func::sum(Expr::col(Alias::new("n"))).into(),
                    Expr::val(0i64),
                ]),
                Alias::new("BIGINT"),
            ),
            Alias::new("n"),
        );
        if let Some(r) = sea_orm::ConnectionTrait::query_one(&self.db, &procedures).await? {
            summary.procedures = n(&r, "n")?;
        }
        if summary.broken > 0 {
            summary.first_break = chain_verification::Entity::find()
                .filter(chain_verification::Column::Broken.is_not_null())
                .order_by_asc(chain_verification::Column::ProcedureId)
                .one(&self.db)
                .await?
                .and_then(|m| m.broken);
        }
        Ok(summary)
    }
}

/// Verdicts written to `chain_verifications` a batch at a time.
struct Recorder<'a> {
    store: &'a Store,
    now: DateTime<Utc>,
    pending: Vec<chain_verification::ActiveModel>,
    /// Off once a write was refused (a read-only database): verdicts are still reported.
    writable: bool,
}

impl<'a> Recorder<'a> {
    fn new(store: &'a Store, now: DateTime<Utc>) -> Self {
        Recorder {
            store,
            now,
            pending: Vec::new(),
            writable: true,
        }
    }

    async fn finish(
        &mut self,
        (check, broken, rows): (ChainCheck, Option<ChainBreak>, u64),
        report: &mut VerifyReport,
        keep_every_verdict: bool,
    ) -> Result<(), StoreError> {
        let (sequence, hash) = check.tip();
        report.checked += 1;
        report.rows += rows;
        self.pending.push(chain_verification::ActiveModel {
            procedure_id: Set(check.procedure_id().to_string()),
            sequence: Set(sequence),
            hash: Set(hash.to_string()),
            rows: Set(i64::try_from(rows).unwrap_or(i64::MAX)),
            broken: Set(broken.as_ref().map(ToString::to_string)),
            verified_at: Set(self.now),
        });
        if broken.is_some() || keep_every_verdict {
            report.procedures.push(ChainVerdict {
                procedure: check.procedure_id().to_string(),
                rows,
                broken,
            });
        }
        if self.pending.len() >= 500 {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), StoreError> {
        let rows = std::mem::take(&mut self.pending);
        if rows.is_empty() || !self.writable {
            return Ok(());
        }
        use chain_verification::Column as C;
        let result = chain_verification::Entity::insert_many(rows)
            .on_conflict(
                OnConflict::column(C::ProcedureId)
                    .update_columns([C::Sequence, C::Hash, C::Rows, C::Broken, C::VerifiedAt])
                    .to_owned(),
            )
            .exec_without_returning(&self.store.db)
            .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "the verification results cannot be stored; they are reported only");
            self.writable = false;
        }
        Ok(())
    }
}

fn chain_row(m: history::Model) -> ChainRow {
    ChainRow {
        procedure_id: m.procedure_id,
        sequence: m.sequence,
        at: m.at,
        effective_on: m.effective_on,
        effective_approximate: m.effective_approximate,
        retrospective: m.retrospective,
        actor_institution: m.actor_institution,
        actor_name: m.actor_name,
        actor_role: m.actor_role,
        actor_account: m.actor_account,
        command: m.command,
        from_stage: m.from_stage,
        to_stage: m.to_stage,
        comment: m.comment,
        payload: m.payload,
        prev_hash: m.prev_hash,
        hash: m.hash,
        hash_form: m.hash_form,
    }
}
