//! Appending whole records (lines) to a growing file: metrics, logs, run history, evaluation
//! samples. A record lands whole or not at all: a write that fails part-way (a full disk, a
//! file-size limit) is cut back to where the file ended, so no reader, and no resumed run, ever
//! finds half a line. The error names the file.
use anyhow::Result;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// A file opened for appending whole records. As a [`Write`] it sends whole lines: bytes are held
/// until a newline, and [`Write::flush`] (or dropping it) sends the rest.
pub struct Appender {
    file: File,
    path: PathBuf,
    durable: bool,
    pending: Vec<u8>,
}

impl Appender {
    /// Opens (creating it if needed) `path` for appending.
    pub fn open(path: &Path) -> Result<Self> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| named(path, "opening", e))?;
        Ok(Self {
            file,
            path: path.to_path_buf(),
            durable: false,
            pending: Vec::new(),
        })
    }

    /// Every record is synced to the disk before the append returns (it survives a kill or a
    /// power cut once the call has returned).
    pub fn durable(mut self) -> Self {
        self.durable = true;
        self
    }

    /// Appends `bytes` whole, or leaves the file as it was and returns the error.
    pub fn append(&mut self, bytes: &[u8]) -> Result<()> {
        Ok(self.append_io(bytes)?)
    }

    fn append_io(&mut self, bytes: &[u8]) -> io::Result<()> {
        let end = self
            .file
            .metadata()
            .map_err(|e| named(&self.path, "inspecting", e))?
            .len();
        let mut written = self.file.write_all(bytes);
        if written.is_ok() && self.durable {
            written = self.file.sync_data();
        }
        let Err(e) = written else {
            return Ok(());
        };
        // Shrinking is allowed even on a full disk or at the size limit.
        match self.file.set_len(end) {
            Ok(()) => Err(named(&self.path, "appending to", e)),
            Err(cut) => Err(io::Error::new(
                e.kind(),
                format!(
                    "appending to {}: {e}; cutting it back to its {end} bytes also failed ({cut}): its last line may be incomplete",
                    self.path.display()
                ),
            )),
        }
    }
}

/// An I/O error whose message names what was done and to which file.
fn named(path: &Path, what: &str, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}

impl Write for Appender {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        if let Some(last) = self.pending.iter().rposition(|&b| b == b'\n') {
            let lines: Vec<u8> = self.pending.drain(..=last).collect();
            self.append_io(&lines)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.pending.is_empty() {
            let rest = std::mem::take(&mut self.pending);
            self.append_io(&rest)?;
        }
        Ok(())
    }
}

impl Drop for Appender {
    fn drop(&mut self) {
        // Best effort, as for a buffered writer: an error here has nobody to report to.
        let _ = self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_arrive_whole_and_a_failed_append_leaves_the_file_as_it_was() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("m.jsonl");
        let mut a = Appender::open(&p).unwrap();
        write!(a, "{{\"step\": ").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"");
        writeln!(a, "1}}").unwrap();
        a.append(b"{\"step\": 2}\n").unwrap();
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            "{\"step\": 1}\n{\"step\": 2}\n"
        );
        // A reader's descriptor cannot write: the append fails and the file is unchanged.
        let mut ro = Appender {
            file: File::open(&p).unwrap(),
            path: p.clone(),
            durable: true,
            pending: Vec::new(),
        };
        let e = format!("{:#}", ro.append(b"{\"step\": 3}\n").unwrap_err());
        assert!(e.contains("m.jsonl"), "{e}");
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            "{\"step\": 1}\n{\"step\": 2}\n"
        );
    }
}
