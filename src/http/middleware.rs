//! What wraps every request: a request id (taken from `x-request-id` when it is short and tidy,
//! else made; echoed in the response, in the log span and in every problem), a problem body for
//! every error (unknown routes, wrong methods, timeouts and panics included), the latency
//! histogram, a body limit, a timeout, and `Referrer-Policy` and `nosniff` on every response.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use super::failure::Failure;
use super::problem::{CONTENT_TYPE, Problem};
use super::{HttpState, REQUEST_TIMEOUT};

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// The longest request id taken from a client.
const REQUEST_ID_MAX: usize = 128;

/// A client's request id is kept only if it is one id of at most 128 characters from
/// `[A-Za-z0-9._:-]`: anything else (a log line of its own, markup, a JSON fragment, a kilobyte)
/// would go into every log line and problem of the request, so it is dropped and one is made.
async fn tidy_request_id(mut req: Request) -> Request {
    let ids = req.headers().get_all(REQUEST_ID);
    let mut each = ids.iter();
    let tidy = match (each.next(), each.next()) {
        (Some(id), None) => is_tidy(id.as_bytes()),
        _ => true,
    };
    if !tidy {
        req.headers_mut().remove(REQUEST_ID);
    }
    req
}

fn is_tidy(id: &[u8]) -> bool {
    (1..=REQUEST_ID_MAX).contains(&id.len())
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// Request ids: this process's start time and a counter — unique, short, and readable in logs.
#[derive(Clone)]
struct Ids {
    prefix: String,
}

static NEXT: AtomicU64 = AtomicU64::new(1);

impl MakeRequestId for Ids {
    fn make_request_id<B>(&mut self, _request: &axum::http::Request<B>) -> Option<RequestId> {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        HeaderValue::from_str(&format!("{}-{n}", self.prefix))
            .ok()
            .map(RequestId::new)
    }
}

pub fn wrap(routes: axum::Router<HttpState>, state: HttpState) -> Router {
    let prefix = format!(
        "{:x}",
        chrono::Utc::now().timestamp_millis() & 0xff_ffff_ffff
    );
    let metrics_state = state.clone();
    routes
        .layer(middleware::from_fn_with_state(metrics_state, observe))
        .with_state(state)
        .layer(
            ServiceBuilder::new()
                // Outermost, so errors, panics, timeouts, exports, diagrams and feeds get them too:
                // no URL (a feed's key, a procedure's address) leaks to another site in
                // `Referer`, and no browser guesses a type other than the one sent.
                .layer(SetResponseHeaderLayer::overriding(
                    header::REFERRER_POLICY,
                    HeaderValue::from_static("no-referrer"),
                ))
                .layer(SetResponseHeaderLayer::overriding(
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                ))
                .layer(middleware::map_request(tidy_request_id))
                .layer(SetRequestIdLayer::new(REQUEST_ID, Ids { prefix }))
                .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
                    let id = req
                        .headers()
                        .get(REQUEST_ID)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-");
                    // The path, never the query: a query may carry a secret (the calendar
                    // feed's key), and logs are read by more people than secrets may be.
                    tracing::info_span!(
                        "request",
                        request_id = %id,
                        method = %req.method(),
                        path = %req.uri().path()
                    )
                }))
                .layer(PropagateRequestIdLayer::new(REQUEST_ID))
                .layer(middleware::from_fn(problems))
                .layer(CatchPanicLayer::custom(panicked))
                // 503, not 408: 408 says the client was slow, and some clients retry it blindly.
                .layer(TimeoutLayer::with_status_code(
                    StatusCode::SERVICE_UNAVAILABLE,
                    REQUEST_TIMEOUT,
                )),
        )
}

/// HTTP latency by method, route pattern and status.
async fn observe(
    axum::extract::State(state): axum::extract::State<HttpState>,
    req: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = req.method().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "(unmatched)".to_string(), |m| m.as_str().to_string());
    let response = next.run(req).await;
    state
        .app
        .metrics
        .http_seconds
        .get_or_create(&crate::metrics::HttpLabels {
            method,
            route,
            status: response.status().as_u16(),
        })
        .observe(started.elapsed().as_secs_f64());
    response
}

