//! One file per subcommand: each parses its arguments (clap derive) and calls one library function.
pub mod analyze;
pub mod device;
pub mod grade;
pub mod logprobs;
pub mod make_task;
pub mod passk;
