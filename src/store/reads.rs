//! Procedures read a page at a time: filtered, ordered and limited by the database, continued
//! with a keyset (the last id seen), never by loading every row. "Responsible institution" is a
//! join on `procedure_responsibles`, which each decision entering a stage rewrites in its own
//! transaction; a caller's visibility is the set of workflow definitions it may read.

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, JoinType, Order, Query, SelectStatement};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter,
    QueryOrder, QueryTrait,
};
use serde::Serialize;

use super::entities::{procedure, procedure_responsible, workflow_definition};
use super::procedures::{ProcedureFilter, ProcedureRow, state_from_row};
use super::{Store, StoreError};
use crate::engine::Status;
use crate::ids::{InstitutionId, ProcedureId};

/// Which procedures a listing reads: `filter`, plus what only the application can say.
#[derive(Debug, Clone, Default)]
pub struct ProcedureQuery {
    pub filter: ProcedureFilter,
    /// Only those whose current stage this institution is responsible for.
    pub responsible: Option<InstitutionId>,
    /// Only those not overdue on this day.
    pub not_overdue_on: Option<NaiveDate>,
    /// Only those on these workflow definitions (by hash): what the caller may read. `None`
    /// means every definition.
    pub definitions: Option<Vec<String>>,
}

/// Where a page starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Keyset {
    First,
    /// The page after this id.
    After(ProcedureId),
    /// The page before this id.
    Before(ProcedureId),
}

/// Counts over the procedures a query keeps, from aggregate queries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ProcedureCounts {
    pub total: u64,
    pub active: u64,
    pub overdue: u64,
    /// Active, not overdue, and due within `DUE_SOON_DAYS` days from today (today included).
    pub due_soon: u64,
    /// (workflow hash, stage, count), by hash and stage.
    pub by_stage: Vec<(String, String, u64)>,
}

/// How many days, from today, count as "due soon" (today and the six days after it).
pub const DUE_SOON_DAYS: u64 = 7;

/// The first day that is no longer "due soon" from `today`.
pub fn due_soon_before(today: NaiveDate) -> NaiveDate {
    today
        .checked_add_days(chrono::Days::new(DUE_SOON_DAYS))
        .unwrap_or(NaiveDate::MAX)
}

/// The dashboard's order key of a procedure: its due day while it is active, else a day after
/// every real one, so the most overdue come first, then the soonest due, then the rest (by id).
/// The same text is the expression of the index `procedures_urgency_id` (migration 000401 of
/// 2026-12-06), so the database walks that index: a page costs its rows, not the table.
pub const URGENCY: &str = "COALESCE(CASE WHEN status = 'active' THEN due_on END, '9999-12-31')";

/// The order key of a procedure in Rust, as `URGENCY` computes it in SQL.
pub fn urgency_of(status: Status, due_on: Option<NaiveDate>) -> NaiveDate {
    match (status, due_on) {
        (Status::Active, Some(day)) => day,
        _ => NO_URGENCY,
    }
}

/// The key of procedures that are not active or have no due day.
pub const NO_URGENCY: NaiveDate = match NaiveDate::from_ymd_opt(9999, 12, 31) {
    Some(day) => day,
    None => NaiveDate::MAX,
};

/// Where a page in urgency order starts: a position is (urgency key, id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrgencyKeyset {
    First,
    /// The page after this position.
    After(NaiveDate, ProcedureId),
    /// The page before this position.
    Before(NaiveDate, ProcedureId),
}

const RESPONSIBLES: &str = "procedure_responsibles";
const STAGE_TALLIES: &str = "stage_tallies";
const DUE_TALLIES: &str = "due_tallies";

impl Store {
    /// Up to `limit` procedures of `q` from `at`, in id order, and whether there are more beyond
    /// them in the direction read (after the last for `First`/`After`, before the first for
    /// `Before`). Reads at most `limit + 1` rows.
    pub async fn procedure_page(
        &self,
        q: &ProcedureQuery,
        at: &Keyset,
        limit: u64,
    ) -> Result<(Vec<ProcedureRow>, bool), StoreError> {
        if q.definitions.as_ref().is_some_and(Vec::is_empty) {
            return Ok((Vec::new(), false));
        }
        let mut select = procedure::Entity::find();
        // The keyset column: the join's own when filtering by responsible institution, so the
        // database walks that index in order.
        let key = if q.responsible.is_some() {
            Expr::col((Alias::new(RESPONSIBLES), Alias::new("procedure_id")))
        } else {
            Expr::col((procedure::Entity, procedure::Column::Id))
        };
        let statement = QueryTrait::query(&mut select);
        restrict(statement, q);
        let backwards = matches!(at, Keyset::Before(_));
        match at {
            Keyset::First => {}
            Keyset::After(id) => {
                statement.and_where(key.clone().gt(id.as_str()));
            }
            Keyset::Before(id) => {
                statement.and_where(key.clone().lt(id.as_str()));
            }
        }
        statement
            .order_by_expr(key, if backwards { Order::Desc } else { Order::Asc })
            .limit(limit + 1);
        self.keyset_rows(&*statement, limit, backwards).await
    }

