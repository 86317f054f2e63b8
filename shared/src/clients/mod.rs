//! Clients of the external systems, one module each. Every client takes the shared HTTP client and
//! the one retry policy, and returns categorised errors that name the system and the item.

pub mod alma;
pub mod bokbasen;
pub mod fs;
pub mod inspera;
pub mod wiseflow;
