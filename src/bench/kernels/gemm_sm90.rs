//! The sm_90a GEMM (kernels/gemm_sm90.cu) runs as rung 5 of the `gemm` entries
//! (`--kernel gemm:3,5` compares it with the mma.sync rung 3 in one run); this file adds what its
//! records say about the persistent launch.
use crate::backend::cuda::device::H100_SMS;
use crate::backend::cuda::gemm::{Gemm, GemmPlan, GemmRung};
use crate::backend::cuda::gemm_sm90::wgmma_smem_bytes;

/// The persistent launch of rung 5 on an H100 (132 SMs): blocks, tiles per block (the busiest
/// block's count and the last wave's fill), tile, stages and shared memory. Empty for other rungs.
pub fn persistent_note(g: &Gemm, plan: &GemmPlan) -> String {
    if plan.rung != GemmRung::Wgmma {
        return String::new();
    }
    let t = plan.tile;
    let tiles = g.m.div_ceil(t.bm) * g.n.div_ceil(t.bn);
    let blocks = tiles.clamp(1, H100_SMS);
    let waves = tiles.div_ceil(blocks);
    let fill = tiles as f64 / (waves * blocks) as f64;
    format!(
        "; persistent {blocks} blocks x {waves} tiles of {}x{}x{} ({:.0}% of the last wave busy), \
         {} stages, {} KiB smem, per batch entry",
        t.bm,
        t.bn,
        t.bk,
        100.0 * fill,
        t.stages,
        wgmma_smem_bytes(&t) / 1024
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::cuda::gemm::{gemm_plan_aligned, Strides};

    #[test]
    fn the_note_counts_waves_of_persistent_blocks() {
        let g = Gemm {
            batch: 1,
            m: 4096,
            n: 4096,
            k: 4096,
            a: Strides::rows(4096, 4096),
            b: Strides::rows(4096, 4096),
            alpha: 1.0,
            beta: 0.0,
        };
        let plan = gemm_plan_aligned(&g, GemmRung::Wgmma, false);
        assert_eq!(plan.kernel, "gemm_bf16_wgmma_n256_kk");
        // 32 x 16 = 512 tiles on 132 blocks: 4 waves, the last one 512 / 528 busy.
        let note = persistent_note(&g, &plan);
        assert!(
            note.contains("132 blocks x 4 tiles of 128x256x64"),
            "{note}"
        );
        assert!(note.contains("97%"), "{note}");
        let rung3 = gemm_plan_aligned(&g, GemmRung::Tiles, false);
        assert!(persistent_note(&g, &rung3).is_empty());
    }
}
