//! Where a run starts: the default settings (METHODS.md §1's reference),
//! the presets the panel offers, and the preset a project's schema and
//! device call for. Above the methods: the one place that names a method
//! to start from (mean teacher for images, segmentation for sequences).

use super::augment::Augmentation;
use super::config::{
    ChoiceRule, DEFAULT_SEGMENTATION_EDGE, DeviceKind, OptimizerKind, SliceConfig, TrainConfig,
    default_modalities, default_validation_fraction,
};
use super::losses::ClassificationLoss;
use super::methods::{self, mean_teacher};
use super::models::ModelKind;
use super::models::xception::XceptionOptions;
use super::spec::{Setting, SettingValue};
use crate::store::schema::Schema;

impl TrainConfig {
    /// The METHODS.md §1 reference settings (the defaults).
    pub fn method_reference() -> Self {
        Self::default()
    }

    /// Settings measured on the ROP demo on the CPU (docs/benchmarks.md): small enough to
    /// train on two cores in minutes (64 px, width 8), any rotation (fundus
    /// photographs have no preferred angle), no dropout (0.2 stalled both
    /// methods at this learning rate), and a consistency weight of 3.
    pub fn fundus_on_cpu() -> Self {
        TrainConfig {
            input_size: 64,
            width: 8,
            dropout: 0.0,
            epochs: 100,
            learning_rate: 3e-3,
            augmentation: Augmentation {
                rotation_degrees: 180.0,
                ..Augmentation::default()
            },
            ..Self::default()
        }
        .with(&mean_teacher::CONSISTENCY_WEIGHT, 3.0)
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

/// The choice rule of a new run (docs/benchmarks.md, *Choosing the reported epoch*:
/// compared on demo seeds not tuned on).
pub const DEFAULT_CHOICE: ChoiceRule = ChoiceRule::WindowedAuc;

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            method: mean_teacher::METHOD,
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
            choose_by: DEFAULT_CHOICE,
            cosine_schedule: true,
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
            slices: None,
            label_source: Default::default(),
            eye_pooling: Default::default(),
            settings: Default::default(),
        }
    }
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
                "Measured on the ROP demo (docs/benchmarks.md): 64 px, width 8, 100 epochs, any rotation, \
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
            (DeviceKind::Cpu, "rop" | "rop-exam") => Preset::FundusOnCpu,
            (DeviceKind::Cpu, _) => Preset::SmallOnCpu,
        }
    }

    /// The settings a new run on a project of `schema_name` starts from:
    /// this preset's, with the schema's method loss — thyroid's hybrid
    /// `CE + focal` (METHODS.md §2), plain cross-entropy otherwise.
    pub fn config_for(self, schema: &Schema) -> TrainConfig {
        let schema_name = schema.name.as_str();
        let mut config = self.config();
        if schema_name == "thyroid" {
            config.loss.focal_weight = 1.0;
        }
        if schema.grades_exams() {
            // Screening graders grade eyes, not photographs.
            config.label_source = super::eyes::LabelSource::Eyes;
        }
        if schema_name == "bone" {
            // A CT series is read as slices by a 2-D model (METHODS.md §4).
            config.slices = Some(SliceConfig::default());
        }
        if schema.targets_label_maps() {
            // METHODS.md §5: the four-sequence U-Net and the reference's
            // optimiser, Adam 1e-3 with weight decay 1e-5 (no decay
            // schedule), sized for two cores (64³, width 8). At 1e-3 this
            // small U-Net takes off around epoch 10 on the demo and the
            // teacher passes mean Dice 0.9 by epoch 14, so 30 epochs
            // (about 3 minutes a run; docs/benchmarks.md, *Methods at their defaults*).
            config.method = methods::segmentation::METHOD;
            config.modalities = schema.modalities.clone();
            config.model = ModelKind::Unet;
            config.input_size = DEFAULT_SEGMENTATION_EDGE;
            config.width = 8;
            config.epochs = 30;
            config.batch_size = 16;
            config.labeled_per_batch = 16;
            config.learning_rate = 1e-3;
            config.cosine_schedule = false;
            config.set(&super::segmentation::SLICES_PER_CASE, 16usize);
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
            slices: current.slices.clone(),
            label_source: current.label_source,
            eye_pooling: current.eye_pooling,
            ..self.config()
        };
        // The methods' settings stay as they were, but the preset's own
        // method (mean teacher, whose weights the presets were measured
        // with) takes the preset's values whole.
        let mut settings = current.settings.clone();
        let own = mean_teacher::CONSISTENCY_WEIGHT.section;
        settings.remove(own);
        if let Some(values) = config.settings.get(own) {
            settings.insert(own.to_string(), values.clone());
        }
        config.settings = settings;
        config.fit_to_modality();
        config
    }
}

