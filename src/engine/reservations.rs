//! Reservations, declarations, designations of authorities and territorial applications made by
//! the State, and what the convention says of their validity. The regime is data on the
//! convention (`ReservationRegime`): CETS No. 210 art. 79 (five years from entry into force,
//! renewable, notice eighteen months before expiry), ETS No. 173 art. 38 (three years, twelve
//! months); other conventions set no time limit. Pure: the dates an act may carry, the validity
//! as of a day, and the reminders before expiry; a refusal names the rule and the dates.

use std::collections::BTreeMap;

use chrono::{DateTime, Months, NaiveDate, NaiveTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use super::decision::{TimerKind, TimerSpec};
use super::{Context, KeyDates, ProcedureState, Refusal};
use crate::calendar::ValidityRule;
use crate::ids::InstitutionId;

/// Stable names of the rules, shown in refusals and documented in the README.
pub mod rule {
    pub const AT_DEPOSIT: &str = "made-at-deposit-on-the-deposit-date";
    pub const AT_SIGNATURE: &str = "made-at-signature-on-the-signature-date";
    pub const LATER: &str = "made-later-only-where-the-convention-allows";
    pub const RENEWAL_AFTER_MADE: &str = "renewal-after-it-was-made";
    pub const RENEWAL_BEFORE_LAPSE: &str = "renewal-before-it-lapsed";
    pub const NOT_RENEWABLE: &str = "renewal-where-the-convention-allows";
    pub const MODIFICATION_WHILE_VALID: &str = "modification-while-it-stands";
    pub const WITHDRAWAL_AFTER_MADE: &str = "withdrawal-after-it-was-made";
    pub const WITHDRAWAL_EFFECTIVE: &str = "withdrawal-effective-on-or-after-receipt";
    pub const NOT_IN_FUTURE: &str = "not-in-the-future";
}

/// What the State makes.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ReservationKind {
    Reservation,
    Declaration,
    /// A designation of an authority (a central authority, a 24/7 point of contact).
    Authority,
    TerritorialApplication,
}

impl ReservationKind {
    pub const ALL: [ReservationKind; 4] = [
        ReservationKind::Reservation,
        ReservationKind::Declaration,
        ReservationKind::Authority,
        ReservationKind::TerritorialApplication,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            ReservationKind::Reservation => "reservation",
            ReservationKind::Declaration => "declaration",
            ReservationKind::Authority => "authority",
            ReservationKind::TerritorialApplication => "territorial_application",
        }
    }

    pub fn parse(text: &str) -> Option<ReservationKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// The chart's flag column: R, D, A, T.
    pub const fn flag(self) -> char {
        match self {
            ReservationKind::Reservation => 'R',
            ReservationKind::Declaration => 'D',
            ReservationKind::Authority => 'A',
            ReservationKind::TerritorialApplication => 'T',
        }
    }
}

impl std::fmt::Display for ReservationKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// When it was made: with the signature, with the instrument deposited, or later by a
/// notification (a declaration the convention allows at any time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MadeAt {
    Signature,
    Deposit,
    Later,
}

impl MadeAt {
    pub const fn as_str(self) -> &'static str {
        match self {
            MadeAt::Signature => "signature",
            MadeAt::Deposit => "deposit",
            MadeAt::Later => "later",
        }
    }

    pub fn parse(text: &str) -> Option<MadeAt> {
        [MadeAt::Signature, MadeAt::Deposit, MadeAt::Later]
            .into_iter()
            .find(|m| m.as_str() == text)
    }
}

/// From when the validity of a reservation runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ValidFrom {
    /// The entry into force of the convention for the State.
    EntryIntoForce,
}

fn default_kinds() -> Vec<ReservationKind> {
    vec![ReservationKind::Reservation]
}

