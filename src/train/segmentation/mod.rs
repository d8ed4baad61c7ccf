//! The segmentation task (METHODS.md §5): a U-Net labels every voxel of a
//! case from its MRI sequences. Its methods are of the same family as the
//! classifying ones and run in the same loop (`run`: the run folder,
//! events, pause/stop, the checkpoint chosen on a validation split); this
//! task gives that loop what a label map needs: samples are axial slices
//! (2-D U-Net, `slices_per_case` per labeled case and epoch), whole volumes
//! or cubic patches (3-D, [`patches`]: `patches_per_case`, prediction by
//! sliding windows); the score is
//! BraTS Dice per case (WT, TC, ET); at the end the predicted label maps
//! of every case are written as NIfTI on the case's grid to
//! `runs/<id>/predictions/<case>.nii.gz`, and the reported test Dice is
//! computed from those written maps.
//!
//! - [`data`]: cases on the training grid, normalised; pools by label map.
//! - [`losses`]: `L_seg`, `L_kd`, `L_proto`, hand-checked.
//! - The methods are `methods::segmentation` and `methods::protokd`.

pub mod data;
pub mod losses;
pub mod patches;

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::{AdamConfig, ModuleOptimizer};
use burn::tensor::{Device, Tensor, TensorData};

use self::data::{SegCase, SegData};
use super::config::TrainConfig;
use super::device::ComputeDevice;
use super::error::TrainError;
use super::events::{RunSummary, Scalars, Selection, metric_series, series};
use super::metrics::{Dice, case_dice};
use super::models::ModelKind;
pub use super::models::unet::{PATCH_EDGE, PATCHES_PER_CASE};
use super::models::unet::{Segmenter, SegmenterConfig};
use super::runs::{CHOSEN_STUDENT, LAST_STUDENT};
use super::schedule::learning_rate;
use super::spec::{Setting, SettingKind};
use super::step::{SegBatch, SegmentationMethod, StepContext, check_finite};
use super::task::{Checkpoint, Learner, Pools, Reported, Scores, ValidationScore};
use crate::rng::Rng;
use crate::store::Project;

/// Where the settings every segmentation method shares are stored.
const SECTION: &str = super::models::unet::SETTINGS_SECTION;

/// Axial slices drawn from each labeled case per epoch (2-D U-Net): an
/// epoch is `cases × slices_per_case / batch size` steps. The
/// segmentation task draws the samples; every segmentation method declares it.
pub const SLICES_PER_CASE: Setting = Setting {
    name: "slices_per_case",
    section: SECTION,
    flag: "slices-per-case",
    title: "Slices per case and epoch",
    help: "Axial slices drawn from each labeled case per epoch (2-D U-Net), half of them \
           where the map labels something",
    group: "Segmentation",
    kind: SettingKind::Count {
        default: 8,
        range: 1..=512,
    },
    legacy: "/segmentation/slices_per_case",
};

/// Adam's weight decay for every segmentation method.
pub const WEIGHT_DECAY: Setting = Setting {
    name: "weight_decay",
    section: SECTION,
    flag: "weight-decay",
    title: "Weight decay (Adam)",
    help: "Adam's L2 weight decay of the U-Net's parameters",
    group: "Segmentation",
    kind: SettingKind::Number {
        default: 1e-5,
        range: 0.0..=0.1,
        speed: 1e-6,
    },
    legacy: "/segmentation/weight_decay",
};

/// Where a run's predicted label maps go, inside its folder.
pub const PREDICTIONS_FOLDER: &str = "predictions";

/// A frozen segmentation run: its configuration and network.
pub struct LoadedSegmenter {
    pub config: TrainConfig,
    /// On the plain device.
    pub network: Segmenter,
}

/// The network a run's configuration describes, with fresh weights.
pub fn network_for(config: &TrainConfig, classes: usize, device: &Device) -> Segmenter {
    Segmenter::new(
        config.model,
        &SegmenterConfig {
            channels: config.modalities.len(),
            classes,
            width: config.width,
        },
        device,
    )
}

/// Loads segmentation run `run` of the project at `root` (its chosen
/// checkpoint, else its last) onto `device`'s plain side.
pub fn load_run(
    root: &Path,
    run: &str,
    classes: usize,
    device: &Device,
) -> Result<LoadedSegmenter, TrainError> {
    let dir = super::runs::run_dir(root, run)?;
    let config = super::runs::read_config(root, run)?;
    if !config.method.segments() {
        return Err(TrainError::Data(format!(
            "run {run} is a {} run, not a segmentation run",
            config.method.name()
        )));
    }
    let path = [CHOSEN_STUDENT, LAST_STUDENT]
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
        .ok_or_else(|| TrainError::Data(format!("run {run} has no checkpoint")))?;
    let network = load_checkpoint(&config, classes, &path, device)?;
    Ok(LoadedSegmenter { config, network })
}

