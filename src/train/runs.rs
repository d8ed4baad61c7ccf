//! Runs on disk, under the project's `runs/<id>/`: the configuration,
//! metrics as JSON lines (one per epoch, series by name), the checkpoints
//! (chosen on the validation split, and last), and the summary. Runs
//! written before series had names still open: their fixed loss fields are
//! read into the same names.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::config::TrainConfig;
use super::events::{EpochRecord, RunSummary};

/// The checkpoint a run reports (chosen on the validation split), per model.
pub const CHOSEN_STUDENT: &str = "student_chosen.bpk";
pub const CHOSEN_TEACHER: &str = "teacher_chosen.bpk";
/// The last epoch's checkpoints (what older runs have, and what a stopped run keeps).
pub const LAST_STUDENT: &str = "student_last.bpk";
pub const LAST_TEACHER: &str = "teacher_last.bpk";
pub const SUMMARY_FILE: &str = "summary.json";
pub const CONFIG_FILE: &str = "config.json";
pub const METRICS_FILE: &str = "metrics.jsonl";

/// A run's folder.
pub struct RunDir {
    pub id: String,
    pub path: PathBuf,
}

impl RunDir {
    /// Creates `runs/<id>` (`<milliseconds>-<method>`) with the configuration
    /// saved: the run's method's settings, every one with its value.
    pub fn create(
        project_root: &Path,
        config: &TrainConfig,
        method: &str,
    ) -> std::io::Result<Self> {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        let runs = crate::store::files_root(project_root)
            .map_err(std::io::Error::other)?
            .join("runs");
        std::fs::create_dir_all(&runs)?;
        // Two runs started in the same millisecond (the window and a CLI, or
        // a benchmark's parallel runs) get distinct folders: create_dir is
        // atomic, so the first one to claim a name keeps it.
        let mut attempt = 0u32;
        let (id, path) = loop {
            let id = match attempt {
                0 => format!("{stamp}-{method}"),
                n => format!("{stamp}-{method}-{n}"),
            };
            let path = runs.join(&id);
            match std::fs::create_dir(&path) {
                Ok(()) => break (id, path),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 1000 => {
                    attempt += 1
                }
                Err(e) => return Err(e),
            }
        };
        crate::durable::write_atomic(
            &path.join(CONFIG_FILE),
            serde_json::to_string_pretty(&config.with_method_settings_only())
                .map_err(std::io::Error::other)?
                .as_bytes(),
        )?;
        Ok(Self { id, path })
    }

    pub fn append(&self, record: &EpochRecord) -> std::io::Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path.join(METRICS_FILE))?;
        writeln!(
            file,
            "{}",
            serde_json::to_string(record).map_err(std::io::Error::other)?
        )?;
        file.sync_data()
    }

    /// Writes `summary.json`: what `loupe train --json` printed, for later readers.
    pub fn finish(&self, summary: &RunSummary) -> std::io::Result<()> {
        crate::durable::write_atomic(
            &self.path.join(SUMMARY_FILE),
            serde_json::to_string_pretty(summary)
                .map_err(std::io::Error::other)?
                .as_bytes(),
        )
    }
}

/// The folder of run `id` in the project at `project_root`: the one place a
/// run id given by a user (`--run`, `--from`, `--teacher`) becomes a path,
/// so an id is one plain name (no separator, not `.` or `..`) and never
/// leads outside `runs/`.
pub fn run_dir(project_root: &Path, id: &str) -> Result<PathBuf, super::error::TrainError> {
    let plain = !id.is_empty()
        && id != "."
        && id != ".."
        && !id.contains(['/', '\\'])
        && !id.chars().any(char::is_control);
    if !plain {
        return Err(super::error::TrainError::Data(format!(
            "{id:?} is not a run id (a folder name under {}/runs)",
            project_root.display()
        )));
    }
    Ok(crate::store::files_root(project_root)
        .map_err(|e| super::error::TrainError::Data(e.to_string()))?
        .join("runs")
        .join(id))
}

/// The configuration of run `id` in the project at `root`.
pub fn read_config(root: &Path, id: &str) -> Result<TrainConfig, super::error::TrainError> {
    let dir = run_dir(root, id)?;
    let text = std::fs::read_to_string(dir.join(CONFIG_FILE)).map_err(|e| {
        super::error::TrainError::Data(format!("no run {id} in {}: {e}", root.display()))
    })?;
    serde_json::from_str(&text).map_err(|e| {
        super::error::TrainError::Data(format!("run {id} has an unreadable config.json: {e}"))
    })
}

/// The summary a run wrote when it ended (`None`: it has not, or was killed).
pub fn saved_summary(dir: &Path) -> Option<RunSummary> {
    std::fs::read_to_string(dir.join(SUMMARY_FILE))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
}

/// How many epochs a run's metrics file records (what a killed run reached).
pub fn recorded_epochs(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join(METRICS_FILE))
        .map(|t| t.lines().filter(|l| !l.trim().is_empty()).count())
        .unwrap_or(0)
}

/// A past run as listed for overlaying curves.
#[derive(Clone, Debug)]
pub struct PastRun {
    pub id: String,
    pub config: Option<TrainConfig>,
    pub epochs: Vec<EpochRecord>,
    /// Present once the run has ended.
    pub summary: Option<RunSummary>,
}

/// Every run of a project, oldest first; unreadable lines are skipped.
pub fn list(project_root: &Path) -> Vec<PastRun> {
    let Ok(entries) = crate::store::files_root(project_root).and_then(|f| {
        std::fs::read_dir(f.join("runs"))
            .map_err(|source| crate::store::StoreError::Io { path: f, source })
    }) else {
        return Vec::new();
    };
    let mut runs: Vec<PastRun> = entries
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| {
            let path = e.path();
            // A run killed mid-save left a temporary checkpoint: gone now.
            crate::durable::remove_stray_temporaries(&path);
            let read = |name: &str| std::fs::read_to_string(path.join(name)).ok();
            let config = read(CONFIG_FILE).and_then(|t| serde_json::from_str(&t).ok());
            let summary = read(SUMMARY_FILE).and_then(|t| serde_json::from_str(&t).ok());
            let epochs = std::fs::read_to_string(path.join(METRICS_FILE))
                .map(|t| {
                    t.lines()
                        .filter_map(|l| serde_json::from_str(l).ok())
                        .collect()
                })
                .unwrap_or_default();
            PastRun {
                id: e.file_name().to_string_lossy().into_owned(),
                config,
                epochs,
                summary,
            }
        })
        .collect();
    runs.sort_by(|a, b| a.id.cmp(&b.id));
    runs
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_run_id_is_one_plain_name() {
        let root = Path::new("/p");
        assert_eq!(
            run_dir(root, "2026-01-01-supervised").unwrap(),
            Path::new("/p/runs/2026-01-01-supervised")
        );
        for bad in ["", ".", "..", "../other", "a/b", "a\\b", "/etc"] {
            let error = run_dir(root, bad).unwrap_err().to_string();
            assert!(error.contains("is not a run id"), "{bad:?}: {error}");
        }
    }

    use super::*;

    #[test]
    fn runs_started_together_get_distinct_folders() {
        let dir = tempfile::tempdir().unwrap();
        let config = TrainConfig::default();
        let runs: Vec<RunDir> = (0..5)
            .map(|_| RunDir::create(dir.path(), &config, "supervised").unwrap())
            .collect();
        let mut ids: Vec<&str> = runs.iter().map(|r| r.id.as_str()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 5, "{ids:?}");
        assert!(runs.iter().all(|r| r.path.join("config.json").is_file()));
    }
}
