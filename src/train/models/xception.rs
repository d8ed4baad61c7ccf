//! An Xception-style classifier for the thyroid method (METHODS.md §2):
//! entry flow, middle flow (repeated residual blocks), exit flow and
//! classifier, built from depthwise-separable convolutions, sized for the
//! CPU (widths w, 2w, 4w, 8w, 12w, 16w; two entry blocks; a configurable
//! middle depth). Two changes of the method, each a switch so an ablation
//! can turn one on alone:
//!
//! - `dilated`: every max-pooling of the entry and exit flows becomes a
//!   learnable 3×3 convolution with dilation 2 and the pool's stride;
//! - `dense`: dense connection 1 feeds the middle flow the input image ⊕
//!   the entry flow's output, and dense connection 2 feeds the exit flow the
//!   input ⊕ entry ⊕ middle outputs (⊕ along channels), each part brought to
//!   the common size by a transition layer (1×1 convolution + resize), then
//!   fused back to the flow's width by a 1×1 convolution.
//!
//! Group normalisation, as in the other architectures, so the EMA teacher
//! and the student normalise alike.

use crate::train::kernels::{conv2d, group_norm};
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Dropout, DropoutConfig, GroupNorm, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::module::adaptive_avg_pool2d;
use burn::tensor::{Device, Tensor};

use super::layers::norm;

/// Settings of [`Xception`].
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct XceptionConfig {
    pub classes: usize,
    /// Channels of the stem (32 in Xception; fewer keeps CPU runs practical).
    pub width: usize,
    pub dropout: f64,
    /// Residual blocks of the middle flow (8 in Xception).
    pub middle_blocks: usize,
    pub dilated: bool,
    pub dense: bool,
}

/// The xception family's switches, kept in a run's configuration: the
/// plain network with either change alone, or both (`xception-dd` forces
/// both on).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct XceptionOptions {
    /// Residual blocks of the middle flow.
    pub middle_blocks: usize,
    pub dilated: bool,
    pub dense: bool,
}

impl Default for XceptionOptions {
    fn default() -> Self {
        Self {
            middle_blocks: 2,
            dilated: false,
            dense: false,
        }
    }
}

/// Channels the transition layers give each part before concatenation.
fn transition_channels(width: usize) -> usize {
    width.max(2)
}

fn conv(input: usize, output: usize, kernel: usize, stride: usize, device: &Device) -> Conv2d {
    let pad = kernel / 2;
    Conv2dConfig::new([input, output], [kernel, kernel])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
        .with_bias(false)
        .init(device)
}

/// Depthwise 3×3 convolution, pointwise 1×1 convolution, normalisation.
#[derive(Module, Debug)]
pub struct SeparableConv {
    depthwise: Conv2d,
    pointwise: Conv2d,
    norm: GroupNorm,
}

impl SeparableConv {
    fn new(input: usize, output: usize, device: &Device) -> Self {
        Self {
            depthwise: Conv2dConfig::new([input, input], [3, 3])
                .with_groups(input)
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .with_bias(false)
                .init(device),
            pointwise: conv(input, output, 1, 1, device),
            norm: norm(output, device),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        group_norm(
            &self.norm,
            conv2d(&self.pointwise, self.depthwise.forward(x)),
        )
    }
}

/// Halving the resolution: Xception's max-pool, or the method's learnable
/// dilated convolution with the same stride.
#[derive(Module, Debug)]
pub enum Downsample {
    Pool(MaxPool2d),
    Dilated(Conv2d),
}

impl Downsample {
    fn new(channels: usize, dilated: bool, device: &Device) -> Self {
        if dilated {
            Downsample::Dilated(
                Conv2dConfig::new([channels, channels], [3, 3])
                    .with_stride([2, 2])
                    .with_dilation([2, 2])
                    .with_padding(PaddingConfig2d::Explicit(2, 2, 2, 2))
                    .with_bias(false)
                    .init(device),
            )
        } else {
            Downsample::Pool(
                MaxPool2dConfig::new([3, 3])
                    .with_strides([2, 2])
                    .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                    .init(),
            )
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        match self {
            Downsample::Pool(p) => p.forward(x),
            Downsample::Dilated(c) => conv2d(c, x),
        }
    }
}

/// An entry/exit block: two separable convolutions, a downsampling, and a
/// strided 1×1 residual projection.
#[derive(Module, Debug)]
pub struct DownBlock {
    first: SeparableConv,
    second: SeparableConv,
    down: Downsample,
    residual: Conv2d,
    residual_norm: GroupNorm,
}

impl DownBlock {
    fn new(input: usize, output: usize, dilated: bool, device: &Device) -> Self {
        Self {
            first: SeparableConv::new(input, output, device),
            second: SeparableConv::new(output, output, device),
            down: Downsample::new(output, dilated, device),
            residual: conv(input, output, 1, 2, device),
            residual_norm: norm(output, device),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let residual = group_norm(&self.residual_norm, conv2d(&self.residual, x.clone()));
        let y = self.first.forward(relu(x));
        let y = self.second.forward(relu(y));
        self.down.forward(y) + residual
    }
}

/// A middle-flow block: three separable convolutions with an identity residual.
#[derive(Module, Debug)]
pub struct MiddleBlock {
    convs: Vec<SeparableConv>,
}

impl MiddleBlock {
    fn new(channels: usize, device: &Device) -> Self {
        Self {
            convs: (0..3)
                .map(|_| SeparableConv::new(channels, channels, device))
                .collect(),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut y = x.clone();
        for c in &self.convs {
            y = c.forward(relu(y));
        }
        y + x
    }
}

/// A transition layer: 1×1 convolution, then resized to the flow's grid.
#[derive(Module, Debug)]
pub struct Transition {
    conv: Conv2d,
}

impl Transition {
    fn new(input: usize, output: usize, device: &Device) -> Self {
        Self {
            conv: conv(input, output, 1, 1, device),
        }
    }

