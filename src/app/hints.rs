//! "Did you mean …" for names that were not found: the known one closest to what was typed.
//! Reference data and stages are few and compared whole; procedures are many, so only the ids
//! next to the typed one in id order (and next to its usual respelling) are compared.

use super::{Accession, AppError};
use crate::suggest::closest;

/// How many ids on each side of a mistyped procedure id are compared with it.
const NEAR: u64 = 8;

impl Accession {
    /// The known `what` (as [`AppError::NotFound`] names it) closest to `id`, if one is close
    /// enough to be the one meant. `None` too when the kind has no list to compare with.
    pub async fn did_you_mean(&self, what: &str, id: &str) -> Result<Option<String>, AppError> {
        let known: Vec<String> = match what {
            "procedure" => {
                let mut near = self.store.procedure_ids_near(id, NEAR).await?;
                let respelt = id.to_lowercase().replace('_', "-");
                if respelt != id {
                    near.extend(self.store.procedure_ids_near(&respelt, NEAR).await?);
                    // The respelling itself, if it exists (kept below only if it does).
                    near.push(respelt);
                }
                near.sort();
                near.dedup();
                self.keep_existing_procedures(near).await?
            }
            "convention" => self
                .store
                .conventions()
                .await?
                .into_iter()
                .map(|c| c.id.to_string())
                .collect(),
            "institution" => self
                .store
                .institutions()
                .await?
                .into_iter()
                .map(|i| i.id.to_string())
                .collect(),
            "state" => self
                .store
                .states()
                .await?
                .into_iter()
                .map(|s| s.code.to_string())
                .collect(),
            "workflow" => self.catalog.all().map(|d| d.id.to_string()).collect(),
            "stage" => self.stage_ids(),
            _ => return Ok(None),
        };
        Ok(closest(id, &known).map(str::to_string))
    }

    /// Every stage id of every workflow version the catalog holds, each once.
    pub(crate) fn stage_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .catalog
            .every_version()
            .flat_map(|d| d.stages.iter().map(|s| s.id.to_string()))
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }

    /// Those of `ids` that are procedures.
    async fn keep_existing_procedures(&self, ids: Vec<String>) -> Result<Vec<String>, AppError> {
        let parsed: Vec<crate::ids::ProcedureId> = ids
            .iter()
            .filter_map(|i| crate::ids::ProcedureId::parse(i.clone()).ok())
            .collect();
        let found = self.store.procedures_by_id(&parsed).await?;
        Ok(ids
            .into_iter()
            .filter(|i| found.keys().any(|k| k.as_str() == i))
            .collect())
    }
}
