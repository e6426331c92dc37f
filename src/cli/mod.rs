//! One file per subcommand: each parses its arguments (clap derive) and calls one library function.
pub mod bench;
pub mod bench_generate;
pub mod device;
pub mod eval;
pub mod generate;
pub mod grade;
pub mod logprobs;
pub mod make_task;
pub mod passk;
