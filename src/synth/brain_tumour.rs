//! Synthetic brain tumours on a real brain (METHODS.md §5's setting), the
//! groundwork of the brain-tumour demo: a T1 template (the MNI brain in
//! `assets/`, resampled to `edge`³) gives the normal tissue; each case adds
//! one tumour — a necrotic core inside an enhancing rim inside oedema, at a
//! random place in the brain, of random size and lobed shape — and renders
//! four co-registered sequences whose contrasts follow the sequences'
//! clinical behaviour:
//!
//! | tissue | T1 | T1ce | T2 | FLAIR |
//! |---|---|---|---|---|
//! | white matter | bright | bright | dark | dark-mid |
//! | CSF | dark | dark | bright | suppressed (dark) |
//! | necrotic core (label 1) | dark | dark | bright | bright |
//! | enhancing rim (label 4) | mid | **bright** | bright | bright |
//! | oedema (label 2) | nearly unchanged | nearly unchanged | **bright** | bright |
//!
//! as in real scans, no one sequence shows everything: FLAIR outlines the
//! whole tumour but is bright over oedema, rim and core alike; T1 is nearly
//! blind to oedema; enhancement shows only on T1ce. So a one-sequence
//! student has something to learn from the four-sequence teacher
//! (METHODS.md §5), which a demo where FLAIR separated every region did not.
//!
//! with a smooth multiplicative bias field per sequence and noise, skull-stripped
//! (zero outside the brain, as BraTS distributes its cases). Labels
//! are BraTS's: 0 background, 1 necrotic core, 2 oedema, 4 enhancing.
//! Axes: `edge³` values, x fastest (x + edge·(y + edge·z)).

use super::Rng;

/// The four sequences' modality roles, in [`TumourCase::sequences`] order.
pub const ROLES: [&str; 4] = ["t1", "t1ce", "t2", "flair"];

/// BraTS label values.
pub mod label {
    pub const NECROTIC_CORE: u8 = 1;
    pub const OEDEMA: u8 = 2;
    pub const ENHANCING: u8 = 4;
}

/// A normalised T1 value below this is outside the brain (air, skull strip).
pub const BRAIN_BELOW: f32 = 0.15;
/// A normalised T1 value below this (inside the brain) is CSF.
pub const CSF_BELOW: f32 = 0.35;

/// One generated case.
#[derive(Clone, Debug)]
pub struct TumourCase {
    /// T1, T1ce, T2, FLAIR ([`ROLES`] order), `edge³` values each, ~[0, 1.5].
    pub sequences: [Vec<f32>; 4],
    /// `edge³` BraTS labels.
    pub labels: Vec<u8>,
    /// The tumour's centre (voxel index) and its oedema radius in voxels.
    pub centre: [usize; 3],
    pub radius_voxels: f64,
}

/// `values` (`shape` x fastest) resampled trilinearly to `edge`³, voxel
/// centres aligned, and normalised so the 99th percentile of the non-zero
/// values is 1.
pub fn resample_brain(values: &[f32], shape: [usize; 3], edge: usize) -> Vec<f32> {
    let out = crate::volume::resample::trilinear(values, shape, [edge; 3]);
    let mut positive: Vec<f32> = out.iter().copied().filter(|&v| v > 0.0).collect();
    positive.sort_by(f32::total_cmp);
    let top = positive
        .get(positive.len().saturating_sub(1) * 99 / 100)
        .copied()
        .unwrap_or(1.0)
        .max(1e-6);
    out.iter().map(|v| (v / top).clamp(0.0, 1.2)).collect()
}

/// A smooth multiplicative field around 1 (±`strength`), random phases.
fn bias_field(
    rng: &mut Rng,
    edge: usize,
    strength: f64,
) -> impl Fn(usize, usize, usize) -> f32 + use<> {
    let phase: Vec<f64> = (0..3).map(|_| rng.unit() * std::f64::consts::TAU).collect();
    let n = edge as f64;
    move |x, y, z| {
        let w = |v: usize, p: f64| (std::f64::consts::PI * v as f64 / n + p).sin();
        (1.0 + strength * (w(x, phase[0]) + w(y, phase[1]) + w(z, phase[2])) / 3.0) as f32
    }
}

