//! The chart of signatures and ratifications, as the Treaty Office publishes it: for a convention
//! one row per State, for a State one row per convention, each as it stood on a given day. Every
//! row is folded from the procedure's history (what had been recorded by the end of that day),
//! not read from today's columns, so a past chart does not change when later acts are recorded.

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use super::{Accession, AppError, ListRequest, MAX_PAGE};
use crate::audit::ChainRow;
use crate::engine::reservations::{Renewal, ReservationWithdrawal};
use crate::engine::{Actor, KeyDates, MadeAt, Reservation, ReservationKind, Status};
use crate::ids::{ConventionId, ProcedureId, StateCode};
use crate::store::ProcedureFilter;

/// What a chart is of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChartOf {
    Convention(ConventionId),
    State(StateCode),
}

/// One line of a chart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ChartRow {
    pub procedure: ProcedureId,
    pub state: StateCode,
    pub state_name: String,
    pub convention: ConventionId,
    /// `ETS No. 112`.
    pub convention_number: String,
    pub convention_title: String,
    /// A member of the Council of Europe, as the States registry says (for a State it does not
    /// list: on the member route, signature then ratification); the chart groups by it.
    pub coe_member: bool,
    pub signature: Option<NaiveDate>,
    /// Ratification, acceptance, approval or accession: the deposit of the instrument.
    pub deposit: Option<NaiveDate>,
    /// The chart's note on the deposit: `a` for accession; none for a ratification.
    pub deposit_note: Option<String>,
    /// The day of entry into force, as the depositary's record gives it, else as computed.
    pub entry_into_force: Option<NaiveDate>,
    /// In force for the State on the chart's day.
    pub in_force: bool,
    pub status: Status,
    /// Reservations standing on the chart's day (R).
    pub reservations: bool,
    /// Declarations standing on the chart's day (D).
    pub declarations: bool,
    /// Designations of authorities standing on the chart's day (A).
    pub authorities: bool,
    /// Territorial applications standing on the chart's day (T).
    pub territorial_application: bool,
}

/// A chart: its subject, its day, and its rows.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Chart {
    /// The day it shows the record as of.
    pub as_of: NaiveDate,
    pub rows: Vec<ChartRow>,
}

/// The state of one procedure as its history had it by `cutoff` (exclusive), or none when it had
/// not started yet. Pure: what a chart row is made of.
pub fn fold_history(rows: &[ChainRow], cutoff: DateTime<Utc>) -> Option<FoldedRecord> {
    let mut seen = rows.iter().filter(|r| r.at < cutoff).peekable();
    seen.peek()?;
    let mut record = FoldedRecord {
        key_dates: KeyDates::default(),
        signature: None,
        status: Status::Active,
        reservations: Vec::new(),
    };
    for row in seen {
        let payload: serde_json::Value = serde_json::from_str(&row.payload).unwrap_or_default();
        if let Some(dates) = payload
            .get("key_dates")
            .and_then(|d| serde_json::from_value::<KeyDates>(d.clone()).ok())
        {
            record.key_dates = dates;
        }
        match row.command.as_str() {
            "record" if payload["field"] == "signature_date" => {
                record.signature = payload["value"].as_str().and_then(|v| v.parse().ok());
            }
            "entry_into_force" => {
                if let Some(day) = payload["entry_into_force"]
                    .as_str()
                    .and_then(|v| v.parse().ok())
                {
                    record.key_dates.entry_into_force_recorded =
                        record.key_dates.entry_into_force_recorded.or(Some(day));
                }
            }
            "reserve" => {
                if let Ok(made) = serde_json::from_value::<Made>(payload.clone()) {
                    record.reservations.push(Reservation {
                        number: made.number,
                        kind: made.kind,
                        article: made.article,
                        text: made.text,
                        made_at: made.made_at,
                        made_on: made.made_on,
                        sequence: row.sequence,
                        renewals: Vec::new(),
                        modifications: Vec::new(),
                        withdrawal: None,
                    });
                }
            }
            "renew_reservation" => {
                if let Some(r) = folded_reservation(&mut record, &payload)
                    && let Some(on) = payload["on"].as_str().and_then(|v| v.parse().ok())
                {
                    r.renewals.push(Renewal {
                        on,
                        previous_until: None,
                        until: None,
                        sequence: row.sequence,
                    });
                }
            }
            "withdraw_reservation" => {
                let day = |k: &str| payload[k].as_str().and_then(|v| v.parse().ok());
                if let (Some(received_on), Some(effective_on)) =
                    (day("received_on"), day("effective_on"))
                    && let Some(r) = folded_reservation(&mut record, &payload)
                {
                    r.withdrawal = Some(ReservationWithdrawal {
                        received_on,
                        effective_on,
                        sequence: row.sequence,
                    });
                }
            }
            "withdraw" => record.status = Status::Withdrawn,
            "suspend" => record.status = Status::Suspended,
            "resume" => record.status = Status::Active,
            _ => {}
        }
    }
    Some(record)
}

