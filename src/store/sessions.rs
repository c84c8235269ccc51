//! Web sessions: a browser's cookie, by its SHA-256, standing for an API token until it ends.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};

use super::entities::{api_token, web_session};
use super::tokens::{TokenRow, token_from_model};
use super::{Store, StoreError};

/// A session as the pages need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    pub id: i64,
    pub token_id: i64,
    /// The secret every form of this session carries.
    pub csrf: String,
    pub language: String,
    pub expires_at: DateTime<Utc>,
}

impl Store {
    pub async fn insert_session(
        &self,
        hash: &str,
        token_id: i64,
        csrf: &str,
        language: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        web_session::Entity::insert(web_session::ActiveModel {
            session_hash: Set(hash.to_string()),
            token_id: Set(token_id),
            csrf: Set(csrf.to_string()),
            language: Set(language.to_string()),
            created_at: Set(now),
            expires_at: Set(expires_at),
            ..Default::default()
        })
        .exec(&self.db)
        .await?;
        Ok(())
    }

    /// The session whose cookie hashes to `hash`, live at `now`, with its token (revoked or not:
    /// the caller decides).
    pub async fn session(
        &self,
        hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(SessionRow, TokenRow)>, StoreError> {
        let Some(s) = web_session::Entity::find()
            .filter(web_session::Column::SessionHash.eq(hash))
            .filter(web_session::Column::ExpiresAt.gt(now))
            .one(&self.db)
            .await?
        else {
            return Ok(None);
        };
        let Some(token) = api_token::Entity::find_by_id(s.token_id)
            .one(&self.db)
            .await?
        else {
            return Ok(None);
        };
        Ok(Some((
            SessionRow {
                id: s.id,
                token_id: s.token_id,
                csrf: s.csrf,
                language: s.language,
                expires_at: s.expires_at,
            },
            token_from_model(token)?,
        )))
    }

    pub async fn set_session_language(&self, id: i64, language: &str) -> Result<(), StoreError> {
        web_session::Entity::update_many()
            .col_expr(web_session::Column::Language, Expr::value(language))
            .filter(web_session::Column::Id.eq(id))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// End a session; ending one already gone is no error.
    pub async fn delete_session(&self, hash: &str) -> Result<(), StoreError> {
        web_session::Entity::delete_many()
            .filter(web_session::Column::SessionHash.eq(hash))
            .exec(&self.db)
            .await?;
        Ok(())
    }
}
