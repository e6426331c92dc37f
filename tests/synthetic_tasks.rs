//! Synthetic tasks: determinism, variety, and answers recomputed from the question text by
//! independent parsers.

use rlvr::data::synthetic::{
    generate, generate_tagged, TaskItem, TaskKind, TaskSpec, MAX_DIFFICULTY,
};
use std::collections::HashSet;

const KINDS: [TaskKind; 4] = [
    TaskKind::Arithmetic,
    TaskKind::Linear,
    TaskKind::Word,
    TaskKind::Mixed,
];

fn spec(kind: TaskKind, difficulty: u32, seed: u64) -> TaskSpec {
    TaskSpec {
        kind,
        difficulty,
        seed,
    }
}

// ---------------------------------------------------------------- arithmetic checker

/// Recursive-descent evaluation of integers with + - * and the usual precedence.
fn eval_expr(s: &str) -> i128 {
    let tokens: Vec<&str> = s.split_whitespace().collect();
    let mut pos = 0;
    let mut total = eval_product(&tokens, &mut pos);
    while pos < tokens.len() {
        let op = tokens[pos];
        pos += 1;
        let rhs = eval_product(&tokens, &mut pos);
        match op {
            "+" => total += rhs,
            "-" => total -= rhs,
            other => panic!("unexpected operator {other} in {s}"),
        }
    }
    total
}

fn eval_product(tokens: &[&str], pos: &mut usize) -> i128 {
    let mut v: i128 = tokens[*pos].parse().unwrap();
    *pos += 1;
    while *pos < tokens.len() && tokens[*pos] == "*" {
        v *= tokens[*pos + 1].parse::<i128>().unwrap();
        *pos += 2;
    }
    v
}

fn check_arithmetic(item: &TaskItem) {
    let expr = item
        .question
        .strip_prefix("What is ")
        .and_then(|s| s.strip_suffix('?'))
        .unwrap_or_else(|| panic!("{:?}", item.question));
    assert_eq!(
        eval_expr(expr).to_string(),
        item.answer,
        "{}",
        item.question
    );
}

// ---------------------------------------------------------------- linear checker

/// A side of the equation as (coefficient of x, constant).
fn parse_linear_side(s: &str) -> (i64, i64) {
    let (mut coef, mut konst) = (0, 0);
    let mut sign = 1;
    for tok in s.split_whitespace() {
        match tok {
            "+" => sign = 1,
            "-" => sign = -1,
            t if t.ends_with('x') => {
                let c = match &t[..t.len() - 1] {
                    "" => 1,
                    "-" => -1,
                    n => n.parse::<i64>().unwrap(),
                };
                coef += sign * c;
            }
            t => konst += sign * t.parse::<i64>().unwrap(),
        }
    }
    (coef, konst)
}

fn check_linear(item: &TaskItem) {
    let eq = item
        .question
        .strip_prefix("Solve for x: ")
        .unwrap_or_else(|| panic!("{:?}", item.question));
    let (lhs, rhs) = eq.split_once(" = ").unwrap();
    let (a, b) = parse_linear_side(lhs);
    let (d, e) = parse_linear_side(rhs);
    let x: i64 = item.answer.parse().unwrap();
    assert_eq!(a * x + b, d * x + e, "x = {x} does not solve {eq}");
    assert_ne!(a, d, "{eq} has no unique solution");
}

// ---------------------------------------------------------------- word problem checker

fn number_after(words: &[&str], key: &str) -> i64 {
    let i = words
        .iter()
        .position(|w| *w == key)
        .unwrap_or_else(|| panic!("no {key:?} in {words:?}"));
    words[i + 1].parse().unwrap()
}

