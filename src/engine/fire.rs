//! A due timer turned into what it means: a history event, emails to its recipients, and for a
//! cron reminder its next occurrence.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::decision::*;
use super::notification::{Notification, NotificationKind, ProcedureFacts};
use super::timers::{next_cron, next_occurrence_key};
use super::{Actor, Context, ProcedureState, Refusal, Status};
use crate::ids::{InstitutionId, StageId};

/// A timer the scheduler found due, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueTimer {
    pub dedupe_key: String,
    pub stage: StageId,
    pub stage_entry: i64,
    pub kind: TimerKind,
    pub rule: String,
    pub occurrence: i64,
    pub fire_at: DateTime<Utc>,
    pub recipients: Vec<InstitutionId>,
}

/// Fire `timer` on `current` at `now`. Refused when the timer no longer belongs to the
/// procedure's present (a transition in between cancels timers in the same transaction, so this
/// is a race the scheduler resolves by dropping the timer).
pub fn fire(
    ctx: Context<'_>,
    current: &ProcedureState,
    timer: &DueTimer,
    now: DateTime<Utc>,
) -> Result<Decision, Refusal> {
    if timer.kind == TimerKind::ReservationExpiry {
        return reservation_expiry(ctx, current, timer, now);
    }
    if current.status != Status::Active
        || current.stage != timer.stage
        || current.stage_entry != timer.stage_entry
    {
        return Err(Refusal::TimerOutdated {
            timer: timer.dedupe_key.clone(),
        });
    }
    // A "before due" reminder found after the due day (the scheduler was down) would arrive with
    // or after the news that the deadline passed: it is dropped.
    if timer.rule.starts_with("before_due")
        && let Some(due) = current.due_on
        && let Some(stage) = ctx.definition.stage(&timer.stage)
        && now.with_timezone(&ctx.stage_zone(stage)).date_naive() > due
    {
        return Err(Refusal::TimerOutdated {
            timer: timer.dedupe_key.clone(),
        });
    }
    let sequence = current.last_sequence + 1;
    let mut next = current.clone();
    next.version = current.version.next();
    next.last_sequence = sequence;
    // A stage that waits for the day of entry into force: its timer records the day and moves
    // on. Procedures that entered such a stage before Accession planned that timer hold the
    // deadline and escalation planned then: the deadline does what the timer would (a day
    // late at most: it fires when the day has passed), the escalation is nobody's lateness.
    let waits_for_entry_into_force = ctx.definition.stage(&timer.stage).is_some_and(|s| {
        matches!(
            s.due,
            Some(crate::workflow::DueRule::Treaty(
                crate::workflow::TreatyDateRule::EntryIntoForce
            ))
        )
    });
    match timer.kind {
        TimerKind::EntryIntoForce => return entry_into_force(ctx, next, timer, now),
        TimerKind::Deadline if waits_for_entry_into_force => {
            return entry_into_force(ctx, next, timer, now);
        }
        TimerKind::Escalation if waits_for_entry_into_force => {
            return Err(Refusal::TimerOutdated {
                timer: timer.dedupe_key.clone(),
            });
        }
        _ => {}
    }

    let mut set = Vec::new();
    if timer.kind == TimerKind::Reminder
        && let Some(stage) = ctx.definition.stage(&timer.stage)
        && let Some(at) = next_cron(&timer.rule, ctx.stage_zone(stage), now)
    {
        // Asked after now, not after the missed time: a downtime gives one reminder, not many.
        set.push(TimerSpec {
            stage: timer.stage.clone(),
            stage_entry: timer.stage_entry,
            kind: timer.kind,
            rule: timer.rule.clone(),
            occurrence: timer.occurrence + 1,
            fire_at: at,
            recipients: timer.recipients.clone(),
            dedupe_key: next_occurrence_key(&timer.dedupe_key, timer.occurrence),
        });
    }
    let kind = match timer.kind {
        TimerKind::Reminder => NotificationKind::Reminder,
        TimerKind::Deadline => NotificationKind::DeadlinePassed,
        TimerKind::Escalation => NotificationKind::Escalation,
        TimerKind::EntryIntoForce => NotificationKind::EntryIntoForce,
        TimerKind::ReservationExpiry => NotificationKind::ReservationExpiry,
    };
    let notifications = timer
        .recipients
        .iter()
        .map(|recipient| Notification {
            kind,
            recipient: recipient.clone(),
            dedupe_key: format!("{}:{recipient}", timer.dedupe_key),
            facts: ProcedureFacts::of(&next, &timer.stage, sequence, Some(&timer.rule)),
        })
        .collect();
    let event = Event {
        sequence,
        at: now,
        actor: Actor::system(),
        command: timer.kind.as_str().into(),
        from_stage: Some(current.stage.clone()),
        to_stage: Some(current.stage.clone()),
        comment: None,
        payload: json!({
            "timer": timer.dedupe_key,
            "rule": timer.rule,
            "occurrence": timer.occurrence,
            "due_on": current.due_on,
            "fire_at": timer.fire_at,
            "recipients": timer.recipients,
        }),
        effective: Default::default(),
    };
    Ok(Decision {
        procedure: next,
        responsible: None,
        events: vec![event],
        approval: None,
        timers: TimerChanges {
            cancel_pending: false,
            cancel_reservation_timers: false,
            fired: Some(timer.dedupe_key.clone()),
            set,
        },
        notifications,
    })
}

