//! `rlvr eval` as a library function: for every (model, dataset) pair, sample n responses per
//! problem, grade them, and write the paper's evaluation JSONL; then `passk.json` and one
//! Pass@k plot per dataset (one curve per model, the paper's Figure 1 layout).
//!
//! Output directory layout:
//! - `run.json`: the settings that decide the samples (checked on resume);
//! - `<model>/<dataset>.jsonl`: one line per sample, problems in data order, each problem's n
//!   lines together (`question_id`, `generation_id`, `prompt`, `response`, `answer` = the gold
//!   as given in the data, `gold_answer` = the gold as the verifier compared it, `pred_answer` =
//!   the extracted answer or null, `label`, plus `finish` and `num_tokens`);
//! - `passk.json`: `{model: {dataset: {n_problems, n_samples_per_problem, passk: {k: value}}}}`;
//! - `passk_<dataset>.svg` / `.png`.
//!
//! Resumable: completed problems are appended whole and fsync'd; a rerun with the same settings
//! drops what a kill left half written ([`super::resume`]) and generates only the missing
//! problems. Each problem's seed depends only on (seed, question_id), and the engine's draws do
//! not depend on batch composition, so a resumed run writes the same lines as an uninterrupted one.
use super::passk::PasskReport;
use super::plot::{write_plot, PlotSpec};
use super::progress::GenProgress;
use super::resume::{append_durably, recover};
use crate::backend::cuda::device::KernelDevice;
use crate::backend::cuda::model::DeviceModel;
use crate::data::verl::{load_problems, Problem};
use crate::generate::engine::{EngineConfig, Finish};
use crate::generate::prompts::{build_prompts, choose_template, request_for, stop_tokens, Prompt};
use crate::generate::sampler::Sampler;
use crate::generate::sampling::SamplingParams;
use crate::model::decode::Decoder;
use crate::model::Model;
use crate::tensor::DType;
use crate::tokenizer::Tokenizer;
use crate::util::fingerprint::{dir_fingerprint, file_fingerprint};
use crate::util::output_dir::{prepare_output_dir, DirPolicy};
use crate::verify::{grade_batch, Mode};
use anyhow::{bail, Context, Result};
use serde_json::{json, Map, Value};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

#[derive(Clone, Debug)]
pub struct EvalSettings {
    pub models: Vec<PathBuf>,
    pub data: Vec<PathBuf>,
    pub output: PathBuf,
    pub n: usize,
    pub params: SamplingParams,
    pub max_tokens: usize,
    pub seed: u64,
    /// Chat template name; `None` picks the default for each model's `model_type`.
    pub template: Option<String>,
    /// Evaluate only the first N problems of each dataset.
    pub max_problems: Option<usize>,
    pub max_prompt_tokens: Option<usize>,
    pub verifier: Mode,
    /// Most sequences decoded at once (does not change the samples).
    pub batch: usize,
    /// Start over when the directory holds a run with other settings.
    pub overwrite: bool,
    /// Storage of the weights while sampling on the CPU: f32 (the trainer's numbers) or bf16
    /// (half the bytes per decode step; each weight rounded once). Recorded in run.json when bf16.
    pub weights: DType,
}

/// What one (model, dataset) pair produced.
#[derive(Clone, Debug)]
pub struct PairResult {
    pub model: String,
    pub dataset: String,
    pub samples_file: PathBuf,
    pub report: PasskReport,
    /// Problems found complete in the file from an earlier run.
    pub resumed_problems: usize,
    pub generated_problems: usize,
    /// Prompts dropped for exceeding the prompt limit or the model's context.
    pub dropped_prompts: usize,
}

/// A name usable as a file name: letters, digits, `.`, `_`, `-`; anything else becomes `_`.
fn sanitize(s: &str) -> String {
    let t: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if t.is_empty() || t.chars().all(|c| c == '.') {
        "_".into()
    } else {
        t
    }
}

/// Labels made unique by appending `-2`, `-3`, … to repeats.
fn unique(labels: Vec<String>) -> Vec<String> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    labels
        .into_iter()
        .map(|l| {
            let c = seen.entry(l.clone()).or_insert(0);
            *c += 1;
            if *c == 1 {
                l
            } else {
                format!("{l}-{c}")
            }
        })
        .collect()
}

/// A dataset's label: the file stem, or the folder name for verl's `<name>/test.parquet`.
pub fn dataset_label(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let generic = ["test", "train", "val", "validation", "dev"].contains(&stem.as_str());
    let parent = path
        .parent()
        .and_then(|p| p.file_name())
        .map(|s| s.to_string_lossy().into_owned());
    match parent {
        Some(p) if generic && !p.is_empty() => sanitize(&p),
        _ => sanitize(&stem),
    }
}

