//! A segmentation run's cases in memory: each case's sequences (the roles
//! the student and its teacher read) on one training grid of `edge`³
//! voxels, normalised per case and sequence, and its label map as class
//! indices — plus the map's label values on the case's own grid, which
//! Dice is scored against (predictions are written on that grid).
//!
//! Pools: a case is labeled when it has a saved label map (the newest of
//! its annotators', [`crate::store::label_maps::newest`]); a test case
//! needs one to be scored; a training case without one is unlabeled.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::store::{Pool, Project};
use crate::train::error::TrainError;
use crate::volume::{self, Volume, resample};

/// One case, loaded.
#[derive(Clone, Debug)]
pub struct SegCase {
    pub id: i64,
    pub name: String,
    /// The file whose grid the case's maps and predictions share (the
    /// case's first file).
    pub grid_path: PathBuf,
    pub native_shape: [usize; 3],
    /// `[roles, edge³]`: each loaded role's normalised values on the
    /// training grid (x fastest, then y, then z).
    pub sequences: Vec<f32>,
    /// The map's class index per voxel on the training grid.
    pub classes: Option<Vec<u8>>,
    /// The map's label values on the case's own grid.
    pub truth: Option<Vec<u8>>,
    /// Axial slices (training grid) where any sequence shows tissue.
    pub tissue_slices: Vec<usize>,
    /// Axial slices (training grid) where the map labels any voxel.
    pub labeled_slices: Vec<usize>,
}

/// The cases a segmentation run learns from and is scored on.
#[derive(Debug, Default)]
pub struct SegData {
    /// The roles loaded, in [`SegCase::sequences`] order.
    pub roles: Vec<String>,
    /// The training grid's edge in voxels.
    pub edge: usize,
    /// Label value of each class index (`[0, 1, 2, 4]` for BraTS).
    pub label_values: Vec<u8>,
    pub labeled: Vec<SegCase>,
    /// Labeled cases held out to choose the checkpoint.
    pub validation: Vec<SegCase>,
    pub unlabeled: Vec<SegCase>,
    pub test: Vec<SegCase>,
    /// Cases left out, with why.
    pub skipped: Vec<(String, String)>,
}

impl SegData {
    /// Channel indices of `roles` among the loaded ones.
    pub fn channels_of(&self, roles: &[String]) -> Vec<usize> {
        roles
            .iter()
            .filter_map(|r| self.roles.iter().position(|l| l == r))
            .collect()
    }

    /// Every case, pool by pool.
    pub fn all_cases(&self) -> impl Iterator<Item = &SegCase> {
        self.labeled
            .iter()
            .chain(&self.validation)
            .chain(&self.unlabeled)
            .chain(&self.test)
    }
}

/// A volume's scaled values, channel 0, as `f32`.
pub fn values(volume: &Volume) -> Vec<f32> {
    (0..volume.voxel_count())
        .map(|v| volume.value_at(v).unwrap_or(0.0) as f32)
        .collect()
}

/// Z-scores over the voxels above 0 (the tissue), 0 elsewhere: MRI
/// intensities have no absolute scale, so each case's sequence is read on
/// its own.
pub fn normalise(values: &mut [f32]) {
    let tissue: Vec<f64> = values
        .iter()
        .filter(|&&v| v > 0.0)
        .map(|&v| v as f64)
        .collect();
    if tissue.is_empty() {
        return;
    }
    let n = tissue.len() as f64;
    let mean = tissue.iter().sum::<f64>() / n;
    let sd = (tissue.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n)
        .sqrt()
        .max(1e-6);
    for v in values.iter_mut() {
        *v = if *v > 0.0 {
            ((*v as f64 - mean) / sd) as f32
        } else {
            0.0
        };
    }
}

/// The class index of each label value (`label_values[c]` is class `c`'s),
/// or why a value is not one of them.
pub fn to_classes(labels: &[u8], label_values: &[u8]) -> Result<Vec<u8>, u8> {
    let mut index = [u8::MAX; 256];
    for (c, &v) in label_values.iter().enumerate() {
        index[v as usize] = c as u8;
    }
    labels
        .iter()
        .map(|&v| match index[v as usize] {
            u8::MAX => Err(v),
            c => Ok(c),
        })
        .collect()
}

