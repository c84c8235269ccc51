//! CSV answers, for the API and the pages alike: content type and a download name.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

/// `bytes` as a CSV download named `filename` (a name without quotes; one that cannot be a header
/// value is left out rather than failing the answer).
pub fn csv_attachment(bytes: Vec<u8>, filename: &str) -> Response {
    let mut response = bytes.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, value);
    }
    response
}
