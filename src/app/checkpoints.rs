//! Signed checkpoints of the history log and the proofs checked against them: one set of rules
//! for the command line, the API and the scheduler.

use std::path::{Path, PathBuf};

use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::Serialize;

use crate::audit::checkpoint::{
    self, CheckError, Checkpoint, InclusionProof, PROOF_FORMAT, parse_public_key, parse_signing_key,
};
use crate::engine::{Actor, CheckpointFacts, Permission};
use crate::ids::{InstitutionId, ProcedureId};
use crate::store::{CheckpointMail, NewCheckpoint, Verdicts, VerifyReport};

use super::{Accession, AppError};

/// The private key itself, hex (for a secret store that sets the environment).
pub const KEY_VAR: &str = "ACCESSION_AUDIT_KEY";
/// The name of a file holding the private key.
pub const KEY_FILE_VAR: &str = "ACCESSION_AUDIT_KEY_FILE";

/// A checkpoint made and kept: its number, its JSON form, and the auditor institutions its
/// email was queued for (in the same transaction).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MadeCheckpoint {
    pub id: i64,
    pub checkpoint: Checkpoint,
    pub mailed_to: Vec<InstitutionId>,
}

/// What `audit verify --checkpoint` found.
#[derive(Debug, Clone, Serialize)]
pub struct CheckpointVerdict {
    /// The chains and the log, as `audit verify` checks them.
    pub report: VerifyReport,
    /// The checkpoint checked.
    pub checkpoint: Checkpoint,
    /// The log's size now.
    pub size: u64,
    /// What is missing or different, if anything: the first problem found.
    pub broken: Option<String>,
}

impl CheckpointVerdict {
    pub fn ok(&self) -> bool {
        self.broken.is_none() && self.report.ok()
    }
}

impl Accession {
    /// The signing key: from `ACCESSION_AUDIT_KEY`, the file `ACCESSION_AUDIT_KEY_FILE` names, or
    /// `audit.key_file`. Never logged.
    pub fn signing_key(&self) -> Result<SigningKey, AppError> {
        if let Ok(text) = std::env::var(KEY_VAR) {
            return parse_signing_key(&text, KEY_VAR).map_err(|e| AppError::Invalid(e.to_string()));
        }
        let path = std::env::var_os(KEY_FILE_VAR)
            .map(PathBuf::from)
            .or_else(|| self.settings.audit.key_file.clone())
            .ok_or_else(|| {
                AppError::Invalid(format!(
                    "no audit key: set audit.key_file, {KEY_FILE_VAR} or {KEY_VAR} (make one with \
                     `accession audit keygen FILE`)"
                ))
            })?;
        let text = read(&path, "the audit key file")?;
        parse_signing_key(&text, &format!("the audit key file {}", path.display()))
            .map_err(|e| AppError::Invalid(e.to_string()))
    }

    /// The key checkpoints are checked with: `given` (a public key file), else
    /// `audit.public_key_file`, else the public half of the signing key.
    pub fn checking_key(&self, given: Option<&Path>) -> Result<VerifyingKey, AppError> {
        match given.or(self.settings.audit.public_key_file.as_deref()) {
            Some(path) => public_key_file(path),
            None => Ok(self.signing_key()?.verifying_key()),
        }
    }

    /// Sign the log's head as it is now, keep the checkpoint and return it; with `email`, queue
    /// it (in the same transaction) to every institution that holds an auditor's token.
    pub async fn make_checkpoint(&self, email: bool) -> Result<MadeCheckpoint, AppError> {
        self.checkpoint_now(None, email).await?.ok_or_else(|| {
            AppError::Store(crate::store::StoreError::corrupt(
                "a checkpoint made by hand was refused as a duplicate",
            ))
        })
    }

    /// The scheduler's pass: make a checkpoint and mail it to the auditor institutions when
    /// `audit.checkpoint_every_secs` have passed since the newest (or there is none). Nothing
    /// when that is 0 or no key is configured (said once a pass at debug level: a service may
    /// run without one). Safe with many instances: the checkpoint records the newest one it
    /// follows, once (see `Store::keep_checkpoint`), so of two instances that find it due at once
    /// one makes it and mails it, and the other makes none.
    pub async fn checkpoint_if_due(&self) -> Result<Option<MadeCheckpoint>, AppError> {
        let every = self.settings.audit.checkpoint_every_secs;
        if every == 0 {
            return Ok(None);
        }
        if std::env::var_os(KEY_VAR).is_none()
            && std::env::var_os(KEY_FILE_VAR).is_none()
            && self.settings.audit.key_file.is_none()
        {
            tracing::debug!("no audit key configured: no checkpoint is made");
            return Ok(None);
        }
        let newest = self.store.newest_checkpoint().await?;
        if let Some((_, time)) = &newest {
            let due = chrono::DateTime::parse_from_rfc3339(time)
                .map(|t| {
                    t.with_timezone(&chrono::Utc)
                        + chrono::TimeDelta::seconds(i64::try_from(every).unwrap_or(i64::MAX))
                })
                .map_err(|e| {
                    AppError::Store(crate::store::StoreError::corrupt(format!(
                        "the newest checkpoint's time `{time}`: {e}"
                    )))
                })?;
            if self.now() < due {
                return Ok(None);
            }
        }
        let after = newest.map_or(0, |(id, _)| id);
        let made = self.checkpoint_now(Some(after), true).await?;
        if made.is_none() {
            tracing::debug!(
                after,
                "another instance made this period's checkpoint: none is made here"
            );
        }
        Ok(made)
    }

