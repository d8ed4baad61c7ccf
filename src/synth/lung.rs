//! Synthetic lung-cancer screening cases (METHODS.md §3's setting): each a
//! small chest CT-like volume in Hounsfield units and a questionnaire, both
//! driven by one hidden risk. The CT carries more of the risk (nodule size,
//! density and margin) than the questionnaire (smoking history, age,
//! symptoms — each a weak, noisy view of it), so a CT teacher has something
//! to teach a questionnaire student. Some cases have no CT.
//!
//! Axes: the volume is `edge³` voxels, x fastest (x + edge·(y + edge·z)),
//! 1 mm voxels; HU as stored int16.

use super::Rng;

/// Hounsfield units of the generated tissues.
pub mod hu {
    pub const AIR: i16 = -1000;
    pub const LUNG: i16 = -850;
    pub const SOFT_TISSUE: i16 = 40;
    pub const FAT: i16 = -90;
    pub const BONE: i16 = 700;
    /// A solid nodule's core; part-solid nodules are lower.
    pub const SOLID_NODULE: i16 = 30;
}

/// Smoking status as a questionnaire asks it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Smoking {
    Never,
    Former,
    Current,
}

impl Smoking {
    pub fn name(self) -> &'static str {
        match self {
            Smoking::Never => "never",
            Smoking::Former => "former",
            Smoking::Current => "current",
        }
    }
}

/// The questionnaire of one case.
#[derive(Clone, Debug, PartialEq)]
pub struct Questionnaire {
    pub age_years: f64,
    /// `true` for male.
    pub male: bool,
    pub pack_years: f64,
    pub smoking: Smoking,
    /// Years since quitting (former smokers; 0 otherwise).
    pub years_since_quitting: f64,
    pub family_history: bool,
    pub copd: bool,
    pub cough: bool,
    pub weight_loss: bool,
    pub occupational_exposure: bool,
}

/// One generated case.
#[derive(Clone, Debug)]
pub struct LungCase {
    /// The hidden risk (standard normal before the label is drawn).
    pub risk: f64,
    pub cancer: bool,
    pub questionnaire: Questionnaire,
    /// `edge³` HU voxels, or `None` for a case without CT.
    pub ct: Option<Vec<i16>>,
    /// Diameter of the largest nodule in mm (0: none), for the ground truth.
    pub nodule_diameter_mm: f64,
}

/// What to generate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LungOptions {
    pub seed: u64,
    /// Volume edge in voxels (32–64 keeps a CPU run within minutes).
    pub edge: usize,
    /// Fraction of cases without CT.
    pub missing_ct: f64,
}

impl Default for LungOptions {
    fn default() -> Self {
        Self {
            seed: 1,
            edge: 40,
            missing_ct: 0.1,
        }
    }
}

fn bernoulli(rng: &mut Rng, p: f64) -> bool {
    rng.unit() < p.clamp(0.0, 1.0)
}

