//! 3-D convolution (groups = 1) on the CPU as a sum over the kernel's depth
//! taps of 2-D convolutions run by [`conv`], forward and both halves of the
//! backward pass, on plain `f32` slices in NCDHW order.
//!
//! Output depth slice `od` of volume `n` is
//! `Y[n, :, od] = Σ_kz conv2d(X[n, :, d(od, kz)], W[:, :, kz])`, with
//! `d = od · stride + kz · dilation − padding` (no term where `d` falls
//! outside the volume). The input is laid out once by depth slice with the
//! depth padding as zero slices; at depth stride 1 the slices a tap reads
//! for one volume are consecutive and are convolved in place, otherwise every
//! `(n, od)` pair's slice is gathered into one batch of `N · Do` images of
//! `C` channels. Each tap is then 2-D convolutions by the tuned kernels of
//! [`conv`] (gemm per band of rows, images spread over the threads), the
//! taps accumulating into one output:
//!
//! - forward: `Y = Σ_kz conv2d(gather_kz(X), W_kz)`
//! - input gradient: `dX = Σ_kz scatter_kz(conv2d_input_grad(W_kz, dY))`
//! - weight gradient: `dW_kz = conv2d_weight_grad(gather_kz(X), dY)`
//!
//! Where few channels would leave gemm's tiles half empty (strides 1 or 2,
//! up to 32 output channels), [`direct3d`]'s unfold-free kernels take the
//! pass instead; `forward_by_products` and its two twins never do (what
//! `loupe bench conv3d` sets beside them).
//!
//! Why not Burn's: `flex`'s 3-D convolution and its backward ran a training
//! step of the 3-D teacher at 0.17× PyTorch (`loupe bench training
//! --networks i3d`); the 2-D kernels already sit near the machine's peak
//! and the taps reuse them. The layout by slice costs one copy of the input
//! (plus one per tap where strided taps are gathered; the 2-D unfolding
//! inside copies `kh · kw` per tap anyway).

use rayon::prelude::*;

use std::ops::Range;

use super::direct3d;
pub use super::geometry3d::Conv3dGeometry;

use super::conv::{
    self, ConvGeometry, Matrix, fold_row_add, matmul, swap_axes, swap_axes_owned, unfold_row,
    valid_range,
};

/// Output planes at most this small (pixels) are convolved by whole
/// volumes (`by_volume`): a 2-D product per plane would be a call with a
/// handful of columns (25 at the 3-D teacher's last block), most of its
/// time spent outside the arithmetic.
const SMALL_PLANE: usize = 400;

/// Whether `g` runs by whole volumes: 3-D unfolding, one product per band
/// of output slices, rather than 2-D convolutions per depth tap.
fn by_volume(g: &Conv3dGeometry) -> bool {
    g.out_plane() <= SMALL_PLANE
}

/// Rows of the 3-D unfolding: `C · kd · kh · kw`, in the kernel's order.
fn col_rows(g: &Conv3dGeometry) -> usize {
    g.in_channels * g.kernel_d * g.plane.kernel_h * g.plane.kernel_w
}

/// Bands of output slices whose unfolding stays within about 256 KiB (as
/// the 2-D kernels' row bands do).
fn bands(g: &Conv3dGeometry) -> impl Iterator<Item = Range<usize>> + '_ {
    const BAND_FLOATS: usize = 64 * 1024;
    let step = (BAND_FLOATS / (col_rows(g) * g.out_plane()).max(1)).clamp(1, g.out_d.max(1));
    (0..g.out_d)
        .step_by(step)
        .map(move |od| od..(od + step).min(g.out_d))
}

fn band_buffer(g: &Conv3dGeometry) -> Vec<f32> {
    let widest = bands(g).map(|b| b.len()).max().unwrap_or(0);
    vec![0.0f32; col_rows(g) * widest * g.out_plane()]
}

/// Unfolds output slices `band` of one volume (`C × D × H × W`) into `col`
/// (`C·kd·kh·kw × band.len()·Ho·Wo`): row `(c, kz, ky, kx)` holds, for every
/// output voxel of the band, the input value under that tap (0 in the padding).
fn unfold_band(g: &Conv3dGeometry, volume: &[f32], col: &mut [f32], band: Range<usize>) {
    let p = &g.plane;
    let (ow, ohw, in_hw) = (p.out_w, g.out_plane(), p.in_h * p.in_w);
    let width = band.len() * ohw;
    let mut row = 0;
    for c in 0..g.in_channels {
        for kz in 0..g.kernel_d {
            for ky in 0..p.kernel_h {
                let y_offset = (ky * p.dilation[0]) as isize - p.pad_begin[0] as isize;
                let (y_lo, y_hi) = valid_range(p.out_h, p.in_h, p.stride[0], y_offset);
                for kx in 0..p.kernel_w {
                    let x_offset = (kx * p.dilation[1]) as isize - p.pad_begin[1] as isize;
                    let x_valid = valid_range(ow, p.in_w, p.stride[1], x_offset);
                    let dst_row = &mut col[row * width..][..width];
                    for (b, od) in band.clone().enumerate() {
                        let dst = &mut dst_row[b * ohw..][..ohw];
                        let Some(d) = g.input_slice(od, kz) else {
                            dst.fill(0.0);
                            continue;
                        };
                        let plane = &volume[(c * g.in_d + d) * in_hw..][..in_hw];
                        dst[..y_lo * ow].fill(0.0);
                        dst[y_hi * ow..].fill(0.0);
                        for oy in y_lo..y_hi {
                            let iy = ((oy * p.stride[0]) as isize + y_offset) as usize;
                            let src = &plane[iy * p.in_w..][..p.in_w];
                            unfold_row(
                                &mut dst[oy * ow..][..ow],
                                src,
                                x_valid,
                                p.stride[1],
                                x_offset,
                            );
                        }
                    }
                    row += 1;
                }
            }
        }
    }
}

