//! KDAMM (METHODS.md §4): knowledge distillation across missing
//! modalities. The student reads a CT series' slices and the tabular
//! record together (`models::fusion`), a missing modality zero-filled and
//! flagged. Each step:
//!
//! - cross-entropy on the **complete** labeled cases of the batch (both
//!   modalities there; class weights as configured);
//! - for each unimodal teacher run (image on the slices, tabular on the
//!   record) `T²·KL(p_teacher^T ‖ p_student^T)` at temperature T over
//!   **every** case of the batch the teacher saw, labeled or not, complete
//!   or not — how the incomplete cases still teach the student;
//!
//! total `w_ce·L_ce + w_kd·(L_kd,image + L_kd,tabular)`, one backward pass.
//!
//! Two switches take the method apart (`loupe bench kdamm`'s arms): KL on
//! the labeled cases only (`without_unlabeled`: what the unlabeled cases
//! add), and one teacher per case (`teacher_switch`: the image teacher
//! where a CT exists, the tabular teacher only where none does).

use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::Tensor;

use crate::train::config::{FUSION_INPUT, SLICES_INPUT, TABULAR_MODALITY};
use crate::train::events::Scalars;
use crate::train::losses::{classification, softened_kl};
use crate::train::optimisation;
use crate::train::spec::{Method, MethodSpec, Setting, SettingKind, Task, TeacherUse};
use crate::train::step::{
    Batch, Declaration, Models, StepContext, Stepper, TrainingMethod, scalar,
};

pub struct Kdamm;

/// The series a step reports.
pub mod series {
    pub const CE: &str = "loss/ce";
    pub const KD_IMAGE: &str = "loss/kd_image";
    pub const KD_TABULAR: &str = "loss/kd_tabular";
    pub const TOTAL: &str = "loss/total";
    /// Complete cases among the batch's labeled ones (what the CE saw).
    pub const COMPLETE: &str = "data/complete_labeled";
}

/// The teachers' blocks in a case's cached outputs, in this order: the
/// image teacher's, then the tabular teacher's (each `1 + C` numbers: a
/// "seen" flag, then its logits).
pub const TEACHER_KINDS: [&str; 2] = [SLICES_INPUT, TABULAR_MODALITY];

const GROUP: &str = "Distillation";
const SECTION: &str = "kdamm";

/// T of the teachers' and the student's softened outputs.
pub const TEMPERATURE: Setting = Setting {
    name: "temperature",
    section: SECTION,
    flag: "temperature",
    title: "Temperature T",
    help: "Temperature of the teachers' and the student's softened outputs",
    group: GROUP,
    kind: SettingKind::Number {
        default: 4.0,
        range: 0.1..=100.0,
        speed: 0.1,
    },
    legacy: "/kdamm/temperature",
};

/// Weight of the cross-entropy on the complete labeled cases.
pub const CE_WEIGHT: Setting = Setting {
    name: "ce_weight",
    section: SECTION,
    flag: "ce-weight",
    title: "CE weight (complete cases)",
    help: "Weight of the cross-entropy on the complete labeled cases",
    group: GROUP,
    kind: SettingKind::Number {
        default: 1.0,
        range: 0.0..=100.0,
        speed: 0.05,
    },
    legacy: "/kdamm/ce_weight",
};

/// Weight of each teacher's KL term.
pub const KD_WEIGHT: Setting = Setting {
    name: "kd_weight",
    section: SECTION,
    flag: "kd-weight",
    title: "KD weight (per teacher)",
    help: "Weight of each teacher's T²·KL term",
    group: GROUP,
    kind: SettingKind::Number {
        default: 1.0,
        range: 0.0..=100.0,
        speed: 0.05,
    },
    legacy: "/kdamm/kd_weight",
};

/// KL terms on the labeled cases only.
pub const WITHOUT_UNLABELED: Setting = Setting {
    name: "without_unlabeled",
    section: SECTION,
    flag: "without-unlabeled",
    title: "Distil on labeled cases only",
    help: "The teachers' KL terms on the batch's labeled cases only (off: on every case a \
           teacher saw, labeled or not — the method)",
    group: GROUP,
    kind: SettingKind::Switch {
        default: false,
        flag_sets: true,
    },
    legacy: "",
};

