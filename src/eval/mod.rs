//! Evaluation: Pass@k and paired statistics, sample files, plots, and the `rlvr eval` run
//! (resumable).
pub mod passk;
pub mod plot;
pub mod progress;
pub mod resume;
pub mod run;
pub mod samples;
pub mod stats;
