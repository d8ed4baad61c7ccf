//! The one run loop, below every method: [`train`] prepares the configured
//! method's task (`classify` or `segmentation`) on a project and drives it —
//! the run folder, the started event, epochs of steps with pause/resume/stop
//! between them, running means of the steps' named values, each epoch's
//! scores and record, the last and chosen checkpoints (chosen on the
//! validation split by the task's score), the end (predictions, summary,
//! finished event). The window's training thread, `loupe train` and the
//! benches call it; nothing in `train` does.
//!
//! An epoch is defined once, for every method of a task: classification
//! takes one pass over the larger of the labeled pool (at
//! `labeled_per_batch` images a step) and the unlabeled pool (at the rest of
//! the batch), so every method takes the same optimizer steps and sees the
//! same labeled images in the same order; segmentation draws
//! `slices_per_case` samples per labeled case.

use std::path::Path;
use std::sync::mpsc::{Receiver, Sender, TryRecvError};
use std::time::Instant;

use super::classify;
use super::data::Rasterize;
use super::device::ComputeDevice;
use super::error::TrainError;
use super::events::{EpochRecord, RunSummary, Scalars, Selection, TrainCommand, TrainEvent};
use super::methods;
use super::runs::RunDir;
use super::segmentation;
use super::step::Stepper;
use super::task::{Checkpoint, Chooser, Learner, Reported};
use crate::train::config::TrainConfig;

/// Trains the configured method on the project at `root`. Blocks until the
/// run ends; events go to `events` (a closed receiver is ignored), commands
/// come from `commands`.
pub fn train(
    root: &Path,
    config: &TrainConfig,
    compute: &ComputeDevice,
    rasterize: Rasterize,
    events: &Sender<TrainEvent>,
    commands: &Receiver<TrainCommand>,
) -> Result<RunSummary, TrainError> {
    let declaration = methods::declaration(config.method).ok_or_else(|| {
        TrainError::Data(format!("method {} is not registered", config.method.name()))
    })?;
    let mut learner: Box<dyn Learner> = match (declaration.build)() {
        Stepper::Classify(step) => {
            Box::new(classify::prepare(root, config, step, compute, rasterize)?)
        }
        Stepper::Segment(step) => Box::new(segmentation::prepare(root, config, step, compute)?),
    };
    let run = RunDir::create(root, learner.config(), config.method.name())?;
    let pools = learner.pools();
    let steps_per_epoch = learner.steps_per_epoch();
    let epochs = learner.config().epochs;
    let _ = events.send(TrainEvent::Started {
        run: run.id.clone(),
        epochs,
        steps_per_epoch,
        labeled: pools.labeled,
        validation: pools.validation,
        unlabeled: pools.unlabeled,
        test: pools.test,
        skipped: pools.skipped.clone(),
    });
    let mut chooser = Chooser::new(learner.config().choose_by);
    let selected_on = if pools.validation > 0 && chooser.reads_validation() {
        Selection::Validation
    } else {
        Selection::LastEpoch
    };
    // The chosen epoch and its test scores.
    let mut chosen: Option<(usize, Reported)> = None;
    let mut epochs_done = 0;
    let mut stopped_early = false;
    'epochs: for epoch in 0..epochs {
        let started = Instant::now();
        learner.begin_epoch(epoch);
        let Some(mut values) = run_steps(learner.as_mut(), epoch, events, commands)? else {
            stopped_early = true;
            break 'epochs;
        };
        let scores = learner.score();
        values.extend(scores.series);
        let record = EpochRecord {
            epoch,
            series: values,
            student: scores.student,
            teacher: scores.teacher,
            seconds: started.elapsed().as_secs_f64(),
        };
        run.append(&record)?;
        learner.save(&run.path, Checkpoint::Last)?;
        // No validation split: the last epoch is the one reported.
        let improves = match scores.validation {
            Some(candidate) => chooser.offer(candidate),
            None => true,
        };
        if improves {
            learner.save(&run.path, Checkpoint::Chosen)?;
            learner.keep_chosen();
            let reported = Reported {
                student: record.student.clone(),
                teacher: record.teacher.clone(),
                eye: None, // measured once, by `finish`
            };
            chosen = Some((epoch, reported));
        }
        epochs_done = epoch + 1;
        let _ = events.send(TrainEvent::Epoch(Box::new(record)));
    }
    let chosen_epoch = chosen.as_ref().map(|(epoch, _)| *epoch);
    let reported = learner.finish(&run.path, &run.id, chosen.map(|(_, r)| r))?;
    let summary = RunSummary {
        run: run.id.clone(),
        epochs: epochs_done,
        chosen_epoch,
        selected_on: if chosen_epoch.is_some() {
            selected_on
        } else {
            Selection::LastEpoch
        },
        student: reported.student,
        teacher: reported.teacher,
        stopped_early,
        eye: reported.eye,
        skipped: pools.skipped,
        unfinished: false,
    };
    run.finish(&summary)?;
    let _ = events.send(TrainEvent::Finished(Box::new(summary.clone())));
    Ok(summary)
}

