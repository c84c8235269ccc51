//! The hash chain: canonical encoding, hashing and verification. Pure.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// The `prev_hash` of a procedure's first row.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// A history row as stored, with the fields the hash covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ChainRow {
    pub procedure_id: String,
    pub sequence: i64,
    pub at: DateTime<Utc>,
    pub actor_institution: String,
    pub actor_name: String,
    pub actor_role: String,
    pub command: String,
    pub from_stage: Option<String>,
    pub to_stage: Option<String>,
    pub comment: Option<String>,
    /// The payload as stored: canonical JSON text.
    pub payload: String,
    pub prev_hash: String,
    pub hash: String,
}

/// The bytes the hash covers: a JSON array of the row's fields in a fixed order and the previous
/// hash. Times are RFC 3339 in UTC with microseconds, the precision both databases keep.
pub fn canonical_encoding(row: &ChainRow, prev_hash: &str) -> String {
    let fields = serde_json::json!([
        "accession-history-v1",
        row.procedure_id,
        row.sequence,
        row.at.to_rfc3339_opts(SecondsFormat::Micros, true),
        row.actor_institution,
        row.actor_name,
        row.actor_role,
        row.command,
        row.from_stage,
        row.to_stage,
        row.comment,
        row.payload,
        prev_hash,
    ]);
    fields.to_string()
}

/// SHA-256 (hex) of the canonical encoding.
pub fn row_hash(row: &ChainRow, prev_hash: &str) -> String {
    hex::encode(Sha256::digest(
        canonical_encoding(row, prev_hash).as_bytes(),
    ))
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
        let recomputed = row_hash(row, &row.prev_hash);
        if recomputed != row.hash {
            return Err(fail(format!(
                "the row's content does not match its hash (stored {}, recomputed {}): the row was \
                 edited",
                short(&row.hash),
                short(&recomputed)
            )));
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

    fn chain(n: i64) -> Vec<ChainRow> {
        let mut rows = Vec::new();
        let mut prev = GENESIS.to_string();
        for sequence in 1..=n {
            let mut row = ChainRow {
                procedure_id: "kg-ets-112".into(),
                sequence,
                at: Utc
                    .with_ymd_and_hms(2024, 4, 22, 10, 0, sequence as u32)
                    .unwrap(),
                actor_institution: "mfa".into(),
                actor_name: "test".into(),
                actor_role: "coordinator".into(),
                command: "comment".into(),
                from_stage: Some("deposit".into()),
                to_stage: Some("deposit".into()),
                comment: Some(format!("note {sequence}")),
                payload: "{}".into(),
                prev_hash: prev.clone(),
                hash: String::new(),
            };
            row.hash = row_hash(&row, &prev);
            prev = row.hash.clone();
            rows.push(row);
        }
        rows
    }

    #[test]
    fn an_intact_chain_verifies() {
        assert_eq!(verify_chain("kg-ets-112", &chain(5)), Ok(5));
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
        rows[1].hash = row_hash(&rows[1], &rows[1].prev_hash.clone());
        let err = verify_chain("kg-ets-112", &rows).unwrap_err();
        assert_eq!(err.sequence, 3);
        assert!(err.what.contains("prev_hash"));
    }

    #[test]
    fn the_encoding_separates_fields_unambiguously() {
        let rows = chain(1);
        let mut a = rows[0].clone();
        let mut b = rows[0].clone();
        a.actor_name = "ab".into();
        a.actor_role = "c".into();
        b.actor_name = "a".into();
        b.actor_role = "bc".into();
        assert_ne!(row_hash(&a, GENESIS), row_hash(&b, GENESIS));
    }
}
