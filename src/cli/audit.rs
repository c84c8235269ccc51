//! `audit keygen|checkpoint|prove|check-proof` and `audit verify --checkpoint`: the signed
//! checkpoints of the history log and the proofs an auditor checks alone.

use std::path::Path;

use super::output::{outln, print_json};
use super::{AuditCmd, Cli, open, open_to_read};
use crate::app::checkpoints::{self as audit, checkpoint_file, proof_file, public_key_file};
use crate::app::{Accession, AppError};

pub async fn run(cli: &Cli, cmd: &AuditCmd) -> Result<u8, AppError> {
    match cmd {
        // Handled in `cli::run`.
        AuditCmd::Verify { .. } => unreachable!("audit verify is run by cli::run"),
        AuditCmd::Keygen { file } => {
            let (public, key_id) = audit::keygen(file)?;
            if cli.json {
                print_json(&serde_json::json!({
                    "private_key_file": file,
                    "public_key_file": public,
                    "key_id": key_id,
                }));
            } else {
                outln!(
                    "wrote the private key to {} (mode 0600; keep it secret, name it in \
                     audit.key_file) and the public key to {}; key id {key_id}",
                    file.display(),
                    public.display()
                );
            }
            Ok(0)
        }
        AuditCmd::Checkpoint { no_email } => {
            let app = open(cli).await?;
            let made = app.make_checkpoint(!no_email).await?;
            // The JSON form always, alone on stdout: it is what an auditor keeps.
            print_json(&made.checkpoint);
            // Said on stderr, so that stdout stays a checkpoint file.
            if *no_email {
                eprintln!(
                    "checkpoint {} kept; emailed to nobody (--no-email)",
                    made.id
                );
            } else if made.mailed_to.is_empty() {
                eprintln!(
                    "checkpoint {} kept; no institution holds an auditor's token, so it is emailed \
                     to nobody",
                    made.id
                );
            } else {
                let to: Vec<&str> = made.mailed_to.iter().map(|i| i.as_str()).collect();
                eprintln!(
                    "checkpoint {} kept and queued by email to {} auditor institution(s): {}",
                    made.id,
                    to.len(),
                    to.join(", ")
                );
            }
            Ok(0)
        }
        AuditCmd::Prove {
            procedure,
            sequence,
            checkpoint,
            public_key,
        } => {
            let cp = checkpoint_file(checkpoint)?;
            let app = open_to_read(cli).await?;
            let key = app.checking_key(public_key.as_deref())?;
            let proof = app
                .prove(&operator(), procedure, *sequence, &cp, &key)
                .await?;
            print_json(&proof);
            Ok(0)
        }
        AuditCmd::CheckProof {
            proof,
            checkpoint,
            public_key,
        } => {
            let proof = proof_file(proof)?;
            let cp = checkpoint_file(checkpoint)?;
            let key = public_key_file(public_key)?;
            match audit::check_proof(&proof, &cp, &key) {
                Ok(()) => {
                    outln!(
                        "OK: `{}`, sequence {} (hash {}) is at position {} of the log of {} \
                         row(s) signed at {} by key {}",
                        proof.procedure,
                        proof.sequence,
                        proof.row_hash,
                        proof.position,
                        cp.size,
                        cp.time,
                        cp.key_id
                    );
                    Ok(0)
                }
                Err(what) => {
                    outln!("BROKEN proof: {what}");
                    Ok(1)
                }
            }
        }
    }
}

/// `audit verify --checkpoint FILE`.
pub async fn verify_checkpoint(
    cli: &Cli,
    app: &Accession,
    file: &Path,
    public_key: Option<&Path>,
) -> Result<u8, AppError> {
    let cp = checkpoint_file(file)?;
    let key = app.checking_key(public_key)?;
    let verdict = app.verify_against(&operator(), &cp, &key).await?;
    if cli.json {
        print_json(&verdict);
    } else if verdict.ok() {
        outln!(
            "OK: {} procedure(s), {} history row(s), every chain intact; the log of {} row(s) \
             extends the {} signed at {} by key {}",
            verdict.report.checked,
            verdict.report.rows,
            verdict.size,
            cp.size,
            cp.time,
            cp.key_id
        );
    } else {
        if let Some(what) = &verdict.broken {
            outln!("BROKEN against the checkpoint: {what}");
        }
        if let Some(b) = verdict.report.first_break() {
            outln!("BROKEN {b}");
        }
        if let Some(what) = verdict.report.log.as_ref().and_then(|l| l.broken.as_ref()) {
            outln!("BROKEN log: {what}");
        }
    }
    Ok(if verdict.ok() { 0 } else { 1 })
}

/// Who runs the command line, as the use cases take it.
fn operator() -> crate::engine::Actor {
    crate::engine::Actor::operator(super::operator_name())
}
