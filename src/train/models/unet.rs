//! The segmentation networks (METHODS.md §5): a U-Net, 2-D on axial slices
//! (the default) or 3-D on the whole volume or on cubic patches of it. Four levels of widths w, 2w,
//! 4w, 8w; each level two 3×3(×3) convolutions with group normalisation
//! and ReLU; a stride-2 convolution down, a stride-2 transposed
//! convolution up, skip connections by concatenation. The last decoder
//! level's activations (`w` channels at full resolution) are the exposed
//! features whose class prototypes ProtoKD compares; a 1×1 convolution
//! turns them into class logits.
//!
//! Both take and give flattened voxels, `[B, C, P]` with the spatial shape
//! beside, so the losses and the trainer are the same for 2-D and 3-D.

use crate::train::kernels::{conv_transpose2d, conv_transpose3d, conv2d, conv3d, group_norm_relu};
use burn::module::Module;
use burn::nn::conv::{
    Conv2d, Conv2dConfig, Conv3d, Conv3dConfig, ConvTranspose2d, ConvTranspose2dConfig,
    ConvTranspose3d, ConvTranspose3dConfig,
};
use burn::nn::{GroupNorm, PaddingConfig2d, PaddingConfig3d};
use burn::tensor::{Device, Tensor};

use super::ModelKind;
use super::layers::norm;
use crate::train::spec::{Setting, SettingKind};

/// Levels below full resolution: a spatial edge must be a multiple of 2³.
pub const DOWNSAMPLINGS: u32 = 3;

/// Where the settings every segmentation method shares are stored in a
/// run's `config.json`.
pub const SETTINGS_SECTION: &str = "segmentation";

/// What one 3-D U-Net sample is: a cubic patch of the training grid, or
/// (0, or at least the grid's edge) the whole volume. Declared here, beside
/// the network, because the configuration checks it (a multiple of
/// 2^[`DOWNSAMPLINGS`]; a patched grid may be larger than a whole volume
/// may) and the segmentation task both trains and predicts by it. 0 by
/// default: runs written before patches existed trained whole volumes and
/// still predict the same way.
pub const PATCH_EDGE: Setting = Setting {
    name: "patch_edge",
    section: SETTINGS_SECTION,
    flag: "patch-edge",
    title: "3-D patch edge (voxels)",
    help: "3-D U-Net: train on cubic patches of this edge, a multiple of 8 (0: the whole \
           volume; ProtoKD's reference crops 96×128×128); prediction slides the patch over the \
           volume half a patch apart and averages the overlaps",
    group: "Segmentation",
    kind: SettingKind::Count {
        default: 0,
        range: 0..=96,
    },
    legacy: "",
};

/// Patches drawn from each labeled case per epoch (3-D U-Net on patches).
pub const PATCHES_PER_CASE: Setting = Setting {
    name: "patches_per_case",
    section: SETTINGS_SECTION,
    flag: "patches-per-case",
    title: "Patches per case and epoch",
    help: "3-D U-Net on patches: patches drawn from each labeled case per epoch, half of them \
           centred on a voxel of a labeled class (each class present as likely)",
    group: "Segmentation",
    kind: SettingKind::Count {
        default: 4,
        range: 1..=256,
    },
    legacy: "",
};

/// The edge of a 3-D U-Net's training patch on a grid of `grid_edge`, or
/// `None` for the whole volume (`patch_edge` 0 or not smaller than the grid).
pub fn patch_of(grid_edge: usize, patch_edge: usize) -> Option<usize> {
    (patch_edge > 0 && patch_edge < grid_edge).then_some(patch_edge)
}

/// Settings of a [`Segmenter`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SegmenterConfig {
    /// Input channels: the sequences read.
    pub channels: usize,
    /// Output classes (background first).
    pub classes: usize,
    /// Channels of the first level (and of the exposed features).
    pub width: usize,
}

fn conv2(input: usize, output: usize, stride: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([input, output], [3, 3])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .with_bias(false)
        .init(device)
}

fn conv3(input: usize, output: usize, stride: usize, device: &Device) -> Conv3d {
    Conv3dConfig::new([input, output], [3, 3, 3])
        .with_stride([stride; 3])
        .with_padding(PaddingConfig3d::Explicit(1, 1, 1))
        .with_bias(false)
        .init(device)
}

/// Two 3×3 convolutions, each normalised and rectified.
#[derive(Module, Debug)]
pub struct Block2d {
    conv1: Conv2d,
    norm1: GroupNorm,
    conv2: Conv2d,
    norm2: GroupNorm,
}