/// One teacher per case: the image teacher where it saw the case, the
/// tabular teacher only where the image teacher did not.
pub const TEACHER_SWITCH: Setting = Setting {
    name: "teacher_switch",
    section: SECTION,
    flag: "teacher-switch",
    title: "One teacher per case",
    help: "The image teacher where a CT exists, the tabular teacher only where none does \
           (off: each teacher on every case it saw — the method)",
    group: GROUP,
    kind: SettingKind::Switch {
        default: false,
        flag_sets: true,
    },
    legacy: "",
};

pub static SPEC: MethodSpec = MethodSpec {
    name: "kdamm",
    title: "KDAMM (distillation, missing modalities)",
    task: Task::Classify,
    keeps_teacher: false,
    // The KL terms read every case a teacher saw, labeled or not.
    uses_unlabeled: true,
    series: &[
        series::CE,
        series::KD_IMAGE,
        series::KD_TABULAR,
        series::TOTAL,
        series::COMPLETE,
    ],
    modalities: &[FUSION_INPUT],
    teacher_roles: &TEACHER_KINDS,
    teacher_use: TeacherUse::Outputs,
    settings: &[
        TEMPERATURE,
        CE_WEIGHT,
        KD_WEIGHT,
        WITHOUT_UNLABELED,
        TEACHER_SWITCH,
        optimisation::WEIGHT_DECAY,
    ],
};

pub const METHOD: Method = Method::of(&SPEC);

pub const DECLARATION: Declaration = Declaration {
    method: METHOD,
    build: || Stepper::Classify(Box::new(Kdamm)),
};

/// The weights of a fusion step's terms.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FusionWeights {
    pub ce: f64,
    /// Each teacher's KL term (`None`: no distillation, the baseline).
    pub kd: Option<f64>,
    pub temperature: f64,
    /// CE on every labeled case (a missing modality zero-filled and
    /// flagged), not on the complete ones alone.
    pub ce_on_all_labeled: bool,
    /// KL terms on unlabeled cases too (the method) or labeled ones only.
    pub kd_on_unlabeled: bool,
    /// The tabular teacher only on cases the image teacher did not see.
    pub teacher_switch: bool,
}

impl FusionWeights {
    /// Cross-entropy alone on the complete labeled cases: the multimodal
    /// baseline of METHODS.md §4.
    pub const BASELINE: FusionWeights = FusionWeights {
        ce: 1.0,
        kd: None,
        temperature: 1.0,
        ce_on_all_labeled: false,
        kd_on_unlabeled: true,
        teacher_switch: false,
    };
}

/// `[B]`: 1 where a fusion batch's sample has both modalities (both
/// flags off), else 0.
///
/// # Shapes
/// samples `[B, L, 1, 1]` → `[B]`
pub fn complete_rows(samples: Tensor<4>) -> Tensor<1> {
    let [batch, len, _, _] = samples.dims();
    let flags =
        samples
            .reshape([batch, len])
            .narrow(1, len - crate::train::models::fusion::FLAGS, 2);
    let missing = flags.sum_dim(1).reshape([batch]);
    missing.lower_equal_elem(0.0).float()
}

/// The cross-entropy of the complete labeled cases (0 when there are none;
/// of every labeled case with `all_labeled`), and how many complete ones
/// there were.
pub fn complete_case_ce(
    logits: Tensor<2>,
    batch: &Batch,
    context: &StepContext,
    all_labeled: bool,
) -> (Tensor<1>, f64) {
    let complete = complete_rows(batch.labeled.clone());
    let count = scalar(&complete.clone().sum());
    let rows = match all_labeled {
        true => complete.ones_like(),
        false => complete,
    };
    let weights = match &batch.weights {
        Some(w) => w.clone() * rows,
        None => rows,
    };
    let (_, _, loss) = classification(
        logits,
        batch.labels.clone(),
        &context.config.loss,
        Some(weights),
    );
    (loss, count)
}

