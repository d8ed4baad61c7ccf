//! A CT-like phantom: an elliptical body of soft tissue in air, with a spine,
//! two lungs and noise, in Hounsfield units stored as int16.

use super::Rng;
use crate::volume::{Affine, Endianness, FileFormat, Volume, VoxelData};

/// Builds an `n`³ int16 phantom with 1 mm voxels, RAS-aligned and centred.
pub fn ct_phantom(n: usize, seed: u64) -> Volume {
    let mut rng = Rng::new(seed);
    let mut values = Vec::with_capacity(n * n * n);
    let half = n as f64 / 2.0;
    for k in 0..n {
        for j in 0..n {
            for i in 0..n {
                let (x, y, z) = (
                    (i as f64 - half) / half,
                    (j as f64 - half) / half,
                    (k as f64 - half) / half,
                );
                let body = (x / 0.8).powi(2) + (y / 0.6).powi(2) < 1.0 && z.abs() < 0.9;
                let lung =
                    ((x.abs() - 0.35) / 0.25).powi(2) + (y / 0.35).powi(2) < 1.0 && z.abs() < 0.6;
                let spine = (x / 0.1).powi(2) + ((y + 0.4) / 0.1).powi(2) < 1.0;
                let hu = if !body {
                    -1000.0
                } else if spine {
                    700.0
                } else if lung {
                    -800.0
                } else {
                    40.0
                };
                let noisy = hu + 12.0 * rng.normal();
                values.push(noisy.round().clamp(-1024.0, 3071.0) as i16);
            }
        }
    }
    Volume {
        path: format!("phantom_{n}.nii").into(),
        format: FileFormat::Nifti1,
        shape: vec![n, n, n],
        channels: 1,
        datatype: Some(4),
        endianness: Endianness::Little,
        world_from_voxel: Affine::centred(&[n, n, n], [1.0; 3]),
        pixdim: [1.0, 1.0, 1.0, 1.0],
        scaling: None,
        xyzt_units: 2, // millimetres
        description: format!("Loupe CT phantom, seed {seed}"),
        data: VoxelData::I16(values),
        dicom: None,
    }
}
