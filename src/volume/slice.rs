//! Orthogonal slices on the closest canonical RAS+ grid, laid out in the
//! display convention (radiological by default), as scaled values.

use super::orientation::CanonicalGrid;
use super::voxels::{Sample, with_samples};
use super::{Scaling, Volume};

/// An orthogonal viewing plane, named for the patient.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Plane {
    /// Perpendicular to S: slice index counts from inferior.
    Axial,
    /// Perpendicular to A: slice index counts from posterior.
    Coronal,
    /// Perpendicular to R: slice index counts from the patient's left.
    Sagittal,
}

impl Plane {
    pub const ALL: [Plane; 3] = [Plane::Axial, Plane::Coronal, Plane::Sagittal];

    /// The canonical axis (0 = R, 1 = A, 2 = S) the plane is perpendicular to.
    pub fn normal_axis(self) -> usize {
        match self {
            Plane::Sagittal => 0,
            Plane::Coronal => 1,
            Plane::Axial => 2,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Plane::Axial => "axial",
            Plane::Coronal => "coronal",
            Plane::Sagittal => "sagittal",
        }
    }
}

/// Which side of the patient is drawn on the screen's left in axial and coronal views.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum Convention {
    /// Patient's right on screen left (as if facing the patient).
    #[default]
    Radiological,
    /// Patient's left on screen left.
    Neurological,
}

/// A slice's values, row-major from the top-left screen pixel.
#[derive(Clone, Debug, PartialEq)]
pub struct SliceImage {
    pub width: usize,
    pub height: usize,
    /// 1 for grey (scaled values), 3 or 4 for colour (stored channel values).
    pub channels: usize,
    pub values: Vec<f32>,
}

/// How screen pixels map to voxel indices for one plane.
struct ScreenAxes {
    /// For screen x and y: the canonical axis and whether it is reversed.
    x: (usize, bool),
    y: (usize, bool),
}

fn screen_axes(plane: Plane, convention: Convention) -> ScreenAxes {
    let neuro = convention == Convention::Neurological;
    match plane {
        // Screen left is the patient's right (high R) unless neurological; top is anterior.
        Plane::Axial => ScreenAxes {
            x: (0, !neuro),
            y: (1, true),
        },
        Plane::Coronal => ScreenAxes {
            x: (0, !neuro),
            y: (2, true),
        },
        // Screen left is anterior, top superior.
        Plane::Sagittal => ScreenAxes {
            x: (1, true),
            y: (2, true),
        },
    }
}

/// Number of slices along a plane's normal on the canonical grid.
pub fn slice_count(volume: &Volume, plane: Plane) -> usize {
    let grid = CanonicalGrid::new(&volume.world_from_voxel);
    grid.shape(volume.spatial_shape())[plane.normal_axis()]
}

/// Extracts slice `index` (counted on the canonical grid) at time point `time`.
/// Returns `None` when `index` or `time` is out of range.
pub fn extract(
    volume: &Volume,
    plane: Plane,
    index: usize,
    time: usize,
    convention: Convention,
) -> Option<SliceImage> {
    let voxel_shape = volume.spatial_shape();
    if time >= volume.time_points() {
        return None;
    }
    // A photo is shown as stored: x right, y down, whatever its affine says.
    if volume.format.is_raster() {
        if index >= voxel_shape[2] {
            return None;
        }
        let [w, h, _] = voxel_shape;
        let offsets: Vec<usize> = (0..w * h).map(|p| p + index * w * h).collect();
        return Some(gather(volume, w, h, &offsets));
    }
    let grid = CanonicalGrid::new(&volume.world_from_voxel);
    let canonical_shape = grid.shape(voxel_shape);
    let normal = plane.normal_axis();
    if index >= canonical_shape[normal] {
        return None;
    }
    let axes = screen_axes(plane, convention);
    let (width, height) = (canonical_shape[axes.x.0], canonical_shape[axes.y.0]);
    let volume_offset = time * voxel_shape.iter().product::<usize>();
    let mut offsets = Vec::with_capacity(width * height);
    for row in 0..height {
        for col in 0..width {
            let mut canonical = [0usize; 3];
            canonical[normal] = index;
            canonical[axes.x.0] = if axes.x.1 { width - 1 - col } else { col };
            canonical[axes.y.0] = if axes.y.1 { height - 1 - row } else { row };
            let [i, j, k] = grid.voxel_index(canonical, voxel_shape);
            offsets.push(volume_offset + i + voxel_shape[0] * (j + voxel_shape[1] * k));
        }
    }
    Some(gather(volume, width, height, &offsets))
}

