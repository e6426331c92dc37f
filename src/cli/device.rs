//! The `--device` flag shared by subcommands.
use crate::backend::cuda::device::KernelDevice;
use anyhow::{bail, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum DeviceArg {
    /// The f32 CPU reference backend (always available).
    #[default]
    Cpu,
    /// NVIDIA GPU through our CUDA kernels.
    Cuda,
    /// The CUDA kernels run on the CPU under the execution-model emulator (for testing kernels).
    Emu,
}

impl DeviceArg {
    /// Whole-model execution is on the CPU backend today; refuse the others clearly instead of
    /// silently running on the CPU.
    pub fn require_model_backend(self) -> Result<()> {
        match self {
            DeviceArg::Cpu => Ok(()),
            DeviceArg::Cuda | DeviceArg::Emu => bail!(
                "--device {}: whole-model execution on this device is not wired up yet (kernels are \
                 checked by `rlvr selftest --device {}`); use --device cpu",
                if self == DeviceArg::Cuda { "cuda" } else { "emu" },
                if self == DeviceArg::Cuda { "cuda" } else { "emu" }
            ),
        }
    }

    /// The kernel device behind `--device cuda|emu` (None for the CPU backend). `seed` fixes the
    /// emulator's thread order.
    pub fn kernel_device(self, seed: u64) -> Result<Option<Box<dyn KernelDevice>>> {
        Ok(match self {
            DeviceArg::Cpu => None,
            DeviceArg::Cuda => Some(Box::new(crate::backend::cuda::gpu::Gpu::new(0)?)),
            DeviceArg::Emu => Some(Box::new(crate::backend::emu::EmuDevice::new(seed)?)),
        })
    }
}
