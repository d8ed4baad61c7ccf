//! Attention multiple-instance pooling (Ilse, Tomczak & Welling 2018, on
//! the instances' predictions rather than their features): a bag — an
//! eye's gradable photographs — of instance vectors `x_i` becomes one
//! probability. Each instance scores `s_i = w·x_i + b`, draws attention
//! `a = softmax(u·x)`, and the bag's logit is `z = Σ a_i s_i`, so
//! `p = σ(z)`. It learns which photographs to trust (the temporal field
//! shows a peripheral ridge; a posterior pole mostly does not) and how an
//! image's stage probabilities translate into a referral.
//!
//! Fitted by full-batch gradient descent on the binary cross-entropy of
//! the bags' labels with an L2 penalty; the gradient is written out in
//! closed form (tested against hand-worked values and finite differences):
//! with `δ = p − y`, `∂L/∂w = δ Σ a_i x_i`, `∂L/∂b = δ`,
//! `∂L/∂u = δ Σ a_i (s_i − z) x_i`.

use serde::{Deserialize, Serialize};

/// Steps of gradient descent a fit takes (the problem is small and smooth).
const FIT_STEPS: usize = 800;
/// Step size of the fit.
const FIT_RATE: f64 = 0.2;
/// L2 penalty on `w` and `u` (keeps a separable training set from driving
/// the weights to infinity).
const FIT_L2: f64 = 1e-2;

/// The pooling's weights for instance vectors of `w.len()` values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttentionPooling {
    /// Instance score weights.
    pub w: Vec<f64>,
    /// Instance score bias.
    pub b: f64,
    /// Attention weights (a bias would cancel in the softmax).
    pub u: Vec<f64>,
}

/// The pooling's gradient, one entry per weight.
#[derive(Clone, Debug, PartialEq)]
pub struct Gradient {
    pub w: Vec<f64>,
    pub b: f64,
    pub u: Vec<f64>,
}

/// One bag's forward pass: attention, instance scores, logit, probability.
#[derive(Clone, Debug, PartialEq)]
pub struct Forward {
    pub attention: Vec<f64>,
    pub scores: Vec<f64>,
    pub logit: f64,
    pub probability: f64,
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

impl AttentionPooling {
    /// All weights zero: every instance weighs alike, every bag scores ½.
    pub fn zeros(width: usize) -> Self {
        Self {
            w: vec![0.0; width],
            b: 0.0,
            u: vec![0.0; width],
        }
    }

    /// The bag's forward pass; `None` for an empty bag.
    pub fn forward(&self, bag: &[Vec<f64>]) -> Option<Forward> {
        if bag.is_empty() {
            return None;
        }
        let energies: Vec<f64> = bag.iter().map(|x| dot(&self.u, x)).collect();
        let top = energies.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let weights: Vec<f64> = energies.iter().map(|e| (e - top).exp()).collect();
        let total: f64 = weights.iter().sum();
        let attention: Vec<f64> = weights.iter().map(|w| w / total).collect();
        let scores: Vec<f64> = bag.iter().map(|x| dot(&self.w, x) + self.b).collect();
        let logit = dot(&attention, &scores);
        Some(Forward {
            attention,
            scores,
            logit,
            probability: sigmoid(logit),
        })
    }

    /// The bag's probability (½ for an empty bag: nothing to go on).
    pub fn probability(&self, bag: &[Vec<f64>]) -> f64 {
        self.forward(bag).map_or(0.5, |f| f.probability)
    }

    /// The gradient of the bag's binary cross-entropy against `label`
    /// (no penalty); zero for an empty bag.
    pub fn gradient(&self, bag: &[Vec<f64>], label: bool) -> Gradient {
        let width = self.w.len();
        let mut gradient = Gradient {
            w: vec![0.0; width],
            b: 0.0,
            u: vec![0.0; width],
        };
        let Some(f) = self.forward(bag) else {
            return gradient;
        };
        let delta = f.probability - f64::from(u8::from(label));
        gradient.b = delta;
        for ((x, a), s) in bag.iter().zip(&f.attention).zip(&f.scores) {
            for k in 0..width {
                gradient.w[k] += delta * a * x[k];
                gradient.u[k] += delta * a * (s - f.logit) * x[k];
            }
        }
        gradient
    }

    /// Mean binary cross-entropy over the bags (no penalty).
    pub fn loss(&self, bags: &[(Vec<Vec<f64>>, bool)]) -> f64 {
        let total: f64 = bags
            .iter()
            .map(|(bag, label)| {
                let p = self.probability(bag).clamp(1e-12, 1.0 - 1e-12);
                if *label { -p.ln() } else { -(1.0 - p).ln() }
            })
            .sum();
        total / bags.len().max(1) as f64
    }

