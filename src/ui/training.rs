//! The training panel: settings, start/pause/resume/stop, progress, and the
//! live curves (loss terms, ramp-up weight, EMA α, learning rate, test
//! accuracy/AUC/kappa for student and teacher), the confusion matrix and
//! per-class ROC of the latest epoch; a past run can be overlaid.

use egui_plot::{Legend, Line, Plot, PlotPoints};

use crate::app::training::TrainingStatus;
use crate::app::{AppState, Command};
use crate::train::engine::{Method, OptimizerKind, TrainConfig};
use crate::train::metrics::Metrics;
use crate::train::model::ModelKind;
use crate::train::runs::EpochRecord;

pub fn training_ui(ctx: &egui::Context, state: &AppState, commands: &mut Vec<Command>) {
    let mut open = state.show_training;
    egui::Window::new("Training")
        .open(&mut open)
        .default_size([900.0, 620.0])
        .show(ctx, |ui| {
            ui.horizontal_top(|ui| {
                ui.vertical(|ui| {
                    ui.set_width(250.0);
                    settings_ui(ui, state, commands);
                });
                ui.separator();
                ui.vertical(|ui| curves_ui(ui, state, commands));
            });
        });
    if open != state.show_training {
        commands.push(Command::ShowTraining(open));
    }
}

