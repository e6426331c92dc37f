//! Which instruction set the CPU kernels use, chosen once at run time.
//!
//! Every kernel with a vector path also has a portable one that performs the same IEEE
//! operations in the same order (fused multiply-adds through `f32::mul_add`), so the choice
//! changes speed, never results. Setting `RLVR_CPU_PORTABLE=1` forces the portable kernels, to
//! check the fallback on a machine that has the vector units.
use std::sync::OnceLock;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    /// x86-64 with AVX2 and FMA: 8-lane f32 vectors with fused multiply-add.
    Avx2Fma,
    /// Any processor: one lane at a time.
    Portable,
}

/// Environment variable that forces [`Isa::Portable`].
pub const FORCE_PORTABLE_ENV: &str = "RLVR_CPU_PORTABLE";

/// The instruction set in use: what the processor has, unless [`FORCE_PORTABLE_ENV`] is set.
pub fn isa() -> Isa {
    static ISA: OnceLock<Isa> = OnceLock::new();
    *ISA.get_or_init(|| {
        let forced =
            std::env::var_os(FORCE_PORTABLE_ENV).is_some_and(|v| !v.is_empty() && v != "0");
        if forced {
            Isa::Portable
        } else {
            detected()
        }
    })
}

/// The best instruction set this processor supports.
pub fn detected() -> Isa {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        return Isa::Avx2Fma;
    }
    Isa::Portable
}

impl Isa {
    pub fn name(self) -> &'static str {
        match self {
            Isa::Avx2Fma => "avx2+fma",
            Isa::Portable => "portable",
        }
    }
}
