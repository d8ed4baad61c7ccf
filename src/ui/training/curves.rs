//! The live curves, TensorBoard's way: one plot per group of series (the
//! part of a name before the first `/`), every named series a method
//! reports drawn with no code here knowing any method's terms. One colour
//! per model (student, teacher) and one line style per metric; a legend
//! under each plot whose entries switch series on and off; hovering a plot
//! lists every series' value at that epoch; per-step series smoothed on
//! request, losses on a log scale on request. The mouse wheel scrolls the
//! panel, never the plot: Ctrl+wheel zooms, dragging pans, a double click
//! resets. Compared runs are drawn beside the shown one in a colour each.

use std::collections::{BTreeMap, BTreeSet};

use egui::Color32;
use egui_plot::{Line, LineStyle, Plot, PlotPoints};

use crate::app::training::CurveView;
use crate::app::vocabulary::{EpochRecord, Scalars, series};
use crate::app::{Commands, TrainingCommand};

/// One run's series as the curves draw them.
pub struct CurveSource<'a> {
    /// Empty for the shown run; a compared run's short name otherwise.
    pub label: String,
    pub steps: &'a [(f64, Scalars)],
    pub epochs: &'a [EpochRecord],
}

/// Groups in the order a reader wants them; others follow by name.
const GROUP_ORDER: [&str; 6] = [
    "loss",
    "grad",
    "schedule",
    "optimizer",
    "metric",
    "validation",
];

fn group_title(group: &str) -> &str {
    match group {
        "loss" => "Loss terms",
        "grad" => "Gradients",
        "schedule" => "Schedules",
        "optimizer" => "Optimizer",
        "metric" => "Test pool",
        "validation" => "Validation split",
        other => other,
    }
}