/// The network `config` describes with the weights saved at `path`, on
/// `device`'s plain side.
fn load_checkpoint(
    config: &TrainConfig,
    classes: usize,
    path: &Path,
    device: &Device,
) -> Result<Segmenter, TrainError> {
    let record = burn::store::ModuleRecord::load(path)
        .map_err(|e| TrainError::Data(format!("{}: {e}", path.display())))?;
    network_for(config, classes, &device.clone().without_autodiff())
        .try_load_record(record)
        .map_err(|e| {
            TrainError::Data(format!(
                "{} does not fit this project's {classes} classes: {}",
                path.display(),
                super::error::checkpoint_mismatch(e)
            ))
        })
}

/// Where in a case a training sample lies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SampleAt {
    /// An axial slice (2-D U-Net).
    Slice(usize),
    /// The whole volume (3-D U-Net).
    Volume,
    /// A cubic patch of the given edge from its `[z, y, x]` corner (3-D
    /// U-Net on patches).
    Patch(patches::Origin, usize),
}

/// Which sample of which case: a case index and where in it.
type Sample = (usize, SampleAt);

/// A segmentation run's state over its cases.
pub struct SegTrainer {
    pub config: TrainConfig,
    pub data: SegData,
    method: Box<dyn SegmentationMethod>,
    /// `None` only while a step holds it.
    student: Option<Segmenter>,
    teacher: Option<LoadedSegmenter>,
    optimizer: ModuleOptimizer,
    rng: Rng,
    /// The student's (autodiff) device.
    device: Device,
    global_step: u64,
    student_channels: Vec<usize>,
    teacher_channels: Vec<usize>,
}

impl SegTrainer {
    /// A trainer for `method` on `data` (loaded with the student's and the
    /// teacher's roles), new weights drawn by the run's seed.
    pub fn new(
        config: TrainConfig,
        data: SegData,
        device: &Device,
        method: Box<dyn SegmentationMethod>,
        teacher: Option<LoadedSegmenter>,
    ) -> Result<Self, TrainError> {
        config.validate()?;
        let spec = config.method.spec();
        spec.check_teachers(&config.teachers)
            .map_err(TrainError::Data)?;
        if !spec.teacher_roles.is_empty() && teacher.is_none() {
            return Err(TrainError::Data(format!(
                "method {}: its teacher run was not loaded",
                spec.name
            )));
        }
        if data.labeled.is_empty() {
            return Err(TrainError::Data(
                "no training case has a label map: paint or import some first".into(),
            ));
        }
        let device = device.clone().autodiff();
        device.seed(config.seed);
        let student = network_for(&config, data.label_values.len(), &device);
        let student_channels = data.channels_of(&config.modalities);
        let teacher_channels = teacher
            .as_ref()
            .map(|t| data.channels_of(&t.config.modalities))
            .unwrap_or_default();
        let optimizer: ModuleOptimizer = AdamConfig::new()
            .with_weight_decay(Some(WeightDecayConfig::new(
                config.number(&WEIGHT_DECAY) as f32
            )))
            .init();
        Ok(Self {
            rng: Rng::new(config.seed),
            config,
            data,
            method,
            student: Some(student),
            teacher,
            optimizer,
            device,
            global_step: 0,
            student_channels,
            teacher_channels,
        })
    }

    pub fn method_name(&self) -> &str {
        self.config.method.name()
    }

    pub fn student(&self) -> &Segmenter {
        self.student
            .as_ref()
            .expect("the student is only taken during a step")
    }

    fn is_3d(&self) -> bool {
        self.config.model == ModelKind::Unet3d
    }

    /// The samples an epoch takes from each labeled case.
    fn samples_per_case(&self) -> usize {
        match (self.is_3d(), self.config.patch_edge()) {
            (true, Some(_)) => self.config.count(&PATCHES_PER_CASE),
            (true, None) => 1,
            (false, _) => self.config.count(&SLICES_PER_CASE),
        }
    }

    pub fn steps_per_epoch(&self) -> usize {
        (self.data.labeled.len() * self.samples_per_case()).div_ceil(self.config.batch_size.max(1))
    }

