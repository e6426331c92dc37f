//! Parity with Hugging Face transformers (tests/fixtures/golden, made by scripts/golden.py):
//! log-probs and entropies within 1e-4 absolute, parameter gradients within 1e-3 relative
//! (per tensor, max|g − ref| / max|ref|), for every architecture and storage layout.
use rlvr::autograd::Tape;
use rlvr::model::{weights::read_all_f32, Batch, Model};
use std::path::Path;

const CASES: &[&str] = &[
    "llama_odd",
    "llama3_rope_tied",
    "qwen2",
    "qwen3",
    "mistral",
    "llama_bf16",
    "qwen2_sharded",
    "llama_v4_config",
    "llama3_v4_config",
];

fn floats(v: &serde_json::Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn check_case(name: &str) -> (f32, f32, f32) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/golden")
        .join(name);
    let model = Model::load(&dir).unwrap_or_else(|e| panic!("{name}: {e:#}"));
    let golden: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("golden.json")).unwrap()).unwrap();
    let seqs: Vec<Vec<u32>> = golden["sequences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            s.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap() as u32)
                .collect()
        })
        .collect();
    let tape = Tape::new();
    let vars = model.vars(&tape);
    let batch = Batch::from_sequences(&seqs);
    let (lp, ent) = model
        .next_token_logprobs(&tape, &vars, &batch, 1.0)
        .unwrap();
    let (mut lp_err, mut ent_err) = (0.0f32, 0.0f32);
    let mut at = 0;
    for (s, seq) in seqs.iter().enumerate() {
        let (rl, re) = (
            floats(&golden["logprobs"][s]),
            floats(&golden["entropy"][s]),
        );
        assert_eq!(rl.len(), seq.len() - 1);
        for i in 0..rl.len() {
            lp_err = lp_err.max((lp.value.data()[at + i] - rl[i]).abs());
            ent_err = ent_err.max((ent.value.data()[at + i] - re[i]).abs());
        }
        at += rl.len();
    }
    let loss = tape.scale(&tape.sum(&lp), -1.0);
    let ref_loss = golden["loss"].as_f64().unwrap();
    assert!(
        (loss.value.item() as f64 - ref_loss).abs() < 1e-3 * ref_loss.abs().max(1.0),
        "{name}: loss {} vs {ref_loss}",
        loss.value.item()
    );
    let grads = tape.backward(&loss);
    let refs = read_all_f32(&dir.join("grads.safetensors")).unwrap();
    let mut grad_err = 0.0f32;
    for (i, pname) in model.param_names().enumerate() {
        let r = refs
            .get(pname)
            .unwrap_or_else(|| panic!("{name}: no reference gradient for {pname}"));
        let g = grads
            .get(&vars[i])
            .unwrap_or_else(|| panic!("{name}: no gradient for {pname}"));
        let scale = r
            .data()
            .iter()
            .fold(0.0f32, |m, x| m.max(x.abs()))
            .max(1e-12);
        let rel = g.max_abs_diff(r) / scale;
        assert!(
            rel <= 1e-3,
            "{name}: gradient of {pname} off by {rel:.2e} relative"
        );
        grad_err = grad_err.max(rel);
    }
    assert_eq!(refs.len(), model.params.len(), "{name}: parameter count");
    assert!(lp_err <= 1e-4, "{name}: log-prob error {lp_err:.2e}");
    assert!(ent_err <= 1e-4, "{name}: entropy error {ent_err:.2e}");
    (lp_err, ent_err, grad_err)
}

#[test]
fn every_architecture_matches_transformers() {
    for name in CASES {
        let (lp, ent, g) = check_case(name);
        println!(
            "{name:18} logprob max abs err {lp:.2e}  entropy {ent:.2e}  grad max rel err {g:.2e}"
        );
    }
}
