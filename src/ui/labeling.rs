//! The labeling panel: one button per value with its hotkey, the labels of
//! other annotators side by side, adjudication, unsure and note, navigation.

use crate::app::project::ItemRow;
use crate::app::vocabulary::{ADJUDICATOR, Remark};
use crate::app::{AppState, Commands, LabelingCommand, ProjectSession, WindowCommand};

pub fn labeling_ui(
    ui: &mut egui::Ui,
    state: &AppState,
    session: &ProjectSession,
    note_draft: &mut String,
    commands: &mut Commands,
) {
    let schema = session.project.schema();
    let annotator = &state.settings.annotator;
    let Some(row) = session.selected_row() else {
        ui.label("No item selected.");
        return;
    };
    ui.heading(row.file_name());
    ui.label(format!(
        "item {} · {} pool{}",
        row.item.id,
        row.item.pool.as_str(),
        if row.missing { " · FILE MISSING" } else { "" }
    ));
    if let Some(overlay) = state.document.as_ref().and_then(|d| d.crop.as_ref()) {
        crop_line(ui, state, overlay, commands);
    }
    ui.horizontal(|ui| {
        if ui
            .button("< Previous")
            .on_hover_text("K or the left arrow key")
            .clicked()
        {
            commands.push(LabelingCommand::StepItem(-1));
        }
        if ui
            .button("Next >")
            .on_hover_text("J or the right arrow key")
            .clicked()
        {
            commands.push(LabelingCommand::StepItem(1));
        }
        if ui.button("Next unlabeled").on_hover_text("N").clicked() {
            commands.push(LabelingCommand::NextUnlabeled);
        }
    });
    if row.case.is_some() {
        modality_line(ui, session, row, commands);
        slice_pick_ui(ui, session, row, commands);
        map_view_ui(ui, state, commands);
    }
    let in_test = row.item.pool == crate::app::vocabulary::Pool::Test;
    let move_text = if in_test {
        "Move back to training"
    } else {
        "Move to test pool"
    };
    if ui
        .small_button(move_text)
        .on_hover_text("Test items are evaluated on, never trained on")
        .clicked()
    {
        commands.push(LabelingCommand::SetTest(!in_test));
    }
    let mut auto_advance = session.auto_advance;
    if ui
        .checkbox(&mut auto_advance, "Auto-advance after a target label")
        .changed()
    {
        commands.push(LabelingCommand::SetAutoAdvance(auto_advance));
    }
    ui.separator();

    if let Some(prediction) = session.predictions.get(&row.item.id) {
        let values = &schema.target_field().values;
        let best = prediction
            .probabilities
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1));
        if let Some((index, probability)) = best {
            let name = values
                .get(index)
                .cloned()
                .unwrap_or_else(|| index.to_string());
            ui.label(format!(
                "Model suggests: {name} ({:.0} %)",
                probability * 100.0
            ))
            .on_hover_text(format!(
                "run {} · entropy {:.3}{}{}",
                prediction.run,
                prediction.entropy,
                prediction
                    .mc_dropout_entropy
                    .map_or(String::new(), |e| format!(" · MC-dropout {e:.3}")),
                prediction
                    .disagreement
                    .map_or(String::new(), |d| format!(" · student–teacher {d:.3}"))
            ));
        }
        ui.separator();
    }
    let mine = row.labels.get(annotator);
    for field in &schema.fields {
        let current = mine.and_then(|f| f.get(&field.name));
        let is_target = field.name == schema.target;
        ui.horizontal(|ui| {
            ui.strong(&field.name);
            if is_target {
                ui.weak("(target)");
            }
            if current.is_some() && ui.small_button("clear").clicked() {
                commands.push(LabelingCommand::SetLabel {
                    field: field.name.clone(),
                    value: None,
                });
            }
        });
        ui.horizontal_wrapped(|ui| {
            for (index, value) in field.values.iter().enumerate() {
                let text = match schema.hotkey(field, index) {
                    Some(key) => format!("{} {value}", key.to_ascii_uppercase()),
                    None => value.clone(),
                };
                let selected = current == Some(value);
                if ui.selectable_label(selected, text).clicked() && !selected {
                    commands.push(LabelingCommand::SetLabel {
                        field: field.name.clone(),
                        value: Some(value.clone()),
                    });
                }
            }
        });
    }
    if row.case.is_some() && !schema.tabular.is_empty() {
        ui.separator();
        record_ui(ui, session, row, commands);
        explanation_ui(ui, state, row, commands);
    }
    ui.separator();
    others_ui(ui, session, row, annotator, commands);
    ui.separator();

    let remark = row.remarks.get(annotator).cloned().unwrap_or_default();
    let mut unsure = remark.unsure;
    if ui.checkbox(&mut unsure, "Unsure").changed() {
        commands.push(LabelingCommand::SetRemark(Remark {
            unsure,
            note: remark.note.clone(),
        }));
    }
    let label = ui.label("Note");
    let response = ui
        .add(
            egui::TextEdit::multiline(note_draft)
                .desired_rows(2)
                .hint_text("free text, saved when you leave the field"),
        )
        .labelled_by(label.id);
    if response.lost_focus() && *note_draft != remark.note {
        commands.push(LabelingCommand::SetRemark(Remark {
            unsure: remark.unsure,
            note: note_draft.clone(),
        }));
    }
}

