//! Workflow definitions kept by content hash, so a procedure keeps the definition it started on
//! even when the file changes.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::entities::workflow_definition;
use super::error::is_unique_violation;
use super::{Store, StoreError};
use crate::ids::WorkflowId;
use crate::workflow::WorkflowDefinition;

impl Store {
    /// Keep `def`'s source under its hash; true when it was new.
    pub async fn save_definition(
        &self,
        def: &WorkflowDefinition,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        if workflow_definition::Entity::find_by_id(def.content_hash.clone())
            .one(&self.db)
            .await?
            .is_some()
        {
            return Ok(false);
        }
        let row = workflow_definition::ActiveModel {
            hash: Set(def.content_hash.clone()),
            workflow_id: Set(def.id.to_string()),
            version: Set(def.version as i32),
            title: Set(def.title.clone()),
            source: Set(def.source.clone()),
            created_at: Set(now),
        };
        match workflow_definition::Entity::insert(row)
            .exec(&self.db)
            .await
        {
            Ok(_) => Ok(true),
            // Another instance stored the same definition at the same moment.
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// The hashes stored for workflow `id` at `version`: one, unless a file was changed without
    /// raising its version before that was refused (at most a few).
    pub async fn definition_hashes(
        &self,
        id: &WorkflowId,
        version: u32,
    ) -> Result<Vec<String>, StoreError> {
        Ok(workflow_definition::Entity::find()
            .select_only()
            .column(workflow_definition::Column::Hash)
            .filter(workflow_definition::Column::WorkflowId.eq(id.as_str()))
            .filter(workflow_definition::Column::Version.eq(version as i32))
            .order_by_asc(workflow_definition::Column::Hash)
            .limit(16)
            .into_tuple::<String>()
            .all(&self.db)
            .await?)
    }

    /// The stored source of the definition with `hash`.
    pub async fn definition_source(&self, hash: &str) -> Result<Option<String>, StoreError> {
        Ok(workflow_definition::Entity::find_by_id(hash.to_string())
            .one(&self.db)
            .await?
            .map(|m| m.source))
    }
}
