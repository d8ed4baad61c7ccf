//! Teacher runs for distillation (METHODS.md §3): a finished run on one of
//! a case's volumes (the CT) is loaded, frozen, and run once over every
//! case that has that volume; its features are cached beside the
//! student's inputs (the teacher never changes, so its epochs need no
//! forward pass of it), and it is scored on the test cases it can see.

use std::collections::HashMap;
use std::path::Path;

use burn::tensor::Device;

use super::config::{InputKind, TrainConfig};
use super::data::{self, Images, PoolData, Rasterize};
use super::error::TrainError;
use super::inference;
use super::metrics::Metrics;
use crate::store::Project;

/// The teacher a run distils from, as it was used.
#[derive(Clone, Debug, PartialEq)]
pub struct TeacherReport {
    pub run: String,
    /// The modality it reads (`ct`).
    pub role: String,
    /// Training cases (labeled and unlabeled) it saw and guides.
    pub guided: usize,
    /// Its metrics on the test cases that have its modality.
    pub test: Metrics,
    /// How many those were.
    pub test_cases: usize,
}

/// Whether a past run can be a distillation teacher: a finished run on
/// one of a case's volumes (what [`attach_teacher`] accepts).
pub fn can_teach(run: &super::runs::PastRun) -> bool {
    run.summary.is_some()
        && run
            .config
            .as_ref()
            .is_some_and(|c| matches!(c.input_kind(), InputKind::Volume(_)))
}

/// Loads the teacher run of `config` (when it names one), caches its
/// features for the training cases it can see in `data`, and scores it on
/// the test cases it can see.
pub fn attach_teacher(
    root: &Path,
    config: &TrainConfig,
    data: &mut PoolData,
    device: &Device,
    rasterize: Rasterize,
) -> Result<Option<TeacherReport>, TrainError> {
    let run = match config.teachers.as_slice() {
        [] => return Ok(None),
        [run] => run,
        many => {
            return Err(TrainError::Data(format!(
                "distillation takes one teacher run ({} given: {})",
                many.len(),
                many.join(", ")
            )));
        }
    };
    // The teacher may come from another project (a labeled CT cohort);
    // its features are computed on this project's cases.
    let source = match &config.teacher_project {
        Some(dir) => super::lineage::project_folder(Path::new(dir))?,
        None => root.to_path_buf(),
    };
    let loaded = inference::load_run(&source, run, device)?;
    let InputKind::Volume(role) = loaded.config.input_kind() else {
        return Err(TrainError::Data(format!(
            "teacher run {run} trained on {}; a teacher must be a run on a case's volume (e.g. --modality ct)",
            loaded.config.modalities.join(", ")
        )));
    };
    if loaded.classes != data.classes {
        return Err(TrainError::Data(format!(
            "teacher run {run} scores the classes {}; this project's are {}",
            loaded.classes.join(", "),
            data.classes.join(", ")
        )));
    }
    let teacher = loaded
        .teacher
        .clone()
        .unwrap_or_else(|| loaded.student.clone());
    let volumes = data::load_for(&Project::open(root)?, &loaded.config, rasterize)?;
    let mut cached: HashMap<i64, Vec<f32>> = HashMap::new();
    for images in [&volumes.labeled, &volumes.unlabeled, &volumes.test] {
        let features = inference::features(&teacher, images, device);
        cached.extend(images.ids.iter().copied().zip(features));
    }
    if config.distillation.standardise_teacher {
        standardise(&mut cached);
    }
    let attach = |images: &mut Images| {
        images.guidance = images
            .ids
            .iter()
            .map(|id| cached.get(id).cloned())
            .collect();
        images.guidance.iter().flatten().count()
    };
    let guided = attach(&mut data.labeled) + attach(&mut data.unlabeled);
    let test = inference::score(&teacher, &volumes.test, data.classes.len(), device).metrics;
    Ok(Some(TeacherReport {
        run: run.clone(),
        role,
        guided,
        test,
        test_cases: volumes.test.len(),
    }))
}

/// Standardises each feature over the cohort (mean 0, sd 1 across every
/// case the teacher saw). Why: the row means of a CT network's feature map
/// are dominated by what every chest shares (air, body, lungs), so raw
/// vectors of two cases have a cosine near 1 and the similarity
/// distribution P of METHODS.md §3 is nearly uniform — there is almost
/// nothing to distil (measured on the lung demo: L_kd ≈ 2·10⁻⁵ at the
/// first step). After standardising, the kernel compares what differs
/// between cases. The kernel, P and the loss are METHODS' own; this is a
/// fixed affine map of the frozen teacher's features, switchable off
/// (`distillation.standardise_teacher`) for the ablation.
pub fn standardise(features: &mut HashMap<i64, Vec<f32>>) {
    let Some(width) = features.values().next().map(Vec::len) else {
        return;
    };
    let n = features.len() as f64;
    let mut mean = vec![0f64; width];
    for f in features.values() {
        for (m, &v) in mean.iter_mut().zip(f) {
            *m += v as f64 / n;
        }
    }
    let mut variance = vec![0f64; width];
    for f in features.values() {
        for ((s, &v), m) in variance.iter_mut().zip(f).zip(&mean) {
            *s += (v as f64 - m).powi(2) / n;
        }
    }
    for f in features.values_mut() {
        for ((v, m), s) in f.iter_mut().zip(&mean).zip(&variance) {
            *v = ((*v as f64 - m) / s.sqrt().max(1e-6)) as f32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standardised_features_have_mean_zero_and_unit_spread_per_dimension() {
        // Two dimensions: (10, 1), (12, 1), (14, 4): means 12 and 2,
        // population sds √(8/3) and √2.
        let mut features = HashMap::from([
            (1, vec![10.0, 1.0]),
            (2, vec![12.0, 1.0]),
            (3, vec![14.0, 4.0]),
        ]);
        standardise(&mut features);
        let a = (8.0f32 / 3.0).sqrt();
        let b = 2.0f32.sqrt();
        let expected = [
            (1, [-2.0 / a, -1.0 / b]),
            (2, [0.0, -1.0 / b]),
            (3, [2.0 / a, 2.0 / b]),
        ];
        for (id, want) in expected {
            for (got, want) in features[&id].iter().zip(want) {
                assert!((got - want).abs() < 1e-5, "{id}: {:?}", features[&id]);
            }
        }
    }
}
