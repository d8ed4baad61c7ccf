//! Label painting on a voxel grid, without a window: which voxels a brush,
//! flood fill, polygon or interpolation touches, the "paint over" rules,
//! strokes recorded as diffs for undo/redo, and per-label volumes and Dice.
//!
//! A label map is one `u8` per voxel on the image's grid (0 is background),
//! in the stored voxel order (`i` fastest). Everything here works in stored
//! voxel indices and millimetres (`spacing_mm`); the app turns view pixels
//! into voxel positions with the view geometry and calls in.

pub mod fill;
pub mod history;
pub mod interpolate;

use std::collections::BTreeMap;

use crate::volume::orientation::{cross, dot};

pub use history::{History, Stroke, StrokeBuilder};

/// The largest label a map can hold (maps are stored as NIfTI uint8).
pub const MAX_LABEL: u8 = u8::MAX;

/// Brush radius limits in millimetres (the panel's slider and `loupe paint`).
pub const BRUSH_RADIUS_MM: std::ops::RangeInclusive<f64> = 0.1..=100.0;

/// The centre of a map's largest lesion: the largest 6-connected set of
/// labeled voxels (any label), and within it the voxel nearest its
/// centroid (a curved lesion's centroid may lie outside it). `None` for an
/// empty map or one that does not fill `shape`.
pub fn lesion_centre(voxels: &[u8], shape: [usize; 3]) -> Option<[usize; 3]> {
    let [ni, nj, nk] = shape;
    if voxels.len() != ni * nj * nk {
        return None;
    }
    let mut seen = vec![false; voxels.len()];
    let mut best: Vec<usize> = Vec::new();
    let mut queue: Vec<usize> = Vec::new();
    for start in 0..voxels.len() {
        if voxels[start] == 0 || seen[start] {
            continue;
        }
        seen[start] = true;
        queue.clear();
        queue.push(start);
        let mut head = 0;
        while let Some(&index) = queue.get(head) {
            head += 1;
            let (i, j, k) = (index % ni, index / ni % nj, index / (ni * nj));
            let neighbours = [
                (i > 0).then(|| index - 1),
                (i + 1 < ni).then(|| index + 1),
                (j > 0).then(|| index - ni),
                (j + 1 < nj).then(|| index + ni),
                (k > 0).then(|| index - ni * nj),
                (k + 1 < nk).then(|| index + ni * nj),
            ];
            for n in neighbours.into_iter().flatten() {
                if voxels[n] != 0 && !seen[n] {
                    seen[n] = true;
                    queue.push(n);
                }
            }
        }
        if queue.len() > best.len() {
            best = std::mem::take(&mut queue);
        }
    }
    let position = |index: usize| [index % ni, index / ni % nj, index / (ni * nj)];
    let count = best.len() as f64;
    let mut centroid = [0.0f64; 3];
    for &index in &best {
        let p = position(index);
        (0..3).for_each(|a| centroid[a] += p[a] as f64 / count);
    }
    best.iter().map(|&index| position(index)).min_by(|a, b| {
        let d = |p: &[usize; 3]| {
            (0..3)
                .map(|x| (p[x] as f64 - centroid[x]).powi(2))
                .sum::<f64>()
        };
        d(a).total_cmp(&d(b))
    })
}

/// The voxel grid a label map lives on.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Grid {
    /// Voxels along i, j, k (a photo has k = 1).
    pub shape: [usize; 3],
    /// Voxel size along i, j, k in mm (1 for photos).
    pub spacing_mm: [f64; 3],
}

impl Grid {
    pub fn new(shape: [usize; 3], spacing_mm: [f64; 3]) -> Self {
        let spacing_mm = spacing_mm.map(|s| if s > 0.0 && s.is_finite() { s } else { 1.0 });
        Self { shape, spacing_mm }
    }

    pub fn voxel_count(&self) -> usize {
        self.shape.iter().product()
    }

