//! Evaluation: Pass@k and paired statistics, sample files, plots, and the `rlvr eval` run
//! (resumable).
pub mod compare;
pub mod evidence;
pub mod passk;
pub mod plot;
pub mod progress;
pub mod recipe;
pub mod resume;
pub mod run;
pub mod samples;
pub mod stats;
