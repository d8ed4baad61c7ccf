//! `loupe bench io --dicom`: reading a generated int16 CT series
//! (uncompressed and JPEG lossless) beside pydicom + numpy stacking of the
//! same files (when python3 has pydicom) and dcm2niix's conversion (when
//! installed), as ratios in one run.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::synth::phantom;
use crate::volume::dicom::write::{Encoding, write_ct_series};
use crate::volume::{self, Affine, VoxelData};

/// pydicom reads every file, sorts by position along the normal and stacks
/// with numpy: what a Python user would write.
const PYDICOM_PEER: &str = r#"
import sys, time, glob, numpy as np, pydicom
folder, runs = sys.argv[1], int(sys.argv[2])
times = []
for _ in range(runs):
    t = time.perf_counter()
    ds = [pydicom.dcmread(f) for f in glob.glob(folder + "/*.dcm")]
    o = np.array(ds[0].ImageOrientationPatient, dtype=float)
    n = np.cross(o[:3], o[3:])
    ds.sort(key=lambda d: float(np.dot(n, np.array(d.ImagePositionPatient, dtype=float))))
    v = np.stack([d.pixel_array * float(d.RescaleSlope) + float(d.RescaleIntercept) for d in ds])
    times.append(time.perf_counter() - t)
print(sorted(times)[len(times) // 2])
"#;

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// Writes the series (`rows`² × `slices`) once per encoding, then times each reader.
pub fn run(rows: usize, slices: usize, runs: usize, json_out: bool) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("loupe-bench-dicom-{rows}x{slices}"));
    let mut source = phantom::ct_phantom(rows, 7);
    // The phantom is a cube; keep `slices` of it (or repeat it) along k.
    let VoxelData::I16(values) = &source.data else {
        anyhow::bail!("phantom is not int16")
    };
    let plane = rows * rows;
    let stacked: Vec<i16> = (0..slices)
        .flat_map(|k| values[(k % rows) * plane..(k % rows + 1) * plane].to_vec())
        .collect();
    source.shape = vec![rows, rows, slices];
    source.data = VoxelData::I16(stacked);
    source.world_from_voxel = Affine::from_rows([
        [-0.7, 0.0, 0.0, 180.0],
        [0.0, -0.7, 0.0, 180.0],
        [0.0, 0.0, 1.25, -200.0],
    ]);
    let mut rows_out = Vec::new();
    for (name, encoding) in [
        ("uncompressed", Encoding::ExplicitLittle),
        ("JPEG lossless", Encoding::JpegLossless),
    ] {
        let folder = dir.join(name.replace(' ', "_"));
        if !folder.join("slice_0000.dcm").exists() {
            write_ct_series(&source, &folder, 7, encoding).map_err(anyhow::Error::msg)?;
        }
        let mut times = Vec::new();
        for _ in 0..runs {
            let start = Instant::now();
            let v = volume::load(&folder)?;
            times.push(start.elapsed());
            anyhow::ensure!(v.shape == vec![rows, rows, slices], "read {:?}", v.shape);
        }
        let loupe = median(times);
        let pydicom = pydicom_time(&folder, runs);
        let dcm2niix = dcm2niix_time(&folder, runs);
        rows_out.push(json!({
            "series": name,
            "files": slices,
            "loupe_ms": loupe.as_secs_f64() * 1e3,
            "pydicom_numpy_ms": pydicom.map(|d| d.as_secs_f64() * 1e3),
            "dcm2niix_ms": dcm2niix.map(|d| d.as_secs_f64() * 1e3),
        }));
    }
    if json_out {
        println!(
            "{}",
            json!({ "rows": rows_out, "shape": [rows, rows, slices], "runs": runs })
        );
        return Ok(());
    }
    println!(
        "| series ({rows}×{rows}×{slices} int16) | Loupe ms | pydicom + numpy ms | Loupe ÷ pydicom | dcm2niix ms | Loupe ÷ dcm2niix |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for row in &rows_out {
        let loupe = row["loupe_ms"].as_f64().unwrap_or(f64::NAN);
        let cell = |key: &str| row[key].as_f64().map_or("–".into(), |v| format!("{v:.0}"));
        let ratio = |key: &str| {
            row[key]
                .as_f64()
                .map_or("–".into(), |v| format!("{:.2}", loupe / v))
        };
        println!(
            "| {} | {loupe:.0} | {} | {} | {} | {} |",
            row["series"].as_str().unwrap_or(""),
            cell("pydicom_numpy_ms"),
            ratio("pydicom_numpy_ms"),
            cell("dcm2niix_ms"),
            ratio("dcm2niix_ms"),
        );
    }
    println!(
        "(median of {runs} runs; goal: Loupe faster than pydicom + numpy, no slower than dcm2niix)"
    );
    Ok(())
}

fn pydicom_time(folder: &Path, runs: usize) -> Option<Duration> {
    let python = std::env::var("LOUPE_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(python)
        .args([
            "-c",
            PYDICOM_PEER,
            &folder.to_string_lossy(),
            &runs.to_string(),
        ])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse::<f64>()
        .ok()
        .map(Duration::from_secs_f64)
}

fn dcm2niix_time(folder: &Path, runs: usize) -> Option<Duration> {
    let out_dir: PathBuf = folder.with_extension("nii-out");
    let mut times = Vec::new();
    for _ in 0..runs {
        let _ = std::fs::remove_dir_all(&out_dir);
        std::fs::create_dir_all(&out_dir).ok()?;
        let start = Instant::now();
        let status = Command::new("dcm2niix")
            .args(["-z", "n", "-o"])
            .arg(&out_dir)
            .arg(folder)
            .output()
            .ok()?;
        if !status.status.success() {
            return None;
        }
        times.push(start.elapsed());
    }
    Some(median(times))
}
