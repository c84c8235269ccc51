//! Dates that cannot be true are refused, naming the rule and the dates; extensions of the
//! invitation and of the consultation's deadline; objections of the Parties.

use super::*;

fn refused_rule(refusal: &Refusal) -> &'static str {
    match refusal {
        Refusal::DateRefused { rule, .. } => rule,
        other => panic!("not a refused date: {other:?}"),
    }
}

fn extend_invitation(until: &str, decision: &str) -> Act {
    Act::ExtendInvitation {
        until: date(until),
        decision: decision.into(),
        comment: None,
    }
}

fn object(party: &str) -> Act {
    Act::RaiseObjection {
        party: StateCode::parse(party).unwrap(),
        text: "Asks for more time to study the request".into(),
    }
}

fn withdraw_objection(party: &str) -> Act {
    Act::WithdrawObjection {
        party: StateCode::parse(party).unwrap(),
        comment: None,
    }
}

/// The kg-cets-210 case: request 2026-12-01, an invitation said to be of 2026-11-30 and
/// a deposit of 2026-11-01. Neither the invitation nor the deposit can be true.
#[test]
fn the_invitation_before_the_request_and_the_deposit_before_the_invitation_are_refused() {
    let mut walk = Walk::start_at("2027-06-01T05:00:00Z");
    walk.record("request_date", "2026-12-01");
    let refusal = walk.refused(&coordinator(), record("invitation_date", "2026-11-30"));
    assert_eq!(refused_rule(&refusal), "dates-follow-the-route");
    let text = refusal.to_string();
    assert!(
        text.contains("the invitation (`invitation_date`) 2026-11-30")
            && text.contains("the request (`request_date`) 2026-12-01"),
        "{text}"
    );
    walk.record("invitation_date", "2026-12-20");
    let refusal = walk.refused(&coordinator(), record("deposit_date", "2026-11-01"));
    assert_eq!(refused_rule(&refusal), "deposit-after-invitation");
    assert!(refusal.to_string().contains("2026-11-01"), "{refusal}");
    assert!(refusal.to_string().contains("2026-12-20"), "{refusal}");
    // Nothing was computed from the refused deposit.
    assert_eq!(walk.procedure.key_dates.deposited_on, None);
    assert_eq!(walk.procedure.key_dates.entry_into_force_computed, None);
}

#[test]
fn the_law_is_adopted_after_the_invitation_and_before_the_deposit() {
    let mut walk = Walk::start_at("2027-06-01T05:00:00Z");
    walk.record("invitation_date", "2026-03-10");
    let refusal = walk.refused(&coordinator(), record("law_adopted_date", "2026-03-01"));
    assert_eq!(refused_rule(&refusal), "dates-follow-the-route");
    walk.record("law_adopted_date", "2026-06-01");
    let refusal = walk.refused(&coordinator(), record("deposit_date", "2026-05-31"));
    assert_eq!(refused_rule(&refusal), "dates-follow-the-route");
    assert!(
        refusal.to_string().contains("law_adopted_date"),
        "{refusal}"
    );
    walk.record("deposit_date", "2026-06-01");
}

#[test]
fn a_date_before_the_convention_was_opened_is_refused() {
    let mut walk = Walk::start_at("2024-05-01T05:00:00Z");
    // ETS No. 112 was opened for signature on 21 March 1983.
    let refusal = walk.refused(&coordinator(), record("request_date", "1983-03-20"));
    assert_eq!(refused_rule(&refusal), "not-before-opening");
    assert!(
        refusal.to_string().contains("1983-03-20") && refusal.to_string().contains("1983-03-21"),
        "{refusal}"
    );
    walk.record("request_date", "1983-03-21");
}

