//! Group normalisation forward and backward in one pass each over the
//! activations, on plain `f32` slices laid out `N × C × S` (S: every
//! spatial element of a channel). Burn's `GroupNorm` composes about nine
//! element-wise and reduction passes forward and more backward; at Loupe's
//! widths (8–64 channels) those passes are memory-bound.
//!
//! For each image n and group g of `C / G` channels (M = C/G · S values):
//! `μ = Σx / M`, `σ² = Σ(x − μ)² / M`, `r = 1 / √(σ² + ε)`,
//! `x̂ = (x − μ) r`, `y = γ_c x̂ + β_c`. Backward, with `d̂ = γ_c dy`:
//! `dx = r (d̂ − Σd̂ / M − x̂ Σ(d̂ x̂) / M)`, `dγ_c = Σ dy x̂`, `dβ_c = Σ dy`.
//! Sums run in eight `f32` lanes, gathered in `f64` every 1024 values.
//!
//! With `relu`, the rectifier that follows nearly every normalisation in
//! Loupe's networks is fused in: forward `y = max(0, γ_c x̂ + β_c)`, and
//! backward the output gradient is masked where that was not positive
//! (`dy ← dy · [γ_c x̂ + β_c > 0]`, recomputed from `x`, so the rectified
//! output need not be kept) before the formulas above — two passes over
//! the activations saved forward and three backward.

use rayon::prelude::*;

/// Sizes of one group normalisation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GroupShape {
    pub batch: usize,
    pub channels: usize,
    /// Elements per channel (H·W, or D·H·W).
    pub spatial: usize,
    pub groups: usize,
}

impl GroupShape {
    /// `None` unless the groups divide the channels.
    pub fn new(dims: &[usize], groups: usize) -> Option<Self> {
        let (&batch, rest) = dims.split_first()?;
        let (&channels, spatial) = rest.split_first()?;
        if groups == 0 || channels % groups != 0 {
            return None;
        }
        Some(Self {
            batch,
            channels,
            spatial: spatial.iter().product(),
            groups,
        })
    }

    fn per_group(&self) -> usize {
        self.channels / self.groups * self.spatial
    }

    fn image(&self) -> usize {
        self.channels * self.spatial
    }
}

/// `Σ f(a, b)` over paired values: eight partial sums in `f32` (which the
/// compiler keeps in one vector register — a single running sum would make
/// every add wait for the one before), added up in `f64` every 1024 values
/// so long groups lose no precision.
fn lane_sum(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) -> f64 {
    const LANES: usize = 8;
    let mut total = 0.0f64;
    for (a, b) in a.chunks(1024).zip(b.chunks(1024)) {
        let mut lanes = [0.0f32; LANES];
        let (a_chunks, b_chunks) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
        let (a_rest, b_rest) = (a_chunks.remainder(), b_chunks.remainder());
        for (a, b) in a_chunks.zip(b_chunks) {
            for i in 0..LANES {
                lanes[i] += f(a[i], b[i]);
            }
        }
        total += lanes.iter().map(|&v| v as f64).sum::<f64>();
        total += a_rest
            .iter()
            .zip(b_rest)
            .map(|(&x, &y)| f(x, y) as f64)
            .sum::<f64>();
    }
    total
}

/// (μ, r) of one group's values.
fn statistics(values: &[f32], epsilon: f64) -> (f32, f32) {
    let m = values.len().max(1) as f64;
    let mean = (lane_sum(values, values, |v, _| v) / m) as f32;
    let var = lane_sum(values, values, |v, _| (v - mean) * (v - mean)) / m;
    (mean, (1.0 / (var + epsilon).sqrt()) as f32)
}

/// Forward pass: returns `y` (rectified with `relu`).
pub fn forward(
    shape: &GroupShape,
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    epsilon: f64,
    relu: bool,
) -> Vec<f32> {
    assert_eq!(
        x.len(),
        shape.batch * shape.image(),
        "group norm input size"
    );
    assert_eq!(gamma.len(), shape.channels, "group norm γ size");
    assert_eq!(beta.len(), shape.channels, "group norm β size");
    let mut y = vec![0.0f32; x.len()];
    let per_group = shape.per_group();
    if per_group == 0 {
        return y;
    }
    let channels_per_group = shape.channels / shape.groups;
    y.par_chunks_mut(per_group)
        .zip(x.par_chunks(per_group))
        .enumerate()
        .for_each(|(index, (y_group, x_group))| {
            let (mean, rstd) = statistics(x_group, epsilon);
            let first_channel = (index % shape.groups) * channels_per_group;
            for (c, (y_c, x_c)) in y_group
                .chunks_mut(shape.spatial)
                .zip(x_group.chunks(shape.spatial))
                .enumerate()
            {
                let scale = rstd * gamma[first_channel + c];
                let shift = beta[first_channel + c] - mean * scale;
                if relu {
                    for (out, &v) in y_c.iter_mut().zip(x_c) {
                        *out = (v * scale + shift).max(0.0);
                    }
                } else {
                    for (out, &v) in y_c.iter_mut().zip(x_c) {
                        *out = v * scale + shift;
                    }
                }
            }
        });
    y
}

