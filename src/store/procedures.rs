//! Reading procedures back into the engine's terms, listing them and their timers.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sea_query::{
    Condition, Expr, ExprTrait, Func, JoinType, Query, QueryStatementBuilder,
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait,
};
use serde::Serialize;

use super::entities::{approval, history, procedure, timer};
use super::timers::claimed_from_row;
use super::{ClaimedTimer, Store, StoreError, TimerStatus};
use crate::engine::{KeyDates, ProcedureState, Status, TimerKind, WorkflowRef};
use crate::ids::{
    ConventionId, FieldName, InstitutionId, ProcedureId, StageId, StateCode, Version, WorkflowId,
};

/// Filters for listing procedures; `None` means any.
#[derive(Debug, Clone, Default)]
pub struct ProcedureFilter {
    pub convention: Option<ConventionId>,
    /// Only this State's.
    pub state: Option<crate::ids::StateCode>,
    pub stage: Option<StageId>,
    pub status: Option<Status>,
    /// Only those whose due date is before this day.
    pub overdue_on: Option<NaiveDate>,
}

/// A procedure as listed: its state plus bookkeeping.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProcedureRow {
    #[serde(flatten)]
    pub procedure: ProcedureState,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A timer of a procedure, as shown with it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TimerRow {
    pub id: i64,
    pub stage: StageId,
    pub kind: TimerKind,
    pub rule: String,
    pub fire_at: DateTime<Utc>,
    pub status: TimerStatus,
    pub recipients: Vec<InstitutionId>,
}

impl From<ClaimedTimer> for TimerRow {
    fn from(t: ClaimedTimer) -> TimerRow {
        TimerRow {
            id: t.id,
            stage: t.timer.stage,
            kind: t.timer.kind,
            rule: t.timer.rule,
            fire_at: t.timer.fire_at,
            status: t.status,
            recipients: t.timer.recipients,
        }
    }
}

impl Store {
    /// Procedure ids next to `id` in id order, up to `each_side` before and after it: where a
    /// mistyped id's intended one most likely is (a shared prefix sorts close). Two index range
    /// reads, whatever the number of procedures.
    pub async fn procedure_ids_near(
        &self,
        id: &str,
        each_side: u64,
    ) -> Result<Vec<String>, StoreError> {
        let mut ids = Vec::new();
        for before in [true, false] {
            let side = procedure::Entity::find()
                .select_only()
                .column(procedure::Column::Id);
            let side = if before {
                side.filter(procedure::Column::Id.lt(id))
                    .order_by_desc(procedure::Column::Id)
            } else {
                side.filter(procedure::Column::Id.gt(id))
                    .order_by_asc(procedure::Column::Id)
            };
            let found: Vec<String> = side.limit(each_side).into_tuple().all(&self.db).await?;
            ids.extend(found);
        }
        Ok(ids)
    }

    /// The open (active or suspended) procedure of `state` on `convention`, if there is one.
    pub async fn open_procedure_for(
        &self,
        state: &crate::ids::StateCode,
        convention: &ConventionId,
    ) -> Result<Option<ProcedureId>, StoreError> {
        let row = procedure::Entity::find()
            .filter(procedure::Column::StateCode.eq(state.as_str()))
            .filter(procedure::Column::ConventionId.eq(convention.as_str()))
            .filter(procedure::Column::Status.is_in(["active", "suspended"]))
            .one(&self.db)
            .await?;
        row.map(|r| ProcedureId::parse(r.id).map_err(|e| StoreError::corrupt(e.to_string())))
            .transpose()
    }

    /// The procedure with its approvals for the current stage entry and its last sequence.
    pub async fn procedure(&self, id: &ProcedureId) -> Result<Option<ProcedureState>, StoreError> {
        Ok(self
            .procedures_by_id(std::slice::from_ref(id))
            .await?
            .remove(id))
    }

    /// Several procedures as `procedure` reads one, in one query; absent ids are left out.
    ///
    /// Each procedure row is left-joined to the approvals given in its current stage entry (one
    /// row each, or one row with none), with the history's last sequence as a subquery.
    pub async fn procedures_by_id(
        &self,
        ids: &[ProcedureId],
    ) -> Result<HashMap<ProcedureId, ProcedureState>, StoreError> {
        let mut found = HashMap::new();
        if ids.is_empty() {
            return Ok(found);
        }
        let last_sequence = Query::select()
            .expr(Func::max(Expr::col((
                history::Entity,
                history::Column::Sequence,
            ))))
            .from(history::Entity)
            .and_where(
                Expr::col((history::Entity, history::Column::ProcedureId))
                    .equals((procedure::Entity, procedure::Column::Id)),
            )
            .to_owned();
        let mut select = procedure::Entity::find()
            .filter(procedure::Column::Id.is_in(ids.iter().map(|id| id.to_string())))
            .expr_as(
                Expr::col((approval::Entity, approval::Column::Institution)),
                "approval_institution",
            )
            .expr_as(
                Expr::col((approval::Entity, approval::Column::At)),
                "approval_at",
            )
            .expr_as(
                Expr::SubQuery(None, Box::new(last_sequence.into_sub_query_statement())),
                "last_sequence",
            );
        QueryTrait::query(&mut select).join(
            JoinType::LeftJoin,
            approval::Entity,
            Condition::all()
                .add(
                    Expr::col((approval::Entity, approval::Column::ProcedureId))
                        .equals((procedure::Entity, procedure::Column::Id)),
                )
                .add(
                    Expr::col((approval::Entity, approval::Column::StageEntry))
                        .equals((procedure::Entity, procedure::Column::StageEntry)),
                ),
        );
        for r in self.db.query_all(QueryTrait::query(&mut select)).await? {
            let id: String = r.try_get("", "id")?;
            let id = ProcedureId::parse(id).map_err(|e| StoreError::corrupt(e.to_string()))?;
            // One row per approval: the procedure's own columns are read from the first.
            let state = match found.entry(id) {
                Entry::Occupied(e) => e.into_mut(),
                Entry::Vacant(e) => {
                    let row = procedure::Model::from_query_result(&r, "")?;
                    let mut state = state_from_row(&row)?;
                    state.last_sequence =
                        r.try_get::<Option<i64>>("", "last_sequence")?.unwrap_or(0);
                    e.insert(state)
                }
            };
            let Some(institution) = r.try_get::<Option<String>>("", "approval_institution")? else {
                continue;
            };
            let at: DateTime<Utc> = r.try_get("", "approval_at")?;
            let inst = InstitutionId::parse(institution)
                .map_err(|e| StoreError::corrupt(e.to_string()))?;
            state.approvals.insert(inst, at);
        }
        Ok(found)
    }