    /// The epoch's samples, shuffled: per case `slices_per_case` slices,
    /// half of them where the map labels something and the rest anywhere
    /// in the tissue (a tumour crosses a fifth of the slices: drawn
    /// uniformly, most batches would hold no tumour at all — nnU-Net
    /// oversamples foreground for the same reason), each whole volume, or
    /// `patches_per_case` patches drawn by the same rule ([`patches`]).
    pub fn draw_epoch(&mut self) -> Vec<Sample> {
        let mut samples = Vec::new();
        let patch = self.config.patch_edge();
        for (i, case) in self.data.labeled.iter().enumerate() {
            if self.is_3d() {
                match patch {
                    Some(patch) => samples.extend(
                        patches::draw_origins(
                            case.classes.as_deref(),
                            self.data.edge,
                            patch,
                            self.config.count(&PATCHES_PER_CASE),
                            &mut self.rng,
                        )
                        .into_iter()
                        .map(|origin| (i, SampleAt::Patch(origin, patch))),
                    ),
                    None => samples.push((i, SampleAt::Volume)),
                }
                continue;
            }
            let mut tissue = case.tissue_slices.clone();
            if tissue.is_empty() {
                tissue = (0..self.data.edge).collect();
            }
            let mut labeled = case.labeled_slices.clone();
            self.rng.shuffle(&mut tissue);
            self.rng.shuffle(&mut labeled);
            let take = self.config.count(&SLICES_PER_CASE);
            let from_labeled = if labeled.is_empty() { 0 } else { take / 2 };
            // Fewer slices than asked: cycle through them.
            samples.extend(
                (0..from_labeled).map(|k| (i, SampleAt::Slice(labeled[k % labeled.len()]))),
            );
            samples.extend(
                (from_labeled..take).map(|k| (i, SampleAt::Slice(tissue[k % tissue.len()]))),
            );
        }
        self.rng.shuffle(&mut samples);
        samples
    }

    /// A sample's values of `channels` (each channel's voxels in turn).
    fn sample_input(&self, case: &SegCase, at: SampleAt, channels: &[usize]) -> Vec<f32> {
        let volume = self.data.edge.pow(3);
        let mut out = Vec::new();
        for &c in channels {
            cut(
                &case.sequences[c * volume..(c + 1) * volume],
                self.data.edge,
                at,
                &mut out,
            );
        }
        out
    }

    /// One sample's spatial shape.
    fn spatial(&self) -> Vec<usize> {
        let edge = self.data.edge;
        match (self.is_3d(), self.config.patch_edge()) {
            (true, Some(patch)) => vec![patch; 3],
            (true, None) => vec![edge; 3],
            (false, _) => vec![edge; 2],
        }
    }

    /// The batch of `samples` from the labeled pool.
    pub fn batch(&self, samples: &[Sample]) -> SegBatch {
        let classes = self.data.label_values.len();
        let spatial = self.spatial();
        let voxels: usize = spatial.iter().product();
        let n = samples.len();
        let mut input = Vec::with_capacity(n * self.student_channels.len() * voxels);
        let mut teacher_input = Vec::with_capacity(n * self.teacher_channels.len() * voxels);
        let mut onehot = vec![0f32; n * classes * voxels];
        let mut truth = Vec::with_capacity(voxels);
        for (b, &(i, at)) in samples.iter().enumerate() {
            let case = &self.data.labeled[i];
            input.extend(self.sample_input(case, at, &self.student_channels));
            if self.teacher.is_some() {
                teacher_input.extend(self.sample_input(case, at, &self.teacher_channels));
            }
            if let Some(classes_of) = &case.classes {
                truth.clear();
                cut(classes_of, self.data.edge, at, &mut truth);
                for (p, &c) in truth.iter().enumerate() {
                    onehot[(b * classes + c as usize) * voxels + p] = 1.0;
                }
            }
        }
        let tensor = |values: Vec<f32>, channels: usize, device: &Device| {
            Tensor::<3>::from_data(TensorData::new(values, [n, channels, voxels]), device)
        };
        SegBatch {
            input: tensor(input, self.student_channels.len(), &self.device),
            teacher_input: self.teacher.as_ref().map(|_| {
                tensor(
                    teacher_input,
                    self.teacher_channels.len(),
                    &self.device.clone().without_autodiff(),
                )
            }),
            onehot: tensor(onehot, classes, &self.device),
            spatial,
        }
    }

