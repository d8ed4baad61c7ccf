//! `loupe train`, `loupe predict`, `loupe eval`: the window's trainer in the
//! foreground, with the same run files. The flag and JSON names are the
//! training contract scripts rely on (docs/guide/training.md, "Training contract").

use crate::train::events::TrainCommand;
use crate::train::eyes::{EyePooling, LabelSource};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::mpsc::channel;

use anyhow::Context;
use clap::builder::{PossibleValuesParser, TypedValueParser};

use crate::app::training::{RASTERIZE, display_compute};
use crate::store::Project;
use crate::train::config::{ChoiceRule, Method, TrainConfig};
use crate::train::device::{self, ComputeDevice};
use crate::train::events::{RunSummary, TrainEvent, series};
use crate::train::inference;
use crate::train::methods;
use crate::train::metrics::Metrics;
use crate::train::models::ModelKind;
use crate::train::presets::{self, Preset, ProjectInputs};
use crate::train::spec::{Setting, SettingKind};
use crate::train::{lineage, run, runs, threads};

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum DeviceArg {
    /// The GPU, set up as the window sets it up.
    Wgpu,
    /// The CPU.
    Flex,
}

/// `--method NAME`, from the names of the registered methods.
pub(crate) fn method_parser() -> impl TypedValueParser<Value = Method> {
    let names: Vec<&'static str> = methods::all().iter().map(|d| d.method.name()).collect();
    PossibleValuesParser::new(names).try_map(|name| {
        methods::method_named(&name)
            .map_err(|e| clap::Error::raw(clap::error::ErrorKind::InvalidValue, e))
    })
}

/// Every flag a registered method's settings declare, once, with the
/// settings (of one or several methods) it sets.
fn declared_flags() -> Vec<(&'static str, Vec<(Method, &'static Setting)>)> {
    let mut flags: Vec<(&'static str, Vec<(Method, &'static Setting)>)> = Vec::new();
    for declaration in methods::all() {
        let method = declaration.method;
        for setting in method.spec().settings {
            match flags.iter_mut().find(|(flag, _)| *flag == setting.flag) {
                Some((_, users)) => users.push((method, setting)),
                None => flags.push((setting.flag, vec![(method, setting)])),
            }
        }
    }
    flags
}

/// The methods' declared settings as `loupe train` flags (`--alpha`,
/// `--temperature`, `--kd-weight`, …, one per declared flag; a flag several
/// methods declare sets the chosen method's), and `--set NAME=VALUE` for
/// any setting of the chosen method. Built from the declarations, so a
/// method's settings reach the command line with no code here.
#[derive(Debug, Clone, Default)]
pub struct SettingArgs {
    /// `(flag, value as typed)` for each flag given (a switch: the value it sets).
    pub flags: Vec<(String, String)>,
    /// `NAME=VALUE` pairs of `--set`.
    pub set: Vec<String>,
}

const SET_ARG: &str = "set";

impl clap::FromArgMatches for SettingArgs {
    fn from_arg_matches(matches: &clap::ArgMatches) -> Result<Self, clap::Error> {
        let mut args = Self::default();
        args.update_from_arg_matches(matches)?;
        Ok(args)
    }

    fn update_from_arg_matches(&mut self, matches: &clap::ArgMatches) -> Result<(), clap::Error> {
        for (flag, users) in declared_flags() {
            match &users[0].1.kind {
                SettingKind::Switch { flag_sets, .. } => {
                    if matches.get_flag(flag) {
                        self.flags.push((flag.to_string(), flag_sets.to_string()));
                    }
                }
                _ => {
                    if let Some(value) = matches.get_one::<String>(flag) {
                        self.flags.push((flag.to_string(), value.clone()));
                    }
                }
            }
        }
        if let Some(values) = matches.get_many::<String>(SET_ARG) {
            self.set.extend(values.cloned());
        }
        Ok(())
    }
}

