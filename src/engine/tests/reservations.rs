//! Reservations and declarations: the dates they may carry, their validity as the convention
//! gives it (CETS No. 210 art. 79: five years from entry into force, renewable, notice eighteen
//! months before expiry), renewals, modifications and withdrawals, and the reminders before
//! expiry. Refused acts change nothing; every rule is named.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;
use crate::engine::reservations::{ValidFrom, parse_timer_rule};

/// CETS No. 210 art. 79, as `config/demo/conventions.toml` gives it.
fn cets_210() -> ReservationRegime {
    ReservationRegime {
        validity_years: 5,
        renewable: true,
        notice_months: 18,
        reply_months: Some(3),
        automatic_extension_months: Some(6),
        from: ValidFrom::EntryIntoForce,
        applies_to: vec![ReservationKind::Reservation],
    }
}

static RULES: LazyLock<ConventionRules> = LazyLock::new(|| ConventionRules {
    reservations: Some(cets_210()),
    ..ets_112()
});

fn rctx() -> Context<'static> {
    Context {
        convention: &RULES,
        ..ctx()
    }
}

fn text(en: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("en".to_string(), en.to_string()),
        ("ru".to_string(), format!("{en} (ru)")),
    ])
}

fn reserve(kind: ReservationKind, at: MadeAt, on: &str) -> Act {
    Act::Reserve {
        kind,
        article: "Art. 78(2)".into(),
        text: text("The State reserves the right not to apply Article 30(2)"),
        made_at: at,
        made_on: date(on),
        comment: None,
    }
}

fn renew(number: u32, on: &str) -> Act {
    Act::RenewReservation {
        number,
        on: date(on),
        comment: None,
    }
}

fn withdraw_r(number: u32, received: &str, effective: Option<&str>) -> Act {
    Act::WithdrawReservation {
        number,
        received_on: date(received),
        effective_on: effective.map(date),
        comment: None,
    }
}

fn rule_of(refusal: &Refusal) -> &'static str {
    match refusal {
        Refusal::DateRefused { rule, .. } => rule,
        other => panic!("not a refused date: {other:?}"),
    }
}

/// A procedure under the CETS 210 regime, driven at instants the test chooses.
struct Case {
    p: ProcedureState,
}

impl Case {
    /// Started in 2024, the instrument deposited on 2024-04-22 (in force 2024-08-01).
    fn deposited() -> Case {
        let now = instant("2024-04-01T05:00:00Z");
        let d = start(rctx(), &opening(), &coordinator(), now).unwrap();
        let mut case = Case { p: d.procedure };
        case.ok(
            "2024-05-01T05:00:00Z",
            &coordinator(),
            record("deposit_date", "2024-04-22"),
        );
        assert_eq!(
            case.p.key_dates.entry_into_force_computed,
            Some(date("2024-08-01"))
        );
        case
    }

    fn attempt(&self, at: &str, actor: &Actor, act: Act) -> Result<Decision, Refusal> {
        let cmd = Command {
            expected_version: self.p.version,
            act,
        };
        decide(rctx(), &self.p, &cmd, actor, instant(at))
    }

    fn ok(&mut self, at: &str, actor: &Actor, act: Act) -> Decision {
        let d = self
            .attempt(at, actor, act)
            .unwrap_or_else(|r| panic!("refused: {r}"));
        self.p = d.procedure.clone();
        d
    }

    fn refused(&mut self, at: &str, actor: &Actor, act: Act) -> Refusal {
        let before = self.p.clone();
        let r = self.attempt(at, actor, act).expect_err("accepted");
        assert_eq!(self.p, before);
        r
    }
}

#[test]
fn the_validity_runs_five_years_from_entry_into_force_and_each_renewal_adds_a_period() {
    let r = cets_210();
    let eif = date("2024-08-01");
    assert_eq!(r.expiry(eif, 0), Some(date("2029-08-01")));
    assert_eq!(r.expiry(eif, 1), Some(date("2034-08-01")));
    assert_eq!(r.lapses_after(date("2029-08-01")), Some(date("2030-02-01")));
    // ETS No. 173 art. 38: three years, reservations and declarations alike.
    let ets_173 = ReservationRegime {
        validity_years: 3,
        notice_months: 12,
        applies_to: vec![ReservationKind::Reservation, ReservationKind::Declaration],
        ..cets_210()
    };
    assert_eq!(ets_173.expiry(eif, 0), Some(date("2027-08-01")));
    assert!(ets_173.applies(ReservationKind::Declaration));
    assert!(!cets_210().applies(ReservationKind::Declaration));
}

