//! A procedure: its timeline and workflow pictures, history and timers, and the forms of the
//! acts the caller may do now; an act's form posted back.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::NaiveDate;
use chrono_tz::Tz;
use serde::Serialize;

use super::layout::{
    DoneQuery, Flash, Form, HistoryLine, PageBody, app_error_page, local, name_of, redirect, show,
    some, zone_of,
};
use super::render::{page_language, text};
use super::session::{CsrfChecked, SignedIn, Visitor};
use super::svg;
use crate::app::{AppError, Moves};
use crate::audit::ChainRow;
use crate::engine::{
    Act, Command, DeadlineExtension, InvitationExtension, KeyDates, Objection, ProcedureState,
    TimerKind,
};
use crate::http::{Caller, HttpState};
use crate::ids::{FieldName, InstitutionId, ProcedureId, StageId, StateCode};

use crate::workflow::{FieldKind, KeyDate};

/// A procedure's page.
#[derive(Debug, Serialize)]
struct ProcedurePage {
    p: Summary,
    treaty: TreatyFacts,
    forms: Vec<ActForm>,
    flash: Option<Flash>,
    /// The pictures, drawn on the server (their text escaped there).
    timeline_svg: String,
    workflow_svg: String,
    timers: Vec<TimerLine>,
    /// The reservations and declarations, as they stand today.
    reservations: Vec<ReservationLine>,
    /// Newest first.
    history: Vec<HistoryEntry>,
    /// The values recorded, with who recorded each and when.
    recorded: Vec<FieldLine>,
    /// The approvals and declines of the current stage entry.
    approvals: Option<ApprovalsLine>,
    /// A withdrawal asked for and not yet confirmed: its reason, to confirm or cancel.
    confirm_withdraw: Option<String>,
    zone: &'static str,
}

/// A field recorded on the procedure: its value now, and the act that recorded it.
#[derive(Debug, Serialize)]
struct FieldLine {
    name: FieldName,
    title: String,
    stage_title: String,
    value: String,
    institution: String,
    person: String,
    at: String,
    sequence: i64,
}

/// Who is to approve the current stage, who has, and who declined and why.
#[derive(Debug, Serialize)]
struct ApprovalsLine {
    at_least: usize,
    of: Vec<String>,
    given: Vec<String>,
    declined: Vec<DeclineLine>,
    /// The stage a decline sends the procedure back to, by the workflow.
    on_decline: Option<String>,
}

#[derive(Debug, Serialize)]
struct DeclineLine {
    institution: String,
    person: String,
    at: String,
    reason: String,
}

/// A history row and what it changed, in the reader's words.
#[derive(Debug, Serialize)]
struct HistoryEntry {
    #[serde(flatten)]
    line: HistoryLine,
    /// The act, named in the reader's language.
    what: String,
    /// Who acted: the institution's name.
    institution: String,
    /// What it changed: a field from its old value to its new one, the stage entered, the
    /// approvals given.
    changes: Vec<Change>,
}

impl PageBody for ProcedurePage {
    const TEMPLATE: &'static str = "procedure.html";
}

/// Where the procedure is and what comes next.
#[derive(Debug, Serialize)]
struct Summary {
    id: ProcedureId,
    number: String,
    title: Option<String>,
    state: String,
    stage_title: String,
    status: &'static str,
    version: i64,
    responsible: Vec<String>,
    due_on: Option<NaiveDate>,
    overdue: bool,
    key_dates: KeyDates,
    eif_differs: bool,
    next: Vec<NextLine>,
    /// What the current stage expects, in the reader's language.
    expects: Option<String>,
}

/// A move the workflow gives from the current stage, and what it waits for, in words.
#[derive(Debug, Serialize)]
struct NextLine {
    title: String,
    /// Who may make it, by name.
    by: String,
    blocked_by: Vec<String>,
    back: bool,
}

/// What the treaty record says beside the key dates: the invitation's validity and its
/// extensions, the current stage's extended deadline, the Parties' objections and where a
/// recorded date of entry into force comes from.
#[derive(Debug, Serialize)]
struct TreatyFacts {
    /// The workflow has an invitation to accede, so a consultation of the Parties before it.
    consultation: bool,
    invited_on: Option<NaiveDate>,
    /// The last day of validity, extensions included.
    valid_until: Option<NaiveDate>,
    /// The last day of validity by the convention's rule alone.
    valid_by_rule: Option<NaiveDate>,
    extensions: Vec<InvitationExtension>,
    /// The deadline of the stage the procedure is in, extended in this stay in it.
    deadline_extension: Option<DeadlineExtension>,
    objections: Vec<Objection>,
    eif_computed: Option<NaiveDate>,
    eif_recorded: Option<NaiveDate>,
    /// The depositary's publication a recorded date other than the rule's is taken from.
    eif_source: Option<String>,
}

