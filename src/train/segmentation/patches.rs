//! Where the 3-D U-Net's cubic patches lie on an `edge`³ training grid
//! (x fastest, then y, then z; a patch's origin is its `[z, y, x]` corner):
//! the patches an epoch draws from a case, a patch's values cut from a
//! volume, and the windows prediction slides over the whole grid.
//!
//! Drawing follows nnU-Net and ProtoKD's reference (random crops): half of
//! a case's patches are centred on a voxel of a labeled class, each class
//! present as likely (a tumour's enhancing rim is a few per cent of it and
//! would seldom be centred otherwise), the rest anywhere in the grid.
//! Prediction tiles the grid with windows half a patch apart and averages
//! the class probabilities where they overlap, so every voxel is read near
//! a window's centre at least once and the network always sees the sample
//! size it was trained on (group normalisation's statistics depend on it).

use crate::rng::Rng;

/// A patch's corner, `[z, y, x]` on the training grid.
pub type Origin = [usize; 3];

/// `count` patch origins for a case on an `edge`³ grid, each patch inside
/// it: the first `count / 2` centred on a voxel of a class present in
/// `classes` (when it labels anything), the rest uniform over the grid.
pub fn draw_origins(
    classes: Option<&[u8]>,
    edge: usize,
    patch: usize,
    count: usize,
    rng: &mut Rng,
) -> Vec<Origin> {
    let patch = patch.min(edge);
    let last = edge - patch;
    let present: Vec<u8> = match classes {
        Some(classes) => {
            let mut seen = [false; 256];
            for &c in classes {
                seen[c as usize] = true;
            }
            (1..=255u8).filter(|&c| seen[c as usize]).collect()
        }
        None => Vec::new(),
    };
    let centred = if present.is_empty() { 0 } else { count / 2 };
    let mut origins = Vec::with_capacity(count);
    for _ in 0..centred {
        let class = present[rng.below(present.len())];
        let Some(classes) = classes else { break };
        let voxels: Vec<usize> = (0..classes.len())
            .filter(|&v| classes[v] == class)
            .collect();
        let v = voxels[rng.below(voxels.len())];
        let centre = [v / (edge * edge), (v / edge) % edge, v % edge];
        origins.push(centre.map(|c| c.saturating_sub(patch / 2).min(last)));
    }
    while origins.len() < count {
        origins.push([(); 3].map(|_| rng.below(last + 1)));
    }
    origins
}

/// Appends the `patch`³ values of `volume` (an `edge`³ grid) from `origin`
/// to `out`, x fastest.
pub fn crop<T: Copy>(volume: &[T], edge: usize, origin: Origin, patch: usize, out: &mut Vec<T>) {
    let [z0, y0, x0] = origin;
    for z in z0..z0 + patch {
        for y in y0..y0 + patch {
            let start = (z * edge + y) * edge + x0;
            out.extend_from_slice(&volume[start..start + patch]);
        }
    }
}

/// Where windows of `patch` start along one axis of `edge` voxels: half a
/// patch apart, the last flush with the far side.
pub fn window_starts(edge: usize, patch: usize) -> Vec<usize> {
    if patch >= edge {
        return vec![0];
    }
    let step = (patch / 2).max(1);
    let mut starts: Vec<usize> = (0..edge - patch).step_by(step).collect();
    starts.push(edge - patch);
    starts
}

/// Every window's origin over an `edge`³ grid.
pub fn windows(edge: usize, patch: usize) -> Vec<Origin> {
    let starts = window_starts(edge, patch);
    let mut out = Vec::with_capacity(starts.len().pow(3));
    for &z in &starts {
        for &y in &starts {
            for &x in &starts {
                out.push([z, y, x]);
            }
        }
    }
    out
}

