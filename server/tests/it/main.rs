//! The server's integration tests, in one binary: one link instead of one per file keeps a cold build
//! several gigabytes smaller and minutes quicker. Each module is one area; `common` holds the shared helpers.
#![allow(clippy::unwrap_used)]

mod common;

mod admin_api;
mod append_only;
mod audit_and_hygiene;
mod bad_input;
mod charts;
mod cli;
mod config_as_code;
mod config_as_code_targeting;
mod docs;
mod environments;
mod evaluate;
mod first_start;
mod flags;
mod frontend;
mod guardrails;
mod ofrep;
mod openapi;
mod operator_cli;
mod outage;
mod page_stalls;
mod people;
mod phases;
mod priority_urls;
mod priority_urls_rollback;
mod reliability;
mod retention;
mod rollouts;
mod rollouts_audience;
mod scheduled;
mod security;
mod simulate;
mod static_assets;
mod targeting;
mod targets;
mod targets_import;
mod targets_migration;
mod token_promises;
mod webhooks;
