//! `rlvr bench kernels` without a GPU: the no-GPU exit codes, and the emulator run at tiny shapes
//! whose JSON must hold an entry for every kernel with FLOP/byte counts that match hand counts.
mod emu_common;
use emu_common::*;
use serde_json::Value;

#[test]
fn without_a_gpu_it_says_so_and_fails_unless_allowed() {
    if rlvr::backend::cuda::detect::cuda_available().is_ok() {
        eprintln!("skipped: this machine has a GPU");
        return;
    }
    let (code, out, err) = rlvr_run(&["bench", "kernels"]);
    assert_ne!(code, 0, "{out}{err}");
    assert!(err.contains("no GPU here"), "{out}{err}");
    let (code, out, err) = rlvr_run(&["bench", "kernels", "--json", "--allow-no-gpu"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("no GPU here"), "{out}{err}");
}

fn records(report: &Value) -> Vec<&Value> {
    report["records"]
        .as_array()
        .expect("records")
        .iter()
        .collect()
}

fn find<'a>(recs: &[&'a Value], kernel: &str, shape_prefix: &str) -> &'a Value {
    recs.iter()
        .find(|r| r["kernel"] == kernel && r["shape"].as_str().unwrap().starts_with(shape_prefix))
        .unwrap_or_else(|| panic!("no record {kernel} {shape_prefix}"))
}

#[test]
fn the_emulator_run_covers_every_kernel_with_sane_counts() {
    if !emu_available() {
        return;
    }
    let (code, out, err) = rlvr_run(&[
        "bench", "kernels", "--device", "emu", "--json", "--seed", "3",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let rep: Value = serde_json::from_str(&out).expect("the output is one JSON object");
    assert_eq!(rep["gpu_numbers"], false);
    assert!(rep["timing"].as_str().unwrap().contains("NOT GPU numbers"));
    let recs = records(&rep);

    // Every kernel of kernels/*.cu ran inside some entry.
    for (kernel, _) in rlvr::backend::cuda::kernels::KERNEL_FILES {
        assert!(
            recs.iter().any(|r| r["launches"]
                .as_array()
                .is_some_and(|l| l.iter().any(|k| k == kernel))),
            "kernel {kernel} has no bench entry"
        );
    }
    for r in &recs {
        assert_ne!(r["group"], "error", "{r}");
        // One op, one name: an entry's group is the kernel file of what it measures.
        if r["group"] != "baseline" {
            let group = r["group"].as_str().unwrap();
            assert!(
                r["launches"].as_array().unwrap().iter().any(|k| {
                    rlvr::backend::cuda::kernels::file_of(k.as_str().unwrap()) == Some(group)
                }) || r["kernel"] == "fused_logprob memory",
                "{r}"
            );
        }
        // No baselines on the emulator: no cuBLAS, no bandwidth, no peak.
        assert!(
            r["baseline"].is_null() || r["kernel"] == "fused_logprob memory",
            "{r}"
        );
        if r["kernel"] == "fused_logprob memory" {
            continue;
        }
        assert!(r["median_ms"].as_f64().unwrap() > 0.0, "{r}");
        assert!(r["repeats"].as_u64().unwrap() >= 1, "{r}");
        let counted = r["flops"].as_u64().unwrap_or(0) + r["bytes"].as_u64().unwrap_or(0);
        assert!(counted > 0, "{r}");
        assert!(r["met"].is_null(), "{r}");
    }

    // Counts against hand-computed values at the tiny shapes (hidden 64, ffn 96, 4/2 heads of 16,
    // vocab 320, 24 tokens; attention 2 × 20; log-prob T = 12).
    assert_eq!(
        find(&recs, "gemm_bf16", "32x32x32")["flops"],
        2 * 32 * 32 * 32
    );
    assert_eq!(
        find(&recs, "gemm_bf16", "tiny up")["flops"],
        2 * 24 * 96 * 64
    );
    // 2 sequences x 20·21/2 pairs x 4 heads x 4·16.
    assert_eq!(
        find(&recs, "attn_fwd_bf16", "tiny")["flops"],
        2 * 210 * 4 * 4 * 16
    );
    assert_eq!(
        find(&recs, "attn_bwd_bf16", "tiny")["flops"],
        2 * 210 * 4 * 10 * 16
    );
    // x and y 24·64 bf16, w 64 bf16, rstd 24 f32.
    assert_eq!(
        find(&recs, "rmsnorm_fwd_bf16", "tiny")["bytes"],
        2 * 24 * 64 * 2 + 64 * 2 + 24 * 4
    );
    assert_eq!(
        find(&recs, "swiglu_fwd_bf16", "tiny")["bytes"],
        3 * 24 * 96 * 2
    );
    assert_eq!(find(&recs, "adamw_step_f32", "tiny")["bytes"], 96 * 64 * 30);
    assert_eq!(
        find(&recs, "sample_rows_f32", "tiny")["bytes"],
        3 * 320 * 4 + 3 * 3 * 4
    );
    // Fused log-prob: four 2·T·V·d products.
    let lp = find(&recs, "fused_logprob fwd+bwd", "tiny");
    assert_eq!(lp["flops"], 4 * 2 * 12 * 320 * 64);
    let launches = lp["launches"].as_array().unwrap();
    assert!(launches.iter().any(|k| k == "logprob_bwd_rows_f32"), "{lp}");
    // Peak extra memory: at least the chunk buffers (5 rows of f32 logits + bf16 dz), far
    // below the naive f32 logits and gradient (12 x 320 x 8 B).
    let mem = find(&recs, "fused_logprob memory", "tiny");
    let extra = mem["bytes"].as_u64().unwrap();
    assert!((5 * 320 * 6..12 * 320 * 8).contains(&extra), "{mem}");
}

#[test]
fn the_emulator_table_is_labelled_as_not_gpu_numbers() {
    if !emu_available() {
        return;
    }
    let (code, out, err) =
        rlvr_run(&["bench", "kernels", "--device", "emu", "--filter", "rmsnorm"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("NOT GPU NUMBERS"), "{out}");
    assert!(
        out.contains("rmsnorm_bwd_bf16") && !out.contains("gemm_bf16"),
        "{out}"
    );
    let (code, _, err) = rlvr_run(&["bench", "kernels", "--device", "emu", "--filter", "nothing"]);
    assert_ne!(code, 0);
    assert!(err.contains("no bench entry matched"), "{err}");
}
