//! The architectures a run can train, behind one [`Classifier`]: a
//! ResNet-18-style network (the default for 2-D images), DenseNet-121
//! (the SRC-MT reference) and Xception-style (the thyroid method). Each
//! architecture is one file; this module only chooses between them. For
//! cases (METHODS.md §3): `tabular`, an MLP on the tabular record, and
//! `volume3d`, a 3-D ResNet (named `i3d`) on one modality's volume. Every
//! input reaches the forward as a 4-D batch (images `[B, 3, H, W]`,
//! volumes `[B, D, H, W]`, records `[B, F, 1, 1]`), so the trainer and the
//! methods stay the same for all. For METHODS.md §4: `fusion`, slices and
//! record together (a ResNet and an MLP), and `slice_policy`, a slice
//! scorer in front of a frozen ResNet on k slices.

pub mod densenet;
pub mod fusion;
pub mod layers;
pub mod resnet;
pub mod slice_policy;
pub mod tabular;
pub mod unet;
pub mod volume3d;
pub mod xception;

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use resnet::{ResNet, ResNetConfig};

/// Which architecture a run trains.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ModelKind {
    /// ResNet-18-style, width configurable (the default; practical on the CPU).
    #[default]
    #[serde(rename = "resnet18")]
    Resnet18,
    /// DenseNet-121, the SRC-MT reference.
    #[serde(rename = "densenet121")]
    Densenet121,
    /// Xception-style (METHODS.md §2); its `dilated` and `dense` switches
    /// come from the run's configuration (off by default).
    #[serde(rename = "xception")]
    Xception,
    /// The thyroid method's network: Xception with both changes on.
    #[serde(rename = "xception-dd")]
    XceptionDd,
    /// A multilayer perceptron on a case's tabular record.
    #[serde(rename = "mlp")]
    Mlp,
    /// A 3-D ResNet (3×3×3 residual blocks; named `i3d`, though not an I3D) on one
    /// modality's volume.
    #[serde(rename = "i3d")]
    I3d,
    /// A 2-D U-Net on axial slices (segmentation; the default).
    #[serde(rename = "unet")]
    Unet,
    /// A 3-D U-Net on the whole volume (segmentation).
    #[serde(rename = "unet3d")]
    Unet3d,
}

impl ModelKind {
    pub const ALL: [ModelKind; 8] = [
        ModelKind::Resnet18,
        ModelKind::Densenet121,
        ModelKind::Xception,
        ModelKind::XceptionDd,
        ModelKind::Mlp,
        ModelKind::I3d,
        ModelKind::Unet,
        ModelKind::Unet3d,
    ];

    /// The segmentation networks.
    pub const SEGMENTATION: [ModelKind; 2] = [ModelKind::Unet, ModelKind::Unet3d];

    /// The architectures for 2-D images (the rest read a record or a volume).
    pub const IMAGE: [ModelKind; 4] = [
        ModelKind::Resnet18,
        ModelKind::Densenet121,
        ModelKind::Xception,
        ModelKind::XceptionDd,
    ];

    /// Either Xception (the depth settings apply to both).
    pub fn is_xception(self) -> bool {
        matches!(self, ModelKind::Xception | ModelKind::XceptionDd)
    }

    /// The name in `config.json` and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Resnet18 => "resnet18",
            ModelKind::Densenet121 => "densenet121",
            ModelKind::Xception => "xception",
            ModelKind::XceptionDd => "xception-dd",
            ModelKind::Mlp => "mlp",
            ModelKind::I3d => "i3d",
            ModelKind::Unet => "unet",
            ModelKind::Unet3d => "unet3d",
        }
    }

    /// A name for people (the training panel).
    pub fn title(self) -> &'static str {
        match self {
            ModelKind::Resnet18 => "ResNet-18",
            ModelKind::Densenet121 => "DenseNet-121",
            ModelKind::Xception => "Xception",
            ModelKind::XceptionDd => "Xception, dilated + dense",
            ModelKind::Mlp => "MLP (tabular record)",
            ModelKind::I3d => "3-D ResNet (i3d)",
            ModelKind::Unet => "U-Net (2-D, axial slices)",
            ModelKind::Unet3d => "U-Net (3-D)",
        }
    }

    /// The kind named `name` (as [`ModelKind::name`] spells it).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// The model a run trains: any architecture behind one forward.
#[derive(Module, Debug)]
pub enum Classifier {
    ResNet(ResNet),
    DenseNet(densenet::DenseNet),
    Xception(xception::Xception),
    Tabular(tabular::TabularMlp),
    Volume(volume3d::Volume3d),
    Fusion(fusion::Fusion),
    SlicePolicy(slice_policy::SlicePolicy),
}

