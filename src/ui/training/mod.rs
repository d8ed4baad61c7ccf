//! The training dashboard, docked at the bottom of the window (it resizes
//! the views above it, never covers the labeling panel): on the left the
//! controls — Start, Pause/Resume and Stop at fixed places — and the
//! settings in groups; in the middle the curves; on the right the runs
//! table and the shown run's test metrics. The run shown is the window's
//! own, else the past run chosen in the table; compared runs are drawn
//! beside it.

pub mod curves;
mod runs;
mod settings;

use crate::app::training::{TrainingRun, TrainingStatus};
use crate::app::vocabulary::{Metrics, PastRun, reported};
use crate::app::{AppState, Commands, TrainingCommand};
use curves::CurveSource;

/// The dashboard's share of the window's height when first shown.
pub const DEFAULT_HEIGHT_FRACTION: f32 = 0.45;
/// Fixed width of each control button, so none moves when a run starts.
const CONTROL_WIDTH: f32 = 72.0;

/// The docked dashboard, when shown: its height, in points. Called before
/// the side panels, so it spans the window's width. `project` keys its
/// remembered height, `height` (0: none yet) is the project's last one.
pub fn training_panel(
    ui: &mut egui::Ui,
    state: &AppState,
    project: &str,
    height: u32,
    commands: &mut Commands,
) -> Option<u32> {
    if !state.training.show {
        return None;
    }
    let window = ui.ctx().content_rect().height();
    let default = if height == 0 {
        window * DEFAULT_HEIGHT_FRACTION
    } else {
        height as f32
    };
    let panel = egui::Panel::bottom(("training", project))
        .resizable(true)
        .default_size(default)
        .size_range(160.0..=window * 0.85)
        .show(ui, |ui| dashboard_ui(ui, state, commands));
    Some(panel.response.rect.height().round() as u32)
}

fn dashboard_ui(ui: &mut egui::Ui, state: &AppState, commands: &mut Commands) {
    egui::Panel::left("training_settings")
        .resizable(true)
        .default_size(290.0)
        .size_range(220.0..=520.0)
        .show(ui, |ui| {
            controls_ui(ui, state, commands);
            settings::device_ui(ui, state, commands);
            ui.separator();
            egui::ScrollArea::vertical()
                .id_salt("training_settings")
                .auto_shrink([false, false])
                .show(ui, |ui| settings::settings_ui(ui, state, commands));
        });
    egui::Panel::right("training_runs")
        .resizable(true)
        .default_size(440.0)
        .size_range(260.0..=900.0)
        .show(ui, |ui| {
            egui::ScrollArea::vertical()
                .id_salt("training_runs")
                .auto_shrink([false, false])
                .show(ui, |ui| runs_column_ui(ui, state, commands));
        });
    egui::CentralPanel::default_margins().show(ui, |ui| {
        egui::ScrollArea::vertical()
            .id_salt("training_curves")
            .auto_shrink([false, false])
            .show(ui, |ui| curves_column_ui(ui, state, commands));
    });
}

/// The past run the panel shows when the window has no run of its own.
fn shown_past_run(state: &AppState) -> Option<&PastRun> {
    let training = &state.training;
    let id = training.selected.as_ref().or(training.compare.first())?;
    training.past_runs.iter().find(|r| &r.id == id)
}

/// The window's run, when it has one to show (a selected past run wins).
fn shown_live_run(state: &AppState) -> Option<&TrainingRun> {
    let training = &state.training;
    let run = training.run.as_ref()?;
    (training.selected.is_none() || training.selected == run.run).then_some(run)
}

/// Compared runs other than the shown one.
fn compared_runs(state: &AppState) -> Vec<&PastRun> {
    let training = &state.training;
    let shown = shown_live_run(state)
        .and_then(|r| r.run.clone())
        .or_else(|| shown_past_run(state).map(|r| r.id.clone()));
    training
        .compare
        .iter()
        .filter(|id| Some(*id) != shown.as_ref())
        .filter_map(|id| training.past_runs.iter().find(|r| &r.id == id))
        .collect()
}

