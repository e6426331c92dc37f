//! data
pub mod synthetic;