/// Every series the runs have reported, by group: (name, reported per step).
pub fn series_groups(sources: &[CurveSource<'_>]) -> Vec<(String, Vec<(String, bool)>)> {
    let mut per_step: BTreeSet<&str> = BTreeSet::new();
    let mut names: BTreeSet<&str> = BTreeSet::new();
    for source in sources {
        for (_, values) in source.steps {
            per_step.extend(values.keys().map(String::as_str));
        }
        for record in source.epochs {
            names.extend(record.series.keys().map(String::as_str));
        }
    }
    names.extend(per_step.iter().copied());
    let mut groups: BTreeMap<(usize, &str), Vec<(String, bool)>> = BTreeMap::new();
    for name in names {
        let group = series::group(name);
        let rank = GROUP_ORDER
            .iter()
            .position(|g| *g == group)
            .unwrap_or(GROUP_ORDER.len());
        groups
            .entry((rank, group))
            .or_default()
            .push((name.to_string(), per_step.contains(name)));
    }
    groups
        .into_iter()
        .map(|((_, group), names)| (group.to_string(), names))
        .collect()
}

/// Colours of the models a method keeps (and of losses without a model).
const PALETTE: [Color32; 8] = [
    Color32::from_rgb(66, 135, 245),
    Color32::from_rgb(245, 145, 50),
    Color32::from_rgb(80, 190, 100),
    Color32::from_rgb(220, 80, 80),
    Color32::from_rgb(160, 110, 220),
    Color32::from_rgb(150, 110, 80),
    Color32::from_rgb(225, 120, 195),
    Color32::from_rgb(170, 170, 170),
];

/// Colours of compared runs (each its own, away from the models' two).
const RUN_PALETTE: [Color32; 4] = [
    Color32::from_rgb(80, 190, 100),
    Color32::from_rgb(160, 110, 220),
    Color32::from_rgb(220, 80, 80),
    Color32::from_rgb(225, 120, 195),
];

const STYLES: [LineStyle; 4] = [
    LineStyle::Solid,
    LineStyle::Dashed { length: 10.0 },
    LineStyle::Dotted { spacing: 5.0 },
    LineStyle::Dashed { length: 4.0 },
];

/// How a series of a group is drawn: `<group>/<model>/<metric>` takes its
/// model's colour (student, then teacher) and its metric's line style
/// (the metric's place among the group's metrics); a two-part name its own
/// colour, solid. A compared run (`run` > 0) takes its run's colour.
pub fn series_style(name: &str, group_names: &[String], run: usize) -> (Color32, LineStyle) {
    let parts: Vec<&str> = name.split('/').collect();
    let (colour, style) = if let [_, model, metric] = parts[..] {
        let model_colour = match model {
            "student" => 0,
            "teacher" => 1,
            other => 2 + other.bytes().map(usize::from).sum::<usize>() % (PALETTE.len() - 2),
        };
        let mut metrics: Vec<&str> = group_names
            .iter()
            .filter_map(|n| n.split('/').nth(2))
            .collect();
        metrics.sort_unstable();
        metrics.dedup();
        let style = metrics.iter().position(|m| *m == metric).unwrap_or(0);
        (PALETTE[model_colour], STYLES[style % STYLES.len()])
    } else {
        let index = group_names.iter().position(|n| n == name).unwrap_or(0);
        (PALETTE[index % PALETTE.len()], LineStyle::Solid)
    };
    match run {
        0 => (colour, style),
        n => (RUN_PALETTE[(n - 1) % RUN_PALETTE.len()], style),
    }
}

/// TensorBoard's smoothing: an exponential moving average with weight
/// `weight` on the past, debiased so the first points are not pulled to 0.
pub fn smoothed(points: &[[f64; 2]], weight: f64) -> Vec<[f64; 2]> {
    if weight <= 0.0 {
        return points.to_vec();
    }
    let mut average = 0.0;
    let mut kept = 1.0;
    points
        .iter()
        .map(|&[x, y]| {
            average = weight * average + (1.0 - weight) * y;
            kept *= weight;
            [x, average / (1.0 - kept)]
        })
        .collect()
}

/// A series' points: per step (x = epoch + fraction) or per epoch (x = epoch number).
/// A run read back from disk has no steps: its per-step series are drawn
/// by their epoch means, which every epoch record keeps.
fn points(source: &CurveSource<'_>, name: &str, per_step: bool) -> Vec<[f64; 2]> {
    if per_step && !source.steps.is_empty() {
        source
            .steps
            .iter()
            .filter_map(|(x, values)| values.get(name).map(|v| [*x, *v]))
            .collect()
    } else {
        source
            .epochs
            .iter()
            .filter_map(|e| e.series.get(name).map(|v| [e.epoch as f64 + 1.0, *v]))
            .collect()
    }
}

/// The point of `points` (sorted by x) nearest to `x`.
fn nearest(points: &[[f64; 2]], x: f64) -> Option<[f64; 2]> {
    let after = points.partition_point(|p| p[0] < x);
    [after.checked_sub(1), Some(after)]
        .into_iter()
        .flatten()
        .filter_map(|i| points.get(i).copied())
        .min_by(|a, b| (a[0] - x).abs().total_cmp(&(b[0] - x).abs()))
}

/// One drawn series: its legend name, style and points (as drawn, and as reported).
struct Drawn {
    name: String,
    series: String,
    colour: Color32,
    style: LineStyle,
    shown: Vec<[f64; 2]>,
    values: Vec<[f64; 2]>,
}

/// The curve view's controls, then one plot per group with its legend.
pub fn curves_ui(
    ui: &mut egui::Ui,
    sources: &[CurveSource<'_>],
    view: &CurveView,
    commands: &mut Commands,
) {
    view_controls_ui(ui, view, commands);
    for (group, names) in series_groups(sources) {
        let per_step = names.iter().any(|(_, s)| *s);
        let log = view.log_losses && group == "loss";
        let group_names: Vec<String> = names.iter().map(|(n, _)| n.clone()).collect();
        let mut drawn: Vec<Drawn> = Vec::new();
        for (run, source) in sources.iter().enumerate() {
            for (name, step_level) in &names {
                let values = points(source, name, *step_level);
                if values.is_empty() {
                    continue;
                }
                // Smoothing is for steps; epoch means are smooth already.
                let mut shown = if *step_level && !source.steps.is_empty() {
                    smoothed(&values, view.smoothing)
                } else {
                    values.clone()
                };
                if log {
                    shown.retain(|p| p[1] > 0.0);
                    shown.iter_mut().for_each(|p| p[1] = p[1].log10());
                }
                let (colour, style) = series_style(name, &group_names, run);
                let short = name.split_once('/').map_or(name.as_str(), |(_, rest)| rest);
                drawn.push(Drawn {
                    name: if source.label.is_empty() {
                        short.to_string()
                    } else {
                        format!("{} · {short}", source.label)
                    },
                    series: name.clone(),
                    colour,
                    style,
                    shown,
                    values,
                });
            }
        }
        let unit = if per_step { "per step" } else { "per epoch" };
        let scale = if log { ", log scale" } else { "" };
        ui.label(egui::RichText::new(format!("{} ({unit}{scale})", group_title(&group))).strong());
        plot_ui(ui, &group, &drawn, view, log);
        legend_ui(ui, &drawn, view, commands);
        ui.add_space(6.0);
    }
}

/// Smoothing and the log scale, and how to zoom.
fn view_controls_ui(ui: &mut egui::Ui, view: &CurveView, commands: &mut Commands) {
    let mut changed = view.clone();
    ui.horizontal_wrapped(|ui| {
        let label = ui.label("Smoothing");
        ui.add(egui::Slider::new(
            &mut changed.smoothing,
            0.0..=CurveView::MAX_SMOOTHING,
        ))
        .labelled_by(label.id)
        .on_hover_text("Exponential moving average of per-step series (TensorBoard's)");
        ui.checkbox(&mut changed.log_losses, "Log scale for losses");
        ui.weak("Ctrl+wheel zooms a plot, drag pans, double-click resets");
    });
    if &changed != view {
        commands.push(TrainingCommand::SetCurveView(changed));
    }
}

/// The id of a group's plot (its zoom and pan are kept under it).
pub fn plot_id(group: &str) -> egui::Id {
    egui::Id::unique(("training_curves", group))
}

fn plot_ui(ui: &mut egui::Ui, group: &str, drawn: &[Drawn], view: &CurveView, log: bool) {
    let mut plot = Plot::new(("series", group))
        .id(plot_id(group))
        .height(150.0)
        .x_axis_label("epoch")
        // The wheel belongs to the panel's scrolling; Ctrl+wheel zooms.
        .allow_scroll(false)
        .allow_zoom(true)
        .allow_double_click_reset(true)
        .show_x(false)
        .show_y(false);
    if log {
        plot = plot.y_axis_formatter(|mark, _| format!("{:.3e}", 10f64.powf(mark.value)));
    }
    let shown: Vec<&[[f64; 2]]> = drawn
        .iter()
        .filter(|d| !view.hidden.contains(&d.series))
        .map(|d| d.shown.as_slice())
        .collect();
    if let Some((low, high)) = flat_y_bounds(&shown) {
        plot = plot.include_y(low).include_y(high);
    }
    let response = plot.show(ui, |plot| {
        for series in drawn.iter().filter(|d| !view.hidden.contains(&d.series)) {
            plot.line(
                Line::new(series.name.clone(), PlotPoints::from(series.shown.clone()))
                    .color(series.colour)
                    .style(series.style),
            );
        }
    });
    if let Some(pointer) = response.response.hover_pos() {
        let x = response.transform.value_from_position(pointer).x;
        let visible: Vec<&Drawn> = drawn
            .iter()
            .filter(|d| !view.hidden.contains(&d.series))
            .collect();
        response.response.on_hover_ui_at_pointer(|ui| {
            hover_values_ui(ui, &visible, x);
        });
    }
}

/// The y range a plot must show when everything it draws is flat (a spread
/// below a millionth of the values' size): the values ± 10 % (± 1 about 0).
/// Left to itself the plot stretches a constant's rounding noise — a
/// learning rate without decay, smoothed, varies in its 19th digit — over
/// its whole height, and a constant looks like a signal jumping between
/// two levels (seen on a segmentation run's learning rate).
fn flat_y_bounds(series: &[&[[f64; 2]]]) -> Option<(f64, f64)> {
    let mut ys = series
        .iter()
        .flat_map(|points| points.iter().map(|p| p[1]))
        .filter(|y| y.is_finite())
        .peekable();
    ys.peek()?;
    let (low, high) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), y| {
        (lo.min(y), hi.max(y))
    });
    let size = low.abs().max(high.abs());
    if high - low > 1e-6 * size {
        return None;
    }
    let centre = (low + high) / 2.0;
    let margin = if size > 0.0 { 0.1 * size } else { 1.0 };
    Some((centre - margin, centre + margin))
}

