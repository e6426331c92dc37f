//! `rlvr dist-check`: the device exchange the data-parallel update is built on, checked end to
//! end on this process's device and ranks. Every rank sends a known f32 pattern to every rank
//! (itself included, each message as two slices at offsets of one buffer) and checks what
//! arrived; then a few timed exchanges. With `--device cuda --nccl` it is the NCCL smoke test
//! (one rank is enough); with `--device emu` it runs the host-staged path anywhere.
use super::device::DeviceArg;
use crate::backend::cuda::device::{
    copy_to_device, download, filled, upload, DevBuf, KernelDevice,
};
use crate::dist::device_comm::device_comm_for;
use crate::dist::device_comm::{DeviceComm, Slice};
use crate::dist::Comm;
use anyhow::{bail, Result};
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The device whose buffers are exchanged: cuda (a GPU per rank, chosen by LOCAL_RANK) or emu
    /// (the host emulator; buffers staged through the host).
    #[arg(long, value_enum)]
    pub device: DeviceArg,
    /// Move device buffers with NCCL (GPU only; needs a binary built with `--features nccl`).
    /// Without it, or off a GPU, they are staged through the host collectives.
    #[arg(long)]
    pub nccl: bool,
    /// Floats this rank sends to each rank.
    #[arg(long, default_value_t = 4096)]
    pub floats: usize,
    /// Timed exchanges after the checked one.
    #[arg(long, default_value_t = 3)]
    pub repeats: usize,
    /// Thread order of the emulator.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

pub fn run(a: Args) -> Result<()> {
    if a.device == DeviceArg::Cpu {
        bail!("dist-check exchanges device buffers: use --device cuda or --device emu");
    }
    let comm = crate::dist::launch::init(None)?;
    let result = check(&*comm, &a);
    if let Err(e) = &result {
        if comm.world_size() > 1 {
            // The other ranks may be waiting in a collective for this one.
            eprintln!("error: rank {}: {e:#}", comm.rank());
            comm.abort(1);
        }
    }
    result
}

fn check(comm: &dyn Comm, a: &Args) -> Result<()> {
    let Some(dev) = a.device.kernel_device(a.seed)? else {
        bail!("--device cpu has no device buffers");
    };
    #[cfg(feature = "nccl")]
    if a.nccl && dev.gpu().is_some() {
        eprintln!("NCCL library version {}", crate::dist::nccl::version()?);
    }
    let dc = device_comm_for(comm, &*dev, a.nccl)?;
    eprintln!("{} on {}", comm.describe(), dev.name());
    let ex = PatternExchange::new(&*dev, dc.rank(), dc.world_size(), a.floats)?;
    ex.exchange(&*dc, &*dev)?;
    let n = ex.verify(&*dev)?;
    // Timed exchanges into a cleared buffer, checked again afterwards.
    ex.clear(&*dev)?;
    let mut secs = Vec::with_capacity(a.repeats);
    for _ in 0..a.repeats {
        let t0 = Instant::now();
        ex.exchange(&*dc, &*dev)?;
        secs.push(t0.elapsed().as_secs_f64());
    }
    if a.repeats > 0 {
        ex.verify(&*dev)?;
    }
    comm.barrier()?;
    println!("{}: exchange ok ({n} floats)", dc.describe());
    if let Some(best) = secs.iter().copied().reduce(f64::min) {
        let mib = (n * 4) as f64 / (1 << 20) as f64;
        println!(
            "rank {}: {mib:.3} MiB sent and {mib:.3} MiB received per exchange, best of {} {:.3} ms ({:.2} GB/s each way)",
            dc.rank(),
            secs.len(),
            best * 1e3,
            (n * 4) as f64 / best / 1e9
        );
    }
    Ok(())
}

/// What rank `from` sends rank `to` at index `i` (exact in f32 while the product is below 2^24).
fn pattern(from: usize, to: usize, i: usize, world: usize, n: usize) -> f32 {
    ((from * world + to) * n + i) as f32
}

/// This rank's side of an exchange of `n` known floats with every rank (itself included).
pub struct PatternExchange {
    send: DevBuf<f32>,
    recv: DevBuf<f32>,
    rank: usize,
    world: usize,
    n: usize,
}

