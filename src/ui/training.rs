//! The training panel: settings (limits and presets from `train::config`),
//! start/pause/resume/stop, progress, and the live curves. Curves are data:
//! every named series a method reports is drawn, one plot per group (the
//! part of the name before the first `/`), with a past run's series of the
//! same names overlaid; no code here knows any method's terms. The
//! confusion matrix and per-class ROC of the latest epoch follow.

use crate::train::eyes::{EyeMetrics, EyePooling, LabelSource};
use std::collections::{BTreeMap, BTreeSet};

use egui_plot::{Legend, Line, LineStyle, Plot, PlotPoints};

use crate::app::training::{TrainingRun, TrainingStatus};
use crate::app::vocabulary::{
    self, ChoiceRule, EpochRecord, InputKind, Metrics, ModelKind, OptimizerKind, PastRun, Preset,
    Scalars, Setting, SettingKind, SettingValue, TrainConfig, XceptionOptions, limits, series,
};
use crate::app::{AppState, Commands, TrainingCommand};

pub fn training_ui(ctx: &egui::Context, state: &AppState, commands: &mut Commands) {
    let mut open = state.training.show;
    egui::Window::new("Training")
        .open(&mut open)
        .default_size([960.0, 760.0])
        .show(ctx, |ui| {
            ui.horizontal_top(|ui| {
                ui.vertical(|ui| {
                    ui.set_width(250.0);
                    controls_ui(ui, state, commands);
                    ui.separator();
                    egui::ScrollArea::vertical()
                        .id_salt("training_settings")
                        .show(ui, |ui| settings_ui(ui, state, commands));
                });
                ui.separator();
                ui.vertical(|ui| {
                    egui::ScrollArea::vertical()
                        .id_salt("training_curves")
                        .show(ui, |ui| curves_ui(ui, state))
                });
            });
        });
    if open != state.training.show {
        commands.push(TrainingCommand::Show(open));
    }
}

fn drag<'a, T: egui::emath::Numeric>(
    value: &'a mut T,
    range: std::ops::RangeInclusive<T>,
    speed: f64,
) -> egui::DragValue<'a> {
    egui::DragValue::new(value).range(range).speed(speed)
}

/// Start, pause, stop, progress and where the run came from: above the
/// settings, so they stay in sight however long the settings get.
fn controls_ui(ui: &mut egui::Ui, state: &AppState, commands: &mut Commands) {
    let training = &state.training;
    let active = training.run.as_ref().is_some_and(|t| t.is_active());
    ui.horizontal(|ui| {
        let status = training.run.as_ref().map(|t| t.status.clone());
        if ui
            .add_enabled(
                !active && state.session.is_some(),
                egui::Button::new("Start"),
            )
            .clicked()
        {
            commands.push(TrainingCommand::Start);
        }
        match status {
            Some(TrainingStatus::Running) if ui.button("Pause").clicked() => {
                commands.push(TrainingCommand::Pause);
            }
            Some(TrainingStatus::Paused) if ui.button("Resume").clicked() => {
                commands.push(TrainingCommand::Resume);
            }
            _ => {}
        }
        if ui.add_enabled(active, egui::Button::new("Stop")).clicked() {
            commands.push(TrainingCommand::Stop);
        }
    });
    if let Some(run) = &training.run {
        let epoch = run.steps.last().map_or(0.0, |s| s.0);
        let eta = run
            .eta_seconds()
            .map_or(String::new(), |s| format!(", ETA {:.0} s", s));
        ui.add(egui::ProgressBar::new(run.progress() as f32).text(format!(
            "epoch {:.1}/{} · {:.0} images/s{eta}",
            epoch, run.epochs_planned, run.images_per_second
        )));
        let id = run.run.as_deref().unwrap_or("");
        let status = match &run.status {
            TrainingStatus::Starting => "loading images…".to_string(),
            TrainingStatus::Running => format!("running {id}"),
            TrainingStatus::Paused => "paused".into(),
            TrainingStatus::Finished => match run.summary.as_ref().and_then(|s| s.chosen_epoch) {
                Some(epoch) => format!("finished {id}; reporting epoch {}", epoch + 1),
                None => format!("finished {id}"),
            },
            TrainingStatus::Stopped => "stopped".into(),
            TrainingStatus::Failed(e) => format!("failed: {e}"),
        };
        ui.label(status);
        if let Some(eye) = run.summary.as_ref().and_then(|s| s.eye.as_ref()) {
            eye_metrics_ui(ui, eye);
        }
    }
    lineage_ui(ui, state);
}

