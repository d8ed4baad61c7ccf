//! Application state and the one place that changes it: panels send
//! [`Command`]s, [`AppState::apply`] carries them out. No drawing here.

mod command;
pub mod document;
pub mod jobs;
pub mod project;
pub mod settings;
pub mod thumbnail;
pub mod training;

pub use command::Command;
pub use document::Document;
pub use project::ProjectSession;
pub use settings::Settings;

use std::path::{Path, PathBuf};

use crate::demo::{DemoOptions, DemoTask};
use crate::render::device::AdapterSummary;
use crate::store::import::ImportOptions;
use crate::store::{ADJUDICATOR, Project, Schema};
use crate::train::device::ComputeDevice;
use crate::train::engine::{TrainCommand, TrainConfig};
use crate::train::runs::{self, PastRun};
use document::Layout;
use jobs::Job;
use training::TrainingSession;

/// A message shown to the user until dismissed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    pub text: String,
    pub is_error: bool,
}

/// What the window opens on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Launch {
    /// An image or volume file, outside any project.
    File(PathBuf),
    /// A project folder.
    Project(PathBuf),
    /// No argument: the most recent project, or on first launch a new ROP
    /// demo project in the data directory.
    Default,
    /// Nothing (tests).
    Empty,
}

impl Launch {
    /// What a command-line path means: a project folder or a file.
    pub fn from_path(path: Option<PathBuf>) -> Self {
        match path {
            None => Launch::Default,
            Some(p) if p.is_dir() => Launch::Project(p),
            Some(p) => Launch::File(p),
        }
    }
}

/// Everything the window shows.
pub struct AppState {
    /// Where settings and the first-launch demo live.
    pub data_dir: PathBuf,
    pub settings: Settings,
    /// The open project, if any.
    pub session: Option<ProjectSession>,
    /// The image or volume shown (the selected item's, or a file opened alone).
    pub document: Option<Document>,
    /// The last error or information for the user.
    pub notice: Option<Notice>,
    /// A background import or demo and its progress.
    pub job: Option<Job>,
    pub show_project_picker: bool,
    /// The display's GPU, as eframe created it (`None` without a wgpu renderer).
    pub display_adapter: Option<AdapterSummary>,
    /// Where training runs.
    pub compute: Option<ComputeDevice>,
    /// Why Burn could not share the display device, if it could not.
    pub compute_error: Option<String>,
    /// Files opened this session, newest last.
    pub history: Vec<PathBuf>,
    /// Settings for the next run (edited in the training panel).
    pub train_config: TrainConfig,
    /// The current or last training run started from the window.
    pub training: Option<TrainingSession>,
    /// Past runs of the open project (for overlaying curves).
    pub past_runs: Vec<PastRun>,
    /// A past run drawn under the current curves.
    pub overlay_run: Option<String>,
    pub show_training: bool,
    /// Train on the CPU (`flex`) instead of the display's GPU.
    pub train_on_cpu: bool,
}

impl AppState {
    pub fn new(data_dir: PathBuf) -> Self {
        Self {
            settings: Settings::load(&data_dir),
            data_dir,
            session: None,
            document: None,
            notice: None,
            job: None,
            show_project_picker: false,
            display_adapter: None,
            compute: None,
            compute_error: None,
            history: Vec::new(),
            train_config: TrainConfig::default(),
            training: None,
            past_runs: Vec::new(),
            overlay_run: None,
            show_training: false,
            train_on_cpu: false,
        }
    }

    /// Carries out the launch request.
    pub fn launch(&mut self, launch: Launch) {
        match launch {
            Launch::File(path) => self.apply(Command::Open(path)),
            Launch::Project(dir) => self.apply(Command::OpenProject(dir)),
            Launch::Default => {
                let recent = self
                    .settings
                    .recent_projects
                    .iter()
                    .find(|p| p.join(crate::store::DATABASE_FILE).is_file())
                    .cloned();
                match recent {
                    Some(dir) => self.apply(Command::OpenProject(dir)),
                    None => {
                        let dir = self.data_dir.join("demo-rop");
                        if dir.join(crate::store::DATABASE_FILE).is_file() {
                            self.apply(Command::OpenProject(dir));
                        } else {
                            self.apply(Command::CreateDemo {
                                dir,
                                task: DemoTask::Rop,
                            });
                        }
                    }
                }
            }
            Launch::Empty => {}
        }
    }