/// What a chart row takes from a procedure's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoldedRecord {
    pub key_dates: KeyDates,
    pub signature: Option<NaiveDate>,
    pub status: Status,
    /// The reservations and declarations recorded by then, with their renewals and
    /// withdrawals.
    pub reservations: Vec<Reservation>,
}

/// What a `reserve` event's payload says of the reservation it made.
#[derive(serde::Deserialize)]
struct Made {
    number: u32,
    kind: ReservationKind,
    article: String,
    #[serde(default)]
    text: std::collections::BTreeMap<String, String>,
    made_at: MadeAt,
    made_on: NaiveDate,
}

fn folded_reservation<'r>(
    record: &'r mut FoldedRecord,
    payload: &serde_json::Value,
) -> Option<&'r mut Reservation> {
    let number = u32::try_from(payload["number"].as_u64()?).ok()?;
    record.reservations.iter_mut().find(|r| r.number == number)
}

/// The first instant after `day` in `zone`: what was recorded by the end of that day is before
/// it (the end of a UTC day if the zone has no such instant).
fn end_of(day: NaiveDate, zone: Tz) -> DateTime<Utc> {
    crate::engine::deadline_instant(day, zone).unwrap_or_else(|| {
        (day + TimeDelta::days(1))
            .and_hms_opt(0, 0, 0)
            .expect("midnight exists")
            .and_utc()
    })
}

impl Accession {
    /// The chart of `of` as it stood on `as_of` (default: today), as `actor` may read it.
    pub async fn chart(
        &self,
        actor: &Actor,
        of: &ChartOf,
        as_of: Option<NaiveDate>,
    ) -> Result<Chart, AppError> {
        let as_of = as_of.unwrap_or_else(|| self.today());
        let zone = self.settings.calendar.time_zone;
        let cutoff = end_of(as_of, zone);
        let conventions = self.store.conventions().await?;
        // The registry of States: one row per State of the world at most.
        let states = self.store.states().await?;
        let filter = match of {
            ChartOf::Convention(c) => {
                if !conventions.iter().any(|x| &x.id == c) {
                    return Err(AppError::NotFound {
                        what: "convention",
                        id: c.to_string(),
                    });
                }
                ProcedureFilter {
                    convention: Some(c.clone()),
                    ..ProcedureFilter::default()
                }
            }
            ChartOf::State(s) => ProcedureFilter {
                state: Some(s.clone()),
                ..ProcedureFilter::default()
            },
        };
        let mut request = ListRequest {
            filter,
            limit: MAX_PAGE,
            ..ListRequest::default()
        };
        let mut rows = Vec::new();
        loop {
            let page = self.procedures(actor, &request).await?;
            for row in &page.items {
                let p = &row.procedure;
                let history = self.store.history(&p.id).await?;
                let Some(record) = fold_history(&history, cutoff) else {
                    continue;
                };
                let convention = conventions.iter().find(|c| c.id == p.convention);
                let member_route = p.workflow.id.as_str() == "coe-ratification";
                let registered = states.iter().find(|s| s.code == p.state);
                let k = &record.key_dates;
                let entry_into_force = k.entry_into_force();
                let regime = convention.and_then(|c| c.reservation_regime());
                let flags =
                    super::reservations::flags_on(&record.reservations, regime.as_ref(), k, as_of);
                let flag = |kind| flags.contains(&kind);
                rows.push(ChartRow {
                    procedure: p.id.clone(),
                    state: p.state.clone(),
                    state_name: registered.map_or_else(
                        || {
                            self.settings
                                .state_name(p.state.as_str(), crate::reference::Language::En)
                        },
                        |s| s.name.clone(),
                    ),
                    convention: p.convention.clone(),
                    convention_number: convention
                        .map_or_else(|| p.convention.to_string(), |c| c.number.clone()),
                    convention_title: convention.map_or_else(String::new, |c| c.title.clone()),
                    coe_member: registered.map_or(member_route, |s| s.coe_member),
                    signature: record.signature,
                    deposit: k.deposited_on,
                    deposit_note: (!member_route && k.deposited_on.is_some())
                        .then(|| "a".to_string()),
                    in_force: entry_into_force.is_some_and(|d| d <= as_of),
                    entry_into_force,
                    status: record.status,
                    reservations: flag(ReservationKind::Reservation),
                    declarations: flag(ReservationKind::Declaration),
                    authorities: flag(ReservationKind::Authority),
                    territorial_application: flag(ReservationKind::TerritorialApplication),
                });
            }
            match page.next {
                Some(next) => request.cursor = Some(next),
                None => break,
            }
        }
        // Members first, then the others, each by State (or convention) as the Treaty Office
        // lists them.
        rows.sort_by(|a, b| {
            (!a.coe_member, &a.state_name, &a.convention_number).cmp(&(
                !b.coe_member,
                &b.state_name,
                &b.convention_number,
            ))
        });
        Ok(Chart { as_of, rows })
    }
}

