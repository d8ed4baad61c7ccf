//! Label schemas: which fields an item is labeled with, their values and
//! hotkeys, and which field is the training target.

use serde::{Deserialize, Serialize};

/// One labeled field, e.g. ROP `stage`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Field {
    pub name: String,
    pub values: Vec<String>,
    /// Values are ordered (stages): agreement uses quadratic weights.
    #[serde(default)]
    pub ordinal: bool,
    /// One key per value; defaults to 1–9.
    #[serde(default)]
    pub hotkeys: Vec<char>,
}

impl Field {
    /// The hotkey this field declares for value `index`, if any.
    pub fn own_hotkey(&self, index: usize) -> Option<char> {
        self.hotkeys.get(index).copied()
    }

    pub fn value_index(&self, value: &str) -> Option<usize> {
        self.values
            .iter()
            .position(|v| v.eq_ignore_ascii_case(value))
    }
}

/// What a project labels.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Schema {
    pub name: String,
    pub fields: Vec<Field>,
    /// The field models are trained on; setting it moves an item to the labeled pool.
    pub target: String,
    /// The structures painted in label maps; BraTS-style defaults when empty
    /// (the built-in photo schemas name their own).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paint_labels: Vec<PaintLabel>,
    /// Crop each image to its largest bright component before training and
    /// prediction (the thyroid method's preprocessing); off when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crop: Option<CropSetting>,
    /// The modality roles of a case (`ct`, `t1`, `flair`, …): a project
    /// whose schema names roles holds cases, each with a file per role
    /// (any may be missing) and a tabular record.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub modalities: Vec<String>,
    /// The columns of a case's tabular record (questionnaire, lab values).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tabular: Vec<TabularColumn>,
    /// The project learns from painted label maps (segmentation, the
    /// brain-tumour kind): saving a map labels its case. Elsewhere a map
    /// is an annotation beside the class label and leaves the pool alone.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub target_is_label_map: bool,
}

/// What a tabular column holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ColumnType {
    Number,
    /// One of the column's `values`.
    Category,
    /// `yes` or `no`.
    YesNo,
}

/// One column of a case's tabular record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TabularColumn {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: ColumnType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// A category column's values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    /// An empty cell is accepted (unknown); otherwise it is refused.
    #[serde(default)]
    pub missing_allowed: bool,
}

impl TabularColumn {
    pub fn number(name: &str, unit: &str, min: f64, max: f64) -> Self {
        Self {
            name: name.into(),
            kind: ColumnType::Number,
            unit: (!unit.is_empty()).then(|| unit.into()),
            min: Some(min),
            max: Some(max),
            values: Vec::new(),
            missing_allowed: false,
        }
    }

    pub fn category(name: &str, values: &[&str]) -> Self {
        Self {
            name: name.into(),
            kind: ColumnType::Category,
            unit: None,
            min: None,
            max: None,
            values: values.iter().map(|v| v.to_string()).collect(),
            missing_allowed: false,
        }
    }

    pub fn yes_no(name: &str) -> Self {
        Self {
            name: name.into(),
            kind: ColumnType::YesNo,
            unit: None,
            min: None,
            max: None,
            values: Vec::new(),
            missing_allowed: false,
        }
    }

