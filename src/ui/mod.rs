//! The window: panels draw from [`AppState`] and push [`Command`]s; nothing
//! here changes state directly.

mod browser;
mod exams;
mod image_screen;
mod labeling;
mod painting;
mod picker;
mod status;
mod team;
pub mod training;
mod viewer;
mod zones;

use std::path::PathBuf;

use crate::app::settings::{PanelSizes, default_data_dir};
use crate::app::{
    AppState, Command, Commands, JobCommand, LabelingCommand, Launch, TrainingCommand,
    ViewerCommand, WindowCommand, ZoneCommand,
};
use crate::render::device::{AdapterSummary, wgpu_configuration};

/// File types the Open dialog offers.
const OPEN_FILTER: &[&str] = &[
    "nii", "gz", "hdr", "img", "png", "jpg", "jpeg", "tif", "tiff", "bmp", "dcm", "dicom",
];

/// Opens the main window on a file, a project folder, or (no path) the
/// recent project or the ROP demo.
pub fn run(path: Option<PathBuf>) -> anyhow::Result<()> {
    let launch = Launch::from_path(path);
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("Loupe")
            // Maximised, as a workstation is used all day; 1400×860 when restored.
            .with_maximized(true)
            .with_inner_size([1400.0, 860.0])
            .with_min_inner_size([640.0, 400.0])
            .with_drag_and_drop(true),
        renderer: eframe::Renderer::Wgpu,
        wgpu_options: wgpu_configuration(),
        ..Default::default()
    };
    eframe::run_native(
        "Loupe",
        options,
        Box::new(move |cc| Ok(Box::new(LoupeApp::new(cc, launch, default_data_dir())))),
    )
    .map_err(|e| anyhow::anyhow!("cannot open the window: {e}"))
}

/// The eframe application: state plus what the window keeps for drawing it.
pub struct LoupeApp {
    state: AppState,
    viewer: viewer::ViewerCache,
    thumbnails: browser::Thumbnails,
    picker: picker::PickerDraft,
    annotator_draft: String,
    paint_draft: painting::PaintDraft,
    note_draft: String,
    /// The reason typed in the review queue (for a rejection).
    reason_draft: String,
    /// What is typed in the password prompt (sent, then cleared).
    password_draft: String,
    /// The item whose note `note_draft` holds.
    note_of: Option<i64>,
    /// How long recent frames took on the UI thread.
    frame_times: status::FrameTimes,
    /// The panels' sizes as last drawn.
    panels_drawn: PanelSizes,
    /// A panel is being dragged to a new size.
    resizing_panels: bool,
}

