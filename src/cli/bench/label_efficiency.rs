//! `loupe bench label-efficiency`: the image methods on the ROP demo at
//! several labeled fractions and pool sizes, on demo seeds no setting was
//! tuned on, each (demo seed, training seed) pairing training every arm:
//! supervised, mean teacher, and mean teacher with the SRC-MT reference's
//! class-weighted consistency. Test figures of the checkpoint chosen on
//! validation and of the last epoch, mean ± sd per arm, and each
//! semi-supervised arm's paired difference from supervised (and the
//! class-weighted one's from plain mean teacher) with its 95 % interval.
//! Semi-supervised methods earn their keep from a large unlabeled pool, so
//! `--counts 300,2000` shows whether a tie is the method or the pool.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;

use super::common::{in_parallel, percent, train_json, within};
use super::findings::{Findings, Metric, Pairing};
use super::report::Output;
use crate::demo::{DemoOptions, DemoTask, write_demo};
use crate::train::config::{Method, TrainConfig};
use crate::train::events::EpochRecord;
use crate::train::methods::mean_teacher;
use crate::train::runs::METRICS_FILE;

/// One arm: a method and the flags that make it a variant.
#[derive(Clone, Debug, PartialEq)]
pub struct Variant {
    pub name: String,
    pub method: Method,
    pub flags: Vec<String>,
}

impl Variant {
    fn plain(method: Method) -> Self {
        Self {
            name: method.name().replace('-', " "),
            method,
            flags: Vec::new(),
        }
    }

    /// Mean teacher with the SRC-MT reference's class-weighted consistency.
    fn class_weighted() -> Self {
        Self {
            name: "mean teacher, class-weighted".into(),
            method: mean_teacher::METHOD,
            flags: vec![format!(
                "--{}",
                mean_teacher::CLASS_WEIGHTED_CONSISTENCY.flag
            )],
        }
    }

    /// The arms for `methods`: each method plainly, and the class-weighted
    /// mean teacher after mean teacher.
    pub fn for_methods(methods: &[Method]) -> Vec<Variant> {
        let mut variants = Vec::new();
        for &method in methods {
            variants.push(Self::plain(method));
            if method == mean_teacher::METHOD {
                variants.push(Self::class_weighted());
            }
        }
        variants
    }
}

/// Settings of the label-efficiency benchmark.
pub struct LabelEfficiencySettings {
    /// The demo: `rop` (image labels) or `rop-exams` (eye labels, with the
    /// eye-level columns).
    pub task: DemoTask,
    pub fractions: Vec<f64>,
    /// Images per demo (None: the demo's own count).
    pub counts: Vec<Option<usize>>,
    /// Seeds of the generated demo projects (each its own data).
    pub demo_seeds: Vec<u64>,
    /// Training seeds (initial weights, shuffles, augmentation, validation split).
    pub seeds: Vec<u64>,
    pub variants: Vec<Variant>,
    pub base: TrainConfig,
    pub jobs: usize,
    pub dir: PathBuf,
}

struct Job {
    fraction: f64,
    count: Option<usize>,
    demo_seed: u64,
    variant: usize,
    seed: u64,
    project: PathBuf,
}

/// Test accuracy, mean AUC and kappa of `model` in an epoch record.
fn series_scores(record: &EpochRecord, model: &str) -> [f64; 3] {
    let get = |name: &str| {
        record
            .series
            .get(&format!("metric/{model}/{name}"))
            .copied()
            .unwrap_or(f64::NAN)
    };
    [get("accuracy"), get("auc"), get("kappa")]
}

fn scores(value: &serde_json::Value) -> [f64; 3] {
    let get = |name: &str| value[name].as_f64().unwrap_or(f64::NAN);
    [get("accuracy"), get("auc"), get("kappa")]
}

