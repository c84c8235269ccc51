//! Specifications of the engine, written against the real `coe-accession` workflow and the treaty
//! rules of ETS No. 112: one test per rule first, then property tests that drive random sequences
//! of commands through `decide` and check what must hold whatever the users do.

use std::collections::HashSet;
use std::sync::LazyLock;

use chrono::{DateTime, NaiveDate, NaiveTime, TimeDelta, Utc};
use chrono_tz::Asia::Bishkek;

use super::*;
use crate::calendar::{EntryIntoForceRule, ValidityRule, WorkingCalendar, Zones};
use crate::ids::{
    ConventionId, FieldName, InstitutionId, ProcedureId, StageId, StateCode, Version,
};
use crate::workflow::{KnownInstitutions, WorkflowDefinition, parse_definition};

const SOURCE: &str = include_str!("../../workflows/coe-accession.toml");

struct Fixture {
    definition: WorkflowDefinition,
    convention: ConventionRules,
    calendar: WorkingCalendar,
    zones: Zones,
    coordinators: Vec<InstitutionId>,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| Fixture {
    definition: parse_definition("coe-accession.toml", SOURCE, &KnownInstitutions::Unchecked)
        .unwrap_or_else(|diagnostics| panic!("the workflow must parse: {diagnostics:#?}")),
    convention: ets_112(),
    calendar: WorkingCalendar::weekends_only(),
    // The embassy works in Paris; everyone else in Bishkek.
    zones: Zones::new(
        Bishkek,
        [(inst("embassy-france"), chrono_tz::Europe::Paris)],
    ),
    coordinators: vec![inst("mfa")],
});

/// The treaty rules of the Convention on the Transfer of Sentenced Persons.
fn ets_112() -> ConventionRules {
    ConventionRules {
        opened_on: Some(date("1983-03-21")),
        general_entry_into_force: Some(date("1985-07-01")),
        entry_into_force: EntryIntoForceRule::COE_THREE_MONTHS,
        invitation_validity: Some(ValidityRule { years: 5 }),
        reservations: None,
    }
}

fn ctx() -> Context<'static> {
    let fixture = &*FIXTURE;
    Context {
        definition: &fixture.definition,
        convention: &fixture.convention,
        calendar: &fixture.calendar,
        zones: &fixture.zones,
        coordinators: &fixture.coordinators,
    }
}

fn def() -> &'static WorkflowDefinition {
    &FIXTURE.definition
}

fn date(text: &str) -> NaiveDate {
    text.parse().expect("a YYYY-MM-DD date")
}

fn instant(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("an RFC 3339 instant")
        .with_timezone(&Utc)
}

fn inst(id: &str) -> InstitutionId {
    InstitutionId::parse(id).expect("an institution id")
}

fn insts(ids: &[&str]) -> Vec<InstitutionId> {
    ids.iter().map(|id| inst(id)).collect()
}

fn stage(id: &str) -> StageId {
    StageId::parse(id).expect("a stage id")
}

fn field(name: &str) -> FieldName {
    FieldName::parse(name).expect("a field name")
}

fn coordinator() -> Actor {
    Actor::new(inst("mfa"), Role::Coordinator, "Coordinator at the MFA")
}

fn ministry(id: &str) -> Actor {
    Actor::new(inst(id), Role::Ministry, format!("Officer of {id}"))
}

fn auditor() -> Actor {
    Actor::new(inst("mfa"), Role::Auditor, "Auditor")
}

fn opening() -> StartProcedure {
    StartProcedure {
        id: ProcedureId::parse("kg-ets-112").expect("a procedure id"),
        state: StateCode::parse("KG").expect("a State code"),
        convention: ConventionId::parse("ets-112").expect("a convention id"),
        comment: Some("After the Strasbourg seminar".into()),
    }
}

fn advance(to: &str) -> Act {
    Act::Advance {
        to: stage(to),
        comment: None,
    }
}

fn approve() -> Act {
    Act::Approve { comment: None }
}

fn record(name: &str, value: &str) -> Act {
    Act::Record {
        field: field(name),
        value: value.into(),
        comment: None,
        source: None,
    }
}

fn comment(text: &str) -> Act {
    Act::Comment { text: text.into() }
}

fn suspend() -> Act {
    Act::Suspend {
        reason: "The government is being reshuffled".into(),
    }
}

fn resume() -> Act {
    Act::Resume { comment: None }
}

fn withdraw() -> Act {
    Act::Withdraw {
        reason: "The government decided not to accede".into(),
    }
}

/// One of every kind of act, to check that a procedure refuses them all.
fn every_act() -> Vec<Act> {
    vec![
        advance("legal-review"),
        approve(),
        record("compatibility_report", "MoJ report No. 17"),
        comment("Still there?"),
        suspend(),
        resume(),
        withdraw(),
    ]
}

/// A procedure driven command by command, one day apart, keeping the state of every accepted
/// command as the store would.
#[derive(Clone)]
struct Walk {
    procedure: ProcedureState,
    now: DateTime<Utc>,
    /// Every accepted decision, the start included.
    decisions: Vec<Decision>,
}

impl Walk {
    fn start_at(now: &str) -> Self {
        let now = instant(now);
        let decision =
            start(ctx(), &opening(), &coordinator(), now).expect("a coordinator may start");
        Walk {
            procedure: decision.procedure.clone(),
            now,
            decisions: vec![decision],
        }
    }

    fn command(&self, act: Act) -> Command {
        Command {
            expected_version: self.procedure.version,
            act,
        }
    }

    /// The day in Bishkek before the next command: a date that has certainly happened.
    fn local_today(&self) -> String {
        self.now.with_timezone(&Bishkek).date_naive().to_string()
    }

    /// `day`, or the day before the next command if that is earlier.
    fn not_after_today(&self, day: &str) -> String {
        let today = self.local_today();
        if day < today.as_str() {
            day.to_string()
        } else {
            today
        }
    }

    /// Ask for an act a day later, at the current version; nothing is kept.
    fn attempt(&mut self, actor: &Actor, act: Act) -> Result<Decision, Refusal> {
        self.now += TimeDelta::days(1);
        decide(ctx(), &self.procedure, &self.command(act), actor, self.now)
    }

    /// An act that must be accepted; its new state is kept.
    fn act(&mut self, actor: &Actor, act: Act) -> Decision {
        let name = act.name();
        let decision = self.attempt(actor, act).unwrap_or_else(|refusal| {
            panic!("{name} by {} was refused: {refusal}", actor.institution)
        });
        self.procedure = decision.procedure.clone();
        self.decisions.push(decision.clone());
        decision
    }

    /// An act that must be refused; the procedure stays as it was.
    fn refused(&mut self, actor: &Actor, act: Act) -> Refusal {
        let before = self.procedure.clone();
        let name = act.name();
        let refusal = self
            .attempt(actor, act)
            .err()
            .unwrap_or_else(|| panic!("{name} by {} was accepted", actor.institution));
        assert_eq!(self.procedure, before);
        refusal
    }

    fn advance(&mut self, to: &str) -> Decision {
        self.act(&coordinator(), advance(to))
    }

    fn record(&mut self, name: &str, value: &str) -> Decision {
        self.act(&coordinator(), record(name, value))
    }

    /// Follow the route of the workflow to `target`, recording what each stage requires and
    /// gathering the approvals, as the coordinator and the approving institutions would.
    fn walk_to(&mut self, target: &str) {
        while self.procedure.stage.as_str() != target {
            let next = match self.procedure.stage.as_str() {
                "assessment" => "legal-review",
                "legal-review" => {
                    self.record("compatibility_report", "MoJ compatibility report No. 17");
                    "interagency-consultation"
                }
                "interagency-consultation" => {
                    for who in ["mia", "prosecutor-general", "supreme-court"] {
                        self.act(&ministry(who), approve());
                    }
                    "request"
                }
                "request" => "consultation-of-parties",
                "consultation-of-parties" => "invitation",
                "invitation" => "parliament",
                // The law's real dates in the Kyrgyz case, unless the walk is earlier: then
                // today. Either way before a deposit on the case's date, as dates keep the route.
                "parliament" => {
                    let day = self.not_after_today("2023-12-20");
                    self.record("law_adopted_date", &day);
                    "signature-publication"
                }
                "signature-publication" => {
                    let day = self.not_after_today("2024-01-31");
                    self.record("law_signed_date", &day);
                    "deposit"
                }
                "deposit" => {
                    if !self.procedure.fields.contains_key(&field("deposit_date")) {
                        let today = self.local_today();
                        self.record("deposit_date", &today);
                    }
                    "awaiting-entry-into-force"
                }
                "awaiting-entry-into-force" => "party",
                "party" => "denounced",
                other => panic!("no route from `{other}` to `{target}`"),
            };
            self.advance(next);
        }
    }
}

fn timer<'a>(decision: &'a Decision, kind: TimerKind, rule: &str) -> &'a TimerSpec {
    decision
        .timers
        .set
        .iter()
        .find(|t| t.kind == kind && t.rule == rule)
        .unwrap_or_else(|| {
            panic!(
                "no {} timer `{rule}` in {:#?}",
                kind.as_str(),
                decision.timers
            )
        })
}

// Starting a procedure.

#[test]
fn starting_puts_the_procedure_on_assessment_at_version_one_with_one_start_event() {
    let now = instant("2024-01-10T05:00:00Z");
    let decision = start(ctx(), &opening(), &coordinator(), now).unwrap();
    let p = &decision.procedure;
    assert_eq!(p.stage, stage("assessment"));
    assert_eq!(p.version, Version(1));
    assert_eq!(p.status, Status::Active);
    assert_eq!(p.stage_entry, 1);
    assert_eq!(p.stage_entered_at, now);
    assert_eq!(p.last_sequence, 1);
    assert!(p.fields.is_empty() && p.approvals.is_empty());
    assert_eq!(p.key_dates, KeyDates::default());
    assert_eq!(p.workflow.id.as_str(), "coe-accession");
    assert_eq!(p.workflow.version, def().version);
    assert_eq!(p.workflow.hash, def().content_hash);

    assert_eq!(decision.events.len(), 1);
    let event = &decision.events[0];
    assert_eq!(event.sequence, 1);
    assert_eq!(event.command, "start");
    assert_eq!(event.at, now);
    assert_eq!(event.actor, coordinator());
    assert_eq!(event.from_stage, None);
    assert_eq!(event.to_stage, Some(stage("assessment")));
    assert_eq!(
        event.comment.as_deref(),
        Some("After the Strasbourg seminar")
    );
    assert_eq!(event.payload["workflow"]["id"], "coe-accession");
    assert_eq!(decision.approval, None);
}

