//! The CPU reference renderer: window/level of a slice into display pixels.
//! The GPU viewer must match it; `loupe render` writes its output.

use super::view::ViewGeometry;
use crate::volume::slice::{self, Convention, Plane};
use crate::volume::voxels::{Sample, with_samples};
use crate::volume::{CanonicalGrid, SampleType, Scaling, Volume};

/// A display window over scaled values: `center ± width/2` maps to black…white.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WindowLevel {
    pub center: f64,
    pub width: f64,
}

impl WindowLevel {
    /// A window spanning `low..high` (at least 1e-6 wide).
    pub fn from_range(low: f64, high: f64) -> Self {
        let width = (high - low).max(1e-6);
        Self {
            center: low + width / 2.0,
            width,
        }
    }

    /// Grey level of a value: `floor(clamp((v − (C − W/2)) / W, 0, 1) × 255 + 0.5)`.
    #[inline]
    pub fn grey(&self, value: f64) -> u8 {
        let t = ((value - (self.center - self.width / 2.0)) / self.width).clamp(0.0, 1.0);
        // NaN clamps to NaN and casts to 0: missing values draw black.
        (t * 255.0 + 0.5).floor() as u8
    }
}

/// How samples between voxel centres are found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Interpolation {
    #[default]
    Nearest,
    /// Trilinear between the eight nearest voxel centres.
    Linear,
}

/// A label map drawn over the image.
#[derive(Clone, Copy, Debug)]
pub struct LabelOverlay<'a> {
    /// Integer labels on the same voxel grid as the image; 0 is background.
    pub labels: &'a Volume,
    pub opacity: f32,
    /// Draw only each region's edge.
    pub outline: bool,
}

/// Colour of label `label` (> 0): a fixed, distinguishable palette, repeating.
/// Mirrors `palette()` in shaders/slice.wgsl.
pub fn label_colour(label: u32) -> [f32; 3] {
    const PALETTE: [[f32; 3]; 8] = [
        [230.0, 25.0, 75.0],
        [60.0, 180.0, 75.0],
        [255.0, 225.0, 25.0],
        [0.0, 130.0, 200.0],
        [245.0, 130.0, 48.0],
        [145.0, 30.0, 180.0],
        [70.0, 240.0, 240.0],
        [240.0, 50.0, 230.0],
    ];
    PALETTE[((label.max(1) - 1) % 8) as usize]
}

/// The scaling and window a volume is drawn with. MONOCHROME1 (low values
/// bright) is inverted on screen only: −value under the mirrored window,
/// so the stored values, readouts and window numbers stay the file's. The
/// CPU renderer and the GPU viewer both draw through this.
pub fn display_scaling(volume: &Volume, window: WindowLevel) -> (Scaling, WindowLevel) {
    let scaling = volume.scaling.unwrap_or(Scaling {
        slope: 1.0,
        inter: 0.0,
    });
    if volume.dicom.as_ref().is_some_and(|d| d.inverted()) {
        (
            Scaling {
                slope: -scaling.slope,
                inter: -scaling.inter,
            },
            WindowLevel {
                center: -window.center,
                width: window.width,
            },
        )
    } else {
        (scaling, window)
    }
}

/// Everything that decides a view's pixels besides its geometry.
#[derive(Clone, Copy, Debug)]
pub struct RenderOptions {
    pub window: WindowLevel,
    pub interpolation: Interpolation,
    pub time: usize,
}

