//! Table-driven equivalence tests: each row is `answer | reference | correct-mode | paper-mode`
//! with `T`/`F` expectations (`-` = not asserted). The answer is graded as `\boxed{answer}`, so
//! extraction and normalisation are exercised too.
use rlvr::verify::{grade, Mode};

const TABLE: &str = r#"
# integers, decimals, signs
5 | 5 | T | T
5 | 6 | F | F
-3 | -3 | T | T
-3 | 3 | F | F
+7 | 7 | T | T
007 | 7 | T | T
0 | 0 | T | T
0 | 0.0 | T | T
36.0 | 36 | T | T
2.50 | 2.5 | T | T
0.1 | 0.10 | T | T
.5 | 0.5 | T | T
1.0001 | 1 | T | T
1.01 | 1 | F | F
100 | 1 | F | T
0.5 | 50 | F | T
3 | 300 | F | T
12 | 21 | F | F
# thousands separators, scientific notation, percent
1,000 | 1000 | T | T
10,000,000 | 10000000 | T | T
1,2 | 12 | F | T
1.5e3 | 1500 | T | T
2e-3 | 0.002 | T | T
1.5\times10^{3} | 1500 | T | T
3\times 10^5 | 300000 | T | T
50\% | 50 | T | T
50\% | 0.5 | F | T
25\% | 25 | T | T
\$ 42 | 42 | T | T
\$1,000.00 | 1000 | T | T
# fractions
\frac{1}{2} | \frac{1}{2} | T | T
\frac12 | \frac{1}{2} | T | T
\dfrac{1}{2} | \frac{1}{2} | T | T
\tfrac{1}{2} | \frac{1}{2} | T | T
1/2 | \frac{1}{2} | T | T
0.5 | \frac{1}{2} | T | T
\frac{2}{4} | \frac{1}{2} | T | T
\frac{1}{3} | \frac{1}{2} | F | F
0.333 | \frac{1}{3} | F | F
0.3333 | \frac{1}{3} | T | T
\frac{-1}{2} | -\frac{1}{2} | T | T
-\frac{1}{2} | \frac{1}{-2} | T | T
\frac{12}{3} | \frac{1}{23} | F | T
\frac{7}{2} | 3\frac{1}{2} | T | -
3\frac{1}{2} | 3.5 | T | -
\frac{3}{4} | 0.75 | T | T
\frac{1}{8} | 0.125 | T | T
\frac{22}{7} | 3.142857 | T | T
\frac{10}{3} | 3 | F | F
# roots and irrationals
2\sqrt{2} | \sqrt{8} | T | T
\sqrt{8} | 2\sqrt2 | T | T
\frac{\sqrt{3}}{3} | \frac{1}{\sqrt{3}} | T | T
\frac{\sqrt3}{3} | \frac{1}{\sqrt3} | T | T
\sqrt{2} | 1.4142 | T | T
\sqrt{2} | 1.41 | F | F
\sqrt{3} | \sqrt{2} | F | F
3\sqrt{3} | \sqrt{27} | T | T
\sqrt[3]{8} | 2 | T | T
\sqrt[3]{16} | 2\sqrt[3]{2} | T | T
\sqrt{12} | 2\sqrt{3} | T | T
\frac{\sqrt{2}}{2} | \frac{1}{\sqrt{2}} | T | T
5+2\sqrt{6} | (\sqrt{2}+\sqrt{3})^2 | T | T
\sqrt{2}+1 | 1+\sqrt{2} | T | T
\sqrt{2}-1 | 1-\sqrt{2} | F | F
4\sqrt{5} | \sqrt{80} | T | T
\sqrt{50} | 5\sqrt{2} | T | T
# pi, e, infinity
\pi | \pi | T | T
2\pi | 2\pi | T | T
3.14159 | \pi | T | T
3.14 | \pi | F | F
\frac{\pi}{2} | \frac{1}{2}\pi | T | T
\pi/2 | \frac{\pi}{2} | T | T
2\pi r | 2r\pi | T | T
6\pi | 18.85 | F | F
e^2 | e\cdot e | T | F
\frac{3\pi}{4} | \frac{3}{4}\pi | T | T
4\pi | 12.566 | T | T
\infty | \infty | T | T
-\infty | \infty | F | F
# powers and polynomials
x^2+2x+1 | (x+1)^2 | T | T
(x+1)^2 | x^2+2x+1 | T | T
x^2-1 | (x-1)(x+1) | T | T
x^2+1 | (x+1)^2 | F | F
2^{10} | 1024 | T | T
2^10 | 1024 | T | T
10^{-2} | 0.01 | T | T
3^4 | 81 | T | T
x^3 | x\cdot x\cdot x | T | F
2x+3 | 3+2x | T | T
2x-3 | 3-2x | F | F
a+b | b+a | T | T
ab | ba | T | T
\frac{x}{2} | 0.5x | T | T
x^{2} | x^2 | T | T
x^{-1} | \frac{1}{x} | T | T
(a+b)^2 | a^2+2ab+b^2 | T | T
(a-b)^2 | a^2-2ab+b^2 | T | T
(a-b)^2 | a^2+b^2 | F | F
3x^2-6x+3 | 3(x-1)^2 | T | T
\frac{x^2-1}{x-1} | x+1 | T | T
\frac{1}{x}+\frac{1}{y} | \frac{x+y}{xy} | T | T
n(n+1)/2 | \frac{n^2+n}{2} | T | T
2^{n+1} | 2\cdot2^n | T | F
10^{10^{10}} | 10^{10^{11}} | F | F
# functions
\sin^2x+\cos^2x | 1 | T | T
\sin(\pi/6) | \frac{1}{2} | T | T
\cos(0) | 1 | T | T
\tan\frac{\pi}{4} | 1 | T | T
\log_2 8 | 3 | T | T
\ln(e^3) | 3 | T | T
e^{\ln 5} | 5 | T | T
\log_{3}81 | 4 | T | T
5! | 120 | T | T
\binom{5}{2} | 10 | T | T
\dbinom{6}{3} | 20 | T | T
|{-3}| | 3 | T | T
\arctan 1 | \frac{\pi}{4} | T | T
\sin x | \cos x | F | F
# complex numbers
3+4i | 4i+3 | T | T
3+4i | 3-4i | F | F
i^2 | -1 | T | T
2i | \sqrt{-4} | T | T
1+i | i+1 | T | T
(1+i)^2 | 2i | T | T
3j | 3i | T | T
\frac{1}{i} | -i | T | T
# tuples and points
(1,2) | (1,2) | T | T
(1, 2) | (1,2) | T | T
(1,2) | (2,1) | F | F
(1,2,3) | (1,2) | F | F
(\frac{1}{2},3) | (0.5,3) | T | T
(2\sqrt{2},1) | (\sqrt{8},1) | T | T
(1,2) | [1,2] | F | T
(-1,0) | (-1,0) | T | T
(3,-\frac{1}{2}) | (3,-0.5) | T | T
\left(1,2\right) | (1,2) | T | T
(a,b) | (b,a) | F | F
(0,0,1) | (0,0,1) | T | T
# intervals
[1,2] | [1,2] | T | T
[1,2) | [1,2] | F | F
(1,2] | [1,2] | F | F
(-\infty,3) | (-\infty,3) | T | T
(-\infty, 3) | (-inf,3) | T | T
(-\infty,3] | (-\infty,3) | F | F
[0,\infty) | [0,\infty) | T | T
(-\infty,-1)\cup(1,\infty) | (-\infty,-1)\cup(1,\infty) | T | T
(1,\infty)\cup(-\infty,-1) | (-\infty,-1)\cup(1,\infty) | T | F
(-\infty,-1]\cup(1,\infty) | (-\infty,-1)\cup(1,\infty) | F | F
[\frac{1}{2},1] | [0.5,1] | T | T
# sets and lists
\{1,2\} | \{1,2\} | T | T
\{1,2\} | \{2,1\} | T | F
1,2 | 2,1 | T | F
1,2,3 | 3,1,2 | T | F
1,2 | 1,2,3 | F | F
1,2 | 1,3 | F | F
-2,2 | 2,-2 | T | F
\frac{1}{2},\frac{1}{3} | \frac13,\frac12 | T | F
1\text{ and }2 | 1,2 | T | F
\{5\} | 5 | T | F
\sqrt{2},-\sqrt{2} | -\sqrt{2},\sqrt{2} | T | F
# matrices
\begin{pmatrix}1&2\\3&4\end{pmatrix} | \begin{pmatrix}1&2\\3&4\end{pmatrix} | T | T
\begin{pmatrix}1&2\\3&4\end{pmatrix} | \begin{pmatrix}1&2\\4&3\end{pmatrix} | F | F
\begin{pmatrix}\frac{1}{2}\\3\end{pmatrix} | \begin{pmatrix}0.5\\3\end{pmatrix} | T | F
\begin{bmatrix}1&0\\0&1\end{bmatrix} | \begin{bmatrix}1 & 0\\0 & 1\end{bmatrix} | T | T
\begin{pmatrix}1\\2\end{pmatrix} | (1,2) | T | F
\begin{pmatrix}1\\2\end{pmatrix} | \begin{pmatrix}1&2\end{pmatrix} | F | F
\begin{pmatrix}2&4\end{pmatrix} | \begin{pmatrix}2&4\end{pmatrix} | T | T
\begin{pmatrix}-1\\2\\0\end{pmatrix} | \begin{pmatrix}-1\\2\\0\end{pmatrix} | T | T
# equations
x=3 | 3 | T | T
y = 2x+3 | 2x+3 | T | T
k=5 | 5 | T | T
3 | x=3 | T | T
x+y=1 | y+x=1 | T | T
x+y=1 | 1=x+y | T | T
2x+2y=2 | x+y=1 | T | F
x+y=1 | x+y=2 | F | F
y=x^2 | y=x^3 | F | F
\theta=30 | 30 | T | F
y=-\frac{1}{2}x+3 | y=3-\frac{x}{2} | T | T
x^2+y^2=1 | y^2+x^2=1 | T | T
# degrees and units
336^\circ | 336 | T | T
336 | 336^\circ | T | F
30^{\circ} | 30 | T | T
45 | 45^\circ | T | F
90° | 90 | T | -
10\text{ inches} | 10 | T | T
5\text{ cm} | 5 | T | T
5\text{ cm}^2 | 5 | T | F
5 | 5\text{ cm} | T | F
12\mbox{ feet} | 12 | T | T
\$ 5.50 | 5.5 | T | T
7 \text{ dollars} | 7 | T | T
# multiple choice
(A) | (A) | T | T
A | (A) | T | T
\text{(A)} | A | T | T
(B) | (A) | F | F
\textbf{(C)} | C | T | T
E | (E) | T | T
(D) | D | T | T
C | (D) | F | F
# words and text
\text{Monday} | Monday | T | T
Monday | monday | T | T
\text{yes} | yes | T | T
yes | no | F | F
\text{even} | \text{odd} | F | F
\text{Sandy} | Sandy | T | -
# base-n numerals and strings
1011_2 | 1011_2 | T | T
1011_2 | 1101_2 | F | F
10001_{2} | 10001_2 | T | T
# misc expressions
2\cdot 3 | 6 | T | F
6\div 3 | 2 | T | T
2\times3 | 6 | T | T
\frac{6}{\sqrt{3}} | 2\sqrt{3} | T | T
-\frac{\sqrt{2}}{2} | -\frac{1}{\sqrt{2}} | T | T
\frac{1+\sqrt{5}}{2} | \frac{\sqrt{5}+1}{2} | T | T
\frac{1+\sqrt{5}}{2} | \frac{1-\sqrt{5}}{2} | F | F
(2,\infty) | (2,\infty) | T | T
\frac{a}{b} | \frac{b}{a} | F | F
2^{-1} | \frac{1}{2} | T | T
(-2)^3 | -8 | T | T
-2^2 | -4 | T | T
(-2)^2 | 4 | T | T
1000000 | 10^6 | T | T
10^6 | 1000000 | T | T
1 | 1.0 | T | T
\frac{100}{3} | 33\frac{1}{3} | T | -
4.5 | \frac{9}{2} | T | T
-0.25 | -\frac{1}{4} | T | T
\frac{5}{12} | \frac{10}{24} | T | T
2.5 | \frac{5}{3} | F | F
99 | 100 | F | F
1 | -1 | F | F
\frac{\pi}{3} | 60 | F | F
x | y | F | F
"#;

