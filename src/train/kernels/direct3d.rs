//! Direct (unfold-free) 3-D convolution at stride 1 and dilation 1 for few
//! output channels, forward and both gradients, on plain `f32` slices in
//! NCDHW order.
//!
//! Why: a product of unfolded taps with eight output rows (the 3-D U-Net's
//! first level, 4/8/16 → 8 channels at 32³) fills half of gemm's tiles and
//! copies `kh · kw` times its input per tap; measured at 37–73 GFLOP/s
//! against 80–117 for the wider layers (`loupe bench training --networks
//! unet3d`, docs/benchmarks.md), and ≈ 60 % of that step's convolution
//! time. Here the input is copied once into a zero-padded volume, and each
//! block of 8 output voxels along a row × 8 output channels is summed in
//! registers over every tap `(c, kz, ky, kx)`: per tap one vector of 8
//! weights (one per output channel) and 8 input values, 8 fused
//! multiply-adds — no unfolding, no product call.
//!
//! - forward: `Y[o, z, y, x] = Σ W[o, c, a, b, e] · Xp[c, z + a, y + b, x + e]`
//! - input gradient: the same sum over `dY` (padded by `k − 1 − pad`) with
//!   the kernel flipped and its channels swapped
//! - weight gradient: `dW[o, c, a, b, e] = Σ dY[o, z, y, x] · Xp[c, z + a, y + b, x + e]`,
//!   each thread summing its share of slices into its own `dW`; for 3 × 3
//!   taps in the plane the 9 sums of one input plane stay in registers over
//!   a whole output slice (per voxel one vector of 8 channels' gradients and
//!   9 broadcast inputs), elsewhere each tap's sum is loaded and stored per
//!   block of 8 voxels.
//!
//! Taken only where the CPU has fused multiply-add (x86-64 with AVX2 and
//! FMA, asked at run time; aarch64 always): without it `f32::mul_add` is a
//! library call and the tap products of `conv3d` are faster.

use rayon::prelude::*;

use super::conv::{ConvGeometry, swap_axes_owned};
use super::cpu_features::avx2_fma as fma_available;
use super::geometry3d::Conv3dGeometry;

/// Output channels per block: one 256-bit vector of `f32`.
const LANES: usize = 8;
/// Output voxels along a row per block: 8 accumulator vectors, with the
/// weights and one broadcast input 10 of the 16 AVX2 registers.
const ROW_BLOCK: usize = 8;
/// Output channels of a wide block: two vectors.
const WIDE_LANES: usize = 2 * LANES;
/// Output voxels along a row per wide block: 12 accumulator vectors, with
/// the two weight vectors and one broadcast input 15 of the 16 AVX2
/// registers — two loaded weights and six broadcasts per tap for twelve
/// multiply-adds, where a block of 8 × 8 needs nine loads for eight.
const WIDE_ROW_BLOCK: usize = 6;

/// `outputs` rounded up to whole blocks of `block`.
fn whole_blocks(outputs: usize, block: usize) -> usize {
    outputs.div_ceil(block) * block
}

/// A row's outputs rounded up to whole blocks of either shape (at least
/// one), so that no block reads past its padded row.
fn row_blocks_len(outputs: usize) -> usize {
    let outputs = outputs.max(1);
    whole_blocks(outputs, ROW_BLOCK).max(whole_blocks(outputs, WIDE_ROW_BLOCK))
}

/// Where the direct kernels beat the products of `conv3d`, measured layer
/// by layer on the 3-D U-Net, the 3-D teacher and a sample of the 2-D
/// networks (`loupe bench conv3d --threads 1`, release build, two-core AMD
/// EPYC; docs/benchmarks.md):
/// - the forward pass up to 32 output channels in blocks of 8, up to 64 in
///   wide blocks of 16 (the ResNet's 64 → 64 on 16² planes 3.19 against
///   3.81 ms by products; its 128 → 128 on 8² lost, 4.19 against 3.68);
/// - the input gradient (the same sum, to the input channels over taps of
///   the output channels) up to 64 input channels from up to 32 output
///   channels in blocks of 8 (the 3-D U-Net's 64 → 32 on 8³: 2.97 against
///   4.63; 64 → 64 on 16² lost, 7.0 against 3.5), in wide blocks from up
///   to 64 (64 → 64 on 16²: 3.24 against 3.94);
/// - the weight gradient up to 32 output channels (64 → 64 lost, 4.55
///   against 3.85);
///
/// each only where the rows it writes are more than half a block long (4
/// voxels in blocks of 8 lost, 0.55 against 0.68 ms; in wide blocks of 6
/// they win, 0.84 against 1.26) and the kernel is more than one tap wide
/// (a 1×1×1 kernel has too few taps to pay for the padded copy: 0.18
/// against 0.48 ms).
pub const MAX_OUT_CHANNELS: usize = 32;
pub const MAX_WIDE_OUT_CHANNELS: usize = 64;
pub const MAX_IN_CHANNELS_INPUT_GRAD: usize = 64;
pub const MIN_ROW: usize = ROW_BLOCK / 2 + 1;
pub const MIN_WIDE_ROW: usize = WIDE_ROW_BLOCK / 2 + 1;