/// Samples channel `channel` of a volume at continuous voxel index `c`;
/// `None` outside the volume. Positions are f32 as in the shader (so both
/// pick the same voxels); values stay f64, the reference's precision.
fn sample<T: Sample>(
    data: &[T],
    shape: [usize; 3],
    channels: usize,
    base: usize,
    channel: usize,
    c: [f32; 3],
    interpolation: Interpolation,
) -> Option<f64> {
    let at = |i: usize, j: usize, k: usize| {
        data[base + ((k * shape[1] + j) * shape[0] + i) * channels + channel].to_f64()
    };
    match interpolation {
        Interpolation::Nearest => {
            let mut index = [0usize; 3];
            for a in 0..3 {
                let i = (c[a] + 0.5).floor();
                if i < 0.0 || i >= shape[a] as f32 {
                    return None;
                }
                index[a] = i as usize;
            }
            Some(at(index[0], index[1], index[2]))
        }
        Interpolation::Linear => {
            let mut lo = [0usize; 3];
            let mut hi = [0usize; 3];
            let mut f = [0f64; 3];
            for a in 0..3 {
                let n = shape[a] as f32;
                if c[a] < -0.5 || c[a] >= n - 0.5 {
                    return None;
                }
                let x = c[a].clamp(0.0, n - 1.0);
                let x0 = x.floor();
                lo[a] = x0 as usize;
                hi[a] = (lo[a] + 1).min(shape[a] - 1);
                f[a] = (x - x0) as f64;
            }
            let lerp = |a: f64, b: f64, t: f64| a + (b - a) * t;
            let c00 = lerp(at(lo[0], lo[1], lo[2]), at(hi[0], lo[1], lo[2]), f[0]);
            let c10 = lerp(at(lo[0], hi[1], lo[2]), at(hi[0], hi[1], lo[2]), f[0]);
            let c01 = lerp(at(lo[0], lo[1], hi[2]), at(hi[0], lo[1], hi[2]), f[0]);
            let c11 = lerp(at(lo[0], hi[1], hi[2]), at(hi[0], hi[1], hi[2]), f[0]);
            Some(lerp(lerp(c00, c10, f[1]), lerp(c01, c11, f[1]), f[2]))
        }
    }
}

/// Label at continuous voxel index `c` (nearest), 0 outside.
fn label_at(labels: &Volume, c: [f32; 3]) -> u32 {
    fn typed<T: Sample>(data: &[T], shape: [usize; 3], c: [f32; 3]) -> u32 {
        sample(data, shape, 1, 0, 0, c, Interpolation::Nearest).map_or(0, |v| v.max(0.0) as u32)
    }
    let shape = labels.spatial_shape();
    with_samples!(&labels.data, v => typed(v, shape, c))
}

type Steps = ([f32; 3], [f32; 3], [f32; 3]);

/// A view whose pixels step exactly one voxel along voxel axes, with pixel
/// centres on voxel centres: the voxel of pixel (x, y) is
/// `start + x·dx + y·dy` per axis, the same voxel the general formula picks.
struct AxisWalk {
    start: [i64; 3],
    dx: [i64; 3],
    dy: [i64; 3],
    shape: [i64; 3],
}

impl AxisWalk {
    fn new((origin, sx, sy): Steps, shape: [usize; 3]) -> Option<Self> {
        let unit = |v: f32| v == 0.0 || v == 1.0 || v == -1.0;
        let one_axis = |s: [f32; 3]| s.iter().filter(|v| **v != 0.0).count() == 1;
        if !(sx.iter().chain(sy.iter()).all(|v| unit(*v)) && one_axis(sx) && one_axis(sy)) {
            return None;
        }
        let mut start = [0i64; 3];
        for a in 0..3 {
            let centre = origin[a] + 0.5 * sx[a] + 0.5 * sy[a];
            if (centre - centre.round()).abs() > 1e-4 {
                return None;
            }
            start[a] = centre.round() as i64;
        }
        Some(Self {
            start,
            dx: sx.map(|v| v as i64),
            dy: sy.map(|v| v as i64),
            shape: shape.map(|n| n as i64),
        })
    }

    #[inline]
    fn index(&self, x: usize, y: usize) -> Option<usize> {
        let mut linear = 0i64;
        let mut scale = 1i64;
        for a in 0..3 {
            let v = self.start[a] + self.dx[a] * x as i64 + self.dy[a] * y as i64;
            if v < 0 || v >= self.shape[a] {
                return None;
            }
            linear += v * scale;
            scale *= self.shape[a];
        }
        Some(linear as usize)
    }
}

