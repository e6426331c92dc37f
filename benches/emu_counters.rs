//! What the emulator's efficiency counters cost: one forward → head → backward of every
//! Small selftest model (gemm, attention, norms, RoPE, SwiGLU, the fused log-prob, embeddings), run
//! plain and with counters on every block, alternating, best of `REPEATS` each. Prints both wall
//! times and their ratio (the goal: at most 3x). Host wall clock, not GPU time.
use anyhow::Result;
use rlvr::backend::cuda::selftest::model::{cases, device_step};
use rlvr::backend::cuda::selftest::ShapeSet;
use rlvr::backend::emu::{CountPolicy, EmuDevice};
use std::time::Instant;

const REPEATS: usize = 3;

fn run_all(dev: &EmuDevice) -> Result<()> {
    for case in cases(ShapeSet::Small) {
        device_step(dev, &case, 7, false)?;
    }
    Ok(())
}

fn main() -> Result<()> {
    if !rlvr::backend::emu::emu_built() {
        println!("emu_counters: the emulator is not built into this binary; nothing to measure");
        return Ok(());
    }
    let dev = EmuDevice::new(1)?;
    run_all(&dev)?; // warm-up: stacks, page faults
    let (mut plain, mut counted) = (f64::INFINITY, f64::INFINITY);
    let mut launches = 0;
    for _ in 0..REPEATS {
        let t = Instant::now();
        run_all(&dev)?;
        plain = plain.min(t.elapsed().as_secs_f64());
        dev.start_counting(CountPolicy::exact());
        let t = Instant::now();
        let r = run_all(&dev);
        counted = counted.min(t.elapsed().as_secs_f64());
        launches = dev.finish_counting().map_or(0, |c| c.launches.len());
        r?;
    }
    println!(
        "emu_counters: {} model steps ({launches} launches): plain {:.3} s, counted {:.3} s, \
         ratio {:.2}x (goal <= 3x), best of {REPEATS}",
        cases(ShapeSet::Small).len(),
        plain,
        counted,
        counted / plain
    );
    Ok(())
}
