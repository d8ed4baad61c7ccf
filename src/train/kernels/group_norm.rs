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
//! Backward reads the activations three times — the statistics (both sums
//! in one pass), `Σ dy` and `Σ dy (x − μ)` of each channel together, `dx` —
//! and each pass has an AVX2 twin taken where the CPU has it (the compiler
//! left the portable loops mostly scalar, the ReLU's mask a branch per value).
//!
//! With `relu`, the rectifier that follows nearly every normalisation in
//! Loupe's networks is fused in: forward `y = max(0, γ_c x̂ + β_c)`, and
//! backward the output gradient is masked where that was not positive
//! (`dy ← dy · [γ_c x̂ + β_c > 0]`, recomputed from `x`, so the rectified
//! output need not be kept) before the formulas above — two passes over
//! the activations saved forward and three backward.

use rayon::prelude::*;

use super::cpu_features::avx2_fma;

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

/// Values summed in `f32` lanes before the lanes are added into `f64`.
const FLUSH: usize = 1024;

/// `(Σ f(a, b), Σ h(a, b))` over paired values in one pass: eight partial
/// sums each in `f32` (a single running sum would make every add wait for
/// the one before), added up in `f64` every [`FLUSH`] values so long groups
/// lose no precision. The portable twin of the [`avx2`] kernels.
fn lane_sums(
    a: &[f32],
    b: &[f32],
    f: impl Fn(f32, f32) -> f32,
    h: impl Fn(f32, f32) -> f32,
) -> (f64, f64) {
    const LANES: usize = 8;
    let (mut total_f, mut total_h) = (0.0f64, 0.0f64);
    for (a, b) in a.chunks(FLUSH).zip(b.chunks(FLUSH)) {
        let (mut lanes_f, mut lanes_h) = ([0.0f32; LANES], [0.0f32; LANES]);
        let ((a_blocks, a_rest), (b_blocks, b_rest)) =
            (a.as_chunks::<LANES>(), b.as_chunks::<LANES>());
        for (a, b) in a_blocks.iter().zip(b_blocks) {
            for i in 0..LANES {
                lanes_f[i] += f(a[i], b[i]);
                lanes_h[i] += h(a[i], b[i]);
            }
        }
        total_f += lanes_f.iter().map(|&v| v as f64).sum::<f64>();
        total_h += lanes_h.iter().map(|&v| v as f64).sum::<f64>();
        for (&x, &y) in a_rest.iter().zip(b_rest) {
            total_f += f(x, y) as f64;
            total_h += h(x, y) as f64;
        }
    }
    (total_f, total_h)
}

/// The ReLU's mask recomputed from `x`: the rectified output `x · scale +
/// shift` was positive.
#[derive(Clone, Copy, Debug)]
struct Cut {
    scale: f32,
    shift: f32,
}

impl Cut {
    fn apply(self, v: f32, d: f32) -> f32 {
        if v * self.scale + self.shift > 0.0 {
            d
        } else {
            0.0
        }
    }
}

/// The element-wise passes of one group, portable or in AVX2 registers
/// (chosen once per call from what the CPU has; both give the same sums
/// up to the order of `f32` additions).
#[derive(Clone, Copy, Debug)]
struct Passes {
    avx2: bool,
}

impl Passes {
    fn new() -> Self {
        Self {
            avx2: cfg!(target_arch = "x86_64") && avx2_fma(),
        }
    }

    /// `(Σ (x − K), Σ (x − K)²)`.
    fn shifted_sums(self, values: &[f32], shift: f32) -> (f64, f64) {
        #[cfg(target_arch = "x86_64")]
        if self.avx2 {
            // SAFETY: `avx2` is set only where the CPU has AVX2 and FMA.
            return unsafe { avx2::shifted_sums(values, shift) };
        }
        lane_sums(
            values,
            values,
            |v, _| v - shift,
            |v, _| (v - shift) * (v - shift),
        )
    }