#[test]
fn a_deposit_after_the_invitation_lapsed_is_refused_until_it_is_extended() {
    // Tunisia and ETS No. 185: invited 7 February 2018, valid until 8 February 2023 (GR-J(2024)6),
    // then extended by the Committee of Ministers.
    let mut walk = Walk::start_at("2024-05-01T05:00:00Z");
    walk.walk_to("invitation");
    walk.record("invitation_date", "2018-02-07");
    assert_eq!(
        walk.procedure.key_dates.invitation_expires_on,
        Some(date("2023-02-08"))
    );
    // The last day of validity is still in time; the day after is not.
    let in_time = walk.attempt(&coordinator(), record("deposit_date", "2023-02-08"));
    assert!(in_time.is_ok(), "{in_time:?}");
    let refusal = walk.refused(&coordinator(), record("deposit_date", "2023-03-01"));
    assert_eq!(refused_rule(&refusal), "deposit-while-invitation-valid");
    assert!(
        refusal.to_string().contains("lapsed on 2023-02-08"),
        "{refusal}"
    );

    // An extension must run later than the validity it extends.
    let refusal = walk.refused(
        &coordinator(),
        extend_invitation("2023-02-01", "CM/Del/Dec(2023)1455/10.1"),
    );
    assert_eq!(refused_rule(&refusal), "extension-later-than-before");
    // The decision's reference is needed.
    assert_eq!(
        walk.refused(&coordinator(), extend_invitation("2028-02-08", "  ")),
        Refusal::Empty {
            what: "the reference of the decision"
        }
    );
    // Parliament may not record it: the invitation is the MFA's.
    assert!(matches!(
        walk.refused(
            &ministry("jogorku-kenesh"),
            extend_invitation("2028-02-08", "CM/Del/Dec(2023)1455/10.1")
        ),
        Refusal::NotAllowed { .. }
    ));
    let decision = walk.act(
        &coordinator(),
        extend_invitation("2028-02-08", "CM/Del/Dec(2023)1455/10.1"),
    );
    let p = &decision.procedure;
    assert_eq!(p.key_dates.invitation_expires_on, Some(date("2028-02-08")));
    assert_eq!(
        p.treaty.invitation_extensions,
        [InvitationExtension {
            until: date("2028-02-08"),
            decision: "CM/Del/Dec(2023)1455/10.1".into(),
            previous_until: Some(date("2023-02-08")),
            sequence: decision.events[0].sequence,
        }]
    );
    assert_eq!(decision.events[0].command, "extend_invitation");
    assert_eq!(decision.events[0].payload["previous_until"], "2023-02-08");
    walk.record("deposit_date", "2023-03-01");
    // Recording the invitation again keeps the extension.
    walk.record("invitation_date", "2018-02-07");
    assert_eq!(
        walk.procedure.key_dates.invitation_expires_on,
        Some(date("2028-02-08"))
    );
}

#[test]
fn an_extension_in_parliament_moves_the_due_date_and_the_timers() {
    let mut walk = Walk::start_at("2024-05-01T05:00:00Z");
    walk.walk_to("parliament");
    walk.act(&ministry("mfa"), record("invitation_date", "2020-01-10"));
    assert_eq!(walk.procedure.due_on, Some(date("2025-01-11")));
    let decision = walk.act(
        &coordinator(),
        extend_invitation("2026-01-11", "CM/Del/Dec(2024)1"),
    );
    assert_eq!(decision.procedure.due_on, Some(date("2026-01-11")));
    assert!(decision.timers.cancel_pending);
    assert_eq!(
        timer(&decision, TimerKind::Deadline, "due").fire_at,
        instant("2026-01-11T18:00:00Z")
    );
}

