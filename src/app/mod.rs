//! Application state and the one place commands arrive: panels send
//! [`Command`]s, [`AppState::apply`] hands each to the part of the state
//! that owns it (viewer, labeling, jobs, training, the window itself). No
//! drawing here.

pub mod cases;
mod command;
pub mod document;
pub mod exams;
pub mod explain;
pub mod jobs;
pub mod painting;
pub mod project;
pub mod report;
pub mod review;
pub mod settings;
pub mod team;
pub mod thumbnail;
pub mod training;
pub mod vocabulary;
pub mod zones;

pub use command::{
    Command, Commands, ExamCommand, JobCommand, LabelingCommand, PaintCommand, Secret,
    TrainingCommand, ViewerCommand, WindowCommand, ZoneCommand,
};
pub use document::Document;
pub use project::ProjectSession;
pub use settings::Settings;

use std::path::{Path, PathBuf};

use crate::demo::DemoTask;
use crate::render::device::AdapterSummary;
use crate::rop::exam::RetinalField;
use crate::store::{Project, Schema};
use crate::train::device::ComputeDevice;
use jobs::Job;
use painting::{PaintTarget, Painting};
use training::{Training, TrainingTarget};
use zones::ZoneOverlay;

/// A message shown to the user until dismissed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    pub text: String,
    pub is_error: bool,
    /// A DICOM series refused for a gap or a tilt: the notice offers to
    /// resample it ([`WindowCommand::Resample`]).
    pub resample: Option<PathBuf>,
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
    /// What a command-line path means: a project folder, or a file or a
    /// folder of DICOM files (a series) to view. An empty folder, or one
    /// that cannot be listed, is taken for a project (its error says so).
    pub fn from_path(path: Option<PathBuf>) -> Self {
        match path {
            None => Launch::Default,
            Some(p) if p.to_str().is_some_and(crate::store::postgres::is_url) => Launch::Project(p),
            Some(p) if p.is_dir() && crate::store::is_project(&p) => Launch::Project(p),
            Some(p) if p.is_dir() && !folder_has_entries(&p) => Launch::Project(p),
            Some(p) => Launch::File(p),
        }
    }
}

fn folder_has_entries(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some())
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
    /// The training panel: settings, the run, past runs.
    pub training: Training,
    /// Label-map painting: tool, settings, the map painted, undo.
    pub painting: Painting,
    /// Why the saved settings could not be read (they were kept aside and
    /// the defaults used), for the status bar.
    pub settings_problem: Option<String>,
    /// The annotator name of the settings while a team project is open:
    /// there the window labels as the database user, and this comes back
    /// (and is what is saved) when a folder project is opened.
    solo_annotator: Option<String>,
    /// Which record columns a tabular run leans on for the selected case.
    pub explanations: explain::Explanations,
    /// What a case's label overlay shows: the annotator's map, a run's
    /// prediction, or prediction against truth.
    pub map_view: review::MapView,
    /// DICOM series the user chose to resample (a gap or a tilt) in this
    /// window; everything else is read as stored.
    pub resampled_series: std::collections::BTreeSet<PathBuf>,
    /// A team project that could not be opened for want of a password.
    pub password_prompt: Option<team::PasswordPrompt>,
}

/// Once a frame: keep the held lease, read the review queue when it is
/// shown, take a finished sync and start one that is due.
fn team_tick(
    session: &mut ProjectSession,
    annotator: &str,
) -> Result<(), crate::store::StoreError> {
    session.keep_lease(annotator)?;
    session.team.refresh_review(&session.project)?;
    session.team.refresh_offline(&session.project)?;
    session.team.poll_sync(&session.project)?;
    let root = session.project.root().to_path_buf();
    session.team.maybe_sync(&root, false);
    Ok(())
}

/// After a reviewer's verdict was recorded (or refused): the rows and the
/// review queue as they now are.
fn after_verdict(
    session: &mut ProjectSession,
    given: Result<(), crate::store::StoreError>,
) -> Result<(), String> {
    given.map_err(|e| e.to_string())?;
    session.reload().map_err(|e| e.to_string())?;
    session
        .team
        .refresh_review(&session.project)
        .map_err(|e| e.to_string())
}

