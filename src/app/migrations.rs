//! Moving running procedures to another version of their workflow: the plan (what would move
//! where, and what cannot), read a page at a time, and the moves, one procedure per transaction.

use std::sync::Arc;

use serde::Serialize;

use super::{Accession, AppError, ProcedureView};
use crate::engine::migrate::{self, Blocker, Landing, StageMap};
use crate::engine::{Actor, ProcedureState};
use crate::ids::{ProcedureId, Version, WorkflowId};
use crate::store::{Keyset, ProcedureQuery};
use crate::workflow::WorkflowDefinition;

/// What would happen to one procedure.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedMove {
    pub procedure: ProcedureId,
    pub version: Version,
    #[serde(flatten)]
    pub outcome: MoveOutcome,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum MoveOutcome {
    Moves(Landing),
    /// Closed (completed, withdrawn): its record stays on the version it ended on.
    Stays {
        status: crate::engine::Status,
    },
    Cannot {
        blockers: Vec<Blocker>,
    },
}

/// How many procedures a plan reads per query.
const PLAN_PAGE: u64 = 500;

impl Accession {
    /// Version `version` of workflow `id`: from the folder when a file defines it, else as stored
    /// for procedures that started on it (the first stored, if an old database holds several).
    pub async fn workflow_version(
        &self,
        id: &WorkflowId,
        version: u32,
    ) -> Result<Arc<WorkflowDefinition>, AppError> {
        if let Some(def) = self.catalog.version(id, version) {
            return Ok(def);
        }
        let hashes = self.store.definition_hashes(id, version).await?;
        match hashes.first() {
            Some(hash) => self.definition_of(hash).await,
            None => Err(AppError::NotFound {
                what: "workflow version",
                id: format!("{id} version {version}"),
            }),
        }
    }

    /// What moving every procedure on `workflow` version `from` to version `to` under `map`
    /// would do, as `actor` sees it, `each` called with one page of the plan at a time (the
    /// database reads a page, not every procedure). Writes nothing.
    pub async fn migration_plan(
        &self,
        actor: &Actor,
        workflow: &WorkflowId,
        from: u32,
        to: u32,
        map: &StageMap,
        mut each: impl FnMut(Vec<PlannedMove>),
    ) -> Result<(), AppError> {
        let target = self.workflow_version(workflow, to).await?;
        let hashes = self.store.definition_hashes(workflow, from).await?;
        if hashes.is_empty() {
            // Nothing started on it: a version no file defines is a typo.
            self.workflow_version(workflow, from).await?;
        }
        for hash in hashes {
            let source = self.definition_of(&hash).await?;
            let readable = self.readable_definitions(actor).await?;
            if readable.is_some_and(|r| !r.contains(&hash)) {
                continue;
            }
            let query = ProcedureQuery {
                definitions: Some(vec![hash.clone()]),
                ..ProcedureQuery::default()
            };
            let mut at = Keyset::First;
            loop {
                let (rows, more) = self.store.procedure_page(&query, &at, PLAN_PAGE).await?;
                let Some(last) = rows.last().map(|r| r.procedure.id.clone()) else {
                    break;
                };
                each(
                    rows.into_iter()
                        .map(|r| planned(&r.procedure, &source, &target, map))
                        .collect(),
                );
                if !more {
                    break;
                }
                at = Keyset::After(last);
            }
        }
        Ok(())
    }

    /// Refused unless `actor` may move procedures between workflow versions (coordinators).
    pub async fn may_migrate(&self, actor: &Actor) -> Result<(), AppError> {
        Ok(migrate::may_migrate(
            actor,
            &self.people().await?.coordinators,
        )?)
    }

    /// Move procedure `id` to version `to` of its workflow under `map`, as `actor`, at version
    /// `expected` when given (the API's If-Match; the CLI moves the version it reads): one
    /// history event naming both versions and the map, in the same transaction as the move.
    pub async fn migrate(
        &self,
        actor: &Actor,
        id: &ProcedureId,
        to: u32,
        map: &StageMap,
        expected: Option<Version>,
    ) -> Result<ProcedureView, AppError> {
        let current = self.readable(id, actor).await?;
        // Who may is asked first: a ministry learns nothing about versions.
        self.may_migrate(actor).await?;
        self.migrate_one(actor, current, to, map, expected).await
    }