/// The adjoint of [`unfold_band`]: adds the unfolded gradient `col` of
/// `band` back onto one volume's gradient.
fn fold_band_add(g: &Conv3dGeometry, col: &[f32], volume: &mut [f32], band: Range<usize>) {
    let p = &g.plane;
    let (ow, ohw, in_hw) = (p.out_w, g.out_plane(), p.in_h * p.in_w);
    let width = band.len() * ohw;
    let mut row = 0;
    for c in 0..g.in_channels {
        for kz in 0..g.kernel_d {
            for ky in 0..p.kernel_h {
                let y_offset = (ky * p.dilation[0]) as isize - p.pad_begin[0] as isize;
                let (y_lo, y_hi) = valid_range(p.out_h, p.in_h, p.stride[0], y_offset);
                for kx in 0..p.kernel_w {
                    let x_offset = (kx * p.dilation[1]) as isize - p.pad_begin[1] as isize;
                    let x_valid = valid_range(ow, p.in_w, p.stride[1], x_offset);
                    let src_row = &col[row * width..][..width];
                    for (b, od) in band.clone().enumerate() {
                        let Some(d) = g.input_slice(od, kz) else {
                            continue;
                        };
                        let src = &src_row[b * ohw..][..ohw];
                        let plane = &mut volume[(c * g.in_d + d) * in_hw..][..in_hw];
                        for oy in y_lo..y_hi {
                            let iy = ((oy * p.stride[0]) as isize + y_offset) as usize;
                            let dst = &mut plane[iy * p.in_w..][..p.in_w];
                            fold_row_add(
                                dst,
                                &src[oy * ow..][..ow],
                                x_valid,
                                p.stride[1],
                                x_offset,
                            );
                        }
                    }
                    row += 1;
                }
            }
        }
    }
}

/// Calls `work(n, out_volume, col, band, product_threads)` for every volume
/// `n` and band of output slices, the volumes spread over the pool (as the
/// 2-D kernels spread images); `out` holds `volume_len` values a volume.
fn per_volume_band(
    g: &Conv3dGeometry,
    out: &mut [f32],
    volume_len: usize,
    work: impl Fn(usize, &mut [f32], &mut [f32], Range<usize>, usize) + Sync,
) {
    if out.is_empty() || volume_len == 0 {
        return;
    }
    let (per_task, product_threads) = conv::plan(g.batch);
    out.par_chunks_mut(per_task * volume_len)
        .enumerate()
        .for_each(|(task, chunk)| {
            let mut col = band_buffer(g);
            for (i, out_volume) in chunk.chunks_mut(volume_len).enumerate() {
                for band in bands(g) {
                    work(
                        task * per_task + i,
                        out_volume,
                        &mut col,
                        band,
                        product_threads,
                    );
                }
            }
        });
}

fn forward_by_volume(g: &Conv3dGeometry, x: &[f32], w: &[f32]) -> Vec<f32> {
    let [_, _, d, h, wi] = g.in_shape();
    let volume_in = g.in_channels * d * h * wi;
    let slices_out = g.out_d * g.out_plane();
    let mut out = vec![0.0f32; g.out_shape().iter().product()];
    let kernel = Matrix::new(w, g.out_channels, col_rows(g));
    per_volume_band(
        g,
        &mut out,
        g.out_channels * slices_out,
        |n, out_volume, col, band, threads| {
            let width = band.len() * g.out_plane();
            let col = &mut col[..col_rows(g) * width];
            unfold_band(g, &x[n * volume_in..][..volume_in], col, band.clone());
            let unfolded = Matrix::new(col, col_rows(g), width);
            let first = band.start * g.out_plane();
            matmul(
                &mut out_volume[first..],
                slices_out,
                kernel,
                unfolded,
                false,
                threads,
            );
        },
    );
    out
}