    /// Sign the log's head, keep the checkpoint (a scheduled one once for the period after
    /// checkpoint `scheduled_after`) and with `email` queue its emails; `None` when the period's
    /// checkpoint was made by another instance.
    async fn checkpoint_now(
        &self,
        scheduled_after: Option<i64>,
        email: bool,
    ) -> Result<Option<MadeCheckpoint>, AppError> {
        let key = self.signing_key()?;
        let (size, root) = self.store.log_head().await?;
        let now = self.now();
        let cp = Checkpoint::sign(size, &root, now, &key);
        let facts = CheckpointFacts::of(&cp, &key.verifying_key());
        let Some(kept) = self
            .store
            .keep_checkpoint(NewCheckpoint {
                checkpoint: &cp,
                scheduled_after,
                mail: email.then_some(CheckpointMail {
                    facts: &facts,
                    at: now,
                }),
            })
            .await?
        else {
            return Ok(None);
        };
        tracing::info!(
            id = kept.id,
            size,
            root = %cp.root,
            key_id = %cp.key_id,
            mailed_to = kept.mailed_to.len(),
            "checkpoint made"
        );
        Ok(Some(MadeCheckpoint {
            id: kept.id,
            checkpoint: cp,
            mailed_to: kept.mailed_to,
        }))
    }

    /// The checkpoints made, newest first, a page at a time, as `caller`.
    pub async fn checkpoints(
        &self,
        caller: &Actor,
        before: Option<i64>,
        limit: u64,
    ) -> Result<(Vec<(i64, Checkpoint)>, bool), AppError> {
        caller.may(Permission::ReadAudit)?;
        Ok(self.store.checkpoints_page(before, limit).await?)
    }

    /// Everything `audit verify` checks, then that the checkpoint is signed by `key` and that the
    /// log now extends the one it signed: the first `size` rows of history hash to its root, and
    /// the stored tree's consistency proof leads from it to today's root.
    /// Refused (403) unless `caller` may read the audit.
    pub async fn verify_against(
        &self,
        caller: &Actor,
        cp: &Checkpoint,
        key: &VerifyingKey,
    ) -> Result<CheckpointVerdict, AppError> {
        caller.may(Permission::ReadAudit)?;
        let signed_root = cp
            .verify(key)
            .map_err(|e| AppError::Invalid(e.to_string()))?;
        let report = self
            .store
            .verify_at(None, self.now(), Verdicts::Broken)
            .await?;
        let log = self.store.verify_log_with_prefix(Some(cp.size)).await?;
        let (size, root) = self.store.log_head().await?;
        let mut verdict = CheckpointVerdict {
            report,
            checkpoint: cp.clone(),
            size,
            broken: None,
        };
        if log.size < cp.size {
            verdict.broken = Some(format!(
                "the checkpoint of {} signed {} row(s) but history holds only {} in order in the \
                 log: positions {}..{} are missing (rows were deleted or the history truncated)",
                cp.time,
                cp.size,
                log.size,
                log.size,
                cp.size - 1
            ));
            return Ok(verdict);
        }
        match log.prefix_root {
            Some(r) if r != signed_root => {
                verdict.broken = Some(format!(
                    "the first {} row(s) of history hash to root {}, not to the root {} signed at \
                     {}: a row among them was rewritten, removed or reordered since",
                    cp.size,
                    hex::encode(r),
                    cp.root,
                    cp.time
                ));
                return Ok(verdict);
            }
            Some(_) => {}
            None => {
                // The log broke before the checkpoint's size; the report says where.
                verdict.broken = Some(format!(
                    "the log could not be recomputed up to the checkpoint's {} row(s): {}",
                    cp.size,
                    log.broken.clone().unwrap_or_default()
                ));
                return Ok(verdict);
            }
        }
        if size < cp.size {
            verdict.broken = Some(format!(
                "the log's head counts {size} row(s), fewer than the {} signed at {}",
                cp.size, cp.time
            ));
            return Ok(verdict);
        }
        let proof = self.store.consistency_proof(cp.size, size).await?;
        if !crate::audit::proof::verify_consistency(cp.size, size, &signed_root, &root, &proof) {
            verdict.broken = Some(format!(
                "the stored tree of {size} row(s) (root {}) is not an extension of the one signed \
                 at {}: its nodes were rewritten",
                hex::encode(root),
                cp.time
            ));
        }
        Ok(verdict)
    }

