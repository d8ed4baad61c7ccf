//! The training engine: runs a method over a project's pools on a compute
//! device, in whatever thread calls it, reporting typed events and obeying
//! pause/resume/stop commands. The window runs it in a background thread;
//! `loupe train` runs it in the foreground. No GUI dependency.

use std::path::Path;
use std::sync::mpsc::{Receiver, Sender, TryRecvError};
use std::time::Instant;

use burn::module::Module;
use burn::optim::{AdamConfig, ModuleOptimizer, SgdConfig};
use burn::tensor::activation::softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::data::{self, Images};
use super::device::ComputeDevice;
use super::metrics::{self, Metrics};
use super::model::{Classifier, ModelKind};
use super::runs::{EpochRecord, RunDir};
use super::schedule::cosine_lr;
use super::step::{
    Augmentation, Batch, MeanTeacherConfig, StepLosses, mean_teacher_step, supervised_step,
};
use crate::store::{Prediction, Project};
use crate::synth::Rng;

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("{0}")]
    Store(#[from] crate::store::StoreError),
    #[error("cannot train: {0}")]
    Data(String),
    #[error(
        "training stopped: the loss became {value} at epoch {epoch}, step {step}; the last good checkpoint is kept"
    )]
    NotFinite { value: f64, epoch: usize, step: u64 },
    #[error("cannot write the run: {0}")]
    Io(#[from] std::io::Error),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    Supervised,
    MeanTeacher,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::Supervised => "supervised",
            Method::MeanTeacher => "mean-teacher",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    Adam,
    Sgd,
}

/// Everything a run depends on; saved as the run's `config.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub method: Method,
    #[serde(default)]
    pub model: ModelKind,
    /// Input edge in pixels (128 keeps CPU runs practical; 224 is the reference).
    pub input_size: usize,
    /// Channels of the first Classifier stage.
    pub width: usize,
    pub dropout: f64,
    pub epochs: usize,
    pub batch_size: usize,
    /// Labeled images in each mean-teacher batch (the rest unlabeled).
    pub labeled_per_batch: usize,
    pub learning_rate: f64,
    pub optimizer: OptimizerKind,
    /// Cosine decay of the learning rate over the run.
    pub cosine_schedule: bool,
    pub mean_teacher: MeanTeacherConfig,
    /// Perturbation strength (older runs' configs lack it: the defaults).
    #[serde(default)]
    pub augmentation: Augmentation,
    pub seed: u64,
    /// Start from this earlier run's last checkpoints (fine-tuning after new labels).
    #[serde(default)]
    pub fine_tune_from: Option<String>,
}

impl TrainConfig {
    /// Refuses settings that cannot train, naming the setting.
    pub fn validate(&self) -> Result<(), TrainError> {
        let bad = |m: String| Err(TrainError::Data(m));
        if self.input_size < 8 || self.input_size > 1024 {
            return bad(format!(
                "input size {} must be between 8 and 1024 pixels",
                self.input_size
            ));
        }
        if self.width == 0 || self.width > 512 {
            return bad(format!("width {} must be between 1 and 512", self.width));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad(format!("dropout {} must be in [0, 1)", self.dropout));
        }
        if self.batch_size == 0 || !(self.learning_rate > 0.0 && self.learning_rate.is_finite()) {
            return bad("batch size and learning rate must be positive".into());
        }
        let a = &self.augmentation;
        if !(0.0..=180.0).contains(&a.rotation_degrees) || !(0.0..=0.5).contains(&a.translation) {
            return bad(format!(
                "augmentation rotation {}° must be in [0, 180] and translation {} in [0, 0.5]",
                a.rotation_degrees, a.translation
            ));
        }
        if !(0.0..1.0).contains(&self.mean_teacher.ema_decay) {
            return bad(format!(
                "EMA decay {} must be in [0, 1)",
                self.mean_teacher.ema_decay
            ));
        }
        Ok(())
    }