/// Channels of a slice scorer's first convolution (small: it reads every
/// slice of every series).
pub const SCORER_WIDTH: usize = 4;

/// The hidden widths of the tabular MLP at `width`: the last is the
/// feature layer distillation compares.
pub fn mlp_hidden(width: usize) -> Vec<usize> {
    vec![4 * width, 2 * width]
}

impl Classifier {
    /// The architecture with default xception switches.
    pub fn new(
        kind: ModelKind,
        classes: usize,
        width: usize,
        dropout: f64,
        device: &Device,
    ) -> Self {
        Self::with_options(
            kind,
            classes,
            width,
            dropout,
            xception::XceptionOptions::default(),
            device,
        )
    }

    /// The architecture, with the xception family's switches as given
    /// (`xception-dd` turns both changes on whatever they say).
    pub fn with_options(
        kind: ModelKind,
        classes: usize,
        width: usize,
        dropout: f64,
        options: xception::XceptionOptions,
        device: &Device,
    ) -> Self {
        Self::with_inputs(kind, classes, width, dropout, options, 0, 3, device)
    }

    /// [`Classifier::with_options`] with the number of encoded inputs a
    /// tabular record has (the MLP's) and a 2-D image's channels (the ResNet's).
    #[allow(clippy::too_many_arguments)]
    pub fn with_inputs(
        kind: ModelKind,
        classes: usize,
        width: usize,
        dropout: f64,
        options: xception::XceptionOptions,
        record_inputs: usize,
        channels: usize,
        device: &Device,
    ) -> Self {
        let xception = |dilated: bool, dense: bool| {
            Classifier::Xception(xception::Xception::new(
                &xception::XceptionConfig {
                    classes,
                    width,
                    dropout,
                    entry_blocks: options.entry_blocks,
                    middle_blocks: options.middle_blocks,
                    exit_convs: options.exit_convs,
                    dilated,
                    down_dilation: options.down_dilation,
                    dense,
                },
                device,
            ))
        };
        match kind {
            ModelKind::Xception => xception(options.dilated, options.dense),
            ModelKind::XceptionDd => xception(true, true),
            // The segmentation networks are `unet::Segmenter`s, never
            // classifiers (`TrainConfig::validate` refuses a classifying
            // run on one); asked here, the 2-D default stands in.
            ModelKind::Resnet18 | ModelKind::Unet | ModelKind::Unet3d => {
                Classifier::ResNet(ResNet::new(
                    &ResNetConfig {
                        classes,
                        width,
                        dropout,
                        channels,
                    },
                    device,
                ))
            }
            ModelKind::Densenet121 => Classifier::DenseNet(densenet::DenseNet::new(
                &densenet::DenseNetConfig::densenet121(classes, dropout),
                device,
            )),
            ModelKind::Mlp => Classifier::Tabular(tabular::TabularMlp::new(
                &tabular::TabularMlpConfig {
                    inputs: record_inputs,
                    hidden: mlp_hidden(width),
                    classes,
                    dropout,
                },
                device,
            )),
            ModelKind::I3d => Classifier::Volume(volume3d::Volume3d::new(
                &volume3d::Volume3dConfig {
                    classes,
                    width,
                    dropout,
                },
                device,
            )),
        }
    }

    fn head_mut(&mut self) -> &mut burn::nn::Linear {
        match self {
            Classifier::ResNet(m) => m.head_mut(),
            Classifier::DenseNet(m) => m.head_mut(),
            Classifier::Xception(m) => m.head_mut(),
            Classifier::Tabular(m) => m.head_mut(),
            Classifier::Volume(m) => m.head_mut(),
            Classifier::Fusion(m) => m.head_mut(),
            Classifier::SlicePolicy(m) => m.head_mut(),
        }
    }

    /// The logits of pooled `features` through the head — what
    /// [`Classifier::forward`] applies after its dropout — for the networks
    /// whose forward is exactly that; `None` for the fused and slice-policy
    /// networks, whose heads read more than the returned features.
    pub fn head_logits(&self, features: Tensor<2>) -> Option<Tensor<2>> {
        match self {
            Classifier::Fusion(_) | Classifier::SlicePolicy(_) => None,
            _ => Some(self.head().forward(features)),
        }
    }

