//! The teacher of cross-modal distillation (METHODS.md §3): a small **3-D
//! ResNet** — 3×3×3 kernels in residual blocks — on one CT-like volume. It
//! is not an I3D: the seed's teacher inflates an ImageNet Inception's
//! modules and weights to 3-D, which Loupe does not build; the model keeps
//! the name `i3d` on the command line and in `config.json` so earlier runs
//! and scripts keep their meaning. A stride-2 stem and a width
//! setting keep it practical on the CPU. Its last feature map (N channels ×
//! M voxels) averaged over each row is the N-vector the distillation term
//! reads (global average pooling).

use crate::train::kernels::{conv3d, group_norm, group_norm_relu};
use burn::module::Module;
use burn::nn::conv::{Conv3d, Conv3dConfig};
use burn::nn::{Dropout, DropoutConfig, GroupNorm, Linear, LinearConfig, PaddingConfig3d};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

use super::layers::norm;

/// Settings of [`Volume3d`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Volume3dConfig {
    pub classes: usize,
    /// Channels after the stem; the two stages double it twice.
    pub width: usize,
    pub dropout: f64,
}

fn conv3(input: usize, output: usize, stride: usize, device: &Device) -> Conv3d {
    Conv3dConfig::new([input, output], [3, 3, 3])
        .with_stride([stride, stride, stride])
        .with_padding(PaddingConfig3d::Explicit(1, 1, 1))
        .with_bias(false)
        .init(device)
}

/// Two 3×3×3 convolutions with a (projected) shortcut.
#[derive(Module, Debug)]
pub struct Block3d {
    conv1: Conv3d,
    norm1: GroupNorm,
    conv2: Conv3d,
    norm2: GroupNorm,
    projection: Conv3d,
    projection_norm: GroupNorm,
}

impl Block3d {
    fn new(input: usize, output: usize, device: &Device) -> Self {
        Self {
            conv1: conv3(input, output, 2, device),
            norm1: norm(output, device),
            conv2: conv3(output, output, 1, device),
            norm2: norm(output, device),
            projection: Conv3dConfig::new([input, output], [1, 1, 1])
                .with_stride([2, 2, 2])
                .with_bias(false)
                .init(device),
            projection_norm: norm(output, device),
        }
    }

    /// # Shapes
    /// `[B, C_in, D, H, W]` → `[B, C_out, D/2, H/2, W/2]` (rounded up)
    fn forward(&self, x: Tensor<5>) -> Tensor<5> {
        let shortcut = group_norm(&self.projection_norm, conv3d(&self.projection, x.clone()));
        let y = group_norm_relu(&self.norm1, conv3d(&self.conv1, x));
        let y = group_norm(&self.norm2, conv3d(&self.conv2, y));
        relu(y + shortcut)
    }
}

/// The network.
#[derive(Module, Debug)]
pub struct Volume3d {
    stem: Conv3d,
    stem_norm: GroupNorm,
    blocks: Vec<Block3d>,
    dropout: Dropout,
    classifier: Linear,
}

impl Volume3d {
    pub fn new(config: &Volume3dConfig, device: &Device) -> Self {
        let w = config.width.max(1);
        Self {
            stem: conv3(1, w, 2, device),
            stem_norm: norm(w, device),
            blocks: vec![
                Block3d::new(w, 2 * w, device),
                Block3d::new(2 * w, 4 * w, device),
            ],
            dropout: DropoutConfig::new(config.dropout).init(),
            classifier: LinearConfig::new(4 * w, config.classes).init(device),
        }
    }

    /// The stem and the first block (what fine-tuning can hold still).
    pub fn early_param_ids(&self) -> Vec<burn::module::ParamId> {
        let mut ids = burn::module::list_param_ids(&self.stem);
        ids.extend(burn::module::list_param_ids(&self.stem_norm));
        if let Some(first) = self.blocks.first() {
            ids.extend(burn::module::list_param_ids(first));
        }
        ids
    }

    pub(crate) fn head(&self) -> &Linear {
        &self.classifier
    }

    pub(crate) fn head_mut(&mut self) -> &mut Linear {
        &mut self.classifier
    }

    /// The last feature map as N channels × M voxels.
    ///
    /// # Shapes
    /// volumes `[B, 1, D, H, W]` → `[B, 4·width, D·H·W / 512]` (each edge / 8, rounded up)
    pub fn feature_map(&self, volumes: Tensor<5>) -> Tensor<3> {
        let mut x = group_norm_relu(&self.stem_norm, conv3d(&self.stem, volumes));
        for block in &self.blocks {
            x = block.forward(x);
        }
        let [batch, channels, d, h, w] = x.dims();
        x.reshape([batch, channels, d * h * w])
    }

    /// Class logits and the feature map's row means.
    ///
    /// # Shapes
    /// volumes `[B, 1, D, H, W]` → (logits `[B, classes]`, features `[B, 4·width]`)
    pub fn forward(&self, volumes: Tensor<5>) -> (Tensor<2>, Tensor<2>) {
        let map = self.feature_map(volumes);
        let [batch, channels, _] = map.dims();
        let features = map.mean_dim(2).reshape([batch, channels]);
        let logits = self
            .classifier
            .forward(self.dropout.forward(features.clone()));
        (logits, features)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    #[test]
    fn a_ct_volume_gives_logits_and_row_means_of_its_feature_map() {
        let device = Device::flex().autodiff();
        device.seed(3);
        let model = Volume3d::new(
            &Volume3dConfig {
                classes: 2,
                width: 2,
                dropout: 0.0,
            },
            &device,
        );
        let volumes =
            Tensor::<5>::random([2, 1, 32, 32, 24], Distribution::Normal(0.0, 1.0), &device);
        let map = model.feature_map(volumes.clone());
        assert_eq!(map.dims(), [2, 8, 4 * 4 * 3]);
        let (logits, features) = model.forward(volumes);
        assert_eq!((logits.dims(), features.dims()), ([2, 2], [2, 8]));
        // The features are the map's row means.
        let expected: Vec<f32> = map
            .mean_dim(2)
            .reshape([2, 8])
            .into_data()
            .try_to_vec()
            .unwrap();
        let got: Vec<f32> = features.clone().into_data().try_to_vec().unwrap();
        for (a, b) in got.iter().zip(&expected) {
            assert!((a - b).abs() < 1e-6);
        }
        let grads = burn::optim::GradientsParams::from_grads(logits.sum().backward(), &model);
        assert!(crate::train::gradients::gradient_norm(&grads, &model.stem) > 0.0);
    }
}
