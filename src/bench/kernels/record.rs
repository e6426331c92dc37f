//! One bench result and the whole report, as printed (table) and serialised (`--json`).
use super::counts::{gbps, tflops};
use super::timing::Timing;
use crate::bench::efficiency::{self, EfficiencyRecord, OpCost};
use serde::Serialize;

/// One measured entry. Ratios are "higher is better" except where `goal` says ≤.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Record {
    /// The kernel file (op) the entry measures, `baseline` or `error`.
    pub group: &'static str,
    pub kernel: String,
    /// The rung of the op's kernel ladder this entry ran (ops with a ladder only).
    pub rung: Option<u32>,
    pub shape: String,
    /// Device kernels this entry launched (recorded at the device interface).
    pub launches: Vec<String>,
    pub median_ms: Option<f64>,
    pub min_ms: Option<f64>,
    pub repeats: usize,
    /// FLOPs of one call (matrix products only; see bench::kernels::counts).
    pub flops: Option<u64>,
    /// Compulsory bytes of one call (or, for a memory record, the peak extra bytes allocated).
    pub bytes: Option<u64>,
    pub tflops: Option<f64>,
    pub gbps: Option<f64>,
    /// What the ratio is taken against, with its value.
    pub baseline: Option<String>,
    pub ratio: Option<f64>,
    /// The goal, including how the ratio is read.
    pub goal: String,
    pub met: Option<bool>,
    pub note: String,
    /// Counted on the emulator (`--counters`): one call's efficiency against this entry's FLOPs
    /// and compulsory bytes, with its ESTIMATED H100/A100 time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub efficiency: Option<EfficiencyRecord>,
}

impl Record {
    /// The kernel as the tables show it: with `#N` when the record is rung N of a ladder.
    pub fn label(&self) -> String {
        match self.rung {
            Some(n) => format!("{} #{n}", self.kernel),
            None => self.kernel.clone(),
        }
    }

    pub fn new(group: &'static str, kernel: &str, shape: String) -> Self {
        Record {
            group,
            kernel: kernel.to_string(),
            shape,
            ..Default::default()
        }
    }

    /// Fills the timing and the rates implied by the FLOP and byte counts.
    /// A timing without samples (a count-only run) leaves the times and rates unset.
    pub fn timed(mut self, t: Timing, flops: Option<u64>, bytes: Option<u64>) -> Self {
        self.repeats = t.repeats;
        self.flops = flops;
        self.bytes = bytes;
        if t.repeats > 0 {
            self.median_ms = Some(t.median_ms);
            self.min_ms = Some(t.min_ms);
            self.tflops = flops.map(|f| tflops(f, t.median_ms));
            self.gbps = bytes.map(|b| gbps(b, t.median_ms));
        }
        // A timing with no launch (the copy baseline) has no kernel efficiency.
        let counted = t.counts.as_ref().filter(|c| !c.launches.is_empty());
        self.efficiency = counted.map(|c| {
            let cost = OpCost {
                matrix_flops: flops.map(|f| f as f64),
                compulsory_bytes: bytes.map(|b| b as f64),
            };
            efficiency::entry(&self.kernel, c, cost)
        });
        self
    }

    pub fn goal(mut self, goal: &str) -> Self {
        self.goal = goal.to_string();
        self
    }

    pub fn note(mut self, note: &str) -> Self {
        self.note = note.to_string();
        self
    }
}

/// The whole run.
#[derive(Debug, Serialize)]
pub struct Report {
    pub device: String,
    /// false on the emulator: its times are host wall clock and say nothing about a GPU.
    pub gpu_numbers: bool,
    pub timing: String,
    pub l2_flush_bytes: usize,
    /// Measured device-to-device copy bandwidth (the element-wise roofline), GB/s.
    pub bandwidth_gbps: Option<f64>,
    pub peak_bf16_tflops: Option<f64>,
    pub peak_source: Option<String>,
    pub cublas: String,
    pub records: Vec<Record>,
}

fn opt(v: Option<f64>, prec: usize) -> String {
    v.map_or("-".into(), |x| format!("{x:.prec$}"))
}

