//! Supervised training: cross-entropy (plus the focal term when its weight
//! is set) on the labeled images of each batch.
//! It is every other method with its extra terms off (the reference's
//! baseline), so it runs on the same sampler and steps.

use burn::optim::{GradientsParams, ModuleOptimizer};

use crate::train::config::{IMAGE_MODALITY, SLICES_INPUT, TABULAR_MODALITY, VOLUME_INPUT};
use crate::train::events::Scalars;
use crate::train::losses::classification;
use crate::train::optimisation;
use crate::train::spec::{Method, MethodSpec, Task, TeacherUse};
use crate::train::step::{
    Batch, Declaration, Models, StepContext, Stepper, TrainingMethod, augment_input, scalar,
};

pub struct Supervised;

pub static SPEC: MethodSpec = MethodSpec {
    name: "supervised",
    title: "Supervised",
    task: Task::Classify,
    keeps_teacher: false,
    uses_unlabeled: false,
    series: &["loss/ce", "loss/focal", "loss/total"],
    modalities: &[IMAGE_MODALITY, TABULAR_MODALITY, VOLUME_INPUT, SLICES_INPUT],
    teacher_roles: &[],
    teacher_use: TeacherUse::None,
    settings: &[optimisation::WEIGHT_DECAY],
};

pub const METHOD: Method = Method::of(&SPEC);

pub const DECLARATION: Declaration = Declaration {
    method: METHOD,
    build: || Stepper::Classify(Box::new(Supervised)),
};

impl TrainingMethod for Supervised {
    fn step(
        &mut self,
        models: Models,
        optimizer: &mut ModuleOptimizer,
        batch: &Batch,
        context: &StepContext,
    ) -> (Models, Scalars) {
        use crate::train::phases::{self, mark};
        let student = models.student;
        let input = augment_input(batch.labeled.clone(), context.config);
        mark(phases::AUGMENT);
        let (logits, _) = student.forward(input);
        mark(phases::FORWARD);
        let (ce, focal, loss) = classification(
            logits,
            batch.labels.clone(),
            &context.config.loss,
            batch.weights.clone(),
        );
        mark(phases::LOSSES);
        let values = Scalars::from([
            ("loss/ce".into(), scalar(&ce)),
            ("loss/focal".into(), scalar(&focal)),
            ("loss/total".into(), scalar(&loss)),
        ]);
        mark(phases::READ_BACK);
        let gradients = loss.backward();
        mark(phases::BACKWARD);
        let grads = GradientsParams::from_grads(gradients, &student);
        mark(phases::GRADIENTS);
        let student = optimizer.step(context.learning_rate, student, grads);
        mark(phases::OPTIMIZER);
        (
            Models {
                student,
                teacher: models.teacher,
            },
            values,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::config::TrainConfig;
    use crate::train::models::{Classifier, ModelKind};
    use burn::optim::AdamConfig;
    use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};

    #[test]
    fn supervised_training_lowers_the_loss() {
        let device = Device::flex().autodiff();
        device.seed(1);
        let config = TrainConfig::default();
        let batch = Batch {
            class_balance: None,
            labeled: Tensor::<4>::random([4, 3, 16, 16], Distribution::Normal(0.0, 1.0), &device),
            labels: Tensor::<1, Int>::from_data(TensorData::from([0i64, 1, 2, 1]), &device),
            weights: None,
            unlabeled: None,
            guidance: None,
        };
        let mut models = Models {
            student: Classifier::new(ModelKind::Resnet18, 3, 4, 0.0, &device),
            teacher: None,
        };
        let mut optimizer = AdamConfig::new().init();
        let mut losses = Vec::new();
        for step in 0..40 {
            let context = StepContext {
                learning_rate: 3e-3,
                global_step: step,
                epoch_progress: 0.0,
                config: &config,
            };
            let (next, values) = Supervised.step(models, &mut optimizer, &batch, &context);
            models = next;
            assert_eq!(values["loss/ce"], values["loss/total"]);
            losses.push(values["loss/total"]);
        }
        let early: f64 = losses[..5].iter().sum::<f64>() / 5.0;
        let late: f64 = losses[losses.len() - 5..].iter().sum::<f64>() / 5.0;
        assert!(late < early * 0.8, "loss {early:.3} → {late:.3}");
    }
}
