//! One optimizer step of each method: supervised (cross-entropy on the
//! labeled images) and mean teacher + semantic relation consistency
//! (METHODS.md §1). Augmentations run on the device.

use burn::module::Module;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::ops::{GridSampleOptions, GridSamplePaddingMode, InterpolateMode};
use burn::tensor::{Distribution, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::ema::ema_update;
use super::losses::{consistency, cross_entropy, relation_consistency};
use super::model::Classifier;
use super::schedule::{ema_alpha, ramp_up};

/// A training batch: labeled images first, then unlabeled ones.
pub struct Batch {
    /// `[L, 3, H, W]` on the student's (autodiff) device.
    pub labeled: Tensor<4>,
    /// `[L]` class indices.
    pub labels: Tensor<1, Int>,
    /// `[U, 3, H, W]`; may be empty (`U = 0`) for supervised training.
    pub unlabeled: Option<Tensor<4>>,
}

/// Mean-teacher settings (METHODS.md §1; the reference values are the defaults).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct MeanTeacherConfig {
    pub ema_decay: f64,
    /// `w_max` of the ramp-up.
    pub consistency_weight: f64,
    /// `T`, in epochs.
    pub rampup_epochs: f64,
    /// `λ`, the weight of the relation term relative to the consistency term.
    pub relation_weight: f64,
}

impl Default for MeanTeacherConfig {
    fn default() -> Self {
        Self {
            ema_decay: 0.99,
            consistency_weight: 1.0,
            rampup_epochs: 30.0,
            relation_weight: 1.0,
        }
    }
}

/// Strength of the random perturbations (METHODS.md §1 gives the defaults).
/// Fundus photographs are taken at any rotation, so a larger rotation is a
/// fair invariance there; the method's own setting is ±10°.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Augmentation {
    /// Largest rotation either way, in degrees.
    pub rotation_degrees: f64,
    /// Largest shift either way, as a fraction of the image edge.
    pub translation: f64,
    pub horizontal_flip: bool,
}

impl Default for Augmentation {
    fn default() -> Self {
        Self {
            rotation_degrees: 10.0,
            translation: 0.02,
            horizontal_flip: true,
        }
    }
}

/// The loss terms of one step, for the live curves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StepLosses {
    pub supervised: f64,
    pub consistency: f64,
    pub relation: f64,
    pub total: f64,
    /// Ramp-up weight `w(e)` used.
    pub weight: f64,
    /// EMA α used for the teacher.
    pub alpha: f64,
}

/// Random perturbation per image, on the device: horizontal flip, rotation
/// (±10° by default), translation (±2 %), brightness/contrast jitter,
/// Gaussian noise. Mean teacher gives student and teacher different draws.
///
/// # Shapes
/// `[B, C, H, W]` → `[B, C, H, W]`
pub fn augment(images: Tensor<4>, strength: &Augmentation) -> Tensor<4> {
    let [batch, _, height, width] = images.dims();
    let device = images.device();
    let per_image = |low: f64, high: f64| {
        Tensor::<4>::random([batch, 1, 1, 1], Distribution::Uniform(low, high), &device)
    };
    let flip_probability = if strength.horizontal_flip { 0.5 } else { 0.0 };
    let flip = Tensor::<4>::random(
        [batch, 1, 1, 1],
        Distribution::Bernoulli(flip_probability),
        &device,
    );
    let flipped = images.clone().flip([3]);
    let images = flipped * flip.clone() + images * (flip.neg() + 1.0);

    // Rotation and translation by sampling each image on a moved grid
    // (coordinates in [−1, 1], pixel centres as grid_sample expects them).
    let xs: Vec<f32> = (0..width)
        .map(|i| (2 * i + 1) as f32 / width as f32 - 1.0)
        .collect();
    let ys: Vec<f32> = (0..height)
        .map(|j| (2 * j + 1) as f32 / height as f32 - 1.0)
        .collect();
    let x = Tensor::<1>::from_data(TensorData::new(xs, [width]), &device)
        .reshape([1, 1, width])
        .expand([batch, height, width]);
    let y = Tensor::<1>::from_data(TensorData::new(ys, [height]), &device)
        .reshape([1, height, 1])
        .expand([batch, height, width]);
    let angle = Tensor::<3>::random(
        [batch, 1, 1],
        Distribution::Uniform(
            -strength.rotation_degrees.to_radians(),
            strength.rotation_degrees.to_radians(),
        ),
        &device,
    );
    let (cos, sin) = (angle.clone().cos(), angle.sin());
    // Grid coordinates span 2 per image edge.
    let shift = 2.0 * strength.translation;
    let shift_x = Tensor::<3>::random([batch, 1, 1], Distribution::Uniform(-shift, shift), &device);
    let shift_y = Tensor::<3>::random([batch, 1, 1], Distribution::Uniform(-shift, shift), &device);
    let grid_x = cos.clone() * x.clone() - sin.clone() * y.clone() + shift_x;
    let grid_y = sin * x + cos * y + shift_y;
    let grid: Tensor<4> = Tensor::stack(vec![grid_x, grid_y], 3);
    let options = GridSampleOptions::new(InterpolateMode::Bilinear)
        .with_padding_mode(GridSamplePaddingMode::Border);
    let images = images.grid_sample_2d(grid, options);

    let noise = Tensor::<4>::random(images.shape(), Distribution::Normal(0.0, 0.03), &device);
    images * per_image(0.85, 1.15) + per_image(-0.1, 0.1) + noise
}