impl LoupeApp {
    /// Sets up Burn on eframe's wgpu device (or the CPU when there is none)
    /// and opens what `launch` asks for. Settings live in `data_dir`.
    pub fn new(cc: &eframe::CreationContext<'_>, launch: Launch, data_dir: PathBuf) -> Self {
        let mut state = AppState::new(data_dir);
        match &cc.wgpu_render_state {
            Some(render_state) => {
                state.display_adapter = Some(AdapterSummary::of(render_state));
                match crate::app::training::display_compute(render_state) {
                    Ok(compute) => state.compute = Some(compute),
                    Err(error) => {
                        log::warn!("{error}; training will run on the CPU");
                        state.compute_error = Some(error.to_string());
                        state.compute = Some(crate::app::vocabulary::cpu_compute());
                    }
                }
            }
            None => state.compute = Some(crate::app::vocabulary::cpu_compute()),
        }
        state.launch(launch);
        Self {
            annotator_draft: state.settings.annotator.clone(),
            state,
            viewer: Default::default(),
            thumbnails: Default::default(),
            picker: Default::default(),
            paint_draft: Default::default(),
            note_draft: String::new(),
            reason_draft: String::new(),
            password_draft: String::new(),
            note_of: None,
            frame_times: Default::default(),
            panels_drawn: PanelSizes::default(),
            resizing_panels: false,
        }
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The state itself, for tests and scripting that set up what no panel can
    /// (a run of a method the panel does not list).
    pub fn state_mut(&mut self) -> &mut AppState {
        &mut self.state
    }

    /// Where the view of `plane` (of the case's first volume) was drawn
    /// in the last frame, in points (for tests that paint with the mouse).
    pub fn view_rect(&self, plane: crate::volume::slice::Plane) -> Option<egui::Rect> {
        self.viewer
            .view_rects
            .iter()
            .find(|(p, which, _)| *p == plane && *which == 0)
            .map(|(_, _, r)| *r)
    }

    /// The browser's and labeling panel's widths and the dashboard's height
    /// as drawn in the last frame, in points (0: not shown).
    pub fn panels_drawn(&self) -> PanelSizes {
        self.panels_drawn
    }

    /// Browser thumbnails still being drawn off the UI thread.
    pub fn thumbnails_pending(&self) -> usize {
        self.thumbnails.pending()
    }

    /// Applies a command as if a panel had sent it (for tests and scripting).
    pub fn apply(&mut self, command: impl Into<Command>) {
        self.state.apply(command);
    }

    /// Keeps the drafts of text fields in step with the state they edit.
    fn sync_drafts(&mut self) {
        let selected = self.state.session.as_ref().and_then(|s| s.selected);
        if selected != self.note_of {
            self.note_of = selected;
            self.note_draft = self
                .state
                .session
                .as_ref()
                .and_then(|s| s.selected_row())
                .and_then(|r| r.remarks.get(&self.state.settings.annotator))
                .map(|r| r.note.clone())
                .unwrap_or_default();
        }
    }
}

/// The browser's and the labeling panel's widths until the user sets them.
const BROWSER_WIDTH: f32 = 330.0;
const CONTROLS_WIDTH: f32 = 300.0;

impl eframe::App for LoupeApp {
    fn ui(&mut self, ui: &mut egui::Ui, frame: &mut eframe::Frame) {
        let frame_started = std::time::Instant::now();
        self.state.poll();
        if self.state.job.is_some() {
            ui.ctx()
                .request_repaint_after(std::time::Duration::from_millis(100));
        }
        if self
            .state
            .session
            .as_ref()
            .is_some_and(|s| s.is_shared() || s.team.offline.is_some())
        {
            // Others' work on a team project appears within a second; an
            // offline copy's sync reports back.
            ui.ctx()
                .request_repaint_after(std::time::Duration::from_millis(400));
        }
        self.sync_drafts();
        let mut commands = Commands::default();
        input_commands(ui.ctx(), &self.state, &mut commands);

        egui::Panel::top("menu").show(ui, |ui| {
            menu_ui(
                ui,
                &self.state,
                &mut self.annotator_draft,
                &mut self.picker,
                &mut commands,
            )
        });
        egui::Panel::bottom("status").show(ui, |ui| {
            status::status_ui(ui, &self.state, &self.frame_times, &mut commands)
        });
        // Each project keeps the panel sizes its user gave it: the panels'
        // ids carry the project, their first sizes come from the settings.
        let sizes = self.state.panel_sizes();
        let key = self.state.panel_key().unwrap_or_default();
        let mut measured = sizes;
        // Docked across the window's width, above the status bar.
        if let Some(height) =
            training::training_panel(ui, &self.state, &key, sizes.training_height, &mut commands)
        {
            measured.training_height = height;
        }
        if let Some(session) = &self.state.session {
            if session.exams.shown {
                // The exam view takes the browser's place, the viewer beside it.
                let width = ui.ctx().content_rect().width();
                egui::Panel::left("exams")
                    .resizable(false)
                    .exact_size(width * exams::EXAM_PANEL_FRACTION)
                    .show(ui, |ui| {
                        exams::exams_ui(
                            ui,
                            session,
                            &self.state.settings.annotator,
                            &mut self.thumbnails,
                            &mut commands,
                        )
                    });
            } else {
                let browser = egui::Panel::left(("browser", key.as_str()))
                    .resizable(true)
                    .default_size(PanelSizes::or(sizes.browser_width, BROWSER_WIDTH))
                    .size_range(200.0..=720.0)
                    .show(ui, |ui| {
                        // Long count lines wrap; they never widen the panel.
                        ui.set_max_width(ui.available_width());
                        browser::browser_ui(ui, session, &mut self.thumbnails, &mut commands)
                    });
                measured.browser_width = browser.response.rect.width().round() as u32;
            }
        }
        if self.state.session.is_some() || self.state.document.is_some() {
            let controls = egui::Panel::right(("controls", key.as_str()))
                .resizable(true)
                .default_size(PanelSizes::or(sizes.controls_width, CONTROLS_WIDTH))
                .size_range(240.0..=640.0)
                .show(ui, |ui| {
                    // The panel keeps the width its user gave it: a wider
                    // section (a tool's settings, an explanation) wraps or
                    // scrolls instead of pushing the views.
                    let width = ui.available_width();
                    egui::ScrollArea::vertical().show(ui, |ui| {
                        ui.set_max_width(width);
                        if let Some(session) = &self.state.session {
                            labeling::labeling_ui(
                                ui,
                                &self.state,
                                session,
                                &mut self.note_draft,
                                &mut commands,
                            );
                            ui.separator();
                        }
                        if let Some(document) = &self.state.document {
                            // While a paint tool is out, its section is long:
                            // window/level comes first, so it stays in sight.
                            let painting_now =
                                self.state.painting.tool != crate::app::painting::Tool::Navigate;
                            if painting_now {
                                viewer::window_level_ui(ui, document, &mut commands);
                                ui.separator();
                            }
                            painting::painting_ui(
                                ui,
                                &self.state.painting,
                                document,
                                &mut self.paint_draft,
                                &mut commands,
                            );
                            let picked = self.state.session.as_ref().and_then(|s| {
                                let id = s.selected?;
                                let picked = s.cases.slice_picks.get(&id)?;
                                let roles = &s.project.schema().modalities;
                                let shown = s.cases.shown_role(id, roles, s.shown_role.as_deref());
                                (shown.as_deref() == Some(picked.role.as_str())).then_some(picked)
                            });
                            if let Some(overlay) = &document.zones {
                                zones::controls_ui(ui, overlay, &mut commands);
                            }
                            viewer::controls_ui(
                                ui,
                                document,
                                picked,
                                self.viewer.gpu_notice.as_deref(),
                                painting_now,
                                &mut commands,
                            );
                        }
                    });
                });
            measured.controls_width = controls.response.rect.width().round() as u32;
        }
        // A panel dragged to a new size is remembered once the mouse lets go.
        let pointer_down = ui.input(|i| i.pointer.any_down());
        if pointer_down
            && measured != self.panels_drawn
            && self.panels_drawn != PanelSizes::default()
        {
            self.resizing_panels = true;
        }
        if !pointer_down
            && std::mem::take(&mut self.resizing_panels)
            && self.state.session.is_some()
        {
            commands.push(WindowCommand::SetPanelSizes(measured));
        }
        self.panels_drawn = measured;
        egui::CentralPanel::default_margins().show(ui, |ui| {
            notice_ui(ui, &self.state, &mut commands);
            match &self.state.document {
                Some(document) => {
                    painting::toolbar_ui(ui, &self.state.painting, &mut commands);
                    viewer::views_ui(
                        ui,
                        document,
                        &self.state.painting,
                        frame.wgpu_render_state(),
                        &mut self.viewer,
                        &mut commands,
                    );
                }
                None if self.state.session.is_some() => {}
                None => welcome_ui(ui, &mut commands),
            }
        });
        picker::picker_ui(ui.ctx(), &self.state, &mut self.picker, &mut commands);
        picker::import_ui(ui.ctx(), &mut self.picker, &mut commands);
        team::review_ui(ui.ctx(), &self.state, &mut self.reason_draft, &mut commands);
        team::password_ui(
            ui.ctx(),
            &self.state,
            &mut self.password_draft,
            &mut commands,
        );
        if self
            .state
            .training
            .run
            .as_ref()
            .is_some_and(|t| t.is_active())
        {
            // Curves update while the run goes on.
            ui.ctx()
                .request_repaint_after(std::time::Duration::from_millis(200));
        }

        for command in commands.drain() {
            self.state.apply(command);
        }
        self.frame_times.push(frame_started.elapsed());
    }
}

/// The character a key types, for label hotkeys (digits and letters).
fn key_char(key: egui::Key) -> Option<char> {
    let name = key.name();
    let mut chars = name.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) if c.is_ascii_alphanumeric() => Some(c.to_ascii_lowercase()),
        _ => None,
    }
}