fn panicked(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    Problem::new(
        Failure::Internal,
        "internal",
        "an internal error occurred; quote the request id to the operators",
    )
    .into_response()
}

/// Every error response becomes a problem carrying the request id and the path.
async fn problems(req: Request, next: Next) -> Response {
    let request_id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let path = req.uri().path().to_string();
    let language = super::problem::accepted_language(
        req.headers()
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    );
    let response = next.run(req).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    // The web pages answer errors with pages of their own.
    if content_type.starts_with("text/html") {
        return response;
    }
    let is_problem = content_type == CONTENT_TYPE;
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, super::BODY_LIMIT)
        .await
        .unwrap_or_default();
    let mut problem: serde_json::Value = if is_problem {
        serde_json::from_slice(&bytes).unwrap_or_default()
    } else {
        serde_json::Value::Null
    };
    if !problem.is_object() {
        // An error from axum itself (a path that does not parse, say) says what is wrong in
        // plain text: keep its words.
        let said = String::from_utf8_lossy(&bytes).trim().to_string();
        let (kind, detail) = match status {
            StatusCode::NOT_FOUND => ("not-found", format!("there is no resource at {path}")),
            StatusCode::METHOD_NOT_ALLOWED => (
                "method-not-allowed",
                format!("{path} does not take this method"),
            ),
            StatusCode::SERVICE_UNAVAILABLE => (
                "timeout",
                format!(
                    "the request took longer than {} s",
                    REQUEST_TIMEOUT.as_secs()
                ),
            ),
            StatusCode::PAYLOAD_TOO_LARGE => (
                "payload-too-large",
                format!("the body is larger than {} bytes", super::BODY_LIMIT),
            ),
            StatusCode::BAD_REQUEST if !said.is_empty() => ("invalid-input", said),
            _ if !said.is_empty() => ("error", said),
            _ => (
                "error",
                status.canonical_reason().unwrap_or("error").to_string(),
            ),
        };
        // The statuses of the one mapping, so the document's promises hold; any other (405 from
        // the router) as it came.
        let problem_of = match Failure::of_status(status) {
            Some(failure) => Problem::new(failure, kind, detail),
            None => Problem::with_status(status, kind, detail),
        };
        problem = serde_json::to_value(problem_of).unwrap_or_default();
    }
    // A refusal in the language the request accepts; English (the default) as it came.
    let localized = match (
        language,
        parts.extensions.get::<super::problem::RefusalOf>(),
    ) {
        (Some(l), Some(super::problem::RefusalOf(refusal)))
            if l != crate::reference::Language::En =>
        {
            Some((
                l,
                crate::locale::refusal(refusal, l, crate::locale::Names::default()),
            ))
        }
        _ => None,
    };
    if let (Some(object), Some((language, detail))) = (problem.as_object_mut(), &localized) {
        object.insert("detail".into(), serde_json::Value::String(detail.clone()));
        if let Ok(value) = HeaderValue::from_str(language.as_str()) {
            parts.headers.insert(header::CONTENT_LANGUAGE, value);
        }
    }
    if let Some(object) = problem.as_object_mut() {
        object
            .entry("instance")
            .or_insert_with(|| serde_json::Value::String(path));
        if let Some(id) = request_id {
            object.insert("request_id".into(), serde_json::Value::String(id));
        }
    }
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    parts.headers.remove(header::CONTENT_LENGTH);
    let body = serde_json::to_vec(&problem).unwrap_or_default();
    Response::from_parts(parts, Body::from(body))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use axum::routing::get;
    use tower::ServiceExt;

    use super::*;

    async fn state() -> (HttpState, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = crate::config::Settings::embedded_defaults();
        settings.database.url = format!("sqlite://{}/a.db", dir.path().display());
        // Absolute paths: other tests in this process (figment's Jail) move the working folder.
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        settings.workflows.dir = root.join("workflows");
        settings.calendar.holidays = Some(root.join("config/calendars/kg.toml"));
        let app = crate::app::Accession::open(settings, Arc::new(crate::clock::SystemClock))
            .await
            .unwrap();
        (HttpState::new(Arc::new(app)), dir)
    }

    #[test]
    fn only_short_tidy_request_ids_are_taken() {
        for ok in ["a", "abc-123", "trace.1:span_2-X", &"7".repeat(128)] {
            assert!(is_tidy(ok.as_bytes()), "{ok}");
        }
        for bad in [
            "",
            &"7".repeat(129),
            "a b",
            "a\tb",
            "<b>",
            "a/b",
            "a\"b",
            "ü",
            "a%0a",
        ] {
            assert!(!is_tidy(bad.as_bytes()), "{bad:?}");
        }
    }

    #[tokio::test]
    async fn what_handlers_and_logs_see_of_an_odd_request_id_is_the_one_made_for_it() {
        let (state, _dir) = state().await;
        // The handler reads the request's id as the log span does.
        let routes =
            axum::Router::new().route(
                "/id",
                get(|req: Request| async move {
                    req.headers()[REQUEST_ID].to_str().unwrap().to_string()
                }),
            );
        let router = wrap(routes, state);
        for (sent, kept) in [("tidy-1", true), ("odd id {\"x\": 1}", false)] {
            let response = router
                .clone()
                .oneshot(
                    Request::builder()
                        .uri("/id")
                        .header(
                            "x-request-id",
                            HeaderValue::from_bytes(sent.as_bytes()).unwrap(),
                        )
                        .body(Body::empty())
                        .unwrap(),
                )
                .await
                .unwrap();
            let echoed = response.headers()["x-request-id"]
                .to_str()
                .unwrap()
                .to_string();
            let seen = axum::body::to_bytes(response.into_body(), 1000)
                .await
                .unwrap();
            assert_eq!(seen, echoed.as_bytes());
            assert_eq!(echoed == sent, kept, "{sent:?} -> {echoed:?}");
        }
    }

    /// What the log subscriber writes, kept for a test to read.
    #[derive(Clone, Default)]
    struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn the_request_log_never_holds_a_calendar_feed_key() {
        let (state, _dir) = state().await;
        let logs = Captured::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_span_events(tracing_subscriber::fmt::format::FmtSpan::FULL)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let key = "5ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2";
        let response = crate::server::router(state)
            .oneshot(
                Request::builder()
                    .uri(format!("/calendar/moj.ics?key={key}"))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let logs = String::from_utf8_lossy(&logs.0.lock().unwrap()).to_string();
        assert!(
            logs.contains("/calendar/moj.ics"),
            "the request is logged: {logs}"
        );
        assert!(!logs.contains("5ec2e7"), "the key is not: {logs}");
    }

    #[tokio::test]
    async fn a_panicking_handler_becomes_a_500_problem_with_the_request_id() {
        let (state, _dir) = state().await;
        let routes = axum::Router::new().route(
            "/boom",
            get(|| async {
                let items: Vec<u8> = std::hint::black_box(Vec::new());
                // A handler bug: indexing past the end.
                items[3].to_string()
            }),
        );
        let response = wrap(routes, state)
            .oneshot(
                Request::builder()
                    .uri("/boom")
                    .header("x-request-id", "test-42")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(response.headers()["x-request-id"], "test-42");
        assert_eq!(response.headers()[header::CONTENT_TYPE], CONTENT_TYPE);
        let body = axum::body::to_bytes(response.into_body(), 10_000)
            .await
            .unwrap();
        let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(problem["type"], "urn:accession:problem:internal");
        assert_eq!(problem["request_id"], "test-42");
        assert_eq!(problem["instance"], "/boom");
    }
}
