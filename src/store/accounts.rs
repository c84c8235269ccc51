//! Accounts of officials, the one-time sign-in links mailed to them, and what an admin sees of
//! page sessions. A link is kept by the SHA-256 of its secret only, and used at most once: the
//! one UPDATE that marks it used is what admits the sign-in, so two browsers racing on the same
//! link cannot both win.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::NotSet, ActiveValue::Set, ColumnTrait, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, SqlErr,
};
use serde::Serialize;

use super::entities::{account, api_token, outbox, sign_in_link, web_session};
use super::tokens::{TokenRow, token_from_model};
use super::{Store, StoreError};
use crate::engine::{Notification, NotificationKind, Role, SignInFacts};
use crate::ids::InstitutionId;

/// An official's account as people and the API see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AccountRow {
    pub id: i64,
    pub name: String,
    /// Lower-cased; where sign-in links go.
    pub email: String,
    pub institution: InstitutionId,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    /// Set once an admin disabled it: its sessions and tokens were ended with it.
    pub disabled_at: Option<DateTime<Utc>>,
}

impl AccountRow {
    pub fn disabled(&self) -> bool {
        self.disabled_at.is_some()
    }
}

/// A page session as an admin sees it: whose, and until when; never its cookie.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SessionListRow {
    pub id: i64,
    pub token_id: i64,
    /// The person's account; none for a session signed in with a shared token.
    pub account_id: Option<i64>,
    /// The person's name, or the shared token's.
    pub name: String,
    pub institution: InstitutionId,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// What disabling an account ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Disabled {
    pub account: AccountRow,
    /// Tokens revoked now (the account's that were still live).
    pub tokens_revoked: u64,
    /// Page sessions ended now.
    pub sessions_ended: u64,
}

/// A link just stored, with the email that carries it queued in the same transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedLink {
    pub link_id: i64,
    pub outbox_id: i64,
}

