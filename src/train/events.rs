//! What a run reports and obeys, typed: the only way the window (or the
//! command line) hears from a training thread. Curves are data: a method
//! reports named series (`loss/ce`, `schedule/ema_alpha`,
//! `metric/teacher/auc`, …) and whoever draws them groups them by the part
//! of the name before the first `/`, with no code per method.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::metrics::Metrics;

/// Named values at one step or epoch, by series name.
pub type Scalars = BTreeMap<String, f64>;

/// Series that every run reports, whatever its method.
pub mod series {
    /// The learning rate of the step.
    pub const LEARNING_RATE: &str = "optimizer/learning_rate";
    /// The loss the optimizer minimised.
    pub const TOTAL_LOSS: &str = "loss/total";
    /// 1 while a fine-tuning run holds its early stages still, else 0.
    pub const FROZEN_EARLY_STAGES: &str = "schedule/frozen_early_stages";

    /// The group a series is drawn in: the part of its name before the first `/`.
    pub fn group(name: &str) -> &str {
        name.split('/').next().unwrap_or(name)
    }

    /// `metric/<model>/<name>` (test pool) or `validation/<model>/<name>`.
    pub fn metric(set: &str, model: &str, name: &str) -> String {
        format!("{set}/{model}/{name}")
    }
}

/// The scalar metrics of one model on one set, as named series
/// (`<set>/<model>/accuracy`, `…/auc`, `…/kappa`, `…/f1`).
pub fn metric_series(set: &str, model: &str, metrics: &Metrics, out: &mut Scalars) {
    let mut put = |name: &str, value: Option<f64>| {
        if let Some(v) = value.filter(|v| v.is_finite()) {
            out.insert(series::metric(set, model, name), v);
        }
    };
    if let Some(dice) = &metrics.dice {
        put("dice_wt", Some(dice.wt));
        put("dice_tc", Some(dice.tc));
        put("dice_et", Some(dice.et));
        put("dice_mean", Some(dice.mean));
        return;
    }
    put("accuracy", Some(metrics.accuracy));
    put("auc", metrics.auc);
    put("kappa", metrics.kappa);
    put("f1", Some(metrics.f1));
}

/// One line of `metrics.jsonl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(from = "StoredEpoch")]
pub struct EpochRecord {
    pub epoch: usize,
    /// Epoch means of the step series, the learning rate, and the test and
    /// validation metrics, by series name.
    pub series: Scalars,
    /// Test-pool metrics of the student and teacher (confusion, ROC).
    pub student: Metrics,
    pub teacher: Option<Metrics>,
    pub seconds: f64,
}

/// A `metrics.jsonl` line as any version wrote it.
#[derive(Deserialize)]
struct StoredEpoch {
    epoch: usize,
    #[serde(default)]
    series: Scalars,
    student: Metrics,
    teacher: Option<Metrics>,
    #[serde(default)]
    seconds: f64,
    /// Before named series: fixed loss fields.
    #[serde(default)]
    losses: Option<LegacyLosses>,
    #[serde(default)]
    learning_rate: Option<f64>,
}

#[derive(Deserialize)]
struct LegacyLosses {
    supervised: f64,
    consistency: f64,
    relation: f64,
    total: f64,
    weight: f64,
    alpha: f64,
}

impl From<StoredEpoch> for EpochRecord {
    fn from(stored: StoredEpoch) -> Self {
        let mut series = stored.series;
        if let Some(l) = stored.losses {
            series.insert("loss/ce".into(), l.supervised);
            series.insert("loss/total".into(), l.total);
            // A supervised run stored these as zeros: they were never terms of it.
            for (name, value) in [
                ("loss/consistency", l.consistency),
                ("loss/relation", l.relation),
                ("schedule/consistency_weight", l.weight),
                ("schedule/ema_alpha", l.alpha),
            ] {
                if value != 0.0 {
                    series.insert(name.into(), value);
                }
            }
        }
        if let Some(lr) = stored.learning_rate {
            series.insert(series::LEARNING_RATE.into(), lr);
        }
        let mut metrics = Scalars::new();
        metric_series("metric", "student", &stored.student, &mut metrics);
        if let Some(teacher) = &stored.teacher {
            metric_series("metric", "teacher", teacher, &mut metrics);
        }
        for (name, value) in metrics {
            series.entry(name).or_insert(value);
        }
        EpochRecord {
            epoch: stored.epoch,
            series,
            student: stored.student,
            teacher: stored.teacher,
            seconds: stored.seconds,
        }
    }
}