    /// Up to `limit` procedures of `q` from `at` in urgency order (`URGENCY`, then id), and
    /// whether there are more beyond them in the direction read. Reads at most `limit + 1` rows,
    /// through the index on the same expression.
    pub async fn urgency_page(
        &self,
        q: &ProcedureQuery,
        at: &UrgencyKeyset,
        limit: u64,
    ) -> Result<(Vec<ProcedureRow>, bool), StoreError> {
        if q.definitions.as_ref().is_some_and(Vec::is_empty) {
            return Ok((Vec::new(), false));
        }
        let mut select = procedure::Entity::find();
        let statement = QueryTrait::query(&mut select);
        restrict(statement, q);
        let position = || {
            Expr::tuple([
                Expr::cust(URGENCY),
                Expr::col((procedure::Entity, procedure::Column::Id)),
            ])
        };
        let at_value = |day: &NaiveDate, id: &ProcedureId| {
            Expr::tuple([Expr::val(*day), Expr::val(id.as_str())])
        };
        let backwards = matches!(at, UrgencyKeyset::Before(..));
        match at {
            UrgencyKeyset::First => {}
            UrgencyKeyset::After(day, id) => {
                statement.and_where(position().gt(at_value(day, id)));
            }
            UrgencyKeyset::Before(day, id) => {
                statement.and_where(position().lt(at_value(day, id)));
            }
        }
        let order = if backwards { Order::Desc } else { Order::Asc };
        statement
            .order_by_expr(Expr::cust(URGENCY), order.clone())
            .order_by_expr(Expr::col((procedure::Entity, procedure::Column::Id)), order)
            .limit(limit + 1);
        self.keyset_rows(&*statement, limit, backwards).await
    }

    /// The rows of a keyset page read with `limit + 1`: at most `limit` of them in reading
    /// order (a page read backwards is turned round), and whether there were more.
    async fn keyset_rows(
        &self,
        statement: &sea_orm::sea_query::SelectStatement,
        limit: u64,
        backwards: bool,
    ) -> Result<(Vec<ProcedureRow>, bool), StoreError> {
        let mut rows = Vec::new();
        for r in self.db.query_all(statement).await? {
            let row = procedure::Model::from_query_result(&r, "")?;
            let mut procedure = state_from_row(&row)?;
            procedure.last_sequence = row.version;
            rows.push(ProcedureRow {
                procedure,
                created_at: row.created_at,
                updated_at: row.updated_at,
            });
        }
        let more = rows.len() as u64 > limit;
        rows.truncate(limit as usize);
        if backwards {
            rows.reverse();
        }
        Ok((rows, more))
    }

    /// How many procedures `q` keeps, how many of them are active and overdue on `today`, and
    /// how many are at each stage: two aggregate queries.
    pub async fn procedure_counts(
        &self,
        q: &ProcedureQuery,
        today: NaiveDate,
    ) -> Result<ProcedureCounts, StoreError> {
        if q.definitions.as_ref().is_some_and(Vec::is_empty) {
            return Ok(ProcedureCounts::default());
        }
        // The tallies have no State: a State's procedures (a few hundred at most) are counted.
        if q.responsible.is_none()
            && q.not_overdue_on.is_none()
            && q.filter.overdue_on.is_none()
            && q.filter.state.is_none()
        {
            return self.procedure_tallies(q, today).await;
        }
        self.procedure_counts_by_scan(q, today).await
    }