/// The day of entry into force has come: record it as Accession itself, move the procedure
/// along the stage's first transition, and tell the coordinators (and whoever the next stage
/// asks to act). Refused, as outdated, if the date has moved since the timer was planned (a
/// depositary's later date recorded meanwhile replans it).
fn entry_into_force(
    ctx: Context<'_>,
    next: ProcedureState,
    timer: &DueTimer,
    now: DateTime<Utc>,
) -> Result<Decision, Refusal> {
    let outdated = || Refusal::TimerOutdated {
        timer: timer.dedupe_key.clone(),
    };
    let def = ctx.definition;
    let stage = def.stage(&timer.stage).ok_or_else(outdated)?;
    let date = next.key_dates.entry_into_force().ok_or_else(outdated)?;
    if now.with_timezone(&ctx.stage_zone(stage)).date_naive() < date {
        return Err(outdated());
    }
    let transition = def.transitions_from(&stage.id).next().ok_or_else(|| {
        Refusal::Invalid(format!(
            "stage `{}` is due on entry into force but has no transition to move on by",
            stage.id
        ))
    })?;
    let target = def
        .stage(&transition.to)
        .ok_or_else(|| Refusal::Invalid(format!("stage `{}` is not defined", transition.to)))?;
    let sequence = next.last_sequence;
    let mut decision = Decision {
        procedure: next,
        responsible: None,
        events: Vec::new(),
        approval: None,
        timers: TimerChanges::default(),
        notifications: Vec::new(),
    };
    super::decide::enter_stage(ctx, &mut decision, target, sequence, now);
    decision.timers.fired = Some(timer.dedupe_key.clone());
    let k = &decision.procedure.key_dates;
    let event = Event {
        sequence,
        at: now,
        actor: Actor::system(),
        command: "entry_into_force".into(),
        from_stage: Some(stage.id.clone()),
        to_stage: Some(target.id.clone()),
        comment: None,
        payload: json!({
            "timer": timer.dedupe_key,
            "entry_into_force": date,
            "computed": k.entry_into_force_computed,
            "recorded": k.entry_into_force_recorded,
            "deposited_on": k.deposited_on,
        }),
        // Reached late (the scheduler was down), it still took effect on its day.
        effective: super::effective::on_known_day(date, now, ctx.stage_zone(stage)),
    };
    for recipient in ctx.coordinators {
        decision.notifications.push(super::decide::notification(
            &decision.procedure,
            NotificationKind::EntryIntoForce,
            recipient,
            &target.id,
            sequence,
        ));
    }
    decision.events.push(event);
    Ok(decision)
}

/// A reservation's validity nears its end: tell the recipients, once (the timer's key), if the
/// reservation still stands with the expiry the timer was planned for. A reservation renewed or
/// withdrawn since has its reminders planned again (or none), so this one is outdated. It
/// belongs to no stage entry: it fires whatever stage the procedure is at, unless it is closed.
fn reservation_expiry(
    ctx: Context<'_>,
    current: &ProcedureState,
    timer: &DueTimer,
    now: DateTime<Utc>,
) -> Result<Decision, Refusal> {
    let outdated = || Refusal::TimerOutdated {
        timer: timer.dedupe_key.clone(),
    };
    if current.status.is_closed() {
        return Err(outdated());
    }
    let (number, which, until) =
        super::reservations::parse_timer_rule(&timer.rule).ok_or_else(outdated)?;
    let r = current.treaty.reservation(number).ok_or_else(outdated)?;
    let regime = ctx.convention.reservations.as_ref();
    if r.withdrawal.is_some() || r.valid_until(regime, &current.key_dates) != Some(until) {
        return Err(outdated());
    }
    let sequence = current.last_sequence + 1;
    let mut next = current.clone();
    next.version = current.version.next();
    next.last_sequence = sequence;
    let rule = format!(
        "{} no. {number} ({}), valid until {until}{}",
        r.kind.as_str().replace('_', " "),
        r.article,
        match which {
            "notice" => "; the Secretary General gives notice of its expiry",
            _ => "; its renewal, modification or withdrawal is due to be notified now",
        }
    );
    let notifications = timer
        .recipients
        .iter()
        .map(|recipient| Notification {
            kind: NotificationKind::ReservationExpiry,
            recipient: recipient.clone(),
            dedupe_key: format!("{}:{recipient}", timer.dedupe_key),
            facts: ProcedureFacts {
                due_on: Some(until),
                ..ProcedureFacts::of(&next, &current.stage, sequence, Some(&rule))
            },
        })
        .collect();
    let event = Event {
        sequence,
        at: now,
        actor: Actor::system(),
        command: timer.kind.as_str().into(),
        from_stage: Some(current.stage.clone()),
        to_stage: Some(current.stage.clone()),
        comment: None,
        payload: json!({
            "timer": timer.dedupe_key,
            "rule": timer.rule,
            "number": number,
            "reminder": which,
            "valid_until": until,
            "fire_at": timer.fire_at,
            "recipients": timer.recipients,
        }),
        effective: Default::default(),
    };
    Ok(Decision {
        procedure: next,
        responsible: None,
        events: vec![event],
        approval: None,
        timers: TimerChanges {
            cancel_pending: false,
            cancel_reservation_timers: false,
            fired: Some(timer.dedupe_key.clone()),
            set: Vec::new(),
        },
        notifications,
    })
}