/// Every visible series' reported value nearest the pointer's epoch.
fn hover_values_ui(ui: &mut egui::Ui, drawn: &[&Drawn], x: f64) {
    let Some(at) = drawn
        .iter()
        .filter_map(|d| nearest(&d.values, x))
        .min_by(|a, b| (a[0] - x).abs().total_cmp(&(b[0] - x).abs()))
    else {
        return;
    };
    ui.label(format!("epoch {:.2}", at[0]));
    egui::Grid::new("hover_values").show(ui, |ui| {
        for series in drawn {
            if let Some(point) = nearest(&series.values, at[0]) {
                ui.colored_label(series.colour, &series.name);
                ui.label(format!("{:.4}", point[1]));
                ui.end_row();
            }
        }
    });
}

/// A line sample per series and its name; a click switches it on or off.
fn legend_ui(ui: &mut egui::Ui, drawn: &[Drawn], view: &CurveView, commands: &mut Commands) {
    ui.horizontal_wrapped(|ui| {
        for series in drawn {
            let on = !view.hidden.contains(&series.series);
            let (rect, _) = ui.allocate_exact_size(egui::vec2(22.0, 12.0), egui::Sense::hover());
            let colour = if on {
                series.colour
            } else {
                ui.visuals().weak_text_color()
            };
            let y = rect.center().y;
            let stroke = egui::Stroke::new(2.0, colour);
            match series.style {
                LineStyle::Solid => {
                    ui.painter().line_segment(
                        [egui::pos2(rect.left(), y), egui::pos2(rect.right(), y)],
                        stroke,
                    );
                }
                LineStyle::Dashed { length } => {
                    let mut x = rect.left();
                    while x < rect.right() {
                        let end = (x + length * 0.6).min(rect.right());
                        ui.painter()
                            .line_segment([egui::pos2(x, y), egui::pos2(end, y)], stroke);
                        x += length;
                    }
                }
                LineStyle::Dotted { spacing } => {
                    let mut x = rect.left();
                    while x <= rect.right() {
                        ui.painter().circle_filled(egui::pos2(x, y), 1.2, colour);
                        x += spacing;
                    }
                }
            }
            let text = if on {
                egui::RichText::new(&series.name)
            } else {
                egui::RichText::new(&series.name).weak().strikethrough()
            };
            if ui
                .selectable_label(false, text)
                .on_hover_text("Click to show or hide this series")
                .clicked()
            {
                let mut changed = view.clone();
                if on {
                    changed.hidden.insert(series.series.clone());
                } else {
                    changed.hidden.remove(&series.series);
                }
                commands.push(TrainingCommand::SetCurveView(changed));
            }
        }
    });
}

