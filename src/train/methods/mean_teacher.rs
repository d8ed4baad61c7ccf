//! Mean teacher + semantic relation consistency (METHODS.md §1): the
//! student learns from the labels and from agreeing with the teacher
//! (predictions and sample relations) on every image of the batch, labeled
//! and unlabeled; the teacher is the EMA of the student.

use burn::module::Module;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{Int, Tensor};

use crate::train::models::Classifier;
use crate::train::models::layers::dropout_mask;

use crate::train::config::{IMAGE_MODALITY, SLICES_INPUT, VOLUME_INPUT};
use crate::train::ema::ema_update;
use crate::train::events::Scalars;
use crate::train::losses::{
    ClassificationLoss, class_weighted_consistency, classification, consistency,
    relation_consistency,
};
use crate::train::optimisation;
use crate::train::schedule::{ema_alpha, ramp_up};
use crate::train::spec::{Method, MethodSpec, Setting, SettingKind, Task, TeacherUse};
use crate::train::step::{
    Batch, Declaration, Models, StepContext, Stepper, TrainingMethod, augment_input, scalar,
};

pub struct MeanTeacher;

/// The loss terms of a step, as tensors (the total carries the gradient).
pub struct Terms {
    pub ce: Tensor<1>,
    /// The focal term (counted in the total with the configured weight).
    pub focal: Tensor<1>,
    pub consistency: Tensor<1>,
    pub relation: Tensor<1>,
    pub total: Tensor<1>,
}

/// `L = CE(labeled) + w_f·focal(labeled) + w·L_c + w·λ·L_src`, the
/// consistency terms over the whole batch (labeled rows first, `labeled`
/// of them); `L_c` weighted per class when `consistency_class_weights` are given.
///
/// # Shapes
/// logits `[B, C]`, features `[B, D]`, labels `[labeled]` → scalars `[1]`
#[allow(clippy::too_many_arguments)]
pub fn terms(
    student_logits: Tensor<2>,
    student_features: Tensor<2>,
    teacher_logits: Tensor<2>,
    teacher_features: Tensor<2>,
    labels: Tensor<1, Int>,
    labeled: usize,
    weight: f64,
    relation_weight: f64,
    loss: &ClassificationLoss,
    sample_weights: Option<Tensor<1>>,
    consistency_class_weights: Option<Tensor<1>>,
) -> Terms {
    let (ce, focal, supervised) = classification(
        student_logits.clone().narrow(0, 0, labeled),
        labels,
        loss,
        sample_weights,
    );
    let consistency = match consistency_class_weights {
        Some(w) => class_weighted_consistency(student_logits, teacher_logits, w),
        None => consistency(student_logits, teacher_logits),
    };
    let relation = relation_consistency(student_features, teacher_features);
    let total = supervised
        + consistency.clone().mul_scalar(weight)
        + relation.clone().mul_scalar(weight * relation_weight);
    Terms {
        ce,
        focal,
        consistency,
        relation,
        total,
    }
}

const GROUP: &str = "Mean teacher";
const SECTION: &str = "mean-teacher";

/// The EMA decay of the teacher's weights (METHODS.md §1; the reference values are the defaults).
pub const EMA_DECAY: Setting = Setting {
    name: "ema_decay",
    section: SECTION,
    flag: "ema-decay",
    title: "EMA decay",
    help: "How much of the teacher's weights each step keeps (α of the exponential moving average)",
    group: GROUP,
    kind: SettingKind::Number {
        default: 0.99,
        range: 0.0..=0.9999,
        speed: 1e-3,
    },
    legacy: "/mean_teacher/ema_decay",
};

/// `w_max` of the consistency ramp-up.
pub const CONSISTENCY_WEIGHT: Setting = Setting {
    name: "consistency_weight",
    section: SECTION,
    flag: "consistency-weight",
    title: "Consistency weight",
    help: "w_max: the weight of agreeing with the teacher, reached at the end of the ramp-up",
    group: GROUP,
    kind: SettingKind::Number {
        default: 1.0,
        range: 0.0..=100.0,
        speed: 0.05,
    },
    legacy: "/mean_teacher/consistency_weight",
};

