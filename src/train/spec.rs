//! What a training method is, as data: its contract name and title, the
//! task it learns (labels per case, or per voxel), what it reads and keeps,
//! the series each step reports, and its **settings** — each declared once,
//! with its `config.json` key, command-line flag, kind, range, default,
//! one-line help and panel group. The training panel draws these
//! declarations, `loupe train` turns them into flags, `TrainConfig`
//! stores and checks their values; no other code names a method's setting.
//!
//! A leaf of `train`: it imports nothing of Loupe, so the configuration
//! (below the methods) can hold a [`Method`] and ask it what it reads.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use serde::{Deserialize, Serialize};

/// What a method learns to do; the run loop takes the task's batches,
/// scores and prediction files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Task {
    /// One label per item or case (accuracy, AUC, κ; predictions in the store).
    Classify,
    /// A label per voxel (Dice per case; predicted label maps as NIfTI).
    Segment,
}

/// What a method takes from its frozen teacher runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TeacherUse {
    /// It has none.
    None,
    /// One run's pooled features per case, cached (`Batch::guidance`).
    Features,
    /// Each run's logits per case, cached with a "seen" flag, one block per
    /// teacher kind (see `distill::attach_outputs`).
    Outputs,
    /// One run's classifier, frozen inside the model it trains.
    Classifier,
    /// One segmentation run's network, frozen, run beside the student on
    /// the same samples (its outputs and decoder features).
    Segmenter,
}

/// What a method is, as data: its name, what it reads and keeps, the
/// series each step reports, its settings.
#[derive(Debug, PartialEq)]
pub struct MethodSpec {
    /// The contract name (`supervised`, `mean-teacher`, …): `config.json`,
    /// `loupe train --method` and run folders carry it.
    pub name: &'static str,
    /// A name for people (the training panel).
    pub title: &'static str,
    pub task: Task,
    /// A teacher model is kept beside the student (and evaluated).
    pub keeps_teacher: bool,
    /// The step reads the unlabeled part of each batch.
    pub uses_unlabeled: bool,
    /// The series each step reports, by name (`loss/…`, `schedule/…`, `grad/…`).
    pub series: &'static [&'static str],
    /// The kinds of input the method can read, the one it prefers first
    /// (`image`, `tabular`, `volume`, `slices`, `series`, `fusion`,
    /// `sequences`: see `config::InputKind::kind_name`).
    pub modalities: &'static [&'static str],
    /// The kinds of input of the teacher runs the method distils from
    /// (empty: it takes none; otherwise it needs one per kind).
    pub teacher_roles: &'static [&'static str],
    /// What the method takes from its teacher runs.
    pub teacher_use: TeacherUse,
    /// The method's own settings.
    pub settings: &'static [Setting],
}

impl MethodSpec {
    /// The one rule on teacher runs: a method that distils needs one, a
    /// method without teachers takes none.
    pub fn check_teachers(&self, teachers: &[String]) -> Result<(), String> {
        if !self.teacher_roles.is_empty() && teachers.is_empty() {
            return Err(format!(
                "method {} distils from a teacher run on {}: name one (--teacher RUN)",
                self.name,
                self.teacher_roles.join(" or ")
            ));
        }
        if self.teacher_roles.is_empty() && !teachers.is_empty() {
            return Err(format!(
                "method {} takes no teacher runs (given {})",
                self.name,
                teachers.join(", ")
            ));
        }
        Ok(())
    }

    /// The setting named `name` (its `config.json` key).
    pub fn setting(&self, name: &str) -> Option<&'static Setting> {
        self.settings.iter().find(|s| s.name == name)
    }

    /// The setting whose command-line flag is `--flag`.
    pub fn setting_by_flag(&self, flag: &str) -> Option<&'static Setting> {
        self.settings.iter().find(|s| s.flag == flag)
    }
}