impl PatternExchange {
    pub fn new(dev: &dyn KernelDevice, rank: usize, world: usize, n: usize) -> Result<Self> {
        if world * world * n > 1 << 24 {
            bail!("--floats {n} with {world} ranks: the check values would not be exact in f32");
        }
        let host: Vec<f32> = (0..world)
            .flat_map(|q| (0..n).map(move |i| pattern(rank, q, i, world, n)))
            .collect();
        Ok(PatternExchange {
            send: upload(dev, &host)?,
            recv: filled(dev, world * n, f32::NAN)?,
            rank,
            world,
            n,
        })
    }

    /// Refill the receive buffer with NaN.
    pub fn clear(&self, dev: &dyn KernelDevice) -> Result<()> {
        copy_to_device(dev, &vec![f32::NAN; self.recv.len()], &self.recv)
    }

    /// One exchange, finished on the device when this returns.
    pub fn exchange(&self, dc: &dyn DeviceComm, dev: &dyn KernelDevice) -> Result<()> {
        if (dc.rank(), dc.world_size()) != (self.rank, self.world) {
            bail!(
                "exchange set up for rank {} of {}, run on rank {} of {}",
                self.rank,
                self.world,
                dc.rank(),
                dc.world_size()
            );
        }
        // Each message as two slices (the first empty when n < 2), so offsets and several
        // operations per peer are exercised.
        let (n, h) = (self.n, self.n / 2);
        let two =
            |buf, q: usize| vec![Slice::new(buf, q * n, h), Slice::new(buf, q * n + h, n - h)];
        let sends: Vec<Vec<Slice>> = (0..self.world).map(|q| two(&self.send, q)).collect();
        let recvs: Vec<Vec<Slice>> = (0..self.world).map(|q| two(&self.recv, q)).collect();
        dc.exchange_f32(dev, &sends, &recvs)?;
        dev.synchronize()
    }

    /// Checks every received float; returns how many there are.
    pub fn verify(&self, dev: &dyn KernelDevice) -> Result<usize> {
        let got = download(dev, &self.recv)?;
        let (r, w, n) = (self.rank, self.world, self.n);
        for f in 0..w {
            for i in 0..n {
                let (x, want) = (got[f * n + i], pattern(f, r, i, w, n));
                if x.to_bits() != want.to_bits() {
                    bail!("rank {r}: element {i} from rank {f} is {x}, expected {want}");
                }
            }
        }
        Ok(w * n)
    }
}

/// One checked exchange of `n` floats from this rank to every rank; returns the floats received.
pub fn check_exchange(dc: &dyn DeviceComm, dev: &dyn KernelDevice, n: usize) -> Result<usize> {
    let ex = PatternExchange::new(dev, dc.rank(), dc.world_size(), n)?;
    ex.exchange(dc, dev)?;
    ex.verify(dev)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::emu::{emu_built, EmuDevice};
    use crate::dist::device_comm::Staged;
    use crate::dist::ThreadComm;

    /// A transport that moves nothing: the check must notice.
    struct Lazy;
    impl DeviceComm for Lazy {
        fn rank(&self) -> usize {
            0
        }
        fn world_size(&self) -> usize {
            1
        }
        fn exchange_f32(
            &self,
            _: &dyn KernelDevice,
            _: &[Vec<Slice>],
            _: &[Vec<Slice>],
        ) -> Result<()> {
            Ok(())
        }
        fn describe(&self) -> String {
            "lazy".into()
        }
    }

    #[test]
    fn staged_exchanges_pass_and_a_broken_transport_fails() {
        if !emu_built() {
            eprintln!("skipped: the emulator was not built");
            return;
        }
        let got = ThreadComm::run(3, |c| {
            let dev = EmuDevice::new(c.rank() as u64).unwrap();
            let dc = Staged { comm: c };
            (
                check_exchange(&dc, &dev, 5).unwrap(),
                check_exchange(&dc, &dev, 1).unwrap(),
            )
        });
        assert_eq!(got, vec![(15, 3); 3]);
        let dev = EmuDevice::new(1).unwrap();
        let err = check_exchange(&Lazy, &dev, 4).unwrap_err();
        assert!(err.to_string().contains("from rank 0"), "{err}");
        assert!(check_exchange(&Lazy, &dev, 1 << 25).is_err());
    }
}
