//! The slice policy of METHODS.md §4 (DRLIS) with the image classifier it
//! serves. A small CNN scores every axial slice of a series on its own;
//! the k best-scored slices, in series order, are the classifier's k input
//! channels. The classifier is a finished image run's, frozen: only the
//! scorer learns (by REINFORCE, `methods::slice_policy`), and the pair's
//! forward — pick greedily, classify — is what evaluation measures: the
//! classifier's accuracy on the policy's slices.

use crate::train::kernels::{conv2d, group_norm_relu};
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig};
use burn::nn::{GroupNorm, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::{Device, Int, Tensor, TensorData};

use super::layers::norm;
use super::resnet::ResNet;

/// Settings of [`SliceScorer`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SliceScorerConfig {
    /// Channels of the first convolution.
    pub width: usize,
}

/// Scores one slice: three strided 3×3 convolutions, pooling, a linear score.
#[derive(Module, Debug)]
pub struct SliceScorer {
    convs: Vec<Conv2d>,
    norms: Vec<GroupNorm>,
    pool: AdaptiveAvgPool2d,
    score: Linear,
}

impl SliceScorer {
    pub fn new(config: &SliceScorerConfig, device: &Device) -> Self {
        let w = config.width.max(1);
        let widths = [(1, w), (w, 2 * w), (2 * w, 2 * w)];
        Self {
            convs: widths
                .iter()
                .map(|&(i, o)| {
                    Conv2dConfig::new([i, o], [3, 3])
                        .with_stride([2, 2])
                        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                        .init(device)
                })
                .collect(),
            norms: widths.iter().map(|&(_, o)| norm(o, device)).collect(),
            pool: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
            score: LinearConfig::new(2 * w, 1).init(device),
        }
    }

    /// # Shapes
    /// series `[B, D, S, S]` → scores `[B, D]`
    pub fn forward(&self, series: Tensor<4>) -> Tensor<2> {
        let [batch, depth, h, w] = series.dims();
        let mut x = series.reshape([batch * depth, 1, h, w]);
        for (conv, n) in self.convs.iter().zip(&self.norms) {
            x = group_norm_relu(n, conv2d(conv, x));
        }
        let [_, channels, _, _] = x.dims();
        let pooled = self.pool.forward(x).reshape([batch * depth, channels]);
        self.score.forward(pooled).reshape([batch, depth])
    }
}

/// The policy and its frozen classifier.
#[derive(Module, Debug)]
pub struct SlicePolicy {
    pub scorer: SliceScorer,
    pub classifier: ResNet,
    /// k.
    count: usize,
}

impl SlicePolicy {
    /// A new scorer beside `classifier` (its parameters frozen).
    pub fn new(scorer: SliceScorer, classifier: ResNet, count: usize) -> Self {
        Self {
            scorer,
            classifier: classifier.no_grad(),
            count,
        }
    }

    /// k.
    pub fn count(&self) -> usize {
        self.count
    }

    pub(crate) fn head(&self) -> &Linear {
        self.classifier.head()
    }

    pub(crate) fn head_mut(&mut self) -> &mut Linear {
        self.classifier.head_mut()
    }

    /// The slices at `picks` (`[B][k]` indices) of each series.
    ///
    /// # Shapes
    /// series `[B, D, S, S]` → `[B, k, S, S]`
    pub fn gather(series: Tensor<4>, picks: &[Vec<usize>]) -> Tensor<4> {
        let [batch, _, h, w] = series.dims();
        let k = picks.first().map_or(0, Vec::len);
        let flat: Vec<i64> = picks.iter().flatten().map(|&i| i as i64).collect();
        let indices =
            Tensor::<2, Int>::from_data(TensorData::new(flat, [batch, k]), &series.device())
                .reshape([batch, k, 1, 1])
                .expand([batch, k, h, w]);
        series.gather(1, indices)
    }

    /// The k best-scored slices of each series, ascending.
    pub fn greedy_picks(&self, series: Tensor<4>) -> Vec<Vec<usize>> {
        let scores = self.scorer.forward(series);
        let [_, depth] = scores.dims();
        let values: Vec<f32> = scores.into_data().try_to_vec().unwrap_or_default();
        values
            .chunks(depth.max(1))
            .map(|row| top_k(row, self.count))
            .collect()
    }

    /// Classifies each series on its greedily picked slices.
    ///
    /// # Shapes
    /// series `[B, D, S, S]` → (logits `[B, classes]`, features `[B, N]`)
    pub fn forward(&self, series: Tensor<4>) -> (Tensor<2>, Tensor<2>) {
        let picks = self.greedy_picks(series.clone());
        self.classifier.forward(Self::gather(series, &picks))
    }
}

/// The indices of the `k` largest values, ascending (ties: the earlier
/// slice); fewer values than `k` repeat the last.
pub fn top_k(values: &[f32], k: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[b].total_cmp(&values[a]).then(a.cmp(&b)));
    let mut picked: Vec<usize> = order.into_iter().take(k).collect();
    picked.sort_unstable();
    while picked.len() < k {
        picked.push(picked.last().copied().unwrap_or(0));
    }
    picked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_picks_the_best_in_series_order() {
        assert_eq!(top_k(&[0.1, 0.9, -1.0, 0.5, 0.9], 3), vec![1, 3, 4]);
        assert_eq!(top_k(&[0.2], 2), vec![0, 0]);
    }

    #[test]
    fn gather_takes_the_picked_slices_of_each_series() {
        let device = Device::flex();
        // Two series of 4 slices of 1×2 pixels, slice z filled with 10·b + z.
        let values: Vec<f32> = (0..2)
            .flat_map(|b| (0..4).flat_map(move |z| [(10 * b + z) as f32; 2]))
            .collect();
        let series = Tensor::<4>::from_data(TensorData::new(values, [2, 4, 1, 2]), &device);
        let picked = SlicePolicy::gather(series, &[vec![0, 2], vec![1, 3]]);
        let out: Vec<f32> = picked.into_data().try_to_vec().unwrap();
        assert_eq!(out, vec![0.0, 0.0, 2.0, 2.0, 11.0, 11.0, 13.0, 13.0]);
    }
}
