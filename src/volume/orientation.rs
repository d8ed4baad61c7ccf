//! Geometry: the voxel→world affine, NIfTI quaternions, axis codes and the
//! closest canonical (RAS+) grid, computed as nibabel computes them.

use serde::Serialize;

/// Dot product of two 3-vectors (the one used by view geometry and painting).
pub fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

/// Cross product of two 3-vectors.
pub fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

/// A 4×4 affine, row-major, mapping homogeneous voxel indices to RAS+ millimetres.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Affine(pub [[f64; 4]; 4]);

impl Affine {
    pub const IDENTITY: Affine = Affine([
        [1.0, 0.0, 0.0, 0.0],
        [0.0, 1.0, 0.0, 0.0],
        [0.0, 0.0, 1.0, 0.0],
        [0.0, 0.0, 0.0, 1.0],
    ]);

    /// Affine from the three NIfTI `srow_*` rows.
    pub fn from_rows(rows: [[f64; 4]; 3]) -> Self {
        Affine([rows[0], rows[1], rows[2], [0.0, 0.0, 0.0, 1.0]])
    }

    /// The qform affine: rotation from quaternion (b, c, d), voxel sizes
    /// `pixdim[1..4]` with the last multiplied by `qfac`, then the offsets.
    pub fn from_quaternion(
        bcd: [f64; 3],
        zooms_mm: [f64; 3],
        qfac: f64,
        offset_mm: [f64; 3],
    ) -> Self {
        let [b, c, d] = bcd;
        // nibabel's fillpositive: a rounding error just below zero counts as zero.
        let w2 = 1.0 - (b * b + c * c + d * d);
        let a = if w2 < 0.0 { 0.0 } else { w2.sqrt() };
        let rotation = quaternion_to_matrix([a, b, c, d]);
        let scale = [zooms_mm[0], zooms_mm[1], zooms_mm[2] * qfac];
        let mut m = Self::IDENTITY.0;
        for (row, rotation_row) in m.iter_mut().zip(rotation.iter()) {
            for col in 0..3 {
                row[col] = rotation_row[col] * scale[col];
            }
        }
        for (row, offset) in m.iter_mut().zip(offset_mm) {
            row[3] = offset;
        }
        Affine(m)
    }

    /// nibabel's `shape_zoom_affine` with x flipped: voxel sizes on the
    /// diagonal, the volume's centre at the origin. Used when a file has
    /// neither sform nor qform.
    pub fn centred(shape: &[usize], zooms_mm: [f64; 3]) -> Self {
        let mut m = Self::IDENTITY.0;
        let signed = [-zooms_mm[0], zooms_mm[1], zooms_mm[2]];
        for axis in 0..3 {
            let n = shape.get(axis).copied().unwrap_or(1) as f64;
            let origin = (n - 1.0) / 2.0;
            m[axis][axis] = signed[axis];
            m[axis][3] = -origin * signed[axis];
        }
        Affine(m)
    }

    /// World position (mm) of a voxel index (fractional allowed).
    pub fn apply(&self, voxel: [f64; 3]) -> [f64; 3] {
        let m = &self.0;
        let mut out = [0.0; 3];
        for (row, value) in out.iter_mut().enumerate() {
            *value = m[row][0] * voxel[0] + m[row][1] * voxel[1] + m[row][2] * voxel[2] + m[row][3];
        }
        out
    }

    /// The 3×3 rotation-zoom-shear part.
    fn linear(&self) -> [[f64; 3]; 3] {
        let m = &self.0;
        [
            [m[0][0], m[0][1], m[0][2]],
            [m[1][0], m[1][1], m[1][2]],
            [m[2][0], m[2][1], m[2][2]],
        ]
    }

