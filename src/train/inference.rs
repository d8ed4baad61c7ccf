//! One prediction path for every use: test metrics while training, the
//! suggestions and uncertainty stored for unlabeled and test items, and
//! `loupe eval` / `loupe predict` on a saved run's chosen checkpoint.

use super::eyes::{EyeMetrics, EyePooling, EyeTable, LabelSource, Pooler};
use std::path::Path;

use burn::module::Module;
use burn::tensor::activation::softmax;
use burn::tensor::{Device, Tensor, TensorData};

use super::config::TrainConfig;
use super::data::{self, Images, Rasterize};
use super::device::ComputeDevice;
use super::error::TrainError;
use super::events::{RunSummary, Selection};
use super::metrics::{self, Metrics};
use super::models::Classifier;
use super::runs::{CHOSEN_STUDENT, CHOSEN_TEACHER, LAST_STUDENT, LAST_TEACHER};
use crate::store::{Prediction, Project};

/// Stochastic passes for the MC-dropout uncertainty.
pub const MC_DROPOUT_PASSES: usize = 8;

/// Images at most per forward pass when predicting.
const CHUNK: usize = 32;

/// `[count, shape…]` from samples of `shape`, one after the other.
pub(crate) fn tensor4(
    pixels: Vec<f32>,
    count: usize,
    shape: [usize; 3],
    device: &Device,
) -> Tensor<4> {
    let [a, b, c] = shape;
    Tensor::<1>::from_data(TensorData::new(pixels, [count * a * b * c]), device)
        .reshape([count, a, b, c])
}

/// Class probabilities of every image by `model`, chunk by chunk; with
/// `dropout_on` the model stays in training mode on the autodiff device
/// (Monte-Carlo dropout).
fn probabilities(
    model: &Classifier,
    images: &Images,
    device: &Device,
    dropout_on: bool,
) -> Vec<Vec<f32>> {
    let (model, device) = if dropout_on {
        (model.clone(), device.clone().autodiff())
    } else {
        (model.valid(), device.clone().without_autodiff())
    };
    let mut out = Vec::with_capacity(images.len());
    let indices: Vec<usize> = (0..images.len()).collect();
    for chunk in indices.chunks(CHUNK) {
        let x = tensor4(images.gather(chunk), chunk.len(), images.shape, &device);
        let (logits, _) = model.forward(x);
        let p: Vec<f32> = softmax(logits.detach(), 1)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap_or_default();
        let classes = p.len() / chunk.len().max(1);
        out.extend(p.chunks(classes.max(1)).map(|c| c.to_vec()));
    }
    out
}

/// The pooled features of every sample in `images` by `model`
/// (validation mode, no gradient), chunk by chunk: what a frozen teacher
/// gives distillation.
pub fn features(model: &Classifier, images: &Images, device: &Device) -> Vec<Vec<f32>> {
    outputs(model, images, device, |(_, features)| features)
}

/// The logits of every sample in `images` by `model` (validation mode, no
/// gradient): what a frozen teacher's softened outputs are made of.
pub fn logits(model: &Classifier, images: &Images, device: &Device) -> Vec<Vec<f32>> {
    outputs(model, images, device, |(logits, _)| logits)
}

/// One of the forward's two outputs, per sample, chunk by chunk.
fn outputs(
    model: &Classifier,
    images: &Images,
    device: &Device,
    which: fn((Tensor<2>, Tensor<2>)) -> Tensor<2>,
) -> Vec<Vec<f32>> {
    let (model, device) = (model.valid(), device.clone().without_autodiff());
    let mut out = Vec::with_capacity(images.len());
    let indices: Vec<usize> = (0..images.len()).collect();
    for chunk in indices.chunks(CHUNK) {
        let x = tensor4(images.gather(chunk), chunk.len(), images.shape, &device);
        let values: Vec<f32> = which(model.forward(x))
            .into_data()
            .try_to_vec::<f32>()
            .unwrap_or_default();
        let width = values.len() / chunk.len().max(1);
        out.extend(values.chunks(width.max(1)).map(|c| c.to_vec()));
    }
    out
}

/// Class probabilities of every image in `images` by `model` (validation mode).
pub fn predict(model: &Classifier, images: &Images, device: &Device) -> Vec<Vec<f32>> {
    probabilities(model, images, device, false)
}