/// The form of one act: `to` and its title for `advance`, the fields for `record`, the field
/// for `record-eif` (entry into force as the depositary's own date), the Parties for
/// `withdraw-objection`; `typed` is what was typed in it when the act was refused.
#[derive(Debug, Serialize)]
struct ActForm {
    act: String,
    to: Option<StageId>,
    to_title: Option<String>,
    fields: Vec<RecordField>,
    field: Option<FieldName>,
    parties: Vec<StateCode>,
    /// For the acts on a reservation: the numbers it may be done to.
    numbers: Vec<u32>,
    typed: Typed,
    /// A move back (to a stage before the current one), shown apart from moves forward.
    back: bool,
    /// What a move still waits for, in words; a move that waits is shown disabled.
    blocked: Vec<String>,
    /// Why this form, posted, was refused: shown next to its inputs.
    error: Option<String>,
}

impl ActForm {
    fn named(act: &str) -> ActForm {
        ActForm {
            act: act.to_string(),
            to: None,
            to_title: None,
            fields: Vec::new(),
            field: None,
            parties: Vec::new(),
            numbers: Vec::new(),
            typed: Typed::default(),
            back: false,
            blocked: Vec::new(),
            error: None,
        }
    }

    /// Whether `form`, posted and refused, was this one.
    fn is(&self, form: &Form) -> bool {
        form.get("act") == Some(&self.act)
            && (self.act != "advance"
                || form.get("to").map(String::as_str) == self.to.as_ref().map(StageId::as_str))
    }
}

/// What a form's inputs hold: empty, or as typed when the act was refused, so the person
/// corrects what the refusal names instead of typing it all again.
#[derive(Debug, Default, Serialize)]
struct Typed {
    comment: String,
    text: String,
    reason: String,
    field: String,
    value: String,
    source: String,
    until: String,
    decision: String,
    party: String,
    kind: String,
    article: String,
    made_at: String,
    made_on: String,
    text_en: String,
    text_ru: String,
    text_ky: String,
    number: String,
    on: String,
    received_on: String,
    effective_on: String,
}

impl Typed {
    fn of(form: &Form) -> Typed {
        let get = |k: &str| form.get(k).cloned().unwrap_or_default();
        Typed {
            comment: get("comment"),
            text: get("text"),
            reason: get("reason"),
            field: get("field"),
            value: get("value"),
            source: get("source"),
            until: get("until"),
            decision: get("decision"),
            party: get("party"),
            kind: get("kind"),
            article: get("article"),
            made_at: get("made_at"),
            made_on: get("made_on"),
            text_en: get("text_en"),
            text_ru: get("text_ru"),
            text_ky: get("text_ky"),
            number: get("number"),
            on: get("on"),
            received_on: get("received_on"),
            effective_on: get("effective_on"),
        }
    }
}

/// A field the record form offers.
#[derive(Debug, Clone, Serialize)]
struct RecordField {
    name: FieldName,
    title: String,
    is_date: bool,
}

/// A reservation or declaration, as it stands on the viewer's day.
#[derive(Debug, Serialize)]
struct ReservationLine {
    number: u32,
    kind: &'static str,
    article: String,
    made_at: &'static str,
    made_on: NaiveDate,
    status: &'static str,
    valid_until: Option<NaiveDate>,
    lapses_after: Option<NaiveDate>,
    /// The next reminder of its expiry, at the viewer's local time.
    next_reminder: Option<String>,
    /// Its text in force, by language.
    text: Vec<(String, String)>,
    renewals: usize,
    modifications: usize,
    withdrawn_effective: Option<NaiveDate>,
}

/// A timer of the procedure, at the viewer's local time.
#[derive(Debug, Serialize)]
struct TimerLine {
    at: String,
    kind: TimerKind,
    rule: String,
    recipients: Vec<String>,
}

pub async fn procedure(
    State(state): State<HttpState>,
    Path(id): Path<String>,
    Query(q): Query<DoneQuery>,
    SignedIn { visitor: v, caller }: SignedIn,
) -> Response {
    // Only the name of an act: a crafted link cannot make the page say anything else.
    const ACTS: [&str; 16] = [
        "advance",
        "approve",
        "decline",
        "record",
        "comment",
        "suspend",
        "resume",
        "withdraw",
        "extend_invitation",
        "extend_deadline",
        "raise_objection",
        "withdraw_objection",
        "reserve",
        "renew_reservation",
        "modify_reservation",
        "withdraw_reservation",
    ];
    let flash = some(&q.done)
        .filter(|act| ACTS.contains(act))
        .map(|act| Flash {
            kind: "done",
            text: crate::locale::refusals::act(act, v.language),
        });
    let shown = Shown {
        flash,
        ..Shown::default()
    };
    match procedure_page(&state, &v, &caller, &id, shown, StatusCode::OK).await {
        Ok(r) => r,
        Err(e) => app_error_page(&v, e),
    }
}

/// The procedure a page's address names: one that cannot be an id is not found, like one that
/// does not exist.
fn page_procedure_id(id: &str) -> Result<ProcedureId, AppError> {
    ProcedureId::parse(id).map_err(|_| AppError::NotFound {
        what: "procedure",
        id: id.to_string(),
    })
}