/// Every annotator's labels on this item in a table, with agreement and adjudication.
fn others_ui(
    ui: &mut egui::Ui,
    session: &ProjectSession,
    row: &ItemRow,
    annotator: &str,
    commands: &mut Commands,
) {
    let schema = session.project.schema();
    if row.labels.is_empty() {
        ui.weak("No labels yet.");
        return;
    }
    egui::Grid::new("labels_by_annotator")
        .striped(true)
        .show(ui, |ui| {
            ui.strong("annotator");
            for field in &schema.fields {
                ui.strong(&field.name);
            }
            ui.end_row();
            for (name, values) in &row.labels {
                let who = if name == annotator {
                    format!("{name} (you)")
                } else {
                    name.clone()
                };
                ui.label(who);
                for field in &schema.fields {
                    ui.label(values.get(&field.name).map_or("—", |v| v.as_str()));
                }
                let remark = row.remarks.get(name);
                if let Some(r) = remark.filter(|r| r.unsure || !r.note.is_empty()) {
                    ui.weak(format!(
                        "{}{}",
                        if r.unsure { "unsure " } else { "" },
                        r.note
                    ));
                }
                ui.end_row();
            }
        });
    for field in &schema.fields {
        if !row.disagrees(&field.name) {
            continue;
        }
        let adjudicated = row.labels.get(ADJUDICATOR).and_then(|f| f.get(&field.name));
        ui.colored_label(
            ui.visuals().warn_fg_color,
            format!("Annotators disagree on {}.", field.name),
        );
        ui.horizontal_wrapped(|ui| {
            ui.label("Adjudicate:");
            for value in &field.values {
                if ui
                    .selectable_label(adjudicated == Some(value), value)
                    .clicked()
                {
                    commands.push(LabelingCommand::Adjudicate {
                        field: field.name.clone(),
                        value: Some(value.clone()),
                    });
                }
            }
        });
    }
}