impl clap::Args for SettingArgs {
    fn augment_args(command: clap::Command) -> clap::Command {
        use clap::{Arg, ArgAction};
        let mut command = command;
        for (flag, users) in declared_flags() {
            // Methods that share one declaration are named together.
            let mut shared: Vec<(Vec<&str>, &Setting)> = Vec::new();
            for (method, setting) in &users {
                match shared.iter_mut().find(|(_, s)| *s == *setting) {
                    Some((names, _)) => names.push(method.name()),
                    None => shared.push((vec![method.name()], setting)),
                }
            }
            let help: Vec<String> = shared
                .iter()
                .map(|(names, setting)| {
                    let default = setting.default_value();
                    format!("{}: {} (default {default})", names.join(", "), setting.help)
                })
                .collect();
            let arg = Arg::new(flag).long(flag).help(help.join("; "));
            let arg = match users[0].1.kind {
                SettingKind::Switch { .. } => arg.action(ArgAction::SetTrue),
                _ => arg.value_name("VALUE").action(ArgAction::Set),
            };
            command = command.arg(arg);
        }
        command.arg(
            Arg::new(SET_ARG)
                .long(SET_ARG)
                .value_name("NAME=VALUE")
                .action(ArgAction::Append)
                .help(
                    "Any setting the chosen method declares, by its config.json name \
                     (e.g. --set ema_decay=0.95); repeat for several",
                ),
        )
    }

    fn augment_args_for_update(command: clap::Command) -> clap::Command {
        Self::augment_args(command)
    }
}

impl SettingArgs {
    /// Sets the given flags and `--set` pairs on `config`'s method, each
    /// checked by its declaration; a flag or name the method does not
    /// declare is refused by name.
    pub fn apply(&self, config: &mut TrainConfig) -> anyhow::Result<()> {
        let spec = config.method.spec();
        for (flag, value) in &self.flags {
            let setting = spec.setting_by_flag(flag).ok_or_else(|| {
                let owners: Vec<&str> = declared_flags()
                    .into_iter()
                    .filter(|(f, _)| f == flag)
                    .flat_map(|(_, users)| users.into_iter().map(|(m, _)| m.name()))
                    .collect();
                anyhow::anyhow!(
                    "--{flag} is not a setting of method {} (it is of {})",
                    spec.name,
                    owners.join(", ")
                )
            })?;
            config.set_named(setting.name, value)?;
        }
        for pair in &self.set {
            let (name, value) = pair
                .split_once('=')
                .ok_or_else(|| anyhow::anyhow!("--set {pair:?}: write NAME=VALUE"))?;
            config.set_named(name.trim(), value)?;
        }
        Ok(())
    }
}

/// `--model NAME`, from the names `train::models::ModelKind` defines.
fn model_parser() -> impl TypedValueParser<Value = ModelKind> {
    let names: Vec<&'static str> = ModelKind::ALL.iter().map(|m| m.name()).collect();
    PossibleValuesParser::new(names)
        .map(|name| ModelKind::from_name(&name).expect("the parser offers only model names"))
}

/// A parser offering the names of `all`, giving back the value named.
fn named_parser<T: Copy + Send + Sync + 'static>(
    all: &'static [T],
    name: fn(T) -> &'static str,
) -> impl TypedValueParser<Value = T> {
    let names: Vec<&'static str> = all.iter().map(|&v| name(v)).collect();
    PossibleValuesParser::new(names).map(move |text| {
        *all.iter()
            .find(|&&v| name(v) == text)
            .expect("the parser offers only these names")
    })
}

