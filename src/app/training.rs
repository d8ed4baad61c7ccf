//! Training in the window: the panel's settings, the run going on in a
//! background thread on the shared compute device (talked to only through
//! channels: commands in, events out), the named series it has reported so
//! far, and past runs to overlay. Owner of [`TrainingCommand`]s.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender, TryRecvError, channel};
use std::time::Instant;

use crate::train::config::{DeviceKind, TrainConfig};
use crate::train::data::Rasterize;
use crate::train::device::{self, ComputeDevice, DeviceError, WgpuHandles};
use crate::train::events::{EpochRecord, RunSummary, Scalars, TrainCommand, TrainEvent};
use crate::train::lineage::{self, Ancestor};
use crate::train::presets::{self, Preset};
use crate::train::runs::{self, PastRun, RunRow};
use crate::train::{run, threads};

/// What training sees of an item: the viewer's middle-axial rendering.
pub const RASTERIZE: Rasterize = crate::render::cpu::middle_axial_slice;

/// Burn on the display's wgpu device, as eframe (or a headless setup) made it.
pub fn display_compute(
    render_state: &egui_wgpu::RenderState,
) -> Result<ComputeDevice, DeviceError> {
    device::shared_wgpu(&WgpuHandles {
        instance: render_state.instance.clone(),
        adapter: render_state.adapter.clone(),
        device: render_state.device.clone(),
        queue: render_state.queue.clone(),
    })
}

#[derive(Clone, Debug, PartialEq)]
pub enum TrainingStatus {
    Starting,
    Running,
    Paused,
    Finished,
    Stopped,
    Failed(String),
}

/// One run as the training panel shows it.
pub struct TrainingRun {
    pub config: TrainConfig,
    pub device: String,
    pub run: Option<String>,
    pub status: TrainingStatus,
    /// (epoch + fraction, named values) per step.
    pub steps: Vec<(f64, Scalars)>,
    pub epochs: Vec<EpochRecord>,
    pub epochs_planned: usize,
    pub steps_per_epoch: usize,
    pub images_per_second: f64,
    pub started: Instant,
    /// Time spent paused so far, and since when the run is paused now:
    /// the pace (and so the time left) counts running time only.
    paused_for: std::time::Duration,
    paused_since: Option<Instant>,
    pub summary: Option<RunSummary>,
    events: Receiver<TrainEvent>,
    commands: Sender<TrainCommand>,
    /// Items the run left out, each with why (shown under the run).
    pub skipped: Vec<String>,
    result: Receiver<Result<RunSummary, String>>,
}

