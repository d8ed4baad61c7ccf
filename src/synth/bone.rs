//! Synthetic opportunistic osteoporosis screening (METHODS.md §4's
//! setting): each case an abdominal CT-like series of axial slices, its
//! demographics and routine labs, all driven by one hidden bone-mineral
//! density (a T-score). Only some slices of a series cross a vertebral
//! body — whose trabecular bone is as dense as the hidden density says —
//! the others cross a disc or no spine at all, so which slices a model sees
//! matters. Demographics and labs see the density partly (age, sex,
//! menopause, BMI, steroids; vitamin D, alkaline phosphatase, urine
//! calcium), with noise. About a quarter of cases have no CT and a few
//! more no labs, never both.
//!
//! Axes: a series is `edge × edge × slices` voxels, x fastest
//! (x + edge·(y + edge·z)), z the axial slice index; HU as stored int16.

use super::Rng;

/// Hounsfield units of the generated tissues.
pub mod hu {
    pub const AIR: i16 = -1000;
    pub const FAT: i16 = -100;
    pub const SOFT_TISSUE: i16 = 45;
    pub const DISC: i16 = 85;
    pub const CORTICAL_BONE: i16 = 900;
    /// Trabecular bone at T-score 0; it falls by [`TRABECULAR_PER_SD`] per
    /// standard deviation of density lost.
    pub const TRABECULAR_AT_ZERO: f64 = 190.0;
    pub const TRABECULAR_PER_SD: f64 = 60.0;
}

/// The T-score below which a case has osteoporosis (WHO: −2.5; the demo's
/// scale is shifted so about a third of the cohort is positive).
pub const OSTEOPOROSIS_BELOW: f64 = -1.0;

/// What to generate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BoneOptions {
    pub seed: u64,
    /// In-plane edge of a slice in pixels.
    pub edge: usize,
    /// Axial slices per series.
    pub slices: usize,
    /// Fraction of cases without CT.
    pub missing_ct: f64,
    /// Fraction of cases without labs (drawn among the cases with CT).
    pub missing_labs: f64,
    /// Standard deviation in HU of a case's trabecular bone about what its
    /// density says (0: the HU is the T-score exactly, so the CT decides
    /// the label; real vertebrae vary with marrow fat, calibration and
    /// level — 60 HU is one T-score unit).
    pub ct_hu_spread: f64,
}

impl Default for BoneOptions {
    fn default() -> Self {
        Self {
            seed: 1,
            edge: 64,
            slices: 32,
            missing_ct: 0.25,
            missing_labs: 0.15,
            ct_hu_spread: 0.0,
        }
    }
}

/// Demographics: always there.
#[derive(Clone, Debug, PartialEq)]
pub struct Demographics {
    pub age_years: f64,
    pub female: bool,
    pub bmi: f64,
    /// Post-menopausal (women only).
    pub menopause: bool,
    pub smoking: bool,
    pub steroid_use: bool,
}

/// Routine labs.
#[derive(Clone, Debug, PartialEq)]
pub struct Labs {
    pub calcium_mg_dl: f64,
    pub phosphate_mg_dl: f64,
    pub alkaline_phosphatase_u_l: f64,
    pub vitamin_d_ng_ml: f64,
    pub creatinine_mg_dl: f64,
    pub urine_calcium_mg_day: f64,
}

/// One generated case.
#[derive(Clone, Debug)]
pub struct BoneCase {
    /// The hidden density as a T-score-like standard normal.
    pub t_score: f64,
    pub osteoporosis: bool,
    pub demographics: Demographics,
    pub labs: Option<Labs>,
    /// The series, or `None` for a case without CT.
    pub ct: Option<Vec<i16>>,
    /// The slices that cross a vertebral body (ascending; empty without CT).
    pub vertebra_slices: Vec<usize>,
}

fn bernoulli(rng: &mut Rng, p: f64) -> bool {
    rng.unit() < p.clamp(0.0, 1.0)
}

