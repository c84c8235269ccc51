//! `Idempotency-Key` on a POST. The key is claimed before the work, so of concurrent requests
//! with one key only the first works; the others wait (polling, with backoff, for at most
//! `PATIENCE`) and get its answer, marked `Idempotent-Replayed: true`. The answer is written in
//! the act's own transaction, so a retry after a crash gets it too. Work that fails writes nothing
//! and frees the key for a corrected retry. The same key with a different request is refused
//! (422). Keys expire after `server.idempotency_ttl_secs`.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::etag::etag;
use crate::app::{Accession, AppError, ProcedureView};
use crate::http::Caller;
use crate::http::Failure;
use crate::http::Problem;
use crate::http::{HttpState, REQUEST_TIMEOUT};
use crate::store::{Answer, Claim, HeldKey, KeyedRequest, Store, StoredResponse};

const HEADER: &str = "idempotency-key";

/// How long a duplicate waits for the first request's answer: less than the request timeout, so
/// that it is told plainly (409) rather than timed out (503).
const PATIENCE: Duration = REQUEST_TIMEOUT.saturating_sub(Duration::from_secs(5));
/// The first pause between two looks at a key in progress; it doubles up to `LONGEST_PAUSE`.
const FIRST_PAUSE: Duration = Duration::from_millis(10);
const LONGEST_PAUSE: Duration = Duration::from_millis(250);

/// The request's key, if it has one.
pub fn key(headers: &HeaderMap) -> Result<Option<String>, Problem> {
    let Some(value) = headers.get(HEADER) else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(text) if !text.trim().is_empty() && text.len() <= 200 => Ok(Some(text.trim().into())),
        _ => Err(Problem::new(
            Failure::Malformed,
            "invalid-input",
            "`Idempotency-Key` must be 1 to 200 visible characters",
        )
        .with_field("Idempotency-Key")),
    }
}

/// The answer of a write: `status`, the view as JSON, its version as the ETag and, for a start,
/// the new procedure's Location.
pub fn answer(view: &ProcedureView, status: StatusCode, location: Option<String>) -> Answer {
    let mut headers = BTreeMap::new();
    headers.insert(
        header::CONTENT_TYPE.to_string(),
        "application/json".to_string(),
    );
    if let Ok(tag) = etag(view.procedure.version).to_str() {
        headers.insert(header::ETAG.to_string(), tag.to_string());
    }
    if let Some(location) = location {
        headers.insert(header::LOCATION.to_string(), location);
    }
    Answer {
        status: status.as_u16(),
        headers,
        // A view is plain data: serialising it cannot fail.
        body: serde_json::to_string(view).unwrap_or_default(),
    }
}

/// Run `work` once per key. `work` is given the claim it holds when the request has a key, and
/// must then write its answer with its act (`Accession::act_on_answering`).
pub async fn once<W, F>(
    state: &HttpState,
    caller: &Caller,
    headers: &HeaderMap,
    path: &str,
    request: &impl serde::Serialize,
    work: W,
) -> Response
where
    W: FnOnce(Option<HeldKey>) -> F,
    F: Future<Output = Result<Answer, Problem>>,
{
    let key = match key(headers) {
        Ok(key) => key,
        Err(p) => return p.into_response(),
    };
    let Some(key) = key else {
        return work(None)
            .await
            .map_or_else(IntoResponse::into_response, response);
    };
    let request = KeyedRequest {
        token_id: caller.token_id,
        key,
        method: "POST".into(),
        path: path.to_string(),
        request_hash: hex::encode(Sha256::digest(
            serde_json::to_vec(request).unwrap_or_default(),
        )),
    };
    let held = match turn(&state.app, &request, PATIENCE).await {
        Ok(Turn::Mine(held)) => held,
        Ok(Turn::Replay(stored)) => return replay(stored),
        Err(problem) => return problem.into_response(),
    };
    let claim = Claimed::new(state.app.store().clone(), held.clone());
    match work(Some(held)).await {
        Ok(answer) => {
            claim.answered();
            response(answer)
        }
        Err(problem) => {
            claim.release().await;
            problem.into_response()
        }
    }
}

