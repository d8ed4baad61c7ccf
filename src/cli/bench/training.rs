//! `loupe bench training` (optimizer-step throughput on each device, with the
//! PyTorch peer, through the same `Trainer` as every run) and `loupe bench
//! label-efficiency` (the methods on the ROP demo at several labeled
//! fractions, demo seeds and training seeds, on the same schedule).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::Context;
use burn::tensor::{Distribution, Tensor};

use super::common::{
    StepShape, Table, in_parallel, mean_sd, percent, plus_minus, threads_option, train_json, within,
};
use crate::demo::{DemoOptions, DemoTask, write_demo};
use crate::train::classify::{Trainer, TrainingData};
use crate::train::config::{Method, TrainConfig};
use crate::train::data::Images;
use crate::train::device::{self, ComputeDevice};
use crate::train::events::EpochRecord;
use crate::train::methods;
use crate::train::runs::METRICS_FILE;
use crate::train::step::Stepper;

/// The PyTorch peer: the same network, augmentation, loss and optimizer.
const TORCH_PEER: &str = include_str!("../../../bench/torch_peer.py");

/// Settings of the throughput benchmark.
pub struct ThroughputSettings {
    pub input_size: usize,
    pub width: usize,
    pub batch: usize,
    pub steps: usize,
    pub python: String,
    /// CPU threads for the `flex` rows.
    pub threads: usize,
}

