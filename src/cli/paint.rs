//! `loupe paint`: one stroke on an item's label map from the command line
//! (brush dabs, eraser, flood fill, interpolation), saved exactly as the
//! window saves a stroke; or, with no tool, the map's volumes per label.

use std::path::PathBuf;

use anyhow::{Context, bail};

use crate::paint::fill::{self, FillRegion};
use crate::paint::{self, BrushShape, Grid, PaintOver, PlaneFrame, StrokeBuilder, interpolate};
use crate::store::{Project, StoreError};
use crate::volume;

#[derive(Debug, clap::Args)]
pub struct PaintArgs {
    /// The project folder.
    pub dir: PathBuf,
    /// Item id or path.
    pub item: String,
    /// Whose map (on a team project: the database user, the default).
    #[arg(long)]
    pub annotator: Option<String>,
    /// Label value painted (1–255).
    #[arg(long, default_value_t = 1)]
    pub label: u8,
    /// Brush dabs at voxel `I,J,K` (repeat for a stroke).
    #[arg(long = "at", value_name = "I,J,K")]
    pub at: Vec<String>,
    #[arg(long, default_value_t = 3.0)]
    pub radius_mm: f64,
    /// A ball rather than a disk on the plane.
    #[arg(long)]
    pub sphere: bool,
    /// The voxel axis normal to the brush disk's and the slice fill's plane.
    #[arg(long, value_parser = ["i", "j", "k"], default_value = "k")]
    pub normal: String,
    /// Write background (0) instead of the label.
    #[arg(long)]
    pub erase: bool,
    /// Flood fill from voxel `I,J,K` over intensities `--range LO,HI`.
    #[arg(long, value_name = "I,J,K")]
    pub fill: Option<String>,
    #[arg(long, value_name = "LO,HI")]
    pub range: Option<String>,
    /// Fill in 3-D (6-connected) rather than on the slice.
    #[arg(long = "3d")]
    pub three_d: bool,
    /// Fill the label between painted slices along voxel axis i, j or k.
    #[arg(long, value_parser = ["i", "j", "k"])]
    pub interpolate: Option<String>,
    /// Which voxels may change: `all`, `unlabeled`, or a label value.
    #[arg(long, default_value = "all")]
    pub paint_over: String,
    #[arg(long)]
    pub json: bool,
}

