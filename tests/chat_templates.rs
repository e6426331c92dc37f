//! Our chat templates match the families' own Jinja templates byte for byte
//! (tests/fixtures/templates, rendered by transformers), and the paper's fixed templates.
use rlvr::tokenizer::{ChatTemplate, Message};
use std::path::Path;

fn fixture(name: &str) -> serde_json::Value {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/templates")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

#[test]
fn family_templates_match_byte_for_byte() {
    let mut checked = 0;
    for (file, t) in [
        ("qwen2_5.json", ChatTemplate::Qwen25),
        ("qwen2_5_math.json", ChatTemplate::Qwen25Math),
        ("qwen3.json", ChatTemplate::Qwen3NoThink),
        ("llama3.json", ChatTemplate::Llama3),
        ("smollm2.json", ChatTemplate::SmolLM2),
    ] {
        for case in fixture(file)["cases"].as_array().unwrap() {
            let msgs: Vec<Message> = case["messages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| Message::new(m["role"].as_str().unwrap(), m["content"].as_str().unwrap()))
                .collect();
            let got = t.render(&msgs, case["add_generation_prompt"].as_bool().unwrap());
            assert_eq!(
                got,
                case["expected"].as_str().unwrap(),
                "{file} case {}",
                case["name"]
            );
            checked += 1;
        }
    }
    assert!(checked >= 30);
}

#[test]
fn paper_templates_match() {
    let f = fixture("paper.json");
    for case in f["cases"].as_array().unwrap() {
        let t = match case["template"].as_str().unwrap() {
            "qwen" => ChatTemplate::PaperQwen,
            "qwen3_no_thinking" => ChatTemplate::PaperQwen3NoThink,
            "llama" => ChatTemplate::PaperLlama,
            o => panic!("unknown {o}"),
        };
        assert_eq!(
            t.render_question(case["input"].as_str().unwrap()),
            case["expected"].as_str().unwrap()
        );
    }
}