    /// Linear index of voxel `(i, j, k)` (`i` fastest, as NIfTI stores it).
    pub fn index(&self, v: [usize; 3]) -> usize {
        v[0] + self.shape[0] * (v[1] + self.shape[1] * v[2])
    }

    /// `(i, j, k)` of a linear index.
    pub fn voxel(&self, index: usize) -> [usize; 3] {
        let i = index % self.shape[0];
        let rest = index / self.shape[0];
        [i, rest % self.shape[1], rest / self.shape[1]]
    }

    /// The voxel nearest a continuous voxel position, if it lies in the grid.
    pub fn nearest(&self, position: [f64; 3]) -> Option<[usize; 3]> {
        let mut v = [0; 3];
        for a in 0..3 {
            let r = position[a].round();
            if !(r >= 0.0 && r < self.shape[a] as f64) {
                return None;
            }
            v[a] = r as usize;
        }
        Some(v)
    }

    /// One voxel's volume in millilitres (mm³ / 1000).
    pub fn voxel_ml(&self) -> f64 {
        self.spacing_mm.iter().product::<f64>() / 1000.0
    }

    /// Voxels of the box `centre ± radius_mm` (clamped to the grid), inclusive.
    fn box_around(&self, centre: [f64; 3], radius_mm: f64) -> VoxelBox {
        let end = |a: usize, sign: f64| {
            let reach = radius_mm / self.spacing_mm[a] + 1.0;
            let last = (self.shape[a] as f64 - 1.0).max(0.0);
            let x = centre[a] + sign * reach;
            let x = if sign < 0.0 { x.floor() } else { x.ceil() };
            x.clamp(0.0, last) as usize
        };
        VoxelBox {
            min: [0, 1, 2].map(|a| end(a, -1.0)),
            max: [0, 1, 2].map(|a| end(a, 1.0)),
        }
    }
}

/// An axis-aligned box of voxels, both corners inclusive: what changed, for
/// uploading only that part of the map to the GPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VoxelBox {
    pub min: [usize; 3],
    pub max: [usize; 3],
}

impl VoxelBox {
    pub fn of_voxel(v: [usize; 3]) -> Self {
        Self { min: v, max: v }
    }

    pub fn union(self, other: Self) -> Self {
        Self {
            min: [0, 1, 2].map(|a| self.min[a].min(other.min[a])),
            max: [0, 1, 2].map(|a| self.max[a].max(other.max[a])),
        }
    }

    /// Extent along each axis, in voxels.
    pub fn size(&self) -> [usize; 3] {
        [0, 1, 2].map(|a| self.max[a] + 1 - self.min[a])
    }

    /// The box around a set of linear indices (`None` when empty).
    pub fn around(grid: &Grid, indices: impl IntoIterator<Item = usize>) -> Option<Self> {
        indices
            .into_iter()
            .map(|i| Self::of_voxel(grid.voxel(i)))
            .reduce(Self::union)
    }
}

/// Edits to a shown label map, newest last, each with a revision: a
/// GPU copy remembers the revision it has and uploads only the boxes
/// edited since (or the whole map once the log no longer reaches back).
#[derive(Clone, Debug, Default)]
pub struct EditLog {
    pub revision: u64,
    boxes: std::collections::VecDeque<(u64, VoxelBox)>,
}

/// Edits remembered for partial uploads; a GPU copy further behind is replaced whole.
const LABEL_EDITS_KEPT: usize = 1024;

impl EditLog {
    pub fn record(&mut self, changed: VoxelBox) {
        self.revision += 1;
        self.boxes.push_back((self.revision, changed));
        if self.boxes.len() > LABEL_EDITS_KEPT {
            self.boxes.pop_front();
        }
    }

