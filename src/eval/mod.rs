//! eval
pub mod passk;
pub mod plot;
pub mod samples;
