//! Fuzzing the verifier with proptest: arbitrary strings, LaTeX-like soup, deep nesting, huge
//! exponents and long digit strings must never panic and each check must stay under 10 ms.
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use rlvr::verify::{extract_answer, grade, is_equivalent, Mode};
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_millis(10);

/// Fastest of three runs of one full check in both modes (scheduling noise only adds time).
fn check_time(response: &str, reference: &str) -> Duration {
    (0..3)
        .map(|_| {
            let t = Instant::now();
            for mode in [Mode::Correct, Mode::Paper] {
                let g = grade(response, reference, mode);
                std::hint::black_box(&g);
                std::hint::black_box(is_equivalent(&g.pred_norm, reference, mode));
            }
            std::hint::black_box(extract_answer(response));
            t.elapsed() / 2
        })
        .min()
        .unwrap_or_default()
}

fn assert_fast(response: &str, reference: &str) {
    let t = check_time(response, reference);
    assert!(
        t < LIMIT,
        "{t:?} for response {:?} / reference {:?}",
        clip(response),
        clip(reference)
    );
}

fn clip(s: &str) -> String {
    s.chars().take(120).collect()
}

fn latex_soup() -> impl Strategy<Value = String> {
    let atoms = prop::sample::select(vec![
        "\\frac",
        "\\dfrac",
        "\\sqrt",
        "{",
        "}",
        "(",
        ")",
        "[",
        "]",
        "^",
        "_",
        "\\pi",
        "e",
        "i",
        "x",
        "y",
        "1",
        "2",
        "9",
        "0",
        ".",
        ",",
        "+",
        "-",
        "*",
        "/",
        "=",
        "!",
        "|",
        "\\cdot",
        "\\times",
        "\\infty",
        "\\cup",
        "\\{",
        "\\}",
        "\\left(",
        "\\right)",
        "\\text{ cm}",
        "^\\circ",
        "\\begin{pmatrix}",
        "\\end{pmatrix}",
        "&",
        "\\\\",
        "\\boxed{",
        "\\sin",
        "\\log_",
        "\\binom",
        " ",
        "%",
        "$",
        "\\",
        "and",
        "inf",
        "j",
        "\\mbox{",
        "#### ",
        "he answer is ",
    ]);
    prop::collection::vec(atoms, 0..60).prop_map(|v| v.concat())
}

proptest! {
    // Failures are saved beside this file (tests/NAME.proptest-regressions) and replayed first:
    // the default location needs a lib.rs or main.rs above the test, which tests/ does not have.
    #![proptest_config(ProptestConfig {
        cases: 400,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_strings(a in any::<String>(), b in any::<String>()) {
        assert_fast(&a, &b);
    }

    #[test]
    fn latex_like(a in latex_soup(), b in latex_soup()) {
        assert_fast(&a, &b);
        assert_fast(&format!("\\boxed{{{a}}}"), &b);
    }

    #[test]
    fn nested_braces(depth in 1usize..3000, inner in latex_soup()) {
        let deep = format!("{}{inner}{}", "{".repeat(depth), "}".repeat(depth));
        assert_fast(&format!("\\boxed{{{deep}}}"), &deep);
        let parens = format!("{}1{}", "(".repeat(depth), ")".repeat(depth));
        assert_fast(&format!("\\boxed{{{parens}}}"), "1");
        let fracs = "\\frac{1}{".repeat(depth.min(500)) + &"}".repeat(depth.min(500));
        assert_fast(&format!("\\boxed{{{fracs}}}"), &fracs);
    }

    #[test]
    fn huge_numbers(digits in 1usize..5000, d in 0u8..10, e in 0u32..1_000_000) {
        let long: String = std::iter::repeat_n(char::from(b'0' + d), digits).collect();
        assert_fast(&format!("\\boxed{{{long}}}"), &long);
        assert_fast(&format!("\\boxed{{{long}.5}}"), &format!("{long}.50"));
        assert_fast(&format!("\\boxed{{10^{{{e}}}}}"), &format!("10^{{{e}}}+1"));
        assert_fast(&format!("\\boxed{{{e}!}}"), &format!("({e})!"));
        assert_fast(&format!("\\boxed{{\\sqrt[{e}]{{2^{{{e}}}}}}}"), "2");
    }
}

#[test]
fn known_hard_inputs() {
    let cases = [
        ("\\boxed{10^{10^{10}}}", "10^{10^{10}}+1"),
        ("\\boxed{10^{10^{10^{10^{10}}}}}", "1"),
        ("\\boxed{2^{2^{2^{2^{2^{2}}}}}}", "2^{65536}"),
        (
            "\\boxed{(((((((((((((((((((((x)))))))))))))))))))))^{999999999}}",
            "x",
        ),
        ("\\boxed{9999999999999999999999999999999999999!}", "1"),
        ("\\boxed{\\binom{1000000000}{500000000}}", "1"),
        ("\\boxed{x^{x^{x^{x^{x^{x}}}}}}", "x^{x^{x^{x^{x^{y}}}}}"),
    ];
    for (resp, reference) in cases {
        assert_fast(resp, reference);
    }
    let huge = "1".repeat(200_000);
    assert_fast(&format!("\\boxed{{{huge}}}"), &huge);
    let many = "(1,2),".repeat(5000);
    assert_fast(&format!("\\boxed{{{many}}}"), &many);
    let braces = "{".repeat(100_000);
    assert_fast(&format!("\\boxed{braces}"), &braces);
}

#[test]
fn nested_unordered_sets_stay_bounded() {
    // Three levels of unordered collections just under the structural length cap: without a
    // comparison budget this would be 10·10 · 10·10 · 2·2 element comparisons.
    let middle = |shift: usize| {
        let items: Vec<String> = (0..10)
            .map(|i| format!("\\{{{},{}\\}}", (i + shift) % 10, (i + shift + 1) % 10))
            .collect();
        format!("\\{{{}\\}}", items.join(","))
    };
    let a: Vec<String> = (0..9).map(middle).collect();
    let b: Vec<String> = (0..9).rev().map(middle).collect();
    let (a, b) = (a.join(","), b.join(","));
    assert!(a.len() < 1000, "{}", a.len());
    assert_fast(&format!("\\boxed{{{a}}}"), &b);
    assert_fast(&format!("\\boxed{{{a}}}"), &b.replace('9', "8"));
}