/// The crop training uses for this image, and going back to the automatic one.
fn crop_line(
    ui: &mut egui::Ui,
    state: &AppState,
    overlay: &crate::app::document::CropOverlay,
    commands: &mut Commands,
) {
    let describe = |b: [u32; 4]| format!("x {}–{}, y {}–{}", b[0], b[2], b[1], b[3]);
    ui.horizontal_wrapped(|ui| match (overlay.corrected, &overlay.automatic) {
        (Some(b), _) => {
            ui.label(format!("Crop (corrected): {}", describe(b)));
            if ui
                .small_button("Use automatic crop")
                .on_hover_text("Drop the correction; training uses the automatic box again")
                .clicked()
                && let Some(document) = &state.document
            {
                let [w, h, _] = document.volume.spatial_shape();
                commands.push(LabelingCommand::SetCrop {
                    crop: None,
                    image_size: [w as u32, h as u32],
                });
            }
        }
        (None, Ok(b)) => {
            ui.label(format!("Crop (automatic): {}", describe(*b)))
                .on_hover_text("Drag the box's edges in the view to correct it");
        }
        (None, Err(why)) => {
            ui.colored_label(
                ui.visuals().warn_fg_color,
                format!("No automatic crop: {why}"),
            );
        }
    });
}

/// A case's modalities: the one shown, the others to switch to (M cycles),
/// the ones the case lacks marked missing.
fn modality_line(
    ui: &mut egui::Ui,
    session: &ProjectSession,
    row: &ItemRow,
    commands: &mut Commands,
) {
    let roles = &session.project.schema().modalities;
    if roles.is_empty() {
        return;
    }
    let shown = session
        .cases
        .shown_role(row.item.id, roles, session.shown_role.as_deref());
    let files = session.cases.files.get(&row.item.id);
    ui.horizontal_wrapped(|ui| {
        ui.label("Modality");
        for role in roles {
            let present = files.is_some_and(|f| f.contains_key(role));
            let text = if present {
                role.clone()
            } else {
                format!("{role} (missing)")
            };
            let selected = shown.as_deref() == Some(role.as_str());
            if ui
                .selectable_label(selected, text)
                .on_hover_text("M shows the next modality")
                .clicked()
                && !selected
            {
                commands.push(LabelingCommand::ShowModality(Some(role.clone())));
            }
        }
    });
}

/// The slices of the case's series a 2-D model reads by policy, and the
/// clinician's override: typed as slice numbers (`12 13 14`), set with
/// Enter or *Override*; *Use the policy's* withdraws it.
fn slice_pick_ui(
    ui: &mut egui::Ui,
    session: &ProjectSession,
    row: &ItemRow,
    commands: &mut Commands,
) {
    let Some(role) = session.project.schema().modalities.first() else {
        return;
    };
    let has_series = session
        .cases
        .files
        .get(&row.item.id)
        .is_some_and(|f| f.contains_key(role));
    if !has_series {
        return;
    }
    // Only where slices were picked (by a policy run, or overridden): a
    // case no policy has read has nothing to override, and several
    // co-registered sequences (MRI) are segmented voxel by voxel.
    let Some(picked) = session.cases.slice_picks.get(&row.item.id) else {
        return;
    };
    let picked = Some(picked);
    let draft_id = ui.make_persistent_id(("slice_override", row.item.id));
    let mut draft: String = ui.data_mut(|d| {
        d.get_temp(draft_id).unwrap_or_else(|| {
            picked.map_or(String::new(), |p| {
                crate::app::vocabulary::join_slices(&p.slices)
            })
        })
    });
    ui.horizontal_wrapped(|ui| {
        let label = ui.label(match picked {
            Some(p) if p.overridden => "Slices (override)",
            Some(_) => "Slices (policy)",
            None => "Slices",
        });
        let edit = ui
            .add(egui::TextEdit::singleline(&mut draft).desired_width(90.0))
            .labelled_by(label.id)
            .on_hover_text("0-based axial slices a 2-D model reads for this case, e.g. 12 13 14");
        let entered = edit.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
        let parsed = crate::app::vocabulary::parse_slices(&draft);
        if (ui.button("Override").clicked() || entered)
            && let Some(slices) = parsed.clone()
        {
            commands.push(LabelingCommand::SetSlicePick(Some(slices)));
        }
        if parsed.is_none() && !draft.trim().is_empty() {
            ui.colored_label(ui.visuals().warn_fg_color, "slice numbers, e.g. 12 13 14");
        }
        if picked.is_some_and(|p| p.overridden) && ui.button("Use the policy's").clicked() {
            commands.push(LabelingCommand::SetSlicePick(None));
            draft.clear();
        }
    });
    ui.data_mut(|d| d.insert_temp(draft_id, draft));
}

