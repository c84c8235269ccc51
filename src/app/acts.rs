//! What a caller may see and do on a procedure: the one rule the API and the pages share.
//! Reading follows `Actor::may_read`; acts are asked of the engine itself (a dry run decides
//! nothing and writes nothing).

use serde::Serialize;
use utoipa::ToSchema;

use super::{Accession, AppError};
use crate::engine::{Act, Actor, Command, ProcedureState, Status};
use crate::ids::{FieldName, ProcedureId, StageId, StateCode};

/// An act the caller may do now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct AllowedAct {
    /// advance, approve, record, comment, suspend, resume, withdraw, extend-invitation,
    /// extend-deadline, raise-objection, withdraw-objection, reserve, renew-reservation,
    /// modify-reservation or withdraw-reservation: the last segment of the act's endpoint.
    pub act: String,
    /// For `advance`: the stage it moves to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<StageId>,
    /// For `record`: the field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<FieldName>,
    /// For `withdraw-objection`: the Party whose standing objection may be withdrawn.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub party: Option<StateCode>,
    /// For `renew-reservation`, `modify-reservation` and `withdraw-reservation`: the number of
    /// the reservation or declaration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reservation: Option<u32>,
}

impl AllowedAct {
    fn named(act: &str) -> Self {
        Self {
            act: act.into(),
            to: None,
            field: None,
            party: None,
            reservation: None,
        }
    }
}

/// Which moves on to offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moves {
    /// Only those the engine accepts now (the API's `allowed_acts`).
    AcceptedNow,
    /// Every one the workflow gives the institution, even if an approval or a field is still
    /// missing: the pages offer it, and the engine's refusal says what is missing.
    Permitted,
}

impl Accession {
    /// Procedure `id`, if `actor` may read it; one it may not read does not exist for it.
    pub async fn readable(
        &self,
        id: &ProcedureId,
        actor: &Actor,
    ) -> Result<ProcedureState, AppError> {
        let not_found = || AppError::NotFound {
            what: "procedure",
            id: id.to_string(),
        };
        let p = self.store.procedure(id).await?.ok_or_else(not_found)?;
        let def = self.definition_of(&p.workflow.hash).await?;
        if actor.may_read(&def) {
            Ok(p)
        } else {
            Err(not_found())
        }
    }

    /// What `actor` may do on `p` now: moving on (as `moves` says), approving, recording a
    /// field (the current stage's first), commenting, suspending, resuming, withdrawing, and the
    /// acts of treaty practice (extending the invitation or the stage's deadline, raising an
    /// objection, withdrawing each standing one).
    pub async fn allowed_acts(
        &self,
        p: &ProcedureState,
        actor: &Actor,
        moves: Moves,
    ) -> Result<Vec<AllowedAct>, AppError> {
        // Auditors and admins do no act; nor does a role the institution no longer holds.
        if p.status.is_closed() || actor.may_act(&self.people().await?.coordinators).is_err() {
            return Ok(Vec::new());
        }
        let def = self.definition_of(&p.workflow.hash).await?;
        let now = self.now();
        let accepted = |act: Act| async move {
            let cmd = Command {
                expected_version: p.version,
                act,
            };
            self.decide(p, &cmd, actor, now).await.is_ok()
        };
        let mut out = Vec::new();
        for t in def.transitions_from(&p.stage) {
            let offered = match moves {
                Moves::AcceptedNow => {
                    accepted(Act::Advance {
                        to: t.to.clone(),
                        comment: None,
                    })
                    .await
                }
                Moves::Permitted => {
                    p.status == Status::Active
                        && (actor.manages() || t.by.contains(&actor.institution))
                }
            };
            if offered {
                out.push(AllowedAct {
                    to: Some(t.to.clone()),
                    ..AllowedAct::named("advance")
                });
            }
        }
        if accepted(Act::Approve { comment: None }).await {
            out.push(AllowedAct::named("approve"));
        }
        // Recording depends on the value; whether the caller may record a field does not.
        if p.status == Status::Active {
            let mut stages: Vec<_> = def.stages.iter().collect();
            stages.sort_by_key(|s| s.id != p.stage);
            for stage in stages {
                if actor.manages() || stage.responsible.contains(&actor.institution) {
                    for field in &stage.fields {
                        out.push(AllowedAct {
                            field: Some(field.name.clone()),
                            ..AllowedAct::named("record")
                        });
                    }
                }
            }
        }
        let x = || "x".to_string();
        for (name, act) in [
            ("comment", Act::Comment { text: x() }),
            ("suspend", Act::Suspend { reason: x() }),
            ("resume", Act::Resume { comment: None }),
            ("withdraw", Act::Withdraw { reason: x() }),
        ] {
            if accepted(act).await {
                out.push(AllowedAct::named(name));
            }
        }
        // The acts of treaty practice, asked of the engine with a value it would take: a day
        // after the present validity or deadline, a Party that is neither the State nor already
        // objecting (a user-assigned ISO code, never a State's). Accepted, the act is the
        // caller's to do now, whatever the value it then gives.
        let day_after = |d: Option<chrono::NaiveDate>| {
            d.and_then(|d| d.succ_opt())
                .unwrap_or_else(|| now.date_naive())
        };
        let k = &p.key_dates;
        let probe_party = ["XA", "XB"]
            .into_iter()
            .filter_map(|c| StateCode::parse(c).ok())
            .find(|c| c != &p.state && !p.treaty.standing_objections().any(|o| &o.party == c));
        let mut treaty = vec![
            (
                "extend-invitation",
                Act::ExtendInvitation {
                    until: day_after(k.invitation_expires_on.or(k.invited_on)),
                    decision: x(),
                    comment: None,
                },
            ),
            (
                "extend-deadline",
                Act::ExtendDeadline {
                    until: day_after(p.due_on),
                    reason: x(),
                },
            ),
        ];
        if let Some(party) = probe_party {
            treaty.push(("raise-objection", Act::RaiseObjection { party, text: x() }));
        }
        for (name, act) in treaty {
            if accepted(act).await {
                out.push(AllowedAct::named(name));
            }
        }
        for o in p.treaty.standing_objections() {
            let act = Act::WithdrawObjection {
                party: o.party.clone(),
                comment: None,
            };
            if accepted(act).await {
                out.push(AllowedAct {
                    party: Some(o.party.clone()),
                    ..AllowedAct::named("withdraw-objection")
                });
            }
        }
        // Reservations and declarations: recorded by whoever records the deposit, while the
        // procedure is active; each one standing may be renewed (where the convention limits
        // it), modified or withdrawn, on dates the engine checks when they are given.
        if p.status == Status::Active
            && crate::engine::reservations::may_record(&def, actor, "record").is_ok()
        {
            out.push(AllowedAct::named("reserve"));
            let regime = self
                .store
                .convention(&p.convention)
                .await?
                .and_then(|c| c.reservation_regime());
            let today = self.today();
            for r in &p.treaty.reservations {
                if !r.status_on(regime.as_ref(), k, today).stands() || r.withdrawal.is_some() {
                    continue;
                }
                let mut names = vec!["modify-reservation", "withdraw-reservation"];
                if r.valid_until(regime.as_ref(), k).is_some()
                    && regime.as_ref().is_some_and(|g| g.renewable)
                {
                    names.insert(0, "renew-reservation");
                }
                for name in names {
                    out.push(AllowedAct {
                        reservation: Some(r.number),
                        ..AllowedAct::named(name)
                    });
                }
            }
        }
        Ok(out)
    }
}
