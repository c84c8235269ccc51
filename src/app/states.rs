//! The States registry: importing it, reading it, and what a start asks of it — the State
//! exists, the workflow names only that State's institutions, and no other procedure of that
//! State on that convention is open.

use std::path::Path;

use super::{Accession, AppError};
use crate::engine::{ProcedureState, StartProcedure};
use crate::ids::{ConventionId, ProcedureId, StateCode};
use crate::reference::{State, StateFile, foreign_institutions};
use crate::store::ImportSummary;
use crate::store::StoreError;
use crate::workflow::WorkflowDefinition;

impl Accession {
    /// Import a States file; refused with the file and line at fault, writing nothing.
    pub async fn import_states(&self, path: &Path) -> Result<ImportSummary, AppError> {
        let (name, source) = super::read(path)?;
        let list = StateFile::parse(&name, &source)?;
        Ok(self.store.import_states(&list, self.now()).await?)
    }

    /// Every State of the registry (reference data: no caller).
    pub async fn states(&self) -> Result<Vec<State>, AppError> {
        Ok(self.store.states().await?)
    }

    /// Refused unless `cmd`'s State is in the registry, `def` names only its institutions, and
    /// it has no open procedure on the convention. The store's unique index holds the last even
    /// when two starts race.
    pub(super) async fn check_start_party(
        &self,
        def: &WorkflowDefinition,
        cmd: &StartProcedure,
    ) -> Result<(), AppError> {
        if self.store.state(&cmd.state).await?.is_none() {
            let known: Vec<String> = self
                .store
                .states()
                .await?
                .iter()
                .map(|s| s.code.to_string())
                .collect();
            return Err(AppError::InvalidField {
                field: "state",
                detail: format!(
                    "State `{}` is not in the States registry (known: {}); import it first \
                     (`accession states import FILE`)",
                    cmd.state,
                    if known.is_empty() {
                        "none".into()
                    } else {
                        known.join(", ")
                    }
                ),
            });
        }
        let registry = self.store.institutions().await?;
        let foreign = foreign_institutions(def.institutions(), &registry, &cmd.state);
        if !foreign.is_empty() {
            let list: Vec<String> = foreign
                .iter()
                .map(|(id, state)| match state {
                    Some(s) => format!("`{id}` ({s})"),
                    None => format!("`{id}` (no State)"),
                })
                .collect();
            return Err(AppError::InvalidField {
                field: "state",
                detail: format!(
                    "workflow `{}` names institutions that are not {}'s: {}; a procedure of {} \
                     needs a workflow naming {}'s own institutions",
                    def.id,
                    cmd.state,
                    list.join(", "),
                    cmd.state,
                    cmd.state
                ),
            });
        }
        // A procedure that exists already is refused as such, before any other of its State.
        if self.store.procedure(&cmd.id).await?.is_some() {
            return Err(AppError::Conflict(
                crate::store::StoreError::AlreadyExists(cmd.id.to_string()).to_string(),
            ));
        }
        if let Some(open) = self
            .store
            .open_procedure_for(&cmd.state, &cmd.convention)
            .await?
        {
            return Err(already_open(&cmd.state, &cmd.convention, &open));
        }
        Ok(())
    }

    /// `e`, the store's refusal of a write of `procedure`; when the one-open index refused it
    /// (another start of its State on its convention landed meanwhile), naming the open one.
    pub(super) async fn naming_the_open_one(
        &self,
        e: StoreError,
        procedure: &ProcedureState,
    ) -> AppError {
        if !matches!(e, StoreError::AlreadyOpen { .. }) {
            return e.into();
        }
        match self
            .store
            .open_procedure_for(&procedure.state, &procedure.convention)
            .await
        {
            Ok(Some(open)) => already_open(&procedure.state, &procedure.convention, &open),
            // Closed again meanwhile, or unreadable: the store's own words.
            Ok(None) | Err(_) => e.into(),
        }
    }
}

fn already_open(state: &StateCode, convention: &ConventionId, open: &ProcedureId) -> AppError {
    AppError::Conflict(format!(
        "{state} already has an open procedure on `{convention}`: `{open}`; withdraw it before \
         starting another"
    ))
}
