//! What the one run loop (`run`) asks of a task — classification
//! (`classify`) or segmentation (`segmentation`) — once a method's run is
//! prepared: the pools' sizes, an epoch's steps, the scores after each
//! epoch (and the validation score that chooses the reported checkpoint),
//! the checkpoints, and what is written at the end (predictions in the
//! store, or label maps). The loop owns the rest: epochs, events,
//! pause/stop, running means, records, the choice, the summary.

use std::path::Path;

use super::config::{CHOICE_WINDOW_EPOCHS, ChoiceRule, TrainConfig};
use super::error::TrainError;
use super::events::Scalars;
use super::metrics::Metrics;

/// How many samples each pool holds (images, cases).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pools {
    pub labeled: usize,
    pub validation: usize,
    pub unlabeled: usize,
    pub test: usize,
    /// Items the run left out, each with why (an unreadable or wrong-kind file).
    pub skipped: Vec<String>,
}

/// A model's score on the validation split; the higher `primary` the
/// better, ties broken by the lower `loss`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ValidationScore {
    /// Accuracy (classification) or mean Dice (segmentation).
    pub primary: f64,
    /// The mean one-vs-rest AUC (classification) or mean Dice
    /// (segmentation): what a windowed choice ranks by.
    pub ranking: f64,
    /// The loss on the split (0 where the task has none to compare).
    pub loss: f64,
}

/// The one place a run's reported epoch is chosen: offered each epoch's
/// validation score in turn, says whether that epoch becomes the chosen one.
pub struct Chooser {
    rule: ChoiceRule,
    recent: std::collections::VecDeque<ValidationScore>,
    best: Option<ValidationScore>,
    /// Whether `best` is a full window's (then shorter ones no longer count).
    best_is_full: bool,
}

impl Chooser {
    pub fn new(rule: ChoiceRule) -> Self {
        Self {
            rule,
            recent: Default::default(),
            best: None,
            best_is_full: false,
        }
    }

    /// Whether the validation split decides at all (not for the last-epoch rule).
    pub fn reads_validation(&self) -> bool {
        self.rule != ChoiceRule::LastEpoch
    }

    /// Whether the epoch scoring `score` is now the chosen one.
    pub fn offer(&mut self, score: ValidationScore) -> bool {
        match self.rule {
            ChoiceRule::LastEpoch => true,
            ChoiceRule::Accuracy => {
                let better = score.better_than(self.best.as_ref());
                if better {
                    self.best = Some(score);
                }
                better
            }
            ChoiceRule::WindowedAuc => {
                self.recent.push_back(score);
                if self.recent.len() > CHOICE_WINDOW_EPOCHS {
                    self.recent.pop_front();
                }
                // The window's means, ranked by `better_than` as one
                // epoch's score would be: mean ranking first, then mean loss.
                let n = self.recent.len() as f64;
                let ranking = self.recent.iter().map(|s| s.ranking).sum::<f64>() / n;
                let window = ValidationScore {
                    primary: ranking,
                    ranking,
                    loss: self.recent.iter().map(|s| s.loss).sum::<f64>() / n,
                };
                // Windows shorter than the rule's count only while no full
                // one exists (the first epochs, or a run shorter than it).
                let full = self.recent.len() == CHOICE_WINDOW_EPOCHS;
                let better = match (full, self.best_is_full) {
                    (true, false) => true,
                    (false, true) => false,
                    _ => window.better_than(self.best.as_ref()),
                };
                if better {
                    self.best = Some(window);
                    self.best_is_full = full;
                }
                better
            }
        }
    }
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
    /// Eye-level test metrics (runs under eye labels).
    pub eye: Option<super::eyes::EyeMetrics>,
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
        let scored = |primary, loss| ValidationScore {
            primary,
            ranking: 0.0,
            loss,
        };
        assert!(scored(0.5, 1.0).better_than(None));
        assert!(scored(0.6, 2.0).better_than(Some(&scored(0.5, 1.0))));
        assert!(scored(0.5, 0.9).better_than(Some(&scored(0.5, 1.0))));
        assert!(!scored(0.5, 1.0).better_than(Some(&scored(0.5, 1.0))));
        assert!(!scored(0.4, 0.1).better_than(Some(&scored(0.5, 1.0))));
        // Segmentation scores carry no loss: only a higher Dice is better.
        assert!(!scored(0.8, 0.0).better_than(Some(&scored(0.8, 0.0))));
    }

    #[test]
    fn a_windowed_choice_takes_the_end_of_the_best_full_window() {
        let offer_all = |rule, rankings: &[f64]| -> Vec<usize> {
            let mut chooser = Chooser::new(rule);
            (0..rankings.len())
                .filter(|&epoch| {
                    chooser.offer(ValidationScore {
                        // Accuracy on a split of 4: steps of ¼.
                        primary: (rankings[epoch] * 4.0).round() / 4.0,
                        ranking: rankings[epoch],
                        loss: 1.0,
                    })
                })
                .collect()
        };
        // One lucky epoch (1) then a steady rise. Windows of 5: epochs 0–4
        // mean 0.66, 1–5 0.68, 2–6 0.63, 3–7 0.65, 4–8 0.67, 5–9 0.70.
        let rankings = [0.5, 0.9, 0.6, 0.6, 0.7, 0.6, 0.65, 0.7, 0.7, 0.85];
        // Windows: while none is full, the best partial one (epoch 0,
        // then 0–1 at 0.7); the first full window is chosen (epoch 4),
        // then 1–5 (0.68) and 5–9 (0.70).
        assert_eq!(
            offer_all(ChoiceRule::WindowedAuc, &rankings),
            vec![0, 1, 4, 5, 9]
        );
        // By accuracy, the lucky epoch 1 (1.0 after rounding) stays chosen.
        assert_eq!(offer_all(ChoiceRule::Accuracy, &rankings), vec![0, 1]);
        assert_eq!(offer_all(ChoiceRule::LastEpoch, &rankings).len(), 10);
    }
}
