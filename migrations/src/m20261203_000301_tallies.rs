//! Counts the dashboard and the audit page show, kept current in the writing transaction so a
//! view reads a few rows instead of counting every procedure (issue 12):
//!
//! - `stage_tallies`: how many procedures there are per (convention, definition, stage, status);
//! - `due_tallies`: how many active procedures are due on each day per (convention, definition,
//!   stage), so "overdue today" is a sum over the days before today, whatever today is;
//! - `verification_tallies`: one row, the totals of `chain_verifications` (chains verified, rows
//!   covered, chains broken).
//!
//! Triggers keep them, so no writer can forget them (the engine's decisions, imports, the demo,
//! a benchmark's bulk load) and they change in the same transaction as the rows they count.
//! Rows that existing procedures need are filled in here, once.
//!
//! On PostgreSQL each count is split into 16 shards by procedure id, so concurrent transitions of
//! procedures at the same stage rarely wait on the same row; a trigger touches its rows in one
//! global order (stage tallies before due tallies, each in key order), so two transitions cannot
//! deadlock on them. SQLite has one writer at a time and keeps a single shard.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

const SHARED: [&str; 3] = [
    "CREATE TABLE stage_tallies (
        convention_id TEXT NOT NULL,
        workflow_hash TEXT NOT NULL,
        stage TEXT NOT NULL,
        status TEXT NOT NULL,
        shard SMALLINT NOT NULL,
        n BIGINT NOT NULL,
        PRIMARY KEY (convention_id, workflow_hash, stage, status, shard)
    )",
    "CREATE TABLE due_tallies (
        convention_id TEXT NOT NULL,
        workflow_hash TEXT NOT NULL,
        stage TEXT NOT NULL,
        due_on DATE NOT NULL,
        shard SMALLINT NOT NULL,
        n BIGINT NOT NULL,
        PRIMARY KEY (convention_id, workflow_hash, stage, due_on, shard)
    )",
    "CREATE TABLE verification_tallies (
        id SMALLINT NOT NULL PRIMARY KEY CHECK (id = 1),
        verified BIGINT NOT NULL,
        rows_covered BIGINT NOT NULL,
        broken BIGINT NOT NULL
    )",
];

/// Overdue today: the days before today. The oldest and newest verification, from the index.
/// The first broken chain, from the few that are.
const INDEXES: [&str; 3] = [
    "CREATE INDEX due_tallies_due_on ON due_tallies (due_on)",
    "CREATE INDEX chain_verifications_verified_at ON chain_verifications (verified_at)",
    "CREATE INDEX chain_verifications_broken ON chain_verifications (procedure_id)
     WHERE broken IS NOT NULL",
];

