//! Where a run starts from, and where it came from: a run can continue an
//! earlier run of its own project (fine-tuning after more labels) or start
//! from a run of another project (pre-train there, fine-tune here). The
//! parent is recorded in the run's configuration (`fine_tune_from`,
//! `fine_tune_from_project`), so a run's lineage can be followed back,
//! project by project (the training panel shows it).

use std::path::{Path, PathBuf};

use burn::tensor::Device;

use super::config::TrainConfig;
use super::error::TrainError;
use super::inference;
use super::step::Models;
use crate::store::Project;

/// A run named by its project and id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunRef {
    /// The project folder.
    pub project: PathBuf,
    pub run: String,
}

impl RunRef {
    /// The run a configuration starts from, if any: in `fine_tune_from_project`
    /// when it names one, else in the project at `root`.
    pub fn parent_of(root: &Path, config: &TrainConfig) -> Option<Self> {
        let run = config.fine_tune_from.clone()?;
        let project = config
            .fine_tune_from_project
            .as_ref()
            .map_or_else(|| root.to_path_buf(), PathBuf::from);
        Some(Self { project, run })
    }

    /// Whether this run lives in the project at `root`.
    pub fn is_in(&self, root: &Path) -> bool {
        same_folder(&self.project, root)
    }

    /// `run` or `project-folder-name / run` for people.
    pub fn describe(&self, root: &Path) -> String {
        if self.is_in(root) {
            self.run.clone()
        } else {
            let name = self.project.file_name().map_or_else(
                || self.project.display().to_string(),
                |n| n.to_string_lossy().into(),
            );
            format!("{name} / {}", self.run)
        }
    }
}

fn same_folder(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// The folder of another project as a run records it: absolute, and a
/// Loupe project (so a typo is named now, not when the run starts).
pub fn project_folder(dir: &Path) -> Result<PathBuf, TrainError> {
    if !crate::store::is_project(dir) {
        return Err(TrainError::Data(format!(
            "{} is not a Loupe project (no {} in it)",
            dir.display(),
            crate::store::DATABASE_FILE
        )));
    }
    dir.canonicalize()
        .map_err(|e| TrainError::Data(format!("{}: {e}", dir.display())))
}

/// A run's ancestors, nearest first, as far as they can be read: each
/// parent's configuration names the next. Stops at a run that cannot be
/// read (reported with `missing`) or at a loop.
#[derive(Clone, Debug, PartialEq)]
pub struct Ancestor {
    pub run: RunRef,
    /// Its classes (the target field's values of its project's schema).
    pub classes: Vec<String>,
    /// Its project or configuration could not be read.
    pub missing: bool,
}

/// The ancestors of the run whose configuration is `config`, in the project at `root`.
pub fn lineage(root: &Path, config: &TrainConfig) -> Vec<Ancestor> {
    let mut ancestors: Vec<Ancestor> = Vec::new();
    let mut next = RunRef::parent_of(root, config);
    while let Some(run) = next.take() {
        if ancestors.len() >= 64
            || ancestors
                .iter()
                .any(|a| a.run.run == run.run && same_folder(&a.run.project, &run.project))
        {
            break;
        }
        let config = super::runs::read_config(&run.project, &run.run).ok();
        let classes = Project::open(&run.project)
            .map(|p| p.schema().target_field().values.clone())
            .unwrap_or_default();
        let missing = config.is_none() || classes.is_empty();
        next = config
            .as_ref()
            .and_then(|c| RunRef::parent_of(&run.project, c));
        ancestors.push(Ancestor {
            run,
            classes,
            missing,
        });
    }
    ancestors
}

/// The models a run starts from, loaded from its parent.
pub struct Start {
    pub models: Models,
    /// The parent scored other classes: its head was replaced by a new one
    /// sized for this project (and the teacher starts as the student).
    pub new_head: bool,
}

/// Loads the parent of `config` (if any) for a run on a project whose
/// classes are `classes`: the architecture must match; the head is
/// re-initialised (with the run's seed) when the parent's classes differ.
pub fn load_start(
    root: &Path,
    config: &TrainConfig,
    classes: &[String],
    device: &Device,
) -> Result<Option<Start>, TrainError> {
    let Some(parent) = RunRef::parent_of(root, config) else {
        return Ok(None);
    };
    if !parent.is_in(root) {
        project_folder(&parent.project)?;
    }
    let earlier = inference::load_run(&parent.project, &parent.run, device)?;
    if earlier.config.architecture() != config.architecture() {
        return Err(TrainError::Data(format!(
            "run {} trained {} at width {}; it cannot be continued as {} at width {} \
             (a run keeps its parent's architecture)",
            parent.describe(root),
            earlier.config.model.name(),
            earlier.config.width,
            config.model.name(),
            config.width
        )));
    }
    if earlier.classes == classes {
        return Ok(Some(Start {
            models: Models {
                student: earlier.student,
                teacher: earlier.teacher,
            },
            new_head: false,
        }));
    }
    let device = device.clone().autodiff();
    device.seed(config.seed);
    let student = earlier.student.with_new_head(classes.len(), &device);
    Ok(Some(Start {
        models: Models {
            teacher: None,
            student,
        },
        new_head: true,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parent_is_in_this_project_unless_another_is_named() {
        let root = Path::new("/projects/thyroid");
        let mut config = TrainConfig {
            fine_tune_from: Some("17-supervised".into()),
            ..TrainConfig::default()
        };
        let here = RunRef::parent_of(root, &config).unwrap();
        assert_eq!(here.project, root);
        assert_eq!(here.describe(root), "17-supervised");
        config.fine_tune_from_project = Some("/projects/rop".into());
        let there = RunRef::parent_of(root, &config).unwrap();
        assert_eq!(there.project, Path::new("/projects/rop"));
        assert_eq!(there.describe(root), "rop / 17-supervised");
        config.fine_tune_from = None;
        assert_eq!(RunRef::parent_of(root, &config), None);
    }

    #[test]
    fn another_project_must_be_a_project() {
        let dir = tempfile::tempdir().unwrap();
        let error = project_folder(dir.path()).unwrap_err().to_string();
        assert!(error.contains("is not a Loupe project"), "{error}");
    }
}