/// Files dropped on the window and keyboard shortcuts (not while typing in a text field).
/// The zone overlay's keys on a posterior-pole photograph: `Z` shows or
/// hides the zones (unless the schema gives Z to a value), Esc stops
/// placing marks.
fn zone_key(state: &AppState, key: egui::Key) -> Option<ZoneCommand> {
    let overlay = state.document.as_ref()?.zones.as_ref()?;
    let schema = state.session.as_ref()?.project.schema();
    match key {
        egui::Key::Z if schema.value_for_key('z').is_none() => Some(ZoneCommand::Toggle),
        egui::Key::Escape if overlay.placing != crate::app::zones::Placing::Idle => {
            Some(ZoneCommand::Cancel)
        }
        _ => None,
    }
}

fn input_commands(ctx: &egui::Context, state: &AppState, commands: &mut Commands) {
    ctx.input(|input| {
        for file in &input.raw.dropped_files {
            let path = file.path().to_path_buf();
            if crate::app::vocabulary::is_project(&path) {
                commands.push(WindowCommand::OpenProject(path));
            } else if path.is_dir() && state.session.is_none() {
                // A folder without a project open: a DICOM series to view.
                commands.push(ViewerCommand::Open(path));
            } else if path.is_dir() || state.session.is_some() {
                // Into the open project, or a folder: import it.
                commands.push(JobCommand::Import {
                    paths: vec![path],
                    labels: None,
                    test_fraction: 0.0,
                    adjudications: false,
                });
            } else {
                commands.push(ViewerCommand::Open(path));
            }
        }
    });
    if ctx.input_mut(|i| i.consume_key(egui::Modifiers::COMMAND, egui::Key::O)) {
        open_dialog(commands);
    }
    let typing = ctx.egui_wants_keyboard_input();
    if typing {
        return;
    }
    let Some(session) = &state.session else {
        return;
    };
    let schema = session.project.schema();
    let events = ctx.input(|i| i.events.clone());
    for event in events {
        let egui::Event::Key {
            key,
            pressed: true,
            modifiers,
            ..
        } = event
        else {
            continue;
        };
        if session.exams.shown && !modifiers.any() && exams::exam_key(&session.exams, key, commands)
        {
            continue;
        }
        if painting::paint_key(&state.painting, key, modifiers, commands) {
            continue;
        }
        if !modifiers.any()
            && let Some(command) = zone_key(state, key)
        {
            commands.push(command);
            continue;
        }
        if modifiers.command {
            match key {
                egui::Key::Z if modifiers.shift => commands.push(LabelingCommand::Redo),
                egui::Key::Z => commands.push(LabelingCommand::Undo),
                egui::Key::Y => commands.push(LabelingCommand::Redo),
                _ => {}
            }
            continue;
        }
        if modifiers.alt {
            continue;
        }
        match key {
            egui::Key::ArrowRight | egui::Key::J => commands.push(LabelingCommand::StepItem(1)),
            egui::Key::ArrowLeft | egui::Key::K => commands.push(LabelingCommand::StepItem(-1)),
            egui::Key::N => commands.push(LabelingCommand::NextUnlabeled),
            egui::Key::U => commands.push(LabelingCommand::NextMostUncertain),
            // M cycles a case's modalities, unless the schema gives M to a value.
            egui::Key::M if cycles_modalities(state) && schema.value_for_key('m').is_none() => {
                if let Some(next) = next_modality(state) {
                    commands.push(LabelingCommand::ShowModality(Some(next)));
                }
            }
            other => {
                if let Some((field, value)) = key_char(other).and_then(|c| schema.value_for_key(c))
                {
                    commands.push(LabelingCommand::SetLabel {
                        field: field.name.clone(),
                        value: Some(field.values[value].clone()),
                    });
                }
            }
        }
    }
}

