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
use crate::train::runs::{self, PastRun};
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

    /// Seconds left at the pace so far.
    pub fn eta_seconds(&self) -> Option<f64> {
        let progress = self.progress();
        (progress > 0.0 && self.is_active())
            .then(|| self.started.elapsed().as_secs_f64() * (1.0 - progress) / progress)
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
                TrainEvent::Paused => self.status = TrainingStatus::Paused,
                TrainEvent::Resumed => self.status = TrainingStatus::Running,
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
    /// Past runs of the open project (for overlaying curves).
    pub past_runs: Vec<PastRun>,
    /// A past run drawn under the current curves.
    pub overlay: Option<String>,
    pub show: bool,
    /// Runs with a checkpoint in the other project the next run would start
    /// from (`config.fine_tune_from_project`), oldest first.
    pub parent_project_runs: Vec<String>,
    /// Where the run shown in the panel (the window's run, else the
    /// overlay) came from, nearest parent first.
    pub lineage: Vec<Ancestor>,
}

impl Default for Training {
    fn default() -> Self {
        Self {
            threads: threads::default_threads(true),
            config: TrainConfig::default(),
            on_cpu: false,
            run: None,
            past_runs: Vec::new(),
            overlay: None,
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
            TrainingCommand::Overlay(run) => {
                if self.run.is_none()
                    && let Some(root) = target.project_root
                {
                    let config = run
                        .as_ref()
                        .and_then(|id| self.past_runs.iter().find(|r| &r.id == id))
                        .and_then(|r| r.config.as_ref());
                    self.lineage = config.map_or_else(Vec::new, |c| lineage::lineage(root, c));
                }
                self.overlay = run;
            }
            TrainingCommand::FineTuneFrom { project, run } => {
                self.fine_tune_from(project, run, target.project_root)?
            }
        }
        Ok(())
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
    /// Draw a past run's curves under the current ones.
    Overlay(Option<String>),
    /// Where the next run starts: new weights (`run: None`, no project),
    /// a run of this project (`project: None`), or a run of another project
    /// (`run: None` there picks its latest run with a checkpoint). The run's
    /// architecture follows its parent's.
    FineTuneFrom {
        project: Option<PathBuf>,
        run: Option<String>,
    },
}