/// The validity a convention gives reservations, as data (`reservations = { … }` in the
/// conventions file). A convention without one sets no time limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReservationRegime {
    /// Years a reservation stays valid.
    pub validity_years: u32,
    /// Whether it may be renewed for periods of the same duration.
    pub renewable: bool,
    /// The Secretary General gives notice of the expiry this many months before it.
    pub notice_months: u32,
    /// The Party notifies renewal, modification or withdrawal no later than this many months
    /// before expiry (a second reminder is sent then).
    #[serde(default)]
    pub reply_months: Option<u32>,
    /// Without a notification, the reservation is extended once, automatically, by this many
    /// months, and then lapses.
    #[serde(default)]
    pub automatic_extension_months: Option<u32>,
    pub from: ValidFrom,
    /// What the regime applies to (by default reservations only).
    #[serde(default = "default_kinds")]
    pub applies_to: Vec<ReservationKind>,
}

impl ReservationRegime {
    pub fn applies(&self, kind: ReservationKind) -> bool {
        self.applies_to.contains(&kind)
    }

    /// The first expiry: `validity_years` after `from` (the anniversary, as
    /// `calendar::ValidityRule` counts it).
    pub fn first_expiry(&self, from: NaiveDate) -> Option<NaiveDate> {
        ValidityRule {
            years: self.validity_years,
        }
        .valid_until(from)
    }

    /// The expiry after `renewals` renewals: each renewal is a new period from the old expiry.
    pub fn expiry(&self, from: NaiveDate, renewals: usize) -> Option<NaiveDate> {
        let rule = ValidityRule {
            years: self.validity_years,
        };
        let mut until = rule.valid_until(from)?;
        for _ in 0..renewals {
            until = rule.valid_until(until)?;
        }
        Some(until)
    }

    /// The last day it stands: the expiry, or the end of the automatic extension.
    pub fn lapses_after(&self, expiry: NaiveDate) -> Option<NaiveDate> {
        match self.automatic_extension_months {
            Some(m) => expiry.checked_add_months(Months::new(m)),
            None => Some(expiry),
        }
    }
}

/// A renewal, notified on `on`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Renewal {
    pub on: NaiveDate,
    /// The expiry it replaced, and the new one (as computed when it was recorded).
    pub previous_until: Option<NaiveDate>,
    pub until: Option<NaiveDate>,
    pub sequence: i64,
}

/// A modification, notified on `on`, with its new text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Modification {
    pub on: NaiveDate,
    pub text: BTreeMap<String, String>,
    pub sequence: i64,
}

/// A withdrawal, received by the Secretary General on `received_on`, effective on
/// `effective_on` (the day of receipt, or a later day the notification states).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReservationWithdrawal {
    pub received_on: NaiveDate,
    pub effective_on: NaiveDate,
    pub sequence: i64,
}

/// One reservation, declaration, designation of an authority or territorial application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Reservation {
    /// Its number in the procedure, from 1.
    pub number: u32,
    pub kind: ReservationKind,
    /// The article it is made under, e.g. `Art. 78(2)`.
    pub article: String,
    /// Its text by language code (`en`, `ru`, `ky`, `fr`), as made; see `modifications` for
    /// the text in force.
    pub text: BTreeMap<String, String>,
    pub made_at: MadeAt,
    pub made_on: NaiveDate,
    /// The history event that recorded it.
    pub sequence: i64,
    #[serde(default)]
    pub renewals: Vec<Renewal>,
    #[serde(default)]
    pub modifications: Vec<Modification>,
    #[serde(default)]
    pub withdrawal: Option<ReservationWithdrawal>,
}

/// Where a reservation stands on a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReservationStatus {
    /// Not made yet on that day.
    NotMade,
    /// Made and standing (with no time limit, or within its validity).
    Valid,
    /// Past its expiry, within the automatic extension the convention gives.
    Extended,
    /// Past its validity (and any automatic extension) without renewal.
    Lapsed,
    Withdrawn,
}

