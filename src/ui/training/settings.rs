//! The training panel's settings, in collapsible groups: the chosen
//! method's own groups first (from its declarations), then data, model,
//! optimisation and where the run starts; the device sits with the controls. Methods the project's
//! data cannot feed are listed greyed, with the reason on hover (the rule
//! is `train::presets::method_offered`, from the methods' declarations).

use crate::app::training::TrainingStatus;
use crate::app::vocabulary::{
    self, ChoiceRule, InputKind, ModelKind, OptimizerKind, PastRun, Preset, Setting, SettingKind,
    SettingValue, TrainConfig, XceptionOptions, limits,
};
use crate::app::vocabulary::{EyePooling, LabelSource};
use crate::app::{AppState, Commands, TrainingCommand};

/// Groups every run has; a method's declared settings of these names join them.
const DATA: &str = "Data";
const MODEL: &str = "Model";
const OPTIMISATION: &str = "Optimisation";

fn drag<'a, T: egui::emath::Numeric>(
    value: &'a mut T,
    range: std::ops::RangeInclusive<T>,
    speed: f64,
) -> egui::DragValue<'a> {
    egui::DragValue::new(value).range(range).speed(speed)
}

/// One collapsible group of settings, open until the user folds it.
fn section(ui: &mut egui::Ui, title: &str, body: impl FnOnce(&mut egui::Ui)) {
    egui::CollapsingHeader::new(egui::RichText::new(title).strong())
        .id_salt(("training_section", title))
        .default_open(true)
        .show(ui, body);
}

pub fn settings_ui(ui: &mut egui::Ui, state: &AppState, commands: &mut Commands) {
    let training = &state.training;
    let active = training.run.as_ref().is_some_and(|t| t.is_active());
    let mut config: TrainConfig = training.config.clone();
    ui.add_enabled_ui(!active, |ui| {
        presets_ui(ui, &mut config, commands);
        method_choice_ui(ui, state, &mut config);
        // The method's own groups first: what a researcher came to change.
        let mut own_groups: Vec<&str> = Vec::new();
        for s in config.method.spec().settings {
            if ![DATA, MODEL, OPTIMISATION].contains(&s.group) && !own_groups.contains(&s.group) {
                own_groups.push(s.group);
            }
        }
        for group in own_groups {
            section(ui, group, |ui| declared_settings_ui(ui, &mut config, group));
        }
        section(ui, DATA, |ui| data_ui(ui, state, &mut config));
        section(ui, MODEL, |ui| model_ui(ui, &mut config));
        section(ui, OPTIMISATION, |ui| optimisation_ui(ui, &mut config));
        section(ui, "Start from", |ui| {
            start_from_ui(ui, state, &mut config, commands)
        });
    });
    if config != training.config {
        commands.push(TrainingCommand::SetConfig(Box::new(config)));
    }
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
        if let TrainingStatus::Failed(message) = &run.status {
            ui.colored_label(ui.visuals().error_fg_color, message);
        }
    }
}

/// The presets, and a way back to the project's own.
fn presets_ui(ui: &mut egui::Ui, config: &mut TrainConfig, commands: &mut Commands) {
    ui.horizontal_wrapped(|ui| {
        ui.label("Preset");
        for preset in Preset::ALL {
            if ui
                .small_button(preset.title())
                .on_hover_text(preset.description())
                .clicked()
            {
                *config = preset.apply_to(config);
            }
        }
        if ui
            .small_button("Reset to preset")
            .on_hover_text(
                "Every setting back to this project's preset on this device; the method stays",
            )
            .clicked()
        {
            commands.push(TrainingCommand::ResetToPreset);
        }
    });
}