    /// Settings measured best for fundus photographs on the CPU (the README's
    /// label-efficiency table): small enough to train on two cores in minutes
    /// (64 px, width 8), long enough for a few labels to be fitted (150
    /// epochs), any rotation (fundus photographs have no preferred angle; at
    /// ±10° the supervised baseline sat on chance-level plateaus), no dropout
    /// (0.2 stalled both methods at this learning rate), and a consistency
    /// weight of 3 (1 let the student overfit its labels, 10 held it back).
    pub fn fundus_on_cpu() -> Self {
        Self {
            input_size: 64,
            width: 8,
            dropout: 0.0,
            epochs: 150,
            learning_rate: 3e-3,
            mean_teacher: MeanTeacherConfig {
                consistency_weight: 3.0,
                ..MeanTeacherConfig::default()
            },
            augmentation: Augmentation {
                rotation_degrees: 180.0,
                ..Augmentation::default()
            },
            ..Self::default()
        }
    }
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            method: Method::MeanTeacher,
            model: ModelKind::Resnet18,
            input_size: 128,
            width: 16,
            dropout: 0.2,
            epochs: 30,
            batch_size: 16,
            labeled_per_batch: 4,
            learning_rate: 1e-3,
            optimizer: OptimizerKind::Adam,
            cosine_schedule: true,
            mean_teacher: MeanTeacherConfig::default(),
            augmentation: Augmentation::default(),
            seed: 1,
            fine_tune_from: None,
        }
    }
}

/// What the engine reports while it runs.
#[derive(Clone, Debug)]
pub enum TrainEvent {
    Started {
        run: String,
        steps_per_epoch: usize,
        labeled: usize,
        unlabeled: usize,
        test: usize,
    },
    Step {
        epoch: usize,
        step: usize,
        losses: StepLosses,
        images_per_second: f64,
    },
    Epoch(Box<EpochRecord>),
    Paused,
    Resumed,
    Finished(Box<RunSummary>),
}

/// Commands the engine obeys between steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrainCommand {
    Pause,
    Resume,
    Stop,
}

/// The outcome of a run on the test pool.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunSummary {
    pub run: String,
    pub epochs: usize,
    pub student: Metrics,
    pub teacher: Option<Metrics>,
    pub stopped_early: bool,
}

/// Stochastic passes for the MC-dropout uncertainty.
pub const MC_DROPOUT_PASSES: usize = 8;

fn tensor4(pixels: Vec<f32>, count: usize, size: usize, device: &Device) -> Tensor<4> {
    Tensor::<1>::from_data(TensorData::new(pixels, [count * 3 * size * size]), device)
        .reshape([count, 3, size, size])
}

/// Class probabilities of every image in `images` by `model` (validation mode).
pub fn predict(model: &Classifier, images: &Images, device: &Device) -> Vec<Vec<f32>> {
    let model = model.valid();
    let device = device.clone().without_autodiff();
    let mut out = Vec::with_capacity(images.len());
    let indices: Vec<usize> = (0..images.len()).collect();
    for chunk in indices.chunks(32) {
        let x = tensor4(images.gather(chunk), chunk.len(), images.size, &device);
        let (logits, _) = model.forward(x);
        let probabilities: Vec<f32> = softmax(logits, 1)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap_or_default();
        let classes = probabilities.len() / chunk.len().max(1);
        out.extend(probabilities.chunks(classes.max(1)).map(|c| c.to_vec()));
    }
    out
}

/// Entropy of a probability vector in nats.
pub fn entropy(p: &[f32]) -> f64 {
    -p.iter()
        .filter(|&&x| x > 0.0)
        .map(|&x| x as f64 * (x as f64).ln())
        .sum::<f64>()
}