impl TrainConfig {
    /// The settings of a model on a tabular record (the questionnaire
    /// student of METHODS.md §3, its no-KD baseline alike): a labeled pool
    /// of a few dozen records, which an MLP at an image preset's 3e-3,
    /// without dropout or decay, memorises within a few epochs (its CE
    /// near 0 by epoch 4 on the lung demo, and with it the KD term's
    /// weight `grad_ratio`). Measured on lung demo seed 12 (docs/benchmarks.md,
    /// *Cross-modal distillation*): at 1e-3, dropout 0.5, weight decay
    /// 1e-2 and 60 epochs the training CE stays near 0.45 and the test AUC
    /// rises and holds; a run takes seconds on two cores.
    pub fn use_record_defaults(&mut self) {
        self.learning_rate = 1e-3;
        self.dropout = 0.5;
        self.epochs = 60;
        self.set(&super::optimisation::WEIGHT_DECAY, 1e-2);
    }

    /// This configuration with `setting` set to `value`.
    pub fn with(mut self, setting: &Setting, value: impl Into<SettingValue>) -> Self {
        self.set(setting, value);
        self
    }
}

/// The method a run falls back to when its method cannot read its input:
/// `None` when it can, else the first registered method that reads it.
pub fn method_for_input(config: &TrainConfig) -> Option<super::spec::Method> {
    let kind = config.input_kind().kind_name();
    if config.method.spec().modalities.contains(&kind) {
        return None;
    }
    methods::all()
        .into_iter()
        .map(|d| d.method)
        .find(|m| m.spec().modalities.contains(&kind))
}

/// What a project offers a run to read: its cases' modality roles (none
/// for a project of 2-D items).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProjectInputs {
    /// The project holds cases (volumes, records), not 2-D items.
    pub has_cases: bool,
    pub roles: Vec<String>,
    /// Its cases carry a tabular record.
    pub has_record: bool,
    /// Painted label maps are what it learns (segmentation).
    pub label_maps: bool,
}

impl ProjectInputs {
    pub fn of(schema: &Schema) -> Self {
        Self {
            has_cases: schema.has_cases(),
            roles: schema.modalities.clone(),
            has_record: !schema.tabular.is_empty(),
            label_maps: schema.targets_label_maps(),
        }
    }

    /// The kinds of input (a method's [`super::spec::MethodSpec::modalities`]
    /// entries) this project can feed a run.
    pub fn kinds(&self) -> Vec<&'static str> {
        use super::config::{
            FUSION_INPUT, IMAGE_MODALITY, SEQUENCES_INPUT, SERIES_INPUT, SLICES_INPUT,
            TABULAR_MODALITY, VOLUME_INPUT,
        };
        if !self.has_cases {
            return vec![IMAGE_MODALITY];
        }
        let volumes = !self.roles.is_empty();
        [
            (TABULAR_MODALITY, self.has_record),
            (VOLUME_INPUT, volumes),
            (SLICES_INPUT, volumes),
            (SERIES_INPUT, volumes),
            (FUSION_INPUT, volumes && self.has_record),
            (SEQUENCES_INPUT, volumes && self.label_maps),
        ]
        .into_iter()
        .filter_map(|(kind, offered)| offered.then_some(kind))
        .collect()
    }

    /// What the project holds, for a sentence saying why a method is not offered.
    fn describe(&self) -> String {
        if !self.has_cases {
            return "this project holds 2-D images".into();
        }
        let roles = if self.roles.is_empty() {
            "no volumes".to_string()
        } else {
            self.roles.join(", ")
        };
        let record = if self.has_record {
            "a record"
        } else {
            "no record"
        };
        let maps = if self.label_maps {
            "label maps as target"
        } else {
            "a class as target"
        };
        format!("this project's cases have {roles}, {record} and {maps}")
    }
}

