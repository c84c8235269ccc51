//! When an act took effect, beside when it was recorded. A ministry often writes an act down
//! late: the history row keeps the clock's time of writing (`at`) and the day the act took
//! effect as its actor states it. Pure.
//!
//! - **Stated, exact**: the act took effect on that day.
//! - **Stated, approximate**: the day is not known; the stated day is the latest it can have
//!   been, and it took effect after the procedure's last act whose day is known.
//! - **Not stated**: it took effect when it was recorded.
//!
//! A row is **retrospective** when its stated day is before the day it was recorded (one calendar
//! day or more, in the acting institution's time zone), or when its day is approximate. A stated
//! day is refused when it is after today (in that zone) or before the day the procedure's
//! previous history row took effect, so the days of a procedure's rows never go backwards.

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::{Decision, Refusal};

/// The day an act took effect, as its actor states it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stated {
    /// The day; `None` with `approximate`: not known, and at the latest the day it is recorded.
    pub on: Option<NaiveDate>,
    /// The day is not known: `on` is the latest it can have been.
    pub approximate: bool,
}

/// When a history row's act took effect, as the row keeps it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Effective {
    /// The stated day; `None`: it took effect when it was recorded.
    pub on: Option<NaiveDate>,
    /// The day is not known: `on` is the latest it can have been.
    pub approximate: bool,
    /// Written down later than it took effect (see the module's notes).
    pub retrospective: bool,
}

impl Effective {
    /// The day it took effect: the stated one, else the day of `recorded_at` in `zone`.
    pub fn day(&self, recorded_at: DateTime<Utc>, zone: Tz) -> NaiveDate {
        self.on
            .unwrap_or_else(|| recorded_at.with_timezone(&zone).date_naive())
    }
}

/// The procedure's history row before the act: when it was recorded and took effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Previous {
    pub sequence: i64,
    pub recorded_at: DateTime<Utc>,
    pub effective: Effective,
}

/// When an act recorded at `now` by an institution working in `zone` took effect, given what its
/// actor states (`None`: now) and the procedure's previous history row.
pub fn took_effect(
    stated: Option<Stated>,
    previous: Option<&Previous>,
    now: DateTime<Utc>,
    zone: Tz,
) -> Result<Effective, Refusal> {
    let Some(stated) = stated else {
        return Ok(Effective::default());
    };
    let today = now.with_timezone(&zone).date_naive();
    let Some(on) = stated.on else {
        // Not known, and at the latest today: approximate and retrospective, as of today.
        return Ok(Effective {
            on: stated.approximate.then_some(today),
            approximate: stated.approximate,
            retrospective: stated.approximate,
        });
    };
    let stated = Stated {
        on: Some(on),
        ..stated
    };
    if on > today {
        return Err(Refusal::EffectiveDate {
            reason: format!(
                "{} is after today ({today}, {zone}): an act is recorded once it has taken effect",
                on
            ),
        });
    }
    if let Some(p) = previous {
        let before = p.effective.day(p.recorded_at, zone);
        if on < before {
            return Err(Refusal::EffectiveDate {
                reason: format!(
                    "{} is before {before}, when the procedure's previous act (sequence {}) took \
                     effect: record acts in the order they took effect",
                    on, p.sequence
                ),
            });
        }
    }
    Ok(Effective {
        on: Some(on),
        approximate: stated.approximate,
        retrospective: stated.approximate || on < today,
    })
}

/// An act Accession records itself on a day it knows (entry into force, when the scheduler
/// reaches it late): it took effect on `on`, retrospectively if that is before today in `zone`.
pub fn on_known_day(on: NaiveDate, now: DateTime<Utc>, zone: Tz) -> Effective {
    Effective {
        on: Some(on),
        approximate: false,
        retrospective: on < now.with_timezone(&zone).date_naive(),
    }
}

/// Every event of `decision` took effect as `effective` says.
pub fn date_decision(decision: &mut Decision, effective: Effective) {
    for event in &mut decision.events {
        event.effective = effective;
    }
}

/// A day written as `YYYY-MM-DD`, in full: chrono alone also takes `2024-4-22` and `+2024-04-22`.
/// A form people also write (`28.08.2025`, `28/08/2025`: day, month, year) is refused with the
/// same day in the form it takes, so the fix is one copy away.
pub fn parse_day(text: &str) -> Result<NaiveDate, String> {
    let text = text.trim();
    let not_a_day = || match day_month_year(text) {
        Some(day) => format!("`{text}` is not a date in the form YYYY-MM-DD; write {day}"),
        None => format!("`{text}` is not a date; write YYYY-MM-DD, e.g. 2024-04-22"),
    };
    let in_full = text.len() == 10
        && text.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        });
    if !in_full {
        return Err(not_a_day());
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| not_a_day())
}

