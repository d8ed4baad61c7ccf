//! Runs on disk, under the project's `runs/<id>/`: the configuration,
//! metrics as JSON lines (one per epoch, series by name), the checkpoints
//! (chosen on the validation split, and last), and the summary. Runs
//! written before series had names still open: their fixed loss fields are
//! read into the same names.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::config::TrainConfig;
use super::events::{EpochRecord, RunSummary};
use super::metrics::Metrics;

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

    /// Appends one epoch's line in a single write (a reader may still see
    /// a line cut at a page while it is being written: readers take only
    /// lines that end with their newline, [`recorded_epochs`]).
    pub fn append(&self, record: &EpochRecord) -> std::io::Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path.join(METRICS_FILE))?;
        let mut line = serde_json::to_string(record).map_err(std::io::Error::other)?;
        line.push('\n');
        file.write_all(line.as_bytes())?;
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

/// How many epochs a run's metrics file records (what a killed run
/// reached): its whole lines — one still being written, or cut by a kill,
/// has no newline yet and is not counted.
pub fn recorded_epochs(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join(METRICS_FILE))
        .map(|t| {
            t.split_inclusive('\n')
                .filter(|l| l.ends_with('\n') && !l.trim().is_empty())
                .count()
        })
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

impl PastRun {
    /// The metrics the run reports: its summary's (the chosen checkpoint)
    /// of the model that predicts (the teacher where there is one), else,
    /// for a run that has not ended, its last epoch's; with that model's name.
    pub fn reported_metrics(&self) -> Option<(&Metrics, &'static str)> {
        let (student, teacher) = reported(&self.epochs, self.summary.as_ref())?;
        Some(match teacher {
            Some(teacher) => (teacher, "teacher"),
            None => (student, "student"),
        })
    }

    /// Its row in the runs table.
    pub fn row(&self) -> RunRow {
        RunRow::of(
            &self.id,
            self.config.as_ref(),
            &self.epochs,
            self.summary.as_ref(),
        )
    }
}

/// A run's reported test metrics, student's and teacher's: its summary's
/// (the chosen checkpoint) once it ended, else its last epoch's.
pub fn reported<'a>(
    epochs: &'a [EpochRecord],
    summary: Option<&'a RunSummary>,
) -> Option<(&'a Metrics, Option<&'a Metrics>)> {
    match summary {
        Some(s) => Some((&s.student, s.teacher.as_ref())),
        None => epochs.last().map(|e| (&e.student, e.teacher.as_ref())),
    }
}

impl RunRow {
    /// The row of run `id` from what is known of it: its configuration, the
    /// epochs recorded so far and its summary once it ended (a run going on
    /// in the window is listed from memory, without reading its folder).
    pub fn of(
        id: &str,
        config: Option<&TrainConfig>,
        epochs: &[EpochRecord],
        summary: Option<&RunSummary>,
    ) -> RunRow {
        // When the run started, from its id (`<milliseconds>-<method>`).
        let started_ms: Option<u64> = id.split('-').next().and_then(|s| s.parse().ok());
        let metrics =
            reported(epochs, summary).map(|(student, teacher)| teacher.unwrap_or(student));
        RunRow {
            id: id.to_string(),
            started: started_ms.map(utc_seconds).unwrap_or_default(),
            started_ms: started_ms.unwrap_or(0),
            method: config.map_or("?", |c| c.method.title()).to_string(),
            model: config.map_or("?", |c| c.model.title()).to_string(),
            inputs: config.map_or_else(|| "?".into(), inputs_title),
            epochs: summary.map_or(epochs.len(), |s| s.epochs.max(epochs.len())),
            epochs_planned: config.map(|c| c.epochs),
            chosen_epoch: summary.and_then(|s| s.chosen_epoch),
            accuracy: metrics.filter(|m| m.dice.is_none()).map(|m| m.accuracy),
            auc: metrics.and_then(|m| m.auc),
            dice: metrics.and_then(|m| m.dice).map(|d| d.mean),
            status: summary.map_or("unfinished", |s| s.status()).to_string(),
            parent: config.and_then(|c| {
                let run = c.fine_tune_from.clone()?;
                Some(match &c.fine_tune_from_project {
                    Some(project) => format!("{run} ({project})"),
                    None => run,
                })
            }),
        }
    }
}