/// One case on `brain` (normalised T1 at `edge`³, see [`resample_brain`]).
pub fn case(brain: &[f32], edge: usize, rng: &mut Rng) -> TumourCase {
    let n = edge as f64;
    // A centre in white or grey matter, away from the brain's edge.
    let mut centre = [edge / 2; 3];
    for _ in 0..1000 {
        let c = [0, 1, 2].map(|_| (n * (0.25 + 0.5 * rng.unit())) as usize);
        if brain[c[0] + edge * (c[1] + edge * c[2])] > 0.5 {
            centre = c;
            break;
        }
    }
    let oedema = n * (0.08 + 0.08 * rng.unit());
    let enhancing = oedema * (0.45 + 0.25 * rng.unit());
    let core = enhancing * (0.4 + 0.3 * rng.unit());
    let (lobes_a, lobes_b) = (
        rng.unit() * std::f64::consts::TAU,
        rng.unit() * std::f64::consts::TAU,
    );
    let fields: Vec<_> = (0..4).map(|_| bias_field(rng, edge, 0.15)).collect();
    let mut labels = vec![0u8; edge * edge * edge];
    let mut sequences: [Vec<f32>; 4] = std::array::from_fn(|_| vec![0f32; edge * edge * edge]);
    for z in 0..edge {
        for y in 0..edge {
            for x in 0..edge {
                let v = x + edge * (y + edge * z);
                let t = brain[v];
                let inside = t > BRAIN_BELOW;
                let (dx, dy, dz) = (
                    x as f64 - centre[0] as f64,
                    y as f64 - centre[1] as f64,
                    z as f64 - centre[2] as f64,
                );
                let r = (dx * dx + dy * dy + dz * dz).sqrt();
                // Lobed boundaries: the radius varies with direction.
                let theta = dy.atan2(dx);
                let phi = dz.atan2(dx.hypot(dy));
                let lobed =
                    1.0 + 0.25 * (3.0 * theta + lobes_a).sin() * (2.0 * phi + lobes_b).cos();
                let tissue = if !inside {
                    0
                } else if r < core * lobed {
                    label::NECROTIC_CORE
                } else if r < enhancing * lobed {
                    label::ENHANCING
                } else if r < oedema * lobed {
                    label::OEDEMA
                } else {
                    0
                };
                labels[v] = tissue;
                let csf = inside && t < CSF_BELOW;
                let normal = if !inside {
                    [0.0; 4]
                } else {
                    let t2 = 1.1 - 0.8 * t;
                    let flair = if csf { 0.2 * t } else { 1.0 - 0.6 * t };
                    [t, t, t2, flair]
                };
                let value = match tissue {
                    label::NECROTIC_CORE => [0.2, 0.25, 0.95, 1.1],
                    label::ENHANCING => [0.5, 1.3, 0.85, 1.1],
                    label::OEDEMA => [0.95 * t, 0.95 * t, 1.0, 1.15],
                    _ => normal,
                };
                // Skull-stripped, as BraTS distributes its cases: nothing
                // (not even noise) outside the brain.
                if !inside {
                    continue;
                }
                for (s, sequence) in sequences.iter_mut().enumerate() {
                    let noise = 0.03 * rng.normal() as f32;
                    sequence[v] = (value[s] * fields[s](x, y, z) + noise).max(0.0);
                }
            }
        }
    }
    TumourCase {
        sequences,
        labels,
        centre,
        radius_voxels: oedema,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A toy brain: a ball of white matter (0.8) with a CSF core (0.25).
    fn toy_brain(edge: usize) -> Vec<f32> {
        let c = (edge as f64 - 1.0) / 2.0;
        (0..edge * edge * edge)
            .map(|v| {
                let (x, y, z) = (v % edge, (v / edge) % edge, v / (edge * edge));
                let r = ((x as f64 - c).powi(2) + (y as f64 - c).powi(2) + (z as f64 - c).powi(2))
                    .sqrt();
                if r < 0.08 * edge as f64 {
                    0.25
                } else if r < 0.45 * edge as f64 {
                    0.8
                } else {
                    0.0
                }
            })
            .collect()
    }

    fn mean(values: &[f32], labels: &[u8], class: u8, brain: &[f32]) -> f64 {
        let picked: Vec<f64> = values
            .iter()
            .zip(labels)
            .zip(brain)
            .filter(|((_, l), b)| **l == class && (class != 0 || **b > 0.5))
            .map(|((&v, _), _)| v as f64)
            .collect();
        picked.iter().sum::<f64>() / picked.len().max(1) as f64
    }

    #[test]
    fn each_sequence_shows_each_tissue_as_the_clinic_knows_it() {
        let edge = 32;
        let brain = toy_brain(edge);
        let a = case(&brain, edge, &mut Rng::new(3));
        let b = case(&brain, edge, &mut Rng::new(3));
        assert_eq!(a.labels, b.labels, "same seed, same case");
        assert!(a.labels.iter().all(|l| [0, 1, 2, 4].contains(l)));
        for class in [label::NECROTIC_CORE, label::ENHANCING, label::OEDEMA] {
            assert!(a.labels.contains(&class), "label {class} missing");
        }
        // Labels only inside the brain.
        assert!(
            a.labels
                .iter()
                .zip(&brain)
                .all(|(&l, &t)| l == 0 || t > BRAIN_BELOW)
        );
        // Skull-stripped: every sequence is exactly 0 outside the brain.
        for sequence in &a.sequences {
            assert!(
                sequence
                    .iter()
                    .zip(&brain)
                    .all(|(&v, &t)| t > BRAIN_BELOW || v == 0.0)
            );
        }
        let [t1, t1ce, t2, flair] = &a.sequences;
        let m = |s: &[f32], class| mean(s, &a.labels, class, &brain);
        // The enhancing rim lights up on T1ce, not (as much) on T1.
        assert!(
            m(t1ce, label::ENHANCING) > 1.3 * m(t1ce, 0),
            "T1ce rim vs white matter"
        );
        assert!(m(t1ce, label::ENHANCING) > 2.0 * m(t1, label::ENHANCING));
        // Oedema is bright on T2 and FLAIR.
        assert!(m(t2, label::OEDEMA) > 1.5 * m(t2, 0));
        assert!(m(flair, label::OEDEMA) > 2.0 * m(flair, 0));
        // FLAIR is bright over oedema, rim and core alike: it outlines the
        // whole tumour and cannot tell its regions apart.
        for class in [label::NECROTIC_CORE, label::ENHANCING] {
            let ratio = m(flair, class) / m(flair, label::OEDEMA);
            assert!((0.85..1.15).contains(&ratio), "FLAIR {class}: {ratio}");
        }
        // T1 is nearly blind to oedema: an oedema voxel keeps ~its tissue's T1.
        let oedema: Vec<usize> = (0..a.labels.len())
            .filter(|&v| a.labels[v] == label::OEDEMA)
            .collect();
        let kept = oedema
            .iter()
            .map(|&v| (t1[v] / brain[v]) as f64)
            .sum::<f64>()
            / oedema.len() as f64;
        assert!(
            kept > 0.85,
            "T1 over oedema keeps {kept} of the tissue's value"
        );
        // The necrotic core is dark on T1.
        assert!(m(t1, label::NECROTIC_CORE) < 0.4 * m(t1, 0));
    }

    #[test]
    fn resampling_keeps_a_constant_and_normalises_to_the_99th_percentile() {
        let values = vec![200.0f32; 4 * 6 * 8];
        let out = resample_brain(&values, [4, 6, 8], 5);
        assert_eq!(out.len(), 125);
        assert!(out.iter().all(|&v| (v - 1.0).abs() < 1e-6), "{out:?}");
    }

    #[test]
    fn a_tumour_on_the_mni_brain_has_all_three_regions_inside_the_brain() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/mni152_t1.nii.gz");
        let mni = crate::volume::load(&path).unwrap();
        let shape = mni.spatial_shape();
        let values: Vec<f32> = (0..shape.iter().product::<usize>())
            .map(|v| mni.value_at(v).unwrap_or(0.0) as f32)
            .collect();
        let edge = 64;
        let brain = resample_brain(&values, shape, edge);
        let inside = brain.iter().filter(|&&t| t > BRAIN_BELOW).count() as f64;
        let fraction = inside / (edge * edge * edge) as f64;
        assert!(
            (0.2..0.7).contains(&fraction),
            "brain fills {fraction:.2} of the cube"
        );
        for seed in 1..4 {
            let c = case(&brain, edge, &mut Rng::new(seed));
            let count = |l: u8| c.labels.iter().filter(|&&x| x == l).count();
            let (core, rim, oedema) = (count(1), count(4), count(2));
            assert!(
                core > 0 && rim > core / 2 && oedema > rim,
                "seed {seed}: {core} {rim} {oedema}"
            );
        }
    }
}