/// `T` of the ramp-up, in epochs.
pub const RAMPUP_EPOCHS: Setting = Setting {
    name: "rampup_epochs",
    section: SECTION,
    flag: "rampup-epochs",
    title: "Ramp-up (epochs)",
    help: "Epochs over which the consistency weight rises as exp(−5(1 − t/T)²)",
    group: GROUP,
    kind: SettingKind::Number {
        default: 30.0,
        range: 0.0..=1000.0,
        speed: 1.0,
    },
    legacy: "/mean_teacher/rampup_epochs",
};

/// `λ`, the weight of the relation term relative to the consistency term.
pub const RELATION_WEIGHT: Setting = Setting {
    name: "relation_weight",
    section: SECTION,
    flag: "relation-weight",
    title: "Relation weight λ",
    help: "Weight of the semantic relation consistency relative to the prediction consistency",
    group: GROUP,
    kind: SettingKind::Number {
        default: 1.0,
        range: 0.0..=100.0,
        speed: 0.05,
    },
    legacy: "/mean_teacher/relation_weight",
};

/// The SRC-MT reference's class-weighted consistency: each class's
/// squared difference weighed by the labeled pool's `N/(C·n_c)`. The
/// reference's 10000/n_c is this times a constant (10000·C/N on its
/// data), which the consistency weight carries here; off by default, as
/// METHODS.md's formula has no weights.
pub const CLASS_WEIGHTED_CONSISTENCY: Setting = Setting {
    name: "class_weighted_consistency",
    section: SECTION,
    flag: "class-weighted-consistency",
    title: "Class-weighted consistency",
    help: "Weigh each class's consistency by the labeled pool's N/(C·n_c) (the SRC-MT \
           reference's weighting; off: METHODS.md's plain sum)",
    group: GROUP,
    kind: SettingKind::Switch {
        default: false,
        flag_sets: true,
    },
    legacy: "",
};

/// The epoch before which both consistency terms are off (the SRC-MT
/// reference adds them after epoch 20); 0 as METHODS.md's formula.
pub const CONSISTENCY_START_EPOCH: Setting = Setting {
    name: "consistency_start_epoch",
    section: SECTION,
    flag: "consistency-start-epoch",
    title: "Consistency from epoch",
    help: "Both consistency terms count from this epoch on (the SRC-MT reference: 20); the \
           ramp-up still runs from epoch 0",
    group: GROUP,
    kind: SettingKind::Number {
        default: 0.0,
        range: 0.0..=1000.0,
        speed: 1.0,
    },
    legacy: "",
};

/// Keep dropout in the teacher (the SRC-MT reference never puts it in
/// eval mode): the teacher's pooled features get their own dropout mask
/// at the run's rate, and its predictions and relations are taken after it.
pub const TEACHER_DROPOUT: Setting = Setting {
    name: "teacher_dropout",
    section: SECTION,
    flag: "teacher-dropout",
    title: "Teacher keeps dropout",
    help: "The teacher's features go through dropout (the run's rate) before its predictions \
           and relations, as in the SRC-MT reference",
    group: GROUP,
    kind: SettingKind::Switch {
        default: false,
        flag_sets: true,
    },
    legacy: "",
};

/// The weight `w(e)` of both consistency terms at `epoch` (fractional):
/// the ramp-up, and 0 before the configured start epoch.
pub fn consistency_weight(config: &crate::train::config::TrainConfig, epoch: f64) -> f64 {
    if epoch < config.number(&CONSISTENCY_START_EPOCH) {
        return 0.0;
    }
    ramp_up(
        epoch,
        config.number(&RAMPUP_EPOCHS),
        config.number(&CONSISTENCY_WEIGHT),
    )
}

