//! The classification task: the [`Trainer`] (a method's models, optimizer,
//! sampler and random state over in-memory pools, with `step`, `evaluate`
//! and `save` — used alike by the run loop and `loupe bench`), and
//! [`prepare`], which loads a project's pools, teachers and starting
//! weights into a [`ClassifyRun`] the run loop (`run`) drives: test and
//! validation metrics per epoch, validation choice by accuracy then loss,
//! predictions for active learning at the end.
//!
//! An epoch is defined once, for every method: one pass over the larger of
//! the labeled pool (at `labeled_per_batch` images a step) and the
//! unlabeled pool (at the rest of the batch), so every method takes the
//! same optimizer steps and sees the same labeled images in the same order;
//! methods that ignore unlabeled images (supervised) skip that part.

use std::path::Path;

use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::tensor::{Device, Int, Tensor, TensorData};

use super::config::{InputKind, TrainConfig};
use super::data::{self, Images, PoolData, Rasterize};
use super::device::ComputeDevice;
use super::error::TrainError;
use super::events::{Scalars, metric_series, series};
use super::inference::{self, Scored, classifier_for, tensor4};
use super::lineage;
use super::losses;
use super::metrics::Metrics;
use super::models::Classifier;
use super::runs::{CHOSEN_STUDENT, CHOSEN_TEACHER, LAST_STUDENT, LAST_TEACHER};
use super::schedule::learning_rate;
use super::spec::TeacherUse;
use super::step::{Batch, Guidance, Models, StepContext, TrainingMethod, check_finite};
use super::task::{Checkpoint, Learner, Pools, Reported, Scores, ValidationScore};
use crate::rng::Rng;
use crate::store::Project;

/// How many images a step takes from each pool, and how many steps make an epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Schedule {
    pub labeled_per_batch: usize,
    pub unlabeled_per_batch: usize,
    pub steps_per_epoch: usize,
}

impl Schedule {
    /// The same for every method (see the module's note on epochs).
    pub fn new(labeled: usize, unlabeled: usize, config: &TrainConfig) -> Self {
        let batch = config.batch_size.max(1);
        let labeled_per_batch = config.labeled_per_batch.clamp(1, batch);
        let unlabeled_per_batch = batch - labeled_per_batch;
        let labeled_steps = labeled.div_ceil(labeled_per_batch);
        let unlabeled_steps = match unlabeled_per_batch {
            0 => 0,
            n => unlabeled.div_ceil(n),
        };
        Self {
            labeled_per_batch,
            unlabeled_per_batch,
            steps_per_epoch: labeled_steps.max(unlabeled_steps).max(1),
        }
    }
}

/// The order an epoch visits each pool in.
pub struct EpochOrder {
    labeled: Vec<usize>,
    unlabeled: Vec<usize>,
}

/// The `count` indices of step `step`, cycling through `order`.
fn pick(order: &[usize], count: usize, step: usize) -> Vec<usize> {
    if order.is_empty() {
        return Vec::new();
    }
    (0..count)
        .map(|k| order[(step * count + k) % order.len()])
        .collect()
}

/// The pools a trainer learns from, with the validation split drawn.
pub struct TrainingData {
    pub classes: Vec<String>,
    /// Labeled images trained on (the labeled pool less the validation split).
    pub labeled: Images,
    /// Labeled images held out to choose the checkpoint.
    pub validation: Images,
    pub unlabeled: Images,
    pub test: Images,
}

impl TrainingData {
    /// Splits the validation set off the labeled pool, per class, by the run's seed.
    pub fn split(data: PoolData, config: &TrainConfig) -> Self {
        let (labeled, validation) = data
            .labeled
            .split_stratified(config.validation_fraction, config.seed);
        Self {
            classes: data.classes,
            labeled,
            validation,
            unlabeled: data.unlabeled,
            test: data.test,
        }
    }
}

/// A model pair scored on one set.
pub struct Evaluation {
    pub student: Scored,
    pub teacher: Option<Scored>,
}

impl Evaluation {
    /// The model a run reports and predicts with: the teacher where there is one.
    pub fn reported(&self) -> &Scored {
        self.teacher.as_ref().unwrap_or(&self.student)
    }
}