#[test]
fn starting_sets_the_due_deadline_and_the_reminder_before_it_and_asks_the_mfa_to_act() {
    let decision = start(
        ctx(),
        &opening(),
        &coordinator(),
        instant("2024-01-10T05:00:00Z"),
    )
    .unwrap();
    // Assessment is due 30 days after the day it was entered.
    assert_eq!(decision.procedure.due_on, Some(date("2024-02-09")));
    assert!(decision.timers.cancel_pending);
    let kinds: Vec<(TimerKind, &str)> = decision
        .timers
        .set
        .iter()
        .map(|t| (t.kind, t.rule.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            (TimerKind::Reminder, "before_due 7 days"),
            (TimerKind::Deadline, "due")
        ]
    );
    for t in &decision.timers.set {
        assert_eq!(t.stage, stage("assessment"));
        assert_eq!(t.stage_entry, 1);
        assert_eq!(t.recipients, insts(&["mfa"]));
    }
    // Procedure, stage entry, the event that planned it, kind, rule, occurrence.
    assert_eq!(
        timer(&decision, TimerKind::Deadline, "due").dedupe_key,
        "kg-ets-112:1:1:deadline:due:0"
    );
    assert_eq!(
        decision.notifications,
        [Notification {
            kind: NotificationKind::ActionNeeded,
            recipient: inst("mfa"),
            dedupe_key: "kg-ets-112:1:action_needed:mfa".into(),
            facts: ProcedureFacts {
                procedure: decision.procedure.id.clone(),
                stage: stage("assessment"),
                stage_entry: Some(1),
                history_sequence: 1,
                due_on: Some(date("2024-02-09")),
                rule: None,
                deposited_on: None,
                entry_into_force: None,
            },
        }]
    );
}

#[test]
fn a_ministry_may_not_start_a_procedure_but_a_coordinator_may() {
    let now = instant("2024-01-10T05:00:00Z");
    let refusal = start(ctx(), &opening(), &ministry("mfa"), now).unwrap_err();
    assert!(
        matches!(&refusal, Refusal::NotAllowed { institution, .. } if institution == &inst("mfa")),
        "{refusal:?}"
    );
    assert!(start(ctx(), &opening(), &coordinator(), now).is_ok());
}

#[test]
fn an_auditor_is_refused_everything_as_read_only() {
    let now = instant("2024-01-10T05:00:00Z");
    assert_eq!(
        start(ctx(), &opening(), &auditor(), now),
        Err(Refusal::ReadOnly {
            role: Role::Auditor
        })
    );
    let mut walk = Walk::start_at("2024-01-10T05:00:00Z");
    for act in every_act() {
        assert_eq!(
            walk.refused(&auditor(), act),
            Refusal::ReadOnly {
                role: Role::Auditor
            }
        );
    }
    // Even at a stale version, or on a suspended procedure: reading is all an auditor does.
    walk.act(&coordinator(), suspend());
    let stale = Command {
        expected_version: Version(1),
        act: comment("noted"),
    };
    assert_eq!(
        decide(ctx(), &walk.procedure, &stale, &auditor(), walk.now),
        Err(Refusal::ReadOnly {
            role: Role::Auditor
        })
    );
}

#[test]
fn an_admin_runs_the_service_and_does_no_act_on_a_procedure() {
    let admin = Actor::new(inst("mfa"), Role::Admin, "Operations");
    let now = instant("2024-01-10T05:00:00Z");
    assert_eq!(
        start(ctx(), &opening(), &admin, now),
        Err(Refusal::Operator { role: Role::Admin })
    );
    let mut walk = Walk::start_at("2024-01-10T05:00:00Z");
    for act in every_act() {
        let refusal = walk.refused(&admin, act);
        assert_eq!(refusal, Refusal::Operator { role: Role::Admin });
        assert_eq!(refusal.kind(), "not-allowed");
    }
    // Suspend is what the workflow's `control.suspend = ["mfa"]` gives the coordinator: not the
    // admin, even of the coordinating institution.
    walk.act(&coordinator(), advance("legal-review"));
    assert_eq!(
        walk.refused(&admin, suspend()),
        Refusal::Operator { role: Role::Admin }
    );
}

#[test]
fn the_coordinator_role_at_an_institution_that_does_not_coordinate_is_refused() {
    let now = instant("2024-01-10T05:00:00Z");
    let bar = Actor::new(inst("bar-training-centre"), Role::Coordinator, "Bar");
    let refusal = start(ctx(), &opening(), &bar, now).unwrap_err();
    assert_eq!(
        refusal,
        Refusal::RoleNotHeld {
            role: Role::Coordinator,
            institution: inst("bar-training-centre"),
            coordinators: insts(&["mfa"]),
        }
    );
    assert_eq!(
        refusal.to_string(),
        "the coordinator role belongs to the coordinating institution (`mfa`), and \
         `bar-training-centre` is not one; its tokens need another role"
    );
    let mut walk = Walk::start_at("2024-01-10T05:00:00Z");
    walk.act(&coordinator(), advance("legal-review"));
    for act in every_act() {
        assert!(
            matches!(walk.refused(&bar, act), Refusal::RoleNotHeld { .. }),
            "a coordinator token at the bar's training centre acted"
        );
    }
    // The same institution as a ministry is simply not among those who may suspend.
    assert!(matches!(
        walk.refused(&ministry("bar-training-centre"), suspend()),
        Refusal::NotAllowed { .. }
    ));
}

#[test]
fn a_control_character_in_any_text_of_an_act_is_refused_naming_the_text() {
    let mut walk = Walk::start_at("2024-01-10T05:00:00Z");
    walk.act(&coordinator(), advance("legal-review"));
    let bad = || "a\u{0}b".to_string();
    let cases = [
        (
            Act::Advance {
                to: stage("interagency-consultation"),
                comment: Some(bad()),
            },
            "comment",
        ),
        (
            Act::Approve {
                comment: Some(bad()),
            },
            "comment",
        ),
        (
            Act::Record {
                field: field("compatibility_report"),
                value: "MoJ/2026/17".into(),
                comment: Some(bad()),
                source: None,
            },
            "comment",
        ),
        (Act::Comment { text: bad() }, "text"),
        (Act::Suspend { reason: bad() }, "reason"),
        (Act::Withdraw { reason: bad() }, "reason"),
    ];
    for (act, name) in cases {
        let refusal = walk.refused(&coordinator(), act);
        assert!(
            matches!(&refusal, Refusal::ControlCharacter { field, problem } if *field == name && problem.code == 0 && problem.position == 2),
            "{refusal:?}"
        );
        assert_eq!(refusal.kind(), "invalid-input");
    }
    // Even where the act would be refused for another reason (no approvals asked here, no report
    // recorded yet): the bad text is named first.
    let refusal = walk.refused(
        &ministry("moj"),
        Act::Advance {
            to: stage("interagency-consultation"),
            comment: Some("\u{1b}[2J".into()),
        },
    );
    assert!(
        matches!(&refusal, Refusal::ControlCharacter { field: "comment", problem } if problem.code == 0x1b),
        "{refusal:?}"
    );
    // A field's value is refused as that field's, whatever its type.
    for (name, value) in [
        ("compatibility_report", "MoJ\u{0}17"),
        ("deposit_date", "2024-04-22\u{0}"),
        ("compatibility_report", "MoJ/2026/17\u{7f}"),
        ("compatibility_report", "MoJ/2026/17\u{9b}"),
    ] {
        let refusal = walk.refused(&coordinator(), record(name, value));
        assert!(
            matches!(&refusal, Refusal::FieldInvalid { field: f, reason } if f == &field(name) && reason.contains("control character")),
            "{name} = {value:?}: {refusal:?}"
        );
    }
    // Resume and start carry a comment too.
    let mut suspended = Walk::start_at("2024-01-10T05:00:00Z");
    suspended.act(&coordinator(), suspend());
    assert!(matches!(
        suspended.refused(
            &coordinator(),
            Act::Resume {
                comment: Some(bad())
            }
        ),
        Refusal::ControlCharacter {
            field: "comment",
            ..
        }
    ));
    let mut opening = opening();
    opening.comment = Some(bad());
    assert!(matches!(
        start(
            ctx(),
            &opening,
            &coordinator(),
            instant("2024-01-10T05:00:00Z")
        ),
        Err(Refusal::ControlCharacter {
            field: "comment",
            ..
        })
    ));
    // A trailing control character is not trimmed away unseen.
    assert!(matches!(
        walk.refused(&coordinator(), comment("noted\u{b}")),
        Refusal::ControlCharacter { field: "text", .. }
    ));
}

#[test]
fn tabs_and_line_breaks_are_kept_and_crlf_becomes_a_line_feed() {
    let mut walk = Walk::start_at("2024-01-10T05:00:00Z");
    walk.act(&coordinator(), comment("first\tline\r\nsecond line\n"));
    let last = walk.decisions.last().unwrap().events.last().unwrap();
    assert_eq!(last.comment.as_deref(), Some("first\tline\nsecond line"));
}

// Advancing.

#[test]
fn the_responsible_ministry_may_advance_its_own_stage() {
    let mut walk = Walk::start_at("2024-01-10T05:00:00Z");
    let decision = walk.act(&ministry("mfa"), advance("legal-review"));
    assert_eq!(decision.procedure.stage, stage("legal-review"));
    assert_eq!(decision.procedure.version, Version(2));
    let event = &decision.events[0];
    assert_eq!((event.sequence, event.command.as_str()), (2, "advance"));
    assert_eq!(event.from_stage, Some(stage("assessment")));
    assert_eq!(event.to_stage, Some(stage("legal-review")));
    assert_eq!(decision.procedure.stage_entry, 2);
    assert_eq!(decision.procedure.stage_entered_at, walk.now);
}

#[test]
fn advancing_by_an_institution_the_transition_does_not_name_is_refused_with_the_allowed_ones() {
    let mut walk = Walk::start_at("2024-01-10T05:00:00Z");
    assert_eq!(
        walk.refused(&ministry("moj"), advance("legal-review")),
        Refusal::NotAllowed {
            institution: inst("moj"),
            act: "move the procedure from `assessment` to `legal-review`".into(),
            allowed: insts(&["mfa"]),
        }
    );
    walk.walk_to("interagency-consultation");
    for who in ["mia", "prosecutor-general", "supreme-court"] {
        walk.act(&ministry(who), approve());
    }
    let refusal = walk.refused(&ministry("embassy-france"), advance("request"));
    let Refusal::NotAllowed { allowed, .. } = refusal else {
        panic!("{refusal:?}");
    };
    assert_eq!(allowed, insts(&["moj", "mfa"]));
}

#[test]
fn advancing_to_a_stage_without_a_transition_is_refused_with_the_allowed_targets() {
    let mut walk = Walk::start_at("2024-01-10T05:00:00Z");
    assert_eq!(
        walk.refused(&coordinator(), advance("deposit")),
        Refusal::NoSuchTransition {
            from: stage("assessment"),
            to: stage("deposit"),
            allowed: vec![stage("legal-review")],
        }
    );
    walk.walk_to("interagency-consultation");
    assert_eq!(
        walk.refused(&coordinator(), advance("party")),
        Refusal::NoSuchTransition {
            from: stage("interagency-consultation"),
            to: stage("party"),
            allowed: vec![stage("request"), stage("legal-review")],
        }
    );
}