/// Entropy of a probability vector in nats.
pub fn entropy(p: &[f32]) -> f64 {
    -p.iter()
        .filter(|&&x| x > 0.0)
        .map(|&x| x as f64 * (x as f64).ln())
        .sum::<f64>()
}

/// A model on a labeled set: its metrics and mean negative log-likelihood.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scored {
    pub metrics: Metrics,
    /// Mean −ln p(true class), nats.
    pub loss: f64,
}

/// Metrics and loss of `model` on the labeled `images`.
pub fn score(model: &Classifier, images: &Images, classes: usize, device: &Device) -> Scored {
    let truth: Vec<usize> = images.labels.iter().map(|l| l.unwrap_or(0)).collect();
    let probabilities = predict(model, images, device);
    let loss = probabilities
        .iter()
        .zip(&truth)
        .map(|(p, &t)| -(p.get(t).copied().unwrap_or(0.0).max(1e-12) as f64).ln())
        .sum::<f64>()
        / truth.len().max(1) as f64;
    Scored {
        metrics: metrics::evaluate(&probabilities, &truth, classes),
        loss,
    }
}

/// Predictions for `images`: the teacher's probabilities (the student's
/// without one), predictive entropy, epistemic entropy from `mc_passes`
/// dropout-on passes of the student (which must live on the autodiff
/// device), and student–teacher disagreement.
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
    let passes: Vec<Vec<Vec<f32>>> = (0..mc_passes)
        .map(|_| probabilities(student, images, device, true))
        .collect();
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

/// Predictions for the unlabeled pool (with MC dropout) and the test pool.
pub fn predict_pools(
    student: &Classifier,
    teacher: Option<&Classifier>,
    unlabeled: &Images,
    test: &Images,
    device: &Device,
    run: &str,
) -> Vec<Prediction> {
    let mut predictions =
        predict_items(student, teacher, unlabeled, device, run, MC_DROPOUT_PASSES);
    predictions.extend(predict_items(student, teacher, test, device, run, 0));
    predictions
}

/// A saved run loaded back: its configuration and the checkpoint it reports.
pub struct LoadedRun {
    pub config: TrainConfig,
    /// The classes its head scores (its project's target values).
    pub classes: Vec<String>,
    /// On the autodiff device (so MC dropout and fine-tuning can use it).
    pub student: Classifier,
    /// On the plain device.
    pub teacher: Option<Classifier>,
}

/// Loads `runs/<run>` of the project at `root` onto `device`: the
/// checkpoint chosen on the validation split, or, for runs made before
/// there was one, the last epoch's.
pub fn load_run(root: &Path, run: &str, device: &Device) -> Result<LoadedRun, TrainError> {
    let dir = super::runs::run_dir(root, run)?;
    let config = super::runs::read_config(root, run)?;
    let class_names = Project::open(root)?.schema().target_field().values.clone();
    let classes = class_names.len();
    let device = device.clone().autodiff();
    let load = |names: [&str; 2]| -> Result<Option<Classifier>, TrainError> {
        let Some(path) = names.iter().map(|n| dir.join(n)).find(|p| p.is_file()) else {
            return Ok(None);
        };
        let record = burn::store::ModuleRecord::load(&path)
            .map_err(|e| TrainError::Data(format!("{}: {e}", path.display())))?;
        classifier_for(&config, classes, &device)
            .try_load_record(record)
            .map(Some)
            .map_err(|e| {
                TrainError::Data(format!(
                    "{} does not fit this model: {}",
                    path.display(),
                    super::error::checkpoint_mismatch(e)
                ))
            })
    };
    let student = load([CHOSEN_STUDENT, LAST_STUDENT])?
        .ok_or_else(|| TrainError::Data(format!("run {run} has no checkpoint")))?;
    let teacher = load([CHOSEN_TEACHER, LAST_TEACHER])?.map(|t| t.valid());
    Ok(LoadedRun {
        config,
        classes: class_names,
        student,
        teacher,
    })
}

/// A saved run and the project's pools at its input size.
fn load_with_pools(
    root: &Path,
    run: &str,
    compute: &ComputeDevice,
    rasterize: Rasterize,
) -> Result<(LoadedRun, data::PoolData), TrainError> {
    let loaded = load_run(root, run, &compute.device)?;
    let data = data::load_for(&Project::open(root)?, &loaded.config, rasterize)?;
    Ok((loaded, data))
}