    /// `(Σ d, Σ d (x − μ))` with `d` the output gradient, masked by `cut`.
    fn gradient_sums(self, x: &[f32], dy: &[f32], mean: f32, cut: Option<Cut>) -> (f64, f64) {
        #[cfg(target_arch = "x86_64")]
        if self.avx2 {
            // SAFETY: as above.
            return unsafe { avx2::gradient_sums(x, dy, mean, cut) };
        }
        // Monomorphised apart: a mask test in the plain loop cost 15 %.
        match cut {
            None => lane_sums(x, dy, |_, d| d, |v, d| d * (v - mean)),
            Some(cut) => lane_sums(
                x,
                dy,
                |v, d| cut.apply(v, d),
                |v, d| cut.apply(v, d) * (v - mean),
            ),
        }
    }

    /// `out = x · scale + shift`, rectified with `relu`.
    fn affine(self, out: &mut [f32], x: &[f32], scale: f32, shift: f32, relu: bool) {
        #[cfg(target_arch = "x86_64")]
        if self.avx2 {
            // SAFETY: as above.
            return unsafe { avx2::affine(out, x, scale, shift, relu) };
        }
        let floor = if relu { 0.0 } else { f32::NEG_INFINITY };
        for (o, &v) in out.iter_mut().zip(x) {
            *o = (v * scale + shift).max(floor);
        }
    }

    /// `dx = a · d + b · (x − μ) + c` with `d` the output gradient masked by `cut`.
    fn input_gradient(self, out: &mut [f32], x: &[f32], dy: &[f32], terms: DxTerms) {
        #[cfg(target_arch = "x86_64")]
        if self.avx2 {
            // SAFETY: as above.
            return unsafe { avx2::input_gradient(out, x, dy, terms) };
        }
        for ((o, &v), &d) in out.iter_mut().zip(x).zip(dy) {
            let d = terms.cut.map_or(d, |cut| cut.apply(v, d));
            *o = terms.a * d + terms.b * (v - terms.mean) + terms.c;
        }
    }
}

/// One channel's `dx = r (γ d − Σd̂/M − x̂ Σd̂x̂/M)` as `a · d + b · (x − μ) + c`.
#[derive(Clone, Copy, Debug)]
struct DxTerms {
    a: f32,
    b: f32,
    c: f32,
    mean: f32,
    cut: Option<Cut>,
}

