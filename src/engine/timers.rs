//! The timers a stage entry sets: the due date, reminders before it, cron reminders and the
//! escalation after it. Deadlines are days in the responsible institution's time zone.

use chrono::{DateTime, Days, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

use super::decision::{TimerKind, TimerSpec};
use crate::calendar::{Recurrence, WorkingCalendar};
use crate::ids::ProcedureId;
use crate::workflow::{DueRule, Reminder, Stage, TreatyDateRule};

/// Reminders and escalations are sent at this local time of day.
const SEND_AT: NaiveTime = NaiveTime::from_hms_opt(9, 0, 0).expect("valid time");

/// The first instant of a local day (handles days that start at 01:00 after a DST change).
fn local_instant(tz: Tz, date: NaiveDate, time: NaiveTime) -> Option<DateTime<Utc>> {
    let naive = date.and_time(time);
    tz.from_local_datetime(&naive)
        .earliest()
        .or_else(|| {
            // Inside a spring-forward gap: take the first valid instant after it.
            (1..=4).find_map(|h| {
                tz.from_local_datetime(&(naive + chrono::TimeDelta::hours(h)))
                    .earliest()
            })
        })
        .map(|t| t.with_timezone(&Utc))
}

/// When a stage due on `due` in zone `tz` is overdue: the end of that day there.
pub fn deadline_instant(due: NaiveDate, tz: Tz) -> Option<DateTime<Utc>> {
    local_instant(tz, due.checked_add_days(Days::new(1))?, NaiveTime::MIN)
}

pub(super) struct StageTimers<'a> {
    pub procedure: &'a ProcedureId,
    pub stage: &'a Stage,
    pub stage_entry: i64,
    /// The history sequence of the event that plans these timers: the stage entry itself, a
    /// resumption or a new treaty date. The store keeps timer keys unique, cancelled timers
    /// included, so timers planned again in the same stage entry need keys of their own.
    pub planned_by: i64,
    pub due_on: Option<NaiveDate>,
    pub now: DateTime<Utc>,
    pub tz: Tz,
    pub calendar: &'a WorkingCalendar,
    pub coordinators: &'a [crate::ids::InstitutionId],
}

/// `a` followed by the members of `b` it lacks.
fn union(
    a: &[crate::ids::InstitutionId],
    b: &[crate::ids::InstitutionId],
) -> Vec<crate::ids::InstitutionId> {
    let mut out = a.to_vec();
    for i in b {
        if !out.contains(i) {
            out.push(i.clone());
        }
    }
    out
}

/// The key of the next occurrence of a cron reminder: the same key with the occurrence counted on.
pub(super) fn next_occurrence_key(dedupe_key: &str, occurrence: i64) -> String {
    match dedupe_key.rsplit_once(':') {
        Some((stem, _)) => format!("{stem}:{}", occurrence + 1),
        None => format!("{dedupe_key}:{}", occurrence + 1),
    }
}

/// The next time a cron reminder fires after `now`, in `tz`. Asked after a downtime, it is the
/// next time after now: the missed occurrences are one reminder (the one firing), not many.
pub(super) fn next_cron(rule: &str, tz: Tz, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let expression = rule.strip_prefix("cron ")?;
    Recurrence::parse(expression).ok()?.next_after(tz, now)
}

impl StageTimers<'_> {
    fn spec(
        &self,
        kind: TimerKind,
        rule: String,
        occurrence: i64,
        fire_at: DateTime<Utc>,
        recipients: Vec<crate::ids::InstitutionId>,
    ) -> TimerSpec {
        TimerSpec {
            dedupe_key: format!(
                "{}:{}:{}:{}:{}:{}",
                self.procedure,
                self.stage_entry,
                self.planned_by,
                kind.as_str(),
                rule,
                occurrence
            ),
            stage: self.stage.id.clone(),
            stage_entry: self.stage_entry,
            kind,
            rule,
            occurrence,
            fire_at,
            recipients,
        }
    }

    /// Every timer for this stage entry that lies in the future.
    pub fn plan(&self) -> Vec<TimerSpec> {
        let mut timers = Vec::new();
        let responsible = self.stage.responsible.clone();
        // A stage due on the day of entry into force waits for that day: nobody is late, so no
        // deadline and no escalation; at the start of the day Accession records it and moves on.
        if matches!(
            self.stage.due,
            Some(DueRule::Treaty(TreatyDateRule::EntryIntoForce))
        ) {
            if let Some(due) = self.due_on
                && let Some(at) = local_instant(self.tz, due, NaiveTime::MIN)
            {
                timers.push(self.spec(
                    TimerKind::EntryIntoForce,
                    "entry-into-force".into(),
                    0,
                    at,
                    union(&responsible, self.coordinators),
                ));
            }
        } else if let Some(due) = self.due_on {
            if let Some(at) = deadline_instant(due, self.tz) {
                // Coordinators hear of every deadline that passes.
                timers.push(self.spec(
                    TimerKind::Deadline,
                    "due".into(),
                    0,
                    at,
                    union(&responsible, self.coordinators),
                ));
            }
            for reminder in &self.stage.reminders {
                if let Reminder::BeforeDue { period } = reminder
                    && let Some(at) = period
                        .before(due, self.calendar)
                        .and_then(|d| local_instant(self.tz, d, SEND_AT))
                {
                    timers.push(self.spec(
                        TimerKind::Reminder,
                        format!("before_due {period}"),
                        0,
                        at,
                        responsible.clone(),
                    ));
                }
            }
            if let Some(esc) = &self.stage.escalation
                && let Some(at) = esc
                    .after_due
                    .after(due, self.calendar)
                    .and_then(|d| local_instant(self.tz, d, SEND_AT))
            {
                timers.push(self.spec(
                    TimerKind::Escalation,
                    format!("after_due {}", esc.after_due),
                    0,
                    at,
                    union(&esc.to, &responsible),
                ));
            }
        }
        for reminder in &self.stage.reminders {
            if let Reminder::Cron { expression } = reminder {
                let rule = format!("cron {expression}");
                if let Some(next) = next_cron(&rule, self.tz, self.now) {
                    timers.push(self.spec(TimerKind::Reminder, rule, 0, next, responsible.clone()));
                }
            }
        }
        // A reminder before a day already past is pointless; a deadline or an escalation whose
        // time has passed (a stage entered after its treaty date, a resumption) fires at once.
        timers.retain(|t| t.fire_at > self.now || t.kind != TimerKind::Reminder);
        for t in &mut timers {
            t.fire_at = t.fire_at.max(self.now);
        }
        timers.sort_by(|a, b| {
            a.fire_at
                .cmp(&b.fire_at)
                .then(a.dedupe_key.cmp(&b.dedupe_key))
        });
        timers
    }
}
