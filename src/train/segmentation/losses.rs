//! METHODS.md §5's losses, on flattened voxels: logits `[B, K, P]`, the
//! truth one-hot `[B, K, P]`, decoder features `[B, F, P]`.
//!
//! - `L_seg = CE(w_c = 1 − n_c/N per batch) + Dice`, the Dice loss
//!   `1 − (2 Σ p q + ε)/(Σ q² + Σ p² + ε)` averaged over the classes;
//! - `L_kd = mean KL(softmax(z_t/T) ‖ softmax(z_s/T))` over the voxels and
//!   the classes;
//! - `L_proto = mean (S_s − S_t)²`, `S(x) = cos(f(x), p_c)` for every voxel
//!   and every class `c` its sample holds, `p_c` the mean feature over that
//!   sample's voxels of `c` — each model's own prototypes, per sample.

use burn::tensor::Tensor;
use burn::tensor::activation::{log_softmax, softmax};

/// ε of the Dice loss (keeps an absent class's term defined).
pub const DICE_EPSILON: f64 = 1e-5;

/// `(CE, Dice loss)` of logits against the one-hot truth, CE weighted per
/// class by `1 − n_c/N` over the batch (a weighted mean: Σ w·CE / Σ w).
pub fn segmentation(logits: Tensor<3>, onehot: Tensor<3>) -> (Tensor<1>, Tensor<1>) {
    let [batch, classes, voxels] = logits.dims();
    let n = (batch * voxels) as f64;
    // n_c over the batch → w_c = 1 − n_c/N, per voxel the weight of its class.
    let class_weights = onehot
        .clone()
        .sum_dim(2)
        .sum_dim(0)
        .div_scalar(n)
        .neg()
        .add_scalar(1.0); // [1, K, 1]
    let voxel_weights = onehot.clone().mul(class_weights).sum_dim(1); // [B, 1, P]
    let voxel_ce = log_softmax(logits.clone(), 1)
        .mul(onehot.clone())
        .sum_dim(1)
        .neg(); // [B, 1, P]
    let ce = voxel_ce
        .mul(voxel_weights.clone())
        .sum()
        .div(voxel_weights.sum().clamp_min(1e-12));
    let p = softmax(logits, 1);
    let sum_per_class = |t: Tensor<3>| t.sum_dim(2).sum_dim(0).reshape([classes]);
    let intersection = sum_per_class(p.clone().mul(onehot.clone()));
    let denominator = sum_per_class(onehot.powf_scalar(2.0)) + sum_per_class(p.powf_scalar(2.0));
    let dice = intersection
        .mul_scalar(2.0)
        .add_scalar(DICE_EPSILON)
        .div(denominator.add_scalar(DICE_EPSILON));
    (ce, dice.mean().neg().add_scalar(1.0))
}

/// Pixel-wise distillation: KL from the teacher's softened outputs to the
/// student's at temperature `t`, averaged over voxels **and classes** — the
/// reference's `softmax_kl_loss(...).mean()`, so `kd_weight = 10` weighs
/// what the authors' 10 weighed (a sum over K classes would be K× it).
pub fn pixel_kd(student: Tensor<3>, teacher: Tensor<3>, t: f64) -> Tensor<1> {
    let [batch, classes, voxels] = student.dims();
    let teacher_log = log_softmax(teacher.div_scalar(t), 1);
    let student_log = log_softmax(student.div_scalar(t), 1);
    teacher_log
        .clone()
        .exp()
        .mul(teacher_log - student_log)
        .sum()
        .div_scalar((batch * classes * voxels) as f64)
}

/// Each voxel's cosine similarity to each class prototype of **its own
/// sample**, `[B, P, K]`, and which classes each sample holds (`[B, 1, K]`,
/// 1 or 0). The reference computes prototypes per 3-D crop, never pooled
/// over a batch: pooled over 2-D slices, a slice's voxels would be pulled
/// toward classes drawn only on other slices.
fn similarity_maps(features: Tensor<3>, onehot: Tensor<3>) -> (Tensor<3>, Tensor<3>) {
    let f = features.swap_dims(1, 2); // [B, P, F]
    let counts = onehot.clone().sum_dim(2); // [B, K, 1]
    let prototypes = onehot.matmul(f.clone()).div(counts.clone().clamp_min(1.0)); // [B, K, F]
    // ε inside the root: decoder features come out of a ReLU and can be
    // all zero at a voxel, where √ has an infinite slope (a clamp after it
    // would still pass 0·∞ = NaN back). A zero vector is then 0 to every prototype.
    let unit = |t: Tensor<3>| {
        let norm = t
            .clone()
            .powf_scalar(2.0)
            .sum_dim(2)
            .add_scalar(1e-12)
            .sqrt();
        t.div(norm)
    };
    let similarity = unit(f).matmul(unit(prototypes).swap_dims(1, 2)); // [B, P, K]
    (similarity, counts.greater_elem(0.0).float().swap_dims(1, 2))
}