/// A rate with a few significant digits: emulator rates are tiny and must not print as 0.0.
fn rate(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(x) if x >= 100.0 => format!("{x:.0}"),
        Some(x) if x >= 1.0 => format!("{x:.1}"),
        Some(0.0) => "0".into(),
        Some(x) => format!("{x:.2e}"),
    }
}

/// Bytes in the largest binary unit that keeps the number ≥ 1.
pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut x = b as f64;
    let mut u = 0;
    while x >= 1024.0 && u + 1 < UNITS.len() {
        x /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{x:.2} {}", UNITS[u])
    }
}

impl Report {
    pub fn print_table(&self) {
        println!("rlvr bench kernels on {}", self.device);
        println!("timing: {}", self.timing);
        if self
            .records
            .iter()
            .any(|r| r.repeats == 0 && r.efficiency.is_some())
        {
            println!(
                "COUNT-ONLY RUN AT TRAINING SHAPES: no times (median ms is -); the ESTIMATED H100 \
                 times are in the efficiency table below"
            );
        } else if !self.gpu_numbers {
            println!(
                "EMULATOR WALL TIMES — NOT GPU NUMBERS: tiny shapes, only the code paths, FLOP/byte \
                 counts and launch configurations are exercised; no baselines or ratios"
            );
        }
        println!(
            "bandwidth (d2d copy): {} GB/s; bf16 peak: {} TFLOP/s{}; cuBLAS: {}",
            rate(self.bandwidth_gbps),
            rate(self.peak_bf16_tflops),
            self.peak_source
                .as_deref()
                .map_or(String::new(), |s| format!(" ({s})")),
            self.cublas
        );
        println!(
            "{:<24} {:<40} {:>10} {:>9} {:>9} {:<24} {:>7} {:<34} {:<4}",
            "kernel", "shape", "median ms", "TFLOP/s", "GB/s", "baseline", "ratio", "goal", "met"
        );
        for r in &self.records {
            println!(
                "{:<24} {:<40} {:>10} {:>9} {:>9} {:<24} {:>7} {:<34} {:<4}{}",
                r.label(),
                r.shape,
                opt(r.median_ms, 4),
                rate(r.tflops),
                rate(r.gbps),
                r.baseline.as_deref().unwrap_or("-"),
                opt(r.ratio, 2),
                r.goal,
                match r.met {
                    Some(true) => "yes",
                    Some(false) => "NO",
                    None => "-",
                },
                if r.note.is_empty() {
                    String::new()
                } else {
                    format!("  ({})", r.note)
                }
            );
        }
        self.print_efficiency();
    }

    /// The entries' counted efficiency (`--counters` on the emulator), one row per entry.
    fn print_efficiency(&self) {
        let rows: Vec<(&Record, &EfficiencyRecord)> = self
            .records
            .iter()
            .filter_map(|r| r.efficiency.as_ref().map(|e| (r, e)))
            .collect();
        if rows.is_empty() {
            return;
        }
        println!();
        println!(
            "efficiency of one call, COUNTED on the emulator; times are an ESTIMATE for an H100 \
             SXM from published peaks (README: Kernel efficiency)"
        );
        println!(
            "{:<24} {:<40} {:>8} {:>8} {:>8} {:>9} {:>9} {:>10} {:<10}",
            "kernel",
            "shape",
            "launches",
            "tc share",
            "sect eff",
            "bytes/cmp",
            "wavef/req",
            "est H100us",
            "bound"
        );
        for (r, e) in rows {
            println!(
                "{:<24} {:<40} {:>8} {:>8} {:>8} {:>9} {:>9} {:>10} {:<10}",
                r.label(),
                r.shape,
                e.launches,
                opt(e.tc_flop_share, 2),
                opt(e.global_sector_efficiency, 2),
                opt(e.global_bytes_over_compulsory, 2),
                opt(e.smem_wavefronts_per_request, 2),
                format!("{:.3}", e.est_h100_us),
                e.est_bound
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_bytes_print_readably() {
        assert_eq!(rate(Some(3012.4)), "3012");
        assert_eq!(rate(Some(12.34)), "12.3");
        assert_eq!(rate(Some(0.000123)), "1.23e-4");
        assert_eq!(rate(None), "-");
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(3 << 29), "1.50 GiB");
    }
}
