//! The architectures a run can train, behind one [`Classifier`]: a
//! ResNet-18-style network (the default for 2-D images) and DenseNet-121
//! (the SRC-MT reference). Each architecture is one file; this module only
//! chooses between them.

pub mod densenet;
pub mod layers;
pub mod resnet;

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use resnet::{ResNet, ResNetConfig};

/// Which architecture a run trains.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// ResNet-18-style, width configurable (the default; practical on the CPU).
    #[default]
    Resnet18,
    /// DenseNet-121, the SRC-MT reference.
    Densenet121,
}

impl ModelKind {
    pub const ALL: [ModelKind; 2] = [ModelKind::Resnet18, ModelKind::Densenet121];

    /// The name in `config.json` and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Resnet18 => "resnet18",
            ModelKind::Densenet121 => "densenet121",
        }
    }

    /// A name for people (the training panel).
    pub fn title(self) -> &'static str {
        match self {
            ModelKind::Resnet18 => "ResNet-18",
            ModelKind::Densenet121 => "DenseNet-121",
        }
    }

    /// The kind named `name` (as [`ModelKind::name`] spells it).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// The model a run trains: either architecture behind one forward.
#[derive(Module, Debug)]
pub enum Classifier {
    ResNet(ResNet),
    DenseNet(densenet::DenseNet),
}

impl Classifier {
    pub fn new(
        kind: ModelKind,
        classes: usize,
        width: usize,
        dropout: f64,
        device: &Device,
    ) -> Self {
        match kind {
            ModelKind::Resnet18 => Classifier::ResNet(ResNet::new(
                &ResNetConfig {
                    classes,
                    width,
                    dropout,
                },
                device,
            )),
            ModelKind::Densenet121 => Classifier::DenseNet(densenet::DenseNet::new(
                &densenet::DenseNetConfig::densenet121(classes, dropout),
                device,
            )),
        }
    }

    /// # Shapes
    /// images `[B, 3, H, W]` → (logits `[B, classes]`, pooled features `[B, D]`)
    pub fn forward(&self, images: Tensor<4>) -> (Tensor<2>, Tensor<2>) {
        match self {
            Classifier::ResNet(m) => m.forward(images),
            Classifier::DenseNet(m) => m.forward(images),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    #[test]
    fn any_width_builds() {
        let device = Device::flex();
        for width in [1, 3, 6, 12, 20] {
            let model = Classifier::new(ModelKind::Resnet18, 2, width, 0.0, &device);
            let (logits, _) = model.forward(Tensor::<4>::zeros([1, 3, 16, 16], &device));
            assert_eq!(logits.dims(), [1, 2]);
        }
    }

    #[test]
    fn both_architectures_give_logits_and_features() {
        let device = Device::flex();
        let images = Tensor::<4>::random([2, 3, 32, 32], Distribution::Normal(0.0, 1.0), &device);
        let resnet = Classifier::new(ModelKind::Resnet18, 4, 4, 0.0, &device);
        let (logits, features) = resnet.forward(images.clone());
        assert_eq!((logits.dims(), features.dims()), ([2, 4], [2, 32]));
        let densenet = Classifier::new(ModelKind::Densenet121, 4, 0, 0.0, &device);
        let (logits, features) = densenet.forward(images);
        assert_eq!(
            (logits.dims(), features.dims()),
            ([2, 4], [2, 1024]),
            "DenseNet-121 pools 1024 features"
        );
    }
}
