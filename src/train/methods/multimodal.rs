//! The multimodal baseline of METHODS.md §4: the fusion model of KDAMM
//! trained by cross-entropy on the complete labeled cases only — no
//! teachers, no incomplete case ever seen in training (they are still
//! scored at test time, zero-filled and flagged like KDAMM's).

use burn::optim::ModuleOptimizer;

use super::kdamm::{FusionWeights, fusion_step, series};
use crate::train::config::FUSION_INPUT;
use crate::train::events::Scalars;
use crate::train::optimisation;
use crate::train::spec::{Method, MethodSpec, Task, TeacherUse};
use crate::train::step::{Batch, Declaration, Models, StepContext, Stepper, TrainingMethod};

pub struct Multimodal;

pub static SPEC: MethodSpec = MethodSpec {
    name: "multimodal",
    title: "Image + record fusion (complete cases)",
    task: Task::Classify,
    keeps_teacher: false,
    uses_unlabeled: false,
    series: &[series::CE, series::TOTAL, series::COMPLETE],
    modalities: &[FUSION_INPUT],
    teacher_roles: &[],
    teacher_use: TeacherUse::None,
    settings: &[optimisation::WEIGHT_DECAY],
};

pub const METHOD: Method = Method::of(&SPEC);

pub const DECLARATION: Declaration = Declaration {
    method: METHOD,
    build: || Stepper::Classify(Box::new(Multimodal)),
};

impl TrainingMethod for Multimodal {
    fn step(
        &mut self,
        models: Models,
        optimizer: &mut ModuleOptimizer,
        batch: &Batch,
        context: &StepContext,
    ) -> (Models, Scalars) {
        // Cross-entropy alone, at weight 1: the baseline KDAMM is compared with.
        let weights = FusionWeights {
            ce: 1.0,
            kd: None,
            temperature: 1.0,
        };
        fusion_step(models, optimizer, batch, context, weights)
    }
}
