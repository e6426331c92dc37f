//! The static SASS instruction mix of every kernel, extracted by build.rs with NVIDIA's
//! `cuobjdump -sass` from the fatbins it embeds (see `sass_mix` for the opcode keys).
use std::collections::BTreeMap;

/// One kernel's mix for one architecture, as build.rs writes it.
pub struct StaticMix {
    pub kernel: &'static str,
    pub arch: &'static str,
    pub total: u32,
    /// (opcode key, count), sorted by key.
    pub ops: &'static [(&'static str, u32)],
}

mod generated {
    include!(concat!(env!("OUT_DIR"), "/sass.rs"));
}

/// Architecture of the H100 code (the mix the efficiency records report).
pub const H100_ARCH: &str = "sm_90a";
pub const A100_ARCH: &str = "sm_80";

/// Whether the build found cuobjdump (otherwise every mix is empty).
pub fn available() -> bool {
    generated::SASS_TOOL.is_some()
}

/// The tool build.rs ran.
pub fn tool() -> Option<&'static str> {
    generated::SASS_TOOL
}

/// Opcode key → static count for `kernel` on `arch`, with "total" for all instructions.
pub fn mix(kernel: &str, arch: &str) -> Option<BTreeMap<String, u64>> {
    generated::SASS_MIX
        .iter()
        .find(|m| m.kernel == kernel && m.arch == arch)
        .map(|m| {
            let mut ops: BTreeMap<String, u64> = m
                .ops
                .iter()
                .map(|(op, n)| (op.to_string(), *n as u64))
                .collect();
            ops.insert("total".into(), m.total as u64);
            ops
        })
}

/// Kernels with a mix for `arch`.
pub fn kernels(arch: &str) -> Vec<&'static str> {
    generated::SASS_MIX
        .iter()
        .filter(|m| m.arch == arch)
        .map(|m| m.kernel)
        .collect()
}

/// The sum of several kernels' mixes (an entry that launches more than one kernel).
pub fn sum_mix<'a>(
    kernels: impl IntoIterator<Item = &'a str>,
    arch: &str,
) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for k in kernels {
        for (op, n) in mix(k, arch).unwrap_or_default() {
            *out.entry(op).or_insert(0) += n;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::cuda::kernels::{KERNELS_COMPILED, KERNEL_FILES};

    #[test]
    fn every_kernel_has_a_mix_for_both_architectures() {
        if !available() || !KERNELS_COMPILED {
            assert_ne!(
                std::env::var("REQUIRE_NVCC").as_deref(),
                Ok("1"),
                "REQUIRE_NVCC=1 but the build found no cuobjdump next to nvcc (run scripts/setup-cuda.sh)"
            );
            eprintln!("skipped: no nvcc or cuobjdump at build time");
            return;
        }
        for (kernel, _) in KERNEL_FILES {
            for arch in [H100_ARCH, A100_ARCH] {
                let m = mix(kernel, arch).unwrap_or_default();
                assert!(
                    m.get("total").is_some_and(|&t| t > 0),
                    "{kernel} {arch}: {m:?}"
                );
            }
        }
        // The cp.async + ldmatrix GEMM: tensor-core, ldmatrix and 16-byte async-copy instructions.
        let g = mix("gemm_bf16_mma_kc", H100_ARCH).expect("gemm mix");
        for op in ["HMMA", "LDSM.x4", "LDGSTS.128", "BAR"] {
            assert!(
                g.get(op).is_some_and(|&n| n > 0),
                "gemm_bf16_mma_kc lacks {op}: {g:?}"
            );
        }
        // The sm_90a GEMM (rung 5): wgmma, TMA loads and mbarrier transactions on sm_90a; on
        // sm_80 only the trap of a kernel that is never launched there.
        let wgmma: Vec<&str> = KERNEL_FILES
            .iter()
            .filter(|(k, f)| *f == "gemm_sm90" && k.starts_with("gemm_bf16_wgmma_"))
            .map(|(k, _)| *k)
            .collect();
        assert_eq!(wgmma.len(), 8, "{wgmma:?}");
        for k in wgmma {
            let m = mix(k, H100_ARCH).expect("wgmma gemm mix");
            for op in ["HGMMA", "UTMALDG", "SYNCS", "USETMAXREG"] {
                assert!(m.get(op).is_some_and(|&n| n > 0), "{k} lacks {op}: {m:?}");
            }
            let a100 = mix(k, A100_ARCH).expect("wgmma gemm mix");
            assert!(
                !a100.contains_key("HGMMA") && !a100.contains_key("HMMA"),
                "{k}: {a100:?}"
            );
        }
        // The sm_90a attention forward (rung 6): the same Hopper instructions, and no mma.sync
        // (every product on wgmma); on sm_80 the trap only.
        for k in ["attn_fwd_wgmma_d64_bf16", "attn_fwd_wgmma_d128_bf16"] {
            let m = mix(k, H100_ARCH).expect("wgmma attention mix");
            for op in ["HGMMA", "UTMALDG", "SYNCS", "USETMAXREG"] {
                assert!(m.get(op).is_some_and(|&n| n > 0), "{k} lacks {op}: {m:?}");
            }
            assert!(!m.contains_key("HMMA"), "{k}: {m:?}");
            let a100 = mix(k, A100_ARCH).expect("wgmma attention mix");
            assert!(
                !a100.contains_key("HGMMA") && !a100.contains_key("HMMA"),
                "{k}: {a100:?}"
            );
        }
        // The element-wise and row-statistic rungs 2, on both architectures: no 2-byte global
        // access, and 16-byte ones: eight bf16 per thread (`_x8`) in both directions where a
        // rung writes bf16 rows, four (`_x4`, a cast or an f32 gradient) on the f32 side.
        let wide: Vec<&str> = KERNEL_FILES
            .iter()
            .map(|(k, _)| *k)
            .filter(|k| k.contains("_x8_") || k.contains("_x4_") || k.ends_with("_x4"))
            .collect();
        assert_eq!(wide.len(), 12, "{wide:?}");
        for k in wide {
            // The row statistic writes one f32 per row.
            let bf16_rows = k.contains("_x8") && k != "attn_bwd_delta_x8_bf16";
            for arch in [H100_ARCH, A100_ARCH] {
                let m = mix(k, arch).expect("rung 2 mix");
                let has = |op: &str| m.get(op).is_some_and(|&n| n > 0);
                if bf16_rows {
                    assert!(has("LDG.128") && has("STG.128"), "{k} {arch}: {m:?}");
                } else {
                    assert!(has("LDG.128") || has("STG.128"), "{k} {arch}: {m:?}");
                }
                assert!(!has("LDG.16") && !has("STG.16"), "{k} {arch}: {m:?}");
            }
        }
        let both = sum_mix(["gemm_bf16_mma_kc", "gemm_bf16_mma"], H100_ARCH);
        let simple = mix("gemm_bf16_mma", H100_ARCH).expect("gemm mix");
        assert_eq!(both["total"], g["total"] + simple["total"]);
    }
}
