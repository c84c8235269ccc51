//! Applying a decision: everything in one transaction, or nothing.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use sha2::{Digest, Sha256};

use super::entities::{approval, history, outbox, procedure, timer};
use super::error::is_unique_violation;
use super::{Answer, HeldKey, Store, StoreError, TimerRow, TimerStatus};
use crate::audit::{ChainRow, FORM_ACCOUNT, GENESIS, row_hash};
use crate::engine::{Decision, Event, ProcedureState};
use crate::ids::Version;

const RESERVATION_EXPIRY: &str = crate::engine::TimerKind::ReservationExpiry.as_str();

/// The stable Message-ID of the email an outbox row becomes: a resend after a crash carries the
/// same id, so a receiving server (or a person) can recognise it.
pub fn message_id_for(dedupe_key: &str, domain: &str) -> String {
    let digest = hex::encode(Sha256::digest(dedupe_key.as_bytes()));
    format!("<{}@{domain}>", &digest[..32])
}

/// The answer to an idempotent request, to write with the decision it made: for the request
/// holding `key`, built from the procedure's pending timers as the transaction leaves them (the
/// answer shows them, and new ones have ids only once inserted). Building it does no I/O.
pub struct KeepAnswer<'a> {
    pub key: &'a HeldKey,
    pub answer: Box<dyn FnOnce(Vec<TimerRow>) -> Answer + Send + 'a>,
}

impl Store {
    /// Write `decision` whole. A start inserts the procedure (refused if it exists); any other
    /// decision updates it only if it is still at the version the decision was made on.
    pub async fn apply(&self, decision: &Decision) -> Result<(), StoreError> {
        self.apply_with(decision, None, None).await.map(|_| ())
    }

