//! A refusal of the engine in the reader's language: each `Refusal` is a catalogue key
//! (`refusal_*`) and its arguments, the stages, fields and institutions it names given by their
//! titles and names in that language where they are known. Pure.
//!
//! The English `Display` of `Refusal` stays what logs, the command line's `--json` and the API's
//! default `detail` say; this is what a person reads on a page or in a localised `detail`.

use crate::engine::{Refusal, Role, Status};
use crate::ids::{FieldName, InstitutionId, StageId};
use crate::reference::{Institution, Language};
use crate::workflow::WorkflowDefinition;

use super::{catalogue_language, format, text};

/// What turns the ids a refusal names into words: the institutions' names and the workflow's
/// stage and field titles. Either may be missing; an unknown id is shown as it is.
#[derive(Clone, Copy, Default)]
pub struct Names<'a> {
    pub institutions: &'a [Institution],
    pub workflow: Option<&'a WorkflowDefinition>,
}

impl Names<'_> {
    fn institution(&self, id: &InstitutionId, language: Language) -> String {
        self.institutions
            .iter()
            .find(|i| &i.id == id)
            .map_or_else(|| id.to_string(), |i| i.name_in(language).to_string())
    }

    fn stage(&self, id: &StageId, language: Language) -> String {
        let title = self
            .workflow
            .and_then(|w| w.stage(id))
            .map_or_else(|| id.to_string(), |s| s.title_in(language).to_string());
        quote(&title, language)
    }

    fn field(&self, name: &FieldName, language: Language) -> String {
        let title = self.workflow.and_then(|w| w.field(name)).map_or_else(
            || name.to_string(),
            |(_, f)| f.title_in(language).to_string(),
        );
        quote(&title, language)
    }
}

/// A title in the quotation marks of `language`.
fn quote(title: &str, language: Language) -> String {
    match catalogue_language(language) {
        Language::En => format!("“{title}”"),
        _ => format!("«{title}»"),
    }
}

/// `items` joined with commas, or the catalogue's "none".
fn list(items: Vec<String>, language: Language) -> String {
    if items.is_empty() {
        text(language, "none")
    } else {
        items.join(", ")
    }
}

/// A role's name in `language`.
pub fn role(role: Role, language: Language) -> String {
    text(language, &format!("role_{}", role.as_str()))
}

/// An act's name in `language` (`advance`, `extend-deadline`, `extend_deadline` alike).
pub fn act(name: &str, language: Language) -> String {
    let key = format!("act_{}", name.replace('-', "_"));
    if super::has(&key) {
        text(language, &key)
    } else {
        name.to_string()
    }
}

fn status(status: Status, language: Language) -> String {
    text(language, &format!("status_{}", status.as_str()))
}

/// The label of the input an act's text comes from (`reason`, `comment`, `text`, …).
pub fn input(name: &str, language: Language) -> String {
    let key = match name {
        "text" => "comment",
        "to" => "advance_to",
        "until" => "new_deadline",
        "decision" => "decision_ref",
        "source" => "source_label",
        other => other,
    };
    if super::has(key) {
        quote(&text(language, key), language)
    } else {
        format!("`{name}`")
    }
}