    /// The final linear layer.
    fn head(&self) -> &burn::nn::Linear {
        match self {
            Classifier::ResNet(m) => m.head(),
            Classifier::DenseNet(m) => m.head(),
            Classifier::Xception(m) => m.head(),
            Classifier::Tabular(m) => m.head(),
            Classifier::Volume(m) => m.head(),
            Classifier::Fusion(m) => m.head(),
            Classifier::SlicePolicy(m) => m.head(),
        }
    }

    /// The number of classes the head scores.
    pub fn classes(&self) -> usize {
        self.head().weight.dims()[1]
    }

    /// The same network with a new, randomly initialised classifier head
    /// for `classes` classes (fine-tuning on a project with other classes).
    pub fn with_new_head(mut self, classes: usize, device: &Device) -> Self {
        let head = self.head_mut();
        let features = head.weight.dims()[0];
        *head = burn::nn::LinearConfig::new(features, classes).init(device);
        self
    }

    /// The parameters of the early stages (stem and the first half of the
    /// feature extractor), which fine-tuning can freeze for a few epochs.
    pub fn early_param_ids(&self) -> Vec<burn::module::ParamId> {
        match self {
            Classifier::ResNet(m) => m.early_param_ids(),
            Classifier::DenseNet(m) => m.early_param_ids(),
            Classifier::Xception(m) => m.early_param_ids(),
            Classifier::Tabular(m) => m.early_param_ids(),
            Classifier::Volume(m) => m.early_param_ids(),
            Classifier::Fusion(m) => m.early_param_ids(),
            // The classifier is frozen already; the scorer is all there is to train.
            Classifier::SlicePolicy(_) => Vec::new(),
        }
    }

    /// The network with its early stages frozen (no gradient, so the
    /// optimizer leaves them) or trainable again.
    pub fn with_early_stages_frozen(self, frozen: bool) -> Self {
        let group = burn::module::ParamGroup::from_ids(self.early_param_ids());
        self.set_require_grad_group(group, !frozen)
    }

    /// Dropout masks for a pass over `rows` records that several passes of
    /// one step can share ([`Classifier::forward_masked`]); `None` for a
    /// network that draws its own (every one but the record MLP) or none.
    pub fn record_dropout_masks(
        &self,
        rows: usize,
        device: &Device,
    ) -> Option<tabular::DropoutMasks> {
        match self {
            Classifier::Tabular(m) => m.dropout_masks(rows, device),
            _ => None,
        }
    }

    /// [`Classifier::forward`] with the record MLP's dropout masks given;
    /// any other network draws its own.
    pub fn forward_masked(
        &self,
        images: Tensor<4>,
        masks: Option<&tabular::DropoutMasks>,
    ) -> (Tensor<2>, Tensor<2>) {
        match self {
            Classifier::Tabular(m) => {
                let [batch, inputs, h, w] = images.dims();
                m.forward_masked(images.reshape([batch, inputs * h * w]), masks)
            }
            _ => self.forward(images),
        }
    }

    /// # Shapes
    /// images `[B, 3, H, W]`, volumes `[B, D, H, W]` or records `[B, F, 1, 1]`
    /// → (logits `[B, classes]`, pooled features `[B, N]`)
    pub fn forward(&self, images: Tensor<4>) -> (Tensor<2>, Tensor<2>) {
        match self {
            Classifier::ResNet(m) => m.forward(images),
            Classifier::DenseNet(m) => m.forward(images),
            Classifier::Xception(m) => m.forward(images),
            Classifier::Tabular(m) => {
                let [batch, inputs, h, w] = images.dims();
                m.forward(images.reshape([batch, inputs * h * w]))
            }
            Classifier::Volume(m) => m.forward(images.unsqueeze_dim(1)),
            Classifier::Fusion(m) => {
                let [batch, inputs, h, w] = images.dims();
                m.forward(images.reshape([batch, inputs * h * w]))
            }
            Classifier::SlicePolicy(m) => m.forward(images),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    #[test]
    fn model_names_serialise_as_the_command_line_spells_them() {
        for kind in ModelKind::ALL {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.name());
            assert_eq!(ModelKind::from_name(kind.name()), Some(kind));
        }
        assert_eq!(
            serde_json::from_str::<ModelKind>("\"xception-dd\"").unwrap(),
            ModelKind::XceptionDd
        );
        // xception-dd turns both changes on; plain xception follows its switches.
        let device = Device::flex();
        let dd = Classifier::new(ModelKind::XceptionDd, 3, 2, 0.0, &device);
        let plain = Classifier::new(ModelKind::Xception, 3, 2, 0.0, &device);
        assert!(dd.num_params() > plain.num_params());
    }

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