/// The case's tabular record, one row per column, each editable: a
/// number typed (saved when the field is left), a category or yes/no
/// chosen. Every change is kept with its annotator and time.
fn record_ui(ui: &mut egui::Ui, session: &ProjectSession, row: &ItemRow, commands: &mut Commands) {
    use crate::app::vocabulary::ColumnType;
    let schema = session.project.schema();
    let empty = std::collections::BTreeMap::new();
    let record = session.cases.records.get(&row.item.id).unwrap_or(&empty);
    ui.strong("Record");
    egui::Grid::new(("record", row.item.id))
        .num_columns(2)
        .striped(true)
        .show(ui, |ui| {
            for column in &schema.tabular {
                let current = record.get(&column.name);
                let label = ui.label(column.title());
                let set = |value: Option<String>, commands: &mut Commands| {
                    commands.push(LabelingCommand::SetRecord {
                        column: column.name.clone(),
                        value,
                    });
                };
                match column.kind {
                    ColumnType::Number => {
                        let id = ui.make_persistent_id(("record-draft", row.item.id, &column.name));
                        let mut draft: String = ui
                            .data_mut(|d| d.get_temp::<String>(id))
                            .unwrap_or_else(|| current.cloned().unwrap_or_default());
                        let response = ui
                            .add(
                                egui::TextEdit::singleline(&mut draft)
                                    .desired_width(80.0)
                                    .hint_text(if column.missing_allowed {
                                        "unknown"
                                    } else {
                                        ""
                                    }),
                            )
                            .labelled_by(label.id);
                        if response.lost_focus() {
                            ui.data_mut(|d| d.remove::<String>(id));
                            let typed = draft.trim();
                            if Some(typed) != current.map(String::as_str)
                                && !(typed.is_empty() && current.is_none())
                            {
                                set((!typed.is_empty()).then(|| typed.to_string()), commands);
                            }
                        } else if response.has_focus() || response.changed() {
                            ui.data_mut(|d| d.insert_temp(id, draft));
                        }
                    }
                    ColumnType::Category | ColumnType::YesNo => {
                        let values: Vec<String> = match column.kind {
                            ColumnType::YesNo => vec!["yes".into(), "no".into()],
                            _ => column.values.clone(),
                        };
                        let shown = current.cloned().unwrap_or_else(|| "unknown".into());
                        egui::ComboBox::from_id_salt(("record", row.item.id, &column.name))
                            .selected_text(shown)
                            .show_ui(ui, |ui| {
                                for value in &values {
                                    if ui.selectable_label(current == Some(value), value).clicked()
                                        && current != Some(value)
                                    {
                                        set(Some(value.clone()), commands);
                                    }
                                }
                                if column.missing_allowed
                                    && ui.selectable_label(current.is_none(), "unknown").clicked()
                                    && current.is_some()
                                {
                                    set(None, commands);
                                }
                            })
                            .response
                            .labelled_by(label.id);
                    }
                }
                ui.end_row();
            }
        });
}

