//! A seeded bench's results in one shape: every arm's figures per pairing
//! (demo seed, training seed), mean ± sd per arm, and the paired
//! difference of an arm and its baseline with its 95 % t interval. The
//! printed tables, `--json` and the report page (`report`) all read it, so
//! every bench states its figures the same way.

use std::collections::BTreeMap;

use super::common::{Table, mean_sd, plus_minus};

/// One figure the bench reports per run.
#[derive(Clone, Debug)]
pub struct Metric {
    /// The JSON key (`auc`).
    pub key: String,
    /// The column heading (`AUC`).
    pub label: String,
    /// Whether the figure gets a paired difference and plots (a figure of
    /// cost, like seconds per epoch, is only tabled).
    pub compared: bool,
}

impl Metric {
    pub fn compared(key: impl Into<String>, label: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            label: label.into(),
            compared: true,
        }
    }

    pub fn tabled(key: impl Into<String>, label: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            label: label.into(),
            compared: false,
        }
    }
}

/// Which data and which training a run had: runs of two arms with the same
/// pairing differ only in the arm, so their difference is paired.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Pairing {
    pub demo_seed: u64,
    pub training_seed: u64,
}

impl Pairing {
    pub fn new(demo_seed: u64, training_seed: u64) -> Self {
        Self {
            demo_seed,
            training_seed,
        }
    }
}

/// One row of the bench: what was trained, and (for curves) the series it
/// belongs to and its position on the curve's x axis.
#[derive(Clone, Debug)]
pub struct Arm {
    pub name: String,
    pub series: String,
    pub x: Option<f64>,
}

/// The mean paired difference of two arms over the pairings both ran.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PairedDifference {
    pub pairs: usize,
    pub mean: f64,
    pub sd: f64,
    /// The 95 % t interval of the mean (NaN with fewer than two pairs).
    pub low: f64,
    pub high: f64,
}

impl PairedDifference {
    /// From the per-pairing differences; None when there are none.
    pub fn of(differences: &[f64]) -> Option<Self> {
        if differences.is_empty() {
            return None;
        }
        let (mean, sd) = mean_sd(differences);
        let n = differences.len();
        let half = match n {
            1 => f64::NAN,
            _ => t_quantile_975(n - 1) * sd / (n as f64).sqrt(),
        };
        Some(Self {
            pairs: n,
            mean,
            sd,
            low: mean - half,
            high: mean + half,
        })
    }

    /// `+0.012 (−0.030 … +0.054)`: the mean and its interval, signed.
    pub fn cell(&self) -> String {
        if self.pairs < 2 {
            return format!("{:+.3} (one pair)", self.mean);
        }
        format!("{:+.3} ({:+.3} … {:+.3})", self.mean, self.low, self.high)
    }
}

/// The 97.5th percentile of Student's t with `df` degrees of freedom (the
/// half-width factor of a two-sided 95 % interval): the table to 30, then
/// interpolated in 1/df towards the normal's 1.960.
pub fn t_quantile_975(df: usize) -> f64 {
    const TABLE: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    const BEYOND: [(f64, f64); 4] = [(30.0, 2.042), (40.0, 2.021), (60.0, 2.000), (120.0, 1.980)];
    match df {
        0 => f64::NAN,
        1..=30 => TABLE[df - 1],
        _ => {
            let df = df as f64;
            let points = BEYOND
                .iter()
                .copied()
                .chain(std::iter::once((f64::INFINITY, 1.960)));
            let mut previous = BEYOND[0];
            for (at, value) in points {
                if df <= at {
                    // Linear in 1/df between the neighbouring entries.
                    let (x0, x1, x) = (1.0 / previous.0, 1.0 / at, 1.0 / df);
                    return previous.1 + (value - previous.1) * (x - x0) / (x1 - x0);
                }
                previous = (at, value);
            }
            1.960
        }
    }
}

/// `arm − baseline`, their shared `PREFIX · ` said once: `10 % · KD − no KD`.
pub fn comparison_label(arm: &str, baseline: &str) -> String {
    match (arm.split_once(" · "), baseline.split_once(" · ")) {
        (Some((prefix, a)), Some((other, b))) if prefix == other => format!("{prefix} · {a} − {b}"),
        _ => format!("{arm} − {baseline}"),
    }
}

/// One run's figures.
#[derive(Clone, Debug)]
struct Sample {
    arm: usize,
    pairing: Pairing,
    values: BTreeMap<String, f64>,
}