fn scalar(t: &Tensor<1>) -> f64 {
    t.clone().into_scalar::<f32>() as f64
}

/// One supervised step on the labeled images.
pub fn supervised_step(
    student: Classifier,
    optimizer: &mut ModuleOptimizer,
    batch: &Batch,
    lr: f64,
    augmentation: &Augmentation,
) -> (Classifier, StepLosses) {
    let (logits, _) = student.forward(augment(batch.labeled.clone(), augmentation));
    let loss = cross_entropy(logits, batch.labels.clone());
    let value = scalar(&loss);
    let grads = GradientsParams::from_grads(loss.backward(), &student);
    let student = optimizer.step(lr, student, grads);
    (
        student,
        StepLosses {
            supervised: value,
            total: value,
            ..Default::default()
        },
    )
}

/// One mean-teacher step: the student learns from the labels and from
/// agreeing with the teacher (predictions and sample relations) on every
/// image; then the teacher takes the EMA of the student. Only the student
/// gets gradients: the teacher lives on the plain device.
#[allow(clippy::too_many_arguments)]
pub fn mean_teacher_step(
    student: Classifier,
    teacher: Classifier,
    optimizer: &mut ModuleOptimizer,
    batch: &Batch,
    lr: f64,
    step: u64,
    epoch: f64,
    config: &MeanTeacherConfig,
    augmentation: &Augmentation,
) -> (Classifier, Classifier, StepLosses) {
    let labeled_count = batch.labeled.dims()[0];
    let images = match &batch.unlabeled {
        Some(unlabeled) => Tensor::cat(vec![batch.labeled.clone(), unlabeled.clone()], 0),
        None => batch.labeled.clone(),
    };
    let (student_logits, student_features) = student.forward(augment(images.clone(), augmentation));
    // The teacher sees its own perturbation, without autodiff.
    let (teacher_logits, teacher_features) =
        teacher.forward(augment(images.without_autodiff(), augmentation));
    let (teacher_logits, teacher_features) =
        (teacher_logits.autodiff(), teacher_features.autodiff());

    let supervised = cross_entropy(
        student_logits.clone().narrow(0, 0, labeled_count),
        batch.labels.clone(),
    );
    let consistency_loss = consistency(student_logits, teacher_logits);
    let relation_loss = relation_consistency(student_features, teacher_features);
    let weight = ramp_up(epoch, config.rampup_epochs, config.consistency_weight);
    let total = supervised.clone()
        + consistency_loss.clone().mul_scalar(weight)
        + relation_loss
            .clone()
            .mul_scalar(weight * config.relation_weight);
    let losses = StepLosses {
        supervised: scalar(&supervised),
        consistency: scalar(&consistency_loss),
        relation: scalar(&relation_loss),
        total: scalar(&total),
        weight,
        alpha: ema_alpha(step, config.ema_decay),
    };
    let grads = GradientsParams::from_grads(total.backward(), &student);
    let student = optimizer.step(lr, student, grads);
    let teacher = ema_update(teacher, &student.valid(), losses.alpha);
    (student, teacher, losses)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::model::ModelKind;
    use burn::module::{ModuleVisitor, Param};
    use burn::optim::AdamConfig;
    use burn::tensor::Device;

    fn batch(device: &Device) -> Batch {
        let labeled = Tensor::<4>::random([4, 3, 16, 16], Distribution::Normal(0.0, 1.0), device);
        let labels = Tensor::<1, Int>::from_data(TensorData::from([0i64, 1, 2, 1]), device);
        let unlabeled = Tensor::<4>::random([4, 3, 16, 16], Distribution::Normal(0.0, 1.0), device);
        Batch {
            labeled,
            labels,
            unlabeled: Some(unlabeled),
        }
    }

    /// The first float parameter's values and whether it is tracked by autodiff.
    struct First(Option<(Vec<f32>, bool)>);
    impl ModuleVisitor for First {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if self.0.is_none() {
                let v = param.val();
                self.0 = Some((
                    v.clone().into_data().try_to_vec::<f32>().unwrap(),
                    v.is_autodiff(),
                ));
            }
        }
    }
    fn first(model: &Classifier) -> (Vec<f32>, bool) {
        let mut v = First(None);
        model.visit(&mut v);
        v.0.unwrap()
    }

    #[test]
    fn augmentations_keep_shape_and_range() {
        let device = Device::flex();
        let images = Tensor::<4>::random([3, 3, 20, 24], Distribution::Uniform(-1.0, 1.0), &device);
        let out = augment(images, &Augmentation::default());
        assert_eq!(out.dims(), [3, 3, 20, 24]);
        let values: Vec<f32> = out.into_data().try_to_vec::<f32>().unwrap();
        // Contrast ≤ 1.15, brightness ±0.1 and a little noise keep values near [−1, 1].
        assert!(
            values.iter().all(|v| v.is_finite() && v.abs() < 1.6),
            "range"
        );
    }

    #[test]
    fn student_and_teacher_views_get_different_perturbations() {
        let device = Device::flex().autodiff();
        device.seed(7);
        let images = Tensor::<4>::random([4, 3, 16, 16], Distribution::Uniform(-1.0, 1.0), &device);
        let strength = Augmentation::default();
        let student_view: Vec<f32> = augment(images.clone(), &strength)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let teacher_view: Vec<f32> = augment(images.without_autodiff(), &strength)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let mean_difference = student_view
            .iter()
            .zip(&teacher_view)
            .map(|(a, b)| (a - b).abs())
            .sum::<f32>()
            / student_view.len() as f32;
        // Noise alone would differ by ~0.03; independent flips and rotations of
        // random pixels differ by far more.
        assert!(mean_difference > 0.2, "views differ by {mean_difference}");
    }

    #[test]
    fn supervised_training_lowers_the_loss() {
        let device = Device::flex().autodiff();
        let mut model = Classifier::new(ModelKind::Resnet18, 3, 4, 0.0, &device);
        let mut optimizer = AdamConfig::new().init();
        let batch = batch(&device);
        let mut losses = Vec::new();
        for _ in 0..40 {
            let (next, l) = supervised_step(
                model,
                &mut optimizer,
                &batch,
                3e-3,
                &Augmentation::default(),
            );
            model = next;
            losses.push(l.total);
        }
        let early: f64 = losses[..5].iter().sum::<f64>() / 5.0;
        let late: f64 = losses[losses.len() - 5..].iter().sum::<f64>() / 5.0;
        assert!(late < early * 0.8, "loss {early:.3} → {late:.3}");
    }

    #[test]
    fn the_teacher_moves_only_by_ema_of_the_student() {
        let device = Device::flex().autodiff();
        let student = Classifier::new(ModelKind::Resnet18, 3, 4, 0.0, &device);
        let teacher = student.valid();
        let mut optimizer = AdamConfig::new().init();
        let batch = batch(&device);
        let mt = MeanTeacherConfig {
            rampup_epochs: 0.0,
            ..Default::default()
        };
        let (student, teacher, _) = mean_teacher_step(
            student,
            teacher,
            &mut optimizer,
            &batch,
            1e-2,
            0,
            0.0,
            &mt,
            &Augmentation::default(),
        );
        // Step 0: α = 0, so the teacher equals the updated student.
        assert_eq!(first(&teacher).0, first(&student).0);
        let (teacher_before, tracked) = first(&teacher);
        assert!(
            !tracked,
            "the teacher has no autodiff: no gradient can reach it"
        );
        let (student, teacher, losses) = mean_teacher_step(
            student,
            teacher,
            &mut optimizer,
            &batch,
            1e-2,
            1,
            1.0,
            &mt,
            &Augmentation::default(),
        );
        assert_eq!(losses.alpha, 0.5);
        assert!(losses.consistency >= 0.0 && losses.relation >= 0.0 && losses.total.is_finite());
        let (student_now, _) = first(&student);
        let (teacher_now, _) = first(&teacher);
        for ((t, t0), s) in teacher_now.iter().zip(&teacher_before).zip(&student_now) {
            assert!(
                (t - (0.5 * t0 + 0.5 * s)).abs() < 1e-5,
                "teacher = α·teacher + (1−α)·student"
            );
        }
        assert_ne!(teacher_now, teacher_before);
    }
}
