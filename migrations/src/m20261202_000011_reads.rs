//! What the reads need to be paged by the database (issue 12):
//!
//! - `procedure_responsibles`: the institutions responsible for each procedure's current stage,
//!   written in the decision's transaction, so "responsible institution" is a join on an index
//!   and not a parse of every workflow definition. Rows of procedures that existed before this
//!   migration are filled in by the application once (`Accession::open`), because the stage's
//!   institutions are in the stored definition's TOML, which SQL cannot read; `backfills` records
//!   that it was done.
//! - `chain_verifications`: how far each procedure's hash chain was last verified (sequence and
//!   hash), when, and where it broke, so the audit page reads a stored result instead of
//!   rehashing every chain on every view.
//! - indexes for the keyset orders and the dashboard's counts.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ProcedureResponsibles {
    Table,
    ProcedureId,
    InstitutionId,
}

#[derive(DeriveIden)]
enum ChainVerifications {
    Table,
    ProcedureId,
    Sequence,
    Hash,
    Rows,
    Broken,
    VerifiedAt,
}

#[derive(DeriveIden)]
enum Backfills {
    Table,
    Name,
    DoneAt,
}

#[derive(DeriveIden)]
enum Procedures {
    Table,
    Id,
    ConventionId,
    WorkflowHash,
    Stage,
    Status,
    DueOn,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Outbox {
    Table,
    Id,
    Status,
}

#[derive(DeriveIden)]
enum History {
    Table,
    ActorInstitution,
    ProcedureId,
    Sequence,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ProcedureResponsibles::Table)
                    .col(text(ProcedureResponsibles::ProcedureId))
                    .col(text(ProcedureResponsibles::InstitutionId))
                    .primary_key(
                        Index::create()
                            .col(ProcedureResponsibles::ProcedureId)
                            .col(ProcedureResponsibles::InstitutionId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("procedure_responsibles_procedure_id_fkey")
                            .from(
                                ProcedureResponsibles::Table,
                                ProcedureResponsibles::ProcedureId,
                            )
                            .to(Procedures::Table, Procedures::Id),
                    )
                    .take(),
            )
            .await?;
        // The keyset order of "procedures this institution is responsible for".
        manager
            .create_index(
                Index::create()
                    .name("procedure_responsibles_institution_id_procedure_id")
                    .table(ProcedureResponsibles::Table)
                    .col(ProcedureResponsibles::InstitutionId)
                    .col(ProcedureResponsibles::ProcedureId)
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ChainVerifications::Table)
                    .col(text(ChainVerifications::ProcedureId).primary_key())
                    .col(big_integer(ChainVerifications::Sequence))
                    .col(text(ChainVerifications::Hash))
                    .col(big_integer(ChainVerifications::Rows))
                    .col(text_null(ChainVerifications::Broken))
                    .col(timestamp_with_time_zone(ChainVerifications::VerifiedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("chain_verifications_procedure_id_fkey")
                            .from(ChainVerifications::Table, ChainVerifications::ProcedureId)
                            .to(Procedures::Table, Procedures::Id),
                    )
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Backfills::Table)
                    .col(text(Backfills::Name).primary_key())
                    .col(timestamp_with_time_zone(Backfills::DoneAt))
                    .take(),
            )
            .await?;
        // Keyset orders under a filter, and the dashboard's counts by stage and of overdue ones.
        for (name, cols) in [
            (
                "procedures_convention_id_id",
                vec![Procedures::ConventionId, Procedures::Id],
            ),
            (
                "procedures_workflow_hash_stage",
                vec![Procedures::WorkflowHash, Procedures::Stage],
            ),
            (
                "procedures_status_due_on",
                vec![Procedures::Status, Procedures::DueOn],
            ),
            // Which chains were written since the last verification.
            (
                "procedures_updated_at_id",
                vec![Procedures::UpdatedAt, Procedures::Id],
            ),
        ] {
            let mut index = Index::create();
            index.name(name).table(Procedures::Table);
            for c in cols {
                index.col(c);
            }
            manager.create_index(index.take()).await?;
        }
        // The outbox listed by status, newest first.
        manager
            .create_index(
                Index::create()
                    .name("outbox_status_id")
                    .table(Outbox::Table)
                    .col(Outbox::Status)
                    .col(Outbox::Id)
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("history_actor_institution_procedure_id_sequence")
                    .table(History::Table)
                    .col(History::ActorInstitution)
                    .col(History::ProcedureId)
                    .col(History::Sequence)
                    .take(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("outbox_status_id")
                    .table(Outbox::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("history_actor_institution_procedure_id_sequence")
                    .table(History::Table)
                    .to_owned(),
            )
            .await?;
        for name in [
            "procedures_updated_at_id",
            "procedures_status_due_on",
            "procedures_workflow_hash_stage",
            "procedures_convention_id_id",
        ] {
            manager
                .drop_index(Index::drop().name(name).table(Procedures::Table).to_owned())
                .await?;
        }
        for table in [
            Backfills::Table.into_iden(),
            ChainVerifications::Table.into_iden(),
            ProcedureResponsibles::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).take())
                .await?;
        }
        Ok(())
    }
}
