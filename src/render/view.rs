//! View geometry: which voxel every screen pixel shows. One affine map from
//! pixel centres to continuous voxel indices drives both the GPU shader and
//! the CPU reference renderer, so the two draw the same image.
//!
//! Views live on the volume's closest canonical RAS+ grid scaled by voxel
//! size ("canonical millimetres"), so non-isotropic voxels keep their true
//! aspect and an oblique plane is a rotation there about the crosshair.

use crate::volume::CanonicalGrid;
use crate::volume::orientation::{cross, dot};
use crate::volume::slice::{Convention, Plane};

/// Maps pixel-centre coordinates `(x + 0.5, y + 0.5)` to voxel indices `(i, j, k)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ViewGeometry {
    pub origin: [f64; 3],
    /// Voxel-index step for one pixel right.
    pub step_x: [f64; 3],
    /// Voxel-index step for one pixel down.
    pub step_y: [f64; 3],
}

impl ViewGeometry {
    /// Continuous voxel index at a point in view pixels.
    pub fn voxel_at(&self, x: f64, y: f64) -> [f64; 3] {
        [0, 1, 2].map(|a| self.origin[a] + self.step_x[a] * x + self.step_y[a] * y)
    }

    /// The view pixel showing a voxel position (its projection onto the
    /// view's plane): the inverse of [`Self::voxel_at`] on the plane.
    pub fn pixel_at(&self, voxel: [f64; 3]) -> [f64; 2] {
        let d = [0, 1, 2].map(|a| voxel[a] - self.origin[a]);
        let (xx, yy, xy) = (
            dot(self.step_x, self.step_x),
            dot(self.step_y, self.step_y),
            dot(self.step_x, self.step_y),
        );
        let (dx, dy) = (dot(d, self.step_x), dot(d, self.step_y));
        let det = xx * yy - xy * xy;
        if det.abs() < 1e-18 {
            return [0.0, 0.0];
        }
        [(dx * yy - dy * xy) / det, (dy * xx - dx * xy) / det]
    }

    /// Builds the affine map from any function of pixel position that is affine.
    fn from_affine_fn(f: impl Fn(f64, f64) -> [f64; 3]) -> Self {
        let o = f(0.0, 0.0);
        let x = f(1.0, 0.0);
        let y = f(0.0, 1.0);
        Self {
            origin: o,
            step_x: [0, 1, 2].map(|a| x[a] - o[a]),
            step_y: [0, 1, 2].map(|a| y[a] - o[a]),
        }
    }

    /// One pixel per voxel of slice `index` on the canonical grid, laid out in
    /// the display convention (what `loupe render` writes). Returns the
    /// geometry and the image size.
    pub fn orthogonal_slice(
        grid: &CanonicalGrid,
        voxel_shape: [usize; 3],
        plane: Plane,
        index: usize,
        convention: Convention,
    ) -> (Self, usize, usize) {
        let canonical_shape = grid.shape(voxel_shape);
        let axes = ScreenAxes::of(plane, convention);
        let (width, height) = (canonical_shape[axes.x.0], canonical_shape[axes.y.0]);
        let geometry = Self::from_affine_fn(|px, py| {
            let mut canonical = [0.0; 3];
            canonical[plane.normal_axis()] = index as f64;
            canonical[axes.x.0] = if axes.x.1 {
                width as f64 - 0.5 - px
            } else {
                px - 0.5
            };
            canonical[axes.y.0] = if axes.y.1 {
                height as f64 - 0.5 - py
            } else {
                py - 0.5
            };
            voxel_from_canonical(grid, voxel_shape, canonical)
        });
        (geometry, width, height)
    }
}

/// Canonical (continuous) index → stored voxel index.
pub fn voxel_from_canonical(
    grid: &CanonicalGrid,
    voxel_shape: [usize; 3],
    canonical: [f64; 3],
) -> [f64; 3] {
    let mut voxel = [0.0; 3];
    for world in 0..3 {
        let axis = grid.voxel_axis[world];
        voxel[axis] = if grid.flipped[world] {
            voxel_shape[axis] as f64 - 1.0 - canonical[world]
        } else {
            canonical[world]
        };
    }
    voxel
}

/// Stored voxel index → canonical (continuous) index.
pub fn canonical_from_voxel(
    grid: &CanonicalGrid,
    voxel_shape: [usize; 3],
    voxel: [f64; 3],
) -> [f64; 3] {
    let mut canonical = [0.0; 3];
    for world in 0..3 {
        let axis = grid.voxel_axis[world];
        canonical[world] = if grid.flipped[world] {
            voxel_shape[axis] as f64 - 1.0 - voxel[axis]
        } else {
            voxel[axis]
        };
    }
    canonical
}

/// For screen x and y: the canonical axis and whether it runs against the screen direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScreenAxes {
    pub x: (usize, bool),
    pub y: (usize, bool),
}

