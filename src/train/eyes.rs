//! Runs on a screening project at the level clinicians decide at: the eye.
//!
//! **Labels.** With [`LabelSource::Eyes`] a photograph is not labeled on
//! its own: every gradable photograph of an eye takes the eye's reference
//! stage ([`eye_truth`]: the adjudicated grade, else the stage every grader
//! gave), whichever field it shows — a weak label, since a peripheral ridge shows in the
//! temporal field and rarely on the posterior pole. Ungradable photographs
//! and eyes without a consensus stay unlabeled; photographs in the test
//! pool are scored. The validation split is drawn by infant
//! ([`EyeTable::infant_group`]), so no infant's photographs sit on both
//! sides of it.
//!
//! **Roll-up.** An eye's predicted stage is the most severe of its gradable
//! photographs' predicted stages; its referral-warranted probability comes
//! from each photograph's probability of stage 3 or worse (the part of the
//! e-ROP definition a stage model sees), pooled by the maximum or by a
//! learned attention pooling ([`super::mil`]) fitted on the labeled eyes.
//! Test eyes are scored against their reference stage and referral-warranted
//! flag (zone I and plus included; unknown where the graders' grades imply
//! different flags).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::metrics;
use super::mil::AttentionPooling;
use crate::rop::exam::{Quality, RetinalField};
use crate::rop::grade::EyeGrade;
use crate::store::exams::{EyeConsensus, EyeRef, eye_consensus};
use crate::store::schema::Field;
use crate::store::{ADJUDICATOR, Project, StoreError};

/// Where a classifying run's labels come from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LabelSource {
    /// Each image's own consensus label (every project).
    #[default]
    Images,
    /// The eye's consensus stage, given to its gradable photographs
    /// (screening projects), with eye-level test metrics.
    Eyes,
}

impl LabelSource {
    pub const ALL: [LabelSource; 2] = [LabelSource::Images, LabelSource::Eyes];

    /// The name on the command line and in `config.json`.
    pub fn name(self) -> &'static str {
        match self {
            LabelSource::Images => "images",
            LabelSource::Eyes => "eyes",
        }
    }
}

/// How an eye's photographs' referral probabilities become the eye's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EyePooling {
    /// The highest of the photographs' probabilities.
    #[default]
    Max,
    /// Attention multiple-instance pooling fitted on the labeled eyes.
    Attention,
}

impl EyePooling {
    pub const ALL: [EyePooling; 2] = [EyePooling::Max, EyePooling::Attention];

    /// The name on the command line, in `config.json` and in `--json`.
    pub fn name(self) -> &'static str {
        match self {
            EyePooling::Max => "max",
            EyePooling::Attention => "attention",
        }
    }
}

/// The image model's classes under eye labels: the six stage levels.
pub const STAGE_CLASSES: usize = 6;
/// The first stage level a referral counts (stage 3).
pub const REFERRAL_STAGE_LEVEL: usize = 3;
/// The specificity at which the screening sensitivity is reported.
pub const SCREENING_SPECIFICITY: f64 = 0.9;

/// A labeled eye's reference: its consensus grade's stage level and
/// referral-warranted flag (`None` where the grade cannot tell).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EyeTruth {
    pub stage_level: usize,
    pub referral: Option<bool>,
}

/// A photograph of an eye.
#[derive(Clone, Debug, PartialEq)]
pub struct EyePhoto {
    pub eye: EyeRef,
    pub field: RetinalField,
    /// Not marked ungradable (a photograph without a quality counts).
    pub gradable: bool,
}

/// A project's photographs by eye and its eyes' references.
#[derive(Clone, Debug, Default)]
pub struct EyeTable {
    pub photos: BTreeMap<i64, EyePhoto>,
    pub truth: BTreeMap<EyeRef, EyeTruth>,
    /// Infant id → its index (the validation split's groups).
    infants: BTreeMap<String, u64>,
}

/// An eye's rolled-up prediction.
#[derive(Clone, Debug, PartialEq)]
pub struct EyePrediction {
    /// The most severe predicted stage level over its gradable photographs.
    pub stage_level: usize,
    pub referral_probability: f64,
    /// Gradable photographs the prediction rests on.
    pub photos: usize,
}

