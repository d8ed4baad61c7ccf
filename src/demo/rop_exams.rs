//! The ROP screening demo (`loupe demo DIR --task rop-exams`): infants
//! born at 23–31 weeks, each with 1–4 exams a week or two apart from 31
//! weeks' postmenstrual age, two eyes per exam and 3–5 retinal fields per
//! eye (posterior pole and temporal always) with a realistic quality mix.
//! Disease follows gestational age and progresses exam by exam; it lies in
//! the periphery, so the ridge shows only in the fields that cover it (the
//! temporal field; the posterior pole too in zone I), and plus disease
//! dilates the vessels. The truth per eye goes to `ground_truth_eyes.csv`;
//! two graders who sometimes disagree grade about two eyes in three; the
//! test pool is a fifth of the infants, every eye graded, disagreements
//! adjudicated to the truth.
//! The photographs are listed in `exams.csv` and imported through the same
//! reader `loupe import --exams` uses.

use std::path::Path;

use super::{DemoOptions, DemoSummary, check_demo_folder};
use crate::rng::Rng;
use crate::rop::dates::Date;
use crate::rop::exam::{Eye, Quality, RetinalField};
use crate::rop::grade::{EyeGrade, flag_text};
use crate::store::exams::{ExamsCsv, EyeRef};
use crate::store::{Project, Schema, StoreError, csv};
use crate::synth::fundus::{self, View};

/// The two demo graders; the first errs less often than the second.
pub const GRADERS: [(&str, f64); 2] = [("grader-a", 0.08), ("grader-b", 0.2)];

/// An eye's truth at one exam.
#[derive(Clone, Copy, Debug, PartialEq)]
struct EyeTruth {
    /// Index into `ZONES`.
    zone: usize,
    /// 0 (none) to 3.
    stage: usize,
    /// 0 none, 1 pre-plus, 2 plus.
    plus: usize,
    /// Clock hours of the ridge, counted from the temporal meridian.
    extent_hours: u8,
}

const ZONES: [&str; 4] = ["I", "posterior-II", "II", "III"];
const PLUS: [&str; 3] = ["none", "pre-plus", "plus"];

impl EyeTruth {
    /// As a grade form says it; the ridge runs from the temporal meridian
    /// (9 o'clock in a right eye, 3 in a left, as the examiner sees them).
    fn grade(&self, eye: Eye) -> EyeGrade {
        let mut grade = EyeGrade::default();
        let temporal: u8 = if eye == Eye::Right { 9 } else { 3 };
        let hours: Vec<String> = (0..self.extent_hours)
            .map(|k| ((temporal + k - 1) % 12 + 1).to_string())
            .collect();
        for (field, value) in [
            ("zone", ZONES[self.zone].to_string()),
            (
                "stage",
                if self.stage == 0 {
                    "none".into()
                } else {
                    self.stage.to_string()
                },
            ),
            (
                "extent",
                if self.stage == 0 {
                    String::new()
                } else {
                    hours.join(",")
                },
            ),
            ("plus", PLUS[self.plus].to_string()),
        ] {
            // Every value above is one the form accepts.
            let _ = grade.set(field, &value);
        }
        grade
    }

    /// A grader's reading: with probability `slip` each of stage, zone and
    /// plus is one step off.
    fn as_read(&self, rng: &mut Rng, slip: f64) -> EyeTruth {
        let mut step = |value: usize, top: usize| {
            if rng.unit() >= slip {
                value
            } else if value == 0 || (value < top && rng.unit() < 0.5) {
                value + 1
            } else {
                value - 1
            }
        };
        let stage = step(self.stage, 3);
        let zone = step(self.zone, 3);
        let plus = step(self.plus, 2);
        EyeTruth {
            zone,
            stage,
            plus,
            extent_hours: if stage == 0 {
                0
            } else {
                self.extent_hours.max(1)
            },
        }
    }
}

/// One infant as drawn.
struct DrawnInfant {
    name: String,
    ga_days: u32,
    birth_weight_g: u32,
    birth_date: Date,
    sex: &'static str,
    /// (exam date, truth of OD and OS).
    exams: Vec<(Date, [EyeTruth; 2])>,
}