/// `DD.MM.YYYY` or `DD/MM/YYYY` (day first, as written in the Kyrgyz Republic and most of
/// Europe), when it is a real day.
fn day_month_year(text: &str) -> Option<NaiveDate> {
    let parts: Vec<&str> = text.split(['.', '/']).collect();
    let [d, m, y] = parts.as_slice() else {
        return None;
    };
    let digits = |s: &str, n: std::ops::RangeInclusive<usize>| {
        n.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
    };
    if !(digits(d, 1..=2) && digits(m, 1..=2) && digits(y, 4..=4)) {
        return None;
    }
    NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)
}

#[cfg(test)]
mod tests {
    use chrono::{Days, TimeZone};
    use chrono_tz::Asia::Bishkek;
    use chrono_tz::Europe::Paris;
    use proptest::prelude::*;

    use super::*;

    fn day(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    fn stated(on: &str, approximate: bool) -> Option<Stated> {
        Some(Stated {
            on: Some(day(on)),
            approximate,
        })
    }

    fn previous(recorded: &str, on: Option<&str>) -> Previous {
        Previous {
            sequence: 7,
            recorded_at: at(recorded),
            effective: Effective {
                on: on.map(day),
                ..Effective::default()
            },
        }
    }

    #[test]
    fn an_act_that_states_nothing_took_effect_when_recorded() {
        let now = at("2024-04-22T04:00:00Z");
        let e = took_effect(None, None, now, Bishkek).unwrap();
        assert_eq!(e, Effective::default());
        assert_eq!(e.day(now, Bishkek), day("2024-04-22"));
    }

    #[test]
    fn a_day_before_the_recording_day_is_retrospective_and_the_same_day_is_not() {
        let now = at("2024-04-22T04:00:00Z");
        let late = took_effect(stated("2024-04-21", false), None, now, Bishkek).unwrap();
        assert!(late.retrospective && !late.approximate);
        assert_eq!(late.on, Some(day("2024-04-21")));
        let same = took_effect(stated("2024-04-22", false), None, now, Bishkek).unwrap();
        assert!(!same.retrospective);
    }

    #[test]
    fn an_approximate_day_is_retrospective_even_on_the_recording_day() {
        let now = at("2023-12-20T04:00:00Z");
        let e = took_effect(stated("2023-12-20", true), None, now, Bishkek).unwrap();
        assert!(e.approximate && e.retrospective);
    }

    #[test]
    fn today_is_the_acting_institutions_day() {
        // 20:30 UTC on 21 April is already 22 April in Bishkek, still 21 April in Paris.
        let now = at("2024-04-21T20:30:00Z");
        assert!(took_effect(stated("2024-04-22", false), None, now, Bishkek).is_ok());
        let err = took_effect(stated("2024-04-22", false), None, now, Paris).unwrap_err();
        assert!(err.to_string().contains("after today (2024-04-21"), "{err}");
        // In Bishkek, 21 April is the day before the recording day there.
        let e = took_effect(stated("2024-04-21", false), None, now, Bishkek).unwrap();
        assert!(e.retrospective);
    }

    #[test]
    fn a_day_in_the_future_is_refused() {
        let now = at("2024-04-22T04:00:00Z");
        let err = took_effect(stated("2024-05-01", true), None, now, Bishkek).unwrap_err();
        assert!(matches!(err, Refusal::EffectiveDate { .. }));
        assert!(
            err.to_string().contains("2024-05-01 is after today"),
            "{err}"
        );
    }

    #[test]
    fn a_day_before_the_previous_row_took_effect_is_refused() {
        let now = at("2024-04-22T04:00:00Z");
        // The previous row states its day.
        let p = previous("2024-04-20T04:00:00Z", Some("2024-03-01"));
        let err = took_effect(stated("2024-02-28", false), Some(&p), now, Bishkek).unwrap_err();
        assert!(
            err.to_string().contains("before 2024-03-01") && err.to_string().contains("sequence 7"),
            "{err}"
        );
        assert!(took_effect(stated("2024-03-01", false), Some(&p), now, Bishkek).is_ok());
        // It does not: its day is the day it was recorded, in the actor's zone.
        let p = previous("2024-04-19T20:00:00Z", None);
        assert!(took_effect(stated("2024-04-19", false), Some(&p), now, Bishkek).is_err());
        assert!(took_effect(stated("2024-04-19", false), Some(&p), now, Paris).is_ok());
        assert!(took_effect(stated("2024-04-20", false), Some(&p), now, Bishkek).is_ok());
    }

    #[test]
    fn a_day_accession_knows_is_retrospective_only_when_reached_late() {
        let now = at("2024-08-03T04:00:00Z");
        let late = on_known_day(day("2024-08-01"), now, Bishkek);
        assert_eq!(
            (late.on, late.retrospective),
            (Some(day("2024-08-01")), true)
        );
        assert!(!on_known_day(day("2024-08-03"), now, Bishkek).retrospective);
    }

    #[test]
    fn days_are_read_in_full_only() {
        assert_eq!(parse_day("2024-04-22"), Ok(day("2024-04-22")));
        assert_eq!(parse_day(" 2024-04-22 "), Ok(day("2024-04-22")));
        for bad in [
            "2024-4-22",
            "+2024-04-22",
            "2024-04-2",
            "2024-02-30",
            "22.04.2024",
            "",
        ] {
            let err = parse_day(bad).unwrap_err();
            assert!(err.contains("YYYY-MM-DD"), "{bad}: {err}");
        }
    }

    #[test]
    fn a_day_written_day_first_is_refused_with_the_form_it_takes() {
        for written in ["28.08.2025", "28/08/2025", "28.8.2025"] {
            let err = parse_day(written).unwrap_err();
            assert!(err.ends_with("write 2025-08-28"), "{written}: {err}");
        }
        // Not a real day: no suggestion, only the form.
        let err = parse_day("31.02.2025").unwrap_err();
        assert!(!err.contains("write 2025"), "{err}");
        assert!(err.contains("e.g. 2024-04-22"), "{err}");
    }

    proptest! {
        /// Whatever is stated, recorded when and after what: a day is accepted exactly when it is
        /// neither after today nor before the previous row's day, and is retrospective exactly
        /// when it is approximate or before today.
        #[test]
        fn a_stated_day_is_accepted_between_the_previous_row_and_today(
            now_secs in 1_500_000_000i64..1_900_000_000,
            back in -3i64..400,
            previous_back in proptest::option::of(-3i64..400),
            previous_states in any::<bool>(),
            approximate in any::<bool>(),
            paris in any::<bool>(),
        ) {
            let zone = if paris { Paris } else { Bishkek };
            let now = Utc.timestamp_opt(now_secs, 0).unwrap();
            let today = now.with_timezone(&zone).date_naive();
            let shift = |d: i64| if d >= 0 {
                today.checked_sub_days(Days::new(d as u64)).unwrap()
            } else {
                today.checked_add_days(Days::new((-d) as u64)).unwrap()
            };
            let on = shift(back);
            let prev = previous_back.map(|b| {
                let their_day = shift(b.max(0));
                Previous {
                    sequence: 3,
                    // Recorded at noon UTC on the day, or earlier still and stating the day.
                    recorded_at: if previous_states {
                        now - chrono::TimeDelta::days(b.max(0) + 2)
                    } else {
                        zone.from_local_datetime(&their_day.and_hms_opt(12, 0, 0).unwrap())
                            .earliest().unwrap().to_utc()
                    },
                    effective: Effective {
                        on: previous_states.then_some(their_day),
                        ..Effective::default()
                    },
                }
            });
            let result = took_effect(Some(Stated { on: Some(on), approximate }), prev.as_ref(), now, zone);
            let floor = prev.map(|p| p.effective.day(p.recorded_at, zone));
            let acceptable = on <= today && floor.is_none_or(|f| on >= f);
            prop_assert_eq!(result.is_ok(), acceptable, "{:?} {:?}", result, floor);
            if let Ok(e) = result {
                prop_assert_eq!(e.on, Some(on));
                prop_assert_eq!(e.approximate, approximate);
                prop_assert_eq!(e.retrospective, approximate || on < today);
                prop_assert_eq!(e.day(now, zone), on);
            } else {
                let refused_for_its_day = matches!(result, Err(Refusal::EffectiveDate { .. }));
                prop_assert!(refused_for_its_day, "{:?}", result);
            }
        }
    }
}
