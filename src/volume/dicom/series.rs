//! DICOM files grouped into series and stacked into volumes, the way
//! dcm2niix places them in space.
//!
//! Files (or the frames of an enhanced multi-frame file) are grouped by
//! SeriesInstanceUID, FrameOfReferenceUID, ImageOrientationPatient and
//! Rows × Columns; within a group, slices are sorted by ImagePositionPatient
//! projected on the normal (row direction × column direction) — never by
//! InstanceNumber or file name — and the slice step is the difference of
//! those projections (never SliceThickness). Several echoes or temporal
//! positions at every slice position make a 4-D volume. A stack with a
//! missing slice or a gantry tilt is refused unless resampling was asked for.
//! Images without plane geometry (photographs, cine loops, secondary
//! captures) are one group per file, their frames the third axis.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::super::error::VolumeError;
use super::super::orientation::{Affine, cross, dot};
use super::super::voxels::{Sample, VoxelData, with_samples};
use super::header::{FrameGeometry, Header};
use rayon::prelude::*;

/// A slice's relative deviation from the series' step that still counts as
/// evenly spaced (IPP values are written with a few decimals).
const SPACING_TOLERANCE: f64 = 0.02;
/// Smallest absolute deviation (mm) ever called a gap.
const SPACING_TOLERANCE_MM: f64 = 0.01;
/// Angle (degrees) between the slice step and the normal still called untilted.
const TILT_TOLERANCE_DEG: f64 = 0.05;

/// One frame of one file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameRef {
    pub file: usize,
    pub frame: usize,
}

/// Files that make one volume, in voxel order once [`plan`] has run.
#[derive(Clone, Debug)]
pub struct Group {
    /// SeriesInstanceUID (or the SOP instance for a lone image).
    pub series_uid: String,
    pub description: String,
    pub files: Vec<PathBuf>,
    /// Frames in the order they land: slices along k, then time points.
    pub frames: Vec<FrameRef>,
    /// Whether the group carries plane geometry (CT/MR) or is an image (photo, cine).
    pub spatial: bool,
}

/// How a group is stacked: voxel order, shape and world geometry.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Frame order: k fastest, then t.
    pub frames: Vec<FrameRef>,
    pub shape: Vec<usize>,
    pub world_from_voxel: Affine,
    pub pixdim: [f64; 4],
    /// Set when the stack had to be resampled (what was wrong, for the notice).
    pub resampled: Option<String>,
    /// Per output slice: positions along the normal of the source slices,
    /// kept for resampling.
    pub resample: Option<Resample>,
}

/// Where each output slice samples its source slices, for a stack
/// resampled onto a regular grid.
#[derive(Clone, Debug)]
pub struct Resample {
    /// World position (LPS) of each source frame, in the plan's frame
    /// order (so a source's index is its frame's index in the rescaled data).
    pub sources: Vec<[f64; 3]>,
    pub row_dir: [f64; 3],
    pub col_dir: [f64; 3],
    pub normal: [f64; 3],
    pub spacing_mm: [f64; 2],
    pub step_mm: f64,
    pub slices: usize,
}

fn orientation_key(o: &[f64; 6]) -> Vec<i64> {
    o.iter().map(|v| (v * 1e4).round() as i64).collect()
}

/// Groups headers (with their file index) into volumes.
pub fn group(headers: &[(PathBuf, Header)]) -> Vec<Group> {
    let mut spatial: BTreeMap<(String, String, Vec<i64>, usize, usize, usize), Vec<FrameRef>> =
        BTreeMap::new();
    let mut groups = Vec::new();
    for (index, (path, header)) in headers.iter().enumerate() {
        let per_frame = header.frame_geometry.len() == header.frames && header.frames > 1;
        if header.has_plane_geometry() && (header.frames == 1 || per_frame) {
            for frame in 0..header.frames {
                let g = header.geometry(frame);
                let Some(o) = &g.orientation else { continue };
                let key = (
                    header.series_uid.clone(),
                    header.frame_of_reference.clone(),
                    orientation_key(o),
                    header.rows,
                    header.columns,
                    header.samples_per_pixel,
                );
                spatial
                    .entry(key)
                    .or_default()
                    .push(FrameRef { file: index, frame });
            }
        } else {
            groups.push(Group {
                series_uid: if header.series_uid.is_empty() {
                    header.sop_instance.clone()
                } else {
                    header.series_uid.clone()
                },
                description: header.series_description.clone(),
                files: vec![path.clone()],
                frames: (0..header.frames)
                    .map(|frame| FrameRef { file: index, frame })
                    .collect(),
                spatial: header.has_plane_geometry(),
            });
        }
    }
    for (key, frames) in spatial {
        let mut files: Vec<usize> = frames.iter().map(|f| f.file).collect();
        files.sort_unstable();
        files.dedup();
        groups.push(Group {
            series_uid: key.0,
            description: headers[frames[0].file].1.series_description.clone(),
            files: files.iter().map(|&i| headers[i].0.clone()).collect(),
            frames,
            spatial: true,
        });
    }
    groups
}

