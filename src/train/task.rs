//! What the one run loop (`run`) asks of a task — classification
//! (`classify`) or segmentation (`segmentation`) — once a method's run is
//! prepared: the pools' sizes, an epoch's steps, the scores after each
//! epoch (and the validation score that chooses the reported checkpoint),
//! the checkpoints, and what is written at the end (predictions in the
//! store, or label maps). The loop owns the rest: epochs, events,
//! pause/stop, running means, records, the choice, the summary.

use std::path::Path;

use super::config::TrainConfig;
use super::error::TrainError;
use super::events::Scalars;
use super::metrics::Metrics;

/// How many samples each pool holds (images, cases).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pools {
    pub labeled: usize,
    pub validation: usize,
    pub unlabeled: usize,
    pub test: usize,
}

/// A model's score on the validation split; the higher `primary` the
/// better, ties broken by the lower `loss`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ValidationScore {
    /// Accuracy (classification) or mean Dice (segmentation).
    pub primary: f64,
    /// The loss on the split (0 where the task has none to compare).
    pub loss: f64,
}

impl ValidationScore {
    /// The one rule that chooses a run's reported checkpoint: a strictly
    /// higher primary score, or the same with a strictly lower loss.
    pub fn better_than(&self, best: Option<&ValidationScore>) -> bool {
        match best {
            None => true,
            Some(best) => {
                self.primary > best.primary
                    || (self.primary == best.primary && self.loss < best.loss)
            }
        }
    }
}

/// A task's scores after an epoch.
pub struct Scores {
    /// Named series (`metric/…`, `validation/…`) for the epoch's record.
    pub series: Scalars,
    /// The test pool's metrics of the student and of the teacher (kept or frozen).
    pub student: Metrics,
    pub teacher: Option<Metrics>,
    /// The reported model's validation score (`None`: no validation split).
    pub validation: Option<ValidationScore>,
}

/// What a run reports: test metrics of the student and its teacher.
#[derive(Clone, Debug)]
pub struct Reported {
    pub student: Metrics,
    pub teacher: Option<Metrics>,
}

/// The checkpoint files a run keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Checkpoint {
    /// The last epoch's (what a stopped run keeps).
    Last,
    /// The one chosen on the validation split.
    Chosen,
}

/// A prepared run of one task, driven by the run loop.
pub trait Learner {
    /// The run's configuration as it trains (recorded in `config.json`).
    fn config(&self) -> &TrainConfig;
    fn pools(&self) -> Pools;
    fn steps_per_epoch(&self) -> usize;
    /// Draws epoch `epoch`'s order of samples (and holds or frees early stages).
    fn begin_epoch(&mut self, epoch: usize);
    /// Step `step` of epoch `epoch`: the method's named values and the
    /// number of samples the step read.
    fn step(&mut self, epoch: usize, step: usize) -> Result<(Scalars, usize), TrainError>;
    /// The test and validation scores of the models as they are now.
    fn score(&self) -> Scores;
    fn save(&self, dir: &Path, checkpoint: Checkpoint) -> Result<(), TrainError>;
    /// Keeps the models as they are now as the run's chosen ones.
    fn keep_chosen(&mut self);
    /// Writes what the chosen models predict (into the run folder `dir`,
    /// run `run`) and returns what the run reports: `chosen`, the chosen
    /// epoch's scores, where the task reports those, else its own.
    fn finish(
        &mut self,
        dir: &Path,
        run: &str,
        chosen: Option<Reported>,
    ) -> Result<Reported, TrainError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_prefers_the_primary_score_then_lower_loss() {
        let scored = |primary, loss| ValidationScore { primary, loss };
        assert!(scored(0.5, 1.0).better_than(None));
        assert!(scored(0.6, 2.0).better_than(Some(&scored(0.5, 1.0))));
        assert!(scored(0.5, 0.9).better_than(Some(&scored(0.5, 1.0))));
        assert!(!scored(0.5, 1.0).better_than(Some(&scored(0.5, 1.0))));
        assert!(!scored(0.4, 0.1).better_than(Some(&scored(0.5, 1.0))));
        // Segmentation scores carry no loss: only a higher Dice is better.
        assert!(!scored(0.8, 0.0).better_than(Some(&scored(0.8, 0.0))));
    }
}
