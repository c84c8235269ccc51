//! The workflow format, as a specification: what a file may say, what it means, and where and how
//! each mistake in it is reported.
//!
//! Every source is written inline so the reported positions can be checked by eye: line 1 is the
//! line of the opening `r#"`, and a column is the 1-based character position on its line.

use std::collections::BTreeSet;

use sha2::{Digest, Sha256};

use super::*;
use crate::calendar::{Period, Unit};
use crate::ids::{FieldName, InstitutionId, StageId};

// ----------------------------------------------------------------------------------------------
// Helpers

const FILE: &str = "workflows/test.toml";

/// The institutions of the seed data.
const SEED_INSTITUTIONS: &[&str] = &[
    "mfa",
    "moj",
    "mia",
    "supreme-court",
    "bishkek-district-court",
    "prosecutor-general",
    "ombudsperson",
    "bar-training-centre",
    "embassy-france",
    "presidential-administration",
    "jogorku-kenesh",
];

fn seed() -> KnownInstitutions {
    KnownInstitutions::Only(
        SEED_INSTITUTIONS
            .iter()
            .map(|i| InstitutionId::parse(*i).unwrap())
            .collect(),
    )
}

fn parse(source: &str) -> WorkflowDefinition {
    match parse_definition(FILE, source, &KnownInstitutions::Unchecked) {
        Ok(def) => def,
        Err(diagnostics) => panic!("expected no diagnostics, got:\n{}", render(&diagnostics)),
    }
}

fn errors_with(source: &str, institutions: &KnownInstitutions) -> Vec<Diagnostic> {
    match parse_definition(FILE, source, institutions) {
        Ok(_) => panic!("expected diagnostics, the file was accepted"),
        Err(diagnostics) => {
            assert!(!diagnostics.is_empty(), "Err(..) with no diagnostic");
            diagnostics
        }
    }
}

fn errors(source: &str) -> Vec<Diagnostic> {
    errors_with(source, &KnownInstitutions::Unchecked)
}

/// The one diagnostic the source produces: a mistake is reported once, without follow-on noise.
fn only_error(source: &str) -> Diagnostic {
    only_error_with(source, &KnownInstitutions::Unchecked)
}

fn only_error_with(source: &str, institutions: &KnownInstitutions) -> Diagnostic {
    let diagnostics = errors_with(source, institutions);
    assert_eq!(
        diagnostics.len(),
        1,
        "expected exactly one diagnostic, got:\n{}",
        render(&diagnostics)
    );
    diagnostics.into_iter().next().unwrap()
}

fn render(diagnostics: &[Diagnostic]) -> String {
    diagnostics
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Asserts the diagnostic is at `line:column` of the test file and its message contains `message`.
#[track_caller]
fn assert_at(d: &Diagnostic, line: usize, column: usize, message: &str) {
    assert_eq!(d.file, FILE, "{d}");
    assert_eq!(
        (d.line, d.column),
        (line, column),
        "wrong position for:\n{d}"
    );
    assert!(
        d.message.contains(message),
        "message should contain {message:?}:\n{d}"
    );
}

#[track_caller]
fn assert_hint(d: &Diagnostic, fragment: &str) {
    let hint = d
        .hint
        .as_deref()
        .unwrap_or_else(|| panic!("expected a hint containing {fragment:?}:\n{d}"));
    assert!(
        hint.contains(fragment),
        "hint should contain {fragment:?}:\n{d}"
    );
}

fn stage(id: &str) -> StageId {
    StageId::parse(id).unwrap()
}

fn inst(ids: &[&str]) -> Vec<InstitutionId> {
    ids.iter()
        .map(|i| InstitutionId::parse(*i).unwrap())
        .collect()
}

fn field_names(names: &[&str]) -> Vec<FieldName> {
    names
        .iter()
        .map(|n| FieldName::parse(*n).unwrap())
        .collect()
}

const COE_ACCESSION: &str = include_str!("../../workflows/coe-accession.toml");
const COE_RATIFICATION: &str = include_str!("../../workflows/coe-ratification.toml");
const FOUR_STAGE: &str = include_str!("../../workflows/four-stage.toml");

/// The smallest valid workflow: a stage and the terminal stage it leads to.
const MINIMAL: &str = r#"id = "minimal"
version = 1
title = "Minimal"

[[stages]]
id = "draft"
title = "Draft"
responsible = ["mfa"]

[[stages]]
id = "done"
title = "Done"
terminal = true

[[transitions]]
from = "draft"
to = "done"
"#;

// ----------------------------------------------------------------------------------------------
// What a valid file means

#[test]
fn a_minimal_workflow_is_accepted() {
    let def = parse(MINIMAL);
    assert_eq!(def.id.as_str(), "minimal");
    assert_eq!(def.version, 1);
    assert_eq!(def.title, "Minimal");
    assert_eq!(def.description, "");
    assert_eq!(def.stages.len(), 2);
    assert_eq!(def.transitions.len(), 1);
    assert_eq!(def.source, MINIMAL);
}

#[test]
fn the_initial_stage_defaults_to_the_first_stage() {
    assert_eq!(parse(MINIMAL).initial, stage("draft"));
}

#[test]
fn the_shipped_workflows_are_valid_against_the_seed_institutions() {
    for (file, source, id, initial) in [
        (
            "coe-accession.toml",
            COE_ACCESSION,
            "coe-accession",
            "assessment",
        ),
        (
            "coe-ratification.toml",
            COE_RATIFICATION,
            "coe-ratification",
            "signature",
        ),
        ("four-stage.toml", FOUR_STAGE, "four-stage", "seminar"),
    ] {
        let def = match parse_definition(file, source, &seed()) {
            Ok(def) => def,
            Err(diagnostics) => panic!("{file} is refused:\n{}", render(&diagnostics)),
        };
        assert_eq!(def.id.as_str(), id, "{file}");
        assert_eq!(def.initial, stage(initial), "{file}");
        assert!(def.stages.iter().any(|s| s.terminal), "{file}");
    }
}

#[test]
fn the_shipped_workflows_name_only_seed_institutions() {
    let seed: BTreeSet<&str> = SEED_INSTITUTIONS.iter().copied().collect();
    for source in [COE_ACCESSION, COE_RATIFICATION, FOUR_STAGE] {
        let def = parse(source);
        for institution in def.institutions() {
            assert!(seed.contains(institution.as_str()), "{institution}");
        }
    }
}

#[test]
fn coe_accession_reads_as_the_procedure_it_describes() {
    let def = parse(COE_ACCESSION);
    let ids: Vec<&str> = def.stages.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "assessment",
            "legal-review",
            "interagency-consultation",
            "request",
            "consultation-of-parties",
            "invitation",
            "parliament",
            "signature-publication",
            "deposit",
            "awaiting-entry-into-force",
            "party",
            "denounced",
        ]
    );
    assert_eq!(def.control.suspend, inst(&["mfa"]));
    assert_eq!(def.control.withdraw, inst(&["mfa"]));

    let legal_review = def.stage(&stage("legal-review")).unwrap();
    assert_eq!(
        legal_review.due,
        Some(DueRule::After(Period::new(6, Unit::Months)))
    );
    assert_eq!(
        legal_review.reminders,
        [
            Reminder::Cron {
                expression: "0 9 * * 1".into()
            },
            Reminder::BeforeDue {
                period: Period::new(14, Unit::CalendarDays)
            },
        ]
    );
    assert_eq!(
        legal_review.escalation,
        Some(Escalation {
            after_due: Period::new(7, Unit::CalendarDays),
            to: inst(&["mfa"]),
        })
    );

    let consultation = def.stage(&stage("interagency-consultation")).unwrap();
    assert_eq!(
        consultation.approvals,
        Some(ApprovalRule {
            of: inst(&["mia", "prosecutor-general", "supreme-court", "ombudsperson"]),
            at_least: 3,
            on_decline: None,
        })
    );

    let parliament = def.stage(&stage("parliament")).unwrap();
    assert_eq!(
        parliament.due,
        Some(DueRule::Treaty(TreatyDateRule::InvitationValidity))
    );

    let (_, deposit_date) = def
        .field(&FieldName::parse("deposit_date").unwrap())
        .unwrap();
    assert_eq!(deposit_date.kind, FieldKind::Date);
    assert!(deposit_date.required);
    assert_eq!(deposit_date.key, Some(KeyDate::Deposit));
}