/// Whose turn it is with a key.
#[derive(Debug)]
enum Turn {
    /// This request holds the key: it does the work.
    Mine(HeldKey),
    /// The first request's answer, to give again.
    Replay(StoredResponse),
}

/// Claim `request`'s key, or wait up to `patience` for the request holding it to answer.
async fn turn(
    app: &Accession,
    request: &KeyedRequest,
    patience: Duration,
) -> Result<Turn, Problem> {
    // Waiting on another request is waiting on the real clock; keys' leases and lifetimes are
    // the application's (injected) time.
    let started = tokio::time::Instant::now();
    let lease = chrono::TimeDelta::from_std(REQUEST_TIMEOUT).unwrap_or(chrono::TimeDelta::MAX);
    let ttl = app.settings.server.idempotency_ttl();
    let mut pause = FIRST_PAUSE;
    loop {
        let now = app.now();
        let claim = app
            .store()
            .claim_idempotency_key(request, now, now + lease, now - ttl)
            .await
            .map_err(|e| Problem::from(AppError::from(e)))?;
        let first = match claim {
            Claim::Held(held) => return Ok(Turn::Mine(held)),
            Claim::Answered(first, stored) if request.repeats(&first) => {
                return Ok(Turn::Replay(stored));
            }
            Claim::Answered(first, _) | Claim::InProgress(first) if !request.repeats(&first) => {
                return Err(reused(&request.key, &first.method, &first.path));
            }
            Claim::Answered(first, _) | Claim::InProgress(first) => first,
        };
        let waited = started.elapsed();
        if waited >= patience {
            return Err(Problem::new(
                Failure::Conflict,
                "idempotency-key-in-progress",
                format!(
                    "a request with `Idempotency-Key: {}` ({} {}) is still in progress; send \
                     this one again later to get its answer",
                    request.key, first.method, first.path
                ),
            )
            .with_field("Idempotency-Key"));
        }
        // The last pause is cut short so that the key is looked at once more at the end.
        tokio::time::sleep(pause.min(patience - waited)).await;
        pause = (pause * 2).min(LONGEST_PAUSE);
    }
}

fn reused(key: &str, method: &str, path: &str) -> Problem {
    Problem::new(
        Failure::Invalid,
        "idempotency-key-reused",
        format!(
            "`Idempotency-Key: {key}` was used for another request ({method} {path}); use a new \
             key for a new request"
        ),
    )
    .with_field("Idempotency-Key")
}

/// A kept answer, given again.
fn replay(stored: StoredResponse) -> Response {
    let mut response = Response::new(Body::from(stored.response));
    *response.status_mut() = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    if let Some(map) = stored.headers.as_object() {
        for (name, value) in map {
            if let (Ok(name), Some(Ok(value))) = (
                HeaderName::try_from(name.as_str()),
                value.as_str().map(HeaderValue::from_str),
            ) {
                response.headers_mut().insert(name, value);
            }
        }
    }
    response
        .headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}

/// An answer as an HTTP response, exactly as it is kept for replay.
fn response(answer: Answer) -> Response {
    let mut response = Response::new(Body::from(answer.body));
    *response.status_mut() = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
    for (name, value) in &answer.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::try_from(name.as_str()),
            HeaderValue::from_str(value),
        ) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

/// A claim held while the work runs. Answered, it is done with; otherwise it is released, also
/// when the request is dropped half-way (the client went away, or the timeout struck), so that a
/// retry need not wait for the lease to end.
struct Claimed {
    store: Option<Store>,
    key: HeldKey,
}

impl Claimed {
    fn new(store: Store, key: HeldKey) -> Self {
        Self {
            store: Some(store),
            key,
        }
    }

    /// The work wrote its answer with the claim: nothing to give up.
    fn answered(mut self) {
        self.store = None;
    }