impl TrainingRun {
    /// Starts the configured method (any registered one, classifying or
    /// segmenting) on `root` in a background thread, its CPU kernels on a
    /// pool of `threads` threads.
    pub fn spawn(
        root: PathBuf,
        config: TrainConfig,
        compute: ComputeDevice,
        threads: usize,
    ) -> Self {
        let (events_tx, events) = channel();
        let (commands, commands_rx) = channel();
        let (result_tx, result) = channel();
        let thread_config = config.clone();
        let device = compute.description.clone();
        std::thread::Builder::new()
            .name("loupe-training".into())
            .spawn(move || {
                // A panic inside Burn or a method is the run's failure, told
                // to the panel like any error, not a thread gone silently.
                let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    // Moved in: the pool runs it on one of its own threads.
                    threads::with_threads(threads, move || {
                        run::train(
                            &root,
                            &thread_config,
                            &compute,
                            RASTERIZE,
                            &events_tx,
                            &commands_rx,
                        )
                    })
                    .and_then(|result| result)
                    .map_err(|e| e.to_string())
                }))
                .unwrap_or_else(|panic| {
                    Err(format!("training crashed: {}", panic_message(&*panic)))
                });
                let _ = result_tx.send(outcome);
            })
            .ok();
        Self {
            epochs_planned: config.epochs,
            config,
            device,
            run: None,
            status: TrainingStatus::Starting,
            steps: Vec::new(),
            epochs: Vec::new(),
            steps_per_epoch: 1,
            images_per_second: 0.0,
            started: Instant::now(),
            paused_for: std::time::Duration::ZERO,
            paused_since: None,
            summary: None,
            skipped: Vec::new(),
            events,
            commands,
            result,
        }
    }

    pub fn send(&self, command: TrainCommand) {
        let _ = self.commands.send(command);
    }

    pub fn is_active(&self) -> bool {
        matches!(
            self.status,
            TrainingStatus::Starting | TrainingStatus::Running | TrainingStatus::Paused
        )
    }

    /// Fraction of all steps done.
    pub fn progress(&self) -> f64 {
        let total = (self.steps_per_epoch * self.epochs_planned).max(1);
        self.steps.len() as f64 / total as f64
    }

    /// Seconds the run has spent running (paused time left out).
    pub fn running_seconds(&self) -> f64 {
        let paused_now = self
            .paused_since
            .map_or(std::time::Duration::ZERO, |t| t.elapsed());
        self.started
            .elapsed()
            .saturating_sub(self.paused_for + paused_now)
            .as_secs_f64()
    }

    /// Seconds left at the pace so far; none while paused (the time left
    /// is not running out) or before the first step.
    pub fn eta_seconds(&self) -> Option<f64> {
        let progress = self.progress();
        (progress > 0.0 && self.status == TrainingStatus::Running)
            .then(|| self.running_seconds() * (1.0 - progress) / progress)
    }

    fn set_paused(&mut self, paused: bool) {
        match (paused, self.paused_since) {
            (true, None) => self.paused_since = Some(Instant::now()),
            (false, Some(since)) => {
                self.paused_for += since.elapsed();
                self.paused_since = None;
            }
            _ => {}
        }
        self.status = if paused {
            TrainingStatus::Paused
        } else {
            TrainingStatus::Running
        };
    }

    /// Takes what the run reported. Returns true when the run just ended.
    pub fn poll(&mut self) -> bool {
        while let Ok(event) = self.events.try_recv() {
            match event {
                TrainEvent::Started {
                    run,
                    epochs,
                    steps_per_epoch,
                    skipped,
                    ..
                } => {
                    self.skipped = skipped;
                    self.run = Some(run);
                    self.epochs_planned = epochs;
                    self.steps_per_epoch = steps_per_epoch.max(1);
                    self.status = TrainingStatus::Running;
                }
                TrainEvent::Step {
                    epoch,
                    step,
                    values,
                    images_per_second,
                } => {
                    let x = epoch as f64 + (step + 1) as f64 / self.steps_per_epoch as f64;
                    self.steps.push((x, values));
                    self.images_per_second = images_per_second;
                }
                TrainEvent::Epoch(record) => self.epochs.push(*record),
                TrainEvent::Paused => self.set_paused(true),
                TrainEvent::Resumed => self.set_paused(false),
                TrainEvent::Finished(summary) => {
                    self.status = if summary.stopped_early {
                        TrainingStatus::Stopped
                    } else {
                        TrainingStatus::Finished
                    };
                    self.summary = Some(*summary);
                }
            }
        }
        match self.result.try_recv() {
            Ok(Err(message)) => {
                self.status = TrainingStatus::Failed(message);
                true
            }
            Ok(Ok(_)) => true,
            Err(TryRecvError::Empty) => false,
            // The thread ended without a word (it could not start, or died
            // past the catch): a failure the user can start again from.
            Err(TryRecvError::Disconnected) => {
                if self.is_active() {
                    self.status = TrainingStatus::Failed(
                        "training stopped unexpectedly (its thread ended without a result)".into(),
                    );
                    true
                } else {
                    false
                }
            }
        }
    }
}

/// The text of a panic's payload.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