/// Where a screening project's labels come from, and how eyes pool.
fn eye_settings_ui(ui: &mut egui::Ui, config: &mut TrainConfig) {
    ui.horizontal(|ui| {
        ui.label("Labels from").on_hover_text(
            "Eyes: every gradable photograph takes its eye's reference stage; \
             predictions roll up to the eye (most severe photograph)",
        );
        ui.selectable_value(&mut config.label_source, LabelSource::Eyes, "eye grades");
        ui.selectable_value(
            &mut config.label_source,
            LabelSource::Images,
            "image labels",
        );
    });
    ui.add_enabled_ui(config.label_source == LabelSource::Eyes, |ui| {
        ui.horizontal(|ui| {
            ui.label("Eye referral from its photographs")
                .on_hover_text("The highest P(stage 3 or worse), or an attention pooling fitted on the labeled eyes");
            ui.selectable_value(&mut config.eye_pooling, EyePooling::Max, "highest");
            ui.selectable_value(&mut config.eye_pooling, EyePooling::Attention, "attention (learned)");
        });
    });
}

/// A finished run's eye-level test metrics.
fn eye_metrics_ui(ui: &mut egui::Ui, eye: &EyeMetrics) {
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

fn settings_ui(ui: &mut egui::Ui, state: &AppState, commands: &mut Commands) {
    let training = &state.training;
    let active = training.run.as_ref().is_some_and(|t| t.is_active());
    let mut config: TrainConfig = training.config.clone();
    ui.add_enabled_ui(!active, |ui| {
        ui.label("Settings");
        ui.horizontal_wrapped(|ui| {
            for preset in Preset::ALL {
                if ui
                    .button(preset.title())
                    .on_hover_text(preset.description())
                    .clicked()
                {
                    config = preset.apply_to(&config);
                }
            }
        });
        let mut method = config.method;
        ui.horizontal_wrapped(|ui| {
            ui.label("Method");
            for m in vocabulary::methods() {
                ui.selectable_value(&mut method, m, m.title());
            }
        });
        if method != config.method {
            // A method that cannot read the current input reads its own
            // (the rule is the method's declaration's, in `app::vocabulary`).
            let schema = state.session.as_ref().map(|s| s.project.schema());
            vocabulary::switch_method(&mut config, method, schema);
        }
        inputs_ui(ui, state, &mut config);
        method_settings_ui(ui, &mut config);
        let reads = config.method.spec().modalities;
        if !reads.contains(&config.input_kind().kind_name()) {
            ui.colored_label(
                ui.visuals().warn_fg_color,
                format!(
                    "{} reads {}, not {}: choose another method or input",
                    config.method.title(),
                    reads.join(", "),
                    config.input_kind().kind_name()
                ),
            );
        }
        ui.horizontal(|ui| {
            ui.label("Model");
            for &model in config.input_kind().models() {
                ui.selectable_value(&mut config.model, model, model.title());
            }
            if config.model == ModelKind::Xception {
                ui.checkbox(&mut config.xception.dilated, "dilated downsampling")
                    .on_hover_text("Learnable dilated 3×3 convolutions instead of max-pooling");
                ui.checkbox(&mut config.xception.dense, "dense connections")
                    .on_hover_text("Input ⊕ entry (⊕ middle) fed to the middle and exit flows");
            }
        });
        if config.model.is_xception() {
            xception_depth_ui(ui, &mut config.xception);
        }
        egui::Grid::new("train_settings")
            .num_columns(2)
            .show(ui, |ui| {
                let row = |ui: &mut egui::Ui, name: &str, widget: egui::DragValue| {
                    let label = ui.label(name);
                    ui.add(widget).labelled_by(label.id);
                    ui.end_row();
                };
                let batch = config.batch_size;
                row(ui, "Input size (px)", drag(&mut config.input_size, limits::INPUT_SIZE, 1.0));
                row(ui, "Width", drag(&mut config.width, limits::WIDTH, 0.2));
                row(ui, "Epochs", drag(&mut config.epochs, limits::EPOCHS, 1.0));
                row(ui, "Batch size", drag(&mut config.batch_size, limits::BATCH_SIZE, 0.2));
                row(ui, "Labeled per batch", drag(&mut config.labeled_per_batch, 1..=batch, 0.2));
                row(ui, "Learning rate", drag(&mut config.learning_rate, limits::LEARNING_RATE, 1e-4));
                row(ui, "Validation fraction", drag(&mut config.validation_fraction, limits::VALIDATION_FRACTION, 0.01));
                row(ui, "Dropout", drag(&mut config.dropout, limits::DROPOUT, 0.01));
                row(ui, "Focal loss weight", drag(&mut config.loss.focal_weight, limits::FOCAL_WEIGHT, 0.05));
                row(ui, "Focal γ", drag(&mut config.loss.focal_gamma, limits::FOCAL_GAMMA, 0.05));
                ui.label("Class weights");
                ui.checkbox(&mut config.loss.class_weights, "by frequency")
                    .on_hover_text("Weigh each labeled image by N / (C · n_class): rare classes count as much as common ones");
                ui.end_row();
                if state.session.as_ref().is_some_and(|s| s.project.schema().crop.is_some()) {
                    ui.label("Crop");
                    ui.checkbox(&mut config.crop, "largest component")
                        .on_hover_text("Train and predict on each image's crop box (drawn in the viewer); off: whole frames");
                    ui.end_row();
                }
                row(
                    ui,
                    "Rotation (± degrees)",
                    drag(&mut config.augmentation.rotation_degrees, limits::ROTATION_DEGREES, 1.0),
                );
                row(ui, "Seed", egui::DragValue::new(&mut config.seed));
            });
        config.labeled_per_batch = config.labeled_per_batch.clamp(1, config.batch_size);
        ui.horizontal(|ui| {
            ui.label("Optimizer");
            ui.selectable_value(&mut config.optimizer, OptimizerKind::Adam, "Adam");
            ui.selectable_value(&mut config.optimizer, OptimizerKind::Sgd, "SGD");
        });
        ui.checkbox(&mut config.cosine_schedule, "Cosine learning-rate decay");
        ui.horizontal(|ui| {
            ui.label("Report the epoch of")
                .on_hover_text("How the reported checkpoint is chosen on the validation split");
            for rule in ChoiceRule::ALL {
                let title = match rule {
                    ChoiceRule::Accuracy => "best accuracy",
                    ChoiceRule::WindowedAuc => "best 5-epoch mean AUC",
                    ChoiceRule::LastEpoch => "the last epoch",
                };
                ui.selectable_value(&mut config.choose_by, rule, title);
            }
        });
        let grades_eyes = state
            .session
            .as_ref()
            .is_some_and(|s| s.project.schema().grades_exams());
        if grades_eyes {
            eye_settings_ui(ui, &mut config);
        }
        start_from_ui(ui, state, &mut config, commands);
    });
    if config != training.config {
        commands.push(TrainingCommand::SetConfig(Box::new(config)));
    }
    ui.add_enabled_ui(!active, |ui| {
        ui.horizontal(|ui| {
            ui.label("Device");
            let display = state
                .compute
                .as_ref()
                .map_or("display GPU".to_string(), |c| c.description.clone());
            let mut cpu = training.on_cpu;
            ui.selectable_value(&mut cpu, false, "Display GPU")
                .on_hover_text(display);
            ui.selectable_value(&mut cpu, true, "CPU (flex)");
            if cpu != training.on_cpu {
                commands.push(TrainingCommand::SetOnCpu(cpu));
            }
            let mut threads = training.threads;
            ui.add(
                egui::DragValue::new(&mut threads)
                    .range(1..=vocabulary::cpu_cores().max(1))
                    .prefix("CPU threads "),
            )
            .on_hover_text(
                "Threads for the CPU kernels; the default leaves one core for the window",
            );
            if threads != training.threads {
                commands.push(TrainingCommand::SetThreads(threads));
            }
        });
    });
    if let Some(run) = &training.run {
        ui.weak(format!("Running on: {}", run.device));
        if !run.skipped.is_empty() {
            ui.collapsing(
                format!("{} items left out of this run", run.skipped.len()),
                |ui| {
                    for why in &run.skipped {
                        ui.label(why);
                    }
                },
            );
        }
    }
    ui.separator();
    if !training.past_runs.is_empty() {
        let selected = training.overlay.clone().unwrap_or_else(|| "none".into());
        let mut choice = training.overlay.clone();
        egui::ComboBox::from_label("Overlay run")
            .selected_text(selected)
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut choice, None, "none");
                for run in &training.past_runs {
                    ui.selectable_value(&mut choice, Some(run.id.clone()), &run.id);
                }
            });
        if choice != training.overlay {
            commands.push(TrainingCommand::Overlay(choice));
        }
    }
}