/// Predictions of a saved run for the unlabeled and test pools, stored in the project.
pub fn predict_run(
    root: &Path,
    run: &str,
    compute: &ComputeDevice,
    rasterize: Rasterize,
) -> Result<usize, TrainError> {
    if super::runs::read_config(root, run)?.method.segments() {
        return super::segmentation::predict_run(root, run, compute);
    }
    let (loaded, data) = load_with_pools(root, run, compute, rasterize)?;
    let predictions = predict_pools(
        &loaded.student,
        loaded.teacher.as_ref(),
        &data.unlabeled,
        &data.test,
        &compute.device,
        run,
    );
    Project::open(root)?.set_predictions(&predictions)?;
    Ok(predictions.len())
}

/// Test-pool metrics of a saved run's reported checkpoint (student and teacher).
pub fn evaluate_run(
    root: &Path,
    run: &str,
    compute: &ComputeDevice,
    rasterize: Rasterize,
) -> Result<RunSummary, TrainError> {
    if super::runs::read_config(root, run)?.method.segments() {
        return super::segmentation::evaluate_run(root, run, compute);
    }
    let (loaded, data) = load_with_pools(root, run, compute, rasterize)?;
    classify_summary(root, run, &loaded, &data, compute)
}

/// [`evaluate_run`] of a classification run and its [`TestItems`], from one
/// load of the run and its pools.
pub fn evaluate_run_with_items(
    root: &Path,
    run: &str,
    compute: &ComputeDevice,
    rasterize: Rasterize,
) -> Result<(RunSummary, TestItems), TrainError> {
    if super::runs::read_config(root, run)?.method.segments() {
        return Err(TrainError::Data(format!(
            "run {run} segments: its test items are label maps, see its Dice"
        )));
    }
    let (loaded, data) = load_with_pools(root, run, compute, rasterize)?;
    let summary = classify_summary(root, run, &loaded, &data, compute)?;
    Ok((summary, test_items(&loaded, &data, compute)))
}

/// Test-pool metrics of a loaded classification run (student and teacher).
fn classify_summary(
    root: &Path,
    run: &str,
    loaded: &LoadedRun,
    data: &data::PoolData,
    compute: &ComputeDevice,
) -> Result<RunSummary, TrainError> {
    if data.test.is_empty() {
        return Err(TrainError::Data(
            "the test pool has no labeled items to evaluate on".into(),
        ));
    }
    let classes = data.classes.len();
    let dir = super::runs::run_dir(root, run)?;
    let chosen = dir.join(CHOSEN_STUDENT).is_file();
    let saved = super::runs::saved_summary(&dir);
    let score = |model: &Classifier| score(model, &data.test, classes, &compute.device).metrics;
    Ok(RunSummary {
        run: run.to_string(),
        epochs: saved
            .as_ref()
            .map_or_else(|| super::runs::recorded_epochs(&dir), |s| s.epochs),
        unfinished: saved.is_none(),
        chosen_epoch: saved.as_ref().and_then(|s| s.chosen_epoch),
        selected_on: match (chosen, &saved) {
            (true, Some(s)) => s.selected_on,
            _ => Selection::LastEpoch,
        },
        student: score(&loaded.student),
        teacher: loaded.teacher.as_ref().map(score),
        stopped_early: saved.as_ref().is_none_or(|s| s.stopped_early),
        eye: match loaded.config.label_source {
            LabelSource::Images => None,
            LabelSource::Eyes => {
                let model = loaded.teacher.as_ref().unwrap_or(&loaded.student);
                let tested = predict(model, &data.test, &compute.device);
                Some(eye_metrics(
                    model,
                    loaded.config.eye_pooling,
                    &EyeTable::load(&Project::open(root)?)?,
                    &[&data.labeled],
                    data.test
                        .ids
                        .iter()
                        .copied()
                        .zip(tested.iter().map(Vec::as_slice)),
                    &compute.device,
                ))
            }
        },
        skipped: data
            .skipped
            .iter()
            .map(|(id, why)| format!("item {id}: {why}"))
            .collect(),
    })
}

