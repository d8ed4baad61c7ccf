//! What panels can ask for, grouped by the part of the state that owns it.
//! Each owner module defines its own command (`ViewerCommand` in
//! `document`, `LabelingCommand` in `project`, …) and applies it; this
//! module gathers them into [`Command`] — it imports the owners, no owner
//! imports it. Panels push any owner's command into [`Commands`];
//! [`super::AppState::apply`] only dispatches each to its owner.

use std::path::PathBuf;

pub use super::document::ViewerCommand;
pub use super::exams::ExamCommand;
pub use super::jobs::JobCommand;
pub use super::painting::PaintCommand;
pub use super::project::LabelingCommand;
pub use super::team::TeamCommand;
pub use super::training::TrainingCommand;
pub use super::zones::ZoneCommand;

/// A request from the UI, by owner.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    Viewer(ViewerCommand),
    Labeling(LabelingCommand),
    Job(JobCommand),
    Window(WindowCommand),
    Training(TrainingCommand),
    Paint(PaintCommand),
    Exam(ExamCommand),
    Zone(ZoneCommand),
    Team(TeamCommand),
}

impl From<TeamCommand> for Command {
    fn from(command: TeamCommand) -> Self {
        Command::Team(command)
    }
}

impl From<ExamCommand> for Command {
    fn from(command: ExamCommand) -> Self {
        Command::Exam(command)
    }
}

impl From<ZoneCommand> for Command {
    fn from(command: ZoneCommand) -> Self {
        Command::Zone(command)
    }
}

impl From<ViewerCommand> for Command {
    fn from(command: ViewerCommand) -> Self {
        Command::Viewer(command)
    }
}

impl From<LabelingCommand> for Command {
    fn from(command: LabelingCommand) -> Self {
        Command::Labeling(command)
    }
}

impl From<JobCommand> for Command {
    fn from(command: JobCommand) -> Self {
        Command::Job(command)
    }
}

/// Which project is open, the annotator, the notice; applied by the app itself.
#[derive(Clone, Debug, PartialEq)]
pub enum WindowCommand {
    DismissNotice,
    /// The user resized a panel: the open project's sizes, remembered.
    SetPanelSizes(super::settings::PanelSizes),
    /// Explain the selected case by the newest run on the tabular record
    /// (in the background).
    ExplainSelected,
    /// Every record column's importance on the test pool, by the same run
    /// (in the background).
    ExplainGlobally,
    /// Open the project in this folder.
    OpenProject(PathBuf),
    /// Open the team project the password prompt is for, with the password
    /// typed (kept for this run of Loupe only, never in a URL or a file).
    ConnectWithPassword(Secret),
    /// Close the password prompt without opening anything.
    CancelPasswordPrompt,
    /// Read this DICOM series resampled onto a regular grid (it has a gap or
    /// a gantry tilt) and show it.
    Resample(PathBuf),
    /// Create a project in this folder with a schema (`rop`, `thyroid` or a JSON file).
    CreateProject {
        dir: PathBuf,
        schema: String,
    },
    ShowProjectPicker(bool),
    SetAnnotator(String),
    /// What a case's label overlay shows: the annotator's map, a
    /// segmentation run's prediction, or prediction against truth.
    ShowMap(super::review::MapView),
}

/// A password on its way from the prompt to the store: never printed.
#[derive(Clone, PartialEq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl From<WindowCommand> for Command {
    fn from(command: WindowCommand) -> Self {
        Command::Window(command)
    }
}

impl From<TrainingCommand> for Command {
    fn from(command: TrainingCommand) -> Self {
        Command::Training(command)
    }
}

impl From<PaintCommand> for Command {
    fn from(command: PaintCommand) -> Self {
        Command::Paint(command)
    }
}

/// The commands a frame's panels asked for, in order.
#[derive(Debug, Default)]
pub struct Commands(Vec<Command>);

impl Commands {
    pub fn push(&mut self, command: impl Into<Command>) {
        self.0.push(command.into());
    }

    pub fn drain(&mut self) -> std::vec::Drain<'_, Command> {
        self.0.drain(..)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