/// The teacher's logits and pooled features of `images`: as its forward
/// gives them, or with `dropout` (a rate) on the features, the logits then
/// of the dropped features.
pub fn teacher_outputs(
    teacher: &Classifier,
    images: Tensor<4>,
    dropout: Option<f64>,
) -> (Tensor<2>, Tensor<2>) {
    let (logits, features) = teacher.forward(images);
    let Some(rate) = dropout.filter(|&p| p > 0.0 && p < 1.0) else {
        return (logits, features);
    };
    let mask = dropout_mask(features.dims(), rate, &features.device());
    let dropped = features.clone().mul(mask);
    match teacher.head_logits(dropped.clone()) {
        Some(logits) => (logits, dropped),
        None => (logits, features),
    }
}

pub static SPEC: MethodSpec = MethodSpec {
    name: "mean-teacher",
    title: "Mean teacher + SRC",
    task: Task::Classify,
    keeps_teacher: true,
    uses_unlabeled: true,
    series: &[
        "loss/ce",
        "loss/focal",
        "loss/consistency",
        "loss/relation",
        "loss/total",
        "schedule/consistency_weight",
        "schedule/ema_alpha",
    ],
    // A volume's slices are perturbed alike; a record has no perturbation to be consistent under.
    modalities: &[IMAGE_MODALITY, VOLUME_INPUT, SLICES_INPUT],
    teacher_roles: &[],
    teacher_use: TeacherUse::None,
    settings: &[
        EMA_DECAY,
        CONSISTENCY_WEIGHT,
        RAMPUP_EPOCHS,
        RELATION_WEIGHT,
        CLASS_WEIGHTED_CONSISTENCY,
        CONSISTENCY_START_EPOCH,
        TEACHER_DROPOUT,
        optimisation::WEIGHT_DECAY,
    ],
};

pub const METHOD: Method = Method::of(&SPEC);

pub const DECLARATION: Declaration = Declaration {
    method: METHOD,
    build: || Stepper::Classify(Box::new(MeanTeacher)),
};

