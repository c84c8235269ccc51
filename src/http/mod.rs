//! The HTTP plumbing both front ends stand on: the state every handler gets, who is calling
//! (`Caller`, from a bearer token or a page session's token), the client's address and its budget
//! of authentication failures, RFC 9457 problems and the one mapping of failures to statuses, the
//! middleware (request ids, problems for every error, panics, body limit, timeout, metrics). The
//! API (`crate::api`) and the pages (`crate::web`) both use this module and neither imports the
//! other; `crate::server` puts them side by side.

// A `Problem` (about 150 bytes) is the error of nearly every function here; it is built once per
// failed request, where boxing it would buy nothing measurable and cost every signature.
#![allow(clippy::result_large_err)]

mod caller;
mod client;
mod csv;
pub mod failure;
pub mod middleware;
pub mod problem;
mod throttle;

use std::sync::Arc;
use std::time::Duration;

pub use caller::Caller;
pub use client::ClientAddress;
pub use csv::csv_attachment;
pub use failure::Failure;
pub use problem::Problem;
pub use throttle::{Client, Locked, Throttle};

use crate::app::Accession;

/// What every handler gets.
#[derive(Clone)]
pub struct HttpState {
    pub app: Arc<Accession>,
    /// The budget of authentication failures of each client (`server.auth_failures_*`).
    pub throttle: Arc<Throttle>,
}

impl HttpState {
    pub fn new(app: Arc<Accession>) -> HttpState {
        let server = &app.settings.server;
        let throttle = Throttle::new(
            server.auth_failures_per_minute,
            server.auth_failures_burst,
            Arc::clone(&app.clock),
        );
        HttpState {
            app,
            throttle: Arc::new(throttle),
        }
    }
}

/// The largest request body accepted.
pub const BODY_LIMIT: usize = 64 * 1024;
/// A request still running after this is answered with 408.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