    /// One optimizer step on `samples`: the method's named values (with
    /// the learning rate).
    pub fn step(&mut self, samples: &[Sample], epoch: usize) -> Result<Scalars, TrainError> {
        let batch = self.batch(samples);
        super::phases::mark(super::phases::BATCH);
        let total_steps = (self.steps_per_epoch() * self.config.epochs) as u64;
        let learning_rate = learning_rate(
            self.config.learning_rate,
            self.config.cosine_schedule,
            self.global_step,
            total_steps,
        );
        let context = StepContext {
            learning_rate,
            global_step: self.global_step,
            epoch_progress: epoch as f64,
            config: &self.config,
        };
        let student = self
            .student
            .take()
            .expect("the student is only taken during a step");
        let (student, mut values) = self.method.step(
            student,
            self.teacher.as_ref().map(|t| &t.network),
            &mut self.optimizer,
            &batch,
            &context,
        );
        self.student = Some(student);
        values.insert(series::LEARNING_RATE.into(), learning_rate);
        check_finite(&values, epoch, self.global_step)?;
        self.global_step += 1;
        super::phases::mark(super::phases::BOOKKEEPING);
        Ok(values)
    }

    /// The student's Dice on `cases` (cases without truth are skipped).
    pub fn dice(&self, cases: &[SegCase]) -> Dice {
        let network = self.student().valid();
        score(
            &network,
            cases,
            &self.student_channels,
            &self.data,
            &self.device,
            self.config.patch_edge(),
        )
    }

    /// The frozen teacher's Dice on `cases`, when there is one.
    pub fn teacher_dice(&self, cases: &[SegCase]) -> Option<Dice> {
        let teacher = self.teacher.as_ref()?;
        Some(score(
            &teacher.network,
            cases,
            &self.teacher_channels,
            &self.data,
            &self.device,
            teacher.config.patch_edge(),
        ))
    }

    /// Writes the student as `name` in `dir`.
    pub fn save(&self, dir: &Path, name: &str) -> Result<(), TrainError> {
        self.student()
            .valid()
            .into_record()
            .save(dir.join(name))
            .map_err(|e| TrainError::Io(std::io::Error::other(e.to_string())))
    }
}

/// Appends the values of one sample at `at` of `grid` (an `edge`³ grid,
/// one channel) to `out`.
fn cut<T: Copy>(grid: &[T], edge: usize, at: SampleAt, out: &mut Vec<T>) {
    match at {
        SampleAt::Slice(z) => out.extend_from_slice(&grid[z * edge * edge..(z + 1) * edge * edge]),
        SampleAt::Volume => out.extend_from_slice(grid),
        SampleAt::Patch(origin, patch) => patches::crop(grid, edge, origin, patch, out),
    }
}

/// A network's Dice on the cases that have truth.
fn score(
    network: &Segmenter,
    cases: &[SegCase],
    channels: &[usize],
    data: &SegData,
    device: &Device,
    patch: Option<usize>,
) -> Dice {
    let per_case: Vec<[f64; 3]> = cases
        .iter()
        .filter_map(|case| {
            let truth = case.truth.as_ref()?;
            Some(case_dice(
                &predict_case(network, case, channels, data, device, patch),
                truth,
            ))
        })
        .collect();
    Dice::over_cases(&per_case)
}

/// Slices a 2-D prediction pass takes at once.
const PREDICTION_CHUNK: usize = 16;

/// Windows a 3-D prediction pass on patches takes at once.
const WINDOW_CHUNK: usize = 4;

/// `network`'s label values for `case` (its `channels`), on the case's
/// own grid: argmax per voxel of the training grid, as label values,
/// background where no sequence read shows tissue, resampled to the
/// case's shape by the nearest voxel. `patch`: the 3-D U-Net's training
/// patch, slid over the grid ([`patches::windows`]); `None`, one pass.
pub fn predict_case(
    network: &Segmenter,
    case: &SegCase,
    channels: &[usize],
    data: &SegData,
    device: &Device,
    patch: Option<usize>,
) -> Vec<u8> {
    let device = device.clone().without_autodiff();
    let edge = data.edge;
    let volume = edge * edge * edge;
    let forward = |ats: &[SampleAt], spatial: &[usize]| {
        logits_of(network, case, channels, edge, ats, spatial, &device)
    };
    let classes: Vec<usize> = match (network.spatial_dims(), patch) {
        (3, Some(patch)) => {
            let sums = window_probabilities(network, case, channels, data, patch, &device);
            argmax_over_classes(&sums, volume)
        }
        (3, None) => to_indices(forward(&[SampleAt::Volume], &[edge; 3]).argmax(1)),
        _ => {
            let zs: Vec<SampleAt> = (0..edge).map(SampleAt::Slice).collect();
            zs.chunks(PREDICTION_CHUNK)
                .flat_map(|chunk| to_indices(forward(chunk, &[edge, edge]).argmax(1)))
                .collect()
        }
    };
    let mut labels: Vec<u8> = classes
        .into_iter()
        .map(|c| data.label_values.get(c).copied().unwrap_or(0))
        .collect();
    // Outside the tissue (every sequence read is 0: skull-stripped
    // background) nothing is labeled — the brain mask BraTS pipelines apply.
    for (v, label) in labels.iter_mut().enumerate() {
        if channels
            .iter()
            .all(|&c| case.sequences[c * volume + v] == 0.0)
        {
            *label = 0;
        }
    }
    crate::volume::resample::nearest(&labels, [edge; 3], case.native_shape)
}

