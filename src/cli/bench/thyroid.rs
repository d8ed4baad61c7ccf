//! `loupe bench thyroid`: the thyroid method (METHODS.md §2) taken apart on
//! the thyroid demo. Each arm changes one thing of the full method
//! (xception-dd, crop, CE + focal, from scratch): no crop; plain xception,
//! xception with dilated downsampling only, with dense connections only; CE
//! alone; pre-trained on the ROP demo then fine-tuned. Every arm trains with the same seeds, `loupe train`
//! processes a few at a time, and the table gives mean ± sd over seeds of
//! accuracy, macro-F1 and each class's sensitivity. Before the table, the
//! cost of the depthwise convolution's backward pass on `flex`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use burn::module::Module;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2dConfig;
use burn::tensor::{Distribution, Tensor};

use super::common::{in_parallel, mean_sd, train_json as train, within};
use crate::demo::{DemoOptions, DemoTask, write_demo};
use crate::train::config::TrainConfig;
use crate::train::models::ModelKind;

/// One variant of the method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arm {
    /// xception-dd on crops, CE + focal, from scratch.
    Full,
    NoCrop,
    /// Xception with neither change.
    Xception,
    XceptionDilated,
    XceptionDense,
    /// Cross-entropy alone (focal weight 0).
    CrossEntropy,
    /// Pre-trained on the ROP demo (same network), then fine-tuned.
    Pretrained,
}