    /// Procedures matching `filter`, by id. Approvals are not loaded; use `procedure` for one.
    pub async fn procedures(
        &self,
        filter: &ProcedureFilter,
    ) -> Result<Vec<ProcedureRow>, StoreError> {
        let mut query = procedure::Entity::find().order_by_asc(procedure::Column::Id);
        if let Some(c) = &filter.convention {
            query = query.filter(procedure::Column::ConventionId.eq(c.to_string()));
        }
        if let Some(s) = &filter.stage {
            query = query.filter(procedure::Column::Stage.eq(s.to_string()));
        }
        if let Some(s) = filter.status {
            query = query.filter(procedure::Column::Status.eq(s.as_str()));
        }
        if let Some(day) = filter.overdue_on {
            query = query
                .filter(procedure::Column::DueOn.lt(day))
                .filter(procedure::Column::Status.eq(Status::Active.as_str()));
        }
        query
            .all(&self.db)
            .await?
            .iter()
            .map(|row| {
                let mut procedure = state_from_row(row)?;
                procedure.last_sequence = row.version;
                Ok(ProcedureRow {
                    procedure,
                    created_at: row.created_at,
                    updated_at: row.updated_at,
                })
            })
            .collect()
    }

    /// The procedure's timers, pending ones only unless `all`.
    pub async fn timers(&self, id: &ProcedureId, all: bool) -> Result<Vec<TimerRow>, StoreError> {
        timers_of(&self.db, id, all).await
    }
}

/// The timers of `id` (only the pending ones unless `all`) as `conn` sees them: an act's own
/// transaction reads the ones it has just written.
pub(super) async fn timers_of(
    conn: &impl ConnectionTrait,
    id: &ProcedureId,
    all: bool,
) -> Result<Vec<TimerRow>, StoreError> {
    let mut query = timer::Entity::find()
        .filter(timer::Column::ProcedureId.eq(id.to_string()))
        .order_by_asc(timer::Column::FireAt)
        .order_by_asc(timer::Column::Id);
    if !all {
        query = query.filter(super::status_is(
            timer::Column::Status,
            TimerStatus::Pending.as_str(),
        ));
    }
    query
        .all(conn)
        .await?
        .into_iter()
        .map(|t| claimed_from_row(t).map(TimerRow::from))
        .collect()
}

pub(super) fn state_from_row(row: &procedure::Model) -> Result<ProcedureState, StoreError> {
    let bad = |what: String| StoreError::corrupt(format!("procedure `{}`: {what}", row.id));
    let fields: BTreeMap<String, String> =
        serde_json::from_str(&row.fields).map_err(|e| bad(format!("fields: {e}")))?;
    let fields = fields
        .into_iter()
        .map(|(k, v)| Ok((FieldName::parse(k).map_err(|e| bad(e.to_string()))?, v)))
        .collect::<Result<_, StoreError>>()?;
    Ok(ProcedureState {
        id: ProcedureId::parse(row.id.clone()).map_err(|e| bad(e.to_string()))?,
        state: StateCode::parse(row.state_code.clone()).map_err(|e| bad(e.to_string()))?,
        convention: ConventionId::parse(row.convention_id.clone())
            .map_err(|e| bad(e.to_string()))?,
        workflow: WorkflowRef {
            id: WorkflowId::parse(row.workflow_id.clone()).map_err(|e| bad(e.to_string()))?,
            version: u32::try_from(row.workflow_version).map_err(|e| bad(e.to_string()))?,
            hash: row.workflow_hash.clone(),
        },
        stage: StageId::parse(row.stage.clone()).map_err(|e| bad(e.to_string()))?,
        stage_entered_at: row.stage_entered_at,
        stage_entry: row.stage_entry,
        status: Status::parse(&row.status)
            .ok_or_else(|| bad(format!("status `{}`", row.status)))?,
        version: Version(row.version),
        fields,
        approvals: BTreeMap::new(),
        key_dates: KeyDates {
            requested_on: row.requested_on,
            invited_on: row.invited_on,
            invitation_expires_on: row.invitation_expires_on,
            deposited_on: row.deposited_on,
            entry_into_force_computed: row.entry_into_force_computed,
            entry_into_force_recorded: row.entry_into_force_recorded,
        },
        treaty: serde_json::from_str(&row.treaty)
            .map_err(|e| bad(format!("treaty record: {e}")))?,
        due_on: row.due_on,
        last_sequence: 0,
    })
}
