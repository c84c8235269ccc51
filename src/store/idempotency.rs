//! Idempotency keys. A request with a key claims (token, key) before any work: the unique row is
//! written `in_progress` with a lease, so a concurrent duplicate finds it and waits for the answer
//! instead of doing the work again. The answer is written in the act's own transaction (see
//! `Store::apply_answering`), so a crash cannot keep the act without its answer. A claim whose
//! lease ended is abandoned (its request died) and may be taken over; an answer older than the
//! keys' lifetime counts as absent. Plain data only: what an answer means in HTTP is the API's.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::NotSet, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait,
    QueryFilter,
};

use super::entities::idempotency_key;
use super::error::is_unique_violation;
use super::{Store, StoreError};

const IN_PROGRESS: &str = "in_progress";
const DONE: &str = "done";

/// A request sent with an idempotency key: who sent it, under which key, and what it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyedRequest {
    pub token_id: i64,
    pub key: String,
    pub method: String,
    pub path: String,
    /// Hex SHA-256 of the request's body, to tell a retry from another request under one key.
    pub request_hash: String,
}

/// What a key was first used for, to refuse the same key for a different request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirstRequest {
    pub method: String,
    pub path: String,
    pub request_hash: String,
}

impl KeyedRequest {
    /// Whether `first` is this same request (a retry), not another one under the same key.
    pub fn repeats(&self, first: &FirstRequest) -> bool {
        self.method == first.method
            && self.path == first.path
            && self.request_hash == first.request_hash
    }
}

/// A claim this request holds on its key: only its holder may write the key's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldKey {
    /// The claim's row; a claim taken over is a new row, so the old holder's write finds nothing.
    id: i64,
    pub key: String,
}

/// An answer to keep for replay: a status, the headers worth replaying, the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub headers: BTreeMap<String, String>,
    pub body: String,
}

/// What a key stands at when a request comes with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Nobody held the key (or its answer expired, or its holder died): this request holds it.
    Held(HeldKey),
    /// The first request with this key finished: its answer.
    Answered(FirstRequest, StoredResponse),
    /// The first request with this key is still being worked on.
    InProgress(FirstRequest),
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

/// How many times a claim is tried when rows come and go under it (a race lost each time).
const CLAIM_ROUNDS: usize = 4;

