//! The analysis on a tiny random transformer, on token ids (no tokenizer): the token-level
//! gradients are the ones the trainer backpropagates, W-REINFORCE splits into its PSR and NSR
//! parts, a small SGD step follows the first-order prediction, and a plug-in objective gets
//! the same treatment as the built-ins.
use rlvr::analysis::token::logit_grad;
use rlvr::analysis::{
    analyze, params, AnalysisOptions, AnalysisSample, Builtin, FnObjective, StepRule,
    TokenObjective,
};
use rlvr::autograd::Tape;
use rlvr::model::forward::suffix_rows;
use rlvr::model::score::score_suffixes;
use rlvr::model::{init::llama_config_json, Batch, Model, ModelConfig};
use rlvr::rl::Objective;

fn model(tie: bool) -> Model {
    let cfg = llama_config_json(40, 16, 32, 2, 2, 1, tie, 1, 2);
    Model::random(ModelConfig::from_json(cfg).unwrap(), 0.3, 3).unwrap()
}

fn sample(group: usize, prompt: &[u32], response: &[u32], reward: f32) -> AnalysisSample {
    AnalysisSample {
        group,
        prompt: prompt.to_vec(),
        response: response.to_vec(),
        reward,
    }
}

/// 6 correct tokens, 8 incorrect ones.
fn samples() -> Vec<AnalysisSample> {
    vec![
        sample(0, &[1, 5, 6], &[7, 8, 9, 2], 1.0),
        sample(0, &[1, 5, 6], &[10, 11, 2], 0.0),
        sample(1, &[1, 12, 13, 14], &[15, 16, 17, 18, 2], 0.0),
        sample(1, &[1, 12, 13, 14], &[19, 2], 1.0),
    ]
}

fn logp_entropy(m: &Model, s: &[AnalysisSample]) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
    let seqs: Vec<Vec<u32>> = s.iter().map(|x| x.sequence()).collect();
    let suf: Vec<usize> = s.iter().map(|x| x.response.len()).collect();
    let sc = score_suffixes(m, &seqs, &suf, 1.0, 4096).unwrap();
    (
        sc.iter().map(|x| x.logprobs.clone()).collect(),
        sc.iter().map(|x| x.entropy.clone()).collect(),
    )
}

fn grad_of(
    m: &Model,
    s: &[AnalysisSample],
    obj: &dyn TokenObjective,
    h: f32,
) -> Vec<rlvr::tensor::Tensor> {
    let (lp, ent) = logp_entropy(m, s);
    let c = params::coefficients(obj, s, &lp, &ent, h).unwrap();
    let all: Vec<usize> = (0..s.len()).collect();
    params::gradient(m, s, &all, &c, 1.0, 4096)
        .unwrap()
        .unwrap()
}

#[test]
fn token_gradients_are_what_the_trainer_backpropagates() {
    // Untied LM head: its gradient is exactly Σ_rows (∂L/∂z_row)ᵀ h_row, so the per-token logit
    // gradients of the analysis must reproduce the fused op's backward.
    let m = model(false);
    let s = samples();
    for (obj, h) in [
        (Objective::Nsr, 0.0f32),
        (Objective::WReinforce { lambda: 0.1 }, 0.01),
    ] {
        let b = Builtin::new(obj);
        let (lp, ent) = logp_entropy(&m, &s);
        let c = params::coefficients(&b, &s, &lp, &ent, h).unwrap();
        if obj == Objective::Nsr {
            // The trainer's coefficient: −A/N over the kept (incorrect) tokens only.
            assert_eq!(c.kept_tokens, 8);
            assert!(c.g_logp[1].iter().all(|&g| (g - 1.0 / 8.0).abs() < 1e-7));
            assert!(c.g_logp[0].iter().all(|&g| g == 0.0));
        }
        let all: Vec<usize> = (0..s.len()).collect();
        let g = params::gradient(&m, &s, &all, &c, 1.0, 4096)
            .unwrap()
            .unwrap();
        let w = &m.params[m.layout.lm_head_index()];
        let d = m.config.hidden_size;
        let v = m.config.vocab_size;
        let mut dw = vec![0.0f64; v * d];
        let tape = Tape::no_grad();
        let vars = m.vars(&tape);
        for (i, smp) in s.iter().enumerate() {
            let batch = Batch::from_sequences(&[smp.sequence()]);
            let (rows, targets) = suffix_rows(&batch, &[smp.response.len()]).unwrap();
            let hid = m.forward_hidden(&tape, &vars, &batch).unwrap();
            let z = tape.logits(&hid, &vars[m.layout.lm_head_index()]);
            for (t, (&r, &y)) in rows.iter().zip(&targets).enumerate() {
                let zr = &z.value.data()[r * v..(r + 1) * v];
                let gz = logit_grad(zr, y as usize, 1.0, c.g_logp[i][t], c.g_entropy[i][t]);
                let hr = &hid.value.data()[r * d..(r + 1) * d];
                for a in 0..v {
                    for k in 0..d {
                        dw[a * d + k] += gz[a] as f64 * hr[k] as f64;
                    }
                }
            }
        }
        let got = g[m.layout.lm_head_index()].data();
        let scale = dw.iter().fold(0.0f64, |x, y| x.max(y.abs()));
        assert!(scale > 1e-4);
        for (a, b) in got.iter().zip(&dw) {
            assert!((*a as f64 - b).abs() < 1e-4 * scale, "{a} vs {b}");
        }
        assert_eq!(w.dims(), &[v, d]);
    }
}