    /// The work failed and wrote nothing: free the key for a corrected retry.
    async fn release(mut self) {
        if let Some(store) = self.store.take() {
            release(&store, &self.key).await;
        }
    }
}

impl Drop for Claimed {
    fn drop(&mut self) {
        let Some(store) = self.store.take() else {
            return;
        };
        let key = self.key.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move { release(&store, &key).await });
        }
    }
}

async fn release(store: &Store, key: &HeldKey) {
    // Not releasing only makes a retry wait for the lease to end; say so, go on.
    if let Err(e) = store.release_idempotency_key(key).await {
        tracing::warn!(error = %e, "could not release an idempotency key; it frees itself when its lease ends");
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::ManualClock;

    async fn app() -> (Accession, tempfile::TempDir, i64) {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = crate::config::Settings::embedded_defaults();
        settings.database.url = format!("sqlite://{}/a.db", dir.path().display());
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        settings.workflows.dir = root.join("workflows");
        settings.demo.dir = root.join("config/demo");
        settings.calendar.holidays = Some(root.join("config/calendars/kg.toml"));
        let clock =
            ManualClock::new(chrono::DateTime::UNIX_EPOCH + chrono::TimeDelta::days(20_000));
        let app = Accession::open(settings, Arc::new(clock)).await.unwrap();
        app.import_states(&root.join("config/demo/states.toml"))
            .await
            .unwrap();
        app.import_institutions(&root.join("config/demo/institutions.toml"))
            .await
            .unwrap();
        let token = app
            .create_token(
                &crate::engine::Actor::operator("cli:test"),
                &"moj".parse().unwrap(),
                crate::engine::Role::Ministry,
                "MoJ",
            )
            .await
            .unwrap();
        (app, dir, token.row.id)
    }

    fn request(token_id: i64, body: &str) -> KeyedRequest {
        KeyedRequest {
            token_id,
            key: "k-1".into(),
            method: "POST".into(),
            path: "/api/v1/procedures/kg-ets-185/comment".into(),
            request_hash: body.into(),
        }
    }

    #[tokio::test]
    async fn a_duplicate_waits_for_the_first_then_is_told_it_is_still_in_progress() {
        let (app, _dir, token) = app().await;
        let Ok(Turn::Mine(held)) = turn(&app, &request(token, "a"), PATIENCE).await else {
            panic!("the first request holds the key");
        };
        let patience = Duration::from_millis(150);
        let started = std::time::Instant::now();
        let problem = turn(&app, &request(token, "a"), patience)
            .await
            .unwrap_err();
        assert!(started.elapsed() >= patience, "it waited for the first");
        assert_eq!(problem.status, 409);
        assert!(problem.type_.ends_with("idempotency-key-in-progress"));
        assert!(
            problem.detail.contains("still in progress"),
            "{}",
            problem.detail
        );
        // Another request under the key is refused at once, without waiting.
        let started = std::time::Instant::now();
        let problem = turn(&app, &request(token, "b"), patience)
            .await
            .unwrap_err();
        assert_eq!(problem.status, 422);
        assert!(started.elapsed() < patience);
        // Released (its work failed), the key is free for the retry.
        app.store().release_idempotency_key(&held).await.unwrap();
        assert!(matches!(
            turn(&app, &request(token, "a"), patience).await,
            Ok(Turn::Mine(_))
        ));
    }

    #[tokio::test]
    async fn a_claim_dropped_half_way_is_released() {
        let (app, _dir, token) = app().await;
        let Ok(Turn::Mine(held)) = turn(&app, &request(token, "a"), PATIENCE).await else {
            panic!("the first request holds the key");
        };
        drop(Claimed::new(app.store().clone(), held));
        // The release runs on its own task: wait for it a little, on the real clock.
        for _ in 0..100 {
            if let Ok(Turn::Mine(_)) = turn(&app, &request(token, "a"), Duration::ZERO).await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the dropped claim was never released");
    }
}