    /// The counts of `q` from the tallies the triggers keep (migration 000301): a few rows per
    /// (convention, definition, stage), and per day for overdue ones, however many procedures
    /// there are. Only for what the tallies have as columns: convention, stage, status and the
    /// readable definitions.
    async fn procedure_tallies(
        &self,
        q: &ProcedureQuery,
        today: NaiveDate,
    ) -> Result<ProcedureCounts, StoreError> {
        let f = &q.filter;
        let keep = |statement: &mut SelectStatement, table: &str| {
            let col = |c: &str| Expr::col((Alias::new(table), Alias::new(c)));
            if let Some(c) = &f.convention {
                statement.and_where(col("convention_id").eq(c.as_str()));
            }
            if let Some(s) = &f.stage {
                statement.and_where(col("stage").eq(s.as_str()));
            }
            if let Some(hashes) = &q.definitions {
                statement.and_where(col("workflow_hash").is_in(hashes.iter().cloned()));
            }
        };
        let sum = |table: &str| {
            Func::cast_as(
                Func::coalesce([
                    Func::sum(Expr::col((Alias::new(table), Alias::new("n")))).into(),
                    Expr::val(0i64),
                ]),
                Alias::new("BIGINT"),
            )
        };
        let read = |r: &sea_orm::QueryResult, name: &str| -> Result<u64, StoreError> {
            Ok(u64::try_from(r.try_get::<i64>("", name)?).unwrap_or(0))
        };
        let mut counts = ProcedureCounts::default();

        let mut by_status = Query::select();
        by_status
            .from(Alias::new(STAGE_TALLIES))
            .column(Alias::new("status"))
            .expr_as(sum(STAGE_TALLIES), Alias::new("n"))
            .group_by_col(Alias::new("status"));
        keep(&mut by_status, STAGE_TALLIES);
        for r in self.db.query_all(&by_status).await? {
            let status: String = r.try_get("", "status")?;
            let n = read(&r, "n")?;
            if f.status.is_none_or(|s| s.as_str() == status) {
                counts.total += n;
                if status == Status::Active.as_str() {
                    counts.active += n;
                }
            }
        }

        if f.status.is_none_or(|s| s == Status::Active) {
            let mut overdue = Query::select();
            overdue
                .from(Alias::new(DUE_TALLIES))
                .expr_as(sum(DUE_TALLIES), Alias::new("n"))
                .and_where(Expr::col((Alias::new(DUE_TALLIES), Alias::new("due_on"))).lt(today));
            keep(&mut overdue, DUE_TALLIES);
            if let Some(r) = self.db.query_one(&overdue).await? {
                counts.overdue = read(&r, "n")?;
            }
            let due_on = || Expr::col((Alias::new(DUE_TALLIES), Alias::new("due_on")));
            let mut soon = Query::select();
            soon.from(Alias::new(DUE_TALLIES))
                .expr_as(sum(DUE_TALLIES), Alias::new("n"))
                .and_where(due_on().gte(today))
                .and_where(due_on().lt(due_soon_before(today)));
            keep(&mut soon, DUE_TALLIES);
            if let Some(r) = self.db.query_one(&soon).await? {
                counts.due_soon = read(&r, "n")?;
            }
        }

        let mut by_stage = Query::select();
        let hash = Expr::col((Alias::new(STAGE_TALLIES), Alias::new("workflow_hash")));
        let stage = Expr::col((Alias::new(STAGE_TALLIES), Alias::new("stage")));
        by_stage
            .from(Alias::new(STAGE_TALLIES))
            .expr_as(hash.clone(), Alias::new("hash"))
            .expr_as(stage.clone(), Alias::new("stage"))
            .expr_as(sum(STAGE_TALLIES), Alias::new("n"))
            .group_by_col((Alias::new(STAGE_TALLIES), Alias::new("workflow_hash")))
            .group_by_col((Alias::new(STAGE_TALLIES), Alias::new("stage")))
            .and_having(Func::sum(Expr::col((Alias::new(STAGE_TALLIES), Alias::new("n")))).gt(0))
            .order_by_expr(hash, Order::Asc)
            .order_by_expr(stage, Order::Asc);
        keep(&mut by_stage, STAGE_TALLIES);
        if let Some(s) = f.status {
            by_stage.and_where(
                Expr::col((Alias::new(STAGE_TALLIES), Alias::new("status"))).eq(s.as_str()),
            );
        }
        for r in self.db.query_all(&by_stage).await? {
            counts.by_stage.push((
                r.try_get("", "hash")?,
                r.try_get("", "stage")?,
                read(&r, "n")?,
            ));
        }
        Ok(counts)
    }