/// The training panel's state.
pub struct Training {
    /// CPU threads a run may use (default: all cores but one, for drawing).
    pub threads: usize,
    /// Settings for the next run.
    pub config: TrainConfig,
    /// Train on the CPU (`flex`) instead of the display's GPU.
    pub on_cpu: bool,
    /// The current or last run started from the window.
    pub run: Option<TrainingRun>,
    /// Past runs of the open project (the runs table).
    pub past_runs: Vec<PastRun>,
    /// The past run the panel shows (its curves when no run is going, its
    /// confusion matrix, ROC and lineage): a row clicked in the runs table.
    pub selected: Option<String>,
    /// Past runs drawn beside the shown one, curves and final metrics.
    pub compare: Vec<String>,
    /// How the curves are drawn.
    pub curves: CurveView,
    /// The runs table's order.
    pub run_order: RunOrder,
    /// The settings the open project started from, and what it offers a
    /// run to read (*Reset to preset*).
    project_preset: Option<(TrainConfig, presets::ProjectInputs)>,
    pub show: bool,
    /// Runs with a checkpoint in the other project the next run would start
    /// from (`config.fine_tune_from_project`), oldest first.
    pub parent_project_runs: Vec<String>,
    /// Where the run shown in the panel (the window's run, else the
    /// overlay) came from, nearest parent first.
    pub lineage: Vec<Ancestor>,
    /// The runs folder as last listed ([`runs::signature`]) and when, so
    /// runs started elsewhere (the command line, another workstation)
    /// appear and grow in the table.
    runs_seen: (Vec<(String, u64, bool)>, Option<std::time::Instant>),
}

/// How often the window looks at the runs folder for runs of others.
pub const RUNS_LOOKED_AT_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

impl Default for Training {
    fn default() -> Self {
        Self {
            threads: threads::default_threads(true),
            config: TrainConfig::default(),
            on_cpu: false,
            run: None,
            past_runs: Vec::new(),
            selected: None,
            compare: Vec::new(),
            curves: CurveView::default(),
            run_order: RunOrder::default(),
            project_preset: None,
            runs_seen: (Vec::new(), None),
            show: false,
            parent_project_runs: Vec::new(),
            lineage: Vec::new(),
        }
    }
}

/// Where a window run would go, and the project it would train on.
pub struct TrainingTarget<'a> {
    pub project_root: Option<&'a Path>,
    pub compute: Option<&'a ComputeDevice>,
}

impl Training {
    /// A project was opened: its runs, and the preset for its schema on the
    /// device the panel will use (the CPU where the display has no real GPU
    /// shared with Burn).
    pub fn project_opened(
        &mut self,
        root: &Path,
        schema: &crate::store::Schema,
        display: DeviceKind,
    ) {
        let schema_name = schema.name.as_str();
        self.past_runs = runs::list(root);
        self.lineage.clear();
        // Another project's runs are not this one's to show or compare.
        self.selected = None;
        self.compare.clear();
        if self.run.as_ref().is_none_or(|r| !r.is_active()) {
            // A parent chosen for another project's run is not this one's.
            self.config.fine_tune_from = None;
            self.config.fine_tune_from_project = None;
            self.parent_project_runs.clear();
        }
        // Without a real GPU, flex is the faster choice (a software adapter is slower still).
        self.on_cpu = self.on_cpu || display == DeviceKind::Cpu;
        let device = if self.on_cpu {
            DeviceKind::Cpu
        } else {
            DeviceKind::Gpu
        };
        let preset = Preset::for_project(schema_name, device).config_for(schema);
        if self.run.as_ref().is_none_or(|r| !r.is_active()) && preset.method.segments() {
            // A segmentation project starts from its own settings whole
            // (the four-sequence U-Net); only the seed carries over.
            self.config = TrainConfig {
                seed: self.config.seed,
                ..preset
            };
        } else if self.run.as_ref().is_none_or(|r| !r.is_active()) {
            if self.config.method.segments() {
                // Label maps are another project's way of learning.
                self.config.method = preset.method;
            }
            self.config = Preset::for_project(schema_name, device).apply_to(&self.config);
            // The schema's own loss and way of reading a series (slices for bone).
            self.config.loss = preset.loss;
            self.config.slices = preset.slices;
            // Eye grades in a screening project, image labels elsewhere.
            self.config.label_source = preset.label_source;
            self.config.modalities = vec![default_input(schema, &self.config.modalities)];
            // Teacher runs are this project's.
            self.config.teachers.clear();
            self.config.fit_to_modality();
            // A method that cannot read the input (mean teacher on a record)
            // gives way to the first method that can.
            if let Some(method) = presets::method_for_input(&self.config) {
                self.config.method = method;
            }
        }
        self.project_preset = Some((self.config.clone(), presets::ProjectInputs::of(schema)));
    }

