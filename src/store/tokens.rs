//! API tokens. A token row holds the SHA-256 of the secret, never the secret, and likewise the
//! SHA-256 of its calendar feed key; what leaves this module (`TokenRow`) holds neither. (Idempotency keys, which belong to tokens, are in
//! `idempotency`.)

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::NotSet, ActiveValue::Set, ColumnTrait, Condition, DbErr,
    EntityTrait, QueryFilter, QueryOrder, SqlErr,
};
use serde::Serialize;

use super::entities::api_token;
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
    /// When its calendar feed key was made (the key is shown once, then only its hash is kept);
    /// none when it has no feed.
    pub feed_key_created_at: Option<DateTime<Utc>>,
    /// The person the token belongs to; none for a shared token (made before accounts, or for
    /// a system rather than a person).
    pub account_id: Option<i64>,
    /// The token a person's page sessions stand for (its secret was never shown); revoking it
    /// ends those sessions.
    pub for_pages: bool,
}

impl TokenRow {
    pub fn revoked(&self) -> bool {
        self.revoked_at.is_some()
    }
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
        self.insert_token_of(hash, prefix, institution, role, name, now, None, false)
            .await
    }

    /// Keep a new token by the hash of its secret, belonging to account `account` (none: a
    /// shared token); `for_pages` for the one a person's page sessions stand for.
    #[allow(clippy::too_many_arguments)]
    pub async fn insert_token_of(
        &self,
        hash: &str,
        prefix: &str,
        institution: &InstitutionId,
        role: Role,
        name: &str,
        now: DateTime<Utc>,
        account: Option<i64>,
        for_pages: bool,
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
            feed_key_hash: Set(None),
            feed_key_created_at: Set(None),
            account_id: Set(account),
            for_pages: Set(for_pages),
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

    /// Give token `id` the calendar feed key that hashes to `hash`, made at `now`, unless the
    /// token is revoked: the previous key stops working at once. The token as it now is (a
    /// revoked one unchanged); None when there is no such token.
    pub async fn set_feed_key(
        &self,
        id: i64,
        hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<TokenRow>, StoreError> {
        api_token::Entity::update_many()
            .col_expr(api_token::Column::FeedKeyHash, Expr::value(hash))
            .col_expr(api_token::Column::FeedKeyCreatedAt, Expr::value(now))
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

    /// The token whose calendar feed key hashes to `hash` (revoked or not: the caller decides),
    /// with the stored hash, for a caller that compares them itself.
    pub async fn feed_key_entry(
        &self,
        hash: &str,
    ) -> Result<Option<(String, TokenRow)>, StoreError> {
        let Some(model) = api_token::Entity::find()
            .filter(api_token::Column::FeedKeyHash.eq(hash))
            .one(&self.db)
            .await?
        else {
            return Ok(None);
        };
        let stored = model.feed_key_hash.clone().unwrap_or_default();
        Ok(Some((stored, token_from_model(model)?)))
    }

    /// Token `id`, revoked or not.
    pub async fn token(&self, id: i64) -> Result<Option<TokenRow>, StoreError> {
        api_token::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .map(token_from_model)
            .transpose()
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

    /// One page of tokens, oldest first, and how many there are in all.
    pub async fn tokens_page(
        &self,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<TokenRow>, u64), StoreError> {
        use sea_orm::{PaginatorTrait, QuerySelect};
        let total = api_token::Entity::find().count(&self.db).await?;
        let rows = api_token::Entity::find()
            .order_by_asc(api_token::Column::Id)
            .offset(offset)
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(token_from_model)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((rows, total))
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
        feed_key_created_at: m.feed_key_created_at,
        account_id: m.account_id,
        for_pages: m.for_pages,
    })
}
