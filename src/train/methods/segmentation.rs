//! Segmentation (METHODS.md §5's `L_seg`): class-weighted cross-entropy
//! plus the Dice loss on the labeled slices or volumes. With the four
//! sequences it trains ProtoKD's teacher; with one, the unimodal baseline
//! ProtoKD's student is compared with.

use burn::optim::{GradientsParams, ModuleOptimizer};

use super::{MethodSpec, StepContext, TeacherUse, scalar};
use crate::train::config::SEQUENCES_INPUT;
use crate::train::events::Scalars;
use crate::train::models::unet::Segmenter;
use crate::train::segmentation::losses;
use crate::train::segmentation::{SegBatch, SegmentationMethod};

pub struct Segmentation;

pub const SPEC: MethodSpec = MethodSpec {
    name: "segmentation",
    keeps_teacher: false,
    uses_unlabeled: false,
    series: &["loss/ce", "loss/dice", "loss/seg", "loss/total"],
    modalities: &[SEQUENCES_INPUT],
    teacher_roles: &[],
    teacher_use: TeacherUse::None,
};

impl SegmentationMethod for Segmentation {
    fn spec(&self) -> &MethodSpec {
        &SPEC
    }

    fn step(
        &mut self,
        student: Segmenter,
        _teacher: Option<&Segmenter>,
        optimizer: &mut ModuleOptimizer,
        batch: &SegBatch,
        context: &StepContext,
    ) -> (Segmenter, Scalars) {
        let (logits, _) = student.forward(batch.input.clone(), &batch.spatial);
        let (ce, dice) = losses::segmentation(logits, batch.onehot.clone());
        let loss = ce.clone() + dice.clone();
        let values = Scalars::from([
            ("loss/ce".into(), scalar(&ce)),
            ("loss/dice".into(), scalar(&dice)),
            ("loss/seg".into(), scalar(&loss)),
            ("loss/total".into(), scalar(&loss)),
        ]);
        let grads = GradientsParams::from_grads(loss.backward(), &student);
        (
            optimizer.step(context.learning_rate, student, grads),
            values,
        )
    }
}
