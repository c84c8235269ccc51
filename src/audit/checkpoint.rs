//! Signed checkpoints (signed tree heads) of the history log, and the inclusion proofs an
//! auditor checks against one without a database. Pure, but for reading and writing key files.
//!
//! A checkpoint signs, with Ed25519 (RFC 8032), the UTF-8 text
//!
//! ```text
//! accession checkpoint v1
//! size <log size, decimal>
//! root <root hash, 64 lowercase hex>
//! time <RFC 3339 UTC, seconds, e.g. 2026-12-02T06:00:00Z>
//! key <key id>
//! ```
//!
//! (each line ended by `\n`). The key id is the first 16 hex digits of the SHA-256 of the 32-byte
//! public key. The JSON form carries those fields and the signature (128 hex digits).

use std::path::Path;

use chrono::{DateTime, SecondsFormat, Utc};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::merkle::Hash;

/// A signed tree head in its JSON form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// Always `accession checkpoint v1`.
    pub format: String,
    /// Leaves in the log.
    pub size: u64,
    /// The Merkle tree hash of the log (RFC 9162), hex.
    pub root: String,
    /// When it was made (RFC 3339, UTC, seconds).
    pub time: String,
    /// First 16 hex digits of SHA-256 of the signing public key.
    pub key_id: String,
    /// Ed25519 signature of [`Checkpoint::signed_text`], hex.
    pub signature: String,
}

pub const FORMAT: &str = "accession checkpoint v1";

/// An inclusion proof in its JSON form: the history row, its place in the log, and the path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InclusionProof {
    /// `accession inclusion proof v2` (with `row`), or `v1` (without).
    pub format: String,
    pub procedure: String,
    pub sequence: i64,
    /// The history row's own hash (hex): the SHA-256 of its canonical encoding.
    pub row_hash: String,
    /// Its position in the log, 0-based.
    pub position: u64,
    /// The size of the tree the proof is for (the checkpoint's).
    pub size: u64,
    /// The audit path of RFC 9162 §2.1.3, the leaf's sibling first, hex.
    pub path: Vec<String>,
    /// The history row itself (v2): what `row_hash` is the hash of, both its times included, so
    /// the proof shows what was recorded and when, not only that some row was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row: Option<super::ChainRow>,
}

/// The form of the proofs made now: with the row.
pub const PROOF_FORMAT: &str = "accession inclusion proof v2";
/// The form of the first proofs: the row's hash only.
pub const PROOF_FORMAT_V1: &str = "accession inclusion proof v1";

/// Why a checkpoint, key or proof is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckError {
    #[error("{0}")]
    Malformed(String),
    #[error(
        "the checkpoint is signed by key {found}, not by the key given ({expected}): it comes from \
         another log or was re-signed"
    )]
    OtherKey { found: String, expected: String },
    #[error("the checkpoint's signature is not valid for key {0}: it was altered or forged")]
    BadSignature(String),
}

impl Checkpoint {
    /// The text the signature covers.
    pub fn signed_text(&self) -> String {
        signed_text(self.size, &self.root, &self.time, &self.key_id)
    }

    /// Make and sign one.
    pub fn sign(size: u64, root: &Hash, time: DateTime<Utc>, key: &SigningKey) -> Checkpoint {
        let key_id = key_id(&key.verifying_key());
        let root = hex::encode(root);
        let time = time.to_rfc3339_opts(SecondsFormat::Secs, true);
        let signature = key.sign(signed_text(size, &root, &time, &key_id).as_bytes());
        Checkpoint {
            format: FORMAT.to_string(),
            size,
            root,
            time,
            key_id,
            signature: hex::encode(signature.to_bytes()),
        }
    }

