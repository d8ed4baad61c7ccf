//! `loupe bench thyroid`: the thyroid method (METHODS.md §2) taken apart on
//! the thyroid demo. Each arm changes one thing of the full method
//! (xception-dd, crop, CE + focal, from scratch): its downsampling
//! undilated (the dilation's control); no crop; plain xception, xception
//! with dilated downsampling only, with the same learnable downsampling
//! undilated, with dense connections only; CE alone; pre-trained on the ROP
//! demo then fine-tuned. Every arm trains with the same seeds at each input
//! size, `loupe train` processes a few at a time; the findings give mean ±
//! sd of accuracy, macro-F1 and each class's sensitivity, and the paired
//! differences of the method and each change against what it changes.
//! Before the runs, the cost of the depthwise convolution's backward pass
//! on `flex`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use burn::module::Module;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2dConfig;
use burn::tensor::{Distribution, Tensor};

use std::collections::BTreeMap;

use super::common::{in_parallel, train_json as train, within};
use super::findings::{Findings, Metric, Pairing};
use super::report::Output;
use crate::demo::{DemoOptions, DemoTask, write_demo};
use crate::train::config::TrainConfig;
use crate::train::models::ModelKind;

/// One variant of the method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arm {
    /// xception-dd on crops, CE + focal, from scratch.
    Full,
    NoCrop,
    /// The full method with its learnable downsampling undilated (the
    /// control of the dilation).
    FullUndilated,
    /// Xception with neither change.
    Xception,
    XceptionDilated,
    /// Xception with learnable stride-2 downsampling, no dilation: the
    /// control of `XceptionDilated`.
    XceptionStrided,
    XceptionDense,
    /// Cross-entropy alone (focal weight 0).
    CrossEntropy,
    /// Pre-trained on the ROP demo (same network), then fine-tuned.
    Pretrained,
}

impl Arm {
    pub const ALL: [Arm; 9] = [
        Arm::Full,
        Arm::FullUndilated,
        Arm::NoCrop,
        Arm::Xception,
        Arm::XceptionDilated,
        Arm::XceptionStrided,
        Arm::XceptionDense,
        Arm::CrossEntropy,
        Arm::Pretrained,
    ];

    /// The arms run when none are named: the architecture and its controls.
    pub const DEFAULT: [Arm; 5] = [
        Arm::Full,
        Arm::FullUndilated,
        Arm::Xception,
        Arm::XceptionDilated,
        Arm::XceptionStrided,
    ];

    /// The paired differences each arm is read by (arm, baseline): the
    /// method against plain xception, each change against what it changes,
    /// and each dilated downsampling against its undilated control.
    pub const COMPARISONS: [(Arm, Arm); 8] = [
        (Arm::Full, Arm::Xception),
        (Arm::Full, Arm::FullUndilated),
        (Arm::XceptionDilated, Arm::Xception),
        (Arm::XceptionDilated, Arm::XceptionStrided),
        (Arm::XceptionDense, Arm::Xception),
        (Arm::Full, Arm::NoCrop),
        (Arm::Full, Arm::CrossEntropy),
        (Arm::Pretrained, Arm::Full),
    ];

    pub fn name(self) -> &'static str {
        match self {
            Arm::Full => "full",
            Arm::FullUndilated => "full-dilation1",
            Arm::NoCrop => "no-crop",
            Arm::Xception => "xception",
            Arm::XceptionDilated => "xception+dilated",
            Arm::XceptionStrided => "xception+strided",
            Arm::XceptionDense => "xception+dense",
            Arm::CrossEntropy => "ce-only",
            Arm::Pretrained => "pretrained",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Arm::Full => "xception-dd, crop, CE + focal, from scratch",
            Arm::FullUndilated => "full, learnable downsampling with dilation 1",
            Arm::NoCrop => "full, whole frames",
            Arm::Xception => "full, xception without dilated or dense",
            Arm::XceptionDilated => "full, xception + dilated only",
            Arm::XceptionStrided => "full, xception + learnable stride-2 downsampling, dilation 1",
            Arm::XceptionDense => "full, xception + dense only",
            Arm::CrossEntropy => "full, CE alone",
            Arm::Pretrained => "full, from the ROP demo run, early stages frozen",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }

