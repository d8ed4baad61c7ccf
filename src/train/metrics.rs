//! Classification metrics on the test pool: accuracy, one-vs-rest AUC per
//! class and their mean, sensitivity and specificity per class, macro F1,
//! quadratic-weighted kappa, and the confusion matrix.

use serde::{Deserialize, Serialize};

use crate::store::agreement::quadratic_weighted_kappa;

/// Metrics of one model on one labeled set.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub accuracy: f64,
    /// One-vs-rest AUC per class (`None` when the set lacks positives or negatives).
    pub auc_per_class: Vec<Option<f64>>,
    /// Mean of the defined per-class AUCs.
    pub auc: Option<f64>,
    pub sensitivity: Vec<Option<f64>>,
    pub specificity: Vec<Option<f64>>,
    /// Macro-averaged F1.
    pub f1: f64,
    /// Quadratic-weighted Cohen's kappa between truth and prediction.
    pub kappa: Option<f64>,
    /// `confusion[truth][predicted]`.
    pub confusion: Vec<Vec<usize>>,
    /// ROC curve per class: (false positive rate, true positive rate) points.
    pub roc: Vec<Vec<(f64, f64)>>,
    /// A segmentation run's Dice (its classification fields stay empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dice: Option<Dice>,
}

/// BraTS Dice of a segmentation on a set of cases: per region — whole
/// tumour (labels 1, 2, 4), tumour core (1, 4), enhancing tumour (4) —
/// computed per case and averaged over the cases; `mean` averages the three.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Dice {
    pub wt: f64,
    pub tc: f64,
    pub et: f64,
    pub mean: f64,
}

/// The label values of BraTS's whole tumour, tumour core and enhancing
/// tumour, in [`Dice`]'s order.
pub const BRATS_REGIONS: [(&str, &[u8]); 3] = [("wt", &[1, 2, 4]), ("tc", &[1, 4]), ("et", &[4])];

/// Dice of one region in one case: `2|P ∩ T| / (|P| + |T|)` over the voxels
/// whose label is in `region`; 1 when both are empty.
pub fn region_dice(predicted: &[u8], truth: &[u8], region: &[u8]) -> f64 {
    let (mut both, mut p, mut t) = (0usize, 0usize, 0usize);
    for (&a, &b) in predicted.iter().zip(truth) {
        let (in_p, in_t) = (region.contains(&a), region.contains(&b));
        both += usize::from(in_p && in_t);
        p += usize::from(in_p);
        t += usize::from(in_t);
    }
    if p + t == 0 {
        1.0
    } else {
        2.0 * both as f64 / (p + t) as f64
    }
}

/// One case's Dice per BraTS region (label values on the same grid).
pub fn case_dice(predicted: &[u8], truth: &[u8]) -> [f64; 3] {
    BRATS_REGIONS.map(|(_, region)| region_dice(predicted, truth, region))
}

impl Dice {
    /// The mean over cases of each region's Dice (zeros for no case).
    pub fn over_cases(cases: &[[f64; 3]]) -> Self {
        if cases.is_empty() {
            return Self::default();
        }
        let n = cases.len() as f64;
        let [wt, tc, et] = [0, 1, 2].map(|r| cases.iter().map(|c| c[r]).sum::<f64>() / n);
        Self {
            wt,
            tc,
            et,
            mean: (wt + tc + et) / 3.0,
        }
    }

    /// Metrics holding only this Dice.
    pub fn into_metrics(self) -> Metrics {
        Metrics {
            dice: Some(self),
            ..Metrics::default()
        }
    }
}

/// Computes every metric from class probabilities (`probabilities[i][c]`) and true classes.
pub fn evaluate(probabilities: &[Vec<f32>], truth: &[usize], classes: usize) -> Metrics {
    let n = truth.len();
    if n == 0 || classes == 0 {
        return Metrics::default();
    }
    let predicted: Vec<usize> = probabilities
        .iter()
        .map(|p| {
            p.iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map_or(0, |(i, _)| i)
        })
        .collect();
    let mut confusion = vec![vec![0usize; classes]; classes];
    for (&t, &p) in truth.iter().zip(&predicted) {
        if t < classes && p < classes {
            confusion[t][p] += 1;
        }
    }
    let correct: usize = (0..classes).map(|c| confusion[c][c]).sum();
    let mut sensitivity = Vec::with_capacity(classes);
    let mut specificity = Vec::with_capacity(classes);
    let mut f1 = 0.0;
    let mut f1_classes = 0usize;
    for c in 0..classes {
        let tp = confusion[c][c] as f64;
        let fn_ = confusion[c].iter().sum::<usize>() as f64 - tp;
        let fp = (0..classes).map(|t| confusion[t][c]).sum::<usize>() as f64 - tp;
        let tn = n as f64 - tp - fn_ - fp;
        sensitivity.push((tp + fn_ > 0.0).then(|| tp / (tp + fn_)));
        specificity.push((tn + fp > 0.0).then(|| tn / (tn + fp)));
        // Macro F1 over the classes that occur in truth or prediction (as
        // scikit-learn does): a schema's unused classes must not count as 0.
        let denominator = 2.0 * tp + fp + fn_;
        if denominator > 0.0 {
            f1 += 2.0 * tp / denominator;
            f1_classes += 1;
        }
    }
    let mut auc_per_class = Vec::with_capacity(classes);
    let mut roc = Vec::with_capacity(classes);
    for c in 0..classes {
        let scores: Vec<(f32, bool)> = probabilities
            .iter()
            .zip(truth)
            .map(|(p, &t)| (p.get(c).copied().unwrap_or(0.0), t == c))
            .collect();
        auc_per_class.push(auc(&scores));
        roc.push(roc_curve(&scores));
    }
    let defined: Vec<f64> = auc_per_class.iter().flatten().copied().collect();
    let pairs: Vec<(usize, usize)> = truth
        .iter()
        .copied()
        .zip(predicted.iter().copied())
        .collect();
    Metrics {
        dice: None,
        accuracy: correct as f64 / n as f64,
        auc: (!defined.is_empty()).then(|| defined.iter().sum::<f64>() / defined.len() as f64),
        auc_per_class,
        sensitivity,
        specificity,
        f1: f1 / f1_classes.max(1) as f64,
        kappa: quadratic_weighted_kappa(&pairs, classes),
        confusion,
        roc,
    }
}

