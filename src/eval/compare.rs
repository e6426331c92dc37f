//! `rlvr compare` as a library function: the demo's comparison of recipes with a base model, from
//! `rlvr eval` output directories. Each directory holds one model's evaluation (its `run.json`
//! and `<model>/<dataset>.jsonl`); the base has one, every objective one per RL seed. All of them
//! must have evaluated the same problems with the same settings (n, sampling, seed, …), so every
//! problem's samples were drawn with the same seeds and the comparison is paired. Writes
//! `report.md`, `compare.json` and the Pass@k plot (`passk.svg`/`.png`).
use super::evidence::{
    claim_lines, claims_section, compare_with_base, comparison_section, ClaimLine, Comparison,
};
use super::passk::{default_ks, passk_table};
use super::recipe::{markdown_table, write_passk_plot, EvalRow, EvalSampling, ModelEval};
use super::samples::read_eval_samples;
use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// One recipe and the evaluation directories of its RL seeds.
#[derive(Clone, Debug)]
pub struct RecipeDirs {
    pub name: String,
    pub dirs: Vec<PathBuf>,
}

#[derive(Clone, Debug)]
pub struct CompareSettings {
    pub base: PathBuf,
    pub recipes: Vec<RecipeDirs>,
    /// The dataset label to compare on; needed only when the directories evaluated several.
    pub dataset: Option<String>,
    pub output: PathBuf,
    /// Seed of the bootstrap resampling.
    pub seed: u64,
}

/// One evaluation directory, read back.
struct EvalDir {
    /// The settings that decide the samples, as `run.json` records them (model left out, data
    /// reduced to label and contents fingerprint).
    settings: Value,
    n: usize,
    sampling: EvalSampling,
    max_tokens: u64,
    model_path: String,
    question_ids: Vec<String>,
    correct: Vec<usize>,
    mean_tokens: f64,
}

fn read_run_json(dir: &Path) -> Result<Value> {
    let path = dir.join("run.json");
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "reading {} (is {} an `rlvr eval` output directory?)",
            path.display(),
            dir.display()
        )
    })?;
    serde_json::from_str(&text).with_context(|| format!("{}: malformed JSON", path.display()))
}

fn label_of(v: &Value) -> Option<&str> {
    v.get("label").and_then(Value::as_str)
}

fn read_eval_dir(dir: &Path, dataset: Option<&str>) -> Result<EvalDir> {
    let run = read_run_json(dir)?;
    let at = || format!("{}", dir.join("run.json").display());
    let models = run["models"]
        .as_array()
        .with_context(|| format!("{}: no \"models\" list", at()))?;
    let [model] = models.as_slice() else {
        bail!(
            "{}: holds {} models; compare takes one model per evaluation directory",
            at(),
            models.len()
        );
    };
    let model_label = label_of(model).with_context(|| format!("{}: a model has no label", at()))?;
    let data = run["data"]
        .as_array()
        .with_context(|| format!("{}: no \"data\" list", at()))?;
    let labels: Vec<&str> = data.iter().filter_map(label_of).collect();
    let chosen = match (dataset, data.as_slice()) {
        (Some(want), _) => data
            .iter()
            .find(|d| label_of(d) == Some(want))
            .with_context(|| {
                format!(
                    "{}: no dataset `{want}` (it evaluated {})",
                    at(),
                    labels.join(", ")
                )
            })?,
        (None, [one]) => one,
        (None, _) => bail!(
            "{}: evaluated {} datasets ({}); choose one with --dataset",
            at(),
            data.len(),
            labels.join(", ")
        ),
    };
    let data_label =
        label_of(chosen).with_context(|| format!("{}: a dataset has no label", at()))?;
    let mut settings = run.clone();
    if let Some(o) = settings.as_object_mut() {
        o.remove("models");
        o.insert(
            "data".into(),
            json!({"label": data_label, "fingerprint": chosen["fingerprint"]}),
        );
    }
    let n = run["n"]
        .as_u64()
        .with_context(|| format!("{}: no \"n\"", at()))? as usize;
    let num = |key: &str| -> Result<f32> {
        Ok(run[key]
            .as_f64()
            .with_context(|| format!("{}: no \"{key}\"", at()))? as f32)
    };
    let sampling = EvalSampling {
        temperature: num("temperature")?,
        top_p: num("top_p")?,
    };
    let file = dir.join(model_label).join(format!("{data_label}.jsonl"));
    let samples = read_eval_samples(&file)?;
    let mut correct = Vec::with_capacity(samples.questions.len());
    for q in &samples.questions {
        let (got, c) = q.counts();
        if got != n {
            bail!(
                "{}: question `{}` has {got} samples, not n = {n}; finish the evaluation first \
                 (rerun its `rlvr eval` command)",
                file.display(),
                q.question_id
            );
        }
        correct.push(c);
    }
    if correct.is_empty() {
        bail!("{}: no samples", file.display());
    }
    Ok(EvalDir {
        settings,
        n,
        sampling,
        max_tokens: run["max_tokens"].as_u64().unwrap_or(0),
        model_path: model["path"].as_str().unwrap_or("?").to_string(),
        question_ids: samples
            .questions
            .iter()
            .map(|q| q.question_id.clone())
            .collect(),
        correct,
        mean_tokens: mean_num_tokens(&file)?,
    })
}