impl TrainingMethod for MeanTeacher {
    fn step(
        &mut self,
        models: Models,
        optimizer: &mut ModuleOptimizer,
        batch: &Batch,
        context: &StepContext,
    ) -> (Models, Scalars) {
        let config = context.config;
        let student = models.student;
        let teacher = models.teacher.unwrap_or_else(|| student.valid());
        let labeled = batch.labeled.dims()[0];
        let images = match &batch.unlabeled {
            Some(unlabeled) => Tensor::cat(vec![batch.labeled.clone(), unlabeled.clone()], 0),
            None => batch.labeled.clone(),
        };
        use crate::train::phases::{self, mark};
        let input = augment_input(images.clone(), context.config);
        mark(phases::AUGMENT);
        let (student_logits, student_features) = student.forward(input);
        mark(phases::FORWARD);
        // The teacher sees its own perturbation, without autodiff.
        let input = augment_input(images.without_autodiff(), context.config);
        mark(phases::AUGMENT);
        let (teacher_logits, teacher_features) = teacher_outputs(
            &teacher,
            input,
            config.switch(&TEACHER_DROPOUT).then_some(config.dropout),
        );
        mark(phases::TEACHER_FORWARD);
        let weight = consistency_weight(config, context.epoch_progress);
        let alpha = ema_alpha(context.global_step, config.number(&EMA_DECAY));
        let terms = terms(
            student_logits,
            student_features,
            teacher_logits.autodiff(),
            teacher_features.autodiff(),
            batch.labels.clone(),
            labeled,
            weight,
            config.number(&RELATION_WEIGHT),
            &context.config.loss,
            batch.weights.clone(),
            batch
                .class_balance
                .clone()
                .filter(|_| config.switch(&CLASS_WEIGHTED_CONSISTENCY)),
        );
        mark(phases::LOSSES);
        let values = Scalars::from([
            ("loss/ce".into(), scalar(&terms.ce)),
            ("loss/focal".into(), scalar(&terms.focal)),
            ("loss/consistency".into(), scalar(&terms.consistency)),
            ("loss/relation".into(), scalar(&terms.relation)),
            ("loss/total".into(), scalar(&terms.total)),
            ("schedule/consistency_weight".into(), weight),
            ("schedule/ema_alpha".into(), alpha),
        ]);
        mark(phases::READ_BACK);
        let gradients = terms.total.backward();
        mark(phases::BACKWARD);
        let grads = GradientsParams::from_grads(gradients, &student);
        mark(phases::GRADIENTS);
        let student = optimizer.step(context.learning_rate, student, grads);
        mark(phases::OPTIMIZER);
        let teacher = ema_update(teacher, &student.valid(), alpha);
        mark(phases::EMA);
        (
            Models {
                student,
                teacher: Some(teacher),
            },
            values,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::config::TrainConfig;
    use crate::train::models::{Classifier, ModelKind};
    use burn::module::{ModuleVisitor, Param};
    use burn::optim::AdamConfig;
    use burn::tensor::{Device, Distribution, TensorData};

    fn tensor2(rows: &[[f32; 2]], device: &Device) -> Tensor<2> {
        let flat: Vec<f32> = rows.iter().flatten().copied().collect();
        Tensor::<1>::from_data(TensorData::new(flat, [rows.len() * 2]), device)
            .reshape([rows.len(), 2])
    }

    #[test]
    fn the_loss_weighs_both_consistency_terms_by_the_ramp_over_the_whole_batch() {
        let device = Device::flex();
        // Two labeled rows and one unlabeled row; only the unlabeled row's
        // predictions differ: p_s = (¼, ¾), p_t = (½, ½).
        let student_logits = tensor2(&[[0.0, 0.0], [0.0, 0.0], [0.0, 3f32.ln()]], &device);
        let teacher_logits = tensor2(&[[0.0, 0.0]; 3], &device);
        let student_features = tensor2(&[[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]], &device);
        let teacher_features = tensor2(&[[1.0, 0.0]; 3], &device);
        let labels = Tensor::<1, Int>::from_data(TensorData::from([0i64, 1]), &device);
        let t = terms(
            student_logits,
            student_features,
            teacher_logits,
            teacher_features,
            labels,
            2,
            2.0,
            0.5,
            &ClassificationLoss::default(),
            None,
            None,
        );
        let value = |x: &Tensor<1>| scalar(x);
        // CE of uniform logits: ln 2.
        assert!((value(&t.ce) - 2f64.ln()).abs() < 1e-6);
        // (¼−½)² + (¾−½)² = ⅛ on the unlabeled row, over B = 3 (not over
        // the labeled rows only, which would give 0, nor the unlabeled only, ⅛).
        assert!((value(&t.consistency) - 1.0 / 24.0).abs() < 1e-6);
        // Relation matrices by hand (rows of G = AAᵀ over their norms):
        // Σ (G̃_s − G̃_t)² / B = 0.5264377.
        assert!((value(&t.relation) - 0.526_437_7).abs() < 1e-5);
        // Total = ln 2 + w·L_c + w·λ·L_src with w = 2, λ = ½.
        assert!(
            (value(&t.total) - 1.302_918_2).abs() < 1e-5,
            "{}",
            value(&t.total)
        );
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
    fn the_teacher_moves_only_by_ema_of_the_student() {
        let device = Device::flex().autodiff();
        let mut config = TrainConfig::default();
        config.set(&RAMPUP_EPOCHS, 0.0);
        let batch = Batch {
            class_balance: None,
            labeled: Tensor::<4>::random([4, 3, 16, 16], Distribution::Normal(0.0, 1.0), &device),
            labels: Tensor::<1, Int>::from_data(TensorData::from([0i64, 1, 2, 1]), &device),
            weights: None,
            guidance: None,
            unlabeled: Some(Tensor::<4>::random(
                [4, 3, 16, 16],
                Distribution::Normal(0.0, 1.0),
                &device,
            )),
        };
        let student = Classifier::new(ModelKind::Resnet18, 3, 4, 0.0, &device);
        let models = Models {
            teacher: Some(student.valid()),
            student,
        };
        let mut optimizer = AdamConfig::new().init();
        let context = |global_step, epoch_progress| StepContext {
            learning_rate: 1e-2,
            global_step,
            epoch_progress,
            config: &config,
        };
        let (models, _) = MeanTeacher.step(models, &mut optimizer, &batch, &context(0, 0.0));
        let teacher = models.teacher.as_ref().unwrap();
        // Step 0: α = 0, so the teacher equals the updated student.
        assert_eq!(first(teacher).0, first(&models.student).0);
        let (teacher_before, tracked) = first(teacher);
        assert!(
            !tracked,
            "the teacher has no autodiff: no gradient can reach it"
        );
        let (models, values) = MeanTeacher.step(models, &mut optimizer, &batch, &context(1, 1.0));
        assert_eq!(values["schedule/ema_alpha"], 0.5);
        assert_eq!(values["schedule/consistency_weight"], 1.0);
        let (student_now, _) = first(&models.student);
        let (teacher_now, _) = first(models.teacher.as_ref().unwrap());
        for ((t, t0), s) in teacher_now.iter().zip(&teacher_before).zip(&student_now) {
            assert!(
                (t - (0.5 * t0 + 0.5 * s)).abs() < 1e-5,
                "teacher = α·teacher + (1−α)·student"
            );
        }
        assert_ne!(teacher_now, teacher_before);
        let mut names: Vec<&str> = values.keys().map(String::as_str).collect();
        let mut declared = SPEC.series.to_vec();
        names.sort_unstable();
        declared.sort_unstable();
        assert_eq!(
            names, declared,
            "a step reports exactly the declared series"
        );
    }

    #[test]
    fn consistency_counts_from_the_start_epoch_on_the_ramp() {
        let mut config = TrainConfig::default();
        // METHODS.md's default: from epoch 0, ramp exp(−5(1 − e/30)²).
        assert!((consistency_weight(&config, 0.0) - (-5f64).exp()).abs() < 1e-12);
        config.set(&CONSISTENCY_START_EPOCH, 20.0);
        assert_eq!(consistency_weight(&config, 19.9), 0.0);
        let at_20 = (-5.0 * (1.0f64 - 20.0 / 30.0).powi(2)).exp();
        assert!((consistency_weight(&config, 20.0) - at_20).abs() < 1e-12);
    }

    #[test]
    fn a_teacher_that_keeps_dropout_predicts_from_dropped_features() {
        let device = Device::flex();
        device.seed(4);
        let config = TrainConfig {
            model: ModelKind::Resnet18,
            input_size: 16,
            width: 2,
            ..TrainConfig::default()
        };
        let teacher = crate::train::inference::classifier_for(&config, 3, &device);
        let images = Tensor::<4>::random([4, 3, 16, 16], Distribution::Normal(0.0, 1.0), &device);
        let (plain_logits, plain) = teacher_outputs(&teacher, images.clone(), None);
        let (logits, dropped) = teacher_outputs(&teacher, images, Some(0.5));
        let plain = plain.into_data().try_to_vec::<f32>().unwrap();
        let kept = dropped.clone().into_data().try_to_vec::<f32>().unwrap();
        // Each feature is dropped (0) or kept and scaled by 1/(1 − ½) = 2.
        let mut zeros = 0;
        for (p, k) in plain.iter().zip(&kept) {
            if *k == 0.0 && *p != 0.0 {
                zeros += 1;
            } else {
                assert!((k - 2.0 * p).abs() < 1e-5 * p.abs().max(1.0), "{p} → {k}");
            }
        }
        assert!(
            zeros > 0 && zeros < plain.len(),
            "{zeros} of {}",
            plain.len()
        );
        // The logits are the head's of the dropped features.
        let head = teacher.head_logits(dropped).unwrap();
        let difference = (logits.clone() - head).abs().max().into_scalar::<f32>();
        assert!(difference < 1e-5);
        assert!((logits - plain_logits).abs().max().into_scalar::<f32>() > 1e-6);
    }
}