impl ReservationStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            ReservationStatus::NotMade => "not_made",
            ReservationStatus::Valid => "valid",
            ReservationStatus::Extended => "extended",
            ReservationStatus::Lapsed => "lapsed",
            ReservationStatus::Withdrawn => "withdrawn",
        }
    }

    /// Standing on the day: shown as a flag on the chart.
    pub fn stands(self) -> bool {
        matches!(self, ReservationStatus::Valid | ReservationStatus::Extended)
    }
}

impl Reservation {
    /// The text in force: the latest modification's, else the one made.
    pub fn current_text(&self) -> &BTreeMap<String, String> {
        self.modifications.last().map_or(&self.text, |m| &m.text)
    }

    /// The day its validity runs from, if the regime limits it and the day is known.
    fn runs_from(&self, regime: &ReservationRegime, dates: &KeyDates) -> Option<NaiveDate> {
        match regime.from {
            ValidFrom::EntryIntoForce => dates.entry_into_force(),
        }
    }

    /// The last day of its present validity, when the convention limits it: from entry into
    /// force, one period, and one more per renewal.
    pub fn valid_until(
        &self,
        regime: Option<&ReservationRegime>,
        dates: &KeyDates,
    ) -> Option<NaiveDate> {
        let regime = regime.filter(|r| r.applies(self.kind))?;
        regime.expiry(self.runs_from(regime, dates)?, self.renewals.len())
    }

    /// The last day it stands without a notification: the expiry, or the end of the automatic
    /// extension.
    pub fn lapses_after(
        &self,
        regime: Option<&ReservationRegime>,
        dates: &KeyDates,
    ) -> Option<NaiveDate> {
        let until = self.valid_until(regime, dates)?;
        regime?.lapses_after(until)
    }

    /// Where it stands on `day`, from what is recorded.
    pub fn status_on(
        &self,
        regime: Option<&ReservationRegime>,
        dates: &KeyDates,
        day: NaiveDate,
    ) -> ReservationStatus {
        if day < self.made_on {
            return ReservationStatus::NotMade;
        }
        if let Some(w) = &self.withdrawal
            && w.effective_on <= day
        {
            return ReservationStatus::Withdrawn;
        }
        match (
            self.valid_until(regime, dates),
            self.lapses_after(regime, dates),
        ) {
            (Some(until), _) if day <= until => ReservationStatus::Valid,
            (Some(_), Some(lapse)) if day <= lapse => ReservationStatus::Extended,
            (Some(_), _) => ReservationStatus::Lapsed,
            _ => ReservationStatus::Valid,
        }
    }

    /// The reminders still to come after `now`: the day the Secretary General gives notice, and
    /// the last day to notify a renewal, modification or withdrawal.
    pub fn reminder_days(
        &self,
        regime: Option<&ReservationRegime>,
        dates: &KeyDates,
    ) -> Vec<(NaiveDate, &'static str)> {
        let (Some(regime), Some(until)) = (regime, self.valid_until(regime, dates)) else {
            return Vec::new();
        };
        if self.withdrawal.is_some() {
            return Vec::new();
        }
        let mut days = Vec::new();
        if regime.notice_months > 0
            && let Some(d) = until.checked_sub_months(Months::new(regime.notice_months))
        {
            days.push((d, "notice"));
        }
        if let Some(d) = until.checked_sub_months(Months::new(regime.reply_months.unwrap_or(3))) {
            days.push((d, "reply"));
        }
        days
    }
}

/// Reminders are sent at this local time of day.
const SEND_AT: NaiveTime = NaiveTime::from_hms_opt(9, 0, 0).expect("valid time");

/// The rule a reservation reminder's timer row carries: `reservation <n> <which> <expiry>`, read
/// back when it fires.
pub fn timer_rule(number: u32, which: &str, until: NaiveDate) -> String {
    format!("reservation {number} {which} {until}")
}

