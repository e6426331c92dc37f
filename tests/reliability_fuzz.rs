//! Bounded fuzzing of the input parsers with proptest: mutated and random GGUF files,
//! safetensors files, verl parquet files and JSONL records must give an error or a value, never a
//! panic, an abort or an allocation the file cannot back. The LaTeX answer parser is fuzzed in
//! `verify_fuzz.rs`. CI runs a small slice; `RLVR_FUZZ_CASES=20000 cargo test --test
//! reliability_fuzz` runs longer.
mod support;

use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
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

fn tiny_parquet_bytes() -> &'static [u8] {
    static B: OnceLock<Vec<u8>> = OnceLock::new();
    B.get_or_init(|| {
        support::tiny_parquet::verl_parquet(&[
            ("What is 1+1?", "2"),
            ("Solve $x^2 = 4$ for $x > 0$.", "2"),
            ("What is $\\frac{1}{2} + \\frac{1}{3}$?", "\\frac{5}{6}"),
        ])
    })
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

/// Edits anywhere in the tiny parquet file, half of them in its footer (schema, column chunk
/// offsets and sizes live there).
fn parquet_edits() -> impl Strategy<Value = Vec<(usize, u8)>> {
    let n = tiny_parquet_bytes().len();
    prop::collection::vec(
        (prop_oneof![n.saturating_sub(400)..n, 0..n], any::<u8>()),
        1..8,
    )
}

#[test]
fn the_unmutated_parquet_file_loads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.parquet");
    std::fs::write(&path, tiny_parquet_bytes()).unwrap();
    let ps = rlvr::data::verl::load_problems(&path).unwrap();
    assert_eq!(ps.len(), 3);
    assert_eq!(
        (ps[2].id.as_str(), ps[2].answer.as_str()),
        ("tiny/2", "\\frac{5}{6}")
    );
    assert_eq!(ps[0].question, "What is 1+1?");
}

proptest! {
    // Failures are saved beside this file (tests/NAME.proptest-regressions) and replayed first:
    // the default location needs a lib.rs or main.rs above the test, which tests/ does not have.
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

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
    fn parquet_reader_never_panics(
        e in parquet_edits(),
        keep in prop_oneof![Just(1.0), 0.0f64..1.0],
        insert in prop::option::of((any::<usize>(), prop::collection::vec(any::<u8>(), 1..64))),
    ) {
        let mut bytes = mutate(tiny_parquet_bytes(), &e, keep);
        if let Some((at, extra)) = insert {
            let tail = bytes.split_off(at % (bytes.len() + 1));
            bytes.extend(extra);
            bytes.extend(tail);
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.parquet");
        std::fs::write(&path, bytes).unwrap();
        let _ = rlvr::data::verl::load_problems(&path);
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
