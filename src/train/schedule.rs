//! The mean-teacher schedules of METHODS.md §1.

/// Sigmoid ramp-up of the consistency weight:
/// `w(e) = w_max · exp(−5 (1 − min(e, T)/T)²)`; `w_max` at and after epoch `T`.
pub fn ramp_up(epoch: f64, rampup_epochs: f64, w_max: f64) -> f64 {
    if rampup_epochs <= 0.0 {
        return w_max;
    }
    let t = epoch.clamp(0.0, rampup_epochs) / rampup_epochs;
    w_max * (-5.0 * (1.0 - t).powi(2)).exp()
}

/// EMA decay at optimizer step `t` (0-based): `α = min(1 − 1/(t + 1), ema_decay)`,
/// so the teacher follows the student closely at first.
pub fn ema_alpha(step: u64, ema_decay: f64) -> f64 {
    (1.0 - 1.0 / (step as f64 + 1.0)).min(ema_decay)
}

/// The learning rate of step `step` of `total`: the configured `base`,
/// decayed by [`cosine_lr`] when the run asks for it (`cosine`).
pub fn learning_rate(base: f64, cosine: bool, step: u64, total: u64) -> f64 {
    if cosine {
        cosine_lr(base, step, total)
    } else {
        base
    }
}

/// Cosine learning-rate decay from `lr` to 0 over `total` steps.
pub fn cosine_lr(lr: f64, step: u64, total: u64) -> f64 {
    if total == 0 {
        return lr;
    }
    let t = (step as f64 / total as f64).min(1.0);
    lr * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ramp_up_values() {
        assert!((ramp_up(0.0, 30.0, 1.0) - (-5.0f64).exp()).abs() < 1e-12);
        assert!((ramp_up(15.0, 30.0, 1.0) - (-1.25f64).exp()).abs() < 1e-12);
        assert_eq!(ramp_up(30.0, 30.0, 1.0), 1.0);
        assert_eq!(ramp_up(45.0, 30.0, 2.0), 2.0);
    }

    #[test]
    fn ema_warm_up() {
        assert_eq!(ema_alpha(0, 0.99), 0.0);
        assert_eq!(ema_alpha(1, 0.99), 0.5);
        assert!((ema_alpha(9, 0.99) - 0.9).abs() < 1e-12);
        assert_eq!(ema_alpha(10_000, 0.99), 0.99);
    }

    #[test]
    fn cosine_schedule_ends_at_zero() {
        assert_eq!(cosine_lr(0.1, 0, 100), 0.1);
        assert!(cosine_lr(0.1, 100, 100).abs() < 1e-12);
    }
}
