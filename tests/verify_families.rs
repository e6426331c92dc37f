//! The answer forms people write, family by family: each row is `answer | reference | correct-mode
//! | paper-mode` (`T`/`F`), graded as `The final answer is $\boxed{answer}$.`, so extraction and
//! normalisation take part. Every family has rows in both directions and near-misses that must
//! stay unequal; the paper column pins the paper's grader, quirks included (`⏎` is a newline).
use rlvr::verify::{grade, Mode};

const TABLE: &str = r#"
# extraction
⏎5⏎ | 5 | T | F
⏎\begin{pmatrix}⏎1 & 2 \\⏎3 & 4⏎\end{pmatrix}⏎ | \begin{pmatrix}1&2\\3&4\end{pmatrix} | T | F
⏎\frac{1}{2}⏎ | 0.5 | T | F
⏎6⏎ | 5 | F | F
⏎\begin{pmatrix}⏎1 & 2 \\⏎3 & 5⏎\end{pmatrix}⏎ | \begin{pmatrix}1&2\\3&4\end{pmatrix} | F | F
# thousands separators
14{,}916 | 14916 | T | F
14916 | 14{,}916 | T | F
1{,}008{,}016 | 1008016 | T | F
1,008,016 | 1{,}008{,}016 | T | T
32,349 | 32349 | T | T
1,000,000 | 10^6 | T | F
\$1{,}000.50 | 1000.5 | T | F
(100, 101) | (100,101) | T | T
32, 349 | 32349 | F | T
32349 | 32, 349 | F | F
14{,}917 | 14916 | F | F
1{,}000 | 100 | F | F
81, 256 | 81,256 | T | T
81256 | 81,256 | T | T
45, 135 | 45,135 | T | T
11,\! 111,\! 111,\! 100 | 11111111100 | T | T
111, \! 111 | 111111 | T | T
81, 257 | 81,256 | F | T
# relations
x \geq 5 | x >= 5 | T | F
x >= 5 | x \ge 5 | T | F
5 \geq x | x \leq 5 | T | F
x \leq 5 | 5 \geq x | T | F
x \neq 3 | x != 3 | T | F
x \ne 3 | 3 \neq x | T | F
x \lt 3 | x < 3 | T | F
x \gt 3 | 3 < x | T | F
x ≥ 5 | x \geqslant 5 | T | F
y > 2x | 2x < y | T | F
2y \ge 4x | y \geq 2x | T | F
-80 \leq g(x) \leq 82 | -80\leqg(x)\leq82 | T | T
x \geq 5 | x > 5 | F | F
x > 5 | x \geq 5 | F | F
x \leq 5 | x \geq 5 | F | F
5 \geq x | x \geq 5 | F | F
x \neq 3 | x \neq 4 | F | F
y > 2x | y < 2x | F | F
-80 \leq g(x) \leq 81 | -80\leqg(x)\leq82 | F | F
# inequalities and intervals
-793 < a < 10 | (-793, 10) | T | F
(-793, 10) | -793 < a < 10 | T | F
x \in [-2,7] | -2 \le x \le 7 | T | F
-2 \le x \le 7 | [-2,7] | T | F
7 \geq x \geq -2 | [-2,7] | T | F
a \in [-2, 7) | -2 \le a < 7 | T | F
x > 3 | (3, \infty) | T | F
x \geq 3 | [3,\infty) | T | F
x < 3 | (-\infty, 3) | T | F
x \neq 3 | (-\infty,3)\cup(3,\infty) | T | F
x < -1 \text{ or } x > 1 | (-\infty,-1)\cup(1,\infty) | T | F
x \in (0, 1) | (0,1) | T | F
-2 < x \le 7 | [-2,7] | F | F
-2 \le x \le 7 | [-2,8] | F | F
x > 3 | [3,\infty) | F | F
x < -1 \text{ or } x > 1 | (-\infty,-1]\cup(1,\infty) | F | F
-793 < a < 10 | -793 < b < 10 | F | F
x \in (0, 1) | [0,1) | F | F
# labelled answers
(3,2) | (p,q)=(3,2) | T | F
(p,q)=(3,2) | (3,2) | T | F
1 | f(x)=1 | T | F
f(x)=1 | 1 | T | F
\theta = 30 | 30 | T | F
AB = 9 | 9 | T | T
x_1 = 2 | 2 | T | F
(2,3) | (p,q)=(3,2) | F | F
2 | f(x)=1 | F | F
11a+c | 7 = 11a+c | F | T
7 = 11a+c | 11a+c | F | T
2x = 4 | 4 | F | T
# chains and approximations
x = 5+5+1 = 11 | 11 | T | F
11 | x = 5+5+1 = 11 | T | F
\sqrt{2} \approx 1.414 | \sqrt{2} | T | F
\sqrt{2} \approx 1.414 | 1.414 | T | F
x \approx 1.41 | 1.41 | T | F
\frac{1}{3} \approx 0.33 | \frac{1}{3} | T | F
8.24 | \approx8.24 | T | F
x = 5+5+1 = 12 | 11 | F | F
\frac{1}{3} \approx 0.33 | \frac{1}{4} | F | F
x \approx 1.41 | \sqrt{2} | F | F
8.25 | \approx8.24 | F | F
# percent words and text commands
28 percent | 28\% | T | F
28 pct | 28\% | T | F
28 per cent | 28 | T | F
28\% | 28 percent | T | F
10\textnormal{ miles} | 10 | T | F
10\textrm{ miles} | 10 | T | F
\frac{1}{3}\textbf {meters} | \frac{1}{3} | T | F
\frac{1}{3}\mathbf{ meters} | \frac{1}{3} | T | F
\textnormal{Monday} | Monday | T | F
29 percent | 28\% | F | F
\frac{1}{3}\textbf{ meters} | \frac{1}{4} | F | F
10\textnormal{ miles} | 11 | F | F
# lists and sets
1; 2 | 1, 2 | T | F
1 \text{ or } 2 | 1,2 | T | F
1 or 2 | 2, 1 | T | F
\pm 2021 | {-2021, 2021} | T | F
{-2021, 2021} | \pm 2021 | T | F
\{-2021, 2021\} | {2021,-2021} | T | F
x = 1 \text{ or } x = -2 | 1, -2 | T | F
(-4, 27); (2, 15) | (-4,27);(2,15) | T | T
(2,15),(-4,27) | (-4,27);(2,15) | T | F
1; 3 | 1, 2 | F | F
1 or 3 | 2, 1 | F | F
2021 | {-2021, 2021} | F | F
x = 1 \text{ or } x = 2 | 1, -2 | F | F
(-4, 27); (2, 16) | (-4,27);(2,15) | F | F
# matrices
\left[\begin{array}{cc}1&2\\3&4\end{array}\right] | \begin{pmatrix}1&2\\3&4\end{pmatrix} | T | F
\begin{pmatrix}1&2\\3&4\end{pmatrix} | \left[\begin{array}{cc}1&2\\3&4\end{array}\right] | T | F
\begin{array}{cc}1&2\\3&4\end{array} | \begin{bmatrix}1&2\\3&4\end{bmatrix} | T | F
\begin{pmatrix}1&2\\3&4\end{pmatrix}+\begin{pmatrix}1&0\\0&1\end{pmatrix} | \begin{pmatrix}2&2\\3&5\end{pmatrix} | T | F
\begin{pmatrix}1&2\\3&4\end{pmatrix}\begin{pmatrix}0&1\\1&0\end{pmatrix} | \begin{pmatrix}2&1\\4&3\end{pmatrix} | T | F
\begin{pmatrix}1&2\\3&4\end{pmatrix} \cdot \begin{pmatrix}0&1\\1&0\end{pmatrix} | \begin{pmatrix}2&1\\4&3\end{pmatrix} | T | F
2\begin{pmatrix}1&2\\3&4\end{pmatrix} | \begin{pmatrix}2&4\\6&8\end{pmatrix} | T | F
\begin{pmatrix}1&2\\3&4\end{pmatrix}^2 | \begin{pmatrix}7&10\\15&22\end{pmatrix} | T | F
\begin{pmatrix}1&2\\3&4\end{pmatrix}^T | \begin{pmatrix}1&3\\2&4\end{pmatrix} | T | F
\frac{1}{2}\begin{pmatrix}2&4\end{pmatrix} | \begin{pmatrix}1&2\end{pmatrix} | T | F
\begin{pmatrix}1&2\\3&4\end{pmatrix}-\begin{pmatrix}1&2\\3&4\end{pmatrix} | \begin{pmatrix}0&0\\0&0\end{pmatrix} | T | F
\left[\begin{array}{cc}1&2\\3&5\end{array}\right] | \begin{pmatrix}1&2\\3&4\end{pmatrix} | F | F
\begin{pmatrix}1&2\\3&4\end{pmatrix}+\begin{pmatrix}1&0\\0&1\end{pmatrix} | \begin{pmatrix}2&2\\3&4\end{pmatrix} | F | F
\begin{pmatrix}0&1\\1&0\end{pmatrix}\begin{pmatrix}1&2\\3&4\end{pmatrix} | \begin{pmatrix}2&1\\4&3\end{pmatrix} | F | F
\begin{pmatrix}1&2\\3&4\end{pmatrix}^T | \begin{pmatrix}1&2\\3&4\end{pmatrix} | F | F
\begin{pmatrix}1&2\end{pmatrix}+\begin{pmatrix}1\\2\end{pmatrix} | \begin{pmatrix}2&4\end{pmatrix} | F | F
# very small and very large numbers
10^{-400} | 1e-400 | T | F
10^{400}+1 | 1+10^{400} | T | F
10^{-400} | 0 | F | T
0 | 10^{-400} | F | T
1e-400 | 0 | F | T
\sqrt[10^{100}]{2} | 1 | F | T
10^{-400} | 10^{-401} | F | T
10^{400} | 10^{400}+1 | F | F
2^{1000} | 2^{1000}+1 | F | T
1000000000000000000000000000000000000000001 | 1000000000000000000000000000000000000000000 | F | T
\sqrt{2}\cdot 10^{-20} | 0 | F | T
\pi + 10^{-10} | \pi | F | T
"#;