#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    pub dir: PathBuf,
    /// The method (default: the configuration file's, else mean-teacher).
    #[arg(long, value_parser = method_parser())]
    pub method: Option<Method>,
    /// Which of a case's inputs the run reads, by role (comma list; 2-D items have `image`).
    #[arg(
        long,
        alias = "modalities",
        value_delimiter = ',',
        value_name = "ROLE[,ROLE…]"
    )]
    pub modality: Vec<String>,
    /// A teacher run for distillation methods.
    #[arg(long, value_name = "RUN")]
    pub teacher: Vec<String>,
    /// Several teacher runs (comma list), matched to roles by their recorded modality.
    #[arg(long, value_delimiter = ',', value_name = "RUN[,RUN…]")]
    pub teachers: Vec<String>,
    /// The project the --teacher run belongs to, when not this one (e.g. a
    /// CT teacher trained on a fully labeled cohort); its features are
    /// computed on this project's cases.
    #[arg(long, value_name = "DIR", requires = "teacher")]
    pub teacher_project: Option<PathBuf>,
    /// Which slices of a CT series a 2-D model reads: the k around the
    /// middle, k random ones, or a slice-policy run's picks (--policy RUN).
    /// Given, the series is read as slices, not as a 3-D volume.
    #[arg(long, value_parser = PossibleValuesParser::new(["middle", "random", "policy"]))]
    pub slices: Option<String>,
    /// k, the slices a 2-D model reads from a series (default 3).
    #[arg(long, value_name = "K")]
    pub slice_count: Option<usize>,
    /// The slice-policy run whose picks --slices policy reads.
    #[arg(long, value_name = "RUN")]
    pub policy: Option<String>,
    /// Every method's declared settings, as flags and `--set NAME=VALUE`.
    #[command(flatten)]
    pub settings: SettingArgs,
    /// The architecture (default: the one that suits the data).
    #[arg(long, value_parser = model_parser())]
    pub model: Option<ModelKind>,
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Xception's block counts ENTRY,MIDDLE,EXIT (default 2,2,1; Xception's
    /// own flows: 3,8,2).
    #[arg(long, value_name = "ENTRY,MIDDLE,EXIT", value_delimiter = ',')]
    pub xception_depth: Option<Vec<usize>>,
    /// Dilation of xception's learnable downsampling: 2 (the method) or 1
    /// (a plain learnable stride-2 convolution, the control); with
    /// xception-dd or `--model xception` with dilated downsampling.
    #[arg(long, value_name = "1|2")]
    pub xception_down_dilation: Option<usize>,
    /// How the reported epoch is chosen on the validation split:
    /// accuracy, windowed-auc (mean over 5 epochs) or last-epoch.
    #[arg(long, value_name = "RULE", value_parser = named_parser(&ChoiceRule::ALL, ChoiceRule::name))]
    pub choose_by: Option<ChoiceRule>,
    /// Where labels come from: `images` (each image's own), or `eyes`
    /// (the eye's consensus stage on its gradable photographs; the default
    /// in a screening project), with eye-level test metrics.
    #[arg(long, value_name = "SOURCE", value_parser = named_parser(&LabelSource::ALL, LabelSource::name))]
    pub label_source: Option<LabelSource>,
    /// How an eye's photographs' referral probabilities are pooled under
    /// eye labels: `max`, or `attention` (a multiple-instance pooling
    /// fitted on the labeled eyes).
    #[arg(long, value_name = "POOLING", value_parser = named_parser(&EyePooling::ALL, EyePooling::name))]
    pub eye_pooling: Option<EyePooling>,
    /// Peak learning rate of the optimizer.
    #[arg(long, value_name = "RATE")]
    pub learning_rate: Option<f64>,
    /// Dropout probability of the classifier (0 ≤ p < 1).
    #[arg(long, value_name = "P")]
    pub dropout: Option<f64>,
    /// Images (or records) a step takes, labeled and unlabeled together.
    #[arg(long, value_name = "N")]
    pub batch_size: Option<usize>,
    /// Of those, how many come from the labeled pool.
    #[arg(long, value_name = "N")]
    pub labeled_per_batch: Option<usize>,
    /// Continue from this earlier run's chosen checkpoint (fine-tune after
    /// labeling more; with --from-project, a run of that project). The run
    /// keeps its parent's architecture unless --model/--width say otherwise.
    #[arg(long, value_name = "RUN")]
    pub from: Option<String>,
    /// The project --from RUN belongs to: pre-train there, fine-tune here.
    /// The classifier head is new when that project's classes differ.
    #[arg(long, value_name = "DIR", requires = "from")]
    pub from_project: Option<PathBuf>,
    /// Epochs at the start of a fine-tuning run that hold the early stages
    /// (stem and first half of the network) as loaded.
    #[arg(long, value_name = "N")]
    pub freeze_early_epochs: Option<usize>,
    /// Weigh classes by their inverse frequency in the labeled pool.
    #[arg(long)]
    pub class_weights: bool,
    /// Train on whole frames even where the schema crops (the ablation).
    #[arg(long)]
    pub no_crop: bool,
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
    /// Fraction of the labeled pool held out, per class, to choose the reported checkpoint.
    #[arg(long)]
    pub validation_fraction: Option<f64>,
    /// Weight of the focal term added to cross-entropy (0: plain CE; thyroid projects: 1).
    #[arg(long)]
    pub focal_weight: Option<f64>,
    /// γ of the focal term `−(1 − p_y)^γ log p_y`.
    #[arg(long)]
    pub focal_gamma: Option<f64>,
    /// A JSON training configuration (fields as in a run's config.json);
    /// flags override it. Without one: the preset for the project's schema
    /// on the chosen device, as the window uses.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// End by printing one JSON object with the run and its test metrics.
    #[arg(long)]
    pub json: bool,
    /// CPU threads for the kernels (default: every core).
    #[arg(long)]
    pub threads: Option<usize>,
}

