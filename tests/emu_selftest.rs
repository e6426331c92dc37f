//! Every kernel passes its parity check on the emulator (the CI form of `rlvr selftest --device emu`),
//! with more than one thread/block order.
mod emu_common;
use emu_common::*;
use rlvr::backend::cuda::selftest::{run_all, ShapeSet};

/// Two block orders (the command-line selftest runs a third, at seed 0).
#[test]
fn every_kernel_matches_its_reference_on_the_emulator() {
    let seeds: &[u64] = &[12345, 3];
    for &seed in seeds {
        let Some(dev) = emu_or_skip(seed) else { return };
        let rows = run_all(&dev, ShapeSet::Small, seed, None);
        assert!(rows.len() > 100, "only {} checks ran", rows.len());
        let failed: Vec<String> = rows
            .iter()
            .filter(|r| !r.pass)
            .map(|r| {
                format!(
                    "{} {}: abs {} rel {} {}",
                    r.kernel, r.shape, r.max_abs, r.max_rel, r.note
                )
            })
            .collect();
        assert!(failed.is_empty(), "seed {seed}: {failed:#?}");
        for (kernel, _) in rlvr::backend::cuda::kernels::KERNEL_FILES {
            // A row names its kernel after an optional rung ("r2 gemm_bf16_ldsm_kk …"). Some
            // kernels run only inside another's check: rmsnorm_dw_reduce_f32 / sumsq_partial_f32
            // in the rmsnorm / grad_norm checks, attn_decode_merge_bf16 / attn_decode_fold_bf16
            // in the split decodes,
            // gemm_bf16_splitk_sum in rung 4's split products, logprob_fwd_bwd_rows in the
            // log-prob ladder's rung 4 ("r4 logprob …").
            let covered = rows
                .iter()
                .any(|r| r.kernel.split_whitespace().any(|w| w.starts_with(kernel)))
                || matches!(
                    *kernel,
                    "rmsnorm_dw_reduce_f32"
                        | "sumsq_partial_f32"
                        | "attn_decode_merge_bf16"
                        | "attn_decode_fold_bf16"
                        | "gemm_bf16_splitk_sum"
                        | "logprob_fwd_bwd_rows"
                );
            assert!(covered, "kernel {kernel} has no parity check");
        }
    }
}
