//! Past runs as a table (date, method, model, inputs, epochs, chosen epoch,
//! test metrics, status, parent) sortable by any column, with *compare*
//! (their curves beside the shown run's, final metrics side by side) and
//! *delete* (confirmed, naming the runs that came from it); and the shown
//! run's reported test metrics: Dice per region for a run that segments,
//! else the confusion matrix and the ROC per class with its AUC — for the
//! window's run and for any past run alike.

use egui_plot::{Line, Plot, PlotPoints};

use crate::app::training::RunColumn;
use crate::app::vocabulary::{self, EyeMetrics, Metrics};
use crate::app::{AppState, Commands, TrainingCommand};

/// The runs table, with the delete confirmation when one is asked for.
pub fn runs_table_ui(ui: &mut egui::Ui, state: &AppState, commands: &mut Commands) {
    let training = &state.training;
    let rows = training.run_rows();
    if rows.is_empty() {
        ui.weak("No runs yet: press Start, and each run is listed here.");
        return;
    }
    let asked = ui.scope_id().with("delete_run_asked");
    let mut delete: Option<String> = ui.data(|d| d.get_temp(asked));
    egui::ScrollArea::both()
        .id_salt("runs_table")
        .max_height(220.0)
        .auto_shrink([false, true])
        .show(ui, |ui| {
            egui::Grid::new("runs")
                .striped(true)
                .min_col_width(0.0)
                .show(ui, |ui| {
                    ui.label("")
                        .on_hover_text("Compare: draw beside the shown run");
                    ui.label("");
                    for column in RunColumn::ALL {
                        let order = training.run_order;
                        ui.horizontal(|ui| {
                            ui.spacing_mut().item_spacing.x = 2.0;
                            if ui
                                .add(
                                    egui::Button::new(egui::RichText::new(column.title()).strong())
                                        .frame(false),
                                )
                                .on_hover_text("Sort by this column (again: the other way)")
                                .clicked()
                            {
                                commands.push(TrainingCommand::SortRuns(column));
                            }
                            if order.column == column {
                                sort_arrow(ui, order.descending);
                            }
                        });
                    }
                    ui.end_row();
                    for row in &rows {
                        let mut on = training.compare.contains(&row.id);
                        let tick = ui.checkbox(&mut on, "");
                        // Named for screen readers (and tests): the box has no text.
                        let name = format!("Compare {}", row.id);
                        tick.widget_info(|| {
                            egui::WidgetInfo::selected(
                                egui::accesskit::Role::CheckBox,
                                true,
                                on,
                                &name,
                            )
                        });
                        if tick
                            .on_hover_text(
                                "Draw this run's curves and metrics beside the shown run's",
                            )
                            .changed()
                        {
                            commands.push(TrainingCommand::Compare {
                                run: row.id.clone(),
                                on,
                            });
                        }
                        // At the row's start, in sight however wide the table scrolls.
                        let going = matches!(row.status.as_str(), "running" | "paused");
                        if ui
                            .add_enabled(!going, egui::Button::new("Delete").small())
                            .on_hover_text(format!("Delete run {} and its checkpoints", row.id))
                            .clicked()
                        {
                            delete = Some(row.id.clone());
                        }
                        for column in RunColumn::ALL {
                            let cell = column.cell(row);
                            if column == RunColumn::Started {
                                let selected = training.selected.as_deref() == Some(&row.id);
                                if ui
                                    .selectable_label(selected, cell)
                                    .on_hover_text(format!("Show run {}", row.id))
                                    .clicked()
                                {
                                    let choice = (!selected).then(|| row.id.clone());
                                    commands.push(TrainingCommand::Select(choice));
                                }
                            } else {
                                ui.label(cell);
                            }
                        }
                        ui.end_row();
                    }
                });
            // Room for the floating horizontal scroll bar, which would
            // otherwise lie over the last row and take its clicks.
            ui.add_space(14.0);
        });
    if let Some(id) = delete.clone() {
        let dependents = vocabulary::run_dependents(&training.past_runs, &id);
        ui.group(|ui| {
            ui.label(format!(
                "Delete run {id}? Its folder (checkpoints, metrics, predictions) is removed."
            ));
            if !dependents.is_empty() {
                ui.colored_label(
                    ui.visuals().warn_fg_color,
                    format!(
                        "{} started from it, distil from it or take its slices; they keep \
                         their results but their source will be gone.",
                        dependents.join(", ")
                    ),
                );
            }
            ui.horizontal(|ui| {
                if ui.button("Delete run").clicked() {
                    commands.push(TrainingCommand::DeleteRun(id.clone()));
                    delete = None;
                }
                if ui.button("Cancel").clicked() {
                    delete = None;
                }
            });
        });
    }
    ui.data_mut(|d| match delete {
        Some(id) => {
            d.insert_temp(asked, id);
        }
        None => d.remove::<String>(asked),
    });
}

