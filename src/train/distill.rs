//! Teacher runs (METHODS.md §3 and §4): a finished run is loaded, frozen,
//! and run once over every case it can read; what the method takes from it
//! is cached beside the student's inputs (a teacher never changes, so the
//! epochs need no forward pass of it), and it is scored on the test cases
//! it can see. Cross-modal KD caches one CT run's features; KDAMM each
//! unimodal run's logits; the slice policy takes an image run's classifier
//! whole.

use std::collections::HashMap;
use std::path::Path;

use burn::tensor::Device;

use super::config::{InputKind, TrainConfig};
use super::data::{self, Images, PoolData, Rasterize};
use super::error::TrainError;
use super::inference;
use super::methods::kdamm;
use super::metrics::Metrics;
use super::spec::{MethodSpec, TeacherUse};
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

/// Whether a past run can teach a run of `spec`: a finished run reading
/// one of the kinds of input the method's teachers read.
pub fn can_teach(run: &super::runs::PastRun, spec: &MethodSpec) -> bool {
    run.summary.is_some()
        && run
            .config
            .as_ref()
            .is_some_and(|c| spec.teacher_roles.contains(&c.input_kind().kind_name()))
}

/// Loads the teacher runs `config` names as its method uses them: cached
/// features or outputs in `data`, or nothing here (a classifier teacher
/// joins the model, [`policy_start`]). Returns what each teacher scores on
/// the test cases it sees.
pub fn attach_teachers(
    root: &Path,
    config: &TrainConfig,
    spec: &MethodSpec,
    data: &mut PoolData,
    device: &Device,
    rasterize: Rasterize,
) -> Result<Vec<TeacherReport>, TrainError> {
    match spec.teacher_use {
        // A segmentation run loads its teacher network itself (`segmentation::prepare`).
        TeacherUse::None | TeacherUse::Segmenter => Ok(Vec::new()),
        TeacherUse::Features => Ok(attach_teacher(root, config, data, device, rasterize)?
            .into_iter()
            .collect()),
        TeacherUse::Outputs => attach_outputs(root, config, data, device, rasterize),
        TeacherUse::Classifier => {
            let run = one_teacher(config)?;
            let (loaded, teacher) = load_teacher(root, config, run, &data.classes, device)?;
            let own = data::load_for(&Project::open(root)?, &loaded.config, rasterize)?;
            Ok(vec![TeacherReport {
                run: run.clone(),
                role: loaded.config.input_kind().kind_name().to_string(),
                guided: 0,
                test: inference::score(&teacher, &own.test, data.classes.len(), device).metrics,
                test_cases: own.test.len(),
            }])
        }
    }
}

/// The one teacher run a method that takes one names.
fn one_teacher(config: &TrainConfig) -> Result<&String, TrainError> {
    match config.teachers.as_slice() {
        [run] => Ok(run),
        many => Err(TrainError::Data(format!(
            "method {} takes one teacher run ({} given: {})",
            config.method.name(),
            many.len(),
            many.join(", ")
        ))),
    }
}

/// Teacher run `run` (in `config.teacher_project` when set), with its
/// classes checked against `classes`; its reported model, frozen.
fn load_teacher(
    root: &Path,
    config: &TrainConfig,
    run: &str,
    classes: &[String],
    device: &Device,
) -> Result<(inference::LoadedRun, super::models::Classifier), TrainError> {
    let source = match &config.teacher_project {
        Some(dir) => super::lineage::project_folder(Path::new(dir))?,
        None => root.to_path_buf(),
    };
    let loaded = inference::load_run(&source, run, device)?;
    if loaded.classes != classes {
        return Err(TrainError::Data(format!(
            "teacher run {run} scores the classes {}; this project's are {}",
            loaded.classes.join(", "),
            classes.join(", ")
        )));
    }
    let teacher = loaded
        .teacher
        .clone()
        .unwrap_or_else(|| loaded.student.clone());
    Ok((loaded, teacher))
}