    /// What changed after `revision`: `Some(None)` nothing, `Some(Some(box))`
    /// the box around every edit since, `None` too far back to say (upload all).
    pub fn since(&self, revision: u64) -> Option<Option<VoxelBox>> {
        if revision == self.revision {
            return Some(None);
        }
        let oldest = self.boxes.front().map_or(self.revision + 1, |(r, _)| *r);
        if revision + 1 < oldest || revision > self.revision {
            return None;
        }
        Some(
            self.boxes
                .iter()
                .filter(|(r, _)| *r > revision)
                .map(|(_, b)| *b)
                .reduce(VoxelBox::union),
        )
    }
}

/// A plane through the volume as a view shows it: a point on it and the
/// voxel-index steps of one screen pixel right (`step_u`) and down
/// (`step_v`). Orthogonal and oblique views alike.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PlaneFrame {
    pub point: [f64; 3],
    pub step_u: [f64; 3],
    pub step_v: [f64; 3],
}

/// The two voxel axes across `axis` (0–2), in order: a slice's columns and rows.
pub fn axes_across(axis: usize) -> (usize, usize) {
    match axis {
        0 => (1, 2),
        1 => (0, 2),
        _ => (0, 1),
    }
}

impl PlaneFrame {
    /// The voxel plane through `point` normal to voxel `axis`, one voxel per pixel.
    pub fn across(axis: usize, point: [f64; 3]) -> Self {
        let unit = |a: usize| {
            let mut v = [0.0; 3];
            v[a] = 1.0;
            v
        };
        let (u, v) = axes_across(axis);
        Self {
            point,
            step_u: unit(u),
            step_v: unit(v),
        }
    }
}

fn normalised(a: [f64; 3]) -> Option<[f64; 3]> {
    let n = dot(a, a).sqrt();
    (n > 1e-12 && n.is_finite()).then(|| a.map(|x| x / n))
}

/// A plane in millimetres: unit normal and in-plane axes, for membership
/// and 2-D coordinates.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PlaneMm {
    pub point: [f64; 3],
    pub normal: [f64; 3],
    pub e1: [f64; 3],
    pub e2: [f64; 3],
    pub spacing_mm: [f64; 3],
}

impl PlaneMm {
    pub fn new(grid: &Grid, frame: &PlaneFrame) -> Option<Self> {
        let s = grid.spacing_mm;
        let u = [0, 1, 2].map(|a| frame.step_u[a] * s[a]);
        let v = [0, 1, 2].map(|a| frame.step_v[a] * s[a]);
        let normal = normalised(cross(u, v))?;
        let e1 = normalised(u)?;
        let e2 = cross(normal, e1);
        Some(Self {
            point: frame.point,
            normal,
            e1,
            e2,
            spacing_mm: s,
        })
    }

    /// Millimetre offset of a voxel position from the plane's point.
    pub fn offset_mm(&self, v: [f64; 3]) -> [f64; 3] {
        [0, 1, 2].map(|a| (v[a] - self.point[a]) * self.spacing_mm[a])
    }

    /// Whether the view shows voxel `v` on this plane: the point of the
    /// plane straight above or below its centre is nearer to it than to any
    /// other voxel (nearest-neighbour resampling, as drawn).
    pub fn shows(&self, v: [usize; 3]) -> bool {
        let d = self.offset_mm(v.map(|x| x as f64));
        let t = dot(d, self.normal);
        (0..3).all(|a| {
            let off = t * self.normal[a] / self.spacing_mm[a];
            // The shader rounds half up (`floor(x + 0.5)`): ties go to the higher voxel.
            off > -0.5 + 1e-9 && off <= 0.5 + 1e-9
        })
    }

    /// In-plane coordinates (mm) of a voxel position.
    pub fn coordinates(&self, v: [f64; 3]) -> [f64; 2] {
        let d = self.offset_mm(v);
        [dot(d, self.e1), dot(d, self.e2)]
    }
}

/// The brush's shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BrushShape {
    /// A disk on the view's plane (the slice, or the oblique plane as resampled).
    Disk,
    /// A ball in 3-D.
    Sphere,
}