fn parse_row(line: &str) -> Option<(String, String, Option<bool>, Option<bool>)> {
    let parts: Vec<&str> = line.split(" | ").collect();
    if parts.len() != 4 {
        return None;
    }
    let flag = |s: &str| match s.trim() {
        "T" => Some(true),
        "F" => Some(false),
        _ => None,
    };
    Some((parts[0].trim().to_string(), parts[1].trim().to_string(), flag(parts[2]), flag(parts[3])))
}

#[test]
fn table_of_pairs() {
    let mut rows = 0;
    let mut failures = Vec::new();
    for line in TABLE.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let (pred, reference, correct, paper) = parse_row(line).unwrap_or_else(|| panic!("bad table row: {line}"));
        rows += 1;
        let response = format!("The final answer is $\\boxed{{{pred}}}$.");
        for (mode, want) in [(Mode::Correct, correct), (Mode::Paper, paper)] {
            let Some(want) = want else { continue };
            let g = grade(&response, &reference, mode);
            if g.correct != want {
                failures.push(format!(
                    "{mode:?}: `{pred}` vs `{reference}`: want {want}, got {} (rule {}, pred_norm `{}`, ref_norm `{}`)",
                    g.correct, g.rule, g.pred_norm, g.ref_norm
                ));
            }
        }
    }
    assert!(rows >= 200, "only {rows} rows");
    assert!(failures.is_empty(), "{} of {rows} rows failed:\n{}", failures.len(), failures.join("\n"));
}
