//! NCCL point-to-point on the GPU's stream: the `DeviceComm` transport for one process per GPU.
//! An exchange is one NCCL group of ncclSend/ncclRecv of f32 ranges, enqueued on the `Gpu`'s
//! only stream, so the kernels after it see the received data without a host synchronisation.
//!
//! cudarc loads libnccl lazily and panics when it (or a symbol) is missing; every entry point
//! here checks the library first and turns such a panic into an error naming the fix.
//! Nothing in this file has run on a GPU yet (see docs/gpu-log.md).
use super::device_comm::{nccl_version_string, DeviceComm, Slice, NCCL_MISSING_HINT};
use super::Comm;
use crate::backend::cuda::device::KernelDevice;
use crate::backend::cuda::gpu::Gpu;
use anyhow::{anyhow, bail, Context, Result};
use cudarc::driver::CudaContext;
use cudarc::nccl::{result, sys};
use std::cell::Cell;
use std::ffi::{c_int, c_void, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

/// Bytes of an ncclUniqueId.
pub const ID_BYTES: usize = 128;

/// Runs `f` (which calls into libnccl) after checking that the library loads, with cudarc's
/// loading panics turned into errors.
fn guarded<T>(what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    // SAFETY: only tries to dlopen libnccl under cudarc's candidate names.
    if !unsafe { sys::is_culib_present() } {
        bail!("{what}: {NCCL_MISSING_HINT}");
    }
    no_panic(what, f)
}

/// `f`, with a panic (cudarc's "Missing symbol …") as an error.
fn no_panic<T>(what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            let msg = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "a panic in cudarc's NCCL bindings".into());
            bail!("{what}: {msg} (an NCCL older than the bindings? {NCCL_MISSING_HINT})")
        }
    }
}