/// Predictions for `images`: the teacher's probabilities (the student's
/// without one), predictive entropy, epistemic entropy from `mc_passes`
/// dropout-on passes of the student, and student–teacher disagreement.
pub fn predict_items(
    student: &Classifier,
    teacher: Option<&Classifier>,
    images: &Images,
    device: &Device,
    run: &str,
    mc_passes: usize,
) -> Vec<Prediction> {
    let student_probabilities = predict(student, images, device);
    let teacher_probabilities = teacher.map(|t| predict(t, images, device));
    // Dropout stays on for a module on the autodiff device in training mode.
    let training_device = device.clone().autodiff();
    let mut passes: Vec<Vec<Vec<f32>>> = Vec::with_capacity(mc_passes);
    for _ in 0..mc_passes {
        let mut pass = Vec::with_capacity(images.len());
        let indices: Vec<usize> = (0..images.len()).collect();
        for chunk in indices.chunks(32) {
            let x = tensor4(
                images.gather(chunk),
                chunk.len(),
                images.size,
                &training_device,
            );
            let (logits, _) = student.forward(x);
            let p: Vec<f32> = softmax(logits.detach(), 1)
                .into_data()
                .try_to_vec::<f32>()
                .unwrap_or_default();
            let classes = p.len() / chunk.len().max(1);
            pass.extend(p.chunks(classes.max(1)).map(|c| c.to_vec()));
        }
        passes.push(pass);
    }
    (0..images.len())
        .map(|i| {
            let probabilities = teacher_probabilities
                .as_ref()
                .map_or(&student_probabilities[i], |t| &t[i])
                .clone();
            let mc_dropout_entropy = (!passes.is_empty()).then(|| {
                let classes = probabilities.len();
                let mean: Vec<f32> = (0..classes)
                    .map(|c| passes.iter().map(|p| p[i][c]).sum::<f32>() / passes.len() as f32)
                    .collect();
                let expected: f64 =
                    passes.iter().map(|p| entropy(&p[i])).sum::<f64>() / passes.len() as f64;
                (entropy(&mean) - expected).max(0.0)
            });
            let disagreement = teacher_probabilities.as_ref().map(|t| {
                t[i].iter()
                    .zip(&student_probabilities[i])
                    .map(|(a, b)| (a - b).abs() as f64)
                    .sum::<f64>()
                    / 2.0
            });
            Prediction {
                item_id: images.ids[i],
                run: run.to_string(),
                entropy: entropy(&probabilities),
                probabilities,
                mc_dropout_entropy,
                disagreement,
            }
        })
        .collect()
}

fn evaluate(model: &Classifier, test: &Images, classes: usize, device: &Device) -> Metrics {
    let truth: Vec<usize> = test.labels.iter().map(|l| l.unwrap_or(0)).collect();
    metrics::evaluate(&predict(model, test, device), &truth, classes)
}

fn shuffled(n: usize, rng: &mut Rng) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    for k in (1..n).rev() {
        order.swap(k, (rng.next_u64() % (k as u64 + 1)) as usize);
    }
    order
}

fn mean_losses(all: &[StepLosses]) -> StepLosses {
    let n = all.len().max(1) as f64;
    let sum = |f: fn(&StepLosses) -> f64| all.iter().map(f).sum::<f64>() / n;
    StepLosses {
        supervised: sum(|l| l.supervised),
        consistency: sum(|l| l.consistency),
        relation: sum(|l| l.relation),
        total: sum(|l| l.total),
        weight: all.last().map_or(0.0, |l| l.weight),
        alpha: all.last().map_or(0.0, |l| l.alpha),
    }
}

