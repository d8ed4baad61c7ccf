//! `loupe bench`: measured tables, never assertions.

mod dicom_io;
mod kd;
mod kdamm;
mod profile;
mod protokd;
mod thyroid;
mod training;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::synth::phantom;
use crate::volume::{self, nifti};

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub which: BenchKind,
}

/// The training step a step benchmark times: the default model's input,
/// width and batch.
#[derive(Debug, clap::Args)]
pub struct StepShape {
    #[arg(long, default_value_t = 128)]
    input_size: usize,
    /// Channels of the first ResNet stage (16 is the default model).
    #[arg(long, default_value_t = 16)]
    width: usize,
    #[arg(long, default_value_t = 16)]
    batch: usize,
}

impl StepShape {
    /// (input size, width, batch), each within the training limits.
    fn checked(&self) -> anyhow::Result<(usize, usize, usize)> {
        use crate::train::config::limits;
        Ok((
            within("--input-size", self.input_size, limits::INPUT_SIZE)?,
            within("--width", self.width, limits::WIDTH)?,
            within("--batch", self.batch, limits::BATCH_SIZE)?,
        ))
    }
}

#[derive(Debug, clap::Subcommand)]
pub enum BenchKind {
    /// Volume loading against the time only to gunzip (or read) the same file.
    Io {
        /// Edge of the generated int16 cube (default 256; 512 with --dicom).
        #[arg(long)]
        size: Option<usize>,
        /// Timed repetitions per file (the median is reported).
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// Real files to include (default: the MNI brain in ../shared/data/nifti).
        #[arg(long)]
        file: Vec<PathBuf>,
        /// Read a generated CT series as DICOM (uncompressed and JPEG lossless)
        /// beside pydicom + numpy and dcm2niix; `--size` is the slice edge.
        #[arg(long)]
        dicom: bool,
        /// Slices of the DICOM series.
        #[arg(long, default_value_t = 300)]
        slices: usize,
        /// With --dicom: one JSON object instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// The viewer: upload, frame time of three views while scrolling, CPU reference per slice, numpy peer.
    Render {
        /// Edge of the generated int16 cube.
        #[arg(long, default_value_t = 512)]
        size: usize,
        /// Frames timed per volume.
        #[arg(long, default_value_t = 30)]
        frames: usize,
    },
    /// Training throughput: images/s of one optimizer step on the CPU (flex), on the
    /// wgpu device, and of the same network in PyTorch on the same machine.
    Training {
        #[command(flatten)]
        step: StepShape,
        /// Timed steps per device and method (the median is reported).
        #[arg(long, default_value_t = 10)]
        steps: usize,
        /// Python with PyTorch for the peer (skipped with a note if it cannot import torch).
        #[arg(long, env = "LOUPE_TORCH_PYTHON", default_value = "python3")]
        python: String,
        /// CPU threads for the `flex` rows (default: every core).
        #[arg(long)]
        threads: Option<usize>,
        /// One JSON object on standard output (the table goes to standard error).
        #[arg(long)]
        json: bool,
    },
    /// Where a supervised step of the default model goes on the CPU (flex):
    /// each kind of op timed alone at every shape the step runs it at.
    Profile {
        #[command(flatten)]
        step: StepShape,
        /// Timed repetitions per op (the median is reported).
        #[arg(long, default_value_t = 5)]
        repeats: usize,
        /// CPU threads (default: every core).
        #[arg(long)]
        threads: Option<usize>,
        /// Profile with Burn's convolution instead of Loupe's CPU kernels.
        #[arg(long)]
        burn_kernels: bool,
        /// One JSON object instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Label efficiency on the ROP demo: the methods at several labeled
    /// fractions on the same schedule, mean ± sd over demo seeds × training
    /// seeds (several processes at once).
    LabelEfficiency {
        #[arg(long, value_delimiter = ',', default_value = "0.1,0.2")]
        fractions: Vec<f64>,
        /// Seeds of the generated demo projects.
        #[arg(long, value_delimiter = ',', default_value = "1")]
        demo_seeds: Vec<u64>,
        /// Training seeds.
        #[arg(long, value_delimiter = ',', default_value = "1,2,3")]
        seeds: Vec<u64>,
        /// Methods to compare (default: all).
        #[arg(long, value_delimiter = ',', value_parser = super::train::method_parser())]
        method: Vec<crate::train::config::Method>,
        /// Base training configuration (default: the Fundus on CPU preset).
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long)]
        epochs: Option<usize>,
        /// Runs at once (default: one per CPU core).
        #[arg(long)]
        jobs: Option<usize>,
        /// Where the demo projects and runs go (default: a folder in the temp dir, reused).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Cross-modal distillation on the lung demo: the CT teacher and the
    /// questionnaire student without KD, with PKT + gradient ratio, with
    /// PKT at a fixed weight, with PKT on raw teacher features. Mean ± sd
    /// over seeds of accuracy, AUC and kappa; CPU seconds per epoch.
    Kd {
        /// Seeds: each writes its own lung demo and trains with that seed.
        #[arg(long, value_delimiter = ',', default_value = "1,2,3")]
        seeds: Vec<u64>,
        /// Cases per demo.
        #[arg(long, default_value_t = 300)]
        count: usize,
        /// The CT's edge in voxels.
        #[arg(long, default_value_t = 40)]
        edge: usize,
        /// Fraction of the training cases labeled (5 %: where labels are
        /// scarce and distillation has something to add; at 15 % it did not).
        #[arg(long, default_value_t = 0.05)]
        labeled_fraction: f64,
        /// Epochs of the CT teacher (default 40).
        #[arg(long)]
        teacher_epochs: Option<usize>,
        /// Epochs of each student (default 40).
        #[arg(long)]
        student_epochs: Option<usize>,
        /// Runs at once (default 1: each run uses every core).
        #[arg(long, default_value_t = 1)]
        jobs: usize,
        /// Where the demo projects and runs go (default: a folder in the temp dir, reused).
        #[arg(long)]
        dir: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// METHODS.md §5 on the brain-tumour demo: per training seed the
    /// four-sequence segmentation teacher, and per sequence the unimodal
    /// baseline and the ProtoKD student. Mean ± sd over seeds of test Dice
    /// (WT, TC, ET, mean).
    Protokd {
        /// Training seeds.
        #[arg(long, value_delimiter = ',', default_value = "1,2,3")]
        seeds: Vec<u64>,
        /// The demo's seed (one demo for every training seed).
        #[arg(long, default_value_t = 1)]
        demo_seed: u64,
        /// Cases in the demo.
        #[arg(long, default_value_t = 40)]
        count: usize,
        /// The volumes' edge in voxels (a multiple of 8).
        #[arg(long, default_value_t = 64)]
        edge: usize,
        /// Fraction of the training cases labeled.
        #[arg(long, default_value_t = 0.5)]
        labeled_fraction: f64,
        /// Epochs of every run (default 8).
        #[arg(long)]
        epochs: Option<usize>,
        /// U-Net width (default 8).
        #[arg(long)]
        width: Option<usize>,
        /// Runs at once (default 1: each run uses every core).
        #[arg(long, default_value_t = 1)]
        jobs: usize,
        /// Where the demo project and runs go (default: a folder in the temp dir, reused).
        #[arg(long)]
        dir: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// METHODS.md §4 on the bone demo: image classifiers on middle, random
    /// and policy slices, the slice policy, the tabular teacher, the
    /// multimodal baseline on complete cases and KDAMM on all cases. Mean ±
    /// sd over seeds of accuracy and AUC.
    Kdamm {
        /// Seeds: each writes its own bone demo and trains with that seed.
        #[arg(long, value_delimiter = ',', default_value = "1,2,3")]
        seeds: Vec<u64>,
        /// Cases per demo.
        #[arg(long, default_value_t = 300)]
        count: usize,
        /// A slice's edge in pixels.
        #[arg(long, default_value_t = 64)]
        edge: usize,
        /// Fraction of the training cases labeled.
        #[arg(long, default_value_t = 0.5)]
        labeled_fraction: f64,
        /// Epochs of every model (default: 40 for image, fusion and tabular
        /// models, 20 for the policy).
        #[arg(long)]
        epochs: Option<usize>,
        /// Runs at once (default 1: each run uses every core).
        #[arg(long, default_value_t = 1)]
        jobs: usize,
        /// Where the demo projects and runs go (default: a folder in the temp dir, reused).
        #[arg(long)]
        dir: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// The thyroid method taken apart on the thyroid demo: crop vs whole
    /// frames; xception, + dilated, + dense, both; CE vs CE + focal; from
    /// scratch vs pre-trained on the ROP demo. Mean ± sd over seeds of
    /// accuracy, macro-F1 and per-class sensitivity.
    Thyroid {
        /// Arms to run (default: all): full, no-crop, xception,
        /// xception+dilated, xception+dense, ce-only, pretrained.
        #[arg(long, value_delimiter = ',', value_parser = arm_parser())]
        arms: Vec<thyroid::Arm>,
        /// Training seeds.
        #[arg(long, value_delimiter = ',', default_value = "1,2,3")]
        seeds: Vec<u64>,
        /// Seed of the generated demo projects.
        #[arg(long, default_value_t = 1)]
        demo_seed: u64,
        /// Images per demo project.
        #[arg(long, default_value_t = 200)]
        count: usize,
        /// Edge of the demo images in pixels.
        #[arg(long, default_value_t = 128)]
        image_size: usize,
        /// The full method's settings (default: xception-dd, 48 px, width 8, 25 epochs, CE + focal).
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long)]
        epochs: Option<usize>,
        /// Epochs the pre-trained arm holds its early stages as loaded.
        #[arg(long, default_value_t = 2)]
        freeze_early_epochs: usize,
        /// Runs at once (default: one per CPU core).
        #[arg(long)]
        jobs: Option<usize>,
        /// Where the demo projects and runs go (default: a folder in the temp dir, reused).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// One JSON object on standard output (progress on standard error).
        #[arg(long)]
        json: bool,
    },
    /// Importing many images, label commit latency, the window's work per
    /// label key press, and the browser's redraw time.
    Labeling {
        /// Number of generated images.
        #[arg(long, default_value_t = 5000)]
        items: usize,
        /// Labels committed one by one for the latency figures.
        #[arg(long, default_value_t = 500)]
        labels: usize,
        /// One JSON object instead of the table.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    match &args.which {
        BenchKind::Training {
            step,
            steps,
            python,
            threads,
            json,
        } => {
            let (input_size, width, batch) = step.checked()?;
            training::throughput(
                &training::ThroughputSettings {
                    input_size,
                    width,
                    batch,
                    steps: within("--steps", *steps, 1..=10_000)?,
                    python: python.clone(),
                    threads: threads_option(*threads)?,
                },
                *json,
            )
        }
        BenchKind::LabelEfficiency {
            fractions,
            demo_seeds,
            seeds,
            method,
            config,
            epochs,
            jobs,
            dir,
        } => {
            let mut base = match config {
                Some(path) => super::train::read_config(path)?,
                None => crate::train::config::TrainConfig::fundus_on_cpu(),
            };
            if let Some(epochs) = epochs {
                base.epochs = *epochs;
            }
            let methods = if method.is_empty() {
                // The methods that train on the demo's images alone (distillation needs a teacher run).
                crate::train::methods::all()
                    .into_iter()
                    .map(|d| d.method)
                    .filter(|&m| {
                        let spec = m.spec();
                        spec.teacher_roles.is_empty()
                            && spec
                                .modalities
                                .contains(&crate::train::config::IMAGE_MODALITY)
                    })
                    .collect()
            } else {
                method.clone()
            };
            let jobs = within(
                "--jobs",
                jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
                1..=256,
            )?;
            training::label_efficiency(&training::LabelEfficiencySettings {
                fractions: fractions.clone(),
                demo_seeds: demo_seeds.clone(),
                seeds: seeds.clone(),
                methods,
                base,
                jobs,
                dir: dir
                    .clone()
                    .unwrap_or_else(|| std::env::temp_dir().join("loupe-bench-label-efficiency")),
            })
        }
        BenchKind::Kd {
            seeds,
            count,
            edge,
            labeled_fraction,
            teacher_epochs,
            student_epochs,
            jobs,
            dir,
            json,
        } => {
            let mut teacher = kd::teacher_config();
            // The teacher reads the CT at its own edge (no resampling blur).
            teacher.input_size = *edge;
            let mut student = kd::student_config();
            if let Some(epochs) = teacher_epochs {
                teacher.epochs = *epochs;
            }
            if let Some(epochs) = student_epochs {
                student.epochs = *epochs;
            }
            kd::kd(&kd::KdSettings {
                seeds: seeds.clone(),
                count: *count,
                edge: *edge,
                labeled_fraction: *labeled_fraction,
                teacher,
                student,
                jobs: within("--jobs", *jobs, 1..=256)?,
                dir: dir
                    .clone()
                    .unwrap_or_else(|| std::env::temp_dir().join("loupe-bench-kd")),
                json: *json,
            })
        }
        BenchKind::Protokd {
            seeds,
            demo_seed,
            count,
            edge,
            labeled_fraction,
            epochs,
            width,
            jobs,
            dir,
            json,
        } => {
            let mut config = protokd::default_config();
            if let Some(epochs) = epochs {
                config.epochs = *epochs;
            }
            if let Some(width) = width {
                config.width = *width;
            }
            protokd::protokd(&protokd::ProtokdSettings {
                seeds: seeds.clone(),
                demo_seed: *demo_seed,
                count: *count,
                edge: *edge,
                labeled_fraction: *labeled_fraction,
                config,
                jobs: within("--jobs", *jobs, 1..=256)?,
                dir: dir.clone().unwrap_or_else(protokd::default_dir),
                json: *json,
            })
        }
        BenchKind::Kdamm {
            seeds,
            count,
            edge,
            labeled_fraction,
            epochs,
            jobs,
            dir,
            json,
        } => {
            let mut configs = [
                kdamm::image_config(),
                kdamm::tabular_config(),
                kdamm::policy_config(),
                kdamm::fusion_config(),
            ];
            for config in &mut configs {
                config.input_size = *edge;
                if let Some(epochs) = epochs {
                    config.epochs = *epochs;
                }
            }
            let [image, tabular, policy, fusion] = configs;
            kdamm::kdamm(&kdamm::KdammSettings {
                seeds: seeds.clone(),
                count: *count,
                edge: *edge,
                labeled_fraction: *labeled_fraction,
                image,
                tabular,
                policy,
                fusion,
                jobs: within("--jobs", *jobs, 1..=256)?,
                dir: dir.clone().unwrap_or_else(kdamm::default_dir),
                json: *json,
            })
        }
        BenchKind::Thyroid {
            arms,
            seeds,
            demo_seed,
            count,
            image_size,
            config,
            epochs,
            freeze_early_epochs,
            jobs,
            dir,
            json,
        } => {
            let mut full = match config {
                Some(path) => super::train::read_config(path)?,
                None => thyroid::full_method(),
            };
            if let Some(epochs) = epochs {
                full.epochs = *epochs;
            }
            thyroid::thyroid(&thyroid::ThyroidSettings {
                arms: if arms.is_empty() {
                    thyroid::Arm::ALL.to_vec()
                } else {
                    arms.clone()
                },
                seeds: seeds.clone(),
                demo_seed: *demo_seed,
                count: *count,
                image_size: *image_size,
                full,
                freeze_early_epochs: *freeze_early_epochs,
                jobs: within(
                    "--jobs",
                    jobs.unwrap_or_else(crate::train::threads::cores),
                    1..=256,
                )?,
                dir: dir
                    .clone()
                    .unwrap_or_else(|| std::env::temp_dir().join("loupe-bench-thyroid")),
                json: *json,
            })
        }
        BenchKind::Profile {
            step,
            repeats,
            threads,
            burn_kernels,
            json,
        } => {
            let (input_size, width, batch) = step.checked()?;
            profile::profile(&profile::ProfileSettings {
                input_size,
                width,
                batch,
                repeats: within("--repeats", *repeats, 1..=1000)?,
                threads: threads_option(*threads)?,
                loupe_kernels: !burn_kernels,
                json: *json,
            })
        }
        BenchKind::Io {
            size,
            runs,
            dicom: true,
            slices,
            json,
            ..
        } => dicom_io::run(
            within("--size", size.unwrap_or(512), 8..=1024)?,
            within("--slices", *slices, 1..=2000)?,
            within("--runs", *runs, 1..=1000)?,
            *json,
        ),
        BenchKind::Io {
            size, runs, file, ..
        } => io(
            within("--size", size.unwrap_or(256), 8..=1024)?,
            within("--runs", *runs, 1..=1000)?,
            file,
        ),
        BenchKind::Labeling {
            items,
            labels,
            json,
        } => labeling(
            within("--items", *items, 1..=1_000_000)?,
            within("--labels", *labels, 1..=100_000)?,
            *json,
        ),
        BenchKind::Render { size, frames } => render(
            within("--size", *size, 8..=1024)?,
            within("--frames", *frames, 3..=10_000)?,
        ),
    }
}

/// `--arms NAME,…`, from the names `thyroid::Arm` defines.
fn arm_parser() -> impl clap::builder::TypedValueParser<Value = thyroid::Arm> {
    use clap::builder::TypedValueParser;
    let names: Vec<&'static str> = thyroid::Arm::ALL.iter().map(|a| a.name()).collect();
    clap::builder::PossibleValuesParser::new(names)
        .map(|name| thyroid::Arm::from_name(&name).expect("the parser offers only arm names"))
}

/// `--threads` (default: every core).
fn threads_option(value: Option<usize>) -> anyhow::Result<usize> {
    within(
        "--threads",
        value.unwrap_or_else(|| crate::train::threads::default_threads(false)),
        1..=crate::train::threads::MAX_THREADS,
    )
}

/// A count option checked against what the benchmark can hold, naming it.
fn within(
    name: &str,
    value: usize,
    range: std::ops::RangeInclusive<usize>,
) -> anyhow::Result<usize> {
    anyhow::ensure!(
        range.contains(&value),
        "{name} {value} must be between {} and {}",
        range.start(),
        range.end()
    );
    Ok(value)
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn time_runs(runs: usize, mut f: impl FnMut() -> anyhow::Result<()>) -> anyhow::Result<Duration> {
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        f()?;
        samples.push(started.elapsed());
    }
    Ok(median(samples))
}

/// The floor: gunzip the whole file and throw the bytes away, or, for an
/// uncompressed file, read it into memory.
fn floor(path: &Path) -> anyhow::Result<u64> {
    let file = std::fs::File::open(path)?;
    if path.extension().is_none_or(|e| e != "gz") {
        return Ok(std::fs::read(path)?.len() as u64);
    }
    let mut reader =
        flate2::read::MultiGzDecoder::new(std::io::BufReader::with_capacity(1 << 16, file));
    let mut buffer = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = reader.read(&mut buffer)?;
        if n == 0 {
            return Ok(total);
        }
        total += n as u64;
    }
}

fn io(size: usize, runs: usize, files: &[PathBuf]) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join("loupe-bench-io");
    std::fs::create_dir_all(&dir)?;
    let generated = phantom::ct_phantom(size, 7);
    let mut paths = Vec::new();
    for name in [
        format!("phantom_{size}.nii"),
        format!("phantom_{size}.nii.gz"),
    ] {
        let path = dir.join(name);
        nifti::write_nifti1(&generated, &path)
            .with_context(|| format!("writing {}", path.display()))?;
        paths.push(path);
    }
    drop(generated);
    if files.is_empty() {
        let mni = Path::new("../shared/data/nifti/mni152_t1.nii.gz");
        if mni.exists() {
            paths.push(mni.to_path_buf());
        }
    } else {
        paths.extend(files.iter().cloned());
    }

