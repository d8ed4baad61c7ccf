//! 2-D convolution (groups = 1) on the CPU as one matrix product per image,
//! forward and both halves of the backward pass, on plain `f32` slices in
//! NCHW order:
//!
//! - forward: `Y[n] (O × P) = W (O × CK) · col(X[n]) (CK × P)`
//! - input gradient: `dX[n] = col2im(Wᵀ (CK × O) · dY[n] (O × P))`
//! - weight gradient: `dWᵀ (CK × O) = Σₙ col(X[n]) (CK × P) · dY[n]ᵀ (P × O)`
//!
//! where `CK = C · kh · kw` and `P = Ho · Wo`. `col` is the classic
//! (Caffe-style) unfolding: row `(c, ky, kx)` holds, for every output pixel,
//! the input value under that kernel tap, so the product lands directly in
//! NCHW and no layout conversion is needed anywhere. Why this and not
//! Burn's `flex` path: `flex` converts NCHW↔NHWC on one thread, unfolds in
//! 512-pixel tiles with one small product each, and its backward is a
//! transposed convolution plus a convolution with the output gradient as
//! kernel — `loupe bench profile` showed the products themselves near the
//! machine's peak and everything around them slow.
//!
//! Each image is unfolded a band of output rows at a time, small enough to
//! stay in the core's cache between being written and being multiplied.
//! Images are split over the current rayon pool (the run's threads); each
//! thread keeps its own unfolding buffer and, for the weight gradient, its
//! own partial sum, added up in a fixed order at the end.

use std::ops::Range;

use gemm::Parallelism;
use rayon::prelude::*;

/// Sizes and options of one convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeometry {
    pub batch: usize,
    pub in_channels: usize,
    pub in_h: usize,
    pub in_w: usize,
    pub out_channels: usize,
    pub kernel_h: usize,
    pub kernel_w: usize,
    pub stride: [usize; 2],
    /// Padding before the first row / column (the end padding only changes
    /// the output size, which is given).
    pub pad_begin: [usize; 2],
    pub dilation: [usize; 2],
    pub out_h: usize,
    pub out_w: usize,
}

/// Why a convolution cannot run on these kernels.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConvShapeError {
    #[error("convolution input must be [batch, channels, height, width], got {0:?}")]
    Input(Vec<usize>),
    #[error("3-D convolution input must be [batch, channels, depth, height, width], got {0:?}")]
    Input3d(Vec<usize>),
    #[error("convolution kernel depth {kernel} reaches past the padded input depth {padded}")]
    EmptyDepth { kernel: usize, padded: usize },
    #[error("convolution kernel {kernel:?} does not fit input channels {channels}")]
    Kernel { kernel: Vec<usize>, channels: usize },
    #[error("convolution stride and dilation must be at least 1")]
    Options,
    #[error("convolution kernel {kernel:?} is larger than the padded input {padded:?}")]
    Empty {
        kernel: [usize; 2],
        padded: [usize; 2],
    },
}

impl ConvGeometry {
    /// The geometry of `x` (`[N, C, H, W]`) convolved with `w`
    /// (`[O, C, kh, kw]`), padding `(begin, end)` per axis.
    pub fn new(
        x: &[usize],
        w: &[usize],
        stride: [usize; 2],
        padding: [(usize, usize); 2],
        dilation: [usize; 2],
    ) -> Result<Self, ConvShapeError> {
        let &[batch, in_channels, in_h, in_w] = x else {
            return Err(ConvShapeError::Input(x.to_vec()));
        };
        let &[out_channels, kernel_channels, kernel_h, kernel_w] = w else {
            return Err(ConvShapeError::Kernel {
                kernel: w.to_vec(),
                channels: in_channels,
            });
        };
        if kernel_channels != in_channels {
            return Err(ConvShapeError::Kernel {
                kernel: w.to_vec(),
                channels: in_channels,
            });
        }
        if stride.contains(&0) || dilation.contains(&0) {
            return Err(ConvShapeError::Options);
        }
        let out = |input: usize, (begin, end): (usize, usize), kernel: usize, axis: usize| {
            let padded = input + begin + end;
            let reach = dilation[axis] * (kernel.max(1) - 1) + 1;
            (padded >= reach).then(|| (padded - reach) / stride[axis] + 1)
        };
        let (Some(out_h), Some(out_w)) = (
            out(in_h, padding[0], kernel_h, 0),
            out(in_w, padding[1], kernel_w, 1),
        ) else {
            return Err(ConvShapeError::Empty {
                kernel: [kernel_h, kernel_w],
                padded: [
                    in_h + padding[0].0 + padding[0].1,
                    in_w + padding[1].0 + padding[1].1,
                ],
            });
        };
        Ok(Self {
            batch,
            in_channels,
            in_h,
            in_w,
            out_channels,
            kernel_h,
            kernel_w,
            stride,
            pad_begin: [padding[0].0, padding[1].0],
            dilation,
            out_h,
            out_w,
        })
    }