/// The passes in 256-bit registers, eight values at a time.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{Cut, DxTerms, FLUSH};

    /// The eight lanes of `v` added up in `f64`.
    #[target_feature(enable = "avx2,fma")]
    fn lanes_f64(v: __m256) -> f64 {
        let mut lanes = [0.0f32; 8];
        // SAFETY: `lanes` is 8 floats, one 256-bit store.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), v) };
        lanes.iter().map(|&l| l as f64).sum()
    }

    /// Where `x · scale + shift > 0`, all ones; elsewhere zero.
    #[target_feature(enable = "avx2,fma")]
    fn positive(x: __m256, cut: Cut) -> __m256 {
        let y = _mm256_fmadd_ps(x, _mm256_set1_ps(cut.scale), _mm256_set1_ps(cut.shift));
        _mm256_cmp_ps::<_CMP_GT_OQ>(y, _mm256_setzero_ps())
    }

    /// See [`super::Passes::shifted_sums`].
    ///
    /// # Safety
    /// The CPU must have AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn shifted_sums(values: &[f32], shift: f32) -> (f64, f64) {
        let k = _mm256_set1_ps(shift);
        let (mut total, mut squares) = (0.0f64, 0.0f64);
        for chunk in values.chunks(FLUSH) {
            let (blocks, rest) = chunk.as_chunks::<8>();
            let (mut s, mut q) = (_mm256_setzero_ps(), _mm256_setzero_ps());
            for block in blocks {
                // SAFETY: `block` is 8 floats, one 256-bit load.
                let v = _mm256_sub_ps(unsafe { _mm256_loadu_ps(block.as_ptr()) }, k);
                s = _mm256_add_ps(s, v);
                q = _mm256_fmadd_ps(v, v, q);
            }
            total += lanes_f64(s);
            squares += lanes_f64(q);
            for &v in rest {
                total += (v - shift) as f64;
                squares += ((v - shift) * (v - shift)) as f64;
            }
        }
        (total, squares)
    }

    /// See [`super::Passes::gradient_sums`].
    ///
    /// # Safety
    /// The CPU must have AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn gradient_sums(
        x: &[f32],
        dy: &[f32],
        mean: f32,
        cut: Option<Cut>,
    ) -> (f64, f64) {
        let mu = _mm256_set1_ps(mean);
        let (mut total_d, mut total_dx) = (0.0f64, 0.0f64);
        for (x, dy) in x.chunks(FLUSH).zip(dy.chunks(FLUSH)) {
            let ((x_blocks, x_rest), (d_blocks, d_rest)) =
                (x.as_chunks::<8>(), dy.as_chunks::<8>());
            let (mut s, mut sx) = (_mm256_setzero_ps(), _mm256_setzero_ps());
            for (xb, db) in x_blocks.iter().zip(d_blocks) {
                // SAFETY: `xb` and `db` are 8 floats each, 256-bit loads.
                let (v, mut d) =
                    unsafe { (_mm256_loadu_ps(xb.as_ptr()), _mm256_loadu_ps(db.as_ptr())) };
                if let Some(cut) = cut {
                    d = _mm256_and_ps(d, positive(v, cut));
                }
                s = _mm256_add_ps(s, d);
                sx = _mm256_fmadd_ps(d, _mm256_sub_ps(v, mu), sx);
            }
            total_d += lanes_f64(s);
            total_dx += lanes_f64(sx);
            for (&v, &d) in x_rest.iter().zip(d_rest) {
                let d = cut.map_or(d, |cut| cut.apply(v, d));
                total_d += d as f64;
                total_dx += (d * (v - mean)) as f64;
            }
        }
        (total_d, total_dx)
    }

    /// See [`super::Passes::affine`].
    ///
    /// # Safety
    /// The CPU must have AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn affine(out: &mut [f32], x: &[f32], scale: f32, shift: f32, relu: bool) {
        let (a, b) = (_mm256_set1_ps(scale), _mm256_set1_ps(shift));
        let floor = if relu { 0.0 } else { f32::NEG_INFINITY };
        let low = _mm256_set1_ps(floor);
        let (out_blocks, out_rest) = out.as_chunks_mut::<8>();
        let (x_blocks, x_rest) = x.as_chunks::<8>();
        for (o, v) in out_blocks.iter_mut().zip(x_blocks) {
            // SAFETY: 8 floats each, a 256-bit load and store.
            unsafe {
                let y = _mm256_fmadd_ps(_mm256_loadu_ps(v.as_ptr()), a, b);
                _mm256_storeu_ps(o.as_mut_ptr(), _mm256_max_ps(y, low));
            }
        }
        for (o, &v) in out_rest.iter_mut().zip(x_rest) {
            *o = (v * scale + shift).max(floor);
        }
    }

    /// See [`super::Passes::input_gradient`].
    ///
    /// # Safety
    /// The CPU must have AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn input_gradient(out: &mut [f32], x: &[f32], dy: &[f32], terms: DxTerms) {
        let (a, b) = (_mm256_set1_ps(terms.a), _mm256_set1_ps(terms.b));
        let (c, mu) = (_mm256_set1_ps(terms.c), _mm256_set1_ps(terms.mean));
        let (out_blocks, out_rest) = out.as_chunks_mut::<8>();
        let ((x_blocks, x_rest), (d_blocks, d_rest)) = (x.as_chunks::<8>(), dy.as_chunks::<8>());
        for ((o, xb), db) in out_blocks.iter_mut().zip(x_blocks).zip(d_blocks) {
            // SAFETY: 8 floats each, 256-bit loads and a store.
            unsafe {
                let (v, mut d) = (_mm256_loadu_ps(xb.as_ptr()), _mm256_loadu_ps(db.as_ptr()));
                if let Some(cut) = terms.cut {
                    d = _mm256_and_ps(d, positive(v, cut));
                }
                let y = _mm256_fmadd_ps(d, a, _mm256_fmadd_ps(_mm256_sub_ps(v, mu), b, c));
                _mm256_storeu_ps(o.as_mut_ptr(), y);
            }
        }
        for ((o, &v), &d) in out_rest.iter_mut().zip(x_rest).zip(d_rest) {
            let d = terms.cut.map_or(d, |cut| cut.apply(v, d));
            *o = terms.a * d + terms.b * (v - terms.mean) + terms.c;
        }
    }
}