fn settings_ui(ui: &mut egui::Ui, state: &AppState, commands: &mut Vec<Command>) {
    let active = state.training.as_ref().is_some_and(|t| t.is_active());
    let mut config: TrainConfig = state.train_config.clone();
    ui.add_enabled_ui(!active, |ui| {
        ui.horizontal(|ui| {
            ui.label("Settings");
            // Presets keep the chosen method and fine-tuning choice.
            let keep = |preset: TrainConfig, config: &TrainConfig| TrainConfig {
                method: config.method,
                fine_tune_from: config.fine_tune_from.clone(),
                ..preset
            };
            if ui
                .button("Method reference")
                .on_hover_text("METHODS.md §1: rotation ±10°, consistency weight 1, dropout 0.2")
                .clicked()
            {
                config = keep(TrainConfig::default(), &config);
            }
            if ui
                .button("Fundus on CPU")
                .on_hover_text(
                    "Measured best on the ROP demo (README): 64 px, width 8, 150 epochs, \
                     any rotation, consistency weight 3, no dropout",
                )
                .clicked()
            {
                config = keep(TrainConfig::fundus_on_cpu(), &config);
            }
        });
        ui.horizontal(|ui| {
            ui.label("Method");
            ui.selectable_value(&mut config.method, Method::Supervised, "Supervised");
            ui.selectable_value(
                &mut config.method,
                Method::MeanTeacher,
                "Mean teacher + SRC",
            );
        });
        ui.horizontal(|ui| {
            ui.label("Model");
            ui.selectable_value(&mut config.model, ModelKind::Resnet18, "ResNet-18");
            ui.selectable_value(&mut config.model, ModelKind::Densenet121, "DenseNet-121");
        });
        egui::Grid::new("train_settings")
            .num_columns(2)
            .show(ui, |ui| {
                let row = |ui: &mut egui::Ui, name: &str, widget: egui::DragValue| {
                    let label = ui.label(name);
                    ui.add(widget).labelled_by(label.id);
                    ui.end_row();
                };
                row(
                    ui,
                    "Input size (px)",
                    egui::DragValue::new(&mut config.input_size).range(16..=512),
                );
                row(
                    ui,
                    "Width",
                    egui::DragValue::new(&mut config.width).range(2..=128),
                );
                row(
                    ui,
                    "Epochs",
                    egui::DragValue::new(&mut config.epochs).range(1..=1000),
                );
                row(
                    ui,
                    "Batch size",
                    egui::DragValue::new(&mut config.batch_size).range(2..=256),
                );
                row(
                    ui,
                    "Labeled per batch",
                    egui::DragValue::new(&mut config.labeled_per_batch).range(1..=256),
                );
                row(
                    ui,
                    "Learning rate",
                    egui::DragValue::new(&mut config.learning_rate)
                        .speed(1e-4)
                        .range(1e-6..=1.0),
                );
                row(
                    ui,
                    "EMA decay",
                    egui::DragValue::new(&mut config.mean_teacher.ema_decay)
                        .speed(1e-3)
                        .range(0.0..=0.9999),
                );
                row(
                    ui,
                    "Consistency weight",
                    egui::DragValue::new(&mut config.mean_teacher.consistency_weight)
                        .speed(0.05)
                        .range(0.0..=100.0),
                );
                row(
                    ui,
                    "Ramp-up (epochs)",
                    egui::DragValue::new(&mut config.mean_teacher.rampup_epochs)
                        .range(0.0..=1000.0),
                );
                row(
                    ui,
                    "Relation weight λ",
                    egui::DragValue::new(&mut config.mean_teacher.relation_weight)
                        .speed(0.05)
                        .range(0.0..=100.0),
                );
                row(
                    ui,
                    "Dropout",
                    egui::DragValue::new(&mut config.dropout)
                        .speed(0.01)
                        .range(0.0..=0.9),
                );
                row(
                    ui,
                    "Rotation (± degrees)",
                    egui::DragValue::new(&mut config.augmentation.rotation_degrees)
                        .range(0.0..=180.0),
                );
                row(ui, "Seed", egui::DragValue::new(&mut config.seed));
            });
        ui.horizontal(|ui| {
            ui.label("Optimizer");
            ui.selectable_value(&mut config.optimizer, OptimizerKind::Adam, "Adam");
            ui.selectable_value(&mut config.optimizer, OptimizerKind::Sgd, "SGD");
        });
        ui.checkbox(&mut config.cosine_schedule, "Cosine learning-rate decay");
        let latest = state.past_runs.iter().rev().find(|r| !r.epochs.is_empty()).map(|r| r.id.clone());
        let mut continue_run = config.fine_tune_from.is_some();
        if ui
            .add_enabled(latest.is_some(), egui::Checkbox::new(&mut continue_run, "Fine-tune from the last run"))
            .on_hover_text("After labeling more: continue from the last run's weights instead of starting over")
            .changed()
        {
            config.fine_tune_from = if continue_run { latest } else { None };
        }
    });
    if config != state.train_config {
        commands.push(Command::SetTrainConfig(config));
    }
    ui.add_enabled_ui(!active, |ui| {
        ui.horizontal(|ui| {
            ui.label("Device");
            let display = state
                .compute
                .as_ref()
                .map_or("display GPU".to_string(), |c| c.description.clone());
            let mut cpu = state.train_on_cpu;
            ui.selectable_value(&mut cpu, false, "Display GPU")
                .on_hover_text(display);
            ui.selectable_value(&mut cpu, true, "CPU (flex)");
            if cpu != state.train_on_cpu {
                commands.push(Command::SetTrainOnCpu(cpu));
            }
        });
    });
    if let Some(training) = &state.training {
        ui.weak(format!("Running on: {}", training.device));
    }
    ui.separator();
    ui.horizontal(|ui| {
        let status = state.training.as_ref().map(|t| t.status.clone());
        if ui
            .add_enabled(
                !active && state.session.is_some(),
                egui::Button::new("Start"),
            )
            .clicked()
        {
            commands.push(Command::StartTraining);
        }
        match status {
            Some(TrainingStatus::Running) if ui.button("Pause").clicked() => {
                commands.push(Command::PauseTraining);
            }
            Some(TrainingStatus::Paused) if ui.button("Resume").clicked() => {
                commands.push(Command::ResumeTraining);
            }
            _ => {}
        }
        if ui.add_enabled(active, egui::Button::new("Stop")).clicked() {
            commands.push(Command::StopTraining);
        }
    });
    if let Some(training) = &state.training {
        let epoch = training.steps.last().map_or(0.0, |s| s.0);
        let eta = training
            .eta_seconds()
            .map_or(String::new(), |s| format!(", ETA {:.0} s", s));
        ui.add(
            egui::ProgressBar::new(training.progress() as f32).text(format!(
                "epoch {:.1}/{} · {:.0} images/s{eta}",
                epoch, training.config.epochs, training.images_per_second
            )),
        );
        let status = match &training.status {
            TrainingStatus::Starting => "loading images…".to_string(),
            TrainingStatus::Running => format!("running {}", training.run.as_deref().unwrap_or("")),
            TrainingStatus::Paused => "paused".into(),
            TrainingStatus::Finished => {
                format!("finished {}", training.run.as_deref().unwrap_or(""))
            }
            TrainingStatus::Stopped => "stopped".into(),
            TrainingStatus::Failed(e) => format!("failed: {e}"),
        };
        ui.label(status);
    }
    ui.separator();
    if !state.past_runs.is_empty() {
        let selected = state.overlay_run.clone().unwrap_or_else(|| "none".into());
        let mut choice = state.overlay_run.clone();
        egui::ComboBox::from_label("Overlay run")
            .selected_text(selected)
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut choice, None, "none");
                for run in &state.past_runs {
                    ui.selectable_value(&mut choice, Some(run.id.clone()), &run.id);
                }
            });
        if choice != state.overlay_run {
            commands.push(Command::OverlayRun(choice));
        }
    }
}