    /// Rows of the unfolded input: `C · kh · kw`.
    pub fn col_rows(&self) -> usize {
        self.in_channels * self.kernel_h * self.kernel_w
    }

    /// Output pixels per image and channel.
    pub fn out_pixels(&self) -> usize {
        self.out_h * self.out_w
    }

    fn in_image(&self) -> usize {
        self.in_channels * self.in_h * self.in_w
    }

    fn out_image(&self) -> usize {
        self.out_channels * self.out_pixels()
    }

    /// A 1×1 kernel at stride 1 without padding: the unfolding is the image.
    fn is_pointwise(&self) -> bool {
        self.kernel_h == 1
            && self.kernel_w == 1
            && self.stride == [1, 1]
            && self.pad_begin == [0, 0]
            && self.out_h == self.in_h
            && self.out_w == self.in_w
    }

    /// Floating-point operations of the forward pass, a multiply-add
    /// counting two (each of the two gradients takes as many).
    pub fn flops(&self) -> f64 {
        2.0 * (self.batch * self.out_image()) as f64 * self.col_rows() as f64
    }
}

/// Output positions `lo..hi` of one axis whose input position
/// `o · stride + offset` falls inside `0..input`.
pub(super) fn valid_range(
    outputs: usize,
    input: usize,
    stride: usize,
    offset: isize,
) -> (usize, usize) {
    let stride = stride as isize;
    // First o with o·s + offset ≥ 0.
    let lo = if offset >= 0 {
        0
    } else {
        ((-offset) + stride - 1) / stride
    };
    // Last o with o·s + offset ≤ input − 1.
    let last = input as isize - 1 - offset;
    let hi = if last < 0 { 0 } else { last / stride + 1 };
    let hi = (hi as usize).min(outputs);
    let lo = (lo as usize).min(hi);
    (lo, hi)
}

/// Output rows a tile covers: enough that a tile's unfolding (`CK × rows ·
/// Wo` floats) stays within about 256 KiB, so it is written, multiplied
/// and (backward) folded back while still in the core's cache. Unfolding
/// whole images (the first version) made the products memory-bound at
/// Loupe's narrow widths: a 16-channel layer at 64 px unfolds 2.4 MB an image.
fn tile_rows(g: &ConvGeometry) -> usize {
    const TILE_FLOATS: usize = 64 * 1024;
    (TILE_FLOATS / (g.col_rows() * g.out_w).max(1)).clamp(1, g.out_h.max(1))
}

/// Unfolds output rows `rows` of one image (`C × H × W`) into `col`
/// (`CK × rows.len() · Wo`).
fn im2col(g: &ConvGeometry, image: &[f32], col: &mut [f32], rows: Range<usize>) {
    let ow = g.out_w;
    let p = rows.len() * ow;
    let mut row = 0;
    for c in 0..g.in_channels {
        let plane = &image[c * g.in_h * g.in_w..][..g.in_h * g.in_w];
        for ky in 0..g.kernel_h {
            let y_offset = (ky * g.dilation[0]) as isize - g.pad_begin[0] as isize;
            let (y_lo, y_hi) = valid_range(g.out_h, g.in_h, g.stride[0], y_offset);
            let (y_lo, y_hi) = (
                y_lo.clamp(rows.start, rows.end),
                y_hi.clamp(rows.start, rows.end),
            );
            for kx in 0..g.kernel_w {
                let x_offset = (kx * g.dilation[1]) as isize - g.pad_begin[1] as isize;
                let (x_lo, x_hi) = valid_range(ow, g.in_w, g.stride[1], x_offset);
                let dst_rows = &mut col[row * p..][..p];
                dst_rows[..(y_lo - rows.start) * ow].fill(0.0);
                dst_rows[(y_hi - rows.start) * ow..].fill(0.0);
                for oy in y_lo..y_hi {
                    let iy = (oy * g.stride[0]) as isize + y_offset;
                    let src = &plane[iy as usize * g.in_w..][..g.in_w];
                    let dst = &mut dst_rows[(oy - rows.start) * ow..][..ow];
                    unfold_row(dst, src, (x_lo, x_hi), g.stride[1], x_offset);
                }
                row += 1;
            }
        }
    }
}

/// [`swap_axes`] of values the caller owns: given back as they are where
/// either axis has length 1 (then nothing moves — a 2-D convolution taken
/// as one-slice volumes would otherwise copy its whole output once more).
pub(super) fn swap_axes_owned(
    values: Vec<f32>,
    outer: usize,
    a: usize,
    b: usize,
    inner: usize,
) -> Vec<f32> {
    if a == 1 || b == 1 {
        return values;
    }
    swap_axes(&values, outer, a, b, inner)
}

