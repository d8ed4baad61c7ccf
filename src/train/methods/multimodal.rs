//! The multimodal baseline of METHODS.md §4: the fusion model of KDAMM
//! trained by cross-entropy on the complete labeled cases only — no
//! teachers, no incomplete case ever seen in training (they are still
//! scored at test time, zero-filled and flagged like KDAMM's). With
//! `all_labeled_cases` the CE reads every labeled case, a missing modality
//! zero-filled and flagged: the baseline that sees every label KDAMM sees.

use burn::optim::ModuleOptimizer;

use super::kdamm::{FusionWeights, fusion_step, series};
use crate::train::config::FUSION_INPUT;
use crate::train::events::Scalars;
use crate::train::optimisation;
use crate::train::spec::{Method, MethodSpec, Setting, SettingKind, Task, TeacherUse};
use crate::train::step::{Batch, Declaration, Models, StepContext, Stepper, TrainingMethod};

pub struct Multimodal;

/// CE on every labeled case, not on the complete ones alone.
pub const ALL_LABELED_CASES: Setting = Setting {
    name: "all_labeled_cases",
    section: "multimodal",
    flag: "all-labeled-cases",
    title: "CE on every labeled case",
    help: "Cross-entropy on every labeled case, a missing modality zero-filled and flagged \
           (off: the complete labeled cases only — METHODS.md §4's baseline)",
    group: "Fusion",
    kind: SettingKind::Switch {
        default: false,
        flag_sets: true,
    },
    legacy: "",
};

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
    settings: &[ALL_LABELED_CASES, optimisation::WEIGHT_DECAY],
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
            ce_on_all_labeled: context.config.switch(&ALL_LABELED_CASES),
            ..FusionWeights::BASELINE
        };
        fusion_step(models, optimizer, batch, context, weights)
    }
}
