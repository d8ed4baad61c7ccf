//! The one rule for splitting a group: how many of `n` members a fraction
//! takes (rounded to the nearest whole member), and the limits a split's
//! fractions respect. The import's test split, the demos' pools and the
//! training runs' validation splits all count with it, so a fraction means
//! the same number of items everywhere.

use std::ops::RangeInclusive;

/// The test pool's fraction (the import, the demos, the project picker): at
/// most half, so the labeled pool keeps at least as many.
pub const TEST_FRACTION: RangeInclusive<f64> = 0.0..=0.5;

/// How many of `n` members a split of `fraction` takes: `round(fraction · n)`.
pub fn share(fraction: f64, n: usize) -> usize {
    ((fraction * n as f64).round().max(0.0) as usize).min(n)
}

/// [`share`], leaving at least one member out of the split (a validation
/// split never takes the last labeled case a run could train on).
pub fn share_leaving_one(fraction: f64, n: usize) -> usize {
    share(fraction, n).min(n.saturating_sub(1))
}

/// An error naming `name` when `fraction` is outside the test pool's limits.
pub fn check_test_fraction(name: &str, fraction: f64) -> Result<(), String> {
    if TEST_FRACTION.contains(&fraction) {
        Ok(())
    } else {
        Err(format!(
            "{name} {fraction} must be between {} and {}",
            TEST_FRACTION.start(),
            TEST_FRACTION.end()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_share_rounds_to_the_nearest_member() {
        assert_eq!(share(0.2, 12), 2); // 2.4
        assert_eq!(share(0.25, 10), 3); // 2.5 rounds away from zero
        assert_eq!(share(0.5, 3), 2);
        assert_eq!(share(0.0, 7), 0);
        assert_eq!(share_leaving_one(0.5, 1), 0);
        assert_eq!(share_leaving_one(0.9, 4), 3);
        assert!(check_test_fraction("--test-fraction", 0.6).is_err());
        assert!(check_test_fraction("--test-fraction", 0.5).is_ok());
    }
}
