//! DenseNet (the SRC-MT reference uses DenseNet-121: growth 32, blocks 6,
//! 12, 24, 16, bottleneck 4, compression 0.5), with group normalisation
//! for the same reason as the ResNet, and dropout before the classifier.

use crate::train::kernels::{conv2d, group_norm_relu};
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{
    AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig, AvgPool2d, AvgPool2dConfig, MaxPool2d,
    MaxPool2dConfig,
};
use burn::nn::{Dropout, DropoutConfig, GroupNorm, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::{Device, Tensor};

use super::layers::norm;

/// Settings of [`DenseNet`]; [`DenseNetConfig::densenet121`] is the reference.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DenseNetConfig {
    pub classes: usize,
    pub growth: usize,
    pub blocks: Vec<usize>,
    pub init_features: usize,
    pub dropout: f64,
}

impl DenseNetConfig {
    pub fn densenet121(classes: usize, dropout: f64) -> Self {
        Self {
            classes,
            growth: 32,
            blocks: vec![6, 12, 24, 16],
            init_features: 64,
            dropout,
        }
    }
}

fn conv(input: usize, output: usize, kernel: usize, device: &Device) -> Conv2d {
    let pad = kernel / 2;
    Conv2dConfig::new([input, output], [kernel, kernel])
        .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
        .with_bias(false)
        .init(device)
}

/// norm–relu–1×1 conv (bottleneck) – norm–relu–3×3 conv, output concatenated to the input.
#[derive(Module, Debug)]
pub struct DenseLayer {
    norm1: GroupNorm,
    conv1: Conv2d,
    norm2: GroupNorm,
    conv2: Conv2d,
}

impl DenseLayer {
    /// # Shapes
    /// `[B, C, H, W]` → `[B, C + growth, H, W]`
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let y = conv2d(&self.conv1, group_norm_relu(&self.norm1, x.clone()));
        let y = conv2d(&self.conv2, group_norm_relu(&self.norm2, y));
        Tensor::cat(vec![x, y], 1)
    }
}

/// norm–relu–1×1 conv (halving the channels) – 2×2 average pool.
#[derive(Module, Debug)]
pub struct Transition {
    norm: GroupNorm,
    conv: Conv2d,
    pool: AvgPool2d,
}

/// The classifier.
#[derive(Module, Debug)]
pub struct DenseNet {
    stem: Conv2d,
    stem_norm: GroupNorm,
    stem_pool: MaxPool2d,
    /// Dense blocks, each followed by a transition except the last.
    blocks: Vec<Vec<DenseLayer>>,
    transitions: Vec<Transition>,
    final_norm: GroupNorm,
    pool: AdaptiveAvgPool2d,
    dropout: Dropout,
    classifier: Linear,
}

impl DenseNet {
    pub fn new(config: &DenseNetConfig, device: &Device) -> Self {
        let mut channels = config.init_features;
        let mut blocks = Vec::new();
        let mut transitions = Vec::new();
        for (index, &layers) in config.blocks.iter().enumerate() {
            let mut block = Vec::new();
            for _ in 0..layers {
                let bottleneck = 4 * config.growth;
                block.push(DenseLayer {
                    norm1: norm(channels, device),
                    conv1: conv(channels, bottleneck, 1, device),
                    norm2: norm(bottleneck, device),
                    conv2: conv(bottleneck, config.growth, 3, device),
                });
                channels += config.growth;
            }
            blocks.push(block);
            if index + 1 < config.blocks.len() {
                let out = channels / 2;
                transitions.push(Transition {
                    norm: norm(channels, device),
                    conv: conv(channels, out, 1, device),
                    pool: AvgPool2dConfig::new([2, 2]).init(),
                });
                channels = out;
            }
        }
        Self {
            stem: Conv2dConfig::new([3, config.init_features], [7, 7])
                .with_stride([2, 2])
                .with_padding(PaddingConfig2d::Explicit(3, 3, 3, 3))
                .with_bias(false)
                .init(device),
            stem_norm: norm(config.init_features, device),
            stem_pool: MaxPool2dConfig::new([3, 3])
                .with_strides([2, 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(),
            blocks,
            transitions,
            final_norm: norm(channels, device),
            pool: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
            dropout: DropoutConfig::new(config.dropout).init(),
            classifier: LinearConfig::new(channels, config.classes).init(device),
        }
    }

    /// The parameters of the stem, the first dense block and its transition.
    pub fn early_param_ids(&self) -> Vec<burn::module::ParamId> {
        let mut ids = burn::module::list_param_ids(&self.stem);
        ids.extend(burn::module::list_param_ids(&self.stem_norm));
        if let Some(block) = self.blocks.first() {
            ids.extend(burn::module::list_param_ids(block));
        }
        if let Some(transition) = self.transitions.first() {
            ids.extend(burn::module::list_param_ids(transition));
        }
        ids
    }

    pub(crate) fn head(&self) -> &Linear {
        &self.classifier
    }

    pub(crate) fn head_mut(&mut self) -> &mut Linear {
        &mut self.classifier
    }

    /// Pooled activations before the classifier.
    ///
    /// # Shapes
    /// images `[B, 3, H, W]` → features `[B, D]` (D = 1024 for DenseNet-121)
    pub fn features(&self, images: Tensor<4>) -> Tensor<2> {
        let mut x = self
            .stem_pool
            .forward(group_norm_relu(&self.stem_norm, conv2d(&self.stem, images)));
        for (index, block) in self.blocks.iter().enumerate() {
            for layer in block {
                x = layer.forward(x);
            }
            if let Some(t) = self.transitions.get(index) {
                x = t.pool.forward(conv2d(&t.conv, group_norm_relu(&t.norm, x)));
            }
        }
        let x = group_norm_relu(&self.final_norm, x);
        let [batch, channels, _, _] = x.dims();
        self.pool.forward(x).reshape([batch, channels])
    }

    /// # Shapes
    /// images `[B, 3, H, W]` → (logits `[B, classes]`, features `[B, D]`)
    pub fn forward(&self, images: Tensor<4>) -> (Tensor<2>, Tensor<2>) {
        let features = self.features(images);
        (
            self.classifier
                .forward(self.dropout.forward(features.clone())),
            features,
        )
    }
}
