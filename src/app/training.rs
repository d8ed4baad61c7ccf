//! A training run started from the window: the engine in a background
//! thread on the shared compute device, talked to only through channels
//! (commands in, events out); the curves it has reported so far.

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::Instant;

use crate::train::device::ComputeDevice;
use crate::train::engine::{self, RunSummary, TrainCommand, TrainConfig, TrainEvent};
use crate::train::runs::EpochRecord;
use crate::train::step::StepLosses;

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
pub struct TrainingSession {
    pub config: TrainConfig,
    pub device: String,
    pub run: Option<String>,
    pub status: TrainingStatus,
    /// (epoch + fraction, losses) per step.
    pub steps: Vec<(f64, StepLosses)>,
    pub epochs: Vec<EpochRecord>,
    pub steps_per_epoch: usize,
    pub images_per_second: f64,
    pub started: Instant,
    pub summary: Option<RunSummary>,
    events: Receiver<TrainEvent>,
    commands: Sender<TrainCommand>,
    result: Receiver<Result<RunSummary, String>>,
}

impl TrainingSession {
    /// Starts the engine on `root` in a background thread.
    pub fn start(root: PathBuf, config: TrainConfig, compute: ComputeDevice) -> Self {
        let (events_tx, events) = channel();
        let (commands, commands_rx) = channel();
        let (result_tx, result) = channel();
        let thread_config = config.clone();
        let device = compute.description.clone();
        std::thread::Builder::new()
            .name("loupe-training".into())
            .spawn(move || {
                let outcome =
                    engine::train(&root, &thread_config, &compute, &events_tx, &commands_rx)
                        .map_err(|e| e.to_string());
                let _ = result_tx.send(outcome);
            })
            .ok();
        Self {
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
        let total = (self.steps_per_epoch * self.config.epochs).max(1);
        self.steps.len() as f64 / total as f64
    }

    /// Seconds left at the pace so far.
    pub fn eta_seconds(&self) -> Option<f64> {
        let progress = self.progress();
        (progress > 0.0 && self.is_active())
            .then(|| self.started.elapsed().as_secs_f64() * (1.0 - progress) / progress)
    }

    /// Takes what the engine reported. Returns true when the run just ended.
    pub fn poll(&mut self) -> bool {
        while let Ok(event) = self.events.try_recv() {
            match event {
                TrainEvent::Started {
                    run,
                    steps_per_epoch,
                    ..
                } => {
                    self.run = Some(run);
                    self.steps_per_epoch = steps_per_epoch.max(1);
                    self.status = TrainingStatus::Running;
                }
                TrainEvent::Step {
                    epoch,
                    step,
                    losses,
                    images_per_second,
                } => {
                    let x = epoch as f64 + (step + 1) as f64 / self.steps_per_epoch as f64;
                    self.steps.push((x, losses));
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
            Err(_) => false,
        }
    }
}
