//! `loupe bench kd`: cross-modal distillation (METHODS.md §3) measured on
//! the lung demo. For every seed: a lung demo of that seed where few cases
//! are labeled (the clinic's), a CT teacher trained on another, fully
//! labeled cohort of the same generator (seed + 1000: the large CT data set
//! a teacher comes from — 15 % of one demo, about 30 cases, is too few for
//! a 3-D network, measured: test AUC 0.30–0.66), and four questionnaire
//! students trained with the same seed — without distillation, with PKT
//! weighted by the gradient ratio (the method), with PKT at the fixed
//! weight 1 − α (no ratio), and with PKT on the teacher's raw feature row
//! means (no standardising). Mean ± sd over seeds of test accuracy, AUC and
//! kappa, and the CPU seconds per epoch of teacher and student.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;

use super::common::{Table, in_parallel, mean_sd, plus_minus, train_json, within};
use crate::demo::{DemoOptions, DemoTask, write_demo};
use crate::train::config::TrainConfig;
use crate::train::models::ModelKind;

/// One row of the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arm {
    /// The CT teacher itself (on the test cases that have a CT).
    Teacher,
    /// The questionnaire student, cross-entropy alone.
    NoKd,
    /// PKT weighted by the gradient ratio every step (the method).
    PktRatio,
    /// PKT at the fixed weight 1 − α.
    PktFixed,
    /// PKT + ratio on the teacher's raw (not standardised) features.
    PktRaw,
}

impl Arm {
    pub const STUDENTS: [Arm; 4] = [Arm::NoKd, Arm::PktRatio, Arm::PktFixed, Arm::PktRaw];

    pub fn name(self) -> &'static str {
        match self {
            Arm::Teacher => "ct-teacher",
            Arm::NoKd => "student, no KD",
            Arm::PktRatio => "student, PKT + grad ratio",
            Arm::PktFixed => "student, PKT fixed weight",
            Arm::PktRaw => "student, PKT + ratio, raw teacher features",
        }
    }

    /// The `loupe train` flags of a student arm (beyond its configuration).
    fn flags(self, teacher: &str) -> Vec<String> {
        let kd = |extra: &[&str]| {
            let mut flags: Vec<String> = [
                "--method",
                crate::train::methods::cross_modal_kd::METHOD.name(),
                "--teacher",
                teacher,
            ]
            .map(String::from)
            .to_vec();
            flags.extend(extra.iter().map(|s| s.to_string()));
            flags
        };
        match self {
            Arm::Teacher => Vec::new(),
            Arm::NoKd => ["--method", "supervised", "--modality", "tabular"]
                .map(String::from)
                .to_vec(),
            Arm::PktRatio => kd(&[]),
            Arm::PktFixed => kd(&["--no-grad-ratio"]),
            Arm::PktRaw => kd(&["--raw-teacher-features"]),
        }
    }
}

pub struct KdSettings {
    pub seeds: Vec<u64>,
    pub count: usize,
    /// The CT's edge in voxels.
    pub edge: usize,
    pub labeled_fraction: f64,
    pub teacher: TrainConfig,
    pub student: TrainConfig,
    pub jobs: usize,
    pub dir: PathBuf,
    pub json: bool,
}

/// The teacher's settings: the 3-D network at the CT's own edge (40³:
/// at 32³ the resampling blurs nodules of 2–3 voxels away — measured, the
/// teacher's test AUC fell to 0.49–0.80), width 8, classes weighed (a
/// third of the cases are positive), 40 epochs.
pub fn teacher_config() -> TrainConfig {
    TrainConfig {
        method: crate::train::methods::supervised::METHOD,
        modalities: vec!["ct".into()],
        model: ModelKind::I3d,
        input_size: 40,
        width: 8,
        dropout: 0.2,
        epochs: 40,
        learning_rate: 3e-3,
        batch_size: 16,
        // Supervised: every image of the batch labeled.
        labeled_per_batch: 16,
        loss: crate::train::losses::ClassificationLoss {
            class_weights: true,
            ..Default::default()
        },
        ..TrainConfig::fundus_on_cpu()
    }
}

