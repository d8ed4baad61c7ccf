//! Which inputs of a tabular record a model leans on (METHODS.md §4's
//! feature importance), for any model `f` = the probability of the
//! positive class (the target's last value):
//!
//! - **Shapley values**, exact: the players are the record's columns (a
//!   category's one-hot block and a column's missing flag move with their
//!   column, so a flag is never a player of its own); the value of a
//!   coalition S is the mean of f over a background sample of training
//!   records with the columns in S taken from the case (interventional
//!   Shapley). Every coalition is enumerated — 2ⁿ of them, so at most
//!   [`MAX_EXACT_PLAYERS`] columns — and by construction the values of a
//!   case sum to f(case) − E f(background) (local accuracy).
//! - **Permutation importance**: the fall of the test accuracy when one
//!   column is shuffled across the test cases, mean ± sd over repeats.

use std::ops::Range;

use crate::rng::Rng;

/// Exact enumeration up to this many players (2¹² coalitions).
pub const MAX_EXACT_PLAYERS: usize = 12;

/// A case's explanation.
#[derive(Clone, Debug, PartialEq)]
pub struct Explanation {
    /// E f over the background.
    pub base: f64,
    /// f(case).
    pub prediction: f64,
    /// One value per player, in the players' order.
    pub shapley: Vec<f64>,
}

/// The exact Shapley values of `case` for `f` (a batch of encoded records
/// → one number each) with `players` the column blocks of the encoding.
/// `None` when there are more than [`MAX_EXACT_PLAYERS`] players or no
/// background.
pub fn shapley_exact(
    f: &dyn Fn(&[Vec<f32>]) -> Vec<f64>,
    case: &[f32],
    background: &[Vec<f32>],
    players: &[Range<usize>],
) -> Option<Explanation> {
    let n = players.len();
    if n > MAX_EXACT_PLAYERS || background.is_empty() {
        return None;
    }
    let coalitions = 1usize << n;
    // v(S) for every coalition: f averaged over the background with S's
    // columns from the case, all coalitions in one batch.
    let mut batch = Vec::with_capacity(coalitions * background.len());
    for mask in 0..coalitions {
        for b in background {
            let mut x = b.clone();
            for (p, range) in players.iter().enumerate() {
                if mask & (1 << p) != 0 {
                    x[range.clone()].copy_from_slice(&case[range.clone()]);
                }
            }
            batch.push(x);
        }
    }
    let outputs = f(&batch);
    let value: Vec<f64> = outputs
        .chunks(background.len())
        .map(|c| c.iter().sum::<f64>() / c.len() as f64)
        .collect();
    // |S|!(n − |S| − 1)!/n! by |S|.
    let factorial = |k: usize| (1..=k).map(|v| v as f64).product::<f64>();
    let weight: Vec<f64> = (0..n)
        .map(|s| factorial(s) * factorial(n - s - 1) / factorial(n))
        .collect();
    let shapley = (0..n)
        .map(|p| {
            (0..coalitions)
                .filter(|mask| mask & (1 << p) == 0)
                .map(|mask| {
                    let size = (mask as u32).count_ones() as usize;
                    weight[size] * (value[mask | (1 << p)] - value[mask])
                })
                .sum()
        })
        .collect();
    Some(Explanation {
        base: value[0],
        prediction: value[coalitions - 1],
        shapley,
    })
}