/// `network`'s logits `[samples, classes, voxels]` of `case`'s samples at
/// `ats` (each of shape `spatial`), its `channels` read.
fn logits_of(
    network: &Segmenter,
    case: &SegCase,
    channels: &[usize],
    edge: usize,
    ats: &[SampleAt],
    spatial: &[usize],
    device: &Device,
) -> Tensor<3> {
    let volume = edge * edge * edge;
    let voxels: usize = spatial.iter().product();
    let mut values = Vec::with_capacity(ats.len() * channels.len() * voxels);
    for &at in ats {
        for &c in channels {
            cut(
                &case.sequences[c * volume..(c + 1) * volume],
                edge,
                at,
                &mut values,
            );
        }
    }
    let x = Tensor::<3>::from_data(
        TensorData::new(values, [ats.len(), channels.len(), voxels]),
        device,
    );
    network.forward(x, spatial).0
}

/// The 3-D U-Net's class probabilities over the whole grid from windows
/// of its training `patch` ([`patches::windows`]), summed where windows
/// overlap: `classes × edge³`.
fn window_probabilities(
    network: &Segmenter,
    case: &SegCase,
    channels: &[usize],
    data: &SegData,
    patch: usize,
    device: &Device,
) -> Vec<f32> {
    let edge = data.edge;
    let mut sums = vec![0f32; data.label_values.len() * edge * edge * edge];
    for chunk in patches::windows(edge, patch).chunks(WINDOW_CHUNK) {
        let ats: Vec<SampleAt> = chunk.iter().map(|&o| SampleAt::Patch(o, patch)).collect();
        let logits = logits_of(network, case, channels, edge, &ats, &[patch; 3], device);
        let values = to_f32(burn::tensor::activation::softmax(logits, 1));
        let per_window = (values.len() / chunk.len()).max(1);
        for (origin, window) in chunk.iter().zip(values.chunks_exact(per_window)) {
            patches::add_window(&mut sums, window, edge, *origin, patch);
        }
    }
    sums
}

/// A tensor's values as `f32`, flattened.
fn to_f32<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .unwrap_or_default()
}

/// An argmax tensor's class indices, flattened.
fn to_indices<const D: usize>(t: Tensor<D, burn::tensor::Int>) -> Vec<usize> {
    t.into_data()
        .convert::<i64>()
        .try_to_vec::<i64>()
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.max(0) as usize)
        .collect()
}

/// The class of largest sum per voxel of `sums` (`classes × voxels`).
fn argmax_over_classes(sums: &[f32], voxels: usize) -> Vec<usize> {
    (0..voxels)
        .map(|v| {
            let mut best = 0;
            for (k, class_sums) in sums.chunks_exact(voxels).enumerate() {
                if class_sums[v] > sums[best * voxels + v] {
                    best = k;
                }
            }
            best
        })
        .collect()
}

/// Where the run in folder `run_dir` writes its prediction of case `case`:
/// `<run>/predictions/<case>.nii.gz` (the one rule the viewer reads back by;
/// the case's name made a file of its own by `names::file_name_for`).
pub fn prediction_file(run_dir: &Path, case: &str) -> Result<PathBuf, TrainError> {
    let file = crate::store::names::file_name_for(case)?;
    Ok(run_dir
        .join(PREDICTIONS_FOLDER)
        .join(format!("{file}.nii.gz")))
}