/// A model's label: the directory's name.
pub fn model_label(path: &Path) -> String {
    let abs = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    sanitize(
        &abs.file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
    )
}

fn abs_text(p: &Path) -> String {
    std::fs::canonicalize(p)
        .unwrap_or_else(|_| p.to_path_buf())
        .display()
        .to_string()
}

fn settings_json(
    s: &EvalSettings,
    models: &[String],
    datasets: &[String],
    device: Option<&str>,
) -> Result<Value> {
    // Contents, not just paths: a model or data file replaced under the same path must not be
    // resumed as if it were the one that made the samples.
    let list = |paths: &[PathBuf], labels: &[String], model: bool| -> Result<Vec<Value>> {
        paths
            .iter()
            .zip(labels)
            .map(|(p, l)| {
                let fp = if model {
                    dir_fingerprint(p)?
                } else {
                    file_fingerprint(p)?
                };
                Ok(json!({"label": l, "path": abs_text(p), "fingerprint": fp}))
            })
            .collect()
    };
    let mut v = json!({
        "models": list(&s.models, models, true)?,
        "data": list(&s.data, datasets, false)?,
        "n": s.n,
        "temperature": s.params.temperature,
        "top_p": s.params.top_p,
        "top_k": s.params.top_k,
        "min_p": s.params.min_p,
        "greedy": s.params.greedy,
        "max_tokens": s.max_tokens,
        "seed": s.seed,
        "template": s.template,
        "max_problems": s.max_problems,
        "max_prompt_tokens": s.max_prompt_tokens,
        "verifier": match s.verifier { Mode::Correct => "correct", Mode::Paper => "paper" },
    });
    // Only device runs record it, so CPU runs made before devices existed still resume.
    if let Some(d) = device {
        v["device"] = json!(d);
    }
    // Likewise only bf16 runs record their weight storage.
    if s.weights == DType::BF16 {
        v["weights"] = json!("bf16");
    }
    Ok(v)
}

/// Check run.json against an earlier run's (unless `overwrite`), then write it.
fn check_run_file(dir: &Path, settings: &Value, overwrite: bool) -> Result<()> {
    let path = dir.join("run.json");
    if path.exists() && !overwrite {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let old: Value = serde_json::from_str(&text)
            .with_context(|| format!("{}: malformed JSON", path.display()))?;
        if &old != settings {
            // Keys of either side (a device run's `device` is absent from a CPU run's settings).
            let mut names: Vec<&String> = settings
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, _)| k)
                .collect();
            for (k, _) in old.as_object().into_iter().flatten() {
                if !names.contains(&k) {
                    names.push(k);
                }
            }
            let keys: Vec<String> = names
                .into_iter()
                .filter(|k| old.get(k.as_str()) != settings.get(k.as_str()))
                .map(|k| {
                    let was = old.get(k.as_str()).cloned().unwrap_or(Value::Null);
                    let now = settings.get(k.as_str()).cloned().unwrap_or(Value::Null);
                    format!("{k}: {was} before, {now} now")
                })
                .collect();
            bail!(
                "{}: the output directory holds a run with other settings ({}); pass --overwrite to start over, or choose another --output",
                path.display(),
                keys.join("; ")
            );
        }
    }
    let mut text = serde_json::to_string_pretty(settings)?;
    text.push('\n');
    crate::util::write_atomic(&path, text.as_bytes())
}

fn load_dataset(path: &Path, max_problems: Option<usize>) -> Result<Vec<Problem>> {
    let mut problems = load_problems(path)?;
    if let Some(m) = max_problems {
        problems.truncate(m);
    }
    let mut ids = HashSet::new();
    for p in &problems {
        if !ids.insert(p.id.as_str()) {
            bail!(
                "{}: question id `{}` appears twice (ids must be unique to resume a run)",
                path.display(),
                p.id
            );
        }
    }
    if problems.is_empty() {
        bail!("{}: no problems", path.display());
    }
    Ok(problems)
}

fn finish_name(f: Finish) -> &'static str {
    match f {
        Finish::Stop => "stop",
        Finish::Length => "length",
    }
}

/// Run the evaluation; returns one result per (model, dataset) pair, models outermost.
pub fn run_eval(s: &EvalSettings) -> Result<Vec<PairResult>> {
    run_eval_on(s, None)
}