    println!(
        "| file | on disk MB | voxel data MB | load ms | load MB/s | floor | floor ms | load / floor |"
    );
    println!("|---|---:|---:|---:|---:|---|---:|---:|");
    for path in &paths {
        let on_disk = std::fs::metadata(path)?.len() as f64 / 1e6;
        let data_mb = volume::load(path)?.data.size_bytes() as f64 / 1e6;
        let load = time_runs(runs, || {
            volume::load(path)?;
            Ok(())
        })?;
        let floor_time = time_runs(runs, || {
            floor(path)?;
            Ok(())
        })?;
        let floor_name = if path.extension().is_some_and(|e| e == "gz") {
            "gunzip"
        } else {
            "read"
        };
        println!(
            "| {} | {on_disk:.1} | {data_mb:.1} | {:.1} | {:.0} | {floor_name} | {:.1} | {:.2} |",
            path.file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default(),
            load.as_secs_f64() * 1e3,
            data_mb / load.as_secs_f64(),
            floor_time.as_secs_f64() * 1e3,
            load.as_secs_f64() / floor_time.as_secs_f64(),
        );
    }
    println!("(median of {runs} runs; target: load ≤ 1.3 × floor)");
    Ok(())
}

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * fraction).round() as usize]
}

fn labeling(items: usize, labels: usize, json: bool) -> anyhow::Result<()> {
    use crate::rng::Rng;
    use crate::store::import::{self, ImportOptions};
    use crate::store::{Project, Schema};

    let dir = std::env::temp_dir().join("loupe-bench-labeling");
    let _ = std::fs::remove_dir_all(&dir);
    let images = dir.join("images");
    std::fs::create_dir_all(&images)?;
    let mut rng = Rng::new(5);
    for i in 0..items {
        let pixels: Vec<u8> = (0..64 * 64)
            .map(|_| (rng.next_u64() & 0xff) as u8)
            .collect();
        image::save_buffer(
            images.join(format!("img{i:06}.png")),
            &pixels,
            64,
            64,
            image::ExtendedColorType::L8,
        )?;
    }
    let root = dir.join("project");
    let mut project = Project::create(&root, &Schema::rop())?;
    let started = Instant::now();
    let report = import::import(
        &mut project,
        std::slice::from_ref(&images),
        None,
        &ImportOptions {
            test_fraction: 0.2,
            ..Default::default()
        },
        |_, _| {},
    )?;
    let import_time = started.elapsed();

    let ids: Vec<i64> = project.items()?.iter().map(|i| i.id).collect();
    let stages = ["Normal", "Stage 1", "Stage 2", "Stage 3"];
    let mut latencies = Vec::with_capacity(labels);
    for k in 0..labels {
        let started = Instant::now();
        project.set_label(ids[k % ids.len()], "bench", "stage", Some(stages[k % 4]))?;
        latencies.push(started.elapsed());
    }
    latencies.sort();
    drop(project);

    // The window's side of a label key press: the session applies the
    // command (commit, re-read of that item, auto-advance) — timed whole —
    // and the next frame redraws the browser over every item.
    let started = Instant::now();
    let mut session = crate::app::ProjectSession::open(&root)?;
    let open_time = started.elapsed();
    let presses = labels.min(300);
    let mut key_presses = Vec::with_capacity(presses);
    for k in 0..presses {
        let id = ids[(k * 7919) % ids.len()];
        session
            .apply(crate::app::LabelingCommand::SelectItem(id), "reader")
            .map_err(anyhow::Error::msg)?;
        let started = Instant::now();
        session
            .apply(
                crate::app::LabelingCommand::SetLabel {
                    field: "stage".into(),
                    value: Some(stages[(k + 1) % 4].into()),
                },
                "reader",
            )
            .map_err(anyhow::Error::msg)?;
        key_presses.push(started.elapsed());
    }
    key_presses.sort();
    let frames = crate::ui::browser_frame_times(&session, 60);
    let mut steady: Vec<Duration> = frames[10..].to_vec();
    steady.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let commit_median = percentile(&latencies, 0.5);
    let press_median = percentile(&key_presses, 0.5);
    let figures = serde_json::json!({
        "items": session.rows.len(),
        "import_seconds": import_time.as_secs_f64(),
        "import_items_per_second": report.added as f64 / import_time.as_secs_f64(),
        "open_project_seconds": open_time.as_secs_f64(),
        "commit_ms_median": ms(commit_median),
        "commit_ms_p99": ms(percentile(&latencies, 0.99)),
        "key_press_ms_median": ms(press_median),
        "key_press_ms_p99": ms(percentile(&key_presses, 0.99)),
        "key_press_without_commit_ms_median": ms(press_median.saturating_sub(commit_median)),
        "redraw_ms_first": ms(frames[0]),
        "redraw_ms_median": ms(percentile(&steady, 0.5)),
        "redraw_ms_p95": ms(percentile(&steady, 0.95)),
    });
    if json {
        println!("{figures}");
        return Ok(());
    }
    let n = session.rows.len();
    println!("| measure ({n} items) | value |");
    println!("|---|---:|");
    println!(
        "| import {} generated 64×64 PNGs | {:.2} s ({:.0} items/s) |",
        report.added,
        import_time.as_secs_f64(),
        report.added as f64 / import_time.as_secs_f64()
    );
    println!(
        "| open the project in the window (every row read) | {:.2} s |",
        open_time.as_secs_f64()
    );
    println!(
        "| label commit latency (store, fsync), median of {labels} | {:.2} ms |",
        ms(commit_median)
    );
    println!(
        "| label commit latency, p99 | {:.2} ms |",
        ms(percentile(&latencies, 0.99))
    );
    println!(
        "| key press in the window (commit + re-read + advance), median of {presses} | {:.2} ms |",
        ms(press_median)
    );
    println!(
        "| key press, p99 | {:.2} ms |",
        ms(percentile(&key_presses, 0.99))
    );
    println!(
        "| key press without the commit, median | {:.2} ms |",
        ms(press_median.saturating_sub(commit_median))
    );
    println!("| redraw: browser frame, first | {:.1} ms |", ms(frames[0]));
    println!(
        "| redraw: browser frame, steady median (frames 10–59) | {:.2} ms |",
        ms(percentile(&steady, 0.5))
    );
    println!(
        "| redraw: browser frame, steady p95 | {:.2} ms |",
        ms(percentile(&steady, 0.95))
    );
    println!(
        "(redraw: CPU time of the egui pass and tessellation, thumbnails drawn on their own thread; project in {})",
        root.display()
    );
    Ok(())
}