/// `(number, which, expiry)` of a reservation reminder's rule.
pub fn parse_timer_rule(rule: &str) -> Option<(u32, &str, NaiveDate)> {
    let mut parts = rule.split(' ');
    (parts.next()? == "reservation").then_some(())?;
    let number = parts.next()?.parse().ok()?;
    let which = parts.next()?;
    let until = parts.next()?.parse().ok()?;
    parts.next().is_none().then_some((number, which, until))
}

/// The reminder timers of every reservation of `procedure` that lie after `now`, planned by
/// event `planned_by`: to the responsible institutions of its current stage and the
/// coordinators, at 09:00 in the coordinators' time zone.
pub(super) fn plan_timers(
    ctx: Context<'_>,
    procedure: &ProcedureState,
    planned_by: i64,
    now: DateTime<Utc>,
) -> Vec<TimerSpec> {
    let regime = ctx.convention.reservations.as_ref();
    let mut recipients: Vec<InstitutionId> = ctx
        .definition
        .stage(&procedure.stage)
        .map(|s| s.responsible.clone())
        .unwrap_or_default();
    for c in ctx.coordinators {
        if !recipients.contains(c) {
            recipients.push(c.clone());
        }
    }
    let tz = ctx.zones.lead(ctx.coordinators);
    let mut out = Vec::new();
    for r in &procedure.treaty.reservations {
        let Some(until) = r.valid_until(regime, &procedure.key_dates) else {
            continue;
        };
        for (day, which) in r.reminder_days(regime, &procedure.key_dates) {
            let Some(at) = tz
                .from_local_datetime(&day.and_time(SEND_AT))
                .earliest()
                .map(|t| t.with_timezone(&Utc))
            else {
                continue;
            };
            if at <= now {
                continue;
            }
            let rule = timer_rule(r.number, which, until);
            out.push(TimerSpec {
                stage: procedure.stage.clone(),
                stage_entry: 0,
                kind: TimerKind::ReservationExpiry,
                dedupe_key: format!("{}:{planned_by}:{rule}", procedure.id),
                rule,
                occurrence: 0,
                fire_at: at,
                recipients: recipients.clone(),
            });
        }
    }
    out.sort_by(|a, b| {
        a.fire_at
            .cmp(&b.fire_at)
            .then(a.dedupe_key.cmp(&b.dedupe_key))
    });
    out
}

fn refuse(what: &str, rule: &'static str, detail: String) -> Refusal {
    Refusal::DateRefused {
        what: what.to_string(),
        rule,
        detail,
    }
}

/// Whether a reservation of `kind` made `at` on `on` may be recorded on `current`. `signature`
/// is the procedure's recorded date of signature, if any; `today` the recording day.
pub fn check_made(
    ctx: Context<'_>,
    current: &ProcedureState,
    kind: ReservationKind,
    at: MadeAt,
    on: NaiveDate,
    signature: Option<NaiveDate>,
    today: NaiveDate,
) -> Result<(), Refusal> {
    if on > today {
        return Err(refuse(
            "made_on",
            rule::NOT_IN_FUTURE,
            format!("{on} is in the future; record it once it has been made"),
        ));
    }
    if let Some(opened) = ctx.convention.opened_on
        && on < opened
    {
        return Err(refuse(
            "made_on",
            super::dates::rule::OPENED,
            format!("{on} is before the convention was opened for signature on {opened}"),
        ));
    }
    let deposit = current.key_dates.deposited_on;
    match at {
        MadeAt::Deposit => match deposit {
            Some(d) if d == on => Ok(()),
            Some(d) => Err(refuse(
                "made_on",
                rule::AT_DEPOSIT,
                format!("a {kind} made at deposit is dated the deposit, {d}, not {on}"),
            )),
            None => Err(refuse(
                "made_on",
                rule::AT_DEPOSIT,
                format!("no deposit is recorded; record the deposit before a {kind} made at it"),
            )),
        },
        MadeAt::Signature => match signature {
            Some(s) if s == on => Ok(()),
            Some(s) => Err(refuse(
                "made_on",
                rule::AT_SIGNATURE,
                format!("a {kind} made at signature is dated the signature, {s}, not {on}"),
            )),
            None => Err(refuse(
                "made_on",
                rule::AT_SIGNATURE,
                format!("no signature is recorded; a {kind} made at signature needs one"),
            )),
        },
        MadeAt::Later => {
            if kind == ReservationKind::Reservation {
                return Err(refuse(
                    "made_at",
                    rule::LATER,
                    "a reservation is made at signature or at deposit, not later; a later \
                     notification may only narrow it (record a modification)"
                        .into(),
                ));
            }
            match deposit {
                Some(d) if on >= d => Ok(()),
                Some(d) => Err(refuse(
                    "made_on",
                    rule::LATER,
                    format!("a {kind} made later is made after the deposit of {d}, not on {on}"),
                )),
                None => Err(refuse(
                    "made_on",
                    rule::LATER,
                    format!(
                        "no deposit is recorded; a {kind} made later follows the deposit \
                         (record it as made at signature or at deposit)"
                    ),
                )),
            }
        }
    }
}

