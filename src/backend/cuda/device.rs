//! The launcher interface shared by the CUDA device and the host emulator: typed device buffers,
//! kernel arguments marshalled exactly as cuLaunchKernel's `void** kernelParams`, and launches.
use crate::backend::emu::hopper::{TensorMap, TensorMapSpec};
use anyhow::{bail, Result};
use std::any::Any;
use std::ffi::c_void;
use std::marker::PhantomData;

/// Element types that live in device buffers.
pub trait DevElem: bytemuck::Pod + Send + Sync + 'static {}
impl DevElem for f32 {}
impl DevElem for half::bf16 {}
impl DevElem for u32 {}
impl DevElem for i32 {}
impl DevElem for u8 {}
impl DevElem for u64 {}

/// Untyped device memory: a device address plus whatever frees it on drop.
pub struct RawBuf {
    pub(crate) ptr: u64,
    pub(crate) bytes: usize,
    pub(crate) _owner: Box<dyn Any + Send + Sync>,
}

impl RawBuf {
    pub fn device_ptr(&self) -> u64 {
        self.ptr
    }
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

/// A typed device buffer of `len` elements.
pub struct DevBuf<T: DevElem> {
    raw: RawBuf,
    len: usize,
    _t: PhantomData<T>,
}

impl<T: DevElem> DevBuf<T> {
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn raw(&self) -> &RawBuf {
        &self.raw
    }

    /// Elements `offset..offset + len` as a buffer of their own, borrowed from `self` (kernels,
    /// copies and collectives then address exactly that range).
    /// The same bytes as elements of `U` (the allocation's owner moves along): outputs of
    /// different element types cut from one allocation, so they come back in one copy.
    pub fn retype<U: DevElem>(self) -> Result<DevBuf<U>> {
        let size = std::mem::size_of::<U>();
        if !self.raw.bytes.is_multiple_of(size) || !self.raw.ptr.is_multiple_of(size as u64) {
            bail!(
                "a {}-byte buffer at {:#x} cannot hold {size}-byte elements",
                self.raw.bytes,
                self.raw.ptr
            );
        }
        Ok(DevBuf {
            len: self.raw.bytes / size,
            raw: self.raw,
            _t: PhantomData,
        })
    }

    pub fn view(&self, offset: usize, len: usize) -> Result<DevView<'_, T>> {
        let end = offset.checked_add(len);
        if end.is_none_or(|e| e > self.len) {
            bail!(
                "view of elements {offset}..{offset}+{len} of a {}-element buffer",
                self.len
            );
        }
        let size = std::mem::size_of::<T>();
        Ok(DevView {
            buf: DevBuf {
                raw: RawBuf {
                    ptr: self.raw.ptr + (offset * size) as u64,
                    bytes: len * size,
                    _owner: Box::new(()),
                },
                len,
                _t: PhantomData,
            },
            _parent: PhantomData,
        })
    }
}

/// A range of a [`DevBuf`], usable wherever a `&DevBuf` is; it cannot outlive its parent.
pub struct DevView<'a, T: DevElem> {
    buf: DevBuf<T>,
    _parent: PhantomData<&'a DevBuf<T>>,
}

impl<T: DevElem> std::ops::Deref for DevView<'_, T> {
    type Target = DevBuf<T>;
    fn deref(&self) -> &DevBuf<T> {
        &self.buf
    }
}

/// One allocation cut into consecutive buffers of `sizes` elements, plus the whole of it as one
/// buffer (all of them keep the allocation alive): a set of tensors that is also one contiguous
/// range, so a collective can move all of them, or any run of them, at once.
pub fn alloc_arena<T: DevElem>(
    dev: &dyn KernelDevice,
    sizes: &[usize],
) -> Result<(DevBuf<T>, Vec<DevBuf<T>>)> {
    let total: usize = sizes.iter().sum();
    let size = std::mem::size_of::<T>();
    let arena = std::sync::Arc::new(dev.alloc_bytes(total * size)?);
    let part = |offset: usize, len: usize| DevBuf {
        raw: RawBuf {
            ptr: arena.ptr + (offset * size) as u64,
            bytes: len * size,
            _owner: Box::new(arena.clone()),
        },
        len,
        _t: PhantomData,
    };
    let mut at = 0;
    let parts = sizes
        .iter()
        .map(|&n| {
            at += n;
            part(at - n, n)
        })
        .collect();
    Ok((part(0, total), parts))
}

