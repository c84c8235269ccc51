//! The hash chain: canonical encoding, hashing and verification. Pure.
//!
//! A row's hash covers a canonical encoding whose form the row names (`hash_form`): rows keep
//! the form they were written in, since history is never rewritten.
//!
//! - **Form 1** (rows written before effective times existed): `["accession-history-v1",
//!   procedure_id, sequence, at, actor_institution, actor_name, actor_role, command, from_stage,
//!   to_stage, comment, payload, prev_hash]`.
//! - **Form 2**: `["accession-history-v2", procedure_id, sequence, at, effective_on,
//!   effective_approximate, retrospective, actor_institution, actor_name, actor_role, command,
//!   from_stage, to_stage, comment, payload, prev_hash]`: both times, when the act was recorded
//!   (`at`) and when it took effect (`effective_on`, a `YYYY-MM-DD` string or null when it took
//!   effect when recorded), and the two flags.
//! - **Form 3** (every row written since accounts, issue 15): form 2 with the acting person's
//!   account after the role: `["accession-history-v3", procedure_id, sequence, at, effective_on,
//!   effective_approximate, retrospective, actor_institution, actor_name, actor_role,
//!   actor_account, command, from_stage, to_stage, comment, payload, prev_hash]`, `actor_account`
//!   an integer or null (Accession's own acts, shared tokens).
//!
//! Each is compact JSON (no spaces; strings escaped as JSON does, non-ASCII as UTF-8); `at` is
//! RFC 3339 in UTC with microseconds and `Z`, the precision both databases keep.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The `prev_hash` of a procedure's first row.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The form of the rows written before effective times: their hash covers the recording time only.
pub const FORM_RECORDED_ONLY: i32 = 1;
/// The form of the rows written with effective times and before accounts: both times.
pub const FORM_BOTH_TIMES: i32 = 2;
/// The form every row is written in now: both times and the acting person's account.
pub const FORM_ACCOUNT: i32 = 3;

/// A history row as stored, with the fields the hash covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChainRow {
    pub procedure_id: String,
    pub sequence: i64,
    /// When the row was recorded: the clock's time when it was written.
    pub at: DateTime<Utc>,
    /// The day the act took effect, as its actor stated it; null: when it was recorded (`at`).
    #[serde(default)]
    pub effective_on: Option<NaiveDate>,
    /// The day it took effect is not known: `effective_on` is the latest it can have been (and it
    /// took effect after the procedure's last act whose day is known).
    #[serde(default)]
    pub effective_approximate: bool,
    /// Recorded later than it took effect: `effective_on` is before the day of `at` (in the
    /// acting institution's time zone), or approximate.
    #[serde(default)]
    pub retrospective: bool,
    pub actor_institution: String,
    pub actor_name: String,
    pub actor_role: String,
    /// The account of the person who acted (form 3); none for Accession's own acts, shared
    /// tokens, and rows of forms 1 and 2 (which name the institution and the token's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_account: Option<i64>,
    pub command: String,
    pub from_stage: Option<String>,
    pub to_stage: Option<String>,
    pub comment: Option<String>,
    /// The payload as stored: canonical JSON text.
    pub payload: String,
    pub prev_hash: String,
    pub hash: String,
    /// Which canonical encoding `hash` covers: 1 (the recording time only, rows written before
    /// effective times existed), 2 (both times) or 3 (both times and the account).
    #[serde(default = "form_recorded_only")]
    pub hash_form: i32,
}

fn form_recorded_only() -> i32 {
    FORM_RECORDED_ONLY
}

impl ChainRow {
    /// The day the act took effect, if stated; else the day of `at` in UTC. (The timeline reads
    /// `at` in the viewer's zone instead.)
    pub fn effective_day(&self) -> NaiveDate {
        self.effective_on.unwrap_or_else(|| self.at.date_naive())
    }
}

