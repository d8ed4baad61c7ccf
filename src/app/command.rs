//! What panels can ask for.

use std::path::PathBuf;

use super::document::{Layout, OverlaySettings};
use super::project::{BrowserFilter, SortOrder, UncertaintyMeasure};
use crate::demo::DemoTask;
use crate::render::cpu::{Interpolation, WindowLevel};
use crate::store::Remark;
use crate::train::engine::TrainConfig;
use crate::volume::slice::{Convention, Plane};

/// A request from the UI, applied by [`super::AppState::apply`].
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
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
    DismissNotice,

    /// Open the project in this folder.
    OpenProject(PathBuf),
    /// Create a project in this folder with a schema (`rop`, `thyroid` or a JSON file).
    CreateProject {
        dir: PathBuf,
        schema: String,
    },
    /// Write a demo project into this folder (in the background), then open it.
    CreateDemo {
        dir: PathBuf,
        task: DemoTask,
    },
    /// Import files and folders into the open project (in the background).
    Import {
        paths: Vec<PathBuf>,
        labels: Option<PathBuf>,
        test_fraction: f64,
    },
    /// Point missing items at files with the same content under this folder.
    FindMovedFiles(PathBuf),
    ShowProjectPicker(bool),

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
    /// Put the selected item into the test pool (true) or back into training (false).
    SetTest(bool),
    Undo,
    Redo,
    SetAnnotator(String),
    SetFilter(BrowserFilter),
    SetSort(SortOrder),
    SetAutoAdvance(bool),
    ComputeAgreement,

    ShowTraining(bool),
    SetTrainConfig(TrainConfig),
    /// Train on the CPU (`flex`) rather than the display's GPU.
    SetTrainOnCpu(bool),
    /// Train on the open project with the current settings, in the background.
    StartTraining,
    PauseTraining,
    ResumeTraining,
    StopTraining,
    /// Draw a past run's curves under the current ones.
    OverlayRun(Option<String>),
}
