//! Inter-annotator agreement: Cohen's kappa (two annotators), its
//! quadratic-weighted form for ordinal fields, and Fleiss' kappa (more than two).
//!
//! Every function takes category indices (`0..categories`) and returns `None`
//! where the statistic is undefined (no items, or chance agreement already 1).

use std::collections::BTreeMap;

/// One annotator pair's kappa on a field, over the units both rated.
#[derive(Clone, Debug, serde::Serialize, PartialEq)]
pub struct PairKappa {
    pub annotators: [String; 2],
    pub items: usize,
    pub kappa: Option<f64>,
}

/// Agreement on one field over rated units (items, or eyes at exams).
#[derive(Clone, Debug, PartialEq)]
pub struct UnitAgreement {
    /// Cohen's kappa per annotator pair (quadratic-weighted when ordinal).
    pub pairs: Vec<PairKappa>,
    /// Fleiss' kappa when more than two annotators rated.
    pub fleiss: Option<f64>,
    /// The indices of the units whose annotators' values differ.
    pub disagreeing: Vec<usize>,
}

/// The one agreement rule for a field: `units[k]` maps each annotator who
/// rated unit `k` to a category index (`0..categories`); `annotators` in
/// the order pairs are formed.
pub fn unit_agreement(
    units: &[BTreeMap<String, usize>],
    annotators: &[String],
    categories: usize,
    ordinal: bool,
) -> UnitAgreement {
    let mut pairs = Vec::new();
    for (a, first) in annotators.iter().enumerate() {
        for second in &annotators[a + 1..] {
            let ratings: Vec<(usize, usize)> = units
                .iter()
                .filter_map(|unit| Some((*unit.get(first)?, *unit.get(second)?)))
                .collect();
            let kappa = if ordinal {
                quadratic_weighted_kappa(&ratings, categories)
            } else {
                cohen_kappa(&ratings, categories)
            };
            pairs.push(PairKappa {
                annotators: [first.clone(), second.clone()],
                items: ratings.len(),
                kappa,
            });
        }
    }
    let chosen: Vec<Vec<usize>> = units
        .iter()
        .map(|u| u.values().copied().collect())
        .collect();
    let disagreeing = chosen
        .iter()
        .enumerate()
        .filter(|(_, c)| c.iter().any(|&v| v != c[0]))
        .map(|(k, _)| k)
        .collect();
    UnitAgreement {
        pairs,
        fleiss: if annotators.len() > 2 {
            fleiss_kappa(&chosen)
        } else {
            None
        },
        disagreeing,
    }
}

/// Cohen's kappa of paired ratings `(a, b)`.
pub fn cohen_kappa(pairs: &[(usize, usize)], categories: usize) -> Option<f64> {
    weighted_kappa(pairs, categories, Weights::Nominal)
}

/// Quadratic-weighted Cohen's kappa: disagreement costs `(i − j)²`, so
/// confusing Stage 1 with Stage 2 costs less than with Stage 3.
pub fn quadratic_weighted_kappa(pairs: &[(usize, usize)], categories: usize) -> Option<f64> {
    weighted_kappa(pairs, categories, Weights::Quadratic)
}

/// What a disagreement between categories `i` and `j` costs.
#[derive(Clone, Copy)]
enum Weights {
    /// 1 for any disagreement.
    Nominal,
    /// `(i − j)²`, scaled by `(categories − 1)²`.
    Quadratic,
}

/// `1 − Σ w·observed / Σ w·expected`, with expected from the marginals.
/// Both sums in closed form (`O(items + categories)` time and memory, no
/// categories² table), so a field with many values costs no more than its
/// ratings: for nominal weights `Σ w·p_i·q_j = 1 − Σ p_i·q_i`, for
/// quadratic ones `Σ (i − j)²·p_i·q_j = E[i²] + E[j²] − 2·E[i]·E[j]`.
fn weighted_kappa(pairs: &[(usize, usize)], categories: usize, weights: Weights) -> Option<f64> {
    if pairs.is_empty()
        || categories == 0
        || pairs
            .iter()
            .any(|&(a, b)| a >= categories || b >= categories)
    {
        return None;
    }
    let n = pairs.len() as f64;
    let scale = ((categories.max(2) - 1) as f64).powi(2);
    let weight = |i: usize, j: usize| match weights {
        Weights::Nominal => f64::from(u8::from(i != j)),
        Weights::Quadratic => (i as f64 - j as f64).powi(2) / scale,
    };
    let weighted_observed = pairs.iter().map(|&(a, b)| weight(a, b)).sum::<f64>() / n;
    let weighted_expected = match weights {
        Weights::Nominal => {
            let mut row = std::collections::HashMap::<usize, f64>::new();
            let mut col = std::collections::HashMap::<usize, f64>::new();
            for &(a, b) in pairs {
                *row.entry(a).or_default() += 1.0 / n;
                *col.entry(b).or_default() += 1.0 / n;
            }
            1.0 - row
                .iter()
                .map(|(i, p)| p * col.get(i).copied().unwrap_or(0.0))
                .sum::<f64>()
        }
        Weights::Quadratic => {
            let mean = |f: &dyn Fn(&(usize, usize)) -> f64| pairs.iter().map(f).sum::<f64>() / n;
            let (a1, b1) = (mean(&|p| p.0 as f64), mean(&|p| p.1 as f64));
            let (a2, b2) = (
                mean(&|p| (p.0 as f64).powi(2)),
                mean(&|p| (p.1 as f64).powi(2)),
            );
            (a2 + b2 - 2.0 * a1 * b1) / scale
        }
    };
    if weighted_expected <= 1e-12 {
        // Both annotators used one and the same category throughout: agreement is total but kappa undefined.
        return None;
    }
    Some(chance_is_zero(1.0 - weighted_observed / weighted_expected))
}

