//! The loss terms of METHODS.md §1, on Burn tensors.

use burn::tensor::activation::{log_softmax, softmax};
use burn::tensor::{Int, Tensor};
use serde::{Deserialize, Serialize};

/// The supervised loss on labeled images (METHODS.md §2): `CE + w·focal`
/// with `focal = −(1 − p_y)^γ log p_y`; `w = 0` is plain cross-entropy.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassificationLoss {
    pub focal_weight: f64,
    pub focal_gamma: f64,
    /// Weigh each labeled image by `N / (C · n_c)`, the inverse frequency
    /// of its class in the labeled pool (so rare classes count as much as
    /// common ones); off, every image weighs 1.
    #[serde(default)]
    pub class_weights: bool,
}

impl Default for ClassificationLoss {
    fn default() -> Self {
        Self {
            focal_weight: 0.0,
            focal_gamma: 2.0,
            class_weights: false,
        }
    }
}

/// Cross-entropy of logits `[B, C]` against class indices `[B]`, averaged.
pub fn cross_entropy(logits: Tensor<2>, targets: Tensor<1, Int>) -> Tensor<1> {
    let device = logits.device();
    burn::nn::loss::CrossEntropyLossConfig::new()
        .init(&device)
        .forward(logits, targets)
}

/// Focal loss `mean_b −(1 − p_y)^γ log p_y` of logits `[B, C]` against
/// class indices `[B]` (METHODS.md §2): cross-entropy that weighs down the
/// examples already classified with confidence.
///
/// # Shapes
/// logits `[B, C]`, targets `[B]` → `[1]`
pub fn focal(logits: Tensor<2>, targets: Tensor<1, Int>, gamma: f64) -> Tensor<1> {
    let log_p = log_softmax(logits, 1).gather(1, targets.unsqueeze_dim(1));
    let p = log_p.clone().exp();
    let weight = p.neg().add_scalar(1.0).clamp_min(0.0).powf_scalar(gamma);
    (weight * log_p).neg().mean()
}

/// The supervised part of every image method: `(ce, focal, ce + w·focal)`.
/// The focal term is computed (and reported) even at weight 0. With
/// `sample_weights` (`[B]`, e.g. each image's class weight) both terms are
/// weighted means `Σ w_b ℓ_b / Σ w_b`, as PyTorch's weighted cross-entropy;
/// without, plain means.
///
/// # Shapes
/// logits `[B, C]`, targets `[B]`, sample weights `[B]` → three `[1]`
pub fn classification(
    logits: Tensor<2>,
    targets: Tensor<1, Int>,
    loss: &ClassificationLoss,
    sample_weights: Option<Tensor<1>>,
) -> (Tensor<1>, Tensor<1>, Tensor<1>) {
    let batch = logits.dims()[0];
    let log_p = log_softmax(logits, 1)
        .gather(1, targets.unsqueeze_dim(1))
        .reshape([batch]);
    let p = log_p.clone().exp();
    let nll = log_p.neg();
    let focal = p
        .neg()
        .add_scalar(1.0)
        .clamp_min(0.0)
        .powf_scalar(loss.focal_gamma)
        * nll.clone();
    let mean = |values: Tensor<1>| match &sample_weights {
        Some(w) => (values * w.clone()).sum() / w.clone().sum().clamp_min(1e-12),
        None => values.mean(),
    };
    let ce = mean(nll);
    let focal = mean(focal);
    let total = ce.clone() + focal.clone().mul_scalar(loss.focal_weight);
    (ce, focal, total)
}

/// Inverse-frequency class weights `N / (C · n_c)` of a labeled pool
/// (scikit-learn's "balanced"): a class with half the average count weighs
/// 2. Classes absent from the pool weigh 1 (no image of theirs is drawn).
pub fn class_weights(labels: &[usize], classes: usize) -> Vec<f32> {
    let mut counts = vec![0usize; classes];
    for &label in labels {
        if let Some(count) = counts.get_mut(label) {
            *count += 1;
        }
    }
    let total = labels.len() as f32;
    counts
        .iter()
        .map(|&n| match n {
            0 => 1.0,
            n => total / (classes as f32 * n as f32),
        })
        .collect()
}

/// Prediction consistency: `Σ_b Σ_c (p_s − p_t)² / B` with p = softmax of the logits.
/// The teacher's logits carry no gradient.
///
/// # Shapes
/// logits `[B, C]` each → `[1]`
pub fn consistency(student_logits: Tensor<2>, teacher_logits: Tensor<2>) -> Tensor<1> {
    let batch = student_logits.dims()[0] as f64;
    let difference = softmax(student_logits, 1) - softmax(teacher_logits.detach(), 1);
    difference.powf_scalar(2.0).sum().div_scalar(batch)
}