/// The latest value of every series of the shown run.
pub fn latest_values_ui(ui: &mut egui::Ui, source: &CurveSource<'_>) {
    let mut latest: Vec<(String, f64)> = Vec::new();
    for (_, names) in series_groups(std::slice::from_ref(source)) {
        for (name, per_step) in names {
            if let Some(point) = points(source, &name, per_step).last() {
                latest.push((name, point[1]));
            }
        }
    }
    if latest.is_empty() {
        return;
    }
    egui::CollapsingHeader::new("Latest values")
        .default_open(false)
        .show(ui, |ui| {
            egui::Grid::new("latest_values")
                .striped(true)
                .show(ui, |ui| {
                    for (name, value) in &latest {
                        ui.label(name);
                        ui.label(format!("{value:.4}"));
                        ui.end_row();
                    }
                });
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flat_series_is_shown_with_room_and_a_varying_one_as_it_is() {
        // A constant learning rate after smoothing: 0.001 give or take 1e-19.
        let constant: Vec<[f64; 2]> = (0..50)
            .map(|i| [i as f64, 0.001 + if i % 2 == 0 { 2e-19 } else { -2e-19 }])
            .collect();
        let (low, high) = flat_y_bounds(&[&constant]).expect("flat");
        assert!((low - 0.0009).abs() < 1e-12 && (high - 0.0011).abs() < 1e-12);
        let zeros = [[0.0, 0.0], [1.0, 0.0]];
        assert_eq!(flat_y_bounds(&[&zeros]), Some((-1.0, 1.0)));
        let falling = [[0.0, 1.0], [1.0, 0.5]];
        assert_eq!(flat_y_bounds(&[&constant, &falling]), None);
        assert_eq!(flat_y_bounds(&[]), None);
    }

    #[test]
    fn smoothing_is_a_debiased_moving_average() {
        let flat = smoothed(&[[1.0, 2.0], [2.0, 2.0], [3.0, 2.0]], 0.9);
        for p in &flat {
            assert!((p[1] - 2.0).abs() < 1e-12, "a constant stays put: {flat:?}");
        }
        // w = 0.5 over 0, 1: s1 = 0, s2 = 0.5 · 0 + 0.5 · 1 = 0.5, debiased / (1 − 0.25).
        let steps = smoothed(&[[1.0, 0.0], [2.0, 1.0]], 0.5);
        assert!((steps[0][1] - 0.0).abs() < 1e-12);
        assert!((steps[1][1] - 0.5 / 0.75).abs() < 1e-12, "{steps:?}");
        assert_eq!(smoothed(&[[1.0, 3.0]], 0.0), vec![[1.0, 3.0]]);
    }

    #[test]
    fn a_model_keeps_its_colour_and_a_metric_its_line_style() {
        let names: Vec<String> = [
            "metric/student/accuracy",
            "metric/student/auc",
            "metric/teacher/accuracy",
            "metric/teacher/auc",
        ]
        .map(String::from)
        .to_vec();
        let style = |n: &str| series_style(n, &names, 0);
        assert_eq!(
            style(&names[0]).0,
            style(&names[1]).0,
            "one colour per model"
        );
        assert_ne!(style(&names[0]).0, style(&names[2]).0);
        assert_eq!(
            style(&names[0]).1,
            style(&names[2]).1,
            "one style per metric"
        );
        assert_ne!(style(&names[0]).1, style(&names[1]).1);
        // A compared run is drawn in its own colour, its metrics styled alike.
        assert_ne!(series_style(&names[0], &names, 1).0, style(&names[0]).0);
        assert_eq!(series_style(&names[1], &names, 1).1, style(&names[1]).1);
    }

    #[test]
    fn hover_reads_the_nearest_point() {
        let points = [[1.0, 10.0], [2.0, 20.0], [3.0, 30.0]];
        assert_eq!(nearest(&points, 2.4), Some([2.0, 20.0]));
        assert_eq!(nearest(&points, 2.6), Some([3.0, 30.0]));
        assert_eq!(nearest(&points, -5.0), Some([1.0, 10.0]));
        assert_eq!(nearest(&points, 9.0), Some([3.0, 30.0]));
        assert_eq!(nearest(&[], 1.0), None);
    }
}
