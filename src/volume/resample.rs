//! Resampling a 3-D grid of values (x fastest: `x + nx·(y + ny·z)`) to
//! another shape over the same field of view, voxel centres aligned: a
//! voxel `i` of `n` sits at `(i + ½)/n` of the axis. Trilinear for
//! intensities, nearest for labels (a label is never blended).

/// Where output voxel `i` of `to` falls among `n` input voxels: the two
/// neighbours and the weight of the upper one.
fn source(i: usize, n: usize, to: usize) -> (usize, usize, f32) {
    let p = ((i as f32 + 0.5) * n as f32 / to as f32 - 0.5).clamp(0.0, (n - 1) as f32);
    let lower = p.floor() as usize;
    (lower, (lower + 1).min(n - 1), p - lower as f32)
}

/// `values` of `shape` resampled trilinearly to `to`.
pub fn trilinear(values: &[f32], shape: [usize; 3], to: [usize; 3]) -> Vec<f32> {
    if shape == to {
        return values.to_vec();
    }
    let [nx, ny, nz] = shape;
    let at = |x: usize, y: usize, z: usize| values[x + nx * (y + ny * z)];
    let lerp = |a: f32, b: f32, t: f32| a + (b - a) * t;
    let mut out = Vec::with_capacity(to[0] * to[1] * to[2]);
    for k in 0..to[2] {
        let (z0, z1, fz) = source(k, nz, to[2]);
        for j in 0..to[1] {
            let (y0, y1, fy) = source(j, ny, to[1]);
            for i in 0..to[0] {
                let (x0, x1, fx) = source(i, nx, to[0]);
                let plane = |z: usize| {
                    lerp(
                        lerp(at(x0, y0, z), at(x1, y0, z), fx),
                        lerp(at(x0, y1, z), at(x1, y1, z), fx),
                        fy,
                    )
                };
                out.push(lerp(plane(z0), plane(z1), fz));
            }
        }
    }
    out
}

/// `values` of `shape` resampled to `to` by the nearest voxel centre.
pub fn nearest<T: Copy>(values: &[T], shape: [usize; 3], to: [usize; 3]) -> Vec<T> {
    if shape == to {
        return values.to_vec();
    }
    let index = |i: usize, n: usize, to: usize| {
        (((i as f64 + 0.5) * n as f64 / to as f64) as usize).min(n - 1)
    };
    let mut out = Vec::with_capacity(to[0] * to[1] * to[2]);
    for k in 0..to[2] {
        let z = index(k, shape[2], to[2]);
        for j in 0..to[1] {
            let y = index(j, shape[1], to[1]);
            for i in 0..to[0] {
                let x = index(i, shape[0], to[0]);
                out.push(values[x + shape[0] * (y + shape[1] * z)]);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_halves_and_doubles_a_grid_exactly() {
        // 4×1×1 → 2×1×1: centres 0.25·4 − ½ … nearest of voxels 1 and 3.
        assert_eq!(nearest(&[1u8, 2, 3, 4], [4, 1, 1], [2, 1, 1]), [2, 4]);
        assert_eq!(nearest(&[7u8, 9], [2, 1, 1], [4, 1, 1]), [7, 7, 9, 9]);
        let same = [1u8, 2, 3];
        assert_eq!(nearest(&same, [3, 1, 1], [3, 1, 1]), same);
    }

    #[test]
    fn trilinear_interpolates_between_centres() {
        // 2 voxels → 4: output centres at input positions −¼, ¼, ¾, 1¼ (clamped).
        let out = trilinear(&[0.0, 1.0], [2, 1, 1], [4, 1, 1]);
        assert_eq!(out, [0.0, 0.25, 0.75, 1.0]);
        // A constant stays constant along every axis.
        let out = trilinear(&[5.0; 8], [2, 2, 2], [3, 5, 4]);
        assert!(out.iter().all(|&v| (v - 5.0).abs() < 1e-6) && out.len() == 60);
    }
}