#[test]
fn w_reinforce_is_lambda_psr_plus_nsr() {
    let m = model(true);
    let s = samples();
    let lambda = 0.1f32;
    let gp = grad_of(&m, &s, &Builtin::new(Objective::Psr), 0.0);
    let gn = grad_of(&m, &s, &Builtin::new(Objective::Nsr), 0.0);
    let gw = grad_of(&m, &s, &Builtin::new(Objective::WReinforce { lambda }), 0.0);
    // Token means over 6 correct, 8 incorrect, 14 in all.
    let (a, b) = (lambda * 6.0 / 14.0, 8.0 / 14.0);
    for ((p, n), w) in gp.iter().zip(&gn).zip(&gw) {
        let expect = p.scale(a).add(&n.scale(b));
        let scale = expect.data().iter().fold(1e-8f32, |x, y| x.max(y.abs()));
        assert!(expect.max_abs_diff(w) < 1e-4 * scale);
    }
}

fn opts(lr: f32) -> AnalysisOptions {
    AnalysisOptions {
        lr,
        step: StepRule::Sgd,
        ..Default::default()
    }
}

#[test]
fn small_sgd_step_on_the_transformer_matches_first_order() {
    let m = model(true);
    let s = samples();
    let (psr, nsr, w) = (
        Builtin::new(Objective::Psr),
        Builtin::new(Objective::Nsr),
        Builtin::new(Objective::WReinforce { lambda: 0.1 }),
    );
    let objs: Vec<&dyn TokenObjective> = vec![&psr, &nsr, &w];
    let lr = 1e-4f32;
    let r = analyze(&m, &s, &objs, &opts(lr), None).unwrap();
    assert_eq!(r.tokens.len(), 14);
    let sum = r.summaries();
    let (p, n, wr) = (&sum[0], &sum[1], &sum[2]);
    // Exact at the logits.
    for x in [p, n, wr] {
        assert!((x.logit_corr_mean - 1.0).abs() < 1e-6, "{}", x.name);
        assert!(x.logit_slope_max_rel_err < 1e-3, "{}", x.name);
    }
    assert_eq!((p.own_tokens, n.own_tokens, wr.own_tokens), (6, 8, 14));
    // Through the parameters, to first order: the loss falls by ⟨∇L, Δθ⟩ = −lr‖∇L‖².
    for x in [p, n, wr] {
        let g2 = x.grad_norm * x.grad_norm;
        assert!(
            (x.loss_change_first_order / (-(lr as f64) * g2) - 1.0).abs() < 1e-3,
            "{}",
            x.name
        );
        assert!(
            (x.loss_change / x.loss_change_first_order - 1.0).abs() < 0.02,
            "{}: {} vs {}",
            x.name,
            x.loss_change,
            x.loss_change_first_order
        );
    }
    // PSR raises its sampled tokens, NSR lowers them, on most tokens.
    assert!(p.dlogp_sampled_mean > 0.0 && n.dlogp_sampled_mean < 0.0);
    for x in [p, n] {
        assert!(
            x.sampled_sign_agreement >= 0.75,
            "{}: {}",
            x.name,
            x.sampled_sign_agreement
        );
    }
    // Decomposition: PSR is all correct-sample part, NSR all incorrect, W-REINFORCE both.
    assert!((p.share_correct_part - 1.0).abs() < 1e-9 && p.share_incorrect_part.abs() < 1e-9);
    assert!((n.share_incorrect_part - 1.0).abs() < 1e-9);
    assert!((wr.share_correct_part + wr.share_incorrect_part - 1.0).abs() < 1e-5);
    assert!(wr.share_incorrect_part > wr.share_correct_part);
}

