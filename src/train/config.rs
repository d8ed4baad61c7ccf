//! A run's configuration (saved as its `config.json`), the limits every
//! setting must respect, and the presets. The one place for all three: the
//! training panel's sliders, `loupe train`, and the benchmarks read the
//! constants in [`limits`] and the presets in [`Preset`].

use std::fmt::Display;
use std::ops::RangeInclusive;

use serde::{Deserialize, Serialize};

use super::augment::Augmentation;
use super::models::ModelKind;
use super::models::xception::XceptionOptions;

/// A setting that cannot train, named.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// The training methods (METHODS.md). The names are the training contract:
/// `config.json`, `loupe train --method` and scripts use exactly these.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Method {
    /// Cross-entropy on the labeled images: every method with its extra terms off.
    #[serde(rename = "supervised")]
    Supervised,
    /// Mean teacher + semantic relation consistency (METHODS.md §1).
    #[serde(rename = "mean-teacher")]
    MeanTeacher,
    /// Cross-modal distillation (METHODS.md §3): a tabular student taught
    /// by a frozen CT teacher run through PKT, weighted by the gradient ratio.
    #[serde(rename = "cross-modal-kd")]
    CrossModalKd,
    /// A learned slice selection (METHODS.md §4, DRLIS): a policy scores a
    /// CT series' slices and picks k, trained by REINFORCE on the gain of a
    /// frozen image classifier run's confidence.
    #[serde(rename = "slice-policy")]
    SlicePolicy,
    /// Image + tabular fusion trained on the complete cases only (the
    /// baseline KDAMM is compared with).
    #[serde(rename = "multimodal")]
    Multimodal,
    /// Knowledge distillation across missing modalities (METHODS.md §4,
    /// KDAMM): the fusion student learns from unimodal teacher runs on
    /// every case, missing inputs zero-filled and flagged.
    #[serde(rename = "kdamm")]
    Kdamm,
    /// Segmentation of a case's MRI sequences into BraTS's structures
    /// (class-weighted cross-entropy + Dice, METHODS.md §5's `L_seg`): the
    /// four-sequence teacher, or with one sequence the unimodal baseline.
    #[serde(rename = "segmentation")]
    Segmentation,
    /// Prototype knowledge distillation (METHODS.md §5, ProtoKD): a
    /// one-sequence segmentation student taught by a frozen four-sequence
    /// segmentation run through softened outputs and class prototypes.
    #[serde(rename = "protokd")]
    Protokd,
}

impl Method {
    pub const ALL: [Method; 8] = [
        Method::Supervised,
        Method::MeanTeacher,
        Method::CrossModalKd,
        Method::SlicePolicy,
        Method::Multimodal,
        Method::Kdamm,
        Method::Segmentation,
        Method::Protokd,
    ];

    /// The method labels every voxel (a label map) rather than a case.
    pub fn segments(self) -> bool {
        matches!(self, Method::Segmentation | Method::Protokd)
    }

    /// The contract name (kebab case), as in `config.json`.
    pub fn name(self) -> &'static str {
        match self {
            Method::Supervised => "supervised",
            Method::MeanTeacher => "mean-teacher",
            Method::CrossModalKd => "cross-modal-kd",
            Method::SlicePolicy => "slice-policy",
            Method::Multimodal => "multimodal",
            Method::Kdamm => "kdamm",
            Method::Segmentation => "segmentation",
            Method::Protokd => "protokd",
        }
    }

    /// A name for people (the training panel).
    pub fn title(self) -> &'static str {
        match self {
            Method::Supervised => "Supervised",
            Method::MeanTeacher => "Mean teacher + SRC",
            Method::CrossModalKd => "Cross-modal distillation (PKT)",
            Method::SlicePolicy => "CT slice policy (REINFORCE)",
            Method::Multimodal => "Image + record fusion (complete cases)",
            Method::Kdamm => "KDAMM (distillation, missing modalities)",
            Method::Segmentation => "Segmentation (U-Net, CE + Dice)",
            Method::Protokd => "ProtoKD (segmentation, missing sequences)",
        }
    }

    /// The method named `name` (as [`Method::name`] spells it).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    Adam,
    Sgd,
}

/// Mean-teacher settings (METHODS.md §1; the reference values are the defaults).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct MeanTeacherConfig {
    pub ema_decay: f64,
    /// `w_max` of the ramp-up.
    pub consistency_weight: f64,
    /// `T`, in epochs.
    pub rampup_epochs: f64,
    /// `λ`, the weight of the relation term relative to the consistency term.
    pub relation_weight: f64,
}

impl Default for MeanTeacherConfig {
    fn default() -> Self {
        Self {
            ema_decay: 0.99,
            consistency_weight: 1.0,
            rampup_epochs: 30.0,
            relation_weight: 1.0,
        }
    }
}

/// The supervised loss on labeled images (METHODS.md §2): `CE + w·focal`
/// with `focal = −(1 − p_y)^γ log p_y`; `w = 0` is plain cross-entropy.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassificationLoss {
    pub focal_weight: f64,
    pub focal_gamma: f64,
    /// Weigh each labeled image by `N / (C · n_c)`, the inverse frequency
    /// of its class in the labeled pool (so rare classes count as much as
    /// common ones); off, every image weighs 1.
    #[serde(default)]
    pub class_weights: bool,
}

impl Default for ClassificationLoss {
    fn default() -> Self {
        Self {
            focal_weight: 0.0,
            focal_gamma: 2.0,
            class_weights: false,
        }
    }
}

/// The modality role of a 2-D item's one image (a photo, or a volume's middle slice).
pub const IMAGE_MODALITY: &str = "image";

/// The edge a volume is resampled to when a run on a volume gives none:
/// the lung demo's CT edge (at 32³ its nodules of 2–3 voxels blur away).
pub const DEFAULT_VOLUME_EDGE: usize = 40;

