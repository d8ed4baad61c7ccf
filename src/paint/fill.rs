//! Region tools: flood fill within an intensity range from a clicked voxel
//! (on the view's plane or in 3-D), and polygon fill on the view's plane.

use std::collections::VecDeque;

use super::{Grid, PaintError, PlaneFrame, PlaneMm};

/// Most voxels one fill may reach (a 3-D fill with a loose range would
/// otherwise flood a whole 512³ volume in one click).
pub const FILL_LIMIT_VOXELS: usize = 50_000_000;

/// Where a flood fill may spread.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FillRegion {
    /// Voxels shown on the view's plane, 8-connected in it.
    Plane(PlaneFrame),
    /// The whole volume, 6-connected (faces only, so it does not leak
    /// through diagonal gaps).
    Volume,
}

/// The voxels connected to `seed` whose intensity lies in `range`
/// (inclusive). `intensity(index)` gives a voxel's grey value (scaled,
/// luminance for colour photos).
pub fn flood_fill(
    grid: &Grid,
    seed: [f64; 3],
    range: (f64, f64),
    region: FillRegion,
    intensity: impl Fn(usize) -> f64,
) -> Result<Vec<usize>, PaintError> {
    let start = grid.nearest(seed).ok_or(PaintError::Outside)?;
    let (lo, hi) = if range.0 <= range.1 {
        range
    } else {
        (range.1, range.0)
    };
    let plane = match region {
        FillRegion::Plane(frame) => Some(
            PlaneMm::new(
                grid,
                &PlaneFrame {
                    point: seed,
                    ..frame
                },
            )
            .ok_or(PaintError::DegeneratePlane)?,
        ),
        FillRegion::Volume => None,
    };
    let inside = |v: [usize; 3]| {
        let x = intensity(grid.index(v));
        x >= lo && x <= hi && plane.as_ref().is_none_or(|p| p.shows(v))
    };
    if !inside(start) {
        return Ok(Vec::new());
    }
    let mut seen = vec![false; grid.voxel_count()];
    let mut queue = VecDeque::from([start]);
    seen[grid.index(start)] = true;
    let mut out = Vec::new();
    let offsets: Vec<[i64; 3]> = match region {
        FillRegion::Volume => vec![
            [1, 0, 0],
            [-1, 0, 0],
            [0, 1, 0],
            [0, -1, 0],
            [0, 0, 1],
            [0, 0, -1],
        ],
        // 26 neighbours, of which those on the plane remain: 8 on a slice.
        FillRegion::Plane(_) => (-1..=1)
            .flat_map(|k| (-1..=1).flat_map(move |j| (-1..=1).map(move |i| [i, j, k])))
            .filter(|o| *o != [0, 0, 0])
            .collect(),
    };
    while let Some(v) = queue.pop_front() {
        out.push(grid.index(v));
        if out.len() > FILL_LIMIT_VOXELS {
            return Err(PaintError::FillTooLarge(FILL_LIMIT_VOXELS));
        }
        for o in &offsets {
            let mut n = [0usize; 3];
            let mut valid = true;
            for a in 0..3 {
                let x = v[a] as i64 + o[a];
                if x < 0 || x >= grid.shape[a] as i64 {
                    valid = false;
                    break;
                }
                n[a] = x as usize;
            }
            if !valid {
                continue;
            }
            let index = grid.index(n);
            if !seen[index] && inside(n) {
                seen[index] = true;
                queue.push_back(n);
            }
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// The voxels shown on the view's plane whose centres lie inside the
/// polygon (even–odd rule); `corners` are continuous voxel positions on
/// the plane, in drawing order.
pub fn polygon(
    grid: &Grid,
    frame: &PlaneFrame,
    corners: &[[f64; 3]],
) -> Result<Vec<usize>, PaintError> {
    if corners.len() < 3 {
        return Err(PaintError::TooFewCorners(corners.len()));
    }
    let plane = PlaneMm::new(
        grid,
        &PlaneFrame {
            point: corners[0],
            ..*frame
        },
    )
    .ok_or(PaintError::DegeneratePlane)?;
    let flat: Vec<[f64; 2]> = corners.iter().map(|&c| plane.coordinates(c)).collect();
    let mut min = [f64::INFINITY; 3];
    let mut max = [f64::NEG_INFINITY; 3];
    for c in corners {
        for a in 0..3 {
            min[a] = min[a].min(c[a]);
            max[a] = max[a].max(c[a]);
        }
    }
    let mut lo = [0usize; 3];
    let mut hi = [0usize; 3];
    for a in 0..3 {
        let last = grid.shape[a] as f64 - 1.0;
        if max[a] < -0.5 || min[a] > last + 0.5 || !min[a].is_finite() || !max[a].is_finite() {
            return Ok(Vec::new());
        }
        lo[a] = (min[a] - 1.0).floor().clamp(0.0, last) as usize;
        hi[a] = (max[a] + 1.0).ceil().clamp(0.0, last) as usize;
    }
    let mut out = Vec::new();
    for k in lo[2]..=hi[2] {
        for j in lo[1]..=hi[1] {
            for i in lo[0]..=hi[0] {
                let v = [i, j, k];
                if plane.shows(v) && inside_polygon(plane.coordinates(v.map(|x| x as f64)), &flat) {
                    out.push(grid.index(v));
                }
            }
        }
    }
    Ok(out)
}

/// Even–odd test of a point against a closed polygon.
fn inside_polygon(p: [f64; 2], polygon: &[[f64; 2]]) -> bool {
    let mut inside = false;
    let mut j = polygon.len() - 1;
    for i in 0..polygon.len() {
        let (a, b) = (polygon[i], polygon[j]);
        if (a[1] > p[1]) != (b[1] > p[1]) {
            let x = a[0] + (p[1] - a[1]) * (b[0] - a[0]) / (b[1] - a[1]);
            if p[0] < x {
                inside = !inside;
            }
        }
        j = i;
    }
    inside
}

#[cfg(test)]
mod tests {
    use super::*;

    fn axial(k: f64) -> PlaneFrame {
        PlaneFrame {
            point: [0.0, 0.0, k],
            step_u: [1.0, 0.0, 0.0],
            step_v: [0.0, 1.0, 0.0],
        }
    }

    /// A 10×10×3 volume, 100 inside a 4×3 rectangle on every slice, 0 elsewhere,
    /// with one bright voxel touching the rectangle only diagonally.
    fn rectangle() -> (Grid, Vec<f64>) {
        let grid = Grid::new([10, 10, 3], [1.0; 3]);
        let mut values = vec![0.0; grid.voxel_count()];
        for k in 0..3 {
            for j in 2..5 {
                for i in 3..7 {
                    values[grid.index([i, j, k])] = 100.0;
                }
            }
            values[grid.index([7, 5, k])] = 100.0;
        }
        (grid, values)
    }

    #[test]
    fn a_fill_on_the_slice_stays_on_the_slice_and_within_the_range() {
        let (grid, values) = rectangle();
        let seed = [4.0, 3.0, 1.0];
        let on_slice = flood_fill(
            &grid,
            seed,
            (50.0, 150.0),
            FillRegion::Plane(axial(1.0)),
            |i| values[i],
        )
        .unwrap();
        // 12 rectangle voxels plus the diagonal neighbour (8-connected in the plane).
        assert_eq!(on_slice.len(), 13);
        assert!(on_slice.iter().all(|&i| grid.voxel(i)[2] == 1));
        let in_3d = flood_fill(&grid, seed, (50.0, 150.0), FillRegion::Volume, |i| {
            values[i]
        })
        .unwrap();
        // 6-connected: the diagonal voxel is left out, all three slices are in.
        assert_eq!(in_3d.len(), 36);
        let outside_range = flood_fill(&grid, seed, (150.0, 200.0), FillRegion::Volume, |i| {
            values[i]
        })
        .unwrap();
        assert!(outside_range.is_empty());
        assert_eq!(
            flood_fill(
                &grid,
                [20.0, 0.0, 0.0],
                (0.0, 1.0),
                FillRegion::Volume,
                |i| values[i]
            ),
            Err(PaintError::Outside)
        );
    }

    #[test]
    fn a_polygon_fills_the_voxel_centres_inside_it() {
        let grid = Grid::new([10, 10, 3], [1.0; 3]);
        // A right triangle with legs of 4 voxels: centres with i + j < 4 strictly
        // inside, from (0.5, 0.5) to (4.5, 0.5) to (0.5, 4.5).
        let corners = [[0.5, 0.5, 2.0], [4.5, 0.5, 2.0], [0.5, 4.5, 2.0]];
        let voxels = polygon(&grid, &axial(2.0), &corners).unwrap();
        let mut got: Vec<[usize; 3]> = voxels.iter().map(|&i| grid.voxel(i)).collect();
        got.sort();
        // (1,1), (1,2), (1,3), (2,1), (2,2), (3,1): i, j ≥ 1 and i + j ≤ 4.
        assert_eq!(
            got,
            vec![
                [1, 1, 2],
                [1, 2, 2],
                [1, 3, 2],
                [2, 1, 2],
                [2, 2, 2],
                [3, 1, 2]
            ]
        );
        assert_eq!(
            polygon(&grid, &axial(2.0), &corners[..2]),
            Err(PaintError::TooFewCorners(2))
        );
    }
}