/// The rows of one `# name` section.
fn section(name: &str) -> Vec<&'static str> {
    let mut rows = Vec::new();
    let mut inside = false;
    for line in TABLE.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(header) = line.strip_prefix("# ") {
            inside = header == name;
        } else if inside {
            rows.push(line);
        }
    }
    rows
}

fn check_section(name: &str) {
    let rows = section(name);
    assert!(rows.len() >= 5, "section {name}: only {} rows", rows.len());
    let (mut equal, mut unequal) = (0, 0);
    let mut failures = Vec::new();
    for row in &rows {
        let cols: Vec<&str> = row.split(" | ").collect();
        let [answer, reference, correct, paper] = cols[..] else {
            panic!("bad row: {row}");
        };
        let response = format!(
            "The final answer is $\\boxed{{{}}}$.",
            answer.replace('⏎', "\n")
        );
        for (mode, want) in [(Mode::Correct, correct), (Mode::Paper, paper)] {
            let want = want == "T";
            if mode == Mode::Correct {
                if want {
                    equal += 1;
                } else {
                    unequal += 1;
                }
            }
            let g = grade(&response, reference, mode);
            if g.correct != want {
                failures.push(format!(
                    "{mode:?}: `{answer}` vs `{reference}`: want {want}, got {} (rule {}, pred `{}`, ref `{}`)",
                    g.correct, g.rule, g.pred_norm, g.ref_norm
                ));
            }
        }
    }
    assert!(
        equal > 0 && unequal > 0,
        "section {name} needs both verdicts"
    );
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
}

#[test]
fn extraction_reads_multi_line_boxes() {
    check_section("extraction");
}

#[test]
fn thousands_separators() {
    check_section("thousands separators");
}

#[test]
fn relations() {
    check_section("relations");
}

#[test]
fn inequalities_and_intervals() {
    check_section("inequalities and intervals");
}

#[test]
fn labelled_answers() {
    check_section("labelled answers");
}

#[test]
fn chains_and_approximations() {
    check_section("chains and approximations");
}

#[test]
fn percent_words_and_text_commands() {
    check_section("percent words and text commands");
}

#[test]
fn lists_and_sets() {
    check_section("lists and sets");
}

#[test]
fn matrices_and_matrix_arithmetic() {
    check_section("matrices");
}

#[test]
fn very_small_and_very_large_numbers() {
    check_section("very small and very large numbers");
}

#[test]
fn long_decimal_is_not_zero() {
    let tiny = format!("0.{}1", "0".repeat(399));
    let response = format!("\\boxed{{{tiny}}}");
    assert!(!grade(&response, "0", Mode::Correct).correct);
    assert!(grade(&response, "10^{-400}", Mode::Correct).correct);
    assert!(
        grade(&response, "0", Mode::Paper).correct,
        "the paper's float() underflows"
    );
}