/// One step of the fusion family: CE on the complete labeled cases, plus
/// (with a KD weight) each teacher's softened KL on every case it saw.
pub fn fusion_step(
    models: Models,
    optimizer: &mut ModuleOptimizer,
    batch: &Batch,
    context: &StepContext,
    weights: FusionWeights,
) -> (Models, Scalars) {
    let student = models.student;
    let distil = weights.kd.is_some();
    let labeled = batch.labeled.dims()[0];
    let everything = match (&batch.unlabeled, distil) {
        (Some(u), true) => Tensor::cat(vec![batch.labeled.clone(), u.clone()], 0),
        _ => batch.labeled.clone(),
    };
    let (logits, _) = student.forward(everything);
    let (ce, complete) = complete_case_ce(
        logits.clone().narrow(0, 0, labeled),
        batch,
        context,
        weights.ce_on_all_labeled,
    );
    let mut total = ce.clone().mul_scalar(weights.ce);
    let mut values = Scalars::from([
        (series::CE.into(), scalar(&ce)),
        (series::COMPLETE.into(), complete),
    ]);
    if let (Some(guidance), Some(kd_weight)) = (batch.guidance.as_ref(), weights.kd) {
        let classes = logits.dims()[1];
        let seen_logits = logits.select(0, guidance.rows.clone());
        let rows = guidance.rows.dims()[0];
        // Rows past the labeled ones are unlabeled cases.
        let counted = match weights.kd_on_unlabeled {
            true => None,
            false => Some(guidance.rows.clone().lower_elem(labeled as i64).float()),
        };
        let mut image_seen: Option<Tensor<1>> = None;
        for (slot, name) in [series::KD_IMAGE, series::KD_TABULAR]
            .into_iter()
            .enumerate()
        {
            let start = slot * (1 + classes);
            if guidance.features.dims()[1] < start + 1 + classes {
                break;
            }
            let mut seen = guidance
                .features
                .clone()
                .narrow(1, start, 1)
                .reshape([rows]);
            if let Some(counted) = &counted {
                seen = seen * counted.clone();
            }
            match (slot, &image_seen) {
                (0, _) => image_seen = Some(seen.clone()),
                (_, Some(image)) if weights.teacher_switch => {
                    seen = seen * image.clone().neg().add_scalar(1.0);
                }
                _ => {}
            }
            if scalar(&seen.clone().sum()) == 0.0 {
                continue; // no teacher of this kind, or it saw none of the batch
            }
            let teacher = guidance.features.clone().narrow(1, start + 1, classes);
            let kd = softened_kl(
                seen_logits.clone(),
                teacher,
                weights.temperature,
                Some(seen),
            );
            values.insert(name.into(), scalar(&kd));
            total = total + kd.mul_scalar(kd_weight);
        }
    }
    values.insert(series::TOTAL.into(), scalar(&total));
    let grads = GradientsParams::from_grads(total.backward(), &student);
    let student = optimizer.step(context.learning_rate, student, grads);
    (
        Models {
            student,
            teacher: models.teacher,
        },
        values,
    )
}

