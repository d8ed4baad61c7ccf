//! `loupe bench … --report DIR`: a seeded bench's findings as a
//! self-contained HTML page (`DIR/<bench>.html`, the SVGs inline), the
//! SVG files and the findings' JSON (`DIR/<bench>.json`) beside it, plus
//! `DIR/index.html` listing every bench page in
//! the folder. Per bench: the tables, a dot plot per compared metric (every
//! run per arm, the mean and its 95 % interval), the paired differences
//! (every pairing, the mean and its interval, zero marked) and, where arms
//! lie on an axis (label efficiency's fractions), the metric-vs-axis
//! curves. Plots are drawn by plotters into SVG; nothing but the named
//! files in the chosen folder is written.

use std::path::{Path, PathBuf};

use anyhow::Context;
use plotters::prelude::*;

use super::findings::{Findings, Metric, PairedDifference};
use crate::app::report::escape;

/// Width of every plot, in SVG pixels.
const PLOT_WIDTH_PX: u32 = 760;
/// Height of one row of a dot plot (one arm or one comparison).
const ROW_HEIGHT_PX: u32 = 34;
/// Plot heights besides the rows: caption and x axis.
const PLOT_CHROME_PX: u32 = 90;
const CURVE_HEIGHT_PX: u32 = 380;
/// The curves' legend, right of the plot.
const LEGEND_WIDTH_PX: u32 = 220;
/// Average width of a label character at `LABEL_FONT_PX` (plotters'
/// font-free layout estimate, generous so names are not cut).
const LABEL_CHAR_PX: u32 = 6;
const LABEL_FONT_PX: u32 = 13;
/// Grid lines: solid light grey (some SVG renderers ignore opacity).
const GRID_LINE: RGBColor = RGBColor(228, 228, 228);

/// How a seeded bench gives its findings: the tables (default), `--json`,
/// and the report page with `--report DIR`.
#[derive(Debug, Clone, clap::Args)]
pub struct Output {
    /// Print the findings as JSON (every run, each arm's summary, every
    /// paired difference) instead of the tables.
    #[arg(long)]
    pub json: bool,
    /// Also write DIR/<bench>.html (tables and plots, self-contained), the
    /// plots as SVG files beside it, and DIR/index.html.
    #[arg(long, value_name = "DIR")]
    pub report: Option<PathBuf>,
}

impl Output {
    /// Prints the findings and writes the report if asked.
    pub fn emit(&self, findings: &Findings) -> anyhow::Result<()> {
        if self.json {
            println!("{}", findings.json());
        } else {
            print!("{}", findings.text());
        }
        if let Some(dir) = &self.report {
            let written = write(dir, findings)?;
            eprintln!(
                "report: {} ({} plots beside it)",
                written.page.display(),
                written.svgs.len()
            );
        }
        Ok(())
    }

    /// Gives the findings, then fails when any of the `total` runs did.
    pub fn finish(&self, findings: &Findings, total: usize) -> anyhow::Result<()> {
        self.emit(findings)?;
        let failed = findings.failures();
        anyhow::ensure!(
            failed == 0,
            "{failed} of {total} runs failed (messages above)"
        );
        Ok(())
    }
}

/// The files a report wrote.
#[derive(Debug)]
pub struct Written {
    pub page: PathBuf,
    pub svgs: Vec<PathBuf>,
}

/// Writes the bench's page and SVGs into `dir` (created if missing) and
/// rewrites the folder's index.
pub fn write(dir: &Path, findings: &Findings) -> anyhow::Result<Written> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut figures: Vec<(String, String, String)> = Vec::new();
    for metric in findings.metrics.iter().filter(|m| m.compared) {
        let mut add = |kind: &str, caption: String, svg: Option<String>| {
            if let Some(svg) = svg {
                figures.push((
                    format!("{}-{}-{kind}.svg", findings.bench, metric.key),
                    caption,
                    svg,
                ));
            }
        };
        add(
            "runs",
            format!(
                "{}: every run per arm, mean and 95 % interval",
                metric.label
            ),
            Some(runs_plot(findings, metric)?),
        );
        add(
            "paired",
            format!("{}: paired differences, arm − baseline", metric.label),
            paired_plot(findings, metric)?,
        );
        add(
            "curve",
            format!(
                "{} against {}",
                metric.label,
                findings.x_label.unwrap_or("x")
            ),
            curve_plot(findings, metric)?,
        );
    }
    let mut svgs = Vec::new();
    for (name, _, svg) in &figures {
        let path = dir.join(name);
        std::fs::write(&path, svg).with_context(|| format!("writing {}", path.display()))?;
        svgs.push(path);
    }
    let page = dir.join(format!("{}.html", findings.bench));
    std::fs::write(&page, page_html(findings, &figures))
        .with_context(|| format!("writing {}", page.display()))?;
    // The figures behind the page, as `--json` gives them, for scripts.
    let json = dir.join(format!("{}.json", findings.bench));
    std::fs::write(&json, findings.json().to_string())
        .with_context(|| format!("writing {}", json.display()))?;
    write_index(dir)?;
    Ok(Written { page, svgs })
}

