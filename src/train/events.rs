//! What a run reports and obeys, typed: the only way the window (or the
//! command line) hears from a training thread. Curves are data: a method
//! reports named series (`loss/ce`, `schedule/ema_alpha`,
//! `metric/teacher/auc`, …) and whoever draws them groups them by the part
//! of the name before the first `/`, with no code per method.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::metrics::Metrics;
use super::runs::EpochRecord;

/// Named values at one step or epoch, by series name.
pub type Scalars = BTreeMap<String, f64>;

/// Series that every run reports, whatever its method.
pub mod series {
    /// The learning rate of the step.
    pub const LEARNING_RATE: &str = "optimizer/learning_rate";
    /// The loss the optimizer minimised.
    pub const TOTAL_LOSS: &str = "loss/total";

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
    put("accuracy", Some(metrics.accuracy));
    put("auc", metrics.auc);
    put("kappa", metrics.kappa);
    put("f1", Some(metrics.f1));
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
}