/// Why the newest tabular run predicts what it does for this case: one
/// bar per record column (its Shapley value; toward the positive class
/// right, away left), from the run's base rate to its prediction.
fn explanation_ui(ui: &mut egui::Ui, state: &AppState, row: &ItemRow, commands: &mut Commands) {
    let Some(run) = crate::app::explain::Explanations::run_to_explain(&state.training.past_runs)
    else {
        return;
    };
    let explanations = &state.explanations;
    ui.horizontal(|ui| {
        let asked = ui
            .add_enabled(!explanations.is_pending(), egui::Button::new("Explain"))
            .on_hover_text(format!(
                "Shapley values of this case's record columns for run {run}"
            ));
        if asked.clicked() {
            commands.push(WindowCommand::ExplainSelected);
        }
        let global = ui
            .add_enabled(!explanations.is_pending(), egui::Button::new("Importance"))
            .on_hover_text(format!(
                "Every column's importance on the test pool for run {run}: permutation (accuracy lost when shuffled) and mean |Shapley|"
            ));
        if global.clicked() {
            commands.push(WindowCommand::ExplainGlobally);
        }
        if explanations.is_pending() {
            ui.spinner();
        }
    });
    if let Some((run, columns)) = &explanations.global {
        ui.weak(format!(
            "run {run}, test pool: accuracy lost when a column is shuffled (mean ± sd), mean |Shapley|"
        ));
        let largest = columns.iter().map(|c| c.mean_abs_shap).fold(1e-9, f64::max);
        // Bars sized to fit beside the two numbers, never to the panel's edge.
        let bar_width = (ui.available_width() - 230.0).clamp(30.0, 80.0);
        egui::Grid::new("global_importance")
            .num_columns(4)
            .striped(true)
            .show(ui, |ui| {
                ui.strong("column");
                ui.strong("accuracy lost")
                    .on_hover_text("When the column is shuffled: mean ± sd over repeats");
                ui.strong("mean |Shapley|");
                ui.label("");
                ui.end_row();
                for c in columns {
                    ui.label(&c.name);
                    ui.monospace(format!(
                        "{:+.3} ± {:.3}",
                        c.importance_mean, c.importance_sd
                    ));
                    ui.monospace(format!("{:.3}", c.mean_abs_shap));
                    let (rect, _) =
                        ui.allocate_exact_size(egui::vec2(bar_width, 10.0), egui::Sense::hover());
                    let width = (c.mean_abs_shap / largest) as f32 * rect.width();
                    ui.painter().rect_filled(
                        egui::Rect::from_min_size(rect.min, egui::vec2(width, rect.height())),
                        2.0,
                        egui::Color32::from_rgb(200, 160, 60),
                    );
                    ui.end_row();
                }
            });
    }
    let Some(shown) = explanations
        .shown
        .as_ref()
        .filter(|e| e.item_id == row.item.id)
    else {
        return;
    };
    let positive = state
        .session
        .as_ref()
        .and_then(|s| s.project.schema().target_field().values.last().cloned())
        .unwrap_or_default();
    ui.weak(format!(
        "run {}: P({positive}) {:.3} = base {:.3} + the columns",
        shown.run, shown.prediction, shown.base
    ));
    let largest = shown
        .columns
        .iter()
        .map(|(_, v)| v.abs())
        .fold(1e-9, f64::max);
    // Bars sized to leave room for the names and values inside the panel.
    let bar_width = (ui.available_width() - 210.0).clamp(40.0, 120.0);
    egui::Grid::new(("explanation", row.item.id))
        .num_columns(3)
        .show(ui, |ui| {
            for (column, value) in &shown.columns {
                ui.label(column);
                let (rect, _) =
                    ui.allocate_exact_size(egui::vec2(bar_width, 12.0), egui::Sense::hover());
                let centre = rect.center().x;
                let length = (value.abs() / largest) as f32 * rect.width() / 2.0;
                let (x0, x1) = if *value >= 0.0 {
                    (centre, centre + length)
                } else {
                    (centre - length, centre)
                };
                let colour = if *value >= 0.0 {
                    egui::Color32::from_rgb(220, 90, 70)
                } else {
                    egui::Color32::from_rgb(70, 140, 220)
                };
                ui.painter().rect_filled(
                    egui::Rect::from_x_y_ranges(x0..=x1, rect.top()..=rect.bottom()),
                    2.0,
                    colour,
                );
                ui.painter().vline(
                    centre,
                    rect.y_range(),
                    (1.0, ui.visuals().weak_text_color()),
                );
                ui.monospace(format!("{value:+.3}"));
                ui.end_row();
            }
        });
}