    /// The counts of `q` by reading the procedures it keeps (through the indexes): what a filter
    /// the tallies have no column for needs. Public so tests can hold the tallies to it.
    #[doc(hidden)]
    pub async fn procedure_counts_by_scan(
        &self,
        q: &ProcedureQuery,
        today: NaiveDate,
    ) -> Result<ProcedureCounts, StoreError> {
        let mut counts = ProcedureCounts::default();
        if q.definitions.as_ref().is_some_and(Vec::is_empty) {
            return Ok(counts);
        }
        let active = || {
            Expr::col((procedure::Entity, procedure::Column::Status)).eq(Status::Active.as_str())
        };
        let due_on = || Expr::col((procedure::Entity, procedure::Column::DueOn));
        let overdue = active().and(due_on().lt(today));
        let soon = active()
            .and(due_on().gte(today))
            .and(due_on().lt(due_soon_before(today)));
        // SUM of integers is NUMERIC on PostgreSQL: read back as BIGINT on both.
        let as_count = |cond: Expr| {
            Func::cast_as(
                Func::sum(Expr::case(cond, Expr::val(1i64)).finally(Expr::val(0i64))),
                Alias::new("BIGINT"),
            )
        };
        let mut totals = Query::select();
        totals
            .from(procedure::Entity)
            .expr_as(Func::count(Expr::val(1i64)), Alias::new("total"))
            .expr_as(as_count(active()), Alias::new("active"))
            .expr_as(as_count(overdue), Alias::new("overdue"))
            .expr_as(as_count(soon), Alias::new("due_soon"));
        restrict(&mut totals, q);
        if let Some(r) = self.db.query_one(&totals).await? {
            let read = |name: &str| -> Result<u64, StoreError> {
                Ok(u64::try_from(r.try_get::<Option<i64>>("", name)?.unwrap_or(0)).unwrap_or(0))
            };
            counts.total = read("total")?;
            counts.active = read("active")?;
            counts.overdue = read("overdue")?;
            counts.due_soon = read("due_soon")?;
        }
        let mut by_stage = Query::select();
        let hash = Expr::col((procedure::Entity, procedure::Column::WorkflowHash));
        let stage = Expr::col((procedure::Entity, procedure::Column::Stage));
        by_stage
            .from(procedure::Entity)
            .expr_as(hash.clone(), Alias::new("hash"))
            .expr_as(stage.clone(), Alias::new("stage"))
            .expr_as(Func::count(Expr::val(1i64)), Alias::new("n"))
            .group_by_col((procedure::Entity, procedure::Column::WorkflowHash))
            .group_by_col((procedure::Entity, procedure::Column::Stage))
            .order_by_expr(hash, Order::Asc)
            .order_by_expr(stage, Order::Asc);
        restrict(&mut by_stage, q);
        for r in self.db.query_all(&by_stage).await? {
            counts.by_stage.push((
                r.try_get("", "hash")?,
                r.try_get("", "stage")?,
                u64::try_from(r.try_get::<i64>("", "n")?).unwrap_or(0),
            ));
        }
        Ok(counts)
    }

    /// Every stored workflow definition: (hash, source). There are a few per workflow file
    /// version, not per procedure.
    pub async fn definitions(&self) -> Result<Vec<(String, String)>, StoreError> {
        Ok(workflow_definition::Entity::find()
            .order_by_asc(workflow_definition::Column::Hash)
            .all(&self.db)
            .await?
            .into_iter()
            .map(|d| (d.hash, d.source))
            .collect())
    }

    /// Whether the one-off step `name` has been done.
    pub async fn backfilled(&self, name: &str) -> Result<bool, StoreError> {
        let mut q = Query::select();
        q.expr(Expr::val(1i64))
            .from(Alias::new("backfills"))
            .and_where(Expr::col(Alias::new("name")).eq(name));
        Ok(self.db.query_one(&q).await?.is_some())
    }