/// Trains on the project at `root`. Blocks until the run ends; events go to
/// `events` (a closed receiver is ignored), commands come from `commands`.
pub fn train(
    root: &Path,
    config: &TrainConfig,
    compute: &ComputeDevice,
    events: &Sender<TrainEvent>,
    commands: &Receiver<TrainCommand>,
) -> Result<RunSummary, TrainError> {
    config.validate()?;
    let project = Project::open(root)?;
    let data = data::load(&project, config.input_size)?;
    drop(project);
    let classes = data.classes.len();
    if data.labeled.is_empty() {
        return Err(TrainError::Data(
            "the labeled pool is empty: label some images first".into(),
        ));
    }
    if data.test.is_empty() {
        return Err(TrainError::Data(
            "the test pool has no labeled items to evaluate on".into(),
        ));
    }
    let device = compute.device.clone().autodiff();
    // Same seed, same initial weights and augmentation draws (on backends that seed globally).
    device.seed(config.seed);
    let (mut student, mut teacher) = match &config.fine_tune_from {
        // Active learning: continue from an earlier run instead of starting over.
        Some(run) => {
            let earlier = load_run(root, run, &device)?;
            if (earlier.config.model, earlier.config.width) != (config.model, config.width) {
                return Err(TrainError::Data(format!(
                    "run {run} trained another model or width; it cannot be continued with these settings"
                )));
            }
            let teacher = (config.method == Method::MeanTeacher)
                .then(|| earlier.teacher.unwrap_or_else(|| earlier.student.valid()));
            (earlier.student, teacher)
        }
        None => {
            let student =
                Classifier::new(config.model, classes, config.width, config.dropout, &device);
            let teacher = (config.method == Method::MeanTeacher).then(|| student.valid());
            (student, teacher)
        }
    };
    let mut optimizer: ModuleOptimizer = match config.optimizer {
        OptimizerKind::Adam => AdamConfig::new().init(),
        OptimizerKind::Sgd => SgdConfig::new().init(),
    };
    let run = RunDir::create(root, config)?;
    let size = config.input_size;
    let labeled_per_batch = match config.method {
        Method::Supervised => config.batch_size.max(1),
        Method::MeanTeacher => config.labeled_per_batch.clamp(1, config.batch_size.max(1)),
    };
    let unlabeled_per_batch = config.batch_size.saturating_sub(labeled_per_batch);
    let steps_per_epoch = match config.method {
        Method::Supervised => data.labeled.len().div_ceil(labeled_per_batch),
        // An epoch is one pass over the larger of the two pools, so a nearly
        // all-labeled project still sees every labeled image each epoch.
        Method::MeanTeacher if unlabeled_per_batch > 0 && !data.unlabeled.is_empty() => data
            .unlabeled
            .len()
            .div_ceil(unlabeled_per_batch)
            .max(data.labeled.len().div_ceil(labeled_per_batch)),
        Method::MeanTeacher => data.labeled.len().div_ceil(labeled_per_batch),
    }
    .max(1);
    let _ = events.send(TrainEvent::Started {
        run: run.id.clone(),
        steps_per_epoch,
        labeled: data.labeled.len(),
        unlabeled: data.unlabeled.len(),
        test: data.test.len(),
    });

    let mut rng = Rng::new(config.seed);
    let total_steps = (steps_per_epoch * config.epochs) as u64;
    let mut global_step = 0u64;
    let mut best_accuracy = -1.0;
    let mut summary = None;
    let mut stopped_early = false;
    'epochs: for epoch in 0..config.epochs {
        let started = Instant::now();
        let labeled_order = shuffled(data.labeled.len(), &mut rng);
        let unlabeled_order = shuffled(data.unlabeled.len(), &mut rng);
        let mut losses = Vec::with_capacity(steps_per_epoch);
        let mut lr = config.learning_rate;
        for step in 0..steps_per_epoch {
            // Commands between steps: pause blocks until resume or stop.
            loop {
                match commands.try_recv() {
                    Ok(TrainCommand::Stop) => {
                        stopped_early = true;
                        break 'epochs;
                    }
                    Ok(TrainCommand::Pause) => {
                        let _ = events.send(TrainEvent::Paused);
                        match commands.recv() {
                            Ok(TrainCommand::Stop) | Err(_) => {
                                stopped_early = true;
                                break 'epochs;
                            }
                            _ => {
                                let _ = events.send(TrainEvent::Resumed);
                            }
                        }
                    }
                    Ok(TrainCommand::Resume)
                    | Err(TryRecvError::Empty)
                    | Err(TryRecvError::Disconnected) => break,
                }
            }
            let step_started = Instant::now();
            let pick = |order: &[usize], count: usize, step: usize| -> Vec<usize> {
                (0..count)
                    .map(|k| order[(step * count + k) % order.len()])
                    .collect()
            };
            let labeled_indices = pick(
                &labeled_order,
                labeled_per_batch.min(data.labeled.len()),
                step,
            );
            let labels: Vec<i64> = labeled_indices
                .iter()
                .map(|&i| data.labeled.labels[i].unwrap_or(0) as i64)
                .collect();
            let batch = Batch {
                labeled: tensor4(
                    data.labeled.gather(&labeled_indices),
                    labeled_indices.len(),
                    size,
                    &device,
                ),
                labels: Tensor::<1, Int>::from_data(
                    TensorData::new(labels, [labeled_indices.len()]),
                    &device,
                ),
                unlabeled: (config.method == Method::MeanTeacher
                    && unlabeled_per_batch > 0
                    && !data.unlabeled.is_empty())
                .then(|| {
                    let indices = pick(
                        &unlabeled_order,
                        unlabeled_per_batch.min(data.unlabeled.len()),
                        step,
                    );
                    tensor4(
                        data.unlabeled.gather(&indices),
                        indices.len(),
                        size,
                        &device,
                    )
                }),
            };
            lr = if config.cosine_schedule {
                cosine_lr(config.learning_rate, global_step, total_steps)
            } else {
                config.learning_rate
            };
            let images =
                batch.labeled.dims()[0] + batch.unlabeled.as_ref().map_or(0, |u| u.dims()[0]);
            let step_losses = match teacher.take() {
                Some(t) => {
                    let epoch_progress = epoch as f64 + step as f64 / steps_per_epoch as f64;
                    let (s, t, l) = mean_teacher_step(
                        student,
                        t,
                        &mut optimizer,
                        &batch,
                        lr,
                        global_step,
                        epoch_progress,
                        &config.mean_teacher,
                        &config.augmentation,
                    );
                    student = s;
                    teacher = Some(t);
                    l
                }
                None => {
                    let (s, l) =
                        supervised_step(student, &mut optimizer, &batch, lr, &config.augmentation);
                    student = s;
                    l
                }
            };
            if !step_losses.total.is_finite() {
                return Err(TrainError::NotFinite {
                    value: step_losses.total,
                    epoch,
                    step: global_step,
                });
            }
            global_step += 1;
            let seconds = step_started.elapsed().as_secs_f64().max(1e-9);
            let _ = events.send(TrainEvent::Step {
                epoch,
                step,
                losses: step_losses,
                images_per_second: images as f64 / seconds,
            });
            losses.push(step_losses);
        }
        let student_metrics = evaluate(&student, &data.test, classes, &device);
        let teacher_metrics = teacher
            .as_ref()
            .map(|t| evaluate(t, &data.test, classes, &device));
        let record = EpochRecord {
            epoch,
            losses: mean_losses(&losses),
            learning_rate: lr,
            student: student_metrics.clone(),
            teacher: teacher_metrics.clone(),
            seconds: started.elapsed().as_secs_f64(),
        };
        run.append(&record)?;
        // Checkpoints: the last epoch always, the best by test accuracy (teacher if any).
        let score = teacher_metrics
            .as_ref()
            .unwrap_or(&student_metrics)
            .accuracy;
        let save = |model: &Classifier, name: &str| {
            model
                .valid()
                .into_record()
                .save(run.path.join(name))
                .map_err(|e| std::io::Error::other(e.to_string()))
        };
        save(&student, "student_last.bpk")?;
        if let Some(t) = &teacher {
            save(t, "teacher_last.bpk")?;
        }
        if score > best_accuracy {
            best_accuracy = score;
            save(teacher.as_ref().unwrap_or(&student), "best.bpk")?;
        }
        let _ = events.send(TrainEvent::Epoch(Box::new(record)));
        summary = Some(RunSummary {
            run: run.id.clone(),
            epochs: epoch + 1,
            student: student_metrics,
            teacher: teacher_metrics,
            stopped_early: false,
        });
    }
    let summary = match summary {
        Some(s) => RunSummary { stopped_early, ..s },
        None => RunSummary {
            run: run.id.clone(),
            epochs: 0,
            student: evaluate(&student, &data.test, classes, &device),
            teacher: teacher
                .as_ref()
                .map(|t| evaluate(t, &data.test, classes, &device)),
            stopped_early,
        },
    };
    // Suggestions and uncertainty for everything not labeled yet, and the test pool.
    if summary.epochs > 0 {
        let mut predictions = predict_items(
            &student,
            teacher.as_ref(),
            &data.unlabeled,
            &compute.device,
            &run.id,
            MC_DROPOUT_PASSES,
        );
        predictions.extend(predict_items(
            &student,
            teacher.as_ref(),
            &data.test,
            &compute.device,
            &run.id,
            0,
        ));
        Project::open(root)?.set_predictions(&predictions)?;
    }
    let _ = events.send(TrainEvent::Finished(Box::new(summary.clone())));
    Ok(summary)
}

