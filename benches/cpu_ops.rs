//! CPU kernel micro-benchmarks at the 135M model's shapes (SmolLM2: d=576, FFN 1536, 9/3 heads
//! of 64, vocab 49152). Kept short (few samples) so the suite stays cheap on shared machines.
use criterion::{criterion_group, criterion_main, Criterion};
use rlvr::backend::cpu::attention::{attention_bwd, attention_fwd, AttnDims};
use rlvr::backend::cpu::gemm::gemm;
use rlvr::backend::cpu::logprob::{fused_logprob_bwd, fused_logprob_fwd, FUSED_BUDGET_FLOATS};
use rlvr::backend::cpu::norm::{rmsnorm_bwd, rmsnorm_fwd};
use rlvr::bench::gemm::operand;
use std::hint::black_box;
use std::time::Duration;

const D: usize = 576;
const FFN: usize = 1536;
const T: usize = 256;
const VOCAB: usize = 49152;

fn gemms(c: &mut Criterion) {
    let s = 512;
    let (a, b) = (operand(s * s, 1), operand(s * s, 2));
    let mut out = vec![0.0f32; s * s];
    c.bench_function("gemm 512x512x512", |bn| {
        bn.iter(|| gemm(s, s, s, 1.0, &a, false, &b, false, 0.0, &mut out))
    });
    // The MLP up projection of 4 sequences × 256 tokens: x[1024, 576] · W[1536, 576]ᵀ.
    let m = 4 * T;
    let (x, w) = (operand(m * D, 3), operand(FFN * D, 4));
    let mut y = vec![0.0f32; m * FFN];
    c.bench_function("gemm 1024x576x1536 (up proj)", |bn| {
        bn.iter(|| gemm(m, FFN, D, 1.0, &x, false, &w, true, 0.0, &mut y))
    });
}

fn rmsnorm(c: &mut Criterion) {
    let x = operand(4 * T * D, 5);
    let w = vec![1.0f32; D];
    c.bench_function("rmsnorm fwd 1024x576", |bn| {
        bn.iter(|| black_box(rmsnorm_fwd(&x, &w, 1e-5)))
    });
    let (_, rstd) = rmsnorm_fwd(&x, &w, 1e-5);
    c.bench_function("rmsnorm bwd 1024x576", |bn| {
        bn.iter(|| black_box(rmsnorm_bwd(&x, &x, &w, &rstd)))
    });
}

fn attention(c: &mut Criterion) {
    let dims = AttnDims {
        n_q_heads: 9,
        n_kv_heads: 3,
        head_dim: 64,
    };
    let q = operand(T * 9 * 64, 6);
    let k = operand(T * 3 * 64, 7);
    let v = operand(T * 3 * 64, 8);
    let seqs = [(0, T)];
    c.bench_function("attention fwd T=256", |bn| {
        bn.iter(|| black_box(attention_fwd(&q, &k, &v, &seqs, dims)))
    });
    let (o, lse) = attention_fwd(&q, &k, &v, &seqs, dims);
    c.bench_function("attention bwd T=256", |bn| {
        bn.iter(|| black_box(attention_bwd(&o, &q, &k, &v, &o, &lse, &seqs, dims)))
    });
}

fn fused_logprob(c: &mut Criterion) {
    let h = operand(T * D, 9);
    let w = operand(VOCAB * D, 10);
    let targets: Vec<u32> = (0..T as u32).map(|i| i * 191 % VOCAB as u32).collect();
    c.bench_function("fused logprob fwd T=256 V=49152", |bn| {
        bn.iter(|| {
            black_box(fused_logprob_fwd(
                &h,
                &w,
                D,
                &targets,
                1.0,
                FUSED_BUDGET_FLOATS,
            ))
        })
    });
    let fwd = fused_logprob_fwd(&h, &w, D, &targets, 1.0, FUSED_BUDGET_FLOATS);
    let g = vec![1.0f32; T];
    c.bench_function("fused logprob bwd T=256 V=49152", |bn| {
        bn.iter(|| {
            black_box(fused_logprob_bwd(
                &h,
                &w,
                D,
                &targets,
                1.0,
                &fwd,
                &g,
                &g,
                FUSED_BUDGET_FLOATS,
            ))
        })
    });
}

criterion_group! {
    name = cpu_ops;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    targets = gemms, rmsnorm, attention, fused_logprob
}
criterion_main!(cpu_ops);
