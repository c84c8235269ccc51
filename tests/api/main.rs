//! The HTTP API over real TCP: each test starts the real server on port 0 with its own database
//! (SQLite, and PostgreSQL when ACCESSION_TEST_DATABASE_URL is set; required in CI) and talks to
//! it with an HTTP client.

#[allow(dead_code)]
#[path = "../store/support.rs"]
mod support;

mod harness;

mod access;
mod accounts;
mod agreement;
mod chart;
mod dashboard;
mod diskfull;
mod document;
mod hardening;
mod idempotency;
mod input;
mod lifecycle;
mod log;
mod pages;
mod paging;
mod procedure_page;
mod reservations;
mod roles;
mod states;
mod throttle;
mod took_effect;
mod treaty;
mod walk;
mod web;
mod writes;
