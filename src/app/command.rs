//! What panels can ask for, grouped by the part of the state that owns it.
//! Panels push any owner's command into [`Commands`]; [`super::AppState::apply`]
//! only dispatches each to its owner.

use std::path::PathBuf;

use super::document::{Layout, OverlaySettings};
use super::painting::Tool;
use super::project::{BrowserFilter, SortOrder, UncertaintyMeasure};
use crate::demo::DemoTask;
use crate::paint::{BrushShape, PaintOver, PlaneFrame};
use crate::render::cpu::{Interpolation, WindowLevel};
use crate::store::Remark;
use crate::store::schema::PaintLabel;
use crate::train::config::TrainConfig;
use crate::volume::slice::{Convention, Plane};

/// A request from the UI, by owner.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    Viewer(ViewerCommand),
    Labeling(LabelingCommand),
    Job(JobCommand),
    Window(WindowCommand),
    Training(TrainingCommand),
    Paint(PaintCommand),
}

/// What the viewer does with the open image or volume; applied by
/// `document::apply`, except `Open`, which the window applies (it owns the
/// history and the notice).
#[derive(Clone, Debug, PartialEq)]
pub enum ViewerCommand {
    /// Open an image or volume file (dialog, drop, command line) outside any project.
    Open(PathBuf),
    /// Show this slice of a plane (moves the crosshair along its normal).
    SetSlice {
        plane: Plane,
        index: usize,
    },
    /// Move through a plane's slices (mouse wheel, arrow keys).
    StepSlice {
        plane: Plane,
        delta: i64,
    },
    /// Put the linked crosshair on this voxel (a click in any view).
    ClickVoxel([f64; 3]),
    SetLayout(Layout),
    SetConvention(Convention),
    SetInterpolation(Interpolation),
    /// Multiply a view's zoom.
    ZoomView {
        plane: Plane,
        factor: f64,
    },
    /// Shift a view's image by screen pixels.
    PanView {
        plane: Plane,
        delta: [f64; 2],
    },
    /// Rotate a view's plane (oblique), radians about its screen x and y axes.
    SetTilt {
        plane: Plane,
        tilt: [f64; 2],
    },
    /// Back to the fitted, orthogonal view.
    ResetView(Plane),
    /// Draw a label map (NIfTI, integer labels) over the open volume.
    OpenLabels(PathBuf),
    SetOverlay(OverlaySettings),
    /// Show another volume of the case (same grid) side by side.
    AddCompanion(PathBuf),
    RemoveCompanions,
    /// Show this time point of a 4-D volume.
    SetTime(usize),
    SetWindow(WindowLevel),
    /// Back to the automatic window (0.5–99.5 percentiles).
    ResetWindow,
}

impl From<ViewerCommand> for Command {
    fn from(command: ViewerCommand) -> Self {
        Command::Viewer(command)
    }
}

/// Browsing and labeling the open project; applied by [`super::ProjectSession::apply`].
#[derive(Clone, Debug, PartialEq)]
pub enum LabelingCommand {
    SelectItem(i64),
    /// Previous (−1) or next (+1) item of the browser's list.
    StepItem(i64),
    NextUnlabeled,
    /// Active learning: the unlabeled item the model is least sure of.
    NextMostUncertain,
    SetUncertainty(UncertaintyMeasure),
    /// Set (or clear) a field of the selected item as the current annotator.
    SetLabel {
        field: String,
        value: Option<String>,
    },
    /// A reviewer's final value for a field of the selected item.
    Adjudicate {
        field: String,
        value: Option<String>,
    },
    SetRemark(Remark),
    /// Correct the selected image's crop box (`None`: back to the automatic
    /// one); `image_size` is the shown image's width and height, to check it.
    SetCrop {
        crop: Option<[u32; 4]>,
        image_size: [u32; 2],
    },
    /// Put the selected item into the test pool (true) or back into training (false).
    SetTest(bool),
    Undo,
    Redo,
    SetFilter(BrowserFilter),
    SetSort(SortOrder),
    SetAutoAdvance(bool),
    ComputeAgreement,
    /// Set (or clear, `None`) a column of the selected case's record as the
    /// current annotator.
    SetRecord {
        column: String,
        value: Option<String>,
    },
    /// Show this modality of a case in the viewer (`None`: its first).
    ShowModality(Option<String>),
    /// Override the slices a 2-D model reads of the selected case's series
    /// (`None`: withdraw the override, the slice policy's pick holds).
    SetSlicePick(Option<Vec<usize>>),
    /// Show this record column under each case in the browser (`None`: none).
    ShowColumn(Option<String>),
}