/// The training grid's edge when a segmentation run gives none: the
/// brain-tumour demo's, where a 2-D U-Net of width 8 trains on two cores
/// in minutes.
pub const DEFAULT_SEGMENTATION_EDGE: usize = 64;

/// The modality of a case's tabular record.
pub const TABULAR_MODALITY: &str = "tabular";

/// What a run's model reads, by its modalities, its model and its method.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InputKind {
    /// An item's image (a photo, or a volume's middle slice), as RGB.
    Image,
    /// A case's tabular record, encoded as numbers.
    Record,
    /// A case's volume of this modality role, whole, in 3-D.
    Volume(String),
    /// k axial slices of a case's series of this role (chosen by the
    /// run's [`SliceConfig`]), as the k channels of a 2-D image.
    Slices(String),
    /// Every axial slice of a case's series of this role (what a slice
    /// policy scores), resampled to the configured depth.
    Series(String),
    /// The k slices of this role and the tabular record side by side, with
    /// a missing flag per modality (fusion; zero-filled where missing).
    Fusion(String),
    /// Co-registered sequences of a case (`t1`, `t1ce`, …) as the channels
    /// of each voxel, labeled voxel by voxel (segmentation).
    Sequences(Vec<String>),
}

impl InputKind {
    /// The kind's name in a method's list of what it reads: `image`,
    /// `tabular`, `volume` (any case modality read whole in 3-D),
    /// `slices`, `series` or `fusion`.
    pub fn kind_name(&self) -> &'static str {
        match self {
            InputKind::Image => IMAGE_MODALITY,
            InputKind::Record => TABULAR_MODALITY,
            InputKind::Volume(_) => VOLUME_INPUT,
            InputKind::Slices(_) => SLICES_INPUT,
            InputKind::Series(_) => SERIES_INPUT,
            InputKind::Fusion(_) => FUSION_INPUT,
            InputKind::Sequences(_) => SEQUENCES_INPUT,
        }
    }

    /// The case modality role read as images (`ct`), where there is one.
    pub fn role(&self) -> Option<&str> {
        match self {
            InputKind::Image | InputKind::Record => None,
            InputKind::Volume(r)
            | InputKind::Slices(r)
            | InputKind::Series(r)
            | InputKind::Fusion(r) => Some(r),
            InputKind::Sequences(roles) => roles.first().map(String::as_str),
        }
    }
}

/// The kind name of any case modality read as a whole volume.
pub const VOLUME_INPUT: &str = "volume";
/// The kind name of k slices of a series read as a 2-D image's channels.
pub const SLICES_INPUT: &str = "slices";
/// The kind name of a whole series read slice by slice (a slice policy).
pub const SERIES_INPUT: &str = "series";
/// The kind name of image slices and a tabular record read together.
pub const FUSION_INPUT: &str = "fusion";
/// The kind name of a case's co-registered sequences read voxel by voxel.
pub const SEQUENCES_INPUT: &str = "sequences";

/// Which axial slices of a series a 2-D model reads (METHODS.md §4).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SliceSelection {
    /// The k slices around the middle of the series.
    #[default]
    Middle,
    /// k slices drawn at random per case (fixed by the run's seed).
    Random,
    /// The k slices a slice-policy run picks (a clinician's override first).
    Policy,
}

impl SliceSelection {
    pub const ALL: [SliceSelection; 3] = [
        SliceSelection::Middle,
        SliceSelection::Random,
        SliceSelection::Policy,
    ];

    /// The name on the command line and in `config.json`.
    pub fn name(self) -> &'static str {
        match self {
            SliceSelection::Middle => "middle",
            SliceSelection::Random => "random",
            SliceSelection::Policy => "policy",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// How a 2-D model reads a CT series (METHODS.md §4's slice selection).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SliceConfig {
    pub selection: SliceSelection,
    /// k: the slices a model reads, as k input channels.
    pub count: usize,
    /// The slice-policy run whose picks [`SliceSelection::Policy`] reads.
    pub policy: Option<String>,
    /// Slices a whole series is resampled to when a policy scores it
    /// (series of this depth are read as they are).
    pub depth: usize,
    /// Weight of the policy's entropy bonus in REINFORCE (keeps it exploring).
    pub entropy_weight: f64,
}

impl Default for SliceConfig {
    fn default() -> Self {
        Self {
            selection: SliceSelection::Middle,
            count: 3,
            policy: None,
            depth: 32,
            entropy_weight: 0.01,
        }
    }
}

/// KDAMM's settings (METHODS.md §4).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct KdammConfig {
    /// T of the teachers' and the student's softened outputs.
    pub temperature: f64,
    /// Weight of the cross-entropy on the complete labeled cases.
    pub ce_weight: f64,
    /// Weight of each teacher's KL term.
    pub kd_weight: f64,
}

impl Default for KdammConfig {
    fn default() -> Self {
        Self {
            temperature: 4.0,
            ce_weight: 1.0,
            kd_weight: 1.0,
        }
    }
}

/// Segmentation and ProtoKD settings (METHODS.md §5).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SegmentationConfig {
    /// Axial slices drawn from each labeled case per epoch (2-D U-Net): an
    /// epoch is `cases × slices_per_case / batch size` steps.
    pub slices_per_case: usize,
    /// T of the pixel-wise distillation's softened outputs.
    pub temperature: f64,
    /// Weight of the pixel-wise KD term (`L_kd`).
    pub kd_weight: f64,
    /// Weight of the prototype term (`L_proto`).
    pub proto_weight: f64,
    /// Adam's weight decay.
    pub weight_decay: f64,
}

impl Default for SegmentationConfig {
    fn default() -> Self {
        Self {
            slices_per_case: 8,
            temperature: 10.0,
            kd_weight: 10.0,
            proto_weight: 0.1,
            weight_decay: 1e-5,
        }
    }
}