    fn error(&mut self, text: impl Into<String>) {
        self.notice = Some(Notice {
            text: text.into(),
            is_error: true,
        });
    }

    fn info(&mut self, text: impl Into<String>) {
        self.notice = Some(Notice {
            text: text.into(),
            is_error: false,
        });
    }

    fn save_settings(&mut self) {
        if let Err(e) = self.settings.save(&self.data_dir) {
            self.error(format!(
                "cannot save settings in {}: {e}",
                self.data_dir.display()
            ));
        }
    }

    /// Takes what background jobs and training reported; call once per frame.
    pub fn poll(&mut self) {
        let training_ended = self.training.as_mut().is_some_and(|t| t.poll());
        if training_ended {
            if let Some(session) = &mut self.session {
                self.past_runs = runs::list(session.project.root());
                // The run stored its predictions: suggestions and uncertainty are new.
                let _ = session.reload();
            }
            if let Some(crate::app::training::TrainingStatus::Failed(message)) =
                self.training.as_ref().map(|t| t.status.clone())
            {
                self.error(message);
            }
        }
        let Some(job) = &mut self.job else { return };
        let Some(result) = job.poll() else { return };
        self.job = None;
        match result {
            Ok((message, root)) => {
                let reopen = self
                    .session
                    .as_ref()
                    .is_none_or(|s| s.project.root() != root);
                if reopen {
                    self.apply(Command::OpenProject(root));
                } else if let Some(session) = &mut self.session
                    && let Err(e) = session.reload()
                {
                    self.error(e.to_string());
                    return;
                }
                self.info(message);
            }
            Err(message) => self.error(message),
        }
    }

    /// Shows the selected item's file in the viewer; a missing file keeps its labels.
    fn show_selected(&mut self) {
        let Some(session) = &self.session else { return };
        let Some(row) = session.selected_row() else {
            self.document = None;
            return;
        };
        let path = session.project.resolve(&row.item);
        if row.missing {
            self.document = None;
            self.error(format!(
                "file is missing (its labels are kept; use Find moved files): {}",
                path.display()
            ));
            return;
        }
        match Document::open(&path) {
            Ok(document) => {
                self.document = Some(document);
                if self.notice.as_ref().is_some_and(|n| n.is_error) {
                    self.notice = None;
                }
            }
            Err(e) => {
                self.document = None;
                self.error(e.to_string());
            }
        }
    }

    fn open_project(&mut self, dir: &Path) {
        match ProjectSession::open(dir) {
            Ok(mut session) => {
                session.next_unlabeled(&self.settings.annotator);
                if session.selected.is_none() {
                    session.step(0);
                }
                self.past_runs = runs::list(session.project.root());
                self.session = Some(session);
                self.show_project_picker = false;
                self.settings.remember_project(dir);
                self.save_settings();
                self.show_selected();
            }
            Err(e) => self.error(e.to_string()),
        }
    }

    fn send_training(&self, command: TrainCommand) {
        if let Some(training) = &self.training {
            training.send(command);
        }
    }

    fn with_document(&mut self, change: impl FnOnce(&mut Document)) {
        if let Some(document) = &mut self.document {
            change(document);
        }
    }