/// (μ, r) of one group's values, in one pass: the sums of `x − K` and
/// `(x − K)²` around the group's first value `K`, so that the variance
/// `E[(x − K)²] − E[x − K]²` does not cancel when the mean is far from 0.
fn statistics(passes: Passes, values: &[f32], epsilon: f64) -> (f32, f32) {
    let m = values.len().max(1) as f64;
    let shift = values.first().copied().unwrap_or(0.0);
    let (sum, squares) = passes.shifted_sums(values, shift);
    let mean_shifted = sum / m;
    let var = (squares / m - mean_shifted * mean_shifted).max(0.0);
    (
        (shift as f64 + mean_shifted) as f32,
        (1.0 / (var + epsilon).sqrt()) as f32,
    )
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
    let passes = Passes::new();
    y.par_chunks_mut(per_group)
        .zip(x.par_chunks(per_group))
        .enumerate()
        .for_each(|(index, (y_group, x_group))| {
            let (mean, rstd) = statistics(passes, x_group, epsilon);
            let first_channel = (index % shape.groups) * channels_per_group;
            for (c, (y_c, x_c)) in y_group
                .chunks_mut(shape.spatial)
                .zip(x_group.chunks(shape.spatial))
                .enumerate()
            {
                let scale = rstd * gamma[first_channel + c];
                let shift = beta[first_channel + c] - mean * scale;
                passes.affine(y_c, x_c, scale, shift, relu);
            }
        });
    y
}

/// One group of one image, for the backward pass: its channels' values
/// (`spatial` each), γ, and β where the ReLU was fused.
#[derive(Clone, Copy)]
struct Group<'a> {
    spatial: usize,
    gamma: &'a [f32],
    relu_beta: Option<&'a [f32]>,
    epsilon: f64,
    passes: Passes,
}

