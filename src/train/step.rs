//! What a method's optimizer step sees and returns, for both tasks: the
//! batches ([`Batch`] of images or records, [`SegBatch`] of slices or
//! volumes), the models, where the step stands ([`StepContext`]), the two
//! step traits, and a method's [`Declaration`] — its spec and how to build
//! its step. Method files use these; the tasks (`classify`, `segmentation`)
//! feed them; the run loop (`run`) drives the tasks.

use burn::optim::ModuleOptimizer;
use burn::tensor::{Int, Tensor};

use super::augment::{augment, augment_geometry};
use super::config::{InputKind, TrainConfig};
use super::error::TrainError;
use super::events::{Scalars, series};
use super::models::Classifier;
use super::models::unet::Segmenter;
use super::spec::Method;

/// The models a method trains: a student, and a teacher for methods that keep one.
#[derive(Clone, Debug)]
pub struct Models {
    /// On the autodiff device: the model the optimizer updates.
    pub student: Classifier,
    /// On the plain device (no gradient reaches it), where the method keeps one.
    pub teacher: Option<Classifier>,
}

/// A training batch: labeled images first, then unlabeled ones.
pub struct Batch {
    /// `[L, 3, H, W]` on the student's (autodiff) device.
    pub labeled: Tensor<4>,
    /// `[L]` class indices.
    pub labels: Tensor<1, Int>,
    /// `[L]` weights of the labeled images in the supervised loss (their
    /// classes' weights, when the run weighs classes).
    pub weights: Option<Tensor<1>>,
    /// `[U, 3, H, W]`, for methods that read unlabeled images.
    pub unlabeled: Option<Tensor<4>>,
    /// A frozen teacher's features for the samples it could see, for
    /// distillation methods.
    pub guidance: Option<Guidance>,
    /// `[C]` the labeled pool's inverse-frequency class weights
    /// `N/(C·n_c)`, for methods that weigh a term by class (mean teacher's
    /// class-weighted consistency); `None` where the task has none.
    pub class_balance: Option<Tensor<1>>,
}

/// Teacher features for some samples of a batch.
pub struct Guidance {
    /// `[K]` rows of the batch (labeled first, then unlabeled) that have features.
    pub rows: Tensor<1, Int>,
    /// `[K, N]` the teacher's feature vectors of those rows (no gradient).
    pub features: Tensor<2>,
}

impl Batch {
    pub fn images(&self) -> usize {
        self.labeled.dims()[0] + self.unlabeled.as_ref().map_or(0, |u| u.dims()[0])
    }
}

/// One segmentation step's samples as tensors.
pub struct SegBatch {
    /// `[B, C_student, P]` on the student's (autodiff) device.
    pub input: Tensor<3>,
    /// `[B, C_teacher, P]` on the plain device, for methods with a teacher.
    pub teacher_input: Option<Tensor<3>>,
    /// `[B, K, P]` the truth one-hot, on the student's device.
    pub onehot: Tensor<3>,
    /// A sample's spatial shape (`[H, W]` or `[D, H, W]`).
    pub spatial: Vec<usize>,
}

/// Where a step stands in the run.
pub struct StepContext<'a> {
    pub learning_rate: f64,
    /// Optimizer steps taken before this one.
    pub global_step: u64,
    /// Epochs done, with the fraction of the current one.
    pub epoch_progress: f64,
    pub config: &'a TrainConfig,
}

/// One classifying method's optimizer step.
pub trait TrainingMethod: Send {
    /// One optimizer step: the models after it, and the step's named values.
    fn step(
        &mut self,
        models: Models,
        optimizer: &mut ModuleOptimizer,
        batch: &Batch,
        context: &StepContext,
    ) -> (Models, Scalars);
}

/// One segmentation method's optimizer step.
pub trait SegmentationMethod: Send {
    /// One optimizer step of `student` (on the autodiff device); `teacher`
    /// is the frozen teacher run's network (plain device), for methods
    /// that take one.
    fn step(
        &mut self,
        student: Segmenter,
        teacher: Option<&Segmenter>,
        optimizer: &mut ModuleOptimizer,
        batch: &SegBatch,
        context: &StepContext,
    ) -> (Segmenter, Scalars);
}

/// A method's step, for the task it declares.
pub enum Stepper {
    Classify(Box<dyn TrainingMethod>),
    Segment(Box<dyn SegmentationMethod>),
}

/// A method as the registry (`methods`) lists it: its declaration and how
/// to build its step for a new run.
#[derive(Clone, Copy)]
pub struct Declaration {
    pub method: Method,
    pub build: fn() -> Stepper,
}

/// A loss tensor's value.
pub(crate) fn scalar(t: &Tensor<1>) -> f64 {
    t.clone().into_scalar::<f32>() as f64
}

/// [`super::augment::augment`] for what a run reads: images and volumes (each slice moved
/// alike) are perturbed; a tabular record is left as it is (a flip or a
/// brightness shift of a questionnaire means nothing), and so are the
/// slices fused with a record (one flat vector); a CT series' slices are
/// only moved ([`super::augment::augment_geometry`]): their Hounsfield units are the
/// measurement (bone density is read from them), and a brightness jitter
/// would fake a denser or thinner bone.
pub fn augment_input(x: Tensor<4>, config: &TrainConfig) -> Tensor<4> {
    match config.input_kind() {
        InputKind::Record
        | InputKind::Series(_)
        | InputKind::Fusion(_)
        | InputKind::Sequences(_) => x,
        InputKind::Slices(_) => augment_geometry(x, &config.augmentation),
        InputKind::Image | InputKind::Volume(_) => augment(x, &config.augmentation),
    }
}

/// The one stop rule for a diverged run: a step's total loss that is not
/// finite ends the run (the last good checkpoint is kept).
pub(crate) fn check_finite(values: &Scalars, epoch: usize, step: u64) -> Result<(), TrainError> {
    match values
        .get(series::TOTAL_LOSS)
        .copied()
        .filter(|v| !v.is_finite())
    {
        Some(value) => Err(TrainError::NotFinite { value, epoch, step }),
        None => Ok(()),
    }
}