/// Grid, block and dynamic shared memory of one launch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LaunchCfg {
    pub grid: [u32; 3],
    pub block: [u32; 3],
    pub smem_bytes: u32,
}

impl LaunchCfg {
    pub fn linear(grid: u32, block: u32, smem_bytes: u32) -> Self {
        LaunchCfg {
            grid: [grid, 1, 1],
            block: [block, 1, 1],
            smem_bytes,
        }
    }
}

/// A loop that every block of a launch runs, its length set by one integer argument: lowering
/// that argument by `step` takes exactly one iteration off every block and changes nothing else
/// a block does (a GEMM's loop over K tiles). A counting emulator may run such a launch at two
/// short lengths and extrapolate its counts to the real one; a GPU ignores it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoopArg {
    /// Position of the argument (a 4- or 8-byte signed integer).
    pub index: usize,
    pub step: i64,
    /// The fewest iterations any block runs: the argument may drop by fewer steps than this
    /// (every block keeps at least one iteration).
    pub min_trips: u64,
}

/// Kernel arguments in declaration order. Each value is stored in its own 8-byte slot;
/// `param_ptrs` gives the array of pointers cuLaunchKernel (and the emulator) read through.
#[derive(Clone, Default)]
pub struct KernelArgs {
    slots: Vec<[u8; 8]>,
    sizes: Vec<usize>,
    /// Arguments wider than a slot (tensor maps passed by value), by position.
    wide: Vec<(usize, Box<TensorMap>)>,
    loop_arg: Option<LoopArg>,
}