#[test]
fn a_reservation_made_at_deposit_is_dated_the_deposit() {
    let mut case = Case::deposited();
    let at = "2024-05-02T05:00:00Z";
    let refusal = case.refused(
        at,
        &coordinator(),
        reserve(ReservationKind::Reservation, MadeAt::Deposit, "2024-04-21"),
    );
    assert_eq!(rule_of(&refusal), "made-at-deposit-on-the-deposit-date");
    assert!(refusal.to_string().contains("2024-04-22"), "{refusal}");
    assert!(refusal.to_string().contains("2024-04-21"), "{refusal}");
    // Not later, a reservation: only a declaration may follow the deposit.
    let refusal = case.refused(
        at,
        &coordinator(),
        reserve(ReservationKind::Reservation, MadeAt::Later, "2024-05-01"),
    );
    assert_eq!(
        rule_of(&refusal),
        "made-later-only-where-the-convention-allows"
    );
    // At signature, none recorded.
    let refusal = case.refused(
        at,
        &coordinator(),
        reserve(
            ReservationKind::Reservation,
            MadeAt::Signature,
            "2024-04-22",
        ),
    );
    assert_eq!(rule_of(&refusal), "made-at-signature-on-the-signature-date");
    // Nor in the future.
    let refusal = case.refused(
        at,
        &coordinator(),
        reserve(ReservationKind::Declaration, MadeAt::Later, "2024-06-01"),
    );
    assert_eq!(rule_of(&refusal), "not-in-the-future");

    let d = case.ok(
        at,
        &coordinator(),
        reserve(ReservationKind::Reservation, MadeAt::Deposit, "2024-04-22"),
    );
    let r = case.p.treaty.reservation(1).unwrap();
    assert_eq!(r.made_on, date("2024-04-22"));
    assert_eq!(
        r.text["ru"],
        "The State reserves the right not to apply Article 30(2) (ru)"
    );
    assert_eq!(d.events[0].command, "reserve");
    assert_eq!(d.events[0].payload["valid_until"], "2029-08-01");
    // Two reminders, to the stage's responsible and the coordinator: at the notice (18 months
    // before expiry) and at the last day to answer (3 months before), at 09:00 in Bishkek.
    assert!(d.timers.cancel_reservation_timers);
    assert!(!d.timers.cancel_pending, "the stage's own timers stand");
    let reminders: Vec<_> = d
        .timers
        .set
        .iter()
        .filter(|t| t.kind == TimerKind::ReservationExpiry)
        .collect();
    assert_eq!(reminders.len(), 2, "{reminders:#?}");
    assert_eq!(reminders[0].fire_at, instant("2028-02-01T03:00:00Z"));
    assert_eq!(reminders[0].rule, "reservation 1 notice 2029-08-01");
    assert_eq!(reminders[1].fire_at, instant("2029-05-01T03:00:00Z"));
    assert!(reminders[0].recipients.contains(&inst("mfa")));
    // A declaration made later, after the deposit, has no time limit under CETS 210.
    case.ok(
        "2024-05-03T05:00:00Z",
        &coordinator(),
        reserve(ReservationKind::Declaration, MadeAt::Later, "2024-05-02"),
    );
    let dec = case.p.treaty.reservation(2).unwrap();
    assert_eq!(
        dec.valid_until(RULES.reservations.as_ref(), &case.p.key_dates),
        None
    );
    assert_eq!(
        dec.status_on(
            RULES.reservations.as_ref(),
            &case.p.key_dates,
            date("2099-01-01")
        ),
        ReservationStatus::Valid
    );
}

#[test]
fn only_the_coordinator_or_the_deposits_institutions_record_reservations() {
    let mut case = Case::deposited();
    let act = || reserve(ReservationKind::Reservation, MadeAt::Deposit, "2024-04-22");
    let refusal = case.refused("2024-05-02T05:00:00Z", &ministry("moj"), act());
    assert!(matches!(refusal, Refusal::NotAllowed { .. }), "{refusal:?}");
    assert!(refusal.to_string().contains("embassy-france"), "{refusal}");
    case.ok("2024-05-02T05:00:00Z", &ministry("embassy-france"), act());
    let refusal = case.refused("2024-05-03T05:00:00Z", &auditor(), renew(1, "2024-05-02"));
    assert!(matches!(refusal, Refusal::ReadOnly { .. }), "{refusal:?}");
}

