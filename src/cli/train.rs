//! `loupe train`: the window's training engine in the foreground, with the same run files.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::mpsc::channel;

use anyhow::Context;

use crate::train::device::{self, ComputeDevice};
use crate::train::engine::{self, Method, TrainConfig, TrainEvent};

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum DeviceArg {
    /// The GPU, set up as the window sets it up.
    Wgpu,
    /// The CPU.
    Flex,
}

#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    pub dir: PathBuf,
    /// Mean teacher unless the configuration file says otherwise.
    #[arg(long, value_enum)]
    pub method: Option<Method>,
    #[arg(long, value_enum)]
    pub model: Option<crate::train::model::ModelKind>,
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Continue from this earlier run's last checkpoints (fine-tune after labeling more).
    #[arg(long, value_name = "RUN")]
    pub from: Option<String>,
    #[arg(long, value_enum, default_value = "wgpu")]
    pub device: DeviceArg,
    #[arg(long)]
    pub seed: Option<u64>,
    /// Input edge in pixels.
    #[arg(long)]
    pub input_size: Option<usize>,
    /// Channels of the first ResNet stage.
    #[arg(long)]
    pub width: Option<usize>,
    /// A JSON training configuration (fields as in a run's config.json); flags override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// End by printing one JSON object with the run and its test metrics.
    #[arg(long)]
    pub json: bool,
}

fn compute_device(choice: DeviceArg) -> anyhow::Result<ComputeDevice> {
    match choice {
        DeviceArg::Flex => Ok(device::flex()),
        DeviceArg::Wgpu => match crate::render::device::headless_render_state() {
            Ok(render_state) => Ok(device::shared_wgpu(&render_state)?),
            Err(error) => {
                eprintln!("{error}; training on the CPU");
                Ok(device::flex())
            }
        },
    }
}

/// A training configuration from a JSON file (fields as in a run's `config.json`).
pub fn read_config(path: &std::path::Path) -> anyhow::Result<TrainConfig> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{} is not a training configuration", path.display()))
}

pub fn run(args: &TrainArgs) -> anyhow::Result<()> {
    let mut config = match &args.config {
        Some(path) => read_config(path)?,
        None => TrainConfig::default(),
    };
    if let Some(method) = args.method {
        config.method = method;
    }
    if let Some(model) = args.model {
        config.model = model;
    }
    if args.from.is_some() {
        config.fine_tune_from = args.from.clone();
    }
    if let Some(epochs) = args.epochs {
        config.epochs = epochs;
    }
    if let Some(seed) = args.seed {
        config.seed = seed;
    }
    if let Some(size) = args.input_size {
        config.input_size = size.max(8);
    }
    if let Some(width) = args.width {
        config.width = width.max(1);
    }
    let compute = compute_device(args.device)?;
    let (events, receiver) = channel();
    let (_commands, command_receiver) = channel();
    let terminal = std::io::stderr().is_terminal();
    let printer = std::thread::spawn(move || {
        let mut steps_per_epoch = 1;
        for event in receiver {
            match event {
                TrainEvent::Started {
                    run,
                    steps_per_epoch: steps,
                    labeled,
                    unlabeled,
                    test,
                } => {
                    steps_per_epoch = steps;
                    eprintln!(
                        "run {run}: {labeled} labeled, {unlabeled} unlabeled, {test} test images; {steps} steps per epoch"
                    );
                }
                TrainEvent::Step {
                    epoch,
                    step,
                    losses,
                    images_per_second,
                } if terminal => {
                    eprint!(
                        "\repoch {} step {}/{} loss {:.4} ({:.0} images/s)   ",
                        epoch + 1,
                        step + 1,
                        steps_per_epoch,
                        losses.total,
                        images_per_second
                    );
                }
                TrainEvent::Epoch(record) => {
                    let teacher = record
                        .teacher
                        .as_ref()
                        .map(|t| format!(", teacher accuracy {:.3}", t.accuracy))
                        .unwrap_or_default();
                    eprintln!(
                        "\repoch {}: loss {:.4}, student accuracy {:.3} AUC {}{teacher} ({:.1} s)",
                        record.epoch + 1,
                        record.losses.total,
                        record.student.accuracy,
                        record.student.auc.map_or("-".into(), |a| format!("{a:.3}")),
                        record.seconds
                    );
                }
                _ => {}
            }
        }
    });
    eprintln!(
        "training {} ({:?}) on {}",
        config.method.name(),
        config.model,
        compute.description
    );
    let result = engine::train(&args.dir, &config, &compute, &events, &command_receiver);
    drop(events);
    let _ = printer.join();
    let summary = result?;
    if args.json {
        let metrics = |m: &crate::train::metrics::Metrics| {
            serde_json::json!({
                "accuracy": m.accuracy,
                "auc": m.auc,
                "auc_per_class": m.auc_per_class,
                "kappa": m.kappa,
                "f1": m.f1,
                "sensitivity": m.sensitivity,
                "specificity": m.specificity,
                "confusion": m.confusion,
            })
        };
        let out = serde_json::json!({
            "run": summary.run,
            "epochs": summary.epochs,
            "student": metrics(&summary.student),
            "teacher": summary.teacher.as_ref().map(metrics),
        });
        println!("{out}");
    }
    Ok(())
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    pub dir: PathBuf,
    /// The run's id (a folder under runs/).
    #[arg(long)]
    pub run: String,
    #[arg(long, value_enum, default_value = "wgpu")]
    pub device: DeviceArg,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// `loupe predict`: a saved run's probabilities and uncertainty for the unlabeled and test pools, into the store.
pub fn predict(args: &RunArgs) -> anyhow::Result<()> {
    let compute = compute_device(args.device)?;
    let count = engine::predict_run(&args.dir, &args.run, &compute)?;
    if args.json {
        println!(
            "{}",
            serde_json::json!({ "run": args.run, "predictions": count })
        );
    } else {
        println!("stored {count} predictions from run {}", args.run);
    }
    Ok(())
}

/// `loupe eval`: a saved run's student and teacher on the test pool.
pub fn eval(args: &RunArgs) -> anyhow::Result<()> {
    let compute = compute_device(args.device)?;
    let summary = engine::evaluate_run(&args.dir, &args.run, &compute)?;
    if args.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        for (who, metrics) in [
            ("student", Some(&summary.student)),
            ("teacher", summary.teacher.as_ref()),
        ] {
            if let Some(m) = metrics {
                println!(
                    "{who}: accuracy {:.3}, mean AUC {}, kappa {}, F1 {:.3}",
                    m.accuracy,
                    m.auc.map_or("-".into(), |a| format!("{a:.3}")),
                    m.kappa.map_or("-".into(), |k| format!("{k:.3}")),
                    m.f1
                );
            }
        }
    }
    Ok(())
}
