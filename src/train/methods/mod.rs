//! The training methods as one family. A method is one file here: it says
//! what data it reads (modalities, whether the unlabeled part of each batch),
//! whether it keeps a teacher, the named series it reports, and its
//! optimizer step. The trainer does the rest
//! (sampling, schedules, evaluation, checkpoints), the same for every
//! method, so methods are compared on the same steps and images.

pub mod cross_modal_kd;
pub mod kdamm;
pub mod mean_teacher;
pub mod multimodal;
pub mod protokd;
pub mod segmentation;
pub mod slice_policy;
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
    /// A frozen teacher's features for the samples it could see, for
    /// distillation methods.
    pub guidance: Option<Guidance>,
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
    /// The kinds of input the method can read (`image`, `tabular`,
    /// `volume`: see [`super::config::InputKind::kind_name`]).
    pub modalities: &'static [&'static str],
    /// The kinds of input of the teacher runs the method distils from
    /// (empty: it takes none; otherwise it needs one).
    pub teacher_roles: &'static [&'static str],
    /// What the method takes from its teacher runs.
    pub teacher_use: TeacherUse,
}

/// What a method takes from its frozen teacher runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TeacherUse {
    /// It has none.
    None,
    /// One run's pooled features per case, cached (`Batch::guidance`).
    Features,
    /// Each run's logits per case, cached with a "seen" flag, one block per
    /// teacher kind (see `distill::attach_outputs`).
    Outputs,
    /// One run's classifier, frozen inside the model it trains.
    Classifier,
    /// One segmentation run's network, frozen, run beside the student on
    /// the same samples (its outputs and decoder features).
    Segmenter,
}

