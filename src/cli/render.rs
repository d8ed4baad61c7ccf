//! `loupe render`: one slice through the CPU reference renderer to an 8-bit
//! grey PNG, one pixel per voxel, so scripts can check the viewer's geometry.

use std::path::PathBuf;

use anyhow::{Context, bail};

use crate::render::cpu::{self, Interpolation, RenderOptions, WindowLevel};
use crate::render::view::ViewGeometry;
use crate::volume::slice::{Convention, Plane};
use crate::volume::{self, CanonicalGrid};

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum PlaneArg {
    Axial,
    Coronal,
    Sagittal,
}

#[derive(Debug, clap::Args)]
pub struct RenderArgs {
    pub file: PathBuf,
    #[arg(long, value_enum)]
    pub plane: PlaneArg,
    /// Slice on the closest canonical RAS+ grid: axial from inferior, coronal
    /// from posterior, sagittal from the patient's left.
    #[arg(long)]
    pub index: usize,
    /// CENTER,WIDTH of the display window (values after scaling).
    #[arg(long, allow_hyphen_values = true)]
    pub window: String,
    #[arg(long)]
    pub out: PathBuf,
    /// Patient's left on screen left in axial and coronal views.
    #[arg(long)]
    pub neurological: bool,
    /// Time point of a 4-D volume.
    #[arg(long, default_value_t = 0)]
    pub time: usize,
}

pub fn run(args: &RenderArgs) -> anyhow::Result<()> {
    let (center, width) = args
        .window
        .split_once(',')
        .and_then(|(c, w)| Some((c.trim().parse::<f64>().ok()?, w.trim().parse::<f64>().ok()?)))
        .with_context(|| format!("--window {}: expected CENTER,WIDTH", args.window))?;
    if !width.is_finite() || width <= 0.0 || !center.is_finite() {
        bail!(
            "--window {}: width must be positive and finite, and center finite",
            args.window
        );
    }
    let volume = volume::load(&args.file)?;
    if volume.channels != 1 {
        bail!(
            "{} is a colour image; loupe render writes grey slices",
            args.file.display()
        );
    }
    if args.time >= volume.time_points() {
        bail!(
            "--time {}: the volume has {} time point(s)",
            args.time,
            volume.time_points()
        );
    }
    let plane = match args.plane {
        PlaneArg::Axial => Plane::Axial,
        PlaneArg::Coronal => Plane::Coronal,
        PlaneArg::Sagittal => Plane::Sagittal,
    };
    let grid = CanonicalGrid::new(&volume.world_from_voxel);
    let shape = volume.spatial_shape();
    let slices = grid.shape(shape)[plane.normal_axis()];
    if args.index >= slices {
        bail!(
            "--index {}: the {} plane has {slices} slices (0 to {})",
            args.index,
            plane.name(),
            slices - 1
        );
    }
    let convention = if args.neurological {
        Convention::Neurological
    } else {
        Convention::Radiological
    };
    let (geometry, w, h) =
        ViewGeometry::orthogonal_slice(&grid, shape, plane, args.index, convention);
    let options = RenderOptions {
        window: WindowLevel { center, width },
        interpolation: Interpolation::Nearest,
        time: args.time,
    };
    let rgba = cpu::render_view(&volume, &geometry, w, h, &options, None);
    let grey: Vec<u8> = rgba.chunks_exact(4).map(|p| p[0]).collect();
    image::save_buffer(
        &args.out,
        &grey,
        w as u32,
        h as u32,
        image::ExtendedColorType::L8,
    )
    .with_context(|| format!("writing {}", args.out.display()))?;
    Ok(())
}
