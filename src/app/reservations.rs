//! A procedure's reservations, declarations, designations of authorities and territorial
//! applications, as a list with where each stands on a day, its validity and its next reminder;
//! and the same as CSV. The acts that record them go through `Accession::act` like every act.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::{Accession, AppError};
use crate::engine::{
    Actor, MadeAt, Reservation, ReservationKind, ReservationRegime, ReservationStatus, TimerKind,
};
use crate::ids::ProcedureId;

/// One reservation as a reader sees it on a day.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReservationView {
    #[serde(flatten)]
    pub reservation: Reservation,
    /// Where it stands on the list's day.
    pub status: ReservationStatus,
    /// The last day of its present validity, when the convention limits it and entry into force
    /// is known.
    pub valid_until: Option<NaiveDate>,
    /// The last day it stands without a notification (after the automatic extension).
    pub lapses_after: Option<NaiveDate>,
    /// Its text in force: the latest modification's, else the one made.
    pub text_in_force: BTreeMap<String, String>,
    /// When the next reminder of its expiry is sent, if one is pending.
    pub next_reminder: Option<DateTime<Utc>>,
}

/// A procedure's reservations on a day, with the convention's regime.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReservationList {
    pub procedure: ProcedureId,
    pub as_of: NaiveDate,
    /// The validity the convention gives; none: no time limit.
    pub regime: Option<ReservationRegime>,
    pub items: Vec<ReservationView>,
}

impl Accession {
    /// The reservations of procedure `id` as `actor` may read them, each as it stands on
    /// `as_of` (default: today).
    pub async fn reservations(
        &self,
        actor: &Actor,
        id: &ProcedureId,
        as_of: Option<NaiveDate>,
    ) -> Result<ReservationList, AppError> {
        let p = self.readable(id, actor).await?;
        let as_of = as_of.unwrap_or_else(|| self.today());
        let regime = self
            .store
            .convention(&p.convention)
            .await?
            .and_then(|c| c.reservation_regime());
        // The procedure's pending timers: a handful per stage entry, not a table scan.
        let timers = self.store.timers(&p.id, false).await?;
        let items = p
            .treaty
            .reservations
            .iter()
            .map(|r| {
                let next_reminder = timers
                    .iter()
                    .filter(|t| t.kind == TimerKind::ReservationExpiry)
                    .filter(|t| {
                        crate::engine::reservations::parse_timer_rule(&t.rule)
                            .is_some_and(|(n, _, _)| n == r.number)
                    })
                    .map(|t| t.fire_at)
                    .min();
                ReservationView {
                    status: r.status_on(regime.as_ref(), &p.key_dates, as_of),
                    valid_until: r.valid_until(regime.as_ref(), &p.key_dates),
                    lapses_after: r.lapses_after(regime.as_ref(), &p.key_dates),
                    text_in_force: r.current_text().clone(),
                    next_reminder,
                    reservation: r.clone(),
                }
            })
            .collect();
        Ok(ReservationList {
            procedure: p.id.clone(),
            as_of,
            regime,
            items,
        })
    }
}

/// The list as CSV: one line per reservation, its text in force one column per language seen.
pub fn reservations_csv(list: &ReservationList) -> Result<Vec<u8>, csv::Error> {
    use crate::audit::export::cell;
    let mut languages: Vec<&String> = list
        .items
        .iter()
        .flat_map(|r| r.text_in_force.keys())
        .collect();
    languages.sort();
    languages.dedup();
    let mut out = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<String> = [
        "procedure",
        "number",
        "kind",
        "article",
        "made_at",
        "made_on",
        "status",
        "valid_until",
        "lapses_after",
        "renewals",
        "modifications",
        "withdrawal_received_on",
        "withdrawal_effective_on",
        "next_reminder",
        "as_of",
    ]
    .map(String::from)
    .into();
    header.extend(languages.iter().map(|l| format!("text_{l}")));
    out.write_record(&header)?;
    let date = |d: Option<NaiveDate>| d.map(|d| d.to_string()).unwrap_or_default();
    for r in &list.items {
        let x = &r.reservation;
        let mut row = vec![
            list.procedure.to_string(),
            x.number.to_string(),
            x.kind.as_str().to_string(),
            cell(&x.article),
            made_at(x.made_at).to_string(),
            x.made_on.to_string(),
            r.status.as_str().to_string(),
            date(r.valid_until),
            date(r.lapses_after),
            x.renewals.len().to_string(),
            x.modifications.len().to_string(),
            date(x.withdrawal.as_ref().map(|w| w.received_on)),
            date(x.withdrawal.as_ref().map(|w| w.effective_on)),
            r.next_reminder.map(|t| t.to_rfc3339()).unwrap_or_default(),
            list.as_of.to_string(),
        ];
        for l in &languages {
            row.push(cell(r.text_in_force.get(*l).map_or("", String::as_str)));
        }
        out.write_record(&row)?;
    }
    out.into_inner().map_err(|e| e.into_error().into())
}

fn made_at(m: MadeAt) -> &'static str {
    m.as_str()
}

/// The chart's flags of `reservations` on `day`: R, D, A, T for the kinds that stand.
pub fn flags_on(
    reservations: &[Reservation],
    regime: Option<&ReservationRegime>,
    dates: &crate::engine::KeyDates,
    day: NaiveDate,
) -> Vec<ReservationKind> {
    let mut kinds: Vec<ReservationKind> = reservations
        .iter()
        .filter(|r| r.status_on(regime, dates, day).stands())
        .map(|r| r.kind)
        .collect();
    kinds.sort();
    kinds.dedup();
    kinds
}
