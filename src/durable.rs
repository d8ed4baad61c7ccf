//! Writing a file so that a crash or power cut leaves either the old file
//! or the whole new one, never a torn one: the one rule every small file
//! Loupe writes (settings, run configs and summaries, exports) goes through.

use std::io::Write;
use std::path::Path;

/// Writes `bytes` to `path` durably: a temporary file beside it is written
/// and synced, renamed over `path`, and the folder is synced so the rename
/// itself survives a power cut.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other(format!("not a file path: {}", path.display())))?;
    // The process id keeps two writers (the window and a CLI) off each other's temporary file.
    let temporary = folder.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&temporary, path)?;
        sync_folder(folder)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result
}

/// Removes the temporary files an atomic write left in `folder` when its
/// writer was killed — [`write_atomic`]'s `.NAME.PID.tmp`, and Burn's
/// checkpoint writer's `NAME.PID-N.tmp` (burn-pack) — whose process is gone
/// (on Linux, no `/proc/PID`; elsewhere, older than a day). Returns how
/// many went.
pub fn remove_stray_temporaries(folder: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = writer_pid(&name) else {
            continue;
        };
        if pid != std::process::id()
            && writer_is_gone(pid, &entry)
            && std::fs::remove_file(entry.path()).is_ok()
        {
            removed += 1;
        }
    }
    removed
}

/// The writing process of a temporary file's name, in either pattern.
fn writer_pid(name: &str) -> Option<u32> {
    let (_, tail) = name.strip_suffix(".tmp")?.rsplit_once('.')?;
    if name.starts_with('.') {
        return tail.parse().ok();
    }
    let (pid, counter) = tail.split_once('-')?;
    counter.parse::<u64>().ok()?;
    pid.parse().ok()
}

fn writer_is_gone(pid: u32, entry: &std::fs::DirEntry) -> bool {
    if Path::new("/proc/self").exists() {
        return !Path::new(&format!("/proc/{pid}")).exists();
    }
    entry
        .metadata()
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age.as_secs() > 24 * 3600)
}

#[cfg(unix)]
fn sync_folder(folder: &Path) -> std::io::Result<()> {
    std::fs::File::open(folder)?.sync_all()
}

#[cfg(not(unix))]
fn sync_folder(_folder: &Path) -> std::io::Result<()> {
    // Windows cannot open a folder as a file; NTFS journals the rename.
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_killed_writers_temporary_goes_and_a_live_ones_stays() {
        let dir = tempfile::tempdir().unwrap();
        // Process ids above the kernel's maximum (4194304) are never alive.
        let dead = dir.path().join(".student_chosen.bpk.99999999.tmp");
        let live = dir
            .path()
            .join(format!(".summary.json.{}.tmp", std::process::id()));
        let other = dir.path().join("notes.tmp");
        // Burn's checkpoint writer names its temporaries NAME.PID-N.tmp.
        let burn_dead = dir.path().join("teacher_last.bpk.99999999-5.tmp");
        let not_a_counter = dir.path().join("x.bpk.99999999-a.tmp");
        for f in [&dead, &live, &other, &burn_dead, &not_a_counter] {
            std::fs::write(f, b"x").unwrap();
        }
        assert_eq!(remove_stray_temporaries(dir.path()), 2);
        assert!(!dead.exists() && !burn_dead.exists());
        assert!(live.exists() && other.exists() && not_a_counter.exists());
    }

    #[test]
    fn replaces_the_whole_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, "old and longer than the new one").unwrap();
        write_atomic(&path, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["config.json"]);
        assert!(write_atomic(&dir.path().join("missing/x.json"), b"x").is_err());
    }
}