#[test]
fn entry_into_force_is_the_rule_s_date_unless_recorded_as_the_depositary_s_own() {
    let mut walk = Walk::start_at("2024-05-01T05:00:00Z");
    walk.walk_to("deposit");
    walk.record("deposit_date", "2024-04-22");
    walk.advance("awaiting-entry-into-force");
    walk.now = instant("2024-09-10T05:00:00Z");
    let refusal = walk.refused(
        &coordinator(),
        record("entry_into_force_date", "2024-09-01"),
    );
    assert_eq!(refused_rule(&refusal), "entry-into-force-by-the-rule");
    let text = refusal.to_string();
    assert!(
        text.contains("2024-09-01") && text.contains("2024-08-01") && text.contains("2024-04-22"),
        "{text}"
    );
    // The rule's own date needs no source.
    let decision = walk.record("entry_into_force_date", "2024-08-01");
    assert_eq!(decision.procedure.treaty.entry_into_force_source, None);
    // A deposit corrected so that the recorded rule's date no longer is the rule's is refused.
    let refusal = walk.refused(&coordinator(), record("deposit_date", "2024-05-02"));
    assert_eq!(refused_rule(&refusal), "entry-into-force-by-the-rule");
    // The depositary's date, with its source, is kept with it.
    let decision = walk.act(
        &coordinator(),
        Act::Record {
            field: field("entry_into_force_date"),
            value: "2024-09-01".into(),
            comment: None,
            source: Some("JJ9999C Tr./112-345".into()),
        },
    );
    assert_eq!(
        decision.procedure.treaty.entry_into_force_source.as_deref(),
        Some("JJ9999C Tr./112-345")
    );
    assert_eq!(decision.events[0].payload["source"], "JJ9999C Tr./112-345");
    assert!(decision.procedure.key_dates.entry_into_force_differs());
}

#[test]
fn an_entry_into_force_with_no_deposit_needs_the_depositary_s_source() {
    let mut walk = Walk::start_at("2024-09-10T05:00:00Z");
    let refusal = walk.refused(
        &coordinator(),
        record("entry_into_force_date", "2024-08-01"),
    );
    assert_eq!(refused_rule(&refusal), "entry-into-force-by-the-rule");
    assert!(refusal.to_string().contains("no deposit"), "{refusal}");
}

#[test]
fn the_consultation_s_deadline_can_be_extended_and_the_extension_survives_a_suspension() {
    let mut walk = Walk::start_at("2024-05-01T05:00:00Z");
    walk.walk_to("consultation-of-parties");
    let due = walk.procedure.due_on.expect("ten weeks");
    let extend = |until: NaiveDate| Act::ExtendDeadline {
        until,
        reason: "Two Parties asked for more time".into(),
    };
    let refusal = walk.refused(&coordinator(), extend(due));
    assert_eq!(refused_rule(&refusal), "extension-later-than-before");
    let later = due + chrono::Days::new(28);
    // The stage's responsible institution may extend it, not another one.
    assert!(matches!(
        walk.refused(&ministry("moj"), extend(later)),
        Refusal::NotAllowed { .. }
    ));
    let decision = walk.act(&ministry("embassy-france"), extend(later));
    assert_eq!(decision.procedure.due_on, Some(later));
    assert!(decision.timers.cancel_pending && !decision.timers.set.is_empty());
    assert_eq!(decision.events[0].command, "extend_deadline");
    walk.act(&coordinator(), suspend());
    let resumed = walk.act(&coordinator(), resume());
    assert!(resumed.procedure.due_on >= Some(later));
    // A stage due on a treaty date is extended through the invitation, not here.
    walk.walk_to("parliament");
    assert!(matches!(
        walk.refused(&coordinator(), extend(date("2030-01-01"))),
        Refusal::NotApplicable(_)
    ));
}

