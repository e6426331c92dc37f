//! Data: verl-style parquet/JSONL problem sets and seeded synthetic verifiable tasks.
pub mod empty_rows;
pub mod parquet_rows;
pub mod synthetic;
pub mod verl;