/// The chart as CSV, one line per row, in the order shown (cells defused as the history
/// exports' are).
pub fn chart_csv(chart: &Chart) -> Result<Vec<u8>, csv::Error> {
    use crate::audit::export::cell;
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record([
        "state",
        "state_name",
        "convention",
        "convention_number",
        "coe_member",
        "signature",
        "deposit",
        "deposit_note",
        "entry_into_force",
        "in_force",
        "status",
        "as_of",
        "reservations",
        "declarations",
        "authorities",
        "territorial_application",
    ])?;
    let date = |d: Option<NaiveDate>| d.map(|d| d.to_string()).unwrap_or_default();
    let flag = |on: bool, letter: char| {
        if on {
            letter.to_string()
        } else {
            String::new()
        }
    };
    for r in &chart.rows {
        out.write_record([
            r.state.to_string(),
            cell(&r.state_name),
            r.convention.to_string(),
            cell(&r.convention_number),
            r.coe_member.to_string(),
            date(r.signature),
            date(r.deposit),
            r.deposit_note.clone().unwrap_or_default(),
            date(r.entry_into_force),
            r.in_force.to_string(),
            r.status.as_str().to_string(),
            chart.as_of.to_string(),
            flag(r.reservations, 'R'),
            flag(r.declarations, 'D'),
            flag(r.authorities, 'A'),
            flag(r.territorial_application, 'T'),
        ])?;
    }
    out.into_inner().map_err(|e| e.into_error().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(sequence: i64, at: &str, command: &str, payload: serde_json::Value) -> ChainRow {
        ChainRow {
            procedure_id: "kg-ets-112".into(),
            sequence,
            at: DateTime::parse_from_rfc3339(at)
                .unwrap()
                .with_timezone(&Utc),
            effective_on: None,
            effective_approximate: false,
            retrospective: false,
            actor_institution: "mfa".into(),
            actor_name: "t".into(),
            actor_role: "coordinator".into(),
            actor_account: None,
            command: command.into(),
            from_stage: None,
            to_stage: None,
            comment: None,
            payload: payload.to_string(),
            prev_hash: String::new(),
            hash: String::new(),
            hash_form: crate::audit::FORM_BOTH_TIMES,
        }
    }

    #[test]
    fn a_record_is_as_it_stood_at_the_cutoff() {
        let deposit = KeyDates {
            deposited_on: Some("2024-04-22".parse().unwrap()),
            entry_into_force_computed: Some("2024-08-01".parse().unwrap()),
            ..KeyDates::default()
        };
        let history = [
            row(1, "2023-06-01T04:00:00Z", "start", serde_json::json!({})),
            row(
                2,
                "2024-04-22T05:00:00Z",
                "record",
                serde_json::json!({"field": "deposit_date", "value": "2024-04-22", "key_dates": deposit}),
            ),
            row(3, "2025-01-01T05:00:00Z", "withdraw", serde_json::json!({})),
        ];
        let at = |t: &str| DateTime::parse_from_rfc3339(t).unwrap().with_timezone(&Utc);
        assert_eq!(fold_history(&history, at("2023-01-01T00:00:00Z")), None);
        let before = fold_history(&history, at("2024-04-01T00:00:00Z")).unwrap();
        assert_eq!(before.key_dates.deposited_on, None);
        assert_eq!(before.status, Status::Active);
        let after = fold_history(&history, at("2024-05-01T00:00:00Z")).unwrap();
        assert_eq!(after.key_dates, deposit);
        let later = fold_history(&history, at("2026-01-01T00:00:00Z")).unwrap();
        assert_eq!(later.status, Status::Withdrawn);
    }
}