fn open_dialog(commands: &mut Commands) {
    // DICOM files often have no extension: "All files" lets them be picked.
    let picked = rfd::FileDialog::new()
        .set_title("Open image, volume or DICOM file")
        .add_filter("Images and volumes", OPEN_FILTER)
        .add_filter("All files (DICOM)", &["*"])
        .pick_file();
    if let Some(path) = picked {
        commands.push(ViewerCommand::Open(path));
    }
}

/// A folder holding one DICOM series, opened in the viewer.
fn open_series_dialog(commands: &mut Commands) {
    if let Some(folder) = rfd::FileDialog::new()
        .set_title("Open a DICOM series folder")
        .pick_folder()
    {
        commands.push(ViewerCommand::Open(folder));
    }
}

/// How many items *Take offline…* claims.
const OFFLINE_ITEMS: usize = 50;

fn menu_ui(
    ui: &mut egui::Ui,
    state: &AppState,
    annotator_draft: &mut String,
    picker: &mut picker::PickerDraft,
    commands: &mut Commands,
) {
    ui.horizontal(|ui| {
        ui.strong("Loupe");
        ui.separator();
        if ui
            .button("Projects…")
            .on_hover_text("New, open, recent and demo projects")
            .clicked()
        {
            commands.push(WindowCommand::ShowProjectPicker(true));
        }
        if let Some(session) = &state.session {
            if ui.button("Import…").clicked() {
                picker.show_import = true;
            }
            if (session.project.schema().grades_exams() || !session.exams.exams.is_empty())
                && ui
                    .selectable_label(session.exams.shown, "Exams")
                    .on_hover_text("Infants, exams and eyes: grade each eye on the ICROP3 form")
                    .clicked()
            {
                commands.push(crate::app::ExamCommand::Show(!session.exams.shown));
            }
            if ui
                .button("Find moved files…")
                .on_hover_text("Point missing items at files with the same content")
                .clicked()
                && let Some(dir) = rfd::FileDialog::new().pick_folder()
            {
                commands.push(JobCommand::FindMovedFiles { folder: dir });
            }
            let session = state.session.as_ref();
            if ui
                .add_enabled(
                    session.is_some_and(|s| s.can_undo()),
                    egui::Button::new("Undo"),
                )
                .on_hover_text("Ctrl+Z")
                .clicked()
            {
                commands.push(LabelingCommand::Undo);
            }
            if ui
                .add_enabled(
                    session.is_some_and(|s| s.can_redo()),
                    egui::Button::new("Redo"),
                )
                .on_hover_text("Ctrl+Y")
                .clicked()
            {
                commands.push(LabelingCommand::Redo);
            }
            let agreement_shown = session.is_some_and(|s| s.agreement.is_some());
            if ui
                .selectable_label(agreement_shown, "Agreement")
                .on_hover_text("Kappa per annotator pair, Fleiss' kappa (click again to close)")
                .clicked()
            {
                commands.push(if agreement_shown {
                    LabelingCommand::HideAgreement
                } else {
                    LabelingCommand::ComputeAgreement
                });
            }
            if ui
                .button("Training")
                .on_hover_text("Train on this project's pools and watch the curves")
                .clicked()
            {
                commands.push(TrainingCommand::Show(!state.training.show));
            }
            if let Some(session) = session {
                let shown = session.team.review_shown;
                if ui
                    .selectable_label(shown, "Review")
                    .on_hover_text("The review queue: disagreements and flagged items, oldest first")
                    .clicked()
                {
                    commands.push(crate::app::team::TeamCommand::ShowReview(!shown));
                }
                if session.is_shared()
                    && ui
                        .button("Take offline…")
                        .on_hover_text(format!(
                            "Claim {OFFLINE_ITEMS} items and copy them into a new folder to label without the server; \
                             it syncs back by itself when the server answers"
                        ))
                        .clicked()
                    && let Some(folder) = rfd::FileDialog::new()
                        .set_title("A new or empty folder for the offline copy")
                        .pick_folder()
                {
                    commands.push(crate::app::team::TeamCommand::TakeOffline {
                        folder,
                        items: OFFLINE_ITEMS,
                    });
                }
            }
        }
        if ui
            .button("Open file…")
            .on_hover_text("Open an image, a NIfTI volume or a DICOM file (Ctrl+O)")
            .clicked()
        {
            open_dialog(commands);
        }
        if ui
            .button("Open series…")
            .on_hover_text("Open a folder holding one DICOM series (CT, MR) as a volume")
            .clicked()
        {
            open_series_dialog(commands);
        }
        ui.separator();
        let label = ui.label("Annotator");
        // On a team project the annotator is the database login: shown, not typed.
        let shared = state
            .session
            .as_ref()
            .is_some_and(|s| s.is_shared() || s.team.offline.is_some());
        let response = ui
            .add_enabled(
                !shared,
                egui::TextEdit::singleline(annotator_draft).desired_width(110.0),
            )
            .labelled_by(label.id)
            .on_disabled_hover_text(
                "on a team project you work as your database login, in an offline copy as whom it was taken for",
            );
        if shared {
            annotator_draft.clone_from(&state.settings.annotator);
        } else if response.lost_focus() && *annotator_draft != state.settings.annotator {
            commands.push(WindowCommand::SetAnnotator(annotator_draft.clone()));
        }
        if let Some(job) = &state.job {
            ui.separator();
            let fraction = if job.total > 0 {
                job.done as f32 / job.total as f32
            } else {
                0.0
            };
            ui.add(
                egui::ProgressBar::new(fraction)
                    .desired_width(200.0)
                    .text(format!("{} {}/{}", job.title, job.done, job.total)),
            );
        }
    });
}

