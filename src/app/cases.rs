//! The window's view of a project's cases: each case's name, files by
//! modality role and current record, read in three scans when the project
//! is (re)loaded, and which role the viewer shows.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::store::{Project, StoreError};

/// Every case of the open project (empty for a project of plain files).
#[derive(Clone, Debug, Default)]
pub struct CaseIndex {
    pub names: BTreeMap<i64, String>,
    pub files: BTreeMap<i64, BTreeMap<String, PathBuf>>,
    pub records: BTreeMap<i64, BTreeMap<String, String>>,
    /// The slices of each case's series that a 2-D model reads by policy
    /// (METHODS.md §4): a clinician's override, else the latest finished
    /// slice-policy run's pick. For the first modality role.
    pub slice_picks: BTreeMap<i64, PickedSlices>,
}

/// A case's picked slices and where they come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PickedSlices {
    /// The modality role of the series.
    pub role: String,
    /// 0-based axial voxel slices, ascending.
    pub slices: Vec<usize>,
    /// Set by a clinician (else by the policy run).
    pub overridden: bool,
    /// The slice-policy run whose picks these are (or would be, overridden).
    pub run: Option<String>,
}

/// What the viewer shows for an item of a case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Shown {
    /// This role's file.
    File { role: String, path: PathBuf },
    /// The case has no file of this role (or none at all).
    Missing { role: Option<String> },
}

impl CaseIndex {
    pub fn load(project: &Project) -> Result<Self, StoreError> {
        if !project.schema().has_cases() {
            return Ok(Self::default());
        }
        Ok(Self {
            names: project.case_names()?,
            files: project.all_case_files()?,
            records: project.all_records()?,
            slice_picks: Self::load_slice_picks(project)?,
        })
    }

    /// The picks in force for the first modality: overrides over the latest
    /// finished slice-policy run's.
    pub fn load_slice_picks(project: &Project) -> Result<BTreeMap<i64, PickedSlices>, StoreError> {
        let Some(role) = project.schema().modalities.first().cloned() else {
            return Ok(BTreeMap::new());
        };
        let run = crate::train::slices::latest_policy_run(project.root());
        let overrides = project.slice_picks(&role)?;
        let mut picks: BTreeMap<i64, PickedSlices> = match &run {
            Some(run) => crate::train::slices::run_picks(project, run)?
                .into_iter()
                .map(|(id, slices)| {
                    (
                        id,
                        PickedSlices {
                            role: role.clone(),
                            slices,
                            overridden: false,
                            run: Some(run.clone()),
                        },
                    )
                })
                .collect(),
            None => BTreeMap::new(),
        };
        for (id, slices) in overrides {
            picks.insert(
                id,
                PickedSlices {
                    role: role.clone(),
                    slices,
                    overridden: true,
                    run: run.clone(),
                },
            );
        }
        Ok(picks)
    }

    pub fn is_case(&self, item_id: i64) -> bool {
        self.names.contains_key(&item_id)
    }

    /// The role [`CaseIndex::shown`] picks, whether the case has its file or not.
    pub fn shown_role(&self, item_id: i64, roles: &[String], role: Option<&str>) -> Option<String> {
        match self.shown(item_id, roles, role) {
            Shown::File { role, .. } => Some(role),
            Shown::Missing { role } => role,
        }
    }

    /// The file of `role` (or, with none asked, of the first of `roles` the
    /// case has) that the viewer opens for a case.
    pub fn shown(&self, item_id: i64, roles: &[String], role: Option<&str>) -> Shown {
        let files = self.files.get(&item_id);
        let wanted = role.map(str::to_string).or_else(|| {
            roles
                .iter()
                .find(|r| files.is_some_and(|f| f.contains_key(*r)))
                .cloned()
        });
        match wanted {
            Some(role) => match files.and_then(|f| f.get(&role)) {
                Some(path) => Shown::File {
                    role,
                    path: path.clone(),
                },
                None => Shown::Missing { role: Some(role) },
            },
            None => Shown::Missing { role: None },
        }
    }
}