impl From<LabelingCommand> for Command {
    fn from(command: LabelingCommand) -> Self {
        Command::Labeling(command)
    }
}

/// Background work that writes a project; applied by [`super::jobs::start`].
#[derive(Clone, Debug, PartialEq)]
pub enum JobCommand {
    /// Write a demo project into this folder (in the background), then open it.
    CreateDemo { dir: PathBuf, task: DemoTask },
    /// Import files and folders into the open project (in the background).
    Import {
        paths: Vec<PathBuf>,
        labels: Option<PathBuf>,
        test_fraction: f64,
        /// Accept CSV rows by the reserved adjudicator (restoring an export).
        adjudications: bool,
    },
    /// Point the open project's missing items at files with the same
    /// content under this folder (in the background: the folder may be large).
    FindMovedFiles { folder: PathBuf },
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
    /// Explain the selected case by the newest run on the tabular record
    /// (in the background).
    ExplainSelected,
    /// Every record column's importance on the test pool, by the same run
    /// (in the background).
    ExplainGlobally,
    /// Open the project in this folder.
    OpenProject(PathBuf),
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

impl From<WindowCommand> for Command {
    fn from(command: WindowCommand) -> Self {
        Command::Window(command)
    }
}

/// The training panel and its run; applied by [`super::training::Training::apply`].
// A settings change carries the whole configuration; a few per second at
// most, moved once: boxing it would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum TrainingCommand {
    Show(bool),
    /// Boxed: a configuration is large beside the other commands.
    SetConfig(Box<TrainConfig>),
    /// Train on the CPU (`flex`) rather than the display's GPU.
    SetOnCpu(bool),
    /// CPU threads a run may use.
    SetThreads(usize),
    /// Train on the open project with the current settings, in the background.
    Start,
    Pause,
    Resume,
    Stop,
    /// Draw a past run's curves under the current ones.
    Overlay(Option<String>),
    /// Where the next run starts: new weights (`run: None`, no project),
    /// a run of this project (`project: None`), or a run of another project
    /// (`run: None` there picks its latest run with a checkpoint). The run's
    /// architecture follows its parent's.
    FineTuneFrom {
        project: Option<PathBuf>,
        run: Option<String>,
    },
}

impl From<TrainingCommand> for Command {
    fn from(command: TrainingCommand) -> Self {
        Command::Training(command)
    }
}

/// Painting the selected item's label map; applied by [`super::painting::Painting::apply`].
#[derive(Clone, Debug, PartialEq)]
pub enum PaintCommand {
    SetTool(Tool),
    SetBrushShape(BrushShape),
    SetRadius(f64),
    SetActiveLabel(u8),
    SetPaintOver(PaintOver),
    SetFill {
        three_d: bool,
        tolerance: f64,
    },
    /// The project's list of structures (value, name).
    SetLabels(Vec<PaintLabel>),
    /// A brush or eraser dab at a voxel position on a view's plane; the
    /// first dab of a drag opens a stroke.
    Dab {
        frame: PlaneFrame,
        at: [f64; 3],
    },
    /// The mouse was released: the stroke is recorded and the map saved.
    EndStroke,
    /// Flood fill from the voxel at `at` (on the view's plane, or in 3-D).
    Fill {
        frame: PlaneFrame,
        at: [f64; 3],
    },
    PolygonCorner {
        frame: PlaneFrame,
        at: [f64; 3],
    },
    ClosePolygon,
    CancelPolygon,
    /// Fill the active label between painted slices along a voxel axis (0–2).
    Interpolate {
        axis: usize,
    },
    Undo,
    Redo,
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