#[test]
fn renewal_comes_after_it_was_made_and_before_it_lapsed_and_runs_from_the_old_expiry() {
    let mut case = Case::deposited();
    case.ok(
        "2024-05-02T05:00:00Z",
        &coordinator(),
        reserve(ReservationKind::Reservation, MadeAt::Deposit, "2024-04-22"),
    );
    let refusal = case.refused(
        "2028-03-01T05:00:00Z",
        &coordinator(),
        renew(1, "2024-04-01"),
    );
    assert_eq!(rule_of(&refusal), "renewal-after-it-was-made");
    // 2030-02-01 is the last day of the automatic extension; the day after is too late.
    let refusal = case.refused(
        "2030-03-01T05:00:00Z",
        &coordinator(),
        renew(1, "2030-02-02"),
    );
    assert_eq!(rule_of(&refusal), "renewal-before-it-lapsed");
    assert!(refusal.to_string().contains("2030-02-01"), "{refusal}");
    let refusal = case.refused(
        "2028-03-01T05:00:00Z",
        &coordinator(),
        renew(7, "2028-02-20"),
    );
    assert!(refusal.to_string().contains("no. 1"), "{refusal}");

    let d = case.ok(
        "2028-03-01T05:00:00Z",
        &coordinator(),
        renew(1, "2028-02-20"),
    );
    assert_eq!(d.events[0].payload["previous_until"], "2029-08-01");
    assert_eq!(d.events[0].payload["valid_until"], "2034-08-01");
    // The old reminders are cancelled and new ones planned from the new expiry.
    assert!(d.timers.cancel_reservation_timers);
    let rules: Vec<&str> = d.timers.set.iter().map(|t| t.rule.as_str()).collect();
    assert_eq!(
        rules,
        [
            "reservation 1 notice 2034-08-01",
            "reservation 1 reply 2034-08-01"
        ]
    );
    let regime = RULES.reservations.as_ref();
    let r = case.p.treaty.reservation(1).unwrap();
    assert_eq!(
        r.valid_until(regime, &case.p.key_dates),
        Some(date("2034-08-01"))
    );
}

#[test]
fn status_follows_the_record_valid_then_extended_then_lapsed_or_withdrawn() {
    let mut case = Case::deposited();
    case.ok(
        "2024-05-02T05:00:00Z",
        &coordinator(),
        reserve(ReservationKind::Reservation, MadeAt::Deposit, "2024-04-22"),
    );
    let regime = RULES.reservations.as_ref();
    let k = case.p.key_dates.clone();
    let r = case.p.treaty.reservation(1).unwrap().clone();
    let on = |d: &str| r.status_on(regime, &k, date(d));
    assert_eq!(on("2024-04-21"), ReservationStatus::NotMade);
    assert_eq!(on("2029-08-01"), ReservationStatus::Valid);
    assert_eq!(on("2029-08-02"), ReservationStatus::Extended);
    assert_eq!(on("2030-02-01"), ReservationStatus::Extended);
    assert_eq!(on("2030-02-02"), ReservationStatus::Lapsed);

    // A withdrawal before it was made, or effective before its receipt, is refused.
    let refusal = case.refused(
        "2026-01-10T05:00:00Z",
        &coordinator(),
        withdraw_r(1, "2024-04-01", None),
    );
    assert_eq!(rule_of(&refusal), "withdrawal-after-it-was-made");
    let refusal = case.refused(
        "2026-01-10T05:00:00Z",
        &coordinator(),
        withdraw_r(1, "2026-01-05", Some("2026-01-04")),
    );
    assert_eq!(
        rule_of(&refusal),
        "withdrawal-effective-on-or-after-receipt"
    );
    // Effective on a later day the notification states.
    let d = case.ok(
        "2026-01-10T05:00:00Z",
        &coordinator(),
        withdraw_r(1, "2026-01-05", Some("2026-03-01")),
    );
    assert_eq!(d.events[0].payload["effective_on"], "2026-03-01");
    assert!(d.timers.cancel_reservation_timers);
    assert!(d.timers.set.is_empty(), "{:#?}", d.timers.set);
    let r = case.p.treaty.reservation(1).unwrap();
    let k = &case.p.key_dates;
    assert_eq!(
        r.status_on(regime, k, date("2026-02-28")),
        ReservationStatus::Valid
    );
    assert_eq!(
        r.status_on(regime, k, date("2026-03-01")),
        ReservationStatus::Withdrawn
    );
    // Withdrawn once, not twice; not renewed.
    let refusal = case.refused(
        "2026-01-11T05:00:00Z",
        &coordinator(),
        withdraw_r(1, "2026-01-10", None),
    );
    assert!(matches!(refusal, Refusal::NotApplicable(_)), "{refusal:?}");
    let refusal = case.refused(
        "2026-01-11T05:00:00Z",
        &coordinator(),
        renew(1, "2026-01-10"),
    );
    assert!(matches!(refusal, Refusal::NotApplicable(_)), "{refusal:?}");
}

