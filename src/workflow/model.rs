//! The definition model: what a workflow says, once parsed and validated.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::calendar::Period;
use crate::ids::{FieldName, InstitutionId, StageId, WorkflowId};
use crate::reference::Language;

/// A text of a workflow (a title, a description) in the languages besides English the file gives
/// it in. The English text is the plain field beside it (`title`, `description`), which every
/// text has: a file written as `title = "…"` is English only, `title = { en = "…", ru = "…",
/// ky = "…" }` gives every language of the catalogues (the parser refuses a table that lacks one).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Translations {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ru: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ky: Option<String>,
}

impl Translations {
    /// The text for a reader of `language`: its own form where the file gives one, else
    /// `english`.
    pub fn pick<'a>(&'a self, english: &'a str, language: Language) -> &'a str {
        match language {
            Language::Ru => self.ru.as_deref(),
            Language::Ky => self.ky.as_deref(),
            Language::En | Language::Fr => None,
        }
        .unwrap_or(english)
    }

    pub fn is_empty(&self) -> bool {
        self.ru.is_none() && self.ky.is_none()
    }
}

/// The translations of one item's texts.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct TextTranslations {
    #[serde(skip_serializing_if = "Translations::is_empty")]
    pub title: Translations,
    #[serde(skip_serializing_if = "Translations::is_empty")]
    pub description: Translations,
}

impl TextTranslations {
    pub fn is_empty(&self) -> bool {
        self.title.is_empty() && self.description.is_empty()
    }
}

/// A validated workflow definition. `content_hash` is the SHA-256 of the file's bytes: a procedure
/// keeps the (id, version, hash) it started on, and the store keeps the source under that hash.
#[derive(Debug, Clone, Serialize)]
pub struct WorkflowDefinition {
    pub id: WorkflowId,
    pub version: u32,
    pub title: String,
    pub description: String,
    pub initial: StageId,
    pub stages: Vec<Stage>,
    pub transitions: Vec<Transition>,
    pub control: Control,
    pub content_hash: String,
    /// The title and description in Russian and Kyrgyz, where the file gives them.
    #[serde(skip_serializing_if = "TextTranslations::is_empty")]
    pub translations: TextTranslations,
    /// The TOML source the definition was parsed from.
    #[serde(skip)]
    pub source: String,
}

/// Who may suspend, resume and withdraw a procedure of this workflow.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Control {
    pub suspend: Vec<InstitutionId>,
    pub withdraw: Vec<InstitutionId>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Stage {
    pub id: StageId,
    pub title: String,
    pub description: String,
    pub responsible: Vec<InstitutionId>,
    pub due: Option<DueRule>,
    pub reminders: Vec<Reminder>,
    pub escalation: Option<Escalation>,
    pub approvals: Option<ApprovalRule>,
    pub fields: Vec<FieldSpec>,
    pub terminal: bool,
    /// The title and description in Russian and Kyrgyz, where the file gives them.
    #[serde(skip_serializing_if = "TextTranslations::is_empty")]
    pub translations: TextTranslations,
}

impl Stage {
    /// The title for a reader of `language` (English where the file gives no other).
    pub fn title_in(&self, language: Language) -> &str {
        self.translations.title.pick(&self.title, language)
    }

    /// What the stage expects, for a reader of `language`.
    pub fn description_in(&self, language: Language) -> &str {
        self.translations
            .description
            .pick(&self.description, language)
    }
}

/// When a stage is due.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DueRule {
    /// A period after the day the stage was entered.
    After(Period),
    /// A treaty date computed from the procedure's key dates and the convention's rules.
    Treaty(TreatyDateRule),
}

/// The named treaty date rules a stage can be due on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TreatyDateRule {
    /// The end of the validity of the invitation to accede (the deadline for deposit).
    InvitationValidity,
    /// The date of entry into force for the State, from the deposit and the convention's rule.
    EntryIntoForce,
}

impl TreatyDateRule {
    pub const NAMES: &'static [&'static str] = &["invitation-validity", "entry-into-force"];

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "invitation-validity" => Some(Self::InvitationValidity),
            "entry-into-force" => Some(Self::EntryIntoForce),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::InvitationValidity => "invitation-validity",
            Self::EntryIntoForce => "entry-into-force",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Reminder {
    /// A cron expression (five-field crontab or the `cron` crate's six/seven-field form),
    /// evaluated in the responsible institution's time zone.
    Cron { expression: String },
    /// A period before the due date.
    BeforeDue { period: Period },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Escalation {
    pub after_due: Period,
    pub to: Vec<InstitutionId>,
}

/// Approvals a stage needs before it can be left: all of a set of institutions, or N of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApprovalRule {
    pub of: Vec<InstitutionId>,
    pub at_least: usize,
    /// Where a decline sends the procedure (`on_decline = "<stage>"`); none: a decline is
    /// recorded in the history, for the coordinator to see, and the procedure stays.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_decline: Option<StageId>,
}