/// The figures every run reports, by metric key: the chosen checkpoint's
/// student, the last epoch's, the teacher's where there is one, the eyes'.
fn run_job(
    job: &Job,
    variant: &Variant,
    exe: &Path,
    config_path: &Path,
    threads: usize,
) -> anyhow::Result<Vec<(&'static str, f64)>> {
    let mut flags = vec!["--method".to_string(), variant.method.name().to_string()];
    flags.extend(variant.flags.iter().cloned());
    let value = train_json(exe, &job.project, config_path, job.seed, threads, &flags)?;
    let run = value["run"].as_str().context("no run id")?;
    let records =
        std::fs::read_to_string(crate::train::runs::run_dir(&job.project, run)?.join(METRICS_FILE))
            .context("reading the run's metrics")?;
    let last: EpochRecord = records
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok())
        .context("the run recorded no epoch")?;
    anyhow::ensure!(value["student"].is_object(), "no student metrics");
    let [accuracy, auc, kappa] = scores(&value["student"]);
    let [accuracy_last, auc_last, kappa_last] = series_scores(&last, "student");
    let [_, teacher_auc, _] = scores(&value["teacher"]);
    let [_, teacher_auc_last, _] = series_scores(&last, "teacher");
    let eye = &value["eye"];
    let eye_value = |key: &str| eye[key].as_f64().unwrap_or(f64::NAN);
    Ok(vec![
        ("auc", auc),
        ("accuracy", accuracy),
        ("kappa", kappa),
        ("auc_last", auc_last),
        ("accuracy_last", accuracy_last),
        ("kappa_last", kappa_last),
        ("teacher_auc", teacher_auc),
        ("teacher_auc_last", teacher_auc_last),
        ("eye_accuracy", eye_value("accuracy")),
        ("eye_referral_auc", eye_value("referral_auc")),
        (
            "eye_sensitivity_at_90",
            eye_value("sensitivity_at_90_specificity"),
        ),
    ])
}

/// The row group of a fraction and pool size: `10 %` or `10 % of 2000`.
fn group_name(fraction: f64, count: Option<usize>, several_counts: bool) -> String {
    match count {
        Some(count) if several_counts => format!("{} % of {count}", percent(fraction)),
        _ => format!("{} %", percent(fraction)),
    }
}

/// Trains every (fraction, count, demo seed, arm, seed) on its own ROP demo
/// project, `jobs` processes at a time, and gives the findings.
pub fn label_efficiency(s: &LabelEfficiencySettings, output: &Output) -> anyhow::Result<()> {
    anyhow::ensure!(
        !s.seeds.is_empty() && !s.demo_seeds.is_empty(),
        "give at least one training seed and one demo seed"
    );
    s.base.validate()?;
    std::fs::create_dir_all(&s.dir).with_context(|| format!("creating {}", s.dir.display()))?;
    // Resolved once: a rebuild during the benchmark replaces the file, after
    // which Linux reports this process's own executable as "(deleted)".
    let exe = std::env::current_exe().context("locating the loupe executable")?;
    let config_path = s.dir.join("config.json");
    std::fs::write(&config_path, serde_json::to_string_pretty(&s.base)?)?;
    let jobs = jobs(s)?;
    let total = jobs.len();
    eprintln!(
        "{total} runs, {} at a time, projects and runs under {}",
        s.jobs,
        s.dir.display()
    );
    // The runs share the cores rather than each taking all of them.
    let threads_per_job = (crate::train::threads::cores() / s.jobs.max(1)).max(1);
    let started = Instant::now();
    let several_counts = s.counts.len() > 1;
    let arm_name = |job: &Job| {
        format!(
            "{} · {}",
            group_name(job.fraction, job.count, several_counts),
            s.variants[job.variant].name
        )
    };
    let results = in_parallel(jobs, s.jobs, |job: &Job| {
        let variant = &s.variants[job.variant];
        let result = run_job(job, variant, &exe, &config_path, threads_per_job);
        let what = format!("{} demo {} seed {}", arm_name(job), job.demo_seed, job.seed);
        match &result {
            Ok(values) => eprintln!(
                "[{:>5.0} s] {what}: AUC {:.3}, last epoch {:.3}",
                started.elapsed().as_secs_f64(),
                values[0].1,
                values[3].1
            ),
            Err(e) => eprintln!("{what}: {e:#}"),
        }
        result
    });
    let mut findings = frame(s);
    for (job, result) in results {
        match result {
            Ok(values) => findings.record(
                &arm_name(&job),
                Pairing::new(job.demo_seed, job.seed),
                &values,
            ),
            Err(e) => {
                findings.failed(format!(
                    "{} demo {} seed {}: failed: {e:#}",
                    arm_name(&job),
                    job.demo_seed,
                    job.seed
                ));
            }
        }
    }
    findings.wall_seconds = started.elapsed().as_secs_f64();
    output.finish(&findings, total)
}