/// A finished run loaded back: its configuration, last student and teacher.
pub struct LoadedRun {
    pub config: TrainConfig,
    pub student: Classifier,
    pub teacher: Option<Classifier>,
}

/// Loads `runs/<run>` of the project at `root` onto `device`.
pub fn load_run(root: &Path, run: &str, device: &Device) -> Result<LoadedRun, TrainError> {
    let dir = root.join("runs").join(run);
    let text = std::fs::read_to_string(dir.join("config.json"))
        .map_err(|e| TrainError::Data(format!("no run {run} in {}: {e}", root.display())))?;
    let config: TrainConfig = serde_json::from_str(&text)
        .map_err(|e| TrainError::Data(format!("run {run} has an unreadable config.json: {e}")))?;
    let classes = Project::open(root)?.schema().target_field().values.len();
    let load = |name: &str| -> Result<Option<Classifier>, TrainError> {
        let path = dir.join(name);
        if !path.is_file() {
            return Ok(None);
        }
        let record = burn::store::ModuleRecord::load(&path)
            .map_err(|e| TrainError::Data(format!("{}: {e}", path.display())))?;
        Classifier::new(config.model, classes, config.width, config.dropout, device)
            .try_load_record(record)
            .map(Some)
            .map_err(|e| {
                TrainError::Data(format!("{} does not fit this model: {e}", path.display()))
            })
    };
    let student = load("student_last.bpk")?
        .ok_or_else(|| TrainError::Data(format!("run {run} has no checkpoint")))?;
    let teacher = load("teacher_last.bpk")?;
    Ok(LoadedRun {
        config,
        student,
        teacher,
    })
}