    /// Applies one command. Failures become a notice; nothing already saved is lost.
    pub fn apply(&mut self, command: Command) {
        match command {
            Command::Open(path) => match Document::open(&path) {
                Ok(document) => {
                    self.document = Some(document);
                    self.notice = None;
                    self.history.retain(|p| p != &path);
                    self.history.push(path);
                }
                Err(error) => self.error(error.to_string()),
            },
            Command::SetSlice { plane, index } => self.with_document(|d| d.set_slice(plane, index)),
            Command::StepSlice { plane, delta } => {
                self.with_document(|d| d.step_slice(plane, delta))
            }
            Command::ClickVoxel(voxel) => self.with_document(|d| d.click(voxel)),
            Command::SetLayout(layout) => self.with_document(|d| d.set_layout(layout)),
            Command::SetConvention(convention) => {
                self.with_document(|d| d.set_convention(convention))
            }
            Command::SetInterpolation(interpolation) => {
                self.with_document(|d| d.set_interpolation(interpolation))
            }
            Command::ZoomView { plane, factor } => self.with_document(|d| {
                let view = d.view_mut(plane);
                view.zoom = (view.zoom * factor).clamp(0.1, 50.0);
            }),
            Command::PanView { plane, delta } => self.with_document(|d| {
                let view = d.view_mut(plane);
                view.pan = [view.pan[0] + delta[0], view.pan[1] + delta[1]];
            }),
            Command::SetTilt { plane, tilt } => {
                self.with_document(|d| d.view_mut(plane).tilt = tilt)
            }
            Command::ResetView(plane) => self.with_document(|d| {
                let view = d.view_mut(plane);
                view.zoom = 1.0;
                view.pan = [0.0, 0.0];
                view.tilt = [0.0, 0.0];
            }),
            Command::OpenLabels(path) => {
                if let Some(document) = &mut self.document
                    && let Err(e) = document.set_labels(&path)
                {
                    self.error(e.to_string());
                }
            }
            Command::SetOverlay(overlay) => self.with_document(|d| d.set_overlay(overlay)),
            Command::AddCompanion(path) => {
                if let Some(document) = &mut self.document
                    && let Err(e) = document.add_companion(&path)
                {
                    self.error(e.to_string());
                }
            }
            Command::RemoveCompanions => self.with_document(|d| {
                d.companions.clear();
                if let Layout::SideBySide(plane) = d.layout {
                    d.set_layout(Layout::Single(plane));
                }
            }),
            Command::SetTime(time) => self.with_document(|d| d.set_time(time)),
            Command::SetWindow(window) => self.with_document(|d| d.set_window(window)),
            Command::ResetWindow => self.with_document(|d| d.set_window(d.auto_window)),
            Command::DismissNotice => self.notice = None,
            Command::ShowTraining(show) => self.show_training = show,
            Command::SetTrainOnCpu(cpu) => self.train_on_cpu = cpu,
            Command::SetTrainConfig(config) => self.train_config = config,
            Command::StartTraining => {
                if self.training.as_ref().is_some_and(|t| t.is_active()) {
                    self.error("a training run is already going; stop it first");
                    return;
                }
                let (Some(session), Some(compute)) = (&self.session, &self.compute) else {
                    self.error("open a project with labeled images to train");
                    return;
                };
                let root = session.project.root().to_path_buf();
                let compute = if self.train_on_cpu {
                    crate::train::device::flex()
                } else {
                    compute.clone()
                };
                self.training = Some(TrainingSession::start(
                    root,
                    self.train_config.clone(),
                    compute,
                ));
            }
            Command::PauseTraining => self.send_training(TrainCommand::Pause),
            Command::ResumeTraining => self.send_training(TrainCommand::Resume),
            Command::StopTraining => self.send_training(TrainCommand::Stop),
            Command::OverlayRun(run) => self.overlay_run = run,

            Command::OpenProject(dir) => self.open_project(&dir),
            Command::CreateProject { dir, schema } => {
                let schema = match Schema::builtin(&schema) {
                    Some(s) => Ok(s),
                    None => std::fs::read_to_string(&schema)
                        .map_err(|e| format!("cannot read schema {schema}: {e}"))
                        .and_then(|text| {
                            Schema::from_json(&text).map_err(|e| format!("{e}: {schema}"))
                        }),
                };
                match schema.and_then(|s| Project::create(&dir, &s).map_err(|e| e.to_string())) {
                    Ok(_) => self.open_project(&dir),
                    Err(e) => self.error(e),
                }
            }
            Command::CreateDemo { dir, task } => {
                if self.job.is_some() {
                    self.error("wait for the running job to finish");
                } else if dir.join(crate::store::DATABASE_FILE).exists() {
                    self.error(format!("a project already exists in {}", dir.display()));
                } else {
                    self.job = Some(Job::demo(dir, DemoOptions::new(task)));
                }
            }
            Command::Import {
                paths,
                labels,
                test_fraction,
            } => match (&self.session, &self.job) {
                (_, Some(_)) => self.error("wait for the running job to finish"),
                (None, None) => self.error("open or create a project before importing"),
                (Some(session), None) => {
                    let options = ImportOptions {
                        test_fraction,
                        seed: 0,
                        annotator: self.settings.annotator.clone(),
                    };
                    self.job = Some(Job::import(
                        session.project.root().to_path_buf(),
                        paths,
                        labels,
                        options,
                    ));
                }
            },
            Command::FindMovedFiles(folder) => {
                let Some(session) = &mut self.session else {
                    return;
                };
                match session
                    .project
                    .relocate_missing(&folder)
                    .and_then(|found| session.reload().map(|_| found))
                {
                    Ok(found) => {
                        self.info(format!(
                            "found {found} moved files under {}",
                            folder.display()
                        ));
                        self.show_selected();
                    }
                    Err(e) => self.error(e.to_string()),
                }
            }
            Command::ShowProjectPicker(show) => self.show_project_picker = show,

            Command::SelectItem(id) => {
                if let Some(session) = &mut self.session {
                    session.selected = Some(id);
                    self.show_selected();
                }
            }
            Command::StepItem(delta) => {
                if let Some(session) = &mut self.session {
                    session.step(delta);
                    self.show_selected();
                }
            }
            Command::NextUnlabeled => {
                if let Some(session) = &mut self.session {
                    if session.next_unlabeled(&self.settings.annotator) {
                        self.show_selected();
                    } else {
                        self.info("every listed item has your label");
                    }
                }
            }
            Command::NextMostUncertain => {
                if let Some(session) = &mut self.session {
                    if session.next_most_uncertain(&self.settings.annotator) {
                        self.show_selected();
                    } else {
                        self.info("no predictions yet: train a model (or run loupe predict) first");
                    }
                }
            }
            Command::SetUncertainty(measure) => {
                if let Some(session) = &mut self.session {
                    session.uncertainty = measure;
                }
            }
            Command::SetLabel { field, value } => self.set_label(&field, value, false),
            Command::Adjudicate { field, value } => self.set_label(&field, value, true),
            Command::SetRemark(remark) => {
                let annotator = self.settings.annotator.clone();
                if let Some(session) = &mut self.session
                    && let Some(id) = session.selected
                    && let Err(e) = session.set_remark(id, &annotator, &remark)
                {
                    self.error(e.to_string());
                }
            }
            Command::SetTest(in_test) => {
                if let Some(session) = &mut self.session
                    && let Some(id) = session.selected
                    && let Err(e) = session.set_test(id, in_test)
                {
                    self.error(e.to_string());
                }
            }
            Command::Undo | Command::Redo => {
                let Some(session) = &mut self.session else {
                    return;
                };
                let result = if command == Command::Undo {
                    session.undo()
                } else {
                    session.redo()
                };
                match result {
                    Ok(Some(_)) => self.show_selected(),
                    Ok(None) => {}
                    Err(e) => self.error(e.to_string()),
                }
            }
            Command::SetAnnotator(name) => {
                let name = name.trim().to_string();
                if name.is_empty() || name == ADJUDICATOR {
                    self.error(format!(
                        "annotator name must not be empty or {ADJUDICATOR:?}"
                    ));
                } else {
                    self.settings.annotator = name;
                    self.save_settings();
                }
            }
            Command::SetFilter(filter) => {
                if let Some(session) = &mut self.session {
                    session.filter = filter;
                }
            }
            Command::SetSort(sort) => {
                if let Some(session) = &mut self.session {
                    session.sort = sort;
                }
            }
            Command::SetAutoAdvance(on) => {
                if let Some(session) = &mut self.session {
                    session.auto_advance = on;
                }
            }
            Command::ComputeAgreement => {
                if let Some(session) = &mut self.session {
                    match crate::store::export::stats(&session.project) {
                        Ok(stats) => session.agreement = Some(stats),
                        Err(e) => self.error(e.to_string()),
                    }
                }
            }
        }
    }

    /// Sets a label on the selected item (as the annotator, or as the
    /// adjudicator) and, for a target label with auto-advance on, moves on.
    fn set_label(&mut self, field: &str, value: Option<String>, adjudicate: bool) {
        let annotator = if adjudicate {
            ADJUDICATOR.to_string()
        } else {
            self.settings.annotator.clone()
        };
        let Some(session) = &mut self.session else {
            return;
        };
        let Some(id) = session.selected else { return };
        // The list as it was, so advancing works even when the label moves the item out of a filter.
        let order: Vec<i64> = session.visible().iter().map(|r| r.item.id).collect();
        if let Err(e) = session.set_label(id, &annotator, field, value.as_deref()) {
            self.error(e.to_string());
            return;
        }
        let is_target = field == session.project.schema().target;
        if is_target && value.is_some() && session.auto_advance && !adjudicate {
            let after = order.iter().position(|&i| i == id).map_or(0, |p| p + 1);
            if let Some(&next) = order.get(after) {
                session.selected = Some(next);
                self.show_selected();
            }
        }
    }
}