/// Writes `labels` (label values on the case's grid) as the run's
/// prediction of `case` ([`prediction_file`]) on the grid of the case's
/// file, atomically.
pub fn write_prediction(
    run_dir: &Path,
    case: &SegCase,
    labels: &[u8],
) -> Result<PathBuf, TrainError> {
    let grid = crate::volume::load(&case.grid_path)
        .map_err(|e| TrainError::Data(format!("{}: {e}", case.grid_path.display())))?;
    let volume = crate::store::label_maps::map_volume(&grid, labels.to_vec());
    let bytes = crate::volume::nifti::encode_nifti1(&volume, true)?;
    let path = prediction_file(run_dir, &case.name)?;
    crate::durable::write_atomic(&path, &bytes)?;
    Ok(path)
}

/// The roles a run loads: the student's, then the teacher's it lacks.
fn roles_to_load(config: &TrainConfig, teacher: Option<&LoadedSegmenter>) -> Vec<String> {
    let mut roles = config.modalities.clone();
    if let Some(t) = teacher {
        for role in &t.config.modalities {
            if !roles.contains(role) {
                roles.push(role.clone());
            }
        }
    }
    roles
}

/// A segmentation run prepared on a project: the trainer, the frozen
/// teacher's test Dice (scored once), the chosen network.
pub struct SegRun {
    pub trainer: SegTrainer,
    device: Device,
    teacher_test: Option<Dice>,
    samples: Vec<Sample>,
    chosen: Option<Segmenter>,
    /// Cases left out, and why.
    skipped: Vec<String>,
}

/// Loads the project at `root` for a segmentation method's run: its
/// teacher run (checked to read the student's kind of sample on the same
/// grid), every case on the training grid with the sequences both read.
pub fn prepare(
    root: &Path,
    config: &TrainConfig,
    method: Box<dyn SegmentationMethod>,
    compute: &ComputeDevice,
) -> Result<SegRun, TrainError> {
    config.validate()?;
    let project = Project::open(root)?;
    let classes = project.paint_labels().len() + 1;
    let teacher = match config.teachers.as_slice() {
        [] => None,
        [one] => {
            let teacher_root = config
                .teacher_project
                .as_deref()
                .map_or_else(|| root.to_path_buf(), PathBuf::from);
            Some(load_run(&teacher_root, one, classes, &compute.device)?)
        }
        many => {
            return Err(TrainError::Data(format!(
                "method {} distils from one teacher run (given {})",
                config.method.name(),
                many.join(", ")
            )));
        }
    };
    if let Some(t) = &teacher {
        // The teacher reads the student's samples: the same kind of sample
        // (slices, volumes or patches of one edge) on the same grid.
        let sample = |c: &TrainConfig| {
            let patch = c
                .patch_edge()
                .map_or(String::new(), |p| format!(" in patches of {p}³"));
            format!("{} on {}³{patch}", c.model.name(), c.input_size)
        };
        if sample(&t.config) != sample(config) {
            return Err(TrainError::Data(format!(
                "teacher run {} is a {}; this run trains a {}: give the student the \
                 teacher's --model, --input-size and --patch-edge",
                config.teachers.join(","),
                sample(&t.config),
                sample(config)
            )));
        }
    }
    let roles = roles_to_load(config, teacher.as_ref());
    let data = data::load(
        &project,
        &roles,
        config.input_size,
        config.validation_fraction,
        config.seed,
    )?;
    drop(project);
    let skipped = data
        .skipped
        .iter()
        .map(|(name, why)| format!("case {name}: {why}"))
        .collect();
    let trainer = SegTrainer::new(config.clone(), data, &compute.device, method, teacher)?;
    if trainer.data.test.is_empty() {
        return Err(TrainError::Data(
            "the test pool has no case with a label map to score on".into(),
        ));
    }
    // The frozen teacher never changes: scored once.
    let teacher_test = trainer.teacher_dice(&trainer.data.test);
    Ok(SegRun {
        trainer,
        device: compute.device.clone(),
        teacher_test,
        samples: Vec::new(),
        chosen: None,
        skipped,
    })
}

impl Learner for SegRun {
    fn config(&self) -> &TrainConfig {
        &self.trainer.config
    }

    fn pools(&self) -> Pools {
        let data = &self.trainer.data;
        Pools {
            labeled: data.labeled.len(),
            validation: data.validation.len(),
            unlabeled: data.unlabeled.len(),
            test: data.test.len(),
            skipped: self.skipped.clone(),
        }
    }

    fn steps_per_epoch(&self) -> usize {
        self.trainer.steps_per_epoch()
    }

    fn begin_epoch(&mut self, _epoch: usize) {
        self.samples = self.trainer.draw_epoch();
    }