#[test]
fn a_standing_objection_stops_the_invitation_until_it_is_withdrawn() {
    let mut walk = Walk::start_at("2024-05-01T05:00:00Z");
    walk.walk_to("consultation-of-parties");
    let raised = walk.act(&ministry("embassy-france"), object("FR"));
    assert_eq!(raised.procedure.treaty.objections.len(), 1);
    assert_eq!(raised.events[0].payload["party"], "FR");
    // One standing objection per Party; the acceding State does not object to itself.
    assert!(matches!(
        walk.refused(&ministry("embassy-france"), object("FR")),
        Refusal::NotApplicable(_)
    ));
    assert!(matches!(
        walk.refused(&ministry("embassy-france"), object("KG")),
        Refusal::NotApplicable(_)
    ));
    walk.advance("invitation");
    let refusal = walk.refused(&coordinator(), record("invitation_date", "2024-05-01"));
    assert_eq!(
        refused_rule(&refusal),
        "no-invitation-while-objection-stands"
    );
    assert!(refusal.to_string().contains("FR"), "{refusal}");
    // Withdrawing one that is not there is refused; the real withdrawal frees the invitation.
    assert!(matches!(
        walk.refused(&coordinator(), withdraw_objection("DE")),
        Refusal::NotApplicable(_)
    ));
    let withdrawn = walk.act(&coordinator(), withdraw_objection("FR"));
    assert!(
        withdrawn.procedure.treaty.objections[0]
            .withdrawn_on
            .is_some()
    );
    assert_eq!(withdrawn.procedure.treaty.standing_objections().count(), 0);
    walk.record("invitation_date", "2024-05-01");
    // Once invited, the consultation is over.
    assert!(matches!(
        walk.refused(&coordinator(), object("DE")),
        Refusal::NotApplicable(_)
    ));
}

mod properties {
    use super::*;
    use proptest::prelude::*;
    use proptest::sample::select;

    const DATE_FIELDS: &[&str] = &[
        "request_date",
        "invitation_date",
        "law_adopted_date",
        "law_signed_date",
        "deposit_date",
        "entry_into_force_date",
    ];

    fn recorded(p: &ProcedureState, name: &str) -> Option<NaiveDate> {
        p.fields.get(&field(name)).and_then(|v| v.parse().ok())
    }

    /// What holds of every state reached by accepted records.
    fn check(p: &ProcedureState) -> Result<(), TestCaseError> {
        let route: Vec<Option<NaiveDate>> = DATE_FIELDS.iter().map(|f| recorded(p, f)).collect();
        let known: Vec<NaiveDate> = route.iter().flatten().copied().collect();
        prop_assert!(known.windows(2).all(|w| w[0] <= w[1]), "{:?}", route);
        prop_assert!(known.iter().all(|d| *d >= date("1983-03-21")));
        let k = &p.key_dates;
        if let (Some(deposit), Some(expires)) = (k.deposited_on, k.invitation_expires_on) {
            prop_assert!(deposit <= expires);
        }
        if let Some(eif) = k.entry_into_force_recorded
            && p.treaty.entry_into_force_source.is_none()
        {
            prop_assert_eq!(Some(eif), k.entry_into_force_computed);
        }
        Ok(())
    }

    /// A day: anywhere from 1982 to 2026, or within two days of a day that matters when the step
    /// is taken (the opening, today, a date recorded, the invitation's last day, the rule's date
    /// of entry into force, the earliest invitation valid for the deposit), where a rule is off
    /// by one if it is off at all.
    #[derive(Debug, Clone)]
    enum Day {
        Any(u64),
        Near(prop::sample::Index, i64),
    }

    /// One step of a sequence: a date recorded in a field (as the depositary's own, with a
    /// source, or not), or the invitation extended to a day.
    #[derive(Debug, Clone)]
    enum Step {
        Record(&'static str, Day, bool),
        Extend(Day),
    }

    fn day() -> impl Strategy<Value = Day> {
        prop_oneof![
            1 => (0u64..16_000).prop_map(Day::Any),
            3 => (any::<prop::sample::Index>(), -2i64..=2).prop_map(|(i, d)| Day::Near(i, d)),
        ]
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            6 => (select(DATE_FIELDS), day(), any::<bool>())
                .prop_map(|(f, d, s)| Step::Record(f, d, s)),
            1 => day().prop_map(Step::Extend),
        ]
    }