impl Block2d {
    fn new(input: usize, output: usize, device: &Device) -> Self {
        Self {
            conv1: conv2(input, output, 1, device),
            norm1: norm(output, device),
            conv2: conv2(output, output, 1, device),
            norm2: norm(output, device),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = group_norm_relu(&self.norm1, conv2d(&self.conv1, x));
        group_norm_relu(&self.norm2, conv2d(&self.conv2, x))
    }
}

/// Two 3×3×3 convolutions, each normalised and rectified.
#[derive(Module, Debug)]
pub struct Block3d {
    conv1: Conv3d,
    norm1: GroupNorm,
    conv2: Conv3d,
    norm2: GroupNorm,
}

impl Block3d {
    fn new(input: usize, output: usize, device: &Device) -> Self {
        Self {
            conv1: conv3(input, output, 1, device),
            norm1: norm(output, device),
            conv2: conv3(output, output, 1, device),
            norm2: norm(output, device),
        }
    }

    fn forward(&self, x: Tensor<5>) -> Tensor<5> {
        let x = group_norm_relu(&self.norm1, conv3d(&self.conv1, x));
        group_norm_relu(&self.norm2, conv3d(&self.conv2, x))
    }
}

/// The 2-D U-Net.
#[derive(Module, Debug)]
pub struct Unet2d {
    encoders: Vec<Block2d>,
    downs: Vec<Conv2d>,
    ups: Vec<ConvTranspose2d>,
    decoders: Vec<Block2d>,
    head: Conv2d,
}

impl Unet2d {
    pub fn new(config: &SegmenterConfig, device: &Device) -> Self {
        let w = config.width.max(1);
        let widths: Vec<usize> = (0..=DOWNSAMPLINGS).map(|l| w << l).collect();
        let mut encoders = vec![Block2d::new(config.channels.max(1), w, device)];
        let mut downs = Vec::new();
        for level in 1..widths.len() {
            downs.push(conv2(widths[level - 1], widths[level - 1], 2, device));
            encoders.push(Block2d::new(widths[level - 1], widths[level], device));
        }
        let mut ups = Vec::new();
        let mut decoders = Vec::new();
        for level in (0..widths.len() - 1).rev() {
            ups.push(
                ConvTranspose2dConfig::new([widths[level + 1], widths[level]], [2, 2])
                    .with_stride([2, 2])
                    .init(device),
            );
            decoders.push(Block2d::new(2 * widths[level], widths[level], device));
        }
        Self {
            encoders,
            downs,
            ups,
            decoders,
            head: Conv2dConfig::new([w, config.classes], [1, 1]).init(device),
        }
    }

    /// # Shapes
    /// `[B, C, H, W]` → (logits `[B, K, H, W]`, features `[B, w, H, W]`)
    pub fn forward(&self, x: Tensor<4>) -> (Tensor<4>, Tensor<4>) {
        let mut skips = Vec::with_capacity(self.encoders.len());
        let mut x = self.encoders[0].forward(x);
        for (down, encoder) in self.downs.iter().zip(&self.encoders[1..]) {
            skips.push(x.clone());
            x = encoder.forward(conv2d(down, x));
        }
        for (up, decoder) in self.ups.iter().zip(&self.decoders) {
            let skip = skips.pop().expect("one skip per level");
            x = decoder.forward(Tensor::cat(vec![conv_transpose2d(up, x), skip], 1));
        }
        (conv2d(&self.head, x.clone()), x)
    }
}

/// The 3-D U-Net.
#[derive(Module, Debug)]
pub struct Unet3d {
    encoders: Vec<Block3d>,
    downs: Vec<Conv3d>,
    ups: Vec<ConvTranspose3d>,
    decoders: Vec<Block3d>,
    head: Conv3d,
}

impl Unet3d {
    pub fn new(config: &SegmenterConfig, device: &Device) -> Self {
        let w = config.width.max(1);
        let widths: Vec<usize> = (0..=DOWNSAMPLINGS).map(|l| w << l).collect();
        let mut encoders = vec![Block3d::new(config.channels.max(1), w, device)];
        let mut downs = Vec::new();
        for level in 1..widths.len() {
            downs.push(conv3(widths[level - 1], widths[level - 1], 2, device));
            encoders.push(Block3d::new(widths[level - 1], widths[level], device));
        }
        let mut ups = Vec::new();
        let mut decoders = Vec::new();
        for level in (0..widths.len() - 1).rev() {
            ups.push(
                ConvTranspose3dConfig::new([widths[level + 1], widths[level]], [2, 2, 2])
                    .with_stride([2, 2, 2])
                    .init(device),
            );
            decoders.push(Block3d::new(2 * widths[level], widths[level], device));
        }
        Self {
            encoders,
            downs,
            ups,
            decoders,
            head: Conv3dConfig::new([w, config.classes], [1, 1, 1]).init(device),
        }
    }

