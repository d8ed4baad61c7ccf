//! `loupe bench training`: optimizer-step throughput on each device, with the
//! PyTorch peer, through the same trainers as every run — the 2-D
//! classifier (ResNet-18-style, the default model), the 3-D teacher of
//! cross-modal distillation and the 2-D and 3-D U-Nets (`--networks`).

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Instant;

use burn::tensor::{Distribution, Tensor};

use super::common::{StepShape, threads_option, within};
use crate::train::classify::{Trainer, TrainingData};
use crate::train::config::{Method, TrainConfig};
use crate::train::data::Images;
use crate::train::device::{self, ComputeDevice};
use crate::train::methods;
use crate::train::models::ModelKind;
use crate::train::segmentation::SegTrainer;
use crate::train::segmentation::data::{SegCase, SegData};
use crate::train::step::Stepper;

/// The PyTorch peer: the same network, augmentation, loss and optimizer.
const TORCH_PEER: &str = include_str!("../../../bench/torch_peer.py");

/// A network `loupe bench training` times (`--networks`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Network {
    /// The default 2-D classifier at `--input-size`, `--width`, `--batch`.
    Resnet18,
    /// The 3-D teacher of cross-modal distillation at the lung demo's settings.
    I3d,
    /// The 2-D U-Net on axial slices at the brain-tumour demo's settings.
    Unet2d,
    /// The 3-D U-Net on whole 32³ volumes of four sequences.
    Unet3d,
}

impl Network {
    pub const ALL: [Network; 4] = [
        Network::Resnet18,
        Network::I3d,
        Network::Unet2d,
        Network::Unet3d,
    ];

    /// The name in `--networks` and in the JSON rows.
    pub fn name(self) -> &'static str {
        match self {
            Network::Resnet18 => "resnet18",
            Network::I3d => "i3d",
            Network::Unet2d => "unet2d",
            Network::Unet3d => "unet3d",
        }
    }

    /// The methods timed on it: the classifier's two, the others' one.
    fn methods(self) -> Vec<Method> {
        match self {
            Network::Resnet18 => vec![methods::supervised::METHOD, methods::mean_teacher::METHOD],
            Network::I3d => vec![methods::supervised::METHOD],
            Network::Unet2d | Network::Unet3d => vec![methods::segmentation::METHOD],
        }
    }

    /// What one sample of its batch is.
    fn unit(self) -> &'static str {
        match self {
            Network::Resnet18 => "images",
            Network::I3d | Network::Unet3d => "volumes",
            Network::Unet2d => "slices",
        }
    }

    /// The 3-D U-Net's volume edge (whole volumes; the brain-tumour bench's
    /// 3-D grid — a 64³ grid took five minutes an epoch on two cores).
    const UNET3D_EDGE: usize = 32;
    /// The 3-D U-Net's batch (the 3-D ProtoKD bench's).
    const UNET3D_BATCH: usize = 4;

    /// The run configuration the row trains with: the ResNet at the
    /// command line's shape; the others at their demos' settings (the lung
    /// demo's teacher, the brain-tumour demo's preset with all four
    /// sequences, as ProtoKD's teacher reads them).
    fn config(self, method: Method, s: &ThroughputSettings) -> TrainConfig {
        match self {
            Network::Resnet18 => TrainConfig {
                method,
                input_size: s.input_size,
                width: s.width,
                batch_size: s.batch,
                labeled_per_batch: if method == methods::supervised::METHOD {
                    s.batch
                } else {
                    (s.batch / 4).max(1)
                },
                validation_fraction: 0.0,
                epochs: 1,
                ..TrainConfig::method_reference()
            },
            Network::I3d => TrainConfig {
                method,
                validation_fraction: 0.0,
                ..super::kd::teacher_config()
            },
            Network::Unet2d => TrainConfig {
                method,
                ..super::protokd::default_config()
            },
            Network::Unet3d => TrainConfig {
                method,
                model: ModelKind::Unet3d,
                input_size: Self::UNET3D_EDGE,
                batch_size: Self::UNET3D_BATCH,
                labeled_per_batch: Self::UNET3D_BATCH,
                ..super::protokd::default_config()
            },
        }
    }

    /// A sentence saying what the row trains.
    fn describe(self, config: &TrainConfig) -> String {
        let (edge, width, batch) = (config.input_size, config.width, config.batch_size);
        match self {
            Network::Resnet18 => format!(
                "resnet18: ResNet-18-style, width {width}, input {edge} px, batch {batch}, Adam"
            ),
            Network::I3d => format!(
                "i3d: the 3-D teacher (lung demo), CT {edge}³, width {width}, batch {batch}, cross-entropy, Adam"
            ),
            Network::Unet2d => format!(
                "unet2d: 2-D U-Net (brain-tumour demo), {} sequences, slices {edge}², width {width}, batch {batch}, CE + Dice, Adam",
                config.modalities.len()
            ),
            Network::Unet3d => format!(
                "unet3d: 3-D U-Net, {} sequences, whole volumes {edge}³, width {width}, batch {batch}, CE + Dice, Adam",
                config.modalities.len()
            ),
        }
    }
}