    /// Fits a pooling to labeled bags of instance vectors of `width` values,
    /// from zeros (deterministic: the same bags give the same weights).
    pub fn fit(width: usize, bags: &[(Vec<Vec<f64>>, bool)]) -> Self {
        let mut pooling = Self::zeros(width);
        if bags.is_empty() {
            return pooling;
        }
        let n = bags.len() as f64;
        for _ in 0..FIT_STEPS {
            let mut sum = Gradient {
                w: vec![0.0; width],
                b: 0.0,
                u: vec![0.0; width],
            };
            for (bag, label) in bags {
                let g = pooling.gradient(bag, *label);
                sum.b += g.b;
                for k in 0..width {
                    sum.w[k] += g.w[k];
                    sum.u[k] += g.u[k];
                }
            }
            pooling.b -= FIT_RATE * sum.b / n;
            for k in 0..width {
                pooling.w[k] -= FIT_RATE * (sum.w[k] / n + FIT_L2 * pooling.w[k]);
                pooling.u[k] -= FIT_RATE * (sum.u[k] / n + FIT_L2 * pooling.u[k]);
            }
        }
        pooling
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pooling() -> AttentionPooling {
        AttentionPooling {
            w: vec![1.0, 2.0],
            b: 0.0,
            u: vec![0.0, 0.0],
        }
    }

    #[test]
    fn the_gradient_of_a_hand_made_bag() {
        // x₁ = (1, 0), x₂ = (0, 1); w = (1, 2), u = 0: attention ½, ½;
        // scores 1, 2; z = 1.5; p = σ(1.5) = 0.817574; y = 1: δ = −0.182426.
        let bag = vec![vec![1.0, 0.0], vec![0.0, 1.0]];
        let f = pooling().forward(&bag).unwrap();
        assert_eq!(f.attention, vec![0.5, 0.5]);
        assert!((f.logit - 1.5).abs() < 1e-12);
        let delta = 1.0 / (1.0 + (-1.5f64).exp()) - 1.0;
        assert!((delta + 0.182426).abs() < 1e-6);
        let g = pooling().gradient(&bag, true);
        // ∂/∂w = δ (½ x₁ + ½ x₂) = δ (½, ½); ∂/∂b = δ;
        // ∂/∂u = δ (½ (1 − 1.5) x₁ + ½ (2 − 1.5) x₂) = δ (−¼, ¼).
        let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
        assert!(close(g.w[0], delta * 0.5) && close(g.w[1], delta * 0.5));
        assert!(close(g.b, delta));
        assert!(close(g.u[0], -0.25 * delta) && close(g.u[1], 0.25 * delta));
        // A negative bag pushes the other way: δ = p.
        let g = pooling().gradient(&bag, false);
        assert!(close(g.b, 1.0 / (1.0 + (-1.5f64).exp())));
    }

    #[test]
    fn the_gradient_matches_finite_differences() {
        let pooling = AttentionPooling {
            w: vec![0.3, -0.7, 0.2],
            b: 0.1,
            u: vec![1.1, 0.4, -0.9],
        };
        let bag = vec![
            vec![0.2, 1.0, -0.5],
            vec![1.5, -0.3, 0.8],
            vec![-0.4, 0.6, 0.1],
        ];
        let g = pooling.gradient(&bag, true);
        let loss = |p: &AttentionPooling| p.loss(&[(bag.clone(), true)]);
        let h = 1e-6;
        for k in 0..3 {
            for (analytic, which) in [(g.w[k], 0), (g.u[k], 1)] {
                let mut up = pooling.clone();
                let mut down = pooling.clone();
                let (a, b) = if which == 0 {
                    (&mut up.w[k], &mut down.w[k])
                } else {
                    (&mut up.u[k], &mut down.u[k])
                };
                *a += h;
                *b -= h;
                let numeric = (loss(&up) - loss(&down)) / (2.0 * h);
                assert!(
                    (numeric - analytic).abs() < 1e-6,
                    "weight {which}/{k}: {numeric} vs {analytic}"
                );
            }
        }
    }

    #[test]
    fn attention_learns_which_instance_carries_the_label() {
        // Feature 0 is the evidence, feature 1 says "this instance can show
        // it". Positive bags hold one instance showing evidence 1; negative
        // bags show evidence 0 there, and every bag has a distracting
        // instance that cannot show it, with random evidence.
        let mut bags = Vec::new();
        for k in 0..40 {
            let positive = k % 2 == 0;
            let distractor = if k % 4 < 2 { 1.0 } else { 0.0 };
            let shows = vec![f64::from(u8::from(positive)), 1.0];
            let other = vec![distractor, 0.0];
            bags.push((vec![shows, other], positive));
        }
        let fitted = AttentionPooling::fit(2, &bags);
        assert!(fitted.loss(&bags) < AttentionPooling::zeros(2).loss(&bags) * 0.5);
        // The instance that can show the evidence draws most attention.
        let f = fitted.forward(&bags[0].0).unwrap();
        assert!(f.attention[0] > 0.6, "attention {:?}", f.attention);
        // Every bag is on the right side of ½.
        for (bag, label) in &bags {
            assert_eq!(fitted.probability(bag) > 0.5, *label);
        }
        assert_eq!(AttentionPooling::zeros(2).probability(&[]), 0.5);
    }
}