/// The affine of an image without plane geometry: as a raster photo
/// (x to the patient's left, y posterior), one unit a pixel.
pub fn photo_affine() -> Affine {
    Affine::from_rows([
        [-1.0, 0.0, 0.0, 0.0],
        [0.0, -1.0, 0.0, 0.0],
        [0.0, 0.0, 1.0, 0.0],
    ])
}

/// LPS axes and origin → RAS `world_from_voxel` (x and y negated).
/// The axes a stack is laid along: DICOM's row and column directions and
/// the slice normal (row × column), unit vectors in LPS.
#[derive(Clone, Copy)]
struct Axes {
    row: [f64; 3],
    col: [f64; 3],
    normal: [f64; 3],
}

impl Plan {
    /// A plan whose slices lie `step_mm` apart along the normal from
    /// `origin` (not resampled): the one place world geometry is set.
    fn along_normal(
        frames: Vec<FrameRef>,
        shape: Vec<usize>,
        axes: Axes,
        spacing_mm: [f64; 2],
        origin: [f64; 3],
        step_mm: f64,
    ) -> Self {
        Plan {
            frames,
            shape,
            world_from_voxel: ras_affine(
                axes.row,
                axes.col,
                axes.normal.map(|v| v * step_mm),
                spacing_mm,
                origin,
            ),
            pixdim: pixdim(spacing_mm, step_mm),
            resampled: None,
            resample: None,
        }
    }
}

/// NIfTI-style voxel sizes: column spacing, row spacing (PixelSpacing is
/// row, column), slice step, one time unit.
fn pixdim(spacing_mm: [f64; 2], step_mm: f64) -> [f64; 4] {
    [spacing_mm[1], spacing_mm[0], step_mm, 1.0]
}

fn ras_affine(
    row_dir: [f64; 3],
    col_dir: [f64; 3],
    step: [f64; 3],
    spacing: [f64; 2],
    origin: [f64; 3],
) -> Affine {
    let i = row_dir.map(|v| v * spacing[1]);
    let j = col_dir.map(|v| v * spacing[0]);
    let sign = [-1.0, -1.0, 1.0];
    Affine::from_rows([0, 1, 2].map(|r| {
        [
            sign[r] * i[r],
            sign[r] * j[r],
            sign[r] * step[r],
            sign[r] * origin[r],
        ]
    }))
}

fn unit(v: [f64; 3]) -> [f64; 3] {
    let n = dot(v, v).sqrt();
    if n > 0.0 { v.map(|x| x / n) } else { v }
}