impl KernelArgs {
    pub fn new() -> Self {
        Self::default()
    }
    fn push_bytes(&mut self, b: &[u8]) -> &mut Self {
        let mut slot = [0u8; 8];
        slot[..b.len()].copy_from_slice(b);
        self.slots.push(slot);
        self.sizes.push(b.len());
        self
    }
    /// A device pointer (`T*` in the kernel).
    pub fn buf<T: DevElem>(&mut self, b: &DevBuf<T>) -> &mut Self {
        self.push_bytes(&b.raw.ptr.to_ne_bytes())
    }
    /// A device pointer `offset` elements into `b` (checked against its length).
    pub fn buf_at<T: DevElem>(&mut self, b: &DevBuf<T>, offset: usize) -> Result<&mut Self> {
        if offset > b.len {
            bail!(
                "argument offset {offset} is past the end of a {}-element buffer",
                b.len
            );
        }
        let p = b.raw.ptr + (offset * std::mem::size_of::<T>()) as u64;
        Ok(self.push_bytes(&p.to_ne_bytes()))
    }
    /// An optional device pointer: `nullptr` when absent.
    pub fn opt_buf<T: DevElem>(&mut self, b: Option<&DevBuf<T>>) -> &mut Self {
        self.push_bytes(&b.map_or(0u64, |b| b.raw.ptr).to_ne_bytes())
    }
    pub fn i32(&mut self, v: i32) -> &mut Self {
        self.push_bytes(&v.to_ne_bytes())
    }
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.push_bytes(&v.to_ne_bytes())
    }
    pub fn i64(&mut self, v: i64) -> &mut Self {
        self.push_bytes(&v.to_ne_bytes())
    }
    pub fn f32(&mut self, v: f32) -> &mut Self {
        self.push_bytes(&v.to_ne_bytes())
    }
    /// A TMA tensor map: by value (`const __grid_constant__ CUtensorMap`, 128 bytes) on a GPU, or
    /// the address of its copy in device memory on the emulator (see [`TensorMapArg`]).
    pub fn tensor_map(&mut self, m: &TensorMapArg) -> &mut Self {
        match m {
            TensorMapArg::Value(map) => {
                self.wide.push((self.slots.len(), Box::new(*map)));
                self.slots.push([0; 8]);
                self.sizes.push(std::mem::size_of::<TensorMap>());
                self
            }
            TensorMapArg::InMemory(buf) => self.buf(buf),
        }
    }
    pub fn len(&self) -> usize {
        self.slots.len()
    }
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
    /// Byte size of each argument, in order (the emulator checks them against the kernel).
    pub fn sizes(&self) -> &[usize] {
        &self.sizes
    }
    /// Pointers to each argument value; valid while `self` is not modified.
    pub fn param_ptrs(&mut self) -> Vec<*mut c_void> {
        let wide = &mut self.wide;
        self.slots
            .iter_mut()
            .enumerate()
            .map(|(i, s)| match wide.iter_mut().find(|w| w.0 == i) {
                Some(w) => w.1 .0.as_mut_ptr() as *mut c_void,
                None => s.as_mut_ptr() as *mut c_void,
            })
            .collect()
    }
    /// Declares the loop argument `l` (see [`LoopArg`]); it must name a 4- or 8-byte argument.
    pub fn loop_over(&mut self, l: LoopArg) -> Result<&mut Self> {
        self.int_at(l.index)?;
        if l.step <= 0 {
            bail!("loop argument {}: step {} is not positive", l.index, l.step);
        }
        self.loop_arg = Some(l);
        Ok(self)
    }
    pub fn loop_arg(&self) -> Option<LoopArg> {
        self.loop_arg
    }
    /// The signed integer value of argument `index` (4 or 8 bytes).
    pub fn int_at(&self, index: usize) -> Result<i64> {
        let (Some(slot), Some(&size)) = (self.slots.get(index), self.sizes.get(index)) else {
            bail!("no kernel argument {index} (of {})", self.slots.len());
        };
        match size {
            4 => Ok(i32::from_ne_bytes(slot[..4].try_into()?) as i64),
            8 => Ok(i64::from_ne_bytes(*slot)),
            _ => bail!("kernel argument {index} has {size} bytes, not an integer"),
        }
    }
    /// A copy with integer argument `index` set to `value` (checked against its width).
    pub fn with_int_at(&self, index: usize, value: i64) -> Result<KernelArgs> {
        self.int_at(index)?;
        let mut out = self.clone();
        if self.sizes[index] == 4 {
            let v = i32::try_from(value)
                .map_err(|_| anyhow::anyhow!("kernel argument {index}: {value} is not an i32"))?;
            out.slots[index] = [0; 8];
            out.slots[index][..4].copy_from_slice(&v.to_ne_bytes());
        } else {
            out.slots[index] = value.to_ne_bytes();
        }
        Ok(out)
    }
}

/// A TMA tensor map ready to pass to a kernel: the GPU takes the 128 bytes by value; the emulator
/// reads them through a pointer to device memory (kernels/hopper.cuh, `RLVR_TMAP_PARAM`).
pub enum TensorMapArg {
    Value(TensorMap),
    InMemory(DevBuf<u8>),
}

/// SMs of an H100 SXM: what the emulator reports as its multiprocessor count.
pub const H100_SMS: usize = 132;
/// Dynamic shared memory an H100 block may opt in to (227 KiB).
pub const H100_SMEM_PER_BLOCK: usize = 227 * 1024;