/// An input kind for people (the training panel's reasons).
fn kind_title(kind: &str) -> &'static str {
    use super::config::{
        FUSION_INPUT, IMAGE_MODALITY, SEQUENCES_INPUT, SERIES_INPUT, SLICES_INPUT,
        TABULAR_MODALITY, VOLUME_INPUT,
    };
    match kind {
        IMAGE_MODALITY => "2-D images",
        TABULAR_MODALITY => "a case's record",
        VOLUME_INPUT => "a case's volume",
        SLICES_INPUT => "a case's slices",
        SERIES_INPUT => "a case's whole series",
        FUSION_INPUT => "a case's slices with its record",
        SEQUENCES_INPUT => "a case's sequences, learning painted label maps",
        _ => "an input no project offers",
    }
}

/// The one rule of which methods a project can train: those that read a
/// kind of input the project has (decided from each method's declaration,
/// so the panel names no method). `Err` says why not, for the panel to
/// show beside the greyed method.
pub fn method_offered(
    spec: &super::spec::MethodSpec,
    project: &ProjectInputs,
) -> Result<(), String> {
    let kinds = project.kinds();
    if spec.modalities.iter().any(|k| kinds.contains(k)) {
        return Ok(());
    }
    let reads: Vec<&str> = spec.modalities.iter().map(|k| kind_title(k)).collect();
    Err(format!(
        "{} reads {}; {}",
        spec.title,
        reads.join(" or "),
        project.describe()
    ))
}

/// The one rule for choosing a method (the panel's method buttons, `loupe
/// train --method`): the run keeps its input when the method reads it,
/// else reads the first kind the method reads that the project has (KDAMM:
/// slices and record; the slice policy: the series; segmentation: every
/// sequence).
pub fn switch_method(
    config: &mut TrainConfig,
    method: super::spec::Method,
    project: &ProjectInputs,
) {
    config.method = method;
    let reads = method.spec().modalities;
    if reads.contains(&config.input_kind().kind_name()) {
        return;
    }
    let fits = |kind: &&&str| {
        (**kind == super::config::IMAGE_MODALITY) != project.has_cases
            && config.clone().read_as(kind, &project.roles)
    };
    if let Some(kind) = reads.iter().find(fits) {
        config.read_as(kind, &project.roles);
    }
}

/// A training configuration from a user's JSON file (fields as in a run's
/// `config.json`): a bounded regular file, every key a known setting (a
/// misspelled key would silently fall back to its default).
pub fn read_config_file(path: &std::path::Path) -> Result<TrainConfig, super::error::TrainError> {
    let invalid = |e: String| super::error::TrainError::Data(e);
    let text = crate::user_file::read_text(path, crate::user_file::MAX_JSON_BYTES, "JSON file")
        .map_err(|e| invalid(e.to_string()))?;
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        invalid(format!(
            "{} is not a training configuration: {e}",
            path.display()
        ))
    })?;
    if let Some((key, nearest)) = unknown_config_keys(&json).into_iter().next() {
        let hint = nearest.map_or(String::new(), |k| format!(" (did you mean {k:?}?)"));
        return Err(invalid(format!(
            "{}: no setting is called {key:?}{hint}",
            path.display()
        )));
    }
    serde_json::from_value(json).map_err(|e| {
        invalid(format!(
            "{} is not a training configuration: {e}",
            path.display()
        ))
    })
}

/// Keys of a configuration file that no setting reads, each with the
/// known key nearest to it (a misspelled `lerning_rate` would otherwise
/// fall back to its default unnoticed): the top level and the nested
/// settings objects (`augmentation`, `loss`, …) are compared with what a
/// configuration writes; the top-level sections older configurations
/// kept method settings in (the declarations' `legacy` pointers) are
/// known too. `settings` is left to the declarations' own checks.
pub fn unknown_config_keys(json: &serde_json::Value) -> Vec<(String, Option<String>)> {
    let Ok(known) = serde_json::to_value(TrainConfig::default()) else {
        return Vec::new();
    };
    let mut legacy: Vec<String> = methods::all()
        .iter()
        .flat_map(|d| d.method.spec().settings.iter())
        .filter_map(|s| s.legacy.split('/').nth(1).map(str::to_string))
        .collect();
    legacy.push("slices".into()); // `null` in the default
    let mut unknown = Vec::new();
    unknown_in(json, &known, "", &legacy, &mut unknown);
    unknown
}