/// A configured method: a handle on its (static) declaration. Two handles
/// are the same method when their names are; `config.json` stores the name
/// (the registry in `methods` turns a name back into a handle).
#[derive(Clone, Copy)]
pub struct Method(&'static MethodSpec);

impl Method {
    pub const fn of(spec: &'static MethodSpec) -> Self {
        Self(spec)
    }

    pub fn spec(self) -> &'static MethodSpec {
        self.0
    }

    /// The contract name (kebab case), as in `config.json`.
    pub fn name(self) -> &'static str {
        self.0.name
    }

    pub fn title(self) -> &'static str {
        self.0.title
    }

    /// The method labels every voxel (a label map) rather than a case.
    pub fn segments(self) -> bool {
        self.0.task == Task::Segment
    }
}

impl PartialEq for Method {
    fn eq(&self, other: &Self) -> bool {
        self.0.name == other.0.name
    }
}

impl Eq for Method {}

impl std::fmt::Debug for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Method({})", self.0.name)
    }
}

impl Serialize for Method {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0.name)
    }
}

/// One setting of a method, declared once.
#[derive(Debug, PartialEq)]
pub struct Setting {
    /// Its key in `config.json`'s `settings` section, and `--set NAME=VALUE`.
    pub name: &'static str,
    /// The section of `config.json`'s `settings` it is stored in: the
    /// method that declares it, or the family that shares it (ProtoKD
    /// reads segmentation's slices per case), so a value set for one
    /// method of the family holds for the others.
    pub section: &'static str,
    /// Its named flag on `loupe train` (without the dashes).
    pub flag: &'static str,
    /// Its label in the training panel.
    pub title: &'static str,
    /// One line of help (flag help and the panel's hover text).
    pub help: &'static str,
    /// The panel group it is drawn in.
    pub group: &'static str,
    pub kind: SettingKind,
    /// Where configurations written before settings were declared kept it
    /// (a JSON pointer, e.g. `/kdamm/temperature`; empty: nowhere).
    pub legacy: &'static str,
}

/// A setting's kind, default and range.
#[derive(Debug, PartialEq)]
pub enum SettingKind {
    /// A real number in `range`; `speed` is the panel's drag step.
    Number {
        default: f64,
        range: RangeInclusive<f64>,
        speed: f64,
    },
    /// A whole number in `range`.
    Count {
        default: usize,
        range: RangeInclusive<usize>,
    },
    /// On or off; the named flag sets it to `flag_sets` (an ablation flag
    /// such as `--no-grad-ratio` turns a default-on switch off).
    Switch { default: bool, flag_sets: bool },
}

/// A setting's value as `config.json` stores it.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SettingValue {
    Switch(bool),
    Count(u64),
    Number(f64),
}

/// One method's setting values by setting name.
pub type SettingValues = BTreeMap<String, SettingValue>;

impl Setting {
    pub fn default_value(&self) -> SettingValue {
        match &self.kind {
            SettingKind::Number { default, .. } => SettingValue::Number(*default),
            SettingKind::Count { default, .. } => SettingValue::Count(*default as u64),
            SettingKind::Switch { default, .. } => SettingValue::Switch(*default),
        }
    }

    /// `value` as this setting's kind (a count written as `16.0` is 16),
    /// checked against its range; the error names the setting and the range.
    pub fn check(&self, value: SettingValue) -> Result<SettingValue, String> {
        let out_of_range = |shown: String, low: String, high: String| {
            format!("{} {shown} must be between {low} and {high}", self.title)
        };
        match (&self.kind, value) {
            (SettingKind::Number { range, .. }, v) => {
                let x = match v {
                    SettingValue::Number(x) => x,
                    SettingValue::Count(n) => n as f64,
                    SettingValue::Switch(_) => return Err(self.wrong_kind("a number")),
                };
                if range.contains(&x) {
                    Ok(SettingValue::Number(x))
                } else {
                    Err(out_of_range(
                        x.to_string(),
                        range.start().to_string(),
                        range.end().to_string(),
                    ))
                }
            }
            (SettingKind::Count { range, .. }, v) => {
                let n = match v {
                    SettingValue::Count(n) => n,
                    SettingValue::Number(x) if x.fract() == 0.0 && x >= 0.0 => x as u64,
                    _ => return Err(self.wrong_kind("a whole number")),
                };
                if usize::try_from(n).is_ok_and(|n| range.contains(&n)) {
                    Ok(SettingValue::Count(n))
                } else {
                    Err(out_of_range(
                        n.to_string(),
                        range.start().to_string(),
                        range.end().to_string(),
                    ))
                }
            }
            (SettingKind::Switch { .. }, SettingValue::Switch(b)) => Ok(SettingValue::Switch(b)),
            (SettingKind::Switch { .. }, _) => Err(self.wrong_kind("true or false")),
        }
    }