/// Whether `r` may be renewed by a notification of `on`; the new expiry if so.
pub fn check_renewal(
    regime: Option<&ReservationRegime>,
    dates: &KeyDates,
    r: &Reservation,
    on: NaiveDate,
    today: NaiveDate,
) -> Result<Option<NaiveDate>, Refusal> {
    let Some(regime) = regime.filter(|g| g.applies(r.kind)) else {
        return Err(Refusal::NotApplicable(format!(
            "the convention sets no time limit on a {}, so there is nothing to renew",
            r.kind
        )));
    };
    if !regime.renewable {
        return Err(refuse(
            "on",
            rule::NOT_RENEWABLE,
            "the convention does not allow its reservations to be renewed".into(),
        ));
    }
    if on > today {
        return Err(refuse(
            "on",
            rule::NOT_IN_FUTURE,
            format!("{on} is in the future; record the renewal once it is notified"),
        ));
    }
    if on < r.made_on {
        return Err(refuse(
            "on",
            rule::RENEWAL_AFTER_MADE,
            format!(
                "a renewal of {on} is before the {} was made on {}",
                r.kind, r.made_on
            ),
        ));
    }
    if let Some(w) = &r.withdrawal {
        return Err(Refusal::NotApplicable(format!(
            "{} no. {} was withdrawn (received {}); a withdrawn one is not renewed",
            r.kind, r.number, w.received_on
        )));
    }
    let Some(until) = r.valid_until(Some(regime), dates) else {
        return Err(Refusal::NotApplicable(format!(
            "no entry into force is known, so the validity of {} no. {} has not begun to run",
            r.kind, r.number
        )));
    };
    let lapse = regime.lapses_after(until).unwrap_or(until);
    if on > lapse {
        return Err(refuse(
            "on",
            rule::RENEWAL_BEFORE_LAPSE,
            format!(
                "{} no. {} was valid until {until} and lapsed after {lapse}; a renewal of {on} \
                 comes too late (a new {} cannot be made after deposit)",
                r.kind, r.number, r.kind
            ),
        ));
    }
    Ok(regime.expiry(
        r.runs_from(regime, dates).unwrap_or(until),
        r.renewals.len() + 1,
    ))
}

/// Whether `r` may be modified by a notification of `on`.
pub fn check_modification(
    regime: Option<&ReservationRegime>,
    dates: &KeyDates,
    r: &Reservation,
    on: NaiveDate,
    today: NaiveDate,
) -> Result<(), Refusal> {
    if on > today {
        return Err(refuse(
            "on",
            rule::NOT_IN_FUTURE,
            format!("{on} is in the future; record the modification once it is notified"),
        ));
    }
    match r.status_on(regime, dates, on) {
        ReservationStatus::Valid | ReservationStatus::Extended => Ok(()),
        status => Err(refuse(
            "on",
            rule::MODIFICATION_WHILE_VALID,
            format!(
                "{} no. {} is {} on {on} (made {}); only one that stands can be modified",
                r.kind,
                r.number,
                status.as_str().replace('_', " "),
                r.made_on
            ),
        )),
    }
}