/// Agreement at exactly chance, reached through sums of fractions, lands a
/// rounding error either side of 0 (printed as "-0.000"): it is 0.
fn chance_is_zero(kappa: f64) -> f64 {
    if kappa.abs() < 1e-12 { 0.0 } else { kappa }
}

/// Fleiss' kappa: `ratings[item]` lists the category each annotator chose
/// for that item (any order). Items with fewer than two ratings are
/// skipped. Time and memory grow with the ratings, not items × categories.
pub fn fleiss_kappa(ratings: &[Vec<usize>]) -> Option<f64> {
    let rated: Vec<&Vec<usize>> = ratings.iter().filter(|r| r.len() >= 2).collect();
    if rated.is_empty() {
        return None;
    }
    let total_ratings: usize = rated.iter().map(|r| r.len()).sum();
    let mut category_count = std::collections::HashMap::<usize, usize>::new();
    let mut mean_agreement = 0.0;
    for item in &rated {
        let mut sorted = (*item).clone();
        sorted.sort_unstable();
        let n = sorted.len() as f64;
        let mut pairs_agreeing = -n;
        for run in sorted.chunk_by(|a, b| a == b) {
            pairs_agreeing += (run.len() * run.len()) as f64;
            *category_count.entry(run[0]).or_default() += run.len();
        }
        mean_agreement += pairs_agreeing / (n * (n - 1.0));
    }
    mean_agreement /= rated.len() as f64;
    let chance: f64 = category_count
        .values()
        .map(|&c| (c as f64 / total_ratings as f64).powi(2))
        .sum();
    if (1.0 - chance).abs() <= 1e-12 {
        return None;
    }
    Some(chance_is_zero((mean_agreement - chance) / (1.0 - chance)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agreement_at_chance_is_zero_not_a_rounding_error_below_it() {
        // One grader never refers; the other refers one eye of 55: observed
        // agreement 54/55 is what chance gives, kappa 0 (sums of 1/55 leave
        // a rounding error that printed as "-0.000").
        let mut pairs = vec![(0, 0); 54];
        pairs.push((1, 0));
        let kappa = cohen_kappa(&pairs, 2).unwrap();
        assert_eq!(kappa, 0.0);
        assert!(kappa.is_sign_positive());
        assert_eq!(format!("{kappa:.3}"), "0.000");
    }

    #[test]
    fn cohen_kappa_matches_a_worked_example() {
        // 50 items: both "yes" 20, both "no" 15, a yes/b no 5, a no/b yes 10.
        // po = 0.7, pe = 0.5·0.6 + 0.5·0.4 = 0.5 → κ = 0.4.
        let mut pairs = vec![(0, 0); 20];
        pairs.extend(vec![(1, 1); 15]);
        pairs.extend(vec![(0, 1); 5]);
        pairs.extend(vec![(1, 0); 10]);
        assert!((cohen_kappa(&pairs, 2).unwrap() - 0.4).abs() < 1e-12);
    }

    #[test]
    fn weighted_kappa_penalises_distant_disagreement_more() {
        let near = [(0, 0), (1, 2), (2, 2), (3, 3), (2, 1), (0, 0)];
        let far = [(0, 0), (1, 3), (2, 2), (3, 3), (2, 0), (0, 0)];
        let near_k = quadratic_weighted_kappa(&near, 4).unwrap();
        let far_k = quadratic_weighted_kappa(&far, 4).unwrap();
        assert!(near_k > far_k, "{near_k} vs {far_k}");
        assert_eq!(
            quadratic_weighted_kappa(&[(0, 0), (1, 1), (2, 2)], 3),
            Some(1.0)
        );
    }

    #[test]
    fn fleiss_kappa_matches_the_wikipedia_example() {
        // Fleiss (1971) example as given on Wikipedia: 10 items, 14 raters, 5 categories → κ ≈ 0.210.
        let counts = vec![
            vec![0, 0, 0, 0, 14],
            vec![0, 2, 6, 4, 2],
            vec![0, 0, 3, 5, 6],
            vec![0, 3, 9, 2, 0],
            vec![2, 2, 8, 1, 1],
            vec![7, 7, 0, 0, 0],
            vec![3, 2, 6, 3, 0],
            vec![2, 5, 3, 2, 2],
            vec![6, 5, 2, 1, 0],
            vec![0, 2, 2, 3, 7],
        ];
        let ratings: Vec<Vec<usize>> = counts
            .iter()
            .map(|row: &Vec<usize>| {
                row.iter()
                    .enumerate()
                    .flat_map(|(category, &count)| std::iter::repeat_n(category, count))
                    .collect()
            })
            .collect();
        assert!((fleiss_kappa(&ratings).unwrap() - 0.210).abs() < 1e-3);
    }

    #[test]
    fn undefined_cases_are_none() {
        assert_eq!(cohen_kappa(&[], 3), None);
        assert_eq!(cohen_kappa(&[(1, 1), (1, 1)], 3), None);
        assert_eq!(cohen_kappa(&[(5, 1)], 3), None);
        assert_eq!(fleiss_kappa(&[vec![0]]), None);
        assert_eq!(
            fleiss_kappa(&[vec![2, 2], vec![2, 2, 2]]),
            None,
            "all one category"
        );
    }
}