    /// Re-reads the runs when the runs folder changed since it was last
    /// looked at (at most every [`RUNS_LOOKED_AT_EVERY`], or now when
    /// `now` is set); returns whether it did.
    pub fn notice_runs_of_others(&mut self, root: &Path, now: bool) -> bool {
        let due = self
            .runs_seen
            .1
            .is_none_or(|at| at.elapsed() >= RUNS_LOOKED_AT_EVERY);
        if !(now || due) {
            return false;
        }
        let signature = runs::signature(root);
        self.runs_seen.1 = Some(std::time::Instant::now());
        if signature == self.runs_seen.0 {
            return false;
        }
        self.runs_seen.0 = signature;
        self.past_runs = runs::list(root);
        true
    }

    /// Takes the run's reports; returns its failure message when it just failed,
    /// and whether it just ended.
    pub fn poll(&mut self, project_root: Option<&Path>) -> (bool, Option<String>) {
        let ended = self.run.as_mut().is_some_and(|r| r.poll());
        if !ended {
            return (false, None);
        }
        if let Some(root) = project_root {
            self.past_runs = runs::list(root);
        }
        let failure = match self.run.as_ref().map(|r| &r.status) {
            Some(TrainingStatus::Failed(message)) => Some(message.clone()),
            _ => None,
        };
        (true, failure)
    }

    fn send(&self, command: TrainCommand) {
        if let Some(run) = &self.run {
            run.send(command);
        }
    }

    /// Applies a training command; an error is for the user.
    pub fn apply(
        &mut self,
        command: TrainingCommand,
        target: TrainingTarget<'_>,
    ) -> Result<(), String> {
        match command {
            TrainingCommand::Show(show) => self.show = show,
            TrainingCommand::SetOnCpu(cpu) => self.on_cpu = cpu,
            TrainingCommand::SetThreads(n) => {
                if !(1..=threads::MAX_THREADS).contains(&n) {
                    return Err(format!(
                        "threads {n} must be between 1 and {}",
                        threads::MAX_THREADS
                    ));
                }
                self.threads = n;
            }
            TrainingCommand::SetConfig(config) => self.config = *config,
            TrainingCommand::Start => {
                if self.run.as_ref().is_some_and(|r| r.is_active()) {
                    return Err("a training run is already going; stop it first".into());
                }
                let (Some(root), Some(compute)) = (target.project_root, target.compute) else {
                    return Err("open a project with labeled images to train".into());
                };
                self.config.validate().map_err(|e| e.to_string())?;
                let compute = if self.on_cpu {
                    device::flex()
                } else {
                    compute.clone()
                };
                self.lineage = lineage::lineage(root, &self.config);
                self.run = Some(TrainingRun::spawn(
                    root.to_path_buf(),
                    self.config.clone(),
                    compute,
                    self.threads,
                ));
            }
            TrainingCommand::Pause => self.send(TrainCommand::Pause),
            TrainingCommand::Resume => self.send(TrainCommand::Resume),
            TrainingCommand::Stop => self.send(TrainCommand::Stop),
            TrainingCommand::Select(run) => {
                if let Some(root) = target.project_root {
                    let config = run
                        .as_ref()
                        .and_then(|id| self.past_runs.iter().find(|r| &r.id == id))
                        .and_then(|r| r.config.as_ref());
                    self.lineage = config.map_or_else(Vec::new, |c| lineage::lineage(root, c));
                }
                self.selected = run;
            }
            TrainingCommand::Compare { run, on } => {
                self.compare.retain(|r| r != &run);
                if on {
                    self.compare.push(run);
                }
            }
            TrainingCommand::ResetToPreset => {
                if let Some((preset, project)) = &self.project_preset {
                    let mut config = TrainConfig {
                        seed: self.config.seed,
                        ..preset.clone()
                    };
                    presets::switch_method(&mut config, self.config.method, project);
                    self.config = config;
                }
            }
            TrainingCommand::SetCurveView(view) => self.curves = view.clamped(),
            TrainingCommand::SortRuns(column) => self.run_order.sort_by(column),
            TrainingCommand::DeleteRun(id) => self.delete_run(&id, target.project_root)?,
            TrainingCommand::FineTuneFrom { project, run } => {
                self.fine_tune_from(project, run, target.project_root)?
            }
        }
        Ok(())
    }