impl ScreenAxes {
    pub fn of(plane: Plane, convention: Convention) -> Self {
        let neuro = convention == Convention::Neurological;
        match plane {
            // Screen left is the patient's right (high R) unless neurological; top is anterior.
            Plane::Axial => Self {
                x: (0, !neuro),
                y: (1, true),
            },
            Plane::Coronal => Self {
                x: (0, !neuro),
                y: (2, true),
            },
            // Screen left is anterior, top superior.
            Plane::Sagittal => Self {
                x: (1, true),
                y: (2, true),
            },
        }
    }

    /// Orientation letters at the view's left, right, top and bottom edges.
    pub fn edge_letters(&self) -> [char; 4] {
        const LOW_HIGH: [(char, char); 3] = [('L', 'R'), ('P', 'A'), ('I', 'S')];
        let (low_x, high_x) = LOW_HIGH[self.x.0];
        let (low_y, high_y) = LOW_HIGH[self.y.0];
        let (left, right) = if self.x.1 {
            (high_x, low_x)
        } else {
            (low_x, high_x)
        };
        let (top, bottom) = if self.y.1 {
            (high_y, low_y)
        } else {
            (low_y, high_y)
        };
        [left, right, top, bottom]
    }
}

/// How one interactive view looks at the volume.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ViewSpec {
    pub plane: Plane,
    pub convention: Convention,
    /// The linked cursor (canonical index): the plane passes through it.
    pub crosshair: [f64; 3],
    /// The point shown at the view's centre before panning (canonical index),
    /// so moving the crosshair does not move the image.
    pub focus: [f64; 3],
    /// Magnification over the fit-to-view scale.
    pub zoom: f64,
    /// Shift of the image in screen pixels.
    pub pan: [f64; 2],
    /// Rotation of the plane about the screen's x and y axes (radians); zero is orthogonal.
    pub tilt: [f64; 2],
}

impl ViewSpec {
    pub fn new(plane: Plane, crosshair: [f64; 3]) -> Self {
        Self {
            plane,
            convention: Convention::Radiological,
            crosshair,
            focus: crosshair,
            zoom: 1.0,
            pan: [0.0, 0.0],
            tilt: [0.0, 0.0],
        }
    }

    /// The screen's right and down directions and the plane normal in canonical millimetres.
    pub fn basis(&self) -> [[f64; 3]; 3] {
        let axes = ScreenAxes::of(self.plane, self.convention);
        let unit = |axis: usize, negate: bool| {
            let mut v = [0.0; 3];
            v[axis] = if negate { -1.0 } else { 1.0 };
            v
        };
        let right = unit(axes.x.0, axes.x.1);
        let down = unit(axes.y.0, axes.y.1);
        let normal = cross(right, down);
        let (right, down, normal) = rotate_frame(right, down, normal, self.tilt[0], self.tilt[1]);
        [right, down, normal]
    }

    /// Scale (pixels per mm), the plane's centre point (canonical mm), and the screen basis.
    fn frame(
        &self,
        grid: &CanonicalGrid,
        voxel_shape: [usize; 3],
        spacing_mm: [f64; 3],
        size_px: [f64; 2],
    ) -> (f64, [f64; 3], [[f64; 3]; 3], [f64; 3]) {
        let canonical_spacing = grid.voxel_axis.map(|axis| spacing_mm[axis].max(1e-6));
        let pixels_per_mm = self.fit_scale(grid, voxel_shape, spacing_mm, size_px) * self.zoom;
        let basis = self.basis();
        let [right, down, _] = basis;
        let crosshair_mm = [0, 1, 2].map(|a| self.crosshair[a] * canonical_spacing[a]);
        let focus_mm = [0, 1, 2].map(|a| self.focus[a] * canonical_spacing[a]);
        let d = [0, 1, 2].map(|a| focus_mm[a] - crosshair_mm[a]);
        let (along_right, along_down) = (dot(d, right), dot(d, down));
        // The focus projected onto the plane through the crosshair.
        let centre_mm =
            [0, 1, 2].map(|a| crosshair_mm[a] + along_right * right[a] + along_down * down[a]);
        (pixels_per_mm, centre_mm, basis, canonical_spacing)
    }

    /// The geometry for a view of `size_px` pixels.
    pub fn geometry(
        &self,
        grid: &CanonicalGrid,
        voxel_shape: [usize; 3],
        spacing_mm: [f64; 3],
        size_px: [f64; 2],
    ) -> ViewGeometry {
        let (pixels_per_mm, centre_mm, [right, down, _], canonical_spacing) =
            self.frame(grid, voxel_shape, spacing_mm, size_px);
        let centre_px = [
            size_px[0] / 2.0 + self.pan[0],
            size_px[1] / 2.0 + self.pan[1],
        ];
        ViewGeometry::from_affine_fn(|px, py| {
            let (du, dv) = (
                (px - centre_px[0]) / pixels_per_mm,
                (py - centre_px[1]) / pixels_per_mm,
            );
            let canonical = [0, 1, 2]
                .map(|a| (centre_mm[a] + du * right[a] + dv * down[a]) / canonical_spacing[a]);
            voxel_from_canonical(grid, voxel_shape, canonical)
        })
    }

