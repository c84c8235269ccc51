//! The one append-only log over all history and its Merkle tree (see `audit::merkle`).
//!
//! Every history row gets a position (0-based) in the transaction that inserts it: the writer
//! locks the one `log_head` row (`SELECT … FOR UPDATE` on PostgreSQL; on SQLite `BEGIN
//! IMMEDIATE` already serialises writers), takes the next positions from its size, appends the
//! leaves and the interior nodes they complete, and stores the new size, frontier and root. The
//! lock is held until the commit, so positions follow commit order, and a transaction that rolls
//! back leaves no gap: the next writer reads the head as it was. The lock is taken as the last
//! step before the commit, to hold it as briefly as possible.
//!
//! Rows written before the log existed are put in it once, in the order they were inserted
//! (history id), by the first writer that finds `backfill_pending` — normally `migrate`.

use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, Statement,
};
use serde::Serialize;

use super::entities::{history, log_head, log_leaf, log_node};
use super::{ChainVerdict, Store, StoreError};
use crate::audit::ChainBreak;
use crate::audit::merkle::{self, Frontier, Hash};

/// Rows read or written per query.
const BATCH: u64 = 1000;

/// A history row as the log takes it: procedure, sequence and the row's own hash (hex).
pub(super) struct NewRow<'a> {
    pub procedure_id: &'a str,
    pub sequence: i64,
    pub hash: &'a str,
}

/// What `audit verify` found in the log.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LogVerdict {
    /// Leaves checked, from position 0.
    pub size: u64,
    /// The root recomputed from the history rows (hex), over the leaves checked.
    pub root: String,
    /// The first thing wrong, if any.
    pub broken: Option<String>,
    /// The root recomputed over the first `prefix` leaves, when asked for (a checkpoint's size).
    #[serde(skip)]
    pub prefix_root: Option<Hash>,
}

