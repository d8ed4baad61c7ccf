//! Layers shared by the architectures.

use burn::nn::{GroupNorm, GroupNormConfig};
use burn::tensor::Device;

/// Group normalisation with the largest group count up to 8 that divides the channels.
pub fn norm(channels: usize, device: &Device) -> GroupNorm {
    let groups = (1..=8)
        .rev()
        .find(|g| channels.is_multiple_of(*g))
        .unwrap_or(1);
    GroupNormConfig::new(groups, channels).init(device)
}