/// A method's models and optimizer over in-memory pools.
pub struct Trainer {
    pub config: TrainConfig,
    pub data: TrainingData,
    pub schedule: Schedule,
    method: Box<dyn TrainingMethod>,
    /// `None` only while a step holds them.
    models: Option<Models>,
    optimizer: ModuleOptimizer,
    rng: Rng,
    /// The student's (autodiff) device.
    device: Device,
    global_step: u64,
    /// Each class's weight in the supervised loss, when the run weighs classes.
    class_weights: Option<Vec<f32>>,
    /// `[C]` the labeled pool's inverse-frequency class weights, whether or
    /// not the supervised loss uses them (a method's class-weighted term may).
    class_balance: Tensor<1>,
    /// The early stages are held still (the first epochs of a fine-tuning run).
    early_stages_frozen: bool,
}

impl Trainer {
    /// A trainer for `method` on `data`, starting from `start` (an earlier
    /// run's models) or from new weights drawn by the run's seed.
    pub fn new(
        config: TrainConfig,
        data: TrainingData,
        device: &Device,
        method: Box<dyn TrainingMethod>,
        start: Option<Models>,
    ) -> Result<Self, TrainError> {
        let mut config = config;
        match config.input_kind() {
            // The MLP's width follows the encoded record; saved with the run.
            InputKind::Record => config.record_inputs = data.labeled.shape[0],
            InputKind::Fusion(_) => {
                config.record_inputs = data.labeled.shape[0]
                    - config.image_channels() * config.input_size * config.input_size
                    - super::models::fusion::FLAGS;
            }
            _ => {}
        }
        config.validate()?;
        let spec = config.method.spec();
        let input = config.input_kind();
        if !spec.modalities.contains(&input.kind_name()) {
            return Err(TrainError::Data(format!(
                "method {} reads {}; this run asks for {} ({})",
                spec.name,
                spec.modalities.join(", "),
                config.modalities.join(", "),
                input.kind_name()
            )));
        }
        spec.check_teachers(&config.teachers)
            .map_err(TrainError::Data)?;
        if matches!(spec.teacher_use, TeacherUse::Features | TeacherUse::Outputs)
            && data
                .labeled
                .guidance
                .iter()
                .chain(&data.unlabeled.guidance)
                .all(Option::is_none)
        {
            return Err(TrainError::Data(
                "the teacher run sees none of the training cases (none has its modality)".into(),
            ));
        }
        if data.labeled.is_empty() {
            return Err(TrainError::Data(
                "the labeled pool is empty: label some images first".into(),
            ));
        }
        let device = device.clone().autodiff();
        // Same seed, same initial weights and augmentation draws (on backends that seed globally).
        device.seed(config.seed);
        let classes = data.classes.len();
        let models = match start {
            Some(models) => Models {
                teacher: spec
                    .keeps_teacher
                    .then(|| models.teacher.unwrap_or_else(|| models.student.valid())),
                student: models.student,
            },
            None => {
                let student = classifier_for(&config, classes, &device);
                Models {
                    teacher: spec.keeps_teacher.then(|| student.valid()),
                    student,
                }
            }
        };
        let optimizer = super::optimisation::classifier_optimizer(&config);
        let schedule = Schedule::new(data.labeled.len(), data.unlabeled.len(), &config);
        let labels: Vec<usize> = data.labeled.labels.iter().flatten().copied().collect();
        let balance = losses::class_weights(&labels, classes);
        let class_balance =
            Tensor::<1>::from_data(TensorData::new(balance.clone(), [balance.len()]), &device);
        let class_weights = config.loss.class_weights.then_some(balance);
        Ok(Self {
            rng: Rng::new(config.seed),
            config,
            data,
            schedule,
            method,
            models: Some(models),
            optimizer,
            device,
            global_step: 0,
            class_weights,
            class_balance,
            early_stages_frozen: false,
        })
    }

    /// Each class's weight in the supervised loss (`None`: every image weighs 1).
    pub fn class_weights(&self) -> Option<&[f32]> {
        self.class_weights.as_deref()
    }

