//! The one set of rules for names and paths Loupe writes from a user's
//! words: a label or case name as one safe file-name component, no writing
//! through symbolic links, and the export's own column names (which no
//! schema field may take), and the one way an export writes a folder (all
//! or nothing, never over a file). A leaf of `store`: it imports only the error.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

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
            "{} cannot be a file or folder name (empty, \".\", \"..\" or reserved on Windows)",
            crate::user_file::shown(text)
        )));
    }
    Ok(name.to_string())
}

/// The one collision-free rule for a file or folder Loupe names after a
/// user's words (an annotator, a case, a class): the name itself when it is
/// already a safe file name, else its safe form plus `-` and 8 hex digits of
/// the name's SHA-256 — so `a/b` and `a\b` (both `a_b` once made safe) and
/// `a_b` itself get three different files.
pub fn file_name_for(text: &str) -> Result<String, StoreError> {
    let safe = safe_file_name(text)?;
    if safe == text {
        return Ok(safe);
    }
    Ok(format!("{safe}-{}", short_hash(text)))
}

/// 8 hex digits of a name's SHA-256: what keeps two names that clean
/// alike in two files.
pub(crate) fn short_hash(text: &str) -> String {
    let hash = Sha256::digest(text.as_bytes());
    hash.iter().take(4).map(|b| format!("{b:02x}")).collect()
}

/// A folder an export writes: everything goes into a hidden sibling first
/// and the folder appears by one rename when all is written, so a failed
/// export leaves nothing behind; the destination must be new or empty, and
/// two names meeting one file (a case-insensitive disk) are refused, never
/// written over.
pub struct ExportFolder {
    destination: PathBuf,
    partial: PathBuf,
    finished: bool,
}

impl ExportFolder {
    pub fn create(destination: &Path) -> Result<Self, StoreError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| StoreError::Io { path, source }
        };
        refuse_link(destination)?;
        if destination.exists() {
            let mut entries = std::fs::read_dir(destination).map_err(io(destination))?;
            if entries.next().is_some() {
                return Err(StoreError::Invalid(format!(
                    "{} is not empty: Loupe writes exports and offline copies into a new or empty folder, so nothing there is overwritten",
                    destination.display()
                )));
            }
        }
        let name = destination
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| {
                StoreError::Invalid(format!("{} is not a folder name", destination.display()))
            })?;
        let parent = match destination.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&parent).map_err(io(&parent))?;
        let partial = parent.join(format!(".{name}.partial-{}", std::process::id()));
        if partial.exists() {
            std::fs::remove_dir_all(&partial).map_err(io(&partial))?;
        }
        std::fs::create_dir(&partial).map_err(io(&partial))?;
        Ok(Self {
            destination: destination.to_path_buf(),
            partial,
            finished: false,
        })
    }

    /// The hidden folder being written (what appears as the destination).
    pub fn path(&self) -> &Path {
        &self.partial
    }

    /// Writes `bytes` at `relative` (folders made as needed); a file
    /// already there means two names met: refused.
    pub fn write(&self, relative: &Path, bytes: &[u8]) -> Result<(), StoreError> {
        self.write_from(relative, &mut std::io::Cursor::new(bytes))
    }

    /// Copies the file `source` to `relative`, streamed (a volume is not
    /// held in memory).
    pub fn copy_file(&self, relative: &Path, source: &Path) -> Result<(), StoreError> {
        let mut reader = std::fs::File::open(source).map_err(|e| StoreError::Io {
            path: source.to_path_buf(),
            source: e,
        })?;
        self.write_from(relative, &mut reader)
    }

    fn write_from(
        &self,
        relative: &Path,
        reader: &mut impl std::io::Read,
    ) -> Result<(), StoreError> {
        let path = self.partial.join(relative);
        if let Some(folder) = path.parent() {
            std::fs::create_dir_all(folder).map_err(|source| StoreError::Io {
                path: folder.to_path_buf(),
                source,
            })?;
        }
        let collision = || {
            StoreError::Invalid(format!(
                "two exported names meet at {}; nothing was exported (on a disk that ignores letter case, two names that differ only in case meet)",
                self.destination.join(relative).display()
            ))
        };
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|source| match source.kind() {
                std::io::ErrorKind::AlreadyExists => collision(),
                _ => StoreError::Io {
                    path: path.clone(),
                    source,
                },
            })?;
        std::io::copy(reader, &mut file)
            .and_then(|_| file.sync_all())
            .map_err(|source| StoreError::Io { path, source })
    }

    /// Makes the written folder the destination, in one rename.
    pub fn finish(mut self) -> Result<(), StoreError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| StoreError::Io { path, source }
        };
        if self.destination.exists() {
            // Checked empty at the start; an empty folder gives way.
            std::fs::remove_dir(&self.destination).map_err(io(&self.destination))?;
        }
        std::fs::rename(&self.partial, &self.destination).map_err(io(&self.destination))?;
        self.finished = true;
        Ok(())
    }
}

impl Drop for ExportFolder {
    fn drop(&mut self) {
        if !self.finished {
            let _ = std::fs::remove_dir_all(&self.partial);
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_clean_alike_get_files_of_their_own() {
        let names: Vec<String> = ["a/b", "a\\b", "a_b", "a:b"]
            .iter()
            .map(|n| file_name_for(n).unwrap())
            .collect();
        assert_eq!(names[2], "a_b");
        assert!(
            names[0].starts_with("a_b-") && names[0].len() == 12,
            "{names:?}"
        );
        let distinct: std::collections::HashSet<_> = names.iter().collect();
        assert_eq!(distinct.len(), 4, "{names:?}");
        assert_eq!(
            file_name_for("a/b").unwrap(),
            names[0],
            "the same name, the same file"
        );
    }

    #[test]
    fn an_export_is_all_or_nothing_and_never_writes_over() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let folder = ExportFolder::create(&out).unwrap();
        folder.write(Path::new("x/one.txt"), b"1").unwrap();
        assert!(folder.write(Path::new("x/one.txt"), b"2").is_err());
        drop(folder);
        assert!(!out.exists(), "a failed export leaves nothing");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        let folder = ExportFolder::create(&out).unwrap();
        folder.write(Path::new("x/one.txt"), b"1").unwrap();
        folder.finish().unwrap();
        assert_eq!(std::fs::read(out.join("x/one.txt")).unwrap(), b"1");
        assert!(ExportFolder::create(&out).is_err(), "not empty");
    }
}
