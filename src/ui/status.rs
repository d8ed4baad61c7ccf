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

pub fn status_ui(ui: &mut egui::Ui, state: &AppState) {
    ui.horizontal(|ui| {
        ui.label(status_text(state));
    });
}
