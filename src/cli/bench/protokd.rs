//! `loupe bench protokd`: METHODS.md §5 measured on the brain-tumour demo.
//! One demo (its seed apart from the training seeds); for every training
//! seed, the four-sequence segmentation teacher, then for each sequence
//! the unimodal baseline (segmentation on that sequence alone) and the
//! ProtoKD student taught by that seed's teacher — the shape of the
//! ProtoKD paper's table. Mean ± sd over seeds of the test pool's Dice
//! (WT, TC, ET, their mean), and per sequence the student's gain over the
//! baseline seed by seed.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;

use super::common::{Table, in_parallel, mean_sd, plus_minus, train_json, within};
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
    Baseline(&'static str),
    Protokd(&'static str),
}

impl Arm {
    pub fn name(&self) -> String {
        match self {
            Arm::Teacher => "teacher, t1+t1ce+t2+flair".into(),
            Arm::Baseline(role) => format!("{role}: unimodal baseline"),
            Arm::Protokd(role) => format!("{role}: ProtoKD student"),
        }
    }

    /// Every row for the student `sequences`, in the table's order.
    pub fn all(sequences: &[&'static str]) -> Vec<Arm> {
        let mut arms = vec![Arm::Teacher];
        for &role in sequences {
            arms.push(Arm::Baseline(role));
            arms.push(Arm::Protokd(role));
        }
        arms
    }
}

pub struct ProtokdSettings {
    pub seeds: Vec<u64>,
    pub demo_seed: u64,
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
    pub json: bool,
}

/// The brain-tumour project's preset (the window's and `loupe train`'s):
/// 2-D U-Net width 8 at 64³, Adam 3e-3, 16 slices per case per epoch;
/// 8 epochs keep 27 runs near half an hour on two cores.
pub fn default_config() -> TrainConfig {
    let mut config = Preset::SmallOnCpu.config_for(&crate::demo::brain_tumour_schema());
    config.epochs = 8;
    config
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

fn demo(s: &ProtokdSettings) -> anyhow::Result<PathBuf> {
    let project = s.dir.join(format!(
        "brain-tumour-demo{}-{}x{}-labeled{}",
        s.demo_seed, s.count, s.edge, s.labeled_fraction
    ));
    if !crate::store::is_project(&project) {
        let options = DemoOptions {
            seed: s.demo_seed,
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

pub fn protokd(s: &ProtokdSettings) -> anyhow::Result<()> {
    anyhow::ensure!(!s.seeds.is_empty(), "give at least one seed");
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
    let project = demo(s)?;
    let started = Instant::now();
    type Job = (u64, Arm, Vec<String>);
    let run = |jobs: Vec<Job>| -> anyhow::Result<Vec<(u64, Arm, Outcome, String)>> {
        let results = in_parallel(jobs, s.jobs, |(seed, arm, flags)| {
            let value = train_json(&exe, &project, &config_path, *seed, threads, flags)?;
            let o = outcome(&value)?;
            eprintln!(
                "[{:>5.0} s] seed {seed}: {}: Dice WT {:.3} TC {:.3} ET {:.3} mean {:.3}",
                started.elapsed().as_secs_f64(),
                arm.name(),
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
            .map(|((seed, arm, _), result)| {
                let (o, id) = result.with_context(|| format!("{}, seed {seed}", arm.name()))?;
                Ok((seed, arm, o, id))
            })
            .collect()
    };
    let all_roles = ROLES.join(",");
    let teachers = run(s
        .seeds
        .iter()
        .map(|&seed| {
            let flags = vec![
                "--method".into(),
                "segmentation".into(),
                "--modality".into(),
                all_roles.clone(),
            ];
            (seed, Arm::Teacher, flags)
        })
        .collect())?;
    let mut jobs = Vec::new();
    for (seed, _, _, teacher) in &teachers {
        for &role in &s.sequences {
            jobs.push((
                *seed,
                Arm::Baseline(role),
                vec![
                    "--method".into(),
                    "segmentation".into(),
                    "--modality".into(),
                    role.into(),
                ],
            ));
            jobs.push((
                *seed,
                Arm::Protokd(role),
                vec![
                    "--method".into(),
                    "protokd".into(),
                    "--teacher".into(),
                    teacher.clone(),
                    "--modality".into(),
                    role.into(),
                ],
            ));
        }
    }
    let mut outcomes = teachers;
    outcomes.extend(run(jobs)?);
    report(s, &config, &outcomes, started.elapsed().as_secs_f64());
    Ok(())
}

fn report(
    s: &ProtokdSettings,
    config: &TrainConfig,
    outcomes: &[(u64, Arm, Outcome, String)],
    seconds: f64,
) {
    let of = |arm: &Arm, k: usize| {
        mean_sd(
            &outcomes
                .iter()
                .filter(|(_, a, _, _)| a == arm)
                .map(|(_, _, o, _)| o.dice[k])
                .collect::<Vec<_>>(),
        )
    };
    // Per sequence: the student's mean-Dice gain over the baseline, seed by seed.
    let gains = |role: &'static str| -> Vec<f64> {
        s.seeds
            .iter()
            .filter_map(|seed| {
                let mean_of = |arm: Arm| {
                    outcomes
                        .iter()
                        .find(|(sd, a, _, _)| sd == seed && *a == arm)
                        .map(|(_, _, o, _)| o.dice[3])
                };
                Some(mean_of(Arm::Protokd(role))? - mean_of(Arm::Baseline(role))?)
            })
            .collect()
    };
    if s.json {
        let stat = |(mean, sd): (f64, f64)| serde_json::json!({ "mean": mean, "sd": sd });
        let arms: Vec<serde_json::Value> = Arm::all(&s.sequences)
            .iter()
            .map(|arm| {
                serde_json::json!({
                    "arm": arm.name(),
                    "dice": {
                        "wt": stat(of(arm, 0)),
                        "tc": stat(of(arm, 1)),
                        "et": stat(of(arm, 2)),
                        "mean": stat(of(arm, 3)),
                    },
                })
            })
            .collect();
        let gain: serde_json::Map<String, serde_json::Value> = s
            .sequences
            .iter()
            .map(|&role| (role.to_string(), serde_json::json!(gains(role))))
            .collect();
        println!(
            "{}",
            serde_json::json!({
                "seeds": s.seeds,
                "demo_seed": s.demo_seed,
                "count": s.count,
                "edge_voxels": s.edge,
                "labeled_fraction": s.labeled_fraction,
                "sequences": s.sequences,
                "config": config,
                "arms": arms,
                "student_gain_in_mean_dice": gain,
                "seconds": seconds,
            })
        );
        return;
    }
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
    println!(
        "Brain-tumour demo (seed {}), {} cases at {}³, {} % of training cases labeled; training \
         seeds {:?}; {samples}, Adam {}; ProtoKD T = {}, KD weight {}, prototype weight {}; \
         {:.0} s",
        s.demo_seed,
        s.count,
        s.edge,
        s.labeled_fraction * 100.0,
        s.seeds,
        config.learning_rate,
        config.number(&protokd::TEMPERATURE),
        config.number(&protokd::KD_WEIGHT),
        config.number(&protokd::PROTO_WEIGHT),
        seconds
    );
    let mut table = Table::new(&["model (test Dice)", "WT", "TC", "ET", "mean"]);
    for arm in Arm::all(&s.sequences) {
        let mut row = vec![arm.name()];
        row.extend((0..4).map(|k| plus_minus(of(&arm, k))));
        table.row(row);
    }
    print!("{}", table.render());
    for &role in &s.sequences {
        let g = gains(role);
        let above = g.iter().filter(|&&v| v > 0.0).count();
        println!(
            "{role}: student − baseline mean Dice per seed {} ({above}/{} above)",
            g.iter()
                .map(|v| format!("{v:+.3}"))
                .collect::<Vec<_>>()
                .join(", "),
            g.len()
        );
    }
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
    /// The demo's seed (one demo for every training seed).
    #[arg(long, default_value_t = 1)]
    pub demo_seed: u64,
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
    /// Epochs of every run (default 8).
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
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &ProtokdArgs) -> anyhow::Result<()> {
    let ProtokdArgs {
        seeds,
        demo_seed,
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
        json,
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
    protokd(&ProtokdSettings {
        seeds: seeds.clone(),
        demo_seed: *demo_seed,
        count: *count,
        edge: *edge,
        labeled_fraction: *labeled_fraction,
        sequences,
        config,
        jobs: within("--jobs", *jobs, 1..=256)?,
        dir: dir.clone().unwrap_or_else(default_dir),
        json: *json,
    })
}