// ----------------------------------------------------------------------------------------------
// Transitions: who may make them and what they wait for

const DEFAULTS: &str = r#"id = "defaults"
version = 1
title = "Defaults"

[[stages]]
id = "review"
title = "Review"
responsible = ["moj", "mia"]
approvals = { of = ["supreme-court", "ombudsperson"] }

[[stages.fields]]
name = "opinion"
type = "document"
required = true

[[stages.fields]]
name = "notes"
type = "text"

[[stages]]
id = "request"
title = "Request"
responsible = ["mfa"]

[[stages]]
id = "done"
title = "Done"
terminal = true

[[transitions]]
from = "review"
to = "request"

[[transitions]]
from = "request"
to = "review"

[[transitions]]
from = "review"
to = "done"
by = ["mfa"]
guards = { approvals = false, fields = ["notes"] }

[[transitions]]
from = "request"
to = "done"
"#;

#[test]
fn a_transition_is_made_by_the_from_stages_responsible_institutions_unless_by_says_otherwise() {
    let def = parse(DEFAULTS);
    let t = def.transition(&stage("review"), &stage("request")).unwrap();
    assert_eq!(t.by, inst(&["moj", "mia"]));
    let t = def.transition(&stage("request"), &stage("review")).unwrap();
    assert_eq!(t.by, inst(&["mfa"]));
    let t = def.transition(&stage("review"), &stage("done")).unwrap();
    assert_eq!(t.by, inst(&["mfa"]));
}

#[test]
fn a_transition_waits_for_the_from_stages_approvals_and_required_fields_by_default() {
    let def = parse(DEFAULTS);
    let t = def.transition(&stage("review"), &stage("request")).unwrap();
    assert!(t.approvals);
    assert_eq!(t.fields, field_names(&["opinion"]));

    // A stage without approvals or required fields puts no guard on its transitions.
    let t = def.transition(&stage("request"), &stage("review")).unwrap();
    assert!(!t.approvals);
    assert!(t.fields.is_empty());
}

#[test]
fn guards_can_turn_the_approvals_off_and_replace_the_fields() {
    let def = parse(DEFAULTS);
    let t = def.transition(&stage("review"), &stage("done")).unwrap();
    assert!(!t.approvals);
    assert_eq!(t.fields, field_names(&["notes"]));
}

#[test]
fn coe_accession_sends_the_draft_back_without_waiting_for_the_opinions() {
    let def = parse(COE_ACCESSION);
    let consultation = stage("interagency-consultation");
    let forward = def.transition(&consultation, &stage("request")).unwrap();
    assert!(forward.approvals);
    assert_eq!(forward.by, inst(&["moj", "mfa"]));
    let back = def
        .transition(&consultation, &stage("legal-review"))
        .unwrap();
    assert!(!back.approvals);
    assert_eq!(back.by, inst(&["moj"]));
}

#[test]
fn a_guard_on_approvals_needs_a_stage_that_asks_for_approvals() {
    let d = only_error(
        r#"id = "w"
version = 1
title = "W"

[[stages]]
id = "draft"
title = "Draft"
responsible = ["mfa"]

[[stages]]
id = "done"
title = "Done"
terminal = true

[[transitions]]
from = "draft"
to = "done"
guards = { approvals = true }
"#,
    );
    assert_at(&d, 16, 8, "stage `draft` asks for none");
}