#[test]
fn leaving_legal_review_without_the_compatibility_report_is_refused() {
    let mut walk = Walk::start_at("2024-01-10T05:00:00Z");
    walk.advance("legal-review");
    assert_eq!(
        walk.refused(&ministry("moj"), advance("interagency-consultation")),
        Refusal::FieldsMissing {
            stage: stage("legal-review"),
            fields: vec![field("compatibility_report")],
        }
    );
    walk.act(
        &ministry("moj"),
        record("compatibility_report", "  MoJ report No. 17  "),
    );
    assert_eq!(
        walk.procedure.fields[&field("compatibility_report")],
        "MoJ report No. 17"
    );
    let decision = walk.act(&ministry("moj"), advance("interagency-consultation"));
    assert_eq!(decision.procedure.stage, stage("interagency-consultation"));
}

#[test]
fn leaving_interagency_consultation_needs_three_of_the_four_approvals() {
    let mut walk = Walk::start_at("2024-01-10T05:00:00Z");
    walk.walk_to("interagency-consultation");
    let entered = walk.procedure.stage_entry;
    assert_eq!(
        walk.refused(&ministry("moj"), advance("request")),
        Refusal::ApprovalsMissing {
            stage: stage("interagency-consultation"),
            needed: 3,
            have: 0,
            missing: insts(&["mia", "prosecutor-general", "supreme-court", "ombudsperson"]),
        }
    );
    let decision = walk.act(&ministry("mia"), approve());
    assert_eq!(
        decision.approval,
        Some(ApprovalRecord {
            stage: stage("interagency-consultation"),
            stage_entry: entered,
            institution: inst("mia"),
            at: walk.now,
            history_sequence: decision.events[0].sequence,
            comment: None,
        })
    );
    assert_eq!(decision.events[0].payload["complete"], false);
    walk.act(&ministry("ombudsperson"), approve());
    assert_eq!(
        walk.refused(&coordinator(), advance("request")),
        Refusal::ApprovalsMissing {
            stage: stage("interagency-consultation"),
            needed: 3,
            have: 2,
            missing: insts(&["prosecutor-general", "supreme-court"]),
        }
    );
    let third = walk.act(&ministry("supreme-court"), approve());
    assert_eq!(third.events[0].payload["complete"], true);
    let decision = walk.act(&ministry("moj"), advance("request"));
    assert_eq!(decision.procedure.stage, stage("request"));
    assert!(decision.procedure.approvals.is_empty());
    assert_eq!(
        decision.events[0].payload["approvals"],
        serde_json::json!(["mia", "ombudsperson", "supreme-court"])
    );
}

#[test]
fn approving_twice_is_refused() {
    let mut walk = Walk::start_at("2024-01-10T05:00:00Z");
    walk.walk_to("interagency-consultation");
    walk.act(&ministry("mia"), approve());
    assert_eq!(
        walk.refused(&ministry("mia"), approve()),
        Refusal::AlreadyApproved {
            institution: inst("mia"),
            stage: stage("interagency-consultation"),
        }
    );
}

#[test]
fn an_institution_that_is_not_an_approver_may_not_approve_not_even_the_coordinator() {
    let mut walk = Walk::start_at("2024-01-10T05:00:00Z");
    walk.walk_to("interagency-consultation");
    let approvers = insts(&["mia", "prosecutor-general", "supreme-court", "ombudsperson"]);
    for actor in [ministry("moj"), coordinator()] {
        assert_eq!(
            walk.refused(&actor, approve()),
            Refusal::NotAnApprover {
                institution: actor.institution.clone(),
                stage: stage("interagency-consultation"),
                approvers: approvers.clone(),
            }
        );
    }
}

#[test]
fn approving_a_stage_that_asks_for_no_approvals_is_refused() {
    let mut walk = Walk::start_at("2024-01-10T05:00:00Z");
    assert_eq!(
        walk.refused(&ministry("mia"), approve()),
        Refusal::NoApprovalsHere {
            stage: stage("assessment")
        }
    );
}

#[test]
fn sending_the_draft_back_to_legal_review_ignores_the_approvals() {
    let mut walk = Walk::start_at("2024-01-10T05:00:00Z");
    walk.walk_to("interagency-consultation");
    walk.act(&ministry("mia"), approve());
    let decision = walk.act(&ministry("moj"), advance("legal-review"));
    assert_eq!(decision.procedure.stage, stage("legal-review"));
    assert!(decision.procedure.approvals.is_empty());
    // The report recorded before still stands, and a new consultation starts from no approvals.
    walk.act(&ministry("moj"), advance("interagency-consultation"));
    assert!(walk.procedure.approvals.is_empty());
    walk.act(&ministry("mia"), approve());
    let refusal = walk.refused(&ministry("moj"), advance("request"));
    assert!(
        matches!(refusal, Refusal::ApprovalsMissing { have: 1, .. }),
        "{refusal:?}"
    );
}

#[test]
fn a_command_at_a_stale_version_is_refused_with_the_expected_and_actual_versions() {
    let mut walk = Walk::start_at("2024-01-10T05:00:00Z");
    walk.act(&coordinator(), comment("Seminar report circulated"));
    assert_eq!(walk.procedure.version, Version(2));
    for expected in [Version(1), Version(3)] {
        let cmd = Command {
            expected_version: expected,
            act: advance("legal-review"),
        };
        assert_eq!(
            decide(ctx(), &walk.procedure, &cmd, &coordinator(), walk.now),
            Err(Refusal::StaleVersion {
                expected,
                actual: Version(2),
            })
        );
    }
}

// Recording fields and the treaty dates.

#[test]
fn recording_the_deposit_date_computes_entry_into_force_by_the_convention_rule() {
    let mut walk = Walk::start_at("2024-05-01T05:00:00Z");
    walk.walk_to("deposit");
    let decision = walk.record("deposit_date", "2024-04-22");
    let dates = &decision.procedure.key_dates;
    assert_eq!(dates.deposited_on, Some(date("2024-04-22")));
    assert_eq!(dates.entry_into_force_computed, Some(date("2024-08-01")));
    assert_eq!(dates.entry_into_force(), Some(date("2024-08-01")));
    assert!(!dates.entry_into_force_differs());
    let event = &decision.events[0];
    assert_eq!(event.payload["entry_into_force_computed"], "2024-08-01");
    assert_eq!(event.payload["value"], "2024-04-22");
    let told: Vec<(NotificationKind, &str)> = decision
        .notifications
        .iter()
        .map(|n| (n.kind, n.recipient.as_str()))
        .collect();
    assert_eq!(
        told,
        [
            (NotificationKind::EntryIntoForce, "mfa"),
            (NotificationKind::EntryIntoForce, "embassy-france")
        ]
    );
    // The next stage is due on the day of entry into force, and waits for it: at the start of
    // that day in Bishkek Accession records it (no deadline passes: nobody is late).
    let decision = walk.advance("awaiting-entry-into-force");
    assert_eq!(decision.procedure.due_on, Some(date("2024-08-01")));
    assert_eq!(
        timer(&decision, TimerKind::EntryIntoForce, "entry-into-force").fire_at,
        instant("2024-07-31T18:00:00Z")
    );
    assert!(
        decision
            .timers
            .set
            .iter()
            .all(|t| t.kind != TimerKind::Deadline && t.kind != TimerKind::Escalation)
    );
}

#[test]
fn a_deposit_before_the_general_entry_into_force_takes_effect_on_the_general_date() {
    let mut walk = Walk::start_at("2024-05-01T05:00:00Z");
    let decision = walk.record("deposit_date", "1985-02-11");
    assert_eq!(
        decision.procedure.key_dates.entry_into_force_computed,
        Some(date("1985-07-01"))
    );
}

#[test]
fn recording_the_invitation_date_sets_its_expiry_five_years_on() {
    let mut walk = Walk::start_at("2024-05-01T05:00:00Z");
    walk.walk_to("invitation");
    let decision = walk.act(&ministry("mfa"), record("invitation_date", "2024-03-15"));
    assert_eq!(
        decision.procedure.key_dates.invited_on,
        Some(date("2024-03-15"))
    );
    assert_eq!(
        decision.procedure.key_dates.invitation_expires_on,
        Some(date("2029-03-16"))
    );
    // The invitation stage is due six months after it was entered, whatever the invitation says.
    assert_eq!(decision.procedure.due_on, walk.procedure.due_on);
    assert!(!decision.timers.cancel_pending && decision.timers.set.is_empty());
    let decision = walk.advance("parliament");
    assert_eq!(decision.procedure.due_on, Some(date("2029-03-16")));
}

#[test]
fn in_parliament_the_invitation_expiry_becomes_the_due_date_and_the_timers_are_replaced() {
    let mut walk = Walk::start_at("2024-05-01T05:00:00Z");
    walk.walk_to("parliament");
    // No invitation date yet: no due date, only the monthly reminder.
    assert_eq!(walk.procedure.due_on, None);
    // Parliament may not record the invitation: it belongs to the MFA's stage.
    assert_eq!(
        walk.refused(
            &ministry("jogorku-kenesh"),
            record("invitation_date", "2024-03-15")
        ),
        Refusal::NotAllowed {
            institution: inst("jogorku-kenesh"),
            act: "record `invitation_date` (it belongs to stage `invitation`)".into(),
            allowed: insts(&["mfa"]),
        }
    );
    let decision = walk.act(&ministry("mfa"), record("invitation_date", "2024-03-15"));
    assert_eq!(decision.procedure.due_on, Some(date("2029-03-16")));
    assert_eq!(decision.events[0].payload["due_on"], "2029-03-16");
    assert!(decision.timers.cancel_pending);
    let entry = decision.procedure.stage_entry;
    assert!(
        decision
            .timers
            .set
            .iter()
            .all(|t| t.stage == stage("parliament") && t.stage_entry == entry)
    );
    // The due day is over at midnight in Bishkek (UTC+6).
    assert_eq!(
        timer(&decision, TimerKind::Deadline, "due").fire_at,
        instant("2029-03-16T18:00:00Z")
    );
    assert_eq!(
        timer(&decision, TimerKind::Reminder, "before_due 6 months").fire_at,
        instant("2028-09-16T03:00:00Z")
    );
    let escalation = timer(&decision, TimerKind::Escalation, "after_due 1 day");
    assert_eq!(escalation.fire_at, instant("2029-03-17T03:00:00Z"));
    assert_eq!(
        escalation.recipients,
        insts(&["mfa", "presidential-administration", "jogorku-kenesh"])
    );
    // The monthly cron reminder: the 1st at 09:00 in Bishkek.
    let cron = timer(&decision, TimerKind::Reminder, "cron 0 9 1 * *");
    assert_eq!(cron.fire_at, instant("2024-06-01T03:00:00Z"));
}

#[test]
fn replanned_timers_never_reuse_the_keys_of_the_timers_they_replace() {
    // Timer keys are unique in the store, cancelled timers included: a timer planned again in the
    // same stage entry (a new treaty date, a resumption) needs a key of its own.
    let mut walk = Walk::start_at("2024-05-01T05:00:00Z");
    walk.walk_to("invitation");
    let entered = walk.advance("parliament");
    let first = walk.act(&ministry("mfa"), record("invitation_date", "2024-03-15"));
    let corrected = walk.act(&ministry("mfa"), record("invitation_date", "2024-03-14"));
    walk.act(&coordinator(), suspend());
    let resumed = walk.act(&coordinator(), resume());
    let mut keys = HashSet::new();
    for decision in [&entered, &first, &corrected, &resumed] {
        assert!(!decision.timers.set.is_empty());
        for t in &decision.timers.set {
            assert!(
                keys.insert(t.dedupe_key.clone()),
                "reused: {}",
                t.dedupe_key
            );
        }
    }
}

