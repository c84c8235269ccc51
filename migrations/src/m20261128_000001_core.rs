//! Core schema: institutions, conventions, workflow definitions, procedures,
//! the append-only history, approvals, timers and the notification outbox.

use sea_orm_migration::{prelude::*, schema::*, sea_orm::DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Institutions {
    Table,
    Id,
    NameEn,
    NameRu,
    NameKy,
    Emails,
    Language,
    TimeZone,
    Coordinator,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Conventions {
    Table,
    Id,
    Number,
    TitleEn,
    TitleFr,
    TitleRu,
    ShortTitle,
    OpenedOn,
    OpenedAt,
    GeneralEntryIntoForce,
    AccessionArticle,
    EntryIntoForceRule,
    InvitationValidityYears,
    ReservationValidityYears,
    MonitoringBody,
    PartiesBeforeInvitation,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum WorkflowDefinitions {
    Table,
    Hash,
    WorkflowId,
    Version,
    Title,
    Source,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Procedures {
    Table,
    Id,
    StateCode,
    ConventionId,
    WorkflowId,
    WorkflowVersion,
    WorkflowHash,
    Stage,
    StageEnteredAt,
    StageEntry,
    Status,
    Version,
    Fields,
    DueOn,
    RequestedOn,
    InvitedOn,
    InvitationExpiresOn,
    DepositedOn,
    EntryIntoForceComputed,
    EntryIntoForceRecorded,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum History {
    Table,
    Id,
    ProcedureId,
    Sequence,
    At,
    ActorInstitution,
    ActorName,
    ActorRole,
    Command,
    FromStage,
    ToStage,
    Comment,
    Payload,
    PrevHash,
    Hash,
}

#[derive(DeriveIden)]
enum Approvals {
    Table,
    Id,
    ProcedureId,
    Stage,
    StageEntry,
    Institution,
    At,
    HistorySequence,
    Comment,
}

#[derive(DeriveIden)]
enum Timers {
    Table,
    Id,
    ProcedureId,
    Stage,
    StageEntry,
    Kind,
    Rule,
    Occurrence,
    FireAt,
    Status,
    Recipients,
    DedupeKey,
    ClaimedBy,
    LeaseUntil,
    CreatedAt,
    FiredAt,
}

#[derive(DeriveIden)]
enum Outbox {
    Table,
    Id,
    DedupeKey,
    MessageId,
    ProcedureId,
    Kind,
    RecipientInstitution,
    RecipientAddress,
    Language,
    Payload,
    Status,
    Attempts,
    NextAttemptAt,
    LastError,
    CreatedAt,
    SentAt,
}

/// PostgreSQL: one plpgsql function and one row trigger refusing UPDATE and DELETE.
const PG_HISTORY_FUNCTION: &str = r#"
CREATE FUNCTION history_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'history is append-only: % refused on row %', TG_OP, OLD.id;
END;
$$
"#;

const PG_HISTORY_TRIGGER: &str = "CREATE TRIGGER history_append_only \
     BEFORE UPDATE OR DELETE ON history \
     FOR EACH ROW EXECUTE FUNCTION history_append_only()";

const PG_DROP_HISTORY_TRIGGER: &str = "DROP TRIGGER IF EXISTS history_append_only ON history";

const PG_DROP_HISTORY_FUNCTION: &str = "DROP FUNCTION IF EXISTS history_append_only()";

/// SQLite: one trigger per refused operation.
const SQLITE_HISTORY_NO_UPDATE: &str = "CREATE TRIGGER history_no_update \
     BEFORE UPDATE ON history \
     BEGIN SELECT RAISE(ABORT, 'history is append-only'); END";

const SQLITE_HISTORY_NO_DELETE: &str = "CREATE TRIGGER history_no_delete \
     BEFORE DELETE ON history \
     BEGIN SELECT RAISE(ABORT, 'history is append-only'); END";

const SQLITE_DROP_HISTORY_TRIGGERS: [&str; 2] = [
    "DROP TRIGGER IF EXISTS history_no_update",
    "DROP TRIGGER IF EXISTS history_no_delete",
];

/// Foreign key from `column` of `table` to `procedures.id`.
fn procedure_fk<T, C>(name: &str, table: T, column: C) -> ForeignKeyCreateStatement
where
    T: IntoIden + 'static,
    C: IntoIden + 'static,
{
    ForeignKey::create()
        .name(name)
        .from(table, column)
        .to(Procedures::Table, Procedures::Id)
        .take()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Institutions::Table)
                    .col(text(Institutions::Id).primary_key())
                    .col(text(Institutions::NameEn))
                    .col(text_null(Institutions::NameRu))
                    .col(text_null(Institutions::NameKy))
                    .col(text(Institutions::Emails))
                    .col(text(Institutions::Language))
                    .col(text(Institutions::TimeZone))
                    .col(boolean(Institutions::Coordinator).default(false))
                    .col(timestamp_with_time_zone(Institutions::CreatedAt))
                    .col(timestamp_with_time_zone(Institutions::UpdatedAt))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Conventions::Table)
                    .col(text(Conventions::Id).primary_key())
                    .col(text(Conventions::Number))
                    .col(text(Conventions::TitleEn))
                    .col(text_null(Conventions::TitleFr))
                    .col(text_null(Conventions::TitleRu))
                    .col(text_null(Conventions::ShortTitle))
                    .col(date_null(Conventions::OpenedOn))
                    .col(text_null(Conventions::OpenedAt))
                    .col(date_null(Conventions::GeneralEntryIntoForce))
                    .col(text_null(Conventions::AccessionArticle))
                    .col(text(Conventions::EntryIntoForceRule))
                    .col(integer_null(Conventions::InvitationValidityYears))
                    .col(integer_null(Conventions::ReservationValidityYears))
                    .col(text_null(Conventions::MonitoringBody))
                    .col(text_null(Conventions::PartiesBeforeInvitation))
                    .col(timestamp_with_time_zone(Conventions::CreatedAt))
                    .col(timestamp_with_time_zone(Conventions::UpdatedAt))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(WorkflowDefinitions::Table)
                    .col(text(WorkflowDefinitions::Hash).primary_key())
                    .col(text(WorkflowDefinitions::WorkflowId))
                    .col(integer(WorkflowDefinitions::Version))
                    .col(text(WorkflowDefinitions::Title))
                    .col(text(WorkflowDefinitions::Source))
                    .col(timestamp_with_time_zone(WorkflowDefinitions::CreatedAt))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("workflow_definitions_workflow_id_version")
                    .table(WorkflowDefinitions::Table)
                    .col(WorkflowDefinitions::WorkflowId)
                    .col(WorkflowDefinitions::Version)
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Procedures::Table)
                    .col(text(Procedures::Id).primary_key())
                    .col(text(Procedures::StateCode))
                    .col(text(Procedures::ConventionId))
                    .col(text(Procedures::WorkflowId))
                    .col(integer(Procedures::WorkflowVersion))
                    .col(text(Procedures::WorkflowHash))
                    .col(text(Procedures::Stage))
                    .col(timestamp_with_time_zone(Procedures::StageEnteredAt))
                    .col(big_integer(Procedures::StageEntry))
                    .col(text(Procedures::Status))
                    .col(big_integer(Procedures::Version))
                    .col(text(Procedures::Fields))
                    .col(date_null(Procedures::DueOn))
                    .col(date_null(Procedures::RequestedOn))
                    .col(date_null(Procedures::InvitedOn))
                    .col(date_null(Procedures::InvitationExpiresOn))
                    .col(date_null(Procedures::DepositedOn))
                    .col(date_null(Procedures::EntryIntoForceComputed))
                    .col(date_null(Procedures::EntryIntoForceRecorded))
                    .col(timestamp_with_time_zone(Procedures::CreatedAt))
                    .col(timestamp_with_time_zone(Procedures::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("procedures_convention_id_fkey")
                            .from(Procedures::Table, Procedures::ConventionId)
                            .to(Conventions::Table, Conventions::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("procedures_workflow_hash_fkey")
                            .from(Procedures::Table, Procedures::WorkflowHash)
                            .to(WorkflowDefinitions::Table, WorkflowDefinitions::Hash),
                    )
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("procedures_convention_id")
                    .table(Procedures::Table)
                    .col(Procedures::ConventionId)
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("procedures_status_stage")
                    .table(Procedures::Table)
                    .col(Procedures::Status)
                    .col(Procedures::Stage)
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(History::Table)
                    .col(big_pk_auto(History::Id))
                    .col(text(History::ProcedureId))
                    .col(big_integer(History::Sequence))
                    .col(timestamp_with_time_zone(History::At))
                    .col(text(History::ActorInstitution))
                    .col(text(History::ActorName))
                    .col(text(History::ActorRole))
                    .col(text(History::Command))
                    .col(text_null(History::FromStage))
                    .col(text_null(History::ToStage))
                    .col(text_null(History::Comment))
                    .col(text(History::Payload))
                    .col(text(History::PrevHash))
                    .col(text(History::Hash))
                    .foreign_key(&mut procedure_fk(
                        "history_procedure_id_fkey",
                        History::Table,
                        History::ProcedureId,
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("history_procedure_id_sequence")
                    .table(History::Table)
                    .col(History::ProcedureId)
                    .col(History::Sequence)
                    .unique()
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Approvals::Table)
                    .col(big_pk_auto(Approvals::Id))
                    .col(text(Approvals::ProcedureId))
                    .col(text(Approvals::Stage))
                    .col(big_integer(Approvals::StageEntry))
                    .col(text(Approvals::Institution))
                    .col(timestamp_with_time_zone(Approvals::At))
                    .col(big_integer(Approvals::HistorySequence))
                    .col(text_null(Approvals::Comment))
                    .foreign_key(&mut procedure_fk(
                        "approvals_procedure_id_fkey",
                        Approvals::Table,
                        Approvals::ProcedureId,
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("approvals_procedure_id_stage_entry_institution")
                    .table(Approvals::Table)
                    .col(Approvals::ProcedureId)
                    .col(Approvals::StageEntry)
                    .col(Approvals::Institution)
                    .unique()
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Timers::Table)
                    .col(big_pk_auto(Timers::Id))
                    .col(text(Timers::ProcedureId))
                    .col(text(Timers::Stage))
                    .col(big_integer(Timers::StageEntry))
                    .col(text(Timers::Kind))
                    .col(text(Timers::Rule))
                    .col(big_integer(Timers::Occurrence).default(0))
                    .col(timestamp_with_time_zone(Timers::FireAt))
                    .col(text(Timers::Status))
                    .col(text(Timers::Recipients))
                    .col(text_uniq(Timers::DedupeKey))
                    .col(text_null(Timers::ClaimedBy))
                    .col(timestamp_with_time_zone_null(Timers::LeaseUntil))
                    .col(timestamp_with_time_zone(Timers::CreatedAt))
                    .col(timestamp_with_time_zone_null(Timers::FiredAt))
                    .foreign_key(&mut procedure_fk(
                        "timers_procedure_id_fkey",
                        Timers::Table,
                        Timers::ProcedureId,
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("timers_pending_fire_at")
                    .table(Timers::Table)
                    .col(Timers::FireAt)
                    .and_where(Expr::col(Timers::Status).eq("pending"))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("timers_procedure_id_status")
                    .table(Timers::Table)
                    .col(Timers::ProcedureId)
                    .col(Timers::Status)
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Outbox::Table)
                    .col(big_pk_auto(Outbox::Id))
                    .col(text_uniq(Outbox::DedupeKey))
                    .col(text_uniq(Outbox::MessageId))
                    .col(text_null(Outbox::ProcedureId))
                    .col(text(Outbox::Kind))
                    .col(text(Outbox::RecipientInstitution))
                    .col(text_null(Outbox::RecipientAddress))
                    .col(text_null(Outbox::Language))
                    .col(text(Outbox::Payload))
                    .col(text(Outbox::Status))
                    .col(integer(Outbox::Attempts).default(0))
                    .col(timestamp_with_time_zone(Outbox::NextAttemptAt))
                    .col(text_null(Outbox::LastError))
                    .col(timestamp_with_time_zone(Outbox::CreatedAt))
                    .col(timestamp_with_time_zone_null(Outbox::SentAt))
                    .foreign_key(&mut procedure_fk(
                        "outbox_procedure_id_fkey",
                        Outbox::Table,
                        Outbox::ProcedureId,
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("outbox_pending")
                    .table(Outbox::Table)
                    .col(Outbox::NextAttemptAt)
                    .and_where(Expr::col(Outbox::Status).eq("pending"))
                    .take(),
            )
            .await?;

        let db = manager.get_connection();
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                db.execute_unprepared(PG_HISTORY_FUNCTION).await?;
                db.execute_unprepared(PG_HISTORY_TRIGGER).await?;
            }
            DbBackend::Sqlite => {
                db.execute_unprepared(SQLITE_HISTORY_NO_UPDATE).await?;
                db.execute_unprepared(SQLITE_HISTORY_NO_DELETE).await?;
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
        let backend = manager.get_database_backend();

        match backend {
            DbBackend::Postgres => {
                db.execute_unprepared(PG_DROP_HISTORY_TRIGGER).await?;
            }
            DbBackend::Sqlite => {
                for sql in SQLITE_DROP_HISTORY_TRIGGERS {
                    db.execute_unprepared(sql).await?;
                }
            }
            _ => {}
        }

        // Children before parents; indexes go with their tables.
        let tables: [DynIden; 8] = [
            Outbox::Table.into_iden(),
            Timers::Table.into_iden(),
            Approvals::Table.into_iden(),
            History::Table.into_iden(),
            Procedures::Table.into_iden(),
            WorkflowDefinitions::Table.into_iden(),
            Conventions::Table.into_iden(),
            Institutions::Table.into_iden(),
        ];
        for table in tables {
            manager
                .drop_table(Table::drop().table(table).take())
                .await?;
        }

        if backend == DbBackend::Postgres {
            db.execute_unprepared(PG_DROP_HISTORY_FUNCTION).await?;
        }

        Ok(())
    }

    /// Run inside a transaction on every backend: SQLite supports
    /// transactional DDL too, so a failed `up` leaves nothing half-built.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