/// Distillation settings (METHODS.md §3).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DistillationConfig {
    /// `α` of `α·L_ce + (1 − α)·L_kd·grad_ratio`.
    pub alpha: f64,
    /// Scale the distillation term by `‖∇L_ce‖ / ‖∇L_kd‖` each step; off,
    /// the term keeps the fixed weight `1 − α` (the ablation).
    pub grad_ratio: bool,
    /// Standardise the frozen teacher's features over the cohort before the
    /// similarity kernel (see `distill::standardise` for why); off, the raw
    /// row means (the ablation).
    #[serde(default = "default_true")]
    pub standardise_teacher: bool,
}

fn default_true() -> bool {
    true
}

impl Default for DistillationConfig {
    fn default() -> Self {
        Self {
            alpha: 0.5,
            grad_ratio: true,
            standardise_teacher: true,
        }
    }
}

fn default_modalities() -> Vec<String> {
    vec![IMAGE_MODALITY.to_string()]
}

fn default_validation_fraction() -> f64 {
    0.2
}

/// Everything a run depends on; saved as the run's `config.json`. Keys added
/// after the first release load with `#[serde(default)]`, so every earlier
/// run's configuration still opens.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub method: Method,
    #[serde(default)]
    pub model: ModelKind,
    /// Which of a case's inputs the run reads, by role.
    #[serde(default = "default_modalities")]
    pub modalities: Vec<String>,
    /// Runs whose models teach this one (distillation methods), matched to
    /// their role by the modality recorded in their own configuration.
    #[serde(default)]
    pub teachers: Vec<String>,
    /// The project the teacher runs belong to when it is not this one (an
    /// absolute folder): a CT teacher trained on a large labeled cohort
    /// teaching a questionnaire student where few cases are labeled. Its
    /// features are computed on this project's cases.
    #[serde(default)]
    pub teacher_project: Option<String>,
    /// Input edge in pixels (128 keeps CPU runs practical; 224 is the reference).
    pub input_size: usize,
    /// Channels of the first Classifier stage.
    pub width: usize,
    pub dropout: f64,
    pub epochs: usize,
    pub batch_size: usize,
    /// Labeled images in each batch; the rest of the batch is unlabeled. The
    /// same for every method, so every method takes the same steps.
    pub labeled_per_batch: usize,
    pub learning_rate: f64,
    pub optimizer: OptimizerKind,
    /// Cosine decay of the learning rate over the run.
    pub cosine_schedule: bool,
    pub mean_teacher: MeanTeacherConfig,
    /// Perturbation strength (older runs' configs lack it: the defaults).
    #[serde(default)]
    pub augmentation: Augmentation,
    /// Fraction of the labeled pool held out, per class, to choose the
    /// reported checkpoint (0: the last epoch is reported). Older runs chose
    /// on the test pool; their configs load with the default.
    #[serde(default = "default_validation_fraction")]
    pub validation_fraction: f64,
    pub seed: u64,
    /// Start from this earlier run's chosen checkpoints (fine-tuning after
    /// new labels, or after pre-training on another project).
    #[serde(default)]
    pub fine_tune_from: Option<String>,
    /// The project `fine_tune_from` belongs to when it is not this one (an
    /// absolute folder): pre-train there, fine-tune here. Recorded so the
    /// run's lineage can be followed.
    #[serde(default)]
    pub fine_tune_from_project: Option<String>,
    /// Epochs at the start of a fine-tuning run during which the early
    /// stages (stem and first half of the network) stay as loaded and only
    /// the rest learns (a run with no parent has nothing to hold: ignored).
    #[serde(default)]
    pub freeze_early_epochs: usize,
    /// Cross-entropy, plus the focal term when its weight is above 0 (older
    /// runs' configs lack it: plain cross-entropy).
    #[serde(default)]
    pub loss: ClassificationLoss,
    /// The xception family's middle depth and its `dilated` / `dense` switches.
    #[serde(default)]
    pub xception: XceptionOptions,
    /// Cut each image to its crop where the project's schema has one (the
    /// thyroid method's preprocessing); off, the whole frame (the ablation).
    #[serde(default = "default_crop")]
    pub crop: bool,
    /// Numbers in an encoded tabular record (the MLP's inputs): set from
    /// the data when a run on records starts, so its checkpoint loads back.
    #[serde(default)]
    pub record_inputs: usize,
    #[serde(default)]
    pub distillation: DistillationConfig,
    /// How a 2-D model reads a case's series (`None`: a volume is read
    /// whole by the 3-D network).
    #[serde(default)]
    pub slices: Option<SliceConfig>,
    #[serde(default)]
    pub kdamm: KdammConfig,
    #[serde(default)]
    pub segmentation: SegmentationConfig,
}

fn default_crop() -> bool {
    true
}

/// The range every setting must lie in. The panel's sliders, `loupe train`
/// and the benchmarks use these; [`TrainConfig::validate`] enforces them.
pub mod limits {
    use std::ops::RangeInclusive;