fn notice_ui(ui: &mut egui::Ui, state: &AppState, commands: &mut Commands) {
    if let Some(notice) = &state.notice {
        // Buttons first: a long message (a path, a series list) wraps
        // beside them instead of pushing them out of the window.
        ui.horizontal(|ui| {
            let colour = if notice.is_error {
                ui.visuals().error_fg_color
            } else {
                ui.visuals().text_color()
            };
            if ui.small_button("Dismiss").clicked() {
                commands.push(WindowCommand::DismissNotice);
            }
            if let Some(path) = &notice.resample
                && ui
                    .button("Resample")
                    .on_hover_text(
                        "Interpolate the series onto a regular grid and open it \
                         (the files are not changed)",
                    )
                    .clicked()
            {
                commands.push(WindowCommand::Resample(path.clone()));
            }
            ui.add(egui::Label::new(egui::RichText::new(&notice.text).color(colour)).wrap());
        });
        ui.separator();
    }
    if let Some(stats) = state.session.as_ref().and_then(|s| s.agreement.as_ref()) {
        // Open as soon as asked for (one click), closed by its own button.
        ui.horizontal(|ui| {
            ui.strong("Agreement between annotators");
            if ui.small_button("Close").clicked() {
                commands.push(LabelingCommand::HideAgreement);
            }
        });
        ui.indent("agreement", |ui| {
            for field in &stats.agreement {
                agreement_lines(
                    ui,
                    &field.field,
                    field.ordinal,
                    &field.pairs,
                    field.fleiss,
                    "items",
                );
                if !field.disagreements.is_empty() {
                    ui.label(format!(
                        "{}: {} items disagree (filter: Disagreement)",
                        field.field,
                        field.disagreements.len()
                    ));
                }
            }
            for field in &stats.eyes {
                let name = format!("eyes, {}", field.field);
                agreement_lines(ui, &name, field.ordinal, &field.pairs, field.fleiss, "eyes");
                if !field.disagreements.is_empty() {
                    let shown: Vec<&str> = field
                        .disagreements
                        .iter()
                        .take(5)
                        .map(String::as_str)
                        .collect();
                    let more = field.disagreements.len().saturating_sub(shown.len());
                    let more = if more > 0 {
                        format!(" and {more} more")
                    } else {
                        String::new()
                    };
                    ui.label(format!(
                        "{name}: graders differ on {}{more}",
                        shown.join(", ")
                    ))
                    .on_hover_text("Open them in the exam view (Exams)");
                }
            }
            for pair in &stats.overall {
                let kappa = pair.kappa.map_or("undefined".into(), |k| format!("{k:.3}"));
                ui.label(format!(
                    "overall: {} vs {} — mean κ {kappa}",
                    pair.annotators[0], pair.annotators[1]
                ));
            }
            for pair in &stats.label_maps {
                let dice = pair
                    .dice
                    .iter()
                    .map(|(label, d)| format!("{label}: {d:.3}"))
                    .collect::<Vec<_>>()
                    .join(" · ");
                ui.label(format!(
                    "label maps: {} vs {} — Dice per label {dice} ({} items)",
                    pair.annotators[0], pair.annotators[1], pair.items
                ));
            }
            if stats.annotators.len() < 2 && stats.label_maps.is_empty() && stats.eyes.is_empty() {
                ui.weak("Agreement needs at least two annotators.");
            }
        });
    }
}