    /// A step taken: its day resolved against the model as it stands.
    #[derive(Debug, Clone)]
    enum Taken {
        Record(&'static str, NaiveDate, bool),
        Extend(NaiveDate),
    }

    /// The rules of ETS No. 112 on the accession route, written out again from the issue and the
    /// Treaty Office's practice, apart from the engine: what a procedure holds after accepted
    /// steps, and what a step would break.
    #[derive(Debug, Default)]
    struct Model {
        dates: std::collections::BTreeMap<&'static str, NaiveDate>,
        extended_to: Option<NaiveDate>,
        eif_is_the_depositary_s: bool,
    }

    impl Model {
        const TODAY: &'static str = "2026-01-01";

        /// Five years from the day after the decision (GR-J(2024)6), or the extension's day.
        fn valid_until(&self, invited: NaiveDate) -> NaiveDate {
            let by_rule = (invited + chrono::Days::new(1))
                .checked_add_months(chrono::Months::new(60))
                .unwrap();
            self.extended_to.map_or(by_rule, |e| e.max(by_rule))
        }

        /// The first day of the month following three months after the deposit, not before the
        /// convention's own entry into force (1 July 1985).
        fn entry_into_force(deposit: NaiveDate) -> NaiveDate {
            use chrono::Datelike;
            let after = deposit.checked_add_months(chrono::Months::new(3)).unwrap();
            let first = NaiveDate::from_ymd_opt(after.year(), after.month(), 1).unwrap();
            first
                .checked_add_months(chrono::Months::new(1))
                .unwrap()
                .max(date("1985-07-01"))
        }

        /// `day` as it falls now.
        fn resolve(&self, day: &Day) -> NaiveDate {
            match day {
                Day::Any(n) => date("1982-06-01") + chrono::Days::new(*n),
                Day::Near(which, delta) => {
                    let mut anchors = vec![date("1983-03-21"), date(Self::TODAY)];
                    anchors.extend(self.dates.values().copied());
                    if let Some(invited) = self.dates.get("invitation_date") {
                        anchors.push(self.valid_until(*invited));
                    }
                    if let Some(deposit) = self.dates.get("deposit_date") {
                        anchors.push(Self::entry_into_force(*deposit));
                        // The earliest invitation still valid on the day of the deposit.
                        anchors.push(
                            deposit.checked_sub_months(chrono::Months::new(60)).unwrap()
                                - chrono::Days::new(1),
                        );
                    }
                    let anchor = anchors[which.index(anchors.len())];
                    anchor.checked_add_signed(TimeDelta::days(*delta)).unwrap()
                }
            }
        }

        fn take_step(&self, step: &Step) -> Taken {
            match step {
                Step::Record(name, day, source) => Taken::Record(name, self.resolve(day), *source),
                Step::Extend(day) => Taken::Extend(self.resolve(day)),
            }
        }