#[test]
fn plug_in_objective_is_analysed_like_a_builtin() {
    // −1 on incorrect samples, 0 on correct ones, nobody dropped: (8/14)·NSR.
    let m = model(true);
    let s = samples();
    let nsr = Builtin::new(Objective::Nsr);
    let keep_all = FnObjective {
        name: "nsr-keep-all".into(),
        f: |r: &[f32], _: &[usize]| {
            r.iter()
                .map(|&x| if x > 0.5 { 0.0 } else { -1.0 })
                .collect()
        },
    };
    let objs: Vec<&dyn TokenObjective> = vec![&nsr, &keep_all];
    let r = analyze(&m, &s, &objs, &opts(1e-2), None).unwrap();
    let sum = r.summaries();
    assert_eq!(sum[1].name, "nsr-keep-all");
    assert!((sum[1].grad_norm / sum[0].grad_norm - 8.0 / 14.0).abs() < 1e-4);
    let js = r.summary_json().unwrap();
    let cos = js["gradient_cosine"]["nsr~nsr-keep-all"].as_f64().unwrap();
    assert!((cos - 1.0).abs() < 1e-5, "{cos}");
}

#[test]
fn report_files_are_written_and_consistent() {
    let m = model(true);
    let s = samples();
    let (psr, nsr) = (Builtin::new(Objective::Psr), Builtin::new(Objective::Nsr));
    let objs: Vec<&dyn TokenObjective> = vec![&psr, &nsr];
    let r = analyze(&m, &s, &objs, &opts(1e-2), None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    r.write(dir.path()).unwrap();
    for f in [
        "tokens.jsonl",
        "params.jsonl",
        "summary.json",
        "report.md",
        "redistribution.svg",
        "redistribution.png",
        "grad_norm_layers.svg",
        "entropy.png",
        "dlogp_by_confidence.svg",
    ] {
        assert!(dir.path().join(f).exists(), "{f} missing");
    }
    let toks = rlvr::util::read_jsonl(&dir.path().join("tokens.jsonl")).unwrap();
    assert_eq!(toks.len(), 14);
    assert!(toks[0]["objectives"]["nsr"]["after"]["dp_sampled"].is_number());
    let params = rlvr::util::read_jsonl(&dir.path().join("params.jsonl")).unwrap();
    // Every parameter, every layer, the rest, and the whole model.
    assert_eq!(params.len(), m.params.len() + m.config.num_layers + 2);
    let global = params.last().unwrap();
    assert_eq!(global["scope"], "global");
    let layers: f64 = params
        .iter()
        .filter(|p| p["scope"] == "layer" || p["scope"] == "outside_layers")
        .map(|p| p["grad_norm"]["nsr"].as_f64().unwrap().powi(2))
        .sum();
    let g = global["grad_norm"]["nsr"].as_f64().unwrap();
    assert!((layers.sqrt() - g).abs() < 1e-6 * g.max(1e-12));
    let md = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    assert!(md.contains("| measure | psr | nsr |"));
}

#[test]
fn bad_inputs_are_errors_not_panics() {
    let m = model(true);
    let nsr = Builtin::new(Objective::Nsr);
    let objs: Vec<&dyn TokenObjective> = vec![&nsr];
    let out_of_vocab = vec![sample(0, &[1, 2], &[99], 0.0)];
    let e = analyze(&m, &out_of_vocab, &objs, &opts(1e-2), None).unwrap_err();
    assert!(format!("{e:#}").contains("out of range"), "{e:#}");
    let empty = vec![sample(0, &[1, 2], &[], 0.0)];
    assert!(analyze(&m, &empty, &objs, &opts(1e-2), None).is_err());
    assert!(analyze(&m, &samples(), &[], &opts(1e-2), None).is_err());
    let wrong_len = FnObjective {
        name: "bad".into(),
        f: |_: &[f32], _: &[usize]| vec![1.0],
    };
    let objs: Vec<&dyn TokenObjective> = vec![&wrong_len];
    let e = analyze(&m, &samples(), &objs, &opts(1e-2), None).unwrap_err();
    assert!(format!("{e}").contains("1 advantages for 4 samples"), "{e}");
}

#[test]
fn one_token_step_redistributes_mass_as_the_first_order_prediction() {
    // With a single response token the step's logit change is J·Jᵀ applied to that token's own
    // logit gradient (its LM-head part is ‖h‖² times the Eq. 7–8 direction). The probability
    // changes follow the first-order prediction from the logit gradient, and the sampled token
    // moves as pushed. (The raw Δz of the alternatives need not correlate with π_v here: on a
    // near-uniform random model the hidden-state path dominates; the report measures it.)
    let m = model(true);
    for (reward, obj) in [(0.0f32, Objective::Nsr), (1.0, Objective::Psr)] {
        let s = vec![sample(0, &[1, 5, 6, 7], &[9], reward)];
        let b = Builtin::new(obj);
        let objs: Vec<&dyn TokenObjective> = vec![&b];
        let r = analyze(&m, &s, &objs, &opts(1e-4), None).unwrap();
        let a = r.tokens[0].measures[0].after.clone().unwrap();
        assert_eq!(a.dlogp_sampled > 0.0, obj == Objective::Psr);
        assert!(a.dp_pred_corr > 0.5, "{obj:?}: {}", a.dp_pred_corr);
    }
}
