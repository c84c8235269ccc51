//! Dates that cannot be true. A date recorded on a procedure must meet the convention (nothing
//! before it was opened for signature), the route (a date of a later stage is not before one of
//! an earlier stage: request ≤ invitation ≤ law adopted ≤ deposit ≤ entry into force), the
//! invitation (a deposit is made while it is valid), the consultation of the Parties (no
//! invitation while an objection stands) and the entry-into-force rule (the date the rule gives,
//! unless recorded as the depositary's own, with its source). Pure: a refusal names the rule and
//! the dates, and changes nothing.

use chrono::NaiveDate;

use super::{Context, ProcedureState, Refusal};
use crate::ids::FieldName;
use crate::workflow::{FieldKind, KeyDate, Stage};

/// Stable names of the rules, shown in refusals and documented in the README.
pub mod rule {
    pub const OPENED: &str = "not-before-opening";
    pub const ROUTE: &str = "dates-follow-the-route";
    pub const DEPOSIT_AFTER_INVITATION: &str = "deposit-after-invitation";
    pub const WITHIN_INVITATION: &str = "deposit-while-invitation-valid";
    pub const OBJECTION: &str = "no-invitation-while-objection-stands";
    pub const ENTRY_INTO_FORCE: &str = "entry-into-force-by-the-rule";
    pub const EXTENSION: &str = "extension-later-than-before";
}

fn refuse(what: &FieldName, rule: &'static str, detail: String) -> Refusal {
    Refusal::DateRefused {
        what: what.to_string(),
        rule,
        detail,
    }
}

fn key_name(key: Option<KeyDate>) -> Option<&'static str> {
    Some(match key? {
        KeyDate::Request => "the request",
        KeyDate::Invitation => "the invitation",
        KeyDate::Deposit => "the deposit",
        KeyDate::EntryIntoForce => "entry into force",
    })
}

