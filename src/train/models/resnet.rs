//! A ResNet-18-style classifier: a 3×3 stem, four stages of two basic
//! residual blocks (widths w, 2w, 4w, 8w), global average pooling, dropout,
//! and a linear classifier. Group normalisation instead of batch
//! normalisation, so the EMA teacher and the student normalise alike in
//! training and evaluation, and the EMA covers every piece of state.

use crate::train::kernels::{conv2d, group_norm, group_norm_relu};
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig};
use burn::nn::{Dropout, DropoutConfig, GroupNorm, Linear, LinearConfig, PaddingConfig2d};

use super::layers::norm;
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

/// Settings of [`ResNet`].
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ResNetConfig {
    pub classes: usize,
    /// Channels of the first stage (64 in ResNet-18; fewer keeps CPU runs practical).
    pub width: usize,
    pub dropout: f64,
    /// Input channels: 3 for RGB, k for k slices of a series.
    pub channels: usize,
}

fn conv3(input: usize, output: usize, stride: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([input, output], [3, 3])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .with_bias(false)
        .init(device)
}

/// Two 3×3 convolutions with a residual connection (projected when the shape changes).
#[derive(Module, Debug)]
pub struct BasicBlock {
    conv1: Conv2d,
    norm1: GroupNorm,
    conv2: Conv2d,
    norm2: GroupNorm,
    projection: Option<Conv2d>,
    projection_norm: Option<GroupNorm>,
}

impl BasicBlock {
    fn new(input: usize, output: usize, stride: usize, device: &Device) -> Self {
        let needs_projection = stride != 1 || input != output;
        Self {
            conv1: conv3(input, output, stride, device),
            norm1: norm(output, device),
            conv2: conv3(output, output, 1, device),
            norm2: norm(output, device),
            projection: needs_projection.then(|| {
                Conv2dConfig::new([input, output], [1, 1])
                    .with_stride([stride, stride])
                    .with_bias(false)
                    .init(device)
            }),
            projection_norm: needs_projection.then(|| norm(output, device)),
        }
    }

    /// # Shapes
    /// `[B, C_in, H, W]` → `[B, C_out, H / stride, W / stride]`
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let shortcut = match (&self.projection, &self.projection_norm) {
            (Some(conv), Some(n)) => group_norm(n, conv2d(conv, x.clone())),
            _ => x.clone(),
        };
        let y = group_norm_relu(&self.norm1, conv2d(&self.conv1, x));
        let y = group_norm(&self.norm2, conv2d(&self.conv2, y));
        relu(y + shortcut)
    }
}

/// The classifier.
#[derive(Module, Debug)]
pub struct ResNet {
    stem: Conv2d,
    stem_norm: GroupNorm,
    blocks: Vec<BasicBlock>,
    pool: AdaptiveAvgPool2d,
    dropout: Dropout,
    classifier: Linear,
}

impl ResNet {
    pub fn new(config: &ResNetConfig, device: &Device) -> Self {
        let w = config.width.max(1);
        let widths = [w, 2 * w, 4 * w, 8 * w];
        let mut blocks = Vec::new();
        let mut channels = w;
        for (stage, &out) in widths.iter().enumerate() {
            let stride = if stage == 0 { 1 } else { 2 };
            blocks.push(BasicBlock::new(channels, out, stride, device));
            blocks.push(BasicBlock::new(out, out, 1, device));
            channels = out;
        }
        Self {
            stem: Conv2dConfig::new([config.channels.max(1), w], [3, 3])
                .with_stride([2, 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .with_bias(false)
                .init(device),
            stem_norm: norm(w, device),
            blocks,
            pool: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
            dropout: DropoutConfig::new(config.dropout).init(),
            classifier: LinearConfig::new(channels, config.classes).init(device),
        }
    }

    /// The parameters of the stem and the first two of the four stages
    /// (what fine-tuning can hold still while the head adapts).
    pub fn early_param_ids(&self) -> Vec<burn::module::ParamId> {
        let mut ids = burn::module::list_param_ids(&self.stem);
        ids.extend(burn::module::list_param_ids(&self.stem_norm));
        for block in self.blocks.iter().take(4) {
            ids.extend(burn::module::list_param_ids(block));
        }
        ids
    }

    /// Features before the head: `8·width`.
    pub fn feature_width(&self) -> usize {
        self.classifier.weight.dims()[0]
    }

    pub(crate) fn head(&self) -> &Linear {
        &self.classifier
    }

    pub(crate) fn head_mut(&mut self) -> &mut Linear {
        &mut self.classifier
    }

    /// The pooled activations before the classifier (what SRC relates).
    ///
    /// # Shapes
    /// images `[B, 3, H, W]` → features `[B, 8·width]`
    pub fn features(&self, images: Tensor<4>) -> Tensor<2> {
        let mut x = group_norm_relu(&self.stem_norm, conv2d(&self.stem, images));
        for block in &self.blocks {
            x = block.forward(x);
        }
        let [batch, channels, _, _] = x.dims();
        self.pool.forward(x).reshape([batch, channels])
    }

    /// Class logits and the pooled features.
    ///
    /// # Shapes
    /// images `[B, 3, H, W]` → (logits `[B, classes]`, features `[B, 8·width]`)
    pub fn forward(&self, images: Tensor<4>) -> (Tensor<2>, Tensor<2>) {
        let features = self.features(images);
        let logits = self
            .classifier
            .forward(self.dropout.forward(features.clone()));
        (logits, features)
    }
}