/// Where the next run starts: new weights, this project's last run, or a
/// run of another project (pre-train there, fine-tune here); and how long
/// its early stages stay frozen.
fn start_from_ui(
    ui: &mut egui::Ui,
    state: &AppState,
    config: &mut TrainConfig,
    commands: &mut Commands,
) {
    #[derive(Clone, Copy, PartialEq)]
    enum From {
        New,
        ThisProject,
        OtherProject,
    }
    let training = &state.training;
    let latest = training
        .past_runs
        .iter()
        .rev()
        .find(|r| !r.epochs.is_empty())
        .map(|r| r.id.clone());
    let current = match (&config.fine_tune_from, &config.fine_tune_from_project) {
        (None, _) => From::New,
        (Some(_), None) => From::ThisProject,
        (Some(_), Some(_)) => From::OtherProject,
    };
    ui.label("Start from");
    // Choosing another project takes a folder first: until one is set, the
    // choice lives in the panel's memory, not in the run's settings.
    let other_id = ui.scope_id().with("start_from_other_project");
    let picking_other = ui.data(|d| d.get_temp::<bool>(other_id).unwrap_or(false));
    let shown = if picking_other {
        From::OtherProject
    } else {
        current
    };
    let mut choice = shown;
    ui.radio_value(&mut choice, From::New, "New weights");
    ui.add_enabled_ui(latest.is_some(), |ui| {
        ui.radio_value(&mut choice, From::ThisProject, "The last run of this project")
            .on_hover_text(
                "After labeling more: continue from the last run's chosen checkpoint instead of starting over",
            );
    });
    ui.radio_value(&mut choice, From::OtherProject, "A run of another project")
        .on_hover_text(
            "Pre-trained elsewhere (e.g. the ROP demo), fine-tuned here; the classifier head is new when the classes differ",
        );
    ui.data_mut(|d| d.insert_temp(other_id, choice == From::OtherProject));
    let folder_id = ui.scope_id().with("parent_project_folder");
    let mut folder: String = ui.data_mut(|d| d.get_temp(folder_id).unwrap_or_default());
    if choice != shown {
        match choice {
            From::New => commands.push(TrainingCommand::FineTuneFrom {
                project: None,
                run: None,
            }),
            From::ThisProject => commands.push(TrainingCommand::FineTuneFrom {
                project: None,
                run: latest,
            }),
            // The folder comes next, below.
            From::OtherProject => {}
        }
    }
    if choice == From::OtherProject {
        let chosen = config.fine_tune_from_project.clone();
        ui.horizontal(|ui| {
            let label = ui.label("Project folder");
            ui.add(egui::TextEdit::singleline(&mut folder).desired_width(120.0))
                .labelled_by(label.id);
            if ui.button("Use").clicked() && !folder.trim().is_empty() {
                commands.push(TrainingCommand::FineTuneFrom {
                    project: Some(folder.trim().into()),
                    run: None,
                });
            }
            if ui.button("Choose…").clicked()
                && let Some(dir) = rfd::FileDialog::new().pick_folder()
            {
                folder = dir.display().to_string();
                commands.push(TrainingCommand::FineTuneFrom {
                    project: Some(dir),
                    run: None,
                });
            }
        });
        if let (Some(project), Some(run)) = (chosen, config.fine_tune_from.clone()) {
            let mut picked = run.clone();
            egui::ComboBox::from_label("Run")
                .selected_text(&run)
                .show_ui(ui, |ui| {
                    for id in &training.parent_project_runs {
                        ui.selectable_value(&mut picked, id.clone(), id);
                    }
                });
            if picked != run {
                commands.push(TrainingCommand::FineTuneFrom {
                    project: Some(project.into()),
                    run: Some(picked),
                });
            }
        }
    }
    ui.data_mut(|d| d.insert_temp(folder_id, folder));
    if config.fine_tune_from.is_some() {
        ui.horizontal(|ui| {
            let label = ui.label("Freeze early stages (epochs)");
            ui.add(drag(
                &mut config.freeze_early_epochs,
                limits::FREEZE_EARLY_EPOCHS,
                0.2,
            ))
            .labelled_by(label.id)
            .on_hover_text(
                "The stem and first half of the network stay as loaded while the rest adapts",
            );
        });
    }
}

