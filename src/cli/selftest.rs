//! `rlvr selftest`: every CUDA kernel against its f32 CPU reference, on the GPU (`--device cuda`)
//! or on the host emulator (`--device emu`), then whole small models (`model` rows: hidden
//! states, log-probs, entropy and every parameter gradient against the CPU autograd path,
//! `backend::cuda::selftest::model`); `--report` prints the ptxas table of the build.
use crate::backend::cuda::device::KernelDevice;
use crate::backend::cuda::selftest::{self, CheckRow, ShapeSet};
use crate::backend::cuda::{detect, gpu::Gpu, kernels};
use crate::backend::emu::EmuDevice;
use anyhow::{bail, Result};
use std::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SelftestDevice {
    /// The GPU through cudarc (needs libcuda and a device).
    Cuda,
    /// The execution-model emulator: the same kernels compiled for the host.
    Emu,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Where to run the kernels (the emulator needs no GPU).
    #[arg(long, value_enum, default_value_t = SelftestDevice::Cuda)]
    pub device: SelftestDevice,
    /// With `--device cuda` on a machine without a usable GPU: say so and exit 0 instead of failing.
    #[arg(long)]
    pub allow_no_gpu: bool,
    /// Print the ptxas report of this build (registers, spills, shared memory per kernel and arch)
    /// and exit.
    #[arg(long)]
    pub report: bool,
    /// Seed for the random inputs (and the emulator's block and thread order).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Only run checks whose kernel name contains this text.
    #[arg(long)]
    pub filter: Option<String>,
    /// Use the large shape set (real model shapes); the default for cuda, slow on the emulator.
    #[arg(long)]
    pub full: bool,
}

pub fn run(args: Args) -> Result<()> {
    if args.report {
        print_report();
        return Ok(());
    }
    let t0 = Instant::now();
    let (dev, set): (Box<dyn KernelDevice>, ShapeSet) = match args.device {
        SelftestDevice::Emu => {
            let set = if args.full {
                ShapeSet::Full
            } else {
                ShapeSet::Small
            };
            (Box::new(EmuDevice::new(args.seed)?), set)
        }
        SelftestDevice::Cuda => {
            if let Err(e) = detect::cuda_available() {
                if args.allow_no_gpu {
                    println!("selftest --device cuda: no GPU here ({e}); skipped (--allow-no-gpu)");
                    return Ok(());
                }
                bail!(
                    "selftest --device cuda: no GPU here ({e}); pass --allow-no-gpu to accept that"
                );
            }
            (Box::new(Gpu::new(0)?), ShapeSet::Full)
        }
    };
    println!(
        "selftest on {} ({set:?} shapes, seed {})",
        dev.name(),
        args.seed
    );
    let rows = selftest::run_all(dev.as_ref(), set, args.seed, args.filter.as_deref());
    print_table(&rows);
    let failed = rows.iter().filter(|r| !r.pass).count();
    println!(
        "{} checks, {} failed, {:.1} s",
        rows.len(),
        failed,
        t0.elapsed().as_secs_f64()
    );
    if rows.is_empty() {
        bail!("no checks matched the filter");
    }
    if failed > 0 {
        bail!("{failed} kernel checks failed");
    }
    Ok(())
}

fn print_table(rows: &[CheckRow]) {
    println!(
        "{:<32} {:<22} {:>11} {:>11} {:>8}  result",
        "kernel", "shape", "max abs err", "max rel err", "tol"
    );
    for r in rows {
        println!(
            "{:<32} {:<22} {:>11.3e} {:>11.3e} {:>8.0e}  {}{}",
            r.kernel,
            r.shape,
            r.max_abs,
            r.max_rel,
            r.tol,
            if r.pass { "PASS" } else { "FAIL" },
            if r.note.is_empty() {
                String::new()
            } else {
                format!("  ({})", r.note)
            }
        );
    }
}

fn print_report() {
    // Analytic (no GPU needed): what the fused log-prob path saves at the training shape.
    println!(
        "{}",
        crate::backend::cuda::logprob::fused_memory_plan(
            32768,
            152_064,
            3584,
            crate::backend::cuda::logprob::GPU_FUSED_BUDGET_FLOATS
        )
    );
    println!(
        "kernels compiled by nvcc: {} (build time {:.1} s); emulator built: {}",
        kernels::KERNELS_COMPILED,
        kernels::KERNEL_BUILD_SECONDS,
        kernels::EMU_BUILT
    );
    if !kernels::KERNELS_COMPILED {
        println!("(no ptxas report: this binary was built without nvcc)");
        return;
    }
    let mut lines = kernels::PTXAS_REPORT.lines();
    if let Some(h) = lines.next() {
        let cols: Vec<&str> = h.split('\t').collect();
        println!(
            "{:<10} {:<24} {:<7} {:>9} {:>12} {:>11} {:>6} {:>6}",
            cols[0], cols[1], cols[2], "regs", "spill st B", "spill ld B", "stack", "smem"
        );
    }
    for l in lines {
        let c: Vec<&str> = l.split('\t').collect();
        if c.len() == 8 {
            println!(
                "{:<10} {:<24} {:<7} {:>9} {:>12} {:>11} {:>6} {:>6}",
                c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]
            );
        }
    }
}
