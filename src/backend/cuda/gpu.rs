//! The CUDA device: one context and stream (event tracking off), a lazily filled module cache over
//! the embedded fatbins, and a caching allocator keyed by size class so ops don't cuMemAlloc
//! every time. Nothing here has run on a GPU yet (see docs/gpu-log.md).
use super::detect::cuda_available;
use super::device::{KernelArgs, KernelDevice, LaunchCfg, RawBuf, TensorMapArg};
use super::kernels;
use crate::backend::emu::hopper::{TensorMap, TensorMapSpec, TmaSwizzle};
use anyhow::{anyhow, bail, Context, Result};
use cudarc::driver::{result, sys, CudaContext, CudaEvent, CudaFunction, CudaModule, CudaStream};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Dynamic shared memory above this needs the per-function opt-in attribute.
const DEFAULT_SMEM_LIMIT: u32 = 48 * 1024;

pub struct Gpu {
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    modules: Mutex<HashMap<&'static str, Arc<CudaModule>>>,
    functions: Mutex<HashMap<String, (CudaFunction, u32)>>,
    pool: Arc<Pool>,
}

/// Free device blocks by size class. Blocks go back here when their `RawBuf` drops.
struct Pool {
    ctx: Arc<CudaContext>,
    free: Mutex<HashMap<usize, Vec<u64>>>,
}

/// Size classes: 512 B minimum, then four classes per power of two (at most 25% waste).
pub fn size_class(bytes: usize) -> usize {
    if bytes <= 512 {
        return 512;
    }
    let hb = usize::BITS - (bytes - 1).leading_zeros(); // 2^(hb-1) < bytes <= 2^hb
    let step = 1usize << (hb - 3);
    bytes.div_ceil(step) * step
}

struct PooledBlock {
    pool: Arc<Pool>,
    ptr: u64,
    class: usize,
}

impl Drop for PooledBlock {
    fn drop(&mut self) {
        if let Ok(mut f) = self.pool.free.lock() {
            f.entry(self.class).or_default().push(self.ptr);
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        if self.ctx.bind_to_thread().is_err() {
            return;
        }
        if let Ok(f) = self.free.get_mut() {
            for p in f.drain().flat_map(|(_, v)| v) {
                // SAFETY: every pointer came from malloc_sync and no RawBuf refers to it any more.
                unsafe {
                    let _ = result::free_sync(p);
                }
            }
        }
    }
}

impl Gpu {
    /// Opens device `ordinal`. Errors (never panics) when there is no usable GPU.
    pub fn new(ordinal: usize) -> Result<Self> {
        let n = cuda_available().map_err(|e| anyhow!("no CUDA device: {e}"))?;
        if ordinal >= n {
            bail!("CUDA device {ordinal} requested but only {n} present");
        }
        if !kernels::KERNELS_COMPILED {
            bail!("this binary was built without nvcc, so it has no CUDA kernels (build with REQUIRE_NVCC=1)");
        }
        let ctx = CudaContext::new(ordinal).context("creating the CUDA context")?;
        // SAFETY: called before any allocation or launch on this context; one stream is used.
        unsafe { ctx.disable_event_tracking() };
        let stream = ctx.new_stream().context("creating a CUDA stream")?;
        let pool = Arc::new(Pool {
            ctx: ctx.clone(),
            free: Mutex::new(HashMap::new()),
        });
        Ok(Gpu {
            ctx,
            stream,
            modules: Mutex::new(HashMap::new()),
            functions: Mutex::new(HashMap::new()),
            pool,
        })
    }

    pub fn context(&self) -> &Arc<CudaContext> {
        &self.ctx
    }

    pub fn stream(&self) -> &Arc<CudaStream> {
        &self.stream
    }

    /// A timing event recorded on the stream now. Only explicit events like this one exist:
    /// cudarc's per-buffer event tracking stays off.
    pub fn timing_event(&self) -> Result<CudaEvent> {
        self.stream
            .record_event(Some(sys::CUevent_flags::CU_EVENT_DEFAULT))
            .context("recording a timing event")
    }

