//! Slow work off the UI thread (importing files, writing a demo project):
//! a thread with its own store connection, reporting progress over a channel.

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, Sender, channel};

use crate::demo::{self, DemoOptions, DemoTask};
use crate::store::import::{self, ImportOptions, LabelTable};
use crate::store::{IMPORT_ANNOTATOR, Project};

/// What a job reports.
#[derive(Debug)]
pub enum JobEvent {
    Progress {
        done: usize,
        total: usize,
    },
    /// Finished: a line for the user and the project to show, or an error.
    Finished(Result<(String, PathBuf), String>),
}

/// A running job as the window shows it.
pub struct Job {
    pub title: String,
    pub done: usize,
    pub total: usize,
    events: Receiver<JobEvent>,
}

/// Skipped files an import's notice lists one per line.
const SKIPPED_SHOWN: usize = 50;

impl Job {
    fn spawn(
        title: String,
        work: impl FnOnce(&Sender<JobEvent>) -> Result<(String, PathBuf), String> + Send + 'static,
    ) -> Self {
        let (sender, events) = channel();
        std::thread::spawn(move || {
            let result = work(&sender);
            let _ = sender.send(JobEvent::Finished(result));
        });
        Self {
            title,
            done: 0,
            total: 0,
            events,
        }
    }

    /// Imports `paths` into the project at `root`.
    pub fn import(
        root: PathBuf,
        paths: Vec<PathBuf>,
        labels: Option<PathBuf>,
        options: ImportOptions,
    ) -> Self {
        Job::spawn("Importing".into(), move |sender| {
            let mut project = Project::open(&root).map_err(|e| e.to_string())?;
            let table = match &labels {
                Some(path) => Some(LabelTable::read(path, &project).map_err(|e| e.to_string())?),
                None => None,
            };
            let report = import::import(
                &mut project,
                &paths,
                table.as_ref(),
                &options,
                |done, total| {
                    let _ = sender.send(JobEvent::Progress { done, total });
                },
            )
            .map_err(|e| e.to_string())?;
            let mut message = format!(
                "Imported {} items ({} to the test pool), {} labels.",
                report.added, report.test, report.labels_applied
            );
            if report.placed_in_exams > 0 || !report.not_in_exams.is_empty() {
                message.push_str(&format!(
                    " {} DICOM photographs placed in their exams (PatientID, StudyDate, \
                     laterality); {} not placed{}.",
                    report.placed_in_exams,
                    report.not_in_exams.len(),
                    report
                        .not_in_exams
                        .first()
                        .map_or(String::new(), |(p, why)| format!(
                            " ({}: {why})",
                            p.display()
                        ))
                ));
            }
            if !report.duplicates.is_empty() {
                let names: Vec<String> = report
                    .duplicates
                    .iter()
                    .take(5)
                    .map(|(p, id)| format!("{} (= item {id})", p.display()))
                    .collect();
                message.push_str(&format!(
                    " {} duplicates not imported again: {}",
                    report.duplicates.len(),
                    names.join(", ")
                ));
            }
            if !report.unmatched_labels.is_empty() {
                message.push_str(&format!(
                    " {} label rows matched no file.",
                    report.unmatched_labels.len()
                ));
            }
            if !report.labels_kept.is_empty() {
                message.push_str(&format!(
                    " {} CSV labels were older than the project's and were not applied.",
                    report.labels_kept.len()
                ));
            }
            if !report.skipped.is_empty() {
                // One line per file and why, as the CLI prints them; a
                // folder of thousands is cut, saying where the rest is.
                message.push_str(&format!(" {} files skipped:", report.skipped.len()));
                for (path, why) in report.skipped.iter().take(SKIPPED_SHOWN) {
                    message.push_str(&format!("\n  {}: {why}", path.display()));
                }
                if report.skipped.len() > SKIPPED_SHOWN {
                    message.push_str(&format!(
                        "\n  … and {} more (`loupe import` prints every one)",
                        report.skipped.len() - SKIPPED_SHOWN
                    ));
                }
            }
            Ok((message, root))
        })
    }

    /// Looks under `folder` for the files of the project's missing items.
    pub fn find_moved_files(root: PathBuf, folder: PathBuf) -> Self {
        Job::spawn("Finding moved files".into(), move |sender| {
            let mut project = Project::open(&root).map_err(|e| e.to_string())?;
            let found = project
                .relocate_missing(&folder, |done, total| {
                    let _ = sender.send(JobEvent::Progress { done, total });
                })
                .map_err(|e| e.to_string())?;
            Ok((
                format!("Found {found} moved files under {}.", folder.display()),
                root,
            ))
        })
    }

    /// Writes a demo project at `root`.
    pub fn demo(root: PathBuf, options: DemoOptions) -> Self {
        Job::spawn(
            format!("Writing the {} demo", options.task.name()),
            move |sender| {
                let summary = demo::write_demo(&root, &options, |done, total| {
                    let _ = sender.send(JobEvent::Progress { done, total });
                })
                .map_err(|e| e.to_string())?;
                Ok((
                    format!(
                        "Demo project with {} items: {} labeled, {} unlabeled, {} test.",
                        summary.items, summary.labeled, summary.unlabeled, summary.test
                    ),
                    root,
                ))
            },
        )
    }

    /// Takes progress reports; returns the result once the job has finished.
    pub fn poll(&mut self) -> Option<Result<(String, PathBuf), String>> {
        loop {
            match self.events.try_recv() {
                Ok(JobEvent::Progress { done, total }) => {
                    self.done = done;
                    self.total = total;
                }
                Ok(JobEvent::Finished(result)) => return Some(result),
                Err(std::sync::mpsc::TryRecvError::Empty) => return None,
                Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                    return Some(Err(format!("{} stopped unexpectedly", self.title)));
                }
            }
        }
    }
}

/// Starts the job a command asks for (the owner of [`JobCommand`]s): one at
/// a time; imports and searches work on the open project (`project_root`).
/// CSV labels that name no annotator are recorded for
/// [`IMPORT_ANNOTATOR`], as the CLI does, not for whoever is at the window.
pub fn start(
    command: JobCommand,
    running: bool,
    project_root: Option<&std::path::Path>,
) -> Result<Job, String> {
    if running {
        return Err("wait for the running job to finish".into());
    }
    match command {
        JobCommand::CreateDemo { dir, task } => {
            if crate::store::is_project(&dir) {
                return Err(format!("a project already exists in {}", dir.display()));
            }
            Ok(Job::demo(dir, DemoOptions::new(task)))
        }
        JobCommand::Import {
            paths,
            labels,
            test_fraction,
            adjudications,
        } => {
            let root = project_root.ok_or("open or create a project before importing")?;
            let options = ImportOptions {
                test_fraction,
                seed: 0,
                annotator: IMPORT_ANNOTATOR.into(),
                adjudications,
            };
            Ok(Job::import(root.to_path_buf(), paths, labels, options))
        }
        JobCommand::FindMovedFiles { folder } => {
            let root = project_root.ok_or("open a project before looking for its files")?;
            Ok(Job::find_moved_files(root.to_path_buf(), folder))
        }
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
