//! The multimodal baseline of METHODS.md §4: the fusion model of KDAMM
//! trained by cross-entropy on the complete labeled cases only — no
//! teachers, no incomplete case ever seen in training (they are still
//! scored at test time, zero-filled and flagged like KDAMM's).

use burn::optim::ModuleOptimizer;

use super::kdamm::{fusion_step, series};
use super::{Batch, MethodSpec, Models, StepContext, TeacherUse, TrainingMethod};
use crate::train::config::FUSION_INPUT;
use crate::train::events::Scalars;

pub struct Multimodal;

const SPEC: MethodSpec = MethodSpec {
    name: "multimodal",
    keeps_teacher: false,
    uses_unlabeled: false,
    series: &[series::CE, series::TOTAL, series::COMPLETE],
    modalities: &[FUSION_INPUT],
    teacher_roles: &[],
    teacher_use: TeacherUse::None,
};

impl TrainingMethod for Multimodal {
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
        fusion_step(models, optimizer, batch, context, false)
    }
}