fn draw_nearest_grey<T: Sample>(
    data: &[T],
    out: &mut [u8],
    (width, height): (usize, usize),
    (origin, sx, sy): Steps,
    (shape, base): ([usize; 3], usize),
    (slope, inter, window): (f64, f64, WindowLevel),
) {
    let grey = |v: f64| window.grey(v * slope + inter);
    let table: Vec<u8> = (0..T::TABLE_SIZE)
        .map(|i| grey(T::from_table_index(i)))
        .collect();
    let lookup = |v: T| {
        if T::TABLE_SIZE > 0 {
            table[v.table_index()]
        } else {
            grey(v.to_f64())
        }
    };
    if let Some(walk) = AxisWalk::new((origin, sx, sy), shape) {
        // One voxel per pixel along voxel axes (`loupe render`, thumbnails):
        // walk the linear index instead of computing positions.
        for y in 0..height {
            for x in 0..width {
                let g = walk
                    .index(x, y)
                    .map_or(0, |index| lookup(data[base + index]));
                out[(y * width + x) * 4..(y * width + x) * 4 + 4].copy_from_slice(&[g, g, g, 255]);
            }
        }
        return;
    }
    let limits = shape.map(|n| n as f32);
    for y in 0..height {
        let py = y as f32 + 0.5;
        let row = [0, 1, 2].map(|a| origin[a] + sy[a] * py);
        for x in 0..width {
            let px = x as f32 + 0.5;
            let i = (row[0] + sx[0] * px + 0.5).floor();
            let j = (row[1] + sx[1] * px + 0.5).floor();
            let k = (row[2] + sx[2] * px + 0.5).floor();
            let pixel = &mut out[(y * width + x) * 4..(y * width + x) * 4 + 4];
            if i < 0.0 || j < 0.0 || k < 0.0 || i >= limits[0] || j >= limits[1] || k >= limits[2] {
                pixel.copy_from_slice(&[0, 0, 0, 255]);
                continue;
            }
            let g =
                lookup(data[base + (k as usize * shape[1] + j as usize) * shape[0] + i as usize]);
            pixel.copy_from_slice(&[g, g, g, 255]);
        }
    }
}

fn draw_general<T: Sample>(
    data: &[T],
    out: &mut [u8],
    (width, height): (usize, usize),
    voxel: &dyn Fn(f32, f32) -> [f32; 3],
    (shape, channels, base): ([usize; 3], usize, usize),
    (slope, inter, window): (f64, f64, WindowLevel),
    interpolation: Interpolation,
) {
    for y in 0..height {
        for x in 0..width {
            let c = voxel(x as f32 + 0.5, y as f32 + 0.5);
            let rgb = if channels == 1 {
                sample(data, shape, 1, base, 0, c, interpolation)
                    .map(|v| [window.grey(v * slope + inter); 3])
            } else {
                sample(data, shape, channels, base, 0, c, interpolation).map(|r| {
                    let g = sample(data, shape, channels, base, 1, c, interpolation).unwrap_or(0.0);
                    let b = sample(data, shape, channels, base, 2, c, interpolation).unwrap_or(0.0);
                    [window.grey(r), window.grey(g), window.grey(b)]
                })
            };
            let [r, g, b] = rgb.unwrap_or([0; 3]);
            out[(y * width + x) * 4..(y * width + x) * 4 + 4].copy_from_slice(&[r, g, b, 255]);
        }
    }
}

/// The CPU reference renderer: RGBA pixels of a `width`×`height` view.
/// Outside the volume is black. The GPU viewer matches it.
pub fn render_view(
    volume: &Volume,
    geometry: &ViewGeometry,
    width: usize,
    height: usize,
    options: &RenderOptions,
    overlay: Option<LabelOverlay>,
) -> Vec<u8> {
    let shape = volume.spatial_shape();
    let channels = volume.channels;
    let base = options.time.min(volume.time_points().saturating_sub(1))
        * shape.iter().product::<usize>()
        * channels;
    let (Scaling { slope, inter }, window) = display_scaling(volume, options.window);
    let origin = geometry.origin.map(|v| v as f32);
    let (sx, sy) = (
        geometry.step_x.map(|v| v as f32),
        geometry.step_y.map(|v| v as f32),
    );
    let voxel = |x: f32, y: f32| [0, 1, 2].map(|a| origin[a] + sx[a] * x + sy[a] * y);

    let mut out = vec![0u8; width * height * 4];
    if channels == 1 && options.interpolation == Interpolation::Nearest {
        // The common case (and `loupe render`): a table of grey levels for
        // 8/16-bit data, one index computation per pixel.
        with_samples!(&volume.data, v => draw_nearest_grey(v, &mut out, (width, height), (origin, sx, sy), (shape, base), (slope, inter, window)));
    } else {
        with_samples!(&volume.data, v => draw_general(v, &mut out, (width, height), &voxel, (shape, channels, base), (slope, inter, window), options.interpolation));
    }

    if let Some(overlay) = overlay {
        for y in 0..height {
            for x in 0..width {
                let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
                let label = label_at(overlay.labels, voxel(px, py));
                if label == 0 {
                    continue;
                }
                if overlay.outline {
                    let neighbours = [
                        (px - 1.0, py),
                        (px + 1.0, py),
                        (px, py - 1.0),
                        (px, py + 1.0),
                    ];
                    if neighbours
                        .iter()
                        .all(|&(nx, ny)| label_at(overlay.labels, voxel(nx, ny)) == label)
                    {
                        continue;
                    }
                }
                let colour = label_colour(label);
                let pixel = &mut out[(y * width + x) * 4..(y * width + x) * 4 + 3];
                for (channel, target) in pixel.iter_mut().zip(colour) {
                    let blended =
                        *channel as f32 * (1.0 - overlay.opacity) + target * overlay.opacity;
                    *channel = (blended + 0.5).floor().clamp(0.0, 255.0) as u8;
                }
            }
        }
    }
    out
}

