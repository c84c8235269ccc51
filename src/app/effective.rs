//! Acts stated to have taken effect earlier than they are recorded: the engine decides the act,
//! then whether the stated day fits (`engine::effective`), against the procedure's last row.

use chrono::{DateTime, Utc};

use super::{Accession, AppError};
use crate::engine::effective::{Previous, date_decision, took_effect};
use crate::engine::{Actor, Command, Decision, ProcedureState, Stated};

impl Accession {
    /// What the engine decides for `cmd` on `current`, stated to have taken effect on `stated`
    /// (`None`: when recorded, `now`); nothing is written. The day is the acting institution's.
    pub(crate) async fn decide_stated(
        &self,
        current: &ProcedureState,
        cmd: &Command,
        stated: Option<Stated>,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Decision, AppError> {
        let mut decision = self.decide(current, cmd, actor, now).await?;
        if stated.is_none() {
            return Ok(decision);
        }
        // The procedure's last row: the decision is applied only if it is still the last one.
        let previous = self
            .store
            .history_row(&current.id, current.last_sequence)
            .await?
            .map(|row| Previous {
                sequence: row.sequence,
                recorded_at: row.at,
                effective: crate::engine::Effective {
                    on: row.effective_on,
                    approximate: row.effective_approximate,
                    retrospective: row.retrospective,
                },
            });
        let zone = self.people().await?.zones.of(&actor.institution);
        let effective = took_effect(stated, previous.as_ref(), now, zone)?;
        date_decision(&mut decision, effective);
        Ok(decision)
    }
}
