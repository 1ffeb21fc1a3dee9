//! devspec: a declarative experiment-spec language and runner for developmental
//! interpretability. See ARCHITECTURE.md for the map of the stages and where to start reading.

pub mod bid;
pub mod cli;
pub mod columns;
pub mod compile;
pub mod detect;
pub mod diagnostic;
pub mod exec;
pub mod exit_code;
pub mod failure;
pub mod format;
pub mod lsp;
pub mod ops;
pub mod plan;
pub mod project_config;
pub mod registry;
pub mod report;
pub mod source;
pub mod steps;
pub mod store;
pub mod study;
pub mod syntax;
pub mod tables;
pub mod theory;