impl TrainingMethod for Kdamm {
    fn step(
        &mut self,
        models: Models,
        optimizer: &mut ModuleOptimizer,
        batch: &Batch,
        context: &StepContext,
    ) -> (Models, Scalars) {
        let config = context.config;
        let weights = FusionWeights {
            ce: config.number(&CE_WEIGHT),
            kd: Some(config.number(&KD_WEIGHT)),
            temperature: config.number(&TEMPERATURE),
            ce_on_all_labeled: false,
            kd_on_unlabeled: !config.switch(&WITHOUT_UNLABELED),
            teacher_switch: config.switch(&TEACHER_SWITCH),
        };
        fusion_step(models, optimizer, batch, context, weights)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::config::TrainConfig;
    use crate::train::models::Classifier;
    use crate::train::models::fusion::{FLAGS, Fusion, FusionConfig};
    use crate::train::step::Guidance;
    use burn::optim::AdamConfig;
    use burn::tensor::{Device, Distribution, Int, TensorData};

    fn values(t: Tensor<2>) -> Vec<Vec<f64>> {
        let [rows, cols] = t.dims();
        let flat: Vec<f32> = t.into_data().convert::<f32>().try_to_vec().unwrap();
        (0..rows)
            .map(|r| (0..cols).map(|c| flat[r * cols + c] as f64).collect())
            .collect()
    }

    fn log_softmax_row(z: &[f64], t: f64) -> Vec<f64> {
        let scaled: Vec<f64> = z.iter().map(|v| v / t).collect();
        let max = scaled.iter().cloned().fold(f64::MIN, f64::max);
        let log_sum = scaled.iter().map(|v| (v - max).exp()).sum::<f64>().ln() + max;
        scaled.iter().map(|v| v - log_sum).collect()
    }

    /// METHODS.md §4's total, by value: `w_ce·CE` over the complete labeled
    /// rows plus `w_kd·T²·KL(p_teacher^T ‖ p_student^T)` per teacher, each
    /// averaged over the rows that teacher saw, labeled or not.
    #[test]
    fn the_total_is_ce_on_complete_labeled_rows_plus_each_teachers_t2_kl_on_its_rows() {
        check_fusion_step(Switches::default());
    }

    /// Without the unlabeled cases: the KL terms average over the labeled
    /// rows a teacher saw (rows 3 and 4 are unlabeled).
    #[test]
    fn without_unlabeled_the_teachers_read_only_the_labeled_rows() {
        check_fusion_step(Switches {
            without_unlabeled: true,
            ..Switches::default()
        });
    }

    /// One teacher per case: the tabular teacher only where the image
    /// teacher saw nothing (rows 1 and 4).
    #[test]
    fn the_teacher_switch_leaves_the_tabular_teacher_the_cases_without_a_ct() {
        check_fusion_step(Switches {
            teacher_switch: true,
            ..Switches::default()
        });
    }

    /// The multimodal baseline on every labeled case: CE over rows 0, 1, 2
    /// (row 1 lacks its CT), no teacher.
    #[test]
    fn the_all_labeled_baseline_reads_every_labeled_case() {
        check_fusion_step(Switches {
            all_labeled: true,
            ..Switches::default()
        });
    }

    #[derive(Clone, Copy, Default)]
    struct Switches {
        without_unlabeled: bool,
        teacher_switch: bool,
        /// The multimodal method with CE on every labeled case.
        all_labeled: bool,
    }

    fn check_fusion_step(switches: Switches) {
        let device = Device::flex().autodiff();
        device.seed(11);
        let (size, record) = (4, 3);
        let len = size * size + record + FLAGS;
        let student = Classifier::Fusion(Fusion::new(
            &FusionConfig {
                classes: 2,
                width: 2,
                dropout: 0.0,
                channels: 1,
                size,
                record_inputs: record,
            },
            &device,
        ));
        // Three labeled samples (the second lacks its CT: flag set), two unlabeled.
        let sample = |missing_ct: bool| {
            let mut v: Vec<f32> =
                Tensor::<1>::random([len], Distribution::Normal(0.0, 1.0), &device)
                    .into_data()
                    .try_to_vec()
                    .unwrap();
            v[len - 2] = f32::from(u8::from(missing_ct));
            v[len - 1] = 0.0;
            v
        };
        let stack = |rows: Vec<Vec<f32>>| {
            let n = rows.len();
            Tensor::<1>::from_data(TensorData::new(rows.concat(), [n * len]), &device)
                .reshape([n, len, 1, 1])
        };
        let labeled = stack(vec![sample(false), sample(true), sample(false)]);
        let unlabeled = stack(vec![sample(false), sample(true)]);
        // Per row: the image teacher's seen flag and logits, then the tabular
        // teacher's. Rows 0, 2, 3 seen by the image teacher; 0, 1, 2, 4 by the
        // tabular one.
        let teacher: [[f64; 6]; 5] = [
            [1.0, 2.0, -1.0, 1.0, 0.5, 0.0],
            [0.0, 0.0, 0.0, 1.0, -1.0, 1.5],
            [1.0, -0.5, 0.7, 1.0, 0.2, 0.1],
            [1.0, 0.3, 0.3, 0.0, 0.0, 0.0],
            [0.0, 0.0, 0.0, 1.0, 1.0, -2.0],
        ];
        let batch = Batch {
            class_balance: None,
            labeled: labeled.clone(),
            labels: Tensor::<1, Int>::from_data(TensorData::from([1i64, 0, 0]), &device),
            weights: None,
            unlabeled: Some(unlabeled.clone()),
            guidance: Some(Guidance {
                rows: Tensor::<1, Int>::from_data(TensorData::from([0i64, 1, 2, 3, 4]), &device),
                features: Tensor::<1>::from_data(
                    TensorData::new(
                        teacher
                            .iter()
                            .flatten()
                            .map(|&v| v as f32)
                            .collect::<Vec<_>>(),
                        [30],
                    ),
                    &device,
                )
                .reshape([5, 6]),
            }),
        };
        let (w_ce, w_kd, t) = (0.7, 1.5, 3.0);
        let config = TrainConfig::default()
            .with(&CE_WEIGHT, w_ce)
            .with(&KD_WEIGHT, w_kd)
            .with(&TEMPERATURE, t)
            .with(&WITHOUT_UNLABELED, switches.without_unlabeled)
            .with(&TEACHER_SWITCH, switches.teacher_switch)
            .with(
                &super::super::multimodal::ALL_LABELED_CASES,
                switches.all_labeled,
            );
        // The student's logits before the step, then the terms by hand.
        let (logits, _) = student.forward(Tensor::cat(vec![labeled, unlabeled], 0));
        let z = values(logits);
        let labels = [1usize, 0, 0];
        // Rows 0 and 2 are the complete labeled ones; row 1 lacks its CT.
        let ce_rows: &[usize] = if switches.all_labeled {
            &[0, 1, 2]
        } else {
            &[0, 2]
        };
        let ce = ce_rows
            .iter()
            .map(|&r| -log_softmax_row(&z[r], 1.0)[labels[r]])
            .sum::<f64>()
            / ce_rows.len() as f64;
        let kd = |slot: usize| {
            let (mut sum, mut seen) = (0.0, 0.0);
            for (r, row) in teacher.iter().enumerate() {
                let mut flag = row[slot * 3];
                if switches.without_unlabeled && r >= 3 {
                    flag = 0.0;
                }
                if switches.teacher_switch && slot == 1 && row[0] == 1.0 {
                    flag = 0.0;
                }
                let log_p = log_softmax_row(&row[slot * 3 + 1..slot * 3 + 3], t);
                let log_q = log_softmax_row(&z[r], t);
                let kl: f64 = (0..2).map(|c| log_p[c].exp() * (log_p[c] - log_q[c])).sum();
                sum += flag * t * t * kl;
                seen += flag;
            }
            sum / seen
        };
        let (kd_image, kd_tabular) = (kd(0), kd(1));
        let total = match switches.all_labeled {
            // The multimodal baseline: CE alone at weight 1.
            true => ce,
            false => w_ce * ce + w_kd * (kd_image + kd_tabular),
        };
        let mut optimizer = AdamConfig::new().init();
        let context = StepContext {
            learning_rate: 1e-3,
            global_step: 0,
            epoch_progress: 0.0,
            config: &config,
        };
        let models = Models {
            student,
            teacher: None,
        };
        let (_, reported) = match switches.all_labeled {
            true => {
                super::super::multimodal::Multimodal.step(models, &mut optimizer, &batch, &context)
            }
            false => Kdamm.step(models, &mut optimizer, &batch, &context),
        };
        let close = |name: &str, want: f64| {
            let got = reported[name];
            assert!(
                (got - want).abs() < 1e-4 * want.abs().max(1.0),
                "{name}: {got} vs {want}"
            );
        };
        close(series::CE, ce);
        if !switches.all_labeled {
            close(series::KD_IMAGE, kd_image);
            close(series::KD_TABULAR, kd_tabular);
        }
        close(series::TOTAL, total);
        assert_eq!(reported[series::COMPLETE], 2.0);
    }

    #[test]
    fn complete_rows_read_the_flags() {
        let device = Device::flex();
        // Three samples of 3 values + 2 flags: complete, CT missing, record incomplete.
        let samples = Tensor::<1>::from_data(
            TensorData::from([
                0.5f32, 0.1, 0.2, 0.0, 0.0, //
                0.0, 0.0, 0.0, 1.0, 0.0, //
                0.3, 0.0, 0.1, 0.0, 1.0,
            ]),
            &device,
        )
        .reshape([3, 5, 1, 1]);
        let complete: Vec<f32> = complete_rows(samples).into_data().try_to_vec().unwrap();
        assert_eq!(complete, vec![1.0, 0.0, 0.0]);
    }
}