/// Reads the voxels at `offsets`, scaling grey values and keeping colour as stored.
fn gather(volume: &Volume, width: usize, height: usize, offsets: &[usize]) -> SliceImage {
    fn typed<T: Sample>(
        samples: &[T],
        offsets: &[usize],
        channels: usize,
        scaling: Option<Scaling>,
    ) -> Vec<f32> {
        let mut out = Vec::with_capacity(offsets.len() * channels);
        for &voxel in offsets {
            for c in 0..channels {
                let stored = samples[voxel * channels + c].to_f64();
                let value = match scaling {
                    Some(Scaling { slope, inter }) if channels == 1 => stored * slope + inter,
                    _ => stored,
                };
                out.push(value as f32);
            }
        }
        out
    }
    let channels = volume.channels;
    let values = with_samples!(&volume.data, v => typed(v, offsets, channels, volume.scaling));
    SliceImage {
        width,
        height,
        channels,
        values,
    }
}

/// Values at the given fractions (0–1) of the sorted scaled values, from a
/// strided sample of at most ~1 M voxels (enough for a display window).
pub fn percentiles(volume: &Volume, fractions: &[f64]) -> Vec<f64> {
    let voxels = volume.voxel_count();
    let stride = (voxels / 1_000_000).max(1);
    let mut sample: Vec<f64> = (0..voxels)
        .step_by(stride)
        .filter_map(|v| volume.value_at(v))
        .filter(|v| v.is_finite())
        .collect();
    if sample.is_empty() {
        return fractions.iter().map(|_| 0.0).collect();
    }
    sample.sort_by(f64::total_cmp);
    fractions
        .iter()
        .map(|f| {
            let position = (f.clamp(0.0, 1.0) * (sample.len() - 1) as f64).round() as usize;
            sample[position]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volume::{Affine, Endianness, FileFormat, VoxelData};

    fn ramp(shape: [usize; 3], affine: Affine) -> Volume {
        let n: usize = shape.iter().product();
        Volume {
            path: "ramp.nii".into(),
            format: FileFormat::Nifti1,
            shape: shape.to_vec(),
            channels: 1,
            datatype: Some(4),
            endianness: Endianness::Little,
            world_from_voxel: affine,
            pixdim: [1.0; 4],
            scaling: None,
            xyzt_units: 0,
            description: String::new(),
            data: VoxelData::I16((0..n as i16).collect()),
        }
    }

    #[test]
    fn radiological_axial_puts_patient_right_on_screen_left() {
        let volume = ramp([3, 2, 2], Affine::IDENTITY);
        let slice = extract(&volume, Plane::Axial, 1, 0, Convention::Radiological).unwrap();
        assert_eq!((slice.width, slice.height), (3, 2));
        // Top-left: most anterior (j = 1), most right (i = 2), k = 1 → 2 + 3·1 + 6·1 = 11.
        assert_eq!(slice.values[0], 11.0);
        let neuro = extract(&volume, Plane::Axial, 1, 0, Convention::Neurological).unwrap();
        assert_eq!(neuro.values[0], 9.0);
    }

    #[test]
    fn out_of_range_slices_are_none() {
        let volume = ramp([3, 2, 2], Affine::IDENTITY);
        assert!(extract(&volume, Plane::Axial, 2, 0, Convention::Radiological).is_none());
        assert!(extract(&volume, Plane::Axial, 0, 1, Convention::Radiological).is_none());
        assert_eq!(slice_count(&volume, Plane::Sagittal), 3);
    }
}
