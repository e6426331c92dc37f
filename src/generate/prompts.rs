//! Problems → prompt token ids for generation: chat-template choice, tokenisation, a prompt
//! length limit (over-long prompts are dropped and counted, as verl's `filter_overlong_prompts`
//! does), the stop tokens of a model, and per-problem seeds.
//!
//! Stop tokens follow the paper's released code, whose rollouts stop at the generation config's
//! EOS ids: with a generation_config.json those ids alone (Qwen2.5-Math-7B base: only
//! `<|endoftext|>`, so an `<|im_end|>` it writes is part of the response; instruct models list
//! their end-of-turn tokens there). Without one, config.json's EOS ids plus the template's
//! end-of-turn token when the tokenizer knows it.
use crate::data::verl::Problem;
use crate::generate::engine::GenRequest;
use crate::generate::sampling::SamplingParams;
use crate::model::ModelConfig;
use crate::tokenizer::{eos_ids_from_dir, eos_ids_in, ChatTemplate, Tokenizer};
use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::path::Path;

/// One problem rendered for the model.
#[derive(Clone, Debug)]
pub struct Prompt {
    pub problem: Problem,
    /// Whether the input carried a gold answer (`rlvr generate` accepts prompts without one).
    pub has_answer: bool,
    /// The rendered template text.
    pub text: String,
    pub tokens: Vec<u32>,
}

/// Prompts kept, and how many problems were dropped for exceeding the length limit.
#[derive(Clone, Debug, Default)]
pub struct PromptSet {
    pub prompts: Vec<Prompt>,
    pub dropped_too_long: usize,
}

/// `--template NAME` when given, else the default for the model's `model_type`.
pub fn choose_template(name: Option<&str>, config: &ModelConfig) -> Result<ChatTemplate> {
    match name {
        Some(n) => n.parse(),
        None => Ok(ChatTemplate::default_for(&model_type(config))),
    }
}

/// `model_type` from config.json, else derived from the architecture.
pub fn model_type(config: &ModelConfig) -> String {
    if let Some(t) = config.raw.get("model_type").and_then(|t| t.as_str()) {
        return t.to_string();
    }
    match config.arch {
        crate::model::Arch::Llama => "llama",
        crate::model::Arch::Qwen2 => "qwen2",
        crate::model::Arch::Qwen3 => "qwen3",
    }
    .to_string()
}

/// Render and tokenise problems. Prompts longer than `max_prompt_tokens`, or leaving no room for
/// a single output token in the model's `context`, are dropped and counted.
pub fn build_prompts(
    items: Vec<(Problem, bool)>,
    tok: &Tokenizer,
    template: ChatTemplate,
    max_prompt_tokens: Option<usize>,
    context: usize,
) -> Result<PromptSet> {
    let mut set = PromptSet::default();
    for (problem, has_answer) in items {
        let text = template.render_question(&problem.question);
        let tokens = tok
            .encode(&text)
            .with_context(|| format!("problem {}", problem.id))?;
        if tokens.is_empty() {
            bail!("problem {}: the prompt tokenises to nothing", problem.id);
        }
        if max_prompt_tokens.is_some_and(|m| tokens.len() > m) || tokens.len() >= context {
            set.dropped_too_long += 1;
            continue;
        }
        set.prompts.push(Prompt {
            problem,
            has_answer,
            text,
            tokens,
        });
    }
    Ok(set)
}

/// The engine request for one prompt. The output limit is capped so that prompt + output fits
/// the model's context (vLLM's `max_model_len` does the same in the paper's evaluation).
pub fn request_for(
    prompt: &Prompt,
    n: usize,
    seed: u64,
    params: SamplingParams,
    max_tokens: usize,
    context: usize,
) -> GenRequest {
    GenRequest {
        prompt: prompt.tokens.clone(),
        n,
        seed: problem_seed(seed, &prompt.problem.id),
        params,
        max_tokens: max_tokens.min(context.saturating_sub(prompt.tokens.len())),
    }
}

/// The tokens that end a response (see the module comment), without duplicates.
pub fn stop_tokens(
    model_dir: Option<&Path>,
    config: &ModelConfig,
    tok: &Tokenizer,
    template: ChatTemplate,
) -> Result<Vec<u32>> {
    let generation = match model_dir {
        Some(d) => eos_ids_in(&d.join("generation_config.json"))?,
        None => vec![],
    };
    let mut ids = generation.clone();
    if ids.is_empty() {
        ids = match model_dir {
            Some(d) => eos_ids_from_dir(d)?,
            None => vec![],
        };
        if ids.is_empty() {
            ids = config.eos_token_ids.clone();
        }
        if let Some(id) = template.end_of_turn().and_then(|t| tok.token_id(t)) {
            ids.push(id);
        }
    }
    let mut out: Vec<u32> = Vec::new();
    for id in ids {
        if !out.contains(&id) {
            out.push(id);
        }
    }
    Ok(out)
}

/// The seed of one problem's samples: a function of the run seed and the question id only,
/// so a resumed or re-ordered run draws the same samples for the same problem.
pub fn problem_seed(seed: u64, question_id: &str) -> u64 {
    // FNV-1a over the id, then SplitMix64 to spread the bits.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in question_id.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    crate::rng::SplitMix64(seed ^ h.rotate_left(17)).next_u64()
}