/// Draws an infant: lower gestational age, more and worse disease.
fn draw_infant(rng: &mut Rng, index: usize) -> DrawnInfant {
    let ga_days = 23 * 7 + rng.below(9 * 7) as u32;
    let weeks_early = (ga_days as f64 / 7.0 - 23.0).max(0.0);
    let birth_weight_g =
        (450.0 + weeks_early * 160.0 + rng.normal() * 120.0).clamp(400.0, 2200.0) as u32;
    let birth_date = Date {
        year: 2026,
        month: 1,
        day: 1,
    }
    .plus_days(rng.below(240) as i64);
    let sex = if rng.unit() < 0.5 { "F" } else { "M" };
    let p_rop = (0.95 - 0.08 * weeks_early).clamp(0.25, 0.95);
    let peak_stage = if rng.unit() < p_rop {
        1 + rng.below(3)
    } else {
        0
    };
    let peak_zone = if peak_stage >= 2 && weeks_early < 3.0 && rng.unit() < 0.35 {
        0
    } else {
        [1, 2, 2, 3][rng.below(4)]
    };
    let peak_plus = match peak_stage {
        3 => [0, 1, 2, 2][rng.below(4)],
        2 => [0, 0, 1, 2][rng.below(4)],
        1 => usize::from(rng.unit() < 0.15),
        _ => 0,
    };
    let extent = 1 + 2 * peak_stage as u8 + rng.below(3) as u8;
    let count = 1 + rng.below(4);
    // The first exam at 31 weeks' postmenstrual age or 4 weeks after birth,
    // whichever is later (the usual screening rule), then every 1–2 weeks.
    let first_after_birth = (31 * 7 - ga_days as i64).max(28);
    let mut date = birth_date.plus_days(first_after_birth);
    let fellow_lags = rng.unit() < 0.3;
    let mut exams = Vec::with_capacity(count);
    for k in 0..count {
        let progress = (k + 1) as f64 / count as f64;
        let stage = (peak_stage as f64 * progress).ceil() as usize;
        let plus = if k + 1 == count {
            peak_plus
        } else {
            peak_plus.min(1)
        };
        let right = EyeTruth {
            // Before disease the zone is where vessels end; it moves out as they grow.
            zone: if stage == 0 {
                peak_zone.max(2)
            } else {
                peak_zone
            },
            stage,
            plus,
            extent_hours: if stage == 0 { 0 } else { extent.min(12) },
        };
        let left = if fellow_lags && stage > 0 {
            EyeTruth {
                stage: stage - 1,
                extent_hours: if stage == 1 {
                    0
                } else {
                    right.extent_hours - 1
                },
                plus: plus.saturating_sub(1),
                ..right
            }
        } else {
            right
        };
        exams.push((date, [right, left]));
        date = date.plus_days(if rng.unit() < 0.5 { 7 } else { 14 });
    }
    DrawnInfant {
        name: format!("INF{:03}", index + 1),
        ga_days,
        birth_weight_g,
        birth_date,
        sex,
        exams,
    }
}

/// How a field sees the eye: the stage the photograph shows and the view.
fn field_view(field: RetinalField, truth: &EyeTruth) -> (usize, View) {
    let vessels = [1.0, 1.35, 1.7][truth.plus];
    match field {
        RetinalField::PosteriorPole => {
            let zone_one = truth.zone == 0;
            let view = View {
                border_scale: if zone_one { 0.55 } else { 2.4 },
                vessel_width_scale: vessels,
                macula: true,
                ..View::default()
            };
            (if zone_one { truth.stage } else { 0 }, view)
        }
        RetinalField::Temporal => (
            truth.stage,
            View {
                disc_offset_scale: 2.6,
                border_scale: if truth.zone == 3 { 1.25 } else { 1.0 },
                vessel_width_scale: 1.0 + (vessels - 1.0) * 0.6,
                macula: false,
                turn: 0.0,
            },
        ),
        other => (
            0,
            View {
                disc_offset_scale: 2.6,
                border_scale: 2.6,
                vessel_width_scale: 1.0 + (vessels - 1.0) * 0.6,
                macula: false,
                // Each field looks its own way from the disc.
                turn: match other {
                    RetinalField::Nasal => std::f32::consts::PI,
                    RetinalField::Superior => std::f32::consts::FRAC_PI_2,
                    RetinalField::Inferior => -std::f32::consts::FRAC_PI_2,
                    _ => 0.7,
                },
            },
        ),
    }
}