fn compute_device(choice: DeviceArg) -> anyhow::Result<ComputeDevice> {
    match choice {
        DeviceArg::Flex => Ok(device::flex()),
        DeviceArg::Wgpu => match crate::render::device::headless_render_state() {
            Ok(render_state) => Ok(display_compute(&render_state)?),
            Err(error) => {
                eprintln!("{error}; training on the CPU");
                Ok(device::flex())
            }
        },
    }
}

/// A training configuration from a JSON file (fields as in a run's `config.json`).
pub fn read_config(path: &Path) -> anyhow::Result<TrainConfig> {
    Ok(crate::train::presets::read_config_file(path)?)
}

/// The run's configuration: the file, or the project's preset, with the flags applied.
fn configuration(args: &TrainArgs, compute: &ComputeDevice) -> anyhow::Result<TrainConfig> {
    let mut config = match &args.config {
        Some(path) => read_config(path)?,
        None => {
            let schema = Project::open(&args.dir)?.schema().clone();
            Preset::for_project(&schema.name, compute.kind()).config_for(&schema)
        }
    };
    let method = args.method.unwrap_or(config.method);
    apply_slice_args(args, &mut config);
    if !args.modality.is_empty() {
        config.method = method;
        config.modalities = args.modality.clone();
    } else if method.segments() && !method.spec().teacher_roles.is_empty() {
        anyhow::bail!(
            "{} trains a student on fewer sequences than its teacher: name them \
             (e.g. --modality t1)",
            method.name()
        );
    } else {
        // The one rule of the panel too: a method that cannot read the
        // configured input reads the first of its own the project has
        // (cross-modal-kd: the tabular record; kdamm: slices and record).
        let schema = Project::open(&args.dir)?.schema().clone();
        presets::switch_method(&mut config, method, &ProjectInputs::of(&schema));
    }
    config.fit_to_modality();
    args.settings.apply(&mut config)?;
    if let Some(dir) = &args.teacher_project {
        config.teacher_project = Some(lineage::project_folder(dir)?.to_string_lossy().into_owned());
    }
    let teachers: Vec<String> = args.teacher.iter().chain(&args.teachers).cloned().collect();
    if !teachers.is_empty() {
        config.teachers = teachers;
    }
    if let Some(model) = args.model {
        config.model = model;
    }
    if let Some(from) = &args.from {
        config.fine_tune_from = Some(from.clone());
        config.fine_tune_from_project = match &args.from_project {
            Some(dir) => Some(lineage::project_folder(dir)?.to_string_lossy().into_owned()),
            None => None,
        };
        // A run continues with its parent's architecture unless told otherwise.
        let project = args.from_project.as_deref().unwrap_or(&args.dir);
        let parent_config = runs::read_config(project, from)?;
        if args.model.is_none() && args.width.is_none() {
            config.keep_architecture_of(&parent_config);
        }
    }
    apply_run_flags(args, &mut config)?;
    config.validate()?;
    Ok(config)
}

