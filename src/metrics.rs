//! What `/metrics` reports, in the Prometheus text format: transitions by workflow and stage,
//! refusals by kind, timers fired, emails sent and their latency, HTTP latency. One registry per
//! process (no global recorder), so tests can run several servers side by side. Gauges that are
//! facts of the database (timers due, outbox rows by state) are read at scrape time.

use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StageLabels {
    pub workflow: String,
    pub stage: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub method: String,
    /// The route pattern (`/api/v1/procedures/{id}`), never the raw path.
    pub route: String,
    pub status: u16,
}

fn seconds_histogram() -> Histogram {
    // 1 ms to about 16 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

pub struct Metrics {
    registry: Registry,
    pub transitions: Family<StageLabels, Counter>,
    pub refusals: Family<KindLabels, Counter>,
    pub timers_fired: Family<KindLabels, Counter>,
    pub emails: Family<KindLabels, Counter>,
    pub email_seconds: Histogram,
    pub http_seconds: Family<HttpLabels, Histogram, fn() -> Histogram>,
    pub timers_due: Gauge,
    pub outbox: Family<KindLabels, Gauge>,
    /// Serialises scrapes: the gauges are set, then the registry encoded.
    scrape: Mutex<()>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("accession");
        let transitions = Family::default();
        registry.register(
            "transitions",
            "Stage transitions applied, by workflow and the stage entered",
            transitions.clone(),
        );
        let refusals = Family::default();
        registry.register(
            "refusals",
            "Acts refused, by kind of refusal",
            refusals.clone(),
        );
        let timers_fired = Family::default();
        registry.register(
            "timers_fired",
            "Timers fired, by kind (reminder, deadline, escalation)",
            timers_fired.clone(),
        );
        let emails = Family::default();
        registry.register(
            "emails",
            "Emails handled by the dispatcher, by outcome (sent, retried, dead, cancelled)",
            emails.clone(),
        );
        let email_seconds = seconds_histogram();
        registry.register(
            "email_send_seconds",
            "Time to hand one email to the transport",
            email_seconds.clone(),
        );
        let http_seconds: Family<HttpLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(seconds_histogram);
        registry.register(
            "http_request_seconds",
            "HTTP request latency, by method, route and status",
            http_seconds.clone(),
        );
        let timers_due = Gauge::default();
        registry.register(
            "timers_due",
            "Pending timers whose time has come, at the last scrape",
            timers_due.clone(),
        );
        let outbox = Family::default();
        registry.register(
            "outbox_rows",
            "Outbox rows by state (pending, sent, dead, cancelled), at the last scrape",
            outbox.clone(),
        );
        Metrics {
            registry,
            transitions,
            refusals,
            timers_fired,
            emails,
            email_seconds,
            http_seconds,
            timers_due,
            outbox,
            scrape: Mutex::new(()),
        }
    }
}

impl Metrics {
    pub fn count(&self, family: &Family<KindLabels, Counter>, kind: &str) {
        family
            .get_or_create(&KindLabels {
                kind: kind.to_string(),
            })
            .inc();
    }

    /// The text exposition, after setting the database gauges to the values given.
    pub fn render(&self, timers_due: i64, outbox: &[(&str, i64)]) -> String {
        let _guard = self.scrape.lock().unwrap_or_else(|e| e.into_inner());
        self.timers_due.set(timers_due);
        for (state, n) in outbox {
            self.outbox
                .get_or_create(&KindLabels {
                    kind: (*state).to_string(),
                })
                .set(*n);
        }
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_names_every_family_with_its_labels() {
        let m = Metrics::default();
        m.transitions
            .get_or_create(&StageLabels {
                workflow: "coe-accession".into(),
                stage: "legal-review".into(),
            })
            .inc();
        m.count(&m.refusals, "stale-version");
        m.count(&m.timers_fired, "reminder");
        m.count(&m.emails, "sent");
        m.email_seconds.observe(0.02);
        let text = m.render(3, &[("pending", 2), ("dead", 1)]);
        for needle in [
            "accession_transitions_total{workflow=\"coe-accession\",stage=\"legal-review\"} 1",
            "accession_refusals_total{kind=\"stale-version\"} 1",
            "accession_timers_fired_total{kind=\"reminder\"} 1",
            "accession_emails_total{kind=\"sent\"} 1",
            "accession_email_send_seconds_count 1",
            "accession_timers_due 3",
            "accession_outbox_rows{kind=\"dead\"} 1",
        ] {
            assert!(text.contains(needle), "missing {needle} in\n{text}");
        }
        assert!(text.trim_end().ends_with("# EOF"));
    }
}
