//! API tokens and idempotency keys. A token row holds the SHA-256 of the secret, never the secret;
//! what leaves this module (`TokenRow`) holds neither. An idempotency row keeps the first response
//! to a POST so a retry with the same key gets it back.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::NotSet, ActiveValue::Set, ColumnTrait, Condition, DbErr,
    EntityTrait, QueryFilter, QueryOrder, SqlErr,
};
use serde::Serialize;

use super::entities::{api_token, idempotency_key};
use super::error::is_unique_violation;
use super::{Store, StoreError};
use crate::engine::Role;
use crate::ids::InstitutionId;

/// A token as people and the API see it: who it acts for and when it was used, not the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TokenRow {
    pub id: i64,
    /// The token's first characters, to tell tokens apart in lists.
    pub prefix: String,
    pub institution: InstitutionId,
    pub role: Role,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

impl TokenRow {
    pub fn revoked(&self) -> bool {
        self.revoked_at.is_some()
    }
}

/// The first response given to a request with an idempotency key, and what that request was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub method: String,
    pub path: String,
    /// Hex SHA-256 of the first request's body.
    pub request_hash: String,
    pub status: u16,
    pub response: String,
    /// A JSON object of the response headers to replay (ETag, Location).
    pub headers: serde_json::Value,
}

impl Store {
    /// Keep a new token by the hash of its secret.
    pub async fn insert_token(
        &self,
        hash: &str,
        prefix: &str,
        institution: &InstitutionId,
        role: Role,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<TokenRow, StoreError> {
        let row = api_token::ActiveModel {
            id: NotSet,
            token_hash: Set(hash.to_string()),
            prefix: Set(prefix.to_string()),
            institution: Set(institution.to_string()),
            role: Set(role.as_str().to_string()),
            name: Set(name.to_string()),
            created_at: Set(now),
            revoked_at: Set(None),
            last_used_at: Set(None),
        };
        match row.insert(&self.db).await {
            Ok(model) => token_from_model(model),
            // The institution went away between the caller's check and this insert.
            Err(e) if is_foreign_key_violation(&e) => Err(StoreError::NotFound {
                what: "institution",
                id: institution.to_string(),
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// The token whose secret hashes to `hash`, revoked or not (the caller decides).
    pub async fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRow>, StoreError> {
        Ok(self.token_entry(hash).await?.map(|(_, row)| row))
    }

    /// The stored hash with the token, for a caller that compares them itself.
    pub(crate) async fn token_entry(
        &self,
        hash: &str,
    ) -> Result<Option<(String, TokenRow)>, StoreError> {
        let Some(model) = api_token::Entity::find()
            .filter(api_token::Column::TokenHash.eq(hash))
            .one(&self.db)
            .await?
        else {
            return Ok(None);
        };
        let stored = model.token_hash.clone();
        Ok(Some((stored, token_from_model(model)?)))
    }

    /// (id, stored hash) of the institution's tokens that are not revoked: what its calendar
    /// feed keys are derived from.
    pub async fn live_token_hashes(
        &self,
        institution: &InstitutionId,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        Ok(api_token::Entity::find()
            .filter(api_token::Column::Institution.eq(institution.to_string()))
            .filter(api_token::Column::RevokedAt.is_null())
            .order_by_asc(api_token::Column::Id)
            .all(&self.db)
            .await?
            .into_iter()
            .map(|m| (m.id, m.token_hash))
            .collect())
    }

    /// Every token, oldest first.
    pub async fn tokens(&self) -> Result<Vec<TokenRow>, StoreError> {
        api_token::Entity::find()
            .order_by_asc(api_token::Column::Id)
            .all(&self.db)
            .await?
            .into_iter()
            .map(token_from_model)
            .collect()
    }

    /// Revoke a token from `now`; a token already revoked keeps its first revocation time.
    /// None when there is no such token.
    pub async fn revoke_token(
        &self,
        id: i64,
        now: DateTime<Utc>,
    ) -> Result<Option<TokenRow>, StoreError> {
        api_token::Entity::update_many()
            .col_expr(api_token::Column::RevokedAt, Expr::value(now))
            .filter(api_token::Column::Id.eq(id))
            .filter(api_token::Column::RevokedAt.is_null())
            .exec(&self.db)
            .await?;
        api_token::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .map(token_from_model)
            .transpose()
    }

    /// Record that a token was used at `now`; never moves `last_used_at` back.
    pub async fn touch_token(&self, id: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
        api_token::Entity::update_many()
            .col_expr(api_token::Column::LastUsedAt, Expr::value(now))
            .filter(api_token::Column::Id.eq(id))
            .filter(
                Condition::any()
                    .add(api_token::Column::LastUsedAt.is_null())
                    .add(api_token::Column::LastUsedAt.lt(now)),
            )
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// The response first given to `token_id`'s request with idempotency `key`, if any.
    pub async fn idempotent_response(
        &self,
        token_id: i64,
        key: &str,
    ) -> Result<Option<StoredResponse>, StoreError> {
        idempotency_key::Entity::find()
            .filter(idempotency_key::Column::TokenId.eq(token_id))
            .filter(idempotency_key::Column::Key.eq(key))
            .one(&self.db)
            .await?
            .map(response_from_model)
            .transpose()
    }

    /// Keep the first response to `token_id`'s request with `key`. When a response is already
    /// kept (a concurrent retry finished first), the kept one stays and this is not an error.
    #[allow(clippy::too_many_arguments)]
    pub async fn save_idempotent_response(
        &self,
        token_id: i64,
        key: &str,
        method: &str,
        path: &str,
        request_hash: &str,
        status: u16,
        response: &str,
        headers: &serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let row = idempotency_key::ActiveModel {
            id: NotSet,
            token_id: Set(token_id),
            key: Set(key.to_string()),
            method: Set(method.to_string()),
            path: Set(path.to_string()),
            request_hash: Set(request_hash.to_string()),
            status: Set(i32::from(status)),
            response: Set(response.to_string()),
            headers: Set(headers.to_string()),
            created_at: Set(now),
        };
        match idempotency_key::Entity::insert(row).exec(&self.db).await {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

fn is_foreign_key_violation(err: &DbErr) -> bool {
    matches!(
        err.sql_err(),
        Some(SqlErr::ForeignKeyConstraintViolation(_))
    )
}

pub(super) fn token_from_model(m: api_token::Model) -> Result<TokenRow, StoreError> {
    let bad = |what: String| StoreError::corrupt(format!("api token {}: {what}", m.id));
    Ok(TokenRow {
        id: m.id,
        institution: InstitutionId::parse(m.institution.as_str())
            .map_err(|e| bad(e.to_string()))?,
        role: Role::parse(&m.role).ok_or_else(|| bad(format!("role `{}`", m.role)))?,
        prefix: m.prefix,
        name: m.name,
        created_at: m.created_at,
        revoked_at: m.revoked_at,
        last_used_at: m.last_used_at,
    })
}

fn response_from_model(m: idempotency_key::Model) -> Result<StoredResponse, StoreError> {
    let bad = |what: String| StoreError::corrupt(format!("idempotency key {}: {what}", m.id));
    Ok(StoredResponse {
        status: u16::try_from(m.status).map_err(|_| bad(format!("status {}", m.status)))?,
        headers: serde_json::from_str(&m.headers).map_err(|e| bad(format!("headers: {e}")))?,
        method: m.method,
        path: m.path,
        request_hash: m.request_hash,
        response: m.response,
    })
}
