//! `loupe convert`: an image, volume or DICOM series written as NIfTI-1,
//! every voxel at the world position its source gives it.

use std::path::PathBuf;

use anyhow::{Context, bail};

use crate::volume;

#[derive(Debug, clap::Args)]
pub struct ConvertArgs {
    /// A DICOM file, a folder holding one series (or FOLDER#SERIES_UID), a NIfTI file or an image.
    pub path: PathBuf,
    /// Where to write: a `.nii` or `.nii.gz` file (never overwritten).
    #[arg(long)]
    pub out: PathBuf,
    /// A DICOM series with a missing slice or a gantry tilt: resample it onto a regular grid instead of refusing it.
    #[arg(long)]
    pub resample: bool,
}

pub fn run(args: &ConvertArgs) -> anyhow::Result<()> {
    if !volume::is_nifti_name(&args.out) {
        bail!("--out {}: name a .nii or .nii.gz file", args.out.display());
    }
    if args.out.exists() {
        bail!("{} exists: Loupe does not overwrite it", args.out.display());
    }
    let options = volume::dicom::ReadOptions {
        resample: args.resample,
    };
    let source = volume::load_with(&args.path, options)?;
    if let Some(problem) = source.dicom.as_ref().and_then(|d| d.resampled.as_ref()) {
        eprintln!("notice: resampled onto a regular grid: {problem}");
    }
    let gz = args
        .out
        .to_string_lossy()
        .to_ascii_lowercase()
        .ends_with(".gz");
    let bytes = volume::nifti::encode_nifti1(&source, gz)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    crate::durable::write_atomic(&args.out, &bytes)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    println!(
        "wrote {} ({} voxels, {})",
        args.out.display(),
        source
            .shape
            .iter()
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(" × "),
        source.data.sample_type().name()
    );
    Ok(())
}