    /// Move every procedure on `workflow` version `from` to `to`: refused, writing nothing, when
    /// any cannot move (the plan says why); else each moves in its own transaction. Returns how
    /// many moved.
    pub async fn migrate_all(
        &self,
        actor: &Actor,
        workflow: &WorkflowId,
        from: u32,
        to: u32,
        map: &StageMap,
    ) -> Result<u64, AppError> {
        self.may_migrate(actor).await?;
        let mut blocked = Vec::new();
        let mut movable = 0u64;
        self.migration_plan(actor, workflow, from, to, map, |page| {
            for m in page {
                match m.outcome {
                    MoveOutcome::Moves(_) => movable += 1,
                    MoveOutcome::Stays { .. } => {}
                    MoveOutcome::Cannot { blockers } => {
                        if blocked.len() < 20 {
                            blocked.push(format!(
                                "{}: {}",
                                m.procedure,
                                blockers
                                    .iter()
                                    .map(ToString::to_string)
                                    .collect::<Vec<_>>()
                                    .join("; ")
                            ));
                        }
                    }
                }
            }
        })
        .await?;
        if !blocked.is_empty() {
            return Err(AppError::Invalid(format!(
                "nothing moved: some procedures cannot move (see `workflows migrate-plan`): {}",
                blocked.join(" | ")
            )));
        }
        let hashes = self.store.definition_hashes(workflow, from).await?;
        let mut moved = 0u64;
        for hash in hashes {
            let query = ProcedureQuery {
                definitions: Some(vec![hash.clone()]),
                ..ProcedureQuery::default()
            };
            let mut at = Keyset::First;
            loop {
                let (rows, more) = self.store.procedure_page(&query, &at, PLAN_PAGE).await?;
                let Some(last) = rows.last().map(|r| r.procedure.id.clone()) else {
                    break;
                };
                for row in rows {
                    if row.procedure.status.is_closed() {
                        continue;
                    }
                    self.migrate_one(actor, row.procedure, to, map, None)
                        .await?;
                    moved += 1;
                }
                if !more {
                    break;
                }
                at = Keyset::After(last);
            }
        }
        if moved != movable {
            tracing::warn!(
                moved,
                planned = movable,
                "procedures changed while they were moved"
            );
        }
        Ok(moved)
    }

    async fn migrate_one(
        &self,
        actor: &Actor,
        current: ProcedureState,
        to: u32,
        map: &StageMap,
        expected: Option<Version>,
    ) -> Result<ProcedureView, AppError> {
        let from = self.definition_of(&current.workflow.hash).await?;
        let target = self.workflow_version(&current.workflow.id, to).await?;
        let rules = self.rules_of(&current.convention).await?;
        let people = self.people().await?;
        let now = self.now();
        let outcome = async {
            let decision = migrate::migrate(
                self.context(&target, &rules, &people),
                &current,
                &from,
                map,
                expected.unwrap_or(current.version),
                actor,
                now,
            )?;
            self.store.save_definition(&target, now).await?;
            self.store.apply(&decision).await?;
            Ok(decision)
        }
        .await;
        self.observe(outcome.as_ref());
        self.view_of(outcome?.procedure).await
    }
}

fn planned(
    p: &ProcedureState,
    from: &WorkflowDefinition,
    to: &WorkflowDefinition,
    map: &StageMap,
) -> PlannedMove {
    PlannedMove {
        procedure: p.id.clone(),
        version: p.version,
        outcome: if p.status.is_closed() {
            MoveOutcome::Stays { status: p.status }
        } else {
            match migrate::plan(p, from, to, map) {
                Ok(landing) => MoveOutcome::Moves(landing),
                Err(blockers) => MoveOutcome::Cannot { blockers },
            }
        },
    }
}