    /// The one rule for a cell of this column: its stored spelling
    /// (numbers as parsed, categories as the schema spells them, `yes` /
    /// `no`), `None` for an empty cell where missing is allowed, or why the
    /// cell is refused.
    pub fn canonical(&self, raw: &str) -> Result<Option<String>, String> {
        let text = raw.trim();
        if text.is_empty() {
            return if self.missing_allowed {
                Ok(None)
            } else {
                Err(format!(
                    "{} is required (the schema allows no missing value)",
                    self.name
                ))
            };
        }
        match self.kind {
            ColumnType::Number => {
                let value: f64 = text
                    .parse()
                    .ok()
                    .filter(|v: &f64| v.is_finite())
                    .ok_or_else(|| format!("{}: {text:?} is not a number", self.name))?;
                let unit = self
                    .unit
                    .as_deref()
                    .map_or(String::new(), |u| format!(" {u}"));
                if let Some(min) = self.min.filter(|&m| value < m) {
                    return Err(format!(
                        "{}: {value}{unit} is below the minimum {min}{unit}",
                        self.name
                    ));
                }
                if let Some(max) = self.max.filter(|&m| value > m) {
                    return Err(format!(
                        "{}: {value}{unit} is above the maximum {max}{unit}",
                        self.name
                    ));
                }
                Ok(Some(format!("{value}")))
            }
            ColumnType::Category => self
                .values
                .iter()
                .find(|v| v.eq_ignore_ascii_case(text))
                .map(|v| Some(v.clone()))
                .ok_or_else(|| {
                    format!(
                        "{}: {text:?} is not one of {}",
                        self.name,
                        self.values.join(", ")
                    )
                }),
            ColumnType::YesNo => match text.to_ascii_lowercase().as_str() {
                "yes" | "y" | "true" | "1" => Ok(Some("yes".into())),
                "no" | "n" | "false" | "0" => Ok(Some("no".into())),
                _ => Err(format!("{}: {text:?} is not yes or no", self.name)),
            },
        }
    }

    /// The column as people read it: name and unit.
    /// The column's name with its unit (`age (years)`), the unit left out
    /// where the name already says it (`pack_years`, not
    /// `pack_years (pack-years)`).
    pub fn title(&self) -> String {
        let words = |t: &str| -> String {
            t.chars()
                .map(|c| {
                    if c.is_alphanumeric() {
                        c.to_ascii_lowercase()
                    } else {
                        ' '
                    }
                })
                .collect::<String>()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        };
        match &self.unit {
            Some(unit) if !words(&self.name).ends_with(&words(unit)) => {
                format!("{} ({unit})", self.name)
            }
            _ => self.name.clone(),
        }
    }
}

/// The automatic crop's settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CropSetting {
    /// Pixels added on every side of the component's box.
    pub margin_px: u32,
}

/// A structure painted in label maps: its voxel value (1–255) and name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaintLabel {
    pub value: u8,
    pub name: String,
}

impl PaintLabel {
    pub fn new(value: u8, name: &str) -> Self {
        Self {
            value,
            name: name.into(),
        }
    }
}

/// BraTS's convention: 1 necrotic core, 2 oedema, 4 enhancing tumour.
pub fn brats_paint_labels() -> Vec<PaintLabel> {
    vec![
        PaintLabel::new(1, "necrotic core"),
        PaintLabel::new(2, "oedema"),
        PaintLabel::new(4, "enhancing tumour"),
    ]
}

/// The one rule for a label list: values 1–255, each once, names not empty.
pub fn check_paint_labels(labels: &[PaintLabel]) -> Result<(), SchemaError> {
    for (i, l) in labels.iter().enumerate() {
        if l.value == 0 {
            return Err(SchemaError::Invalid(format!(
                "paint label {:?} has value 0, which is the background",
                l.name
            )));
        }
        if l.name.trim().is_empty() || l.name.chars().any(char::is_control) {
            return Err(SchemaError::Invalid(format!(
                "paint label {} has an empty name or a control character",
                l.value
            )));
        }
        if labels[..i].iter().any(|m| m.value == l.value) {
            return Err(SchemaError::Invalid(format!(
                "paint label value {} is used twice",
                l.value
            )));
        }
    }
    Ok(())
}

/// A schema file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("schema is not valid JSON ({0})")]
    Json(#[from] serde_json::Error),
    #[error("schema is invalid: {0}")]
    Invalid(String),
}

fn field(name: &str, values: &[&str], ordinal: bool, hotkeys: &str) -> Field {
    Field {
        name: name.into(),
        values: values.iter().map(|v| v.to_string()).collect(),
        ordinal,
        hotkeys: hotkeys.chars().collect(),
    }
}