/// `[outer, a, b, inner]` → `[outer, b, a, inner]` (the 3-D kernels' change
/// between channel-major and slice-major order).
pub(super) fn swap_axes(
    values: &[f32],
    outer: usize,
    a: usize,
    b: usize,
    inner: usize,
) -> Vec<f32> {
    let mut out = vec![0.0f32; values.len()];
    if values.is_empty() {
        return out;
    }
    out.par_chunks_mut(a * b * inner)
        .zip(values.par_chunks(a * b * inner))
        .for_each(|(to, from)| {
            for i in 0..a {
                for j in 0..b {
                    to[(j * a + i) * inner..][..inner]
                        .copy_from_slice(&from[(i * b + j) * inner..][..inner]);
                }
            }
        });
    debug_assert_eq!(values.len(), outer * a * b * inner);
    out
}

/// One output row of one kernel tap: `dst[ox] = src[ox · stride + offset]`
/// for `ox` in `valid` (see [`valid_range`]), 0 elsewhere.
pub(super) fn unfold_row(
    dst: &mut [f32],
    src: &[f32],
    (x_lo, x_hi): (usize, usize),
    stride: usize,
    offset: isize,
) {
    dst[..x_lo].fill(0.0);
    dst[x_hi..].fill(0.0);
    if x_lo < x_hi {
        let first = ((x_lo * stride) as isize + offset) as usize;
        if stride == 1 {
            dst[x_lo..x_hi].copy_from_slice(&src[first..first + (x_hi - x_lo)]);
        } else {
            for (i, d) in dst[x_lo..x_hi].iter_mut().enumerate() {
                *d = src[first + i * stride];
            }
        }
    }
}

/// The adjoint of [`unfold_row`]: `dst[ox · stride + offset] += src[ox]`
/// for `ox` in `valid`.
pub(super) fn fold_row_add(
    dst: &mut [f32],
    src: &[f32],
    (x_lo, x_hi): (usize, usize),
    stride: usize,
    offset: isize,
) {
    if x_lo < x_hi {
        let first = ((x_lo * stride) as isize + offset) as usize;
        if stride == 1 {
            for (d, v) in dst[first..first + (x_hi - x_lo)]
                .iter_mut()
                .zip(&src[x_lo..x_hi])
            {
                *d += v;
            }
        } else {
            for (i, v) in src[x_lo..x_hi].iter().enumerate() {
                dst[first + i * stride] += v;
            }
        }
    }
}

/// Adds the unfolded gradient `col` (`CK × rows.len() · Wo`) of output rows
/// `rows` back onto one image's gradient (`C × H × W`): the adjoint of
/// [`im2col`].
fn col2im_add(g: &ConvGeometry, col: &[f32], image: &mut [f32], rows: Range<usize>) {
    let ow = g.out_w;
    let p = rows.len() * ow;
    let mut row = 0;
    for c in 0..g.in_channels {
        let plane = &mut image[c * g.in_h * g.in_w..][..g.in_h * g.in_w];
        for ky in 0..g.kernel_h {
            let y_offset = (ky * g.dilation[0]) as isize - g.pad_begin[0] as isize;
            let (y_lo, y_hi) = valid_range(g.out_h, g.in_h, g.stride[0], y_offset);
            let (y_lo, y_hi) = (
                y_lo.clamp(rows.start, rows.end),
                y_hi.clamp(rows.start, rows.end),
            );
            for kx in 0..g.kernel_w {
                let x_offset = (kx * g.dilation[1]) as isize - g.pad_begin[1] as isize;
                let (x_lo, x_hi) = valid_range(ow, g.in_w, g.stride[1], x_offset);
                let src_rows = &col[row * p..][..p];
                for oy in y_lo..y_hi {
                    let iy = (oy * g.stride[0]) as isize + y_offset;
                    let dst = &mut plane[iy as usize * g.in_w..][..g.in_w];
                    let src = &src_rows[(oy - rows.start) * ow..][..ow];
                    fold_row_add(dst, src, (x_lo, x_hi), g.stride[1], x_offset);
                }
                row += 1;
            }
        }
    }
}

/// A matrix in memory: `rows × cols`, rows `row_stride` apart, optionally
/// read as its transpose.
#[derive(Clone, Copy)]
pub(super) struct Matrix<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    row_stride: usize,
    transposed: bool,
}

impl<'a> Matrix<'a> {
    /// Rows of `cols` values one after another.
    pub(super) fn new(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Self::strided(data, rows, cols, cols)
    }