    /// Holds the student's early stages still (no gradient reaches them, so
    /// the optimizer leaves them as loaded) or lets them learn again.
    pub fn set_early_stages_frozen(&mut self, frozen: bool) {
        if frozen == self.early_stages_frozen {
            return;
        }
        if let Some(models) = self.models.take() {
            self.models = Some(Models {
                student: models.student.with_early_stages_frozen(frozen),
                teacher: models.teacher,
            });
        }
        self.early_stages_frozen = frozen;
    }

    pub fn method_name(&self) -> &str {
        self.config.method.name()
    }

    pub fn models(&self) -> &Models {
        self.models
            .as_ref()
            .expect("models are only taken during a step")
    }

    pub fn total_steps(&self) -> u64 {
        (self.schedule.steps_per_epoch * self.config.epochs) as u64
    }

    /// Draws the epoch's order of both pools (for every method alike, so
    /// methods with the same seed see the same labeled images).
    pub fn shuffle_epoch(&mut self) -> EpochOrder {
        let mut labeled: Vec<usize> = (0..self.data.labeled.len()).collect();
        let mut unlabeled: Vec<usize> = (0..self.data.unlabeled.len()).collect();
        self.rng.shuffle(&mut labeled);
        self.rng.shuffle(&mut unlabeled);
        EpochOrder { labeled, unlabeled }
    }

    /// The learning rate of the next step.
    pub fn learning_rate(&self) -> f64 {
        learning_rate(
            self.config.learning_rate,
            self.config.cosine_schedule,
            self.global_step,
            self.total_steps(),
        )
    }

    /// The batch of step `step` in `order`: its labeled images with their
    /// labels (and class weights, when the run weighs classes) and, for
    /// methods that read them, its unlabeled images.
    pub fn batch(&self, step: usize, order: &EpochOrder) -> Batch {
        let shape = self.data.labeled.shape;
        let uses_unlabeled = self.config.method.spec().uses_unlabeled;
        let labeled_indices = pick(
            &order.labeled,
            self.schedule.labeled_per_batch.min(self.data.labeled.len()),
            step,
        );
        let labels: Vec<i64> = labeled_indices
            .iter()
            .map(|&i| self.data.labeled.labels[i].unwrap_or(0) as i64)
            .collect();
        let unlabeled_indices = pick(
            &order.unlabeled,
            self.schedule
                .unlabeled_per_batch
                .min(self.data.unlabeled.len()),
            step,
        );
        Batch {
            labeled: tensor4(
                self.data.labeled.gather(&labeled_indices),
                labeled_indices.len(),
                shape,
                &self.device,
            ),
            weights: self.class_weights.as_ref().map(|weights| {
                let per_image: Vec<f32> = labels
                    .iter()
                    .map(|&l| weights.get(l as usize).copied().unwrap_or(1.0))
                    .collect();
                Tensor::<1>::from_data(
                    TensorData::new(per_image, [labeled_indices.len()]),
                    &self.device,
                )
            }),
            labels: Tensor::<1, Int>::from_data(
                TensorData::new(labels, [labeled_indices.len()]),
                &self.device,
            ),
            class_balance: Some(self.class_balance.clone()),
            unlabeled: (uses_unlabeled && !unlabeled_indices.is_empty()).then(|| {
                tensor4(
                    self.data.unlabeled.gather(&unlabeled_indices),
                    unlabeled_indices.len(),
                    shape,
                    &self.device,
                )
            }),
            guidance: self.guidance(&labeled_indices, &unlabeled_indices, uses_unlabeled),
        }
    }

    /// The teacher features of a batch's samples that have them (labeled
    /// rows first, then unlabeled ones, as the batch orders them).
    fn guidance(
        &self,
        labeled: &[usize],
        unlabeled: &[usize],
        uses_unlabeled: bool,
    ) -> Option<Guidance> {
        if !matches!(
            self.config.method.spec().teacher_use,
            TeacherUse::Features | TeacherUse::Outputs
        ) {
            return None;
        }
        let from = |images: &Images, i: usize| images.guidance.get(i).cloned().flatten();
        let mut rows = Vec::new();
        let mut features = Vec::new();
        let unlabeled = if uses_unlabeled { unlabeled } else { &[] };
        let samples = labeled
            .iter()
            .map(|&i| from(&self.data.labeled, i))
            .chain(unlabeled.iter().map(|&i| from(&self.data.unlabeled, i)));
        for (row, f) in samples.enumerate() {
            if let Some(f) = f {
                rows.push(row as i64);
                features.push(f);
            }
        }
        let width = features.first()?.len();
        let count = rows.len();
        Some(Guidance {
            rows: Tensor::<1, Int>::from_data(TensorData::new(rows, [count]), &self.device),
            features: Tensor::<1>::from_data(
                TensorData::new(features.concat(), [count * width]),
                &self.device,
            )
            .reshape([count, width]),
        })
    }