/// A run id's short name: its method and time of day (`mean-teacher 16:33`).
fn short_name(id: &str) -> String {
    let (stamp, method) = id.split_once('-').unwrap_or(("", id));
    let time = stamp
        .parse::<u64>()
        .map(|ms| {
            let minutes = ms / 60_000 % (24 * 60);
            format!(" {:02}:{:02}", minutes / 60, minutes % 60)
        })
        .unwrap_or_default();
    format!("{method}{time}")
}

fn curves_column_ui(ui: &mut egui::Ui, state: &AppState, commands: &mut Commands) {
    let live = shown_live_run(state);
    let past = shown_past_run(state);
    let mut sources: Vec<CurveSource<'_>> = Vec::new();
    match (live, past) {
        (Some(run), _) => sources.push(CurveSource {
            label: String::new(),
            steps: &run.steps,
            epochs: &run.epochs,
        }),
        (None, Some(past)) => {
            ui.label(format!("Run {} (per epoch)", past.id));
            sources.push(CurveSource {
                label: String::new(),
                steps: &[],
                epochs: &past.epochs,
            });
        }
        (None, None) => {
            ui.label(
                "Press Start to train on this project's labeled pool; curves appear here as it \
                 learns. Click a run in the table to review it, tick runs to compare them.",
            );
            return;
        }
    }
    for other in compared_runs(state) {
        sources.push(CurveSource {
            label: short_name(&other.id),
            steps: &[],
            epochs: &other.epochs,
        });
    }
    curves::curves_ui(ui, &sources, &state.training.curves, commands);
    curves::latest_values_ui(ui, &sources[0]);
}

fn runs_column_ui(ui: &mut egui::Ui, state: &AppState, commands: &mut Commands) {
    ui.label(egui::RichText::new("Runs").strong());
    runs::runs_table_ui(ui, state, commands);
    ui.separator();
    let classes: Vec<String> = state
        .session
        .as_ref()
        .map(|s| s.project.schema().target_field().values.clone())
        .unwrap_or_default();
    // The shown run's reported metrics: the summary's (chosen epoch) once
    // it ended, else its latest epoch's.
    let (name, epochs, summary) = match (shown_live_run(state), shown_past_run(state)) {
        (Some(run), _) => (
            run.run.as_deref().map_or("this run".into(), short_name),
            run.epochs.as_slice(),
            run.summary.as_ref(),
        ),
        (None, Some(past)) => (
            short_name(&past.id),
            past.epochs.as_slice(),
            past.summary.as_ref(),
        ),
        (None, None) => (String::new(), &[][..], None),
    };
    let (student, teacher) = match reported(epochs, summary) {
        Some((student, teacher)) => (Some(student), teacher),
        None => (None, None),
    };
    let compared = compared_runs(state);
    if !compared.is_empty() {
        let mut columns: Vec<(String, Option<&Metrics>)> =
            vec![(name.clone(), teacher.or(student))];
        for other in &compared {
            columns.push((
                short_name(&other.id),
                other.reported_metrics().map(|(m, _)| m),
            ));
        }
        runs::compare_table_ui(ui, &columns);
        ui.separator();
    }
    if let Some(student) = student {
        ui.label(egui::RichText::new(format!("Test pool · {name}")).strong());
        runs::test_metrics_ui(ui, student, teacher, &classes);
    }
    if let Some(eye) = summary.and_then(|s| s.eye.as_ref()) {
        runs::eye_metrics_ui(ui, eye);
    }
    runs::lineage_ui(ui, state);
}