/// Backward pass: `(dx, dγ, dβ)`; `relu_beta` is β when the forward pass
/// was rectified (the mask is recomputed from it), `None` when it was not.
pub fn backward(
    shape: &GroupShape,
    x: &[f32],
    gamma: &[f32],
    relu_beta: Option<&[f32]>,
    dy: &[f32],
    epsilon: f64,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    assert_eq!(
        x.len(),
        shape.batch * shape.image(),
        "group norm input size"
    );
    assert_eq!(dy.len(), x.len(), "group norm output gradient size");
    assert_eq!(gamma.len(), shape.channels, "group norm γ size");
    if let Some(beta) = relu_beta {
        assert_eq!(beta.len(), shape.channels, "group norm β size");
    }
    let mut dx = vec![0.0f32; x.len()];
    let channels = shape.channels;
    if shape.image() == 0 || shape.batch == 0 {
        return (dx, vec![0.0; channels], vec![0.0; channels]);
    }
    let channels_per_group = channels / shape.groups;
    let image = shape.image();
    // One task per image: its dx, and its share of dγ and dβ.
    let partials: Vec<(Vec<f64>, Vec<f64>)> = dx
        .par_chunks_mut(image)
        .enumerate()
        .map(|(n, dx_image)| {
            let mut dgamma = vec![0.0f64; channels];
            let mut dbeta = vec![0.0f64; channels];
            let x_image = &x[n * image..][..image];
            let dy_image = &dy[n * image..][..image];
            let per_group = shape.per_group();
            for g in 0..shape.groups {
                let range = g * per_group..(g + 1) * per_group;
                let (x_group, dy_group) = (&x_image[range.clone()], &dy_image[range.clone()]);
                let (mean, rstd) = statistics(x_group, epsilon);
                let (mut sum_d, mut sum_dx_hat) = (0.0f64, 0.0f64);
                for c in 0..channels_per_group {
                    let channel = g * channels_per_group + c;
                    let values = c * shape.spatial..(c + 1) * shape.spatial;
                    let (x_c, dy_c) = (&x_group[values.clone()], &dy_group[values]);
                    let x_hat = |v: f32| (v - mean) * rstd;
                    // Monomorphised apart: without a ReLU the sums are the
                    // plain ones (a mask test in the loop cost 15 %).
                    let (dy_sum, dy_x_hat) =
                        match relu_cut(relu_beta, gamma[channel], channel, mean, rstd) {
                            None => (
                                lane_sum(dy_c, dy_c, |d, _| d),
                                lane_sum(x_c, dy_c, |v, d| d * x_hat(v)),
                            ),
                            Some(cut) => (
                                lane_sum(x_c, dy_c, |v, d| cut(v, d)),
                                lane_sum(x_c, dy_c, |v, d| cut(v, d) * x_hat(v)),
                            ),
                        };
                    dgamma[channel] += dy_x_hat;
                    dbeta[channel] += dy_sum;
                    sum_d += gamma[channel] as f64 * dy_sum;
                    sum_dx_hat += gamma[channel] as f64 * dy_x_hat;
                }
                let m = per_group as f64;
                let (mean_d, mean_dx_hat) = ((sum_d / m) as f32, (sum_dx_hat / m) as f32);
                let dx_group = &mut dx_image[range];
                for c in 0..channels_per_group {
                    let channel = g * channels_per_group + c;
                    let g_c = gamma[channel];
                    let values = c * shape.spatial..(c + 1) * shape.spatial;
                    let (out, x_c, dy_c) = (
                        &mut dx_group[values.clone()],
                        &x_group[values.clone()],
                        &dy_group[values],
                    );
                    let dx = |v: f32, d: f32| {
                        rstd * (g_c * d - mean_d - (v - mean) * rstd * mean_dx_hat)
                    };
                    match relu_cut(relu_beta, g_c, channel, mean, rstd) {
                        None => fill_dx(out, x_c, dy_c, |v, d| dx(v, d)),
                        Some(cut) => fill_dx(out, x_c, dy_c, |v, d| dx(v, cut(v, d))),
                    }
                }
            }
            (dgamma, dbeta)
        })
        .collect();
    // Added in image order, whatever thread finished first.
    let mut dgamma = vec![0.0f64; channels];
    let mut dbeta = vec![0.0f64; channels];
    for (pg, pb) in partials {
        for c in 0..channels {
            dgamma[c] += pg[c];
            dbeta[c] += pb[c];
        }
    }
    let to_f32 = |v: Vec<f64>| v.into_iter().map(|x| x as f32).collect();
    (dx, to_f32(dgamma), to_f32(dbeta))
}

