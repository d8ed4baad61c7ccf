//! `loupe bench kd`: cross-modal distillation (METHODS.md §3) measured on
//! the lung demo. For every seed: a lung demo of that seed where few cases
//! are labeled (the clinic's), a CT teacher trained on another, fully
//! labeled cohort of the same generator (seed + 1000: the large CT data set
//! a teacher comes from — 15 % of one demo, about 30 cases, is too few for
//! a 3-D network, measured: test AUC 0.30–0.66), and four questionnaire
//! students trained with the same seed — without distillation, with PKT
//! weighted by the gradient ratio (the method), with PKT at the fixed
//! weight 1 − α (no ratio), and with PKT on the teacher's raw feature row
//! means (no standardising), and without distillation but first trained on
//! the teacher cohort's labeled questionnaires (does KD beat having the
//! cohort's labels?) — at each labeled fraction (5, 10, 15, 25 %).
//! Every student has the record defaults with the classes weighed. Mean ±
//! sd over seeds of test AUC, kappa and accuracy, the CPU seconds per
//! epoch, and each KD arm's paired difference from the no-KD student.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;

use super::common::{in_parallel, mean_sd, percent, train_json, within};
use super::findings::{Findings, Metric, Pairing};
use super::report::Output;
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
    /// No KD, but the questionnaire model first trained on the teacher
    /// cohort's labeled questionnaires, then on the clinic's labels: what
    /// the teacher's cohort gives without distillation.
    CohortLabels,
}

impl Arm {
    pub const STUDENTS: [Arm; 5] = [
        Arm::NoKd,
        Arm::PktRatio,
        Arm::PktFixed,
        Arm::PktRaw,
        Arm::CohortLabels,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Arm::Teacher => "CT teacher",
            Arm::NoKd => "no KD",
            Arm::PktRatio => "PKT + grad ratio",
            Arm::PktFixed => "PKT, fixed weight",
            Arm::PktRaw => "PKT + ratio, raw teacher features",
            Arm::CohortLabels => "no KD, from the cohort's labels",
        }
    }

    /// The `loupe train` flags of a student arm (beyond its configuration).
    fn flags(self, cohort: &CohortRuns) -> Vec<String> {
        let strings = |flags: &[&str]| flags.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let cohort_path = cohort.path.display().to_string();
        let kd = |extra: &[&str]| {
            let mut flags = strings(&[
                "--method",
                crate::train::methods::cross_modal_kd::METHOD.name(),
                "--teacher",
                &cohort.teacher,
                "--teacher-project",
                &cohort_path,
            ]);
            flags.extend(strings(extra));
            flags
        };
        let supervised = questionnaire_flags();
        match self {
            Arm::Teacher => Vec::new(),
            Arm::NoKd => supervised,
            Arm::PktRatio => kd(&[]),
            Arm::PktFixed => kd(&["--no-grad-ratio"]),
            Arm::PktRaw => kd(&["--raw-teacher-features"]),
            Arm::CohortLabels => {
                let mut flags = supervised;
                flags.extend(strings(&[
                    "--from",
                    &cohort.questionnaire,
                    "--from-project",
                    &cohort_path,
                ]));
                flags
            }
        }
    }
}

/// `loupe train` flags of a questionnaire model trained on labels alone.
fn questionnaire_flags() -> Vec<String> {
    ["--method", "supervised", "--modality", "tabular"]
        .map(String::from)
        .to_vec()
}

/// What a seed's teacher cohort gave: its project, the CT teacher and the
/// questionnaire model trained on its labels.
#[derive(Clone, Debug)]
struct CohortRuns {
    seed: u64,
    path: PathBuf,
    teacher: String,
    questionnaire: String,
}