impl AppState {
    pub fn new(data_dir: PathBuf) -> Self {
        let (settings, settings_problem) = Settings::load_or_recover(&data_dir);
        Self {
            settings,
            data_dir,
            session: None,
            document: None,
            notice: settings_problem.clone().map(|text| Notice {
                text,
                is_error: true,
                resample: None,
            }),
            job: None,
            show_project_picker: false,
            display_adapter: None,
            compute: None,
            compute_error: None,
            history: Vec::new(),
            training: Training::default(),
            painting: Painting::default(),
            settings_problem,
            solo_annotator: None,
            explanations: Default::default(),
            map_view: Default::default(),
            resampled_series: Default::default(),
            password_prompt: None,
        }
    }

    /// Carries out the launch request.
    pub fn launch(&mut self, launch: Launch) {
        match launch {
            Launch::File(path) => self.apply(ViewerCommand::Open(path)),
            Launch::Project(dir) => self.apply(WindowCommand::OpenProject(dir)),
            Launch::Default => {
                let recent = self
                    .settings
                    .recent_projects
                    .iter()
                    .find(|p| crate::store::is_project(p))
                    .cloned();
                match recent {
                    Some(dir) => self.apply(WindowCommand::OpenProject(dir)),
                    None => {
                        let dir = self.data_dir.join("demo-rop");
                        if crate::store::is_project(&dir) {
                            self.apply(WindowCommand::OpenProject(dir));
                        } else {
                            self.apply(JobCommand::CreateDemo {
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
            resample: None,
        });
    }

    fn info(&mut self, text: impl Into<String>) {
        self.notice = Some(Notice {
            text: text.into(),
            is_error: false,
            resample: None,
        });
    }

    /// An error opening a file; a series that needs resampling gets the offer.
    fn open_error(&mut self, error: crate::volume::VolumeError) {
        let resample = match &error {
            crate::volume::VolumeError::NeedsResampling { path, .. } => Some(path.clone()),
            _ => None,
        };
        self.notice = Some(Notice {
            text: error.to_string(),
            is_error: true,
            resample,
        });
    }

    /// How a file is read: resampled when the user asked for it.
    fn read_options(&self, path: &Path) -> crate::volume::dicom::ReadOptions {
        crate::volume::dicom::ReadOptions {
            resample: self.resampled_series.contains(path),
        }
    }

    /// Opens a file outside any project (dialog, drop, command line).
    fn open_file(&mut self, path: PathBuf) {
        match Document::open_with(&path, self.read_options(&path)) {
            Ok(opened) => {
                self.document = Some(opened);
                self.history.retain(|p| p != &path);
                self.history.push(path);
                self.notice = None;
                self.report_resampling();
            }
            Err(e) => self.open_error(e),
        }
    }

    /// Says so when the open volume was resampled (what was wrong with it).
    fn report_resampling(&mut self) {
        let problem = self
            .document
            .as_ref()
            .and_then(|d| d.volume.dicom.as_ref())
            .and_then(|d| d.resampled.clone());
        if let Some(problem) = problem {
            self.info(format!(
                "resampled onto a regular grid ({problem}): voxel values between slices are interpolated"
            ));
        }
    }

    /// What the open project's panel sizes are remembered under.
    pub fn panel_key(&self) -> Option<String> {
        let session = self.session.as_ref()?;
        let root = session.project.root().to_string_lossy();
        // Settings are a plain file: a URL is remembered without a password.
        Some(crate::store::postgres::without_password(&root))
    }

    /// The open project's remembered panel sizes (zeros: none yet).
    pub fn panel_sizes(&self) -> settings::PanelSizes {
        self.panel_key()
            .and_then(|key| self.settings.panel_sizes.get(&key).copied())
            .unwrap_or_default()
    }

    fn save_settings(&mut self) {
        let mut settings = self.settings.clone();
        if let Some(solo) = &self.solo_annotator {
            settings.annotator = solo.clone();
        }
        if let Err(e) = settings.save(&self.data_dir) {
            self.error(format!(
                "cannot save settings in {}: {e}",
                self.data_dir.display()
            ));
        }
    }

    /// Takes what background jobs and training reported; call once per frame.
    pub fn poll(&mut self) {
        let mut others_wrote = false;
        if let Some(session) = &mut self.session {
            match session.take_remote_changes() {
                Ok(changed) => others_wrote = changed,
                Err(e) => self.error(format!("reading others' changes: {e}")),
            }
        }
        if let Some(session) = &self.session {
            // Runs are folders on the (shared) files root: one started or
            // finished elsewhere shows in the runs table.
            self.training
                .notice_runs_of_others(session.project.root(), others_wrote);
        }
        if let Some(session) = &mut self.session
            && let Err(e) = team_tick(session, &self.settings.annotator)
        {
            self.error(e.to_string());
        }
        if let Some(session) = &mut self.session {
            let online = session.online();
            session.team.note_online(online);
        }
        if self
            .session
            .as_ref()
            .is_some_and(|s| s.team.should_fall_back())
        {
            self.fall_back_offline();
        }
        if let Some((of, synced)) = self.session.as_ref().and_then(|s| s.team.back_online()) {
            self.return_online(&of, synced);
        }
        let root = self.session.as_ref().map(|s| s.project.root());
        let (ended, failure) = self.training.poll(root);
        if ended {
            // The run stored its predictions: suggestions and uncertainty are new.
            if let Some(session) = &mut self.session {
                let _ = session.reload();
            }
            if let Some(message) = failure {
                self.error(message);
            }
        }
        if let Some(Err(message)) = self.explanations.poll() {
            self.error(message);
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
                    self.apply(WindowCommand::OpenProject(root));
                } else if let Some(session) = &mut self.session {
                    if let Err(e) = session.reload() {
                        self.error(e.to_string());
                        return;
                    }
                    // A file found again (Find moved files) can be shown now.
                    if self.document.is_none() {
                        self.show_selected();
                    }
                }
                self.info(message);
            }
            Err(message) => self.error(message),
        }
    }

    /// Shows the selected item's file in the viewer; a missing file keeps its labels.
    fn show_selected(&mut self) {
        self.painting.detach();
        let Some(session) = &self.session else { return };
        let Some(row) = session.selected_row() else {
            self.document = None;
            return;
        };
        let path = match session.shown_file(row) {
            Ok(path) => path,
            Err(absent) => {
                // A case without this modality: shown as missing, not an error.
                self.document = None;
                self.info(absent);
                return;
            }
        };
        if row.missing && !crate::volume::source_exists(&path) {
            self.document = None;
            self.error(format!(
                "file is missing (its labels are kept; use Find moved files): {}",
                path.display()
            ));
            return;
        }
        let item_id = row.item.id;
        let zones_shown = self
            .document
            .as_ref()
            .and_then(|d| d.zones.as_ref())
            .is_none_or(|z| z.shown);
        match Document::open_with(&path, self.read_options(&path)) {
            Ok(mut document) => {
                if session.project.schema().grades_exams()
                    && document.volume.spatial_shape()[2] == 1
                    && session.exams.field_of(item_id) == Some(RetinalField::PosteriorPole)
                {
                    // Unreadable marks leave the overlay off; the image still opens.
                    document.zones = ZoneOverlay::load(
                        &session.project,
                        item_id,
                        &self.settings.annotator,
                        zones_shown,
                    )
                    .inspect_err(|e| log::warn!("zone marks of item {item_id}: {e}"))
                    .ok();
                }
                if let Some(setting) = session.project.schema().crop
                    && document.volume.spatial_shape()[2] == 1
                {
                    let corrected = session.project.crop(item_id).ok().flatten();
                    document.crop = Some(document::CropOverlay::of(
                        &document.volume,
                        setting.margin_px,
                        corrected,
                    ));
                }
                let attached = self
                    .painting
                    .attach(
                        &mut document,
                        &session.project,
                        item_id,
                        &self.settings.annotator,
                    )
                    .and_then(|()| {
                        show_review(&self.map_view, &session.project, item_id, &mut document)
                    });
                // A case with a lesion opens on it, not on its middle slice:
                // the map shown (yours, the image's own labels file, a
                // review overlay), else the newest anyone saved.
                let shape = document.volume.spatial_shape();
                let shown = document
                    .label_voxels()
                    .and_then(|v| crate::paint::lesion_centre(v, [shape[0], shape[1], shape[2]]));
                let lesion = shown
                    .or_else(|| review::lesion_voxel(&session.project, item_id, &document.volume));
                if let Some(voxel) = lesion {
                    document.click(voxel.map(|v| v as f64));
                }
                self.document = Some(document);
                if self.notice.as_ref().is_some_and(|n| n.is_error) {
                    self.notice = None;
                }
                self.report_resampling();
                if let Err(e) = attached {
                    self.error(e);
                }
            }
            Err(e) => {
                self.document = None;
                self.open_error(e);
            }
        }
    }

    fn open_project(&mut self, dir: &Path) {
        match ProjectSession::open(dir) {
            Ok(mut session) => {
                // On a team project the window works as the database user;
                // in an offline copy as the annotator it was taken for.
                if let Some(solo) = self.solo_annotator.take() {
                    self.settings.annotator = solo;
                }
                let works_as = session.project.user().map(str::to_string).or_else(|| {
                    session
                        .team
                        .offline
                        .as_ref()
                        .map(|copy| copy.annotator.clone())
                });
                if let Some(user) = works_as {
                    self.solo_annotator =
                        Some(std::mem::replace(&mut self.settings.annotator, user));
                }
                if let Err(e) = session.next_unlabeled(&self.settings.annotator) {
                    self.error(format!("cannot claim an item: {e}"));
                }
                if session.selected.is_none() {
                    session.step(0);
                }
                let device = self
                    .compute
                    .as_ref()
                    .map_or(crate::train::config::DeviceKind::Cpu, |c| c.kind());
                self.training.project_opened(
                    session.project.root(),
                    session.project.schema(),
                    device,
                );
                self.session = Some(session);
                self.show_project_picker = false;
                self.settings.remember_project(dir);
                self.save_settings();
                self.show_selected();
                self.password_prompt = None;
            }
            Err(crate::store::StoreError::Password { server, wrong }) => {
                self.password_prompt = Some(team::PasswordPrompt::new(dir, server, wrong));
            }
            Err(e) => self.error(e.to_string()),
        }
    }

    /// Whether the open team project's connection to its server is gone.
    fn lost_server(&self) -> bool {
        self.session
            .as_ref()
            .is_some_and(|s| s.is_shared() && s.project.connection_lost())
    }

    /// The server of the open team project stopped answering: writes what
    /// the window holds (every item, its labels and remarks) as a fallback
    /// copy under the data folder and opens it on the same item. Returns
    /// whether the window now works on it.
    fn fall_back_offline(&mut self) -> bool {
        let Some(session) = &mut self.session else {
            return false;
        };
        session.team.fallback_tried = true;
        let selected = session.selected;
        let database =
            crate::store::postgres::Locator::parse(&session.project.root().to_string_lossy())
                .map(|l| l.database)
                .unwrap_or_else(|_| "project".into());
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let folder = self.data_dir.join("offline").join(
            crate::store::names::safe_file_name(&format!("{database}-{stamp}"))
                .unwrap_or_else(|_| stamp.to_string()),
        );
        let held: Vec<crate::store::offline::HeldItem> = session
            .rows
            .iter()
            .map(|row| crate::store::offline::HeldItem {
                item: &row.item,
                file: session.project.resolve(&row.item),
                labels: &row.labels,
                remarks: &row.remarks,
            })
            .collect();
        let (maps, unreadable) = session.team.standby_map_files(session.project.files_root());
        let written = crate::store::offline::fallback_copy(
            &folder,
            session.project.root(),
            session.project.schema(),
            &self.settings.annotator,
            &held,
            &session.team.standby_tables,
            &maps,
        );
        let items = held.len();
        drop(held);

        match written {
            Ok(copy) => {
                self.open_project(&copy);
                if let Some(id) = selected {
                    let _ = self.apply_labeling(LabelingCommand::SelectItem(id));
                }
                self.info(format!(
                    "The server stopped answering: working offline on a copy of its {items} items \
                     ({}). Labels go to the server when it answers again, and the window returns to it.{}",
                    copy.display(),
                    if unreadable > 0 {
                        format!(
                            " {unreadable} painted map(s) could not be read from the share and are \
                             not in the copy: paint those items once the server is back."
                        )
                    } else {
                        String::new()
                    }
                ));
                self.session
                    .as_ref()
                    .is_some_and(|s| s.team.offline.is_some())
            }
            Err(e) => {
                self.error(format!(
                    "the server stopped answering and no offline copy could be made: {e}"
                ));
                false
            }
        }
    }

    /// A fallback copy synced everything: back to its team project, on the
    /// same item.
    fn return_online(&mut self, of: &str, synced: usize) {
        let copy = self
            .session
            .as_ref()
            .map(|s| s.project.root().to_path_buf());
        let selected = self.session.as_ref().and_then(|s| s.selected);
        self.open_project(Path::new(of));
        if self.session.as_ref().is_some_and(|s| s.is_shared()) {
            if let Some(id) = selected {
                let _ = self.apply_labeling(LabelingCommand::SelectItem(id));
            }
            self.info(format!(
                "Back online: {synced} label{} synced{}",
                if synced == 1 { "" } else { "s" },
                copy.map(|c| format!("; the offline copy stays in {}", c.display()))
                    .unwrap_or_default()
            ));
        } else if let Some(session) = &mut self.session {
            // Still the copy (the server answered the sync, not the reopen):
            // try again after the next sync.
            session.team.sync = team::SyncState::Idle;
        }
    }

    /// Applies a team command: the review queue, verdicts, syncing an
    /// offline copy, taking work offline.
    fn apply_team(&mut self, command: team::TeamCommand) -> Result<(), String> {
        let Some(session) = &mut self.session else {
            return Ok(());
        };
        match command {
            team::TeamCommand::ShowReview(shown) => {
                session.team.review_shown = shown;
                session
                    .team
                    .refresh_review(&session.project)
                    .map_err(|e| e.to_string())
            }
            team::TeamCommand::Review {
                item_id,
                annotator,
                verdict,
                reason,
            } => {
                let reviewer = self.settings.annotator.clone();
                let given = session
                    .project
                    .review_label(item_id, &annotator, &reviewer, verdict, &reason);
                after_verdict(session, given)
            }
            team::TeamCommand::ReviewEye {
                eye,
                annotator,
                verdict,
                reason,
            } => {
                let reviewer = self.settings.annotator.clone();
                let given = session
                    .project
                    .review_eye(&eye, &annotator, &reviewer, verdict, &reason);
                after_verdict(session, given)
            }
            team::TeamCommand::SyncNow => {
                let root = session.project.root().to_path_buf();
                session.team.maybe_sync(&root, true);
                Ok(())
            }
            team::TeamCommand::TakeOffline { folder, items } => {
                let annotator = self.settings.annotator.clone();
                let copy = team::take_offline(&mut session.project, &annotator, &folder, items)?;
                self.apply(WindowCommand::OpenProject(copy));
                Ok(())
            }
        }
    }

    /// Hands a command to its owner; failures become a notice, and nothing
    /// already saved is lost.
    pub fn apply(&mut self, command: impl Into<Command>) {
        let result = match command.into() {
            Command::Viewer(ViewerCommand::Open(path)) => {
                self.open_file(path);
                Ok(())
            }
            Command::Viewer(c) => document::apply(&mut self.document, c),
            Command::Labeling(c) => match self.apply_labeling(c.clone()) {
                // The server went away under this label: work on a
                // fallback copy and write it there.
                Err(_) if self.lost_server() && self.fall_back_offline() => self.apply_labeling(c),
                result => result,
            },
            Command::Job(c) => {
                let root = self.session.as_ref().map(|s| s.project.root());
                jobs::start(c, self.job.is_some(), root).map(|job| self.job = Some(job))
            }
            Command::Training(c) => self.training.apply(
                c,
                TrainingTarget {
                    project_root: self.session.as_ref().map(|s| s.project.root()),
                    compute: self.compute.as_ref(),
                },
            ),
            Command::Window(c) => self.apply_window(c),
            Command::Team(c) => self.apply_team(c),
            Command::Exam(exams::ExamCommand::NextUngradedByMe)
                if self.session.as_ref().is_some_and(|s| s.uses_queue()) =>
            {
                let annotator = self.settings.annotator.clone();
                match self.session.as_mut().map(|s| s.claim_next_eye(&annotator)) {
                    Some(Ok(Some(returned))) => {
                        self.info(returned);
                        Ok(())
                    }
                    Some(Err(e)) => Err(e),
                    _ => Ok(()),
                }
            }
            Command::Exam(c) => match (&mut self.session, c) {
                (Some(session), exams::ExamCommand::MostUncertainEye) => {
                    session.most_uncertain_eye(&self.settings.annotator)
                }
                (Some(session), exams::ExamCommand::SaveReport(path)) => session.save_report(path),
                (Some(session), c) => {
                    // A grade in an offline copy waits to sync: count again.
                    session.team.labels_changed();
                    session
                        .exams
                        .apply(c, &mut session.project, &self.settings.annotator)
                }
                (None, _) => Ok(()),
            },
            Command::Zone(c) => match (&mut self.session, &mut self.document) {
                (Some(session), Some(document)) => match &mut document.zones {
                    Some(overlay) => {
                        session.team.labels_changed();
                        overlay.apply(c, &mut session.project, &self.settings.annotator)
                    }
                    None => Ok(()),
                },
                _ => Ok(()),
            },
            Command::Paint(c) => self.painting.apply(
                c,
                PaintTarget {
                    document: self.document.as_mut(),
                    project: self.session.as_mut().map(|s| &mut s.project),
                },
            ),
        };
        if let Err(message) = result {
            self.error(message);
        }
    }

    fn apply_labeling(&mut self, command: LabelingCommand) -> Result<(), String> {
        let Some(session) = &mut self.session else {
            return Ok(());
        };
        let crop_changed = matches!(command, LabelingCommand::SetCrop { .. });
        let outcome = session.apply(command, &self.settings.annotator)?;
        if crop_changed
            && let (Some(document), Some(id)) = (&mut self.document, session.selected)
            && let Some(overlay) = &mut document.crop
        {
            overlay.corrected = session.project.crop(id).map_err(|e| e.to_string())?;
        }
        if outcome.show_selected {
            self.show_selected();
        }
        if let Some(text) = outcome.info {
            self.info(text);
        }
        Ok(())
    }

    /// The window's own commands: which project is open, the annotator, the notice.
    fn apply_window(&mut self, command: WindowCommand) -> Result<(), String> {
        match command {
            WindowCommand::OpenProject(dir) => self.open_project(&dir),
            WindowCommand::ConnectWithPassword(password) => {
                if let Some(prompt) = self.password_prompt.take() {
                    let url = prompt.remember(&password.0)?;
                    self.open_project(&url);
                    if self.password_prompt.is_some() {
                        // Refused: the next try must not reuse it.
                        team::PasswordPrompt::forget(&url);
                    }
                }
            }
            WindowCommand::CancelPasswordPrompt => self.password_prompt = None,
            WindowCommand::Resample(path) => {
                self.resampled_series.insert(path.clone());
                let selected = self.session.as_ref().and_then(|s| {
                    let row = s.selected_row()?;
                    s.shown_file(row).ok()
                });
                if selected.as_ref() == Some(&path) {
                    self.show_selected();
                } else {
                    self.open_file(path);
                }
            }
            WindowCommand::CreateProject { dir, schema } => {
                let schema = match Schema::builtin(&schema) {
                    Some(s) => s,
                    None => crate::user_file::read_text(
                        Path::new(&schema),
                        crate::user_file::MAX_JSON_BYTES,
                        "JSON file",
                    )
                    .map_err(|e| e.to_string())
                    .and_then(|text| {
                        Schema::from_json(&text).map_err(|e| format!("{e}: {schema}"))
                    })?,
                };
                Project::create(&dir, &schema).map_err(|e| e.to_string())?;
                self.open_project(&dir);
            }
            WindowCommand::ShowProjectPicker(show) => self.show_project_picker = show,
            WindowCommand::SetAnnotator(name) => {
                if let Some(user) = self.session.as_ref().and_then(|s| s.project.user()) {
                    return Err(format!(
                        "on a team project you work as your database user {user:?}"
                    ));
                }
                self.settings.annotator =
                    crate::store::annotator_name(&name).map_err(|e| e.to_string())?;
                self.save_settings();
                // Strokes go to the new annotator's own map.
                self.reattach_maps()?;
            }
            WindowCommand::ShowMap(view) => {
                self.map_view = view;
                self.reattach_maps()?;
            }
            WindowCommand::DismissNotice => self.notice = None,
            WindowCommand::SetPanelSizes(sizes) => {
                if let Some(key) = self.panel_key()
                    && self.settings.panel_sizes.get(&key) != Some(&sizes)
                {
                    self.settings.panel_sizes.insert(key, sizes);
                    self.save_settings();
                }
            }
            WindowCommand::ExplainSelected | WindowCommand::ExplainGlobally => {
                let Some(session) = &self.session else {
                    return Ok(());
                };
                let run = explain::Explanations::run_to_explain(&self.training.past_runs)
                    .ok_or_else(|| {
                        "no finished run on the tabular record to explain with: train one first"
                            .to_string()
                    })?
                    .to_string();
                let root = session.project.root().to_path_buf();
                match (command, session.selected) {
                    (WindowCommand::ExplainGlobally, _) => {
                        self.explanations.start_global(root, run);
                    }
                    (_, Some(id)) => self.explanations.start(root, run, id),
                    (_, None) => {}
                }
            }
        }
        Ok(())
    }
}

impl AppState {
    /// Shows the open case's maps again as the annotator and the map view
    /// now say: painting attached to the annotator's own map, then the
    /// chosen prediction or comparison over it.
    fn reattach_maps(&mut self) -> Result<(), String> {
        if let (Some(session), Some(document)) = (&self.session, &mut self.document)
            && let Some(target) = &self.painting.target
        {
            let item_id = target.item_id;
            self.painting.attach(
                document,
                &session.project,
                item_id,
                &self.settings.annotator,
            )?;
            show_review(&self.map_view, &session.project, item_id, document)?;
        }
        Ok(())
    }
}

/// Puts the overlay `view` asks for on a case's document: a run's
/// prediction or a comparison, read-only (the annotator's own map is
/// painting's to show). Items that are not cases have no predictions.
fn show_review(
    view: &review::MapView,
    project: &crate::store::Project,
    item_id: i64,
    document: &mut Document,
) -> Result<(), String> {
    if *view == review::MapView::Own {
        return Ok(());
    }
    let names = project.case_names().map_err(|e| e.to_string())?;
    let Some(case) = names.get(&item_id) else {
        return Ok(());
    };
    if let Some((voxels, note)) = review::overlay(project, view, item_id, case, &document.volume)? {
        document.show_read_only_map(voxels, note);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `loupe DIR`: a project opens as a project, a folder of files (a
    /// DICOM series) in the viewer, an empty folder as a project (whose
    /// error then says it is not one).
    #[test]
    fn a_command_line_folder_is_a_project_or_a_series() {
        let dir = tempfile::tempdir().unwrap();
        let series = dir.path().join("series");
        std::fs::create_dir(&series).unwrap();
        std::fs::write(series.join("IM0001"), b"x").unwrap();
        let project = dir.path().join("project");
        std::fs::create_dir(&project).unwrap();
        std::fs::write(project.join(crate::store::DATABASE_FILE), b"").unwrap();
        std::fs::write(project.join("other"), b"").unwrap();
        let empty = dir.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        assert_eq!(
            Launch::from_path(Some(series.clone())),
            Launch::File(series)
        );
        assert_eq!(
            Launch::from_path(Some(project.clone())),
            Launch::Project(project)
        );
        assert_eq!(
            Launch::from_path(Some(empty.clone())),
            Launch::Project(empty)
        );
        assert_eq!(Launch::from_path(None), Launch::Default);
    }
}