/// Replays the story sentence by sentence and returns the final amount.
fn replay_word(question: &str) -> i64 {
    let mut v: Option<i64> = None;
    let mut steps = 0;
    for sentence in question
        .split(['.', '?'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let w: Vec<&str> = sentence.split_whitespace().collect();
        if sentence.starts_with("How many") {
            continue;
        } else if sentence.contains(" in each") {
            v = Some(number_after(&w, "has") * number_after(&w, "with"));
            steps += 1;
        } else if w.len() == 3 || (w.len() == 4 && w[1] == "has") {
            v = Some(number_after(&w, "has"));
        } else {
            let cur = v.expect("a step before the start");
            v = Some(if sentence.contains(" buys ") {
                cur + number_after(&w, "buys")
            } else if sentence.contains(" gives ") && w[1] == "gives" && w.contains(&"to") {
                cur - number_after(&w, "gives")
            } else if sentence.contains(" gives ") {
                // "<Other> gives <Name> <b> <items>"
                cur + w[3].parse::<i64>().unwrap()
            } else if sentence.ends_with("doubles") {
                cur * 2
            } else if sentence.ends_with("triples") {
                cur * 3
            } else if sentence.contains(" equal groups") {
                let k = number_after(&w, "into");
                assert_eq!(cur % k, 0, "inexact split in {question}");
                cur / k
            } else {
                panic!("unknown sentence {sentence:?}")
            });
            steps += 1;
        }
        assert!(v.unwrap() >= 0, "negative amount in {question}");
    }
    assert!((1..=3).contains(&steps), "{steps} steps in {question}");
    v.expect("no amount")
}

fn check_word(item: &TaskItem) {
    assert_eq!(
        replay_word(&item.question).to_string(),
        item.answer,
        "{}",
        item.question
    );
}

fn check(kind: TaskKind, item: &TaskItem) {
    match kind {
        TaskKind::Arithmetic => check_arithmetic(item),
        TaskKind::Linear => check_linear(item),
        TaskKind::Word => check_word(item),
        TaskKind::Mixed => unreachable!("generate_tagged names the concrete kind"),
    }
}

#[test]
fn answers_are_correct_at_every_difficulty() {
    for kind in KINDS {
        for d in 1..=MAX_DIFFICULTY {
            for (k, item) in generate_tagged(spec(kind, d, 7 + d as u64), 150) {
                if kind != TaskKind::Mixed {
                    assert_eq!(k, kind);
                }
                check(k, &item);
            }
        }
    }
}

#[test]
fn same_seed_same_items_and_prefix_stable() {
    for kind in KINDS {
        let a = generate(spec(kind, 3, 42), 50);
        assert_eq!(a, generate(spec(kind, 3, 42), 50));
        assert_eq!(a[..20], generate(spec(kind, 3, 42), 20)[..]);
    }
}

#[test]
fn different_seeds_and_kinds_differ() {
    for kind in KINDS {
        let a = generate(spec(kind, 2, 1), 50);
        let b = generate(spec(kind, 2, 2), 50);
        let same = a.iter().zip(&b).filter(|(x, y)| x == y).count();
        assert!(same < 5, "{kind}: {same} identical items across seeds");
        let distinct: HashSet<&String> = a.iter().map(|i| &i.question).collect();
        assert!(
            distinct.len() > 40,
            "{kind}: only {} distinct questions",
            distinct.len()
        );
    }
    let mixed = generate_tagged(spec(TaskKind::Mixed, 2, 3), 300);
    for k in [TaskKind::Arithmetic, TaskKind::Linear, TaskKind::Word] {
        let n = mixed.iter().filter(|(kind, _)| *kind == k).count();
        assert!(n > 60, "{k}: {n} of 300 mixed items");
    }
}

#[test]
fn difficulty_changes_problems() {
    // Harder arithmetic has longer operands and more of them.
    let len = |d| {
        generate(spec(TaskKind::Arithmetic, d, 5), 100)
            .iter()
            .map(|i| i.question.len())
            .sum::<usize>()
    };
    assert!(len(1) < len(4) && len(4) < len(9));
    // Harder word problems have more sentences.
    let sentences = |d| {
        generate(spec(TaskKind::Word, d, 5), 100)
            .iter()
            .map(|i| i.question.matches(". ").count())
            .sum::<usize>()
    };
    assert!(sentences(1) < sentences(3));
    // Difficulty 1 linear equations keep everything non-negative and x on one side.
    for item in generate(spec(TaskKind::Linear, 1, 5), 100) {
        assert!(!item.question.contains('-'), "{}", item.question);
        assert!(!item.question.split(" = ").nth(1).unwrap().contains('x'));
    }
    // Out-of-range difficulty is clamped, not a panic.
    assert_eq!(
        generate(spec(TaskKind::Word, 0, 1), 5),
        generate(spec(TaskKind::Word, 1, 1), 5)
    );
    assert_eq!(
        generate(spec(TaskKind::Linear, 99, 1), 5),
        generate(spec(TaskKind::Linear, MAX_DIFFICULTY, 1), 5)
    );
}

#[test]
fn checkers_reject_wrong_answers() {
    // The independent checkers must actually catch a wrong answer.
    for kind in [TaskKind::Arithmetic, TaskKind::Linear, TaskKind::Word] {
        let mut item = generate(spec(kind, 2, 11), 1).remove(0);
        let wrong = item.answer.parse::<i128>().unwrap() + 1;
        item.answer = wrong.to_string();
        let caught = std::panic::catch_unwind(|| check(kind, &item)).is_err();
        assert!(
            caught,
            "{kind}: wrong answer accepted for {}",
            item.question
        );
    }
}