    /// Step `step` of epoch `epoch`: the batch from `order`, the method's
    /// update, and its named values (with `schedule/lr`). Returns the
    /// values and the number of images the step read.
    pub fn step(
        &mut self,
        epoch: usize,
        step: usize,
        order: &EpochOrder,
    ) -> Result<(Scalars, usize), TrainError> {
        let batch = self.batch(step, order);
        super::phases::mark(super::phases::BATCH);
        let learning_rate = self.learning_rate();
        let context = StepContext {
            learning_rate,
            global_step: self.global_step,
            epoch_progress: epoch as f64 + step as f64 / self.schedule.steps_per_epoch as f64,
            config: &self.config,
        };
        let models = self
            .models
            .take()
            .expect("models are only taken during a step");
        let (models, mut values) = self
            .method
            .step(models, &mut self.optimizer, &batch, &context);
        self.models = Some(models);
        values.insert(series::LEARNING_RATE.into(), learning_rate);
        if self.config.freeze_early_epochs > 0 {
            values.insert(
                series::FROZEN_EARLY_STAGES.into(),
                f64::from(u8::from(self.early_stages_frozen)),
            );
        }
        check_finite(&values, epoch, self.global_step)?;
        self.global_step += 1;
        super::phases::mark(super::phases::BOOKKEEPING);
        Ok((values, batch.images()))
    }

    /// Student and teacher on a labeled set.
    pub fn evaluate(&self, images: &Images) -> Evaluation {
        let classes = self.data.classes.len();
        let models = self.models();
        Evaluation {
            student: inference::score(&models.student, images, classes, &self.device),
            teacher: models
                .teacher
                .as_ref()
                .map(|t| inference::score(t, images, classes, &self.device)),
        }
    }

    /// Writes the models as `student` and `teacher` checkpoint files in `dir`.
    pub fn save(&self, dir: &Path, student: &str, teacher: &str) -> Result<(), TrainError> {
        save_models(self.models(), dir, student, teacher)
    }
}

fn save_models(
    models: &Models,
    dir: &Path,
    student: &str,
    teacher: &str,
) -> Result<(), TrainError> {
    let save = |model: &Classifier, name: &str| {
        model
            .valid()
            .into_record()
            .save(dir.join(name))
            .map_err(|e| TrainError::Io(std::io::Error::other(e.to_string())))
    };
    save(&models.student, student)?;
    if let Some(t) = &models.teacher {
        save(t, teacher)?;
    }
    Ok(())
}

/// A classifying run prepared on a project: the trainer, the frozen
/// teacher's fixed test metrics, and the chosen models.
pub struct ClassifyRun {
    pub trainer: Trainer,
    root: std::path::PathBuf,
    device: Device,
    /// A single frozen teacher run's test metrics (they never change).
    fixed_teacher: Option<Metrics>,
    /// The current epoch's order (drawn by `begin_epoch`).
    order: EpochOrder,
    chosen: Option<Models>,
    /// Photographs by eye and the eyes' references, under eye labels.
    eyes: Option<super::eyes::EyeTable>,
    /// Items left out of the pools, and why.
    skipped: Vec<String>,
}