/// Everything a seeded bench measured.
#[derive(Clone, Debug)]
pub struct Findings {
    /// The bench's name (`kd`), also the report page's file name.
    pub bench: &'static str,
    pub title: String,
    /// What was run: data, settings, seeds (printed above the tables).
    pub setting: String,
    pub metrics: Vec<Metric>,
    /// The label of the curves' x axis when arms have positions.
    pub x_label: Option<&'static str>,
    /// Lines printed after the tables (teachers per seed, what was left out).
    pub notes: Vec<String>,
    /// The command line that produced the figures.
    pub command: String,
    pub wall_seconds: f64,
    /// Runs that failed (each also named in `notes`).
    failures: usize,
    arms: Vec<Arm>,
    comparisons: Vec<(usize, usize)>,
    samples: Vec<Sample>,
}

impl Findings {
    pub fn new(bench: &'static str, title: impl Into<String>, metrics: Vec<Metric>) -> Self {
        Self {
            bench,
            title: title.into(),
            setting: String::new(),
            metrics,
            x_label: None,
            notes: Vec::new(),
            command: std::env::args().collect::<Vec<_>>().join(" "),
            wall_seconds: 0.0,
            failures: 0,
            arms: Vec::new(),
            comparisons: Vec::new(),
            samples: Vec::new(),
        }
    }

    /// The arm's index, added (its own series, no position) if new.
    pub fn arm(&mut self, name: &str) -> usize {
        self.arm_on_curve(name, name, None)
    }

    /// The arm's index, added with its series and x position if new.
    pub fn arm_on_curve(&mut self, name: &str, series: &str, x: Option<f64>) -> usize {
        if let Some(index) = self.arms.iter().position(|a| a.name == name) {
            return index;
        }
        self.arms.push(Arm {
            name: name.to_string(),
            series: series.to_string(),
            x,
        });
        self.arms.len() - 1
    }

    pub fn arms(&self) -> &[Arm] {
        &self.arms
    }

    /// One run's figures (a NaN figure counts as not measured).
    pub fn record(&mut self, arm: &str, pairing: Pairing, values: &[(&str, f64)]) {
        let arm = self.arm(arm);
        self.samples.push(Sample {
            arm,
            pairing,
            values: values
                .iter()
                .filter(|(_, v)| v.is_finite())
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
        });
    }

    /// A run that failed: counted, and its message kept with the notes.
    pub fn failed(&mut self, message: String) {
        self.failures += 1;
        self.notes.push(message);
    }

    pub fn failures(&self) -> usize {
        self.failures
    }

    /// Adds the paired difference `arm − baseline` (both added if new).
    pub fn compare(&mut self, arm: &str, baseline: &str) {
        let pair = (self.arm(arm), self.arm(baseline));
        if !self.comparisons.contains(&pair) {
            self.comparisons.push(pair);
        }
    }

    /// The comparisons as (arm, baseline) names.
    pub fn comparisons(&self) -> Vec<(&str, &str)> {
        self.comparisons
            .iter()
            .map(|&(a, b)| (self.arms[a].name.as_str(), self.arms[b].name.as_str()))
            .collect()
    }

    /// An arm's figures of one metric, run by run.
    pub fn values(&self, arm: usize, metric: &str) -> Vec<(Pairing, f64)> {
        self.samples
            .iter()
            .filter(|s| s.arm == arm)
            .filter_map(|s| Some((s.pairing, *s.values.get(metric)?)))
            .collect()
    }

    /// Mean ± sd and the number of runs of an arm's metric.
    pub fn summary(&self, arm: usize, metric: &str) -> Option<(f64, f64, usize)> {
        let values: Vec<f64> = self
            .values(arm, metric)
            .into_iter()
            .map(|(_, v)| v)
            .collect();
        (!values.is_empty()).then(|| {
            let (mean, sd) = mean_sd(&values);
            (mean, sd, values.len())
        })
    }

    /// `arm − baseline` per pairing both ran (a pairing run twice counts
    /// its mean), in pairing order.
    pub fn differences(&self, arm: usize, baseline: usize, metric: &str) -> Vec<(Pairing, f64)> {
        let by_pairing = |arm| {
            let mut runs: BTreeMap<Pairing, Vec<f64>> = BTreeMap::new();
            for (pairing, value) in self.values(arm, metric) {
                runs.entry(pairing).or_default().push(value);
            }
            runs.into_iter()
                .map(|(p, v)| (p, mean_sd(&v).0))
                .collect::<BTreeMap<_, _>>()
        };
        let baseline = by_pairing(baseline);
        by_pairing(arm)
            .into_iter()
            .filter_map(|(p, v)| Some((p, v - baseline.get(&p)?)))
            .collect()
    }