/// Orders a group's frames and builds its geometry; refuses gaps, tilt and
/// duplicate positions unless `resample`.
pub fn plan(
    group: &Group,
    headers: &[Header],
    resample: bool,
    path: &Path,
) -> Result<Plan, VolumeError> {
    let first = &headers[group.frames[0].file];
    let (rows, columns) = (first.rows, first.columns);
    if !group.spatial || !first.has_plane_geometry() {
        return Ok(image_plan(group, first));
    }
    let geometry = |f: &FrameRef| headers[f.file].geometry(f.frame).clone();
    let g0 = geometry(&group.frames[0]);
    let o = g0.orientation.unwrap_or([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]);
    let row_dir = unit([o[0], o[1], o[2]]);
    let col_dir = unit([o[3], o[4], o[5]]);
    let normal = unit(cross(row_dir, col_dir));
    let axes = Axes {
        row: row_dir,
        col: col_dir,
        normal,
    };
    let spacing = g0.pixel_spacing_mm.unwrap_or([1.0, 1.0]);

    // Classic multi-frame with one position: frames are slices along the normal.
    if group.frames.len() > 1 && group.files.len() == 1 && first.frame_geometry.len() == 1 {
        let step = first.spacing_between_slices_mm.unwrap_or(1.0);
        let origin = g0.position_mm.unwrap_or([0.0; 3]);
        return Ok(Plan::along_normal(
            group.frames.clone(),
            vec![columns, rows, group.frames.len()],
            axes,
            spacing,
            origin,
            step,
        ));
    }

    // Time points: by (echo, temporal position) where they differ.
    let mut by_time: BTreeMap<(Option<i64>, Option<i64>), Vec<(FrameRef, FrameGeometry)>> =
        BTreeMap::new();
    for f in &group.frames {
        let g = geometry(f);
        by_time
            .entry((g.echo, g.temporal_position))
            .or_default()
            .push((*f, g));
    }
    let mut stacks: Vec<Vec<(FrameRef, [f64; 3], f64)>> = Vec::new();
    for members in by_time.values() {
        let mut stack: Vec<(FrameRef, [f64; 3], f64)> = members
            .iter()
            .map(|(f, g)| {
                let p = g.position_mm.unwrap_or([0.0; 3]);
                (*f, p, dot(p, normal))
            })
            .collect();
        stack.sort_by(|a, b| {
            a.2.total_cmp(&b.2)
                .then(instance(headers, &a.0).cmp(&instance(headers, &b.0)))
                .then(a.0.frame.cmp(&b.0.frame))
        });
        stacks.push(stack);
    }
    // One time key but positions repeated equally: time points in instance order.
    if stacks.len() == 1 {
        stacks = split_repeats(stacks.remove(0), path)?;
    }
    let slices = stacks[0].len();
    if stacks.iter().any(|s| s.len() != slices) {
        return Err(VolumeError::invalid(
            path,
            format!(
                "series has {} time points or echoes with different numbers of slices ({})",
                stacks.len(),
                stacks
                    .iter()
                    .map(|s| s.len().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    let reference = &stacks[0];
    let origin = reference[0].1;
    let (step, problem) = check_stack(reference, normal);
    let frames: Vec<FrameRef> = stacks.iter().flat_map(|s| s.iter().map(|m| m.0)).collect();
    let mut shape = vec![columns, rows, slices];
    if stacks.len() > 1 {
        shape.push(stacks.len());
    }
    match problem {
        None => Ok(Plan::along_normal(
            frames, shape, axes, spacing, origin, step,
        )),
        Some(problem) if !resample => Err(VolumeError::NeedsResampling {
            path: path.to_path_buf(),
            problem,
        }),
        Some(problem) => {
            let span = reference[slices - 1].2 - reference[0].2;
            let step = min_step(reference).max(1e-3);
            let count = (span / step).round() as usize + 1;
            let step = if count > 1 {
                span / (count - 1) as f64
            } else {
                step
            };
            let sources = stacks.iter().flat_map(|s| s.iter().map(|m| m.1)).collect();
            shape[2] = count;
            Ok(Plan {
                resampled: Some(problem),
                resample: Some(Resample {
                    sources,
                    row_dir,
                    col_dir,
                    normal,
                    spacing_mm: spacing,
                    step_mm: step,
                    slices: count,
                }),
                ..Plan::along_normal(frames, shape, axes, spacing, origin, step)
            })
        }
    }
}

fn instance(headers: &[Header], f: &FrameRef) -> (i64, usize) {
    (headers[f.file].instance_number.unwrap_or(i64::MAX), f.frame)
}

/// Repeated positions with no time key: each position the same number of
/// times → that many time points (in instance order); otherwise refused.
fn split_repeats(
    stack: Vec<(FrameRef, [f64; 3], f64)>,
    path: &Path,
) -> Result<Vec<Vec<(FrameRef, [f64; 3], f64)>>, VolumeError> {
    let same = |a: f64, b: f64| (a - b).abs() <= SPACING_TOLERANCE_MM;
    let mut positions: Vec<Vec<(FrameRef, [f64; 3], f64)>> = Vec::new();
    for member in stack {
        match positions.last_mut() {
            Some(last) if same(last[0].2, member.2) => last.push(member),
            _ => positions.push(vec![member]),
        }
    }
    let repeats = positions[0].len();
    if repeats == 1 {
        return Ok(vec![positions.into_iter().flatten().collect()]);
    }
    if positions.iter().any(|p| p.len() != repeats) {
        let at = positions
            .iter()
            .find(|p| p.len() != repeats)
            .map(|p| p[0].2)
            .unwrap_or(0.0);
        return Err(VolumeError::invalid(
            path,
            format!(
                "series has slices at the same position (e.g. {at:.3} mm along the normal) in unequal numbers: duplicates or a mixed series"
            ),
        ));
    }
    Ok((0..repeats)
        .map(|t| positions.iter().map(|p| p[t]).collect())
        .collect())
}

fn min_step(stack: &[(FrameRef, [f64; 3], f64)]) -> f64 {
    stack
        .windows(2)
        .map(|w| w[1].2 - w[0].2)
        .fold(f64::INFINITY, f64::min)
}

/// The mean step along the normal, and what is wrong with the stack (a gap,
/// uneven spacing, duplicates or a tilt) if anything.
fn check_stack(stack: &[(FrameRef, [f64; 3], f64)], normal: [f64; 3]) -> (f64, Option<String>) {
    if stack.len() < 2 {
        return (1.0, None);
    }
    let n = stack.len();
    let step = (stack[n - 1].2 - stack[0].2) / (n - 1) as f64;
    // Steps are compared with the smallest one: a missing slice is the step that stands out.
    let typical = min_step(stack);
    let tolerance = (SPACING_TOLERANCE * typical.abs()).max(SPACING_TOLERANCE_MM);
    for (k, w) in stack.windows(2).enumerate() {
        let d = w[1].2 - w[0].2;
        if d.abs() <= SPACING_TOLERANCE_MM {
            return (
                step,
                Some(format!(
                    "two slices at the same position ({:.3} mm along the normal, slices {k} and {})",
                    w[0].2,
                    k + 1
                )),
            );
        }
        if (d - typical).abs() > tolerance {
            return (
                step,
                Some(format!(
                    "slices are not equally spaced: {d:.3} mm between slices {k} and {} where the others are {typical:.3} mm apart (a missing slice?)",
                    k + 1
                )),
            );
        }
    }
    let offset = [0, 1, 2].map(|a| stack[n - 1].1[a] - stack[0].1[a]);
    let along = dot(offset, normal);
    let in_plane = (0..3)
        .map(|a| (offset[a] - along * normal[a]).powi(2))
        .sum::<f64>()
        .sqrt();
    let angle = in_plane.atan2(along.abs()).to_degrees();
    if angle > TILT_TOLERANCE_DEG {
        return (
            step,
            Some(format!(
                "slices are tilted: each slice is shifted in its plane, {angle:.2}° from the normal (gantry tilt)"
            )),
        );
    }
    (step, None)
}

fn image_plan(group: &Group, first: &Header) -> Plan {
    Plan {
        frames: group.frames.clone(),
        shape: vec![first.columns, first.rows, group.frames.len()],
        world_from_voxel: photo_affine(),
        pixdim: [1.0; 4],
        resampled: None,
        resample: None,
    }
}

/// Samples each output slice of a resampled stack from its source slices:
/// the world point of each output voxel, bilinear in the nearest source
/// slice on either side along the normal, linear between them.
pub fn resample_values(
    plan: &Resample,
    columns: usize,
    rows: usize,
    time_points: usize,
    value: &dyn Fn(usize, usize, usize) -> f64,
) -> Vec<f32> {
    let per_time = plan.sources.len() / time_points.max(1);
    let origin = plan.sources[0];
    let mut out = Vec::with_capacity(columns * rows * plan.slices * time_points);
    for t in 0..time_points {
        let sources = &plan.sources[t * per_time..(t + 1) * per_time];
        let along: Vec<f64> = sources.iter().map(|s| dot(*s, plan.normal)).collect();
        for k in 0..plan.slices {
            let s = along[0] + k as f64 * plan.step_mm;
            let upper = along
                .iter()
                .position(|&a| a >= s - 1e-6)
                .unwrap_or(along.len() - 1);
            let lower = upper.saturating_sub(usize::from(along[upper] > s + 1e-6));
            let w = if upper == lower {
                0.0
            } else {
                (s - along[lower]) / (along[upper] - along[lower])
            };
            for j in 0..rows {
                for i in 0..columns {
                    let world = [0, 1, 2].map(|a| {
                        origin[a]
                            + plan.row_dir[a] * i as f64 * plan.spacing_mm[1]
                            + plan.col_dir[a] * j as f64 * plan.spacing_mm[0]
                            + plan.normal[a] * (s - along[0])
                    });
                    let sample = |index: usize| {
                        let (frame, position) = (t * per_time + index, sources[index]);
                        let d = [0, 1, 2].map(|a| world[a] - position[a]);
                        let x = dot(d, plan.row_dir) / plan.spacing_mm[1];
                        let y = dot(d, plan.col_dir) / plan.spacing_mm[0];
                        bilinear(x, y, columns, rows, &|c, r| value(frame, c, r))
                    };
                    let v = if w == 0.0 {
                        sample(lower)
                    } else {
                        sample(lower) * (1.0 - w) + sample(upper) * w
                    };
                    out.push(v as f32);
                }
            }
        }
    }
    out
}

fn bilinear(x: f64, y: f64, columns: usize, rows: usize, at: &dyn Fn(usize, usize) -> f64) -> f64 {
    let x = x.clamp(0.0, (columns - 1) as f64);
    let y = y.clamp(0.0, (rows - 1) as f64);
    let (x0, y0) = (x.floor() as usize, y.floor() as usize);
    let (x1, y1) = ((x0 + 1).min(columns - 1), (y0 + 1).min(rows - 1));
    let (fx, fy) = (x - x0 as f64, y - y0 as f64);
    let top = at(x0, y0) * (1.0 - fx) + at(x1, y0) * fx;
    let bottom = at(x0, y1) * (1.0 - fx) + at(x1, y1) * fx;
    top * (1.0 - fy) + bottom * fy
}

/// Stored samples of all frames (in plan order) rescaled into one buffer:
/// the stored type where every rescaled value fits it (and slope and
/// intercept are whole numbers), else int16/int32, else float32.
pub fn rescale(frames: &[(VoxelData, f64, f64)]) -> VoxelData {
    let whole = frames
        .iter()
        .all(|(_, slope, intercept)| slope.fract() == 0.0 && intercept.fract() == 0.0);
    let identity = frames.iter().all(|(_, s, i)| *s == 1.0 && *i == 0.0);
    let same_type = frames
        .windows(2)
        .all(|w| w[0].0.sample_type() == w[1].0.sample_type());
    if identity && same_type {
        return concat(frames.iter().map(|f| &f.0));
    }
    let ranges: Vec<(f64, f64)> = frames
        .par_iter()
        .map(|(data, slope, intercept)| {
            let (min, max) = data.min_max_f64();
            let (a, b) = (min * slope + intercept, max * slope + intercept);
            (a.min(b), a.max(b))
        })
        .collect();
    let low = ranges.iter().map(|r| r.0).fold(f64::INFINITY, f64::min);
    let high = ranges.iter().map(|r| r.1).fold(f64::NEG_INFINITY, f64::max);
    let fits = |min: f64, max: f64| low >= min && high <= max;
    let stored = frames[0].0.sample_type();
    use super::super::voxels::SampleType as T;
    let target = if !whole {
        T::F32
    } else if same_type && fits(stored_min(stored), stored_max(stored)) {
        stored
    } else if fits(i16::MIN as f64, i16::MAX as f64) {
        T::I16
    } else if fits(i32::MIN as f64, i32::MAX as f64) {
        T::I32
    } else {
        T::F32
    };
    let total = frames.iter().map(|f| f.0.len()).sum();
    let mut out = VoxelData::zeroed(target, total);
    with_samples!(&mut out, values => fill_rescaled(values, frames));
    out
}

/// Writes each frame's `value × slope + intercept` into its part of `out`
/// (frames in parallel; one typed loop per input and output type).
fn fill_rescaled<T: Sample>(out: &mut [T], frames: &[(VoxelData, f64, f64)]) {
    let mut parts: Vec<(&mut [T], &(VoxelData, f64, f64))> = Vec::with_capacity(frames.len());
    let mut rest = out;
    for frame in frames {
        let (part, tail) = rest.split_at_mut(frame.0.len());
        parts.push((part, frame));
        rest = tail;
    }
    parts
        .into_par_iter()
        .for_each(|(part, (data, slope, intercept))| {
            with_samples!(data, input => {
                for (o, v) in part.iter_mut().zip(input.iter()) {
                    *o = T::from_f64(v.to_f64() * slope + intercept);
                }
            })
        });
}

fn stored_min(t: super::super::voxels::SampleType) -> f64 {
    use super::super::voxels::SampleType as T;
    match t {
        T::I8 => i8::MIN as f64,
        T::I16 => i16::MIN as f64,
        T::I32 => i32::MIN as f64,
        _ => 0.0,
    }
}

fn stored_max(t: super::super::voxels::SampleType) -> f64 {
    use super::super::voxels::SampleType as T;
    match t {
        T::U8 => u8::MAX as f64,
        T::I8 => i8::MAX as f64,
        T::U16 => u16::MAX as f64,
        T::I16 => i16::MAX as f64,
        T::U32 => u32::MAX as f64,
        T::I32 => i32::MAX as f64,
        _ => f64::MAX,
    }
}

fn concat<'a>(parts: impl Iterator<Item = &'a VoxelData>) -> VoxelData {
    let parts: Vec<&VoxelData> = parts.collect();
    let mut out = parts[0].clone();
    for part in &parts[1..] {
        out.extend_from(part);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(z: f64, x: f64) -> (FrameRef, [f64; 3], f64) {
        (FrameRef { file: 0, frame: 0 }, [x, 0.0, z], z)
    }

    #[test]
    fn an_even_stack_passes_and_its_step_is_the_position_difference() {
        let stack: Vec<_> = (0..5).map(|k| member(10.0 + 3.0 * k as f64, 0.0)).collect();
        let (step, problem) = check_stack(&stack, [0.0, 0.0, 1.0]);
        assert_eq!(step, 3.0);
        assert_eq!(problem, None);
    }

    #[test]
    fn a_missing_slice_and_a_tilt_are_named() {
        let gap: Vec<_> = [0.0, 3.0, 6.0, 12.0, 15.0]
            .iter()
            .map(|&z| member(z, 0.0))
            .collect();
        let (_, problem) = check_stack(&gap, [0.0, 0.0, 1.0]);
        assert!(problem.unwrap().contains("6.000 mm between slices 2 and 3"));
        let tilt: Vec<_> = (0..5)
            .map(|k| member(3.0 * k as f64, 0.5 * k as f64))
            .collect();
        let (_, problem) = check_stack(&tilt, [0.0, 0.0, 1.0]);
        let problem = problem.unwrap();
        // atan(0.5 / 3) = 9.46°.
        assert!(problem.contains("9.46°"), "{problem}");
    }

    #[test]
    fn rescale_keeps_the_stored_type_where_values_fit() {
        let ct = VoxelData::U16(vec![0, 1024, 4095]);
        let out = rescale(&[(ct.clone(), 1.0, -1024.0)]);
        assert_eq!(out, VoxelData::I16(vec![-1024, 0, 3071]));
        let out = rescale(&[(VoxelData::I16(vec![-5, 7]), 1.0, 10.0)]);
        assert_eq!(out, VoxelData::I16(vec![5, 17]));
        let out = rescale(&[(VoxelData::U16(vec![2, 4]), 0.5, 0.25)]);
        assert_eq!(out, VoxelData::F32(vec![1.25, 2.25]));
        let out = rescale(&[
            (VoxelData::U8(vec![1]), 1.0, 0.0),
            (VoxelData::U8(vec![2]), 1.0, 0.0),
        ]);
        assert_eq!(out, VoxelData::U8(vec![1, 2]));
    }
}