/// Area under the ROC curve by the Mann–Whitney statistic (ties count half).
pub fn auc(scores: &[(f32, bool)]) -> Option<f64> {
    let positives: Vec<f32> = scores.iter().filter(|s| s.1).map(|s| s.0).collect();
    let negatives: Vec<f32> = scores.iter().filter(|s| !s.1).map(|s| s.0).collect();
    if positives.is_empty() || negatives.is_empty() {
        return None;
    }
    let mut wins = 0.0;
    for p in &positives {
        for q in &negatives {
            wins += if p > q {
                1.0
            } else if p == q {
                0.5
            } else {
                0.0
            };
        }
    }
    Some(wins / (positives.len() * negatives.len()) as f64)
}

/// The highest sensitivity among the thresholds whose specificity is at
/// least `specificity` (a screening operating point: "sensitivity at 90 %
/// specificity"). A case is called positive when its score is at or above
/// the threshold; tied scores are called together. `None` without
/// positives or negatives.
pub fn sensitivity_at_specificity(scores: &[(f64, bool)], specificity: f64) -> Option<f64> {
    let positives = scores.iter().filter(|s| s.1).count();
    let negatives = scores.len() - positives;
    if positives == 0 || negatives == 0 {
        return None;
    }
    let mut thresholds: Vec<f64> = scores.iter().map(|s| s.0).collect();
    thresholds.sort_by(|a, b| b.total_cmp(a));
    thresholds.dedup();
    let mut best = 0.0;
    for threshold in thresholds {
        let called = |positive: bool| {
            scores
                .iter()
                .filter(|s| s.1 == positive && s.0 >= threshold)
                .count()
        };
        let true_negative_rate = 1.0 - called(false) as f64 / negatives as f64;
        if true_negative_rate + 1e-12 >= specificity {
            best = f64::max(best, called(true) as f64 / positives as f64);
        }
    }
    Some(best)
}