struct Throughput {
    median_step_seconds: f64,
    images_per_second: f64,
    /// Each phase of the step (`train::phases`), mean seconds over the
    /// timed steps, in the order the step runs them (empty for the peer).
    phases: Vec<(&'static str, f64)>,
    /// The process's peak resident memory during the steps, and how much of
    /// it the steps added to what was resident before them, MiB.
    peak_resident_mib: Option<f64>,
    steps_resident_mib: Option<f64>,
}

/// `count` random images of `size` pixels with labels cycling over `classes`.
fn random_images(count: usize, size: usize, classes: usize, labeled: bool) -> Images {
    let pixels: Vec<f32> = Tensor::<1>::random(
        [count * 3 * size * size],
        Distribution::Uniform(-1.0, 1.0),
        &burn::tensor::Device::flex(),
    )
    .into_data()
    .try_to_vec::<f32>()
    .unwrap_or_default();
    Images {
        ids: (0..count as i64).collect(),
        labels: (0..count).map(|i| labeled.then_some(i % classes)).collect(),
        pixels,
        shape: crate::train::data::image_shape(size),
        guidance: Vec::new(),
        groups: Vec::new(),
    }
}

/// Times `steps` steps of `method` by the `Trainer`, after two untimed ones
/// (the first compiles the GPU kernels). A supervised step reads a whole
/// batch of labeled images; a mean-teacher step a quarter labeled.
fn time_steps(
    compute: &ComputeDevice,
    method: Method,
    s: &ThroughputSettings,
) -> anyhow::Result<Throughput> {
    let classes = 4;
    let labeled_per_batch = if method == methods::supervised::METHOD {
        s.batch
    } else {
        (s.batch / 4).max(1)
    };
    let config = TrainConfig {
        method,
        input_size: s.input_size,
        width: s.width,
        batch_size: s.batch,
        labeled_per_batch,
        validation_fraction: 0.0,
        epochs: 1,
        ..TrainConfig::method_reference()
    };
    let data = TrainingData {
        classes: (0..classes).map(|c| c.to_string()).collect(),
        labeled: random_images(s.batch, s.input_size, classes, true),
        validation: Images::default(),
        unlabeled: random_images(s.batch, s.input_size, classes, false),
        test: Images::default(),
    };
    let mut trainer = Trainer::new(
        config,
        data,
        &compute.device,
        match methods::declaration(method).map(|d| (d.build)()) {
            Some(Stepper::Classify(step)) => step,
            _ => anyhow::bail!("{} does not classify", method.name()),
        },
        None,
    )?;
    let mut seconds = Vec::with_capacity(s.steps);
    let mut phases: Vec<(&'static str, f64)> = Vec::new();
    // Resident memory from here: what is in use (free heap handed back,
    // so an earlier row's kept memory does not count), then the steps' peak.
    crate::allocator::release_free_memory();
    let before = crate::allocator::reset_peak_resident()
        .then(crate::allocator::resident_mib)
        .flatten();
    for step in 0..s.steps + 2 {
        let order = trainer.shuffle_epoch();
        crate::train::phases::start();
        let started = Instant::now();
        // Each step reads its loss back, so the time includes the device's work.
        trainer.step(0, 0, &order)?;
        let elapsed = started.elapsed().as_secs_f64();
        let spent = crate::train::phases::finish();
        if step >= 2 {
            seconds.push(elapsed);
            for (name, time) in spent {
                match phases.iter_mut().find(|(n, _)| *n == name) {
                    Some((_, total)) => *total += time.as_secs_f64(),
                    None => phases.push((name, time.as_secs_f64())),
                }
            }
        }
    }
    let timed = seconds.len().max(1) as f64;
    for (_, total) in &mut phases {
        *total /= timed;
    }
    seconds.sort_by(f64::total_cmp);
    let median = seconds[seconds.len() / 2];
    let peak = before
        .and(crate::allocator::resident_mib())
        .map(|(_, peak)| peak);
    Ok(Throughput {
        median_step_seconds: median,
        images_per_second: s.batch as f64 / median,
        phases,
        peak_resident_mib: peak,
        steps_resident_mib: peak.zip(before).map(|(peak, (now, _))| peak - now),
    })
}

/// One method's step in the PyTorch peer (`supervised` or `mean-teacher`).
fn torch_peer(
    s: &ThroughputSettings,
    method: &str,
) -> Result<(String, String, Throughput), String> {
    let mut child = Command::new(&s.python)
        .args([
            "-",
            "--method",
            method,
            "--input-size",
            &s.input_size.to_string(),
            "--width",
            &s.width.to_string(),
            "--batch",
            &s.batch.to_string(),
            "--steps",
            &s.steps.to_string(),
            "--threads",
            &s.threads.to_string(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", s.python))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(TORCH_PEER.as_bytes())
            .map_err(|e| e.to_string())?;
    }
    let output = child.wait_with_output().map_err(|e| e.to_string())?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr.lines().last().unwrap_or("no output").to_string();
        return Err(format!("{} failed: {last}", s.python));
    }
    let value: serde_json::Value = serde_json::from_slice(&output.stdout)
        .map_err(|e| format!("unreadable peer output: {e}"))?;
    let number = |k: &str| value[k].as_f64().unwrap_or(f64::NAN);
    let version = value["torch"].as_str().unwrap_or("?").to_string();
    Ok((
        format!(
            "PyTorch {} ({}, {} threads)",
            version,
            value["device"].as_str().unwrap_or("?"),
            value["threads"]
        ),
        version,
        Throughput {
            median_step_seconds: number("median_step_seconds"),
            images_per_second: number("images_per_second"),
            phases: Vec::new(),
            peak_resident_mib: value["peak_resident_mib"].as_f64(),
            steps_resident_mib: value["steps_resident_mib"].as_f64(),
        },
    ))
}

/// Images per second of one training step, on every device Loupe can train on, beside PyTorch.
/// With `json`, one object goes to standard output and the table to standard error.
pub fn throughput(s: &ThroughputSettings, json: bool) -> anyhow::Result<()> {
    anyhow::ensure!(s.batch >= 2, "the batch needs at least 2 images");
    let say = |line: String| {
        if json {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    };
    say(format!(
        "ResNet-18-style, width {}, input {} px, batch {}, Adam; median of {} steps after 2 warm-up steps; {} CPU threads; CPU matrix products on {} (chosen at run time)",
        s.width,
        s.input_size,
        s.batch,
        s.steps,
        s.threads,
        crate::train::kernels::matrix_simd()
    ));
    say(format!(
        "{:<72} {:<14} {:>10} {:>10} {:>14} {:>12}",
        "device", "method", "ms/step", "images/s", "peak RSS MiB", "steps add"
    ));
    let row = |name: &str, method: &str, t: &Throughput| {
        let mib = |v: Option<f64>| v.map_or("–".to_string(), |v| format!("{v:.0}"));
        say(format!(
            "{:<72} {:<14} {:>10.1} {:>10.1} {:>14} {:>12}",
            name,
            method,
            t.median_step_seconds * 1e3,
            t.images_per_second,
            mib(t.peak_resident_mib),
            mib(t.steps_resident_mib),
        ));
        let phases: serde_json::Map<String, serde_json::Value> = t
            .phases
            .iter()
            .map(|(phase, seconds)| ((*phase).to_string(), (seconds * 1e3).into()))
            .collect();
        serde_json::json!({
            "device": name,
            // The network the row trains (the 3-D and U-Net rows are to come).
            "network": "resnet18",
            "method": method,
            "ms_per_step": t.median_step_seconds * 1e3,
            "images_per_s": t.images_per_second,
            "threads": s.threads,
            "phases_ms": phases,
            "peak_resident_mib": t.peak_resident_mib,
            "steps_resident_mib": t.steps_resident_mib,
        })
    };
    // (device, its name in the table, Loupe's CPU kernels on, its phases
    // printed: flex runs each op as it is called, so the phases are its own).
    let mut devices = vec![
        (
            device::flex(),
            "flex (CPU), Loupe's kernels".to_string(),
            true,
            true,
        ),
        (
            device::flex(),
            "flex (CPU), Burn's convolution".to_string(),
            false,
            false,
        ),
    ];
    match crate::render::device::headless_render_state() {
        Ok(render_state) => match crate::app::training::display_compute(&render_state) {
            Ok(compute) => {
                let name = compute.description.clone();
                devices.push((compute, name, true, false));
            }
            Err(e) => say(format!("wgpu: not measured ({e})")),
        },
        Err(e) => say(format!("wgpu: not measured ({e})")),
    }
    let mut rows = Vec::new();
    let mut traced = Vec::new();
    let kernels_were = crate::train::kernels::enabled();
    for (compute, name, kernels, trace) in &devices {
        crate::train::kernels::set_enabled(*kernels);
        for method in [
            crate::train::methods::supervised::METHOD,
            crate::train::methods::mean_teacher::METHOD,
        ] {
            let timed =
                crate::train::threads::with_threads(s.threads, || time_steps(compute, method, s))??;
            rows.push(row(name, method.name(), &timed));
            if *trace {
                traced.push((method.name(), timed));
            }
        }
    }
    crate::train::kernels::set_enabled(kernels_were);
    for (method, timed) in &traced {
        say(format!(
            "  flex, Loupe's kernels, {method}: phases of the step, mean ms over the timed steps"
        ));
        for (phase, seconds) in &timed.phases {
            say(format!("    {phase:<32} {:>8.1}", seconds * 1e3));
        }
        let listed: f64 = timed.phases.iter().map(|(_, s)| s).sum();
        say(format!(
            "    {:<32} {:>8.1}",
            "sum of the phases",
            listed * 1e3
        ));
    }
    let mut peer_rows = Vec::new();
    let mut peer_name = None;
    let mut peer_error = None;
    for method in [
        crate::train::methods::supervised::METHOD,
        crate::train::methods::mean_teacher::METHOD,
    ] {
        match torch_peer(s, method.name()) {
            Ok((name, version, t)) => {
                peer_rows.push(row(&name, method.name(), &t));
                peer_name = Some(version);
            }
            Err(e) => {
                say(format!(
                    "PyTorch peer, {}: not measured ({e})",
                    method.name()
                ));
                peer_error = Some(e);
            }
        }
    }
    // Loupe's CPU kernels over the peer, method by method (the same run).
    let mut ratios = serde_json::Map::new();
    for (method, timed) in &traced {
        let peer = peer_rows
            .iter()
            .find(|r| r["method"] == *method)
            .and_then(|r| r["images_per_s"].as_f64());
        if let Some(peer) = peer.filter(|p| *p > 0.0) {
            let ratio = timed.images_per_second / peer;
            say(format!(
                "flex, Loupe's kernels ÷ PyTorch, {method}: {ratio:.2}"
            ));
            ratios.insert((*method).to_string(), ratio.into());
        }
    }
    let peer = serde_json::json!({ "torch": peer_name, "rows": peer_rows, "error": peer_error });
    if json {
        println!(
            "{}",
            serde_json::json!({
                "rows": rows,
                "peer": peer,
                "matrix_simd": crate::train::kernels::matrix_simd(),
                "loupe_over_peer": ratios,
            })
        );
    }
    Ok(())
}

/// Settings of the label-efficiency benchmark.
pub struct LabelEfficiencySettings {
    /// The demo: `rop` (image labels) or `rop-exams` (eye labels, with the
    /// eye-level columns).
    pub task: DemoTask,
    pub fractions: Vec<f64>,
    /// Seeds of the generated demo projects (each its own data).
    pub demo_seeds: Vec<u64>,
    /// Training seeds (initial weights, shuffles, augmentation, validation split).
    pub seeds: Vec<u64>,
    pub methods: Vec<Method>,
    pub base: TrainConfig,
    pub jobs: usize,
    pub dir: PathBuf,
}

struct Job {
    fraction: f64,
    demo_seed: u64,
    method: Method,
    seed: u64,
    project: PathBuf,
}

struct Outcome {
    fraction: f64,
    demo_seed: u64,
    method: Method,
    /// Test accuracy, mean AUC and kappa of the checkpoint chosen on validation.
    student: [f64; 3],
    teacher: Option<[f64; 3]>,
    /// The same of the last epoch (what choosing on validation is compared with).
    last_student: Option<[f64; 3]>,
    last_teacher: Option<[f64; 3]>,
    /// Eye-level stage accuracy, referral AUC and sensitivity at 90 %
    /// specificity of the model that predicts (runs under eye labels).
    eye: Option<[f64; 3]>,
}

fn eye_scores(value: &serde_json::Value) -> Option<[f64; 3]> {
    Some([
        value["accuracy"].as_f64()?,
        value["referral_auc"].as_f64().unwrap_or(f64::NAN),
        value["sensitivity_at_90_specificity"]
            .as_f64()
            .unwrap_or(f64::NAN),
    ])
}

/// Test accuracy, mean AUC and kappa of `model` in an epoch record.
fn series_scores(record: &EpochRecord, model: &str) -> Option<[f64; 3]> {
    let get = |name: &str| {
        record
            .series
            .get(&format!("metric/{model}/{name}"))
            .copied()
    };
    Some([
        get("accuracy")?,
        get("auc").unwrap_or(f64::NAN),
        get("kappa").unwrap_or(f64::NAN),
    ])
}

fn scores(value: &serde_json::Value) -> Option<[f64; 3]> {
    Some([
        value["accuracy"].as_f64()?,
        value["auc"].as_f64().unwrap_or(f64::NAN),
        value["kappa"].as_f64().unwrap_or(f64::NAN),
    ])
}

fn run_job(job: &Job, exe: &Path, config_path: &Path, threads: usize) -> anyhow::Result<Outcome> {
    let method = ["--method".to_string(), job.method.name().to_string()];
    let value = train_json(exe, &job.project, config_path, job.seed, threads, &method)?;
    let run = value["run"].as_str().context("no run id")?;
    let last: Option<EpochRecord> =
        std::fs::read_to_string(crate::train::runs::run_dir(&job.project, run)?.join(METRICS_FILE))
            .ok()
            .and_then(|text| {
                text.lines()
                    .last()
                    .and_then(|l| serde_json::from_str(l).ok())
            });
    Ok(Outcome {
        fraction: job.fraction,
        demo_seed: job.demo_seed,
        method: job.method,
        student: scores(&value["student"]).context("no student metrics")?,
        teacher: scores(&value["teacher"]),
        last_student: last.as_ref().and_then(|r| series_scores(r, "student")),
        last_teacher: last.as_ref().and_then(|r| series_scores(r, "teacher")),
        eye: eye_scores(&value["eye"]),
    })
}

/// Trains every (fraction, method, seed) on its own ROP demo project, `jobs`
/// processes at a time, and prints mean ± sd of accuracy, mean AUC and kappa.
pub fn label_efficiency(s: &LabelEfficiencySettings) -> anyhow::Result<()> {
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
    let jobs = label_efficiency_jobs(s)?;
    let total = jobs.len();
    eprintln!(
        "{total} runs, {} at a time, projects and runs under {}",
        s.jobs,
        s.dir.display()
    );
    // The runs share the cores rather than each taking all of them.
    let threads_per_job = (crate::train::threads::cores() / s.jobs.max(1)).max(1);
    let started = Instant::now();
    let results = in_parallel(jobs, s.jobs, |job: &Job| {
        let result = run_job(job, &exe, &config_path, threads_per_job);
        let what = format!(
            "{} % demo {} {} seed {}",
            percent(job.fraction),
            job.demo_seed,
            job.method.name(),
            job.seed
        );
        match &result {
            Ok(o) => eprintln!(
                "[{:>5.0} s] {what}: student accuracy {:.3}{}",
                started.elapsed().as_secs_f64(),
                o.student[0],
                o.teacher
                    .map(|t| format!(", teacher {:.3}", t[0]))
                    .unwrap_or_default()
            ),
            Err(e) => eprintln!("{what}: {e:#}"),
        }
        result
    });
    let outcomes: Vec<Outcome> = results.into_iter().filter_map(|(_, r)| r.ok()).collect();
    print!("{}", label_efficiency_table(s, &outcomes));
    anyhow::ensure!(
        outcomes.len() == total,
        "{} of {total} runs failed (messages above)",
        total - outcomes.len()
    );
    Ok(())
}

/// One run per labeled fraction, demo seed, method and training seed; the
/// demo projects written where missing.
fn label_efficiency_jobs(s: &LabelEfficiencySettings) -> anyhow::Result<Vec<Job>> {
    let mut jobs = Vec::new();
    for &fraction in &s.fractions {
        anyhow::ensure!(
            fraction > 0.0 && fraction <= 1.0,
            "labeled fraction {fraction} must be in (0, 1]"
        );
        for &demo_seed in &s.demo_seeds {
            let project = s.dir.join(format!(
                "{}-{}pct-demo{demo_seed}",
                s.task.name(),
                percent(fraction)
            ));
            if !crate::store::is_project(&project) {
                let options = DemoOptions {
                    labeled_fraction: fraction,
                    seed: demo_seed,
                    ..DemoOptions::new(s.task)
                };
                write_demo(&project, &options, |_, _| {})?;
            }
            for &method in &s.methods {
                for &seed in &s.seeds {
                    jobs.push(Job {
                        fraction,
                        demo_seed,
                        method,
                        seed,
                        project: project.clone(),
                    });
                }
            }
        }
    }
    Ok(jobs)
}

/// The settings line and the table: per fraction, demo seeds (all, then
/// each apart — the spread between demos is part of the answer), method and
/// model, mean ± sd of accuracy, AUC and kappa.
fn label_efficiency_table(s: &LabelEfficiencySettings, outcomes: &[Outcome]) -> String {
    let eyes = s.task == DemoTask::RopExams;
    let mut out = format!(
        "{} ({} px, width {}, {} epochs, lr {}, dropout {}, {} labeled of {} per batch, validation fraction {}); \
         test pool of the checkpoint chosen on validation (\"…, last\": the last epoch's); mean ± sd over runs (demo seeds {:?} × training seeds {:?}){}\n",
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
        s.demo_seeds,
        s.seeds,
        if eyes {
            "; eye columns: test eyes, of the model that predicts (the teacher where there is one), referral by the highest P(stage ≥ 3)"
        } else {
            ""
        }
    );
    let mut columns = vec![
        "labeled", "demo", "method", "model", "n", "accuracy", "mean AUC", "kappa",
    ];
    if eyes {
        columns.extend(["eye accuracy", "eye referral AUC", "eye sens @ 90 % spec"]);
    }
    let mut table = Table::new(&columns);
    let mut demo_groups: Vec<(String, Vec<u64>)> = vec![("all".to_string(), s.demo_seeds.clone())];
    if s.demo_seeds.len() > 1 {
        demo_groups.extend(s.demo_seeds.iter().map(|&d| (d.to_string(), vec![d])));
    }
    for &fraction in &s.fractions {
        for (demo_name, demo_seeds) in &demo_groups {
            for &method in &s.methods {
                let runs: Vec<&Outcome> = outcomes
                    .iter()
                    .filter(|o| {
                        o.fraction == fraction
                            && o.method == method
                            && demo_seeds.contains(&o.demo_seed)
                    })
                    .collect();
                let models: Vec<(&str, Vec<[f64; 3]>)> = vec![
                    ("student", runs.iter().map(|o| o.student).collect()),
                    ("teacher", runs.iter().filter_map(|o| o.teacher).collect()),
                    (
                        "student, last",
                        runs.iter().filter_map(|o| o.last_student).collect(),
                    ),
                    (
                        "teacher, last",
                        runs.iter().filter_map(|o| o.last_teacher).collect(),
                    ),
                ];
                // The eye columns go on the row of the model that predicts.
                let predicting = if runs.iter().any(|o| o.teacher.is_some()) {
                    "teacher"
                } else {
                    "student"
                };
                let eye_values: Vec<[f64; 3]> = runs.iter().filter_map(|o| o.eye).collect();
                for (model, values) in models.into_iter().filter(|(_, v)| !v.is_empty()) {
                    let cell = |values: &[[f64; 3]], k: usize| {
                        plus_minus(mean_sd(&values.iter().map(|v| v[k]).collect::<Vec<_>>()))
                    };
                    let mut row = vec![
                        format!("{} %", percent(fraction)),
                        demo_name.clone(),
                        method.name().to_string(),
                        model.to_string(),
                        values.len().to_string(),
                        cell(&values, 0),
                        cell(&values, 1),
                        cell(&values, 2),
                    ];
                    if eyes {
                        for k in 0..3 {
                            row.push(if model == predicting && !eye_values.is_empty() {
                                cell(&eye_values, k)
                            } else {
                                String::new()
                            });
                        }
                    }
                    table.row(row);
                }
            }
        }
    }
    out.push_str(&table.render());
    out
}

/// Training throughput: images/s of one optimizer step on the CPU (flex), on the
/// wgpu device, and of the same network in PyTorch on the same machine.
#[derive(Debug, clap::Args)]
pub struct TrainingArgs {
    #[command(flatten)]
    pub step: StepShape,
    /// Timed steps per device and method (the median is reported).
    #[arg(long, default_value_t = 10)]
    pub steps: usize,
    /// Python with PyTorch for the peer (skipped with a note if it cannot import torch).
    #[arg(long, env = "LOUPE_TORCH_PYTHON", default_value = "python3")]
    pub python: String,
    /// CPU threads for the `flex` rows (default: every core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// One JSON object on standard output (the table goes to standard error).
    #[arg(long)]
    pub json: bool,
}

pub fn run_throughput(args: &TrainingArgs) -> anyhow::Result<()> {
    let TrainingArgs {
        step,
        steps,
        python,
        threads,
        json,
    } = args;
    let (input_size, width, batch) = step.checked()?;
    throughput(
        &ThroughputSettings {
            input_size,
            width,
            batch,
            steps: within("--steps", *steps, 1..=10_000)?,
            python: python.clone(),
            threads: threads_option(*threads)?,
        },
        *json,
    )
}

/// Label efficiency on the ROP demo: the methods at several labeled
/// fractions on the same schedule, mean ± sd over demo seeds × training
/// seeds (several processes at once).
#[derive(Debug, clap::Args)]
pub struct LabelEfficiencyArgs {
    /// The demo: `rop` (image labels), or `rop-exams` (labels from eye
    /// grades; the fraction is the share of eyes graded; adds eye-level
    /// columns).
    #[arg(long, value_enum, default_value = "rop")]
    pub task: DemoTask,
    #[arg(long, value_delimiter = ',', default_value = "0.1,0.2")]
    pub fractions: Vec<f64>,
    /// Seeds of the generated demo projects.
    #[arg(long, value_delimiter = ',', default_value = "1")]
    pub demo_seeds: Vec<u64>,
    /// Training seeds.
    #[arg(long, value_delimiter = ',', default_value = "1,2,3")]
    pub seeds: Vec<u64>,
    /// Methods to compare (default: all).
    #[arg(long, value_delimiter = ',', value_parser = crate::cli::train::method_parser())]
    pub method: Vec<crate::train::config::Method>,
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
}

pub fn run_label_efficiency(args: &LabelEfficiencyArgs) -> anyhow::Result<()> {
    let LabelEfficiencyArgs {
        task,
        fractions,
        demo_seeds,
        seeds,
        method,
        config,
        epochs,
        jobs,
        dir,
    } = args;
    let mut base = match config {
        Some(path) => crate::cli::train::read_config(path)?,
        None => crate::train::config::TrainConfig::fundus_on_cpu(),
    };
    if let Some(epochs) = epochs {
        base.epochs = *epochs;
    }
    anyhow::ensure!(
        matches!(task, DemoTask::Rop | DemoTask::RopExams),
        "label-efficiency runs on the ROP demos: --task rop or rop-exams, not {}",
        task.name()
    );
    if *task == DemoTask::RopExams {
        base.label_source = crate::train::eyes::LabelSource::Eyes;
    }
    let methods = if method.is_empty() {
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
        method.clone()
    };
    let jobs = within(
        "--jobs",
        jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        1..=256,
    )?;
    label_efficiency(&LabelEfficiencySettings {
        task: *task,
        fractions: fractions.clone(),
        demo_seeds: demo_seeds.clone(),
        seeds: seeds.clone(),
        methods,
        base,
        jobs,
        dir: dir
            .clone()
            .unwrap_or_else(|| std::env::temp_dir().join("loupe-bench-label-efficiency")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_sample_standard_deviation() {
        let (m, sd) = mean_sd(&[1.0, 2.0, 3.0]);
        assert!((m - 2.0).abs() < 1e-12 && (sd - 1.0).abs() < 1e-12);
        assert_eq!(mean_sd(&[0.5]), (0.5, 0.0));
    }

    #[test]
    fn fractions_name_distinct_projects() {
        assert_eq!(percent(0.1), "10");
        assert_eq!(percent(0.125), "12.5");
        assert_ne!(percent(0.12), percent(0.125));
        assert_eq!(percent(1.0), "100");
    }

    #[test]
    fn steps_are_timed_on_flex() {
        let settings = ThroughputSettings {
            input_size: 16,
            width: 2,
            batch: 4,
            steps: 2,
            python: String::new(),
            threads: 1,
        };
        for method in [
            crate::train::methods::supervised::METHOD,
            crate::train::methods::mean_teacher::METHOD,
        ] {
            let t = time_steps(&device::flex(), method, &settings).unwrap();
            assert!(t.images_per_second.is_finite() && t.images_per_second > 0.0);
        }
    }
}