/// Loads the project at `root` for a classifying method's run: its pools
/// (by the configured input), the method's frozen teachers (what it takes
/// from them cached once, their test metrics measured once), the weights it
/// starts from (an earlier run's — active learning, pre-training elsewhere
/// — or, for a slice policy, its classifier run's), the validation split.
pub fn prepare(
    root: &Path,
    config: &TrainConfig,
    method: Box<dyn TrainingMethod>,
    compute: &ComputeDevice,
    rasterize: Rasterize,
) -> Result<ClassifyRun, TrainError> {
    let spec = config.method.spec();
    let mut config = config.clone();
    let policy = spec.teacher_use == TeacherUse::Classifier && !config.teachers.is_empty();
    if policy {
        // A slice policy reads the series as its classifier was trained to.
        super::distill::adopt_classifier_settings(root, &mut config)?;
    }
    config.validate()?;
    let project = Project::open(root)?;
    let mut data = data::load_for(&project, &config, rasterize)?;
    let eyes = match config.label_source {
        super::eyes::LabelSource::Images => None,
        super::eyes::LabelSource::Eyes => Some(super::eyes::EyeTable::load(&project)?),
    };
    let names = project.case_names()?;
    let skipped = data
        .skipped
        .iter()
        .map(|(id, why)| match names.get(id) {
            Some(name) => format!("item {id} (case {name}): {why}"),
            None => format!("item {id}: {why}"),
        })
        .collect();
    drop(project);
    // (A method without teachers refuses teacher runs in `Trainer::new`.)
    let teachers = super::distill::attach_teachers(
        root,
        &config,
        spec,
        &mut data,
        &compute.device,
        rasterize,
    )?;
    let fixed_teacher = match teachers.as_slice() {
        [one] => Some(one.test.clone()),
        _ => None, // several teachers: each is reported by its own run
    };
    let start = if policy {
        Some(super::distill::policy_start(
            root,
            &config,
            &data.classes,
            &compute.device,
        )?)
    } else {
        lineage::load_start(root, &config, &data.classes, &compute.device)?.map(|s| s.models)
    };
    let data = TrainingData::split(data, &config);
    // The trainer refuses an empty labeled pool; a run also needs a test pool.
    let trainer = Trainer::new(config, data, &compute.device, method, start)?;
    if trainer.data.test.is_empty() {
        return Err(TrainError::Data(
            "the test pool has no labeled items to evaluate on".into(),
        ));
    }
    Ok(ClassifyRun {
        trainer,
        root: root.to_path_buf(),
        device: compute.device.clone(),
        fixed_teacher,
        order: EpochOrder {
            labeled: Vec::new(),
            unlabeled: Vec::new(),
        },
        chosen: None,
        eyes,
        skipped,
    })
}

impl Learner for ClassifyRun {
    fn config(&self) -> &TrainConfig {
        &self.trainer.config
    }

    fn pools(&self) -> Pools {
        let data = &self.trainer.data;
        Pools {
            labeled: data.labeled.len(),
            validation: data.validation.len(),
            unlabeled: data.unlabeled.len(),
            test: data.test.len(),
            skipped: self.skipped.clone(),
        }
    }

    fn steps_per_epoch(&self) -> usize {
        self.trainer.schedule.steps_per_epoch
    }

    fn begin_epoch(&mut self, epoch: usize) {
        let config = &self.trainer.config;
        let frozen = config.fine_tune_from.is_some() && epoch < config.freeze_early_epochs;
        self.trainer.set_early_stages_frozen(frozen);
        self.order = self.trainer.shuffle_epoch();
    }

    fn step(&mut self, epoch: usize, step: usize) -> Result<(Scalars, usize), TrainError> {
        self.trainer.step(epoch, step, &self.order)
    }

    fn score(&self) -> Scores {
        let trainer = &self.trainer;
        let mut series = Scalars::new();
        let test = trainer.evaluate(&trainer.data.test);
        metric_series("metric", "student", &test.student.metrics, &mut series);
        let teacher = test
            .teacher
            .as_ref()
            .map(|t| t.metrics.clone())
            .or_else(|| self.fixed_teacher.clone());
        if let Some(t) = &teacher {
            metric_series("metric", "teacher", t, &mut series);
        }
        let validation = (!trainer.data.validation.is_empty())
            .then(|| trainer.evaluate(&trainer.data.validation));
        if let Some(v) = &validation {
            for (model, scored) in [
                ("student", Some(&v.student)),
                ("teacher", v.teacher.as_ref()),
            ] {
                if let Some(scored) = scored {
                    metric_series("validation", model, &scored.metrics, &mut series);
                    series.insert(series::metric("validation", model, "loss"), scored.loss);
                }
            }
        }
        Scores {
            series,
            student: test.student.metrics,
            teacher,
            // The reported model (the teacher where there is one) chooses.
            validation: validation.as_ref().map(|v| ValidationScore {
                primary: v.reported().metrics.accuracy,
                // AUC is undefined where the split holds one class only:
                // accuracy then ranks (alike in every epoch of the run).
                ranking: v
                    .reported()
                    .metrics
                    .auc
                    .unwrap_or(v.reported().metrics.accuracy),
                loss: v.reported().loss,
            }),
        }
    }

