//! Treaty date rules, as data on a convention rather than code: entry into force ("the first day
//! of the month following the expiration of a period of N months after the date of deposit") and
//! validity periods (an invitation to accede, a reservation).

use chrono::{Datelike, Months, NaiveDate};
use serde::{Deserialize, Serialize};

/// "The first day of the month following the expiration of a period of `months_after` months
/// after" a date, and, when `not_before_general`, never before the convention's own general entry
/// into force. Denunciation and territorial extension take the same form from the day of receipt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EntryIntoForceRule {
    pub months_after: u32,
    #[serde(default = "yes")]
    pub not_before_general: bool,
}

fn yes() -> bool {
    true
}

impl EntryIntoForceRule {
    /// The rule of the six Council of Europe conventions of the seed.
    pub const COE_THREE_MONTHS: EntryIntoForceRule = EntryIntoForceRule {
        months_after: 3,
        not_before_general: true,
    };

    /// The date the convention enters into force for a State that deposited on `deposit`.
    pub fn entry_into_force(
        &self,
        deposit: NaiveDate,
        general_entry_into_force: Option<NaiveDate>,
    ) -> Option<NaiveDate> {
        let expiry = deposit.checked_add_months(Months::new(self.months_after))?;
        let first_of_expiry_month = expiry.with_day(1)?;
        let computed = first_of_expiry_month.checked_add_months(Months::new(1))?;
        Some(match general_entry_into_force {
            Some(general) if self.not_before_general && general > computed => general,
            _ => computed,
        })
    }
}

impl EntryIntoForceRule {
    /// When a notification received on `receipt` takes effect: denunciation and territorial
    /// extension follow the same "first day of the month following N months" form, with no
    /// floor at the general entry into force.
    pub fn takes_effect(&self, receipt: NaiveDate) -> Option<NaiveDate> {
        EntryIntoForceRule {
            not_before_general: false,
            ..*self
        }
        .entry_into_force(receipt, None)
    }
}

/// "Valid N years from" a date: an invitation to accede from the Committee of Ministers' decision,
/// a reservation from entry into force for the State.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ValidityRule {
    pub years: u32,
}

impl ValidityRule {
    /// The anniversary of `from` after the period: a reservation valid five years from entry
    /// into force on 2024-08-01 is valid until 2029-08-01.
    pub fn valid_until(&self, from: NaiveDate) -> Option<NaiveDate> {
        from.checked_add_months(Months::new(self.years.checked_mul(12)?))
    }

