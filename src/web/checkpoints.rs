//! The audit page's list of the newest signed checkpoints.

use serde_json::{Value, json};

use crate::app::{Accession, AppError};
use crate::engine::Actor;

/// Checkpoints the audit page shows, newest first.
const SHOWN: u64 = 5;

/// The newest checkpoints, as the audit page's template takes them.
pub async fn newest(app: &Accession, actor: &Actor) -> Result<Vec<Value>, AppError> {
    let (rows, _) = app.checkpoints(actor, None, SHOWN).await?;
    Ok(rows
        .into_iter()
        .map(|(_, c)| json!({"time": c.time, "size": c.size, "root": c.root, "key_id": c.key_id}))
        .collect())
}