/// The flags that set one field of the run's configuration each
/// (optimisation, model size, choice rule, loss), over the file or preset.
fn apply_run_flags(args: &TrainArgs, config: &mut TrainConfig) -> anyhow::Result<()> {
    if let Some(epochs) = args.freeze_early_epochs {
        config.freeze_early_epochs = epochs;
    }
    if args.class_weights {
        config.loss.class_weights = true;
    }
    if args.no_crop {
        config.crop = false;
    }
    if let Some(epochs) = args.epochs {
        config.epochs = epochs;
    }
    if let Some(depth) = &args.xception_depth {
        let depth: [usize; 3] = depth.as_slice().try_into().map_err(|_| {
            anyhow::anyhow!("--xception-depth takes three counts: ENTRY,MIDDLE,EXIT")
        })?;
        config.xception = config
            .xception
            .with_depth(depth)
            .map_err(|e| anyhow::anyhow!("--xception-depth: {e}"))?;
    }
    if let Some(dilation) = args.xception_down_dilation {
        config.xception.down_dilation = dilation;
    }
    if let Some(rule) = args.choose_by {
        config.choose_by = rule;
    }
    if let Some(source) = args.label_source {
        config.label_source = source;
    }
    if let Some(pooling) = args.eye_pooling {
        config.eye_pooling = pooling;
    }
    if let Some(rate) = args.learning_rate {
        config.learning_rate = rate;
    }
    if let Some(p) = args.dropout {
        config.dropout = p;
    }
    if let Some(n) = args.batch_size {
        config.batch_size = n;
    }
    if let Some(n) = args.labeled_per_batch {
        config.labeled_per_batch = n;
    }
    if let Some(seed) = args.seed {
        config.seed = seed;
    }
    if let Some(size) = args.input_size {
        config.input_size = size;
    }
    if let Some(width) = args.width {
        config.width = width;
    }
    if let Some(fraction) = args.validation_fraction {
        config.validation_fraction = fraction;
    }
    if let Some(weight) = args.focal_weight {
        config.loss.focal_weight = weight;
    }
    if let Some(gamma) = args.focal_gamma {
        config.loss.focal_gamma = gamma;
    }
    Ok(())
}

/// `--slices`, `--slice-count`, `--policy`: any of them makes a series read
/// as slices.
fn apply_slice_args(args: &TrainArgs, config: &mut TrainConfig) {
    use crate::train::config::{SliceConfig, SliceSelection};
    let given = args.slices.is_some() || args.slice_count.is_some() || args.policy.is_some();
    if !given {
        return;
    }
    let slices = config.slices.get_or_insert_with(SliceConfig::default);
    if let Some(selection) = args.slices.as_deref().and_then(SliceSelection::from_name) {
        slices.selection = selection;
    }
    if let Some(k) = args.slice_count {
        slices.count = k;
    }
    if let Some(run) = &args.policy {
        slices.policy = Some(run.clone());
        if args.slices.is_none() {
            slices.selection = SliceSelection::Policy;
        }
    }
    if args.model.is_none() && config.model == ModelKind::I3d {
        config.model = ModelKind::Resnet18;
    }
}

/// The `--json` metrics of one model (the contract's names): a
/// segmentation's `{"dice": {"wt", "tc", "et", "mean"}}`, a classifier's
/// accuracy, AUC, kappa ….
fn metrics_json(m: &Metrics) -> serde_json::Value {
    if let Some(d) = &m.dice {
        return serde_json::json!({
            "dice": { "wt": d.wt, "tc": d.tc, "et": d.et, "mean": d.mean },
        });
    }
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
}

/// `{"run", "epochs", "student": {…}, "teacher": {…} | null, …}`.
pub fn summary_json(summary: &RunSummary) -> serde_json::Value {
    serde_json::json!({
        "run": summary.run,
        "epochs": summary.epochs,
        "chosen_epoch": summary.chosen_epoch,
        "selected_on": summary.selected_on,
        "stopped_early": summary.stopped_early,
        "status": summary.status(),
        "student": metrics_json(&summary.student),
        "teacher": summary.teacher.as_ref().map(metrics_json),
        "eye": summary.eye,
    })
}