#[test]
fn a_recorded_entry_into_force_that_differs_from_the_computed_one_is_flagged() {
    let mut walk = Walk::start_at("2024-05-01T05:00:00Z");
    walk.walk_to("deposit");
    walk.record("deposit_date", "2024-04-22");
    walk.advance("awaiting-entry-into-force");
    // The date is recorded once it has passed.
    walk.now = instant("2024-09-10T05:00:00Z");
    // Not the rule's date: recorded as the depositary's own, with its source.
    let decision = walk.act(
        &coordinator(),
        Act::Record {
            field: field("entry_into_force_date"),
            value: "2024-09-01".into(),
            comment: None,
            source: Some("Treaty Office chart of signatures and ratifications".into()),
        },
    );
    let dates = &decision.procedure.key_dates;
    assert_eq!(dates.entry_into_force_computed, Some(date("2024-08-01")));
    assert_eq!(dates.entry_into_force_recorded, Some(date("2024-09-01")));
    assert!(dates.entry_into_force_differs());
    // The depositary's date is authoritative, for the key date and for the stage's due date.
    assert_eq!(dates.entry_into_force(), Some(date("2024-09-01")));
    assert_eq!(decision.procedure.due_on, Some(date("2024-09-01")));
    let decision = walk.record("entry_into_force_date", "2024-08-01");
    assert!(!decision.procedure.key_dates.entry_into_force_differs());
}

#[test]
fn entry_into_force_differs_only_when_both_dates_are_known_and_differ() {
    let computed = KeyDates {
        entry_into_force_computed: Some(date("2024-08-01")),
        ..KeyDates::default()
    };
    assert!(!computed.entry_into_force_differs());
    assert!(!KeyDates::default().entry_into_force_differs());
    let same = KeyDates {
        entry_into_force_recorded: Some(date("2024-08-01")),
        ..computed.clone()
    };
    assert!(!same.entry_into_force_differs());
    let other = KeyDates {
        entry_into_force_recorded: Some(date("2024-07-01")),
        ..computed
    };
    assert!(other.entry_into_force_differs());
    assert_eq!(other.entry_into_force(), Some(date("2024-07-01")));
}

#[test]
fn a_date_in_the_future_is_refused() {
    let mut walk = Walk::start_at("2024-05-01T05:00:00Z");
    walk.walk_to("deposit");
    let tomorrow = (walk.now + TimeDelta::days(2))
        .with_timezone(&Bishkek)
        .date_naive()
        .to_string();
    let refusal = walk.refused(&coordinator(), record("deposit_date", &tomorrow));
    let Refusal::FieldInvalid { field: f, reason } = refusal else {
        panic!("{refusal:?}");
    };
    assert_eq!(f, field("deposit_date"));
    assert!(reason.contains("in the future"), "{reason}");
}

#[test]
fn today_is_the_day_in_bishkek() {
    let walk = Walk::start_at("2024-04-01T05:00:00Z");
    let record_at = |value: &str, now: &str| {
        let cmd = walk.command(record("request_date", value));
        decide(ctx(), &walk.procedure, &cmd, &coordinator(), instant(now))
    };
    // 2024-04-30T18:30Z is already 1 May, 00:30, in Bishkek.
    assert!(record_at("2024-05-01", "2024-04-30T18:30:00Z").is_ok());
    assert!(record_at("2024-05-01", "2024-04-30T17:30:00Z").is_err());
}

#[test]
fn a_date_not_written_yyyy_mm_dd_is_refused() {
    let mut walk = Walk::start_at("2024-05-01T05:00:00Z");
    for value in [
        "22.04.2024",
        "2024/04/22",
        "2024-02-30",
        "2024-13-01",
        "20240422",
        "22 April 2024",
        "yesterday",
        "",
        // Short or signed forms that a lenient parser would read as some date.
        "2024-4-22",
        "2024-04-2",
        "+2024-04-22",
        "-0001-01-01",
        "2024-04-22T00:00",
    ] {
        let refusal = walk.refused(&coordinator(), record("deposit_date", value));
        let Refusal::FieldInvalid { field: f, .. } = &refusal else {
            panic!("{value:?}: {refusal:?}");
        };
        assert_eq!(f, &field("deposit_date"), "{value:?}");
    }
    // Spaces around a well-written date are forgiven.
    let decision = walk.record("deposit_date", " 2024-04-22 ");
    assert_eq!(
        decision.procedure.fields[&field("deposit_date")],
        "2024-04-22"
    );
}

#[test]
fn recording_a_field_the_workflow_does_not_declare_is_refused_with_the_known_ones() {
    let mut walk = Walk::start_at("2024-05-01T05:00:00Z");
    let refusal = walk.refused(&coordinator(), record("ratification_date", "2024-04-22"));
    let Refusal::UnknownField { field: f, known } = refusal else {
        panic!("{refusal:?}");
    };
    assert_eq!(f, field("ratification_date"));
    assert!(known.contains(&field("deposit_date")));
    assert!(known.contains(&field("compatibility_report")));
}

#[test]
fn a_document_reference_is_one_line_and_not_empty() {
    let mut walk = Walk::start_at("2024-05-01T05:00:00Z");
    for value in ["", "   ", "No. 17\nNo. 18"] {
        let refusal = walk.refused(&coordinator(), record("compatibility_report", value));
        assert!(
            matches!(refusal, Refusal::FieldInvalid { .. }),
            "{value:?}: {refusal:?}"
        );
    }
}

// Suspending, withdrawing, completing.

#[test]
fn a_suspended_procedure_accepts_only_resume_comment_and_withdraw() {
    let mut walk = Walk::start_at("2024-01-10T05:00:00Z");
    assert_eq!(
        walk.refused(&ministry("moj"), suspend()),
        Refusal::NotAllowed {
            institution: inst("moj"),
            act: "suspend the procedure".into(),
            allowed: insts(&["mfa"]),
        }
    );
    let decision = walk.act(&ministry("mfa"), suspend());
    assert_eq!(decision.procedure.status, Status::Suspended);
    assert!(decision.timers.cancel_pending && decision.timers.set.is_empty());
    for act in [
        advance("legal-review"),
        approve(),
        record("request_date", "2024-01-05"),
        suspend(),
    ] {
        assert_eq!(walk.refused(&coordinator(), act), Refusal::Suspended);
    }
    // Withdrawing needs no resumption first (which would re-plan timers only to cancel them).
    let mut other = walk.clone();
    let withdrawn = other.act(&coordinator(), withdraw());
    assert_eq!(withdrawn.procedure.status, Status::Withdrawn);
    let decision = walk.act(&ministry("moj"), comment("We are waiting too"));
    assert_eq!(decision.procedure.status, Status::Suspended);
    let decision = walk.act(&coordinator(), resume());
    assert_eq!(decision.procedure.status, Status::Active);
    assert_eq!(decision.procedure.stage, stage("assessment"));
}

#[test]
fn resuming_runs_the_stage_period_again_from_the_day_of_resumption() {
    let mut walk = Walk::start_at("2024-01-10T05:00:00Z");
    walk.act(&coordinator(), suspend());
    walk.now = instant("2024-03-01T05:00:00Z");
    let decision = walk.act(&coordinator(), resume());
    // Resumed on 2 March: 30 days later.
    assert_eq!(decision.procedure.due_on, Some(date("2024-04-01")));
    assert_eq!(decision.events[0].payload["due_on"], "2024-04-01");
    assert!(decision.timers.cancel_pending);
    assert_eq!(
        timer(&decision, TimerKind::Deadline, "due").fire_at,
        instant("2024-04-01T18:00:00Z")
    );
    // The stage entry is the same one: approvals given before the suspension would stand.
    assert_eq!(decision.procedure.stage_entry, 1);
}

#[test]
fn an_institution_the_workflow_does_not_name_may_not_comment() {
    let mut walk = Walk::start_at("2024-01-10T05:00:00Z");
    let refusal = walk.refused(&ministry("bishkek-district-court"), comment("Hello"));
    assert!(
        matches!(&refusal, Refusal::NotAllowed { institution, allowed, .. }
            if institution == &inst("bishkek-district-court") && allowed.contains(&inst("moj"))),
        "{refusal:?}"
    );
    assert_eq!(
        walk.refused(&coordinator(), comment("   ")),
        Refusal::Empty { what: "a comment" }
    );
    let decision = walk.act(
        &ministry("ombudsperson"),
        comment("We will give an opinion"),
    );
    assert_eq!(
        decision.events[0].comment.as_deref(),
        Some("We will give an opinion")
    );
    assert_eq!(decision.procedure.stage, stage("assessment"));
}

#[test]
fn resuming_an_active_procedure_is_refused() {
    let mut walk = Walk::start_at("2024-01-10T05:00:00Z");
    assert_eq!(
        walk.refused(&coordinator(), resume()),
        Refusal::NotSuspended
    );
}

#[test]
fn a_withdrawn_procedure_refuses_everything_as_closed() {
    let mut walk = Walk::start_at("2024-01-10T05:00:00Z");
    assert!(matches!(
        walk.refused(&ministry("moj"), withdraw()),
        Refusal::NotAllowed { .. }
    ));
    assert_eq!(
        walk.refused(
            &coordinator(),
            Act::Withdraw {
                reason: "  ".into()
            }
        ),
        Refusal::Empty {
            what: "the reason for withdrawing"
        }
    );
    let decision = walk.act(&coordinator(), withdraw());
    assert_eq!(decision.procedure.status, Status::Withdrawn);
    assert_eq!(decision.procedure.due_on, None);
    assert!(decision.timers.cancel_pending && decision.timers.set.is_empty());
    for act in every_act() {
        assert_eq!(
            walk.refused(&coordinator(), act),
            Refusal::Closed {
                status: Status::Withdrawn
            }
        );
    }
}

#[test]
fn reaching_the_terminal_stage_denounced_completes_the_procedure() {
    let mut walk = Walk::start_at("2024-05-01T05:00:00Z");
    walk.walk_to("party");
    assert_eq!(walk.procedure.status, Status::Active);
    let decision = walk.advance("denounced");
    assert_eq!(decision.procedure.stage, stage("denounced"));
    assert_eq!(decision.procedure.status, Status::Completed);
    assert_eq!(decision.procedure.due_on, None);
    assert!(decision.timers.cancel_pending && decision.timers.set.is_empty());
    assert_eq!(
        decision
            .notifications
            .iter()
            .map(|n| (n.kind, n.recipient.as_str()))
            .collect::<Vec<_>>(),
        [(NotificationKind::ProcedureCompleted, "mfa")]
    );
    for act in every_act() {
        assert_eq!(
            walk.refused(&coordinator(), act),
            Refusal::Closed {
                status: Status::Completed
            }
        );
    }
}

// Timers.