impl Arm {
    pub const ALL: [Arm; 7] = [
        Arm::Full,
        Arm::NoCrop,
        Arm::Xception,
        Arm::XceptionDilated,
        Arm::XceptionDense,
        Arm::CrossEntropy,
        Arm::Pretrained,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Arm::Full => "full",
            Arm::NoCrop => "no-crop",
            Arm::Xception => "xception",
            Arm::XceptionDilated => "xception+dilated",
            Arm::XceptionDense => "xception+dense",
            Arm::CrossEntropy => "ce-only",
            Arm::Pretrained => "pretrained",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Arm::Full => "xception-dd, crop, CE + focal, from scratch",
            Arm::NoCrop => "full, whole frames",
            Arm::Xception => "full, xception without dilated or dense",
            Arm::XceptionDilated => "full, xception + dilated only",
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
            Arm::NoCrop => config.crop = false,
            Arm::Xception => config = xception(false, false),
            Arm::XceptionDilated => config = xception(true, false),
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
    /// The full method's settings.
    pub full: TrainConfig,
    /// Epochs the pre-trained arm holds its early stages.
    pub freeze_early_epochs: usize,
    pub jobs: usize,
    pub dir: PathBuf,
    pub json: bool,
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
    arm: Arm,
    accuracy: f64,
    f1: f64,
    sensitivity: Vec<f64>,
    seconds: f64,
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

pub fn thyroid(s: &ThyroidSettings) -> anyhow::Result<()> {
    anyhow::ensure!(!s.seeds.is_empty(), "give at least one training seed");
    anyhow::ensure!(!s.arms.is_empty(), "give at least one arm");
    s.full.validate()?;
    std::fs::create_dir_all(&s.dir).with_context(|| format!("creating {}", s.dir.display()))?;
    let exe = std::env::current_exe().context("locating the loupe executable")?;
    let threads = (crate::train::threads::cores() / s.jobs.max(1)).max(1);

    // The depthwise convolution's price, before anything is trained.
    let (channels, edge) = (32, 24);
    let depthwise = conv_backward_ms(channels, edge, true, 5);
    let dense = conv_backward_ms(channels, edge, false, 5);
    eprintln!(
        "3×3 convolution forward + backward on flex, batch 16, {channels} channels, {edge}×{edge}: \
         depthwise {depthwise:.2} ms, dense {dense:.2} ms"
    );

    let thyroid = demo(&s.dir, DemoTask::Thyroid, s)?;
    let mut configs = Vec::new();
    for arm in &s.arms {
        let path = s.dir.join(format!("config-{}.json", arm.name()));
        std::fs::write(&path, serde_json::to_string_pretty(&arm.config(&s.full))?)?;
        configs.push((*arm, path));
    }
    let started = Instant::now();

    // Pre-training on the ROP demo, one run per seed, where the arm is asked for.
    let mut parents: std::collections::BTreeMap<u64, String> = Default::default();
    let rop = if s.arms.contains(&Arm::Pretrained) {
        let rop = demo(&s.dir, DemoTask::Rop, s)?;
        let config = s.dir.join("config-pretrain-rop.json");
        let mut pretrain = s.full.clone();
        pretrain.loss.focal_weight = 0.0;
        pretrain.crop = false;
        std::fs::write(&config, serde_json::to_string_pretty(&pretrain)?)?;
        let results = in_parallel(s.seeds.clone(), s.jobs, |&seed| {
            train(&exe, &rop, &config, seed, threads, &[])
        });
        for (seed, result) in results {
            let value =
                result.with_context(|| format!("pre-training on the ROP demo, seed {seed}"))?;
            let run = value["run"].as_str().context("no run id")?.to_string();
            eprintln!(
                "[{:>5.0} s] pre-trained on the ROP demo, seed {seed}: {run}, accuracy {:.3}",
                started.elapsed().as_secs_f64(),
                value["student"]["accuracy"].as_f64().unwrap_or(f64::NAN)
            );
            parents.insert(seed, run);
        }
        Some(rop)
    } else {
        None
    };

    let jobs: Vec<(Arm, PathBuf, u64)> = configs
        .iter()
        .flat_map(|(arm, path)| s.seeds.iter().map(|&seed| (*arm, path.clone(), seed)))
        .collect();
    let total = jobs.len();
    eprintln!(
        "{total} runs, {} at a time, {threads} threads each, under {}",
        s.jobs,
        s.dir.display()
    );
    let results = in_parallel(jobs, s.jobs, |(arm, config, seed)| {
        let extra: Vec<String> = match (arm, &rop, parents.get(seed)) {
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
        let value = train(&exe, &thyroid, config, *seed, threads, &extra)?;
        let student = &value["student"];
        let outcome = Outcome {
            arm: *arm,
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
            "[{:>5.0} s] {} seed {seed}: accuracy {:.3}, macro-F1 {:.3}",
            started.elapsed().as_secs_f64(),
            arm.name(),
            outcome.accuracy,
            outcome.f1
        );
        anyhow::Ok(outcome)
    });
    let mut outcomes = Vec::new();
    for ((arm, _, seed), result) in results {
        match result {
            Ok(o) => outcomes.push(o),
            Err(e) => eprintln!("{} seed {seed}: {e:#}", arm.name()),
        }
    }
    let classes = crate::store::Project::open(&thyroid)?
        .schema()
        .target_field()
        .values
        .clone();
    report(s, &classes, &outcomes, depthwise, dense)?;
    anyhow::ensure!(
        outcomes.len() == total,
        "{} of {total} runs failed (messages above)",
        total - outcomes.len()
    );
    Ok(())
}

fn report(
    s: &ThyroidSettings,
    classes: &[String],
    outcomes: &[Outcome],
    depthwise_ms: f64,
    dense_ms: f64,
) -> anyhow::Result<()> {
    let rows: Vec<(Arm, Vec<&Outcome>)> = s
        .arms
        .iter()
        .map(|&arm| (arm, outcomes.iter().filter(|o| o.arm == arm).collect()))
        .collect();
    let stat = |values: Vec<f64>| {
        let (mean, sd) = mean_sd(&values);
        serde_json::json!({ "mean": mean, "sd": sd })
    };
    if s.json {
        let arms: Vec<serde_json::Value> = rows
            .iter()
            .map(|(arm, runs)| {
                serde_json::json!({
                    "arm": arm.name(),
                    "description": arm.description(),
                    "runs": runs.len(),
                    "accuracy": stat(runs.iter().map(|o| o.accuracy).collect()),
                    "f1": stat(runs.iter().map(|o| o.f1).collect()),
                    "sensitivity": classes.iter().enumerate().map(|(k, class)| {
                        let mut value = stat(runs.iter().filter_map(|o| o.sensitivity.get(k).copied()).collect());
                        value["class"] = class.clone().into();
                        value
                    }).collect::<Vec<_>>(),
                    "seconds": stat(runs.iter().map(|o| o.seconds).collect()),
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({
                "seeds": s.seeds,
                "demo_seed": s.demo_seed,
                "count": s.count,
                "config": s.full,
                "depthwise_conv_backward_ms": depthwise_ms,
                "dense_conv_backward_ms": dense_ms,
                "arms": arms,
            })
        );
        return Ok(());
    }
    println!(
        "Thyroid demo (seed {}, {} images of {} px, all labeled; 20 % held out for validation); {} px, width {}, {} epochs, lr {}; \
         test pool of the checkpoint chosen on validation; mean ± sd over training seeds {:?}",
        s.demo_seed,
        s.count,
        s.image_size,
        s.full.input_size,
        s.full.width,
        s.full.epochs,
        s.full.learning_rate,
        s.seeds
    );
    let cell = |values: Vec<f64>| {
        let (mean, sd) = mean_sd(&values);
        format!("{mean:.3} ± {sd:.3}")
    };
    print!(
        "{:<17} {:>2} {:>14} {:>14}",
        "arm", "n", "accuracy", "macro-F1"
    );
    for class in classes {
        print!(" {:>14}", format!("sens. {}", truncate(class, 8)));
    }
    println!(" {:>8}", "s/run");
    for (arm, runs) in &rows {
        print!(
            "{:<17} {:>2} {:>14} {:>14}",
            arm.name(),
            runs.len(),
            cell(runs.iter().map(|o| o.accuracy).collect()),
            cell(runs.iter().map(|o| o.f1).collect())
        );
        for k in 0..classes.len() {
            print!(
                " {:>14}",
                cell(
                    runs.iter()
                        .filter_map(|o| o.sensitivity.get(k).copied())
                        .collect()
                )
            );
        }
        let (seconds, _) = mean_sd(&runs.iter().map(|o| o.seconds).collect::<Vec<_>>());
        println!(" {seconds:>8.0}");
    }
    for arm in &s.arms {
        println!("  {}: {}", arm.name(), arm.description());
    }
    println!(
        "3×3 convolution forward + backward on flex (batch 16, 32 channels, 24×24): depthwise {depthwise_ms:.2} ms, dense {dense_ms:.2} ms"
    );
    Ok(())
}

fn truncate(text: &str, chars: usize) -> String {
    text.chars().take(chars).collect()
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
    /// Arms to run (default: all): full, no-crop, xception,
    /// xception+dilated, xception+dense, ce-only, pretrained.
    #[arg(long, value_delimiter = ',', value_parser = arm_parser())]
    pub arms: Vec<Arm>,
    /// Training seeds.
    #[arg(long, value_delimiter = ',', default_value = "1,2,3")]
    pub seeds: Vec<u64>,
    /// Seed of the generated demo projects.
    #[arg(long, default_value_t = 1)]
    pub demo_seed: u64,
    /// Images per demo project.
    #[arg(long, default_value_t = 200)]
    pub count: usize,
    /// Edge of the demo images in pixels.
    #[arg(long, default_value_t = 128)]
    pub image_size: usize,
    /// The full method's settings (default: xception-dd, 48 px, width 8, 25 epochs, CE + focal).
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
    /// One JSON object on standard output (progress on standard error).
    #[arg(long)]
    pub json: bool,
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
        jobs,
        dir,
        json,
    } = args;
    let mut full = match config {
        Some(path) => crate::cli::train::read_config(path)?,
        None => full_method(),
    };
    if let Some(epochs) = epochs {
        full.epochs = *epochs;
    }
    thyroid(&ThyroidSettings {
        arms: if arms.is_empty() {
            Arm::ALL.to_vec()
        } else {
            arms.clone()
        },
        seeds: seeds.clone(),
        demo_seed: *demo_seed,
        count: *count,
        image_size: *image_size,
        full,
        freeze_early_epochs: *freeze_early_epochs,
        jobs: within(
            "--jobs",
            jobs.unwrap_or_else(crate::train::threads::cores),
            1..=256,
        )?,
        dir: dir
            .clone()
            .unwrap_or_else(|| std::env::temp_dir().join("loupe-bench-thyroid")),
        json: *json,
    })
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
        let dilated = Arm::XceptionDilated.config(&full);
        assert!(dilated.xception.dilated && !dilated.xception.dense);
        for arm in Arm::ALL {
            assert_eq!(Arm::from_name(arm.name()), Some(arm));
        }
    }
}