    /// Deletes a past run (not the one going on) and lists the runs again.
    fn delete_run(&mut self, id: &str, root: Option<&Path>) -> Result<(), String> {
        let root = root.ok_or("open a project first")?;
        let live = self
            .run
            .as_ref()
            .filter(|r| r.is_active())
            .and_then(|r| r.run.as_deref());
        if live == Some(id) {
            return Err(format!("run {id} is still going: stop it first"));
        }
        runs::delete(root, id).map_err(|e| e.to_string())?;
        self.past_runs = runs::list(root);
        self.compare.retain(|r| r != id);
        if self.selected.as_deref() == Some(id) {
            self.selected = None;
            self.lineage.clear();
        }
        if self.config.fine_tune_from.as_deref() == Some(id)
            && self.config.fine_tune_from_project.is_none()
        {
            self.config.fine_tune_from = None;
        }
        self.config.teachers.retain(|t| t != id);
        Ok(())
    }

    /// The runs table's rows, in its order; the window's own run says
    /// whether it is running, paused or failed.
    pub fn run_rows(&self) -> Vec<RunRow> {
        let live = self
            .run
            .as_ref()
            .and_then(|r| Some((r.run.as_deref()?, &r.status)));
        let mut rows: Vec<RunRow> = self
            .past_runs
            .iter()
            .map(|past| {
                let mut row = past.row();
                if let Some((id, status)) = live
                    && id == row.id
                {
                    match status {
                        TrainingStatus::Running | TrainingStatus::Starting => {
                            row.status = "running".into()
                        }
                        TrainingStatus::Paused => row.status = "paused".into(),
                        TrainingStatus::Failed(_) => row.status = "failed".into(),
                        _ => {}
                    }
                }
                row
            })
            .collect();
        // The window's run is listed while it goes on (its folder is read
        // into the list when it ends).
        if let Some(run) = &self.run
            && let Some(id) = &run.run
            && !rows.iter().any(|r| &r.id == id)
        {
            let mut row = RunRow::of(id, Some(&run.config), &run.epochs, run.summary.as_ref());
            row.status = match &run.status {
                TrainingStatus::Paused => "paused",
                TrainingStatus::Failed(_) => "failed",
                TrainingStatus::Finished => "finished",
                TrainingStatus::Stopped => "stopped",
                TrainingStatus::Starting | TrainingStatus::Running => "running",
            }
            .into();
            rows.push(row);
        }
        self.run_order.sort(&mut rows);
        rows
    }

