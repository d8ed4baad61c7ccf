//! Learned CT slice selection (METHODS.md §4, DRLIS). The policy scores
//! every slice of a series (`models::slice_policy`); k slices are drawn
//! without replacement from the softmax of the scores (Gumbel top-k: the
//! Plackett–Luce draw), and REINFORCE with a baseline moves the scores:
//!
//! - reward r = p(true class | picked slices) − p(true class | k random
//!   slices), both by the frozen image classifier run the policy serves;
//! - baseline b: a running mean of r (decay [`BASELINE_DECAY`]);
//! - loss `−mean((r − b)·log π(picks)) − β·mean(H(softmax(scores)))`,
//!   `log π` the Plackett–Luce log-probability of the draw in its order,
//!   β the entropy weight (keeps the policy exploring).
//!
//! Only the scorer learns; the classifier's parameters carry no gradient.
//! Evaluation is the classifier on the greedy top-k: its accuracy on the
//! policy's slices.

use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::activation::{log_softmax, softmax};
use burn::tensor::{Int, Tensor, TensorData};

use crate::rng::Rng;
use crate::train::config::{SERIES_INPUT, SLICES_INPUT};
use crate::train::events::Scalars;
use crate::train::models::Classifier;
use crate::train::models::slice_policy::SlicePolicy;
use crate::train::optimisation;
use crate::train::spec::{Method, MethodSpec, Setting, SettingKind, Task, TeacherUse};
use crate::train::step::{
    Batch, Declaration, Models, StepContext, Stepper, TrainingMethod, scalar,
};

/// The series a step reports.
pub mod series {
    pub const REWARD: &str = "policy/reward";
    pub const BASELINE: &str = "policy/baseline";
    pub const ENTROPY: &str = "policy/entropy";
    pub const LOSS: &str = "loss/total";
    /// The classifier's accuracy on the slices drawn this step.
    pub const ACCURACY: &str = "policy/batch_accuracy";
}

/// Decay of the reward baseline's running mean.
pub const BASELINE_DECAY: f64 = 0.9;

/// Weight β of the policy's entropy bonus in REINFORCE (keeps it exploring).
pub const ENTROPY_WEIGHT: Setting = Setting {
    name: "entropy_weight",
    section: "slice-policy",
    flag: "entropy-weight",
    title: "Entropy bonus β",
    help: "Weight of the policy's entropy bonus in REINFORCE (keeps it exploring)",
    group: "Slice policy",
    kind: SettingKind::Number {
        default: 0.01,
        range: 0.0..=10.0,
        speed: 0.001,
    },
    legacy: "/slices/entropy_weight",
};

pub static SPEC: MethodSpec = MethodSpec {
    name: "slice-policy",
    title: "CT slice policy (REINFORCE)",
    task: Task::Classify,
    keeps_teacher: false,
    uses_unlabeled: false,
    series: &[
        series::REWARD,
        series::BASELINE,
        series::ENTROPY,
        series::LOSS,
        series::ACCURACY,
    ],
    modalities: &[SERIES_INPUT],
    teacher_roles: &[SLICES_INPUT],
    teacher_use: TeacherUse::Classifier,
    settings: &[ENTROPY_WEIGHT, optimisation::WEIGHT_DECAY],
};

pub const METHOD: Method = Method::of(&SPEC);

pub const DECLARATION: Declaration = Declaration {
    method: METHOD,
    build: || Stepper::Classify(Box::new(SlicePolicyMethod::default())),
};

/// The method and its state: the baseline and the draws.
#[derive(Default)]
pub struct SlicePolicyMethod {
    baseline: Option<f64>,
    rng: Option<Rng>,
}

