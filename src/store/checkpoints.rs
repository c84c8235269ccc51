//! Checkpoints of the history log and the proofs read from its stored tree. A checkpoint is
//! kept with its emails to the auditor institutions in one transaction, and a scheduled one at
//! most once per period (see `Store::keep_checkpoint`).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Condition;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

use super::entities::{api_token, checkpoint, log_head, log_leaf, log_node, outbox};
use super::error::is_unique_violation;
use super::{Store, StoreError};
use crate::audit::checkpoint::Checkpoint;
use crate::audit::merkle::Hash;
use crate::audit::proof::{self, Range, Subtrees};
use crate::engine::{CheckpointFacts, Role, checkpoint_notifications};
use crate::ids::InstitutionId;

/// A checkpoint to keep, and its emails.
#[derive(Debug, Clone, Copy)]
pub struct NewCheckpoint<'a> {
    pub checkpoint: &'a Checkpoint,
    /// For the scheduler's: the id of the newest checkpoint when it found this one due (0: none),
    /// so that a period has one. `None` for one made by hand.
    pub scheduled_after: Option<i64>,
    /// Its emails, one to every auditor institution; `None`: no email.
    pub mail: Option<CheckpointMail<'a>>,
}

/// The emails of a checkpoint: what they state, and when they are queued (and due).
#[derive(Debug, Clone, Copy)]
pub struct CheckpointMail<'a> {
    pub facts: &'a CheckpointFacts,
    pub at: DateTime<Utc>,
}

/// A checkpoint kept: its id, and the institutions its emails were queued for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptCheckpoint {
    pub id: i64,
    pub mailed_to: Vec<InstitutionId>,
}

/// A history row's place in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    pub position: u64,
    pub leaf_hash: Hash,
}

impl Store {
    /// The log's size and root as stored.
    pub async fn log_head(&self) -> Result<(u64, Hash), StoreError> {
        let head = log_head::Entity::find_by_id(1)
            .one(&self.db)
            .await?
            .ok_or_else(|| StoreError::corrupt("the log's head row (log_head, id 1) is missing"))?;
        let root = decode(&head.root)
            .ok_or_else(|| StoreError::corrupt("the log's head: its root is not a SHA-256"))?;
        Ok((u64::try_from(head.size).unwrap_or(0), root))
    }

    /// Where the history row (`procedure`, `sequence`) is in the log, if it is.
    pub async fn log_entry(
        &self,
        procedure: &str,
        sequence: i64,
    ) -> Result<Option<LogEntry>, StoreError> {
        let leaf = log_leaf::Entity::find()
            .filter(log_leaf::Column::ProcedureId.eq(procedure))
            .filter(log_leaf::Column::Sequence.eq(sequence))
            .one(&self.db)
            .await?;
        leaf.map(|l| {
            Ok(LogEntry {
                position: u64::try_from(l.position).unwrap_or(0),
                leaf_hash: decode(&l.leaf_hash).ok_or_else(|| {
                    StoreError::corrupt(format!("log position {}: not a SHA-256", l.position))
                })?,
            })
        })
        .transpose()
    }

    /// The audit path of the leaf at `position` in the tree of the first `size` leaves.
    pub async fn inclusion_proof(&self, position: u64, size: u64) -> Result<Vec<Hash>, StoreError> {
        self.hashes_of(&proof::inclusion_ranges(position, size))
            .await
    }

    /// The consistency proof from the tree of `first` leaves to the one of `second`.
    pub async fn consistency_proof(
        &self,
        first: u64,
        second: u64,
    ) -> Result<Vec<Hash>, StoreError> {
        self.hashes_of(&proof::consistency_ranges(first, second))
            .await
    }