#[test]
fn a_guard_on_fields_names_declared_fields() {
    let d = only_error(
        r#"id = "w"
version = 1
title = "W"

[[stages]]
id = "draft"
title = "Draft"
responsible = ["mfa"]

[[stages]]
id = "done"
title = "Done"
terminal = true

[[transitions]]
from = "draft"
to = "done"
guards = { fields = ["deposit_date"] }
"#,
    );
    assert_at(
        &d,
        18,
        22,
        "field `deposit_date` is not declared on any stage",
    );
}

#[test]
fn an_empty_by_is_refused() {
    let d = only_error(
        r#"id = "w"
version = 1
title = "W"

[[stages]]
id = "draft"
title = "Draft"
responsible = ["mfa"]

[[stages]]
id = "done"
title = "Done"
terminal = true

[[transitions]]
from = "draft"
to = "done"
by = []
"#,
    );
    assert_at(&d, 16, 8, "`by = []` lets nobody make this move");
}

// ----------------------------------------------------------------------------------------------
// Stages and transitions that do not fit together

#[test]
fn an_unknown_stage_in_a_transition_is_located_and_a_near_typo_is_corrected() {
    let d = only_error(
        r#"id = "w"
version = 1
title = "W"

[[stages]]
id = "draft"
title = "Draft"
responsible = ["mfa"]

[[stages]]
id = "done"
title = "Done"
terminal = true

[[transitions]]
from = "draft"
to = "dnoe"
"#,
    );
    assert_at(&d, 17, 6, "unknown stage `dnoe`");
    assert_hint(&d, "did you mean `done`?");
    assert_hint(&d, "stages: done, draft");
}

#[test]
fn an_unknown_stage_far_from_any_known_one_lists_the_stages_without_guessing() {
    let d = only_error(
        r#"id = "w"
version = 1
title = "W"

[[stages]]
id = "draft"
title = "Draft"
responsible = ["mfa"]

[[stages]]
id = "done"
title = "Done"
terminal = true

[[transitions]]
from = "parliament"
to = "done"
"#,
    );
    assert_at(&d, 16, 8, "unknown stage `parliament`");
    assert_eq!(d.hint.as_deref(), Some("stages: done, draft"));
}

#[test]
fn an_unknown_initial_stage_is_refused() {
    let d = only_error(
        r#"id = "w"
version = 1
title = "W"
initial = "drfat"

[[stages]]
id = "draft"
title = "Draft"
responsible = ["mfa"]

[[stages]]
id = "done"
title = "Done"
terminal = true

[[transitions]]
from = "draft"
to = "done"
"#,
    );
    assert_at(&d, 4, 11, "unknown initial stage `drfat`");
    assert_hint(&d, "did you mean `draft`?");
}

#[test]
fn a_duplicate_stage_id_is_reported_on_the_second_declaration() {
    let d = only_error(
        r#"id = "w"
version = 1
title = "W"

[[stages]]
id = "draft"
title = "Draft"
responsible = ["mfa"]

[[stages]]
id = "draft"
title = "Second draft"
responsible = ["moj"]

[[stages]]
id = "done"
title = "Done"
terminal = true

[[transitions]]
from = "draft"
to = "done"
"#,
    );
    assert_at(&d, 11, 6, "duplicate stage id `draft`");
}

#[test]
fn a_duplicate_transition_is_reported_on_the_second_declaration() {
    let d = only_error(
        r#"id = "w"
version = 1
title = "W"

[[stages]]
id = "draft"
title = "Draft"
responsible = ["mfa"]

[[stages]]
id = "done"
title = "Done"
terminal = true

[[transitions]]
from = "draft"
to = "done"

[[transitions]]
from = "draft"
to = "done"
by = ["moj"]
"#,
    );
    assert_at(&d, 20, 8, "duplicate transition from `draft` to `done`");
    assert_hint(&d, "list every institution that may make it in `by`");
}

#[test]
fn a_field_name_is_used_once_in_the_whole_workflow() {
    let d = only_error(
        r#"id = "w"
version = 1
title = "W"

[[stages]]
id = "draft"
title = "Draft"
responsible = ["mfa"]

[[stages.fields]]
name = "signed_on"
type = "date"

[[stages]]
id = "done"
title = "Done"
terminal = true

[[stages.fields]]
name = "signed_on"
type = "date"

[[transitions]]
from = "draft"
to = "done"
"#,
    );
    assert_at(&d, 20, 8, "duplicate field `signed_on`");
}

#[test]
fn a_stage_no_transition_leads_to_is_unreachable() {
    let d = only_error(
        r#"id = "w"
version = 1
title = "W"

[[stages]]
id = "draft"
title = "Draft"
responsible = ["mfa"]

[[stages]]
id = "orphan"
title = "Orphan"
responsible = ["mfa"]

[[stages]]
id = "done"
title = "Done"
terminal = true

[[transitions]]
from = "draft"
to = "done"

[[transitions]]
from = "orphan"
to = "done"
"#,
    );
    assert_at(
        &d,
        11,
        6,
        "stage `orphan` is unreachable from the initial stage `draft`",
    );
}

#[test]
fn a_stage_from_which_no_terminal_stage_can_be_reached_is_refused() {
    // `stuck` is a dead end; `limbo` and `purgatory` lead only to each other.
    let diagnostics = errors(
        r#"id = "w"
version = 1
title = "W"

[[stages]]
id = "draft"
title = "Draft"
responsible = ["mfa"]

[[stages]]
id = "stuck"
title = "Stuck"
responsible = ["mfa"]

[[stages]]
id = "limbo"
title = "Limbo"
responsible = ["mfa"]

[[stages]]
id = "purgatory"
title = "Purgatory"
responsible = ["mfa"]

[[stages]]
id = "done"
title = "Done"
terminal = true

[[transitions]]
from = "draft"
to = "done"

[[transitions]]
from = "draft"
to = "stuck"

[[transitions]]
from = "draft"
to = "limbo"

[[transitions]]
from = "limbo"
to = "purgatory"

[[transitions]]
from = "purgatory"
to = "limbo"
"#,
    );
    assert_eq!(diagnostics.len(), 3, "{}", render(&diagnostics));
    assert_at(
        &diagnostics[0],
        11,
        6,
        "no terminal stage can be reached from stage `stuck`",
    );
    assert_at(
        &diagnostics[1],
        16,
        6,
        "no terminal stage can be reached from stage `limbo`",
    );
    assert_at(
        &diagnostics[2],
        21,
        6,
        "no terminal stage can be reached from stage `purgatory`",
    );
}

