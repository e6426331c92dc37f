//! The CPU half of the memory goal: the fused LM-head log-prob keeps its memory bounded whatever
//! the vocabulary. Without a keep budget the tape holds no [N, V] tensor for the backward (the
//! unfused path does); with the default one it holds at most that budget of logits (here all of
//! them, and nothing else more), and the fused op's transient logits tile never exceeds its
//! budget, at a large real shape (T = 32768, V = 152064) too.
use rlvr::autograd::Tape;
use rlvr::backend::cpu::logprob::{fwd_tile, kept_rows, FUSED_BUDGET_FLOATS, KEEP_LOGITS_FLOATS};
use rlvr::model::{init::llama_config_json, Batch, Model, ModelConfig};

const VOCAB: usize = 50_000;

fn wide_vocab_model() -> Model {
    let cfg = llama_config_json(VOCAB, 16, 24, 1, 2, 1, true, 1, 2);
    Model::random(ModelConfig::from_json(cfg).expect("config"), 0.3, 9).expect("model")
}

fn batch() -> Batch {
    let seqs: Vec<Vec<u32>> = (0..4)
        .map(|s| {
            (0..64)
                .map(|i| ((s * 7919 + i * 104_729) % VOCAB) as u32)
                .collect()
        })
        .collect();
    Batch::from_sequences(&seqs)
}

#[test]
fn the_fused_path_saves_logits_only_within_its_keep_budget_and_the_unfused_one_all_of_them() {
    let model = wide_vocab_model();
    let b = batch();
    let (rows, targets) = b.next_token_rows();
    let logits_bytes = 4 * rows.len() * VOCAB;

    let tape = Tape::new();
    let vars = model.vars(&tape);
    let h = model.forward_hidden(&tape, &vars, &b).unwrap();
    let hs = tape.gather_rows(&h, &rows);
    let (lp, _) = tape.fused_logprob_with_budget(
        &hs,
        model.lm_head(&vars),
        &targets,
        1.0,
        FUSED_BUDGET_FLOATS,
        0,
    );
    let fused = tape.stats().saved_bytes;

    // The default keeps these logits (they fit), and nothing else more.
    let tape_kept = Tape::new();
    let vars_kept = model.vars(&tape_kept);
    let (lp_kept, _) = model
        .next_token_logprobs(&tape_kept, &vars_kept, &b, 1.0)
        .unwrap();
    let kept = tape_kept.stats().saved_bytes;
    let r = fwd_tile(VOCAB, rows.len(), FUSED_BUDGET_FLOATS).0;
    assert_eq!(
        kept_rows(rows.len(), VOCAB, r, KEEP_LOGITS_FLOATS),
        rows.len()
    );
    assert_eq!(kept, fused + logits_bytes, "kept logits");
    assert_eq!(lp.value.data(), lp_kept.value.data());

    let tape2 = Tape::new();
    let vars2 = model.vars(&tape2);
    let h = model.forward_hidden(&tape2, &vars2, &b).unwrap();
    let hs = tape2.gather_rows(&h, &rows);
    let z = tape2.logits(&hs, model.lm_head(&vars2));
    let (lp2, _) = tape2.logprob_from_logits(&z, &targets, 1.0);
    let unfused = tape2.stats().saved_bytes;

    eprintln!(
        "saved for the backward: fused {fused} B, unfused {unfused} B, logits {logits_bytes} B"
    );
    // Same numbers both ways (the fused path is not an approximation).
    for (a, b) in lp.value.data().iter().zip(lp2.value.data()) {
        assert!((a - b).abs() < 1e-4, "{a} vs {b}");
    }
    assert!(
        unfused >= logits_bytes,
        "the unfused path keeps the logits: {unfused} < {logits_bytes}"
    );
    assert!(
        fused * 10 < logits_bytes,
        "fused path saved {fused} bytes, logits would be {logits_bytes}"
    );
}

#[test]
fn the_transient_logits_tile_stays_within_its_budget_at_the_issue_shape() {
    for (t, v) in [
        (32_768usize, 152_064usize),
        (1, 152_064),
        (4096, 49_152),
        (7, 3),
    ] {
        let (r, c) = fwd_tile(v, t, FUSED_BUDGET_FLOATS);
        assert!(
            r >= 1 && c >= 1 && r <= t && c <= v,
            "{t}x{v}: tile {r}x{c}"
        );
        assert!(r * c <= FUSED_BUDGET_FLOATS, "{t}x{v}: tile {r}x{c}");
        let kept = kept_rows(t, v, r, KEEP_LOGITS_FLOATS);
        assert!(
            kept <= t && kept * v <= KEEP_LOGITS_FLOATS,
            "{t}x{v}: {kept} rows kept"
        );
    }
    // At T = 32768, V = 152064 the naive path holds f32 logits and their gradient: 2·T·V floats;
    // the fused one a tile, and keeps nothing for the backward.
    let naive = 2 * 32_768u64 * 152_064;
    assert!((FUSED_BUDGET_FLOATS as u64) * 100 < naive);
    let r = fwd_tile(152_064, 32_768, FUSED_BUDGET_FLOATS).0;
    assert_eq!(kept_rows(32_768, 152_064, r, KEEP_LOGITS_FLOATS), 0);
    assert!((KEEP_LOGITS_FLOATS as u64) * 100 < naive);
}