/// A small triangle beside the sorted column's title: down for high (or
/// newest) first. Painted, so it needs no font to have the glyph.
fn sort_arrow(ui: &mut egui::Ui, descending: bool) {
    let (rect, _) = ui.allocate_exact_size(egui::vec2(8.0, 8.0), egui::Sense::hover());
    let (top, bottom) = (rect.top(), rect.bottom());
    let points = if descending {
        vec![
            rect.left_top(),
            rect.right_top(),
            egui::pos2(rect.center().x, bottom),
        ]
    } else {
        vec![
            rect.left_bottom(),
            rect.right_bottom(),
            egui::pos2(rect.center().x, top),
        ]
    };
    let colour = ui.visuals().strong_text_color();
    ui.painter().add(egui::Shape::convex_polygon(
        points,
        colour,
        egui::Stroke::NONE,
    ));
}

/// A short line in a legend's colour.
pub fn swatch(ui: &mut egui::Ui, colour: egui::Color32) {
    let (rect, _) = ui.allocate_exact_size(egui::vec2(16.0, 10.0), egui::Sense::hover());
    let y = rect.center().y;
    ui.painter().line_segment(
        [egui::pos2(rect.left(), y), egui::pos2(rect.right(), y)],
        egui::Stroke::new(2.5, colour),
    );
}

/// The compared runs' reported metrics side by side (the shown run first).
pub fn compare_table_ui(ui: &mut egui::Ui, runs: &[(String, Option<&Metrics>)]) {
    if runs.len() < 2 {
        return;
    }
    ui.label(egui::RichText::new("Final test metrics").strong());
    let cell = |v: Option<f64>| v.map_or("–".to_string(), |v| format!("{v:.3}"));
    type Read = fn(&Metrics) -> Option<f64>;
    let rows: [(&str, Read); 6] = [
        ("accuracy", |m| m.dice.is_none().then_some(m.accuracy)),
        ("AUC", |m| m.auc),
        ("F1", |m| m.dice.is_none().then_some(m.f1)),
        ("kappa", |m| m.kappa),
        ("Dice (mean)", |m| m.dice.map(|d| d.mean)),
        ("Dice ET", |m| m.dice.map(|d| d.et)),
    ];
    egui::ScrollArea::horizontal()
        .id_salt("compare_table")
        .show(ui, |ui| {
            egui::Grid::new("compare").striped(true).show(ui, |ui| {
                ui.label("");
                for (name, _) in runs {
                    ui.strong(name);
                }
                ui.end_row();
                for (title, read) in rows {
                    if runs.iter().all(|(_, m)| m.and_then(read).is_none()) {
                        continue;
                    }
                    ui.label(title);
                    for (_, metrics) in runs {
                        ui.label(cell(metrics.and_then(read)));
                    }
                    ui.end_row();
                }
            });
        });
}

/// The shown run's reported test metrics: Dice per region for a run that
/// segments (student and teacher), else the confusion matrix and the ROC
/// of the model that predicts.
pub fn test_metrics_ui(
    ui: &mut egui::Ui,
    student: &Metrics,
    teacher: Option<&Metrics>,
    classes: &[String],
) {
    if let Some(dice) = student.dice {
        ui.label(egui::RichText::new("Test Dice (BraTS regions, per case then averaged)").strong());
        egui::Grid::new("dice").striped(true).show(ui, |ui| {
            for title in ["", "WT", "TC", "ET", "mean"] {
                ui.strong(title);
            }
            ui.end_row();
            let teacher = teacher.and_then(|t| t.dice);
            for (who, dice) in [("student", Some(dice)), ("teacher", teacher)] {
                if let Some(d) = dice {
                    ui.label(who);
                    for v in [d.wt, d.tc, d.et, d.mean] {
                        ui.label(format!("{v:.3}"));
                    }
                    ui.end_row();
                }
            }
        });
        return;
    }
    let (metrics, model) = match teacher {
        Some(t) => (t, "teacher"),
        None => (student, "student"),
    };
    if metrics.confusion.is_empty() {
        return;
    }
    let name = |c: usize| classes.get(c).cloned().unwrap_or_else(|| c.to_string());
    ui.label(
        egui::RichText::new(format!(
            "Confusion ({model}; rows truth, columns predicted)"
        ))
        .strong(),
    );
    egui::Grid::new("confusion").striped(true).show(ui, |ui| {
        ui.label("");
        for c in 0..metrics.confusion.len() {
            ui.strong(name(c))
                .on_hover_text(format!("predicted {}", name(c)));
        }
        ui.end_row();
        for (t, row) in metrics.confusion.iter().enumerate() {
            ui.strong(name(t))
                .on_hover_text(format!("truth {}", name(t)));
            for count in row {
                ui.label(count.to_string());
            }
            ui.end_row();
        }
    });
    ui.add_space(4.0);
    ui.label(egui::RichText::new(format!("ROC per class ({model}, one vs rest)")).strong());
    roc_ui(ui, metrics, &name);
}