/// Start, Pause/Resume and Stop, each always in its place (a button that
/// cannot act is greyed, never removed); then progress and status.
fn controls_ui(ui: &mut egui::Ui, state: &AppState, commands: &mut Commands) {
    let training = &state.training;
    let run = training.run.as_ref();
    let active = run.is_some_and(|t| t.is_active());
    let status = run.map(|t| t.status.clone());
    ui.horizontal(|ui| {
        let size = egui::vec2(CONTROL_WIDTH, 0.0);
        if ui
            .add_enabled(
                !active && state.session.is_some(),
                egui::Button::new("Start").min_size(size),
            )
            .clicked()
        {
            commands.push(TrainingCommand::Start);
        }
        let paused = status == Some(TrainingStatus::Paused);
        let (title, command) = if paused {
            ("Resume", TrainingCommand::Resume)
        } else {
            ("Pause", TrainingCommand::Pause)
        };
        let can = matches!(
            status,
            Some(TrainingStatus::Running | TrainingStatus::Paused)
        );
        if ui
            .add_enabled(can, egui::Button::new(title).min_size(size))
            .clicked()
        {
            commands.push(command);
        }
        if ui
            .add_enabled(active, egui::Button::new("Stop").min_size(size))
            .clicked()
        {
            commands.push(TrainingCommand::Stop);
        }
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            if ui
                .small_button("Hide")
                .on_hover_text("Hide the training dashboard (a run goes on)")
                .clicked()
            {
                commands.push(TrainingCommand::Show(false));
            }
        });
    });
    let Some(run) = run else {
        return;
    };
    ui.add(egui::ProgressBar::new(run.progress() as f32).text(progress_text(run)));
    let id = run.run.as_deref().unwrap_or("");
    let line = match &run.status {
        TrainingStatus::Starting => "loading images…".to_string(),
        TrainingStatus::Running => format!("running {id}"),
        TrainingStatus::Paused => format!("paused {id}"),
        TrainingStatus::Finished => match run.summary.as_ref().and_then(|s| s.chosen_epoch) {
            Some(epoch) => format!("finished {id}; reporting epoch {}", epoch + 1),
            None => format!("finished {id}"),
        },
        TrainingStatus::Stopped => format!("stopped {id}"),
        TrainingStatus::Failed(e) => format!("failed: {e}"),
    };
    ui.add(egui::Label::new(line).truncate()).on_hover_text(id);
}

/// `epoch 3.4/20 · 41 images/s, ETA 12 s` — or `paused` instead of the ETA;
/// slices, volumes, patches or records per second for the models that
/// train on those.
fn progress_text(run: &TrainingRun) -> String {
    let epoch = run.steps.last().map_or(0.0, |s| s.0);
    let tail = match (&run.status, run.eta_seconds()) {
        (TrainingStatus::Paused, _) => ", paused".to_string(),
        (_, Some(seconds)) => format!(", ETA {seconds:.0} s"),
        _ => String::new(),
    };
    format!(
        "epoch {epoch:.1}/{} · {}{tail}",
        run.epochs_planned,
        pace_text(run.images_per_second, run.config.sample_unit())
    )
}

/// `41 images/s`; a pace under 10 a second with one decimal (a 3-D
/// network's 1.4 volumes/s would read `1`).
fn pace_text(per_second: f64, unit: &str) -> String {
    if per_second < 9.95 {
        format!("{per_second:.1} {unit}/s")
    } else {
        format!("{per_second:.0} {unit}/s")
    }
}

#[cfg(test)]
mod tests {
    use super::{pace_text, short_name};

    #[test]
    fn a_pace_names_its_samples_and_keeps_a_decimal_when_slow() {
        assert_eq!(pace_text(245.4, "images"), "245 images/s");
        assert_eq!(pace_text(1.44, "volumes"), "1.4 volumes/s");
        assert_eq!(pace_text(9.96, "slices"), "10 slices/s");
    }

    #[test]
    fn a_run_is_named_by_its_method_and_time_of_day() {
        assert_eq!(
            short_name("1796229197302-mean-teacher"),
            "mean-teacher 16:33"
        );
        assert_eq!(short_name("odd"), "odd");
    }
}