impl Schema {
    /// Retinopathy of prematurity, ICROP3: stage (target, ordinal), zone, plus disease.
    pub fn rop() -> Self {
        Self {
            name: "rop".into(),
            fields: vec![
                field(
                    "stage",
                    &[
                        "Normal", "Stage 1", "Stage 2", "Stage 3", "Stage 4", "Stage 5",
                    ],
                    true,
                    "",
                ),
                field("zone", &["I", "II", "III"], true, "qwe"),
                field("plus", &["none", "pre-plus", "plus"], true, "asd"),
            ],
            target: "stage".into(),
            // What an ophthalmologist outlines on a fundus photograph.
            paint_labels: vec![
                PaintLabel::new(1, "ridge"),
                PaintLabel::new(2, "vessel"),
                PaintLabel::new(3, "optic disc"),
            ],
            crop: None,
            modalities: Vec::new(),
            target_is_label_map: false,
            tabular: Vec::new(),
        }
    }

    /// Thyroid nodule classification on ultrasound.
    pub fn thyroid() -> Self {
        Self {
            name: "thyroid".into(),
            fields: vec![field(
                "class",
                &[
                    "nodular goiter",
                    "follicular neoplasm",
                    "papillary carcinoma",
                    "medullary carcinoma",
                ],
                false,
                "",
            )],
            target: "class".into(),
            // A nodule's outline and its calcifications (TI-RADS features).
            paint_labels: vec![
                PaintLabel::new(1, "nodule"),
                PaintLabel::new(2, "calcification"),
            ],
            // Ultrasound exports carry text and scales around the sector.
            crop: Some(CropSetting { margin_px: 4 }),
            modalities: Vec::new(),
            target_is_label_map: false,
            tabular: Vec::new(),
        }
    }

    /// ROP screening by exam: the photographs keep the `rop` schema's
    /// image labels (the seed method trains on them); each eye at an exam
    /// is graded on the ICROP3 eye form ([`crate::rop::grade`], stored by
    /// [`crate::store::exams`]).
    pub fn rop_exam() -> Self {
        Self {
            name: "rop-exam".into(),
            ..Self::rop()
        }
    }

    /// Whether a painted label map labels its item (the project segments).
    pub fn targets_label_maps(&self) -> bool {
        self.target_is_label_map
    }

    /// Whether the project grades eyes at exams (the `rop-exam` schema).
    pub fn grades_exams(&self) -> bool {
        self.name == "rop-exam"
    }

    /// A built-in schema by name (`rop`, `rop-exam`, `thyroid`).
    pub fn builtin(name: &str) -> Option<Self> {
        match name {
            "rop" => Some(Self::rop()),
            "rop-exam" => Some(Self::rop_exam()),
            "thyroid" => Some(Self::thyroid()),
            _ => None,
        }
    }

    /// Parses and validates a custom schema.
    pub fn from_json(text: &str) -> Result<Self, SchemaError> {
        let mut schema: Schema = serde_json::from_str(text)?;
        // Written before the key existed: the brain-tumour demo's schema
        // (sequences, BraTS labels) was the one label-map project.
        if schema.name == "brain-tumour" && !schema.modalities.is_empty() {
            schema.target_is_label_map = true;
        }
        schema.validate()?;
        Ok(schema)
    }