/// The ROC of each class that has positives and negatives in the test
/// pool, with its AUC in the legend; the others said, not drawn.
fn roc_ui(ui: &mut egui::Ui, metrics: &Metrics, name: &dyn Fn(usize) -> String) {
    let total: usize = metrics.confusion.iter().flatten().sum();
    let colours = [
        egui::Color32::from_rgb(66, 135, 245),
        egui::Color32::from_rgb(245, 145, 50),
        egui::Color32::from_rgb(80, 190, 100),
        egui::Color32::from_rgb(220, 80, 80),
        egui::Color32::from_rgb(160, 110, 220),
        egui::Color32::from_rgb(150, 110, 80),
    ];
    let mut drawn = Vec::new();
    let mut missing = Vec::new();
    for c in 0..metrics.confusion.len() {
        let positives: usize = metrics.confusion.get(c).map_or(0, |r| r.iter().sum());
        let auc = metrics.auc_per_class.get(c).copied().flatten();
        match (positives, auc, metrics.roc.get(c)) {
            (0, _, _) => missing.push(format!("{}: no positives in the test pool", name(c))),
            (p, _, _) if p == total => {
                missing.push(format!("{}: no negatives in the test pool", name(c)))
            }
            (_, Some(auc), Some(points)) if !points.is_empty() => drawn.push((
                format!("{} · AUC {auc:.3}", name(c)),
                colours[c % colours.len()],
                points,
            )),
            _ => missing.push(format!("{}: no curve recorded", name(c))),
        }
    }
    ui.horizontal_top(|ui| {
        Plot::new("roc")
            .width(200.0)
            .height(200.0)
            .data_aspect(1.0)
            .x_axis_label("false positive rate")
            .y_axis_label("true positive rate")
            .include_x(0.0)
            .include_x(1.0)
            .include_y(0.0)
            .include_y(1.0)
            .allow_scroll(false)
            .show_x(false)
            .show_y(false)
            .show(ui, |plot| {
                plot.line(
                    Line::new("chance", PlotPoints::from(vec![[0.0, 0.0], [1.0, 1.0]]))
                        .color(egui::Color32::GRAY)
                        .style(egui_plot::LineStyle::dotted_dense()),
                );
                for (title, colour, points) in &drawn {
                    let xy: Vec<[f64; 2]> = points.iter().map(|(x, y)| [*x, *y]).collect();
                    plot.line(Line::new(title.clone(), PlotPoints::from(xy)).color(*colour));
                }
            });
        ui.vertical(|ui| {
            for (title, colour, _) in &drawn {
                ui.horizontal(|ui| {
                    swatch(ui, *colour);
                    ui.label(title);
                });
            }
            for why in &missing {
                ui.weak(why);
            }
        });
    });
}

/// A finished run's eye-level test metrics.
pub fn eye_metrics_ui(ui: &mut egui::Ui, eye: &EyeMetrics) {
    let or_dash = |v: Option<f64>| v.map_or("–".to_string(), |v| format!("{v:.3}"));
    ui.label(format!(
        "Eye level: {} test eyes, {} referral-warranted ({} pooling)",
        eye.eyes, eye.referral_eyes, eye.pooling
    ));
    egui::Grid::new("eye-metrics").striped(true).show(ui, |ui| {
        for (name, value) in [
            ("Stage accuracy", format!("{:.3}", eye.accuracy)),
            ("Referral-warranted AUC", or_dash(eye.referral_auc)),
            (
                "Sensitivity at 90 % specificity",
                or_dash(eye.sensitivity_at_90_specificity),
            ),
        ] {
            ui.label(name);
            ui.strong(value);
            ui.end_row();
        }
    });
}

/// "Started from …" for the run the panel shows, nearest parent first.
pub fn lineage_ui(ui: &mut egui::Ui, state: &AppState) {
    let training = &state.training;
    if training.lineage.is_empty() {
        return;
    }
    let root = state.session.as_ref().map(|s| s.project.root());
    let here: Option<&Vec<String>> = state
        .session
        .as_ref()
        .map(|s| &s.project.schema().target_field().values);
    let mut classes = here;
    for (depth, ancestor) in training.lineage.iter().enumerate() {
        let name = match root {
            Some(root) => ancestor.run.describe(root),
            None => ancestor.run.run.clone(),
        };
        let note = if ancestor.missing {
            " (cannot be read)".to_string()
        } else if classes.is_some_and(|c| c != &ancestor.classes) {
            format!(" ({} classes: new head)", ancestor.classes.len())
        } else {
            String::new()
        };
        let lead = if depth == 0 {
            "Started from"
        } else {
            "which started from"
        };
        ui.weak(format!("{lead} {name}{note}"));
        classes = Some(&ancestor.classes);
    }
}
