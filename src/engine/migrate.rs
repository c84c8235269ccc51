//! Moving a running procedure to another version of its workflow: which stage it lands on (the
//! map, else the stage of the same id), what stops it, and the decision that moves it.
//!
//! A move keeps what the procedure has: its fields, key dates, approvals of the current stage
//! entry and the time it entered its stage (so due dates count from then, not from the move). So
//! it is refused when something would be lost or would mean something else: a stage with no place
//! in the new version, a recorded field the new version does not declare, approvals given in a
//! stage whose id changes (approvals belong to a stage entry). What the new stage asks that the
//! procedure has not yet given (fields, approvals) does not stop the move: it is what the new
//! version asks before the procedure may leave the stage, as the old one did, and the plan shows
//! it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;

use super::decide::{Context, due_date};
use super::decision::{Decision, Event, TimerChanges};
use super::{Actor, ProcedureState, Refusal, Status, WorkflowRef};
use crate::ids::{FieldName, InstitutionId, StageId, Version};
use crate::workflow::WorkflowDefinition;

/// Old stage → new stage. A stage not named keeps its id, if the new version has it.
pub type StageMap = BTreeMap<StageId, StageId>;

/// Why a procedure cannot move.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Blocker {
    /// It is closed (completed, withdrawn): its record stays on the version it ended on.
    Closed { status: Status },
    /// Its stage is neither mapped nor present in the new version.
    NoMapping { stage: StageId },
    /// The map sends its stage to a stage the new version does not define.
    UnknownTarget { stage: StageId, to: StageId },
    /// A recorded field the new version does not declare: its value would be lost.
    FieldDropped { field: FieldName },
    /// Approvals given in the current stage entry, whose stage id changes: they would not carry.
    ApprovalsWouldLapse {
        stage: StageId,
        to: StageId,
        given: Vec<InstitutionId>,
    },
    /// It is on another workflow or version than the one moved from.
    NotOnVersion { workflow: String, version: u32 },
}

impl std::fmt::Display for Blocker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Blocker::Closed { status } => {
                write!(f, "it is {status}; a closed record stays as it is")
            }
            Blocker::NoMapping { stage } => write!(
                f,
                "stage `{stage}` is not in the new version: map it (`--map {stage}=NEW`)"
            ),
            Blocker::UnknownTarget { stage, to } => write!(
                f,
                "`--map {stage}={to}` names stage `{to}`, which the new version does not define"
            ),
            Blocker::FieldDropped { field } => write!(
                f,
                "field `{field}` is recorded but the new version does not declare it: its value \
                 would be lost"
            ),
            Blocker::ApprovalsWouldLapse { stage, to, given } => write!(
                f,
                "approvals given in `{stage}` (by {}) would not carry to `{to}`: move it after \
                 it leaves the stage",
                given
                    .iter()
                    .map(|i| i.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Blocker::NotOnVersion { workflow, version } => {
                write!(f, "it is on {workflow} version {version}")
            }
        }
    }
}

/// Where one procedure would go, and what the new stage still asks of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Landing {
    pub from_stage: StageId,
    pub to_stage: StageId,
    /// Fields the new stage requires that are not recorded yet.
    pub fields_missing: Vec<FieldName>,
    /// Institutions whose approval the new stage asks and has not been given.
    pub approvals_missing: Vec<InstitutionId>,
}

/// Where `p`, on `from`, would land on `to` under `map`, or every reason it cannot move.
pub fn plan(
    p: &ProcedureState,
    from: &WorkflowDefinition,
    to: &WorkflowDefinition,
    map: &StageMap,
) -> Result<Landing, Vec<Blocker>> {
    let mut blockers = Vec::new();
    if p.workflow.hash != from.content_hash {
        blockers.push(Blocker::NotOnVersion {
            workflow: p.workflow.id.to_string(),
            version: p.workflow.version,
        });
        return Err(blockers);
    }
    if p.status.is_closed() {
        blockers.push(Blocker::Closed { status: p.status });
    }
    let target = match map.get(&p.stage) {
        Some(new) if to.stage(new).is_some() => Some(new.clone()),
        Some(new) => {
            blockers.push(Blocker::UnknownTarget {
                stage: p.stage.clone(),
                to: new.clone(),
            });
            None
        }
        None if to.stage(&p.stage).is_some() => Some(p.stage.clone()),
        None => {
            blockers.push(Blocker::NoMapping {
                stage: p.stage.clone(),
            });
            None
        }
    };
    let declared: Vec<&FieldName> = to
        .stages
        .iter()
        .flat_map(|s| s.fields.iter().map(|f| &f.name))
        .collect();
    for field in p.fields.keys() {
        if !declared.contains(&field) {
            blockers.push(Blocker::FieldDropped {
                field: field.clone(),
            });
        }
    }
    if let Some(target) = &target
        && *target != p.stage
        && !p.approvals.is_empty()
    {
        blockers.push(Blocker::ApprovalsWouldLapse {
            stage: p.stage.clone(),
            to: target.clone(),
            given: p.approvals.keys().cloned().collect(),
        });
    }
    match target {
        Some(target) if blockers.is_empty() => {
            let stage = to.stage(&target).expect("checked above");
            Ok(Landing {
                from_stage: p.stage.clone(),
                fields_missing: stage
                    .fields
                    .iter()
                    .filter(|f| f.required && !p.fields.contains_key(&f.name))
                    .map(|f| f.name.clone())
                    .collect(),
                approvals_missing: stage
                    .approvals
                    .as_ref()
                    .map(|rule| {
                        rule.of
                            .iter()
                            .filter(|i| !p.approvals.contains_key(*i))
                            .cloned()
                            .collect()
                    })
                    .unwrap_or_default(),
                to_stage: target,
            })
        }
        _ => Err(blockers),
    }
}

