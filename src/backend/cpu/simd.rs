//! Which instruction set the CPU kernels use, chosen once at run time.
//!
//! Every kernel with a vector path also has a portable one that performs the same IEEE
//! operations in the same order (fused multiply-adds through `f32::mul_add`), so the choice
//! changes speed, never results. `RLVR_CPU_ISA=avx2` (or `portable`) caps the level below what
//! the processor has, to check a fallback on a machine that has the wider units;
//! `RLVR_CPU_PORTABLE=1` is the same as `RLVR_CPU_ISA=portable`.
use std::sync::OnceLock;

/// Instruction-set levels, lowest first (each one's kernels may use every level below it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Isa {
    /// Any processor: one lane at a time.
    Portable,
    /// x86-64 with AVX2 and FMA: 8-lane f32 vectors with fused multiply-add.
    Avx2Fma,
    /// x86-64 with AVX-512F besides AVX2 and FMA: 16-lane vectors, 32 of them, and per-lane
    /// masks (the GEMM's tiles are twice as wide).
    Avx512,
}

/// Environment variable that forces [`Isa::Portable`].
pub const FORCE_PORTABLE_ENV: &str = "RLVR_CPU_PORTABLE";
/// Environment variable that caps the level: `portable`, `avx2` or `avx512`.
pub const ISA_ENV: &str = "RLVR_CPU_ISA";

/// The instruction set in use: what the processor has, capped by [`ISA_ENV`] or
/// [`FORCE_PORTABLE_ENV`] when set. An unknown [`ISA_ENV`] value is reported once on stderr and
/// ignored (the kernels must not stop over a tuning variable).
pub fn isa() -> Isa {
    static ISA: OnceLock<Isa> = OnceLock::new();
    *ISA.get_or_init(|| {
        let forced =
            std::env::var_os(FORCE_PORTABLE_ENV).is_some_and(|v| !v.is_empty() && v != "0");
        if forced {
            return Isa::Portable;
        }
        let cap = match std::env::var(ISA_ENV) {
            Ok(v) if !v.is_empty() => Isa::parse(&v).unwrap_or_else(|| {
                eprintln!("warning: {ISA_ENV}={v:?} is not one of portable, avx2, avx512; ignored");
                Isa::Avx512
            }),
            _ => Isa::Avx512,
        };
        detected().min(cap)
    })
}

/// The best instruction set this processor supports.
pub fn detected() -> Isa {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return Isa::Avx512;
        }
        return Isa::Avx2Fma;
    }
    Isa::Portable
}

/// Every level this processor can run, lowest first (what the fallback tests iterate over).
pub fn supported() -> Vec<Isa> {
    [Isa::Portable, Isa::Avx2Fma, Isa::Avx512]
        .into_iter()
        .filter(|&l| l <= detected())
        .collect()
}

impl Isa {
    pub fn name(self) -> &'static str {
        match self {
            Isa::Avx512 => "avx512",
            Isa::Avx2Fma => "avx2+fma",
            Isa::Portable => "portable",
        }
    }

    /// The level a name stands for (`avx2+fma` and `avx2` are the same).
    pub fn parse(name: &str) -> Option<Isa> {
        match name.trim().to_ascii_lowercase().as_str() {
            "portable" => Some(Isa::Portable),
            "avx2" | "avx2+fma" => Some(Isa::Avx2Fma),
            "avx512" | "avx512f" | "avx-512" => Some(Isa::Avx512),
            _ => None,
        }
    }

    /// AVX2 and FMA are available (kernels that have no wider path use them).
    pub fn avx2(self) -> bool {
        self >= Isa::Avx2Fma
    }

    /// AVX-512F is available.
    pub fn avx512(self) -> bool {
        self >= Isa::Avx512
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_ordered_and_named() {
        assert!(Isa::Portable < Isa::Avx2Fma && Isa::Avx2Fma < Isa::Avx512);
        for l in [Isa::Portable, Isa::Avx2Fma, Isa::Avx512] {
            assert_eq!(Isa::parse(l.name()), Some(l));
        }
        assert_eq!(Isa::parse(" AVX2 "), Some(Isa::Avx2Fma));
        assert_eq!(Isa::parse("sse"), None);
        assert!(Isa::Avx512.avx2() && !Isa::Portable.avx2() && !Isa::Avx2Fma.avx512());
        let s = supported();
        assert_eq!(s.first(), Some(&Isa::Portable));
        assert_eq!(s.last(), Some(&detected()));
    }
}
