//! Cross-modal knowledge distillation (METHODS.md §3): a student on the
//! tabular record learns from a frozen teacher run on a case's volume
//! (the CT). Each step: cross-entropy on the labeled records, and PKT
//! between the student's exposed layer and the teacher's cached features
//! on every case of the batch the teacher could see (labeled or not);
//! total `α·L_ce + (1 − α)·L_kd·grad_ratio` with
//! `grad_ratio = ‖∇θ L_ce‖₂ / ‖∇θ L_kd‖₂` recomputed every step.
//!
//! Per-loss gradients rather than one backward of the sum: the ratio
//! needs each loss's gradient norm, Burn frees a graph at its backward
//! pass, so each loss gets its own forward and backward
//! ([`super::weighted_gradients`]) and the two gradients are summed with
//! their weights — the gradient of the weighted total, with no third pass.
//! A batch with fewer than two cases the teacher saw has no similarity
//! distribution: it trains on cross-entropy alone.

use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::Tensor;

use super::{Batch, MethodSpec, Models, StepContext, TrainingMethod, scalar, weighted_gradients};
use crate::train::config::{TABULAR_MODALITY, VOLUME_INPUT};
use crate::train::events::Scalars;
use crate::train::losses::{classification, pkt};

pub struct CrossModalKd;

/// The series a step reports.
pub mod series {
    pub const CE: &str = "loss/ce";
    pub const KD: &str = "loss/kd";
    pub const TOTAL: &str = "loss/total";
    pub const CE_NORM: &str = "grad/ce_norm";
    pub const KD_NORM: &str = "grad/kd_norm";
    pub const RATIO: &str = "grad/ratio";
}

const SPEC: MethodSpec = MethodSpec {
    name: "cross-modal-kd",
    keeps_teacher: false,
    // The distillation term reads every case the teacher saw, labeled or not.
    uses_unlabeled: true,
    series: &[
        series::CE,
        series::KD,
        series::TOTAL,
        series::CE_NORM,
        series::KD_NORM,
        series::RATIO,
    ],
    modalities: &[TABULAR_MODALITY],
    teacher_roles: &[VOLUME_INPUT],
    teacher_use: super::TeacherUse::Features,
};

impl TrainingMethod for CrossModalKd {
    fn spec(&self) -> &MethodSpec {
        &SPEC
    }