#[test]
fn a_workflow_without_a_terminal_stage_is_refused_at_its_initial_stage() {
    let d = only_error(
        r#"id = "w"
version = 1
title = "W"
initial = "draft"

[[stages]]
id = "draft"
title = "Draft"
responsible = ["mfa"]

[[stages]]
id = "review"
title = "Review"
responsible = ["moj"]

[[transitions]]
from = "draft"
to = "review"

[[transitions]]
from = "review"
to = "draft"
"#,
    );
    assert_at(&d, 4, 11, "workflow `w` has no terminal stage");
    assert_hint(&d, "terminal = true");

    // Without `initial`, the first stage's id stands for it.
    let d = only_error(
        r#"id = "w"
version = 1
title = "W"

[[stages]]
id = "draft"
title = "Draft"
responsible = ["mfa"]
"#,
    );
    assert_at(&d, 6, 6, "workflow `w` has no terminal stage");
}

#[test]
fn a_terminal_stage_cannot_be_left() {
    let d = only_error(
        r#"id = "w"
version = 1
title = "W"

[[stages]]
id = "draft"
title = "Draft"
responsible = ["mfa"]

[[stages]]
id = "done"
title = "Done"
responsible = ["mfa"]
terminal = true

[[transitions]]
from = "draft"
to = "done"

[[transitions]]
from = "done"
to = "draft"
"#,
    );
    assert_at(&d, 21, 8, "stage `done` is terminal and cannot be left");
}

// ----------------------------------------------------------------------------------------------
// Values: periods, cron expressions, institutions, treaty rules, approvals, fields

#[test]
fn a_period_in_an_unknown_unit_is_refused_where_it_is_written() {
    let diagnostics = errors(
        r#"id = "w"
version = 1
title = "W"

[[stages]]
id = "draft"
title = "Draft"
responsible = ["mfa"]
due = "3 fortnights"
reminders = [{ before_due = "1 fortnight" }]
escalation = { after_due = "2 fortnights", to = ["moj"] }

[[stages]]
id = "done"
title = "Done"
terminal = true

[[transitions]]
from = "draft"
to = "done"
"#,
    );
    assert_eq!(diagnostics.len(), 3, "{}", render(&diagnostics));
    assert_at(&diagnostics[0], 9, 7, "`3 fortnights` is not a period");
    assert_at(&diagnostics[1], 10, 29, "`1 fortnight` is not a period");
    assert_at(&diagnostics[2], 11, 28, "`2 fortnights` is not a period");
    assert!(
        diagnostics[0].message.contains("`30 days`"),
        "the message shows how to write one: {}",
        diagnostics[0]
    );
}

#[test]
fn a_bad_cron_expression_is_refused_with_its_reason() {
    let diagnostics = errors(
        r#"id = "w"
version = 1
title = "W"

[[stages]]
id = "draft"
title = "Draft"
responsible = ["mfa"]
reminders = [{ cron = "every monday" }]

[[stages]]
id = "done"
title = "Done"
responsible = ["mfa"]
terminal = true
reminders = [{ cron = "0 9 * * 1" }, { cron = "0 25 * * *" }]

[[transitions]]
from = "draft"
to = "done"
"#,
    );
    assert_eq!(diagnostics.len(), 2, "{}", render(&diagnostics));
    assert_at(
        &diagnostics[0],
        9,
        23,
        "`every monday` is not a cron expression: it has 2 fields",
    );
    assert_hint(&diagnostics[0], "0 9 * * 1");
    assert_at(
        &diagnostics[1],
        16,
        47,
        "`0 25 * * *` is not a cron expression",
    );
}

#[test]
fn an_unknown_institution_is_refused_when_institutions_are_checked() {
    let source = r#"id = "w"
version = 1
title = "W"

[control]
suspend = ["mfa"]
withdraw = ["foreign-office"]

[[stages]]
id = "draft"
title = "Draft"
responsible = ["mfa", "mojj"]

[[stages]]
id = "done"
title = "Done"
terminal = true

[[transitions]]
from = "draft"
to = "done"
"#;
    let diagnostics = errors_with(source, &seed());
    assert_eq!(diagnostics.len(), 2, "{}", render(&diagnostics));
    assert_at(
        &diagnostics[0],
        7,
        13,
        "unknown institution `foreign-office`",
    );
    assert_hint(&diagnostics[0], "known institutions: ");
    assert_hint(&diagnostics[0], "jogorku-kenesh");
    assert_at(&diagnostics[1], 12, 23, "unknown institution `mojj`");
    assert_eq!(diagnostics[1].hint.as_deref(), Some("did you mean `moj`?"));

    // Unchecked, any well-formed id is accepted.
    assert!(parse_definition(FILE, source, &KnownInstitutions::Unchecked).is_ok());
}

#[test]
fn every_place_that_names_an_institution_is_checked() {
    let diagnostics = errors_with(
        r#"id = "w"
version = 1
title = "W"

[[stages]]
id = "draft"
title = "Draft"
responsible = ["mfa"]
due = "30 days"
escalation = { after_due = "1 day", to = ["xx-escalation"] }
approvals = { of = ["xx-approval"] }

[[stages]]
id = "done"
title = "Done"
terminal = true

[[transitions]]
from = "draft"
to = "done"
by = ["xx-by"]
"#,
        &seed(),
    );
    let messages: Vec<&str> = diagnostics.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "unknown institution `xx-escalation`",
            "unknown institution `xx-approval`",
            "unknown institution `xx-by`",
        ],
        "{}",
        render(&diagnostics)
    );
}