    /// The arm's settings from the full method's.
    fn config(self, full: &TrainConfig) -> TrainConfig {
        let mut config = full.clone();
        let xception = |dilated, dense| {
            let mut c = full.clone();
            c.model = ModelKind::Xception;
            c.xception.dilated = dilated;
            c.xception.dense = dense;
            c
        };
        match self {
            Arm::Full | Arm::Pretrained => {}
            Arm::FullUndilated => config.xception.down_dilation = 1,
            Arm::NoCrop => config.crop = false,
            Arm::Xception => config = xception(false, false),
            Arm::XceptionDilated => config = xception(true, false),
            Arm::XceptionStrided => {
                config = xception(true, false);
                config.xception.down_dilation = 1;
            }
            Arm::XceptionDense => config = xception(false, true),
            Arm::CrossEntropy => config.loss.focal_weight = 0.0,
        }
        config
    }
}

pub struct ThyroidSettings {
    pub arms: Vec<Arm>,
    pub seeds: Vec<u64>,
    /// Seed of the generated demo projects (thyroid and ROP).
    pub demo_seed: u64,
    /// Images per demo project.
    pub count: usize,
    /// Edge of the demo images in pixels.
    pub image_size: usize,
    /// The full method's settings (its input size is replaced by each of
    /// `input_sizes`).
    pub full: TrainConfig,
    /// Network input edges in pixels, each a set of rows.
    pub input_sizes: Vec<usize>,
    /// Epochs the pre-trained arm holds its early stages.
    pub freeze_early_epochs: usize,
    pub jobs: usize,
    pub dir: PathBuf,
}

/// The settings of the full method at CPU size: xception-dd, CE + focal
/// (weight 1, γ 2), crops, supervised, 48 px, width 8, 25 epochs.
pub fn full_method() -> TrainConfig {
    let mut config = TrainConfig::small_on_cpu();
    config.method = crate::train::methods::supervised::METHOD;
    config.model = ModelKind::XceptionDd;
    config.input_size = 48;
    config.width = 8;
    config.epochs = 25;
    config.loss.focal_weight = 1.0;
    config
}

/// What one run reported.
struct Outcome {
    accuracy: f64,
    f1: f64,
    sensitivity: Vec<f64>,
    seconds: f64,
}

/// A row: an arm at an input size, `64 px · full`.
fn row_name(size: usize, arm: Arm) -> String {
    format!("{size} px · {}", arm.name())
}

/// One training run to make.
struct Job {
    arm: Arm,
    size: usize,
    config: PathBuf,
    seed: u64,
}

fn demo(dir: &Path, task: DemoTask, s: &ThyroidSettings) -> anyhow::Result<PathBuf> {
    let name = match task {
        DemoTask::Rop => "rop",
        _ => "thyroid",
    };
    let project = dir.join(format!(
        "{name}-demo{}-{}x{}",
        s.demo_seed, s.count, s.image_size
    ));
    if !crate::store::is_project(&project) {
        let options = DemoOptions {
            seed: s.demo_seed,
            count: s.count,
            size: s.image_size,
            labeled_fraction: 1.0,
            ..DemoOptions::new(task)
        };
        options.validate()?;
        write_demo(&project, &options, |_, _| {})?;
    }
    Ok(project)
}

