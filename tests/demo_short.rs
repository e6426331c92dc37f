//! A shortened `rlvr demo` end to end (seconds): base model by SFT, RL per objective, held-out
//! Pass@k, paired comparisons and claim verdicts, report and plots.
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
        ],
        sft_steps: 15,
        rl_steps: 2,
        prompts_per_step: 8,
        n: 4,
        eval_problems: 6,
        eval_n: 8,
        max_response_tokens: 5,
        ..DemoConfig::default()
    };
    let mut lines = Vec::new();
    let outcome = run_demo(&cfg, &mut |s| lines.push(s.to_string())).unwrap();
    let rows = &outcome.rows;
    assert_eq!(rows.len(), 4);
    for r in rows {
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
    let out = &cfg.output;
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("| base |") && report.contains("| nsr |"));
    // Paired comparisons with the base at k = 1 and 8, and a computed verdict per claim.
    assert_eq!(outcome.comparisons.len(), 3);
    for c in &outcome.comparisons {
        assert_eq!(c.deltas.iter().map(|d| d.0).collect::<Vec<_>>(), vec![1, 8]);
        for (_, d) in &c.deltas {
            assert!(d.lo <= d.estimate && d.estimate <= d.hi, "{c:?}");
        }
    }
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
    assert!(report.contains("ΔPass@8 [95%]"), "{report}");
    for f in [
        "passk.svg",
        "passk.png",
        "train_reward.svg",
        "train_entropy.png",
        "train.jsonl",
        "eval.jsonl",
    ] {
        assert!(
            std::fs::metadata(out.join(f))
                .map(|m| m.len() > 0)
                .unwrap_or(false),
            "missing {f}"
        );
    }
    assert!(lines.iter().any(|l| l.contains("trained nsr")));
}