    /// Size of the device's L2 cache in bytes.
    pub fn l2_cache_bytes(&self) -> Result<usize> {
        let b = self
            .ctx
            .attribute(sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE)
            .context("querying the L2 cache size")?;
        Ok(b.max(0) as usize)
    }

    /// Fills `buf` with `byte` on the stream (asynchronous).
    pub fn memset_async(&self, buf: &RawBuf, byte: u8) -> Result<()> {
        self.ctx.bind_to_thread()?;
        // SAFETY: buf is a live allocation of buf.bytes bytes on this context.
        unsafe { result::memset_d8_async(buf.ptr, byte, buf.bytes, self.stream.cu_stream()) }
            .context("cuMemsetD8Async")
    }

    /// Copies `bytes` from `src` to `dst` on the stream (asynchronous).
    pub fn copy_async(&self, dst: &RawBuf, src: &RawBuf, bytes: usize) -> Result<()> {
        if bytes > dst.bytes || bytes > src.bytes {
            bail!(
                "device copy of {bytes} bytes between buffers of {} and {}",
                src.bytes,
                dst.bytes
            );
        }
        self.ctx.bind_to_thread()?;
        // SAFETY: both are live allocations of at least `bytes` bytes on this context.
        unsafe { result::memcpy_dtod_async(dst.ptr, src.ptr, bytes, self.stream.cu_stream()) }
            .context("cuMemcpyDtoDAsync")
    }

    /// Returns every cached free block to the driver (benches call it between large entries).
    pub fn trim_pool(&self) -> Result<()> {
        self.synchronize()?;
        self.ctx.bind_to_thread()?;
        let mut f = self
            .pool
            .free
            .lock()
            .map_err(|_| anyhow!("allocator pool poisoned"))?;
        for p in f.drain().flat_map(|(_, v)| v) {
            // SAFETY: blocks in the free lists are owned by no RawBuf.
            unsafe { result::free_sync(p) }.context("cuMemFree")?;
        }
        Ok(())
    }

    /// The function handle for `kernel`, loading its file's fatbin on first use.
    fn function(&self, kernel: &str, smem: u32) -> Result<CudaFunction> {
        let mut fns = self
            .functions
            .lock()
            .map_err(|_| anyhow!("function cache poisoned"))?;
        if let Some((f, opt_in)) = fns.get_mut(kernel) {
            if smem > DEFAULT_SMEM_LIMIT && smem > *opt_in {
                f.set_attribute(
                    sys::CUfunction_attribute_enum::CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                    smem as i32,
                )
                .with_context(|| format!("{kernel}: opting in to {smem} bytes of shared memory"))?;
                *opt_in = smem;
            }
            return Ok(f.clone());
        }
        let file = kernels::file_of(kernel)
            .ok_or_else(|| anyhow!("no kernel named {kernel} in kernels/*.cu"))?;
        let module = {
            let mut mods = self
                .modules
                .lock()
                .map_err(|_| anyhow!("module cache poisoned"))?;
            match mods.get(file) {
                Some(m) => m.clone(),
                None => {
                    let bytes = kernels::fatbin(file)
                        .filter(|b| !b.is_empty())
                        .ok_or_else(|| anyhow!("fatbin {file} is empty"))?;
                    let m = self
                        .ctx
                        .load_module(cudarc::nvrtc::Ptx::from_binary(bytes.to_vec()))
                        .with_context(|| format!("loading kernels/{file}.cu fatbin"))?;
                    mods.insert(file, m.clone());
                    m
                }
            }
        };
        let f = module
            .load_function(kernel)
            .with_context(|| format!("{kernel} in kernels/{file}.cu"))?;
        let mut opt_in = DEFAULT_SMEM_LIMIT;
        if smem > DEFAULT_SMEM_LIMIT {
            f.set_attribute(
                sys::CUfunction_attribute_enum::CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                smem as i32,
            )
            .with_context(|| format!("{kernel}: opting in to {smem} bytes of shared memory"))?;
            opt_in = smem;
        }
        fns.insert(kernel.to_string(), (f.clone(), opt_in));
        Ok(f)
    }
}

impl KernelDevice for Gpu {
    fn gpu(&self) -> Option<&Gpu> {
        Some(self)
    }

