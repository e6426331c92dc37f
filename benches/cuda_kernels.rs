//! criterion over the `rlvr bench kernels` code (bench::kernels: shapes, inputs, CUDA-event
//! timing) for a few headline entries: GEMM 4096³ (ours and cuBLAS), causal attention at the 7B
//! head layout and seq 4096, RMSNorm, the fused log-prob and top-p sampling. Each sample is the
//! device time between two CUDA events. Without a GPU it prints why and exits 0.
use criterion::{Criterion, Throughput};
use half::bf16;
use rlvr::backend::cpu::attention::AttnDims;
use rlvr::backend::cuda::attention::{attn_bwd_bf16, attn_fwd_bf16, AttnSeqs};
use rlvr::backend::cuda::device::{alloc, upload};
use rlvr::backend::cuda::gemm::{gemm_bf16, Gemm, GemmOffsets, Strides};
use rlvr::backend::cuda::logprob::{fused_logprob_bwd, fused_logprob_fwd, GPU_FUSED_BUDGET_FLOATS};
use rlvr::backend::cuda::norm::rmsnorm_fwd_bf16;
use rlvr::backend::cuda::sampling::{sample_keys, sample_rows, SampledDev};
use rlvr::backend::cuda::{detect, gpu::Gpu};
use rlvr::bench::kernels::counts as c;
use rlvr::bench::kernels::cublas::{Cublas, CublasOut};
use rlvr::bench::kernels::shapes::QWEN25_MATH_7B as M;
use rlvr::bench::kernels::timing::{Backend, Bencher, RepeatPolicy};
use rlvr::generate::sampling::SamplingParams;
use std::time::Duration;

type R = anyhow::Result<()>;

fn bf(b: &mut Bencher, n: usize) -> anyhow::Result<rlvr::backend::cuda::device::DevBuf<bf16>> {
    b.random::<bf16>(n, |u| bf16::from_f64(u - 0.5))
}

/// Registers one entry: criterion asks for `iters` calls, CUDA events time them.
fn entry(c: &mut Criterion, b: &Bencher, name: &str, tp: Throughput, f: &mut dyn FnMut() -> R) {
    let mut g = c.benchmark_group("cuda");
    g.throughput(tp);
    g.bench_function(name, |bn| {
        bn.iter_custom(|iters| b.time_iters(iters, f).expect("timed launch failed"))
    });
    g.finish();
}

fn gemms(c: &mut Criterion, b: &mut Bencher, blas: Option<&Cublas>) -> R {
    let s = 4096;
    let g = Gemm {
        batch: 1,
        m: s,
        n: s,
        k: s,
        a: Strides::rows(s, s),
        b: Strides::rows(s, s),
        alpha: 1.0,
        beta: 0.0,
    };
    let (x, w) = (bf(b, s * s)?, bf(b, s * s)?);
    let y = alloc::<bf16>(&b.dev, s * s)?;
    let tp = || Throughput::Elements(c::gemm_flops(s, s, s));
    entry(c, b, "gemm_bf16 4096^3 (FLOP)", tp(), &mut || {
        gemm_bf16(&b.dev, None, Some(&y), &x, &w, &g)
    });
    if let Some(blas) = blas {
        entry(c, b, "cublas 4096^3 (FLOP)", tp(), &mut || {
            blas.gemm(CublasOut::Bf16(&y), &x, &w, &g, GemmOffsets::default())
        });
    }
    Ok(())
}

fn attention(c: &mut Criterion, b: &mut Bencher) -> R {
    let (len, nseq) = (4096, 4);
    let (hq, hkv, d) = (M.n_q_heads, M.n_kv_heads, M.head_dim);
    let dims = AttnDims {
        n_q_heads: hq,
        n_kv_heads: hkv,
        head_dim: d,
    };
    let n = len * nseq;
    let seqs: Vec<(usize, usize)> = (0..nseq).map(|i| (i * len, len)).collect();
    let seqs = AttnSeqs::upload(&b.dev, &seqs)?;
    let (q, k, v, dout) = (
        bf(b, n * hq * d)?,
        bf(b, n * hkv * d)?,
        bf(b, n * hkv * d)?,
        bf(b, n * hq * d)?,
    );
    let (o, dq) = (
        alloc::<bf16>(&b.dev, n * hq * d)?,
        alloc::<bf16>(&b.dev, n * hq * d)?,
    );
    let (dk, dv) = (
        alloc::<bf16>(&b.dev, n * hkv * d)?,
        alloc::<bf16>(&b.dev, n * hkv * d)?,
    );
    let lse = alloc::<f32>(&b.dev, n * hq)?;
    let lens = vec![len; nseq];
    let tp = Throughput::Elements(c::attn_fwd_flops(&lens, hq, d));
    entry(c, b, "attn_fwd_bf16 7B 4x4096 (FLOP)", tp, &mut || {
        attn_fwd_bf16(&b.dev, &o, &lse, &q, &k, &v, &seqs, dims)
    });
    let tp = Throughput::Elements(c::attn_bwd_flops(&lens, hq, d));
    entry(c, b, "attn_bwd_bf16 7B 4x4096 (FLOP)", tp, &mut || {
        attn_bwd_bf16(
            &b.dev, &dq, &dk, &dv, &dout, &q, &k, &v, &o, &lse, &seqs, dims,
        )
    });
    Ok(())
}