/// The student's settings: the MLP (hidden 64, 32), 40 epochs.
pub fn student_config() -> TrainConfig {
    TrainConfig {
        method: crate::train::methods::cross_modal_kd::METHOD,
        modalities: vec![crate::train::config::TABULAR_MODALITY.into()],
        model: ModelKind::Mlp,
        width: 16,
        dropout: 0.2,
        epochs: 40,
        learning_rate: 3e-3,
        ..TrainConfig::fundus_on_cpu()
    }
}

/// What one run reported.
struct Outcome {
    arm: Arm,
    accuracy: f64,
    auc: f64,
    kappa: f64,
    /// Mean seconds of an epoch (its steps and its evaluation).
    seconds_per_epoch: f64,
    /// A distillation run's teacher figures (accuracy, AUC, kappa).
    teacher: Option<(f64, f64, f64)>,
}

/// The teacher's cohort is the demo of seed + this, fully labeled.
const TEACHER_COHORT_OFFSET: u64 = 1000;

fn outcome(arm: Arm, project: &Path, value: &serde_json::Value) -> anyhow::Result<Outcome> {
    let run = value["run"].as_str().context("no run id")?;
    let student = &value["student"];
    let metrics = std::fs::read_to_string(
        crate::train::runs::run_dir(project, run)?.join(crate::train::runs::METRICS_FILE),
    )?;
    let seconds: Vec<f64> = metrics
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|r| r["seconds"].as_f64())
        .collect();
    Ok(Outcome {
        arm,
        accuracy: student["accuracy"].as_f64().context("no accuracy")?,
        auc: student["auc"].as_f64().context("no AUC")?,
        kappa: student["kappa"].as_f64().context("no kappa")?,
        seconds_per_epoch: mean_sd(&seconds).0,
        teacher: None,
    })
}

fn demo(s: &KdSettings, seed: u64, labeled_fraction: f64) -> anyhow::Result<PathBuf> {
    let project = s.dir.join(format!(
        "lung-seed{seed}-{}x{}-labeled{labeled_fraction}",
        s.count, s.edge
    ));
    if !crate::store::is_project(&project) {
        let options = DemoOptions {
            seed,
            count: s.count,
            size: s.edge,
            labeled_fraction,
            ..DemoOptions::new(DemoTask::Lung)
        };
        options.validate()?;
        write_demo(&project, &options, |_, _| {})?;
    }
    Ok(project)
}