#[test]
fn timers_fire_at_local_times_in_bishkek() {
    // 2024-01-10T05:00Z is 11:00 in Bishkek: 30 days later is 9 February, a day that is over at
    // midnight in Bishkek, 18:00 UTC; the reminder 7 days before goes out at 09:00 local.
    let decision = start(
        ctx(),
        &opening(),
        &coordinator(),
        instant("2024-01-10T05:00:00Z"),
    )
    .unwrap();
    assert_eq!(decision.procedure.due_on, Some(date("2024-02-09")));
    let deadline = timer(&decision, TimerKind::Deadline, "due");
    assert_eq!(deadline.fire_at, instant("2024-02-10T00:00:00+06:00"));
    assert_eq!(deadline.fire_at, instant("2024-02-09T18:00:00Z"));
    assert_eq!(
        timer(&decision, TimerKind::Reminder, "before_due 7 days").fire_at,
        instant("2024-02-02T03:00:00Z")
    );
    // 19:30 UTC on 9 January is already 10 January in Bishkek: the same due date.
    let late = start(
        ctx(),
        &opening(),
        &coordinator(),
        instant("2024-01-09T19:30:00Z"),
    )
    .unwrap();
    assert_eq!(late.procedure.due_on, Some(date("2024-02-09")));
}

#[test]
fn a_stage_the_embassy_leads_runs_on_paris_time() {
    // The consultation of the Parties is the embassy's: its ten weeks are counted in Paris days,
    // its deadline is midnight in Paris and its reminder 09:00 in Paris.
    let mut walk = Walk::start_at("2024-01-10T05:00:00Z");
    walk.walk_to("request");
    let decision = walk.advance("consultation-of-parties");
    // Entered on 2024-01-18T05:00Z (06:00 in Paris, 11:00 in Bishkek): due ten weeks later.
    assert_eq!(walk.now, instant("2024-01-18T05:00:00Z"));
    assert_eq!(decision.procedure.due_on, Some(date("2024-03-28")));
    assert_eq!(
        timer(&decision, TimerKind::Deadline, "due").fire_at,
        instant("2024-03-29T00:00:00+01:00")
    );
    assert_eq!(
        timer(&decision, TimerKind::Reminder, "before_due 7 days").fire_at,
        instant("2024-03-21T09:00:00+01:00")
    );
    // The escalation, 14 days after, is after the change to summer time (31 March): 09:00 CEST.
    assert_eq!(
        timer(&decision, TimerKind::Escalation, "after_due 14 days").fire_at,
        instant("2024-04-11T09:00:00+02:00")
    );
    // The deadline also tells the coordinator.
    assert_eq!(
        timer(&decision, TimerKind::Deadline, "due").recipients,
        insts(&["embassy-france", "mfa"])
    );
}

fn due(timer: &TimerSpec) -> DueTimer {
    DueTimer {
        dedupe_key: timer.dedupe_key.clone(),
        stage: timer.stage.clone(),
        stage_entry: timer.stage_entry,
        kind: timer.kind,
        rule: timer.rule.clone(),
        occurrence: timer.occurrence,
        fire_at: timer.fire_at,
        recipients: timer.recipients.clone(),
    }
}

/// A procedure that entered the stage waiting for entry into force before Accession planned an
/// entry-into-force timer holds the deadline and escalation planned then: the deadline records
/// the entry into force and moves on, the escalation is dropped (nobody is late).
#[test]
fn a_deadline_planned_before_the_entry_into_force_timer_does_its_work() {
    let mut walk = Walk::start_at("2024-05-01T05:00:00Z");
    walk.walk_to("deposit");
    walk.record("deposit_date", "2024-04-22");
    let entered = walk.advance("awaiting-entry-into-force");
    let planned = timer(&entered, TimerKind::EntryIntoForce, "entry-into-force");
    // The timers an earlier version planned for the same stage entry.
    let legacy = |kind, rule: &str| DueTimer {
        kind,
        rule: rule.into(),
        dedupe_key: format!("{}:legacy:{rule}", planned.dedupe_key),
        fire_at: instant("2024-08-01T18:00:00Z"),
        ..due(planned)
    };
    let deadline = legacy(TimerKind::Deadline, "due");
    let fired = fire(ctx(), &walk.procedure, &deadline, deadline.fire_at).unwrap();
    assert_eq!(fired.events[0].command, "entry_into_force");
    assert_eq!(fired.events[0].payload["entry_into_force"], "2024-08-01");
    assert_ne!(fired.procedure.stage, walk.procedure.stage, "it moved on");
    assert_eq!(
        fired.timers.fired.as_deref(),
        Some(deadline.dedupe_key.as_str())
    );
    let escalation = legacy(TimerKind::Escalation, "after_due 7 days");
    assert!(matches!(
        fire(ctx(), &walk.procedure, &escalation, escalation.fire_at),
        Err(Refusal::TimerOutdated { .. })
    ));
}

#[test]
fn firing_a_cron_reminder_records_it_emails_the_responsible_and_sets_the_next_one_after_now() {
    let mut walk = Walk::start_at("2024-01-10T05:00:00Z");
    let entered = walk.advance("legal-review");
    let weekly = due(timer(&entered, TimerKind::Reminder, "cron 0 9 * * 1"));
    assert_eq!(weekly.fire_at, instant("2024-01-15T03:00:00Z"));
    // Fired three weeks late (the service was down): one reminder, and the next one is the first
    // Monday after now, not the missed ones.
    let now = instant("2024-02-06T10:00:00Z");
    let fired = fire(ctx(), &walk.procedure, &weekly, now).unwrap();
    assert_eq!(fired.procedure.version, walk.procedure.version.next());
    assert_eq!(fired.events.len(), 1);
    assert_eq!(fired.events[0].command, "reminder");
    assert_eq!(fired.events[0].actor, Actor::system());
    assert_eq!(
        fired.timers.fired.as_deref(),
        Some(weekly.dedupe_key.as_str())
    );
    assert!(!fired.timers.cancel_pending);
    assert_eq!(fired.timers.set.len(), 1);
    let next = &fired.timers.set[0];
    assert_eq!(next.fire_at, instant("2024-02-12T03:00:00Z"));
    assert_eq!(next.occurrence, 1);
    assert!(next.dedupe_key.ends_with(":1") && next.dedupe_key != weekly.dedupe_key);
    let to: Vec<_> = fired
        .notifications
        .iter()
        .map(|n| n.recipient.clone())
        .collect();
    assert_eq!(to, insts(&["moj"]));
    assert_eq!(fired.notifications[0].kind, NotificationKind::Reminder);
}

#[test]
fn a_deadline_or_escalation_fires_once_with_no_successor() {
    let mut walk = Walk::start_at("2024-01-10T05:00:00Z");
    let entered = walk.advance("legal-review");
    let escalation = due(timer(&entered, TimerKind::Escalation, "after_due 7 days"));
    let fired = fire(ctx(), &walk.procedure, &escalation, escalation.fire_at).unwrap();
    assert!(fired.timers.set.is_empty());
    let mut to: Vec<_> = fired
        .notifications
        .iter()
        .map(|n| n.recipient.clone())
        .collect();
    to.sort();
    assert_eq!(to, insts(&["mfa", "moj"]));
    assert!(
        fired
            .notifications
            .iter()
            .all(|n| n.kind == NotificationKind::Escalation)
    );
}

#[test]
fn a_stage_whose_treaty_date_has_already_passed_fires_its_deadline_and_escalation_at_once() {
    let mut walk = Walk::start_at("2024-01-10T05:00:00Z");
    walk.walk_to("parliament");
    // An invitation of 2015 expired in 2020: the parliament stage is due on a day long past
    // (valid five years from the day after the decision, as the Council of Europe counts).
    let decision = walk.record("invitation_date", "2015-01-05");
    assert_eq!(decision.procedure.due_on, Some(date("2020-01-06")));
    let now = walk.now;
    assert_eq!(timer(&decision, TimerKind::Deadline, "due").fire_at, now);
    assert_eq!(
        timer(&decision, TimerKind::Escalation, "after_due 1 day").fire_at,
        now
    );
    // The reminder six months before is pointless now; the monthly one still lies ahead.
    assert!(
        decision
            .timers
            .set
            .iter()
            .all(|t| t.rule != "before_due 6 months")
    );
    assert!(timer(&decision, TimerKind::Reminder, "cron 0 9 1 * *").fire_at > now);
}

#[test]
fn a_reminder_before_the_due_day_found_after_it_is_dropped() {
    let mut walk = Walk::start_at("2024-01-10T05:00:00Z");
    let entered = walk.advance("legal-review");
    let before = due(timer(&entered, TimerKind::Reminder, "before_due 14 days"));
    // The scheduler comes back after the due day (2024-07-11) is over.
    let refusal = fire(
        ctx(),
        &walk.procedure,
        &before,
        instant("2024-07-12T03:00:00Z"),
    )
    .unwrap_err();
    assert_eq!(refusal.kind(), "timer-outdated");
    // Late but before the due day is over, it still goes.
    assert!(
        fire(
            ctx(),
            &walk.procedure,
            &before,
            instant("2024-07-10T03:00:00Z")
        )
        .is_ok()
    );
}

#[test]
fn a_timer_of_a_stage_already_left_is_refused_as_outdated() {
    let mut walk = Walk::start_at("2024-01-10T05:00:00Z");
    let entered = walk.advance("legal-review");
    let deadline = due(timer(&entered, TimerKind::Deadline, "due"));
    walk.walk_to("interagency-consultation");
    let refusal = fire(ctx(), &walk.procedure, &deadline, deadline.fire_at).unwrap_err();
    assert_eq!(refusal.kind(), "timer-outdated");
}

#[test]
fn legal_review_sets_a_weekly_reminder_a_reminder_before_due_and_an_escalation_to_the_mfa() {
    let mut walk = Walk::start_at("2024-01-10T05:00:00Z");
    // Entered on Thursday 11 January, 11:00 in Bishkek.
    let decision = walk.advance("legal-review");
    assert_eq!(decision.procedure.due_on, Some(date("2024-07-11")));
    let rules: Vec<&str> = decision
        .timers
        .set
        .iter()
        .map(|t| t.rule.as_str())
        .collect();
    assert_eq!(
        rules,
        [
            "cron 0 9 * * 1",
            "before_due 14 days",
            "due",
            "after_due 7 days"
        ]
    );
    assert_eq!(
        timer(&decision, TimerKind::Reminder, "cron 0 9 * * 1").fire_at,
        instant("2024-01-15T03:00:00Z")
    );
    assert_eq!(
        timer(&decision, TimerKind::Reminder, "before_due 14 days").fire_at,
        instant("2024-06-27T03:00:00Z")
    );
    assert_eq!(
        timer(&decision, TimerKind::Deadline, "due").fire_at,
        instant("2024-07-11T18:00:00Z")
    );
    let escalation = timer(&decision, TimerKind::Escalation, "after_due 7 days");
    assert_eq!(escalation.fire_at, instant("2024-07-18T03:00:00Z"));
    assert_eq!(escalation.recipients, insts(&["mfa", "moj"]));
    assert_eq!(
        decision.notifications[0].kind,
        NotificationKind::ActionNeeded
    );
    assert_eq!(decision.notifications[0].recipient, inst("moj"));
}