        /// The rules `step` breaks (a date in the future is `future`); none if it is accepted.
        fn breaks(&self, step: &Taken) -> Vec<&'static str> {
            let mut broken = Vec::new();
            let (name, day, source) = match step {
                Taken::Extend(until) => {
                    match self.dates.get("invitation_date") {
                        None => broken.push("no-invitation"),
                        Some(invited) if *until <= self.valid_until(*invited) => {
                            broken.push("extension-later-than-before")
                        }
                        Some(_) => {}
                    }
                    return broken;
                }
                Taken::Record(name, day, source) => (*name, *day, *source),
            };
            if day > date(Self::TODAY) {
                broken.push("future");
            }
            if day < date("1983-03-21") {
                broken.push("not-before-opening");
            }
            let at = DATE_FIELDS.iter().position(|f| *f == name).unwrap();
            for (other, recorded) in &self.dates {
                let there = DATE_FIELDS.iter().position(|f| f == other).unwrap();
                if (there < at && *recorded > day) || (there > at && *recorded < day) {
                    // A deposit before the invitation is named as such, whichever is recorded
                    // second.
                    let pair = [*other, name];
                    broken.push(
                        if pair.contains(&"invitation_date") && pair.contains(&"deposit_date") {
                            "deposit-after-invitation"
                        } else {
                            "dates-follow-the-route"
                        },
                    );
                }
            }
            let eif = self.dates.get("entry_into_force_date");
            match name {
                "deposit_date" => {
                    if let Some(invited) = self.dates.get("invitation_date")
                        && day > self.valid_until(*invited)
                    {
                        broken.push("deposit-while-invitation-valid");
                    }
                    if let Some(eif) = eif
                        && !self.eif_is_the_depositary_s
                        && Self::entry_into_force(day) != *eif
                    {
                        broken.push("entry-into-force-by-the-rule");
                    }
                }
                "invitation_date" => {
                    if let Some(deposit) = self.dates.get("deposit_date")
                        && self.valid_until(day) < *deposit
                    {
                        broken.push("deposit-while-invitation-valid");
                    }
                }
                "entry_into_force_date" if !source => {
                    let by_rule = self
                        .dates
                        .get("deposit_date")
                        .map(|d| Self::entry_into_force(*d));
                    if by_rule != Some(day) {
                        broken.push("entry-into-force-by-the-rule");
                    }
                }
                _ => {}
            }
            broken
        }

