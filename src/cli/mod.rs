//! One file per subcommand: each parses its arguments (clap derive) and calls one library function.
pub mod bench_cpu;
pub mod convert;
pub mod device;
pub mod grade;
pub mod logprobs;
pub mod make_task;
pub mod new_model;
pub mod passk;
pub mod selftest;
pub mod sft;
pub mod train;