    /// Sets the next run's parent (see [`TrainingCommand::FineTuneFrom`]).
    fn fine_tune_from(
        &mut self,
        project: Option<PathBuf>,
        run: Option<String>,
        root: Option<&Path>,
    ) -> Result<(), String> {
        let project = match project {
            Some(dir) => {
                let folder = lineage::project_folder(&dir).map_err(|e| e.to_string())?;
                if root.is_some_and(|r| r.canonicalize().is_ok_and(|r| r == folder)) {
                    return Err(format!(
                        "{} is the open project: choose one of its runs instead",
                        dir.display()
                    ));
                }
                self.parent_project_runs = runs::list(&folder)
                    .into_iter()
                    .filter(|r| !r.epochs.is_empty())
                    .map(|r| r.id)
                    .collect();
                Some(folder)
            }
            None => {
                self.parent_project_runs.clear();
                None
            }
        };
        let run = match (&project, run) {
            (_, Some(run)) => Some(run),
            (Some(folder), None) => {
                Some(self.parent_project_runs.last().cloned().ok_or_else(|| {
                    format!(
                        "{} has no run with a checkpoint to start from",
                        folder.display()
                    )
                })?)
            }
            (None, None) => None,
        };
        if let Some(run) = &run {
            let in_project = project.as_deref().or(root).ok_or("open a project first")?;
            let parent = runs::read_config(in_project, run).map_err(|e| e.to_string())?;
            self.config.keep_architecture_of(&parent);
        }
        self.config.fine_tune_from = run;
        self.config.fine_tune_from_project = project.map(|p| p.to_string_lossy().into_owned());
        Ok(())
    }
}

/// What a run on a project reads unless told otherwise: the image for a
/// project of files; for cases, `current` if it is one of the case's
/// inputs, else the tabular record where there is one, else the first
/// modality.
fn default_input(schema: &crate::store::Schema, current: &[String]) -> String {
    use crate::train::config::{IMAGE_MODALITY, TABULAR_MODALITY};
    if !schema.has_cases() {
        return IMAGE_MODALITY.into();
    }
    let first = current.first().map(String::as_str);
    let fits = |m: &str| {
        (m == TABULAR_MODALITY && !schema.tabular.is_empty())
            || schema.modalities.iter().any(|r| r == m)
    };
    match first {
        Some(m) if fits(m) => m.to_string(),
        _ if !schema.tabular.is_empty() => TABULAR_MODALITY.into(),
        _ => schema
            .modalities
            .first()
            .cloned()
            .unwrap_or_else(|| IMAGE_MODALITY.into()),
    }
}

/// The training panel and its run; applied by [`Training::apply`].
// A settings change carries the whole configuration; a few per second at
// most, moved once: boxing it would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum TrainingCommand {
    Show(bool),
    /// Boxed: a configuration is large beside the other commands.
    SetConfig(Box<TrainConfig>),
    /// Train on the CPU (`flex`) rather than the display's GPU.
    SetOnCpu(bool),
    /// CPU threads a run may use.
    SetThreads(usize),
    /// Train on the open project with the current settings, in the background.
    Start,
    Pause,
    Resume,
    Stop,
    /// Show a past run (`None`: the window's own run, or nothing).
    Select(Option<String>),
    /// Draw a past run beside the shown one (or stop drawing it).
    Compare {
        run: String,
        on: bool,
    },
    SetCurveView(CurveView),
    /// Every setting back to the open project's preset; the method stays.
    ResetToPreset,
    /// Order the runs table by a column (again: the other way round).
    SortRuns(RunColumn),
    /// Delete a past run's folder (asked for in the panel, confirmed there).
    DeleteRun(String),
    /// Where the next run starts: new weights (`run: None`, no project),
    /// a run of this project (`project: None`), or a run of another project
    /// (`run: None` there picks its latest run with a checkpoint). The run's
    /// architecture follows its parent's.
    FineTuneFrom {
        project: Option<PathBuf>,
        run: Option<String>,
    },
}