const STYLE: &str =
    "body { font-family: sans-serif; margin: 2em auto; max-width: 60em; color: #222; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
td, th { border-bottom: 1px solid #ddd; padding: 0.25em 0.8em 0.25em 0; text-align: right; white-space: nowrap; }
.wide { overflow-x: auto; }
td:first-child, th:first-child { text-align: left; }
figure { margin: 1.2em 0; } figcaption { color: #555; font-size: 0.9em; }
pre { background: #f4f4f4; padding: 0.6em; white-space: pre-wrap; }
.setting { color: #333; }";

fn page_html(findings: &Findings, figures: &[(String, String, String)]) -> String {
    let mut html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\
         <style>{STYLE}</style></head><body>\n<h1>{title}</h1>\n<p class=\"setting\">{setting}</p>\n",
        title = escape(&findings.title),
        setting = escape(&findings.setting),
    );
    html.push_str("<h2>Every arm</h2>\n");
    html.push_str(&table_html(findings.summary_table().rows()));
    if !findings.comparisons().is_empty() {
        html.push_str(
            "<h2>Paired differences</h2>\n<p>Arm − baseline on the same demo seed and training \
             seed; mean and 95 % t interval.</p>\n",
        );
        html.push_str(&table_html(findings.paired_table().rows()));
    }
    for note in &findings.notes {
        html.push_str(&format!("<p>{}</p>\n", escape(note)));
    }
    html.push_str("<h2>Plots</h2>\n");
    for (name, caption, svg) in figures {
        html.push_str(&format!(
            "<figure id=\"{}\">{svg}<figcaption>{}</figcaption></figure>\n",
            escape(name),
            escape(caption)
        ));
    }
    html.push_str(&format!(
        "<h2>Command</h2>\n<pre>$ {}\nwall time {:.0} s</pre>\n</body></html>\n",
        escape(&findings.command),
        findings.wall_seconds
    ));
    html
}

fn table_html(rows: &[Vec<String>]) -> String {
    // Wide tables scroll sideways rather than wrap their cells.
    let mut html = String::from("<div class=\"wide\"><table>\n");
    for (index, row) in rows.iter().enumerate() {
        let cell = if index == 0 { "th" } else { "td" };
        html.push_str("<tr>");
        for value in row {
            html.push_str(&format!("<{cell}>{}</{cell}>", escape(value)));
        }
        html.push_str("</tr>\n");
    }
    html.push_str("</table></div>\n");
    html
}

/// `DIR/index.html`: a link to every bench page in the folder.
fn write_index(dir: &Path) -> anyhow::Result<()> {
    let mut pages: Vec<String> = std::fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with(".html") && name != "index.html")
        .collect();
    pages.sort();
    let mut html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Loupe benches</title>\
         <style>{STYLE}</style></head><body>\n<h1>Loupe benches</h1>\n<ul>\n"
    );
    for page in pages {
        html.push_str(&format!(
            "<li><a href=\"{0}\">{0}</a></li>\n",
            escape(&page)
        ));
    }
    html.push_str("</ul>\n</body></html>\n");
    let path = dir.join("index.html");
    std::fs::write(&path, html).with_context(|| format!("writing {}", path.display()))
}

/// An x range holding every value, padded by a tenth (a single value gets
/// ±0.05).
fn padded_range(values: impl Iterator<Item = f64>) -> std::ops::Range<f64> {
    let (low, high) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| {
            (l.min(v), h.max(v))
        });
    if !low.is_finite() {
        return 0.0..1.0;
    }
    let pad = ((high - low) * 0.1).max(0.05);
    (low - pad)..(high + pad)
}

/// The colour of the `index`th arm or series.
fn colour(index: usize) -> RGBColor {
    const COLOURS: [RGBColor; 8] = [
        RGBColor(31, 119, 180),
        RGBColor(214, 39, 40),
        RGBColor(44, 160, 44),
        RGBColor(148, 103, 189),
        RGBColor(255, 127, 14),
        RGBColor(23, 190, 207),
        RGBColor(140, 86, 75),
        RGBColor(127, 127, 127),
    ];
    COLOURS[index % COLOURS.len()]
}