    /// sm_90a code runs on compute capability 9.0 only (not on 10.x and later).
    fn has_sm90a(&self) -> bool {
        matches!(self.ctx.compute_capability(), Ok((9, 0)))
    }

    fn sm_count(&self) -> usize {
        self.ctx
            .attribute(sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)
            .map_or(super::device::H100_SMS, |n| n.max(1) as usize)
    }

    fn max_smem_per_block(&self) -> usize {
        // Unknown: the 48 KiB every device has (the largest tiles then stay off).
        self.ctx
            .attribute(
                sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN,
            )
            .map_or(DEFAULT_SMEM_LIMIT as usize, |n| n.max(0) as usize)
    }

    fn tensor_map(&self, spec: &TensorMapSpec) -> Result<TensorMapArg> {
        Ok(TensorMapArg::Value(encode_tensor_map(spec)?))
    }

    fn name(&self) -> String {
        let name = self.ctx.name().unwrap_or_else(|_| "CUDA device".into());
        match self.ctx.compute_capability() {
            Ok((ma, mi)) => format!("{name} (sm_{ma}{mi})"),
            Err(_) => name,
        }
    }

    fn alloc_bytes(&self, bytes: usize) -> Result<RawBuf> {
        let class = size_class(bytes);
        let cached = self
            .pool
            .free
            .lock()
            .ok()
            .and_then(|mut f| f.get_mut(&class).and_then(|v| v.pop()));
        let ptr = match cached {
            Some(p) => p,
            None => {
                self.ctx.bind_to_thread()?;
                // SAFETY: plain device allocation; freed by the pool.
                unsafe { result::malloc_sync(class) }
                    .with_context(|| format!("cuMemAlloc of {class} bytes"))?
            }
        };
        let owner = PooledBlock {
            pool: self.pool.clone(),
            ptr,
            class,
        };
        Ok(RawBuf {
            ptr,
            bytes,
            _owner: Box::new(owner),
        })
    }

    fn htod_bytes(&self, src: &[u8], dst: &RawBuf) -> Result<()> {
        if src.len() > dst.bytes {
            bail!(
                "host-to-device copy of {} bytes into a {}-byte buffer",
                src.len(),
                dst.bytes
            );
        }
        self.ctx.bind_to_thread()?;
        // SAFETY: dst is a live allocation of at least src.len() bytes; the stream is synchronised
        // before returning, so `src` outlives the copy.
        unsafe { result::memcpy_htod_async(dst.ptr, src, self.stream.cu_stream()) }
            .context("cuMemcpyHtoDAsync")?;
        self.stream
            .synchronize()
            .context("synchronising after a host-to-device copy")?;
        Ok(())
    }

    fn dtoh_bytes(&self, src: &RawBuf, dst: &mut [u8]) -> Result<()> {
        if dst.len() > src.bytes {
            bail!(
                "device-to-host copy of {} bytes from a {}-byte buffer",
                dst.len(),
                src.bytes
            );
        }
        self.ctx.bind_to_thread()?;
        // SAFETY: src is a live allocation of at least dst.len() bytes; synchronised before return.
        unsafe { result::memcpy_dtoh_async(dst, src.ptr, self.stream.cu_stream()) }
            .context("cuMemcpyDtoHAsync")?;
        self.stream
            .synchronize()
            .context("synchronising after a device-to-host copy (a kernel may have faulted)")?;
        Ok(())
    }

