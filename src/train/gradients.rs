//! Per-loss gradients of a method's step: a loss's gradient norm over a
//! module's parameters, and two losses' gradients summed with weights — by
//! the gradient ratio of METHODS.md §3 or fixed ones.

use burn::tensor::Tensor;

/// The L2 norm of a loss's gradient over `module`'s parameters: the
/// `‖∇_θ L‖₂` of METHODS.md §3's `grad_ratio`, from that loss's own backward
/// pass.
pub fn gradient_norm<M: burn::module::Module>(
    grads: &burn::optim::GradientsParams,
    module: &M,
) -> f64 {
    struct SumOfSquares<'a> {
        grads: &'a burn::optim::GradientsParams,
        total: f64,
    }
    impl burn::module::ModuleVisitor for SumOfSquares<'_> {
        fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
            if let Some(g) = self.grads.get::<D>(param.id) {
                self.total += g.powf_scalar(2.0).sum().into_scalar::<f32>() as f64;
            }
        }
    }
    let mut visitor = SumOfSquares { grads, total: 0.0 };
    module.visit(&mut visitor);
    visitor.total.sqrt()
}

/// What [`ratio_weighted_gradients`] measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GradientRatio {
    /// `‖∇_θ L_a‖₂`.
    pub norm_a: f64,
    /// `‖∇_θ L_b‖₂`.
    pub norm_b: f64,
    /// `norm_a / norm_b` (0 when `L_b` has no gradient).
    pub ratio: f64,
}

/// The gradients of `α·L_a + (1 − α)·ratio·L_b` over `module`'s
/// parameters, `ratio = ‖∇_θ L_a‖₂ / ‖∇_θ L_b‖₂` recomputed at every call
/// (METHODS.md §3's `grad_ratio`, with L_a the cross-entropy and L_b the
/// distillation term). The norms need each loss's gradient apart, and Burn
/// frees a graph at its backward pass (no `retain_graph`), so each loss is
/// built by its own closure — its own forward pass of the student — and
/// gets its own backward pass; what does not need a gradient (the teacher's
/// features) is computed once outside. The weighted sum of the two
/// gradients is the gradient of the weighted loss, so no third pass is
/// needed.
pub fn ratio_weighted_gradients<M: burn::module::Module>(
    loss_a: impl FnOnce() -> Tensor<1>,
    loss_b: impl FnOnce() -> Tensor<1>,
    alpha: f64,
    module: &M,
) -> (burn::optim::GradientsParams, GradientRatio) {
    weighted_gradients(loss_a, loss_b, alpha, true, module)
}

/// [`ratio_weighted_gradients`], or with `use_ratio` off the fixed
/// weights `α` and `1 − α` (the ratio is still measured and reported).
pub fn weighted_gradients<M: burn::module::Module>(
    loss_a: impl FnOnce() -> Tensor<1>,
    loss_b: impl FnOnce() -> Tensor<1>,
    alpha: f64,
    use_ratio: bool,
    module: &M,
) -> (burn::optim::GradientsParams, GradientRatio) {
    use burn::optim::GradientsParams;
    let grads_a = GradientsParams::from_grads(loss_a().backward(), module);
    let grads_b = GradientsParams::from_grads(loss_b().backward(), module);
    let (norm_a, norm_b) = (
        gradient_norm(&grads_a, module),
        gradient_norm(&grads_b, module),
    );
    let ratio = if norm_b > 0.0 { norm_a / norm_b } else { 0.0 };
    struct Combine<'a> {
        a: &'a GradientsParams,
        b: &'a GradientsParams,
        weight_a: f64,
        weight_b: f64,
        out: GradientsParams,
    }
    impl burn::module::ModuleVisitor for Combine<'_> {
        fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
            let a = self
                .a
                .get::<D>(param.id)
                .map(|g| g.mul_scalar(self.weight_a));
            let b = self
                .b
                .get::<D>(param.id)
                .map(|g| g.mul_scalar(self.weight_b));
            let sum = match (a, b) {
                (Some(a), Some(b)) => Some(a + b),
                (a, b) => a.or(b),
            };
            if let Some(g) = sum {
                self.out.register(param.id, g);
            }
        }
    }
    let mut combine = Combine {
        a: &grads_a,
        b: &grads_b,
        weight_a: alpha,
        weight_b: (1.0 - alpha) * if use_ratio { ratio } else { 1.0 },
        out: GradientsParams::new(),
    };
    module.visit(&mut combine);
    (
        combine.out,
        GradientRatio {
            norm_a,
            norm_b,
            ratio,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    #[test]
    fn the_gradient_ratio_balances_two_losses() {
        let device = Device::flex().autodiff();
        let layer = burn::nn::LinearConfig::new(2, 1).init(&device);
        let x = Tensor::<2>::from_data(TensorData::from([[1.0f32, 2.0]]), &device);
        // L_a = Σ y, L_b = 4 Σ y: ratio ¼, so α·g + (1 − α)·¼·4g = g.
        let (grads, measured) = ratio_weighted_gradients(
            || layer.forward(x.clone()).sum(),
            || layer.forward(x.clone()).sum().mul_scalar(4.0),
            0.3,
            &layer,
        );
        assert!((measured.ratio - 0.25).abs() < 1e-6, "{measured:?}");
        assert!((measured.norm_a - 6f64.sqrt()).abs() < 1e-6);
        let weight: Vec<f32> = grads
            .get::<2>(layer.weight.id)
            .unwrap()
            .into_data()
            .try_to_vec()
            .unwrap();
        assert!(
            (weight[0] - 1.0).abs() < 1e-6 && (weight[1] - 2.0).abs() < 1e-6,
            "{weight:?}"
        );
    }

    #[test]
    fn gradient_norm_on_a_hand_computed_layer() {
        let device = Device::flex().autodiff();
        let layer = burn::nn::LinearConfig::new(2, 1).init(&device);
        let x = Tensor::<2>::from_data(TensorData::from([[1.0f32, 2.0]]), &device);
        // L = Σ (x W + b): ∂L/∂W = xᵀ = (1, 2), ∂L/∂b = 1 → ‖∇‖ = √6.
        let loss = layer.forward(x).sum();
        let grads = burn::optim::GradientsParams::from_grads(loss.backward(), &layer);
        let norm = gradient_norm(&grads, &layer);
        assert!((norm - 6f64.sqrt()).abs() < 1e-6, "{norm}");
    }
}
