//! Calendar feed keys: each token may have one, a random 256-bit secret of its own that opens the
//! iCalendar feed of the token's institution. Only its SHA-256 is kept, so the address is shown
//! once, when the key is made; making a new one stops the old at once, and revoking the token
//! stops its feed. Keys are never logged.

use std::fmt;

use serde::Serialize;
use subtle::ConstantTimeEq;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use chrono_tz::Tz;

use super::sessions::random_secret;
use super::tokens::token_hash;
use super::{Accession, AppError, ListRequest, MAX_PAGE};
use crate::engine::{Actor, Permission, TimerKind};
use crate::ids::{ConventionId, InstitutionId, ProcedureId, StageId};
use crate::reference::Language;
use crate::store::{ProcedureFilter, TokenRow};

/// A feed key just made: the only time its address is known.
#[derive(Clone, Serialize)]
pub struct NewFeedKey {
    /// The feed's address, key included: shown once, kept nowhere.
    pub url: String,
    pub token: TokenRow,
}

impl fmt::Debug for NewFeedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewFeedKey")
            .field("url", &"<redacted>")
            .field("token", &self.token)
            .finish()
    }
}

/// Whether `key` has the shape of one we make (64 lowercase hex digits); anything else is refused
/// without a lookup.
fn well_formed(key: &str) -> bool {
    key.len() == 64 && key.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

impl Accession {
    /// A new calendar feed key for token `id`, as `caller`; the previous one, if any, stops
    /// working now. Any caller may renew its own token's (`own` is the id of the token its
    /// credentials stand for, never an id from the request; the CLI's operator has none);
    /// another token's only a caller who may manage tokens (403 otherwise).
    pub async fn renew_feed_key(
        &self,
        caller: &Actor,
        own: Option<i64>,
        id: i64,
    ) -> Result<NewFeedKey, AppError> {
        if own != Some(id) {
            caller.may(Permission::ManageTokens)?;
        }
        let key = random_secret()?;
        let token = self
            .store
            .set_feed_key(id, &token_hash(&key), self.now())
            .await?
            .ok_or_else(|| AppError::NotFound {
                what: "token",
                id: id.to_string(),
            })?;
        if token.revoked() {
            // The token's state, not the request, is what is wrong: 409, exit 1.
            return Err(AppError::Refused(crate::engine::Refusal::NotApplicable(
                format!(
                    "token {id} is revoked: it has no calendar feed; create a new token for one"
                ),
            )));
        }
        tracing::info!(token = token.id, institution = %token.institution, "calendar feed key made");
        Ok(NewFeedKey {
            url: self.feed_url(&token.institution, &key),
            token,
        })
    }

    /// The address of `institution`'s feed opened by `key`.
    fn feed_url(&self, institution: &InstitutionId, key: &str) -> String {
        format!(
            "{}/calendar/{institution}.ics?key={key}",
            self.settings.mail.base_url.trim_end_matches('/')
        )
    }

    /// The token whose feed key `key` is, if it is live and of `institution`; None otherwise
    /// (unknown, renewed since, revoked, or another institution's).
    pub async fn feed_reader(
        &self,
        institution: &InstitutionId,
        key: &str,
    ) -> Result<Option<TokenRow>, AppError> {
        if !well_formed(key) {
            return Ok(None);
        }
        let hash = token_hash(key);
        let Some((stored, token)) = self.store.feed_key_entry(&hash).await? else {
            return Ok(None);
        };
        // The lookup matched the hash already; compare again in constant time so that no
        // collation or index quirk lets another key in.
        let same = bool::from(stored.as_bytes().ct_eq(hash.as_bytes()));
        Ok((same && !token.revoked() && &token.institution == institution).then_some(token))
    }
}

/// What an institution's calendar feed holds, in its language and time zone: the due dates of
/// the stages it must act on and the reminders and escalations addressed to it. The pages render
/// it as iCalendar.
#[derive(Debug, Clone)]
pub struct CalendarFeed {
    pub institution: InstitutionId,
    pub language: Language,
    pub zone: Tz,
    pub generated: DateTime<Utc>,
    pub entries: Vec<CalendarEntry>,
}

/// One event of a feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarEntry {
    /// Stable across reads, so a calendar updates an event rather than adding one.
    pub uid: String,
    pub procedure: ProcedureId,
    pub convention_number: String,
    pub stage: StageId,
    pub stage_title: String,
    pub what: CalendarEntryKind,
    pub start: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CalendarEntryKind {
    /// The current stage is due on this day (an all-day event).
    Due(NaiveDate),
    /// A reminder or an escalation, with the workflow's rule that set it.
    Timer { kind: TimerKind, rule: String },
}

/// How far ahead a feed looks for reminders and escalations, and how many it shows.
const FEED_HORIZON_DAYS: i64 = 366;
const FEED_TIMERS: u64 = 1000;

impl Accession {
    /// The calendar feed that `key` opens for `institution`; none when the key does not open it
    /// (unknown, renewed since, revoked, or another institution's). The key is the caller: no
    /// role is asked.
    pub async fn calendar_feed(
        &self,
        institution: &InstitutionId,
        key: &str,
    ) -> Result<Option<CalendarFeed>, AppError> {
        if self.feed_reader(institution, key).await?.is_none() {
            return Ok(None);
        }
        let inst = self.store.institution(institution).await?;
        let language = inst.as_ref().map_or(Language::En, |i| i.language);
        let zone = inst
            .as_ref()
            .map_or(self.settings.calendar.time_zone, |i| i.time_zone);
        let conventions = self.store.conventions().await?;
        let number = |c: &ConventionId| {
            conventions
                .iter()
                .find(|x| &x.id == c)
                .map_or_else(|| c.to_string(), |x| x.number.clone())
        };
        let mut entries = Vec::new();
        // The active procedures whose current stage it is responsible for, a page at a time.
        let mut request = ListRequest {
            filter: ProcedureFilter {
                status: Some(crate::engine::Status::Active),
                ..ProcedureFilter::default()
            },
            responsible: Some(institution.clone()),
            limit: MAX_PAGE,
            ..Default::default()
        };
        loop {
            let page = self.procedures(&Actor::system(), &request).await?;
            for row in page.items {
                let p = row.procedure;
                let Some(due) = p.due_on else { continue };
                let def = self.definition_of(&p.workflow.hash).await?;
                entries.push(CalendarEntry {
                    uid: format!("{}:{}:due", p.id, p.stage_entry),
                    convention_number: number(&p.convention),
                    stage_title: def
                        .stage(&p.stage)
                        .map_or_else(|| p.stage.to_string(), |s| s.title_in(language).to_string()),
                    start: crate::engine::deadline_instant(due, zone).unwrap_or_else(|| self.now()),
                    what: CalendarEntryKind::Due(due),
                    procedure: p.id,
                    stage: p.stage,
                });
            }
            match page.next {
                Some(next) => request.cursor = Some(next),
                None => break,
            }
        }
        let until = self.now() + TimeDelta::days(FEED_HORIZON_DAYS);
        for c in self
            .upcoming_timers_for(institution, until, FEED_TIMERS)
            .await?
        {
            // A deadline is the due date, already an event of its own.
            if c.timer.kind == TimerKind::Deadline {
                continue;
            }
            let p = self.store.procedure(&c.procedure).await?;
            let convention_number = p
                .as_ref()
                .map_or_else(String::new, |p| number(&p.convention));
            let stage_title = match &p {
                Some(p) => self
                    .definition_of(&p.workflow.hash)
                    .await?
                    .stage(&c.timer.stage)
                    .map(|s| s.title_in(language).to_string()),
                None => None,
            };
            entries.push(CalendarEntry {
                uid: c.timer.dedupe_key.clone(),
                convention_number,
                stage_title: stage_title.unwrap_or_else(|| c.timer.stage.to_string()),
                stage: c.timer.stage,
                start: c.timer.fire_at,
                what: CalendarEntryKind::Timer {
                    kind: c.timer.kind,
                    rule: c.timer.rule,
                },
                procedure: c.procedure,
            });
        }
        Ok(Some(CalendarFeed {
            institution: institution.clone(),
            language,
            zone,
            generated: self.now(),
            entries,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_keys_of_our_shape_are_looked_up() {
        let key = random_secret().unwrap();
        assert!(well_formed(&key));
        assert!(!well_formed(&key.to_uppercase()));
        assert!(!well_formed(&key[..63]));
        assert!(!well_formed(&format!("{key}0")));
        assert!(!well_formed(&"é".repeat(32)));
    }

    #[test]
    fn debug_of_a_new_feed_key_hides_its_address() {
        let new = NewFeedKey {
            url: "https://x.example/calendar/moj.ics?key=5ec7e7".into(),
            token: TokenRow {
                id: 1,
                prefix: "acc_0123".into(),
                institution: InstitutionId::parse("moj").unwrap(),
                role: crate::engine::Role::Ministry,
                name: "Registry".into(),
                created_at: chrono::DateTime::UNIX_EPOCH,
                revoked_at: None,
                last_used_at: None,
                feed_key_created_at: None,
                account_id: None,
                for_pages: false,
            },
        };
        let shown = format!("{new:?} {new:#?}");
        assert!(!shown.contains("5ec7e7"), "{shown}");
        assert!(shown.contains("redacted"), "{shown}");
    }
}