    fn save(&self, dir: &Path, checkpoint: Checkpoint) -> Result<(), TrainError> {
        match checkpoint {
            Checkpoint::Last => self.trainer.save(dir, LAST_STUDENT, LAST_TEACHER),
            Checkpoint::Chosen => self.trainer.save(dir, CHOSEN_STUDENT, CHOSEN_TEACHER),
        }
    }

    fn keep_chosen(&mut self) {
        self.chosen = Some(self.trainer.models().clone());
    }

    /// Suggestions and uncertainty, by the chosen checkpoint, for
    /// everything not labeled yet and for the test pool; a slice policy's
    /// picks for the image models that read them.
    fn finish(
        &mut self,
        dir: &Path,
        run: &str,
        chosen: Option<Reported>,
    ) -> Result<Reported, TrainError> {
        let trainer = &self.trainer;
        let (Some(models), Some(reported)) = (&self.chosen, chosen) else {
            // No epoch ran: the models as they are, nothing predicted.
            let test = trainer.evaluate(&trainer.data.test);
            return Ok(Reported {
                student: test.student.metrics,
                teacher: test
                    .teacher
                    .map(|t| t.metrics)
                    .or(self.fixed_teacher.clone()),
                eye: None,
            });
        };
        let predictions = inference::predict_pools(
            &models.student,
            models.teacher.as_ref(),
            &trainer.data.unlabeled,
            &trainer.data.test,
            &self.device,
            run,
        );
        Project::open(&self.root)?.set_predictions(&predictions)?;
        // The test pool's predictions just made are those the eyes roll up
        // (the teacher's where there is one, as the eye metrics report).
        let eye = self.eyes.as_ref().map(|table| {
            let tested: std::collections::HashSet<i64> =
                trainer.data.test.ids.iter().copied().collect();
            inference::eye_metrics(
                models.teacher.as_ref().unwrap_or(&models.student),
                trainer.config.eye_pooling,
                table,
                &[&trainer.data.labeled, &trainer.data.validation],
                predictions
                    .iter()
                    .filter(|p| tested.contains(&p.item_id))
                    .map(|p| (p.item_id, p.probabilities.as_slice())),
                &self.device,
            )
        });
        if let Classifier::SlicePolicy(policy) = &models.student {
            write_policy_picks(
                &self.root,
                dir,
                policy,
                &trainer.config,
                &trainer.data,
                &self.device,
            )?;
        }
        Ok(Reported { eye, ..reported })
    }
}

