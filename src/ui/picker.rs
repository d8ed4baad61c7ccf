//! The project picker (new, open, recent, demos) and the import window.

use std::path::PathBuf;

use crate::app::{AppState, Commands, JobCommand, WindowCommand};
use crate::demo::DemoTask;

/// Every demo the dialog offers (each `--task` of `loupe demo` once).
pub const DEMOS: [(DemoTask, &str); 7] = [
    (DemoTask::Rop, "ROP fundus demo"),
    (
        DemoTask::RopExams,
        "ROP screening demo (infants, exams, eyes)",
    ),
    (DemoTask::Thyroid, "Thyroid ultrasound demo"),
    (DemoTask::Volumes, "Brain MRI + CT volumes demo"),
    (DemoTask::Lung, "Lung screening demo (CT + questionnaire)"),
    (DemoTask::Bone, "Osteoporosis demo (CT series + labs)"),
    (
        DemoTask::BrainTumour,
        "Brain tumour demo (four MRI sequences)",
    ),
];

/// Text the user is typing in the picker and import windows.
#[derive(Default)]
pub struct PickerDraft {
    pub new_dir: String,
    pub new_schema: String,
    pub open_dir: String,
    pub import_paths: String,
    pub import_labels: String,
    pub test_fraction: f64,
    /// Accept the CSV's rows by the reserved `adjudicated` annotator.
    pub import_adjudications: bool,
    pub show_import: bool,
}

fn browse_folder(target: &mut String) {
    if let Some(dir) = rfd::FileDialog::new().pick_folder() {
        *target = dir.display().to_string();
    }
}

pub fn picker_ui(
    ctx: &egui::Context,
    state: &AppState,
    draft: &mut PickerDraft,
    commands: &mut Commands,
) {
    let mut open = state.show_project_picker;
    // Below the top bar, so its buttons stay in reach while the dialog is open.
    let top_centre = ctx.content_rect().center_top() + egui::vec2(0.0, 44.0);
    egui::Window::new("Projects")
        .open(&mut open)
        .collapsible(false)
        .default_width(460.0)
        .pivot(egui::Align2::CENTER_TOP)
        .default_pos(top_centre)
        .show(ctx, |ui| {
            ui.heading("New project");
            ui.horizontal(|ui| {
                let label = ui.label("Folder");
                ui.text_edit_singleline(&mut draft.new_dir)
                    .labelled_by(label.id);
                if ui.button("Browse…").clicked() {
                    browse_folder(&mut draft.new_dir);
                }
            });
            if draft.new_schema.is_empty() {
                draft.new_schema = "rop".into();
            }
            ui.horizontal(|ui| {
                ui.label("Schema");
                ui.selectable_value(&mut draft.new_schema, "rop".to_string(), "ROP");
                ui.selectable_value(
                    &mut draft.new_schema,
                    "rop-exam".to_string(),
                    "ROP screening exams",
                )
                .on_hover_text("ROP graded per eye and exam (ICROP3, ETROP flags)");
                ui.selectable_value(&mut draft.new_schema, "thyroid".to_string(), "Thyroid");
                if ui.button("JSON file…").clicked()
                    && let Some(file) = rfd::FileDialog::new()
                        .add_filter("schema", &["json"])
                        .pick_file()
                {
                    draft.new_schema = file.display().to_string();
                }
            });
            if !["rop", "rop-exam", "thyroid"].contains(&draft.new_schema.as_str()) {
                ui.weak(&draft.new_schema);
            }
            if ui
                .add_enabled(
                    !draft.new_dir.trim().is_empty(),
                    egui::Button::new("Create project"),
                )
                .clicked()
            {
                commands.push(WindowCommand::CreateProject {
                    dir: PathBuf::from(draft.new_dir.trim()),
                    schema: draft.new_schema.clone(),
                });
            }
            ui.separator();

            ui.heading("Open project");
            ui.horizontal(|ui| {
                let label = ui.label("Folder or URL");
                ui.text_edit_singleline(&mut draft.open_dir)
                    .labelled_by(label.id)
                    .on_hover_text(
                        "a project folder, or a team project: postgres://USER@HOST/DATABASE \
                         (password from ~/.pgpass or PGPASSWORD, else asked for; never saved)",
                    );
                if ui.button("Browse…").clicked() {
                    browse_folder(&mut draft.open_dir);
                }
            });
            if ui
                .add_enabled(
                    !draft.open_dir.trim().is_empty(),
                    egui::Button::new("Open project"),
                )
                .clicked()
            {
                commands.push(WindowCommand::OpenProject(PathBuf::from(
                    draft.open_dir.trim(),
                )));
            }
            if !state.settings.recent_projects.is_empty() {
                ui.label("Recent");
                for dir in &state.settings.recent_projects {
                    if ui.link(dir.display().to_string()).clicked() {
                        commands.push(WindowCommand::OpenProject(dir.clone()));
                    }
                }
            }
            ui.separator();

            ui.heading("Demo projects");
            ui.horizontal_wrapped(|ui| {
                for (task, title) in DEMOS {
                    if ui.button(title).clicked() {
                        let dir = (1..)
                            .map(|n| state.data_dir.join(format!("demo-{}-{n}", task.name())))
                            .find(|d| !d.exists())
                            .unwrap_or_else(|| {
                                state.data_dir.join(format!("demo-{}", task.name()))
                            });
                        commands.push(JobCommand::CreateDemo { dir, task });
                    }
                }
            });
            ui.weak(format!(
                "Demos are written under {}",
                state.data_dir.display()
            ));
        });
    if open != state.show_project_picker {
        commands.push(WindowCommand::ShowProjectPicker(open));
    }
}