/// `refusal` as a sentence in `language`.
pub fn refusal(refusal: &Refusal, language: Language, names: Names<'_>) -> String {
    let l = language;
    let inst = |i: &InstitutionId| names.institution(i, l);
    let insts = |is: &[InstitutionId]| list(is.iter().map(inst).collect(), l);
    let stage = |s: &StageId| names.stage(s, l);
    match refusal {
        Refusal::NotAllowed {
            institution,
            act: name,
            allowed,
        } => format(
            l,
            "refusal_not_allowed",
            &[
                ("institution", &inst(institution)),
                ("act", &quote(&act(name, l), l)),
                ("allowed", &insts(allowed)),
            ],
        ),
        Refusal::NotPermitted {
            role: r,
            permission,
        } => {
            let roles: Vec<String> = permission.roles().iter().map(|x| role(*x, l)).collect();
            format(
                l,
                "refusal_not_permitted",
                &[("role", &role(*r, l)), ("roles", &list(roles, l))],
            )
        }
        Refusal::ReadOnly { role: r } => format(l, "refusal_read_only", &[("role", &role(*r, l))]),
        Refusal::Operator { role: r } => format(l, "refusal_operator", &[("role", &role(*r, l))]),
        Refusal::RoleNotHeld {
            role: r,
            institution,
            coordinators,
        } => format(
            l,
            "refusal_role_not_held",
            &[
                ("role", &role(*r, l)),
                ("institution", &inst(institution)),
                ("coordinators", &insts(coordinators)),
            ],
        ),
        Refusal::NoSuchTransition { from, to, allowed } => format(
            l,
            "refusal_no_such_transition",
            &[
                ("from", &stage(from)),
                ("to", &stage(to)),
                ("allowed", &list(allowed.iter().map(stage).collect(), l)),
            ],
        ),
        Refusal::ApprovalsMissing {
            stage: s,
            needed,
            have,
            missing,
        } => format(
            l,
            "refusal_approvals_missing",
            &[
                ("stage", &stage(s)),
                ("needed", &needed.to_string()),
                ("have", &have.to_string()),
                ("missing", &insts(missing)),
            ],
        ),
        Refusal::NoApprovalsHere { stage: s } => {
            format(l, "refusal_no_approvals_here", &[("stage", &stage(s))])
        }
        Refusal::NotAnApprover {
            institution,
            stage: s,
            approvers,
        } => format(
            l,
            "refusal_not_an_approver",
            &[
                ("institution", &inst(institution)),
                ("stage", &stage(s)),
                ("approvers", &insts(approvers)),
            ],
        ),
        Refusal::AlreadyApproved {
            institution,
            stage: s,
        } => format(
            l,
            "refusal_already_approved",
            &[("institution", &inst(institution)), ("stage", &stage(s))],
        ),
        Refusal::FieldsMissing { stage: s, fields } => format(
            l,
            "refusal_fields_missing",
            &[
                ("stage", &stage(s)),
                (
                    "fields",
                    &list(fields.iter().map(|f| names.field(f, l)).collect(), l),
                ),
            ],
        ),
        Refusal::FieldInvalid { field, reason } => format(
            l,
            "refusal_field_invalid",
            &[("field", &names.field(field, l)), ("reason", reason)],
        ),
        Refusal::UnknownField { field, known } => format(
            l,
            "refusal_unknown_field",
            &[
                ("field", &format!("`{field}`")),
                (
                    "known",
                    &list(known.iter().map(|f| names.field(f, l)).collect(), l),
                ),
            ],
        ),
        Refusal::StaleVersion { expected, actual } => format(
            l,
            "refusal_stale_version",
            &[
                ("expected", &expected.0.to_string()),
                ("actual", &actual.0.to_string()),
            ],
        ),
        Refusal::Closed { status: s } => format(l, "refusal_closed", &[("status", &status(*s, l))]),
        Refusal::Suspended => text(l, "refusal_suspended"),
        Refusal::NotSuspended => text(l, "refusal_not_suspended"),
        Refusal::Empty { what } => format(l, "refusal_empty", &[("what", &input(what, l))]),
        Refusal::ControlCharacter { field, problem } => format(
            l,
            "refusal_control_character",
            &[
                ("field", &input(field, l)),
                ("code", &format!("U+{:04X}", problem.code)),
                ("position", &problem.position.to_string()),
            ],
        ),
        Refusal::Invalid(detail) => format(l, "refusal_invalid", &[("detail", detail)]),
        Refusal::EffectiveDate { reason } => {
            format(l, "refusal_effective_date", &[("reason", reason)])
        }
        Refusal::DateRefused { what, detail, rule } => format(
            l,
            "refusal_date_refused",
            &[
                ("what", &input(what, l)),
                ("detail", detail),
                ("rule", rule),
            ],
        ),
        Refusal::TimerOutdated { .. } => text(l, "refusal_timer_outdated"),
        Refusal::NotApplicable(detail) => {
            format(l, "refusal_not_applicable", &[("detail", detail)])
        }
        Refusal::CannotMove {
            procedure,
            workflow,
            version,
            reasons,
        } => format(
            l,
            "refusal_cannot_move",
            &[
                ("procedure", procedure.as_str()),
                ("workflow", workflow.as_str()),
                ("version", &version.to_string()),
                ("reasons", reasons),
            ],
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::Version;

    fn stage(id: &str) -> StageId {
        StageId::parse(id).unwrap()
    }

    fn inst(id: &str) -> InstitutionId {
        InstitutionId::parse(id).unwrap()
    }

    #[test]
    fn every_refusal_has_words_in_every_language() {
        let samples = [
            Refusal::NotAllowed {
                institution: inst("moj"),
                act: "advance".into(),
                allowed: vec![inst("mfa")],
            },
            Refusal::ApprovalsMissing {
                stage: stage("legal-review"),
                needed: 3,
                have: 1,
                missing: vec![inst("mia"), inst("supreme-court")],
            },
            Refusal::StaleVersion {
                expected: Version(3),
                actual: Version(4),
            },
            Refusal::Closed {
                status: Status::Withdrawn,
            },
            Refusal::Suspended,
            Refusal::NotSuspended,
            Refusal::TimerOutdated { timer: "t".into() },
            Refusal::ReadOnly {
                role: Role::Auditor,
            },
        ];
        for r in &samples {
            let en = refusal(r, Language::En, Names::default());
            for language in [Language::Ru, Language::Ky] {
                let words = refusal(r, language, Names::default());
                assert!(!words.contains('{'), "{language} {r:?}: {words}");
                assert!(!words.starts_with("refusal_"), "{language}: {words}");
                assert_ne!(words, en, "{language} {r:?}");
                assert!(
                    words.chars().any(|c| ('а'..='я').contains(&c)),
                    "{language}: {words}"
                );
            }
            assert!(!en.contains('{'), "{en}");
        }
    }

    #[test]
    fn a_stale_version_says_what_to_do_in_russian_and_kyrgyz() {
        let r = Refusal::StaleVersion {
            expected: Version(3),
            actual: Version(4),
        };
        let ru = refusal(&r, Language::Ru, Names::default());
        assert!(ru.contains('4') && ru.contains("обновите"), "{ru}");
        let ky = refusal(&r, Language::Ky, Names::default());
        assert!(ky.contains('4') && ky.contains("жаңыртып"), "{ky}");
    }

    #[test]
    fn ids_become_names_and_titles_in_the_readers_language() {
        let institutions = vec![Institution {
            id: inst("mfa"),
            name: "Ministry of Foreign Affairs".into(),
            name_ru: Some("Министерство иностранных дел".into()),
            name_ky: Some("Тышкы иштер министрлиги".into()),
            emails: vec![],
            language: Language::Ky,
            time_zone: chrono_tz::Asia::Bishkek,
            coordinator: true,
            state: None,
        }];
        let r = Refusal::NotAllowed {
            institution: inst("moj"),
            act: "withdraw".into(),
            allowed: vec![inst("mfa")],
        };
        let names = Names {
            institutions: &institutions,
            workflow: None,
        };
        let ky = refusal(&r, Language::Ky, names);
        assert!(ky.contains("Тышкы иштер министрлиги"), "{ky}");
        assert!(ky.contains("«Жол-жобону кайтарып алуу»"), "{ky}");
        let en = refusal(&r, Language::En, names);
        assert!(en.contains("Ministry of Foreign Affairs"), "{en}");
        assert!(en.contains("“Withdrawal of the procedure”"), "{en}");
    }
}