/// One line of eye-level metrics: `eyes: 40 (12 referral-warranted), …`.
pub fn eye_line(eye: &crate::train::eyes::EyeMetrics) -> String {
    let or_dash = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.3}"));
    format!(
        "eyes: {} ({} referral-warranted), stage accuracy {:.3}, referral AUC {} ({} pooling), \
         sensitivity at 90 % specificity {}",
        eye.eyes,
        eye.referral_eyes,
        eye.accuracy,
        or_dash(eye.referral_auc),
        eye.pooling,
        or_dash(eye.sensitivity_at_90_specificity)
    )
}

/// Prints a run's events on standard error as they come: its pools, each
/// step's loss on a terminal, each epoch's test and validation scores.
fn print_progress(receiver: std::sync::mpsc::Receiver<TrainEvent>, terminal: bool) {
    let mut steps_per_epoch = 1;
    for event in receiver {
        match event {
            TrainEvent::Started {
                run,
                steps_per_epoch: steps,
                labeled,
                validation,
                unlabeled,
                test,
                skipped,
                ..
            } => {
                steps_per_epoch = steps;
                for why in &skipped {
                    eprintln!("skipped {why}");
                }
                eprintln!(
                    "run {run}: {labeled} labeled (+{validation} held out for validation), {unlabeled} unlabeled, {test} test images; {steps} steps per epoch"
                );
            }
            TrainEvent::Step {
                epoch,
                step,
                values,
                images_per_second,
            } if terminal => {
                eprint!(
                    "\repoch {} step {}/{} loss {:.4} ({:.0} images/s)   ",
                    epoch + 1,
                    step + 1,
                    steps_per_epoch,
                    values.get(series::TOTAL_LOSS).copied().unwrap_or(f64::NAN),
                    images_per_second
                );
            }
            TrainEvent::Epoch(record) => {
                let value = |name: &str| {
                    record
                        .series
                        .get(name)
                        .map_or("-".to_string(), |v| format!("{v:.3}"))
                };
                if record.student.dice.is_some() {
                    eprintln!(
                        "\repoch {}: loss {}, test Dice WT/TC/ET {}/{}/{} (mean {}), teacher mean {}, validation mean {} ({:.1} s)",
                        record.epoch + 1,
                        value(series::TOTAL_LOSS),
                        value("metric/student/dice_wt"),
                        value("metric/student/dice_tc"),
                        value("metric/student/dice_et"),
                        value("metric/student/dice_mean"),
                        value("metric/teacher/dice_mean"),
                        value("validation/student/dice_mean"),
                        record.seconds
                    );
                    continue;
                }
                eprintln!(
                    "\repoch {}: loss {}, test accuracy student {} teacher {}, validation accuracy {} ({:.1} s)",
                    record.epoch + 1,
                    value(series::TOTAL_LOSS),
                    value("metric/student/accuracy"),
                    value("metric/teacher/accuracy"),
                    ["validation/teacher/accuracy", "validation/student/accuracy"]
                        .iter()
                        .find_map(|name| record.series.get(*name))
                        .map_or("-".to_string(), |v| format!("{v:.3}")),
                    record.seconds
                );
            }
            _ => {}
        }
    }
}

/// SIGTERM or SIGINT (Ctrl-C) asks the run to stop between two steps, so
/// it finishes its record (checkpoints, `summary.json` with status
/// `stopped` and the epoch reached) and leaves no temporary file; a second
/// signal while stopping ends the process at once (exit status 1).
fn stop_on_signals(
    commands: std::sync::mpsc::Sender<TrainCommand>,
) -> anyhow::Result<std::sync::Arc<std::sync::atomic::AtomicBool>> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    use std::sync::atomic::{AtomicBool, Ordering};
    let flag = std::sync::Arc::new(AtomicBool::new(false));
    for signal in [SIGTERM, SIGINT] {
        signal_hook::flag::register_conditional_shutdown(signal, 1, flag.clone())
            .context("cannot listen for signals")?;
        signal_hook::flag::register(signal, flag.clone()).context("cannot listen for signals")?;
    }
    let watched = flag.clone();
    std::thread::spawn(move || {
        // A flag set by the handler, polled: a handler may not do more.
        while !watched.load(Ordering::SeqCst) {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        eprintln!("\nstopping after this step: finishing the run's record…");
        let _ = commands.send(TrainCommand::Stop);
    });
    Ok(flag)
}

