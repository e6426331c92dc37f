//! Chat templates of the model families we train, written out as code so that they are exact
//! and fast. Each matches the family's own Jinja template byte for byte for system / user /
//! assistant messages (tests/fixtures/templates). The paper's fixed templates (its verl `RLHFDataset` prompts)
//! are here too, since the paper's runs used them instead of the models' own.
use anyhow::{bail, Result};
use std::str::FromStr;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub role: String,
    pub content: String,
}

impl Message {
    pub fn new(role: &str, content: &str) -> Message {
        Message {
            role: role.to_string(),
            content: content.to_string(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChatTemplate {
    /// Qwen2.5-Instruct (default system prompt "You are Qwen, created by Alibaba Cloud. …").
    Qwen25,
    /// Qwen2.5-Math-Instruct (default system prompt asks for \boxed{}).
    Qwen25Math,
    /// Qwen3 with `enable_thinking=False`: an empty think block opens the assistant turn.
    Qwen3NoThink,
    /// Llama 3.1 Instruct (knowledge-date system header).
    Llama3,
    /// SmolLM2-Instruct: ChatML with SmolLM's default system prompt.
    SmolLM2,
    /// Plain ChatML, no default system prompt.
    ChatML,
    /// The paper's `qwen` template (Qwen2.5-Math-7B runs).
    PaperQwen,
    /// The paper's `qwen3_no_thinking` template.
    PaperQwen3NoThink,
    /// The paper's `llama` template.
    PaperLlama,
    /// The question followed by a newline; for tiny models trained from scratch.
    Plain,
}

pub const ALL_TEMPLATES: &[(&str, ChatTemplate)] = &[
    ("qwen2.5", ChatTemplate::Qwen25),
    ("qwen2.5-math", ChatTemplate::Qwen25Math),
    ("qwen3-nothink", ChatTemplate::Qwen3NoThink),
    ("llama3", ChatTemplate::Llama3),
    ("smollm2", ChatTemplate::SmolLM2),
    ("chatml", ChatTemplate::ChatML),
    ("paper-qwen", ChatTemplate::PaperQwen),
    ("paper-qwen3-nothink", ChatTemplate::PaperQwen3NoThink),
    ("paper-llama", ChatTemplate::PaperLlama),
    ("plain", ChatTemplate::Plain),
];

impl FromStr for ChatTemplate {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        match ALL_TEMPLATES.iter().find(|(n, _)| *n == s) {
            Some((_, t)) => Ok(*t),
            None => {
                let names: Vec<&str> = ALL_TEMPLATES.iter().map(|(n, _)| *n).collect();
                bail!("unknown chat template `{s}` (known: {})", names.join(", "))
            }
        }
    }
}

impl ChatTemplate {
    /// The name `--template` and config files use.
    pub fn name(&self) -> &'static str {
        ALL_TEMPLATES
            .iter()
            .find(|(_, t)| t == self)
            .map_or("", |(n, _)| n)
    }
}

impl std::fmt::Display for ChatTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl clap::ValueEnum for ChatTemplate {
    fn value_variants<'a>() -> &'a [Self] {
        const ALL: [ChatTemplate; ALL_TEMPLATES.len()] = {
            let mut out = [ChatTemplate::Plain; ALL_TEMPLATES.len()];
            let mut i = 0;
            while i < out.len() {
                out[i] = ALL_TEMPLATES[i].1;
                i += 1;
            }
            out
        };
        &ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.name()))
    }
}

impl serde::Serialize for ChatTemplate {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for ChatTemplate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

const PAPER_SUFFIX: &str =
    "\nPlease reason step by step, and put your final answer within \\boxed{}.";
const QWEN_DEFAULT_SYSTEM: &str =
    "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.";
const QWEN_MATH_DEFAULT_SYSTEM: &str =
    "Please reason step by step, and put your final answer within \\boxed{}.";
const SMOLLM_DEFAULT_SYSTEM: &str =
    "You are a helpful AI assistant named SmolLM, trained by Hugging Face";

fn chatml_turn(out: &mut String, role: &str, content: &str) {
    out.push_str("<|im_start|>");
    out.push_str(role);
    out.push('\n');
    out.push_str(content);
    out.push_str("<|im_end|>\n");
}

/// Qwen3's split of an assistant message into (reasoning, reply) around the last `</think>`,
/// as its template does: reasoning is what follows the last `<think>` before it.
fn qwen3_split_think(content: &str) -> (&str, &str) {
    match content.rfind("</think>") {
        Some(i) => {
            let before = content[..content.find("</think>").unwrap_or(i)].trim_end_matches('\n');
            let reasoning = before
                .rsplit("<think>")
                .next()
                .unwrap_or("")
                .trim_start_matches('\n');
            (
                reasoning,
                content[i + "</think>".len()..].trim_start_matches('\n'),
            )
        }
        None => ("", content),
    }
}

impl ChatTemplate {
    /// End-of-turn token text that also stops generation (besides the model's EOS).
    pub fn end_of_turn(&self) -> Option<&'static str> {
        match self {
            ChatTemplate::Llama3 | ChatTemplate::PaperLlama => Some("<|eot_id|>"),
            ChatTemplate::Plain => None,
            _ => Some("<|im_end|>"),
        }
    }