/// Window spanning the 0.5–99.5 percentiles of a grey volume's values; the
/// stored range for colour (so a photo shows as it is).
pub fn automatic_window(volume: &Volume) -> WindowLevel {
    if volume.channels != 1 {
        let full_scale = match volume.data.sample_type() {
            SampleType::U16 => 65535.0,
            SampleType::F32 | SampleType::F64 => 1.0,
            _ => 255.0,
        };
        return WindowLevel::from_range(0.0, full_scale);
    }
    let p = slice::percentiles(volume, &[0.005, 0.995]);
    WindowLevel::from_range(p[0], p[1])
}

/// RGBA pixels of the middle axial slice, one pixel per voxel, radiological,
/// automatic window: a photo as stored, a volume as a thumbnail or training input.
pub fn middle_axial_slice(volume: &Volume) -> (usize, usize, Vec<u8>) {
    let grid = CanonicalGrid::new(&volume.world_from_voxel);
    let shape = volume.spatial_shape();
    let k = grid.shape(shape)[Plane::Axial.normal_axis()] / 2;
    axial_slice(volume, k)
}

/// The axial slice through voxel `focus` (a lesion's centre), or without
/// one the volume's most informative axial slice — the one whose grey
/// values vary most, sampled on a 32 × 32 lattice (a brain's widest
/// section, not an empty end slice); a photo is its one slice. RGBA,
/// radiological, automatic window.
pub fn axial_slice_through(volume: &Volume, focus: Option<[usize; 3]>) -> (usize, usize, Vec<u8>) {
    let grid = CanonicalGrid::new(&volume.world_from_voxel);
    let shape = volume.spatial_shape();
    let axis = Plane::Axial.normal_axis();
    let depth = grid.shape(shape)[axis];
    let k = match focus {
        Some(voxel) => {
            let canonical =
                super::view::canonical_from_voxel(&grid, shape, voxel.map(|v| v as f64));
            (canonical[axis].round().max(0.0) as usize).min(depth.saturating_sub(1))
        }
        None if depth > 1 => most_varied_axial_slice(volume, &grid, shape),
        None => 0,
    };
    axial_slice(volume, k)
}

/// The canonical axial index whose sampled grey values have the largest variance.
fn most_varied_axial_slice(volume: &Volume, grid: &CanonicalGrid, shape: [usize; 3]) -> usize {
    let axis = Plane::Axial.normal_axis();
    let depth = grid.shape(shape)[axis];
    let lattice = 32usize;
    let extent = grid.shape(shape);
    // The two in-plane axes, and a lattice step's position along one.
    let [u, v] = match axis {
        0 => [1, 2],
        1 => [0, 2],
        _ => [0, 1],
    };
    let at = |step: usize, along: usize| {
        ((step as f64 + 0.5) / lattice as f64 * extent[along] as f64).floor()
    };
    let mut best = (depth / 2, f64::NEG_INFINITY);
    for k in 0..depth {
        let (mut sum, mut sum_sq, mut n) = (0.0f64, 0.0f64, 0.0f64);
        for a in 0..lattice {
            for b in 0..lattice {
                let mut canonical = [0.0f64; 3];
                canonical[u] = at(a, u);
                canonical[v] = at(b, v);
                canonical[axis] = k as f64;
                let voxel = super::view::voxel_from_canonical(grid, shape, canonical);
                let index: Vec<usize> = voxel.iter().map(|v| v.round().max(0.0) as usize).collect();
                if let Some(value) = volume.value(&index) {
                    sum += value;
                    sum_sq += value * value;
                    n += 1.0;
                }
            }
        }
        if n > 0.0 {
            let variance = sum_sq / n - (sum / n).powi(2);
            if variance > best.1 {
                best = (k, variance);
            }
        }
    }
    best.0
}