/// [`run_eval`] with the sampling on a kernel device (`rlvr eval --device cuda|emu`), given
/// with the label `run.json` records (a resumed run must sample on the same kind of device).
pub fn run_eval_on(
    s: &EvalSettings,
    device: Option<(&dyn KernelDevice, &str)>,
) -> Result<Vec<PairResult>> {
    if s.models.is_empty() || s.data.is_empty() {
        bail!("need at least one --model and one --data file");
    }
    if s.n == 0 {
        bail!("--n must be at least 1");
    }
    if s.max_tokens == 0 {
        bail!("--max-tokens must be at least 1");
    }
    if device.is_some() && s.weights != DType::F32 {
        bail!("--weights applies to sampling on the CPU (the device path stores bf16 already)");
    }
    s.params.validate()?;
    let models = unique(s.models.iter().map(|p| model_label(p)).collect());
    let datasets = unique(s.data.iter().map(|p| dataset_label(p)).collect());
    let problems: Vec<Vec<Problem>> = s
        .data
        .iter()
        .map(|p| load_dataset(p, s.max_problems))
        .collect::<Result<_>>()?;
    for p in &problems {
        crate::util::limits::check_total(p.len(), s.n)?;
    }
    // A directory with run.json is an evaluation to continue (checked below); anything else
    // that is not empty is refused unless --overwrite.
    let policy = if s.overwrite || s.output.join("run.json").exists() {
        DirPolicy::Continue
    } else {
        DirPolicy::New
    };
    prepare_output_dir(
        &s.output,
        policy,
        "--overwrite to evaluate into it (its sample files are replaced)",
    )?;
    check_run_file(
        &s.output,
        &settings_json(s, &models, &datasets, device.map(|d| d.1))?,
        s.overwrite,
    )?;
    let mut results = Vec::new();
    for (mdir, mlabel) in s.models.iter().zip(&models) {
        let model =
            Model::load(mdir).with_context(|| format!("loading model {}", mdir.display()))?;
        let tok = Tokenizer::for_model(mdir, model.config.vocab_size)?;
        let on_device = device
            .map(|(d, _)| DeviceModel::upload(d, &model).map(|m| (d, m)))
            .transpose()?;
        // On the CPU, weights packed once per model (bf16 storage when asked), not once per chunk.
        let decoder = on_device.is_none().then(|| Decoder::new(&model, s.weights));
        let template = choose_template(s.template.as_deref(), &model.config)?;
        let engine = EngineConfig {
            max_batch: s.batch.max(1),
            stop_tokens: stop_tokens(Some(mdir), &model.config, &tok, template)?,
        };
        let sub = s.output.join(mlabel);
        std::fs::create_dir_all(&sub).with_context(|| format!("creating {}", sub.display()))?;
        crate::util::output::remove_stale_temp_files(&sub)?;
        for ((dlabel, dpath), probs) in datasets.iter().zip(&s.data).zip(&problems) {
            let file = sub.join(format!("{dlabel}.jsonl"));
            if s.overwrite && file.exists() {
                std::fs::remove_file(&file)
                    .with_context(|| format!("removing {}", file.display()))?;
            }
            let items = probs.iter().cloned().map(|p| (p, true)).collect();
            let context = model.config.max_position_embeddings;
            let set = build_prompts(items, &tok, template, s.max_prompt_tokens, context)
                .with_context(|| format!("{}", dpath.display()))?;
            if set.dropped_too_long > 0 {
                eprintln!(
                    "note: {}: {} of {} prompts are too long for --max-prompt-tokens or the model's context ({context}) and are skipped",
                    dpath.display(),
                    set.dropped_too_long,
                    probs.len()
                );
            }
            let rec = recover(&file, s.n)?;
            let wanted: HashSet<&str> = set.prompts.iter().map(|p| p.problem.id.as_str()).collect();
            if let Some(stray) = rec.complete.iter().find(|q| !wanted.contains(q.as_str())) {
                bail!(
                    "{}: holds question `{stray}`, which this run does not evaluate; pass --overwrite to start over",
                    file.display()
                );
            }
            if rec.dropped_lines > 0 {
                eprintln!(
                    "note: {}: dropped {} lines of incomplete problems left by an interrupted run",
                    file.display(),
                    rec.dropped_lines
                );
            }
            let done: HashSet<&str> = rec.complete.iter().map(String::as_str).collect();
            let todo: Vec<&Prompt> = set
                .prompts
                .iter()
                .filter(|p| !done.contains(p.problem.id.as_str()))
                .collect();
            // The file holds problems in data order: what is complete must be a prefix.
            if set
                .prompts
                .iter()
                .take(rec.complete.len())
                .any(|p| !done.contains(p.problem.id.as_str()))
            {
                bail!(
                    "{}: its problems are not a prefix of the data in order; pass --overwrite to start over",
                    file.display()
                );
            }
            let generated = todo.len();
            sample_and_write(
                s,
                &Sampler {
                    model: &model,
                    device: on_device.as_ref().map(|(d, m)| (*d, m)),
                    decoder: decoder.as_ref(),
                },
                &tok,
                &engine,
                &todo,
                &file,
                &format!("{mlabel}/{dlabel}"),
            )?;
            let samples = super::samples::read_eval_samples(&file)?;
            let counts = samples.counts();
            if let Some(q) = samples.questions.iter().find(|q| q.labels.len() != s.n) {
                bail!(
                    "{}: question `{}` has {} samples, expected {}",
                    file.display(),
                    q.question_id,
                    q.labels.len(),
                    s.n
                );
            }
            results.push(PairResult {
                model: mlabel.clone(),
                dataset: dlabel.clone(),
                samples_file: file,
                report: PasskReport::new(&counts, None),
                resumed_problems: rec.complete.len(),
                generated_problems: generated,
                dropped_prompts: set.dropped_too_long,
            });
        }
    }
    write_summary(&s.output, &datasets, &results)?;
    Ok(results)
}