/// Why a tool could not be applied.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PaintError {
    #[error("the view's plane is degenerate (zero-sized view)")]
    DegeneratePlane,
    #[error("the clicked point lies outside the image")]
    Outside,
    #[error("a polygon needs at least 3 corners, got {0}")]
    TooFewCorners(usize),
    #[error(
        "the fill reached {0} voxels, the limit: narrow the intensity range or fill on the slice"
    )]
    FillTooLarge(usize),
}

/// The voxels under a brush centred on `centre` (a continuous voxel
/// position on `frame`'s plane). The voxel under the centre is always
/// included, so the smallest brush paints one voxel.
pub fn brush(
    grid: &Grid,
    frame: &PlaneFrame,
    centre: [f64; 3],
    radius_mm: f64,
    shape: BrushShape,
) -> Result<Vec<usize>, PaintError> {
    let plane = PlaneMm::new(
        grid,
        &PlaneFrame {
            point: centre,
            ..*frame
        },
    )
    .ok_or(PaintError::DegeneratePlane)?;
    let under = grid.nearest(centre).ok_or(PaintError::Outside)?;
    let r2 = radius_mm * radius_mm + 1e-9;
    let b = grid.box_around(centre, radius_mm);
    let mut out = Vec::new();
    for k in b.min[2]..=b.max[2] {
        for j in b.min[1]..=b.max[1] {
            for i in b.min[0]..=b.max[0] {
                let v = [i, j, k];
                let inside = if v == under {
                    true
                } else {
                    let d = plane.offset_mm(v.map(|x| x as f64));
                    match shape {
                        BrushShape::Sphere => dot(d, d) <= r2,
                        BrushShape::Disk => {
                            let t = dot(d, plane.normal);
                            plane.shows(v) && dot(d, d) - t * t <= r2
                        }
                    }
                };
                if inside {
                    out.push(grid.index(v));
                }
            }
        }
    }
    Ok(out)
}

/// Which voxels a tool may change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaintOver {
    /// Any voxel.
    All,
    /// Only background voxels (label 0).
    Unlabeled,
    /// Only voxels with this label.
    Only(u8),
}

impl PaintOver {
    pub fn allows(self, current: u8) -> bool {
        match self {
            PaintOver::All => true,
            PaintOver::Unlabeled => current == 0,
            PaintOver::Only(label) => current == label,
        }
    }
}

/// Voxels per label value, kept up to date stroke by stroke so the panel's
/// volumes are live without rescanning the map.
pub type LabelCounts = [usize; 256];

/// Counts every label of a map.
pub fn count_labels(map: &[u8]) -> LabelCounts {
    let mut counts = [0usize; 256];
    for &v in map {
        counts[v as usize] += 1;
    }
    counts
}

/// Writes `label` into the voxels the rule allows, recording each first
/// change in `stroke` and keeping `counts` current. Returns the box of
/// voxels that changed.
pub fn apply(
    map: &mut [u8],
    grid: &Grid,
    voxels: &[usize],
    label: u8,
    rule: PaintOver,
    stroke: &mut StrokeBuilder,
    counts: &mut LabelCounts,
) -> Option<VoxelBox> {
    let mut changed: Option<VoxelBox> = None;
    for &i in voxels {
        let Some(current) = map.get(i).copied() else {
            continue;
        };
        // The eraser clears whatever the rule allows; "only unlabeled" would erase nothing.
        let allowed = if label == 0 && rule == PaintOver::Unlabeled {
            true
        } else {
            rule.allows(current)
        };
        if current != label && allowed {
            stroke.record(i, current, label);
            map[i] = label;
            counts[current as usize] -= 1;
            counts[label as usize] += 1;
            let b = VoxelBox::of_voxel(grid.voxel(i));
            changed = Some(changed.map_or(b, |c| c.union(b)));
        }
    }
    changed
}

/// Voxel count and volume per label present (label 0 left out).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct LabelVolume {
    pub label: u8,
    pub voxels: usize,
    pub ml: f64,
}

