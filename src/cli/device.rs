//! The `--device` flag shared by subcommands.
use crate::backend::cuda::device::KernelDevice;
use anyhow::{anyhow, bail, Context, Result};

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
            DeviceArg::Cuda => Some(Box::new(crate::backend::cuda::gpu::Gpu::new(
                gpu_ordinal()?
            )?)),
            DeviceArg::Emu => Some(Box::new(crate::backend::emu::EmuDevice::new(seed)?)),
        })
    }
}

/// Launcher variables that give a process's rank on its node, in order of preference.
const LOCAL_RANK_VARS: &[&str] = &["LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID"];

/// This process's rank on its node, from the first launcher variable present.
pub fn local_rank(get: impl Fn(&str) -> Option<String>) -> Result<Option<usize>> {
    for name in LOCAL_RANK_VARS {
        if let Some(v) = get(name) {
            let r = v
                .trim()
                .parse()
                .with_context(|| format!("environment variable {name}={v:?} is not a number"))?;
            return Ok(Some(r));
        }
    }
    Ok(None)
}

/// The GPU of a process with node-local rank `local` when `visible` devices are visible: one GPU
/// per rank, wrapping around (a launcher that gives each rank one visible GPU gets device 0).
pub fn device_ordinal(local: Option<usize>, visible: usize) -> usize {
    local.map_or(0, |l| l % visible.max(1))
}

fn gpu_ordinal() -> Result<usize> {
    let Some(local) = local_rank(|k| std::env::var(k).ok())? else {
        return Ok(0);
    };
    let visible = crate::backend::cuda::detect::cuda_available()
        .map_err(|e| anyhow!("no CUDA device: {e}"))?;
    Ok(device_ordinal(Some(local), visible))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn each_local_rank_gets_its_own_gpu() {
        assert_eq!(local_rank(vars(&[])).unwrap(), None);
        assert_eq!(device_ordinal(None, 8), 0);
        let torchrun = local_rank(vars(&[("LOCAL_RANK", "3"), ("SLURM_LOCALID", "5")])).unwrap();
        assert_eq!(torchrun, Some(3));
        assert_eq!(device_ordinal(torchrun, 8), 3);
        assert_eq!(device_ordinal(torchrun, 2), 1);
        // One visible GPU per rank (CUDA_VISIBLE_DEVICES set by the launcher).
        assert_eq!(device_ordinal(torchrun, 1), 0);
        let ompi = local_rank(vars(&[
            ("OMPI_COMM_WORLD_LOCAL_RANK", "6"),
            ("SLURM_LOCALID", "1"),
        ]));
        assert_eq!(ompi.unwrap(), Some(6));
        assert_eq!(
            local_rank(vars(&[("SLURM_LOCALID", "1")])).unwrap(),
            Some(1)
        );
        let err = local_rank(vars(&[("LOCAL_RANK", "x")])).unwrap_err();
        assert!(err.to_string().contains("LOCAL_RANK"), "{err}");
    }
}