fn line<'a>(name: &str, points: Vec<[f64; 2]>) -> Line<'a> {
    Line::new(name.to_string(), PlotPoints::from(points))
}

fn metric_points(
    epochs: &[EpochRecord],
    pick: impl Fn(&EpochRecord) -> Option<f64>,
) -> Vec<[f64; 2]> {
    epochs
        .iter()
        .filter_map(|e| pick(e).map(|v| [e.epoch as f64 + 1.0, v]))
        .collect()
}

fn curves_ui(ui: &mut egui::Ui, state: &AppState, _commands: &mut Vec<Command>) {
    let Some(training) = &state.training else {
        ui.label(
            "Press Start to train on this project's labeled pool; curves appear here as it learns.",
        );
        return;
    };
    let overlay = state
        .overlay_run
        .as_ref()
        .and_then(|id| state.past_runs.iter().find(|r| &r.id == id));
    let height = 150.0;
    ui.label("Loss terms (per step)");
    Plot::new("losses")
        .height(height)
        .legend(Legend::default())
        .show(ui, |plot| {
            let series = |f: fn(&crate::train::step::StepLosses) -> f64| {
                training
                    .steps
                    .iter()
                    .map(|(x, l)| [*x, f(l)])
                    .collect::<Vec<_>>()
            };
            plot.line(line("supervised", series(|l| l.supervised)));
            if training.config.method == Method::MeanTeacher {
                plot.line(line("consistency", series(|l| l.consistency)));
                plot.line(line("relation", series(|l| l.relation)));
            }
            plot.line(line("total", series(|l| l.total)));
            if let Some(run) = overlay {
                plot.line(line(
                    &format!("{} total", run.id),
                    metric_points(&run.epochs, |e| Some(e.losses.total)),
                ));
            }
        });
    ui.label("Schedules");
    Plot::new("schedules")
        .height(height * 0.7)
        .legend(Legend::default())
        .show(ui, |plot| {
            plot.line(line(
                "w(e)",
                training.steps.iter().map(|(x, l)| [*x, l.weight]).collect(),
            ));
            plot.line(line(
                "EMA α",
                training.steps.iter().map(|(x, l)| [*x, l.alpha]).collect(),
            ));
            let max_lr = training.config.learning_rate.max(1e-12);
            plot.line(line(
                "lr / lr₀",
                metric_points(&training.epochs, |e| Some(e.learning_rate / max_lr)),
            ));
        });
    ui.label("Test pool (per epoch)");
    Plot::new("test_metrics")
        .height(height)
        .legend(Legend::default())
        .show(ui, |plot| {
            plot.line(line(
                "student accuracy",
                metric_points(&training.epochs, |e| Some(e.student.accuracy)),
            ));
            plot.line(line(
                "student AUC",
                metric_points(&training.epochs, |e| e.student.auc),
            ));
            plot.line(line(
                "student kappa",
                metric_points(&training.epochs, |e| e.student.kappa),
            ));
            plot.line(line(
                "teacher accuracy",
                metric_points(&training.epochs, |e| e.teacher.as_ref().map(|t| t.accuracy)),
            ));
            plot.line(line(
                "teacher AUC",
                metric_points(&training.epochs, |e| e.teacher.as_ref().and_then(|t| t.auc)),
            ));
            plot.line(line(
                "teacher kappa",
                metric_points(&training.epochs, |e| {
                    e.teacher.as_ref().and_then(|t| t.kappa)
                }),
            ));
            if let Some(run) = overlay {
                plot.line(line(
                    &format!("{} accuracy", run.id),
                    metric_points(&run.epochs, |e| {
                        Some(e.teacher.as_ref().unwrap_or(&e.student).accuracy)
                    }),
                ));
            }
        });
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
