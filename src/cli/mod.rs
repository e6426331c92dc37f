//! One file per subcommand: each parses its arguments (clap derive) and calls one library function.
pub mod analyze;
pub mod bench;
pub mod bench_generate;
pub mod convert;
pub mod demo;
pub mod device;
pub mod eval;
pub mod generate;
pub mod grade;
pub mod logprobs;
pub mod make_task;
pub mod new_model;
pub mod passk;
pub mod plot;
pub mod selftest;
pub mod sft;
pub mod train;