    /// The last day an invitation to accede decided on `decision` is valid, as the Council of
    /// Europe counts it: the period runs from the day after the decision (the day of the decision
    /// is not counted), so it ends on the anniversary of that day. GR-J(2024)6 gives Tunisia's
    /// invitation of 7 February 2018 as valid until 8 February 2023.
    pub fn invitation_valid_until(&self, decision: NaiveDate) -> Option<NaiveDate> {
        self.valid_until(decision.succ_opt()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    /// Every row of the Treaty Office charts the rule was checked against: (general entry into force, deposit, expected).
    const CHART: &[(&str, &str, &str, &str)] = &[
        ("Albania ETS 185", "2004-07-01", "2002-06-20", "2004-07-01"),
        ("Armenia ETS 185", "2004-07-01", "2006-10-12", "2007-02-01"),
        ("Austria ETS 185", "2004-07-01", "2012-06-13", "2012-10-01"),
        (
            "Azerbaijan ETS 185",
            "2004-07-01",
            "2010-03-15",
            "2010-07-01",
        ),
        ("Croatia ETS 185", "2004-07-01", "2002-10-17", "2004-07-01"),
        ("Chile ETS 185", "2004-07-01", "2017-04-20", "2017-08-01"),
        ("Benin ETS 185", "2004-07-01", "2024-06-20", "2024-10-01"),
        (
            "New Zealand ETS 185",
            "2004-07-01",
            "2025-08-28",
            "2025-12-01",
        ),
        (
            "Australia ETS 112",
            "1985-07-01",
            "2002-09-05",
            "2003-01-01",
        ),
        ("Canada ETS 112", "1985-07-01", "1985-05-13", "1985-09-01"),
        ("France ETS 112", "1985-07-01", "1985-02-11", "1985-07-01"),
        ("Israel ETS 112", "1985-07-01", "1997-09-24", "1998-01-01"),
        ("Honduras ETS 112", "1985-07-01", "2009-03-09", "2009-07-01"),
        (
            "Kyrgyz Republic ETS 112",
            "1985-07-01",
            "2024-04-22",
            "2024-08-01",
        ),
    ];

    #[test]
    fn entry_into_force_matches_every_row_of_the_charts() {
        for (who, general, deposit, expected) in CHART {
            let got = EntryIntoForceRule::COE_THREE_MONTHS
                .entry_into_force(d(deposit), Some(d(general)))
                .unwrap();
            assert_eq!(got, d(expected), "{who}");
        }
    }

    #[test]
    fn month_ends_and_leap_years() {
        let rule = EntryIntoForceRule::COE_THREE_MONTHS;
        // 30 November + 3 months expires on 29 February 2024 (leap year): 1 March.
        assert_eq!(
            rule.entry_into_force(d("2023-11-30"), None),
            Some(d("2024-03-01"))
        );
        assert_eq!(
            rule.entry_into_force(d("2024-03-31"), None),
            Some(d("2024-07-01"))
        );
        assert_eq!(
            rule.entry_into_force(d("2024-10-01"), None),
            Some(d("2025-02-01"))
        );
    }

    #[test]
    fn a_denunciation_takes_effect_on_the_first_of_the_month_after_three_months() {
        // Received 15 January 2025: three months expire 15 April; effective 1 May 2025. The
        // general entry-into-force floor does not apply to it.
        let rule = EntryIntoForceRule::COE_THREE_MONTHS;
        assert_eq!(rule.takes_effect(d("2025-01-15")), Some(d("2025-05-01")));
        assert_eq!(rule.takes_effect(d("2025-01-31")), Some(d("2025-05-01")));
    }

    #[test]
    fn reservations_lapse_after_their_validity_from_entry_into_force() {
        // Istanbul (Art. 79): five years; Criminal Law Convention on Corruption (Art. 38): three.
        let eif = d("2024-08-01");
        assert_eq!(
            ValidityRule { years: 5 }.valid_until(eif),
            Some(d("2029-08-01"))
        );
        assert_eq!(
            ValidityRule { years: 3 }.valid_until(eif),
            Some(d("2027-08-01"))
        );
    }

    #[test]
    fn invitation_is_valid_five_years_counted_from_the_day_after_the_decision() {
        let rule = ValidityRule { years: 5 };
        // GR-J(2024)6: Tunisia, ETS 185, invited 7 February 2018, valid until 8 February 2023.
        assert_eq!(
            rule.invitation_valid_until(d("2018-02-07")),
            Some(d("2023-02-08"))
        );
        // The day after 28 February 2024 is the 29th; its fifth anniversary falls on the 28th.
        assert_eq!(
            rule.invitation_valid_until(d("2024-02-28")),
            Some(d("2029-02-28"))
        );
        assert_eq!(
            rule.invitation_valid_until(d("2024-02-29")),
            Some(d("2029-03-01"))
        );
        assert_eq!(
            rule.invitation_valid_until(d("2023-12-31")),
            Some(d("2029-01-01"))
        );
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn date() -> impl Strategy<Value = NaiveDate> {
            (0i64..40_000).prop_map(|n| d("1950-01-01") + chrono::Days::new(n as u64))
        }

        proptest! {
            #[test]
            fn never_before_deposit_and_always_a_first(deposit in date(), months in 1u32..13) {
                let rule = EntryIntoForceRule { months_after: months, not_before_general: true };
                let eif = rule.entry_into_force(deposit, None).unwrap();
                prop_assert!(eif > deposit);
                prop_assert_eq!(eif.day(), 1);
            }

            #[test]
            fn monotonic_in_the_deposit_date(a in date(), b in date()) {
                let rule = EntryIntoForceRule::COE_THREE_MONTHS;
                let (early, late) = if a <= b { (a, b) } else { (b, a) };
                prop_assert!(
                    rule.entry_into_force(early, None).unwrap()
                        <= rule.entry_into_force(late, None).unwrap()
                );
            }

            #[test]
            fn deposit_in_month_m_takes_effect_on_the_first_of_m_plus_4(deposit in date()) {
                let eif = EntryIntoForceRule::COE_THREE_MONTHS
                    .entry_into_force(deposit, None)
                    .unwrap();
                let months = (eif.year() - deposit.year()) * 12
                    + eif.month() as i32 - deposit.month() as i32;
                prop_assert_eq!(months, 4);
            }
        }
    }
}