/// How the referral probabilities are pooled.
#[derive(Clone, Debug, PartialEq)]
pub enum Pooler {
    Max,
    Attention(AttentionPooling),
}

/// Eye-level test metrics (`--json` under `"eye"`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EyeMetrics {
    /// `max` or `attention`.
    pub pooling: String,
    /// Test eyes scored (with a consensus and a gradable photograph).
    pub eyes: usize,
    /// Test eyes whose consensus is referral-warranted.
    pub referral_eyes: usize,
    /// Predicted stage level = consensus stage level.
    pub accuracy: f64,
    /// AUC of the referral-warranted probability.
    pub referral_auc: Option<f64>,
    /// Sensitivity for referral-warranted ROP at 90 % specificity.
    pub sensitivity_at_90_specificity: Option<f64>,
}

/// Checks that the target field is the six stage levels eye labels map to.
pub fn check_stage_target(target: &Field) -> Result<(), StoreError> {
    if target.values.len() == STAGE_CLASSES && target.name == "stage" {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "eye labels need a target field \"stage\" with the six stage levels (none, 1–5); \
             this project's target is {:?} with {} values",
            target.name,
            target.values.len()
        )))
    }
}

/// The probability a photograph's prediction gives stage 3 or worse.
pub fn referral_score(probabilities: &[f32]) -> f64 {
    probabilities
        .iter()
        .skip(REFERRAL_STAGE_LEVEL)
        .map(|&p| f64::from(p))
        .sum()
}

/// What the attention pooling reads of a photograph: its stage
/// probabilities, the logit of its referral score, and its field (one-hot).
pub fn instance_features(probabilities: &[f32], field: RetinalField) -> Vec<f64> {
    let mut x: Vec<f64> = probabilities.iter().map(|&p| f64::from(p)).collect();
    let r = referral_score(probabilities).clamp(1e-4, 1.0 - 1e-4);
    x.push((r / (1.0 - r)).ln());
    x.extend(
        RetinalField::ALL
            .iter()
            .map(|&f| f64::from(u8::from(f == field))),
    );
    x
}

/// The width of [`instance_features`] for `classes` classes.
pub fn feature_width(classes: usize) -> usize {
    classes + 1 + RetinalField::ALL.len()
}

/// An eye's reference from its graders' newest grades: the adjudicated
/// grade where there is one; otherwise the stage every grader gave (they
/// may differ on other fields) and the referral flag every grader's grade
/// implies. `None` when the graders differ on the stage or an adjudicated
/// or agreed grade calls the eye ungradable.
pub fn eye_truth(grades: &BTreeMap<String, EyeGrade>) -> Option<EyeTruth> {
    if let EyeConsensus::Adjudicated(grade) = eye_consensus(grades) {
        return grade.ungradable.is_none().then(|| EyeTruth {
            stage_level: grade.stage.level(),
            referral: grade.referral_warranted(),
        });
    }
    let mut graders = grades
        .iter()
        .filter(|(annotator, _)| annotator.as_str() != ADJUDICATOR)
        .map(|(_, grade)| grade);
    let first = graders.next()?;
    let mut referral = first.referral_warranted();
    for grade in graders {
        if grade.stage != first.stage || grade.ungradable.is_some() {
            return None;
        }
        if grade.referral_warranted() != referral {
            referral = None;
        }
    }
    first.ungradable.is_none().then(|| EyeTruth {
        stage_level: first.stage.level(),
        referral,
    })
}

fn argmax(p: &[f32]) -> usize {
    (0..p.len())
        .max_by(|&a, &b| p[a].total_cmp(&p[b]))
        .unwrap_or(0)
}