/// Good 60 %, adequate 25 %, poor 12 %, ungradable 3 %.
fn draw_quality(rng: &mut Rng) -> Quality {
    match rng.unit() {
        u if u < 0.60 => Quality::Good,
        u if u < 0.85 => Quality::Adequate,
        u if u < 0.97 => Quality::Poor,
        _ => Quality::Ungradable,
    }
}

/// Washes a photograph out as its quality says (haze, low contrast, dark)
/// and adds its own sensor noise.
fn degrade(rgb: &mut [u8], quality: Quality, rng: &mut Rng) {
    // Every photograph has its own sensor noise, a good one too (two shots
    // of a featureless field are still two images).
    let (contrast, haze, noise) = match quality {
        Quality::Good => (1.0, 0.0, 1.5),
        Quality::Adequate => (0.85, 12.0, 3.0),
        Quality::Poor => (0.5, 45.0, 8.0),
        Quality::Ungradable => (0.15, 25.0, 12.0),
    };
    for value in rgb.iter_mut() {
        let v = f64::from(*value) * contrast + haze + rng.normal() * noise;
        *value = v.clamp(0.0, 255.0) as u8;
    }
}

/// `images/INF001/2026-02-20_OD_temporal.png` for one photograph.
fn photo_name(infant: &str, date: Date, eye: Eye, field: RetinalField) -> String {
    format!(
        "images/{infant}/{date}_{}_{}.png",
        eye.name(),
        field.name().replace(' ', "-")
    )
}

/// Writes the screening demo into `root`; `options.count` is the number of infants.
pub(super) fn write_rop_exams_demo(
    root: &Path,
    options: &DemoOptions,
    mut progress: impl FnMut(usize, usize),
) -> Result<DemoSummary, StoreError> {
    check_demo_folder(root, options.force)?;
    let mut project = Project::create(root, &Schema::rop_exam())?;
    let mut rng = Rng::new(options.seed ^ 0x0E7E_5CAD);
    let infants: Vec<DrawnInfant> = (0..options.count)
        .map(|k| draw_infant(&mut rng, k))
        .collect();
    let total: usize = infants.iter().map(|i| i.exams.len() * 2).sum();
    let mut exams_csv = csv::line(&crate::store::exams::EXAM_COLUMNS);
    let mut truth_csv = csv::line(&TRUTH_COLUMNS);
    let mut done = 0;
    for infant in &infants {
        for (date, eyes) in &infant.exams {
            for (eye, truth) in [Eye::Right, Eye::Left].into_iter().zip(eyes) {
                let seed = rng.next_u64();
                for (field, quality) in eye_fields(&mut rng) {
                    let name = photo_name(&infant.name, *date, eye, field);
                    write_photo(&root.join(&name), field, truth, quality, options.size, seed)?;
                    exams_csv.push_str(&csv::line(&[
                        infant.name.clone(),
                        date.to_string(),
                        eye.name().into(),
                        field.name().into(),
                        name,
                        quality.name().into(),
                        crate::rop::exam::GestationalAge {
                            days: infant.ga_days,
                        }
                        .text(),
                        infant.birth_weight_g.to_string(),
                        infant.birth_date.to_string(),
                        infant.sex.into(),
                        "RetCam 3".into(),
                    ]));
                }
                truth_csv.push_str(&truth_line(&infant.name, *date, eye, truth));
                done += 1;
                progress(done, total);
            }
        }
    }
    let write = |name: &str, text: &str| {
        let path = root.join(name);
        std::fs::write(&path, text).map_err(|source| StoreError::Io { path, source })
    };
    write("exams.csv", &exams_csv)?;
    write("ground_truth_eyes.csv", &truth_csv)?;
    let cohort = ExamsCsv::read(&root.join("exams.csv"))?;
    project.import_exams(&cohort)?;
    let names = infants.iter().map(|i| i.name.clone()).collect();
    let tested = crate::store::exams::draw_test_infants(names, options.test_fraction, &mut rng);
    project.hold_out_infants(&tested)?;
    let graded = Grading {
        tested: &tested,
        fraction: options.labeled_fraction,
    };
    grade_some_eyes(&mut project, &infants, &graded, &mut rng)?;
    DemoSummary::of(root, &project)
}