    /// Columns `0..cols` of rows `row_stride` apart (a column band of a wider matrix).
    pub(super) fn strided(data: &'a [f32], rows: usize, cols: usize, row_stride: usize) -> Self {
        assert!(cols <= row_stride, "a row is wider than its stride");
        assert!(
            rows == 0 || data.len() >= (rows - 1) * row_stride + cols,
            "matrix {rows} × {cols} (stride {row_stride}) does not fit {} values",
            data.len()
        );
        Self {
            data,
            rows,
            cols,
            row_stride,
            transposed: false,
        }
    }

    /// The same memory read as its transpose (`cols × rows`).
    pub(super) fn t(self) -> Self {
        Self {
            transposed: !self.transposed,
            ..self
        }
    }

    /// (rows, cols, column stride, row stride) as read.
    fn view(&self) -> (usize, usize, isize, isize) {
        if self.transposed {
            (self.cols, self.rows, self.row_stride as isize, 1)
        } else {
            (self.rows, self.cols, 1, self.row_stride as isize)
        }
    }
}

/// `dst = [dst +] lhs · rhs`, `dst` being `m × n` with rows
/// `dst_row_stride` apart.
pub(super) fn matmul(
    dst: &mut [f32],
    dst_row_stride: usize,
    lhs: Matrix,
    rhs: Matrix,
    accumulate: bool,
    threads: usize,
) {
    let (m, k, lhs_cs, lhs_rs) = lhs.view();
    let (k2, n, rhs_cs, rhs_rs) = rhs.view();
    assert_eq!(k, k2, "inner dimensions of a product");
    assert!(
        n <= dst_row_stride,
        "product wider than its destination's stride"
    );
    assert!(
        m == 0 || dst.len() >= (m - 1) * dst_row_stride + n,
        "product destination size"
    );
    let parallelism = if threads > 1 {
        Parallelism::Rayon(threads)
    } else {
        Parallelism::None
    };
    // SAFETY: every pointer covers the rows × cols its strides address
    // (checked above and by `Matrix::strided`), and `dst` does not alias the
    // inputs (it is a distinct `&mut`).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            dst_row_stride as isize,
            accumulate,
            lhs.data.as_ptr(),
            lhs_cs,
            lhs_rs,
            rhs.data.as_ptr(),
            rhs_cs,
            rhs_rs,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// How the images of a batch are spread over the pool's threads: contiguous
/// runs of images per task, and the threads each product may use (all of
/// them when there are fewer images than threads).
pub(super) fn plan(batch: usize) -> (usize, usize) {
    let threads = rayon::current_num_threads().max(1);
    if batch >= threads {
        (batch.div_ceil(threads), 1)
    } else {
        (1, threads)
    }
}

/// The output row tiles of an image.
fn tiles(g: &ConvGeometry) -> impl Iterator<Item = Range<usize>> + '_ {
    let step = tile_rows(g);
    (0..g.out_h)
        .step_by(step)
        .map(move |r| r..(r + step).min(g.out_h))
}

/// An unfolding buffer for one tile (none for pointwise kernels, whose
/// unfolding is the image itself).
fn tile_buffer(g: &ConvGeometry) -> Vec<f32> {
    if g.is_pointwise() {
        Vec::new()
    } else {
        vec![0.0f32; g.col_rows() * tile_rows(g) * g.out_w]
    }
}

/// The unfolding of output rows `rows` of `image`, as a `CK × rows · Wo`
/// matrix: written into `col`, or for pointwise kernels a band of the image.
fn unfold<'a>(
    g: &ConvGeometry,
    image: &'a [f32],
    col: &'a mut [f32],
    rows: Range<usize>,
) -> Matrix<'a> {
    let width = rows.len() * g.out_w;
    if g.is_pointwise() {
        let start = rows.start * g.out_w;
        Matrix::strided(&image[start..], g.col_rows(), width, g.out_pixels())
    } else {
        let col = &mut col[..g.col_rows() * width];
        im2col(g, image, col, rows);
        Matrix::new(col, g.col_rows(), width)
    }
}

/// Fills `out` (`image_len` values per image of the batch) by calling
/// `work(n, out_image, col, rows, product_threads)` for every image `n` and
/// band of output rows, the images spread over the pool; `col` is the
/// calling thread's unfolding buffer.
fn per_image_band(
    g: &ConvGeometry,
    out: &mut [f32],
    image_len: usize,
    work: impl Fn(usize, &mut [f32], &mut [f32], Range<usize>, usize) + Sync,
) {
    if out.is_empty() {
        return;
    }
    let (per_task, product_threads) = plan(g.batch);
    out.par_chunks_mut(per_task * image_len)
        .enumerate()
        .for_each(|(task, chunk)| {
            let mut col = tile_buffer(g);
            for (i, out_image) in chunk.chunks_mut(image_len).enumerate() {
                for rows in tiles(g) {
                    work(
                        task * per_task + i,
                        out_image,
                        &mut col,
                        rows,
                        product_threads,
                    );
                }
            }
        });
}