/// Adds `values` (`classes × patch³`, one window's class probabilities,
/// x fastest) into `sums` (`classes × edge³`) at `origin`.
pub fn add_window(sums: &mut [f32], values: &[f32], edge: usize, origin: Origin, patch: usize) {
    let [z0, y0, x0] = origin;
    let volume = edge * edge * edge;
    let per_class = patch * patch * patch;
    for (k, class_values) in values.chunks_exact(per_class).enumerate() {
        for (row, chunk) in class_values.chunks_exact(patch).enumerate() {
            let (z, y) = (z0 + row / patch, y0 + row % patch);
            let start = k * volume + (z * edge + y) * edge + x0;
            for (sum, v) in sums[start..start + patch].iter_mut().zip(chunk) {
                *sum += v;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_start_half_a_patch_apart_and_end_flush() {
        assert_eq!(window_starts(64, 32), vec![0, 16, 32]);
        assert_eq!(window_starts(40, 32), vec![0, 8]);
        assert_eq!(window_starts(48, 16), vec![0, 8, 16, 24, 32]);
        assert_eq!(window_starts(32, 32), vec![0]);
        assert_eq!(window_starts(16, 32), vec![0]);
        assert_eq!(windows(40, 32).len(), 8);
        assert_eq!(windows(40, 32)[7], [8, 8, 8]);
    }

    #[test]
    fn a_crop_reads_the_patch_at_its_origin() {
        // A 4³ grid whose value is its own index: (z·4 + y)·4 + x.
        let grid: Vec<u32> = (0..64).collect();
        let mut out = Vec::new();
        crop(&grid, 4, [1, 2, 1], 2, &mut out);
        // z 1..3, y 2..4, x 1..3.
        assert_eq!(out, vec![25, 26, 29, 30, 41, 42, 45, 46]);
    }

    #[test]
    fn windows_added_back_cover_the_grid_once_per_overlap() {
        // Ones in every window of 4³ over 6³ (starts 0, 2): a voxel's sum
        // counts the windows holding it, per axis 1 (edge voxels) or 2.
        let (edge, patch, classes) = (6, 4, 2);
        let mut sums = vec![0f32; classes * edge * edge * edge];
        let ones = vec![1f32; classes * patch * patch * patch];
        for origin in windows(edge, patch) {
            add_window(&mut sums, &ones, edge, origin, patch);
        }
        let per_axis = |i: usize| if (2..4).contains(&i) { 2.0 } else { 1.0 };
        for z in 0..edge {
            for y in 0..edge {
                for x in 0..edge {
                    let want = per_axis(z) * per_axis(y) * per_axis(x);
                    let v = (z * edge + y) * edge + x;
                    assert_eq!(sums[v], want, "class 0 at {z},{y},{x}");
                    assert_eq!(sums[edge * edge * edge + v], want, "class 1");
                }
            }
        }
    }

    #[test]
    fn half_the_patches_are_centred_on_a_labeled_voxel_of_each_class_alike() {
        // A 16³ grid, background but for one voxel of class 2 at (3, 12, 5)
        // and a 2³ block of class 1 at (10..12)³.
        let edge = 16;
        let mut classes = vec![0u8; edge * edge * edge];
        let at = |z: usize, y: usize, x: usize| (z * edge + y) * edge + x;
        classes[at(3, 12, 5)] = 2;
        for z in 10..12 {
            for y in 10..12 {
                for x in 10..12 {
                    classes[at(z, y, x)] = 1;
                }
            }
        }
        let mut rng = Rng::new(7);
        let (patch, count) = (8, 400);
        let origins = draw_origins(Some(&classes), edge, patch, count, &mut rng);
        assert_eq!(origins.len(), count);
        assert!(origins.iter().flatten().all(|&o| o <= edge - patch));
        let holds = |o: &Origin, class: u8| {
            let mut out = Vec::new();
            crop(&classes, edge, *o, patch, &mut out);
            out.contains(&class)
        };
        let (centred, anywhere) = origins.split_at(count / 2);
        // The single class-2 voxel, centred: origin (3−4 → 0, 12−4, 5−4).
        let on_two = centred.iter().filter(|o| **o == [0, 8, 1]).count();
        let on_one = centred.iter().filter(|o| holds(o, 1)).count();
        assert_eq!(
            on_two + on_one,
            count / 2,
            "every centred patch holds a label"
        );
        assert!(
            (70..=130).contains(&on_two),
            "class 2 drawn {on_two} of 200 times"
        );
        // Uniform origins hold the lone voxel only now and then.
        let lone = anywhere.iter().filter(|o| holds(o, 2)).count();
        assert!(
            lone < 100,
            "{lone} of 200 uniform patches hold the lone voxel"
        );
        // No label: every patch uniform, none centred.
        let unlabeled = vec![0u8; edge * edge * edge];
        let origins = draw_origins(Some(&unlabeled), edge, patch, 4, &mut rng);
        assert_eq!(origins.len(), 4);
        assert_eq!(draw_origins(None, edge, patch, 3, &mut rng).len(), 3);
    }
}