#[test]
fn a_due_rule_names_a_known_treaty_date_rule() {
    let d = only_error(
        r#"id = "w"
version = 1
title = "W"

[[stages]]
id = "draft"
title = "Draft"
responsible = ["mfa"]
due = { rule = "deposit-deadline" }

[[stages]]
id = "done"
title = "Done"
terminal = true

[[transitions]]
from = "draft"
to = "done"
"#,
    );
    assert_at(&d, 9, 7, "unknown treaty date rule `deposit-deadline`");
    assert_hint(&d, "invitation-validity, entry-into-force");
}

#[test]
fn approvals_cannot_ask_for_more_institutions_than_they_list() {
    let d = only_error(
        r#"id = "w"
version = 1
title = "W"

[[stages]]
id = "draft"
title = "Draft"
responsible = ["mfa"]
approvals = { of = ["mia", "moj"], at_least = 3 }

[[stages]]
id = "done"
title = "Done"
terminal = true

[[transitions]]
from = "draft"
to = "done"
"#,
    );
    assert_at(
        &d,
        9,
        47,
        "`at_least = 3` cannot be met by the 2 institution(s) listed",
    );
    assert_hint(&d, "from 1 to 2");
}

#[test]
fn an_unknown_institution_in_approvals_is_reported_once() {
    // Not also as an `at_least` that two known institutions could not meet, nor as an approvals
    // guard on a stage without approvals.
    let d = only_error_with(
        r#"id = "w"
version = 1
title = "W"

[[stages]]
id = "draft"
title = "Draft"
responsible = ["mfa"]
approvals = { of = ["mia", "mojj"], at_least = 2 }

[[stages]]
id = "done"
title = "Done"
terminal = true

[[transitions]]
from = "draft"
to = "done"
guards = { approvals = true }
"#,
        &seed(),
    );
    assert_at(&d, 9, 28, "unknown institution `mojj`");
}

#[test]
fn an_institution_listed_twice_in_approvals_is_reported_at_the_repetition() {
    let diagnostics = errors_with(
        r#"id = "w"
version = 1
title = "W"

[[stages]]
id = "draft"
title = "Draft"
responsible = ["mfa"]
approvals = { of = ["xx", "mia", "mia"] }

[[stages]]
id = "done"
title = "Done"
terminal = true

[[transitions]]
from = "draft"
to = "done"
"#,
        &seed(),
    );
    assert_eq!(diagnostics.len(), 2, "{}", render(&diagnostics));
    assert_at(&diagnostics[0], 9, 21, "unknown institution `xx`");
    assert_at(
        &diagnostics[1],
        9,
        34,
        "`mia` is listed twice in the approvals",
    );
}

#[test]
fn a_reminder_has_cron_or_before_due_but_not_both() {
    let d = only_error(
        r#"id = "w"
version = 1
title = "W"

[[stages]]
id = "draft"
title = "Draft"
responsible = ["mfa"]
due = "30 days"
reminders = [{ cron = "0 9 * * 1", before_due = "7 days" }]

[[stages]]
id = "done"
title = "Done"
terminal = true

[[transitions]]
from = "draft"
to = "done"
"#,
    );
    assert_at(&d, 10, 14, "either `cron` or `before_due`, not both");
}

#[test]
fn a_reminder_before_the_due_date_needs_a_due_date() {
    let d = only_error(
        r#"id = "w"
version = 1
title = "W"

[[stages]]
id = "draft"
title = "Draft"
responsible = ["mfa"]
reminders = [{ cron = "0 9 * * 1" }, { before_due = "7 days" }]

[[stages]]
id = "done"
title = "Done"
terminal = true

[[transitions]]
from = "draft"
to = "done"
"#,
    );
    // The position is the `before_due` reminder's, not the first reminder's.
    assert_at(
        &d,
        9,
        38,
        "stage `draft` has a reminder before its due date but no due date",
    );
}

