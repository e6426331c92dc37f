//! Seeded generators of verifiable math tasks with integer answers: multi-digit arithmetic,
//! linear equations in x, and GSM-style word problems of 1–3 steps.
//!
//! The PRNG is SplitMix64 and every draw goes through integer arithmetic, so the same
//! [`TaskSpec`] gives the same items on every platform, and `generate(spec, n)` is a prefix of
//! `generate(spec, m)` for n ≤ m.
//!
//! Difficulty is clamped to `1..=MAX_DIFFICULTY`. What it sets per kind:
//! - arithmetic: [`ArithmeticConfig::from_difficulty`] (operands 2–6, digits 1–6, × from 2 on);
//! - linear: [`LinearConfig::from_difficulty`] (coefficient and solution ranges; x on both sides
//!   from 3 on);
//! - word: [`WordConfig::from_difficulty`] (steps 1–3, number size).

use anyhow::{bail, Result};
use std::fmt;
use std::str::FromStr;

pub const MAX_DIFFICULTY: u32 = 10;

/// One problem: the question text and its exact answer (an integer, in decimal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskItem {
    pub question: String,
    pub answer: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskKind {
    Arithmetic,
    Linear,
    Word,
    /// Each item is arithmetic, linear or word with equal probability.
    Mixed,
}

impl TaskKind {
    pub fn name(self) -> &'static str {
        match self {
            TaskKind::Arithmetic => "arithmetic",
            TaskKind::Linear => "linear",
            TaskKind::Word => "word",
            TaskKind::Mixed => "mixed",
        }
    }
}

impl fmt::Display for TaskKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for TaskKind {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "arithmetic" => TaskKind::Arithmetic,
            "linear" => TaskKind::Linear,
            "word" => TaskKind::Word,
            "mixed" => TaskKind::Mixed,
            other => bail!("unknown task {other:?}; expected arithmetic, linear, word or mixed"),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskSpec {
    pub kind: TaskKind,
    /// 1 (easiest) to [`MAX_DIFFICULTY`]; values outside are clamped.
    pub difficulty: u32,
    pub seed: u64,
}

/// `n` items of `spec`.
pub fn generate(spec: TaskSpec, n: usize) -> Vec<TaskItem> {
    generate_tagged(spec, n)
        .into_iter()
        .map(|(_, item)| item)
        .collect()
}

/// `n` items with the concrete kind of each (never `Mixed`).
pub fn generate_tagged(spec: TaskSpec, n: usize) -> Vec<(TaskKind, TaskItem)> {
    let d = spec.difficulty.clamp(1, MAX_DIFFICULTY);
    // Mix kind and difficulty into the seed so that, for one seed, arithmetic and linear (or
    // difficulties 2 and 3) are unrelated streams rather than the same draws reworded.
    let kind_salt: u64 = match spec.kind {
        TaskKind::Arithmetic => 1,
        TaskKind::Linear => 2,
        TaskKind::Word => 3,
        TaskKind::Mixed => 4,
    };
    let salt = kind_salt.wrapping_mul(0xA076_1D64_78BD_642F)
        ^ (d as u64).wrapping_mul(0xE703_7ED1_A0B4_28DB);
    let mut rng = SplitMix64::new(spec.seed ^ salt);
    (0..n)
        .map(|_| {
            let kind = match spec.kind {
                TaskKind::Mixed => [TaskKind::Arithmetic, TaskKind::Linear, TaskKind::Word]
                    [rng.below_unbiased(3) as usize],
                k => k,
            };
            let item = match kind {
                TaskKind::Arithmetic => arithmetic(&ArithmeticConfig::from_difficulty(d), &mut rng),
                TaskKind::Linear => linear(&LinearConfig::from_difficulty(d), &mut rng),
                _ => word(&WordConfig::from_difficulty(d), &mut rng),
            };
            (kind, item)
        })
        .collect()
}

pub use crate::rng::SplitMix64;

// ---------------------------------------------------------------- arithmetic

/// Knobs of an arithmetic expression `a op b op c …` (usual precedence: × before + and −).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArithmeticConfig {
    /// Operands, 2..=6.
    pub operands: usize,
    /// Most digits of an operand, 1..=6 (operands have 1..=digits digits, the first has exactly).
    pub digits: u32,
    /// Whether × may appear.
    pub multiply: bool,
}

impl ArithmeticConfig {
    pub fn from_difficulty(d: u32) -> Self {
        let d = d.clamp(1, MAX_DIFFICULTY);
        ArithmeticConfig {
            operands: (2 + (d as usize - 1) / 3).min(6),
            digits: d.div_ceil(2).min(6),
            multiply: d >= 2,
        }
    }
}