#[test]
fn interagency_consultation_asks_each_approver_for_an_approval() {
    let mut walk = Walk::start_at("2024-01-10T05:00:00Z");
    walk.walk_to("legal-review");
    walk.record("compatibility_report", "MoJ report No. 17");
    let decision = walk.advance("interagency-consultation");
    let asked: Vec<&str> = decision
        .notifications
        .iter()
        .filter(|n| n.kind == NotificationKind::ApprovalRequested)
        .map(|n| n.recipient.as_str())
        .collect();
    assert_eq!(
        asked,
        ["mia", "prosecutor-general", "supreme-court", "ombudsperson"]
    );
}

mod properties {
    //! Random sequences of commands by random actors: whatever is asked, the engine keeps the
    //! procedure on the definition's graph with a gap-free history, and decides the same way twice.

    use proptest::prelude::*;
    use proptest::sample::{Index, select};

    use super::*;

    /// The procedure starts at this instant; each command comes a day after the one before.
    const BASE: &str = "2024-01-10T05:00:00Z";

    /// Where the random commands begin: on a fresh procedure, or on one walked along the route to
    /// any stage (random commands alone rarely get past the consultation between institutions).
    fn beginning() -> impl Strategy<Value = StageId> {
        let stages: Vec<StageId> = def().stages.iter().map(|s| s.id.clone()).collect();
        prop_oneof![Just(stage("assessment")), select(stages)]
    }

    #[derive(Debug, Clone)]
    enum Target {
        /// Any stage of the workflow, allowed or not.
        Any(StageId),
        /// One of the transitions out of the current stage, to get deep into the route.
        Onward(Index),
    }

    #[derive(Debug, Clone)]
    enum FieldChoice {
        Any(FieldName),
        OfCurrentStage(Index),
    }

    #[derive(Debug, Clone)]
    enum Value {
        /// A date this many days from the day of the command in Bishkek.
        Date(i64),
        Written(&'static str),
    }

