//! ProtoKD (METHODS.md §5): a segmentation student on one sequence learns
//! from the labels (`L_seg`) and from a frozen segmentation run on all four
//! sequences, which sees the same slices: its softened outputs voxel by
//! voxel (`L_kd` at T = 10) and how similar each voxel's decoder features
//! are to each class's prototype (`L_proto`).
//! `L = L_seg + 10·L_kd + 0.1·L_proto` (the weights and T are settings).

use burn::optim::{GradientsParams, ModuleOptimizer};

use crate::train::config::SEQUENCES_INPUT;
use crate::train::events::Scalars;
use crate::train::models::unet::Segmenter;
use crate::train::segmentation::losses;
use crate::train::segmentation::{PATCH_EDGE, PATCHES_PER_CASE, SLICES_PER_CASE, WEIGHT_DECAY};
use crate::train::spec::{Method, MethodSpec, Setting, SettingKind, Task, TeacherUse};
use crate::train::step::{Declaration, SegBatch, SegmentationMethod, StepContext, Stepper, scalar};

pub struct Protokd;

const GROUP: &str = "Distillation";
const SECTION: &str = "protokd";

/// T of the pixel-wise distillation's softened outputs.
pub const TEMPERATURE: Setting = Setting {
    name: "temperature",
    section: SECTION,
    flag: "temperature",
    title: "Temperature T (pixel KD)",
    help: "Temperature of the pixel-wise distillation's softened outputs",
    group: GROUP,
    kind: SettingKind::Number {
        default: 10.0,
        range: 0.1..=100.0,
        speed: 0.1,
    },
    legacy: "/segmentation/temperature",
};

/// Weight of the pixel-wise KD term (`L_kd`).
pub const KD_WEIGHT: Setting = Setting {
    name: "kd_weight",
    section: SECTION,
    flag: "kd-weight",
    title: "KD weight",
    help: "Weight of the pixel-wise distillation term L_kd",
    group: GROUP,
    kind: SettingKind::Number {
        default: 10.0,
        range: 0.0..=100.0,
        speed: 0.1,
    },
    legacy: "/segmentation/kd_weight",
};

/// Weight of the prototype term (`L_proto`).
pub const PROTO_WEIGHT: Setting = Setting {
    name: "proto_weight",
    section: SECTION,
    flag: "proto-weight",
    title: "Prototype weight",
    help: "Weight of the prototype term L_proto",
    group: GROUP,
    kind: SettingKind::Number {
        default: 0.1,
        range: 0.0..=100.0,
        speed: 0.01,
    },
    legacy: "/segmentation/proto_weight",
};

pub static SPEC: MethodSpec = MethodSpec {
    name: "protokd",
    title: "ProtoKD (segmentation, missing sequences)",
    task: Task::Segment,
    keeps_teacher: false,
    uses_unlabeled: false,
    series: &[
        "loss/ce",
        "loss/dice",
        "loss/seg",
        "loss/kd",
        "loss/proto",
        "loss/total",
    ],
    modalities: &[SEQUENCES_INPUT],
    teacher_roles: &[SEQUENCES_INPUT],
    teacher_use: TeacherUse::Segmenter,
    settings: &[
        SLICES_PER_CASE,
        PATCH_EDGE,
        PATCHES_PER_CASE,
        WEIGHT_DECAY,
        TEMPERATURE,
        KD_WEIGHT,
        PROTO_WEIGHT,
    ],
};

pub const METHOD: Method = Method::of(&SPEC);

pub const DECLARATION: Declaration = Declaration {
    method: METHOD,
    build: || Stepper::Segment(Box::new(Protokd)),
};

