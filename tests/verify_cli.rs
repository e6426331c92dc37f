//! `rlvr grade` end to end: pass-through of fields and key order, `correct`/`pred`, `--explain`,
//! `--mode paper`, and one-line errors naming file:line or the missing field.
use std::process::Command;

fn rlvr() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rlvr"))
}

#[test]
fn grades_and_passes_fields_through() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("in.jsonl");
    let output = dir.path().join("out.jsonl");
    std::fs::write(
        &input,
        concat!(
            r#"{"zeta": 1, "response": "so $\\boxed{\\dfrac{1}{2}}$", "answer": "\\frac{1}{2}", "alpha": [1, 2]}"#,
            "\n",
            r#"{"response": "I think 50", "answer": "0.5", "id": "b"}"#,
            "\n\n",
            r#"{"response": "no number here", "answer": "7"}"#,
            "\n",
        ),
    )
    .expect("write");
    let out = rlvr()
        .args(["grade", "--input"])
        .arg(&input)
        .arg("--output")
        .arg(&output)
        .arg("--explain")
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("rule=") && stdout.contains("line 1"), "{stdout}");
    let text = std::fs::read_to_string(&output).expect("read");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3);
    assert!(lines[0].starts_with(r#"{"zeta":1,"response":"#), "{}", lines[0]);
    assert!(lines[0].ends_with(r#""alpha":[1,2],"correct":true,"pred":"\\frac{1}{2}"}"#), "{}", lines[0]);
    assert!(lines[1].contains(r#""correct":false"#) && lines[1].contains(r#""pred":"50""#));
    assert!(lines[2].ends_with(r#""correct":false,"pred":null}"#), "{}", lines[2]);

    let out = rlvr()
        .args(["grade", "--mode", "paper", "--input"])
        .arg(&input)
        .arg("--output")
        .arg(&output)
        .output()
        .expect("run");
    assert!(out.status.success());
    let text = std::fs::read_to_string(&output).expect("read");
    assert!(text.lines().nth(1).is_some_and(|l| l.contains(r#""correct":true"#)), "paper accepts ref*100: {text}");
}

#[test]
fn errors_name_file_line_and_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("bad.jsonl");
    let output = dir.path().join("out.jsonl");
    std::fs::write(&input, "{\"response\": \"1\", \"answer\": \"1\"}\n{not json\n").expect("write");
    let out = rlvr().args(["grade", "--input"]).arg(&input).arg("--output").arg(&output).output().expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.jsonl:2") && err.contains("malformed JSON"), "{err}");

    std::fs::write(&input, "{\"response\": \"1\"}\n").expect("write");
    let out = rlvr().args(["grade", "--input"]).arg(&input).arg("--output").arg(&output).output().expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.jsonl:1") && err.contains("missing field `answer`"), "{err}");
    assert!(!output.exists());
}
