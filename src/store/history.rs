//! Reading history and verifying its hash chains.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Serialize;

use super::entities::{history, procedure};
use super::{Store, StoreError};
use crate::audit::{ChainBreak, ChainRow, verify_chain};
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

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct VerifyReport {
    pub procedures: Vec<ChainVerdict>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.procedures.iter().all(|p| p.broken.is_none())
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

    /// The history rows `filter` keeps, by procedure and sequence, in one query.
    pub async fn history_where(&self, filter: &HistoryFilter) -> Result<Vec<ChainRow>, StoreError> {
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
        Ok(query
            .all(&self.db)
            .await?
            .into_iter()
            .map(chain_row)
            .collect())
    }

    /// Recompute the chain of one procedure, or of all.
    pub async fn verify(&self, only: Option<&ProcedureId>) -> Result<VerifyReport, StoreError> {
        let ids: Vec<String> = match only {
            Some(id) => {
                if procedure::Entity::find_by_id(id.to_string())
                    .one(&self.db)
                    .await?
                    .is_none()
                {
                    return Err(StoreError::NotFound {
                        what: "procedure",
                        id: id.to_string(),
                    });
                }
                vec![id.to_string()]
            }
            None => {
                procedure::Entity::find()
                    .select_only()
                    .column(procedure::Column::Id)
                    .order_by_asc(procedure::Column::Id)
                    .into_tuple()
                    .all(&self.db)
                    .await?
            }
        };
        let mut report = VerifyReport {
            procedures: Vec::new(),
        };
        for id in ids {
            let rows: Vec<ChainRow> = history::Entity::find()
                .filter(history::Column::ProcedureId.eq(id.clone()))
                .order_by_asc(history::Column::Sequence)
                .all(&self.db)
                .await?
                .into_iter()
                .map(chain_row)
                .collect();
            let verdict = match verify_chain(&id, &rows) {
                Ok(n) => ChainVerdict {
                    procedure: id,
                    rows: n,
                    broken: None,
                },
                Err(b) => ChainVerdict {
                    procedure: id,
                    rows: rows.len() as u64,
                    broken: Some(b),
                },
            };
            report.procedures.push(verdict);
        }
        Ok(report)
    }
}

fn chain_row(m: history::Model) -> ChainRow {
    ChainRow {
        procedure_id: m.procedure_id,
        sequence: m.sequence,
        at: m.at,
        actor_institution: m.actor_institution,
        actor_name: m.actor_name,
        actor_role: m.actor_role,
        command: m.command,
        from_stage: m.from_stage,
        to_stage: m.to_stage,
        comment: m.comment,
        payload: m.payload,
        prev_hash: m.prev_hash,
        hash: m.hash,
    }
}