    pub fn validate(&self) -> Result<(), SchemaError> {
        let invalid = |m: String| Err(SchemaError::Invalid(m));
        if self.fields.is_empty() {
            return invalid("it has no fields".into());
        }
        check_paint_labels(&self.paint_labels)?;
        if let Some(c) = self.crop
            && c.margin_px > crate::volume::crop::MAX_MARGIN_PX
        {
            return invalid(format!(
                "crop margin {} px is more than {}",
                c.margin_px,
                crate::volume::crop::MAX_MARGIN_PX
            ));
        }
        for (i, f) in self.fields.iter().enumerate() {
            if f.name.trim().is_empty() || f.name.contains(['=', ',', ' ']) {
                return invalid(format!(
                    "field name {:?} is empty or contains '=', ',' or a space",
                    f.name
                ));
            }
            if self.fields[..i].iter().any(|g| g.name == f.name) {
                return invalid(format!("field {:?} appears twice", f.name));
            }
            if f.values.len() < 2 {
                return invalid(format!("field {:?} needs at least two values", f.name));
            }
            for (j, v) in f.values.iter().enumerate() {
                if v.trim().is_empty() || f.values[..j].iter().any(|w| w.eq_ignore_ascii_case(v)) {
                    return invalid(format!(
                        "field {:?}: value {v:?} is empty or repeated",
                        f.name
                    ));
                }
            }
            if !f.hotkeys.is_empty() && f.hotkeys.len() != f.values.len() {
                return invalid(format!(
                    "field {:?}: {} hotkeys for {} values",
                    f.name,
                    f.hotkeys.len(),
                    f.values.len()
                ));
            }
        }
        let mut keys: Vec<char> = Vec::new();
        for f in &self.fields {
            for v in 0..f.values.len() {
                if let Some(k) = self.hotkey(f, v).map(|k| k.to_ascii_lowercase()) {
                    if keys.contains(&k) || "jknu".contains(k) {
                        return invalid(format!(
                            "hotkey {k:?} is used twice or is a navigation key (J, K, N, U)"
                        ));
                    }
                    keys.push(k);
                }
            }
        }
        if self.field(&self.target).is_none() {
            return invalid(format!("target {:?} is not one of its fields", self.target));
        }
        self.validate_case_columns()
    }