/// Settings of the throughput benchmark.
pub struct ThroughputSettings {
    pub networks: Vec<Network>,
    pub input_size: usize,
    pub width: usize,
    pub batch: usize,
    pub steps: usize,
    pub python: String,
    /// CPU threads for the `flex` rows.
    pub threads: usize,
}

struct Throughput {
    median_step_seconds: f64,
    /// Samples (images, slices or volumes) per second.
    images_per_second: f64,
    /// Each phase of the step (`train::phases`), mean seconds over the
    /// timed steps, in the order the step runs them (empty for the peer).
    phases: Vec<(&'static str, f64)>,
    /// Of the phases' time, each of Loupe's CPU kernels' (the same means).
    kernels: Vec<(&'static str, f64)>,
    /// The process's peak resident memory during the steps, and how much of
    /// it the steps added to what was resident before them, MiB.
    peak_resident_mib: Option<f64>,
    steps_resident_mib: Option<f64>,
}

/// `count` random samples of `shape` (`[3, size, size]` images or
/// `[D, H, W]` volumes) with labels cycling over `classes`.
fn random_images(count: usize, shape: [usize; 3], classes: usize, labeled: bool) -> Images {
    let pixels: Vec<f32> = Tensor::<1>::random(
        [count * shape.iter().product::<usize>()],
        Distribution::Uniform(-1.0, 1.0),
        &burn::tensor::Device::flex(),
    )
    .into_data()
    .try_to_vec::<f32>()
    .unwrap_or_default();
    Images {
        ids: (0..count as i64).collect(),
        labels: (0..count).map(|i| labeled.then_some(i % classes)).collect(),
        pixels,
        shape,
        guidance: Vec::new(),
        groups: Vec::new(),
    }
}

/// `count` cases of random sequences on `config`'s grid, every voxel a
/// random one of the four BraTS classes (the speed of a step does not
/// depend on what the voxels hold).
fn random_cases(config: &TrainConfig, count: usize) -> SegData {
    let edge = config.input_size;
    let voxels = edge.pow(3);
    let mut rng = crate::rng::Rng::new(7);
    let labeled = (0..count)
        .map(|i| SegCase {
            id: i as i64,
            name: format!("case {i}"),
            grid_path: std::path::PathBuf::new(),
            native_shape: [edge; 3],
            sequences: (0..config.modalities.len() * voxels)
                .map(|_| rng.normal() as f32)
                .collect(),
            classes: Some((0..voxels).map(|_| rng.below(4) as u8).collect()),
            truth: None,
            tissue_slices: (0..edge).collect(),
            labeled_slices: (0..edge).collect(),
        })
        .collect();
    SegData {
        roles: config.modalities.clone(),
        edge,
        label_values: vec![0, 1, 2, 4],
        labeled,
        ..SegData::default()
    }
}

/// Times `steps` calls of `step` after two untimed ones (the first
/// compiles the GPU kernels), each reading its loss back so that the time
/// includes the device's work; `batch` samples a step.
fn time_loop(
    batch: usize,
    steps: usize,
    mut step: impl FnMut() -> anyhow::Result<()>,
) -> anyhow::Result<Throughput> {
    let mut seconds = Vec::with_capacity(steps);
    let mut phases: Vec<(&'static str, f64)> = Vec::new();
    let mut kernels: Vec<(&'static str, f64)> = Vec::new();
    // Resident memory from here: what is in use (free heap handed back,
    // so an earlier row's kept memory does not count), then the steps' peak.
    let _measuring = crate::allocator::measuring_peak();
    crate::allocator::release_free_memory();
    let before = crate::allocator::reset_peak_resident()
        .then(crate::allocator::resident_mib)
        .flatten();
    for round in 0..steps + 2 {
        crate::train::phases::start();
        let started = Instant::now();
        step()?;
        let elapsed = started.elapsed().as_secs_f64();
        let (spent, in_kernels) = crate::train::phases::finish_with_kernels();
        if round >= 2 {
            seconds.push(elapsed);
            for (totals, spent) in [(&mut phases, spent), (&mut kernels, in_kernels)] {
                for (name, time) in spent {
                    match totals.iter_mut().find(|(n, _)| *n == name) {
                        Some((_, total)) => *total += time.as_secs_f64(),
                        None => totals.push((name, time.as_secs_f64())),
                    }
                }
            }
        }
    }
    let timed = seconds.len().max(1) as f64;
    for (_, total) in phases.iter_mut().chain(kernels.iter_mut()) {
        *total /= timed;
    }
    seconds.sort_by(f64::total_cmp);
    let median = seconds.get(seconds.len() / 2).copied().unwrap_or(f64::NAN);
    let peak = before
        .and(crate::allocator::resident_mib())
        .map(|(_, peak)| peak);
    Ok(Throughput {
        median_step_seconds: median,
        images_per_second: batch as f64 / median,
        phases,
        kernels,
        peak_resident_mib: peak,
        steps_resident_mib: peak.zip(before).map(|(peak, (now, _))| peak - now),
    })
}

/// Times `steps` steps of the run `config` describes by its trainer: the
/// classifying `Trainer` on random images or volumes (a supervised step
/// reads a whole labeled batch, a mean-teacher step a quarter labeled), or
/// the `SegTrainer` on random cases.
fn time_steps(
    compute: &ComputeDevice,
    config: TrainConfig,
    steps: usize,
) -> anyhow::Result<Throughput> {
    let batch = config.batch_size;
    let method = config.method;
    let stepper = methods::declaration(method)
        .map(|d| (d.build)())
        .ok_or_else(|| anyhow::anyhow!("{} is not a declared method", method.name()))?;
    match stepper {
        Stepper::Classify(step) => {
            let classes = 4;
            let edge = config.input_size;
            let shape = if config.model == ModelKind::I3d {
                [edge; 3]
            } else {
                crate::train::data::image_shape(edge)
            };
            let data = TrainingData {
                classes: (0..classes).map(|c| c.to_string()).collect(),
                labeled: random_images(batch, shape, classes, true),
                validation: Images::default(),
                unlabeled: random_images(batch, shape, classes, false),
                test: Images::default(),
            };
            let mut trainer = Trainer::new(config, data, &compute.device, step, None)?;
            time_loop(batch, steps, || {
                let order = trainer.shuffle_epoch();
                trainer.step(0, 0, &order)?;
                Ok(())
            })
        }
        Stepper::Segment(step) => {
            // Whole volumes: one sample a case; slices: a case gives many.
            let cases = if config.model == ModelKind::Unet3d {
                batch
            } else {
                2
            };
            let data = random_cases(&config, cases);
            let mut trainer = SegTrainer::new(config, data, &compute.device, step, None)?;
            let samples = trainer.draw_epoch();
            anyhow::ensure!(samples.len() >= batch, "too few samples for a batch");
            time_loop(batch, steps, || {
                trainer.step(&samples[..batch], 0)?;
                Ok(())
            })
        }
    }
}

/// One row of the PyTorch peer: `config`'s network and method.
fn torch_peer(
    s: &ThroughputSettings,
    network: Network,
    config: &TrainConfig,
) -> Result<(String, String, Throughput), String> {
    let channels = match network {
        Network::Resnet18 => 3,
        Network::I3d => config.input_size,
        Network::Unet2d | Network::Unet3d => config.modalities.len(),
    };
    let mut child = Command::new(&s.python)
        .args([
            "-",
            "--network",
            network.name(),
            "--method",
            config.method.name(),
            "--input-size",
            &config.input_size.to_string(),
            "--channels",
            &channels.to_string(),
            "--width",
            &config.width.to_string(),
            "--batch",
            &config.batch_size.to_string(),
            "--learning-rate",
            &config.learning_rate.to_string(),
            "--steps",
            &s.steps.to_string(),
            "--threads",
            &s.threads.to_string(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", s.python))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(TORCH_PEER.as_bytes())
            .map_err(|e| e.to_string())?;
    }
    let output = child.wait_with_output().map_err(|e| e.to_string())?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr.lines().last().unwrap_or("no output").to_string();
        return Err(format!("{} failed: {last}", s.python));
    }
    let value: serde_json::Value = serde_json::from_slice(&output.stdout)
        .map_err(|e| format!("unreadable peer output: {e}"))?;
    let number = |k: &str| value[k].as_f64().unwrap_or(f64::NAN);
    let version = value["torch"].as_str().unwrap_or("?").to_string();
    Ok((
        format!(
            "PyTorch {} ({}, {} threads)",
            version,
            value["device"].as_str().unwrap_or("?"),
            value["threads"]
        ),
        version,
        Throughput {
            median_step_seconds: number("median_step_seconds"),
            images_per_second: number("images_per_second"),
            phases: Vec::new(),
            kernels: Vec::new(),
            peak_resident_mib: value["peak_resident_mib"].as_f64(),
            steps_resident_mib: value["steps_resident_mib"].as_f64(),
        },
    ))
}

/// A device rows are timed on: its name in the table, Loupe's CPU kernels
/// on or off, and whether its phases are printed (flex runs each op as it
/// is called, so the phases are its own).
struct RowDevice {
    compute: ComputeDevice,
    name: String,
    kernels: bool,
    traced: bool,
    /// On the CPU (every network is timed there; wgpu times the ResNet only).
    cpu: bool,
}

/// Steps per second of one training step of every network asked for, on
/// every device Loupe can train on, beside PyTorch. With `json`, one object
/// goes to standard output and the table to standard error.
pub fn throughput(s: &ThroughputSettings, json: bool) -> anyhow::Result<()> {
    anyhow::ensure!(s.batch >= 2, "the batch needs at least 2 images");
    let say = |line: String| {
        if json {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    };
    say(format!(
        "Median of {} steps after 2 warm-up steps; {} CPU threads; CPU matrix products on {} (chosen at run time)",
        s.steps,
        s.threads,
        crate::train::kernels::matrix_simd()
    ));
    let devices = row_devices(s, &say);
    say(format!(
        "{:<9} {:<72} {:<14} {:>10} {:>10} {:>14} {:>12}",
        "network", "device", "method", "ms/step", "samples/s", "peak RSS MiB", "steps add"
    ));
    let mut rows = Vec::new();
    let mut peer_rows = Vec::new();
    let mut traced = Vec::new();
    let mut ratios = Vec::new();
    let mut peer_name = None;
    let mut peer_error = None;
    let kernels_were = crate::train::kernels::enabled();
    for &network in &s.networks {
        say(network.describe(&network.config(network.methods()[0], s)));
        for device in devices
            .iter()
            .filter(|d| d.cpu || network == Network::Resnet18)
        {
            crate::train::kernels::set_enabled(device.kernels);
            for method in network.methods() {
                let config = network.config(method, s);
                let timed = crate::train::threads::with_threads(s.threads, || {
                    time_steps(&device.compute, config, s.steps)
                })??;
                rows.push(row(&say, s, network, &device.name, method.name(), &timed));
                if device.traced {
                    traced.push((network, method.name(), timed));
                }
            }
        }
        crate::train::kernels::set_enabled(kernels_were);
        for method in network.methods() {
            match torch_peer(s, network, &network.config(method, s)) {
                Ok((name, version, t)) => {
                    peer_rows.push(row(&say, s, network, &name, method.name(), &t));
                    peer_name = Some(version);
                    // Loupe's CPU kernels over the peer (the same run).
                    let loupe = traced
                        .iter()
                        .find(|(n, m, _)| *n == network && *m == method.name())
                        .map(|(_, _, t)| t.images_per_second);
                    if let Some(loupe) = loupe.filter(|_| t.images_per_second > 0.0) {
                        ratios.push((network, method.name(), loupe / t.images_per_second));
                    }
                }
                Err(e) => {
                    say(format!(
                        "PyTorch peer, {} {}: not measured ({e})",
                        network.name(),
                        method.name()
                    ));
                    peer_error = Some(e);
                }
            }
        }
    }
    crate::train::kernels::set_enabled(kernels_were);
    for (network, method, timed) in &traced {
        print_phases(&say, *network, method, timed);
    }
    for (network, method, ratio) in &ratios {
        say(format!(
            "flex, Loupe's kernels ÷ PyTorch, {} {method}: {ratio:.2}",
            network.name()
        ));
    }
    if json {
        let peer =
            serde_json::json!({ "torch": peer_name, "rows": peer_rows, "error": peer_error });
        println!("{}", json_output(rows, peer, &ratios));
    }
    Ok(())
}

/// The devices rows are timed on: flex with Loupe's kernels and with
/// Burn's, and the display's wgpu device when the ResNet is asked for.
fn row_devices(s: &ThroughputSettings, say: &impl Fn(String)) -> Vec<RowDevice> {
    let mut devices = vec![
        RowDevice {
            compute: device::flex(),
            name: "flex (CPU), Loupe's kernels".into(),
            kernels: true,
            traced: true,
            cpu: true,
        },
        RowDevice {
            compute: device::flex(),
            name: "flex (CPU), Burn's convolution".into(),
            kernels: false,
            traced: false,
            cpu: true,
        },
    ];
    // The wgpu device times the ResNet only: on a software renderer a 3-D
    // step takes minutes.
    if s.networks.contains(&Network::Resnet18) {
        match crate::render::device::headless_render_state()
            .map_err(|e| e.to_string())
            .and_then(|state| {
                crate::app::training::display_compute(&state).map_err(|e| e.to_string())
            }) {
            Ok(compute) => devices.push(RowDevice {
                name: compute.description.clone(),
                compute,
                kernels: true,
                traced: false,
                cpu: false,
            }),
            Err(e) => say(format!("wgpu: not measured ({e})")),
        }
    }
    devices
}

/// Where a traced row's step went: each phase, and within them each of
/// Loupe's kernels and the rest.
fn print_phases(say: &impl Fn(String), network: Network, method: &str, timed: &Throughput) {
    say(format!(
        "  flex, Loupe's kernels, {} {method}: phases of the step, mean ms over the timed steps",
        network.name()
    ));
    for (phase, seconds) in &timed.phases {
        say(format!("    {phase:<32} {:>8.1}", seconds * 1e3));
    }
    let listed: f64 = timed.phases.iter().map(|(_, s)| s).sum();
    say(format!(
        "    {:<32} {:>8.1}",
        "sum of the phases",
        listed * 1e3
    ));
    say("    of which in Loupe's CPU kernels:".to_string());
    for (kernel, seconds) in &timed.kernels {
        say(format!("      {kernel:<30} {:>8.1}", seconds * 1e3));
    }
    let in_kernels: f64 = timed.kernels.iter().map(|(_, s)| s).sum();
    say(format!(
        "      {:<30} {:>8.1}",
        "the rest (Burn's operations)",
        (listed - in_kernels) * 1e3
    ));
}

/// The `--json` object: every row, the peer's, and the ratios —
/// `loupe_over_peer` keeps its first shape (the ResNet's methods),
/// `ratios` holds every network's.
fn json_output(
    rows: Vec<serde_json::Value>,
    peer: serde_json::Value,
    ratios: &[(Network, &str, f64)],
) -> serde_json::Value {
    let resnet: serde_json::Map<String, serde_json::Value> = ratios
        .iter()
        .filter(|(n, _, _)| *n == Network::Resnet18)
        .map(|(_, m, r)| ((*m).to_string(), (*r).into()))
        .collect();
    let every: Vec<serde_json::Value> = ratios
        .iter()
        .map(
            |(n, m, r)| serde_json::json!({"network": n.name(), "method": m, "loupe_over_peer": r}),
        )
        .collect();
    serde_json::json!({
        "rows": rows,
        "peer": peer,
        "matrix_simd": crate::train::kernels::matrix_simd(),
        "loupe_over_peer": resnet,
        "ratios": every,
    })
}

/// Prints one row of the table and gives its JSON object.
fn row(
    say: &impl Fn(String),
    s: &ThroughputSettings,
    network: Network,
    name: &str,
    method: &str,
    t: &Throughput,
) -> serde_json::Value {
    let mib = |v: Option<f64>| v.map_or("–".to_string(), |v| format!("{v:.0}"));
    say(format!(
        "{:<9} {:<72} {:<14} {:>10.1} {:>10.1} {:>14} {:>12}",
        network.name(),
        name,
        method,
        t.median_step_seconds * 1e3,
        t.images_per_second,
        mib(t.peak_resident_mib),
        mib(t.steps_resident_mib),
    ));
    let milliseconds =
        |times: &[(&'static str, f64)]| -> serde_json::Map<String, serde_json::Value> {
            times
                .iter()
                .map(|(name, seconds)| ((*name).to_string(), (seconds * 1e3).into()))
                .collect()
        };
    serde_json::json!({
        "device": name,
        "network": network.name(),
        "method": method,
        "unit": network.unit(),
        "ms_per_step": t.median_step_seconds * 1e3,
        // Samples per second: images, slices or volumes (`unit`).
        "images_per_s": t.images_per_second,
        "threads": s.threads,
        "phases_ms": milliseconds(&t.phases),
        // Of the phases' time, Loupe's CPU kernels' (empty for the peer).
        "kernels_ms": milliseconds(&t.kernels),
        "peak_resident_mib": t.peak_resident_mib,
        "steps_resident_mib": t.steps_resident_mib,
    })
}

/// Training throughput: samples/s of one optimizer step on the CPU (flex),
/// on the wgpu device, and of the same network in PyTorch on the same machine.
#[derive(Debug, clap::Args)]
pub struct TrainingArgs {
    /// The ResNet row's step (the other networks train at their demos' settings).
    #[command(flatten)]
    pub step: StepShape,
    /// Networks to time, comma-separated: resnet18 (the default 2-D
    /// classifier), i3d (the 3-D CT teacher, 40³), unet2d, unet3d.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "resnet18,i3d,unet2d,unet3d"
    )]
    pub networks: Vec<Network>,
    /// Timed steps per device and method (the median is reported).
    #[arg(long, default_value_t = 10)]
    pub steps: usize,
    /// Python with PyTorch for the peer (skipped with a note if it cannot import torch).
    #[arg(long, env = "LOUPE_TORCH_PYTHON", default_value = "python3")]
    pub python: String,
    /// CPU threads for the `flex` rows (default: every core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// One JSON object on standard output (the table goes to standard error).
    #[arg(long)]
    pub json: bool,
}

pub fn run_throughput(args: &TrainingArgs) -> anyhow::Result<()> {
    let TrainingArgs {
        step,
        networks,
        steps,
        python,
        threads,
        json,
    } = args;
    let (input_size, width, batch) = step.checked()?;
    anyhow::ensure!(!networks.is_empty(), "--networks names no network");
    let mut unique: Vec<Network> = Vec::new();
    for network in networks {
        if !unique.contains(network) {
            unique.push(*network);
        }
    }
    throughput(
        &ThroughputSettings {
            networks: unique,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every network's row trains by its own trainer on flex, here shrunk
    /// (16 px / 16³, batch 2) so that the test stays short.
    #[test]
    fn every_network_is_timed_on_flex() {
        let settings = ThroughputSettings {
            networks: Network::ALL.to_vec(),
            input_size: 16,
            width: 2,
            batch: 4,
            steps: 1,
            python: String::new(),
            threads: 1,
        };
        for network in Network::ALL {
            for method in network.methods() {
                let mut config = network.config(method, &settings);
                if network != Network::Resnet18 {
                    config.input_size = 16;
                    config.width = 2;
                    config.batch_size = 2;
                    config.labeled_per_batch = 2;
                }
                let t = time_steps(&device::flex(), config, 1).unwrap();
                assert!(
                    t.images_per_second.is_finite() && t.images_per_second > 0.0,
                    "{} {}",
                    network.name(),
                    method.name()
                );
            }
        }
    }

    #[test]
    fn network_names_are_the_command_lines() {
        use clap::ValueEnum;
        for network in Network::ALL {
            let value = network.to_possible_value().unwrap();
            assert_eq!(value.get_name(), network.name());
        }
    }
}