/// KDAMM's teachers (METHODS.md §4): each named run is matched to its slot
/// of [`kdamm::TEACHER_KINDS`] by what it reads (image slices or the
/// tabular record), run once over every case it can read, and its logits
/// cached. A case's guidance is `[seen, logits…]` per slot, in slot order
/// (`seen` 0 and zero logits where the teacher could not read the case or
/// no teacher fills the slot).
pub fn attach_outputs(
    root: &Path,
    config: &TrainConfig,
    data: &mut PoolData,
    device: &Device,
    rasterize: Rasterize,
) -> Result<Vec<TeacherReport>, TrainError> {
    let classes = data.classes.len();
    let slots = kdamm::TEACHER_KINDS.len();
    let mut outputs: HashMap<i64, Vec<f32>> = HashMap::new();
    let mut filled = vec![None::<String>; slots];
    let mut reports = Vec::new();
    let project = Project::open(root)?;
    for run in &config.teachers {
        let (loaded, teacher) = load_teacher(root, config, run, &data.classes, device)?;
        let kind = loaded.config.input_kind().kind_name();
        let Some(slot) = kdamm::TEACHER_KINDS.iter().position(|k| *k == kind) else {
            return Err(TrainError::Data(format!(
                "teacher run {run} reads {kind}; KDAMM's teachers read {}",
                kdamm::TEACHER_KINDS.join(" or ")
            )));
        };
        if let Some(other) = &filled[slot] {
            return Err(TrainError::Data(format!(
                "teacher runs {other} and {run} both read {kind}: KDAMM takes one teacher per modality"
            )));
        }
        filled[slot] = Some(run.clone());
        let own = data::load_for(&project, &loaded.config, rasterize)?;
        let mut guided = 0;
        for images in [&own.labeled, &own.unlabeled, &own.test] {
            let logits = inference::logits(&teacher, images, device);
            for (&id, l) in images.ids.iter().zip(logits) {
                let entry = outputs
                    .entry(id)
                    .or_insert_with(|| vec![0.0; slots * (1 + classes)]);
                let start = slot * (1 + classes);
                entry[start] = 1.0;
                entry[start + 1..start + 1 + classes].copy_from_slice(&l[..classes.min(l.len())]);
                guided += 1;
            }
        }
        reports.push(TeacherReport {
            run: run.clone(),
            role: kind.to_string(),
            guided,
            test: inference::score(&teacher, &own.test, classes, device).metrics,
            test_cases: own.test.len(),
        });
    }
    for images in [&mut data.labeled, &mut data.unlabeled] {
        images.guidance = images
            .ids
            .iter()
            .map(|id| outputs.get(id).cloned())
            .collect();
    }
    Ok(reports)
}

/// The slice policy's starting model (METHODS.md §4): a new scorer, seeded
/// by the run, in front of the teacher run's image classifier, frozen.
/// The teacher must read k slices of the same series at the same size.
pub fn policy_start(
    root: &Path,
    config: &TrainConfig,
    classes: &[String],
    device: &Device,
) -> Result<super::step::Models, TrainError> {
    use super::models::{Classifier, SCORER_WIDTH, slice_policy};
    let run = one_teacher(config)?;
    let (loaded, _) = load_teacher(root, config, run, classes, device)?;
    let Classifier::ResNet(classifier) = loaded.student else {
        return Err(TrainError::Data(format!(
            "teacher run {run} is not an image classifier on a series' slices (train one with \
             --method supervised --modality ct --slices middle)"
        )));
    };
    let device = device.clone().autodiff();
    device.seed(config.seed);
    let scorer = slice_policy::SliceScorer::new(
        &slice_policy::SliceScorerConfig {
            width: SCORER_WIDTH,
        },
        &device,
    );
    Ok(super::step::Models {
        student: Classifier::SlicePolicy(slice_policy::SlicePolicy::new(
            scorer,
            classifier,
            config.image_channels(),
        )),
        teacher: None,
    })
}