impl EyeTable {
    /// Reads the project's exam photographs and its eyes' consensus grades.
    pub fn load(project: &Project) -> Result<Self, StoreError> {
        let photos: BTreeMap<i64, EyePhoto> = project
            .exam_images()?
            .into_iter()
            .map(|(item, (eye, field, quality))| {
                let gradable = quality != Some(Quality::Ungradable);
                (
                    item,
                    EyePhoto {
                        eye,
                        field,
                        gradable,
                    },
                )
            })
            .collect();
        let mut by_eye: BTreeMap<EyeRef, BTreeMap<String, EyeGrade>> = BTreeMap::new();
        for stored in project.eye_grades()? {
            by_eye
                .entry(stored.eye)
                .or_default()
                .insert(stored.annotator, stored.grade);
        }
        let truth = by_eye
            .iter()
            .filter_map(|(eye, grades)| Some((eye.clone(), eye_truth(grades)?)))
            .collect();
        let mut infants = BTreeMap::new();
        for photo in photos.values() {
            let next = infants.len() as u64;
            infants.entry(photo.eye.infant.clone()).or_insert(next);
        }
        Ok(Self {
            photos,
            truth,
            infants,
        })
    }

    /// A photograph's training label: its eye's consensus stage level,
    /// when the photograph is gradable and the eye has a consensus.
    pub fn label_of(&self, item: i64) -> Option<usize> {
        let photo = self.photos.get(&item).filter(|p| p.gradable)?;
        self.truth.get(&photo.eye).map(|t| t.stage_level)
    }

    /// The infant a photograph belongs to, as a group number (`None`: not
    /// an exam photograph).
    pub fn infant_group(&self, item: i64) -> Option<u64> {
        let photo = self.photos.get(&item)?;
        self.infants.get(&photo.eye.infant).copied()
    }

    /// Each eye's gradable photographs' outputs (item id → probabilities)
    /// as bags of instance features, in eye order.
    fn bags<'a>(
        &self,
        outputs: impl IntoIterator<Item = (i64, &'a [f32])>,
    ) -> BTreeMap<EyeRef, Vec<(&'a [f32], RetinalField)>> {
        let mut bags: BTreeMap<EyeRef, Vec<(&[f32], RetinalField)>> = BTreeMap::new();
        for (item, probabilities) in outputs {
            let Some(photo) = self.photos.get(&item).filter(|p| p.gradable) else {
                continue; // ungradable photographs say nothing of the eye
            };
            bags.entry(photo.eye.clone())
                .or_default()
                .push((probabilities, photo.field));
        }
        bags
    }

    /// Rolls photographs' outputs up to their eyes: the most severe
    /// predicted stage, the pooled referral probability. Ungradable
    /// photographs and photographs of no eye are left out.
    pub fn roll_up<'a>(
        &self,
        outputs: impl IntoIterator<Item = (i64, &'a [f32])>,
        pooler: &Pooler,
    ) -> BTreeMap<EyeRef, EyePrediction> {
        self.bags(outputs)
            .into_iter()
            .map(|(eye, photos)| {
                let stage_level = photos.iter().map(|(p, _)| argmax(p)).max().unwrap_or(0);
                let referral_probability = match pooler {
                    Pooler::Max => photos
                        .iter()
                        .map(|(p, _)| referral_score(p))
                        .fold(0.0, f64::max),
                    Pooler::Attention(pooling) => {
                        let bag: Vec<Vec<f64>> = photos
                            .iter()
                            .map(|(p, field)| instance_features(p, *field))
                            .collect();
                        pooling.probability(&bag)
                    }
                };
                let prediction = EyePrediction {
                    stage_level,
                    referral_probability,
                    photos: photos.len(),
                };
                (eye, prediction)
            })
            .collect()
    }

    /// Fits the attention pooling on the outputs of labeled eyes' photographs
    /// (eyes whose referral flag is known).
    pub fn fit_attention<'a>(
        &self,
        outputs: impl IntoIterator<Item = (i64, &'a [f32])>,
        classes: usize,
    ) -> AttentionPooling {
        let bags: Vec<(Vec<Vec<f64>>, bool)> = self
            .bags(outputs)
            .into_iter()
            .filter_map(|(eye, photos)| {
                let referral = self.truth.get(&eye)?.referral?;
                let bag = photos
                    .iter()
                    .map(|(p, field)| instance_features(p, *field))
                    .collect();
                Some((bag, referral))
            })
            .collect();
        AttentionPooling::fit(feature_width(classes), &bags)
    }