impl SegmentationMethod for Protokd {
    fn step(
        &mut self,
        student: Segmenter,
        teacher: Option<&Segmenter>,
        optimizer: &mut ModuleOptimizer,
        batch: &SegBatch,
        context: &StepContext,
    ) -> (Segmenter, Scalars) {
        let config = context.config;
        let (logits, features) = student.forward(batch.input.clone(), &batch.spatial);
        let (ce, dice) = losses::segmentation(logits.clone(), batch.onehot.clone());
        let seg = ce.clone() + dice.clone();
        // The trainer refuses ProtoKD without its teacher; without one the
        // step is the segmentation step (both terms 0).
        let (kd, proto) = match (teacher, &batch.teacher_input) {
            (Some(teacher), Some(input)) => {
                let (teacher_logits, teacher_features) =
                    teacher.forward(input.clone(), &batch.spatial);
                (
                    losses::pixel_kd(
                        logits,
                        teacher_logits.autodiff(),
                        config.number(&TEMPERATURE),
                    ),
                    losses::prototype_kd(
                        features,
                        teacher_features.autodiff(),
                        batch.onehot.clone(),
                    ),
                )
            }
            _ => (seg.zeros_like(), seg.zeros_like()),
        };
        let loss = seg.clone()
            + kd.clone().mul_scalar(config.number(&KD_WEIGHT))
            + proto.clone().mul_scalar(config.number(&PROTO_WEIGHT));
        let values = Scalars::from([
            ("loss/ce".into(), scalar(&ce)),
            ("loss/dice".into(), scalar(&dice)),
            ("loss/seg".into(), scalar(&seg)),
            ("loss/kd".into(), scalar(&kd)),
            ("loss/proto".into(), scalar(&proto)),
            ("loss/total".into(), scalar(&loss)),
        ]);
        let grads = GradientsParams::from_grads(loss.backward(), &student);
        (
            optimizer.step(context.learning_rate, student, grads),
            values,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::config::TrainConfig;
    use crate::train::models::ModelKind;
    use crate::train::models::unet::SegmenterConfig;
    use burn::module::Module;
    use burn::optim::AdamConfig;
    use burn::tensor::{Device, Distribution, Tensor, TensorData};

    fn batch(device: &Device, input: Tensor<3>) -> SegBatch {
        // Two 8×8 slices, three classes: a square of class 1 and one of 2.
        let mut onehot = vec![0f32; 2 * 3 * 64];
        for b in 0..2 {
            for p in 0..64 {
                let class = if p % 8 < 3 {
                    1
                } else if p / 8 > 5 {
                    2
                } else {
                    0
                };
                onehot[(b * 3 + class) * 64 + p] = 1.0;
            }
        }
        SegBatch {
            teacher_input: Some(input.clone().without_autodiff()),
            input,
            onehot: Tensor::from_data(TensorData::new(onehot, [2, 3, 64]), device),
            spatial: vec![8, 8],
        }
    }

    #[test]
    fn a_student_equal_to_its_teacher_has_nothing_to_distil_and_learns_from_labels() {
        let device = Device::flex().autodiff();
        device.seed(3);
        let config = TrainConfig {
            method: METHOD,
            ..TrainConfig::default()
        };
        let student = crate::train::models::unet::Segmenter::new(
            ModelKind::Unet,
            &SegmenterConfig {
                channels: 1,
                classes: 3,
                width: 2,
            },
            &device,
        );
        let teacher = student.valid();
        let input = Tensor::<3>::random([2, 1, 64], Distribution::Normal(0.0, 1.0), &device);
        let batch = batch(&device, input);
        let mut optimizer = AdamConfig::new().init();
        let context = StepContext {
            learning_rate: 1e-2,
            global_step: 0,
            epoch_progress: 0.0,
            config: &config,
        };
        let (mut student, first) =
            Protokd.step(student, Some(&teacher), &mut optimizer, &batch, &context);
        // Same weights, same input: softened outputs and similarity maps agree.
        assert!(first["loss/kd"].abs() < 1e-6, "{first:?}");
        assert!(first["loss/proto"].abs() < 1e-6, "{first:?}");
        assert!((first["loss/total"] - first["loss/seg"]).abs() < 1e-5);
        assert!((first["loss/seg"] - first["loss/ce"] - first["loss/dice"]).abs() < 1e-5);
        // After a step the student differs from the frozen teacher: both terms appear.
        let mut values = first.clone();
        for _ in 0..30 {
            let (next, v) = Protokd.step(student, Some(&teacher), &mut optimizer, &batch, &context);
            student = next;
            values = v;
        }
        assert!(
            values["loss/kd"] > 1e-6 && values["loss/proto"] > 1e-6,
            "{values:?}"
        );
        assert!(
            values["loss/seg"] < first["loss/seg"] * 0.8,
            "{first:?} → {values:?}"
        );
    }
}
