//! Errors raised while reading image files: each names the file and what is wrong with it.

use std::path::{Path, PathBuf};

/// A file could not be read as an image or volume.
///
/// The message puts what is wrong first and the file last, so a user reading
/// `loupe info` output or a status bar sees the cause at once.
#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{reason}: {}", path.display())]
    Invalid { path: PathBuf, reason: String },
    #[error("unsupported: {reason}: {}", path.display())]
    Unsupported { path: PathBuf, reason: String },
    /// A DICOM stack with a missing slice or a gantry tilt: readable only
    /// when resampled onto a regular grid, which the user must ask for.
    #[error(
        "{problem}; Loupe does not stack it onto a wrong grid (resample it with --resample, or the viewer's Resample button): {}",
        path.display()
    )]
    NeedsResampling { path: PathBuf, problem: String },
    #[error("cannot decode image ({source}): {}", path.display())]
    Image {
        path: PathBuf,
        #[source]
        source: image::ImageError,
    },
}

impl VolumeError {
    pub(crate) fn invalid(path: &Path, reason: impl Into<String>) -> Self {
        Self::Invalid {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }

    pub(crate) fn unsupported(path: &Path, reason: impl Into<String>) -> Self {
        Self::Unsupported {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }

    /// Maps an I/O error, turning an unexpected end of file into a plain "truncated" message.
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        if source.kind() == std::io::ErrorKind::UnexpectedEof {
            return Self::invalid(
                path,
                "file is truncated: it ends before the data the header describes",
            );
        }
        if source.kind() == std::io::ErrorKind::InvalidInput
            || source.kind() == std::io::ErrorKind::InvalidData
        {
            return Self::invalid(path, format!("corrupt compressed data ({source})"));
        }
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