fn input_grad_by_volume(g: &Conv3dGeometry, w: &[f32], dy: &[f32]) -> Vec<f32> {
    let volume_in = g.in_shape()[1..].iter().product::<usize>();
    let slices_out = g.out_d * g.out_plane();
    let volume_out = g.out_channels * slices_out;
    let mut dx = vec![0.0f32; g.in_shape().iter().product()];
    let kernel = Matrix::new(w, g.out_channels, col_rows(g));
    per_volume_band(g, &mut dx, volume_in, |n, dx_volume, col, band, threads| {
        let width = band.len() * g.out_plane();
        let col = &mut col[..col_rows(g) * width];
        let grad = &dy[n * volume_out..][..volume_out];
        let first = band.start * g.out_plane();
        let grad = Matrix::strided(&grad[first..], g.out_channels, width, slices_out);
        matmul(col, width, kernel.t(), grad, false, threads);
        fold_band_add(g, col, dx_volume, band);
    });
    dx
}

fn weight_grad_by_volume(g: &Conv3dGeometry, x: &[f32], dy: &[f32]) -> Vec<f32> {
    let volume_in = g.in_shape()[1..].iter().product::<usize>();
    let slices_out = g.out_d * g.out_plane();
    let volume_out = g.out_channels * slices_out;
    let rows = col_rows(g);
    let size = g.out_channels * rows;
    if g.batch == 0 || size == 0 {
        return vec![0.0; size];
    }
    let (per_task, threads) = conv::plan(g.batch);
    let tasks = g.batch.div_ceil(per_task);
    let partials: Vec<Vec<f32>> = (0..tasks)
        .into_par_iter()
        .map(|task| {
            let mut dw_t = vec![0.0f32; size];
            let mut col = band_buffer(g);
            let mut first_product = true;
            for n in task * per_task..((task + 1) * per_task).min(g.batch) {
                let volume = &x[n * volume_in..][..volume_in];
                let grad = &dy[n * volume_out..][..volume_out];
                for band in bands(g) {
                    let width = band.len() * g.out_plane();
                    let first = band.start * g.out_plane();
                    let col = &mut col[..rows * width];
                    unfold_band(g, volume, col, band);
                    let grad = Matrix::strided(&grad[first..], g.out_channels, width, slices_out);
                    // dWᵀ (CK × O) = col · dYᵀ, as the 2-D weight gradient.
                    matmul(
                        &mut dw_t,
                        g.out_channels,
                        Matrix::new(col, rows, width),
                        grad.t(),
                        !first_product,
                        threads,
                    );
                    first_product = false;
                }
            }
            dw_t
        })
        .collect();
    // Added in task order, whatever thread finished first; then dWᵀ → dW.
    let mut partials = partials.into_iter();
    let mut dw_t = partials.next().unwrap_or_else(|| vec![0.0; size]);
    for partial in partials {
        dw_t.iter_mut().zip(&partial).for_each(|(d, p)| *d += p);
    }
    let mut dw = vec![0.0f32; size];
    for r in 0..rows {
        for o in 0..g.out_channels {
            dw[o * rows + r] = dw_t[r * g.out_channels + o];
        }
    }
    dw
}

/// The input by depth slice, with the depth padding as zero slices:
/// `[N, Dp, C, H, W]`, where slice `od · stride + kz · dilation` of a volume
/// is the one tap `kz` reads for output slice `od`.
struct Sliced {
    values: Vec<f32>,
    /// `Dp`: padded slices per volume.
    depth: usize,
    /// `C · H · W`.
    slice_len: usize,
}

impl Sliced {
    fn new(g: &Conv3dGeometry, x: &[f32]) -> Self {
        let plane = g.in_plane();
        let slice_len = g.in_channels * plane;
        let last = (g.out_d - 1) * g.stride_d + (g.kernel_d - 1) * g.dilation_d;
        let depth = (last + 1).max(g.pad_d + g.in_d);
        let mut values = vec![0.0f32; g.batch * depth * slice_len];
        if slice_len > 0 {
            values
                .par_chunks_mut(depth * slice_len)
                .enumerate()
                .for_each(|(n, volume)| {
                    for d in 0..g.in_d {
                        for c in 0..g.in_channels {
                            let from = ((n * g.in_channels + c) * g.in_d + d) * plane;
                            volume[(g.pad_d + d) * slice_len + c * plane..][..plane]
                                .copy_from_slice(&x[from..][..plane]);
                        }
                    }
                });
        }
        Self {
            values,
            depth,
            slice_len,
        }
    }

    /// At depth stride 1, the `Do` slices tap `kz` reads for volume `n`:
    /// consecutive, so a view.
    fn run(&self, g: &Conv3dGeometry, n: usize, kz: usize) -> &[f32] {
        let first = n * self.depth + kz * g.dilation_d;
        &self.values[first * self.slice_len..][..g.out_d * self.slice_len]
    }

    /// At any stride, tap `kz`'s slices for every `(n, od)`, `[N · Do, C, H, W]`.
    fn gather(&self, g: &Conv3dGeometry, kz: usize, slices: &mut [f32]) {
        if self.slice_len == 0 {
            return;
        }
        slices
            .par_chunks_mut(self.slice_len)
            .enumerate()
            .for_each(|(pair, to)| {
                let (n, od) = (pair / g.out_d, pair % g.out_d);
                let d = n * self.depth + od * g.stride_d + kz * g.dilation_d;
                to.copy_from_slice(&self.values[d * self.slice_len..][..self.slice_len]);
            });
    }
}