impl Store {
    /// Put the rows written before the log existed into it, if that is still to do. Idempotent.
    pub async fn backfill_log(&self) -> Result<(), StoreError> {
        let txn = self.begin_write().await?;
        let head = lock_head(&txn).await?;
        if !head.backfill_pending {
            txn.rollback().await?;
            return Ok(());
        }
        let mut frontier = frontier_of(&head)?;
        backfill(&txn, &mut frontier, &[]).await?;
        write_head(&txn, &frontier).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Check the log against history, reading a batch at a time (memory: one batch and the
    /// frontier): positions run from 0 without a gap, each leaf's history row is there and hashes
    /// to the leaf, the head's size, frontier and root are the ones recomputed, and every history
    /// row is in the log.
    pub async fn verify_log(&self) -> Result<LogVerdict, StoreError> {
        self.verify_log_with_prefix(None).await
    }

    /// `verify_log`, also keeping the root recomputed from history over the first `prefix` leaves
    /// (what a checkpoint of that size signed), when the log reaches that far.
    pub async fn verify_log_with_prefix(
        &self,
        prefix: Option<u64>,
    ) -> Result<LogVerdict, StoreError> {
        let mut frontier = Frontier::new();
        let mut prefix_root = (prefix == Some(0)).then(merkle::empty_root);
        let verdict =
            |frontier: &Frontier, broken: Option<String>, prefix_root: Option<Hash>| LogVerdict {
                size: frontier.size(),
                root: hex::encode(frontier.root()),
                broken,
                prefix_root,
            };
        let Some(head) = log_head::Entity::find_by_id(1).one(&self.db).await? else {
            return Ok(verdict(
                &frontier,
                Some("the log's head row is missing".into()),
                prefix_root,
            ));
        };
        if head.backfill_pending {
            return Ok(verdict(
                &frontier,
                Some(
                    "the rows written before the log existed are not in it yet (they are put in \
                     it when the database is next opened for writing)"
                        .into(),
                ),
                prefix_root,
            ));
        }
        let (l, h) = (log_leaf::Entity, history::Entity);
        let mut after: i64 = -1;
        loop {
            let mut q = Query::select();
            q.columns([
                (l, log_leaf::Column::Position),
                (l, log_leaf::Column::ProcedureId),
                (l, log_leaf::Column::Sequence),
                (l, log_leaf::Column::LeafHash),
            ])
            .expr_as(
                Expr::col((h, history::Column::Hash)),
                Alias::new("row_hash"),
            )
            .from(l)
            .left_join(
                h,
                Expr::col((h, history::Column::ProcedureId))
                    .equals((l, log_leaf::Column::ProcedureId))
                    .and(
                        Expr::col((h, history::Column::Sequence))
                            .equals((l, log_leaf::Column::Sequence)),
                    ),
            )
            .and_where(Expr::col((l, log_leaf::Column::Position)).gt(after))
            .order_by((l, log_leaf::Column::Position), sea_orm::Order::Asc)
            .limit(BATCH);
            let rows = self.db.query_all(&q).await?;
            let done = (rows.len() as u64) < BATCH;
            for r in rows {
                let position: i64 = r.try_get("", "position")?;
                let procedure: String = r.try_get("", "procedure_id")?;
                let sequence: i64 = r.try_get("", "sequence")?;
                let stored: String = r.try_get("", "leaf_hash")?;
                let row_hash: Option<String> = r.try_get("", "row_hash")?;
                let expected = frontier.size();
                let at = format!("log position {position} (`{procedure}`, sequence {sequence})");
                if u64::try_from(position).ok() != Some(expected) {
                    let what = format!(
                        "log position {expected} is missing (the next is {position}): a row was \
                         removed from the log"
                    );
                    return Ok(verdict(&frontier, Some(what), prefix_root));
                }
                let Some(row_hash) = row_hash else {
                    let what = format!("{at}: its history row is gone");
                    return Ok(verdict(&frontier, Some(what), prefix_root));
                };
                let leaf = match decode(&row_hash) {
                    Some(rh) => merkle::leaf_hash(&merkle::leaf_data(expected, &rh)),
                    None => {
                        let what = format!("{at}: the history row's hash is not a SHA-256");
                        return Ok(verdict(&frontier, Some(what), prefix_root));
                    }
                };
                if hex::encode(leaf) != stored {
                    let what = format!(
                        "{at}: the leaf does not match the history row's hash: the row or the \
                         leaf was rewritten"
                    );
                    return Ok(verdict(&frontier, Some(what), prefix_root));
                }
                frontier.push(leaf);
                if prefix == Some(frontier.size()) {
                    prefix_root = Some(frontier.root());
                }
                after = position;
            }
            if done {
                break;
            }
        }
        let size = u64::try_from(head.size).unwrap_or(0);
        if frontier.size() != size {
            let what = format!(
                "the log's head counts {size} row(s) but the log holds {}",
                frontier.size()
            );
            return Ok(verdict(&frontier, Some(what), prefix_root));
        }
        let root = hex::encode(frontier.root());
        if head.root != root || head.frontier != frontier_text(&frontier) {
            let what = format!(
                "the log's stored root {} is not the root recomputed from history ({})",
                short(&head.root),
                short(&root)
            );
            return Ok(verdict(&frontier, Some(what), prefix_root));
        }
        // Every history row is in the log: one anti-join, stopping at the first found.
        let missing = self
            .db
            .query_one_raw(Statement::from_string(
                self.backend(),
                "SELECT h.procedure_id, h.sequence FROM history h WHERE NOT EXISTS \
                 (SELECT 1 FROM log_leaves l WHERE l.procedure_id = h.procedure_id \
                 AND l.sequence = h.sequence) ORDER BY h.id LIMIT 1",
            ))
            .await?;
        if let Some(r) = missing {
            let procedure: String = r.try_get("", "procedure_id")?;
            let sequence: i64 = r.try_get("", "sequence")?;
            let what = format!(
                "history row `{procedure}`, sequence {sequence} is not in the log: it was \
                 inserted around it"
            );
            return Ok(verdict(&frontier, Some(what), prefix_root));
        }
        Ok(verdict(&frontier, None, prefix_root))
    }
}

/// The break of a chain that ends at `last` while its procedure is at `version`.
pub(super) fn cut_short(id: &str, version: i64, last: i64) -> ChainBreak {
    ChainBreak {
        procedure_id: id.to_string(),
        sequence: last + 1,
        what: format!(
            "the procedure is at version {version} but its history ends at sequence {last}: its \
             newest row(s) were removed"
        ),
    }
}

/// Add the procedures whose version is ahead of their last history row (what removing the newest
/// rows leaves: the chain that remains is intact) or behind it, to `verdicts`: as the break of the
/// procedure's verdict when it has none, or as a verdict of its own. One query; only the
/// procedures found are read. Returns the breaks added.
pub(super) async fn note_cut_short(
    store: &Store,
    only: Option<&str>,
    verdicts: &mut Vec<ChainVerdict>,
) -> Result<Vec<ChainBreak>, StoreError> {
    let mut added = Vec::new();
    let backend = store.backend();
    let (filter, values) = match only {
        Some(id) => (
            match backend {
                DbBackend::Postgres => "WHERE p.id = $1",
                _ => "WHERE p.id = ?",
            },
            vec![sea_orm::Value::from(id.to_string())],
        ),
        None => ("", vec![]),
    };
    let sql = format!(
        "SELECT id, version, last FROM (SELECT p.id AS id, p.version AS version, \
         (SELECT MAX(h.sequence) FROM history h WHERE h.procedure_id = p.id) AS last \
         FROM procedures p {filter}) t WHERE COALESCE(last, 0) <> version ORDER BY id LIMIT {BATCH}"
    );
    let rows = store
        .db
        .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    for r in rows {
        let id: String = r.try_get("", "id")?;
        let version: i64 = r.try_get("", "version")?;
        let last = r.try_get::<Option<i64>>("", "last")?.unwrap_or(0);
        let broken = if last < version {
            cut_short(&id, version, last)
        } else {
            ChainBreak {
                procedure_id: id.clone(),
                sequence: version + 1,
                what: format!(
                    "the history goes on to sequence {last}, past the procedure's version \
                     {version}: rows were added outside a decision"
                ),
            }
        };
        match verdicts.iter_mut().find(|v| v.procedure == id) {
            Some(v) => {
                if v.broken.is_none() {
                    v.broken = Some(broken.clone());
                    added.push(broken);
                }
            }
            None => {
                added.push(broken.clone());
                verdicts.push(ChainVerdict {
                    procedure: id,
                    rows: u64::try_from(last).unwrap_or(0),
                    broken: Some(broken),
                });
            }
        }
    }
    Ok(added)
}

/// Append `rows` (just inserted into history by this transaction) to the log. Call it last
/// before the commit: it locks the head until then.
pub(super) async fn append(
    txn: &DatabaseTransaction,
    rows: &[NewRow<'_>],
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let head = lock_head(txn).await?;
    let mut frontier = frontier_of(&head)?;
    if head.backfill_pending {
        let mine: Vec<(&str, i64)> = rows.iter().map(|r| (r.procedure_id, r.sequence)).collect();
        backfill(txn, &mut frontier, &mine).await?;
    }
    let mut batch = Batch::default();
    for row in rows {
        batch.add(&mut frontier, row)?;
    }
    batch.write(txn).await?;
    write_head(txn, &frontier).await
}

/// The head row, locked for this transaction on PostgreSQL.
async fn lock_head(txn: &DatabaseTransaction) -> Result<log_head::Model, StoreError> {
    let mut find = log_head::Entity::find_by_id(1);
    if txn.get_database_backend() == DbBackend::Postgres {
        find = find.lock_exclusive();
    }
    find.one(txn)
        .await?
        .ok_or_else(|| StoreError::corrupt("the log's head row (log_head, id 1) is missing"))
}

/// Put every history row not written by this transaction (`mine`) into the log, in id order.
async fn backfill(
    txn: &DatabaseTransaction,
    frontier: &mut Frontier,
    mine: &[(&str, i64)],
) -> Result<(), StoreError> {
    let mut after: i64 = 0;
    loop {
        let rows: Vec<(i64, String, i64, String)> = history::Entity::find()
            .select_only()
            .columns([
                history::Column::Id,
                history::Column::ProcedureId,
                history::Column::Sequence,
                history::Column::Hash,
            ])
            .filter(history::Column::Id.gt(after))
            .order_by_asc(history::Column::Id)
            .limit(BATCH)
            .into_tuple()
            .all(txn)
            .await?;
        let done = (rows.len() as u64) < BATCH;
        let mut batch = Batch::default();
        for (id, procedure_id, sequence, hash) in &rows {
            after = *id;
            if mine.contains(&(procedure_id.as_str(), *sequence)) {
                continue;
            }
            batch.add(
                frontier,
                &NewRow {
                    procedure_id,
                    sequence: *sequence,
                    hash,
                },
            )?;
        }
        batch.write(txn).await?;
        if done {
            return Ok(());
        }
    }
}

/// Leaves and nodes to insert.
#[derive(Default)]
struct Batch {
    leaves: Vec<log_leaf::ActiveModel>,
    nodes: Vec<log_node::ActiveModel>,
}

impl Batch {
    fn add(&mut self, frontier: &mut Frontier, row: &NewRow<'_>) -> Result<(), StoreError> {
        let position = frontier.size();
        let row_hash = decode(row.hash).ok_or_else(|| {
            StoreError::corrupt(format!(
                "history row `{}`, sequence {}: its hash is not a SHA-256",
                row.procedure_id, row.sequence
            ))
        })?;
        let leaf = merkle::leaf_hash(&merkle::leaf_data(position, &row_hash));
        for node in frontier.push(leaf) {
            self.nodes.push(log_node::ActiveModel {
                level: Set(node.level as i32),
                idx: Set(node.index as i64),
                hash: Set(hex::encode(node.hash)),
            });
        }
        self.leaves.push(log_leaf::ActiveModel {
            position: Set(position as i64),
            procedure_id: Set(row.procedure_id.to_string()),
            sequence: Set(row.sequence),
            leaf_hash: Set(hex::encode(leaf)),
        });
        Ok(())
    }

    async fn write(self, txn: &DatabaseTransaction) -> Result<(), StoreError> {
        if !self.leaves.is_empty() {
            log_leaf::Entity::insert_many(self.leaves)
                .exec_without_returning(txn)
                .await?;
        }
        if !self.nodes.is_empty() {
            log_node::Entity::insert_many(self.nodes)
                .exec_without_returning(txn)
                .await?;
        }
        Ok(())
    }
}

async fn write_head(txn: &DatabaseTransaction, frontier: &Frontier) -> Result<(), StoreError> {
    log_head::Entity::update_many()
        .col_expr(log_head::Column::Size, Expr::value(frontier.size() as i64))
        .col_expr(
            log_head::Column::Root,
            Expr::value(hex::encode(frontier.root())),
        )
        .col_expr(
            log_head::Column::Frontier,
            Expr::value(frontier_text(frontier)),
        )
        .col_expr(log_head::Column::BackfillPending, Expr::value(false))
        .filter(log_head::Column::Id.eq(1))
        .exec(txn)
        .await?;
    Ok(())
}

/// The frontier as stored: the subtrees' hex hashes, largest first, concatenated.
fn frontier_text(frontier: &Frontier) -> String {
    frontier.subtrees().iter().map(hex::encode).collect()
}

fn frontier_of(head: &log_head::Model) -> Result<Frontier, StoreError> {
    let bad = |what: String| StoreError::corrupt(format!("the log's head: {what}"));
    let text = head.frontier.as_bytes();
    if !text.len().is_multiple_of(64) {
        return Err(bad("its frontier is not a list of SHA-256 hashes".into()));
    }
    let subtrees = text
        .chunks(64)
        .map(|c| std::str::from_utf8(c).ok().and_then(decode))
        .collect::<Option<Vec<Hash>>>()
        .ok_or_else(|| bad("its frontier is not a list of SHA-256 hashes".into()))?;
    let size = u64::try_from(head.size).map_err(|_| bad(format!("size {}", head.size)))?;
    Frontier::from_parts(size, subtrees).map_err(|e| bad(e.to_string()))
}

fn decode(text: &str) -> Option<Hash> {
    hex::decode(text).ok()?.try_into().ok()
}

fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}