/// Loads the project's cases for a run reading `roles` at `edge`³, the
/// labeled pool split by `seed` (a `validation_fraction` of it held out).
pub fn load(
    project: &Project,
    roles: &[String],
    edge: usize,
    validation_fraction: f64,
    seed: u64,
) -> Result<SegData, TrainError> {
    let schema = project.schema();
    for role in roles {
        if !schema.modalities.contains(role) {
            return Err(TrainError::Data(format!(
                "the project has no sequence {role:?} (its cases have {})",
                if schema.modalities.is_empty() {
                    "none".to_string()
                } else {
                    schema.modalities.join(", ")
                }
            )));
        }
    }
    let mut label_values = vec![0u8];
    label_values.extend(project.paint_labels().iter().map(|l| l.value));
    let names = project.case_names()?;
    let files = project.all_case_files()?;
    let maps = project.all_label_maps()?;
    let mut data = SegData {
        roles: roles.to_vec(),
        edge,
        label_values,
        ..SegData::default()
    };
    let mut labeled = Vec::new();
    for item in project.items()? {
        let Some(name) = names.get(&item.id) else {
            continue; // not a case
        };
        let newest = maps
            .get(&item.id)
            .and_then(|m| crate::store::label_maps::newest(m));
        if item.pool == Pool::Test && newest.is_none() {
            continue; // a test case without a map cannot be scored
        }
        let grid_path = project.resolve(&item);
        let loaded = load_case(
            project,
            roles,
            edge,
            files.get(&item.id),
            &grid_path,
            newest,
            &data.label_values,
        );
        let (sequences, native_shape, truth, classes) = match loaded {
            Ok(c) => c,
            Err(why) => {
                data.skipped.push((name.clone(), why));
                continue;
            }
        };
        let tissue_slices = occupied_slices(edge, |z, slice| {
            sequences
                .chunks(edge * slice.len())
                .any(|s| s[slice.clone()].iter().any(|&v| v != 0.0))
                .then_some(z)
        });
        let labeled_slices = classes
            .as_ref()
            .map(|c: &Vec<u8>| {
                occupied_slices(edge, |z, slice| {
                    c[slice].iter().any(|&v| v != 0).then_some(z)
                })
            })
            .unwrap_or_default();
        let case = SegCase {
            labeled_slices,
            id: item.id,
            name: name.clone(),
            grid_path,
            native_shape,
            sequences,
            classes,
            truth,
            tissue_slices,
        };
        match (item.pool, case.truth.is_some()) {
            (Pool::Test, _) => data.test.push(case),
            (_, true) => labeled.push(case),
            (_, false) => data.unlabeled.push(case),
        }
    }
    (data.labeled, data.validation) = split_validation(labeled, validation_fraction, seed);
    Ok(data)
}

/// The validation split of the labeled cases: drawn by the seed, at least
/// one case left to train on. Returns (training, validation).
fn split_validation(
    labeled: Vec<SegCase>,
    fraction: f64,
    seed: u64,
) -> (Vec<SegCase>, Vec<SegCase>) {
    let mut order: Vec<usize> = (0..labeled.len()).collect();
    crate::rng::Rng::new(seed ^ 0x5345_4756).shuffle(&mut order); // "SEGV"
    let held = crate::store::split::share_leaving_one(fraction, labeled.len());
    let held: std::collections::BTreeSet<usize> = order[..held].iter().copied().collect();
    let (mut training, mut validation) = (Vec::new(), Vec::new());
    for (i, case) in labeled.into_iter().enumerate() {
        if held.contains(&i) {
            validation.push(case);
        } else {
            training.push(case);
        }
    }
    (training, validation)
}

/// The axial slices `z` of an `edge³` grid for which `occupied(z, range of
/// the slice's voxels)` says so (tissue in any sequence, a label in the map).
fn occupied_slices(
    edge: usize,
    occupied: impl Fn(usize, std::ops::Range<usize>) -> Option<usize>,
) -> Vec<usize> {
    let slice = edge * edge;
    (0..edge)
        .filter_map(|z| occupied(z, z * slice..(z + 1) * slice))
        .collect()
}

/// The loaded pieces of one case: sequences, native shape, truth, classes.
type LoadedCase = (Vec<f32>, [usize; 3], Option<Vec<u8>>, Option<Vec<u8>>);

fn load_case(
    project: &Project,
    roles: &[String],
    edge: usize,
    files: Option<&BTreeMap<String, PathBuf>>,
    grid_path: &std::path::Path,
    map: Option<&crate::store::label_maps::LabelMapRecord>,
    label_values: &[u8],
) -> Result<LoadedCase, String> {
    let grid = volume::load(grid_path).map_err(|e| e.to_string())?;
    let native_shape = grid.spatial_shape();
    let to = [edge; 3];
    let mut sequences = Vec::with_capacity(roles.len() * edge * edge * edge);
    for role in roles {
        let path = files
            .and_then(|f| f.get(role))
            .ok_or_else(|| format!("the case has no {role}"))?;
        let volume = volume::load(path).map_err(|e| format!("{role}: {e}"))?;
        if !volume::same_grid(&volume, &grid) {
            return Err(format!(
                "its {role} is not on the case's grid (shape {:?}, the case's {:?}); \
                 register the sequences first",
                volume.spatial_shape(),
                native_shape
            ));
        }
        let mut values = resample::trilinear(&values(&volume), native_shape, to);
        normalise(&mut values);
        sequences.extend(values);
    }
    let (truth, classes) = match map {
        None => (None, None),
        Some(record) => {
            let truth = project
                .read_label_map(record, &grid)
                .map_err(|e| e.to_string())?;
            let classes = to_classes(&resample::nearest(&truth, native_shape, to), label_values)
                .map_err(|value| {
                    format!(
                        "its label map holds the value {value}, not one of the project's \
                         labels ({})",
                        label_values[1..]
                            .iter()
                            .map(u8::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                })?;
            (Some(truth), Some(classes))
        }
    };
    Ok((sequences, native_shape, truth, classes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tissue_is_z_scored_and_background_stays_zero() {
        let mut v = [0.0, 1.0, 3.0, 0.0];
        normalise(&mut v);
        assert_eq!(v, [0.0, -1.0, 1.0, 0.0]);
    }

    #[test]
    fn label_values_become_class_indices() {
        assert_eq!(
            to_classes(&[0, 4, 1, 2], &[0, 1, 2, 4]),
            Ok(vec![0, 3, 1, 2])
        );
        assert_eq!(to_classes(&[0, 3], &[0, 1, 2, 4]), Err(3));
    }
}