/// One run as the runs table lists it: what a reader compares runs by.
#[derive(Clone, Debug, PartialEq)]
pub struct RunRow {
    pub id: String,
    /// `YYYY-MM-DD HH:MM:SS` (UTC), from the id.
    pub started: String,
    pub started_ms: u64,
    pub method: String,
    pub model: String,
    /// What the run read (`image`, `ct slices`, `record`, …).
    pub inputs: String,
    /// Epochs trained (recorded).
    pub epochs: usize,
    pub epochs_planned: Option<usize>,
    /// The reported epoch (0-based), once the run has ended.
    pub chosen_epoch: Option<usize>,
    /// Test-pool accuracy and mean AUC of the reported model (classifying runs).
    pub accuracy: Option<f64>,
    pub auc: Option<f64>,
    /// Test-pool mean Dice (segmenting runs).
    pub dice: Option<f64>,
    /// `finished`, `stopped` or `unfinished` (the window says `running`,
    /// `paused` or `failed` for its own run).
    pub status: String,
    /// The run it started from (another project's in brackets).
    pub parent: Option<String>,
}

/// What a run read, for people: the image, the record, a role's volume,
/// slices or series, slices with the record, or the sequences.
pub fn inputs_title(config: &TrainConfig) -> String {
    use super::config::InputKind;
    match config.input_kind() {
        InputKind::Image => "image".into(),
        InputKind::Record => "record".into(),
        InputKind::Volume(role) => format!("{role} volume"),
        InputKind::Slices(role) => format!("{role} slices"),
        InputKind::Series(role) => format!("{role} series"),
        InputKind::Fusion(role) => format!("{role} slices + record"),
        InputKind::Sequences(roles) => roles.join("+"),
    }
}

/// `YYYY-MM-DD HH:MM:SS` (UTC) of a time in milliseconds since 1970.
fn utc_seconds(ms: u64) -> String {
    let seconds = ms / 1000;
    let days = (seconds / 86_400) as i64;
    let in_day = seconds % 86_400;
    let epoch = crate::rop::dates::Date {
        year: 1970,
        month: 1,
        day: 1,
    };
    format!(
        "{} {:02}:{:02}:{:02}",
        epoch.plus_days(days),
        in_day / 3600,
        in_day / 60 % 60,
        in_day % 60
    )
}

/// The runs of `runs` that name run `id` as their parent, a teacher or
/// the run that picks their slices: what deleting it would leave without
/// its source.
pub fn dependents(runs: &[PastRun], id: &str) -> Vec<String> {
    runs.iter()
        .filter(|r| {
            r.config.as_ref().is_some_and(|c| {
                (c.fine_tune_from.as_deref() == Some(id) && c.fine_tune_from_project.is_none())
                    || c.teachers.iter().any(|t| t == id)
                    || c.slices.as_ref().and_then(|s| s.policy.as_deref()) == Some(id)
            })
        })
        .map(|r| r.id.clone())
        .collect()
}

