//! Interpolating a structure between painted slices: the clinician outlines
//! a lesion every few slices, and the slices between are filled by blending
//! the signed distance maps of the two nearest painted slices (linear in
//! the slice position), the usual shape-based interpolation.

use super::Grid;

/// Voxels to set to `label` so that every gap between two slices (along
/// `axis`) that contain it is filled. Only background voxels are returned:
/// interpolation never overwrites another structure.
pub fn between_slices(map: &[u8], grid: &Grid, axis: usize, label: u8) -> Vec<usize> {
    let (a1, a2) = super::axes_across(axis);
    let (n1, n2) = (grid.shape[a1], grid.shape[a2]);
    let at = |slice: usize, x: usize, y: usize| {
        let mut v = [0; 3];
        v[axis] = slice;
        v[a1] = x;
        v[a2] = y;
        grid.index(v)
    };
    let painted: Vec<usize> = (0..grid.shape[axis])
        .filter(|&s| (0..n2).any(|y| (0..n1).any(|x| map[at(s, x, y)] == label)))
        .collect();
    let spacing = [grid.spacing_mm[a1], grid.spacing_mm[a2]];
    let mut out = Vec::new();
    for pair in painted.windows(2) {
        let (lo, hi) = (pair[0], pair[1]);
        if hi - lo < 2 {
            continue;
        }
        let mask = |s: usize| -> Vec<bool> {
            (0..n2)
                .flat_map(|y| (0..n1).map(move |x| (x, y)))
                .map(|(x, y)| map[at(s, x, y)] == label)
                .collect()
        };
        let d_lo = signed_distance(&mask(lo), [n1, n2], spacing);
        let d_hi = signed_distance(&mask(hi), [n1, n2], spacing);
        for s in lo + 1..hi {
            let w = (s - lo) as f64 / (hi - lo) as f64;
            for y in 0..n2 {
                for x in 0..n1 {
                    let p = x + n1 * y;
                    let d = (1.0 - w) * d_lo[p] + w * d_hi[p];
                    let index = at(s, x, y);
                    if d <= 0.0 && map[index] == 0 {
                        out.push(index);
                    }
                }
            }
        }
    }
    out.sort_unstable();
    out
}

/// Signed Euclidean distance (mm) of every pixel of a 2-D mask to its
/// boundary: negative inside, positive outside, measured between pixel
/// centres (an inside pixel next to the outside is −½ the gap).
pub fn signed_distance(mask: &[bool], shape: [usize; 2], spacing_mm: [f64; 2]) -> Vec<f64> {
    let to_inside = distance_transform(mask, shape, spacing_mm);
    let outside: Vec<bool> = mask.iter().map(|m| !m).collect();
    let to_outside = distance_transform(&outside, shape, spacing_mm);
    mask.iter()
        .zip(to_inside.iter().zip(&to_outside))
        // Half a pixel's distance either side puts the boundary between
        // the last inside and the first outside centre.
        .map(|(&m, (&din, &dout))| if m { 0.5 - dout } else { din - 0.5 })
        .collect()
}

/// Exact Euclidean distance (mm) of every pixel to the nearest `true`
/// pixel (Felzenszwalb & Huttenlocher's separable transform); infinite
/// when there is none.
pub fn distance_transform(mask: &[bool], shape: [usize; 2], spacing_mm: [f64; 2]) -> Vec<f64> {
    let [w, h] = shape;
    let mut squared: Vec<f64> = mask
        .iter()
        .map(|&m| if m { 0.0 } else { f64::INFINITY })
        .collect();
    let mut line = Vec::new();
    for y in 0..h {
        line.clear();
        line.extend((0..w).map(|x| squared[x + w * y]));
        let out = transform_1d(&line, spacing_mm[0]);
        for x in 0..w {
            squared[x + w * y] = out[x];
        }
    }
    for x in 0..w {
        line.clear();
        line.extend((0..h).map(|y| squared[x + w * y]));
        let out = transform_1d(&line, spacing_mm[1]);
        for y in 0..h {
            squared[x + w * y] = out[y];
        }
    }
    squared.into_iter().map(f64::sqrt).collect()
}