pub fn import_ui(ctx: &egui::Context, draft: &mut PickerDraft, commands: &mut Commands) {
    let mut open = draft.show_import;
    egui::Window::new("Import")
        .open(&mut open)
        .collapsible(false)
        .default_width(420.0)
        .show(ctx, |ui| {
            let label =
                ui.label("Files or folders (one per line; folders are searched recursively)");
            ui.add(egui::TextEdit::multiline(&mut draft.import_paths).desired_rows(3))
                .labelled_by(label.id);
            ui.horizontal(|ui| {
                if ui.button("Add folder…").clicked()
                    && let Some(dir) = rfd::FileDialog::new().pick_folder()
                {
                    draft.import_paths.push_str(&format!("{}\n", dir.display()));
                }
                if ui.button("Add files…").clicked()
                    && let Some(files) = rfd::FileDialog::new().pick_files()
                {
                    for file in files {
                        draft
                            .import_paths
                            .push_str(&format!("{}\n", file.display()));
                    }
                }
            });
            ui.horizontal(|ui| {
                let label = ui.label("Labels CSV (optional)");
                ui.text_edit_singleline(&mut draft.import_labels)
                    .labelled_by(label.id);
                if ui.button("Browse…").clicked()
                    && let Some(file) = rfd::FileDialog::new()
                        .add_filter("CSV", &["csv"])
                        .pick_file()
                {
                    draft.import_labels = file.display().to_string();
                }
            });
            ui.checkbox(
                &mut draft.import_adjudications,
                "Restore adjudicated labels from the CSV",
            )
            .on_hover_text(
                "Accept rows whose annotator is \"adjudicated\" (an export of Loupe). \
                 A CSV label never replaces a newer label by the same annotator.",
            );
            ui.add(
                egui::Slider::new(
                    &mut draft.test_fraction,
                    crate::app::vocabulary::TEST_FRACTION,
                )
                .text("Test fraction"),
            );
            let paths: Vec<PathBuf> = draft
                .import_paths
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(PathBuf::from)
                .collect();
            if ui
                .add_enabled(!paths.is_empty(), egui::Button::new("Start import"))
                .clicked()
            {
                let labels = Some(draft.import_labels.trim())
                    .filter(|l| !l.is_empty())
                    .map(PathBuf::from);
                commands.push(JobCommand::Import {
                    paths,
                    labels,
                    test_fraction: draft.test_fraction,
                    adjudications: draft.import_adjudications,
                });
                draft.show_import = false;
            }
        });
    if !open {
        draft.show_import = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum;

    #[test]
    fn the_dialog_offers_every_demo_task_once() {
        let mut offered: Vec<&str> = DEMOS.iter().map(|(task, _)| task.name()).collect();
        let mut tasks: Vec<&str> = DemoTask::value_variants()
            .iter()
            .map(|t| t.name())
            .collect();
        offered.sort();
        tasks.sort();
        assert_eq!(offered, tasks);
    }
}