/// The decision that moves `current` from `from` to the context's definition under `map`, as
/// `actor` (who must manage procedures), at `expected` version: one history event `migrate`
/// naming both versions and the map, the stage as planned, its due date counted from when the
/// stage was entered, and its timers planned again by the new version.
pub fn migrate(
    ctx: Context<'_>,
    current: &ProcedureState,
    from: &WorkflowDefinition,
    map: &StageMap,
    expected: Version,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Decision, Refusal> {
    may_migrate(actor, ctx.coordinators)?;
    if expected != current.version {
        return Err(Refusal::StaleVersion {
            expected,
            actual: current.version,
        });
    }
    let to = ctx.definition;
    if to.id != from.id || to.content_hash == from.content_hash {
        return Err(Refusal::Invalid(format!(
            "moving from {} version {} to {} version {} is no move: name another version of the \
             same workflow",
            from.id, from.version, to.id, to.version
        )));
    }
    let landing = plan(current, from, to, map).map_err(|blockers| Refusal::CannotMove {
        procedure: current.id.clone(),
        workflow: to.id.clone(),
        version: to.version,
        reasons: blockers
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; "),
    })?;
    let stage = to.stage(&landing.to_stage).expect("planned on it");
    let sequence = current.last_sequence + 1;
    let mut next = current.clone();
    next.version = current.version.next();
    next.last_sequence = sequence;
    next.workflow = WorkflowRef {
        id: to.id.clone(),
        version: to.version,
        hash: to.content_hash.clone(),
    };
    next.stage = landing.to_stage.clone();
    next.due_on = due_date(ctx, stage, current.stage_entered_at, &current.key_dates);
    let timers = TimerChanges {
        cancel_pending: true,
        cancel_reservation_timers: false,
        fired: None,
        // A suspended procedure has no timers; resuming it plans them from the new version.
        set: if current.status == Status::Active {
            ctx.stage_timers(
                &next.id,
                stage,
                next.stage_entry,
                sequence,
                next.due_on,
                now,
            )
            .plan()
        } else {
            Vec::new()
        },
    };
    let event = Event {
        sequence,
        at: now,
        actor: actor.clone(),
        command: "migrate".into(),
        from_stage: Some(current.stage.clone()),
        to_stage: Some(landing.to_stage.clone()),
        comment: None,
        payload: json!({
            "from": {"workflow": from.id, "version": from.version, "hash": from.content_hash},
            "to": {"workflow": to.id, "version": to.version, "hash": to.content_hash},
            "map": map.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect::<BTreeMap<_, _>>(),
        }),
        effective: Default::default(),
    };
    Ok(Decision {
        responsible: Some(stage.responsible.clone()),
        procedure: next,
        events: vec![event],
        approval: None,
        timers,
        notifications: Vec::new(),
    })
}

/// Whether `actor` may move procedures between workflow versions: coordinators do.
pub fn may_migrate(actor: &Actor, coordinators: &[InstitutionId]) -> Result<(), Refusal> {
    actor.may_act(coordinators)?;
    if actor.manages() {
        Ok(())
    } else {
        Err(Refusal::NotAllowed {
            institution: actor.institution.clone(),
            act: "move a procedure to another workflow version (coordinators do)".into(),
            allowed: Vec::new(),
        })
    }
}

/// `old=new` pairs as the CLI and the API take them.
pub fn parse_map(pairs: &[String]) -> Result<StageMap, String> {
    let mut map = StageMap::new();
    for pair in pairs {
        let (old, new) = pair
            .split_once('=')
            .ok_or_else(|| format!("`{pair}` is not OLD=NEW (a stage id on each side)"))?;
        let old = StageId::parse(old.trim()).map_err(|e| format!("`{pair}`: {e}"))?;
        let new = StageId::parse(new.trim()).map_err(|e| format!("`{pair}`: {e}"))?;
        if map.insert(old.clone(), new).is_some() {
            return Err(format!("stage `{old}` is mapped twice"));
        }
    }
    Ok(map)
}