/// Whether each volume's taps are read in place ([`Sliced::run`], one 2-D
/// convolution per volume and tap) rather than gathered into one batch: at
/// depth stride 1, when a volume has enough slices to keep every thread
/// busy (a handful of slices per call would leave threads idle).
fn in_place(g: &Conv3dGeometry) -> bool {
    g.stride_d == 1 && (g.batch == 1 || g.out_d >= 8 * rayon::current_num_threads())
}

/// The 2-D geometry of one volume's output slices.
fn per_volume(g: &Conv3dGeometry) -> ConvGeometry {
    ConvGeometry {
        batch: g.out_d,
        ..g.plane
    }
}

/// Tap `kz` of the kernel, `[O, C, kh, kw]`.
fn kernel_tap(g: &Conv3dGeometry, w: &[f32], kz: usize) -> Vec<f32> {
    let taps = g.plane.kernel_h * g.plane.kernel_w;
    let mut out = Vec::with_capacity(g.out_channels * g.in_channels * taps);
    for oc_ic in 0..g.out_channels * g.in_channels {
        out.extend_from_slice(&w[(oc_ic * g.kernel_d + kz) * taps..][..taps]);
    }
    out
}

fn check(g: &Conv3dGeometry, x: Option<&[f32]>, w: Option<&[f32]>, dy: Option<&[f32]>) {
    let len = |shape: [usize; 5]| shape.iter().product::<usize>();
    if let Some(x) = x {
        assert_eq!(x.len(), len(g.in_shape()), "3-D convolution input size");
    }
    if let Some(w) = w {
        assert_eq!(
            w.len(),
            len(g.kernel_shape()),
            "3-D convolution kernel size"
        );
    }
    if let Some(dy) = dy {
        assert_eq!(dy.len(), len(g.out_shape()), "3-D output gradient size");
    }
}

/// Forward pass: `x` is `N × C × D × H × W`, `w` is `O × C × kd × kh × kw`;
/// returns `N × O × Do × Ho × Wo`.
pub fn forward(g: &Conv3dGeometry, x: &[f32], w: &[f32]) -> Vec<f32> {
    check(g, Some(x), Some(w), None);
    if direct3d::takes_forward(g) {
        direct3d::forward(g, x, w)
    } else {
        forward_by_products(g, x, w)
    }
}

/// The forward pass by matrix products (by taps or by volume), never the
/// direct kernels: what `loupe bench conv3d` sets beside them.
pub fn forward_by_products(g: &Conv3dGeometry, x: &[f32], w: &[f32]) -> Vec<f32> {
    check(g, Some(x), Some(w), None);
    if by_volume(g) {
        forward_by_volume(g, x, w)
    } else {
        forward_by_taps(g, x, w)
    }
}

fn forward_by_taps(g: &Conv3dGeometry, x: &[f32], w: &[f32]) -> Vec<f32> {
    let input = Sliced::new(g, x);
    // Summed as [N, Do, O, P]: each tap's 2-D output is in that order.
    let mut sum = vec![0.0f32; g.out_shape().iter().product()];
    let volume_out = g.out_d * g.out_channels * g.out_plane();
    let mut slices = Vec::new();
    let taps = (0..g.kernel_d).filter(|&kz| g.tap_reads(kz));
    for (i, kz) in taps.enumerate() {
        let kernel = kernel_tap(g, w, kz);
        if in_place(g) {
            for n in 0..g.batch {
                let out = &mut sum[n * volume_out..][..volume_out];
                conv::forward_into(&per_volume(g), input.run(g, n, kz), &kernel, out, i > 0);
            }
        } else {
            slices.resize(g.plane.batch * input.slice_len, 0.0);
            input.gather(g, kz, &mut slices);
            conv::forward_into(&g.plane, &slices, &kernel, &mut sum, i > 0);
        }
    }
    swap_axes_owned(sum, g.batch, g.out_d, g.out_channels, g.out_plane())
}

/// Input gradient: `dy` is `N × O × Do × Ho × Wo`; returns `N × C × D × H × W`.
pub fn input_grad(g: &Conv3dGeometry, w: &[f32], dy: &[f32]) -> Vec<f32> {
    check(g, None, Some(w), Some(dy));
    if direct3d::takes_input_grad(g) {
        direct3d::input_grad(g, w, dy)
    } else {
        input_grad_by_products(g, w, dy)
    }
}

/// The input gradient by matrix products, never the direct kernels.
pub fn input_grad_by_products(g: &Conv3dGeometry, w: &[f32], dy: &[f32]) -> Vec<f32> {
    check(g, None, Some(w), Some(dy));
    if by_volume(g) {
        input_grad_by_volume(g, w, dy)
    } else {
        input_grad_by_taps(g, w, dy)
    }
}