/// With a ReLU fused (`relu_beta` given), the output gradient as the
/// normalisation sees it: `dy` where the rectified output `γ x̂ + β` was
/// positive, 0 elsewhere; `None` without one.
fn relu_cut(
    relu_beta: Option<&[f32]>,
    gamma: f32,
    channel: usize,
    mean: f32,
    rstd: f32,
) -> Option<impl Fn(f32, f32) -> f32 + Copy> {
    let scale = rstd * gamma;
    let shift = relu_beta?[channel] - mean * scale;
    Some(move |v: f32, d: f32| if v * scale + shift > 0.0 { d } else { 0.0 })
}

/// `out[i] = dx(x[i], dy[i])` over one channel.
fn fill_dx(out: &mut [f32], x: &[f32], dy: &[f32], dx: impl Fn(f32, f32) -> f32) {
    for ((o, &v), &d) in out.iter_mut().zip(x).zip(dy) {
        *o = dx(v, d);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hand_computed_group() {
        // One image, 2 channels in 1 group, 2 values each: x = 1, 3 | 5, 7.
        // μ = 4, σ² = (9 + 1 + 1 + 9) / 4 = 5, r = 1/√5 (ε = 0).
        let shape = GroupShape::new(&[1, 2, 2], 1).expect("shape");
        let x = [1.0, 3.0, 5.0, 7.0];
        let y = forward(&shape, &x, &[2.0, 1.0], &[0.5, -1.0], 0.0, false);
        let r = 1.0 / 5f32.sqrt();
        let expected = [2.0 * -3.0 * r + 0.5, 2.0 * -r + 0.5, r - 1.0, 3.0 * r - 1.0];
        for (a, b) in y.iter().zip(expected) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
        // dy = 1 everywhere, γ = (2, 1): dβ = (2, 2), dγ = Σ x̂ per channel
        // = (−4r, 4r); d̂ = (2, 2, 1, 1), Σd̂/M = 1.5, Σd̂x̂/M = (2·−4r + 4r)/4 = −r.
        let (dx, dgamma, dbeta) = backward(&shape, &x, &[2.0, 1.0], None, &[1.0; 4], 0.0);
        assert_eq!(dbeta, vec![2.0, 2.0]);
        assert!((dgamma[0] + 4.0 * r).abs() < 1e-6 && (dgamma[1] - 4.0 * r).abs() < 1e-6);
        let x_hat = [-3.0 * r, -r, r, 3.0 * r];
        let d_hat = [2.0, 2.0, 1.0, 1.0];
        for i in 0..4 {
            let expected = r * (d_hat[i] - 1.5 - x_hat[i] * -r);
            assert!(
                (dx[i] - expected).abs() < 1e-6,
                "dx[{i}] {} vs {expected}",
                dx[i]
            );
        }
    }

    #[test]
    fn a_hand_computed_group_with_the_relu_fused() {
        // The group above: y = (2·−3r + 0.5, 2·−r + 0.5, r − 1, 3r − 1), r = 1/√5
        // = (−2.18, −0.39, −0.55, 0.34): only the last is positive.
        let shape = GroupShape::new(&[1, 2, 2], 1).expect("shape");
        let x = [1.0, 3.0, 5.0, 7.0];
        let (gamma, beta) = ([2.0, 1.0], [0.5, -1.0]);
        let r = 1.0 / 5f32.sqrt();
        let y = forward(&shape, &x, &gamma, &beta, 0.0, true);
        assert_eq!(&y[..3], &[0.0; 3]);
        assert!((y[3] - (3.0 * r - 1.0)).abs() < 1e-6);
        // dy = 1 passes only at the last value: dβ = (0, 1), dγ = (0, x̂₃ = 3r);
        // d̂ = (0, 0, 0, 1), Σd̂/M = 1/4, Σd̂x̂/M = 3r/4.
        let (dx, dgamma, dbeta) = backward(&shape, &x, &gamma, Some(&beta), &[1.0; 4], 0.0);
        assert_eq!(dbeta, vec![0.0, 1.0]);
        assert!(dgamma[0].abs() < 1e-6 && (dgamma[1] - 3.0 * r).abs() < 1e-6);
        let x_hat = [-3.0 * r, -r, r, 3.0 * r];
        let d_hat = [0.0, 0.0, 0.0, 1.0];
        for i in 0..4 {
            let expected = r * (d_hat[i] - 0.25 - x_hat[i] * 0.75 * r);
            assert!(
                (dx[i] - expected).abs() < 1e-6,
                "dx[{i}] {} vs {expected}",
                dx[i]
            );
        }
    }

    #[test]
    fn shapes_the_groups_do_not_divide_are_refused() {
        assert_eq!(GroupShape::new(&[2, 6, 4, 4], 4), None);
        assert_eq!(GroupShape::new(&[2], 1), None);
        let shape = GroupShape::new(&[2, 6, 4, 4, 3], 3).expect("5-D input");
        assert_eq!(shape.spatial, 48);
    }
}
