//! The generation progress bar (indicatif on stderr): samples done and tokens/s. Hidden when
//! stderr is not a terminal, so logs and tests see no control characters.
use crate::generate::engine::Progress;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::time::Instant;

pub struct GenProgress {
    bar: ProgressBar,
    start: Instant,
    /// Samples and tokens of engine calls already finished (the engine counts per call).
    base_samples: u64,
    base_tokens: u64,
    call_tokens: u64,
}

impl GenProgress {
    pub fn new(total_samples: u64, prefix: &str) -> GenProgress {
        let bar = if std::io::stderr().is_terminal() {
            ProgressBar::new(total_samples)
        } else {
            ProgressBar::hidden()
        };
        if let Ok(style) = ProgressStyle::with_template(
            "{prefix} [{elapsed_precise}] {wide_bar} {pos}/{len} samples {msg} (eta {eta})",
        ) {
            bar.set_style(style);
        }
        bar.set_prefix(prefix.to_string());
        GenProgress {
            bar,
            start: Instant::now(),
            base_samples: 0,
            base_tokens: 0,
            call_tokens: 0,
        }
    }

    /// Engine callback: counters of the current `generate` call.
    pub fn update(&mut self, p: Progress) {
        self.call_tokens = p.generated_tokens as u64;
        self.bar.set_position(self.base_samples + p.finished as u64);
        let secs = self.start.elapsed().as_secs_f64().max(1e-9);
        let rate = (self.base_tokens + self.call_tokens) as f64 / secs;
        self.bar.set_message(format!("{rate:.1} tok/s"));
    }

    /// A `generate` call finished with `samples` completions.
    pub fn end_call(&mut self, samples: usize) {
        self.base_samples += samples as u64;
        self.base_tokens += self.call_tokens;
        self.call_tokens = 0;
        self.bar.set_position(self.base_samples);
    }

    /// Total generated tokens so far and the elapsed seconds.
    pub fn totals(&self) -> (u64, f64) {
        (
            self.base_tokens + self.call_tokens,
            self.start.elapsed().as_secs_f64(),
        )
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
