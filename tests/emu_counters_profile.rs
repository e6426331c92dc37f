//! `rlvr profile` end to end on the emulator with counters, as JSON: one decode step of
//! SmolLM2-135M at its real layer shapes, and one update step of a tiny shape checked against
//! the launches the step makes and the FLOPs its shape implies.
mod emu_common;

use rlvr::backend::cuda::device::{KernelArgs, KernelDevice, LaunchCfg, RawBuf};
use rlvr::backend::cuda::model::memory::ShapeDevice;
use rlvr::bench::profile::{update_step, ModelShape, ProfileOptions, StepKind};
use serde_json::Value;
use std::sync::atomic::{AtomicUsize, Ordering};

#[test]
fn decode_step_profile_reports_every_kernel_with_its_estimate() {
    if !emu_common::emu_available() {
        return;
    }
    let out = emu_common::rlvr_cmd(&[
        "profile",
        "--shape",
        "smollm2-135m",
        "--step",
        "decode",
        "--batch",
        "2",
        "--seq-len",
        "16",
        "--max-blocks",
        "8",
        "--json",
    ]);
    let json = &out[out.find('{').expect("JSON object")..];
    let v: Value = serde_json::Deserializer::from_str(json)
        .into_iter::<Value>()
        .next()
        .expect("one value")
        .expect("valid JSON");
    assert_eq!(v["model"], "SmolLM2-135M");
    assert_eq!(v["tokens"], 2);
    let kernels = v["kernels"].as_array().expect("kernels");
    let launches: u64 = kernels
        .iter()
        .map(|k| k["launches"].as_u64().unwrap())
        .sum();
    assert_eq!(launches, v["launches"].as_u64().unwrap());
    // 30 layers: at least the q/k/v, o, gate/up and down products and the attention per layer.
    assert!(launches > 30 * 5, "{launches} launches");
    let shares: f64 = kernels.iter().map(|k| k["share"].as_f64().unwrap()).sum();
    assert!((shares - 1.0).abs() < 1e-9, "shares sum to {shares}");
    for k in kernels {
        for field in [
            "tc_flop_share",
            "global_sector_efficiency",
            "global_bytes_over_compulsory",
            "smem_wavefronts_per_request",
            "launches",
            "sass",
            "est_h100_us",
            "est_bound",
        ] {
            assert!(k.get(field).is_some(), "{}: no {field}", k["name"]);
        }
        assert!(k["est_h100_us"].as_f64().unwrap() > 0.0);
        let e = k["global_sector_efficiency"].as_f64().unwrap_or(1.0);
        assert!(e > 0.0 && e <= 1.0, "{}: sector efficiency {e}", k["name"]);
    }
    // Every GEMM has 2 rows: all of them run on the few-row kernels (the gate/up product with
    // SwiGLU fused), whose m16 tiles do 8 times the product's FLOPs (rung 3's 128-row tiles did
    // 64 times).
    let gemm: Vec<(&str, f64)> = kernels
        .iter()
        .filter_map(|k| {
            let n = k["name"].as_str()?;
            n.starts_with("gemm_bf16_")
                .then(|| (n, k["tc_flop_share"].as_f64().unwrap_or(0.0)))
        })
        .collect();
    assert!(
        !gemm.is_empty()
            && gemm
                .iter()
                .all(|&(n, s)| n.starts_with("gemm_bf16_rows") && s == 8.0)
            && gemm.iter().any(|&(n, _)| n == "gemm_bf16_rows_swiglu_kk"),
        "GEMMs of the decode step: {gemm:?}"
    );
    // Decode attention runs on tensor cores (the training forward's tiles, the group's query
    // heads padded to 16 mma rows: a share above 1).
    let attn = kernels
        .iter()
        .find(|k| {
            k["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("attn_decode_tiles_"))
        })
        .expect("decode attention");
    let share = attn["tc_flop_share"].as_f64().unwrap();
    assert!(share >= 1.0, "decode attention tensor-core share {share}");
    let mfu = v["mfu_h100"].as_f64().unwrap();
    assert!(mfu > 0.0 && mfu < 1.0, "MFU {mfu}");
    assert!(v["est_a100_us"].as_f64().unwrap() > v["est_h100_us"].as_f64().unwrap());
}

/// Counts the launches of whatever runs on it; computes nothing (a [`ShapeDevice`]).
#[derive(Default)]
struct LaunchCounter {
    shape: ShapeDevice,
    launches: AtomicUsize,
}

impl KernelDevice for LaunchCounter {
    fn name(&self) -> String {
        "launch counter".into()
    }
    fn alloc_bytes(&self, bytes: usize) -> anyhow::Result<RawBuf> {
        self.shape.alloc_bytes(bytes)
    }
    fn htod_bytes(&self, src: &[u8], dst: &RawBuf) -> anyhow::Result<()> {
        self.shape.htod_bytes(src, dst)
    }
    fn dtoh_bytes(&self, src: &RawBuf, dst: &mut [u8]) -> anyhow::Result<()> {
        self.shape.dtoh_bytes(src, dst)
    }
    fn launch(&self, kernel: &str, cfg: &LaunchCfg, args: &mut KernelArgs) -> anyhow::Result<()> {
        self.launches.fetch_add(1, Ordering::Relaxed);
        self.shape.launch(kernel, cfg, args)
    }
    fn synchronize(&self) -> anyhow::Result<()> {
        Ok(())
    }
}

#[test]
fn update_step_profile_counts_every_launch_and_the_analytic_flops() {
    if !emu_common::emu_available() {
        return;
    }
    let (batch, seq) = (2usize, 128usize);
    let out = emu_common::rlvr_cmd(&[
        "profile",
        "--shape",
        "tiny",
        "--step",
        "update",
        "--batch",
        &batch.to_string(),
        "--seq-len",
        &seq.to_string(),
        "--max-blocks",
        "8",
        "--json",
    ]);
    let json = &out[out.find('{').expect("JSON object")..];
    let v: Value = serde_json::Deserializer::from_str(json)
        .into_iter::<Value>()
        .next()
        .expect("one value")
        .expect("valid JSON");
    assert_eq!(v["tokens"], batch * seq);

    // Every launch the step makes is in the table once: the same step on a device that only
    // counts launches.
    let shape = ModelShape::Tiny;
    let opts = ProfileOptions {
        shape,
        step: StepKind::Update,
        batch,
        seq_len: seq,
        max_blocks: 8,
        full_loops: false,
        seed: 0,
    };
    let counter = LaunchCounter::default();
    update_step(&counter, &shape.config().unwrap(), &opts).unwrap();
    let launches = v["launches"].as_u64().unwrap();
    assert_eq!(launches as usize, counter.launches.load(Ordering::Relaxed));
    let kernels = v["kernels"].as_array().expect("kernels");
    let per_kernel: u64 = kernels
        .iter()
        .map(|k| k["launches"].as_u64().unwrap())
        .sum();
    assert_eq!(per_kernel, launches);
    // The LM head's dH = ∂z·W loops over the 1024-entry vocabulary: 32 K tiles, shortened.
    assert!(v["shortened_launches"].as_u64().unwrap() >= 1);
    let shares: f64 = kernels.iter().map(|k| k["share"].as_f64().unwrap()).sum();
    assert!((shares - 1.0).abs() < 1e-9, "shares sum to {shares}");

    // The matrix FLOPs, derived from the shape (vocabulary 1024, hidden 256, MLP 512, 2 layers,
    // 4 query heads and 2 KV heads of 64): each linear map's forward, input gradient and weight
    // gradient (6 · params · tokens); the LM head on the scored tokens (all but each sequence's
    // first): logits in the forward and again in the backward, dH and dW (8 · V · d · rows); causal
    // attention over B · S(S+1)/2 query-key pairs per head, 2 · head_dim FLOPs per pair and
    // product: S and PV in the forward, S, dP, dV and dK in the dK/dV pass, S, dP and dQ in the
    // dQ pass.
    let (vocab, d, f, layers, heads, kv_heads, hd) = (1024.0, 256.0, 512.0, 2.0, 4.0, 2.0, 64.0);
    let (tokens, rows) = ((batch * seq) as f64, (batch * (seq - 1)) as f64);
    let (qd, kvd) = (heads * hd, kv_heads * hd);
    let linear_params = layers * (d * qd + 2.0 * d * kvd + qd * d + 3.0 * d * f);
    let pairs = (batch * seq * (seq + 1) / 2) as f64;
    let attention = layers * 2.0 * hd * heads * pairs * (2.0 + 4.0 + 3.0);
    let analytic = 6.0 * linear_params * tokens + 8.0 * vocab * d * rows + attention;
    let flops = v["matrix_flops"].as_f64().unwrap();
    assert!(
        (flops / analytic - 1.0).abs() < 1e-9,
        "matrix FLOPs {flops:.6e}, analytic {analytic:.6e}"
    );

    // Tensor-core share: every GEMM runs on tensor cores (1, up to the 2 padded rows of 254 scored
    // tokens in 128-row tiles); the attention forward (rung 5) and the backward's passes run on
    // tensor cores and compute whole 64 x 64 tiles on the diagonal, 3 tile pairs of 4096 for
    // 128 · 129 / 2 visible pairs; every other kernel has no matrix product.
    let diagonal = 3.0 * 4096.0 / (128.0 * 129.0 / 2.0);
    for k in kernels {
        let name = k["name"].as_str().unwrap();
        let tc = k["tc_flop_share"].as_f64();
        if name.starts_with("gemm_bf16_") && name != "gemm_bf16_splitk_sum" {
            let tc = tc.expect("GEMM FLOPs");
            assert!((1.0..=1.01).contains(&tc), "{name}: TC share {tc}");
        } else if name.starts_with("attn_fwd_fa2merge_")
            || name.starts_with("attn_bwd_dkdv_")
            || name.starts_with("attn_bwd_dq_")
        {
            let tc = tc.expect("attention FLOPs");
            assert!(
                (tc / diagonal - 1.0).abs() < 1e-9,
                "{name}: TC share {tc}, tiles give {diagonal}"
            );
        } else {
            assert!(tc.is_none(), "{name}: TC share {tc:?}");
        }
        if let Some(e) = k["global_sector_efficiency"].as_f64() {
            assert!(e > 0.0 && e <= 1.0, "{name}: sector efficiency {e}");
        }
        assert!(k["est_h100_us"].as_f64().unwrap() > 0.0, "{name}");
    }
}