impl MethodSpec {
    /// The one rule on teacher runs: a method that distils needs one, a
    /// method without teachers takes none.
    pub fn check_teachers(&self, teachers: &[String]) -> Result<(), String> {
        if !self.teacher_roles.is_empty() && teachers.is_empty() {
            return Err(format!(
                "method {} distils from a teacher run on {}: name one (--teacher RUN)",
                self.name,
                self.teacher_roles.join(" or ")
            ));
        }
        if self.teacher_roles.is_empty() && !teachers.is_empty() {
            return Err(format!(
                "method {} takes no teacher runs (given {})",
                self.name,
                teachers.join(", ")
            ));
        }
        Ok(())
    }

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
            teacher_use: TeacherUse::None,
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

/// The implementation of a configured classifying method (`None` for the
/// segmentation methods: `crate::train::segmentation::build`).
pub fn build(method: Method) -> Option<Box<dyn TrainingMethod>> {
    Some(match method {
        Method::Supervised => Box::new(supervised::Supervised),
        Method::MeanTeacher => Box::new(mean_teacher::MeanTeacher),
        Method::CrossModalKd => Box::new(cross_modal_kd::CrossModalKd),
        Method::SlicePolicy => Box::new(slice_policy::SlicePolicyMethod::default()),
        Method::Multimodal => Box::new(multimodal::Multimodal),
        Method::Kdamm => Box::new(kdamm::Kdamm),
        Method::Segmentation | Method::Protokd => return None,
    })
}

/// What `method` is: its name, what it reads, its teacher, its series.
pub fn spec(method: Method) -> MethodSpec {
    match method {
        Method::Segmentation => segmentation::SPEC,
        Method::Protokd => protokd::SPEC,
        other => match build(other) {
            Some(m) => *m.spec(),
            None => segmentation::SPEC,
        },
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

/// What [`ratio_weighted_gradients`] measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GradientRatio {
    /// `‖∇_θ L_a‖₂`.
    pub norm_a: f64,
    /// `‖∇_θ L_b‖₂`.
    pub norm_b: f64,
    /// `norm_a / norm_b` (0 when `L_b` has no gradient).
    pub ratio: f64,
}

/// The gradients of `α·L_a + (1 − α)·ratio·L_b` over `module`'s
/// parameters, `ratio = ‖∇_θ L_a‖₂ / ‖∇_θ L_b‖₂` recomputed at every call
/// (METHODS.md §3's `grad_ratio`, with L_a the cross-entropy and L_b the
/// distillation term). The norms need each loss's gradient apart, and Burn
/// frees a graph at its backward pass (no `retain_graph`), so each loss is
/// built by its own closure — its own forward pass of the student — and
/// gets its own backward pass; what does not need a gradient (the teacher's
/// features) is computed once outside. The weighted sum of the two
/// gradients is the gradient of the weighted loss, so no third pass is
/// needed.
pub fn ratio_weighted_gradients<M: burn::module::Module>(
    loss_a: impl FnOnce() -> Tensor<1>,
    loss_b: impl FnOnce() -> Tensor<1>,
    alpha: f64,
    module: &M,
) -> (burn::optim::GradientsParams, GradientRatio) {
    weighted_gradients(loss_a, loss_b, alpha, true, module)
}

/// [`ratio_weighted_gradients`], or with `use_ratio` off the fixed
/// weights `α` and `1 − α` (the ratio is still measured and reported).
pub fn weighted_gradients<M: burn::module::Module>(
    loss_a: impl FnOnce() -> Tensor<1>,
    loss_b: impl FnOnce() -> Tensor<1>,
    alpha: f64,
    use_ratio: bool,
    module: &M,
) -> (burn::optim::GradientsParams, GradientRatio) {
    use burn::optim::GradientsParams;
    let grads_a = GradientsParams::from_grads(loss_a().backward(), module);
    let grads_b = GradientsParams::from_grads(loss_b().backward(), module);
    let (norm_a, norm_b) = (
        gradient_norm(&grads_a, module),
        gradient_norm(&grads_b, module),
    );
    let ratio = if norm_b > 0.0 { norm_a / norm_b } else { 0.0 };
    struct Combine<'a> {
        a: &'a GradientsParams,
        b: &'a GradientsParams,
        weight_a: f64,
        weight_b: f64,
        out: GradientsParams,
    }
    impl burn::module::ModuleVisitor for Combine<'_> {
        fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
            let a = self
                .a
                .get::<D>(param.id)
                .map(|g| g.mul_scalar(self.weight_a));
            let b = self
                .b
                .get::<D>(param.id)
                .map(|g| g.mul_scalar(self.weight_b));
            let sum = match (a, b) {
                (Some(a), Some(b)) => Some(a + b),
                (a, b) => a.or(b),
            };
            if let Some(g) = sum {
                self.out.register(param.id, g);
            }
        }
    }
    let mut combine = Combine {
        a: &grads_a,
        b: &grads_b,
        weight_a: alpha,
        weight_b: (1.0 - alpha) * if use_ratio { ratio } else { 1.0 },
        out: GradientsParams::new(),
    };
    module.visit(&mut combine);
    (
        combine.out,
        GradientRatio {
            norm_a,
            norm_b,
            ratio,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    #[test]
    fn the_gradient_ratio_balances_two_losses() {
        let device = Device::flex().autodiff();
        let layer = burn::nn::LinearConfig::new(2, 1).init(&device);
        let x = Tensor::<2>::from_data(TensorData::from([[1.0f32, 2.0]]), &device);
        // L_a = Σ y, L_b = 4 Σ y: ratio ¼, so α·g + (1 − α)·¼·4g = g.
        let (grads, measured) = ratio_weighted_gradients(
            || layer.forward(x.clone()).sum(),
            || layer.forward(x.clone()).sum().mul_scalar(4.0),
            0.3,
            &layer,
        );
        assert!((measured.ratio - 0.25).abs() < 1e-6, "{measured:?}");
        assert!((measured.norm_a - 6f64.sqrt()).abs() < 1e-6);
        let weight: Vec<f32> = grads
            .get::<2>(layer.weight.id)
            .unwrap()
            .into_data()
            .try_to_vec()
            .unwrap();
        assert!(
            (weight[0] - 1.0).abs() < 1e-6 && (weight[1] - 2.0).abs() < 1e-6,
            "{weight:?}"
        );
    }

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
