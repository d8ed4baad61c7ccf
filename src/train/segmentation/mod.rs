//! Segmentation runs (METHODS.md §5): a U-Net labels every voxel of a
//! case from its MRI sequences. The same family as the classifying
//! methods — a [`MethodSpec`] with named series, the run folder, events,
//! pause/stop, the checkpoint chosen on a validation split — with what a
//! label map needs: samples are axial slices (2-D U-Net) or whole volumes
//! (3-D), drawn `slices_per_case` per labeled case and epoch; the score is
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

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender};
use std::time::Instant;

use burn::module::Module;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::{AdamConfig, ModuleOptimizer};
use burn::tensor::{Device, Tensor, TensorData};

use self::data::{SegCase, SegData};
use super::config::{Method, TrainConfig};
use super::device::ComputeDevice;
use super::error::TrainError;
use super::events::{
    EpochRecord, RunSummary, Scalars, Selection, TrainCommand, TrainEvent, metric_series, series,
};
use super::methods::{MethodSpec, StepContext};
use super::metrics::{Dice, case_dice};
use super::models::ModelKind;
use super::models::unet::{Segmenter, SegmenterConfig};
use super::runs::{CHOSEN_STUDENT, LAST_STUDENT, RunDir};
use super::schedule::learning_rate;
use super::trainer::{Means, check_finite, stop_requested};
use crate::store::Project;
use crate::synth::Rng;

/// Where a run's predicted label maps go, inside its folder.
pub const PREDICTIONS_FOLDER: &str = "predictions";

/// One step's samples as tensors.
pub struct SegBatch {
    /// `[B, C_student, P]` on the student's (autodiff) device.
    pub input: Tensor<3>,
    /// `[B, C_teacher, P]` on the plain device, for methods with a teacher.
    pub teacher_input: Option<Tensor<3>>,
    /// `[B, K, P]` the truth one-hot, on the student's device.
    pub onehot: Tensor<3>,
    /// A sample's spatial shape (`[H, W]` or `[D, H, W]`).
    pub spatial: Vec<usize>,
}

/// One segmentation method: its spec and its optimizer step.
pub trait SegmentationMethod: Send {
    fn spec(&self) -> &MethodSpec;

    /// One optimizer step of `student` (on the autodiff device); `teacher`
    /// is the frozen teacher run's network (plain device), for methods
    /// that take one.
    fn step(
        &mut self,
        student: Segmenter,
        teacher: Option<&Segmenter>,
        optimizer: &mut ModuleOptimizer,
        batch: &SegBatch,
        context: &StepContext,
    ) -> (Segmenter, Scalars);
}

/// The implementation of a segmentation method (`None` for the others).
pub fn build(method: Method) -> Option<Box<dyn SegmentationMethod>> {
    use super::methods::{protokd, segmentation};
    match method {
        Method::Segmentation => Some(Box::new(segmentation::Segmentation)),
        Method::Protokd => Some(Box::new(protokd::Protokd)),
        _ => None,
    }
}

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
                "{} does not fit this project's {classes} classes: {e}",
                path.display()
            ))
        })
}