fn logistic(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Demographics, and the part of the density they explain.
fn demographics(rng: &mut Rng) -> (Demographics, f64) {
    let age_years = (66.0 + 10.0 * rng.normal()).clamp(45.0, 95.0);
    let female = bernoulli(rng, 0.6);
    let menopause = female && bernoulli(rng, logistic((age_years - 50.0) / 3.0));
    let bmi = (26.0 + 4.5 * rng.normal()).clamp(15.0, 45.0);
    let smoking = bernoulli(rng, 0.2);
    let steroid_use = bernoulli(rng, 0.12);
    let explained = -0.035 * (age_years - 66.0)
        - 0.35 * f64::from(u8::from(female))
        - 0.35 * f64::from(u8::from(menopause))
        + 0.06 * (bmi - 26.0)
        - 0.25 * f64::from(u8::from(smoking))
        - 0.55 * f64::from(u8::from(steroid_use));
    (
        Demographics {
            age_years,
            female,
            bmi,
            menopause,
            smoking,
            steroid_use,
        },
        explained,
    )
}

/// Labs that see bone turnover (`turnover`: high means loss) with noise.
fn labs(rng: &mut Rng, turnover: f64) -> Labs {
    Labs {
        calcium_mg_dl: (9.4 + 0.35 * rng.normal()).clamp(7.0, 12.0),
        phosphate_mg_dl: (3.5 + 0.5 * rng.normal()).clamp(1.5, 6.5),
        alkaline_phosphatase_u_l: (80.0 + 14.0 * turnover + 18.0 * rng.normal()).clamp(25.0, 250.0),
        vitamin_d_ng_ml: (28.0 - 5.0 * turnover + 8.0 * rng.normal()).clamp(4.0, 80.0),
        creatinine_mg_dl: (0.95 + 0.2 * rng.normal()).clamp(0.4, 3.0),
        urine_calcium_mg_day: (180.0 + 30.0 * turnover + 45.0 * rng.normal()).clamp(30.0, 500.0),
    }
}

/// The series: a body ellipse (fat rim, soft tissue), and in a band of
/// slices at a random height one or two vertebral bodies (cortical shell,
/// trabecular core at the density's HU) with a disc between; elsewhere no
/// vertebral body crosses the slice. Returns the voxels and the slices
/// that cross a vertebral body.
fn series(
    rng: &mut Rng,
    t_score: f64,
    hu_offset: f64,
    options: &BoneOptions,
) -> (Vec<i16>, Vec<usize>) {
    let (edge, slices) = (options.edge.max(8), options.slices.max(4));
    let n = edge as f64;
    let centre = (n - 1.0) / 2.0;
    // Vertebral bodies a quarter of the series high, a disc a quarter of that.
    let body = ((slices as f64 / 4.0).round() as usize).max(2);
    let disc = (body / 4).max(1);
    let count = if rng.unit() < 0.5 { 1 } else { 2 };
    let span = count * body + (count - 1) * disc;
    let start = (rng.unit() * (slices.saturating_sub(span) + 1) as f64) as usize;
    let mut crossing = vec![false; slices];
    let mut in_disc = vec![false; slices];
    for v in 0..count {
        let first = start + v * (body + disc);
        for crosses in crossing
            .iter_mut()
            .take((first + body).min(slices))
            .skip(first)
        {
            *crosses = true;
        }
        if v + 1 < count {
            let end = (first + body + disc).min(slices);
            for disc_slice in in_disc.iter_mut().take(end).skip(first + body) {
                *disc_slice = true;
            }
        }
    }
    let trabecular = hu::TRABECULAR_AT_ZERO + hu::TRABECULAR_PER_SD * t_score + hu_offset;
    let radius = 0.11 * n * (1.0 + 0.08 * rng.normal()).clamp(0.8, 1.2);
    let spine = [centre + 0.03 * n * rng.normal(), centre - 0.2 * n];
    let cortex = (0.15 * radius).max(1.0);
    let mut voxels = vec![hu::AIR; edge * edge * slices];
    for z in 0..slices {
        for y in 0..edge {
            for x in 0..edge {
                let (fx, fy) = (x as f64 - centre, y as f64 - centre);
                let outline = (fx / (0.45 * n)).powi(2) + (fy / (0.35 * n)).powi(2);
                if outline > 1.0 {
                    continue;
                }
                let mut value = if outline > 0.78 {
                    hu::FAT as f64
                } else {
                    hu::SOFT_TISSUE as f64
                };
                let r = (x as f64 - spine[0]).hypot(y as f64 - spine[1]);
                if r < radius {
                    if crossing[z] {
                        value = if r > radius - cortex {
                            hu::CORTICAL_BONE as f64
                        } else {
                            trabecular
                        };
                    } else if in_disc[z] {
                        value = hu::DISC as f64;
                    }
                }
                let noise = 15.0 * rng.normal();
                voxels[x + edge * (y + edge * z)] =
                    (value + noise).round().clamp(-1024.0, 3071.0) as i16;
            }
        }
    }
    let picked = (0..slices).filter(|&z| crossing[z]).collect();
    (voxels, picked)
}

/// `count` cases from `options.seed`: about a third with osteoporosis.
pub fn cohort(count: usize, options: &BoneOptions) -> Vec<BoneCase> {
    let mut rng = Rng::new(options.seed ^ 0x424f_4e45); // "BONE"
    // The HU spread from its own stream: every other draw, so the cases'
    // densities and labels, stays what the decisive demo has.
    let mut spread_rng = Rng::new(options.seed ^ 0x5350_5244); // "SPRD"
    (0..count)
        .map(|_| {
            let hu_offset = options.ct_hu_spread * spread_rng.normal();
            let (demographics, explained) = demographics(&mut rng);
            let turnover = rng.normal();
            let t_score = explained - 0.45 * turnover + 0.75 * rng.normal();
            let osteoporosis = t_score < OSTEOPOROSIS_BELOW;
            let labs_drawn = labs(&mut rng, turnover);
            let missing_ct = rng.unit() < options.missing_ct;
            // Labs go missing only where the CT is there (never both), at
            // the overall rate asked for.
            let labs_missing_given_ct = options.missing_labs / (1.0 - options.missing_ct).max(1e-9);
            let missing_labs = !missing_ct && rng.unit() < labs_missing_given_ct;
            let (ct, vertebra_slices) = if missing_ct {
                (None, Vec::new())
            } else {
                let (voxels, slices) = series(&mut rng, t_score, hu_offset, options);
                (Some(voxels), slices)
            };
            BoneCase {
                t_score,
                osteoporosis,
                demographics,
                labs: (!missing_labs).then_some(labs_drawn),
                ct,
                vertebra_slices,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_cases_and_the_cohort_has_its_shape() {
        let options = BoneOptions {
            edge: 16,
            slices: 12,
            ..BoneOptions::default()
        };
        let a = cohort(400, &options);
        let b = cohort(4, &options);
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.ct, y.ct);
            assert_eq!(x.demographics, y.demographics);
        }
        let share = |f: &dyn Fn(&BoneCase) -> bool| {
            a.iter().filter(|c| f(c)).count() as f64 / a.len() as f64
        };
        let positives = share(&|c| c.osteoporosis);
        assert!((0.25..0.45).contains(&positives), "{positives}");
        let no_ct = share(&|c| c.ct.is_none());
        let no_labs = share(&|c| c.labs.is_none());
        assert!((0.19..0.31).contains(&no_ct), "{no_ct} without CT");
        assert!((0.10..0.20).contains(&no_labs), "{no_labs} without labs");
        assert_eq!(share(&|c| c.ct.is_none() && c.labs.is_none()), 0.0);
        assert!(
            a.iter()
                .all(|c| c.ct.is_some() != c.vertebra_slices.is_empty())
        );
    }

    #[test]
    fn only_the_listed_slices_hold_trabecular_bone_at_the_density_s_hu() {
        let options = BoneOptions {
            edge: 32,
            slices: 24,
            missing_ct: 0.0,
            missing_labs: 0.0,
            seed: 3,
            ct_hu_spread: 0.0,
        };
        for case in cohort(6, &options) {
            let ct = case.ct.as_ref().unwrap();
            let spine_mean = |z: usize| spine_median(ct, z);
            let expected = hu::TRABECULAR_AT_ZERO + hu::TRABECULAR_PER_SD * case.t_score;
            for z in 0..24 {
                let mean = spine_mean(z);
                if case.vertebra_slices.contains(&z) {
                    assert!(
                        (mean - expected).abs() < 40.0,
                        "slice {z}: {mean} vs {expected}"
                    );
                } else {
                    assert!(mean < 120.0, "slice {z} has no vertebra: {mean}");
                }
            }
        }
    }

    /// The median of a 3×3 patch at the spine's centre of slice `z` of a
    /// 32 px series (the centre wanders by a pixel or so: a corner may
    /// touch the cortex).
    fn spine_median(ct: &[i16], z: usize) -> f64 {
        let plane = 32 * 32;
        let (cx, cy) = (15.5f64, 15.5 - 0.2 * 32.0);
        let mut values = Vec::new();
        for y in (cy as usize - 1)..=(cy as usize + 1) {
            for x in (cx as usize - 1)..=(cx as usize + 1) {
                values.push(ct[z * plane + y * 32 + x] as f64);
            }
        }
        values.sort_by(f64::total_cmp);
        values[4]
    }

    /// With a spread, a vertebra's HU departs from its density's by about
    /// the spread (the median over a vertebra's slices averages the voxel
    /// noise away), so the CT no longer decides the label; the hidden
    /// densities and labels stay those of the decisive demo.
    #[test]
    fn a_hu_spread_loosens_the_vertebra_from_its_density() {
        let options = |ct_hu_spread| BoneOptions {
            edge: 32,
            slices: 24,
            missing_ct: 0.0,
            missing_labs: 0.0,
            seed: 5,
            ct_hu_spread,
        };
        let departures = |spread: f64| -> Vec<f64> {
            cohort(60, &options(spread))
                .iter()
                .map(|case| {
                    let ct = case.ct.as_ref().unwrap();
                    let mut values: Vec<f64> = case
                        .vertebra_slices
                        .iter()
                        .map(|&z| spine_median(ct, z))
                        .collect();
                    values.sort_by(f64::total_cmp);
                    let expected = hu::TRABECULAR_AT_ZERO + hu::TRABECULAR_PER_SD * case.t_score;
                    values[values.len() / 2] - expected
                })
                .collect()
        };
        let sd = |v: &[f64]| {
            let mean = v.iter().sum::<f64>() / v.len() as f64;
            (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (v.len() - 1) as f64).sqrt()
        };
        let decisive = sd(&departures(0.0));
        let spread = sd(&departures(60.0));
        assert!(decisive < 10.0, "without a spread: {decisive} HU");
        assert!((40.0..85.0).contains(&spread), "with 60 HU: {spread} HU");
        // The same hidden densities and labels either way.
        let a = cohort(20, &options(0.0));
        let b = cohort(20, &options(60.0));
        assert!(a.iter().zip(&b).all(|(a, b)| a.t_score == b.t_score));
    }
}