pub fn run(args: &TrainArgs) -> anyhow::Result<()> {
    let compute = compute_device(args.device)?;
    let config = configuration(args, &compute)?;
    let (events, receiver) = channel();
    let (commands, command_receiver) = channel();
    let signalled = stop_on_signals(commands)?;
    let terminal = std::io::stderr().is_terminal();
    let printer = std::thread::spawn(move || print_progress(receiver, terminal));
    eprintln!(
        "training {} ({}) on {}",
        config.method.name(),
        config.model.name(),
        compute.description
    );
    let threads = args
        .threads
        .unwrap_or_else(|| threads::default_threads(false));
    // Events and commands move onto the pool's thread; the printer ends
    // when the run drops the event sender.
    let (dir, run_config) = (args.dir.clone(), config.clone());
    let result = threads::with_threads(threads, move || {
        run::train(
            &dir,
            &run_config,
            &compute,
            RASTERIZE,
            &events,
            &command_receiver,
        )
    })
    .and_then(|result| result);
    let _ = printer.join();
    let summary = result?;
    if signalled.load(std::sync::atomic::Ordering::SeqCst) {
        eprintln!(
            "stopped by a signal after {} epochs; run {} is saved (summary.json, status stopped)",
            summary.epochs, summary.run
        );
    }
    if let Some(epoch) = summary.chosen_epoch {
        eprintln!(
            "reporting epoch {} (chosen on the {})",
            epoch + 1,
            match summary.selected_on {
                crate::train::events::Selection::Validation => "validation split",
                crate::train::events::Selection::LastEpoch => "last epoch: no validation split",
            }
        );
    }
    if let Some(eye) = &summary.eye {
        eprintln!("{}", eye_line(eye));
    }
    if args.json {
        let mut json = summary_json(&summary);
        json["parent"] = match lineage::RunRef::parent_of(&args.dir, &config) {
            Some(parent) => serde_json::json!({
                "project": parent.project,
                "run": parent.run,
            }),
            None => serde_json::Value::Null,
        };
        println!("{json}");
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
    let count = inference::predict_run(&args.dir, &args.run, &compute, RASTERIZE)?;
    if args.json {
        println!(
            "{}",
            serde_json::json!({ "run": args.run, "predictions": count })
        );
    } else {
        let segments = runs::read_config(&args.dir, &args.run)?.method.segments();
        if segments {
            println!(
                "wrote {count} predicted label maps to runs/{}/predictions/",
                args.run
            );
        } else {
            println!("stored {count} predictions from run {}", args.run);
        }
    }
    Ok(())
}

#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// Also give the student's class probabilities for every test item
    /// (with `--json`: `"test_items"`, and `"labeled_prior"`, the labeled
    /// pool's class frequencies; otherwise a line per item).
    #[arg(long)]
    pub items: bool,
}