/// Milliseconds of forward + backward of a 3×3 convolution on `flex`
/// (median of `repeats`), depthwise (`groups` = channels) or dense.
fn conv_backward_ms(channels: usize, size: usize, depthwise: bool, repeats: usize) -> f64 {
    let device = crate::train::device::flex().device.autodiff();
    let mut config = Conv2dConfig::new([channels, channels], [3, 3])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .with_bias(false);
    if depthwise {
        config = config.with_groups(channels);
    }
    let conv = config.init(&device);
    let input = Tensor::<4>::random(
        [16, channels, size, size],
        Distribution::Normal(0.0, 1.0),
        &device,
    );
    let mut times: Vec<f64> = (0..repeats + 1)
        .map(|_| {
            let started = Instant::now();
            let out = conv.forward(input.clone().require_grad());
            let grads = out.sum().backward();
            let weight = conv.weight.val().grad(&grads);
            // Reading one value waits for the work to finish.
            let _ = weight.map(|g| g.sum().into_scalar::<f32>());
            started.elapsed().as_secs_f64() * 1000.0
        })
        .skip(1)
        .collect();
    let _ = conv.num_params();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

pub fn thyroid(s: &ThyroidSettings, output: &Output) -> anyhow::Result<()> {
    anyhow::ensure!(!s.seeds.is_empty(), "give at least one training seed");
    anyhow::ensure!(!s.arms.is_empty(), "give at least one arm");
    anyhow::ensure!(!s.input_sizes.is_empty(), "give at least one input size");
    s.full.validate()?;
    std::fs::create_dir_all(&s.dir).with_context(|| format!("creating {}", s.dir.display()))?;
    let exe = std::env::current_exe().context("locating the loupe executable")?;
    let threads = (crate::train::threads::cores() / s.jobs.max(1)).max(1);
    let started = Instant::now();

    // The depthwise convolution's price, before anything is trained.
    let (channels, edge) = (32, 24);
    let depthwise = conv_backward_ms(channels, edge, true, 5);
    let dense = conv_backward_ms(channels, edge, false, 5);
    let price = format!(
        "3×3 convolution forward + backward on flex, batch 16, {channels} channels, {edge}×{edge}: \
         depthwise {depthwise:.2} ms, dense {dense:.2} ms"
    );
    eprintln!("{price}");

    let thyroid = demo(&s.dir, DemoTask::Thyroid, s)?;
    let mut jobs = Vec::new();
    for &size in &s.input_sizes {
        for arm in &s.arms {
            let mut config = arm.config(&s.full);
            config.input_size = size;
            config.validate()?;
            let path = s.dir.join(format!("config-{}-{size}px.json", arm.name()));
            std::fs::write(&path, serde_json::to_string_pretty(&config)?)?;
            jobs.extend(s.seeds.iter().map(|&seed| Job {
                arm: *arm,
                size,
                config: path.clone(),
                seed,
            }));
        }
    }
    let (rop, parents) = pretrain(s, &exe, threads)?;
    let total = jobs.len();
    eprintln!(
        "{total} runs, {} at a time, {threads} threads each, under {}",
        s.jobs,
        s.dir.display()
    );
    let results = in_parallel(jobs, s.jobs, |job| {
        let extra: Vec<String> = match (job.arm, &rop, parents.get(&(job.size, job.seed))) {
            (Arm::Pretrained, Some(rop), Some(run)) => vec![
                "--from".into(),
                run.clone(),
                "--from-project".into(),
                rop.display().to_string(),
                "--freeze-early-epochs".into(),
                s.freeze_early_epochs.to_string(),
            ],
            _ => Vec::new(),
        };
        let run_started = Instant::now();
        let value = train(&exe, &thyroid, &job.config, job.seed, threads, &extra)?;
        let student = &value["student"];
        let outcome = Outcome {
            accuracy: student["accuracy"].as_f64().context("no accuracy")?,
            f1: student["f1"].as_f64().context("no F1")?,
            sensitivity: student["sensitivity"]
                .as_array()
                .context("no sensitivity")?
                .iter()
                .map(|v| v.as_f64().unwrap_or(f64::NAN))
                .collect(),
            seconds: run_started.elapsed().as_secs_f64(),
        };
        eprintln!(
            "[{:>5.0} s] {} seed {}: accuracy {:.3}, macro-F1 {:.3}",
            started.elapsed().as_secs_f64(),
            row_name(job.size, job.arm),
            job.seed,
            outcome.accuracy,
            outcome.f1
        );
        anyhow::Ok(outcome)
    });
    let classes = crate::store::Project::open(&thyroid)?
        .schema()
        .target_field()
        .values
        .clone();
    let mut findings = findings(s, &classes);
    findings.notes.push(price);
    for (job, result) in results {
        let name = row_name(job.size, job.arm);
        match result {
            Ok(o) => {
                let mut values = vec![
                    ("accuracy".to_string(), o.accuracy),
                    ("f1".to_string(), o.f1),
                    ("seconds".to_string(), o.seconds),
                ];
                values.extend(
                    o.sensitivity
                        .iter()
                        .enumerate()
                        .map(|(k, v)| (format!("sensitivity_{k}"), *v)),
                );
                let values: Vec<(&str, f64)> =
                    values.iter().map(|(k, v)| (k.as_str(), *v)).collect();
                findings.record(&name, Pairing::new(s.demo_seed, job.seed), &values);
            }
            Err(e) => {
                let line = format!("{name} seed {}: failed: {e:#}", job.seed);
                eprintln!("{line}");
                findings.failed(line);
            }
        }
    }
    findings.wall_seconds = started.elapsed().as_secs_f64();
    output.finish(&findings, total)
}

/// The pre-trained runs by (input size, seed).
type ParentRuns = BTreeMap<(usize, u64), String>;

/// Pre-training on the ROP demo, one run per input size and seed, where
/// the pre-trained arm is asked for: the ROP project and the runs.
fn pretrain(
    s: &ThyroidSettings,
    exe: &Path,
    threads: usize,
) -> anyhow::Result<(Option<PathBuf>, ParentRuns)> {
    let mut parents = BTreeMap::new();
    if !s.arms.contains(&Arm::Pretrained) {
        return Ok((None, parents));
    }
    let started = Instant::now();
    let rop = demo(&s.dir, DemoTask::Rop, s)?;
    let mut runs = Vec::new();
    for &size in &s.input_sizes {
        let config = s.dir.join(format!("config-pretrain-rop-{size}px.json"));
        let mut pretrain = s.full.clone();
        pretrain.loss.focal_weight = 0.0;
        pretrain.crop = false;
        pretrain.input_size = size;
        std::fs::write(&config, serde_json::to_string_pretty(&pretrain)?)?;
        runs.extend(s.seeds.iter().map(|&seed| (size, seed, config.clone())));
    }
    let results = in_parallel(runs, s.jobs, |(_, seed, config)| {
        train(exe, &rop, config, *seed, threads, &[])
    });
    for ((size, seed, _), result) in results {
        let value = result
            .with_context(|| format!("pre-training on the ROP demo, {size} px, seed {seed}"))?;
        let run = value["run"].as_str().context("no run id")?.to_string();
        eprintln!(
            "[{:>5.0} s] pre-trained on the ROP demo, {size} px, seed {seed}: {run}, accuracy {:.3}",
            started.elapsed().as_secs_f64(),
            value["student"]["accuracy"].as_f64().unwrap_or(f64::NAN)
        );
        parents.insert((size, seed), run);
    }
    Ok((Some(rop), parents))
}

/// The findings' frame: the setting, the metrics (accuracy, macro-F1,
/// each class's sensitivity, seconds a run), the rows by input size and
/// the comparisons among the arms run.
fn findings(s: &ThyroidSettings, classes: &[String]) -> Findings {
    let mut metrics = vec![
        Metric::compared("accuracy", "accuracy"),
        Metric::compared("f1", "macro-F1"),
    ];
    metrics.extend(
        classes.iter().enumerate().map(|(k, class)| {
            Metric::compared(format!("sensitivity_{k}"), format!("sens. {class}"))
        }),
    );
    metrics.push(Metric::tabled("seconds", "s/run"));
    let mut findings = Findings::new("thyroid", "The thyroid method, taken apart", metrics);
    findings.x_label = Some("input size (px)");
    findings.setting = format!(
        "Thyroid demo (seed {}, {} images of {} px, all labeled; 20 % held out for validation); \
         input sizes {:?} px, width {}, {} epochs, lr {}; test pool of the checkpoint chosen on \
         validation; mean ± sd over training seeds {:?}. Arms: {}.",
        s.demo_seed,
        s.count,
        s.image_size,
        s.input_sizes,
        s.full.width,
        s.full.epochs,
        s.full.learning_rate,
        s.seeds,
        s.arms
            .iter()
            .map(|a| format!("{} = {}", a.name(), a.description()))
            .collect::<Vec<_>>()
            .join("; ")
    );
    for &size in &s.input_sizes {
        for &arm in &s.arms {
            findings.arm_on_curve(&row_name(size, arm), arm.name(), Some(size as f64));
        }
        for (arm, baseline) in Arm::COMPARISONS {
            if s.arms.contains(&arm) && s.arms.contains(&baseline) {
                findings.compare(&row_name(size, arm), &row_name(size, baseline));
            }
        }
    }
    findings
}

/// `--arms NAME,…`, from the names `Arm` defines.
fn arm_parser() -> impl clap::builder::TypedValueParser<Value = Arm> {
    use clap::builder::TypedValueParser;
    let names: Vec<&'static str> = Arm::ALL.iter().map(|a| a.name()).collect();
    clap::builder::PossibleValuesParser::new(names)
        .map(|name| Arm::from_name(&name).expect("the parser offers only arm names"))
}

/// The thyroid method taken apart on the thyroid demo: crop vs whole
/// frames; xception, + dilated, + dense, both; CE vs CE + focal; from
/// scratch vs pre-trained on the ROP demo. Mean ± sd over seeds of
/// accuracy, macro-F1 and per-class sensitivity.
#[derive(Debug, clap::Args)]
pub struct ThyroidArgs {
    /// Arms to run (default: full, full-dilation1, xception,
    /// xception+dilated, xception+strided; also no-crop, xception+dense,
    /// ce-only, pretrained).
    #[arg(long, value_delimiter = ',', value_parser = arm_parser())]
    pub arms: Vec<Arm>,
    /// Training seeds.
    #[arg(long, value_delimiter = ',', default_value = "1,2,3,4,5")]
    pub seeds: Vec<u64>,
    /// Network input edges in pixels (each a set of rows).
    #[arg(long, value_delimiter = ',', default_value = "64,96")]
    pub input_sizes: Vec<usize>,
    /// Seed of the generated demo projects.
    #[arg(long, default_value_t = 1)]
    pub demo_seed: u64,
    /// Images per demo project.
    #[arg(long, default_value_t = 200)]
    pub count: usize,
    /// Edge of the demo images in pixels.
    #[arg(long, default_value_t = 128)]
    pub image_size: usize,
    /// The full method's settings (default: xception-dd, width 8, 25 epochs, CE + focal; the input size comes from --input-sizes).
    #[arg(long)]
    pub config: Option<PathBuf>,
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Epochs the pre-trained arm holds its early stages as loaded.
    #[arg(long, default_value_t = 2)]
    pub freeze_early_epochs: usize,
    /// Runs at once (default: one per CPU core).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Where the demo projects and runs go (default: a folder in the temp dir, reused).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    #[command(flatten)]
    pub output: Output,
}

pub fn run(args: &ThyroidArgs) -> anyhow::Result<()> {
    let ThyroidArgs {
        arms,
        seeds,
        demo_seed,
        count,
        image_size,
        config,
        epochs,
        freeze_early_epochs,
        input_sizes,
        jobs,
        dir,
        output,
    } = args;
    let mut full = match config {
        Some(path) => crate::cli::train::read_config(path)?,
        None => full_method(),
    };
    if let Some(epochs) = epochs {
        full.epochs = *epochs;
    }
    thyroid(
        &ThyroidSettings {
            arms: if arms.is_empty() {
                Arm::DEFAULT.to_vec()
            } else {
                arms.clone()
            },
            seeds: seeds.clone(),
            demo_seed: *demo_seed,
            count: *count,
            image_size: *image_size,
            full,
            input_sizes: input_sizes.clone(),
            freeze_early_epochs: *freeze_early_epochs,
            jobs: within(
                "--jobs",
                jobs.unwrap_or_else(crate::train::threads::cores),
                1..=256,
            )?,
            dir: dir
                .clone()
                .unwrap_or_else(|| std::env::temp_dir().join("loupe-bench-thyroid")),
        },
        output,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_arm_changes_one_thing_of_the_full_method() {
        let full = full_method();
        full.validate().unwrap();
        assert_eq!(full.model, ModelKind::XceptionDd);
        assert!(full.crop);
        assert_eq!(full.loss.focal_weight, 1.0);
        let differences = |arm: Arm| {
            let a = serde_json::to_value(arm.config(&full)).unwrap();
            let b = serde_json::to_value(&full).unwrap();
            a.as_object()
                .unwrap()
                .iter()
                .filter(|(k, v)| b[k.as_str()] != **v)
                .map(|(k, _)| k.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(differences(Arm::Full), Vec::<String>::new());
        assert_eq!(differences(Arm::NoCrop), ["crop"]);
        assert_eq!(differences(Arm::CrossEntropy), ["loss"]);
        assert_eq!(differences(Arm::XceptionDense), ["model", "xception"]);
        assert_eq!(differences(Arm::FullUndilated), ["xception"]);
        assert_eq!(Arm::FullUndilated.config(&full).xception.down_dilation, 1);
        let strided = Arm::XceptionStrided.config(&full);
        assert!(strided.xception.dilated && strided.xception.down_dilation == 1);
        assert_eq!(Arm::XceptionDilated.config(&full).xception.down_dilation, 2);
        let dilated = Arm::XceptionDilated.config(&full);
        assert!(dilated.xception.dilated && !dilated.xception.dense);
        for arm in Arm::ALL {
            assert_eq!(Arm::from_name(arm.name()), Some(arm));
        }
    }
}