impl Store {
    /// Claim `request`'s key at `now`, holding it until `lease_until`. Answers given at or
    /// before `expired_by` have expired and count as absent.
    pub async fn claim_idempotency_key(
        &self,
        request: &KeyedRequest,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        expired_by: DateTime<Utc>,
    ) -> Result<Claim, StoreError> {
        for _ in 0..CLAIM_ROUNDS {
            // Read first: a duplicate waiting for an answer polls with reads, which never queue
            // behind the writer it waits for (SQLite has one).
            if let Some(row) = self.key_row(request.token_id, &request.key).await? {
                if row.state == DONE && row.created_at > expired_by {
                    let first = first_request(&row);
                    return Ok(Claim::Answered(first, response_from_model(row)?));
                }
                if row.state != DONE && row.lease_until.is_some_and(|until| until > now) {
                    return Ok(Claim::InProgress(first_request(&row)));
                }
                // Expired, or abandoned by a request that died: take it away, but only as it
                // was read (someone else may have replaced it meanwhile).
                idempotency_key::Entity::delete_many()
                    .filter(idempotency_key::Column::Id.eq(row.id))
                    .filter(stale(now, expired_by))
                    .exec(&self.db)
                    .await?;
            }
            let claim = idempotency_key::ActiveModel {
                id: NotSet,
                token_id: Set(request.token_id),
                key: Set(request.key.clone()),
                method: Set(request.method.clone()),
                path: Set(request.path.clone()),
                request_hash: Set(request.request_hash.clone()),
                status: Set(0),
                response: Set(String::new()),
                headers: Set("{}".into()),
                created_at: Set(now),
                state: Set(IN_PROGRESS.into()),
                lease_until: Set(Some(lease_until)),
            };
            match idempotency_key::Entity::insert(claim).exec(&self.db).await {
                Ok(done) => {
                    return Ok(Claim::Held(HeldKey {
                        id: done.last_insert_id,
                        key: request.key.clone(),
                    }));
                }
                // Another request claimed it between the read and the insert: read again.
                Err(e) if is_unique_violation(&e) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        // Rows keep coming and going under this key: someone is working on it.
        Ok(Claim::InProgress(FirstRequest {
            method: request.method.clone(),
            path: request.path.clone(),
            request_hash: request.request_hash.clone(),
        }))
    }

    /// Give a claim up without an answer (the work failed and wrote nothing), so that a corrected
    /// retry can run. A key already answered keeps its answer.
    pub async fn release_idempotency_key(&self, held: &HeldKey) -> Result<(), StoreError> {
        idempotency_key::Entity::delete_many()
            .filter(idempotency_key::Column::Id.eq(held.id))
            .filter(idempotency_key::Column::State.eq(IN_PROGRESS))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Delete the rows made at or before `expired_by` that a claim would treat as absent anyway
    /// (answers expired, claims abandoned by `now`). Returns how many went.
    pub async fn forget_idempotency_keys(
        &self,
        now: DateTime<Utc>,
        expired_by: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        Ok(idempotency_key::Entity::delete_many()
            .filter(idempotency_key::Column::CreatedAt.lte(expired_by))
            .filter(stale(now, expired_by))
            .exec(&self.db)
            .await?
            .rows_affected)
    }

    /// The response first given to `token_id`'s request with idempotency `key`, if it was
    /// answered (a claim still in progress has none yet).
    pub async fn idempotent_response(
        &self,
        token_id: i64,
        key: &str,
    ) -> Result<Option<StoredResponse>, StoreError> {
        self.key_row(token_id, key)
            .await?
            .filter(|row| row.state == DONE)
            .map(response_from_model)
            .transpose()
    }

    /// Keep the first response to `token_id`'s request with `key`, outside any act. When the key
    /// already has a row (a concurrent retry came first), that row stays and this is not an error.
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
            state: Set(DONE.into()),
            lease_until: Set(None),
        };
        match idempotency_key::Entity::insert(row).exec(&self.db).await {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn key_row(
        &self,
        token_id: i64,
        key: &str,
    ) -> Result<Option<idempotency_key::Model>, StoreError> {
        Ok(idempotency_key::Entity::find()
            .filter(idempotency_key::Column::TokenId.eq(token_id))
            .filter(idempotency_key::Column::Key.eq(key))
            .one(&self.db)
            .await?)
    }
}

/// Write `answer` for the claim `held`, in the caller's transaction. An error when the claim is
/// no longer held (it outlived its lease and was taken over): the caller must then write nothing.
pub(super) async fn keep_answer(
    txn: &impl ConnectionTrait,
    held: &HeldKey,
    answer: &Answer,
) -> Result<(), StoreError> {
    let headers = serde_json::to_string(&answer.headers).unwrap_or_else(|_| "{}".into());
    let kept = idempotency_key::Entity::update_many()
        .col_expr(idempotency_key::Column::State, Expr::value(DONE))
        .col_expr(
            idempotency_key::Column::Status,
            Expr::value(i32::from(answer.status)),
        )
        .col_expr(
            idempotency_key::Column::Response,
            Expr::value(answer.body.clone()),
        )
        .col_expr(idempotency_key::Column::Headers, Expr::value(headers))
        .col_expr(
            idempotency_key::Column::LeaseUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(idempotency_key::Column::Id.eq(held.id))
        .filter(idempotency_key::Column::State.eq(IN_PROGRESS))
        .exec(txn)
        .await?;
    if kept.rows_affected == 1 {
        Ok(())
    } else {
        Err(StoreError::KeyLost(held.key.clone()))
    }
}

/// Rows a claim treats as absent: answers given by `expired_by`, claims whose lease ended.
fn stale(now: DateTime<Utc>, expired_by: DateTime<Utc>) -> Condition {
    Condition::any()
        .add(
            Condition::all()
                .add(idempotency_key::Column::State.eq(DONE))
                .add(idempotency_key::Column::CreatedAt.lte(expired_by)),
        )
        .add(
            Condition::all()
                .add(idempotency_key::Column::State.ne(DONE))
                .add(
                    Condition::any()
                        .add(idempotency_key::Column::LeaseUntil.is_null())
                        .add(idempotency_key::Column::LeaseUntil.lte(now)),
                ),
        )
}

fn first_request(m: &idempotency_key::Model) -> FirstRequest {
    FirstRequest {
        method: m.method.clone(),
        path: m.path.clone(),
        request_hash: m.request_hash.clone(),
    }
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
