//! The training methods as one family. A method is one file here: it says
//! what data it reads (modalities, whether the unlabeled part of each batch),
//! whether it keeps a teacher, the named series it reports, and its
//! optimizer step. The trainer does the rest
//! (sampling, schedules, evaluation, checkpoints), the same for every
//! method, so methods are compared on the same steps and images.

pub mod mean_teacher;
pub mod supervised;

use burn::optim::ModuleOptimizer;
use burn::tensor::{Int, Tensor};

use super::config::{IMAGE_MODALITY, Method, TrainConfig};
use super::events::Scalars;
use super::models::Classifier;

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
}

impl Batch {
    pub fn images(&self) -> usize {
        self.labeled.dims()[0] + self.unlabeled.as_ref().map_or(0, |u| u.dims()[0])
    }
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

/// What a method is, as data: its name, what it reads and keeps, the
/// series each step reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MethodSpec {
    /// The contract name (`supervised`, `mean-teacher`, …): run folders carry it.
    pub name: &'static str,
    /// A teacher model is kept beside the student (and evaluated).
    pub keeps_teacher: bool,
    /// The step reads the unlabeled part of each batch.
    pub uses_unlabeled: bool,
    /// The series each step reports, by name (`loss/…`, `schedule/…`, `grad/…`).
    pub series: &'static [&'static str],
    /// Modality roles the method can read.
    pub modalities: &'static [&'static str],
    /// Roles of the teacher runs the method distils from.
    pub teacher_roles: &'static [&'static str],
}

impl MethodSpec {
    /// A single-image method without teacher runs named `name`.
    pub const fn image(
        name: &'static str,
        keeps_teacher: bool,
        uses_unlabeled: bool,
        series: &'static [&'static str],
    ) -> Self {
        Self {
            name,
            keeps_teacher,
            uses_unlabeled,
            series,
            modalities: &[IMAGE_MODALITY],
            teacher_roles: &[],
        }
    }
}

/// One training method.
pub trait TrainingMethod: Send {
    fn spec(&self) -> &MethodSpec;

    /// One optimizer step: the models after it, and the step's named values.
    fn step(
        &mut self,
        models: Models,
        optimizer: &mut ModuleOptimizer,
        batch: &Batch,
        context: &StepContext,
    ) -> (Models, Scalars);
}

/// The implementation of a configured method.
pub fn build(method: Method) -> Box<dyn TrainingMethod> {
    match method {
        Method::Supervised => Box::new(supervised::Supervised),
        Method::MeanTeacher => Box::new(mean_teacher::MeanTeacher),
    }
}

/// A loss tensor's value.
pub(crate) fn scalar(t: &Tensor<1>) -> f64 {
    t.clone().into_scalar::<f32>() as f64
}

/// The L2 norm of a loss's gradient over `module`'s parameters: the
/// `‖∇_θ L‖₂` of METHODS.md §3's `grad_ratio`, from that loss's own backward
/// pass.
pub fn gradient_norm<M: burn::module::Module>(
    grads: &burn::optim::GradientsParams,
    module: &M,
) -> f64 {
    struct SumOfSquares<'a> {
        grads: &'a burn::optim::GradientsParams,
        total: f64,
    }
    impl burn::module::ModuleVisitor for SumOfSquares<'_> {
        fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
            if let Some(g) = self.grads.get::<D>(param.id) {
                self.total += g.powf_scalar(2.0).sum().into_scalar::<f32>() as f64;
            }
        }
    }
    let mut visitor = SumOfSquares { grads, total: 0.0 };
    module.visit(&mut visitor);
    visitor.total.sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    #[test]
    fn gradient_norm_on_a_hand_computed_layer() {
        let device = Device::flex().autodiff();
        let layer = burn::nn::LinearConfig::new(2, 1).init(&device);
        let x = Tensor::<2>::from_data(TensorData::from([[1.0f32, 2.0]]), &device);
        // L = Σ (x W + b): ∂L/∂W = xᵀ = (1, 2), ∂L/∂b = 1 → ‖∇‖ = √6.
        let loss = layer.forward(x).sum();
        let grads = burn::optim::GradientsParams::from_grads(loss.backward(), &layer);
        let norm = gradient_norm(&grads, &layer);
        assert!((norm - 6f64.sqrt()).abs() < 1e-6, "{norm}");
    }
}