/// ROC points from the highest threshold down.
fn roc_curve(scores: &[(f32, bool)]) -> Vec<(f64, f64)> {
    let positives = scores.iter().filter(|s| s.1).count().max(1) as f64;
    let negatives = scores.iter().filter(|s| !s.1).count().max(1) as f64;
    let mut sorted = scores.to_vec();
    sorted.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut points = vec![(0.0, 0.0)];
    let (mut tp, mut fp) = (0.0, 0.0);
    for (i, (score, positive)) in sorted.iter().enumerate() {
        if *positive {
            tp += 1.0
        } else {
            fp += 1.0
        }
        if sorted.get(i + 1).is_none_or(|next| next.0 != *score) {
            points.push((fp / negatives, tp / positives));
        }
    }
    points
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brats_dice_by_hand() {
        // Truth: core 1, rim 4, oedema 2; prediction misses the core (→ 4)
        // and calls one background voxel oedema.
        let truth = [0u8, 1, 4, 4, 2, 2, 0, 0];
        let predicted = [0u8, 4, 4, 4, 2, 2, 2, 0];
        let [wt, tc, et] = case_dice(&predicted, &truth);
        assert!((wt - 2.0 * 5.0 / 11.0).abs() < 1e-12, "{wt}"); // |P|=6 |T|=5 ∩=5
        assert!((tc - 1.0).abs() < 1e-12, "{tc}"); // {1,4} the same 3 voxels
        assert!((et - 2.0 * 2.0 / 5.0).abs() < 1e-12, "{et}"); // |P|=3 |T|=2 ∩=2
        // Empty truth and empty prediction: 1; a false alarm on empty truth: 0.
        assert_eq!(region_dice(&[0, 0], &[0, 0], &[4]), 1.0);
        assert_eq!(region_dice(&[4, 0], &[0, 0], &[4]), 0.0);
        // Averaged per case, then over regions.
        let dice = Dice::over_cases(&[[1.0, 0.5, 0.0], [0.5, 0.5, 1.0]]);
        assert_eq!((dice.wt, dice.tc, dice.et), (0.75, 0.5, 0.5));
        assert!((dice.mean - 1.75 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn perfect_and_hand_computed_metrics() {
        let probabilities = vec![
            vec![0.9, 0.1],
            vec![0.2, 0.8],
            vec![0.6, 0.4],
            vec![0.3, 0.7],
        ];
        let truth = vec![0, 1, 1, 1];
        let m = evaluate(&probabilities, &truth, 2);
        assert_eq!(m.confusion, vec![vec![1, 0], vec![1, 2]]);
        assert_eq!(m.accuracy, 0.75);
        assert_eq!(m.sensitivity[1], Some(2.0 / 3.0));
        assert_eq!(m.specificity[1], Some(1.0));
        // Class 1 scores: positives 0.8, 0.4, 0.7 vs negative 0.1: every positive wins → 1.
        assert_eq!(m.auc_per_class[1], Some(1.0));
        // F1: class 0 = 2·1/(2+1+0) = 2/3; class 1 = 2·2/(4+0+1) = 0.8.
        assert!((m.f1 - (2.0 / 3.0 + 0.8) / 2.0).abs() < 1e-12);
        assert_eq!(m.roc[1].last(), Some(&(1.0, 1.0)));
    }

    #[test]
    fn mean_auc_and_quadratic_kappa_on_a_hand_computed_case() {
        let probabilities = vec![
            vec![0.7, 0.2, 0.1],
            vec![0.4, 0.5, 0.1],
            vec![0.2, 0.6, 0.2],
            vec![0.5, 0.3, 0.2],
            vec![0.1, 0.2, 0.7],
            vec![0.1, 0.6, 0.3],
        ];
        let truth = vec![0, 0, 1, 1, 2, 2];
        let m = evaluate(&probabilities, &truth, 3);
        // Class 0: positives 0.7, 0.4 against 0.2, 0.5, 0.1, 0.1 win 7 of 8.
        // Class 1: positives 0.6, 0.3 against 0.2, 0.5, 0.2, 0.6: 3 + ½ + 2 of 8.
        // Class 2: every positive wins.
        assert_eq!(m.auc_per_class, vec![Some(0.875), Some(0.6875), Some(1.0)]);
        assert!((m.auc.unwrap() - (0.875 + 0.6875 + 1.0) / 3.0).abs() < 1e-12);
        // Pairs (truth, predicted): (0,0) (0,1) (1,1) (1,0) (2,2) (2,1); weights
        // (i−j)²/4. Observed Σ w·O = 3·¼; expected E = row·col/6 with rows
        // (2, 2, 2) and columns (2, 3, 1): Σ w·E = 1.75; κ = 1 − 0.75/1.75 = 4/7.
        assert!(
            (m.kappa.unwrap() - 4.0 / 7.0).abs() < 1e-12,
            "{:?}",
            m.kappa
        );
        assert_eq!(m.accuracy, 0.5);
    }

    #[test]
    fn unused_classes_do_not_lower_macro_f1() {
        // A 4-class schema whose data only use classes 0 and 1, all right.
        let probabilities = vec![vec![0.7, 0.1, 0.1, 0.1], vec![0.1, 0.7, 0.1, 0.1]];
        let m = evaluate(&probabilities, &[0, 1], 4);
        assert_eq!(m.f1, 1.0);
        assert_eq!(m.sensitivity[3], None);
    }

    #[test]
    fn auc_counts_ties_half_and_needs_both_classes() {
        assert_eq!(auc(&[(0.5, true), (0.5, false)]), Some(0.5));
        assert_eq!(auc(&[(0.5, true)]), None);
    }

    #[test]
    fn sensitivity_at_a_specificity_by_hand() {
        // Ten negatives at 0.0–0.9, four positives at 0.95, 0.85, 0.5, 0.2.
        let mut scores: Vec<(f64, bool)> = (0..10).map(|k| (k as f64 / 10.0, false)).collect();
        scores.extend([(0.95, true), (0.85, true), (0.5, true), (0.2, true)]);
        // 90 % specificity lets one negative (0.9) through: the threshold
        // 0.85 calls 0.9, 0.95 and 0.85 — two positives of four.
        assert_eq!(sensitivity_at_specificity(&scores, 0.9), Some(0.5));
        // 100 %: only 0.95 is above every negative.
        assert_eq!(sensitivity_at_specificity(&scores, 1.0), Some(0.25));
        // 50 %: threshold 0.5 calls five negatives (0.5–0.9): three positives.
        assert_eq!(sensitivity_at_specificity(&scores, 0.5), Some(0.75));
        assert_eq!(sensitivity_at_specificity(&[(0.3, true)], 0.9), None);
        // A tie between a positive and a negative at the top is called together.
        let tied = [(0.9, true), (0.9, false), (0.1, false), (0.2, false)];
        assert_eq!(sensitivity_at_specificity(&tied, 0.9), Some(0.0));
    }
}