/// The bytes the hash covers, in the row's form (see the module's notes); `None` for a form this
/// version does not know.
pub fn canonical_encoding(row: &ChainRow, prev_hash: &str) -> Option<String> {
    let at = row.at.to_rfc3339_opts(SecondsFormat::Micros, true);
    let fields = match row.hash_form {
        FORM_RECORDED_ONLY => serde_json::json!([
            "accession-history-v1",
            row.procedure_id,
            row.sequence,
            at,
            row.actor_institution,
            row.actor_name,
            row.actor_role,
            row.command,
            row.from_stage,
            row.to_stage,
            row.comment,
            row.payload,
            prev_hash,
        ]),
        FORM_BOTH_TIMES => serde_json::json!([
            "accession-history-v2",
            row.procedure_id,
            row.sequence,
            at,
            row.effective_on.map(|d| d.format("%Y-%m-%d").to_string()),
            row.effective_approximate,
            row.retrospective,
            row.actor_institution,
            row.actor_name,
            row.actor_role,
            row.command,
            row.from_stage,
            row.to_stage,
            row.comment,
            row.payload,
            prev_hash,
        ]),
        FORM_ACCOUNT => serde_json::json!([
            "accession-history-v3",
            row.procedure_id,
            row.sequence,
            at,
            row.effective_on.map(|d| d.format("%Y-%m-%d").to_string()),
            row.effective_approximate,
            row.retrospective,
            row.actor_institution,
            row.actor_name,
            row.actor_role,
            row.actor_account,
            row.command,
            row.from_stage,
            row.to_stage,
            row.comment,
            row.payload,
            prev_hash,
        ]),
        _ => return None,
    };
    Some(fields.to_string())
}

/// SHA-256 (hex) of the canonical encoding; `None` for a form this version does not know.
pub fn row_hash(row: &ChainRow, prev_hash: &str) -> Option<String> {
    canonical_encoding(row, prev_hash)
        .map(|encoding| hex::encode(Sha256::digest(encoding.as_bytes())))
}

/// Why a row's own content does not stand, if it does not: a form not known, effective times a
/// form-1 hash does not cover, or content that does not hash to the stored hash.
pub fn content_problem(row: &ChainRow) -> Option<String> {
    match row.hash_form {
        FORM_RECORDED_ONLY
            if row.effective_on.is_some() || row.effective_approximate || row.retrospective =>
        {
            return Some(
                "the row is of hash form 1, which does not cover effective times, yet it carries \
                 one: the time it took effect was added afterwards"
                    .into(),
            );
        }
        FORM_RECORDED_ONLY | FORM_BOTH_TIMES if row.actor_account.is_some() => {
            return Some(format!(
                "the row is of hash form {}, which does not cover the acting account, yet it \
                 names one: the account was added afterwards",
                row.hash_form
            ));
        }
        FORM_RECORDED_ONLY | FORM_BOTH_TIMES | FORM_ACCOUNT => {}
        other => {
            return Some(format!(
                "the row names hash form {other}, which this version does not know (1, 2 or 3)"
            ));
        }
    }
    if row.effective_approximate && row.effective_on.is_none() {
        return Some("the row is approximate but states no day it took effect".into());
    }
    let recomputed = row_hash(row, &row.prev_hash).unwrap_or_default();
    if recomputed != row.hash {
        return Some(format!(
            "the row's content does not match its hash (stored {}, recomputed {}): the row was \
             edited",
            short(&row.hash),
            short(&recomputed)
        ));
    }
    None
}

/// The first place a procedure's chain breaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error, utoipa::ToSchema)]
#[error("procedure `{procedure_id}`, sequence {sequence}: {what}")]
pub struct ChainBreak {
    pub procedure_id: String,
    pub sequence: i64,
    pub what: String,
}

/// Verify one procedure's rows, given in sequence order. Returns the number of rows checked.
pub fn verify_chain<'a>(
    procedure_id: &str,
    rows: impl IntoIterator<Item = &'a ChainRow>,
) -> Result<u64, ChainBreak> {
    let mut check = ChainCheck::new(procedure_id);
    for row in rows {
        check.push(row)?;
    }
    Ok(check.rows)
}

/// A chain verified row by row, so a long history is checked without holding it: from the
/// genesis, or resumed after a row already verified (its sequence and hash).
#[derive(Debug, Clone)]
pub struct ChainCheck {
    procedure_id: String,
    expected_prev: String,
    next_sequence: i64,
    /// Rows checked by this check.
    pub rows: u64,
}

impl ChainCheck {
    pub fn new(procedure_id: &str) -> Self {
        Self::resume(procedure_id, 0, GENESIS)
    }

