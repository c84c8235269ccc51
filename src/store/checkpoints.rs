//! Checkpoints of the history log and the proofs read from its stored tree.

use std::collections::HashMap;

use sea_orm::sea_query::Condition;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::entities::{checkpoint, log_head, log_leaf, log_node};
use super::{Store, StoreError};
use crate::audit::checkpoint::Checkpoint;
use crate::audit::merkle::Hash;
use crate::audit::proof::{self, Range, Subtrees};

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

    /// Keep a checkpoint that was made.
    pub async fn insert_checkpoint(&self, cp: &Checkpoint) -> Result<i64, StoreError> {
        let row = checkpoint::Entity::insert(checkpoint::ActiveModel {
            size: Set(i64::try_from(cp.size).unwrap_or(i64::MAX)),
            root: Set(cp.root.clone()),
            time: Set(cp.time.clone()),
            key_id: Set(cp.key_id.clone()),
            signature: Set(cp.signature.clone()),
            ..Default::default()
        })
        .exec(&self.db)
        .await?;
        Ok(row.last_insert_id)
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

    /// When the newest checkpoint was made (its signed time), if any.
    pub async fn newest_checkpoint_time(&self) -> Result<Option<String>, StoreError> {
        Ok(checkpoint::Entity::find()
            .select_only()
            .column(checkpoint::Column::Time)
            .order_by_desc(checkpoint::Column::Id)
            .limit(1)
            .into_tuple::<String>()
            .one(&self.db)
            .await?)
    }
}

fn decode(text: &str) -> Option<Hash> {
    hex::decode(text).ok()?.try_into().ok()
}