#[test]
fn a_modification_records_the_new_text_and_keeps_the_old() {
    let mut case = Case::deposited();
    case.ok(
        "2024-05-02T05:00:00Z",
        &coordinator(),
        reserve(ReservationKind::Reservation, MadeAt::Deposit, "2024-04-22"),
    );
    let d = case.ok(
        "2025-01-10T05:00:00Z",
        &coordinator(),
        Act::ModifyReservation {
            number: 1,
            on: date("2025-01-09"),
            text: text("Narrowed to Article 30(2)(a)"),
            comment: None,
        },
    );
    assert_eq!(
        d.events[0].payload["previous_text"]["en"],
        "The State reserves the right not to apply Article 30(2)"
    );
    let r = case.p.treaty.reservation(1).unwrap();
    assert_eq!(r.current_text()["en"], "Narrowed to Article 30(2)(a)");
    assert_eq!(
        r.text["en"],
        "The State reserves the right not to apply Article 30(2)"
    );
    // Not after it lapsed.
    let refusal = case.refused(
        "2031-01-10T05:00:00Z",
        &coordinator(),
        Act::ModifyReservation {
            number: 1,
            on: date("2031-01-09"),
            text: text("Too late"),
            comment: None,
        },
    );
    assert_eq!(rule_of(&refusal), "modification-while-it-stands");
    // A text keyed by something that is no language code is refused.
    let refusal = case.refused(
        "2025-01-11T05:00:00Z",
        &coordinator(),
        Act::ModifyReservation {
            number: 1,
            on: date("2025-01-10"),
            text: BTreeMap::from([("English".to_string(), "x".to_string())]),
            comment: None,
        },
    );
    assert!(refusal.to_string().contains("language code"), "{refusal}");
}

#[test]
fn a_reminder_fires_once_to_its_recipients_and_is_outdated_after_a_renewal() {
    let mut case = Case::deposited();
    let d = case.ok(
        "2024-05-02T05:00:00Z",
        &coordinator(),
        reserve(ReservationKind::Reservation, MadeAt::Deposit, "2024-04-22"),
    );
    let spec = d.timers.set[0].clone();
    let due = DueTimer {
        dedupe_key: spec.dedupe_key.clone(),
        stage: spec.stage.clone(),
        stage_entry: spec.stage_entry,
        kind: spec.kind,
        rule: spec.rule.clone(),
        occurrence: 0,
        fire_at: spec.fire_at,
        recipients: spec.recipients.clone(),
    };
    // The procedure moved on meanwhile: a reservation's reminder belongs to no stage entry.
    case.ok(
        "2024-05-03T05:00:00Z",
        &coordinator(),
        advance("legal-review"),
    );
    let fired = fire(rctx(), &case.p, &due, spec.fire_at).expect("fires");
    assert_eq!(
        fired.timers.fired.as_deref(),
        Some(spec.dedupe_key.as_str())
    );
    assert!(!fired.notifications.is_empty());
    for n in &fired.notifications {
        assert_eq!(n.kind, NotificationKind::ReservationExpiry);
        assert_eq!(n.facts.due_on, Some(date("2029-08-01")));
        assert!(n.facts.rule.as_deref().unwrap().contains("Art. 78(2)"));
    }
    assert_eq!(fired.events[0].command, "reservation_expiry");
    // Renewed, the reminder planned for the old expiry is outdated.
    case.ok(
        "2028-01-10T05:00:00Z",
        &coordinator(),
        renew(1, "2028-01-09"),
    );
    assert!(matches!(
        fire(rctx(), &case.p, &due, spec.fire_at),
        Err(Refusal::TimerOutdated { .. })
    ));
    assert_eq!(
        parse_timer_rule("reservation 1 notice 2029-08-01"),
        Some((1, "notice", date("2029-08-01")))
    );
    assert_eq!(parse_timer_rule("before_due 7 days"), None);
}