/// Every registered method; those the project's data cannot feed greyed,
/// the reason on hover.
fn method_choice_ui(ui: &mut egui::Ui, state: &AppState, config: &mut TrainConfig) {
    let schema = state.session.as_ref().map(|s| s.project.schema());
    let mut method = config.method;
    ui.horizontal_wrapped(|ui| {
        ui.label("Method");
        for m in vocabulary::methods() {
            let offered = schema.map_or(Ok(()), |s| vocabulary::method_offered(m, s));
            let button = ui.add_enabled(
                offered.is_ok(),
                egui::Button::selectable(method == m, m.title()),
            );
            if button.clicked() {
                method = m;
            }
            if let Err(why) = offered {
                button.on_disabled_hover_text(why);
            }
        }
    });
    if method != config.method {
        // A method that cannot read the current input reads its own
        // (the rule is the method's declaration's, in `app::vocabulary`).
        vocabulary::switch_method(config, method, schema);
    }
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
}

/// What the run reads and how it is split and augmented.
fn data_ui(ui: &mut egui::Ui, state: &AppState, config: &mut TrainConfig) {
    inputs_ui(ui, state, config);
    let schema = state.session.as_ref().map(|s| s.project.schema());
    if schema.is_some_and(|s| s.grades_exams()) {
        eye_settings_ui(ui, config);
    }
    egui::Grid::new("data_settings").num_columns(2).show(ui, |ui| {
        let label = ui.label("Validation fraction");
        ui.add(drag(&mut config.validation_fraction, limits::VALIDATION_FRACTION, 0.01))
            .labelled_by(label.id);
        ui.end_row();
        let label = ui.label("Rotation (± degrees)");
        ui.add(drag(&mut config.augmentation.rotation_degrees, limits::ROTATION_DEGREES, 1.0))
            .labelled_by(label.id);
        ui.end_row();
        if schema.is_some_and(|s| s.crop.is_some()) {
            ui.label("Crop");
            ui.checkbox(&mut config.crop, "largest component").on_hover_text(
                "Train and predict on each image's crop box (drawn in the viewer); off: whole frames",
            );
            ui.end_row();
        }
    });
    declared_settings_ui(ui, config, DATA);
}

/// The network, its size and its regularisation.
fn model_ui(ui: &mut egui::Ui, config: &mut TrainConfig) {
    ui.horizontal_wrapped(|ui| {
        ui.label("Model");
        for &model in config.input_kind().models() {
            ui.selectable_value(&mut config.model, model, model.title());
        }
    });
    if config.model == ModelKind::Xception {
        ui.checkbox(&mut config.xception.dilated, "dilated downsampling")
            .on_hover_text("Learnable dilated 3×3 convolutions instead of max-pooling");
    }
    if config.model.is_xception()
        && (config.xception.dilated || config.model == ModelKind::XceptionDd)
    {
        // The label on its own line: the settings column is narrow.
        ui.label("Downsampling dilation");
        ui.horizontal(|ui| {
            ui.selectable_value(&mut config.xception.down_dilation, 2, "2 (method)")
                .on_hover_text("METHODS.md §2: 3×3, stride 2, dilation 2");
            ui.selectable_value(&mut config.xception.down_dilation, 1, "1 (control)")
                .on_hover_text("The same learnable stride-2 convolution without dilation");
        });
    }
    if config.model == ModelKind::Xception {
        ui.checkbox(&mut config.xception.dense, "dense connections")
            .on_hover_text("Input ⊕ entry (⊕ middle) fed to the middle and exit flows");
    }
    if config.model.is_xception() {
        xception_depth_ui(ui, &mut config.xception);
    }
    egui::Grid::new("model_settings")
        .num_columns(2)
        .show(ui, |ui| {
            let label = ui.label("Input size (px)");
            ui.add(drag(&mut config.input_size, limits::INPUT_SIZE, 1.0))
                .labelled_by(label.id);
            ui.end_row();
            let label = ui.label("Width");
            ui.add(drag(&mut config.width, limits::WIDTH, 0.2))
                .labelled_by(label.id);
            ui.end_row();
            let label = ui.label("Dropout");
            ui.add(drag(&mut config.dropout, limits::DROPOUT, 0.01))
                .labelled_by(label.id);
            ui.end_row();
        });
    declared_settings_ui(ui, config, MODEL);
}

