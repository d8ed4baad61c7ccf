//! A run's configuration (saved as its `config.json`), the limits every
//! common setting must respect, and the rules that tie a run's input to its
//! model. A method's own settings are declared by the method
//! ([`super::spec::Setting`]) and stored here by section; their limits come
//! from the declarations. The presets and defaults are in `presets`.
//!
//! Below the methods: it knows a method only through its declaration
//! ([`Method::spec`]), never by name.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::ops::RangeInclusive;

use serde::{Deserialize, Serialize};

use super::augment::Augmentation;
use super::losses::ClassificationLoss;
use super::models::ModelKind;
use super::models::xception::XceptionOptions;
pub use super::spec::Method;
use super::spec::{Setting, SettingValue, SettingValues};

/// A setting that cannot train, named.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    Adam,
    Sgd,
}

/// Epochs a [`ChoiceRule::WindowedAuc`] choice averages over.
pub const CHOICE_WINDOW_EPOCHS: usize = 5;

/// How a run chooses the epoch it reports, on its validation split (a run
/// without one reports its last epoch).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChoiceRule {
    /// The epoch of the highest validation accuracy (segmentation: mean
    /// Dice), ties to the lower loss — what every run before this setting
    /// used. On a split of a few images accuracy moves in steps of 1/n,
    /// so one lucky epoch wins.
    #[default]
    Accuracy,
    /// The last epoch of the window of [`CHOICE_WINDOW_EPOCHS`]
    /// epochs with the highest mean validation AUC (segmentation: mean
    /// Dice), ties to the lower mean loss: less quantised and less noisy.
    WindowedAuc,
    /// The last epoch, whatever the split says.
    LastEpoch,
}

impl ChoiceRule {
    pub const ALL: [ChoiceRule; 3] = [
        ChoiceRule::Accuracy,
        ChoiceRule::WindowedAuc,
        ChoiceRule::LastEpoch,
    ];

    /// The name in `config.json` and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            ChoiceRule::Accuracy => "accuracy",
            ChoiceRule::WindowedAuc => "windowed-auc",
            ChoiceRule::LastEpoch => "last-epoch",
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

    /// The one rule of which model reads which input: the models that can
    /// read this kind, the one a run falls back to first.
    pub fn models(&self) -> &'static [ModelKind] {
        match self {
            InputKind::Image => &ModelKind::IMAGE,
            InputKind::Record => &[ModelKind::Mlp],
            InputKind::Volume(_) => &[ModelKind::I3d],
            InputKind::Slices(_) | InputKind::Series(_) | InputKind::Fusion(_) => {
                &[ModelKind::Resnet18]
            }
            InputKind::Sequences(_) => &ModelKind::SEGMENTATION,
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
}

impl Default for SliceConfig {
    fn default() -> Self {
        Self {
            selection: SliceSelection::Middle,
            count: 3,
            policy: None,
            depth: 32,
        }
    }
}

pub(crate) fn default_modalities() -> Vec<String> {
    vec![IMAGE_MODALITY.to_string()]
}

pub(crate) fn default_validation_fraction() -> f64 {
    0.2
}

/// Everything a run depends on; saved as the run's `config.json`. Keys added
/// after the first release load with `#[serde(default)]`, and settings kept
/// elsewhere before methods declared them are read from where they were
/// (each declaration's `legacy` pointer), so every earlier run's
/// configuration still opens. (`remote = "Self"`: the derived code is the
/// inner step of the `Deserialize` impl below, which adds that reading.)
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(remote = "Self")]
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
    /// How the reported epoch is chosen (runs before this setting: by accuracy).
    #[serde(default)]
    pub choose_by: ChoiceRule,
    /// Cosine decay of the learning rate over the run.
    pub cosine_schedule: bool,
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
    /// How a 2-D model reads a case's series (`None`: a volume is read
    /// whole by the 3-D network).
    #[serde(default)]
    pub slices: Option<SliceConfig>,
    /// Image labels, or the eye's consensus stage on its gradable
    /// photographs (screening projects; runs before this setting: images).
    #[serde(default)]
    pub label_source: super::eyes::LabelSource,
    /// How an eye's photographs' referral probabilities are pooled (read
    /// only under eye labels).
    #[serde(default)]
    pub eye_pooling: super::eyes::EyePooling,
    /// The methods' declared settings ([`super::spec::Setting`]) by
    /// section (the declaring method, or the family sharing them), then by
    /// name. A setting not stored here has its declared default.
    #[serde(default)]
    pub settings: BTreeMap<String, SettingValues>,
}