impl ApprovalRule {
    /// The institutions still to approve when `given` have, or empty when the rule is met.
    pub fn missing(&self, given: &BTreeSet<InstitutionId>) -> Vec<InstitutionId> {
        let have = self.of.iter().filter(|i| given.contains(*i)).count();
        if have >= self.at_least {
            return Vec::new();
        }
        self.of
            .iter()
            .filter(|i| !given.contains(*i))
            .cloned()
            .collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    Date,
    Text,
    /// A reference to a document: a registry number, an official journal reference, a URL.
    Document,
}

impl FieldKind {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "date" => Some(Self::Date),
            "text" => Some(Self::Text),
            "document" => Some(Self::Document),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Date => "date",
            Self::Text => "text",
            Self::Document => "document",
        }
    }
}

/// The key dates a procedure keeps in columns of its own, for lists, filters and treaty rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyDate {
    Request,
    Invitation,
    Deposit,
    /// The date of entry into force as the depositary published it; authoritative beside the
    /// computed one.
    EntryIntoForce,
}

impl KeyDate {
    pub const NAMES: &'static [&'static str] =
        &["request", "invitation", "deposit", "entry-into-force"];

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "request" => Some(Self::Request),
            "invitation" => Some(Self::Invitation),
            "deposit" => Some(Self::Deposit),
            "entry-into-force" => Some(Self::EntryIntoForce),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldSpec {
    pub name: FieldName,
    pub title: String,
    pub kind: FieldKind,
    /// Needed before the stage can be left forward (see `Transition::fields`).
    pub required: bool,
    pub key: Option<KeyDate>,
    /// The title in Russian and Kyrgyz, where the file gives them.
    #[serde(skip_serializing_if = "Translations::is_empty")]
    pub translations: Translations,
}

impl FieldSpec {
    /// The title for a reader of `language` (English where the file gives no other).
    pub fn title_in(&self, language: Language) -> &str {
        self.translations.pick(&self.title, language)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Transition {
    pub from: StageId,
    pub to: StageId,
    /// Who may perform it; the responsible institutions of `from` unless the file says otherwise.
    pub by: Vec<InstitutionId>,
    /// Whether the approvals of `from` must be complete.
    pub approvals: bool,
    /// Fields that must have been recorded.
    pub fields: Vec<FieldName>,
}

impl WorkflowDefinition {
    /// The title for a reader of `language` (English where the file gives no other).
    pub fn title_in(&self, language: Language) -> &str {
        self.translations.title.pick(&self.title, language)
    }

    pub fn description_in(&self, language: Language) -> &str {
        self.translations
            .description
            .pick(&self.description, language)
    }

    /// A copy whose titles and descriptions are those of `language` (English where the file
    /// gives no other), for what shows a whole definition to a reader: the diagrams.
    pub fn in_language(&self, language: Language) -> WorkflowDefinition {
        let mut copy = self.clone();
        copy.title = self.title_in(language).to_string();
        copy.description = self.description_in(language).to_string();
        for stage in &mut copy.stages {
            stage.title = stage.title_in(language).to_string();
            stage.description = stage.description_in(language).to_string();
            for field in &mut stage.fields {
                field.title = field.title_in(language).to_string();
            }
        }
        copy
    }

    pub fn stage(&self, id: &StageId) -> Option<&Stage> {
        self.stages.iter().find(|s| &s.id == id)
    }

    pub fn transitions_from<'a>(
        &'a self,
        stage: &'a StageId,
    ) -> impl Iterator<Item = &'a Transition> + 'a {
        self.transitions.iter().filter(move |t| &t.from == stage)
    }

    pub fn transition(&self, from: &StageId, to: &StageId) -> Option<&Transition> {
        self.transitions
            .iter()
            .find(|t| &t.from == from && &t.to == to)
    }

    /// The field declared under `name` on any stage.
    pub fn field(&self, name: &FieldName) -> Option<(&Stage, &FieldSpec)> {
        self.stages
            .iter()
            .flat_map(|s| s.fields.iter().map(move |f| (s, f)))
            .find(|(_, f)| &f.name == name)
    }

    /// Whether `earlier` comes before `later` on the route: `later` can be reached from
    /// `earlier` by transitions, and `earlier` cannot be reached from `later` (stages on a loop,
    /// such as a draft sent back for review, come in no order).
    pub fn precedes(&self, earlier: &StageId, later: &StageId) -> bool {
        earlier != later && self.reaches(earlier, later) && !self.reaches(later, earlier)
    }

    /// Whether `to` can be reached from `from` by one or more transitions.
    pub fn reaches(&self, from: &StageId, to: &StageId) -> bool {
        let mut seen: BTreeSet<&StageId> = BTreeSet::new();
        let mut next: Vec<&StageId> = vec![from];
        while let Some(stage) = next.pop() {
            for t in self.transitions_from(stage) {
                if &t.to == to {
                    return true;
                }
                if seen.insert(&t.to) {
                    next.push(&t.to);
                }
            }
        }
        false
    }

    /// Every institution the definition names, for validation against the registry.
    pub fn institutions(&self) -> BTreeSet<&InstitutionId> {
        let mut all = BTreeSet::new();
        for stage in &self.stages {
            all.extend(stage.responsible.iter());
            if let Some(rule) = &stage.approvals {
                all.extend(rule.of.iter());
            }
            if let Some(esc) = &stage.escalation {
                all.extend(esc.to.iter());
            }
        }
        for t in &self.transitions {
            all.extend(t.by.iter());
        }
        all.extend(self.control.suspend.iter());
        all.extend(self.control.withdraw.iter());
        all
    }
}