    /// Modality roles and tabular columns: names that are safe as CSV
    /// columns and file-name parts, each once among roles, columns and
    /// fields, and columns that can hold a value.
    fn validate_case_columns(&self) -> Result<(), SchemaError> {
        let invalid = |m: String| Err(SchemaError::Invalid(m));
        let mut names: Vec<&str> = self.fields.iter().map(|f| f.name.as_str()).collect();
        let reserved = [
            "case",
            "pool",
            "id",
            "path",
            "annotator",
            "labeled_at",
            "image",
        ];
        let named = self
            .modalities
            .iter()
            .map(|m| ("modality", m.as_str()))
            .chain(
                self.tabular
                    .iter()
                    .map(|c| ("tabular column", c.name.as_str())),
            );
        for (what, name) in named {
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return invalid(format!(
                    "{what} {name:?} must be letters, digits, '_' or '-'"
                ));
            }
            if reserved.contains(&name) || names.contains(&name) {
                return invalid(format!(
                    "{what} {name:?} is reserved or already names a field, role or column"
                ));
            }
            names.push(name);
        }
        for column in &self.tabular {
            match column.kind {
                ColumnType::Number => {
                    if let (Some(min), Some(max)) = (column.min, column.max)
                        && min >= max
                    {
                        return invalid(format!(
                            "tabular column {:?}: min {min} is not below max {max}",
                            column.name
                        ));
                    }
                }
                ColumnType::Category => {
                    let mut seen: Vec<String> = Vec::new();
                    for v in &column.values {
                        let key = v.trim().to_ascii_lowercase();
                        if key.is_empty() || seen.contains(&key) {
                            return invalid(format!(
                                "tabular column {:?}: value {v:?} is empty or repeated",
                                column.name
                            ));
                        }
                        seen.push(key);
                    }
                    if seen.len() < 2 {
                        return invalid(format!(
                            "tabular column {:?} is a category with fewer than two values",
                            column.name
                        ));
                    }
                }
                ColumnType::YesNo => {}
            }
        }
        Ok(())
    }

    /// Whether the project holds cases (several modalities and a record).
    pub fn has_cases(&self) -> bool {
        !self.modalities.is_empty() || !self.tabular.is_empty()
    }

    pub fn tabular_column(&self, name: &str) -> Option<&TabularColumn> {
        self.tabular.iter().find(|c| c.name == name)
    }

    /// [`Schema::validate`] and the rules only a new project needs: no field
    /// may be named like one of the CSV export's own columns (`id`, `path`,
    /// `pool`, `annotator`, `labeled_at`), or an export would not import
    /// back as it was. (Checked at creation only, so a project made before
    /// the rule still opens.)
    pub fn validate_new(&self) -> Result<(), SchemaError> {
        self.validate()?;
        for f in &self.fields {
            if super::names::EXPORT_COLUMNS
                .iter()
                .any(|c| c.eq_ignore_ascii_case(f.name.trim()))
            {
                return Err(SchemaError::Invalid(format!(
                    "field name {:?} is one of the CSV export's own columns ({}); rename the field",
                    f.name,
                    super::names::EXPORT_COLUMNS.join(", ")
                )));
            }
        }
        Ok(())
    }

    /// The fields' names, in order.
    pub fn field_names(&self) -> Vec<String> {
        self.fields.iter().map(|f| f.name.clone()).collect()
    }

    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The key that sets `value` of `field`: the field's own hotkeys, or
    /// for the target field by default the digits 1–9.
    pub fn hotkey(&self, field: &Field, value: usize) -> Option<char> {
        if !field.hotkeys.is_empty() {
            return field.own_hotkey(value);
        }
        (field.name == self.target && value < 9)
            .then(|| char::from_digit(value as u32 + 1, 10))
            .flatten()
    }

    /// Which field and value a key sets, if any.
    pub fn value_for_key(&self, key: char) -> Option<(&Field, usize)> {
        let key = key.to_ascii_lowercase();
        self.fields.iter().find_map(|f| {
            (0..f.values.len())
                .find(|&v| self.hotkey(f, v).map(|k| k.to_ascii_lowercase()) == Some(key))
                .map(|v| (f, v))
        })
    }

    pub fn target_field(&self) -> &Field {
        // validate() guarantees the target exists; fall back to the first field regardless.
        self.field(&self.target).unwrap_or(&self.fields[0])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_column_title_says_its_unit_once() {
        assert_eq!(
            TabularColumn::number("age", "years", 0.0, 1.0).title(),
            "age (years)"
        );
        assert_eq!(
            TabularColumn::number("pack_years", "pack-years", 0.0, 1.0).title(),
            "pack_years"
        );
        assert_eq!(
            TabularColumn::number("years", "pack-years", 0.0, 1.0).title(),
            "years (pack-years)"
        );
        assert_eq!(TabularColumn::yes_no("cough").title(), "cough");
    }

    #[test]
    fn builtins_are_valid_with_digit_hotkeys() {
        for schema in [Schema::rop(), Schema::thyroid()] {
            schema.validate().unwrap();
        }
        let rop = Schema::rop();
        let stage = rop.target_field();
        assert_eq!(rop.hotkey(stage, 0), Some('1'));
        assert_eq!(stage.value_index("stage 3"), Some(3));
        let (field, value) = rop.value_for_key('W').unwrap();
        assert_eq!((field.name.as_str(), value), ("zone", 1));
        assert!(rop.value_for_key('9').is_none());
    }

    #[test]
    fn custom_schemas_are_checked() {
        let ok = r#"{"name":"dr","fields":[{"name":"grade","values":["0","1","2"],"ordinal":true,"hotkeys":["a","s","d"]}],"target":"grade"}"#;
        let schema = Schema::from_json(ok).unwrap();
        assert_eq!(schema.hotkey(schema.target_field(), 2), Some('d'));
        let bad_target = ok.replace("\"target\":\"grade\"", "\"target\":\"stage\"");
        assert!(
            Schema::from_json(&bad_target)
                .unwrap_err()
                .to_string()
                .contains("target \"stage\"")
        );
        assert!(Schema::from_json("{").is_err());
    }
}