/// Written as the derived fields, plus each of the method's settings at the
/// place configurations kept it before methods declared their settings
/// (its declaration's `legacy` pointer: `mean_teacher.consistency_weight`,
/// `distillation.alpha`, …), so scripts that read those names keep
/// working. Read back, `settings` wins; the copies are only written.
impl Serialize for TrainConfig {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::Error;
        let mut value = TrainConfig::serialize(self, serde_json::value::Serializer)
            .map_err(S::Error::custom)?;
        for setting in self.method.spec().settings {
            write_at_pointer(&mut value, setting.legacy, &self.value(setting));
        }
        value.serialize(serializer)
    }
}

/// Sets `value` at JSON `pointer` (`/a/b`), creating objects on the way; a
/// parent that is `null` or not an object is left alone (`slices: null`
/// means "no slices", not an empty slice setting).
fn write_at_pointer(json: &mut serde_json::Value, pointer: &str, value: &SettingValue) {
    let Some((parents, key)) = pointer.strip_prefix('/').and_then(|p| p.rsplit_once('/')) else {
        return;
    };
    let mut node = json;
    for part in parents.split('/') {
        let Some(object) = node.as_object_mut() else {
            return;
        };
        node = object
            .entry(part.to_string())
            .or_insert_with(|| serde_json::Value::Object(Default::default()));
    }
    if let Some(object) = node.as_object_mut()
        && let Ok(v) = serde_json::to_value(value)
    {
        object.insert(key.to_string(), v);
    }
}