/// The steps of epoch `epoch`, each reported as it ends; the means of
/// their values, or `None` when a stop was asked for between two steps.
fn run_steps(
    learner: &mut dyn Learner,
    epoch: usize,
    events: &Sender<TrainEvent>,
    commands: &Receiver<TrainCommand>,
) -> Result<Option<Scalars>, TrainError> {
    let mut means = Means::default();
    for step in 0..learner.steps_per_epoch() {
        if stop_requested(commands, events) {
            return Ok(None);
        }
        let started = Instant::now();
        let (values, samples) = learner.step(epoch, step)?;
        let seconds = started.elapsed().as_secs_f64().max(1e-9);
        means.add(&values);
        let _ = events.send(TrainEvent::Step {
            epoch,
            step,
            values,
            images_per_second: samples as f64 / seconds,
        });
    }
    Ok(Some(means.into_means()))
}

/// Running means of an epoch's step values.
#[derive(Default)]
struct Means {
    sums: Scalars,
    counts: std::collections::BTreeMap<String, usize>,
}

impl Means {
    fn add(&mut self, values: &Scalars) {
        for (name, value) in values {
            *self.sums.entry(name.clone()).or_default() += value;
            *self.counts.entry(name.clone()).or_default() += 1;
        }
    }

    fn into_means(self) -> Scalars {
        self.sums
            .into_iter()
            .map(|(name, sum)| {
                let n = self.counts.get(&name).copied().unwrap_or(1).max(1);
                (name, sum / n as f64)
            })
            .collect()
    }
}

/// Waits out a pause; true when the run must stop.
fn stop_requested(commands: &Receiver<TrainCommand>, events: &Sender<TrainEvent>) -> bool {
    loop {
        match commands.try_recv() {
            Ok(TrainCommand::Stop) => return true,
            Ok(TrainCommand::Pause) => {
                let _ = events.send(TrainEvent::Paused);
                match commands.recv() {
                    Ok(TrainCommand::Stop) | Err(_) => return true,
                    _ => {
                        let _ = events.send(TrainEvent::Resumed);
                    }
                }
            }
            Ok(TrainCommand::Resume)
            | Err(TryRecvError::Empty)
            | Err(TryRecvError::Disconnected) => {
                return false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_epoch_s_value_is_the_mean_of_its_steps() {
        let mut means = Means::default();
        means.add(&Scalars::from([("loss/total".into(), 1.0)]));
        means.add(&Scalars::from([
            ("loss/total".into(), 2.0),
            ("grad/ratio".into(), 4.0),
        ]));
        let means = means.into_means();
        assert_eq!(means["loss/total"], 1.5);
        // A value some steps did not report is the mean of those that did.
        assert_eq!(means["grad/ratio"], 4.0);
    }
}