    pub const INPUT_SIZE: RangeInclusive<usize> = 8..=1024;
    pub const WIDTH: RangeInclusive<usize> = 1..=512;
    pub const EPOCHS: RangeInclusive<usize> = 1..=10_000;
    pub const BATCH_SIZE: RangeInclusive<usize> = 2..=1024;
    pub const LEARNING_RATE: RangeInclusive<f64> = 1e-7..=1.0;
    pub const DROPOUT: RangeInclusive<f64> = 0.0..=0.95;
    pub const EMA_DECAY: RangeInclusive<f64> = 0.0..=0.9999;
    pub const CONSISTENCY_WEIGHT: RangeInclusive<f64> = 0.0..=100.0;
    pub const RAMPUP_EPOCHS: RangeInclusive<f64> = 0.0..=1000.0;
    pub const RELATION_WEIGHT: RangeInclusive<f64> = 0.0..=100.0;
    pub const ROTATION_DEGREES: RangeInclusive<f64> = 0.0..=180.0;
    pub const TRANSLATION: RangeInclusive<f64> = 0.0..=0.5;
    pub const VALIDATION_FRACTION: RangeInclusive<f64> = 0.0..=0.5;
    pub const FOCAL_WEIGHT: RangeInclusive<f64> = 0.0..=10.0;
    pub const FOCAL_GAMMA: RangeInclusive<f64> = 0.0..=10.0;
    pub const FREEZE_EARLY_EPOCHS: RangeInclusive<usize> = 0..=10_000;
    pub const ALPHA: RangeInclusive<f64> = 0.0..=1.0;
    /// A volume's edge in voxels: whole 3-D volumes at most 96³ on a CPU.
    pub const VOLUME_EDGE: RangeInclusive<usize> = 8..=96;
    /// k, the slices a 2-D model reads from a series.
    pub const SLICE_COUNT: RangeInclusive<usize> = 1..=16;
    /// The depth a series is resampled to for a slice policy.
    pub const SERIES_DEPTH: RangeInclusive<usize> = 2..=256;
    pub const ENTROPY_WEIGHT: RangeInclusive<f64> = 0.0..=10.0;
    pub const TEMPERATURE: RangeInclusive<f64> = 0.1..=100.0;
    pub const TERM_WEIGHT: RangeInclusive<f64> = 0.0..=100.0;
    /// Axial slices drawn per labeled case and epoch (segmentation).
    pub const SLICES_PER_CASE: RangeInclusive<usize> = 1..=512;
    pub const WEIGHT_DECAY: RangeInclusive<f64> = 0.0..=0.1;
}

fn check<T: PartialOrd + Display>(
    name: &str,
    value: T,
    range: &RangeInclusive<T>,
) -> Result<(), ConfigError> {
    if range.contains(&value) {
        Ok(())
    } else {
        Err(ConfigError(format!(
            "{name} {value} must be between {} and {}",
            range.start(),
            range.end()
        )))
    }
}

