//! `loupe bench io`: volume loading against the time only to gunzip (or
//! read) the same file; with `--dicom`, a DICOM series (`dicom_io`).

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::common::{time_runs, within};
use crate::synth::phantom;
use crate::volume::{self, nifti};

/// Volume loading against the time only to gunzip (or read) the same file.
#[derive(Debug, clap::Args)]
pub struct IoArgs {
    /// Edge of the generated int16 cube (default 256; 512 with --dicom).
    #[arg(long)]
    pub size: Option<usize>,
    /// Timed repetitions per file (the median is reported).
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Real files to include (default: the MNI brain in ../shared/data/nifti).
    #[arg(long)]
    pub file: Vec<PathBuf>,
    /// Read a generated CT series as DICOM (uncompressed and JPEG lossless)
    /// beside pydicom + numpy and dcm2niix; `--size` is the slice edge.
    #[arg(long)]
    pub dicom: bool,
    /// Slices of the DICOM series.
    #[arg(long, default_value_t = 300)]
    pub slices: usize,
    /// With --dicom: one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// `loupe bench io`: NIfTI files against the gunzip floor, or (`--dicom`) a
/// DICOM series against pydicom and dcm2niix.
pub fn run(args: &IoArgs) -> anyhow::Result<()> {
    let IoArgs {
        size,
        runs,
        file,
        dicom,
        slices,
        json,
    } = args;
    if *dicom {
        super::dicom_io::run(
            within("--size", size.unwrap_or(512), 8..=1024)?,
            within("--slices", *slices, 1..=2000)?,
            within("--runs", *runs, 1..=1000)?,
            *json,
        )
    } else {
        io(
            within("--size", size.unwrap_or(256), 8..=1024)?,
            within("--runs", *runs, 1..=1000)?,
            file,
        )
    }
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