    fn forward(&self, x: Tensor<4>, size: [usize; 2]) -> Tensor<4> {
        adaptive_avg_pool2d(conv2d(&self.conv, x), size)
    }
}

/// Dense connection: transitions of the earlier parts, concatenated with
/// the current one, fused back to its width.
#[derive(Module, Debug)]
pub struct DenseJoin {
    transitions: Vec<Transition>,
    fuse: Conv2d,
    fuse_norm: GroupNorm,
}

impl DenseJoin {
    fn new(earlier: &[usize], current: usize, width: usize, device: &Device) -> Self {
        let t = transition_channels(width);
        Self {
            transitions: earlier
                .iter()
                .map(|&c| Transition::new(c, t, device))
                .collect(),
            fuse: conv(current + t * earlier.len(), current, 1, 1, device),
            fuse_norm: norm(current, device),
        }
    }

    fn forward(&self, earlier: Vec<Tensor<4>>, current: Tensor<4>) -> Tensor<4> {
        let [_, _, h, w] = current.dims();
        let mut parts: Vec<Tensor<4>> = self
            .transitions
            .iter()
            .zip(earlier)
            .map(|(t, x)| t.forward(x, [h, w]))
            .collect();
        parts.push(current);
        group_norm(&self.fuse_norm, conv2d(&self.fuse, Tensor::cat(parts, 1)))
    }
}

/// The network.
#[derive(Module, Debug)]
pub struct Xception {
    stem1: Conv2d,
    stem1_norm: GroupNorm,
    stem2: Conv2d,
    stem2_norm: GroupNorm,
    entry: Vec<DownBlock>,
    dense1: Option<DenseJoin>,
    middle: Vec<MiddleBlock>,
    dense2: Option<DenseJoin>,
    exit_block: DownBlock,
    exit_conv: SeparableConv,
    dropout: Dropout,
    classifier: Linear,
}

/// Each stage's output, for tests and inspection.
pub struct Stages {
    pub entry: Tensor<4>,
    pub middle: Tensor<4>,
    pub exit: Tensor<4>,
}

impl Xception {
    pub fn new(config: &XceptionConfig, device: &Device) -> Self {
        let w = config.width.max(1);
        let (entry_out, exit_out, features) = (8 * w, 12 * w, 16 * w);
        Self {
            stem1: conv(3, w, 3, 2, device),
            stem1_norm: norm(w, device),
            stem2: conv(w, 2 * w, 3, 1, device),
            stem2_norm: norm(2 * w, device),
            entry: vec![
                DownBlock::new(2 * w, 4 * w, config.dilated, device),
                DownBlock::new(4 * w, entry_out, config.dilated, device),
            ],
            dense1: config
                .dense
                .then(|| DenseJoin::new(&[3], entry_out, w, device)),
            middle: (0..config.middle_blocks)
                .map(|_| MiddleBlock::new(entry_out, device))
                .collect(),
            dense2: config
                .dense
                .then(|| DenseJoin::new(&[3, entry_out], entry_out, w, device)),
            exit_block: DownBlock::new(entry_out, exit_out, config.dilated, device),
            exit_conv: SeparableConv::new(exit_out, features, device),
            dropout: DropoutConfig::new(config.dropout).init(),
            classifier: LinearConfig::new(features, config.classes).init(device),
        }
    }

    /// The parameters of the stem and the entry flow.
    pub fn early_param_ids(&self) -> Vec<burn::module::ParamId> {
        let mut ids = burn::module::list_param_ids(&self.stem1);
        for part in [&self.stem1_norm, &self.stem2_norm] {
            ids.extend(burn::module::list_param_ids(part));
        }
        ids.extend(burn::module::list_param_ids(&self.stem2));
        ids.extend(burn::module::list_param_ids(&self.entry));
        ids
    }