/// Painting on the first volume: a 5 mm brush dragged across the middle
/// axial slice, each step = the brush's voxels, the map edit, and writing
/// the edited box of the GPU label texture (what the window does per
/// brush step), against re-uploading the whole map, and a tri-planar frame
/// with the overlay.
fn paint_steps(
    render_state: &egui_wgpu::RenderState,
    renderer: &mut crate::render::gpu::SliceRenderer,
    volume: &crate::volume::Volume,
    steps: usize,
) -> anyhow::Result<()> {
    use crate::paint::{self, BrushShape, Grid, PaintOver, PlaneFrame, StrokeBuilder, VoxelBox};
    use crate::render::cpu::{Interpolation, WindowLevel};
    use crate::render::gpu::{GpuLabels, GpuVolume, SliceParams};
    use crate::render::view::ViewSpec;
    use crate::volume::CanonicalGrid;
    use crate::volume::slice::Plane;

    let (gpu, queue) = (&render_state.device, &render_state.queue);
    let shape = volume.spatial_shape();
    let grid = Grid::new(shape, [0, 1, 2].map(|a| volume.pixdim[a]));
    let mut map_volume =
        crate::store::label_maps::map_volume(volume, vec![0u8; grid.voxel_count()]);
    let started = Instant::now();
    let gpu_labels = GpuLabels::upload(gpu, queue, &map_volume);
    let _ = gpu.poll(wgpu::PollType::wait_indefinitely());
    let full_upload = started.elapsed();
    let gpu_volume = GpuVolume::upload(gpu, queue, volume, 0)?;
    let mut counts = paint::count_labels(match &map_volume.data {
        crate::volume::VoxelData::U8(v) => v,
        _ => &[],
    });
    let mut stroke = StrokeBuilder::default();
    let k = shape[2] / 2;
    let mut step_times = Vec::new();
    let mut frame_times = Vec::new();
    let canonical_grid = CanonicalGrid::new(&volume.world_from_voxel);
    let canonical = canonical_grid.shape(shape);
    let mut touched = 0usize;
    for step in 0..steps {
        let at = [
            (shape[0] / 4 + step * 2 % (shape[0] / 2)) as f64,
            (shape[1] / 2) as f64,
            k as f64,
        ];
        let frame = PlaneFrame::across(2, at);
        let started = Instant::now();
        let voxels = paint::brush(&grid, &frame, at, 5.0, BrushShape::Disk)?;
        let crate::volume::VoxelData::U8(map) = &mut map_volume.data else {
            anyhow::bail!("label map is not uint8");
        };
        let changed: Option<VoxelBox> = paint::apply(
            map,
            &grid,
            &voxels,
            1 + (step % 3) as u8,
            PaintOver::All,
            &mut stroke,
            &mut counts,
        );
        if let Some(b) = changed {
            touched += b.size().iter().product::<usize>();
            gpu_labels.write_box(queue, &map_volume, b.min, b.size());
        }
        queue.submit([]);
        let _ = gpu.poll(wgpu::PollType::wait_indefinitely());
        step_times.push(started.elapsed());

        let started = Instant::now();
        for plane in Plane::ALL {
            let spec = ViewSpec {
                focus: canonical.map(|n| (n as f64 - 1.0) / 2.0),
                ..ViewSpec::new(plane, canonical.map(|n| (n / 2) as f64))
            };
            let params = SliceParams {
                geometry: spec.geometry(
                    &canonical_grid,
                    shape,
                    [volume.pixdim[0], volume.pixdim[1], volume.pixdim[2]],
                    [512.0, 512.0],
                ),
                size_px: [512, 512],
                window: WindowLevel {
                    center: 40.0,
                    width: 400.0,
                },
                interpolation: Interpolation::Linear,
                scaling: volume.scaling,
                overlay: Some((0.5, false)),
            };
            renderer.render_offscreen(gpu, queue, &gpu_volume, Some(&gpu_labels), &params)?;
        }
        frame_times.push(started.elapsed());
    }
    step_times.sort();
    frame_times.sort();
    // What a stroke end costs: the whole map gzipped and written atomically
    // (temporary file, fsync, rename), as the window and `loupe paint` save it.
    let save_path = std::env::temp_dir().join("loupe-bench-render/paint_labels.nii.gz");
    let started = Instant::now();
    let bytes = crate::volume::nifti::encode_nifti1(&map_volume, true)?;
    crate::durable::write_atomic(&save_path, &bytes)?;
    let save = started.elapsed();
    let _ = std::fs::remove_file(&save_path);
    println!();
    println!(
        "Painting a {}×{}×{} label map (5 mm disk brush, {steps} steps):",
        shape[0], shape[1], shape[2]
    );
    println!("| what | median ms | p95 ms |");
    println!("|---|---:|---:|");
    println!(
        "| brush step: voxels + map edit + edited box to the GPU ({} voxels per box on average) | {:.2} | {:.2} |",
        touched / steps.max(1),
        percentile(&step_times, 0.5).as_secs_f64() * 1e3,
        percentile(&step_times, 0.95).as_secs_f64() * 1e3,
    );
    println!(
        "| whole map uploaded again (what a step would cost without box writes) | {:.1} | |",
        full_upload.as_secs_f64() * 1e3
    );
    println!(
        "| stroke end: the whole map gzipped and written atomically ({:.1} MB on disk) | {:.1} | |",
        bytes.len() as f64 / 1e6,
        save.as_secs_f64() * 1e3
    );
    println!(
        "| tri-planar frame with the overlay (three 512² views, read back) | {:.1} | {:.1} |",
        percentile(&frame_times, 0.5).as_secs_f64() * 1e3,
        percentile(&frame_times, 0.95).as_secs_f64() * 1e3,
    );
    Ok(())
}