fn logistic(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// A questionnaire that sees the risk only weakly: each answer mixes a
/// little of it with much noise.
fn questionnaire(rng: &mut Rng, risk: f64) -> Questionnaire {
    let smoking_score = 0.4 * risk + rng.normal();
    let smoking = if smoking_score > 0.6 {
        Smoking::Current
    } else if smoking_score > -0.3 {
        Smoking::Former
    } else {
        Smoking::Never
    };
    let pack_years = match smoking {
        Smoking::Never => 0.0,
        _ => (20.0 + 5.0 * risk + 12.0 * rng.normal()).max(1.0),
    };
    let years_since_quitting = match smoking {
        Smoking::Former => (12.0 - 2.0 * risk + 6.0 * rng.normal()).max(0.5),
        _ => 0.0,
    };
    Questionnaire {
        age_years: (62.0 + 2.0 * risk + 8.0 * rng.normal()).clamp(40.0, 90.0),
        male: bernoulli(rng, 0.5 + 0.05 * risk),
        pack_years,
        smoking,
        years_since_quitting,
        family_history: bernoulli(rng, logistic(-2.0 + 0.25 * risk)),
        copd: bernoulli(rng, logistic(-1.6 + 0.25 * risk)),
        cough: bernoulli(rng, logistic(-1.0 + 0.2 * risk)),
        weight_loss: bernoulli(rng, logistic(-2.5 + 0.3 * risk)),
        occupational_exposure: bernoulli(rng, logistic(-1.8 + 0.2 * risk)),
    }
}

/// The chest: air outside, a body ellipse of soft tissue with a fat rim,
/// two lungs, a spine; nodules whose size, density and spiculation grow
/// with the risk; noise.
fn chest(rng: &mut Rng, risk: f64, edge: usize) -> (Vec<i16>, f64) {
    let n = edge as f64;
    let centre = (n - 1.0) / 2.0;
    let mut voxels = vec![hu::AIR; edge * edge * edge];
    // Nodules: more, larger, denser and rougher with the risk.
    let count = (1.0 + 0.8 * risk + 0.7 * rng.normal())
        .round()
        .clamp(0.0, 4.0) as usize;
    let mut nodules = Vec::new();
    let mut largest: f64 = 0.0;
    for _ in 0..count {
        let side = if rng.unit() < 0.5 { -1.0 } else { 1.0 };
        let radius = (n * (0.05 + 0.03 * risk + 0.015 * rng.normal())).clamp(1.0, n * 0.12);
        let density = (hu::SOLID_NODULE as f64 - 250.0 * (0.5 - 0.4 * risk).clamp(0.0, 1.0)
            + 40.0 * rng.normal())
        .clamp(-600.0, 80.0);
        let spiculation = (0.15 + 0.2 * risk).clamp(0.0, 0.6);
        let position = [
            centre + side * n * (0.2 + 0.06 * rng.normal()),
            centre + n * 0.08 * rng.normal(),
            centre + n * 0.12 * rng.normal(),
        ];
        largest = largest.max(2.0 * radius);
        nodules.push((
            position,
            radius,
            density,
            spiculation,
            rng.unit() * std::f64::consts::TAU,
        ));
    }
    for z in 0..edge {
        for y in 0..edge {
            for x in 0..edge {
                let (fx, fy, fz) = (x as f64 - centre, y as f64 - centre, z as f64 - centre);
                let body = (fx / (0.46 * n)).powi(2) + (fy / (0.36 * n)).powi(2);
                if body > 1.0 {
                    continue;
                }
                let mut value = if body > 0.82 {
                    hu::FAT as f64
                } else {
                    hu::SOFT_TISSUE as f64
                };
                for side in [-1.0, 1.0] {
                    let lung = ((fx - side * 0.2 * n) / (0.16 * n)).powi(2)
                        + (fy / (0.26 * n)).powi(2)
                        + (fz / (0.46 * n)).powi(2);
                    if lung < 1.0 {
                        value = hu::LUNG as f64;
                    }
                }
                // The spine is posterior (−y in the volume's RAS frame).
                let spine = (fx / (0.06 * n)).powi(2) + ((fy + 0.26 * n) / (0.06 * n)).powi(2);
                if spine < 1.0 {
                    value = hu::BONE as f64;
                }
                for (position, radius, density, spiculation, phase) in &nodules {
                    let (dx, dy, dz) = (
                        x as f64 - position[0],
                        y as f64 - position[1],
                        z as f64 - position[2],
                    );
                    let r = (dx * dx + dy * dy + dz * dz).sqrt();
                    let angle = dy.atan2(dx) * 7.0 + dz.atan2(dx.hypot(dy)) * 5.0 + phase;
                    let boundary = radius * (1.0 + spiculation * angle.sin());
                    if r < boundary {
                        value = *density;
                    }
                }
                let noise = 12.0 * rng.normal();
                voxels[x + edge * (y + edge * z)] =
                    (value + noise).round().clamp(-1024.0, 3071.0) as i16;
            }
        }
    }
    (voxels, largest)
}

/// `count` cases from `options.seed`: about a third positive.
pub fn cohort(count: usize, options: &LungOptions) -> Vec<LungCase> {
    let mut rng = Rng::new(options.seed);
    (0..count)
        .map(|_| {
            let risk = rng.normal();
            let cancer = risk + 0.5 * rng.normal() > 0.5;
            let questionnaire = questionnaire(&mut rng, risk);
            let missing = rng.unit() < options.missing_ct;
            let (ct, diameter) = if missing {
                (None, 0.0)
            } else {
                let (voxels, d) = chest(&mut rng, risk, options.edge.max(8));
                (Some(voxels), d)
            };
            LungCase {
                risk,
                cancer,
                questionnaire,
                ct,
                nodule_diameter_mm: diameter,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn correlation(a: &[f64], b: &[f64]) -> f64 {
        let n = a.len() as f64;
        let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
        let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
        let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
        let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
        cov / (va * vb).sqrt()
    }

    #[test]
    fn same_seed_same_cases() {
        let options = LungOptions {
            edge: 16,
            ..LungOptions::default()
        };
        let a = cohort(6, &options);
        let b = cohort(6, &options);
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.ct, y.ct);
            assert_eq!(x.questionnaire, y.questionnaire);
        }
    }

    #[test]
    fn the_ct_carries_more_of_the_risk_than_the_questionnaire() {
        let options = LungOptions {
            edge: 24,
            missing_ct: 0.1,
            seed: 7,
        };
        let cases = cohort(300, &options);
        let positives = cases.iter().filter(|c| c.cancer).count() as f64 / 300.0;
        assert!((0.2..0.45).contains(&positives), "{positives}");
        let missing = cases.iter().filter(|c| c.ct.is_none()).count();
        assert!((15..=50).contains(&missing), "{missing} of 300 without CT");
        let with_ct: Vec<&LungCase> = cases.iter().filter(|c| c.ct.is_some()).collect();
        let risk: Vec<f64> = with_ct.iter().map(|c| c.risk).collect();
        let nodule: Vec<f64> = with_ct.iter().map(|c| c.nodule_diameter_mm).collect();
        let packs: Vec<f64> = with_ct.iter().map(|c| c.questionnaire.pack_years).collect();
        let (from_ct, from_answers) = (correlation(&risk, &nodule), correlation(&risk, &packs));
        assert!(
            from_ct > from_answers + 0.1 && from_answers > 0.1,
            "nodule size r = {from_ct:.2}, pack-years r = {from_answers:.2}"
        );
        // Air around the body, lungs inside it at lung density.
        let ct = with_ct[0].ct.as_ref().unwrap();
        assert_eq!(ct[0], hu::AIR);
        let lung = ct.iter().filter(|&&v| (-950..-750).contains(&v)).count() as f64;
        let fraction = lung / ct.len() as f64;
        assert!(
            (0.05..0.3).contains(&fraction),
            "lung fraction {fraction:.3}"
        );
    }
}