/// One row of a horizontal dot plot: its label, the runs' values and the
/// interval drawn over them (mean, low, high).
struct DotRow {
    label: String,
    values: Vec<f64>,
    interval: Option<(f64, f64, f64)>,
}

/// Rows drawn top to bottom, values along x; `zero` draws the line at 0.
fn dot_plot(caption: &str, x_label: &str, rows: &[DotRow], zero: bool) -> anyhow::Result<String> {
    let label_px = rows
        .iter()
        .map(|r| r.label.chars().count() as u32 * LABEL_CHAR_PX)
        .max()
        .unwrap_or(0)
        + 16;
    let height = PLOT_CHROME_PX + ROW_HEIGHT_PX * rows.len() as u32;
    // The range holds every run and mean; an interval wider than that (two
    // runs make t = 12.7) is cut at the plot's edge rather than squeezing
    // every run into a few pixels.
    let mut values: Vec<f64> = rows
        .iter()
        .flat_map(|r| {
            r.values
                .iter()
                .copied()
                .chain(r.interval.map(|(m, _, _)| m))
        })
        .collect();
    if zero {
        values.push(0.0);
    }
    let x_range = padded_range(values.into_iter());
    let n = rows.len() as f64;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (PLOT_WIDTH_PX, height)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(caption, ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(label_px)
            .build_cartesian_2d(x_range.clone(), -0.5..(n - 0.5))
            .map_err(plot_error)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(0)
            .max_light_lines(0)
            .bold_line_style(GRID_LINE)
            .x_desc(x_label)
            .x_label_formatter(&|x| format!("{x:.2}"))
            .draw()
            .map_err(plot_error)?;
        if zero {
            chart
                .draw_series(LineSeries::new(
                    [(0.0, -0.5), (0.0, n - 0.5)],
                    RGBColor(120, 120, 120).stroke_width(1),
                ))
                .map_err(plot_error)?;
        }
        for (index, row) in rows.iter().enumerate() {
            // The first row at the top.
            let y = n - 1.0 - index as f64;
            let colour = colour(index);
            // Runs spread a little up and down so equal values stay visible.
            let dots = row.values.iter().enumerate().map(|(k, &v)| {
                let jitter = ((k % 5) as f64 - 2.0) * 0.07;
                Circle::new((v, y + jitter), 3, colour.mix(0.6).filled())
            });
            chart.draw_series(dots).map_err(plot_error)?;
            if let Some((mean, low, high)) = row.interval {
                if low.is_finite() && high.is_finite() {
                    let clip = |v: f64| v.clamp(x_range.start, x_range.end);
                    chart
                        .draw_series(std::iter::once(ErrorBar::new_horizontal(
                            y - 0.3,
                            clip(low),
                            mean,
                            clip(high),
                            BLACK.stroke_width(2),
                            8,
                        )))
                        .map_err(plot_error)?;
                }
                chart
                    .draw_series(std::iter::once(Circle::new(
                        (mean, y - 0.3),
                        4,
                        BLACK.filled(),
                    )))
                    .map_err(plot_error)?;
            }
            let (_, pixel_y) = chart.backend_coord(&(x_range.start, y));
            root.draw_text(
                &row.label,
                &("sans-serif", LABEL_FONT_PX).into_text_style(&root),
                (14, pixel_y - LABEL_FONT_PX as i32 / 2),
            )
            .map_err(plot_error)?;
        }
        root.present().map_err(plot_error)?;
    }
    Ok(svg)
}

fn plot_error<E: std::error::Error + Send + Sync>(
    e: plotters::drawing::DrawingAreaErrorKind<E>,
) -> anyhow::Error {
    anyhow::anyhow!("drawing a plot: {e}")
}

/// The t interval of a mean over runs, as (mean, low, high).
fn mean_interval(values: &[f64]) -> Option<(f64, f64, f64)> {
    let d = PairedDifference::of(values)?;
    Some((d.mean, d.low, d.high))
}

/// Every run per arm with the arm's mean and 95 % interval.
fn runs_plot(findings: &Findings, metric: &Metric) -> anyhow::Result<String> {
    let rows: Vec<DotRow> = findings
        .arms()
        .iter()
        .enumerate()
        .map(|(index, arm)| {
            let values: Vec<f64> = findings
                .values(index, &metric.key)
                .into_iter()
                .map(|(_, v)| v)
                .collect();
            DotRow {
                label: arm.name.clone(),
                interval: mean_interval(&values),
                values,
            }
        })
        .filter(|row| !row.values.is_empty())
        .collect();
    dot_plot(
        &format!("{} — {}", findings.bench, metric.label),
        &metric.label,
        &rows,
        false,
    )
}

