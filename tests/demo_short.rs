//! A shortened `rlvr demo` end to end (seconds): base model by SFT, RL per objective and seed,
//! held-out Pass@k under two sampling settings, comparisons over problems and seeds, claim
//! verdicts, training curves, report and plots.
use rlvr::demo::eval::EvalSampling;
use rlvr::demo::{run_demo, DemoConfig};
use rlvr::rl::ObjectiveKind;

#[test]
fn short_demo_writes_report_and_plots() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = DemoConfig {
        output: dir.path().join("demo"),
        objectives: vec![
            ObjectiveKind::Psr,
            ObjectiveKind::Nsr,
            ObjectiveKind::WReinforce,
            ObjectiveKind::Reinforce,
        ],
        sft_steps: 15,
        rl_steps: 3,
        rl_seeds: 2,
        prompts_per_step: 8,
        n: 4,
        eval_problems: 6,
        eval_n: 8,
        max_response_tokens: 5,
        // A seed whose 15-step base answers some RL prompts right, so PSR has samples to train
        // on and an entropy to report.
        seed: 1,
        ..DemoConfig::default()
    };
    // The paper's evaluation first, then plain sampling.
    assert_eq!(
        cfg.eval_sampling,
        vec![EvalSampling::PAPER, EvalSampling::PLAIN]
    );
    let mut lines = Vec::new();
    let outcome = run_demo(&cfg, &mut |s| lines.push(s.to_string())).unwrap();
    assert_eq!(outcome.evals.len(), 2);
    for e in &outcome.evals {
        let names: Vec<&str> = e.models.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["base", "psr", "nsr", "w-reinforce", "reinforce"]);
        for m in &e.models {
            // The base is one model; every objective has a row per RL seed.
            let seeds = if m.name == "base" { 1 } else { 2 };
            assert_eq!(m.seeds.len(), seeds, "{}", m.name);
            for r in &m.seeds {
                assert_eq!(r.correct.len(), cfg.eval_problems);
                assert_eq!(
                    r.passk.iter().map(|p| p.0).collect::<Vec<_>>(),
                    vec![1, 2, 4, 8]
                );
                // Pass@k never decreases with k.
                assert!(
                    r.passk.windows(2).all(|w| w[1].1 >= w[0].1 - 1e-12),
                    "{r:?}"
                );
            }
        }
        // Paired comparisons with the base at k = 1 and 8, coverage per seed.
        assert_eq!(e.comparisons.len(), 4);
        for c in &e.comparisons {
            assert_eq!(c.deltas.iter().map(|d| d.0).collect::<Vec<_>>(), vec![1, 8]);
            assert_eq!(c.coverage.len(), 2);
            for (_, d) in &c.deltas {
                assert!(d.lo <= d.estimate && d.estimate <= d.hi, "{c:?}");
            }
        }
    }
    // The two settings sample from different distributions (same seeds): the base's samples
    // have another −log p per token.
    let nll = |i: usize| {
        outcome.evals[i].models[0].seeds[0]
            .token_nll
            .expect("the demo samples its rows itself, so it has their log-probs")
    };
    assert!(
        nll(0) > 0.0 && nll(1) > 0.0 && nll(0) != nll(1),
        "{} {}",
        nll(0),
        nll(1)
    );
    let out = &cfg.output;
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    for want in [
        "## Pass@k (%) at T = 0.6, top-p 0.95 (the verdicts' setting)",
        "## Pass@k (%) at T = 1, top-p 1 (for comparison)",
        "## The paper's claims (at T = 0.6, top-p 0.95)",
        "| base | 1 |",
        "| reinforce | 2 |",
        "| reinforce |",
        "ΔPass@8 [95%]",
        "the objective's 2 RL seeds",
        "### Policy entropy",
        "### Fully solved fraction",
        "CPU time",
    ] {
        assert!(report.contains(want), "missing {want:?} in\n{report}");
    }
    // Mean ± sd over the two seeds in the objectives' rows.
    let psr_row = report
        .lines()
        .find(|l| l.starts_with("| psr | 2 |"))
        .unwrap();
    assert!(psr_row.contains(" ± "), "{psr_row}");
    // Entropy at the start and end of RL, per objective that updated (a step whose samples an
    // objective filters out entirely, e.g. PSR with no correct sample, has no entropy).
    assert!(outcome.entropy.iter().any(|e| e.name == "nsr"));
    for e in &outcome.entropy {
        assert!(e.start > 0.0 && e.end > 0.0, "{e:?}");
        assert!(report.contains(&format!("| {} | {:.3} |", e.name, e.start)));
    }
    assert_eq!(outcome.curves.len(), 3);
    for series in &outcome.curves {
        assert_eq!(series.len(), 4);
        for s in series {
            let steps: Vec<f64> = s.points.iter().map(|p| p.0).collect();
            assert!(steps.windows(2).all(|w| w[0] < w[1]), "{steps:?}");
            assert!(
                steps.iter().all(|x| [0.0, 1.0, 2.0].contains(x)),
                "{steps:?}"
            );
        }
    }
    // Every step has a reward, for every objective.
    for s in &outcome.curves[2] {
        let steps: Vec<f64> = s.points.iter().map(|p| p.0).collect();
        assert_eq!(steps, [0.0, 1.0, 2.0], "{}", s.name);
    }
    assert!(report.contains("| step | 0 | 1 | 2 |"), "{report}");
    let claims: Vec<String> = outcome.claims.iter().map(|c| c.to_string()).collect();
    assert_eq!(claims.len(), 3, "{claims:?}");
    for (c, want) in claims.iter().zip([
        "PSR loses Pass@8",
        "NSR keeps Pass@8",
        "W-REINFORCE is best over the whole curve",
    ]) {
        assert!(c.starts_with(want) && c.contains(" at 95%"), "{c}");
        assert!(report.contains(c.as_str()), "{c}");
    }
    // W-REINFORCE is weighed against the REINFORCE control too.
    assert!(claims[2].contains("against 4 models"), "{}", claims[2]);
    for f in [
        "passk-t0.6-p0.95.svg",
        "passk-t1-p1.png",
        "train_reward.svg",
        "train_entropy.png",
        "train_fully_solved.svg",
        "train.jsonl",
        "eval.jsonl",
        "runs/reinforce/seed1/metrics.jsonl",
    ] {
        assert!(
            std::fs::metadata(out.join(f))
                .map(|m| m.len() > 0)
                .unwrap_or(false),
            "missing {f}"
        );
    }
    assert!(lines.iter().any(|l| l.contains("trained nsr seed 1")));
    assert!(lines.iter().any(|l| l.starts_with("entropy of psr:")));
    // Bad settings are refused before any work.
    let bad = DemoConfig {
        rl_seeds: 0,
        ..cfg.clone()
    };
    assert!(run_demo(&bad, &mut |_| {}).is_err());
}
