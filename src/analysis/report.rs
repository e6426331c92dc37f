//! Outputs of an analysis: `tokens.jsonl` (every token-level measure), `params.jsonl` (per
//! matrix, per layer, global), `summary.json`, `report.md` and plots (SVG + PNG).
use super::params::{pairs, param_site, GradSums};
use super::token::n_rank_buckets;
use super::{AnalysisReport, TokenRecord};
use crate::eval::plot::{write_plot, PlotSpec, Series};
use crate::util::write_atomic;
use anyhow::Result;
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::fmt::Write as _;
use std::path::Path;

/// Headline numbers of one objective. "Own tokens" are the tokens whose own loss coefficient
/// is non-zero (the tokens the objective pushes on directly).
#[derive(Clone, Debug, Serialize)]
pub struct ObjectiveSummary {
    pub name: String,
    pub kept_samples: usize,
    pub kept_tokens: usize,
    pub own_tokens: usize,
    pub grad_norm: f64,
    /// Shares of ‖g‖² along the correct-sample and incorrect-sample parts (sum to 1).
    pub share_correct_part: f64,
    pub share_incorrect_part: f64,
    pub norm_correct_part: f64,
    pub norm_incorrect_part: f64,
    /// Eq. 7–8 at the logit level, own tokens: mean correlation of the descent direction of the
    /// alternatives with their prior probability, and the largest relative deviation of the
    /// fitted slope from g_lp/τ (0 up to float error without an entropy term).
    pub logit_corr_mean: f64,
    pub logit_slope_max_rel_err: f64,
    /// Change of the analysed loss over the step, measured and to first order (⟨∇L, Δθ⟩):
    /// their ratio tends to 1 as lr → 0.
    pub loss_change: f64,
    pub loss_change_first_order: f64,
    /// Fraction of own tokens whose log π(y) moved the way the coefficient pushes it (up for
    /// PSR, down for NSR).
    pub sampled_sign_agreement: f64,
    /// After the step, own tokens: mean changes of the sampled token, of the top-k alternatives
    /// and of the rest.
    pub dp_sampled_mean: f64,
    pub dlogp_sampled_mean: f64,
    pub dp_topk_mean: f64,
    pub dp_rest_mean: f64,
    /// Where the gained probability mass went (shares of Σ max(Δp, 0), own tokens).
    pub gain_share_sampled: f64,
    pub gain_share_topk: f64,
    pub gain_share_rest: f64,
    /// Fit of the actual Δz of the alternatives on their prior p, own tokens: mean correlation,
    /// and the fraction of tokens whose slope has the sign Eq. 7–8 predicts (that of g_lp).
    pub dz_corr_mean: f64,
    pub dz_slope_sign_agreement: f64,
    /// Actual Δp against the first-order prediction from the logit gradient, own tokens.
    pub dp_first_order_corr_mean: f64,
    pub dp_first_order_corr_median: f64,
    /// Mean entropy of the next-token distributions, all response tokens.
    pub entropy_before: f64,
    pub entropy_after: f64,
    /// Net Δp of the alternatives per log2 prior-rank bucket (rank 1, 2–3, 4–7, …), mean over
    /// own tokens.
    pub dp_by_rank: Vec<f64>,
    /// Mean Δ log π(y) of own tokens by prior π(y) decile (the paper's first property of NSR:
    /// confident tokens barely move under NSR); NaN where a decile is empty.
    pub dlogp_by_confidence: Vec<f64>,
    pub passk_after: Option<Vec<(usize, f64)>>,
}

