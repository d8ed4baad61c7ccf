//! ProtoKD (METHODS.md §5): a segmentation student on one sequence learns
//! from the labels (`L_seg`) and from a frozen segmentation run on all four
//! sequences, which sees the same slices: its softened outputs voxel by
//! voxel (`L_kd` at T = 10) and how similar each voxel's decoder features
//! are to each class's prototype (`L_proto`).
//! `L = L_seg + 10·L_kd + 0.1·L_proto` (the weights and T are settings).

use burn::optim::{GradientsParams, ModuleOptimizer};

use super::{MethodSpec, StepContext, TeacherUse, scalar};
use crate::train::config::SEQUENCES_INPUT;
use crate::train::events::Scalars;
use crate::train::models::unet::Segmenter;
use crate::train::segmentation::losses;
use crate::train::segmentation::{SegBatch, SegmentationMethod};

pub struct Protokd;

pub const SPEC: MethodSpec = MethodSpec {
    name: "protokd",
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
};

impl SegmentationMethod for Protokd {
    fn spec(&self) -> &MethodSpec {
        &SPEC
    }

    fn step(
        &mut self,
        student: Segmenter,
        teacher: Option<&Segmenter>,
        optimizer: &mut ModuleOptimizer,
        batch: &SegBatch,
        context: &StepContext,
    ) -> (Segmenter, Scalars) {
        let settings = &context.config.segmentation;
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
                    losses::pixel_kd(logits, teacher_logits.autodiff(), settings.temperature),
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
            + kd.clone().mul_scalar(settings.kd_weight)
            + proto.clone().mul_scalar(settings.proto_weight);
        let values = Scalars::from([
            ("loss/ce".into(), scalar(&ce)),
            ("loss/dice".into(), scalar(&dice)),
            ("loss/seg".into(), scalar(&seg)),
            ("loss/kd".into(), scalar(&kd)),
            ("loss/proto".into(), scalar(&proto)),
            ("loss/total".into(), scalar(&loss)),
        ]);
        let grads = GradientsParams::from_grads(loss.backward(), &student);
        (optimizer.step(context.learning_rate, student, grads), values)
    }
}
