//! Application state and the one place that changes it: panels send
//! [`Command`]s, [`AppState::apply`] carries them out. No drawing here.

mod command;
mod document;

pub use command::Command;
pub use document::Document;

use std::path::PathBuf;

use crate::render::device::AdapterSummary;
use crate::train::device::ComputeDevice;

/// A message shown to the user until dismissed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    pub text: String,
    pub is_error: bool,
}

/// Everything the window shows.
#[derive(Default)]
pub struct AppState {
    /// The open image or volume, if any.
    pub document: Option<Document>,
    /// The last error or information for the user.
    pub notice: Option<Notice>,
    /// The display's GPU, as eframe created it (`None` without a wgpu renderer).
    pub display_adapter: Option<AdapterSummary>,
    /// Where training runs.
    pub compute: Option<ComputeDevice>,
    /// Why Burn could not share the display device, if it could not.
    pub compute_error: Option<String>,
    /// Files opened this session, newest last.
    pub history: Vec<PathBuf>,
}

impl AppState {
    /// Applies one command. Failures become a notice; nothing already open is lost.
    pub fn apply(&mut self, command: Command) {
        match command {
            Command::Open(path) => match Document::open(&path) {
                Ok(document) => {
                    self.document = Some(document);
                    self.notice = None;
                    self.history.retain(|p| p != &path);
                    self.history.push(path);
                }
                Err(error) => {
                    self.notice = Some(Notice {
                        text: error.to_string(),
                        is_error: true,
                    });
                }
            },
            Command::SetSlice(index) => {
                if let Some(document) = &mut self.document {
                    document.set_slice(index);
                }
            }
            Command::StepSlice(delta) => {
                if let Some(document) = &mut self.document {
                    let target = document.slice_index as i64 + delta;
                    document.set_slice(target.clamp(0, document.slice_count as i64 - 1) as usize);
                }
            }
            Command::SetTime(time) => {
                if let Some(document) = &mut self.document {
                    document.set_time(time);
                }
            }
            Command::SetWindow(window) => {
                if let Some(document) = &mut self.document {
                    document.set_window(window);
                }
            }
            Command::ResetWindow => {
                if let Some(document) = &mut self.document {
                    document.set_window(document.auto_window);
                }
            }
            Command::DismissNotice => self.notice = None,
        }
    }
}
