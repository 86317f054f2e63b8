//! Flyt on one machine, with no AWS account and no Docker: the local AWS emulator, the sandbox of
//! external systems, the stack created from `template.yaml`, and a runner that fires schedules and
//! polls queues with Lambda's semantics, calling the same handlers that run in Lambda.

#[cfg(test)]
mod aws_only;
pub mod bench;
pub mod bench_api;
pub mod buckets;
pub mod budget;
pub mod digeks_demo;
pub mod emulator;
pub mod esm;
pub mod functions;
pub mod gateway;
#[cfg(test)]
mod least_privilege;
pub mod platform;
pub mod report;
pub mod stack;
pub mod template;

pub use emulator::Emulator;
pub use platform::{DrainStats, Local, LocalOptions};
