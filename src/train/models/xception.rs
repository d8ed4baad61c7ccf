//! An Xception-style classifier for the thyroid method (METHODS.md §2):
//! entry flow, middle flow (repeated residual blocks), exit flow and
//! classifier, built from depthwise-separable convolutions, sized for the
//! CPU (widths w, 2w, 4w, 8w, 12w, 16w; by default two entry blocks, two
//! middle blocks and one exit convolution — Xception's own counts, entry 3,
//! middle 8, exit 2, are [`XceptionOptions::FULL_DEPTH`]). Two changes of
//! the method, each a switch so an ablation can turn one on alone:
//!
//! - `dilated`: every max-pooling of the entry and exit flows becomes a
//!   learnable 3×3 convolution with dilation 2 and the pool's stride,
//!   rectified before and normalised after like every other convolution
//!   here (without them the dilated network underfit: training loss
//!   1.4–1.5 where the pooled one reached 0.4–0.7); `down_dilation` 1
//!   makes the same learnable stride-2 convolution without dilation, the
//!   control that tells the dilation from the learnable downsampling;
//! - `dense`: dense connection 1 feeds the middle flow the input image ⊕
//!   the entry flow's output, and dense connection 2 feeds the exit flow the
//!   input ⊕ entry ⊕ middle outputs (⊕ along channels), each part brought to
//!   the common size by a transition layer (1×1 convolution + resize), then
//!   fused back to the flow's width by a 1×1 convolution.
//!
//! Group normalisation, as in the other architectures, so the EMA teacher
//! and the student normalise alike.

use crate::train::kernels::{conv2d, group_norm, group_norm_relu};
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
    /// Downsampling blocks of the entry flow (3 in Xception).
    pub entry_blocks: usize,
    /// Residual blocks of the middle flow (8 in Xception).
    pub middle_blocks: usize,
    /// Separable convolutions after the exit flow's block (2 in Xception).
    pub exit_convs: usize,
    pub dilated: bool,
    /// Dilation of the learnable downsampling (2: the method; 1: the control).
    pub down_dilation: usize,
    pub dense: bool,
}

/// The xception family's switches, kept in a run's configuration: the
/// plain network with either change alone, or both (`xception-dd` forces
/// both on).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct XceptionOptions {
    /// Downsampling blocks of the entry flow (runs before this setting: 2).
    #[serde(default = "default_entry_blocks")]
    pub entry_blocks: usize,
    /// Residual blocks of the middle flow.
    pub middle_blocks: usize,
    /// Separable convolutions closing the exit flow (runs before this setting: 1).
    #[serde(default = "default_exit_convs")]
    pub exit_convs: usize,
    pub dilated: bool,
    /// Dilation of the learnable downsampling when `dilated`: 2 is the
    /// method; 1, a plain learnable stride-2 convolution, is its control.
    #[serde(default = "default_down_dilation")]
    pub down_dilation: usize,
    pub dense: bool,
}

fn default_down_dilation() -> usize {
    XceptionOptions::METHOD_DOWN_DILATION
}

fn default_entry_blocks() -> usize {
    XceptionOptions::default().entry_blocks
}

fn default_exit_convs() -> usize {
    XceptionOptions::default().exit_convs
}

impl Default for XceptionOptions {
    /// Scaled down for two CPU cores: entry 2, middle 2, exit 1.
    fn default() -> Self {
        Self {
            entry_blocks: 2,
            middle_blocks: 2,
            exit_convs: 1,
            dilated: false,
            down_dilation: Self::METHOD_DOWN_DILATION,
            dense: false,
        }
    }
}

impl XceptionOptions {
    /// The method's dilation of its learnable downsampling (METHODS.md §2).
    pub const METHOD_DOWN_DILATION: usize = 2;
    /// The dilations a learnable downsampling may have.
    pub const DOWN_DILATIONS: std::ops::RangeInclusive<usize> = 1..=2;
    /// Xception's own flows (Chollet 2017): entry 3, middle 8, exit 2.
    pub const FULL_DEPTH: [usize; 3] = [3, 8, 2];
    /// What each count may be: at least one entry block and exit
    /// convolution; at most what a 64 px input survives (each entry block
    /// halves it) and a CPU run can afford.
    pub const ENTRY_BLOCKS: std::ops::RangeInclusive<usize> = 1..=4;
    pub const MIDDLE_BLOCKS: std::ops::RangeInclusive<usize> = 0..=16;
    pub const EXIT_CONVS: std::ops::RangeInclusive<usize> = 1..=3;