fn check_kernel(g: &ConvGeometry, w: &[f32]) {
    assert_eq!(
        w.len(),
        g.out_channels * g.col_rows(),
        "convolution kernel size"
    );
}

/// Forward pass: `x` is `N × C × H × W`, `w` is `O × C × kh × kw`; returns
/// `N × O × Ho × Wo`.
pub fn forward(g: &ConvGeometry, x: &[f32], w: &[f32]) -> Vec<f32> {
    let mut out = vec![0.0f32; g.batch * g.out_image()];
    forward_into(g, x, w, &mut out, false);
    out
}

/// [`forward`] into `out` (`N × O × Ho × Wo`), added to what it holds
/// with `accumulate` (a 3-D convolution sums its depth taps this way).
pub fn forward_into(g: &ConvGeometry, x: &[f32], w: &[f32], out: &mut [f32], accumulate: bool) {
    assert_eq!(x.len(), g.batch * g.in_image(), "convolution input size");
    assert_eq!(
        out.len(),
        g.batch * g.out_image(),
        "convolution output size"
    );
    check_kernel(g, w);
    let kernel = Matrix::new(w, g.out_channels, g.col_rows());
    per_image_band(g, out, g.out_image(), |n, out_image, col, rows, threads| {
        let image = &x[n * g.in_image()..][..g.in_image()];
        let first = rows.start * g.out_w;
        let unfolded = unfold(g, image, col, rows);
        matmul(
            &mut out_image[first..],
            g.out_pixels(),
            kernel,
            unfolded,
            accumulate,
            threads,
        );
    });
}

/// At stride 1 the input gradient is itself a convolution: `dY` padded
/// by `dilation · (k − 1) − padding` each side, convolved with the kernel
/// flipped in space and with its channel axes swapped. Returns that
/// convolution's geometry and kernel, or `None` where it does not apply
/// (strides, or padding wider than the kernel's reach).
fn input_grad_as_convolution(g: &ConvGeometry, w: &[f32]) -> Option<(ConvGeometry, Vec<f32>)> {
    if g.stride != [1, 1] {
        return None;
    }
    let reach = [
        g.dilation[0] * (g.kernel_h - 1),
        g.dilation[1] * (g.kernel_w - 1),
    ];
    let pad_end = [
        (g.out_h + reach[0]).checked_sub(g.in_h + g.pad_begin[0])?,
        (g.out_w + reach[1]).checked_sub(g.in_w + g.pad_begin[1])?,
    ];
    let padding = [
        (
            reach[0].checked_sub(g.pad_begin[0])?,
            reach[0].checked_sub(pad_end[0])?,
        ),
        (
            reach[1].checked_sub(g.pad_begin[1])?,
            reach[1].checked_sub(pad_end[1])?,
        ),
    ];
    let (c, o, kh, kw) = (g.in_channels, g.out_channels, g.kernel_h, g.kernel_w);
    let transposed = ConvGeometry::new(
        &[g.batch, o, g.out_h, g.out_w],
        &[c, o, kh, kw],
        [1, 1],
        padding,
        g.dilation,
    )
    .ok()?;
    if (transposed.out_h, transposed.out_w) != (g.in_h, g.in_w) {
        return None;
    }
    let mut flipped = vec![0.0f32; w.len()];
    for oc in 0..o {
        for ic in 0..c {
            for ky in 0..kh {
                for kx in 0..kw {
                    flipped[((ic * o + oc) * kh + ky) * kw + kx] =
                        w[((oc * c + ic) * kh + (kh - 1 - ky)) * kw + (kw - 1 - kx)];
                }
            }
        }
    }
    Some((transposed, flipped))
}

/// Input gradient: `dy` is `N × O × Ho × Wo`; returns `N × C × H × W`.
pub fn input_grad(g: &ConvGeometry, w: &[f32], dy: &[f32]) -> Vec<f32> {
    assert_eq!(dy.len(), g.batch * g.out_image(), "output gradient size");
    check_kernel(g, w);
    // A product with `O · k²` inner terms instead of `O` (then a scatter):
    // about as fast as the forward pass at Loupe's narrow widths.
    if let Some((transposed, flipped)) = input_grad_as_convolution(g, w) {
        return forward(&transposed, dy, &flipped);
    }
    let mut dx = vec![0.0f32; g.batch * g.in_image()];
    let kernel = Matrix::new(w, g.out_channels, g.col_rows());
    per_image_band(
        g,
        &mut dx,
        g.in_image(),
        |n, dx_image, col, rows, threads| {
            let grad = &dy[n * g.out_image()..][..g.out_image()];
            let first = rows.start * g.out_w;
            let width = rows.len() * g.out_w;
            let grad = Matrix::strided(&grad[first..], g.out_channels, width, g.out_pixels());
            if g.is_pointwise() {
                // The unfolding is the image: the product lands in place.
                matmul(
                    &mut dx_image[first..],
                    g.out_pixels(),
                    kernel.t(),
                    grad,
                    false,
                    threads,
                );
            } else {
                let col = &mut col[..g.col_rows() * width];
                matmul(col, width, kernel.t(), grad, false, threads);
                col2im_add(g, col, dx_image, rows);
            }
        },
    );
    dx
}