    pub fn paired(&self, arm: usize, baseline: usize, metric: &str) -> Option<PairedDifference> {
        let differences: Vec<f64> = self
            .differences(arm, baseline, metric)
            .into_iter()
            .map(|(_, d)| d)
            .collect();
        PairedDifference::of(&differences)
    }

    /// Arm by arm: runs and mean ± sd of every metric.
    pub(super) fn summary_table(&self) -> Table {
        let mut header = vec!["arm", "runs"];
        header.extend(self.metrics.iter().map(|m| m.label.as_str()));
        let mut table = Table::new(&header);
        for (index, arm) in self.arms.iter().enumerate() {
            let runs = self.samples.iter().filter(|s| s.arm == index).count();
            let mut row = vec![arm.name.clone(), runs.to_string()];
            row.extend(self.metrics.iter().map(|m| {
                self.summary(index, &m.key)
                    .map(|(mean, sd, _)| plus_minus((mean, sd)))
                    .unwrap_or_else(|| "—".into())
            }));
            table.row(row);
        }
        table
    }

    /// Comparison by comparison: pairs and the mean paired difference with
    /// its 95 % interval of every compared metric.
    pub(super) fn paired_table(&self) -> Table {
        let compared: Vec<&Metric> = self.metrics.iter().filter(|m| m.compared).collect();
        let mut header = vec!["arm − baseline", "pairs"];
        header.extend(compared.iter().map(|m| m.label.as_str()));
        let mut table = Table::new(&header);
        for &(arm, baseline) in &self.comparisons {
            let differences: Vec<Option<PairedDifference>> = compared
                .iter()
                .map(|m| self.paired(arm, baseline, &m.key))
                .collect();
            let pairs = differences.iter().flatten().map(|d| d.pairs).max();
            let mut row = vec![
                comparison_label(&self.arms[arm].name, &self.arms[baseline].name),
                pairs.unwrap_or(0).to_string(),
            ];
            row.extend(
                differences
                    .iter()
                    .map(|d| d.map(|d| d.cell()).unwrap_or_else(|| "—".into())),
            );
            table.row(row);
        }
        table
    }

    /// What the bench prints: the setting, both tables, the notes, the
    /// command and its wall time.
    pub fn text(&self) -> String {
        let mut out = format!("{}\n{}\n\n", self.title, self.setting);
        out.push_str(&self.summary_table().render());
        if !self.comparisons.is_empty() {
            out.push_str(
                "\npaired differences (same demo seed and training seed), mean and 95 % t interval:\n",
            );
            out.push_str(&self.paired_table().render());
        }
        for note in &self.notes {
            out.push_str(&format!("\n{note}"));
        }
        out.push_str(&format!(
            "\n\n$ {}\nwall time {:.0} s\n",
            self.command, self.wall_seconds
        ));
        out
    }