/// How the curves are drawn: TensorBoard's habits.
#[derive(Clone, Debug, PartialEq)]
pub struct CurveView {
    /// Exponential smoothing of per-step series, 0 (none) to 0.99.
    pub smoothing: f64,
    /// Loss plots on a log scale.
    pub log_losses: bool,
    /// Series switched off in the legends, by name.
    pub hidden: std::collections::BTreeSet<String>,
}

impl Default for CurveView {
    fn default() -> Self {
        Self {
            smoothing: 0.6,
            log_losses: false,
            hidden: Default::default(),
        }
    }
}

impl CurveView {
    pub const MAX_SMOOTHING: f64 = 0.99;

    fn clamped(mut self) -> Self {
        self.smoothing = if self.smoothing.is_finite() {
            self.smoothing.clamp(0.0, Self::MAX_SMOOTHING)
        } else {
            0.0
        };
        self
    }
}

/// A column of the runs table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunColumn {
    Started,
    Method,
    Model,
    Inputs,
    Epochs,
    Chosen,
    Accuracy,
    Auc,
    Dice,
    Status,
    Parent,
}

impl RunColumn {
    pub const ALL: [RunColumn; 11] = [
        RunColumn::Started,
        RunColumn::Method,
        RunColumn::Model,
        RunColumn::Inputs,
        RunColumn::Epochs,
        RunColumn::Chosen,
        RunColumn::Accuracy,
        RunColumn::Auc,
        RunColumn::Dice,
        RunColumn::Status,
        RunColumn::Parent,
    ];

    pub fn title(self) -> &'static str {
        match self {
            RunColumn::Started => "Started (UTC)",
            RunColumn::Method => "Method",
            RunColumn::Model => "Model",
            RunColumn::Inputs => "Inputs",
            RunColumn::Epochs => "Epochs",
            RunColumn::Chosen => "Chosen",
            RunColumn::Accuracy => "Accuracy",
            RunColumn::Auc => "AUC",
            RunColumn::Dice => "Dice",
            RunColumn::Status => "Status",
            RunColumn::Parent => "Parent",
        }
    }

    /// The cell of `row` in this column.
    pub fn cell(self, row: &RunRow) -> String {
        let number = |v: Option<f64>| v.map_or("–".to_string(), |v| format!("{v:.3}"));
        match self {
            RunColumn::Started => row.started.clone(),
            RunColumn::Method => row.method.clone(),
            RunColumn::Model => row.model.clone(),
            RunColumn::Inputs => row.inputs.clone(),
            RunColumn::Epochs => match row.epochs_planned {
                Some(planned) => format!("{}/{planned}", row.epochs),
                None => row.epochs.to_string(),
            },
            RunColumn::Chosen => row.chosen_epoch.map_or("–".into(), |e| (e + 1).to_string()),
            RunColumn::Accuracy => number(row.accuracy),
            RunColumn::Auc => number(row.auc),
            RunColumn::Dice => number(row.dice),
            RunColumn::Status => row.status.clone(),
            RunColumn::Parent => row.parent.clone().unwrap_or_else(|| "–".into()),
        }
    }

    fn compare(self, a: &RunRow, b: &RunRow) -> std::cmp::Ordering {
        // Missing numbers sort below every number.
        let number = |v: Option<f64>| v.unwrap_or(f64::NEG_INFINITY);
        match self {
            RunColumn::Started => a.started_ms.cmp(&b.started_ms),
            RunColumn::Epochs => a.epochs.cmp(&b.epochs),
            RunColumn::Chosen => a.chosen_epoch.cmp(&b.chosen_epoch),
            RunColumn::Accuracy => number(a.accuracy).total_cmp(&number(b.accuracy)),
            RunColumn::Auc => number(a.auc).total_cmp(&number(b.auc)),
            RunColumn::Dice => number(a.dice).total_cmp(&number(b.dice)),
            other => other.cell(a).cmp(&other.cell(b)),
        }
        .then_with(|| a.started_ms.cmp(&b.started_ms))
    }
}