/// Generate, grade and append `todo` in chunks of whole problems.
fn sample_and_write(
    s: &EvalSettings,
    sampler: &Sampler<'_>,
    tok: &Tokenizer,
    engine: &EngineConfig,
    todo: &[&Prompt],
    file: &Path,
    name: &str,
) -> Result<()> {
    if todo.is_empty() {
        return Ok(());
    }
    // Enough samples per engine call to keep the batch full most of the time.
    let chunk = (2 * engine.max_batch).div_ceil(s.n).max(1);
    let mut bar = GenProgress::new((todo.len() * s.n) as u64, name);
    let context = sampler.model.config.max_position_embeddings;
    for part in todo.chunks(chunk) {
        let reqs: Vec<_> = part
            .iter()
            .map(|p| request_for(p, s.n, s.seed, s.params, s.max_tokens, context))
            .collect();
        let outs = sampler.generate(&reqs, engine, &mut |p| bar.update(p))?;
        bar.end_call(outs.len());
        let texts: Vec<String> = outs
            .iter()
            .map(|c| tok.decode(&c.tokens, true))
            .collect::<Result<_>>()?;
        let pairs: Vec<(String, String)> = outs
            .iter()
            .zip(&texts)
            .map(|(c, t)| (t.clone(), part[c.request].problem.answer.clone()))
            .collect();
        let grades = grade_batch(&pairs, s.verifier);
        let mut buf = String::new();
        for ((c, text), g) in outs.iter().zip(&texts).zip(grades) {
            let p = part[c.request];
            let line = json!({
                "question_id": p.problem.id,
                "generation_id": c.sample,
                "prompt": p.text,
                "response": text,
                "answer": p.problem.answer,
                "gold_answer": g.ref_norm,
                "pred_answer": g.pred,
                "label": g.correct,
                "finish": finish_name(c.finish),
                "num_tokens": c.tokens.len(),
            });
            buf.push_str(&line.to_string());
            buf.push('\n');
        }
        append_durably(file, buf.as_bytes())?;
    }
    bar.finish();
    let (tokens, secs) = bar.totals();
    eprintln!(
        "{name}: {} problems × {} samples, {tokens} tokens in {secs:.1} s ({:.1} tok/s)",
        todo.len(),
        s.n,
        tokens as f64 / secs.max(1e-9)
    );
    Ok(())
}

/// passk.json and one plot per dataset.
fn write_summary(dir: &Path, datasets: &[String], results: &[PairResult]) -> Result<()> {
    let mut top = Map::new();
    for r in results {
        let mut v = serde_json::to_value(&r.report)?;
        if r.dropped_prompts > 0 {
            if let Some(o) = v.as_object_mut() {
                o.insert("dropped_prompts".into(), r.dropped_prompts.into());
            }
        }
        top.entry(r.model.clone())
            .or_insert_with(|| Value::Object(Map::new()))
            .as_object_mut()
            .map(|m| m.insert(r.dataset.clone(), v));
    }
    let mut text = serde_json::to_string_pretty(&Value::Object(top))?;
    text.push('\n');
    crate::util::write_atomic(&dir.join("passk.json"), text.as_bytes())?;
    for d in datasets {
        let series: Vec<_> = results
            .iter()
            .filter(|r| &r.dataset == d)
            .map(|r| r.report.series(&r.model))
            .collect();
        let spec = PlotSpec::passk(&format!("Pass@k on {d}"));
        write_plot(&dir.join(format!("passk_{d}")), &spec, &series, 800, 560)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        assert_eq!(
            dataset_label(Path::new("../shared/data/math/test.parquet")),
            "math"
        );
        assert_eq!(dataset_label(Path::new("x/aime 2025.jsonl")), "aime_2025");
        assert_eq!(dataset_label(Path::new("test.jsonl")), "test");
        assert_eq!(
            unique(vec!["a".into(), "b".into(), "a".into()]),
            vec!["a", "b", "a-2"]
        );
        assert_eq!(sanitize(".."), "_");
    }
}