/// The Plackett–Luce log-probability of each row's draw `sequences[b]`
/// (slice indices in the order drawn) under the softmax of `scores`:
/// `Σ_j s_{i_j} − log Σ_{m not yet drawn} exp s_m`.
///
/// # Shapes
/// scores `[B, D]` → `[B]`
pub fn plackett_luce_log_prob(scores: Tensor<2>, sequences: &[Vec<usize>]) -> Tensor<1> {
    let [batch, depth] = scores.dims();
    let device = scores.device();
    let k = sequences.first().map_or(0, Vec::len);
    let mut total = Tensor::<1>::zeros([batch], &device);
    let mut removed = vec![vec![false; depth]; batch];
    for j in 0..k {
        let mask: Vec<f32> = removed
            .iter()
            .flat_map(|row| row.iter().map(|&r| if r { -1e9f32 } else { 0.0 }))
            .collect();
        let masked =
            scores.clone() + Tensor::<2>::from_data(TensorData::new(mask, [batch, depth]), &device);
        let chosen: Vec<i64> = sequences.iter().map(|s| s[j] as i64).collect();
        let index = Tensor::<2, Int>::from_data(TensorData::new(chosen, [batch, 1]), &device);
        // log softmax over what is left, at the slice drawn.
        let step = log_softmax(masked, 1).gather(1, index).reshape([batch]);
        total = total + step;
        for (row, s) in removed.iter_mut().zip(sequences) {
            row[s[j]] = true;
        }
    }
    total
}

/// REINFORCE's loss `−mean(advantage · log π)` for draws with their advantages.
pub fn reinforce_loss(
    scores: Tensor<2>,
    sequences: &[Vec<usize>],
    advantages: &[f32],
) -> Tensor<1> {
    let device = scores.device();
    let log_prob = plackett_luce_log_prob(scores, sequences);
    let advantage = Tensor::<1>::from_data(
        TensorData::new(advantages.to_vec(), [advantages.len()]),
        &device,
    );
    (log_prob * advantage).mean().neg()
}

/// A Plackett–Luce draw of `k` of each row's slices (Gumbel top-k), in
/// the order drawn.
fn draw(scores: &[f32], depth: usize, k: usize, rng: &mut Rng) -> Vec<Vec<usize>> {
    scores
        .chunks(depth)
        .map(|row| {
            let keys: Vec<f64> = row
                .iter()
                .map(|&s| {
                    let u = rng.unit().clamp(1e-12, 1.0 - 1e-12);
                    s as f64 - (-u.ln()).ln()
                })
                .collect();
            let mut order: Vec<usize> = (0..depth).collect();
            order.sort_by(|&a, &b| keys[b].total_cmp(&keys[a]));
            order.truncate(k.min(depth));
            order
        })
        .collect()
}

/// The classifier's probability of each row's class on the slices `picks`
/// (sorted, as the classifier reads them), with no gradient; and whether it
/// was its top class.
fn true_class_probability(
    policy: &SlicePolicy,
    series: Tensor<4>,
    picks: &[Vec<usize>],
    labels: &[i64],
) -> (Vec<f32>, Vec<bool>) {
    let sorted: Vec<Vec<usize>> = picks
        .iter()
        .map(|p| {
            let mut p = p.clone();
            p.sort_unstable();
            p
        })
        .collect();
    let (logits, _) = policy
        .classifier
        .forward(SlicePolicy::gather(series, &sorted));
    let classes = logits.dims()[1];
    let p: Vec<f32> = softmax(logits.detach(), 1)
        .into_data()
        .try_to_vec()
        .unwrap_or_default();
    p.chunks(classes.max(1))
        .zip(labels)
        .map(|(row, &label)| {
            let truth = row.get(label as usize).copied().unwrap_or(0.0);
            let top = row.iter().all(|&q| q <= truth);
            (truth, top)
        })
        .unzip()
}