fn random_number(digits: u32, exact: bool, rng: &mut SplitMix64) -> i64 {
    let digits = if exact {
        digits
    } else {
        rng.range(1, digits as i64) as u32
    };
    let lo = if digits == 1 {
        0
    } else {
        10i64.pow(digits - 1)
    };
    rng.range(lo, 10i64.pow(digits) - 1)
}

/// An arithmetic item; the answer is exact in i128 (at most 6 six-digit factors < 10^36).
pub fn arithmetic(cfg: &ArithmeticConfig, rng: &mut SplitMix64) -> TaskItem {
    let operands = cfg.operands.clamp(2, 6);
    let digits = cfg.digits.clamp(1, 6);
    let mut values = vec![random_number(digits, true, rng)];
    let mut ops = Vec::new();
    for _ in 1..operands {
        let choices: &[char] = if cfg.multiply {
            &['+', '-', '*']
        } else {
            &['+', '-']
        };
        let op = *rng.pick(choices);
        ops.push(op);
        values.push(random_number(digits, false, rng));
    }
    let mut text = values[0].to_string();
    for (op, v) in ops.iter().zip(&values[1..]) {
        text.push_str(&format!(" {op} {v}"));
    }
    TaskItem {
        question: format!("What is {text}?"),
        answer: eval_with_precedence(&values, &ops).to_string(),
    }
}

/// Sum of products: each run of × is one term, added or subtracted by the operator before it.
fn eval_with_precedence(values: &[i64], ops: &[char]) -> i128 {
    let mut total = 0i128;
    let mut sign = 1i128;
    let mut term = values[0] as i128;
    for (&op, &v) in ops.iter().zip(&values[1..]) {
        match op {
            '*' => term *= v as i128,
            _ => {
                total += sign * term;
                sign = if op == '-' { -1 } else { 1 };
                term = v as i128;
            }
        }
    }
    total + sign * term
}

// ---------------------------------------------------------------- linear equations

/// Knobs of `a·x + b = c` (or `a·x + b = d·x + e` when `both_sides`), with an integer solution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinearConfig {
    /// |a|, |d| ≤ coef_max (≥ 1).
    pub coef_max: i64,
    /// |x| ≤ solution_max.
    pub solution_max: i64,
    /// |b|, |e| ≤ const_max.
    pub const_max: i64,
    pub both_sides: bool,
    /// Whether a, x and the constants may be negative.
    pub negatives: bool,
}

impl LinearConfig {
    pub fn from_difficulty(d: u32) -> Self {
        let d = d.clamp(1, MAX_DIFFICULTY) as i64;
        LinearConfig {
            coef_max: 3 + 3 * (d - 1),
            solution_max: 10 * d,
            const_max: 10 * d * d,
            both_sides: d >= 3,
            negatives: d >= 2,
        }
    }
}

/// `a·x` as written: `x`, `-x`, `3x`, `-3x`.
fn term_x(a: i64) -> String {
    match a {
        1 => "x".to_string(),
        -1 => "-x".to_string(),
        a => format!("{a}x"),
    }
}

/// `lead + b` with the sign folded in: `3x + 5`, `3x - 5`, `3x` (b = 0).
fn with_const(lead: String, b: i64) -> String {
    match b {
        0 => lead,
        b if b > 0 => format!("{lead} + {b}"),
        b => format!("{lead} - {}", -b),
    }
}

fn nonzero(rng: &mut SplitMix64, max: i64, negatives: bool) -> i64 {
    let v = rng.range(1, max.max(1));
    if negatives && rng.below_unbiased(2) == 1 {
        -v
    } else {
        v
    }
}

pub fn linear(cfg: &LinearConfig, rng: &mut SplitMix64) -> TaskItem {
    let lo = |m: i64| if cfg.negatives { -m } else { 0 };
    let x = rng.range(lo(cfg.solution_max), cfg.solution_max);
    let a = nonzero(rng, cfg.coef_max, cfg.negatives);
    let b = rng.range(lo(cfg.const_max), cfg.const_max);
    let rhs = if cfg.both_sides {
        // d ≠ a so the equation has exactly one solution.
        let mut d = nonzero(rng, cfg.coef_max, cfg.negatives);
        if d == a {
            let in_range = |c: i64| c != 0 && c.abs() <= cfg.coef_max;
            d = [a + 1, a - 1]
                .into_iter()
                .find(|&c| in_range(c))
                .unwrap_or(if a > 0 { a + 1 } else { a - 1 });
        }
        let e = (a - d) * x + b;
        with_const(term_x(d), e)
    } else {
        (a * x + b).to_string()
    };
    TaskItem {
        question: format!("Solve for x: {} = {rhs}", with_const(term_x(a), b)),
        answer: x.to_string(),
    }
}

// ---------------------------------------------------------------- word problems