/// Permutation importance of each player: accuracy on (`cases`, `truth`)
/// minus accuracy with that player's columns shuffled across the cases,
/// `repeats` shuffles drawn by `seed`: (mean, sd) per player. `predict`
/// gives a class per case.
pub fn permutation_importance(
    predict: &dyn Fn(&[Vec<f32>]) -> Vec<usize>,
    cases: &[Vec<f32>],
    truth: &[usize],
    players: &[Range<usize>],
    repeats: usize,
    seed: u64,
) -> Vec<(f64, f64)> {
    let accuracy = |x: &[Vec<f32>]| {
        let predicted = predict(x);
        predicted.iter().zip(truth).filter(|(p, t)| p == t).count() as f64
            / truth.len().max(1) as f64
    };
    let reference = accuracy(cases);
    let mut rng = Rng::new(seed);
    players
        .iter()
        .map(|range| {
            let drops: Vec<f64> = (0..repeats.max(1))
                .map(|_| {
                    let mut order: Vec<usize> = (0..cases.len()).collect();
                    rng.shuffle(&mut order);
                    let shuffled: Vec<Vec<f32>> = cases
                        .iter()
                        .zip(&order)
                        .map(|(x, &from)| {
                            let mut x = x.clone();
                            x[range.clone()].copy_from_slice(&cases[from][range.clone()]);
                            x
                        })
                        .collect();
                    reference - accuracy(&shuffled)
                })
                .collect();
            let n = drops.len() as f64;
            let mean = drops.iter().sum::<f64>() / n;
            let sd = if drops.len() > 1 {
                (drops.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
            } else {
                0.0
            };
            (mean, sd)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// f(x) = 2·x₀ − x₁ + 0.5·x₂·x₃ (an interaction between players 2 and 3's blocks).
    fn model(batch: &[Vec<f32>]) -> Vec<f64> {
        batch
            .iter()
            .map(|x| 2.0 * x[0] as f64 - x[1] as f64 + 0.5 * (x[2] * x[3]) as f64)
            .collect()
    }

    #[test]
    fn a_linear_model_gets_weight_times_distance_from_the_background_mean() {
        // Players {0}, {1}, {2, 3}. Background means: x₀ 1, x₁ 2.
        let background = vec![vec![0.0, 1.0, 0.0, 0.0], vec![2.0, 3.0, 0.0, 0.0]];
        let case = [3.0, 0.0, 2.0, 3.0];
        let players = [0..1, 1..2, 2..4];
        let e = shapley_exact(&model, &case, &background, &players).unwrap();
        // φ₀ = 2·(3 − 1) = 4, φ₁ = −1·(0 − 2) = 2, φ₂ = 0.5·(2·3 − 0) = 3.
        for (got, want) in e.shapley.iter().zip([4.0, 2.0, 3.0]) {
            assert!((got - want).abs() < 1e-9, "{:?}", e.shapley);
        }
        // base = mean f(background) = (−1 + 1)/2 = 0; prediction = 6 − 0 + 3 = 9.
        assert!((e.base - 0.0).abs() < 1e-12 && (e.prediction - 9.0).abs() < 1e-12);
    }

    #[test]
    fn values_sum_to_the_prediction_less_the_base_for_an_interacting_model() {
        // Interactions across players: local accuracy still holds.
        let f = |batch: &[Vec<f32>]| -> Vec<f64> {
            batch
                .iter()
                .map(|x| 1.0 / (1.0 + (-(x[0] * x[1] - x[2] + x[3] * x[0]) as f64).exp()))
                .collect()
        };
        let background: Vec<Vec<f32>> = (0..7)
            .map(|i| {
                (0..4)
                    .map(|j| ((i * 3 + j * 5) % 7) as f32 / 3.0 - 1.0)
                    .collect()
            })
            .collect();
        let case = [0.7, -1.2, 0.4, 2.0];
        let players = [0..1, 1..2, 2..3, 3..4];
        let e = shapley_exact(&f, &case, &background, &players).unwrap();
        let sum: f64 = e.shapley.iter().sum();
        assert!(
            (sum - (e.prediction - e.base)).abs() < 1e-9,
            "{sum} vs {}",
            e.prediction - e.base
        );
        assert!((e.prediction - f(&[case.to_vec()])[0]).abs() < 1e-12);
        assert!(shapley_exact(&f, &case, &background, &vec![0..1; 13]).is_none());
    }

    #[test]
    fn shuffling_a_column_the_model_ignores_costs_nothing() {
        // The class is x₀ > 0; x₁ is ignored.
        let predict = |batch: &[Vec<f32>]| -> Vec<usize> {
            batch.iter().map(|x| usize::from(x[0] > 0.0)).collect()
        };
        let cases: Vec<Vec<f32>> = (0..20)
            .map(|i| vec![if i % 2 == 0 { 1.0 } else { -1.0 }, i as f32])
            .collect();
        let truth: Vec<usize> = (0..20).map(|i| usize::from(i % 2 == 0)).collect();
        let importance = permutation_importance(&predict, &cases, &truth, &[0..1, 1..2], 5, 3);
        assert_eq!(importance[1], (0.0, 0.0));
        assert!(importance[0].0 > 0.2, "{importance:?}");
    }
}

/// One column's global importance on the test pool.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ColumnImportance {
    pub name: String,
    /// Fall of test accuracy when the column is shuffled (mean, sd over repeats).
    pub importance_mean: f64,
    pub importance_sd: f64,
    /// Mean |Shapley value| over the test cases.
    pub mean_abs_shap: f64,
}

/// A saved tabular run, ready to be explained: f, the players, the
/// background and the encoded cases by item.
pub struct Explainer {
    model: super::models::Classifier,
    device: burn::tensor::Device,
    pub players: Vec<(String, Range<usize>)>,
    background: Vec<Vec<f32>>,
    /// Slice values before the record in a fusion run's samples (0 for a
    /// run on the record alone): held at the case's own, like its
    /// missing-modality flags, while the record's columns play.
    image_pixels: usize,
    /// Encoded records by item id, with the item's consensus label where known.
    cases: std::collections::BTreeMap<i64, (Vec<f32>, Option<usize>)>,
    test: Vec<i64>,
    positive: usize,
}

/// Background records drawn from the training pools.
pub const BACKGROUND_SIZE: usize = 32;

impl Explainer {
    /// Loads run `run` of the project at `root` (a run on the tabular record).
    pub fn load(
        root: &std::path::Path,
        run: &str,
        device: &burn::tensor::Device,
        rasterize: super::data::Rasterize,
    ) -> Result<Self, super::error::TrainError> {
        use super::config::InputKind;
        use super::error::TrainError;
        let loaded = super::inference::load_run(root, run, device)?;
        let image_pixels = match loaded.config.input_kind() {
            InputKind::Record => 0,
            InputKind::Fusion(_) => {
                loaded.config.image_channels() * loaded.config.input_size.pow(2)
            }
            _ => {
                return Err(TrainError::Data(format!(
                    "run {run} reads {}; explanations are of runs on the tabular record \
                     (alone or with slices)",
                    loaded.config.modalities.join(", ")
                )));
            }
        };
        let project = crate::store::Project::open(root)?;
        let data = super::data::load_for(&project, &loaded.config, rasterize)?;
        let encoder = super::data::RecordEncoder::new(project.schema(), &project.all_records()?);
        // A fusion sample holds the record after the slices.
        let players = encoder
            .blocks()
            .into_iter()
            .map(|(name, range)| (name, range.start + image_pixels..range.end + image_pixels))
            .collect();
        let mut cases = std::collections::BTreeMap::new();
        let width = data.labeled.shape[0];
        for images in [&data.labeled, &data.unlabeled, &data.test] {
            for (k, &id) in images.ids.iter().enumerate() {
                cases.insert(
                    id,
                    (
                        images.pixels[k * width..(k + 1) * width].to_vec(),
                        images.labels[k],
                    ),
                );
            }
        }
        let mut training: Vec<i64> = data
            .labeled
            .ids
            .iter()
            .chain(&data.unlabeled.ids)
            .copied()
            .collect();
        Rng::new(loaded.config.seed).shuffle(&mut training);
        let background = training
            .iter()
            .take(BACKGROUND_SIZE)
            .filter_map(|id| cases.get(id).map(|c| c.0.clone()))
            .collect();
        Ok(Self {
            model: loaded.teacher.unwrap_or(loaded.student),
            device: device.clone(),
            players,
            background,
            image_pixels,
            cases,
            test: data.test.ids.clone(),
            positive: data.classes.len().saturating_sub(1),
        })
    }

    /// Class probabilities of encoded records.
    fn probabilities(&self, batch: &[Vec<f32>]) -> Vec<Vec<f32>> {
        let width = batch.first().map_or(0, Vec::len);
        let images = super::data::Images {
            ids: (0..batch.len() as i64).collect(),
            labels: vec![None; batch.len()],
            pixels: batch.concat(),
            shape: [width, 1, 1],
            guidance: Vec::new(),
            groups: Vec::new(),
        };
        super::inference::predict(&self.model, &images, &self.device)
    }

    /// f: the probability of the positive class (the target's last value).
    fn f(&self, batch: &[Vec<f32>]) -> Vec<f64> {
        self.probabilities(batch)
            .iter()
            .map(|p| p.get(self.positive).copied().unwrap_or(0.0) as f64)
            .collect()
    }

    /// The Shapley explanation of one item (`None`: not a case of this run's data).
    pub fn explain(&self, item_id: i64) -> Option<Explanation> {
        let (case, _) = self.cases.get(&item_id)?;
        self.shapley(case)
    }

    /// The exact Shapley values of an encoded case. For a fusion run the
    /// background records sit beside the case's own slices and flags (what
    /// is not a player stays the case's), and the image branch runs once:
    /// its features are cached and only the record branch and the head run
    /// for the 2ⁿ coalitions.
    fn shapley(&self, case: &[f32]) -> Option<Explanation> {
        let ranges: Vec<Range<usize>> = self.players.iter().map(|p| p.1.clone()).collect();
        let super::models::Classifier::Fusion(fusion) = &self.model else {
            return shapley_exact(&|b| self.f(b), case, &self.background, &ranges);
        };
        use burn::tensor::{Tensor, TensorData};
        let len = case.len();
        let flags = super::models::fusion::FLAGS;
        let background: Vec<Vec<f32>> = self
            .background
            .iter()
            .map(|b| {
                let mut x = b.clone();
                x[..self.image_pixels].copy_from_slice(&case[..self.image_pixels]);
                x[len - flags..].copy_from_slice(&case[len - flags..]);
                x
            })
            .collect();
        let device = self.device.clone().without_autodiff();
        let model = burn::module::Module::valid(fusion);
        let sample = Tensor::<2>::from_data(TensorData::new(case.to_vec(), [1, len]), &device);
        let image_features = model.image_features(sample);
        let positive = self.positive;
        let f = |batch: &[Vec<f32>]| -> Vec<f64> {
            let mut out = Vec::with_capacity(batch.len());
            for chunk in batch.chunks(1024) {
                let n = chunk.len();
                let x = Tensor::<2>::from_data(TensorData::new(chunk.concat(), [n, len]), &device);
                let features = image_features.clone().expand([n, image_features.dims()[1]]);
                let (logits, _) = model.forward_with_image_features(features, x);
                let p: Vec<f32> = burn::tensor::activation::softmax(logits, 1)
                    .into_data()
                    .try_to_vec()
                    .unwrap_or_default();
                let classes = p.len() / n.max(1);
                out.extend(
                    p.chunks(classes.max(1))
                        .map(|row| row.get(positive).copied().unwrap_or(0.0) as f64),
                );
            }
            out
        };
        shapley_exact(&f, case, &background, &ranges)
    }

    /// Each column's permutation importance and mean |Shapley| on the test pool.
    pub fn global(&self, repeats: usize) -> Vec<ColumnImportance> {
        let ranges: Vec<Range<usize>> = self.players.iter().map(|p| p.1.clone()).collect();
        let (cases, truth): (Vec<Vec<f32>>, Vec<usize>) = self
            .test
            .iter()
            .filter_map(|id| self.cases.get(id))
            .filter_map(|(x, label)| label.map(|l| (x.clone(), l)))
            .unzip();
        let predict = |batch: &[Vec<f32>]| -> Vec<usize> {
            self.probabilities(batch)
                .iter()
                .map(|p| {
                    p.iter()
                        .enumerate()
                        .max_by(|a, b| a.1.total_cmp(b.1))
                        .map_or(0, |(i, _)| i)
                })
                .collect()
        };
        let importance = permutation_importance(&predict, &cases, &truth, &ranges, repeats, 1);
        let mut abs_sum = vec![0.0; ranges.len()];
        let mut explained = 0usize;
        for x in &cases {
            if let Some(e) = self.shapley(x) {
                for (sum, v) in abs_sum.iter_mut().zip(&e.shapley) {
                    *sum += v.abs();
                }
                explained += 1;
            }
        }
        self.players
            .iter()
            .zip(importance)
            .zip(abs_sum)
            .map(|(((name, _), (mean, sd)), abs)| ColumnImportance {
                name: name.clone(),
                importance_mean: mean,
                importance_sd: sd,
                mean_abs_shap: abs / explained.max(1) as f64,
            })
            .collect()
    }

    /// The column's value in a case's record as stored (for display).
    pub fn record_value(
        project: &crate::store::Project,
        item_id: i64,
        column: &str,
    ) -> Option<String> {
        project.record(item_id).ok()?.get(column).cloned()
    }
}