impl TrainConfig {
    /// Refuses settings that cannot train, naming the setting and its range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check("input size", self.input_size, &limits::INPUT_SIZE)?;
        check("width", self.width, &limits::WIDTH)?;
        check("dropout", self.dropout, &limits::DROPOUT)?;
        check("epochs", self.epochs, &limits::EPOCHS)?;
        check("batch size", self.batch_size, &limits::BATCH_SIZE)?;
        check(
            "labeled per batch",
            self.labeled_per_batch,
            &(1..=self.batch_size),
        )?;
        check("learning rate", self.learning_rate, &limits::LEARNING_RATE)?;
        let a = &self.augmentation;
        check(
            "augmentation rotation (degrees)",
            a.rotation_degrees,
            &limits::ROTATION_DEGREES,
        )?;
        check(
            "augmentation translation",
            a.translation,
            &limits::TRANSLATION,
        )?;
        let mt = &self.mean_teacher;
        check(
            "focal weight",
            self.loss.focal_weight,
            &limits::FOCAL_WEIGHT,
        )?;
        check("focal γ", self.loss.focal_gamma, &limits::FOCAL_GAMMA)?;
        check("EMA decay", mt.ema_decay, &limits::EMA_DECAY)?;
        check(
            "consistency weight",
            mt.consistency_weight,
            &limits::CONSISTENCY_WEIGHT,
        )?;
        check("ramp-up epochs", mt.rampup_epochs, &limits::RAMPUP_EPOCHS)?;
        check(
            "relation weight",
            mt.relation_weight,
            &limits::RELATION_WEIGHT,
        )?;
        check(
            "validation fraction",
            self.validation_fraction,
            &limits::VALIDATION_FRACTION,
        )?;
        check(
            "frozen early epochs",
            self.freeze_early_epochs,
            &limits::FREEZE_EARLY_EPOCHS,
        )?;
        if self.fine_tune_from_project.is_some() && self.fine_tune_from.is_none() {
            return Err(ConfigError(
                "a project to fine-tune from needs the run to start from (--from RUN)".into(),
            ));
        }
        if self.modalities.is_empty() {
            return Err(ConfigError("a run needs at least one modality".into()));
        }
        if self.teacher_project.is_some() && self.teachers.is_empty() {
            return Err(ConfigError(
                "a teacher project needs the teacher run (--teacher RUN)".into(),
            ));
        }
        check("α", self.distillation.alpha, &limits::ALPHA)?;
        check("temperature", self.kdamm.temperature, &limits::TEMPERATURE)?;
        check("CE weight", self.kdamm.ce_weight, &limits::TERM_WEIGHT)?;
        check("KD weight", self.kdamm.kd_weight, &limits::TERM_WEIGHT)?;
        if let Some(slices) = &self.slices {
            check("slice count (k)", slices.count, &limits::SLICE_COUNT)?;
            check("series depth", slices.depth, &limits::SERIES_DEPTH)?;
            check(
                "entropy weight",
                slices.entropy_weight,
                &limits::ENTROPY_WEIGHT,
            )?;
            if slices.selection == SliceSelection::Policy && slices.policy.is_none() {
                return Err(ConfigError(
                    "policy slices need the slice-policy run that picks them (--policy RUN)".into(),
                ));
            }
        }
        if self.method.segments() {
            return self.validate_segmentation();
        }
        if self.modalities.len() > 2
            || (self.modalities.len() == 2
                && self
                    .modalities
                    .iter()
                    .filter(|m| m.as_str() == TABULAR_MODALITY)
                    .count()
                    != 1)
            || self.modalities.iter().any(|m| m.is_empty())
        {
            return Err(ConfigError(format!(
                "modalities {} cannot train together: a run reads one modality, or one case \
                 modality and the tabular record (e.g. ct,tabular)",
                self.modalities.join(",")
            )));
        }
        let fits = match self.input_kind() {
            InputKind::Image => ModelKind::IMAGE.contains(&self.model),
            InputKind::Record => self.model == ModelKind::Mlp,
            InputKind::Volume(_) => {
                check(
                    "volume edge (input size)",
                    self.input_size,
                    &limits::VOLUME_EDGE,
                )?;
                self.model == ModelKind::I3d
            }
            InputKind::Slices(_) | InputKind::Series(_) | InputKind::Fusion(_) => {
                self.model == ModelKind::Resnet18
            }
            InputKind::Sequences(_) => ModelKind::SEGMENTATION.contains(&self.model),
        };
        if !fits {
            return Err(ConfigError(format!(
                "model {} cannot read the modality {} (a tabular record trains mlp, a volume \
                 i3d, an image the 2-D models, slices of a series resnet18)",
                self.model.name(),
                self.modalities.join(",")
            )));
        }
        Ok(())
    }

    /// What the model reads: the tabular record, an image, a case's volume
    /// whole (the 3-D network) or as slices (a 2-D model with slice
    /// settings; every slice for the slice policy), or slices and record
    /// together (two modalities).
    pub fn input_kind(&self) -> InputKind {
        if self.method.segments() {
            return InputKind::Sequences(self.modalities.clone());
        }
        let role = self
            .modalities
            .iter()
            .find(|m| m.as_str() != TABULAR_MODALITY)
            .cloned();
        match (self.modalities.as_slice(), role) {
            ([], _) => InputKind::Image,
            ([only], _) if only == IMAGE_MODALITY => InputKind::Image,
            ([only], _) if only == TABULAR_MODALITY => InputKind::Record,
            ([_, _, ..], Some(role)) => InputKind::Fusion(role),
            (_, Some(role)) if self.method == Method::SlicePolicy => InputKind::Series(role),
            (_, Some(role)) if self.slices.is_some() && self.model != ModelKind::I3d => {
                InputKind::Slices(role)
            }
            (_, Some(role)) => InputKind::Volume(role),
            (_, None) => InputKind::Record,
        }
    }

    /// Makes the run read the input kind `kind` (a method's
    /// [`super::methods::MethodSpec::modalities`] entry) from a project
    /// whose cases have `roles`: the tabular record, the first role's
    /// volume, slices or series, or its slices with the record. `false`
    /// when the project has nothing of that kind.
    pub fn read_as(&mut self, kind: &str, roles: &[String]) -> bool {
        let first = roles.first().cloned();
        self.modalities = match (kind, first) {
            (IMAGE_MODALITY, _) => vec![IMAGE_MODALITY.into()],
            (TABULAR_MODALITY, _) => vec![TABULAR_MODALITY.into()],
            (FUSION_INPUT, Some(role)) => vec![role, TABULAR_MODALITY.into()],
            (VOLUME_INPUT | SLICES_INPUT | SERIES_INPUT, Some(role)) => vec![role],
            (SEQUENCES_INPUT, Some(_)) => roles.to_vec(),
            _ => return false,
        };
        match kind {
            VOLUME_INPUT => self.slices = None,
            SLICES_INPUT | SERIES_INPUT | FUSION_INPUT => {
                self.slices.get_or_insert_with(SliceConfig::default);
                self.model = ModelKind::Resnet18;
            }
            _ => {}
        }
        self.fit_to_modality();
        true
    }

    /// The slice settings in force (the defaults when the run sets none).
    pub fn slice_config(&self) -> SliceConfig {
        self.slices.clone().unwrap_or_default()
    }

    /// Channels of a 2-D model's input: k slices, or RGB.
    pub fn image_channels(&self) -> usize {
        match self.input_kind() {
            InputKind::Slices(_) | InputKind::Fusion(_) | InputKind::Series(_) => {
                self.slice_config().count
            }
            _ => 3,
        }
    }

    /// Picks the architecture and size the modality needs when the current
    /// ones cannot read it: the MLP for a record, the 3-D network at
    /// [`DEFAULT_VOLUME_EDGE`]³ for a volume, ResNet-18 for an image.
    /// Settings that fit are kept.
    pub fn fit_to_modality(&mut self) {
        match self.input_kind() {
            InputKind::Record if self.model != ModelKind::Mlp => {
                self.model = ModelKind::Mlp;
            }
            InputKind::Volume(_) => {
                if self.model != ModelKind::I3d {
                    // An image's size and width say nothing of a volume's:
                    // a 64 px preset would read a 40³ CT at 64³ (4× the work).
                    self.model = ModelKind::I3d;
                    self.width = self.width.min(8);
                    self.input_size = DEFAULT_VOLUME_EDGE;
                }
                if !limits::VOLUME_EDGE.contains(&self.input_size) {
                    self.input_size = DEFAULT_VOLUME_EDGE;
                }
            }
            InputKind::Image if !ModelKind::IMAGE.contains(&self.model) => {
                self.model = ModelKind::Resnet18;
            }
            InputKind::Sequences(_) => {
                if !ModelKind::SEGMENTATION.contains(&self.model) {
                    // A classifier's image size and width say nothing of a U-Net's.
                    self.model = ModelKind::Unet;
                    self.input_size = DEFAULT_SEGMENTATION_EDGE;
                    self.width = self.width.min(8);
                }
                if self.model == ModelKind::Unet3d
                    && !limits::VOLUME_EDGE.contains(&self.input_size)
                {
                    self.input_size = DEFAULT_VOLUME_EDGE;
                }
            }
            InputKind::Slices(_) | InputKind::Series(_) | InputKind::Fusion(_) => {
                if self.model != ModelKind::Resnet18 {
                    self.model = ModelKind::Resnet18;
                }
                if self.slices.is_none() {
                    self.slices = Some(SliceConfig::default());
                }
            }
            _ => {}
        }
    }

    /// The segmentation methods' rules: one or more distinct sequences, a
    /// U-Net, their settings in range.
    fn validate_segmentation(&self) -> Result<(), ConfigError> {
        let s = &self.segmentation;
        check(
            "slices per case",
            s.slices_per_case,
            &limits::SLICES_PER_CASE,
        )?;
        check("temperature", s.temperature, &limits::TEMPERATURE)?;
        check("KD weight", s.kd_weight, &limits::TERM_WEIGHT)?;
        check("prototype weight", s.proto_weight, &limits::TERM_WEIGHT)?;
        check("weight decay", s.weight_decay, &limits::WEIGHT_DECAY)?;
        let mut seen = std::collections::BTreeSet::new();
        for m in &self.modalities {
            if m.is_empty() || m == TABULAR_MODALITY || m == IMAGE_MODALITY {
                return Err(ConfigError(format!(
                    "segmentation reads a case's MRI sequences by role (e.g. \
                     --modality t1,t1ce,t2,flair), not {:?}",
                    m
                )));
            }
            if !seen.insert(m) {
                return Err(ConfigError(format!("sequence {m} is named twice")));
            }
        }
        if !ModelKind::SEGMENTATION.contains(&self.model) {
            return Err(ConfigError(format!(
                "model {} cannot segment: segmentation trains unet (2-D, on axial slices) \
                 or unet3d",
                self.model.name()
            )));
        }
        if self.model == ModelKind::Unet3d {
            check(
                "volume edge (input size)",
                self.input_size,
                &limits::VOLUME_EDGE,
            )?;
        }
        let multiple = 1usize << super::models::unet::DOWNSAMPLINGS;
        if !self.input_size.is_multiple_of(multiple) {
            return Err(ConfigError(format!(
                "input size {} must be a multiple of {multiple}: the U-Net halves it {} times",
                self.input_size,
                super::models::unet::DOWNSAMPLINGS
            )));
        }
        Ok(())
    }

    /// What a checkpoint's weights depend on: a run started from another
    /// must share it.
    pub fn architecture(&self) -> (ModelKind, usize, XceptionOptions) {
        (self.model, self.width, self.xception)
    }

    /// Takes `parent`'s architecture (a run continues with its parent's).
    pub fn keep_architecture_of(&mut self, parent: &TrainConfig) {
        (self.model, self.width, self.xception) = parent.architecture();
    }

    /// The METHODS.md §1 reference settings (the defaults).
    pub fn method_reference() -> Self {
        Self::default()
    }

    /// Settings measured on the ROP demo on the CPU (README): small enough to
    /// train on two cores in minutes (64 px, width 8), any rotation (fundus
    /// photographs have no preferred angle), no dropout (0.2 stalled both
    /// methods at this learning rate), and a consistency weight of 3.
    pub fn fundus_on_cpu() -> Self {
        Self {
            input_size: 64,
            width: 8,
            dropout: 0.0,
            epochs: 100,
            learning_rate: 3e-3,
            mean_teacher: MeanTeacherConfig {
                consistency_weight: 3.0,
                ..MeanTeacherConfig::default()
            },
            augmentation: Augmentation {
                rotation_degrees: 180.0,
                ..Augmentation::default()
            },
            ..Self::default()
        }
    }

    /// The CPU-sized settings for images with an orientation (ultrasound,
    /// volumes): as [`TrainConfig::fundus_on_cpu`] but the method's ±10°.
    pub fn small_on_cpu() -> Self {
        Self {
            augmentation: Augmentation::default(),
            ..Self::fundus_on_cpu()
        }
    }
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            method: Method::MeanTeacher,
            model: ModelKind::Resnet18,
            modalities: default_modalities(),
            teachers: Vec::new(),
            teacher_project: None,
            input_size: 128,
            width: 16,
            dropout: 0.2,
            epochs: 30,
            batch_size: 16,
            labeled_per_batch: 4,
            learning_rate: 1e-3,
            optimizer: OptimizerKind::Adam,
            cosine_schedule: true,
            mean_teacher: MeanTeacherConfig::default(),
            augmentation: Augmentation::default(),
            validation_fraction: default_validation_fraction(),
            seed: 1,
            fine_tune_from: None,
            fine_tune_from_project: None,
            freeze_early_epochs: 0,
            loss: ClassificationLoss::default(),
            xception: XceptionOptions::default(),
            crop: true,
            record_inputs: 0,
            distillation: DistillationConfig::default(),
            slices: None,
            kdamm: KdammConfig::default(),
            segmentation: SegmentationConfig::default(),
        }
    }
}

