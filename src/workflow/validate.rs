//! Checks on the shape of the state machine: every stage reachable from the initial one, and a
//! terminal stage reachable from every stage, so no procedure can get stuck.

use std::collections::{BTreeSet, VecDeque};

use super::model::WorkflowDefinition;
use super::parse::{Report, Spans};
use crate::ids::{InstitutionId, StageId};

/// The institutions a workflow may name. `Unchecked` skips the check (for tests of other rules).
#[derive(Debug, Clone)]
pub enum KnownInstitutions {
    Unchecked,
    Only(BTreeSet<InstitutionId>),
}

impl KnownInstitutions {
    pub fn ids(&self) -> Option<&BTreeSet<InstitutionId>> {
        match self {
            Self::Unchecked => None,
            Self::Only(ids) => Some(ids),
        }
    }
}

pub(super) fn graph(def: &WorkflowDefinition, spans: &Spans, report: &mut Report<'_>) {
    if !spans.complete {
        return;
    }
    if !def.stages.iter().any(|s| s.terminal) {
        report.error(
            spans.initial.clone(),
            format!("workflow `{}` has no terminal stage", def.id),
            Some("mark the stage(s) where a procedure ends with `terminal = true`".into()),
        );
        return;
    }
    if def.stage(&def.initial).is_some_and(|s| s.terminal) && def.stages.len() > 1 {
        report.error(
            spans.initial.clone(),
            format!("the initial stage `{}` is terminal", def.initial),
            None,
        );
    }

    let reachable = forward(def, &def.initial);
    for stage in &def.stages {
        if !reachable.contains(&stage.id) {
            report.error(
                spans.stages[&stage.id].clone(),
                format!(
                    "stage `{}` is unreachable from the initial stage `{}`",
                    stage.id, def.initial
                ),
                Some("add a transition into it, or remove it".into()),
            );
        }
    }

    let terminals: Vec<&StageId> = def
        .stages
        .iter()
        .filter(|s| s.terminal)
        .map(|s| &s.id)
        .collect();
    let can_finish = backward(def, &terminals);
    for stage in &def.stages {
        if !can_finish.contains(&stage.id) {
            report.error(
                spans.stages[&stage.id].clone(),
                format!("no terminal stage can be reached from stage `{}`", stage.id),
                Some("add a transition that leads on to a terminal stage".into()),
            );
        }
    }
}

fn forward(def: &WorkflowDefinition, start: &StageId) -> BTreeSet<StageId> {
    let mut seen = BTreeSet::from([start.clone()]);
    let mut queue = VecDeque::from([start.clone()]);
    while let Some(stage) = queue.pop_front() {
        for t in def.transitions_from(&stage) {
            if seen.insert(t.to.clone()) {
                queue.push_back(t.to.clone());
            }
        }
    }
    seen
}

fn backward(def: &WorkflowDefinition, ends: &[&StageId]) -> BTreeSet<StageId> {
    let mut seen: BTreeSet<StageId> = ends.iter().map(|s| (*s).clone()).collect();
    let mut queue: VecDeque<StageId> = seen.iter().cloned().collect();
    while let Some(stage) = queue.pop_front() {
        for t in def.transitions.iter().filter(|t| t.to == stage) {
            if seen.insert(t.from.clone()) {
                queue.push_back(t.from.clone());
            }
        }
    }
    seen
}