    /// `--json`: every run's figures, each arm's summary and every paired
    /// difference.
    pub fn json(&self) -> serde_json::Value {
        let stat = |summary: Option<(f64, f64, usize)>| match summary {
            Some((mean, sd, n)) => serde_json::json!({ "mean": mean, "sd": sd, "runs": n }),
            None => serde_json::Value::Null,
        };
        let arms: Vec<serde_json::Value> = self
            .arms
            .iter()
            .enumerate()
            .map(|(index, arm)| {
                let metrics: serde_json::Map<String, serde_json::Value> = self
                    .metrics
                    .iter()
                    .map(|m| (m.key.clone(), stat(self.summary(index, &m.key))))
                    .collect();
                let runs: Vec<serde_json::Value> = self
                    .samples
                    .iter()
                    .filter(|s| s.arm == index)
                    .map(|s| serde_json::json!({ "pairing": s.pairing, "values": s.values }))
                    .collect();
                serde_json::json!({
                    "arm": arm.name, "series": arm.series, "x": arm.x,
                    "metrics": metrics, "runs": runs,
                })
            })
            .collect();
        let paired: Vec<serde_json::Value> = self
            .comparisons
            .iter()
            .map(|&(arm, baseline)| {
                let metrics: serde_json::Map<String, serde_json::Value> = self
                    .metrics
                    .iter()
                    .filter(|m| m.compared)
                    .filter_map(|m| {
                        let d = self.paired(arm, baseline, &m.key)?;
                        let finite = |v: f64| v.is_finite().then_some(v);
                        Some((
                            m.key.clone(),
                            serde_json::json!({
                                "pairs": d.pairs, "mean": d.mean, "sd": d.sd,
                                "ci95_low": finite(d.low), "ci95_high": finite(d.high),
                            }),
                        ))
                    })
                    .collect();
                serde_json::json!({
                    "arm": self.arms[arm].name,
                    "baseline": self.arms[baseline].name,
                    "difference": metrics,
                })
            })
            .collect();
        serde_json::json!({
            "bench": self.bench,
            "title": self.title,
            "setting": self.setting,
            "command": self.command,
            "wall_seconds": self.wall_seconds,
            "arms": arms,
            "paired": paired,
            "notes": self.notes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_t_quantile_follows_the_table_and_tends_to_the_normal() {
        assert_eq!(t_quantile_975(1), 12.706);
        assert_eq!(t_quantile_975(8), 2.306);
        assert!((t_quantile_975(40) - 2.021).abs() < 1e-12);
        // Between 60 and 120, linear in 1/df: df 80 → 1/80 is a third of
        // the way from 1/60 to 1/120.
        let expected =
            2.000 + (1.980 - 2.000) * (1.0 / 80.0 - 1.0 / 60.0) / (1.0 / 120.0 - 1.0 / 60.0);
        assert!((t_quantile_975(80) - expected).abs() < 1e-12);
        assert!((t_quantile_975(100_000) - 1.960).abs() < 1e-3);
        assert!(t_quantile_975(0).is_nan());
    }

    #[test]
    fn the_paired_difference_pairs_runs_by_demo_and_training_seed() {
        let mut findings = Findings::new("test", "t", vec![Metric::compared("auc", "AUC")]);
        // Baseline and method on three pairings, given out of order; an
        // unpaired method run (demo 9) must not count.
        for (demo, seed, base, method) in
            [(1, 1, 0.60, 0.70), (2, 1, 0.50, 0.52), (1, 2, 0.55, 0.58)]
        {
            findings.record("method", Pairing::new(demo, seed), &[("auc", method)]);
            findings.record("base", Pairing::new(demo, seed), &[("auc", base)]);
        }
        findings.record("method", Pairing::new(9, 1), &[("auc", 0.99)]);
        findings.compare("method", "base");
        let d = findings.paired(0, 1, "auc").expect("three pairs");
        // Differences 0.10, 0.02, 0.03: mean 0.05, sd = sqrt(((0.05)² +
        // (0.03)² + (0.02)²) / 2) = sqrt(0.0019), half-width 4.303 · sd / √3.
        let sd = 0.0019f64.sqrt();
        assert_eq!(d.pairs, 3);
        assert!((d.mean - 0.05).abs() < 1e-12, "{d:?}");
        assert!((d.sd - sd).abs() < 1e-12, "{d:?}");
        assert!(
            (d.high - (0.05 + 4.303 * sd / 3f64.sqrt())).abs() < 1e-12,
            "{d:?}"
        );
        assert!(
            (d.low - (0.05 - 4.303 * sd / 3f64.sqrt())).abs() < 1e-12,
            "{d:?}"
        );
        let table = findings.paired_table().render();
        assert!(table.contains("method − base"), "{table}");
        assert!(table.contains("+0.050 (-0."), "{table}");
    }

    #[test]
    fn one_pair_has_no_interval_and_a_missing_figure_is_not_a_zero() {
        let mut findings = Findings::new("test", "t", vec![Metric::compared("auc", "AUC")]);
        findings.record("a", Pairing::new(1, 1), &[("auc", 0.7)]);
        findings.record("b", Pairing::new(1, 1), &[("auc", f64::NAN)]);
        findings.record("b", Pairing::new(1, 1), &[("auc", 0.6)]);
        let d = findings.paired(0, 1, "auc").expect("one pair");
        assert!((d.mean - 0.1).abs() < 1e-12 && d.low.is_nan());
        assert_eq!(findings.summary(1, "auc").map(|s| s.2), Some(1));
        assert!(d.cell().contains("one pair"));
    }

    #[test]
    fn a_comparison_says_its_shared_prefix_once() {
        assert_eq!(
            comparison_label("10 % · KD", "10 % · no KD"),
            "10 % · KD − no KD"
        );
        assert_eq!(
            comparison_label("10 % · KD", "20 % · no KD"),
            "10 % · KD − 20 % · no KD"
        );
        assert_eq!(comparison_label("full", "xception"), "full − xception");
    }
}
