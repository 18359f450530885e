//! The command layer: one file per command group, each parsing what clap
//! gave it and calling the library. `main.rs` declares the arguments and
//! dispatches; what several commands share (keys, configuration, rules,
//! stores, output files) is in `common`.

pub(crate) mod cases;
pub(crate) mod change;
pub(crate) mod common;
pub(crate) mod config;
pub(crate) mod remind;
pub(crate) mod report;
pub(crate) mod scan;
pub(crate) mod worker;