async fn readable(
    state: &HttpState,
    caller: &Caller,
    id: &str,
) -> Result<ProcedureState, AppError> {
    state
        .app
        .readable(&page_procedure_id(id)?, &caller.actor)
        .await
}

/// The forms of the acts the caller may do now (`Accession::allowed_acts`, offering every move
/// the workflow gives the institution: the engine's refusal says what is still missing), with
/// the fields to record gathered in one form, and the date of entry into force in a form of its
/// own with the depositary's source. `typed`, a refused form, is put back in the form it came
/// from.
async fn forms(
    state: &HttpState,
    caller: &Caller,
    p: &ProcedureState,
    refused: Option<(&Form, &str)>,
    names: &Names<'_>,
) -> Result<Vec<ActForm>, AppError> {
    let app = &state.app;
    let language = names.language;
    let def = names.def;
    let mut out = Vec::new();
    let mut fields = Vec::new();
    let mut parties = Vec::new();
    let mut numbers: std::collections::BTreeMap<String, Vec<u32>> = Default::default();
    for a in app.allowed_acts(p, &caller.actor, Moves::Permitted).await? {
        match (a.act.as_str(), &a.to, &a.field) {
            ("advance", Some(to), _) => {
                let title = def
                    .stage(to)
                    .map_or_else(|| to.to_string(), |s| s.title_in(language).to_string());
                out.push(ActForm {
                    to: Some(to.clone()),
                    to_title: Some(title),
                    back: is_back(def, &p.stage, to),
                    blocked: names.waits_for(p, to),
                    ..ActForm::named("advance")
                });
            }
            ("approve", _, _) => {
                // Declining is asked of the same approvers as approving: offered beside it.
                out.push(ActForm::named("approve"));
                out.push(ActForm::named("decline"));
            }
            ("record", _, Some(name)) => {
                if let Some((_, f)) = def.field(name) {
                    fields.push(RecordField {
                        name: f.name.clone(),
                        title: f.title_in(language).to_string(),
                        is_date: f.kind == FieldKind::Date,
                    });
                    if f.key == Some(KeyDate::EntryIntoForce) {
                        out.push(ActForm {
                            field: Some(f.name.clone()),
                            ..ActForm::named("record-eif")
                        });
                    }
                }
                if fields.len() == 1 {
                    // The record form stands where the first field is, before comment & co.
                    out.push(ActForm::named("record"));
                }
            }
            ("withdraw-objection", _, _) => {
                if parties.is_empty() {
                    out.push(ActForm::named("withdraw-objection"));
                }
                parties.extend(a.party);
            }
            ("renew-reservation" | "modify-reservation" | "withdraw-reservation", _, _) => {
                let list = numbers.entry(a.act.clone()).or_default();
                if list.is_empty() {
                    out.push(ActForm::named(&a.act));
                }
                list.extend(a.reservation);
            }
            (act, _, _) => out.push(ActForm::named(act)),
        }
    }
    for form in &mut out {
        match form.act.as_str() {
            "record" => form.fields.clone_from(&fields),
            "withdraw-objection" => form.parties.clone_from(&parties),
            act => {
                if let Some(list) = numbers.get(act) {
                    form.numbers.clone_from(list);
                }
            }
        }
        if let Some((typed, why)) = refused.filter(|(t, _)| form.is(t)) {
            form.typed = Typed::of(typed);
            form.error = Some(why.to_string());
        }
    }
    // Moves forward first, then moves back; withdrawing, apart, last.
    out.sort_by_key(|f| match f.act.as_str() {
        "advance" if f.back => 1,
        "advance" => 0,
        "withdraw" => 3,
        _ => 2,
    });
    Ok(out)
}

/// Whether a move from `from` to `to` goes back: to a stage the workflow declares before.
fn is_back(def: &crate::workflow::WorkflowDefinition, from: &StageId, to: &StageId) -> bool {
    let position = |id: &StageId| def.stages.iter().position(|s| &s.id == id);
    matches!((position(from), position(to)), (Some(f), Some(t)) if t < f)
}

/// What the page names in the reader's words: stages, fields and institutions.
struct Names<'a> {
    def: &'a crate::workflow::WorkflowDefinition,
    institutions: &'a [crate::reference::Institution],
    language: crate::reference::Language,
}