/// Writes the policy's greedy picks for every case of every pool to the
/// run's `slices.csv`, by case name.
/// A series of another depth than the policy read (resampled for it) gets
/// its picks as its own slice numbers.
fn write_policy_picks(
    root: &Path,
    dir: &Path,
    policy: &super::models::slice_policy::SlicePolicy,
    config: &TrainConfig,
    data: &TrainingData,
    device: &Device,
) -> Result<(), TrainError> {
    let project = Project::open(root)?;
    let names = project.case_names()?;
    let files = project.all_case_files()?;
    let role = config.input_kind().role().unwrap_or_default().to_string();
    let depth = config.slice_config().depth;
    let native_depth = |id: i64| {
        let path = files.get(&id)?.get(&role)?;
        Some(crate::volume::load(path).ok()?.spatial_shape()[2])
    };
    let policy = policy.clone().valid();
    let device = device.clone().without_autodiff();
    let mut picks = std::collections::BTreeMap::new();
    for images in [&data.labeled, &data.validation, &data.unlabeled, &data.test] {
        let indices: Vec<usize> = (0..images.len()).collect();
        for chunk in indices.chunks(16) {
            let x = tensor4(images.gather(chunk), chunk.len(), images.shape, &device);
            for (&i, slices) in chunk.iter().zip(policy.greedy_picks(x)) {
                let id = images.ids[i];
                let Some(name) = names.get(&id) else { continue };
                let native = native_depth(id).unwrap_or(depth);
                let mut slices: Vec<usize> = slices
                    .into_iter()
                    .map(|z| data::native_slice(z, depth, native))
                    .collect();
                slices.dedup();
                picks.insert(name.clone(), slices);
            }
        }
    }
    super::slices::write_picks(dir, &picks)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_method_takes_the_same_steps_an_epoch() {
        let config = TrainConfig::default(); // batch 16, 4 labeled
        // 24 labeled, 204 unlabeled: max(⌈24/4⌉, ⌈204/12⌉) = max(6, 17).
        assert_eq!(
            Schedule::new(24, 204, &config),
            Schedule {
                labeled_per_batch: 4,
                unlabeled_per_batch: 12,
                steps_per_epoch: 17
            }
        );
        // Nearly all labeled: the labeled pool sets the epoch.
        assert_eq!(Schedule::new(100, 10, &config).steps_per_epoch, 25);
        // A batch of labeled images only.
        let all_labeled = TrainConfig {
            labeled_per_batch: 16,
            ..config
        };
        assert_eq!(Schedule::new(40, 500, &all_labeled).steps_per_epoch, 3);
    }

    #[test]
    fn class_weights_reach_the_supervised_loss() {
        let images = |labels: &[usize]| Images {
            ids: (0..labels.len() as i64).collect(),
            labels: labels.iter().map(|&l| Some(l)).collect(),
            pixels: (0..labels.len() * 3 * 8 * 8)
                .map(|i| ((i * 37) % 101) as f32 / 101.0)
                .collect(),
            shape: data::image_shape(8),
            guidance: Vec::new(),
            groups: Vec::new(),
        };
        let trainer = |weighted: bool| {
            let mut config = TrainConfig {
                method: crate::train::methods::supervised::METHOD,
                input_size: 8,
                width: 2,
                validation_fraction: 0.0,
                labeled_per_batch: 4,
                ..TrainConfig::default()
            };
            config.loss.class_weights = weighted;
            let data = TrainingData {
                classes: vec!["a".into(), "b".into()],
                labeled: images(&[0, 0, 0, 1]),
                validation: images(&[]),
                unlabeled: images(&[]),
                test: images(&[0, 1]),
            };
            Trainer::new(
                config.clone(),
                data,
                &Device::flex(),
                Box::new(crate::train::methods::supervised::Supervised),
                None,
            )
            .unwrap()
        };
        assert_eq!(trainer(false).class_weights(), None);
        // 4 images, 2 classes: 4 / (2 · 3) and 4 / (2 · 1).
        let weighted = trainer(true);
        let w = weighted.class_weights().unwrap().to_vec();
        assert!(
            (w[0] - 2.0 / 3.0).abs() < 1e-6 && (w[1] - 2.0).abs() < 1e-6,
            "{w:?}"
        );
        // Each batch carries its images' class weights to the method's loss.
        let order = EpochOrder {
            labeled: vec![3, 0, 1, 2],
            unlabeled: Vec::new(),
        };
        let batch = weighted.batch(0, &order);
        let labels: Vec<i32> = batch.labels.into_data().try_to_vec().unwrap();
        assert_eq!(labels, [1, 0, 0, 0]);
        let weights: Vec<f32> = batch.weights.unwrap().into_data().try_to_vec().unwrap();
        assert_eq!(weights, [w[1], w[0], w[0], w[0]]);
        assert!(trainer(false).batch(0, &order).weights.is_none());
    }

    #[test]
    fn picks_cycle_through_the_order() {
        assert_eq!(pick(&[3, 1, 2], 2, 0), [3, 1]);
        assert_eq!(pick(&[3, 1, 2], 2, 1), [2, 3]);
        assert!(pick(&[], 2, 1).is_empty());
    }
}