/// What the procedures and verifications already written count for.
const FILL: [&str; 3] = [
    "INSERT INTO stage_tallies (convention_id, workflow_hash, stage, status, shard, n)
     SELECT convention_id, workflow_hash, stage, status, 0, COUNT(*) FROM procedures
     GROUP BY convention_id, workflow_hash, stage, status",
    "INSERT INTO due_tallies (convention_id, workflow_hash, stage, due_on, shard, n)
     SELECT convention_id, workflow_hash, stage, due_on, 0, COUNT(*) FROM procedures
     WHERE status = 'active' AND due_on IS NOT NULL
     GROUP BY convention_id, workflow_hash, stage, due_on",
    "INSERT INTO verification_tallies (id, verified, rows_covered, broken)
     SELECT 1, COUNT(*), COALESCE(SUM(\"rows\"), 0), COUNT(broken) FROM chain_verifications",
];

const SQLITE_TRIGGERS: [&str; 6] = [
    "CREATE TRIGGER procedures_tally_insert AFTER INSERT ON procedures BEGIN
        INSERT INTO stage_tallies (convention_id, workflow_hash, stage, status, shard, n)
        VALUES (NEW.convention_id, NEW.workflow_hash, NEW.stage, NEW.status, 0, 1)
        ON CONFLICT (convention_id, workflow_hash, stage, status, shard) DO UPDATE SET n = n + 1;
        INSERT INTO due_tallies (convention_id, workflow_hash, stage, due_on, shard, n)
        SELECT NEW.convention_id, NEW.workflow_hash, NEW.stage, NEW.due_on, 0, 1
        WHERE NEW.status = 'active' AND NEW.due_on IS NOT NULL
        ON CONFLICT (convention_id, workflow_hash, stage, due_on, shard) DO UPDATE SET n = n + 1;
    END",
    "CREATE TRIGGER procedures_tally_update
     AFTER UPDATE OF convention_id, workflow_hash, stage, status, due_on ON procedures BEGIN
        UPDATE stage_tallies SET n = n - 1
        WHERE convention_id = OLD.convention_id AND workflow_hash = OLD.workflow_hash
          AND stage = OLD.stage AND status = OLD.status AND shard = 0;
        INSERT INTO stage_tallies (convention_id, workflow_hash, stage, status, shard, n)
        VALUES (NEW.convention_id, NEW.workflow_hash, NEW.stage, NEW.status, 0, 1)
        ON CONFLICT (convention_id, workflow_hash, stage, status, shard) DO UPDATE SET n = n + 1;
        UPDATE due_tallies SET n = n - 1
        WHERE OLD.status = 'active' AND convention_id = OLD.convention_id
          AND workflow_hash = OLD.workflow_hash AND stage = OLD.stage AND due_on = OLD.due_on
          AND shard = 0;
        INSERT INTO due_tallies (convention_id, workflow_hash, stage, due_on, shard, n)
        SELECT NEW.convention_id, NEW.workflow_hash, NEW.stage, NEW.due_on, 0, 1
        WHERE NEW.status = 'active' AND NEW.due_on IS NOT NULL
        ON CONFLICT (convention_id, workflow_hash, stage, due_on, shard) DO UPDATE SET n = n + 1;
    END",
    "CREATE TRIGGER procedures_tally_delete AFTER DELETE ON procedures BEGIN
        UPDATE stage_tallies SET n = n - 1
        WHERE convention_id = OLD.convention_id AND workflow_hash = OLD.workflow_hash
          AND stage = OLD.stage AND status = OLD.status AND shard = 0;
        UPDATE due_tallies SET n = n - 1
        WHERE OLD.status = 'active' AND convention_id = OLD.convention_id
          AND workflow_hash = OLD.workflow_hash AND stage = OLD.stage AND due_on = OLD.due_on
          AND shard = 0;
    END",
    "CREATE TRIGGER chain_verifications_tally_insert AFTER INSERT ON chain_verifications BEGIN
        UPDATE verification_tallies SET verified = verified + 1,
            rows_covered = rows_covered + NEW.\"rows\",
            broken = broken + (NEW.broken IS NOT NULL)
        WHERE id = 1;
    END",
    "CREATE TRIGGER chain_verifications_tally_update AFTER UPDATE ON chain_verifications BEGIN
        UPDATE verification_tallies SET
            rows_covered = rows_covered - OLD.\"rows\" + NEW.\"rows\",
            broken = broken - (OLD.broken IS NOT NULL) + (NEW.broken IS NOT NULL)
        WHERE id = 1;
    END",
    "CREATE TRIGGER chain_verifications_tally_delete AFTER DELETE ON chain_verifications BEGIN
        UPDATE verification_tallies SET verified = verified - 1,
            rows_covered = rows_covered - OLD.\"rows\",
            broken = broken - (OLD.broken IS NOT NULL)
        WHERE id = 1;
    END",
];

const SQLITE_DROP: [&str; 6] = [
    "DROP TRIGGER IF EXISTS procedures_tally_insert",
    "DROP TRIGGER IF EXISTS procedures_tally_update",
    "DROP TRIGGER IF EXISTS procedures_tally_delete",
    "DROP TRIGGER IF EXISTS chain_verifications_tally_insert",
    "DROP TRIGGER IF EXISTS chain_verifications_tally_update",
    "DROP TRIGGER IF EXISTS chain_verifications_tally_delete",
];

const PG_FUNCTIONS: [&str; 4] = [
    "CREATE FUNCTION bump_stage_tally(c TEXT, h TEXT, st TEXT, stat TEXT, sh SMALLINT, d BIGINT)
     RETURNS void LANGUAGE sql AS $$
        INSERT INTO stage_tallies AS t (convention_id, workflow_hash, stage, status, shard, n)
        VALUES (c, h, st, stat, sh, d)
        ON CONFLICT (convention_id, workflow_hash, stage, status, shard)
        DO UPDATE SET n = t.n + EXCLUDED.n
     $$",
    "CREATE FUNCTION bump_due_tally(c TEXT, h TEXT, st TEXT, due DATE, sh SMALLINT, d BIGINT)
     RETURNS void LANGUAGE sql AS $$
        INSERT INTO due_tallies AS t (convention_id, workflow_hash, stage, due_on, shard, n)
        VALUES (c, h, st, due, sh, d)
        ON CONFLICT (convention_id, workflow_hash, stage, due_on, shard)
        DO UPDATE SET n = t.n + EXCLUDED.n
     $$",
    // Rows are touched in one global order: stage tallies, then due tallies, each lower key
    // first; an unchanged key is left alone.
    "CREATE FUNCTION procedures_tally() RETURNS trigger LANGUAGE plpgsql AS $$
     DECLARE
        sh SMALLINT;
        old_due BOOLEAN := TG_OP <> 'INSERT' AND OLD.status = 'active' AND OLD.due_on IS NOT NULL;
        new_due BOOLEAN := TG_OP <> 'DELETE' AND NEW.status = 'active' AND NEW.due_on IS NOT NULL;
     BEGIN
        IF TG_OP = 'DELETE' THEN sh := hashtext(OLD.id) & 15; ELSE sh := hashtext(NEW.id) & 15; END IF;
        IF TG_OP = 'INSERT' THEN
            PERFORM bump_stage_tally(NEW.convention_id, NEW.workflow_hash, NEW.stage, NEW.status, sh, 1);
        ELSIF TG_OP = 'DELETE' THEN
            PERFORM bump_stage_tally(OLD.convention_id, OLD.workflow_hash, OLD.stage, OLD.status, sh, -1);
        ELSIF (OLD.convention_id, OLD.workflow_hash, OLD.stage, OLD.status)
                < (NEW.convention_id, NEW.workflow_hash, NEW.stage, NEW.status) THEN
            PERFORM bump_stage_tally(OLD.convention_id, OLD.workflow_hash, OLD.stage, OLD.status, sh, -1);
            PERFORM bump_stage_tally(NEW.convention_id, NEW.workflow_hash, NEW.stage, NEW.status, sh, 1);
        ELSIF (OLD.convention_id, OLD.workflow_hash, OLD.stage, OLD.status)
                > (NEW.convention_id, NEW.workflow_hash, NEW.stage, NEW.status) THEN
            PERFORM bump_stage_tally(NEW.convention_id, NEW.workflow_hash, NEW.stage, NEW.status, sh, 1);
            PERFORM bump_stage_tally(OLD.convention_id, OLD.workflow_hash, OLD.stage, OLD.status, sh, -1);
        END IF;
        IF old_due AND new_due
                AND (OLD.convention_id, OLD.workflow_hash, OLD.stage, OLD.due_on)
                  = (NEW.convention_id, NEW.workflow_hash, NEW.stage, NEW.due_on) THEN
            NULL;
        ELSIF old_due AND new_due
                AND (OLD.convention_id, OLD.workflow_hash, OLD.stage, OLD.due_on)
                  > (NEW.convention_id, NEW.workflow_hash, NEW.stage, NEW.due_on) THEN
            PERFORM bump_due_tally(NEW.convention_id, NEW.workflow_hash, NEW.stage, NEW.due_on, sh, 1);
            PERFORM bump_due_tally(OLD.convention_id, OLD.workflow_hash, OLD.stage, OLD.due_on, sh, -1);
        ELSE
            IF old_due THEN
                PERFORM bump_due_tally(OLD.convention_id, OLD.workflow_hash, OLD.stage, OLD.due_on, sh, -1);
            END IF;
            IF new_due THEN
                PERFORM bump_due_tally(NEW.convention_id, NEW.workflow_hash, NEW.stage, NEW.due_on, sh, 1);
            END IF;
        END IF;
        RETURN NULL;
     END
     $$",
    "CREATE FUNCTION chain_verifications_tally() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN
        IF TG_OP = 'INSERT' THEN
            UPDATE verification_tallies SET verified = verified + 1,
                rows_covered = rows_covered + NEW.\"rows\",
                broken = broken + (NEW.broken IS NOT NULL)::int
            WHERE id = 1;
        ELSIF TG_OP = 'UPDATE' THEN
            UPDATE verification_tallies SET
                rows_covered = rows_covered - OLD.\"rows\" + NEW.\"rows\",
                broken = broken - (OLD.broken IS NOT NULL)::int + (NEW.broken IS NOT NULL)::int
            WHERE id = 1;
        ELSE
            UPDATE verification_tallies SET verified = verified - 1,
                rows_covered = rows_covered - OLD.\"rows\",
                broken = broken - (OLD.broken IS NOT NULL)::int
            WHERE id = 1;
        END IF;
        RETURN NULL;
     END
     $$",
];

const PG_TRIGGERS: [&str; 2] = [
    "CREATE TRIGGER procedures_tally
     AFTER INSERT OR DELETE OR UPDATE OF convention_id, workflow_hash, stage, status, due_on
     ON procedures FOR EACH ROW EXECUTE FUNCTION procedures_tally()",
    "CREATE TRIGGER chain_verifications_tally
     AFTER INSERT OR UPDATE OR DELETE ON chain_verifications
     FOR EACH ROW EXECUTE FUNCTION chain_verifications_tally()",
];

const PG_DROP: [&str; 6] = [
    "DROP TRIGGER IF EXISTS procedures_tally ON procedures",
    "DROP TRIGGER IF EXISTS chain_verifications_tally ON chain_verifications",
    "DROP FUNCTION IF EXISTS procedures_tally()",
    "DROP FUNCTION IF EXISTS chain_verifications_tally()",
    "DROP FUNCTION IF EXISTS bump_stage_tally(TEXT, TEXT, TEXT, TEXT, SMALLINT, BIGINT)",
    "DROP FUNCTION IF EXISTS bump_due_tally(TEXT, TEXT, TEXT, DATE, SMALLINT, BIGINT)",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let backend = manager.get_database_backend();
        for sql in SHARED.into_iter().chain(INDEXES).chain(FILL) {
            // Dates are ISO text on SQLite, as in `procedures`.
            let sql = match backend {
                DbBackend::Sqlite => sql.replace("due_on DATE", "due_on TEXT"),
                _ => sql.to_string(),
            };
            db.execute_unprepared(&sql).await?;
        }
        match backend {
            DbBackend::Postgres => {
                for sql in PG_FUNCTIONS.into_iter().chain(PG_TRIGGERS) {
                    db.execute_unprepared(sql).await?;
                }
            }
            _ => {
                for sql in SQLITE_TRIGGERS {
                    db.execute_unprepared(sql).await?;
                }
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let drops: &[&str] = match manager.get_database_backend() {
            DbBackend::Postgres => &PG_DROP,
            _ => &SQLITE_DROP,
        };
        for sql in drops {
            db.execute_unprepared(sql).await?;
        }
        for index in [
            "chain_verifications_verified_at",
            "chain_verifications_broken",
        ] {
            db.execute_unprepared(&format!("DROP INDEX IF EXISTS {index}"))
                .await?;
        }
        for table in ["verification_tallies", "due_tallies", "stage_tallies"] {
            db.execute_unprepared(&format!("DROP TABLE IF EXISTS {table}"))
                .await?;
        }
        Ok(())
    }
}
