//! Bounded fuzzing of the input parsers with proptest: mutated and random GGUF files,
//! safetensors files and JSONL records must give an error or a value, never a panic, an abort or
//! an allocation the file cannot back. The LaTeX answer parser is fuzzed in `verify_fuzz.rs`.
//! CI runs a small slice; `RLVR_FUZZ_CASES=20000 cargo test --test reliability_fuzz` runs longer.
mod support;

use proptest::prelude::*;
use rlvr::model::gguf::GgufFile;
use std::sync::OnceLock;
use support::tiny_gguf::tiny_model;

fn cases() -> u32 {
    std::env::var("RLVR_FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(64)
}

fn tiny_gguf_bytes() -> &'static [u8] {
    static B: OnceLock<Vec<u8>> = OnceLock::new();
    B.get_or_init(|| tiny_model("llama").0.bytes())
}

fn tiny_model_dir() -> &'static tempfile::TempDir {
    static D: OnceLock<tempfile::TempDir> = OnceLock::new();
    D.get_or_init(|| {
        let d = tempfile::tempdir().unwrap();
        rlvr::model::init::write_tiny_char_model(&d.path().join("m"), Default::default()).unwrap();
        d
    })
}

/// `base` with `edits` (position, byte) applied and cut to `len` (as a fraction of its size).
fn mutate(base: &[u8], edits: &[(usize, u8)], keep: f64) -> Vec<u8> {
    let mut b = base.to_vec();
    for &(i, v) in edits {
        let n = b.len();
        b[i % n] = v;
    }
    b.truncate(((b.len() as f64) * keep) as usize);
    b
}

fn edits() -> impl Strategy<Value = Vec<(usize, u8)>> {
    // Bias towards the header, where every size lives.
    prop::collection::vec(
        (prop_oneof![0usize..512, any::<usize>()], any::<u8>()),
        1..8,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn gguf_reader_never_panics(e in edits(), keep in prop_oneof![Just(1.0), 0.0f64..1.0]) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.gguf");
        std::fs::write(&path, mutate(tiny_gguf_bytes(), &e, keep)).unwrap();
        if let Ok(f) = GgufFile::open(&path) {
            let hp = rlvr::model::gguf::hf_config::HParams::read(&f);
            if hp.is_ok() {
                let _ = rlvr::model::gguf::convert_gguf(
                    &path, &dir.path().join("out"), rlvr::model::gguf::OutDtype::F32, false);
            }
        }
    }

    #[test]
    fn safetensors_loader_never_panics(e in edits(), keep in prop_oneof![Just(1.0), 0.0f64..1.0]) {
        let src = tiny_model_dir().path().join("m");
        let dir = tempfile::tempdir().unwrap();
        for f in ["config.json", "tokenizer.json"] {
            std::fs::copy(src.join(f), dir.path().join(f)).unwrap();
        }
        let st = std::fs::read(src.join("model.safetensors")).unwrap();
        std::fs::write(dir.path().join("model.safetensors"), mutate(&st, &e, keep)).unwrap();
        let _ = rlvr::model::Model::load(dir.path());
    }

    #[test]
    fn jsonl_records_never_panic(lines in prop::collection::vec(
        prop_oneof![
            any::<String>(),
            "\\{\"(prompt|answer|response|question_id|tokens)\": (\"[^\"]{0,8}\"|[0-9-]{1,12}|null|\\[[0-9, ]{0,12}\\])\\}",
        ],
        0..6,
    )) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.jsonl");
        std::fs::write(&path, lines.join("\n")).unwrap();
        let _ = rlvr::util::read_jsonl(&path);
        let _ = rlvr::generate::prompts::load_prompt_file(&path);
        let _ = rlvr::cli::logprobs::read_token_lines(&path, 100);
        let _ = rlvr::eval::resume::recover(&path, 2);
    }
}