#[test]
fn an_escalation_names_whom_it_goes_to() {
    let source = |escalation: &str| {
        format!(
            r#"id = "w"
version = 1
title = "W"

[[stages]]
id = "draft"
title = "Draft"
responsible = ["mfa"]
due = "30 days"
{escalation}

[[stages]]
id = "done"
title = "Done"
terminal = true

[[transitions]]
from = "draft"
to = "done"
"#
        )
    };
    for escalation in [
        r#"escalation = { after_due = "7 days" }"#,
        r#"escalation = { after_due = "7 days", to = [] }"#,
    ] {
        let d = only_error(&source(escalation));
        assert_at(&d, 10, 14, "an escalation must name whom it goes `to`");
        assert_hint(&d, r#"to = ["mfa"]"#);
    }
}

#[test]
fn an_escalation_needs_a_due_date() {
    let d = only_error(
        r#"id = "w"
version = 1
title = "W"

[[stages]]
id = "draft"
title = "Draft"
responsible = ["mfa"]
escalation = { after_due = "7 days", to = ["moj"] }

[[stages]]
id = "done"
title = "Done"
terminal = true

[[transitions]]
from = "draft"
to = "done"
"#,
    );
    assert_at(
        &d,
        9,
        14,
        "stage `draft` escalates after its due date but has none",
    );
}

#[test]
fn a_key_date_is_a_date_field() {
    let d = only_error(
        r#"id = "w"
version = 1
title = "W"

[[stages]]
id = "draft"
title = "Draft"
responsible = ["mfa"]

[[stages.fields]]
name = "deposit_reference"
type = "document"
key = "deposit"

[[stages]]
id = "done"
title = "Done"
terminal = true

[[transitions]]
from = "draft"
to = "done"
"#,
    );
    assert_at(
        &d,
        13,
        7,
        "key date `deposit` must be a field of type `date`",
    );
}

#[test]
fn an_unknown_key_date_or_field_type_is_refused() {
    let diagnostics = errors(
        r#"id = "w"
version = 1
title = "W"

[[stages]]
id = "draft"
title = "Draft"
responsible = ["mfa"]

[[stages.fields]]
name = "ratified_on"
type = "date"
key = "ratification"

[[stages.fields]]
name = "count"
type = "number"

[[stages]]
id = "done"
title = "Done"
terminal = true

[[transitions]]
from = "draft"
to = "done"
"#,
    );
    assert_eq!(diagnostics.len(), 2, "{}", render(&diagnostics));
    assert_at(&diagnostics[0], 13, 7, "unknown key date `ratification`");
    assert_hint(
        &diagnostics[0],
        "request, invitation, deposit, entry-into-force",
    );
    assert_at(&diagnostics[1], 17, 8, "unknown field type `number`");
}

#[test]
fn a_stage_that_is_not_terminal_names_who_is_responsible() {
    let d = only_error(
        r#"id = "w"
version = 1
title = "W"

[[stages]]
id = "draft"
title = "Draft"

[[stages]]
id = "done"
title = "Done"
terminal = true

[[transitions]]
from = "draft"
to = "done"
"#,
    );
    assert_at(&d, 6, 6, "stage `draft` names no responsible institution");
}

#[test]
fn an_empty_title_is_reported_once_and_the_stage_still_counts() {
    // The stage is kept, so the transition into it is not also reported as unknown.
    let d = only_error(&MINIMAL.replace(r#"title = "Done""#, r#"title = " ""#));
    assert_at(&d, 12, 9, "`title` is empty");
}

#[test]
fn ids_are_lowercase_slugs() {
    let d = only_error(
        r#"id = "w"
version = 1
title = "W"

[[stages]]
id = "draft"
title = "Draft"
responsible = ["MFA"]

[[stages]]
id = "done"
title = "Done"
terminal = true

[[transitions]]
from = "draft"
to = "done"
"#,
    );
    assert_at(&d, 8, 16, "`MFA` is not a valid institution id");
}

#[test]
fn a_version_is_a_positive_whole_number() {
    let d = only_error(&MINIMAL.replace("version = 1", "version = 0"));
    assert_at(&d, 2, 11, "version 0 is not a positive whole number");
}

// ----------------------------------------------------------------------------------------------
// Keys: what the TOML deserializer reports, located where the mistake is

#[test]
fn a_missing_key_is_reported_at_the_table_that_lacks_it() {
    let d = only_error(
        r#"id = "w"
version = 1
title = "W"

[[stages]]
id = "draft"
responsible = ["mfa"]

[[stages]]
id = "done"
title = "Done"
terminal = true
"#,
    );
    assert_at(&d, 5, 1, "missing field `title`");
    assert_hint(&d, "add the key");

    // In a table further down the file, the position is that table's header.
    let d = only_error(
        r#"id = "w"
version = 1
title = "W"

[[stages]]
id = "draft"
title = "Draft"
responsible = ["mfa"]

[[stages.fields]]
name = "signed_on"
title = "Signed on"
"#,
    );
    assert_at(&d, 10, 1, "missing field `type`");

    // In an inline table, the position is its opening brace.
    let d = only_error(
        r#"id = "w"
version = 1
title = "W"

[[stages]]
id = "draft"
title = "Draft"
responsible = ["mfa"]
approvals = { at_least = 1 }
"#,
    );
    assert_at(&d, 9, 13, "missing field `of`");
}

#[test]
fn an_unknown_key_is_reported_at_the_key() {
    let d = only_error(
        r#"id = "w"
version = 1
title = "W"

[[stages]]
id = "draft"
titel = "Draft"
responsible = ["mfa"]
"#,
    );
    assert_at(&d, 7, 1, "unknown field `titel`");
    assert!(d.message.contains("`title`"), "lists the keys: {d}");
    assert_hint(&d, "check its spelling");

    // In an inline table too.
    let d = only_error(
        r#"id = "w"
version = 1
title = "W"

[[stages]]
id = "draft"
title = "Draft"
responsible = ["mfa"]
reminders = [{ before = "7 days" }]
"#,
    );
    assert_at(&d, 9, 16, "unknown field `before`");
}

#[test]
fn a_toml_syntax_error_is_located() {
    let d = only_error(
        r#"id = "w"
version = 1
title = "W

[[stages]]
id = "draft"
"#,
    );
    assert_eq!((d.line, d.column), (3, 11), "{d}");
}

// ----------------------------------------------------------------------------------------------
// Reporting

#[test]
fn every_error_in_a_file_is_reported_in_the_order_of_the_file() {
    let diagnostics = errors_with(
        r#"id = "w"
version = 1
title = "W"

[[stages]]
id = "draft"
title = "Draft"
responsible = ["mfa"]
due = "3 fortnights"

[[stages.fields]]
name = "signed_on"
type = "date"

[[stages]]
id = "orphan"
title = "Orphan"
responsible = ["mojj"]
reminders = [{ cron = "every monday" }]

[[stages.fields]]
name = "signed_on"
type = "text"

[[stages]]
id = "done"
title = "Done"
terminal = true

[[transitions]]
from = "draft"
to = "done"

[[transitions]]
from = "orphan"
to = "done"

[[transitions]]
from = "draft"
to = "done"
"#,
        &seed(),
    );
    let found: Vec<(usize, usize, &str)> = diagnostics
        .iter()
        .map(|d| (d.line, d.column, d.message.as_str()))
        .collect();
    let expected = [
        (9, 7, "`3 fortnights` is not a period"),
        (16, 6, "stage `orphan` is unreachable"),
        (18, 16, "unknown institution `mojj`"),
        (19, 23, "`every monday` is not a cron expression"),
        (22, 8, "duplicate field `signed_on`"),
        (39, 8, "duplicate transition from `draft` to `done`"),
    ];
    assert_eq!(
        found.len(),
        expected.len(),
        "expected {} diagnostics, got:\n{}",
        expected.len(),
        render(&diagnostics)
    );
    for (d, (line, column, message)) in diagnostics.iter().zip(expected) {
        assert_at(d, line, column, message);
    }
    assert!(found.is_sorted_by_key(|(line, column, _)| (*line, *column)));
}

#[test]
fn a_diagnostic_reads_like_a_compiler_error_with_its_hint_indented_below() {
    let d = Diagnostic {
        file: "workflows/coe-accession.toml".into(),
        line: 17,
        column: 6,
        message: "unknown stage `dnoe`".into(),
        hint: Some("did you mean `done`?".into()),
    };
    assert_eq!(
        d.to_string(),
        "workflows/coe-accession.toml:17:6: error: unknown stage `dnoe`\n  hint: did you mean `done`?"
    );
    let d = Diagnostic { hint: None, ..d };
    assert_eq!(
        d.to_string(),
        "workflows/coe-accession.toml:17:6: error: unknown stage `dnoe`"
    );
}

#[test]
fn a_parsed_diagnostic_displays_its_position_in_the_file() {
    let d = only_error(&MINIMAL.replace("to = \"done\"", "to = \"dnoe\""));
    assert_eq!(
        d.to_string(),
        "workflows/test.toml:17:6: error: unknown stage `dnoe`\n  hint: did you mean `done`? stages: done, draft"
    );
}

#[test]
fn columns_count_characters_not_bytes() {
    let d = only_error(
        r#"id = "w"
version = 1
title = "Ратификация"

[[stages]]
id = "draft"
title = "Проект" ; responsible = ["mfa"]
"#,
    );
    // `title = "Проект" ` is 17 characters (and 23 bytes).
    assert_eq!((d.line, d.column), (7, 18), "{d}");
}

// ----------------------------------------------------------------------------------------------
// The content hash

#[test]
fn the_content_hash_is_the_sha256_of_the_source() {
    let def = parse(MINIMAL);
    assert_eq!(
        def.content_hash,
        hex::encode(Sha256::digest(MINIMAL.as_bytes()))
    );
    assert_eq!(def.content_hash.len(), 64);
    assert!(
        def.content_hash
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    );
}

#[test]
fn the_content_hash_changes_when_one_byte_changes() {
    let original = parse(MINIMAL).content_hash;
    // One byte of the title.
    let retitled = parse(&MINIMAL.replace("Minimal", "Minimam")).content_hash;
    assert_ne!(original, retitled);
    // One byte that does not change the meaning: a trailing space.
    let spaced = parse(&format!("{MINIMAL} ")).content_hash;
    assert_ne!(original, spaced);
    // And the same bytes give the same hash.
    assert_eq!(original, parse(MINIMAL).content_hash);
}

// ----------------------------------------------------------------------------------------------
// Diagrams

#[test]
fn the_mermaid_diagram_is_a_state_diagram_with_one_line_per_transition() {
    let def = parse(COE_ACCESSION);
    let mermaid = render_diagram(&def, DiagramFormat::Mermaid);
    assert!(mermaid.starts_with("stateDiagram-v2\n"), "{mermaid}");
    let lines: Vec<&str> = mermaid.lines().map(str::trim).collect();
    assert!(lines.contains(&"[*] --> assessment"), "{mermaid}");
    // Mermaid ids may not contain `-`.
    assert!(lines.contains(&"legal_review --> interagency_consultation: moj"));
    assert!(lines.contains(&"interagency_consultation --> request: moj, mfa"));
    assert!(lines.contains(&"denounced --> [*]"));

    let transitions = lines
        .iter()
        .filter(|l| l.contains(" --> ") && !l.contains("[*]"))
        .count();
    assert_eq!(transitions, def.transitions.len());
    for t in &def.transitions {
        let from = t.from.as_str().replace('-', "_");
        let to = t.to.as_str().replace('-', "_");
        let prefix = format!("{from} --> {to}:");
        assert_eq!(
            lines.iter().filter(|l| l.starts_with(&prefix)).count(),
            1,
            "{prefix}\n{mermaid}"
        );
    }
}

#[test]
fn the_dot_diagram_is_a_digraph_with_one_edge_per_transition() {
    for source in [COE_ACCESSION, COE_RATIFICATION, FOUR_STAGE] {
        let def = parse(source);
        let dot = render_diagram(&def, DiagramFormat::Dot);
        assert!(
            dot.starts_with(&format!("digraph \"{}\" {{", def.id)),
            "{dot}"
        );
        assert_eq!(dot.matches("->").count(), def.transitions.len(), "{dot}");
        for t in &def.transitions {
            let edge = format!("\"{}\" -> \"{}\"", t.from, t.to);
            assert_eq!(dot.matches(&edge).count(), 1, "{edge}\n{dot}");
        }
        assert_eq!(dot.matches('{').count(), dot.matches('}').count(), "{dot}");
        assert!(dot.trim_end().ends_with('}'), "{dot}");
    }
}

#[test]
fn the_dot_diagram_escapes_quotes_in_titles() {
    let def = parse(&MINIMAL.replace(r#"title = "Draft""#, r#"title = "Draft \"A\"""#));
    let dot = render_diagram(&def, DiagramFormat::Dot);
    assert!(dot.contains(r#"label="Draft \"A\"\n(mfa)""#), "{dot}");
}

#[test]
fn the_same_reminder_twice_on_a_stage_is_refused_where_it_repeats() {
    let source = MINIMAL.replace(
        "responsible = [\"mfa\"]\n",
        "responsible = [\"mfa\"]\ndue = \"30 days\"\nreminders = [{ before_due = \"7 days\" }, { before_due = \"7 days\" }]\n",
    );
    let d = only_error(&source);
    let line = source
        .lines()
        .position(|l| l.starts_with("reminders"))
        .unwrap()
        + 1;
    let column = source.lines().nth(line - 1).unwrap().rfind('{').unwrap() + 1;
    assert_at(&d, line, column, "has this reminder twice");
}

// ----------------------------------------------------------------------------------------------
// Texts in the languages of the catalogues

#[test]
fn a_plain_text_is_english_and_stays_valid() {
    let def = parse(MINIMAL);
    let draft = &def.stages[0];
    assert!(draft.translations.is_empty());
    assert_eq!(draft.title_in(crate::reference::Language::Ky), "Draft");
    assert_eq!(def.title_in(crate::reference::Language::Ru), "Minimal");
}

#[test]
fn a_text_in_every_language_is_read_in_each() {
    use crate::reference::Language;
    let source = MINIMAL
        .replace(
            r#"title = "Draft""#,
            r#"title = { en = "Draft", ru = "Проект", ky = "Долбоор" }
description.en = "Write it."
description.ru = "Подготовьте его."
description.ky = "Аны даярдаңыз.""#,
        )
        .replace(
            r#"title = "Minimal""#,
            "title.en = \"Minimal\"\ntitle.ru = \"Минимальный\"\ntitle.ky = \"Эң кичине\"",
        );
    let def = parse(&source);
    let draft = &def.stages[0];
    assert_eq!(draft.title, "Draft");
    assert_eq!(draft.title_in(Language::En), "Draft");
    assert_eq!(draft.title_in(Language::Ru), "Проект");
    assert_eq!(draft.title_in(Language::Ky), "Долбоор");
    assert_eq!(draft.title_in(Language::Fr), "Draft");
    assert_eq!(draft.description_in(Language::Ky), "Аны даярдаңыз.");
    assert_eq!(def.title_in(Language::Ky), "Эң кичине");
    let ky = def.in_language(Language::Ky);
    assert_eq!(ky.stages[0].title, "Долбоор");
    assert_eq!(ky.title, "Эң кичине");
}

#[test]
fn a_text_that_lacks_a_language_is_reported_where_it_stands() {
    let source = MINIMAL.replace(
        r#"title = "Draft""#,
        r#"title = { en = "Draft", ru = "Проект" }"#,
    );
    let d = only_error(&source);
    assert_eq!((d.file.as_str(), d.line, d.column), (FILE, 7, 9), "{d}");
    assert!(d.message.contains("Kyrgyz (`ky`)"), "{d}");
    assert!(
        d.hint.as_deref().unwrap_or_default().contains("en, ru, ky"),
        "{d}"
    );
}

#[test]
fn a_dotted_text_that_lacks_a_language_is_reported_in_its_stage() {
    let source = MINIMAL.replace(
        r#"title = "Draft""#,
        "title.en = \"Draft\"\ntitle.ky = \"Долбоор\"",
    );
    let d = only_error(&source);
    assert!(d.message.contains("Russian (`ru`)"), "{d}");
    assert!((5..=9).contains(&d.line), "{d}");
}

#[test]
fn a_language_the_catalogues_do_not_have_is_refused() {
    let source = MINIMAL.replace(
        r#"title = "Done""#,
        r#"title = { en = "Done", ru = "Готово", ky = "Бүттү", de = "Fertig" }"#,
    );
    let d = only_error(&source);
    assert!(d.message.contains("`de`"), "{d}");
    assert_eq!(d.line, 12, "{d}");
    let empty = MINIMAL.replace(
        r#"title = "Done""#,
        r#"title = { en = "Done", ru = " ", ky = "Бүттү" }"#,
    );
    assert!(only_error(&empty).message.contains("`title`.ru is empty"));
}

#[test]
fn the_shipped_workflows_give_every_text_in_every_language() {
    for source in [COE_ACCESSION, COE_RATIFICATION, FOUR_STAGE] {
        let def = parse(source);
        let complete = |t: &Translations, what: &str| {
            assert!(t.ru.is_some() && t.ky.is_some(), "{} {what}", def.id);
        };
        complete(&def.translations.title, "title");
        for stage in &def.stages {
            complete(&stage.translations.title, stage.id.as_str());
            if !stage.description.is_empty() {
                complete(&stage.translations.description, stage.id.as_str());
            }
            for field in &stage.fields {
                complete(&field.translations, field.name.as_str());
            }
        }
    }
}

// ----------------------------------------------------------------------------------------------
// Declining an approval

const DECLINE: &str = r#"id = "decline"
version = 1
title = "Decline"

[[stages]]
id = "draft"
title = "Draft"
responsible = ["moj"]

[[stages]]
id = "review"
title = "Review"
responsible = ["moj"]
approvals = { of = ["mia", "supreme-court"], on_decline = "draft" }

[[stages]]
id = "done"
title = "Done"
terminal = true

[[transitions]]
from = "draft"
to = "review"

[[transitions]]
from = "review"
to = "done"
"#;

#[test]
fn approvals_may_name_the_stage_a_decline_sends_the_procedure_back_to() {
    let def = parse(DECLINE);
    let review = def.stage(&stage("review")).unwrap();
    assert_eq!(
        review.approvals.as_ref().unwrap().on_decline,
        Some(stage("draft"))
    );
}

#[test]
fn without_on_decline_a_decline_goes_nowhere() {
    let def = parse(&DECLINE.replace(", on_decline = \"draft\"", ""));
    let review = def.stage(&stage("review")).unwrap();
    assert_eq!(review.approvals.as_ref().unwrap().on_decline, None);
}

#[test]
fn on_decline_must_name_a_stage_of_the_workflow() {
    let source = DECLINE.replace("on_decline = \"draft\"", "on_decline = \"drfat\"");
    let d = only_error(&source);
    let line = source.lines().position(|l| l.contains("drfat")).unwrap() + 1;
    let column = source
        .lines()
        .nth(line - 1)
        .unwrap()
        .find("\"drfat\"")
        .unwrap()
        + 1;
    assert_at(
        &d,
        line,
        column,
        "unknown stage to go back to on a decline `drfat`",
    );
    assert_hint(&d, "did you mean `draft`?");
}