/// "Started from …" for the run the panel shows, nearest parent first.
fn lineage_ui(ui: &mut egui::Ui, state: &AppState) {
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

fn line<'a>(name: &str, points: Vec<[f64; 2]>) -> Line<'a> {
    Line::new(name.to_string(), PlotPoints::from(points))
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

fn group_title(group: &str, per_step: bool) -> String {
    let what = match group {
        "loss" => "Loss terms",
        "grad" => "Gradients",
        "schedule" => "Schedules",
        "optimizer" => "Optimizer",
        "metric" => "Test pool",
        "validation" => "Validation split",
        other => other,
    };
    format!(
        "{what} ({})",
        if per_step { "per step" } else { "per epoch" }
    )
}

/// Every series a run has reported, by group: (name, reported per step).
pub fn series_groups(
    steps: &[(f64, Scalars)],
    epochs: &[EpochRecord],
) -> Vec<(String, Vec<(String, bool)>)> {
    let mut per_step: BTreeSet<&str> = BTreeSet::new();
    for (_, values) in steps {
        per_step.extend(values.keys().map(String::as_str));
    }
    let mut names: BTreeSet<&str> = per_step.clone();
    for record in epochs {
        names.extend(record.series.keys().map(String::as_str));
    }
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

fn epoch_points(run_epochs: &[EpochRecord], name: &str) -> Vec<[f64; 2]> {
    run_epochs
        .iter()
        .filter_map(|e| e.series.get(name).map(|v| [e.epoch as f64 + 1.0, *v]))
        .collect()
}

fn curves_ui(ui: &mut egui::Ui, state: &AppState) {
    let overlay: Option<&PastRun> = state
        .training
        .overlay
        .as_ref()
        .and_then(|id| state.training.past_runs.iter().find(|r| &r.id == id));
    let Some(run) = &state.training.run else {
        match overlay {
            // No run in this window yet: review the chosen past run's curves.
            Some(past) => {
                ui.label(format!("Run {} (per epoch)", past.id));
                series_plots(ui, &[], &past.epochs, None);
            }
            None => {
                ui.label(
                    "Press Start to train on this project's labeled pool; curves appear here \
                     as it learns. Choose an overlay run to review a past run's curves.",
                );
            }
        }
        return;
    };
    series_plots(ui, &run.steps, &run.epochs, overlay);
    confusion_and_roc_ui(ui, state, run);
}

/// One plot per group of series, a past run's same-named series dashed
/// under them, and a table of the latest values.
fn series_plots(
    ui: &mut egui::Ui,
    steps: &[(f64, Scalars)],
    epochs: &[EpochRecord],
    overlay: Option<&PastRun>,
) {
    let height = 140.0;
    let mut latest: Vec<(String, f64)> = Vec::new();
    for (group, names) in series_groups(steps, epochs) {
        let per_step = names.iter().any(|(_, s)| *s);
        ui.label(group_title(&group, per_step));
        Plot::new(format!("series_{group}"))
            .height(height)
            .legend(Legend::default())
            .show(ui, |plot| {
                for (name, step_level) in &names {
                    let points: Vec<[f64; 2]> = if *step_level {
                        steps
                            .iter()
                            .filter_map(|(x, values)| values.get(name).map(|v| [*x, *v]))
                            .collect()
                    } else {
                        epoch_points(epochs, name)
                    };
                    plot.line(line(name, points));
                    if let Some(past) = overlay {
                        let past_points = epoch_points(&past.epochs, name);
                        if !past_points.is_empty() {
                            plot.line(
                                line(&format!("{} {name}", past.id), past_points)
                                    .style(LineStyle::dashed_loose()),
                            );
                        }
                    }
                }
            });
        for (name, step_level) in names {
            let value = if step_level {
                steps.iter().rev().find_map(|(_, v)| v.get(&name).copied())
            } else {
                epochs.last().and_then(|e| e.series.get(&name).copied())
            };
            if let Some(v) = value {
                latest.push((name, v));
            }
        }
    }
    if !latest.is_empty() {
        egui::CollapsingHeader::new("Latest values")
            .default_open(true)
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
}

/// The latest epoch's confusion matrix and per-class ROC (teacher where there is one).
fn confusion_and_roc_ui(ui: &mut egui::Ui, state: &AppState, training: &TrainingRun) {
    if let Some(last) = training.epochs.last()
        && let Some(student) = last.student.dice
    {
        // A run that segments: its Dice per BraTS region, student and teacher.
        ui.label("Test Dice (BraTS regions, per case then averaged)");
        egui::Grid::new("dice").striped(true).show(ui, |ui| {
            for title in ["", "WT", "TC", "ET", "mean"] {
                ui.strong(title);
            }
            ui.end_row();
            let teacher = last.teacher.as_ref().and_then(|t| t.dice);
            for (who, dice) in [("student", Some(student)), ("teacher", teacher)] {
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
    if let Some(last) = training.epochs.last() {
        let metrics: &Metrics = last.teacher.as_ref().unwrap_or(&last.student);
        let classes = state
            .session
            .as_ref()
            .map(|s| s.project.schema().target_field().values.clone())
            .unwrap_or_default();
        ui.horizontal_top(|ui| {
            ui.vertical(|ui| {
                ui.label(format!(
                    "Confusion ({}; rows truth, columns predicted)",
                    if last.teacher.is_some() {
                        "teacher"
                    } else {
                        "student"
                    }
                ));
                egui::Grid::new("confusion").striped(true).show(ui, |ui| {
                    ui.label("");
                    for c in 0..metrics.confusion.len() {
                        ui.strong(
                            classes
                                .get(c)
                                .map_or(c.to_string(), |n| n.chars().take(10).collect()),
                        );
                    }
                    ui.end_row();
                    for (t, row) in metrics.confusion.iter().enumerate() {
                        ui.strong(
                            classes
                                .get(t)
                                .map_or(t.to_string(), |n| n.chars().take(10).collect()),
                        );
                        for count in row {
                            ui.label(count.to_string());
                        }
                        ui.end_row();
                    }
                });
            });
            ui.vertical(|ui| {
                ui.label("ROC per class");
                Plot::new("roc")
                    .width(220.0)
                    .height(180.0)
                    .data_aspect(1.0)
                    .show(ui, |plot| {
                        for (c, points) in metrics.roc.iter().enumerate() {
                            let name = classes.get(c).cloned().unwrap_or_else(|| c.to_string());
                            plot.line(line(&name, points.iter().map(|(x, y)| [*x, *y]).collect()));
                        }
                    });
            });
        });
    }
}

/// What the run reads (for a project of cases: the record, one modality's
/// volume in 3-D or its slices in 2-D, or slices and record together), how
/// slices are chosen, the teacher runs a distillation method needs — one
/// per kind of input its teachers read, chosen from this project's
/// finished runs — and the method's own weights.
/// Which of the project's sequences a run that segments reads (at least
/// one, in the schema's order) and how many slices of a case an epoch takes.
fn sequences_ui(ui: &mut egui::Ui, roles: &[String], config: &mut TrainConfig) {
    ui.horizontal_wrapped(|ui| {
        ui.label("Sequences");
        let mut chosen: Vec<String> = Vec::new();
        for role in roles {
            let mut on = config.modalities.contains(role);
            ui.checkbox(&mut on, role);
            if on {
                chosen.push(role.clone());
            }
        }
        if !chosen.is_empty() && chosen != config.modalities {
            config.modalities = chosen;
        }
    });
}

fn inputs_ui(ui: &mut egui::Ui, state: &AppState, config: &mut TrainConfig) {
    use crate::app::vocabulary::{SliceConfig, SliceSelection, TABULAR_MODALITY};
    let Some(session) = &state.session else {
        return;
    };
    let schema = session.project.schema();
    if config.method.segments() {
        sequences_ui(ui, &schema.modalities, config);
    } else if schema.has_cases() {
        // (modalities, 2-D slices?, title)
        let mut choices: Vec<(Vec<String>, bool, String)> = Vec::new();
        if !schema.tabular.is_empty() {
            choices.push((
                vec![TABULAR_MODALITY.into()],
                false,
                "record (tabular)".into(),
            ));
        }
        for role in &schema.modalities {
            choices.push((vec![role.clone()], false, format!("{role} volume (3-D)")));
            choices.push((vec![role.clone()], true, format!("{role} slices (2-D)")));
            if !schema.tabular.is_empty() {
                choices.push((
                    vec![role.clone(), TABULAR_MODALITY.into()],
                    true,
                    format!("{role} slices + record"),
                ));
            }
        }
        let reads_slices = matches!(
            config.input_kind(),
            InputKind::Slices(_) | InputKind::Fusion(_) | InputKind::Series(_)
        );
        let current = (config.modalities.clone(), reads_slices);
        let mut chosen = current.clone();
        ui.horizontal_wrapped(|ui| {
            ui.label("Reads");
            for (modalities, slices, title) in &choices {
                let value = (modalities.clone(), *slices);
                ui.selectable_value(&mut chosen, value, title);
            }
        });
        if chosen != current {
            config.modalities = chosen.0;
            if chosen.1 {
                config.slices.get_or_insert_with(SliceConfig::default);
                // A 2-D model reads the slices (a 3-D one would read the volume).
                config.model = ModelKind::IMAGE[0];
            } else {
                config.slices = None;
            }
            config.fit_to_modality();
        }
    }
    if matches!(
        config.input_kind(),
        InputKind::Slices(_) | InputKind::Fusion(_)
    ) {
        let policies: Vec<&str> = state
            .training
            .past_runs
            .iter()
            .filter(|r| {
                r.summary.is_some()
                    && r.config
                        .as_ref()
                        .is_some_and(|c| c.input_kind().kind_name() == vocabulary::SERIES_INPUT)
            })
            .map(|r| r.id.as_str())
            .collect();
        let slices = config.slices.get_or_insert_with(SliceConfig::default);
        ui.horizontal_wrapped(|ui| {
            ui.label("Slices");
            for selection in SliceSelection::ALL {
                ui.selectable_value(&mut slices.selection, selection, selection.name());
            }
            let label = ui.label("k");
            ui.add(drag(&mut slices.count, limits::SLICE_COUNT, 0.05))
                .labelled_by(label.id);
        });
        if slices.selection == SliceSelection::Policy {
            let shown = slices
                .policy
                .clone()
                .unwrap_or_else(|| "choose a run".into());
            egui::ComboBox::from_label("Run that picks the slices")
                .selected_text(shown)
                .show_ui(ui, |ui| {
                    for id in &policies {
                        ui.selectable_value(&mut slices.policy, Some(id.to_string()), *id);
                    }
                });
            if policies.is_empty() {
                ui.weak("No finished run picks slices yet: train one that reads the whole series first.");
            }
        }
    }
    let spec = config.method.spec();
    if spec.teacher_roles.is_empty() {
        return;
    }
    // One teacher per kind its teachers read, in the method's order.
    let mut teachers: Vec<String> = Vec::new();
    for kind in spec.teacher_roles {
        let runs: Vec<&PastRun> = state
            .training
            .past_runs
            .iter()
            .filter(|r| {
                vocabulary::can_teach(r, spec)
                    && r.config
                        .as_ref()
                        .is_some_and(|c| c.input_kind().kind_name() == *kind)
            })
            .collect();
        let mut teacher = config
            .teachers
            .iter()
            .find(|t| runs.iter().any(|r| &r.id == *t))
            .cloned();
        let title = if spec.teacher_roles.len() == 1 {
            "Teacher run".to_string()
        } else {
            format!("Teacher run ({kind})")
        };
        ui.horizontal(|ui| {
            let shown = teacher.clone().unwrap_or_else(|| "choose a run".into());
            egui::ComboBox::from_label(title)
                .selected_text(shown)
                .show_ui(ui, |ui| {
                    for run in &runs {
                        ui.selectable_value(&mut teacher, Some(run.id.clone()), &run.id);
                    }
                });
        });
        if runs.is_empty() {
            ui.weak(format!(
                "No finished run reads {kind} yet: train the teacher first (a method and \
                 input that read {kind})."
            ));
        }
        teachers.extend(teacher);
    }
    if teachers != config.teachers {
        config.teachers = teachers;
    }
}

/// The chosen method's own settings, drawn from its declarations: one grid
/// per panel group, a drag value in the declared range for a number, a
/// checkbox for a switch, the declared help on hover.
fn method_settings_ui(ui: &mut egui::Ui, config: &mut TrainConfig) {
    let settings = config.method.spec().settings;
    let mut groups: Vec<&str> = Vec::new();
    for s in settings {
        if !groups.contains(&s.group) {
            groups.push(s.group);
        }
    }
    for group in groups {
        ui.label(group);
        egui::Grid::new(("method_settings", group))
            .num_columns(2)
            .show(ui, |ui| {
                for setting in settings.iter().filter(|s| s.group == group) {
                    setting_row(ui, config, setting);
                    ui.end_row();
                }
            });
    }
}

fn setting_row(ui: &mut egui::Ui, config: &mut TrainConfig, setting: &Setting) {
    let label = ui.label(setting.title).on_hover_text(setting.help);
    let value = config.value(setting);
    let changed = match &setting.kind {
        SettingKind::Number { range, speed, .. } => {
            let mut x = value.as_f64();
            ui.add(drag(&mut x, range.clone(), *speed))
                .labelled_by(label.id)
                .on_hover_text(setting.help);
            (x != value.as_f64()).then_some(SettingValue::Number(x))
        }
        SettingKind::Count { range, .. } => {
            let mut n = value.as_f64() as usize;
            ui.add(drag(&mut n, range.clone(), 0.1))
                .labelled_by(label.id)
                .on_hover_text(setting.help);
            (n as f64 != value.as_f64()).then_some(SettingValue::Count(n as u64))
        }
        SettingKind::Switch { .. } => {
            let mut on = value.as_bool();
            ui.checkbox(&mut on, "on").on_hover_text(setting.help);
            (on != value.as_bool()).then_some(SettingValue::Switch(on))
        }
    };
    if let Some(value) = changed {
        config.set(setting, value);
    }
}

/// The Xception flows' block counts: the CPU-sized default or Xception's own.
fn xception_depth_ui(ui: &mut egui::Ui, options: &mut XceptionOptions) {
    ui.horizontal(|ui| {
        let counts = [
            (
                "Entry blocks",
                &mut options.entry_blocks,
                XceptionOptions::ENTRY_BLOCKS,
            ),
            (
                "middle",
                &mut options.middle_blocks,
                XceptionOptions::MIDDLE_BLOCKS,
            ),
            ("exit", &mut options.exit_convs, XceptionOptions::EXIT_CONVS),
        ];
        for (name, count, range) in counts {
            let label = ui.label(name);
            ui.add(egui::DragValue::new(count).range(range))
                .labelled_by(label.id);
        }
        let full = XceptionOptions::FULL_DEPTH;
        if ui
            .add_enabled(options.depth() != full, egui::Button::new("Xception's own"))
            .on_hover_text(
                "Entry 3, middle 8, exit 2 (Chollet 2017); the default 2, 2, 1 fits two CPU cores",
            )
            .clicked()
            && let Ok(deeper) = options.with_depth(full)
        {
            *options = deeper;
        }
    });
}
