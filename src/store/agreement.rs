//! Inter-annotator agreement: Cohen's kappa (two annotators), its
//! quadratic-weighted form for ordinal fields, and Fleiss' kappa (more than two).
//!
//! Every function takes category indices (`0..categories`) and returns `None`
//! where the statistic is undefined (no items, or chance agreement already 1).

/// Cohen's kappa of paired ratings `(a, b)`.
pub fn cohen_kappa(pairs: &[(usize, usize)], categories: usize) -> Option<f64> {
    weighted_kappa(pairs, categories, |i, j| if i == j { 0.0 } else { 1.0 })
}

/// Quadratic-weighted Cohen's kappa: disagreement costs `(i − j)²`, so
/// confusing Stage 1 with Stage 2 costs less than with Stage 3.
pub fn quadratic_weighted_kappa(pairs: &[(usize, usize)], categories: usize) -> Option<f64> {
    let scale = ((categories.max(2) - 1) as f64).powi(2);
    weighted_kappa(pairs, categories, |i, j| {
        (i as f64 - j as f64).powi(2) / scale
    })
}

/// `1 − Σ w·observed / Σ w·expected`, with expected from the marginals.
fn weighted_kappa(
    pairs: &[(usize, usize)],
    categories: usize,
    weight: impl Fn(usize, usize) -> f64,
) -> Option<f64> {
    if pairs.is_empty()
        || categories == 0
        || pairs
            .iter()
            .any(|&(a, b)| a >= categories || b >= categories)
    {
        return None;
    }
    let n = pairs.len() as f64;
    let mut observed = vec![vec![0.0; categories]; categories];
    let mut row = vec![0.0; categories];
    let mut col = vec![0.0; categories];
    for &(a, b) in pairs {
        observed[a][b] += 1.0 / n;
        row[a] += 1.0 / n;
        col[b] += 1.0 / n;
    }
    let (mut weighted_observed, mut weighted_expected) = (0.0, 0.0);
    for i in 0..categories {
        for j in 0..categories {
            let w = weight(i, j);
            weighted_observed += w * observed[i][j];
            weighted_expected += w * row[i] * col[j];
        }
    }
    if weighted_expected <= f64::EPSILON {
        // Both annotators used one and the same category throughout: agreement is total but kappa undefined.
        return None;
    }
    Some(1.0 - weighted_observed / weighted_expected)
}

/// Fleiss' kappa: `counts[item][category]` = how many annotators chose that
/// category for that item. Items with fewer than two ratings are skipped.
pub fn fleiss_kappa(counts: &[Vec<usize>]) -> Option<f64> {
    let rated: Vec<&Vec<usize>> = counts
        .iter()
        .filter(|c| c.iter().sum::<usize>() >= 2)
        .collect();
    if rated.is_empty() {
        return None;
    }
    let categories = rated[0].len();
    let total_ratings: usize = rated.iter().map(|c| c.iter().sum::<usize>()).sum();
    let mut category_share = vec![0.0; categories];
    let mut mean_agreement = 0.0;
    for item in &rated {
        let n = item.iter().sum::<usize>() as f64;
        let pairs_agreeing: f64 = item.iter().map(|&c| (c * c) as f64).sum::<f64>() - n;
        mean_agreement += pairs_agreeing / (n * (n - 1.0));
        for (share, &count) in category_share.iter_mut().zip(item.iter()) {
            *share += count as f64 / total_ratings as f64;
        }
    }
    mean_agreement /= rated.len() as f64;
    let chance: f64 = category_share.iter().map(|p| p * p).sum();
    if (1.0 - chance).abs() <= f64::EPSILON {
        return None;
    }
    Some((mean_agreement - chance) / (1.0 - chance))
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!((fleiss_kappa(&counts).unwrap() - 0.210).abs() < 1e-3);
    }

    #[test]
    fn undefined_cases_are_none() {
        assert_eq!(cohen_kappa(&[], 3), None);
        assert_eq!(cohen_kappa(&[(1, 1), (1, 1)], 3), None);
        assert_eq!(cohen_kappa(&[(5, 1)], 3), None);
        assert_eq!(fleiss_kappa(&[vec![1, 0]]), None);
    }
}