    pub(crate) fn head(&self) -> &Linear {
        &self.classifier
    }

    pub(crate) fn head_mut(&mut self) -> &mut Linear {
        &mut self.classifier
    }

    /// # Shapes
    /// images `[B, 3, H, W]` → entry `[B, 8w, H/8, W/8]`, middle the same,
    /// exit `[B, 16w, H/16, W/16]` (sizes rounded up)
    pub fn stages(&self, images: Tensor<4>) -> Stages {
        let x = relu(group_norm(
            &self.stem1_norm,
            conv2d(&self.stem1, images.clone()),
        ));
        let mut x = relu(group_norm(&self.stem2_norm, conv2d(&self.stem2, x)));
        for block in &self.entry {
            x = block.forward(x);
        }
        let entry = x;
        let mut x = match &self.dense1 {
            Some(join) => join.forward(vec![images.clone()], entry.clone()),
            None => entry.clone(),
        };
        for block in &self.middle {
            x = block.forward(x);
        }
        let middle = x;
        let x = match &self.dense2 {
            Some(join) => join.forward(vec![images, entry.clone()], middle.clone()),
            None => middle.clone(),
        };
        let x = self.exit_block.forward(x);
        let exit = relu(self.exit_conv.forward(x));
        Stages {
            entry,
            middle,
            exit,
        }
    }

    /// # Shapes
    /// images `[B, 3, H, W]` → (logits `[B, classes]`, pooled features `[B, 16w]`)
    pub fn forward(&self, images: Tensor<4>) -> (Tensor<2>, Tensor<2>) {
        let exit = self.stages(images).exit;
        let [batch, channels, _, _] = exit.dims();
        let features = adaptive_avg_pool2d(exit, [1, 1]).reshape([batch, channels]);
        let logits = self
            .classifier
            .forward(self.dropout.forward(features.clone()));
        (logits, features)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::{ModuleVisitor, Param};
    use burn::tensor::{Distribution, Int, TensorData};

    fn config(dilated: bool, dense: bool) -> XceptionConfig {
        XceptionConfig {
            classes: 4,
            width: 2,
            dropout: 0.0,
            middle_blocks: 2,
            dilated,
            dense,
        }
    }

    #[test]
    fn every_stage_has_its_shape_with_and_without_the_changes() {
        let device = Device::flex();
        let images = Tensor::<4>::random([2, 3, 48, 48], Distribution::Normal(0.0, 1.0), &device);
        for (dilated, dense) in [(false, false), (true, false), (false, true), (true, true)] {
            let model = Xception::new(&config(dilated, dense), &device);
            let stages = model.stages(images.clone());
            assert_eq!(stages.entry.dims(), [2, 16, 6, 6], "{dilated} {dense}");
            assert_eq!(stages.middle.dims(), [2, 16, 6, 6]);
            assert_eq!(stages.exit.dims(), [2, 32, 3, 3]);
            let (logits, features) = model.forward(images.clone());
            assert_eq!((logits.dims(), features.dims()), ([2, 4], [2, 32]));
        }
    }

    /// Sums |gradient| of every 3×3 weight with dilation 2 (the downsamplings).
    struct DilatedGradients<'a> {
        grads: &'a burn::optim::GradientsParams,
        found: usize,
        total: f64,
    }

    impl ModuleVisitor for DilatedGradients<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(g) = self.grads.get::<D>(param.id) {
                let dims = g.dims();
                if D == 4 && dims[2] == 3 && dims[1] > 1 && dims[0] == dims[1] {
                    self.found += 1;
                    self.total += g.abs().sum().into_scalar::<f32>() as f64;
                }
            }
        }
    }

    #[test]
    fn the_dilated_downsamplings_learn() {
        let device = Device::flex().autodiff();
        device.seed(3);
        let model = Xception::new(&config(true, true), &device);
        let images = Tensor::<4>::random([2, 3, 32, 32], Distribution::Normal(0.0, 1.0), &device);
        let (logits, _) = model.forward(images);
        let targets = Tensor::<1, Int>::from_data(TensorData::from([1i64, 3]), &device);
        let loss = crate::train::losses::cross_entropy(logits, targets);
        let grads = burn::optim::GradientsParams::from_grads(loss.backward(), &model);
        let mut visitor = DilatedGradients {
            grads: &grads,
            found: 0,
            total: 0.0,
        };
        model.visit(&mut visitor);
        // Three downsamplings (two entry, one exit) plus dense 3×3s: none.
        assert!(visitor.found >= 3, "found {}", visitor.found);
        assert!(
            visitor.total > 0.0,
            "no gradient reaches the dilated convolutions"
        );
    }
}