pub fn kd(s: &KdSettings) -> anyhow::Result<()> {
    anyhow::ensure!(!s.seeds.is_empty(), "give at least one seed");
    s.teacher.validate()?;
    s.student.validate()?;
    std::fs::create_dir_all(&s.dir).with_context(|| format!("creating {}", s.dir.display()))?;
    let exe = std::env::current_exe().context("locating the loupe executable")?;
    let threads = (crate::train::threads::cores() / s.jobs.max(1)).max(1);
    let teacher_path = s.dir.join("config-teacher.json");
    std::fs::write(&teacher_path, serde_json::to_string_pretty(&s.teacher)?)?;
    let student_path = s.dir.join("config-student.json");
    std::fs::write(&student_path, serde_json::to_string_pretty(&s.student)?)?;
    let started = Instant::now();

    let mut projects = Vec::new();
    for &seed in &s.seeds {
        let cohort = demo(s, seed + TEACHER_COHORT_OFFSET, 1.0)?;
        projects.push((seed, demo(s, seed, s.labeled_fraction)?, cohort));
    }
    let mut outcomes: Vec<Outcome> = Vec::new();
    let mut teacher_seconds: std::collections::BTreeMap<u64, f64> = Default::default();
    let teachers = in_parallel(projects.clone(), s.jobs, |(seed, _, cohort)| {
        let value = train_json(&exe, cohort, &teacher_path, *seed, threads, &[])?;
        outcome(Arm::Teacher, cohort, &value).map(|o| (o, value["run"].as_str().map(String::from)))
    });
    let mut jobs = Vec::new();
    for ((seed, project, cohort), result) in teachers {
        let (teacher, run) = result.with_context(|| format!("the CT teacher, seed {seed}"))?;
        let run = run.context("no teacher run id")?;
        eprintln!(
            "[{:>5.0} s] seed {seed}: CT teacher {run} on its own cohort: AUC {:.3}, {:.1} s/epoch",
            started.elapsed().as_secs_f64(),
            teacher.auc,
            teacher.seconds_per_epoch
        );
        teacher_seconds.insert(seed, teacher.seconds_per_epoch);
        for arm in Arm::STUDENTS {
            jobs.push((arm, seed, project.clone(), cohort.clone(), run.clone()));
        }
    }
    let total = jobs.len();
    let results = in_parallel(jobs, s.jobs, |(arm, seed, project, cohort, teacher)| {
        let mut flags = arm.flags(teacher);
        if *arm != Arm::NoKd {
            flags.extend([
                "--teacher-project".to_string(),
                cohort.display().to_string(),
            ]);
        }
        let value = train_json(&exe, project, &student_path, *seed, threads, &flags)?;
        let mut o = outcome(*arm, project, &value)?;
        // The teacher's own row: its CT metrics on this project's test
        // cases with a CT, as the distillation run measured them.
        if *arm == Arm::PktRatio
            && let Some(t) = value.get("teacher").filter(|t| t.is_object())
        {
            o.teacher = Some((
                t["accuracy"].as_f64().unwrap_or(f64::NAN),
                t["auc"].as_f64().unwrap_or(f64::NAN),
                t["kappa"].as_f64().unwrap_or(f64::NAN),
            ));
        }
        eprintln!(
            "[{:>5.0} s] seed {seed}: {}: AUC {:.3}, accuracy {:.3}",
            started.elapsed().as_secs_f64(),
            arm.name(),
            o.auc,
            o.accuracy
        );
        anyhow::Ok(o)
    });
    let mut failed = 0;
    for ((arm, seed, _, _, _), result) in results {
        match result {
            Ok(o) => {
                if let Some((accuracy, auc, kappa)) = o.teacher {
                    outcomes.push(Outcome {
                        arm: Arm::Teacher,
                        accuracy,
                        auc,
                        kappa,
                        seconds_per_epoch: teacher_seconds.get(&seed).copied().unwrap_or(f64::NAN),
                        teacher: None,
                    });
                }
                outcomes.push(o);
            }
            Err(e) => {
                failed += 1;
                eprintln!("{} seed {seed}: {e:#}", arm.name());
            }
        }
    }
    report(s, &outcomes);
    anyhow::ensure!(
        failed == 0,
        "{failed} of {total} student runs failed (messages above)"
    );
    Ok(())
}