/// Deletes run `id` of the project at `root`: its folder, which must be a
/// run's (it holds `config.json`), never anything outside `runs/`.
pub fn delete(root: &Path, id: &str) -> Result<(), super::error::TrainError> {
    let dir = run_dir(root, id)?;
    if !dir.join(CONFIG_FILE).is_file() {
        return Err(super::error::TrainError::Data(format!(
            "no run {id} in {}",
            root.display()
        )));
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// What changes in a project's runs folder when any run (this window's,
/// a command line's, another workstation's on a shared files root) starts,
/// reports an epoch or ends: each run's id, its metrics' length and whether
/// it has a summary. A folder listing and two `stat`s a run, so a window
/// can afford it every few seconds where reading every run could not.
pub fn signature(project_root: &Path) -> Vec<(String, u64, bool)> {
    let Ok(runs) = crate::store::files_root(project_root).map(|f| f.join("runs")) else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir(&runs) else {
        return Vec::new();
    };
    let mut signature: Vec<(String, u64, bool)> = entries
        .flatten()
        .map(|e| {
            let path = e.path();
            let metrics = std::fs::metadata(path.join(METRICS_FILE)).map_or(0, |m| m.len());
            let finished = path.join(SUMMARY_FILE).exists();
            (
                e.file_name().to_string_lossy().into_owned(),
                metrics,
                finished,
            )
        })
        .collect();
    signature.sort();
    signature
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
    fn a_line_still_being_written_is_not_an_epoch() {
        let dir = tempfile::tempdir().unwrap();
        let metrics = dir.path().join(METRICS_FILE);
        std::fs::write(&metrics, "{\"epoch\":0}\n{\"epoch\":1}\n{\"epo").unwrap();
        assert_eq!(recorded_epochs(dir.path()), 2);
        std::fs::write(&metrics, "{\"epoch\":0}\n\n{\"epoch\":1}\n").unwrap();
        assert_eq!(recorded_epochs(dir.path()), 2);
        assert_eq!(recorded_epochs(&dir.path().join("missing")), 0);
    }

    #[test]
    fn a_run_row_says_when_what_and_how_well() {
        let mut run = PastRun {
            id: "1796229197302-mean-teacher".into(),
            config: Some(TrainConfig {
                epochs: 9,
                fine_tune_from: Some("1700000000000-supervised".into()),
                ..TrainConfig::default()
            }),
            epochs: Vec::new(),
            summary: None,
        };
        // 1796229197302 ms = 20789 days + 59 597.302 s after 1970-01-01: 2026-12-02 16:33:17.
        let row = run.row();
        assert_eq!(row.started, "2026-12-02 16:33:17");
        assert_eq!(row.status, "unfinished");
        assert_eq!(row.epochs_planned, Some(9));
        assert_eq!(row.parent.as_deref(), Some("1700000000000-supervised"));
        assert_eq!((row.accuracy, row.auc, row.dice), (None, None, None));
        assert_eq!(row.inputs, "image");
        run.summary = Some(RunSummary {
            run: run.id.clone(),
            epochs: 9,
            chosen_epoch: Some(6),
            selected_on: super::super::events::Selection::Validation,
            student: Metrics {
                accuracy: 0.5,
                ..Metrics::default()
            },
            teacher: Some(Metrics {
                accuracy: 0.75,
                auc: Some(0.8),
                ..Metrics::default()
            }),
            stopped_early: false,
            eye: None,
            skipped: Vec::new(),
            unfinished: false,
        });
        let row = run.row();
        // The teacher predicts, so its metrics are the run's.
        assert_eq!((row.accuracy, row.auc), (Some(0.75), Some(0.8)));
        assert_eq!(
            (row.status.as_str(), row.chosen_epoch, row.epochs),
            ("finished", Some(6), 9)
        );
    }

    #[test]
    fn deleting_a_run_removes_its_folder_only() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::create(dir.path(), &TrainConfig::default(), "supervised").unwrap();
        let runs = run.path.parent().unwrap().to_path_buf();
        std::fs::create_dir_all(runs.join("not-a-run")).unwrap();
        for bad in ["..", "../runs", "not-a-run", "missing"] {
            assert!(delete(dir.path(), bad).is_err(), "{bad}");
        }
        assert!(runs.join("not-a-run").is_dir());
        delete(dir.path(), &run.id).unwrap();
        assert!(!run.path.exists());
        assert!(runs.is_dir());
    }

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