    #[derive(Debug, Clone)]
    enum Step {
        Advance(Target),
        Approve,
        Record(FieldChoice, Value),
        Comment(&'static str),
        Suspend(&'static str),
        Resume,
        Withdraw(&'static str),
    }

    #[derive(Debug, Clone)]
    enum Who {
        /// Anyone: an institution of the workflow (or one it does not name), in any role.
        Anyone(Actor),
        /// A ministry the act concerns: an approver of the stage, an institution the transition
        /// names, the owner of the field, the institutions that control the procedure.
        Concerned(Index),
    }

    #[derive(Debug, Clone)]
    struct Move {
        step: Step,
        who: Who,
        /// How far the expected version is from the current one.
        skew: i64,
    }

    impl Move {
        fn actor(&self, current: &ProcedureState, act: &Act) -> Actor {
            let index = match &self.who {
                Who::Anyone(actor) => return actor.clone(),
                Who::Concerned(index) => index,
            };
            let def = def();
            let here = def.stage(&current.stage).expect("a defined stage");
            let candidates = match act {
                Act::Advance { to, .. } => def
                    .transition(&current.stage, to)
                    .map(|t| t.by.clone())
                    .unwrap_or_else(|| here.responsible.clone()),
                Act::Approve { .. } | Act::Decline { .. } => here
                    .approvals
                    .as_ref()
                    .map(|rule| rule.of.clone())
                    .unwrap_or_else(|| here.responsible.clone()),
                Act::Record { field, .. } => def
                    .field(field)
                    .map(|(owner, _)| owner.responsible.clone())
                    .unwrap_or_else(|| here.responsible.clone()),
                Act::Suspend { .. } | Act::Resume { .. } => def.control.suspend.clone(),
                Act::Withdraw { .. } => def.control.withdraw.clone(),
                Act::Comment { .. }
                | Act::ExtendDeadline { .. }
                | Act::RaiseObjection { .. }
                | Act::WithdrawObjection { .. } => here.responsible.clone(),
                Act::ExtendInvitation { .. } => def
                    .stage(&stage("invitation"))
                    .map(|s| s.responsible.clone())
                    .unwrap_or_else(|| here.responsible.clone()),
                Act::Reserve { .. }
                | Act::RenewReservation { .. }
                | Act::ModifyReservation { .. }
                | Act::WithdrawReservation { .. } => def
                    .stage(&stage("deposit"))
                    .map(|s| s.responsible.clone())
                    .unwrap_or_else(|| here.responsible.clone()),
            };
            ministry(candidates[index.index(candidates.len())].as_str())
        }

        fn act(&self, current: &ProcedureState, today: NaiveDate) -> Act {
            let def = def();
            match &self.step {
                Step::Advance(target) => {
                    let to = match target {
                        Target::Any(to) => to.clone(),
                        Target::Onward(index) => {
                            let onward: Vec<&StageId> = def
                                .transitions_from(&current.stage)
                                .map(|t| &t.to)
                                .collect();
                            if onward.is_empty() {
                                current.stage.clone()
                            } else {
                                onward[index.index(onward.len())].clone()
                            }
                        }
                    };
                    Act::Advance { to, comment: None }
                }
                Step::Approve => Act::Approve { comment: None },
                Step::Record(choice, value) => {
                    let field = match choice {
                        FieldChoice::Any(name) => name.clone(),
                        FieldChoice::OfCurrentStage(index) => {
                            let here = &def.stage(&current.stage).expect("a defined stage").fields;
                            if here.is_empty() {
                                field("compatibility_report")
                            } else {
                                here[index.index(here.len())].name.clone()
                            }
                        }
                    };
                    let value = match value {
                        Value::Date(days) => (today + TimeDelta::days(*days)).to_string(),
                        Value::Written(text) => (*text).to_string(),
                    };
                    Act::Record {
                        field,
                        value,
                        comment: None,
                        source: None,
                    }
                }
                Step::Comment(text) => Act::Comment {
                    text: (*text).into(),
                },
                Step::Suspend(reason) => Act::Suspend {
                    reason: (*reason).into(),
                },
                Step::Resume => Act::Resume { comment: None },
                Step::Withdraw(reason) => Act::Withdraw {
                    reason: (*reason).into(),
                },
            }
        }
    }

    const TEXTS: &[&str] = &[
        "MoJ compatibility report No. 17",
        "Erkin Too, 2024, No. 12",
        "",
        "   ",
        "first line\nsecond line",
        "first line\r\nsecond line",
        "tab\tinside",
        "nul\u{0}inside",
        "escape\u{1b}[31m red",
        "next line\u{85}",
    ];

    const MALFORMED_DATES: &[&str] = &[
        "22.04.2024",
        "2024-02-30",
        "2024/04/22",
        "2024-13-01",
        "2024-4-22",
        "2024-04-2",
        "yesterday",
    ];

    fn who() -> impl Strategy<Value = Who> {
        prop_oneof![
            anyone().prop_map(Who::Anyone),
            any::<Index>().prop_map(Who::Concerned),
        ]
    }

    fn anyone() -> impl Strategy<Value = Actor> {
        let mut institutions: Vec<InstitutionId> =
            def().institutions().into_iter().cloned().collect();
        // One institution the workflow does not name at all.
        institutions.push(inst("bishkek-district-court"));
        let role = prop_oneof![
            6 => Just(Role::Ministry),
            3 => Just(Role::Coordinator),
            1 => Just(Role::Auditor),
            1 => Just(Role::Admin),
        ];
        (select(institutions), role).prop_map(|(institution, role)| {
            let name = format!("{role} at {institution}");
            Actor::new(institution, role, name)
        })
    }

    fn value() -> impl Strategy<Value = Value> {
        prop_oneof![
            5 => (-4000i64..=0).prop_map(Value::Date),
            1 => (1i64..400).prop_map(Value::Date),
            2 => select(MALFORMED_DATES).prop_map(Value::Written),
            2 => select(TEXTS).prop_map(Value::Written),
        ]
    }

    fn step() -> impl Strategy<Value = Step> {
        let stages: Vec<StageId> = def().stages.iter().map(|s| s.id.clone()).collect();
        let mut fields: Vec<FieldName> = def()
            .stages
            .iter()
            .flat_map(|s| s.fields.iter().map(|f| f.name.clone()))
            .collect();
        fields.push(field("ratification_date"));
        let target = prop_oneof![
            1 => select(stages).prop_map(Target::Any),
            3 => any::<Index>().prop_map(Target::Onward),
        ];
        let choice = prop_oneof![
            1 => select(fields).prop_map(FieldChoice::Any),
            2 => any::<Index>().prop_map(FieldChoice::OfCurrentStage),
        ];
        prop_oneof![
            10 => target.prop_map(Step::Advance),
            6 => Just(Step::Approve),
            6 => (choice, value()).prop_map(|(c, v)| Step::Record(c, v)),
            1 => select(TEXTS).prop_map(Step::Comment),
            1 => select(TEXTS).prop_map(Step::Suspend),
            3 => Just(Step::Resume),
            1 => select(TEXTS).prop_map(Step::Withdraw),
        ]
    }

    fn moves() -> impl Strategy<Value = Vec<Move>> {
        let skew = prop_oneof![
            12 => Just(0i64),
            1 => -3i64..=-1,
            1 => 1i64..=3,
        ];
        prop::collection::vec(
            (step(), who(), skew).prop_map(|(step, who, skew)| Move { step, who, skew }),
            1..40,
        )
    }

    /// Keys the store keeps unique over the whole life of a procedure.
    #[derive(Default)]
    struct Keys {
        timers: HashSet<String>,
        notifications: HashSet<String>,
    }

    impl Keys {
        fn fresh(&mut self, decision: &Decision) -> Result<(), TestCaseError> {
            for t in &decision.timers.set {
                prop_assert!(
                    self.timers.insert(t.dedupe_key.clone()),
                    "timer key used twice: {}",
                    t.dedupe_key
                );
            }
            for n in &decision.notifications {
                prop_assert!(
                    self.notifications.insert(n.dedupe_key.clone()),
                    "notification key used twice: {}",
                    n.dedupe_key
                );
            }
            Ok(())
        }
    }

    /// What holds of every procedure state, however it was reached.
    fn check_state(p: &ProcedureState, now: DateTime<Utc>) -> Result<(), TestCaseError> {
        let def = def();
        let Some(here) = def.stage(&p.stage) else {
            return Err(TestCaseError::fail(format!(
                "stage `{}` is not defined",
                p.stage
            )));
        };
        prop_assert_eq!(p.status == Status::Completed, here.terminal);
        if p.status.is_closed() {
            prop_assert_eq!(p.due_on, None);
        }
        let approvers = here
            .approvals
            .as_ref()
            .map(|r| r.of.clone())
            .unwrap_or_default();
        prop_assert!(p.approvals.keys().all(|i| approvers.contains(i)));
        let today = now.with_timezone(&Bishkek).date_naive();
        for (name, value) in &p.fields {
            let Some((_, spec)) = def.field(name) else {
                return Err(TestCaseError::fail(format!("undeclared field `{name}`")));
            };
            if spec.kind == crate::workflow::FieldKind::Date {
                let recorded = NaiveDate::parse_from_str(value, "%Y-%m-%d");
                prop_assert!(recorded.is_ok_and(|d| d <= today && d.to_string() == *value));
            } else {
                prop_assert!(!value.trim().is_empty());
            }
        }
        let rules = ets_112();
        let k = &p.key_dates;
        prop_assert_eq!(
            k.entry_into_force_computed,
            k.deposited_on.and_then(|d| rules
                .entry_into_force
                .entry_into_force(d, rules.general_entry_into_force))
        );
        prop_assert_eq!(
            k.invitation_expires_on,
            k.invited_on.and_then(|d| rules
                .invitation_validity
                .and_then(|v| v.invitation_valid_until(d)))
        );
        Ok(())
    }

    /// What holds of every accepted command.
    fn check_accepted(
        before: &ProcedureState,
        act: &Act,
        actor: &Actor,
        now: DateTime<Utc>,
        decision: &Decision,
    ) -> Result<(), TestCaseError> {
        let def = def();
        let p = &decision.procedure;
        prop_assert_eq!(p.version, before.version.next());
        prop_assert_eq!(p.id.clone(), before.id.clone());
        // A gap-free history: the next sequences, in order, and the procedure points at the last.
        prop_assert!(!decision.events.is_empty());
        for (i, event) in decision.events.iter().enumerate() {
            prop_assert_eq!(event.sequence, before.last_sequence + 1 + i as i64);
            prop_assert_eq!(event.at, now);
            prop_assert_eq!(&event.actor, actor);
            prop_assert_eq!(event.command.as_str(), act.name());
            let (from, to) = (event.from_stage.as_ref(), event.to_stage.as_ref());
            prop_assert_eq!(from, Some(&before.stage));
            if event.command == "advance" {
                let to = to.expect("an advance has a target");
                prop_assert!(
                    def.transition(&before.stage, to).is_some(),
                    "advanced along `{}` -> `{}`, which the definition does not define",
                    before.stage,
                    to
                );
                prop_assert_eq!(to, &p.stage);
            } else {
                prop_assert_eq!(to, Some(&before.stage));
            }
        }
        let last = decision.events.last().expect("an event");
        prop_assert_eq!(p.last_sequence, last.sequence);
        // No control character but tabs and line feeds is ever kept, in comments or fields.
        let kept = decision
            .events
            .iter()
            .filter_map(|e| e.comment.as_deref())
            .chain(p.fields.values().map(String::as_str));
        for text in kept {
            prop_assert!(
                !text
                    .chars()
                    .any(|c| c.is_control() && c != '\t' && c != '\n'),
                "kept {:?}",
                text
            );
        }
        // The stage only moves through an advance; a new stage is a new stage entry.
        if p.stage != before.stage {
            prop_assert!(
                matches!(act, Act::Advance { .. }),
                "the stage moved on a `{}`",
                act.name()
            );
            prop_assert_eq!(p.stage_entry, last.sequence);
            prop_assert_eq!(p.stage_entered_at, now);
            prop_assert!(p.approvals.is_empty());
        } else {
            prop_assert_eq!(p.stage_entry, before.stage_entry);
        }
        // Status changes only by the acts that change it.
        let expected_status = match act {
            Act::Suspend { .. } => Status::Suspended,
            Act::Resume { .. } => Status::Active,
            Act::Withdraw { .. } => Status::Withdrawn,
            _ if def.stage(&p.stage).is_some_and(|s| s.terminal) => Status::Completed,
            _ => before.status,
        };
        prop_assert_eq!(p.status, expected_status);
        prop_assert_eq!(
            decision.approval.is_some(),
            matches!(act, Act::Approve { .. })
        );
        if decision.approval.is_some() {
            prop_assert_eq!(p.approvals.len(), before.approvals.len() + 1);
        }
        for t in &decision.timers.set {
            // Reminders lie ahead; a deadline or escalation already past fires at once.
            prop_assert!(t.fire_at > now || (t.fire_at == now && t.kind != TimerKind::Reminder));
            prop_assert_eq!(&t.stage, &p.stage);
            prop_assert_eq!(t.stage_entry, p.stage_entry);
        }
        if p.status != Status::Active {
            prop_assert!(decision.timers.set.is_empty());
        }
        for n in &decision.notifications {
            prop_assert!(
                decision
                    .events
                    .iter()
                    .any(|e| e.sequence == n.facts.history_sequence)
            );
            // An email states the procedure as the decision leaves it, whatever the act.
            let f = &n.facts;
            prop_assert_eq!(&f.procedure, &p.id);
            prop_assert_eq!(f.stage_entry, Some(p.stage_entry));
            prop_assert_eq!(f.due_on, p.due_on);
            prop_assert_eq!(f.deposited_on, p.key_dates.deposited_on);
            prop_assert_eq!(f.entry_into_force, p.key_dates.entry_into_force());
            prop_assert_eq!(
                f.rule.is_some(),
                n.kind == NotificationKind::Reminder
                    || n.kind == NotificationKind::DeadlinePassed
                    || n.kind == NotificationKind::Escalation
            );
        }
        check_state(p, now)
    }

    fn run(beginning: &StageId, moves: &[Move]) -> Result<(), TestCaseError> {
        let mut walk = Walk::start_at(BASE);
        walk.walk_to(beginning.as_str());
        let mut keys = Keys::default();
        for decision in &walk.decisions {
            keys.fresh(decision)?;
            check_state(&decision.procedure, walk.now)?;
        }
        let mut held = walk.procedure.clone();
        let mut now = walk.now;
        let walked = held.version;
        let mut accepted = 0;
        for m in moves {
            now += TimeDelta::days(1);
            let act = m.act(&held, now.with_timezone(&Bishkek).date_naive());
            let actor = m.actor(&held, &act);
            let cmd = Command {
                expected_version: Version(held.version.0 + m.skew),
                act,
            };
            let before = held.clone();
            let first = decide(ctx(), &held, &cmd, &actor, now);
            let second = decide(ctx(), &held, &cmd, &actor, now);
            prop_assert_eq!(&first, &second, "decide is not deterministic");
            prop_assert_eq!(&held, &before);
            if actor.role == Role::Auditor {
                prop_assert_eq!(
                    &first,
                    &Err(Refusal::ReadOnly {
                        role: Role::Auditor
                    })
                );
            } else if actor.role == Role::Admin {
                prop_assert_eq!(&first, &Err(Refusal::Operator { role: Role::Admin }));
            } else if actor.role == Role::Coordinator && actor.institution != inst("mfa") {
                prop_assert_eq!(
                    &first,
                    &Err(Refusal::RoleNotHeld {
                        role: Role::Coordinator,
                        institution: actor.institution.clone(),
                        coordinators: insts(&["mfa"]),
                    })
                );
            } else if m.skew != 0 {
                prop_assert_eq!(
                    &first,
                    &Err(Refusal::StaleVersion {
                        expected: cmd.expected_version,
                        actual: held.version,
                    })
                );
            } else if held.status.is_closed() {
                prop_assert_eq!(
                    &first,
                    &Err(Refusal::Closed {
                        status: held.status
                    })
                );
            }
            if let Ok(decision) = first {
                check_accepted(&before, &cmd.act, &actor, now, &decision)?;
                keys.fresh(&decision)?;
                held = decision.procedure;
                accepted += 1;
            }
        }
        prop_assert_eq!(held.version, Version(walked.0 + accepted));
        if held.status.is_closed() {
            for act in every_act() {
                let cmd = Command {
                    expected_version: held.version,
                    act,
                };
                prop_assert_eq!(
                    decide(ctx(), &held, &cmd, &coordinator(), now),
                    Err(Refusal::Closed {
                        status: held.status
                    })
                );
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Whatever is asked, by whomever, at whatever version: the stage is always defined and
        /// only moves along a transition, by an advance; history has no gaps and the version rises
        /// by one per accepted command; a refusal changes nothing and `decide` answers the same
        /// twice; a withdrawn or completed procedure refuses everything; timer and notification
        /// keys are never used twice.
        #[test]
        fn random_command_sequences_keep_the_procedure_on_the_definitions_graph(
            beginning in beginning(),
            moves in moves(),
        ) {
            run(&beginning, &moves)?;
        }

        #[test]
        fn deadlines_fall_at_midnight_and_reminders_at_nine_in_bishkek(
            seconds in 0i64..(80 * 365 * 86_400),
        ) {
            let now = instant("2000-01-01T00:00:00Z") + TimeDelta::seconds(seconds);
            let started = start(ctx(), &opening(), &coordinator(), now).expect("started");
            let cmd = Command {
                expected_version: started.procedure.version,
                act: advance("legal-review"),
            };
            let reviewed = decide(ctx(), &started.procedure, &cmd, &coordinator(), now)
                .expect("advanced");
            for decision in [&started, &reviewed] {
                let due = decision.procedure.due_on.expect("a due date");
                prop_assert!(due > now.with_timezone(&Bishkek).date_naive());
                for t in &decision.timers.set {
                    let local = t.fire_at.with_timezone(&Bishkek).naive_local();
                    prop_assert!(t.fire_at > now);
                    match t.kind {
                        TimerKind::Deadline => {
                            let day_after = due + TimeDelta::days(1);
                            prop_assert_eq!(local, day_after.and_time(NaiveTime::MIN));
                        }
                        TimerKind::Reminder | TimerKind::Escalation => {
                            let nine = NaiveTime::from_hms_opt(9, 0, 0).expect("09:00");
                            prop_assert_eq!(local.time(), nine);
                        }
                        // Only a stage due on entry into force has one; these stages are not.
                        // No reservation is made by these steps either.
                        TimerKind::EntryIntoForce | TimerKind::ReservationExpiry => {
                            prop_assert!(false, "{:?}", t)
                        }
                    }
                }
            }
        }
    }
}

// Whether a queued email still applies when its turn to be sent comes.

fn told(decision: &Decision, kind: NotificationKind) -> &Notification {
    decision
        .notifications
        .iter()
        .find(|n| n.kind == kind)
        .unwrap_or_else(|| panic!("no {kind} email in {:#?}", decision.notifications))
}

#[test]
fn a_call_to_act_applies_while_the_procedure_stays_in_that_stage_entry() {
    let mut walk = Walk::start_at("2024-01-10T05:00:00Z");
    let entered = walk.advance("legal-review");
    let call = told(&entered, NotificationKind::ActionNeeded).clone();
    assert_eq!(
        still_applies(call.kind, &call.facts, &walk.procedure),
        Ok(())
    );
    // Acts that keep the stage entry leave it applicable.
    walk.act(&coordinator(), comment("Seminar report circulated"));
    walk.record("compatibility_report", "MoJ compatibility report No. 17");
    assert_eq!(
        still_applies(call.kind, &call.facts, &walk.procedure),
        Ok(())
    );
    // Gone once the stage is left, even for a later entry into the same stage.
    walk.advance("interagency-consultation");
    let moved_on = still_applies(call.kind, &call.facts, &walk.procedure).unwrap_err();
    assert_eq!(
        moved_on.to_string(),
        "procedure `kg-ets-112` has moved on (now active at stage `interagency-consultation`)"
    );
    walk.act(&ministry("moj"), advance("legal-review"));
    assert_eq!(walk.procedure.stage, call.facts.stage);
    assert!(still_applies(call.kind, &call.facts, &walk.procedure).is_err());
}

#[test]
fn no_call_to_act_applies_to_a_suspended_procedure_but_news_always_does() {
    let mut walk = Walk::start_at("2024-01-10T05:00:00Z");
    let entered = walk.advance("legal-review");
    let call = told(&entered, NotificationKind::ActionNeeded).clone();
    walk.act(&coordinator(), suspend());
    let moved_on = still_applies(call.kind, &call.facts, &walk.procedure).unwrap_err();
    assert_eq!(moved_on.status, Status::Suspended);
    assert_eq!(moved_on.stage, stage("legal-review"));
    for kind in NotificationKind::ALL {
        let about_the_stage = still_applies(kind, &call.facts, &walk.procedure).is_err();
        assert_eq!(about_the_stage, kind.is_about_the_stage(), "{kind}");
    }
    assert!(!NotificationKind::EntryIntoForce.is_about_the_stage());
    assert!(!NotificationKind::ProcedureCompleted.is_about_the_stage());
}

#[test]
fn an_email_queued_before_stage_entries_were_kept_is_judged_by_its_stage() {
    let mut walk = Walk::start_at("2024-01-10T05:00:00Z");
    let entered = walk.advance("legal-review");
    let mut call = told(&entered, NotificationKind::ActionNeeded).clone();
    call.facts.stage_entry = None;
    assert_eq!(
        still_applies(call.kind, &call.facts, &walk.procedure),
        Ok(())
    );
    walk.record("compatibility_report", "MoJ compatibility report No. 17");
    walk.advance("interagency-consultation");
    assert!(still_applies(call.kind, &call.facts, &walk.procedure).is_err());
}

#[test]
fn a_fired_timer_s_emails_state_its_rule_and_the_due_date() {
    let mut walk = Walk::start_at("2024-01-10T05:00:00Z");
    let entered = walk.advance("legal-review");
    let escalation = due(timer(&entered, TimerKind::Escalation, "after_due 7 days"));
    let fired = fire(ctx(), &walk.procedure, &escalation, escalation.fire_at).unwrap();
    for n in &fired.notifications {
        assert_eq!(n.facts.rule.as_deref(), Some("after_due 7 days"));
        assert_eq!(n.facts.stage, stage("legal-review"));
        assert_eq!(n.facts.stage_entry, Some(walk.procedure.stage_entry));
        assert_eq!(n.facts.due_on, walk.procedure.due_on);
        assert!(n.facts.due_on.is_some());
        assert_eq!(n.facts.history_sequence, fired.events[0].sequence);
        assert_eq!(
            still_applies(n.kind, &n.facts, &fired.procedure),
            Ok(()),
            "an escalation applies while the stage is not left"
        );
    }
}

#[test]
fn a_notification_kind_is_stored_read_and_serialised_by_the_same_name() {
    for kind in NotificationKind::ALL {
        assert_eq!(NotificationKind::parse(kind.as_str()), Some(kind));
        assert_eq!(kind.as_str().parse::<NotificationKind>(), Ok(kind));
        assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        assert_eq!(kind.to_string(), kind.as_str());
    }
    assert_eq!(NotificationKind::DeadlinePassed.as_str(), "deadline");
    let err = "deadline_passed".parse::<NotificationKind>().unwrap_err();
    assert!(
        err.to_string()
            .starts_with("`deadline_passed` is not a kind of notification; known: action_needed,"),
        "{err}"
    );
    assert!(serde_json::from_str::<NotificationKind>("\"nope\"").is_err());
}

fn signed_checkpoint() -> (
    crate::audit::checkpoint::Checkpoint,
    ed25519_dalek::SigningKey,
) {
    let key = ed25519_dalek::SigningKey::from_bytes(&[5u8; 32]);
    let at = DateTime::parse_from_rfc3339("2026-12-04T06:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    (
        crate::audit::checkpoint::Checkpoint::sign(42, &[9u8; 32], at, &key),
        key,
    )
}

#[test]
fn a_checkpoint_is_told_once_to_each_auditor_institution_with_how_to_check_it() {
    let (cp, key) = signed_checkpoint();
    let facts = CheckpointFacts::of(&cp, &key.verifying_key());
    assert_eq!(facts.file, "checkpoint-42.json");
    assert_eq!(
        facts.public_key_file,
        format!("accession-audit-{}.pub", cp.key_id)
    );
    assert_eq!(
        facts.verify,
        format!(
            "accession audit verify --checkpoint checkpoint-42.json --public-key \
             accession-audit-{}.pub",
            cp.key_id
        )
    );
    // The key stated is the one that checks the signature.
    let stated = crate::audit::checkpoint::parse_public_key(&facts.public_key, "k").unwrap();
    assert!(cp.verify(&stated).is_ok());

    let told = checkpoint_notifications(
        7,
        &facts,
        &[inst("ombudsperson"), inst("mfa"), inst("ombudsperson")],
    );
    let to: Vec<(&str, &str)> = told
        .iter()
        .map(|n| (n.recipient.as_str(), n.dedupe_key.as_str()))
        .collect();
    assert_eq!(
        to,
        [
            ("mfa", "checkpoint:7:mfa"),
            ("ombudsperson", "checkpoint:7:ombudsperson")
        ]
    );
    assert!(
        told.iter()
            .all(|n| n.kind == NotificationKind::Checkpoint && n.facts == facts)
    );
    assert!(checkpoint_notifications(7, &facts, &[]).is_empty());
}

#[test]
fn stored_facts_are_read_as_the_kind_of_the_email_says() {
    let (cp, key) = signed_checkpoint();
    let facts = CheckpointFacts::of(&cp, &key.verifying_key());
    let json = serde_json::to_value(NotificationFacts::Checkpoint(facts.clone())).unwrap();
    // Untagged: the facts' own object, the checkpoint in its documented JSON form.
    assert_eq!(json["checkpoint"], serde_json::to_value(&cp).unwrap());
    let read = NotificationFacts::read(NotificationKind::Checkpoint, &json).unwrap();
    assert_eq!(read, NotificationFacts::Checkpoint(facts));
    assert_eq!(read.procedure(), None);
    // A checkpoint's facts are no procedure's, and the other way round.
    let err = NotificationFacts::read(NotificationKind::Reminder, &json)
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing field `procedure`"), "{err}");
    let procedure = serde_json::json!({
        "procedure": "kg-ets-112", "stage": "legal-review", "history_sequence": 3
    });
    let read = NotificationFacts::read(NotificationKind::Reminder, &procedure).unwrap();
    assert_eq!(read.procedure().map(|p| p.as_str()), Some("kg-ets-112"));
    assert!(NotificationFacts::read(NotificationKind::Checkpoint, &procedure).is_err());
    assert!(!NotificationKind::Checkpoint.is_about_a_procedure());
    assert!(!NotificationKind::Checkpoint.is_about_the_stage());
    assert!(
        NotificationKind::ALL
            .into_iter()
            .filter(|k| !matches!(
                k,
                NotificationKind::Checkpoint | NotificationKind::SignInLink
            ))
            .all(NotificationKind::is_about_a_procedure)
    );
    assert!(!NotificationKind::SignInLink.is_about_a_procedure());
    assert!(!NotificationKind::SignInLink.is_about_the_stage());
}
mod dates;
mod reservations;

// ----------------------------------------------------------------------------------------------
// Declining an approval

fn decline(reason: &str) -> Act {
    Act::Decline {
        reason: reason.into(),
    }
}

#[test]
fn an_approver_may_decline_with_a_reason_recorded_in_the_history() {
    let mut walk = Walk::start_at("2024-01-10T05:00:00Z");
    walk.walk_to("interagency-consultation");
    walk.act(&ministry("mia"), approve());
    let decision = walk.act(
        &ministry("supreme-court"),
        decline("Article 5 conflicts with the Constitution"),
    );
    let event = &decision.events[0];
    assert_eq!(event.command, "decline");
    assert_eq!(
        event.comment.as_deref(),
        Some("Article 5 conflicts with the Constitution")
    );
    assert_eq!(event.payload["declined_by"], "supreme-court");
    assert_eq!(event.payload["approvals"], serde_json::json!(["mia"]));
    // With no `on_decline`, the procedure stays where it is and the approvals given stand.
    assert_eq!(decision.procedure.stage, stage("interagency-consultation"));
    assert_eq!(event.to_stage, Some(stage("interagency-consultation")));
    assert!(decision.procedure.approvals.contains_key(&inst("mia")));
    assert!(decision.approval.is_none());
    // A decline is no approval: three approvals are still needed to move on.
    let refusal = walk.refused(&ministry("moj"), advance("request"));
    assert!(
        matches!(refusal, Refusal::ApprovalsMissing { have: 1, .. }),
        "{refusal:?}"
    );
    // The institution that declined may still approve later.
    walk.act(&ministry("supreme-court"), approve());
}

#[test]
fn declining_needs_a_reason_and_an_approver_that_has_not_approved() {
    let mut walk = Walk::start_at("2024-01-10T05:00:00Z");
    assert_eq!(
        walk.refused(&ministry("mia"), decline("No")),
        Refusal::NoApprovalsHere {
            stage: stage("assessment")
        }
    );
    walk.walk_to("interagency-consultation");
    assert_eq!(
        walk.refused(&ministry("mia"), decline("   ")),
        Refusal::Empty {
            what: "the reason for declining"
        }
    );
    assert!(matches!(
        walk.refused(&ministry("moj"), decline("Not ours")),
        Refusal::NotAnApprover { .. }
    ));
    walk.act(&ministry("mia"), approve());
    assert_eq!(
        walk.refused(&ministry("mia"), decline("Changed our mind")),
        Refusal::AlreadyApproved {
            institution: inst("mia"),
            stage: stage("interagency-consultation"),
        }
    );
}

#[test]
fn a_workflow_with_on_decline_sends_the_procedure_back_and_clears_the_approvals() {
    let source = SOURCE.replace(
        r#"at_least = 3 }"#,
        r#"at_least = 3, on_decline = "legal-review" }"#,
    );
    assert_ne!(source, SOURCE, "the fixture's approvals line changed");
    let definition = parse_definition("coe-accession.toml", &source, &KnownInstitutions::Unchecked)
        .unwrap_or_else(|diagnostics| panic!("{diagnostics:#?}"));
    let context = Context {
        definition: &definition,
        ..ctx()
    };
    let mut walk = Walk::start_at("2024-01-10T05:00:00Z");
    walk.walk_to("interagency-consultation");
    walk.act(&ministry("mia"), approve());
    let command = walk.command(decline("The draft must be revised"));
    let decision = decide(
        context,
        &walk.procedure,
        &command,
        &ministry("ombudsperson"),
        walk.now + TimeDelta::days(1),
    )
    .expect("an approver may decline");
    assert_eq!(decision.procedure.stage, stage("legal-review"));
    assert!(decision.procedure.approvals.is_empty());
    let event = &decision.events[0];
    assert_eq!(event.from_stage, Some(stage("interagency-consultation")));
    assert_eq!(event.to_stage, Some(stage("legal-review")));
    assert_eq!(event.payload["on_decline"], "legal-review");
    assert_eq!(decision.procedure.stage_entry, event.sequence);
}