    /// Pixels per millimetre at which the orthogonal plane fills the view.
    pub fn fit_scale(
        &self,
        grid: &CanonicalGrid,
        voxel_shape: [usize; 3],
        spacing_mm: [f64; 3],
        size_px: [f64; 2],
    ) -> f64 {
        let axes = ScreenAxes::of(self.plane, self.convention);
        let canonical_shape = grid.shape(voxel_shape);
        let extent = |axis: usize| {
            canonical_shape[axis] as f64 * spacing_mm[grid.voxel_axis[axis]].max(1e-6)
        };
        (size_px[0] / extent(axes.x.0))
            .min(size_px[1] / extent(axes.y.0))
            .max(1e-6)
    }

    /// Where the crosshair appears in the view, in pixels.
    pub fn crosshair_px(
        &self,
        grid: &CanonicalGrid,
        voxel_shape: [usize; 3],
        spacing_mm: [f64; 3],
        size_px: [f64; 2],
    ) -> [f64; 2] {
        let (pixels_per_mm, centre_mm, [right, down, _], canonical_spacing) =
            self.frame(grid, voxel_shape, spacing_mm, size_px);
        let crosshair_mm = [0, 1, 2].map(|a| self.crosshair[a] * canonical_spacing[a]);
        let d = [0, 1, 2].map(|a| crosshair_mm[a] - centre_mm[a]);
        [
            size_px[0] / 2.0 + self.pan[0] + dot(d, right) * pixels_per_mm,
            size_px[1] / 2.0 + self.pan[1] + dot(d, down) * pixels_per_mm,
        ]
    }
}

/// Rotates `v` about unit axis `k` by `angle` (Rodrigues).
fn rotate(v: [f64; 3], k: [f64; 3], angle: f64) -> [f64; 3] {
    let (s, c) = angle.sin_cos();
    let kxv = cross(k, v);
    let kv = k[0] * v[0] + k[1] * v[1] + k[2] * v[2];
    [0, 1, 2].map(|a| v[a] * c + kxv[a] * s + k[a] * kv * (1.0 - c))
}

fn rotate_frame(
    right: [f64; 3],
    down: [f64; 3],
    normal: [f64; 3],
    about_x: f64,
    about_y: f64,
) -> ([f64; 3], [f64; 3], [f64; 3]) {
    let (down, normal) = (rotate(down, right, about_x), rotate(normal, right, about_x));
    let (right, normal) = (rotate(right, down, about_y), rotate(normal, down, about_y));
    (right, down, normal)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volume::Affine;

    #[test]
    fn orthogonal_slice_maps_pixel_centres_to_voxel_centres() {
        let grid = CanonicalGrid::new(&Affine::IDENTITY);
        let (g, w, h) = ViewGeometry::orthogonal_slice(
            &grid,
            [4, 3, 2],
            Plane::Axial,
            1,
            Convention::Radiological,
        );
        assert_eq!((w, h), (4, 3));
        // Top-left pixel: patient right (i = 3), anterior (j = 2).
        assert_eq!(g.voxel_at(0.5, 0.5), [3.0, 2.0, 1.0]);
        assert_eq!(g.voxel_at(3.5, 2.5), [0.0, 0.0, 1.0]);
    }

    #[test]
    fn an_untilted_view_matches_the_orthogonal_slice() {
        let grid = CanonicalGrid::new(&Affine::IDENTITY);
        let shape = [6, 4, 5];
        let (slice, w, h) = ViewGeometry::orthogonal_slice(
            &grid,
            shape,
            Plane::Coronal,
            2,
            Convention::Radiological,
        );
        // Centre the crosshair on the slice centre; one pixel per mm (1 mm voxels) in a w × h view.
        let mut spec = ViewSpec::new(
            Plane::Coronal,
            [
                (shape[0] as f64 - 1.0) / 2.0,
                2.0,
                (shape[2] as f64 - 1.0) / 2.0,
            ],
        );
        spec.zoom = 1.0;
        let view = spec.geometry(&grid, shape, [1.0; 3], [w as f64, h as f64]);
        for (x, y) in [(0.5, 0.5), (3.5, 1.5), (5.5, 4.5)] {
            let (a, b) = (slice.voxel_at(x, y), view.voxel_at(x, y));
            for axis in 0..3 {
                assert!((a[axis] - b[axis]).abs() < 1e-9, "{a:?} vs {b:?}");
            }
        }
        assert_eq!(
            ScreenAxes::of(Plane::Coronal, Convention::Radiological).edge_letters(),
            ['R', 'L', 'S', 'I']
        );
        assert_eq!(
            ScreenAxes::of(Plane::Sagittal, Convention::Radiological).edge_letters(),
            ['A', 'P', 'S', 'I']
        );
    }
}