/// Whether sums to `channels` outputs along rows of `row` voxels go in
/// wide blocks: AVX2, whole blocks of 16 channels, and rows that waste
/// little in blocks of 6 — at most 1.25 × the voxels of blocks of 8 (a
/// wide block computes about 1.3 × as fast a voxel; on rows of 8, a third
/// of its voxels would be thrown away: 32 → 32 on 8³ took 1.58 ms wide
/// against 1.42 in blocks of 8).
fn wide_blocks(channels: usize, row: usize) -> bool {
    cfg!(target_arch = "x86_64")
        && channels > 0
        && channels.is_multiple_of(WIDE_LANES)
        && whole_blocks(row, WIDE_ROW_BLOCK) * 4 <= whole_blocks(row, ROW_BLOCK) * 5
        && fma_available()
}

/// A dilation-1 convolution of a zero-padded input, sizes only: output
/// `(z, y, x)` reads padded input `(z·s + a, y·s + b, x·s + e)`, which is
/// input voxel `(z·s + a − pad_z, …)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Direct {
    batch: usize,
    in_channels: usize,
    out_channels: usize,
    in_dims: [usize; 3],
    kernel: [usize; 3],
    pad_begin: [usize; 3],
    out_dims: [usize; 3],
    /// 1 or 2 along each axis.
    stride: [usize; 3],
}

impl Direct {
    /// The padded input's `[D, H, W]`: every row a whole number of blocks
    /// wide, so a block never reads past its row's end.
    fn padded(&self) -> [usize; 3] {
        let [od, oh, ow] = self.out_dims;
        let [kd, kh, kw] = self.kernel;
        let [sz, sy, sx] = self.stride;
        [
            (od.max(1) - 1) * sz + kd,
            (oh.max(1) - 1) * sy + kh,
            (row_blocks_len(ow) - 1) * sx + kw,
        ]
    }

    fn padded_len(&self) -> usize {
        self.padded().iter().product()
    }

    /// Taps per output channel: `C · kd · kh · kw`.
    fn taps(&self) -> usize {
        self.in_channels * self.kernel.iter().product::<usize>()
    }

    fn out_plane(&self) -> usize {
        self.out_dims[1] * self.out_dims[2]
    }

    fn blocks(&self) -> usize {
        self.out_channels.div_ceil(LANES)
    }

    /// Where each tap reads in a padded volume, from an output voxel's own
    /// position, in the kernel's order `(c, a, b, e)`.
    fn offsets(&self) -> Vec<usize> {
        let [pd, ph, pw] = self.padded();
        let [kd, kh, kw] = self.kernel;
        let mut offsets = Vec::with_capacity(self.taps());
        for c in 0..self.in_channels {
            for a in 0..kd {
                for b in 0..kh {
                    for e in 0..kw {
                        offsets.push(((c * pd + a) * ph + b) * pw + e);
                    }
                }
            }
        }
        offsets
    }

    /// `x` (`[N, C, D, H, W]`) copied into zero-padded volumes.
    fn pad(&self, x: &[f32]) -> Vec<f32> {
        let [pd, ph, pw] = self.padded();
        let [d_, h_, w_] = self.in_dims;
        let [bz, by, bx] = self.pad_begin;
        let mut padded = vec![0.0f32; self.batch * self.in_channels * self.padded_len()];
        if padded.is_empty() {
            return padded;
        }
        // Input columns that land inside the padded row.
        let columns = w_.min(pw.saturating_sub(bx));
        padded
            .par_chunks_mut(self.padded_len())
            .enumerate()
            .for_each(|(volume, to)| {
                let from = &x[volume * d_ * h_ * w_..][..d_ * h_ * w_];
                for d in 0..d_.min(pd.saturating_sub(bz)) {
                    for h in 0..h_.min(ph.saturating_sub(by)) {
                        to[((bz + d) * ph + by + h) * pw + bx..][..columns]
                            .copy_from_slice(&from[(d * h_ + h) * w_..][..columns]);
                    }
                }
            });
        padded
    }

    /// Whether the sums go in wide blocks ([`wide_blocks`]).
    fn wide(&self) -> bool {
        wide_blocks(self.out_channels, self.out_dims[2])
    }

    /// The kernel `[O, C, kd, kh, kw]` as `[block, tap, lane]`: for each
    /// tap, the weights of the block's `L` output channels (0 past `O`) —
    /// blocks of 8, or wide blocks of 16.
    fn pack_kernel<const L: usize>(&self, w: &[f32]) -> Vec<[f32; L]> {
        let taps = self.taps();
        let mut packed = vec![[0.0f32; L]; self.out_channels.div_ceil(L) * taps];
        for o in 0..self.out_channels {
            for t in 0..taps {
                packed[(o / L) * taps + t][o % L] = w[o * taps + t];
            }
        }
        packed
    }
}