/// Class-weighted prediction consistency (the SRC-MT reference's):
/// `Σ_b Σ_c w_c (p_s − p_t)² / B`, `w_c` per class (`[C]`). The teacher's
/// logits carry no gradient.
///
/// # Shapes
/// logits `[B, C]` each, class weights `[C]` → `[1]`
pub fn class_weighted_consistency(
    student_logits: Tensor<2>,
    teacher_logits: Tensor<2>,
    class_weights: Tensor<1>,
) -> Tensor<1> {
    let [batch, classes] = student_logits.dims();
    let difference = softmax(student_logits, 1) - softmax(teacher_logits.detach(), 1);
    difference
        .powf_scalar(2.0)
        .mul(class_weights.reshape([1, classes]))
        .sum()
        .div_scalar(batch as f64)
}

/// Row-normalised relation matrix `G̃` of pooled activations: `G = A Aᵀ`, each row divided by its L2 norm.
///
/// # Shapes
/// activations `[B, D]` → `[B, B]`
pub fn relation_matrix(activations: Tensor<2>) -> Tensor<2> {
    let gram = activations.clone().matmul(activations.transpose());
    let norms = gram
        .clone()
        .powf_scalar(2.0)
        .sum_dim(1)
        .sqrt()
        .clamp_min(1e-12);
    gram / norms
}

/// Semantic relation consistency: `Σ (G̃_s − G̃_t)² / B`. The teacher's activations carry no gradient.
///
/// # Shapes
/// activations `[B, D]` each → `[1]`
pub fn relation_consistency(student_features: Tensor<2>, teacher_features: Tensor<2>) -> Tensor<1> {
    let batch = student_features.dims()[0] as f64;
    let difference = relation_matrix(student_features) - relation_matrix(teacher_features.detach());
    difference.powf_scalar(2.0).sum().div_scalar(batch)
}

/// ε of the PKT loss (METHODS.md §3, Passalis & Tefas 2018).
pub const PKT_EPSILON: f64 = 1e-7;

/// Row-stochastic cosine-kernel similarities of a batch's feature vectors:
/// each vector L2-normalised, `K = (X Xᵀ + 1) / 2`, rows divided by their sums.
///
/// # Shapes
/// features `[B, D]` → `[B, B]`
pub fn similarity_distribution(features: Tensor<2>) -> Tensor<2> {
    let norms = features
        .clone()
        .powf_scalar(2.0)
        .sum_dim(1)
        .sqrt()
        .add_scalar(PKT_EPSILON);
    let unit = features / norms;
    let kernel = unit
        .clone()
        .matmul(unit.transpose())
        .add_scalar(1.0)
        .div_scalar(2.0);
    let sums = kernel.clone().sum_dim(1);
    kernel / sums
}

/// Probabilistic knowledge transfer (METHODS.md §3): `mean_ij P_ij
/// log((P_ij + ε) / (Q_ij + ε))` between the teacher's similarity
/// distribution P and the student's Q over the batch. The teacher's
/// features carry no gradient; the two feature sizes may differ.
///
/// # Shapes
/// student `[B, Ds]`, teacher `[B, Dt]` → `[1]`
pub fn pkt(student_features: Tensor<2>, teacher_features: Tensor<2>) -> Tensor<1> {
    let p = similarity_distribution(teacher_features.detach());
    let q = similarity_distribution(student_features);
    let ratio = p.clone().add_scalar(PKT_EPSILON) / q.add_scalar(PKT_EPSILON);
    (p * ratio.log()).mean()
}

