//! The rules: whether an act is allowed, and what it changes.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use serde_json::json;

use super::dates;
use super::decision::*;
use super::notification::{Notification, NotificationKind, ProcedureFacts};
use super::reservations::{self, Modification, Renewal, Reservation, ReservationWithdrawal};
use super::timers::StageTimers;
use super::{
    Act, Actor, Command, DeadlineExtension, InvitationExtension, KeyDates, Objection,
    ProcedureState, Refusal, StartProcedure, Status, WorkflowRef,
};
use crate::calendar::{EntryIntoForceRule, ValidityRule, WorkingCalendar, Zones};
use crate::ids::{FieldName, InstitutionId, StageId, Version};
use crate::text::{Lines, checked};
use crate::workflow::{DueRule, FieldKind, KeyDate, Stage, TreatyDateRule, WorkflowDefinition};

/// The treaty rules of the procedure's convention, as data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConventionRules {
    /// The day the convention was opened for signature: no date of a procedure on it is earlier.
    pub opened_on: Option<NaiveDate>,
    pub general_entry_into_force: Option<NaiveDate>,
    pub entry_into_force: EntryIntoForceRule,
    pub invitation_validity: Option<ValidityRule>,
    /// The validity the convention gives reservations; none: no time limit.
    pub reservations: Option<super::ReservationRegime>,
}

/// Everything besides the procedure that a decision depends on.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub definition: &'a WorkflowDefinition,
    pub convention: &'a ConventionRules,
    pub calendar: &'a WorkingCalendar,
    /// Each institution's time zone: a stage's days are its lead responsible institution's.
    pub zones: &'a Zones,
    /// The coordinating institutions (the Ministry of Foreign Affairs): told when a deadline
    /// passes, whoever was responsible.
    pub coordinators: &'a [InstitutionId],
}

impl Context<'_> {
    /// The time zone of `stage`: its lead responsible institution's.
    pub fn stage_zone(&self, stage: &Stage) -> Tz {
        self.zones.lead(&stage.responsible)
    }

    pub(super) fn stage_timers<'s>(
        &'s self,
        procedure: &'s crate::ids::ProcedureId,
        stage: &'s Stage,
        stage_entry: i64,
        planned_by: i64,
        due_on: Option<NaiveDate>,
        now: DateTime<Utc>,
    ) -> StageTimers<'s> {
        StageTimers {
            procedure,
            stage,
            stage_entry,
            planned_by,
            due_on,
            now,
            tz: self.stage_zone(stage),
            calendar: self.calendar,
            coordinators: self.coordinators,
        }
    }
}

const MAX_TEXT: usize = 4000;