/// Check `date`, about to be recorded in `field` (declared on `owner`, keyed `key`), against the
/// procedure as it stands. `source` is the depositary's publication for a date of entry into
/// force that differs from the rule's.
pub(super) fn check_recorded_date(
    ctx: Context<'_>,
    current: &ProcedureState,
    owner: &Stage,
    field: &FieldName,
    key: Option<KeyDate>,
    date: NaiveDate,
    source: Option<&str>,
) -> Result<(), Refusal> {
    let rules = ctx.convention;
    if let Some(opened) = rules.opened_on
        && date < opened
    {
        return Err(refuse(
            field,
            rule::OPENED,
            format!("{date} is before the convention was opened for signature on {opened}"),
        ));
    }
    // The route: every other date already recorded, by the order of the stages that own them.
    let def = ctx.definition;
    let mut conflicts = Vec::new();
    for stage in &def.stages {
        for other in stage.fields.iter().filter(|f| f.kind == FieldKind::Date) {
            if &other.name == field {
                continue;
            }
            let Some(recorded) = current
                .fields
                .get(&other.name)
                .and_then(|v| v.parse::<NaiveDate>().ok())
            else {
                continue;
            };
            let (earlier, later, earlier_date, later_date, earlier_key, later_key) =
                if def.precedes(&stage.id, &owner.id) && recorded > date {
                    (&other.name, field, recorded, date, other.key, key)
                } else if def.precedes(&owner.id, &stage.id) && recorded < date {
                    (field, &other.name, date, recorded, key, other.key)
                } else {
                    continue;
                };
            let name = if (earlier_key, later_key)
                == (Some(KeyDate::Invitation), Some(KeyDate::Deposit))
            {
                rule::DEPOSIT_AFTER_INVITATION
            } else {
                rule::ROUTE
            };
            let label = |f: &FieldName, k| match key_name(k) {
                Some(n) => format!("{n} (`{f}`)"),
                None => format!("`{f}`"),
            };
            conflicts.push(refuse(
                field,
                name,
                format!(
                    "{} {later_date} would be before {} {earlier_date}, which comes earlier on \
                     the route (request ≤ invitation ≤ law adopted ≤ deposit ≤ entry into force)",
                    label(later, later_key),
                    label(earlier, earlier_key),
                ),
            ));
        }
    }
    // The deposit before the invitation is named as such, whatever else it is before.
    if let Some(first) = conflicts.iter().position(
        |c| matches!(c, Refusal::DateRefused { rule, .. } if *rule == rule::DEPOSIT_AFTER_INVITATION),
    ).or((!conflicts.is_empty()).then_some(0))
    {
        return Err(conflicts.swap_remove(first));
    }
    let dates = &current.key_dates;
    match key {
        Some(KeyDate::Deposit) => {
            if let (Some(invited), Some(expires)) = (dates.invited_on, dates.invitation_expires_on)
                && date > expires
            {
                return Err(refuse(
                    field,
                    rule::WITHIN_INVITATION,
                    format!(
                        "the deposit of {date} is after the invitation of {invited} lapsed on \
                         {expires}; record the extension of the invitation first"
                    ),
                ));
            }
            // A recorded date of entry into force that was the rule's stays the rule's.
            if let Some(recorded) = dates.entry_into_force_recorded
                && current.treaty.entry_into_force_source.is_none()
            {
                let computed = rules
                    .entry_into_force
                    .entry_into_force(date, rules.general_entry_into_force);
                if computed != Some(recorded) {
                    return Err(refuse(
                        field,
                        rule::ENTRY_INTO_FORCE,
                        format!(
                            "a deposit of {date} gives entry into force on {}, but {recorded} is \
                             recorded as the rule's date; record the entry into force again first",
                            show(computed)
                        ),
                    ));
                }
            }
        }
        Some(KeyDate::Invitation) => {
            if let Some(objection) = current.treaty.standing_objections().next() {
                return Err(refuse(
                    field,
                    rule::OBJECTION,
                    format!(
                        "{} objected on {} and has not withdrawn its objection; the Committee of \
                         Ministers does not invite while it stands",
                        objection.party, objection.raised_on
                    ),
                ));
            }
            let expires = invitation_expiry(ctx, current, date);
            if let (Some(deposit), Some(expires)) = (dates.deposited_on, expires)
                && deposit > expires
            {
                return Err(refuse(
                    field,
                    rule::WITHIN_INVITATION,
                    format!(
                        "an invitation of {date} lapses on {expires}, before the deposit of \
                         {deposit} already recorded"
                    ),
                ));
            }
        }
        Some(KeyDate::EntryIntoForce) if source.is_none() => {
            let m = rules.entry_into_force.months_after;
            match (dates.deposited_on, dates.entry_into_force_computed) {
                (Some(deposit), Some(computed)) if computed != date => {
                    return Err(refuse(
                        field,
                        rule::ENTRY_INTO_FORCE,
                        format!(
                            "{date} is not the date the rule gives: {computed}, the first day of \
                             the month following {m} month(s) after the deposit of {deposit}; if \
                             {date} is the depositary's published date, record it with its source"
                        ),
                    ));
                }
                (None, _) | (_, None) => {
                    return Err(refuse(
                        field,
                        rule::ENTRY_INTO_FORCE,
                        format!(
                            "no deposit is recorded, so the rule gives no date; if {date} is the \
                             depositary's published date, record it with its source"
                        ),
                    ));
                }
                _ => {}
            }
        }
        _ => {}
    }
    Ok(())
}

fn show(date: Option<NaiveDate>) -> String {
    date.map_or_else(|| "no date".into(), |d| d.to_string())
}

/// The last day the invitation of `invited` is valid: the convention's rule, or the latest
/// extension the Committee of Ministers decided.
pub(super) fn invitation_expiry(
    ctx: Context<'_>,
    current: &ProcedureState,
    invited: NaiveDate,
) -> Option<NaiveDate> {
    let by_rule = ctx
        .convention
        .invitation_validity
        .and_then(|rule| rule.invitation_valid_until(invited));
    match current.treaty.invitation_extensions.last() {
        Some(extension) => Some(by_rule.map_or(extension.until, |d| d.max(extension.until))),
        None => by_rule,
    }
}