fn report(s: &KdSettings, outcomes: &[Outcome]) {
    let arms = std::iter::once(Arm::Teacher).chain(Arm::STUDENTS);
    let rows: Vec<(Arm, Vec<&Outcome>)> = arms
        .map(|arm| (arm, outcomes.iter().filter(|o| o.arm == arm).collect()))
        .collect();
    let of = |runs: &[&Outcome], f: fn(&Outcome) -> f64| {
        mean_sd(&runs.iter().map(|o| f(o)).collect::<Vec<_>>())
    };
    if s.json {
        let stat = |(mean, sd): (f64, f64)| serde_json::json!({ "mean": mean, "sd": sd });
        let arms: Vec<serde_json::Value> = rows
            .iter()
            .map(|(arm, runs)| {
                serde_json::json!({
                    "arm": arm.name(),
                    "runs": runs.len(),
                    "accuracy": stat(of(runs, |o| o.accuracy)),
                    "auc": stat(of(runs, |o| o.auc)),
                    "kappa": stat(of(runs, |o| o.kappa)),
                    "seconds_per_epoch": stat(of(runs, |o| o.seconds_per_epoch)),
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({
                "seeds": s.seeds,
                "count": s.count,
                "edge_voxels": s.edge,
                "labeled_fraction": s.labeled_fraction,
                "teacher_config": s.teacher,
                "student_config": s.student,
                "arms": arms,
            })
        );
        return;
    }
    println!(
        "Lung demo, {} cases ({} voxels³ CT, ~10 % without), {} % of training cases labeled; seeds {:?} \
         (demo seed = training seed); teacher: i3d {}³ width {}, {} epochs on its own fully labeled cohort \
         (demo seed + 1000), scored on the student's test cases with a CT; student: MLP, {} epochs, α {}",
        s.count,
        s.edge,
        s.labeled_fraction * 100.0,
        s.seeds,
        s.teacher.input_size,
        s.teacher.width,
        s.teacher.epochs,
        s.student.epochs,
        s.student
            .number(&crate::train::methods::cross_modal_kd::ALPHA)
    );
    let mut table = Table::new(&["model", "runs", "accuracy", "AUC", "kappa", "s/epoch"]);
    for (arm, runs) in &rows {
        table.row(vec![
            arm.name().to_string(),
            runs.len().to_string(),
            plus_minus(of(runs, |o| o.accuracy)),
            plus_minus(of(runs, |o| o.auc)),
            plus_minus(of(runs, |o| o.kappa)),
            format!("{:.2}", of(runs, |o| o.seconds_per_epoch).0),
        ]);
    }
    print!("{}", table.render());
}

/// Cross-modal distillation on the lung demo: the CT teacher and the
/// questionnaire student without KD, with PKT + gradient ratio, with
/// PKT at a fixed weight, with PKT on raw teacher features. Mean ± sd
/// over seeds of accuracy, AUC and kappa; CPU seconds per epoch.
#[derive(Debug, clap::Args)]
pub struct KdArgs {
    /// Seeds: each writes its own lung demo and trains with that seed.
    #[arg(long, value_delimiter = ',', default_value = "1,2,3")]
    pub seeds: Vec<u64>,
    /// Cases per demo.
    #[arg(long, default_value_t = 300)]
    pub count: usize,
    /// The CT's edge in voxels.
    #[arg(long, default_value_t = 40)]
    pub edge: usize,
    /// Fraction of the training cases labeled (5 %: where labels are
    /// scarce and distillation has something to add; at 15 % it did not).
    #[arg(long, default_value_t = 0.05)]
    pub labeled_fraction: f64,
    /// Epochs of the CT teacher (default 40).
    #[arg(long)]
    pub teacher_epochs: Option<usize>,
    /// Epochs of each student (default 40).
    #[arg(long)]
    pub student_epochs: Option<usize>,
    /// Runs at once (default 1: each run uses every core).
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
    /// Where the demo projects and runs go (default: a folder in the temp dir, reused).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &KdArgs) -> anyhow::Result<()> {
    let KdArgs {
        seeds,
        count,
        edge,
        labeled_fraction,
        teacher_epochs,
        student_epochs,
        jobs,
        dir,
        json,
    } = args;
    let mut teacher = teacher_config();
    // The teacher reads the CT at its own edge (no resampling blur).
    teacher.input_size = *edge;
    let mut student = student_config();
    if let Some(epochs) = teacher_epochs {
        teacher.epochs = *epochs;
    }
    if let Some(epochs) = student_epochs {
        student.epochs = *epochs;
    }
    kd(&KdSettings {
        seeds: seeds.clone(),
        count: *count,
        edge: *edge,
        labeled_fraction: *labeled_fraction,
        teacher,
        student,
        jobs: within("--jobs", *jobs, 1..=256)?,
        dir: dir
            .clone()
            .unwrap_or_else(|| std::env::temp_dir().join("loupe-bench-kd")),
        json: *json,
    })
}