/// Whether `r` may be withdrawn by a notification received on `received`, taking effect on
/// `effective` (or on receipt); the day it takes effect if so.
pub fn check_withdrawal(
    regime: Option<&ReservationRegime>,
    dates: &KeyDates,
    r: &Reservation,
    received: NaiveDate,
    effective: Option<NaiveDate>,
    today: NaiveDate,
) -> Result<NaiveDate, Refusal> {
    if received > today {
        return Err(refuse(
            "received_on",
            rule::NOT_IN_FUTURE,
            format!("{received} is in the future; record the withdrawal once it is received"),
        ));
    }
    if received < r.made_on {
        return Err(refuse(
            "received_on",
            rule::WITHDRAWAL_AFTER_MADE,
            format!(
                "a withdrawal received on {received} is before the {} was made on {}",
                r.kind, r.made_on
            ),
        ));
    }
    let effective = effective.unwrap_or(received);
    if effective < received {
        return Err(refuse(
            "effective_on",
            rule::WITHDRAWAL_EFFECTIVE,
            format!(
                "a withdrawal takes effect on receipt ({received}) or on a later day it states, \
                 not on {effective}"
            ),
        ));
    }
    if let Some(w) = &r.withdrawal {
        return Err(Refusal::NotApplicable(format!(
            "{} no. {} is withdrawn already (received {})",
            r.kind, r.number, w.received_on
        )));
    }
    if r.status_on(regime, dates, received) == ReservationStatus::Lapsed {
        return Err(Refusal::NotApplicable(format!(
            "{} no. {} had lapsed by {received}; there is nothing to withdraw",
            r.kind, r.number
        )));
    }
    Ok(effective)
}

/// A language code of a text: two or three lowercase letters (`en`, `ru`, `ky`).
pub fn check_texts(field: &'static str, text: &BTreeMap<String, String>) -> Result<(), Refusal> {
    if text.values().all(|t| t.trim().is_empty()) {
        return Err(Refusal::Empty {
            what: "the text (in at least one language)",
        });
    }
    for (lang, t) in text {
        if !(2..=3).contains(&lang.len()) || !lang.bytes().all(|b| b.is_ascii_lowercase()) {
            return Err(Refusal::Invalid(format!(
                "`{field}`: `{lang}` is not a language code; write two or three lowercase \
                 letters (en, ru, ky)"
            )));
        }
        crate::text::checked(t, crate::text::Lines::Many)
            .map_err(|problem| Refusal::ControlCharacter { field, problem })?;
        if t.chars().count() > 20_000 {
            return Err(Refusal::Invalid(format!(
                "`{field}`: the {lang} text is longer than 20000 characters"
            )));
        }
    }
    Ok(())
}

/// Whether `actor` may record what the depositary holds (reservations and declarations made,
/// renewed, modified, withdrawn): a coordinator, or an institution responsible for the stage
/// where the deposit is recorded.
pub fn may_record(
    definition: &crate::workflow::WorkflowDefinition,
    actor: &super::Actor,
    act: &str,
) -> Result<(), Refusal> {
    let owners: Vec<InstitutionId> = definition
        .stages
        .iter()
        .find(|s| {
            s.fields
                .iter()
                .any(|f| f.key == Some(crate::workflow::KeyDate::Deposit))
        })
        .map(|s| s.responsible.clone())
        .unwrap_or_default();
    if actor.manages() || owners.contains(&actor.institution) {
        Ok(())
    } else {
        Err(Refusal::NotAllowed {
            institution: actor.institution.clone(),
            act: act.into(),
            allowed: owners,
        })
    }
}
