//! `loupe bench training`: optimizer-step throughput on each device, with the
//! PyTorch peer, through the same `Trainer` as every run.

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
use crate::train::step::Stepper;

/// The PyTorch peer: the same network, augmentation, loss and optimizer.
const TORCH_PEER: &str = include_str!("../../../bench/torch_peer.py");

/// Settings of the throughput benchmark.
pub struct ThroughputSettings {
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
    images_per_second: f64,
    /// Each phase of the step (`train::phases`), mean seconds over the
    /// timed steps, in the order the step runs them (empty for the peer).
    phases: Vec<(&'static str, f64)>,
    /// The process's peak resident memory during the steps, and how much of
    /// it the steps added to what was resident before them, MiB.
    peak_resident_mib: Option<f64>,
    steps_resident_mib: Option<f64>,
}

/// `count` random images of `size` pixels with labels cycling over `classes`.
fn random_images(count: usize, size: usize, classes: usize, labeled: bool) -> Images {
    let pixels: Vec<f32> = Tensor::<1>::random(
        [count * 3 * size * size],
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
        shape: crate::train::data::image_shape(size),
        guidance: Vec::new(),
        groups: Vec::new(),
    }
}

/// Times `steps` steps of `method` by the `Trainer`, after two untimed ones
/// (the first compiles the GPU kernels). A supervised step reads a whole
/// batch of labeled images; a mean-teacher step a quarter labeled.
fn time_steps(
    compute: &ComputeDevice,
    method: Method,
    s: &ThroughputSettings,
) -> anyhow::Result<Throughput> {
    let classes = 4;
    let labeled_per_batch = if method == methods::supervised::METHOD {
        s.batch
    } else {
        (s.batch / 4).max(1)
    };
    let config = TrainConfig {
        method,
        input_size: s.input_size,
        width: s.width,
        batch_size: s.batch,
        labeled_per_batch,
        validation_fraction: 0.0,
        epochs: 1,
        ..TrainConfig::method_reference()
    };
    let data = TrainingData {
        classes: (0..classes).map(|c| c.to_string()).collect(),
        labeled: random_images(s.batch, s.input_size, classes, true),
        validation: Images::default(),
        unlabeled: random_images(s.batch, s.input_size, classes, false),
        test: Images::default(),
    };
    let mut trainer = Trainer::new(
        config,
        data,
        &compute.device,
        match methods::declaration(method).map(|d| (d.build)()) {
            Some(Stepper::Classify(step)) => step,
            _ => anyhow::bail!("{} does not classify", method.name()),
        },
        None,
    )?;
    let mut seconds = Vec::with_capacity(s.steps);
    let mut phases: Vec<(&'static str, f64)> = Vec::new();
    // Resident memory from here: what is in use (free heap handed back,
    // so an earlier row's kept memory does not count), then the steps' peak.
    crate::allocator::release_free_memory();
    let before = crate::allocator::reset_peak_resident()
        .then(crate::allocator::resident_mib)
        .flatten();
    for step in 0..s.steps + 2 {
        let order = trainer.shuffle_epoch();
        crate::train::phases::start();
        let started = Instant::now();
        // Each step reads its loss back, so the time includes the device's work.
        trainer.step(0, 0, &order)?;
        let elapsed = started.elapsed().as_secs_f64();
        let spent = crate::train::phases::finish();
        if step >= 2 {
            seconds.push(elapsed);
            for (name, time) in spent {
                match phases.iter_mut().find(|(n, _)| *n == name) {
                    Some((_, total)) => *total += time.as_secs_f64(),
                    None => phases.push((name, time.as_secs_f64())),
                }
            }
        }
    }
    let timed = seconds.len().max(1) as f64;
    for (_, total) in &mut phases {
        *total /= timed;
    }
    seconds.sort_by(f64::total_cmp);
    let median = seconds[seconds.len() / 2];
    let peak = before
        .and(crate::allocator::resident_mib())
        .map(|(_, peak)| peak);
    Ok(Throughput {
        median_step_seconds: median,
        images_per_second: s.batch as f64 / median,
        phases,
        peak_resident_mib: peak,
        steps_resident_mib: peak.zip(before).map(|(peak, (now, _))| peak - now),
    })
}

/// One method's step in the PyTorch peer (`supervised` or `mean-teacher`).
fn torch_peer(
    s: &ThroughputSettings,
    method: &str,
) -> Result<(String, String, Throughput), String> {
    let mut child = Command::new(&s.python)
        .args([
            "-",
            "--method",
            method,
            "--input-size",
            &s.input_size.to_string(),
            "--width",
            &s.width.to_string(),
            "--batch",
            &s.batch.to_string(),
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
            peak_resident_mib: value["peak_resident_mib"].as_f64(),
            steps_resident_mib: value["steps_resident_mib"].as_f64(),
        },
    ))
}

/// Images per second of one training step, on every device Loupe can train on, beside PyTorch.
/// With `json`, one object goes to standard output and the table to standard error.
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
        "ResNet-18-style, width {}, input {} px, batch {}, Adam; median of {} steps after 2 warm-up steps; {} CPU threads; CPU matrix products on {} (chosen at run time)",
        s.width,
        s.input_size,
        s.batch,
        s.steps,
        s.threads,
        crate::train::kernels::matrix_simd()
    ));
    say(format!(
        "{:<72} {:<14} {:>10} {:>10} {:>14} {:>12}",
        "device", "method", "ms/step", "images/s", "peak RSS MiB", "steps add"
    ));
    let row = |name: &str, method: &str, t: &Throughput| {
        let mib = |v: Option<f64>| v.map_or("–".to_string(), |v| format!("{v:.0}"));
        say(format!(
            "{:<72} {:<14} {:>10.1} {:>10.1} {:>14} {:>12}",
            name,
            method,
            t.median_step_seconds * 1e3,
            t.images_per_second,
            mib(t.peak_resident_mib),
            mib(t.steps_resident_mib),
        ));
        let phases: serde_json::Map<String, serde_json::Value> = t
            .phases
            .iter()
            .map(|(phase, seconds)| ((*phase).to_string(), (seconds * 1e3).into()))
            .collect();
        serde_json::json!({
            "device": name,
            // The network the row trains (the 3-D and U-Net rows are to come).
            "network": "resnet18",
            "method": method,
            "ms_per_step": t.median_step_seconds * 1e3,
            "images_per_s": t.images_per_second,
            "threads": s.threads,
            "phases_ms": phases,
            "peak_resident_mib": t.peak_resident_mib,
            "steps_resident_mib": t.steps_resident_mib,
        })
    };
    // (device, its name in the table, Loupe's CPU kernels on, its phases
    // printed: flex runs each op as it is called, so the phases are its own).
    let mut devices = vec![
        (
            device::flex(),
            "flex (CPU), Loupe's kernels".to_string(),
            true,
            true,
        ),
        (
            device::flex(),
            "flex (CPU), Burn's convolution".to_string(),
            false,
            false,
        ),
    ];
    match crate::render::device::headless_render_state() {
        Ok(render_state) => match crate::app::training::display_compute(&render_state) {
            Ok(compute) => {
                let name = compute.description.clone();
                devices.push((compute, name, true, false));
            }
            Err(e) => say(format!("wgpu: not measured ({e})")),
        },
        Err(e) => say(format!("wgpu: not measured ({e})")),
    }
    let mut rows = Vec::new();
    let mut traced = Vec::new();
    let kernels_were = crate::train::kernels::enabled();
    for (compute, name, kernels, trace) in &devices {
        crate::train::kernels::set_enabled(*kernels);
        for method in [
            crate::train::methods::supervised::METHOD,
            crate::train::methods::mean_teacher::METHOD,
        ] {
            let timed =
                crate::train::threads::with_threads(s.threads, || time_steps(compute, method, s))??;
            rows.push(row(name, method.name(), &timed));
            if *trace {
                traced.push((method.name(), timed));
            }
        }
    }
    crate::train::kernels::set_enabled(kernels_were);
    for (method, timed) in &traced {
        say(format!(
            "  flex, Loupe's kernels, {method}: phases of the step, mean ms over the timed steps"
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
    }
    let mut peer_rows = Vec::new();
    let mut peer_name = None;
    let mut peer_error = None;
    for method in [
        crate::train::methods::supervised::METHOD,
        crate::train::methods::mean_teacher::METHOD,
    ] {
        match torch_peer(s, method.name()) {
            Ok((name, version, t)) => {
                peer_rows.push(row(&name, method.name(), &t));
                peer_name = Some(version);
            }
            Err(e) => {
                say(format!(
                    "PyTorch peer, {}: not measured ({e})",
                    method.name()
                ));
                peer_error = Some(e);
            }
        }
    }
    // Loupe's CPU kernels over the peer, method by method (the same run).
    let mut ratios = serde_json::Map::new();
    for (method, timed) in &traced {
        let peer = peer_rows
            .iter()
            .find(|r| r["method"] == *method)
            .and_then(|r| r["images_per_s"].as_f64());
        if let Some(peer) = peer.filter(|p| *p > 0.0) {
            let ratio = timed.images_per_second / peer;
            say(format!(
                "flex, Loupe's kernels ÷ PyTorch, {method}: {ratio:.2}"
            ));
            ratios.insert((*method).to_string(), ratio.into());
        }
    }
    let peer = serde_json::json!({ "torch": peer_name, "rows": peer_rows, "error": peer_error });
    if json {
        println!(
            "{}",
            serde_json::json!({
                "rows": rows,
                "peer": peer,
                "matrix_simd": crate::train::kernels::matrix_simd(),
                "loupe_over_peer": ratios,
            })
        );
    }
    Ok(())
}

/// Training throughput: images/s of one optimizer step on the CPU (flex), on the
/// wgpu device, and of the same network in PyTorch on the same machine.
#[derive(Debug, clap::Args)]
pub struct TrainingArgs {
    #[command(flatten)]
    pub step: StepShape,
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
        steps,
        python,
        threads,
        json,
    } = args;
    let (input_size, width, batch) = step.checked()?;
    throughput(
        &ThroughputSettings {
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

    #[test]
    fn steps_are_timed_on_flex() {
        let settings = ThroughputSettings {
            input_size: 16,
            width: 2,
            batch: 4,
            steps: 2,
            python: String::new(),
            threads: 1,
        };
        for method in [
            crate::train::methods::supervised::METHOD,
            crate::train::methods::mean_teacher::METHOD,
        ] {
            let t = time_steps(&device::flex(), method, &settings).unwrap();
            assert!(t.images_per_second.is_finite() && t.images_per_second > 0.0);
        }
    }
}
