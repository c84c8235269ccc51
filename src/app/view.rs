//! What `procedures show` tells a person: where the procedure is, what may happen next and by
//! whom, what is still missing, the key dates, the due date and the upcoming timers.

use serde::Serialize;

use super::{Accession, AppError};
use crate::engine::{Actor, ProcedureState};
use crate::ids::{FieldName, InstitutionId, ProcedureId, StageId};
use crate::store::TimerRow;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NextMove {
    pub to: StageId,
    pub title: String,
    pub by: Vec<InstitutionId>,
    /// What stands in the way now (approvals, fields); empty when the move can be made.
    pub blocked_by: Vec<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ApprovalsView {
    pub of: Vec<InstitutionId>,
    pub at_least: usize,
    pub given: Vec<InstitutionId>,
    pub missing: Vec<InstitutionId>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProcedureView {
    #[serde(flatten)]
    pub procedure: ProcedureState,
    pub convention_number: String,
    pub convention_title: String,
    pub workflow_title: String,
    pub stage_title: String,
    pub responsible: Vec<InstitutionId>,
    pub overdue: bool,
    pub next: Vec<NextMove>,
    pub approvals_needed: Option<ApprovalsView>,
    pub fields_missing: Vec<FieldName>,
    pub entry_into_force_differs: bool,
    /// Reservations made at deposit lapse on this day unless renewed (CETS 210: five years from
    /// entry into force; ETS 173: three), when the convention limits them and the date is known.
    pub reservations_valid_until: Option<chrono::NaiveDate>,
    /// The last day the invitation is valid by the convention's rule, as the Council of Europe
    /// counts it, before any extension (`key_dates.invitation_expires_on` is the validity with
    /// the extensions).
    pub invitation_valid_by_rule: Option<chrono::NaiveDate>,
    pub timers: Vec<TimerRow>,
}

impl Accession {
    /// What `actor` sees of procedure `id`: its state, what it waits for, and its pending
    /// timers; not found when `actor` may not read it (as when it does not exist).
    pub async fn view(&self, actor: &Actor, id: &ProcedureId) -> Result<ProcedureView, AppError> {
        let p = self.readable(id, actor).await?;
        self.view_of(p).await
    }

    /// The view of `p` as given (an act passes the state its decision wrote, so it need not be
    /// read back); only the pending timers are read.
    pub(crate) async fn view_of(&self, p: ProcedureState) -> Result<ProcedureView, AppError> {
        let timers = self.store.timers(&p.id, false).await?;
        let mut view = self.view_without_timers(p).await?;
        view.timers = timers;
        Ok(view)
    }

    /// The view of `p` with its timers left empty: all of the view that is known before an act's
    /// timers are written (an idempotent act's answer is finished inside its transaction).
    pub(crate) async fn view_without_timers(
        &self,
        p: ProcedureState,
    ) -> Result<ProcedureView, AppError> {
        let def = self.definition_of(&p.workflow.hash).await?;
        let convention = self.store.convention(&p.convention).await?;
        let stage = def.stage(&p.stage);
        let given: std::collections::BTreeSet<InstitutionId> =
            p.approvals.keys().cloned().collect();
        let approvals_needed = stage
            .and_then(|s| s.approvals.as_ref())
            .map(|rule| ApprovalsView {
                of: rule.of.clone(),
                at_least: rule.at_least,
                given: given.iter().cloned().collect(),
                missing: rule.missing(&given),
            });
        let mut fields_missing = Vec::new();
        let next = if p.status.is_closed() {
            Vec::new()
        } else {
            def.transitions_from(&p.stage)
                .map(|t| {
                    let mut blocked_by = Vec::new();
                    if t.approvals
                        && let Some(a) = &approvals_needed
                        && !a.missing.is_empty()
                    {
                        blocked_by.push(format!(
                            "approvals: {} of {} given; waiting for {}",
                            a.given.len(),
                            a.at_least,
                            a.missing
                                .iter()
                                .map(|i| i.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ));
                    }
                    for f in t.fields.iter().filter(|f| !p.fields.contains_key(*f)) {
                        blocked_by.push(format!("field `{f}` not recorded"));
                        if !fields_missing.contains(f) {
                            fields_missing.push(f.clone());
                        }
                    }
                    if p.status == crate::engine::Status::Suspended {
                        blocked_by.push("the procedure is suspended".into());
                    }
                    NextMove {
                        to: t.to.clone(),
                        title: def
                            .stage(&t.to)
                            .map(|s| s.title.clone())
                            .unwrap_or_default(),
                        by: t.by.clone(),
                        blocked_by,
                    }
                })
                .collect()
        };
        let today = self.today();
        Ok(ProcedureView {
            convention_number: convention
                .as_ref()
                .map(|c| c.number.clone())
                .unwrap_or_default(),
            convention_title: convention
                .as_ref()
                .map(|c| c.title.clone())
                .unwrap_or_default(),
            workflow_title: def.title.clone(),
            stage_title: stage.map(|s| s.title.clone()).unwrap_or_default(),
            responsible: stage.map(|s| s.responsible.clone()).unwrap_or_default(),
            overdue: p.is_overdue(today),
            next,
            approvals_needed,
            fields_missing,
            entry_into_force_differs: p.key_dates.entry_into_force_differs(),
            reservations_valid_until: convention
                .as_ref()
                .and_then(|c| c.reservation_regime())
                .and_then(|regime| regime.first_expiry(p.key_dates.entry_into_force()?)),
            invitation_valid_by_rule: convention
                .as_ref()
                .and_then(|c| c.rules().invitation_validity)
                .and_then(|rule| rule.invitation_valid_until(p.key_dates.invited_on?)),
            timers: Vec::new(),
            procedure: p,
        })
    }
}