fn triple(text: &str) -> anyhow::Result<[f64; 3]> {
    let parts: Vec<f64> = text
        .split(',')
        .map(|p| p.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .with_context(|| format!("{text:?} is not I,J,K"))?;
    match parts.as_slice() {
        [i, j, k] if parts.iter().all(|x| x.is_finite()) => Ok([*i, *j, *k]),
        _ => bail!("{text:?} is not three numbers I,J,K"),
    }
}

fn axis(name: &str) -> usize {
    match name {
        "i" => 0,
        "j" => 1,
        _ => 2,
    }
}

pub fn run(args: &PaintArgs) -> anyhow::Result<()> {
    let mut project = Project::open(&args.dir)?;
    let annotator = project.annotator(args.annotator.as_deref())?;
    let item = project.find_item(&args.item)?;
    if item.path.is_empty() {
        // A case whose every modality is missing (a record only).
        anyhow::bail!(
            "item {} has no image to paint on (a case with no file of any modality)",
            item.id
        );
    }
    let case = volume::load(&project.resolve(&item))?;
    let grid = Grid::new(case.spatial_shape(), [0, 1, 2].map(|a| case.pixdim[a]));
    let rule = match args.paint_over.as_str() {
        "all" => PaintOver::All,
        "unlabeled" => PaintOver::Unlabeled,
        other => PaintOver::Only(other.parse().with_context(|| {
            format!("--paint-over {other:?}: give all, unlabeled or a label value")
        })?),
    };
    if args.label == 0 {
        bail!("--label 0 is the background: use --erase");
    }
    if !paint::BRUSH_RADIUS_MM.contains(&args.radius_mm) {
        bail!(
            "--radius-mm {} must be between {} and {}",
            args.radius_mm,
            paint::BRUSH_RADIUS_MM.start(),
            paint::BRUSH_RADIUS_MM.end()
        );
    }
    let painting = !args.at.is_empty() || args.fill.is_some() || args.interpolate.is_some();
    let (map, changed) = if painting {
        // Read, stroke and save in one step under the project's write lock:
        // a stroke sent from another workstation at the same time is not lost.
        let mut changed = 0;
        let (map, _) = project.edit_label_map(item.id, &annotator, &case, |map| {
            changed = stroke(args, &grid, &case, map, rule)
                .map_err(|e| StoreError::Invalid(format!("{e:#}")))?;
            Ok(changed > 0)
        })?;
        (map, Some(changed))
    } else {
        let map = match project
            .label_maps(item.id)?
            .into_iter()
            .find(|r| r.annotator == annotator)
        {
            Some(record) => project.read_label_map(&record, &case)?,
            None => vec![0u8; grid.voxel_count()],
        };
        (map, None)
    };
    print_volumes(args, item.id, &annotator, changed, &map, &grid);
    Ok(())
}

/// Applies the command's stroke to `map`; the number of voxels it changed.
fn stroke(
    args: &PaintArgs,
    grid: &Grid,
    case: &volume::Volume,
    map: &mut [u8],
    rule: PaintOver,
) -> anyhow::Result<usize> {
    let voxels = stroke_voxels(args, grid, case, map)?;
    let label = if args.erase { 0 } else { args.label };
    let rule = if args.interpolate.is_some() {
        PaintOver::Unlabeled
    } else {
        rule
    };
    let mut counts = paint::count_labels(map);
    let mut stroke = StrokeBuilder::default();
    paint::apply(map, grid, &voxels, label, rule, &mut stroke, &mut counts);
    Ok(stroke.finish().len())
}

/// The voxels the stroke touches: brush dabs at each `--at`, a flood fill
/// from `--fill`, or the slices `--interpolate` fills between.
fn stroke_voxels(
    args: &PaintArgs,
    grid: &Grid,
    case: &volume::Volume,
    map: &[u8],
) -> anyhow::Result<Vec<usize>> {
    let normal = axis(&args.normal);
    let mut voxels = Vec::new();
    for at in &args.at {
        let at = triple(at)?;
        let shape = if args.sphere {
            BrushShape::Sphere
        } else {
            BrushShape::Disk
        };
        voxels.extend(
            paint::brush(
                grid,
                &PlaneFrame::across(normal, at),
                at,
                args.radius_mm,
                shape,
            )
            .map_err(|e| anyhow::anyhow!("--at {at:?}: {e}"))?,
        );
    }
    if let Some(seed) = &args.fill {
        let seed = triple(seed)?;
        let range = args
            .range
            .as_deref()
            .context("--fill needs --range LO,HI")?;
        let (lo, hi) = range
            .split_once(',')
            .and_then(|(a, b)| Some((a.trim().parse::<f64>().ok()?, b.trim().parse::<f64>().ok()?)))
            .with_context(|| format!("--range {range:?} is not LO,HI"))?;
        let region = if args.three_d {
            FillRegion::Volume
        } else {
            FillRegion::Plane(PlaneFrame::across(normal, seed))
        };
        voxels.extend(fill::flood_fill(grid, seed, (lo, hi), region, |i| {
            case.value_at(i).unwrap_or(0.0)
        })?);
    }
    if let Some(along) = &args.interpolate {
        voxels.extend(interpolate::between_slices(
            map,
            grid,
            axis(along),
            args.label,
        ));
    }
    Ok(voxels)
}

/// The map's volume per label (and what the stroke changed, when it painted).
fn print_volumes(
    args: &PaintArgs,
    item: i64,
    annotator: &str,
    changed: Option<usize>,
    map: &[u8],
    grid: &Grid,
) {
    let volumes = paint::label_volumes(&paint::count_labels(map), grid);
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "item": item,
                "annotator": annotator,
                "changed_voxels": changed.unwrap_or(0),
                "labels": volumes,
            })
        );
    } else {
        if let Some(changed) = changed {
            println!("changed {changed} voxels of item {item} ({annotator})");
        }
        for v in &volumes {
            println!(
                "label {:>3}: {:>10} voxels {:>10.3} mL",
                v.label, v.voxels, v.ml
            );
        }
        if volumes.is_empty() {
            println!("no labeled voxels");
        }
    }
}