pub struct KdSettings {
    pub seeds: Vec<u64>,
    pub count: usize,
    /// The CT's edge in voxels.
    pub edge: usize,
    /// Fractions of the training cases labeled, one demo each.
    pub labeled_fractions: Vec<f64>,
    pub teacher: TrainConfig,
    pub student: TrainConfig,
    pub jobs: usize,
    pub dir: PathBuf,
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

/// The student's settings: the MLP (hidden 64, 32) at the record
/// defaults (lr 10⁻³, dropout 0.5, weight decay 10⁻², 60 epochs) with the
/// classes weighed — a third of the cases are positive, and at 5 %
/// labeled an unweighted no-KD student predicted one class on every seed
/// (accuracy 0.650 ± 0.000), which no distillation gain can be read
/// against. Every student arm has the same settings.
pub fn student_config() -> TrainConfig {
    let mut config = TrainConfig {
        method: crate::train::methods::cross_modal_kd::METHOD,
        modalities: vec![crate::train::config::TABULAR_MODALITY.into()],
        model: ModelKind::Mlp,
        width: 16,
        loss: crate::train::losses::ClassificationLoss {
            class_weights: true,
            ..Default::default()
        },
        ..TrainConfig::fundus_on_cpu()
    };
    config.use_record_defaults();
    config
}

/// What one run reported.
struct Outcome {
    accuracy: f64,
    auc: f64,
    kappa: f64,
    /// Mean seconds of an epoch (its steps and its evaluation).
    seconds_per_epoch: f64,
    /// A distillation run's teacher figures (accuracy, AUC, kappa) on this
    /// project's test cases with a CT.
    teacher: Option<(f64, f64, f64)>,
}

/// The teacher's cohort is the demo of seed + this, fully labeled.
const TEACHER_COHORT_OFFSET: u64 = 1000;

fn outcome(project: &Path, value: &serde_json::Value) -> anyhow::Result<Outcome> {
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
    let teacher = value.get("teacher").filter(|t| t.is_object()).map(|t| {
        let get = |key: &str| t[key].as_f64().unwrap_or(f64::NAN);
        (get("accuracy"), get("auc"), get("kappa"))
    });
    Ok(Outcome {
        accuracy: student["accuracy"].as_f64().context("no accuracy")?,
        auc: student["auc"].as_f64().context("no AUC")?,
        kappa: student["kappa"].as_f64().context("no kappa")?,
        seconds_per_epoch: mean_sd(&seconds).0,
        teacher,
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

/// A student arm at a labeled fraction: `5 % · no KD`.
fn arm_name(fraction: f64, arm: Arm) -> String {
    format!("{} % · {}", percent(fraction), arm.name())
}

/// AUC and kappa first: at a third positives accuracy rewards predicting
/// one class.
fn metrics() -> Vec<Metric> {
    vec![
        Metric::compared("auc", "AUC"),
        Metric::compared("kappa", "kappa"),
        Metric::compared("accuracy", "accuracy"),
        Metric::tabled("seconds_per_epoch", "s/epoch"),
    ]
}

/// One student run to make.
struct StudentJob {
    fraction: f64,
    arm: Arm,
    project: PathBuf,
    cohort: CohortRuns,
}

/// Trains each seed's CT teacher and questionnaire model on its cohort;
/// the findings hold the teachers' own-cohort figures as notes.
fn train_cohorts(
    s: &KdSettings,
    exe: &Path,
    config_paths: [&Path; 2],
    threads: usize,
    findings: &mut Findings,
) -> anyhow::Result<Vec<CohortRuns>> {
    let started = Instant::now();
    let mut jobs = Vec::new();
    for &seed in &s.seeds {
        let cohort = demo(s, seed + TEACHER_COHORT_OFFSET, 1.0)?;
        jobs.push((seed, cohort.clone(), true));
        jobs.push((seed, cohort, false));
    }
    let [teacher_path, student_path] = config_paths;
    let results = in_parallel(jobs, s.jobs, |(seed, cohort, is_teacher)| {
        let value = match is_teacher {
            true => train_json(exe, cohort, teacher_path, *seed, threads, &[])?,
            false => train_json(
                exe,
                cohort,
                student_path,
                *seed,
                threads,
                &questionnaire_flags(),
            )?,
        };
        let run = value["run"].as_str().context("no run id")?.to_string();
        outcome(cohort, &value).map(|o| (o, run))
    });
    let mut cohorts: Vec<CohortRuns> = Vec::new();
    // The jobs come back in order: each seed's teacher, then its questionnaire model.
    for ((seed, path, is_teacher), result) in results {
        let what = if is_teacher {
            "CT teacher"
        } else {
            "questionnaire model"
        };
        let (o, run) = result.with_context(|| format!("the cohort's {what}, seed {seed}"))?;
        let line = format!(
            "seed {seed}: the cohort's {what} {run} on the cohort's test cases: AUC {:.3}, {:.2} s/epoch",
            o.auc, o.seconds_per_epoch
        );
        eprintln!("[{:>5.0} s] {line}", started.elapsed().as_secs_f64());
        findings.notes.push(line);
        match (is_teacher, cohorts.last_mut()) {
            (false, Some(cohort)) => cohort.questionnaire = run,
            _ => cohorts.push(CohortRuns {
                seed,
                path,
                teacher: run,
                questionnaire: String::new(),
            }),
        }
    }
    Ok(cohorts)
}

pub fn kd(s: &KdSettings, output: &Output) -> anyhow::Result<()> {
    anyhow::ensure!(!s.seeds.is_empty(), "give at least one seed");
    anyhow::ensure!(
        !s.labeled_fractions.is_empty(),
        "give at least one labeled fraction"
    );
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
    let mut findings = Findings::new("kd", "Cross-modal distillation on the lung demo", metrics());
    findings.x_label = Some("labeled fraction");
    findings.setting = setting(s);

    let cohorts = train_cohorts(
        s,
        &exe,
        [&teacher_path, &student_path],
        threads,
        &mut findings,
    )?;
    let mut jobs = Vec::new();
    for &fraction in &s.labeled_fractions {
        for cohort in &cohorts {
            let project = demo(s, cohort.seed, fraction)?;
            for arm in Arm::STUDENTS {
                jobs.push(StudentJob {
                    fraction,
                    arm,
                    project: project.clone(),
                    cohort: cohort.clone(),
                });
            }
        }
    }
    let total = jobs.len();
    let results = in_parallel(jobs, s.jobs, |job| {
        let flags = job.arm.flags(&job.cohort);
        let seed = job.cohort.seed;
        let value = train_json(&exe, &job.project, &student_path, seed, threads, &flags)?;
        let o = outcome(&job.project, &value)?;
        eprintln!(
            "[{:>5.0} s] seed {seed}: {}: AUC {:.3}, kappa {:.3}",
            started.elapsed().as_secs_f64(),
            arm_name(job.fraction, job.arm),
            o.auc,
            o.kappa
        );
        anyhow::Ok(o)
    });
    findings.arm(Arm::Teacher.name());
    for &fraction in &s.labeled_fractions {
        // Each fraction's rows and comparisons together, curves by arm.
        for arm in Arm::STUDENTS {
            findings.arm_on_curve(&arm_name(fraction, arm), arm.name(), Some(fraction));
        }
        for arm in &Arm::STUDENTS[1..] {
            findings.compare(&arm_name(fraction, *arm), &arm_name(fraction, Arm::NoKd));
        }
        // Does distillation beat simply having the teacher cohort's labels?
        findings.compare(
            &arm_name(fraction, Arm::PktRatio),
            &arm_name(fraction, Arm::CohortLabels),
        );
    }
    for (job, result) in results {
        let pairing = Pairing::new(job.cohort.seed, job.cohort.seed);
        match result {
            Ok(o) => {
                // The teacher's row: its CT figures on the student's test
                // cases with a CT, as the first distillation run measured them.
                if let Some((accuracy, auc, kappa)) = o.teacher
                    && job.arm == Arm::PktRatio
                    && job.fraction == s.labeled_fractions[0]
                {
                    let values = [("accuracy", accuracy), ("auc", auc), ("kappa", kappa)];
                    findings.record(Arm::Teacher.name(), pairing, &values);
                }
                let values = [
                    ("accuracy", o.accuracy),
                    ("auc", o.auc),
                    ("kappa", o.kappa),
                    ("seconds_per_epoch", o.seconds_per_epoch),
                ];
                findings.record(&arm_name(job.fraction, job.arm), pairing, &values);
            }
            Err(e) => {
                let line = format!(
                    "{} seed {}: failed: {e:#}",
                    arm_name(job.fraction, job.arm),
                    job.cohort.seed
                );
                eprintln!("{line}");
                findings.failed(line);
            }
        }
    }
    findings.wall_seconds = started.elapsed().as_secs_f64();
    output.finish(&findings, total)
}

fn setting(s: &KdSettings) -> String {
    format!(
        "Lung demo, {} cases ({} voxels³ CT, ~10 % without), {:?} of training cases labeled; seeds {:?} \
         (demo seed = training seed); teacher: i3d {}³ width {}, {} epochs on its own fully labeled cohort \
         (demo seed + 1000), scored on the student's test cases with a CT; student: MLP, {} epochs, lr {}, \
         dropout {}, classes weighed, α {}. Paired: each KD arm − the no-KD student at the same fraction.",
        s.count,
        s.edge,
        s.labeled_fractions,
        s.seeds,
        s.teacher.input_size,
        s.teacher.width,
        s.teacher.epochs,
        s.student.epochs,
        s.student.learning_rate,
        s.student.dropout,
        s.student
            .number(&crate::train::methods::cross_modal_kd::ALPHA)
    )
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
    /// Fractions of the training cases labeled, each its own demo (KD
    /// should matter most where labels are scarce).
    #[arg(long, value_delimiter = ',', default_value = "0.05,0.1,0.15,0.25")]
    pub labeled_fractions: Vec<f64>,
    /// Epochs of the CT teacher (default 40).
    #[arg(long)]
    pub teacher_epochs: Option<usize>,
    /// Epochs of each student (default: the record defaults' 60).
    #[arg(long)]
    pub student_epochs: Option<usize>,
    /// Runs at once (default 1: each run uses every core).
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
    /// Where the demo projects and runs go (default: a folder in the temp dir, reused).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    #[command(flatten)]
    pub output: Output,
}

pub fn run(args: &KdArgs) -> anyhow::Result<()> {
    let KdArgs {
        seeds,
        count,
        edge,
        labeled_fractions,
        teacher_epochs,
        student_epochs,
        jobs,
        dir,
        output,
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
    kd(
        &KdSettings {
            seeds: seeds.clone(),
            count: *count,
            edge: *edge,
            labeled_fractions: labeled_fractions.clone(),
            teacher,
            student,
            jobs: within("--jobs", *jobs, 1..=256)?,
            dir: dir
                .clone()
                .unwrap_or_else(|| std::env::temp_dir().join("loupe-bench-kd")),
        },
        output,
    )
}
