//! What the panels read and write of the training and store layers — their
//! types, re-exported — and the few rules a panel asks about (which methods
//! there are, what a method reads when chosen, which runs can teach, how a
//! slice list is written). `ui` reaches `train` and `store` only through
//! `app`; these are the names it uses.

use std::path::Path;

pub use crate::store::exams::{EyeConsensus, eye_consensus};
pub use crate::store::schema::{ColumnType, PaintLabel};
pub use crate::store::split::TEST_FRACTION;
pub use crate::store::{ADJUDICATOR, Pool, Remark};
pub use crate::train::config::{
    ChoiceRule, InputKind, OptimizerKind, SERIES_INPUT, SliceConfig, SliceSelection,
    TABULAR_MODALITY, TrainConfig, limits,
};
pub use crate::train::device::ComputeDevice;
pub use crate::train::events::{EpochRecord, Scalars, series};
pub use crate::train::eyes::{EyeMetrics, EyePooling, LabelSource};
pub use crate::train::metrics::{BRATS_REGIONS, Metrics};
pub use crate::train::models::ModelKind;
pub use crate::train::models::xception::XceptionOptions;
pub use crate::train::presets::Preset;
pub use crate::train::runs::{PastRun, RunRow, dependents as run_dependents, reported};
pub use crate::train::spec::{Method, MethodSpec, Setting, SettingKind, SettingValue};

/// Every registered training method, in the panel's order.
pub fn methods() -> Vec<Method> {
    crate::train::methods::all()
        .into_iter()
        .map(|d| d.method)
        .collect()
}

/// Chooses `method` for `config`, reading what the method reads of the
/// project with `schema` (the panel's and the CLI's one rule).
pub fn switch_method(
    config: &mut TrainConfig,
    method: Method,
    schema: Option<&crate::store::Schema>,
) {
    let project = schema
        .map(crate::train::presets::ProjectInputs::of)
        .unwrap_or_default();
    crate::train::presets::switch_method(config, method, &project);
}

/// Whether a project of `schema` can feed `method`; else why not (the
/// panel's greyed methods).
pub fn method_offered(method: Method, schema: &crate::store::Schema) -> Result<(), String> {
    crate::train::presets::method_offered(
        method.spec(),
        &crate::train::presets::ProjectInputs::of(schema),
    )
}

/// Whether finished run `run` can teach a run of `spec`'s method.
pub fn can_teach(run: &PastRun, spec: &MethodSpec) -> bool {
    crate::train::distill::can_teach(run, spec)
}

/// The CPU cores training may use.
pub fn cpu_cores() -> usize {
    crate::train::threads::cores()
}

/// The CPU compute device (where the display has no GPU Burn can share).
pub fn cpu_compute() -> ComputeDevice {
    crate::train::device::flex()
}

/// Slice numbers as a case's slice list is written (`3, 7, 12`).
pub fn join_slices(slices: &[usize]) -> String {
    crate::train::slices::join(slices)
}

/// A typed slice list, read by the cases CSV's rule (`None`: not one).
pub fn parse_slices(text: &str) -> Option<Vec<usize>> {
    crate::store::cases::parse_slices(text)
}

/// 8 hex digits of a text's SHA-256 (cache keys, file names).
pub fn short_hash(text: &str) -> String {
    crate::store::names::short_hash(text)
}

/// Whether `dir` holds a Loupe project.
pub fn is_project(dir: &Path) -> bool {
    crate::store::is_project(dir)
}