    /// `apply`, with the emails due at `mail_due` rather than at the decision's time. A timer
    /// fired by `scheduler run-once --at` a later date happens at that date, but its emails are
    /// sent now: due at the later date, those the pass does not reach would wait for it.
    pub async fn apply_with_mail_due(
        &self,
        decision: &Decision,
        mail_due: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<(), StoreError> {
        self.apply_with(decision, None, mail_due).await.map(|_| ())
    }

    /// Write `decision` whole and, in the same transaction, the answer of the request that holds
    /// `keep.key`: either both are written or neither, so a crash after the commit still leaves
    /// the answer for a retry. Refused (and nothing written) when the claim is no longer held.
    pub async fn apply_answering(
        &self,
        decision: &Decision,
        keep: KeepAnswer<'_>,
    ) -> Result<Answer, StoreError> {
        let answer = self.apply_with(decision, Some(keep), None).await?;
        answer.ok_or_else(|| StoreError::corrupt("an answer was asked for and not made"))
    }

    /// Every kind of write, with its outcome noted for readiness (a full disk).
    async fn apply_with(
        &self,
        decision: &Decision,
        keep: Option<KeepAnswer<'_>>,
        mail_due: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<Option<Answer>, StoreError> {
        let result = self
            .apply_in_one_transaction(decision, keep, mail_due)
            .await;
        self.health.observe(&result);
        result
    }

    async fn apply_in_one_transaction(
        &self,
        decision: &Decision,
        keep: Option<KeepAnswer<'_>>,
        mail_due: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<Option<Answer>, StoreError> {
        let txn = self.begin_write().await?;
        let p = &decision.procedure;
        let now = decision
            .events
            .last()
            .map(|e| e.at)
            .unwrap_or(p.stage_entered_at);
        let mail_due = mail_due.map_or(now, |due| due.min(now));
        let is_start = decision
            .events
            .first()
            .is_some_and(|e| e.command == "start");
        if is_start {
            let row = procedure_row(p, now, true);
            if let Err(e) = procedure::Entity::insert(row)
                .exec_without_returning(&txn)
                .await
            {
                return Err(if is_unique_violation(&e) && one_open_index(&e) {
                    StoreError::AlreadyOpen {
                        state: p.state.to_string(),
                        convention: p.convention.to_string(),
                    }
                } else if is_unique_violation(&e) {
                    StoreError::AlreadyExists(p.id.to_string())
                } else {
                    e.into()
                });
            }
        } else {
            let expected = Version(p.version.0 - 1);
            let row = procedure_row(p, now, false);
            let updated = procedure::Entity::update_many()
                .set(row)
                .filter(procedure::Column::Id.eq(p.id.to_string()))
                .filter(procedure::Column::Version.eq(expected.0))
                .exec(&txn)
                .await?;
            if updated.rows_affected != 1 {
                let actual = procedure::Entity::find_by_id(p.id.to_string())
                    .one(&txn)
                    .await?
                    .map(|r| Version(r.version));
                txn.rollback().await?;
                return Err(match actual {
                    Some(actual) => StoreError::Conflict {
                        procedure: p.id.to_string(),
                        expected,
                        actual,
                    },
                    None => StoreError::NotFound {
                        what: "procedure",
                        id: p.id.to_string(),
                    },
                });
            }
        }

        let appended = append_history(&txn, p, &decision.events, &self.tips).await?;
        if let Some(responsible) = &decision.responsible {
            super::reads::write_responsibles(&txn, &p.id, responsible).await?;
        }

        if let Some(a) = &decision.approval {
            approval::Entity::insert(approval::ActiveModel {
                procedure_id: Set(p.id.to_string()),
                stage: Set(a.stage.to_string()),
                stage_entry: Set(a.stage_entry),
                institution: Set(a.institution.to_string()),
                at: Set(a.at),
                history_sequence: Set(a.history_sequence),
                comment: Set(a.comment.clone()),
                ..Default::default()
            })
            .exec_without_returning(&txn)
            .await?;
        }

        if let Some(key) = &decision.timers.fired {
            let fired = timer::Entity::update_many()
                .col_expr(
                    timer::Column::Status,
                    Expr::value(TimerStatus::Fired.as_str()),
                )
                .col_expr(timer::Column::FiredAt, Expr::value(now))
                .filter(timer::Column::DedupeKey.eq(key.as_str()))
                .filter(super::status_is(
                    timer::Column::Status,
                    TimerStatus::Pending.as_str(),
                ))
                .exec(&txn)
                .await?;
            if fired.rows_affected != 1 {
                // Fired or cancelled by someone else since it was claimed: write nothing.
                txn.rollback().await?;
                return Err(StoreError::TimerGone(key.clone()));
            }
        }
        if decision.timers.cancel_pending {
            timer::Entity::update_many()
                .col_expr(
                    timer::Column::Status,
                    Expr::value(TimerStatus::Cancelled.as_str()),
                )
                .filter(timer::Column::ProcedureId.eq(p.id.to_string()))
                .filter(super::status_is(
                    timer::Column::Status,
                    TimerStatus::Pending.as_str(),
                ))
                // Reservation reminders belong to no stage entry; they are cancelled on their
                // own (below).
                .filter(timer::Column::Kind.ne(RESERVATION_EXPIRY))
                .exec(&txn)
                .await?;
        }
        if decision.timers.cancel_reservation_timers {
            super::reservations::cancel_reminders(&txn, &p.id).await?;
        }
        if !decision.timers.set.is_empty() {
            let rows = decision.timers.set.iter().map(|t| timer::ActiveModel {
                procedure_id: Set(p.id.to_string()),
                stage: Set(t.stage.to_string()),
                stage_entry: Set(t.stage_entry),
                kind: Set(t.kind.as_str().to_string()),
                rule: Set(t.rule.clone()),
                occurrence: Set(t.occurrence),
                fire_at: Set(t.fire_at),
                status: Set(TimerStatus::Pending.as_str().to_string()),
                recipients: Set(
                    serde_json::to_string(&t.recipients).unwrap_or_else(|_| "[]".into())
                ),
                // The engine's key names the event that planned the timer: re-planned timers
                // never collide with the cancelled ones.
                dedupe_key: Set(t.dedupe_key.clone()),
                claimed_by: Set(None),
                lease_until: Set(None),
                created_at: Set(now),
                fired_at: Set(None),
                ..Default::default()
            });
            timer::Entity::insert_many(rows)
                .exec_without_returning(&txn)
                .await?;
        }

        if !decision.notifications.is_empty() {
            // What the email says, as the engine decided it: the dispatcher renders it later,
            // perhaps after the procedure has moved on.
            let rows = decision.notifications.iter().map(|n| {
                super::outbox::new_row(n, Some(p.id.as_str()), &self.mail_domain, now, mail_due)
            });
            outbox::Entity::insert_many(rows)
                .exec_without_returning(&txn)
                .await?;
        }

        let answer = match keep {
            Some(keep) => {
                let timers = super::procedures::timers_of(&txn, &p.id, false).await?;
                let answer = (keep.answer)(timers);
                super::idempotency::keep_answer(&txn, keep.key, &answer).await?;
                Some(answer)
            }
            None => None,
        };

        // Last before the commit: the log's head stays locked until then.
        let rows: Vec<_> = appended
            .iter()
            .map(|(sequence, hash)| super::log::NewRow {
                procedure_id: p.id.as_str(),
                sequence: *sequence,
                hash,
            })
            .collect();
        super::log::append(&txn, &rows).await?;

        txn.commit().await?;
        if let Some((sequence, hash)) = appended.last().cloned() {
            self.tips.put(p.id.as_str(), sequence, hash);
        }
        Ok(answer)
    }
}

/// The outbox's JSON of `facts`: an object whose keys are in alphabetical order, as every
/// version has written it.
pub(super) fn facts_json(facts: &impl serde::Serialize) -> String {
    // Through `Value`, whose objects keep their keys sorted, rather than in field order.
    serde_json::to_value(facts)
        .expect("facts are plain data")
        .to_string()
}

/// Whether `e` is the one-open-procedure index's refusal (migration m20261204_000401_states):
/// PostgreSQL names the index, SQLite its columns.
fn one_open_index(e: &sea_orm::DbErr) -> bool {
    let text = e.to_string();
    text.contains("procedures_one_open_per_state_and_convention")
        || text.contains("procedures.state_code")
}

fn procedure_row(
    p: &ProcedureState,
    now: chrono::DateTime<chrono::Utc>,
    new: bool,
) -> procedure::ActiveModel {
    let fields = serde_json::to_string(&p.fields).unwrap_or_else(|_| "{}".into());
    let mut row = procedure::ActiveModel {
        id: Set(p.id.to_string()),
        state_code: Set(p.state.to_string()),
        convention_id: Set(p.convention.to_string()),
        workflow_id: Set(p.workflow.id.to_string()),
        workflow_version: Set(p.workflow.version as i32),
        workflow_hash: Set(p.workflow.hash.clone()),
        stage: Set(p.stage.to_string()),
        stage_entered_at: Set(p.stage_entered_at),
        stage_entry: Set(p.stage_entry),
        status: Set(p.status.as_str().to_string()),
        version: Set(p.version.0),
        fields: Set(fields),
        due_on: Set(p.due_on),
        requested_on: Set(p.key_dates.requested_on),
        invited_on: Set(p.key_dates.invited_on),
        invitation_expires_on: Set(p.key_dates.invitation_expires_on),
        deposited_on: Set(p.key_dates.deposited_on),
        entry_into_force_computed: Set(p.key_dates.entry_into_force_computed),
        entry_into_force_recorded: Set(p.key_dates.entry_into_force_recorded),
        treaty: Set(serde_json::to_string(&p.treaty).unwrap_or_else(|_| "{}".into())),
        created_at: Set(now),
        updated_at: Set(now),
    };
    if !new {
        // Identity and creation never change after the start.
        row.id = sea_orm::ActiveValue::NotSet;
        row.created_at = sea_orm::ActiveValue::NotSet;
        row.state_code = sea_orm::ActiveValue::NotSet;
        row.convention_id = sea_orm::ActiveValue::NotSet;
    }
    row
}

/// Append events with their chain hashes, continuing from the procedure's last row; returns the
/// new rows' sequences and hashes, in order.
///
/// The row before the first event is taken from `tips` when this process wrote it, and read
/// otherwise. The version check that came before makes either safe: the procedure is at the
/// version the decision was made on, so its last row is the one before the first event, and a
/// row's hash never changes.
async fn append_history(
    txn: &DatabaseTransaction,
    p: &ProcedureState,
    events: &[Event],
    tips: &super::cached::ChainTips,
) -> Result<Vec<(i64, String)>, StoreError> {
    let Some(first) = events.first() else {
        return Ok(Vec::new());
    };
    let mut appended = Vec::with_capacity(events.len());
    let before = first.sequence - 1;
    let last = match tips.get(p.id.as_str(), before) {
        Some(hash) => Some((hash, before)),
        None => read_last(txn, p).await?,
    };
    let (mut prev_hash, mut prev_sequence) = last.unwrap_or_else(|| (GENESIS.to_string(), 0));
    for event in events {
        if event.sequence != prev_sequence + 1 {
            return Err(StoreError::corrupt(format!(
                "history of `{}` would jump from {prev_sequence} to {}",
                p.id, event.sequence
            )));
        }
        let mut row = ChainRow {
            procedure_id: p.id.to_string(),
            sequence: event.sequence,
            at: event.at,
            effective_on: event.effective.on,
            effective_approximate: event.effective.approximate,
            retrospective: event.effective.retrospective,
            actor_institution: event.actor.institution.to_string(),
            actor_name: event.actor.name.clone(),
            actor_role: event.actor.role.as_str().to_string(),
            actor_account: event.actor.account,
            command: event.command.clone(),
            from_stage: event.from_stage.as_ref().map(|s| s.to_string()),
            to_stage: event.to_stage.as_ref().map(|s| s.to_string()),
            comment: event.comment.clone(),
            payload: event.payload.to_string(),
            prev_hash: prev_hash.clone(),
            hash: String::new(),
            // Every row is written in the form that covers both times and the account.
            hash_form: FORM_ACCOUNT,
        };
        row.hash = row_hash(&row, &prev_hash)
            .ok_or_else(|| StoreError::corrupt("history rows are written in a known form"))?;
        history::Entity::insert(history::ActiveModel {
            procedure_id: Set(row.procedure_id.clone()),
            sequence: Set(row.sequence),
            at: Set(row.at),
            effective_on: Set(row.effective_on),
            effective_approximate: Set(row.effective_approximate),
            retrospective: Set(row.retrospective),
            actor_institution: Set(row.actor_institution.clone()),
            actor_name: Set(row.actor_name.clone()),
            actor_role: Set(row.actor_role.clone()),
            command: Set(row.command.clone()),
            from_stage: Set(row.from_stage.clone()),
            to_stage: Set(row.to_stage.clone()),
            comment: Set(row.comment.clone()),
            payload: Set(row.payload.clone()),
            prev_hash: Set(row.prev_hash.clone()),
            hash: Set(row.hash.clone()),
            hash_form: Set(row.hash_form),
            actor_account: Set(row.actor_account),
            ..Default::default()
        })
        .exec_without_returning(txn)
        .await?;
        appended.push((row.sequence, row.hash.clone()));
        prev_hash = row.hash;
        prev_sequence = row.sequence;
    }
    Ok(appended)
}

/// The hash and sequence of the procedure's last history row, if it has one.
async fn read_last(
    txn: &DatabaseTransaction,
    p: &ProcedureState,
) -> Result<Option<(String, i64)>, StoreError> {
    Ok(history::Entity::find()
        .select_only()
        .columns([history::Column::Hash, history::Column::Sequence])
        .filter(history::Column::ProcedureId.eq(p.id.to_string()))
        .order_by_desc(history::Column::Sequence)
        .limit(1)
        .into_tuple()
        .one(txn)
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::ProcedureFacts;
    use crate::ids::{ProcedureId, StageId};

    /// Payloads as the outbox held them before the facts were typed, copied from a database
    /// the previous version wrote (`demo`, then `scheduler run-once --at 2027-06-01`).
    const WRITTEN_BEFORE: [&str; 3] = [
        r#"{"deposited_on":null,"due_on":"2023-12-01","entry_into_force":null,"history_sequence":5,"procedure":"kg-cets-210","rule":"after_due 7 days","stage":"legal-review","stage_entry":2}"#,
        r#"{"deposited_on":"2024-04-22","due_on":null,"entry_into_force":"2024-08-01","history_sequence":16,"procedure":"kg-ets-112","rule":null,"stage":"deposit","stage_entry":15}"#,
        r#"{"deposited_on":null,"due_on":"2024-02-18","entry_into_force":null,"history_sequence":4,"procedure":"kg-ets-112","rule":null,"stage":"interagency-consultation","stage_entry":4}"#,
    ];

    fn date(text: &str) -> Option<chrono::NaiveDate> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn outbox_payloads_written_before_the_facts_were_typed_still_read() {
        let escalation: ProcedureFacts = serde_json::from_str(WRITTEN_BEFORE[0]).unwrap();
        assert_eq!(
            escalation,
            ProcedureFacts {
                procedure: ProcedureId::parse("kg-cets-210").unwrap(),
                stage: StageId::parse("legal-review").unwrap(),
                stage_entry: Some(2),
                history_sequence: 5,
                due_on: date("2023-12-01"),
                rule: Some("after_due 7 days".into()),
                deposited_on: None,
                entry_into_force: None,
            }
        );
        let news: ProcedureFacts = serde_json::from_str(WRITTEN_BEFORE[1]).unwrap();
        assert_eq!(news.deposited_on, date("2024-04-22"));
        assert_eq!(news.entry_into_force, date("2024-08-01"));
        assert_eq!(
            (news.stage_entry, news.due_on, news.rule),
            (Some(15), None, None)
        );
    }

    #[test]
    fn facts_are_written_byte_for_byte_as_before() {
        for written in WRITTEN_BEFORE {
            let facts: ProcedureFacts = serde_json::from_str(written).unwrap();
            assert_eq!(facts_json(&facts), written);
        }
    }

    #[test]
    fn payloads_of_the_first_versions_read_with_the_missing_facts_absent() {
        // Before stage entries (and, earlier, dates and rules) were kept with the email.
        let first: ProcedureFacts = serde_json::from_str(
            r#"{"history_sequence":3,"procedure":"kg-ets-112","stage":"legal-review"}"#,
        )
        .unwrap();
        assert_eq!(first.stage_entry, None);
        assert_eq!(
            (first.due_on, first.rule, first.entry_into_force),
            (None, None, None)
        );
        // What the email cannot do without is refused, naming it.
        let err = serde_json::from_str::<ProcedureFacts>(r#"{"procedure":"kg-ets-112"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing field `stage`"), "{err}");
        let err = serde_json::from_str::<ProcedureFacts>(
            r#"{"history_sequence":3,"procedure":"KG ETS","stage":"legal-review"}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("KG ETS"), "{err}");
    }
}