/// [`unknown_config_keys`] below `prefix`.
fn unknown_in(
    given: &serde_json::Value,
    known: &serde_json::Value,
    prefix: &str,
    also_known: &[String],
    out: &mut Vec<(String, Option<String>)>,
) {
    let (Some(given), Some(known)) = (given.as_object(), known.as_object()) else {
        return;
    };
    for (key, value) in given {
        let path = format!("{prefix}{key}");
        match known.get(key) {
            Some(inner) if key != "settings" => {
                unknown_in(value, inner, &format!("{path}."), &[], out)
            }
            Some(_) => {}
            None if also_known.contains(key) => {}
            None => {
                let nearest = known
                    .keys()
                    .map(|k| (edit_distance(k, key), k))
                    .filter(|(d, _)| *d <= 3)
                    .min()
                    .map(|(_, k)| format!("{prefix}{k}"));
                out.push((path, nearest));
            }
        }
    }
}

/// Levenshtein distance between two short names.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The methods offered on a project of `schema`, by name.
    fn offered(schema: &Schema) -> Vec<&'static str> {
        let project = ProjectInputs::of(schema);
        methods::all()
            .into_iter()
            .map(|d| d.method.spec())
            .filter(|spec| method_offered(spec, &project).is_ok())
            .map(|spec| spec.name)
            .collect()
    }

    #[test]
    fn a_project_is_offered_the_methods_its_data_can_feed() {
        assert_eq!(offered(&Schema::rop()), ["supervised", "mean-teacher"]);
        assert_eq!(offered(&Schema::thyroid()), ["supervised", "mean-teacher"]);
        let lung = offered(&crate::demo::lung_schema());
        for name in [
            "supervised",
            "mean-teacher",
            "kdamm",
            "multimodal",
            "cross-modal-kd",
            "slice-policy",
        ] {
            assert!(lung.contains(&name), "{name} on the lung cases: {lung:?}");
        }
        for name in ["protokd", "segmentation"] {
            assert!(!lung.contains(&name), "{name} needs label maps: {lung:?}");
        }
        let brain = offered(&crate::demo::brain_tumour_schema());
        assert!(
            brain.contains(&"segmentation") && brain.contains(&"protokd"),
            "{brain:?}"
        );
        assert!(!brain.contains(&"kdamm"), "no record: {brain:?}");
        // The reason names what the method reads and what the project has.
        let kdamm = methods::all()
            .into_iter()
            .map(|d| d.method.spec())
            .find(|s| s.name == "kdamm")
            .unwrap();
        let why = method_offered(kdamm, &ProjectInputs::of(&Schema::rop())).unwrap_err();
        assert!(
            why.contains("slices with its record") && why.contains("2-D images"),
            "{why}"
        );
    }

    #[test]
    fn unknown_configuration_keys_are_named_with_the_nearest_known_one() {
        let mut json = serde_json::to_value(TrainConfig::default()).unwrap();
        assert!(unknown_config_keys(&json).is_empty());
        // An older configuration's method section is still known.
        json["mean_teacher"] = serde_json::json!({ "ema_decay": 0.9 });
        assert!(unknown_config_keys(&json).is_empty());
        json["lerning_rate"] = serde_json::json!(0.1);
        json["augmentation"]["rotation_degree"] = serde_json::json!(5.0);
        json["zzz_qqq_xxx"] = serde_json::json!(1);
        assert_eq!(
            unknown_config_keys(&json),
            vec![
                (
                    "augmentation.rotation_degree".to_string(),
                    Some("augmentation.rotation_degrees".to_string())
                ),
                (
                    "lerning_rate".to_string(),
                    Some("learning_rate".to_string())
                ),
                ("zzz_qqq_xxx".to_string(), None),
            ]
        );
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