    /// Continue after row `sequence`, whose hash `hash` was verified before.
    pub fn resume(procedure_id: &str, sequence: i64, hash: &str) -> Self {
        ChainCheck {
            procedure_id: procedure_id.to_string(),
            expected_prev: hash.to_string(),
            next_sequence: sequence + 1,
            rows: 0,
        }
    }

    pub fn procedure_id(&self) -> &str {
        &self.procedure_id
    }

    /// The last row verified: (sequence, hash); sequence 0 and the genesis before any.
    pub fn tip(&self) -> (i64, &str) {
        (self.next_sequence - 1, &self.expected_prev)
    }

    /// Check the next row.
    pub fn push(&mut self, row: &ChainRow) -> Result<(), ChainBreak> {
        let fail = |what: String| ChainBreak {
            procedure_id: self.procedure_id.clone(),
            sequence: row.sequence,
            what,
        };
        let expected_sequence = self.next_sequence;
        if row.sequence != expected_sequence {
            return Err(fail(format!(
                "expected sequence {expected_sequence} here; rows are missing or were inserted"
            )));
        }
        if row.prev_hash != self.expected_prev {
            return Err(fail(format!(
                "prev_hash {} does not match the hash of the row before ({}): a row was removed, \
                 inserted or rehashed",
                short(&row.prev_hash),
                short(&self.expected_prev)
            )));
        }
        if let Some(problem) = content_problem(row) {
            return Err(fail(problem));
        }
        self.expected_prev = row.hash.clone();
        self.next_sequence += 1;
        self.rows += 1;
        Ok(())
    }
}

fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn chain_in(n: i64, form: i32) -> Vec<ChainRow> {
        let mut rows = Vec::new();
        let mut prev = GENESIS.to_string();
        for sequence in 1..=n {
            let mut row = ChainRow {
                procedure_id: "kg-ets-112".into(),
                sequence,
                at: Utc
                    .with_ymd_and_hms(2024, 4, 22, 10, 0, sequence as u32)
                    .unwrap(),
                effective_on: None,
                effective_approximate: false,
                retrospective: false,
                actor_institution: "mfa".into(),
                actor_name: "test".into(),
                actor_role: "coordinator".into(),
                actor_account: None,
                command: "comment".into(),
                from_stage: Some("deposit".into()),
                to_stage: Some("deposit".into()),
                comment: Some(format!("note {sequence}")),
                payload: "{}".into(),
                prev_hash: prev.clone(),
                hash: String::new(),
                hash_form: form,
            };
            if form == FORM_BOTH_TIMES && sequence % 2 == 0 {
                row.effective_on = Some("2024-04-01".parse().unwrap());
                row.retrospective = true;
            }
            row.hash = row_hash(&row, &prev).unwrap();
            prev = row.hash.clone();
            rows.push(row);
        }
        rows
    }

    fn chain(n: i64) -> Vec<ChainRow> {
        chain_in(n, FORM_BOTH_TIMES)
    }

    #[test]
    fn an_intact_chain_verifies() {
        assert_eq!(verify_chain("kg-ets-112", &chain(5)), Ok(5));
        assert_eq!(
            verify_chain("kg-ets-112", &chain_in(5, FORM_RECORDED_ONLY)),
            Ok(5)
        );
    }

    #[test]
    fn a_chain_of_old_rows_goes_on_with_rows_of_the_new_form() {
        let mut rows = chain_in(3, FORM_RECORDED_ONLY);
        let mut prev = rows[2].hash.clone();
        for row in chain(3) {
            let mut row = ChainRow {
                sequence: row.sequence + 3,
                prev_hash: prev.clone(),
                ..row
            };
            row.hash = row_hash(&row, &prev).unwrap();
            prev = row.hash.clone();
            rows.push(row);
        }
        assert_eq!(verify_chain("kg-ets-112", &rows), Ok(6));
    }

    #[test]
    fn the_form_1_encoding_is_the_one_old_rows_were_hashed_with() {
        // A row as the first version wrote it; its hash, as SHA-256 of that text, computed apart.
        let row = &chain_in(1, FORM_RECORDED_ONLY)[0];
        assert_eq!(
            canonical_encoding(row, GENESIS).unwrap(),
            format!(
                r#"["accession-history-v1","kg-ets-112",1,"2024-04-22T10:00:01.000000Z","mfa","test","coordinator","comment","deposit","deposit","note 1","{{}}","{GENESIS}"]"#
            )
        );
        assert_eq!(
            row.hash,
            "7adf5fd47550e4c6a48cdd2ef458f9b6776fdbb8bb40faf619365f1401482849"
        );
    }

    #[test]
    fn the_form_2_encoding_covers_both_times() {
        let row = &chain(2)[1];
        let encoding = canonical_encoding(row, &row.prev_hash).unwrap();
        assert!(
            encoding.starts_with(
                r#"["accession-history-v2","kg-ets-112",2,"2024-04-22T10:00:02.000000Z","2024-04-01",false,true,"mfa""#
            ),
            "{encoding}"
        );
        for edit in [
            |r: &mut ChainRow| r.effective_on = Some("2024-04-02".parse().unwrap()),
            |r: &mut ChainRow| r.effective_on = None,
            |r: &mut ChainRow| r.effective_approximate = true,
            |r: &mut ChainRow| r.retrospective = false,
            |r: &mut ChainRow| r.at += chrono::TimeDelta::microseconds(1),
        ] {
            let mut rows = chain(3);
            edit(&mut rows[1]);
            let err = verify_chain("kg-ets-112", &rows).unwrap_err();
            assert_eq!(err.sequence, 2);
            assert!(err.what.contains("edited"), "{}", err.what);
        }
    }

    #[test]
    fn an_effective_time_added_to_an_old_row_is_found() {
        let mut rows = chain_in(3, FORM_RECORDED_ONLY);
        rows[1].effective_on = Some("2024-01-01".parse().unwrap());
        let err = verify_chain("kg-ets-112", &rows).unwrap_err();
        assert_eq!(err.sequence, 2);
        assert!(err.what.contains("hash form 1"), "{}", err.what);
        // Relabelling a new row as an old one does not hide its times either.
        let mut rows = chain(3);
        rows[1].hash_form = FORM_RECORDED_ONLY;
        let err = verify_chain("kg-ets-112", &rows).unwrap_err();
        assert_eq!(err.sequence, 2);
        let mut rows = chain(3);
        rows[0].hash_form = FORM_RECORDED_ONLY;
        assert!(
            verify_chain("kg-ets-112", &rows)
                .unwrap_err()
                .what
                .contains("edited")
        );
        let mut rows = chain(3);
        rows[2].hash_form = 7;
        let err = verify_chain("kg-ets-112", &rows).unwrap_err();
        assert!(err.what.contains("hash form 7"), "{}", err.what);
    }

    #[test]
    fn an_edited_comment_is_found_at_its_row() {
        let mut rows = chain(5);
        rows[2].comment = Some("rewritten".into());
        let err = verify_chain("kg-ets-112", &rows).unwrap_err();
        assert_eq!(err.sequence, 3);
        assert!(err.what.contains("edited"), "{}", err.what);
    }

    #[test]
    fn a_deleted_row_is_found() {
        let mut rows = chain(5);
        rows.remove(1);
        let err = verify_chain("kg-ets-112", &rows).unwrap_err();
        assert_eq!(err.sequence, 3);
    }

    #[test]
    fn a_rehashed_row_breaks_the_next_link() {
        let mut rows = chain(4);
        rows[1].comment = Some("forged".into());
        rows[1].hash = row_hash(&rows[1], &rows[1].prev_hash.clone()).unwrap();
        let err = verify_chain("kg-ets-112", &rows).unwrap_err();
        assert_eq!(err.sequence, 3);
        assert!(err.what.contains("prev_hash"));
    }

    #[test]
    fn the_encoding_separates_fields_unambiguously() {
        for form in [FORM_RECORDED_ONLY, FORM_BOTH_TIMES] {
            let rows = chain_in(1, form);
            let mut a = rows[0].clone();
            let mut b = rows[0].clone();
            a.actor_name = "ab".into();
            a.actor_role = "c".into();
            b.actor_name = "a".into();
            b.actor_role = "bc".into();
            assert_ne!(row_hash(&a, GENESIS), row_hash(&b, GENESIS));
        }
    }
}
