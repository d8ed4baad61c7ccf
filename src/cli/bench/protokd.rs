//! `loupe bench protokd`: METHODS.md §5 measured on the brain-tumour demo.
//! One demo (its seed apart from the training seeds); for every training
//! seed, the four-sequence segmentation teacher, then for each sequence
//! the unimodal baseline (segmentation on that sequence alone) and the
//! ProtoKD student taught by that seed's teacher — the shape of the
//! ProtoKD paper's table. Several demo seeds (`--demo-seeds`) pair with
//! every training seed; `--weak-teacher-epochs` adds students of an early
//! stopped teacher. Mean ± sd of the test pool's Dice (WT, TC, ET, their
//! mean), each teacher's Dice named, and per sequence the student's paired
//! gain over the baseline with its 95 % interval.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;

use super::common::{in_parallel, train_json, within};
use super::findings::{Findings, Metric, Pairing};
use super::report::Output;
use crate::demo::{DemoOptions, DemoTask, write_demo};
use crate::synth::brain_tumour::ROLES;
use crate::train::config::TrainConfig;
use crate::train::methods::protokd;
use crate::train::models::ModelKind;
use crate::train::presets::Preset;

/// One row of the table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Arm {
    Teacher,
    /// The teacher stopped early (`--weak-teacher-epochs`): a student it
    /// teaches shows what of a gain does not come from the teacher.
    WeakTeacher,
    Baseline(&'static str),
    Protokd(&'static str),
    ProtokdWeak(&'static str),
}

impl Arm {
    pub fn name(&self) -> String {
        match self {
            Arm::Teacher => "teacher, t1+t1ce+t2+flair".into(),
            Arm::WeakTeacher => "weak teacher (early stop)".into(),
            Arm::Baseline(role) => format!("{role} · unimodal baseline"),
            Arm::Protokd(role) => format!("{role} · ProtoKD student"),
            Arm::ProtokdWeak(role) => format!("{role} · ProtoKD of the weak teacher"),
        }
    }

    /// Every row for the student `sequences`, in the table's order.
    pub fn all(sequences: &[&'static str], weak: bool) -> Vec<Arm> {
        let mut arms = vec![Arm::Teacher];
        if weak {
            arms.push(Arm::WeakTeacher);
        }
        for &role in sequences {
            arms.push(Arm::Baseline(role));
            arms.push(Arm::Protokd(role));
            if weak {
                arms.push(Arm::ProtokdWeak(role));
            }
        }
        arms
    }

    /// The paired differences of a sequence's rows: each student against
    /// the baseline, and the student of the full teacher against that of
    /// the weak one.
    fn comparisons(sequences: &[&'static str], weak: bool) -> Vec<(Arm, Arm)> {
        let mut pairs = Vec::new();
        for &role in sequences {
            pairs.push((Arm::Protokd(role), Arm::Baseline(role)));
            if weak {
                pairs.push((Arm::ProtokdWeak(role), Arm::Baseline(role)));
                pairs.push((Arm::Protokd(role), Arm::ProtokdWeak(role)));
            }
        }
        pairs
    }
}

pub struct ProtokdSettings {
    pub seeds: Vec<u64>,
    /// One demo per seed; every training seed runs on each.
    pub demo_seeds: Vec<u64>,
    /// Epochs of the weak teacher (None: no weak-teacher rows).
    pub weak_teacher_epochs: Option<usize>,
    pub count: usize,
    /// The volumes' edge in voxels.
    pub edge: usize,
    pub labeled_fraction: f64,
    /// The sequences a baseline and a student are trained on, each.
    pub sequences: Vec<&'static str>,
    /// Every run's settings (the method and sequences are set per arm).
    pub config: TrainConfig,
    pub jobs: usize,
    pub dir: PathBuf,
}

/// The brain-tumour project's preset (the window's and `loupe train`'s):
/// 2-D U-Net width 8 at 64³, Adam 10⁻³, 16 slices per case per epoch, 30
/// epochs — the U-Net takes off near epoch 10, so fewer epochs compare
/// students of teachers that never did (at 8 epochs a teacher's mean Dice
/// was 0.34); about a minute a run with the release build.
pub fn default_config() -> TrainConfig {
    Preset::SmallOnCpu.config_for(&crate::demo::brain_tumour_schema())
}

/// What one run reported: Dice WT, TC, ET, mean.
#[derive(Clone, Copy, Debug)]
struct Outcome {
    dice: [f64; 4],
}

fn outcome(value: &serde_json::Value) -> anyhow::Result<Outcome> {
    let dice = &value["student"]["dice"];
    let get = |name: &str| {
        dice[name]
            .as_f64()
            .with_context(|| format!("no Dice {name} in loupe train --json"))
    };
    Ok(Outcome {
        dice: [get("wt")?, get("tc")?, get("et")?, get("mean")?],
    })
}

fn demo(s: &ProtokdSettings, demo_seed: u64) -> anyhow::Result<PathBuf> {
    let project = s.dir.join(format!(
        "brain-tumour-demo{demo_seed}-{}x{}-labeled{}",
        s.count, s.edge, s.labeled_fraction
    ));
    if !crate::store::is_project(&project) {
        let options = DemoOptions {
            seed: demo_seed,
            count: s.count,
            size: s.edge,
            labeled_fraction: s.labeled_fraction,
            ..DemoOptions::new(DemoTask::BrainTumour)
        };
        options.validate()?;
        write_demo(&project, &options, |_, _| {})?;
    }
    Ok(project)
}

/// One training run: where, with which seed, which row, its flags.
struct Job {
    demo_seed: u64,
    project: PathBuf,
    seed: u64,
    arm: Arm,
    flags: Vec<String>,
}

/// What a finished run left: its job, Dice and run id.
type Done = (Job, Outcome, String);

pub fn protokd(s: &ProtokdSettings, output: &Output) -> anyhow::Result<()> {
    anyhow::ensure!(!s.seeds.is_empty(), "give at least one seed");
    anyhow::ensure!(!s.demo_seeds.is_empty(), "give at least one demo seed");
    let mut config = s.config.clone();
    config.method = crate::train::methods::segmentation::METHOD;
    config.input_size = s.edge;
    config.validate()?;
    std::fs::create_dir_all(&s.dir).with_context(|| format!("creating {}", s.dir.display()))?;
    // Resolved once: a rebuild during the benchmark replaces the file.
    let exe = std::env::current_exe().context("locating the loupe executable")?;
    let threads = (crate::train::threads::cores() / s.jobs.max(1)).max(1);
    let config_path = s.dir.join("config-segmentation.json");
    std::fs::write(&config_path, serde_json::to_string_pretty(&config)?)?;
    let started = Instant::now();
    let run = |jobs: Vec<Job>| -> anyhow::Result<Vec<Done>> {
        let results = in_parallel(jobs, s.jobs, |job| {
            let value = train_json(
                &exe,
                &job.project,
                &config_path,
                job.seed,
                threads,
                &job.flags,
            )?;
            let o = outcome(&value)?;
            eprintln!(
                "[{:>5.0} s] demo {} seed {}: {}: Dice WT {:.3} TC {:.3} ET {:.3} mean {:.3}",
                started.elapsed().as_secs_f64(),
                job.demo_seed,
                job.seed,
                job.arm.name(),
                o.dice[0],
                o.dice[1],
                o.dice[2],
                o.dice[3]
            );
            let id = value["run"].as_str().context("no run id")?.to_string();
            anyhow::Ok((o, id))
        });
        results
            .into_iter()
            .map(|(job, result)| {
                let (o, id) = result.with_context(|| {
                    format!(
                        "{}, demo {} seed {}",
                        job.arm.name(),
                        job.demo_seed,
                        job.seed
                    )
                })?;
                Ok((job, o, id))
            })
            .collect()
    };
    let segmentation = |role: &str| -> Vec<String> {
        ["--method", "segmentation", "--modality", role]
            .map(String::from)
            .to_vec()
    };
    let all_roles = ROLES.join(",");
    let mut teacher_jobs = Vec::new();
    for &demo_seed in &s.demo_seeds {
        let project = demo(s, demo_seed)?;
        for &seed in &s.seeds {
            let job = |arm, flags| Job {
                demo_seed,
                project: project.clone(),
                seed,
                arm,
                flags,
            };
            teacher_jobs.push(job(Arm::Teacher, segmentation(&all_roles)));
            if let Some(epochs) = s.weak_teacher_epochs {
                let mut flags = segmentation(&all_roles);
                flags.extend(["--epochs".to_string(), epochs.to_string()]);
                teacher_jobs.push(job(Arm::WeakTeacher, flags));
            }
        }
    }
    let teachers = run(teacher_jobs)?;
    let mut jobs = Vec::new();
    for (teacher, _, id) in &teachers {
        for &role in &s.sequences {
            let job = |arm, flags| Job {
                demo_seed: teacher.demo_seed,
                project: teacher.project.clone(),
                seed: teacher.seed,
                arm,
                flags,
            };
            let student = ["--method", "protokd", "--teacher", id, "--modality", role]
                .map(String::from)
                .to_vec();
            match teacher.arm {
                Arm::Teacher => {
                    jobs.push(job(Arm::Baseline(role), segmentation(role)));
                    jobs.push(job(Arm::Protokd(role), student));
                }
                _ => jobs.push(job(Arm::ProtokdWeak(role), student)),
            }
        }
    }
    let mut done = teachers;
    done.extend(run(jobs)?);
    let mut findings = findings(s, &config, &done);
    findings.wall_seconds = started.elapsed().as_secs_f64();
    output.emit(&findings)
}

fn findings(s: &ProtokdSettings, config: &TrainConfig, done: &[Done]) -> Findings {
    let mut findings = Findings::new(
        "protokd",
        "Segmentation with a missing MRI sequence: ProtoKD on the brain-tumour demo",
        vec![
            Metric::compared("mean", "mean Dice"),
            Metric::compared("wt", "Dice WT"),
            Metric::compared("tc", "Dice TC"),
            Metric::compared("et", "Dice ET"),
        ],
    );
    findings.setting = setting(s, config);
    let weak = s.weak_teacher_epochs.is_some();
    for arm in Arm::all(&s.sequences, weak) {
        findings.arm(&arm.name());
    }
    for (arm, baseline) in Arm::comparisons(&s.sequences, weak) {
        findings.compare(&arm.name(), &baseline.name());
    }
    for (job, o, id) in done {
        let values = [
            ("wt", o.dice[0]),
            ("tc", o.dice[1]),
            ("et", o.dice[2]),
            ("mean", o.dice[3]),
        ];
        findings.record(
            &job.arm.name(),
            Pairing::new(job.demo_seed, job.seed),
            &values,
        );
        // Every teacher is named with its Dice, so one that did not take
        // off is seen beside its students, not dropped.
        if matches!(job.arm, Arm::Teacher | Arm::WeakTeacher) {
            findings.notes.push(format!(
                "demo {} seed {}: {} {id}: mean Dice {:.3} (WT {:.3}, TC {:.3}, ET {:.3})",
                job.demo_seed,
                job.seed,
                job.arm.name(),
                o.dice[3],
                o.dice[0],
                o.dice[1],
                o.dice[2]
            ));
        }
    }
    findings
}

fn setting(s: &ProtokdSettings, config: &TrainConfig) -> String {
    use crate::train::segmentation::{PATCHES_PER_CASE, SLICES_PER_CASE};
    let samples = match (config.model, config.patch_edge()) {
        (ModelKind::Unet3d, Some(patch)) => format!(
            "3-D U-Net on {patch}³ patches, width {}, {} epochs × {} patches per case, batch {}",
            config.width,
            config.epochs,
            config.count(&PATCHES_PER_CASE),
            config.batch_size
        ),
        (ModelKind::Unet3d, None) => format!(
            "3-D U-Net on whole volumes, width {}, {} epochs, batch {}",
            config.width, config.epochs, config.batch_size
        ),
        _ => format!(
            "2-D U-Net width {}, {} epochs × {} slices per case, batch {}",
            config.width,
            config.epochs,
            config.count(&SLICES_PER_CASE),
            config.batch_size
        ),
    };
    format!(
        "Brain-tumour demo seeds {:?}, {} cases at {}³, {} % of training cases labeled; training \
         seeds {:?}; {samples}, Adam {}; ProtoKD T = {}, KD weight {}, prototype weight {}{}; test \
         Dice; paired by (demo seed, training seed)",
        s.demo_seeds,
        s.count,
        s.edge,
        s.labeled_fraction * 100.0,
        s.seeds,
        config.learning_rate,
        config.number(&protokd::TEMPERATURE),
        config.number(&protokd::KD_WEIGHT),
        config.number(&protokd::PROTO_WEIGHT),
        s.weak_teacher_epochs
            .map(|e| format!("; weak teacher: the same teacher stopped after {e} epochs"))
            .unwrap_or_default()
    )
}

/// The folder the bench writes to unless told.
pub fn default_dir() -> PathBuf {
    std::env::temp_dir().join("loupe-bench-protokd")
}

/// METHODS.md §5 on the brain-tumour demo: per training seed the
/// four-sequence segmentation teacher, and per sequence the unimodal
/// baseline and the ProtoKD student. Mean ± sd over seeds of test Dice
/// (WT, TC, ET, mean).
#[derive(Debug, clap::Args)]
pub struct ProtokdArgs {
    /// Training seeds.
    #[arg(long, value_delimiter = ',', default_value = "1,2,3")]
    pub seeds: Vec<u64>,
    /// Demo seeds (every training seed runs on each demo; `--demo-seeds
    /// 11,12,13 --seeds 1,2,3` is the 3 × 3 table).
    #[arg(long, alias = "demo-seed", value_delimiter = ',', default_value = "1")]
    pub demo_seeds: Vec<u64>,
    /// Also train each teacher for only this many epochs and a ProtoKD
    /// student of it per sequence: a gain that does not come from the
    /// teacher shows as the same gain from the weak one.
    #[arg(long)]
    pub weak_teacher_epochs: Option<usize>,
    /// Cases in the demo.
    #[arg(long, default_value_t = 40)]
    pub count: usize,
    /// The volumes' edge in voxels (a multiple of 8).
    #[arg(long, default_value_t = 64)]
    pub edge: usize,
    /// Fraction of the training cases labeled.
    #[arg(long, default_value_t = 0.5)]
    pub labeled_fraction: f64,
    /// The sequences a unimodal baseline and a ProtoKD student are trained
    /// on (default all four: t1, t1ce, t2, flair).
    #[arg(long, value_delimiter = ',')]
    pub sequences: Vec<String>,
    /// Epochs of every run (default the preset's 30).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// U-Net width (default 8).
    #[arg(long)]
    pub width: Option<usize>,
    /// The U-Net: `unet` (2-D, on axial slices; the default) or `unet3d`.
    #[arg(long, default_value = "unet")]
    pub model: String,
    /// 3-D U-Net: the edge of its training patches (0: whole volumes).
    #[arg(long)]
    pub patch_edge: Option<usize>,
    /// 3-D U-Net on patches: patches per case and epoch (default 4).
    #[arg(long)]
    pub patches_per_case: Option<usize>,
    /// Samples per step (default the preset's 16; a 3-D U-Net's few
    /// samples an epoch want fewer, so that an epoch is more than a step).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Runs at once (default 1: each run uses every core).
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
    /// Where the demo project and runs go (default: a folder in the temp dir, reused).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    #[command(flatten)]
    pub output: Output,
}

pub fn run(args: &ProtokdArgs) -> anyhow::Result<()> {
    let ProtokdArgs {
        seeds,
        demo_seeds,
        weak_teacher_epochs,
        count,
        edge,
        labeled_fraction,
        sequences,
        epochs,
        width,
        model,
        patch_edge,
        patches_per_case,
        batch_size,
        jobs,
        dir,
        output,
    } = args;
    let mut config = default_config();
    if let Some(epochs) = epochs {
        config.epochs = *epochs;
    }
    if let Some(width) = width {
        config.width = *width;
    }
    config.model = match ModelKind::from_name(model) {
        Some(kind @ (ModelKind::Unet | ModelKind::Unet3d)) => kind,
        _ => anyhow::bail!("--model {model}: the ProtoKD bench trains unet or unet3d"),
    };
    use crate::train::segmentation::{PATCH_EDGE, PATCHES_PER_CASE};
    if let Some(patch) = patch_edge {
        config.set(&PATCH_EDGE, *patch);
    }
    if let Some(count) = patches_per_case {
        config.set(&PATCHES_PER_CASE, *count);
    }
    if let Some(batch) = batch_size {
        config.batch_size = *batch;
        config.labeled_per_batch = config.labeled_per_batch.min(*batch);
    }
    let sequences = if sequences.is_empty() {
        ROLES.to_vec()
    } else {
        sequences
            .iter()
            .map(|name| {
                ROLES.iter().copied().find(|r| r == name).ok_or_else(|| {
                    anyhow::anyhow!(
                        "--sequences: no sequence {name:?} in the demo ({})",
                        ROLES.join(", ")
                    )
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?
    };
    protokd(
        &ProtokdSettings {
            seeds: seeds.clone(),
            demo_seeds: demo_seeds.clone(),
            weak_teacher_epochs: *weak_teacher_epochs,
            count: *count,
            edge: *edge,
            labeled_fraction: *labeled_fraction,
            sequences,
            config,
            jobs: within("--jobs", *jobs, 1..=256)?,
            dir: dir.clone().unwrap_or_else(default_dir),
        },
        output,
    )
}