    /// Fill `procedure_responsibles` for procedures written before it existed: `stages` says, for
    /// each (definition hash, stage), who is responsible. One INSERT … SELECT per responsible
    /// institution of a stage, skipping rows already there, and the step noted as done, in one
    /// transaction; a later call does nothing.
    pub async fn backfill_responsibles(
        &self,
        stages: &[(String, String, Vec<InstitutionId>)],
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        const NAME: &str = "procedure_responsibles";
        let txn = self.begin_write().await?;
        let mut done = Query::select();
        done.expr(Expr::val(1i64))
            .from(Alias::new("backfills"))
            .and_where(Expr::col(Alias::new("name")).eq(NAME));
        if txn.query_one(&done).await?.is_some() {
            txn.rollback().await?;
            return Ok(0);
        }
        let mut written = 0;
        for (hash, stage, responsible) in stages {
            for institution in responsible {
                let mut already = Query::select();
                already
                    .expr(Expr::val(1i64))
                    .from(Alias::new(RESPONSIBLES))
                    .and_where(
                        Expr::col((Alias::new(RESPONSIBLES), Alias::new("procedure_id")))
                            .equals((procedure::Entity, procedure::Column::Id)),
                    )
                    .and_where(
                        Expr::col((Alias::new(RESPONSIBLES), Alias::new("institution_id")))
                            .eq(institution.as_str()),
                    );
                let mut rows = Query::select();
                rows.column((procedure::Entity, procedure::Column::Id))
                    .expr(Expr::val(institution.as_str()))
                    .from(procedure::Entity)
                    .and_where(procedure::Column::WorkflowHash.eq(hash.as_str()))
                    .and_where(procedure::Column::Stage.eq(stage.as_str()))
                    .and_where(Expr::exists(already).not());
                let insert = Query::insert()
                    .into_table(Alias::new(RESPONSIBLES))
                    .columns([Alias::new("procedure_id"), Alias::new("institution_id")])
                    .select_from(rows)
                    .map_err(|e| StoreError::corrupt(e.to_string()))?
                    .to_owned();
                written += txn.execute(&insert).await?.rows_affected();
            }
        }
        let mark = Query::insert()
            .into_table(Alias::new("backfills"))
            .columns([Alias::new("name"), Alias::new("done_at")])
            .values_panic([NAME.into(), now.into()])
            .to_owned();
        txn.execute(&mark).await?;
        txn.commit().await?;
        Ok(written)
    }
}

/// The WHERE (and the join) every read of `q` shares.
fn restrict(statement: &mut SelectStatement, q: &ProcedureQuery) {
    let col = |c: procedure::Column| Expr::col((procedure::Entity, c));
    let f = &q.filter;
    if let Some(c) = &f.convention {
        statement.and_where(col(procedure::Column::ConventionId).eq(c.as_str()));
    }
    if let Some(code) = &f.state {
        statement.and_where(col(procedure::Column::StateCode).eq(code.as_str()));
    }
    if let Some(s) = &f.stage {
        statement.and_where(col(procedure::Column::Stage).eq(s.as_str()));
    }
    if let Some(s) = f.status {
        statement.and_where(col(procedure::Column::Status).eq(s.as_str()));
    }
    if let Some(day) = f.overdue_on {
        statement
            .and_where(col(procedure::Column::DueOn).lt(day))
            .and_where(col(procedure::Column::Status).eq(Status::Active.as_str()));
    }
    if let Some(day) = q.not_overdue_on {
        statement.and_where(
            col(procedure::Column::Status)
                .ne(Status::Active.as_str())
                .or(col(procedure::Column::DueOn).is_null())
                .or(col(procedure::Column::DueOn).gte(day)),
        );
    }
    if let Some(hashes) = &q.definitions {
        statement.and_where(col(procedure::Column::WorkflowHash).is_in(hashes.iter().cloned()));
    }
    if let Some(institution) = &q.responsible {
        statement.join(
            JoinType::InnerJoin,
            Alias::new(RESPONSIBLES),
            Expr::col((Alias::new(RESPONSIBLES), Alias::new("procedure_id")))
                .equals((procedure::Entity, procedure::Column::Id))
                .and(
                    Expr::col((Alias::new(RESPONSIBLES), Alias::new("institution_id")))
                        .eq(institution.as_str()),
                ),
        );
    }
}

/// Replace the responsible institutions of `id` by `responsible`, in the decision's transaction.
pub(super) async fn write_responsibles(
    conn: &impl ConnectionTrait,
    id: &ProcedureId,
    responsible: &[InstitutionId],
) -> Result<(), StoreError> {
    procedure_responsible::Entity::delete_many()
        .filter(procedure_responsible::Column::ProcedureId.eq(id.as_str()))
        .exec(conn)
        .await?;
    if responsible.is_empty() {
        return Ok(());
    }
    let mut seen = std::collections::BTreeSet::new();
    let rows = responsible.iter().filter(|i| seen.insert(*i)).map(|i| {
        procedure_responsible::ActiveModel {
            procedure_id: Set(id.to_string()),
            institution_id: Set(i.to_string()),
        }
    });
    procedure_responsible::Entity::insert_many(rows)
        .exec_without_returning(conn)
        .await?;
    Ok(())
}