    /// The hashes of `ranges`, from the stored perfect subtrees: one query for the leaves and one
    /// for the interior nodes they need (at most two per level).
    async fn hashes_of(&self, ranges: &[Range]) -> Result<Vec<Hash>, StoreError> {
        let mut wanted = Vec::new();
        for r in ranges {
            proof::perfect_parts(*r, &mut wanted);
        }
        let mut found: HashMap<(u32, u64), Hash> = HashMap::new();
        let positions: Vec<i64> = wanted
            .iter()
            .filter(|(level, _)| *level == 0)
            .map(|(_, i)| *i as i64)
            .collect();
        if !positions.is_empty() {
            for l in log_leaf::Entity::find()
                .filter(log_leaf::Column::Position.is_in(positions))
                .all(&self.db)
                .await?
            {
                let h = decode(&l.leaf_hash).ok_or_else(|| {
                    StoreError::corrupt(format!("log position {}: not a SHA-256", l.position))
                })?;
                found.insert((0, l.position as u64), h);
            }
        }
        let mut nodes = Condition::any();
        let mut any = false;
        for (level, idx) in wanted.iter().filter(|(level, _)| *level > 0) {
            any = true;
            nodes = nodes.add(
                Condition::all()
                    .add(log_node::Column::Level.eq(*level as i32))
                    .add(log_node::Column::Idx.eq(*idx as i64)),
            );
        }
        if any {
            for n in log_node::Entity::find().filter(nodes).all(&self.db).await? {
                let h = decode(&n.hash).ok_or_else(|| {
                    StoreError::corrupt(format!("log node ({}, {}): not a SHA-256", n.level, n.idx))
                })?;
                found.insert((n.level as u32, n.idx as u64), h);
            }
        }
        if let Some((level, idx)) = wanted.iter().find(|k| !found.contains_key(k)) {
            return Err(StoreError::corrupt(format!(
                "the log's tree has no node at level {level}, index {idx}: rows were removed from \
                 log_leaves or log_nodes"
            )));
        }
        struct Found<'a>(&'a HashMap<(u32, u64), Hash>);
        impl Subtrees for Found<'_> {
            fn perfect(&mut self, level: u32, index: u64) -> Hash {
                self.0[&(level, index)]
            }
        }
        Ok(ranges
            .iter()
            .map(|r| proof::range_hash(*r, &mut Found(&found)))
            .collect())
    }

    /// Keep a checkpoint that was made, without email.
    pub async fn insert_checkpoint(&self, cp: &Checkpoint) -> Result<i64, StoreError> {
        let kept = self
            .keep_checkpoint(NewCheckpoint {
                checkpoint: cp,
                scheduled_after: None,
                mail: None,
            })
            .await?;
        kept.map(|k| k.id)
            .ok_or_else(|| StoreError::corrupt("a checkpoint without a period was refused"))
    }

    /// Keep `new.checkpoint` and, in the same transaction, queue its email to every institution
    /// that holds an unrevoked auditor token now (`new.mail`), so that it is kept and mailed, or
    /// neither. `None`, with nothing written, when it is a scheduled one and another instance
    /// has already made the checkpoint of that period (the unique `scheduled_after`).
    pub async fn keep_checkpoint(
        &self,
        new: NewCheckpoint<'_>,
    ) -> Result<Option<KeptCheckpoint>, StoreError> {
        let cp = new.checkpoint;
        let txn = self.begin_write().await?;
        let inserted = checkpoint::Entity::insert(checkpoint::ActiveModel {
            size: Set(i64::try_from(cp.size).unwrap_or(i64::MAX)),
            root: Set(cp.root.clone()),
            time: Set(cp.time.clone()),
            key_id: Set(cp.key_id.clone()),
            signature: Set(cp.signature.clone()),
            scheduled_after: Set(new.scheduled_after),
            ..Default::default()
        })
        .exec(&txn)
        .await;
        let id = match inserted {
            Ok(row) => row.last_insert_id,
            Err(e) if new.scheduled_after.is_some() && is_unique_violation(&e) => {
                txn.rollback().await?;
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        };
        let mut mailed_to = Vec::new();
        if let Some(mail) = new.mail {
            let auditors = auditor_institutions(&txn).await?;
            let emails = checkpoint_notifications(id, mail.facts, &auditors);
            if !emails.is_empty() {
                let rows = emails
                    .iter()
                    .map(|n| super::outbox::new_row(n, None, &self.mail_domain, mail.at, mail.at));
                outbox::Entity::insert_many(rows)
                    .exec_without_returning(&txn)
                    .await?;
            }
            mailed_to = emails.into_iter().map(|n| n.recipient).collect();
        }
        txn.commit().await?;
        Ok(Some(KeptCheckpoint { id, mailed_to }))
    }

    /// Checkpoints, newest first, `limit` after the cursor `before` (an id); and whether more.
    pub async fn checkpoints_page(
        &self,
        before: Option<i64>,
        limit: u64,
    ) -> Result<(Vec<(i64, Checkpoint)>, bool), StoreError> {
        let mut q = checkpoint::Entity::find()
            .order_by_desc(checkpoint::Column::Id)
            .limit(limit + 1);
        if let Some(b) = before {
            q = q.filter(checkpoint::Column::Id.lt(b));
        }
        let mut rows: Vec<(i64, Checkpoint)> = q
            .all(&self.db)
            .await?
            .into_iter()
            .map(|m| {
                (
                    m.id,
                    Checkpoint {
                        format: crate::audit::checkpoint::FORMAT.to_string(),
                        size: u64::try_from(m.size).unwrap_or(0),
                        root: m.root,
                        time: m.time,
                        key_id: m.key_id,
                        signature: m.signature,
                    },
                )
            })
            .collect();
        let more = rows.len() as u64 > limit;
        rows.truncate(limit as usize);
        Ok((rows, more))
    }

    /// The newest checkpoint's id and signed time, if any.
    pub async fn newest_checkpoint(&self) -> Result<Option<(i64, String)>, StoreError> {
        Ok(checkpoint::Entity::find()
            .select_only()
            .column(checkpoint::Column::Id)
            .column(checkpoint::Column::Time)
            .order_by_desc(checkpoint::Column::Id)
            .limit(1)
            .into_tuple::<(i64, String)>()
            .one(&self.db)
            .await?)
    }
}

/// The institutions holding an unrevoked auditor token, each once, in id order. As many as
/// there are such institutions (reference data, a handful), read through the partial index
/// `api_tokens_live_auditors`.
async fn auditor_institutions(db: &impl ConnectionTrait) -> Result<Vec<InstitutionId>, StoreError> {
    let ids: Vec<String> = api_token::Entity::find()
        .select_only()
        .column(api_token::Column::Institution)
        .distinct()
        .filter(api_token::Column::Role.eq(Role::Auditor.as_str()))
        .filter(api_token::Column::RevokedAt.is_null())
        .order_by_asc(api_token::Column::Institution)
        .into_tuple::<String>()
        .all(db)
        .await?;
    ids.into_iter()
        .map(|id| {
            InstitutionId::parse(id.clone())
                .map_err(|e| StoreError::corrupt(format!("api_tokens: institution `{id}`: {e}")))
        })
        .collect()
}

fn decode(text: &str) -> Option<Hash> {
    hex::decode(text).ok()?.try_into().ok()
}