    /// Eye-level metrics of rolled-up predictions against the references
    /// (eyes without a reference are left out).
    pub fn score(
        &self,
        predictions: &BTreeMap<EyeRef, EyePrediction>,
        pooling: EyePooling,
    ) -> EyeMetrics {
        let scored: Vec<(&EyePrediction, &EyeTruth)> = predictions
            .iter()
            .filter_map(|(eye, p)| Some((p, self.truth.get(eye)?)))
            .collect();
        let correct = scored
            .iter()
            .filter(|(p, t)| p.stage_level == t.stage_level)
            .count();
        let referral: Vec<(f64, bool)> = scored
            .iter()
            .filter_map(|(p, t)| Some((p.referral_probability, t.referral?)))
            .collect();
        let ranked: Vec<(f32, bool)> = referral.iter().map(|&(s, r)| (s as f32, r)).collect();
        EyeMetrics {
            pooling: pooling.name().to_string(),
            eyes: scored.len(),
            referral_eyes: referral.iter().filter(|r| r.1).count(),
            accuracy: correct as f64 / scored.len().max(1) as f64,
            referral_auc: metrics::auc(&ranked),
            sensitivity_at_90_specificity: metrics::sensitivity_at_specificity(
                &referral,
                SCREENING_SPECIFICITY,
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rop::dates::Date;
    use crate::rop::exam::Eye;

    fn eye(infant: &str, which: Eye) -> EyeRef {
        EyeRef {
            infant: infant.into(),
            exam_date: Date::parse("2026-07-06").unwrap(),
            eye: which,
        }
    }

    /// Two eyes of one infant: the right eye's temporal field shows stage 3,
    /// its posterior pole nothing, and an ungradable photograph "shows"
    /// stage 5; the left eye is clear.
    fn table() -> EyeTable {
        let photo = |e: EyeRef, field, gradable| EyePhoto {
            eye: e,
            field,
            gradable,
        };
        let right = eye("A", Eye::Right);
        let left = eye("A", Eye::Left);
        EyeTable {
            photos: BTreeMap::from([
                (1, photo(right.clone(), RetinalField::PosteriorPole, true)),
                (2, photo(right.clone(), RetinalField::Temporal, true)),
                (3, photo(right.clone(), RetinalField::Nasal, false)),
                (4, photo(left.clone(), RetinalField::PosteriorPole, true)),
            ]),
            truth: BTreeMap::from([
                (
                    right,
                    EyeTruth {
                        stage_level: 3,
                        referral: Some(true),
                    },
                ),
                (
                    left,
                    EyeTruth {
                        stage_level: 0,
                        referral: Some(false),
                    },
                ),
            ]),
            infants: BTreeMap::from([("A".to_string(), 0)]),
        }
    }

    #[test]
    fn an_eye_s_reference_is_the_stage_its_graders_share() {
        let grade = |text: &[(&str, &str)]| {
            let mut g = EyeGrade::default();
            for (field, value) in text {
                g.set(field, value).unwrap();
            }
            g
        };
        let stage_2_zone_2 = grade(&[("stage", "2"), ("zone", "II"), ("extent", "3")]);
        let stage_2_zone_1 = grade(&[("stage", "2"), ("zone", "I"), ("extent", "3")]);
        let stage_3 = grade(&[("stage", "3"), ("zone", "II"), ("extent", "3")]);
        let graded = |pairs: &[(&str, &EyeGrade)]| -> BTreeMap<String, EyeGrade> {
            pairs
                .iter()
                .map(|(a, g)| (a.to_string(), (*g).clone()))
                .collect()
        };
        // Same stage, zones differ: the stage stands, the referral (zone I
        // makes stage 2 referral-warranted) is unknown.
        let truth = eye_truth(&graded(&[("a", &stage_2_zone_2), ("b", &stage_2_zone_1)]));
        assert_eq!(
            truth,
            Some(EyeTruth {
                stage_level: 2,
                referral: None
            })
        );
        // Stages differ: no reference …
        assert_eq!(
            eye_truth(&graded(&[("a", &stage_2_zone_2), ("b", &stage_3)])),
            None
        );
        // … until adjudicated.
        let settled = graded(&[
            ("a", &stage_2_zone_2),
            ("b", &stage_3),
            (ADJUDICATOR, &stage_3),
        ]);
        assert_eq!(
            eye_truth(&settled),
            Some(EyeTruth {
                stage_level: 3,
                referral: Some(true)
            })
        );
        assert_eq!(
            eye_truth(&graded(&[("a", &stage_2_zone_2)])),
            Some(EyeTruth {
                stage_level: 2,
                referral: Some(false)
            })
        );
        assert_eq!(eye_truth(&BTreeMap::new()), None);
    }

    const CLEAR: [f32; 6] = [0.9, 0.1, 0.0, 0.0, 0.0, 0.0];
    const STAGE_3: [f32; 6] = [0.1, 0.1, 0.1, 0.6, 0.1, 0.0];
    const STAGE_5: [f32; 6] = [0.0, 0.0, 0.0, 0.0, 0.0, 1.0];

    #[test]
    fn an_eye_takes_its_most_severe_gradable_photograph() {
        let table = table();
        let outputs: [(i64, &[f32]); 4] = [(1, &CLEAR), (2, &STAGE_3), (3, &STAGE_5), (4, &CLEAR)];
        let eyes = table.roll_up(outputs, &Pooler::Max);
        let right = &eyes[&eye("A", Eye::Right)];
        // Stage 3 from the temporal field; the ungradable stage 5 ignored.
        assert_eq!(right.stage_level, 3);
        assert_eq!(right.photos, 2);
        // Referral: max of P(stage ≥ 3) = 0.6 + 0.1 + 0.0 (not the ungradable 1.0).
        assert!((right.referral_probability - 0.7).abs() < 1e-6);
        let left = &eyes[&eye("A", Eye::Left)];
        assert_eq!((left.stage_level, left.referral_probability), (0, 0.0));
        let metrics = table.score(&eyes, EyePooling::Max);
        assert_eq!(metrics.eyes, 2);
        assert_eq!(metrics.accuracy, 1.0);
        assert_eq!(metrics.referral_auc, Some(1.0));
        assert_eq!(metrics.sensitivity_at_90_specificity, Some(1.0));
        // With the stage-3 photograph marked ungradable too, the right eye
        // rests on its posterior pole alone and is called clear.
        let mut blind = table.clone();
        blind.photos.get_mut(&2).unwrap().gradable = false;
        let eyes = blind.roll_up(outputs, &Pooler::Max);
        assert_eq!(eyes[&eye("A", Eye::Right)].stage_level, 0);
        assert_eq!(blind.score(&eyes, EyePooling::Max).accuracy, 0.5);
    }

    #[test]
    fn labels_go_to_gradable_photographs_of_eyes_with_a_reference() {
        let table = table();
        assert_eq!(table.label_of(1), Some(3)); // posterior pole: the eye's stage
        assert_eq!(table.label_of(2), Some(3));
        assert_eq!(table.label_of(3), None); // ungradable
        assert_eq!(table.label_of(4), Some(0));
        assert_eq!(table.label_of(99), None); // not an exam photograph
        assert_eq!(table.infant_group(4), Some(0));
    }

    #[test]
    fn attention_pooling_rolls_up_and_fits_on_labeled_eyes() {
        let table = table();
        let outputs: [(i64, &[f32]); 4] = [(1, &CLEAR), (2, &STAGE_3), (3, &STAGE_5), (4, &CLEAR)];
        let pooling = table.fit_attention(outputs, 6);
        assert_eq!(pooling.w.len(), feature_width(6));
        let eyes = table.roll_up(outputs, &Pooler::Attention(pooling));
        // Fitted on these two eyes, it ranks them right.
        let right = eyes[&eye("A", Eye::Right)].referral_probability;
        let left = eyes[&eye("A", Eye::Left)].referral_probability;
        assert!(right > 0.5 && left < 0.5, "right {right}, left {left}");
    }
}
