//! The rows of a parquet file, read so that a damaged file is an error and never a crash.
//!
//! The `parquet` crate's row reader trusts the file: a negative column offset or size in the
//! footer trips an assertion, and pages that contradict the footer (a dictionary-encoded page
//! without its dictionary) reach `panic!`s in its decoders. So the footer's offsets and sizes
//! are checked against the file first, and whatever still panics inside the reader becomes an
//! error naming the file.
use crate::util::panics::catch_quietly;
use anyhow::{anyhow, bail, Context, Result};
use parquet::file::metadata::ParquetMetaData;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Row;
use std::path::Path;

/// Every row of the parquet file at `path`, in order.
pub fn read_rows(path: &Path) -> Result<Vec<Row>> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let len = file
        .metadata()
        .with_context(|| format!("inspecting {}", path.display()))?
        .len();
    let unreadable = |e: String| anyhow!("{}: not a readable parquet file: {e}", path.display());
    match catch_quietly(|| rows_of(file, len)) {
        Ok(Ok(rows)) => Ok(rows),
        Ok(Err(RowsError::File(e))) => Err(unreadable(e)),
        Ok(Err(RowsError::Row(i, e))) => bail!("{}: row {i}: cannot decode: {e}", path.display()),
        Err(panic) => Err(unreadable(format!(
            "the parquet reader stopped on inconsistent data ({panic})"
        ))),
    }
}

enum RowsError {
    /// The file as a whole (its footer, its layout).
    File(String),
    /// One row, by its 0-based number.
    Row(usize, String),
}

fn rows_of(file: std::fs::File, len: u64) -> std::result::Result<Vec<Row>, RowsError> {
    let reader = SerializedFileReader::new(file).map_err(|e| RowsError::File(e.to_string()))?;
    check_layout(reader.metadata(), len).map_err(RowsError::File)?;
    let iter = reader
        .get_row_iter(None)
        .map_err(|e| RowsError::File(format!("cannot iterate rows: {e}")))?;
    iter.enumerate()
        .map(|(i, row)| row.map_err(|e| RowsError::Row(i, e.to_string())))
        .collect()
}

/// Checks the footer's row counts, and that each column chunk lies inside the file.
fn check_layout(meta: &ParquetMetaData, file_len: u64) -> std::result::Result<(), String> {
    for (g, group) in meta.row_groups().iter().enumerate() {
        if group.num_rows() < 0 {
            return Err(format!(
                "row group {g} has a negative row count ({})",
                group.num_rows()
            ));
        }
        for c in group.columns() {
            let start = c.dictionary_page_offset().unwrap_or(c.data_page_offset());
            let size = c.compressed_size();
            let inside = u64::try_from(start)
                .ok()
                .zip(u64::try_from(size).ok())
                .and_then(|(s, n)| s.checked_add(n))
                .is_some_and(|end| end <= file_len);
            if !inside || c.num_values() < 0 {
                return Err(format!(
                    "row group {g}, column {}: {size} bytes at byte {start} with {} values does not fit the file ({file_len} bytes)",
                    c.column_path(),
                    c.num_values()
                ));
            }
        }
    }
    Ok(())
}