    /// For each voxel axis, the world axis (0 = R, 1 = A, 2 = S) it runs
    /// closest to and whether it runs along (+1) or against (−1) it; `None`
    /// for a degenerate axis. nibabel's `io_orientation`.
    pub fn orientation(&self) -> [Option<(usize, f64)>; 3] {
        let mut rs = self.linear();
        // Normalise columns (voxel axes) by their zooms.
        for col in 0..3 {
            let norm = (0..3).map(|r| rs[r][col] * rs[r][col]).sum::<f64>().sqrt();
            let norm = if norm == 0.0 { 1.0 } else { norm };
            for row in rs.iter_mut() {
                row[col] /= norm;
            }
        }
        // The closest orthogonal matrix (polar factor of the SVD), as nibabel takes it.
        let mut r = polar_orthogonal(rs).unwrap_or(rs);
        let mut out = [None; 3];
        for (in_axis, slot) in out.iter_mut().enumerate() {
            let col = [r[0][in_axis], r[1][in_axis], r[2][in_axis]];
            if col.iter().all(|v| v.abs() <= 1e-8) {
                continue;
            }
            let mut out_axis = 0;
            for candidate in 1..3 {
                if col[candidate].abs() > col[out_axis].abs() {
                    out_axis = candidate;
                }
            }
            *slot = Some((out_axis, if col[out_axis] < 0.0 { -1.0 } else { 1.0 }));
            r[out_axis] = [0.0; 3];
        }
        out
    }

    /// Axis codes such as `["L", "A", "S"]`: the direction each voxel axis
    /// increases towards. nibabel's `aff2axcodes`.
    pub fn axcodes(&self) -> [Option<char>; 3] {
        const LABELS: [(char, char); 3] = [('L', 'R'), ('P', 'A'), ('I', 'S')];
        self.orientation().map(|axis| {
            axis.map(|(world, sign)| {
                let (negative, positive) = LABELS[world];
                if sign < 0.0 { negative } else { positive }
            })
        })
    }
}

/// Rotation matrix of the unit quaternion (w, x, y, z).
fn quaternion_to_matrix([w, x, y, z]: [f64; 4]) -> [[f64; 3]; 3] {
    let nq = w * w + x * x + y * y + z * z;
    if nq < f64::EPSILON {
        return [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
    }
    let s = 2.0 / nq;
    let (xs, ys, zs) = (x * s, y * s, z * s);
    let (wx, wy, wz) = (w * xs, w * ys, w * zs);
    let (xx, xy, xz) = (x * xs, x * ys, x * zs);
    let (yy, yz, zz) = (y * ys, y * zs, z * zs);
    [
        [1.0 - (yy + zz), xy - wz, xz + wy],
        [xy + wz, 1.0 - (xx + zz), yz - wx],
        [xz - wy, yz + wx, 1.0 - (xx + yy)],
    ]
}

fn determinant(m: &[[f64; 3]; 3]) -> f64 {
    m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
        - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
        + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
}

/// Inverse transpose of a 3×3 matrix, `None` when singular.
fn inverse_transpose(m: &[[f64; 3]; 3]) -> Option<[[f64; 3]; 3]> {
    let det = determinant(m);
    if det.abs() < 1e-12 {
        return None;
    }
    let cofactor =
        |r0: usize, r1: usize, c0: usize, c1: usize| m[r0][c0] * m[r1][c1] - m[r0][c1] * m[r1][c0];
    // The cofactor matrix divided by the determinant is the inverse transpose.
    Some([
        [
            cofactor(1, 2, 1, 2) / det,
            -cofactor(1, 2, 0, 2) / det,
            cofactor(1, 2, 0, 1) / det,
        ],
        [
            -cofactor(0, 2, 1, 2) / det,
            cofactor(0, 2, 0, 2) / det,
            -cofactor(0, 2, 0, 1) / det,
        ],
        [
            cofactor(0, 1, 1, 2) / det,
            -cofactor(0, 1, 0, 2) / det,
            cofactor(0, 1, 0, 1) / det,
        ],
    ])
}

/// The orthogonal factor U·Vᵀ of the polar decomposition, by Newton's
/// iteration `R ← (R + R⁻ᵀ)/2`; `None` for a singular matrix.
fn polar_orthogonal(m: [[f64; 3]; 3]) -> Option<[[f64; 3]; 3]> {
    let mut r = m;
    for _ in 0..100 {
        let inv_t = inverse_transpose(&r)?;
        let mut next = r;
        let mut change = 0.0f64;
        for i in 0..3 {
            for j in 0..3 {
                next[i][j] = 0.5 * (r[i][j] + inv_t[i][j]);
                change = change.max((next[i][j] - r[i][j]).abs());
            }
        }
        r = next;
        if change < 1e-14 {
            break;
        }
    }
    Some(r)
}

/// How the voxel grid maps onto its closest canonical RAS+ grid (axes
/// permuted and flipped only, as nibabel's `as_closest_canonical`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CanonicalGrid {
    /// For canonical axis R, A, S: the voxel axis that runs along it.
    pub voxel_axis: [usize; 3],
    /// Whether that voxel axis runs the opposite way (its index is reversed).
    pub flipped: [bool; 3],
}

