//! The one set of rules for names and paths Loupe writes from a user's
//! words: a label or case name as one safe file-name component, no writing
//! through symbolic links, and the export's own column names (which no
//! schema field may take). A leaf of `store`: it imports only the error.

use std::path::Path;

use super::StoreError;

/// The CSV export's own columns besides the schema's fields: known to the
/// import, and never a field name (the schema refuses them).
pub const EXPORT_COLUMNS: [&str; 5] = ["id", "path", "pool", "annotator", "labeled_at"];

/// Names Windows reserves for devices, with or without an extension.
const WINDOWS_DEVICE_NAMES: [&str; 22] = [
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
    "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

/// A label or file name as one safe path component on every system:
/// separators, `: * ? " < > |` and control characters become `_`, and
/// trailing dots and spaces (which Windows drops) go. A name that is empty,
/// `.`, `..` or a Windows device name (`CON`, `NUL.txt`, …) after that is
/// refused, naming it.
pub fn safe_file_name(text: &str) -> Result<String, StoreError> {
    let replaced: String = text
        .chars()
        .map(|c| {
            if c.is_control() || "/\\:*?\"<>|".contains(c) {
                '_'
            } else {
                c
            }
        })
        .collect();
    let name = replaced.trim_end_matches(['.', ' ']).trim_start();
    let stem = name.split('.').next().unwrap_or_default();
    if name.is_empty()
        || name == "."
        || name == ".."
        || WINDOWS_DEVICE_NAMES
            .iter()
            .any(|d| d.eq_ignore_ascii_case(stem.trim_end()))
    {
        return Err(StoreError::Invalid(format!(
            "{text:?} cannot be a file or folder name (empty, \".\", \"..\" or reserved on Windows)"
        )));
    }
    Ok(name.to_string())
}

/// An error when `path` is a symbolic link: the export writes only real
/// folders and files inside the folder the user chose.
pub(crate) fn refuse_link(path: &Path) -> Result<(), StoreError> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => Err(StoreError::Invalid(format!(
            "{} is a symbolic link; the export does not write through links",
            path.display()
        ))),
        _ => Ok(()),
    }
}