fn input_grad_by_taps(g: &Conv3dGeometry, w: &[f32], dy: &[f32]) -> Vec<f32> {
    let dy_by_slice = swap_axes(dy, g.batch, g.out_channels, g.out_d, g.out_plane());
    let slice_len = g.in_channels * g.in_plane();
    // Accumulated as [N, D, C, H, W], then put back in channel order.
    let mut dx = vec![0.0f32; g.batch * g.in_d * slice_len];
    for kz in (0..g.kernel_d).filter(|&kz| g.tap_reads(kz)) {
        let d_slices = conv::input_grad(&g.plane, &kernel_tap(g, w, kz), &dy_by_slice);
        // Within one tap each output slice reads a different input slice,
        // so the volumes can be summed into in parallel.
        if slice_len == 0 {
            continue;
        }
        dx.par_chunks_mut(g.in_d * slice_len)
            .enumerate()
            .for_each(|(n, volume)| {
                for od in 0..g.out_d {
                    if let Some(d) = g.input_slice(od, kz) {
                        let from = &d_slices[(n * g.out_d + od) * slice_len..][..slice_len];
                        for (to, v) in volume[d * slice_len..][..slice_len].iter_mut().zip(from) {
                            *to += v;
                        }
                    }
                }
            });
    }
    swap_axes_owned(dx, g.batch, g.in_d, g.in_channels, g.in_plane())
}

/// Weight gradient: returns `O × C × kd × kh × kw`, summed over the batch.
pub fn weight_grad(g: &Conv3dGeometry, x: &[f32], dy: &[f32]) -> Vec<f32> {
    check(g, Some(x), None, Some(dy));
    if direct3d::takes_weight_grad(g) {
        direct3d::weight_grad(g, x, dy)
    } else {
        weight_grad_by_products(g, x, dy)
    }
}

/// The weight gradient by matrix products, never the direct kernels.
pub fn weight_grad_by_products(g: &Conv3dGeometry, x: &[f32], dy: &[f32]) -> Vec<f32> {
    check(g, Some(x), None, Some(dy));
    if by_volume(g) {
        weight_grad_by_volume(g, x, dy)
    } else {
        weight_grad_by_taps(g, x, dy)
    }
}

