//! Integration tests of the engine and store together, on a real SQLite file and a real
//! PostgreSQL database, and of the mail on a real SMTP server over TCP. Each test gets its own database; PostgreSQL runs when
//! ACCESSION_TEST_DATABASE_URL is set (and must be set in CI).

mod mailserver;
mod support;

mod accounts;
mod audit;
mod checkpoint_mail;
mod checkpoints;
mod concurrency;
mod contracts;
mod demo;
mod entry_into_force;
mod idempotency;
mod log;
mod migrate;
mod outage;
mod procedures;
mod read_only;
mod reservations;
mod scheduler;
mod smtp;
mod states;
mod tallies;
mod tokens;
mod took_effect;
mod treaty;
mod write_failures;
