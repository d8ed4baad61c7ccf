//! What every classifying method shares of its optimisation: the weight
//! decay setting (declared once here, listed by each classifying method)
//! and the optimizer a classifier trains with. A leaf below the methods and
//! the classification task, so both can name it.

use burn::optim::decay::WeightDecayConfig;
use burn::optim::{AdamConfig, ModuleOptimizer, SgdConfig};

use super::config::{OptimizerKind, TrainConfig};
use super::spec::{Setting, SettingKind};

/// L2 weight decay of a classifier's parameters, for every classifying
/// method: off for the image presets (what their readings were measured
/// with), on for a record's MLP, which memorises a few dozen records
/// without it (`presets`, [`TrainConfig::fit_to_modality`]).
pub const WEIGHT_DECAY: Setting = Setting {
    name: "weight_decay",
    section: "classification",
    flag: "weight-decay",
    title: "Weight decay (L2)",
    help: "L2 weight decay of the classifier's parameters (Adam's or SGD's)",
    group: "Optimisation",
    kind: SettingKind::Number {
        default: 0.0,
        range: 0.0..=0.1,
        speed: 1e-5,
    },
    legacy: "",
};

/// The optimizer of a classifier: the configured kind, with the weight
/// decay when it is above 0.
pub fn classifier_optimizer(config: &TrainConfig) -> ModuleOptimizer {
    let decay = match config.number(&WEIGHT_DECAY) {
        d if d > 0.0 => Some(WeightDecayConfig::new(d as f32)),
        _ => None,
    };
    match config.optimizer {
        OptimizerKind::Adam => AdamConfig::new().with_weight_decay(decay).init(),
        OptimizerKind::Sgd => SgdConfig::new().with_weight_decay(decay).init(),
    }
}
