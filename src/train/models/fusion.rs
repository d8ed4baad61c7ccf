//! The multimodal student of METHODS.md §4: a 2-D CNN on a CT series' k
//! picked slices and an MLP on the tabular record, their features joined
//! before one linear head. A case misses a modality as zeros with a flag:
//! the sample ends with two flags (CT missing, record incomplete) that
//! enter the record branch, and a missing CT's image features are set to
//! zero (not merely its pixels), so the head sees exactly "no image".
//!
//! The sample is one flat vector (the 4-D batch convention `[B, L, 1, 1]`):
//! `k·S·S` slice pixels, then the `F` encoded record numbers, then the
//! [`FLAGS`] flags.

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::tensor::{Device, Tensor};

use super::resnet::{ResNet, ResNetConfig};
use super::tabular::{TabularMlp, TabularMlpConfig};

/// Missing-modality flags at the end of a fusion sample: CT missing,
/// record incomplete.
pub const FLAGS: usize = 2;

/// Settings of [`Fusion`].
#[derive(Clone, Debug, PartialEq)]
pub struct FusionConfig {
    pub classes: usize,
    pub width: usize,
    pub dropout: f64,
    /// k: slices read as channels.
    pub channels: usize,
    /// S: a slice's edge in pixels.
    pub size: usize,
    /// F: numbers in an encoded record.
    pub record_inputs: usize,
}

impl FusionConfig {
    /// Numbers in one sample.
    pub fn sample_len(&self) -> usize {
        self.channels * self.size * self.size + self.record_inputs + FLAGS
    }
}

/// The network.
#[derive(Module, Debug)]
pub struct Fusion {
    image: ResNet,
    record: TabularMlp,
    dropout: Dropout,
    classifier: Linear,
    channels: usize,
    size: usize,
    record_inputs: usize,
}

impl Fusion {
    pub fn new(config: &FusionConfig, device: &Device) -> Self {
        let image = ResNet::new(
            &ResNetConfig {
                classes: config.classes,
                width: config.width,
                dropout: 0.0,
                channels: config.channels,
            },
            device,
        );
        let hidden = super::mlp_hidden(config.width);
        let record_width = *hidden.last().unwrap_or(&1);
        let record = TabularMlp::new(
            &TabularMlpConfig {
                inputs: config.record_inputs + FLAGS,
                hidden,
                classes: config.classes,
                dropout: 0.0,
            },
            device,
        );
        Self {
            classifier: LinearConfig::new(image.feature_width() + record_width, config.classes)
                .init(device),
            image,
            record,
            dropout: DropoutConfig::new(config.dropout).init(),
            channels: config.channels,
            size: config.size,
            record_inputs: config.record_inputs,
        }
    }

    pub fn early_param_ids(&self) -> Vec<burn::module::ParamId> {
        let mut ids = self.image.early_param_ids();
        ids.extend(self.record.early_param_ids());
        ids
    }

    pub(crate) fn head(&self) -> &Linear {
        &self.classifier
    }

    pub(crate) fn head_mut(&mut self) -> &mut Linear {
        &mut self.classifier
    }

    /// The sample split into its parts: slices `[B, k, S, S]`, the record
    /// with the flags `[B, F + FLAGS]`, and "CT present" `[B, 1]`.
    fn split(&self, samples: Tensor<2>) -> (Tensor<4>, Tensor<2>, Tensor<2>) {
        let [batch, _] = samples.dims();
        let pixels = self.channels * self.size * self.size;
        let image = samples.clone().narrow(1, 0, pixels).reshape([
            batch,
            self.channels,
            self.size,
            self.size,
        ]);
        let record = samples
            .clone()
            .narrow(1, pixels, self.record_inputs + FLAGS);
        let present = samples
            .narrow(1, pixels + self.record_inputs, 1)
            .neg()
            .add_scalar(1.0);
        (image, record, present)
    }

    /// The image branch's features of the samples' slices, zero where the
    /// CT is missing: what an explanation holds fixed while the record varies.
    ///
    /// # Shapes
    /// samples `[B, L]` → `[B, 8·width]`
    pub fn image_features(&self, samples: Tensor<2>) -> Tensor<2> {
        let (image, _, present) = self.split(samples);
        self.image.features(image) * present
    }

    /// Logits and joined features from the image features and the record
    /// part of the samples (flags included).
    ///
    /// # Shapes
    /// image features `[B, N]`, samples `[B, L]` → (`[B, classes]`, `[B, N + M]`)
    pub fn forward_with_image_features(
        &self,
        image_features: Tensor<2>,
        samples: Tensor<2>,
    ) -> (Tensor<2>, Tensor<2>) {
        let (_, record, _) = self.split(samples);
        let (_, record_features) = self.record.forward(record);
        let features = Tensor::cat(vec![image_features, record_features], 1);
        let logits = self
            .classifier
            .forward(self.dropout.forward(features.clone()));
        (logits, features)
    }

    /// # Shapes
    /// samples `[B, L]` → (logits `[B, classes]`, features `[B, N + M]`)
    pub fn forward(&self, samples: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
        let image_features = self.image_features(samples.clone());
        self.forward_with_image_features(image_features, samples)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Distribution, TensorData};

    #[test]
    fn a_missing_ct_contributes_nothing_whatever_its_pixels() {
        let device = Device::flex();
        let config = FusionConfig {
            classes: 2,
            width: 4,
            dropout: 0.0,
            channels: 3,
            size: 32,
            record_inputs: 4,
        };
        let pixels = 3 * 32 * 32;
        let model = Fusion::new(&config, &device);
        let len = config.sample_len();
        assert_eq!(len, pixels + 4 + 2);
        let mut noisy = Tensor::<2>::random([1, len], Distribution::Normal(0.0, 1.0), &device)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        // Flags: CT missing, record complete.
        noisy[len - 2] = 1.0;
        noisy[len - 1] = 0.0;
        let mut zero_filled = noisy.clone();
        zero_filled[..pixels].fill(0.0);
        let tensor =
            |v: &[f32]| Tensor::<2>::from_data(TensorData::new(v.to_vec(), [1, len]), &device);
        let values = |t: Tensor<2>| t.into_data().try_to_vec::<f32>().unwrap();
        // Missing: no image features at all, so the same logits for any pixels.
        let features = values(model.image_features(tensor(&noisy)));
        assert!(features.iter().all(|&f| f == 0.0), "{features:?}");
        let (a, b) = (
            values(model.forward(tensor(&noisy)).0),
            values(model.forward(tensor(&zero_filled)).0),
        );
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 1e-6, "{a:?} vs {b:?}");
        }
        // Present: the pixels reach the features.
        noisy[len - 2] = 0.0;
        zero_filled[len - 2] = 0.0;
        let (a, b) = (
            values(model.image_features(tensor(&noisy))),
            values(model.image_features(tensor(&zero_filled))),
        );
        assert!(
            a.iter().zip(&b).any(|(x, y)| (x - y).abs() > 1e-4),
            "{a:?} vs {b:?}"
        );
    }
}