    /// Check the form, that `key` made it and the signature; returns the root.
    pub fn verify(&self, key: &VerifyingKey) -> Result<Hash, CheckError> {
        if self.format != FORMAT {
            return Err(CheckError::Malformed(format!(
                "format is `{}`, not `{FORMAT}`",
                self.format
            )));
        }
        let root = parse_hash(&self.root, "root")?;
        DateTime::parse_from_rfc3339(&self.time)
            .map_err(|e| CheckError::Malformed(format!("time `{}`: {e}", self.time)))?;
        let expected = key_id(key);
        if self.key_id != expected {
            return Err(CheckError::OtherKey {
                found: self.key_id.clone(),
                expected,
            });
        }
        let bytes: [u8; 64] = hex::decode(&self.signature)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| CheckError::Malformed("signature is not 128 hex digits".into()))?;
        key.verify(
            self.signed_text().as_bytes(),
            &Signature::from_bytes(&bytes),
        )
        .map_err(|_| CheckError::BadSignature(self.key_id.clone()))?;
        Ok(root)
    }

    /// Read one from JSON, naming what does not fit.
    pub fn from_json(text: &str, source: &str) -> Result<Checkpoint, CheckError> {
        serde_json::from_str(text)
            .map_err(|e| CheckError::Malformed(format!("{source} is not a checkpoint: {e}")))
    }
}

fn signed_text(size: u64, root: &str, time: &str, key_id: &str) -> String {
    format!("{FORMAT}\nsize {size}\nroot {root}\ntime {time}\nkey {key_id}\n")
}

/// The key id of a public key.
pub fn key_id(key: &VerifyingKey) -> String {
    hex::encode(&Sha256::digest(key.as_bytes())[..8])
}

pub fn parse_hash(text: &str, what: &str) -> Result<Hash, CheckError> {
    hex::decode(text)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| CheckError::Malformed(format!("{what} `{text}` is not 64 hex digits")))
}

/// A new signing key from the operating system's generator.
pub fn generate_key() -> Result<SigningKey, getrandom::Error> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed)?;
    Ok(SigningKey::from_bytes(&seed))
}

/// A private key as written: the 32-byte seed, hex, one line.
pub fn parse_signing_key(text: &str, source: &str) -> Result<SigningKey, CheckError> {
    let seed: [u8; 32] = hex::decode(text.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            CheckError::Malformed(format!(
                "{source} does not hold an Ed25519 private key (64 hex digits)"
            ))
        })?;
    Ok(SigningKey::from_bytes(&seed))
}

/// A public key as written: 32 bytes, hex, one line.
pub fn parse_public_key(text: &str, source: &str) -> Result<VerifyingKey, CheckError> {
    let bytes: [u8; 32] = hex::decode(text.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            CheckError::Malformed(format!(
                "{source} does not hold an Ed25519 public key (64 hex digits)"
            ))
        })?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| {
        CheckError::Malformed(format!("{source} does not hold a valid Ed25519 public key"))
    })
}

/// Write the key pair: `path` (the private key, mode 0600, created new: an existing key is never
/// overwritten) and `path.pub`.
pub fn write_key_pair(path: &Path, key: &SigningKey) -> std::io::Result<std::path::PathBuf> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    writeln!(file, "{}", hex::encode(key.to_bytes()))?;
    file.sync_all()?;
    let mut public = path.as_os_str().to_owned();
    public.push(".pub");
    let public = std::path::PathBuf::from(public);
    std::fs::write(
        &public,
        format!("{}\n", hex::encode(key.verifying_key().as_bytes())),
    )?;
    Ok(public)
}