/// The posterior pole and temporal field always, then 1–3 of the others.
fn eye_fields(rng: &mut Rng) -> Vec<(RetinalField, Quality)> {
    let mut others = [
        RetinalField::Nasal,
        RetinalField::Superior,
        RetinalField::Inferior,
    ];
    rng.shuffle(&mut others);
    let extra = 1 + rng.below(3);
    [RetinalField::PosteriorPole, RetinalField::Temporal]
        .into_iter()
        .chain(others.into_iter().take(extra))
        .map(|field| (field, draw_quality(rng)))
        .collect()
}

fn write_photo(
    path: &Path,
    field: RetinalField,
    truth: &EyeTruth,
    quality: Quality,
    size: usize,
    seed: u64,
) -> Result<(), StoreError> {
    let io = |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    let (stage, view) = field_view(field, truth);
    let mut rgb = fundus::generate_view(stage, size, seed, view).rgb;
    // Each field its own noise: two washed-out fields of one eye must not
    // come out byte-identical (an image belongs to one field).
    let field_index = RetinalField::ALL
        .iter()
        .position(|f| *f == field)
        .unwrap_or(0) as u64;
    degrade(
        &mut rgb,
        quality,
        &mut Rng::new(seed ^ 0x9A17 ^ (field_index << 32)),
    );
    image::save_buffer(
        path,
        &rgb,
        size as u32,
        size as u32,
        image::ExtendedColorType::Rgb8,
    )
    .map_err(|e| io(std::io::Error::other(e)))
}

/// The columns of `ground_truth_eyes.csv`.
pub const TRUTH_COLUMNS: [&str; 10] = [
    "infant",
    "exam_date",
    "eye",
    "zone",
    "stage",
    "extent",
    "plus",
    "type1",
    "type2",
    "referral_warranted",
];

fn truth_line(infant: &str, date: Date, eye: Eye, truth: &EyeTruth) -> String {
    let grade = truth.grade(eye);
    let text = |field: &str| grade.get(field).unwrap_or_default();
    csv::line(&[
        infant.to_string(),
        date.to_string(),
        eye.name().into(),
        text("zone"),
        text("stage"),
        text("extent"),
        text("plus"),
        flag_text(grade.type1()).into(),
        flag_text(grade.type2()).into(),
        flag_text(grade.referral_warranted()).into(),
    ])
}

/// Which eyes the demo's graders grade.
struct Grading<'a> {
    /// Infants of the test pool: every eye graded and adjudicated.
    tested: &'a [String],
    /// Of the other eyes, the fraction graded (the demo's labeled fraction).
    fraction: f64,
}

/// Outside the test pool, `fraction` of the eyes graded: 13 in 15 of them
/// by both graders, the rest by one (at the default 0.75: about two eyes
/// in three by both, one in ten by one); each grader reads the truth with
/// their own slips. Every test eye is graded by both, and where they
/// differ a reading panel adjudicates to the truth: the test pool's
/// reference standard.
fn grade_some_eyes(
    project: &mut Project,
    infants: &[DrawnInfant],
    grading: &Grading,
    rng: &mut Rng,
) -> Result<(), StoreError> {
    let both = grading.fraction * 13.0 / 15.0;
    for infant in infants {
        let in_test = grading.tested.contains(&infant.name);
        for (date, eyes) in &infant.exams {
            for (eye, truth) in [Eye::Right, Eye::Left].into_iter().zip(eyes) {
                let draw = if in_test { 0.0 } else { rng.unit() };
                let graders: &[(&str, f64)] = if draw < both {
                    &GRADERS
                } else if draw < grading.fraction {
                    &GRADERS[rng.below(2)..][..1]
                } else {
                    &[]
                };
                let eye_ref = EyeRef {
                    infant: infant.name.clone(),
                    exam_date: *date,
                    eye,
                };
                let mut readings = Vec::new();
                for (grader, slip) in graders {
                    let read = truth.as_read(rng, *slip).grade(eye);
                    project.grade_eye(&eye_ref, grader, &read)?;
                    readings.push(read);
                }
                if in_test && readings.windows(2).any(|pair| pair[0] != pair[1]) {
                    project.adjudicate_eye(&eye_ref, &truth.grade(eye))?;
                }
            }
        }
    }
    Ok(())
}