/// What a kernel launcher needs from a device. Implemented by the CUDA `Gpu` and the `EmuDevice`.
pub trait KernelDevice: Send + Sync {
    /// Whether the device runs sm_90a code (wgmma, TMA, mbarrier transaction counts): compute
    /// capability 9.0, or the emulator.
    fn has_sm90a(&self) -> bool {
        false
    }
    /// Streaming multiprocessors (persistent kernels launch one block per SM).
    fn sm_count(&self) -> usize {
        H100_SMS
    }
    /// Most dynamic shared memory one block may opt in to (the emulator: an H100's 227 KiB).
    fn max_smem_per_block(&self) -> usize {
        H100_SMEM_PER_BLOCK
    }
    /// Encodes a 2-D tensor map (`cuTensorMapEncodeTiled`) as the device's kernels take it.
    fn tensor_map(&self, _spec: &TensorMapSpec) -> Result<TensorMapArg> {
        bail!("{} has no TMA tensor maps", self.name())
    }
    /// Human-readable device name, e.g. "NVIDIA H100 (sm_90)" or "emulator".
    fn name(&self) -> String;
    fn alloc_bytes(&self, bytes: usize) -> Result<RawBuf>;
    fn htod_bytes(&self, src: &[u8], dst: &RawBuf) -> Result<()>;
    fn dtoh_bytes(&self, src: &RawBuf, dst: &mut [u8]) -> Result<()>;
    fn launch(&self, kernel: &str, cfg: &LaunchCfg, args: &mut KernelArgs) -> Result<()>;
    fn synchronize(&self) -> Result<()>;
    /// The CUDA device behind this one, for what needs its stream (NCCL); None on the emulator.
    fn gpu(&self) -> Option<&super::gpu::Gpu> {
        None
    }
}

/// Uninitialised buffer of `n` elements (the emulator fills it with NaN bytes).
pub fn alloc<T: DevElem>(dev: &dyn KernelDevice, n: usize) -> Result<DevBuf<T>> {
    let raw = dev.alloc_bytes(n * std::mem::size_of::<T>())?;
    Ok(DevBuf {
        raw,
        len: n,
        _t: PhantomData,
    })
}

pub fn upload<T: DevElem>(dev: &dyn KernelDevice, host: &[T]) -> Result<DevBuf<T>> {
    let b = alloc::<T>(dev, host.len())?;
    dev.htod_bytes(bytemuck::cast_slice(host), &b.raw)?;
    Ok(b)
}

pub fn copy_to_device<T: DevElem>(
    dev: &dyn KernelDevice,
    host: &[T],
    dst: &DevBuf<T>,
) -> Result<()> {
    if host.len() != dst.len {
        bail!(
            "copy of {} elements into a device buffer of {}",
            host.len(),
            dst.len
        );
    }
    dev.htod_bytes(bytemuck::cast_slice(host), &dst.raw)
}

pub fn download<T: DevElem>(dev: &dyn KernelDevice, b: &DevBuf<T>) -> Result<Vec<T>> {
    let mut v = vec![T::zeroed(); b.len];
    dev.dtoh_bytes(&b.raw, bytemuck::cast_slice_mut(&mut v))?;
    Ok(v)
}

/// A buffer holding `host`-sized copies of `fill` (used to pre-fill outputs with NaN).
pub fn filled<T: DevElem>(dev: &dyn KernelDevice, n: usize, fill: T) -> Result<DevBuf<T>> {
    upload(dev, &vec![fill; n])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_args_are_marshalled_in_order_with_their_sizes() {
        let mut a = KernelArgs::new();
        a.i32(-3).i64(1 << 40).f32(0.5).u32(7);
        assert_eq!(a.sizes(), &[4, 8, 4, 4]);
        let p = a.param_ptrs();
        // SAFETY: each pointer addresses an 8-byte slot holding the value written above.
        unsafe {
            assert_eq!(*(p[0] as *const i32), -3);
            assert_eq!(*(p[1] as *const i64), 1 << 40);
            assert_eq!(*(p[2] as *const f32), 0.5);
            assert_eq!(*(p[3] as *const u32), 7);
        }
    }
}