    /// The inclusion proof of history row (`procedure`, `sequence`; default its newest) in the
    /// log the checkpoint signed, after checking the checkpoint with `key`.
    /// Refused (403) unless `caller` may read the audit.
    pub async fn prove(
        &self,
        caller: &Actor,
        procedure: &ProcedureId,
        sequence: Option<i64>,
        cp: &Checkpoint,
        key: &VerifyingKey,
    ) -> Result<InclusionProof, AppError> {
        caller.may(Permission::ReadAudit)?;
        let root = cp
            .verify(key)
            .map_err(|e| AppError::Invalid(e.to_string()))?;
        let rows = self.store.history(procedure).await?;
        let sequence = match sequence {
            Some(s) => s,
            None => rows.last().map(|r| r.sequence).ok_or_else(|| {
                AppError::Invalid(format!("procedure `{procedure}` has no history row"))
            })?,
        };
        let row = rows
            .iter()
            .find(|r| r.sequence == sequence)
            .ok_or_else(|| AppError::NotFound {
                what: "history row",
                id: format!("{procedure} sequence {sequence}"),
            })?;
        let entry = self
            .store
            .log_entry(procedure.as_str(), sequence)
            .await?
            .ok_or_else(|| {
                AppError::Invalid(format!(
                    "history row `{procedure}`, sequence {sequence} is not in the log"
                ))
            })?;
        if entry.position >= cp.size {
            return Err(AppError::Invalid(format!(
                "history row `{procedure}`, sequence {sequence} is at log position {}, after the \
                 checkpoint's {} row(s): make a newer checkpoint",
                entry.position, cp.size
            )));
        }
        let (size, _) = self.store.log_head().await?;
        if size < cp.size {
            return Err(AppError::Invalid(format!(
                "the log holds {size} row(s), fewer than the checkpoint's {}: rows were removed",
                cp.size
            )));
        }
        let path = self.store.inclusion_proof(entry.position, cp.size).await?;
        let proof = InclusionProof {
            format: PROOF_FORMAT.to_string(),
            procedure: procedure.to_string(),
            sequence,
            row_hash: row.hash.clone(),
            position: entry.position,
            size: cp.size,
            path: path.iter().map(hex::encode).collect(),
            row: Some(row.clone()),
        };
        // Checked before it is handed out: a stored tree that does not lead to the signed root
        // gives no proof.
        proof
            .check(cp, &root)
            .map_err(|e| AppError::Invalid(format!("the stored log does not prove it: {e}")))?;
        Ok(proof)
    }
}

/// Check `proof` against `cp`, signed by `key`, without a database.
pub fn check_proof(
    proof: &InclusionProof,
    cp: &Checkpoint,
    key: &VerifyingKey,
) -> Result<(), String> {
    let root = cp.verify(key).map_err(|e| e.to_string())?;
    proof.check(cp, &root)
}

/// Read a checkpoint file.
pub fn checkpoint_file(path: &Path) -> Result<Checkpoint, AppError> {
    let text = read(path, "the checkpoint file")?;
    Checkpoint::from_json(&text, &format!("{}", path.display()))
        .map_err(|e: CheckError| AppError::Invalid(e.to_string()))
}

/// Read an inclusion proof file.
pub fn proof_file(path: &Path) -> Result<InclusionProof, AppError> {
    let text = read(path, "the proof file")?;
    serde_json::from_str(&text).map_err(|e| {
        AppError::Invalid(format!("{} is not an inclusion proof: {e}", path.display()))
    })
}

/// Read a public key file.
pub fn public_key_file(path: &Path) -> Result<VerifyingKey, AppError> {
    let text = read(path, "the public key file")?;
    parse_public_key(&text, &format!("the public key file {}", path.display()))
        .map_err(|e| AppError::Invalid(e.to_string()))
}

/// Write a new key pair to `path` and `path.pub`; the public key file's path and the key id.
pub fn keygen(path: &Path) -> Result<(PathBuf, String), AppError> {
    let key = checkpoint::generate_key()
        .map_err(|e| AppError::Io(format!("no random bytes from the system: {e}")))?;
    let public = checkpoint::write_key_pair(path, &key).map_err(|e| {
        AppError::Io(format!(
            "cannot write the key to {}: {e}{}",
            path.display(),
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                " (an existing key is never overwritten)"
            } else {
                ""
            }
        ))
    })?;
    Ok((public, checkpoint::key_id(&key.verifying_key())))
}

fn read(path: &Path, what: &str) -> Result<String, AppError> {
    std::fs::read_to_string(path)
        .map_err(|e| AppError::Invalid(format!("cannot read {what} {}: {e}", path.display())))
}