/// One field's kappa per annotator pair and Fleiss' kappa, over `unit`s.
fn agreement_lines(
    ui: &mut egui::Ui,
    name: &str,
    ordinal: bool,
    pairs: &[crate::store::export::PairKappa],
    fleiss: Option<f64>,
    unit: &str,
) {
    let kind = if ordinal {
        "quadratic-weighted κ"
    } else {
        "Cohen's κ"
    };
    for pair in pairs {
        let kappa = pair.kappa.map_or("undefined".into(), |k| format!("{k:.3}"));
        ui.label(format!(
            "{name}: {} vs {} — {kind} {kappa} ({} {unit})",
            pair.annotators[0], pair.annotators[1], pair.items
        ));
    }
    if let Some(f) = fleiss {
        ui.label(format!("{name}: Fleiss' κ {f:.3}"));
    }
}

fn welcome_ui(ui: &mut egui::Ui, commands: &mut Commands) {
    ui.vertical_centered(|ui| {
        ui.add_space(ui.available_height() / 3.0);
        ui.heading("Open an image or volume");
        ui.label(
            "DICOM (a file or a series folder), NIfTI (.nii, .nii.gz, .hdr/.img), PNG, JPEG, TIFF or BMP \
             — or drop a file or folder on the window.",
        );
        if ui.button("Open…").clicked() {
            open_dialog(commands);
        }
        if ui.button("Projects…").clicked() {
            commands.push(WindowCommand::ShowProjectPicker(true));
        }
    });
}