/// An NCCL status as text: its name, NCCL's description, and the last error NCCL logged.
fn nccl_error(e: result::NcclError) -> anyhow::Error {
    // SAFETY: both return static, NUL-terminated strings owned by NCCL (or null).
    let text = |p: *const std::ffi::c_char| {
        (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
    };
    let desc = text(unsafe { sys::ncclGetErrorString(e.0) }).unwrap_or_default();
    let last = text(unsafe { sys::ncclGetLastError(std::ptr::null_mut()) }).unwrap_or_default();
    anyhow!(
        "{:?}: {desc}{}",
        e.0,
        if last.is_empty() {
            String::new()
        } else {
            format!(" ({last})")
        }
    )
}

fn check(
    r: Result<result::NcclStatus, result::NcclError>,
    what: impl FnOnce() -> String,
) -> Result<()> {
    r.map(|_| ()).map_err(|e| nccl_error(e).context(what()))
}

/// The loaded NCCL's version, "2.27.3".
pub fn version() -> Result<String> {
    guarded("NCCL version", || {
        let code = result::get_nccl_version().map_err(nccl_error)?;
        Ok(nccl_version_string(code))
    })
}

/// A fresh NCCL unique id (rank 0 makes it; the others receive it).
pub fn unique_id() -> Result<[u8; ID_BYTES]> {
    guarded("ncclGetUniqueId", || {
        let id = result::get_uniqueid().map_err(nccl_error)?;
        Ok(id.internal.map(|c| c as u8))
    })
}

pub struct Nccl {
    comm: sys::ncclComm_t,
    rank: usize,
    world: usize,
    ordinal: usize,
    ctx: Arc<CudaContext>,
    version: String,
    /// After a failed call the communicator is aborted, not destroyed, on drop.
    failed: Cell<bool>,
}

impl Nccl {
    /// Joins the communicator `id` as `rank` of `world` on `gpu`'s device. Blocks until every
    /// rank has joined.
    pub fn new(gpu: &Gpu, rank: usize, world: usize, id: &[u8]) -> Result<Nccl> {
        if id.len() != ID_BYTES {
            bail!("an NCCL unique id has {ID_BYTES} bytes, not {}", id.len());
        }
        if world == 0 || rank >= world {
            bail!("NCCL rank {rank} of a world of {world}");
        }
        let nranks = c_int::try_from(world).context("NCCL world size")?;
        let me = c_int::try_from(rank).context("NCCL rank")?;
        let mut uid = sys::ncclUniqueId {
            internal: [0; ID_BYTES],
        };
        for (d, s) in uid.internal.iter_mut().zip(id) {
            *d = *s as std::ffi::c_char;
        }
        let ctx = gpu.context().clone();
        let version = version()?;
        let comm = guarded("ncclCommInitRank", || {
            ctx.bind_to_thread().context("binding the CUDA context")?;
            let mut comm: sys::ncclComm_t = std::ptr::null_mut();
            // SAFETY: `comm` is a valid out-pointer; NCCL takes the device from the context bound
            // to this thread just above.
            check(
                unsafe { result::comm_init_rank(&mut comm, nranks, uid, me) },
                || format!("ncclCommInitRank (rank {rank} of {world}, NCCL {version})"),
            )?;
            Ok(comm)
        })?;
        Ok(Nccl {
            comm,
            rank,
            world,
            ordinal: ctx.ordinal(),
            ctx,
            version,
            failed: Cell::new(false),
        })
    }

    /// Every rank of `comm` calls this: each checks that it can load NCCL (so one rank without
    /// the library fails all of them instead of leaving the others waiting), rank 0 makes the
    /// unique id, `comm` broadcasts it, and all join.
    pub fn bootstrap(comm: &dyn Comm, gpu: &Gpu) -> Result<Nccl> {
        let (rank, world) = (comm.rank(), comm.world_size());
        let mine = version();
        let status = match &mine {
            Ok(v) => format!("ok {v}"),
            Err(e) => format!("error {e:#}"),
        };
        let all = comm.all_gather_bytes(status.as_bytes())?;
        let all: Vec<String> = all
            .iter()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .collect();
        let mine = mine?;
        let bad: Vec<String> = all
            .iter()
            .enumerate()
            .filter(|(_, s)| !s.starts_with("ok "))
            .map(|(q, s)| format!("rank {q}: {}", s.trim_start_matches("error ")))
            .collect();
        if !bad.is_empty() {
            bail!("NCCL is not usable on every rank: {}", bad.join("; "));
        }
        if let Some((q, s)) = all.iter().enumerate().find(|(_, s)| s[3..] != mine) {
            bail!(
                "NCCL versions differ: rank {rank} has {mine}, rank {q} has {}",
                &s[3..]
            );
        }
        let mut id = Vec::new();
        let mut made = Ok(());
        if rank == 0 {
            match unique_id() {
                Ok(u) => id = u.to_vec(),
                Err(e) => made = Err(e),
            }
        }
        // Rank 0 broadcasts even when it failed (an empty id), so nobody waits for it.
        comm.broadcast_bytes(0, &mut id)?;
        made?;
        if id.len() != ID_BYTES {
            bail!("rank 0 could not create the NCCL unique id (see its log)");
        }
        Nccl::new(gpu, rank, world, &id)
    }

    fn exchange(
        &self,
        gpu: &Gpu,
        sends: &[Vec<Slice<'_>>],
        recvs: &[Vec<Slice<'_>>],
    ) -> Result<()> {
        // Device addresses first: a bad range is an error before anything is enqueued.
        let ptrs = |lists: &[Vec<Slice<'_>>]| -> Result<Vec<Vec<(u64, usize)>>> {
            lists
                .iter()
                .map(|l| {
                    l.iter()
                        .filter(|s| s.len > 0)
                        .map(|s| Ok((s.buf.view(s.offset, s.len)?.raw().device_ptr(), s.len)))
                        .collect()
                })
                .collect()
        };
        let (sends, recvs) = (ptrs(sends)?, ptrs(recvs)?);
        self.ctx
            .bind_to_thread()
            .context("binding the CUDA context")?;
        let stream = gpu.stream().cu_stream() as sys::cudaStream_t;
        let f32_t = sys::ncclDataType_t::ncclFloat32;
        check(result::group_start(), || "ncclGroupStart".into())?;
        let mut first_err = Ok(());
        'ops: for q in 0..self.world {
            let peer = q as c_int;
            for &(p, n) in &sends[q] {
                // SAFETY: p..p + 4n is a live device range (checked by `view`) on this device;
                // the stream orders it with the kernels around it.
                let r =
                    unsafe { result::send(p as *const c_void, n, f32_t, peer, self.comm, stream) };
                first_err = check(r, || format!("ncclSend of {n} floats to rank {q}"));
                if first_err.is_err() {
                    break 'ops;
                }
            }
            for &(p, n) in &recvs[q] {
                // SAFETY: as above, for the receive range.
                let r =
                    unsafe { result::recv(p as *mut c_void, n, f32_t, peer, self.comm, stream) };
                first_err = check(r, || format!("ncclRecv of {n} floats from rank {q}"));
                if first_err.is_err() {
                    break 'ops;
                }
            }
        }
        // The group is closed even after an error, or NCCL stays in group mode.
        let ended = check(result::group_end(), || "ncclGroupEnd".into());
        first_err.and(ended)
    }
}

impl DeviceComm for Nccl {
    fn rank(&self) -> usize {
        self.rank
    }
    fn exchange_alone(&self) -> bool {
        true
    }
    fn world_size(&self) -> usize {
        self.world
    }

    fn exchange_f32(
        &self,
        dev: &dyn KernelDevice,
        sends: &[Vec<Slice<'_>>],
        recvs: &[Vec<Slice<'_>>],
    ) -> Result<()> {
        let world = self.world;
        if sends.len() != world || recvs.len() != world {
            bail!(
                "exchange: {} send and {} receive lists for a world of {world}",
                sends.len(),
                recvs.len()
            );
        }
        let Some(gpu) = dev.gpu() else {
            bail!(
                "NCCL exchange on {}, which is not a CUDA device",
                dev.name()
            );
        };
        if gpu.context().ordinal() != self.ordinal {
            bail!(
                "NCCL communicator of GPU {} used with GPU {}",
                self.ordinal,
                gpu.context().ordinal()
            );
        }
        // The library is loaded (the communicator exists): no need to probe it on every call.
        let r = no_panic("NCCL exchange", || self.exchange(gpu, sends, recvs));
        if r.is_err() {
            self.failed.set(true);
        }
        r.with_context(|| format!("NCCL rank {} of {}", self.rank, self.world))
    }

    fn describe(&self) -> String {
        format!(
            "NCCL {} rank {} of {} on GPU {}",
            self.version, self.rank, self.world, self.ordinal
        )
    }
}

impl Drop for Nccl {
    fn drop(&mut self) {
        let (comm, failed) = (self.comm, self.failed.get());
        let ctx = self.ctx.clone();
        // Never unwind out of drop.
        let _ = catch_unwind(AssertUnwindSafe(move || {
            let _ = ctx.bind_to_thread();
            // SAFETY: `comm` came from ncclCommInitRank and is released exactly once, here.
            let r = unsafe {
                if failed {
                    result::comm_abort(comm)
                } else {
                    result::comm_destroy(comm)
                }
            };
            if let Err(e) = r {
                eprintln!(
                    "warning: releasing the NCCL communicator: {:#}",
                    nccl_error(e)
                );
            }
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_library_is_an_error_not_a_panic() {
        // This machine may or may not have libnccl; either way nothing panics.
        match version() {
            Ok(v) => assert!(v.starts_with("2."), "{v}"),
            Err(e) => assert!(format!("{e:#}").contains("LD_LIBRARY_PATH"), "{e:#}"),
        }
        match unique_id() {
            Ok(id) => assert!(id.iter().any(|&b| b != 0)),
            Err(e) => assert!(format!("{e:#}").contains("libnccl.so"), "{e:#}"),
        }
    }

    #[test]
    fn loader_panics_become_errors() {
        let err = no_panic("ncclSend", || -> Result<()> {
            panic!("Missing symbol ncclSend")
        })
        .unwrap_err();
        let msg = format!("{err:#}");
        assert!(
            msg.contains("Missing symbol ncclSend") && msg.contains("libnccl.so"),
            "{msg}"
        );
        assert_eq!(no_panic("ok", || Ok(3)).unwrap(), 3);
    }
}