impl Names<'_> {
    fn institution(&self, id: &str) -> String {
        match InstitutionId::parse(id) {
            Ok(id) => name_of(self.institutions, &id, self.language),
            Err(_) => id.to_string(),
        }
    }

    fn institutions<'i>(&self, ids: impl IntoIterator<Item = &'i InstitutionId>) -> String {
        ids.into_iter()
            .map(|i| name_of(self.institutions, i, self.language))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn stage(&self, id: &str) -> String {
        StageId::parse(id)
            .ok()
            .and_then(|s| {
                self.def
                    .stage(&s)
                    .map(|s| s.title_in(self.language).to_string())
            })
            .unwrap_or_else(|| id.to_string())
    }

    fn field(&self, name: &str) -> String {
        FieldName::parse(name)
            .ok()
            .and_then(|f| {
                self.def
                    .field(&f)
                    .map(|(_, f)| f.title_in(self.language).to_string())
            })
            .unwrap_or_else(|| name.to_string())
    }

    /// What the move from the current stage to `to` still waits for, in words: the approvals
    /// and the fields its guards name, and a suspension. Empty: it can be made.
    fn waits_for(&self, p: &ProcedureState, to: &StageId) -> Vec<String> {
        let l = self.language;
        let mut out = Vec::new();
        let Some(t) = self.def.transition(&p.stage, to) else {
            return out;
        };
        if p.status == crate::engine::Status::Suspended {
            out.push(text(l, "blocked_suspended"));
        }
        if t.approvals
            && let Some(rule) = self.def.stage(&p.stage).and_then(|s| s.approvals.as_ref())
        {
            let given = p.approvals.keys().cloned().collect();
            let missing = rule.missing(&given);
            if !missing.is_empty() {
                let have = rule.of.iter().filter(|i| given.contains(*i)).count();
                out.push(crate::locale::format(
                    l,
                    "blocked_approvals",
                    &[
                        ("have", &have.to_string()),
                        ("needed", &rule.at_least.to_string()),
                        ("missing", &self.institutions(&missing)),
                    ],
                ));
            }
        }
        let missing: Vec<String> = t
            .fields
            .iter()
            .filter(|f| !p.fields.contains_key(*f))
            .map(|f| self.field(f.as_str()))
            .collect();
        if !missing.is_empty() {
            out.push(crate::locale::format(
                l,
                "blocked_fields",
                &[("fields", &missing.join(", "))],
            ));
        }
        out
    }

    /// What history row `h` changed, in words.
    fn changes(&self, h: &ChainRow) -> Vec<Change> {
        let l = self.language;
        let payload: serde_json::Value = serde_json::from_str(&h.payload).unwrap_or_default();
        let str_of = |v: &serde_json::Value| v.as_str().map(str::to_string);
        let list = |v: &serde_json::Value| {
            v.as_array()
                .map(|items| {
                    items
                        .iter()
                        .filter_map(|i| i.as_str())
                        .map(|i| self.institution(i))
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .filter(|s| !s.is_empty())
        };
        let mut out = Vec::new();
        match h.command.as_str() {
            "record" => {
                if let Some(field) = payload["field"].as_str() {
                    out.push(Change {
                        what: self.field(field),
                        from: str_of(&payload["previous"]),
                        to: str_of(&payload["value"]),
                        typed: true,
                    });
                }
                if let Some(source) = str_of(&payload["source"]) {
                    out.push(Change {
                        what: text(l, "source_label"),
                        from: None,
                        to: Some(source),
                        typed: true,
                    });
                }
            }
            "approve" => {
                let after = list(&payload["approvals"]);
                let by = payload["approved_by"].as_str().unwrap_or_default();
                let before = payload["approvals"].as_array().map(|items| {
                    items
                        .iter()
                        .filter_map(|i| i.as_str())
                        .filter(|i| *i != by)
                        .map(|i| self.institution(i))
                        .collect::<Vec<_>>()
                        .join(", ")
                });
                out.push(Change {
                    what: text(l, "approvals_given"),
                    from: before.filter(|s| !s.is_empty()),
                    to: after,
                    typed: false,
                });
                if payload["complete"] == serde_json::Value::Bool(true) {
                    out.push(Change {
                        what: text(l, "approvals_complete"),
                        from: None,
                        to: None,
                        typed: false,
                    });
                }
            }
            "decline" => out.push(Change {
                what: text(l, "declined_by"),
                from: None,
                to: payload["declined_by"].as_str().map(|i| self.institution(i)),
                typed: false,
            }),
            "advance" => {
                if let Some(given) = list(&payload["approvals"]) {
                    out.push(Change {
                        what: text(l, "approvals_given"),
                        from: None,
                        to: Some(given),
                        typed: false,
                    });
                }
            }
            _ => {}
        }
        let status = |s: &str| text(l, &format!("status_{s}"));
        let moved = match h.command.as_str() {
            "suspend" => Some(("active", "suspended")),
            "resume" => Some(("suspended", "active")),
            "withdraw" => Some(("active", "withdrawn")),
            _ => None,
        };
        if let Some((from, to)) = moved {
            out.push(Change {
                what: text(l, "filter_status"),
                from: Some(status(from)),
                to: Some(status(to)),
                typed: false,
            });
        }
        if let Some(to) = &h.to_stage
            && h.from_stage.as_deref() != Some(to.as_str())
        {
            out.push(Change {
                what: text(l, "col_stage"),
                from: h.from_stage.as_deref().map(|s| self.stage(s)),
                to: Some(self.stage(to)),
                typed: false,
            });
        }
        out
    }
}

/// One change a history row made: `what` from one value to another (`typed`: values as a person
/// typed them, not words of the page).
#[derive(Debug, Serialize)]
struct Change {
    what: String,
    from: Option<String>,
    to: Option<String>,
    typed: bool,
}

/// A stage entry, from the history: the span its day lies in (one day when known) and whether it
/// was recorded later than it took effect.
struct Entry {
    stage: String,
    /// From the last day known before it to the day stated (approximate), or the day itself.
    within: (NaiveDate, NaiveDate),
    retrospective: bool,
}

/// The stages as they were entered and left, from the history, for the timeline: on the days the
/// acts took effect (as stated, else as recorded in the viewer's zone). A day that is not known
/// is a span (from the last known day before it), drawn as such rather than as a one-day stage.
fn timeline(
    def: &crate::workflow::WorkflowDefinition,
    p: &ProcedureState,
    history: &[ChainRow],
    zone: Tz,
    today: NaiveDate,
    language: crate::reference::Language,
) -> svg::Timeline {
    let mut rows: Vec<svg::TimelineRow> = Vec::new();
    let mut entries: Vec<Entry> = Vec::new();
    let mut last_known: Option<NaiveDate> = None;
    for h in history {
        let day = h
            .effective_on
            .unwrap_or_else(|| h.at.with_timezone(&zone).date_naive());
        let within = if h.effective_approximate {
            (last_known.map_or(day, |known| known.min(day)), day)
        } else {
            last_known = Some(day);
            (day, day)
        };
        if let Some(to) = &h.to_stage
            && h.from_stage.as_deref() != Some(to.as_str())
        {
            entries.push(Entry {
                stage: to.clone(),
                within,
                retrospective: h.retrospective,
            });
        }
    }
    for (i, entry) in entries.iter().enumerate() {
        let (entered_from, entered_by) = entry.within;
        let left = entries.get(i + 1).map(|e| e.within);
        let current = i + 1 == entries.len();
        let title = StageId::parse(entry.stage.clone())
            .ok()
            .and_then(|s| def.stage(&s).map(|s| s.title_in(language).to_string()))
            .unwrap_or_else(|| entry.stage.clone());
        // Certainly in the stage from the latest it can have been entered to the earliest it can
        // have been left; anywhere from the earliest entry to the latest end, otherwise.
        let actual = match left {
            None => Some((entered_by, None)),
            Some((left_from, _)) if entered_by <= left_from => Some((entered_by, Some(left_from))),
            Some(_) => None,
        };
        let latest_end = left.map_or(entered_by, |(_, by)| by);
        let unsure = entered_from < entered_by || left.is_some_and(|(from, by)| from < by);
        rows.push(svg::TimelineRow {
            label: title,
            planned: if current {
                p.due_on.map(|due| (entered_by, due))
            } else {
                None
            },
            actual,
            uncertain: unsure.then_some((entered_from, latest_end.max(entered_by))),
            retrospective: entry.retrospective,
            overdue: current && p.is_overdue(today),
            marks: Vec::new(),
        });
    }
    let k = &p.key_dates;
    let mut marks = Vec::new();
    for (date, key) in [
        (k.requested_on, "col_request"),
        (k.invited_on, "col_invitation"),
        (k.deposited_on, "col_deposit"),
        (k.entry_into_force_computed, "col_eif"),
        (k.entry_into_force_recorded, "recorded"),
    ] {
        if let Some(date) = date {
            marks.push(svg::TimelineMark {
                date,
                label: text(language, key),
            });
        }
    }
    if let Some(last) = rows.last_mut() {
        last.marks = marks;
    }
    svg::Timeline {
        title: text(language, "timeline"),
        today,
        today_label: today.to_string(),
        overdue_label: text(language, "overdue"),
        uncertain_label: text(language, "day_not_known"),
        retrospective_label: text(language, "retrospective"),
        rows,
    }
}

/// The values recorded, in the order of the workflow's stages, each with the last history row that
/// recorded it: who (institution, person) and when.
fn recorded(
    names: &Names<'_>,
    p: &ProcedureState,
    history: &[ChainRow],
    zone: Tz,
) -> Vec<FieldLine> {
    let l = names.language;
    let mut out = Vec::new();
    for stage in &names.def.stages {
        for f in &stage.fields {
            let Some(value) = p.fields.get(&f.name) else {
                continue;
            };
            let by = history.iter().rev().find(|h| {
                h.command == "record"
                    && serde_json::from_str::<serde_json::Value>(&h.payload)
                        .is_ok_and(|v| v["field"].as_str() == Some(f.name.as_str()))
            });
            out.push(FieldLine {
                name: f.name.clone(),
                title: f.title_in(l).to_string(),
                stage_title: stage.title_in(l).to_string(),
                value: value.clone(),
                institution: by
                    .map_or_else(String::new, |h| names.institution(&h.actor_institution)),
                person: by.map_or_else(String::new, |h| h.actor_name.clone()),
                at: by.map_or_else(String::new, |h| local(h.at, zone)),
                sequence: by.map_or(0, |h| h.sequence),
            });
        }
    }
    out
}

/// The current stage's approvals: who is to approve, who has, and the declines since the stage
/// was entered (of institutions that have not approved since).
fn approvals(
    names: &Names<'_>,
    p: &ProcedureState,
    history: &[ChainRow],
    zone: Tz,
) -> Option<ApprovalsLine> {
    let rule = names.def.stage(&p.stage)?.approvals.as_ref()?;
    let declined = history
        .iter()
        .filter(|h| h.sequence > p.stage_entry && h.command == "decline")
        .filter(|h| {
            InstitutionId::parse(h.actor_institution.clone())
                .is_ok_and(|i| !p.approvals.contains_key(&i))
        })
        .map(|h| DeclineLine {
            institution: names.institution(&h.actor_institution),
            person: h.actor_name.clone(),
            at: local(h.at, zone),
            reason: h.comment.clone().unwrap_or_default(),
        })
        .collect();
    Some(ApprovalsLine {
        at_least: rule.at_least,
        of: rule
            .of
            .iter()
            .map(|i| name_of(names.institutions, i, names.language))
            .collect(),
        given: p
            .approvals
            .keys()
            .map(|i| name_of(names.institutions, i, names.language))
            .collect(),
        declined,
        on_decline: rule.on_decline.as_ref().map(|s| names.stage(s.as_str())),
    })
}

/// How the page is shown: after an act or a refusal, or asking to confirm a withdrawal.
#[derive(Default)]
struct Shown<'a> {
    flash: Option<Flash>,
    /// The form refused, and why: put back as it was typed, the reason beside it.
    refused: Option<(&'a Form, String)>,
    /// The reason of a withdrawal to confirm.
    confirm_withdraw: Option<String>,
}

async fn procedure_page(
    state: &HttpState,
    v: &Visitor,
    caller: &Caller,
    id: &str,
    shown: Shown<'_>,
    status: StatusCode,
) -> Result<Response, AppError> {
    let app = &state.app;
    let id = page_procedure_id(id)?;
    let view = app.view(&caller.actor, &id).await?;
    let p = view.procedure.clone();
    let def = app.definition_of(&p.workflow.hash).await?;
    let zone = zone_of(state, &caller.actor.institution).await;
    let today = app.now().with_timezone(&zone).date_naive();
    let history = app.history(&caller.actor, &p.id).await?;
    let institutions = app.institutions().await?;
    let names = Names {
        def: &def,
        institutions: &institutions,
        language: v.language,
    };
    let refused = shown.refused.as_ref().map(|(f, why)| (*f, why.as_str()));
    let forms = forms(state, caller, &p, refused, &names).await?;
    let recorded = recorded(&names, &p, &history, zone);
    let approvals = approvals(&names, &p, &history, zone);
    let stage = def.stage(&p.stage);
    let expects = stage
        .map(|s| s.description_in(v.language).to_string())
        .filter(|d| !d.trim().is_empty());
    let timeline_svg = svg::timeline_svg(&timeline(&def, &p, &history, zone, today, v.language));
    let workflow_svg = svg::workflow_svg(
        &def.in_language(v.language),
        Some(&p.stage),
        &svg::DiagramLabels {
            title: def.title_in(v.language).to_string(),
            current: text(v.language, "current"),
        },
    );
    let convention = app.convention(&p.convention).await?;
    let timers = view
        .timers
        .iter()
        .map(|t| TimerLine {
            at: local(t.fire_at, zone),
            kind: t.kind,
            rule: crate::locale::rule_in_words(&t.rule, v.language),
            recipients: t
                .recipients
                .iter()
                .map(|i| name_of(&institutions, i, v.language))
                .collect(),
        })
        .collect();
    let history = history
        .iter()
        .rev()
        .map(|h| HistoryEntry {
            line: HistoryLine::of(h, zone),
            what: crate::locale::refusals::act(&h.command, v.language),
            institution: names.institution(&h.actor_institution),
            changes: names.changes(h),
        })
        .collect();
    let listed = app.reservations(&caller.actor, &p.id, Some(today)).await?;
    let reservations = listed
        .items
        .iter()
        .map(|r| ReservationLine {
            number: r.reservation.number,
            kind: r.reservation.kind.as_str(),
            article: r.reservation.article.clone(),
            made_at: r.reservation.made_at.as_str(),
            made_on: r.reservation.made_on,
            status: r.status.as_str(),
            valid_until: r.valid_until,
            lapses_after: r.lapses_after,
            next_reminder: r.next_reminder.map(|t| local(t, zone)),
            text: r
                .text_in_force
                .iter()
                .map(|(l, t)| (l.clone(), t.clone()))
                .collect(),
            renewals: r.reservation.renewals.len(),
            modifications: r.reservation.modifications.len(),
            withdrawn_effective: r.reservation.withdrawal.as_ref().map(|w| w.effective_on),
        })
        .collect();
    let treaty = TreatyFacts {
        consultation: def
            .stages
            .iter()
            .flat_map(|s| &s.fields)
            .any(|f| f.key == Some(KeyDate::Invitation)),
        invited_on: p.key_dates.invited_on,
        valid_until: p.key_dates.invitation_expires_on,
        valid_by_rule: view.invitation_valid_by_rule,
        extensions: p.treaty.invitation_extensions.clone(),
        deadline_extension: p
            .treaty
            .deadline_extension
            .clone()
            .filter(|e| e.stage_entry == p.stage_entry),
        objections: p.treaty.objections.clone(),
        eif_computed: p.key_dates.entry_into_force_computed,
        eif_recorded: p.key_dates.entry_into_force_recorded,
        eif_source: p.treaty.entry_into_force_source.clone(),
    };
    Ok(show(
        v,
        status,
        &ProcedurePage {
            treaty,
            p: Summary {
                id: p.id.clone(),
                number: convention
                    .as_ref()
                    .map_or_else(|| p.convention.to_string(), |c| c.number.clone()),
                title: convention
                    .as_ref()
                    .map(|c| c.title_in(page_language(v.language)).to_string()),
                state: app.settings.state_name(p.state.as_str(), v.language),
                stage_title: def
                    .stage(&p.stage)
                    .map_or(view.stage_title, |s| s.title_in(v.language).to_string()),
                status: p.status.as_str(),
                version: p.version.0,
                responsible: view
                    .responsible
                    .iter()
                    .map(|i| name_of(&institutions, i, v.language))
                    .collect(),
                due_on: p.due_on,
                overdue: view.overdue,
                key_dates: p.key_dates.clone(),
                eif_differs: view.entry_into_force_differs,
                next: view
                    .next
                    .iter()
                    .map(|n| NextLine {
                        title: names.stage(n.to.as_str()),
                        by: names.institutions(&n.by),
                        blocked_by: names.waits_for(&p, &n.to),
                        back: is_back(&def, &p.stage, &n.to),
                    })
                    .collect(),
                expects,
            },
            forms,
            flash: shown.flash,
            recorded,
            approvals,
            confirm_withdraw: shown.confirm_withdraw,
            timeline_svg,
            workflow_svg,
            timers,
            reservations,
            history,
            zone: zone.name(),
        },
    ))
}

/// The texts of a reservation form, by language (`text_en`, `text_ru`, `text_ky`), blank
/// ones left out.
fn texts(form: &Form) -> std::collections::BTreeMap<String, String> {
    ["en", "ru", "ky"]
        .into_iter()
        .filter_map(|l| {
            form.get(&format!("text_{l}"))
                .filter(|t| !t.trim().is_empty())
                .map(|t| (l.to_string(), t.clone()))
        })
        .collect()
}

/// A form's act, as the engine takes it.
fn act_of(form: &Form, language: crate::reference::Language) -> Result<Act, String> {
    use crate::locale::refusals::input;
    let l = language;
    // Blank is absent; otherwise the text goes to the engine as typed, which trims it once it
    // has checked it holds no control character (trimming first would hide one at either end).
    let get = |k: &str| form.get(k).filter(|s| !s.trim().is_empty()).cloned();
    let comment = get("comment");
    let required = |k: &str| {
        get(k).ok_or_else(|| crate::locale::format(l, "refusal_empty", &[("what", &input(k, l))]))
    };
    let date = |k: &str| {
        let typed = required(k)?;
        typed.trim().parse::<NaiveDate>().map_err(|_| {
            crate::locale::format(
                l,
                "form_not_a_date",
                &[("what", &input(k, l)), ("value", typed.trim())],
            )
        })
    };
    // A State code as ISO 3166-1 writes it; `fr` is taken as `FR`.
    let party = || {
        StateCode::parse(required("party")?.trim().to_ascii_uppercase()).map_err(|e| {
            crate::locale::format(l, "form_invalid", &[("detail", &format!("`party`: {e}"))])
        })
    };
    let number = || {
        required("number")?
            .trim()
            .parse::<u32>()
            .map_err(|_| "`number`: not the number of a reservation".to_string())
    };
    Ok(match form.get("act").map(String::as_str) {
        Some("advance") => Act::Advance {
            to: StageId::parse(required("to")?.trim()).map_err(|e| e.to_string())?,
            comment,
        },
        Some("approve") => Act::Approve { comment },
        Some("decline") => Act::Decline {
            reason: required("reason")?,
        },
        Some("record") => Act::Record {
            field: crate::ids::FieldName::parse(required("field")?.trim())
                .map_err(|e| e.to_string())?,
            value: required("value")?,
            comment,
            source: None,
        },
        // Entry into force as the depositary published it: the source is what makes a date
        // other than the rule's acceptable, so the form asks for it.
        Some("record-eif") => Act::Record {
            field: crate::ids::FieldName::parse(required("field")?.trim())
                .map_err(|e| e.to_string())?,
            value: required("value")?,
            comment,
            source: Some(required("source")?),
        },
        Some("comment") => Act::Comment {
            text: required("text")?,
        },
        Some("suspend") => Act::Suspend {
            reason: required("reason")?,
        },
        Some("resume") => Act::Resume { comment },
        Some("withdraw") => Act::Withdraw {
            reason: required("reason")?,
        },
        Some("extend-invitation") => Act::ExtendInvitation {
            until: date("until")?,
            decision: required("decision")?,
            comment,
        },
        Some("extend-deadline") => Act::ExtendDeadline {
            until: date("until")?,
            reason: required("reason")?,
        },
        Some("raise-objection") => Act::RaiseObjection {
            party: party()?,
            text: required("text")?,
        },
        Some("withdraw-objection") => Act::WithdrawObjection {
            party: party()?,
            comment,
        },
        Some("reserve") => Act::Reserve {
            kind: crate::engine::ReservationKind::parse(required("kind")?.trim())
                .ok_or("`kind`: not a kind of reservation or declaration")?,
            article: required("article")?,
            text: texts(form),
            made_at: crate::engine::MadeAt::parse(required("made_at")?.trim())
                .ok_or("`made_at`: signature, deposit or later")?,
            made_on: date("made_on")?,
            comment,
        },
        Some("renew-reservation") => Act::RenewReservation {
            number: number()?,
            on: date("on")?,
            comment,
        },
        Some("modify-reservation") => Act::ModifyReservation {
            number: number()?,
            on: date("on")?,
            text: texts(form),
            comment,
        },
        Some("withdraw-reservation") => Act::WithdrawReservation {
            number: number()?,
            received_on: date("received_on")?,
            effective_on: match get("effective_on") {
                Some(_) => Some(date("effective_on")?),
                None => None,
            },
            comment,
        },
        other => {
            return Err(crate::locale::format(
                l,
                "form_invalid",
                &[("detail", &format!("unknown act `{}`", other.unwrap_or("")))],
            ));
        }
    })
}

pub async fn act(
    State(state): State<HttpState>,
    Path(id): Path<String>,
    CsrfChecked {
        visitor: v,
        caller,
        form,
    }: CsrfChecked,
) -> Response {
    // Refused, the page is shown again with the reason, and the form as it was typed.
    let refused = |status: StatusCode, text: String| {
        let state = state.clone();
        let caller = caller.clone();
        let id = id.clone();
        let v = &v;
        let form = &form;
        async move {
            let shown = Shown {
                flash: Some(Flash {
                    kind: "refused",
                    text: text.clone(),
                }),
                refused: Some((form, text)),
                confirm_withdraw: None,
            };
            match procedure_page(&state, v, &caller, &id, shown, status).await {
                Ok(r) => r,
                Err(e) => app_error_page(v, e),
            }
        }
    };
    let current = match readable(&state, &caller, &id).await {
        Ok(p) => p,
        Err(e) => return app_error_page(&v, e),
    };
    let act = match act_of(&form, v.language) {
        Ok(a) => a,
        Err(text) => return refused(StatusCode::UNPROCESSABLE_ENTITY, text).await,
    };
    let Some(version) = form.get("version").and_then(|s| s.parse::<i64>().ok()) else {
        return refused(StatusCode::BAD_REQUEST, text(v.language, "form_no_version")).await;
    };
    // Withdrawing ends the procedure for good: asked once more, with the reason given, before it
    // is done (a second form, no script). Until it is confirmed nothing changes.
    if let Act::Withdraw { reason } = &act
        && form.get("confirm").map(String::as_str) != Some("yes")
    {
        let shown = Shown {
            confirm_withdraw: Some(reason.clone()),
            ..Shown::default()
        };
        return match procedure_page(&state, &v, &caller, &id, shown, StatusCode::OK).await {
            Ok(r) => r,
            Err(e) => app_error_page(&v, e),
        };
    }
    let name = act.name();
    // What a refusal names (stages, fields, institutions) in the reader's words.
    let def = state.app.definition_of(&current.workflow.hash).await.ok();
    let institutions = state.app.institutions().await.unwrap_or_default();
    match state
        .app
        .act_on(
            current,
            &Command {
                expected_version: crate::ids::Version(version),
                act,
            },
            &caller.actor,
        )
        .await
    {
        Ok(_) => redirect(&format!("/procedures/{id}?done={name}")),
        Err(e) => {
            let words = match &e {
                crate::app::AppError::Refused(r) => Some(crate::locale::refusal(
                    r,
                    v.language,
                    crate::locale::Names {
                        institutions: &institutions,
                        workflow: def.as_deref(),
                    },
                )),
                _ => None,
            };
            let problem = crate::http::Problem::from(e);
            let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::CONFLICT);
            refused(status, words.unwrap_or(problem.detail)).await
        }
    }
}