fn weight_grad_by_taps(g: &Conv3dGeometry, x: &[f32], dy: &[f32]) -> Vec<f32> {
    let dy_by_slice = swap_axes(dy, g.batch, g.out_channels, g.out_d, g.out_plane());
    let input = Sliced::new(g, x);
    let taps = g.plane.kernel_h * g.plane.kernel_w;
    let volume_out = g.out_d * g.out_channels * g.out_plane();
    let mut dw = vec![0.0f32; g.kernel_shape().iter().product()];
    let mut slices = Vec::new();
    for kz in (0..g.kernel_d).filter(|&kz| g.tap_reads(kz)) {
        let dw_tap = if in_place(g) {
            let mut sum = vec![0.0f32; g.out_channels * g.in_channels * taps];
            for n in 0..g.batch {
                let grad = &dy_by_slice[n * volume_out..][..volume_out];
                let part = conv::weight_grad(&per_volume(g), input.run(g, n, kz), grad);
                sum.iter_mut().zip(&part).for_each(|(s, p)| *s += p);
            }
            sum
        } else {
            slices.resize(g.plane.batch * input.slice_len, 0.0);
            input.gather(g, kz, &mut slices);
            conv::weight_grad(&g.plane, &slices, &dy_by_slice)
        };
        for oc_ic in 0..g.out_channels * g.in_channels {
            dw[(oc_ic * g.kernel_d + kz) * taps..][..taps]
                .copy_from_slice(&dw_tap[oc_ic * taps..][..taps]);
        }
    }
    dw
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::kernels::conv::ConvShapeError;

    /// The definition, one multiply-add at a time.
    fn naive(g: &Conv3dGeometry, x: &[f32], w: &[f32]) -> Vec<f32> {
        let [n_, c_, d_, h_, w_] = g.in_shape();
        let [_, o_, od_, oh_, ow_] = g.out_shape();
        let (kd, kh, kw) = (g.kernel_d, g.plane.kernel_h, g.plane.kernel_w);
        let p = &g.plane;
        let mut y = vec![0.0f32; n_ * o_ * od_ * oh_ * ow_];
        for n in 0..n_ {
            for o in 0..o_ {
                for od in 0..od_ {
                    for oy in 0..oh_ {
                        for ox in 0..ow_ {
                            let mut s = 0.0f64;
                            for c in 0..c_ {
                                for kz in 0..kd {
                                    let Some(d) = g.input_slice(od, kz) else {
                                        continue;
                                    };
                                    for ky in 0..kh {
                                        let iy = (oy * p.stride[0] + ky * p.dilation[0])
                                            .checked_sub(p.pad_begin[0])
                                            .filter(|&v| v < h_);
                                        for kx in 0..kw {
                                            let ix = (ox * p.stride[1] + kx * p.dilation[1])
                                                .checked_sub(p.pad_begin[1])
                                                .filter(|&v| v < w_);
                                            if let (Some(iy), Some(ix)) = (iy, ix) {
                                                s += x
                                                    [(((n * c_ + c) * d_ + d) * h_ + iy) * w_ + ix]
                                                    as f64
                                                    * w[(((o * c_ + c) * kd + kz) * kh + ky) * kw
                                                        + kx]
                                                        as f64;
                                            }
                                        }
                                    }
                                }
                            }
                            y[(((n * o_ + o) * od_ + od) * oh_ + oy) * ow_ + ox] = s as f32;
                        }
                    }
                }
            }
        }
        y
    }

    fn values(len: usize, seed: u64) -> Vec<f32> {
        let mut rng = crate::rng::Rng::new(seed);
        (0..len).map(|_| rng.unit() as f32 * 2.0 - 1.0).collect()
    }

    fn dot(a: &[f32], b: &[f32]) -> f64 {
        a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum()
    }

    /// The networks' shapes, small: 3×3×3 at stride 1 and 2, the strided
    /// 1×1×1 projection, a tap reading only padding (depth 1), dilation,
    /// uneven padding and a rectangular volume.
    fn cases() -> Vec<Conv3dGeometry> {
        let g = |x: [usize; 5], w: [usize; 5], s: [usize; 3], p: [(usize, usize); 3], d| {
            Conv3dGeometry::new(&x, &w, s, p, d).unwrap()
        };
        vec![
            g(
                [2, 3, 5, 6, 7],
                [4, 3, 3, 3, 3],
                [1; 3],
                [(1, 1); 3],
                [1; 3],
            ),
            g(
                [2, 2, 8, 8, 8],
                [3, 2, 3, 3, 3],
                [2; 3],
                [(1, 1); 3],
                [1; 3],
            ),
            g(
                [3, 4, 6, 5, 4],
                [2, 4, 1, 1, 1],
                [2; 3],
                [(0, 0); 3],
                [1; 3],
            ),
            g(
                [1, 2, 1, 5, 5],
                [2, 2, 3, 3, 3],
                [1; 3],
                [(1, 1); 3],
                [1; 3],
            ),
            g(
                [2, 2, 7, 6, 6],
                [2, 2, 3, 2, 3],
                [1, 2, 1],
                [(2, 1), (0, 1), (1, 0)],
                [2, 1, 1],
            ),
            // Deep enough to be convolved in place on one thread, gathered on three.
            g(
                [2, 2, 9, 4, 5],
                [3, 2, 3, 3, 3],
                [1; 3],
                [(1, 1); 3],
                [1; 3],
            ),
        ]
    }

    /// Runs `check` on one thread and on three: the slices are read in
    /// place or gathered by the thread count ([`in_place`]).
    fn on_one_and_three_threads(check: impl Fn() + Send + Sync) {
        for threads in [1, 3] {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(&check);
        }
    }

    #[test]
    fn both_ways_of_reading_the_slices_are_taken() {
        let deep = cases()[5];
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let three = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        assert!(one.install(|| in_place(&deep)));
        assert!(!three.install(|| in_place(&deep)));
    }

    #[test]
    fn forward_is_the_direct_convolution() {
        on_one_and_three_threads(forward_matches);
    }

    /// The two ways of convolving, taken whatever the planes' size.
    type Forward = fn(&Conv3dGeometry, &[f32], &[f32]) -> Vec<f32>;
    const WAYS: [(&str, Forward, Forward, Forward); 2] = [
        (
            "by taps",
            forward_by_taps,
            input_grad_by_taps,
            weight_grad_by_taps,
        ),
        (
            "by volume",
            forward_by_volume,
            input_grad_by_volume,
            weight_grad_by_volume,
        ),
    ];

    #[test]
    fn small_planes_go_by_volume_and_large_ones_by_taps() {
        let g = |edge: usize| {
            Conv3dGeometry::new(
                &[1, 2, 4, edge, edge],
                &[2, 2, 3, 3, 3],
                [1; 3],
                [(1, 1); 3],
                [1; 3],
            )
            .unwrap()
        };
        assert!(by_volume(&g(20)), "20 × 20 = 400 pixels");
        assert!(!by_volume(&g(21)));
    }

    fn forward_matches() {
        for (i, g) in cases().into_iter().enumerate() {
            let x = values(g.in_shape().iter().product(), 1 + i as u64);
            let w = values(g.kernel_shape().iter().product(), 50 + i as u64);
            for (way, forward, _, _) in WAYS {
                let fast = forward(&g, &x, &w);
                let slow = naive(&g, &x, &w);
                assert_eq!(fast.len(), slow.len());
                for (a, b) in fast.iter().zip(&slow) {
                    assert!((a - b).abs() < 1e-4, "case {i}, {way}: {a} vs {b}");
                }
            }
        }
    }

    /// `⟨dY, conv(X, W)⟩ = ⟨input_grad(W, dY), X⟩ = ⟨weight_grad(X, dY), W⟩`:
    /// both gradients are the adjoints of the (checked) forward pass.
    #[test]
    fn gradients_are_the_adjoints_of_the_forward_pass() {
        on_one_and_three_threads(gradients_match);
    }

    fn gradients_match() {
        for (i, g) in cases().into_iter().enumerate() {
            let x = values(g.in_shape().iter().product(), 7 + i as u64);
            let w = values(g.kernel_shape().iter().product(), 70 + i as u64);
            let dy = values(g.out_shape().iter().product(), 700 + i as u64);
            let y = naive(&g, &x, &w);
            let reference = dot(&dy, &y);
            for (way, _, input_grad, weight_grad) in WAYS {
                let through_x = dot(&input_grad(&g, &w, &dy), &x);
                let through_w = dot(&weight_grad(&g, &x, &dy), &w);
                let tolerance = 1e-4 * reference.abs().max(1.0);
                assert!(
                    (through_x - reference).abs() < tolerance,
                    "case {i}, {way}: dX {through_x} vs {reference}"
                );
                assert!(
                    (through_w - reference).abs() < tolerance,
                    "case {i}, {way}: dW {through_w} vs {reference}"
                );
            }
        }
    }

    /// The stride-1 cases with what the direct kernels must also handle:
    /// two blocks of output channels (the second partly filled), rows
    /// that are not whole blocks, uneven padding, a 1×1×1 kernel.
    fn direct_cases() -> Vec<Conv3dGeometry> {
        let g = |x: [usize; 5], w: [usize; 5], p: [(usize, usize); 3]| {
            Conv3dGeometry::new(&x, &w, [1; 3], p, [1; 3]).unwrap()
        };
        let mut cases: Vec<Conv3dGeometry> = cases()
            .into_iter()
            .filter(|g| g.dilation_d == 1 && g.plane.dilation == [1, 1])
            .collect();
        // Stride 2 on two axes of three, an odd row that is not whole blocks.
        cases.push(
            Conv3dGeometry::new(
                &[2, 3, 7, 6, 19],
                &[9, 3, 3, 3, 3],
                [2, 1, 2],
                [(1, 1); 3],
                [1; 3],
            )
            .unwrap(),
        );
        assert!(
            cases.iter().any(|g| g.stride_d == 2),
            "strided cases are checked"
        );
        // 2-D layers as one-slice volumes, at stride 1 and 2.
        for stride in [1, 2] {
            let plane = ConvGeometry::new(
                &[2, 3, 9, 10],
                &[5, 3, 3, 3],
                [stride; 2],
                [(1, 1); 2],
                [1; 2],
            )
            .unwrap();
            cases.push(direct3d::as_volumes(&plane));
        }
        // Whole blocks of 16 output channels go in wide blocks of 6 voxels:
        // rows of 13 (two whole and a partial block), at stride 2, in 2-D,
        // and an input gradient to 16 channels.
        let wide_2d =
            ConvGeometry::new(&[2, 5, 9, 11], &[32, 5, 3, 3], [2; 2], [(1, 1); 2], [1; 2]).unwrap();
        cases.push(direct3d::as_volumes(&wide_2d));
        cases.push(
            Conv3dGeometry::new(
                &[1, 4, 5, 6, 21],
                &[16, 4, 3, 3, 3],
                [2, 1, 2],
                [(1, 1); 3],
                [1; 3],
            )
            .unwrap(),
        );
        cases.extend([
            g([2, 3, 4, 5, 13], [16, 3, 3, 3, 3], [(1, 1); 3]),
            g([1, 16, 3, 4, 11], [8, 16, 3, 3, 3], [(1, 1); 3]),
            g([2, 3, 4, 5, 11], [10, 3, 3, 3, 3], [(1, 1); 3]),
            g([1, 2, 5, 6, 9], [3, 2, 3, 2, 3], [(2, 0), (1, 0), (0, 2)]),
            g([2, 4, 3, 4, 17], [9, 4, 1, 1, 1], [(0, 0); 3]),
        ]);
        if direct3d::can_forward(&cases[0]) {
            let wide: Vec<_> = cases.iter().filter(|g| direct3d::wide_forward(g)).collect();
            assert!(
                wide.iter().any(|g| g.plane.stride[1] == 2),
                "strided wide blocks"
            );
            assert!(wide.iter().any(|g| g.in_d > 1), "3-D wide blocks");
            assert!(
                cases.iter().any(|g| direct3d::wide_input_grad(g)),
                "an input gradient in wide blocks"
            );
        }
        cases
    }

    #[test]
    fn the_direct_kernels_are_the_convolution_and_its_adjoints() {
        on_one_and_three_threads(|| {
            for (i, g) in direct_cases().into_iter().enumerate() {
                let x = values(g.in_shape().iter().product(), 3 + i as u64);
                let w = values(g.kernel_shape().iter().product(), 30 + i as u64);
                let dy = values(g.out_shape().iter().product(), 300 + i as u64);
                let y = naive(&g, &x, &w);
                let fast = direct3d::forward(&g, &x, &w);
                assert_eq!(fast.len(), y.len(), "case {i}");
                for (a, b) in fast.iter().zip(&y) {
                    assert!((a - b).abs() < 1e-4, "case {i}: {a} vs {b}");
                }
                let reference = dot(&dy, &y);
                let tolerance = 1e-4 * reference.abs().max(1.0);
                let through_w = dot(&direct3d::weight_grad(&g, &x, &dy), &w);
                assert!(
                    (through_w - reference).abs() < tolerance,
                    "case {i}: dW {through_w} vs {reference}"
                );
                if direct3d::input_grad_fits(&g) {
                    let dx = direct3d::input_grad(&g, &w, &dy);
                    assert_eq!(dx.len(), x.len(), "case {i}");
                    let through_x = dot(&dx, &x);
                    assert!(
                        (through_x - reference).abs() < tolerance,
                        "case {i}: dX {through_x} vs {reference}"
                    );
                }
            }
        });
    }

    #[test]
    fn the_direct_kernels_take_few_channels_long_rows_and_wide_kernels() {
        let g = |[c, o, edge, k, stride]: [usize; 5]| {
            let pad = (k / 2, k / 2);
            Conv3dGeometry::new(
                &[1, c, 8, edge, edge],
                &[o, c, k, k, k],
                [stride; 3],
                [pad; 3],
                [1; 3],
            )
            .unwrap()
        };
        if !direct3d::can_forward(&g([4, 8, 16, 3, 1])) {
            eprintln!("this CPU has no FMA: the direct kernels are never taken");
            return;
        }
        for taken in [[4, 8, 16, 3, 1], [4, 32, 5, 3, 1], [4, 8, 16, 3, 2]] {
            assert!(direct3d::takes_forward(&g(taken)), "{taken:?}");
            assert!(direct3d::takes_weight_grad(&g(taken)), "{taken:?}");
        }
        for products in [
            [4, 33, 16, 3, 1],
            [4, 8, 16, 3, 3],
            [4, 8, 4, 3, 1],
            [4, 8, 16, 1, 1],
        ] {
            assert!(!direct3d::takes_forward(&g(products)), "{products:?}");
            assert!(!direct3d::takes_weight_grad(&g(products)), "{products:?}");
        }
        assert!(direct3d::takes_input_grad(&g([64, 8, 5, 3, 1])));
        // Whole blocks of 16 channels go in wide blocks: up to 64, on rows of 4.
        for wide in [[32, 64, 16, 3, 1], [64, 64, 4, 3, 1], [16, 48, 8, 3, 2]] {
            assert!(direct3d::takes_forward(&g(wide)), "{wide:?}");
            assert!(!direct3d::takes_weight_grad(&g(wide)), "{wide:?}");
        }
        assert!(
            !direct3d::takes_forward(&g([64, 128, 8, 3, 1])),
            "128 outputs"
        );
        assert!(
            !direct3d::takes_forward(&g([64, 40, 8, 3, 1])),
            "not whole wide blocks"
        );
        assert!(
            !direct3d::takes_forward(&g([32, 64, 8, 3, 1])),
            "rows of 8 would waste a third of wide blocks"
        );
        assert!(
            direct3d::takes_input_grad(&g([64, 64, 16, 3, 1])),
            "64 → 64"
        );
        assert!(
            direct3d::takes_input_grad(&g([64, 32, 8, 3, 1])),
            "64 → 32 on rows of 8, in blocks of 8"
        );
        assert!(
            !direct3d::takes_input_grad(&g([64, 64, 8, 3, 1])),
            "64 → 64 in blocks of 8"
        );
        assert!(
            !direct3d::takes_input_grad(&g([128, 128, 8, 3, 1])),
            "128 → 128"
        );
        assert!(
            !direct3d::takes_input_grad(&g([64, 128, 8, 3, 1])),
            "taps of 128"
        );
        assert!(!direct3d::takes_input_grad(&g([65, 8, 16, 3, 1])));
        assert!(
            !direct3d::takes_input_grad(&g([8, 8, 16, 3, 2])),
            "a strided input gradient"
        );
        assert!(
            !direct3d::takes_input_grad(&g([8, 8, 4, 3, 1])),
            "4-voxel rows"
        );
        // Padding 3 on a 3-wide kernel: the gradient would need −1.
        let wide_pad = Conv3dGeometry::new(
            &[1, 4, 8, 16, 16],
            &[8, 4, 3, 3, 3],
            [1; 3],
            [(3, 3); 3],
            [1; 3],
        )
        .unwrap();
        assert!(!direct3d::takes_input_grad(&wide_pad));
    }

    #[test]
    fn geometry_refuses_what_cannot_be_convolved() {
        let refuse = |x: &[usize], w: &[usize]| {
            Conv3dGeometry::new(x, w, [1; 3], [(0, 0); 3], [1; 3]).unwrap_err()
        };
        assert!(matches!(
            refuse(&[1, 2, 4, 4], &[1, 2, 3, 3, 3]),
            ConvShapeError::Input3d(_)
        ));
        assert!(matches!(
            refuse(&[1, 2, 4, 4, 4], &[1, 3, 3, 3, 3]),
            ConvShapeError::Kernel { .. }
        ));
        assert!(matches!(
            refuse(&[1, 2, 2, 4, 4], &[1, 2, 3, 3, 3]),
            ConvShapeError::EmptyDepth { .. }
        ));
    }
}
