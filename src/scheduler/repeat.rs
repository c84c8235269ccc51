//! Running a background pass (the scheduler's tick, the dispatcher's) again and again inside a
//! long-lived process, until asked to stop. A failed pass (the database unreachable, say) is
//! logged and tried again at the next interval: the process keeps running.

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;

use crate::app::AppError;

/// Run `pass` at once and then every `every`, until `stop` holds `true` (or its sender is gone).
/// A pass in progress is finished before stopping, so a claim is never abandoned half-way.
pub async fn repeat<F, Fut, R>(
    what: &str,
    every: Duration,
    mut stop: watch::Receiver<bool>,
    mut pass: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<R, AppError>>,
{
    loop {
        if *stop.borrow() {
            break;
        }
        if let Err(e) = pass().await {
            tracing::error!(pass = what, error = %e, "background pass failed; trying again later");
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            changed = stop.changed() => {
                if changed.is_err() {
                    break;
                }
            }
        }
    }
    tracing::info!(pass = what, "stopped");
}