/// Hinton's distillation term, for a student learning a teacher's
/// temperature-softened outputs (METHODS.md §4's KDAMM): per row
/// `T² · KL(softmax(z_t/T) ‖ softmax(z_s/T))`, averaged over the rows the
/// teacher saw — `seen` weighs each row (1: the teacher had its modality,
/// 0: it did not; `None`: all rows). The teacher gets no gradient; `T²`
/// keeps the gradient's scale independent of T.
///
/// # Shapes
/// logits `[B, C]`, `seen` `[B]` → `[1]`
pub fn softened_kl(
    student_logits: Tensor<2>,
    teacher_logits: Tensor<2>,
    temperature: f64,
    seen: Option<Tensor<1>>,
) -> Tensor<1> {
    let t = temperature.max(1e-6);
    let batch = student_logits.dims()[0];
    let log_q = log_softmax(student_logits.div_scalar(t), 1);
    let log_p = log_softmax(teacher_logits.detach().div_scalar(t), 1);
    let per_row = (log_p.clone().exp() * (log_p - log_q))
        .sum_dim(1)
        .reshape([batch])
        .mul_scalar(t * t);
    match seen {
        None => per_row.mean(),
        Some(w) => (per_row * w.clone()).sum() / w.sum().add_scalar(1e-12),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    fn scalar(t: Tensor<1>) -> f32 {
        t.into_scalar::<f32>()
    }

    #[test]
    fn consistency_on_hand_computed_values() {
        let device = Device::flex();
        // Logits 0 and ln 3 give p = (0.25, 0.75); identical teacher gives 0.
        let s =
            Tensor::<2>::from_data(TensorData::from([[0.0f32, 3f32.ln()], [0.0, 0.0]]), &device);
        let t = Tensor::<2>::from_data(
            TensorData::from([[0.0f32, 3f32.ln()], [3f32.ln(), 0.0]]),
            &device,
        );
        // Row 2: p_s = (0.5, 0.5), p_t = (0.75, 0.25): 0.0625 + 0.0625 = 0.125; over B = 2.
        assert!((scalar(consistency(s, t)) - 0.0625).abs() < 1e-6);
    }

    #[test]
    fn class_weighted_consistency_by_hand() {
        let device = Device::flex();
        // One row: p_s = (¼, ¾), p_t = (½, ½); squared differences 1/16
        // each. Class weights (1, 3): (1/16 + 3/16) / B = ¼; plain: ⅛.
        let s = Tensor::<2>::from_data(TensorData::new(vec![0.0f32, 3f32.ln()], [1, 2]), &device);
        let t = Tensor::<2>::zeros([1, 2], &device);
        let w = Tensor::<1>::from_data(TensorData::new(vec![1.0f32, 3.0], [2]), &device);
        let weighted = class_weighted_consistency(s.clone(), t.clone(), w);
        assert!((scalar(weighted) - 0.25).abs() < 1e-6);
        assert!((scalar(consistency(s, t)) - 0.125).abs() < 1e-6);
    }

    #[test]
    fn softened_kl_on_hand_computed_values() {
        let device = Device::flex();
        let student =
            Tensor::<2>::from_data(TensorData::from([[0.0f32, 0.0], [0.0, 0.0]]), &device);
        let teacher =
            Tensor::<2>::from_data(TensorData::from([[3f32.ln(), 0.0], [0.0, 0.0]]), &device);
        // Row 1 at T = 1: p = (0.75, 0.25), q = (0.5, 0.5):
        // 0.75 ln 1.5 + 0.25 ln 0.5 = 0.130812; row 2: 0.
        let value = scalar(softened_kl(student.clone(), teacher.clone(), 1.0, None));
        assert!((value - 0.130812 / 2.0).abs() < 1e-5, "{value}");
        // Only row 1 seen by the teacher: its value alone.
        let seen = Tensor::<1>::from_data(TensorData::from([1.0f32, 0.0]), &device);
        let value = scalar(softened_kl(
            student.clone(),
            teacher.clone(),
            1.0,
            Some(seen.clone()),
        ));
        assert!((value - 0.130812).abs() < 1e-5, "{value}");
        // T = 2: p = (√3, 1)/(√3 + 1) = (0.633975, 0.366025): KL 0.036341, × T² = 0.145363.
        let value = scalar(softened_kl(student, teacher, 2.0, Some(seen)));
        assert!((value - 0.145363).abs() < 1e-5, "{value}");
    }

    #[test]
    fn focal_loss_on_hand_computed_values() {
        let device = Device::flex();
        // Logits (0, ln 3): p = (0.25, 0.75). Target 1: (0.25)² · −ln 0.75 = 0.017980;
        // target 0: (0.75)² · −ln 0.25 = 0.779788; mean 0.398884.
        let logits = Tensor::<2>::from_data(
            TensorData::from([[0.0f32, 3f32.ln()], [0.0, 3f32.ln()]]),
            &device,
        );
        let targets = Tensor::<1, Int>::from_data(TensorData::from([1i64, 0]), &device);
        let value = scalar(focal(logits.clone(), targets.clone(), 2.0));
        assert!((value - 0.398884).abs() < 1e-5, "{value}");
        // γ = 0 is cross-entropy: (−ln 0.75 − ln 0.25) / 2 = 0.836988.
        let value = scalar(focal(logits.clone(), targets.clone(), 0.0));
        assert!((value - 0.836988).abs() < 1e-5, "{value}");
        let loss = ClassificationLoss {
            focal_weight: 0.5,
            focal_gamma: 2.0,
            class_weights: false,
        };
        let (ce, f, total) = classification(logits.clone(), targets.clone(), &loss, None);
        let (ce, f, total) = (scalar(ce), scalar(f), scalar(total));
        assert!((ce - 0.836988).abs() < 1e-5, "{ce}");
        assert!((f - 0.398884).abs() < 1e-5, "{f}");
        assert!((total - (ce + 0.5 * f)).abs() < 1e-6);
        // Weights (1, 3): CE (−ln 0.75 + 3 · −ln 0.25) / 4 = 1.111641,
        // focal (0.017980 + 3 · 0.779788) / 4 = 0.589338.
        let weights = Tensor::<1>::from_data(TensorData::from([1.0f32, 3.0]), &device);
        let (ce, f, _) = classification(logits, targets, &loss, Some(weights));
        let (ce, f) = (scalar(ce), scalar(f));
        assert!((ce - 1.111641).abs() < 1e-5, "{ce}");
        assert!((f - 0.589338).abs() < 1e-5, "{f}");
    }

    #[test]
    fn class_weights_are_inverse_frequencies() {
        // 3 of class 0, 1 of class 1, none of class 2: N/(C·n) = 4/9, 4/3, and 1.
        let w = class_weights(&[0, 0, 1, 0], 3);
        let expected = [4.0 / 9.0, 4.0 / 3.0, 1.0];
        for (a, b) in w.iter().zip(expected) {
            assert!((a - b).abs() < 1e-6, "{w:?}");
        }
        // Balanced pools weigh every class 1.
        assert_eq!(class_weights(&[0, 1, 0, 1], 2), [1.0, 1.0]);
    }

    #[test]
    fn pkt_on_hand_computed_values() {
        let device = Device::flex();
        // Student vectors orthogonal: K = [[1, ½], [½, 1]], rows (⅔, ⅓).
        // Teacher rows identical: K all 1, P all ½. L = mean of
        // ½ ln(½ / ⅔) twice and ½ ln(½ / ⅓) twice = ¼ (ln ¾ + ln 1.5) = 0.0294463.
        let student =
            Tensor::<2>::from_data(TensorData::from([[3.0f32, 0.0], [0.0, 0.5]]), &device);
        let teacher = Tensor::<2>::from_data(
            TensorData::from([[1.0f32, 0.0, 2.0], [2.0, 0.0, 4.0]]),
            &device,
        );
        let q: Vec<f32> = similarity_distribution(student.clone())
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        for (x, y) in q.iter().zip([2.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0, 2.0 / 3.0]) {
            assert!((x - y).abs() < 1e-6, "{q:?}");
        }
        let value = scalar(pkt(student.clone(), teacher));
        let expected = 0.25 * ((0.75f64).ln() + (1.5f64).ln());
        assert!(
            (value as f64 - expected).abs() < 1e-6,
            "{value} vs {expected}"
        );
        // The same distributions: no loss.
        assert!(scalar(pkt(student.clone(), student)).abs() < 1e-7);
    }

    #[test]
    fn relation_matrix_rows_are_unit_length() {
        let device = Device::flex();
        let a = Tensor::<2>::from_data(TensorData::from([[1.0f32, 0.0], [1.0, 1.0]]), &device);
        // G = [[1, 1], [1, 2]]; rows / (√2, √5).
        let g: Vec<f32> = relation_matrix(a).into_data().try_to_vec::<f32>().unwrap();
        let expected = [
            1.0 / 2f32.sqrt(),
            1.0 / 2f32.sqrt(),
            1.0 / 5f32.sqrt(),
            2.0 / 5f32.sqrt(),
        ];
        for (x, y) in g.iter().zip(expected) {
            assert!((x - y).abs() < 1e-6, "{g:?}");
        }
        let same = Tensor::<2>::from_data(TensorData::from([[1.0f32, 2.0], [3.0, 4.0]]), &device);
        assert!(scalar(relation_consistency(same.clone(), same)).abs() < 1e-9);
    }

    #[test]
    fn relation_consistency_on_hand_computed_values() {
        let device = Device::flex();
        // Student activations orthogonal: G̃_s = I. Teacher's identical rows:
        // G = [[1, 1], [1, 1]], rows over √2. Σ (G̃_s − G̃_t)² = 2(1 − 1/√2)² + 2·½
        // = 4 − 2√2, over B = 2 (not B² = 4): 2 − √2.
        let student =
            Tensor::<2>::from_data(TensorData::from([[1.0f32, 0.0], [0.0, 1.0]]), &device);
        let teacher =
            Tensor::<2>::from_data(TensorData::from([[1.0f32, 0.0], [1.0, 0.0]]), &device);
        let value = scalar(relation_consistency(student, teacher));
        assert!((value - (2.0 - 2f32.sqrt())).abs() < 1e-6, "{value}");
    }

    #[test]
    fn cross_entropy_of_a_confident_right_answer_is_small() {
        let device = Device::flex();
        let logits =
            Tensor::<2>::from_data(TensorData::from([[10.0f32, 0.0], [0.0, 10.0]]), &device);
        let targets = Tensor::<1, Int>::from_data(TensorData::from([0i64, 1]), &device);
        assert!(scalar(cross_entropy(logits, targets)) < 1e-3);
    }
}
