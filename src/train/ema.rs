//! The teacher's exponential moving average of the student, written once
//! for any module: `θ' ← α θ' + (1 − α) θ`, matched parameter by parameter id.

use std::collections::HashMap;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::tensor::Tensor;

/// Every float parameter of a module, flattened, by id.
struct Collect(HashMap<ParamId, Tensor<1>>);

impl ModuleVisitor for Collect {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let value = param.val();
        let count = value.shape().num_elements();
        self.0.insert(param.id, value.reshape([count]));
    }
}

/// Blends each teacher parameter with the student's of the same id.
struct Blend {
    student: HashMap<ParamId, Tensor<1>>,
    alpha: f64,
}

impl ModuleMapper for Blend {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let Some(student) = self.student.remove(&param.id) else {
            return param;
        };
        let alpha = self.alpha;
        param.map(|teacher| {
            let shape = teacher.shape();
            teacher.mul_scalar(alpha) + student.reshape(shape).mul_scalar(1.0 - alpha)
        })
    }
}

/// `teacher ← α teacher + (1 − α) student`. The teacher was made from the
/// student (`student.valid()`), so their parameter ids match; `student`
/// should be a snapshot without autodiff (`valid()`), so no gradient flows.
pub fn ema_update<M: Module>(teacher: M, student: &M, alpha: f64) -> M {
    let mut collect = Collect(HashMap::new());
    student.visit(&mut collect);
    teacher.map(&mut Blend {
        student: collect.0,
        alpha,
    })
}