impl InclusionProof {
    /// Check the proof against a checkpoint's root (already verified): returns why not.
    pub fn check(&self, checkpoint: &Checkpoint, root: &Hash) -> Result<(), String> {
        match (self.format.as_str(), &self.row) {
            (PROOF_FORMAT, Some(row)) => self.check_row(row)?,
            (PROOF_FORMAT, None) => return Err(format!("a `{PROOF_FORMAT}` carries its `row`")),
            (PROOF_FORMAT_V1, None) => {}
            (PROOF_FORMAT_V1, Some(_)) => {
                return Err(format!("a `{PROOF_FORMAT_V1}` carries no `row`"));
            }
            (other, _) => {
                return Err(format!(
                    "format is `{other}`, not `{PROOF_FORMAT}` or `{PROOF_FORMAT_V1}`"
                ));
            }
        }
        if self.size != checkpoint.size {
            return Err(format!(
                "the proof is for a log of {} row(s), the checkpoint for {}",
                self.size, checkpoint.size
            ));
        }
        let row = parse_hash(&self.row_hash, "row_hash").map_err(|e| e.to_string())?;
        let path = self
            .path
            .iter()
            .enumerate()
            .map(|(i, h)| parse_hash(h, &format!("path[{i}]")).map_err(|e| e.to_string()))
            .collect::<Result<Vec<Hash>, String>>()?;
        let leaf = super::merkle::leaf_hash(&super::merkle::leaf_data(self.position, &row));
        if super::proof::verify_inclusion(self.position, self.size, &leaf, &path, root) {
            Ok(())
        } else {
            Err(format!(
                "the row `{}`, sequence {} with hash {} at position {} does not lead to the \
                 checkpoint's root {}: the row, its position or the path differ from what was \
                 signed",
                self.procedure, self.sequence, self.row_hash, self.position, checkpoint.root
            ))
        }
    }
}

impl InclusionProof {
    /// The row is the one named, and its content hashes to `row_hash` in its form.
    fn check_row(&self, row: &super::ChainRow) -> Result<(), String> {
        if row.procedure_id != self.procedure || row.sequence != self.sequence {
            return Err(format!(
                "the proof names `{}`, sequence {}, but its row is `{}`, sequence {}",
                self.procedure, self.sequence, row.procedure_id, row.sequence
            ));
        }
        if row.hash != self.row_hash {
            return Err(format!(
                "the row's hash {} is not the proof's row_hash {}",
                row.hash, self.row_hash
            ));
        }
        match super::content_problem(row) {
            None => Ok(()),
            Some(problem) => Err(format!(
                "the row `{}`, sequence {}: {problem}",
                row.procedure_id, row.sequence
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> SigningKey {
        SigningKey::from_bytes(&[n; 32])
    }

    #[test]
    fn a_signed_checkpoint_verifies_and_any_change_is_refused() {
        let time = DateTime::parse_from_rfc3339("2026-12-02T06:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let cp = Checkpoint::sign(7, &[3u8; 32], time, &key(1));
        assert_eq!(cp.time, "2026-12-02T06:00:00Z");
        assert_eq!(cp.verify(&key(1).verifying_key()), Ok([3u8; 32]));
        let mut bigger = cp.clone();
        bigger.size = 8;
        assert!(matches!(
            bigger.verify(&key(1).verifying_key()),
            Err(CheckError::BadSignature(_))
        ));
        assert!(matches!(
            cp.verify(&key(2).verifying_key()),
            Err(CheckError::OtherKey { .. })
        ));
        let mut resigned = Checkpoint::sign(7, &[4u8; 32], time, &key(2));
        resigned.key_id = cp.key_id.clone();
        assert!(matches!(
            resigned.verify(&key(1).verifying_key()),
            Err(CheckError::BadSignature(_))
        ));
        let back = Checkpoint::from_json(&serde_json::to_string(&cp).unwrap(), "x").unwrap();
        assert_eq!(back, cp);
        assert!(Checkpoint::from_json("{\"size\": 1}", "cp.json").is_err());
    }

    #[test]
    fn keys_read_back_and_bad_ones_are_named() {
        let k = key(9);
        let text = hex::encode(k.to_bytes());
        assert_eq!(
            parse_signing_key(&text, "f").unwrap().to_bytes(),
            k.to_bytes()
        );
        let public = hex::encode(k.verifying_key().as_bytes());
        assert_eq!(parse_public_key(&public, "p").unwrap(), k.verifying_key());
        let e = parse_signing_key("zz", "the file k")
            .unwrap_err()
            .to_string();
        assert!(e.contains("the file k"), "{e}");
    }
}