/// Problems of a prompt file. Parquet and JSONL with answers go through
/// [`crate::data::verl::read_problems`] (as they are: generation needs no gold answers); JSONL
/// lines may also lack `answer` (plain prompts for `rlvr generate`), in which case the flag is
/// false and the answer is empty.
pub fn load_prompt_file(path: &Path) -> Result<Vec<(Problem, bool)>> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    if ext == "parquet" {
        return Ok(crate::data::verl::read_problems(path)?
            .into_iter()
            .map(|p| (p, true))
            .collect());
    }
    if ext != "jsonl" && ext != "json" {
        bail!(
            "{}: unknown prompt file type (expected .parquet, .jsonl or .json)",
            path.display()
        );
    }
    let rows = crate::util::read_jsonl(path)?;
    if rows.iter().all(|v| v.get("answer").is_some()) {
        return Ok(crate::data::verl::read_problems(path)?
            .into_iter()
            .map(|p| (p, true))
            .collect());
    }
    rows.iter()
        .enumerate()
        .map(|(i, v)| {
            prompt_from_json(v, i).with_context(|| format!("{}: record {}", path.display(), i + 1))
        })
        .collect()
}

/// A JSONL record without a gold answer; ids follow the same rule as the verl loader
/// (`id`, else `data_source/index`, else `data_source/<record number from 0>`).
fn prompt_from_json(v: &Value, i: usize) -> Result<(Problem, bool)> {
    let text = |key: &str| -> Result<Option<String>> {
        match v.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(other) => bail!("field `{key}`: expected a string, found {other}"),
        }
    };
    if !v.is_object() {
        bail!("expected a JSON object");
    }
    let (key, p) = match (v.get("prompt"), v.get("question")) {
        (Some(p), _) => ("prompt", p),
        (None, Some(q)) => ("question", q),
        (None, None) => bail!("missing field `prompt` (or `question`)"),
    };
    let question = match p {
        Value::String(s) => s.clone(),
        Value::Array(turns) => match turns.first().and_then(|t| t.get("content")) {
            Some(Value::String(s)) => s.clone(),
            _ => bail!("field `{key}[0].content`: missing or not a string"),
        },
        other => {
            bail!("field `{key}`: expected a string or a list of {{role, content}}, found {other}")
        }
    };
    let answer = text("answer")?;
    let data_source = text("data_source")?.unwrap_or_default();
    let id = match text("id")? {
        Some(id) => id,
        None => format!(
            "{data_source}/{}",
            text("index")?.unwrap_or_else(|| i.to_string())
        ),
    };
    Ok((
        Problem {
            id,
            data_source,
            question,
            answer: answer.clone().unwrap_or_default(),
            solution: text("solution")?,
            level: text("level")?,
            subject: text("subject")?.or(text("type")?),
        },
        answer.is_some(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_depend_on_seed_and_id_only() {
        assert_eq!(problem_seed(3, "math/7"), problem_seed(3, "math/7"));
        assert_ne!(problem_seed(3, "math/7"), problem_seed(3, "math/8"));
        assert_ne!(problem_seed(3, "math/7"), problem_seed(4, "math/7"));
    }

    #[test]
    fn stop_tokens_are_the_generation_configs_eos_when_there_is_one() {
        use crate::model::init::{write_tiny_char_model, TinySpec};
        let dir = tempfile::tempdir().unwrap();
        let spec = TinySpec {
            hidden: 8,
            intermediate: 16,
            layers: 1,
            heads: 2,
            kv_heads: 1,
            seed: 1,
        };
        let model = write_tiny_char_model(dir.path(), spec).unwrap();
        let tok = Tokenizer::from_dir(dir.path()).unwrap();
        let im_end = tok.token_id("<|im_end|>").unwrap();
        let stops = |t| stop_tokens(Some(dir.path()), &model.config, &tok, t).unwrap();
        // An instruct-style generation config lists the end-of-turn token itself.
        assert_eq!(stops(ChatTemplate::PaperQwen), vec![0, im_end]);
        // A base model's generation config names only its EOS: `<|im_end|>` does not stop.
        let gen = dir.path().join("generation_config.json");
        std::fs::write(&gen, "{\"eos_token_id\": 0}").unwrap();
        assert_eq!(stops(ChatTemplate::PaperQwen), vec![0]);
        // Without a generation config: config.json's EOS and the template's end of turn.
        std::fs::remove_file(&gen).unwrap();
        assert_eq!(stops(ChatTemplate::PaperQwen), vec![0, im_end]);
        assert_eq!(stops(ChatTemplate::Plain), vec![0]);
    }

    #[test]
    fn prompts_without_answers() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("p.jsonl");
        std::fs::write(
            &p,
            "{\"prompt\": \"hi\"}\n{\"prompt\": [{\"role\": \"user\", \"content\": \"q\"}], \"answer\": 3, \"data_source\": \"d\", \"index\": 5}\n",
        )
        .unwrap();
        let items = load_prompt_file(&p).unwrap();
        assert_eq!(items.len(), 2);
        assert!(!items[0].1 && items[1].1);
        assert_eq!(items[0].0.id, "/0");
        assert_eq!(
            (items[1].0.id.as_str(), items[1].0.answer.as_str()),
            ("d/5", "3")
        );
        assert_eq!(items[1].0.question, "q");
        std::fs::write(&p, "{\"answer\": 1}\n{\"prompt\": 1}\n").unwrap();
        let e = format!("{:#}", load_prompt_file(&p).unwrap_err());
        assert!(e.contains("record 1") && e.contains("prompt"), "{e}");
    }
}