    fn step(&mut self, epoch: usize, step: usize) -> Result<(Scalars, usize), TrainError> {
        let batch_size = self.trainer.config.batch_size.max(1);
        let start = (step * batch_size).min(self.samples.len());
        let end = (start + batch_size).min(self.samples.len());
        let values = self.trainer.step(&self.samples[start..end], epoch)?;
        Ok((values, end - start))
    }

    fn score(&self) -> Scores {
        let trainer = &self.trainer;
        let mut series = Scalars::new();
        let student = trainer.dice(&trainer.data.test);
        metric_series("metric", "student", &student.into_metrics(), &mut series);
        if let Some(t) = self.teacher_test {
            metric_series("metric", "teacher", &t.into_metrics(), &mut series);
        }
        let validation =
            (!trainer.data.validation.is_empty()).then(|| trainer.dice(&trainer.data.validation));
        if let Some(v) = validation {
            metric_series("validation", "student", &v.into_metrics(), &mut series);
        }
        Scores {
            series,
            student: student.into_metrics(),
            teacher: self.teacher_test.map(Dice::into_metrics),
            validation: validation.map(|v| ValidationScore {
                primary: v.mean,
                ranking: v.mean,
                loss: 0.0,
            }),
        }
    }

    fn save(&self, dir: &Path, checkpoint: Checkpoint) -> Result<(), TrainError> {
        match checkpoint {
            Checkpoint::Last => self.trainer.save(dir, LAST_STUDENT),
            Checkpoint::Chosen => self.trainer.save(dir, CHOSEN_STUDENT),
        }
    }

    fn keep_chosen(&mut self) {
        self.chosen = Some(self.trainer.student().valid());
    }

    /// The chosen network predicts every case; the test pool's Dice is
    /// computed from the maps as written.
    fn finish(
        &mut self,
        dir: &Path,
        _run: &str,
        _chosen: Option<Reported>,
    ) -> Result<Reported, TrainError> {
        let network = match &self.chosen {
            Some(chosen) => chosen.clone(),
            None => self.trainer.student().valid(),
        };
        let written = write_predictions(
            dir,
            &network,
            &self.trainer.data,
            &self.trainer.student_channels,
            &self.device,
            self.trainer.config.patch_edge(),
        )?;
        Ok(Reported {
            student: written.into_metrics(),
            teacher: self.teacher_test.map(Dice::into_metrics),
            eye: None,
        })
    }
}

/// Writes `network`'s maps of every case to `<run>/predictions/`; returns
/// the test pool's Dice of the maps as written.
fn write_predictions(
    run_path: &Path,
    network: &Segmenter,
    data: &SegData,
    channels: &[usize],
    device: &Device,
    patch: Option<usize>,
) -> Result<Dice, TrainError> {
    std::fs::create_dir_all(run_path.join(PREDICTIONS_FOLDER))?;
    let mut test = Vec::new();
    for case in data.all_cases() {
        let labels = predict_case(network, case, channels, data, device, patch);
        write_prediction(run_path, case, &labels)?;
        if let Some(truth) = &case.truth
            && data.test.iter().any(|t| t.id == case.id)
        {
            test.push(case_dice(&labels, truth));
        }
    }
    Ok(Dice::over_cases(&test))
}

/// `loupe predict` for a segmentation run: its maps of every case written
/// again to `<run>/predictions/`; returns how many.
pub fn predict_run(root: &Path, run: &str, compute: &ComputeDevice) -> Result<usize, TrainError> {
    let (loaded, data) = load_with_cases(root, run, compute)?;
    let channels = data.channels_of(&loaded.config.modalities);
    let dir = super::runs::run_dir(root, run)?;
    write_predictions(
        &dir,
        &loaded.network,
        &data,
        &channels,
        &compute.device,
        loaded.config.patch_edge(),
    )?;
    Ok(data.all_cases().count())
}

/// `loupe eval` for a segmentation run: its test-pool Dice now.
pub fn evaluate_run(
    root: &Path,
    run: &str,
    compute: &ComputeDevice,
) -> Result<RunSummary, TrainError> {
    let (loaded, data) = load_with_cases(root, run, compute)?;
    let channels = data.channels_of(&loaded.config.modalities);
    let dice = score(
        &loaded.network,
        &data.test,
        &channels,
        &data,
        &compute.device,
        loaded.config.patch_edge(),
    );
    let dir = super::runs::run_dir(root, run)?;
    let saved = super::runs::saved_summary(&dir);
    Ok(RunSummary {
        run: run.to_string(),
        epochs: saved
            .as_ref()
            .map_or_else(|| super::runs::recorded_epochs(&dir), |s| s.epochs),
        unfinished: saved.is_none(),
        chosen_epoch: saved.as_ref().and_then(|s| s.chosen_epoch),
        selected_on: saved
            .as_ref()
            .map_or(Selection::LastEpoch, |s| s.selected_on),
        student: dice.into_metrics(),
        stopped_early: saved.as_ref().is_none_or(|s| s.stopped_early),
        teacher: saved.and_then(|s| s.teacher),
        eye: None,
        skipped: data
            .skipped
            .iter()
            .map(|(name, why)| format!("case {name}: {why}"))
            .collect(),
    })
}

