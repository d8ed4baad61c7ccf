//! Layers shared by the architectures.

use burn::nn::{GroupNorm, GroupNormConfig};
use burn::tensor::{Device, Distribution, Tensor};

/// Group normalisation with the largest group count up to 8 that divides the channels.
pub fn norm(channels: usize, device: &Device) -> GroupNorm {
    let groups = (1..=8)
        .rev()
        .find(|g| channels.is_multiple_of(*g))
        .unwrap_or(1);
    GroupNormConfig::new(groups, channels).init(device)
}

/// An inverted-dropout mask of `shape` at `rate`: 0 where a value drops,
/// `1/(1 − rate)` where it is kept (what Burn's `Dropout` multiplies by),
/// drawn apart so that a caller can apply one mask more than once.
pub fn dropout_mask(shape: [usize; 2], rate: f64, device: &Device) -> Tensor<2> {
    let keep = 1.0 - rate;
    Tensor::<2>::random(shape, Distribution::Bernoulli(keep), device).div_scalar(keep)
}
