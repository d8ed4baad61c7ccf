//! Explanations in the window: which record columns a tabular run leans
//! on for the selected case. Computed off the UI thread (loading the run
//! and the project's records takes a moment), asked for with a command,
//! taken when ready.

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, TryRecvError, channel};

use crate::train::explain::Explainer;

/// One case's explanation, ready to draw.
#[derive(Clone, Debug, PartialEq)]
pub struct CaseExplanation {
    pub item_id: i64,
    pub run: String,
    /// E f over the background.
    pub base: f64,
    /// f(case): the run's probability of the positive class.
    pub prediction: f64,
    /// (column, Shapley value), in the schema's order.
    pub columns: Vec<(String, f64)>,
}

/// What a background explanation brings back.
enum Explained {
    Case(CaseExplanation),
    Global {
        run: String,
        columns: Vec<crate::train::explain::ColumnImportance>,
    },
}

/// The explanations shown and the one being computed.
#[derive(Default)]
pub struct Explanations {
    pub shown: Option<CaseExplanation>,
    /// The run and each column's importance on its test pool.
    pub global: Option<(String, Vec<crate::train::explain::ColumnImportance>)>,
    pending: Option<Receiver<Result<Explained, String>>>,
}

/// Shuffles per column for the window's permutation importance.
const REPEATS: usize = 10;

impl Explanations {
    /// The newest finished run of `runs` that reads the tabular record
    /// (alone, or fused with a series' slices).
    pub fn run_to_explain(runs: &[crate::train::runs::PastRun]) -> Option<&str> {
        use crate::train::config::InputKind;
        runs.iter()
            .rev()
            .find(|r| {
                r.summary.is_some()
                    && r.config.as_ref().is_some_and(|c| {
                        matches!(c.input_kind(), InputKind::Record | InputKind::Fusion(_))
                    })
            })
            .map(|r| r.id.as_str())
    }

    pub fn is_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// Starts computing every column's importance on the test pool by `run`.
    pub fn start_global(&mut self, root: PathBuf, run: String) {
        self.spawn(root, run, |explainer, run| {
            Ok(Explained::Global {
                run: run.to_string(),
                columns: explainer.global(REPEATS),
            })
        });
    }

    fn spawn(
        &mut self,
        root: PathBuf,
        run: String,
        work: impl FnOnce(&Explainer, &str) -> Result<Explained, String> + Send + 'static,
    ) {
        let (sender, receiver) = channel();
        std::thread::spawn(move || {
            let device = crate::train::device::flex().device;
            let result = Explainer::load(&root, &run, &device, super::training::RASTERIZE)
                .map_err(|e| e.to_string())
                .and_then(|explainer| work(&explainer, &run));
            let _ = sender.send(result);
        });
        self.pending = Some(receiver);
    }

    /// Starts explaining `item_id` by `run` of the project at `root`.
    pub fn start(&mut self, root: PathBuf, run: String, item_id: i64) {
        self.spawn(root, run, move |explainer, run| {
            let e = explainer
                .explain(item_id)
                .ok_or_else(|| format!("run {run} cannot read item {item_id}"))?;
            Ok(Explained::Case(CaseExplanation {
                item_id,
                run: run.to_string(),
                base: e.base,
                prediction: e.prediction,
                columns: explainer
                    .players
                    .iter()
                    .map(|p| p.0.clone())
                    .zip(e.shapley)
                    .collect(),
            }))
        });
    }

    /// Takes a finished explanation: `Some(Err)` when it failed.
    pub fn poll(&mut self) -> Option<Result<(), String>> {
        let receiver = self.pending.as_ref()?;
        match receiver.try_recv() {
            Ok(Ok(explained)) => {
                self.pending = None;
                match explained {
                    Explained::Case(case) => self.shown = Some(case),
                    Explained::Global { run, columns } => self.global = Some((run, columns)),
                }
                Some(Ok(()))
            }
            Ok(Err(message)) => {
                self.pending = None;
                Some(Err(message))
            }
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => {
                self.pending = None;
                Some(Err("the explanation stopped without a result".into()))
            }
        }
    }
}
