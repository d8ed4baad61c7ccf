//! Viewing planes, the display convention, and the value range of a volume
//! (for automatic windows). Pixel geometry lives in `render::view`.

use super::Volume;

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

    /// Position in [`Plane::ALL`].
    pub fn normal_axis_index(self) -> usize {
        match self {
            Plane::Axial => 0,
            Plane::Coronal => 1,
            Plane::Sagittal => 2,
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