    fn wrong_kind(&self, expected: &str) -> String {
        format!("{} ({}) takes {expected}", self.title, self.name)
    }

    /// A value typed by a person (`--set NAME=VALUE`, a flag's value):
    /// parsed as this setting's kind and checked against its range.
    pub fn parse(&self, text: &str) -> Result<SettingValue, String> {
        let text = text.trim();
        let value = match &self.kind {
            SettingKind::Number { .. } => text
                .parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .map(SettingValue::Number),
            SettingKind::Count { .. } => text.parse::<u64>().ok().map(SettingValue::Count),
            SettingKind::Switch { .. } => match text {
                "true" | "on" | "yes" | "1" => Some(SettingValue::Switch(true)),
                "false" | "off" | "no" | "0" => Some(SettingValue::Switch(false)),
                _ => None,
            },
        };
        let expected = match &self.kind {
            SettingKind::Number { .. } => "a number",
            SettingKind::Count { .. } => "a whole number",
            SettingKind::Switch { .. } => "true or false",
        };
        self.check(value.ok_or_else(|| {
            format!(
                "{} ({}) takes {expected}, not {text:?}",
                self.title, self.name
            )
        })?)
    }
}

impl SettingValue {
    pub fn as_f64(self) -> f64 {
        match self {
            SettingValue::Number(x) => x,
            SettingValue::Count(n) => n as f64,
            SettingValue::Switch(b) => f64::from(u8::from(b)),
        }
    }

    pub fn as_bool(self) -> bool {
        match self {
            SettingValue::Switch(b) => b,
            other => other.as_f64() != 0.0,
        }
    }
}

impl From<f64> for SettingValue {
    fn from(x: f64) -> Self {
        SettingValue::Number(x)
    }
}

impl From<bool> for SettingValue {
    fn from(b: bool) -> Self {
        SettingValue::Switch(b)
    }
}

impl From<usize> for SettingValue {
    fn from(n: usize) -> Self {
        SettingValue::Count(n as u64)
    }
}

impl std::fmt::Display for SettingValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SettingValue::Switch(b) => write!(f, "{b}"),
            SettingValue::Count(n) => write!(f, "{n}"),
            SettingValue::Number(x) => write!(f, "{x}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WEIGHT: Setting = Setting {
        name: "kd_weight",
        section: "test",
        flag: "kd-weight",
        title: "KD weight",
        help: "",
        group: "Distillation",
        kind: SettingKind::Number {
            default: 1.0,
            range: 0.0..=100.0,
            speed: 0.05,
        },
        legacy: "",
    };
    const COUNT: Setting = Setting {
        name: "slices_per_case",
        section: "test",
        flag: "slices-per-case",
        title: "slices per case",
        help: "",
        group: "Data",
        kind: SettingKind::Count {
            default: 8,
            range: 1..=512,
        },
        legacy: "",
    };

    #[test]
    fn values_are_parsed_by_kind_and_refused_by_name_and_range() {
        assert_eq!(WEIGHT.parse("2.5"), Ok(SettingValue::Number(2.5)));
        assert_eq!(
            WEIGHT.parse("200").unwrap_err(),
            "KD weight 200 must be between 0 and 100"
        );
        assert!(WEIGHT.parse("NaN").unwrap_err().contains("takes a number"));
        assert_eq!(COUNT.parse("16"), Ok(SettingValue::Count(16)));
        assert_eq!(
            COUNT.check(SettingValue::Number(16.0)),
            Ok(SettingValue::Count(16))
        );
        assert!(COUNT.parse("1.5").unwrap_err().contains("whole number"));
        assert_eq!(
            COUNT.parse("0").unwrap_err(),
            "slices per case 0 must be between 1 and 512"
        );
        // A JSON number written as 16 reads back as a count, 2.5 as a number.
        let read: SettingValue = serde_json::from_str("16").unwrap();
        assert_eq!(WEIGHT.check(read), Ok(SettingValue::Number(16.0)));
    }
}