fn rmsnorm(c: &mut Criterion, b: &mut Bencher) -> R {
    let (t, h) = (8192, M.hidden);
    let (x, w) = (bf(b, t * h)?, bf(b, h)?);
    let y = alloc::<bf16>(&b.dev, t * h)?;
    let rstd = alloc::<f32>(&b.dev, t)?;
    let tp = Throughput::Bytes(c::rmsnorm_fwd_bytes(t, h));
    entry(c, b, "rmsnorm_fwd_bf16 7B [8192, 3584]", tp, &mut || {
        rmsnorm_fwd_bf16(&b.dev, &y, &rstd, &x, &w, 1e-6)
    });
    Ok(())
}

fn logprob_and_sampling(c: &mut Criterion, b: &mut Bencher) -> R {
    // T = 4096 keeps criterion's many samples affordable; `rlvr bench kernels` runs T = 32768.
    let (t, v, d) = (4096, M.vocab, M.hidden);
    let (hidden, weight) = (bf(b, t * d)?, bf(b, v * d)?);
    let targets = upload(
        &b.dev,
        &(0..t as i32).map(|i| i * 37 % v as i32).collect::<Vec<_>>(),
    )?;
    let g_lp = b.random::<f32>(t, |u| if u < 0.5 { -1.0 } else { 1.0 })?;
    let g_h = b.random::<f32>(t, |_| 0.0)?;
    let dh = alloc::<f32>(&b.dev, t * d)?;
    let dw = b.random::<f32>(v * d, |_| 0.0)?;
    let budget = GPU_FUSED_BUDGET_FLOATS;
    let tp = Throughput::Elements(c::fused_logprob_flops(t, v, d));
    entry(
        c,
        b,
        "fused_logprob fwd+bwd 7B T=4096 (FLOP)",
        tp,
        &mut || {
            let fwd = fused_logprob_fwd(&b.dev, &hidden, &weight, d, &targets, 1.0, budget)?;
            fused_logprob_bwd(
                &b.dev, &hidden, &weight, d, &targets, 1.0, &fwd, &g_lp, &g_h, &dh, &dw, budget,
            )
        },
    );
    let rows = 256;
    let logits = b.random::<f32>(rows * v, |u| 12.0 * u as f32 - 6.0)?;
    let streams: Vec<u64> = (0..rows as u64).collect();
    let keys = upload(&b.dev, &sample_keys(&streams, &vec![7; rows])?)?;
    let res = SampledDev::alloc(&b.dev, rows)?;
    let p = SamplingParams {
        top_p: 0.9,
        ..Default::default()
    };
    let tp = Throughput::Bytes(c::sampling_bytes(rows, v));
    entry(c, b, "sample_rows_f32 top-p [256, 152064]", tp, &mut || {
        sample_rows(&b.dev, &res, &logits, v, &keys, 1, 0, &p)
    });
    Ok(())
}

fn main() -> anyhow::Result<()> {
    if let Err(e) = detect::cuda_available() {
        println!("cuda_kernels: skipped, no GPU here ({e})");
        return Ok(());
    }
    let gpu = Gpu::new(0)?;
    let policy = RepeatPolicy {
        warmup: 1,
        max_repeats: 10,
        budget_s: 1.0,
    };
    let mut b = Bencher::new(Backend::Gpu(&gpu), policy, None, 0)?;
    let blas = Cublas::new(&gpu)
        .map_err(|e| println!("cuBLAS entry skipped: {e:#}"))
        .ok();
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    gemms(&mut c, &mut b, blas.as_ref())?;
    attention(&mut c, &mut b)?;
    rmsnorm(&mut c, &mut b)?;
    logprob_and_sampling(&mut c, &mut b)?;
    c.final_summary();
    Ok(())
}