/// The findings' frame: setting, metrics, arms in order and comparisons.
fn frame(s: &LabelEfficiencySettings) -> Findings {
    let eyes = s.task == DemoTask::RopExams;
    let mut metrics = vec![
        Metric::compared("auc", "AUC"),
        Metric::compared("accuracy", "accuracy"),
        Metric::compared("kappa", "kappa"),
        Metric::compared("auc_last", "AUC, last"),
        Metric::compared("accuracy_last", "accuracy, last"),
        Metric::tabled("kappa_last", "kappa, last"),
        Metric::tabled("teacher_auc", "teacher AUC"),
        Metric::tabled("teacher_auc_last", "teacher AUC, last"),
    ];
    if eyes {
        metrics.extend([
            Metric::compared("eye_accuracy", "eye accuracy"),
            Metric::compared("eye_referral_auc", "eye referral AUC"),
            Metric::tabled("eye_sensitivity_at_90", "eye sens @ 90 % spec"),
        ]);
    }
    let mut findings = Findings::new(
        "label-efficiency",
        "Label efficiency on the ROP demo",
        metrics,
    );
    findings.x_label = Some("labeled fraction");
    findings.setting = format!(
        "{} ({} px, width {}, {} epochs, lr {}, dropout {}, {} labeled of {} per batch, validation \
         fraction {}); images per demo {}; test pool; AUC etc. of the checkpoint chosen on \
         validation (\"last\": the last epoch's; the teacher's where the method has one); mean ± sd \
         over demo seeds {:?} × training seeds {:?}; paired by (demo seed, training seed){}",
        if eyes {
            "ROP screening demo, labeled = share of eyes graded"
        } else {
            "ROP demo"
        },
        s.base.input_size,
        s.base.width,
        s.base.epochs,
        s.base.learning_rate,
        s.base.dropout,
        s.base.labeled_per_batch,
        s.base.batch_size,
        s.base.validation_fraction,
        s.counts
            .iter()
            .map(|c| c.map_or("the demo's".to_string(), |c| c.to_string()))
            .collect::<Vec<_>>()
            .join(", "),
        s.demo_seeds,
        s.seeds,
        if eyes {
            "; eye columns: test eyes, of the model that predicts (the teacher where there is one), \
             referral by the highest P(stage ≥ 3)"
        } else {
            ""
        }
    );
    let several_counts = s.counts.len() > 1;
    for &count in &s.counts {
        for &fraction in &s.fractions {
            let group = group_name(fraction, count, several_counts);
            let series = |v: &Variant| match count {
                Some(c) if several_counts => format!("{} ({c})", v.name),
                _ => v.name.clone(),
            };
            for variant in &s.variants {
                findings.arm_on_curve(
                    &format!("{group} · {}", variant.name),
                    &series(variant),
                    Some(fraction),
                );
            }
            let named = |v: &Variant| format!("{group} · {}", v.name);
            let supervised = s
                .variants
                .iter()
                .find(|v| v.method == crate::train::methods::supervised::METHOD);
            let plain_mean_teacher = s
                .variants
                .iter()
                .find(|v| v.flags.is_empty() && v.method == mean_teacher::METHOD);
            for variant in &s.variants {
                if let Some(base) = supervised.filter(|b| *b != variant) {
                    findings.compare(&named(variant), &named(base));
                }
            }
            if let Some(plain) = plain_mean_teacher {
                let weighted = Variant::class_weighted();
                if s.variants.contains(&weighted) {
                    findings.compare(&named(&weighted), &named(plain));
                }
            }
        }
    }
    findings
}

/// One run per fraction, count, demo seed, arm and training seed; the demo
/// projects written where missing.
fn jobs(s: &LabelEfficiencySettings) -> anyhow::Result<Vec<Job>> {
    let mut jobs = Vec::new();
    for &count in &s.counts {
        for &fraction in &s.fractions {
            anyhow::ensure!(
                fraction > 0.0 && fraction <= 1.0,
                "labeled fraction {fraction} must be in (0, 1]"
            );
            for &demo_seed in &s.demo_seeds {
                let project = s.dir.join(format!(
                    "{}-{}pct-demo{demo_seed}{}",
                    s.task.name(),
                    percent(fraction),
                    count.map(|c| format!("-{c}img")).unwrap_or_default()
                ));
                if !crate::store::is_project(&project) {
                    let mut options = DemoOptions {
                        labeled_fraction: fraction,
                        seed: demo_seed,
                        ..DemoOptions::new(s.task)
                    };
                    if let Some(count) = count {
                        options.count = count;
                    }
                    options.validate()?;
                    write_demo(&project, &options, |_, _| {})?;
                }
                for variant in 0..s.variants.len() {
                    for &seed in &s.seeds {
                        jobs.push(Job {
                            fraction,
                            count,
                            demo_seed,
                            variant,
                            seed,
                            project: project.clone(),
                        });
                    }
                }
            }
        }
    }
    Ok(jobs)
}