/// CPU time (layout and tessellation) of the pool browser (thumbnail grid and filters) over
/// `frames` frames, for `loupe bench labeling`: the first frames draw
/// thumbnails from files, later ones only lay out the visible rows.
pub fn browser_frame_times(
    session: &crate::app::ProjectSession,
    frames: usize,
) -> Vec<std::time::Duration> {
    let ctx = egui::Context::default();
    let mut thumbnails = browser::Thumbnails::default();
    let input = egui::RawInput {
        screen_rect: Some(egui::Rect::from_min_size(
            egui::Pos2::ZERO,
            egui::vec2(1400.0, 860.0),
        )),
        ..Default::default()
    };
    (0..frames)
        .map(|_| {
            let started = std::time::Instant::now();
            let mut commands = Commands::default();
            let mut output = ctx.run_ui(input.clone(), |ui| {
                egui::Panel::left("browser")
                    .default_size(330.0)
                    .show(ui, |ui| {
                        browser::browser_ui(ui, session, &mut thumbnails, &mut commands)
                    });
            });
            // Tessellation is part of a frame's CPU cost; uploading textures is the GPU's.
            let _ = ctx.tessellate(std::mem::take(&mut output.shapes), output.pixels_per_point);
            output.textures_delta.clear();
            started.elapsed()
        })
        .collect()
}

/// Whether the open project's items are cases with several modalities.
fn cycles_modalities(state: &AppState) -> bool {
    state
        .session
        .as_ref()
        .is_some_and(|s| s.project.schema().modalities.len() > 1)
}

/// The modality after the one shown for the selected case, in the schema's order.
fn next_modality(state: &AppState) -> Option<String> {
    let session = state.session.as_ref()?;
    let row = session.selected_row()?;
    let roles = &session.project.schema().modalities;
    let shown = session
        .cases
        .shown_role(row.item.id, roles, session.shown_role.as_deref());
    let at = shown
        .and_then(|r| roles.iter().position(|x| *x == r))
        .map_or(0, |p| p + 1);
    roles.get(at % roles.len().max(1)).cloned()
}