/// Predictions of a saved run for the unlabeled and test pools, stored in the project.
pub fn predict_run(root: &Path, run: &str, compute: &ComputeDevice) -> Result<usize, TrainError> {
    let loaded = load_run(root, run, &compute.device.clone().autodiff())?;
    let data = data::load(&Project::open(root)?, loaded.config.input_size)?;
    let mut predictions = predict_items(
        &loaded.student,
        loaded.teacher.as_ref(),
        &data.unlabeled,
        &compute.device,
        run,
        MC_DROPOUT_PASSES,
    );
    predictions.extend(predict_items(
        &loaded.student,
        loaded.teacher.as_ref(),
        &data.test,
        &compute.device,
        run,
        0,
    ));
    Project::open(root)?.set_predictions(&predictions)?;
    Ok(predictions.len())
}

/// Test-pool metrics of a saved run's student and teacher.
pub fn evaluate_run(
    root: &Path,
    run: &str,
    compute: &ComputeDevice,
) -> Result<RunSummary, TrainError> {
    let loaded = load_run(root, run, &compute.device.clone().autodiff())?;
    let data = data::load(&Project::open(root)?, loaded.config.input_size)?;
    if data.test.is_empty() {
        return Err(TrainError::Data(
            "the test pool has no labeled items to evaluate on".into(),
        ));
    }
    let classes = data.classes.len();
    Ok(RunSummary {
        run: run.to_string(),
        epochs: loaded.config.epochs,
        student: evaluate(&loaded.student, &data.test, classes, &compute.device),
        teacher: loaded
            .teacher
            .as_ref()
            .map(|t| evaluate(t, &data.test, classes, &compute.device)),
        stopped_early: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configurations_saved_before_augmentation_settings_still_load() {
        let mut saved = serde_json::to_value(TrainConfig::default()).unwrap();
        saved.as_object_mut().unwrap().remove("augmentation");
        let config: TrainConfig = serde_json::from_value(saved).unwrap();
        assert_eq!(config.augmentation, Augmentation::default());
        config.validate().unwrap();
    }

    #[test]
    fn out_of_range_augmentation_is_refused_by_name() {
        let mut config = TrainConfig::default();
        config.augmentation.rotation_degrees = 200.0;
        let message = config.validate().unwrap_err().to_string();
        assert!(message.contains("rotation 200°"), "{message}");
    }
}