    /// # Shapes
    /// `[B, C, D, H, W]` → (logits `[B, K, D, H, W]`, features `[B, w, D, H, W]`)
    pub fn forward(&self, x: Tensor<5>) -> (Tensor<5>, Tensor<5>) {
        let mut skips = Vec::with_capacity(self.encoders.len());
        let mut x = self.encoders[0].forward(x);
        for (down, encoder) in self.downs.iter().zip(&self.encoders[1..]) {
            skips.push(x.clone());
            x = encoder.forward(conv3d(down, x));
        }
        for (up, decoder) in self.ups.iter().zip(&self.decoders) {
            let skip = skips.pop().expect("one skip per level");
            x = decoder.forward(Tensor::cat(vec![conv_transpose3d(up, x), skip], 1));
        }
        (conv3d(&self.head, x.clone()), x)
    }
}

/// A segmentation network, 2-D or 3-D, behind one forward on flattened voxels.
#[derive(Module, Debug)]
pub enum Segmenter {
    Unet2d(Unet2d),
    Unet3d(Unet3d),
}

impl Segmenter {
    /// The network `kind` names (`unet` or `unet3d`; any other kind is the
    /// 2-D U-Net, the default).
    pub fn new(kind: ModelKind, config: &SegmenterConfig, device: &Device) -> Self {
        match kind {
            ModelKind::Unet3d => Segmenter::Unet3d(Unet3d::new(config, device)),
            _ => Segmenter::Unet2d(Unet2d::new(config, device)),
        }
    }

    /// Spatial dimensions of one sample: 2 (a slice) or 3 (a volume).
    pub fn spatial_dims(&self) -> usize {
        match self {
            Segmenter::Unet2d(_) => 2,
            Segmenter::Unet3d(_) => 3,
        }
    }

    /// Class logits and decoder features of samples whose voxels are
    /// flattened, `spatial` their shape (`[H, W]` or `[D, H, W]`, each a
    /// multiple of 2^[`DOWNSAMPLINGS`]).
    ///
    /// # Shapes
    /// `[B, C, P]` → (logits `[B, K, P]`, features `[B, w, P]`), `P = Π spatial`
    pub fn forward(&self, x: Tensor<3>, spatial: &[usize]) -> (Tensor<3>, Tensor<3>) {
        let [batch, channels, voxels] = x.dims();
        let flat = |t: Tensor<4>| {
            let [b, c, _, _] = t.dims();
            t.reshape([b, c, voxels])
        };
        let flat3 = |t: Tensor<5>| {
            let [b, c, _, _, _] = t.dims();
            t.reshape([b, c, voxels])
        };
        match (self, spatial) {
            (Segmenter::Unet2d(net), &[h, w]) => {
                let (logits, features) = net.forward(x.reshape([batch, channels, h, w]));
                (flat(logits), flat(features))
            }
            (Segmenter::Unet3d(net), &[d, h, w]) => {
                let (logits, features) = net.forward(x.reshape([batch, channels, d, h, w]));
                (flat3(logits), flat3(features))
            }
            _ => panic!(
                "a {}-D U-Net was given a sample of shape {spatial:?}",
                self.spatial_dims()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_unets_keep_the_resolution_and_expose_width_features() {
        let device = Device::flex();
        let config = SegmenterConfig {
            channels: 4,
            classes: 4,
            width: 2,
        };
        let net = Segmenter::new(ModelKind::Unet, &config, &device);
        let x = Tensor::<3>::ones([2, 4, 16 * 8], &device);
        let (logits, features) = net.forward(x, &[16, 8]);
        assert_eq!(logits.dims(), [2, 4, 128]);
        assert_eq!(features.dims(), [2, 2, 128]);
        let net = Segmenter::new(ModelKind::Unet3d, &config, &device);
        let x = Tensor::<3>::ones([1, 4, 8 * 8 * 16], &device);
        let (logits, features) = net.forward(x, &[8, 8, 16]);
        assert_eq!(logits.dims(), [1, 4, 1024]);
        assert_eq!(features.dims(), [1, 2, 1024]);
    }
}