/// Which sample of which case: a case index and an axial slice (`None`:
/// the whole volume, for the 3-D U-Net).
type Sample = (usize, Option<usize>);

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
        let spec = *method.spec();
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
                config.segmentation.weight_decay as f32,
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
        self.method.spec().name
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
        if self.is_3d() {
            1
        } else {
            self.config.segmentation.slices_per_case
        }
    }

    pub fn steps_per_epoch(&self) -> usize {
        (self.data.labeled.len() * self.samples_per_case()).div_ceil(self.config.batch_size.max(1))
    }

    /// The epoch's samples, shuffled: per case `slices_per_case` slices,
    /// half of them where the map labels something and the rest anywhere
    /// in the tissue (a tumour crosses a fifth of the slices: drawn
    /// uniformly, most batches would hold no tumour at all — nnU-Net
    /// oversamples foreground for the same reason), or each whole volume.
    pub fn draw_epoch(&mut self) -> Vec<Sample> {
        let mut samples = Vec::new();
        for (i, case) in self.data.labeled.iter().enumerate() {
            if self.is_3d() {
                samples.push((i, None));
                continue;
            }
            let mut tissue = case.tissue_slices.clone();
            if tissue.is_empty() {
                tissue = (0..self.data.edge).collect();
            }
            let mut labeled = case.labeled_slices.clone();
            self.rng.shuffle(&mut tissue);
            self.rng.shuffle(&mut labeled);
            let take = self.config.segmentation.slices_per_case;
            let from_labeled = if labeled.is_empty() { 0 } else { take / 2 };
            // Fewer slices than asked: cycle through them.
            samples.extend((0..from_labeled).map(|k| (i, Some(labeled[k % labeled.len()]))));
            samples.extend((from_labeled..take).map(|k| (i, Some(tissue[k % tissue.len()]))));
        }
        self.rng.shuffle(&mut samples);
        samples
    }

    /// A sample's values of `channels`, and its spatial shape.
    fn sample_input(&self, case: &SegCase, sample: Option<usize>, channels: &[usize]) -> Vec<f32> {
        let edge = self.data.edge;
        let volume = edge * edge * edge;
        let (offset, len) = match sample {
            Some(z) => (z * edge * edge, edge * edge),
            None => (0, volume),
        };
        let mut out = Vec::with_capacity(channels.len() * len);
        for &c in channels {
            let start = c * volume + offset;
            out.extend_from_slice(&case.sequences[start..start + len]);
        }
        out
    }

    fn spatial(&self) -> Vec<usize> {
        let edge = self.data.edge;
        if self.is_3d() {
            vec![edge; 3]
        } else {
            vec![edge; 2]
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
        for (b, &(i, slice)) in samples.iter().enumerate() {
            let case = &self.data.labeled[i];
            input.extend(self.sample_input(case, slice, &self.student_channels));
            if self.teacher.is_some() {
                teacher_input.extend(self.sample_input(case, slice, &self.teacher_channels));
            }
            let offset = slice.map_or(0, |z| z * voxels);
            if let Some(truth) = &case.classes {
                for (p, &c) in truth[offset..offset + voxels].iter().enumerate() {
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
        let total_steps = (self.steps_per_epoch() * self.config.epochs) as u64;
        let learning_rate = learning_rate(&self.config, self.global_step, total_steps);
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

/// A network's Dice on the cases that have truth.
fn score(
    network: &Segmenter,
    cases: &[SegCase],
    channels: &[usize],
    data: &SegData,
    device: &Device,
) -> Dice {
    let per_case: Vec<[f64; 3]> = cases
        .iter()
        .filter_map(|case| {
            let truth = case.truth.as_ref()?;
            Some(case_dice(
                &predict_case(network, case, channels, data, device),
                truth,
            ))
        })
        .collect();
    Dice::over_cases(&per_case)
}

/// Slices a 2-D prediction pass takes at once.
const PREDICTION_CHUNK: usize = 16;

/// `network`'s label values for `case` (its `channels`), on the case's
/// own grid: argmax per voxel of the training grid, as label values,
/// background where no sequence read shows tissue, resampled to the
/// case's shape by the nearest voxel.
pub fn predict_case(
    network: &Segmenter,
    case: &SegCase,
    channels: &[usize],
    data: &SegData,
    device: &Device,
) -> Vec<u8> {
    let device = device.clone().without_autodiff();
    let edge = data.edge;
    let slice = edge * edge;
    let volume = slice * edge;
    let gather = |zs: &[usize]| {
        let mut out = Vec::with_capacity(zs.len() * channels.len() * slice);
        for &z in zs {
            for &c in channels {
                let start = c * volume + z * slice;
                out.extend_from_slice(&case.sequences[start..start + slice]);
            }
        }
        out
    };
    let argmax = |x: Tensor<3>, spatial: &[usize]| -> Vec<u8> {
        let (logits, _) = network.forward(x, spatial);
        logits
            .argmax(1)
            .into_data()
            .convert::<i64>()
            .try_to_vec::<i64>()
            .unwrap_or_default()
            .into_iter()
            .map(|c| data.label_values.get(c as usize).copied().unwrap_or(0))
            .collect()
    };
    let mut labels = Vec::with_capacity(volume);
    if network.spatial_dims() == 3 {
        let x = Tensor::<3>::from_data(
            TensorData::new(
                gather(&(0..edge).collect::<Vec<_>>()),
                [edge, channels.len(), slice],
            ),
            &device,
        );
        // Slices were gathered z-major; the 3-D network reads [1, C, D·H·W].
        let x = x.swap_dims(0, 1).reshape([1, channels.len(), volume]);
        labels = argmax(x, &[edge, edge, edge]);
    } else {
        let zs: Vec<usize> = (0..edge).collect();
        for chunk in zs.chunks(PREDICTION_CHUNK) {
            let x = Tensor::<3>::from_data(
                TensorData::new(gather(chunk), [chunk.len(), channels.len(), slice]),
                &device,
            );
            labels.extend(argmax(x, &[edge, edge]));
        }
    }
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

/// Where the run in folder `run_dir` writes its prediction of case `case`:
/// `<run>/predictions/<case>.nii.gz` (the one rule the viewer reads back by).
pub fn prediction_file(run_dir: &Path, case: &str) -> Result<PathBuf, TrainError> {
    let file = crate::store::export::safe_file_name(case)?;
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

/// Trains a segmentation method on the project at `root`: the same
/// contract as [`super::trainer::train`] (events, commands, run folder,
/// summary), with Dice as its metrics and predicted maps written at the end.
pub fn train(
    root: &Path,
    config: &TrainConfig,
    compute: &ComputeDevice,
    events: &Sender<TrainEvent>,
    commands: &Receiver<TrainCommand>,
) -> Result<RunSummary, TrainError> {
    let method = build(config.method).ok_or_else(|| {
        TrainError::Data(format!(
            "method {} does not segment (segmentation, protokd do)",
            config.method.name()
        ))
    })?;
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
        // (slices or volumes) on the same grid.
        let (kind, edge) = (t.config.model, t.config.input_size);
        if kind != config.model || edge != config.input_size {
            return Err(TrainError::Data(format!(
                "teacher run {} is a {} on {edge}³; this run trains a {} on {}³: give the \
                 student the teacher's --model and --input-size",
                config.teachers.join(","),
                kind.name(),
                config.model.name(),
                config.input_size
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
    let mut trainer = SegTrainer::new(config.clone(), data, &compute.device, method, teacher)?;
    if trainer.data.test.is_empty() {
        return Err(TrainError::Data(
            "the test pool has no case with a label map to score on".into(),
        ));
    }
    let run = RunDir::create(root, &trainer.config, trainer.method_name())?;
    let steps_per_epoch = trainer.steps_per_epoch();
    let _ = events.send(TrainEvent::Started {
        run: run.id.clone(),
        epochs: config.epochs,
        steps_per_epoch,
        labeled: trainer.data.labeled.len(),
        validation: trainer.data.validation.len(),
        unlabeled: trainer.data.unlabeled.len(),
        test: trainer.data.test.len(),
    });
    // The frozen teacher never changes: scored once.
    let teacher_test = trainer.teacher_dice(&trainer.data.test);
    let selected_on = if trainer.data.validation.is_empty() {
        Selection::LastEpoch
    } else {
        Selection::Validation
    };
    let batch_size = trainer.config.batch_size.max(1);
    let mut best: Option<(usize, f64)> = None;
    let mut epochs_done = 0;
    let mut stopped_early = false;
    'epochs: for epoch in 0..config.epochs {
        let started = Instant::now();
        let samples = trainer.draw_epoch();
        let mut means = Means::default();
        for (step, chunk) in samples.chunks(batch_size).enumerate() {
            if stop_requested(commands, events) {
                stopped_early = true;
                break 'epochs;
            }
            let step_started = Instant::now();
            let values = trainer.step(chunk, epoch)?;
            let seconds = step_started.elapsed().as_secs_f64().max(1e-9);
            means.add(&values);
            let _ = events.send(TrainEvent::Step {
                epoch,
                step,
                values,
                images_per_second: chunk.len() as f64 / seconds,
            });
        }
        let mut values = means.into_means();
        let student = trainer.dice(&trainer.data.test);
        metric_series("metric", "student", &student.into_metrics(), &mut values);
        if let Some(t) = teacher_test {
            metric_series("metric", "teacher", &t.into_metrics(), &mut values);
        }
        let validation =
            (!trainer.data.validation.is_empty()).then(|| trainer.dice(&trainer.data.validation));
        if let Some(v) = validation {
            metric_series("validation", "student", &v.into_metrics(), &mut values);
        }
        let record = EpochRecord {
            epoch,
            series: values,
            student: student.into_metrics(),
            teacher: teacher_test.map(Dice::into_metrics),
            seconds: started.elapsed().as_secs_f64(),
        };
        run.append(&record)?;
        trainer.save(&run.path, LAST_STUDENT)?;
        let improves = match (validation, best) {
            (Some(v), Some((_, best_mean))) => v.mean > best_mean,
            _ => true, // no validation split: the last epoch is reported
        };
        if improves {
            trainer.save(&run.path, CHOSEN_STUDENT)?;
            best = Some((epoch, validation.map_or(0.0, |v| v.mean)));
        }
        epochs_done = epoch + 1;
        let _ = events.send(TrainEvent::Epoch(Box::new(record)));
    }
    // The reported checkpoint predicts every case; the test pool's Dice is
    // computed from the maps as written.
    let classes = trainer.data.label_values.len();
    let chosen = match best {
        Some(_) => load_checkpoint(
            &trainer.config,
            classes,
            &run.path.join(CHOSEN_STUDENT),
            &compute.device,
        )?,
        None => trainer.student().valid(),
    };
    let written = write_predictions(
        &run.path,
        &chosen,
        &trainer.data,
        &trainer.student_channels,
        &compute.device,
    )?;
    let summary = RunSummary {
        run: run.id.clone(),
        epochs: epochs_done,
        chosen_epoch: best.map(|(e, _)| e),
        selected_on,
        student: written.into_metrics(),
        teacher: teacher_test.map(Dice::into_metrics),
        stopped_early,
    };
    run.finish(&summary)?;
    let _ = events.send(TrainEvent::Finished(Box::new(summary.clone())));
    Ok(summary)
}

/// Writes `network`'s maps of every case to `<run>/predictions/`; returns
/// the test pool's Dice of the maps as written.
fn write_predictions(
    run_path: &Path,
    network: &Segmenter,
    data: &SegData,
    channels: &[usize],
    device: &Device,
) -> Result<Dice, TrainError> {
    std::fs::create_dir_all(run_path.join(PREDICTIONS_FOLDER))?;
    let mut test = Vec::new();
    for case in data.all_cases() {
        let labels = predict_case(network, case, channels, data, device);
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
    write_predictions(&dir, &loaded.network, &data, &channels, &compute.device)?;
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
    );
    let saved: Option<RunSummary> = super::runs::run_dir(root, run)
        .ok()
        .and_then(|d| std::fs::read_to_string(d.join(super::runs::SUMMARY_FILE)).ok())
        .and_then(|t| serde_json::from_str(&t).ok());
    Ok(RunSummary {
        run: run.to_string(),
        epochs: saved.as_ref().map_or(loaded.config.epochs, |s| s.epochs),
        chosen_epoch: saved.as_ref().and_then(|s| s.chosen_epoch),
        selected_on: saved
            .as_ref()
            .map_or(Selection::LastEpoch, |s| s.selected_on),
        student: dice.into_metrics(),
        teacher: saved.and_then(|s| s.teacher),
        stopped_early: false,
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
