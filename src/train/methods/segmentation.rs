//! Segmentation (METHODS.md §5's `L_seg`): class-weighted cross-entropy
//! plus the Dice loss on the labeled slices or volumes. With the four
//! sequences it trains ProtoKD's teacher; with one, the unimodal baseline
//! ProtoKD's student is compared with.

use burn::optim::{GradientsParams, ModuleOptimizer};

use crate::train::config::SEQUENCES_INPUT;
use crate::train::events::Scalars;
use crate::train::models::unet::Segmenter;
use crate::train::segmentation::losses;
use crate::train::segmentation::{PATCH_EDGE, PATCHES_PER_CASE, SLICES_PER_CASE, WEIGHT_DECAY};
use crate::train::spec::{Method, MethodSpec, Task, TeacherUse};
use crate::train::step::{Declaration, SegBatch, SegmentationMethod, StepContext, Stepper, scalar};

pub struct Segmentation;

pub static SPEC: MethodSpec = MethodSpec {
    name: "segmentation",
    title: "Segmentation (U-Net, CE + Dice)",
    task: Task::Segment,
    keeps_teacher: false,
    uses_unlabeled: false,
    series: &["loss/ce", "loss/dice", "loss/seg", "loss/total"],
    modalities: &[SEQUENCES_INPUT],
    teacher_roles: &[],
    teacher_use: TeacherUse::None,
    settings: &[SLICES_PER_CASE, PATCH_EDGE, PATCHES_PER_CASE, WEIGHT_DECAY],
};

pub const METHOD: Method = Method::of(&SPEC);

pub const DECLARATION: Declaration = Declaration {
    method: METHOD,
    build: || Stepper::Segment(Box::new(Segmentation)),
};

impl SegmentationMethod for Segmentation {
    fn step(
        &mut self,
        student: Segmenter,
        _teacher: Option<&Segmenter>,
        optimizer: &mut ModuleOptimizer,
        batch: &SegBatch,
        context: &StepContext,
    ) -> (Segmenter, Scalars) {
        use crate::train::phases::{self, mark};
        let (logits, _) = student.forward(batch.input.clone(), &batch.spatial);
        mark(phases::FORWARD);
        let (ce, dice) = losses::segmentation(logits, batch.onehot.clone());
        let loss = ce.clone() + dice.clone();
        mark(phases::LOSSES);
        let values = Scalars::from([
            ("loss/ce".into(), scalar(&ce)),
            ("loss/dice".into(), scalar(&dice)),
            ("loss/seg".into(), scalar(&loss)),
            ("loss/total".into(), scalar(&loss)),
        ]);
        mark(phases::READ_BACK);
        let gradients = loss.backward();
        mark(phases::BACKWARD);
        let grads = GradientsParams::from_grads(gradients, &student);
        mark(phases::GRADIENTS);
        let student = optimizer.step(context.learning_rate, student, grads);
        mark(phases::OPTIMIZER);
        (student, values)
    }
}