/// Mean `num_tokens` over the samples of an `rlvr eval` file.
fn mean_num_tokens(file: &Path) -> Result<f64> {
    let lines = crate::util::read_jsonl(file)?;
    let tokens: Vec<f64> = lines
        .iter()
        .filter_map(|v| v["num_tokens"].as_f64())
        .collect();
    Ok(tokens.iter().sum::<f64>() / tokens.len().max(1) as f64)
}

/// Why `other` cannot be paired with `base` (both read by `read_eval_dir`), if it cannot.
fn mismatch(base: &EvalDir, other: &EvalDir) -> Option<String> {
    if base.settings != other.settings {
        let keys: Vec<String> = base
            .settings
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, _)| k.clone())
            .chain(
                other
                    .settings
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, _)| k.clone()),
            )
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .filter(|k| base.settings.get(k) != other.settings.get(k))
            .map(|k| {
                let show = |s: &Value| s.get(&k).cloned().unwrap_or(Value::Null).to_string();
                format!(
                    "{k}: {} in the base, {} here",
                    show(&base.settings),
                    show(&other.settings)
                )
            })
            .collect();
        return Some(format!("other evaluation settings ({})", keys.join("; ")));
    }
    if base.question_ids != other.question_ids {
        let first = base
            .question_ids
            .iter()
            .zip(&other.question_ids)
            .position(|(a, b)| a != b)
            .unwrap_or(base.question_ids.len().min(other.question_ids.len()));
        return Some(format!(
            "other problems ({} here, {} in the base; they first differ at problem {})",
            other.question_ids.len(),
            base.question_ids.len(),
            first + 1
        ));
    }
    None
}

fn row(name: &str, e: &EvalDir) -> EvalRow {
    let counts: Vec<(usize, usize)> = e.correct.iter().map(|&c| (e.n, c)).collect();
    EvalRow {
        name: name.to_string(),
        passk: passk_table(&counts, &default_ks(e.n)),
        mean_response_tokens: e.mean_tokens,
        token_nll: None,
        correct: e.correct.clone(),
    }
}

/// What `compare` found.
#[derive(Clone, Debug)]
pub struct CompareOutcome {
    pub sampling: EvalSampling,
    pub n: usize,
    pub problems: usize,
    /// The base first, then one entry per recipe (a row per RL seed).
    pub models: Vec<ModelEval>,
    pub comparisons: Vec<Comparison>,
    pub claims: Vec<ClaimLine>,
    /// The markdown report (also written to `report.md`).
    pub report: String,
}

fn check_names(recipes: &[RecipeDirs]) -> Result<()> {
    if recipes.is_empty() {
        bail!("nothing to compare: give at least one --model NAME=DIR");
    }
    let mut seen = std::collections::BTreeSet::new();
    for r in recipes {
        if r.name.is_empty() || r.name == "base" {
            bail!("--model: the name `{}` is reserved or empty", r.name);
        }
        if !seen.insert(r.name.as_str()) {
            bail!("--model: the name `{}` is given twice", r.name);
        }
        if r.dirs.is_empty() {
            bail!("--model {}: no evaluation directory", r.name);
        }
    }
    Ok(())
}

pub fn run_compare(s: &CompareSettings) -> Result<CompareOutcome> {
    check_names(&s.recipes)?;
    let dataset = s.dataset.as_deref();
    let base = read_eval_dir(&s.base, dataset).context("the base's evaluation")?;
    let mut models = vec![ModelEval {
        name: "base".into(),
        seeds: vec![row("base", &base)],
    }];
    for r in &s.recipes {
        let mut seeds = Vec::new();
        for d in &r.dirs {
            let e = read_eval_dir(d, dataset).with_context(|| format!("--model {}", r.name))?;
            if let Some(why) = mismatch(&base, &e) {
                bail!(
                    "{} (--model {}) cannot be paired with the base {}: {why}",
                    d.display(),
                    r.name,
                    s.base.display()
                );
            }
            seeds.push(row(&r.name, &e));
        }
        models.push(ModelEval {
            name: r.name.clone(),
            seeds,
        });
    }
    let n = base.n;
    let comparisons = compare_with_base(&models, n, s.seed)?;
    let claims = claim_lines(&models, n, s.seed)?;
    let problems = base.correct.len();
    std::fs::create_dir_all(&s.output)
        .with_context(|| format!("creating {}", s.output.display()))?;
    write_passk_plot(
        &s.output.join("passk"),
        &format!("Pass@k on held-out problems, {}", base.sampling),
        &models,
    )?;
    let report = render(s, &base, &models, &comparisons, &claims)?;
    crate::util::write_atomic(&s.output.join("report.md"), report.as_bytes())?;
    let summary = to_json(s, &base, &models, &comparisons, &claims);
    let mut text = serde_json::to_string_pretty(&summary)?;
    text.push('\n');
    crate::util::write_atomic(&s.output.join("compare.json"), text.as_bytes())?;
    Ok(CompareOutcome {
        sampling: base.sampling,
        n,
        problems,
        models,
        comparisons,
        claims,
        report,
    })
}

