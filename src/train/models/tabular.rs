//! The student of cross-modal distillation (METHODS.md §3): a multilayer
//! perceptron on a case's tabular record (questionnaire, demographics, lab
//! values, already encoded as numbers), with its last hidden layer exposed
//! as the feature vector the distillation term compares with the teacher's.

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

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

/// One hidden layer: linear, layer norm, ReLU.
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

    /// Class logits and the last hidden layer's activations.
    ///
    /// # Shapes
    /// records `[B, inputs]` → (logits `[B, classes]`, features `[B, hidden.last]`)
    pub fn forward(&self, records: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
        let mut x = records;
        for layer in &self.hidden {
            x = relu(layer.norm.forward(layer.linear.forward(x)));
        }
        let logits = self.classifier.forward(self.dropout.forward(x.clone()));
        (logits, x)
    }
}

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