    /// Render a conversation; with `add_generation_prompt` the text ends where the assistant's
    /// reply begins.
    pub fn render(&self, messages: &[Message], add_generation_prompt: bool) -> String {
        let mut out = String::new();
        match self {
            ChatTemplate::Qwen25 | ChatTemplate::Qwen25Math => {
                let default = if *self == ChatTemplate::Qwen25 {
                    QWEN_DEFAULT_SYSTEM
                } else {
                    QWEN_MATH_DEFAULT_SYSTEM
                };
                if messages.first().map(|m| m.role.as_str()) != Some("system") {
                    chatml_turn(&mut out, "system", default);
                }
                for m in messages {
                    chatml_turn(&mut out, &m.role, &m.content);
                }
                if add_generation_prompt {
                    out.push_str("<|im_start|>assistant\n");
                }
            }
            ChatTemplate::Qwen3NoThink => {
                let last_query = messages.iter().rposition(|m| m.role == "user");
                for (i, m) in messages.iter().enumerate() {
                    if m.role != "assistant" {
                        chatml_turn(&mut out, &m.role, &m.content);
                        continue;
                    }
                    let (reasoning, content) = qwen3_split_think(&m.content);
                    let after_query = last_query.is_none_or(|q| i > q);
                    if after_query && (i + 1 == messages.len() || !reasoning.is_empty()) {
                        let body = format!(
                            "<think>\n{}\n</think>\n\n{content}",
                            reasoning.trim_matches('\n')
                        );
                        chatml_turn(&mut out, "assistant", &body);
                    } else {
                        chatml_turn(&mut out, "assistant", content);
                    }
                }
                if add_generation_prompt {
                    out.push_str("<|im_start|>assistant\n<think>\n\n</think>\n\n");
                }
            }
            ChatTemplate::SmolLM2 | ChatTemplate::ChatML => {
                if *self == ChatTemplate::SmolLM2
                    && messages.first().map(|m| m.role.as_str()) != Some("system")
                    && !messages.is_empty()
                {
                    chatml_turn(&mut out, "system", SMOLLM_DEFAULT_SYSTEM);
                }
                for m in messages {
                    chatml_turn(&mut out, &m.role, &m.content);
                }
                if add_generation_prompt {
                    out.push_str("<|im_start|>assistant\n");
                }
            }
            ChatTemplate::Llama3 => {
                out.push_str("<|begin_of_text|>");
                let (system, rest) = match messages.first() {
                    Some(m) if m.role == "system" => (m.content.trim(), &messages[1..]),
                    _ => ("", messages),
                };
                out.push_str("<|start_header_id|>system<|end_header_id|>\n\n");
                out.push_str("Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n");
                out.push_str(system);
                out.push_str("<|eot_id|>");
                for m in rest {
                    out.push_str("<|start_header_id|>");
                    out.push_str(&m.role);
                    out.push_str("<|end_header_id|>\n\n");
                    out.push_str(m.content.trim());
                    out.push_str("<|eot_id|>");
                }
                if add_generation_prompt {
                    out.push_str("<|start_header_id|>assistant<|end_header_id|>\n\n");
                }
            }
            ChatTemplate::PaperQwen
            | ChatTemplate::PaperQwen3NoThink
            | ChatTemplate::PaperLlama
            | ChatTemplate::Plain => {
                let question = messages
                    .iter()
                    .rev()
                    .find(|m| m.role == "user")
                    .map(|m| m.content.as_str())
                    .unwrap_or("");
                out = self.render_question(question);
            }
        }
        out
    }

    /// The prompt for one question as the RL/eval data path builds it.
    pub fn render_question(&self, question: &str) -> String {
        match self {
            ChatTemplate::PaperQwen => format!(
                "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n{question}{PAPER_SUFFIX}<|im_end|>\n<|im_start|>assistant\n"
            ),
            ChatTemplate::PaperQwen3NoThink => format!(
                "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n{question}{PAPER_SUFFIX}<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n"
            ),
            ChatTemplate::PaperLlama => format!(
                "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n{question}{PAPER_SUFFIX}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
            ),
            ChatTemplate::Plain => format!("{question}\n"),
            _ => self.render(&[Message::new("user", question)], true),
        }
    }

    /// A sensible default for a model's `model_type`.
    pub fn default_for(model_type: &str) -> ChatTemplate {
        match model_type {
            "qwen2" => ChatTemplate::PaperQwen,
            "qwen3" => ChatTemplate::PaperQwen3NoThink,
            "llama" | "mistral" => ChatTemplate::SmolLM2,
            _ => ChatTemplate::ChatML,
        }
    }
}