/// The sum of one block over every tap: 8 output voxels along a row (from
/// padded position `base`, `S` apart) × 8 output channels, `[voxel][channel]`.
#[inline(always)]
fn block<const S: usize>(
    padded: &[f32],
    base: usize,
    offsets: &[usize],
    weights: &[[f32; LANES]],
) -> [[f32; LANES]; ROW_BLOCK] {
    let mut sum = [[0.0f32; LANES]; ROW_BLOCK];
    for (&offset, tap) in offsets.iter().zip(weights) {
        let inputs = &padded[base + offset..][..(ROW_BLOCK - 1) * S + 1];
        for (j, row) in sum.iter_mut().enumerate() {
            for (s, &w) in row.iter_mut().zip(tap) {
                *s = inputs[j * S].mul_add(w, *s);
            }
        }
    }
    sum
}

/// [`block`] in AVX2 registers: one vector of 8 weights per tap, each of
/// the 8 inputs broadcast and multiplied into its voxel's accumulator.
///
/// # Safety
/// The CPU must have AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn block_avx2<const S: usize>(
    padded: &[f32],
    base: usize,
    offsets: &[usize],
    weights: &[[f32; LANES]],
) -> [[f32; LANES]; ROW_BLOCK] {
    use std::arch::x86_64::{
        _mm256_fmadd_ps, _mm256_loadu_ps, _mm256_set1_ps, _mm256_setzero_ps, _mm256_storeu_ps,
    };
    let mut sum = [_mm256_setzero_ps(); ROW_BLOCK];
    for (&offset, tap) in offsets.iter().zip(weights) {
        let inputs = &padded[base + offset..][..(ROW_BLOCK - 1) * S + 1];
        // SAFETY: `tap` is 8 floats, one 256-bit load.
        let w = unsafe { _mm256_loadu_ps(tap.as_ptr()) };
        for (j, s) in sum.iter_mut().enumerate() {
            *s = _mm256_fmadd_ps(_mm256_set1_ps(inputs[j * S]), w, *s);
        }
    }
    let mut out = [[0.0f32; LANES]; ROW_BLOCK];
    for (to, s) in out.iter_mut().zip(sum) {
        // SAFETY: `to` is 8 floats, one 256-bit store.
        unsafe { _mm256_storeu_ps(to.as_mut_ptr(), s) };
    }
    out
}