impl CanonicalGrid {
    pub fn new(affine: &Affine) -> Self {
        let orientation = affine.orientation();
        let mut voxel_axis = [usize::MAX; 3];
        let mut flipped = [false; 3];
        for (voxel, axis) in orientation.iter().enumerate() {
            if let Some((world, sign)) = axis {
                voxel_axis[*world] = voxel;
                flipped[*world] = *sign < 0.0;
            }
        }
        // Degenerate axes keep the remaining voxel axes in order, unflipped.
        let assigned = voxel_axis;
        let mut unused = (0..3).filter(|v| !assigned.contains(v));
        for slot in voxel_axis.iter_mut() {
            if *slot == usize::MAX {
                *slot = unused.next().unwrap_or(0);
            }
        }
        Self {
            voxel_axis,
            flipped,
        }
    }

    /// Shape of the canonical grid, given the voxel grid's first three dims.
    pub fn shape(&self, voxel_shape: [usize; 3]) -> [usize; 3] {
        self.voxel_axis.map(|axis| voxel_shape[axis])
    }

    /// Voxel index of a canonical index.
    pub fn voxel_index(&self, canonical: [usize; 3], voxel_shape: [usize; 3]) -> [usize; 3] {
        let mut voxel = [0; 3];
        for world in 0..3 {
            let axis = self.voxel_axis[world];
            voxel[axis] = if self.flipped[world] {
                voxel_shape[axis] - 1 - canonical[world]
            } else {
                canonical[world]
            };
        }
        voxel
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axcodes_of_common_orientations() {
        let ras = Affine::IDENTITY;
        assert_eq!(ras.axcodes(), [Some('R'), Some('A'), Some('S')]);
        let lps = Affine::from_rows([
            [-1.0, 0.0, 0.0, 0.0],
            [0.0, -1.0, 0.0, 0.0],
            [0.0, 0.0, 1.0, 0.0],
        ]);
        assert_eq!(lps.axcodes(), [Some('L'), Some('P'), Some('S')]);
        // Axial slices stored coronally: j runs inferior→superior, k anterior.
        let permuted = Affine::from_rows([
            [1.0, 0.0, 0.0, 0.0],
            [0.0, 0.0, 2.0, 0.0],
            [0.0, 3.0, 0.0, 0.0],
        ]);
        assert_eq!(permuted.axcodes(), [Some('R'), Some('S'), Some('A')]);
    }

    #[test]
    fn quaternion_identity_and_rotation() {
        let identity = Affine::from_quaternion([0.0; 3], [2.0, 3.0, 4.0], 1.0, [1.0, 2.0, 3.0]);
        assert_eq!(identity.apply([1.0, 1.0, 1.0]), [3.0, 5.0, 7.0]);
        // 90° about z: b = c = 0, d = sin(45°).
        let d = std::f64::consts::FRAC_1_SQRT_2;
        let rotated = Affine::from_quaternion([0.0, 0.0, d], [1.0; 3], -1.0, [0.0; 3]);
        let p = rotated.apply([1.0, 0.0, 1.0]);
        assert!((p[0]).abs() < 1e-12 && (p[1] - 1.0).abs() < 1e-12 && (p[2] + 1.0).abs() < 1e-12);
    }

    #[test]
    fn canonical_grid_flips_and_permutes() {
        let lps = Affine::from_rows([
            [-1.0, 0.0, 0.0, 0.0],
            [0.0, 0.0, -1.0, 0.0],
            [0.0, 1.0, 0.0, 0.0],
        ]);
        let grid = CanonicalGrid::new(&lps);
        assert_eq!(grid.voxel_axis, [0, 2, 1]);
        assert_eq!(grid.flipped, [true, true, false]);
        assert_eq!(grid.shape([4, 5, 6]), [4, 6, 5]);
        assert_eq!(grid.voxel_index([0, 0, 0], [4, 5, 6]), [3, 0, 5]);
    }
}