/// Which map the overlay shows: the annotator's own, another annotator's
/// (the reference's), and where the project has segmentation runs a run's
/// prediction or the prediction against the case's map in one BraTS
/// region; a legend in every mode, and the case's Dice beside a prediction.
fn map_view_ui(ui: &mut egui::Ui, state: &AppState, commands: &mut Commands) {
    use crate::app::review::{MapView, VERSUS_LEGEND};
    use crate::app::vocabulary::BRATS_REGIONS;
    let runs: Vec<&str> = state
        .training
        .past_runs
        .iter()
        .filter(|r| r.summary.is_some() && r.config.as_ref().is_some_and(|c| c.method.segments()))
        .map(|r| r.id.as_str())
        .collect();
    let others = &state.painting.others;
    if runs.is_empty() && others.is_empty() {
        return;
    }
    let current = state.map_view.clone();
    let run = match &current {
        MapView::Prediction(run) | MapView::Versus { run, .. } => Some(run.clone()),
        _ => runs.last().map(|r| r.to_string()),
    };
    let mut chosen = current.clone();
    ui.horizontal_wrapped(|ui| {
        ui.label("Map");
        ui.selectable_value(&mut chosen, MapView::Own, "yours");
        for name in others {
            ui.selectable_value(
                &mut chosen,
                MapView::Annotator(name.clone()),
                format!("{name}'s"),
            )
            .on_hover_text(format!("{name}'s map of this case, read-only"));
        }
        if let Some(run) = &run {
            ui.selectable_value(&mut chosen, MapView::Prediction(run.clone()), "prediction");
            for (index, (name, _)) in BRATS_REGIONS.iter().enumerate() {
                ui.selectable_value(
                    &mut chosen,
                    MapView::Versus {
                        run: run.clone(),
                        region: index,
                    },
                    format!("vs truth {}", name.to_uppercase()),
                );
            }
        }
    });
    if let (Some(run), MapView::Prediction(_) | MapView::Versus { .. }) = (&run, &chosen) {
        let mut picked = run.clone();
        // The label on its own line: a run id beside it left the label a
        // few pixels and broke it mid-word.
        let label = ui.label("Segmentation run");
        egui::ComboBox::from_id_salt("segmentation_run")
            .width(ui.available_width().min(280.0))
            .selected_text(&picked)
            .show_ui(ui, |ui| {
                for id in runs.iter().rev() {
                    ui.selectable_value(&mut picked, id.to_string(), *id);
                }
            })
            .response
            .labelled_by(label.id);
        if &picked != run {
            chosen = match chosen {
                MapView::Versus { region, .. } => MapView::Versus {
                    run: picked,
                    region,
                },
                _ => MapView::Prediction(picked),
            };
        }
    }
    if matches!(chosen, MapView::Versus { .. }) {
        ui.weak(VERSUS_LEGEND);
    } else {
        // The structures' colours, as the views draw them.
        ui.horizontal_wrapped(|ui| {
            for label in &state.painting.labels {
                let (rect, _) =
                    ui.allocate_exact_size(egui::vec2(10.0, 10.0), egui::Sense::hover());
                ui.painter()
                    .rect_filled(rect, 2.0, super::painting::colour(label.value));
                ui.label(format!("{} {}", label.value, label.name));
            }
        });
    }
    let own_empty = state.document.as_ref().is_none_or(|d| d.labels.is_none());
    if chosen == MapView::Own && own_empty && !others.is_empty() {
        ui.weak(format!(
            "You have not painted this case; {}'s map is a click away.",
            others.join("'s or ")
        ));
    }
    if let Some(note) = state.document.as_ref().and_then(|d| d.labels_note.as_ref()) {
        ui.add(egui::Label::new(egui::RichText::new(format!("Showing the {note}")).weak()).wrap());
    }
    if chosen != current {
        commands.push(WindowCommand::ShowMap(chosen));
    }
}