fn mean(xs: impl Iterator<Item = f64>) -> f64 {
    let (mut s, mut n) = (0.0, 0usize);
    for x in xs.filter(|x| x.is_finite()) {
        s += x;
        n += 1;
    }
    if n == 0 {
        f64::NAN
    } else {
        s / n as f64
    }
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.retain(|x| x.is_finite());
    if xs.is_empty() {
        return f64::NAN;
    }
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn layer_sums(r: &AnalysisReport) -> (Vec<GradSums>, GradSums, GradSums) {
    let n_obj = r.objectives.len();
    let mut layers = vec![GradSums::new(n_obj); r.num_layers];
    let mut other = GradSums::new(n_obj);
    let mut global = GradSums::new(n_obj);
    for (name, s) in &r.param_sums {
        match param_site(name).0 {
            Some(l) if l < layers.len() => layers[l].add(s),
            _ => other.add(s),
        }
        global.add(s);
    }
    (layers, other, global)
}

impl AnalysisReport {
    pub fn summaries(&self) -> Vec<ObjectiveSummary> {
        let (_, _, global) = layer_sums(self);
        let it = self.options.temperature as f64;
        self.objectives
            .iter()
            .enumerate()
            .map(|(o, info)| {
                let own: Vec<&TokenRecord> = self
                    .tokens
                    .iter()
                    .filter(|t| t.measures[o].coef != 0.0)
                    .collect();
                let m = |t: &&TokenRecord| t.measures[o].clone();
                let after = |t: &&TokenRecord| t.measures[o].after.clone();
                let own_after: Vec<_> = own.iter().filter_map(after).collect();
                let (ga, gb, gc) = own_after.iter().fold((0.0, 0.0, 0.0), |acc, a| {
                    (
                        acc.0 + a.gain_sampled,
                        acc.1 + a.gain_topk,
                        acc.2 + a.gain_rest,
                    )
                });
                let gsum = ga + gb + gc;
                // NaN, not 0, when the objective has no token of its own: nothing was measured.
                let empty = if own_after.is_empty() { f64::NAN } else { 0.0 };
                let mut dp_by_rank = vec![empty; n_rank_buckets(self.vocab_size)];
                for a in &own_after {
                    for (x, y) in dp_by_rank.iter_mut().zip(&a.dp_by_rank) {
                        *x += y / own_after.len() as f64;
                    }
                }
                let mut conf = [(0.0, 0usize); 10];
                for t in &own {
                    if let Some(a) = &t.measures[o].after {
                        let b = ((t.prior_p * 10.0) as usize).min(9);
                        conf[b].0 += a.dlogp_sampled;
                        conf[b].1 += 1;
                    }
                }
                let (share_c, share_i) = global.shares(o);
                ObjectiveSummary {
                    name: info.name.clone(),
                    kept_samples: info.kept_samples,
                    kept_tokens: info.kept_tokens,
                    own_tokens: own.len(),
                    grad_norm: global.norm(o),
                    share_correct_part: share_c,
                    share_incorrect_part: share_i,
                    norm_correct_part: global.pos_sq[o].sqrt(),
                    norm_incorrect_part: global.neg_sq[o].sqrt(),
                    logit_corr_mean: mean(own.iter().map(|t| m(t).logit_corr)),
                    logit_slope_max_rel_err: own
                        .iter()
                        .map(|t| {
                            let x = m(t);
                            (x.logit_slope / (x.coef as f64 / it) - 1.0).abs()
                        })
                        .filter(|x| x.is_finite())
                        .fold(0.0, f64::max),
                    loss_change: info.loss_change,
                    loss_change_first_order: info.loss_change_first_order,
                    sampled_sign_agreement: {
                        let agree = own
                            .iter()
                            .filter(|t| {
                                let x = &t.measures[o];
                                x.after.as_ref().is_some_and(|a| {
                                    a.dlogp_sampled.signum() == -(x.coef as f64).signum()
                                })
                            })
                            .count();
                        agree as f64 / own.len().max(1) as f64
                    },
                    dp_sampled_mean: mean(own_after.iter().map(|a| a.dp_sampled)),
                    dlogp_sampled_mean: mean(own_after.iter().map(|a| a.dlogp_sampled)),
                    dp_topk_mean: mean(own_after.iter().map(|a| a.dp_topk)),
                    dp_rest_mean: mean(own_after.iter().map(|a| a.dp_rest)),
                    gain_share_sampled: ga / gsum,
                    gain_share_topk: gb / gsum,
                    gain_share_rest: gc / gsum,
                    dz_corr_mean: mean(own_after.iter().map(|a| a.dz_corr)),
                    dz_slope_sign_agreement: {
                        let agree = own
                            .iter()
                            .filter(|t| {
                                let x = &t.measures[o];
                                x.after.as_ref().is_some_and(|a| {
                                    a.dz_slope.signum() == (x.coef as f64).signum()
                                })
                            })
                            .count();
                        agree as f64 / own.len().max(1) as f64
                    },
                    dp_first_order_corr_mean: mean(own_after.iter().map(|a| a.dp_pred_corr)),
                    dp_first_order_corr_median: median(
                        own_after.iter().map(|a| a.dp_pred_corr).collect(),
                    ),
                    entropy_before: mean(self.tokens.iter().map(|t| t.prior_entropy)),
                    entropy_after: mean(
                        self.tokens
                            .iter()
                            .filter_map(|t| t.measures[o].after.as_ref().map(|a| a.entropy)),
                    ),
                    dp_by_rank,
                    dlogp_by_confidence: conf
                        .iter()
                        .map(|&(s, n)| if n == 0 { f64::NAN } else { s / n as f64 })
                        .collect(),
                    passk_after: info.passk_after.as_ref().map(|p| p.passk.clone()),
                }
            })
            .collect()
    }

    /// One JSON object per response token.
    pub fn token_lines(&self) -> Result<String> {
        let mut out = String::new();
        for t in &self.tokens {
            let s = &self.samples[t.sample];
            let mut per = Map::new();
            for (info, m) in self.objectives.iter().zip(&t.measures) {
                per.insert(info.name.clone(), serde_json::to_value(m)?);
            }
            let line = json!({
                "sample": t.sample,
                "group": s.group,
                "reward": s.reward,
                "position": t.position,
                "token": t.token,
                "prior_p": t.prior_p,
                "prior_entropy": t.prior_entropy,
                "prior_rank": t.prior_rank,
                "topk": t.topk,
                "topk_p": t.topk_p,
                "objectives": per,
            });
            out.push_str(&line.to_string());
            out.push('\n');
        }
        Ok(out)
    }

    fn sums_json(&self, s: &GradSums) -> Map<String, Value> {
        let names: Vec<&str> = self.objectives.iter().map(|o| o.name.as_str()).collect();
        let per = |f: &dyn Fn(usize) -> f64| -> Value {
            Value::Object(
                names
                    .iter()
                    .enumerate()
                    .map(|(o, n)| (n.to_string(), json!(f(o))))
                    .collect(),
            )
        };
        let mut m = Map::new();
        m.insert("numel".into(), json!(s.numel));
        m.insert("grad_norm".into(), per(&|o| s.norm(o)));
        m.insert("norm_correct_part".into(), per(&|o| s.pos_sq[o].sqrt()));
        m.insert("norm_incorrect_part".into(), per(&|o| s.neg_sq[o].sqrt()));
        m.insert("share_correct_part".into(), per(&|o| s.shares(o).0));
        m.insert("share_incorrect_part".into(), per(&|o| s.shares(o).1));
        m.insert("parts_cosine".into(), per(&|o| s.parts_cosine(o)));
        let cos: Map<String, Value> = pairs(names.len())
            .iter()
            .enumerate()
            .map(|(k, &(a, b))| {
                (
                    format!("{}~{}", names[a], names[b]),
                    json!(s.cosine(k, a, b)),
                )
            })
            .collect();
        m.insert("cosine".into(), Value::Object(cos));
        m
    }

    /// Per-matrix, per-layer and global gradient records.
    pub fn param_lines(&self) -> String {
        let mut out = String::new();
        let mut push = |scope: &str, extra: Vec<(&str, Value)>, s: &GradSums| {
            let mut m = Map::new();
            m.insert("scope".into(), json!(scope));
            for (k, v) in extra {
                m.insert(k.into(), v);
            }
            m.extend(self.sums_json(s));
            out.push_str(&Value::Object(m).to_string());
            out.push('\n');
        };
        for (name, s) in &self.param_sums {
            let (layer, matrix) = param_site(name);
            push(
                "matrix",
                vec![
                    ("name", json!(name)),
                    ("layer", json!(layer)),
                    ("matrix", json!(matrix)),
                ],
                s,
            );
        }
        let (layers, other, global) = layer_sums(self);
        for (l, s) in layers.iter().enumerate() {
            push("layer", vec![("layer", json!(l))], s);
        }
        push("outside_layers", vec![], &other);
        push("global", vec![], &global);
        out
    }

    pub fn summary_json(&self) -> Result<Value> {
        let (_, _, global) = layer_sums(self);
        let names: Vec<&str> = self.objectives.iter().map(|o| o.name.as_str()).collect();
        let cos: Map<String, Value> = pairs(names.len())
            .iter()
            .enumerate()
            .map(|(k, &(a, b))| {
                (
                    format!("{}~{}", names[a], names[b]),
                    json!(global.cosine(k, a, b)),
                )
            })
            .collect();
        let correct = self.samples.iter().filter(|s| s.is_correct()).count();
        let o = &self.options;
        Ok(json!({
            "settings": {
                "temperature": o.temperature,
                "top_k": o.top_k,
                "lr": o.lr,
                "step": format!("{:?}", o.step).to_lowercase(),
                "entropy_coef": o.entropy_coef,
            },
            "samples": self.samples.len(),
            "correct_samples": correct,
            "response_tokens": self.tokens.len(),
            "vocab_size": self.vocab_size,
            "num_layers": self.num_layers,
            "gradient_cosine": cos,
            "passk_before": self.passk_before.as_ref().map(|p| p.passk.clone()),
            "objectives": serde_json::to_value(self.summaries())?,
        }))
    }

    /// Write every output into `dir` (created if needed).
    pub fn write(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir)
            .map_err(|e| anyhow::anyhow!("creating {}: {e}", dir.display()))?;
        write_atomic(&dir.join("tokens.jsonl"), self.token_lines()?.as_bytes())?;
        write_atomic(&dir.join("params.jsonl"), self.param_lines().as_bytes())?;
        let summary = self.summary_json()?;
        write_atomic(
            &dir.join("summary.json"),
            serde_json::to_string_pretty(&summary)?.as_bytes(),
        )?;
        self.write_plots(dir)?;
        write_atomic(&dir.join("report.md"), self.markdown(&summary).as_bytes())
    }

    fn write_plots(&self, dir: &Path) -> Result<()> {
        let sums = self.summaries();
        let (w, h) = (800, 500);
        let series =
            |f: &dyn Fn(&super::report::ObjectiveSummary) -> Vec<(f64, f64)>| -> Vec<Series> {
                sums.iter()
                    .map(|s| Series {
                        name: s.name.clone(),
                        points: f(s),
                    })
                    .collect()
            };
        write_plot(
            &dir.join("redistribution"),
            &PlotSpec {
                title: "Net probability change of the alternatives by prior rank".into(),
                x_label: "prior rank (log2 buckets: 1, 2-3, 4-7, ...)".into(),
                y_label: "mean net dp per token".into(),
                log2_x: true,
                y_range: None,
            },
            &series(&|s| {
                s.dp_by_rank
                    .iter()
                    .enumerate()
                    .map(|(b, &v)| ((1u64 << b) as f64, v))
                    .collect()
            }),
            w,
            h,
        )?;
        let (layers, _, _) = layer_sums(self);
        write_plot(
            &dir.join("grad_norm_layers"),
            &PlotSpec {
                title: "Gradient norm per layer".into(),
                x_label: "layer".into(),
                y_label: "||grad||".into(),
                ..Default::default()
            },
            &self
                .objectives
                .iter()
                .enumerate()
                .map(|(o, info)| Series {
                    name: info.name.clone(),
                    points: layers
                        .iter()
                        .enumerate()
                        .map(|(l, s)| (l as f64, s.norm(o)))
                        .collect(),
                })
                .collect::<Vec<_>>(),
            w,
            h,
        )?;
        write_plot(
            &dir.join("entropy"),
            &PlotSpec {
                title: "Mean next-token entropy before (0) and after (1) one step".into(),
                x_label: "step".into(),
                y_label: "entropy (nats)".into(),
                ..Default::default()
            },
            &series(&|s| vec![(0.0, s.entropy_before), (1.0, s.entropy_after)]),
            w,
            h,
        )?;
        write_plot(
            &dir.join("dlogp_by_confidence"),
            &PlotSpec {
                title: "Change of log pi(sampled) by its prior probability".into(),
                x_label: "prior pi(sampled token), decile centre".into(),
                y_label: "mean d log pi(sampled)".into(),
                ..Default::default()
            },
            &series(&|s| {
                s.dlogp_by_confidence
                    .iter()
                    .enumerate()
                    .map(|(b, &v)| (0.05 + 0.1 * b as f64, v))
                    .collect()
            }),
            w,
            h,
        )?;
        if let Some(before) = &self.passk_before {
            let mut ser = vec![before.series("before")];
            for info in &self.objectives {
                if let Some(p) = &info.passk_after {
                    ser.push(p.series(&format!("after {}", info.name)));
                }
            }
            write_plot(
                &dir.join("passk"),
                &PlotSpec::passk("Pass@k before and after one step"),
                &ser,
                w,
                h,
            )?;
        }
        Ok(())
    }

    pub fn markdown(&self, summary: &Value) -> String {
        let sums = self.summaries();
        let o = &self.options;
        let mut md = String::new();
        let correct = self.samples.iter().filter(|s| s.is_correct()).count();
        let _ = writeln!(
            md,
            "# Gradient analysis: where the objectives push probability mass\n"
        );
        let _ = writeln!(
            md,
            "{} samples ({} correct), {} response tokens, vocabulary {}. One {} step with lr {} \
             on a copy of the model per objective; temperature {}, top-k = {}, entropy coefficient {}.\n",
            self.samples.len(),
            correct,
            self.tokens.len(),
            self.vocab_size,
            format!("{:?}", o.step).to_lowercase(),
            o.lr,
            o.temperature,
            o.top_k,
            o.entropy_coef
        );
        let f = |x: f64| {
            if !x.is_finite() {
                "–".to_string()
            } else if x != 0.0 && (x.abs() < 1e-3 || x.abs() >= 1e4) {
                format!("{x:.3e}")
            } else {
                format!("{x:.4}")
            }
        };
        let row = |md: &mut String, label: &str, g: &dyn Fn(&ObjectiveSummary) -> String| {
            let _ = write!(md, "| {label} |");
            for s in &sums {
                let _ = write!(md, " {} |", g(s));
            }
            let _ = writeln!(md);
        };
        let _ = write!(md, "| measure |");
        for s in &sums {
            let _ = write!(md, " {} |", s.name);
        }
        let _ = writeln!(md);
        let _ = writeln!(md, "|---|{}", "---|".repeat(sums.len()));
        row(&mut md, "kept samples / tokens", &|s| {
            format!("{} / {}", s.kept_samples, s.kept_tokens)
        });
        row(&mut md, "gradient norm", &|s| f(s.grad_norm));
        row(
            &mut md,
            "share of update from correct / incorrect samples",
            &|s| {
                format!(
                    "{} / {}",
                    f(s.share_correct_part),
                    f(s.share_incorrect_part)
                )
            },
        );
        row(
            &mut md,
            "Eq. 7–8 at the logits: corr(−∂L/∂z_v, π_v), v≠y",
            &|s| f(s.logit_corr_mean),
        );
        row(&mut md, "Eq. 7–8 slope max rel. error vs g_lp/τ", &|s| {
            f(s.logit_slope_max_rel_err)
        });
        row(&mut md, "after the step: mean Δπ(sampled)", &|s| {
            f(s.dp_sampled_mean)
        });
        row(&mut md, "mean Δlog π(sampled)", &|s| {
            f(s.dlogp_sampled_mean)
        });
        row(&mut md, "mean Δ mass of top-k alternatives", &|s| {
            f(s.dp_topk_mean)
        });
        row(&mut md, "mean Δ mass of the rest", &|s| f(s.dp_rest_mean));
        row(&mut md, "gained mass → sampled / top-k / rest", &|s| {
            format!(
                "{} / {} / {}",
                f(s.gain_share_sampled),
                f(s.gain_share_topk),
                f(s.gain_share_rest)
            )
        });
        row(&mut md, "corr(Δz_v, π_v) after the step, v≠y", &|s| {
            f(s.dz_corr_mean)
        });
        row(
            &mut md,
            "sign of that slope = sign Eq. 7–8 predicts",
            &|s| f(s.dz_slope_sign_agreement),
        );
        row(
            &mut md,
            "corr(Δp, first-order prediction): mean / median",
            &|s| {
                format!(
                    "{} / {}",
                    f(s.dp_first_order_corr_mean),
                    f(s.dp_first_order_corr_median)
                )
            },
        );
        row(&mut md, "entropy before → after", &|s| {
            format!("{} → {}", f(s.entropy_before), f(s.entropy_after))
        });
        let _ = writeln!(
            md,
            "\nToken-level rows use each objective's own tokens (non-zero loss coefficient); entropy \
             uses every response token. \"Top-k\" are the {} most probable alternatives to the sampled \
             token under the prior.\n",
            o.top_k
        );
        if let Some(cos) = summary.get("gradient_cosine").and_then(|c| c.as_object()) {
            if !cos.is_empty() {
                let _ = writeln!(md, "## Gradient cosines (whole model)\n");
                for (k, v) in cos {
                    let _ = writeln!(md, "- {k}: {}", f(v.as_f64().unwrap_or(f64::NAN)));
                }
                let _ = writeln!(md, "\nPer layer and per matrix: `params.jsonl`.\n");
            }
        }
        if let Some(before) = &self.passk_before {
            let _ = writeln!(
                md,
                "## Pass@k of the prompt set before and after one step\n"
            );
            let _ = write!(md, "| k | before |");
            for s in &sums {
                let _ = write!(md, " {} |", s.name);
            }
            let _ = writeln!(md);
            let _ = writeln!(md, "|---|---|{}", "---|".repeat(sums.len()));
            for (i, &(k, v)) in before.passk.iter().enumerate() {
                let _ = write!(md, "| {k} | {} |", f(v));
                for s in &sums {
                    let a = s.passk_after.as_ref().and_then(|p| p.get(i)).map(|x| x.1);
                    let _ = write!(md, " {} |", a.map_or("–".into(), f));
                }
                let _ = writeln!(md);
            }
            let _ = writeln!(md);
        }
        let _ = writeln!(md, "## Plots\n");
        for (name, what) in [
            (
                "redistribution",
                "net Δp of the alternatives by prior rank bucket",
            ),
            (
                "dlogp_by_confidence",
                "Δlog π(sampled) by prior π(sampled) (property 1)",
            ),
            ("grad_norm_layers", "gradient norm per layer"),
            ("entropy", "entropy before and after"),
        ] {
            let _ = writeln!(md, "- {what}: ![{name}]({name}.svg)");
        }
        if self.passk_before.is_some() {
            let _ = writeln!(md, "- Pass@k: ![passk](passk.svg)");
        }
        md
    }
}
