//! setpoint: a terminal operations console for GitOps.
//!
//! Data flows one way: backend tasks → typed updates → console state → pure render. See docs/architecture.md.

pub mod agent_cmd;
pub mod audit;
pub mod backend;
pub mod cli;
pub mod commands;
pub mod config;
pub mod context;
pub mod diff;
pub mod error;
pub mod format;
pub mod jsonl;
pub mod logging;
pub mod model;
pub mod run;
pub mod tui;
