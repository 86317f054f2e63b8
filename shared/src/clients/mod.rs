//! Clients of the external systems, one module each. Every client takes the shared HTTP client and
//! the one retry policy, and returns categorised errors that name the system and the item. FS,
//! WISEflow, Inspera and Alma take their credential as a [`crate::secrets::Credential`] (`new`: a
//! fixed one; `with_credential`: one from a secret that rotates) and send through it.

pub mod alma;
pub mod bokbasen;
pub mod fs;
pub mod inspera;
pub mod wiseflow;