/// Where a run will train, as far as presets care.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceKind {
    Cpu,
    Gpu,
}

/// A named set of settings offered in the panel; [`Preset::for_project`]
/// picks the one a new run starts from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preset {
    /// METHODS.md §1 as published.
    MethodReference,
    /// Measured on the ROP demo on two CPU cores.
    FundusOnCpu,
    /// CPU-sized, for images that have an orientation.
    SmallOnCpu,
}

impl Preset {
    pub const ALL: [Preset; 3] = [
        Preset::MethodReference,
        Preset::FundusOnCpu,
        Preset::SmallOnCpu,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Preset::MethodReference => "Method reference",
            Preset::FundusOnCpu => "Fundus on CPU",
            Preset::SmallOnCpu => "Small on CPU",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Preset::MethodReference => {
                "METHODS.md §1: 128 px, width 16, rotation ±10°, consistency weight 1, dropout 0.2"
            }
            Preset::FundusOnCpu => {
                "Measured on the ROP demo (README): 64 px, width 8, 100 epochs, any rotation, \
                 consistency weight 3, no dropout"
            }
            Preset::SmallOnCpu => {
                "64 px, width 8, 100 epochs, rotation ±10°, consistency weight 3, no dropout"
            }
        }
    }

    pub fn config(self) -> TrainConfig {
        match self {
            Preset::MethodReference => TrainConfig::method_reference(),
            Preset::FundusOnCpu => TrainConfig::fundus_on_cpu(),
            Preset::SmallOnCpu => TrainConfig::small_on_cpu(),
        }
    }

    /// The preset for a project's schema on a device: the reference on a
    /// GPU; on the CPU the small settings, with any rotation for fundus
    /// photographs (the `rop` schema), which have no preferred angle.
    pub fn for_project(schema_name: &str, device: DeviceKind) -> Self {
        match (device, schema_name) {
            (DeviceKind::Gpu, _) => Preset::MethodReference,
            (DeviceKind::Cpu, "rop") => Preset::FundusOnCpu,
            (DeviceKind::Cpu, _) => Preset::SmallOnCpu,
        }
    }

    /// The settings a new run on a project of `schema_name` starts from:
    /// this preset's, with the schema's method loss — thyroid's hybrid
    /// `CE + focal` (METHODS.md §2), plain cross-entropy otherwise.
    pub fn config_for(self, schema_name: &str) -> TrainConfig {
        let mut config = self.config();
        if schema_name == "thyroid" {
            config.loss.focal_weight = 1.0;
        }
        if schema_name == "bone" {
            // A CT series is read as slices by a 2-D model (METHODS.md §4).
            config.slices = Some(SliceConfig::default());
        }
        if schema_name == "brain-tumour" {
            // METHODS.md §5: the four-sequence U-Net, Adam (no decay
            // schedule), sized for two cores (64³, width 8). At the
            // method's 1e-3 this small U-Net needs ~15 epochs to take off
            // on the demo; 3e-3 reaches WT Dice 0.9 in 10 (README).
            config.method = Method::Segmentation;
            config.modalities = crate::synth::brain_tumour::ROLES
                .iter()
                .map(|r| r.to_string())
                .collect();
            config.model = ModelKind::Unet;
            config.input_size = DEFAULT_SEGMENTATION_EDGE;
            config.width = 8;
            config.epochs = 20;
            config.batch_size = 16;
            config.labeled_per_batch = 16;
            config.learning_rate = 3e-3;
            config.cosine_schedule = false;
            config.segmentation.slices_per_case = 16;
        }
        config
    }

    /// This preset's settings, keeping what is not a setting of the preset:
    /// the method, the modalities and teachers, fine-tuning and the seed.
    pub fn apply_to(self, current: &TrainConfig) -> TrainConfig {
        let mut config = TrainConfig {
            method: current.method,
            modalities: current.modalities.clone(),
            teachers: current.teachers.clone(),
            teacher_project: current.teacher_project.clone(),
            fine_tune_from: current.fine_tune_from.clone(),
            fine_tune_from_project: current.fine_tune_from_project.clone(),
            freeze_early_epochs: current.freeze_early_epochs,
            seed: current.seed,
            distillation: current.distillation,
            slices: current.slices.clone(),
            kdamm: current.kdamm,
            segmentation: current.segmentation,
            ..self.config()
        };
        config.fit_to_modality();
        config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configurations_saved_before_newer_settings_still_load() {
        let mut saved = serde_json::to_value(TrainConfig::default()).unwrap();
        for key in [
            "augmentation",
            "modalities",
            "teachers",
            "validation_fraction",
            "model",
            "loss",
            "xception",
            "fine_tune_from_project",
            "freeze_early_epochs",
            "crop",
            "record_inputs",
            "distillation",
            "teacher_project",
        ] {
            saved.as_object_mut().unwrap().remove(key);
        }
        let config: TrainConfig = serde_json::from_value(saved).unwrap();
        assert_eq!(config, TrainConfig::default());
        config.validate().unwrap();
    }

    #[test]
    fn thyroid_runs_start_with_the_hybrid_loss_and_limits_hold() {
        let thyroid = Preset::for_project("thyroid", DeviceKind::Cpu).config_for("thyroid");
        assert_eq!(thyroid.loss.focal_weight, 1.0);
        assert_eq!(thyroid.loss.focal_gamma, 2.0);
        let rop = Preset::for_project("rop", DeviceKind::Cpu).config_for("rop");
        assert_eq!(rop.loss.focal_weight, 0.0);
        let mut bad = thyroid.clone();
        bad.loss.focal_gamma = 11.0;
        assert!(bad.validate().unwrap_err().to_string().contains("focal γ"));
    }

    #[test]
    fn the_model_follows_the_input_and_sizes_fit_it() {
        let mut config = TrainConfig::fundus_on_cpu(); // resnet18, 64 px, width 8
        config.modalities = vec!["ct".into()];
        assert!(
            config.validate().is_err(),
            "a 2-D model cannot read a volume"
        );
        config.fit_to_modality();
        assert_eq!(
            (config.model, config.input_size, config.width),
            (ModelKind::I3d, DEFAULT_VOLUME_EDGE, 8)
        );
        config.validate().unwrap();
        // A volume size that fits is kept.
        config.input_size = 24;
        config.fit_to_modality();
        assert_eq!(config.input_size, 24);
        config.modalities = vec![TABULAR_MODALITY.into()];
        config.fit_to_modality();
        assert_eq!(config.model, ModelKind::Mlp);
        config.modalities = vec![IMAGE_MODALITY.into()];
        config.fit_to_modality();
        assert_eq!(config.model, ModelKind::Resnet18);
        config.validate().unwrap();
    }

    #[test]
    fn a_series_is_read_whole_in_3d_as_slices_or_fused_by_one_rule() {
        let ct = |method: Method, slices: Option<SliceConfig>, model: ModelKind| {
            TrainConfig {
                method,
                modalities: vec!["ct".into()],
                slices,
                model,
                ..TrainConfig::default()
            }
            .input_kind()
        };
        let some = Some(SliceConfig::default());
        let role = || "ct".to_string();
        assert_eq!(
            ct(Method::Supervised, None, ModelKind::I3d),
            InputKind::Volume(role())
        );
        assert_eq!(
            ct(Method::Supervised, some.clone(), ModelKind::Resnet18),
            InputKind::Slices(role())
        );
        assert_eq!(
            ct(Method::Supervised, some.clone(), ModelKind::I3d),
            InputKind::Volume(role()),
            "the 3-D network reads the whole volume"
        );
        assert_eq!(
            ct(Method::SlicePolicy, None, ModelKind::Resnet18),
            InputKind::Series(role())
        );
        let mut config = TrainConfig::default();
        let roles = vec!["ct".to_string()];
        assert!(config.read_as(FUSION_INPUT, &roles));
        assert_eq!(config.modalities, ["ct", TABULAR_MODALITY]);
        assert_eq!(config.input_kind(), InputKind::Fusion(role()));
        assert_eq!(config.image_channels(), 3);
        config.validate().unwrap();
        assert!(config.read_as(VOLUME_INPUT, &roles));
        assert_eq!(
            (config.input_kind(), config.model),
            (InputKind::Volume(role()), ModelKind::I3d)
        );
        assert!(!config.read_as(SLICES_INPUT, &[]));
        // Two case modalities, or policy slices without the policy run, are refused.
        config.modalities = vec!["ct".into(), "mri".into()];
        assert!(
            config
                .validate()
                .unwrap_err()
                .0
                .contains("cannot train together")
        );
        config.read_as(SLICES_INPUT, &roles);
        config.slices.as_mut().unwrap().selection = SliceSelection::Policy;
        assert!(config.validate().unwrap_err().0.contains("--policy RUN"));
    }

    #[test]
    fn segmentation_reads_distinct_sequences_with_a_unet() {
        let roles: Vec<String> = ["t1", "t1ce", "t2", "flair"].map(String::from).to_vec();
        let preset = Preset::SmallOnCpu.config_for("brain-tumour");
        assert_eq!(preset.method, Method::Segmentation);
        assert_eq!(preset.input_kind(), InputKind::Sequences(roles.clone()));
        assert_eq!((preset.model, preset.input_size), (ModelKind::Unet, 64));
        preset.validate().unwrap();
        let refused = |change: &dyn Fn(&mut TrainConfig)| {
            let mut config = preset.clone();
            change(&mut config);
            config.validate().unwrap_err().0
        };
        assert!(
            refused(&|c| c.modalities = vec!["t1".into(), "t1".into()]).contains("named twice")
        );
        assert!(refused(&|c| c.modalities = vec![TABULAR_MODALITY.into()]).contains("by role"));
        assert!(refused(&|c| c.model = ModelKind::Resnet18).contains("cannot segment"));
        assert!(refused(&|c| c.input_size = 60).contains("multiple of 8"));
        assert!(refused(&|c| c.segmentation.slices_per_case = 0).contains("slices per case"));
        // A classifier's settings switched to segmentation take a U-Net at 64³.
        let mut config = TrainConfig {
            method: Method::Segmentation,
            ..TrainConfig::default()
        };
        assert!(config.read_as(SEQUENCES_INPUT, &roles));
        assert_eq!(config.modalities, roles);
        assert_eq!((config.model, config.input_size), (ModelKind::Unet, 64));
        config.validate().unwrap();
        // Only segmentation methods read sequences.
        config.method = Method::Supervised;
        assert_ne!(config.input_kind().kind_name(), SEQUENCES_INPUT);
    }

    #[test]
    fn method_names_are_the_contract() {
        let names: Vec<&str> = Method::ALL.iter().map(|m| m.name()).collect();
        assert_eq!(
            names,
            [
                "supervised",
                "mean-teacher",
                "cross-modal-kd",
                "slice-policy",
                "multimodal",
                "kdamm",
                "segmentation",
                "protokd"
            ]
        );
        for method in Method::ALL {
            let json = serde_json::to_value(method).unwrap();
            assert_eq!(json, method.name());
            assert_eq!(Method::from_name(method.name()), Some(method));
        }
        assert_eq!(Method::from_name("mean_teacher"), None);
    }

    #[test]
    fn out_of_range_settings_are_refused_by_name_and_range() {
        let mut config = TrainConfig::default();
        config.augmentation.rotation_degrees = 200.0;
        let message = config.validate().unwrap_err().to_string();
        assert_eq!(
            message,
            "augmentation rotation (degrees) 200 must be between 0 and 180"
        );
        let config = TrainConfig {
            labeled_per_batch: 17,
            ..TrainConfig::default()
        };
        assert_eq!(
            config.validate().unwrap_err().to_string(),
            "labeled per batch 17 must be between 1 and 16"
        );
        let config = TrainConfig {
            validation_fraction: 0.6,
            ..TrainConfig::default()
        };
        assert!(
            config
                .validate()
                .unwrap_err()
                .to_string()
                .starts_with("validation fraction 0.6")
        );
    }

    #[test]
    fn presets_follow_the_schema_and_device_and_keep_the_method() {
        assert_eq!(
            Preset::for_project("rop", DeviceKind::Cpu),
            Preset::FundusOnCpu
        );
        assert_eq!(
            Preset::for_project("thyroid", DeviceKind::Cpu),
            Preset::SmallOnCpu
        );
        assert_eq!(
            Preset::for_project("rop", DeviceKind::Gpu),
            Preset::MethodReference
        );
        let current = TrainConfig {
            method: Method::Supervised,
            seed: 7,
            ..TrainConfig::default()
        };
        let applied = Preset::FundusOnCpu.apply_to(&current);
        assert_eq!(applied.method, Method::Supervised);
        assert_eq!(applied.seed, 7);
        assert_eq!(applied.augmentation.rotation_degrees, 180.0);
        for preset in Preset::ALL {
            preset.config().validate().unwrap();
        }
    }
}