impl<'de> Deserialize<'de> for TrainConfig {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let value = serde_json::Value::deserialize(deserializer)?;
        let mut config = TrainConfig::deserialize(&value).map_err(D::Error::custom)?;
        config.read_legacy_settings(&value);
        Ok(config)
    }
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
    pub const ROTATION_DEGREES: RangeInclusive<f64> = 0.0..=180.0;
    pub const TRANSLATION: RangeInclusive<f64> = 0.0..=0.5;
    pub const VALIDATION_FRACTION: RangeInclusive<f64> = 0.0..=0.5;
    pub const FOCAL_WEIGHT: RangeInclusive<f64> = 0.0..=10.0;
    pub const FOCAL_GAMMA: RangeInclusive<f64> = 0.0..=10.0;
    pub const FREEZE_EARLY_EPOCHS: RangeInclusive<usize> = 0..=10_000;
    /// A volume's edge in voxels: whole 3-D volumes at most 96³ on a CPU.
    pub const VOLUME_EDGE: RangeInclusive<usize> = 8..=96;
    /// The training grid's edge when the 3-D U-Net trains on patches (each
    /// patch at most 96³): larger, as prediction slides the patch over it;
    /// bounded because every case's sequences are held in memory on it
    /// (four sequences at 160³: 66 MB a case).
    pub const PATCHED_VOLUME_EDGE: RangeInclusive<usize> = 8..=160;
    /// k, the slices a 2-D model reads from a series.
    pub const SLICE_COUNT: RangeInclusive<usize> = 1..=16;
    /// The depth a series is resampled to for a slice policy.
    pub const SERIES_DEPTH: RangeInclusive<usize> = 2..=256;
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
        self.xception
            .with_depth(self.xception.depth())
            .map_err(|e| ConfigError(format!("xception: {e}")))?;
        if !XceptionOptions::DOWN_DILATIONS.contains(&self.xception.down_dilation) {
            return Err(ConfigError(format!(
                "xception: the downsampling's dilation {} must be 1 or 2",
                self.xception.down_dilation
            )));
        }
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
        check(
            "focal weight",
            self.loss.focal_weight,
            &limits::FOCAL_WEIGHT,
        )?;
        check("focal γ", self.loss.focal_gamma, &limits::FOCAL_GAMMA)?;
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
        self.validate_settings()?;
        if let Some(slices) = &self.slices {
            check("slice count (k)", slices.count, &limits::SLICE_COUNT)?;
            check("series depth", slices.depth, &limits::SERIES_DEPTH)?;
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
        let input = self.input_kind();
        if let InputKind::Volume(_) = input {
            check(
                "volume edge (input size)",
                self.input_size,
                &limits::VOLUME_EDGE,
            )?;
        }
        if !input.models().contains(&self.model) {
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
            (_, Some(role)) if self.method.spec().modalities == [SERIES_INPUT] => {
                InputKind::Series(role)
            }
            (_, Some(role)) if self.slices.is_some() && self.model != ModelKind::I3d => {
                InputKind::Slices(role)
            }
            (_, Some(role)) => InputKind::Volume(role),
            (_, None) => InputKind::Record,
        }
    }

    /// Makes the run read the input kind `kind` (a method's
    /// [`super::spec::MethodSpec::modalities`] entry) from a project
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
        let input = self.input_kind();
        let fits = input.models().contains(&self.model);
        match input {
            InputKind::Record if !fits => {
                // An image preset's rate, epochs and (absent) regularisation
                // make the MLP memorise a few dozen records in epochs.
                self.model = input.models()[0];
                self.use_record_defaults();
            }
            InputKind::Image if !fits => {
                self.model = input.models()[0];
            }
            InputKind::Volume(_) => {
                if !fits {
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
            InputKind::Sequences(_) => {
                if !fits {
                    // A classifier's image size and width say nothing of a U-Net's.
                    self.model = ModelKind::Unet;
                    self.input_size = DEFAULT_SEGMENTATION_EDGE;
                    self.width = self.width.min(8);
                }
                if self.model == ModelKind::Unet3d
                    && !self.unet3d_grid_edges().contains(&self.input_size)
                {
                    self.input_size = DEFAULT_VOLUME_EDGE;
                }
            }
            InputKind::Slices(_) | InputKind::Series(_) | InputKind::Fusion(_) => {
                if !fits {
                    self.model = input.models()[0];
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
        if !InputKind::Sequences(Vec::new())
            .models()
            .contains(&self.model)
        {
            return Err(ConfigError(format!(
                "model {} cannot segment: segmentation trains unet (2-D, on axial slices) \
                 or unet3d",
                self.model.name()
            )));
        }
        if self.model == ModelKind::Unet3d {
            let edges = self.unet3d_grid_edges();
            if !edges.contains(&self.input_size) {
                let hint = match self.patch_edge() {
                    Some(_) => "on patches".to_string(),
                    None => format!(
                        "on whole volumes (--patch-edge P trains on patches, on grids up to {})",
                        limits::PATCHED_VOLUME_EDGE.end()
                    ),
                };
                return Err(ConfigError(format!(
                    "volume edge (input size) {} must be between {} and {} for a 3-D U-Net {hint}",
                    self.input_size,
                    edges.start(),
                    edges.end()
                )));
            }
        }
        let multiple = 1usize << super::models::unet::DOWNSAMPLINGS;
        let edges = [
            ("input size", Some(self.input_size)),
            ("--patch-edge", self.patch_edge()),
        ];
        for (name, edge) in edges {
            if let Some(edge) = edge
                && !edge.is_multiple_of(multiple)
            {
                return Err(ConfigError(format!(
                    "{name} {edge} must be a multiple of {multiple}: the U-Net halves it {} times",
                    super::models::unet::DOWNSAMPLINGS
                )));
            }
        }
        Ok(())
    }

    /// What one training sample of the model is, for a pace in samples per
    /// second: a slice (2-D U-Net), a volume or a patch (3-D networks), a
    /// record (the MLP), else an image.
    pub fn sample_unit(&self) -> &'static str {
        match self.model {
            ModelKind::Unet => "slices",
            ModelKind::Unet3d if self.patch_edge().is_some() => "patches",
            ModelKind::Unet3d | ModelKind::I3d => "volumes",
            ModelKind::Mlp => "records",
            _ => "images",
        }
    }

    /// The 3-D U-Net's training patch edge, or `None` when it trains whole
    /// volumes (or the model is not the 3-D U-Net).
    pub fn patch_edge(&self) -> Option<usize> {
        use super::models::unet::{PATCH_EDGE, patch_of};
        (self.model == ModelKind::Unet3d)
            .then(|| patch_of(self.input_size, self.count(&PATCH_EDGE)))
            .flatten()
    }

    /// The grid edges a 3-D U-Net may train on: larger on patches.
    fn unet3d_grid_edges(&self) -> RangeInclusive<usize> {
        match self.patch_edge() {
            Some(_) => limits::PATCHED_VOLUME_EDGE,
            None => limits::VOLUME_EDGE,
        }
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
}

/// A method's declared settings, stored by section ([`Setting::section`]).
impl TrainConfig {
    /// `setting`'s value: stored, else its declared default.
    pub fn value(&self, setting: &Setting) -> SettingValue {
        self.settings
            .get(setting.section)
            .and_then(|values| values.get(setting.name))
            .and_then(|v| setting.check(*v).ok())
            .unwrap_or_else(|| setting.default_value())
    }

    pub fn number(&self, setting: &Setting) -> f64 {
        self.value(setting).as_f64()
    }

    pub fn count(&self, setting: &Setting) -> usize {
        self.value(setting).as_f64() as usize
    }

    pub fn switch(&self, setting: &Setting) -> bool {
        self.value(setting).as_bool()
    }

    /// Stores `value` for `setting` (checked by [`TrainConfig::validate`]).
    pub fn set(&mut self, setting: &Setting, value: impl Into<SettingValue>) {
        self.settings
            .entry(setting.section.to_string())
            .or_default()
            .insert(setting.name.to_string(), value.into());
    }

    /// Stores the value typed for the run's method's setting `name`
    /// (`--set NAME=VALUE`), parsed and checked by its declaration.
    pub fn set_named(&mut self, name: &str, text: &str) -> Result<(), ConfigError> {
        let spec = self.method.spec();
        let setting = spec.setting(name).ok_or_else(|| {
            let names: Vec<&str> = spec.settings.iter().map(|s| s.name).collect();
            ConfigError(format!(
                "method {} has no setting {name:?} ({})",
                spec.name,
                match names.as_slice() {
                    [] => "it has no settings".to_string(),
                    names => format!("its settings: {}", names.join(", ")),
                }
            ))
        })?;
        let value = setting.parse(text).map_err(ConfigError)?;
        self.set(setting, value);
        Ok(())
    }

    /// The run's method's settings, each with its value (defaults
    /// included): what a run's `config.json` records, so a later change of
    /// a default never changes what an earlier run meant.
    pub fn with_method_settings_only(&self) -> TrainConfig {
        let mut settings: BTreeMap<String, SettingValues> = BTreeMap::new();
        for setting in self.method.spec().settings {
            settings
                .entry(setting.section.to_string())
                .or_default()
                .insert(setting.name.to_string(), self.value(setting));
        }
        TrainConfig {
            settings,
            ..self.clone()
        }
    }

    /// Each declared setting of the run's method in its range; a stored
    /// name the method does not declare, in a section it reads, refused.
    fn validate_settings(&self) -> Result<(), ConfigError> {
        let spec = self.method.spec();
        for setting in spec.settings {
            if let Some(v) = self
                .settings
                .get(setting.section)
                .and_then(|values| values.get(setting.name))
            {
                setting.check(*v).map_err(ConfigError)?;
            }
        }
        for section in spec.settings.iter().map(|s| s.section) {
            for name in self
                .settings
                .get(section)
                .into_iter()
                .flat_map(|v| v.keys())
            {
                if !spec
                    .settings
                    .iter()
                    .any(|s| s.section == section && s.name == *name)
                {
                    return Err(ConfigError(format!(
                        "setting {section}.{name} is not a setting of method {}",
                        spec.name
                    )));
                }
            }
        }
        Ok(())
    }

    /// Settings of the run's method that a configuration written before
    /// methods declared them kept elsewhere (each declaration's `legacy`
    /// pointer into that JSON), where this one stores none.
    fn read_legacy_settings(&mut self, json: &serde_json::Value) {
        for setting in self.method.spec().settings {
            let stored = self
                .settings
                .get(setting.section)
                .is_some_and(|v| v.contains_key(setting.name));
            if stored || setting.legacy.is_empty() {
                continue;
            }
            let old = json
                .pointer(setting.legacy)
                .and_then(|v| serde_json::from_value::<SettingValue>(v.clone()).ok())
                .and_then(|v| setting.check(v).ok());
            if let Some(value) = old {
                self.set(setting, value);
            }
        }
    }
}

/// Where a run will train, as far as presets care.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceKind {
    Cpu,
    Gpu,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::schema::Schema;
    use crate::train::methods::{segmentation, slice_policy, supervised};
    use crate::train::presets::Preset;

    /// A built-in schema, or a demo's.
    fn schema(name: &str) -> Schema {
        match name {
            "brain-tumour" => crate::demo::brain_tumour_schema(),
            "bone" => crate::demo::bone_schema(),
            name => Schema::builtin(name).unwrap(),
        }
    }

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
            "settings",
        ] {
            saved.as_object_mut().unwrap().remove(key);
        }
        let config: TrainConfig = serde_json::from_value(saved).unwrap();
        // The method's settings come back from their old places, the same values.
        assert_eq!(
            config.with_method_settings_only(),
            TrainConfig::default().with_method_settings_only()
        );
        config.validate().unwrap();
    }

    #[test]
    fn thyroid_runs_start_with_the_hybrid_loss_and_limits_hold() {
        let thyroid =
            Preset::for_project("thyroid", DeviceKind::Cpu).config_for(&schema("thyroid"));
        assert_eq!(thyroid.loss.focal_weight, 1.0);
        assert_eq!(thyroid.loss.focal_gamma, 2.0);
        let rop = Preset::for_project("rop", DeviceKind::Cpu).config_for(&schema("rop"));
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
        // A record's MLP gets the record defaults, not the image preset's.
        assert_eq!(
            (config.learning_rate, config.dropout, config.epochs),
            (1e-3, 0.5, 60)
        );
        assert_eq!(
            config.settings["classification"]["weight_decay"],
            SettingValue::Number(1e-2)
        );
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
            ct(supervised::METHOD, None, ModelKind::I3d),
            InputKind::Volume(role())
        );
        assert_eq!(
            ct(supervised::METHOD, some.clone(), ModelKind::Resnet18),
            InputKind::Slices(role())
        );
        assert_eq!(
            ct(supervised::METHOD, some.clone(), ModelKind::I3d),
            InputKind::Volume(role()),
            "the 3-D network reads the whole volume"
        );
        assert_eq!(
            ct(slice_policy::METHOD, None, ModelKind::Resnet18),
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
        let preset = Preset::SmallOnCpu.config_for(&schema("brain-tumour"));
        assert_eq!(preset.method, segmentation::METHOD);
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
        assert!(
            refused(&|c| c.set(&crate::train::segmentation::SLICES_PER_CASE, 0usize))
                .contains("Slices per case and epoch 0 must be between 1 and 512")
        );
        // The 3-D U-Net: whole volumes up to 96³; on patches (a multiple
        // of 8 below the grid's edge) a grid up to 160³.
        use crate::train::segmentation::PATCH_EDGE;
        let unet3d = |edge: usize, patch: usize| {
            let mut config = preset.clone();
            config.model = ModelKind::Unet3d;
            config.input_size = edge;
            config.set(&PATCH_EDGE, patch);
            config
        };
        assert_eq!(unet3d(64, 0).patch_edge(), None);
        assert_eq!(unet3d(64, 64).patch_edge(), None);
        assert_eq!(unet3d(64, 32).patch_edge(), Some(32));
        // A pace counts what the model trains on.
        assert_eq!(preset.sample_unit(), "slices");
        assert_eq!(unet3d(64, 0).sample_unit(), "volumes");
        assert_eq!(unet3d(64, 32).sample_unit(), "patches");
        assert_eq!(TrainConfig::default().sample_unit(), "images");
        assert_eq!(
            preset.clone().patch_edge(),
            None,
            "the 2-D U-Net has no patch"
        );
        unet3d(96, 0).validate().unwrap();
        unet3d(160, 48).validate().unwrap();
        let message = unet3d(128, 0).validate().unwrap_err().0;
        assert!(
            message.contains("128 must be between 8 and 96"),
            "{message}"
        );
        assert!(message.contains("--patch-edge"), "{message}");
        let message = unet3d(168, 32).validate().unwrap_err().0;
        assert!(
            message.contains("168 must be between 8 and 160"),
            "{message}"
        );
        let message = unet3d(64, 20).validate().unwrap_err().0;
        assert!(
            message.contains("--patch-edge 20 must be a multiple of 8"),
            "{message}"
        );
        let message = unet3d(160, 104).validate().unwrap_err().0;
        assert!(message.contains("between 0 and 96"), "{message}");
        // A classifier's settings switched to segmentation take a U-Net at 64³.
        let mut config = TrainConfig {
            method: segmentation::METHOD,
            ..TrainConfig::default()
        };
        assert!(config.read_as(SEQUENCES_INPUT, &roles));
        assert_eq!(config.modalities, roles);
        assert_eq!((config.model, config.input_size), (ModelKind::Unet, 64));
        config.validate().unwrap();
        // Only segmentation methods read sequences.
        config.method = supervised::METHOD;
        assert_ne!(config.input_kind().kind_name(), SEQUENCES_INPUT);
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
            method: supervised::METHOD,
            seed: 7,
            ..TrainConfig::default()
        };
        let applied = Preset::FundusOnCpu.apply_to(&current);
        assert_eq!(applied.method, supervised::METHOD);
        assert_eq!(applied.seed, 7);
        assert_eq!(applied.augmentation.rotation_degrees, 180.0);
        for preset in Preset::ALL {
            preset.config().validate().unwrap();
        }
    }
}