/// Label efficiency on the ROP demo: supervised, mean teacher and mean
/// teacher with class-weighted consistency at several labeled fractions
/// (and pool sizes), paired over demo seeds × training seeds.
#[derive(Debug, clap::Args)]
pub struct LabelEfficiencyArgs {
    /// The demo: `rop` (image labels), or `rop-exams` (labels from eye
    /// grades; the fraction is the share of eyes graded; adds eye-level
    /// columns).
    #[arg(long, value_enum, default_value = "rop")]
    pub task: DemoTask,
    #[arg(long, value_delimiter = ',', default_value = "0.1,0.2,0.3")]
    pub fractions: Vec<f64>,
    /// Images per demo, each a set of rows (default: the demo's own count,
    /// about 300). `--counts 300,2000 --fractions 0.1` asks whether a tie is
    /// the method or the size of the unlabeled pool.
    #[arg(long, value_delimiter = ',')]
    pub counts: Vec<usize>,
    /// Seeds of the generated demo projects (41–43: no setting was tuned on them).
    #[arg(long, value_delimiter = ',', default_value = "41,42,43")]
    pub demo_seeds: Vec<u64>,
    /// Training seeds (each demo seed trains every arm with each).
    #[arg(long, value_delimiter = ',', default_value = "1")]
    pub seeds: Vec<u64>,
    /// Methods to compare (default: supervised and mean teacher; mean
    /// teacher brings its class-weighted variant).
    #[arg(long, value_delimiter = ',', value_parser = crate::cli::train::method_parser())]
    pub method: Vec<Method>,
    /// Base training configuration (default: the Fundus on CPU preset).
    #[arg(long)]
    pub config: Option<PathBuf>,
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Runs at once (default: one per CPU core).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Where the demo projects and runs go (default: a folder in the temp dir, reused).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    #[command(flatten)]
    pub output: Output,
}

pub fn run(args: &LabelEfficiencyArgs) -> anyhow::Result<()> {
    let mut base = match &args.config {
        Some(path) => crate::cli::train::read_config(path)?,
        None => TrainConfig::fundus_on_cpu(),
    };
    if let Some(epochs) = args.epochs {
        base.epochs = epochs;
    }
    anyhow::ensure!(
        matches!(args.task, DemoTask::Rop | DemoTask::RopExams),
        "label-efficiency runs on the ROP demos: --task rop or rop-exams, not {}",
        args.task.name()
    );
    if args.task == DemoTask::RopExams {
        base.label_source = crate::train::eyes::LabelSource::Eyes;
    }
    let methods = if args.method.is_empty() {
        // The methods that train on the demo's images alone (distillation needs a teacher run).
        crate::train::methods::all()
            .into_iter()
            .map(|d| d.method)
            .filter(|&m| {
                let spec = m.spec();
                spec.teacher_roles.is_empty()
                    && spec
                        .modalities
                        .contains(&crate::train::config::IMAGE_MODALITY)
            })
            .collect()
    } else {
        args.method.clone()
    };
    let counts: Vec<Option<usize>> = if args.counts.is_empty() {
        vec![None]
    } else {
        args.counts.iter().map(|&c| Some(c)).collect()
    };
    let jobs = within(
        "--jobs",
        args.jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        1..=256,
    )?;
    label_efficiency(
        &LabelEfficiencySettings {
            task: args.task,
            fractions: args.fractions.clone(),
            counts,
            demo_seeds: args.demo_seeds.clone(),
            seeds: args.seeds.clone(),
            variants: Variant::for_methods(&methods),
            base,
            jobs,
            dir: args
                .dir
                .clone()
                .unwrap_or_else(|| std::env::temp_dir().join("loupe-bench-label-efficiency")),
        },
        &args.output,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_teacher_brings_its_class_weighted_variant_and_each_is_paired_with_supervised() {
        let variants = Variant::for_methods(&[
            crate::train::methods::supervised::METHOD,
            mean_teacher::METHOD,
        ]);
        let names: Vec<&str> = variants.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(
            names,
            ["supervised", "mean teacher", "mean teacher, class-weighted"]
        );
        assert_eq!(variants[2].flags, ["--class-weighted-consistency"]);
        let settings = LabelEfficiencySettings {
            task: DemoTask::Rop,
            fractions: vec![0.1, 0.2],
            counts: vec![Some(300), Some(2000)],
            demo_seeds: vec![41],
            seeds: vec![1],
            variants,
            base: TrainConfig::fundus_on_cpu(),
            jobs: 1,
            dir: PathBuf::new(),
        };
        let findings = frame(&settings);
        assert_eq!(findings.arms().len(), 12);
        let comparisons = findings.comparisons();
        assert_eq!(comparisons.len(), 12);
        assert_eq!(
            comparisons[0],
            ("10 % of 300 · mean teacher", "10 % of 300 · supervised")
        );
        assert_eq!(
            comparisons[2],
            (
                "10 % of 300 · mean teacher, class-weighted",
                "10 % of 300 · mean teacher"
            )
        );
        assert_eq!(findings.arms()[0].series, "supervised (300)");
    }
}
