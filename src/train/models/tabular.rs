//! The student of cross-modal distillation (METHODS.md §3): a multilayer
//! perceptron on a case's tabular record (questionnaire, demographics, lab
//! values, already encoded as numbers), with its last hidden layer exposed
//! as the feature vector the distillation term compares with the teacher's.

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

use super::layers::dropout_mask;

/// Settings of [`TabularMlp`].
#[derive(Clone, Debug, PartialEq)]
pub struct TabularMlpConfig {
    /// Numbers per record (after encoding categories one-hot).
    pub inputs: usize,
    /// Widths of the hidden layers; the last is the exposed feature layer.
    pub hidden: Vec<usize>,
    pub classes: usize,
    pub dropout: f64,
}

/// One hidden layer: linear, layer norm, ReLU (dropout at the input of
/// every hidden layer after the first, and of the classifier).
#[derive(Module, Debug)]
pub struct Hidden {
    linear: Linear,
    norm: LayerNorm,
}

/// The network.
#[derive(Module, Debug)]
pub struct TabularMlp {
    hidden: Vec<Hidden>,
    dropout: Dropout,
    classifier: Linear,
}

impl TabularMlp {
    pub fn new(config: &TabularMlpConfig, device: &Device) -> Self {
        let mut width = config.inputs.max(1);
        let mut hidden = Vec::new();
        for &out in &config.hidden {
            let out = out.max(1);
            hidden.push(Hidden {
                linear: LinearConfig::new(width, out).init(device),
                norm: LayerNormConfig::new(out).init(device),
            });
            width = out;
        }
        Self {
            hidden,
            dropout: DropoutConfig::new(config.dropout).init(),
            classifier: LinearConfig::new(width, config.classes).init(device),
        }
    }

    /// The first hidden layer (what fine-tuning can hold still).
    pub fn early_param_ids(&self) -> Vec<burn::module::ParamId> {
        self.hidden
            .first()
            .map(burn::module::list_param_ids)
            .unwrap_or_default()
    }

    pub(crate) fn head(&self) -> &Linear {
        &self.classifier
    }

    pub(crate) fn head_mut(&mut self) -> &mut Linear {
        &mut self.classifier
    }

    /// Class logits and the last hidden layer's activations, with dropout
    /// masks drawn afresh (while training).
    ///
    /// # Shapes
    /// records `[B, inputs]` → (logits `[B, classes]`, features `[B, hidden.last]`)
    pub fn forward(&self, records: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
        let masks = self.dropout_masks(records.dims()[0], &records.device());
        self.forward_masked(records, masks.as_ref())
    }

    /// Fresh dropout masks for `rows` records: one per dropout site (the
    /// input of each hidden layer after the first, and of the classifier),
    /// 0 or `1/(1 − p)`. `None` where dropout does nothing: at inference
    /// (no autodiff) or `p = 0`. Drawn apart so that several passes of one
    /// step (a method's per-loss gradients) can share them.
    pub fn dropout_masks(&self, rows: usize, device: &Device) -> Option<DropoutMasks> {
        let p = self.dropout.prob;
        if p <= 0.0 || !device.is_autodiff() {
            return None;
        }
        // Site i follows hidden layer i: its width is that layer's.
        Some(DropoutMasks(
            self.hidden
                .iter()
                .map(|layer| dropout_mask([rows, layer.norm.gamma.dims()[0]], p, device))
                .collect(),
        ))
    }

    /// [`TabularMlp::forward`] with given dropout masks (`None`: none).
    pub fn forward_masked(
        &self,
        records: Tensor<2>,
        masks: Option<&DropoutMasks>,
    ) -> (Tensor<2>, Tensor<2>) {
        let drop = |x: Tensor<2>, site: usize| match masks.and_then(|m| m.0.get(site)) {
            Some(mask) => x.mul(mask.clone()),
            None => x,
        };
        let mut x = records;
        for (i, layer) in self.hidden.iter().enumerate() {
            if i > 0 {
                // Dropout between hidden layers as before the classifier:
                // on a pool of a few dozen records, a network without it
                // memorises the labels within a few epochs.
                x = drop(x, i - 1);
            }
            x = relu(layer.norm.forward(layer.linear.forward(x)));
        }
        let last_site = self.hidden.len().saturating_sub(1);
        let logits = self.classifier.forward(drop(x.clone(), last_site));
        (logits, x)
    }
}

/// Dropout masks of one [`TabularMlp`] pass, scaled by `1/(1 − p)`.
#[derive(Clone, Debug)]
pub struct DropoutMasks(Vec<Tensor<2>>);

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    #[test]
    fn logits_and_the_exposed_layer_have_their_shapes_and_learn() {
        let device = Device::flex().autodiff();
        device.seed(2);
        let model = TabularMlp::new(
            &TabularMlpConfig {
                inputs: 12,
                hidden: vec![32, 16],
                classes: 2,
                dropout: 0.0,
            },
            &device,
        );
        let records = Tensor::<2>::random([5, 12], Distribution::Normal(0.0, 1.0), &device);
        let (logits, features) = model.forward(records);
        assert_eq!((logits.dims(), features.dims()), ([5, 2], [5, 16]));
        // The feature layer is on the gradient's path: a loss on it alone
        // reaches the first layer.
        let grads = burn::optim::GradientsParams::from_grads(features.sum().backward(), &model);
        assert!(
            crate::train::gradients::gradient_norm(&grads, &model.hidden[0]) > 0.0,
            "the first layer learns from the feature layer"
        );
    }
}