/// Voxels and millilitres of every label counted.
pub fn label_volumes(counts: &LabelCounts, grid: &Grid) -> Vec<LabelVolume> {
    counts
        .iter()
        .enumerate()
        .skip(1)
        .filter(|(_, n)| **n > 0)
        .map(|(label, &voxels)| LabelVolume {
            label: label as u8,
            voxels,
            ml: voxels as f64 * grid.voxel_ml(),
        })
        .collect()
}

/// Dice coefficient per label between two maps of one grid:
/// 2|A∩B| / (|A| + |B|), for every label present in either.
pub fn dice_per_label(a: &[u8], b: &[u8]) -> BTreeMap<u8, f64> {
    let mut in_a = [0usize; 256];
    let mut in_b = [0usize; 256];
    let mut both = [0usize; 256];
    for (&x, &y) in a.iter().zip(b) {
        in_a[x as usize] += 1;
        in_b[y as usize] += 1;
        if x == y {
            both[x as usize] += 1;
        }
    }
    (1..256)
        .filter(|&l| in_a[l] + in_b[l] > 0)
        .map(|l| (l as u8, 2.0 * both[l] as f64 / (in_a[l] + in_b[l]) as f64))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_case_opens_on_its_largest_lesion() {
        let shape = [10, 8, 6];
        let mut map = vec![0u8; 10 * 8 * 6];
        let at = |i: usize, j: usize, k: usize| i + 10 * (j + 8 * k);
        // A small lesion (2 voxels) and a larger one (a 3×3×3 cube at 5..8, 2..5, 1..4).
        map[at(0, 0, 0)] = 1;
        map[at(1, 0, 0)] = 1;
        for k in 1..4 {
            for j in 2..5 {
                for i in 5..8 {
                    map[at(i, j, k)] = if i == 6 { 4 } else { 2 };
                }
            }
        }
        assert_eq!(lesion_centre(&map, shape), Some([6, 3, 2]));
        // An L-shaped lesion: its centroid (1.5, 1.5) is outside it; the
        // nearest of its own voxels is chosen.
        let mut l = vec![0u8; 4 * 4];
        for x in 0..4 {
            l[x] = 1;
            l[4 * x] = 1;
        }
        let centre = lesion_centre(&l, [4, 4, 1]).unwrap();
        assert_ne!(
            l[centre[0] + 4 * centre[1]],
            0,
            "{centre:?} is in the lesion"
        );
        assert_eq!(lesion_centre(&[0; 8], [2, 2, 2]), None);
        assert_eq!(lesion_centre(&[1; 7], [2, 2, 2]), None);
    }

    use super::*;

    fn axial(point: [f64; 3]) -> PlaneFrame {
        PlaneFrame {
            point,
            step_u: [1.0, 0.0, 0.0],
            step_v: [0.0, 1.0, 0.0],
        }
    }

    #[test]
    fn a_disk_on_an_axial_slice_paints_the_voxels_within_the_radius() {
        let grid = Grid::new([20, 20, 5], [1.0, 1.0, 3.0]);
        let centre = [10.0, 10.0, 2.0];
        let voxels = brush(&grid, &axial(centre), centre, 2.0, BrushShape::Disk).unwrap();
        // i² + j² ≤ 4 on slice 2: 1 + 4 + 4 + 4 = 13 (the 3×3 block and the 4 tips).
        assert_eq!(voxels.len(), 13);
        assert!(voxels.iter().all(|&i| grid.voxel(i)[2] == 2));
        assert!(voxels.contains(&grid.index([12, 10, 2])));
        assert!(!voxels.contains(&grid.index([12, 11, 2])));
    }

    #[test]
    fn a_sphere_respects_anisotropic_spacing() {
        let grid = Grid::new([20, 20, 9], [1.0, 1.0, 3.0]);
        let centre = [10.0, 10.0, 4.0];
        let voxels = brush(&grid, &axial(centre), centre, 3.0, BrushShape::Sphere).unwrap();
        // Slice 4: i² + j² ≤ 9 → 29 voxels; slices 3 and 5 (3 mm away): only the centre.
        assert_eq!(voxels.len(), 29 + 2);
        let smallest = brush(&grid, &axial(centre), centre, 0.1, BrushShape::Sphere).unwrap();
        assert_eq!(smallest, vec![grid.index([10, 10, 4])]);
    }

    #[test]
    fn an_oblique_disk_paints_one_voxel_per_plane_position() {
        // A plane at 45° between i and k: the displayed voxels are the diagonal i − 10 = k − 10.
        let grid = Grid::new([21, 21, 21], [1.0; 3]);
        let centre = [10.0, 10.0, 10.0];
        let s = std::f64::consts::FRAC_1_SQRT_2;
        let frame = PlaneFrame {
            point: centre,
            step_u: [s, 0.0, -s],
            step_v: [0.0, 1.0, 0.0],
        };
        let voxels = brush(&grid, &frame, centre, 1.5, BrushShape::Disk).unwrap();
        let mut got: Vec<[usize; 3]> = voxels.iter().map(|&i| grid.voxel(i)).collect();
        got.sort();
        // The plane holds i + k = 20: (9,j,11), (10,j,10), (11,j,9) where the
        // in-plane distance √(2d² + dj²) ≤ 1.5. Points of the plane halfway
        // between two voxels round up (as the shader does), so the voxels of
        // i + k = 21 show too, √(0.5 + dj²) from the centre: (10,j,11), (11,j,10).
        let expected = vec![
            [9, 10, 11],
            [10, 9, 10],
            [10, 9, 11],
            [10, 10, 10],
            [10, 10, 11],
            [10, 11, 10],
            [10, 11, 11],
            [11, 9, 10],
            [11, 10, 9],
            [11, 10, 10],
            [11, 11, 10],
        ];
        assert_eq!(got, expected);
    }

    #[test]
    fn rules_decide_what_a_stroke_may_change_and_the_eraser_clears() {
        let grid = Grid::new([4, 1, 1], [1.0; 3]);
        let mut map = vec![0, 1, 2, 1];
        let mut counts = count_labels(&map);
        let all = [0, 1, 2, 3];
        let mut stroke = StrokeBuilder::default();
        apply(
            &mut map,
            &grid,
            &all,
            4,
            PaintOver::Unlabeled,
            &mut stroke,
            &mut counts,
        );
        assert_eq!(map, [4, 1, 2, 1]);
        apply(
            &mut map,
            &grid,
            &all,
            4,
            PaintOver::Only(1),
            &mut stroke,
            &mut counts,
        );
        assert_eq!(map, [4, 4, 2, 4]);
        let changed = apply(
            &mut map,
            &grid,
            &[2, 3],
            0,
            PaintOver::Unlabeled,
            &mut stroke,
            &mut counts,
        );
        assert_eq!(map, [4, 4, 0, 0]);
        assert_eq!(counts, count_labels(&map));
        assert_eq!(
            changed,
            Some(VoxelBox {
                min: [2, 0, 0],
                max: [3, 0, 0]
            })
        );
        let stroke = stroke.finish();
        assert_eq!(stroke.len(), 4, "each voxel recorded once: {stroke:?}");
    }

    #[test]
    fn volumes_in_millilitres_and_dice_per_label() {
        let grid = Grid::new([4, 1, 1], [2.0, 2.0, 2.5]);
        let a = [1, 1, 2, 0];
        let b = [1, 0, 2, 2];
        let volumes = label_volumes(&count_labels(&a), &grid);
        assert_eq!(volumes[0].voxels, 2);
        assert!((volumes[0].ml - 0.02).abs() < 1e-12);
        let dice = dice_per_label(&a, &b);
        assert!((dice[&1] - 2.0 / 3.0).abs() < 1e-12);
        assert!((dice[&2] - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(dice.len(), 2);
    }
}