/// RL seeds per recipe: `3`, or `2–3` when recipes differ.
fn seeds_text(models: &[ModelEval]) -> String {
    let counts: Vec<usize> = models[1..].iter().map(|m| m.seeds.len()).collect();
    match (counts.iter().min(), counts.iter().max()) {
        (Some(lo), Some(hi)) if lo != hi => format!("{lo}–{hi}"),
        (Some(lo), _) => lo.to_string(),
        _ => "0".into(),
    }
}

fn render(
    s: &CompareSettings,
    base: &EvalDir,
    models: &[ModelEval],
    comparisons: &[Comparison],
    claims: &[ClaimLine],
) -> Result<String> {
    let mut md = String::new();
    let names: Vec<&str> = models[1..].iter().map(|m| m.name.as_str()).collect();
    writeln!(
        md,
        "# rlvr compare: {} against the base\n",
        names.join(" vs ")
    )?;
    let problems = base.correct.len();
    writeln!(
        md,
        "{problems} held-out problems ({}) × {} samples each at {}, at most {} tokens per \
         response, sample seed {}; every model drew the samples of a problem with the same \
         seeds. Base model: {} (evaluation {}).\n",
        base.settings["data"]["label"].as_str().unwrap_or("?"),
        base.n,
        base.sampling,
        base.max_tokens,
        base.settings["seed"],
        base.model_path,
        s.base.display()
    )?;
    writeln!(
        md,
        "| recipe | evaluation directories (one per RL seed) |\n|---|---|"
    )?;
    for r in &s.recipes {
        let dirs: Vec<String> = r.dirs.iter().map(|d| d.display().to_string()).collect();
        writeln!(md, "| {} | {} |", r.name, dirs.join(", "))?;
    }
    writeln!(md, "\n## Pass@k (%) at {}\n", base.sampling)?;
    writeln!(
        md,
        "Mean ± sd over RL seeds; `all {n} correct` is the share of problems whose every \
         sample is right.\n\n{}\n![Pass@k](passk.svg)\n",
        markdown_table(models, base.n),
        n = base.n
    )?;
    md.push_str(&comparison_section(
        problems,
        &seeds_text(models),
        comparisons,
    ));
    md.push_str(&claims_section(&base.sampling, claims));
    Ok(md)
}

fn to_json(
    s: &CompareSettings,
    base: &EvalDir,
    models: &[ModelEval],
    comparisons: &[Comparison],
    claims: &[ClaimLine],
) -> Value {
    let iv = |d: &super::stats::Interval| json!({"estimate": d.estimate, "lo": d.lo, "hi": d.hi});
    let dirs = |name: &str| -> Vec<String> {
        if name == "base" {
            return vec![s.base.display().to_string()];
        }
        s.recipes
            .iter()
            .find(|r| r.name == name)
            .map(|r| r.dirs.iter().map(|d| d.display().to_string()).collect())
            .unwrap_or_default()
    };
    json!({
        "data": base.settings["data"],
        "problems": base.correct.len(),
        "n": base.n,
        "temperature": base.sampling.temperature,
        "top_p": base.sampling.top_p,
        "max_tokens": base.max_tokens,
        "sample_seed": base.settings["seed"],
        "bootstrap_seed": s.seed,
        "models": models.iter().map(|m| json!({
            "name": m.name,
            "dirs": dirs(&m.name),
            "passk": m.passk_mean_sd().iter()
                .map(|&(k, mean, sd)| json!({"k": k, "mean": mean, "sd": sd}))
                .collect::<Vec<_>>(),
            "fully_solved": m.seeds.iter().map(|r| r.fully_solved(base.n)).collect::<Vec<_>>(),
            "mean_response_tokens": m.seeds.iter().map(|r| r.mean_response_tokens).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "comparisons": comparisons.iter().map(|c| json!({
            "name": c.name,
            "delta_passk": c.deltas.iter()
                .map(|(k, d)| { let mut v = iv(d); v["k"] = json!(k); v })
                .collect::<Vec<_>>(),
            "coverage": c.coverage.iter()
                .map(|x| json!({"lost": x.lost, "gained": x.gained}))
                .collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "claims": claims.iter().map(|c| json!({
            "claim": c.claim,
            "verdict": c.verdict.to_string(),
            "evidence": c.evidence,
        })).collect::<Vec<_>>(),
    })
}