/// Epochs, batches, the optimiser and its loss, and which epoch is reported.
fn optimisation_ui(ui: &mut egui::Ui, config: &mut TrainConfig) {
    egui::Grid::new("train_settings").num_columns(2).show(ui, |ui| {
        let row = |ui: &mut egui::Ui, name: &str, widget: egui::DragValue| {
            let label = ui.label(name);
            ui.add(widget).labelled_by(label.id);
            ui.end_row();
        };
        let batch = config.batch_size;
        row(ui, "Epochs", drag(&mut config.epochs, limits::EPOCHS, 1.0));
        row(ui, "Batch size", drag(&mut config.batch_size, limits::BATCH_SIZE, 0.2));
        row(ui, "Labeled per batch", drag(&mut config.labeled_per_batch, 1..=batch, 0.2));
        row(ui, "Learning rate", drag(&mut config.learning_rate, limits::LEARNING_RATE, 1e-4));
        row(ui, "Focal loss weight", drag(&mut config.loss.focal_weight, limits::FOCAL_WEIGHT, 0.05));
        row(ui, "Focal γ", drag(&mut config.loss.focal_gamma, limits::FOCAL_GAMMA, 0.05));
        ui.label("Class weights");
        ui.checkbox(&mut config.loss.class_weights, "by frequency").on_hover_text(
            "Weigh each labeled image by N / (C · n_class): rare classes count as much as common ones",
        );
        ui.end_row();
        row(ui, "Seed", egui::DragValue::new(&mut config.seed));
    });
    config.labeled_per_batch = config.labeled_per_batch.clamp(1, config.batch_size);
    ui.horizontal(|ui| {
        ui.label("Optimizer");
        ui.selectable_value(&mut config.optimizer, OptimizerKind::Adam, "Adam");
        ui.selectable_value(&mut config.optimizer, OptimizerKind::Sgd, "SGD");
    });
    ui.checkbox(&mut config.cosine_schedule, "Cosine learning-rate decay");
    declared_settings_ui(ui, config, OPTIMISATION);
    ui.horizontal_wrapped(|ui| {
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
}

/// The display's GPU or the CPU, and the CPU's threads (greyed while a run goes on).
pub fn device_ui(ui: &mut egui::Ui, state: &AppState, commands: &mut Commands) {
    let training = &state.training;
    let active = training.run.as_ref().is_some_and(|t| t.is_active());
    ui.add_enabled_ui(!active, |ui| {
        ui.horizontal_wrapped(|ui| {
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
        })
    });
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

/// What the run reads (for a project of cases: the record, one modality's
/// volume in 3-D or its slices in 2-D, or slices and record together), how
/// slices are chosen, and the teacher runs a distillation method needs —
/// one per kind of input its teachers read, chosen from this project's
/// finished runs.
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

/// The chosen method's declared settings of one panel group: a drag value
/// in the declared range for a number, a checkbox for a switch, the
/// declared help on hover.
fn declared_settings_ui(ui: &mut egui::Ui, config: &mut TrainConfig, group: &str) {
    let settings = config.method.spec().settings;
    if !settings.iter().any(|s| s.group == group) {
        return;
    }
    egui::Grid::new(("method_settings", group))
        .num_columns(2)
        .show(ui, |ui| {
            for setting in settings.iter().filter(|s| s.group == group) {
                setting_row(ui, config, setting);
                ui.end_row();
            }
        });
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
/// Three lines (a title, the counts, the button): on one line they were
/// wider than the settings column's default width and pushed it wider
/// (seen at 1280×720).
fn xception_depth_ui(ui: &mut egui::Ui, options: &mut XceptionOptions) {
    ui.label("Xception blocks");
    ui.horizontal(|ui| {
        let counts = [
            (
                "entry",
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
    });
    ui.horizontal(|ui| {
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