fn render(size: usize, frames: usize) -> anyhow::Result<()> {
    use crate::render::cpu::{self, Interpolation, RenderOptions, WindowLevel};
    use crate::render::gpu::{GpuVolume, SliceParams, SliceRenderer};
    use crate::render::view::{ViewGeometry, ViewSpec};
    use crate::volume::CanonicalGrid;
    use crate::volume::slice::{Convention, Plane};

    let dir = std::env::temp_dir().join("loupe-bench-render");
    std::fs::create_dir_all(&dir)?;
    let cube_path = dir.join(format!("phantom_{size}.nii"));
    let cube = phantom::ct_phantom(size, 11);
    nifti::write_nifti1(&cube, &cube_path)?;
    let mut volumes = vec![(format!("generated {size}³ int16"), cube)];
    let mni = Path::new("../shared/data/nifti/mni152_t1.nii.gz");
    if mni.exists() {
        volumes.push(("MNI152 197×233×189 uint8".into(), volume::load(mni)?));
    }
    let render_state =
        crate::render::device::headless_render_state().map_err(|e| anyhow::anyhow!(e))?;
    let (gpu, queue) = (&render_state.device, &render_state.queue);
    let adapter = render_state.adapter.get_info();
    let mut renderer = SliceRenderer::new(gpu, queue);
    let window = WindowLevel {
        center: 40.0,
        width: 400.0,
    };
    let view_px = 512u32;

    println!("GPU: {} ({:?})", adapter.name, adapter.backend);
    println!(
        "| volume | upload ms | tri-planar frame ms, median (p95) | CPU reference ms per 512² slice, median |"
    );
    println!("|---|---:|---:|---:|");
    for (name, volume) in &volumes {
        let started = Instant::now();
        let gpu_volume = GpuVolume::upload(gpu, queue, volume, 0)?;
        let _ = gpu.poll(wgpu::PollType::wait_indefinitely());
        let upload = started.elapsed();
        let grid = CanonicalGrid::new(&volume.world_from_voxel);
        let shape = volume.spatial_shape();
        let canonical = grid.shape(shape);
        let spacing = [volume.pixdim[0], volume.pixdim[1], volume.pixdim[2]];
        let mut times = Vec::with_capacity(frames);
        for frame in 0..frames {
            // Scrolling: the crosshair moves one slice per frame in every view.
            let crosshair = canonical.map(|n| ((n / 4 + frame) % n) as f64);
            let started = Instant::now();
            for plane in Plane::ALL {
                let spec = ViewSpec {
                    focus: canonical.map(|n| (n as f64 - 1.0) / 2.0),
                    ..ViewSpec::new(plane, crosshair)
                };
                let geometry =
                    spec.geometry(&grid, shape, spacing, [view_px as f64, view_px as f64]);
                let params = SliceParams {
                    geometry,
                    size_px: [view_px, view_px],
                    window,
                    interpolation: Interpolation::Linear,
                    scaling: volume.scaling,
                    overlay: None,
                };
                renderer.render_offscreen(gpu, queue, &gpu_volume, None, &params)?;
            }
            times.push(started.elapsed());
        }
        times.sort();
        let mut cpu_times = Vec::new();
        for k in 0..10 {
            let index = (canonical[2] / 3 + k) % canonical[2];
            let (geometry, w, h) = ViewGeometry::orthogonal_slice(
                &grid,
                shape,
                Plane::Axial,
                index,
                Convention::Radiological,
            );
            // Scale the figure to a 512² slice.
            let options = RenderOptions {
                window,
                interpolation: Interpolation::Nearest,
                time: 0,
            };
            let started = Instant::now();
            let pixels = cpu::render_view(volume, &geometry, w, h, &options, None);
            let elapsed = started.elapsed().as_secs_f64() * (512.0 * 512.0) / (w * h) as f64;
            std::hint::black_box(pixels);
            cpu_times.push(Duration::from_secs_f64(elapsed));
        }
        cpu_times.sort();
        println!(
            "| {name} | {:.0} | {:.1} ({:.1}) | {:.2} |",
            upload.as_secs_f64() * 1e3,
            percentile(&times, 0.5).as_secs_f64() * 1e3,
            percentile(&times, 0.95).as_secs_f64() * 1e3,
            percentile(&cpu_times, 0.5).as_secs_f64() * 1e3,
        );
    }
    println!(
        "(frame: three {view_px}² views, linear interpolation, rendered offscreen and read back, wall time)"
    );
    paint_steps(&render_state, &mut renderer, &volumes[0].1, frames.max(10))?;

    // The peer: the same slicing and windowing in numpy, if it is installed.
    let script = format!(
        "import numpy as np, time\n\
         v = np.fromfile('{}', dtype='<i2', offset=352).reshape(({size},{size},{size}), order='F')\n\
         c, w = 40.0, 400.0\n\
         ts = []\n\
         for k in range(10):\n\
         \x20   t = time.perf_counter()\n\
         \x20   s = v[::-1, ::-1, {size} // 3 + k].T.astype(np.float64)\n\
         \x20   g = np.floor(np.clip((s - (c - w / 2)) / w, 0, 1) * 255 + 0.5).astype(np.uint8)\n\
         \x20   ts.append(time.perf_counter() - t)\n\
         ts.sort()\n\
         print('%.2f' % (ts[len(ts) // 2] * 1e3 * (512 * 512) / ({size} * {size})))\n",
        cube_path.display()
    );
    match std::process::Command::new("python3")
        .arg("-c")
        .arg(&script)
        .output()
    {
        Ok(out) if out.status.success() => println!(
            "numpy peer: {} ms per 512² axial slice (slice + window to uint8), numpy {}",
            String::from_utf8_lossy(&out.stdout).trim(),
            std::process::Command::new("python3")
                .args(["-c", "import numpy; print(numpy.__version__)"])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
                .unwrap_or_default()
        ),
        _ => println!("numpy peer: not run (python3 with numpy not found)"),
    }
    Ok(())
}
