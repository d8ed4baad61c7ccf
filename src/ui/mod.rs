//! The window: panels draw from [`AppState`] and push [`Command`]s; nothing
//! here changes state directly.

mod status;
mod viewer;

use std::path::PathBuf;

use crate::app::{AppState, Command};
use crate::render::device::{AdapterSummary, wgpu_configuration};
use crate::train::device;

/// File types the Open dialog offers.
const OPEN_FILTER: &[&str] = &[
    "nii", "gz", "hdr", "img", "png", "jpg", "jpeg", "tif", "tiff", "bmp",
];

/// Opens the main window, showing `path` when given.
pub fn run(path: Option<PathBuf>) -> anyhow::Result<()> {
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("Loupe")
            .with_inner_size([1280.0, 800.0])
            .with_min_inner_size([480.0, 320.0])
            .with_drag_and_drop(true),
        renderer: eframe::Renderer::Wgpu,
        wgpu_options: wgpu_configuration(),
        ..Default::default()
    };
    eframe::run_native(
        "Loupe",
        options,
        Box::new(move |cc| Ok(Box::new(LoupeApp::new(cc, path)))),
    )
    .map_err(|e| anyhow::anyhow!("cannot open the window: {e}"))
}

/// The eframe application: state plus the GPU resources drawn from it.
pub struct LoupeApp {
    state: AppState,
    /// The displayed slice's texture and the document revision it shows.
    slice_texture: Option<(u64, egui::TextureHandle)>,
}

impl LoupeApp {
    /// Sets up Burn on eframe's wgpu device (or the CPU when there is none)
    /// and opens `path` when given.
    pub fn new(cc: &eframe::CreationContext<'_>, path: Option<PathBuf>) -> Self {
        let mut state = AppState::default();
        match &cc.wgpu_render_state {
            Some(render_state) => {
                state.display_adapter = Some(AdapterSummary::of(render_state));
                match device::shared_wgpu(render_state) {
                    Ok(compute) => state.compute = Some(compute),
                    Err(error) => {
                        log::warn!("{error}; training will run on the CPU");
                        state.compute_error = Some(error.to_string());
                        state.compute = Some(device::flex());
                    }
                }
            }
            None => state.compute = Some(device::flex()),
        }
        if let Some(path) = path {
            state.apply(Command::Open(path));
        }
        Self {
            state,
            slice_texture: None,
        }
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Applies a command as if a panel had sent it (for tests and scripting).
    pub fn apply(&mut self, command: Command) {
        self.state.apply(command);
    }
}

impl eframe::App for LoupeApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let mut commands = Vec::new();
        input_commands(ui.ctx(), &mut commands);

        egui::Panel::top("menu").show(ui, |ui| menu_ui(ui, &self.state, &mut commands));
        egui::Panel::bottom("status").show(ui, |ui| status::status_ui(ui, &self.state));
        if let Some(document) = &self.state.document {
            egui::Panel::right("controls")
                .resizable(true)
                .default_size(260.0)
                .show(ui, |ui| viewer::controls_ui(ui, document, &mut commands));
        }
        egui::CentralPanel::default_margins().show(ui, |ui| {
            notice_ui(ui, &self.state, &mut commands);
            match &self.state.document {
                Some(document) => {
                    let texture =
                        viewer::slice_texture(ui.ctx(), document, &mut self.slice_texture);
                    viewer::image_ui(ui, document, &texture, &mut commands);
                }
                None => welcome_ui(ui, &mut commands),
            }
        });

        for command in commands {
            self.state.apply(command);
        }
    }
}

/// Files dropped on the window and keyboard shortcuts.
fn input_commands(ctx: &egui::Context, commands: &mut Vec<Command>) {
    ctx.input(|input| {
        for file in &input.raw.dropped_files {
            commands.push(Command::Open(file.path().to_path_buf()));
        }
    });
    if ctx.input_mut(|i| i.consume_key(egui::Modifiers::COMMAND, egui::Key::O)) {
        open_dialog(commands);
    }
}

fn open_dialog(commands: &mut Vec<Command>) {
    let picked = rfd::FileDialog::new()
        .set_title("Open image or volume")
        .add_filter("Images and volumes", OPEN_FILTER)
        .pick_file();
    if let Some(path) = picked {
        commands.push(Command::Open(path));
    }
}

fn menu_ui(ui: &mut egui::Ui, state: &AppState, commands: &mut Vec<Command>) {
    ui.horizontal(|ui| {
        ui.strong("Loupe");
        ui.separator();
        if ui
            .button("Open…")
            .on_hover_text("Open an image or NIfTI volume (Ctrl+O)")
            .clicked()
        {
            open_dialog(commands);
        }
        if !state.history.is_empty() {
            ui.menu_button("Recent", |ui| {
                for path in state.history.iter().rev() {
                    if ui.button(path.display().to_string()).clicked() {
                        commands.push(Command::Open(path.clone()));
                    }
                }
            });
        }
        if let Some(document) = &state.document {
            ui.separator();
            ui.label(document.volume.path.display().to_string());
        }
    });
}

fn notice_ui(ui: &mut egui::Ui, state: &AppState, commands: &mut Vec<Command>) {
    if let Some(notice) = &state.notice {
        ui.horizontal(|ui| {
            let colour = if notice.is_error {
                ui.visuals().error_fg_color
            } else {
                ui.visuals().text_color()
            };
            ui.colored_label(colour, &notice.text);
            if ui.small_button("Dismiss").clicked() {
                commands.push(Command::DismissNotice);
            }
        });
        ui.separator();
    }
}

fn welcome_ui(ui: &mut egui::Ui, commands: &mut Vec<Command>) {
    ui.vertical_centered(|ui| {
        ui.add_space(ui.available_height() / 3.0);
        ui.heading("Open an image or volume");
        ui.label("NIfTI (.nii, .nii.gz, .hdr/.img), PNG, JPEG, TIFF or BMP — or drop a file on the window.");
        if ui.button("Open…").clicked() {
            open_dialog(commands);
        }
    });
}