/// Weight gradient: returns `O × C × kh × kw`, summed over the batch.
pub fn weight_grad(g: &ConvGeometry, x: &[f32], dy: &[f32]) -> Vec<f32> {
    assert_eq!(x.len(), g.batch * g.in_image(), "convolution input size");
    assert_eq!(dy.len(), g.batch * g.out_image(), "output gradient size");
    let size = g.out_channels * g.col_rows();
    if g.batch == 0 || size == 0 {
        return vec![0.0; size];
    }
    let (per_task, product_threads) = plan(g.batch);
    let tasks = g.batch.div_ceil(per_task);
    let partials: Vec<Vec<f32>> = (0..tasks)
        .into_par_iter()
        .map(|task| {
            let mut dw_t = vec![0.0f32; size];
            let mut col = tile_buffer(g);
            let mut first_product = true;
            for n in task * per_task..((task + 1) * per_task).min(g.batch) {
                let image = &x[n * g.in_image()..][..g.in_image()];
                let grad = &dy[n * g.out_image()..][..g.out_image()];
                for rows in tiles(g) {
                    let first = rows.start * g.out_w;
                    let width = rows.len() * g.out_w;
                    let grad =
                        Matrix::strided(&grad[first..], g.out_channels, width, g.out_pixels());
                    let unfolded = unfold(g, image, &mut col, rows);
                    // Computed transposed, dWᵀ (CK × O) = col · dYᵀ: the
                    // product runs about twice as fast this way round at
                    // Loupe's widths (16 → 16 channels at 64 px: 11 ms
                    // against 31 ms a batch of 16, one thread).
                    matmul(
                        &mut dw_t,
                        g.out_channels,
                        unfolded,
                        grad.t(),
                        !first_product,
                        product_threads,
                    );
                    first_product = false;
                }
            }
            dw_t
        })
        .collect();
    // Partial sums added in task order: the result does not depend on
    // which thread finished first.
    let mut partials = partials.into_iter();
    let mut dw_t = partials.next().unwrap_or_else(|| vec![0.0; size]);
    for partial in partials {
        for (d, p) in dw_t.iter_mut().zip(&partial) {
            *d += p;
        }
    }
    let (rows, outputs) = (g.col_rows(), g.out_channels);
    let mut dw = vec![0.0f32; size];
    for (r, row) in dw_t.chunks(outputs).enumerate() {
        for (o, &v) in row.iter().enumerate() {
            dw[o * rows + r] = v;
        }
    }
    dw
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Direct convolution, the definition, for checking.
    fn naive(g: &ConvGeometry, x: &[f32], w: &[f32]) -> Vec<f32> {
        let mut out = vec![0.0; g.batch * g.out_channels * g.out_pixels()];
        for n in 0..g.batch {
            for o in 0..g.out_channels {
                for oy in 0..g.out_h {
                    for ox in 0..g.out_w {
                        let mut sum = 0.0f64;
                        for c in 0..g.in_channels {
                            for ky in 0..g.kernel_h {
                                for kx in 0..g.kernel_w {
                                    let iy = (oy * g.stride[0] + ky * g.dilation[0]) as isize
                                        - g.pad_begin[0] as isize;
                                    let ix = (ox * g.stride[1] + kx * g.dilation[1]) as isize
                                        - g.pad_begin[1] as isize;
                                    if iy < 0
                                        || ix < 0
                                        || iy >= g.in_h as isize
                                        || ix >= g.in_w as isize
                                    {
                                        continue;
                                    }
                                    let xv = x[((n * g.in_channels + c) * g.in_h + iy as usize)
                                        * g.in_w
                                        + ix as usize];
                                    let wv = w[((o * g.in_channels + c) * g.kernel_h + ky)
                                        * g.kernel_w
                                        + kx];
                                    sum += (xv * wv) as f64;
                                }
                            }
                        }
                        out[((n * g.out_channels + o) * g.out_h + oy) * g.out_w + ox] = sum as f32;
                    }
                }
            }
        }
        out
    }

    fn values(len: usize, seed: u32) -> Vec<f32> {
        let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                (state % 2001) as f32 / 1000.0 - 1.0
            })
            .collect()
    }

    fn dot(a: &[f32], b: &[f32]) -> f64 {
        a.iter()
            .zip(b)
            .map(|(x, y)| (*x as f64) * (*y as f64))
            .sum()
    }

    /// Shapes the models use (3×3 pad 1 at strides 1 and 2, 1×1 projections
    /// at stride 2, the pointwise shortcut, a 7×7 stem) and odd ones
    /// (asymmetric padding, dilation, non-square, kernel wider than the
    /// image's padding).
    fn cases() -> Vec<ConvGeometry> {
        let geo = |x: [usize; 4], w: [usize; 4], s, p, d| {
            ConvGeometry::new(&x, &w, s, p, d).expect("valid geometry")
        };
        vec![
            geo([2, 3, 9, 9], [4, 3, 3, 3], [1, 1], [(1, 1), (1, 1)], [1, 1]),
            geo([3, 4, 8, 8], [5, 4, 3, 3], [2, 2], [(1, 1), (1, 1)], [1, 1]),
            geo([2, 4, 8, 8], [6, 4, 1, 1], [2, 2], [(0, 0), (0, 0)], [1, 1]),
            geo([2, 5, 6, 7], [3, 5, 1, 1], [1, 1], [(0, 0), (0, 0)], [1, 1]),
            geo(
                [1, 3, 16, 16],
                [4, 3, 7, 7],
                [2, 2],
                [(3, 3), (3, 3)],
                [1, 1],
            ),
            geo([2, 2, 7, 5], [3, 2, 3, 2], [1, 2], [(0, 2), (1, 0)], [2, 1]),
            geo([5, 1, 4, 4], [2, 1, 5, 5], [1, 1], [(2, 2), (2, 2)], [1, 1]),
            // Large enough to be cut into row tiles (the last one shorter):
            // 3×3, pointwise, and strided.
            geo(
                [2, 16, 40, 40],
                [3, 16, 3, 3],
                [1, 1],
                [(1, 1), (1, 1)],
                [1, 1],
            ),
            geo(
                [2, 64, 40, 40],
                [3, 64, 1, 1],
                [1, 1],
                [(0, 0), (0, 0)],
                [1, 1],
            ),
            geo(
                [1, 32, 64, 64],
                [2, 32, 3, 3],
                [2, 2],
                [(1, 1), (1, 1)],
                [1, 1],
            ),
        ]
    }

    #[test]
    fn swapping_axes_moves_blocks_and_leaves_a_unit_axis_in_place() {
        // [outer 1, a 2, b 3, inner 2] → [1, 3, 2, 2].
        let values: Vec<f32> = (0..12).map(|v| v as f32).collect();
        let swapped = swap_axes(&values, 1, 2, 3, 2);
        assert_eq!(swapped, [0., 1., 6., 7., 2., 3., 8., 9., 4., 5., 10., 11.]);
        assert_eq!(swap_axes_owned(values.clone(), 1, 2, 3, 2), swapped);
        // An axis of length 1: the same values, in the same buffer.
        let at = values.as_ptr();
        let kept = swap_axes_owned(values, 2, 1, 3, 2);
        assert_eq!(kept.as_ptr(), at);
        assert_eq!(kept, swap_axes(&kept, 2, 1, 3, 2));
    }

    #[test]
    fn forward_is_the_direct_convolution() {
        for (i, g) in cases().into_iter().enumerate() {
            let x = values(g.batch * g.in_image(), i as u32);
            let w = values(g.out_channels * g.col_rows(), 100 + i as u32);
            let fast = forward(&g, &x, &w);
            let slow = naive(&g, &x, &w);
            assert_eq!(fast.len(), slow.len());
            for (a, b) in fast.iter().zip(&slow) {
                assert!((a - b).abs() < 1e-4, "case {i} ({g:?}): {a} vs {b}");
            }
        }
    }

    /// The backward pass is the adjoint of the forward one:
    /// ⟨conv(x, w), dy⟩ = ⟨x, dX(dy)⟩ = ⟨w, dW(x, dy)⟩, and both gradients
    /// match finite differences of that scalar on a few entries.
    #[test]
    fn gradients_are_the_adjoints_of_the_forward_pass() {
        for (i, g) in cases().into_iter().enumerate() {
            let x = values(g.batch * g.in_image(), i as u32);
            let w = values(g.out_channels * g.col_rows(), 100 + i as u32);
            let dy = values(g.batch * g.out_image(), 200 + i as u32);
            let y = naive(&g, &x, &w);
            let loss = dot(&y, &dy);
            let dx = input_grad(&g, &w, &dy);
            let dw = weight_grad(&g, &x, &dy);
            let scale = loss.abs().max(1.0);
            assert!(
                (dot(&x, &dx) - loss).abs() < 1e-4 * scale,
                "case {i}: ⟨x, dX⟩"
            );
            assert!(
                (dot(&w, &dw) - loss).abs() < 1e-4 * scale,
                "case {i}: ⟨w, dW⟩"
            );
            // Linear in each argument, so a unit step gives the exact entry.
            for &j in &[0, x.len() / 2, x.len() - 1] {
                let mut e = vec![0.0; x.len()];
                e[j] = 1.0;
                let expected = dot(&naive(&g, &e, &w), &dy);
                assert!((dx[j] as f64 - expected).abs() < 1e-4, "case {i}: dX[{j}]");
            }
            for &j in &[0, w.len() / 3, w.len() - 1] {
                let mut e = vec![0.0; w.len()];
                e[j] = 1.0;
                let expected = dot(&naive(&g, &x, &e), &dy);
                assert!(
                    (dw[j] as f64 - expected).abs() < 1e-4 * expected.abs().max(1.0),
                    "case {i}: dW[{j}] {} vs {expected}",
                    dw[j]
                );
            }
        }
    }

    #[test]
    fn threads_do_not_change_the_result() {
        let g = cases()[1];
        let x = values(g.batch * g.in_image(), 7);
        let w = values(g.out_channels * g.col_rows(), 8);
        let dy = values(g.batch * g.out_image(), 9);
        let run = |threads| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("pool")
                .install(|| {
                    (
                        forward(&g, &x, &w),
                        input_grad(&g, &w, &dy),
                        weight_grad(&g, &x, &dy),
                    )
                })
        };
        let (one, four) = (run(1), run(4));
        assert_eq!(one.0, four.0);
        assert_eq!(one.1, four.1);
        for (a, b) in one.2.iter().zip(&four.2) {
            assert!((a - b).abs() < 1e-5);
        }
    }

    #[test]
    fn geometry_refuses_what_cannot_be_convolved() {
        let p = [(0, 0), (0, 0)];
        assert_eq!(
            ConvGeometry::new(&[1, 3, 8], &[4, 3, 3, 3], [1, 1], p, [1, 1]),
            Err(ConvShapeError::Input(vec![1, 3, 8]))
        );
        assert!(matches!(
            ConvGeometry::new(&[1, 3, 8, 8], &[4, 2, 3, 3], [1, 1], p, [1, 1]),
            Err(ConvShapeError::Kernel { .. })
        ));
        assert_eq!(
            ConvGeometry::new(&[1, 3, 2, 2], &[4, 3, 3, 3], [1, 1], p, [1, 1]),
            Err(ConvShapeError::Empty {
                kernel: [3, 3],
                padded: [2, 2]
            })
        );
        assert_eq!(
            ConvGeometry::new(&[1, 3, 8, 8], &[4, 3, 3, 3], [0, 1], p, [1, 1]),
            Err(ConvShapeError::Options)
        );
    }

    #[test]
    fn stride_one_input_gradients_are_convolutions() {
        let converted: Vec<bool> = cases()
            .iter()
            .map(|g| {
                let w = vec![0.0; g.out_channels * g.col_rows()];
                input_grad_as_convolution(g, &w).is_some()
            })
            .collect();
        // Stride 1 converts (3×3 pad 1, pointwise, 5×5 pad 2, the tiled ones);
        // strides, and the one with a stride of 2 along x, do not.
        assert_eq!(
            converted,
            [
                true, false, false, true, false, false, true, true, true, false
            ]
        );
    }

    #[test]
    fn the_large_cases_are_cut_into_tiles() {
        let all = cases();
        for g in &all[7..] {
            let tiles: Vec<_> = tiles(g).collect();
            assert!(tiles.len() > 1, "{g:?} is one tile");
            assert_eq!(tiles.last().map(|r| r.end), Some(g.out_h));
        }
        assert_eq!(tiles(&all[0]).count(), 1);
    }

    #[test]
    fn valid_ranges_by_hand() {
        // 3 outputs, input 5, stride 2, offset −1: inputs −1, 1, 3 → o = 1, 2.
        assert_eq!(valid_range(3, 5, 2, -1), (1, 3));
        // offset +2, stride 1, input 4, 4 outputs: inputs 2, 3, 4, 5 → o = 0, 1.
        assert_eq!(valid_range(4, 4, 1, 2), (0, 2));
        // Nothing valid.
        assert_eq!(valid_range(2, 1, 1, 3), (0, 0));
        assert_eq!(valid_range(2, 3, 1, -5), (2, 2));
    }
}