/// Prototype distillation: the mean squared difference of student and
/// teacher similarity maps over every voxel of every sample and every class
/// that sample holds (a class a slice lacks has no prototype there).
pub fn prototype_kd(student: Tensor<3>, teacher: Tensor<3>, onehot: Tensor<3>) -> Tensor<1> {
    let voxels = onehot.dims()[2] as f64;
    let (s_student, present) = similarity_maps(student, onehot.clone());
    let (s_teacher, _) = similarity_maps(teacher, onehot);
    let squared = (s_student - s_teacher)
        .powf_scalar(2.0)
        .mul(present.clone());
    squared
        .sum()
        .div(present.sum().mul_scalar(voxels).clamp_min(1.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    fn tensor3(values: &[f32], shape: [usize; 3]) -> Tensor<3> {
        Tensor::from_data(TensorData::new(values.to_vec(), shape), &Device::flex())
    }

    fn value(t: Tensor<1>) -> f64 {
        t.into_scalar::<f32>() as f64
    }

    #[test]
    fn segmentation_loss_by_hand() {
        // Two voxels, two classes, flat logits: p = ½ everywhere.
        // n = (1, 1) → w = (½, ½): CE = ln 2. Dice per class
        // (2·½ + ε)/(1 + ½ + ε) = ⅔ → loss ⅓.
        let logits = tensor3(&[0.0, 0.0, 0.0, 0.0], [1, 2, 2]);
        let onehot = tensor3(&[1.0, 0.0, 0.0, 1.0], [1, 2, 2]);
        let (ce, dice) = segmentation(logits, onehot.clone());
        assert!((value(ce) - 2f64.ln()).abs() < 1e-6);
        assert!((value(dice) - 1.0 / 3.0).abs() < 1e-5);
        // Class weights: three voxels of class 0, one of class 1 → w = (¼, ¾);
        // logits make voxel CE ln(1 + e) for class 0 voxels, ln(1 + e⁻¹) for class 1.
        let logits = tensor3(&[0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0], [1, 2, 4]);
        let onehot = tensor3(&[1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0], [1, 2, 4]);
        let (ce, _) = segmentation(logits, onehot);
        let (a, b) = ((1.0 + 1f64.exp()).ln(), (1.0 + (-1f64).exp()).ln());
        let expected = (3.0 * 0.25 * a + 0.75 * b) / (3.0 * 0.25 + 0.75);
        assert!((value(ce) - expected).abs() < 1e-5, "{expected}");
    }

    #[test]
    fn pixel_kd_by_hand() {
        // Teacher (0, ln 3) → (¼, ¾); student flat → (½, ½); T = 1:
        // ¼ ln(½) + ¾ ln(3/2) per voxel.
        let teacher = tensor3(&[0.0, 3f32.ln()], [1, 2, 1]);
        let student = tensor3(&[0.0, 0.0], [1, 2, 1]);
        // Averaged over the two classes as well as the voxel.
        let expected = (0.25 * 0.5f64.ln() + 0.75 * 1.5f64.ln()) / 2.0;
        assert!((value(pixel_kd(student.clone(), teacher.clone(), 1.0)) - expected).abs() < 1e-6);
        // At T = 10 the teacher softens: (e^0, e^{ln3/10}) normalised.
        let soft = 3f64.powf(0.1);
        let (p0, p1) = (1.0 / (1.0 + soft), soft / (1.0 + soft));
        let expected = (p0 * (p0 / 0.5).ln() + p1 * (p1 / 0.5).ln()) / 2.0;
        assert!((value(pixel_kd(student.clone(), teacher, 10.0)) - expected).abs() < 1e-6);
        assert!(value(pixel_kd(student.clone(), student, 10.0)).abs() < 1e-7);
    }

    #[test]
    fn prototype_kd_by_hand() {
        // Two voxels, both class 0 (class 1 absent, so not counted).
        // Student features (1, 0), (1, 0): prototype (1, 0), S = (1, 1).
        // Teacher features (1, 0), (0, 1): prototype (½, ½), S = (1/√2, 1/√2).
        // L = ((1 − 1/√2)² · 2) / (2 voxels · 1 class).
        let onehot = tensor3(&[1.0, 1.0, 0.0, 0.0], [1, 2, 2]);
        let student = tensor3(&[1.0, 1.0, 0.0, 0.0], [1, 2, 2]);
        let teacher = tensor3(&[1.0, 0.0, 0.0, 1.0], [1, 2, 2]);
        let expected = (1.0 - 0.5f64.sqrt()).powi(2);
        let got = value(prototype_kd(student.clone(), teacher, onehot.clone()));
        assert!((got - expected).abs() < 1e-6, "{got} vs {expected}");
        // Scaling a model's features changes nothing (cosine).
        let scaled = tensor3(&[3.0, 3.0, 0.0, 0.0], [1, 2, 2]);
        assert!(value(prototype_kd(student, scaled, onehot)).abs() < 1e-7);
    }

    #[test]
    fn prototypes_are_per_sample_and_classes_count_where_the_sample_holds_them() {
        // Two samples of two voxels, two 2-D features, two classes:
        // sample 0 all class 0, sample 1 all class 1.
        // Student: sample 0 (1,0),(1,0); sample 1 (0,1),(0,1).
        // Teacher: sample 0 (1,0),(0,1); sample 1 (1,0),(1,0).
        // Sample 0, class 0: student prototype (1,0) → S = (1, 1); teacher
        // prototype (½,½) → S = (1/√2, 1/√2). Sample 1, class 1: both maps 1.
        // L = 2(1 − 1/√2)² / (2 (sample, class) pairs · 2 voxels).
        // (Prototypes pooled over the batch, every class on every voxel,
        // would give 0.2715.)
        let onehot = tensor3(&[1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0], [2, 2, 2]);
        let student = tensor3(&[1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0], [2, 2, 2]);
        let teacher = tensor3(&[1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0], [2, 2, 2]);
        let expected = (1.0 - 0.5f64.sqrt()).powi(2) / 2.0;
        let got = value(prototype_kd(student, teacher, onehot));
        assert!((got - expected).abs() < 1e-6, "{got} vs {expected}");
    }
}