/// Output slice `z` of volume `n`, every channel: `out` is `[O, Ho, Wo]`;
/// `block` sums one block (the portable [`block`] or its AVX2 twin).
#[inline(always)]
fn forward_slice<const L: usize, const R: usize>(
    p: &Direct,
    padded: &[f32],
    packed: &[[f32; L]],
    offsets: &[usize],
    (n, z): (usize, usize),
    out: &mut [f32],
    block: impl Fn(&[f32], usize, &[usize], &[[f32; L]]) -> [[f32; L]; R],
) {
    let [_, ph, pw] = p.padded();
    let [_, oh, ow] = p.out_dims;
    let [sz, sy, sx] = p.stride;
    let taps = p.taps();
    let volume = n * p.in_channels * p.padded_len();
    for block_index in 0..p.out_channels.div_ceil(L) {
        let weights = &packed[block_index * taps..][..taps];
        let channels = (p.out_channels - block_index * L).min(L);
        for y in 0..oh {
            for x0 in (0..ow).step_by(R) {
                let base = volume + (z * sz * ph + y * sy) * pw + x0 * sx;
                let sum = block(padded, base, offsets, weights);
                let voxels = (ow - x0).min(R);
                for c in 0..channels {
                    let row = &mut out[((block_index * L + c) * oh + y) * ow + x0..];
                    for (j, to) in row[..voxels].iter_mut().enumerate() {
                        *to = sum[j][c];
                    }
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn forward_slice_fma(
    p: &Direct,
    padded: &[f32],
    packed: &[[f32; LANES]],
    offsets: &[usize],
    at: (usize, usize),
    out: &mut [f32],
) {
    if p.stride[2] == 1 {
        forward_slice(p, padded, packed, offsets, at, out, |x, base, o, w| {
            // SAFETY: only reached from a function that requires AVX2 and FMA.
            unsafe { block_avx2::<1>(x, base, o, w) }
        });
    } else {
        forward_slice(p, padded, packed, offsets, at, out, |x, base, o, w| {
            // SAFETY: as above.
            unsafe { block_avx2::<2>(x, base, o, w) }
        });
    }
}

/// One wide block's sums over every tap: 6 output voxels along a row
/// (from padded position `base`, `S` apart) × 16 output channels,
/// `[voxel][channel]`.
///
/// # Safety
/// The CPU must have AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn wide_block_avx2<const S: usize>(
    padded: &[f32],
    base: usize,
    offsets: &[usize],
    weights: &[[f32; WIDE_LANES]],
) -> [[f32; WIDE_LANES]; WIDE_ROW_BLOCK] {
    use std::arch::x86_64::{
        _mm256_fmadd_ps, _mm256_loadu_ps, _mm256_set1_ps, _mm256_setzero_ps, _mm256_storeu_ps,
    };
    let mut sum = [[_mm256_setzero_ps(); 2]; WIDE_ROW_BLOCK];
    // Checked once for every tap: the offsets rise ([`Direct::offsets`]),
    // so the last tap reads farthest.
    let span = (WIDE_ROW_BLOCK - 1) * S + 1;
    let farthest = offsets.last().map_or(0, |last| last + span);
    let origin = padded[base..][..farthest].as_ptr();
    for (&offset, tap) in offsets.iter().zip(weights) {
        // SAFETY: `tap` is 16 floats, two 256-bit loads.
        let (w0, w1) = unsafe {
            (
                _mm256_loadu_ps(tap.as_ptr()),
                _mm256_loadu_ps(tap[LANES..].as_ptr()),
            )
        };
        for (j, s) in sum.iter_mut().enumerate() {
            // SAFETY: `offset + j · S < farthest`, inside the slice checked above.
            let x = _mm256_set1_ps(unsafe { *origin.add(offset + j * S) });
            s[0] = _mm256_fmadd_ps(x, w0, s[0]);
            s[1] = _mm256_fmadd_ps(x, w1, s[1]);
        }
    }
    let mut out = [[0.0f32; WIDE_LANES]; WIDE_ROW_BLOCK];
    for (to, s) in out.iter_mut().zip(sum) {
        // SAFETY: `to` is 16 floats, two 256-bit stores.
        unsafe {
            _mm256_storeu_ps(to.as_mut_ptr(), s[0]);
            _mm256_storeu_ps(to[LANES..].as_mut_ptr(), s[1]);
        }
    }
    out
}

/// [`forward_slice`] in wide blocks of 16 output channels × 6 voxels.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn wide_forward_slice_fma(
    p: &Direct,
    padded: &[f32],
    packed: &[[f32; WIDE_LANES]],
    offsets: &[usize],
    at: (usize, usize),
    out: &mut [f32],
) {
    if p.stride[2] == 1 {
        forward_slice(p, padded, packed, offsets, at, out, |x, base, o, w| {
            // SAFETY: only reached from a function that requires AVX2 and FMA.
            unsafe { wide_block_avx2::<1>(x, base, o, w) }
        });
    } else {
        forward_slice(p, padded, packed, offsets, at, out, |x, base, o, w| {
            // SAFETY: as above.
            unsafe { wide_block_avx2::<2>(x, base, o, w) }
        });
    }
}

/// `[N, Do, O, Ho, Wo]`: the convolution of `x` by `w`, slice by slice over the threads.
fn run(p: &Direct, x: &[f32], w: &[f32]) -> Vec<f32> {
    let padded = p.pad(x);
    let offsets = p.offsets();
    let slice_len = p.out_channels * p.out_plane();
    let mut out = vec![0.0f32; p.batch * p.out_dims[0] * slice_len];
    if slice_len == 0 {
        return out;
    }
    let at = |pair: usize| (pair / p.out_dims[0], pair % p.out_dims[0]);
    #[cfg(target_arch = "x86_64")]
    if p.wide() {
        let packed = p.pack_kernel::<WIDE_LANES>(w);
        out.par_chunks_mut(slice_len)
            .enumerate()
            .for_each(|(pair, slice)| {
                // SAFETY: `wide` asked the CPU for AVX2 and FMA.
                unsafe { wide_forward_slice_fma(p, &padded, &packed, &offsets, at(pair), slice) };
            });
        return out;
    }
    let packed = p.pack_kernel::<LANES>(w);
    let fma = fma_available();
    out.par_chunks_mut(slice_len)
        .enumerate()
        .for_each(|(pair, slice)| {
            let at = at(pair);
            #[cfg(target_arch = "x86_64")]
            if fma {
                // SAFETY: the CPU reported AVX2 and FMA (`fma_available`).
                unsafe { forward_slice_fma(p, &padded, &packed, &offsets, at, slice) };
                return;
            }
            let _ = fma;
            if p.stride[2] == 1 {
                forward_slice(p, &padded, &packed, &offsets, at, slice, block::<1>);
            } else {
                forward_slice(p, &padded, &packed, &offsets, at, slice, block::<2>);
            }
        });
    out
}

fn forward_problem(g: &Conv3dGeometry) -> Direct {
    Direct {
        batch: g.batch,
        in_channels: g.in_channels,
        out_channels: g.out_channels,
        in_dims: [g.in_d, g.plane.in_h, g.plane.in_w],
        kernel: [g.kernel_d, g.plane.kernel_h, g.plane.kernel_w],
        pad_begin: [g.pad_d, g.plane.pad_begin[0], g.plane.pad_begin[1]],
        out_dims: [g.out_d, g.plane.out_h, g.plane.out_w],
        stride: [g.stride_d, g.plane.stride[0], g.plane.stride[1]],
    }
}

/// Dilation 1 and strides of at most `max_stride` on every axis.
fn steps_within(g: &Conv3dGeometry, max_stride: usize) -> bool {
    let strides = [g.stride_d, g.plane.stride[0], g.plane.stride[1]];
    g.dilation_d == 1
        && g.plane.dilation == [1, 1]
        && strides.iter().all(|s| (1..=max_stride).contains(s))
}

/// The input gradient's geometry: unit strides, and its padding
/// `k − 1 − pad` not negative at either end.
pub(super) fn input_grad_fits(g: &Conv3dGeometry) -> bool {
    let p = forward_problem(g);
    steps_within(g, 1)
        && (0..3).all(|axis| {
            let end_pad = (p.out_dims[axis] + p.kernel[axis] - 1)
                .checked_sub(p.in_dims[axis] + p.pad_begin[axis]);
            p.pad_begin[axis] < p.kernel[axis] && end_pad.is_some_and(|e| e < p.kernel[axis])
        })
}

/// Whether the direct kernels can compute the forward pass and the weight
/// gradient of `g` at all (strides 1 or 2, dilation 1, FMA), whether or
/// not they are faster there.
pub fn can_forward(g: &Conv3dGeometry) -> bool {
    steps_within(g, 2) && fma_available()
}

/// Whether the direct kernels can compute the input gradient of `g`: unit
/// strides, and its padding `k − 1 − pad` not negative at either end.
pub fn can_input_grad(g: &Conv3dGeometry) -> bool {
    input_grad_fits(g) && fma_available()
}

/// A kernel wider than one tap.
fn wide_kernel(g: &Conv3dGeometry) -> bool {
    g.kernel_shape()[2..].iter().product::<usize>() > 1
}

/// Whether the direct forward pass of `g` sums in wide blocks.
pub fn wide_forward(g: &Conv3dGeometry) -> bool {
    forward_problem(g).wide()
}

/// Whether the direct input gradient of `g` sums in wide blocks (its
/// outputs are the input channels, along the input's rows).
pub fn wide_input_grad(g: &Conv3dGeometry) -> bool {
    wide_blocks(g.in_channels, g.plane.in_w)
}

/// Whether the forward pass goes direct: in blocks of 8 up to
/// [`MAX_OUT_CHANNELS`] on rows of [`MIN_ROW`], in wide blocks up to
/// [`MAX_WIDE_OUT_CHANNELS`] on rows of [`MIN_WIDE_ROW`].
pub fn takes_forward(g: &Conv3dGeometry) -> bool {
    let (channels, row) = (g.out_channels, g.plane.out_w);
    let fits = if wide_blocks(channels, row) {
        channels <= MAX_WIDE_OUT_CHANNELS && row >= MIN_WIDE_ROW
    } else {
        channels <= MAX_OUT_CHANNELS && row >= MIN_ROW
    };
    can_forward(g) && wide_kernel(g) && fits
}

/// Whether the weight gradient goes direct.
pub fn takes_weight_grad(g: &Conv3dGeometry) -> bool {
    can_forward(g)
        && wide_kernel(g)
        && g.out_channels <= MAX_OUT_CHANNELS
        && g.plane.out_w >= MIN_ROW
}

/// Whether the input gradient goes direct: its sums run to the input
/// channels along the input's rows, over taps of the output channels — in
/// blocks of 8 up to [`MAX_IN_CHANNELS_INPUT_GRAD`] from up to
/// [`MAX_OUT_CHANNELS`], in wide blocks up to [`MAX_WIDE_OUT_CHANNELS`]
/// from as many.
pub fn takes_input_grad(g: &Conv3dGeometry) -> bool {
    let (inputs, outputs, row) = (g.in_channels, g.out_channels, g.plane.in_w);
    let fits = if wide_blocks(inputs, row) {
        inputs.max(outputs) <= MAX_WIDE_OUT_CHANNELS && row >= MIN_WIDE_ROW
    } else {
        inputs <= MAX_IN_CHANNELS_INPUT_GRAD && outputs <= MAX_OUT_CHANNELS && row >= MIN_ROW
    };
    can_input_grad(g) && wide_kernel(g) && fits
}

/// A 2-D convolution as one of one-slice volumes (`[N, C, H, W]` is
/// `[N, C, 1, H, W]` in memory), so the direct kernels serve 2-D layers too.
pub fn as_volumes(g: &ConvGeometry) -> Conv3dGeometry {
    Conv3dGeometry {
        batch: g.batch,
        in_channels: g.in_channels,
        in_d: 1,
        out_channels: g.out_channels,
        kernel_d: 1,
        stride_d: 1,
        pad_d: 0,
        dilation_d: 1,
        out_d: 1,
        plane: *g,
    }
}

/// Forward pass: `x` `N × C × D × H × W`, `w` `O × C × kd × kh × kw`;
/// returns `N × O × Do × Ho × Wo`.
pub fn forward(g: &Conv3dGeometry, x: &[f32], w: &[f32]) -> Vec<f32> {
    assert!(
        steps_within(g, 2),
        "direct 3-D convolution: strides 1 or 2, dilation 1"
    );
    let p = forward_problem(g);
    let by_slice = run(&p, x, w);
    swap_axes_owned(by_slice, g.batch, g.out_d, g.out_channels, p.out_plane())
}

/// Input gradient: `dy` `N × O × Do × Ho × Wo`; returns `N × C × D × H × W`.
pub fn input_grad(g: &Conv3dGeometry, w: &[f32], dy: &[f32]) -> Vec<f32> {
    assert!(
        input_grad_fits(g),
        "direct 3-D input gradient: unit strides, padding < kernel"
    );
    let f = forward_problem(g);
    let [kd, kh, kw] = f.kernel;
    let p = Direct {
        batch: g.batch,
        in_channels: g.out_channels,
        out_channels: g.in_channels,
        in_dims: f.out_dims,
        kernel: f.kernel,
        pad_begin: [0, 1, 2].map(|axis| f.kernel[axis] - 1 - f.pad_begin[axis]),
        out_dims: f.in_dims,
        stride: [1; 3],
    };
    // `[C, O, kd, kh, kw]`, flipped along every axis.
    let taps = kd * kh * kw;
    let mut flipped = vec![0.0f32; w.len()];
    for o in 0..g.out_channels {
        for c in 0..g.in_channels {
            let from = &w[(o * g.in_channels + c) * taps..][..taps];
            let to = &mut flipped[(c * g.out_channels + o) * taps..][..taps];
            for (t, v) in to.iter_mut().enumerate() {
                *v = from[taps - 1 - t];
            }
        }
    }
    let by_slice = run(&p, dy, &flipped);
    swap_axes_owned(by_slice, g.batch, g.in_d, g.in_channels, p.out_plane())
}

/// Adds slice `z` of volume `n`'s share of the weight gradient into
/// `sums` (`[block, tap, lane]`); `taps_of_block` adds one block's (the
/// portable [`taps_of_block`] or its AVX2 twin).
#[inline(always)]
fn weight_grad_slice(
    p: &Direct,
    padded: &[f32],
    dy: &[f32],
    offsets: &[usize],
    (n, z): (usize, usize),
    sums: &mut [[f32; LANES]],
    taps_of_block: impl Fn(&[f32], usize, &[usize], &[[f32; LANES]; ROW_BLOCK], &mut [[f32; LANES]]),
) {
    let [_, ph, pw] = p.padded();
    let [od, oh, ow] = p.out_dims;
    let [sz, sy, sx] = p.stride;
    let taps = p.taps();
    let volume = n * p.in_channels * p.padded_len();
    for block_index in 0..p.blocks() {
        let sums = &mut sums[block_index * taps..][..taps];
        let channels = (p.out_channels - block_index * LANES).min(LANES);
        for y in 0..oh {
            for x0 in (0..ow).step_by(ROW_BLOCK) {
                // The block's output gradient, `[voxel][channel]`; 0 past the row's end.
                let mut grads = [[0.0f32; LANES]; ROW_BLOCK];
                for c in 0..channels {
                    let o = block_index * LANES + c;
                    let row = &dy[(((n * p.out_channels + o) * od + z) * oh + y) * ow + x0..];
                    for (j, &g) in row[..(ow - x0).min(ROW_BLOCK)].iter().enumerate() {
                        grads[j][c] = g;
                    }
                }
                let base = volume + (z * sz * ph + y * sy) * pw + x0 * sx;
                taps_of_block(padded, base, offsets, &grads, sums);
            }
        }
    }
}

/// Adds one block's products into every tap's sum: `sums[t] += Σ_j
/// input(t, j) · grads[j]` (the portable half of [`weight_grad_slice`]).
#[inline(always)]
fn taps_of_block<const S: usize>(
    padded: &[f32],
    base: usize,
    offsets: &[usize],
    grads: &[[f32; LANES]; ROW_BLOCK],
    sums: &mut [[f32; LANES]],
) {
    for (&offset, sum) in offsets.iter().zip(sums.iter_mut()) {
        let inputs = &padded[base + offset..][..(ROW_BLOCK - 1) * S + 1];
        for (j, grad) in grads.iter().enumerate() {
            for (s, &g) in sum.iter_mut().zip(grad) {
                *s = inputs[j * S].mul_add(g, *s);
            }
        }
    }
}

/// [`taps_of_block`] in AVX2 registers: the block's 8 gradient vectors
/// stay in registers, each tap's sum is loaded, takes 8 fused
/// multiply-adds and is stored.
///
/// # Safety
/// The CPU must have AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn taps_of_block_avx2<const S: usize>(
    padded: &[f32],
    base: usize,
    offsets: &[usize],
    grads: &[[f32; LANES]; ROW_BLOCK],
    sums: &mut [[f32; LANES]],
) {
    use std::arch::x86_64::{_mm256_fmadd_ps, _mm256_loadu_ps, _mm256_set1_ps, _mm256_storeu_ps};
    // SAFETY: each row of `grads` is 8 floats, one 256-bit load.
    let grads = grads.map(|row| unsafe { _mm256_loadu_ps(row.as_ptr()) });
    for (&offset, sum) in offsets.iter().zip(sums.iter_mut()) {
        let inputs = &padded[base + offset..][..(ROW_BLOCK - 1) * S + 1];
        // SAFETY: `sum` is 8 floats, one 256-bit load and store.
        let mut s = unsafe { _mm256_loadu_ps(sum.as_ptr()) };
        for (j, &grad) in grads.iter().enumerate() {
            s = _mm256_fmadd_ps(_mm256_set1_ps(inputs[j * S]), grad, s);
        }
        unsafe { _mm256_storeu_ps(sum.as_mut_ptr(), s) };
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn weight_grad_slice_fma(
    p: &Direct,
    padded: &[f32],
    dy: &[f32],
    offsets: &[usize],
    at: (usize, usize),
    sums: &mut [[f32; LANES]],
) {
    if p.stride[2] == 1 {
        weight_grad_slice(p, padded, dy, offsets, at, sums, |x, base, o, g, sums| {
            // SAFETY: only reached from a function that requires AVX2 and FMA.
            unsafe { taps_of_block_avx2::<1>(x, base, o, g, sums) }
        });
    } else {
        weight_grad_slice(p, padded, dy, offsets, at, sums, |x, base, o, g, sums| {
            // SAFETY: as above.
            unsafe { taps_of_block_avx2::<2>(x, base, o, g, sums) }
        });
    }
}

/// Adds slice `z` of volume `n`'s share of the weight gradient into `sums`
/// for a kernel of 3 × 3 taps in the plane, the 9 taps of each input
/// `(c, a)` in registers over the whole slice: per output voxel one vector
/// of 8 output channels' gradients and 9 broadcast inputs, 9 fused
/// multiply-adds into 9 independent sums, and each tap's sum stored once
/// per slice — where [`taps_of_block_avx2`] loads and stores every tap's
/// sum once per 8 voxels and chains its 8 multiply-adds on one register.
///
/// # Safety
/// The CPU must have AVX2 and FMA; the kernel must be `kd × 3 × 3` with a
/// stride of `SX` along rows.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn weight_grad_slice_3x3_fma<const SX: usize>(
    p: &Direct,
    padded: &[f32],
    dy: &[f32],
    (n, z): (usize, usize),
    sums: &mut [[f32; LANES]],
) {
    let [pd, ph, pw] = p.padded();
    let [od, oh, ow] = p.out_dims;
    let [sz, sy, _] = p.stride;
    let (taps, kd, voxels) = (p.taps(), p.kernel[0], oh * ow);
    if voxels == 0 {
        return;
    }
    let mut grads = vec![[0.0f32; LANES]; voxels];
    for block_index in 0..p.blocks() {
        // The block's output gradient over the slice, `[voxel][channel]`; 0 past `O`.
        let channels = (p.out_channels - block_index * LANES).min(LANES);
        grads.fill([0.0; LANES]);
        for c in 0..channels {
            let o = block_index * LANES + c;
            let plane = &dy[((n * p.out_channels + o) * od + z) * voxels..][..voxels];
            for (g, &v) in grads.iter_mut().zip(plane) {
                g[c] = v;
            }
        }
        let sums = &mut sums[block_index * taps..][..taps];
        for c in 0..p.in_channels {
            for a in 0..kd {
                let plane = PlaneAt {
                    base: ((n * p.in_channels + c) * pd + z * sz + a) * ph * pw,
                    row_stride: sy * pw,
                    width: pw,
                    out_dims: [oh, ow],
                };
                // SAFETY: this function requires AVX2 and FMA.
                let taps_of_plane = unsafe { plane_taps_3x3_avx2::<SX>(padded, plane, &grads) };
                let first = (c * kd + a) * 9;
                for (sum, add) in sums[first..][..9].iter_mut().zip(taps_of_plane) {
                    for (s, v) in sum.iter_mut().zip(add) {
                        *s += v;
                    }
                }
            }
        }
    }
}

/// Where one padded input plane's rows start for an output slice.
#[derive(Clone, Copy, Debug)]
struct PlaneAt {
    /// The plane's first value in the padded buffer.
    base: usize,
    /// From one output row's first input row to the next's: `sy · W`.
    row_stride: usize,
    /// The padded row length `W`.
    width: usize,
    out_dims: [usize; 2],
}

/// The 9 taps' sums `Σ_(y,x) dY[·, y, x] · Xp[y·sy + b, x·SX + e]` of one
/// padded plane over an output slice, `[b·3 + e][channel]`.
///
/// # Safety
/// The CPU must have AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn plane_taps_3x3_avx2<const SX: usize>(
    padded: &[f32],
    plane: PlaneAt,
    grads: &[[f32; LANES]],
) -> [[f32; LANES]; 9] {
    use std::arch::x86_64::{
        _mm256_fmadd_ps, _mm256_loadu_ps, _mm256_set1_ps, _mm256_setzero_ps, _mm256_storeu_ps,
    };
    let [oh, ow] = plane.out_dims;
    let reach = (ow.max(1) - 1) * SX + 3;
    let mut acc = [_mm256_setzero_ps(); 9];
    for y in 0..oh {
        let top = plane.base + y * plane.row_stride;
        let rows = [0, 1, 2].map(|b| padded[top + b * plane.width..][..reach].as_ptr());
        for (x, g) in grads[y * ow..][..ow].iter().enumerate() {
            // SAFETY: `g` is 8 floats, one 256-bit load.
            let g = unsafe { _mm256_loadu_ps(g.as_ptr()) };
            for (b, row) in rows.iter().enumerate() {
                for e in 0..3 {
                    // SAFETY: `x · SX + e < reach`, the length checked when
                    // `rows` were taken.
                    let v = unsafe { *row.add(x * SX + e) };
                    acc[b * 3 + e] = _mm256_fmadd_ps(_mm256_set1_ps(v), g, acc[b * 3 + e]);
                }
            }
        }
    }
    let mut out = [[0.0f32; LANES]; 9];
    for (to, a) in out.iter_mut().zip(acc) {
        // SAFETY: `to` is 8 floats, one 256-bit store.
        unsafe { _mm256_storeu_ps(to.as_mut_ptr(), a) };
    }
    out
}

/// Weight gradient: returns `O × C × kd × kh × kw`, summed over the batch.
pub fn weight_grad(g: &Conv3dGeometry, x: &[f32], dy: &[f32]) -> Vec<f32> {
    assert!(
        steps_within(g, 2),
        "direct 3-D weight gradient: strides 1 or 2, dilation 1"
    );
    let p = forward_problem(g);
    let padded = p.pad(x);
    let offsets = p.offsets();
    let taps = p.taps();
    let slices = p.batch * p.out_dims[0];
    let fma = fma_available();
    let sums = (0..slices)
        .into_par_iter()
        .fold(
            || vec![[0.0f32; LANES]; p.blocks() * taps],
            |mut sums, pair| {
                let at = (pair / p.out_dims[0], pair % p.out_dims[0]);
                #[cfg(target_arch = "x86_64")]
                if fma {
                    // SAFETY: the CPU reported AVX2 and FMA (`fma_available`);
                    // the 3 × 3 twins only for 3 × 3 taps in the plane.
                    unsafe {
                        match (p.kernel[1..] == [3, 3], p.stride[2]) {
                            (true, 1) => {
                                weight_grad_slice_3x3_fma::<1>(&p, &padded, dy, at, &mut sums)
                            }
                            (true, _) => {
                                weight_grad_slice_3x3_fma::<2>(&p, &padded, dy, at, &mut sums)
                            }
                            (false, _) => {
                                weight_grad_slice_fma(&p, &padded, dy, &offsets, at, &mut sums)
                            }
                        }
                    };
                    return sums;
                }
                let _ = fma;
                if p.stride[2] == 1 {
                    weight_grad_slice(&p, &padded, dy, &offsets, at, &mut sums, taps_of_block::<1>);
                } else {
                    weight_grad_slice(&p, &padded, dy, &offsets, at, &mut sums, taps_of_block::<2>);
                }
                sums
            },
        )
        .reduce(
            || vec![[0.0f32; LANES]; p.blocks() * taps],
            |mut a, b| {
                for (x, y) in a.iter_mut().zip(&b) {
                    for (s, v) in x.iter_mut().zip(y) {
                        *s += v;
                    }
                }
                a
            },
        );
    let mut dw = vec![0.0f32; p.out_channels * taps];
    for (o, row) in dw.chunks_mut(taps.max(1)).enumerate() {
        for (t, v) in row.iter_mut().enumerate() {
            *v = sums[(o / LANES) * taps + t][o % LANES];
        }
    }
    dw
}
