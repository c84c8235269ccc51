//! Parsing a workflow file into a definition, with every error located at file:line:column.
//!
//! Serde reads the TOML into `Raw*` structures that keep the byte span of each value; the
//! conversion then checks every value and collects all problems rather than stopping at the first.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Range;

use serde::Deserialize;
use sha2::{Digest, Sha256};
use toml::Spanned;

use super::model::*;
use super::validate::{self, KnownInstitutions};
use crate::calendar::{Period, parse_cron};
use crate::ids::{FieldName, InstitutionId, StageId, WorkflowId};
use crate::reference::Language;
use crate::source::line_column;

/// The English name of a language of the catalogues, for messages to a workflow's author.
fn language_name(language: Language) -> &'static str {
    match language {
        Language::En => "English",
        Language::Ru => "Russian",
        Language::Ky => "Kyrgyz",
        Language::Fr => "French",
    }
}

/// One problem in a workflow file, where it is and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
    pub hint: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: error: {}",
            self.file, self.line, self.column, self.message
        )?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// Collects diagnostics against one file's text.
pub(super) struct Report<'a> {
    file: &'a str,
    source: &'a str,
    pub(super) diagnostics: Vec<Diagnostic>,
}

impl<'a> Report<'a> {
    fn new(file: &'a str, source: &'a str) -> Self {
        Self {
            file,
            source,
            diagnostics: Vec::new(),
        }
    }

