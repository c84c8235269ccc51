//! Accession: a workflow engine that tracks how a State joins international conventions.
//!
//! `workflow`, `engine` and `calendar` are pure; `store` is the only module that speaks SQL.

pub mod api;
pub mod app;
pub mod audit;
pub mod calendar;
pub mod cli;
pub mod clock;
pub mod config;
pub mod engine;
pub mod html;
pub mod http;
pub mod ids;
pub mod locale;
pub mod metrics;
pub mod notify;
pub mod reference;
pub mod scheduler;
pub mod server;
pub mod source;
pub mod store;
pub mod suggest;
pub mod text;
pub mod web;
pub mod workflow;