/// A slice-policy run takes its classifier's reading: the teacher's
/// width, slice edge and k (what its weights were trained for).
pub fn adopt_classifier_settings(root: &Path, config: &mut TrainConfig) -> Result<(), TrainError> {
    let run = one_teacher(config)?.clone();
    let source = match &config.teacher_project {
        Some(dir) => super::lineage::project_folder(Path::new(dir))?,
        None => root.to_path_buf(),
    };
    let teacher = super::runs::read_config(&source, &run)?;
    if !matches!(teacher.input_kind(), InputKind::Slices(_)) {
        return Err(TrainError::Data(format!(
            "teacher run {run} reads {}; a slice policy serves an image classifier on a \
             series' slices (--modality ct --slices middle|random)",
            teacher.modalities.join(", ")
        )));
    }
    config.model = teacher.model;
    config.width = teacher.width;
    config.input_size = teacher.input_size;
    let mut slices = config.slice_config();
    slices.count = teacher.slice_config().count;
    config.slices = Some(slices);
    Ok(())
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
    if config.teachers.is_empty() {
        return Ok(None);
    }
    let run = one_teacher(config)?;
    // The teacher may come from another project (a labeled CT cohort);
    // its features are computed on this project's cases.
    let (loaded, teacher) = load_teacher(root, config, run, &data.classes, device)?;
    let InputKind::Volume(role) = loaded.config.input_kind() else {
        return Err(TrainError::Data(format!(
            "teacher run {run} trained on {}; a teacher must be a run on a case's volume (e.g. --modality ct)",
            loaded.config.modalities.join(", ")
        )));
    };
    let volumes = data::load_for(&Project::open(root)?, &loaded.config, rasterize)?;
    let cached = training_features(
        &volumes,
        |images| inference::features(&teacher, images, device),
        config.switch(&super::methods::cross_modal_kd::STANDARDISE_TEACHER),
    );
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

/// The frozen teacher's features of the training cases — the labeled and
/// unlabeled pools, the only ones a step distils from — by case id,
/// standardised over those cases when `standardise` is on. The test pool
/// takes no part: its cases would otherwise shift the mean and spread the
/// student is guided by, a leak of test data into training.
fn training_features(
    volumes: &PoolData,
    features_of: impl Fn(&Images) -> Vec<Vec<f32>>,
    standardise_them: bool,
) -> HashMap<i64, Vec<f32>> {
    let mut cached: HashMap<i64, Vec<f32>> = HashMap::new();
    for images in [&volumes.labeled, &volumes.unlabeled] {
        cached.extend(images.ids.iter().copied().zip(features_of(images)));
    }
    if standardise_them {
        standardise(&mut cached);
    }
    cached
}

/// Standardises each feature over `features` (mean 0, sd 1 across the
/// training cases the teacher saw). Why: the row means of a CT network's feature map
/// are dominated by what every chest shares (air, body, lungs), so raw
/// vectors of two cases have a cosine near 1 and the similarity
/// distribution P of METHODS.md §3 is nearly uniform — there is almost
/// nothing to distil (measured on the lung demo: L_kd ≈ 2·10⁻⁵ at the
/// first step). After standardising, the kernel compares what differs
/// between cases. The kernel, P and the loss are METHODS' own; this is a
/// fixed affine map of the frozen teacher's features, switchable off
/// (`cross_modal_kd::STANDARDISE_TEACHER`) for the ablation.
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

    #[test]
    fn teacher_features_are_standardised_over_the_training_cases_only() {
        // One feature per case: labeled 1 → 0, 2 → 2; unlabeled 3 → 4;
        // test 4 → 100. Over the training cases: mean 2, sd √(8/3); a test
        // case taking part would move the mean to 26.5.
        let pool = |ids: Vec<i64>| Images {
            labels: vec![None; ids.len()],
            pixels: vec![0.0; ids.len()],
            shape: [1, 1, 1],
            guidance: Vec::new(),
            groups: Vec::new(),
            ids,
        };
        let volumes = PoolData {
            classes: vec!["a".into(), "b".into()],
            labeled: pool(vec![1, 2]),
            unlabeled: pool(vec![3]),
            test: pool(vec![4]),
            skipped: Vec::new(),
        };
        let value = |id: i64| [0.0, 0.0, 2.0, 4.0, 100.0][id as usize];
        let features = |images: &Images| images.ids.iter().map(|&id| vec![value(id)]).collect();
        let cached = training_features(&volumes, features, true);
        assert!(
            !cached.contains_key(&4),
            "a test case's features guide nothing"
        );
        let sd = (8.0f32 / 3.0).sqrt();
        for (id, want) in [(1, -2.0 / sd), (2, 0.0), (3, 2.0 / sd)] {
            assert!(
                (cached[&id][0] - want).abs() < 1e-5,
                "{id}: {:?}",
                cached[&id]
            );
        }
    }
}