/// Knobs of a word problem: a starting amount and `steps` changes to it (1..=3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WordConfig {
    pub steps: usize,
    /// Largest starting amount and largest added/removed amount.
    pub number_max: i64,
}

impl WordConfig {
    pub fn from_difficulty(d: u32) -> Self {
        let d = d.clamp(1, MAX_DIFFICULTY);
        WordConfig {
            steps: (d as usize).min(3),
            number_max: 10 * (1i64 << (d - 1)),
        }
    }
}

const NAMES: [(&str, &str); 12] = [
    ("Ava", "she"),
    ("Ben", "he"),
    ("Chloe", "she"),
    ("Diego", "he"),
    ("Emma", "she"),
    ("Farid", "he"),
    ("Grace", "she"),
    ("Hiro", "he"),
    ("Isla", "she"),
    ("Jonas", "he"),
    ("Lena", "she"),
    ("Omar", "he"),
];
const ITEMS: [&str; 10] = [
    "apples", "marbles", "stickers", "books", "pencils", "cookies", "stamps", "shells", "cards",
    "coins",
];
const CONTAINERS: [&str; 4] = ["boxes", "bags", "jars", "crates"];

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// A word problem whose answer is the amount after `steps` changes; every intermediate amount
/// is a positive integer, divisions are exact, and amounts in sentences are at least 2 so the
/// plural item names read correctly.
pub fn word(cfg: &WordConfig, rng: &mut SplitMix64) -> TaskItem {
    let steps = cfg.steps.clamp(1, 3);
    let max = cfg.number_max.max(2);
    let (name, pronoun) = *rng.pick(&NAMES);
    let other = loop {
        let (o, _) = *rng.pick(&NAMES);
        if o != name {
            break o;
        }
    };
    let item = *rng.pick(&ITEMS);
    let he = capitalize(pronoun);

    // The first sentence may already be a step (a product), which counts toward `steps`.
    let mut done = 0;
    let mut v: i64;
    let mut text = if rng.below_unbiased(2) == 0 {
        v = rng.range(2, max);
        format!("{name} has {v} {item}.")
    } else {
        let boxes = rng.range(2, 2 + max / 10);
        let per = rng.range(2, 12.max(max / 5));
        let container = *rng.pick(&CONTAINERS);
        v = boxes * per;
        done = 1;
        format!("{name} has {boxes} {container} with {per} {item} in each.")
    };
    while done < steps {
        let step = rng.below_unbiased(4);
        let sentence = match step {
            0 => {
                let b = rng.range(2, max);
                v += b;
                format!("{he} buys {b} more {item}.")
            }
            1 if v > 2 => {
                let b = rng.range(2, v - 1);
                v -= b;
                format!("{he} gives {b} {item} to {other}.")
            }
            2 if v <= max * 10 => {
                let k = rng.range(2, 3);
                v *= k;
                let word = if k == 2 { "doubles" } else { "triples" };
                format!("Then the number of {item} {name} has {word}.")
            }
            _ => {
                // An exact share: pick a divisor of v in 2..=6 when one exists, else add.
                let divisors: Vec<i64> = (2..=6).filter(|k| v % k == 0 && v / k > 0).collect();
                if divisors.is_empty() {
                    let b = rng.range(2, max);
                    v += b;
                    format!("{other} gives {name} {b} {item}.")
                } else {
                    let k = *rng.pick(&divisors);
                    v /= k;
                    format!("{he} splits the {item} into {k} equal groups and keeps one group.")
                }
            }
        };
        text.push(' ');
        text.push_str(&sentence);
        done += 1;
    }
    text.push_str(&format!(" How many {item} does {name} have now?"));
    TaskItem {
        question: text,
        answer: v.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_reference_values() {
        // First outputs of SplitMix64 seeded with 0 (the reference C implementation).
        let mut r = SplitMix64::new(0);
        assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(r.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn precedence() {
        assert_eq!(eval_with_precedence(&[2, 3, 4], &['+', '*']), 14);
        assert_eq!(eval_with_precedence(&[2, 3, 4, 5], &['*', '-', '*']), -14);
        assert_eq!(eval_with_precedence(&[10, 3, 4], &['-', '-']), 3);
    }

    #[test]
    fn formatting() {
        assert_eq!(with_const(term_x(1), -5), "x - 5");
        assert_eq!(with_const(term_x(-3), 0), "-3x");
        assert_eq!(with_const(term_x(-1), 7), "-x + 7");
    }

    #[test]
    fn kinds_parse() {
        for k in [
            TaskKind::Arithmetic,
            TaskKind::Linear,
            TaskKind::Word,
            TaskKind::Mixed,
        ] {
            assert_eq!(k.name().parse::<TaskKind>().unwrap(), k);
        }
        assert!("algebra".parse::<TaskKind>().is_err());
    }
}