    /// `[entry, middle, exit]`.
    pub fn depth(&self) -> [usize; 3] {
        [self.entry_blocks, self.middle_blocks, self.exit_convs]
    }

    /// These options with `[entry, middle, exit]` counts, refused outside
    /// their ranges.
    pub fn with_depth(self, [entry, middle, exit]: [usize; 3]) -> Result<Self, String> {
        for (name, value, range) in [
            ("entry blocks", entry, Self::ENTRY_BLOCKS),
            ("middle blocks", middle, Self::MIDDLE_BLOCKS),
            ("exit convolutions", exit, Self::EXIT_CONVS),
        ] {
            if !range.contains(&value) {
                return Err(format!(
                    "{name} must be {}–{}, not {value}",
                    range.start(),
                    range.end()
                ));
            }
        }
        Ok(Self {
            entry_blocks: entry,
            middle_blocks: middle,
            exit_convs: exit,
            ..self
        })
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
// Three of these per network: the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Downsample {
    Pool(MaxPool2d),
    Dilated(DilatedDown),
}

/// The method's learnable downsampling: ReLU, a 3×3 convolution with
/// dilation 2 and stride 2, group normalisation — what every separable
/// convolution of the flows gets.
#[derive(Module, Debug)]
pub struct DilatedDown {
    conv: Conv2d,
    norm: GroupNorm,
}

impl Downsample {
    /// `dilation`: Some(d) for the learnable downsampling with dilation d
    /// (padding d keeps the pool's output size), None for the max-pool.
    fn new(channels: usize, dilation: Option<usize>, device: &Device) -> Self {
        if let Some(d) = dilation {
            Downsample::Dilated(DilatedDown {
                conv: Conv2dConfig::new([channels, channels], [3, 3])
                    .with_stride([2, 2])
                    .with_dilation([d, d])
                    .with_padding(PaddingConfig2d::Explicit(d, d, d, d))
                    .with_bias(false)
                    .init(device),
                norm: norm(channels, device),
            })
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
            Downsample::Dilated(d) => group_norm(&d.norm, conv2d(&d.conv, relu(x))),
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
    fn new(input: usize, output: usize, dilation: Option<usize>, device: &Device) -> Self {
        Self {
            first: SeparableConv::new(input, output, device),
            second: SeparableConv::new(output, output, device),
            down: Downsample::new(output, dilation, device),
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

    /// The earlier parts through their transitions, then `current`,
    /// concatenated along channels at `current`'s grid.
    fn concatenate(&self, earlier: Vec<Tensor<4>>, current: Tensor<4>) -> Tensor<4> {
        let [_, _, h, w] = current.dims();
        let mut parts: Vec<Tensor<4>> = self
            .transitions
            .iter()
            .zip(earlier)
            .map(|(t, x)| t.forward(x, [h, w]))
            .collect();
        parts.push(current);
        Tensor::cat(parts, 1)
    }

    /// The concatenation fused back to the flow's width.
    fn fuse(&self, joined: Tensor<4>) -> Tensor<4> {
        group_norm(&self.fuse_norm, conv2d(&self.fuse, joined))
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
    exit_convs: Vec<SeparableConv>,
    dropout: Dropout,
    classifier: Linear,
}

/// Each stage's output, for tests and inspection: with dense connections,
/// `joined_middle` and `joined_exit` are what each join concatenates (the
/// transitions' outputs, then the flow's own), before the fusing 1×1.
pub struct Stages {
    pub entry: Tensor<4>,
    pub joined_middle: Option<Tensor<4>>,
    pub middle: Tensor<4>,
    pub joined_exit: Option<Tensor<4>>,
    pub exit: Tensor<4>,
}

impl Xception {
    pub fn new(config: &XceptionConfig, device: &Device) -> Self {
        let w = config.width.max(1);
        let (entry_out, exit_out, features) = (8 * w, 12 * w, 16 * w);
        // Entry widths double from 4w up to 8w (Xception: 128, 256, 728);
        // the last block gives 8w whatever the count.
        let blocks = config.entry_blocks.max(1);
        let widths: Vec<usize> = (0..blocks)
            .map(|i| {
                if i + 1 == blocks {
                    entry_out
                } else {
                    (4 * w) << i.min(1)
                }
            })
            .collect();
        let dilation = config.dilated.then_some(config.down_dilation);
        let inputs = std::iter::once(2 * w).chain(widths.iter().copied());
        let entry = inputs
            .zip(&widths)
            .map(|(input, &output)| DownBlock::new(input, output, dilation, device))
            .collect();
        // Exit convolutions step from 12w to 16w (Xception: 1536, 2048).
        let convs = config.exit_convs.max(1);
        let exit_widths: Vec<usize> = (1..=convs)
            .map(|i| exit_out + (features - exit_out) * i / convs)
            .collect();
        let exit_inputs = std::iter::once(exit_out).chain(exit_widths.iter().copied());
        let exit_convs = exit_inputs
            .zip(&exit_widths)
            .map(|(input, &output)| SeparableConv::new(input, output, device))
            .collect();
        Self {
            stem1: conv(3, w, 3, 2, device),
            stem1_norm: norm(w, device),
            stem2: conv(w, 2 * w, 3, 1, device),
            stem2_norm: norm(2 * w, device),
            entry,
            dense1: config
                .dense
                .then(|| DenseJoin::new(&[3], entry_out, w, device)),
            middle: (0..config.middle_blocks)
                .map(|_| MiddleBlock::new(entry_out, device))
                .collect(),
            dense2: config
                .dense
                .then(|| DenseJoin::new(&[3, entry_out], entry_out, w, device)),
            exit_block: DownBlock::new(entry_out, exit_out, dilation, device),
            exit_convs,
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
        let x = group_norm_relu(&self.stem1_norm, conv2d(&self.stem1, images.clone()));
        let mut x = group_norm_relu(&self.stem2_norm, conv2d(&self.stem2, x));
        for block in &self.entry {
            x = block.forward(x);
        }
        let entry = x;
        // Dense connection 1: the input image ⊕ the entry flow's output.
        let joined_middle = self
            .dense1
            .as_ref()
            .map(|join| join.concatenate(vec![images.clone()], entry.clone()));
        let mut x = match (&self.dense1, &joined_middle) {
            (Some(join), Some(joined)) => join.fuse(joined.clone()),
            _ => entry.clone(),
        };
        for block in &self.middle {
            x = block.forward(x);
        }
        let middle = x;
        // Dense connection 2: input ⊕ entry ⊕ middle outputs.
        let joined_exit = self
            .dense2
            .as_ref()
            .map(|join| join.concatenate(vec![images, entry.clone()], middle.clone()));
        let mut x = match (&self.dense2, &joined_exit) {
            (Some(join), Some(joined)) => join.fuse(joined.clone()),
            _ => middle.clone(),
        };
        x = self.exit_block.forward(x);
        for conv in &self.exit_convs {
            x = conv.forward(relu(x));
        }
        Stages {
            entry,
            joined_middle,
            middle,
            joined_exit,
            exit: relu(x),
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
            entry_blocks: 2,
            middle_blocks: 2,
            exit_convs: 1,
            dilated,
            down_dilation: 2,
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

    #[test]
    fn the_control_downsampling_is_the_same_convolution_without_dilation() {
        // An impulse at (4, 4) of an 8×8 input: a stride-2 3×3 convolution
        // with dilation d and padding d reads input 2r − d + d·k at output
        // row r, tap k. Dilation 1 (the control) reaches the impulse from
        // output (2, 2) only (k = 1); dilation 2 from rows and columns
        // 1, 2, 3 (k = 2, 1, 0): nine outputs. Both halve the grid.
        let device = Device::flex();
        let mut impulse = vec![0.0f32; 64];
        impulse[4 * 8 + 4] = 1.0;
        let x = Tensor::<4>::from_data(TensorData::new(impulse, [1, 1, 8, 8]), &device);
        for (dilation, reached) in [(1usize, 1usize), (2, 9)] {
            let Downsample::Dilated(down) = Downsample::new(1, Some(dilation), &device) else {
                panic!("a learnable downsampling");
            };
            let out = conv2d(&down.conv, relu(x.clone()));
            assert_eq!(out.dims(), [1, 1, 4, 4], "dilation {dilation}");
            let values: Vec<f32> = out.into_data().try_to_vec().unwrap();
            let nonzero: Vec<usize> = (0..16).filter(|&i| values[i] != 0.0).collect();
            assert_eq!(nonzero.len(), reached, "dilation {dilation}: {nonzero:?}");
            if dilation == 1 {
                assert_eq!(nonzero, [2 * 4 + 2]);
            }
        }
        let options = XceptionOptions {
            down_dilation: 3,
            ..XceptionOptions::default()
        };
        let config = crate::train::config::TrainConfig {
            xception: options,
            ..Default::default()
        };
        assert!(
            config
                .validate()
                .unwrap_err()
                .to_string()
                .contains("dilation 3")
        );
    }

    #[test]
    fn the_dilated_downsampling_is_rectified_and_normalised() {
        let device = Device::flex();
        let down = Downsample::new(4, Some(2), &device);
        // Normalised: each group of each sample has mean 0 and spread 1
        // (γ = 1, β = 0 at initialisation).
        let x = Tensor::<4>::random([2, 4, 16, 16], Distribution::Normal(1.0, 3.0), &device);
        let y = down.forward(x);
        assert_eq!(y.dims(), [2, 4, 8, 8]);
        let per_sample = y.reshape([2, 4 * 64]);
        let mean = per_sample
            .clone()
            .mean_dim(1)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let var = per_sample.var(1).into_data().try_to_vec::<f32>().unwrap();
        for (m, v) in mean.iter().zip(&var) {
            assert!(
                m.abs() < 1e-3 && (v - 1.0).abs() < 0.05,
                "mean {m}, variance {v}"
            );
        }
        // Rectified before the convolution: an all-negative input is 0.
        let negative = Tensor::<4>::ones([1, 4, 8, 8], &device).mul_scalar(-2.0);
        let y = down.forward(negative).abs().max().into_scalar::<f32>();
        assert!(y < 1e-6, "{y}");
    }

    #[test]
    fn dense_connections_concatenate_the_image_the_entry_and_the_middle_outputs() {
        let device = Device::flex();
        let mut model = Xception::new(&config(false, true), &device);
        // Transitions with every 1×1 weight 1: a part's transition is, at
        // each cell, the sum of its channels averaged over the cell.
        let ones = |t: &mut Transition| {
            let dims = t.conv.weight.dims();
            t.conv.weight = Param::from_tensor(Tensor::ones(dims, &device));
        };
        for join in [model.dense1.as_mut(), model.dense2.as_mut()]
            .into_iter()
            .flatten()
        {
            join.transitions.iter_mut().for_each(ones);
        }
        // A constant image of 0.5 per channel: its transition is 1.5 at every cell.
        let images = Tensor::<4>::ones([1, 3, 32, 32], &device).mul_scalar(0.5);
        let stages = model.stages(images);
        let t = transition_channels(2);
        let entry_channels = stages.entry.dims()[1];
        let close = |a: Tensor<4>, b: Tensor<4>| a.sub(b).abs().max().into_scalar::<f32>() < 1e-4;
        // Dense connection 1: [T(image) | entry].
        let joined = stages.joined_middle.expect("dense connection 1");
        assert_eq!(joined.dims()[1], t + entry_channels);
        let image_part = joined.clone().narrow(1, 0, t);
        assert!(close(
            image_part.clone(),
            image_part.ones_like().mul_scalar(1.5)
        ));
        assert!(close(
            joined.narrow(1, t, entry_channels),
            stages.entry.clone()
        ));
        // Dense connection 2: [T(image) | T(entry) | middle]; the entry's
        // transition at the same grid is its channel sum.
        let joined = stages.joined_exit.expect("dense connection 2");
        let middle_channels = stages.middle.dims()[1];
        assert_eq!(joined.dims()[1], 2 * t + middle_channels);
        let image_part = joined.clone().narrow(1, 0, t);
        assert!(close(
            image_part.clone(),
            image_part.ones_like().mul_scalar(1.5)
        ));
        let entry_sum = stages.entry.clone().sum_dim(1);
        for c in 0..t {
            assert!(close(joined.clone().narrow(1, t + c, 1), entry_sum.clone()));
        }
        assert!(close(
            joined.narrow(1, 2 * t, middle_channels),
            stages.middle
        ));
    }

    #[test]
    fn full_depth_builds_xceptions_own_block_counts() {
        let device = Device::flex();
        let options = XceptionOptions::default()
            .with_depth(XceptionOptions::FULL_DEPTH)
            .unwrap();
        let model = Xception::new(
            &XceptionConfig {
                entry_blocks: options.entry_blocks,
                middle_blocks: options.middle_blocks,
                exit_convs: options.exit_convs,
                ..config(true, true)
            },
            &device,
        );
        assert_eq!(
            (
                model.entry.len(),
                model.middle.len(),
                model.exit_convs.len()
            ),
            (3, 8, 2)
        );
        // Three entry halvings and the exit's: 64 px → 2 px, 16w features.
        let images = Tensor::<4>::random([1, 3, 64, 64], Distribution::Normal(0.0, 1.0), &device);
        let stages = model.stages(images);
        assert_eq!(stages.entry.dims(), [1, 16, 4, 4]);
        assert_eq!(stages.exit.dims(), [1, 32, 2, 2]);
        assert!(options.with_depth([0, 8, 2]).is_err());
    }
}