impl Group<'_> {
    /// The ReLU's mask of channel `c`, where it was fused.
    fn cut(&self, c: usize, mean: f32, rstd: f32) -> Option<Cut> {
        let scale = rstd * self.gamma[c];
        let beta = self.relu_beta?;
        Some(Cut {
            scale,
            shift: beta[c] - mean * scale,
        })
    }

    /// `dx` of one group (written into `dx_group`) and each channel's
    /// `(Σ dy x̂, Σ dy)`, in three passes: the statistics, both sums of
    /// each channel together, `dx`.
    fn backward(
        &self,
        x_group: &[f32],
        dy_group: &[f32],
        dx_group: &mut [f32],
        sums: &mut [(f64, f64)],
    ) {
        let (mean, rstd) = statistics(self.passes, x_group, self.epsilon);
        let (mut sum_d, mut sum_dx_hat) = (0.0f64, 0.0f64);
        for (c, sum) in sums.iter_mut().enumerate() {
            let values = c * self.spatial..(c + 1) * self.spatial;
            let (x_c, dy_c) = (&x_group[values.clone()], &dy_group[values]);
            let (dy_sum, dy_centred) =
                self.passes
                    .gradient_sums(x_c, dy_c, mean, self.cut(c, mean, rstd));
            let dy_x_hat = dy_centred * rstd as f64;
            *sum = (dy_x_hat, dy_sum);
            sum_d += self.gamma[c] as f64 * dy_sum;
            sum_dx_hat += self.gamma[c] as f64 * dy_x_hat;
        }
        let m = x_group.len().max(1) as f64;
        let (mean_d, mean_dx_hat) = ((sum_d / m) as f32, (sum_dx_hat / m) as f32);
        for c in 0..sums.len() {
            let values = c * self.spatial..(c + 1) * self.spatial;
            let terms = DxTerms {
                a: rstd * self.gamma[c],
                b: -rstd * rstd * mean_dx_hat,
                c: -rstd * mean_d,
                mean,
                cut: self.cut(c, mean, rstd),
            };
            self.passes.input_gradient(
                &mut dx_group[values.clone()],
                &x_group[values.clone()],
                &dy_group[values],
                terms,
            );
        }
    }
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
    let per_group = shape.per_group();
    let passes = Passes::new();
    // One task per group of an image: its dx, and each channel's (Σ dy x̂, Σ dy).
    let mut sums = vec![(0.0f64, 0.0f64); shape.batch * channels];
    dx.par_chunks_mut(per_group)
        .zip(sums.par_chunks_mut(channels_per_group))
        .enumerate()
        .for_each(|(index, (dx_group, sums))| {
            let first = (index % shape.groups) * channels_per_group;
            let group = Group {
                spatial: shape.spatial,
                gamma: &gamma[first..][..channels_per_group],
                relu_beta: relu_beta.map(|beta| &beta[first..][..channels_per_group]),
                epsilon,
                passes,
            };
            let values = index * per_group..(index + 1) * per_group;
            group.backward(&x[values.clone()], &dy[values], dx_group, sums);
        });
    // Added in image order, whatever thread finished first.
    let mut dgamma = vec![0.0f64; channels];
    let mut dbeta = vec![0.0f64; channels];
    for image in sums.chunks(channels) {
        for (c, &(dy_x_hat, dy_sum)) in image.iter().enumerate() {
            dgamma[c] += dy_x_hat;
            dbeta[c] += dy_sum;
        }
    }
    let to_f32 = |v: Vec<f64>| v.into_iter().map(|x| x as f32).collect();
    (dx, to_f32(dgamma), to_f32(dbeta))
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
    fn the_avx2_passes_are_the_portable_ones() {
        let fast = Passes::new();
        if !fast.avx2 {
            return; // nothing to compare on a CPU without AVX2
        }
        let portable = Passes { avx2: false };
        // Over one flush of the lanes and not a whole number of vectors.
        let n = FLUSH + 37;
        let x: Vec<f32> = (0..n)
            .map(|i| ((i * 7919) % 1000) as f32 / 250.0 - 1.5)
            .collect();
        let dy: Vec<f32> = (0..n)
            .map(|i| ((i * 104_729) % 997) as f32 / 500.0 - 1.0)
            .collect();
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-4 * (1.0 + a.abs());
        let (s, q) = fast.shifted_sums(&x, 0.7);
        let (s0, q0) = portable.shifted_sums(&x, 0.7);
        assert!(close(s, s0) && close(q, q0), "{s} {q} vs {s0} {q0}");
        let cut = Cut {
            scale: 1.3,
            shift: -0.4,
        };
        for cut in [None, Some(cut)] {
            let (d, dx) = fast.gradient_sums(&x, &dy, 0.2, cut);
            let (d0, dx0) = portable.gradient_sums(&x, &dy, 0.2, cut);
            assert!(
                close(d, d0) && close(dx, dx0),
                "{cut:?}: {d} {dx} vs {d0} {dx0}"
            );
            let terms = DxTerms {
                a: 0.9,
                b: -0.3,
                c: 0.05,
                mean: 0.2,
                cut,
            };
            let (mut out, mut out0) = (vec![0.0; n], vec![0.0; n]);
            fast.input_gradient(&mut out, &x, &dy, terms);
            portable.input_gradient(&mut out0, &x, &dy, terms);
            assert!(
                out.iter().zip(&out0).all(|(a, b)| (a - b).abs() < 1e-5),
                "{cut:?}"
            );
            // The masked values are exactly 0 · a + the rest.
            let masked = x
                .iter()
                .position(|&v| v * 1.3 - 0.4 <= 0.0)
                .expect("a masked value");
            if cut.is_some() {
                let expected = -0.3 * (x[masked] - 0.2) + 0.05;
                assert!((out[masked] - expected).abs() < 1e-6);
            }
        }
        for relu in [false, true] {
            let (mut out, mut out0) = (vec![0.0; n], vec![0.0; n]);
            fast.affine(&mut out, &x, 1.3, -0.4, relu);
            portable.affine(&mut out0, &x, 1.3, -0.4, relu);
            assert!(
                out.iter().zip(&out0).all(|(a, b)| (a - b).abs() < 1e-6),
                "relu {relu}"
            );
            assert_eq!(out.iter().any(|&v| v < 0.0), !relu);
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