impl TrainingMethod for SlicePolicyMethod {
    fn step(
        &mut self,
        models: Models,
        optimizer: &mut ModuleOptimizer,
        batch: &Batch,
        context: &StepContext,
    ) -> (Models, Scalars) {
        let Classifier::SlicePolicy(policy) = &models.student else {
            // The trainer builds a slice policy for this method; nothing else can step.
            return (models, Scalars::new());
        };
        let rng = self
            .rng
            .get_or_insert_with(|| Rng::new(context.config.seed ^ 0x534c_4943_4553)); // "SLICES"
        let series = batch.labeled.clone().detach();
        let [_, depth, _, _] = series.dims();
        let k = policy.count();
        let scores = policy.scorer.forward(series.clone());
        let values: Vec<f32> = scores.clone().into_data().try_to_vec().unwrap_or_default();
        let drawn = draw(&values, depth, k, rng);
        let random: Vec<Vec<usize>> = drawn
            .iter()
            .map(|_| crate::train::slices::random_with(rng, k, depth))
            .collect();
        let labels: Vec<i64> = batch
            .labels
            .clone()
            .into_data()
            .convert::<i64>()
            .try_to_vec()
            .unwrap_or_default();
        let (picked_p, correct) = true_class_probability(policy, series.clone(), &drawn, &labels);
        let (random_p, _) = true_class_probability(policy, series, &random, &labels);
        let rewards: Vec<f64> = picked_p
            .iter()
            .zip(&random_p)
            .map(|(&a, &b)| (a - b) as f64)
            .collect();
        let mean_reward = rewards.iter().sum::<f64>() / rewards.len().max(1) as f64;
        let baseline = self.baseline.unwrap_or(0.0);
        let advantages: Vec<f32> = rewards.iter().map(|&r| (r - baseline) as f32).collect();
        self.baseline = Some(BASELINE_DECAY * baseline + (1.0 - BASELINE_DECAY) * mean_reward);
        let log_p = log_softmax(scores.clone(), 1);
        let entropy = (log_p.clone().exp() * log_p).sum_dim(1).neg().mean();
        let loss = reinforce_loss(scores, &drawn, &advantages)
            - entropy
                .clone()
                .mul_scalar(context.config.number(&ENTROPY_WEIGHT));
        let values = Scalars::from([
            (series::REWARD.into(), mean_reward),
            (series::BASELINE.into(), baseline),
            (series::ENTROPY.into(), scalar(&entropy)),
            (series::LOSS.into(), scalar(&loss)),
            (
                series::ACCURACY.into(),
                correct.iter().filter(|&&c| c).count() as f64 / correct.len().max(1) as f64,
            ),
        ]);
        let student = models.student;
        let grads = GradientsParams::from_grads(loss.backward(), &student);
        let student = optimizer.step(context.learning_rate, student, grads);
        (
            Models {
                student,
                teacher: models.teacher,
            },
            values,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    #[test]
    fn reinforce_raises_a_rewarded_pick_and_lowers_a_punished_one() {
        let device = Device::flex().autodiff();
        // Three slices scored alike (π = ⅓ each), slice 0 drawn.
        // log π = s₀ − log Σ exp s: ∂/∂s₀ = ⅔, ∂/∂s₁ = ∂/∂s₂ = −⅓;
        // loss = −A·log π, so with A = +1 its gradient is (−⅔, ⅓, ⅓) and a
        // descent step raises slice 0's score; with A = −1 it lowers it.
        for (advantage, expected) in [
            (1.0f32, [-2.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0]),
            (-1.0, [2.0 / 3.0, -1.0 / 3.0, -1.0 / 3.0]),
        ] {
            let scores = Tensor::<2>::zeros([1, 3], &device).require_grad();
            let loss = reinforce_loss(scores.clone(), &[vec![0]], &[advantage]);
            let grads = loss.backward();
            let g: Vec<f32> = scores
                .grad(&grads)
                .unwrap()
                .into_data()
                .try_to_vec()
                .unwrap();
            for (got, want) in g.iter().zip(expected) {
                assert!((got - want).abs() < 1e-5, "A = {advantage}: {g:?}");
            }
        }
    }

    #[test]
    fn the_draw_s_log_probability_is_plackett_luce() {
        let device = Device::flex();
        // Scores ln(1, 2, 3, 4) → weights 1..4 (sum 10). Drawing 3 then 0:
        // (4/10)·(1/6) = 1/15.
        let scores = Tensor::<2>::from_data(
            TensorData::from([[0.0f32, 2f32.ln(), 3f32.ln(), 4f32.ln()]]),
            &device,
        );
        let log_p: Vec<f32> = plackett_luce_log_prob(scores, &[vec![3, 0]])
            .into_data()
            .try_to_vec()
            .unwrap();
        assert!((log_p[0] - (1.0f32 / 15.0).ln()).abs() < 1e-5, "{log_p:?}");
    }

    #[test]
    fn draws_favour_high_scores_and_never_repeat() {
        let mut rng = Rng::new(5);
        let scores = [0.0f32, 0.0, 5.0, 0.0, 5.0, 0.0];
        let mut hits = 0;
        for _ in 0..200 {
            let d = &draw(&scores, 6, 2, &mut rng)[0];
            assert_ne!(d[0], d[1]);
            hits += usize::from(d.contains(&2) && d.contains(&4));
        }
        assert!(hits > 150, "{hits} of 200 draws took both high slices");
    }
}