/// The runs table's order: newest first until a header is clicked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunOrder {
    pub column: RunColumn,
    pub descending: bool,
}

impl Default for RunOrder {
    fn default() -> Self {
        Self {
            column: RunColumn::Started,
            descending: true,
        }
    }
}

impl RunOrder {
    /// A header clicked: its column, best (or newest) first; the same one
    /// again: the other way round.
    fn sort_by(&mut self, column: RunColumn) {
        if self.column == column {
            self.descending = !self.descending;
        } else {
            self.column = column;
            self.descending = matches!(
                column,
                RunColumn::Started
                    | RunColumn::Epochs
                    | RunColumn::Accuracy
                    | RunColumn::Auc
                    | RunColumn::Dice
            );
        }
    }

    pub fn sort(&self, rows: &mut [RunRow]) {
        rows.sort_by(|a, b| {
            let order = self.column.compare(a, b);
            if self.descending {
                order.reverse()
            } else {
                order
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, ms: u64, auc: Option<f64>) -> RunRow {
        RunRow {
            id: id.into(),
            started: String::new(),
            started_ms: ms,
            method: "Supervised".into(),
            model: "ResNet-18".into(),
            inputs: "image".into(),
            epochs: 3,
            epochs_planned: Some(3),
            chosen_epoch: None,
            accuracy: None,
            auc,
            dice: None,
            status: "finished".into(),
            parent: None,
        }
    }

    #[test]
    fn the_runs_table_sorts_by_a_column_and_back() {
        let mut rows = vec![
            row("a", 1, Some(0.7)),
            row("b", 2, None),
            row("c", 3, Some(0.9)),
        ];
        let ids = |rows: &[RunRow]| rows.iter().map(|r| r.id.clone()).collect::<Vec<_>>();
        let mut order = RunOrder::default();
        order.sort(&mut rows);
        assert_eq!(ids(&rows), ["c", "b", "a"], "newest first");
        order.sort_by(RunColumn::Auc);
        order.sort(&mut rows);
        assert_eq!(ids(&rows), ["c", "a", "b"], "best AUC first, none last");
        order.sort_by(RunColumn::Auc);
        order.sort(&mut rows);
        assert_eq!(ids(&rows), ["b", "a", "c"]);
        order.sort_by(RunColumn::Method);
        assert!(!order.descending, "names sort A to Z first");
    }

    #[test]
    fn paused_time_is_not_running_time() {
        let (_events_tx, events) = channel();
        let (commands, _commands_rx) = channel();
        let (_result_tx, result) = channel();
        let mut run = TrainingRun {
            config: TrainConfig::default(),
            device: String::new(),
            run: None,
            status: TrainingStatus::Running,
            steps: vec![(0.5, Scalars::new())],
            epochs: Vec::new(),
            epochs_planned: 1,
            steps_per_epoch: 2,
            images_per_second: 0.0,
            started: Instant::now() - std::time::Duration::from_secs(10),
            paused_for: std::time::Duration::ZERO,
            paused_since: None,
            summary: None,
            events,
            commands,
            skipped: Vec::new(),
            result,
        };
        // Half done in 10 s: 10 s to go.
        let eta = run.eta_seconds().unwrap();
        assert!((eta - 10.0).abs() < 0.5, "{eta}");
        run.set_paused(true);
        assert_eq!(
            run.eta_seconds(),
            None,
            "paused: no time left counting down"
        );
        // 30 s pass paused.
        let thirty = std::time::Duration::from_secs(30);
        run.started -= thirty;
        run.paused_since = Some(Instant::now() - thirty);
        run.set_paused(false);
        let eta = run.eta_seconds().unwrap();
        assert!(
            (eta - 10.0).abs() < 0.5,
            "30 s paused do not slow the pace: {eta}"
        );
    }
}