#[test]
fn recording_the_depositarys_own_date_of_entry_into_force_plans_the_reminders_again() {
    let mut case = Case::deposited();
    case.ok(
        "2024-05-02T05:00:00Z",
        &coordinator(),
        reserve(ReservationKind::Reservation, MadeAt::Deposit, "2024-04-22"),
    );
    let d = case.ok(
        "2024-09-02T05:00:00Z",
        &coordinator(),
        Act::Record {
            field: field("entry_into_force_date"),
            value: "2024-09-01".into(),
            comment: None,
            source: Some("Notification JJ9999C Tr./112-2024".into()),
        },
    );
    assert!(d.timers.cancel_reservation_timers);
    assert!(
        d.timers
            .set
            .iter()
            .any(|t| t.rule == "reservation 1 notice 2029-09-01"),
        "{:#?}",
        d.timers.set
    );
}

#[derive(Debug, Clone)]
enum Step {
    Reserve(ReservationKind, u8, i64),
    Renew(u32, i64),
    Withdraw(u32, i64, Option<i64>),
}

fn step() -> impl Strategy<Value = Step> {
    let kind = prop::sample::select(ReservationKind::ALL.to_vec());
    prop_oneof![
        (kind, 0u8..3, -400i64..400).prop_map(|(k, at, d)| Step::Reserve(k, at, d)),
        (1u32..4, -400i64..4000).prop_map(|(n, d)| Step::Renew(n, d)),
        (1u32..4, -400i64..4000, prop::option::of(0i64..200))
            .prop_map(|(n, d, e)| Step::Withdraw(n, d, e)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// For any sequence of acts on reservations, at any dates: a refused act changes nothing;
    /// an accepted one keeps every recorded date in order (renewals after the reservation was
    /// made and no later than it lapsed, a withdrawal after it was made and effective no
    /// earlier than received), and each renewal moves the expiry one period on from the old.
    #[test]
    fn reservations_keep_their_dates_in_order(steps in prop::collection::vec(step(), 1..12)) {
        let mut case = Case::deposited();
        let deposit = date("2024-04-22");
        let mut now = instant("2024-05-02T05:00:00Z");
        let regime = RULES.reservations.clone().unwrap();
        for s in steps {
            now += TimeDelta::days(97);
            let today = now.with_timezone(&Bishkek).date_naive();
            let day = |offset: i64| today + TimeDelta::days(offset.clamp(-4000, 0));
            let act = match s {
                Step::Reserve(kind, at, offset) => Act::Reserve {
                    kind,
                    article: "Art. 1".into(),
                    text: text("t"),
                    made_at: [MadeAt::Deposit, MadeAt::Signature, MadeAt::Later][at as usize],
                    made_on: deposit + TimeDelta::days(offset),
                    comment: None,
                },
                Step::Renew(n, offset) => Act::RenewReservation {
                    number: n,
                    on: deposit + TimeDelta::days(offset),
                    comment: None,
                },
                Step::Withdraw(n, offset, later) => Act::WithdrawReservation {
                    number: n,
                    received_on: day(offset - 4000),
                    effective_on: later.map(|l| day(offset - 4000) + TimeDelta::days(l)),
                    comment: None,
                },
            };
            let before = case.p.clone();
            let before_until: Vec<Option<NaiveDate>> = before
                .treaty
                .reservations
                .iter()
                .map(|r| r.valid_until(Some(&regime), &before.key_dates))
                .collect();
            let cmd = Command { expected_version: case.p.version, act: act.clone() };
            match decide(rctx(), &case.p, &cmd, &coordinator(), now) {
                Err(_) => prop_assert_eq!(&case.p, &before),
                Ok(d) => {
                    case.p = d.procedure;
                    for (i, r) in case.p.treaty.reservations.iter().enumerate() {
                        prop_assert!(r.made_on <= today);
                        if r.made_at == MadeAt::Deposit {
                            prop_assert_eq!(r.made_on, deposit);
                        }
                        for renewal in &r.renewals {
                            prop_assert!(renewal.on >= r.made_on);
                            let lapse = renewal
                                .previous_until
                                .and_then(|u| regime.lapses_after(u))
                                .unwrap();
                            prop_assert!(renewal.on <= lapse);
                        }
                        if let Some(w) = &r.withdrawal {
                            prop_assert!(w.received_on >= r.made_on);
                            prop_assert!(w.effective_on >= w.received_on);
                        }
                        if let (Act::RenewReservation { number, .. }, Some(Some(old))) =
                            (&act, before_until.get(i))
                            && *number == r.number
                        {
                            let new = r.valid_until(Some(&regime), &case.p.key_dates).unwrap();
                            prop_assert_eq!(Some(new), ValidityRule { years: 5 }.valid_until(*old));
                        }
                    }
                }
            }
        }
    }
}
