//! `loupe crop`: the thyroid method's automatic crop of one image (Otsu
//! threshold, largest 8-connected component, its box plus a margin).

use std::path::PathBuf;

use anyhow::{Context, bail};

use crate::volume::{self, crop};

#[derive(Debug, clap::Args)]
pub struct CropArgs {
    /// A PNG/JPEG/TIFF/BMP frame (or a 2-D NIfTI).
    pub file: PathBuf,
    /// Pixels added on every side of the component's box (clipped to the image).
    #[arg(long, default_value_t = 0)]
    pub margin: u32,
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &CropArgs) -> anyhow::Result<()> {
    if args.margin > crop::MAX_MARGIN_PX {
        bail!(
            "--margin {} is more than {} pixels",
            args.margin,
            crop::MAX_MARGIN_PX
        );
    }
    let image = volume::load(&args.file)?;
    let grey = crop::grey8(&image).with_context(|| format!("{}", args.file.display()))?;
    let found = crop::auto_crop(&grey).with_context(|| format!("{}", args.file.display()))?;
    let used = crop::with_margin(found.bbox, args.margin, found.width, found.height);
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "threshold": found.threshold,
                "bbox": found.bbox,
                "crop": used,
                "pixels": found.pixels,
                "width": found.width,
                "height": found.height,
            })
        );
    } else {
        println!(
            "Otsu threshold {} · largest component {} pixels, box x {}–{}, y {}–{} · crop x {}–{}, y {}–{} (margin {} px) of {}×{}",
            found.threshold,
            found.pixels,
            found.bbox[0],
            found.bbox[2],
            found.bbox[1],
            found.bbox[3],
            used[0],
            used[2],
            used[1],
            used[3],
            args.margin,
            found.width,
            found.height
        );
    }
    Ok(())
}
