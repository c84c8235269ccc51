//! `Idempotency-Key` on a POST: the first successful response is kept under (token, key); a retry
//! with the same key and the same request gets it again and writes nothing; the same key with a
//! different request is refused (422).

use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::ApiState;
use super::auth::Caller;
use super::failure::Failure;
use super::problem::Problem;

const HEADER: &str = "idempotency-key";
/// Response headers kept with the response.
const KEPT: [HeaderName; 3] = [header::ETAG, header::LOCATION, header::CONTENT_TYPE];

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

/// Run `work` once per key: a stored response for a retry, else the work (kept if it succeeds).
pub async fn once<F>(
    state: &ApiState,
    caller: &Caller,
    headers: &HeaderMap,
    path: &str,
    request: &impl serde::Serialize,
    work: F,
) -> Response
where
    F: Future<Output = Result<Response, Problem>>,
{
    let key = match key(headers) {
        Ok(key) => key,
        Err(p) => return p.into_response(),
    };
    let Some(key) = key else {
        return work.await.unwrap_or_else(IntoResponse::into_response);
    };
    let hash = hex::encode(Sha256::digest(
        serde_json::to_vec(request).unwrap_or_default(),
    ));
    let store = &state.app.store;
    match store.idempotent_response(caller.token_id, &key).await {
        Ok(Some(stored)) => {
            if stored.method != "POST" || stored.path != path || stored.request_hash != hash {
                return Problem::new(
                    Failure::Invalid,
                    "idempotency-key-reused",
                    format!(
                        "`Idempotency-Key: {key}` was used for another request ({} {}); use a \
                         new key for a new request",
                        stored.method, stored.path
                    ),
                )
                .with_field("Idempotency-Key")
                .into_response();
            }
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
            return response;
        }
        Ok(None) => {}
        Err(e) => return Problem::from(crate::app::AppError::from(e)).into_response(),
    }
    let response = match work.await {
        Ok(response) => response,
        Err(problem) => return problem.into_response(),
    };
    if !response.status().is_success() {
        return response;
    }
    let (parts, body) = response.into_parts();
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return Problem::new(
                Failure::Internal,
                "internal",
                "the response could not be kept for replay",
            )
            .into_response();
        }
    };
    let kept: serde_json::Map<String, serde_json::Value> = KEPT
        .iter()
        .filter_map(|name| {
            let value = parts.headers.get(name)?.to_str().ok()?;
            Some((name.to_string(), serde_json::Value::String(value.into())))
        })
        .collect();
    if let Err(e) = store
        .save_idempotent_response(
            caller.token_id,
            &key,
            "POST",
            path,
            &hash,
            parts.status.as_u16(),
            &String::from_utf8_lossy(&bytes),
            &serde_json::Value::Object(kept),
            state.app.now(),
        )
        .await
    {
        // The write is done; only its replay is lost. Say so in the log, answer normally.
        tracing::error!(error = %e, "could not keep an idempotent response");
    }
    Response::from_parts(parts, Body::from(bytes))
}
