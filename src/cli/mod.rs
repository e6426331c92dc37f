//! One file per subcommand: each parses its arguments (clap derive) and calls one library function.
pub mod selftest;
