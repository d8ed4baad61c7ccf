//! What panels can ask for.

use std::path::PathBuf;

use crate::render::cpu::WindowLevel;

/// A request from the UI, applied by [`super::AppState::apply`].
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// Open an image or volume file (dialog, drop, command line).
    Open(PathBuf),
    /// Show this slice of the current plane.
    SetSlice(usize),
    /// Move through slices (mouse wheel, arrow keys).
    StepSlice(i64),
    /// Show this time point of a 4-D volume.
    SetTime(usize),
    SetWindow(WindowLevel),
    /// Back to the automatic window (0.5–99.5 percentiles).
    ResetWindow,
    DismissNotice,
}
