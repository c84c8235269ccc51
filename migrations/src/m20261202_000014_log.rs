//! One append-only log over all history (issue 13): every history row gets a global position,
//! and a Merkle tree (RFC 9162) over the log's leaves is kept incrementally.
//!
//! - `log_leaves`: position (0-based, contiguous) → the history row (procedure, sequence) and its
//!   leaf hash.
//! - `log_nodes`: the interior nodes of the perfect subtrees (level ≥ 1, index), so that proofs
//!   read O(log n) rows.
//! - `log_head`: one row (id 1) with the log's size, root and frontier (the perfect subtrees'
//!   roots, largest first, as concatenated hex). Every writer locks it in the transaction that
//!   appends history, which gives positions in commit order without gaps.
//!
//! The tree over rows written before this migration is built by the application on first open
//! (`backfill_pending` says it is still to do): the hashing lives with the application.
//!
//! The database refuses UPDATE and DELETE on the leaves and nodes, lets the head only grow, and on
//! PostgreSQL refuses TRUNCATE on history and on the three log tables.

use sea_orm_migration::{prelude::*, schema::*, sea_orm::DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum LogLeaves {
    Table,
    Position,
    ProcedureId,
    Sequence,
    LeafHash,
}

#[derive(DeriveIden)]
enum LogNodes {
    Table,
    Level,
    Idx,
    Hash,
}

#[derive(DeriveIden)]
enum LogHead {
    Table,
    Id,
    Size,
    Root,
    Frontier,
    BackfillPending,
}

/// PostgreSQL: one function for every refusal (it names the table and the operation, and works
/// for row and statement triggers alike), and one letting the head only grow.
const PG_FUNCTIONS: [&str; 2] = [
    r#"
CREATE FUNCTION refuse_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP;
END;
$$
"#,
    r#"
CREATE FUNCTION log_head_only_grows() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.size < OLD.size OR NEW.id <> OLD.id THEN
        RAISE EXCEPTION 'log_head only grows: size % refused after %', NEW.size, OLD.size;
    END IF;
    RETURN NEW;
END;
$$
"#,
];

const PG_TRIGGERS: [&str; 7] = [
    "CREATE TRIGGER history_no_truncate BEFORE TRUNCATE ON history \
     FOR EACH STATEMENT EXECUTE FUNCTION refuse_append_only()",
    "CREATE TRIGGER log_leaves_append_only BEFORE UPDATE OR DELETE ON log_leaves \
     FOR EACH ROW EXECUTE FUNCTION refuse_append_only()",
    "CREATE TRIGGER log_leaves_no_truncate BEFORE TRUNCATE ON log_leaves \
     FOR EACH STATEMENT EXECUTE FUNCTION refuse_append_only()",
    "CREATE TRIGGER log_nodes_append_only BEFORE UPDATE OR DELETE ON log_nodes \
     FOR EACH ROW EXECUTE FUNCTION refuse_append_only()",
    "CREATE TRIGGER log_nodes_no_truncate BEFORE TRUNCATE ON log_nodes \
     FOR EACH STATEMENT EXECUTE FUNCTION refuse_append_only()",
    "CREATE TRIGGER log_head_no_delete BEFORE DELETE OR TRUNCATE ON log_head \
     FOR EACH STATEMENT EXECUTE FUNCTION refuse_append_only()",
    "CREATE TRIGGER log_head_grows BEFORE UPDATE ON log_head \
     FOR EACH ROW EXECUTE FUNCTION log_head_only_grows()",
];

const PG_DROP: [&str; 9] = [
    "DROP TRIGGER IF EXISTS history_no_truncate ON history",
    "DROP TRIGGER IF EXISTS log_leaves_append_only ON log_leaves",
    "DROP TRIGGER IF EXISTS log_leaves_no_truncate ON log_leaves",
    "DROP TRIGGER IF EXISTS log_nodes_append_only ON log_nodes",
    "DROP TRIGGER IF EXISTS log_nodes_no_truncate ON log_nodes",
    "DROP TRIGGER IF EXISTS log_head_no_delete ON log_head",
    "DROP TRIGGER IF EXISTS log_head_grows ON log_head",
    "DROP FUNCTION IF EXISTS refuse_append_only()",
    "DROP FUNCTION IF EXISTS log_head_only_grows()",
];

/// SQLite has no TRUNCATE: a DELETE without WHERE runs the DELETE triggers (their presence turns
/// off the truncate optimisation).
const SQLITE_TRIGGERS: [&str; 6] = [
    "CREATE TRIGGER log_leaves_no_update BEFORE UPDATE ON log_leaves \
     BEGIN SELECT RAISE(ABORT, 'log_leaves is append-only'); END",
    "CREATE TRIGGER log_leaves_no_delete BEFORE DELETE ON log_leaves \
     BEGIN SELECT RAISE(ABORT, 'log_leaves is append-only'); END",
    "CREATE TRIGGER log_nodes_no_update BEFORE UPDATE ON log_nodes \
     BEGIN SELECT RAISE(ABORT, 'log_nodes is append-only'); END",
    "CREATE TRIGGER log_nodes_no_delete BEFORE DELETE ON log_nodes \
     BEGIN SELECT RAISE(ABORT, 'log_nodes is append-only'); END",
    "CREATE TRIGGER log_head_no_delete BEFORE DELETE ON log_head \
     BEGIN SELECT RAISE(ABORT, 'log_head is append-only'); END",
    "CREATE TRIGGER log_head_grows BEFORE UPDATE ON log_head \
     WHEN NEW.size < OLD.size OR NEW.id <> OLD.id \
     BEGIN SELECT RAISE(ABORT, 'log_head only grows'); END",
];

const SQLITE_DROP: [&str; 6] = [
    "DROP TRIGGER IF EXISTS log_leaves_no_update",
    "DROP TRIGGER IF EXISTS log_leaves_no_delete",
    "DROP TRIGGER IF EXISTS log_nodes_no_update",
    "DROP TRIGGER IF EXISTS log_nodes_no_delete",
    "DROP TRIGGER IF EXISTS log_head_no_delete",
    "DROP TRIGGER IF EXISTS log_head_grows",
];

/// SHA-256 of the empty string: the root of the empty tree.
const EMPTY_ROOT: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(LogLeaves::Table)
                    .col(big_integer(LogLeaves::Position).primary_key())
                    .col(text(LogLeaves::ProcedureId))
                    .col(big_integer(LogLeaves::Sequence))
                    .col(text(LogLeaves::LeafHash))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("log_leaves_procedure_id_sequence")
                    .table(LogLeaves::Table)
                    .col(LogLeaves::ProcedureId)
                    .col(LogLeaves::Sequence)
                    .unique()
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(LogNodes::Table)
                    .col(integer(LogNodes::Level))
                    .col(big_integer(LogNodes::Idx))
                    .col(text(LogNodes::Hash))
                    .primary_key(Index::create().col(LogNodes::Level).col(LogNodes::Idx))
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(LogHead::Table)
                    .col(integer(LogHead::Id).primary_key())
                    .col(big_integer(LogHead::Size))
                    .col(text(LogHead::Root))
                    .col(text(LogHead::Frontier))
                    .col(boolean(LogHead::BackfillPending))
                    .check(Expr::col(LogHead::Id).eq(1))
                    .take(),
            )
            .await?;
        let db = manager.get_connection();
        // The log is empty; rows already in history are put in it on first open.
        db.execute_unprepared(&format!(
            "INSERT INTO log_head (id, size, root, frontier, backfill_pending) \
             SELECT 1, 0, '{EMPTY_ROOT}', '', EXISTS (SELECT 1 FROM history)"
        ))
        .await?;
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                for sql in PG_FUNCTIONS.iter().chain(PG_TRIGGERS.iter()) {
                    db.execute_unprepared(sql).await?;
                }
            }
            DbBackend::Sqlite => {
                for sql in SQLITE_TRIGGERS {
                    db.execute_unprepared(sql).await?;
                }
            }
            other => {
                return Err(DbErr::Migration(format!(
                    "unsupported database backend {other:?}: expected PostgreSQL or SQLite"
                )));
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let drops: &[&str] = match manager.get_database_backend() {
            DbBackend::Postgres => &PG_DROP[..7],
            _ => &SQLITE_DROP,
        };
        for sql in drops {
            db.execute_unprepared(sql).await?;
        }
        for table in [
            LogHead::Table.into_iden(),
            LogNodes::Table.into_iden(),
            LogLeaves::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).take())
                .await?;
        }
        if manager.get_database_backend() == DbBackend::Postgres {
            for sql in &PG_DROP[7..] {
                db.execute_unprepared(sql).await?;
            }
        }
        Ok(())
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