    pub(super) fn error(
        &mut self,
        span: Range<usize>,
        message: impl Into<String>,
        hint: Option<String>,
    ) {
        let (line, column) = line_column(self.source, span.start);
        self.diagnostics.push(Diagnostic {
            file: self.file.to_string(),
            line,
            column,
            message: message.into(),
            hint,
        });
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorkflow {
    id: Spanned<String>,
    version: Spanned<i64>,
    title: Spanned<toml::Value>,
    description: Option<Spanned<toml::Value>>,
    initial: Option<Spanned<String>>,
    #[serde(default)]
    control: RawControl,
    #[serde(default)]
    stages: Vec<Spanned<RawStage>>,
    #[serde(default)]
    transitions: Vec<Spanned<RawTransition>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawControl {
    #[serde(default)]
    suspend: Vec<Spanned<String>>,
    #[serde(default)]
    withdraw: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStage {
    id: Spanned<String>,
    title: Spanned<toml::Value>,
    description: Option<Spanned<toml::Value>>,
    #[serde(default)]
    responsible: Vec<Spanned<String>>,
    due: Option<Spanned<toml::Value>>,
    #[serde(default)]
    reminders: Vec<Spanned<RawReminder>>,
    escalation: Option<Spanned<RawEscalation>>,
    approvals: Option<Spanned<RawApprovals>>,
    #[serde(default)]
    fields: Vec<Spanned<RawField>>,
    #[serde(default)]
    terminal: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReminder {
    cron: Option<Spanned<String>>,
    before_due: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEscalation {
    after_due: Spanned<String>,
    #[serde(default)]
    to: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApprovals {
    of: Vec<Spanned<String>>,
    at_least: Option<Spanned<i64>>,
    on_decline: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawField {
    name: Spanned<String>,
    title: Option<Spanned<toml::Value>>,
    #[serde(rename = "type")]
    kind: Spanned<String>,
    #[serde(default)]
    required: bool,
    key: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTransition {
    from: Spanned<String>,
    to: Spanned<String>,
    by: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    guards: RawGuards,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawGuards {
    approvals: Option<bool>,
    fields: Option<Vec<Spanned<String>>>,
}

/// Where things were declared, for the graph checks.
pub(super) struct Spans {
    pub(super) stages: BTreeMap<StageId, Range<usize>>,
    pub(super) initial: Range<usize>,
    /// False when a stage or a transition could not be read (the problem is reported): the graph
    /// checks would then see a partial graph and report follow-on errors.
    pub(super) complete: bool,
}

/// Parse and validate one workflow file. `file` names it in diagnostics.
pub fn parse_definition(
    file: &str,
    source: &str,
    institutions: &KnownInstitutions,
) -> Result<WorkflowDefinition, Vec<Diagnostic>> {
    let mut report = Report::new(file, source);
    let raw: RawWorkflow = match toml::from_str(source) {
        Ok(raw) => raw,
        Err(err) => {
            let span = err.span().unwrap_or(0..0);
            let message = err.message().trim().to_string();
            let hint = syntax_hint(&message);
            report.error(span, message, hint);
            return Err(report.diagnostics);
        }
    };
    let content_hash = hex::encode(Sha256::digest(source.as_bytes()));
    let mut checker = Checker {
        report,
        institutions,
    };
    let definition = checker.convert(raw, content_hash, source.to_string());
    let mut report = checker.report;
    if let Some((definition, spans)) = &definition {
        validate::graph(definition, spans, &mut report);
    }
    match definition {
        Some((definition, _)) if report.diagnostics.is_empty() => Ok(definition),
        _ => {
            report.diagnostics.sort_by_key(|d| (d.line, d.column));
            Err(report.diagnostics)
        }
    }
}

fn syntax_hint(message: &str) -> Option<String> {
    if message.starts_with("unknown field") {
        Some("remove the key or check its spelling against the workflow format in README.md".into())
    } else if message.starts_with("missing field") {
        Some("add the key; see the workflow format in README.md".into())
    } else {
        None
    }
}

struct Checker<'a, 'k> {
    report: Report<'a>,
    institutions: &'k KnownInstitutions,
}

impl Checker<'_, '_> {
    fn convert(
        &mut self,
        raw: RawWorkflow,
        content_hash: String,
        source: String,
    ) -> Option<(WorkflowDefinition, Spans)> {
        let id = self.id::<WorkflowId>(&raw.id, WorkflowId::parse);
        let version = match u32::try_from(*raw.version.get_ref()) {
            Ok(v) if v >= 1 => Some(v),
            _ => {
                self.report.error(
                    raw.version.span(),
                    format!(
                        "version {} is not a positive whole number",
                        raw.version.get_ref()
                    ),
                    Some(
                        "number versions 1, 2, 3, …; raise it whenever the file changes meaning"
                            .into(),
                    ),
                );
                None
            }
        };
        let title = self.text(&raw.title, "title", true);
        let description = self.optional_text(raw.description.as_ref(), "description");

        let mut complete = true;
        let mut stage_spans = BTreeMap::new();
        let mut stages = Vec::new();
        for raw_stage in &raw.stages {
            let Some(stage) = self.stage(raw_stage.get_ref()) else {
                complete = false;
                continue;
            };
            if stage_spans.contains_key(&stage.id) {
                self.report.error(
                    raw_stage.get_ref().id.span(),
                    format!("duplicate stage id `{}`", stage.id),
                    Some("every stage needs its own id".into()),
                );
                continue;
            }
            stage_spans.insert(stage.id.clone(), raw_stage.get_ref().id.span());
            stages.push(stage);
        }
        if raw.stages.is_empty() {
            self.report.error(
                raw.id.span(),
                "the workflow has no stages",
                Some("add at least one `[[stages]]` table".into()),
            );
        }
        self.duplicate_fields(&raw.stages);
        // A decline's stage must be one of the workflow's.
        for raw_stage in &raw.stages {
            if let Some(approvals) = &raw_stage.get_ref().approvals
                && let Some(back) = &approvals.get_ref().on_decline
                && self
                    .stage_ref(back, &stage_spans, "stage to go back to on a decline")
                    .is_none()
            {
                complete = false;
            }
        }

        let (initial, initial_span) = match &raw.initial {
            Some(spanned) => (
                self.stage_ref(spanned, &stage_spans, "initial stage"),
                spanned.span(),
            ),
            None => (
                stages.first().map(|s| s.id.clone()),
                raw.stages.first().map_or(0..0, |s| s.get_ref().id.span()),
            ),
        };

        let mut transitions = Vec::new();
        let mut seen = BTreeSet::new();
        for raw_t in &raw.transitions {
            let Some(t) = self.transition(raw_t.get_ref(), &stages, &stage_spans) else {
                complete = false;
                continue;
            };
            if !seen.insert((t.from.clone(), t.to.clone())) {
                self.report.error(
                    raw_t.get_ref().from.span(),
                    format!("duplicate transition from `{}` to `{}`", t.from, t.to),
                    Some(
                        "declare each move once; list every institution that may make it in `by`"
                            .into(),
                    ),
                );
                continue;
            }
            transitions.push(t);
        }

        let control = Control {
            suspend: self.institution_list(&raw.control.suspend),
            withdraw: self.institution_list(&raw.control.withdraw),
        };

        let definition = WorkflowDefinition {
            id: id?,
            version: version?,
            initial: initial?,
            stages,
            transitions,
            control,
            content_hash,
            translations: TextTranslations {
                title: title.as_ref()?.1.clone(),
                description: description.1,
            },
            title: title?.0,
            description: description.0,
            source,
        };
        Some((
            definition,
            Spans {
                stages: stage_spans,
                initial: initial_span,
                complete,
            },
        ))
    }

    fn stage(&mut self, raw: &RawStage) -> Option<Stage> {
        let id = self.id(&raw.id, StageId::parse);
        let (title, title_translations) = self.text(&raw.title, "title", true).unzip();
        let (description, description_translations) =
            self.optional_text(raw.description.as_ref(), "description");
        let responsible = self.institution_list(&raw.responsible);
        if raw.responsible.is_empty() && !raw.terminal {
            self.report.error(
                raw.id.span(),
                format!(
                    "stage `{}` names no responsible institution",
                    raw.id.get_ref()
                ),
                Some(
                    "add `responsible = [\"…\"]` with the institutions that act in this stage"
                        .into(),
                ),
            );
        }
        let due = raw.due.as_ref().and_then(|d| self.due(d));
        let mut reminders: Vec<Reminder> = Vec::new();
        for spanned in &raw.reminders {
            let Some(reminder) = self.reminder(spanned) else {
                continue;
            };
            // Two equal reminders would send every message twice (and share a timer key).
            if reminders.contains(&reminder) {
                self.report.error(
                    spanned.span(),
                    format!("stage `{}` has this reminder twice", raw.id.get_ref()),
                    Some("remove one of them".into()),
                );
                continue;
            }
            reminders.push(reminder);
        }
        let before_due = raw
            .reminders
            .iter()
            .find(|r| r.get_ref().before_due.is_some() && r.get_ref().cron.is_none());
        if let Some(reminder) = before_due
            && raw.due.is_none()
        {
            self.report.error(
                reminder.span(),
                format!(
                    "stage `{}` has a reminder before its due date but no due date",
                    raw.id.get_ref()
                ),
                Some("add `due = \"…\"` to the stage or use a `cron` reminder".into()),
            );
        }
        let escalation = raw.escalation.as_ref().and_then(|spanned| {
            if raw.due.is_none() {
                self.report.error(
                    spanned.span(),
                    format!(
                        "stage `{}` escalates after its due date but has none",
                        raw.id.get_ref()
                    ),
                    Some("add `due = \"…\"` to the stage".into()),
                );
            }
            let e = spanned.get_ref();
            let after_due = self.period(&e.after_due);
            let to = self.institution_list(&e.to);
            if e.to.is_empty() {
                self.report.error(
                    spanned.span(),
                    "an escalation must name whom it goes `to`",
                    Some("for example `to = [\"mfa\"]`".into()),
                );
            }
            Some(Escalation {
                after_due: after_due?,
                to,
            })
        });
        let approvals = raw.approvals.as_ref().and_then(|a| self.approvals(a));
        let fields = raw
            .fields
            .iter()
            .filter_map(|f| self.field(f.get_ref()))
            .collect();
        Some(Stage {
            id: id?,
            // An empty title is reported; keeping the stage spares its transitions follow-on errors.
            title: title.unwrap_or_default(),
            description,
            responsible,
            due,
            reminders,
            escalation,
            approvals,
            fields,
            terminal: raw.terminal,
            translations: TextTranslations {
                title: title_translations.unwrap_or_default(),
                description: description_translations,
            },
        })
    }

    fn duplicate_fields(&mut self, stages: &[Spanned<RawStage>]) {
        let mut seen = BTreeSet::new();
        for stage in stages {
            for field in &stage.get_ref().fields {
                let name = field.get_ref().name.get_ref();
                if !seen.insert(name.clone()) {
                    self.report.error(
                        field.get_ref().name.span(),
                        format!("duplicate field `{name}`"),
                        Some(
                            "a field is recorded once per procedure; give each its own name".into(),
                        ),
                    );
                }
            }
        }
    }

    fn due(&mut self, raw: &Spanned<toml::Value>) -> Option<DueRule> {
        match raw.get_ref() {
            toml::Value::String(text) => match text.parse::<Period>() {
                Ok(p) => Some(DueRule::After(p)),
                Err(e) => {
                    self.report.error(raw.span(), e.to_string(), None);
                    None
                }
            },
            toml::Value::Table(table) => {
                let rule = table.get("rule").and_then(|v| v.as_str());
                let unknown: Vec<&String> = table.keys().filter(|k| *k != "rule").collect();
                if let Some(key) = unknown.first() {
                    self.report.error(
                        raw.span(),
                        format!("unknown key `{key}` in `due`"),
                        Some("a treaty due rule is written `due = { rule = \"invitation-validity\" }`".into()),
                    );
                    return None;
                }
                match rule.and_then(TreatyDateRule::parse) {
                    Some(rule) => Some(DueRule::Treaty(rule)),
                    None => {
                        self.report.error(
                            raw.span(),
                            format!(
                                "unknown treaty date rule {}",
                                rule.map_or("(none)".to_string(), |r| format!("`{r}`"))
                            ),
                            Some(format!("known rules: {}", TreatyDateRule::NAMES.join(", "))),
                        );
                        None
                    }
                }
            }
            _ => {
                self.report.error(
                    raw.span(),
                    "`due` must be a period such as \"30 days\" or a table such as { rule = \"entry-into-force\" }",
                    None,
                );
                None
            }
        }
    }

    fn reminder(&mut self, raw: &Spanned<RawReminder>) -> Option<Reminder> {
        match (&raw.get_ref().cron, &raw.get_ref().before_due) {
            (Some(expr), None) => match parse_cron(expr.get_ref()) {
                Ok(_) => Some(Reminder::Cron {
                    expression: expr.get_ref().trim().to_string(),
                }),
                Err(e) => {
                    self.report.error(
                        expr.span(),
                        e.to_string(),
                        Some("five fields as in crontab, for example \"0 9 * * 1\" (Mondays at 09:00)".into()),
                    );
                    None
                }
            },
            (None, Some(period)) => self
                .period(period)
                .map(|period| Reminder::BeforeDue { period }),
            _ => {
                self.report.error(
                    raw.span(),
                    "a reminder has either `cron` or `before_due`, not both and not neither",
                    Some(
                        "for example { cron = \"0 9 * * 1\" } or { before_due = \"7 days\" }"
                            .into(),
                    ),
                );
                None
            }
        }
    }

    fn approvals(&mut self, raw: &Spanned<RawApprovals>) -> Option<ApprovalRule> {
        let listed = &raw.get_ref().of;
        let of = self.institution_list(listed);
        let mut unique = BTreeSet::new();
        for spanned in listed {
            if !unique.insert(spanned.get_ref()) {
                self.report.error(
                    spanned.span(),
                    format!("`{}` is listed twice in the approvals", spanned.get_ref()),
                    None,
                );
            }
        }
        if listed.is_empty() {
            self.report.error(
                raw.span(),
                "approvals must name at least one institution in `of`",
                None,
            );
            return None;
        }
        let at_least = match &raw.get_ref().at_least {
            None => of.len(),
            Some(n) => match usize::try_from(*n.get_ref()) {
                Ok(k) if k >= 1 && k <= listed.len() => k,
                _ => {
                    self.report.error(
                        n.span(),
                        format!(
                            "`at_least = {}` cannot be met by the {} institution(s) listed",
                            n.get_ref(),
                            listed.len()
                        ),
                        Some(format!(
                            "use a number from 1 to {}, or leave it out to require all",
                            listed.len()
                        )),
                    );
                    return None;
                }
            },
        };
        // Checked against the stages once they are all read (`Checker::convert`).
        let on_decline = raw
            .get_ref()
            .on_decline
            .as_ref()
            .and_then(|stage| StageId::parse(stage.get_ref().clone()).ok());
        Some(ApprovalRule {
            of,
            at_least,
            on_decline,
        })
    }

    fn field(&mut self, raw: &RawField) -> Option<FieldSpec> {
        let name = self.id(&raw.name, FieldName::parse);
        let kind = FieldKind::parse(raw.kind.get_ref());
        if kind.is_none() {
            self.report.error(
                raw.kind.span(),
                format!("unknown field type `{}`", raw.kind.get_ref()),
                Some("use `date`, `text` or `document`".into()),
            );
        }
        let key = match &raw.key {
            None => None,
            Some(k) => match KeyDate::parse(k.get_ref()) {
                Some(key) => {
                    if kind.is_some_and(|k| k != FieldKind::Date) {
                        self.report.error(
                            k.span(),
                            format!("key date `{}` must be a field of type `date`", k.get_ref()),
                            None,
                        );
                    }
                    Some(key)
                }
                None => {
                    self.report.error(
                        k.span(),
                        format!("unknown key date `{}`", k.get_ref()),
                        Some(format!("known key dates: {}", KeyDate::NAMES.join(", "))),
                    );
                    return None;
                }
            },
        };
        let (title, translations) = match &raw.title {
            Some(t) => self.text(t, "title", true)?,
            None => (String::new(), Translations::default()),
        };
        let name = name?;
        Some(FieldSpec {
            title: if title.is_empty() {
                name.to_string()
            } else {
                title
            },
            translations,
            name,
            kind: kind?,
            required: raw.required,
            key,
        })
    }

    fn transition(
        &mut self,
        raw: &RawTransition,
        stages: &[Stage],
        spans: &BTreeMap<StageId, Range<usize>>,
    ) -> Option<Transition> {
        let from = self.stage_ref(&raw.from, spans, "stage");
        let to = self.stage_ref(&raw.to, spans, "stage");
        let from_stage = from
            .as_ref()
            .and_then(|f| stages.iter().find(|s| &s.id == f));
        let by = match &raw.by {
            Some(list) => {
                if list.is_empty() {
                    self.report.error(
                        raw.from.span(),
                        "`by = []` lets nobody make this move",
                        Some("list the institutions, or leave `by` out to let the stage's responsible institutions act".into()),
                    );
                }
                self.institution_list(list)
            }
            None => from_stage
                .map(|s| s.responsible.clone())
                .unwrap_or_default(),
        };
        if let Some(stage) = from_stage
            && stage.terminal
        {
            self.report.error(
                raw.from.span(),
                format!("stage `{}` is terminal and cannot be left", stage.id),
                Some("remove the transition or make the stage non-terminal".into()),
            );
        }
        let approvals = raw
            .guards
            .approvals
            .unwrap_or_else(|| from_stage.is_some_and(|s| s.approvals.is_some()));
        if approvals && from_stage.is_some_and(|s| s.approvals.is_none()) {
            self.report.error(
                raw.from.span(),
                format!(
                    "the transition waits for approvals but stage `{}` asks for none",
                    raw.from.get_ref()
                ),
                Some("add `approvals = { of = [...] }` to the stage or drop the guard".into()),
            );
        }
        let fields = match &raw.guards.fields {
            Some(list) => list
                .iter()
                .filter_map(|f| {
                    let name = self.id(f, FieldName::parse)?;
                    let declared = stages
                        .iter()
                        .any(|s| s.fields.iter().any(|d| d.name == name));
                    if !declared {
                        self.report.error(
                            f.span(),
                            format!("field `{name}` is not declared on any stage"),
                            Some("declare it under `[[stages.fields]]`".into()),
                        );
                        return None;
                    }
                    Some(name)
                })
                .collect(),
            None => from_stage
                .map(|s| {
                    s.fields
                        .iter()
                        .filter(|f| f.required)
                        .map(|f| f.name.clone())
                        .collect()
                })
                .unwrap_or_default(),
        };
        Some(Transition {
            from: from?,
            to: to?,
            by,
            approvals,
            fields,
        })
    }

    fn stage_ref(
        &mut self,
        raw: &Spanned<String>,
        spans: &BTreeMap<StageId, Range<usize>>,
        what: &str,
    ) -> Option<StageId> {
        let id = self.id(raw, StageId::parse)?;
        if spans.contains_key(&id) {
            return Some(id);
        }
        let known: Vec<&str> = spans.keys().map(|s| s.as_str()).collect();
        let hint = match crate::suggest::closest(id.as_str(), &known) {
            Some(close) => format!("did you mean `{close}`? stages: {}", known.join(", ")),
            None => format!("stages: {}", known.join(", ")),
        };
        self.report
            .error(raw.span(), format!("unknown {what} `{id}`"), Some(hint));
        None
    }

    fn institution_list(&mut self, raw: &[Spanned<String>]) -> Vec<InstitutionId> {
        raw.iter()
            .filter_map(|spanned| {
                let id = self.id(spanned, InstitutionId::parse)?;
                if let Some(known) = self.institutions.ids()
                    && !known.contains(&id)
                {
                    let names: Vec<&str> = known.iter().map(|i| i.as_str()).collect();
                    let hint = match crate::suggest::closest(id.as_str(), &names) {
                        Some(close) => format!("did you mean `{close}`?"),
                        None => format!("known institutions: {}", names.join(", ")),
                    };
                    self.report.error(
                        spanned.span(),
                        format!("unknown institution `{id}`"),
                        Some(hint),
                    );
                    return None;
                }
                Some(id)
            })
            .collect()
    }

    fn period(&mut self, raw: &Spanned<String>) -> Option<Period> {
        match raw.get_ref().parse::<Period>() {
            Ok(p) => Some(p),
            Err(e) => {
                self.report.error(raw.span(), e.to_string(), None);
                None
            }
        }
    }

    fn id<T>(
        &mut self,
        raw: &Spanned<String>,
        parse: impl Fn(String) -> Result<T, crate::ids::InvalidId>,
    ) -> Option<T> {
        match parse(raw.get_ref().clone()) {
            Ok(id) => Some(id),
            Err(e) => {
                self.report.error(raw.span(), e.to_string(), None);
                None
            }
        }
    }

    /// A text people read: a plain string (English), or a table with a text in every language
    /// of the catalogues (`{ en = "…", ru = "…", ky = "…" }`). A table that lacks a language, has
    /// one the catalogues do not, or an empty text is reported where it stands.
    fn text(
        &mut self,
        raw: &Spanned<toml::Value>,
        key: &str,
        required: bool,
    ) -> Option<(String, Translations)> {
        let span = raw.span();
        let take = |this: &mut Self, value: &toml::Value, which: &str| -> Option<String> {
            match value {
                toml::Value::String(text) if text.trim().is_empty() && required => {
                    this.report
                        .error(span.clone(), format!("`{key}`{which} is empty"), None);
                    None
                }
                toml::Value::String(text) => Some(text.clone()),
                other => {
                    this.report.error(
                        span.clone(),
                        format!(
                            "`{key}`{which} is a {}, not a text",
                            other.type_str()
                        ),
                        Some(format!(
                            "write `{key} = \"…\"` (English), or `{key} = {{ en = \"…\", ru = \"…\", ky = \"…\" }}`"
                        )),
                    );
                    None
                }
            }
        };
        let table = match raw.get_ref() {
            toml::Value::Table(table) => table,
            plain => return take(self, plain, "").map(|t| (t, Translations::default())),
        };
        let codes: Vec<&str> = crate::locale::LANGUAGES
            .iter()
            .map(|l| l.as_str())
            .collect();
        let mut ok = true;
        for unknown in table.keys().filter(|k| !codes.contains(&k.as_str())) {
            ok = false;
            self.report.error(
                span.clone(),
                format!(
                    "`{key}` has a text in `{unknown}`, which is not a language of the catalogues"
                ),
                Some(format!("the languages are {}", codes.join(", "))),
            );
        }
        let mut texts = BTreeMap::new();
        for code in &codes {
            match table.get(*code) {
                Some(value) => match take(self, value, &format!(".{code}")) {
                    Some(text) => {
                        texts.insert(*code, text);
                    }
                    None => ok = false,
                },
                None => {
                    ok = false;
                    let name = Language::parse(code).map_or(*code, language_name);
                    self.report.error(
                        span.clone(),
                        format!("`{key}` has no text in {name} (`{code}`)"),
                        Some(format!(
                            "give `{key}` in every language of the catalogues ({}), or write one plain string for English only",
                            codes.join(", ")
                        )),
                    );
                }
            }
        }
        if !ok {
            return None;
        }
        Some((
            texts.remove("en").unwrap_or_default(),
            Translations {
                ru: texts.remove("ru"),
                ky: texts.remove("ky"),
            },
        ))
    }

    /// A text that may be left out (a description): empty when it is.
    fn optional_text(
        &mut self,
        raw: Option<&Spanned<toml::Value>>,
        key: &str,
    ) -> (String, Translations) {
        raw.and_then(|r| self.text(r, key, false))
            .unwrap_or_default()
    }
}