        fn take(&mut self, step: &Taken) {
            match step {
                Taken::Extend(until) => self.extended_to = Some(*until),
                Taken::Record(name, day, source) => {
                    self.dates.insert(name, *day);
                    if *name == "entry_into_force_date" {
                        self.eif_is_the_depositary_s = *source;
                    }
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        /// For every sequence of recorded dates (and extensions of the invitation): the engine
        /// accepts exactly what breaks no rule of the model, a refused date names a rule it
        /// breaks, and a refused one changes nothing — the procedure holds the dates of the
        /// accepted steps alone, as the model that never saw the refused one does, and every
        /// later step is decided as if it had never been asked.
        #[test]
        fn a_refused_date_changes_nothing_and_accepted_ones_keep_the_rules(
            steps in prop::collection::vec(step(), 1..24)
        ) {
            let now = instant("2026-01-01T05:00:00Z");
            let mut held = start(ctx(), &opening(), &coordinator(), now).unwrap().procedure;
            let mut model = Model::default();
            for step in steps {
                let step = model.take_step(&step);
                let act = match &step {
                    Taken::Record(name, day, source) => Act::Record {
                        field: field(name),
                        value: day.to_string(),
                        comment: None,
                        source: source.then(|| "the depositary's notification".to_string()),
                    },
                    Taken::Extend(until) => extend_invitation(&until.to_string(), "CM/Del/Dec(1)"),
                };
                let cmd = Command { expected_version: held.version, act };
                let broken = model.breaks(&step);
                match decide(ctx(), &held, &cmd, &coordinator(), now) {
                    Ok(decision) => {
                        prop_assert!(broken.is_empty(), "{:?} accepted, breaking {:?}", step, broken);
                        check(&decision.procedure)?;
                        held = decision.procedure;
                        model.take(&step);
                    }
                    Err(refusal) => {
                        prop_assert!(!broken.is_empty(), "{:?} refused: {}", step, refusal);
                        match &refusal {
                            Refusal::DateRefused { rule, detail, .. } => {
                                prop_assert!(broken.contains(rule), "{} not in {:?}", rule, broken);
                                prop_assert!(!detail.is_empty());
                            }
                            Refusal::FieldInvalid { .. } => {
                                prop_assert!(broken.contains(&"future"), "{}", refusal)
                            }
                            Refusal::NotApplicable(_) => {
                                prop_assert!(broken.contains(&"no-invitation"), "{}", refusal)
                            }
                            other => prop_assert!(false, "refused as {:?}", other),
                        }
                    }
                }
                // The procedure holds the model's dates: the accepted steps', and nothing of a
                // refused one.
                let held_dates: std::collections::BTreeMap<&'static str, NaiveDate> = DATE_FIELDS
                    .iter()
                    .filter_map(|f| Some((*f, recorded(&held, f)?)))
                    .collect();
                prop_assert_eq!(&held_dates, &model.dates);
                let k = &held.key_dates;
                prop_assert_eq!(
                    k.invitation_expires_on,
                    model.dates.get("invitation_date").map(|d| model.valid_until(*d))
                );
                prop_assert_eq!(
                    k.entry_into_force_computed,
                    model.dates.get("deposit_date").map(|d| Model::entry_into_force(*d))
                );
                prop_assert_eq!(
                    held.treaty.entry_into_force_source.is_some(),
                    model.eif_is_the_depositary_s && model.dates.contains_key("entry_into_force_date")
                );
            }
        }
    }
}

// Entry into force happens by itself.

#[test]
fn on_the_day_of_entry_into_force_accession_records_it_moves_on_and_tells_the_coordinator() {
    let mut walk = Walk::start_at("2024-05-01T05:00:00Z");
    walk.walk_to("deposit");
    walk.record("deposit_date", "2024-04-22");
    let waiting = walk.advance("awaiting-entry-into-force");
    let spec = timer(&waiting, TimerKind::EntryIntoForce, "entry-into-force").clone();
    let due = super::due(&spec);
    // Waiting for its date, the procedure is not overdue.
    assert!(!walk.procedure.is_overdue(date("2024-07-31")));
    // Asked a moment before the day begins in Bishkek, it is not yet time.
    let early = fire(
        ctx(),
        &walk.procedure,
        &due,
        instant("2024-07-31T17:59:00Z"),
    );
    assert!(
        matches!(early, Err(Refusal::TimerOutdated { .. })),
        "{early:?}"
    );
    let at = spec.fire_at;
    let decision = fire(ctx(), &walk.procedure, &due, at).expect("fires on the day");
    let p = &decision.procedure;
    assert_eq!(p.stage, stage("party"));
    assert_eq!(p.version, walk.procedure.version.next());
    let event = &decision.events[0];
    assert_eq!(event.command, "entry_into_force");
    assert_eq!(event.actor, Actor::system());
    assert_eq!(event.to_stage, Some(stage("party")));
    assert_eq!(event.payload["entry_into_force"], "2024-08-01");
    assert_eq!(
        decision.timers.fired.as_deref(),
        Some(spec.dedupe_key.as_str())
    );
    assert!(
        decision
            .notifications
            .iter()
            .any(|n| n.kind == NotificationKind::EntryIntoForce && n.recipient == inst("mfa"))
    );
    // Once moved on, the same timer (another instance's copy) no longer applies: it fires once.
    let again = fire(ctx(), p, &due, at);
    assert!(
        matches!(again, Err(Refusal::TimerOutdated { .. })),
        "{again:?}"
    );
}

#[test]
fn a_depositary_s_own_date_moves_the_automatic_entry_into_force() {
    let mut walk = Walk::start_at("2024-05-01T05:00:00Z");
    walk.walk_to("deposit");
    walk.record("deposit_date", "2024-04-22");
    walk.advance("awaiting-entry-into-force");
    walk.now = instant("2024-07-20T05:00:00Z");
    let decision = walk.act(
        &coordinator(),
        Act::Record {
            field: field("entry_into_force_date"),
            value: "2024-07-19".into(),
            comment: None,
            source: Some("JJ notification".into()),
        },
    );
    let spec = timer(&decision, TimerKind::EntryIntoForce, "entry-into-force");
    // The day has already come: it fires at once.
    assert_eq!(spec.fire_at, decision.events[0].at);
}