/// `loupe eval`: a saved run's reported checkpoint (student and teacher) on the test pool.
pub fn eval(eval_args: &EvalArgs) -> anyhow::Result<()> {
    let args = &eval_args.run;
    let compute = compute_device(args.device)?;
    let (summary, items) = if eval_args.items {
        let (summary, items) =
            inference::evaluate_run_with_items(&args.dir, &args.run, &compute, RASTERIZE)?;
        (summary, Some(items))
    } else {
        let summary = inference::evaluate_run(&args.dir, &args.run, &compute, RASTERIZE)?;
        (summary, None)
    };
    if args.json {
        let mut json = summary_json(&summary);
        if let Some(items) = &items {
            json["test_items"] = items
                .ids
                .iter()
                .zip(&items.labels)
                .zip(&items.probabilities)
                .map(|((id, label), p)| {
                    serde_json::json!({ "item": id, "label": label, "probabilities": p })
                })
                .collect();
            json["labeled_prior"] = serde_json::json!(items.labeled_prior);
        }
        println!("{json}");
    } else {
        for ((id, label), p) in items.iter().flat_map(|items| {
            items
                .ids
                .iter()
                .zip(&items.labels)
                .zip(&items.probabilities)
        }) {
            let p: Vec<String> = p.iter().map(|v| format!("{v:.3}")).collect();
            println!("item {id}: class {label}, probabilities {}", p.join(" "));
        }
        for (who, metrics) in [
            ("student", Some(&summary.student)),
            ("teacher", summary.teacher.as_ref()),
        ] {
            if let Some(d) = metrics.and_then(|m| m.dice) {
                println!(
                    "{who}: Dice WT {:.3}, TC {:.3}, ET {:.3}, mean {:.3}",
                    d.wt, d.tc, d.et, d.mean
                );
            } else if let Some(m) = metrics {
                println!(
                    "{who}: accuracy {:.3}, mean AUC {}, kappa {}, F1 {:.3}",
                    m.accuracy,
                    m.auc.map_or("-".into(), |a| format!("{a:.3}")),
                    m.kappa.map_or("-".into(), |k| format!("{k:.3}")),
                    m.f1
                );
            }
        }
        if let Some(eye) = &summary.eye {
            println!("{}", eye_line(eye));
        }
    }
    Ok(())
}

#[derive(Debug, clap::Args)]
pub struct ExplainArgs {
    pub dir: PathBuf,
    /// The run's id (a run on the tabular record).
    #[arg(long)]
    pub run: String,
    /// Explain this item (id or path; a case's name): its Shapley values.
    #[arg(long)]
    pub item: Option<String>,
    /// Shuffles per column for the permutation importance (1–1000).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub repeats: u16,
    #[arg(long, value_enum, default_value = "flex")]
    pub device: DeviceArg,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// `loupe explain`: one case's Shapley values, or the global table.
pub fn explain(args: &ExplainArgs) -> anyhow::Result<()> {
    use crate::train::explain::Explainer;
    let compute = compute_device(args.device)?;
    let explainer = Explainer::load(&args.dir, &args.run, &compute.device, RASTERIZE)?;
    let Some(item) = &args.item else {
        let table = explainer.global(usize::from(args.repeats));
        if args.json {
            println!("{}", serde_json::json!({ "features": table }));
        } else {
            println!(
                "{:<28} {:>22} {:>14}",
                "column", "permutation importance", "mean |SHAP|"
            );
            for c in &table {
                println!(
                    "{:<28} {:>13.3} ± {:<6.3} {:>14.4}",
                    c.name, c.importance_mean, c.importance_sd, c.mean_abs_shap
                );
            }
        }
        return Ok(());
    };
    let project = Project::open(&args.dir)?;
    let id = match project.case_names()?.iter().find(|(_, n)| *n == item) {
        Some((id, _)) => *id,
        None => project.find_item(item)?.id,
    };
    let explanation = explainer
        .explain(id)
        .with_context(|| format!("item {item} is not a case this run can read"))?;
    let features: Vec<serde_json::Value> = explainer
        .players
        .iter()
        .zip(&explanation.shapley)
        .map(|((name, _), shap)| {
            serde_json::json!({
                "name": name,
                "value": Explainer::record_value(&project, id, name),
                "shap": shap,
            })
        })
        .collect();
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "base": explanation.base,
                "features": features,
                "prediction": explanation.prediction,
            })
        );
    } else {
        println!("base (mean over the background) {:.4}", explanation.base);
        for f in &features {
            println!(
                "{:<28} {:>10} {:+.4}",
                f["name"].as_str().unwrap_or(""),
                f["value"].as_str().unwrap_or("unknown"),
                f["shap"].as_f64().unwrap_or(0.0)
            );
        }
        println!("prediction {:.4}", explanation.prediction);
    }
    Ok(())
}