/// min over q of (s·(p − q))² + f(q): the lower envelope of parabolas.
fn transform_1d(f: &[f64], spacing: f64) -> Vec<f64> {
    let n = f.len();
    let s2 = spacing * spacing;
    let finite: Vec<usize> = (0..n).filter(|&q| f[q].is_finite()).collect();
    if finite.is_empty() {
        return vec![f64::INFINITY; n];
    }
    // Parabola q: s²(p − q)² + f(q); intersection of parabolas q and r (q < r).
    let meet = |q: usize, r: usize| {
        let (q, r, fq, fr) = (q as f64, r as f64, f[q], f[r]);
        ((fr + s2 * r * r) - (fq + s2 * q * q)) / (2.0 * s2 * (r - q))
    };
    let mut hull: Vec<usize> = Vec::with_capacity(finite.len());
    let mut from: Vec<f64> = Vec::with_capacity(finite.len());
    for &q in &finite {
        loop {
            match hull.last() {
                None => {
                    hull.push(q);
                    from.push(f64::NEG_INFINITY);
                    break;
                }
                Some(&top) => {
                    let x = meet(top, q);
                    if x <= *from.last().unwrap_or(&f64::NEG_INFINITY) {
                        hull.pop();
                        from.pop();
                    } else {
                        hull.push(q);
                        from.push(x);
                        break;
                    }
                }
            }
        }
    }
    let mut out = vec![0.0; n];
    let mut k = 0;
    for (p, value) in out.iter_mut().enumerate() {
        while k + 1 < hull.len() && from[k + 1] < p as f64 {
            k += 1;
        }
        let q = hull[k];
        let d = p as f64 - q as f64;
        *value = s2 * d * d + f[q];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances_match_brute_force_with_anisotropic_pixels() {
        let shape = [7, 5];
        let mut mask = vec![false; 35];
        mask[3 + 7 * 2] = true;
        mask[6] = true;
        let spacing = [0.5, 2.0];
        let got = distance_transform(&mask, shape, spacing);
        for y in 0..5 {
            for x in 0..7 {
                let expected = (0..35)
                    .filter(|&q| mask[q])
                    .map(|q| {
                        let (qx, qy) = ((q % 7) as f64, (q / 7) as f64);
                        ((x as f64 - qx) * 0.5).hypot((y as f64 - qy) * 2.0)
                    })
                    .fold(f64::INFINITY, f64::min);
                assert!((got[x + 7 * y] - expected).abs() < 1e-9, "({x},{y})");
            }
        }
    }

    #[test]
    fn a_disk_shrinking_between_two_slices_is_filled_in_between() {
        // A square of side 9 on slice 0 and of side 3 on slice 4, centred.
        let grid = Grid::new([15, 15, 5], [1.0; 3]);
        let mut map = vec![0u8; grid.voxel_count()];
        for j in 3..12 {
            for i in 3..12 {
                map[grid.index([i, j, 0])] = 2;
            }
        }
        for j in 6..9 {
            for i in 6..9 {
                map[grid.index([i, j, 4])] = 2;
            }
        }
        map[grid.index([7, 7, 2])] = 1; // another structure is never overwritten
        let filled = between_slices(&map, &grid, 2, 2);
        let on = |k: usize| filled.iter().filter(|&&i| grid.voxel(i)[2] == k).count();
        // Counts from a brute-force signed distance (every pixel against
        // every pixel, in Python): a quarter of the way the blend is the 7×7
        // square; halfway 7×7 without its 12 corner voxels, less the voxel of
        // label 1; three quarters a 5×5 without its 4 corners.
        assert_eq!(on(1), 49);
        assert_eq!(on(2), 37 - 1);
        assert_eq!(on(3), 21);
        assert!(!filled.contains(&grid.index([7, 7, 2])));
        assert!(between_slices(&map, &grid, 2, 3).is_empty());
    }
}