fn load_with_cases(
    root: &Path,
    run: &str,
    compute: &ComputeDevice,
) -> Result<(LoadedSegmenter, SegData), TrainError> {
    let project = Project::open(root)?;
    let classes = project.paint_labels().len() + 1;
    let loaded = load_run(root, run, classes, &compute.device)?;
    let data = data::load(
        &project,
        &loaded.config.modalities,
        loaded.config.input_size,
        0.0,
        loaded.config.seed,
    )?;
    Ok((loaded, data))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::models::unet::SegmenterConfig;

    /// One case of `edge`³ with two sequences of smooth, non-zero values
    /// (all tissue), no map.
    fn case(edge: usize) -> SegCase {
        let volume = edge * edge * edge;
        let sequences = (0..2 * volume)
            .map(|i| 1.0 + ((i % volume) as f32 * 0.37 + (i / volume) as f32).sin())
            .collect();
        SegCase {
            id: 1,
            name: "c".into(),
            grid_path: PathBuf::new(),
            native_shape: [edge; 3],
            sequences,
            classes: None,
            truth: None,
            tissue_slices: Vec::new(),
            labeled_slices: Vec::new(),
        }
    }

    #[test]
    fn sliding_windows_sum_each_windows_probabilities_where_it_lies() {
        let (edge, patch) = (16, 8);
        let device = Device::flex();
        device.seed(3);
        let network = Segmenter::new(
            ModelKind::Unet3d,
            &SegmenterConfig {
                channels: 2,
                classes: 4,
                width: 2,
            },
            &device,
        );
        let data = SegData {
            roles: vec!["t1".into(), "flair".into()],
            edge,
            label_values: vec![0, 1, 2, 4],
            ..SegData::default()
        };
        let case = case(edge);
        let volume = edge * edge * edge;
        let sums = window_probabilities(&network, &case, &[0, 1], &data, patch, &device);
        assert_eq!(sums.len(), 4 * volume);
        let at = |z: usize, y: usize, x: usize| (z * edge + y) * edge + x;
        // Windows start at 0, 4, 8 per axis: a voxel's class probabilities
        // sum to the number of windows holding it (1 or 2 per axis).
        let total = |v: usize| (0..4).map(|k| sums[k * volume + v]).sum::<f32>();
        assert!((total(at(0, 0, 0)) - 1.0).abs() < 1e-4);
        assert!((total(at(5, 0, 15)) - 2.0).abs() < 1e-4);
        assert!((total(at(6, 9, 5)) - 8.0).abs() < 1e-4);
        // The voxels below 4 on every axis lie in the window at the origin
        // only, those from 12 in the far one only: there the sums are that
        // window's own probabilities, in place.
        for origin in [[0, 0, 0], [8, 8, 8]] {
            let own = to_f32(burn::tensor::activation::softmax(
                logits_of(
                    &network,
                    &case,
                    &[0, 1],
                    edge,
                    &[SampleAt::Patch(origin, patch)],
                    &[patch; 3],
                    &device,
                ),
                1,
            ));
            let corner = if origin[0] == 0 { 0..4 } else { 4..8 };
            for z in corner.clone() {
                for y in corner.clone() {
                    for x in corner.clone() {
                        for k in 0..4 {
                            let want = own[k * patch.pow(3) + (z * patch + y) * patch + x];
                            let got =
                                sums[k * volume + at(z + origin[0], y + origin[1], x + origin[2])];
                            assert!(
                                (got - want).abs() < 1e-5,
                                "class {k} at {z},{y},{x} of window {origin:?}: {got} vs {want}"
                            );
                        }
                    }
                }
            }
        }
        let labels = predict_case(&network, &case, &[0, 1], &data, &device, Some(patch));
        assert_eq!(labels.len(), volume);
        let best = argmax_over_classes(&sums, volume);
        assert!(
            labels
                .iter()
                .zip(&best)
                .all(|(l, &c)| *l == data.label_values[c])
        );
    }
}
