//! A shortened `rlvr demo` end to end (seconds): base model by SFT, RL per objective, held-out
//! Pass@k, report and plots.
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
    let rows = run_demo(&cfg, &mut |s| lines.push(s.to_string())).unwrap();
    assert_eq!(rows.len(), 4);
    for r in &rows {
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