    fn step(
        &mut self,
        models: Models,
        optimizer: &mut ModuleOptimizer,
        batch: &Batch,
        context: &StepContext,
    ) -> (Models, Scalars) {
        let student = models.student;
        let settings = context.config.distillation;
        let ce_loss = || {
            let (logits, _) = student.forward(batch.labeled.clone());
            classification(
                logits,
                batch.labels.clone(),
                &context.config.loss,
                batch.weights.clone(),
            )
            .2
        };
        let guided = batch.guidance.as_ref().filter(|g| g.rows.dims()[0] >= 2);
        let (grads, values) = match guided {
            None => {
                let ce = ce_loss();
                let values = Scalars::from([
                    (series::CE.into(), scalar(&ce)),
                    (series::TOTAL.into(), scalar(&ce)),
                ]);
                (GradientsParams::from_grads(ce.backward(), &student), values)
            }
            Some(guidance) => {
                let mut ce_value = 0.0;
                let mut kd_value = 0.0;
                let everything = match &batch.unlabeled {
                    Some(u) => Tensor::cat(vec![batch.labeled.clone(), u.clone()], 0),
                    None => batch.labeled.clone(),
                };
                let (grads, measured) = weighted_gradients(
                    || {
                        let ce = ce_loss();
                        ce_value = scalar(&ce);
                        ce
                    },
                    || {
                        let (_, features) = student.forward(everything);
                        let seen = features.select(0, guidance.rows.clone());
                        let kd = pkt(seen, guidance.features.clone());
                        kd_value = scalar(&kd);
                        kd
                    },
                    settings.alpha,
                    settings.grad_ratio,
                    &student,
                );
                let kd_weight = if settings.grad_ratio {
                    measured.ratio
                } else {
                    1.0
                };
                let total =
                    settings.alpha * ce_value + (1.0 - settings.alpha) * kd_weight * kd_value;
                let values = Scalars::from([
                    (series::CE.into(), ce_value),
                    (series::KD.into(), kd_value),
                    (series::TOTAL.into(), total),
                    (series::CE_NORM.into(), measured.norm_a),
                    (series::KD_NORM.into(), measured.norm_b),
                    (series::RATIO.into(), measured.ratio),
                ]);
                (grads, values)
            }
        };
        let student = optimizer.step(context.learning_rate, student, grads);
        (
            Models {
                student,
                teacher: models.teacher,
            },
            values,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::config::TrainConfig;
    use crate::train::methods::Guidance;
    use crate::train::models::{Classifier, ModelKind};
    use burn::optim::AdamConfig;
    use burn::tensor::{Device, Distribution, Int, TensorData};

    fn setup(guided_rows: &[i64]) -> (Models, Batch, TrainConfig, Device) {
        let device = Device::flex().autodiff();
        device.seed(3);
        let config = TrainConfig {
            method: crate::train::config::Method::CrossModalKd,
            modalities: vec![TABULAR_MODALITY.into()],
            model: ModelKind::Mlp,
            record_inputs: 5,
            width: 4,
            dropout: 0.0,
            ..TrainConfig::default()
        };
        let student = Classifier::for_run(&config, 2, &device);
        let k = guided_rows.len();
        let batch = Batch {
            labeled: Tensor::<4>::random([3, 5, 1, 1], Distribution::Normal(0.0, 1.0), &device),
            labels: Tensor::<1, Int>::from_data(TensorData::from([0i64, 1, 1]), &device),
            weights: None,
            unlabeled: Some(Tensor::<4>::random(
                [3, 5, 1, 1],
                Distribution::Normal(0.0, 1.0),
                &device,
            )),
            guidance: Some(Guidance {
                rows: Tensor::<1, Int>::from_data(
                    TensorData::new(guided_rows.to_vec(), [k]),
                    &device,
                ),
                features: Tensor::<2>::random([k, 6], Distribution::Normal(0.0, 1.0), &device),
            }),
        };
        (
            Models {
                student,
                teacher: None,
            },
            batch,
            config,
            device,
        )
    }

    fn step(models: Models, batch: &Batch, config: &TrainConfig) -> (Models, Scalars) {
        let mut optimizer: ModuleOptimizer = AdamConfig::new().init();
        let context = crate::train::methods::StepContext {
            learning_rate: 1e-3,
            global_step: 0,
            epoch_progress: 0.0,
            config,
        };
        CrossModalKd.step(models, &mut optimizer, batch, &context)
    }

    #[test]
    fn a_step_weighs_the_kd_term_by_the_measured_gradient_ratio() {
        // Rows 0 and 2 labeled, 3 and 5 unlabeled: four cases the teacher saw.
        let (models, batch, config, _) = setup(&[0, 2, 3, 5]);
        // The loss terms as the method must compute them, before the step.
        let (logits, _) = models.student.forward(batch.labeled.clone());
        let (_, _, ce) = classification(logits, batch.labels.clone(), &config.loss, None);
        let everything = Tensor::cat(
            vec![batch.labeled.clone(), batch.unlabeled.clone().unwrap()],
            0,
        );
        let (_, features) = models.student.forward(everything);
        let guidance = batch.guidance.as_ref().unwrap();
        let kd = pkt(
            features.select(0, guidance.rows.clone()),
            guidance.features.clone(),
        );
        let (ce, kd) = (scalar(&ce), scalar(&kd));
        let (_, values) = step(models, &batch, &config);
        assert!((values[series::CE] - ce).abs() < 1e-6, "{values:?}");
        assert!(
            (values[series::KD] - kd).abs() < 1e-6 && kd > 0.0,
            "{values:?}"
        );
        let ratio = values[series::CE_NORM] / values[series::KD_NORM];
        assert!((values[series::RATIO] - ratio).abs() < 1e-9 * ratio.max(1.0));
        let alpha = config.distillation.alpha;
        let total = alpha * ce + (1.0 - alpha) * ratio * kd;
        assert!((values[series::TOTAL] - total).abs() < 1e-6, "{values:?}");
    }

    #[test]
    fn a_fixed_weight_leaves_out_the_ratio() {
        let (models, batch, mut config, _) = setup(&[0, 1, 4]);
        config.distillation.grad_ratio = false;
        config.distillation.alpha = 0.25;
        let (_, values) = step(models, &batch, &config);
        let total = 0.25 * values[series::CE] + 0.75 * values[series::KD];
        assert!((values[series::TOTAL] - total).abs() < 1e-6, "{values:?}");
    }

    #[test]
    fn with_fewer_than_two_guided_cases_the_step_is_cross_entropy_alone() {
        let (models, batch, config, _) = setup(&[4]);
        let (logits, _) = models.student.forward(batch.labeled.clone());
        let (_, _, ce) = classification(logits, batch.labels.clone(), &config.loss, None);
        let (_, values) = step(models, &batch, &config);
        assert!((values[series::TOTAL] - scalar(&ce)).abs() < 1e-6);
        assert!(!values.contains_key(series::KD) && !values.contains_key(series::RATIO));
    }
}