    fn launch(&self, kernel: &str, cfg: &LaunchCfg, args: &mut KernelArgs) -> Result<()> {
        let f = self.function(kernel, cfg.smem_bytes)?;
        let mut params = args.param_ptrs();
        self.ctx.bind_to_thread()?;
        // SAFETY: `params` point at argument values that match the kernel's signature (the same
        // marshalling is checked against the signature by the emulator's parity tests).
        unsafe {
            result::launch_kernel(
                f.cu_function(),
                (cfg.grid[0], cfg.grid[1], cfg.grid[2]),
                (cfg.block[0], cfg.block[1], cfg.block[2]),
                cfg.smem_bytes,
                self.stream.cu_stream(),
                &mut params,
            )
        }
        .with_context(|| {
            format!(
                "launching {kernel} grid {:?} block {:?} smem {}",
                cfg.grid, cfg.block, cfg.smem_bytes
            )
        })
    }

    fn synchronize(&self) -> Result<()> {
        self.stream.synchronize().context("cuStreamSynchronize")
    }
}

/// `cuTensorMapEncodeTiled` on a 2-D spec (the driver checks the arguments; its error is returned
/// with the spec).
fn encode_tensor_map(spec: &TensorMapSpec) -> Result<TensorMap> {
    use sys::CUtensorMapDataType_enum as D;
    use sys::CUtensorMapL2promotion_enum as L2;
    use sys::CUtensorMapSwizzle_enum as Sw;
    let dtype = match spec.dtype {
        7 => D::CU_TENSOR_MAP_DATA_TYPE_FLOAT32,
        9 => D::CU_TENSOR_MAP_DATA_TYPE_BFLOAT16,
        d => bail!("tensor map: data type {d} is not one the kernels use"),
    };
    let swizzle = match spec.swizzle {
        TmaSwizzle::None => Sw::CU_TENSOR_MAP_SWIZZLE_NONE,
        TmaSwizzle::B32 => Sw::CU_TENSOR_MAP_SWIZZLE_32B,
        TmaSwizzle::B64 => Sw::CU_TENSOR_MAP_SWIZZLE_64B,
        TmaSwizzle::B128 => Sw::CU_TENSOR_MAP_SWIZZLE_128B,
    };
    let l2 = match spec.l2_promotion {
        0 => L2::CU_TENSOR_MAP_L2_PROMOTION_NONE,
        1 => L2::CU_TENSOR_MAP_L2_PROMOTION_L2_64B,
        2 => L2::CU_TENSOR_MAP_L2_PROMOTION_L2_128B,
        3 => L2::CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
        p => bail!("tensor map: L2 promotion {p} is not a CUtensorMapL2promotion"),
    };
    if spec.interleave != 0 || spec.oob_fill != 0 {
        bail!("tensor map: only no interleave and zero fill are used ({spec:?})");
    }
    let mut map = sys::CUtensorMap { opaque: [0; 16] };
    // SAFETY: the dims, strides and box arrays have the lengths rank 2 needs and outlive the call;
    // the driver only records the global address.
    let rc = unsafe {
        sys::cuTensorMapEncodeTiled(
            &mut map,
            dtype,
            2,
            spec.global_address as *mut std::ffi::c_void,
            spec.global_dim.as_ptr(),
            spec.global_strides.as_ptr(),
            spec.box_dim.as_ptr(),
            spec.element_strides.as_ptr(),
            sys::CUtensorMapInterleave_enum::CU_TENSOR_MAP_INTERLEAVE_NONE,
            swizzle,
            l2,
            sys::CUtensorMapFloatOOBfill_enum::CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE,
        )
    };
    rc.result()
        .with_context(|| format!("cuTensorMapEncodeTiled of {spec:?}"))?;
    let mut out = TensorMap([0u8; 128]);
    out.0.copy_from_slice(bytemuck::cast_slice(&map.opaque));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::size_class;

    #[test]
    fn size_classes_cover_the_request_with_bounded_waste() {
        for bytes in [1usize, 511, 512, 513, 1000, 4096, 4097, 123_457, 1 << 30] {
            let c = size_class(bytes);
            assert!(c >= bytes, "{bytes} -> {c}");
            assert!(
                bytes <= 512 || (c - bytes) * 4 <= bytes,
                "{bytes} -> {c} wastes too much"
            );
        }
        assert_eq!(size_class(4097), 5120);
    }
}