/// Open a procedure on the definition's initial stage.
pub fn start(
    ctx: Context<'_>,
    cmd: &StartProcedure,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Decision, Refusal> {
    actor.may_act(ctx.coordinators)?;
    if !actor.manages() {
        return Err(Refusal::NotAllowed {
            institution: actor.institution.clone(),
            act: "start a procedure (coordinators do)".into(),
            allowed: Vec::new(),
        });
    }
    let comment = clean_comment(cmd.comment.as_deref())?;
    let def = ctx.definition;
    let initial = def.stage(&def.initial).ok_or_else(|| {
        Refusal::Invalid(format!("the initial stage `{}` is missing", def.initial))
    })?;
    let mut procedure = ProcedureState {
        id: cmd.id.clone(),
        state: cmd.state.clone(),
        convention: cmd.convention.clone(),
        workflow: WorkflowRef {
            id: def.id.clone(),
            version: def.version,
            hash: def.content_hash.clone(),
        },
        stage: initial.id.clone(),
        stage_entered_at: now,
        stage_entry: 1,
        status: Status::Active,
        version: Version::INITIAL,
        fields: BTreeMap::new(),
        approvals: BTreeMap::new(),
        key_dates: KeyDates::default(),
        treaty: Default::default(),
        due_on: None,
        last_sequence: 0,
    };
    let mut decision = Decision {
        procedure: procedure.clone(),
        responsible: None,
        events: Vec::new(),
        approval: None,
        timers: TimerChanges::default(),
        notifications: Vec::new(),
    };
    let event = Event {
        sequence: 1,
        at: now,
        actor: actor.clone(),
        command: "start".into(),
        from_stage: None,
        to_stage: Some(initial.id.clone()),
        comment,
        payload: json!({
            "state": cmd.state,
            "convention": cmd.convention,
            "workflow": { "id": def.id, "version": def.version, "hash": def.content_hash },
        }),
        effective: Default::default(),
    };
    procedure.last_sequence = 1;
    decision.procedure = procedure;
    enter_stage(ctx, &mut decision, initial, 1, now);
    decision.events.push(event);
    Ok(decision)
}

/// Decide an act on an existing procedure.
pub fn decide(
    ctx: Context<'_>,
    current: &ProcedureState,
    cmd: &Command,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Decision, Refusal> {
    actor.may_act(ctx.coordinators)?;
    if cmd.expected_version != current.version {
        return Err(Refusal::StaleVersion {
            expected: cmd.expected_version,
            actual: current.version,
        });
    }
    if current.status.is_closed() {
        return Err(Refusal::Closed {
            status: current.status,
        });
    }
    if current.status == Status::Suspended
        // A suspended procedure may still be commented on, resumed, or given up for good.
        && !matches!(
            cmd.act,
            Act::Resume { .. } | Act::Comment { .. } | Act::Withdraw { .. }
        )
    {
        return Err(Refusal::Suspended);
    }
    // Bad text is refused whatever else the act would meet, so the answer names it at once.
    check_texts(&cmd.act)?;
    let def = ctx.definition;
    let stage = def.stage(&current.stage).ok_or_else(|| {
        Refusal::Invalid(format!(
            "the procedure is at stage `{}`, which its workflow does not define",
            current.stage
        ))
    })?;

    let sequence = current.last_sequence + 1;
    let mut next = current.clone();
    next.version = current.version.next();
    next.last_sequence = sequence;
    let mut decision = Decision {
        procedure: next,
        responsible: None,
        events: Vec::new(),
        approval: None,
        timers: TimerChanges::default(),
        notifications: Vec::new(),
    };
    let mut event = Event {
        sequence,
        at: now,
        actor: actor.clone(),
        command: cmd.act.name().into(),
        from_stage: Some(current.stage.clone()),
        to_stage: Some(current.stage.clone()),
        comment: None,
        payload: json!({}),
        effective: Default::default(),
    };

    match &cmd.act {
        Act::Advance { to, comment } => {
            let Some(transition) = def.transition(&current.stage, to) else {
                return Err(Refusal::NoSuchTransition {
                    from: current.stage.clone(),
                    to: to.clone(),
                    allowed: def
                        .transitions_from(&current.stage)
                        .map(|t| t.to.clone())
                        .collect(),
                });
            };
            if !actor.manages() && !transition.by.contains(&actor.institution) {
                return Err(Refusal::NotAllowed {
                    institution: actor.institution.clone(),
                    act: format!("move the procedure from `{}` to `{to}`", current.stage),
                    allowed: transition.by.clone(),
                });
            }
            if transition.approvals
                && let Some(rule) = &stage.approvals
            {
                let given = current.approvals.keys().cloned().collect();
                let missing = rule.missing(&given);
                if !missing.is_empty() {
                    return Err(Refusal::ApprovalsMissing {
                        stage: stage.id.clone(),
                        needed: rule.at_least,
                        have: rule.of.iter().filter(|i| given.contains(*i)).count(),
                        missing,
                    });
                }
            }
            let missing: Vec<FieldName> = transition
                .fields
                .iter()
                .filter(|f| !current.fields.contains_key(*f))
                .cloned()
                .collect();
            if !missing.is_empty() {
                return Err(Refusal::FieldsMissing {
                    stage: stage.id.clone(),
                    fields: missing,
                });
            }
            event.comment = clean_comment(comment.as_deref())?;
            event.to_stage = Some(to.clone());
            let target = def
                .stage(to)
                .ok_or_else(|| Refusal::Invalid(format!("stage `{to}` is not defined")))?;
            event.payload = json!({ "approvals": current.approvals.keys().collect::<Vec<_>>() });
            enter_stage(ctx, &mut decision, target, sequence, now);
        }
        Act::Approve { comment } => {
            let Some(rule) = &stage.approvals else {
                return Err(Refusal::NoApprovalsHere {
                    stage: stage.id.clone(),
                });
            };
            if !rule.of.contains(&actor.institution) {
                return Err(Refusal::NotAnApprover {
                    institution: actor.institution.clone(),
                    stage: stage.id.clone(),
                    approvers: rule.of.clone(),
                });
            }
            if current.approvals.contains_key(&actor.institution) {
                return Err(Refusal::AlreadyApproved {
                    institution: actor.institution.clone(),
                    stage: stage.id.clone(),
                });
            }
            let comment = clean_comment(comment.as_deref())?;
            decision
                .procedure
                .approvals
                .insert(actor.institution.clone(), now);
            let given = decision.procedure.approvals.keys().cloned().collect();
            let missing = rule.missing(&given);
            event.payload = json!({
                "approved_by": actor.institution,
                "approvals": decision.procedure.approvals.keys().collect::<Vec<_>>(),
                "complete": missing.is_empty(),
            });
            event.comment = comment.clone();
            decision.approval = Some(ApprovalRecord {
                stage: stage.id.clone(),
                stage_entry: current.stage_entry,
                institution: actor.institution.clone(),
                at: now,
                history_sequence: sequence,
                comment,
            });
        }
        Act::Decline { reason } => {
            let Some(rule) = &stage.approvals else {
                return Err(Refusal::NoApprovalsHere {
                    stage: stage.id.clone(),
                });
            };
            if !rule.of.contains(&actor.institution) {
                return Err(Refusal::NotAnApprover {
                    institution: actor.institution.clone(),
                    stage: stage.id.clone(),
                    approvers: rule.of.clone(),
                });
            }
            // An approval given stands until the stage is entered again: declining after it
            // would leave the approval counted and the decline recorded.
            if current.approvals.contains_key(&actor.institution) {
                return Err(Refusal::AlreadyApproved {
                    institution: actor.institution.clone(),
                    stage: stage.id.clone(),
                });
            }
            event.comment = Some(required_text(reason, "reason", "the reason for declining")?);
            event.payload = json!({
                "declined_by": actor.institution,
                "approvals": current.approvals.keys().collect::<Vec<_>>(),
                "on_decline": rule.on_decline,
            });
            // The workflow sends the procedure back on a decline: as a move, the stage entered
            // again with its approvals cleared and its period and timers started afresh.
            if let Some(back) = &rule.on_decline {
                let target = def
                    .stage(back)
                    .ok_or_else(|| Refusal::Invalid(format!("stage `{back}` is not defined")))?;
                event.to_stage = Some(back.clone());
                enter_stage(ctx, &mut decision, target, sequence, now);
            }
        }
        Act::Record {
            field,
            value,
            comment,
            source,
        } => {
            let Some((owner, spec)) = def.field(field) else {
                return Err(Refusal::UnknownField {
                    field: field.clone(),
                    known: def
                        .stages
                        .iter()
                        .flat_map(|s| s.fields.iter().map(|f| f.name.clone()))
                        .collect(),
                });
            };
            if !actor.manages() && !owner.responsible.contains(&actor.institution) {
                return Err(Refusal::NotAllowed {
                    institution: actor.institution.clone(),
                    act: format!("record `{field}` (it belongs to stage `{}`)", owner.id),
                    allowed: owner.responsible.clone(),
                });
            }
            // "Today" is the recording institution's day: a date may not be after it.
            let today = now
                .with_timezone(&ctx.zones.of(&actor.institution))
                .date_naive();
            let value = validate_field(field, spec.kind, value, today)?;
            event.comment = clean_comment(comment.as_deref())?;
            let source = match source {
                Some(text) if spec.key == Some(KeyDate::EntryIntoForce) => {
                    Some(required_text(text, "source", "the depositary's source")?)
                }
                _ => None,
            };
            if spec.kind == FieldKind::Date {
                let date: NaiveDate = value.parse().map_err(|_| Refusal::FieldInvalid {
                    field: field.clone(),
                    reason: "not a date".into(),
                })?;
                dates::check_recorded_date(
                    ctx,
                    current,
                    owner,
                    field,
                    spec.key,
                    date,
                    source.as_deref(),
                )?;
            }
            if spec.key == Some(KeyDate::EntryIntoForce) {
                decision.procedure.treaty.entry_into_force_source = source.clone();
            }
            let previous = current.fields.get(field).cloned();
            decision
                .procedure
                .fields
                .insert(field.clone(), value.clone());
            let mut payload = json!({ "field": field, "value": value, "previous": previous });
            if let Some(source) = &source {
                payload["source"] = json!(source);
            }
            if let Some(key) = spec.key {
                let date: NaiveDate = value.parse().map_err(|_| Refusal::FieldInvalid {
                    field: field.clone(),
                    reason: "not a date".into(),
                })?;
                apply_key_date(ctx, current, &mut decision.procedure.key_dates, key, date);
                payload["key_dates"] =
                    serde_json::to_value(&decision.procedure.key_dates).unwrap_or_default();
                let entry_into_force = match key {
                    KeyDate::Deposit => decision.procedure.key_dates.entry_into_force_computed,
                    _ => None,
                };
                if let Some(eif) = entry_into_force {
                    payload["entry_into_force_computed"] = json!(eif);
                }
                // A treaty due date may depend on the key date: recompute it and its timers.
                if matches!(stage.due, Some(DueRule::Treaty(_))) {
                    let due = due_date(
                        ctx,
                        stage,
                        current.stage_entered_at,
                        &decision.procedure.key_dates,
                    );
                    if due != current.due_on && current.status == Status::Active {
                        decision.procedure.due_on = due;
                        payload["due_on"] = json!(due);
                        decision.timers = TimerChanges {
                            cancel_pending: true,
                            cancel_reservation_timers: false,
                            fired: None,
                            set: ctx
                                .stage_timers(
                                    &current.id,
                                    stage,
                                    current.stage_entry,
                                    sequence,
                                    due,
                                    now,
                                )
                                .plan(),
                        };
                    }
                }
                // The reservations' validity runs from entry into force: plan their reminders
                // again from the new dates.
                if matches!(key, KeyDate::Deposit | KeyDate::EntryIntoForce)
                    && !current.treaty.reservations.is_empty()
                {
                    replan_reservations(ctx, &mut decision, sequence, now);
                }
                // Told once the procedure is final, so the email states the new due date too.
                if entry_into_force.is_some() {
                    for recipient in &stage.responsible {
                        decision.notifications.push(notification(
                            &decision.procedure,
                            NotificationKind::EntryIntoForce,
                            recipient,
                            &stage.id,
                            sequence,
                        ));
                    }
                }
            }
            event.payload = payload;
        }
        Act::Comment { text } => {
            if !actor.manages() && !def.institutions().contains(&actor.institution) {
                return Err(Refusal::NotAllowed {
                    institution: actor.institution.clone(),
                    act: "comment on a procedure it takes no part in".into(),
                    allowed: def.institutions().into_iter().cloned().collect(),
                });
            }
            event.comment = Some(required_text(text, "text", "a comment")?);
        }
        Act::Suspend { reason } => {
            control_allowed(actor, &def.control.suspend, "suspend the procedure")?;
            event.comment = Some(required_text(
                reason,
                "reason",
                "the reason for suspending",
            )?);
            decision.procedure.status = Status::Suspended;
            decision.timers.cancel_pending = true;
        }
        Act::Resume { comment } => {
            if current.status != Status::Suspended {
                return Err(Refusal::NotSuspended);
            }
            control_allowed(actor, &def.control.suspend, "resume the procedure")?;
            event.comment = clean_comment(comment.as_deref())?;
            decision.procedure.status = Status::Active;
            // The stage's period runs again from the resumption; approvals already given stand.
            let mut due = due_date(ctx, stage, now, &current.key_dates);
            // A deadline extended in this stage entry stands, if it is later.
            if let Some(extension) = &current.treaty.deadline_extension
                && extension.stage_entry == current.stage_entry
                && due.is_some_and(|d| d < extension.until)
            {
                due = Some(extension.until);
            }
            decision.procedure.due_on = due;
            decision.timers = TimerChanges {
                cancel_pending: true,
                cancel_reservation_timers: false,
                fired: None,
                set: ctx
                    .stage_timers(&current.id, stage, current.stage_entry, sequence, due, now)
                    .plan(),
            };
            event.payload = json!({ "due_on": due });
        }
        Act::Withdraw { reason } => {
            control_allowed(actor, &def.control.withdraw, "withdraw the procedure")?;
            event.comment = Some(required_text(
                reason,
                "reason",
                "the reason for withdrawing",
            )?);
            decision.procedure.status = Status::Withdrawn;
            decision.procedure.due_on = None;
            decision.timers.cancel_pending = true;
        }
        Act::ExtendInvitation {
            until,
            decision: reference,
            comment,
        } => {
            let (owner, field) = key_field(def, KeyDate::Invitation).ok_or_else(|| {
                Refusal::NotApplicable("this workflow has no invitation to accede".into())
            })?;
            if !actor.manages() && !owner.responsible.contains(&actor.institution) {
                return Err(Refusal::NotAllowed {
                    institution: actor.institution.clone(),
                    act: "record the extension of the invitation".into(),
                    allowed: owner.responsible.clone(),
                });
            }
            let Some(invited) = current.key_dates.invited_on else {
                return Err(Refusal::NotApplicable(format!(
                    "no invitation is recorded; record `{field}` first"
                )));
            };
            let reference = required_text(reference, "decision", "the reference of the decision")?;
            event.comment = clean_comment(comment.as_deref())?;
            let previous = current.key_dates.invitation_expires_on;
            if previous.is_some_and(|p| *until <= p) || *until <= invited {
                return Err(Refusal::DateRefused {
                    what: "until".into(),
                    rule: dates::rule::EXTENSION,
                    detail: format!(
                        "the invitation of {invited} is already valid until {}; an extension \
                         runs later",
                        previous.map_or_else(|| invited.to_string(), |p| p.to_string())
                    ),
                });
            }
            let p = &mut decision.procedure;
            p.key_dates.invitation_expires_on = Some(*until);
            p.treaty.invitation_extensions.push(InvitationExtension {
                until: *until,
                decision: reference.clone(),
                previous_until: previous,
                sequence,
            });
            event.payload = json!({
                "until": until,
                "decision": reference,
                "previous_until": previous,
            });
            if matches!(
                stage.due,
                Some(DueRule::Treaty(TreatyDateRule::InvitationValidity))
            ) && current.status == Status::Active
            {
                replan(
                    ctx,
                    current,
                    stage,
                    &mut decision,
                    sequence,
                    now,
                    Some(*until),
                );
                event.payload["due_on"] = json!(until);
            }
        }
        Act::ExtendDeadline { until, reason } => {
            control_allowed_or_responsible(actor, stage, "extend the deadline of the stage")?;
            let reason = required_text(reason, "reason", "the reason for the extension")?;
            if !matches!(stage.due, Some(DueRule::After(_))) {
                return Err(Refusal::NotApplicable(format!(
                    "stage `{}` has no period of its own to extend{}",
                    stage.id,
                    if matches!(stage.due, Some(DueRule::Treaty(_))) {
                        " (it is due on a treaty date; extend the invitation instead)"
                    } else {
                        ""
                    }
                )));
            }
            let Some(due) = current.due_on else {
                return Err(Refusal::NotApplicable(format!(
                    "stage `{}` has no deadline to extend",
                    stage.id
                )));
            };
            if *until <= due {
                return Err(Refusal::DateRefused {
                    what: "until".into(),
                    rule: dates::rule::EXTENSION,
                    detail: format!(
                        "stage `{}` is already due on {due}; an extension runs later",
                        stage.id
                    ),
                });
            }
            event.comment = Some(reason.clone());
            decision.procedure.treaty.deadline_extension = Some(DeadlineExtension {
                stage_entry: current.stage_entry,
                until: *until,
                reason,
            });
            event.payload = json!({ "previous_due_on": due, "due_on": until });
            replan(
                ctx,
                current,
                stage,
                &mut decision,
                sequence,
                now,
                Some(*until),
            );
        }
        Act::RaiseObjection { party, text } => {
            control_allowed_or_responsible(actor, stage, "record an objection of a Party")?;
            consultation_open(def, current)?;
            if party == &current.state {
                // Well formed: the procedure's own State makes it inapplicable (409, not 422).
                return Err(Refusal::NotApplicable(format!(
                    "{party} is the acceding State; it does not object to its own accession"
                )));
            }
            if current
                .treaty
                .standing_objections()
                .any(|o| &o.party == party)
            {
                return Err(Refusal::NotApplicable(format!(
                    "{party} has an objection standing already"
                )));
            }
            let text = required_text(text, "text", "the objection")?;
            let today = now
                .with_timezone(&ctx.zones.of(&actor.institution))
                .date_naive();
            decision.procedure.treaty.objections.push(Objection {
                party: party.clone(),
                text: text.clone(),
                raised_on: today,
                withdrawn_on: None,
            });
            event.comment = Some(text);
            event.payload = json!({ "party": party, "raised_on": today });
        }
        Act::WithdrawObjection { party, comment } => {
            control_allowed_or_responsible(actor, stage, "record the withdrawal of an objection")?;
            event.comment = clean_comment(comment.as_deref())?;
            let today = now
                .with_timezone(&ctx.zones.of(&actor.institution))
                .date_naive();
            let Some(objection) = decision
                .procedure
                .treaty
                .objections
                .iter_mut()
                .find(|o| &o.party == party && o.withdrawn_on.is_none())
            else {
                return Err(Refusal::NotApplicable(format!(
                    "{party} has no objection standing"
                )));
            };
            objection.withdrawn_on = Some(today);
            event.payload = json!({
                "party": party,
                "raised_on": objection.raised_on,
                "withdrawn_on": today,
            });
        }
        Act::Reserve {
            kind,
            article,
            text,
            made_at,
            made_on,
            comment,
        } => {
            may_record_depositary_facts(ctx, actor, "record a reservation or declaration")?;
            let article = required_text(article, "article", "the article")?;
            if article.contains('\n') || article.chars().count() > 200 {
                return Err(Refusal::Invalid(
                    "the article is one line of at most 200 characters".into(),
                ));
            }
            reservations::check_texts("text", text)?;
            event.comment = clean_comment(comment.as_deref())?;
            let today = actor_today(ctx, actor, now);
            let signature = current
                .fields
                .get(&FieldName::parse("signature_date").expect("a field name"))
                .and_then(|v| v.parse().ok());
            reservations::check_made(ctx, current, *kind, *made_at, *made_on, signature, today)?;
            let number = current
                .treaty
                .reservations
                .iter()
                .map(|r| r.number)
                .max()
                .unwrap_or(0)
                + 1;
            let text = trimmed(text);
            let made = Reservation {
                number,
                kind: *kind,
                article: article.clone(),
                text: text.clone(),
                made_at: *made_at,
                made_on: *made_on,
                sequence,
                renewals: Vec::new(),
                modifications: Vec::new(),
                withdrawal: None,
            };
            let regime = ctx.convention.reservations.as_ref();
            event.payload = json!({
                "number": number,
                "kind": kind,
                "article": article,
                "text": text,
                "made_at": made_at,
                "made_on": made_on,
                "valid_until": made.valid_until(regime, &current.key_dates),
            });
            decision.procedure.treaty.reservations.push(made);
            replan_reservations(ctx, &mut decision, sequence, now);
        }
        Act::RenewReservation {
            number,
            on,
            comment,
        } => {
            may_record_depositary_facts(ctx, actor, "record the renewal of a reservation")?;
            event.comment = clean_comment(comment.as_deref())?;
            let today = actor_today(ctx, actor, now);
            let regime = ctx.convention.reservations.as_ref();
            let r = reservation_mut(&mut decision.procedure, *number)?;
            let previous = r.valid_until(regime, &current.key_dates);
            let until = reservations::check_renewal(regime, &current.key_dates, r, *on, today)?;
            r.renewals.push(Renewal {
                on: *on,
                previous_until: previous,
                until,
                sequence,
            });
            event.payload = json!({
                "number": number,
                "kind": r.kind,
                "article": r.article,
                "on": on,
                "previous_until": previous,
                "valid_until": until,
            });
            replan_reservations(ctx, &mut decision, sequence, now);
        }
        Act::ModifyReservation {
            number,
            on,
            text,
            comment,
        } => {
            may_record_depositary_facts(ctx, actor, "record the modification of a reservation")?;
            reservations::check_texts("text", text)?;
            event.comment = clean_comment(comment.as_deref())?;
            let today = actor_today(ctx, actor, now);
            let regime = ctx.convention.reservations.as_ref();
            let r = reservation_mut(&mut decision.procedure, *number)?;
            reservations::check_modification(regime, &current.key_dates, r, *on, today)?;
            let text = trimmed(text);
            event.payload = json!({
                "number": number,
                "kind": r.kind,
                "article": r.article,
                "on": on,
                "previous_text": r.current_text(),
                "text": text,
            });
            r.modifications.push(Modification {
                on: *on,
                text,
                sequence,
            });
        }
        Act::WithdrawReservation {
            number,
            received_on,
            effective_on,
            comment,
        } => {
            may_record_depositary_facts(ctx, actor, "record the withdrawal of a reservation")?;
            event.comment = clean_comment(comment.as_deref())?;
            let today = actor_today(ctx, actor, now);
            let regime = ctx.convention.reservations.as_ref();
            let r = reservation_mut(&mut decision.procedure, *number)?;
            let effective = reservations::check_withdrawal(
                regime,
                &current.key_dates,
                r,
                *received_on,
                *effective_on,
                today,
            )?;
            r.withdrawal = Some(ReservationWithdrawal {
                received_on: *received_on,
                effective_on: effective,
                sequence,
            });
            event.payload = json!({
                "number": number,
                "kind": r.kind,
                "article": r.article,
                "received_on": received_on,
                "effective_on": effective,
            });
            replan_reservations(ctx, &mut decision, sequence, now);
        }
    }
    decision.events.push(event);
    Ok(decision)
}

/// Set the procedure on `stage`, entered by event `sequence`: reset approvals, compute the due
/// date, replace the timers and tell the institutions that must act.
pub(super) fn enter_stage(
    ctx: Context<'_>,
    decision: &mut Decision,
    stage: &Stage,
    sequence: i64,
    now: DateTime<Utc>,
) {
    decision.responsible = Some(stage.responsible.clone());
    let p = &mut decision.procedure;
    p.stage = stage.id.clone();
    p.stage_entered_at = now;
    p.stage_entry = sequence;
    p.approvals.clear();
    p.due_on = due_date(ctx, stage, now, &p.key_dates);
    if stage.terminal {
        p.status = Status::Completed;
        p.due_on = None;
    }
    decision.timers = TimerChanges {
        cancel_pending: true,
        cancel_reservation_timers: false,
        fired: None,
        set: if stage.terminal {
            Vec::new()
        } else {
            ctx.stage_timers(&p.id, stage, sequence, sequence, p.due_on, now)
                .plan()
        },
    };
    // Nothing after this changes the procedure: the emails state it as the decision leaves it.
    let kind = if stage.terminal {
        NotificationKind::ProcedureCompleted
    } else {
        NotificationKind::ActionNeeded
    };
    let p = &decision.procedure;
    let mut told: Vec<Notification> = stage
        .responsible
        .iter()
        .map(|recipient| notification(p, kind, recipient, &stage.id, sequence))
        .collect();
    if let Some(rule) = &stage.approvals {
        for recipient in &rule.of {
            told.push(notification(
                p,
                NotificationKind::ApprovalRequested,
                recipient,
                &stage.id,
                sequence,
            ));
        }
    }
    decision.notifications.extend(told);
}

/// An email about `stage` to `recipient`, caused by event `sequence` of `procedure` (as the
/// decision leaves it).
pub(super) fn notification(
    procedure: &ProcedureState,
    kind: NotificationKind,
    recipient: &InstitutionId,
    stage: &StageId,
    sequence: i64,
) -> Notification {
    Notification {
        kind,
        recipient: recipient.clone(),
        dedupe_key: format!("{}:{sequence}:{}:{recipient}", procedure.id, kind.as_str()),
        facts: ProcedureFacts::of(procedure, stage, sequence, None),
    }
}

/// The due date of `stage` entered at `entered`, in the context's time zone.
pub(super) fn due_date(
    ctx: Context<'_>,
    stage: &Stage,
    entered: DateTime<Utc>,
    key_dates: &KeyDates,
) -> Option<NaiveDate> {
    match stage.due.as_ref()? {
        DueRule::After(period) => {
            let local = entered.with_timezone(&ctx.stage_zone(stage)).date_naive();
            period.after(local, ctx.calendar)
        }
        DueRule::Treaty(TreatyDateRule::InvitationValidity) => key_dates.invitation_expires_on,
        DueRule::Treaty(TreatyDateRule::EntryIntoForce) => key_dates.entry_into_force(),
    }
}

fn apply_key_date(
    ctx: Context<'_>,
    current: &ProcedureState,
    dates: &mut KeyDates,
    key: KeyDate,
    date: NaiveDate,
) {
    match key {
        KeyDate::Request => dates.requested_on = Some(date),
        KeyDate::Invitation => {
            dates.invited_on = Some(date);
            dates.invitation_expires_on = dates::invitation_expiry(ctx, current, date);
        }
        KeyDate::Deposit => {
            dates.deposited_on = Some(date);
            dates.entry_into_force_computed = ctx
                .convention
                .entry_into_force
                .entry_into_force(date, ctx.convention.general_entry_into_force);
        }
        KeyDate::EntryIntoForce => dates.entry_into_force_recorded = Some(date),
    }
}

fn validate_field(
    field: &FieldName,
    kind: FieldKind,
    value: &str,
    today: NaiveDate,
) -> Result<String, Refusal> {
    let invalid = |reason: String| Refusal::FieldInvalid {
        field: field.clone(),
        reason,
    };
    let value = checked(value, Lines::Many).map_err(|e| invalid(e.to_string()))?;
    let value = value.trim();
    match kind {
        FieldKind::Date => {
            let not_a_date = || invalid(format!("`{value}` is not a date; write YYYY-MM-DD"));
            // chrono alone takes `2024-4-22`, `+2024-04-22` and even `2024-04-2`: a truncated date
            // must not pass for another one.
            let written_in_full = value.len() == 10
                && value.bytes().enumerate().all(|(i, b)| match i {
                    4 | 7 => b == b'-',
                    _ => b.is_ascii_digit(),
                });
            if !written_in_full {
                return Err(not_a_date());
            }
            let date = NaiveDate::parse_from_str(value, "%Y-%m-%d").map_err(|_| not_a_date())?;
            if date > today {
                return Err(invalid(format!(
                    "{date} is in the future; record a date once it has happened"
                )));
            }
            Ok(date.to_string())
        }
        FieldKind::Text | FieldKind::Document => {
            if value.is_empty() {
                return Err(invalid("it is empty".into()));
            }
            if value.chars().count() > MAX_TEXT {
                return Err(invalid(format!("it is longer than {MAX_TEXT} characters")));
            }
            if kind == FieldKind::Document && value.contains('\n') {
                return Err(invalid("a document reference is one line".into()));
            }
            Ok(value.to_string())
        }
    }
}

fn control_allowed(actor: &Actor, allowed: &[InstitutionId], act: &str) -> Result<(), Refusal> {
    if actor.manages() || allowed.contains(&actor.institution) {
        Ok(())
    } else {
        Err(Refusal::NotAllowed {
            institution: actor.institution.clone(),
            act: act.into(),
            allowed: allowed.to_vec(),
        })
    }
}

/// Set the current stage's due date to `due` and plan its timers again, planned by event
/// `sequence`.
fn replan(
    ctx: Context<'_>,
    current: &ProcedureState,
    stage: &Stage,
    decision: &mut Decision,
    sequence: i64,
    now: DateTime<Utc>,
    due: Option<NaiveDate>,
) {
    decision.procedure.due_on = due;
    decision.timers = TimerChanges {
        cancel_pending: true,
        cancel_reservation_timers: false,
        fired: None,
        set: ctx
            .stage_timers(&current.id, stage, current.stage_entry, sequence, due, now)
            .plan(),
    };
}

/// Who records what the depositary holds (reservations and declarations made, renewed,
/// modified, withdrawn): the coordinator, or an institution responsible for the deposit.
fn may_record_depositary_facts(ctx: Context<'_>, actor: &Actor, act: &str) -> Result<(), Refusal> {
    reservations::may_record(ctx.definition, actor, act)
}

fn actor_today(ctx: Context<'_>, actor: &Actor, now: DateTime<Utc>) -> NaiveDate {
    now.with_timezone(&ctx.zones.of(&actor.institution))
        .date_naive()
}

fn reservation_mut(p: &mut ProcedureState, number: u32) -> Result<&mut Reservation, Refusal> {
    let known: Vec<u32> = p.treaty.reservations.iter().map(|r| r.number).collect();
    p.treaty
        .reservations
        .iter_mut()
        .find(|r| r.number == number)
        .ok_or_else(|| {
            Refusal::NotApplicable(format!(
                "the procedure has no reservation or declaration no. {number}; it has {}",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known
                        .iter()
                        .map(|n| format!("no. {n}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            ))
        })
}

fn trimmed(text: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    text.iter()
        .filter(|(_, t)| !t.trim().is_empty())
        .map(|(l, t)| (l.clone(), t.trim().to_string()))
        .collect()
}

/// Cancel the reservations' pending reminders and plan them again from the procedure as the
/// decision leaves it.
fn replan_reservations(
    ctx: Context<'_>,
    decision: &mut Decision,
    sequence: i64,
    now: DateTime<Utc>,
) {
    decision.timers.cancel_reservation_timers = true;
    decision.timers.set.extend(reservations::plan_timers(
        ctx,
        &decision.procedure,
        sequence,
        now,
    ));
}

/// The stage declaring the field keyed `key`, and the field's name.
fn key_field(def: &WorkflowDefinition, key: KeyDate) -> Option<(&Stage, &FieldName)> {
    def.stages.iter().find_map(|s| {
        s.fields
            .iter()
            .find(|f| f.key == Some(key))
            .map(|f| (s, &f.name))
    })
}

/// Objections are raised in the consultation of the Parties: on a route with an invitation,
/// before it is recorded.
fn consultation_open(def: &WorkflowDefinition, current: &ProcedureState) -> Result<(), Refusal> {
    if key_field(def, KeyDate::Invitation).is_none() {
        return Err(Refusal::NotApplicable(
            "this workflow has no invitation to accede, so no consultation of the Parties".into(),
        ));
    }
    if let Some(invited) = current.key_dates.invited_on {
        return Err(Refusal::NotApplicable(format!(
            "the invitation of {invited} is recorded; the consultation of the Parties is over"
        )));
    }
    Ok(())
}

fn control_allowed_or_responsible(actor: &Actor, stage: &Stage, act: &str) -> Result<(), Refusal> {
    control_allowed(actor, &stage.responsible, act)
}

fn required_text(text: &str, field: &'static str, what: &'static str) -> Result<String, Refusal> {
    let text = checked(text, Lines::Many)
        .map_err(|problem| Refusal::ControlCharacter { field, problem })?;
    let text = text.trim();
    if text.is_empty() {
        return Err(Refusal::Empty { what });
    }
    if text.chars().count() > MAX_TEXT {
        return Err(Refusal::Invalid(format!(
            "{what} is longer than {MAX_TEXT} characters"
        )));
    }
    Ok(text.to_string())
}

fn clean_comment(comment: Option<&str>) -> Result<Option<String>, Refusal> {
    match comment {
        Some(text) if !text.trim().is_empty() => {
            required_text(text, "comment", "a comment").map(Some)
        }
        // Blank is no comment; but a control character is refused even among blanks.
        Some(text) => {
            checked(text, Lines::Many)
                .map(|_| None)
                .map_err(|problem| Refusal::ControlCharacter {
                    field: "comment",
                    problem,
                })
        }
        None => Ok(None),
    }
}

/// Every free text `act` carries, by the name the API and the CLI give it, refused if it holds
/// a control character (see `crate::text`). A field's value is refused as that field's.
fn check_texts(act: &Act) -> Result<(), Refusal> {
    let check = |field: &'static str, text: Option<&str>| match text {
        Some(text) => checked(text, Lines::Many)
            .map(|_| ())
            .map_err(|problem| Refusal::ControlCharacter { field, problem }),
        None => Ok(()),
    };
    match act {
        Act::Advance { comment, .. } | Act::Approve { comment } | Act::Resume { comment } => {
            check("comment", comment.as_deref())
        }
        Act::Record {
            field,
            value,
            comment,
            source,
        } => {
            checked(value, Lines::Many).map_err(|e| Refusal::FieldInvalid {
                field: field.clone(),
                reason: e.to_string(),
            })?;
            check("source", source.as_deref())?;
            check("comment", comment.as_deref())
        }
        Act::Comment { text } => check("text", Some(text)),
        Act::Suspend { reason }
        | Act::Withdraw { reason }
        | Act::Decline { reason }
        | Act::ExtendDeadline { reason, .. } => check("reason", Some(reason)),
        Act::ExtendInvitation {
            decision, comment, ..
        } => {
            check("decision", Some(decision))?;
            check("comment", comment.as_deref())
        }
        Act::RaiseObjection { text, .. } => check("text", Some(text)),
        Act::WithdrawObjection { comment, .. } => check("comment", comment.as_deref()),
        Act::Reserve {
            article,
            text,
            comment,
            ..
        } => {
            check("article", Some(article))?;
            reservations::check_texts("text", text)?;
            check("comment", comment.as_deref())
        }
        Act::ModifyReservation { text, comment, .. } => {
            reservations::check_texts("text", text)?;
            check("comment", comment.as_deref())
        }
        Act::RenewReservation { comment, .. } | Act::WithdrawReservation { comment, .. } => {
            check("comment", comment.as_deref())
        }
    }
}
