//! The status bar: which GPU draws the window and where training runs.

use crate::app::AppState;

/// One line naming the display adapter and the training device.
pub fn status_text(state: &AppState) -> String {
    let display = match &state.display_adapter {
        Some(adapter) => format!(
            "GPU: {} ({}, {})",
            adapter.name, adapter.backend, adapter.device_type
        ),
        None => "GPU: none (software rendering)".to_string(),
    };
    let training = match &state.compute {
        Some(_) if state.training.on_cpu => {
            "training runs on the CPU (flex; choose the display GPU in Training)".to_string()
        }
        Some(compute) if compute.shares_display_device => {
            "training runs on the display device (one shared wgpu device)".to_string()
        }
        Some(compute) => match &state.compute_error {
            Some(error) => format!("training runs on {} — {error}", compute.description),
            None => format!("training runs on {}", compute.description),
        },
        None => "training unavailable".to_string(),
    };
    format!("{display} · {training}")
}

/// UI-thread time of the last frames, to show that training does not slow the window.
#[derive(Default)]
pub struct FrameTimes {
    recent: std::collections::VecDeque<std::time::Duration>,
}

impl FrameTimes {
    const KEPT: usize = 240;

    pub fn push(&mut self, duration: std::time::Duration) {
        if self.recent.len() == Self::KEPT {
            self.recent.pop_front();
        }
        self.recent.push_back(duration);
    }

    /// Median and 95th percentile in milliseconds.
    pub fn summary(&self) -> Option<(f64, f64)> {
        if self.recent.is_empty() {
            return None;
        }
        let mut sorted: Vec<f64> = self.recent.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        sorted.sort_by(f64::total_cmp);
        let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize];
        Some((at(0.5), at(0.95)))
    }
}

pub fn status_ui(
    ui: &mut egui::Ui,
    state: &AppState,
    frames: &FrameTimes,
    commands: &mut crate::app::Commands,
) {
    if let Some(session) = &state.session
        && (session.team.status().is_some() || session.online().is_some())
    {
        ui.horizontal(|ui| {
            match session.online() {
                Some(true) => {
                    ui.label(format!("team project · online as {}", state.settings.annotator));
                }
                Some(false) => {
                    ui.colored_label(
                        ui.visuals().warn_fg_color,
                        "team project · offline: the server does not answer; the window goes on working on an \
                         offline copy in a moment and syncs it when the server is back",
                    );
                }
                None => {}
            }
            if let Some(team) = session.team.status() {
                if session.online().is_some() {
                    ui.separator();
                }
                ui.label(team);
            }
            if session.team.offline.is_some()
                && ui
                    .small_button("Sync now")
                    .on_hover_text("Push the labels made here to the project now")
                    .clicked()
            {
                commands.push(crate::app::team::TeamCommand::SyncNow);
            }
        });
    }
    ui.horizontal(|ui| {
        ui.label(status_text(state));
        if let Some((median, p95)) = frames.summary() {
            ui.separator();
            ui.weak(format!("UI frame {median:.1} ms (p95 {p95:.1})"))
                .on_hover_text("Time the UI thread spent per frame over the last 240 frames");
        }
        // Stays in view (a notice can be replaced by the next message).
        if let Some(problem) = &state.settings_problem {
            ui.separator();
            ui.colored_label(ui.visuals().warn_fg_color, "settings were reset")
                .on_hover_text(problem.as_str());
        }
    });
}