/// What a run reports while it runs.
#[derive(Clone, Debug)]
pub enum TrainEvent {
    Started {
        run: String,
        epochs: usize,
        steps_per_epoch: usize,
        labeled: usize,
        /// Labeled images held out to choose the checkpoint.
        validation: usize,
        unlabeled: usize,
        test: usize,
        /// Items left out, each with why.
        skipped: Vec<String>,
    },
    Step {
        epoch: usize,
        step: usize,
        values: Scalars,
        images_per_second: f64,
    },
    Epoch(Box<EpochRecord>),
    Paused,
    Resumed,
    Finished(Box<RunSummary>),
}

/// Commands a run obeys between steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrainCommand {
    Pause,
    Resume,
    Stop,
}

/// How the reported checkpoint was chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Selection {
    /// Best on the validation split (accuracy, then lower loss).
    Validation,
    /// No validation split: the last epoch.
    LastEpoch,
}

/// The outcome of a run: test-pool metrics of the chosen checkpoint.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunSummary {
    pub run: String,
    /// Epochs trained.
    pub epochs: usize,
    /// The epoch (0-based) whose checkpoint is reported, if any epoch ended.
    #[serde(default)]
    pub chosen_epoch: Option<usize>,
    #[serde(default = "last_epoch")]
    pub selected_on: Selection,
    pub student: Metrics,
    pub teacher: Option<Metrics>,
    pub stopped_early: bool,
    /// Eye-level test metrics of the model that predicts (the teacher
    /// where there is one), for runs under eye labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eye: Option<super::eyes::EyeMetrics>,
    /// Items the run left out, each with why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<String>,
    /// No `summary.json`: the process ended before the run did (a kill);
    /// `epochs` then counts the epochs its metrics recorded.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unfinished: bool,
}

impl RunSummary {
    /// `finished`, `stopped` (asked to, record complete) or `unfinished`
    /// (killed: no summary was written).
    pub fn status(&self) -> &'static str {
        if self.unfinished {
            "unfinished"
        } else if self.stopped_early {
            "stopped"
        } else {
            "finished"
        }
    }
}

fn last_epoch() -> Selection {
    Selection::LastEpoch
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_become_named_series() {
        let metrics = Metrics {
            accuracy: 0.75,
            auc: Some(0.9),
            kappa: None,
            f1: 0.5,
            ..Metrics::default()
        };
        let mut out = Scalars::new();
        metric_series("metric", "teacher", &metrics, &mut out);
        let names: Vec<&str> = out.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "metric/teacher/accuracy",
                "metric/teacher/auc",
                "metric/teacher/f1"
            ]
        );
        assert_eq!(out["metric/teacher/auc"], 0.9);
        assert_eq!(series::group("metric/teacher/auc"), "metric");
        assert_eq!(series::group("loss"), "loss");
    }

    #[test]
    fn a_metrics_line_written_before_named_series_reads_into_the_same_names() {
        // A line as Loupe wrote it before series had names (a mean-teacher run).
        let line = r#"{"epoch":2,"losses":{"supervised":0.9,"consistency":0.05,"relation":0.01,"total":1.0,"weight":0.2,"alpha":0.98},"learning_rate":0.001,"student":{"accuracy":0.5,"auc_per_class":[],"auc":0.75,"sensitivity":[],"specificity":[],"f1":0.4,"kappa":0.3,"confusion":[],"roc":[]},"teacher":{"accuracy":0.625,"auc_per_class":[],"auc":null,"sensitivity":[],"specificity":[],"f1":0.5,"kappa":null,"confusion":[],"roc":[]},"seconds":1.5}"#;
        let record: EpochRecord = serde_json::from_str(line).unwrap();
        let expected: Vec<(&str, f64)> = vec![
            ("loss/ce", 0.9),
            ("loss/consistency", 0.05),
            ("loss/relation", 0.01),
            ("loss/total", 1.0),
            ("metric/student/accuracy", 0.5),
            ("metric/student/auc", 0.75),
            ("metric/student/f1", 0.4),
            ("metric/student/kappa", 0.3),
            ("metric/teacher/accuracy", 0.625),
            ("metric/teacher/f1", 0.5),
            ("optimizer/learning_rate", 0.001),
            ("schedule/consistency_weight", 0.2),
            ("schedule/ema_alpha", 0.98),
        ];
        let got: Vec<(&str, f64)> = record
            .series
            .iter()
            .map(|(k, v)| (k.as_str(), *v))
            .collect();
        assert_eq!(got, expected);
        // Written back and read again, nothing changes.
        let again: EpochRecord =
            serde_json::from_str(&serde_json::to_string(&record).unwrap()).unwrap();
        assert_eq!(again, record);
    }
}