fn is_unique_violation(err: &DbErr) -> bool {
    matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

fn is_foreign_key_violation(err: &DbErr) -> bool {
    matches!(
        err.sql_err(),
        Some(SqlErr::ForeignKeyConstraintViolation(_))
    )
}

fn account_from_model(m: account::Model) -> Result<AccountRow, StoreError> {
    let bad = |what: String| StoreError::corrupt(format!("account {}: {what}", m.id));
    Ok(AccountRow {
        id: m.id,
        institution: InstitutionId::parse(m.institution.as_str())
            .map_err(|e| bad(e.to_string()))?,
        role: Role::parse(&m.role).ok_or_else(|| bad(format!("role `{}`", m.role)))?,
        name: m.name,
        email: m.email,
        created_at: m.created_at,
        disabled_at: m.disabled_at,
    })
}

impl Store {
    /// A new account; `email` already lower-cased by the caller. A taken address is
    /// `AlreadyExists`, an unknown institution `NotFound`.
    pub async fn insert_account(
        &self,
        name: &str,
        email: &str,
        institution: &InstitutionId,
        role: Role,
        now: DateTime<Utc>,
    ) -> Result<AccountRow, StoreError> {
        let row = account::ActiveModel {
            id: NotSet,
            name: Set(name.to_string()),
            email: Set(email.to_string()),
            institution: Set(institution.to_string()),
            role: Set(role.as_str().to_string()),
            created_at: Set(now),
            disabled_at: Set(None),
        };
        match sea_orm::ActiveModelTrait::insert(row, &self.db).await {
            Ok(m) => account_from_model(m),
            Err(e) if is_unique_violation(&e) => Err(StoreError::AlreadyExists(format!(
                "an account with the address {email}"
            ))),
            Err(e) if is_foreign_key_violation(&e) => Err(StoreError::NotFound {
                what: "institution",
                id: institution.to_string(),
            }),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn account(&self, id: i64) -> Result<Option<AccountRow>, StoreError> {
        account::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .map(account_from_model)
            .transpose()
    }

    /// The account of `email` (lower-cased by the caller), disabled or not.
    pub async fn account_by_email(&self, email: &str) -> Result<Option<AccountRow>, StoreError> {
        account::Entity::find()
            .filter(account::Column::Email.eq(email))
            .one(&self.db)
            .await?
            .map(account_from_model)
            .transpose()
    }

    /// One page of accounts, oldest first, and how many there are in all.
    pub async fn accounts_page(
        &self,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<AccountRow>, u64), StoreError> {
        let total = account::Entity::find().count(&self.db).await?;
        let rows = account::Entity::find()
            .order_by_asc(account::Column::Id)
            .offset(offset)
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(account_from_model)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((rows, total))
    }

    /// Disable account `id` at `now`, and in the same transaction revoke its live tokens, end
    /// its page sessions and spend its unused links. Disabling a disabled account ends what
    /// may have been made since and keeps the first time. None when there is no such account.
    pub async fn disable_account(
        &self,
        id: i64,
        now: DateTime<Utc>,
    ) -> Result<Option<Disabled>, StoreError> {
        let txn = self.begin_write().await?;
        account::Entity::update_many()
            .col_expr(account::Column::DisabledAt, Expr::value(now))
            .filter(account::Column::Id.eq(id))
            .filter(account::Column::DisabledAt.is_null())
            .exec(&txn)
            .await?;
        let Some(model) = account::Entity::find_by_id(id).one(&txn).await? else {
            txn.rollback().await?;
            return Ok(None);
        };
        let token_ids: Vec<i64> = api_token::Entity::find()
            .select_only()
            .column(api_token::Column::Id)
            .filter(api_token::Column::AccountId.eq(id))
            .into_tuple()
            .all(&txn)
            .await?;
        let tokens_revoked = api_token::Entity::update_many()
            .col_expr(api_token::Column::RevokedAt, Expr::value(now))
            .filter(api_token::Column::AccountId.eq(id))
            .filter(api_token::Column::RevokedAt.is_null())
            .exec(&txn)
            .await?
            .rows_affected;
        let sessions_ended = if token_ids.is_empty() {
            0
        } else {
            web_session::Entity::delete_many()
                .filter(web_session::Column::TokenId.is_in(token_ids))
                .exec(&txn)
                .await?
                .rows_affected
        };
        sign_in_link::Entity::update_many()
            .col_expr(sign_in_link::Column::UsedAt, Expr::value(now))
            .filter(sign_in_link::Column::AccountId.eq(id))
            .filter(sign_in_link::Column::UsedAt.is_null())
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(Some(Disabled {
            account: account_from_model(model)?,
            tokens_revoked,
            sessions_ended,
        }))
    }

    /// How many links account `id` was sent since `since` (to cap how many one address gets).
    pub async fn links_since(&self, id: i64, since: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(sign_in_link::Entity::find()
            .filter(sign_in_link::Column::AccountId.eq(id))
            .filter(sign_in_link::Column::CreatedAt.gte(since))
            .count(&self.db)
            .await?)
    }

    /// Keep a link by the hash of its secret and, in the same transaction, queue the email
    /// that carries it: `facts` is given the link's id before it is stored.
    pub async fn insert_sign_in_link(
        &self,
        hash: &str,
        account: &AccountRow,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
        facts: impl FnOnce(i64) -> SignInFacts,
    ) -> Result<QueuedLink, StoreError> {
        let txn = self.begin_write().await?;
        let link_id = sign_in_link::Entity::insert(sign_in_link::ActiveModel {
            id: NotSet,
            link_hash: Set(hash.to_string()),
            account_id: Set(account.id),
            created_at: Set(now),
            expires_at: Set(expires_at),
            used_at: Set(None),
        })
        .exec(&txn)
        .await?
        .last_insert_id;
        let notification = Notification {
            kind: NotificationKind::SignInLink,
            recipient: account.institution.clone(),
            dedupe_key: format!("sign-in-link:{link_id}"),
            facts: facts(link_id),
        };
        let outbox_id = outbox::Entity::insert(super::outbox::new_row(
            &notification,
            None,
            &self.mail_domain,
            now,
            now,
        ))
        .exec(&txn)
        .await?
        .last_insert_id;
        txn.commit().await?;
        Ok(QueuedLink { link_id, outbox_id })
    }

    /// Whether the link whose secret hashes to `hash` would still sign someone in at `now`
    /// (unused, not expired): the confirmation page asks, and spends nothing.
    pub async fn sign_in_link_live(
        &self,
        hash: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        Ok(sign_in_link::Entity::find()
            .filter(sign_in_link::Column::LinkHash.eq(hash))
            .filter(sign_in_link::Column::UsedAt.is_null())
            .filter(sign_in_link::Column::ExpiresAt.gt(now))
            .count(&self.db)
            .await?
            == 1)
    }

    /// Spend the link whose secret hashes to `hash`, if it is unused and not expired at `now`:
    /// its account's id; None otherwise (unknown, used, expired). One UPDATE decides, so a link
    /// admits one sign-in however many requests race on it.
    pub async fn consume_sign_in_link(
        &self,
        hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>, StoreError> {
        let spent = sign_in_link::Entity::update_many()
            .col_expr(sign_in_link::Column::UsedAt, Expr::value(now))
            .filter(sign_in_link::Column::LinkHash.eq(hash))
            .filter(sign_in_link::Column::UsedAt.is_null())
            .filter(sign_in_link::Column::ExpiresAt.gt(now))
            .exec(&self.db)
            .await?
            .rows_affected;
        if spent != 1 {
            return Ok(None);
        }
        Ok(sign_in_link::Entity::find()
            .select_only()
            .column(sign_in_link::Column::AccountId)
            .filter(sign_in_link::Column::LinkHash.eq(hash))
            .into_tuple()
            .one(&self.db)
            .await?)
    }

    /// The stored hash of link `id` when it is unused and not expired at `now` (the dispatcher
    /// does not mail a link that can no longer be used, and checks the seal it opens).
    pub async fn sign_in_link_pending(
        &self,
        id: i64,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError> {
        Ok(sign_in_link::Entity::find_by_id(id)
            .filter(sign_in_link::Column::UsedAt.is_null())
            .filter(sign_in_link::Column::ExpiresAt.gt(now))
            .one(&self.db)
            .await?
            .map(|m| m.link_hash))
    }

    /// The token account `account`'s page sessions stand for: the live one, or a new one
    /// whose secret hashes to `hash` (a secret nobody was shown).
    pub async fn pages_token(
        &self,
        account: &AccountRow,
        hash: &str,
        prefix: &str,
        now: DateTime<Utc>,
    ) -> Result<TokenRow, StoreError> {
        if let Some(m) = api_token::Entity::find()
            .filter(api_token::Column::AccountId.eq(account.id))
            .filter(api_token::Column::ForPages.eq(true))
            .filter(api_token::Column::RevokedAt.is_null())
            .order_by_desc(api_token::Column::Id)
            .one(&self.db)
            .await?
        {
            return token_from_model(m);
        }
        self.insert_token_of(
            hash,
            prefix,
            &account.institution,
            account.role,
            &account.name,
            now,
            Some(account.id),
            true,
        )
        .await
    }

    /// The live page sessions at `now`, newest first, one page, and how many in all.
    pub async fn sessions_page(
        &self,
        now: DateTime<Utc>,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<SessionListRow>, u64), StoreError> {
        let live = || web_session::Entity::find().filter(web_session::Column::ExpiresAt.gt(now));
        let total = live().count(&self.db).await?;
        let sessions = live()
            .order_by_desc(web_session::Column::Id)
            .offset(offset)
            .limit(limit)
            .all(&self.db)
            .await?;
        let ids: Vec<i64> = sessions.iter().map(|s| s.token_id).collect();
        let tokens = if ids.is_empty() {
            Vec::new()
        } else {
            api_token::Entity::find()
                .filter(api_token::Column::Id.is_in(ids))
                .all(&self.db)
                .await?
        };
        let mut rows = Vec::with_capacity(sessions.len());
        for s in sessions {
            let Some(t) = tokens.iter().find(|t| t.id == s.token_id) else {
                continue;
            };
            let token = token_from_model(t.clone())?;
            rows.push(SessionListRow {
                id: s.id,
                token_id: s.token_id,
                account_id: token.account_id,
                name: token.name,
                institution: token.institution,
                role: token.role,
                created_at: s.created_at,
                expires_at: s.expires_at,
            });
        }
        Ok((rows, total))
    }

    /// End page session `id`; whether there was one.
    pub async fn end_session(&self, id: i64) -> Result<bool, StoreError> {
        Ok(web_session::Entity::delete_many()
            .filter(web_session::Column::Id.eq(id))
            .exec(&self.db)
            .await?
            .rows_affected
            == 1)
    }
}
