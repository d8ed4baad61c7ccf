//! What the benches share: option checks, medians and timing, runs in
//! parallel, `loupe train --json` in a child process, mean ± sd, and the
//! one way a bench prints its table (`Table`) and its JSON.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Context;

/// The training step a step benchmark times: the default model's input,
/// width and batch.
#[derive(Debug, clap::Args)]
pub struct StepShape {
    #[arg(long, default_value_t = 128)]
    input_size: usize,
    /// Channels of the first ResNet stage (16 is the default model).
    #[arg(long, default_value_t = 16)]
    width: usize,
    #[arg(long, default_value_t = 16)]
    batch: usize,
}

impl StepShape {
    /// (input size, width, batch), each within the training limits.
    pub(super) fn checked(&self) -> anyhow::Result<(usize, usize, usize)> {
        use crate::train::config::limits;
        Ok((
            within("--input-size", self.input_size, limits::INPUT_SIZE)?,
            within("--width", self.width, limits::WIDTH)?,
            within("--batch", self.batch, limits::BATCH_SIZE)?,
        ))
    }
}

/// `--threads` (default: every core).
pub(super) fn threads_option(value: Option<usize>) -> anyhow::Result<usize> {
    within(
        "--threads",
        value.unwrap_or_else(|| crate::train::threads::default_threads(false)),
        1..=crate::train::threads::MAX_THREADS,
    )
}

/// A count option checked against what the benchmark can hold, naming it.
pub(super) fn within(
    name: &str,
    value: usize,
    range: std::ops::RangeInclusive<usize>,
) -> anyhow::Result<usize> {
    anyhow::ensure!(
        range.contains(&value),
        "{name} {value} must be between {} and {}",
        range.start(),
        range.end()
    );
    Ok(value)
}

pub(super) fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

pub(super) fn time_runs(
    runs: usize,
    mut f: impl FnMut() -> anyhow::Result<()>,
) -> anyhow::Result<Duration> {
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        f()?;
        samples.push(started.elapsed());
    }
    Ok(median(samples))
}

pub(super) fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * fraction).round() as usize]
}

/// `loupe train PROJECT --config CONFIG --seed SEED …`; its `--json`.
pub(super) fn train_json(
    exe: &Path,
    project: &Path,
    config: &Path,
    seed: u64,
    threads: usize,
    extra: &[String],
) -> anyhow::Result<serde_json::Value> {
    let mut command = Command::new(exe);
    command
        .arg("train")
        .arg(project)
        .args(["--device", "flex", "--json", "--seed", &seed.to_string()])
        .args(["--threads", &threads.to_string(), "--config"])
        .arg(config)
        .args(extra);
    loupe_json(command, "training")
}

/// `loupe eval PROJECT --run RUN --device flex --json --items`: a saved
/// run's reported student on its test pool, item by item.
pub(super) fn eval_items_json(
    exe: &Path,
    project: &Path,
    run: &str,
) -> anyhow::Result<serde_json::Value> {
    let mut command = Command::new(exe);
    command
        .arg("eval")
        .arg(project)
        .args(["--run", run, "--device", "flex", "--json", "--items"]);
    loupe_json(command, &format!("evaluating run {run}"))
}

/// Runs a `loupe … --json` command and reads the JSON it prints; when it
/// fails, `what` failed with the last line of its standard error.
fn loupe_json(mut command: Command, what: &str) -> anyhow::Result<serde_json::Value> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("starting loupe for {what}"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        anyhow::bail!(
            "{what} failed: {}",
            stderr.lines().last().unwrap_or("no message")
        );
    }
    serde_json::from_slice(&output.stdout).with_context(|| format!("reading the JSON of {what}"))
}

/// Runs `work` on every job, `workers` threads at a time (each takes the
/// next job when it is free); the results in the jobs' order.
pub(super) fn in_parallel<J: Sync, O: Send>(
    jobs: Vec<J>,
    workers: usize,
    work: impl Fn(&J) -> O + Sync,
) -> Vec<(J, O)> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<Mutex<Option<O>>> = jobs.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..workers.clamp(1, jobs.len().max(1)) {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(job) = jobs.get(index) else { break };
                    let outcome = work(job);
                    if let Ok(mut slot) = results[index].lock() {
                        *slot = Some(outcome);
                    }
                }
            });
        }
    });
    jobs.into_iter()
        .zip(results)
        .filter_map(|(job, slot)| Some((job, slot.into_inner().ok()??)))
        .collect()
}

/// Mean and sample standard deviation (0 for one value).
pub(super) fn mean_sd(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let variance = if values.len() > 1 {
        values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (mean, variance.sqrt())
}

/// A bench's table: a header and rows of cells, the first column left
/// aligned and the others right aligned, each as wide as its widest cell.
pub(super) struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    pub(super) fn new(header: &[&str]) -> Self {
        Self {
            rows: vec![header.iter().map(|h| h.to_string()).collect()],
        }
    }

    pub(super) fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The header and the rows, cell by cell (for the report's HTML).
    pub(super) fn rows(&self) -> &[Vec<String>] {
        &self.rows
    }

    /// The table as text, one line per row.
    pub(super) fn render(&self) -> String {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..columns)
            .map(|c| {
                self.rows
                    .iter()
                    .filter_map(|r| r.get(c))
                    .map(|cell| cell.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for row in &self.rows {
            let cells: Vec<String> = row
                .iter()
                .enumerate()
                .map(|(c, cell)| match c {
                    0 => format!("{cell:<width$}", width = widths[c]),
                    _ => format!("{cell:>width$}", width = widths[c]),
                })
                .collect();
            out.push_str(cells.join("  ").trim_end());
            out.push('\n');
        }
        out
    }
}

/// A fraction as a percentage with no needless decimals: 0.1 → "10", 0.125 → "12.5".
pub(super) fn percent(fraction: f64) -> String {
    let value = (fraction * 1000.0).round() / 10.0;
    format!("{value}")
}

/// A mean ± sd cell, as every bench table writes it.
pub(super) fn plus_minus((mean, sd): (f64, f64)) -> String {
    format!("{mean:.3} ± {sd:.3}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_aligns_its_columns() {
        let mut table = Table::new(&["model", "AUC"]);
        table.row(vec!["teacher".into(), "0.9".into()]);
        table.row(vec!["s".into(), "0.812".into()]);
        assert_eq!(
            table.render(),
            "model      AUC\nteacher    0.9\ns        0.812\n"
        );
    }

    #[test]
    fn fractions_name_distinct_projects() {
        assert_eq!(percent(0.1), "10");
        assert_eq!(percent(0.125), "12.5");
        assert_ne!(percent(0.12), percent(0.125));
        assert_eq!(percent(1.0), "100");
    }

    #[test]
    fn mean_and_sample_sd() {
        let (mean, sd) = mean_sd(&[1.0, 2.0, 3.0]);
        assert!((mean - 2.0).abs() < 1e-12 && (sd - 1.0).abs() < 1e-12);
        assert_eq!(mean_sd(&[0.5]), (0.5, 0.0));
    }
}