/// Every pairing's difference per comparison; None without comparisons.
fn paired_plot(findings: &Findings, metric: &Metric) -> anyhow::Result<Option<String>> {
    let names: Vec<&str> = findings.arms().iter().map(|a| a.name.as_str()).collect();
    let index = |name: &str| names.iter().position(|n| *n == name);
    let rows: Vec<DotRow> = findings
        .comparisons()
        .into_iter()
        .filter_map(|(arm, baseline)| {
            let (a, b) = (index(arm)?, index(baseline)?);
            let values: Vec<f64> = findings
                .differences(a, b, &metric.key)
                .into_iter()
                .map(|(_, d)| d)
                .collect();
            let d = findings.paired(a, b, &metric.key)?;
            Some(DotRow {
                label: super::findings::comparison_label(arm, baseline),
                values,
                interval: Some((d.mean, d.low, d.high)),
            })
        })
        .collect();
    if rows.is_empty() {
        return Ok(None);
    }
    dot_plot(
        &format!("{} — {}, paired differences", findings.bench, metric.label),
        &format!("difference in {}", metric.label),
        &rows,
        true,
    )
    .map(Some)
}

/// A point of a curve: x and the (mean, low, high) of its runs.
type CurvePoint = (f64, (f64, f64, f64));

/// Mean ± 95 % interval per series along the arms' x positions; None when
/// no arm has a position.
fn curve_plot(findings: &Findings, metric: &Metric) -> anyhow::Result<Option<String>> {
    let mut series: Vec<(String, Vec<CurvePoint>)> = Vec::new();
    for (index, arm) in findings.arms().iter().enumerate() {
        let Some(x) = arm.x else { continue };
        let values: Vec<f64> = findings
            .values(index, &metric.key)
            .into_iter()
            .map(|(_, v)| v)
            .collect();
        let Some(interval) = mean_interval(&values) else {
            continue;
        };
        match series.iter_mut().find(|(name, _)| *name == arm.series) {
            Some((_, points)) => points.push((x, interval)),
            None => series.push((arm.series.clone(), vec![(x, interval)])),
        }
    }
    if series.is_empty() {
        return Ok(None);
    }
    for (_, points) in &mut series {
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    let x_range = padded_range(series.iter().flat_map(|(_, p)| p.iter().map(|(x, _)| *x)));
    // As in the dot plots: the means set the range, intervals are cut at it.
    let y_range = padded_range(
        series
            .iter()
            .flat_map(|(_, p)| p.iter().map(|(_, (m, _, _))| *m)),
    );
    let clip = |v: f64| v.clamp(y_range.start, y_range.end);
    let mut svg = String::new();
    {
        let root =
            SVGBackend::with_string(&mut svg, (PLOT_WIDTH_PX, CURVE_HEIGHT_PX)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!("{} — {}", findings.bench, metric.label),
                ("sans-serif", 16),
            )
            .margin(12)
            .margin_right(LEGEND_WIDTH_PX)
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d(x_range.clone(), y_range.clone())
            .map_err(plot_error)?;
        chart
            .configure_mesh()
            .max_light_lines(0)
            .bold_line_style(GRID_LINE)
            .x_desc(findings.x_label.unwrap_or("x"))
            .y_desc(&metric.label)
            .x_label_formatter(&|x| format!("{x:.2}"))
            .y_label_formatter(&|y| format!("{y:.2}"))
            .draw()
            .map_err(plot_error)?;
        // Each series a little aside, so intervals at the same x stay apart.
        let x_span = x_range.end - x_range.start;
        let middle = (series.len() as f64 - 1.0) / 2.0;
        for (index, (name, points)) in series.iter().enumerate() {
            let colour = colour(index);
            let dodge = (index as f64 - middle) * 0.008 * x_span;
            chart
                .draw_series(LineSeries::new(
                    points.iter().map(|(x, (m, _, _))| (*x + dodge, *m)),
                    colour.stroke_width(2),
                ))
                .map_err(plot_error)?;
            // The legend in the right margin, clear of the curves.
            let (x, y) = (
                PLOT_WIDTH_PX as i32 - LEGEND_WIDTH_PX as i32 + 8,
                48 + 20 * index as i32,
            );
            root.draw(&PathElement::new(
                vec![(x, y), (x + 18, y)],
                colour.stroke_width(2),
            ))
            .map_err(plot_error)?;
            root.draw_text(
                name,
                &("sans-serif", LABEL_FONT_PX).into_text_style(&root),
                (x + 24, y - LABEL_FONT_PX as i32 / 2),
            )
            .map_err(plot_error)?;
            let bars = points
                .iter()
                .filter(|(_, (_, l, h))| l.is_finite() && h.is_finite())
                .map(|(x, (m, l, h))| {
                    ErrorBar::new_vertical(*x + dodge, clip(*l), *m, clip(*h), colour.filled(), 8)
                });
            chart.draw_series(bars).map_err(plot_error)?;
        }
        root.present().map_err(plot_error)?;
    }
    Ok(Some(svg))
}

#[cfg(test)]
mod tests {
    use super::super::findings::Pairing;
    use super::*;

    fn label_efficiency_like() -> Findings {
        let mut findings = Findings::new(
            "label-efficiency",
            "Label efficiency <demo>",
            vec![
                Metric::compared("auc", "AUC"),
                Metric::tabled("seconds", "s/run"),
            ],
        );
        findings.x_label = Some("labeled fraction");
        for (x, base, gain) in [(0.1, 0.6, 0.05), (0.2, 0.7, 0.01)] {
            let supervised = format!("{:.0} % supervised", x * 100.0);
            let mean_teacher = format!("{:.0} % mean teacher", x * 100.0);
            findings.arm_on_curve(&supervised, "supervised", Some(x));
            findings.arm_on_curve(&mean_teacher, "mean teacher", Some(x));
            for seed in 1..=3u64 {
                let wobble = seed as f64 * 0.01;
                findings.record(
                    &supervised,
                    Pairing::new(7, seed),
                    &[("auc", base + wobble), ("seconds", 3.0)],
                );
                findings.record(
                    &mean_teacher,
                    Pairing::new(7, seed),
                    &[("auc", base + gain + 2.0 * wobble)],
                );
            }
            findings.compare(&mean_teacher, &supervised);
        }
        findings
    }

    #[test]
    fn a_report_writes_its_page_its_plots_and_the_index() {
        let dir = std::env::temp_dir().join(format!("loupe-report-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let findings = label_efficiency_like();
        let written = write(&dir, &findings).expect("report written");
        let names: Vec<String> = written
            .svgs
            .iter()
            .filter_map(|p| Some(p.file_name()?.to_str()?.to_string()))
            .collect();
        // Only the compared metric is plotted: its runs, pairs and curve.
        assert_eq!(
            names,
            [
                "label-efficiency-auc-runs.svg",
                "label-efficiency-auc-paired.svg",
                "label-efficiency-auc-curve.svg"
            ]
        );
        let page = std::fs::read_to_string(&written.page).expect("page");
        // Escaped title, both tables, three inline SVGs, the paired cell of
        // 10 %: differences 0.06, 0.07, 0.08 → mean +0.070, sd 0.01,
        // half-width 4.303 · 0.01 / √3 = 0.0248.
        assert!(page.contains("Label efficiency &lt;demo&gt;"));
        assert_eq!(page.matches("<svg").count(), 3);
        assert!(page.contains("<td>+0.070 (+0.045 … +0.095)</td>"), "{page}");
        for svg in &written.svgs {
            let text = std::fs::read_to_string(svg).expect("svg");
            assert!(text.starts_with("<svg") && text.trim_end().ends_with("</svg>"));
        }
        let curve = std::fs::read_to_string(&written.svgs[2]).expect("curve");
        assert!(curve.contains("mean teacher") && curve.contains("supervised"));
        let json = std::fs::read_to_string(dir.join("label-efficiency.json")).expect("json");
        assert!(json.contains("\"paired\""));
        let index = std::fs::read_to_string(dir.join("index.html")).expect("index");
        assert!(index.contains("href=\"label-efficiency.html\""));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_bench_without_positions_or_comparisons_draws_only_its_runs() {
        let mut findings = Findings::new("kd", "kd", vec![Metric::compared("auc", "AUC")]);
        findings.record("student", Pairing::new(1, 1), &[("auc", 0.5)]);
        let metric = findings.metrics[0].clone();
        assert!(paired_plot(&findings, &metric).expect("drawn").is_none());
        assert!(curve_plot(&findings, &metric).expect("drawn").is_none());
        let svg = runs_plot(&findings, &metric).expect("drawn");
        assert!(svg.contains("student"));
    }
}