/// Canonical axial slice `k`, radiological, automatic window, RGBA.
fn axial_slice(volume: &Volume, k: usize) -> (usize, usize, Vec<u8>) {
    let grid = CanonicalGrid::new(&volume.world_from_voxel);
    let shape = volume.spatial_shape();
    let (geometry, w, h) =
        ViewGeometry::orthogonal_slice(&grid, shape, Plane::Axial, k, Convention::Radiological);
    let options = RenderOptions {
        window: automatic_window(volume),
        interpolation: Interpolation::Nearest,
        time: 0,
    };
    (w, h, render_view(volume, &geometry, w, h, &options, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 2×1 MONOCHROME1 image (values 0 and 100, window 0…100) draws its
    /// low value white and its high value black; MONOCHROME2 the other way.
    #[test]
    fn a_thumbnail_shows_the_lesion_or_the_most_varied_slice() {
        use crate::volume::{Affine, Endianness, FileFormat, VoxelData};
        // 8 × 8 × 5, slices 0–4 along S; slice 3 a checkerboard, the rest flat.
        let mut data = vec![50u8; 8 * 8 * 5];
        for j in 0..8 {
            for i in 0..8 {
                data[i + 8 * (j + 8 * 3)] = if (i + j) % 2 == 0 { 0 } else { 200 };
            }
        }
        let volume = Volume {
            path: "v.nii".into(),
            format: FileFormat::Nifti1,
            shape: vec![8, 8, 5],
            channels: 1,
            datatype: Some(2),
            endianness: Endianness::native(),
            world_from_voxel: Affine::IDENTITY,
            pixdim: [1.0; 4],
            scaling: None,
            xyzt_units: 2,
            description: String::new(),
            data: VoxelData::U8(data),
            dicom: None,
        };
        let grid = CanonicalGrid::new(&volume.world_from_voxel);
        assert_eq!(most_varied_axial_slice(&volume, &grid, [8, 8, 5]), 3);
        assert_eq!(axial_slice_through(&volume, None), axial_slice(&volume, 3));
        // A lesion at voxel (1, 1, 1): its slice, not the busiest one.
        assert_eq!(
            axial_slice_through(&volume, Some([1, 1, 1])),
            axial_slice(&volume, 1)
        );
        assert_ne!(axial_slice(&volume, 1), axial_slice(&volume, 3));
    }

    #[test]
    fn monochrome1_draws_low_values_bright() {
        use crate::volume::dicom::DicomInfo;
        use crate::volume::{Affine, Endianness, FileFormat, VoxelData};
        let mut volume = Volume {
            path: "m1.dcm".into(),
            format: FileFormat::Dicom,
            shape: vec![2, 1],
            channels: 1,
            datatype: Some(512),
            endianness: Endianness::native(),
            world_from_voxel: Affine::from_rows([
                [-1.0, 0.0, 0.0, 0.0],
                [0.0, -1.0, 0.0, 0.0],
                [0.0, 0.0, 1.0, 0.0],
            ]),
            pixdim: [1.0; 4],
            scaling: None,
            xyzt_units: 0,
            description: String::new(),
            data: VoxelData::U16(vec![0, 100]),
            dicom: Some(Box::new(DicomInfo {
                photometric: "MONOCHROME1".into(),
                ..DicomInfo::default()
            })),
        };
        let window = WindowLevel::from_range(0.0, 100.0);
        let grid = CanonicalGrid::new(&volume.world_from_voxel);
        let (geometry, w, h) = ViewGeometry::orthogonal_slice(
            &grid,
            volume.spatial_shape(),
            Plane::Axial,
            0,
            Convention::Radiological,
        );
        let options = RenderOptions {
            window,
            interpolation: Interpolation::Nearest,
            time: 0,
        };
        let greys = |pixels: Vec<u8>| [pixels[0], pixels[4]];
        assert_eq!((w, h), (2, 1));
        // Radiological axial: voxel 0 (patient right) on screen left.
        assert_eq!(
            greys(render_view(&volume, &geometry, w, h, &options, None)),
            [255, 0]
        );
        volume.dicom.as_mut().unwrap().photometric = "MONOCHROME2".into();
        assert_eq!(
            greys(render_view(&volume, &geometry, w, h, &options, None)),
            [0, 255]
        );
    }

    #[test]
    fn window_formula_matches_the_spec() {
        let w = WindowLevel {
            center: 40.0,
            width: 400.0,
        };
        assert_eq!(w.grey(-160.0), 0);
        assert_eq!(w.grey(240.0), 255);
        assert_eq!(w.grey(40.0), 128); // 0.5 × 255 + 0.5 = 128.0
        assert_eq!(w.grey(f64::NAN), 0);
        assert_eq!(
            WindowLevel::from_range(0.0, 100.0),
            WindowLevel {
                center: 50.0,
                width: 100.0
            }
        );
    }
}
