//! data
pub mod verl;