/// A saved run's reported student on its test pool, item by item: what a
/// comparison across runs that read different items (an image model
/// reads only the cases with a CT) needs to score them on one set.
#[derive(Clone, Debug, PartialEq)]
pub struct TestItems {
    pub ids: Vec<i64>,
    /// Class index of each item's consensus label.
    pub labels: Vec<usize>,
    /// The student's class probabilities for each item.
    pub probabilities: Vec<Vec<f32>>,
    /// Class frequencies of the run's labeled pool: the answer of a model
    /// that cannot read a case (its base rate).
    pub labeled_prior: Vec<f64>,
}

/// [`TestItems`] of a loaded run's reported student.
fn test_items(loaded: &LoadedRun, data: &data::PoolData, compute: &ComputeDevice) -> TestItems {
    let classes = data.classes.len().max(1);
    let mut counts = vec![0usize; classes];
    for label in data.labeled.labels.iter().flatten() {
        if let Some(count) = counts.get_mut(*label) {
            *count += 1;
        }
    }
    let total = counts.iter().sum::<usize>().max(1) as f64;
    TestItems {
        ids: data.test.ids.clone(),
        labels: data.test.labels.iter().map(|l| l.unwrap_or(0)).collect(),
        probabilities: predict(&loaded.student, &data.test, &compute.device),
        labeled_prior: counts.iter().map(|&c| c as f64 / total).collect(),
    }
}

/// Eye-level test metrics of `model`: its probabilities for the test
/// photographs (`tested`: item id → probabilities, as the run predicted
/// them) rolled up to their eyes by `pooling` (the attention pooling fitted
/// on its probabilities for the `labeled` sets' photographs).
pub fn eye_metrics<'a>(
    model: &Classifier,
    pooling: EyePooling,
    table: &EyeTable,
    labeled: &[&Images],
    tested: impl IntoIterator<Item = (i64, &'a [f32])>,
    device: &Device,
) -> EyeMetrics {
    let outputs = |images: &Images| {
        let probabilities = predict(model, images, device);
        images
            .ids
            .iter()
            .copied()
            .zip(probabilities)
            .collect::<Vec<_>>()
    };
    let pooler = match pooling {
        EyePooling::Max => Pooler::Max,
        EyePooling::Attention => {
            let fitted: Vec<(i64, Vec<f32>)> = labeled.iter().flat_map(|i| outputs(i)).collect();
            let classes = fitted.first().map_or(0, |(_, p)| p.len());
            Pooler::Attention(
                table.fit_attention(fitted.iter().map(|(id, p)| (*id, p.as_slice())), classes),
            )
        }
    };
    let eyes = table.roll_up(tested, &pooler);
    table.score(&eyes, pooling)
}

/// The network a run's configuration describes, new weights, for `classes` classes.
pub fn classifier_for(config: &TrainConfig, classes: usize, device: &Device) -> Classifier {
    use crate::train::config::InputKind;
    match config.input_kind() {
        InputKind::Fusion(_) => Classifier::Fusion(crate::train::models::fusion::Fusion::new(
            &crate::train::models::fusion::FusionConfig {
                classes,
                width: config.width,
                dropout: config.dropout,
                channels: config.image_channels(),
                size: config.input_size,
                record_inputs: config.record_inputs,
            },
            device,
        )),
        InputKind::Series(_) => {
            // The classifier's weights come from the image run the
            // policy serves (`distill::attach_policy_classifier`).
            let classifier = crate::train::models::resnet::ResNet::new(
                &crate::train::models::resnet::ResNetConfig {
                    classes,
                    width: config.width,
                    dropout: 0.0,
                    channels: config.image_channels(),
                },
                device,
            );
            Classifier::SlicePolicy(crate::train::models::slice_policy::SlicePolicy::new(
                crate::train::models::slice_policy::SliceScorer::new(
                    &crate::train::models::slice_policy::SliceScorerConfig {
                        width: crate::train::models::SCORER_WIDTH,
                    },
                    device,
                ),
                classifier,
                config.image_channels(),
            ))
        }
        _ => Classifier::with_inputs(
            config.model,
            classes,
            config.width,
            config.dropout,
            config.xception,
            config.record_inputs,
            config.image_channels(),
            device,
        ),
    }
}
